//! Loading the module and driving one VM through the proxy-wasm lifecycle.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use wasmtime::{Engine, InstancePre, Linker, Module, Store, TypedFunc};

use crate::abi::Action;
use crate::state::{Callout, CalloutAnswer, HostState, LogLine, Metric, SharedData, Stream};

/// A compiled filter module, ready to start VMs from. Compile once: VMs are
/// cheap, compilation is not.
pub struct FilterModule {
    engine: Engine,
    pre: InstancePre<HostState>,
    shared: SharedData,
    next_instance: std::cell::Cell<u64>,
    /// Imports the host does not implement (answered `Unimplemented`).
    pub stubbed: Vec<String>,
    /// Time to compile the module, or to load it from the cache.
    pub compile_time: Duration,
    pub from_cache: bool,
    /// The proxy-wasm ABI version the module exports.
    pub abi: String,
}

/// How to start a VM: what Envoy's `vm_config` and plugin `config` carry.
#[derive(Clone, Debug)]
pub struct VmConfig {
    pub vm_id: String,
    pub root_id: String,
    pub plugin_config: Vec<u8>,
    pub vm_config: Vec<u8>,
    /// Host properties (`plugin_name`, `node.id`, ...), path parts joined by `.`.
    pub properties: BTreeMap<String, Vec<u8>>,
    /// Virtual clock start; `None` starts at the wall clock.
    pub start_time_ns: Option<u64>,
    /// Upstreams callouts may go to; `None` accepts any.
    pub known_upstreams: Option<Vec<String>>,
}

impl VmConfig {
    pub fn new(plugin_config: impl Into<Vec<u8>>) -> VmConfig {
        let mut properties = BTreeMap::new();
        properties.insert("plugin_name".into(), b"ward".to_vec());
        properties.insert("plugin_root_id".into(), b"ward".to_vec());
        properties.insert("plugin_vm_id".into(), b"ward".to_vec());
        VmConfig {
            vm_id: "ward".into(),
            root_id: "ward".into(),
            plugin_config: plugin_config.into(),
            vm_config: Vec::new(),
            properties,
            start_time_ns: None,
            known_upstreams: None,
        }
    }
}

impl FilterModule {
    pub fn from_file(path: impl AsRef<Path>) -> wasmtime::Result<FilterModule> {
        let path = path.as_ref();
        let bytes = std::fs::read(path).map_err(|e| wasmtime::Error::msg(format!("{}: {e}", path.display())))?;
        FilterModule::from_bytes(&bytes)
    }

    /// Compiles `wasm`, or loads the machine code compiled for it before
    /// from the cache (see [`cache_dir`]).
    pub fn from_bytes(wasm: &[u8]) -> wasmtime::Result<FilterModule> {
        FilterModule::build(wasm, cache_dir().as_deref())
    }

    /// Compiles `wasm` with no cache.
    pub fn compile(wasm: &[u8]) -> wasmtime::Result<FilterModule> {
        FilterModule::build(wasm, None)
    }

    /// Compiles `wasm` (no cache) and writes `/tmp/perf-PID.map`, so
    /// `perf record` / `perf report` name the module's functions.
    pub fn compile_with_perf_map(wasm: &[u8]) -> wasmtime::Result<FilterModule> {
        let mut config = wasmtime::Config::new();
        config.profiler(wasmtime::ProfilingStrategy::PerfMap);
        FilterModule::build_with(Engine::new(&config)?, wasm, None)
    }

    fn build(wasm: &[u8], cache: Option<&Path>) -> wasmtime::Result<FilterModule> {
        FilterModule::build_with(Engine::default(), wasm, cache)
    }

    fn build_with(engine: Engine, wasm: &[u8], cache: Option<&Path>) -> wasmtime::Result<FilterModule> {
        let started = Instant::now();
        let (module, from_cache) = load_or_compile(&engine, wasm, cache)?;
        let compile_time = started.elapsed();
        let abi = module
            .exports()
            .map(|e| e.name().to_string())
            .find(|n| n.starts_with("proxy_abi_version_"))
            .ok_or_else(|| wasmtime::Error::msg("not a proxy-wasm module: no proxy_abi_version_* export"))?;
        if abi != "proxy_abi_version_0_2_1" && abi != "proxy_abi_version_0_2_0" {
            return Err(wasmtime::Error::msg(format!("unsupported proxy-wasm ABI {abi} (this host speaks 0.2.x)")));
        }
        let mut linker = Linker::new(&engine);
        crate::imports::link(&mut linker)?;
        let mut scratch = Store::new(&engine, HostState::new("", 0, SharedData::default(), 0));
        let stubbed = crate::imports::stub_unknown(&mut linker, &module, &mut scratch)?;
        let pre = linker.instantiate_pre(&module)?;
        Ok(FilterModule { engine, pre, shared: SharedData::default(), next_instance: 1.into(), stubbed, compile_time, from_cache, abi })
    }

    /// Data shared by every VM started from this module.
    pub fn shared(&self) -> &SharedData {
        &self.shared
    }

    /// Instantiates the module and runs `_initialize`, `on_vm_start` and
    /// `on_configure`. A module that refuses its configuration is an error,
    /// with what it logged.
    pub fn start(&self, config: &VmConfig) -> wasmtime::Result<Vm> {
        let id = self.next_instance.get();
        self.next_instance.set(id + 1);
        let now_ns = config.start_time_ns.unwrap_or_else(wall_clock_ns);
        let mut state = HostState::new(&config.vm_id, id, self.shared.clone(), now_ns);
        state.vm_config = config.vm_config.clone();
        state.plugin_config = config.plugin_config.clone();
        state.properties = config.properties.clone();
        state.known_upstreams = config.known_upstreams.clone();
        let mut store = Store::new(&self.engine, state);
        let instance = self.pre.instantiate(&mut store)?;
        let memory = instance.get_memory(&mut store, "memory").ok_or_else(|| wasmtime::Error::msg("module exports no memory"))?;
        store.data_mut().memory = Some(memory);
        store.data_mut().allocate = Some(instance.get_typed_func::<u32, u32>(&mut store, "proxy_on_memory_allocate").or_else(|_| instance.get_typed_func::<u32, u32>(&mut store, "malloc"))?);
        let f = Exports::find(&instance, &mut store)?;
        let mut vm = Vm { store, f, id, root_id: 1, next_context: 2, failed: None };
        if let Ok(init) = instance.get_typed_func::<(), ()>(&mut vm.store, "_initialize") {
            init.call(&mut vm.store, ())?;
        } else if let Ok(start) = instance.get_typed_func::<(), ()>(&mut vm.store, "_start") {
            start.call(&mut vm.store, ())?;
        }
        vm.store.data_mut().root_id = vm.root_id;
        vm.store.data_mut().effective = vm.root_id;
        let root = vm.root_id;
        vm.f.on_context_create.call(&mut vm.store, (root, 0))?;
        let vm_config_len = vm.store.data().vm_config.len() as u32;
        if vm.f.on_vm_start.call(&mut vm.store, (root, vm_config_len))? == 0 {
            return Err(wasmtime::Error::msg(format!("on_vm_start refused: {}", vm.log_text())));
        }
        let plugin_len = vm.store.data().plugin_config.len() as u32;
        if vm.f.on_configure.call(&mut vm.store, (root, plugin_len))? == 0 {
            return Err(wasmtime::Error::msg(format!("on_configure refused the configuration: {}", vm.log_text())));
        }
        Ok(vm)
    }
}

/// Where compiled modules are kept: `$WARD_HOST_CACHE`, else
/// `$WARD_CACHE/wasmtime`, else `~/.cache/ward/wasmtime`. Set
/// `WARD_HOST_CACHE=off` to always compile.
///
/// Compiling the filter takes cranelift about 0.2 s in an optimised build
/// but minutes in a debug build (`cargo test`), so the first optimised run
/// (scripts/build.sh runs `ward-host info`) leaves the machine code here
/// for every later run.
pub fn cache_dir() -> Option<std::path::PathBuf> {
    match std::env::var_os("WARD_HOST_CACHE") {
        Some(v) if v == "off" => None,
        Some(v) => Some(v.into()),
        None => {
            let base = std::env::var_os("WARD_CACHE").map(std::path::PathBuf::from).or_else(|| {
                std::env::var_os("HOME").map(|h| std::path::PathBuf::from(h).join(".cache/ward"))
            })?;
            Some(base.join("wasmtime"))
        }
    }
}

fn load_or_compile(engine: &Engine, wasm: &[u8], cache: Option<&Path>) -> wasmtime::Result<(Module, bool)> {
    use sha2::Digest;
    use std::hash::{Hash, Hasher};
    let Some(dir) = cache else { return Ok((Module::new(engine, wasm)?, false)) };
    // The key covers the module's bytes and everything that makes compiled
    // code incompatible (wasmtime version, compiler settings, CPU features).
    let mut compat = std::collections::hash_map::DefaultHasher::new();
    engine.precompile_compatibility_hash().hash(&mut compat);
    let digest: String = sha2::Sha256::digest(wasm).iter().map(|b| format!("{b:02x}")).collect();
    let path = dir.join(format!("{}-{:016x}.cwasm", &digest[..32], compat.finish()));
    if path.is_file() {
        // SAFETY: wasmtime runs whatever machine code the file holds. The
        // file is one this host wrote under the user's own cache directory,
        // named by the hash of the module it was compiled from; wasmtime
        // still checks it was produced by this version and configuration.
        if let Ok(module) = unsafe { Module::deserialize_file(engine, &path) } {
            return Ok((module, true));
        }
    }
    let module = Module::new(engine, wasm)?;
    if let Ok(bytes) = module.serialize() {
        let tmp = path.with_extension(format!("tmp{}", std::process::id()));
        let written = std::fs::create_dir_all(dir).and_then(|_| std::fs::write(&tmp, &bytes)).and_then(|_| std::fs::rename(&tmp, &path));
        if written.is_err() {
            std::fs::remove_file(&tmp).ok();
        }
    }
    Ok((module, false))
}

pub fn wall_clock_ns() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_nanos() as u64).unwrap_or(0)
}

type F1 = TypedFunc<u32, ()>;
type F2 = TypedFunc<(u32, u32), ()>;
type F2r = TypedFunc<(u32, u32), u32>;
type F3r = TypedFunc<(u32, u32, u32), u32>;

/// The module's callbacks.
struct Exports {
    on_context_create: F2,
    on_vm_start: F2r,
    on_configure: F2r,
    on_request_headers: F3r,
    on_request_body: F3r,
    on_request_trailers: F2r,
    on_response_headers: F3r,
    on_response_body: F3r,
    on_response_trailers: F2r,
    on_log: F1,
    on_done: TypedFunc<u32, u32>,
    on_delete: F1,
    on_tick: F1,
    on_http_call_response: TypedFunc<(u32, u32, u32, u32, u32), ()>,
    on_queue_ready: F2,
}

impl Exports {
    fn find(i: &wasmtime::Instance, s: &mut Store<HostState>) -> wasmtime::Result<Exports> {
        Ok(Exports {
            on_context_create: i.get_typed_func(&mut *s, "proxy_on_context_create")?,
            on_vm_start: i.get_typed_func(&mut *s, "proxy_on_vm_start")?,
            on_configure: i.get_typed_func(&mut *s, "proxy_on_configure")?,
            on_request_headers: i.get_typed_func(&mut *s, "proxy_on_request_headers")?,
            on_request_body: i.get_typed_func(&mut *s, "proxy_on_request_body")?,
            on_request_trailers: i.get_typed_func(&mut *s, "proxy_on_request_trailers")?,
            on_response_headers: i.get_typed_func(&mut *s, "proxy_on_response_headers")?,
            on_response_body: i.get_typed_func(&mut *s, "proxy_on_response_body")?,
            on_response_trailers: i.get_typed_func(&mut *s, "proxy_on_response_trailers")?,
            on_log: i.get_typed_func(&mut *s, "proxy_on_log")?,
            on_done: i.get_typed_func(&mut *s, "proxy_on_done")?,
            on_delete: i.get_typed_func(&mut *s, "proxy_on_delete")?,
            on_tick: i.get_typed_func(&mut *s, "proxy_on_tick")?,
            on_http_call_response: i.get_typed_func(&mut *s, "proxy_on_http_call_response")?,
            on_queue_ready: i.get_typed_func(&mut *s, "proxy_on_queue_ready")?,
        })
    }
}

/// One running VM: a root context and the HTTP streams it serves.
pub struct Vm {
    store: Store<HostState>,
    f: Exports,
    id: u64,
    root_id: u32,
    next_context: u32,
    failed: Option<String>,
}

/// Which HTTP callback to run.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Phase {
    RequestHeaders,
    RequestBody,
    RequestTrailers,
    ResponseHeaders,
    ResponseBody,
    ResponseTrailers,
}

impl Vm {
    pub fn id(&self) -> u64 {
        self.id
    }

    /// Why the VM stopped (a trap), if it did. Like Envoy, a failed VM
    /// serves nothing more.
    pub fn failed(&self) -> Option<&str> {
        self.failed.as_deref()
    }

    pub fn state(&self) -> &HostState {
        self.store.data()
    }

    pub fn state_mut(&mut self) -> &mut HostState {
        self.store.data_mut()
    }

    /// Guest linear memory, bytes.
    pub fn memory_bytes(&self) -> usize {
        self.store.data().memory.map(|m| m.data_size(&self.store)).unwrap_or(0)
    }

    pub fn take_logs(&mut self) -> Vec<LogLine> {
        std::mem::take(&mut self.store.data_mut().logs)
    }

    pub fn log_text(&self) -> String {
        self.store.data().logs.iter().map(|l| l.message.as_str()).collect::<Vec<_>>().join(" | ")
    }

    pub fn metrics(&self) -> &[Metric] {
        &self.store.data().metrics
    }

    /// Runs a guest call; a trap fails the VM for good.
    fn guard<R>(&mut self, context: u32, call: impl FnOnce(&mut Self) -> wasmtime::Result<R>) -> Result<R, String> {
        if let Some(why) = &self.failed {
            return Err(why.clone());
        }
        self.store.data_mut().effective = context;
        match call(self) {
            Ok(r) => Ok(r),
            Err(e) => {
                let why = format!("module trapped: {e:?}");
                self.failed = Some(why.clone());
                Err(why)
            }
        }
    }

    /// Creates an HTTP stream context with the given request headers.
    pub fn open_stream(&mut self, stream: Stream) -> Result<u32, String> {
        let id = self.next_context;
        self.next_context += 1;
        self.store.data_mut().streams.insert(id, stream);
        let root = self.root_id;
        self.guard(id, |vm| vm.f.on_context_create.call(&mut vm.store, (id, root)))?;
        Ok(id)
    }

    pub fn stream(&self, id: u32) -> Option<&Stream> {
        self.store.data().streams.get(&id)
    }

    pub fn stream_mut(&mut self, id: u32) -> Option<&mut Stream> {
        self.store.data_mut().streams.get_mut(&id)
    }

    /// Runs one HTTP callback. Header and trailer counts come from the
    /// stream; bodies are whatever the stream's buffer holds now.
    pub fn on(&mut self, id: u32, phase: Phase, end_of_stream: bool) -> Result<Action, String> {
        let s = self.stream(id).ok_or("no such stream")?;
        let eos = end_of_stream as u32;
        let code = match phase {
            Phase::RequestHeaders => {
                let n = s.request_headers.len() as u32;
                self.guard(id, |vm| vm.f.on_request_headers.call(&mut vm.store, (id, n, eos)))?
            }
            Phase::RequestBody => {
                let n = s.request_body.len() as u32;
                self.guard(id, |vm| vm.f.on_request_body.call(&mut vm.store, (id, n, eos)))?
            }
            Phase::RequestTrailers => {
                let n = s.request_trailers.len() as u32;
                self.guard(id, |vm| vm.f.on_request_trailers.call(&mut vm.store, (id, n)))?
            }
            Phase::ResponseHeaders => {
                let n = s.response_headers.len() as u32;
                self.guard(id, |vm| vm.f.on_response_headers.call(&mut vm.store, (id, n, eos)))?
            }
            Phase::ResponseBody => {
                let n = s.response_body.len() as u32;
                self.guard(id, |vm| vm.f.on_response_body.call(&mut vm.store, (id, n, eos)))?
            }
            Phase::ResponseTrailers => {
                let n = s.response_trailers.len() as u32;
                self.guard(id, |vm| vm.f.on_response_trailers.call(&mut vm.store, (id, n)))?
            }
        };
        self.deliver_queues();
        Ok(Action::from_code(code))
    }

    /// Ends a stream: `on_log`, `on_done`, `on_delete`; returns its state.
    pub fn close_stream(&mut self, id: u32) -> Result<Stream, String> {
        let r = self.guard(id, |vm| {
            vm.f.on_log.call(&mut vm.store, id)?;
            vm.f.on_done.call(&mut vm.store, id)?;
            vm.f.on_delete.call(&mut vm.store, id)
        });
        let stream = self.store.data_mut().streams.remove(&id).unwrap_or_default();
        self.store.data_mut().effective = self.root_id;
        self.deliver_queues();
        r.map(|_| stream)
    }

    /// Callouts dispatched and not yet answered.
    pub fn pending_callouts(&self) -> &[Callout] {
        &self.store.data().pending_callouts
    }

    /// Answers callout `token` (`on_http_call_response`).
    pub fn answer_callout(&mut self, token: u32, answer: CalloutAnswer) -> Result<(), String> {
        let pending = &mut self.store.data_mut().pending_callouts;
        let i = pending.iter().position(|c| c.token == token).ok_or_else(|| format!("no pending callout {token}"))?;
        let callout = pending.remove(i);
        let (h, b, t) = (answer.headers.len() as u32, answer.body.len() as u32, answer.trailers.len() as u32);
        self.store.data_mut().callout_answer = Some(answer);
        let context = if self.store.data().streams.contains_key(&callout.context_id) { callout.context_id } else { self.root_id };
        let r = self.guard(context, |vm| vm.f.on_http_call_response.call(&mut vm.store, (context, token, h, b, t)));
        self.store.data_mut().callout_answer = None;
        self.deliver_queues();
        r
    }

    /// Answers every pending callout with `answer`, including callouts made
    /// while answering; returns what was answered.
    pub fn answer_all_callouts(&mut self, answer: &CalloutAnswer) -> Result<Vec<Callout>, String> {
        let mut answered = Vec::new();
        for _ in 0..64 {
            let pending = self.store.data().pending_callouts.clone();
            if pending.is_empty() {
                break;
            }
            for c in pending {
                self.answer_callout(c.token, answer.clone())?;
                answered.push(c);
            }
        }
        Ok(answered)
    }

    /// Moves the virtual clock on by `ms`, firing `on_tick` each time a
    /// tick period elapses (at most 10,000 times per call).
    pub fn advance(&mut self, ms: u64) -> Result<u32, String> {
        let target = self.store.data().now_ns.saturating_add(ms.saturating_mul(1_000_000));
        let mut fired = 0;
        while let Some(due) = self.store.data().next_tick_ns {
            if due > target || fired >= 10_000 {
                break;
            }
            let s = self.store.data_mut();
            s.now_ns = due;
            s.next_tick_ns = Some(due + (s.tick_period_ms as u64).max(1) * 1_000_000);
            let root = self.root_id;
            self.guard(root, |vm| vm.f.on_tick.call(&mut vm.store, root))?;
            self.deliver_queues();
            fired += 1;
        }
        self.store.data_mut().now_ns = target;
        Ok(fired)
    }

    /// Tells this VM's root context about queues that got items.
    fn deliver_queues(&mut self) {
        for _ in 0..16 {
            let ready = self.store.data().shared.take_ready(self.id);
            if ready.is_empty() {
                return;
            }
            for (root, queue) in ready {
                if self.guard(root, |vm| vm.f.on_queue_ready.call(&mut vm.store, (root, queue))).is_err() {
                    return;
                }
            }
        }
    }
}
