//! `ward`: the operator's command line. Every subcommand runs the same
//! engine the filter runs, natively.

use std::process::ExitCode;

use clap::{Parser, Subcommand};

mod check;
mod scan;

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
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Check(args) => check::run(args),
        Command::Scan(args) => scan::run(args),
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
