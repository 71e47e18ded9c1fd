//! Access Guardrails: a proxy-wasm filter that decides, per request and per identity, whether an
//! action (SQL over HTTP or the database wire, an API call, an MCP tool call) may reach
//! production, and records every decision.
//!
//! Everything but `proxy` is a pure engine: no host calls; time and randomness are passed in. The same
//! engine runs inside Envoy, in the `guardrails` command and in native tests.
//!
//! - [`policy`]: the configuration schema, its validation and compilation.
//! - [`sql`]: what a SQL statement does ([`sql::Intent`]).
//! - [`http`]: request facts, route matching, where the SQL is in a request, JSON pointers.
//! - [`mcp`]: the JSON-RPC messages of an MCP request, and the error a denied call gets.
//! - [`graphql`]: the operations of a GraphQL request and their root fields.
//! - [`identity`]: who acts, and whether it is an agent.
//! - [`decide`]: facts + policy -> [`decide::Decision`].
//! - [`engine`]: one request through all of the above.
//! - [`audit`]: the record of each decision, its hash chain, batching and sink formats.
//! - `proxy` (only in the `.wasm`): the proxy-wasm glue, the one module that talks to the host.

pub mod audit;
pub mod decide;
pub mod engine;
pub mod graphql;
pub mod http;
pub mod identity;
pub mod mask;
pub mod mcp;
pub mod policy;
#[cfg(target_arch = "wasm32")]
mod proxy;
pub mod sql;
pub mod wire;
