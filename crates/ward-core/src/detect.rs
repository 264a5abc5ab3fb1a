//! Pieces shared by the pattern detectors (secrets, PII): severities, the
//! per-channel action table, masks, and byte-level text helpers that never
//! split a UTF-8 sequence.

use serde::{Deserialize, Serialize};

use crate::finding::Action;
use crate::segment::{Origin, Segment};
use crate::wire::Direction;

/// How bad a leak of what a rule matches is. Rules carry one; a policy can
/// drop everything below a floor.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Severity {
    Low,
    Medium,
    High,
    Critical,
}

impl Severity {
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Low => "low",
            Severity::Medium => "medium",
            Severity::High => "high",
            Severity::Critical => "critical",
        }
    }
}

/// What a redaction writes over a match.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MaskStyle {
    /// `[EMAIL]`, `[GITHUB_TOKEN]`: says what was there, keeps nothing.
    #[default]
    Tag,
    /// `****-****-****-1111`: keeps the last four letters or digits and the
    /// separators, so a user can still tell which card or account it was.
    Last4,
}

/// The three places a value can travel: the prompt going to the provider,
/// the answer coming back, and tool-call arguments (in either direction,
/// because a tool call is an action taken on the user's behalf).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Channel {
    Request,
    Response,
    ToolArguments,
}

impl Channel {
    pub fn of(segment: &Segment, direction: Direction) -> Channel {
        match (segment.origin, direction) {
            (Origin::ToolCall, _) => Channel::ToolArguments,
            (_, Direction::Request) => Channel::Request,
            (_, Direction::Response) => Channel::Response,
        }
    }

    /// A detector's default action on this channel. Tool arguments follow
    /// the direction's action unless the policy names one for them.
    pub fn default_action(self, direction: Direction, request: Action, response: Action, tool_arguments: Option<Action>) -> Action {
        let by_direction = match direction {
            Direction::Request => request,
            Direction::Response => response,
        };
        match self {
            Channel::Request => request,
            Channel::Response => response,
            Channel::ToolArguments => tool_arguments.unwrap_or(by_direction),
        }
    }
}

/// An action per channel; `None` falls back to the next level up (rule,
/// then entity type, then the detector's defaults).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Actions {
    pub request: Option<Action>,
    pub response: Option<Action>,
    /// Arguments of tool calls; unset means the action of the direction the
    /// call travels in.
    pub tool_arguments: Option<Action>,
    pub mask: Option<MaskStyle>,
}

impl Actions {
    pub fn get(&self, channel: Channel) -> Option<Action> {
        match channel {
            Channel::Request => self.request,
            Channel::Response => self.response,
            Channel::ToolArguments => self.tool_arguments,
        }
    }
}

/// The mask for `matched`. `tag` is the bracketed type name, e.g. `EMAIL`.
pub fn mask(style: MaskStyle, tag: &str, matched: &str) -> String {
    match style {
        MaskStyle::Tag => format!("[{tag}]"),
        MaskStyle::Last4 => {
            let keep_from = matched.char_indices().filter(|(_, c)| c.is_alphanumeric()).map(|(i, _)| i).rev().nth(3).unwrap_or(0);
            matched.char_indices().map(|(i, c)| if i < keep_from && c.is_alphanumeric() { '*' } else { c }).collect()
        }
    }
}

/// Largest char boundary at or below `i` (and within `s`).
pub fn floor_char_boundary(s: &str, i: usize) -> usize {
    let mut i = i.min(s.len());
    while i > 0 && !s.is_char_boundary(i) {
        i -= 1;
    }
    i
}

/// Smallest char boundary at or above `i` (and within `s`).
pub fn ceil_char_boundary(s: &str, i: usize) -> usize {
    let mut i = i.min(s.len());
    while i < s.len() && !s.is_char_boundary(i) {
        i += 1;
    }
    i
}

/// `[lo, hi)` widened by `before` and `after` bytes, clamped to `s` and to
/// char boundaries, so `&s[lo..hi]` never panics.
pub fn window(s: &str, start: usize, end: usize, before: usize, after: usize) -> (usize, usize) {
    (floor_char_boundary(s, start.saturating_sub(before)), ceil_char_boundary(s, end.saturating_add(after)))
}

/// Shannon entropy of the bytes of `s`, in bits per byte.
pub fn entropy(s: &str) -> f64 {
    let mut counts = [0u32; 256];
    for &b in s.as_bytes() {
        counts[b as usize] += 1;
    }
    let n = s.len() as f64;
    if n == 0.0 {
        return 0.0;
    }
    counts
        .iter()
        .filter(|&&c| c > 0)
        .map(|&c| {
            let p = c as f64 / n;
            -p * p.log2()
        })
        .sum()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn last4_keeps_separators_and_four_alphanumerics() {
        assert_eq!(mask(MaskStyle::Last4, "CARD", "4111-1111-1111-1234"), "****-****-****-1234");
        assert_eq!(mask(MaskStyle::Last4, "X", "ab"), "ab");
        assert_eq!(mask(MaskStyle::Tag, "EMAIL", "a@b.c"), "[EMAIL]");
    }

    #[test]
    fn windows_stay_on_char_boundaries() {
        let s = "ééé€€€";
        for a in 0..=s.len() {
            for b in a..=s.len() {
                let (lo, hi) = window(s, a, b, 1, 1);
                assert!(s.get(lo..hi).is_some());
            }
        }
    }

    #[test]
    fn entropy_orders_random_above_repetitive() {
        assert!(entropy("aaaaaaaaaaaaaaaa") < 0.01);
        assert!(entropy("Zf3D0LXkM9EIabgJ") > 3.5);
    }
}
