//! What the host keeps for one VM: per-stream headers and bodies, local
//! replies, logs, metrics, callouts, timers, properties, and a handle on the
//! shared data every VM of the host sees.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::{Arc, Mutex};

use wasmtime::{Memory, TypedFunc};

use crate::abi::{Headers, HostResult, Status};

/// Data and queues shared by all VMs of one host, like Envoy's process-wide
/// shared data (one VM per worker thread, same key space).
#[derive(Clone, Default)]
pub struct SharedData {
    inner: Arc<Mutex<SharedInner>>,
}

#[derive(Default)]
struct SharedInner {
    entries: HashMap<String, (Vec<u8>, u32)>,
    next_cas: u32,
    queues: Vec<Queue>,
}

struct Queue {
    vm_id: String,
    name: String,
    /// The VM (see [`crate::vm::Vm::id`]) whose root context owns the queue.
    owner: u64,
    owner_root: u32,
    items: VecDeque<Vec<u8>>,
    /// Set by an enqueue, cleared when the owner has been told.
    ready: bool,
}

impl SharedData {
    fn lock(&self) -> std::sync::MutexGuard<'_, SharedInner> {
        // A VM that trapped while holding the lock left consistent data
        // behind (every update is a single insert), so poison is harmless.
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The value and its compare-and-swap token.
    pub fn get(&self, key: &str) -> Option<(Vec<u8>, u32)> {
        self.lock().entries.get(key).cloned()
    }

    /// Stores `value` unless `cas` is non-zero and no longer current.
    pub fn set(&self, key: &str, value: Vec<u8>, cas: u32) -> HostResult {
        let mut s = self.lock();
        if cas != 0 && s.entries.get(key).map(|e| e.1) != Some(cas) {
            return Err(Status::CasMismatch);
        }
        s.next_cas = s.next_cas.wrapping_add(1).max(1);
        let token = s.next_cas;
        s.entries.insert(key.to_string(), (value, token));
        Ok(())
    }

    pub fn keys(&self) -> Vec<String> {
        let mut k: Vec<String> = self.lock().entries.keys().cloned().collect();
        k.sort();
        k
    }

    pub(crate) fn register_queue(&self, vm_id: &str, name: &str, owner: u64, owner_root: u32) -> u32 {
        let mut s = self.lock();
        if let Some(i) = s.queues.iter().position(|q| q.vm_id == vm_id && q.name == name) {
            let q = &mut s.queues[i];
            q.owner = owner;
            q.owner_root = owner_root;
            return i as u32 + 1;
        }
        s.queues.push(Queue { vm_id: vm_id.into(), name: name.into(), owner, owner_root, items: VecDeque::new(), ready: false });
        s.queues.len() as u32
    }

    pub(crate) fn resolve_queue(&self, vm_id: &str, name: &str) -> Option<u32> {
        self.lock().queues.iter().position(|q| q.vm_id == vm_id && q.name == name).map(|i| i as u32 + 1)
    }

    pub(crate) fn enqueue(&self, id: u32, value: Vec<u8>) -> HostResult {
        let mut s = self.lock();
        let q = s.queues.get_mut((id as usize).wrapping_sub(1)).ok_or(Status::NotFound)?;
        q.items.push_back(value);
        q.ready = true;
        Ok(())
    }

    pub(crate) fn dequeue(&self, id: u32) -> HostResult<Vec<u8>> {
        let mut s = self.lock();
        let q = s.queues.get_mut((id as usize).wrapping_sub(1)).ok_or(Status::NotFound)?;
        q.items.pop_front().ok_or(Status::Empty)
    }

    /// Queues owned by VM `owner` that got items since it was last told:
    /// (root context, queue id).
    pub(crate) fn take_ready(&self, owner: u64) -> Vec<(u32, u32)> {
        let mut s = self.lock();
        let mut out = Vec::new();
        for (i, q) in s.queues.iter_mut().enumerate() {
            if q.owner == owner && q.ready {
                q.ready = false;
                out.push((q.owner_root, i as u32 + 1));
            }
        }
        out
    }
}

/// One line the module logged.
#[derive(Clone, Debug, serde::Serialize)]
pub struct LogLine {
    pub level: u32,
    pub message: String,
}

/// An HTTP callout the module dispatched (`dispatch_http_call`).
#[derive(Clone, Debug, serde::Serialize)]
pub struct Callout {
    pub token: u32,
    /// The context that dispatched it (the answer goes back there).
    pub context_id: u32,
    pub upstream: String,
    pub headers: Headers,
    #[serde(with = "crate::exchange::bytes_text")]
    pub body: Vec<u8>,
    pub trailers: Headers,
    pub timeout_ms: u32,
}

/// The answer a callout gets (from a test, an embedder or the replay's
/// default).
#[derive(Clone, Debug, Default)]
pub struct CalloutAnswer {
    pub headers: Headers,
    pub body: Vec<u8>,
    pub trailers: Headers,
}

impl CalloutAnswer {
    pub fn status(code: u16, body: &[u8]) -> CalloutAnswer {
        CalloutAnswer { headers: vec![(":status".into(), code.to_string())], body: body.to_vec(), trailers: Vec::new() }
    }
}

/// An answer the module sent in place of the upstream's
/// (`send_http_response`).
#[derive(Clone, Debug, serde::Serialize)]
pub struct LocalReply {
    pub status: u32,
    pub details: String,
    pub headers: Headers,
    #[serde(with = "crate::exchange::bytes_text")]
    pub body: Vec<u8>,
    pub grpc_status: i32,
}

#[derive(Clone, Debug, serde::Serialize)]
pub struct Metric {
    pub name: String,
    pub kind: u32,
    pub value: u64,
}

/// Headers, bodies and trailers of one HTTP stream, as the module sees
/// them at the current callback.
#[derive(Clone, Debug, Default)]
pub struct Stream {
    pub request_headers: Headers,
    pub request_body: Vec<u8>,
    pub request_trailers: Headers,
    pub response_headers: Headers,
    pub response_body: Vec<u8>,
    pub response_trailers: Headers,
    pub local_reply: Option<LocalReply>,
    /// `continue_stream` calls (stream type), for a driver waiting on them.
    pub resumed: Vec<u32>,
    pub closed: Vec<u32>,
    /// Values the module set with `set_property` on this stream.
    pub properties: BTreeMap<String, Vec<u8>>,
}

/// Everything the host keeps for one VM.
pub struct HostState {
    pub(crate) memory: Option<Memory>,
    pub(crate) allocate: Option<TypedFunc<u32, u32>>,
    pub(crate) vm_id: String,
    pub(crate) instance: u64,
    pub vm_config: Vec<u8>,
    pub plugin_config: Vec<u8>,
    pub root_id: u32,
    /// The context host calls act on (set by the host before each callback
    /// and by the module through `set_effective_context`).
    pub effective: u32,
    pub streams: HashMap<u32, Stream>,
    /// The callout answer being delivered, readable during
    /// `on_http_call_response` only.
    pub callout_answer: Option<CalloutAnswer>,
    pub logs: Vec<LogLine>,
    pub metrics: Vec<Metric>,
    pub pending_callouts: Vec<Callout>,
    pub next_token: u32,
    pub tick_period_ms: u32,
    /// When the next `on_tick` is due (virtual clock), if a period is set.
    pub next_tick_ns: Option<u64>,
    pub now_ns: u64,
    pub shared: SharedData,
    /// Properties the host answers `get_property` with; keys are the path
    /// parts joined by `.` (e.g. `plugin_root_id`, `request.path`).
    pub properties: BTreeMap<String, Vec<u8>>,
    /// What the module wrote to stdout/stderr through WASI.
    pub wasi_output: Vec<u8>,
    pub(crate) random: u64,
    /// Callouts to refuse (BadArgument, as Envoy does for an unknown
    /// cluster); `None` accepts every upstream.
    pub known_upstreams: Option<Vec<String>>,
    /// Set when the module asked to exit (`proc_exit`).
    pub exited: Option<u32>,
}

impl HostState {
    pub fn new(vm_id: &str, instance: u64, shared: SharedData, now_ns: u64) -> HostState {
        HostState {
            memory: None,
            allocate: None,
            vm_id: vm_id.to_string(),
            instance,
            vm_config: Vec::new(),
            plugin_config: Vec::new(),
            root_id: 0,
            effective: 0,
            streams: HashMap::new(),
            callout_answer: None,
            logs: Vec::new(),
            metrics: Vec::new(),
            pending_callouts: Vec::new(),
            next_token: 1,
            tick_period_ms: 0,
            next_tick_ns: None,
            now_ns,
            shared,
            properties: BTreeMap::new(),
            wasi_output: Vec::new(),
            random: 0x2545_f491_4f6c_dd1d ^ instance,
            known_upstreams: None,
            exited: None,
        }
    }

    pub(crate) fn stream(&mut self) -> HostResult<&mut Stream> {
        self.streams.get_mut(&self.effective).ok_or(Status::NotFound)
    }

    pub(crate) fn header_map(&mut self, map_type: u32) -> HostResult<&mut Headers> {
        use crate::abi::map::*;
        match map_type {
            HTTP_CALL_RESPONSE_HEADERS => self.callout_answer.as_mut().map(|a| &mut a.headers).ok_or(Status::NotFound),
            HTTP_CALL_RESPONSE_TRAILERS => self.callout_answer.as_mut().map(|a| &mut a.trailers).ok_or(Status::NotFound),
            HTTP_REQUEST_HEADERS => Ok(&mut self.stream()?.request_headers),
            HTTP_REQUEST_TRAILERS => Ok(&mut self.stream()?.request_trailers),
            HTTP_RESPONSE_HEADERS => Ok(&mut self.stream()?.response_headers),
            HTTP_RESPONSE_TRAILERS => Ok(&mut self.stream()?.response_trailers),
            _ => Err(Status::BadArgument),
        }
    }

    pub(crate) fn buffer(&mut self, buffer_type: u32) -> HostResult<&mut Vec<u8>> {
        use crate::abi::buffer::*;
        match buffer_type {
            HTTP_REQUEST_BODY => Ok(&mut self.stream()?.request_body),
            HTTP_RESPONSE_BODY => Ok(&mut self.stream()?.response_body),
            HTTP_CALL_RESPONSE_BODY => self.callout_answer.as_mut().map(|a| &mut a.body).ok_or(Status::NotFound),
            VM_CONFIGURATION => Ok(&mut self.vm_config),
            PLUGIN_CONFIGURATION => Ok(&mut self.plugin_config),
            _ => Err(Status::BadArgument),
        }
    }

    /// A property by its path parts: the stream's own values first, then
    /// values derived from its headers, then the host's configured ones.
    pub(crate) fn property(&self, parts: &[String]) -> Option<Vec<u8>> {
        let key = parts.join(".");
        let stream = self.streams.get(&self.effective);
        if let Some(v) = stream.and_then(|s| s.properties.get(&key)) {
            return Some(v.clone());
        }
        if let Some(s) = stream {
            let header = |h: &Headers, name: &str| h.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_bytes().to_vec());
            let derived = match key.as_str() {
                "request.path" => header(&s.request_headers, ":path"),
                "request.url_path" => header(&s.request_headers, ":path").map(|p| p.split(|b| *b == b'?').next().unwrap_or(&[]).to_vec()),
                "request.host" => header(&s.request_headers, ":authority"),
                "request.method" => header(&s.request_headers, ":method"),
                "request.scheme" => header(&s.request_headers, ":scheme"),
                "request.id" => header(&s.request_headers, "x-request-id"),
                "request.protocol" => Some(b"HTTP/1.1".to_vec()),
                // Envoy encodes integer attributes as 8 little-endian bytes.
                "response.code" => header(&s.response_headers, ":status")
                    .and_then(|v| String::from_utf8(v).ok()?.parse::<u64>().ok())
                    .map(|n| n.to_le_bytes().to_vec()),
                _ => None,
            };
            if derived.is_some() {
                return derived;
            }
        }
        self.properties.get(&key).cloned()
    }

    pub(crate) fn next_random(&mut self) -> u64 {
        // xorshift64*: replay must be deterministic, so WASI randomness (the
        // module's hash seeds) comes from a fixed per-VM seed.
        let mut x = self.random;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.random = x;
        x.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
}
