//! Ward as a proxy-wasm HTTP filter: a root context that compiles the policy
//! once per VM, and an HTTP context per request that hands bodies to the
//! engine and carries out its verdict. Everything else lives in `ward-core`.

use std::cell::RefCell;
use std::collections::HashMap;
use std::rc::Rc;
use std::time::UNIX_EPOCH;

use proxy_wasm::hostcalls;
use proxy_wasm::traits::{Context, HttpContext, RootContext};
use proxy_wasm::types::{Action, ContextType, LogLevel, MetricType};
use ward_core::{AuditChain, AuditEvent, Decision, Direction, Engine, Envelope, StreamGuard, Verdict};

proxy_wasm::main! {{
    proxy_wasm::set_log_level(LogLevel::Info);
    proxy_wasm::set_root_context(|context_id| -> Box<dyn RootContext> {
        Box::new(WardRoot { context_id, shared: None })
    });
}}

/// What every request of one VM shares: the compiled policy, the VM's audit
/// chain and its metric ids.
struct Shared {
    engine: Engine,
    chain: RefCell<AuditChain>,
    metrics: RefCell<HashMap<String, u32>>,
}

impl Shared {
    /// Seals the decision's audit event into this VM's chain and ships it.
    fn record(&self, decision: &Decision) {
        self.count(&format!("ward.decision.{}", decision.action().as_str()));
        for f in &decision.findings {
            self.count(&format!("ward.finding.{}.{}", f.detector.as_str(), f.action.as_str()));
        }
        if let Some(event) = &decision.audit {
            let sealed: AuditEvent = self.chain.borrow_mut().seal(event.clone());
            proxy_wasm::hostcalls::log(LogLevel::Info, &format!("ward-audit {}", sealed.to_json_line())).ok();
        }
    }

    fn count(&self, name: &str) {
        let mut metrics = self.metrics.borrow_mut();
        let id = match metrics.get(name) {
            Some(id) => *id,
            None => match hostcalls::define_metric(MetricType::Counter, name) {
                Ok(id) => *metrics.entry(name.to_string()).or_insert(id),
                Err(_) => return,
            },
        };
        hostcalls::increment_metric(id, 1).ok();
    }
}

struct WardRoot {
    context_id: u32,
    shared: Option<Rc<Shared>>,
}

impl Context for WardRoot {}

impl RootContext for WardRoot {
    fn on_configure(&mut self, _size: usize) -> bool {
        let config = self.get_plugin_configuration().unwrap_or_default();
        let config = if config.iter().all(u8::is_ascii_whitespace) { b"{}".to_vec() } else { config };
        match Engine::from_json(&config) {
            Ok(engine) => {
                let chain_id = format!("ward-{}-{}", now_ms(self.get_current_time()), self.context_id);
                proxy_wasm::hostcalls::log(
                    LogLevel::Info,
                    &format!("ward: policy loaded, sha256:{} chain {chain_id}", engine.policy_digest()),
                )
                .ok();
                self.shared = Some(Rc::new(Shared {
                    engine,
                    chain: RefCell::new(AuditChain::new(chain_id)),
                    metrics: RefCell::new(HashMap::new()),
                }));
                true
            }
            Err(e) => {
                // Refusing the configuration keeps Envoy from running this
                // filter unprotected (with fail_open: false it will not start).
                proxy_wasm::hostcalls::log(LogLevel::Critical, &format!("ward: policy rejected: {e}")).ok();
                false
            }
        }
    }

    fn create_http_context(&self, _context_id: u32) -> Option<Box<dyn HttpContext>> {
        let shared = self.shared.clone()?;
        Some(Box::new(WardHttp { shared, request: Envelope::default(), response: Envelope::default(), stream: None, done: false }))
    }

    fn get_type(&self) -> Option<ContextType> {
        Some(ContextType::HttpContext)
    }
}

struct WardHttp {
    shared: Rc<Shared>,
    request: Envelope,
    response: Envelope,
    stream: Option<StreamGuard>,
    /// A block was answered; nothing more to inspect.
    done: bool,
}

impl Context for WardHttp {}

impl HttpContext for WardHttp {
    fn on_http_request_headers(&mut self, _headers: usize, end_of_stream: bool) -> Action {
        let header = |name: &str| self.get_http_request_header(name).unwrap_or_default();
        self.request = Envelope {
            direction: Direction::Request,
            path: header(":path"),
            content_type: header("content-type"),
            request_id: header("x-request-id"),
            upstream: header(":authority"),
            time_ms: now_ms(self.get_current_time()),
            ..Envelope::default()
        };
        for path in [vec!["metadata"], vec!["metadata", "filter_metadata"], vec!["metadata", "filter_metadata", "envoy.filters.http.jwt_authn"], vec!["metadata", "filter_metadata", "envoy.filters.http.jwt_authn", "ward_jwt"], vec!["metadata", "filter_metadata", "envoy.filters.http.jwt_authn", "ward_jwt", "sub"], vec!["metadata", "filter_metadata", "envoy.filters.http.jwt_authn", "ward_jwt", "n"]] {
            let r = hostcalls::get_property(path.clone());
            proxy_wasm::hostcalls::log(LogLevel::Info, &format!("ward-probe {path:?} {:?}", r)).ok();
        }
        if end_of_stream {
            let decision = self.shared.engine.inspect(&self.request, b"");
            return self.apply(decision, Direction::Request);
        }
        // The body may be rewritten (redaction), so its length may change;
        // the upstream codec frames it anew.
        self.set_http_request_header("content-length", None);
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
        let decision = self.shared.engine.inspect(&self.request, &body);
        self.apply(decision, Direction::Request)
    }

    fn on_http_response_headers(&mut self, _headers: usize, end_of_stream: bool) -> Action {
        if self.done {
            return Action::Continue;
        }
        // Lets a client quote the id that finds this exchange in the trail.
        if !self.request.request_id.is_empty() {
            self.set_http_response_header("x-ward-request-id", Some(&self.request.request_id.clone()));
        }
        let content_type = self.get_http_response_header("content-type").unwrap_or_default();
        self.response = Envelope {
            direction: Direction::Response,
            content_type,
            time_ms: now_ms(self.get_current_time()),
            ..self.request.clone()
        };
        if end_of_stream {
            return Action::Continue;
        }
        self.set_http_response_header("content-length", None);
        if self.response.is_event_stream() {
            self.stream = Some(self.shared.engine.stream(&self.response));
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
            self.set_http_response_body(0, body_size, &step.emit);
            if let Some(decision) = step.decision {
                self.shared.record(&decision);
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
        let decision = self.shared.engine.inspect(&self.response, &body);
        self.apply(decision, Direction::Response)
    }
}

impl WardHttp {
    fn apply(&mut self, decision: Decision, direction: Direction) -> Action {
        self.shared.record(&decision);
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

fn now_ms(t: std::time::SystemTime) -> u64 {
    t.duration_since(UNIX_EPOCH).map(|d| d.as_millis() as u64).unwrap_or(0)
}
