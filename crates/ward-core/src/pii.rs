//! Personal-data detection. First version: e-mail addresses and payment
//! card numbers that pass the Luhn check; every candidate is validated
//! before it becomes a finding.

use aho_corasick::{AhoCorasick, AhoCorasickKind};
use regex_lite::Regex;
use serde::{Deserialize, Serialize};

use crate::finding::{Action, DetectorKind, Finding};
use crate::segment::Segment;
use crate::wire::Direction;

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    pub enabled: bool,
    pub request: Action,
    pub response: Action,
}

impl Default for Config {
    fn default() -> Config {
        Config { enabled: true, request: Action::Log, response: Action::Redact }
    }
}

impl Config {
    pub(crate) fn validate(&self) -> Result<(), (String, String)> {
        Ok(())
    }
}

pub struct Detector {
    config: Config,
    at: AhoCorasick,
    email: Regex,
    card: Regex,
}

impl Detector {
    pub fn new(config: &Config) -> Detector {
        Detector {
            config: config.clone(),
            at: AhoCorasick::builder().kind(Some(AhoCorasickKind::DFA)).build(["@"]).expect("compiles"),
            email: Regex::new(r"[A-Za-z0-9._%+\-]+@[A-Za-z0-9\-]+(?:\.[A-Za-z0-9\-]+)*\.[A-Za-z]{2,}").expect("compiles"),
            card: Regex::new(r"\b\d(?:[ \-]?\d){12,18}\b").expect("compiles"),
        }
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
        let mut last_end = 0;
        for hit in self.at.find_iter(text) {
            if hit.start() < last_end {
                continue;
            }
            let lo = crate::secrets::floor_char_boundary(text, hit.start().saturating_sub(64));
            let hi = crate::secrets::floor_char_boundary(text, (hit.end() + 255).min(text.len()));
            if let Some(m) = self.email.find_iter(&text[lo..hi]).find(|m| lo + m.start() <= hit.start() && lo + m.end() > hit.start()) {
                let span = (lo + m.start(), lo + m.end());
                last_end = span.1;
                out.push(Finding::new(DetectorKind::Pii, "pii.email", segment, Some(span), 1.0, action, "EMAIL").with_mask("[EMAIL]"));
            }
        }
        // Cards: only segments with a long enough digit run get the regex.
        if has_digit_run(text.as_bytes(), 13) {
            for m in self.card.find_iter(text) {
                let digits: Vec<u8> = m.as_str().bytes().filter(u8::is_ascii_digit).map(|b| b - b'0').collect();
                if (13..=19).contains(&digits.len()) && luhn(&digits) {
                    out.push(Finding::new(DetectorKind::Pii, "pii.credit_card", segment, Some((m.start(), m.end())), 1.0, action, "CREDIT_CARD").with_mask("[CREDIT_CARD]"));
                }
            }
        }
    }
}

fn has_digit_run(b: &[u8], n: usize) -> bool {
    let mut run = 0;
    for &c in b {
        if c.is_ascii_digit() {
            run += 1;
            if run >= n {
                return true;
            }
        } else if c != b' ' && c != b'-' {
            run = 0;
        }
    }
    false
}

/// The Luhn mod-10 check used by every card scheme.
pub fn luhn(digits: &[u8]) -> bool {
    let sum: u32 = digits
        .iter()
        .rev()
        .enumerate()
        .map(|(i, &d)| {
            let d = d as u32;
            if i % 2 == 1 {
                let x = d * 2;
                if x > 9 { x - 9 } else { x }
            } else {
                d
            }
        })
        .sum();
    sum % 10 == 0
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Origin;

    fn rules(text: &str) -> Vec<String> {
        let d = Detector::new(&Config::default());
        let mut out = Vec::new();
        d.scan(&Segment::new(text, Origin::Assistant, "/x"), Direction::Response, &mut out);
        out.into_iter().map(|f| f.rule).collect()
    }

    #[test]
    fn email_and_valid_card() {
        assert_eq!(rules("mail jane.doe@example.org now"), vec!["pii.email"]);
        assert_eq!(rules("card 4111 1111 1111 1111."), vec!["pii.credit_card"]);
    }

    #[test]
    fn bad_checksum_is_not_a_card() {
        assert!(rules("order 4111 1111 1111 1112").is_empty());
    }
}
