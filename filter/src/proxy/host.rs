//! Every host call the filter makes, each wrapped once so that no answer of the host can panic
//! the VM. The SDK's `hostcalls` panic on any status they do not expect (a `BadArgument` from
//! `set_buffer_bytes`, a failed local reply) and on a header name that is not UTF-8, and its
//! context methods unwrap on top; a panic aborts the VM and the worker answers 503 from then
//! on. Here a failed call is a value (`None`, `false`, empty), and the caller carries on.
//!
//! The imports are the proxy-wasm ABI 0.2.1 functions of the `env` module, declared with their
//! raw integer types.

#![allow(clashing_extern_declarations)] // the SDK declares the same imports with its enums

use std::ptr::{null, null_mut};
use std::time::Duration;

pub use proxy_wasm::types::{BufferType, LogLevel, MapType};

use crate::reply::HttpReply;

const OK: u32 = 0;

#[link(wasm_import_module = "env")]
extern "C" {
    fn proxy_log(level: u32, data: *const u8, size: usize) -> u32;
    fn proxy_get_current_time_nanoseconds(time: *mut u64) -> u32;
    fn proxy_set_tick_period_milliseconds(period: u32) -> u32;
    fn proxy_get_buffer_bytes(kind: u32, start: usize, max: usize, data: *mut *mut u8, size: *mut usize) -> u32;
    fn proxy_set_buffer_bytes(kind: u32, start: usize, size: usize, data: *const u8, data_size: usize) -> u32;
    fn proxy_get_header_map_pairs(kind: u32, data: *mut *mut u8, size: *mut usize) -> u32;
    fn proxy_replace_header_map_value(kind: u32, key: *const u8, key_size: usize, value: *const u8, value_size: usize) -> u32;
    fn proxy_remove_header_map_value(kind: u32, key: *const u8, key_size: usize) -> u32;
    fn proxy_get_property(path: *const u8, path_size: usize, data: *mut *mut u8, size: *mut usize) -> u32;
    fn proxy_set_property(path: *const u8, path_size: usize, value: *const u8, value_size: usize) -> u32;
    #[allow(clippy::too_many_arguments)]
    fn proxy_send_local_response(
        status: u32,
        details: *const u8,
        details_size: usize,
        body: *const u8,
        body_size: usize,
        headers: *const u8,
        headers_size: usize,
        grpc_status: i32,
    ) -> u32;
    fn proxy_close_stream(kind: u32) -> u32;
    fn proxy_define_metric(kind: u32, name: *const u8, name_size: usize, id: *mut u32) -> u32;
    fn proxy_increment_metric(id: u32, offset: i64) -> u32;
}

pub fn log(level: LogLevel, message: &str) {
    // SAFETY: the host reads `size` bytes from a live slice.
    unsafe { proxy_log(level as u32, message.as_ptr(), message.len()) };
}

/// Nanoseconds since the Unix epoch (0 if the host will not say).
pub fn now_nanos() -> u64 {
    let mut time = 0u64;
    // SAFETY: the host writes one u64 to a live local.
    let status = unsafe { proxy_get_current_time_nanoseconds(&mut time) };
    if status == OK {
        time
    } else {
        0
    }
}

pub fn set_tick_period(period: Duration) {
    let millis = u32::try_from(period.as_millis()).unwrap_or(u32::MAX);
    // SAFETY: plain integer argument.
    unsafe { proxy_set_tick_period_milliseconds(millis) };
}

/// Takes ownership of bytes the host allocated in this VM (through the SDK's
/// `proxy_on_memory_allocate`), as the SDK does.
fn owned(status: u32, data: *mut u8, size: usize) -> Option<Vec<u8>> {
    if status != OK || data.is_null() {
        return None;
    }
    // SAFETY: on success the host returns a buffer of `size` bytes from our allocator.
    Some(unsafe { Vec::from_raw_parts(data, size, size) })
}

/// Up to `max` bytes of a buffer from `start` (empty when there is none).
pub fn buffer(kind: BufferType, start: usize, max: usize) -> Vec<u8> {
    let (mut data, mut size) = (null_mut(), 0usize);
    // SAFETY: the host writes a pointer and a size to live locals.
    let status = unsafe { proxy_get_buffer_bytes(kind as u32, start, max, &mut data, &mut size) };
    owned(status, data, size).unwrap_or_default()
}

/// Replaces `size` bytes of a buffer at `start`; false when the host refuses.
pub fn set_buffer(kind: BufferType, start: usize, size: usize, bytes: &[u8]) -> bool {
    // SAFETY: the host reads `bytes.len()` bytes from a live slice.
    unsafe { proxy_set_buffer_bytes(kind as u32, start, size, bytes.as_ptr(), bytes.len()) == OK }
}

/// Every header of a map, in order; names and values that are not UTF-8 are read lossily.
pub fn headers(kind: MapType) -> Vec<(String, Vec<u8>)> {
    let (mut data, mut size) = (null_mut(), 0usize);
    // SAFETY: as in `buffer`.
    let status = unsafe { proxy_get_header_map_pairs(kind as u32, &mut data, &mut size) };
    owned(status, data, size).map(|bytes| deserialize_map(&bytes)).unwrap_or_default()
}

/// Sets a header (replacing every value), or removes it with `None`.
pub fn set_header(kind: MapType, name: &str, value: Option<&str>) {
    // SAFETY: the host reads the given lengths from live slices.
    unsafe {
        match value {
            Some(v) => proxy_replace_header_map_value(kind as u32, name.as_ptr(), name.len(), v.as_ptr(), v.len()),
            None => proxy_remove_header_map_value(kind as u32, name.as_ptr(), name.len()),
        }
    };
}

/// A property as a UTF-8 string, if the host has it.
pub fn property(path: &[&str]) -> Option<String> {
    let path = path.join("\0");
    let (mut data, mut size) = (null_mut(), 0usize);
    // SAFETY: as in `buffer`.
    let status = unsafe { proxy_get_property(path.as_ptr(), path.len(), &mut data, &mut size) };
    owned(status, data, size).and_then(|bytes| String::from_utf8(bytes).ok())
}

pub fn set_property(path: &[&str], value: &[u8]) {
    let path = path.join("\0");
    // SAFETY: the host reads the given lengths from live slices.
    unsafe { proxy_set_property(path.as_ptr(), path.len(), value.as_ptr(), value.len()) };
}

/// Sends a local reply (the stream must then pause).
pub fn send_reply(reply: &HttpReply) {
    let headers: Vec<(&str, &[u8])> = reply.headers.iter().map(|(n, v)| (*n, v.as_bytes())).collect();
    let headers = serialize_map(&headers);
    let body = reply.body.as_bytes();
    // SAFETY: the host reads the given lengths from live slices.
    unsafe { proxy_send_local_response(reply.status, null(), 0, body.as_ptr(), body.len(), headers.as_ptr(), headers.len(), -1) };
}

/// Closes both sides of a network connection.
pub fn close_connection() {
    for stream in [proxy_wasm::types::StreamType::Downstream, proxy_wasm::types::StreamType::Upstream] {
        // SAFETY: plain integer argument.
        unsafe { proxy_close_stream(stream as u32) };
    }
}

/// Starts an HTTP call to `cluster`; its token, or `None` when the host refuses it. This one
/// goes through the SDK, which must learn the token to route the answer back to the root
/// context (it answers an unknown token with a panic); Envoy answers this call with `Ok`,
/// `BadArgument` or `InternalFailure` only, which the SDK returns as values.
pub fn http_call(cluster: &str, headers: &[(&str, &str)], body: &[u8], timeout: Duration) -> Option<u32> {
    proxy_wasm::hostcalls::dispatch_http_call(cluster, headers.to_vec(), Some(body), Vec::new(), timeout).ok()
}

/// Defines a counter; its id, or `None` when the host has no metrics.
pub fn define_counter(name: &str) -> Option<u32> {
    let mut id = 0u32;
    // SAFETY: the host reads `name` and writes one u32.
    let status =
        unsafe { proxy_define_metric(proxy_wasm::types::MetricType::Counter as u32, name.as_ptr(), name.len(), &mut id) };
    (status == OK).then_some(id)
}

pub fn increment(id: u32, by: i64) {
    // SAFETY: plain integer arguments.
    unsafe { proxy_increment_metric(id, by) };
}

/// The ABI's map encoding: a count, then (name length, value length) pairs, then each name and
/// value followed by a NUL.
fn serialize_map(map: &[(&str, &[u8])]) -> Vec<u8> {
    let mut bytes = Vec::with_capacity(4 + map.iter().map(|(n, v)| n.len() + v.len() + 10).sum::<usize>());
    bytes.extend_from_slice(&(map.len() as u32).to_le_bytes());
    for (name, value) in map {
        bytes.extend_from_slice(&(name.len() as u32).to_le_bytes());
        bytes.extend_from_slice(&(value.len() as u32).to_le_bytes());
    }
    for (name, value) in map {
        bytes.extend_from_slice(name.as_bytes());
        bytes.push(0);
        bytes.extend_from_slice(value);
        bytes.push(0);
    }
    bytes
}

/// The inverse of [`serialize_map`]; a malformed map yields the pairs read before the fault.
fn deserialize_map(bytes: &[u8]) -> Vec<(String, Vec<u8>)> {
    let word = |at: usize| bytes.get(at..at.checked_add(4)?).map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]) as usize);
    let Some(count) = word(0) else { return Vec::new() };
    let mut pairs = Vec::new();
    let Some(mut at) = count.checked_mul(8).and_then(|n| n.checked_add(4)) else { return pairs };
    let mut take = |size: usize| -> Option<&[u8]> {
        let slice = bytes.get(at..at.checked_add(size)?)?;
        at = at.checked_add(size + 1)?;
        Some(slice)
    };
    for n in 0..count {
        let sizes = (word(4 + n * 8), word(8 + n * 8));
        let (Some(name_size), Some(value_size)) = sizes else { break };
        let (Some(name), Some(value)) = (take(name_size), take(value_size)) else { break };
        pairs.push((String::from_utf8_lossy(name).into_owned(), value.to_vec()));
    }
    pairs
}
