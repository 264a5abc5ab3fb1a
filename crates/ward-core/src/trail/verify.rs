//! Chain verification: feed a trail's lines in order, learn whether every
//! chain in it is whole, or where the first broken link is and why.
//!
//! Each line is checked three ways: it must be a whole event, its content
//! must match its own hash, and it must continue its chain (next sequence
//! number, `prev` equal to the previous event's hash). Which check fails,
//! and what follows, tells an edit from a deletion, a reordering or a
//! truncation. A collector's acknowledged [`Head`]s also catch what a chain
//! cannot show by itself: events cut from its end.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::audit::{line_hash, AuditEvent, GENESIS};

/// Why a chain is broken.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BreakKind {
    /// A line's content does not match its hash, it is not an event, or its
    /// link to the previous event was rewritten.
    Edited,
    /// The sequence jumps and the events it jumps over never turn up.
    Missing,
    /// The sequence goes back, or jumps over events that turn up later.
    Reordered,
    /// The trail ends early: mid-line, on a partial event, or before the
    /// last event the collector acknowledged.
    Truncated,
}

impl BreakKind {
    pub fn as_str(self) -> &'static str {
        match self {
            BreakKind::Edited => "edited",
            BreakKind::Missing => "missing",
            BreakKind::Reordered => "reordered",
            BreakKind::Truncated => "truncated",
        }
    }
}

/// The first broken link of a trail.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Break {
    /// 1-based line the break shows at (one past the last line when events
    /// were cut from the end).
    pub line: usize,
    pub kind: BreakKind,
    /// Chain the line belongs to, when the line could be read.
    pub chain: String,
    pub seq: Option<u64>,
    pub reason: String,
}

/// Where a chain stands: the sequence number its next event must carry and
/// the hash that event must point back to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ChainTip {
    pub next_seq: u64,
    pub last_hash: String,
}

impl Default for ChainTip {
    fn default() -> ChainTip {
        ChainTip { next_seq: 0, last_hash: GENESIS.to_string() }
    }
}

/// How an event relates to the tip of its chain.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Link {
    /// The next event, pointing at the previous one.
    Continues,
    /// The right sequence number, but it points at another predecessor.
    Forks,
    /// Later than the next event: `missing` events come in between.
    Skips { missing: u64 },
    /// A sequence number the chain already has.
    GoesBack,
}

impl ChainTip {
    pub fn link(&self, seq: u64, prev: &str) -> Link {
        if seq == self.next_seq {
            if prev == self.last_hash {
                Link::Continues
            } else {
                Link::Forks
            }
        } else if seq > self.next_seq {
            Link::Skips { missing: seq - self.next_seq }
        } else {
            Link::GoesBack
        }
    }

    pub fn advance(&mut self, seq: u64, hash: &str) {
        self.next_seq = seq.saturating_add(1);
        self.last_hash = hash.to_string();
    }

    /// Sequence number of the last event, if the chain has one.
    pub fn last_seq(&self) -> Option<u64> {
        self.next_seq.checked_sub(1)
    }
}

/// The last event a collector acknowledged on a chain.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Head {
    pub chain: String,
    pub seq: u64,
    pub hash: String,
}

/// What a verified chain holds.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct ChainSummary {
    pub chain: String,
    pub events: u64,
    pub last_seq: u64,
    pub last_hash: String,
    pub first_time_ms: u64,
    pub last_time_ms: u64,
    /// Events the filter reported dropping (queue overflow) on this chain.
    pub dropped: u64,
}

/// The result of [`Verifier::finish`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Outcome {
    pub chains: Vec<ChainSummary>,
    pub broken: Option<Break>,
}

impl Outcome {
    pub fn events(&self) -> u64 {
        self.chains.iter().map(|c| c.events).sum()
    }

    pub fn dropped(&self) -> u64 {
        self.chains.iter().map(|c| c.dropped).sum()
    }
}

struct ChainState {
    tip: ChainTip,
    summary: ChainSummary,
    last_line: usize,
}

/// A suspicious line whose kind of break depends on what comes after it.
enum Pending {
    /// Not an event: truncation if nothing follows, an edit otherwise.
    Unreadable { line: usize, reason: String },
    /// A jump over `from..to`: reordering if one of those turns up later.
    Jump { brk: Break, from: u64, to: u64 },
}

/// Checks a trail line by line. Stops at the first break, reading on only
/// as far as needed to classify it.
///
/// ```
/// use ward_core::audit::{AuditChain, AuditEvent};
/// use ward_core::trail::{BreakKind, Verifier};
/// let mut chain = AuditChain::new("c");
/// let lines: Vec<String> = (0..3).map(|_| chain.seal(AuditEvent::default()).to_json_line()).collect();
/// let mut v = Verifier::new([]);
/// for (i, l) in [&lines[0], &lines[2], &lines[1]].iter().enumerate() {
///     v.push(i + 1, l);
/// }
/// let brk = v.finish(true).broken.unwrap();
/// assert_eq!((brk.line, brk.kind), (2, BreakKind::Reordered));
/// ```
pub struct Verifier {
    chains: BTreeMap<String, ChainState>,
    heads: BTreeMap<String, Head>,
    pending: Option<Pending>,
    broken: Option<Break>,
    last_line: usize,
}

impl Verifier {
    /// `heads`: what a collector acknowledged, to catch a cut end; pass
    /// none when there is no collector record.
    pub fn new(heads: impl IntoIterator<Item = Head>) -> Verifier {
        Verifier {
            chains: BTreeMap::new(),
            heads: heads.into_iter().map(|h| (h.chain.clone(), h)).collect(),
            pending: None,
            broken: None,
            last_line: 0,
        }
    }

    /// Whether a break has been found (more lines change nothing but the
    /// classification of a pending one).
    pub fn is_broken(&self) -> bool {
        self.broken.is_some()
    }

    /// Feeds line number `line` (1-based), without its newline.
    pub fn push(&mut self, line: usize, text: &str) {
        self.last_line = line;
        if self.broken.is_some() {
            return;
        }
        match self.pending.take() {
            Some(Pending::Unreadable { line: at, reason }) => {
                let reason = format!("{reason}, yet lines follow it");
                self.broken = Some(Break { line: at, kind: BreakKind::Edited, chain: String::new(), seq: None, reason });
                return;
            }
            Some(Pending::Jump { brk, from, to }) => {
                match chain_and_seq(text) {
                    Some((chain, seq)) if chain == brk.chain && (from..to).contains(&seq) => {
                        let reason = format!("expected seq {from}, found seq {}; seq {seq} turns up later, at line {line}", brk.seq.unwrap_or(to));
                        self.broken = Some(Break { kind: BreakKind::Reordered, reason, ..brk });
                    }
                    _ => self.pending = Some(Pending::Jump { brk, from, to }),
                }
                return;
            }
            None => {}
        }
        let value = match serde_json::from_str::<Value>(text) {
            Ok(v @ Value::Object(_)) => v,
            Ok(_) => return self.pending = Some(Pending::Unreadable { line, reason: "not a JSON object".into() }),
            Err(_) if text.trim().is_empty() => return self.pending = Some(Pending::Unreadable { line, reason: "blank line".into() }),
            Err(e) => return self.pending = Some(Pending::Unreadable { line, reason: format!("not valid JSON ({e})") }),
        };
        let event = match AuditEvent::deserialize(&value) {
            Ok(e) => e,
            Err(e) => return self.brk(line, BreakKind::Edited, "", None, format!("not an audit event ({e})")),
        };
        let chain = event.chain.as_str();
        if line_hash(&value) != event.hash {
            return self.brk(line, BreakKind::Edited, chain, Some(event.seq), "content does not match its hash".into());
        }
        let state = self.chains.entry(event.chain.clone()).or_insert_with(|| ChainState {
            tip: ChainTip::default(),
            summary: ChainSummary { chain: event.chain.clone(), first_time_ms: event.time_ms, ..ChainSummary::default() },
            last_line: 0,
        });
        match state.tip.link(event.seq, &event.prev) {
            Link::Continues => {}
            Link::Forks if event.seq == 0 => {
                return self.brk(line, BreakKind::Edited, chain, Some(0), "first event of the chain does not point back to the genesis hash".into());
            }
            Link::Forks => {
                let reason = format!(
                    "prev does not match the hash of seq {} (line {}): that event was edited and re-hashed, or this one replaced",
                    event.seq - 1,
                    state.last_line
                );
                return self.brk(line, BreakKind::Edited, chain, Some(event.seq), reason);
            }
            Link::Skips { missing } => {
                let from = state.tip.next_seq;
                let reason = format!("expected seq {from}, found seq {}: {missing} event(s) absent", event.seq);
                let brk = Break { line, kind: BreakKind::Missing, chain: event.chain.clone(), seq: Some(event.seq), reason };
                self.pending = Some(Pending::Jump { brk, from, to: event.seq });
                return;
            }
            Link::GoesBack => {
                let reason = format!("seq {} after seq {}: the sequence goes back", event.seq, state.tip.next_seq - 1);
                return self.brk(line, BreakKind::Reordered, chain, Some(event.seq), reason);
            }
        }
        if let Some(head) = self.heads.get(chain) {
            if head.seq == event.seq && head.hash != event.hash {
                let reason = format!("differs from the event the collector acknowledged as seq {}: the chain was rewritten", head.seq);
                return self.brk(line, BreakKind::Edited, chain, Some(event.seq), reason);
            }
        }
        state.tip.advance(event.seq, &event.hash);
        state.last_line = line;
        let s = &mut state.summary;
        s.events += 1;
        s.last_seq = event.seq;
        s.last_hash = event.hash;
        s.last_time_ms = event.time_ms;
        s.dropped = s.dropped.saturating_add(event.dropped);
    }

    fn brk(&mut self, line: usize, kind: BreakKind, chain: &str, seq: Option<u64>, reason: String) {
        self.broken = Some(Break { line, kind, chain: chain.to_string(), seq, reason });
    }

    /// Ends the trail. `ends_with_newline`: whether its last line was whole.
    pub fn finish(mut self, ends_with_newline: bool) -> Outcome {
        if self.broken.is_none() {
            match self.pending.take() {
                Some(Pending::Unreadable { line, reason }) => {
                    let reason = format!("last line is {reason}: the trail ends on a partial event");
                    self.brk(line, BreakKind::Truncated, "", None, reason);
                }
                Some(Pending::Jump { brk, .. }) => self.broken = Some(brk),
                None if !ends_with_newline && self.last_line > 0 => {
                    self.brk(self.last_line, BreakKind::Truncated, "", None, "the trail ends mid-line".into());
                }
                None => {}
            }
        }
        if self.broken.is_none() {
            let cut = self.chains.iter().find_map(|(id, state)| {
                let head = self.heads.get(id)?;
                let last = state.tip.last_seq()?;
                (last < head.seq).then(|| (id.clone(), last, head.seq))
            });
            if let Some((chain, last, acked)) = cut {
                let reason = format!("chain ends at seq {last} but the collector acknowledged up to seq {acked}: events were cut from the end");
                self.brk(self.last_line + 1, BreakKind::Truncated, &chain, Some(last + 1), reason);
            }
        }
        Outcome { chains: self.chains.into_values().map(|s| s.summary).collect(), broken: self.broken }
    }
}

/// Chain id and sequence number of a line, when it has them.
fn chain_and_seq(text: &str) -> Option<(String, u64)> {
    #[derive(Deserialize)]
    struct Key {
        chain: String,
        seq: u64,
    }
    serde_json::from_str::<Key>(text).ok().map(|k| (k.chain, k.seq))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::audit::AuditChain;
    use crate::finding::Action;

    fn trail(n: usize) -> Vec<String> {
        let mut chain = AuditChain::new("vm-1");
        (0..n)
            .map(|i| {
                let e = AuditEvent { request_id: format!("r{i}"), time_ms: 1000 + i as u64, action: Action::Log, ..AuditEvent::default() };
                chain.seal(e).to_json_line()
            })
            .collect()
    }

    fn check(lines: &[String], heads: Vec<Head>, newline: bool) -> Outcome {
        let mut v = Verifier::new(heads);
        for (i, l) in lines.iter().enumerate() {
            v.push(i + 1, l);
        }
        v.finish(newline)
    }

    fn broken(lines: &[String]) -> (usize, BreakKind) {
        let b = check(lines, vec![], true).broken.expect("a break");
        (b.line, b.kind)
    }

    #[test]
    fn whole_chain_verifies() {
        let out = check(&trail(5), vec![], true);
        assert_eq!(out.broken, None);
        assert_eq!(out.events(), 5);
        assert_eq!(out.chains[0].last_seq, 4);
        assert_eq!(out.chains[0].first_time_ms, 1000);
    }

    #[test]
    fn every_edit_is_found_at_its_line() {
        let lines = trail(6);
        for i in 0..lines.len() {
            let mut t = lines.clone();
            t[i] = t[i].replace("\"action\":\"log\"", "\"action\":\"allow\"");
            assert_ne!(t[i], lines[i]);
            assert_eq!(broken(&t), (i + 1, BreakKind::Edited), "edit of line {}", i + 1);
        }
    }

    #[test]
    fn an_added_field_is_an_edit() {
        let mut t = trail(3);
        t[1] = t[1].replacen('{', "{\"note\":\"x\",", 1);
        assert_eq!(broken(&t), (2, BreakKind::Edited));
    }

    #[test]
    fn re_hashing_an_edited_event_breaks_the_next_link() {
        let mut t = trail(4);
        let mut e: AuditEvent = serde_json::from_str(&t[1]).unwrap();
        e.action = Action::Block;
        e.hash = e.compute_hash();
        t[1] = e.to_json_line();
        let b = check(&t, vec![], true).broken.unwrap();
        assert_eq!((b.line, b.kind), (3, BreakKind::Edited));
        assert!(b.reason.contains("line 2"), "{}", b.reason);
    }

    #[test]
    fn every_deletion_is_found_at_its_line() {
        let lines = trail(6);
        for i in 0..lines.len() - 1 {
            let mut t = lines.clone();
            t.remove(i);
            assert_eq!(broken(&t), (i + 1, BreakKind::Missing), "deletion of line {}", i + 1);
        }
    }

    #[test]
    fn deleting_the_last_line_needs_the_collector_head() {
        let lines = trail(4);
        let last: AuditEvent = serde_json::from_str(&lines[3]).unwrap();
        let head = Head { chain: last.chain.clone(), seq: last.seq, hash: last.hash.clone() };
        assert_eq!(check(&lines, vec![head.clone()], true).broken, None);
        let b = check(&lines[..3], vec![head], true).broken.unwrap();
        assert_eq!((b.line, b.kind), (4, BreakKind::Truncated));
    }

    #[test]
    fn a_rewritten_chain_differs_from_the_head() {
        let lines = trail(3);
        let mut other = AuditChain::new("vm-1");
        let forged: Vec<String> = (0..3).map(|_| other.seal(AuditEvent::default()).to_json_line()).collect();
        let last: AuditEvent = serde_json::from_str(&lines[2]).unwrap();
        let head = Head { chain: "vm-1".into(), seq: 2, hash: last.hash };
        let b = check(&forged, vec![head], true).broken.unwrap();
        assert_eq!((b.line, b.kind), (3, BreakKind::Edited));
    }

    #[test]
    fn every_swap_is_found_at_its_line() {
        let lines = trail(6);
        for i in 0..lines.len() - 1 {
            let mut t = lines.clone();
            t.swap(i, i + 1);
            assert_eq!(broken(&t), (i + 1, BreakKind::Reordered), "swap of lines {} and {}", i + 1, i + 2);
        }
        let mut t = lines.clone();
        t.swap(1, 4);
        assert_eq!(broken(&t), (2, BreakKind::Reordered));
    }

    #[test]
    fn a_repeated_line_goes_back() {
        let mut t = trail(3);
        t.insert(2, t[1].clone());
        assert_eq!(broken(&t), (3, BreakKind::Reordered));
    }

    #[test]
    fn truncation() {
        let mut t = trail(3);
        let cut = t[2].len() / 2;
        t[2].truncate(cut);
        assert_eq!(broken(&t), (3, BreakKind::Truncated));
        // Whole last event but no final newline: the write was cut.
        let b = check(&trail(3), vec![], false).broken.unwrap();
        assert_eq!((b.line, b.kind), (3, BreakKind::Truncated));
        // A mangled line with lines after it is an edit, not a truncation.
        let mut t = trail(3);
        t[1].truncate(10);
        assert_eq!(broken(&t), (2, BreakKind::Edited));
    }

    #[test]
    fn chains_interleave() {
        let mut a = AuditChain::new("a");
        let mut b = AuditChain::new("b");
        let mut lines = Vec::new();
        for _ in 0..3 {
            lines.push(a.seal(AuditEvent::default()).to_json_line());
            lines.push(b.seal(AuditEvent::default()).to_json_line());
        }
        let out = check(&lines, vec![], true);
        assert_eq!(out.broken, None);
        assert_eq!(out.chains.len(), 2);
        lines.remove(2);
        assert_eq!(broken(&lines), (4, BreakKind::Missing));
    }

    #[test]
    fn a_chain_must_start_at_genesis() {
        let t = trail(4);
        assert_eq!(broken(&t[1..]), (1, BreakKind::Missing));
        let mut e: AuditEvent = serde_json::from_str(&t[0]).unwrap();
        e.prev = "ab".repeat(32);
        e.hash = e.compute_hash();
        assert_eq!(broken(&[e.to_json_line()]), (1, BreakKind::Edited));
    }

    #[test]
    fn garbage_never_panics() {
        for text in ["", "{", "[]", "null", "{\"chain\":1}", "{\"seq\":-1,\"chain\":\"x\"}", "\u{0}\u{ffff}"] {
            let mut v = Verifier::new([]);
            v.push(1, text);
            v.push(2, text);
            assert!(v.finish(true).broken.is_some(), "{text:?}");
        }
    }
}
