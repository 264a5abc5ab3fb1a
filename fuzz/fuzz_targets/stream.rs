//! StreamGuard::push with arbitrary chunking: no panic, and once the stream
//! ends a decision has been made.
#![no_main]

use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use ward_core::{Engine, Envelope};

const PATHS: [&str; 4] = ["/v1/chat/completions", "/v1/responses", "/v1/messages", "/mcp"];

fn engine() -> &'static Engine {
    static ENGINE: OnceLock<Engine> = OnceLock::new();
    ENGINE.get_or_init(|| Engine::from_json(br#"{"tools": {"allow": ["search_docs"]}}"#).unwrap())
}

fuzz_target!(|data: &[u8]| {
    // First byte: API; next two: chunk-size seeds; then the stream.
    if data.len() < 3 {
        return;
    }
    let path = PATHS[data[0] as usize % PATHS.len()];
    let (a, b) = (data[1] as usize % 64 + 1, data[2] as usize % 7 + 1);
    let body = &data[3..];
    let env = Envelope::response(path, "text/event-stream");
    let mut guard = engine().stream(&env);
    let mut offset = 0;
    let mut i = 0;
    let mut decided = false;
    while offset < body.len() {
        let size = if i % 2 == 0 { a } else { b }.min(body.len() - offset);
        let end = offset + size == body.len();
        let step = guard.push(engine(), &body[offset..offset + size], end);
        decided |= step.decision.is_some();
        offset += size;
        i += 1;
    }
    if body.is_empty() {
        decided |= guard.push(engine(), b"", true).decision.is_some();
    }
    assert!(decided, "stream ended without a decision");
});
