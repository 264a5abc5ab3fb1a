//! The Envoy filter's per-request work on one body, natively and in steps,
//! for instruction counts under callgrind (docs/performance.md, "Envoy
//! overhead"): what the detectors cost against everything around them.
//!
//!     cargo build --release -p ward-benches --example filter_path
//!     valgrind --tool=callgrind --callgrind-out-file=/dev/null \
//!         $CARGO_TARGET_DIR/release/examples/filter_path POLICY BODY STEP N
//!
//! STEP is `parse` (the strict JSON read), `inspect` (the whole
//! `Engine::inspect_session`), `seal` (sealing the decision's audit event
//! into a chain and writing its log line, as the filter does per request),
//! `request` (inspect, then seal and log) or `none` (setup only: subtract
//! its count, divide by N). BODY is an OpenAI Chat Completions request.
//!
//! When BODY is a `.jsonl` file of exchanges (`benches/envoy_exchanges.py`),
//! its first exchange is used and STEP may also be `exchange`: what the
//! filter does for a whole non-streamed exchange (request headers and
//! identity, request inspection, response envelope and inspection, each
//! decision's metric names, audit seal and log line), `response` (the
//! response's inspection alone) or `parse-response`.

use serde_json::Value;
use ward_core::tools::Facts;
use ward_core::{AuditChain, Decision, Direction, Engine, Envelope};

/// One exchange: request headers and body, response content type and body.
struct Exchange {
    headers: Vec<(String, String)>,
    path: String,
    body: Vec<u8>,
    response_type: String,
    response: Vec<u8>,
}

impl Exchange {
    fn read(text: &str) -> Exchange {
        let line = text.lines().find(|l| !l.trim().is_empty()).expect("one exchange");
        let v: Value = serde_json::from_str(line).expect("exchange JSON");
        let pairs = |v: &Value| -> Vec<(String, String)> {
            v.as_array().into_iter().flatten().filter_map(|p| Some((p[0].as_str()?.to_ascii_lowercase(), p[1].as_str()?.to_string()))).collect()
        };
        let headers = pairs(&v["request"]["headers"]);
        let rheaders = pairs(&v["response"]["headers"]);
        Exchange {
            path: v["request"]["path"].as_str().unwrap_or("/").to_string(),
            body: v["request"]["body"].as_str().unwrap_or("").as_bytes().to_vec(),
            response_type: rheaders.iter().find(|(k, _)| k == "content-type").map(|(_, v)| v.clone()).unwrap_or_default(),
            response: v["response"]["body"].as_str().unwrap_or("").as_bytes().to_vec(),
            headers,
        }
    }

    fn header(&self, name: &str) -> String {
        self.headers.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone()).unwrap_or_default()
    }
}

struct HeaderFacts<'a>(&'a Exchange);

impl Facts for HeaderFacts<'_> {
    fn header(&self, name: &str) -> Option<String> {
        self.0.headers.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone())
    }
    fn jwt_payload(&self, _: &str) -> Option<Value> {
        None
    }
    fn peer_uri_san(&self) -> Option<String> {
        None
    }
}

/// What the filter's `Shared::record` does with a decision, natively: the
/// metric names it counts and the log line of the sealed event.
#[inline(never)]
fn record(chain: &mut AuditChain, decision: &Decision) -> usize {
    let mut n = format!("ward.decision.{}", decision.action().as_str()).len();
    for f in &decision.findings {
        n += format!("ward.finding.{}.{}", f.detector.as_str(), f.action.as_str()).len();
    }
    if let Some(event) = &decision.audit {
        n += format!("ward-audit {}", chain.seal_line(event.clone()).1).len();
    }
    n
}

/// The filter's work for one non-streamed exchange.
#[inline(never)]
fn exchange(engine: &Engine, chain: &mut AuditChain, ex: &Exchange, time_ms: u64) -> usize {
    let mut request = Envelope {
        direction: Direction::Request,
        path: ex.path.clone(),
        content_type: ex.header("content-type"),
        content_encoding: ex.header("content-encoding"),
        request_id: ex.header("x-request-id"),
        upstream: ex.header(":authority"),
        time_ms,
        ..Envelope::default()
    };
    let identity = engine.resolve_identity(&HeaderFacts(ex));
    (request.agent, request.task, request.session) = (identity.agent, identity.task, identity.session);
    let inspection = engine.inspect_session(&request, &ex.body, None);
    let mut n = record(chain, &inspection.decision);
    let response = Envelope { direction: Direction::Response, content_type: ex.response_type.clone(), content_encoding: String::new(), model: inspection.model, ..request.clone() };
    let answer = engine.inspect_session(&response, &ex.response, inspection.session.as_ref());
    n += record(chain, &answer.decision);
    n
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [policy, body, step, n] = args.as_slice() else {
        eprintln!("usage: filter_path POLICY BODY STEP N");
        std::process::exit(2);
    };
    let n: usize = n.parse().expect("N is a number");
    let engine = Engine::from_json(&std::fs::read(policy).expect("read policy")).expect("valid policy");
    let raw = std::fs::read(body).expect("read body");
    let ex = if body.ends_with(".jsonl") {
        Exchange::read(&String::from_utf8(raw).expect("UTF-8 exchanges"))
    } else {
        Exchange { headers: Vec::new(), path: "/v1/chat/completions".into(), body: raw, response_type: String::new(), response: Vec::new() }
    };
    let body = &ex.body;
    let env = Envelope {
        direction: Direction::Request,
        request_id: "0b9b4c3e-7d4f-4a8e-9a51-3f0f2d6c1e27".into(),
        upstream: "127.0.0.1:8080".into(),
        time_ms: 1_763_800_000_000,
        ..Envelope::request("/v1/chat/completions", "application/json")
    };
    let response_env = Envelope { direction: Direction::Response, content_type: ex.response_type.clone(), model: Some("gpt-4o-mini".into()), ..env.clone() };
    let decision = engine.inspect(&env, body);
    let mut chain = AuditChain::new("ward-1763800000000-1");
    let mut bytes = 0usize;
    for i in 0..n {
        match step.as_str() {
            "parse" => bytes += ward_core::wire::strict::parse(body).map(|v| v.is_object() as usize).unwrap_or(0),
            "parse-response" => bytes += ward_core::wire::strict::parse(&ex.response).map(|v| v.is_object() as usize).unwrap_or(0),
            "inspect" => bytes += std::hint::black_box(engine.inspect_session(&env, body, None)).decision.findings.len(),
            "response" => bytes += std::hint::black_box(engine.inspect_session(&response_env, &ex.response, None)).decision.findings.len(),
            "seal" => {
                if let Some(event) = &decision.audit {
                    bytes += format!("ward-audit {}", chain.seal(event.clone()).to_json_line()).len();
                }
            }
            "request" => {
                let d = engine.inspect_session(&env, body, None).decision;
                if let Some(event) = d.audit {
                    bytes += format!("ward-audit {}", chain.seal(event).to_json_line()).len();
                }
            }
            "exchange" => bytes += exchange(&engine, &mut chain, &ex, 1_763_800_000_000 + i as u64),
            "none" => {}
            other => {
                eprintln!("unknown STEP `{other}`");
                std::process::exit(2);
            }
        }
    }
    println!("{step}: {bytes} in {n} calls; verdict {:?}", decision.action());
}
