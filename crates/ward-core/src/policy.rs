//! The policy: one JSON document, the same in `ward check`, the Envoy
//! plugin configuration and the browser build.
//!
//! Every field has a secure default, so `{}` is a complete policy: injection
//! detection blocks, secrets are blocked going out and redacted coming back,
//! everything is logged and no tool is allowed unless named.
//!
//! Loading never half-succeeds. A bad policy yields a [`PolicyError`] with
//! the JSON path, the line and column, and the reason; hosts refuse to start
//! rather than run without protection.

use std::fmt;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::finding::Action;
use crate::{injection, pii, secrets, tools};

#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Policy {
    /// `enforce` acts on findings; `monitor` only logs what it would have done.
    pub mode: Mode,
    pub limits: Limits,
    /// A body of a known API that does not parse. Default: block, because a
    /// body Ward cannot read is a body Ward cannot vouch for.
    pub on_malformed: Action,
    /// Traffic whose API Ward does not recognise (path and content type).
    /// Default: allow (and log), so a guardrail in front of a whole gateway
    /// does not break unrelated routes; set `block` to fail closed.
    pub on_unknown_api: UnknownApi,
    /// A body in a `Content-Encoding` Ward cannot decode (anything but
    /// gzip and deflate). Default: block; `allow` passes it uninspected,
    /// logged.
    pub on_unknown_encoding: UnknownEncoding,
    pub injection: injection::Config,
    pub secrets: secrets::Config,
    pub pii: pii::Config,
    pub tools: tools::Config,
    /// Where agent, task and session identities come from (docs/tools.md).
    pub identity: tools::identity::Config,
    /// Model aliases and what to do about denied or mismatched models.
    pub models: tools::policy::Models,
    /// Vetted MCP servers, by the name grants and tool definitions use.
    pub mcp_servers: std::collections::BTreeMap<String, tools::policy::McpServer>,
    pub audit: AuditConfig,
    /// How streamed responses are held back while they are inspected.
    pub stream: crate::stream::Config,
}

/// What happens to traffic whose API Ward does not recognise.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum UnknownApi {
    /// Pass it on and record an audit event (the default: a guardrail in
    /// front of a whole gateway must not break `/v1/models` and friends).
    #[default]
    Log,
    /// Fail closed.
    Block,
}

/// What happens to a body whose encoding Ward cannot read.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum UnknownEncoding {
    /// Fail closed (the default): an unread body is not vouched for.
    #[default]
    Block,
    /// Pass it on uninspected and record an audit event.
    Allow,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Mode {
    #[default]
    Enforce,
    Monitor,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Limits {
    /// Largest request body Ward buffers and inspects.
    pub max_request_bytes: usize,
    /// Largest non-streamed response body Ward buffers and inspects.
    pub max_response_bytes: usize,
    /// What happens to a body over its limit: `block` (413/502 to the
    /// client) or `allow` (pass it uninspected, logged).
    pub on_oversize: Action,
    /// Largest decoded size of a gzip/deflate body, as a multiple of its
    /// encoded size; past it the body is refused as a decompression bomb.
    pub max_decompression_ratio: u32,
    /// Bytes of segment text whose findings are kept for reuse when the
    /// same text comes again (the system prompt, tool definitions and
    /// history every turn re-sends); 0 turns it off. Decisions are the
    /// same either way, so it is left out of the digest.
    #[serde(skip_serializing)]
    pub scan_cache_bytes: usize,
}

impl Default for Limits {
    fn default() -> Limits {
        Limits { max_request_bytes: 1 << 20, max_response_bytes: 4 << 20, on_oversize: Action::Block, max_decompression_ratio: 100, scan_cache_bytes: 1 << 20 }
    }
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AuditConfig {
    /// Emit an event for allowed traffic too (default), not only findings.
    pub log_allows: bool,
    /// Also write each sealed event to the proxy's log (`ward-audit {json}`).
    /// Left out of the digest when on (the default), so policies written
    /// before it keep their digest.
    #[serde(skip_serializing_if = "is_true")]
    pub log: bool,
    /// Deliver events to `ward collect` through this proxy cluster
    /// (docs/audit.md, "Delivery"); absent: the log is the only copy.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub collector: Option<crate::audit::outbox::CollectorConfig>,
}

fn is_true(b: &bool) -> bool {
    *b
}

impl Default for AuditConfig {
    fn default() -> AuditConfig {
        AuditConfig { log_allows: true, log: true, collector: None }
    }
}

impl Default for Action {
    fn default() -> Action {
        Action::Block
    }
}

impl Policy {
    /// Parses and validates a policy. `source` names the file in errors.
    ///
    /// ```
    /// let p = ward_core::Policy::from_json(br#"{"mode": "monitor"}"#).unwrap();
    /// assert_eq!(p.mode, ward_core::policy::Mode::Monitor);
    ///
    /// let e = ward_core::Policy::from_json(br#"{"limits": {"max_request_bytes": "big"}}"#).unwrap_err();
    /// assert_eq!(e.path, "limits.max_request_bytes");
    /// assert_eq!(e.line, 1);
    /// ```
    pub fn from_json(text: &[u8]) -> Result<Policy, PolicyError> {
        let text_str = std::str::from_utf8(text).map_err(|e| PolicyError {
            path: String::new(),
            line: 0,
            column: 0,
            reason: format!("policy is not UTF-8: {e}"),
        })?;
        let de = &mut serde_json::Deserializer::from_str(text_str);
        let policy: Policy = serde_path_to_error::deserialize(de).map_err(|e| {
            let path = e.path().to_string();
            let inner = e.into_inner();
            let (line, column) = if inner.is_syntax() || inner.is_eof() || path == "." {
                (inner.line(), inner.column())
            } else {
                locate(text_str, &path).unwrap_or((inner.line(), inner.column()))
            };
            PolicyError { path: if path == "." { String::new() } else { path }, line, column, reason: strip_position(&inner.to_string()) }
        })?;
        policy.validate().map_err(|(path, reason)| {
            let (line, column) = locate(text_str, &path).unwrap_or((0, 0));
            PolicyError { path, line, column, reason }
        })?;
        Ok(policy)
    }

    /// Checks what types alone cannot: patterns compile, labels exist,
    /// limits are sane. Returns the offending path and the reason.
    fn validate(&self) -> Result<(), (String, String)> {
        if self.limits.max_request_bytes == 0 {
            return Err(("limits.max_request_bytes".into(), "must be greater than 0".into()));
        }
        if self.limits.max_response_bytes == 0 {
            return Err(("limits.max_response_bytes".into(), "must be greater than 0".into()));
        }
        if self.limits.max_decompression_ratio == 0 {
            return Err(("limits.max_decompression_ratio".into(), "must be greater than 0".into()));
        }
        for (name, action) in [("on_oversize", self.limits.on_oversize)] {
            if !matches!(action, Action::Block | Action::Allow | Action::Log) {
                return Err((format!("limits.{name}"), format!("`{}` is not possible here; use block or allow", action.as_str())));
            }
        }
        self.injection.validate().map_err(|(p, r)| (format!("injection.{p}"), r))?;
        self.secrets.validate().map_err(|(p, r)| (format!("secrets.{p}"), r))?;
        self.pii.validate().map_err(|(p, r)| (format!("pii.{p}"), r))?;
        self.stream.validate().map_err(|(p, r)| (format!("stream.{p}"), r))?;
        if let Some(collector) = &self.audit.collector {
            collector.validate().map_err(|(p, r)| (format!("audit.collector.{p}"), r))?;
        }
        tools::policy::validate(self)?;
        Ok(())
    }

    /// sha256 of the policy's canonical JSON: the same policy gives the same
    /// digest whatever its formatting, and every audit event carries it.
    pub fn digest(&self) -> String {
        let value = serde_json::to_value(self).expect("policy serialises");
        hex(&Sha256::digest(canonical_json(&value).as_bytes()))
    }
}

/// Compact JSON with object keys sorted (serde_json's map is ordered by key
/// unless `preserve_order` is on, which this crate never enables).
pub fn canonical_json(value: &serde_json::Value) -> String {
    value.to_string()
}

pub(crate) fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        s.push(DIGITS[(b >> 4) as usize] as char);
        s.push(DIGITS[(b & 15) as usize] as char);
    }
    s
}

/// A policy that cannot be loaded, with where and why.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PolicyError {
    /// Dotted JSON path (`tools.allow[2].args.url`), empty for the whole document.
    pub path: String,
    /// 1-based line and column in the policy text, 0 when unknown.
    pub line: usize,
    pub column: usize,
    pub reason: String,
}

impl fmt::Display for PolicyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.line > 0 {
            write!(f, "{}:{}: ", self.line, self.column)?;
        }
        if !self.path.is_empty() {
            write!(f, "{}: ", self.path)?;
        }
        f.write_str(&self.reason)
    }
}

impl std::error::Error for PolicyError {}

/// serde_json appends " at line L column C" to its messages; we report the
/// position separately (and more precisely for semantic errors).
fn strip_position(msg: &str) -> String {
    match msg.rfind(" at line ") {
        Some(i) => msg[..i].to_string(),
        None => msg.to_string(),
    }
}

/// Finds the 1-based line and column of the value at a dotted path
/// (`a.b[3].c`) in JSON text. serde_json keeps no spans, so this walks the
/// text with a small tokenizer; it only has to handle text that parsed.
pub fn locate(text: &str, path: &str) -> Option<(usize, usize)> {
    let steps = parse_path(path)?;
    let bytes = text.as_bytes();
    let mut pos = 0;
    for step in &steps {
        pos = skip_ws(bytes, pos);
        match (step, bytes.get(pos)) {
            (Step::Key(k), Some(b'{')) => pos = find_key(bytes, pos, k)?,
            (Step::Index(i), Some(b'[')) => pos = find_index(bytes, pos, *i)?,
            _ => return None,
        }
    }
    pos = skip_ws(bytes, pos);
    let before = &text[..pos.min(text.len())];
    let line = before.matches('\n').count() + 1;
    let column = before.len() - before.rfind('\n').map(|i| i + 1).unwrap_or(0) + 1;
    Some((line, column))
}

enum Step {
    Key(String),
    Index(usize),
}

fn parse_path(path: &str) -> Option<Vec<Step>> {
    let mut steps = Vec::new();
    for part in path.split('.').filter(|p| !p.is_empty()) {
        let (key, mut rest) = match part.find('[') {
            Some(i) => (&part[..i], &part[i..]),
            None => (part, ""),
        };
        if !key.is_empty() {
            steps.push(Step::Key(key.to_string()));
        }
        while let Some(stripped) = rest.strip_prefix('[') {
            let end = stripped.find(']')?;
            steps.push(Step::Index(stripped[..end].parse().ok()?));
            rest = &stripped[end + 1..];
        }
    }
    Some(steps)
}

fn skip_ws(b: &[u8], mut i: usize) -> usize {
    while i < b.len() && matches!(b[i], b' ' | b'\t' | b'\n' | b'\r') {
        i += 1;
    }
    i
}

/// Index just past the end of the JSON value starting at `i`.
fn skip_value(b: &[u8], i: usize) -> Option<usize> {
    let i = skip_ws(b, i);
    match *b.get(i)? {
        b'"' => skip_string(b, i),
        open @ (b'{' | b'[') => {
            let close = if open == b'{' { b'}' } else { b']' };
            let mut j = i + 1;
            loop {
                j = skip_ws(b, j);
                match *b.get(j)? {
                    c if c == close => return Some(j + 1),
                    b',' | b':' => j += 1,
                    _ => j = skip_value(b, j)?,
                }
            }
        }
        _ => {
            let mut j = i;
            while j < b.len() && !matches!(b[j], b',' | b'}' | b']' | b' ' | b'\t' | b'\n' | b'\r') {
                j += 1;
            }
            // A closing bracket of the wrong kind (`[}`) is no value: stop
            // rather than loop without moving (found by `fuzz/policy`).
            (j > i).then_some(j)
        }
    }
}

fn skip_string(b: &[u8], i: usize) -> Option<usize> {
    let mut j = i + 1;
    while j < b.len() {
        match b[j] {
            b'\\' => j += 2,
            b'"' => return Some(j + 1),
            _ => j += 1,
        }
    }
    None
}

fn find_key(b: &[u8], open: usize, key: &str) -> Option<usize> {
    let mut j = open + 1;
    loop {
        j = skip_ws(b, j);
        match *b.get(j)? {
            b'}' => return None,
            b',' => j += 1,
            b'"' => {
                let end = skip_string(b, j)?;
                let name: String = serde_json::from_slice(&b[j..end]).ok()?;
                j = skip_ws(b, end);
                if b.get(j) != Some(&b':') {
                    return None;
                }
                j = skip_ws(b, j + 1);
                if name == key {
                    return Some(j);
                }
                j = skip_value(b, j)?;
            }
            _ => return None,
        }
    }
}

fn find_index(b: &[u8], open: usize, index: usize) -> Option<usize> {
    let mut j = open + 1;
    let mut n = 0;
    loop {
        j = skip_ws(b, j);
        match *b.get(j)? {
            b']' => return None,
            b',' => j += 1,
            _ => {
                if n == index {
                    return Some(j);
                }
                j = skip_value(b, j)?;
                n += 1;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_policy_is_secure() {
        let p = Policy::from_json(b"{}").unwrap();
        assert_eq!(p.mode, Mode::Enforce);
        assert_eq!(p.on_malformed, Action::Block);
        assert_eq!(p.limits.on_oversize, Action::Block);
        assert!(p.injection.enabled && p.secrets.enabled);
    }

    #[test]
    fn unknown_field_names_its_path_and_line() {
        let text = "{\n  \"limits\": {\n    \"max_request_byte\": 10\n  }\n}";
        let e = Policy::from_json(text.as_bytes()).unwrap_err();
        assert_eq!(e.path, "limits.max_request_byte");
        assert!(e.reason.contains("unknown field `max_request_byte`"), "{e}");
        assert_eq!(e.line, 3, "{e}");
    }

    #[test]
    fn semantic_error_points_at_value() {
        let text = "{\n \"limits\": {\"max_request_bytes\": 0}\n}";
        let e = Policy::from_json(text.as_bytes()).unwrap_err();
        assert_eq!(e.path, "limits.max_request_bytes");
        assert_eq!((e.line, e.column), (2, 34), "{e}");
    }

    #[test]
    fn syntax_error_has_position() {
        let e = Policy::from_json(b"{\n  \"mode\": \"enforce\",\n}").unwrap_err();
        assert_eq!(e.line, 3, "{e}");
    }

    #[test]
    fn locate_stops_on_mismatched_brackets() {
        // Found by fuzz/policy: `[}` used to spin forever.
        assert_eq!(locate(r#"{"a": [}], "b": 1}"#, "b"), None);
        // An unknown key with a dot sends `locate` over the broken value.
        let e = Policy::from_json(br#"{"mode": "monitor", "tools.x": {"allow": ["s": }}"#).unwrap_err();
        assert!(e.reason.contains("unknown field"), "{e}");
    }

    #[test]
    fn locate_walks_arrays() {
        let text = r#"{"a": [1, {"b": [true, "x"]}]}"#;
        assert_eq!(locate(text, "a[1].b[1]"), Some((1, 24)));
    }

    #[test]
    fn digest_ignores_formatting() {
        let a = Policy::from_json(b"{\"mode\":\"monitor\"}").unwrap();
        let b = Policy::from_json(b"{\n  \"mode\" : \"monitor\"\n}").unwrap();
        assert_eq!(a.digest(), b.digest());
        assert_ne!(a.digest(), Policy::default().digest());
    }
}
