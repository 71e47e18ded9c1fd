//! The JSON-RPC error a denied MCP call gets, in the shape MCP clients expect (see
//! [`crate::mcp`] for the specification paths).

use serde_json::{json, Value};

use super::http::{self, denied_body, DENIED_STATUS};
use super::HttpReply;
use crate::decide::{Decision, Limit, Reason};
use crate::mcp::{Call, MessageKind};

/// JSON-RPC error code of a denied call. MCP 2026-07-28 reserves -32020..-32099 for codes it
/// defines and asks that -32000..-32019 not be used by new implementations; other codes belong
/// outside JSON-RPC's reserved -32768..-32000, so a client cannot mistake a policy denial for a
/// malformed request (-32600) or a server failure (-32603).
pub const DENIED_CODE: i64 = -31403;
/// `HeaderMismatch` (MCP 2026-07-28): headers disagree with the body.
pub const HEADER_MISMATCH_CODE: i64 = -32020;

/// The reply to a denied MCP request. Each request of the body gets a JSON-RPC error with its
/// own id (a batch gets an array); the error's `data` carries what the HTTP deny body carries.
/// A body of notifications and responses only has no id to answer, so it gets HTTP 403 (unless
/// the id is read from the body afterwards: [`answering`]).
///
/// Headers that disagree with the body get what MCP 2026-07-28 prescribes: HTTP 400 and
/// `HeaderMismatch`.
pub fn denied(decision: &Decision, calls: &[Call], batch: bool, request_id: Option<&str>) -> HttpReply {
    let data = denied_body(decision, request_id);
    let mismatch = decision.reason == Reason::Limit(Limit::McpHeaders);
    let code = if mismatch { HEADER_MISMATCH_CODE } else { DENIED_CODE };
    let error = |id: &Value| {
        json!({
            "jsonrpc": "2.0",
            "id": id,
            "error": {"code": code, "message": decision.message, "data": data},
        })
    };
    let answers: Vec<Value> =
        calls.iter().filter(|c| c.kind == MessageKind::Request).filter_map(|c| c.id.as_ref()).map(error).collect();
    let (status, body) = match (answers.len(), batch) {
        (0, _) => (DENIED_STATUS, error(&Value::Null)),
        (_, true) => (200, Value::Array(answers)),
        (_, false) => (200, answers.into_iter().next().unwrap_or(Value::Null)),
    };
    let status = if mismatch { 400 } else { status };
    let mut reply = http::denied(decision, request_id);
    reply.status = status;
    reply.body = body.to_string();
    reply
}

/// `reply` (a denial that answered no request) answering the request `id` read from the body
/// afterwards: an MCP client matches the error to its call, and its session goes on.
pub fn answering(reply: &HttpReply, id: Value) -> HttpReply {
    let mut body: Value = serde_json::from_str(&reply.body).unwrap_or(Value::Null);
    let Some(error) = body.as_object_mut() else { return reply.clone() };
    error.insert("id".to_string(), id);
    HttpReply { status: 200, headers: reply.headers.clone(), body: body.to_string() }
}
