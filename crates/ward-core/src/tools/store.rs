//! How a host keeps [`SessionState`] in a key-value store its workers share
//! (proxy-wasm shared data): which key, what bytes, and how to fold in a
//! write that raced with this one. The host only gets, sets and retries.
//!
//! The store offers no deletion and no listing, so the number of keys is
//! bounded by construction: a session lives in one of
//! `tools.sessions.max_entries` slots chosen by a hash of its agent and
//! session id. A slot records whose state it holds; a session that finds
//! another live session in its slot starts afresh and, on write, takes the
//! slot over (the older session is evicted). Lapsed states are ignored on
//! read, so a slot is reused once its occupant expires.

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::flow::SessionState;
use super::policy::SessionLimits;
use crate::engine::Envelope;

/// Prefix of every slot key (shared data is shared by all filters of a VM id).
const PREFIX: &str = "ward.session.";

/// Where one session's state is stored.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SessionKey {
    slot: String,
    owner: Owner,
}

/// Two agents presenting the same session id do not share state.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
struct Owner {
    agent: Option<String>,
    session: String,
}

#[derive(Serialize, Deserialize)]
struct Record {
    owner: Owner,
    state: SessionState,
}

impl SessionKey {
    /// The key of the envelope's session; `None` when it has no session id
    /// (the host then only carries state from request to response).
    pub fn new(env: &Envelope, limits: &SessionLimits) -> Option<SessionKey> {
        let owner = Owner { agent: env.agent.clone(), session: env.session.clone()? };
        let digest = Sha256::digest(serde_json::to_vec(&owner).ok()?);
        let mut head = [0u8; 8];
        head.copy_from_slice(&digest[..8]);
        let slots = limits.max_entries.max(1) as u64;
        Some(SessionKey { slot: format!("{PREFIX}{}", u64::from_le_bytes(head) % slots), owner })
    }

    /// The store key.
    pub fn slot(&self) -> &str {
        &self.slot
    }

    /// This session's live state in what the slot holds; `None` for an
    /// empty slot, unreadable bytes, another session's state or a lapsed one.
    pub fn read(&self, stored: &[u8], now_ms: u64) -> Option<SessionState> {
        let record: Record = serde_json::from_slice(stored).ok()?;
        (record.owner == self.owner && !record.state.is_expired(now_ms)).then_some(record.state)
    }

    /// The bytes to store for `state`.
    pub fn encode(&self, state: &SessionState) -> Vec<u8> {
        serde_json::to_vec(&Record { owner: self.owner.clone(), state: state.clone() }).unwrap_or_default()
    }
}

/// Folds this message's update into a state another worker stored since
/// this one read `base`: taints and revocations are unions, call counts add
/// this message's calls (`mine` minus `base`) to the stored counts, the
/// later expiry wins. With nothing stored (`current` `None`), `mine` stands.
///
/// Two messages checked at the same time were both checked against `base`,
/// so they can overspend a budget by one call each; the counts stay right.
pub fn merge(base: Option<&SessionState>, mine: &SessionState, current: Option<&SessionState>, now_ms: u64) -> SessionState {
    let Some(current) = current.filter(|c| !c.is_expired(now_ms)) else { return mine.clone() };
    // The engine started from scratch when `base` had lapsed.
    let empty = SessionState::default();
    let base = base.filter(|b| !b.is_expired(now_ms)).unwrap_or(&empty);
    let mut out = current.clone();
    for (marker, cause) in &mine.taints {
        out.taints.entry(marker.clone()).or_insert_with(|| cause.clone());
    }
    out.revoked.extend(mine.revoked.iter().cloned());
    for (tool, n) in &mine.calls {
        let added = n.saturating_sub(base.calls.get(tool).copied().unwrap_or(0));
        if added > 0 {
            let slot = out.calls.entry(tool.clone()).or_insert(0);
            *slot = slot.saturating_add(added);
        }
    }
    out.total_calls = out.total_calls.saturating_add(mine.total_calls.saturating_sub(base.total_calls));
    out.expires_ms = out.expires_ms.max(mine.expires_ms);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(agent: Option<&str>, session: Option<&str>) -> Envelope {
        Envelope { agent: agent.map(str::to_string), session: session.map(str::to_string), ..Envelope::default() }
    }

    fn limits(n: usize) -> SessionLimits {
        SessionLimits { max_entries: n, ttl_ms: 1_000 }
    }

    fn state(calls: &[(&str, u32)], taints: &[&str], expires_ms: u64) -> SessionState {
        let mut s = SessionState { expires_ms, ..SessionState::default() };
        for (t, n) in calls {
            for _ in 0..*n {
                s.count(t);
            }
        }
        for t in taints {
            s.taint(t.to_string(), "why");
        }
        s
    }

    #[test]
    fn keys_are_bounded_and_owned() {
        assert_eq!(SessionKey::new(&env(Some("a"), None), &limits(10)), None);
        let slots: std::collections::BTreeSet<String> = (0..500).map(|i| SessionKey::new(&env(None, Some(&format!("s{i}"))), &limits(7)).unwrap().slot).collect();
        assert_eq!(slots.len(), 7, "500 sessions use exactly the 7 slots");
        let a = SessionKey::new(&env(Some("a"), Some("s")), &limits(1)).unwrap();
        let b = SessionKey::new(&env(Some("b"), Some("s")), &limits(1)).unwrap();
        assert_eq!(a.slot(), b.slot(), "one slot: both land in it");
        let s = state(&[("t", 1)], &["label:x"], 5_000);
        let stored = a.encode(&s);
        assert_eq!(a.read(&stored, 4_999), Some(s));
        assert_eq!(b.read(&stored, 4_999), None, "another agent's session with the same id");
        assert_eq!(a.read(&stored, 5_000), None, "lapsed");
        assert_eq!(a.read(b"garbage", 0), None);
        assert_eq!(a.read(b"", 0), None);
    }

    #[test]
    fn merge_adds_this_messages_calls_to_what_raced_in() {
        let base = state(&[("search", 1)], &[], 5_000);
        // This worker: one more search call and an egress taint.
        let mine = state(&[("search", 2)], &["label:reads_untrusted"], 6_000);
        // Another worker meanwhile: one send call.
        let current = state(&[("search", 1), ("send", 1)], &["label:egress"], 5_500);
        let m = merge(Some(&base), &mine, Some(&current), 1_000);
        assert_eq!(m.calls.get("search"), Some(&2));
        assert_eq!(m.calls.get("send"), Some(&1));
        assert_eq!(m.total_calls, 3);
        assert!(m.taints.contains_key("label:reads_untrusted") && m.taints.contains_key("label:egress"));
        assert_eq!(m.expires_ms, 6_000);
        assert_eq!(merge(Some(&base), &mine, None, 1_000), mine, "nothing stored: mine stands");
        assert_eq!(merge(Some(&base), &mine, Some(&current), 5_500), mine, "stored state lapsed");
        // A lapsed base means the engine counted from zero.
        let m = merge(Some(&base), &state(&[("search", 1)], &[], 9_000), Some(&state(&[("send", 1)], &[], 9_000)), 5_000);
        assert_eq!((m.calls.get("search"), m.total_calls), (Some(&1), 2));
    }
}
