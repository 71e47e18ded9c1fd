//! How a denial looks on each channel: the HTTP 403 JSON body ([`http`]), the MCP JSON-RPC
//! error ([`mcp`]), a model provider's error and the text in place of a denied tool call
//! ([`llm`]), and the text a database client reads in its protocol's error ([`wire`]).

pub mod http;
pub mod llm;
pub mod mcp;
pub mod wire;

use crate::decide::Outcome;
use crate::policy::Payload;

/// A local HTTP response.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HttpReply {
    pub status: u32,
    pub headers: Vec<(&'static str, String)>,
    pub body: String,
}

/// What the client of a denied action gets.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Reply {
    /// Sent as a local response on an HTTP stream.
    Http(HttpReply),
    /// Written by the wire session into the protocol's error for the denied message.
    Wire { message: String },
}

/// The local reply for a denied request: the JSON-RPC error an MCP client expects on an MCP
/// route, the HTTP deny body elsewhere.
pub fn http_denial(payload: &Payload, outcome: &Outcome, request_id: Option<&str>) -> HttpReply {
    match payload {
        Payload::Mcp(_) => mcp::denied(&outcome.decision, outcome.action.calls(), outcome.action.batch(), request_id),
        Payload::Llm(route) => llm::denied(route.provider, &outcome.decision, request_id),
        _ => http::denied(&outcome.decision, request_id),
    }
}
