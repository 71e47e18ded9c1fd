//! `proxy_get_property`: the attributes Envoy exposes, serialized as Envoy serializes them.
//! Strings are their bytes, integers 8 bytes little-endian, doubles IEEE-754 little-endian,
//! booleans one byte, string maps in the header-map wire form. Dynamic metadata is walked by
//! path; a `Struct` comes back as a map, numbers as doubles, and a null fails the read.
//! A path no attribute knows is looked up among the values the filter set with
//! `proxy_set_property`, as Envoy keeps them in filter state.

use serde_json::Value;

use crate::pairs;
use crate::state::status::{NOT_FOUND, SERIALIZATION_FAILURE};
use crate::state::{StreamState, VmState};

fn int(v: i64) -> Vec<u8> {
    v.to_le_bytes().to_vec()
}

fn header(stream: &StreamState, name: &str) -> Option<Vec<u8>> {
    stream.request.headers.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone())
}

pub fn lookup(state: &mut VmState, path: &[String]) -> Result<Vec<u8>, i32> {
    let parts: Vec<&str> = path.iter().map(String::as_str).collect();
    let options = state.options.clone();
    match parts.as_slice() {
        ["plugin_name"] => return Ok(options.plugin_name.clone().into_bytes()),
        ["plugin_root_id"] => return Ok(options.root_id.clone().into_bytes()),
        ["plugin_vm_id"] => return Ok(options.vm_id.clone().into_bytes()),
        _ => {}
    }
    let in_log = state.in_log;
    let stream = state.stream().ok_or(NOT_FOUND)?;
    // Header-based request attributes read the live header map, gone once headers continue.
    let headers_gone = stream.request.headers_forwarded && !in_log;
    if headers_gone && parts.first() == Some(&"request") && !matches!(parts.get(1), Some(&"protocol")) {
        return Err(NOT_FOUND);
    }
    let found = match parts.as_slice() {
        ["request", "path"] => header(stream, ":path"),
        ["request", "url_path"] => header(stream, ":path").map(|p| p.split(|b| *b == b'?').next().unwrap_or(&[]).to_vec()),
        ["request", "query"] => {
            header(stream, ":path").map(|p| p.iter().position(|b| *b == b'?').map_or(Vec::new(), |i| p[i + 1..].to_vec()))
        }
        ["request", "host"] => header(stream, ":authority"),
        ["request", "scheme"] => header(stream, ":scheme"),
        ["request", "method"] => header(stream, ":method"),
        ["request", "referer"] => header(stream, "referer"),
        ["request", "useragent"] => header(stream, "user-agent"),
        ["request", "id"] => header(stream, "x-request-id"),
        ["request", "protocol"] => Some(stream.info.protocol.clone().into_bytes()),
        ["request", "headers"] => Some(pairs::serialize(&stream.request.headers)),
        ["request", "headers", name] => header(stream, &name.to_ascii_lowercase()),
        ["response", "code"] => stream
            .response
            .headers
            .iter()
            .find(|(k, _)| k == ":status")
            .and_then(|(_, v)| std::str::from_utf8(v).ok()?.parse::<i64>().ok())
            .map(int),
        ["response", "headers"] => Some(pairs::serialize(&stream.response.headers)),
        ["source", "address"] => Some(stream.info.source_address.clone().into_bytes()),
        ["source", "port"] => port(&stream.info.source_address).map(int),
        ["destination", "address"] => Some(stream.info.destination_address.clone().into_bytes()),
        ["destination", "port"] => port(&stream.info.destination_address).map(int),
        ["connection", "mtls"] => Some(vec![u8::from(stream.info.peer_uri_san.is_some())]),
        ["connection", "uri_san_peer_certificate"] => stream.info.peer_uri_san.clone().map(String::into_bytes),
        ["route_name"] => Some(stream.info.route_name.clone().into_bytes()),
        ["metadata", rest @ ..] => return metadata(&stream.info.metadata, rest),
        _ => {
            let key = parts.join(".");
            stream.filter_state.get(&key).cloned()
        }
    };
    found.ok_or(NOT_FOUND)
}

fn port(address: &str) -> Option<i64> {
    address.rsplit_once(':')?.1.parse().ok()
}

/// `metadata.filter_metadata.<namespace>.<key>...`, walked through the dynamic metadata.
fn metadata(root: &Value, path: &[&str]) -> Result<Vec<u8>, i32> {
    let mut value = root;
    for part in path {
        value = value.get(part).ok_or(NOT_FOUND)?;
    }
    serialize(value)
}

/// A `Struct` value as CEL hands it to Envoy's serializer: maps and lists as pairs, numbers as
/// doubles; a null anywhere fails the whole value.
fn serialize(value: &Value) -> Result<Vec<u8>, i32> {
    match value {
        Value::String(s) => Ok(s.clone().into_bytes()),
        Value::Number(n) => Ok(n.as_f64().unwrap_or(0.0).to_le_bytes().to_vec()),
        Value::Bool(b) => Ok(vec![u8::from(*b)]),
        Value::Null => Err(SERIALIZATION_FAILURE),
        Value::Object(map) => {
            let mut out = Vec::new();
            for (k, v) in map {
                out.push((k.clone(), serialize(v)?));
            }
            Ok(pairs::serialize(&out))
        }
        Value::Array(items) => {
            let mut out = Vec::new();
            for item in items {
                out.push((String::from_utf8_lossy(&serialize(item)?).into_owned(), Vec::new()));
            }
            Ok(pairs::serialize(&out))
        }
    }
}
