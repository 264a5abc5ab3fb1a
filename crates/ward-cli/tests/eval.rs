//! `ward eval` on a tiny corpus written here: file totals and the per-rule
//! counts (by the corpus's own rule or entity type, and by the detector rule
//! that fired), in the JSON and in the table.

use std::path::PathBuf;
use std::process::Command;

use serde_json::{json, Value};

fn ward(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_ward")).args(args).output().expect("run ward");
    (out.status.code().unwrap_or(-1), String::from_utf8_lossy(&out.stdout).into_owned(), String::from_utf8_lossy(&out.stderr).into_owned())
}

/// A corpus folder `<tmp>/<name>/{secrets,pii}/*.jsonl` built from rows.
fn corpus(name: &str, files: &[(&str, Vec<Value>)]) -> PathBuf {
    let root = std::env::temp_dir().join(format!("ward-eval-test-{}-{name}", std::process::id()));
    for (path, rows) in files {
        let file = root.join(path);
        std::fs::create_dir_all(file.parent().unwrap()).unwrap();
        let text: String = rows.iter().map(|r| format!("{r}\n")).collect();
        std::fs::write(file, text).unwrap();
    }
    root
}

fn secret_row(id: &str, text: &str, label: u8, rule: &str) -> Value {
    json!({"id": id, "text": text, "label": label, "kind": if label == 1 { "secret" } else { "not_secret" }, "source": "ward-test", "rule": rule})
}

fn rule<'a>(list: &'a Value, id: &str) -> &'a Value {
    list.as_array().unwrap().iter().find(|r| r["rule"] == id).unwrap_or_else(|| panic!("no rule {id} in {list}"))
}

// Fake, generated for this test: not anyone's token.
const GITHUB: &str = "ghp_Q7vLx2Rk9TzW4mNb8cYp3HdJ6sFa0GeU1oKi";
const SLACK: &str = "xoxb-2048613957-4096127583-Zr8KpQ2vLm7XtW9cBn4Hs6Ja";

#[test]
fn secrets_per_rule_counts_in_json_and_table() {
    let root = corpus(
        "secrets",
        &[(
            "secrets/mini.jsonl",
            vec![
                secret_row("g1", &format!("token = {GITHUB}"), 1, "up.github"),
                secret_row("g2", "see the docs for ghp_ prefixes", 1, "up.github"),
                secret_row("g3", "ghp_ is how tokens start", 0, "up.github"),
                secret_row("s1", &format!("SLACK_BOT_TOKEN={SLACK}"), 1, "up.slack"),
                secret_row("s2", &format!("export SLACK={SLACK}"), 0, "up.slack"),
            ],
        )],
    );
    let (code, stdout, stderr) = ward(&["eval", "--corpus", root.to_str().unwrap(), "--json"]);
    assert_eq!(code, 0, "{stderr}");
    let v: Value = serde_json::from_str(&stdout).expect("JSON");
    let file = &v["files"][0];
    // The existing keys keep their meaning.
    assert_eq!(file["path"], json!("secrets/mini.jsonl"));
    assert_eq!(file["detector"], json!("secrets"));
    assert_eq!((file["positives"].as_u64(), file["negatives"].as_u64()), (Some(3), Some(2)));
    assert_eq!((file["true_positives"].as_u64(), file["false_positives"].as_u64()), (Some(2), Some(1)));
    assert!(v["overall"]["recall"].is_number() && v["ns_per_byte"].is_number());

    // By the corpus's rule: github found 1 of 2, no false positive; slack
    // found 1 of 1 and flagged its negative.
    let github = rule(&file["rules"], "up.github");
    assert_eq!((github["positives"].as_u64(), github["true_positives"].as_u64(), github["false_positives"].as_u64()), (Some(2), Some(1), Some(0)));
    assert_eq!(github["recall"].as_f64(), Some(0.5));
    let slack = rule(&file["rules"], "up.slack");
    assert_eq!((slack["positives"].as_u64(), slack["true_positives"].as_u64(), slack["negatives"].as_u64(), slack["false_positives"].as_u64()), (Some(1), Some(1), Some(1), Some(1)));

    // By the detector rule that fired.
    let fired = &file["detector_rules"];
    assert_eq!(rule(fired, "secrets.github_token")["true_positives"].as_u64(), Some(1));
    let slack_fired = rule(fired, "secrets.slack_token");
    assert_eq!((slack_fired["true_positives"].as_u64(), slack_fired["false_positives"].as_u64()), (Some(1), Some(1)));
    // Overall carries the merged lists too.
    assert_eq!(rule(&v["overall"]["rules"], "up.github")["positives"].as_u64(), Some(2));

    // The table lists the imperfect corpus rules and the rules that fired.
    let (code, table, stderr) = ward(&["eval", "--corpus", root.to_str().unwrap()]);
    assert_eq!(code, 0, "{stderr}");
    assert!(table.contains("2 corpus rules, 2 with a miss or a false positive"), "{table}");
    assert!(table.lines().any(|l| l.trim_start().starts_with("up.github") && l.split_whitespace().collect::<Vec<_>>() == ["up.github", "2", "1", "1", "0"]), "{table}");
    assert!(table.lines().any(|l| l.split_whitespace().collect::<Vec<_>>() == ["secrets.slack_token", "1", "1"]), "{table}");
}

#[test]
fn pii_counts_by_entity_type_and_by_recognizer_for_negatives() {
    let row = |id: &str, text: &str, label: u8, entities: Value, recognizer: &str| {
        json!({"id": id, "text": text, "label": label, "kind": if label == 1 { "pii" } else { "not_pii" }, "source": "ward-test", "entities": entities, "recognizer": recognizer})
    };
    let root = corpus(
        "pii",
        &[(
            "pii/mini.jsonl",
            vec![
                row("e1", "write to ana.soto@riverside-mail.test today", 1, json!([{"type": "EMAIL_ADDRESS", "start": 9, "end": 34}]), "EMAIL_ADDRESS"),
                // Two entity types in one row count for both.
                row("e2", "ana.soto@riverside-mail.test from 81.2.69.160", 1, json!([{"type": "EMAIL_ADDRESS"}, {"type": "IP_ADDRESS"}]), "EMAIL_ADDRESS"),
                row("n1", "the meeting is at noon", 0, json!([]), "EMAIL_ADDRESS"),
                row("n2", "the build took 12.5 seconds on 4 cores", 0, json!([]), "IP_ADDRESS"),
            ],
        )],
    );
    let (code, stdout, stderr) = ward(&["eval", "--corpus", root.to_str().unwrap(), "--json"]);
    assert_eq!(code, 0, "{stderr}");
    let v: Value = serde_json::from_str(&stdout).unwrap();
    let rules = &v["files"][0]["rules"];
    let email = rule(rules, "EMAIL_ADDRESS");
    assert_eq!((email["positives"].as_u64(), email["true_positives"].as_u64(), email["negatives"].as_u64(), email["false_positives"].as_u64()), (Some(2), Some(2), Some(1), Some(0)));
    let ip = rule(rules, "IP_ADDRESS");
    assert_eq!((ip["positives"].as_u64(), ip["negatives"].as_u64(), ip["false_positives"].as_u64()), (Some(1), Some(1), Some(0)));
    assert_eq!(rule(&v["files"][0]["detector_rules"], "pii.email")["true_positives"].as_u64(), Some(2));
}
