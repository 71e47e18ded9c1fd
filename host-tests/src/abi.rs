//! The host side of proxy-wasm ABI v0.2.1: every `env.proxy_*` import, answering with the status
//! codes Envoy answers with, linked one family at a time, and WASI preview 1. Guest memory is
//! reached through the module's `memory` export, and data handed to the guest is allocated with
//! its `proxy_on_memory_allocate` export.

use wasmtime::{Caller, Extern, Linker};

use crate::pairs::{self, Pairs};
use crate::properties;
use crate::state::status::*;
use crate::state::{Metric, MetricKind, Queue, VmState};
use crate::{HttpCall, LocalReply, LogEntry};

type Cx<'a> = Caller<'a, VmState>;

/// Why a host call cannot go on: an answer to the guest, or a trap.
enum Fail {
    Status(i32),
    Trap(wasmtime::Error),
}

impl From<wasmtime::Error> for Fail {
    fn from(e: wasmtime::Error) -> Fail {
        Fail::Trap(e)
    }
}

type Answer = Result<i32, Fail>;

fn finish(answer: Answer) -> wasmtime::Result<i32> {
    match answer {
        Ok(status) | Err(Fail::Status(status)) => Ok(status),
        Err(Fail::Trap(e)) => Err(e),
    }
}

fn memory(cx: &mut Cx<'_>) -> Result<wasmtime::Memory, Fail> {
    match cx.get_export("memory") {
        Some(Extern::Memory(m)) => Ok(m),
        _ => Err(Fail::Trap(wasmtime::Error::msg("the module exports no memory"))),
    }
}

fn read(cx: &mut Cx<'_>, ptr: i32, len: i32) -> Result<Vec<u8>, Fail> {
    let mem = memory(cx)?;
    let (start, len) = (ptr as u32 as usize, len as u32 as usize);
    mem.data(&*cx).get(start..start.saturating_add(len)).map(<[u8]>::to_vec).ok_or(Fail::Status(INVALID_MEMORY_ACCESS))
}

fn read_str(cx: &mut Cx<'_>, ptr: i32, len: i32) -> Result<String, Fail> {
    Ok(String::from_utf8_lossy(&read(cx, ptr, len)?).into_owned())
}

fn write_u32(cx: &mut Cx<'_>, ptr: i32, value: u32) -> Result<(), Fail> {
    let mem = memory(cx)?;
    mem.write(&mut *cx, ptr as u32 as usize, &value.to_le_bytes()).map_err(|_| Fail::Status(INVALID_MEMORY_ACCESS))
}

fn write_u64(cx: &mut Cx<'_>, ptr: i32, value: u64) -> Result<(), Fail> {
    let mem = memory(cx)?;
    mem.write(&mut *cx, ptr as u32 as usize, &value.to_le_bytes()).map_err(|_| Fail::Status(INVALID_MEMORY_ACCESS))
}

/// Copies `data` into guest memory it allocates, and stores its address and size. An empty
/// value is written as address 0, size 0, without allocating, as Envoy does.
fn give(cx: &mut Cx<'_>, data: &[u8], ret_ptr: i32, ret_size: i32) -> Answer {
    if data.is_empty() {
        write_u32(cx, ret_ptr, 0)?;
        write_u32(cx, ret_size, 0)?;
        return Ok(OK);
    }
    let alloc = match cx.get_export("proxy_on_memory_allocate").or_else(|| cx.get_export("malloc")) {
        Some(Extern::Func(f)) => f.typed::<i32, i32>(&*cx)?,
        _ => return Err(Fail::Trap(wasmtime::Error::msg("the module exports no allocator"))),
    };
    let ptr = alloc.call(&mut *cx, data.len() as i32)?;
    if ptr == 0 && !data.is_empty() {
        return Err(Fail::Status(INVALID_MEMORY_ACCESS));
    }
    let mem = memory(cx)?;
    mem.write(&mut *cx, ptr as u32 as usize, data).map_err(|_| Fail::Status(INVALID_MEMORY_ACCESS))?;
    write_u32(cx, ret_ptr, ptr as u32)?;
    write_u32(cx, ret_size, data.len() as u32)?;
    Ok(OK)
}

/// Adds every import a proxy-wasm module may make to `linker`: WASI preview 1 and `env.proxy_*`.
pub fn add_to_linker(linker: &mut Linker<VmState>) -> wasmtime::Result<()> {
    wasmtime_wasi::p1::add_to_linker_sync(linker, |s: &mut VmState| &mut s.wasi)?;
    link_logging_and_time(linker)?;
    link_buffers(linker)?;
    link_header_maps(linker)?;
    link_properties(linker)?;
    link_local_replies_and_streams(linker)?;
    link_shared_data(linker)?;
    link_shared_queues(linker)?;
    link_http_calls(linker)?;
    link_contexts(linker)?;
    link_metrics(linker)
}

/// `proxy_log`, the log level, the virtual clock and the tick period.
fn link_logging_and_time(linker: &mut Linker<VmState>) -> wasmtime::Result<()> {
    linker.func_wrap("env", "proxy_log", |mut cx: Cx<'_>, level: i32, ptr: i32, len: i32| {
        finish((|| {
            if !(0..=5).contains(&level) {
                return Err(Fail::Status(BAD_ARGUMENT));
            }
            let message = read_str(&mut cx, ptr, len)?;
            let worker = cx.data().worker;
            cx.data().shared.lock().unwrap().logs.push(LogEntry { worker, level: level as u32, message });
            Ok(OK)
        })())
    })?;
    linker.func_wrap("env", "proxy_get_log_level", |mut cx: Cx<'_>, ret: i32| {
        let level = cx.data().options.log_level;
        finish(write_u32(&mut cx, ret, level).map(|_| OK))
    })?;
    linker.func_wrap("env", "proxy_get_current_time_nanoseconds", |mut cx: Cx<'_>, ret: i32| {
        let now = cx.data().shared.lock().unwrap().now_nanos;
        finish(write_u64(&mut cx, ret, now).map(|_| OK))
    })?;
    linker.func_wrap("env", "proxy_set_tick_period_milliseconds", |mut cx: Cx<'_>, period: i32| {
        cx.data_mut().tick_period_ms = period as u32;
        OK
    })?;
    Ok(())
}

#[derive(Clone, Copy)]
enum BufferType {
    RequestBody,
    ResponseBody,
    /// A network filter's data from the client and from the server.
    DownstreamData,
    UpstreamData,
    CallResponseBody,
    VmConfiguration,
    PluginConfiguration,
    Other,
}

fn buffer_type(t: i32) -> BufferType {
    match t {
        0 => BufferType::RequestBody,
        1 => BufferType::ResponseBody,
        2 => BufferType::DownstreamData,
        3 => BufferType::UpstreamData,
        4 => BufferType::CallResponseBody,
        6 => BufferType::VmConfiguration,
        7 => BufferType::PluginConfiguration,
        _ => BufferType::Other,
    }
}

/// The buffer a call reads or writes; `None` is Envoy's NotFound. A body read outside a
/// stream is an empty buffer in Envoy, modelled by the VM's scratch buffer.
fn buffer(state: &mut VmState, t: BufferType) -> Option<&mut Vec<u8>> {
    if matches!(t, BufferType::RequestBody | BufferType::ResponseBody) && state.stream().is_none() {
        state.scratch.clear();
        return Some(&mut state.scratch);
    }
    match t {
        BufferType::RequestBody => state.stream().map(|s| &mut s.request.body),
        BufferType::ResponseBody => state.stream().map(|s| &mut s.response.body),
        // A connection keeps its two directions where a stream keeps its bodies.
        BufferType::DownstreamData => state.stream().map(|s| &mut s.request.body),
        BufferType::UpstreamData => state.stream().map(|s| &mut s.response.body),
        BufferType::CallResponseBody => state.call_response.as_mut().map(|r| &mut r.body),
        BufferType::VmConfiguration | BufferType::PluginConfiguration | BufferType::Other => None,
    }
}

/// Reading and changing bodies, connection data, HTTP call response bodies and the configurations.
fn link_buffers(linker: &mut Linker<VmState>) -> wasmtime::Result<()> {
    linker.func_wrap(
        "env",
        "proxy_get_buffer_bytes",
        |mut cx: Cx<'_>, t: i32, start: i32, max: i32, ret_ptr: i32, ret_size: i32| {
            finish((|| {
                let t = buffer_type(t);
                let data = match t {
                    // Envoy hands out the plugin configuration during on_configure only.
                    BufferType::PluginConfiguration if cx.data().configuring => cx.data().options.plugin_configuration.clone(),
                    BufferType::PluginConfiguration => return Err(Fail::Status(NOT_FOUND)),
                    BufferType::VmConfiguration => cx.data().options.vm_configuration.clone(),
                    _ => buffer(cx.data_mut(), t).ok_or(Fail::Status(NOT_FOUND))?.clone(),
                };
                let (start, max) = (start as u32 as usize, max as u32 as usize);
                if start.checked_add(max).is_none() {
                    return Err(Fail::Status(BAD_ARGUMENT));
                }
                if start >= data.len() || max == 0 {
                    return Ok(OK);
                }
                let end = (start + max).min(data.len());
                give(&mut cx, &data[start..end], ret_ptr, ret_size)
            })())
        },
    )?;
    linker.func_wrap("env", "proxy_set_buffer_bytes", |mut cx: Cx<'_>, t: i32, start: i32, len: i32, ptr: i32, size: i32| {
        finish((|| {
            let data = read(&mut cx, ptr, size)?;
            let buf = buffer(cx.data_mut(), buffer_type(t)).ok_or(Fail::Status(NOT_FOUND))?;
            let (start, len) = (start as u32 as usize, len as u32 as usize);
            // Envoy: start 0 replaces the first `len` bytes, start at or past the end appends.
            if start == 0 {
                buf.drain(..len.min(buf.len()));
                buf.splice(0..0, data);
            } else if start >= buf.len() {
                buf.extend(data);
            } else {
                return Err(Fail::Status(BAD_ARGUMENT));
            }
            Ok(OK)
        })())
    })?;
    Ok(())
}

/// The header map a call reads or writes, while Envoy keeps it: a stream's map goes away
/// once the filter lets it continue (but on_log reads the logged maps), an HTTP call
/// response's maps live during its callback only. `None` is BadArgument for value calls and
/// an empty map for `get_header_map_pairs`.
fn header_map(state: &mut VmState, t: i32) -> Option<&mut Pairs> {
    if matches!(t, 6 | 7) {
        let response = state.call_response.as_mut()?;
        return Some(if t == 6 { &mut response.headers } else { &mut response.trailers });
    }
    let in_log = state.in_log;
    let stream = state.stream()?;
    let (flow, trailers) = match t {
        0 => (&mut stream.request, false),
        1 => (&mut stream.request, true),
        2 => (&mut stream.response, false),
        3 => (&mut stream.response, true),
        _ => return None,
    };
    let released = if trailers { flow.trailers_forwarded } else { flow.headers_forwarded };
    if released && !in_log {
        return None;
    }
    Some(if trailers { &mut flow.trailers } else { &mut flow.headers })
}

/// Reading and changing header and trailer maps, and HTTP call response maps.
fn link_header_maps(linker: &mut Linker<VmState>) -> wasmtime::Result<()> {
    linker.func_wrap("env", "proxy_get_header_map_pairs", |mut cx: Cx<'_>, t: i32, ret_ptr: i32, ret_size: i32| {
        finish((|| {
            if !(0..=7).contains(&t) {
                return Err(Fail::Status(BAD_ARGUMENT));
            }
            let bytes = header_map(cx.data_mut(), t).map(|map| pairs::serialize(map)).unwrap_or_default();
            give(&mut cx, &bytes, ret_ptr, ret_size)
        })())
    })?;
    linker.func_wrap("env", "proxy_set_header_map_pairs", |mut cx: Cx<'_>, t: i32, ptr: i32, size: i32| {
        finish((|| {
            let bytes = read(&mut cx, ptr, size)?;
            // A malformed map parses to no pairs, which clears the map.
            let new = pairs::deserialize(&bytes).unwrap_or_default();
            let map = header_map(cx.data_mut(), t).ok_or(Fail::Status(BAD_ARGUMENT))?;
            *map = new.into_iter().map(|(k, v)| (k.to_ascii_lowercase(), v)).collect();
            Ok(OK)
        })())
    })?;
    linker.func_wrap(
        "env",
        "proxy_get_header_map_value",
        |mut cx: Cx<'_>, t: i32, kp: i32, kl: i32, ret_ptr: i32, ret_size: i32| {
            finish((|| {
                let key = read_str(&mut cx, kp, kl)?.to_ascii_lowercase();
                let map = header_map(cx.data_mut(), t).ok_or(Fail::Status(BAD_ARGUMENT))?;
                // Envoy answers the first value of a repeated header.
                let value = map.iter().find(|(k, _)| *k == key).map(|(_, v)| v.clone()).ok_or(Fail::Status(NOT_FOUND))?;
                give(&mut cx, &value, ret_ptr, ret_size)
            })())
        },
    )?;
    for (name, op) in [("proxy_add_header_map_value", 0u8), ("proxy_replace_header_map_value", 1u8)] {
        linker.func_wrap("env", name, move |mut cx: Cx<'_>, t: i32, kp: i32, kl: i32, vp: i32, vl: i32| {
            finish((|| {
                let key = read_str(&mut cx, kp, kl)?.to_ascii_lowercase();
                let value = read(&mut cx, vp, vl)?;
                let map = header_map(cx.data_mut(), t).ok_or(Fail::Status(BAD_ARGUMENT))?;
                if op == 1 {
                    if let Some(slot) = map.iter().position(|(k, _)| *k == key) {
                        map[slot].1 = value;
                        let mut seen = false;
                        map.retain(|(k, _)| *k != key || !std::mem::replace(&mut seen, true));
                        return Ok(OK);
                    }
                }
                map.push((key, value));
                Ok(OK)
            })())
        })?;
    }
    linker.func_wrap("env", "proxy_remove_header_map_value", |mut cx: Cx<'_>, t: i32, kp: i32, kl: i32| {
        finish((|| {
            let key = read_str(&mut cx, kp, kl)?.to_ascii_lowercase();
            let map = header_map(cx.data_mut(), t).ok_or(Fail::Status(BAD_ARGUMENT))?;
            map.retain(|(k, _)| *k != key);
            Ok(OK)
        })())
    })?;
    Ok(())
}

/// Envoy's attributes, and the filter state a filter sets.
fn link_properties(linker: &mut Linker<VmState>) -> wasmtime::Result<()> {
    linker.func_wrap("env", "proxy_get_property", |mut cx: Cx<'_>, pp: i32, pl: i32, ret_ptr: i32, ret_size: i32| {
        finish((|| {
            let path = read(&mut cx, pp, pl)?;
            let path: Vec<String> = path.split(|b| *b == 0).map(|s| String::from_utf8_lossy(s).into_owned()).collect();
            let value = properties::lookup(cx.data_mut(), &path).map_err(Fail::Status)?;
            give(&mut cx, &value, ret_ptr, ret_size)
        })())
    })?;
    linker.func_wrap("env", "proxy_set_property", |mut cx: Cx<'_>, pp: i32, pl: i32, vp: i32, vl: i32| {
        finish((|| {
            let path = read(&mut cx, pp, pl)?;
            let key = path.split(|b| *b == 0).map(|s| String::from_utf8_lossy(s).into_owned()).collect::<Vec<_>>().join(".");
            let value = read(&mut cx, vp, vl)?;
            let stream = cx.data_mut().stream().ok_or(Fail::Status(NOT_FOUND))?;
            stream.filter_state.insert(key, value);
            Ok(OK)
        })())
    })?;
    Ok(())
}

/// A local reply in place of the upstream's, and resuming or closing a stream.
fn link_local_replies_and_streams(linker: &mut Linker<VmState>) -> wasmtime::Result<()> {
    linker.func_wrap(
        "env",
        "proxy_send_local_response",
        |mut cx: Cx<'_>, code: i32, dp: i32, dl: i32, bp: i32, bl: i32, hp: i32, hl: i32, grpc: i32| {
            finish((|| {
                let details = read_str(&mut cx, dp, dl)?;
                let body = read(&mut cx, bp, bl)?;
                let headers = pairs::deserialize(&read(&mut cx, hp, hl)?).ok_or(Fail::Status(BAD_ARGUMENT))?;
                let stream = cx.data_mut().stream().ok_or(Fail::Status(NOT_FOUND))?;
                // The first reply wins; Envoy sends it once the callback returns.
                if stream.local_reply.is_none() {
                    let headers = headers.into_iter().map(|(k, v)| (k.to_ascii_lowercase(), v)).collect();
                    stream.local_reply = Some(LocalReply::new(code as u32, details, headers, body, grpc));
                }
                Ok(OK)
            })())
        },
    )?;
    linker.func_wrap("env", "proxy_continue_stream", |mut cx: Cx<'_>, t: i32| match (t, cx.data_mut().stream()) {
        (0 | 1, Some(stream)) => {
            stream.resumes.push(t as u32);
            OK
        }
        (0..=2, _) => OK,
        (3, _) => UNIMPLEMENTED,
        _ => BAD_ARGUMENT,
    })?;
    linker.func_wrap("env", "proxy_close_stream", |mut cx: Cx<'_>, t: i32| match (t, cx.data_mut().stream()) {
        (0..=3, Some(stream)) => {
            stream.closed = true;
            OK
        }
        (0..=3, _) => OK,
        _ => BAD_ARGUMENT,
    })?;
    Ok(())
}

/// Shared data, with its compare-and-swap versions.
fn link_shared_data(linker: &mut Linker<VmState>) -> wasmtime::Result<()> {
    linker.func_wrap(
        "env",
        "proxy_get_shared_data",
        |mut cx: Cx<'_>, kp: i32, kl: i32, ret_ptr: i32, ret_size: i32, ret_cas: i32| {
            finish((|| {
                let key = read_str(&mut cx, kp, kl)?;
                let entry = cx.data().shared.lock().unwrap().shared_data.get(&key).cloned();
                let (value, cas) = entry.ok_or(Fail::Status(NOT_FOUND))?;
                write_u32(&mut cx, ret_cas, cas)?;
                if value.is_empty() {
                    return Ok(OK);
                }
                give(&mut cx, &value, ret_ptr, ret_size)
            })())
        },
    )?;
    linker.func_wrap("env", "proxy_set_shared_data", |mut cx: Cx<'_>, kp: i32, kl: i32, vp: i32, vl: i32, cas: i32| {
        finish((|| {
            let key = read_str(&mut cx, kp, kl)?;
            let value = read(&mut cx, vp, vl)?;
            let shared = cx.data().shared.clone();
            let mut shared = shared.lock().unwrap();
            let current = shared.shared_data.get(&key).map(|(_, c)| *c);
            if cas != 0 && current.is_some_and(|c| c != cas as u32) {
                return Err(Fail::Status(CAS_MISMATCH));
            }
            let next = current.map_or(1, |c| c.wrapping_add(1).max(1));
            shared.shared_data.insert(key, (value, next));
            Ok(OK)
        })())
    })?;
    Ok(())
}

/// Shared queues: registered by a root context, resolved, enqueued to and dequeued from by any worker.
fn link_shared_queues(linker: &mut Linker<VmState>) -> wasmtime::Result<()> {
    linker.func_wrap("env", "proxy_register_shared_queue", |mut cx: Cx<'_>, np: i32, nl: i32, ret: i32| {
        finish((|| {
            let name = read_str(&mut cx, np, nl)?;
            let (worker, root) = (cx.data().worker, cx.data().root_context);
            let vm_id = cx.data().options.vm_id.clone();
            let id = {
                let mut shared = cx.data().shared.lock().unwrap();
                match shared.queues.iter().position(|q| q.vm_id == vm_id && q.name == name) {
                    Some(i) => {
                        shared.queues[i].worker = worker;
                        shared.queues[i].root_context = root;
                        i
                    }
                    None => {
                        shared.queues.push(Queue { vm_id, name, worker, root_context: root, items: Default::default() });
                        shared.queues.len() - 1
                    }
                }
            };
            write_u32(&mut cx, ret, id as u32 + 1)?;
            Ok(OK)
        })())
    })?;
    linker.func_wrap("env", "proxy_resolve_shared_queue", |mut cx: Cx<'_>, vp: i32, vl: i32, np: i32, nl: i32, ret: i32| {
        finish((|| {
            let vm_id = read_str(&mut cx, vp, vl)?;
            let name = read_str(&mut cx, np, nl)?;
            let found = cx.data().shared.lock().unwrap().queues.iter().position(|q| q.vm_id == vm_id && q.name == name);
            let id = found.ok_or(Fail::Status(NOT_FOUND))?;
            write_u32(&mut cx, ret, id as u32 + 1)?;
            Ok(OK)
        })())
    })?;
    linker.func_wrap("env", "proxy_dequeue_shared_queue", |mut cx: Cx<'_>, id: i32, ret_ptr: i32, ret_size: i32| {
        finish((|| {
            let item = {
                let mut shared = cx.data().shared.lock().unwrap();
                let queue = shared.queues.get_mut((id as u32 as usize).wrapping_sub(1)).ok_or(Fail::Status(NOT_FOUND))?;
                queue.items.pop_front().ok_or(Fail::Status(EMPTY))?
            };
            give(&mut cx, &item, ret_ptr, ret_size)
        })())
    })?;
    linker.func_wrap("env", "proxy_enqueue_shared_queue", |mut cx: Cx<'_>, id: i32, vp: i32, vl: i32| {
        finish((|| {
            let value = read(&mut cx, vp, vl)?;
            let mut shared = cx.data().shared.lock().unwrap();
            let index = (id as u32 as usize).wrapping_sub(1);
            let queue = shared.queues.get_mut(index).ok_or(Fail::Status(NOT_FOUND))?;
            queue.items.push_back(value);
            shared.ready_queues.push(id as u32);
            Ok(OK)
        })())
    })?;
    Ok(())
}

/// HTTP calls, answered by the test, and their status; gRPC calls are not modelled.
fn link_http_calls(linker: &mut Linker<VmState>) -> wasmtime::Result<()> {
    linker.func_wrap(
        "env",
        "proxy_http_call",
        |mut cx: Cx<'_>, up: i32, ul: i32, hp: i32, hl: i32, bp: i32, bl: i32, tp: i32, tl: i32, timeout: i32, ret: i32| {
            finish((|| {
                let cluster = read_str(&mut cx, up, ul)?;
                let headers = pairs::deserialize(&read(&mut cx, hp, hl)?).ok_or(Fail::Status(BAD_ARGUMENT))?;
                let body = read(&mut cx, bp, bl)?;
                let trailers = pairs::deserialize(&read(&mut cx, tp, tl)?).ok_or(Fail::Status(BAD_ARGUMENT))?;
                if timeout < 0 || !cx.data().options.clusters.contains(&cluster) {
                    return Err(Fail::Status(BAD_ARGUMENT));
                }
                for required in [":method", ":path", ":authority"] {
                    if !headers.iter().any(|(k, v)| k == required && !v.is_empty()) {
                        return Err(Fail::Status(BAD_ARGUMENT));
                    }
                }
                let worker = cx.data().worker;
                let token = {
                    let mut shared = cx.data().shared.lock().unwrap();
                    shared.next_token += 1;
                    let token = shared.next_token;
                    // A timeout of 0 is none.
                    let deadline = if timeout == 0 { u64::MAX } else { shared.now_nanos + u64::from(timeout as u32) * 1_000_000 };
                    shared.http_calls.push(HttpCall {
                        token,
                        worker,
                        cluster,
                        headers,
                        body,
                        trailers,
                        timeout_ms: timeout as u32,
                        deadline_nanos: deadline,
                    });
                    token
                };
                write_u32(&mut cx, ret, token)?;
                Ok(OK)
            })())
        },
    )?;
    linker.func_wrap("env", "proxy_get_status", |mut cx: Cx<'_>, ret_code: i32, ret_ptr: i32, ret_size: i32| {
        finish((|| {
            let (code, message) = cx.data().status.clone();
            write_u32(&mut cx, ret_code, code)?;
            give(&mut cx, message.as_bytes(), ret_ptr, ret_size)
        })())
    })?;
    #[rustfmt::skip]
    linker.func_wrap("env", "proxy_grpc_call", |_: Cx<'_>, _: i32, _: i32, _: i32, _: i32, _: i32, _: i32, _: i32, _: i32, _: i32, _: i32, _: i32, _: i32| UNIMPLEMENTED)?;
    linker.func_wrap(
        "env",
        "proxy_grpc_stream",
        |_: Cx<'_>, _: i32, _: i32, _: i32, _: i32, _: i32, _: i32, _: i32, _: i32, _: i32| UNIMPLEMENTED,
    )?;
    linker.func_wrap("env", "proxy_grpc_send", |_: Cx<'_>, _: i32, _: i32, _: i32, _: i32| UNIMPLEMENTED)?;
    linker.func_wrap("env", "proxy_grpc_cancel", |_: Cx<'_>, _: i32| UNIMPLEMENTED)?;
    linker.func_wrap("env", "proxy_grpc_close", |_: Cx<'_>, _: i32| UNIMPLEMENTED)?;
    Ok(())
}

/// The effective context, and the calls no context here answers.
fn link_contexts(linker: &mut Linker<VmState>) -> wasmtime::Result<()> {
    linker.func_wrap("env", "proxy_set_effective_context", |mut cx: Cx<'_>, id: i32| {
        let state = cx.data_mut();
        let id = id as u32;
        if id == state.root_context || state.streams.contains_key(&id) {
            state.effective = id;
            OK
        } else {
            BAD_ARGUMENT
        }
    })?;
    // No root context is ever pending shutdown here: Envoy answers NotFound.
    linker.func_wrap("env", "proxy_done", |_: Cx<'_>| NOT_FOUND)?;
    linker
        .func_wrap("env", "proxy_call_foreign_function", |_: Cx<'_>, _: i32, _: i32, _: i32, _: i32, _: i32, _: i32| NOT_FOUND)?;
    Ok(())
}

fn metric_kind(t: i32) -> Option<MetricKind> {
    match t {
        0 => Some(MetricKind::Counter),
        1 => Some(MetricKind::Gauge),
        2 => Some(MetricKind::Histogram),
        _ => None,
    }
}

/// Envoy's metric ids: the type in the low two bits, then a sequence number.
fn metric_id(index: usize, kind: MetricKind) -> u32 {
    let t = match kind {
        MetricKind::Counter => 0,
        MetricKind::Gauge => 1,
        MetricKind::Histogram => 2,
    };
    ((index as u32 + 1) << 2) | t
}

fn metric_index(metrics: &[Metric], id: i32) -> Option<usize> {
    let index = ((id as u32) >> 2).checked_sub(1)? as usize;
    let metric = metrics.get(index)?;
    (metric_id(index, metric.kind) == id as u32).then_some(index)
}

/// Counters, gauges and histograms, shared by the worker VMs.
fn link_metrics(linker: &mut Linker<VmState>) -> wasmtime::Result<()> {
    linker.func_wrap("env", "proxy_define_metric", |mut cx: Cx<'_>, t: i32, np: i32, nl: i32, ret: i32| {
        finish((|| {
            let kind = metric_kind(t).ok_or(Fail::Status(BAD_ARGUMENT))?;
            let name = read_str(&mut cx, np, nl)?;
            let id = {
                let mut shared = cx.data().shared.lock().unwrap();
                match shared.metrics.iter().position(|m| m.name == name) {
                    Some(i) if shared.metrics[i].kind == kind => i,
                    Some(_) => return Err(Fail::Status(BAD_ARGUMENT)),
                    None => {
                        shared.metrics.push(Metric { name, kind, value: 0, samples: Vec::new() });
                        shared.metrics.len() - 1
                    }
                }
            };
            write_u32(&mut cx, ret, metric_id(id, kind))?;
            Ok(OK)
        })())
    })?;
    linker.func_wrap("env", "proxy_increment_metric", |cx: Cx<'_>, id: i32, offset: i64| {
        let mut shared = cx.data().shared.lock().unwrap();
        let Some(metric) = metric_index(&shared.metrics, id).map(|i| &mut shared.metrics[i]) else { return NOT_FOUND };
        match metric.kind {
            MetricKind::Counter if offset <= 0 => BAD_ARGUMENT,
            MetricKind::Counter | MetricKind::Gauge => {
                metric.value = metric.value.saturating_add(offset);
                OK
            }
            MetricKind::Histogram => BAD_ARGUMENT,
        }
    })?;
    linker.func_wrap("env", "proxy_record_metric", |cx: Cx<'_>, id: i32, value: i64| {
        let mut shared = cx.data().shared.lock().unwrap();
        let Some(metric) = metric_index(&shared.metrics, id).map(|i| &mut shared.metrics[i]) else { return NOT_FOUND };
        match metric.kind {
            MetricKind::Counter => metric.value = metric.value.saturating_add(value),
            MetricKind::Gauge => metric.value = value,
            MetricKind::Histogram => metric.samples.push(value as u64),
        }
        OK
    })?;
    linker.func_wrap("env", "proxy_get_metric", |mut cx: Cx<'_>, id: i32, ret: i32| {
        finish((|| {
            let value = {
                let shared = cx.data().shared.lock().unwrap();
                let metric = metric_index(&shared.metrics, id).map(|i| &shared.metrics[i]).ok_or(Fail::Status(NOT_FOUND))?;
                if metric.kind == MetricKind::Histogram {
                    return Err(Fail::Status(BAD_ARGUMENT));
                }
                metric.value as u64
            };
            write_u64(&mut cx, ret, value)?;
            Ok(OK)
        })())
    })?;
    Ok(())
}
