//! The same exchanges through `ward_core` directly, with the filter's
//! contract spelled out in plain Rust: the first of the three answers the
//! parity test compares. A disagreement with the wasm host means the
//! filter's glue (not the engine) does something else than this says.

use ward_core::{AuditChain, Decision, Direction, Engine, Envelope, Verdict};

use crate::exchange::Exchange;
use crate::outcome::Outcome;

pub struct NativeHost {
    engine: Engine,
    chain: AuditChain,
    now_ms: u64,
}

impl NativeHost {
    pub fn new(policy_json: &[u8]) -> Result<NativeHost, String> {
        let engine = Engine::from_json(policy_json).map_err(|e| e.to_string())?;
        Ok(NativeHost { engine, chain: AuditChain::new("ward-native"), now_ms: crate::vm::wall_clock_ns() / 1_000_000 })
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

    fn drive(&mut self, ex: &Exchange, out: &mut Outcome) -> Result<(), String> {
        let headers = ex.request.header_map()?;
        let header = |name: &str| headers.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone()).unwrap_or_default();
        let request = Envelope {
            direction: Direction::Request,
            path: header(":path"),
            content_type: header("content-type"),
            request_id: header("x-request-id"),
            upstream: header(":authority"),
            time_ms: self.now_ms,
            ..Envelope::default()
        };
        let body = ex.request.body_bytes()?;
        let limits = &self.engine.policy().limits;
        let decision = if body.len() > limits.max_request_bytes {
            self.engine.oversize(&request, body.len())
        } else {
            self.engine.inspect(&request, &body)
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
        let env = Envelope { direction: Direction::Response, content_type: rheader("content-type"), ..request };
        let chunks = response.body_chunks()?;
        if chunks.is_empty() {
            return Ok(());
        }
        if env.is_event_stream() {
            let mut guard = self.engine.stream(&env);
            let last = chunks.len() - 1;
            for (i, chunk) in chunks.iter().enumerate() {
                let step = guard.push(&self.engine, chunk, i == last);
                out.body.extend_from_slice(&step.emit);
                if let Some(d) = step.decision {
                    self.record(&d, out);
                    // The filter stops inspecting after the stream's decision
                    // and passes the rest on untouched.
                    for rest in &chunks[i + 1..] {
                        out.body.extend_from_slice(rest);
                    }
                    break;
                }
            }
            return Ok(());
        }
        let whole: Vec<u8> = chunks.concat();
        let decision = if whole.len() > self.engine.policy().limits.max_response_bytes {
            self.engine.oversize(&env, whole.len())
        } else {
            self.engine.inspect(&env, &whole)
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
