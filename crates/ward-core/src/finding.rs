//! What a detector reports and what the policy decides to do about it.

use serde::{Deserialize, Serialize};

use crate::segment::Origin;

/// The detectors the engine runs. `Policy` and `Format` are not scanners but
/// sources of findings too: a tool the policy forbids, a body that cannot be
/// parsed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DetectorKind {
    Injection,
    Secrets,
    Pii,
    Tools,
    Policy,
    Format,
}

impl DetectorKind {
    pub fn as_str(self) -> &'static str {
        match self {
            DetectorKind::Injection => "injection",
            DetectorKind::Secrets => "secrets",
            DetectorKind::Pii => "pii",
            DetectorKind::Tools => "tools",
            DetectorKind::Policy => "policy",
            DetectorKind::Format => "format",
        }
    }
}

/// What to do with a finding. Ordered by severity so the strongest action
/// among several findings wins with a plain `max`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Action {
    /// Record nothing beyond the allow event.
    Allow,
    /// Let the traffic through, record the finding.
    Log,
    /// Rewrite the offending span and let the rewritten body through.
    Redact,
    /// Refuse the request or response.
    Block,
}

impl Action {
    pub fn as_str(self) -> &'static str {
        match self {
            Action::Allow => "allow",
            Action::Log => "log",
            Action::Redact => "redact",
            Action::Block => "block",
        }
    }
}

/// One thing a detector found in one segment.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Finding {
    pub detector: DetectorKind,
    /// Stable rule id, e.g. `secrets.github_pat` or `injection.override`.
    pub rule: String,
    pub origin: Origin,
    /// Where the segment came from (see [`crate::Segment::path`]).
    pub path: String,
    /// Byte range of the match inside the segment text, when it has one.
    /// Used for redaction; never serialised into audit events, which carry
    /// only a digest of the matched content.
    #[serde(skip)]
    pub span: Option<(usize, usize)>,
    /// Detector confidence in 0..=1 (1 for exact rules).
    pub score: f32,
    /// Action the policy assigned to this finding.
    pub action: Action,
    /// sha256 of the matched text, hex: lets an auditor confirm what was
    /// seen without the trail holding the secret itself.
    pub content_sha256: String,
    /// Mask to write over the span when the action is `Redact`.
    #[serde(skip)]
    pub mask: Option<String>,
    /// Human-readable reason, shown to the client on block.
    pub message: String,
}

impl Finding {
    /// A finding over `span` of `segment` (or the whole segment when `span`
    /// is `None`). The action starts as `Log`; the engine assigns the
    /// policy's action.
    pub fn new(
        detector: DetectorKind,
        rule: impl Into<String>,
        segment: &crate::Segment,
        span: Option<(usize, usize)>,
        score: f32,
        action: Action,
        message: impl Into<String>,
    ) -> Finding {
        let matched = match span {
            Some((a, b)) => segment.text.get(a..b).unwrap_or(&segment.text),
            None => &segment.text,
        };
        Finding {
            detector,
            rule: rule.into(),
            origin: segment.origin,
            path: segment.path.clone(),
            span,
            score,
            action,
            content_sha256: crate::audit::sha256_hex(matched.as_bytes()),
            mask: None,
            message: message.into(),
        }
    }

    pub fn with_mask(mut self, mask: impl Into<String>) -> Finding {
        self.mask = Some(mask.into());
        self
    }
}
