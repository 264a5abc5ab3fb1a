//! Pushes an OpenAI chat stream through `Engine::stream`, for instruction
//! counts under callgrind (docs/performance.md, "Streaming redaction"):
//!
//!     cargo build --release -p ward-benches --example stream_instructions
//!     valgrind --tool=callgrind --callgrind-out-file=/dev/null \
//!         $CARGO_TARGET_DIR/release/examples/stream_instructions BYTES EVENT UPTO
//!
//! The stream is the one `benches/benches/stream.rs` times: BYTES of text
//! (a GitHub token and an e-mail address every ~150 bytes) in events of
//! EVENT bytes of text (the bench uses 1024), then `[DONE]`. UPTO is how many events to push: `0` (the
//! setup alone), a number, or `all`. The per-event cost is the difference
//! between two counts divided by the events between them; the end-of-stream
//! cost is `all` minus all but the last event.

use serde_json::json;
use ward_core::{Engine, Envelope};

const FILLER: &str = "The glacier retreated over centuries, leaving lakes and moraines behind. ";
// Fake, for the bench.
const SECRET: &str = "ghp_R7mK2xQ9vL4tW8nB3cF6hJ1pZ5sD0gY2aE7u";
const EMAIL: &str = "maria.lindqvist@fjordbank.se";

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [bytes, event, upto] = args.as_slice() else {
        eprintln!("usage: stream_instructions BYTES EVENT UPTO");
        std::process::exit(2);
    };
    let bytes: usize = bytes.parse().expect("BYTES is a number");
    let event: usize = event.parse().expect("EVENT is a number");
    let engine = Engine::from_json(b"{}").expect("default policy");
    let env = Envelope::response("/v1/chat/completions", "text/event-stream");
    let mut text = String::new();
    while text.len() < bytes {
        text += FILLER;
        text += SECRET;
        text += " and ";
        text += EMAIL;
        text += ". ";
    }
    let mut events: Vec<Vec<u8>> = text
        .as_bytes()
        .chunks(event.max(1))
        .map(|c| {
            let v = json!({"id": "c", "object": "chat.completion.chunk", "model": "m", "choices": [{"index": 0, "delta": {"content": String::from_utf8_lossy(c)}, "finish_reason": null}]});
            format!("data: {v}\n\n").into_bytes()
        })
        .collect();
    events.push(b"data: [DONE]\n\n".to_vec());
    let upto = if upto == "all" { events.len() } else { upto.parse::<usize>().expect("UPTO is a number or `all`").min(events.len()) };
    let mut guard = engine.stream(&env);
    let mut out = 0;
    for (i, e) in events.iter().take(upto).enumerate() {
        out += guard.push(&engine, e, i + 1 == events.len()).emit.len();
    }
    println!("{} events of {}, {out} bytes out", upto, events.len());
}
