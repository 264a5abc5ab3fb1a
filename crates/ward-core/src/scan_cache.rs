//! The detectors' findings for segments seen in earlier bodies.
//!
//! Agent and chat traffic re-sends most of itself: every request of a
//! conversation carries the system prompt, the tool definitions and the
//! whole history again, so without a memory the detectors read a
//! conversation's first message once per turn, and its cost grows with
//! the square of its length. A segment's findings depend only on its text,
//! its origin, the direction and the policy (detectors never look at where
//! a segment sits), so they can be kept and reused for the same text.
//!
//! What makes reuse safe: the key is the whole text, compared byte for
//! byte on every hit (the hash only finds the candidate), so no crafted
//! collision can borrow a benign segment's verdict; the cache belongs to
//! one [`crate::Engine`], so a new policy starts empty; and it is bounded
//! in bytes, least recently used out first, so memory per VM stays flat
//! whatever the traffic. Findings come out exactly as a fresh scan would
//! make them (`tests/scan_cache.rs` checks this against the uncached
//! engine).

use std::collections::hash_map::DefaultHasher;
use std::collections::{HashMap, VecDeque};
use std::hash::{Hash, Hasher};

use crate::finding::Finding;
use crate::segment::{Origin, Segment};
use crate::wire::Direction;

/// Segments shorter than this are scanned every time: keeping them would
/// save a few microseconds each and fill the map with labels and one-word
/// turns. Tool descriptions, which every agent request repeats, are longer.
pub const MIN_CACHED_BYTES: usize = 64;

/// Bounded memory of per-segment findings, least recently used out first.
#[derive(Default)]
pub struct ScanCache {
    entries: HashMap<u64, Entry>,
    /// (key, use stamp) in the order of use: the front is evicted first,
    /// unless its entry was used again since (a later stamp), in which
    /// case that pair is stale and just dropped.
    order: VecDeque<(u64, u64)>,
    /// The next use stamp.
    clock: u64,
    /// Text bytes held; never above `budget`.
    bytes: usize,
    budget: usize,
    hits: u64,
    misses: u64,
}

/// How a cache has done so far.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ScanCacheStats {
    /// Segments whose findings were reused.
    pub hits: u64,
    /// Segments looked up and scanned.
    pub misses: u64,
    /// Text bytes held.
    pub bytes: usize,
    pub entries: usize,
}

struct Entry {
    direction: Direction,
    origin: Origin,
    text: Box<str>,
    /// When it was last put or reused (see `ScanCache::order`).
    stamp: u64,
    /// With the path of the segment that was scanned; replaced on reuse.
    findings: Vec<Finding>,
}

impl ScanCache {
    /// A cache holding at most `budget` bytes of segment text (0: off).
    pub fn new(budget: usize) -> ScanCache {
        ScanCache { budget, ..ScanCache::default() }
    }

    /// Whether `segment` is worth looking up (and keeping).
    pub fn wants(&self, segment: &Segment) -> bool {
        // A segment over a quarter of the budget would evict most of what
        // is kept for one entry.
        segment.text.len() >= MIN_CACHED_BYTES && segment.text.len() <= self.budget / 4
    }

    /// The findings a scan of `segment` would give, if its text was seen.
    pub fn get(&mut self, segment: &Segment, direction: Direction) -> Option<Vec<Finding>> {
        let key = key(segment, direction);
        let stamp = self.clock;
        let entry = self.entries.get_mut(&key).filter(|e| e.direction == direction && e.origin == segment.origin && same_text(&e.text, &segment.text));
        let Some(entry) = entry else {
            self.misses += 1;
            return None;
        };
        // Text every turn repeats (the system prompt, tool definitions)
        // must outlive the one-off turns behind it.
        entry.stamp = stamp;
        let found = entry.findings.iter().map(|f| Finding { path: segment.path.clone(), ..f.clone() }).collect();
        self.hits += 1;
        self.clock += 1;
        self.order.push_back((key, stamp));
        self.compact();
        Some(found)
    }

    /// Keeps what a scan of `segment` found.
    pub fn put(&mut self, segment: &Segment, direction: Direction, findings: &[Finding]) {
        if !self.wants(segment) {
            return;
        }
        let key = key(segment, direction);
        if let Some(old) = self.entries.remove(&key) {
            // The same hash for other text (or the same text again): the
            // new entry replaces it; its pair in `order` goes stale.
            self.bytes -= old.text.len();
        }
        while self.bytes + segment.text.len() > self.budget {
            let Some((oldest, stamp)) = self.order.pop_front() else { break };
            if self.entries.get(&oldest).is_some_and(|e| e.stamp == stamp) {
                if let Some(gone) = self.entries.remove(&oldest) {
                    self.bytes -= gone.text.len();
                }
            }
        }
        let stamp = self.clock;
        self.clock += 1;
        self.bytes += segment.text.len();
        self.order.push_back((key, stamp));
        let entry = Entry { direction, origin: segment.origin, text: segment.text.as_str().into(), stamp, findings: findings.to_vec() };
        self.entries.insert(key, entry);
        self.compact();
    }

    /// Drops stale pairs once they outnumber the live ones a few times
    /// over, so `order` stays proportional to the entries.
    fn compact(&mut self) {
        if self.order.len() > 4 * self.entries.len() + 16 {
            let entries = &self.entries;
            self.order.retain(|(key, stamp)| entries.get(key).is_some_and(|e| e.stamp == *stamp));
        }
    }

    pub fn stats(&self) -> ScanCacheStats {
        ScanCacheStats { hits: self.hits, misses: self.misses, bytes: self.bytes, entries: self.entries.len() }
    }
}

/// `a == b`, eight bytes a step: in wasm `memcmp` is a byte loop, and this
/// check runs over every byte of every reused segment.
fn same_text(a: &str, b: &str) -> bool {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    if a.len() != b.len() {
        return false;
    }
    let word = |c: &[u8]| u64::from_ne_bytes(c.try_into().unwrap_or([0; 8]));
    let (wa, wb) = (a.chunks_exact(8), b.chunks_exact(8));
    let (ra, rb) = (wa.remainder(), wb.remainder());
    ra == rb && wa.zip(wb).all(|(x, y)| word(x) == word(y))
}

/// Where to look for a text's entry. Only a bounded sample of the text is
/// hashed (its length, both ends and a few evenly spaced pieces): a miss
/// then costs the same for 64 bytes as for 64 KiB, while a hit is still
/// confirmed on the whole text. Texts that share the sample only share a
/// slot, the newer replacing the older: at worst a miss, never a wrong
/// answer. SipHash with fixed keys: deterministic on every host, with no
/// randomness to ask the host for.
fn key(segment: &Segment, direction: Direction) -> u64 {
    let text = segment.text.as_bytes();
    let mut h = DefaultHasher::new();
    direction.hash(&mut h);
    segment.origin.hash(&mut h);
    text.len().hash(&mut h);
    if text.len() <= SAMPLE_PIECES * PIECE {
        h.write(text);
    } else {
        let last = text.len() - PIECE;
        for i in 0..SAMPLE_PIECES {
            let at = last * i / (SAMPLE_PIECES - 1);
            h.write(text.get(at..at + PIECE).unwrap_or_default());
        }
    }
    h.finish()
}

/// A long text's key hashes this many pieces of [`PIECE`] bytes, the first
/// at its start and the last at its end.
const SAMPLE_PIECES: usize = 16;
const PIECE: usize = 32;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::finding::{Action, DetectorKind};

    fn seg(text: &str, path: &str) -> Segment {
        Segment::new(text, Origin::User, path)
    }

    fn finding(s: &Segment) -> Finding {
        Finding::new(DetectorKind::Secrets, "secrets.test", s, Some((0, 4)), 1.0, Action::Block, "test")
    }

    #[test]
    fn reuses_findings_for_the_same_text_under_the_new_path() {
        let mut cache = ScanCache::new(4096);
        let text = "x".repeat(300);
        let first = seg(&text, "/messages/0/content");
        cache.put(&first, Direction::Request, &[finding(&first)]);
        let again = seg(&text, "/messages/2/content");
        let got = cache.get(&again, Direction::Request).expect("hit");
        assert_eq!(got, vec![finding(&again)]);
        // Another direction, origin or text is another key.
        assert!(cache.get(&again, Direction::Response).is_none());
        assert!(cache.get(&Segment::new(text.clone(), Origin::Document, "/d"), Direction::Request).is_none());
        assert!(cache.get(&seg(&"y".repeat(300), "/m"), Direction::Request).is_none());
    }

    #[test]
    fn stays_within_its_budget_oldest_out_first() {
        let mut cache = ScanCache::new(4096);
        for i in 0..100 {
            let text = format!("{i:04}{}", "z".repeat(996));
            cache.put(&seg(&text, "/m"), Direction::Request, &[]);
            assert!(cache.stats().bytes <= 4096);
        }
        assert_eq!(cache.stats().entries, 4);
        assert!(cache.get(&seg(&format!("0099{}", "z".repeat(996)), "/m"), Direction::Request).is_some());
        assert!(cache.get(&seg(&format!("0095{}", "z".repeat(996)), "/m"), Direction::Request).is_none());
        // The same text put again does not count twice.
        let text = format!("0099{}", "z".repeat(996));
        for _ in 0..50 {
            cache.put(&seg(&text, "/m"), Direction::Request, &[]);
        }
        assert_eq!(cache.stats().bytes, 4000);
        assert!(cache.order.len() <= 4 * cache.stats().entries + 16);
    }

    #[test]
    fn text_in_use_outlives_one_off_text() {
        let mut cache = ScanCache::new(4096);
        let system = seg(&format!("sys{}", "s".repeat(997)), "/m/0");
        cache.put(&system, Direction::Request, &[]);
        for i in 0..100 {
            assert!(cache.get(&system, Direction::Request).is_some(), "turn {i}");
            let turn = seg(&format!("{i:04}{}", "t".repeat(996)), "/m/1");
            assert!(cache.get(&turn, Direction::Request).is_none());
            cache.put(&turn, Direction::Request, &[]);
            assert!(cache.stats().bytes <= 4096);
            assert!(cache.order.len() <= 4 * cache.stats().entries + 16);
        }
        assert_eq!(cache.stats().hits, 100);
    }

    #[test]
    fn texts_that_share_a_sampled_key_never_share_findings() {
        let mut cache = ScanCache::new(1 << 20);
        let a = format!("{}A{}", "p".repeat(5000), "q".repeat(5000));
        let b = format!("{}B{}", "p".repeat(5000), "q".repeat(5000));
        let (sa, sb) = (seg(&a, "/m"), seg(&b, "/m"));
        assert_eq!(key(&sa, Direction::Request), key(&sb, Direction::Request), "the middle byte is not sampled");
        cache.put(&sa, Direction::Request, &[finding(&sa)]);
        assert!(cache.get(&sb, Direction::Request).is_none());
        cache.put(&sb, Direction::Request, &[]);
        assert_eq!(cache.get(&sb, Direction::Request), Some(vec![]));
        assert!(cache.get(&sa, Direction::Request).is_none());
        assert_eq!(cache.stats().entries, 1);
        assert_eq!(cache.stats().bytes, b.len());
    }

    #[test]
    fn same_text_is_equality() {
        let base = "abcdefghijklmnopqrstuvwxyz0123456789".repeat(3);
        for len in 0..base.len() {
            let a = &base[..len];
            assert!(same_text(a, a));
            for at in 0..len {
                let mut b = a.as_bytes().to_vec();
                b[at] ^= 0x01;
                assert!(!same_text(a, std::str::from_utf8(&b).unwrap()), "{len} {at}");
            }
            assert!(!same_text(a, &base[..len + 1]));
        }
    }

    #[test]
    fn short_long_and_disabled() {
        let mut cache = ScanCache::new(4096);
        cache.put(&seg("short", "/m"), Direction::Request, &[]);
        cache.put(&seg(&"l".repeat(2000), "/m"), Direction::Request, &[]);
        assert_eq!(cache.stats().entries, 0);
        let mut off = ScanCache::new(0);
        off.put(&seg(&"x".repeat(300), "/m"), Direction::Request, &[]);
        assert_eq!(off.stats().entries, 0);
    }
}
