//! Throughput of the detectors and of whole requests on English chat text.
//!
//!     cargo bench -p ward-benches --bench engine
//!     cargo bench -p ward-benches --bench engine -- detectors/pii   # one group
//!
//! `injection`: the injection pass and its parts. `detectors`: each detector
//! alone (injection, secrets, PII) and all three through `Engine::scan`, at
//! 1 KB, 4 KB, 64 KB and 1 MB. `request`: `Engine::inspect` on a request body
//! of each wire format at the same sizes (parsing, every detector, the
//! decision). Throughput is reported in bytes of text (detectors) or of body
//! (requests) per second. The same work inside the wasm filter is timed by
//! `ward-host bench` (docs/hosts.md).
//!
//! The text is generated here (a fixed-seed mix of everyday chat sentences),
//! so the figure is reproducible and does not depend on any corpus.

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use ward_core::injection::{lexicon::Lexicon, model::Model, normalise, Config, Detector};
use ward_benches::chat_text;
use ward_core::{pii, secrets, Direction, Engine, Envelope, Origin, Segment};

const SIZES: [usize; 4] = [1024, 4 * 1024, 64 * 1024, 1024 * 1024];

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

fn detectors(c: &mut Criterion) {
    let engine = Engine::from_json(b"{}").expect("default policy");
    let policy = engine.policy();
    let injection = Detector::new(&policy.injection);
    let secrets = secrets::Detector::new(&policy.secrets);
    let pii = pii::Detector::new(&policy.pii);
    let mut group = c.benchmark_group("detectors");
    for size in SIZES {
        let segment = [Segment::new(chat_text(size), Origin::User, "/messages/0/content")];
        group.throughput(Throughput::Bytes(segment[0].text.len() as u64));
        group.bench_with_input(BenchmarkId::new("injection", size), &segment, |b, s| {
            b.iter(|| {
                let mut out = Vec::new();
                injection.scan(&s[0], Direction::Request, &mut out);
                out
            })
        });
        group.bench_with_input(BenchmarkId::new("secrets", size), &segment, |b, s| {
            b.iter(|| {
                let mut out = Vec::new();
                secrets.scan(&s[0], Direction::Request, &mut out);
                out
            })
        });
        group.bench_with_input(BenchmarkId::new("pii", size), &segment, |b, s| {
            b.iter(|| {
                let mut out = Vec::new();
                pii.scan(&s[0], Direction::Request, &mut out);
                out
            })
        });
        group.bench_with_input(BenchmarkId::new("all", size), &segment, |b, s| b.iter(|| engine.scan(s, Direction::Request)));
    }
    group.finish();
}

/// A request body of `format` whose user text is about `size` bytes.
fn request_body(format: &str, size: usize) -> (&'static str, Vec<u8>) {
    let ask = chat_text(size.saturating_sub(160));
    let (path, body) = match format {
        "openai_chat" => (
            "/v1/chat/completions",
            serde_json::json!({"model": "gpt-4o", "messages": [{"role": "system", "content": "You are a helpful assistant."}, {"role": "user", "content": ask}]}),
        ),
        "openai_responses" => ("/v1/responses", serde_json::json!({"model": "gpt-4o", "input": [{"role": "user", "content": ask}]})),
        "anthropic" => ("/v1/messages", serde_json::json!({"model": "claude-sonnet-4", "max_tokens": 1024, "messages": [{"role": "user", "content": ask}]})),
        _ => ("/mcp", serde_json::json!({"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": {"name": "search_docs", "arguments": {"query": ask}}})),
    };
    (path, serde_json::to_vec(&body).expect("json"))
}

fn requests(c: &mut Criterion) {
    // `search_docs` is allowed so the MCP call is inspected, not refused.
    let engine = Engine::from_json(br#"{"tools": {"allow": ["search_docs"]}}"#).expect("policy");
    let mut group = c.benchmark_group("request");
    for format in ["openai_chat", "openai_responses", "anthropic", "mcp"] {
        for size in SIZES {
            let (path, body) = request_body(format, size);
            let env = Envelope::request(path, "application/json");
            group.throughput(Throughput::Bytes(body.len() as u64));
            group.bench_with_input(BenchmarkId::new(format, size), &body, |b, body| b.iter(|| engine.inspect(&env, body)));
        }
    }
    group.finish();
}

criterion_group!(benches, injection, detectors, requests);
criterion_main!(benches);
