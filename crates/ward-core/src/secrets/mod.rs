//! Secret detection.
//!
//! One ASCII-case-insensitive aho-corasick automaton holds every literal
//! (token prefixes, which must then also match in case, and key names such
//! as `password`, which need not) and finds candidate positions in one pass
//! over the text; only then does a rule run, on a small window around the
//! hit. regex-lite is a PikeVM (tens of MB/s), so running every pattern
//! over a whole body would dominate the request path; a rule whose match
//! must begin at its literal runs anchored there, so a miss costs a few
//! bytes instead of its whole window.
//!
//! Three kinds of rule feed one list of candidates:
//! - provider rules (`rules.rs`): a documented token format each;
//! - vendor prefixes (`generic.rs`): a documented prefix plus a random body;
//! - key-name assignments (`generic.rs`): `password=`, `api_key:` and
//!   friends with a value that passes an entropy and shape test.
//!
//! Where candidates overlap, the most specific rule wins.

mod generic;
mod identifiers;
mod rules;

use std::collections::BTreeMap;

use aho_corasick::{AhoCorasick, AhoCorasickKind, MatchKind};
use base64::Engine as _;
use regex_lite::Regex;
use serde::{Deserialize, Serialize};

use crate::detect::{self, Actions, Channel, MaskStyle, Severity};
use crate::finding::{Action, DetectorKind, Finding};
use crate::segment::Segment;
use crate::wire::Direction;

pub use crate::detect::floor_char_boundary;

use generic::{Kind, Tier};
use rules::{Edge, RULES, VENDOR_PREFIXES};

/// Rule id of key-name assignments (`api_key = …`).
pub const GENERIC_RULE: &str = "secrets.generic_assignment";
/// Rule id of tokens behind a documented vendor prefix.
pub const VENDOR_RULE: &str = "secrets.vendor_token";
/// Rule id of random-looking values assigned to any name (low severity).
pub const RANDOM_RULE: &str = "secrets.random_assignment";
/// Rule id of literal values that only their key name marks as
/// credentials (`password = 'open sesame'`, `vendor_key = abcd1234`): low
/// severity, so a policy can act on them apart from the others.
pub const NAMED_RULE: &str = "secrets.named_credential";
/// Rule id of hosts that name an organisation's tenant at a credentialed
/// SaaS (`acme.okta.com`): not a secret, the host half of one.
pub const TENANT_RULE: &str = "secrets.tenant_endpoint";
/// Rule id of literals assigned to vendor-qualified identifier names
/// (`algolia_app_id`, `snowflake_user`): the id half of a credential.
pub const IDENTIFIER_RULE: &str = "secrets.account_identifier";

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    pub enabled: bool,
    /// Secrets in traffic towards the provider (prompts).
    pub request: Action,
    /// Secrets in traffic back to the client (model output, tool results).
    pub response: Action,
    /// Secrets in tool-call arguments; unset means the action of the
    /// direction the call travels in.
    pub tool_arguments: Option<Action>,
    /// What a redaction writes: `tag` (`[GITHUB_TOKEN]`) or `last4`.
    pub mask: MaskStyle,
    /// Findings of rules below this severity are dropped.
    pub min_severity: Severity,
    /// Rule ids to switch off.
    pub disable: Vec<String>,
    /// Per-rule overrides of the actions and the mask, by rule id.
    pub rules: BTreeMap<String, Actions>,
}

impl Default for Config {
    fn default() -> Config {
        Config {
            enabled: true,
            request: Action::Block,
            response: Action::Redact,
            tool_arguments: None,
            mask: MaskStyle::Tag,
            min_severity: Severity::Low,
            disable: Vec::new(),
            rules: BTreeMap::new(),
        }
    }
}

impl Config {
    pub(crate) fn validate(&self) -> Result<(), (String, String)> {
        for (i, id) in self.disable.iter().enumerate() {
            if !rule_ids().any(|r| r == id) {
                return Err((format!("disable[{i}]"), format!("unknown secret rule `{id}`")));
            }
        }
        for id in self.rules.keys() {
            if !rule_ids().any(|r| r == id) {
                return Err(("rules".into(), format!("unknown secret rule `{id}`")));
            }
        }
        Ok(())
    }
}

/// Every rule id this detector can report, with its severity.
pub fn rules() -> Vec<(&'static str, Severity)> {
    let mut out: Vec<(&'static str, Severity)> = RULES.iter().map(|r| (r.id, r.severity)).collect();
    out.push((VENDOR_RULE, Severity::High));
    out.push((GENERIC_RULE, Severity::Medium));
    out.push((RANDOM_RULE, Severity::Low));
    out.push((NAMED_RULE, Severity::Low));
    out.dedup_by_key(|r| r.0);
    out
}

fn rule_ids() -> impl Iterator<Item = &'static str> {
    RULES.iter().map(|r| r.id).chain([VENDOR_RULE, GENERIC_RULE, RANDOM_RULE, NAMED_RULE])
}

/// What a literal hit hands control to.
#[derive(Clone, Copy, Debug)]
enum Target {
    Rule(usize),
    Vendor(usize),
    Generic(Kind),
}

struct Candidate {
    span: (usize, usize),
    rule: &'static str,
    label: &'static str,
    severity: Severity,
    /// Lower wins an overlap: provider rules, then vendor prefixes, then
    /// key-name assignments.
    rank: u8,
    score: f32,
}

/// Where a literal hit goes, and the exact bytes it must have there when
/// the literal is case-sensitive (`None`: any ASCII case).
type Targets = Vec<(Target, Option<&'static str>)>;

pub struct Detector {
    config: Config,
    literals: AhoCorasick,
    targets: Vec<Targets>,
    regexes: Vec<Option<Regex>>,
    generic_on: bool,
    vendor_on: bool,
    random_on: bool,
    named_on: bool,
}

impl Detector {
    pub fn new(config: &Config) -> Detector {
        let enabled = |id: &str| !config.disable.iter().any(|d| d == id);
        // Keyed by the lower-cased literal: one automaton for both kinds.
        let mut literals: BTreeMap<String, Targets> = BTreeMap::new();
        let mut add = |literal: &'static str, nocase: bool, target: Target| {
            literals.entry(literal.to_ascii_lowercase()).or_default().push((target, (!nocase).then_some(literal)));
        };
        for (i, r) in RULES.iter().enumerate() {
            for k in r.keywords {
                add(k, r.nocase, Target::Rule(i));
            }
        }
        for (i, (prefix, _, _)) in VENDOR_PREFIXES.iter().enumerate() {
            add(prefix, false, Target::Vendor(i));
        }
        for (k, kind) in generic::KEYWORDS {
            add(k, true, Target::Generic(*kind));
        }
        let automaton = AhoCorasick::builder()
            .kind(Some(AhoCorasickKind::DFA))
            .match_kind(MatchKind::Standard)
            .ascii_case_insensitive(true)
            .build(literals.keys())
            .expect("built-in literals compile");
        let regexes = RULES.iter().map(|r| enabled(r.id).then(|| compile(r))).collect();
        Detector {
            config: config.clone(),
            literals: automaton,
            targets: literals.into_values().collect(),
            regexes,
            generic_on: enabled(GENERIC_RULE),
            vendor_on: enabled(VENDOR_RULE),
            random_on: enabled(RANDOM_RULE),
            named_on: enabled(NAMED_RULE),
        }
    }

    pub fn scan(&self, segment: &Segment, direction: Direction, out: &mut Vec<Finding>) {
        self.scan_where(segment, direction, |_| true, out);
    }

    /// `scan`, reporting only the findings whose span `wanted` accepts:
    /// every candidate still takes part in the overlap choice, so the
    /// findings reported are exactly those `scan` would report there. A
    /// stream rejudging text it has judged before wants only the new part,
    /// and making a finding (its digest, mask and message) is dear.
    pub fn scan_where(&self, segment: &Segment, direction: Direction, wanted: impl Fn((usize, usize)) -> bool, out: &mut Vec<Finding>) {
        if !self.config.enabled {
            return;
        }
        let channel = Channel::of(segment, direction);
        let default_action = channel.default_action(direction, self.config.request, self.config.response, self.config.tool_arguments);
        let any_override = self.config.rules.values().any(|a| a.get(channel).is_some_and(|x| x != Action::Allow));
        if default_action == Action::Allow && !any_override {
            return;
        }
        let text = segment.text.as_str();
        let mut found = self.candidates(text);
        // Most specific first, then leftmost; keep what does not overlap.
        found.sort_by_key(|c| (c.rank, c.span.0));
        let mut kept: Vec<Candidate> = Vec::new();
        for c in found {
            if !kept.iter().any(|k| c.span.0 < k.span.1 && k.span.0 < c.span.1) {
                kept.push(c);
            }
        }
        kept.sort_by_key(|c| c.span.0);
        for c in kept {
            if c.severity < self.config.min_severity || !wanted(c.span) {
                continue;
            }
            let over = self.config.rules.get(c.rule);
            // Low-severity rules (public IPs) only log unless a policy says
            // otherwise for that rule. A named credential is a literal
            // someone typed after `password =`: too weak a signal to refuse
            // a request for, strong enough to keep it out of what travels
            // on, so it is redacted where the direction would block.
            let fallback = match c.rule {
                NAMED_RULE => default_action.min(Action::Redact),
                // Identifiers belong in the audit trail, not out of the
                // traffic: logged whatever their severity says.
                TENANT_RULE | IDENTIFIER_RULE => default_action.min(Action::Log),
                _ if c.severity == Severity::Low => default_action.min(Action::Log),
                _ => default_action,
            };
            let action = over.and_then(|a| a.get(channel)).unwrap_or(fallback);
            if action == Action::Allow {
                continue;
            }
            let style = over.and_then(|a| a.mask).unwrap_or(self.config.mask);
            let matched = text.get(c.span.0..c.span.1).unwrap_or("");
            let message = format!("{} ({}) in {}", c.label, c.severity.as_str(), segment.origin.as_str());
            out.push(
                Finding::new(DetectorKind::Secrets, c.rule, segment, Some(c.span), c.score, action, message).with_mask(detect::mask(style, c.label, matched)),
            );
        }
    }

    /// Where text still to arrive could complete or change a finding this
    /// detector would rewrite or refuse in `segment`: the start of the
    /// earliest keyword hit whose rule has not seen all it reads, or of a
    /// keyword cut off at the end. `segment.text.len()` when nothing is
    /// open. Streams hold text back from here (`crate::stream::holdback`).
    pub fn pending_from(&self, segment: &Segment, direction: Direction) -> usize {
        use crate::stream::holdback::{open_at_hit, Alphabet, KeywordEnds};
        static ALPHABETS: std::sync::OnceLock<(Vec<Alphabet>, Alphabet, Alphabet)> = std::sync::OnceLock::new();
        let text = segment.text.as_str();
        let (bytes, len) = (text.as_bytes(), text.len());
        let channel = Channel::of(segment, direction);
        let default_action = channel.default_action(direction, self.config.request, self.config.response, self.config.tool_arguments);
        let rewrites = |a: Action| a >= Action::Redact;
        if !self.config.enabled || !(rewrites(default_action) || self.config.rules.values().any(|a| a.get(channel).is_some_and(rewrites))) {
            return len;
        }
        let (rules, vendor, any) = ALPHABETS.get_or_init(|| {
            let rules = RULES.iter().map(|r| r.keywords.iter().fold(Alphabet::of_pattern(r.pattern), |a, k| a.with(k))).collect();
            (rules, Alphabet::of_pattern(r"[A-Za-z0-9_.+/=\-]"), Alphabet::any())
        });
        let mut open = len;
        for hit in self.literals.find_overlapping_iter(text) {
            for &(target, exact) in &self.targets[hit.pattern().as_usize()] {
                if exact.is_some_and(|k| bytes.get(hit.start()..hit.end()) != Some(k.as_bytes())) {
                    continue;
                }
                let (alphabet, before, reach) = match target {
                    Target::Rule(i) if self.regexes[i].is_some() => (&rules[i], RULES[i].before, hit.len() + RULES[i].after),
                    Target::Vendor(i) if self.vendor_on => (vendor, 0, VENDOR_PREFIXES[i].0.len() + 406),
                    Target::Generic(_) if self.generic_on || self.named_on => (any, 0, hit.len() + 165),
                    _ => continue,
                };
                if open_at_hit(bytes, hit.start(), alphabet, reach) {
                    open = open.min(hit.start().saturating_sub(before));
                }
            }
        }
        // Every keyword with the rule that reads it: a rule switched off
        // leaves its keywords out.
        static ENDS: std::sync::OnceLock<(KeywordEnds, Vec<Target>)> = std::sync::OnceLock::new();
        let (ends, owners) = ENDS.get_or_init(|| {
            let mut keywords = Vec::new();
            let mut owners = Vec::new();
            for (i, r) in RULES.iter().enumerate() {
                for k in r.keywords {
                    keywords.push((*k, r.nocase, r.before));
                    owners.push(Target::Rule(i));
                }
            }
            for (i, v) in VENDOR_PREFIXES.iter().enumerate() {
                keywords.push((v.0, false, 0));
                owners.push(Target::Vendor(i));
            }
            for (k, kind) in generic::KEYWORDS {
                keywords.push((*k, true, 0));
                owners.push(Target::Generic(*kind));
            }
            (KeywordEnds::new(keywords), owners)
        });
        let counts = |i: usize| match owners[i] {
            Target::Rule(r) => self.regexes[r].is_some(),
            Target::Vendor(_) => self.vendor_on,
            Target::Generic(_) => self.generic_on || self.named_on,
        };
        if let Some(at) = ends.open_from(bytes, counts) {
            open = open.min(at);
        }
        floor_char_boundary(text, open)
    }

    fn candidates(&self, text: &str) -> Vec<Candidate> {
        let bytes = text.as_bytes();
        let mut found = Vec::new();
        let mut covered = vec![0usize; RULES.len()];
        let mut generic_covered = 0;
        let mut vetoed: Vec<(usize, usize)> = Vec::new();
        // Overlapping: "sk-ant-" also hits "sk-", and both rules must get
        // their chance at the same position.
        let hits: Vec<(usize, usize, usize)> = self.literals.find_overlapping_iter(text).map(|m| (m.start(), m.end(), m.pattern().as_usize())).collect();
        // Case-sensitive literals first, then the others: the order in
        // which candidates are found decides ties between them.
        for case_sensitive in [true, false] {
            for &(start, end, pattern) in &hits {
                for &(target, exact) in &self.targets[pattern] {
                    match exact {
                        Some(k) if case_sensitive && &bytes[start..end] == k.as_bytes() => {}
                        None if !case_sensitive => {}
                        _ => continue,
                    }
                    match target {
                        Target::Rule(i) => {
                            if start < covered[i] {
                                continue;
                            }
                            match self.run_rule(i, text, start, end) {
                                Some(c) => {
                                    covered[i] = c.span.1.max(start + 1);
                                    found.push(c);
                                }
                                None if vetoes(&RULES[i]) && self.regexes[i].is_some() && starts_token(bytes, start) => vetoed.push(token_extent(bytes, start)),
                                None => {}
                            }
                        }
                        Target::Vendor(i) if self.vendor_on => {
                            let (prefix, vendor, min_body) = VENDOR_PREFIXES[i];
                            if let Some(span) = generic::vendor_token(text, start, prefix.len(), min_body) {
                                found.push(Candidate { span, rule: VENDOR_RULE, label: vendor_label(vendor), severity: Severity::High, rank: 1, score: 0.9 });
                            }
                        }
                        Target::Generic(kind) if (self.generic_on || self.named_on) && start >= generic_covered => {
                            let label = if kind == Kind::Password { "PASSWORD" } else { "SECRET" };
                            match generic::keyword_value(text, start, end, kind) {
                                Some((Tier::Strong, span)) if self.generic_on => {
                                    generic_covered = span.1;
                                    found.push(Candidate { span, rule: GENERIC_RULE, label, severity: Severity::Medium, rank: 2, score: 0.7 });
                                }
                                Some((Tier::Named, span)) if self.named_on => {
                                    generic_covered = span.1;
                                    found.push(Candidate { span, rule: NAMED_RULE, label, severity: Severity::Low, rank: 4, score: 0.4 });
                                }
                                _ => {}
                            }
                        }
                        _ => {}
                    }
                }
            }
        }
        if self.random_on {
            let mut spans = Vec::new();
            generic::random_assignments(text, &mut spans);
            found.extend(spans.into_iter().map(|span| Candidate { span, rule: RANDOM_RULE, label: "SECRET", severity: Severity::Low, rank: 3, score: 0.5 }));
        }
        found.retain(|c| c.rank == 0 || !vetoed.iter().any(|&(a, b)| c.span.0 < b && a < c.span.1));
        debug_assert!(found.iter().all(|c| text.is_char_boundary(c.span.0) && text.is_char_boundary(c.span.1) && bytes.len() >= c.span.1));
        found
    }

    fn run_rule(&self, i: usize, text: &str, start: usize, end: usize) -> Option<Candidate> {
        let re = self.regexes[i].as_ref()?;
        let rule = &RULES[i];
        if let Some(gate) = rule.gate {
            if !gate(text.as_bytes(), start) {
                return None;
            }
        }
        let (lo, hi) = detect::window(text, start, end, rule.before, rule.after);
        let window = &text[lo..hi];
        for caps in re.captures_iter(window) {
            let whole = caps.get(0)?;
            let (ws, we) = (lo + whole.start(), lo + whole.end());
            if ws > start {
                break;
            }
            if we <= start {
                continue;
            }
            let secret = caps.get(1).unwrap_or(whole);
            let span = (lo + secret.start(), lo + secret.end());
            if !edges_ok(text.as_bytes(), span.0, span.1, rule.edge) {
                return None;
            }
            if !(rule.check)(&text[span.0..span.1], &text[ws..we]) {
                return None;
            }
            return Some(Candidate { span, rule: rule.id, label: rule.label, severity: rule.severity, rank: 0, score: 1.0 });
        }
        None
    }
}

/// A rule's regex. A match counts only if it covers the literal's start
/// (`run_rule`); when the window begins at the literal (`before` is 0) it
/// must therefore begin there, and the anchored pattern lets the PikeVM
/// stop as soon as no thread is alive instead of trying every later
/// position of the window.
fn compile(rule: &rules::Rule) -> Regex {
    let pattern = if rule.before == 0 { format!("^(?:{})", rule.pattern) } else { rule.pattern.to_string() };
    Regex::new(&pattern).expect("built-in pattern compiles")
}

fn edges_ok(b: &[u8], start: usize, end: usize, edge: Edge) -> bool {
    let inside = |c: u8| match edge {
        Edge::None => false,
        Edge::Alnum => c.is_ascii_alphanumeric(),
        Edge::Token => c.is_ascii_alphanumeric() || c == b'_' || c == b'-',
        Edge::Dotted => c.is_ascii_alphanumeric() || c == b'.',
    };
    let after_ok = match b.get(end) {
        None => true,
        Some(&b'.') if edge == Edge::Dotted => !b.get(end + 1).is_some_and(u8::is_ascii_digit),
        Some(&c) => !inside(c),
    };
    !(start > 0 && inside(b[start - 1])) && after_ok
}

/// The token a rejected format rule vetoes: from its literal to the next
/// space or quote.
fn token_extent(b: &[u8], start: usize) -> (usize, usize) {
    let mut e = start;
    while e < b.len() && !b[e].is_ascii_whitespace() && !matches!(b[e], b'"' | b'\'' | b'`') {
        e += 1;
    }
    (start, e)
}

/// A literal inside a word (`dapi` in `rapidapi_key`, `sk-` in
/// `vendor_sk-…`) is not the start of the rule's token, so the rule has
/// nothing to say about what follows; a literal that opens with
/// punctuation (`:_authToken=`) marks its own start.
fn starts_token(b: &[u8], start: usize) -> bool {
    start == 0 || !b[start].is_ascii_alphanumeric() || !(b[start - 1].is_ascii_alphanumeric() || matches!(b[start - 1], b'_' | b'-'))
}

/// Only rules whose literal starts a token of their own format may veto.
fn vetoes(rule: &rules::Rule) -> bool {
    rule.veto && rule.keywords.iter().all(|k| k.len() >= 3)
}

fn vendor_label(_vendor: &str) -> &'static str {
    "API_TOKEN"
}

/// Decodes base64 in either alphabet, with or without padding; `None` when
/// it is not base64 at all.
pub(crate) fn base64url_decode(s: &str) -> Option<Vec<u8>> {
    use base64::engine::{general_purpose::GeneralPurpose, DecodePaddingMode, GeneralPurposeConfig};
    const LENIENT: GeneralPurpose = GeneralPurpose::new(
        &base64::alphabet::URL_SAFE,
        GeneralPurposeConfig::new().with_decode_allow_trailing_bits(true).with_decode_padding_mode(DecodePaddingMode::Indifferent),
    );
    let normalised: String = s
        .chars()
        .map(|c| match c {
            '+' => '-',
            '/' => '_',
            c => c,
        })
        .collect();
    LENIENT.decode(normalised.as_bytes()).ok()
}

#[cfg(test)]
mod tests;
