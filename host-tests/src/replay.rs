//! Plays recorded exchanges through the filter in a [`Vm`] the way Envoy
//! drives it: request headers, the whole request body (Envoy's buffer
//! filter sits in front), response headers, then the response body chunk by
//! chunk, buffering what the filter pauses on.

use serde_json::Value;

use crate::abi::{stream, Action};
use crate::exchange::Exchange;
use crate::outcome::Outcome;
use crate::state::{CalloutAnswer, Stream};
use crate::vm::{Phase, Vm};

#[derive(Clone, Debug)]
pub struct ReplayOptions {
    /// How callouts the filter makes are answered after each callback;
    /// `None` leaves them pending (a test answers them itself).
    pub callout_answer: Option<CalloutAnswer>,
}

impl Default for ReplayOptions {
    fn default() -> ReplayOptions {
        ReplayOptions { callout_answer: Some(CalloutAnswer::status(200, b"")) }
    }
}

/// Runs one exchange. Never panics: what goes wrong lands in
/// `Outcome::error`.
pub fn run(vm: &mut Vm, ex: &Exchange, opts: &ReplayOptions) -> Outcome {
    let mut out = Outcome::new(&ex.name, "wasm");
    vm.take_logs();
    if let Err(e) = vm.advance(ex.delay_ms).and_then(|_| drive(vm, ex, opts, &mut out)) {
        out.error = Some(e);
    }
    if let Some(answer) = &opts.callout_answer {
        match vm.answer_all_callouts(answer) {
            Ok(answered) => out.callouts.extend(answered),
            Err(e) => out.error = out.error.take().or(Some(e)),
        }
    }
    out.logs = vm.take_logs();
    out.audit = audit_events(&out.logs, &out.callouts);
    out.settle_verdict();
    out
}

/// Runs one exchange for timing: no outcome, no audit parsing; logs
/// stay in the VM for the caller to clear.
pub fn run_quiet(vm: &mut Vm, ex: &Exchange, opts: &ReplayOptions) -> Result<(), String> {
    let mut out = Outcome::new(&ex.name, "wasm");
    drive(vm, ex, opts, &mut out)?;
    if let Some(answer) = &opts.callout_answer {
        vm.answer_all_callouts(answer)?;
    }
    Ok(())
}

fn drive(vm: &mut Vm, ex: &Exchange, opts: &ReplayOptions, out: &mut Outcome) -> Result<(), String> {
    let request_body = ex.request.body_bytes()?;
    let stream = Stream { request_headers: ex.request.header_map()?, ..Stream::default() };
    let id = vm.open_stream(stream)?;
    let result = drive_stream(vm, id, ex, &request_body, opts, out);
    let closed = vm.close_stream(id);
    result?;
    closed.map(|_| ())
}

/// What a callback's action means for the stream.
enum Next {
    Go,
    /// Paused: buffer and wait for more (only valid before the end).
    Wait,
    /// The filter answered locally.
    Replied,
}

/// Runs a callback, then settles what a pause means: callouts answered
/// (if the options say so) may resume the stream via `continue_stream`.
fn step(vm: &mut Vm, id: u32, phase: Phase, eos: bool, opts: &ReplayOptions, out: &mut Outcome) -> Result<Next, String> {
    let action = vm.on(id, phase, eos)?;
    if vm.stream(id).is_some_and(|s| s.local_reply.is_some()) {
        return Ok(Next::Replied);
    }
    if action == Action::Continue {
        return Ok(Next::Go);
    }
    let kind = match phase {
        Phase::RequestHeaders | Phase::RequestBody | Phase::RequestTrailers => stream::HTTP_REQUEST,
        _ => stream::HTTP_RESPONSE,
    };
    if let Some(answer) = &opts.callout_answer {
        out.callouts.extend(vm.answer_all_callouts(answer)?);
        if vm.stream(id).is_some_and(|s| s.local_reply.is_some()) {
            return Ok(Next::Replied);
        }
    }
    let resumed = vm.stream_mut(id).is_some_and(|s| {
        let hit = s.resumed.contains(&kind);
        s.resumed.retain(|k| *k != kind);
        hit
    });
    match (resumed, eos, phase) {
        (true, _, _) => Ok(Next::Go),
        // Envoy stops all iteration on a paused header callback: the
        // request would hang, so say so rather than guess.
        (false, _, Phase::RequestHeaders | Phase::ResponseHeaders) => Err(format!("stream stalled: {phase:?} paused")),
        (false, false, _) => Ok(Next::Wait),
        (false, true, _) => Err(format!("stream stalled: {phase:?} paused at end of stream and never resumed")),
    }
}

fn drive_stream(vm: &mut Vm, id: u32, ex: &Exchange, request_body: &[u8], opts: &ReplayOptions, out: &mut Outcome) -> Result<(), String> {
    let has_body = !request_body.is_empty();
    match step(vm, id, Phase::RequestHeaders, !has_body, opts, out)? {
        Next::Replied => return local_reply(vm, id, opts, out),
        Next::Go | Next::Wait => {}
    }
    if has_body {
        stream_of(vm, id)?.request_body = request_body.to_vec();
        match step(vm, id, Phase::RequestBody, true, opts, out)? {
            Next::Replied => return local_reply(vm, id, opts, out),
            _ => {}
        }
    }
    out.upstream_body = Some(stream_of(vm, id)?.request_body.clone());

    let Some(response) = &ex.response else {
        return Err("no recorded response".into());
    };
    let chunks = response.body_chunks()?;
    stream_of(vm, id)?.response_headers = response.header_map();
    match step(vm, id, Phase::ResponseHeaders, chunks.is_empty(), opts, out)? {
        Next::Replied => return Err("local reply after the response started (Envoy would reset the stream)".into()),
        _ => {}
    }
    out.status = status_of(&stream_of(vm, id)?.response_headers);
    let mut client_body = Vec::new();
    let last = chunks.len().saturating_sub(1);
    for (i, chunk) in chunks.iter().enumerate() {
        stream_of(vm, id)?.response_body.extend_from_slice(chunk);
        match step(vm, id, Phase::ResponseBody, i == last, opts, out)? {
            Next::Go => client_body.append(&mut stream_of(vm, id)?.response_body),
            Next::Wait => {}
            Next::Replied => return Err("local reply after the response started (Envoy would reset the stream)".into()),
        }
    }
    out.body = client_body;
    Ok(())
}

/// The filter answered: Envoy runs the answer through the encoder side of
/// the same filter, so do that too.
fn local_reply(vm: &mut Vm, id: u32, opts: &ReplayOptions, out: &mut Outcome) -> Result<(), String> {
    let reply = stream_of(vm, id)?.local_reply.clone().ok_or("no local reply")?;
    out.local_reply = true;
    let mut headers = vec![(":status".to_string(), reply.status.to_string())];
    headers.extend(reply.headers.iter().cloned());
    if !reply.body.is_empty() {
        headers.push(("content-length".into(), reply.body.len().to_string()));
    }
    let s = stream_of(vm, id)?;
    s.response_headers = headers;
    s.response_body = reply.body.clone();
    let eos = reply.body.is_empty();
    vm.on(id, Phase::ResponseHeaders, eos)?;
    out.status = status_of(&stream_of(vm, id)?.response_headers);
    if !eos {
        if let Next::Wait = step(vm, id, Phase::ResponseBody, true, opts, out)? {
            return Err("stream stalled: the local reply's body paused".into());
        }
    }
    out.body = std::mem::take(&mut stream_of(vm, id)?.response_body);
    Ok(())
}

fn stream_of(vm: &mut Vm, id: u32) -> Result<&mut Stream, String> {
    vm.stream_mut(id).ok_or_else(|| "stream vanished".to_string())
}

fn status_of(headers: &[(String, String)]) -> u16 {
    headers.iter().find(|(k, _)| k == ":status").and_then(|(_, v)| v.parse().ok()).unwrap_or(0)
}

/// Audit events the filter shipped: `ward-audit {json}` log lines and JSON
/// (lines) in callout bodies, deduplicated by chain and sequence number.
pub fn audit_events(logs: &[crate::state::LogLine], callouts: &[crate::state::Callout]) -> Vec<Value> {
    let mut out: Vec<Value> = Vec::new();
    let mut push = |v: Value| {
        if v.get("findings").is_none() || v.get("action").is_none() {
            return;
        }
        let key = (v.get("chain").cloned(), v.get("seq").cloned());
        if key.0.is_some() && out.iter().any(|e| (e.get("chain").cloned(), e.get("seq").cloned()) == key) {
            return;
        }
        out.push(v);
    };
    for l in logs {
        if let Some(json) = l.message.strip_prefix("ward-audit ") {
            if let Ok(v) = serde_json::from_str(json) {
                push(v);
            }
        }
    }
    for c in callouts {
        let text = String::from_utf8_lossy(&c.body);
        match serde_json::from_str::<Value>(&text) {
            Ok(Value::Array(items)) => items.into_iter().for_each(&mut push),
            Ok(v) => push(v),
            Err(_) => text.lines().filter_map(|l| serde_json::from_str(l).ok()).for_each(&mut push),
        }
    }
    out
}
