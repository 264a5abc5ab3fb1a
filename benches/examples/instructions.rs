//! Calls one detector, `Engine::scan` or `Engine::inspect` N times on a
//! text, for instruction counts under callgrind (docs/performance.md):
//!
//!     cargo build --release -p ward-benches --example instructions
//!     valgrind --tool=callgrind --callgrind-out-file=/dev/null \
//!         $CARGO_TARGET_DIR/release/examples/instructions pii TEXT 10
//!
//! WHAT is `injection`, `secrets`, `pii`, `scan`, `inspect` or `none` (the
//! same setup without a call: subtract its count, divide by N). The policy
//! is examples/policies/default.json.

use ward_core::{injection, pii, secrets, Direction, Engine, Envelope, Origin, Segment};

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [what, path, n] = args.as_slice() else {
        eprintln!("usage: instructions WHAT TEXT N");
        std::process::exit(2);
    };
    let n: usize = n.parse().expect("N is a number");
    let policy = std::fs::read(concat!(env!("CARGO_MANIFEST_DIR"), "/../examples/policies/default.json")).expect("read policy");
    let engine = Engine::from_json(&policy).expect("valid policy");
    let text = std::fs::read_to_string(path).expect("read text");
    let segment = Segment::new(text.clone(), Origin::User, "/messages/0/content");
    let body = serde_json::to_vec(&serde_json::json!({"model": "gpt-4o-mini", "messages": [{"role": "user", "content": text}]})).expect("json");
    let env = Envelope::request("/v1/chat/completions", "application/json");
    let p = engine.policy();
    let (inj, sec, pi) = (injection::Detector::new(&p.injection), secrets::Detector::new(&p.secrets), pii::Detector::new(&p.pii));
    let mut findings = 0;
    for _ in 0..n {
        let mut out = Vec::new();
        match what.as_str() {
            "injection" => inj.scan(&segment, Direction::Request, &mut out),
            "secrets" => sec.scan(&segment, Direction::Request, &mut out),
            "pii" => pi.scan(&segment, Direction::Request, &mut out),
            "scan" => findings += engine.scan(std::slice::from_ref(&segment), Direction::Request).len(),
            "inspect" => {
                std::hint::black_box(engine.inspect(&env, &body));
            }
            "none" => {}
            other => {
                eprintln!("unknown WHAT `{other}`");
                std::process::exit(2);
            }
        }
        findings += out.len();
    }
    println!("{what}: {findings} findings in {n} calls");
}
