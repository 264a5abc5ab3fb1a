//! A host's outbox for sealed audit events: a bounded queue, batches for the
//! collector, one batch in flight, the same batch resent with backoff until
//! it is acknowledged, and loss counted into the trail itself
//! (docs/audit.md, "Delivery").
//!
//! Pure: the host passes the time in, performs the sends and reports how
//! they ended. The proxy-wasm filter is a thin adapter over this.

use std::collections::VecDeque;

use serde::{Deserialize, Serialize};

use super::{AuditChain, AuditEvent};

/// Largest batch the collector accepts, in events and bytes
/// (`ward collect`'s limits, docs/audit.md).
pub const COLLECTOR_MAX_EVENTS: usize = 10_000;
pub const COLLECTOR_MAX_BYTES: usize = 16 << 20;

/// The host's clock step: a full batch waits at most this long for a tick
/// (hosts may only call out from their root context, on a tick).
pub const MAX_TICK_MS: u64 = 100;

/// Where and how a host delivers its events (`audit.collector` in the policy).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct CollectorConfig {
    /// The proxy's cluster (Envoy) that reaches `ward collect`.
    pub cluster: String,
    /// `:authority` of the callout; empty means the cluster name.
    pub authority: String,
    pub path: String,
    pub batch_max_events: usize,
    pub batch_max_bytes: usize,
    /// An event waits at most this long before its batch goes out.
    pub flush_interval_ms: u64,
    /// Events held (queued and in flight); past it new events are dropped.
    pub queue_max_events: usize,
    pub queue_max_bytes: usize,
    pub timeout_ms: u64,
    /// First wait after a failed send, doubled per failure up to `retry_max_ms`.
    pub retry_initial_ms: u64,
    pub retry_max_ms: u64,
}

impl Default for CollectorConfig {
    fn default() -> CollectorConfig {
        CollectorConfig {
            cluster: String::new(),
            authority: String::new(),
            path: "/v1/events".into(),
            batch_max_events: 500,
            batch_max_bytes: 1 << 20,
            flush_interval_ms: 1000,
            queue_max_events: 10_000,
            queue_max_bytes: 16 << 20,
            timeout_ms: 5000,
            retry_initial_ms: 500,
            retry_max_ms: 30_000,
        }
    }
}

impl CollectorConfig {
    /// Checks what types alone cannot. Returns the offending key and why.
    pub fn validate(&self) -> Result<(), (String, String)> {
        let fail = |key: &str, why: &str| Err((key.to_string(), why.to_string()));
        if self.cluster.trim().is_empty() {
            return fail("cluster", "must name the proxy cluster that reaches the collector");
        }
        if !self.path.starts_with('/') {
            return fail("path", "must start with `/`");
        }
        if !(1..=COLLECTOR_MAX_EVENTS).contains(&self.batch_max_events) {
            return fail("batch_max_events", &format!("must be between 1 and {COLLECTOR_MAX_EVENTS} (the collector's limit)"));
        }
        if !(1..=COLLECTOR_MAX_BYTES).contains(&self.batch_max_bytes) {
            return fail("batch_max_bytes", &format!("must be between 1 and {COLLECTOR_MAX_BYTES} (the collector's limit)"));
        }
        if self.flush_interval_ms == 0 {
            return fail("flush_interval_ms", "must be greater than 0");
        }
        if self.queue_max_events < self.batch_max_events {
            return fail("queue_max_events", "must be at least batch_max_events");
        }
        if self.queue_max_bytes < self.batch_max_bytes {
            return fail("queue_max_bytes", "must be at least batch_max_bytes");
        }
        if self.timeout_ms == 0 {
            return fail("timeout_ms", "must be greater than 0");
        }
        if self.retry_initial_ms == 0 {
            return fail("retry_initial_ms", "must be greater than 0");
        }
        if self.retry_max_ms < self.retry_initial_ms {
            return fail("retry_max_ms", "must be at least retry_initial_ms");
        }
        Ok(())
    }

    /// The callout's `:authority`.
    pub fn authority(&self) -> &str {
        if self.authority.is_empty() {
            &self.cluster
        } else {
            &self.authority
        }
    }
}

/// What became of an event handed to [`Outbox::admit`].
#[derive(Debug)]
pub enum Admission {
    /// Sealed into the chain and queued for delivery.
    Queued(Box<AuditEvent>),
    /// The queue was full: not sealed (the chain stays whole), counted, and
    /// reported in the `dropped` field of the next event that fits.
    Dropped,
}

/// A batch to send: the events' JSON lines, `\n`-terminated.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Batch {
    /// Hands the send's outcome back to [`Outbox::settle`].
    pub attempt: u64,
    pub events: usize,
    pub body: String,
}

/// How a send ended, as the host saw it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// The host could not start the call (e.g. unknown cluster).
    NotSent,
    /// Connection failure, reset or timeout: no status.
    Failed,
    Status(u16),
}

/// What [`Outbox::settle`] did with the batch.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Settled {
    /// Acknowledged: these events left the queue.
    Delivered(usize),
    /// Kept; the same batch goes again after this wait.
    Retry { after_ms: u64 },
    /// The collector refused the batch as malformed (4xx): resending cannot
    /// help, so its events were discarded and counted as dropped.
    Rejected(usize),
    /// Not the batch in flight (it already timed out): ignored.
    Stale,
}

/// Running totals, for metrics and the docs' figures.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Totals {
    pub queued: u64,
    pub delivered: u64,
    pub dropped: u64,
    pub rejected: u64,
    pub failed_sends: u64,
}

#[derive(Debug)]
struct Queued {
    line: String,
    at_ms: u64,
}

#[derive(Debug)]
struct InFlight {
    attempt: u64,
    sent_ms: u64,
}

#[derive(Debug)]
pub struct Outbox {
    config: CollectorConfig,
    queue: VecDeque<Queued>,
    queue_bytes: usize,
    in_flight: Option<InFlight>,
    /// Events in the batch in flight or awaiting its retry: a retry
    /// resends exactly these.
    pending_batch: Option<usize>,
    retry_at_ms: u64,
    failures: u32,
    next_attempt: u64,
    /// Drops not yet reported in a sealed event.
    unreported_drops: u64,
    totals: Totals,
}

impl Outbox {
    pub fn new(config: CollectorConfig) -> Outbox {
        Outbox {
            config,
            queue: VecDeque::new(),
            queue_bytes: 0,
            in_flight: None,
            pending_batch: None,
            retry_at_ms: 0,
            failures: 0,
            next_attempt: 0,
            unreported_drops: 0,
            totals: Totals::default(),
        }
    }

    pub fn config(&self) -> &CollectorConfig {
        &self.config
    }

    /// How often the host should call [`Outbox::poll`].
    pub fn tick_period_ms(&self) -> u64 {
        self.config.flush_interval_ms.clamp(1, MAX_TICK_MS)
    }

    pub fn totals(&self) -> Totals {
        self.totals
    }

    /// Events held, in flight included.
    pub fn len(&self) -> usize {
        self.queue.len()
    }

    pub fn is_empty(&self) -> bool {
        self.queue.is_empty()
    }

    /// Seals `event` into `chain` and queues it, or drops it when the queue
    /// is full. The newest event is the one dropped: it has not been sealed
    /// yet, so the chain stays whole and the loss is a number in the next
    /// event rather than a hole, and the oldest events (the start of an
    /// incident) are the ones kept. The byte bound may be passed by one event.
    pub fn admit(&mut self, chain: &mut AuditChain, mut event: AuditEvent, now_ms: u64) -> Admission {
        if self.queue.len() >= self.config.queue_max_events || self.queue_bytes >= self.config.queue_max_bytes {
            self.count_drops(1);
            return Admission::Dropped;
        }
        event.dropped = event.dropped.saturating_add(self.unreported_drops);
        self.unreported_drops = 0;
        let (sealed, line) = chain.seal_line(event);
        self.queue_bytes += line.len() + 1;
        self.queue.push_back(Queued { line, at_ms: now_ms });
        self.totals.queued += 1;
        Admission::Queued(Box::new(sealed))
    }

    fn count_drops(&mut self, n: u64) {
        self.unreported_drops = self.unreported_drops.saturating_add(n);
        self.totals.dropped = self.totals.dropped.saturating_add(n);
    }

    /// The batch to send now, if one is due: a full batch, an event that
    /// waited `flush_interval_ms`, or a retry whose wait is over. Never
    /// while another batch is in flight, except that one unanswered for
    /// twice its timeout counts as failed.
    pub fn poll(&mut self, now_ms: u64) -> Option<Batch> {
        if let Some(flight) = &self.in_flight {
            let deadline = flight.sent_ms.saturating_add(self.config.timeout_ms.saturating_mul(2));
            if now_ms < deadline {
                return None;
            }
            let attempt = flight.attempt;
            self.settle(attempt, Outcome::Failed, now_ms);
        }
        let oldest = self.queue.front()?;
        if now_ms < self.retry_at_ms {
            return None;
        }
        let full = self.queue.len() >= self.config.batch_max_events || self.queue_bytes >= self.config.batch_max_bytes;
        let waited = now_ms.saturating_sub(oldest.at_ms) >= self.config.flush_interval_ms;
        if !(full || waited || self.pending_batch.is_some()) {
            return None;
        }
        let (events, body) = self.batch_body();
        self.pending_batch = Some(events);
        self.next_attempt += 1;
        self.in_flight = Some(InFlight { attempt: self.next_attempt, sent_ms: now_ms });
        Some(Batch { attempt: self.next_attempt, events, body })
    }

    /// The events at the queue's front that make the next batch: the failed
    /// batch again when there is one, else as many as the limits allow (at
    /// least one, however large).
    fn batch_body(&self) -> (usize, String) {
        let mut body = String::new();
        let mut events = 0;
        for q in &self.queue {
            let fits = match self.pending_batch {
                Some(n) => events < n,
                None => {
                    events == 0
                        || (events < self.config.batch_max_events && body.len() + q.line.len() < self.config.batch_max_bytes)
                }
            };
            if !fits {
                break;
            }
            body.push_str(&q.line);
            body.push('\n');
            events += 1;
        }
        (events, body)
    }

    /// Records how the send of batch `attempt` ended.
    pub fn settle(&mut self, attempt: u64, outcome: Outcome, now_ms: u64) -> Settled {
        if self.in_flight.as_ref().is_none_or(|f| f.attempt != attempt) {
            return Settled::Stale;
        }
        self.in_flight = None;
        let events = self.pending_batch.unwrap_or(0);
        match outcome {
            Outcome::Status(200..=299) => {
                self.pop(events);
                self.totals.delivered += events as u64;
                self.failures = 0;
                self.retry_at_ms = 0;
                Settled::Delivered(events)
            }
            // A refused batch stays refused; 408 and 429 are worth a retry.
            Outcome::Status(status @ 400..=499) if status != 408 && status != 429 => {
                self.pop(events);
                self.totals.rejected += events as u64;
                self.count_drops(events as u64);
                self.failures = 0;
                self.retry_at_ms = 0;
                Settled::Rejected(events)
            }
            _ => {
                self.totals.failed_sends += 1;
                self.failures = self.failures.saturating_add(1);
                let doublings = (self.failures - 1).min(32);
                let after_ms = self.config.retry_initial_ms.saturating_mul(1u64 << doublings).min(self.config.retry_max_ms);
                self.retry_at_ms = now_ms.saturating_add(after_ms);
                // `pending_batch` stays: the same batch goes again.
                Settled::Retry { after_ms }
            }
        }
    }

    fn pop(&mut self, events: usize) {
        for _ in 0..events {
            if let Some(q) = self.queue.pop_front() {
                self.queue_bytes -= q.line.len() + 1;
            }
        }
        self.pending_batch = None;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config() -> CollectorConfig {
        CollectorConfig {
            cluster: "ward_collector".into(),
            batch_max_events: 3,
            queue_max_events: 5,
            flush_interval_ms: 1000,
            retry_initial_ms: 100,
            retry_max_ms: 350,
            timeout_ms: 1000,
            ..CollectorConfig::default()
        }
    }

    fn event(i: usize) -> AuditEvent {
        AuditEvent { request_id: format!("r{i}"), ..AuditEvent::default() }
    }

    fn lines(batch: &Batch) -> Vec<AuditEvent> {
        batch.body.lines().map(|l| serde_json::from_str(l).unwrap()).collect()
    }

    fn admit_n(outbox: &mut Outbox, chain: &mut AuditChain, n: usize, now: u64) -> Vec<Admission> {
        (0..n).map(|i| outbox.admit(chain, event(i), now)).collect()
    }

    #[test]
    fn a_full_batch_goes_at_once_a_partial_one_after_the_interval() {
        let mut chain = AuditChain::new("c");
        let mut outbox = Outbox::new(config());
        admit_n(&mut outbox, &mut chain, 2, 0);
        assert_eq!(outbox.poll(999), None, "neither full nor old enough");
        admit_n(&mut outbox, &mut chain, 2, 10);
        let batch = outbox.poll(10).expect("full batch");
        assert_eq!(batch.events, 3);
        assert_eq!(lines(&batch).iter().map(|e| e.seq).collect::<Vec<_>>(), [0, 1, 2]);
        assert!(batch.body.ends_with('\n'));
        assert_eq!(outbox.poll(1500), None, "one batch in flight");
        assert_eq!(outbox.settle(batch.attempt, Outcome::Status(200), 20), Settled::Delivered(3));
        assert_eq!(outbox.poll(20), None, "the last event has waited 10 ms");
        let rest = outbox.poll(1010).expect("the interval passed");
        assert_eq!(lines(&rest)[0].seq, 3);
        assert_eq!(outbox.settle(rest.attempt, Outcome::Status(204), 1011), Settled::Delivered(1));
        assert!(outbox.is_empty());
        assert_eq!(outbox.totals().delivered, 4);
    }

    #[test]
    fn batches_respect_the_byte_limit_but_always_carry_one_event() {
        let mut chain = AuditChain::new("c");
        let line_len = chain.clone().seal(event(0)).to_json_line().len();
        let mut outbox = Outbox::new(CollectorConfig { batch_max_bytes: 2 * line_len + 10, ..config() });
        admit_n(&mut outbox, &mut chain, 3, 0);
        let batch = outbox.poll(0).expect("over the byte limit: full");
        assert_eq!(batch.events, 2);
        assert!(batch.body.len() <= 2 * line_len + 10);
        outbox.settle(batch.attempt, Outcome::Status(200), 0);
        let mut tiny = Outbox::new(CollectorConfig { batch_max_bytes: 1, ..config() });
        admit_n(&mut tiny, &mut chain, 2, 0);
        assert_eq!(tiny.poll(0).map(|b| b.events), Some(1));
    }

    #[test]
    fn a_failed_batch_is_resent_unchanged_with_capped_backoff() {
        let mut chain = AuditChain::new("c");
        let mut outbox = Outbox::new(config());
        admit_n(&mut outbox, &mut chain, 2, 0);
        let first = outbox.poll(1000).unwrap();
        assert_eq!(first.events, 2);
        // More events arrive while it fails: the retry is still the same batch.
        admit_n(&mut outbox, &mut chain, 1, 1000);
        let mut now = 1000;
        let mut waits = Vec::new();
        let mut batch = first.clone();
        for outcome in [Outcome::Failed, Outcome::Status(503), Outcome::NotSent, Outcome::Status(429)] {
            let Settled::Retry { after_ms } = outbox.settle(batch.attempt, outcome, now) else { panic!("{outcome:?} is worth a retry") };
            waits.push(after_ms);
            assert_eq!(outbox.poll(now + after_ms - 1), None, "still backing off");
            now += after_ms;
            batch = outbox.poll(now).unwrap();
            assert_eq!(batch.body, first.body);
        }
        assert_eq!(waits, [100, 200, 350, 350]);
        assert_eq!(outbox.settle(batch.attempt, Outcome::Status(200), now), Settled::Delivered(2));
        // Success resets the backoff; the event that waited goes next.
        let next = outbox.poll(now).unwrap();
        assert_eq!(lines(&next)[0].seq, 2);
        assert_eq!(outbox.totals().failed_sends, 4);
    }

    #[test]
    fn overflow_drops_the_newest_unsealed_and_reports_it_in_the_next_event() {
        let mut chain = AuditChain::new("c");
        let mut outbox = Outbox::new(config());
        let admitted = admit_n(&mut outbox, &mut chain, 8, 0);
        let dropped = admitted.iter().filter(|a| matches!(a, Admission::Dropped)).count();
        assert_eq!((outbox.len(), dropped), (5, 3));
        assert_eq!(outbox.totals().dropped, 3);
        let batch = outbox.poll(0).unwrap();
        outbox.settle(batch.attempt, Outcome::Status(200), 0);
        let Admission::Queued(next) = outbox.admit(&mut chain, event(9), 1) else { panic!("room again") };
        // The chain has no hole: the dropped events were never sealed.
        assert_eq!((next.seq, next.dropped), (5, 3));
        let Admission::Queued(after) = outbox.admit(&mut chain, event(10), 1) else { panic!() };
        assert_eq!(after.dropped, 0, "reported once");
    }

    #[test]
    fn the_byte_bound_drops_too() {
        let mut chain = AuditChain::new("c");
        let mut outbox = Outbox::new(CollectorConfig { batch_max_bytes: 1, queue_max_bytes: 1, ..config() });
        let admitted = admit_n(&mut outbox, &mut chain, 2, 0);
        assert!(matches!(admitted[0], Admission::Queued(_)));
        assert!(matches!(admitted[1], Admission::Dropped));
    }

    #[test]
    fn a_refused_batch_is_discarded_and_counted() {
        let mut chain = AuditChain::new("c");
        let mut outbox = Outbox::new(config());
        admit_n(&mut outbox, &mut chain, 4, 0);
        let batch = outbox.poll(0).unwrap();
        assert_eq!(outbox.settle(batch.attempt, Outcome::Status(400), 0), Settled::Rejected(3));
        assert_eq!(outbox.len(), 1);
        let Admission::Queued(next) = outbox.admit(&mut chain, event(5), 0) else { panic!() };
        assert_eq!(next.dropped, 3);
        assert_eq!(outbox.totals().rejected, 3);
    }

    #[test]
    fn an_unanswered_batch_times_out_and_its_late_answer_is_ignored() {
        let mut chain = AuditChain::new("c");
        let mut outbox = Outbox::new(config());
        admit_n(&mut outbox, &mut chain, 3, 0);
        let lost = outbox.poll(0).unwrap();
        assert_eq!(outbox.poll(1999), None);
        assert_eq!(outbox.poll(2000), None, "timed out, now backing off");
        let again = outbox.poll(2100).unwrap();
        assert_eq!(again.body, lost.body);
        assert_eq!(outbox.settle(lost.attempt, Outcome::Status(200), 2100), Settled::Stale);
        assert_eq!(outbox.settle(again.attempt, Outcome::Status(200), 2100), Settled::Delivered(3));
    }

    #[test]
    fn delivered_lines_form_one_whole_chain() {
        let mut chain = AuditChain::new("c");
        let mut outbox = Outbox::new(CollectorConfig { queue_max_events: 10_000, ..config() });
        let mut got = Vec::new();
        let mut now = 0;
        for i in 0..50 {
            outbox.admit(&mut chain, event(i), now);
            now += 37;
            if let Some(b) = outbox.poll(now) {
                got.extend(lines(&b));
                let outcome = if i % 4 == 0 { Outcome::Failed } else { Outcome::Status(200) };
                if outbox.settle(b.attempt, outcome, now) != Settled::Delivered(b.events) {
                    got.truncate(got.len() - b.events);
                }
            }
        }
        while let Some(b) = outbox.poll(now + 10_000) {
            got.extend(lines(&b));
            outbox.settle(b.attempt, Outcome::Status(200), now);
        }
        assert_eq!(got.len(), 50);
        let mut prev = crate::audit::GENESIS.to_string();
        for (i, e) in got.iter().enumerate() {
            assert_eq!((e.seq, &e.prev), (i as u64, &prev));
            prev = e.hash.clone();
        }
    }

    #[test]
    fn validation_names_the_key() {
        let bad = |c: CollectorConfig| c.validate().unwrap_err().0;
        assert_eq!(bad(CollectorConfig::default()), "cluster");
        assert_eq!(bad(CollectorConfig { path: "v1".into(), ..config() }), "path");
        assert_eq!(bad(CollectorConfig { batch_max_events: 10_001, ..config() }), "batch_max_events");
        assert_eq!(bad(CollectorConfig { batch_max_bytes: 0, ..config() }), "batch_max_bytes");
        assert_eq!(bad(CollectorConfig { queue_max_events: 2, ..config() }), "queue_max_events");
        assert_eq!(bad(CollectorConfig { retry_max_ms: 1, ..config() }), "retry_max_ms");
        assert!(config().validate().is_ok());
        assert_eq!(config().authority(), "ward_collector");
    }

    #[test]
    fn the_policy_carries_it_and_errors_name_the_path() {
        let err = crate::Policy::from_json(b"{\"audit\": {\n  \"collector\": {\"cluster\": \"c\",\n    \"batch_max_events\": 0}}}").unwrap_err();
        assert_eq!((err.path.as_str(), err.line), ("audit.collector.batch_max_events", 3));
        let err = crate::Policy::from_json(br#"{"audit": {"collector": {"cluster": "c", "batch": 1}}}"#).unwrap_err();
        assert!(err.path.starts_with("audit.collector"), "{err}");
        let err = crate::Policy::from_json(br#"{"audit": {"collector": {"flush_interval_ms": "soon"}}}"#).unwrap_err();
        assert_eq!(err.path, "audit.collector.flush_interval_ms");
        let p = crate::Policy::from_json(br#"{"audit": {"log": false, "collector": {"cluster": "ward_collector"}}}"#).unwrap();
        assert_eq!(p.audit.collector.map(|c| c.batch_max_events), Some(CollectorConfig::default().batch_max_events));
        assert!(!p.audit.log);
        // Policies that do not use delivery keep their digest.
        let plain = crate::Policy::from_json(b"{}").unwrap();
        let explicit = crate::Policy::from_json(br#"{"audit": {"log": true}}"#).unwrap();
        assert_eq!(plain.digest(), explicit.digest());
        assert!(!serde_json::to_string(&plain).unwrap().contains("collector"));
    }
}
