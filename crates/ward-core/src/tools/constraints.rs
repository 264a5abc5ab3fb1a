//! Argument constraints: what a tool's arguments may contain.
//!
//! A tool whose definition lists no `args` takes any arguments. Once `args`
//! is written, the arguments must be a JSON object, every listed rule must
//! hold, and arguments the policy does not list are refused unless
//! `allow_other_args` is set: least privilege means an unexpected argument
//! is a reason to stop, not to guess.

use std::collections::BTreeMap;

use regex_lite::Regex;
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// JSON types an argument may be required to have.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ArgType {
    String,
    Number,
    Integer,
    Boolean,
    Array,
    Object,
}

impl ArgType {
    fn as_str(self) -> &'static str {
        match self {
            ArgType::String => "string",
            ArgType::Number => "number",
            ArgType::Integer => "integer",
            ArgType::Boolean => "boolean",
            ArgType::Array => "array",
            ArgType::Object => "object",
        }
    }

    fn admits(self, v: &Value) -> bool {
        match self {
            ArgType::String => v.is_string(),
            ArgType::Number => v.is_number(),
            // JSON has one number type; 3.0 is an integer as JSON Schema counts.
            ArgType::Integer => v.is_i64() || v.is_u64() || v.as_f64().is_some_and(|f| f.fract() == 0.0),
            ArgType::Boolean => v.is_boolean(),
            ArgType::Array => v.is_array(),
            ArgType::Object => v.is_object(),
        }
    }
}

/// The rule for one argument, as written in the policy.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ArgRule {
    #[serde(rename = "type")]
    pub kind: Option<ArgType>,
    /// The argument must be present.
    pub required: bool,
    /// The value must equal one of these.
    #[serde(rename = "enum")]
    pub one_of: Option<Vec<Value>>,
    /// Regular expression (regex-lite syntax) a string must match somewhere;
    /// anchor it with `^…$` to match the whole string, as in JSON Schema.
    pub pattern: Option<String>,
    /// Longest string (in characters) or array (in items).
    pub max_length: Option<usize>,
    /// Inclusive numeric range.
    pub min: Option<f64>,
    pub max: Option<f64>,
    /// The string must be an http(s) URL whose host is one of these
    /// (`*.example.com` admits subdomains, not the apex).
    pub url_hosts: Option<Vec<String>>,
    /// The string must be an http(s) URL whose path starts with one of
    /// these, on a segment boundary (`/docs` admits `/docs/a`, not `/docsx`).
    pub url_path_prefixes: Option<Vec<String>>,
}

impl ArgRule {
    fn is_url(&self) -> bool {
        self.url_hosts.is_some() || self.url_path_prefixes.is_some()
    }

    /// Checks what serde cannot; the path is relative to the rule.
    pub(crate) fn validate(&self) -> Result<(), (String, String)> {
        let stringy = self.pattern.is_some() || self.is_url();
        if let Some(kind) = self.kind {
            if stringy && kind != ArgType::String {
                return Err(("type".into(), format!("`pattern` and `url_*` rules need type string, not {}", kind.as_str())));
            }
            if (self.min.is_some() || self.max.is_some()) && !matches!(kind, ArgType::Number | ArgType::Integer) {
                return Err(("type".into(), format!("`min`/`max` need type number or integer, not {}", kind.as_str())));
            }
            if self.max_length.is_some() && !matches!(kind, ArgType::String | ArgType::Array) {
                return Err(("type".into(), format!("`max_length` needs type string or array, not {}", kind.as_str())));
            }
        }
        if let Some(p) = &self.pattern {
            if let Err(e) = Regex::new(p) {
                return Err(("pattern".into(), format!("invalid pattern: {e}")));
            }
        }
        if let (Some(lo), Some(hi)) = (self.min, self.max) {
            if lo > hi {
                return Err(("min".into(), format!("min {lo} is greater than max {hi}")));
            }
        }
        if let Some(values) = &self.one_of {
            if values.is_empty() {
                return Err(("enum".into(), "empty enum admits nothing; drop the tool instead".into()));
            }
        }
        for (i, h) in self.url_hosts.iter().flatten().enumerate() {
            if !valid_host_rule(h) {
                return Err((format!("url_hosts[{i}]"), format!("`{h}` is not a host name (lower-case letters, digits, `-` and `.`, optionally `*.` in front; no scheme, port or path)")));
            }
        }
        for (i, p) in self.url_path_prefixes.iter().flatten().enumerate() {
            if !p.starts_with('/') {
                return Err((format!("url_path_prefixes[{i}]"), format!("`{p}` must start with `/`")));
            }
        }
        Ok(())
    }
}

fn valid_host_rule(h: &str) -> bool {
    let name = h.strip_prefix("*.").unwrap_or(h);
    !name.is_empty()
        && name.len() <= 253
        && name.split('.').all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && !label.starts_with('-')
                && !label.ends_with('-')
                && label.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        })
}

/// A tool's argument rules, compiled.
#[derive(Clone, Debug)]
pub(crate) struct Args {
    rules: Vec<(String, ArgRule, Option<Regex>)>,
    allow_other: bool,
}

impl Args {
    /// A pattern that fails to compile (only possible for a policy that
    /// skipped validation) yields a rule that admits nothing.
    pub(crate) fn new(rules: &BTreeMap<String, ArgRule>, allow_other: bool) -> Args {
        let rules = rules.iter().map(|(name, r)| (name.clone(), r.clone(), r.pattern.as_deref().map(Regex::new).and_then(Result::ok))).collect();
        Args { rules, allow_other }
    }

    /// `Ok` when the arguments satisfy every rule, else the first broken
    /// rule in words the agent can act on. Arguments arrive either as a JSON
    /// object (Anthropic, MCP) or as a string holding one (OpenAI).
    pub(crate) fn check(&self, args: Option<&Value>) -> Result<(), String> {
        let parsed;
        let object = match args {
            None | Some(Value::Null) => None,
            Some(Value::Object(o)) => Some(o),
            Some(Value::String(s)) if s.trim().is_empty() => None,
            Some(Value::String(s)) => match serde_json::from_str::<Value>(s) {
                Ok(Value::Object(o)) => {
                    parsed = o;
                    Some(&parsed)
                }
                Ok(_) => return Err("arguments are not a JSON object".into()),
                Err(_) => return Err("arguments are not valid JSON".into()),
            },
            Some(_) => return Err("arguments are not a JSON object".into()),
        };
        let empty = serde_json::Map::new();
        let object = object.unwrap_or(&empty);
        if !self.allow_other {
            if let Some(extra) = object.keys().find(|k| !self.rules.iter().any(|(name, _, _)| name == *k)) {
                return Err(format!("argument `{}` is not allowed by policy", printable(extra)));
            }
        }
        for (name, rule, regex) in &self.rules {
            match object.get(name) {
                None => {
                    if rule.required {
                        return Err(format!("argument `{name}` is required"));
                    }
                }
                Some(v) => check_value(rule, regex.as_ref(), v).map_err(|why| format!("argument `{name}` {why}"))?,
            }
        }
        Ok(())
    }
}

fn check_value(rule: &ArgRule, regex: Option<&Regex>, v: &Value) -> Result<(), String> {
    if let Some(kind) = rule.kind {
        if !kind.admits(v) {
            return Err(format!("must be of type {}", kind.as_str()));
        }
    }
    if let Some(values) = &rule.one_of {
        if !values.contains(v) {
            return Err(format!("must be one of {}", Value::Array(values.clone())));
        }
    }
    if let Some(max) = rule.max_length {
        let len = match v {
            Value::String(s) => Some(s.chars().count()),
            Value::Array(a) => Some(a.len()),
            _ => None,
        };
        if len.is_some_and(|n| n > max) {
            return Err(format!("is longer than {max}"));
        }
    }
    if rule.min.is_some() || rule.max.is_some() {
        let Some(n) = v.as_f64() else { return Err("must be a number".into()) };
        if rule.min.is_some_and(|lo| n < lo) || rule.max.is_some_and(|hi| n > hi) {
            return Err(format!("must be within [{}, {}]", bound(rule.min), bound(rule.max)));
        }
    }
    if rule.pattern.is_some() {
        let Some(s) = v.as_str() else { return Err("must be a string".into()) };
        if !regex.is_some_and(|r| r.is_match(s)) {
            return Err(format!("does not match the pattern `{}`", rule.pattern.as_deref().unwrap_or("")));
        }
    }
    if rule.is_url() {
        let Some(s) = v.as_str() else { return Err("must be a URL string".into()) };
        check_url(rule, s)?;
    }
    Ok(())
}

fn bound(b: Option<f64>) -> String {
    b.map(|x| x.to_string()).unwrap_or_else(|| "…".into())
}

/// Parses like a browser (WHATWG), so `https://ok.example@evil.test/`,
/// backslashes and dot segments mean what the tool's HTTP client will
/// take them to mean, not what a naive prefix check would.
fn check_url(rule: &ArgRule, s: &str) -> Result<(), String> {
    let Ok(url) = url::Url::parse(s) else { return Err("is not a valid absolute URL".into()) };
    if !matches!(url.scheme(), "http" | "https") {
        return Err(format!("has scheme `{}`; only http and https are allowed", url.scheme()));
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err("must not carry credentials".into());
    }
    let host = url.host_str().unwrap_or("").trim_end_matches('.').to_ascii_lowercase();
    if let Some(hosts) = &rule.url_hosts {
        let ok = hosts.iter().any(|h| match h.strip_prefix("*.") {
            Some(base) => host.len() > base.len() + 1 && host.ends_with(base) && host.as_bytes()[host.len() - base.len() - 1] == b'.',
            None => host == *h,
        });
        if !ok {
            return Err(format!("has host `{host}`, which is not allowed"));
        }
    }
    if let Some(prefixes) = &rule.url_path_prefixes {
        let path = url.path();
        let ok = prefixes.iter().any(|p| path == p || path.starts_with(p.as_str()) && (p.ends_with('/') || path[p.len()..].starts_with('/')));
        if !ok {
            return Err(format!("has path `{path}`, which is not under an allowed prefix"));
        }
    }
    Ok(())
}

/// Names from the wire go into messages; keep them short and visible.
pub(crate) fn printable(s: &str) -> String {
    let mut out: String = s.chars().filter(|c| !c.is_control()).take(64).collect();
    if s.chars().count() > 64 {
        out.push('…');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn args(rules: Value, allow_other: bool) -> Args {
        let rules: BTreeMap<String, ArgRule> = serde_json::from_value(rules).unwrap();
        for r in rules.values() {
            r.validate().unwrap();
        }
        Args::new(&rules, allow_other)
    }

    #[test]
    fn types_enums_lengths_ranges() {
        let a = args(json!({"n": {"type": "integer", "min": 1, "max": 10}, "mode": {"enum": ["fast", "slow"]}, "q": {"type": "string", "max_length": 5, "required": true}}), false);
        assert_eq!(a.check(Some(&json!({"q": "abc", "n": 3, "mode": "fast"}))), Ok(()));
        assert_eq!(a.check(Some(&json!({"q": "abc", "n": 3.0}))), Ok(()));
        assert!(a.check(Some(&json!({"q": "abc", "n": 3.5}))).unwrap_err().contains("type integer"));
        assert!(a.check(Some(&json!({"q": "abc", "n": 11}))).unwrap_err().contains("within [1, 10]"));
        assert!(a.check(Some(&json!({"q": "abc", "n": 0}))).is_err());
        assert!(a.check(Some(&json!({"q": "abcdef"}))).unwrap_err().contains("longer than 5"));
        // Five characters, more than five bytes.
        assert_eq!(a.check(Some(&json!({"q": "ééééé"}))), Ok(()));
        assert!(a.check(Some(&json!({"q": "a", "mode": "turbo"}))).unwrap_err().contains("one of"));
        assert_eq!(a.check(Some(&json!({}))).unwrap_err(), "argument `q` is required");
        assert_eq!(a.check(None).unwrap_err(), "argument `q` is required");
    }

    #[test]
    fn unlisted_arguments_are_refused_unless_allowed() {
        let strict = args(json!({"q": {"type": "string"}}), false);
        assert_eq!(strict.check(Some(&json!({"q": "x", "cc": "boss@corp"}))).unwrap_err(), "argument `cc` is not allowed by policy");
        let loose = args(json!({"q": {"type": "string"}}), true);
        assert_eq!(loose.check(Some(&json!({"q": "x", "cc": "boss@corp"}))), Ok(()));
    }

    #[test]
    fn string_arguments_are_parsed() {
        let a = args(json!({"q": {"pattern": "^[a-z]+$"}}), false);
        assert_eq!(a.check(Some(&json!("{\"q\":\"abc\"}"))), Ok(()));
        assert!(a.check(Some(&json!("{\"q\":\"ABC\"}"))).unwrap_err().contains("pattern"));
        assert_eq!(a.check(Some(&json!("{\"q\":"))).unwrap_err(), "arguments are not valid JSON");
        assert_eq!(a.check(Some(&json!("[1]"))).unwrap_err(), "arguments are not a JSON object");
        assert_eq!(a.check(Some(&json!(""))), Ok(()));
    }

    #[test]
    fn urls_are_parsed_not_prefix_matched() {
        let a = args(json!({"url": {"type": "string", "url_hosts": ["docs.example.com", "*.cdn.example.com"], "url_path_prefixes": ["/guide"]}}), false);
        let ok = |u: &str| a.check(Some(&json!({ "url": u })));
        assert_eq!(ok("https://docs.example.com/guide"), Ok(()));
        assert_eq!(ok("https://DOCS.example.com./guide/intro?x=1"), Ok(()));
        assert_eq!(ok("https://a.cdn.example.com/guide/x"), Ok(()));
        assert!(ok("https://cdn.example.com/guide").is_err(), "wildcard admits subdomains only");
        assert!(ok("https://docs.example.com.evil.test/guide").is_err());
        assert!(ok("https://docs.example.com@evil.test/guide").is_err());
        assert!(ok("https://evil.test\\@docs.example.com/guide").is_err());
        assert!(ok("https://docs.example.com/guidebook").is_err());
        assert!(ok("https://docs.example.com/guide/../admin").unwrap_err().contains("/admin"));
        assert!(ok("https://docs.example.com/guide/%2e%2e/admin").is_err());
        assert!(ok("file:///etc/passwd").unwrap_err().contains("scheme"));
        assert!(ok("docs.example.com/guide").is_err());
        assert!(a.check(Some(&json!({"url": 5}))).is_err());
    }

    #[test]
    fn validation_names_the_field() {
        let bad = |v: Value| serde_json::from_value::<ArgRule>(v).unwrap().validate().unwrap_err();
        assert_eq!(bad(json!({"pattern": "(unclosed"})).0, "pattern");
        assert_eq!(bad(json!({"url_hosts": ["ok.example", "https://x.example"]})).0, "url_hosts[1]");
        assert_eq!(bad(json!({"url_hosts": ["Upper.Example"]})).0, "url_hosts[0]");
        assert_eq!(bad(json!({"url_path_prefixes": ["docs"]})).0, "url_path_prefixes[0]");
        assert_eq!(bad(json!({"type": "boolean", "pattern": "x"})).0, "type");
        assert_eq!(bad(json!({"min": 5, "max": 1})).0, "min");
        assert_eq!(bad(json!({"enum": []})).0, "enum");
    }
}
