//! Cases through the compiled filter: each request built as a client of its route would send
//! it, the decision the filter made read back, and compared with what the case expects.

use serde_json::Value;

use access_guardrails::engine::FilterState;
use access_guardrails::http::{PayloadSource, Request};
use access_guardrails::policy::{Payload, Policy};

use super::carrier::carrier;
use super::cases::{Case, Expect, Expected, RequestDoc, ResponseDoc};
use crate::{Host, HostOptions, Plugin, StartError, StreamId, StreamInfo};

/// What the filter did with one request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Observed {
    pub decision: Expected,
    pub status: u32,
    pub route: Option<String>,
    pub rule: Option<String>,
    pub would_deny: Option<String>,
    pub message: Option<String>,
    /// The response body the client got, when the request was allowed.
    pub response: Option<String>,
}

/// A request ready to send: pseudo-headers and headers, and the body.
pub struct Prepared {
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
    pub info: StreamInfo,
}

/// Builds the request of a case, placing `sql` where the route it matches reads SQL.
pub fn prepare(policy: &Policy, request: &RequestDoc) -> Prepared {
    let method = request.method.clone().unwrap_or_else(|| "POST".into());
    let mut path = request.path.clone().unwrap_or_else(|| "/".into());
    let authority = request.authority.clone().unwrap_or_else(|| "localhost".into());
    let mut headers = request.headers.pairs();
    let mut body = request.body.clone().unwrap_or_default().into_bytes();
    let json = match (&request.json, &request.mcp, &request.graphql) {
        (Some(json), _, _) => Some(json.clone()),
        (_, Some(call), _) => {
            headers.push(("accept".into(), "application/json, text/event-stream".into()));
            Some(call.message())
        }
        (_, _, Some(document)) => Some(serde_json::json!({ "query": document })),
        _ => None,
    };
    if let Some(json) = json {
        if !headers.iter().any(|(k, _)| k.eq_ignore_ascii_case("content-type")) {
            headers.push(("content-type".into(), "application/json".into()));
        }
        body = json.to_string().into_bytes();
    }
    if let Some(sql) = &request.sql {
        let probe = Request::new(&method, &path, &authority, headers.clone());
        let source = policy.route(&probe).and_then(|r| match &r.payload {
            Payload::Sql(sql) => Some(sql.source.clone()),
            _ => None,
        });
        let carried = carrier(&source.unwrap_or(PayloadSource::Body), sql);
        if let Some(query) = carried.query {
            path.push(if path.contains('?') { '&' } else { '?' });
            path.push_str(&query);
        }
        if let Some(ct) = carried.content_type {
            if !headers.iter().any(|(k, _)| k.eq_ignore_ascii_case("content-type")) && !carried.body.is_empty() {
                headers.push(("content-type".into(), ct.into()));
            }
        }
        body = carried.body.into_bytes();
    }
    let mut all = vec![
        (":method".to_string(), method),
        (":path".to_string(), path),
        (":authority".to_string(), authority),
        (":scheme".to_string(), "http".to_string()),
    ];
    if !body.is_empty() && !headers.iter().any(|(k, _)| k.eq_ignore_ascii_case("content-length")) {
        headers.push(("content-length".into(), body.len().to_string()));
    }
    all.extend(headers.into_iter().map(|(k, v)| (k.to_ascii_lowercase(), v)));
    let mut info = StreamInfo { peer_uri_san: request.peer_spiffe.clone(), ..StreamInfo::default() };
    if let Some(jwt) = &request.jwt {
        info.metadata = serde_json::json!({"filter_metadata": {"envoy.filters.http.jwt_authn": {"jwt_payload": jwt}}});
    }
    Prepared { headers: all, body, info }
}

/// Sends a prepared request through the filter on worker 0; the upstream answers an allowed one.
pub fn exchange(host: &mut Host, prepared: &Prepared, response: Option<&ResponseDoc>) -> Observed {
    let id = host.open_http(0, prepared.info.clone());
    let headers: Vec<(&str, &str)> = prepared.headers.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    host.request_headers(id, &headers, prepared.body.is_empty());
    if !prepared.body.is_empty() {
        host.request_body(id, &prepared.body, true);
    }
    let stream = host.stream(id);
    let (status, message) = match &stream.local_reply {
        Some(reply) => {
            let body: Value = serde_json::from_slice(&reply.body).unwrap_or(Value::Null);
            // The HTTP deny body, an MCP error, or the first error of an MCP batch.
            let message = ["/message", "/error/message", "/0/error/message"].iter().find_map(|p| body.pointer(p));
            (reply.status, message.and_then(Value::as_str).map(String::from))
        }
        None if stream.request.ended => (200, None),
        // Held and never released: the client would wait until a timeout.
        None => (0, None),
    };
    let state: Option<FilterState> = stream.filter_state.get("guardrails_decision").and_then(|v| serde_json::from_slice(v).ok());
    let denied = stream.local_reply.as_ref().is_some_and(|r| r.header("x-guardrails-decision") == Some("deny"));
    let mut observed = Observed {
        decision: if denied || status != 200 { Expected::Deny } else { Expected::Allow },
        status,
        route: state.as_ref().map(|s| s.route.clone()),
        rule: state.as_ref().and_then(|s| s.rule.clone()),
        would_deny: state.and_then(|s| s.would_deny),
        message,
        response: None,
    };
    if status == 200 && !denied {
        observed.response = Some(answer(host, id, response));
    }
    host.close(id);
    observed
}

/// The upstream answers an allowed request (`200`, `{}` as JSON unless the case says otherwise);
/// what the client gets of its body.
fn answer(host: &mut Host, id: StreamId, response: Option<&ResponseDoc>) -> String {
    let answer = response.cloned().unwrap_or_default();
    let mut headers = vec![(":status".to_string(), answer.status.unwrap_or(200).to_string())];
    headers.extend(answer.headers.pairs().into_iter().map(|(k, v)| (k.to_ascii_lowercase(), v)));
    let body = match (&answer.json, &answer.body) {
        (Some(json), _) => json.to_string().into_bytes(),
        (None, Some(body)) => body.clone().into_bytes(),
        (None, None) => b"{}".to_vec(),
    };
    if !headers.iter().any(|(k, _)| k == "content-type") && (answer.json.is_some() || answer.body.is_none()) {
        headers.push(("content-type".into(), "application/json".into()));
    }
    headers.push(("content-length".into(), body.len().to_string()));
    let pairs: Vec<(&str, &str)> = headers.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    host.response_headers(id, &pairs, false);
    host.response_body(id, &body, true);
    String::from_utf8_lossy(&host.stream(id).response.forwarded_body).into_owned()
}

fn word(decision: Expected) -> &'static str {
    match decision {
        Expected::Allow => "allow",
        Expected::Deny => "deny",
    }
}

/// How an observation differs from what a case expects; `None` when it passes.
pub fn check(expect: &Expect, got: &Observed) -> Option<String> {
    let mut problems = Vec::new();
    if expect.decision != got.decision {
        let by = got.rule.as_deref().map(|r| format!(" by {r}")).unwrap_or_default();
        problems.push(format!("expected {}, got {}{by}", word(expect.decision), word(got.decision)));
    }
    if let Some(rule) = &expect.rule {
        if got.rule.as_ref() != Some(rule) {
            problems.push(format!("expected rule {rule}, got {}", got.rule.as_deref().unwrap_or("none (route default)")));
        }
    }
    if let Some(status) = expect.status {
        if got.status != status {
            problems.push(format!("expected status {status}, got {}", got.status));
        }
    }
    if let Some(route) = &expect.route {
        if got.route.as_ref() != Some(route) {
            problems.push(format!("expected route {route}, got {}", got.route.as_deref().unwrap_or("none")));
        }
    }
    let seen = got.response.as_deref().unwrap_or("");
    for text in &expect.response_contains {
        if !seen.contains(text.as_str()) {
            problems.push(format!("expected the response to contain {text:?}, got {seen:?}"));
        }
    }
    for text in &expect.response_excludes {
        if seen.contains(text.as_str()) {
            problems.push(format!("expected the response not to contain {text:?}, got {seen:?}"));
        }
    }
    if let Some(would) = &expect.would_deny {
        if got.would_deny.as_ref() != Some(would) {
            problems.push(format!("expected would_deny {would}, got {}", got.would_deny.as_deref().unwrap_or("none")));
        }
    }
    if problems.is_empty() {
        return None;
    }
    let mut line = problems.join("; ");
    if let Some(message) = &got.message {
        line.push_str(&format!(" (message: {message})"));
    }
    Some(line)
}

/// The outcome of a run.
pub struct Report {
    pub passed: usize,
    pub failures: Vec<(String, String)>,
    /// The audit records the filter shipped, as JSON texts, in the order they arrived.
    pub audit: Vec<String>,
}

/// Runs every case through the filter loaded with the policy. With an `audit` section, the
/// audit cluster answers 200 to every batch and the records it received are returned.
pub fn run(plugin: &Plugin, policy_json: &str, policy: &Policy, cases: &[Case]) -> Result<Report, StartError> {
    let mut options = HostOptions::with_configuration(policy_json);
    options.clusters.extend(policy.audit.as_ref().map(|a| a.cluster.clone()));
    let mut host = Host::start(plugin, options)?;
    let mut report = Report { passed: 0, failures: Vec::new(), audit: Vec::new() };
    for case in cases {
        let observed = exchange(&mut host, &prepare(policy, &case.request), case.response.as_ref());
        match check(&case.expect, &observed) {
            None => report.passed += 1,
            Some(problem) => report.failures.push((case.name.clone(), problem)),
        }
        collect_audit(&mut host, policy, &mut report.audit, std::time::Duration::from_millis(1));
    }
    if let Some(audit) = &policy.audit {
        // Long enough for every partial batch to reach its flush interval.
        for _ in 0..4 {
            collect_audit(
                &mut host,
                policy,
                &mut report.audit,
                std::time::Duration::from_millis(u64::from(audit.batch.flush_ms) + 100),
            );
        }
    }
    Ok(report)
}

/// Moves the clock on and answers every audit batch with 200, keeping what it carried.
pub fn collect_audit(host: &mut Host, policy: &Policy, into: &mut Vec<String>, by: std::time::Duration) {
    let Some(audit) = &policy.audit else { return };
    host.advance(by);
    for call in host.http_calls() {
        if let Ok(records) = access_guardrails::audit::encode::records(audit.format, &call.body) {
            into.extend(records);
        }
        host.respond_http_call(call.token, 200, &[], b"");
    }
}
