//! The host functions the module imports: every `env.proxy_*` call of ABI
//! 0.2.1 and the few WASI calls a `wasm32-wasip1` Rust module makes.
//!
//! Guest pointers are checked against its memory: a bad pointer is a
//! `BadArgument` status, never a host panic. Buffers handed back to the
//! guest are allocated through its `proxy_on_memory_allocate` export, and
//! the guest owns them (the SDK frees them).

use wasmtime::{Caller, Extern, ExternType, Linker, Module, Val};

use crate::abi::{decode_map, encode_map, metric, status_of, HostResult, Status};
use crate::state::{Callout, HostState, LocalReply, Metric};

type Cx<'a> = Caller<'a, HostState>;

fn read(cx: &Cx<'_>, ptr: u32, len: u32) -> HostResult<Vec<u8>> {
    if len == 0 {
        return Ok(Vec::new());
    }
    let mem = cx.data().memory.ok_or(Status::InternalFailure)?;
    let start = ptr as usize;
    let end = start.checked_add(len as usize).ok_or(Status::BadArgument)?;
    mem.data(cx).get(start..end).map(<[u8]>::to_vec).ok_or(Status::BadArgument)
}

fn read_str(cx: &Cx<'_>, ptr: u32, len: u32) -> HostResult<String> {
    Ok(String::from_utf8_lossy(&read(cx, ptr, len)?).into_owned())
}

fn write(cx: &mut Cx<'_>, ptr: u32, bytes: &[u8]) -> HostResult {
    let mem = cx.data().memory.ok_or(Status::InternalFailure)?;
    let start = ptr as usize;
    let end = start.checked_add(bytes.len()).ok_or(Status::BadArgument)?;
    mem.data_mut(cx).get_mut(start..end).ok_or(Status::BadArgument)?.copy_from_slice(bytes);
    Ok(())
}

fn write_u32(cx: &mut Cx<'_>, ptr: u32, v: u32) -> HostResult {
    write(cx, ptr, &v.to_le_bytes())
}

/// Copies `data` into memory the guest allocates and stores its address and
/// size at `ptr_ptr` / `size_ptr`. Empty data is a null pointer, as in
/// Envoy. The outer error is a trap inside the guest's allocator.
fn give(cx: &mut Cx<'_>, data: &[u8], ptr_ptr: u32, size_ptr: u32) -> wasmtime::Result<HostResult> {
    let mut addr = 0u32;
    if !data.is_empty() {
        let Some(alloc) = cx.data().allocate.clone() else { return Ok(Err(Status::InternalFailure)) };
        let len = u32::try_from(data.len()).map_err(|_| wasmtime::Error::msg("buffer over 4 GiB"))?;
        addr = alloc.call(&mut *cx, len)?;
        if addr == 0 {
            return Ok(Err(Status::InternalFailure));
        }
        if let Err(s) = write(cx, addr, data) {
            return Ok(Err(s));
        }
    }
    Ok(write_u32(cx, ptr_ptr, addr).and_then(|_| write_u32(cx, size_ptr, data.len() as u32)))
}

/// Replaces `size` bytes at `start` the way Envoy does: from 0, drain that
/// much and prepend; at or past the end, append; anything else is refused.
fn splice(buf: &mut Vec<u8>, start: usize, size: usize, data: &[u8]) -> HostResult {
    if start == 0 {
        let n = size.min(buf.len());
        buf.splice(..n, data.iter().copied());
        Ok(())
    } else if start >= buf.len() {
        buf.extend_from_slice(data);
        Ok(())
    } else {
        Err(Status::BadArgument)
    }
}

/// Functions defined here by name; any other import the module has is
/// stubbed (see [`stub_unknown`]).
pub fn link(linker: &mut Linker<HostState>) -> wasmtime::Result<()> {
    link_logging_and_time(linker)?;
    link_buffers_and_headers(linker)?;
    link_properties_and_shared(linker)?;
    link_streams_and_calls(linker)?;
    link_metrics(linker)?;
    link_wasi(linker)?;
    Ok(())
}

fn link_logging_and_time(l: &mut Linker<HostState>) -> wasmtime::Result<()> {
    l.func_wrap("env", "proxy_log", |cx: Cx<'_>, level: u32, ptr: u32, len: u32| -> u32 {
        match read_str(&cx, ptr, len) {
            Ok(message) => {
                let mut cx = cx;
                cx.data_mut().logs.push(crate::state::LogLine { level, message });
                Status::Ok.code()
            }
            Err(s) => s.code(),
        }
    })?;
    l.func_wrap("env", "proxy_get_log_level", |mut cx: Cx<'_>, ret: u32| -> u32 { status_of(write_u32(&mut cx, ret, 0)) })?;
    l.func_wrap("env", "proxy_get_current_time_nanoseconds", |mut cx: Cx<'_>, ret: u32| -> u32 {
        let now = cx.data().now_ns;
        status_of(write(&mut cx, ret, &now.to_le_bytes()))
    })?;
    l.func_wrap("env", "proxy_set_tick_period_milliseconds", |mut cx: Cx<'_>, period: u32| -> u32 {
        let s = cx.data_mut();
        s.tick_period_ms = period;
        s.next_tick_ns = (period > 0).then(|| s.now_ns + period as u64 * 1_000_000);
        Status::Ok.code()
    })?;
    Ok(())
}

fn link_buffers_and_headers(l: &mut Linker<HostState>) -> wasmtime::Result<()> {
    l.func_wrap("env", "proxy_get_buffer_bytes", |mut cx: Cx<'_>, kind: u32, start: u32, max: u32, ptr_ptr: u32, size_ptr: u32| -> wasmtime::Result<u32> {
        let slice = match cx.data_mut().buffer(kind) {
            Ok(buf) => {
                let (start, max) = (start as usize, max as usize);
                if start > buf.len() {
                    Err(Status::BadArgument)
                } else {
                    let end = start.saturating_add(max).min(buf.len());
                    if end == start { Err(Status::NotFound) } else { Ok(buf[start..end].to_vec()) }
                }
            }
            Err(s) => Err(s),
        };
        match slice {
            Ok(data) => Ok(status_of(give(&mut cx, &data, ptr_ptr, size_ptr)?)),
            Err(s) => Ok(s.code()),
        }
    })?;
    l.func_wrap("env", "proxy_set_buffer_bytes", |mut cx: Cx<'_>, kind: u32, start: u32, size: u32, ptr: u32, len: u32| -> u32 {
        let r = read(&cx, ptr, len).and_then(|data| {
            let buf = cx.data_mut().buffer(kind)?;
            splice(buf, start as usize, size as usize, &data)
        });
        status_of(r)
    })?;
    l.func_wrap("env", "proxy_get_header_map_pairs", |mut cx: Cx<'_>, kind: u32, ptr_ptr: u32, size_ptr: u32| -> wasmtime::Result<u32> {
        match cx.data_mut().header_map(kind).map(|m| encode_map(m)) {
            Ok(bytes) => Ok(status_of(give(&mut cx, &bytes, ptr_ptr, size_ptr)?)),
            Err(s) => Ok(s.code()),
        }
    })?;
    l.func_wrap("env", "proxy_set_header_map_pairs", |mut cx: Cx<'_>, kind: u32, ptr: u32, len: u32| -> u32 {
        let r = read(&cx, ptr, len).and_then(|b| decode_map(&b).ok_or(Status::ParseFailure)).and_then(|pairs| {
            *cx.data_mut().header_map(kind)? = pairs.into_iter().map(|(k, v)| (k.to_ascii_lowercase(), v)).collect();
            Ok(())
        });
        status_of(r)
    })?;
    l.func_wrap("env", "proxy_get_header_map_value", |mut cx: Cx<'_>, kind: u32, kp: u32, ks: u32, ptr_ptr: u32, size_ptr: u32| -> wasmtime::Result<u32> {
        let value = read_str(&cx, kp, ks).and_then(|key| {
            let key = key.to_ascii_lowercase();
            let map = cx.data_mut().header_map(kind)?;
            map.iter().find(|(k, _)| *k == key).map(|(_, v)| v.clone()).ok_or(Status::NotFound)
        });
        match value {
            Ok(v) => Ok(status_of(give(&mut cx, v.as_bytes(), ptr_ptr, size_ptr)?)),
            Err(s) => Ok(s.code()),
        }
    })?;
    l.func_wrap("env", "proxy_replace_header_map_value", |mut cx: Cx<'_>, kind: u32, kp: u32, ks: u32, vp: u32, vs: u32| -> u32 {
        let r = read_str(&cx, kp, ks).and_then(|k| Ok((k.to_ascii_lowercase(), read_str(&cx, vp, vs)?))).and_then(|(key, value)| {
            let map = cx.data_mut().header_map(kind)?;
            map.retain(|(k, _)| *k != key);
            map.push((key, value));
            Ok(())
        });
        status_of(r)
    })?;
    l.func_wrap("env", "proxy_add_header_map_value", |mut cx: Cx<'_>, kind: u32, kp: u32, ks: u32, vp: u32, vs: u32| -> u32 {
        let r = read_str(&cx, kp, ks).and_then(|k| Ok((k.to_ascii_lowercase(), read_str(&cx, vp, vs)?))).and_then(|(key, value)| {
            cx.data_mut().header_map(kind)?.push((key, value));
            Ok(())
        });
        status_of(r)
    })?;
    l.func_wrap("env", "proxy_remove_header_map_value", |mut cx: Cx<'_>, kind: u32, kp: u32, ks: u32| -> u32 {
        let r = read_str(&cx, kp, ks).and_then(|key| {
            let key = key.to_ascii_lowercase();
            cx.data_mut().header_map(kind)?.retain(|(k, _)| *k != key);
            Ok(())
        });
        status_of(r)
    })?;
    Ok(())
}

fn path_parts(raw: &[u8]) -> Vec<String> {
    raw.split(|b| *b == 0).map(|p| String::from_utf8_lossy(p).into_owned()).collect()
}

fn link_properties_and_shared(l: &mut Linker<HostState>) -> wasmtime::Result<()> {
    l.func_wrap("env", "proxy_get_property", |mut cx: Cx<'_>, pp: u32, ps: u32, ptr_ptr: u32, size_ptr: u32| -> wasmtime::Result<u32> {
        let value = read(&cx, pp, ps).and_then(|raw| cx.data().property(&path_parts(&raw)).ok_or(Status::NotFound));
        match value {
            Ok(v) => Ok(status_of(give(&mut cx, &v, ptr_ptr, size_ptr)?)),
            Err(s) => Ok(s.code()),
        }
    })?;
    l.func_wrap("env", "proxy_set_property", |mut cx: Cx<'_>, pp: u32, ps: u32, vp: u32, vs: u32| -> u32 {
        let r = read(&cx, pp, ps).and_then(|raw| Ok((path_parts(&raw).join("."), read(&cx, vp, vs)?))).and_then(|(key, value)| {
            cx.data_mut().stream()?.properties.insert(key, value);
            Ok(())
        });
        status_of(r)
    })?;
    l.func_wrap("env", "proxy_get_shared_data", |mut cx: Cx<'_>, kp: u32, ks: u32, ptr_ptr: u32, size_ptr: u32, cas_ptr: u32| -> wasmtime::Result<u32> {
        let entry = read_str(&cx, kp, ks).and_then(|key| cx.data().shared.get(&key).ok_or(Status::NotFound));
        match entry {
            Ok((value, cas)) => {
                if let Err(s) = give(&mut cx, &value, ptr_ptr, size_ptr)? {
                    return Ok(s.code());
                }
                Ok(status_of(write_u32(&mut cx, cas_ptr, cas)))
            }
            Err(s) => Ok(s.code()),
        }
    })?;
    l.func_wrap("env", "proxy_set_shared_data", |cx: Cx<'_>, kp: u32, ks: u32, vp: u32, vs: u32, cas: u32| -> u32 {
        let r = read_str(&cx, kp, ks).and_then(|key| {
            let value = read(&cx, vp, vs)?;
            cx.data().shared.set(&key, value, cas)
        });
        status_of(r)
    })?;
    l.func_wrap("env", "proxy_register_shared_queue", |mut cx: Cx<'_>, np: u32, ns: u32, ret: u32| -> u32 {
        let r = read_str(&cx, np, ns).and_then(|name| {
            let s = cx.data();
            let id = s.shared.register_queue(&s.vm_id, &name, s.instance, s.effective);
            write_u32(&mut cx, ret, id)
        });
        status_of(r)
    })?;
    l.func_wrap("env", "proxy_resolve_shared_queue", |mut cx: Cx<'_>, vp: u32, vs: u32, np: u32, ns: u32, ret: u32| -> u32 {
        let r = read_str(&cx, vp, vs).and_then(|vm| Ok((vm, read_str(&cx, np, ns)?))).and_then(|(vm, name)| {
            let vm = if vm.is_empty() { cx.data().vm_id.clone() } else { vm };
            let id = cx.data().shared.resolve_queue(&vm, &name).ok_or(Status::NotFound)?;
            write_u32(&mut cx, ret, id)
        });
        status_of(r)
    })?;
    l.func_wrap("env", "proxy_enqueue_shared_queue", |cx: Cx<'_>, id: u32, vp: u32, vs: u32| -> u32 {
        status_of(read(&cx, vp, vs).and_then(|v| cx.data().shared.enqueue(id, v)))
    })?;
    l.func_wrap("env", "proxy_dequeue_shared_queue", |mut cx: Cx<'_>, id: u32, ptr_ptr: u32, size_ptr: u32| -> wasmtime::Result<u32> {
        match cx.data().shared.dequeue(id) {
            Ok(v) => Ok(status_of(give(&mut cx, &v, ptr_ptr, size_ptr)?)),
            Err(s) => Ok(s.code()),
        }
    })?;
    Ok(())
}

fn link_streams_and_calls(l: &mut Linker<HostState>) -> wasmtime::Result<()> {
    l.func_wrap("env", "proxy_continue_stream", |mut cx: Cx<'_>, kind: u32| -> u32 {
        status_of(cx.data_mut().stream().map(|s| s.resumed.push(kind)))
    })?;
    l.func_wrap("env", "proxy_close_stream", |mut cx: Cx<'_>, kind: u32| -> u32 {
        status_of(cx.data_mut().stream().map(|s| s.closed.push(kind)))
    })?;
    l.func_wrap(
        "env",
        "proxy_send_local_response",
        |mut cx: Cx<'_>, status: u32, dp: u32, ds: u32, bp: u32, bs: u32, hp: u32, hs: u32, grpc_status: i32| -> u32 {
            let r = (|| {
                let details = read_str(&cx, dp, ds)?;
                let body = read(&cx, bp, bs)?;
                let headers = decode_map(&read(&cx, hp, hs)?).ok_or(Status::ParseFailure)?;
                let headers = headers.into_iter().map(|(k, v)| (k.to_ascii_lowercase(), v)).collect();
                cx.data_mut().stream()?.local_reply = Some(LocalReply { status, details, headers, body, grpc_status });
                Ok(())
            })();
            status_of(r)
        },
    )?;
    l.func_wrap(
        "env",
        "proxy_http_call",
        |mut cx: Cx<'_>, up: u32, us: u32, hp: u32, hs: u32, bp: u32, bs: u32, tp: u32, ts: u32, timeout_ms: u32, ret: u32| -> u32 {
            let r = (|| {
                let upstream = read_str(&cx, up, us)?;
                let headers = decode_map(&read(&cx, hp, hs)?).ok_or(Status::ParseFailure)?;
                let body = read(&cx, bp, bs)?;
                let trailers = decode_map(&read(&cx, tp, ts)?).ok_or(Status::ParseFailure)?;
                let s = cx.data();
                if s.known_upstreams.as_ref().is_some_and(|k| !k.contains(&upstream)) {
                    return Err(Status::BadArgument);
                }
                // Envoy refuses a callout without these pseudo-headers.
                if ![":method", ":path", ":authority"].iter().all(|h| headers.iter().any(|(k, _)| k == h)) {
                    return Err(Status::BadArgument);
                }
                let token = s.next_token;
                write_u32(&mut cx, ret, token)?;
                let s = cx.data_mut();
                s.next_token += 1;
                let context_id = s.effective;
                s.pending_callouts.push(Callout { token, context_id, upstream, headers, body, trailers, timeout_ms });
                Ok(())
            })();
            status_of(r)
        },
    )?;
    l.func_wrap("env", "proxy_get_status", |mut cx: Cx<'_>, code_ptr: u32, msg_ptr_ptr: u32, msg_size_ptr: u32| -> wasmtime::Result<u32> {
        if let Err(s) = write_u32(&mut cx, code_ptr, 0) {
            return Ok(s.code());
        }
        Ok(status_of(give(&mut cx, b"", msg_ptr_ptr, msg_size_ptr)?))
    })?;
    l.func_wrap("env", "proxy_set_effective_context", |mut cx: Cx<'_>, ctx: u32| -> u32 {
        let s = cx.data_mut();
        if ctx != s.root_id && !s.streams.contains_key(&ctx) {
            return Status::BadArgument.code();
        }
        s.effective = ctx;
        Status::Ok.code()
    })?;
    l.func_wrap("env", "proxy_done", |_cx: Cx<'_>| -> u32 { Status::Ok.code() })?;
    l.func_wrap("env", "proxy_call_foreign_function", |_cx: Cx<'_>, _np: u32, _ns: u32, _ap: u32, _as: u32, _rpp: u32, _rsp: u32| -> u32 {
        Status::NotFound.code()
    })?;
    Ok(())
}

fn link_metrics(l: &mut Linker<HostState>) -> wasmtime::Result<()> {
    l.func_wrap("env", "proxy_define_metric", |mut cx: Cx<'_>, kind: u32, np: u32, ns: u32, ret: u32| -> u32 {
        if kind > metric::HISTOGRAM {
            return Status::BadArgument.code();
        }
        let r = read_str(&cx, np, ns).and_then(|name| {
            let metrics = &mut cx.data_mut().metrics;
            let id = match metrics.iter().position(|m| m.name == name) {
                Some(i) => i,
                None => {
                    metrics.push(Metric { name, kind, value: 0 });
                    metrics.len() - 1
                }
            };
            write_u32(&mut cx, ret, id as u32 + 1)
        });
        status_of(r)
    })?;
    l.func_wrap("env", "proxy_increment_metric", |mut cx: Cx<'_>, id: u32, offset: i64| -> u32 {
        match cx.data_mut().metrics.get_mut((id as usize).wrapping_sub(1)) {
            Some(m) if m.kind != metric::HISTOGRAM => {
                m.value = m.value.saturating_add_signed(offset);
                Status::Ok.code()
            }
            Some(_) => Status::BadArgument.code(),
            None => Status::NotFound.code(),
        }
    })?;
    l.func_wrap("env", "proxy_record_metric", |mut cx: Cx<'_>, id: u32, value: u64| -> u32 {
        match cx.data_mut().metrics.get_mut((id as usize).wrapping_sub(1)) {
            Some(m) => {
                m.value = value;
                Status::Ok.code()
            }
            None => Status::NotFound.code(),
        }
    })?;
    l.func_wrap("env", "proxy_get_metric", |mut cx: Cx<'_>, id: u32, ret: u32| -> u32 {
        match cx.data().metrics.get((id as usize).wrapping_sub(1)).map(|m| m.value) {
            Some(v) => status_of(write(&mut cx, ret, &v.to_le_bytes())),
            None => Status::NotFound.code(),
        }
    })?;
    Ok(())
}

const WASI: &str = "wasi_snapshot_preview1";
const ERRNO_SUCCESS: u32 = 0;
const ERRNO_BADF: u32 = 8;
const ERRNO_FAULT: u32 = 21;
const ERRNO_NOSYS: u32 = 52;

fn errno(r: HostResult) -> u32 {
    if r.is_ok() { ERRNO_SUCCESS } else { ERRNO_FAULT }
}

/// The WASI calls Rust's std makes in a `wasm32-wasip1` cdylib: no files, an
/// empty environment, stdout/stderr captured, deterministic randomness.
fn link_wasi(l: &mut Linker<HostState>) -> wasmtime::Result<()> {
    l.func_wrap(WASI, "fd_write", |mut cx: Cx<'_>, fd: u32, iovs: u32, iovs_len: u32, nwritten: u32| -> u32 {
        if fd != 1 && fd != 2 {
            return ERRNO_BADF;
        }
        let mut out = Vec::new();
        for i in 0..iovs_len.min(1024) {
            let Ok(iov) = read(&cx, iovs.wrapping_add(i * 8), 8) else { return ERRNO_FAULT };
            let ptr = u32::from_le_bytes([iov[0], iov[1], iov[2], iov[3]]);
            let len = u32::from_le_bytes([iov[4], iov[5], iov[6], iov[7]]);
            match read(&cx, ptr, len) {
                Ok(b) => out.extend_from_slice(&b),
                Err(_) => return ERRNO_FAULT,
            }
        }
        let n = out.len() as u32;
        cx.data_mut().wasi_output.extend_from_slice(&out);
        errno(write_u32(&mut cx, nwritten, n))
    })?;
    for (sizes, get) in [("environ_sizes_get", "environ_get"), ("args_sizes_get", "args_get")] {
        l.func_wrap(WASI, sizes, |mut cx: Cx<'_>, count: u32, size: u32| -> u32 {
            errno(write_u32(&mut cx, count, 0).and_then(|_| write_u32(&mut cx, size, 0)))
        })?;
        l.func_wrap(WASI, get, |_cx: Cx<'_>, _ptrs: u32, _buf: u32| -> u32 { ERRNO_SUCCESS })?;
    }
    l.func_wrap(WASI, "random_get", |mut cx: Cx<'_>, ptr: u32, len: u32| -> u32 {
        let mut bytes = Vec::with_capacity(len as usize);
        while bytes.len() < len as usize {
            let r = cx.data_mut().next_random();
            bytes.extend_from_slice(&r.to_le_bytes());
        }
        bytes.truncate(len as usize);
        errno(write(&mut cx, ptr, &bytes))
    })?;
    l.func_wrap(WASI, "clock_time_get", |mut cx: Cx<'_>, _id: u32, _precision: u64, ret: u32| -> u32 {
        let now = cx.data().now_ns;
        errno(write(&mut cx, ret, &now.to_le_bytes()))
    })?;
    l.func_wrap(WASI, "sched_yield", |_cx: Cx<'_>| -> u32 { ERRNO_SUCCESS })?;
    l.func_wrap(WASI, "proc_exit", |mut cx: Cx<'_>, code: u32| -> wasmtime::Result<()> {
        cx.data_mut().exited = Some(code);
        Err(wasmtime::Error::msg(format!("module called proc_exit({code})")))
    })?;
    Ok(())
}

/// Defines every import the module has that [`link`] does not: `env`
/// calls answer `Unimplemented`, WASI calls `ENOSYS`, so a module built
/// against a newer SDK still loads and says clearly what it missed.
pub fn stub_unknown(linker: &mut Linker<HostState>, module: &Module, store: &mut wasmtime::Store<HostState>) -> wasmtime::Result<Vec<String>> {
    let mut stubbed = Vec::new();
    for import in module.imports() {
        let ExternType::Func(ty) = import.ty() else { continue };
        if linker.get(&mut *store, import.module(), import.name()).is_ok_and(|e| matches!(e, Extern::Func(_))) {
            continue;
        }
        let code = if import.module() == WASI { ERRNO_NOSYS } else { Status::Unimplemented.code() };
        let name = format!("{}.{}", import.module(), import.name());
        stubbed.push(name.clone());
        linker.func_new(import.module(), import.name(), ty.clone(), move |_cx, _params, results| {
            match results.first_mut() {
                Some(r) => *r = Val::I32(code as i32),
                None => return Err(wasmtime::Error::msg(format!("host call {name} is not implemented"))),
            }
            Ok(())
        })?;
    }
    Ok(stubbed)
}
