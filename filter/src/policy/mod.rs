//! The policy: schema, validation with JSON paths, and compilation into matchers.
//!
//! [`Policy::from_json`] reads policy v1, reports *every* problem it finds (each with the JSON
//! path of the offending value: `routes[2].rules[0]: unknown rule "no-drop"`), and otherwise
//! compiles routes and rules once, so nothing is parsed again per request. The policy hash is
//! the SHA-256 of the canonical JSON (sorted keys, no whitespace): the same policy written two
//! ways hashes the same.
//!
//! - [`schema`]: the document as written (serde, unknown fields refused).
//! - `compile`, `routes`, `rules`: validation and compilation, one `Compiler` split by section.
//! - [`model`]: the compiled routes and rules; [`tables`]: table patterns.

mod compile;
pub mod model;
mod routes;
mod rules;
pub mod schema;
mod suggest;
pub mod tables;

use std::fmt;

use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::hex::hex;
use crate::identity::Identity;
pub use model::*;
pub use schema::{AuditDoc, Effect, Limits, Mode, Protocol, ProxyDoc, StatementDetail};
pub use tables::TablePattern;

/// Largest `limits.max_body_bytes` accepted: Envoy buffers the body in every worker.
pub const MAX_BODY_LIMIT: u64 = 64 * 1024 * 1024;

/// One problem in a policy.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PolicyError {
    /// JSON path of the offending value (`routes[0].match.path`), or empty for the document.
    pub path: String,
    pub message: String,
}

impl fmt::Display for PolicyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.path.is_empty() {
            f.write_str(&self.message)
        } else {
            write!(f, "{}: {}", self.path, self.message)
        }
    }
}

/// A compiled policy.
#[derive(Clone, Debug)]
pub struct Policy {
    pub protocol: Protocol,
    pub mode: Mode,
    pub identity: Identity,
    pub limits: Limits,
    pub proxy: ProxyDoc,
    pub routes: Vec<Route>,
    pub rules: Vec<Rule>,
    pub audit: Option<AuditDoc>,
    /// Hex SHA-256 of the canonical JSON.
    pub hash: String,
}

impl Policy {
    /// Parses, validates and compiles a policy from its JSON form.
    pub fn from_json(text: &str) -> Result<Policy, Vec<PolicyError>> {
        let value: Value = serde_json::from_str(text)
            .map_err(|e| vec![PolicyError { path: String::new(), message: format!("policy is not valid JSON: {e}") }])?;
        Policy::from_value(&value)
    }

    pub fn from_value(value: &Value) -> Result<Policy, Vec<PolicyError>> {
        compile::compile(value)
    }

    /// The first route that matches the request.
    pub fn route(&self, request: &crate::http::Request) -> Option<&Route> {
        self.route_index(request).map(|i| &self.routes[i])
    }

    pub fn route_index(&self, request: &crate::http::Request) -> Option<usize> {
        self.routes.iter().position(|r| r.matcher.matches(request))
    }

    /// The first route of a wire policy that matches a connection to `database` as `user`.
    pub fn connection_route(&self, database: &str, user: &str) -> Option<usize> {
        self.routes.iter().position(|r| {
            r.matcher.database.as_ref().is_none_or(|g| g.matches(database))
                && r.matcher.user.as_ref().is_none_or(|g| g.matches(user))
        })
    }
}

/// SHA-256 of the canonical form: keys sorted (serde_json's map is ordered), no whitespace.
pub fn canonical_hash(value: &Value) -> String {
    let canonical = serde_json::to_string(value).unwrap_or_default();
    hex(&Sha256::digest(canonical.as_bytes()))
}
