//! Policy v1 as written: the serde model of the plugin configuration.
//!
//! JSON on the wire, YAML in files (the `guardrails` command converts). Unknown fields are
//! errors everywhere. Each route, rule and section is deserialized on its own (see
//! [`super::compile`]), so one mistake does not hide the next.

use serde::{Deserialize, Serialize};

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Mode {
    #[default]
    Enforce,
    Monitor,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Effect {
    #[default]
    Allow,
    Deny,
}

impl Effect {
    pub fn as_str(self) -> &'static str {
        match self {
            Effect::Allow => "allow",
            Effect::Deny => "deny",
        }
    }
}

fn default_principal_sources() -> Vec<PrincipalSource> {
    vec![
        PrincipalSource::Header("x-agent-id".to_string()),
        PrincipalSource::JwtClaim("sub".to_string()),
        PrincipalSource::PeerSpiffe(true),
    ]
}

fn default_agent_conditions() -> Vec<AgentCondition> {
    vec![
        AgentCondition::Header(HeaderMatchDoc {
            name: "x-actor-kind".to_string(),
            equals: Some("agent".to_string()),
            glob: None,
            present: None,
        }),
        AgentCondition::Principal("agent:*".to_string()),
    ]
}

fn default_jwt_payload_key() -> String {
    "jwt_payload".to_string()
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IdentityDoc {
    /// Sources of the principal, in order; the first that yields a value wins.
    #[serde(default = "default_principal_sources")]
    pub principal: Vec<PrincipalSource>,
    /// The actor is an AI agent when any of these holds.
    #[serde(default = "default_agent_conditions")]
    pub agent_when: Vec<AgentCondition>,
    /// Key under which Envoy's `jwt_authn` filter stores the verified payload
    /// (`payload_in_metadata`).
    #[serde(default = "default_jwt_payload_key")]
    pub jwt_payload_key: String,
    /// The kind of an actor no source yields a principal for.
    #[serde(default = "default_unknown_actors")]
    pub unknown_actors: ActorKind,
}

impl Default for IdentityDoc {
    fn default() -> Self {
        IdentityDoc {
            principal: default_principal_sources(),
            agent_when: default_agent_conditions(),
            jwt_payload_key: default_jwt_payload_key(),
            unknown_actors: default_unknown_actors(),
        }
    }
}

pub use crate::identity::{ActorKind, PrincipalSource};

/// An actor the filter cannot name is held to what an agent is held to.
fn default_unknown_actors() -> ActorKind {
    ActorKind::Agent
}

/// What the filter reads: HTTP requests, or a database's wire protocol (loaded as a network
/// filter before `tcp_proxy`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Protocol {
    #[default]
    Http,
    Postgres,
    Mysql,
}

#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum AgentCondition {
    Header(HeaderMatchDoc),
    /// A glob over the principal.
    Principal(String),
    JwtClaim(ClaimMatchDoc),
    /// A glob over the peer's SPIFFE ID.
    PeerSpiffe(String),
    /// A startup parameter or connection attribute of a wire connection.
    ClientAttribute(HeaderMatchDoc),
}

#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HeaderMatchDoc {
    pub name: String,
    #[serde(default)]
    pub equals: Option<String>,
    #[serde(default)]
    pub glob: Option<String>,
    #[serde(default)]
    pub present: Option<bool>,
}

#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClaimMatchDoc {
    pub name: String,
    pub equals: String,
}

fn default_max_body_bytes() -> u64 {
    1_048_576
}

#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Limits {
    #[serde(default = "default_max_body_bytes")]
    pub max_body_bytes: u64,
    #[serde(default = "deny")]
    pub on_oversize: Effect,
    /// SQL that does not parse, or a missing payload.
    #[serde(default = "deny")]
    pub on_unparsable: Effect,
    /// A content-encoding the filter cannot read.
    #[serde(default = "deny")]
    pub on_encoded_body: Effect,
}

/// How the filter sits in Envoy's HTTP filter chain.
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProxyDoc {
    /// Set it as Envoy's plugin config sets `allow_on_headers_stop_iteration`. When true, the
    /// filter holds a guarded request's headers until its body is decided, so a denied request
    /// never reaches the upstream at all. When false (the default, and Istio's only choice),
    /// headers go on and the body is held: a denied request's body never reaches the upstream.
    #[serde(default)]
    pub allow_on_headers_stop_iteration: bool,
}

fn deny() -> Effect {
    Effect::Deny
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_body_bytes: default_max_body_bytes(),
            on_oversize: Effect::Deny,
            on_unparsable: Effect::Deny,
            on_encoded_body: Effect::Deny,
        }
    }
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RouteDoc {
    pub name: String,
    #[serde(rename = "match", default)]
    pub matcher: MatchDoc,
    #[serde(default)]
    pub sql: Option<SqlSourceDoc>,
    /// The route carries MCP (JSON-RPC over Streamable HTTP): each message is decided.
    #[serde(default)]
    pub mcp: Option<McpRouteDoc>,
    /// The route carries GraphQL: each operation is decided.
    #[serde(default)]
    pub graphql: Option<GraphqlRouteDoc>,
    /// The route carries a model provider's API: each tool call the model hands the agent is
    /// decided.
    #[serde(default)]
    pub llm: Option<LlmRouteDoc>,
    /// Masking of this route's responses.
    #[serde(default)]
    pub mask: Option<MaskDoc>,
    /// The decision when no enforcing rule matches.
    #[serde(default)]
    pub default: Effect,
    #[serde(default)]
    pub rules: Vec<String>,
}

#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct McpRouteDoc {
    /// Tool arguments that hold SQL, analyzed by the SQL engine.
    #[serde(default)]
    pub sql: Vec<McpSqlDoc>,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct McpSqlDoc {
    /// A glob over the tool name (`params.name` of `tools/call`).
    pub tool: String,
    /// Where the SQL is, relative to `params` (`/arguments/query`).
    pub pointer: String,
    pub dialect: String,
}

#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GraphqlRouteDoc {}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LlmRouteDoc {
    /// `openai` (Chat Completions, Responses) or `anthropic` (Messages).
    pub provider: String,
    #[serde(default)]
    pub on_deny: OnDeny,
    /// Tool arguments that hold SQL; the pointer is relative to the arguments (`/query`).
    #[serde(default)]
    pub sql: Vec<McpSqlDoc>,
}

/// What the agent gets in place of a denied tool call.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OnDeny {
    /// The response, rewritten: the call removed, an explanation in its place.
    #[default]
    Rewrite,
    /// The provider's own error format, status 403.
    Error,
}

/// `mask:` on a route: what to hide in its responses, and from whom.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MaskDoc {
    /// Whose responses are masked; everyone's without it.
    #[serde(default)]
    pub actor: Option<ActorDoc>,
    /// Built-in detectors and the action for each (`email: redact`).
    #[serde(default)]
    pub detectors: std::collections::BTreeMap<String, crate::mask::Action>,
    #[serde(default)]
    pub patterns: Vec<MaskPatternDoc>,
    /// JSON fields masked whole, by key name (any depth) or pointer.
    #[serde(default)]
    pub fields: Vec<MaskFieldDoc>,
    /// Key of the `hash` action (HMAC-SHA256); plain SHA-256 without one.
    #[serde(default)]
    pub hash_key: Option<String>,
    #[serde(default = "default_max_body_bytes")]
    pub max_body_bytes: u64,
    /// A response that cannot be masked (too large, an encoding the filter cannot read, or JSON
    /// that does not parse when fields are configured): `deny` replaces it with an error.
    #[serde(default = "deny")]
    pub on_unmaskable: Effect,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MaskPatternDoc {
    pub name: String,
    pub regex: String,
    #[serde(default = "redact")]
    pub action: crate::mask::Action,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MaskFieldDoc {
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub pointer: Option<String>,
    #[serde(default = "redact")]
    pub action: crate::mask::Action,
}

fn redact() -> crate::mask::Action {
    crate::mask::Action::Redact
}

#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MatchDoc {
    #[serde(default)]
    pub path_prefix: Option<String>,
    /// A glob over the normalized path (`*` stops at `/`, `**` does not).
    #[serde(default)]
    pub path: Option<String>,
    #[serde(default)]
    pub methods: Option<Vec<String>>,
    /// A glob over the host (and port, when the glob has one).
    #[serde(default)]
    pub authority: Option<String>,
    #[serde(default)]
    pub headers: Vec<HeaderMatchDoc>,
    /// Wire protocols: a glob over the connection's database.
    #[serde(default)]
    pub database: Option<String>,
    /// Wire protocols: a glob over the connection's user.
    #[serde(default)]
    pub user: Option<String>,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SqlSourceDoc {
    #[serde(default)]
    pub preset: Option<String>,
    #[serde(default)]
    pub dialect: Option<String>,
    #[serde(default)]
    pub from: Option<FromDoc>,
    #[serde(default)]
    pub search_path: Option<Vec<String>>,
}

#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum FromDoc {
    Body,
    Json(String),
    QueryParam(String),
    Form(String),
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RuleDoc {
    pub name: String,
    pub effect: Effect,
    /// `monitor`: a shadow rule, audited as would-deny, never blocking.
    #[serde(default)]
    pub mode: Mode,
    #[serde(default)]
    pub when: WhenDoc,
    #[serde(default)]
    pub message: Option<String>,
}

#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WhenDoc {
    #[serde(default)]
    pub actor: Option<ActorDoc>,
    #[serde(default)]
    pub sql: Option<SqlConditionDoc>,
    /// Conditions on the request line and headers, as a route's `match` takes them.
    #[serde(default)]
    pub http: Option<MatchDoc>,
    /// Conditions on the JSON body (on an MCP route: on the JSON-RPC message). All must hold.
    #[serde(default)]
    pub json: Option<Vec<JsonConditionDoc>>,
    #[serde(default)]
    pub mcp: Option<McpConditionDoc>,
    /// A tool call, whichever channel carries it: an MCP `tools/call` or a model's tool call.
    #[serde(default)]
    pub tool: Option<ToolConditionDoc>,
    #[serde(default)]
    pub graphql: Option<GraphqlConditionDoc>,
}

#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ToolConditionDoc {
    /// Globs over the tool's name.
    #[serde(default)]
    pub names: Option<Vec<String>>,
    /// Conditions on the arguments (`/force`). All must hold.
    #[serde(default)]
    pub arguments: Option<Vec<JsonConditionDoc>>,
}

/// `{pointer: /force, equals: true}`, `{pointer: /env, glob: "prod*"}`, `{pointer: /x, exists: true}`.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JsonConditionDoc {
    pub pointer: String,
    #[serde(default, deserialize_with = "present")]
    pub equals: Option<serde_json::Value>,
    #[serde(default)]
    pub glob: Option<String>,
    #[serde(default)]
    pub exists: Option<bool>,
}

/// Keeps an explicit `null` as `Some(Null)`, so `equals: null` means "equals null".
fn present<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<serde_json::Value>, D::Error> {
    serde_json::Value::deserialize(d).map(Some)
}

#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct McpConditionDoc {
    /// Globs over the JSON-RPC method (`tools/call`, `resources/*`).
    #[serde(default)]
    pub methods: Option<Vec<String>>,
    /// Globs over the tool of a `tools/call`.
    #[serde(default)]
    pub tools: Option<Vec<String>>,
    /// Globs over the URI of a `resources/read` (or subscribe).
    #[serde(default)]
    pub resources: Option<Vec<String>>,
    /// Globs over the prompt of a `prompts/get`.
    #[serde(default)]
    pub prompts: Option<Vec<String>>,
    /// Conditions on `params` (`/arguments/force`). All must hold.
    #[serde(default)]
    pub params: Option<Vec<JsonConditionDoc>>,
}

#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GraphqlConditionDoc {
    /// `query`, `mutation`, `subscription`.
    #[serde(default)]
    pub operations: Option<Vec<String>>,
    /// Globs over root field names (aliases are seen through).
    #[serde(default)]
    pub fields: Option<Vec<String>>,
}

/// `actor: agent` or `actor: {kind: agent, principals: ["agent:etl-*"]}`.
#[derive(Clone, Debug, Deserialize)]
#[serde(untagged)]
pub enum ActorDoc {
    Kind(String),
    Detailed(ActorDetailDoc),
}

#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ActorDetailDoc {
    /// `agent`, `human` or `any`.
    #[serde(default)]
    pub kind: Option<String>,
    #[serde(default)]
    pub principals: Option<Vec<String>>,
    /// `true`: only actors with no principal; `false`: only identified ones.
    #[serde(default)]
    pub anonymous: Option<bool>,
}

#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SqlConditionDoc {
    #[serde(default)]
    pub operations: Option<Vec<String>>,
    #[serde(default)]
    pub tables: Option<Vec<String>>,
    #[serde(default)]
    pub columns: Option<ColumnsDoc>,
    #[serde(default)]
    pub unbounded: Option<bool>,
}

#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ColumnsDoc {
    /// Every written column is one of these.
    #[serde(default)]
    pub only: Option<Vec<String>>,
    /// Some column read or written is one of these.
    #[serde(default)]
    pub any: Option<Vec<String>>,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum AuditFormat {
    #[default]
    Ndjson,
    Otlp,
    Elasticsearch,
    SplunkHec,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum StatementDetail {
    #[default]
    Full,
    Fingerprint,
    None,
}

fn default_max_records() -> u32 {
    500
}
fn default_max_bytes() -> u32 {
    262_144
}
fn default_flush_ms() -> u32 {
    1_000
}
fn default_buffer_records() -> u32 {
    10_000
}

#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BatchDoc {
    #[serde(default = "default_max_records")]
    pub max_records: u32,
    #[serde(default = "default_max_bytes")]
    pub max_bytes: u32,
    #[serde(default = "default_flush_ms")]
    pub flush_ms: u32,
}

impl Default for BatchDoc {
    fn default() -> Self {
        BatchDoc { max_records: default_max_records(), max_bytes: default_max_bytes(), flush_ms: default_flush_ms() }
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BufferDoc {
    #[serde(default = "default_buffer_records")]
    pub max_records: u32,
}

impl Default for BufferDoc {
    fn default() -> Self {
        BufferDoc { max_records: default_buffer_records() }
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuditDoc {
    /// An Envoy cluster.
    pub cluster: String,
    #[serde(default)]
    pub authority: Option<String>,
    #[serde(default = "default_audit_path")]
    pub path: String,
    #[serde(default)]
    pub format: AuditFormat,
    #[serde(default)]
    pub batch: BatchDoc,
    #[serde(default)]
    pub buffer: BufferDoc,
    /// `deny`: no action without an audit trail.
    #[serde(default)]
    pub on_unavailable: Effect,
    #[serde(default)]
    pub statement: StatementDetail,
    /// HMAC-SHA256 key for the record chain; plain SHA-256 without one.
    #[serde(default)]
    pub chain_key: Option<String>,
    /// Extra request headers for the sink (an `Authorization` for Splunk HEC, say).
    #[serde(default)]
    pub headers: std::collections::BTreeMap<String, String>,
}

fn default_audit_path() -> String {
    "/".to_string()
}
