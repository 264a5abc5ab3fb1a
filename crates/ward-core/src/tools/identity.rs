//! Who is calling: the agent, its task and its session, from sources the
//! policy names. The host reads the raw facts (a header, the payload Envoy's
//! `jwt_authn` filter verified, the mTLS peer's URI SAN); the rules that
//! turn them into an identity live here so every host resolves alike.

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// Longest identity value accepted; anything longer is treated as absent.
pub const MAX_IDENTITY_LEN: usize = 256;

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    pub agent: Option<Source>,
    pub task: Option<Source>,
    /// Key for flow rules and budgets. Default: the `mcp-session-id` header.
    pub session: Option<Source>,
    /// Refuse requests whose agent cannot be resolved.
    pub required: bool,
}

impl Default for Config {
    fn default() -> Config {
        Config { agent: None, task: None, session: Some(Source::Header("mcp-session-id".into())), required: false }
    }
}

/// Where one identity value comes from.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum Source {
    /// A request header (name case-insensitive). Only as trustworthy as
    /// whatever sets or strips the header in front of Ward.
    Header(String),
    /// A claim of a JWT that Envoy's `jwt_authn` filter verified.
    JwtClaim(JwtClaim),
    /// The mTLS peer certificate's SPIFFE id (URI SAN).
    Spiffe(Spiffe),
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JwtClaim {
    /// The `payload_in_metadata` name of the jwt_authn provider: the key
    /// under which Envoy stores the verified payload.
    pub payload_in_metadata: String,
    /// Claim name; a top-level key first, else a dotted path into nested
    /// objects (`realm.agent`).
    pub claim: String,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Spiffe {
    /// Accept only ids of this trust domain.
    pub trust_domain: Option<String>,
}

/// What the host can tell about the request. Each method is asked only when
/// the policy uses that source.
pub trait Facts {
    /// A request header's value.
    fn header(&self, name: &str) -> Option<String>;
    /// The verified JWT payload jwt_authn stored under `payload_in_metadata`
    /// (`metadata.filter_metadata["envoy.filters.http.jwt_authn"][key]`).
    fn jwt_payload(&self, payload_in_metadata: &str) -> Option<Value>;
    /// The peer certificate's URI SAN (`connection.uri_san_peer_certificate`).
    fn peer_uri_san(&self) -> Option<String>;
}

/// The resolved identity, ready for [`crate::Envelope`].
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Identity {
    pub agent: Option<String>,
    pub task: Option<String>,
    pub session: Option<String>,
}

impl Config {
    pub fn resolve(&self, facts: &dyn Facts) -> Identity {
        let get = |s: &Option<Source>| s.as_ref().and_then(|s| s.resolve(facts));
        Identity { agent: get(&self.agent), task: get(&self.task), session: get(&self.session) }
    }

    /// Why a request without an agent is refused, naming the source.
    pub fn missing_reason(&self) -> String {
        match &self.agent {
            None => "no agent identity (the policy requires one but names no source)".into(),
            Some(s) => format!("no agent identity: {}", s.describe()),
        }
    }

    pub(crate) fn validate(&self) -> Result<(), (String, String)> {
        if self.required && self.agent.is_none() {
            return Err(("required".into(), "an identity is required but `agent` names no source".into()));
        }
        for (field, s) in [("agent", &self.agent), ("task", &self.task), ("session", &self.session)] {
            let Some(s) = s else { continue };
            match s {
                Source::Header(h) if !valid_header_name(h) => return Err((format!("{field}.header"), format!("`{h}` is not a header name"))),
                Source::JwtClaim(c) if c.payload_in_metadata.trim().is_empty() => return Err((format!("{field}.jwt_claim.payload_in_metadata"), "empty".into())),
                Source::JwtClaim(c) if c.claim.trim().is_empty() => return Err((format!("{field}.jwt_claim.claim"), "empty".into())),
                Source::Spiffe(Spiffe { trust_domain: Some(td) }) if td.is_empty() || td.contains('/') || td.contains(':') => {
                    return Err((format!("{field}.spiffe.trust_domain"), format!("`{td}` is not a trust domain (no scheme or path)")));
                }
                _ => {}
            }
        }
        Ok(())
    }
}

fn valid_header_name(h: &str) -> bool {
    !h.is_empty() && h.bytes().all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b))
}

impl Source {
    pub fn resolve(&self, facts: &dyn Facts) -> Option<String> {
        let raw = match self {
            Source::Header(name) => facts.header(&name.to_ascii_lowercase())?,
            Source::JwtClaim(c) => claim(&facts.jwt_payload(&c.payload_in_metadata)?, &c.claim)?,
            Source::Spiffe(s) => spiffe_id(&facts.peer_uri_san()?, s.trust_domain.as_deref())?,
        };
        clean(&raw)
    }

    fn describe(&self) -> String {
        match self {
            Source::Header(h) => format!("header `{h}` is missing or empty"),
            Source::JwtClaim(c) => format!("no verified JWT with claim `{}` (jwt_authn payload `{}`)", c.claim, c.payload_in_metadata),
            Source::Spiffe(_) => "no SPIFFE id in the peer certificate".into(),
        }
    }
}

fn claim(payload: &Value, name: &str) -> Option<String> {
    let v = payload.get(name).or_else(|| name.split('.').try_fold(payload, |v, k| v.get(k)))?;
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

fn spiffe_id(san: &str, trust_domain: Option<&str>) -> Option<String> {
    let rest = san.trim().strip_prefix("spiffe://")?;
    let domain = rest.split('/').next().unwrap_or("");
    if domain.is_empty() || trust_domain.is_some_and(|td| !domain.eq_ignore_ascii_case(td)) {
        return None;
    }
    Some(san.trim().to_string())
}

/// Identities become policy keys and audit fields: blank, over-long or
/// control-character values count as absent rather than being trimmed into
/// something that might collide with a real name.
fn clean(raw: &str) -> Option<String> {
    let v = raw.trim();
    (!v.is_empty() && v.len() <= MAX_IDENTITY_LEN && !v.chars().any(char::is_control)).then(|| v.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[derive(Default)]
    struct Host {
        headers: Vec<(&'static str, &'static str)>,
        jwt: Option<Value>,
        san: Option<&'static str>,
    }

    impl Facts for Host {
        fn header(&self, name: &str) -> Option<String> {
            self.headers.iter().find(|(k, _)| *k == name).map(|(_, v)| v.to_string())
        }
        fn jwt_payload(&self, key: &str) -> Option<Value> {
            (key == "verified").then(|| self.jwt.clone()).flatten()
        }
        fn peer_uri_san(&self) -> Option<String> {
            self.san.map(str::to_string)
        }
    }

    fn config(v: Value) -> Config {
        let c: Config = serde_json::from_value(v).unwrap();
        c.validate().unwrap();
        c
    }

    #[test]
    fn header_sources_and_default_session() {
        let c = config(json!({"agent": {"header": "X-Ward-Agent"}, "task": {"header": "x-ward-task"}}));
        let host = Host { headers: vec![("x-ward-agent", " support-bot "), ("mcp-session-id", "s-1")], ..Host::default() };
        assert_eq!(c.resolve(&host), Identity { agent: Some("support-bot".into()), task: None, session: Some("s-1".into()) });
        let blank = Host { headers: vec![("x-ward-agent", "  ")], ..Host::default() };
        assert_eq!(c.resolve(&blank).agent, None);
        let long = "a".repeat(MAX_IDENTITY_LEN + 1);
        let leaked: &'static str = Box::leak(long.into_boxed_str());
        assert_eq!(c.resolve(&Host { headers: vec![("x-ward-agent", leaked)], ..Host::default() }).agent, None);
        assert_eq!(c.resolve(&Host { headers: vec![("x-ward-agent", "a\u{7}b")], ..Host::default() }).agent, None);
    }

    #[test]
    fn jwt_claims_top_level_then_nested() {
        let c = config(json!({"agent": {"jwt_claim": {"payload_in_metadata": "verified", "claim": "sub"}},
                              "task": {"jwt_claim": {"payload_in_metadata": "verified", "claim": "ward.task"}}}));
        let host = Host { jwt: Some(json!({"sub": "support-bot", "ward": {"task": "triage"}})), ..Host::default() };
        assert_eq!(c.resolve(&host).agent.as_deref(), Some("support-bot"));
        assert_eq!(c.resolve(&host).task.as_deref(), Some("triage"));
        let dotted = Host { jwt: Some(json!({"ward.task": "flat", "ward": {"task": "nested"}})), ..Host::default() };
        assert_eq!(c.resolve(&dotted).task.as_deref(), Some("flat"));
        assert_eq!(c.resolve(&Host::default()).agent, None, "no verified token, no agent");
        let not_string = Host { jwt: Some(json!({"sub": {"x": 1}})), ..Host::default() };
        assert_eq!(c.resolve(&not_string).agent, None);
        // A header cannot stand in for the claim.
        let spoof = Host { headers: vec![("sub", "admin")], ..Host::default() };
        assert_eq!(c.resolve(&spoof).agent, None);
    }

    #[test]
    fn spiffe_ids_with_trust_domain() {
        let c = config(json!({"agent": {"spiffe": {"trust_domain": "ward.test"}}}));
        let ok = Host { san: Some("spiffe://ward.test/agent/support-bot"), ..Host::default() };
        assert_eq!(c.resolve(&ok).agent.as_deref(), Some("spiffe://ward.test/agent/support-bot"));
        let other = Host { san: Some("spiffe://evil.test/agent/support-bot"), ..Host::default() };
        assert_eq!(c.resolve(&other).agent, None);
        let not_spiffe = Host { san: Some("https://ward.test/agent"), ..Host::default() };
        assert_eq!(c.resolve(&not_spiffe).agent, None);
        let any = config(json!({"agent": {"spiffe": {}}}));
        assert_eq!(any.resolve(&other).agent.as_deref(), Some("spiffe://evil.test/agent/support-bot"));
    }

    #[test]
    fn validation() {
        let bad = |v: Value| serde_json::from_value::<Config>(v).unwrap().validate().unwrap_err().0;
        assert_eq!(bad(json!({"required": true})), "required");
        assert_eq!(bad(json!({"agent": {"header": "bad header"}})), "agent.header");
        assert_eq!(bad(json!({"task": {"jwt_claim": {"payload_in_metadata": "p", "claim": ""}}})), "task.jwt_claim.claim");
        assert_eq!(bad(json!({"agent": {"spiffe": {"trust_domain": "spiffe://x"}}})), "agent.spiffe.trust_domain");
        assert!(config(json!({"required": true, "agent": {"header": "x"}})).missing_reason().contains("header `x`"));
    }
}
