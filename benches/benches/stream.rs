//! Streaming redaction cost per SSE event, for streams of growing length.
//! If the work per event depended on how much came before, the time per
//! event would grow with the stream; with a bounded hold-back window it
//! stays flat. Each stream carries a secret and an e-mail address split
//! over many events every few hundred characters.
//!
//! `cargo bench -p ward-benches --bench stream`

use criterion::{black_box, criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use serde_json::json;
use ward_core::{Engine, Envelope};

const FILLER: &str = "The glacier retreated over centuries, leaving lakes and moraines behind. ";
const SECRET: &str = "ghp_R7mK2xQ9vL4tW8nB3cF6hJ1pZ5sD0gY2aE7u";
const EMAIL: &str = "maria.lindqvist@fjordbank.se";

/// An OpenAI chat stream of `events` text deltas of 4 characters each.
fn chat_stream(events: usize) -> Vec<Vec<u8>> {
    let mut text = String::new();
    while text.chars().count() < events * 4 {
        text += FILLER;
        text += SECRET;
        text += " and ";
        text += EMAIL;
        text += ". ";
    }
    let chars: Vec<char> = text.chars().collect();
    chars
        .chunks(4)
        .take(events)
        .map(|c| {
            let piece: String = c.iter().collect();
            let v = json!({"id": "c", "object": "chat.completion.chunk", "model": "m", "choices": [{"index": 0, "delta": {"content": piece}, "finish_reason": null}]});
            format!("data: {v}\n\n").into_bytes()
        })
        .chain(std::iter::once(b"data: [DONE]\n\n".to_vec()))
        .collect()
}

fn per_event(c: &mut Criterion) {
    let engine = Engine::from_json(b"{}").unwrap();
    let env = Envelope::response("/v1/chat/completions", "text/event-stream");
    let mut group = c.benchmark_group("stream_redaction_per_event");
    group.sample_size(10).measurement_time(std::time::Duration::from_secs(4));
    for events in [250usize, 1000, 4000] {
        let stream = chat_stream(events);
        // Hold-back and output checked once, outside the timing.
        let mut guard = engine.stream(&env);
        let (mut most_held, mut out) = (0, Vec::new());
        for (i, e) in stream.iter().enumerate() {
            out.extend(guard.push(&engine, e, i + 1 == stream.len()).emit);
            most_held = most_held.max(guard.held_bytes());
        }
        let out = String::from_utf8_lossy(&out);
        assert!(!out.contains("ghp_R7") && !out.contains("lindqvist"), "stream not redacted");
        eprintln!("stream of {events} events: at most {most_held} text bytes held back");
        group.throughput(Throughput::Elements(stream.len() as u64));
        group.bench_with_input(BenchmarkId::from_parameter(events), &stream, |b, stream| {
            b.iter(|| {
                let mut guard = engine.stream(&env);
                for (i, e) in stream.iter().enumerate() {
                    black_box(guard.push(&engine, e, i + 1 == stream.len()));
                }
            })
        });
    }
    group.finish();
}

criterion_group!(benches, per_event);
criterion_main!(benches);
