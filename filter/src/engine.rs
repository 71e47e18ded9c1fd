//! One request through the whole engine: read the SQL the route names, analyze every
//! statement, decide. The filter, the `guardrails` command and the tests all come through here,
//! so they cannot disagree.


use crate::decide::{decide, decide_limit, Decision, Facts, Limit, Unit};
use crate::graphql::{self, Operation};
use crate::http::encoding::{self, Decoded};
use crate::http::reply::{self, Reply};
use crate::http::{extract, parse_strict_json, ExtractError, Request};
use crate::identity::Actor;
use crate::mcp::{self, Call};
use crate::policy::{Policy, Route};
use crate::sql::{analyze_each, AnalysisCache, Dialect, StatementAnalysis};

/// The decision and what it was based on.
#[derive(Clone, Debug)]
pub struct Outcome {
    pub decision: Decision,
    /// Every statement found, in request order.
    pub statements: Vec<StatementAnalysis>,
    /// The source text of each statement.
    pub texts: Vec<String>,
    /// The dialect each statement was read in.
    pub dialects: Vec<Dialect>,
    /// The MCP messages of the request, and whether they came as a batch.
    pub calls: Vec<Call>,
    pub batch: bool,
    /// The GraphQL operations the request runs.
    pub operations: Vec<Operation>,
}

impl Outcome {
    /// What was read, with the decision made on it.
    fn decided(mut self, decision: Decision) -> Outcome {
        self.decision = decision;
        self
    }

    pub fn of(decision: Decision) -> Outcome {
        Outcome {
            decision,
            statements: Vec::new(),
            texts: Vec::new(),
            dialects: Vec::new(),
            calls: Vec::new(),
            batch: false,
            operations: Vec::new(),
        }
    }

    /// The kind of action, as the audit record names it.
    pub fn action_kind(&self) -> &'static str {
        if !self.calls.is_empty() {
            "mcp"
        } else if !self.operations.is_empty() {
            "graphql"
        } else if !self.statements.is_empty() {
            "sql"
        } else {
            "http"
        }
    }
}

/// Decides a request on its route. `body` is the complete, decoded body (`None`: no body);
/// size and content-encoding limits are the caller's, who sees the body arrive.
pub fn evaluate(policy: &Policy, route: &Route, actor: &Actor, request: &Request, body: Option<&[u8]>) -> Outcome {
    evaluate_cached(policy, route, actor, request, body, None)
}

/// [`evaluate`], reusing the analysis of statements seen before when a cache is given.
pub fn evaluate_cached(
    policy: &Policy,
    route: &Route,
    actor: &Actor,
    request: &Request,
    body: Option<&[u8]>,
    mut cache: Option<&mut AnalysisCache>,
) -> Outcome {
    let limit = |error: ExtractError| {
        let limit = match error {
            ExtractError::Encoded(_) => Limit::EncodedBody,
            ExtractError::Missing(_) | ExtractError::Malformed(_) => Limit::Unparsable,
        };
        decide_limit(policy, limit, error.to_string())
    };
    // What the request holds, read below; every way out gives it its decision with `decided`.
    let mut read = Outcome::of(decide_limit(policy, Limit::Unparsable, String::new()));
    let mut units = Vec::new();
    let mut analyze = |read: &mut Outcome, text: &str, dialect: Dialect| -> Vec<usize> {
        let analyses = match cache.as_deref_mut() {
            Some(cache) => cache.analyze(text, dialect).as_ref().clone(),
            None => analyze_each(text, dialect),
        };
        let mut indexes = Vec::with_capacity(analyses.len());
        for analysis in analyses {
            let span = match &analysis {
                Ok(intent) => intent.span,
                Err(unparsed) => unparsed.suspected.span,
            };
            indexes.push(read.statements.len());
            read.texts.push(text.get(span.0..span.1).unwrap_or("").to_string());
            read.dialects.push(dialect);
            read.statements.push(analysis);
        }
        indexes
    };

    if let Some(mcp_route) = &route.mcp {
        let messages = match mcp::messages(body) {
            Ok(messages) => messages,
            Err(error) => return read.decided(limit(error)),
        };
        read.batch = messages.batch;
        if let Err(detail) = mcp::check_headers(request, &messages.calls) {
            read.calls = messages.calls;
            return read.decided(decide_limit(policy, Limit::McpHeaders, detail));
        }
        for (index, call) in messages.calls.iter().enumerate() {
            match mcp::sql_texts(call, &mcp_route.sql) {
                Err(error) => {
                    read.calls = messages.calls;
                    return read.decided(Decision { call: Some(index), ..limit(error) });
                }
                Ok(texts) if texts.is_empty() => units.push(Unit { call: Some(index), ..Unit::default() }),
                Ok(texts) => {
                    for (text, dialect) in texts {
                        for statement in analyze(&mut read, &text, dialect) {
                            units.push(Unit { statement: Some(statement), call: Some(index), operation: None });
                        }
                    }
                }
            }
        }
        read.calls = messages.calls;
    } else if route.graphql {
        read.operations = match graphql::operations(request, body) {
            Ok(operations) => operations,
            Err(error) => return read.decided(limit(error)),
        };
        units.extend((0..read.operations.len()).map(|i| Unit { operation: Some(i), ..Unit::default() }));
    } else if let Some(sql) = &route.sql {
        let payloads = match extract(&sql.source, request, body) {
            Ok(payloads) => payloads,
            Err(error) => return read.decided(limit(error)),
        };
        for payload in &payloads {
            for statement in analyze(&mut read, &payload.text, payload.dialect.unwrap_or(sql.dialect)) {
                units.push(Unit { statement: Some(statement), ..Unit::default() });
            }
        }
    }

    let json = match body.filter(|b| route.reads_json && !b.is_empty()) {
        None => None,
        Some(bytes) => {
            let parsed = std::str::from_utf8(bytes)
                .map_err(|e| ExtractError::Malformed(format!("body is not UTF-8 ({e})")))
                .and_then(parse_strict_json);
            match parsed {
                Ok(value) => Some(value),
                Err(error) => return read.decided(limit(error)),
            }
        }
    };
    let facts = Facts {
        request,
        body: json.as_ref(),
        statements: &read.statements,
        calls: &read.calls,
        operations: &read.operations,
        units: &units,
    };
    let decision = decide(policy, route, actor, &facts);
    read.decided(decision)
}

/// The local reply for an enforced deny: the JSON-RPC error an MCP client expects on an MCP
/// route, the HTTP deny body elsewhere.
pub fn denied_reply(route: &Route, outcome: &Outcome, request_id: Option<&str>) -> Reply {
    if route.mcp.is_some() {
        mcp::denied(&outcome.decision, &outcome.calls, outcome.batch, request_id)
    } else {
        reply::denied(&outcome.decision, request_id)
    }
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
        return AtHeaders::Decided(Box::new(evaluate_cached(policy, route, actor, request, None, cache)));
    }
    let declared = request.header("content-length").and_then(|v| v.trim().parse::<u64>().ok());
    if let Some(length) = declared.filter(|&l| l > policy.limits.max_body_bytes) {
        return AtHeaders::Decided(Box::new(oversize(policy, length)));
    }
    if let Err(reason) = encoding::check(request.header_values("content-encoding")) {
        return AtHeaders::Decided(Box::new(Outcome::of(decide_limit(policy, Limit::EncodedBody, reason))));
    }
    AtHeaders::ReadBody
}

/// The decision for a body of `size` bytes (as sent, or decoded) over `limits.max_body_bytes`.
pub fn oversize(policy: &Policy, size: u64) -> Outcome {
    let detail = format!("the body ({size} bytes) is over limits.max_body_bytes ({})", policy.limits.max_body_bytes);
    Outcome::of(decide_limit(policy, Limit::Oversize, detail))
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
        return oversize(policy, raw.len() as u64);
    }
    match encoding::decode(request.header_values("content-encoding"), raw, limit as usize) {
        Decoded::Body(body) => evaluate_cached(policy, route, actor, request, Some(&body), cache),
        Decoded::TooLarge => {
            let detail = format!("the decoded body is over limits.max_body_bytes ({limit})");
            Outcome::of(decide_limit(policy, Limit::Oversize, detail))
        }
        Decoded::Unsupported(reason) | Decoded::Corrupt(reason) => {
            Outcome::of(decide_limit(policy, Limit::EncodedBody, reason))
        }
    }
}
