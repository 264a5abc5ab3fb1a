use std::path::PathBuf;
use std::process::ExitCode;

use serde_json::json;
use ward_core::{Api, Direction, Envelope, Verdict};

#[derive(clap::Args)]
pub struct Args {
    /// Wire format: openai, openai_responses, anthropic, mcp.
    #[arg(long)]
    format: String,
    /// Whether FILE is a request or a response body.
    #[arg(long, default_value = "request")]
    direction: String,
    /// Content type of FILE (text/event-stream for a saved stream).
    #[arg(long, default_value = "application/json")]
    content_type: String,
    /// Policy file; the secure defaults without one.
    #[arg(long)]
    policy: Option<PathBuf>,
    /// Saved body.
    file: PathBuf,
}

pub fn run(args: Args) -> Result<ExitCode, String> {
    let api = Api::parse(&args.format).ok_or_else(|| format!("unknown --format `{}` (openai, openai_responses, anthropic, mcp)", args.format))?;
    let direction = match args.direction.as_str() {
        "request" => Direction::Request,
        "response" => Direction::Response,
        d => return Err(format!("unknown --direction `{d}` (request, response)")),
    };
    let engine = crate::load_engine(args.policy.as_deref())?;
    let body = crate::read(&args.file)?;
    let env = Envelope { direction, api: Some(api), content_type: args.content_type, request_id: "scan".into(), ..Envelope::default() };
    let decision = engine.inspect(&env, &body);
    println!("{}", serde_json::to_string_pretty(&decision_json(&decision)).expect("serialises"));
    Ok(ExitCode::SUCCESS)
}

/// The decision as the CLI, the parity tests and the demo print it.
pub fn decision_json(d: &ward_core::Decision) -> serde_json::Value {
    let (verdict, extra) = match &d.verdict {
        Verdict::Allow => ("allow", json!(null)),
        Verdict::Redact { body } => ("redact", json!({"body": String::from_utf8_lossy(body)})),
        Verdict::Block { reply, reason } => ("block", json!({"status": reply.status, "reason": reason, "body": String::from_utf8_lossy(&reply.body)})),
    };
    json!({
        "verdict": verdict,
        "detail": extra,
        "findings": d.audit.as_ref().map(|a| json!(a.findings)).unwrap_or(json!([])),
    })
}
