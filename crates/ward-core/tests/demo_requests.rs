//! The demo's requests (`examples/demo/requests.jsonl`, replayed through
//! Envoy by `scripts/demo.sh`) under the shipped default policy: the benign
//! ones pass, every attack is stopped. The demo only prints what happened;
//! this is where a detector change that lets one of its attacks through
//! fails a test.

use std::path::Path;

use ward_core::{Engine, Envelope, Verdict};

#[test]
fn the_demo_requests_get_the_verdicts_their_names_promise() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let policy = std::fs::read(root.join("examples/policies/default.json")).unwrap();
    let engine = Engine::from_json(&policy).unwrap();
    let requests = std::fs::read_to_string(root.join("examples/demo/requests.jsonl")).unwrap();
    let mut checked = 0;
    for line in requests.lines().filter(|l| !l.trim().is_empty()) {
        let row: serde_json::Value = serde_json::from_str(line).unwrap();
        let name = row["name"].as_str().unwrap();
        // Those rows are about the answer (the mock leaks a key): their
        // request is benign and the demo shows the response being redacted.
        if name.starts_with("model leaks") {
            continue;
        }
        let body = match row.get("raw") {
            Some(raw) => raw.as_str().unwrap().as_bytes().to_vec(),
            None => serde_json::to_vec(&row["body"]).unwrap(),
        };
        let env = Envelope::request(row["path"].as_str().unwrap(), "application/json");
        let decision = engine.inspect(&env, &body);
        let allowed = matches!(decision.verdict, Verdict::Allow);
        assert_eq!(allowed, name.starts_with("benign"), "{name}: {:?}", decision.findings);
        checked += 1;
    }
    assert!(checked >= 6, "only {checked} demo requests checked");
}
