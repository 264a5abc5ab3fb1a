//! Throughput of the injection pass on English chat text.
//!
//!     cargo bench -p ward-benches --bench engine
//!
//! The text is generated here (a fixed-seed mix of everyday chat sentences),
//! so the figure is reproducible and does not depend on any corpus.

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use ward_core::injection::{lexicon::Lexicon, model::Model, normalise, Config, Detector};
use ward_core::{Direction, Origin, Segment};

const OPENERS: &[&str] = &["Could you help me", "I was wondering how to", "Please explain how to", "Can you show me a way to", "What is the best way to", "I need to", "My team wants to", "Is it possible to"];
const VERBS: &[&str] = &["plan", "write", "summarise", "organise", "compare", "cook", "budget for", "translate", "review", "improve", "schedule", "debug"];
const OBJECTS: &[&str] = &["a weekend trip to the coast", "the quarterly sales report", "a birthday dinner for eight people", "my resume for a design job", "a Python script that parses logs", "the meeting notes from Tuesday", "a short story about a lighthouse keeper", "our garden watering schedule", "the differences between two phone plans", "a polite email to my landlord"];
const TAILS: &[&str] = &["Thanks a lot!", "Keep it short, please.", "I have about an hour.", "It should be friendly but professional.", "Bullet points would be great.", "We're on a tight budget.", "Any tips are welcome.", ""];

/// About `size` bytes of chat-like English, deterministic.
fn chat_text(size: usize) -> String {
    let mut s = String::with_capacity(size + 200);
    let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
    let mut pick = |n: usize| {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        (x % n as u64) as usize
    };
    while s.len() < size {
        s.push_str(OPENERS[pick(OPENERS.len())]);
        s.push(' ');
        s.push_str(VERBS[pick(VERBS.len())]);
        s.push(' ');
        s.push_str(OBJECTS[pick(OBJECTS.len())]);
        s.push_str(if pick(3) == 0 { "? " } else { ". " });
        s.push_str(TAILS[pick(TAILS.len())]);
        s.push(if pick(5) == 0 { '\n' } else { ' ' });
    }
    s
}

fn injection(c: &mut Criterion) {
    let detector = Detector::new(&Config::default());
    let lexicon = Lexicon::new();
    let model = Model::builtin().expect("built-in model");
    let mut group = c.benchmark_group("injection");
    for size in [4 * 1024, 64 * 1024, 1024 * 1024] {
        let text = chat_text(size);
        let norm = normalise(&text).text;
        group.throughput(Throughput::Bytes(text.len() as u64));
        group.bench_with_input(BenchmarkId::new("whole_pass", size), &text, |b, t| {
            let segment = Segment::new(t.clone(), Origin::User, "/messages/0/content");
            b.iter(|| {
                let mut out = Vec::new();
                detector.scan(&segment, Direction::Request, &mut out);
                out
            })
        });
        if size == 64 * 1024 {
            group.bench_with_input(BenchmarkId::new("normalise", size), &text, |b, t| b.iter(|| normalise(t)));
            group.bench_with_input(BenchmarkId::new("lexicon", size), &norm, |b, t| {
                b.iter(|| {
                    let mut hits = Vec::new();
                    lexicon.scan(t, false, &mut hits);
                    hits
                })
            });
            group.bench_with_input(BenchmarkId::new("model", size), &norm, |b, t| b.iter(|| model.score(t)));
        }
    }
    group.finish();
}

criterion_group!(benches, injection);
criterion_main!(benches);
