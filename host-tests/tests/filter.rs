//! The real filter module (the file Envoy loads) in this host against the
//! native engine, on the parity fixtures: two of the three hosts of the
//! parity test (host-tests/envoy/test_parity.py adds Envoy).
//!
//! Needs the module built (scripts/build.sh). Compiling it in a debug build
//! is slow; scripts/build.sh leaves the compiled code in the host's cache.

use std::path::PathBuf;

use ward_host::native::NativeHost;
use ward_host::replay::{self, ReplayOptions};
use ward_host::{exchange, FilterModule, VmConfig};

fn fixtures() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("fixtures")
}

fn load_module() -> FilterModule {
    let path = ward_host::default_wasm_path();
    assert!(path.is_file(), "{} is missing: build the filter with scripts/build.sh", path.display());
    FilterModule::from_file(&path).expect("the filter module loads")
}

#[test]
fn wasm_host_agrees_with_the_native_engine_on_every_fixture() {
    let module = load_module();
    let policy = std::fs::read(fixtures().join("parity-policy.json")).unwrap();
    let mut vm = module.start(&VmConfig::new(policy.clone())).expect("the filter accepts the policy");
    let mut native = NativeHost::new(&policy).unwrap();
    let text = std::fs::read_to_string(fixtures().join("parity.jsonl")).unwrap();
    let exchanges = exchange::parse_jsonl(&text).unwrap();
    assert!(exchanges.len() >= 10);
    let mut verdicts = std::collections::BTreeSet::new();
    let mut disagreements = Vec::new();
    for ex in &exchanges {
        let n = native.run(ex);
        let w = replay::run(&mut vm, ex, &ReplayOptions::default());
        assert_eq!(w.error, None, "{}: the wasm host failed", ex.name);
        assert_eq!(n.error, None, "{}: the native host failed", ex.name);
        if n.comparable() != w.comparable() {
            disagreements.push(format!("{}\n  native: {}\n  wasm:   {}", ex.name, n.comparable(), w.comparable()));
        }
        verdicts.insert(w.verdict.clone());
    }
    assert!(disagreements.is_empty(), "hosts disagree:\n{}", disagreements.join("\n"));
    // The fixtures must exercise more than the happy path for agreement to mean anything.
    assert!(verdicts.contains("block") && verdicts.contains("allow"), "{verdicts:?}");
}

#[test]
fn filter_counts_its_decisions_in_metrics() {
    let module = load_module();
    let mut vm = module.start(&VmConfig::new("{}")).unwrap();
    let text = std::fs::read_to_string(fixtures().join("parity.jsonl")).unwrap();
    let mut blocks = 0;
    for ex in exchange::parse_jsonl(&text).unwrap() {
        let out = replay::run(&mut vm, &ex, &ReplayOptions::default());
        blocks += out.audit.iter().filter(|e| e["action"] == "block").count() as u64;
    }
    let counted = vm.metrics().iter().find(|m| m.name == "ward.decision.block").map(|m| m.value);
    assert_eq!(counted, Some(blocks));
}

#[test]
fn har_import_replays() {
    let module = load_module();
    let mut vm = module.start(&VmConfig::new("{}")).unwrap();
    let har = std::fs::read_to_string(fixtures().join("sample.har")).unwrap();
    let exchanges = exchange::from_har(&har).unwrap();
    let outcomes: Vec<_> = exchanges.iter().map(|ex| replay::run(&mut vm, ex, &ReplayOptions::default())).collect();
    assert!(outcomes.iter().all(|o| o.error.is_none()), "{:?}", outcomes.iter().map(|o| &o.error).collect::<Vec<_>>());
    assert!(outcomes.iter().any(|o| o.verdict == "block"));
    assert!(outcomes.iter().any(|o| o.verdict == "allow"));
}
