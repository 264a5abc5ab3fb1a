//! `ward collect`: receives sealed audit events over HTTP and appends them
//! durably, one file per chain, answering 200 only once they are on disk.
//!
//! Layout of the output directory (docs/audit.md):
//! - `chains/<chain>.jsonl`: the events of one chain, exactly as sealed;
//! - `gaps.jsonl`: what the collector noticed on ingest (missing events,
//!   broken links, conflicting duplicates, repaired torn writes, drops the
//!   filter reported), never mixed into the chain files;
//! - `heads.json`: the last event acknowledged per chain, which lets
//!   `ward verify` notice events cut from the end of a chain.

use std::collections::{BTreeMap, HashMap};
use std::fs::{self, File, OpenOptions};
use std::io::{self, BufRead, BufReader, Read, Seek, SeekFrom, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use ward_core::audit::line_hash;
use ward_core::trail::{ChainTip, Head, Link};
use ward_core::AuditEvent;

mod http;

pub const CHAINS_DIR: &str = "chains";
pub const GAPS_FILE: &str = "gaps.jsonl";
pub const HEADS_FILE: &str = "heads.json";

/// Longest event line accepted; a sealed event is far smaller.
const MAX_EVENT_BYTES: usize = 1 << 20;
const MAX_BATCH_EVENTS: usize = 10_000;
/// Longest chain file name (the escaped chain id), within every file
/// system's name limit.
const MAX_FILE_NAME: usize = 200;
/// Recently stored hashes kept per chain, to acknowledge a retried batch
/// without reading the file back: more than one whole batch.
const RECENT: usize = 2 * MAX_BATCH_EVENTS;
const MAX_CONNECTIONS: usize = 64;
/// Bytes read back from a chain's end on start-up: more than one event.
const TAIL_BYTES: u64 = 4 * MAX_EVENT_BYTES as u64;

#[derive(clap::Args)]
pub struct Args {
    /// Address to listen on, e.g. 127.0.0.1:9901 (port 0 picks a free one;
    /// the bound address is printed on stdout).
    #[arg(long)]
    listen: String,
    /// Directory for the trail (created if absent).
    #[arg(long)]
    out: PathBuf,
    /// Stop after this many seconds (for tests and scripted runs).
    #[arg(long)]
    max_seconds: Option<u64>,
    /// Largest request body accepted, in bytes.
    #[arg(long, default_value_t = 16 << 20)]
    max_body: usize,
}

pub fn run(args: Args) -> Result<ExitCode, String> {
    let (store, repaired) = Store::open(&args.out).map_err(|e| format!("{}: {e}", args.out.display()))?;
    let chains = store.chains.len();
    let store = Arc::new(Mutex::new(store));
    let listener = TcpListener::bind(&args.listen).map_err(|e| format!("--listen {}: {e}", args.listen))?;
    let addr = listener.local_addr().map_err(|e| e.to_string())?;
    println!("listening {addr}");
    io::stdout().flush().map_err(|e| e.to_string())?;
    eprintln!("ward collect: writing {} ({chains} chain(s) resumed, {repaired} torn tail(s) repaired)", args.out.display());
    if let Some(secs) = args.max_seconds {
        let store = Arc::clone(&store);
        std::thread::spawn(move || {
            std::thread::sleep(Duration::from_secs(secs));
            // Holding the lock: no batch is half-written when we leave.
            let _held = store.lock();
            eprintln!("ward collect: --max-seconds reached, stopping");
            std::process::exit(0);
        });
    }
    let limits = Arc::new(http::Limits { max_head: 16 << 10, max_headers: 100, max_body: args.max_body });
    let open = Arc::new(AtomicUsize::new(0));
    for stream in listener.incoming() {
        let Ok(mut stream) = stream else { continue };
        if open.fetch_add(1, Ordering::SeqCst) >= MAX_CONNECTIONS {
            open.fetch_sub(1, Ordering::SeqCst);
            let _ = http::write_response(&mut stream, 503, &error_body("too many connections"), true);
            continue;
        }
        let (store, limits, open) = (Arc::clone(&store), Arc::clone(&limits), Arc::clone(&open));
        std::thread::spawn(move || {
            serve(stream, &store, &limits);
            open.fetch_sub(1, Ordering::SeqCst);
        });
    }
    Ok(ExitCode::SUCCESS)
}

fn error_body(why: &str) -> String {
    json!({ "error": why }).to_string()
}

fn serve(stream: TcpStream, store: &Mutex<Store>, limits: &http::Limits) {
    let timeout = Some(Duration::from_secs(30));
    if stream.set_read_timeout(timeout).and(stream.set_write_timeout(timeout)).is_err() {
        return;
    }
    let Ok(read_half) = stream.try_clone() else { return };
    let mut reader = BufReader::new(read_half);
    let mut writer = stream;
    loop {
        match http::read_request(&mut reader, &mut writer, limits) {
            Ok(req) => {
                let (status, body) = route(&req, store);
                if http::write_response(&mut writer, status, &body, req.close).is_err() || req.close {
                    return;
                }
            }
            Err(http::Error::Refused(status, why)) => {
                let _ = http::write_response(&mut writer, status, &error_body(&why), true);
                return;
            }
            Err(http::Error::Closed | http::Error::Io) => return,
        }
    }
}

fn route(req: &http::Request, store: &Mutex<Store>) -> (u16, String) {
    let path = req.target.split('?').next().unwrap_or("");
    match (req.method.as_str(), path) {
        ("POST", "/v1/events") => {}
        ("GET", "/healthz") => return (200, json!({"ok": true}).to_string()),
        (_, "/v1/events") => return (405, error_body("use POST")),
        _ => return (404, error_body("not found")),
    }
    let batch = match parse_batch(&req.body) {
        Ok(b) => b,
        Err(why) => return (400, error_body(&why)),
    };
    let Ok(mut store) = store.lock() else {
        return (500, error_body("collector state poisoned"));
    };
    match store.ingest(&batch, now_ms()) {
        Ok(r) => (200, serde_json::to_string(&r).unwrap_or_default()),
        Err(e) => {
            eprintln!("ward collect: write failed: {e}");
            (500, error_body(&format!("write failed: {e}")))
        }
    }
}

fn now_ms() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_millis() as u64).unwrap_or(0)
}

/// One event of a batch: parsed, and its line exactly as sealed.
#[derive(Debug)]
pub struct Incoming {
    event: AuditEvent,
    line: String,
}

/// Checks a whole batch before anything is written: every line must be a
/// sealed event whose content matches its hash. One bad line refuses the
/// batch, so a batch is stored whole or not at all.
pub fn parse_batch(body: &[u8]) -> Result<Vec<Incoming>, String> {
    let text = std::str::from_utf8(body).map_err(|_| "body is not UTF-8".to_string())?;
    let mut out = Vec::new();
    for (i, raw) in text.split('\n').enumerate() {
        let line = raw.trim();
        if line.is_empty() {
            continue;
        }
        let n = i + 1;
        if out.len() == MAX_BATCH_EVENTS {
            return Err(format!("more than {MAX_BATCH_EVENTS} events in one batch"));
        }
        if line.len() > MAX_EVENT_BYTES {
            return Err(format!("line {n}: event over {MAX_EVENT_BYTES} bytes"));
        }
        let value: Value = serde_json::from_str(line).map_err(|e| format!("line {n}: not JSON: {e}"))?;
        let event = AuditEvent::deserialize(&value).map_err(|e| format!("line {n}: not an audit event: {e}"))?;
        if line_hash(&value) != event.hash {
            return Err(format!("line {n}: content does not match its hash"));
        }
        if event.chain.is_empty() {
            return Err(format!("line {n}: event has no chain id"));
        }
        if chain_file_name(&event.chain).len() > MAX_FILE_NAME {
            return Err(format!("line {n}: chain id too long"));
        }
        out.push(Incoming { event, line: line.to_string() });
    }
    Ok(out)
}

/// The file name of a chain: its id with every byte outside
/// `[A-Za-z0-9_.-]` (and a leading dot) written as `%XX`, so any id maps to
/// one safe name and back.
pub fn chain_file_name(chain: &str) -> String {
    let mut name = String::with_capacity(chain.len() + 6);
    for (i, b) in chain.bytes().enumerate() {
        if b.is_ascii_alphanumeric() || b == b'_' || b == b'-' || (b == b'.' && i > 0) {
            name.push(b as char);
        } else {
            name.push_str(&format!("%{b:02X}"));
        }
    }
    name.push_str(".jsonl");
    name
}

/// What one batch did, as the collector answers it.
#[derive(Debug, Default, Serialize)]
pub struct Ingested {
    pub stored: u64,
    /// Already stored (a retried batch): acknowledged, not written twice.
    pub duplicates: u64,
    /// Gaps and broken links recorded in gaps.jsonl.
    pub gaps: u64,
    /// Events claiming a sequence number already taken by another event:
    /// kept in gaps.jsonl, not in the chain.
    pub conflicts: u64,
}

struct ChainLog {
    file: File,
    tip: ChainTip,
    recent: BTreeMap<u64, String>,
    path: PathBuf,
    /// Lines decided but not yet written.
    pending: String,
}

pub struct Store {
    dir: PathBuf,
    chains: HashMap<String, ChainLog>,
    gaps: File,
    heads: BTreeMap<String, Head>,
}

#[derive(Serialize, Deserialize)]
pub struct HeadsFile {
    pub heads: Vec<Head>,
}

impl Store {
    /// Opens (or creates) a trail directory and resumes every chain from
    /// its file's end. Returns the store and how many torn tails it cut.
    pub fn open(dir: &Path) -> io::Result<(Store, usize)> {
        fs::create_dir_all(dir.join(CHAINS_DIR))?;
        let gaps = OpenOptions::new().create(true).append(true).open(dir.join(GAPS_FILE))?;
        let heads = read_heads(dir)?.into_iter().map(|h| (h.chain.clone(), h)).collect();
        let mut store = Store { dir: dir.to_path_buf(), chains: HashMap::new(), gaps, heads };
        let mut records = Vec::new();
        let mut paths: Vec<PathBuf> = fs::read_dir(dir.join(CHAINS_DIR))?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|x| x == "jsonl"))
            .collect();
        paths.sort();
        for path in paths {
            let (log, chain, torn) = ChainLog::resume(&path)?;
            if let Some(torn) = torn {
                records.push(json!({"kind": "torn_tail", "time_ms": now_ms(), "chain": chain, "file": rel(dir, &path), "removed_bytes": torn.len(), "removed": String::from_utf8_lossy(&torn[..torn.len().min(4096)])}));
            }
            if let Some(chain) = chain {
                store.chains.insert(chain, log);
            }
        }
        let repaired = records.len();
        store.record(&records)?;
        Ok((store, repaired))
    }

    fn record(&mut self, records: &[Value]) -> io::Result<()> {
        if records.is_empty() {
            return Ok(());
        }
        let mut text = String::new();
        for r in records {
            text.push_str(&r.to_string());
            text.push('\n');
        }
        self.gaps.write_all(text.as_bytes())?;
        self.gaps.sync_data()
    }

    fn log(&mut self, chain: &str) -> io::Result<&mut ChainLog> {
        if !self.chains.contains_key(chain) {
            let path = self.dir.join(CHAINS_DIR).join(chain_file_name(chain));
            let log = if path.exists() {
                let (log, _, torn) = ChainLog::resume(&path)?;
                if let Some(torn) = torn {
                    let record = json!({"kind": "torn_tail", "time_ms": now_ms(), "chain": chain, "file": rel(&self.dir, &path), "removed_bytes": torn.len(), "removed": String::from_utf8_lossy(&torn[..torn.len().min(4096)])});
                    self.record(&[record])?;
                }
                log
            } else {
                let file = OpenOptions::new().create(true).append(true).open(&path)?;
                // The new name must survive a crash too.
                File::open(self.dir.join(CHAINS_DIR))?.sync_all()?;
                ChainLog { file, tip: ChainTip::default(), recent: BTreeMap::new(), path, pending: String::new() }
            };
            self.chains.insert(chain.to_string(), log);
        }
        Ok(self.chains.get_mut(chain).expect("inserted above"))
    }

    /// Stores a batch: appends what continues each chain, records what does
    /// not, syncs every file touched, then updates the heads. An error
    /// leaves nothing acknowledged and drops in-memory state, so the next
    /// batch resumes from what is really on disk.
    pub fn ingest(&mut self, batch: &[Incoming], now_ms: u64) -> io::Result<Ingested> {
        let result = self.ingest_inner(batch, now_ms);
        if result.is_err() {
            self.chains.clear();
        }
        result
    }

    fn ingest_inner(&mut self, batch: &[Incoming], now_ms: u64) -> io::Result<Ingested> {
        let mut done = Ingested::default();
        let mut records = Vec::new();
        let mut touched = Vec::new();
        for Incoming { event: e, line } in batch {
            let log = self.log(&e.chain)?;
            let chain = e.chain.as_str();
            match log.tip.link(e.seq, &e.prev) {
                Link::Continues => {}
                Link::Forks => {
                    records.push(json!({"kind": "broken_link", "time_ms": now_ms, "chain": chain, "seq": e.seq, "expected_prev": log.tip.last_hash, "prev": e.prev}));
                    done.gaps += 1;
                }
                Link::Skips { missing } => {
                    records.push(json!({"kind": "missing", "time_ms": now_ms, "chain": chain, "expected_seq": log.tip.next_seq, "seq": e.seq, "missing": missing}));
                    done.gaps += 1;
                }
                Link::GoesBack => {
                    match log.stored_hash(e.seq)? {
                        Some(h) if h == e.hash => done.duplicates += 1,
                        stored => {
                            let event: Value = serde_json::from_str(line).unwrap_or(Value::Null);
                            records.push(json!({"kind": "conflict", "time_ms": now_ms, "chain": chain, "seq": e.seq, "stored_hash": stored, "event": event}));
                            done.conflicts += 1;
                        }
                    }
                    continue;
                }
            }
            if e.dropped > 0 {
                records.push(json!({"kind": "dropped", "time_ms": now_ms, "chain": chain, "seq": e.seq, "dropped": e.dropped}));
            }
            log.pending.push_str(line);
            log.pending.push('\n');
            log.tip.advance(e.seq, &e.hash);
            log.recent.insert(e.seq, e.hash.clone());
            if log.recent.len() > RECENT {
                log.recent.pop_first();
            }
            done.stored += 1;
            if !touched.iter().any(|c| c == chain) {
                touched.push(chain.to_string());
            }
        }
        for chain in &touched {
            let log = self.chains.get_mut(chain).expect("touched chains are open");
            log.file.write_all(log.pending.as_bytes())?;
            log.file.sync_data()?;
            log.pending.clear();
        }
        for r in &records {
            eprintln!("ward collect: {r}");
        }
        self.record(&records)?;
        if !touched.is_empty() {
            for chain in touched {
                let tip = &self.chains[&chain].tip;
                let seq = tip.last_seq().unwrap_or(0);
                self.heads.insert(chain.clone(), Head { chain, seq, hash: tip.last_hash.clone() });
            }
            self.write_heads()?;
        }
        Ok(done)
    }

    /// Replaces heads.json atomically: a crash leaves the old or the new one.
    fn write_heads(&self) -> io::Result<()> {
        let file = HeadsFile { heads: self.heads.values().cloned().collect() };
        let tmp = self.dir.join(format!("{HEADS_FILE}.tmp"));
        let mut f = File::create(&tmp)?;
        f.write_all(serde_json::to_string_pretty(&file).unwrap_or_default().as_bytes())?;
        f.sync_all()?;
        fs::rename(&tmp, self.dir.join(HEADS_FILE))?;
        File::open(&self.dir)?.sync_all()
    }
}

/// The heads a collector acknowledged in `dir`, none if it kept no record.
pub fn read_heads(dir: &Path) -> io::Result<Vec<Head>> {
    match fs::read(dir.join(HEADS_FILE)) {
        Ok(bytes) => serde_json::from_slice::<HeadsFile>(&bytes)
            .map(|h| h.heads)
            .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, format!("{HEADS_FILE}: {e}"))),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(Vec::new()),
        Err(e) => Err(e),
    }
}

fn rel(dir: &Path, path: &Path) -> String {
    path.strip_prefix(dir).unwrap_or(path).display().to_string()
}

impl ChainLog {
    /// Opens a chain file for appending and finds its tip. A torn tail (an
    /// unfinished last line: never acknowledged, since acknowledged lines
    /// end in a newline that was synced) is cut off and returned.
    fn resume(path: &Path) -> io::Result<(ChainLog, Option<String>, Option<Vec<u8>>)> {
        let mut file = OpenOptions::new().read(true).append(true).open(path)?;
        let len = file.metadata()?.len();
        let start = len.saturating_sub(TAIL_BYTES);
        file.seek(SeekFrom::Start(start))?;
        let mut tail = Vec::new();
        file.read_to_end(&mut tail)?;
        let whole = tail.iter().rposition(|&b| b == b'\n').map_or(0, |i| i + 1);
        let torn = (whole < tail.len()).then(|| tail[whole..].to_vec());
        if torn.is_some() {
            file.set_len(start + whole as u64)?;
            file.sync_all()?;
        }
        let last = tail[..whole].split(|&b| b == b'\n').rfind(|l| !l.is_empty());
        let event = last.and_then(|l| serde_json::from_slice::<AuditEvent>(l).ok());
        let (tip, chain) = match event {
            Some(e) => (ChainTip { next_seq: e.seq.saturating_add(1), last_hash: e.hash }, Some(e.chain)),
            // Unreadable end: recover the id from the first readable line
            // and let ingest record the discontinuity that follows.
            None => (ChainTip::default(), first_chain(path)?),
        };
        let log = ChainLog { file, tip, recent: BTreeMap::new(), path: path.to_path_buf(), pending: String::new() };
        Ok((log, chain, torn))
    }

    /// The hash stored at `seq`, from memory or, for an old one, the file.
    fn stored_hash(&self, seq: u64) -> io::Result<Option<String>> {
        if let Some(h) = self.recent.get(&seq) {
            return Ok(Some(h.clone()));
        }
        #[derive(Deserialize)]
        struct Key {
            seq: u64,
            hash: String,
        }
        for line in BufReader::new(File::open(&self.path)?).split(b'\n') {
            if let Ok(k) = serde_json::from_slice::<Key>(&line?) {
                if k.seq == seq {
                    return Ok(Some(k.hash));
                }
            }
        }
        Ok(None)
    }
}

fn first_chain(path: &Path) -> io::Result<Option<String>> {
    #[derive(Deserialize)]
    struct Key {
        chain: String,
    }
    for line in BufReader::new(File::open(path)?).split(b'\n') {
        if let Ok(k) = serde_json::from_slice::<Key>(&line?) {
            return Ok(Some(k.chain));
        }
    }
    Ok(None)
}

#[cfg(test)]
mod tests {
    use super::*;
    use ward_core::AuditChain;

    fn sealed(chain: &mut AuditChain, n: usize) -> Vec<String> {
        (0..n).map(|i| chain.seal(AuditEvent { request_id: format!("r{i}"), ..AuditEvent::default() }).to_json_line()).collect()
    }

    fn batch(lines: &[String]) -> Vec<Incoming> {
        parse_batch(lines.join("\n").as_bytes()).unwrap()
    }

    fn tmp(name: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("ward-collect-{name}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&d);
        d
    }

    #[test]
    fn file_names_are_safe_and_distinct() {
        assert_eq!(chain_file_name("vm-1.w0"), "vm-1.w0.jsonl");
        assert_eq!(chain_file_name("../x"), "%2E.%2Fx.jsonl");
        assert_eq!(chain_file_name("a/b"), "a%2Fb.jsonl");
        assert_ne!(chain_file_name("a%2Fb"), chain_file_name("a/b"));
    }

    #[test]
    fn a_batch_with_one_bad_line_is_refused_whole() {
        let mut c = AuditChain::new("c");
        let mut lines = sealed(&mut c, 3);
        lines[1] = lines[1].replace("r1", "rX");
        assert!(parse_batch(lines.join("\n").as_bytes()).unwrap_err().starts_with("line 2:"));
        assert!(parse_batch(b"{\"v\":1}").is_err());
        assert!(parse_batch(b"\xff").is_err());
        assert_eq!(parse_batch(b"\n\n").unwrap().len(), 0);
    }

    #[test]
    fn stores_deduplicates_records_gaps_and_resumes() {
        let dir = tmp("store");
        let mut c = AuditChain::new("vm/1");
        let lines = sealed(&mut c, 10);
        let (mut store, _) = Store::open(&dir).unwrap();
        let r = store.ingest(&batch(&lines[..4]), 1).unwrap();
        assert_eq!((r.stored, r.duplicates, r.gaps), (4, 0, 0));
        // A retry of the same batch plus the next events.
        let r = store.ingest(&batch(&lines[2..6]), 2).unwrap();
        assert_eq!((r.stored, r.duplicates), (2, 2));
        drop(store);
        // Restart: continuity resumes from the file, old seqs still dedupe.
        let (mut store, _) = Store::open(&dir).unwrap();
        let r = store.ingest(&batch(&lines[0..1]), 3).unwrap();
        assert_eq!((r.stored, r.duplicates), (0, 1));
        let r = store.ingest(&batch(&lines[8..10]), 4).unwrap();
        assert_eq!((r.stored, r.gaps), (2, 1));
        let stored = fs::read_to_string(dir.join(CHAINS_DIR).join("vm%2F1.jsonl")).unwrap();
        let seqs: Vec<u64> = stored.lines().map(|l| serde_json::from_str::<AuditEvent>(l).unwrap().seq).collect();
        assert_eq!(seqs, [0, 1, 2, 3, 4, 5, 8, 9]);
        let gaps = fs::read_to_string(dir.join(GAPS_FILE)).unwrap();
        assert!(gaps.contains("\"kind\":\"missing\"") && gaps.contains("\"expected_seq\":6"), "{gaps}");
        let heads = read_heads(&dir).unwrap();
        assert_eq!((heads[0].seq, heads[0].hash.as_str()), (9, serde_json::from_str::<AuditEvent>(&lines[9]).unwrap().hash.as_str()));
        // A different event at a taken seq is a conflict, kept aside.
        let mut other = AuditChain::new("vm/1");
        let forged: Vec<String> = (0..2).map(|_| other.seal(AuditEvent { request_id: "forged".into(), ..AuditEvent::default() }).to_json_line()).collect();
        let r = store.ingest(&batch(&forged[1..2]), 5).unwrap();
        assert_eq!((r.stored, r.conflicts), (0, 1));
        let _ = fs::remove_dir_all(&dir);
    }

    #[test]
    fn a_torn_tail_is_cut_and_recorded() {
        let dir = tmp("torn");
        let mut c = AuditChain::new("c");
        let lines = sealed(&mut c, 3);
        let (mut store, _) = Store::open(&dir).unwrap();
        store.ingest(&batch(&lines[..2]), 1).unwrap();
        drop(store);
        let path = dir.join(CHAINS_DIR).join("c.jsonl");
        let mut f = OpenOptions::new().append(true).open(&path).unwrap();
        f.write_all(&lines[2].as_bytes()[..20]).unwrap();
        let (mut store, repaired) = Store::open(&dir).unwrap();
        assert_eq!(repaired, 1);
        let r = store.ingest(&batch(&lines[2..3]), 2).unwrap();
        assert_eq!((r.stored, r.gaps), (1, 0));
        assert_eq!(fs::read_to_string(&path).unwrap(), format!("{}\n", lines.join("\n")));
        assert!(fs::read_to_string(dir.join(GAPS_FILE)).unwrap().contains("torn_tail"));
        let _ = fs::remove_dir_all(&dir);
    }
}
