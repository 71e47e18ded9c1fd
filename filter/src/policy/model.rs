//! The compiled policy's routes and rules: what [`super::Policy::from_json`] builds once, and
//! the engine reads per request.

use super::schema::{Effect, OnDeny};
use super::tables::TablePattern;
use crate::glob::Glob;
use crate::graphql::OperationType;
use crate::http::{PayloadSource, RouteMatcher};
use crate::identity::ActorKind;
use crate::json::JsonCondition;
use crate::llm::Provider;
use crate::mask::Masker;
use crate::mcp::McpSql;
use crate::sql::{Dialect, OperationSet, SearchPath};

#[derive(Clone, Debug)]
pub struct Route {
    pub name: String,
    pub matcher: RouteMatcher,
    /// What the route's requests carry, and so how they are read.
    pub payload: Payload,
    /// Masking of responses, for the actors it names.
    pub mask: Option<MaskRoute>,
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
        self.reads_json
            || match &self.payload {
                Payload::Http => false,
                Payload::Sql(sql) => sql.source.needs_body(),
                Payload::Mcp(_) | Payload::Graphql | Payload::Llm(_) => true,
            }
    }
}

/// The one kind of payload a route reads.
#[derive(Clone, Debug)]
pub enum Payload {
    /// Plain REST: rules see the request (and its JSON body when they look into it).
    Http,
    /// SQL, found where the route's source says (on the wire: every SQL-carrying message).
    Sql(SqlRoute),
    /// MCP JSON-RPC messages, with SQL in the tool arguments the route names.
    Mcp(McpRoute),
    /// GraphQL operations.
    Graphql,
    /// A model provider's API: the tool calls of its responses, and the results the agent
    /// sends back.
    Llm(LlmRoute),
}

/// A route's `mask` section: what to mask, whose responses, and what to do with a response
/// that cannot be masked.
#[derive(Clone, Debug)]
pub struct MaskRoute {
    pub masker: Masker,
    /// Whose responses are masked (everyone when `None`).
    pub actor: Option<ActorMatch>,
    pub on_unmaskable: Effect,
}

#[derive(Clone, Debug)]
pub struct McpRoute {
    pub sql: Vec<McpSql>,
}

#[derive(Clone, Debug)]
pub struct LlmRoute {
    pub provider: Provider,
    pub on_deny: OnDeny,
    /// Pointers relative to a tool call's `params`, as on an MCP route (`/arguments/query`).
    pub sql: Vec<McpSql>,
}

#[derive(Clone, Debug)]
pub struct SqlRoute {
    pub dialect: Dialect,
    pub source: PayloadSource,
    /// Where the server looks up an unqualified table name before the session changes it
    /// (`sql.search_path`); unknown when the route does not say.
    pub search_path: SearchPath,
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
    pub tool: Option<ToolMatch>,
    pub graphql: Option<GraphqlMatch>,
}

/// Conditions on a tool call (MCP or a model's); every present one must hold.
#[derive(Clone, Debug, Default)]
pub struct ToolMatch {
    pub names: Option<Vec<Glob>>,
    /// On the arguments object.
    pub arguments: Vec<JsonCondition>,
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
