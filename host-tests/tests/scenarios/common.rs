//! Shared by the scenario tests: the compiled filter (built once per run by `make wasm`, loaded
//! once per run of the scenario binary), policies written as YAML, and requests sent the way
//! Envoy delivers them.

use std::path::PathBuf;
use std::sync::OnceLock;

use guardrails_host::{Host, HostOptions, Plugin, StartError, StreamId, StreamInfo};

pub fn wasm_path() -> PathBuf {
    match std::env::var_os("GUARDRAILS_WASM") {
        Some(p) => PathBuf::from(p),
        None => PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target/wasm32-wasip1/release/access_guardrails.wasm"),
    }
}

pub fn plugin() -> &'static Plugin {
    static PLUGIN: OnceLock<Plugin> = OnceLock::new();
    PLUGIN.get_or_init(|| {
        let path = wasm_path();
        Plugin::load(&path).unwrap_or_else(|e| panic!("{e}: run `make wasm` first ({})", path.display()))
    })
}

/// YAML policy text as the JSON Envoy hands the plugin.
pub fn json(yaml: &str) -> String {
    let value: serde_json::Value = serde_norway::from_str(yaml).expect("test policy is YAML");
    value.to_string()
}

pub fn start(yaml: &str) -> Host {
    start_with(yaml, |_| {})
}

pub fn start_with(yaml: &str, adjust: impl FnOnce(&mut HostOptions)) -> Host {
    let mut options = HostOptions::with_configuration(json(yaml));
    adjust(&mut options);
    match Host::start(plugin(), options) {
        Ok(host) => host,
        Err(e) => panic!("{e}"),
    }
}

pub fn start_err(config: &str) -> StartError {
    match Host::start(plugin(), HostOptions::with_configuration(config)) {
        Ok(_) => panic!("the filter accepted {config}"),
        Err(e) => e,
    }
}

pub fn headers<'a>(method: &'a str, path: &'a str, extra: &'a [(&'a str, &'a str)]) -> Vec<(&'a str, &'a str)> {
    let mut all =
        vec![(":method", method), (":path", path), (":authority", "db.internal"), (":scheme", "http"), ("x-request-id", "rid-7")];
    all.extend_from_slice(extra);
    all
}

/// Sends a request as Envoy's HTTP/1 codec delivers it: headers, the body in `chunks`, then an
/// empty end-of-stream callback.
pub fn send(host: &mut Host, headers: &[(&str, &str)], chunks: &[&[u8]]) -> StreamId {
    send_info(host, headers, chunks, StreamInfo::default())
}

pub fn send_info(host: &mut Host, headers: &[(&str, &str)], chunks: &[&[u8]], info: StreamInfo) -> StreamId {
    let id = host.open_http(0, info);
    host.request_headers(id, headers, chunks.is_empty());
    for chunk in chunks {
        host.request_body(id, chunk, false);
    }
    if !chunks.is_empty() {
        host.request_body(id, b"", true);
    }
    id
}

/// `Some(rule)` (or `Some("")` for a route default) when the filter denied the request.
pub fn denied_by(host: &Host, id: StreamId) -> Option<String> {
    let reply = host.stream(id).local_reply.as_ref()?;
    assert_eq!(reply.status, 403, "unexpected local reply: {reply:?}");
    assert_eq!(reply.header("x-guardrails-decision"), Some("deny"));
    let body: serde_json::Value = serde_json::from_slice(&reply.body).expect("deny body is JSON");
    Some(body["rule"].as_str().unwrap_or("").to_string())
}

/// The request went through whole: headers and every body byte reached the upstream.
pub fn passed(host: &Host, id: StreamId) -> bool {
    let s = host.stream(id);
    s.local_reply.is_none() && s.request.headers_forwarded && s.request.ended
}

pub fn decision_property(host: &Host, id: StreamId) -> Option<serde_json::Value> {
    let raw = host.stream(id).filter_state.get("guardrails_decision")?;
    Some(serde_json::from_slice(raw).expect("decision property is JSON"))
}
