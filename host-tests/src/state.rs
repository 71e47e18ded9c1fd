//! What a VM's host calls read and change: the per-VM state kept in the wasmtime store, and the
//! state every worker of one plugin shares (metrics, shared data, queues, the clock, logs).

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::{Arc, Mutex};

use wasmtime_wasi::p1::WasiP1Ctx;

use crate::pairs::Pairs;
use crate::{HostOptions, HttpCall, LocalReply, LogEntry, StreamInfo};

/// proxy-wasm `WasmResult` codes, as proxy-wasm-cpp-host numbers them.
pub mod status {
    pub const OK: i32 = 0;
    pub const NOT_FOUND: i32 = 1;
    pub const BAD_ARGUMENT: i32 = 2;
    pub const SERIALIZATION_FAILURE: i32 = 3;
    pub const INVALID_MEMORY_ACCESS: i32 = 6;
    pub const EMPTY: i32 = 7;
    pub const CAS_MISMATCH: i32 = 8;
    pub const UNIMPLEMENTED: i32 = 12;
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MetricKind {
    Counter,
    Gauge,
    Histogram,
}

#[derive(Clone, Debug)]
pub struct Metric {
    pub name: String,
    pub kind: MetricKind,
    pub value: i64,
    /// Histogram samples.
    pub samples: Vec<u64>,
}

pub struct Queue {
    pub vm_id: String,
    pub name: String,
    pub worker: usize,
    pub root_context: u32,
    pub items: VecDeque<Vec<u8>>,
}

/// Shared by every worker VM of one plugin, as Envoy shares stats and shared data.
#[derive(Default)]
pub struct Shared {
    pub now_nanos: u64,
    pub metrics: Vec<Metric>,
    pub shared_data: HashMap<String, (Vec<u8>, u32)>,
    pub queues: Vec<Queue>,
    /// Queues that received data, waiting for their `on_queue_ready`.
    pub ready_queues: Vec<u32>,
    pub logs: Vec<LogEntry>,
    pub next_token: u32,
    pub http_calls: Vec<HttpCall>,
}

pub type SharedRef = Arc<Mutex<Shared>>;

/// One direction of a stream as it crosses the filter.
#[derive(Clone, Debug, Default)]
pub struct Flow {
    pub headers: Pairs,
    pub trailers: Pairs,
    /// The body the filter can read: what it buffered plus the current chunk.
    pub body: Vec<u8>,
    pub stop: Stop,
    /// Data Envoy holds for a filter that stopped all iteration at its headers.
    pub held: Vec<u8>,
    pub held_end: bool,
    pub held_trailers: Option<Pairs>,
    /// The sender finished this direction (end of stream seen, or trailers).
    pub end_seen: bool,
    /// What went past the filter, to the upstream (requests) or the client (responses).
    pub headers_forwarded: bool,
    pub forwarded_body: Vec<u8>,
    pub trailers_forwarded: bool,
    /// The whole direction went past the filter.
    pub ended: bool,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Stop {
    #[default]
    No,
    /// Headers paused with `allow_on_headers_stop_iteration`: body callbacks still arrive.
    Headers,
    /// Headers paused without it: Envoy stops all iteration and holds the body unseen.
    All,
    /// A body or trailers callback paused: the body is buffered.
    Body,
}

#[derive(Clone, Debug, Default)]
pub struct StreamState {
    pub info: StreamInfo,
    pub request: Flow,
    pub response: Flow,
    pub local_reply: Option<LocalReply>,
    /// Values set with `proxy_set_property`, by path (segments joined with `.`).
    pub filter_state: BTreeMap<String, Vec<u8>>,
    /// `proxy_continue_stream` / `proxy_close_stream` calls, applied after the callback.
    pub resumes: Vec<u32>,
    pub closed: bool,
    pub done: bool,
    /// The local reply went through the response callbacks.
    pub reply_encoded: bool,
}

/// An HTTP call response while `on_http_call_response` runs.
pub struct CallResponse {
    pub headers: Pairs,
    pub body: Vec<u8>,
    pub trailers: Pairs,
}

pub struct VmState {
    pub wasi: WasiP1Ctx,
    pub shared: SharedRef,
    pub options: Arc<HostOptions>,
    pub worker: usize,
    pub root_context: u32,
    pub effective: u32,
    pub streams: HashMap<u32, StreamState>,
    pub tick_period_ms: u32,
    /// The answer of the HTTP call being delivered; `None` also while delivering a failure.
    pub call_response: Option<CallResponse>,
    /// `proxy_get_status`: the root context's last call status.
    pub status: (u32, String),
    /// `on_configure` is running: the plugin configuration is readable.
    pub configuring: bool,
    /// `on_log` is running: header maps are readable again.
    pub in_log: bool,
    pub scratch: Vec<u8>,
}

impl VmState {
    pub fn stream(&mut self) -> Option<&mut StreamState> {
        self.streams.get_mut(&self.effective)
    }
}
