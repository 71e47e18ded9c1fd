//! A proxy-wasm (ABI v0.2.1) host on wasmtime that behaves as Envoy does, for testing any
//! proxy-wasm HTTP filter without Envoy.
//!
//! The API is state-based: feed a stream its events, then look at what the filter let through.
//!
//! ```no_run
//! use guardrails_host::{Host, HostOptions, Plugin, StreamInfo};
//! let plugin = Plugin::load("target/wasm32-wasip1/release/access_guardrails.wasm")?;
//! let mut host = Host::start(&plugin, HostOptions::with_configuration(r#"{"version":1,...}"#))?;
//! let id = host.open_http(0, StreamInfo::default());
//! host.request_headers(id, &[(":method", "POST"), (":path", "/sql"), (":authority", "db")], false);
//! host.request_body(id, b"DROP TABLE orders", true);
//! assert_eq!(host.stream(id).local_reply.as_ref().map(|r| r.status), Some(403));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! What is modelled after Envoy: the status code of every host call; header maps with repeated
//! headers; a paused body callback buffering, with the next callback seeing the whole buffer and
//! the buffer limit answering 413 (500 for responses); both header-pause modes
//! ([`HostOptions::allow_on_headers_stop_iteration`]); local replies sent after the callback
//! returns; properties; HTTP calls answered by the test; ticks on a virtual clock; metrics and
//! shared data shared by the worker VMs; a trap failing the VM, its stream and every later
//! stream on that worker with 503 (fail closed). Not modelled: gRPC calls (`Unimplemented`),
//! foreign functions (`NotFound`), and local replies passing back through the encoder chain.
//!
//! Nothing is global: every [`Host`] owns its VMs and state, so tests run in parallel.
//!
//! The crate root and its private modules are the host; [`cli`] is the `guardrails` command,
//! built on the host's public API alone (the host never reaches into it).

mod abi;
pub mod cli;
pub mod pairs;
mod properties;
mod state;

use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use wasmtime::{Engine, Instance, Linker, Module, Store, Val};
use wasmtime_wasi::WasiCtxBuilder;

pub use pairs::Pairs;
use state::{CallResponse, Shared, SharedRef, StreamState, VmState};
pub use state::{Flow, Stop, StreamState as Stream};

/// The virtual clock starts at 2026-01-01T00:00:00Z.
pub const EPOCH_NANOS: u64 = 1_767_225_600 * 1_000_000_000;

/// A compiled `.wasm`, shareable between hosts and threads.
#[derive(Clone)]
pub struct Plugin {
    engine: Engine,
    module: Module,
    linker: Arc<Linker<VmState>>,
}

impl Plugin {
    pub fn load(path: impl AsRef<Path>) -> Result<Plugin, String> {
        let path = path.as_ref();
        let bytes = std::fs::read(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
        Plugin::from_bytes(&bytes)
    }

    /// `GUARDRAILS_PERFMAP=1` has the guest's compiled functions named in `/tmp/perf-<pid>.map`,
    /// for `perf record` (a `.wasm` built with `CARGO_PROFILE_RELEASE_STRIP=false` keeps the
    /// names).
    pub fn from_bytes(wasm: &[u8]) -> Result<Plugin, String> {
        let mut config = wasmtime::Config::new();
        if std::env::var_os("GUARDRAILS_PERFMAP").is_some_and(|v| v == "1") {
            config.profiler(wasmtime::ProfilingStrategy::PerfMap);
        }
        let engine = Engine::new(&config).map_err(|e| format!("cannot start wasmtime: {e:#}"))?;
        let module = Module::new(&engine, wasm).map_err(|e| format!("not a loadable module: {e:#}"))?;
        Plugin::with_module(engine, module)
    }

    fn with_module(engine: Engine, module: Module) -> Result<Plugin, String> {
        let mut linker = Linker::new(&engine);
        abi::add_to_linker(&mut linker).map_err(|e| e.to_string())?;
        Ok(Plugin { engine, module, linker: Arc::new(linker) })
    }
}

/// What Envoy's plugin configuration and bootstrap would say.
#[derive(Clone, Debug)]
pub struct HostOptions {
    /// The plugin `configuration` bytes (the policy JSON).
    pub plugin_configuration: Vec<u8>,
    pub vm_configuration: Vec<u8>,
    pub plugin_name: String,
    pub root_id: String,
    pub vm_id: String,
    /// Envoy's `allow_on_headers_stop_iteration`: when false, a paused header callback stops
    /// all iteration and the filter sees no body until it resumes.
    pub allow_on_headers_stop_iteration: bool,
    /// The connection buffer limit (Envoy's default `per_connection_buffer_limit_bytes`).
    pub buffer_limit: usize,
    /// Worker threads, each with its own VM.
    pub workers: usize,
    /// Clusters that `proxy_http_call` may name.
    pub clusters: Vec<String>,
    /// Level below which the filter need not log (0 trace .. 5 critical).
    pub log_level: u32,
}

impl Default for HostOptions {
    fn default() -> Self {
        HostOptions {
            plugin_configuration: Vec::new(),
            vm_configuration: Vec::new(),
            plugin_name: "access_guardrails".into(),
            root_id: String::new(),
            vm_id: String::new(),
            allow_on_headers_stop_iteration: false,
            buffer_limit: 1 << 20,
            workers: 1,
            clusters: Vec::new(),
            log_level: 2,
        }
    }
}

impl HostOptions {
    pub fn with_configuration(configuration: impl Into<Vec<u8>>) -> HostOptions {
        HostOptions { plugin_configuration: configuration.into(), ..HostOptions::default() }
    }
}

/// Connection and routing facts of a stream, read through properties.
#[derive(Clone, Debug)]
pub struct StreamInfo {
    pub source_address: String,
    pub destination_address: String,
    /// The peer certificate's URI SAN (a SPIFFE ID under Istio mTLS).
    pub peer_uri_san: Option<String>,
    /// Dynamic metadata: `{"filter_metadata": {"envoy.filters.http.jwt_authn": {...}}}`.
    pub metadata: serde_json::Value,
    pub protocol: String,
    pub route_name: String,
}

impl Default for StreamInfo {
    fn default() -> Self {
        StreamInfo {
            source_address: "127.0.0.1:40000".into(),
            destination_address: "127.0.0.1:10000".into(),
            peer_uri_san: None,
            metadata: serde_json::Value::Null,
            protocol: "HTTP/1.1".into(),
            route_name: String::new(),
        }
    }
}

/// A response the filter (or the host, for Envoy's own replies) sent instead of the upstream's.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LocalReply {
    pub status: u32,
    pub details: String,
    pub headers: Pairs,
    pub body: Vec<u8>,
    pub grpc_status: i32,
}

impl LocalReply {
    pub(crate) fn new(status: u32, details: String, mut headers: Pairs, body: Vec<u8>, grpc_status: i32) -> LocalReply {
        headers.retain(|(k, _)| k != "content-length");
        if body.is_empty() {
            headers.retain(|(k, _)| k != "content-type");
        } else {
            if !headers.iter().any(|(k, _)| k == "content-type") {
                headers.push(("content-type".into(), b"text/plain".to_vec()));
            }
            headers.push(("content-length".into(), body.len().to_string().into_bytes()));
        }
        LocalReply { status, details, headers, body, grpc_status }
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(k, _)| k == name).and_then(|(_, v)| std::str::from_utf8(v).ok())
    }

    pub fn body_text(&self) -> &str {
        std::str::from_utf8(&self.body).unwrap_or("")
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LogEntry {
    pub worker: usize,
    /// 0 trace, 1 debug, 2 info, 3 warn, 4 error, 5 critical.
    pub level: u32,
    pub message: String,
}

/// An outgoing `proxy_http_call`, waiting for the test to answer it (or for its timeout).
#[derive(Clone, Debug)]
pub struct HttpCall {
    pub token: u32,
    pub worker: usize,
    pub cluster: String,
    pub headers: Pairs,
    pub body: Vec<u8>,
    pub trailers: Pairs,
    pub timeout_ms: u32,
    pub deadline_nanos: u64,
}

impl HttpCall {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(k, _)| k == name).and_then(|(_, v)| std::str::from_utf8(v).ok())
    }
}

#[derive(Debug)]
pub enum StartError {
    /// `proxy_on_vm_start` answered false.
    VmStart { logs: Vec<LogEntry> },
    /// `proxy_on_configure` answered false: Envoy refuses the plugin.
    Configure { logs: Vec<LogEntry> },
    /// The module could not be instantiated, or trapped while starting.
    Trap(String),
}

impl std::fmt::Display for StartError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            StartError::VmStart { .. } => f.write_str("the plugin refused to start its VM"),
            StartError::Configure { logs } => {
                f.write_str("the plugin refused its configuration")?;
                for log in logs.iter().filter(|l| l.level >= 3) {
                    write!(f, "\n  {}", log.message)?;
                }
                Ok(())
            }
            StartError::Trap(e) => write!(f, "the plugin trapped while starting: {e}"),
        }
    }
}

impl std::error::Error for StartError {}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct StreamId {
    pub worker: usize,
    pub context: u32,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Dir {
    Request,
    Response,
}

impl Dir {
    fn callbacks(self) -> [&'static str; 3] {
        match self {
            Dir::Request => ["proxy_on_request_headers", "proxy_on_request_body", "proxy_on_request_trailers"],
            Dir::Response => ["proxy_on_response_headers", "proxy_on_response_body", "proxy_on_response_trailers"],
        }
    }
}

const ROOT_CONTEXT: u32 = 1;
const CONTINUE: i32 = 0;

struct Vm {
    store: Store<VmState>,
    instance: Instance,
    failed: Option<String>,
    next_context: u32,
    armed_period_ms: u32,
    next_tick_nanos: Option<u64>,
}

impl Vm {
    /// Calls an export with i32 arguments. A missing export is Envoy's default (`Continue`).
    fn call(&mut self, context: u32, name: &str, args: &[i32]) -> Result<i32, String> {
        if let Some(reason) = &self.failed {
            return Err(reason.clone());
        }
        let Some(func) = self.instance.get_func(&mut self.store, name) else { return Ok(CONTINUE) };
        self.store.data_mut().effective = context;
        let params: Vec<Val> = args.iter().map(|a| Val::I32(*a)).collect();
        let mut results = vec![Val::I32(0); func.ty(&self.store).results().len()];
        match func.call(&mut self.store, &params, &mut results) {
            Ok(()) => Ok(results.first().and_then(Val::i32).unwrap_or(CONTINUE)),
            Err(trap) => {
                let reason = format!("{trap:#}");
                self.failed = Some(reason.clone());
                Err(reason)
            }
        }
    }

    fn stream(&mut self, context: u32) -> &mut StreamState {
        self.store.data_mut().streams.entry(context).or_default()
    }
}

/// Envoy with one plugin: its worker VMs and what they share.
pub struct Host {
    shared: SharedRef,
    options: Arc<HostOptions>,
    vms: Vec<Vm>,
}

/// The virtual wall clock WASI reads, the same one `proxy_get_current_time_nanoseconds` reads.
struct VirtualClock(SharedRef);

impl wasmtime_wasi::HostWallClock for VirtualClock {
    fn resolution(&self) -> Duration {
        Duration::from_nanos(1)
    }
    fn now(&self) -> Duration {
        Duration::from_nanos(self.0.lock().unwrap().now_nanos)
    }
}

impl Host {
    /// Starts one VM per worker and configures the plugin in each, as Envoy does at load.
    pub fn start(plugin: &Plugin, options: HostOptions) -> Result<Host, StartError> {
        let shared: SharedRef = Arc::new(Mutex::new(Shared { now_nanos: EPOCH_NANOS, ..Shared::default() }));
        let options = Arc::new(options);
        let mut host = Host { shared: shared.clone(), options: options.clone(), vms: Vec::new() };
        for worker in 0..options.workers.max(1) {
            let wasi = WasiCtxBuilder::new().wall_clock(VirtualClock(shared.clone())).build_p1();
            let state = VmState {
                wasi,
                shared: shared.clone(),
                options: options.clone(),
                worker,
                root_context: ROOT_CONTEXT,
                effective: ROOT_CONTEXT,
                streams: Default::default(),
                tick_period_ms: 0,
                call_response: None,
                status: (0, String::new()),
                configuring: false,
                in_log: false,
                scratch: Vec::new(),
            };
            let mut store = Store::new(&plugin.engine, state);
            let instance =
                plugin.linker.instantiate(&mut store, &plugin.module).map_err(|e| StartError::Trap(format!("{e:#}")))?;
            let mut vm =
                Vm { store, instance, failed: None, next_context: ROOT_CONTEXT + 1, armed_period_ms: 0, next_tick_nanos: None };
            for init in ["_initialize", "_start"] {
                if vm.instance.get_func(&mut vm.store, init).is_some() {
                    vm.call(ROOT_CONTEXT, init, &[]).map_err(StartError::Trap)?;
                    break;
                }
            }
            vm.call(ROOT_CONTEXT, "proxy_on_context_create", &[ROOT_CONTEXT as i32, 0]).map_err(StartError::Trap)?;
            let started =
                vm.call(ROOT_CONTEXT, "proxy_on_vm_start", &[ROOT_CONTEXT as i32, options.vm_configuration.len() as i32]);
            if started.map_err(StartError::Trap)? == 0 {
                return Err(StartError::VmStart { logs: host.logs() });
            }
            vm.store.data_mut().configuring = true;
            let configured =
                vm.call(ROOT_CONTEXT, "proxy_on_configure", &[ROOT_CONTEXT as i32, options.plugin_configuration.len() as i32]);
            vm.store.data_mut().configuring = false;
            if configured.map_err(StartError::Trap)? == 0 {
                return Err(StartError::Configure { logs: host.logs() });
            }
            host.vms.push(vm);
            host.rearm_tick(worker);
        }
        host.pump();
        Ok(host)
    }

    pub fn options(&self) -> &HostOptions {
        &self.options
    }

    /// Opens an HTTP stream on a worker (`proxy_on_context_create`).
    pub fn open_http(&mut self, worker: usize, info: StreamInfo) -> StreamId {
        let vm = &mut self.vms[worker];
        let context = vm.next_context;
        vm.next_context += 1;
        vm.stream(context).info = info;
        let id = StreamId { worker, context };
        if vm.failed.is_none() {
            let created = vm.call(context, "proxy_on_context_create", &[context as i32, ROOT_CONTEXT as i32]);
            if created.is_err() {
                self.fail_stream(id);
            }
        }
        id
    }

    /// Opens a TCP connection through the plugin loaded as a network filter (a policy with a
    /// wire `protocol`): `proxy_on_context_create`, then `proxy_on_new_connection`.
    pub fn open_tcp(&mut self, worker: usize, info: StreamInfo) -> StreamId {
        let id = self.open_http(worker, info);
        let vm = &mut self.vms[worker];
        if vm.failed.is_none() && vm.call(id.context, "proxy_on_new_connection", &[id.context as i32]).is_err() {
            self.fail_stream(id);
        }
        id
    }

    /// Bytes from the client. As in Envoy, the filter sees all it has not let through yet (a
    /// paused callback keeps the data), and what it lets through goes to `request.forwarded_body`.
    pub fn downstream_data(&mut self, id: StreamId, chunk: &[u8], end_of_stream: bool) {
        self.data(id, Dir::Request, chunk, end_of_stream, "proxy_on_downstream_data");
    }

    /// Bytes from the server; what the filter lets through goes to `response.forwarded_body`.
    pub fn upstream_data(&mut self, id: StreamId, chunk: &[u8], end_of_stream: bool) {
        self.data(id, Dir::Response, chunk, end_of_stream, "proxy_on_upstream_data");
    }

    fn data(&mut self, id: StreamId, dir: Dir, chunk: &[u8], end_of_stream: bool, callback: &str) {
        if self.vms[id.worker].failed.is_some() {
            return self.fail_stream(id);
        }
        if self.vms[id.worker].stream(id.context).closed {
            return;
        }
        let flow = self.flow(id, dir);
        flow.body.extend_from_slice(chunk);
        let size = flow.body.len();
        let result = self.vms[id.worker].call(id.context, callback, &[id.context as i32, size as i32, end_of_stream as i32]);
        let Ok(action) = result else { return self.fail_stream(id) };
        self.pump();
        let closed = self.vms[id.worker].stream(id.context).closed;
        let flow = self.flow(id, dir);
        if action == CONTINUE && !closed {
            let body = std::mem::take(&mut flow.body);
            flow.forwarded_body.extend(body);
        }
    }

    /// The stream as the filter left it: what went through, what was held, any local reply.
    pub fn stream(&self, id: StreamId) -> &Stream {
        &self.vms[id.worker].store.data().streams[&id.context]
    }

    pub fn request_headers(&mut self, id: StreamId, headers: &[(&str, &str)], end_of_stream: bool) {
        self.headers(id, Dir::Request, to_pairs(headers), end_of_stream);
    }

    pub fn request_body(&mut self, id: StreamId, chunk: &[u8], end_of_stream: bool) {
        self.body(id, Dir::Request, chunk.to_vec(), end_of_stream);
    }

    pub fn request_trailers(&mut self, id: StreamId, trailers: &[(&str, &str)]) {
        self.trailers(id, Dir::Request, to_pairs(trailers));
    }

    pub fn response_headers(&mut self, id: StreamId, headers: &[(&str, &str)], end_of_stream: bool) {
        self.headers(id, Dir::Response, to_pairs(headers), end_of_stream);
    }

    pub fn response_body(&mut self, id: StreamId, chunk: &[u8], end_of_stream: bool) {
        self.body(id, Dir::Response, chunk.to_vec(), end_of_stream);
    }

    pub fn response_trailers(&mut self, id: StreamId, trailers: &[(&str, &str)]) {
        self.trailers(id, Dir::Response, to_pairs(trailers));
    }

    /// Ends the stream as Envoy does: `proxy_on_log`, `proxy_on_done`, `proxy_on_delete` (none
    /// of them on a failed VM).
    pub fn close(&mut self, id: StreamId) {
        let vm = &mut self.vms[id.worker];
        if vm.stream(id.context).done {
            return;
        }
        let c = id.context as i32;
        vm.store.data_mut().in_log = true;
        let logged = vm.call(id.context, "proxy_on_log", &[c]);
        vm.store.data_mut().in_log = false;
        if logged.is_ok() {
            let _ = vm.call(id.context, "proxy_on_done", &[c]).and_then(|_| vm.call(id.context, "proxy_on_delete", &[c]));
        }
        vm.stream(id.context).done = true;
        self.pump();
    }

    /// Everything the plugin logged, on every worker, in order.
    pub fn logs(&self) -> Vec<LogEntry> {
        self.shared.lock().unwrap().logs.clone()
    }

    /// A metric's value by name (counters and gauges).
    pub fn metric(&self, name: &str) -> Option<i64> {
        self.shared.lock().unwrap().metrics.iter().find(|m| m.name == name).map(|m| m.value)
    }

    /// Every defined metric, `(name, value)`.
    pub fn metrics(&self) -> Vec<(String, i64)> {
        self.shared.lock().unwrap().metrics.iter().map(|m| (m.name.clone(), m.value)).collect()
    }

    pub fn shared_data(&self, key: &str) -> Option<Vec<u8>> {
        self.shared.lock().unwrap().shared_data.get(key).map(|(v, _)| v.clone())
    }

    /// The size of a worker VM's linear memory, in bytes.
    pub fn memory_bytes(&mut self, worker: usize) -> usize {
        let vm = &mut self.vms[worker];
        match vm.instance.get_memory(&mut vm.store, "memory") {
            Some(memory) => memory.data_size(&vm.store),
            None => 0,
        }
    }

    /// Why a worker's VM failed, if it trapped.
    pub fn failure(&self, worker: usize) -> Option<&str> {
        self.vms[worker].failed.as_deref()
    }

    /// HTTP calls dispatched and not yet answered.
    pub fn http_calls(&self) -> Vec<HttpCall> {
        self.shared.lock().unwrap().http_calls.clone()
    }

    /// Answers an HTTP call: `proxy_on_http_call_response` on the root context that made it.
    pub fn respond_http_call(&mut self, token: u32, status: u32, headers: &[(&str, &str)], body: &[u8]) -> bool {
        let mut all = vec![(":status".to_string(), status.to_string().into_bytes())];
        all.extend(to_pairs(headers));
        self.deliver_call(token, Some(CallResponse { headers: all, body: body.to_vec(), trailers: Vec::new() }))
    }

    /// Fails an HTTP call (a reset): the callback sees no headers and no body, and
    /// `proxy_get_status` answers 11 "reset". Timeouts and connect failures are not failures in
    /// Envoy but the router's 504 and 503 replies; see [`Host::advance`].
    pub fn fail_http_call(&mut self, token: u32) -> bool {
        self.deliver_call(token, None)
    }

    /// The virtual time, in nanoseconds since the Unix epoch.
    pub fn now_nanos(&self) -> u64 {
        self.shared.lock().unwrap().now_nanos
    }

    /// Moves the virtual clock on, firing ticks and HTTP call timeouts in time order.
    pub fn advance(&mut self, by: Duration) {
        let target = self.now_nanos() + by.as_nanos() as u64;
        loop {
            let tick = (0..self.vms.len())
                .filter_map(|w| self.vms[w].next_tick_nanos.filter(|_| self.vms[w].failed.is_none()).map(|t| (t, w)))
                .min();
            let timeout = self.shared.lock().unwrap().http_calls.iter().map(|c| (c.deadline_nanos, c.token)).min();
            let next = match (tick, timeout) {
                (Some(t), Some(c)) if c.0 < t.0 => Err(c),
                (Some(t), _) => Ok(t),
                (None, Some(c)) => Err(c),
                (None, None) => break,
            };
            let at = match next {
                Ok((at, _)) | Err((at, _)) => at,
            };
            if at > target {
                break;
            }
            self.shared.lock().unwrap().now_nanos = at;
            match next {
                Ok((_, worker)) => {
                    let period = u64::from(self.vms[worker].armed_period_ms) * 1_000_000;
                    self.vms[worker].next_tick_nanos = Some(at + period.max(1));
                    let _ = self.vms[worker].call(ROOT_CONTEXT, "proxy_on_tick", &[ROOT_CONTEXT as i32]);
                    self.rearm_tick(worker);
                    self.pump();
                }
                Err((_, token)) => {
                    self.respond_http_call(token, 504, &[("content-type", "text/plain")], b"upstream request timeout");
                }
            }
        }
        self.shared.lock().unwrap().now_nanos = target;
    }

    fn rearm_tick(&mut self, worker: usize) {
        let now = self.now_nanos();
        let vm = &mut self.vms[worker];
        let period = vm.store.data().tick_period_ms;
        if period != vm.armed_period_ms {
            vm.armed_period_ms = period;
            vm.next_tick_nanos = (period > 0).then(|| now + u64::from(period) * 1_000_000);
        }
    }

    fn deliver_call(&mut self, token: u32, response: Option<CallResponse>) -> bool {
        let call = {
            let mut shared = self.shared.lock().unwrap();
            let Some(i) = shared.http_calls.iter().position(|c| c.token == token) else { return false };
            shared.http_calls.remove(i)
        };
        let vm = &mut self.vms[call.worker];
        let (headers, body, trailers) = match &response {
            Some(r) => (r.headers.len(), r.body.len(), r.trailers.len()),
            None => (0, 0, 0),
        };
        vm.store.data_mut().status = if response.is_some() { (0, String::new()) } else { (11, "reset".into()) };
        vm.store.data_mut().call_response = response;
        let args = [ROOT_CONTEXT as i32, token as i32, headers as i32, body as i32, trailers as i32];
        let _ = vm.call(ROOT_CONTEXT, "proxy_on_http_call_response", &args);
        vm.store.data_mut().call_response = None;
        self.rearm_tick(call.worker);
        self.pump();
        true
    }

    /// Delivers `on_queue_ready` for queues that received data, as Envoy posts them.
    fn pump(&mut self) {
        for _ in 0..1000 {
            let ready: Vec<u32> = std::mem::take(&mut self.shared.lock().unwrap().ready_queues);
            if ready.is_empty() {
                return;
            }
            for id in ready {
                let target = self.shared.lock().unwrap().queues.get(id as usize - 1).map(|q| (q.worker, q.root_context));
                if let Some((worker, root)) = target {
                    let _ = self.vms[worker].call(root, "proxy_on_queue_ready", &[root as i32, id as i32]);
                }
            }
        }
    }

    fn finished(&mut self, id: StreamId) -> bool {
        let s = self.vms[id.worker].stream(id.context);
        s.local_reply.is_some() || s.closed || s.done
    }

    /// A trap fails the VM; the stream gets Envoy's fail-closed 503.
    fn fail_stream(&mut self, id: StreamId) {
        let s = self.vms[id.worker].stream(id.context);
        if s.local_reply.is_none() {
            s.local_reply = Some(LocalReply::new(503, "wasm_fail_stream".into(), Vec::new(), Vec::new(), -1));
            s.reply_encoded = true;
        }
    }

    /// After a callback: a trap fails the stream; a local reply or a reset ends it.
    fn settle(&mut self, id: StreamId, result: Result<i32, String>) -> Option<i32> {
        let action = match result {
            Ok(a) => a,
            Err(_) => {
                self.fail_stream(id);
                return None;
            }
        };
        self.rearm_tick(id.worker);
        self.pump();
        if self.finished(id) {
            self.encode_local_reply(id);
            return None;
        }
        Some(action)
    }

    /// The filter's own local reply goes back through its response callbacks, as in Envoy,
    /// which may change it.
    fn encode_local_reply(&mut self, id: StreamId) {
        let vm = &mut self.vms[id.worker];
        let stream = vm.stream(id.context);
        if stream.reply_encoded || stream.closed {
            return;
        }
        stream.reply_encoded = true;
        let Some(reply) = stream.local_reply.clone() else { return };
        let mut headers = vec![(":status".to_string(), reply.status.to_string().into_bytes())];
        headers.extend(reply.headers.clone());
        let count = headers.len();
        stream.response = Flow { headers, ..Flow::default() };
        let c = id.context as i32;
        let eos = reply.body.is_empty();
        if vm.call(id.context, "proxy_on_response_headers", &[c, count as i32, eos as i32]).is_err() {
            return;
        }
        let stream = vm.stream(id.context);
        stream.response.headers_forwarded = true;
        stream.response.body = reply.body.clone();
        let size = reply.body.len();
        if !eos && vm.call(id.context, "proxy_on_response_body", &[c, size as i32, 1]).is_err() {
            return;
        }
        let stream = vm.stream(id.context);
        let response = std::mem::take(&mut stream.response);
        let headers = response.headers.into_iter().filter(|(k, _)| k != ":status").collect();
        if let Some(reply) = stream.local_reply.as_mut() {
            reply.headers = headers;
            reply.body = response.body;
        }
        stream.response.ended = true;
    }

    fn flow(&mut self, id: StreamId, dir: Dir) -> &mut Flow {
        let s = self.vms[id.worker].stream(id.context);
        match dir {
            Dir::Request => &mut s.request,
            Dir::Response => &mut s.response,
        }
    }

    fn headers(&mut self, id: StreamId, dir: Dir, headers: Pairs, end_of_stream: bool) {
        if self.vms[id.worker].failed.is_some() {
            return self.fail_stream(id);
        }
        if self.finished(id) {
            return;
        }
        let flow = self.flow(id, dir);
        let count = headers.len();
        flow.headers = headers;
        flow.end_seen = end_of_stream;
        let result =
            self.vms[id.worker].call(id.context, dir.callbacks()[0], &[id.context as i32, count as i32, end_of_stream as i32]);
        let Some(action) = self.settle(id, result) else { return };
        let allow_stop = self.options.allow_on_headers_stop_iteration;
        let flow = self.flow(id, dir);
        if action == CONTINUE {
            flow.headers_forwarded = true;
            flow.ended = end_of_stream;
        } else {
            flow.stop = if allow_stop { Stop::Headers } else { Stop::All };
        }
        self.resumes(id);
    }

    fn body(&mut self, id: StreamId, dir: Dir, chunk: Vec<u8>, end_of_stream: bool) {
        if self.vms[id.worker].failed.is_some() {
            return self.fail_stream(id);
        }
        if self.finished(id) {
            return;
        }
        let flow = self.flow(id, dir);
        flow.end_seen = end_of_stream;
        if flow.stop == Stop::All {
            flow.held.extend(chunk);
            flow.held_end = end_of_stream;
            return;
        }
        flow.body.extend(chunk);
        let size = flow.body.len();
        let result =
            self.vms[id.worker].call(id.context, dir.callbacks()[1], &[id.context as i32, size as i32, end_of_stream as i32]);
        let Some(action) = self.settle(id, result) else { return };
        let limit = self.options.buffer_limit;
        let flow = self.flow(id, dir);
        if action == CONTINUE {
            release(flow);
            flow.ended = end_of_stream;
        } else {
            if flow.stop == Stop::No {
                flow.stop = Stop::Body;
            }
            if flow.body.len() > limit {
                return self.overflow(id, dir);
            }
        }
        self.resumes(id);
    }

    fn trailers(&mut self, id: StreamId, dir: Dir, trailers: Pairs) {
        if self.vms[id.worker].failed.is_some() {
            return self.fail_stream(id);
        }
        if self.finished(id) {
            return;
        }
        let flow = self.flow(id, dir);
        flow.end_seen = true;
        let count = trailers.len();
        flow.trailers = trailers;
        if flow.stop == Stop::All {
            flow.held_trailers = Some(flow.trailers.clone());
            return;
        }
        let result = self.vms[id.worker].call(id.context, dir.callbacks()[2], &[id.context as i32, count as i32]);
        let Some(action) = self.settle(id, result) else { return };
        let flow = self.flow(id, dir);
        if action == CONTINUE {
            release(flow);
            flow.trailers_forwarded = true;
            flow.ended = true;
        } else if flow.stop == Stop::No {
            flow.stop = Stop::Body;
        }
        self.resumes(id);
    }

    /// Envoy's answer to a buffer over the limit: 413 for a request, 500 for a response.
    fn overflow(&mut self, id: StreamId, dir: Dir) {
        let (status, details, body) = match dir {
            Dir::Request => (413, "request_payload_too_large", "Payload Too Large"),
            Dir::Response => (500, "response_payload_too_large", "Internal Server Error"),
        };
        let s = self.vms[id.worker].stream(id.context);
        s.local_reply = Some(LocalReply::new(status, details.into(), Vec::new(), body.as_bytes().to_vec(), -1));
        self.encode_local_reply(id);
    }

    /// Applies `proxy_continue_stream` calls made during the last callback.
    fn resumes(&mut self, id: StreamId) {
        let resumes: Vec<u32> = std::mem::take(&mut self.vms[id.worker].stream(id.context).resumes);
        for which in resumes {
            let dir = if which == 0 { Dir::Request } else { Dir::Response };
            let flow = self.flow(id, dir);
            match flow.stop {
                Stop::No => {}
                Stop::Headers | Stop::Body => {
                    release(flow);
                    if flow.end_seen {
                        flow.trailers_forwarded = !flow.trailers.is_empty();
                        flow.ended = true;
                    }
                }
                Stop::All => {
                    flow.stop = Stop::No;
                    flow.headers_forwarded = true;
                    let held = std::mem::take(&mut flow.held);
                    let (held_end, held_trailers) = (flow.held_end, flow.held_trailers.take());
                    let headers_only = flow.end_seen && held.is_empty() && held_trailers.is_none() && !held_end;
                    if headers_only {
                        flow.ended = true;
                    }
                    if !held.is_empty() || held_end {
                        self.body(id, dir, held, held_end);
                    }
                    if let Some(trailers) = held_trailers {
                        self.trailers(id, dir, trailers);
                    }
                }
            }
        }
    }
}

/// Lets everything the filter held go on.
fn release(flow: &mut Flow) {
    flow.stop = Stop::No;
    flow.headers_forwarded = true;
    let body = std::mem::take(&mut flow.body);
    flow.forwarded_body.extend(body);
}

fn to_pairs(headers: &[(&str, &str)]) -> Pairs {
    headers.iter().map(|(k, v)| (k.to_ascii_lowercase(), v.as_bytes().to_vec())).collect()
}
