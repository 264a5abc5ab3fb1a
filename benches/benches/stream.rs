//! Streaming redaction latency against response length. Responses of 1 KiB,
//! 64 KiB and 1 MiB of text, streamed as OpenAI chat events of 64 bytes of
//! text each, carry a GitHub token and an e-mail address every ~150 bytes,
//! so the hold-back window is exercised throughout.
//!
//! - `stream_first_emit`: time from the first event pushed to the first
//!   bytes released to the client.
//! - `stream_tail_event`: time to push one more event onto a stream that
//!   has already carried the whole response. If the work per event grew
//!   with what came before, this would grow with the response; with the
//!   hold-back window it stays flat.
//!
//! `cargo bench -p ward-benches --bench stream`

use std::time::{Duration, Instant};

use criterion::{black_box, criterion_group, criterion_main, BenchmarkId, Criterion};
use serde_json::json;
use ward_core::{Engine, Envelope};

const FILLER: &str = "The glacier retreated over centuries, leaving lakes and moraines behind. ";
// Fake, for the bench.
const SECRET: &str = "ghp_R7mK2xQ9vL4tW8nB3cF6hJ1pZ5sD0gY2aE7u";
const EMAIL: &str = "maria.lindqvist@fjordbank.se";
const EVENT_TEXT: usize = 64;
const TAIL_EVENTS: usize = 32;
const LENGTHS: [(usize, &str); 3] = [(1 << 10, "1KiB"), (64 << 10, "64KiB"), (1 << 20, "1MiB")];

/// An OpenAI chat stream carrying at least `bytes` of text, `EVENT_TEXT` bytes per
/// event, then `[DONE]`.
fn chat_stream(bytes: usize) -> Vec<Vec<u8>> {
    let mut text = String::new();
    while text.len() < bytes {
        text += FILLER;
        text += SECRET;
        text += " and ";
        text += EMAIL;
        text += ". ";
    }
    // Whole sentences only: a token cut off at the end is no token.
    text.as_bytes()
        .chunks(EVENT_TEXT)
        .map(|c| {
            let piece = String::from_utf8_lossy(c);
            let v = json!({"id": "c", "object": "chat.completion.chunk", "model": "m", "choices": [{"index": 0, "delta": {"content": piece}, "finish_reason": null}]});
            format!("data: {v}\n\n").into_bytes()
        })
        .chain(std::iter::once(b"data: [DONE]\n\n".to_vec()))
        .collect()
}

/// Pushes the whole stream once: checks the redaction, and reports the most
/// text held back and the mean per-event time at the start and at the end.
fn check(engine: &Engine, env: &Envelope, stream: &[Vec<u8>], name: &str) {
    let mut guard = engine.stream(env);
    let (mut most_held, mut out, mut times) = (0, Vec::new(), Vec::with_capacity(stream.len()));
    for (i, e) in stream.iter().enumerate() {
        let t = Instant::now();
        let step = guard.push(engine, e, i + 1 == stream.len());
        times.push(t.elapsed());
        out.extend(step.emit);
        most_held = most_held.max(guard.held_bytes());
    }
    let out = String::from_utf8_lossy(&out);
    assert!(!out.contains("ghp_R7") && !out.contains("lindqvist"), "stream not redacted");
    // The last push (`[DONE]`) closes the stream; it is reported on its own.
    let (end, text_events) = times.split_last().expect("a non-empty stream");
    let n = text_events.len().min(TAIL_EVENTS);
    let mean = |ts: &[Duration]| ts.iter().sum::<Duration>() / ts.len().max(1) as u32;
    eprintln!(
        "{name}: {} events, at most {most_held} text bytes held back, mean per text event: first {n} {:?}, last {n} {:?}, slowest {:?}; end of stream {end:?}",
        stream.len(),
        mean(&text_events[..n]),
        mean(&text_events[text_events.len() - n..]),
        text_events.iter().max().copied().unwrap_or_default(),
    );
}

fn latency(c: &mut Criterion) {
    let engine = Engine::from_json(b"{}").unwrap();
    let env = Envelope::response("/v1/chat/completions", "text/event-stream");
    let streams: Vec<_> = LENGTHS.iter().map(|&(bytes, name)| (name, chat_stream(bytes))).collect();
    for (name, stream) in &streams {
        check(&engine, &env, stream, name);
    }

    let mut first = c.benchmark_group("stream_first_emit");
    first.sample_size(20).warm_up_time(Duration::from_secs(1)).measurement_time(Duration::from_secs(3));
    for (name, stream) in &streams {
        first.bench_with_input(BenchmarkId::from_parameter(name), stream, |b, stream| {
            b.iter_custom(|iters| {
                let mut total = Duration::ZERO;
                for _ in 0..iters {
                    let mut guard = engine.stream(&env);
                    let started = Instant::now();
                    for (i, e) in stream.iter().enumerate() {
                        if !guard.push(&engine, e, i + 1 == stream.len()).emit.is_empty() {
                            break;
                        }
                    }
                    total += started.elapsed();
                }
                total
            })
        });
    }
    first.finish();

    // The guard carries a whole response first (untimed); each timed
    // iteration then pushes one more event onto that same stream, so every
    // timed event comes after at least the response's length of text.
    let mut tail = c.benchmark_group("stream_tail_event");
    tail.sample_size(20).warm_up_time(Duration::from_secs(1)).measurement_time(Duration::from_secs(3));
    for (name, stream) in &streams {
        let events = &stream[..stream.len() - 1];
        let mut guard = engine.stream(&env);
        for e in events {
            black_box(guard.push(&engine, e, false));
        }
        let mut next = events.iter().cycle();
        tail.bench_function(BenchmarkId::from_parameter(name), |b| {
            b.iter(|| {
                let e = next.next().expect("cycle of a non-empty stream");
                black_box(guard.push(&engine, e, false))
            })
        });
    }
    tail.finish();
}

criterion_group!(benches, latency);
criterion_main!(benches);
