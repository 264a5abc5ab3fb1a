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

use ward_core::{AuditChain, Direction, Engine, Envelope};

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [policy, body, step, n] = args.as_slice() else {
        eprintln!("usage: filter_path POLICY BODY STEP N");
        std::process::exit(2);
    };
    let n: usize = n.parse().expect("N is a number");
    let engine = Engine::from_json(&std::fs::read(policy).expect("read policy")).expect("valid policy");
    let body = std::fs::read(body).expect("read body");
    let env = Envelope {
        direction: Direction::Request,
        request_id: "0b9b4c3e-7d4f-4a8e-9a51-3f0f2d6c1e27".into(),
        upstream: "127.0.0.1:8080".into(),
        time_ms: 1_763_800_000_000,
        ..Envelope::request("/v1/chat/completions", "application/json")
    };
    let decision = engine.inspect(&env, &body);
    let mut chain = AuditChain::new("ward-1763800000000-1");
    let mut bytes = 0usize;
    for _ in 0..n {
        match step.as_str() {
            "parse" => bytes += ward_core::wire::strict::parse(&body).map(|v| v.is_object() as usize).unwrap_or(0),
            "inspect" => bytes += std::hint::black_box(engine.inspect_session(&env, &body, None)).decision.findings.len(),
            "seal" => {
                if let Some(event) = &decision.audit {
                    bytes += format!("ward-audit {}", chain.seal(event.clone()).to_json_line()).len();
                }
            }
            "request" => {
                let d = engine.inspect_session(&env, &body, None).decision;
                if let Some(event) = d.audit {
                    bytes += format!("ward-audit {}", chain.seal(event).to_json_line()).len();
                }
            }
            "none" => {}
            other => {
                eprintln!("unknown STEP `{other}`");
                std::process::exit(2);
            }
        }
    }
    println!("{step}: {bytes} in {n} calls; verdict {:?}", decision.action());
}
