//! `ward pin FILE`: the policy fragment that pins every tool of a saved MCP
//! `tools/list` answer, to merge into `tools.definitions` once the tools
//! have been vetted.

use std::path::PathBuf;
use std::process::ExitCode;

#[derive(clap::Args)]
pub struct Args {
    /// Bind each tool to this MCP server (a key of the policy's `mcp_servers`).
    #[arg(long)]
    server: Option<String>,
    /// Saved `tools/list` response: JSON, a JSON-RPC batch, or the SSE stream.
    file: PathBuf,
}

pub fn run(args: Args) -> Result<ExitCode, String> {
    let saved = crate::read(&args.file)?;
    let fragment = ward_core::tools::pin::fragment(&saved, args.server.as_deref()).map_err(|e| format!("{}: {e}", args.file.display()))?;
    let text = serde_json::to_string_pretty(&fragment).map_err(|e| e.to_string())?;
    println!("{text}");
    Ok(ExitCode::SUCCESS)
}
