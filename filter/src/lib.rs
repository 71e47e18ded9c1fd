//! Access Guardrails: a proxy-wasm filter that decides, per request and per identity, whether an
//! action (SQL over HTTP or the database wire, an API call, an MCP tool call) may reach
//! production, and records every decision.
//!
//! Everything but `proxy` is a pure engine: no host calls; time and randomness are passed in. The same
//! engine runs inside Envoy, in the `guardrails` command and in native tests.
//!
//! Rooms, bottom up (a module uses only those above it in this list):
//!
//! - leaves: [`glob`], [`json`] (strict parsing, pointers, conditions), [`hex`].
//! - [`sql`]: what a SQL statement does ([`sql::Intent`]), per dialect.
//! - readers: [`http`] (request facts, route matching, where the SQL is), [`mcp`] (JSON-RPC
//!   messages), [`graphql`] (operations and root fields), [`wire`] (database sessions).
//! - [`mask`]: response redaction.
//! - [`identity`]: who acts, and whether it is an agent.
//! - [`policy`]: the schema, its validation and compilation.
//! - [`decide`]: facts + policy -> [`decide::Decision`].
//! - [`reply`]: how a denial looks on each channel.
//! - [`audit`]: the record of each decision, its hash chain, batching and sink formats.
//! - [`engine`]: one action through all of the above, and its [`engine::Conclusion`].
//! - `proxy` (only in the `.wasm`): the proxy-wasm glue, the one module that talks to the host.

pub mod audit;
pub mod decide;
pub mod engine;
pub mod glob;
pub mod graphql;
pub mod hex;
pub mod http;
pub mod identity;
pub mod json;
pub mod llm;
pub mod mask;
pub mod mcp;
pub mod policy;
#[cfg(target_arch = "wasm32")]
mod proxy;
pub mod reply;
pub mod sql;
pub mod wire;
