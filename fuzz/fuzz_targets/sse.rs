//! SSE framing: any bytes, cut anywhere. The events must not depend on
//! where the stream was cut, and their raw bytes (plus what is pending)
//! must give back the stream exactly.
#![no_main]

use libfuzzer_sys::fuzz_target;
use ward_core::sse::{Event, Parser};

fn run(chunks: &[&[u8]]) -> Vec<Event> {
    let mut p = Parser::new();
    let mut out = Vec::new();
    for c in chunks {
        out.extend(p.push(c));
    }
    out.extend(p.finish());
    out
}

fuzz_target!(|data: &[u8]| {
    let Some((&cut, stream)) = data.split_first() else { return };
    let whole = run(&[stream]);
    let raw: Vec<u8> = whole.iter().flat_map(|e| e.raw.iter().copied()).collect();
    assert_eq!(raw, stream, "raw bytes of the events differ from the stream");
    // One cut, and byte-by-byte for short streams.
    let at = if stream.is_empty() { 0 } else { cut as usize * stream.len() / 256 };
    assert_eq!(run(&[&stream[..at], &stream[at..]]), whole, "cut at {at} changed the events");
    if stream.len() <= 512 {
        let bytes: Vec<&[u8]> = stream.chunks(1).collect();
        assert_eq!(run(&bytes), whole, "byte-by-byte feeding changed the events");
    }
});
