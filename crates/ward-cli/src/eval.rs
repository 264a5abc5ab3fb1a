//! `ward eval`: detection and false-positive rates of one detector on a
//! folder of labelled JSON Lines corpora (the format of
//! `shared/corpora/README.md`), measured with the engine's own detectors.
//!
//! Rows are read one at a time (plain or gzip), so memory stays flat
//! whatever the file size. Each row's `text` is scanned as one segment with
//! the origin its `kind`/`carrier` implies; it counts as flagged when the
//! detector reports at least one finding whose action is not `allow`.
//!
//! Secret and PII files also get per-rule counts, in two directions: by the
//! corpus's own rule (`rule` of a secrets row; for PII each entity type of a
//! positive row and the `recognizer` of a negative one), which says what the
//! detector misses, and by the detector rule that fired, which says where
//! recall and false positives come from.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use ward_core::corpus::{self, round4, Tally, SLICE_KEYS};
use ward_core::injection::model;
use ward_core::{Direction, Finding, Origin, Segment};

#[derive(clap::Args)]
pub struct Args {
    /// Folder of `*.jsonl` / `*.jsonl.gz` files, or of subfolders named after
    /// detectors (injection, secrets, pii) holding them.
    #[arg(long)]
    corpus: PathBuf,
    /// Detector to run: injection, secrets or pii. Default: the name of the
    /// folder each file sits in.
    #[arg(long)]
    detector: Option<String>,
    /// Policy file; the secure defaults without one.
    #[arg(long)]
    policy: Option<PathBuf>,
    /// Rows to count: all, train, or heldout (the fifth of rows the
    /// injection model was not trained on; see docs/detection.md).
    #[arg(long, default_value = "all")]
    split: String,
    /// Print one JSON object instead of a table.
    #[arg(long)]
    json: bool,
    /// Print up to this many misclassified rows per file (id, label, score
    /// breakdown, start of text) to stderr, for error analysis.
    #[arg(long, default_value_t = 0)]
    errors: usize,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Which {
    Injection,
    Secrets,
    Pii,
}

impl Which {
    fn parse(s: &str) -> Option<Which> {
        match s {
            "injection" => Some(Which::Injection),
            "secrets" => Some(Which::Secrets),
            "pii" => Some(Which::Pii),
            _ => None,
        }
    }

    fn as_str(self) -> &'static str {
        match self {
            Which::Injection => "injection",
            Which::Secrets => "secrets",
            Which::Pii => "pii",
        }
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Split {
    All,
    Train,
    Heldout,
}

/// The engine's detectors, built once from the policy.
struct Detectors {
    injection: ward_core::injection::Detector,
    secrets: ward_core::secrets::Detector,
    pii: ward_core::pii::Detector,
}

impl Detectors {
    fn scan(&self, which: Which, segment: &Segment, direction: Direction, out: &mut Vec<Finding>) {
        match which {
            Which::Injection => self.injection.scan(segment, direction, out),
            Which::Secrets => self.secrets.scan(segment, direction, out),
            Which::Pii => self.pii.scan(segment, direction, out),
        }
    }
}

/// Rows one detector rule fired on (an acting finding), by row label. A row
/// hit by two rules counts for both.
#[derive(Default)]
struct RuleHits {
    true_positives: u64,
    false_positives: u64,
}

/// Per-rule counts of a file (or of all files): `rules` by the corpus's rule
/// or entity type, `detector_rules` by the rule id the detector reported.
#[derive(Default)]
struct RuleReport {
    rules: BTreeMap<String, Tally>,
    detector_rules: BTreeMap<String, RuleHits>,
}

impl RuleReport {
    fn merge(&mut self, o: &RuleReport) {
        for (k, t) in &o.rules {
            self.rules.entry(k.clone()).or_default().merge(t);
        }
        for (k, h) in &o.detector_rules {
            let mine = self.detector_rules.entry(k.clone()).or_default();
            mine.true_positives += h.true_positives;
            mine.false_positives += h.false_positives;
        }
    }

    fn is_empty(&self) -> bool {
        self.rules.is_empty() && self.detector_rules.is_empty()
    }

    fn insert_json(&self, o: &mut serde_json::Map<String, Value>) {
        let rules = self
            .rules
            .iter()
            .map(|(k, t)| {
                let mut v = t.json();
                if let Value::Object(m) = &mut v {
                    m.insert("rule".into(), json!(k));
                }
                v
            })
            .collect();
        o.insert("rules".into(), Value::Array(rules));
        let fired = self.detector_rules.iter().map(|(k, h)| json!({"rule": k, "true_positives": h.true_positives, "false_positives": h.false_positives})).collect();
        o.insert("detector_rules".into(), Value::Array(fired));
    }
}

/// The corpus rules a row belongs to: its `rule` (secrets); each distinct
/// entity type of a positive row, or the `recognizer` whose lookalike a
/// negative row is (PII).
fn corpus_rules(which: Which, row: &Value, label: bool) -> Vec<String> {
    let str_of = |key: &str| row.get(key).and_then(Value::as_str).map(str::to_string);
    match which {
        Which::Injection => Vec::new(),
        Which::Secrets => str_of("rule").into_iter().collect(),
        Which::Pii => {
            let mut types: Vec<String> = row
                .get("entities")
                .and_then(Value::as_array)
                .map(|es| es.iter().filter_map(|e| e.get("type").and_then(Value::as_str).map(str::to_string)).collect())
                .unwrap_or_default();
            types.sort();
            types.dedup();
            if types.is_empty() || !label {
                return str_of("recognizer").into_iter().collect();
            }
            types
        }
    }
}


struct FileReport {
    path: String,
    detector: Which,
    total: Tally,
    /// Slices by metadata key ("kind", "attack_category", ...) then value.
    slices: BTreeMap<&'static str, BTreeMap<String, Tally>>,
    per_rule: RuleReport,
    skipped: u64,
    bytes: u64,
    elapsed: Duration,
}


pub fn run(args: Args) -> Result<ExitCode, String> {
    let forced = match args.detector.as_deref() {
        None => None,
        Some(d) => Some(Which::parse(d).ok_or_else(|| format!("unknown --detector `{d}` (injection, secrets, pii)"))?),
    };
    let split = match args.split.as_str() {
        "all" => Split::All,
        "train" => Split::Train,
        "heldout" => Split::Heldout,
        s => return Err(format!("unknown --split `{s}` (all, train, heldout)")),
    };
    let engine = crate::load_engine(args.policy.as_deref())?;
    let policy = engine.policy();
    let detectors = Detectors {
        injection: ward_core::injection::Detector::new(&policy.injection),
        secrets: ward_core::secrets::Detector::new(&policy.secrets),
        pii: ward_core::pii::Detector::new(&policy.pii),
    };
    let files = discover(&args.corpus)?;
    if files.is_empty() {
        return Err(format!("{}: no *.jsonl or *.jsonl.gz files", args.corpus.display()));
    }
    let mut reports = Vec::new();
    for path in files {
        let folder = path.parent().and_then(|p| p.file_name()).map(|n| n.to_string_lossy().to_string()).unwrap_or_default();
        let Some(which) = forced.or_else(|| Which::parse(&folder)) else {
            eprintln!("ward: skipping {}: cannot tell its detector from folder `{folder}` (use --detector)", path.display());
            continue;
        };
        reports.push(eval_file(&path, &args.corpus, which, split, &detectors, args.errors)?);
    }
    let mut overall = Tally::default();
    let mut overall_rules = RuleReport::default();
    let (mut bytes, mut elapsed) = (0u64, Duration::ZERO);
    for r in &reports {
        overall.merge(&r.total);
        overall_rules.merge(&r.per_rule);
        bytes += r.bytes;
        elapsed += r.elapsed;
    }
    let ns_per_byte = if bytes > 0 { elapsed.as_nanos() as f64 / bytes as f64 } else { 0.0 };
    if args.json {
        let files: Vec<Value> = reports.iter().map(file_json).collect();
        let mut overall_json = overall.json();
        if let Value::Object(o) = &mut overall_json {
            if !overall_rules.is_empty() {
                overall_rules.insert_json(o);
            }
        }
        let out = json!({"files": files, "overall": overall_json, "ns_per_byte": round4(ns_per_byte), "split": args.split});
        println!("{}", serde_json::to_string_pretty(&out).map_err(|e| e.to_string())?);
    } else {
        print_table(&reports, &overall, ns_per_byte);
    }
    Ok(ExitCode::SUCCESS)
}

/// `*.jsonl` and `*.jsonl.gz` directly in `dir` and one level below, sorted.
fn discover(dir: &Path) -> Result<Vec<PathBuf>, String> {
    let mut out = Vec::new();
    let entries = std::fs::read_dir(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    for entry in entries.flatten() {
        let p = entry.path();
        if p.is_dir() {
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

/// Where a row's text would arrive: injection rows as
/// [`ward_core::corpus::injection_origin`] says (shared with `ward-host
/// eval`, which sends the same rows through the filter module). Secret and
/// PII rows are scanned as model output in a response, where a leak is
/// caught.
fn origin_of(which: Which, row: &Value) -> (Origin, Direction) {
    if which != Which::Injection {
        return (Origin::Assistant, Direction::Response);
    }
    (ward_core::corpus::injection_origin(row), Direction::Request)
}

fn eval_file(path: &Path, root: &Path, which: Which, split: Split, detectors: &Detectors, max_errors: usize) -> Result<FileReport, String> {
    let file = std::fs::File::open(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let gz = path.to_string_lossy().ends_with(".gz");
    let reader: Box<dyn BufRead> = if gz { Box::new(BufReader::new(flate2::read::GzDecoder::new(file))) } else { Box::new(BufReader::new(file)) };
    let stem = file_stem(path);
    let shown = path.strip_prefix(root).unwrap_or(path).display().to_string();
    let mut report = FileReport {
        path: shown,
        detector: which,
        total: Tally::default(),
        slices: BTreeMap::new(),
        per_rule: RuleReport::default(),
        skipped: 0,
        bytes: 0,
        elapsed: Duration::ZERO,
    };
    let mut findings = Vec::new();
    let mut errors_shown = 0usize;
    for (n, line) in reader.lines().enumerate() {
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
        let (origin, direction) = origin_of(which, &row);
        let segment = Segment::new(text, origin, "/text");
        findings.clear();
        let started = Instant::now();
        detectors.scan(which, &segment, direction, &mut findings);
        report.elapsed += started.elapsed();
        report.bytes += text.len() as u64;
        let flagged = findings.iter().any(|f| f.action != ward_core::Action::Allow);
        report.total.add(label, flagged);
        if label != flagged && errors_shown < max_errors && which == Which::Injection {
            errors_shown += 1;
            let a = detectors.injection.assess(text, origin);
            let id = row.get("id").and_then(Value::as_str).unwrap_or("");
            let start: String = text.chars().take(300).collect::<String>().replace('\n', " / ");
            let hits: Vec<String> = detectors.injection.explain(text, origin).into_iter().map(|(_, w, p)| format!("{p:?}={w}")).collect();
            eprintln!("{} {id} label={} score={:.2} lex={:.2} model={:.2} {:?} [{}]: {start}", report.path, u8::from(label), a.score, a.lexicon, a.model, a.family, hits.join(" "));
        }
        if which != Which::Injection {
            for rule in corpus_rules(which, &row, label) {
                report.per_rule.rules.entry(rule).or_default().add(label, flagged);
            }
            let mut fired: Vec<&str> = findings.iter().filter(|f| f.action != ward_core::Action::Allow).map(|f| f.rule.as_str()).collect();
            fired.sort_unstable();
            fired.dedup();
            for rule in &fired {
                let hits = report.per_rule.detector_rules.entry(rule.to_string()).or_default();
                if label {
                    hits.true_positives += 1;
                } else {
                    hits.false_positives += 1;
                }
            }
            if label != flagged && errors_shown < max_errors {
                errors_shown += 1;
                let id = row.get("id").and_then(Value::as_str).unwrap_or("");
                let start: String = text.chars().take(200).collect::<String>().replace('\n', " / ");
                eprintln!("{} {id} label={} rules={:?} fired={:?}: {start}", report.path, u8::from(label), corpus_rules(which, &row, label), fired);
            }
        }
        for key in SLICE_KEYS {
            if let Some(v) = row.get(key).and_then(Value::as_str) {
                report.slices.entry(key).or_default().entry(v.to_string()).or_default().add(label, flagged);
            }
        }
    }
    Ok(report)
}

fn file_json(r: &FileReport) -> Value {
    let mut v = r.total.json();
    if let Value::Object(o) = &mut v {
        o.insert("path".into(), json!(r.path));
        o.insert("detector".into(), json!(r.detector.as_str()));
        if r.skipped > 0 {
            o.insert("rows_outside_split".into(), json!(r.skipped));
        }
        let bytes = r.bytes.max(1) as f64;
        o.insert("ns_per_byte".into(), json!(round4(r.elapsed.as_nanos() as f64 / bytes)));
        for (key, values) in &r.slices {
            let by: serde_json::Map<String, Value> = values.iter().map(|(k, t)| (k.clone(), t.json())).collect();
            o.insert(format!("by_{key}"), Value::Object(by));
        }
        if r.detector != Which::Injection {
            r.per_rule.insert_json(o);
        }
    }
    v
}

fn pct(x: Option<f64>) -> String {
    x.map(|x| format!("{:6.2}%", x * 100.0)).unwrap_or_else(|| "      -".into())
}

fn print_table(reports: &[FileReport], overall: &Tally, ns_per_byte: f64) {
    println!("{:<44} {:<9} {:>7} {:>7} {:>8} {:>8}", "file", "detector", "pos", "neg", "recall", "fpr");
    for r in reports {
        let t = &r.total;
        println!("{:<44} {:<9} {:>7} {:>7} {:>8} {:>8}", r.path, r.detector.as_str(), t.positives, t.negatives, pct(t.recall()), pct(t.fpr()));
        if let Some(kinds) = r.slices.get("kind") {
            if kinds.len() > 1 {
                for (k, t) in kinds {
                    println!("  {:<42} {:<9} {:>7} {:>7} {:>8} {:>8}", format!("kind={k}"), "", t.positives, t.negatives, pct(t.recall()), pct(t.fpr()));
                }
            }
        }
    }
    println!("{:<44} {:<9} {:>7} {:>7} {:>8} {:>8}", "overall (pooled)", "", overall.positives, overall.negatives, pct(overall.recall()), pct(overall.fpr()));
    print_rules(reports);
    println!("scan time: {ns_per_byte:.2} ns/byte");
}

/// Per-rule lines of the table: the corpus rules with a miss or a false
/// positive (the complete list is in `--json`), then the detector rules that
/// fired, by rows hit.
fn print_rules(reports: &[FileReport]) {
    for r in reports.iter().filter(|r| !r.per_rule.is_empty()) {
        let imperfect: Vec<_> = r.per_rule.rules.iter().filter(|(_, t)| t.true_positives < t.positives || t.false_positives > 0).collect();
        println!();
        println!("{}: {} corpus rules, {} with a miss or a false positive", r.path, r.per_rule.rules.len(), imperfect.len());
        println!("  {:<50} {:>7} {:>7} {:>7} {:>7}", "corpus rule", "pos", "found", "neg", "fp");
        for (rule, t) in imperfect {
            println!("  {:<50} {:>7} {:>7} {:>7} {:>7}", rule, t.positives, t.true_positives, t.negatives, t.false_positives);
        }
        let mut fired: Vec<_> = r.per_rule.detector_rules.iter().collect();
        fired.sort_by_key(|(rule, h)| (std::cmp::Reverse(h.true_positives + h.false_positives), *rule));
        println!("  {:<50} {:>7} {:>7}", "detector rule", "tp rows", "fp rows");
        for (rule, h) in fired {
            println!("  {:<50} {:>7} {:>7}", rule, h.true_positives, h.false_positives);
        }
    }
}
