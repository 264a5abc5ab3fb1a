//! The shapes the JS API returns (see the TypeScript in `lib.rs`).

use serde::Serialize;
use wasm_bindgen::JsValue;
use ward_core::{Action, Decision, DetectorKind, Finding, Origin, Verdict};

#[derive(Serialize)]
pub struct ScanResult {
    verdict: Action,
    findings: Vec<FindingView>,
    #[serde(skip_serializing_if = "Option::is_none")]
    redacted: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    reason: Option<String>,
}

#[derive(Serialize)]
struct FindingView {
    detector: DetectorKind,
    rule: String,
    action: Action,
    origin: Origin,
    start: Option<usize>,
    end: Option<usize>,
    message: String,
}

/// Whether finding spans point into a string the caller holds.
pub enum Spans<'a> {
    /// Spans are byte ranges of this text.
    In(&'a str),
    /// Spans point into a body the engine built (a tool call): not the
    /// caller's string, so none are reported.
    Unmapped,
}

impl Spans<'_> {
    /// The span as JS string indices (UTF-16 code units).
    fn map(&self, f: &Finding) -> (Option<usize>, Option<usize>) {
        let (Spans::In(text), Some((a, b))) = (self, f.span) else { return (None, None) };
        let utf16 = |i: usize| text.get(..i).map(|s| s.encode_utf16().count());
        match (utf16(a), utf16(b)) {
            (Some(a), Some(b)) => (Some(a), Some(b)),
            _ => (None, None),
        }
    }
}

impl ScanResult {
    pub fn new(decision: &Decision, spans: Spans) -> ScanResult {
        let findings = decision
            .findings
            .iter()
            .map(|f| {
                let (start, end) = spans.map(f);
                FindingView { detector: f.detector, rule: f.rule.clone(), action: f.action, origin: f.origin, start, end, message: f.message.clone() }
            })
            .collect();
        let (redacted, reason) = match &decision.verdict {
            Verdict::Allow => (None, None),
            Verdict::Redact { body } => (Some(String::from_utf8_lossy(body).into_owned()), None),
            Verdict::Block { reason, .. } => (None, Some(reason.clone())),
        };
        ScanResult { verdict: decision.action(), findings, redacted, reason }
    }

    pub fn to_js(&self) -> Result<JsValue, JsValue> {
        // JSON-compatible: plain objects and null, never Map or undefined.
        self.serialize(&serde_wasm_bindgen::Serializer::json_compatible()).map_err(JsValue::from)
    }
}
