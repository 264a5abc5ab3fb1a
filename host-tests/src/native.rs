//! The same exchanges through `ward_core` directly, with the filter's
//! contract spelled out in plain Rust: the first of the three answers the
//! parity test compares. A disagreement with the wasm host means the
//! filter's glue (not the engine) does something other than this says.
//!
//! The contract, as filters/proxy-wasm implements it: identity from the
//! request (headers; no JWT metadata or peer certificate here, as in the
//! replay host), session state kept in a store shared by all requests, the
//! whole request body inspected at once, a request block answered locally,
//! a response body inspected whole (a block replaces the body, the status
//! stays) or, for event streams, chunk by chunk through the stream guard,
//! which keeps receiving chunks after its decision.

use std::collections::HashMap;

use serde_json::Value;
use ward_core::tools::store::{self, SessionKey};
use ward_core::tools::Facts;
use ward_core::{AuditChain, Decision, Direction, Engine, Envelope, SessionState, Verdict};

use crate::abi::Headers;
use crate::exchange::Exchange;
use crate::outcome::Outcome;

pub struct NativeHost {
    engine: Engine,
    chain: AuditChain,
    now_ms: u64,
    /// Session slots, like the proxy's shared data.
    sessions: HashMap<String, Vec<u8>>,
}

struct HeaderFacts<'a>(&'a Headers);

impl Facts for HeaderFacts<'_> {
    fn header(&self, name: &str) -> Option<String> {
        let name = name.to_ascii_lowercase();
        self.0.iter().find(|(k, _)| *k == name).map(|(_, v)| v.clone())
    }
    fn jwt_payload(&self, _payload_in_metadata: &str) -> Option<Value> {
        None
    }
    fn peer_uri_san(&self) -> Option<String> {
        None
    }
}

impl NativeHost {
    pub fn new(policy_json: &[u8]) -> Result<NativeHost, String> {
        let engine = Engine::from_json(policy_json).map_err(|e| e.to_string())?;
        Ok(NativeHost { engine, chain: AuditChain::new("ward-native"), now_ms: crate::vm::wall_clock_ns() / 1_000_000, sessions: HashMap::new() })
    }

    pub fn engine(&self) -> &Engine {
        &self.engine
    }

    pub fn run(&mut self, ex: &Exchange) -> Outcome {
        let mut out = Outcome::new(&ex.name, "native");
        self.now_ms += ex.delay_ms;
        if let Err(e) = self.drive(ex, &mut out) {
            out.error = Some(e);
        }
        out.settle_verdict();
        out
    }

    fn record(&mut self, decision: &Decision, out: &mut Outcome) {
        if let Some(event) = &decision.audit {
            let sealed = self.chain.seal(event.clone());
            if let Ok(v) = serde_json::from_str(&sealed.to_json_line()) {
                out.audit.push(v);
            }
        }
    }

    fn load_session(&self, key: Option<&SessionKey>, carried: Option<&SessionState>) -> Option<SessionState> {
        let stored = key.and_then(|k| k.read(self.sessions.get(k.slot())?, self.now_ms));
        stored.or_else(|| carried.cloned())
    }

    /// Stores the engine's new session state; returns what the exchange
    /// carries on.
    fn settle_session(&mut self, key: Option<&SessionKey>, base: Option<SessionState>, next: Option<SessionState>) -> Option<SessionState> {
        let Some(next) = next else { return base };
        if let Some(k) = key {
            let current = self.sessions.get(k.slot()).and_then(|b| k.read(b, self.now_ms));
            let merged = store::merge(base.as_ref(), &next, current.as_ref(), self.now_ms);
            self.sessions.insert(k.slot().to_string(), k.encode(&merged));
        }
        Some(next)
    }

    fn drive(&mut self, ex: &Exchange, out: &mut Outcome) -> Result<(), String> {
        let headers = ex.request.header_map()?;
        let header = |name: &str| headers.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone()).unwrap_or_default();
        let mut request = Envelope {
            direction: Direction::Request,
            path: header(":path"),
            content_type: header("content-type"),
            request_id: header("x-request-id"),
            upstream: header(":authority"),
            time_ms: self.now_ms,
            ..Envelope::default()
        };
        let identity = self.engine.resolve_identity(&HeaderFacts(&headers));
        (request.agent, request.task, request.session) = (identity.agent, identity.task, identity.session);
        let key = SessionKey::new(&request, self.engine.access().session_limits());

        let body = ex.request.body_bytes()?;
        let mut session = None;
        let mut model = None;
        let decision = if body.len() > self.engine.policy().limits.max_request_bytes {
            self.engine.oversize(&request, body.len())
        } else {
            let base = self.load_session(key.as_ref(), None);
            let inspection = self.engine.inspect_session(&request, &body, base.as_ref());
            model = inspection.model;
            session = self.settle_session(key.as_ref(), base, inspection.session);
            inspection.decision
        };
        self.record(&decision, out);
        match decision.verdict {
            Verdict::Allow => out.upstream_body = Some(body),
            Verdict::Redact { body } => out.upstream_body = Some(body),
            Verdict::Block { reply, .. } => {
                out.local_reply = true;
                out.status = reply.status;
                out.body = reply.body;
                return Ok(());
            }
        }

        let response = ex.response.as_ref().ok_or("no recorded response")?;
        let rheaders = response.header_map();
        let rheader = |name: &str| rheaders.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone()).unwrap_or_default();
        out.status = rheader(":status").parse().unwrap_or(0);
        let env = Envelope { direction: Direction::Response, content_type: rheader("content-type"), model, ..request };
        let chunks = response.body_chunks()?;
        if chunks.is_empty() {
            return Ok(());
        }
        if env.is_event_stream() {
            let base = self.load_session(key.as_ref(), session.as_ref());
            let mut guard = self.engine.stream_session(&env, base.as_ref());
            let last = chunks.len() - 1;
            for (i, chunk) in chunks.iter().enumerate() {
                let step = guard.push(&self.engine, chunk, i == last);
                out.body.extend_from_slice(&step.emit);
                if let Some(d) = step.decision {
                    self.record(&d, out);
                    self.settle_session(key.as_ref(), base.clone(), step.session);
                }
            }
            return Ok(());
        }
        let whole: Vec<u8> = chunks.concat();
        let decision = if whole.len() > self.engine.policy().limits.max_response_bytes {
            self.engine.oversize(&env, whole.len())
        } else {
            let base = self.load_session(key.as_ref(), session.as_ref());
            let inspection = self.engine.inspect_session(&env, &whole, base.as_ref());
            self.settle_session(key.as_ref(), base, inspection.session);
            inspection.decision
        };
        self.record(&decision, out);
        out.body = match decision.verdict {
            Verdict::Allow => whole,
            Verdict::Redact { body } => body,
            Verdict::Block { reply, .. } => reply.body,
        };
        Ok(())
    }
}
