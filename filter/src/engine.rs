//! One request through the whole engine: read the SQL the route names, analyze every
//! statement, decide. The filter, the `guardrails` command and the tests all come through here,
//! so they cannot disagree.

use crate::decide::{decide, decide_limit, Decision, Limit};
use crate::http::{extract, ExtractError, Request};
use crate::identity::Actor;
use crate::policy::{Policy, Route};
use crate::sql::{analyze_each, Dialect, StatementAnalysis};

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
    fn of(decision: Decision) -> Outcome {
        Outcome { decision, statements: Vec::new(), texts: Vec::new(), dialects: Vec::new() }
    }
}

/// Decides a request on its route. `body` is the complete, decoded body (`None`: no body);
/// size and content-encoding limits are the caller's, who sees the body arrive.
pub fn evaluate(policy: &Policy, route: &Route, actor: &Actor, request: &Request, body: Option<&[u8]>) -> Outcome {
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
        for analysis in analyze_each(&payload.text, dialect) {
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
