//! `ward check` on the access sections: the shipped agents policy passes,
//! and a policy naming an unknown tool label or holding a pattern that does
//! not compile is refused with the JSON path (and line) of the mistake.

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::{json, Value};

fn ward(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_ward")).args(args).output().expect("run ward");
    (out.status.code().unwrap_or(-1), String::from_utf8_lossy(&out.stdout).into_owned(), String::from_utf8_lossy(&out.stderr).into_owned())
}

fn scratch(name: &str, policy: &Value) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("ward-check-tools-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(name);
    std::fs::write(&path, serde_json::to_string_pretty(policy).unwrap()).unwrap();
    path
}

fn agents_policy() -> (PathBuf, Value) {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/policies/agents.json");
    let policy = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    (path, policy)
}

#[test]
fn the_agents_example_passes() {
    let (path, _) = agents_policy();
    let (code, stdout, stderr) = ward(&["check", path.to_str().unwrap()]);
    assert_eq!(code, 0, "{stdout}{stderr}");
    assert!(stdout.starts_with("OK "), "{stdout}");
}

/// Refused with exit code 1 and `file:line:column: path: reason`.
fn refused(name: &str, policy: &Value) -> String {
    let path = scratch(name, policy);
    let (code, stdout, stderr) = ward(&["check", path.to_str().unwrap()]);
    assert_eq!(code, 1, "{stdout}{stderr}");
    let line = stdout.trim();
    assert!(line.starts_with(&format!("{}:", path.display())), "{line}");
    line[path.display().to_string().len()..].to_string()
}

#[test]
fn an_unknown_tool_label_is_named_by_path() {
    let (_, mut policy) = agents_policy();
    policy["tools"]["definitions"]["send_email"]["labels"] = json!(["egress", "exfiltration"]);
    let out = refused("label.json", &policy);
    assert!(out.contains(": tools.definitions.send_email.labels[1]: unknown label `exfiltration`"), "{out}");

    let (_, mut policy) = agents_policy();
    policy["tools"]["flows"][0]["deny"] = json!({"label": "egres"});
    let out = refused("flow.json", &policy);
    assert!(out.contains(": tools.flows[0].deny.label: unknown label `egres`"), "{out}");
}

#[test]
fn an_invalid_pattern_is_named_by_path() {
    let (_, mut policy) = agents_policy();
    policy["tools"]["definitions"]["send_email"]["args"]["to"]["pattern"] = json!("^[a-z.+@corp\\.example$");
    let out = refused("pattern.json", &policy);
    assert!(out.contains(": tools.definitions.send_email.args.to.pattern: invalid pattern"), "{out}");
    // The line and column point into the file at the pattern.
    let (line, _) = out.trim_start_matches(':').split_once(':').unwrap();
    let text = std::fs::read_to_string(scratch("pattern.json", &policy)).unwrap();
    let at = text.lines().nth(line.parse::<usize>().unwrap() - 1).unwrap();
    assert!(at.contains("\"pattern\""), "line {line} is {at:?}");
}
