//! MCP over Streamable HTTP: the JSON-RPC messages of a POST and what each one asks for (the
//! error a denied call gets is [`crate::reply::mcp`]).
//!
//! A body is one message or, in the 2025-03-26 revision, a batch array of them. Each request or
//! notification is decided on its own; a request is denied when any of its messages is. What
//! cannot be read as JSON-RPC is refused as unparsable: a server would reject it, and the filter
//! must not guess what it says.
//!
//! Shapes follow the MCP specification (modelcontextprotocol/modelcontextprotocol):
//! `docs/specification/2025-03-26/basic/transports.mdx` (Streamable HTTP, batches),
//! `.../2025-06-18/changelog.mdx` (batching removed), `.../basic/index.mdx` (ids are strings or
//! integers, never null), `.../server/tools.mdx` (`tools/call` params `{name, arguments}`), and
//! `.../2026-07-28/basic/transports/streamable-http.mdx` with `seps/2243-http-standardization.md`
//! (`Mcp-Method` / `Mcp-Name`, HTTP 400 with `-32020` HeaderMismatch on disagreement).

mod id_scan;

pub use id_scan::IdScan;

use serde_json::Value;

use crate::glob::Glob;
use crate::http::{parse_strict_json, ExtractError, Request};
use crate::json::{kind, Pointer};
use crate::sql::Dialect;

/// Messages one POST may carry in a batch.
const MAX_BATCH: usize = 256;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MessageKind {
    /// Has a method and an id: expects a response.
    Request,
    /// Has a method, no id.
    Notification,
    /// A client's answer to a server request (`result` or `error`).
    Response,
}

/// SQL carried in a tool's arguments (a route's `mcp.sql` entry).
#[derive(Clone, Debug)]
pub struct McpSql {
    pub tool: Glob,
    /// Relative to the message's `params`.
    pub pointer: Pointer,
    pub dialect: Dialect,
}

/// One JSON-RPC message of a request.
#[derive(Clone, Debug, PartialEq)]
pub struct Call {
    pub kind: MessageKind,
    pub id: Option<Value>,
    pub method: Option<String>,
    /// The tool of `tools/call`, the prompt of `prompts/get`, the URI of `resources/read`,
    /// `resources/subscribe` and `resources/unsubscribe`.
    pub target: Option<String>,
    pub message: Value,
}

impl Call {
    /// The message's `params` (null when absent).
    pub fn params(&self) -> &Value {
        self.message.get("params").unwrap_or(&Value::Null)
    }

    pub fn is_tool_call(&self) -> bool {
        self.method.as_deref() == Some("tools/call")
    }
}

/// The messages of a POST body, and whether they came as a batch.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Messages {
    pub calls: Vec<Call>,
    pub batch: bool,
}

/// Reads the JSON-RPC messages of an MCP POST.
pub fn messages(body: Option<&[u8]>) -> Result<Messages, ExtractError> {
    let Some(body) = body.filter(|b| !b.is_empty()) else {
        return Err(ExtractError::Missing("no JSON-RPC message in the request".to_string()));
    };
    let text = std::str::from_utf8(body).map_err(|e| ExtractError::Malformed(format!("body is not UTF-8 ({e})")))?;
    match parse_strict_json(text)? {
        Value::Array(items) => {
            if items.is_empty() {
                return Err(ExtractError::Malformed("an empty JSON-RPC batch".to_string()));
            }
            if items.len() > MAX_BATCH {
                return Err(ExtractError::Malformed(format!("a JSON-RPC batch of over {MAX_BATCH} messages")));
            }
            let calls = items.into_iter().enumerate().map(|(i, m)| call(m, Some(i))).collect::<Result<_, _>>()?;
            Ok(Messages { calls, batch: true })
        }
        message => Ok(Messages { calls: vec![call(message, None)?], batch: false }),
    }
}

fn call(message: Value, index: Option<usize>) -> Result<Call, ExtractError> {
    let at = index.map(|i| format!("batch message {i}: ")).unwrap_or_default();
    let bad = |what: String| ExtractError::Malformed(format!("{at}{what}"));
    let Value::Object(fields) = &message else {
        return Err(bad(format!("a JSON-RPC message must be an object, not {}", kind(&message))));
    };
    if fields.get("jsonrpc").and_then(Value::as_str) != Some("2.0") {
        return Err(bad("not JSON-RPC 2.0 (\"jsonrpc\": \"2.0\" is missing)".to_string()));
    }
    let id = match fields.get("id") {
        None => None,
        Some(id @ (Value::String(_) | Value::Number(_))) => Some(id.clone()),
        Some(other) => return Err(bad(format!("the id must be a string or an integer, not {}", kind(other)))),
    };
    let method = match fields.get("method") {
        None => None,
        Some(Value::String(m)) => Some(m.clone()),
        Some(other) => return Err(bad(format!("the method must be a string, not {}", kind(other)))),
    };
    let message_kind = match (&method, &id) {
        (Some(_), Some(_)) => MessageKind::Request,
        (Some(_), None) => MessageKind::Notification,
        (None, Some(_)) if fields.contains_key("result") || fields.contains_key("error") => MessageKind::Response,
        _ => return Err(bad("neither a request, a notification nor a response".to_string())),
    };
    let params = fields.get("params");
    if let Some(p) = params.filter(|p| !p.is_object() && !p.is_array()) {
        return Err(bad(format!("params must be an object or an array, not {}", kind(p))));
    }
    let target_key = match method.as_deref() {
        Some("tools/call" | "prompts/get") => Some("name"),
        Some("resources/read" | "resources/subscribe" | "resources/unsubscribe") => Some("uri"),
        _ => None,
    };
    let target = match target_key {
        Some(key) => match params.and_then(|p| p.get(key)) {
            Some(Value::String(t)) => Some(t.clone()),
            _ => return Err(bad(format!("{} without a string params.{key}", method.as_deref().unwrap_or("")))),
        },
        None => None,
    };
    Ok(Call { kind: message_kind, id, method, target, message })
}

/// The SQL texts a tool call carries, per the route's `mcp.sql`, with their dialects. A call to
/// a configured SQL tool that holds no SQL text at any configured place is an error: the call
/// cannot be judged.
pub fn sql_texts(call: &Call, sources: &[McpSql]) -> Result<Vec<(String, Dialect)>, ExtractError> {
    let mut texts = Vec::new();
    let Some(tool) = call.target.as_deref().filter(|_| call.is_tool_call()) else { return Ok(texts) };
    let mut places = Vec::new();
    for source in sources.iter().filter(|s| s.tool.matches(tool)) {
        places.push(source.pointer.as_str());
        for value in source.pointer.values(call.params()) {
            match value {
                Value::String(text) if !text.trim().is_empty() => texts.push((text.clone(), source.dialect)),
                Value::String(_) | Value::Null => {}
                other => {
                    return Err(ExtractError::Malformed(format!(
                        "tools/call {tool:?}: params{} holds {} where SQL text was expected",
                        source.pointer.as_str(),
                        kind(other)
                    )))
                }
            }
        }
    }
    if texts.is_empty() && !places.is_empty() {
        return Err(ExtractError::Missing(format!("tools/call {tool:?}: no SQL at params{}", places.join(" or params"))));
    }
    Ok(texts)
}

/// The first revision whose clients must mirror the method and name into headers.
const HEADERS_REVISION: &str = "2026-07-28";

/// Checks the `Mcp-Method` / `Mcp-Name` headers (SEP-2243, MCP 2026-07-28) against the body.
///
/// Proxies and gateways may route or authorize on these headers without reading the body, so
/// a request whose headers say one thing and whose body another is refused whatever the
/// revision. From 2026-07-28 (by `MCP-Protocol-Version`) they are also required: `Mcp-Method`
/// on every request, `Mcp-Name` on `tools/call`, `resources/read` and `prompts/get`. Values are
/// compared case-sensitively after trimming, `Mcp-Name` after decoding `=?base64?...?=`.
/// `Mcp-Name` is compared on every method whose named parameter is known ([`name_key`]); on
/// others it carries nothing the decision reads, and is let through as the SDK's servers do.
pub fn check_headers(request: &Request, calls: &[Call]) -> Result<(), String> {
    let method_header: Vec<&str> = request.header_values("mcp-method").map(str::trim).collect();
    let name_header: Vec<&str> = request.header_values("mcp-name").map(str::trim).collect();
    let required = request.header("mcp-protocol-version").is_some_and(|v| v.trim() >= HEADERS_REVISION);
    if method_header.is_empty() && name_header.is_empty() && !required {
        return Ok(());
    }
    if method_header.len() > 1 || name_header.len() > 1 {
        return Err("Mcp-Method or Mcp-Name is repeated".to_string());
    }
    let requests: Vec<&Call> = calls.iter().filter(|c| c.kind != MessageKind::Response).collect();
    let [call] = requests[..] else {
        return Err("Mcp-Method and Mcp-Name describe one message; the body has several".to_string());
    };
    let method = call.method.as_deref().unwrap_or("");
    match method_header.first() {
        Some(&header) if header != method => {
            return Err(format!("Mcp-Method header {header:?} does not match the body's method {method:?}"))
        }
        None if required && call.kind == MessageKind::Request => {
            return Err(format!("Mcp-Method is required by MCP {HEADERS_REVISION} and missing"))
        }
        _ => {}
    }
    let Some(key) = name_key(method) else {
        // Extensions may mirror a name on other methods; the body alone is decided there.
        return Ok(());
    };
    let named = call.message.get("params").and_then(|p| p.get(key)).and_then(Value::as_str);
    match (name_header.first(), named) {
        (Some(&header), Some(named)) => {
            let decoded = decode_name(header)?;
            if decoded != named {
                return Err(format!("Mcp-Name header {decoded:?} does not match the body's params.{key} {named:?}"));
            }
        }
        (None, Some(_)) if required && NAME_REQUIRED.contains(&method) => {
            return Err(format!("Mcp-Name is required on {method} by MCP {HEADERS_REVISION} and missing"))
        }
        _ => {}
    }
    Ok(())
}

/// The methods on which MCP 2026-07-28 requires `Mcp-Name`.
const NAME_REQUIRED: [&str; 3] = ["tools/call", "resources/read", "prompts/get"];

/// The `params` member a method's `Mcp-Name` mirrors: SEP-2243's three, and `taskId` on
/// `tasks/*` (SEP-2663, which the official Python SDK follows).
fn name_key(method: &str) -> Option<&'static str> {
    match method {
        "tools/call" | "prompts/get" => Some("name"),
        "resources/read" => Some("uri"),
        _ if method.starts_with("tasks/") => Some("taskId"),
        _ => None,
    }
}

/// A plain value, or the base64 sentinel form `=?base64?...?=` of a UTF-8 one.
fn decode_name(value: &str) -> Result<String, String> {
    use base64::Engine;
    let Some(encoded) = value.strip_prefix("=?base64?").and_then(|v| v.strip_suffix("?=")) else {
        return Ok(value.to_string());
    };
    let bytes =
        base64::engine::general_purpose::STANDARD.decode(encoded).map_err(|e| format!("Mcp-Name is not valid base64 ({e})"))?;
    String::from_utf8(bytes).map_err(|_| "Mcp-Name does not decode to UTF-8".to_string())
}
