//! Audit events and the hash chain that makes the trail tamper-evident.
//!
//! Every decision yields one [`AuditEvent`]. A host seals events through an
//! [`AuditChain`] (one per proxy VM or worker): each sealed event carries its
//! sequence number, the hash of the previous event and its own hash, so an
//! edit, a deletion or a reordering breaks the chain at that event.

use serde::{Deserialize, Serialize};
use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::finding::{Action, Finding};
use crate::policy::{canonical_json, hex};
use crate::wire::{Api, Direction};

pub mod outbox;

/// Version of the event schema (docs/audit.md).
pub const SCHEMA_VERSION: u32 = 1;

/// The hash a chain's first event points back to.
pub const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct AuditEvent {
    pub v: u32,
    /// Milliseconds since the Unix epoch, as the host's clock gave it.
    pub time_ms: u64,
    pub request_id: String,
    pub api: Option<Api>,
    pub direction: Option<Direction>,
    /// Request path (route) the exchange went to.
    pub route: String,
    /// Upstream authority or cluster, when the host knows it.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub upstream: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub agent: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub task: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub session: Option<String>,
    /// The strongest action taken.
    pub action: Action,
    /// HTTP status Ward answered with, when it answered (block).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<u16>,
    pub findings: Vec<AuditFinding>,
    /// Bytes inspected.
    pub bytes: u64,
    pub policy_digest: String,
    pub ward_version: String,
    /// Events this chain's host had to drop before this one (queue
    /// overflow). Non-zero means loss, and it is never silent.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub dropped: u64,
    /// Model the body names (`model`), when it names one: the SBOM's
    /// "observed" models and the report's affected components.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model: Option<String>,
    /// Tools declared or called in the body, allowed or not, deduplicated.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tools: Vec<String>,
    // Chain fields, set by `AuditChain::seal`.
    #[serde(default)]
    pub chain: String,
    #[serde(default)]
    pub seq: u64,
    #[serde(default)]
    pub prev: String,
    #[serde(default)]
    pub hash: String,
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

/// A finding as the trail records it: no matched text, only its digest.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AuditFinding {
    pub detector: crate::DetectorKind,
    pub rule: String,
    pub origin: crate::Origin,
    pub path: String,
    pub action: Action,
    pub score: f32,
    pub content_sha256: String,
}

impl From<&Finding> for AuditFinding {
    fn from(f: &Finding) -> AuditFinding {
        AuditFinding {
            detector: f.detector,
            rule: f.rule.clone(),
            origin: f.origin,
            path: f.path.clone(),
            action: f.action,
            score: f.score,
            content_sha256: f.content_sha256.clone(),
        }
    }
}

impl AuditEvent {
    /// The hash this event must carry: [`line_hash`] of its JSON line.
    ///
    /// Hashing what the line says (rather than the in-memory struct) makes
    /// the hash checkable from the line alone, by any JSON library, and
    /// keeps `f32` scores from hashing differently than they read back.
    pub fn compute_hash(&self) -> String {
        sha256_hex(&self.canonical())
    }

    /// What [`line_hash`] hashes for this event's line (sorted keys, no
    /// whitespace, no `hash`), written straight from the fields: the filter
    /// seals an event per request, and reading its own line back into a
    /// `Value` to sort it cost more than the hash. The destructuring has no
    /// `..`, so a new field does not compile until it is written here too.
    fn canonical(&self) -> Vec<u8> {
        let AuditEvent {
            v,
            time_ms,
            request_id,
            api,
            direction,
            route,
            upstream,
            agent,
            task,
            session,
            action,
            status,
            findings,
            bytes,
            policy_digest,
            ward_version,
            dropped,
            model,
            tools,
            chain,
            seq,
            prev,
            hash: _,
        } = self;
        // Keys in byte order; optional ones skipped as `Serialize` skips them.
        let mut out = Canonical::default();
        out.field("action", action);
        if let Some(agent) = agent {
            out.field("agent", agent);
        }
        out.field("api", api);
        out.field("bytes", bytes);
        out.field("chain", chain);
        out.field("direction", direction);
        if *dropped != 0 {
            out.field("dropped", dropped);
        }
        out.key("findings");
        out.bytes.push(b'[');
        for (i, f) in findings.iter().enumerate() {
            if i > 0 {
                out.bytes.push(b',');
            }
            f.canonical(&mut out.bytes);
        }
        out.bytes.push(b']');
        if let Some(model) = model {
            out.field("model", model);
        }
        out.field("policy_digest", policy_digest);
        out.field("prev", prev);
        out.field("request_id", request_id);
        out.field("route", route);
        out.field("seq", seq);
        if let Some(session) = session {
            out.field("session", session);
        }
        if let Some(status) = status {
            out.field("status", status);
        }
        if let Some(task) = task {
            out.field("task", task);
        }
        out.field("time_ms", time_ms);
        if !tools.is_empty() {
            out.field("tools", tools);
        }
        if !upstream.is_empty() {
            out.field("upstream", upstream);
        }
        out.field("v", v);
        out.field("ward_version", ward_version);
        out.finish()
    }

    /// Records what the body tells about the components in play: the model
    /// it names and the tools it declares or calls. Bounded, so a hostile
    /// body cannot inflate the trail.
    pub fn observe(&mut self, api: Api, direction: Direction, body: &Value) {
        self.model = crate::tools::wire::model(body).map(|m| bounded(m).to_string());
        for tool in crate::tools::wire::tool_uses(api, direction, body) {
            if self.tools.len() >= MAX_OBSERVED_TOOLS {
                break;
            }
            let name = bounded(&tool.name);
            if !self.tools.iter().any(|t| t == name) {
                self.tools.push(name.to_string());
            }
        }
    }

    /// One JSON line (no trailing newline).
    pub fn to_json_line(&self) -> String {
        serde_json::to_string(self).expect("audit event serialises")
    }
}

impl AuditFinding {
    /// This finding's object in [`AuditEvent::canonical`].
    fn canonical(&self, bytes: &mut Vec<u8>) {
        let AuditFinding { detector, rule, origin, path, action, score, content_sha256 } = self;
        let mut out = Canonical { bytes: std::mem::take(bytes), fields: 0 };
        out.field("action", action);
        out.field("content_sha256", content_sha256);
        out.field("detector", detector);
        out.field("origin", origin);
        out.field("path", path);
        out.field("rule", rule);
        // The line holds the f32's shortest digits and a reader takes them
        // back as an f64, which may print differently (`1e-6` against
        // `0.000001`): hash what that reader prints.
        let read_back = serde_json::to_string(score).ok().and_then(|s| serde_json::from_str::<Value>(&s).ok()).unwrap_or(Value::Null);
        out.field("score", &read_back);
        *bytes = out.finish();
    }
}

/// A compact JSON object written key by key (the caller keeps keys sorted).
#[derive(Default)]
struct Canonical {
    bytes: Vec<u8>,
    fields: usize,
}

impl Canonical {
    fn key(&mut self, key: &str) {
        self.bytes.push(if self.fields == 0 { b'{' } else { b',' });
        self.fields += 1;
        self.bytes.push(b'"');
        self.bytes.extend_from_slice(key.as_bytes());
        self.bytes.extend_from_slice(b"\":");
    }

    /// Every value here is a string, an integer, `null`, an array of
    /// strings or a `Value`: compact JSON that reads back as itself.
    fn field<T: Serialize + ?Sized>(&mut self, key: &str, value: &T) {
        self.key(key);
        let start = self.bytes.len();
        // Writing into a Vec fails only if `Serialize` does, which these
        // types never do; `null` keeps the object well formed regardless.
        if serde_json::to_writer(&mut self.bytes, value).is_err() {
            self.bytes.truncate(start);
            self.bytes.extend_from_slice(b"null");
        }
    }

    fn finish(mut self) -> Vec<u8> {
        if self.fields == 0 {
            self.bytes.push(b'{');
        }
        self.bytes.push(b'}');
        self.bytes
    }
}

/// Links events into one chain.
#[derive(Clone, Debug)]
pub struct AuditChain {
    id: String,
    next_seq: u64,
    last_hash: String,
}

impl AuditChain {
    /// `id` must be unique per chain (e.g. host + VM + worker + start time).
    pub fn new(id: impl Into<String>) -> AuditChain {
        AuditChain { id: id.into(), next_seq: 0, last_hash: GENESIS.to_string() }
    }

    pub fn id(&self) -> &str {
        &self.id
    }

    /// Stamps the chain fields on `event` and returns it sealed.
    ///
    /// ```
    /// use ward_core::audit::{AuditChain, AuditEvent};
    /// let mut chain = AuditChain::new("c1");
    /// let a = chain.seal(AuditEvent::default());
    /// let b = chain.seal(AuditEvent::default());
    /// assert_eq!((a.seq, b.seq), (0, 1));
    /// assert_eq!(b.prev, a.hash);
    /// assert_eq!(b.hash, b.compute_hash());
    /// ```
    pub fn seal(&mut self, mut event: AuditEvent) -> AuditEvent {
        event.chain = self.id.clone();
        event.seq = self.next_seq;
        event.prev = std::mem::take(&mut self.last_hash);
        event.hash = event.compute_hash();
        self.last_hash = event.hash.clone();
        self.next_seq += 1;
        event
    }

    /// [`AuditChain::seal`] with the sealed event's JSON line, for hosts
    /// that write or queue the line (serialised once).
    pub fn seal_line(&mut self, event: AuditEvent) -> (AuditEvent, String) {
        let sealed = self.seal(event);
        let line = sealed.to_json_line();
        (sealed, line)
    }
}

pub fn sha256_hex(bytes: &[u8]) -> String {
    hex(&Sha256::digest(bytes))
}

/// The hash an event line must carry: sha256 of the line's canonical JSON
/// (object keys sorted, no whitespace) with the top-level `hash` key
/// removed. Anything added to, removed from or changed in the line changes it.
pub fn line_hash(line: &Value) -> String {
    let mut value = line.clone();
    if let Some(obj) = value.as_object_mut() {
        obj.remove("hash");
    }
    sha256_hex(canonical_json(&value).as_bytes())
}

const MAX_OBSERVED_TOOLS: usize = 64;
const MAX_NAME_BYTES: usize = 256;

/// At most `MAX_NAME_BYTES` of `s`, cut on a character boundary.
fn bounded(s: &str) -> &str {
    let mut end = s.len().min(MAX_NAME_BYTES);
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn any_edit_changes_the_hash() {
        let mut chain = AuditChain::new("c");
        let e = chain.seal(AuditEvent { request_id: "r1".into(), ..Default::default() });
        let mut edited = e.clone();
        edited.request_id = "r2".into();
        assert_ne!(edited.compute_hash(), e.hash);
        let line = e.to_json_line();
        let back: AuditEvent = serde_json::from_str(&line).unwrap();
        assert_eq!(back.compute_hash(), e.hash);
    }

    #[test]
    fn the_hash_is_checkable_from_the_line_alone() {
        let finding = AuditFinding {
            detector: crate::DetectorKind::Injection,
            rule: "r".into(),
            origin: crate::Origin::ToolResult,
            path: "/p".into(),
            action: Action::Block,
            // Not exact in binary: must hash the same from struct and line.
            score: 0.9,
            content_sha256: sha256_hex(b"x"),
        };
        let mut chain = AuditChain::new("c");
        let e = chain.seal(AuditEvent { findings: vec![finding], request_id: "é\u{1}\"".into(), ..Default::default() });
        let value: Value = serde_json::from_str(&e.to_json_line()).unwrap();
        assert_eq!(line_hash(&value), e.hash);
        // The documented recipe: sorted keys, no whitespace, `hash` removed.
        let mut obj = value.as_object().unwrap().clone();
        obj.remove("hash");
        let mut keys: Vec<_> = obj.keys().cloned().collect();
        keys.sort();
        let canonical = format!(
            "{{{}}}",
            keys.iter().map(|k| format!("{}:{}", Value::from(k.as_str()), obj[k])).collect::<Vec<_>>().join(",")
        );
        assert_eq!(sha256_hex(canonical.as_bytes()), e.hash);
    }

    /// The hash written from the fields is the documented one (sorted keys
    /// of the line as read back), for events with every optional field set
    /// or not, odd strings and scores of every magnitude.
    #[test]
    fn the_fast_hash_is_the_line_hash() {
        struct Xorshift(u64);
        impl Xorshift {
            fn below(&mut self, n: u64) -> u64 {
                self.0 ^= self.0 << 13;
                self.0 ^= self.0 >> 7;
                self.0 ^= self.0 << 17;
                self.0 % n
            }
            fn pick<T: Copy>(&mut self, xs: &[T]) -> T {
                xs[self.below(xs.len() as u64) as usize]
            }
        }
        let mut r = Xorshift(0x2545_f491_4f6c_dd1d);
        let texts = ["", "r1", "é\u{1}\"\\/", "\u{7f}\u{2028}<>&'", "😀 \t\n", "~/a/b~1"];
        let scores = [0.0f32, 0.9, 1.0, 1e-6, 1e-7, 0.000_123_4, 123_456.78, 1e20, f32::MIN_POSITIVE, f32::NAN, f32::INFINITY, -0.0, 0.333_333_34];
        let actions = [Action::Allow, Action::Log, Action::Redact, Action::Block];
        for i in 0..2_000 {
            let findings = (0..r.below(3))
                .map(|_| AuditFinding {
                    detector: crate::DetectorKind::Pii,
                    rule: r.pick(&texts).into(),
                    origin: crate::Origin::Document,
                    path: r.pick(&texts).into(),
                    action: r.pick(&actions),
                    score: r.pick(&scores),
                    content_sha256: sha256_hex(b"x"),
                })
                .collect();
            let opt = |r: &mut Xorshift| (r.below(2) == 0).then(|| r.pick(&texts).to_string());
            let event = AuditEvent {
                v: SCHEMA_VERSION,
                time_ms: r.below(u64::MAX),
                request_id: r.pick(&texts).into(),
                api: r.pick(&[None, Some(Api::OpenaiChat), Some(Api::Mcp)]),
                direction: r.pick(&[None, Some(Direction::Request), Some(Direction::Response)]),
                route: r.pick(&texts).into(),
                upstream: r.pick(&texts).into(),
                agent: opt(&mut r),
                task: opt(&mut r),
                session: opt(&mut r),
                action: r.pick(&actions),
                status: r.pick(&[None, Some(403)]),
                findings,
                bytes: r.below(1 << 40),
                policy_digest: r.pick(&texts).into(),
                ward_version: r.pick(&texts).into(),
                dropped: r.below(2) * r.below(1000),
                model: opt(&mut r),
                tools: (0..r.below(3)).map(|_| r.pick(&texts).to_string()).collect(),
                ..AuditEvent::default()
            };
            let mut chain = AuditChain::new(texts[i % texts.len()]);
            for _ in 0..r.below(3) {
                chain.seal(AuditEvent::default());
            }
            let (sealed, line) = chain.seal_line(event);
            let value: Value = serde_json::from_str(&line).unwrap();
            assert_eq!(line_hash(&value), sealed.hash, "{line}");
            assert_eq!(line, sealed.to_json_line());
        }
    }

    #[test]
    fn observe_names_model_and_tools_within_bounds() {
        let many: Vec<Value> = (0..100).map(|i| serde_json::json!({"type":"function","function":{"name":format!("t{}", i % 70)}})).collect();
        let body = serde_json::json!({"model": "m".repeat(1000), "tools": many});
        let mut e = AuditEvent::default();
        e.observe(Api::OpenaiChat, Direction::Request, &body);
        assert_eq!(e.model.as_deref().map(str::len), Some(MAX_NAME_BYTES));
        assert_eq!(e.tools.len(), MAX_OBSERVED_TOOLS);
        assert_eq!(e.tools[1], "t1");
        let mut e = AuditEvent::default();
        e.observe(Api::OpenaiChat, Direction::Request, &serde_json::json!({"model": "é".repeat(200)}));
        assert!(e.model.unwrap().len() <= MAX_NAME_BYTES);
    }
}
