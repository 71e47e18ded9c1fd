//! Facts + policy -> [`Decision`]: what a request asks for ([`Action`], split into [`Unit`]s),
//! judged by the route's rules.
//!
//! Per statement, among the route's matching rules in enforce mode any deny wins, then any
//! allow, then the route's `default`. A request is denied when any statement is. Shadow rules
//! (`mode: monitor`) and everything under a policy in monitor mode are recorded as would-deny
//! and never block.
//!
//! A deny rule matches when *any part* of a statement matches it (any operation, any object it
//! may touch); an allow rule only when it *covers the whole* statement (every operation, every
//! object). So `WITH d AS (DELETE ...) SELECT ...` is caught by a deny on `delete`
//! and not excused by an allow on `select`.
//!
//! A statement that does not parse is held against the deny rules with what its tokens suggest;
//! if none matches, `limits.on_unparsable` decides. It is never allowed by a rule.

use serde_json::Value;

use crate::graphql::Operation;
use crate::http::Request;
use crate::identity::Actor;
use crate::llm::Provider;
use crate::mcp::Call;
use crate::policy::{
    ActorMatch, ColumnMatch, Effect, GraphqlMatch, McpMatch, Mode, Payload, Policy, Route, Rule, SqlMatch, TablePattern,
    ToolMatch,
};
use crate::sql::{Intent, ObjectPath, SearchPath, Statement};

/// What a request (or a database message) asks for, read as its route's payload says. The
/// kind is the route's, whatever was or was not read: an MCP body that does not parse is
/// still an MCP action.
#[derive(Clone, Debug, PartialEq)]
pub enum Action {
    Http,
    Sql(Vec<Statement>),
    /// The JSON-RPC messages, whether they came as a batch, and the statements of the tool
    /// arguments that carry SQL.
    Mcp {
        calls: Vec<Call>,
        batch: bool,
        statements: Vec<Statement>,
    },
    Graphql(Vec<Operation>),
    /// A model provider's exchange: the tool calls decided (a response's, one at a time, or
    /// those whose results a request sends back), as MCP `tools/call` messages, and the
    /// statements of their SQL arguments.
    Llm {
        provider: Provider,
        model: Option<String>,
        calls: Vec<Call>,
        statements: Vec<Statement>,
    },
}

impl Action {
    /// The action of a route before anything was read (or when nothing could be).
    pub fn nothing_read(payload: &Payload) -> Action {
        match payload {
            Payload::Http => Action::Http,
            Payload::Sql(_) => Action::Sql(Vec::new()),
            Payload::Mcp(_) => Action::Mcp { calls: Vec::new(), batch: false, statements: Vec::new() },
            Payload::Graphql => Action::Graphql(Vec::new()),
            Payload::Llm(llm) => Action::Llm { provider: llm.provider, model: None, calls: Vec::new(), statements: Vec::new() },
        }
    }

    /// As the audit record's `action_kind` names it.
    pub fn kind(&self) -> &'static str {
        match self {
            Action::Http => "http",
            Action::Sql(_) => "sql",
            Action::Mcp { .. } => "mcp",
            Action::Graphql(_) => "graphql",
            Action::Llm { .. } => "llm",
        }
    }

    pub fn statements(&self) -> &[Statement] {
        match self {
            Action::Sql(statements) | Action::Mcp { statements, .. } | Action::Llm { statements, .. } => statements,
            Action::Http | Action::Graphql(_) => &[],
        }
    }

    pub fn calls(&self) -> &[Call] {
        match self {
            Action::Mcp { calls, .. } | Action::Llm { calls, .. } => calls,
            _ => &[],
        }
    }

    pub fn batch(&self) -> bool {
        matches!(self, Action::Mcp { batch: true, .. })
    }

    pub fn operations(&self) -> &[Operation] {
        match self {
            Action::Graphql(operations) => operations,
            _ => &[],
        }
    }
}

/// One thing a request asks for, decided on its own. Indexes point into the [`Action`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Unit {
    /// The request as a whole (REST, or a decision made before anything was read).
    #[default]
    Request,
    Statement(usize),
    /// An MCP message, with one statement of its tool's SQL arguments when it has any.
    Message {
        call: usize,
        statement: Option<usize>,
    },
    Operation(usize),
}

impl Unit {
    pub fn statement(self) -> Option<usize> {
        match self {
            Unit::Statement(i) | Unit::Message { statement: Some(i), .. } => Some(i),
            _ => None,
        }
    }

    pub fn call(self) -> Option<usize> {
        match self {
            Unit::Message { call, .. } => Some(call),
            _ => None,
        }
    }

    fn operation(self) -> Option<usize> {
        match self {
            Unit::Operation(i) => Some(i),
            _ => None,
        }
    }
}

/// What the engine read from a request.
#[derive(Clone, Copy)]
pub struct Facts<'a> {
    /// The HTTP request; `None` for a database message.
    pub request: Option<&'a Request>,
    /// The JSON body, when the route's rules look into it.
    pub body: Option<&'a Value>,
    pub action: &'a Action,
    /// Empty: the request is one unit.
    pub units: &'a [Unit],
}

/// A decision and the action it was made on.
#[derive(Clone, Debug, PartialEq)]
pub struct Outcome {
    pub decision: Decision,
    pub action: Action,
}

/// Why the decision came out as it did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Reason {
    /// A rule decided (named in [`Decision::rule`]).
    Rule,
    /// No enforcing rule matched: the route's `default`.
    RouteDefault,
    /// A policy limit decided.
    Limit(Limit),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Limit {
    Oversize,
    Unparsable,
    EncodedBody,
    /// Records cannot be delivered and the audit buffer is full.
    AuditUnavailable,
    /// An MCP request's routing headers disagree with its body: always denied.
    McpHeaders,
    /// Readings of the request's path or method match different routes: always denied.
    AmbiguousRoute,
}

impl Limit {
    /// The policy path of the limit, used where a rule name would stand.
    pub fn rule_name(self) -> &'static str {
        match self {
            Limit::Oversize => "limits.on_oversize",
            Limit::Unparsable => "limits.on_unparsable",
            Limit::EncodedBody => "limits.on_encoded_body",
            Limit::AuditUnavailable => "audit.on_unavailable",
            Limit::McpHeaders => "mcp.headers",
            Limit::AmbiguousRoute => "routes",
        }
    }
}

/// What a shadow rule, or the policy in monitor mode, would have done.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WouldDeny {
    pub rule: String,
    pub message: String,
    pub statement: Option<usize>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Decision {
    /// What happens to the request.
    pub effect: Effect,
    /// False when the policy is in monitor mode: nothing is blocked.
    pub enforced: bool,
    pub reason: Reason,
    /// The deciding rule, `limits.*` for a limit, `None` for a route default.
    pub rule: Option<String>,
    pub message: String,
    /// The deciding unit.
    pub unit: Unit,
    pub would_deny: Option<WouldDeny>,
}

impl Decision {
    pub fn is_deny(&self) -> bool {
        self.effect == Effect::Deny
    }

    /// Index of the deciding statement.
    pub fn statement(&self) -> Option<usize> {
        self.unit.statement()
    }

    /// Index of the deciding MCP message.
    pub fn call(&self) -> Option<usize> {
        self.unit.call()
    }
}

/// The decision of one statement, before the request-level merge.
struct Verdict {
    effect: Effect,
    reason: Reason,
    rule: Option<usize>,
    would: Option<usize>,
}

/// Decides a request from what the engine read of it.
pub fn decide(policy: &Policy, route: &Route, actor: &Actor, facts: &Facts<'_>) -> Decision {
    if matches!(route.payload, Payload::Sql(_)) && facts.action.statements().is_empty() {
        return decide_limit(policy, Limit::Unparsable, "the request holds no SQL statement".to_string());
    }
    let whole = [Unit::Request];
    let units = if facts.units.is_empty() { &whole[..] } else { facts.units };
    let verdicts: Vec<Verdict> = units.iter().map(|unit| verdict(policy, route, actor, facts, unit)).collect();
    let deciding = verdicts.iter().position(|v| v.effect == Effect::Deny).unwrap_or(0);
    let chosen = &verdicts[deciding];
    let statement = units[deciding].statement();
    let would_deny = verdicts.iter().zip(units).find_map(|(v, unit)| {
        v.would.map(|rule| WouldDeny {
            rule: policy.rules[rule].name.clone(),
            message: rule_message(&policy.rules[rule]),
            statement: unit.statement(),
        })
    });
    let unparsed = statement.and_then(|i| facts.action.statements()[i].unparsed());
    let (rule, message) = match (chosen.reason, chosen.rule) {
        (Reason::Rule, Some(index)) => {
            let rule = &policy.rules[index];
            let message = match (chosen.effect, unparsed) {
                (Effect::Deny, Some(unparsed)) => {
                    format!("{} (statement did not parse: {})", rule_message(rule), unparsed.error)
                }
                (Effect::Deny, None) => rule_message(rule),
                (Effect::Allow, _) => format!("allowed by rule {:?}", rule.name),
            };
            (Some(rule.name.clone()), message)
        }
        (Reason::Limit(limit), _) => {
            let detail = match (statement, unparsed) {
                (Some(i), Some(unparsed)) => format!("statement {} did not parse: {}", i + 1, unparsed.error),
                _ => "the request could not be analyzed".to_string(),
            };
            (Some(limit.rule_name().to_string()), detail)
        }
        _ => {
            let message = match chosen.effect {
                Effect::Deny => format!("no rule allows this on route {:?}", route.name),
                Effect::Allow => format!("allowed by default on route {:?}", route.name),
            };
            (None, message)
        }
    };
    finish(
        policy,
        Decision {
            effect: chosen.effect,
            enforced: true,
            reason: chosen.reason,
            rule,
            message,
            unit: units[deciding],
            would_deny,
        },
    )
}

/// A decision made by a limit before any SQL was analyzed (oversize, encoded, missing).
pub fn decide_limit(policy: &Policy, limit: Limit, detail: String) -> Decision {
    let effect = match limit {
        Limit::Oversize => policy.limits.on_oversize,
        Limit::Unparsable => policy.limits.on_unparsable,
        Limit::EncodedBody => policy.limits.on_encoded_body,
        Limit::AuditUnavailable => policy.audit.as_ref().map_or(Effect::Allow, |a| a.on_unavailable),
        Limit::McpHeaders | Limit::AmbiguousRoute => Effect::Deny,
    };
    finish(
        policy,
        Decision {
            effect,
            enforced: true,
            reason: Reason::Limit(limit),
            rule: Some(limit.rule_name().to_string()),
            message: detail,
            unit: Unit::Request,
            would_deny: None,
        },
    )
}

/// Under a policy in monitor mode a deny becomes an allow that records what it would have done.
fn finish(policy: &Policy, mut decision: Decision) -> Decision {
    if policy.mode == Mode::Monitor {
        decision.enforced = false;
        if decision.effect == Effect::Deny {
            decision.would_deny = Some(WouldDeny {
                rule: decision.rule.clone().unwrap_or_else(|| "default".to_string()),
                message: decision.message.clone(),
                statement: decision.statement(),
            });
            decision.effect = Effect::Allow;
        }
    }
    decision
}

fn rule_message(rule: &Rule) -> String {
    rule.message.clone().unwrap_or_else(|| format!("denied by rule {:?}", rule.name))
}

fn verdict(policy: &Policy, route: &Route, actor: &Actor, facts: &Facts<'_>, unit: &Unit) -> Verdict {
    let statement = unit.statement().map(|i| &facts.action.statements()[i]);
    let mut first_allow = None;
    let mut would = None;
    for &index in &route.rules {
        let rule = &policy.rules[index];
        let matched = match statement {
            None => rule.sql.is_none() && request_matches(rule, actor, facts, unit, rule.effect),
            Some(statement @ Statement { analysis: Ok(intent), .. }) => {
                request_matches(rule, actor, facts, unit, rule.effect)
                    && rule.sql.as_ref().is_none_or(|sql| sql_matches(sql, intent, &statement.search_path, rule.effect))
            }
            // Only grounds for a deny: a statement we cannot read is never allowed by a rule.
            Some(statement @ Statement { analysis: Err(unparsed), .. }) => {
                rule.effect == Effect::Deny
                    && request_matches(rule, actor, facts, unit, Effect::Deny)
                    && rule
                        .sql
                        .as_ref()
                        .is_none_or(|sql| sql_matches(sql, &unparsed.suspected, &statement.search_path, Effect::Deny))
            }
        };
        if !matched {
            continue;
        }
        match (rule.monitor, rule.effect) {
            (true, Effect::Deny) => {
                would.get_or_insert(index);
            }
            (true, Effect::Allow) => {}
            (false, Effect::Deny) => {
                return Verdict { effect: Effect::Deny, reason: Reason::Rule, rule: Some(index), would };
            }
            (false, Effect::Allow) => {
                first_allow.get_or_insert(index);
            }
        }
    }
    if matches!(statement, Some(Statement { analysis: Err(_), .. })) {
        return Verdict { effect: policy.limits.on_unparsable, reason: Reason::Limit(Limit::Unparsable), rule: None, would };
    }
    match first_allow {
        Some(index) => Verdict { effect: Effect::Allow, reason: Reason::Rule, rule: Some(index), would },
        None => Verdict { effect: route.default, reason: Reason::RouteDefault, rule: None, would },
    }
}

/// Every condition of the rule but `sql`.
fn request_matches(rule: &Rule, actor: &Actor, facts: &Facts<'_>, unit: &Unit, effect: Effect) -> bool {
    let call = unit.call().map(|i| &facts.action.calls()[i]);
    let operation = unit.operation().map(|i| &facts.action.operations()[i]);
    // JSON conditions look at the MCP message when there is one, else at the body.
    let document = call.map(|c| &c.message).or(facts.body).unwrap_or(&Value::Null);
    actor_matches(rule.actor.as_ref(), actor)
        && rule.http.as_ref().is_none_or(|m| facts.request.is_some_and(|r| m.matches_for_rule(r, effect == Effect::Deny)))
        && rule.json.iter().all(|c| c.holds(document))
        && rule.mcp.as_ref().is_none_or(|m| call.is_some_and(|c| mcp_matches(m, c)))
        && rule.tool.as_ref().is_none_or(|t| call.is_some_and(|c| tool_matches(t, c)))
        && rule.graphql.as_ref().is_none_or(|g| operation.is_some_and(|o| graphql_matches(g, o, effect)))
}

fn any_glob(globs: &Option<Vec<crate::glob::Glob>>, value: Option<&str>) -> bool {
    globs.as_ref().is_none_or(|globs| value.is_some_and(|v| globs.iter().any(|g| g.matches(v))))
}

fn mcp_matches(condition: &McpMatch, call: &Call) -> bool {
    let target_of = |method: &str| call.target.as_deref().filter(|_| call.method.as_deref() == Some(method));
    let resource = call.target.as_deref().filter(|_| call.method.as_deref().is_some_and(|m| m.starts_with("resources/")));
    any_glob(&condition.methods, call.method.as_deref())
        && any_glob(&condition.tools, target_of("tools/call"))
        && any_glob(&condition.prompts, target_of("prompts/get"))
        && any_glob(&condition.resources, resource)
        && condition.params.iter().all(|c| c.holds(call.params()))
}

/// A `tools/call` (an MCP one, or a model's tool call read as one) of a listed name whose
/// arguments meet every condition.
fn tool_matches(condition: &ToolMatch, call: &Call) -> bool {
    call.is_tool_call()
        && any_glob(&condition.names, call.target.as_deref())
        && condition.arguments.iter().all(|c| c.holds(&call.params()["arguments"]))
}

/// Deny: the operation is of a listed type and selects any listed field. Allow: every root
/// field it selects is listed.
fn graphql_matches(condition: &GraphqlMatch, operation: &Operation, effect: Effect) -> bool {
    if condition.operations.as_ref().is_some_and(|kinds| !kinds.contains(&operation.kind)) {
        return false;
    }
    let Some(globs) = &condition.fields else { return true };
    let listed = |field: &String| globs.iter().any(|g| g.matches(field));
    match effect {
        Effect::Deny => operation.fields.iter().any(listed),
        Effect::Allow => !operation.fields.is_empty() && operation.fields.iter().all(listed),
    }
}

pub fn actor_matches(condition: Option<&ActorMatch>, actor: &Actor) -> bool {
    let Some(condition) = condition else { return true };
    if condition.kind.is_some_and(|kind| kind != actor.kind) {
        return false;
    }
    if let Some(anonymous) = condition.anonymous {
        if anonymous != actor.principal.is_none() {
            return false;
        }
    }
    if let Some(globs) = &condition.principals {
        match &actor.principal {
            Some(p) => {
                if !globs.iter().any(|g| g.matches(p)) {
                    return false;
                }
            }
            None => return false,
        }
    }
    true
}

/// Deny: any part of the statement matches. Allow: the condition covers every operation and every
/// object of the statement. An unqualified name is each table it may stand for on the statement's
/// search path (`path`): a deny matches any of them, an allow must cover all of them.
fn sql_matches(condition: &SqlMatch, intent: &Intent, path: &SearchPath, effect: Effect) -> bool {
    let deny = effect == Effect::Deny;
    let table_matches = |object: &ObjectPath| condition.tables.as_ref().is_none_or(|ts| tables_match(ts, object, path, deny));

    if let Some(wanted) = condition.unbounded {
        if intent.unbounded != wanted {
            return false;
        }
    }
    if deny {
        match (condition.operations, &condition.tables) {
            (Some(ops), Some(_)) => {
                if !intent.accesses.iter().any(|a| ops.contains(a.operation) && table_matches(&a.object)) {
                    return false;
                }
            }
            (Some(ops), None) => {
                if !intent.operations.intersects(ops) {
                    return false;
                }
            }
            (None, Some(_)) => {
                if !intent.accesses.iter().any(|a| table_matches(&a.object)) {
                    return false;
                }
            }
            (None, None) => {}
        }
    } else {
        if let Some(ops) = condition.operations {
            if intent.operations.is_empty() || !intent.operations.is_subset(ops) {
                return false;
            }
        }
        if condition.tables.is_some() && !intent.accesses.iter().all(|a| table_matches(&a.object)) {
            return false;
        }
    }
    columns_match(condition, intent, deny)
}

/// Whether `patterns` cover `object`, resolved on `path` when the statement leaves it unqualified.
fn tables_match(patterns: &[TablePattern], object: &ObjectPath, path: &SearchPath, deny: bool) -> bool {
    let direct = || patterns.iter().any(|t| t.matches(object));
    let [name] = object.parts() else { return direct() };
    let qualified = |schema: &str| {
        let candidate = ObjectPath::new(vec![schema.to_string(), name.clone()]);
        patterns.iter().any(|t| t.matches(&candidate))
    };
    match (path, deny) {
        // Nothing known: the name may be in any schema a deny rule names.
        (SearchPath::Unknown, true) => patterns.iter().any(|t| t.matches_in_any_schema(object)),
        (SearchPath::Unknown, false) => direct(),
        (SearchPath::Known { .. }, true) => direct() || path.candidates(true).any(qualified),
        (SearchPath::Known { .. }, false) => {
            let mut candidates = path.candidates(false).peekable();
            if candidates.peek().is_none() {
                return direct();
            }
            candidates.all(qualified)
        }
    }
}

fn columns_match(condition: &SqlMatch, intent: &Intent, deny: bool) -> bool {
    match &condition.columns {
        None => true,
        Some(ColumnMatch::Only(allowed)) => {
            let written = &intent.columns_written;
            !written.unknown && !written.names.is_empty() && written.names.iter().all(|c| allowed.iter().any(|g| g.matches(c)))
        }
        Some(ColumnMatch::Any(listed)) => {
            let touched = intent.columns_written.names.iter().chain(&intent.columns_read);
            let named = touched.into_iter().any(|c| listed.iter().any(|g| g.matches(c)));
            named || (deny && (intent.reads_all_columns || intent.columns_written.unknown))
        }
    }
}
