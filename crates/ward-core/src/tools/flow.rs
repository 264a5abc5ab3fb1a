//! Session state for flow rules and budgets.
//!
//! The engine keeps no state between calls: the host stores a
//! [`SessionState`] per session key (proxy-wasm shared data), passes it in
//! with each message of that session and stores what comes back. Its size
//! is bounded by the policy, not by traffic: it only ever names flow
//! markers the policy uses and tools the policy defines.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

/// Longest explanation kept for a flow marker.
const MAX_CAUSE_CHARS: usize = 160;

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct SessionState {
    /// Flow markers this session has hit (`label:reads_untrusted`,
    /// `tool:fetch_url`, `flagged:injection`), each with what set it.
    pub taints: BTreeMap<String, String>,
    /// Calls that went through, per tool.
    pub calls: BTreeMap<String, u32>,
    pub total_calls: u32,
    /// Tools whose definition broke its pin in this session.
    pub revoked: BTreeSet<String>,
    /// When the state lapses (ms since the Unix epoch, host clock).
    pub expires_ms: u64,
}

impl SessionState {
    /// The stored form (compact JSON).
    pub fn to_bytes(&self) -> Vec<u8> {
        serde_json::to_vec(self).unwrap_or_default()
    }

    /// Reads the stored form; `None` for anything that is not one.
    pub fn from_bytes(bytes: &[u8]) -> Option<SessionState> {
        serde_json::from_slice(bytes).ok()
    }

    pub fn is_expired(&self, now_ms: u64) -> bool {
        self.expires_ms != 0 && now_ms >= self.expires_ms
    }

    pub(crate) fn taint(&mut self, marker: String, cause: &str) {
        self.taints.entry(marker).or_insert_with(|| cause.chars().take(MAX_CAUSE_CHARS).collect());
    }

    pub(crate) fn count(&mut self, tool: &str) {
        let n = self.calls.entry(tool.to_string()).or_insert(0);
        *n = n.saturating_add(1);
        self.total_calls = self.total_calls.saturating_add(1);
    }

    /// Equal apart from the expiry: whether the host has anything new to store.
    pub(crate) fn same_content(&self, other: &SessionState) -> bool {
        self.taints == other.taints && self.calls == other.calls && self.total_calls == other.total_calls && self.revoked == other.revoked
    }
}

/// A message's effect on its session, settled once the verdict is known:
/// taints and revocations stand whatever happens to the message (the agent
/// saw, or was shown, the content), calls count only if they went through.
#[derive(Clone, Debug)]
pub struct Pending {
    prior: Option<SessionState>,
    /// The state with taints and revocations applied.
    pub(crate) seen: SessionState,
    /// `seen` plus the calls this message makes.
    pub(crate) passed: SessionState,
    now_ms: u64,
    ttl_ms: u64,
}

impl Pending {
    /// Starts from `prior` unless it has lapsed.
    pub(crate) fn new(prior: Option<&SessionState>, now_ms: u64, ttl_ms: u64) -> Pending {
        let live = prior.filter(|s| !s.is_expired(now_ms)).cloned().unwrap_or_default();
        Pending { prior: prior.cloned(), seen: live.clone(), passed: live, now_ms, ttl_ms }
    }

    pub(crate) fn taint(&mut self, marker: String, cause: &str) {
        self.seen.taint(marker.clone(), cause);
        self.passed.taint(marker, cause);
    }

    pub(crate) fn revoke(&mut self, tool: &str) {
        self.seen.revoked.insert(tool.to_string());
        self.passed.revoked.insert(tool.to_string());
    }

    /// The state to store, or `None` when the stored one is still good:
    /// same content and more than half its lifetime left. Refreshing at
    /// half-life keeps an active session (one whose egress calls keep being
    /// refused, say) from lapsing without a write on every message.
    pub fn settle(self, went_through: bool) -> Option<SessionState> {
        let mut next = if went_through { self.passed } else { self.seen };
        let keep = match &self.prior {
            None => next.same_content(&SessionState::default()),
            Some(p) => p.same_content(&next) && p.expires_ms.saturating_sub(self.now_ms) > self.ttl_ms / 2,
        };
        if keep {
            return None;
        }
        next.expires_ms = self.now_ms.saturating_add(self.ttl_ms);
        Some(next)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_expires() {
        let mut s = SessionState::default();
        s.count("a");
        s.taint("label:egress".into(), &"x".repeat(1000));
        s.expires_ms = 100;
        let back = SessionState::from_bytes(&s.to_bytes()).unwrap();
        assert_eq!(back, s);
        assert_eq!(back.taints["label:egress"].chars().count(), MAX_CAUSE_CHARS);
        assert!(!s.is_expired(99) && s.is_expired(100));
        assert_eq!(SessionState::from_bytes(b"not json"), None);
    }

    #[test]
    fn calls_count_only_when_through_and_lapsed_state_is_dropped() {
        let mut p = Pending::new(None, 1_000, 50);
        p.passed.count("a");
        assert_eq!(p.clone().settle(false), None, "nothing seen, call refused: nothing to store");
        let s = p.settle(true).unwrap();
        assert_eq!((s.total_calls, s.expires_ms), (1, 1_050));
        let mut p = Pending::new(Some(&s), 1_010, 50);
        p.taint("label:x".into(), "why");
        p.passed.count("a");
        let refused = p.settle(false).unwrap();
        assert_eq!(refused.total_calls, 1);
        assert!(refused.taints.contains_key("label:x"));
        let lapsed = Pending::new(Some(&refused), 5_000, 50);
        assert_eq!(lapsed.passed.total_calls, 0);
        assert_eq!(Pending::new(Some(&refused), 1_020, 50).settle(true), None, "unchanged, young");
        let refreshed = Pending::new(Some(&refused), 1_040, 50).settle(true).unwrap();
        assert_eq!(refreshed.expires_ms, 1_090, "refreshed past half-life");
        assert!(Pending::new(Some(&refused), 9_000, 50).settle(true).is_some(), "lapsed state is replaced");
    }
}
