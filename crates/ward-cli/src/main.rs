//! `ward`: the operator's command line. Every subcommand runs the same
//! engine the filter runs, natively.

use std::process::ExitCode;

use clap::{Parser, Subcommand};

mod check;
mod collect;
mod eval;
mod pin;
mod report;
mod sbom;
mod scan;
mod sign;
mod verify;

#[derive(Parser)]
#[command(name = "ward", version, about = "Guardrail for LLM and agent traffic")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Lint a policy: prints `OK` and its digest, or FILE:LINE:COL: PATH: REASON.
    Check(check::Args),
    /// Run the engine on a saved body and print the decision as JSON.
    Scan(scan::Args),
    /// Measure a detector's recall and false-positive rate on labelled corpora.
    Eval(eval::Args),
    /// Receive audit events over HTTP and append them durably, one file per chain.
    Collect(collect::Args),
    /// Check every chain of an audit trail: OK with counts, or the first broken link.
    Verify(verify::Args),
    /// Early-warning and 72-hour notification content built from the audit trail.
    Report(report::Args),
    /// CycloneDX 1.6 bill of materials: the filter, and the models, MCP servers and tools allowed or observed.
    Sbom(sbom::Args),
    /// Print the policy fragment pinning every tool of a saved MCP tools/list response.
    Pin(pin::Args),
    /// Create an Ed25519 key pair for signing policies.
    Keygen(sign::KeygenArgs),
    /// Sign a policy: prints the signed envelope (docs/security.md).
    Sign(sign::SignArgs),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Check(args) => check::run(args),
        Command::Scan(args) => scan::run(args),
        Command::Eval(args) => eval::run(args),
        Command::Collect(args) => collect::run(args),
        Command::Verify(args) => verify::run(args),
        Command::Report(args) => report::run(args),
        Command::Sbom(args) => sbom::run(args),
        Command::Pin(args) => pin::run(args),
        Command::Keygen(args) => sign::keygen(args),
        Command::Sign(args) => sign::sign(args),
    };
    match result {
        Ok(code) => code,
        Err(message) => {
            eprintln!("ward: {message}");
            ExitCode::from(2)
        }
    }
}

/// Reads a file, naming it in the error.
pub(crate) fn read(path: &std::path::Path) -> Result<Vec<u8>, String> {
    std::fs::read(path).map_err(|e| format!("{}: {e}", path.display()))
}

/// Loads and compiles a policy file, or the built-in defaults without one.
pub(crate) fn load_engine(path: Option<&std::path::Path>) -> Result<ward_core::Engine, String> {
    match path {
        None => Ok(ward_core::Engine::new(ward_core::Policy::default())),
        Some(p) => ward_core::Engine::from_json(&read(p)?).map_err(|e| format!("{}:{e}", p.display())),
    }
}
