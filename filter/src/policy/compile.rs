//! The policy compiler: one pass over the document that records every problem with its JSON
//! path and builds the compiled [`Policy`] when there is none. Sections live beside it:
//! `routes.rs` (routes, matchers, payload sources, masking) and `rules.rs` (rules and their
//! conditions).

use serde::de::DeserializeOwned;
use serde_json::Value;

use super::schema::*;
use super::{canonical_hash, Policy, PolicyError, Route, Rule, MAX_BODY_LIMIT};
use crate::glob::Glob;
use crate::http::{HeaderCondition, HeaderTest};
use crate::identity::{AgentTest, Identity};

const TOP_LEVEL: &[&str] = &["version", "protocol", "mode", "identity", "limits", "proxy", "routes", "rules", "audit"];

pub(super) struct Compiler {
    pub(super) errors: Vec<PolicyError>,
    /// The policy's protocol: HTTP and wire policies allow different keys.
    pub(super) protocol: Protocol,
    /// The policy's `proxy` section (defaults until it is read): what the host lets the filter do.
    pub(super) proxy: ProxyDoc,
}

/// Validates and compiles a policy document: the policy, or every problem with its path.
pub(super) fn compile(value: &Value) -> Result<Policy, Vec<PolicyError>> {
    let mut compiler = Compiler { errors: Vec::new(), protocol: Protocol::Http, proxy: ProxyDoc::default() };
    match compiler.policy(value) {
        Some(policy) if compiler.errors.is_empty() => Ok(policy),
        _ => Err(compiler.errors),
    }
}

impl Compiler {
    pub(super) fn error(&mut self, path: impl Into<String>, message: impl Into<String>) {
        self.errors.push(PolicyError { path: path.into(), message: message.into() });
    }

    /// Deserializes one part, reporting its first structural problem at its full path.
    pub(super) fn part<T: DeserializeOwned>(&mut self, value: &Value, path: &str) -> Option<T> {
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

    pub(super) fn glob(&mut self, path: &str, pattern: &str, make: fn(&str) -> Result<Glob, String>) -> Option<Glob> {
        match make(pattern) {
            Ok(g) => Some(g),
            Err(e) => {
                self.error(path, format!("bad glob: {e}"));
                None
            }
        }
    }

    pub(super) fn non_empty<T>(&mut self, path: &str, list: &[T]) {
        if list.is_empty() {
            self.error(path, "must not be empty");
        }
    }

    fn policy(&mut self, value: &Value) -> Option<Policy> {
        let Value::Object(doc) = value else {
            self.error("", "policy must be a JSON object");
            return None;
        };
        self.top_level(doc);
        self.protocol = doc.get("protocol").and_then(|v| self.part::<Protocol>(v, "protocol")).unwrap_or_default();
        let mode = doc.get("mode").and_then(|v| self.part::<Mode>(v, "mode")).unwrap_or_default();
        let identity = self.identity_section(doc.get("identity"));
        let limits = self.limits(doc.get("limits"));
        let proxy = match doc.get("proxy") {
            Some(v) => self.part::<ProxyDoc>(v, "proxy"),
            None => Some(ProxyDoc::default()),
        };
        self.proxy = proxy.clone().unwrap_or_default();
        let audit = match doc.get("audit") {
            Some(Value::Null) | None => None,
            Some(v) => self.part::<AuditDoc>(v, "audit").inspect(|a| self.check_audit(a)),
        };
        let rule_docs = self.list::<RuleDoc>(doc.get("rules"), "rules");
        let rules = self.rules(&rule_docs);
        let routes = self.routes(doc.get("routes"), &rule_docs, &rules);
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

    /// Unknown and missing top-level keys, and the version.
    fn top_level(&mut self, doc: &serde_json::Map<String, Value>) {
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
    }

    /// The identity section; a wire policy without one names the peer, then the database user.
    fn identity_section(&mut self, value: Option<&Value>) -> Option<Identity> {
        match value {
            Some(v) => self.part::<IdentityDoc>(v, "identity").map(|d| self.identity(d)),
            None if self.protocol != Protocol::Http => Some(self.identity(IdentityDoc {
                principal: vec![PrincipalSource::PeerSpiffe(true), PrincipalSource::DbUser(true)],
                ..IdentityDoc::default()
            })),
            None => Some(self.identity(IdentityDoc::default())),
        }
    }

    fn limits(&mut self, value: Option<&Value>) -> Option<Limits> {
        let limits = match value {
            Some(v) => self.part::<Limits>(v, "limits"),
            None => Some(Limits::default()),
        };
        if let Some(limits) = &limits {
            if limits.max_body_bytes == 0 || limits.max_body_bytes > MAX_BODY_LIMIT {
                self.error("limits.max_body_bytes", format!("must be between 1 and {MAX_BODY_LIMIT}"));
            }
        }
        limits
    }

    /// Every rule, compiled; `None` marks a broken one (its errors are recorded).
    fn rules(&mut self, rule_docs: &[Option<RuleDoc>]) -> Vec<Option<Rule>> {
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
        rules
    }

    fn routes(&mut self, value: Option<&Value>, rule_docs: &[Option<RuleDoc>], rules: &[Option<Rule>]) -> Vec<Route> {
        let route_docs = self.list::<RouteDoc>(value, "routes");
        if value.is_some_and(|r| r.as_array().is_some_and(Vec::is_empty)) {
            self.error("routes", "must not be empty: with no route the filter inspects nothing");
        }
        let mut routes = Vec::new();
        for (i, route) in route_docs.iter().enumerate() {
            let Some(route) = route else { continue };
            let path = format!("routes[{i}]");
            if route_docs[..i].iter().flatten().any(|r| r.name == route.name) {
                self.error(format!("{path}.name"), format!("duplicate route name {:?}", route.name));
            }
            if let Some(compiled) = self.route(route, &path, rule_docs, rules) {
                routes.push(compiled);
            }
        }
        routes
    }

    /// A list whose elements are deserialized one by one: `None` marks a broken element.
    pub(super) fn list<T: DeserializeOwned>(&mut self, value: Option<&Value>, path: &str) -> Vec<Option<T>> {
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
        Identity {
            principal: doc.principal,
            agent_when,
            jwt_payload_key: doc.jwt_payload_key,
            unknown_actors: doc.unknown_actors,
        }
    }

    pub(super) fn header_condition(&mut self, doc: &HeaderMatchDoc, path: &str) -> Option<HeaderCondition> {
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
}

pub(super) fn is_header_name(name: &str) -> bool {
    !name.is_empty() && name.bytes().all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b))
}
