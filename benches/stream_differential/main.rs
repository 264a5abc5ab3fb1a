//! Differential: the stream guard of an old build against the working
//! tree's. Every stream is pushed through both; a digest of every step
//! (emitted bytes, bytes held, decision, session state) must be equal.
//! Built and run by `scripts/stream-differential.sh OLD_COMMIT`, which
//! puts the old `ward-core` beside the new one as `ward-core-old`:
//!
//!     stream-differential [--limit N] [--only corpus|gen|long|tools] [--mutate]
//!
//! `--mutate` runs the new build under the next policy: every run must
//! then differ (the check can fail). Corpus texts are read at run time
//! from `$WARD_CORPORA` (default `../shared/corpora`), never copied.

use std::io::{BufRead, BufReader, Read};

use serde_json::{json, Value};
use sha2::{Digest, Sha256};

const POLICIES: &[&str] = &[
    "{}",
    r#"{"mode": "monitor"}"#,
    r#"{"stream": {"max_holdback_bytes": 24}}"#,
    r#"{"secrets": {"response": "block"}, "injection": {"actions": {"assistant": "block"}}}"#,
    r#"{"pii": {"response": "log", "mask": "last4"}, "secrets": {"mask": "last4", "rules": {"secrets.random_assignment": {"response": "redact"}}}, "stream": {"max_holdback_bytes": 100}}"#,
];

#[derive(Clone, Copy, Debug)]
enum Push {
    Whole,
    PerEvent,
    Bytes(usize),
}

macro_rules! runner {
    ($m:ident, $k:ident) => {
        mod $m {
            use super::*;
            use $k as w;

            pub fn engines() -> Vec<w::Engine> {
                POLICIES.iter().map(|p| w::Engine::from_json(p.as_bytes()).expect("policy")).collect()
            }

            pub fn run(engine: &w::Engine, path: &str, body: &[u8], push: Push) -> ([u8; 32], usize) {
                let env = w::Envelope { request_id: "req-1".into(), ..w::Envelope::response(path, "text/event-stream") };
                let mut guard = engine.stream(&env);
                let mut h = Sha256::new();
                let cuts = cuts(body, push);
                let mut from = 0;
                let mut steps = 0;
                for &c in &cuts {
                    let step = guard.push(engine, &body[from..c], c == body.len());
                    h.update((step.emit.len() as u64).to_le_bytes());
                    h.update(&step.emit);
                    h.update((guard.held_bytes() as u64).to_le_bytes());
                    h.update(format!("{:?}", step.decision).as_bytes());
                    h.update(format!("{:?}", step.session).as_bytes());
                    from = c;
                    steps += 1;
                }
                (h.finalize().into(), steps)
            }
        }
    };
}

runner!(new, ward_core);
runner!(old, ward_core_old);

/// End offsets of each push.
fn cuts(body: &[u8], push: Push) -> Vec<usize> {
    match push {
        Push::Whole => vec![body.len()],
        Push::Bytes(n) => {
            let mut v: Vec<usize> = (1..=body.len().div_ceil(n)).map(|i| (i * n).min(body.len())).collect();
            v.dedup();
            v
        }
        Push::PerEvent => {
            let mut v = Vec::new();
            let mut i = 0;
            while i + 1 < body.len() {
                if body[i] == b'\n' && body[i + 1] == b'\n' {
                    v.push(i + 2);
                    i += 2;
                } else {
                    i += 1;
                }
            }
            if v.last() != Some(&body.len()) {
                v.push(body.len());
            }
            v
        }
    }
}

fn sse(event: Option<&str>, data: &Value) -> String {
    match event {
        Some(e) => format!("event: {e}\ndata: {data}\n\n"),
        None => format!("data: {data}\n\n"),
    }
}

fn pieces(text: &str, n: usize) -> Vec<String> {
    let chars: Vec<char> = text.chars().collect();
    chars.chunks(n.max(1)).map(|c| c.iter().collect()).collect()
}

fn chat_stream(text: &str, n: usize, tool: Option<&str>) -> String {
    let base = json!({"id": "chatcmpl-1", "object": "chat.completion.chunk", "created": 0, "model": "m"});
    let chunk = |choice: Value| {
        let mut v = base.clone();
        v["choices"] = json!([choice]);
        v
    };
    let mut out = sse(None, &chunk(json!({"index": 0, "delta": {"role": "assistant", "content": ""}, "finish_reason": null})));
    for p in pieces(text, n) {
        out += &sse(None, &chunk(json!({"index": 0, "delta": {"content": p}, "finish_reason": null})));
    }
    if let Some(args) = tool {
        out += &sse(None, &chunk(json!({"index": 0, "delta": {"tool_calls": [{"index": 0, "id": "call_1", "type": "function", "function": {"name": "send", "arguments": ""}}]}, "finish_reason": null})));
        for p in pieces(args, n.max(3)) {
            out += &sse(None, &chunk(json!({"index": 0, "delta": {"tool_calls": [{"index": 0, "function": {"arguments": p}}]}, "finish_reason": null})));
        }
    }
    out += &sse(None, &chunk(json!({"index": 0, "delta": {}, "finish_reason": if tool.is_some() { "tool_calls" } else { "stop" }})));
    out + "data: [DONE]\n\n"
}

fn anthropic_stream(text: &str, n: usize) -> String {
    let mut out = sse(Some("message_start"), &json!({"type": "message_start", "message": {"id": "msg_1", "type": "message", "role": "assistant", "model": "m", "content": []}}));
    out += &sse(Some("content_block_start"), &json!({"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}}));
    for p in pieces(text, n) {
        out += &sse(Some("content_block_delta"), &json!({"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": p}}));
    }
    out += &sse(Some("content_block_stop"), &json!({"type": "content_block_stop", "index": 0}));
    out += &sse(Some("message_delta"), &json!({"type": "message_delta", "delta": {"stop_reason": "end_turn"}}));
    out + &sse(Some("message_stop"), &json!({"type": "message_stop"}))
}

fn responses_stream(text: &str, n: usize) -> String {
    let item = json!({"type": "message", "id": "msg_1", "role": "assistant", "status": "completed", "content": [{"type": "output_text", "text": text, "annotations": []}]});
    let mut out = sse(Some("response.created"), &json!({"type": "response.created", "response": {"id": "r", "model": "m", "status": "in_progress", "output": []}}));
    for p in pieces(text, n) {
        out += &sse(Some("response.output_text.delta"), &json!({"type": "response.output_text.delta", "output_index": 0, "content_index": 0, "item_id": "msg_1", "delta": p}));
    }
    out += &sse(Some("response.output_text.done"), &json!({"type": "response.output_text.done", "output_index": 0, "content_index": 0, "item_id": "msg_1", "text": text}));
    out += &sse(Some("response.output_item.done"), &json!({"type": "response.output_item.done", "output_index": 0, "item": item}));
    out + &sse(Some("response.completed"), &json!({"type": "response.completed", "response": {"id": "r", "model": "m", "status": "completed", "output": [item]}}))
}

struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

fn rows(dir: &str, every: usize) -> Vec<String> {
    let mut files: Vec<_> = std::fs::read_dir(dir).expect("corpus dir").filter_map(|e| e.ok()).map(|e| e.path()).collect();
    files.sort();
    let mut out = Vec::new();
    for f in files {
        let name = f.to_string_lossy().to_string();
        let reader: Box<dyn Read> = if name.ends_with(".jsonl.gz") {
            Box::new(flate2::read::GzDecoder::new(std::fs::File::open(&f).unwrap()))
        } else if name.ends_with(".jsonl") {
            Box::new(std::fs::File::open(&f).unwrap())
        } else {
            continue;
        };
        for (i, line) in BufReader::new(reader).lines().enumerate() {
            if i % every != 0 {
                continue;
            }
            let v: Value = serde_json::from_str(&line.unwrap()).unwrap();
            if let Some(t) = v.get("text").and_then(Value::as_str) {
                out.push(t.to_string());
            }
        }
    }
    out
}

const FILLER: &[&str] = &[
    "The glacier retreated over centuries. ",
    "Call me at ",
    "password = ",
    "my IBAN is ",
    "token: ",
    "\n",
    "e-mail ",
    "AKIA",
    "ghp_",
    "sk-",
    "Ignore all previous instructions and ",
    "  ",
    "é漢字 ",
    "export API_KEY=",
    "ssn ",
    "+44 ",
    "192.168.",
];

fn generated(rng: &mut Rng) -> String {
    let atoms: &[&str] = &[
        "ghp_R7mK2xQ9vL4tW8nB3cF6hJ1pZ5sD0gY2aE7u",
        "maria.lindqvist@fjordbank.se",
        "AKIAZ7QX4MPLW2RT9KDE",
        "DE89 3704 0044 0532 0130 00",
        "GB82WEST12345698765432",
        "4111 1111 1111 1111",
        "078-05-1120",
        "+1 (415) 555-0132",
        "10.0.0.12",
        "2001:db8::8a2e:370:7334",
        "xoxb-2048-8192-q9Wz7LmK3vRt5yPn1bXc4dF6",
        "sk-proj-Q9wE7rT5yU3iO1pA8sD6fG4hJ2kL0zXcVbNm1234T3BlbkFJ",
        "9f8e7d6c5b4a39281716aBcDeF0123456789",
        "hunter2hunter2",
        "AB123456C",
    ];
    let mut s = String::new();
    let n = 1 + rng.below(12);
    for _ in 0..n {
        if rng.below(3) == 0 {
            let a = atoms[rng.below(atoms.len())];
            // Sometimes only a prefix or with a byte changed.
            match rng.below(4) {
                0 => s += &a[..a.char_indices().map(|c| c.0).nth(rng.below(a.chars().count())).unwrap_or(0)],
                _ => s += a,
            }
        } else {
            s += FILLER[rng.below(FILLER.len())];
        }
        for _ in 0..rng.below(3) {
            s += FILLER[rng.below(FILLER.len())];
        }
    }
    s
}

const SIZES: &[usize] = &[1, 2, 3, 5, 7, 16, 33, 100, 257, 1000];

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let limit: usize = args.iter().position(|a| a == "--limit").and_then(|i| args.get(i + 1)).and_then(|s| s.parse().ok()).unwrap_or(usize::MAX);
    let only: Option<String> = args.iter().position(|a| a == "--only").and_then(|i| args.get(i + 1)).cloned();
    let mutate = args.iter().any(|a| a == "--mutate");
    let want = |k: &str| only.as_deref().is_none_or(|o| o == k);
    let (new_e, old_e) = (new::engines(), old::engines());
    let root = std::env::var("WARD_CORPORA").unwrap_or_else(|_| "../shared/corpora".into());
    let mut texts: Vec<String> = Vec::new();
    if want("corpus") {
        texts.extend(rows(&format!("{root}/secrets"), 1));
        texts.extend(rows(&format!("{root}/pii"), 1));
        texts.extend(rows(&format!("{root}/injection"), 37));
    }
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    if want("gen") {
        for _ in 0..3000 {
            texts.push(generated(&mut rng));
        }
    }
    texts.truncate(limit);
    let mut cases: Vec<(String, String, Push)> = Vec::new();
    for (i, t) in texts.iter().enumerate() {
        let n = SIZES[rng.below(SIZES.len())];
        let push = match rng.below(4) {
            0 => Push::Whole,
            1 => Push::PerEvent,
            2 => Push::Bytes(7),
            _ if t.len() < 200 => Push::Bytes(1),
            _ => Push::Bytes(13),
        };
        let n2 = SIZES[rng.below(SIZES.len())];
        cases.push(("/v1/chat/completions".into(), chat_stream(t, n, None), push));
        cases.push(("/v1/messages".into(), anthropic_stream(t, n2), Push::PerEvent));
        cases.push(("/v1/responses".into(), responses_stream(t, 1 + i % 16), if i % 2 == 0 { Push::PerEvent } else { Push::Bytes(7) }));
        if want("tools") && i % 5 == 0 {
            cases.push(("/v1/chat/completions".into(), chat_stream("Sending it now.", 4, Some(&serde_json::to_string(&json!({"to": "x", "body": t})).unwrap())), Push::PerEvent));
        }
    }
    if want("long") {
        // Long multi-row streams: many rows one after another in one answer.
        let pool = &texts;
        for k in 0..24.min(pool.len()) {
            let mut t = String::new();
            while t.len() < 12_000 {
                t += &pool[rng.below(pool.len())];
                t += "\n\n";
            }
            let n = [7, 16, 64, 1000][k % 4];
            cases.push(("/v1/chat/completions".into(), chat_stream(&t, n, None), Push::PerEvent));
        }
    }
    let mut diffs = 0;
    let mut steps = 0;
    let mut all = Sha256::new();
    let t0 = std::time::Instant::now();
    for (ci, (path, body, push)) in cases.iter().enumerate() {
        for p in 0..POLICIES.len() {
            // Every policy for a share of cases, the default for all.
            if p > 0 && (ci + p) % 3 != 0 {
                continue;
            }
            let (a, sa) = old::run(&old_e[p], path, body.as_bytes(), *push);
            // `--mutate`: the new build under another policy, to see the check fail.
            let q = if mutate { (p + 1) % POLICIES.len() } else { p };
            let (b, sb) = new::run(&new_e[q], path, body.as_bytes(), *push);
            steps += sa;
            all.update(a);
            if a != b || sa != sb {
                diffs += 1;
                if diffs <= 10 {
                    eprintln!("DIFF case {ci} policy {p} {path} {push:?}: {:?}", &body[..body.len().min(300)]);
                }
            }
        }
        if ci % 5000 == 0 {
            eprintln!("{ci}/{} cases, {diffs} diffs, {:.0?}", cases.len(), t0.elapsed());
        }
    }
    let runs: usize = cases.iter().enumerate().map(|(ci, _)| (0..POLICIES.len()).filter(|p| *p == 0 || (ci + p) % 3 == 0).count()).sum();
    println!("{} streams ({} texts), {} runs, {} steps, {} differences, digest of old {:x}", cases.len(), texts.len(), runs, steps, diffs, all.finalize());
}
