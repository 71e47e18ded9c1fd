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
pub use schema::{AuditDoc, Effect, Limits, Mode, OnDeny, Protocol, ProxyDoc, StatementDetail};
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

/// Which route guards an HTTP request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RouteChoice {
    /// No reading of the request matches a route: it passes untouched.
    Unguarded,
    Route(usize),
    /// Readings of the request match different routes (in policy order): it is denied.
    Ambiguous(Vec<usize>),
}

impl RouteChoice {
    /// The guarding route; for an ambiguous request the first it may stand for.
    pub fn route(&self) -> Option<usize> {
        match self {
            RouteChoice::Unguarded => None,
            RouteChoice::Route(route) => Some(*route),
            RouteChoice::Ambiguous(routes) => routes.first().copied(),
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

    /// The route that guards the request: for a request that reads two ways, the first of
    /// the routes it may stand for.
    pub fn route(&self, request: &crate::http::Request) -> Option<&Route> {
        self.route_index(request).map(|i| &self.routes[i])
    }

    pub fn route_index(&self, request: &crate::http::Request) -> Option<usize> {
        self.route_choice(request).route()
    }

    /// For every reading of the request's path and every method it may stand for, the first
    /// route that matches; the request is guarded by that route when every reading that
    /// reaches one reaches the same one, and ambiguous when they reach different ones.
    pub fn route_choice(&self, request: &crate::http::Request) -> RouteChoice {
        let mut methods = request.effective_methods();
        if request.may_name_a_method_in_its_body() {
            for listed in self.routes.iter().filter_map(|r| r.matcher.methods.as_ref()).flatten() {
                if !methods.contains(listed) {
                    methods.push(listed.clone());
                }
            }
        }
        let readings = request.readings();
        // Which readings each route's path, authority and headers hold for, computed once.
        let holds: Vec<Vec<bool>> = self.routes.iter().map(|r| r.matcher.readings_held(request)).collect();
        let mut chosen: Vec<usize> = Vec::new();
        for reading in 0..readings.len() {
            for method in &methods {
                let first =
                    self.routes.iter().zip(&holds).position(|(route, held)| {
                        held.get(reading).copied().unwrap_or(false) && route.matcher.method_holds(method)
                    });
                if let Some(index) = first.filter(|i| !chosen.contains(i)) {
                    chosen.push(index);
                }
            }
        }
        chosen.sort_unstable();
        match chosen.as_slice() {
            [] => RouteChoice::Unguarded,
            [one] => RouteChoice::Route(*one),
            _ => RouteChoice::Ambiguous(chosen),
        }
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
