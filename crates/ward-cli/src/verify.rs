//! `ward verify DIR|FILE`: checks every chain of a trail and prints `OK`
//! with counts, or each broken file's first broken link as FILE:LINE and
//! why. The exit status says which kind of break came first (docs/audit.md).

use std::fs::File;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use serde_json::{json, Value};
use ward_core::trail::{Break, BreakKind, Head, Outcome, Verifier};
use ward_core::AuditEvent;

use crate::collect::{chain_file_name, read_heads, CHAINS_DIR, GAPS_FILE};

#[derive(clap::Args)]
pub struct Args {
    /// A collector's output directory, or one trail file (JSON lines).
    path: PathBuf,
    /// Print the result as JSON.
    #[arg(long)]
    json: bool,
}

/// Exit status for a trail whose first break is of `kind`. 2 stays what it
/// is for every `ward` command: the command itself could not run.
pub fn exit_code(kind: BreakKind) -> u8 {
    match kind {
        BreakKind::Edited => 1,
        BreakKind::Missing => 3,
        BreakKind::Reordered => 4,
        BreakKind::Truncated => 5,
    }
}

pub fn run(args: Args) -> Result<ExitCode, String> {
    let check = check(&args.path)?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&check.to_json()).expect("serialises"));
    } else {
        print!("{}", check.to_text());
    }
    Ok(match check.first_break() {
        None => ExitCode::SUCCESS,
        Some((_, brk)) => ExitCode::from(exit_code(brk.kind)),
    })
}

/// One file of a trail, verified.
pub struct FileCheck {
    pub path: PathBuf,
    pub outcome: Outcome,
}

/// A whole trail, verified.
pub struct TrailCheck {
    pub root: PathBuf,
    pub files: Vec<FileCheck>,
    /// The collector's ingest records (gaps.jsonl), with their line numbers.
    pub records: Vec<(usize, Value)>,
}

impl TrailCheck {
    pub fn first_break(&self) -> Option<(&Path, &Break)> {
        self.files.iter().find_map(|f| f.outcome.broken.as_ref().map(|b| (f.path.as_path(), b)))
    }

    pub fn events(&self) -> u64 {
        self.files.iter().map(|f| f.outcome.events()).sum()
    }

    pub fn chains(&self) -> usize {
        self.files.iter().map(|f| f.outcome.chains.len()).sum()
    }

    pub fn dropped(&self) -> u64 {
        self.files.iter().map(|f| f.outcome.dropped()).sum()
    }

    /// Collector records of events that never arrived or did not fit.
    pub fn gaps_recorded(&self) -> usize {
        self.records.iter().filter(|(_, r)| r["kind"] != "dropped").count()
    }

    /// The gaps.jsonl line recording this break at ingest, if any.
    fn recorded_at(&self, brk: &Break) -> Option<usize> {
        let seq = brk.seq?;
        self.records.iter().find_map(|(line, r)| (r["chain"] == brk.chain.as_str() && r["seq"] == seq).then_some(*line))
    }

    pub fn to_text(&self) -> String {
        let mut out = String::new();
        let losses = format!("{} dropped by the filter, {} gap(s) recorded by the collector", self.dropped(), self.gaps_recorded());
        match self.first_break() {
            None => out.push_str(&format!("OK {} chain(s), {} event(s), {losses}\n", self.chains(), self.events())),
            Some(_) => {
                let broken = self.files.iter().filter(|f| f.outcome.broken.is_some()).count();
                out.push_str(&format!("BROKEN {broken} of {} file(s); {} chain(s), {} event(s) verified before the breaks, {losses}\n", self.files.len(), self.chains(), self.events()));
            }
        }
        for f in &self.files {
            if let Some(b) = &f.outcome.broken {
                let chain = if b.chain.is_empty() { String::new() } else { format!(" chain {}", b.chain) };
                out.push_str(&format!("{}:{}: {}:{chain}: {}\n", f.path.display(), b.line, b.kind.as_str(), b.reason));
                if let Some(line) = self.recorded_at(b) {
                    out.push_str(&format!("  (the collector recorded this at ingest: {}:{line})\n", self.root.join(GAPS_FILE).display()));
                }
            }
            for c in &f.outcome.chains {
                out.push_str(&format!("  {}: chain {} events {} last seq {} last hash {}", f.path.display(), c.chain, c.events, c.last_seq, c.last_hash));
                if c.dropped > 0 {
                    out.push_str(&format!(" DROPPED {}", c.dropped));
                }
                out.push('\n');
            }
        }
        if self.dropped() > 0 {
            out.push_str(&format!("WARNING: the filter dropped {} event(s) before delivery (queue overflow); the events after each loss carry the count in `dropped`\n", self.dropped()));
        }
        out
    }

    pub fn to_json(&self) -> Value {
        let breaks: Vec<Value> = self
            .files
            .iter()
            .filter_map(|f| {
                let b = f.outcome.broken.as_ref()?;
                Some(json!({"file": f.path.display().to_string(), "line": b.line, "kind": b.kind, "chain": b.chain, "seq": b.seq, "reason": b.reason, "recorded_at_ingest": self.recorded_at(b).is_some()}))
            })
            .collect();
        let chains: Vec<Value> = self
            .files
            .iter()
            .flat_map(|f| f.outcome.chains.iter().map(move |c| json!({"file": f.path.display().to_string(), "chain": c.chain, "events": c.events, "last_seq": c.last_seq, "last_hash": c.last_hash, "dropped": c.dropped})))
            .collect();
        json!({
            "status": if breaks.is_empty() { "ok" } else { "broken" },
            "path": self.root.display().to_string(),
            "events": self.events(),
            "dropped": self.dropped(),
            "gaps_recorded": self.gaps_recorded(),
            "chains": chains,
            "breaks": breaks,
        })
    }
}

/// The files of a trail and the directory holding the collector's records.
fn locate(path: &Path) -> Result<(Vec<PathBuf>, PathBuf, bool), String> {
    let meta = std::fs::metadata(path).map_err(|e| format!("{}: {e}", path.display()))?;
    if meta.is_file() {
        let parent = path.parent().unwrap_or(Path::new("."));
        let root = if parent.file_name().is_some_and(|n| n == CHAINS_DIR) { parent.parent().unwrap_or(parent) } else { parent };
        return Ok((vec![path.to_path_buf()], root.to_path_buf(), false));
    }
    let chains = path.join(CHAINS_DIR);
    let dir = if chains.is_dir() { chains } else { path.to_path_buf() };
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .map_err(|e| format!("{}: {e}", dir.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "jsonl") && p.file_name().is_some_and(|n| n != GAPS_FILE))
        .collect();
    files.sort();
    Ok((files, path.to_path_buf(), true))
}

/// The files of the trail at `path`, in the order `ward verify` reads them.
pub fn trail_files(path: &Path) -> Result<Vec<PathBuf>, String> {
    locate(path).map(|(files, _, _)| files)
}

pub fn check(path: &Path) -> Result<TrailCheck, String> {
    let (paths, root, whole_dir) = locate(path)?;
    let heads = read_heads(&root).map_err(|e| format!("{}: {e}", root.display()))?;
    let mut files = Vec::new();
    for p in &paths {
        files.push(FileCheck { path: p.clone(), outcome: check_file(p, &heads)? });
    }
    if whole_dir {
        // A chain the collector acknowledged must still have its file.
        for head in &heads {
            if !files.iter().any(|f| f.outcome.chains.iter().any(|c| c.chain == head.chain)) {
                let expected = root.join(CHAINS_DIR).join(chain_file_name(&head.chain));
                if paths.contains(&expected) {
                    continue; // Present but unreadable: already reported.
                }
                let reason = format!("the collector acknowledged events up to seq {} but the chain's file is gone", head.seq);
                let brk = Break { line: 1, kind: BreakKind::Truncated, chain: head.chain.clone(), seq: Some(0), reason };
                files.push(FileCheck { path: expected, outcome: Outcome { chains: Vec::new(), broken: Some(brk) } });
            }
        }
    }
    let records = read_records(&root.join(GAPS_FILE))?;
    Ok(TrailCheck { root, files, records })
}

fn check_file(path: &Path, heads: &[Head]) -> Result<Outcome, String> {
    let mut verifier = Verifier::new(heads.iter().cloned());
    let mut ends_with_newline = true;
    let mut n = 0;
    each_line(path, |line, text, newline| {
        n = line;
        ends_with_newline = newline;
        verifier.push(line, text);
    })?;
    Ok(verifier.finish(ends_with_newline || n == 0))
}

/// Calls `f(line_number, text, ended_with_newline)` for each line.
fn each_line(path: &Path, mut f: impl FnMut(usize, &str, bool)) -> Result<(), String> {
    let file = File::open(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let mut reader = BufReader::new(file);
    let mut buf = Vec::new();
    let mut line = 0;
    loop {
        buf.clear();
        let n = reader.read_until(b'\n', &mut buf).map_err(|e| format!("{}: {e}", path.display()))?;
        if n == 0 {
            return Ok(());
        }
        line += 1;
        let newline = buf.last() == Some(&b'\n');
        if newline {
            buf.pop();
        }
        f(line, &String::from_utf8_lossy(&buf), newline);
    }
}

fn read_records(path: &Path) -> Result<Vec<(usize, Value)>, String> {
    if !path.exists() {
        return Ok(Vec::new());
    }
    let mut out = Vec::new();
    each_line(path, |line, text, _| {
        if let Ok(v) = serde_json::from_str::<Value>(text) {
            out.push((line, v));
        }
    })?;
    Ok(out)
}

/// Calls `f` with every readable event of the trail at `path`, file by
/// file in line order. Lines that are not events are skipped: `ward
/// verify` is what reports them.
pub fn for_each_event(path: &Path, mut f: impl FnMut(&AuditEvent)) -> Result<(), String> {
    for p in trail_files(path)? {
        each_line(&p, |_, text, _| {
            if let Ok(e) = serde_json::from_str::<AuditEvent>(text) {
                f(&e);
            }
        })?;
    }
    Ok(())
}
