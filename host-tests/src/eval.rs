//! `ward-host eval`: the injection figures of `ward eval`, measured through
//! the filter module instead of the native engine.
//!
//! Each corpus row becomes the request a client would send carrying its
//! text from the origin its `kind`/`carrier` implies
//! ([`ward_core::corpus::injection_request`], the mapping `ward eval` uses),
//! goes through the module like any request (headers, body, a small model
//! answer), and counts as flagged when the audit events the module logged
//! for the request hold an injection finding whose action is not `allow`:
//! the same test `ward eval` applies to the detector's findings.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use ward_core::corpus::{self, Tally};
use ward_core::injection::model;

use crate::exchange::{Exchange, Request, Response};
use crate::replay::{self, ReplayOptions};
use crate::vm::Vm;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Split {
    All,
    Train,
    Heldout,
}

impl Split {
    pub fn parse(s: &str) -> Option<Split> {
        match s {
            "all" => Some(Split::All),
            "train" => Some(Split::Train),
            "heldout" => Some(Split::Heldout),
            _ => None,
        }
    }

    fn as_str(self) -> &'static str {
        match self {
            Split::All => "all",
            Split::Train => "train",
            Split::Heldout => "heldout",
        }
    }
}

/// Counts for one corpus file.
pub struct FileReport {
    pub path: String,
    pub total: Tally,
    pub slices: BTreeMap<&'static str, BTreeMap<String, Tally>>,
    pub skipped: u64,
    bytes: u64,
    elapsed: Duration,
}

/// The `*.jsonl` / `*.jsonl.gz` files of `dir` and of its subfolders, sorted
/// (the files `ward eval` reads). With `only_folder`, a subfolder's files
/// count only when the subfolder has that name.
pub fn discover(dir: &Path, only_folder: Option<&str>) -> Result<Vec<PathBuf>, String> {
    let mut out = Vec::new();
    let entries = std::fs::read_dir(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    for entry in entries.flatten() {
        let p = entry.path();
        if p.is_dir() {
            let name = p.file_name().map(|n| n.to_string_lossy().to_string()).unwrap_or_default();
            if only_folder.is_some_and(|f| f != name) {
                continue;
            }
            for sub in std::fs::read_dir(&p).map_err(|e| format!("{}: {e}", p.display()))?.flatten() {
                if is_corpus_file(&sub.path()) {
                    out.push(sub.path());
                }
            }
        } else if is_corpus_file(&p) {
            out.push(p);
        }
    }
    out.sort();
    Ok(out)
}

fn is_corpus_file(p: &Path) -> bool {
    p.is_file() && p.file_name().is_some_and(|n| corpus::is_corpus_file_name(&n.to_string_lossy()))
}

fn file_stem(path: &Path) -> String {
    corpus::file_stem(&path.file_name().map(|n| n.to_string_lossy().to_string()).unwrap_or_default()).to_string()
}

/// The exchange carrying `text` from `origin`; `None` for an origin no
/// corpus row maps to.
pub fn exchange(text: &str, origin: ward_core::Origin) -> Option<Exchange> {
    let body = corpus::injection_request(text, origin)?;
    let json_type = vec![("content-type".to_string(), "application/json".to_string())];
    Some(Exchange {
        name: String::new(),
        request: Request { method: None, path: Some(corpus::REQUEST_PATH.into()), headers: json_type.clone(), body: Some(String::from_utf8(body).ok()?), body_b64: None },
        response: Some(Response { status: Some(200), headers: json_type, body: Some(r#"{"type":"message","role":"assistant","content":[{"type":"text","text":"ok"}]}"#.into()), ..Response::default() }),
        delay_ms: 0,
    })
}

/// Whether the module flagged the request: an injection finding on the
/// request whose action is not `allow`, in any audit event it logged.
fn flagged(outcome: &crate::Outcome) -> bool {
    outcome.audit.iter().filter(|e| e.get("direction").and_then(Value::as_str) == Some("request")).any(|e| {
        e.get("findings").and_then(Value::as_array).into_iter().flatten().any(|f| {
            f.get("detector").and_then(Value::as_str) == Some("injection") && f.get("action").and_then(Value::as_str).is_some_and(|a| a != "allow")
        })
    })
}

/// Sends every row of one injection file through the module in `vm`.
pub fn eval_file(vm: &mut Vm, path: &Path, root: &Path, split: Split) -> Result<FileReport, String> {
    let file = std::fs::File::open(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let reader: Box<dyn Read> = if path.to_string_lossy().ends_with(".gz") { Box::new(flate2::read::GzDecoder::new(file)) } else { Box::new(file) };
    let stem = file_stem(path);
    let shown = path.strip_prefix(root).unwrap_or(path).display().to_string();
    let mut report = FileReport { path: shown, total: Tally::default(), slices: BTreeMap::new(), skipped: 0, bytes: 0, elapsed: Duration::ZERO };
    let opts = ReplayOptions::default();
    for (n, line) in BufReader::new(reader).lines().enumerate() {
        let line = line.map_err(|e| format!("{}: {e}", path.display()))?;
        if line.trim().is_empty() {
            continue;
        }
        let row: Value = serde_json::from_str(&line).map_err(|e| format!("{}:{}: {e}", path.display(), n + 1))?;
        let text = row.get("text").and_then(Value::as_str).ok_or_else(|| format!("{}:{}: row has no `text`", path.display(), n + 1))?;
        let label = row.get("label").and_then(Value::as_i64).ok_or_else(|| format!("{}:{}: row has no `label`", path.display(), n + 1))? == 1;
        if split != Split::All {
            let held = model::is_holdout(&stem, &model::holdout_group(&row));
            if held != (split == Split::Heldout) {
                report.skipped += 1;
                continue;
            }
        }
        let origin = corpus::injection_origin(&row);
        let ex = exchange(text, origin).ok_or_else(|| format!("{}:{}: no request carries {origin:?} text", path.display(), n + 1))?;
        let started = Instant::now();
        let outcome = replay::run(vm, &ex, &opts);
        report.elapsed += started.elapsed();
        report.bytes += text.len() as u64;
        if let Some(e) = &outcome.error {
            return Err(format!("{}:{}: the module failed: {e}", path.display(), n + 1));
        }
        let hit = flagged(&outcome);
        report.total.add(label, hit);
        for key in corpus::SLICE_KEYS {
            if let Some(v) = row.get(key).and_then(Value::as_str) {
                report.slices.entry(key).or_default().entry(v.to_string()).or_default().add(label, hit);
            }
        }
    }
    Ok(report)
}

/// The JSON `ward eval --json` prints, from these reports.
pub fn json(reports: &[FileReport], split: Split) -> Value {
    let mut overall = Tally::default();
    let (mut bytes, mut elapsed) = (0u64, Duration::ZERO);
    for r in reports {
        overall.merge(&r.total);
        bytes += r.bytes;
        elapsed += r.elapsed;
    }
    let files: Vec<Value> = reports
        .iter()
        .map(|r| {
            let mut v = r.total.json();
            if let Value::Object(o) = &mut v {
                o.insert("path".into(), json!(r.path));
                o.insert("detector".into(), json!("injection"));
                if r.skipped > 0 {
                    o.insert("rows_outside_split".into(), json!(r.skipped));
                }
                o.insert("ns_per_byte".into(), json!(corpus::round4(r.elapsed.as_nanos() as f64 / r.bytes.max(1) as f64)));
                for (key, values) in &r.slices {
                    let by: serde_json::Map<String, Value> = values.iter().map(|(k, t)| (k.clone(), t.json())).collect();
                    o.insert(format!("by_{key}"), Value::Object(by));
                }
            }
            v
        })
        .collect();
    let ns_per_byte = if bytes > 0 { elapsed.as_nanos() as f64 / bytes as f64 } else { 0.0 };
    json!({"files": files, "overall": overall.json(), "ns_per_byte": corpus::round4(ns_per_byte), "split": split.as_str(), "host": "wasm"})
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_row_becomes_a_messages_request_with_a_response() {
        let ex = exchange("hello", ward_core::Origin::Document).expect("an exchange");
        assert_eq!(ex.request.path.as_deref(), Some("/v1/messages"));
        assert!(ex.request.body.as_deref().is_some_and(|b| b.contains("\"document\"")));
        assert!(ex.response.is_some());
        assert!(exchange("hello", ward_core::Origin::System).is_none());
    }
}
