//! One slot of streamed text (a choice, a content part, a content block):
//! the text received, how far it is judged, and the masks decided for it.

use sha2::{Digest, Sha256};

use crate::detect::floor_char_boundary;
use crate::engine::Engine;
use crate::finding::{Action, DetectorKind, Finding};
use crate::segment::{Origin, Segment};
use crate::wire::Direction;

/// Text kept before the judged point so detectors see a match's left
/// context (word edges, a key name before its value).
const CONTEXT: usize = 256;

/// Written over a slot's text from a candidate that outgrew the hold-back
/// window on: it could not be judged, so it is not released.
pub const WITHHELD: &str = "[WITHHELD]";

#[derive(Clone, Debug)]
struct Mask {
    start: usize,
    end: usize,
    text: String,
    /// The furthest `end` of this mask and every one before it: rendering
    /// skips the masks wholly before a fragment by binary search on it, so
    /// a long answer's masks do not make each later event slower.
    reach: usize,
}

#[derive(Clone)]
pub(super) struct Slot {
    pub key: String,
    pub origin: Origin,
    /// Tool-call arguments: held whole until the stream ends, when the
    /// reassembled call is checked.
    pub tool: bool,
    /// Bytes of text received.
    pub len: usize,
    window: String,
    window_start: usize,
    /// No finding can start before this offset any more; text before it
    /// may be released. `usize::MAX` once the slot is closed or withheld.
    pub settled: usize,
    pub closed: bool,
    masks: Vec<Mask>,
    /// Spans of the findings recorded, to report each once.
    recorded: Vec<(usize, usize)>,
    spanless: Vec<String>,
    /// Digest of the text, for the APIs whose "done" events repeat it
    /// (`is_text`); `None` for the others, which never ask.
    digest: Option<Sha256>,
}

/// How one judging pass may treat the slot.
pub(super) struct Judge<'a> {
    pub engine: &'a Engine,
    pub direction: Direction,
    /// Enforce mode: hold back and mask. In monitor mode nothing is held.
    pub enforce: bool,
    pub max_holdback: usize,
}

impl Slot {
    /// `compared`: whole texts may later be checked against this one.
    pub fn new(key: String, origin: Origin, compared: bool) -> Slot {
        let tool = origin == Origin::ToolCall;
        let digest = compared.then(Sha256::new);
        Slot { key, origin, tool, len: 0, window: String::new(), window_start: 0, settled: 0, closed: false, masks: Vec::new(), recorded: Vec::new(), spanless: Vec::new(), digest }
    }

    /// Appends a fragment; returns its offset in the slot's text.
    pub fn append(&mut self, text: &str) -> usize {
        let at = self.len;
        self.len += text.len();
        if let Some(d) = self.digest.as_mut() {
            d.update(text.as_bytes());
        }
        if self.settled != usize::MAX {
            self.window.push_str(text);
        }
        at
    }

    /// Whether `text` is exactly the slot's text so far (never, for a slot
    /// that keeps no digest: the text is then judged on its own).
    pub fn is_text(&self, text: &str) -> bool {
        text.len() == self.len && self.digest.as_ref().is_some_and(|d| d.clone().finalize() == Sha256::digest(text.as_bytes()))
    }

    pub fn held(&self) -> usize {
        if self.settled == usize::MAX {
            0
        } else {
            self.len - self.settled
        }
    }

    /// Scans what is not judged yet and moves the judged point as far as
    /// the detectors allow (to the end when `closing`). Returns the findings
    /// that became final.
    pub fn judge(&mut self, j: &Judge, closing: bool) -> Vec<Finding> {
        let mut out = Vec::new();
        if self.settled == usize::MAX {
            self.closed |= closing;
            return out;
        }
        let old = self.settled;
        let segment = Segment::new(std::mem::take(&mut self.window), self.origin, self.key.clone());
        let base = self.window_start;
        let open = if closing || !j.enforce {
            self.len
        } else if self.tool {
            old
        } else {
            (base + j.engine.pending_from(&segment, j.direction)).max(old)
        };
        let forced = !closing && !self.tool && self.len - open > j.max_holdback;
        let settle_to = if forced || closing { self.len } else { open };
        let mut explained = false;
        let earlier_masks = self.masks.len();
        // Findings wholly in released text or wholly past the judged point
        // are dropped below: not made at all.
        let wanted = |(s, e): (usize, usize)| base + s < settle_to && base + e > old;
        for f in j.engine.scan_where(&segment, j.direction, wanted) {
            let Some((s, e)) = f.span else {
                if !self.spanless.contains(&f.rule) {
                    self.spanless.push(f.rule.clone());
                    out.push(f);
                }
                continue;
            };
            let (s, e) = (base + s, base + e);
            let provisional = s >= settle_to;
            let reported = self.recorded.iter().any(|&(rs, re)| s < re && rs < e);
            // A match that lies in released text can rewrite nothing.
            if provisional || reported || e <= old {
                continue;
            }
            self.recorded.push((s, e));
            explained |= s >= open && f.action >= Action::Redact;
            if j.enforce && f.action == Action::Redact {
                self.masks.push(Mask { start: s.max(old), end: e, text: f.mask.clone().unwrap_or_else(|| "[REDACTED]".into()), reach: 0 });
            }
            out.push(f);
        }
        if forced && !explained {
            // A candidate longer than the window cannot be judged: withhold
            // the rest of the slot rather than release a secret's beginning.
            let held = Segment::new(segment.text.get(open.saturating_sub(base)..).unwrap_or("").to_string(), self.origin, self.key.clone());
            let why = format!("a possible secret or personal data in {} outgrew the {}-byte stream hold-back window; the rest of this text is withheld", self.origin.as_str(), j.max_holdback);
            out.push(Finding::new(DetectorKind::Policy, "stream.holdback_exceeded", &held, Some((0, held.text.len())), 1.0, Action::Redact, why).with_mask(WITHHELD));
            self.masks.push(Mask { start: open, end: usize::MAX, text: WITHHELD.into(), reach: 0 });
            self.extend_reach(earlier_masks);
            self.settled = usize::MAX;
            self.closed |= closing;
            return out;
        }
        // Every earlier mask starts at or before `old` (it was judged then),
        // every new one at or after it: sorting the new ones sorts them all.
        self.masks[earlier_masks..].sort_by_key(|m| m.start);
        self.extend_reach(earlier_masks);
        self.recorded.retain(|&(_, e)| e + CONTEXT > settle_to);
        if closing {
            self.settled = usize::MAX;
            self.closed = true;
        } else {
            self.settled = settle_to;
            // Keep only the text still to judge and its left context.
            let keep = floor_char_boundary(&segment.text, settle_to.saturating_sub(CONTEXT).saturating_sub(base));
            self.window = segment.text.get(keep..).unwrap_or("").to_string();
            self.window_start = base + keep;
        }
        out
    }

    /// Sets `reach` on the masks from `from` on.
    fn extend_reach(&mut self, from: usize) {
        let mut reach = from.checked_sub(1).and_then(|i| self.masks.get(i)).map_or(0, |m| m.reach);
        for m in self.masks.iter_mut().skip(from) {
            reach = reach.max(m.end);
            m.reach = reach;
        }
    }

    /// The released form of the fragment `text` found at offset `at`:
    /// masks start where their match starts, and matched text disappears.
    pub fn render(&self, at: usize, text: &str) -> String {
        let end = at + text.len();
        let mut out = String::with_capacity(text.len());
        let mut pos = at;
        // The masks ending at or before `at` change nothing in this text.
        let first = self.masks.partition_point(|m| m.reach <= at);
        for m in &self.masks[first..] {
            if m.start >= end {
                break;
            }
            if m.end <= pos {
                continue;
            }
            if m.start > pos {
                out.push_str(text.get(pos - at..m.start - at).unwrap_or(""));
            }
            if m.start >= at {
                out.push_str(&m.text);
            }
            pos = m.end.min(end).max(pos);
        }
        if pos < end {
            out.push_str(text.get(pos - at..).unwrap_or(""));
        }
        out
    }
}
