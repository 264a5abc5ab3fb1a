//! `ward-host`: a proxy-wasm host on wasmtime.
//!
//! It loads the very `.wasm` file Envoy loads, implements the host calls the
//! module imports (headers, bodies, properties, shared data and queues,
//! local replies, HTTP callouts, metrics, logging, timers, and the WASI
//! calls of a `wasm32-wasip1` build), and drives it through the proxy-wasm
//! lifecycle. Three uses:
//!
//! - replaying recorded traffic ([`exchange`], [`replay`]; `ward-host replay`),
//! - the parity test against the native engine ([`native`]) and Envoy,
//! - embedding: a Rust program guarding its own traffic with the module
//!   (`examples/embed`).
//!
//! ```no_run
//! use ward_host::{FilterModule, VmConfig, exchange, replay};
//! let module = FilterModule::from_file("ward_filter.wasm")?;
//! let mut vm = module.start(&VmConfig::new(r#"{"mode":"enforce"}"#))?;
//! for ex in exchange::parse_jsonl(&std::fs::read_to_string("traffic.jsonl")?).map_err(wasmtime::Error::msg)? {
//!     println!("{}", replay::run(&mut vm, &ex, &Default::default()).summary());
//! }
//! # Ok::<(), wasmtime::Error>(())
//! ```

pub mod abi;
pub mod bench;
pub mod eval;
pub mod exchange;
pub mod guard;
mod imports;
pub mod native;
pub mod outcome;
pub mod replay;
pub mod state;
pub mod vm;

pub use exchange::Exchange;
pub use guard::{Call, Outbound};
pub use outcome::Outcome;
pub use state::{Callout, CalloutAnswer, SharedData, Stream};
pub use vm::{FilterModule, Phase, Vm, VmConfig};

/// Where the build puts the filter module: `$WARD_FILTER_WASM`, else the
/// release `wasm32-wasip1` build under `$CARGO_TARGET_DIR` (or the
/// project's default target dir).
pub fn default_wasm_path() -> std::path::PathBuf {
    if let Some(p) = std::env::var_os("WARD_FILTER_WASM") {
        return p.into();
    }
    let target = std::env::var_os("CARGO_TARGET_DIR").map(std::path::PathBuf::from).unwrap_or_else(|| {
        let home = std::env::var_os("HOME").map(std::path::PathBuf::from).unwrap_or_default();
        home.join(".cache/ward/target")
    });
    target.join("wasm32-wasip1/release/ward_filter.wasm")
}
