//! Inspection of bodies that arrive in pieces: SSE responses (OpenAI chat
//! chunks, OpenAI Responses events, Anthropic content-block deltas, MCP
//! streamable HTTP), redacted in flight.
//!
//! Text is rebuilt per slot (a choice, an output content part, a content
//! block) across events. After each event the detectors say where a match
//! could still start (`Engine::pending_from`); everything before that point
//! is judged, and every event whose text lies entirely there is released,
//! in order, rewritten when a mask falls into it. So only the shortest tail
//! that could still become a match is held back, bounded by
//! `stream.max_holdback_bytes`; a candidate that outgrows it is withheld.
//!
//! Every decision is taken per SSE event, never per network chunk, and the
//! event parser is split-invariant: the bytes a client receives depend on
//! the stream alone, not on how it was cut. `Engine::inspect` on a whole
//! stream runs this same code, which is what makes the two comparable.
//!
//! Tool-call arguments are held until the stream ends: the calls are then
//! reassembled and checked as a whole ([`StreamGuard::check_tool_calls`]),
//! so a client never receives a call the policy refuses.

mod events;
pub mod holdback;
mod slot;

use std::collections::VecDeque;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::audit::AuditFinding;
use crate::engine::{Decision, Engine, Envelope, Verdict};
use crate::finding::{Action, Finding};
use crate::policy::Mode;
use crate::reply::{stream_error_event, Reply};
use crate::sse;
use crate::tools::{self, SessionState};
use crate::wire::{self, Api};

use slot::{Judge, Slot};

/// The `stream` section of the policy.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// Most text bytes a slot may hold back while a possible match is
    /// still open. A candidate that would need more is withheld (masked to
    /// the end of its text) rather than released unjudged.
    pub max_holdback_bytes: usize,
}

impl Default for Config {
    fn default() -> Config {
        Config { max_holdback_bytes: 512 }
    }
}

/// Largest hold-back window a policy may ask for.
const MAX_HOLDBACK_LIMIT: usize = 1 << 16;

impl Config {
    pub(crate) fn validate(&self) -> Result<(), (String, String)> {
        if self.max_holdback_bytes == 0 || self.max_holdback_bytes > MAX_HOLDBACK_LIMIT {
            return Err(("max_holdback_bytes".into(), format!("must be between 1 and {MAX_HOLDBACK_LIMIT}")));
        }
        Ok(())
    }
}

/// What one `push` produced: bytes to send on now, and the decision once
/// there is one (at the end, or at a block).
#[derive(Debug, Default)]
pub struct StreamStep {
    pub emit: Vec<u8>,
    /// The decision, once: at the end of the stream, at a block, or when
    /// an oversize event switches the stream to pass-through. Its verdict
    /// body is empty (the bytes went out through `emit`), except from
    /// `Engine::inspect`, which fills in the whole rewritten stream.
    pub decision: Option<Decision>,
    /// With the decision: session state to store (see
    /// [`crate::Engine::inspect_session`]).
    pub session: Option<SessionState>,
}

/// An event waiting for its text to be judged.
#[derive(Clone)]
struct Held {
    raw: Vec<u8>,
    value: Value,
    /// (slot index, JSON pointer, offset in the slot, original text).
    fragments: Vec<(usize, String, usize, String)>,
    wholes: Vec<(String, Whole)>,
    /// Part of a tool call: waits for the checks at the end of the stream.
    tool_call: bool,
}

#[derive(Clone)]
enum Whole {
    /// Equal to its slot's text: rendered with the slot's masks.
    Slot(usize),
    /// Judged on its own: the rewritten text.
    Text(String),
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum State {
    Inspecting,
    /// Past an oversize event the policy lets through: bytes pass unread.
    PassThrough,
    Finished,
}

/// Cloning forks the stream: the copy goes on from the same point (the
/// stream bench times one push on a fresh copy each time).
#[derive(Clone)]
pub struct StreamGuard {
    env: Envelope,
    api: Option<Api>,
    parser: sse::Parser,
    state: State,
    bytes: usize,
    events: usize,
    slots: Vec<Slot>,
    queue: VecDeque<Held>,
    queued_bytes: usize,
    findings: Vec<Finding>,
    /// The audit record of each of `findings`.
    audited: Vec<AuditFinding>,
    /// Events the tool checks need: tool-call fragments and the event
    /// naming the model.
    tool_events: Vec<Value>,
    /// A chat event naming the model is among `tool_events`.
    model_named: bool,
    session: Option<SessionState>,
    pending: Option<tools::Pending>,
    calls_checked: bool,
}

impl StreamGuard {
    pub(crate) fn new(env: Envelope) -> StreamGuard {
        StreamGuard {
            api: env.api(),
            env,
            parser: sse::Parser::new(),
            state: State::Inspecting,
            bytes: 0,
            events: 0,
            slots: Vec::new(),
            queue: VecDeque::new(),
            queued_bytes: 0,
            findings: Vec::new(),
            audited: Vec::new(),
            tool_events: Vec::new(),
            model_named: false,
            session: None,
            pending: None,
            calls_checked: false,
        }
    }

    pub(crate) fn with_session(mut self, session: Option<SessionState>) -> StreamGuard {
        self.session = session;
        self
    }

    /// Text bytes received but not yet released, over all slots: what the
    /// stream is being delayed by.
    pub fn held_bytes(&self) -> usize {
        self.slots.iter().map(Slot::held).sum()
    }

    /// Feeds the next piece of the body; `end` marks the last one.
    pub fn push(&mut self, engine: &Engine, chunk: &[u8], end: bool) -> StreamStep {
        let mut step = StreamStep::default();
        match self.state {
            State::Finished => return step,
            State::PassThrough => {
                step.emit.extend_from_slice(chunk);
                return step;
            }
            State::Inspecting => {}
        }
        if self.pending.is_none() {
            self.pending = Some(engine.access().pending(&self.env, self.session.as_ref()));
        }
        self.bytes += chunk.len();
        let mut events: VecDeque<sse::Event> = self.parser.push(chunk).into();
        if end {
            events.extend(self.parser.finish());
        }
        let limit = engine.policy().limits.max_response_bytes;
        while let Some(event) = events.pop_front() {
            if event.raw.len() > limit {
                events.push_front(event);
                self.oversize(engine, &mut step);
            } else {
                self.event(engine, event, &mut step);
            }
            match self.state {
                State::Inspecting => {}
                State::Finished => return step,
                State::PassThrough => {
                    step.emit.extend(events.drain(..).flat_map(|e| e.raw));
                    step.emit.extend(std::mem::take(&mut self.parser).pending());
                    return step;
                }
            }
        }
        if self.parser.pending().len() > limit {
            self.oversize(engine, &mut step);
            if self.state == State::PassThrough {
                step.emit.extend(std::mem::take(&mut self.parser).pending());
            }
            return step;
        }
        if end {
            self.finish(engine, &mut step);
        }
        step
    }

    fn judge<'a>(&self, engine: &'a Engine) -> Judge<'a> {
        Judge { engine, direction: self.env.direction, enforce: enforcing(engine), max_holdback: engine.policy().stream.max_holdback_bytes }
    }

    fn event(&mut self, engine: &Engine, event: sse::Event, step: &mut StreamStep) {
        let n = self.events;
        self.events += 1;
        let data = event.data.trim();
        let parsed = (!data.is_empty() && data != "[DONE]").then(|| wire::strict::parse(data.as_bytes()));
        let value = match parsed {
            Some(Ok(v)) => v,
            // Data of a known API that Ward cannot read, but a client's
            // laxer parser might: judged as a malformed or ambiguous body
            // rather than passed on as if it were a keep-alive.
            Some(Err(e)) if self.api.is_some() => {
                let decision = match e {
                    wire::strict::ParseError::Invalid(why) => engine.malformed(&self.env, self.api, event.raw.len(), &format!("event {n} is not valid JSON: {why}")),
                    wire::strict::ParseError::Ambiguous(why) => engine.ambiguous(&self.env, self.api, event.raw.len(), &format!("event {n}: {why}")),
                };
                if self.record(engine, decision.findings, step) {
                    return;
                }
                return self.enqueue(engine, Held { raw: event.raw, value: Value::Null, fragments: Vec::new(), wholes: Vec::new(), tool_call: false }, step);
            }
            // Keep-alives, `[DONE]`, comments: nothing to read.
            _ => return self.enqueue(engine, Held { raw: event.raw, value: Value::Null, fragments: Vec::new(), wholes: Vec::new(), tool_call: false }, step),
        };
        if self.api == Some(Api::Mcp) {
            return self.mcp_event(engine, n, event, value, step);
        }
        let reading = events::read(self.api, &value);
        if self.tool_checks_need(&reading, &value) {
            self.tool_events.push(value.clone());
        }
        let judge = self.judge(engine);
        let mut fresh = Vec::new();
        let mut fragments = Vec::new();
        let mut touched = Vec::new();
        for f in reading.fragments {
            let i = match self.slots.iter().position(|s| s.key == f.slot) {
                Some(i) => i,
                None => {
                    // Only Responses streams repeat a slot's text in a "done"
                    // event (`events::Whole` with a slot).
                    self.slots.push(Slot::new(f.slot.clone(), f.origin, self.api == Some(Api::OpenaiResponses)));
                    self.slots.len() - 1
                }
            };
            let at = self.slots[i].append(&f.text);
            if !touched.contains(&i) {
                touched.push(i);
            }
            fragments.push((i, f.pointer, at, f.text));
        }
        let limit = engine.policy().limits.max_response_bytes;
        if let Some(big) = self.slots.iter().find(|s| s.tool && s.len > limit) {
            let size = big.len;
            self.block_or_pass(engine, engine.oversize(&self.env, size), step);
            if self.state == State::PassThrough {
                // The event that went over goes out as it came.
                step.emit.extend(event.raw);
            }
            return;
        }
        for &i in &touched {
            fresh.extend(self.slots[i].judge(&judge, false));
        }
        for s in self.slots.iter_mut() {
            let ends = reading.ends_all || reading.ends.iter().any(|k| events::under(&s.key, k));
            if ends && !s.tool && !s.closed {
                fresh.extend(s.judge(&judge, true));
            }
        }
        let mut wholes = Vec::new();
        for w in reading.wholes {
            let slot = w.slot.as_ref().and_then(|k| self.slots.iter().position(|s| &s.key == k && s.is_text(&w.text)));
            match slot {
                Some(i) => wholes.push((w.pointer, Whole::Slot(i))),
                None => {
                    let (text, found) = judge_whole(&judge, w.origin, &w.pointer, &w.text);
                    fresh.extend(found);
                    wholes.push((w.pointer, Whole::Text(text)));
                }
            }
        }
        let held = Held { raw: event.raw, value, fragments, wholes, tool_call: reading.tool_call };
        if self.record(engine, fresh, step) {
            return;
        }
        self.enqueue(engine, held, step);
    }

    /// Whether the tool checks at the end read this event. Every chat chunk
    /// names the model, but only the first that does is read for it: keeping
    /// the others would make memory and the end of the stream grow with the
    /// answer.
    fn tool_checks_need(&mut self, reading: &events::Reading, value: &Value) -> bool {
        if !reading.tool_related {
            return false;
        }
        if self.api != Some(Api::OpenaiChat) {
            return true;
        }
        let names_model = value.get("model").and_then(Value::as_str).is_some();
        let needed = reading.tool_call || (names_model && !self.model_named);
        self.model_named |= needed && names_model;
        needed
    }

    /// Records findings; ends the stream when one blocks. True if it did.
    fn record(&mut self, engine: &Engine, fresh: Vec<Finding>, step: &mut StreamStep) -> bool {
        let enforce = enforcing(engine);
        let blocks = enforce && fresh.iter().any(|f| f.action == Action::Block || (f.action == Action::Redact && f.span.is_none()));
        self.keep(fresh.into_iter().map(|mut f| {
            // A rewrite the stream cannot make (no span to mask) is a refusal.
            if f.action == Action::Redact && f.span.is_none() {
                f.action = Action::Block;
            }
            f
        }));
        if blocks {
            self.end_blocked(engine, None, step);
        }
        blocks
    }

    fn enqueue(&mut self, engine: &Engine, held: Held, step: &mut StreamStep) {
        self.queued_bytes += held.raw.len();
        self.queue.push_back(held);
        self.release(step);
        if self.queued_bytes > engine.policy().limits.max_response_bytes {
            let size = self.queued_bytes;
            self.block_or_pass(engine, engine.oversize(&self.env, size), step);
        }
    }

    /// Emits, in order, every event at the front whose text is judged.
    fn release(&mut self, step: &mut StreamStep) {
        while let Some(front) = self.queue.front() {
            let ready = (!front.tool_call || self.calls_checked)
                && front.fragments.iter().all(|(i, _, at, text)| {
                    let s = &self.slots[*i];
                    s.closed || (!s.tool && at + text.len() <= s.settled)
                }) && front.wholes.iter().all(|(_, w)| match w {
                Whole::Slot(i) => self.slots[*i].closed,
                Whole::Text(_) => true,
            });
            if !ready {
                break;
            }
            let Some(held) = self.queue.pop_front() else { break };
            self.queued_bytes -= held.raw.len();
            step.emit.extend(self.render(held));
        }
    }

    fn render(&self, held: Held) -> Vec<u8> {
        let mut edits: Vec<(String, String)> = Vec::new();
        for (i, pointer, at, text) in &held.fragments {
            let out = self.slots[*i].render(*at, text);
            if out != *text {
                edits.push((pointer.clone(), out));
            }
        }
        for (pointer, w) in held.wholes {
            let now = held.value.pointer(&pointer).and_then(Value::as_str).unwrap_or("");
            let out = match w {
                Whole::Slot(i) => self.slots[i].render(0, now),
                Whole::Text(t) => t,
            };
            if out != now {
                edits.push((pointer, out));
            }
        }
        if edits.is_empty() {
            return held.raw;
        }
        let mut value = held.value;
        for (pointer, text) in edits {
            if let Some(v) = value.pointer_mut(&pointer) {
                *v = Value::String(text);
            }
        }
        with_data(&held.raw, &value.to_string())
    }

    fn mcp_event(&mut self, engine: &Engine, n: usize, event: sse::Event, value: Value, step: &mut StreamStep) {
        let dir = self.env.direction;
        let segments = wire::segments(Api::Mcp, dir, &value);
        let mut found = engine.scan(&segments, dir);
        let mut access = Vec::new();
        if let Some(pending) = self.pending.as_mut() {
            engine.access().check_message(&self.env, Api::Mcp, &value, &found, pending, &mut access);
        }
        let enforce = enforcing(engine);
        let strongest = found.iter().chain(&access).map(|f| f.action).max().unwrap_or(Action::Allow);
        let mut raw = event.raw;
        let mut blocked = enforce && strongest == Action::Block;
        if enforce && strongest == Action::Redact {
            let all: Vec<Finding> = found.iter().chain(&access).cloned().collect();
            match engine.rewrite(Api::Mcp, dir, &value, &segments, &all) {
                Some(body) => raw = with_data(&raw, &String::from_utf8_lossy(&body)),
                None => blocked = true,
            }
        }
        found.extend(access);
        for f in found.iter_mut() {
            f.path = format!("#{n}{}", f.path);
        }
        self.keep(found);
        if blocked {
            return self.end_blocked(engine, value.get("id").cloned(), step);
        }
        step.emit.extend(raw);
    }

    /// The hook where tool calls reassembled from the stream are checked:
    /// once, when the stream ends (every call is complete then). Their
    /// events are held until this has run.
    fn check_tool_calls(&mut self, engine: &Engine) -> Vec<Finding> {
        let mut found = Vec::new();
        let (Some(api), Some(pending)) = (self.api, self.pending.as_mut()) else { return found };
        if api == Api::Mcp {
            return found;
        }
        let streamed = tools::wire::reassemble(api, &self.tool_events);
        engine.access().check_streamed(&self.env, &streamed, pending, &mut found);
        for f in found.iter_mut() {
            // Streamed calls cannot be rewritten in place: refuse instead.
            if f.action == Action::Redact {
                f.action = Action::Block;
            }
        }
        found
    }

    fn finish(&mut self, engine: &Engine, step: &mut StreamStep) {
        let judge = self.judge(engine);
        let mut fresh = Vec::new();
        for s in self.slots.iter_mut().filter(|s| !s.closed) {
            fresh.extend(s.judge(&judge, true));
        }
        fresh.extend(self.check_tool_calls(engine));
        if self.record(engine, fresh, step) {
            return;
        }
        self.calls_checked = true;
        // Every slot is closed and the calls are checked: all is ready.
        for held in std::mem::take(&mut self.queue) {
            step.emit.extend(self.render(held));
        }
        let decision = self.decide(engine, None);
        self.conclude(decision, step);
    }

    fn decide(&mut self, engine: &Engine, jsonrpc_id: Option<&Value>) -> Decision {
        let rewritten = |_: &[Finding]| Some(Vec::new());
        engine.decide_audited(&self.env, self.api, std::mem::take(&mut self.findings), std::mem::take(&mut self.audited), self.bytes, Some(&rewritten), jsonrpc_id)
    }

    /// Keeps findings for the decision, each with its audit record made now
    /// rather than all at the end. `Allow` decides nothing: dropped, as
    /// `Engine::decide` drops it.
    fn keep(&mut self, found: impl IntoIterator<Item = Finding>) {
        for f in found.into_iter().filter(|f| f.action != Action::Allow) {
            self.audited.push(AuditFinding::from(&f));
            self.findings.push(f);
        }
    }

    fn conclude(&mut self, decision: Decision, step: &mut StreamStep) {
        self.state = State::Finished;
        let through = !matches!(decision.verdict, Verdict::Block { .. });
        step.session = self.pending.take().and_then(|p| p.settle(through));
        step.decision = Some(decision);
    }

    /// What was released stays (it was judged clean); what is held is
    /// dropped; the API's own error event ends the stream.
    fn end_blocked(&mut self, engine: &Engine, jsonrpc_id: Option<Value>, step: &mut StreamStep) {
        self.queue.clear();
        let decision = self.decide(engine, jsonrpc_id.as_ref());
        if let Verdict::Block { reason, .. } = &decision.verdict {
            step.emit.extend(stream_error_event(self.api, reason, &self.env.request_id, jsonrpc_id.as_ref()));
        }
        self.conclude(decision, step);
    }

    /// An event over the size limit: refused, or (when the policy lets
    /// oversize bodies through) the stream passes on unread from here.
    fn oversize(&mut self, engine: &Engine, step: &mut StreamStep) {
        let size = engine.policy().limits.max_response_bytes + 1;
        self.block_or_pass(engine, engine.oversize(&self.env, size), step);
    }

    /// Past this the caller passes the rest of the stream on as it came.
    fn block_or_pass(&mut self, engine: &Engine, decision: Decision, step: &mut StreamStep) {
        self.keep(decision.findings.iter().cloned());
        if matches!(decision.verdict, Verdict::Block { .. }) {
            return self.end_blocked(engine, None, step);
        }
        for held in std::mem::take(&mut self.queue) {
            step.emit.extend(self.render(held));
        }
        let decision = self.decide(engine, None);
        self.conclude(decision, step);
        self.state = State::PassThrough;
    }
}

fn enforcing(engine: &Engine) -> bool {
    engine.policy().mode == Mode::Enforce
}

/// A whole text judged on its own (one not rebuilt from fragments): its
/// rewritten form and findings.
fn judge_whole(judge: &Judge, origin: crate::Origin, pointer: &str, text: &str) -> (String, Vec<Finding>) {
    let segment = crate::Segment::new(text, origin, pointer);
    let found = judge.engine.scan(std::slice::from_ref(&segment), judge.direction);
    if !judge.enforce {
        return (text.to_string(), found);
    }
    let mut spans: Vec<(usize, usize, String)> = found
        .iter()
        .filter(|f| f.action == Action::Redact)
        .filter_map(|f| f.span.map(|(a, b)| (a, b, f.mask.clone().unwrap_or_else(|| "[REDACTED]".into()))))
        .collect();
    spans.sort_by_key(|s| s.0);
    let mut out = String::with_capacity(text.len());
    let mut pos = 0;
    for (a, b, mask) in spans {
        if a < pos {
            continue;
        }
        out.push_str(text.get(pos..a).unwrap_or(""));
        out.push_str(&mask);
        pos = b;
    }
    out.push_str(text.get(pos..).unwrap_or(""));
    (out, found)
}

/// The event `raw` with its data replaced: other fields (`event:`, `id:`,
/// comments) and the line endings stay as they were.
fn with_data(raw: &[u8], data: &str) -> Vec<u8> {
    let eol: &[u8] = match raw.iter().position(|&b| b == b'\n' || b == b'\r') {
        Some(i) if raw[i] == b'\r' && raw.get(i + 1) == Some(&b'\n') => b"\r\n",
        Some(i) if raw[i] == b'\r' => b"\r",
        _ => b"\n",
    };
    let mut out = Vec::with_capacity(raw.len() + data.len());
    let mut wrote = false;
    for line in lines(raw) {
        if line.is_empty() {
            continue;
        }
        if line == b"data" || line.starts_with(b"data:") {
            if !wrote {
                out.extend_from_slice(b"data: ");
                out.extend_from_slice(data.as_bytes());
                out.extend_from_slice(eol);
                wrote = true;
            }
            continue;
        }
        out.extend_from_slice(line);
        out.extend_from_slice(eol);
    }
    if !wrote {
        out.extend_from_slice(b"data: ");
        out.extend_from_slice(data.as_bytes());
        out.extend_from_slice(eol);
    }
    out.extend_from_slice(eol);
    out
}

fn lines(raw: &[u8]) -> Vec<&[u8]> {
    let mut out = Vec::new();
    let mut start = 0;
    let mut i = 0;
    while i < raw.len() {
        match raw[i] {
            b'\n' => {
                out.push(&raw[start..i]);
                start = i + 1;
            }
            b'\r' => {
                out.push(&raw[start..i]);
                if raw.get(i + 1) == Some(&b'\n') {
                    i += 1;
                }
                start = i + 1;
            }
            _ => {}
        }
        i += 1;
    }
    if start < raw.len() {
        out.push(&raw[start..]);
    }
    out
}

/// `Engine::inspect` on a whole event stream: the same guard, one piece.
/// The verdict carries the bytes a client would receive.
pub(crate) fn inspect_whole(engine: &Engine, env: &Envelope, body: &[u8], session: Option<&SessionState>) -> (Decision, Option<SessionState>) {
    let mut guard = engine.stream_session(env, session);
    let step = guard.push(engine, body, true);
    let emitted = step.emit;
    let mut decision = match step.decision {
        Some(d) => d,
        // A guard always decides on its last piece; should that ever fail,
        // refuse rather than pass the body unjudged.
        None => engine.malformed(env, env.api(), body.len(), "stream did not conclude"),
    };
    decision.verdict = match decision.verdict {
        Verdict::Allow if emitted != body => Verdict::Redact { body: emitted },
        Verdict::Allow => Verdict::Allow,
        Verdict::Redact { .. } => Verdict::Redact { body: emitted },
        Verdict::Block { reply, reason } => Verdict::Block { reply: Reply { content_type: "text/event-stream", body: emitted, ..reply }, reason },
    };
    (decision, step.session)
}

#[cfg(test)]
mod tests;
