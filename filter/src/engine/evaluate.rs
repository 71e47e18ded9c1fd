//! Reading and deciding: the payload a route names, split into decision units, judged by
//! [`decide`]. Every way out names the route's kind of action, read or not.

use serde_json::Value;

use crate::decide::{decide, decide_limit, Action, Decision, Facts, Limit, Outcome, Unit};
use crate::graphql;
use crate::http::encoding::{self, Decoded};
use crate::http::{extract, parse_strict_json, ExtractError, Request};
use crate::identity::Actor;
use crate::llm;
use crate::mcp::{self, McpSql};
use crate::policy::Effect;
use crate::policy::{LlmRoute, Payload, Policy, Route, SqlRoute};
use crate::sql::{AnalysisCache, Dialect, Lexing, SessionChange, Settings, Statement};

/// Decides a request on its route. `body` is the complete, decoded body (`None`: no body);
/// size and content-encoding limits are the caller's, who sees the body arrive.
pub fn evaluate(
    policy: &Policy,
    route: &Route,
    actor: &Actor,
    request: &Request,
    body: Option<&[u8]>,
    cache: Option<&mut AnalysisCache>,
) -> Outcome {
    let mut read = Read { action: Action::nothing_read(&route.payload), units: Vec::new() };
    if let Err(decision) = read.payload(policy, route, request, body, cache) {
        return Outcome { decision: *decision, action: read.action };
    }
    let json = match body.filter(|b| route.reads_json && !b.is_empty()) {
        None => None,
        Some(bytes) => match json_body(bytes) {
            Ok(value) => Some(value),
            Err(error) => return Outcome { decision: limit(policy, error), action: read.action },
        },
    };
    let facts = Facts { request: Some(request), body: json.as_ref(), action: &read.action, units: &read.units };
    let decision = decide(policy, route, actor, &facts);
    Outcome { decision, action: read.action }
}

/// Decides the SQL text of one database message (a simple query, a statement being prepared)
/// on a wire route, as the session's `settings` read it. When the session cannot tell which of
/// several lexings applies, the text is decided in each, and a deny in any of them stands.
pub fn evaluate_sql(
    policy: &Policy,
    route: &Route,
    actor: &Actor,
    text: &str,
    settings: &Settings,
    mut cache: Option<&mut AnalysisCache>,
) -> Outcome {
    let Payload::Sql(sql) = &route.payload else {
        return limited(policy, route, Limit::Unparsable, format!("route {:?} reads no SQL", route.name));
    };
    let mut lexings = if settings.lexings.is_empty() { vec![Lexing::default_for(sql.dialect)] } else { settings.lexings.clone() };
    let first_lexing = lexings[0];
    let read = Statement::all_read(text, sql.dialect, first_lexing, &settings.search_path, cache.as_deref_mut());
    let relexed = relexed_midway(sql.dialect, text, &read);
    // The first reading is decided as read, not read again.
    let mut first = Some(read);
    match relexed {
        Relexed::No => {}
        Relexed::Quotes => lexings = Lexing::every(sql.dialect),
        Relexed::Charset => {
            let detail = "a text that changes its character set before more non-ASCII text".to_string();
            return limited(policy, route, Limit::Unparsable, detail);
        }
    }
    let mut chosen: Option<Outcome> = None;
    for &lexing in &lexings {
        let reused = if lexing == first_lexing { first.take() } else { None };
        let statements =
            reused.unwrap_or_else(|| Statement::all_read(text, sql.dialect, lexing, &settings.search_path, cache.as_deref_mut()));
        let units: Vec<Unit> = (0..statements.len()).map(Unit::Statement).collect();
        let action = Action::Sql(statements);
        let decision = decide(policy, route, actor, &Facts { request: None, body: None, action: &action, units: &units });
        let denied = decision.effect == Effect::Deny;
        if denied || chosen.is_none() {
            chosen = Some(Outcome { decision, action });
        }
        if denied {
            break;
        }
    }
    chosen.unwrap_or_else(|| limited(policy, route, Limit::Unparsable, "no reading of the text".to_string()))
}

/// Whether a text changes how its own later statements read.
enum Relexed {
    No,
    /// `sql_mode` set before more statements: they may be cut in any way.
    Quotes,
    /// The character set changed before non-ASCII text, decoded in the old one.
    Charset,
}

/// MySQL reads a multi-statement text one statement at a time, each with the settings the ones
/// before it left (Postgres lexes the whole text first, with the settings it arrived with).
fn relexed_midway(dialect: Dialect, text: &str, statements: &[Statement]) -> Relexed {
    if dialect != Dialect::Mysql {
        return Relexed::No;
    }
    let before_last = statements.len().saturating_sub(1);
    let mut found = Relexed::No;
    for statement in &statements[..before_last] {
        match &statement.intent().session {
            Some(SessionChange::Setting { .. } | SessionChange::Unseen) if !text.is_ascii() => return Relexed::Charset,
            Some(SessionChange::Setting { name, .. }) if name == "sql_mode" => found = Relexed::Quotes,
            Some(SessionChange::Unseen) => found = Relexed::Quotes,
            _ => {}
        }
    }
    found
}

/// [`evaluate_sql`] for a session whose database selects its route: a text that moves to
/// another database (`USE other; DELETE ...`) is also decided on the route of each database it
/// moves to (`route_of`), and a deny on any of them stands. Returns the deciding route.
pub fn evaluate_session_sql(
    policy: &Policy,
    route: usize,
    route_of: &dyn Fn(&str) -> Option<usize>,
    actor: &Actor,
    text: &str,
    settings: &Settings,
    mut cache: Option<&mut AnalysisCache>,
) -> (usize, Outcome) {
    let outcome = evaluate_sql(policy, &policy.routes[route], actor, text, settings, cache.as_deref_mut());
    let mut moved_to: Vec<usize> = Vec::new();
    for statement in outcome.action.statements() {
        if let Some(SessionChange::Database(database)) = &statement.intent().session {
            moved_to.extend(route_of(database).filter(|r| *r != route && !moved_to.contains(r)));
        }
    }
    if outcome.decision.effect == Effect::Deny {
        return (route, outcome);
    }
    for other in moved_to {
        let there = evaluate_sql(policy, &policy.routes[other], actor, text, settings, cache.as_deref_mut());
        if there.decision.effect == Effect::Deny {
            return (other, there);
        }
    }
    (route, outcome)
}

/// A database message the filter cannot read (a function call by OID, SQL that is not UTF-8).
pub fn unreadable(policy: &Policy, route: &Route, what: &str) -> Outcome {
    limited(policy, route, Limit::Unparsable, format!("the client sent {what}"))
}

/// The decision for a body or message of `size` bytes (as sent, or decoded) over
/// `limits.max_body_bytes`.
pub fn oversize(policy: &Policy, route: &Route, size: u64) -> Outcome {
    let detail = format!("the body ({size} bytes) is over limits.max_body_bytes ({})", policy.limits.max_body_bytes);
    limited(policy, route, Limit::Oversize, detail)
}

/// A model's answer on an `llm` route that cannot be read for its tool calls: too much to hold
/// (`Limit::Oversize`), not the API's shape (`Limit::Unparsable`), or compressed in a way the
/// filter does not read (`Limit::EncodedBody`); the policy's limit decides.
pub fn unreadable_answer(policy: &Policy, route: &Route, limit: Limit, detail: String) -> Outcome {
    limited(policy, route, limit, detail)
}

fn limited(policy: &Policy, route: &Route, limit: Limit, detail: String) -> Outcome {
    Outcome { decision: decide_limit(policy, limit, detail), action: Action::nothing_read(&route.payload) }
}

/// A request whose readings match different routes (`routes`, in policy order), recorded on
/// `route`, the first of them: denied, whatever their rules say.
pub fn ambiguous(policy: &Policy, route: &Route, routes: &[usize]) -> Outcome {
    let names: Vec<String> = routes.iter().filter_map(|&i| policy.routes.get(i)).map(|r| format!("{:?}", r.name)).collect();
    let detail = format!("the request's path or method reads as more than one route ({}): denied as ambiguous", names.join(", "));
    limited(policy, route, Limit::AmbiguousRoute, detail)
}

/// What a guarded request needs once its headers are in.
#[derive(Clone, Debug)]
pub enum AtHeaders {
    /// Decided from the headers alone.
    Decided(Box<Outcome>),
    /// The route reads the body: hold it until the end of the stream (at most
    /// `limits.max_body_bytes`, see [`oversize`]) and call [`with_body`].
    ReadBody,
}

/// Decides at the headers whatever can be: routes that read no body, requests that have none,
/// a declared `content-length` over the limit, a `content-encoding` the filter cannot read.
pub fn at_headers(
    policy: &Policy,
    route: &Route,
    actor: &Actor,
    request: &Request,
    end_of_stream: bool,
    cache: Option<&mut AnalysisCache>,
) -> AtHeaders {
    if !route.needs_body() || end_of_stream {
        return AtHeaders::Decided(Box::new(evaluate(policy, route, actor, request, None, cache)));
    }
    let declared = request.header("content-length").and_then(|v| v.trim().parse::<u64>().ok());
    if let Some(length) = declared.filter(|&l| l > policy.limits.max_body_bytes) {
        return AtHeaders::Decided(Box::new(oversize(policy, route, length)));
    }
    if let Err(reason) = encoding::check(request.header_values("content-encoding")) {
        return AtHeaders::Decided(Box::new(limited(policy, route, Limit::EncodedBody, reason)));
    }
    AtHeaders::ReadBody
}

/// Decides a request whose whole body has arrived, still in its `content-encoding`.
pub fn with_body(
    policy: &Policy,
    route: &Route,
    actor: &Actor,
    request: &Request,
    raw: &[u8],
    cache: Option<&mut AnalysisCache>,
) -> Outcome {
    let limit = policy.limits.max_body_bytes;
    if raw.len() as u64 > limit {
        return oversize(policy, route, raw.len() as u64);
    }
    match encoding::decode(request.header_values("content-encoding"), raw, limit as usize) {
        Decoded::Body(body) => evaluate(policy, route, actor, request, Some(&body), cache),
        Decoded::TooLarge => {
            let detail = format!("the decoded body is over limits.max_body_bytes ({limit})");
            limited(policy, route, Limit::Oversize, detail)
        }
        Decoded::Unsupported(reason) | Decoded::Corrupt(reason) => limited(policy, route, Limit::EncodedBody, reason),
    }
}

/// The decision a body that cannot be read gets.
fn limit(policy: &Policy, error: ExtractError) -> Decision {
    let limit = match error {
        ExtractError::Encoded(_) => Limit::EncodedBody,
        ExtractError::Missing(_) | ExtractError::Malformed(_) => Limit::Unparsable,
    };
    decide_limit(policy, limit, error.to_string())
}

fn json_body(bytes: &[u8]) -> Result<Value, ExtractError> {
    let text = std::str::from_utf8(bytes).map_err(|e| ExtractError::Malformed(format!("body is not UTF-8 ({e})")))?;
    parse_strict_json(text)
}

/// What has been read of a request so far, and its decision units.
struct Read {
    action: Action,
    units: Vec<Unit>,
}

impl Read {
    /// Reads the route's payload; a payload that cannot be read gives its limit's decision.
    fn payload(
        &mut self,
        policy: &Policy,
        route: &Route,
        request: &Request,
        body: Option<&[u8]>,
        cache: Option<&mut AnalysisCache>,
    ) -> Result<(), Box<Decision>> {
        match &route.payload {
            Payload::Http => Ok(()),
            Payload::Sql(sql) => self.sql(policy, sql, request, body, cache),
            Payload::Mcp(mcp) => self.mcp(policy, &mcp.sql, request, body, cache),
            Payload::Llm(llm) => self.llm(policy, llm, request, body, cache),
            Payload::Graphql => {
                let operations = graphql::operations(request, body).map_err(|e| Box::new(limit(policy, e)))?;
                self.units = (0..operations.len()).map(Unit::Operation).collect();
                self.action = Action::Graphql(operations);
                Ok(())
            }
        }
    }

    fn sql(
        &mut self,
        policy: &Policy,
        sql: &SqlRoute,
        request: &Request,
        body: Option<&[u8]>,
        mut cache: Option<&mut AnalysisCache>,
    ) -> Result<(), Box<Decision>> {
        let payloads = extract(&sql.source, request, body).map_err(|e| Box::new(limit(policy, e)))?;
        let mut statements = Vec::new();
        for payload in &payloads {
            let dialect = payload.dialect.unwrap_or(sql.dialect);
            let lexing = Lexing::default_for(dialect);
            statements.extend(Statement::all_read(&payload.text, dialect, lexing, &sql.search_path, cache.as_deref_mut()));
        }
        self.units = (0..statements.len()).map(Unit::Statement).collect();
        self.action = Action::Sql(statements);
        Ok(())
    }

    /// Every JSON-RPC message is a unit; a tool call carrying SQL is one unit per statement.
    fn mcp(
        &mut self,
        policy: &Policy,
        sources: &[McpSql],
        request: &Request,
        body: Option<&[u8]>,
        cache: Option<&mut AnalysisCache>,
    ) -> Result<(), Box<Decision>> {
        let messages = mcp::messages(body).map_err(|e| Box::new(limit(policy, e)))?;
        let mut statements = Vec::new();
        let outcome = mcp::check_headers(request, &messages.calls)
            .map_err(|detail| Box::new(decide_limit(policy, Limit::McpHeaders, detail)))
            .and_then(|()| self.tool_units(policy, sources, &messages.calls, &mut statements, cache));
        self.action = Action::Mcp { calls: messages.calls, batch: messages.batch, statements };
        outcome
    }

    /// A request to a model provider: the calls of the latest turn it sends results for are
    /// decided again (a denied one means the agent ran it anyway). A path that is none of the
    /// provider's APIs is a plain request.
    fn llm(
        &mut self,
        policy: &Policy,
        route: &LlmRoute,
        request: &Request,
        body: Option<&[u8]>,
        cache: Option<&mut AnalysisCache>,
    ) -> Result<(), Box<Decision>> {
        let Some(api) = llm::Api::at(route.provider, request.path()) else { return Ok(()) };
        let body = json_body(body.unwrap_or_default()).map_err(|e| Box::new(limit(policy, e)))?;
        let exchange = llm::request::read(api, &body);
        self.tool_calls(policy, route, exchange.model, &exchange.answered, cache)
    }

    /// Model tool calls as decision units, one `tools/call` message each.
    fn tool_calls(
        &mut self,
        policy: &Policy,
        route: &LlmRoute,
        model: Option<String>,
        calls: &[llm::ToolCall],
        cache: Option<&mut AnalysisCache>,
    ) -> Result<(), Box<Decision>> {
        let messages: Vec<mcp::Call> = calls.iter().map(llm::ToolCall::as_message).collect();
        let mut statements = Vec::new();
        let outcome = match calls.iter().position(|c| c.arguments.is_err()) {
            Some(index) => {
                let call = &calls[index];
                let error = call.arguments.as_ref().err().cloned().unwrap_or_default();
                let detail = format!("tool call {:?} ({}): {error}", call.name, call.id);
                let unit = Unit::Message { call: index, statement: None };
                Err(Box::new(Decision { unit, ..decide_limit(policy, Limit::Unparsable, detail) }))
            }
            None => self.tool_units(policy, &route.sql, &messages, &mut statements, cache),
        };
        self.action = Action::Llm { provider: route.provider, model, calls: messages, statements };
        outcome
    }

    /// One unit per message, or per statement of a tool's SQL arguments.
    fn tool_units(
        &mut self,
        policy: &Policy,
        sources: &[McpSql],
        calls: &[mcp::Call],
        statements: &mut Vec<Statement>,
        mut cache: Option<&mut AnalysisCache>,
    ) -> Result<(), Box<Decision>> {
        for (index, call) in calls.iter().enumerate() {
            let texts = mcp::sql_texts(call, sources).map_err(|error| {
                Box::new(Decision { unit: Unit::Message { call: index, statement: None }, ..limit(policy, error) })
            })?;
            if texts.is_empty() {
                self.units.push(Unit::Message { call: index, statement: None });
            }
            for (text, dialect) in texts {
                let first = statements.len();
                statements.extend(Statement::all_in(&text, dialect, cache.as_deref_mut()));
                self.units.extend((first..statements.len()).map(|i| Unit::Message { call: index, statement: Some(i) }));
            }
        }
        Ok(())
    }
}

/// Decides one tool call a model hands the agent, in a response on an `llm` route, as the
/// route's rules read a tool call (`when.tool`, `llm.sql`).
pub fn evaluate_tool_call(
    policy: &Policy,
    route: &Route,
    actor: &Actor,
    request: &Request,
    model: Option<String>,
    call: &llm::ToolCall,
    cache: Option<&mut AnalysisCache>,
) -> Outcome {
    let Payload::Llm(llm) = &route.payload else {
        return limited(policy, route, Limit::Unparsable, format!("route {:?} carries no tool calls", route.name));
    };
    let mut read = Read { action: Action::nothing_read(&route.payload), units: Vec::new() };
    if let Err(decision) = read.tool_calls(policy, llm, model, std::slice::from_ref(call), cache) {
        return Outcome { decision: *decision, action: read.action };
    }
    let facts = Facts { request: Some(request), body: None, action: &read.action, units: &read.units };
    Outcome { decision: decide(policy, route, actor, &facts), action: read.action }
}
