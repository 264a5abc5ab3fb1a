//! What a host did with one exchange, in a form every host can produce
//! (the native engine, this wasm host, Envoy via the pytest harness), so
//! their answers can be compared field by field.

use serde::Serialize;
use serde_json::Value;

use crate::state::Callout;

#[derive(Clone, Debug, Default, Serialize)]
pub struct Outcome {
    pub name: String,
    /// `native` or `wasm`.
    pub host: &'static str,
    /// The strongest action the audit events record: `allow` (also for
    /// log-only findings), `redact` or `block`.
    pub verdict: String,
    /// The status the client gets.
    pub status: u16,
    /// The body the client gets.
    #[serde(with = "crate::exchange::bytes_text")]
    pub body: Vec<u8>,
    /// The request body as it went upstream; `None` when it never did.
    #[serde(serialize_with = "opt_bytes")]
    pub upstream_body: Option<Vec<u8>>,
    /// Ward answered in the upstream's place (a request block).
    pub local_reply: bool,
    /// Sealed audit events, in order.
    pub audit: Vec<Value>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub callouts: Vec<Callout>,
    /// Everything the module logged during the exchange.
    #[serde(skip)]
    pub logs: Vec<crate::state::LogLine>,
    /// A trap, a stalled stream, a malformed record.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

fn opt_bytes<S: serde::Serializer>(v: &Option<Vec<u8>>, s: S) -> Result<S::Ok, S::Error> {
    match v {
        Some(b) => crate::exchange::bytes_text::serialize(b, s),
        None => s.serialize_none(),
    }
}

impl Outcome {
    pub fn new(name: &str, host: &'static str) -> Outcome {
        Outcome { name: name.to_string(), host, verdict: "allow".into(), ..Outcome::default() }
    }

    /// Sets `verdict` from the audit events.
    pub fn settle_verdict(&mut self) {
        let actions: Vec<&str> = self.audit.iter().filter_map(|e| e.get("action").and_then(Value::as_str)).collect();
        self.verdict = if actions.contains(&"block") {
            "block"
        } else if actions.contains(&"redact") {
            "redact"
        } else {
            "allow"
        }
        .into();
    }

    /// What must agree between hosts: verdict, status, bodies (with the
    /// request id, which each host makes up differently, replaced by
    /// `<rid>`), and per audit event its direction, action, status and
    /// findings (detector, rule, action, path). Timestamps, chain fields,
    /// digests and upstream names are left out.
    pub fn comparable(&self) -> Value {
        let ids: Vec<String> = self.audit.iter().filter_map(|e| e.get("request_id").and_then(Value::as_str)).filter(|s| !s.is_empty()).map(str::to_string).collect();
        let clean = |b: &[u8]| {
            let mut t = String::from_utf8_lossy(b).into_owned();
            for id in &ids {
                t = t.replace(id.as_str(), "<rid>");
            }
            t
        };
        let events: Vec<Value> = self
            .audit
            .iter()
            .map(|e| {
                let findings: Vec<Value> = e
                    .get("findings")
                    .and_then(Value::as_array)
                    .into_iter()
                    .flatten()
                    .map(|f| serde_json::json!([f.get("detector"), f.get("rule"), f.get("action"), f.get("path")]))
                    .collect();
                serde_json::json!({"direction": e.get("direction"), "action": e.get("action"), "status": e.get("status"), "findings": findings})
            })
            .collect();
        serde_json::json!({
            "verdict": self.verdict,
            "status": self.status,
            "body": clean(&self.body),
            "upstream_body": self.upstream_body.as_deref().map(clean),
            "local_reply": self.local_reply,
            "audit": events,
            "error": self.error,
        })
    }

    /// One line for people: verdict, status, findings.
    pub fn summary(&self) -> String {
        let mut findings = Vec::new();
        for e in &self.audit {
            let dir = e.get("direction").and_then(Value::as_str).unwrap_or("?");
            for f in e.get("findings").and_then(Value::as_array).into_iter().flatten() {
                let s = |k: &str| f.get(k).and_then(Value::as_str).unwrap_or("").to_string();
                findings.push(format!("{dir}:{}({}){}", s("rule"), s("action"), if s("path").is_empty() { String::new() } else { format!("@{}", s("path")) }));
            }
        }
        let mut line = format!("{:<32} {:<6} {}", self.name, self.verdict, self.status);
        if !findings.is_empty() {
            line.push_str("  ");
            line.push_str(&findings.join(" "));
        }
        if !self.callouts.is_empty() {
            line.push_str(&format!("  callouts={}", self.callouts.len()));
        }
        if let Some(e) = &self.error {
            line.push_str(&format!("  ERROR {e}"));
        }
        line
    }
}
