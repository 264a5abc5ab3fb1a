//! `ward report`: the content of an early warning (24 hours) and of the
//! 72-hour notification about an actively exploited vulnerability, built
//! from the audit trail: what was attacked, how, by whom as far as the
//! trail tells, what the filter did, what to do next, and the event hashes
//! that let anyone re-check it with `ward verify`.
//!
//! JSON output follows docs/report-schema.json; Markdown is for people.

use std::fmt::Write as _;
use std::path::PathBuf;
use std::process::ExitCode;

use serde_json::{json, Value};
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;
use ward_core::trail::incidents::{Likelihood, Summary, SummaryBuilder};

use crate::verify::{self, TrailCheck};

/// Identifies the report layout; bumped when docs/report-schema.json changes incompatibly.
pub const REPORT_SCHEMA: &str = "ward.report/1";

#[derive(clap::Args)]
pub struct Args {
    /// The trail: a collector's output directory or one trail file.
    #[arg(long)]
    audit: PathBuf,
    /// Start of the window: RFC 3339 (2026-11-21T10:00:00Z) or Unix milliseconds.
    #[arg(long)]
    since: String,
    /// End of the window (exclusive); open-ended without it.
    #[arg(long)]
    until: Option<String>,
    /// md (for people) or json (docs/report-schema.json).
    #[arg(long, default_value = "md")]
    format: String,
    /// Name of the product the report is about.
    #[arg(long, default_value = "LLM and agent traffic guarded by Ward")]
    product: String,
}

pub fn run(args: Args) -> Result<ExitCode, String> {
    let since = parse_time(&args.since).map_err(|e| format!("--since: {e}"))?;
    let until = args.until.as_deref().map(parse_time).transpose().map_err(|e| format!("--until: {e}"))?;
    if until.is_some_and(|u| u <= since) {
        return Err("--until must be later than --since".into());
    }
    if !matches!(args.format.as_str(), "md" | "json") {
        return Err(format!("unknown --format `{}` (md, json)", args.format));
    }
    let check = verify::check(&args.audit)?;
    let mut builder = SummaryBuilder::new(since, until);
    verify::for_each_event(&args.audit, |e| builder.add(e))?;
    let summary = builder.finish();
    let now = SystemClock::now_ms();
    let report = build(&args.product, &args.audit.display().to_string(), since, until, now, &summary, &check);
    match args.format.as_str() {
        "json" => println!("{}", serde_json::to_string_pretty(&report).expect("serialises")),
        _ => print!("{}", markdown(&report)),
    }
    Ok(ExitCode::SUCCESS)
}

struct SystemClock;

impl SystemClock {
    fn now_ms() -> u64 {
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_millis() as u64).unwrap_or(0)
    }
}

/// Parses RFC 3339 (any offset) or Unix milliseconds into Unix milliseconds.
pub fn parse_time(text: &str) -> Result<u64, String> {
    let text = text.trim();
    if !text.is_empty() && text.bytes().all(|b| b.is_ascii_digit()) {
        return text.parse().map_err(|e| format!("`{text}`: {e}"));
    }
    let t = OffsetDateTime::parse(text, &Rfc3339).map_err(|e| format!("`{text}` is neither RFC 3339 nor Unix milliseconds ({e})"))?;
    u64::try_from(t.unix_timestamp_nanos() / 1_000_000).map_err(|_| format!("`{text}` is before 1970"))
}

/// Unix milliseconds as RFC 3339 in UTC.
pub fn format_time(ms: u64) -> String {
    OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000)
        .ok()
        .and_then(|t| t.format(&Rfc3339).ok())
        .unwrap_or_else(|| ms.to_string())
}

fn time_or_null(ms: Option<u64>) -> Value {
    ms.map_or(Value::Null, |ms| Value::from(format_time(ms)))
}

/// The report as JSON (docs/report-schema.json). Markdown is rendered from it.
pub fn build(product: &str, trail: &str, since: u64, until: Option<u64>, now_ms: u64, s: &Summary, check: &TrailCheck) -> Value {
    let malicious = s.malicious();
    let attacked: Vec<&str> = s.incidents.iter().filter(|i| i.assessment.malicious == Likelihood::Likely).map(|i| i.rule.as_str()).collect();
    let hostile = s.incidents.iter().filter(|i| i.assessment.malicious >= Likelihood::Possible);
    let not_stopped: u64 = hostile.map(|i| i.actions.iter().filter(|(a, _)| matches!(a.as_str(), "allow" | "log")).map(|(_, n)| n).sum::<u64>()).sum();
    let first_seen = s.incidents.iter().map(|i| i.first_seen_ms).min();
    let last_seen = s.incidents.iter().map(|i| i.last_seen_ms).max();
    let statement = if s.incidents.is_empty() {
        format!("No findings in {} event(s) of the window.", s.events)
    } else {
        let rules: Vec<&str> = s.incidents.iter().map(|i| i.rule.as_str()).collect();
        let stopped = if not_stopped == 0 {
            "The filter blocked or redacted every event of the incidents that may be malicious.".to_string()
        } else {
            format!("{not_stopped} event(s) of incidents that may be malicious were only logged and reached their destination.")
        };
        format!(
            "{} incident(s) ({}) in {} event(s) with findings out of {}; malicious act: {}. {stopped}",
            s.incidents.len(),
            rules.join(", "),
            s.events_with_findings,
            s.events,
            malicious.as_str()
        )
    };
    let incidents: Vec<Value> = s
        .incidents
        .iter()
        .map(|i| {
            let mut v = serde_json::to_value(i).expect("serialises");
            v["first_seen"] = format_time(i.first_seen_ms).into();
            v["last_seen"] = format_time(i.last_seen_ms).into();
            v["evidence_total"] = i.events.into();
            v
        })
        .collect();
    let mut measures: Vec<String> = Vec::new();
    for m in s.incidents.iter().flat_map(|i| &i.corrective_measures) {
        if !measures.contains(m) {
            measures.push(m.clone());
        }
    }
    let agents: Vec<&String> = {
        let mut a: Vec<&String> = s.incidents.iter().flat_map(|i| i.agents.keys()).collect();
        a.sort();
        a.dedup();
        a
    };
    let sessions: Vec<&String> = {
        let mut a: Vec<&String> = s.incidents.iter().flat_map(|i| i.sessions.keys()).collect();
        a.sort();
        a.dedup();
        a
    };
    let verification = check.to_json();
    let anchors: Vec<Value> = check.files.iter().flat_map(|f| f.outcome.chains.iter().filter(|c| c.events > 0).map(|c| json!({"chain": c.chain, "seq": c.last_seq, "hash": c.last_hash}))).collect();
    json!({
        "schema": REPORT_SCHEMA,
        "generated_at": format_time(now_ms),
        "window": {"since": format_time(since), "until": time_or_null(until), "since_ms": since, "until_ms": until},
        "product": {
            "name": product,
            "ward_versions": s.ward_versions,
            "policy_digests": s.policy_digests,
        },
        "early_warning": {
            "attack_observed": !attacked.is_empty(),
            "suspected_malicious": malicious,
            "all_blocked": not_stopped == 0,
            "first_seen": time_or_null(first_seen),
            "last_seen": time_or_null(last_seen),
            "statement": statement,
        },
        "summary": {
            "events": s.events,
            "events_with_findings": s.events_with_findings,
            "actions": s.actions,
            "dropped": s.dropped,
            "first_event": time_or_null(s.first_event_ms),
            "last_event": time_or_null(s.last_event_ms),
            "incidents": s.incidents.len(),
            "agents": agents,
            "sessions": sessions,
        },
        "affected_components": s.affected,
        "incidents": incidents,
        "corrective_measures": measures,
        "trail": {
            "path": trail,
            "verification": verification,
            "anchors": anchors,
            "recheck": format!("ward verify {trail}"),
        },
    })
}

fn tally(v: &Value) -> String {
    match v.as_object() {
        Some(m) if !m.is_empty() => m.iter().map(|(k, n)| format!("{k} ({n})")).collect::<Vec<_>>().join(", "),
        _ => "none recorded".into(),
    }
}

fn text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Null => "-".into(),
        other => other.to_string(),
    }
}

/// Escapes what would break a Markdown table cell or inline text.
fn md(s: &str) -> String {
    s.replace('|', "\\|").replace('\n', " ")
}

/// Most evidence lines the Markdown lists per incident (the JSON has them all).
const MD_EVIDENCE: usize = 10;

pub fn markdown(r: &Value) -> String {
    let mut o = String::new();
    let ew = &r["early_warning"];
    let sum = &r["summary"];
    let ver = &r["trail"]["verification"];
    let _ = writeln!(o, "# Incident report: {}\n", md(&text(&r["product"]["name"])));
    let until = if r["window"]["until"].is_null() { "now".to_string() } else { text(&r["window"]["until"]) };
    let _ = writeln!(o, "Window: {} to {}. Generated {} by Ward from the audit trail `{}`.\n", text(&r["window"]["since"]), until, text(&r["generated_at"]), md(&text(&r["trail"]["path"])));
    if ver["status"] == "ok" {
        let _ = writeln!(o, "Trail integrity: **verified** ({} events; {} dropped by the filter, {} gaps recorded by the collector).\n", ver["events"], ver["dropped"], ver["gaps_recorded"]);
    } else {
        let _ = writeln!(o, "Trail integrity: **BROKEN**: the evidence below may be incomplete or altered.\n");
        for b in ver["breaks"].as_array().into_iter().flatten() {
            let _ = writeln!(o, "- `{}:{}`: {}: {}", text(&b["file"]), b["line"], text(&b["kind"]), md(&text(&b["reason"])));
        }
        o.push('\n');
    }
    let _ = writeln!(o, "## Early warning\n");
    let _ = writeln!(o, "{}\n", md(&text(&ew["statement"])));
    let _ = writeln!(o, "| | |\n|---|---|");
    let _ = writeln!(o, "| Attack observed | {} |", if ew["attack_observed"] == true { "yes" } else { "no" });
    let _ = writeln!(o, "| Malicious act | {} |", text(&ew["suspected_malicious"]));
    let _ = writeln!(o, "| Every suspect event blocked or redacted | {} |", if ew["all_blocked"] == true { "yes" } else { "no" });
    let _ = writeln!(o, "| First seen | {} |", text(&ew["first_seen"]));
    let _ = writeln!(o, "| Last seen | {} |", text(&ew["last_seen"]));
    let _ = writeln!(o, "| Product | {} |", md(&text(&r["product"]["name"])));
    let list = |v: &Value| v.as_array().map(|a| a.iter().map(|x| md(&text(x))).collect::<Vec<_>>().join(", ")).filter(|s| !s.is_empty()).unwrap_or_else(|| "-".into());
    let _ = writeln!(o, "| Ward version(s) | {} |", list(&r["product"]["ward_versions"]));
    let _ = writeln!(o, "| Policy digest(s) | {} |", list(&r["product"]["policy_digests"]));
    let _ = writeln!(o, "| Agents involved | {} |", list(&sum["agents"]));
    let _ = writeln!(o, "| Sessions involved | {} |", list(&sum["sessions"]));
    let _ = writeln!(o, "| Events in window | {} ({} with findings; actions: {}) |\n", sum["events"], sum["events_with_findings"], md(&tally(&sum["actions"])));
    if let Some(components) = r["affected_components"].as_array().filter(|c| !c.is_empty()) {
        let _ = writeln!(o, "## Affected components\n\n| Kind | Name | Events with findings |\n|---|---|---|");
        for c in components {
            let _ = writeln!(o, "| {} | {} | {} |", text(&c["kind"]), md(&text(&c["name"])), c["events"]);
        }
        o.push('\n');
    }
    let incidents = r["incidents"].as_array().cloned().unwrap_or_default();
    let _ = writeln!(o, "## Incidents ({})\n", incidents.len());
    for (n, i) in incidents.iter().enumerate() {
        let _ = writeln!(o, "### {}. `{}` ({})\n", n + 1, text(&i["rule"]), text(&i["detector"]));
        let _ = writeln!(o, "Malicious act: **{}**: {}.\n", text(&i["assessment"]["malicious"]), md(&text(&i["assessment"]["basis"])));
        let _ = writeln!(o, "| | |\n|---|---|");
        let _ = writeln!(o, "| First seen | {} |", text(&i["first_seen"]));
        let _ = writeln!(o, "| Last seen | {} |", text(&i["last_seen"]));
        let _ = writeln!(o, "| Events / findings | {} / {} |", i["events"], i["findings"]);
        let _ = writeln!(o, "| Actions taken | {} |", md(&tally(&i["actions"])));
        for (label, key) in [
            ("Answered with", "statuses"),
            ("Agents", "agents"),
            ("Sessions", "sessions"),
            ("Tasks", "tasks"),
            ("Where the content came from", "origins"),
            ("Direction", "directions"),
            ("APIs", "apis"),
            ("Routes", "routes"),
            ("Upstreams", "upstreams"),
            ("Models", "models"),
            ("Tools named", "tools"),
        ] {
            let known = i[key].as_object().is_some_and(|m| m.keys().any(|k| k != "(unknown)"));
            if known {
                let _ = writeln!(o, "| {label} | {} |", md(&tally(&i[key])));
            }
        }
        let digests = i["content_sha256"].as_object().map_or(0, |m| m.len());
        let _ = writeln!(o, "| Distinct offending contents | {digests} (sha256 in the JSON report) |\n");
        let _ = writeln!(o, "Corrective measures:\n");
        for m in i["corrective_measures"].as_array().into_iter().flatten() {
            let _ = writeln!(o, "- {}", md(&text(m)));
        }
        let _ = writeln!(o, "\nEvidence (chain, seq, event hash):\n");
        let evidence = i["evidence"].as_array().cloned().unwrap_or_default();
        for e in evidence.iter().take(MD_EVIDENCE) {
            let _ = writeln!(o, "- `{}` #{} `{}` at {}", md(&text(&e["chain"])), e["seq"], text(&e["hash"]), format_time(e["time_ms"].as_u64().unwrap_or(0)));
        }
        let total = i["evidence_total"].as_u64().unwrap_or(0);
        if total as usize > MD_EVIDENCE.min(evidence.len()) {
            let _ = writeln!(o, "- and {} more (all listed in the JSON report)", total as usize - MD_EVIDENCE.min(evidence.len()));
        }
        o.push('\n');
    }
    let _ = writeln!(o, "## Re-checking the evidence\n");
    let _ = writeln!(o, "Run `{}`: it recomputes every event's hash and every link. Each chain ends at:\n", md(&text(&r["trail"]["recheck"])));
    for a in r["trail"]["anchors"].as_array().into_iter().flatten() {
        let _ = writeln!(o, "- chain `{}` seq {} hash `{}`", md(&text(&a["chain"])), a["seq"], text(&a["hash"]));
    }
    o
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_parse_both_ways() {
        assert_eq!(parse_time("2026-11-21T10:00:00Z").unwrap(), 1_795_255_200_000);
        assert_eq!(parse_time("2026-11-21T11:00:00+01:00").unwrap(), 1_795_255_200_000);
        assert_eq!(parse_time("1795255200123").unwrap(), 1_795_255_200_123);
        assert_eq!(format_time(1_795_255_200_123), "2026-11-21T10:00:00.123Z");
        assert_eq!(parse_time(&format_time(1_795_255_200_123)).unwrap(), 1_795_255_200_123);
        assert!(parse_time("yesterday").is_err());
        assert!(parse_time("1969-12-31T23:59:59Z").is_err());
    }
}
