//! The host's own Envoy behaviours, checked with small hand-written filters: traps fail closed
//! per worker, ticks run on the virtual clock, HTTP calls are answered by the test or time out
//! as Envoy's router times them out, metrics and shared data are shared by the workers.

use std::time::Duration;

use guardrails_host::{Host, HostOptions, Plugin, StreamInfo};

/// A filter that ticks every 100 ms (counting ticks), dispatches one HTTP call at configure
/// (recording the response body size in a gauge), sets shared data, and traps on a request
/// with exactly three headers.
const PROBE: &str = r#"
(module
  (import "env" "proxy_set_tick_period_milliseconds" (func $tick (param i32) (result i32)))
  (import "env" "proxy_define_metric" (func $define (param i32 i32 i32 i32) (result i32)))
  (import "env" "proxy_increment_metric" (func $inc (param i32 i64) (result i32)))
  (import "env" "proxy_record_metric" (func $record (param i32 i64) (result i32)))
  (import "env" "proxy_set_shared_data" (func $set (param i32 i32 i32 i32 i32) (result i32)))
  (import "env" "proxy_http_call" (func $call (param i32 i32 i32 i32 i32 i32 i32 i32 i32 i32) (result i32)))
  (import "env" "proxy_get_buffer_bytes" (func $getbuf (param i32 i32 i32 i32 i32) (result i32)))
  (import "env" "proxy_set_buffer_bytes" (func $setbuf (param i32 i32 i32 i32 i32) (result i32)))
  (memory (export "memory") 1)
  (global $heap (mut i32) (i32.const 8192))
  (data (i32.const 0) "ticks")
  (data (i32.const 8) "last_body")
  (data (i32.const 24) "kv")
  (data (i32.const 32) "audit")
  (data (i32.const 104) "<<>>")
  (data (i32.const 120) "set_status")
  (data (i32.const 136) "read_size")
  (data (i32.const 40) "\03\00\00\00\07\00\00\00\04\00\00\00\05\00\00\00\01\00\00\00\0a\00\00\00\01\00\00\00:method\00POST\00:path\00/\00:authority\00a\00")
  (func (export "proxy_abi_version_0_2_1"))
  (func (export "proxy_on_memory_allocate") (param $size i32) (result i32)
    (local $at i32)
    (local.set $at (global.get $heap))
    (global.set $heap (i32.add (global.get $heap) (local.get $size)))
    (local.get $at))
  (func (export "proxy_on_context_create") (param i32 i32))
  (func (export "proxy_on_vm_start") (param i32 i32) (result i32) (i32.const 1))
  (func (export "proxy_on_configure") (param i32 i32) (result i32)
    (drop (call $tick (i32.const 100)))
    (drop (call $define (i32.const 0) (i32.const 0) (i32.const 5) (i32.const 200)))
    (drop (call $define (i32.const 1) (i32.const 8) (i32.const 9) (i32.const 204)))
    (drop (call $define (i32.const 1) (i32.const 120) (i32.const 10) (i32.const 212)))
    (drop (call $define (i32.const 1) (i32.const 136) (i32.const 9) (i32.const 216)))
    (drop (call $set (i32.const 24) (i32.const 1) (i32.const 25) (i32.const 1) (i32.const 0)))
    (drop (call $call (i32.const 32) (i32.const 5) (i32.const 40) (i32.const 62) (i32.const 0) (i32.const 0)
                      (i32.const 0) (i32.const 0) (i32.const 50) (i32.const 208)))
    (i32.const 1))
  (func (export "proxy_on_tick") (param i32)
    (drop (call $inc (i32.load (i32.const 200)) (i64.const 1))))
  (func (export "proxy_on_http_call_response") (param i32 i32 i32 i32 i32)
    (drop (call $record (i32.load (i32.const 204)) (i64.extend_i32_u (local.get 3)))))
  ;; Buffers the body; at its end reads 3 bytes from offset 2, tries a write inside the buffer
  ;; (recording the status), prepends "<<" and appends ">>".
  (func (export "proxy_on_request_body") (param $ctx i32) (param $size i32) (param $eos i32) (result i32)
    (if (i32.eqz (local.get $eos)) (then (return (i32.const 1))))
    (drop (call $getbuf (i32.const 0) (i32.const 2) (i32.const 3) (i32.const 224) (i32.const 228)))
    (drop (call $record (i32.load (i32.const 216)) (i64.extend_i32_u (i32.load (i32.const 228)))))
    (drop (call $record (i32.load (i32.const 212))
      (i64.extend_i32_u (call $setbuf (i32.const 0) (i32.const 1) (i32.const 0) (i32.const 104) (i32.const 2)))))
    (drop (call $setbuf (i32.const 0) (i32.const 0) (i32.const 0) (i32.const 104) (i32.const 2)))
    (drop (call $setbuf (i32.const 0) (i32.add (local.get $size) (i32.const 2)) (i32.const 0) (i32.const 106) (i32.const 2)))
    (i32.const 0))
  (func (export "proxy_on_request_headers") (param i32 i32 i32) (result i32)
    (if (i32.eq (local.get 1) (i32.const 3)) (then unreachable))
    (i32.const 0))
)
"#;

fn probe(workers: usize) -> Host {
    let plugin = Plugin::from_bytes(&wat::parse_str(PROBE).unwrap()).unwrap();
    let options = HostOptions { workers, clusters: vec!["audit".into()], ..HostOptions::default() };
    Host::start(&plugin, options).unwrap()
}

#[test]
fn a_trap_fails_the_stream_and_its_worker_closed() {
    let mut host = probe(2);
    let three = [(":method", "GET"), (":path", "/"), (":authority", "a")];
    let four = [(":method", "GET"), (":path", "/"), (":authority", "a"), ("x", "y")];
    let id = host.open_http(0, StreamInfo::default());
    host.request_headers(id, &three, true);
    let reply = host.stream(id).local_reply.clone().unwrap();
    assert_eq!((reply.status, reply.details.as_str(), reply.body.len()), (503, "wasm_fail_stream", 0));
    assert!(host.failure(0).unwrap().contains("unreachable"), "{:?}", host.failure(0));
    // Later streams on the failed worker get 503 without reaching the VM ...
    let id = host.open_http(0, StreamInfo::default());
    host.request_headers(id, &four, true);
    assert_eq!(host.stream(id).local_reply.as_ref().map(|r| r.status), Some(503));
    // ... and the other worker's VM is untouched.
    let id = host.open_http(1, StreamInfo::default());
    host.request_headers(id, &four, true);
    assert!(host.stream(id).local_reply.is_none() && host.stream(id).request.ended);
    // A failed VM gets no more ticks.
    host.advance(Duration::from_millis(1000));
    assert_eq!(host.metric("ticks"), Some(10), "only worker 1 ticked, ten times");
}

#[test]
fn ticks_follow_the_virtual_clock_on_every_worker() {
    let mut host = probe(2);
    let start = host.now_nanos();
    host.advance(Duration::from_millis(99));
    assert_eq!(host.metric("ticks"), Some(0), "the first tick comes one period after it is set");
    host.advance(Duration::from_millis(1));
    assert_eq!(host.metric("ticks"), Some(2));
    host.advance(Duration::from_millis(450));
    assert_eq!(host.metric("ticks"), Some(10));
    assert_eq!(host.now_nanos() - start, 550_000_000);
}

#[test]
fn http_calls_are_answered_by_the_test_or_time_out_as_504() {
    let mut host = probe(2);
    let calls = host.http_calls();
    assert_eq!(calls.len(), 2, "one call per worker at configure");
    assert_eq!((calls[0].cluster.as_str(), calls[0].header(":path"), calls[0].timeout_ms), ("audit", Some("/"), 50));
    assert!(host.respond_http_call(calls[0].token, 200, &[], b"hello"));
    assert_eq!(host.metric("last_body"), Some(5));
    assert!(!host.respond_http_call(calls[0].token, 200, &[], b"again"), "a call is answered once");
    host.advance(Duration::from_millis(60));
    assert!(host.http_calls().is_empty());
    assert_eq!(host.metric("last_body"), Some("upstream request timeout".len() as i64));
}

#[test]
fn shared_data_is_shared_by_the_workers() {
    let host = probe(3);
    assert_eq!(host.shared_data("k"), Some(b"v".to_vec()));
    assert_eq!(host.metrics().iter().filter(|(n, _)| n == "ticks").count(), 1, "one metric for every worker");
}

#[test]
fn a_paused_body_accumulates_and_edits_follow_envoys_rules() {
    let mut host = probe(1);
    let four = [(":method", "POST"), (":path", "/"), (":authority", "a"), ("x", "y")];
    let id = host.open_http(0, StreamInfo::default());
    host.request_headers(id, &four, false);
    host.request_body(id, b"hel", false);
    host.request_body(id, b"lo world", false);
    assert!(host.stream(id).request.forwarded_body.is_empty(), "paused: buffered");
    assert_eq!(host.stream(id).request.body, b"hello world", "the next callback sees the whole buffer");
    host.request_body(id, b"", true);
    assert_eq!(host.metric("read_size"), Some(3), "get_buffer_bytes(2, 3)");
    assert_eq!(host.metric("set_status"), Some(2), "a write inside the buffer is BadArgument");
    assert_eq!(host.stream(id).request.forwarded_body, b"<<hello world>>");
    assert!(host.stream(id).request.ended);
}

#[test]
fn an_unknown_cluster_is_a_bad_argument_not_a_call() {
    let plugin = Plugin::from_bytes(&wat::parse_str(PROBE).unwrap()).unwrap();
    let host = Host::start(&plugin, HostOptions::default()).unwrap();
    assert!(host.http_calls().is_empty());
}
