//! Engine::inspect on every API and direction, plain and gzip/deflate/br
//! encoded: no panic, and a redaction is always valid JSON.
#![no_main]

use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use ward_core::{Engine, Envelope, Verdict};

const PATHS: [&str; 5] = ["/v1/chat/completions", "/v1/responses", "/v1/messages", "/mcp", "/unknown"];
const ENCODINGS: [&str; 4] = ["", "gzip", "deflate", "br"];

fn engine() -> &'static Engine {
    static ENGINE: OnceLock<Engine> = OnceLock::new();
    ENGINE.get_or_init(|| Engine::from_json(br#"{"tools": {"allow": ["search_docs"]}, "limits": {"max_request_bytes": 65536, "max_response_bytes": 65536}}"#).unwrap())
}

fuzz_target!(|data: &[u8]| {
    let Some((&selector, body)) = data.split_first() else { return };
    let path = PATHS[(selector & 7) as usize % PATHS.len()];
    let response = selector & 8 != 0;
    let stream = selector & 16 != 0;
    let encoding = ENCODINGS[(selector >> 5) as usize % ENCODINGS.len()];
    let content_type = if stream { "text/event-stream" } else { "application/json" };
    let mut env = if response { Envelope::response(path, content_type) } else { Envelope::request(path, content_type) };
    env.content_encoding = encoding.into();
    let decision = engine().inspect(&env, body);
    if let Verdict::Redact { body } = &decision.verdict {
        if !stream {
            assert!(serde_json::from_slice::<serde_json::Value>(body).is_ok(), "redaction produced invalid JSON");
        }
    }
    if let Some(event) = &decision.audit {
        let _ = event.to_json_line();
    }
});
