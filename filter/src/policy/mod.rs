//! The policy: schema, validation with JSON paths, and compilation into matchers.
//!
//! [`Policy::from_json`] reads policy v1, reports *every* problem it finds (each with the JSON
//! path of the offending value: `routes[2].rules[0]: unknown rule "no-drop"`), and otherwise
//! compiles routes and rules once, so nothing is parsed again per request. The policy hash is
//! the SHA-256 of the canonical JSON (sorted keys, no whitespace): the same policy written two
//! ways hashes the same.

pub mod glob;
pub mod schema;

use std::fmt;

use serde::de::DeserializeOwned;
use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::graphql::OperationType;
use crate::http::json::{JsonCondition, JsonTest, Pointer};
use crate::http::{HeaderCondition, HeaderTest, PayloadSource, Preset, RouteMatcher};
use crate::sql::{Dialect, Operation, OperationSet};
use glob::Glob;
pub use schema::{AuditDoc, Effect, Limits, Mode, Protocol, ProxyDoc, StatementDetail};
use schema::*;

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

#[derive(Clone, Debug)]
pub struct Identity {
    pub principal: Vec<schema::PrincipalSource>,
    pub agent_when: Vec<AgentTest>,
    pub jwt_payload_key: String,
}

#[derive(Clone, Debug)]
pub enum AgentTest {
    Header(HeaderCondition),
    Principal(Glob),
    JwtClaim { name: String, equals: String },
    PeerSpiffe(Glob),
}

#[derive(Clone, Debug)]
pub struct Route {
    pub name: String,
    pub matcher: RouteMatcher,
    pub sql: Option<SqlRoute>,
    pub mcp: Option<McpRoute>,
    pub graphql: bool,
    pub mask: Option<crate::mask::Masker>,
    /// Some rule has `json` conditions on the body (not on an MCP route, whose rules look at
    /// each JSON-RPC message).
    pub reads_json: bool,
    pub default: Effect,
    /// Indexes into [`Policy::rules`], in the route's order.
    pub rules: Vec<usize>,
}

impl Route {
    /// Whether deciding needs the request body.
    pub fn needs_body(&self) -> bool {
        self.mcp.is_some()
            || self.graphql
            || self.reads_json
            || self.sql.as_ref().is_some_and(|sql| sql.source.needs_body())
    }
}

#[derive(Clone, Debug)]
pub struct McpRoute {
    pub sql: Vec<McpSql>,
}

/// SQL carried in a tool's arguments.
#[derive(Clone, Debug)]
pub struct McpSql {
    pub tool: Glob,
    /// Relative to the message's `params`.
    pub pointer: Pointer,
    pub dialect: Dialect,
}

#[derive(Clone, Debug)]
pub struct SqlRoute {
    pub dialect: Dialect,
    pub source: PayloadSource,
}

#[derive(Clone, Debug)]
pub struct Rule {
    pub name: String,
    pub effect: Effect,
    /// A shadow rule: recorded as would-deny, never enforced.
    pub monitor: bool,
    pub message: Option<String>,
    pub actor: Option<ActorMatch>,
    pub sql: Option<SqlMatch>,
    pub http: Option<RouteMatcher>,
    pub json: Vec<JsonCondition>,
    pub mcp: Option<McpMatch>,
    pub graphql: Option<GraphqlMatch>,
}

/// Conditions on one MCP message; every present one must hold.
#[derive(Clone, Debug, Default)]
pub struct McpMatch {
    pub methods: Option<Vec<Glob>>,
    pub tools: Option<Vec<Glob>>,
    pub resources: Option<Vec<Glob>>,
    pub prompts: Option<Vec<Glob>>,
    pub params: Vec<JsonCondition>,
}

#[derive(Clone, Debug, Default)]
pub struct GraphqlMatch {
    pub operations: Option<Vec<OperationType>>,
    pub fields: Option<Vec<Glob>>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ActorKind {
    Agent,
    Human,
}

#[derive(Clone, Debug, Default)]
pub struct ActorMatch {
    pub kind: Option<ActorKind>,
    pub principals: Option<Vec<Glob>>,
    pub anonymous: Option<bool>,
}

#[derive(Clone, Debug, Default)]
pub struct SqlMatch {
    pub operations: Option<OperationSet>,
    pub tables: Option<Vec<TablePattern>>,
    pub columns: Option<ColumnMatch>,
    pub unbounded: Option<bool>,
}

#[derive(Clone, Debug)]
pub enum ColumnMatch {
    Only(Vec<Glob>),
    Any(Vec<Glob>),
}

/// A table pattern: dotted parts, each a case-insensitive glob (`prod.*`, `*.users`, `orders`).
#[derive(Clone, Debug)]
pub struct TablePattern {
    pub parts: Vec<Glob>,
}

impl TablePattern {
    /// Matches from the right, part by part: `users` matches `users` and `public.users`;
    /// `vault.*` matches `vault.keys` but not an unqualified `keys` (whose schema the statement
    /// does not name), nor `vault.dbo.keys`; `vault.**` matches any number of parts under
    /// `vault`. Leading `*` / `**` parts also match qualifiers the statement leaves out.
    pub fn matches(&self, object: &crate::sql::ObjectPath) -> bool {
        let (p, n) = (&self.parts, object.parts());
        let deep = |g: &Glob| g.as_str() == "**";
        // reach[j]: the first i pattern parts match the first j name parts (right ends aligned,
        // name qualifiers beyond the pattern's left end are free).
        let mut reach: Vec<bool> = vec![true; n.len() + 1];
        for i in 1..=p.len() {
            let mut next = vec![false; n.len() + 1];
            next[0] = reach[0] && matches!(p[i - 1].as_str(), "*" | "**");
            for j in 1..=n.len() {
                next[j] = if deep(&p[i - 1]) {
                    reach[j] || next[j - 1]
                } else {
                    reach[j - 1] && p[i - 1].matches(&n[j - 1])
                };
            }
            reach = next;
        }
        reach[n.len()]
    }
}

impl Policy {
    /// Parses, validates and compiles a policy from its JSON form.
    pub fn from_json(text: &str) -> Result<Policy, Vec<PolicyError>> {
        let value: Value = serde_json::from_str(text).map_err(|e| {
            vec![PolicyError { path: String::new(), message: format!("policy is not valid JSON: {e}") }]
        })?;
        Policy::from_value(&value)
    }

    pub fn from_value(value: &Value) -> Result<Policy, Vec<PolicyError>> {
        let mut c = Compiler { errors: Vec::new(), protocol: Protocol::Http };
        let policy = c.policy(value);
        match policy {
            Some(policy) if c.errors.is_empty() => Ok(policy),
            _ => Err(c.errors),
        }
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

pub fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        out.push(DIGITS[(b >> 4) as usize] as char);
        out.push(DIGITS[(b & 15) as usize] as char);
    }
    out
}

const TOP_LEVEL: &[&str] = &["version", "protocol", "mode", "identity", "limits", "proxy", "routes", "rules", "audit"];

struct Compiler {
    errors: Vec<PolicyError>,
    protocol: Protocol,
}

impl Compiler {
    fn error(&mut self, path: impl Into<String>, message: impl Into<String>) {
        self.errors.push(PolicyError { path: path.into(), message: message.into() });
    }

    /// Deserializes one part, reporting its first structural problem at its full path.
    fn part<T: DeserializeOwned>(&mut self, value: &Value, path: &str) -> Option<T> {
        match serde_path_to_error::deserialize::<_, T>(value) {
            Ok(v) => Some(v),
            Err(err) => {
                let inner = err.path().to_string();
                let full = match (path.is_empty(), inner.as_str()) {
                    (_, ".") | (_, "") => path.to_string(),
                    (true, inner) => inner.to_string(),
                    (false, inner) if inner.starts_with('[') => format!("{path}{inner}"),
                    (false, inner) => format!("{path}.{inner}"),
                };
                self.error(full, err.into_inner().to_string());
                None
            }
        }
    }

    fn glob(&mut self, path: &str, pattern: &str, make: fn(&str) -> Result<Glob, String>) -> Option<Glob> {
        match make(pattern) {
            Ok(g) => Some(g),
            Err(e) => {
                self.error(path, format!("bad glob: {e}"));
                None
            }
        }
    }

    fn non_empty<T>(&mut self, path: &str, list: &[T]) {
        if list.is_empty() {
            self.error(path, "must not be empty");
        }
    }

    fn policy(&mut self, value: &Value) -> Option<Policy> {
        let Value::Object(doc) = value else {
            self.error("", "policy must be a JSON object");
            return None;
        };
        for key in doc.keys() {
            if !TOP_LEVEL.contains(&key.as_str()) {
                self.error(key.as_str(), format!("unknown field, expected one of: {}", TOP_LEVEL.join(", ")));
            }
        }
        for required in ["version", "routes", "rules"] {
            if !doc.contains_key(required) {
                self.error(required, "missing required field");
            }
        }
        match doc.get("version") {
            Some(Value::Number(n)) if n.as_u64() == Some(1) => {}
            Some(other) => self.error("version", format!("unsupported version {other}, expected 1")),
            None => {}
        }
        self.protocol = doc.get("protocol").and_then(|v| self.part::<Protocol>(v, "protocol")).unwrap_or_default();
        let mode = doc.get("mode").and_then(|v| self.part::<Mode>(v, "mode")).unwrap_or_default();
        let identity = match doc.get("identity") {
            Some(v) => self.part::<IdentityDoc>(v, "identity").map(|d| self.identity(d)),
            None if self.protocol != Protocol::Http => Some(self.identity(IdentityDoc {
                principal: vec![PrincipalSource::PeerSpiffe(true), PrincipalSource::DbUser(true)],
                ..IdentityDoc::default()
            })),
            None => Some(self.identity(IdentityDoc::default())),
        };
        let limits = match doc.get("limits") {
            Some(v) => self.part::<Limits>(v, "limits"),
            None => Some(Limits::default()),
        };
        if let Some(limits) = &limits {
            if limits.max_body_bytes == 0 || limits.max_body_bytes > MAX_BODY_LIMIT {
                self.error("limits.max_body_bytes", format!("must be between 1 and {MAX_BODY_LIMIT}"));
            }
        }
        let proxy = match doc.get("proxy") {
            Some(v) => self.part::<ProxyDoc>(v, "proxy"),
            None => Some(ProxyDoc::default()),
        };
        let audit = match doc.get("audit") {
            Some(Value::Null) | None => None,
            Some(v) => self.part::<AuditDoc>(v, "audit").inspect(|a| self.check_audit(a)),
        };

        let rule_docs = self.list::<RuleDoc>(doc.get("rules"), "rules");
        let mut rules = Vec::new();
        for (i, doc) in rule_docs.iter().enumerate() {
            let path = format!("rules[{i}]");
            if let Some(doc) = doc {
                if rule_docs[..i].iter().flatten().any(|r| r.name == doc.name) {
                    self.error(format!("{path}.name"), format!("duplicate rule name {:?}", doc.name));
                }
                rules.push(self.rule(doc, &path));
            } else {
                rules.push(None);
            }
        }

        let route_docs = self.list::<RouteDoc>(doc.get("routes"), "routes");
        if doc.get("routes").is_some_and(|r| r.as_array().is_some_and(Vec::is_empty)) {
            self.error("routes", "must not be empty: with no route the filter inspects nothing");
        }
        let mut routes = Vec::new();
        for (i, route) in route_docs.iter().enumerate() {
            let Some(route) = route else { continue };
            let path = format!("routes[{i}]");
            if route_docs[..i].iter().flatten().any(|r| r.name == route.name) {
                self.error(format!("{path}.name"), format!("duplicate route name {:?}", route.name));
            }
            if let Some(compiled) = self.route(route, &path, &rule_docs, &rules) {
                routes.push(compiled);
            }
        }

        if !self.errors.is_empty() {
            return None;
        }
        Some(Policy {
            protocol: self.protocol,
            mode,
            identity: identity?,
            limits: limits?,
            proxy: proxy?,
            routes,
            rules: rules.into_iter().collect::<Option<Vec<_>>>()?,
            audit,
            hash: canonical_hash(value),
        })
    }

    /// A list whose elements are deserialized one by one: `None` marks a broken element.
    fn list<T: DeserializeOwned>(&mut self, value: Option<&Value>, path: &str) -> Vec<Option<T>> {
        match value {
            None => Vec::new(),
            Some(Value::Array(items)) => {
                items.iter().enumerate().map(|(i, item)| self.part::<T>(item, &format!("{path}[{i}]"))).collect()
            }
            Some(_) => {
                self.error(path, "must be a list");
                Vec::new()
            }
        }
    }

    fn identity(&mut self, doc: IdentityDoc) -> Identity {
        let mut agent_when = Vec::new();
        for (i, condition) in doc.agent_when.iter().enumerate() {
            let path = format!("identity.agent_when[{i}]");
            match condition {
                AgentCondition::Header(h) => {
                    if let Some(c) = self.header_condition(h, &format!("{path}.header")) {
                        agent_when.push(AgentTest::Header(c));
                    }
                }
                AgentCondition::Principal(p) => {
                    if let Some(g) = self.glob(&format!("{path}.principal"), p, Glob::new) {
                        agent_when.push(AgentTest::Principal(g));
                    }
                }
                AgentCondition::JwtClaim(c) => {
                    agent_when.push(AgentTest::JwtClaim { name: c.name.clone(), equals: c.equals.clone() })
                }
                AgentCondition::ClientAttribute(h) => {
                    if let Some(c) = self.header_condition(h, &format!("{path}.client_attribute")) {
                        agent_when.push(AgentTest::Header(c));
                    }
                }
                AgentCondition::PeerSpiffe(p) => {
                    if let Some(g) = self.glob(&format!("{path}.peer_spiffe"), p, Glob::new) {
                        agent_when.push(AgentTest::PeerSpiffe(g));
                    }
                }
            }
        }
        for (i, source) in doc.principal.iter().enumerate() {
            let path = format!("identity.principal[{i}]");
            match source {
                PrincipalSource::Header(h) if !is_header_name(h) => {
                    self.error(format!("{path}.header"), format!("{h:?} is not a valid header name"))
                }
                PrincipalSource::JwtClaim(c) if c.is_empty() => self.error(format!("{path}.jwt_claim"), "must not be empty"),
                PrincipalSource::ClientAttribute(c) if c.is_empty() => {
                    self.error(format!("{path}.client_attribute"), "must not be empty")
                }
                _ => {}
            }
        }
        Identity { principal: doc.principal, agent_when, jwt_payload_key: doc.jwt_payload_key }
    }

    fn header_condition(&mut self, doc: &HeaderMatchDoc, path: &str) -> Option<HeaderCondition> {
        if !is_header_name(&doc.name) {
            self.error(format!("{path}.name"), format!("{:?} is not a valid header name", doc.name));
            return None;
        }
        let set = [doc.equals.is_some(), doc.glob.is_some(), doc.present.is_some()].iter().filter(|b| **b).count();
        if set > 1 {
            self.error(path, "set only one of equals, glob, present");
            return None;
        }
        let test = match (&doc.equals, &doc.glob, doc.present) {
            (Some(v), _, _) => HeaderTest::Equals(v.clone()),
            (_, Some(g), _) => HeaderTest::Glob(self.glob(&format!("{path}.glob"), g, Glob::new)?),
            (_, _, Some(false)) => HeaderTest::Absent,
            _ => HeaderTest::Present,
        };
        Some(HeaderCondition { name: doc.name.to_ascii_lowercase(), test })
    }

    fn check_audit(&mut self, audit: &AuditDoc) {
        if audit.cluster.trim().is_empty() {
            self.error("audit.cluster", "must name an Envoy cluster");
        }
        if !audit.path.starts_with('/') {
            self.error("audit.path", "must start with '/'");
        }
        if audit.batch.max_records == 0 {
            self.error("audit.batch.max_records", "must be at least 1");
        }
        if audit.batch.max_bytes < 1024 {
            self.error("audit.batch.max_bytes", "must be at least 1024");
        }
        if audit.batch.flush_ms == 0 {
            self.error("audit.batch.flush_ms", "must be at least 1");
        }
        if audit.buffer.max_records < audit.batch.max_records {
            self.error("audit.buffer.max_records", "must be at least audit.batch.max_records");
        }
        if audit.chain_key.as_deref().is_some_and(str::is_empty) {
            self.error("audit.chain_key", "must not be empty (omit it for an unkeyed chain)");
        }
        for name in audit.headers.keys() {
            if !is_header_name(name) {
                self.error(format!("audit.headers.{name}"), "is not a valid header name");
            }
        }
    }

    fn route(
        &mut self,
        doc: &RouteDoc,
        path: &str,
        rule_docs: &[Option<RuleDoc>],
        rules: &[Option<Rule>],
    ) -> Option<Route> {
        let errors_before = self.errors.len();
        if doc.name.trim().is_empty() {
            self.error(format!("{path}.name"), "must not be empty");
        }
        let matcher = self.matcher(&doc.matcher, &format!("{path}.match"));
        let wire = self.wire_dialect();
        if wire.is_some() {
            for (present, key) in [(doc.mcp.is_some(), "mcp"), (doc.graphql.is_some(), "graphql"), (doc.mask.is_some(), "mask")] {
                if present {
                    self.error(format!("{path}.{key}"), format!("not on a {:?} route: the filter reads the wire protocol", self.protocol).to_lowercase());
                }
            }
            if let Some(sql) = &doc.sql {
                if sql.preset.is_some() || sql.from.is_some() {
                    self.error(format!("{path}.sql"), "on the wire the SQL is the protocol's: only `dialect` may be set");
                }
            }
        }
        let sql = match (wire, &doc.sql) {
            (Some(default), sql) => {
                let dialect = match sql.as_ref().and_then(|s| s.dialect.as_deref()) {
                    Some(name) => self.dialect(name, &format!("{path}.sql.dialect")),
                    None => Some(default),
                };
                dialect.map(|dialect| SqlRoute { dialect, source: PayloadSource::Body })
            }
            (None, sql) => sql.as_ref().and_then(|s| self.sql_source(s, &format!("{path}.sql"))),
        };
        let mcp = doc.mcp.as_ref().and_then(|m| self.mcp_route(m, &format!("{path}.mcp")));
        let kinds: Vec<&str> = [(doc.sql.is_some(), "sql"), (doc.mcp.is_some(), "mcp"), (doc.graphql.is_some(), "graphql")]
            .into_iter()
            .filter_map(|(set, name)| set.then_some(name))
            .collect();
        if kinds.len() > 1 {
            let hint = if doc.mcp.is_some() && doc.sql.is_some() { " (SQL in tool arguments goes under mcp.sql)" } else { "" };
            self.error(path, format!("a route reads one kind of payload, this one names {}{hint}", kinds.join(" and ")));
        }
        let mask = doc.mask.as_ref().and_then(|m| self.mask(m, &format!("{path}.mask")));
        let reads_sql = sql.is_some() || doc.mcp.as_ref().is_some_and(|m| !m.sql.is_empty());
        let mut reads_json = false;
        let mut indexes = Vec::new();
        for (i, name) in doc.rules.iter().enumerate() {
            let rule_path = format!("{path}.rules[{i}]");
            match rule_docs.iter().position(|r| r.as_ref().is_some_and(|r| &r.name == name)) {
                None => {
                    let hint = closest(name, rule_docs.iter().flatten().map(|r| r.name.as_str()))
                        .map(|c| format!(" (did you mean {c:?}?)"))
                        .unwrap_or_default();
                    self.error(rule_path, format!("unknown rule {name:?}{hint}"));
                }
                Some(index) if indexes.contains(&index) => {
                    self.error(rule_path, format!("rule {name:?} is listed twice"));
                }
                Some(index) => {
                    if let Some(rule) = &rules[index] {
                        let http_only = rule.http.is_some() || !rule.json.is_empty();
                        let missing = if wire.is_some() && http_only {
                            Some("an http or json condition, but the route reads a database's wire protocol")
                        } else if rule.sql.is_some() && !reads_sql {
                            Some("a sql condition, but the route reads no SQL (add a sql section)")
                        } else if rule.mcp.is_some() && doc.mcp.is_none() {
                            Some("an mcp condition, but the route is not an MCP route (add an mcp section)")
                        } else if rule.graphql.is_some() && doc.graphql.is_none() {
                            Some("a graphql condition, but the route is not a GraphQL route (add a graphql section)")
                        } else {
                            None
                        };
                        if let Some(missing) = missing {
                            self.error(rule_path, format!("rule {name:?} has {missing}"));
                        }
                        reads_json |= !rule.json.is_empty() && doc.mcp.is_none();
                    }
                    indexes.push(index);
                }
            }
        }
        if self.errors.len() > errors_before {
            return None;
        }
        Some(Route {
            name: doc.name.clone(),
            matcher: matcher?,
            sql,
            mcp,
            graphql: doc.graphql.is_some(),
            mask,
            reads_json,
            default: doc.default,
            rules: indexes,
        })
    }

    /// The protocol's own dialect, when the policy reads a wire protocol.
    fn wire_dialect(&self) -> Option<Dialect> {
        match self.protocol {
            Protocol::Http => None,
            Protocol::Postgres => Some(Dialect::Postgres),
            Protocol::Mysql => Some(Dialect::Mysql),
        }
    }

    fn matcher(&mut self, doc: &MatchDoc, path: &str) -> Option<RouteMatcher> {
        let mut matcher = RouteMatcher::default();
        let http_keys = [
            (doc.path_prefix.is_some(), "path_prefix"),
            (doc.path.is_some(), "path"),
            (doc.methods.is_some(), "methods"),
            (doc.authority.is_some(), "authority"),
            (!doc.headers.is_empty(), "headers"),
        ];
        let wire_keys = [(doc.database.is_some(), "database"), (doc.user.is_some(), "user")];
        let (wrong, expected) = if self.protocol == Protocol::Http {
            (&wire_keys[..], "an HTTP policy matches path, methods, authority and headers")
        } else {
            (&http_keys[..], "a wire policy matches database and user")
        };
        for (present, key) in wrong {
            if *present {
                self.error(format!("{path}.{key}"), format!("not here: {expected}"));
            }
        }
        matcher.database = doc.database.as_ref().and_then(|g| self.glob(&format!("{path}.database"), g, Glob::new));
        matcher.user = doc.user.as_ref().and_then(|g| self.glob(&format!("{path}.user"), g, Glob::new));
        if let Some(prefix) = &doc.path_prefix {
            if !prefix.starts_with('/') {
                self.error(format!("{path}.path_prefix"), "must start with '/'");
            }
            matcher.path_prefix = Some(crate::http::normalize_path(prefix));
        }
        if let Some(glob) = &doc.path {
            if !glob.starts_with('/') && !glob.starts_with('*') {
                self.error(format!("{path}.path"), "must start with '/'");
            }
            matcher.path = self.glob(&format!("{path}.path"), glob, |p| Glob::with_separator(p, '/'));
        }
        if let Some(methods) = &doc.methods {
            self.non_empty(&format!("{path}.methods"), methods);
            let mut upper = Vec::new();
            for (i, m) in methods.iter().enumerate() {
                if m.is_empty() || !m.bytes().all(|b| b.is_ascii_alphabetic() || b == b'-') {
                    self.error(format!("{path}.methods[{i}]"), format!("{m:?} is not an HTTP method"));
                }
                upper.push(m.to_ascii_uppercase());
            }
            matcher.methods = Some(upper);
        }
        if let Some(authority) = &doc.authority {
            matcher.authority = self.glob(&format!("{path}.authority"), &authority.to_ascii_lowercase(), Glob::new);
        }
        for (i, header) in doc.headers.iter().enumerate() {
            if let Some(c) = self.header_condition(header, &format!("{path}.headers[{i}]")) {
                matcher.headers.push(c);
            }
        }
        Some(matcher)
    }

    fn sql_source(&mut self, doc: &SqlSourceDoc, path: &str) -> Option<SqlRoute> {
        let dialect = match &doc.dialect {
            Some(name) => Some(self.dialect(name, &format!("{path}.dialect"))?),
            None => None,
        };
        match (&doc.preset, &doc.from) {
            (Some(_), Some(_)) => {
                self.error(format!("{path}.from"), "a preset says where the SQL is: remove `from` or the preset");
                None
            }
            (Some(name), None) => match Preset::parse(name) {
                Some(preset) => Some(SqlRoute {
                    dialect: dialect.unwrap_or(preset.dialect()),
                    source: PayloadSource::Preset(preset),
                }),
                None => {
                    self.error(
                        format!("{path}.preset"),
                        format!("unknown preset {name:?}, expected one of: {}", Preset::NAMES.join(", ")),
                    );
                    None
                }
            },
            (None, from) => {
                let Some(dialect) = dialect else {
                    self.error(format!("{path}.dialect"), "required unless a preset is given");
                    return None;
                };
                let source = match from.clone().unwrap_or(FromDoc::Body) {
                    FromDoc::Body => PayloadSource::Body,
                    FromDoc::Json(pointer) => {
                        if let Err(e) = crate::http::check_pointer(&pointer) {
                            self.error(format!("{path}.from.json"), e);
                            return None;
                        }
                        PayloadSource::Json(vec![pointer])
                    }
                    FromDoc::QueryParam(name) if name.is_empty() => {
                        self.error(format!("{path}.from.query_param"), "must not be empty");
                        return None;
                    }
                    FromDoc::QueryParam(name) => PayloadSource::QueryParam(name),
                    FromDoc::Form(name) if name.is_empty() => {
                        self.error(format!("{path}.from.form"), "must not be empty");
                        return None;
                    }
                    FromDoc::Form(name) => PayloadSource::Form(name),
                };
                Some(SqlRoute { dialect, source })
            }
        }
    }

    fn rule(&mut self, doc: &RuleDoc, path: &str) -> Option<Rule> {
        let errors_before = self.errors.len();
        if doc.name.trim().is_empty() {
            self.error(format!("{path}.name"), "must not be empty");
        }
        let actor = doc.when.actor.as_ref().and_then(|a| self.actor(a, &format!("{path}.when.actor")));
        let sql = doc.when.sql.as_ref().and_then(|s| self.sql_condition(s, &format!("{path}.when.sql")));
        let http = doc.when.http.as_ref().and_then(|m| self.matcher(m, &format!("{path}.when.http")));
        let json = match &doc.when.json {
            Some(list) => self.json_conditions(list, &format!("{path}.when.json")),
            None => Vec::new(),
        };
        let mcp = doc.when.mcp.as_ref().map(|m| self.mcp_condition(m, &format!("{path}.when.mcp")));
        let graphql = doc.when.graphql.as_ref().map(|g| self.graphql_condition(g, &format!("{path}.when.graphql")));
        if self.errors.len() > errors_before {
            return None;
        }
        Some(Rule {
            name: doc.name.clone(),
            effect: doc.effect,
            monitor: doc.mode == Mode::Monitor,
            message: doc.message.clone(),
            actor,
            sql,
            http,
            json,
            mcp,
            graphql,
        })
    }

    fn globs(&mut self, path: &str, list: &[String], make: fn(&str) -> Result<Glob, String>) -> Vec<Glob> {
        self.non_empty(path, list);
        list.iter().enumerate().filter_map(|(i, p)| self.glob(&format!("{path}[{i}]"), p, make)).collect()
    }

    fn json_conditions(&mut self, list: &[JsonConditionDoc], path: &str) -> Vec<JsonCondition> {
        self.non_empty(path, list);
        let mut compiled = Vec::new();
        for (i, doc) in list.iter().enumerate() {
            let path = format!("{path}[{i}]");
            let pointer = match Pointer::parse(&doc.pointer) {
                Ok(p) => p,
                Err(e) => {
                    self.error(format!("{path}.pointer"), e);
                    continue;
                }
            };
            let test = match (&doc.equals, &doc.glob, doc.exists) {
                (Some(value), None, None) => JsonTest::Equals(value.clone()),
                (None, Some(glob), None) => match self.glob(&format!("{path}.glob"), glob, Glob::new) {
                    Some(g) => JsonTest::Glob(g),
                    None => continue,
                },
                (None, None, Some(exists)) => JsonTest::Exists(exists),
                _ => {
                    self.error(path, "set exactly one of equals, glob, exists");
                    continue;
                }
            };
            compiled.push(JsonCondition { pointer, test });
        }
        compiled
    }

    fn mcp_condition(&mut self, doc: &McpConditionDoc, path: &str) -> McpMatch {
        let list = |c: &mut Compiler, key: &str, value: &Option<Vec<String>>| {
            value.as_ref().map(|l| c.globs(&format!("{path}.{key}"), l, Glob::new))
        };
        McpMatch {
            methods: list(self, "methods", &doc.methods),
            tools: list(self, "tools", &doc.tools),
            resources: list(self, "resources", &doc.resources),
            prompts: list(self, "prompts", &doc.prompts),
            params: match &doc.params {
                Some(p) => self.json_conditions(p, &format!("{path}.params")),
                None => Vec::new(),
            },
        }
    }

    fn graphql_condition(&mut self, doc: &GraphqlConditionDoc, path: &str) -> GraphqlMatch {
        let operations = doc.operations.as_ref().map(|ops| {
            self.non_empty(&format!("{path}.operations"), ops);
            let mut kinds = Vec::new();
            for (i, name) in ops.iter().enumerate() {
                match OperationType::parse(&name.to_ascii_lowercase()) {
                    Some(kind) => kinds.push(kind),
                    None => self.error(
                        format!("{path}.operations[{i}]"),
                        format!("unknown GraphQL operation {name:?}, expected one of: {}", OperationType::NAMES.join(", ")),
                    ),
                }
            }
            kinds
        });
        let fields = doc.fields.as_ref().map(|f| self.globs(&format!("{path}.fields"), f, Glob::new));
        GraphqlMatch { operations, fields }
    }

    fn mcp_route(&mut self, doc: &McpRouteDoc, path: &str) -> Option<McpRoute> {
        let mut sql = Vec::new();
        for (i, entry) in doc.sql.iter().enumerate() {
            let path = format!("{path}.sql[{i}]");
            let tool = self.glob(&format!("{path}.tool"), &entry.tool, Glob::new);
            let pointer = Pointer::parse(&entry.pointer).map_err(|e| self.error(format!("{path}.pointer"), e)).ok();
            let dialect = self.dialect(&entry.dialect, &format!("{path}.dialect"));
            if let (Some(tool), Some(pointer), Some(dialect)) = (tool, pointer, dialect) {
                sql.push(McpSql { tool, pointer, dialect });
            }
        }
        Some(McpRoute { sql })
    }

    fn mask(&mut self, doc: &MaskDoc, path: &str) -> Option<crate::mask::Masker> {
        use crate::mask::{CustomPattern, FieldMatch, FieldRule, MaskError, Masker};
        let errors_before = self.errors.len();
        if doc.detectors.is_empty() && doc.patterns.is_empty() && doc.fields.is_empty() {
            self.error(path, "masks nothing: give detectors, patterns or fields");
        }
        if doc.max_body_bytes == 0 || doc.max_body_bytes > MAX_BODY_LIMIT {
            self.error(format!("{path}.max_body_bytes"), format!("must be between 1 and {MAX_BODY_LIMIT}"));
        }
        if doc.hash_key.as_deref().is_some_and(str::is_empty) {
            self.error(format!("{path}.hash_key"), "must not be empty (omit it for unkeyed hashes)");
        }
        let label_ok = |name: &str| !name.is_empty() && name.bytes().all(|b| b.is_ascii_alphanumeric() || b"_-.".contains(&b));
        for (i, pattern) in doc.patterns.iter().enumerate() {
            if !label_ok(&pattern.name) {
                self.error(format!("{path}.patterns[{i}].name"), "must be letters, digits, '_', '-' or '.'");
            }
        }
        let mut fields = Vec::new();
        for (i, field) in doc.fields.iter().enumerate() {
            let fpath = format!("{path}.fields[{i}]");
            let matcher = match (&field.name, &field.pointer) {
                (Some(name), None) => self.glob(&format!("{fpath}.name"), name, Glob::case_insensitive).map(FieldMatch::Name),
                (None, Some(pointer)) => match Pointer::parse(pointer) {
                    Ok(_) if pointer.is_empty() => {
                        self.error(format!("{fpath}.pointer"), "must name a field, not the whole document");
                        None
                    }
                    Ok(_) => Some(FieldMatch::Pointer(
                        pointer[1..].split('/').map(|s| s.replace("~1", "/").replace("~0", "~")).collect(),
                    )),
                    Err(e) => {
                        self.error(format!("{fpath}.pointer"), e);
                        None
                    }
                },
                _ => {
                    self.error(fpath, "set exactly one of name, pointer");
                    None
                }
            };
            let label = field.name.clone().or_else(|| field.pointer.clone()).unwrap_or_default();
            if !label.bytes().all(|b| b.is_ascii_graphic() && b != b'"' && b != b'\\') {
                self.error(format!("{path}.fields[{i}]"), "names and pointers must be printable ASCII without quotes or backslashes");
            }
            if let Some(matcher) = matcher {
                fields.push(FieldRule { matcher, action: field.action, label });
            }
        }
        let actor = doc.actor.as_ref().and_then(|a| self.actor(a, &format!("{path}.actor")));
        if self.errors.len() > errors_before {
            return None;
        }
        let custom: Vec<CustomPattern> =
            doc.patterns.iter().map(|p| CustomPattern { name: &p.name, regex: &p.regex, action: p.action }).collect();
        match Masker::compile(&doc.detectors, &custom, fields, doc.hash_key.as_deref()) {
            Ok(mut masker) => {
                masker.actor = actor;
                masker.max_body_bytes = doc.max_body_bytes;
                masker.on_unmaskable = doc.on_unmaskable;
                Some(masker)
            }
            Err(errors) => {
                for error in errors {
                    match error {
                        MaskError::UnknownDetector(name) => self.error(
                            format!("{path}.detectors.{name}"),
                            format!("unknown detector, expected one of: {}", crate::mask::detectors::names().join(", ")),
                        ),
                        MaskError::Pattern { index, message } => {
                            self.error(format!("{path}.patterns[{index}].regex"), message)
                        }
                        MaskError::Regex(message) => self.error(path, format!("patterns do not compile together: {message}")),
                    }
                }
                None
            }
        }
    }

    fn dialect(&mut self, name: &str, path: &str) -> Option<Dialect> {
        let dialect = Dialect::parse(name);
        if dialect.is_none() {
            self.error(path, format!("unknown dialect {name:?}, expected one of: {}", Dialect::NAMES.join(", ")));
        }
        dialect
    }

    fn actor(&mut self, doc: &ActorDoc, path: &str) -> Option<ActorMatch> {
        let detail = match doc {
            ActorDoc::Kind(kind) => ActorDetailDoc { kind: Some(kind.clone()), ..Default::default() },
            ActorDoc::Detailed(d) => d.clone(),
        };
        let kind_path = if matches!(doc, ActorDoc::Kind(_)) { path.to_string() } else { format!("{path}.kind") };
        let kind = match detail.kind.as_deref() {
            None | Some("any") => None,
            Some("agent") => Some(ActorKind::Agent),
            Some("human") => Some(ActorKind::Human),
            Some(other) => {
                self.error(kind_path, format!("unknown actor kind {other:?}, expected agent, human or any"));
                return None;
            }
        };
        let principals = match &detail.principals {
            None => None,
            Some(list) => {
                self.non_empty(&format!("{path}.principals"), list);
                let globs: Vec<Option<Glob>> = list
                    .iter()
                    .enumerate()
                    .map(|(i, p)| self.glob(&format!("{path}.principals[{i}]"), p, Glob::new))
                    .collect();
                Some(globs.into_iter().collect::<Option<Vec<_>>>()?)
            }
        };
        Some(ActorMatch { kind, principals, anonymous: detail.anonymous })
    }

    fn sql_condition(&mut self, doc: &SqlConditionDoc, path: &str) -> Option<SqlMatch> {
        let mut m = SqlMatch { unbounded: doc.unbounded, ..Default::default() };
        if let Some(ops) = &doc.operations {
            self.non_empty(&format!("{path}.operations"), ops);
            let mut set = OperationSet::EMPTY;
            for (i, name) in ops.iter().enumerate() {
                match Operation::parse(&name.to_ascii_lowercase()) {
                    Some(op) => set.insert(op),
                    None => {
                        let names: Vec<&str> = Operation::ALL.iter().map(|o| o.as_str()).collect();
                        self.error(
                            format!("{path}.operations[{i}]"),
                            format!("unknown operation {name:?}, expected one of: {}", names.join(", ")),
                        )
                    }
                }
            }
            m.operations = Some(set);
        }
        if let Some(tables) = &doc.tables {
            self.non_empty(&format!("{path}.tables"), tables);
            let mut patterns = Vec::new();
            for (i, table) in tables.iter().enumerate() {
                let tpath = format!("{path}.tables[{i}]");
                let parts: Vec<Option<Glob>> = split_table_pattern(table)
                    .iter()
                    .map(|part| self.glob(&tpath, part, Glob::case_insensitive))
                    .collect();
                if let Some(parts) = parts.into_iter().collect::<Option<Vec<_>>>() {
                    patterns.push(TablePattern { parts });
                }
            }
            m.tables = Some(patterns);
        }
        if let Some(columns) = &doc.columns {
            let cpath = format!("{path}.columns");
            let compile = |c: &mut Compiler, list: &[String], key: &str| -> Vec<Glob> {
                c.non_empty(&format!("{cpath}.{key}"), list);
                list.iter()
                    .enumerate()
                    .filter_map(|(i, p)| c.glob(&format!("{cpath}.{key}[{i}]"), p, Glob::case_insensitive))
                    .collect()
            };
            m.columns = match (&columns.only, &columns.any) {
                (Some(only), None) => Some(ColumnMatch::Only(compile(self, only, "only"))),
                (None, Some(any)) => Some(ColumnMatch::Any(compile(self, any, "any"))),
                _ => {
                    self.error(cpath, "set exactly one of only, any");
                    None
                }
            };
        }
        Some(m)
    }
}

/// Splits `a.b."c.d"` into parts; quotes keep dots and case-insensitivity still applies.
fn split_table_pattern(pattern: &str) -> Vec<String> {
    let mut parts = vec![String::new()];
    let mut quoted = false;
    for c in pattern.chars() {
        match c {
            '"' | '`' => quoted = !quoted,
            '.' if !quoted => parts.push(String::new()),
            c => parts.last_mut().expect("parts is never empty").push(c),
        }
    }
    parts
}

fn is_header_name(name: &str) -> bool {
    !name.is_empty()
        && name.bytes().all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b))
}

/// The candidate within edit distance 2, for "did you mean".
fn closest<'a>(name: &str, candidates: impl Iterator<Item = &'a str>) -> Option<&'a str> {
    candidates.map(|c| (distance(name, c), c)).filter(|(d, _)| *d <= 2).min_by_key(|(d, _)| *d).map(|(_, c)| c)
}

fn distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut previous = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let current = row[j + 1];
            row[j + 1] = (previous + usize::from(ca != *cb)).min(row[j] + 1).min(row[j + 1] + 1);
            previous = current;
        }
    }
    row[b.len()]
}
