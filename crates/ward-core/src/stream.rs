//! Inspection of bodies that arrive in pieces: SSE responses (OpenAI chat
//! chunks, OpenAI Responses events, Anthropic content-block deltas, MCP
//! streamable HTTP).
//!
//! This version holds the whole stream back until it ends, then inspects
//! the text rebuilt from all events and either passes the stream on
//! verbatim or replaces it with the API's error event. It never lets a byte
//! through before inspecting it.

use serde_json::Value;

use crate::engine::{Decision, Engine, Envelope, Verdict};
use crate::finding::Action;
use crate::reply::stream_error_event;
use crate::segment::{Origin, Segment};
use crate::sse;
use crate::wire::{mcp, Api, Direction, Pointer};

/// What one `push` produced: bytes to send on now, and the decision once
/// there is one (at the end, or at a block).
#[derive(Debug, Default)]
pub struct StreamStep {
    pub emit: Vec<u8>,
    pub decision: Option<Decision>,
}

pub struct StreamGuard {
    env: Envelope,
    parser: sse::Parser,
    events: Vec<sse::Event>,
    bytes: usize,
    finished: bool,
}

impl StreamGuard {
    pub(crate) fn new(env: Envelope) -> StreamGuard {
        StreamGuard { env, parser: sse::Parser::new(), events: Vec::new(), bytes: 0, finished: false }
    }

    /// Feeds the next piece of the body; `end` marks the last one.
    pub fn push(&mut self, engine: &Engine, chunk: &[u8], end: bool) -> StreamStep {
        if self.finished {
            return StreamStep::default();
        }
        self.bytes += chunk.len();
        if self.bytes > engine.policy().limits.max_response_bytes {
            self.finished = true;
            let decision = engine.oversize(&self.env, self.bytes);
            return self.conclude(decision);
        }
        self.events.extend(self.parser.push(chunk));
        if !end {
            return StreamStep::default();
        }
        self.events.extend(self.parser.finish());
        self.finished = true;
        let api = self.env.api();
        let segments = segments(api, &self.events);
        let mut findings = engine.scan(&segments, self.env.direction);
        if let Some(api) = api {
            for v in self.json_events() {
                findings.extend(engine.check_tools(api, Direction::Response, &v));
            }
        }
        // Rewriting a stream in place is not supported by this version:
        // what the policy would redact is refused instead.
        for f in findings.iter_mut() {
            if f.action == Action::Redact {
                f.action = Action::Block;
            }
        }
        let decision = engine.decide(&self.env, api, findings, self.bytes, None, None);
        self.conclude(decision)
    }

    fn json_events(&self) -> Vec<Value> {
        self.events.iter().filter_map(|e| serde_json::from_str(&e.data).ok()).collect()
    }

    fn conclude(&mut self, decision: Decision) -> StreamStep {
        let emit = match &decision.verdict {
            Verdict::Block { reason, .. } => stream_error_event(self.env.api(), reason, &self.env.request_id, None),
            _ => self.events.iter().flat_map(|e| e.raw.iter().copied()).collect(),
        };
        StreamStep { emit, decision: Some(decision) }
    }
}

/// The text a streamed response carries, rebuilt across events: one segment
/// per output slot (choice, content block, output item).
fn segments(api: Option<Api>, events: &[sse::Event]) -> Vec<Segment> {
    let mut slots: Vec<(String, Origin, String)> = Vec::new();
    let mut append = |key: String, origin: Origin, text: &str| match slots.iter_mut().find(|(k, _, _)| *k == key) {
        Some(slot) => slot.2.push_str(text),
        None => slots.push((key, origin, text.to_string())),
    };
    let mut whole = Vec::new();
    for (n, e) in events.iter().enumerate() {
        let Ok(v) = serde_json::from_str::<Value>(&e.data) else { continue };
        match api {
            Some(Api::OpenaiChat) | None => {
                for c in v.get("choices").and_then(Value::as_array).into_iter().flatten() {
                    let i = c.get("index").and_then(Value::as_u64).unwrap_or(0);
                    let d = c.get("delta");
                    if let Some(t) = d.and_then(|d| d.get("content")).and_then(Value::as_str) {
                        append(format!("#choice{i}"), Origin::Assistant, t);
                    }
                    for tc in d.and_then(|d| d.get("tool_calls")).and_then(Value::as_array).into_iter().flatten() {
                        let j = tc.get("index").and_then(Value::as_u64).unwrap_or(0);
                        if let Some(t) = tc.get("function").and_then(|f| f.get("arguments")).and_then(Value::as_str) {
                            append(format!("#choice{i}.tool{j}"), Origin::ToolCall, t);
                        }
                    }
                }
            }
            Some(Api::OpenaiResponses) => {
                let i = v.get("output_index").and_then(Value::as_u64).unwrap_or(0);
                match v.get("type").and_then(Value::as_str) {
                    Some("response.output_text.delta") => append(format!("#output{i}"), Origin::Assistant, v.get("delta").and_then(Value::as_str).unwrap_or("")),
                    Some("response.function_call_arguments.delta") => append(format!("#output{i}.arguments"), Origin::ToolCall, v.get("delta").and_then(Value::as_str).unwrap_or("")),
                    _ => {}
                }
            }
            Some(Api::Anthropic) => {
                let i = v.get("index").and_then(Value::as_u64).unwrap_or(0);
                let d = v.get("delta");
                match d.and_then(|d| d.get("type")).and_then(Value::as_str) {
                    Some("text_delta") => append(format!("#block{i}"), Origin::Assistant, d.and_then(|d| d.get("text")).and_then(Value::as_str).unwrap_or("")),
                    Some("input_json_delta") => append(format!("#block{i}"), Origin::ToolCall, d.and_then(|d| d.get("partial_json")).and_then(Value::as_str).unwrap_or("")),
                    _ => {}
                }
            }
            Some(Api::Mcp) => mcp::message(Direction::Response, &v, &Pointer::root().key(&format!("#{n}")), &mut whole),
        }
    }
    whole.extend(slots.into_iter().map(|(k, o, t)| Segment::new(t, o, k)));
    whole
}
