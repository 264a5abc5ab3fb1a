//! Secret detection.
//!
//! Each rule has a literal prefix (an aho-corasick keyword) and a pattern.
//! One automaton pass over the text finds candidate positions; only then is
//! the rule's regex run, on a small window from the hit. regex-lite is a
//! PikeVM (tens of MB/s), so running every pattern over a whole body would
//! dominate the request path.

use aho_corasick::{AhoCorasick, AhoCorasickKind, MatchKind};
use regex_lite::Regex;
use serde::{Deserialize, Serialize};

use crate::finding::{Action, DetectorKind, Finding};
use crate::segment::Segment;
use crate::wire::Direction;

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    pub enabled: bool,
    /// Secrets in traffic towards the provider (prompts, tool arguments).
    pub request: Action,
    /// Secrets in traffic back to the client (model output, tool results).
    pub response: Action,
    /// Rule ids to switch off.
    pub disable: Vec<String>,
}

impl Default for Config {
    fn default() -> Config {
        Config { enabled: true, request: Action::Block, response: Action::Redact, disable: Vec::new() }
    }
}

impl Config {
    pub(crate) fn validate(&self) -> Result<(), (String, String)> {
        for (i, id) in self.disable.iter().enumerate() {
            if !RULES.iter().any(|r| r.id == id) {
                return Err((format!("disable[{i}]"), format!("unknown secret rule `{id}`")));
            }
        }
        Ok(())
    }
}

struct Rule {
    id: &'static str,
    /// Literal that every match starts with (case-sensitive).
    prefix: &'static str,
    /// Anchored at the prefix hit.
    pattern: &'static str,
    label: &'static str,
}

/// Longest window a rule's regex looks at after its prefix hit.
const WINDOW: usize = 4096;

const RULES: &[Rule] = &[
    Rule { id: "secrets.anthropic_api_key", prefix: "sk-ant-", pattern: r"^sk-ant-(?:api|admin)\d{2}-[A-Za-z0-9_\-]{80,}", label: "ANTHROPIC_KEY" },
    Rule { id: "secrets.openai_api_key", prefix: "sk-", pattern: r"^sk-(?:proj-|svcacct-|admin-)?[A-Za-z0-9_\-]{20,}T3BlbkFJ[A-Za-z0-9_\-]{20,}", label: "OPENAI_KEY" },
    Rule { id: "secrets.aws_access_key_id", prefix: "AKIA", pattern: r"^AKIA[0-9A-Z]{16}\b", label: "AWS_KEY" },
    Rule { id: "secrets.github_token", prefix: "ghp_", pattern: r"^ghp_[A-Za-z0-9]{36}\b", label: "GITHUB_TOKEN" },
    Rule { id: "secrets.private_key", prefix: "-----BEGIN", pattern: r"^-----BEGIN[A-Z ]*PRIVATE KEY( BLOCK)?-----[\s\S]*?-----END[A-Z ]*PRIVATE KEY( BLOCK)?-----", label: "PRIVATE_KEY" },
];

pub struct Detector {
    config: Config,
    prefixes: AhoCorasick,
    regexes: Vec<Option<Regex>>,
}

impl Detector {
    pub fn new(config: &Config) -> Detector {
        let prefixes = AhoCorasick::builder()
            .kind(Some(AhoCorasickKind::DFA))
            .match_kind(MatchKind::Standard)
            .build(RULES.iter().map(|r| r.prefix))
            .expect("built-in prefixes compile");
        let regexes = RULES
            .iter()
            .map(|r| (!config.disable.iter().any(|d| d == r.id)).then(|| Regex::new(r.pattern).expect("built-in pattern compiles")))
            .collect();
        Detector { config: config.clone(), prefixes, regexes }
    }

    pub fn scan(&self, segment: &Segment, direction: Direction, out: &mut Vec<Finding>) {
        if !self.config.enabled {
            return;
        }
        let action = match direction {
            Direction::Request => self.config.request,
            Direction::Response => self.config.response,
        };
        if action == Action::Allow {
            return;
        }
        let text = &segment.text;
        let mut covered = 0;
        // Overlapping iteration: "sk-ant-" also hits "sk-", and both rules
        // must get their chance at the same position.
        for hit in self.prefixes.find_overlapping_iter(text) {
            let start = hit.start();
            if start < covered {
                continue;
            }
            let i = hit.pattern().as_usize();
            let Some(re) = &self.regexes[i] else { continue };
            let end = floor_char_boundary(text, (start + WINDOW).min(text.len()));
            if let Some(m) = re.find(&text[start..end]) {
                let rule = &RULES[i];
                let span = (start, start + m.end());
                covered = span.1;
                out.push(
                    Finding::new(DetectorKind::Secrets, rule.id, segment, Some(span), 1.0, action, format!("{} in {}", rule.label, segment.origin.as_str()))
                        .with_mask(format!("[{}]", rule.label)),
                );
            }
        }
    }
}

pub(crate) fn floor_char_boundary(s: &str, mut i: usize) -> usize {
    while i > 0 && !s.is_char_boundary(i) {
        i -= 1;
    }
    i
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Origin;

    fn scan(text: &str) -> Vec<Finding> {
        let d = Detector::new(&Config::default());
        let mut out = Vec::new();
        d.scan(&Segment::new(text, Origin::Assistant, "/x"), Direction::Response, &mut out);
        out
    }

    #[test]
    fn finds_aws_key_with_span() {
        let text = "key: AKIAZZZZZZZZZZZZZZZZ ok";
        let f = scan(text);
        assert_eq!(f.len(), 1);
        assert_eq!(f[0].rule, "secrets.aws_access_key_id");
        assert_eq!(&text[f[0].span.unwrap().0..f[0].span.unwrap().1], "AKIAZZZZZZZZZZZZZZZZ");
        assert_eq!(f[0].action, Action::Redact);
    }

    #[test]
    fn prefix_alone_is_not_a_secret() {
        assert!(scan("AKIA is a prefix; sk- too; ghp_short").is_empty());
    }

    #[test]
    fn disabled_rule_is_skipped_and_unknown_rule_rejected() {
        let c = Config { disable: vec!["secrets.aws_access_key_id".into()], ..Config::default() };
        let d = Detector::new(&c);
        let mut out = Vec::new();
        d.scan(&Segment::new("AKIAZZZZZZZZZZZZZZZZ", Origin::User, "/x"), Direction::Request, &mut out);
        assert!(out.is_empty());
        let bad = Config { disable: vec!["secrets.nope".into()], ..Config::default() };
        assert_eq!(bad.validate().unwrap_err().0, "disable[0]");
    }
}
