//! One request through the whole engine: read the SQL the route names, analyze every
//! statement, decide. The filter, the `guardrails` command and the tests all come through here,
//! so they cannot disagree.

use crate::decide::{decide, decide_limit, Decision, Limit};
use crate::http::encoding::{self, Decoded};
use crate::http::{extract, ExtractError, Request};
use crate::identity::Actor;
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
}

impl Outcome {
    pub fn of(decision: Decision) -> Outcome {
        Outcome { decision, statements: Vec::new(), texts: Vec::new(), dialects: Vec::new() }
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
    let Some(sql) = &route.sql else {
        return Outcome::of(decide(policy, route, actor, &[]));
    };
    let payloads = match extract(&sql.source, request, body) {
        Ok(payloads) => payloads,
        Err(ExtractError::Encoded(detail)) => return Outcome::of(decide_limit(policy, Limit::EncodedBody, detail)),
        Err(ExtractError::Missing(detail) | ExtractError::Malformed(detail)) => {
            return Outcome::of(decide_limit(policy, Limit::Unparsable, detail))
        }
    };
    let (mut statements, mut texts, mut dialects) = (Vec::new(), Vec::new(), Vec::new());
    for payload in &payloads {
        let dialect = payload.dialect.unwrap_or(sql.dialect);
        let analyses = match cache.as_deref_mut() {
            Some(cache) => cache.analyze(&payload.text, dialect).as_ref().clone(),
            None => analyze_each(&payload.text, dialect),
        };
        for analysis in analyses {
            let span = match &analysis {
                Ok(intent) => intent.span,
                Err(unparsed) => unparsed.suspected.span,
            };
            texts.push(payload.text.get(span.0..span.1).unwrap_or("").to_string());
            dialects.push(dialect);
            statements.push(analysis);
        }
    }
    let decision = decide(policy, route, actor, &statements);
    Outcome { decision, statements, texts, dialects }
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
    let reads_body = route.sql.as_ref().is_some_and(|sql| sql.source.needs_body());
    if !reads_body || end_of_stream {
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
