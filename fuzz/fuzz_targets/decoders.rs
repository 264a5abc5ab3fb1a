//! The decoders: base64/hex runs the injection scanner decodes, and
//! `Content-Encoding` bodies. No panic, and output never exceeds its caps.
#![no_main]

use libfuzzer_sys::fuzz_target;
use ward_core::encoding;
use ward_core::injection::decode::{decode_run, MAX_RUN_BYTES};

const HEADERS: [&str; 8] = ["gzip", "deflate", "x-gzip", "gzip, deflate", "deflate, gzip", "identity", "gzip,gzip,gzip,gzip", "br"];

fuzz_target!(|data: &[u8]| {
    let Some((&selector, body)) = data.split_first() else { return };
    if let Ok(run) = std::str::from_utf8(body) {
        if let Some(text) = decode_run(run) {
            assert!(run.len() <= MAX_RUN_BYTES);
            assert!(text.len() <= run.len(), "decoding grew the text");
        }
    }
    let header = HEADERS[selector as usize % HEADERS.len()];
    let max_bytes = 1usize << (8 + (selector >> 3) % 12);
    let ratio = [1u32, 10, 100, 1000][(selector >> 6) as usize % 4];
    if let Ok(out) = encoding::decode(header, body, max_bytes, ratio) {
        if encoding::is_encoded(header) {
            assert!(out.len() <= max_bytes, "decoded {} bytes past the {max_bytes}-byte cap", out.len());
            assert!(out.len() <= body.len().saturating_mul(ratio as usize), "decoded past the ratio");
        }
    }
});
