//! Guarding live traffic: the API a Rust program (a gateway, an agent)
//! uses to put its own requests and responses through the module as they
//! happen, rather than replaying recordings.

use crate::abi::{Action, Headers};
use crate::state::{CalloutAnswer, LocalReply, LogLine, Stream};
use crate::vm::{Phase, Vm};

/// What to do with a request.
#[derive(Debug)]
pub enum Outbound {
    /// Send it on, with these headers and body (possibly rewritten).
    Forward { headers: Headers, body: Vec<u8> },
    /// Do not send it; answer the caller with this instead.
    Refused(LocalReply),
}

/// One request/response in flight. Dropping it ends the stream.
pub struct Call<'a> {
    vm: &'a mut Vm,
    id: u32,
    open: bool,
    /// How callouts the module makes while this call is paused are answered.
    pub callout_answer: CalloutAnswer,
}

impl Vm {
    /// Starts a call: runs the request headers and the whole body through
    /// the module. `headers` need the pseudo headers (`:method`, `:path`,
    /// `:authority`).
    pub fn call(&mut self, headers: Headers, body: &[u8]) -> Result<(Call<'_>, Outbound), String> {
        let headers = headers.into_iter().map(|(k, v)| (k.to_ascii_lowercase(), v)).collect();
        let id = self.open_stream(Stream { request_headers: headers, ..Stream::default() })?;
        let mut call = Call { vm: self, id, open: true, callout_answer: CalloutAnswer::status(200, b"") };
        let outbound = call.request(body)?;
        Ok((call, outbound))
    }
}

impl Call<'_> {
    fn stream(&mut self) -> Result<&mut Stream, String> {
        self.vm.stream_mut(self.id).ok_or_else(|| "stream vanished".into())
    }

    /// Runs a callback; a pause is resumed by answering pending callouts
    /// (the module may be waiting on one), else it is reported.
    fn run(&mut self, phase: Phase, eos: bool) -> Result<Action, String> {
        let action = self.vm.on(self.id, phase, eos)?;
        if action == Action::Pause && !self.vm.pending_callouts().is_empty() {
            self.vm.answer_all_callouts(&self.callout_answer.clone())?;
            let kind = matches!(phase, Phase::ResponseHeaders | Phase::ResponseBody | Phase::ResponseTrailers) as u32;
            if self.stream()?.resumed.contains(&kind) {
                return Ok(Action::Continue);
            }
        }
        Ok(action)
    }

    fn request(&mut self, body: &[u8]) -> Result<Outbound, String> {
        let action = self.run(Phase::RequestHeaders, body.is_empty())?;
        if let Some(reply) = self.stream()?.local_reply.take() {
            return Ok(Outbound::Refused(reply));
        }
        if action == Action::Pause {
            return Err("the module paused the request headers".into());
        }
        if !body.is_empty() {
            self.stream()?.request_body = body.to_vec();
            let action = self.run(Phase::RequestBody, true)?;
            if let Some(reply) = self.stream()?.local_reply.take() {
                return Ok(Outbound::Refused(reply));
            }
            if action == Action::Pause {
                return Err("the module held the request body".into());
            }
        }
        let s = self.stream()?;
        Ok(Outbound::Forward { headers: s.request_headers.clone(), body: std::mem::take(&mut s.request_body) })
    }

    /// Runs the response headers through the module; returns them as the
    /// caller should see them.
    pub fn response_headers(&mut self, status: u16, headers: Headers, has_body: bool) -> Result<Headers, String> {
        let mut all = vec![(":status".to_string(), status.to_string())];
        all.extend(headers.into_iter().map(|(k, v)| (k.to_ascii_lowercase(), v)));
        self.stream()?.response_headers = all;
        if self.run(Phase::ResponseHeaders, !has_body)? == Action::Pause {
            return Err("the module paused the response headers".into());
        }
        Ok(self.stream()?.response_headers.clone())
    }

    /// Feeds the next piece of the response body; returns the bytes to
    /// deliver now (the module may hold some back until later pieces).
    pub fn response_chunk(&mut self, chunk: &[u8], end: bool) -> Result<Vec<u8>, String> {
        self.stream()?.response_body.extend_from_slice(chunk);
        match self.run(Phase::ResponseBody, end)? {
            Action::Continue => Ok(std::mem::take(&mut self.stream()?.response_body)),
            Action::Pause if !end => Ok(Vec::new()),
            Action::Pause => Err("the module held the end of the response".into()),
        }
    }

    /// Ends the call; returns what the module logged during it (audit
    /// events are the `ward-audit {json}` lines).
    pub fn finish(mut self) -> Result<Vec<LogLine>, String> {
        self.open = false;
        self.vm.close_stream(self.id)?;
        Ok(self.vm.take_logs())
    }
}

impl Drop for Call<'_> {
    fn drop(&mut self) {
        if self.open {
            self.vm.close_stream(self.id).ok();
        }
    }
}
