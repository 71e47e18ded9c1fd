//! The actor: who is acting (principal) and whether it is an AI agent or a person.
//!
//! Sources are read in the policy's order and the first that yields a value wins. A source that
//! yields *conflicting* values (the same identity header twice with different values, as
//! separate header entries or comma-joined in one, as a gateway that appends would send them)
//! yields nothing: a client that can add a header must not get to pick which copy counts. An
//! actor whose sources conflicted counts as an agent; one with no principal at all counts as
//! `identity.unknown_actors` says (an agent unless told), never more leniently by default.

use serde::Deserialize;

use crate::glob::Glob;
use crate::http::{HeaderCondition, HeaderTest, Request};

/// How the actor is found: the policy's `identity` section, compiled.
#[derive(Clone, Debug)]
pub struct Identity {
    pub principal: Vec<PrincipalSource>,
    pub agent_when: Vec<AgentTest>,
    pub jwt_payload_key: String,
    /// The kind of an actor no source yields a principal for.
    pub unknown_actors: ActorKind,
}

/// One way of telling that the actor is an AI agent.
#[derive(Clone, Debug)]
pub enum AgentTest {
    Header(HeaderCondition),
    Principal(Glob),
    JwtClaim { name: String, equals: String },
    PeerSpiffe(Glob),
}

/// Where the principal may come from (`identity.principal`), in the policy's order.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum PrincipalSource {
    Header(String),
    JwtClaim(String),
    PeerSpiffe(bool),
    /// The database user of a wire connection.
    DbUser(bool),
    /// A Postgres startup parameter (`application_name`) or a MySQL connection attribute
    /// (`program_name`).
    ClientAttribute(String),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ActorKind {
    Agent,
    Human,
}

/// Where identity facts come from: the HTTP request, a database startup message, the peer.
pub trait Attributes {
    /// Every value of a header (or connection attribute), in order.
    fn values(&self, name: &str) -> Vec<&str>;
    /// A claim of the verified JWT payload that Envoy's jwt_authn stored under `payload_key`.
    /// Dotted names reach nested claims.
    fn jwt_claim(&self, payload_key: &str, claim: &str) -> Option<String>;
    /// The peer's SPIFFE ID from its mTLS certificate.
    fn peer_spiffe(&self) -> Option<String>;
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Actor {
    pub principal: Option<String>,
    pub kind: ActorKind,
    /// The source that yielded the principal: `header:x-agent-id`, `jwt:sub`, `spiffe`.
    pub source: Option<String>,
    pub spiffe: Option<String>,
    /// Sources skipped because they disagreed with themselves.
    pub conflicts: Vec<String>,
}

impl Actor {
    pub fn kind_str(&self) -> &'static str {
        match self.kind {
            ActorKind::Agent => "agent",
            ActorKind::Human => "human",
        }
    }
}

pub fn resolve(identity: &Identity, attributes: &dyn Attributes) -> Actor {
    let spiffe = attributes.peer_spiffe();
    let mut conflicts = Vec::new();
    let mut found: Option<(String, String)> = None;
    for source in &identity.principal {
        let (label, name) = match source {
            PrincipalSource::Header(name) => (format!("header:{}", name.to_ascii_lowercase()), Some(name.as_str())),
            PrincipalSource::DbUser(true) => ("db_user".to_string(), Some("user")),
            PrincipalSource::ClientAttribute(name) => (format!("client_attribute:{name}"), Some(name.as_str())),
            _ => (String::new(), None),
        };
        let (label, value) = match (source, name) {
            (_, Some(name)) => {
                let values = attributes.values(name);
                let mut distinct: Vec<&str> = values.iter().map(|v| v.trim()).filter(|v| !v.is_empty()).collect();
                distinct.dedup();
                match distinct.as_slice() {
                    [] => continue,
                    [one] => (label, one.to_string()),
                    _ => {
                        conflicts.push(label);
                        continue;
                    }
                }
            }
            (PrincipalSource::JwtClaim(claim), _) => match attributes.jwt_claim(&identity.jwt_payload_key, claim) {
                Some(v) if !v.is_empty() => (format!("jwt:{claim}"), v),
                _ => continue,
            },
            (PrincipalSource::PeerSpiffe(true), _) => match &spiffe {
                Some(id) => ("spiffe".to_string(), id.clone()),
                None => continue,
            },
            _ => continue,
        };
        found = Some((label, value));
        break;
    }
    let (source, principal) = match found {
        Some((label, value)) => (Some(label), Some(value)),
        None => (None, None),
    };
    let agent = identity.agent_when.iter().any(|test| match test {
        AgentTest::Header(condition) => {
            let values = attributes.values(&condition.name);
            match &condition.test {
                HeaderTest::Present => !values.is_empty(),
                HeaderTest::Absent => values.is_empty(),
                HeaderTest::Equals(v) => values.iter().any(|x| x.trim() == v),
                HeaderTest::Glob(g) => values.iter().any(|x| g.matches(x.trim())),
            }
        }
        AgentTest::Principal(glob) => principal.as_deref().is_some_and(|p| glob.matches(p)),
        AgentTest::JwtClaim { name, equals } => {
            attributes.jwt_claim(&identity.jwt_payload_key, name).is_some_and(|v| &v == equals)
        }
        AgentTest::PeerSpiffe(glob) => spiffe.as_deref().is_some_and(|s| glob.matches(s)),
    });
    let kind = if agent || !conflicts.is_empty() {
        ActorKind::Agent
    } else if principal.is_some() {
        ActorKind::Human
    } else {
        identity.unknown_actors
    };
    Actor { principal, kind, source, spiffe, conflicts }
}

/// Attributes of a database connection: its startup parameters (`user`, `database`,
/// `application_name`, MySQL connection attributes) and the peer's SPIFFE ID.
pub struct WireAttributes<'a> {
    pub params: &'a [(String, String)],
    pub peer_spiffe: Option<String>,
}

impl Attributes for WireAttributes<'_> {
    fn values(&self, name: &str) -> Vec<&str> {
        self.params.iter().filter(|(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str()).collect()
    }

    fn jwt_claim(&self, _payload_key: &str, _claim: &str) -> Option<String> {
        None
    }

    fn peer_spiffe(&self) -> Option<String> {
        self.peer_spiffe.clone()
    }
}

/// Attributes of an HTTP request: its headers, the claims of the JWT that Envoy verified (the
/// host looks them up), and the peer's SPIFFE ID.
pub struct HttpAttributes<'a> {
    pub request: &'a Request,
    /// A claim of the verified payload stored under `payload_key`: `(payload_key, claim)`.
    pub jwt_claim: &'a dyn Fn(&str, &str) -> Option<String>,
    pub peer_spiffe: Option<String>,
}

impl<'a> HttpAttributes<'a> {
    /// A request with no verified JWT and no peer certificate.
    pub fn headers_only(request: &'a Request) -> HttpAttributes<'a> {
        HttpAttributes { request, jwt_claim: &|_, _| None, peer_spiffe: None }
    }
}

impl Attributes for HttpAttributes<'_> {
    /// A header repeated and a header whose values are comma-joined are the same list (RFC 9110,
    /// 5.3): proxy-wasm hands each entry of the header map, and a gateway may have joined them.
    fn values(&self, name: &str) -> Vec<&str> {
        self.request.header_values(name).flat_map(|v| v.split(',')).collect()
    }

    fn jwt_claim(&self, payload_key: &str, claim: &str) -> Option<String> {
        (self.jwt_claim)(payload_key, claim)
    }

    fn peer_spiffe(&self) -> Option<String> {
        self.peer_spiffe.clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::policy::Policy;

    /// A dotted claim of a JWT payload, as Envoy's jwt_authn metadata serves it.
    fn claim(payload: &serde_json::Value, claim: &str) -> Option<String> {
        let mut value = payload;
        for part in claim.split('.') {
            value = value.get(part)?;
        }
        match value {
            serde_json::Value::String(s) => Some(s.clone()),
            serde_json::Value::Number(n) => Some(n.to_string()),
            serde_json::Value::Bool(b) => Some(b.to_string()),
            _ => None,
        }
    }

    fn identity(json: &str) -> Identity {
        let policy = format!(r#"{{"version":1,{json}"routes":[{{"name":"r"}}],"rules":[]}}"#);
        Policy::from_json(&policy).unwrap().identity
    }

    fn actor(identity: &Identity, headers: &[(&str, &str)], jwt: Option<serde_json::Value>, spiffe: Option<&str>) -> Actor {
        let request = Request::new("GET", "/", "h", headers.iter().map(|(a, b)| (a.to_string(), b.to_string())).collect());
        let lookup = |_: &str, name: &str| jwt.as_ref().and_then(|payload| claim(payload, name));
        let attrs = HttpAttributes { request: &request, jwt_claim: &lookup, peer_spiffe: spiffe.map(String::from) };
        resolve(identity, &attrs)
    }

    #[test]
    fn defaults_read_header_then_jwt_then_spiffe() {
        let id = identity("");
        let a = actor(&id, &[("X-Agent-Id", "agent:etl")], None, None);
        assert_eq!(a.principal.as_deref(), Some("agent:etl"));
        assert_eq!(a.kind, ActorKind::Agent);
        assert_eq!(a.source.as_deref(), Some("header:x-agent-id"));
        let b = actor(&id, &[], Some(serde_json::json!({"sub": "alice"})), Some("spiffe://x/y"));
        assert_eq!((b.principal.as_deref(), b.kind), (Some("alice"), ActorKind::Human));
        let c = actor(&id, &[("x-actor-kind", "agent")], None, Some("spiffe://mesh/ns/a/sa/bot"));
        assert_eq!((c.principal.as_deref(), c.kind), (Some("spiffe://mesh/ns/a/sa/bot"), ActorKind::Agent));
    }

    #[test]
    fn conflicting_repeated_headers_yield_nothing() {
        let id = identity("");
        let a = actor(&id, &[("x-agent-id", "alice"), ("x-agent-id", "agent:bot")], None, None);
        assert_eq!(a.principal, None);
        assert_eq!(a.conflicts, vec!["header:x-agent-id"]);
        let same = actor(&id, &[("x-agent-id", "alice"), ("x-agent-id", "alice")], None, None);
        assert_eq!(same.principal.as_deref(), Some("alice"));
        assert_eq!(same.kind, ActorKind::Human);
    }

    #[test]
    fn comma_joined_values_conflict_like_repeated_headers() {
        let id = identity("");
        let joined = actor(&id, &[("x-agent-id", "alice, agent:bot")], None, None);
        assert_eq!((joined.principal, joined.kind), (None, ActorKind::Agent));
        assert_eq!(joined.conflicts, vec!["header:x-agent-id"]);
        let repeated = actor(&id, &[("x-agent-id", "alice,alice")], None, None);
        assert_eq!((repeated.principal.as_deref(), repeated.kind), (Some("alice"), ActorKind::Human));
        let marked = actor(&id, &[("x-agent-id", "alice"), ("x-actor-kind", "human, agent")], None, None);
        assert_eq!(marked.kind, ActorKind::Agent, "an agent marker among joined values");
    }

    #[test]
    fn unknown_actors_count_as_agents_unless_told() {
        let anonymous = actor(&identity(""), &[], None, None);
        assert_eq!((anonymous.principal, anonymous.kind), (None, ActorKind::Agent));
        let lenient = identity(r#""identity":{"unknown_actors":"human"},"#);
        assert_eq!(actor(&lenient, &[], None, None).kind, ActorKind::Human);
        let conflicting = actor(&lenient, &[("x-agent-id", "alice"), ("x-agent-id", "bob")], None, None);
        assert_eq!(conflicting.kind, ActorKind::Agent, "a conflict is never an unknown human");
        let found_later = actor(&lenient, &[("x-agent-id", "a, b")], Some(serde_json::json!({"sub": "alice"})), None);
        assert_eq!((found_later.principal.as_deref(), found_later.kind), (Some("alice"), ActorKind::Agent));
    }

    #[test]
    fn a_bad_unknown_actors_setting_is_reported_at_its_path() {
        let policy = r#"{"version":1,"identity":{"unknown_actors":"robot"},"routes":[{"name":"r"}],"rules":[]}"#;
        let errors = Policy::from_json(policy).unwrap_err();
        assert_eq!(errors.len(), 1);
        assert_eq!(errors[0].path, "identity.unknown_actors");
        assert!(errors[0].message.contains("expected `agent` or `human`"), "{}", errors[0].message);
    }

    #[test]
    fn any_agent_marker_makes_an_agent() {
        let id = identity("");
        let a = actor(&id, &[("x-actor-kind", "human"), ("x-actor-kind", "agent")], None, None);
        assert_eq!(a.kind, ActorKind::Agent);
    }

    #[test]
    fn nested_jwt_claims_and_custom_conditions() {
        let id = identity(
            r#""identity":{"principal":[{"jwt_claim":"user.email"}],"agent_when":[{"jwt_claim":{"name":"act","equals":"agent"}}]},"#,
        );
        let a =
            actor(&id, &[("x-agent-id", "ignored")], Some(serde_json::json!({"user": {"email": "bot@x"}, "act": "agent"})), None);
        assert_eq!((a.principal.as_deref(), a.kind), (Some("bot@x"), ActorKind::Agent));
    }
}
