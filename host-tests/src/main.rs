//! `ward-host`: replay recorded traffic through the Ward filter module in a
//! wasmtime proxy-wasm host, import HAR files, measure per-request cost.
//! See docs/hosts.md.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand, ValueEnum};
use ward_host::native::NativeHost;
use ward_host::replay::{self, ReplayOptions};
use ward_host::{exchange, FilterModule, Outcome, VmConfig};

#[derive(Parser)]
#[command(name = "ward-host", about = "A proxy-wasm host on wasmtime for the Ward filter")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Host {
    /// The filter module in this wasmtime host.
    Wasm,
    /// ward-core directly, following the filter's contract.
    Native,
    /// Both, one line each per exchange.
    Both,
}

#[derive(clap::Args)]
struct Module {
    /// The filter module (default: $WARD_FILTER_WASM or the release wasm32-wasip1 build).
    #[arg(long)]
    wasm: Option<PathBuf>,
    /// Policy file (JSON) given to the filter as its plugin configuration.
    #[arg(long)]
    policy: Option<PathBuf>,
    /// Policy as a JSON string (instead of --policy).
    #[arg(long, conflicts_with = "policy")]
    policy_json: Option<String>,
}

impl Module {
    fn policy(&self) -> Result<Vec<u8>, String> {
        match (&self.policy, &self.policy_json) {
            (Some(p), _) => std::fs::read(p).map_err(|e| format!("{}: {e}", p.display())),
            (None, Some(s)) => Ok(s.clone().into_bytes()),
            (None, None) => Ok(b"{}".to_vec()),
        }
    }

    fn load(&self) -> Result<FilterModule, String> {
        let path = self.wasm.clone().unwrap_or_else(ward_host::default_wasm_path);
        FilterModule::from_file(&path).map_err(|e| format!("{}: {e} (build it with scripts/build.sh)", path.display()))
    }

    fn load_with_perf_map(&self) -> Result<FilterModule, String> {
        let path = self.wasm.clone().unwrap_or_else(ward_host::default_wasm_path);
        let bytes = std::fs::read(&path).map_err(|e| format!("{}: {e} (build it with scripts/build.sh)", path.display()))?;
        FilterModule::compile_with_perf_map(&bytes).map_err(|e| format!("{}: {e}", path.display()))
    }
}

#[derive(Subcommand)]
enum Command {
    /// Replay exchanges (JSON Lines, or HAR with --har / a .har name) and print each decision.
    Replay {
        files: Vec<PathBuf>,
        #[command(flatten)]
        module: Module,
        #[arg(long, value_enum, default_value = "wasm")]
        host: Host,
        /// Print one JSON outcome per exchange instead of a summary line.
        #[arg(long)]
        json: bool,
        /// Read the files as HAR.
        #[arg(long)]
        har: bool,
        /// Status the host answers the filter's HTTP callouts with (0: leave them unanswered).
        #[arg(long, default_value_t = 200)]
        callout_status: u16,
    },
    /// Convert a HAR file to the JSON Lines replay format.
    Har { file: PathBuf },
    /// Per-request cost and guest memory by format and body size.
    Bench {
        #[command(flatten)]
        module: Module,
        /// Requests per case.
        #[arg(short, long, default_value_t = 2000)]
        n: usize,
        /// Body sizes in bytes, comma-separated.
        #[arg(long, value_delimiter = ',', default_values_t = vec![1024usize, 16384, 65536])]
        sizes: Vec<usize>,
        /// Time these exchanges (JSON Lines, e.g. from benches/envoy_exchanges.py)
        /// instead of generated ones; --sizes is then ignored.
        #[arg(long)]
        exchanges: Option<PathBuf>,
        /// Which side to time (`wasm` alone under `perf record`).
        #[arg(long, value_enum, default_value = "both")]
        host: Host,
        /// Compile the module afresh and write /tmp/perf-PID.map, so `perf
        /// report` names the module's functions.
        #[arg(long)]
        perf_map: bool,
        #[arg(long)]
        json: bool,
    },
    /// `ward eval`'s injection figures through the module: each corpus row
    /// sent as the request that carries it (prints the same JSON with --json).
    Eval {
        /// Folder of `*.jsonl` / `*.jsonl.gz` files, or of subfolders holding them.
        #[arg(long)]
        corpus: PathBuf,
        /// Only `injection` is measured through the module; in a folder of
        /// detector subfolders only `injection/` is read.
        #[arg(long, default_value = "injection")]
        detector: String,
        /// Rows to count: all, train, or heldout (as `ward eval --split`).
        #[arg(long, default_value = "all")]
        split: String,
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        module: Module,
    },
    /// What the host sees in the module: ABI, stubbed imports, compile time.
    Info {
        #[command(flatten)]
        module: Module,
    },
}

fn read_exchanges(path: &PathBuf, har: bool) -> Result<Vec<exchange::Exchange>, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let is_har = har || path.extension().is_some_and(|e| e.eq_ignore_ascii_case("har"));
    let parsed = if is_har { exchange::from_har(&text) } else { exchange::parse_jsonl(&text) };
    parsed.map_err(|e| format!("{}: {e}", path.display()))
}

fn main() -> ExitCode {
    match run(Cli::parse()) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("ward-host: {e}");
            ExitCode::from(2)
        }
    }
}

fn run(cli: Cli) -> Result<ExitCode, String> {
    match cli.command {
        Command::Replay { files, module, host, json, har, callout_status } => {
            if files.is_empty() {
                return Err("give one or more files to replay".into());
            }
            let policy = module.policy()?;
            let mut native = if host != Host::Wasm { Some(NativeHost::new(&policy)?) } else { None };
            let loaded = if host != Host::Native { Some(module.load()?) } else { None };
            let mut vm = match &loaded {
                Some(m) => Some(m.start(&VmConfig::new(policy.clone())).map_err(|e| e.to_string())?),
                None => None,
            };
            let opts = ReplayOptions { callout_answer: (callout_status != 0).then(|| ward_host::CalloutAnswer::status(callout_status, b"")) };
            let mut failed = false;
            for path in &files {
                for ex in read_exchanges(path, har)? {
                    let mut outcomes: Vec<Outcome> = Vec::new();
                    if let Some(n) = native.as_mut() {
                        outcomes.push(n.run(&ex));
                    }
                    if let Some(vm) = vm.as_mut() {
                        outcomes.push(replay::run(vm, &ex, &opts));
                    }
                    for o in outcomes {
                        failed |= o.error.is_some();
                        if json {
                            println!("{}", serde_json::to_string(&o).map_err(|e| e.to_string())?);
                        } else if host == Host::Both {
                            println!("{:<6} {}", o.host, o.summary());
                        } else {
                            println!("{}", o.summary());
                        }
                    }
                }
            }
            Ok(if failed { ExitCode::from(1) } else { ExitCode::SUCCESS })
        }
        Command::Har { file } => {
            for ex in read_exchanges(&file, true)? {
                println!("{}", serde_json::to_string(&ex).map_err(|e| e.to_string())?);
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Bench { module, n, sizes, exchanges, host, perf_map, json } => {
            let policy = module.policy()?;
            let loaded = if perf_map { module.load_with_perf_map()? } else { module.load()? };
            let sides = match host {
                Host::Wasm => ward_host::bench::Sides::Wasm,
                Host::Native => ward_host::bench::Sides::Native,
                Host::Both => ward_host::bench::Sides::Both,
            };
            let rows = match &exchanges {
                Some(path) => ward_host::bench::run_exchanges(&loaded, &policy, &read_exchanges(path, false)?, n.max(1), sides)?,
                None if sides == ward_host::bench::Sides::Both => ward_host::bench::run(&loaded, &policy, &sizes, n.max(1))?,
                None => return Err("--host wasm/native needs --exchanges".into()),
            };
            if json {
                for r in &rows {
                    println!("{}", serde_json::to_string(r).map_err(|e| e.to_string())?);
                }
            } else {
                let how = if loaded.from_cache { "loaded from the cache" } else { "compiled" };
                eprintln!("module {how} in {:.0} ms; {} requests per case, each case in a fresh VM", loaded.compile_time.as_secs_f64() * 1e3, n);
                print!("{}", ward_host::bench::table(&rows));
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Eval { corpus, detector, split, json, module } => {
            if detector != "injection" {
                return Err(format!("--detector {detector}: only injection is measured through the module"));
            }
            let split = ward_host::eval::Split::parse(&split).ok_or_else(|| format!("unknown --split `{split}` (all, train, heldout)"))?;
            let policy = module.policy()?;
            let loaded = module.load()?;
            let mut vm = loaded.start(&VmConfig::new(policy)).map_err(|e| e.to_string())?;
            let files = ward_host::eval::discover(&corpus, Some("injection"))?;
            if files.is_empty() {
                return Err(format!("{}: no *.jsonl or *.jsonl.gz files", corpus.display()));
            }
            let mut reports = Vec::new();
            for path in &files {
                reports.push(ward_host::eval::eval_file(&mut vm, path, &corpus, split)?);
            }
            let out = ward_host::eval::json(&reports, split);
            if json {
                println!("{}", serde_json::to_string_pretty(&out).map_err(|e| e.to_string())?);
            } else {
                println!("{:<44} {:>7} {:>7} {:>7} {:>7}", "file", "pos", "tp", "neg", "fp");
                for r in &reports {
                    let t = &r.total;
                    println!("{:<44} {:>7} {:>7} {:>7} {:>7}", r.path, t.positives, t.true_positives, t.negatives, t.false_positives);
                }
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Info { module } => {
            let loaded = module.load()?;
            let policy = module.policy()?;
            let started = std::time::Instant::now();
            let vm = loaded.start(&VmConfig::new(policy)).map_err(|e| e.to_string())?;
            println!("abi: {}", loaded.abi);
            println!("compile: {:.0} ms{}", loaded.compile_time.as_secs_f64() * 1e3, if loaded.from_cache { " (loaded from the cache)" } else { "" });
            println!("start + configure: {:.0} µs", started.elapsed().as_secs_f64() * 1e6);
            println!("guest memory after configure: {} KiB", vm.memory_bytes() / 1024);
            println!("stubbed imports: {}", if loaded.stubbed.is_empty() { "none".to_string() } else { loaded.stubbed.join(", ") });
            for l in &vm.state().logs {
                println!("log[{}]: {}", l.level, l.message);
            }
            Ok(ExitCode::SUCCESS)
        }
    }
}
