//! CPU time of one engine call on each text file given, as JSON, for
//! `benches/python_alternatives.py` (which compares it with Python
//! guardrails on the same texts).
//!
//!     cargo run --release -p ward-benches --example per_call -- POLICY.json TEXT...
//!
//! Two calls per text: `scan` (every detector over the text as one user
//! segment, the closest match to a library scanning a string) and `inspect`
//! (the whole request path: the text as the user message of a Chat
//! Completions body, parsed, scanned and decided), and `scan` split by
//! detector (injection, secrets, PII). CPU time comes from
//! the thread's CPU clock, so time spent waiting for a core on a shared
//! machine is not counted.

use std::time::Instant;
use ward_core::{injection, pii, secrets, Direction, Engine, Envelope, Origin, Segment};

#[repr(C)]
struct Timespec {
    sec: i64,
    nsec: i64,
}

extern "C" {
    // From the C library std already links; /proc/thread-self/schedstat
    // only advances at scheduler ticks, too coarse for a 2 ms batch.
    fn clock_gettime(clock: i32, ts: *mut Timespec) -> i32;
}

const CLOCK_THREAD_CPUTIME_ID: i32 = 3;

fn thread_cpu_ns() -> u64 {
    let mut ts = Timespec { sec: 0, nsec: 0 };
    // SAFETY: `ts` is a valid, writable timespec for the call's duration.
    let rc = unsafe { clock_gettime(CLOCK_THREAD_CPUTIME_ID, &mut ts) };
    assert_eq!(rc, 0, "clock_gettime(CLOCK_THREAD_CPUTIME_ID)");
    ts.sec as u64 * 1_000_000_000 + ts.nsec as u64
}

/// Median CPU ns per call over `samples` batches, each batch long enough
/// (about 2 ms) that reading the clock costs nothing in comparison.
fn per_call_ns(samples: usize, mut call: impl FnMut()) -> f64 {
    let t = Instant::now();
    call();
    let once = t.elapsed().as_nanos().max(1) as u64;
    let batch = (2_000_000 / once).clamp(1, 10_000);
    let mut per_call: Vec<f64> = (0..samples)
        .map(|_| {
            let c0 = thread_cpu_ns();
            for _ in 0..batch {
                call();
            }
            (thread_cpu_ns() - c0) as f64 / batch as f64
        })
        .collect();
    per_call.sort_by(|a, b| a.total_cmp(b));
    per_call[per_call.len() / 2]
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let Some((policy_path, texts)) = args.split_first() else {
        eprintln!("usage: per_call POLICY.json TEXT...");
        std::process::exit(2);
    };
    let policy = std::fs::read(policy_path).expect("read policy");
    let engine = Engine::from_json(&policy).expect("valid policy");
    let mut results = Vec::new();
    for path in texts {
        let text = std::fs::read_to_string(path).expect("read text");
        let segment = [Segment::new(text.clone(), Origin::User, "/messages/0/content")];
        let body = serde_json::to_vec(&serde_json::json!({
            "model": "gpt-4o-mini",
            "messages": [{"role": "user", "content": text}],
        }))
        .expect("json");
        let env = Envelope::request("/v1/chat/completions", "application/json");
        let scan = per_call_ns(51, || {
            std::hint::black_box(engine.scan(std::hint::black_box(&segment), Direction::Request));
        });
        let inspect = per_call_ns(51, || {
            std::hint::black_box(engine.inspect(&env, std::hint::black_box(&body)));
        });
        let policy = engine.policy();
        let (inj, sec, pii) = (
            injection::Detector::new(&policy.injection),
            secrets::Detector::new(&policy.secrets),
            pii::Detector::new(&policy.pii),
        );
        let one = &segment[0];
        let injection_ns = per_call_ns(51, || {
            let mut out = Vec::new();
            inj.scan(std::hint::black_box(one), Direction::Request, &mut out);
            std::hint::black_box(out);
        });
        let secrets_ns = per_call_ns(51, || {
            let mut out = Vec::new();
            sec.scan(std::hint::black_box(one), Direction::Request, &mut out);
            std::hint::black_box(out);
        });
        let pii_ns = per_call_ns(51, || {
            let mut out = Vec::new();
            pii.scan(std::hint::black_box(one), Direction::Request, &mut out);
            std::hint::black_box(out);
        });
        let findings = engine.scan(&segment, Direction::Request).len();
        results.push(serde_json::json!({
            "file": path, "bytes": text.len(), "findings": findings,
            "scan_ns": scan, "inspect_ns": inspect,
            "detector_ns": {"injection": injection_ns, "secrets": secrets_ns, "pii": pii_ns},
        }));
    }
    println!("{}", serde_json::Value::Array(results));
}
