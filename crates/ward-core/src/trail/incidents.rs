//! What happened in a trail: findings grouped into incidents, with who and
//! what they touched, what the filter did, whether they look deliberate,
//! and what to do about them. The `ward report` command renders this.
//!
//! One incident per rule: a rule names one way of being attacked or of
//! leaking (an injection pattern, a forbidden tool, a kind of credential),
//! which is what a notification has to describe. The assessment of intent
//! is a heuristic over where the text came from and what else happened in
//! the same session or request; its `basis` says which facts it rests on.

use std::collections::{BTreeMap, BTreeSet};

use serde::Serialize;

use crate::audit::AuditEvent;
use crate::finding::{Action, DetectorKind};
use crate::segment::Origin;
use crate::wire::{Api, Direction};

/// Most evidence references one incident lists; the count is kept whole.
pub const MAX_EVIDENCE: usize = 1000;

/// Points at one event of the trail: enough to find it and re-check it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct EventRef {
    pub chain: String,
    pub seq: u64,
    pub hash: String,
    pub time_ms: u64,
}

impl EventRef {
    fn of(e: &AuditEvent) -> EventRef {
        EventRef { chain: e.chain.clone(), seq: e.seq, hash: e.hash.clone(), time_ms: e.time_ms }
    }
}

/// How likely an incident is a deliberate, malicious act.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Likelihood {
    Unlikely,
    Possible,
    Likely,
}

impl Likelihood {
    pub fn as_str(self) -> &'static str {
        match self {
            Likelihood::Unlikely => "unlikely",
            Likelihood::Possible => "possible",
            Likelihood::Likely => "likely",
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Assessment {
    pub malicious: Likelihood,
    /// The facts the assessment rests on, in words.
    pub basis: String,
}

/// Counts by name, ordered by name.
pub type Tally = BTreeMap<String, u64>;

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Incident {
    /// The rule id: stable across reports, so incidents can be followed up.
    pub id: String,
    pub detector: DetectorKind,
    pub rule: String,
    pub first_seen_ms: u64,
    pub last_seen_ms: u64,
    /// Events with at least one finding of this rule.
    pub events: u64,
    pub findings: u64,
    /// What the filter did with those events (the action it took).
    pub actions: Tally,
    /// HTTP statuses Ward answered with, when it answered.
    pub statuses: Tally,
    pub agents: Tally,
    pub sessions: Tally,
    pub tasks: Tally,
    pub origins: Tally,
    pub directions: Tally,
    pub apis: Tally,
    pub routes: Tally,
    pub upstreams: Tally,
    pub models: Tally,
    pub tools: Tally,
    /// Distinct offending contents, by sha256 (the trail never holds them).
    pub content_sha256: Tally,
    pub assessment: Assessment,
    pub corrective_measures: Vec<String>,
    /// References to the events, first seen first, at most [`MAX_EVIDENCE`].
    pub evidence: Vec<EventRef>,
}

/// A component that carried traffic with findings.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub struct Component {
    /// `route`, `upstream`, `model`, `tool` or `mcp_server`.
    pub kind: &'static str,
    pub name: String,
    pub events: u64,
}

/// A trail, or the part of it inside a time window, summed up.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Summary {
    /// Events in the window.
    pub events: u64,
    pub events_with_findings: u64,
    /// Actions the filter took, over all events in the window.
    pub actions: Tally,
    /// Events the filter reported dropping before delivery.
    pub dropped: u64,
    pub first_event_ms: Option<u64>,
    pub last_event_ms: Option<u64>,
    pub ward_versions: BTreeSet<String>,
    pub policy_digests: BTreeSet<String>,
    pub affected: Vec<Component>,
    pub incidents: Vec<Incident>,
}

impl Summary {
    /// The strongest intent assessment over all incidents.
    pub fn malicious(&self) -> Likelihood {
        self.incidents.iter().map(|i| i.assessment.malicious).max().unwrap_or(Likelihood::Unlikely)
    }
}

/// What an incident remembers beyond its tallies, to assess it at the end.
#[derive(Default)]
struct Facts {
    untrusted_origin: bool,
    called: bool,
    outbound: bool,
    logged_only: u64,
    keys: BTreeSet<String>,
}

/// Builds a [`Summary`] one event at a time, in trail order.
///
/// ```
/// use ward_core::audit::AuditEvent;
/// use ward_core::trail::incidents::SummaryBuilder;
/// let mut b = SummaryBuilder::new(0, None);
/// b.add(&AuditEvent { time_ms: 5, ..AuditEvent::default() });
/// assert_eq!(b.finish().events, 1);
/// ```
pub struct SummaryBuilder {
    since_ms: u64,
    until_ms: Option<u64>,
    summary: Summary,
    incidents: BTreeMap<String, (Incident, Facts)>,
    affected: BTreeMap<(&'static str, String), u64>,
    /// Sessions and requests where injected instructions came from content
    /// nobody in the conversation wrote.
    injected: BTreeSet<String>,
}

impl SummaryBuilder {
    /// Events with `since_ms <= time_ms < until_ms` count; others are skipped.
    pub fn new(since_ms: u64, until_ms: Option<u64>) -> SummaryBuilder {
        SummaryBuilder {
            since_ms,
            until_ms,
            summary: Summary {
                events: 0,
                events_with_findings: 0,
                actions: Tally::new(),
                dropped: 0,
                first_event_ms: None,
                last_event_ms: None,
                ward_versions: BTreeSet::new(),
                policy_digests: BTreeSet::new(),
                affected: Vec::new(),
                incidents: Vec::new(),
            },
            incidents: BTreeMap::new(),
            affected: BTreeMap::new(),
            injected: BTreeSet::new(),
        }
    }

    pub fn add(&mut self, e: &AuditEvent) {
        if e.time_ms < self.since_ms || self.until_ms.is_some_and(|u| e.time_ms >= u) {
            return;
        }
        let s = &mut self.summary;
        s.events += 1;
        *s.actions.entry(e.action.as_str().into()).or_default() += 1;
        s.dropped = s.dropped.saturating_add(e.dropped);
        s.first_event_ms = Some(s.first_event_ms.map_or(e.time_ms, |t| t.min(e.time_ms)));
        s.last_event_ms = Some(s.last_event_ms.map_or(e.time_ms, |t| t.max(e.time_ms)));
        if !e.ward_version.is_empty() {
            s.ward_versions.insert(e.ward_version.clone());
        }
        if !e.policy_digest.is_empty() {
            s.policy_digests.insert(e.policy_digest.clone());
        }
        if e.findings.is_empty() {
            return;
        }
        s.events_with_findings += 1;
        let keys = correlation_keys(e);
        for (kind, name) in components(e) {
            *self.affected.entry((kind, name)).or_default() += 1;
        }
        let mut seen_rules = BTreeSet::new();
        for f in &e.findings {
            let (incident, facts) = self.incidents.entry(f.rule.clone()).or_insert_with(|| (Incident::new(f.detector, &f.rule, e.time_ms), Facts::default()));
            incident.findings += 1;
            bump(&mut incident.origins, f.origin.as_str());
            bump(&mut incident.content_sha256, &f.content_sha256);
            facts.untrusted_origin |= f.origin.is_untrusted();
            facts.called |= f.origin == Origin::ToolCall;
            if f.detector == DetectorKind::Injection && f.origin.is_untrusted() {
                self.injected.extend(keys.iter().cloned());
            }
            if seen_rules.insert(f.rule.as_str()) {
                incident.add_event(e);
                facts.outbound |= e.direction == Some(Direction::Request);
                facts.logged_only += u64::from(e.action <= Action::Log);
                facts.keys.extend(keys.iter().cloned());
            }
        }
    }

    pub fn finish(mut self) -> Summary {
        let mut incidents: Vec<Incident> = Vec::with_capacity(self.incidents.len());
        for (_, (mut incident, facts)) in std::mem::take(&mut self.incidents) {
            let after_injection = incident.detector != DetectorKind::Injection && !facts.keys.is_disjoint(&self.injected);
            incident.assessment = assess(&incident, &facts, after_injection);
            incident.corrective_measures = measures(&incident, &facts);
            // Files are read one chain after another; evidence reads in time.
            incident.evidence.sort_by(|a, b| (a.time_ms, &a.chain, a.seq).cmp(&(b.time_ms, &b.chain, b.seq)));
            incidents.push(incident);
        }
        incidents.sort_by(|a, b| (a.first_seen_ms, &a.rule).cmp(&(b.first_seen_ms, &b.rule)));
        self.summary.incidents = incidents;
        let mut affected: Vec<Component> = self.affected.into_iter().map(|((kind, name), events)| Component { kind, name, events }).collect();
        affected.sort_by(|a, b| (a.kind, std::cmp::Reverse(a.events), &a.name).cmp(&(b.kind, std::cmp::Reverse(b.events), &b.name)));
        self.summary.affected = affected;
        self.summary
    }
}

impl Incident {
    fn new(detector: DetectorKind, rule: &str, time_ms: u64) -> Incident {
        Incident {
            id: rule.to_string(),
            detector,
            rule: rule.to_string(),
            first_seen_ms: time_ms,
            last_seen_ms: time_ms,
            events: 0,
            findings: 0,
            actions: Tally::new(),
            statuses: Tally::new(),
            agents: Tally::new(),
            sessions: Tally::new(),
            tasks: Tally::new(),
            origins: Tally::new(),
            directions: Tally::new(),
            apis: Tally::new(),
            routes: Tally::new(),
            upstreams: Tally::new(),
            models: Tally::new(),
            tools: Tally::new(),
            content_sha256: Tally::new(),
            assessment: Assessment { malicious: Likelihood::Unlikely, basis: String::new() },
            corrective_measures: Vec::new(),
            evidence: Vec::new(),
        }
    }

    fn add_event(&mut self, e: &AuditEvent) {
        self.events += 1;
        self.first_seen_ms = self.first_seen_ms.min(e.time_ms);
        self.last_seen_ms = self.last_seen_ms.max(e.time_ms);
        bump(&mut self.actions, e.action.as_str());
        if let Some(status) = e.status {
            bump(&mut self.statuses, &status.to_string());
        }
        bump(&mut self.agents, e.agent.as_deref().unwrap_or(UNKNOWN));
        bump(&mut self.sessions, e.session.as_deref().unwrap_or(UNKNOWN));
        bump(&mut self.tasks, e.task.as_deref().unwrap_or(UNKNOWN));
        bump(&mut self.directions, e.direction.map_or(UNKNOWN, Direction::as_str));
        bump(&mut self.apis, e.api.map_or(UNKNOWN, Api::as_str));
        bump(&mut self.routes, &e.route);
        if !e.upstream.is_empty() {
            bump(&mut self.upstreams, &e.upstream);
        }
        if let Some(m) = &e.model {
            bump(&mut self.models, m);
        }
        for t in &e.tools {
            bump(&mut self.tools, t);
        }
        if self.evidence.len() < MAX_EVIDENCE {
            self.evidence.push(EventRef::of(e));
        }
    }
}

const UNKNOWN: &str = "(unknown)";

fn bump(t: &mut Tally, key: &str) {
    match t.get_mut(key) {
        Some(n) => *n += 1,
        None => {
            t.insert(key.to_string(), 1);
        }
    }
}

/// What ties events of one attack together: the session and the request
/// (a request's injection and its response's tool call share the latter).
fn correlation_keys(e: &AuditEvent) -> Vec<String> {
    let mut keys = Vec::new();
    if let Some(s) = &e.session {
        keys.push(format!("session:{s}"));
    }
    if !e.request_id.is_empty() {
        keys.push(format!("request:{}:{}", e.chain, e.request_id));
    }
    keys
}

fn components(e: &AuditEvent) -> Vec<(&'static str, String)> {
    let mut out = Vec::new();
    if !e.route.is_empty() {
        out.push(("route", e.route.clone()));
    }
    if !e.upstream.is_empty() {
        let kind = if e.api == Some(Api::Mcp) { "mcp_server" } else { "upstream" };
        out.push((kind, e.upstream.clone()));
    }
    if let Some(m) = &e.model {
        out.push(("model", m.clone()));
    }
    out.extend(e.tools.iter().map(|t| ("tool", t.clone())));
    out
}

fn names(t: &Tally) -> String {
    let v: Vec<&str> = t.keys().map(String::as_str).filter(|k| *k != UNKNOWN).take(8).collect();
    if v.is_empty() {
        "(none recorded)".into()
    } else {
        let more = t.len().saturating_sub(v.len());
        let mut s = v.join(", ");
        if more > 0 && t.len() > 8 {
            s.push_str(&format!(" and {more} more"));
        }
        s
    }
}

fn assess(i: &Incident, f: &Facts, after_injection: bool) -> Assessment {
    use Likelihood::*;
    let origins = names(&i.origins);
    let (malicious, basis) = match i.detector {
        DetectorKind::Injection if f.untrusted_origin => {
            let untrusted: Tally = i.origins.iter().filter(|(o, _)| Origin::ALL.iter().any(|k| k.is_untrusted() && k.as_str() == o.as_str())).map(|(o, n)| (o.clone(), *n)).collect();
            (Likely, format!("instructions aimed at the model arrived in {}: content neither the user nor the application wrote", names(&untrusted)))
        }
        DetectorKind::Injection => (Possible, format!("instructions aimed at the model were typed in {origins}: a jailbreak attempt, or a test")),
        DetectorKind::Tools if f.called && after_injection => {
            (Likely, "a forbidden tool was called in a session or request where injected instructions were found".into())
        }
        DetectorKind::Tools if f.called => (Possible, "a tool the policy forbids was called; no injected instructions were found in the same sessions".into()),
        DetectorKind::Tools => (Unlikely, "a forbidden tool was declared but not called: most often a configuration mismatch".into()),
        DetectorKind::Secrets if after_injection => (Likely, "credentials appeared in sessions or requests with injected instructions: a possible exfiltration".into()),
        DetectorKind::Secrets if f.outbound => (Possible, "credentials were sent towards the model or tool server: exfiltration, or an accidental paste".into()),
        DetectorKind::Secrets => (Unlikely, "credentials came back in responses: a leak to follow up, not evidently an attack".into()),
        DetectorKind::Pii if after_injection => (Possible, "personal data appeared in sessions or requests with injected instructions".into()),
        DetectorKind::Pii => (Unlikely, "personal data in traffic, with no sign of an attack in the same sessions".into()),
        DetectorKind::Policy | DetectorKind::Format => (Unlikely, "traffic Ward could not or would not inspect (malformed, oversize, unknown API): check the client if it repeats".into()),
    };
    Assessment { malicious, basis }
}

fn measures(i: &Incident, f: &Facts) -> Vec<String> {
    let mut out = Vec::new();
    let routes = names(&i.routes);
    let agents = names(&i.agents);
    if f.logged_only > 0 && !matches!(i.detector, DetectorKind::Policy | DetectorKind::Format) {
        out.push(format!(
            "{} event(s) were only logged, not blocked or redacted: set the policy's action for `{}` to block (or redact) and `mode` to enforce",
            f.logged_only, i.rule
        ));
    }
    match i.detector {
        DetectorKind::Injection => {
            out.push(format!("Find and remove the injected text at its source ({} reaching {routes}); the content digests identify each distinct payload", names(&i.origins)));
            out.push(format!("Until the source is clean, narrow the tools agents {agents} may call and review what they did in sessions {}", names(&i.sessions)));
        }
        DetectorKind::Tools => {
            out.push(format!("Confirm that the tool(s) named in these events ({}) must stay forbidden; allow a needed one by name, with a pinned digest", names(&i.tools)));
            out.push(format!("Review the prompts and tool results of sessions {} for what led the model to the call", names(&i.sessions)));
        }
        DetectorKind::Secrets => {
            out.push(format!("Rotate the {} credential(s) identified by the content digests, and revoke them where they were issued", i.content_sha256.len()));
            out.push(format!("Find how they entered {} and keep them out of prompts and tool results", names(&i.origins)));
        }
        DetectorKind::Pii => {
            out.push(format!("Check that personal data is needed on {routes}; set the PII action to redact if it is not"));
        }
        DetectorKind::Format => {
            out.push(format!("Check the clients ({agents}) that send bodies Ward cannot read; keep `on_malformed` and `on_unknown_api` failing closed"));
        }
        DetectorKind::Policy => {
            out.push(format!("Review the body size limits, or the clients ({agents}) that exceed them"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::audit::{AuditChain, AuditFinding};

    fn finding(detector: DetectorKind, rule: &str, origin: Origin, action: Action) -> AuditFinding {
        AuditFinding { detector, rule: rule.into(), origin, path: "/x".into(), action, score: 1.0, content_sha256: format!("{:064x}", rule.len()) }
    }

    fn event(t: u64, session: &str, direction: Direction, action: Action, findings: Vec<AuditFinding>) -> AuditEvent {
        AuditEvent {
            v: 1,
            time_ms: t,
            request_id: format!("r{t}"),
            api: Some(Api::OpenaiChat),
            direction: Some(direction),
            route: "/v1/chat/completions".into(),
            upstream: "llm".into(),
            agent: Some("planner".into()),
            session: Some(session.into()),
            action,
            findings,
            policy_digest: "d".into(),
            ward_version: "0.1.0".into(),
            ..AuditEvent::default()
        }
    }

    #[test]
    fn groups_by_rule_and_assesses_from_origin_and_session() {
        let mut chain = AuditChain::new("c");
        let trail = vec![
            event(10, "s1", Direction::Request, Action::Allow, vec![]),
            event(20, "s1", Direction::Request, Action::Block, vec![finding(DetectorKind::Injection, "injection.override", Origin::ToolResult, Action::Block)]),
            event(30, "s1", Direction::Response, Action::Block, vec![finding(DetectorKind::Tools, "tools.not_allowed", Origin::ToolCall, Action::Block)]),
            event(40, "s2", Direction::Response, Action::Block, vec![finding(DetectorKind::Tools, "tools.not_allowed", Origin::ToolCall, Action::Block)]),
            event(50, "s3", Direction::Request, Action::Log, vec![finding(DetectorKind::Injection, "injection.override", Origin::User, Action::Log)]),
        ];
        let mut b = SummaryBuilder::new(0, None);
        for e in trail {
            b.add(&chain.seal(e));
        }
        let s = b.finish();
        assert_eq!((s.events, s.events_with_findings), (5, 4));
        assert_eq!(s.incidents.len(), 2);
        let inj = &s.incidents[0];
        assert_eq!((inj.rule.as_str(), inj.events, inj.first_seen_ms, inj.last_seen_ms), ("injection.override", 2, 20, 50));
        assert_eq!(inj.assessment.malicious, Likelihood::Likely);
        assert!(inj.assessment.basis.contains("arrived in tool_result:"), "{}", inj.assessment.basis);
        assert_eq!(inj.actions.get("log"), Some(&1));
        assert!(inj.corrective_measures[0].contains("only logged"), "{:?}", inj.corrective_measures);
        assert_eq!(inj.evidence.iter().map(|r| r.seq).collect::<Vec<_>>(), [1, 4]);
        let tools = &s.incidents[1];
        assert_eq!(tools.assessment.malicious, Likelihood::Likely, "s1 had an injection before the call");
        assert_eq!(tools.sessions.len(), 2);
        assert_eq!(s.malicious(), Likelihood::Likely);
    }

    #[test]
    fn a_tool_call_without_injection_is_only_possible() {
        let mut b = SummaryBuilder::new(0, None);
        b.add(&event(1, "s", Direction::Response, Action::Block, vec![finding(DetectorKind::Tools, "tools.not_allowed", Origin::ToolCall, Action::Block)]));
        assert_eq!(b.finish().incidents[0].assessment.malicious, Likelihood::Possible);
    }

    #[test]
    fn window_bounds() {
        let mut b = SummaryBuilder::new(20, Some(40));
        for t in [10, 20, 30, 40] {
            b.add(&event(t, "s", Direction::Request, Action::Allow, vec![]));
        }
        let s = b.finish();
        assert_eq!((s.events, s.first_event_ms, s.last_event_ms), (2, Some(20), Some(30)));
    }
}
