//! Per-request cost of the filter in this host, by API format and body
//! size, next to the native engine on the same exchanges.

use std::time::Instant;

use serde::Serialize;
use serde_json::json;

use crate::exchange::{Exchange, Request, Response};
use crate::native::NativeHost;
use crate::replay::{self, ReplayOptions};
use crate::vm::{FilterModule, VmConfig};

pub const FORMATS: [&str; 5] = ["openai_chat", "openai_chat_sse", "openai_responses", "anthropic", "mcp"];

/// Benign prose of about `len` bytes, the same for every run.
pub fn prose(len: usize, seed: u64) -> String {
    const WORDS: [&str; 24] = [
        "the", "quarterly", "report", "shows", "steady", "growth", "in", "regional", "sales", "and", "our", "team", "plans", "a", "review",
        "of", "supplier", "contracts", "before", "summer", "with", "clear", "budget", "targets",
    ];
    let mut x = seed | 1;
    let mut out = String::with_capacity(len + 16);
    while out.len() < len {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        out.push_str(WORDS[(x % WORDS.len() as u64) as usize]);
        out.push(if x % 11 == 0 { '.' } else { ' ' });
    }
    out.truncate(len);
    out
}

/// A request and response of `format` whose bodies are about `size` bytes.
pub fn exchange(format: &str, size: usize) -> Exchange {
    let ask = prose(size.saturating_sub(160), 7);
    let answer = prose(size.saturating_sub(200), 11);
    let json_ct = vec![("content-type".to_string(), "application/json".to_string())];
    let (path, req, resp): (&str, serde_json::Value, Response) = match format {
        "openai_chat" | "openai_chat_sse" => {
            let stream = format == "openai_chat_sse";
            let req = json!({"model": "gpt-4o", "stream": stream, "messages": [{"role": "system", "content": "You are a helpful assistant."}, {"role": "user", "content": ask}]});
            let resp = if stream {
                let mut chunks: Vec<String> = answer
                    .as_bytes()
                    .chunks(16)
                    .map(|c| {
                        let piece = String::from_utf8_lossy(c);
                        format!("data: {}\n\n", json!({"id": "c1", "object": "chat.completion.chunk", "choices": [{"index": 0, "delta": {"content": piece}}]}))
                    })
                    .collect();
                chunks.push("data: [DONE]\n\n".into());
                Response { headers: vec![("content-type".into(), "text/event-stream".into())], chunks: Some(chunks), ..Response::default() }
            } else {
                let body = json!({"id": "c1", "object": "chat.completion", "model": "gpt-4o", "choices": [{"index": 0, "message": {"role": "assistant", "content": answer}, "finish_reason": "stop"}]});
                Response { headers: json_ct.clone(), body: Some(body.to_string()), ..Response::default() }
            };
            ("/v1/chat/completions", req, resp)
        }
        "openai_responses" => (
            "/v1/responses",
            json!({"model": "gpt-4o", "input": [{"role": "user", "content": ask}]}),
            Response {
                headers: json_ct.clone(),
                body: Some(json!({"id": "r1", "object": "response", "status": "completed", "output": [{"type": "message", "role": "assistant", "content": [{"type": "output_text", "text": answer}]}]}).to_string()),
                ..Response::default()
            },
        ),
        "anthropic" => (
            "/v1/messages",
            json!({"model": "claude-sonnet-4", "max_tokens": 1024, "messages": [{"role": "user", "content": ask}]}),
            Response {
                headers: json_ct.clone(),
                body: Some(json!({"id": "m1", "type": "message", "role": "assistant", "content": [{"type": "text", "text": answer}], "stop_reason": "end_turn"}).to_string()),
                ..Response::default()
            },
        ),
        _ => (
            "/mcp",
            json!({"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": {"name": "search_docs", "arguments": {"query": ask}}}),
            Response {
                headers: json_ct.clone(),
                body: Some(json!({"jsonrpc": "2.0", "id": 1, "result": {"content": [{"type": "text", "text": answer}], "isError": false}}).to_string()),
                ..Response::default()
            },
        ),
    };
    let mut headers = json_ct;
    headers.push(("x-request-id".into(), "bench".into()));
    Exchange {
        name: format!("{format}/{size}"),
        request: Request { path: Some(path.into()), headers, body: Some(req.to_string()), ..Request::default() },
        response: Some(resp),
        delay_ms: 0,
    }
}

#[derive(Debug, Serialize)]
pub struct Row {
    pub format: String,
    pub size: usize,
    pub requests: usize,
    pub wasm_median_us: f64,
    pub wasm_p99_us: f64,
    pub native_median_us: f64,
    pub native_p99_us: f64,
    /// Guest linear memory after the VM's first request and after all N.
    pub memory_first_kib: usize,
    pub memory_after_kib: usize,
    pub verdict: String,
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let i = ((sorted.len() - 1) as f64 * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

/// Which side of a case to time.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Sides {
    Both,
    /// The module only, e.g. under `perf record` (the native runs would
    /// share the profile).
    Wasm,
    Native,
}

/// Runs `n` requests (after a warm-up) of each format and size, each case in
/// a fresh VM. A whole request is timed: headers and body both ways.
pub fn run(module: &FilterModule, policy: &[u8], sizes: &[usize], n: usize) -> Result<Vec<Row>, String> {
    let mut cases = Vec::new();
    for format in FORMATS {
        for &size in sizes {
            cases.push((format.to_string(), size, exchange(format, size)));
        }
    }
    run_cases(module, policy, &cases, n, Sides::Both)
}

/// [`run`] on given exchanges (e.g. those of `benches/envoy_exchanges.py`):
/// each row is named after its exchange, its size is the request body's.
pub fn run_exchanges(module: &FilterModule, policy: &[u8], exchanges: &[Exchange], n: usize, sides: Sides) -> Result<Vec<Row>, String> {
    let mut cases = Vec::new();
    for ex in exchanges {
        let size = ex.request.body_bytes()?.len();
        cases.push((ex.name.clone(), size, ex.clone()));
    }
    run_cases(module, policy, &cases, n, sides)
}

fn run_cases(module: &FilterModule, policy: &[u8], cases: &[(String, usize, Exchange)], n: usize, sides: Sides) -> Result<Vec<Row>, String> {
    let opts = ReplayOptions::default();
    let (wasm_on, native_on) = (sides != Sides::Native, sides != Sides::Wasm);
    let mut rows = Vec::new();
    for (format, size, ex) in cases {
        let mut vm = module.start(&VmConfig::new(policy.to_vec())).map_err(|e| e.to_string())?;
        let first = replay::run(&mut vm, ex, &opts);
        if let Some(e) = first.error {
            return Err(format!("{}: {e}", ex.name));
        }
        vm.take_logs();
        let memory_first = vm.memory_bytes();
        let mut native = NativeHost::new(policy)?;
        for _ in 0..n.min(50) {
            if wasm_on {
                replay::run_quiet(&mut vm, ex, &opts)?;
                vm.take_logs();
            }
            if native_on {
                native.run(ex);
            }
        }
        let mut wasm = Vec::with_capacity(n);
        let mut nat = Vec::with_capacity(n);
        for _ in 0..n {
            if wasm_on {
                let t = Instant::now();
                replay::run_quiet(&mut vm, ex, &opts)?;
                wasm.push(t.elapsed().as_secs_f64() * 1e6);
                vm.take_logs();
            }
            if native_on {
                let t = Instant::now();
                std::hint::black_box(native.run(ex));
                nat.push(t.elapsed().as_secs_f64() * 1e6);
            }
        }
        wasm.sort_by(f64::total_cmp);
        nat.sort_by(f64::total_cmp);
        rows.push(Row {
            format: format.clone(),
            size: *size,
            requests: n,
            wasm_median_us: percentile(&wasm, 0.5),
            wasm_p99_us: percentile(&wasm, 0.99),
            native_median_us: percentile(&nat, 0.5),
            native_p99_us: percentile(&nat, 0.99),
            memory_first_kib: memory_first / 1024,
            memory_after_kib: vm.memory_bytes() / 1024,
            verdict: first.verdict,
        });
    }
    Ok(rows)
}

pub fn table(rows: &[Row]) -> String {
    let mut out = String::from("| format | body bytes | wasm median µs | wasm p99 µs | native median µs | native p99 µs | guest memory after 1 / N (KiB) | verdict |\n|---|---:|---:|---:|---:|---:|---:|---|\n");
    for r in rows {
        out.push_str(&format!(
            "| {} | {} | {:.1} | {:.1} | {:.1} | {:.1} | {} / {} | {} |\n",
            r.format, r.size, r.wasm_median_us, r.wasm_p99_us, r.native_median_us, r.native_p99_us, r.memory_first_kib, r.memory_after_kib, r.verdict
        ));
    }
    out
}
