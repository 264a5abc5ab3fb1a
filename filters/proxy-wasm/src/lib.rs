//! Ward as a proxy-wasm HTTP filter: a root context that compiles the policy
//! once per VM, and an HTTP context per request that hands bodies to the
//! engine and carries out its verdict. Everything else lives in `ward-core`.

use std::cell::RefCell;
use std::collections::HashMap;
use std::rc::Rc;
use std::time::{Duration, UNIX_EPOCH};

use proxy_wasm::hostcalls;
use proxy_wasm::traits::{Context, HttpContext, RootContext};
use proxy_wasm::types::{Action, ContextType, LogLevel, MapType, MetricType, Status};
use ward_core::audit::outbox::{Admission, Outbox, Outcome, Settled};
use ward_core::tools::store::{self, SessionKey};
use ward_core::tools::{metadata, Facts};
use ward_core::{AuditChain, AuditEvent, Decision, Direction, Engine, Envelope, SessionState, StreamGuard, Verdict};

proxy_wasm::main! {{
    proxy_wasm::set_log_level(LogLevel::Info);
    proxy_wasm::set_root_context(|context_id| -> Box<dyn RootContext> {
        Box::new(WardRoot { context_id, shared: None, callout: None, failing: false })
    });
}}

/// What every request of one VM shares: the compiled policy, the VM's audit
/// chain, its outbox to the collector and its metric ids.
struct Shared {
    engine: Engine,
    chain: RefCell<AuditChain>,
    /// Shared with the next configuration of this VM when its collector
    /// settings are unchanged, so a reload loses no queued event.
    outbox: Option<Rc<RefCell<Outbox>>>,
    metrics: RefCell<HashMap<String, u32>>,
}

impl Shared {
    /// Seals the decision's audit event into this VM's chain and ships it
    /// (the event is taken: nothing reads it after this).
    fn record(&self, decision: &mut Decision) {
        self.count(decision_metric(decision.action()));
        for f in &decision.findings {
            self.count(&format!("ward.finding.{}.{}", f.detector.as_str(), f.action.as_str()));
        }
        if let Some(event) = decision.audit.take() {
            self.emit(event);
        }
    }

    /// Seals an event and queues it for the collector (the root context
    /// sends it on a tick), and/or writes it to the proxy's log.
    fn emit(&self, event: AuditEvent) {
        let line = match &self.outbox {
            Some(outbox) => {
                let now = now_ms(hostcalls::get_current_time().unwrap_or(UNIX_EPOCH));
                match outbox.borrow_mut().admit(&mut self.chain.borrow_mut(), event, now) {
                    Admission::Queued(sealed) if self.engine.policy().audit.log => sealed.to_json_line(),
                    Admission::Queued(_) => return,
                    Admission::Dropped => {
                        self.count("ward.audit.dropped");
                        return;
                    }
                }
            }
            None => self.chain.borrow_mut().seal_line(event).1,
        };
        if self.engine.policy().audit.log {
            proxy_wasm::hostcalls::log(LogLevel::Info, &format!("ward-audit {line}")).ok();
        }
    }

    fn count(&self, name: &str) {
        self.count_by(name, 1);
    }

    fn count_by(&self, name: &str, n: u64) {
        if n == 0 {
            return;
        }
        let mut metrics = self.metrics.borrow_mut();
        let id = match metrics.get(name) {
            Some(id) => *id,
            None => match hostcalls::define_metric(MetricType::Counter, name) {
                Ok(id) => *metrics.entry(name.to_string()).or_insert(id),
                Err(_) => return,
            },
        };
        hostcalls::increment_metric(id, n.min(i64::MAX as u64) as i64).ok();
    }
}

/// Shared-data key (per VM id) holding the highest signed policy version
/// accepted so far, in decimal.
const HIGHEST_VERSION_KEY: &str = "ward.policy.highest_version";

struct WardRoot {
    context_id: u32,
    shared: Option<Rc<Shared>>,
    /// The collector callout in flight: its token and the outbox's attempt.
    callout: Option<(u32, u64)>,
    /// Delivery is failing (logged once when it starts and once when it ends).
    failing: bool,
}

impl Context for WardRoot {
    fn on_http_call_response(&mut self, token: u32, num_headers: usize, _body_size: usize, _num_trailers: usize) {
        let Some((_, attempt)) = self.callout.take_if(|(t, _)| *t == token) else { return };
        // Envoy answers a failed call (reset, timeout, no host) with no headers.
        let outcome = match self.get_http_call_response_header(":status").and_then(|s| s.parse::<u16>().ok()) {
            Some(status) if num_headers > 0 => Outcome::Status(status),
            _ => Outcome::Failed,
        };
        let now = now_ms(self.get_current_time());
        self.settle(attempt, outcome, now);
        // A backlog drains at the collector's pace, not the tick's.
        self.flush();
    }
}

impl WardRoot {
    /// Sends the outbox's next batch if one is due. Only the root context
    /// calls out: a callout made by a request's context dies with it.
    fn flush(&mut self) {
        let Some(outbox) = self.shared.as_ref().and_then(|s| s.outbox.clone()) else { return };
        let now = now_ms(self.get_current_time());
        let Some(batch) = outbox.borrow_mut().poll(now) else { return };
        let sent = {
            let outbox = outbox.borrow();
            let config = outbox.config();
            let headers = vec![
                (":method", "POST"),
                (":path", config.path.as_str()),
                (":authority", config.authority()),
                ("content-type", "application/x-ndjson"),
            ];
            let timeout = Duration::from_millis(config.timeout_ms);
            self.dispatch_http_call(&config.cluster, headers, Some(batch.body.as_bytes()), vec![], timeout)
        };
        match sent {
            Ok(token) => self.callout = Some((token, batch.attempt)),
            Err(status) => {
                if !self.failing {
                    let cluster = outbox.borrow().config().cluster.clone();
                    hostcalls::log(LogLevel::Warn, &format!("ward: audit delivery: cannot call cluster {cluster}: {status:?}")).ok();
                }
                self.settle(batch.attempt, Outcome::NotSent, now);
            }
        }
    }

    fn settle(&mut self, attempt: u64, outcome: Outcome, now: u64) {
        let Some(shared) = self.shared.clone() else { return };
        let Some(outbox) = &shared.outbox else { return };
        let settled = outbox.borrow_mut().settle(attempt, outcome, now);
        let queued = outbox.borrow().len();
        match settled {
            Settled::Delivered(n) => {
                shared.count_by("ward.audit.delivered", n as u64);
                if self.failing {
                    self.failing = false;
                    hostcalls::log(LogLevel::Info, &format!("ward: audit delivery resumed ({queued} event(s) queued)")).ok();
                }
            }
            Settled::Retry { after_ms } => {
                shared.count("ward.audit.send_failures");
                if !self.failing {
                    self.failing = true;
                    hostcalls::log(
                        LogLevel::Warn,
                        &format!("ward: audit delivery failed ({outcome:?}); retrying every <= {after_ms} ms, {queued} event(s) queued"),
                    )
                    .ok();
                }
            }
            Settled::Rejected(n) => {
                shared.count_by("ward.audit.dropped", n as u64);
                hostcalls::log(LogLevel::Error, &format!("ward: audit delivery: collector refused a batch ({outcome:?}); {n} event(s) dropped")).ok();
            }
            Settled::Stale => {}
        }
    }
}

impl RootContext for WardRoot {
    fn on_configure(&mut self, _size: usize) -> bool {
        let config = self.get_plugin_configuration().unwrap_or_default();
        let config = if config.iter().all(u8::is_ascii_whitespace) { b"{}".to_vec() } else { config };
        let started = self.get_current_time();
        let now = now_ms(started);
        // Every worker's VM seals its own chain, and workers configure at
        // the same moment: a chain id in milliseconds let two of them share
        // one id, and the collector then saw two interleaved chains as one
        // broken chain. The clock's nanoseconds tell them apart.
        let started_ns = started.duration_since(UNIX_EPOCH).map(|d| d.as_nanos()).unwrap_or(0);
        let chain_id = format!("ward-{started_ns}-{}", self.context_id);
        // The highest signed version any configuration of this VM accepted:
        // a reload may not go below it (anti-rollback).
        let (seen, cas) = self.get_shared_data(HIGHEST_VERSION_KEY);
        let highest = seen.and_then(|b| String::from_utf8(b).ok()).and_then(|s| s.parse::<u64>().ok()).unwrap_or(0);
        match ward_core::signing::load_config(&config, now, highest) {
            Ok(loaded) => {
                if let Some(version) = loaded.version.filter(|v| *v > highest) {
                    self.set_shared_data(HIGHEST_VERSION_KEY, Some(version.to_string().as_bytes()), cas).ok();
                }
                let engine = Engine::new(loaded.policy);
                let signed = loaded.version.map(|v| format!(" signed version {v}")).unwrap_or_default();
                proxy_wasm::hostcalls::log(
                    LogLevel::Info,
                    &format!("ward: policy loaded, sha256:{}{signed} chain {chain_id}", engine.policy_digest()),
                )
                .ok();
                let outbox = engine.policy().audit.collector.clone().map(|config| {
                    let previous = self.shared.as_ref().and_then(|s| s.outbox.clone());
                    match previous.filter(|o| o.borrow().config() == &config) {
                        Some(same) => same,
                        None => Rc::new(RefCell::new(Outbox::new(config))),
                    }
                });
                if let Some(outbox) = &outbox {
                    self.set_tick_period(Duration::from_millis(outbox.borrow().tick_period_ms()));
                }
                self.shared = Some(Rc::new(Shared {
                    engine,
                    chain: RefCell::new(AuditChain::new(chain_id)),
                    outbox,
                    metrics: RefCell::new(HashMap::new()),
                }));
                true
            }
            Err(e) => {
                // Refusing the configuration keeps Envoy from running this
                // filter unprotected (with fail_open: false it will not start).
                let reason = e.to_string();
                proxy_wasm::hostcalls::log(LogLevel::Critical, &format!("ward: policy rejected: {reason}")).ok();
                let event = AuditChain::new(chain_id).seal(ward_core::signing::rejection_event(&reason, now));
                proxy_wasm::hostcalls::log(LogLevel::Info, &format!("ward-audit {}", event.to_json_line())).ok();
                false
            }
        }
    }

    fn create_http_context(&self, _context_id: u32) -> Option<Box<dyn HttpContext>> {
        let shared = self.shared.clone()?;
        Some(Box::new(WardHttp {
            shared,
            request: Envelope::default(),
            response: Envelope::default(),
            stream: None,
            session_key: None,
            session: None,
            model: None,
            done: false,
        }))
    }

    fn get_type(&self) -> Option<ContextType> {
        Some(ContextType::HttpContext)
    }

    fn on_tick(&mut self) {
        self.flush();
    }
}

struct WardHttp {
    shared: Rc<Shared>,
    request: Envelope,
    response: Envelope,
    stream: Option<StreamGuard>,
    /// Where the session's state is stored, when the request names a session.
    session_key: Option<SessionKey>,
    /// The session's state as this exchange last saw it, for its response.
    session: Option<SessionState>,
    /// The model the request asked for (the response's `Envelope::model`).
    model: Option<String>,
    /// A block was answered; nothing more to inspect.
    done: bool,
}

impl Context for WardHttp {}

impl HttpContext for WardHttp {
    fn on_http_request_headers(&mut self, _headers: usize, end_of_stream: bool) -> Action {
        // Values are read as bytes: the SDK's string getter panics (a trap)
        // on a header that is not UTF-8, which a client can send.
        let header = |name: &str| self.get_http_request_header_bytes(name).map(lossy).unwrap_or_default();
        self.request = Envelope {
            direction: Direction::Request,
            path: header(":path"),
            content_type: header("content-type"),
            content_encoding: header("content-encoding"),
            request_id: header("x-request-id"),
            upstream: header(":authority"),
            time_ms: now_ms(self.get_current_time()),
            ..Envelope::default()
        };
        let identity = self.shared.engine.resolve_identity(&HostFacts);
        (self.request.agent, self.request.task, self.request.session) = (identity.agent, identity.task, identity.session);
        self.session_key = SessionKey::new(&self.request, self.shared.engine.access().session_limits());
        if end_of_stream {
            return self.inspect(Direction::Request, b"");
        }
        // The body may be rewritten (redaction), so its length may change;
        // the upstream codec frames it anew.
        self.set_http_request_header("content-length", None);
        if decoded_here(&self.request) {
            // Headers leave before the body is read: a gzip/deflate body is
            // always forwarded decoded (docs/security.md).
            self.set_http_request_header("content-encoding", None);
        }
        Action::Continue
    }

    fn on_http_request_body(&mut self, body_size: usize, end_of_stream: bool) -> Action {
        if self.done {
            return Action::Continue;
        }
        if body_size > self.shared.engine.policy().limits.max_request_bytes {
            let decision = self.shared.engine.oversize(&self.request, body_size);
            return self.apply(decision, Direction::Request);
        }
        if !end_of_stream {
            return Action::Pause;
        }
        let body = self.get_http_request_body(0, body_size).unwrap_or_default();
        self.inspect(Direction::Request, &body)
    }

    fn on_http_response_headers(&mut self, _headers: usize, end_of_stream: bool) -> Action {
        if self.done {
            return Action::Continue;
        }
        // Lets a client quote the id that finds this exchange in the trail.
        if !self.request.request_id.is_empty() {
            self.set_http_response_header("x-ward-request-id", Some(&self.request.request_id.clone()));
        }
        let content_type = self.get_http_response_header_bytes("content-type").map(lossy).unwrap_or_default();
        let content_encoding = self.get_http_response_header_bytes("content-encoding").map(lossy).unwrap_or_default();
        self.response = Envelope {
            direction: Direction::Response,
            content_type,
            content_encoding,
            time_ms: now_ms(self.get_current_time()),
            model: self.model.clone(),
            ..self.request.clone()
        };
        if end_of_stream {
            return Action::Continue;
        }
        self.set_http_response_header("content-length", None);
        if decoded_here(&self.response) {
            self.set_http_response_header("content-encoding", None);
        }
        // An encoded stream cannot be inspected chunk by chunk: it is
        // buffered and inspected whole below.
        if self.response.is_event_stream() && !ward_core::encoding::is_encoded(&self.response.content_encoding) {
            self.session = self.load_session(self.response.time_ms);
            self.stream = Some(self.shared.engine.stream_session(&self.response, self.session.as_ref()));
            return Action::Continue;
        }
        // Envoy sends response headers on as soon as this returns (pausing
        // here would stop the body callbacks too), so a response block
        // cannot change the status: it replaces the body with the API's
        // error object instead.
        Action::Continue
    }

    fn on_http_response_body(&mut self, body_size: usize, end_of_stream: bool) -> Action {
        // A stream keeps going through its guard even after it decided: past
        // a block the guard swallows what the upstream still sends.
        if let Some(mut guard) = self.stream.take() {
            let chunk = self.get_http_response_body(0, body_size).unwrap_or_default();
            let step = guard.push(&self.shared.engine, &chunk, end_of_stream);
            // Most chunks pass as they came: replacing them would copy each
            // into Envoy's buffer again for nothing. Only when the read got
            // the whole chunk (a failed read must not let it through).
            if chunk.len() != body_size || step.emit != chunk {
                self.set_http_response_body(0, body_size, &step.emit);
            }
            if let Some(mut decision) = step.decision {
                self.shared.record(&mut decision);
                let base = self.session.take();
                self.settle_session(base, step.session, self.response.time_ms);
            }
            self.stream = Some(guard);
            return Action::Continue;
        }
        if self.done {
            return Action::Continue;
        }
        if body_size > self.shared.engine.policy().limits.max_response_bytes {
            let decision = self.shared.engine.oversize(&self.response, body_size);
            return self.apply(decision, Direction::Response);
        }
        if !end_of_stream {
            return Action::Pause;
        }
        let body = self.get_http_response_body(0, body_size).unwrap_or_default();
        self.inspect(Direction::Response, &body)
    }
}

impl WardHttp {
    /// Inspects a whole body within its session and carries out the verdict.
    /// A gzip/deflate body is decoded first and, if allowed, forwarded
    /// decoded (its `content-encoding` header is already gone).
    fn inspect(&mut self, direction: Direction, body: &[u8]) -> Action {
        let env = if direction == Direction::Request { &self.request } else { &self.response };
        let mut decoded = None;
        if decoded_here(env) {
            match self.shared.engine.decode_body(env, body) {
                Ok(plain) => decoded = Some(plain.into_owned()),
                Err(decision) => return self.apply(decision, direction),
            }
        }
        let plain_env;
        let (env, body) = match &decoded {
            Some(plain) => {
                plain_env = Envelope { content_encoding: String::new(), ..env.clone() };
                (&plain_env, plain.as_slice())
            }
            None => (env, body),
        };
        let now = env.time_ms;
        let base = self.load_session(now);
        let inspection = self.shared.engine.inspect_session(env, body, base.as_ref());
        if let (Some(plain), Verdict::Allow) = (&decoded, &inspection.decision.verdict) {
            match direction {
                Direction::Request => self.set_http_request_body(0, usize::MAX, plain),
                Direction::Response => self.set_http_response_body(0, usize::MAX, plain),
            }
        }
        if direction == Direction::Request {
            self.model = inspection.model;
        }
        self.settle_session(base, inspection.session, now);
        self.apply(inspection.decision, direction)
    }

    /// The session's state: what the store holds for it, else what this
    /// exchange carried (no session key, or its slot was taken over).
    fn load_session(&self, now: u64) -> Option<SessionState> {
        let stored = self.session_key.as_ref().and_then(|key| {
            let (bytes, _) = self.get_shared_data(key.slot());
            key.read(&bytes?, now)
        });
        stored.or_else(|| self.session.clone())
    }

    /// Keeps the state for this exchange's response and stores it when the
    /// engine says it changed, folding in writes that raced with it.
    fn settle_session(&mut self, base: Option<SessionState>, next: Option<SessionState>, now: u64) {
        let Some(next) = next else {
            self.session = base;
            return;
        };
        if let Some(key) = &self.session_key {
            for _ in 0..MAX_STORE_ATTEMPTS {
                let (bytes, cas) = self.get_shared_data(key.slot());
                let current = bytes.and_then(|b| key.read(&b, now));
                let merged = store::merge(base.as_ref(), &next, current.as_ref(), now);
                if self.set_shared_data(key.slot(), Some(&key.encode(&merged)), cas) != Err(Status::CasMismatch) {
                    break;
                }
            }
        }
        self.session = Some(next);
    }

    fn apply(&mut self, mut decision: Decision, direction: Direction) -> Action {
        self.shared.record(&mut decision);
        match &decision.verdict {
            Verdict::Allow => Action::Continue,
            Verdict::Redact { body } => {
                match direction {
                    Direction::Request => self.set_http_request_body(0, usize::MAX, body),
                    Direction::Response => self.set_http_response_body(0, usize::MAX, body),
                }
                Action::Continue
            }
            Verdict::Block { reply, .. } if direction == Direction::Response => {
                self.done = true;
                self.set_http_response_body(0, usize::MAX, &reply.body);
                Action::Continue
            }
            Verdict::Block { reply, .. } => {
                self.done = true;
                let request_id = self.request.request_id.clone();
                let headers = vec![
                    ("content-type", reply.content_type),
                    ("x-ward-decision", "block"),
                    ("x-ward-request-id", request_id.as_str()),
                ];
                self.send_http_response(reply.status as u32, headers, Some(&reply.body));
                Action::Pause
            }
        }
    }
}

/// The counter of decisions with this action; every request counts one,
/// so its name is not formatted each time.
fn decision_metric(action: ward_core::Action) -> &'static str {
    match action {
        ward_core::Action::Allow => "ward.decision.allow",
        ward_core::Action::Log => "ward.decision.log",
        ward_core::Action::Redact => "ward.decision.redact",
        ward_core::Action::Block => "ward.decision.block",
    }
}

/// Writes of a session's state that lost a compare-and-swap race are
/// retried this often; past that, the last update is lost (its taints
/// still apply to this exchange).
const MAX_STORE_ATTEMPTS: usize = 4;

/// The filter that verifies JWTs and where it puts their payloads.
const JWT_AUTHN: &str = "envoy.filters.http.jwt_authn";

/// What the policy's identity sources may read from Envoy.
struct HostFacts;

impl Facts for HostFacts {
    fn header(&self, name: &str) -> Option<String> {
        let raw = hostcalls::get_map_value_bytes(MapType::HttpRequestHeaders, name).ok()??;
        String::from_utf8(raw).ok()
    }

    /// Envoy cannot serialize `metadata.filter_metadata.<filter>.<key>`
    /// (a map: `SerializationFailure`), so the whole `Metadata` message is
    /// read and decoded in the engine (`tools::metadata`). Dynamic metadata
    /// is set by filters only, never by the client.
    fn jwt_payload(&self, payload_in_metadata: &str) -> Option<serde_json::Value> {
        let raw = hostcalls::get_property(vec!["metadata"]).ok()??;
        metadata::filter_value(&raw, JWT_AUTHN, payload_in_metadata)
    }

    fn peer_uri_san(&self) -> Option<String> {
        let raw = hostcalls::get_property(vec!["connection", "uri_san_peer_certificate"]).ok()??;
        String::from_utf8(raw).ok()
    }
}

/// True when Ward decodes this message's body (gzip or deflate), so the
/// filter forwards it decoded without its `content-encoding` header.
fn decoded_here(env: &Envelope) -> bool {
    ward_core::encoding::is_encoded(&env.content_encoding) && ward_core::encoding::is_supported(&env.content_encoding)
}

/// A header value as text; bytes that are not UTF-8 become U+FFFD, so an
/// odd `content-encoding` is refused as unknown rather than crashing the VM.
fn lossy(bytes: Vec<u8>) -> String {
    String::from_utf8_lossy(&bytes).into_owned()
}

fn now_ms(t: std::time::SystemTime) -> u64 {
    t.duration_since(UNIX_EPOCH).map(|d| d.as_millis() as u64).unwrap_or(0)
}
