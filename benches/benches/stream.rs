//! Streaming redaction cost against response length. Answers of 4 KiB,
//! 64 KiB and 1 MiB of text, streamed as OpenAI chat events of 1 KiB of text
//! each, carry a GitHub token and an e-mail address every ~150 bytes, so the
//! hold-back window and the masks are exercised throughout.
//!
//! - `stream_event`: one more text event pushed onto a stream that has
//!   already carried the whole answer. Work that grew with what came before
//!   would make this grow with the answer; bounded by the hold-back window,
//!   it stays flat.
//! - `stream_end`: the closing push (`[DONE]`, which ends the stream and
//!   takes the decision) after the whole answer.
//!
//! Each timed push goes to a fresh copy of the same guard (the copy is made
//! untimed), so every iteration measures the same point of the stream.
//!
//! `cargo bench -p ward-benches --bench stream`

use std::time::{Duration, Instant};

use criterion::{black_box, criterion_group, criterion_main, BatchSize, BenchmarkId, Criterion};
use serde_json::json;
use ward_core::{Engine, Envelope, StreamGuard};

const FILLER: &str = "The glacier retreated over centuries, leaving lakes and moraines behind. ";
// Fake, for the bench.
const SECRET: &str = "ghp_R7mK2xQ9vL4tW8nB3cF6hJ1pZ5sD0gY2aE7u";
const EMAIL: &str = "maria.lindqvist@fjordbank.se";
const EVENT_TEXT: usize = 1 << 10;
const LENGTHS: [(usize, &str); 3] = [(4 << 10, "4KiB"), (64 << 10, "64KiB"), (1 << 20, "1MiB")];
const DONE: &[u8] = b"data: [DONE]\n\n";

/// An OpenAI chat stream's text events carrying at least `bytes` of text,
/// `EVENT_TEXT` bytes per event, plus one more (the event timed after the
/// answer). `[DONE]` is not included.
fn chat_events(bytes: usize) -> Vec<Vec<u8>> {
    let mut text = String::new();
    while text.len() < bytes + EVENT_TEXT {
        text += FILLER;
        text += SECRET;
        text += " and ";
        text += EMAIL;
        text += ". ";
    }
    text.as_bytes()[..bytes + EVENT_TEXT]
        .chunks(EVENT_TEXT)
        .map(|c| {
            let piece = String::from_utf8_lossy(c);
            let v = json!({"id": "c", "object": "chat.completion.chunk", "model": "m", "choices": [{"index": 0, "delta": {"content": piece}, "finish_reason": null}]});
            format!("data: {v}\n\n").into_bytes()
        })
        .collect()
}

/// Pushes the whole stream once: checks the redaction, and reports the most
/// text held back and, in this one untimed pass, the mean per-event time and
/// the closing push.
fn check(engine: &Engine, env: &Envelope, events: &[Vec<u8>], name: &str) {
    let mut guard = engine.stream(env);
    let (mut most_held, mut out, mut times) = (0, Vec::new(), Vec::with_capacity(events.len()));
    for e in events {
        let t = Instant::now();
        let step = guard.push(engine, e, false);
        times.push(t.elapsed());
        out.extend(step.emit);
        most_held = most_held.max(guard.held_bytes());
    }
    let t = Instant::now();
    let end = guard.push(engine, DONE, true);
    let end_time = t.elapsed();
    out.extend(end.emit);
    let out = String::from_utf8_lossy(&out);
    // Whole secrets only: the stream's last event may end in a cut-off
    // token, which is no token.
    assert!(!out.contains(SECRET) && !out.contains(EMAIL) && out.contains("[GITHUB_TOKEN]"), "stream not redacted");
    assert!(out.ends_with("data: [DONE]\n\n") && end.decision.is_some(), "stream not concluded");
    let mean = times.iter().sum::<Duration>() / times.len().max(1) as u32;
    eprintln!("{name}: {} text events, at most {most_held} text bytes held back, mean per text event {mean:?}, end of stream {end_time:?}", events.len());
}

/// A guard that has carried `events`.
fn carried(engine: &Engine, env: &Envelope, events: &[Vec<u8>]) -> StreamGuard {
    let mut guard = engine.stream(env);
    for e in events {
        black_box(guard.push(engine, e, false));
    }
    guard
}

fn latency(c: &mut Criterion) {
    let engine = Engine::from_json(b"{}").unwrap();
    let env = Envelope::response("/v1/chat/completions", "text/event-stream");
    let streams: Vec<_> = LENGTHS.iter().map(|&(bytes, name)| (name, chat_events(bytes))).collect();
    for (name, events) in &streams {
        check(&engine, &env, events, name);
    }

    let mut next = c.benchmark_group("stream_event");
    next.sample_size(20).warm_up_time(Duration::from_secs(1)).measurement_time(Duration::from_secs(3));
    for (name, events) in &streams {
        let (last, answer) = events.split_last().expect("a non-empty stream");
        let guard = carried(&engine, &env, answer);
        next.bench_function(BenchmarkId::from_parameter(name), |b| {
            // The guard goes back out with the step: dropping it is not the push.
            b.iter_batched(|| guard.clone(), |mut g| black_box((g.push(&engine, last, false), g)), BatchSize::LargeInput)
        });
    }
    next.finish();

    let mut end = c.benchmark_group("stream_end");
    end.sample_size(20).warm_up_time(Duration::from_secs(1)).measurement_time(Duration::from_secs(3));
    for (name, events) in &streams {
        let answer = &events[..events.len() - 1];
        let guard = carried(&engine, &env, answer);
        end.bench_function(BenchmarkId::from_parameter(name), |b| {
            b.iter_batched(|| guard.clone(), |mut g| black_box((g.push(&engine, DONE, true), g)), BatchSize::LargeInput)
        });
    }
    end.finish();
}

criterion_group!(benches, latency);
criterion_main!(benches);
