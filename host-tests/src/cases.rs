//! Policy files and case files for `guardrails test`: requests replayed through the compiled
//! filter, each with the decision it must get.
//!
//! ```yaml
//! defaults:                      # optional, merged into every request
//!   method: POST
//!   path: /api/v2/statements
//!   authority: warehouse.internal
//! cases:
//!   - name: agents may not drop tables
//!     request:
//!       headers: {x-agent-id: "agent:etl"}      # or a list of [name, value] pairs
//!       sql: DROP TABLE orders                  # placed where the matched route reads SQL
//!     expect: {decision: deny, rule: no-drops, status: 403}
//! ```
//!
//! A case gives at most one payload: `body` (sent as is), `sql` (carried as a client of the
//! route's API would carry it), `json` (a JSON body), `mcp` (a JSON-RPC request: `{tool, arguments}`
//! for a `tools/call`, or `{method, params}`) or `graphql` (a document, sent as `{"query": ...}`).
//! `expect` takes `decision` (`allow` or `deny`, required), and optionally `rule`,
//! `status`, `route` and `would_deny` (the shadow rule a monitor-mode decision names).
//! A case may give the upstream's `response` (`status`, `headers`, `body` or `json`) to an
//! allowed request; `expect.response_contains` / `response_excludes` check what the client
//! gets after masking.

use serde::Deserialize;
use serde_json::Value;

use access_guardrails::http::{carrier, Request};
use access_guardrails::policy::{Policy, PolicyError};

use crate::{Host, HostOptions, Plugin, StartError, StreamInfo};

/// A YAML (or JSON) policy as the JSON the filter receives, with every problem the filter would
/// log for it.
pub fn load_policy(text: &str) -> Result<(String, Policy), Vec<String>> {
    let value: Value = serde_norway::from_str(text).map_err(|e| vec![format!("not valid YAML: {e}")])?;
    let json = serde_json::to_string(&value).map_err(|e| vec![e.to_string()])?;
    Policy::from_json(&json).map(|p| (json, p)).map_err(|errors| errors.iter().map(PolicyError::to_string).collect())
}

#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum CaseFileDoc {
    List(Vec<Case>),
    Map(Box<CaseFile>),
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CaseFile {
    #[serde(default)]
    pub defaults: RequestDoc,
    pub cases: Vec<Case>,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Case {
    pub name: String,
    #[serde(default)]
    pub request: RequestDoc,
    /// What the upstream answers an allowed request (`200`, `{}` as JSON unless given).
    #[serde(default)]
    pub response: Option<ResponseDoc>,
    pub expect: Expect,
}

#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RequestDoc {
    pub method: Option<String>,
    pub path: Option<String>,
    pub authority: Option<String>,
    #[serde(default)]
    pub headers: Headers,
    pub body: Option<String>,
    pub sql: Option<String>,
    pub json: Option<Value>,
    pub mcp: Option<McpCallDoc>,
    pub graphql: Option<String>,
    /// The peer certificate's URI SAN, as Istio mTLS presents it.
    pub peer_spiffe: Option<String>,
    /// The verified JWT payload, as Envoy's jwt_authn stores it in dynamic metadata.
    pub jwt: Option<Value>,
}

/// The upstream's answer in a case.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ResponseDoc {
    pub status: Option<u32>,
    #[serde(default)]
    pub headers: Headers,
    pub body: Option<String>,
    /// A JSON body (content-type application/json unless the headers say otherwise).
    pub json: Option<Value>,
}

/// A JSON-RPC request of a case: a `tools/call` of `tool`, or any `method` with its `params`.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct McpCallDoc {
    pub tool: Option<String>,
    pub arguments: Option<Value>,
    pub method: Option<String>,
    pub params: Option<Value>,
    /// The JSON-RPC id (1 unless given).
    pub id: Option<Value>,
}

impl McpCallDoc {
    fn message(&self) -> Value {
        let (method, params) = match (&self.tool, &self.method) {
            (Some(tool), _) => (
                "tools/call".to_string(),
                serde_json::json!({"name": tool, "arguments": self.arguments.clone().unwrap_or(serde_json::json!({}))}),
            ),
            (None, method) => (method.clone().unwrap_or_default(), self.params.clone().unwrap_or(Value::Null)),
        };
        let mut message = serde_json::json!({"jsonrpc": "2.0", "id": self.id.clone().unwrap_or(1.into()), "method": method});
        if !params.is_null() {
            message["params"] = params;
        }
        message
    }
}

#[derive(Clone, Debug, Default, Deserialize)]
#[serde(untagged)]
pub enum Headers {
    #[default]
    None,
    Map(std::collections::BTreeMap<String, String>),
    Pairs(Vec<(String, String)>),
}

impl Headers {
    fn pairs(&self) -> Vec<(String, String)> {
        match self {
            Headers::None => Vec::new(),
            Headers::Map(m) => m.iter().map(|(k, v)| (k.clone(), v.clone())).collect(),
            Headers::Pairs(p) => p.clone(),
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Expected {
    Allow,
    Deny,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Expect {
    pub decision: Expected,
    pub rule: Option<String>,
    pub status: Option<u32>,
    pub route: Option<String>,
    pub would_deny: Option<String>,
    /// Texts the client must see in the response body (after masking).
    #[serde(default)]
    pub response_contains: Vec<String>,
    /// Texts the client must not see in it.
    #[serde(default)]
    pub response_excludes: Vec<String>,
}

pub fn load_cases(text: &str) -> Result<Vec<Case>, String> {
    let doc: CaseFileDoc = serde_norway::from_str(text).map_err(|e| format!("not a case file: {e}"))?;
    let file = match doc {
        CaseFileDoc::List(cases) => CaseFile { defaults: RequestDoc::default(), cases },
        CaseFileDoc::Map(file) => *file,
    };
    let mut cases = file.cases;
    for case in &mut cases {
        let d = &file.defaults;
        let r = &mut case.request;
        r.method = r.method.take().or_else(|| d.method.clone());
        r.path = r.path.take().or_else(|| d.path.clone());
        r.authority = r.authority.take().or_else(|| d.authority.clone());
        let mut headers = d.headers.pairs();
        let own = r.headers.pairs();
        headers.retain(|(k, _)| !own.iter().any(|(o, _)| o.eq_ignore_ascii_case(k)));
        headers.extend(own);
        r.headers = Headers::Pairs(headers);
        let payloads = [r.body.is_some(), r.sql.is_some(), r.json.is_some(), r.mcp.is_some(), r.graphql.is_some()];
        if payloads.iter().filter(|p| **p).count() > 1 {
            return Err(format!("case {:?}: give one of body, sql, json, mcp, graphql", case.name));
        }
        if let Some(call) = &r.mcp {
            if call.tool.is_some() == call.method.is_some() {
                return Err(format!("case {:?}: mcp takes tool (with arguments) or method (with params)", case.name));
            }
        }
        r.peer_spiffe = r.peer_spiffe.take().or_else(|| d.peer_spiffe.clone());
        r.jwt = r.jwt.take().or_else(|| d.jwt.clone());
    }
    Ok(cases)
}

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
            access_guardrails::policy::Payload::Sql(sql) => Some(sql.source.clone()),
            _ => None,
        });
        let carried = carrier(&source.unwrap_or(access_guardrails::http::PayloadSource::Body), sql);
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

/// Sends a prepared request through the filter on worker 0, the upstream answering 200.
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
    let property: Option<Value> =
        stream.filter_state.get("guardrails_decision").and_then(|v| serde_json::from_slice(v).ok());
    let field = |name: &str| property.as_ref().and_then(|p| p.get(name)).and_then(Value::as_str).map(String::from);
    let denied = stream.local_reply.as_ref().is_some_and(|r| r.header("x-guardrails-decision") == Some("deny"));
    let mut observed = Observed {
        decision: if denied || status != 200 { Expected::Deny } else { Expected::Allow },
        status,
        route: field("route"),
        rule: field("rule"),
        would_deny: field("would_deny"),
        message,
        response: None,
    };
    if status == 200 && !denied {
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
        observed.response = Some(String::from_utf8_lossy(&host.stream(id).response.forwarded_body).into_owned());
    }
    host.close(id);
    observed
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
            collect_audit(&mut host, policy, &mut report.audit, std::time::Duration::from_millis(u64::from(audit.batch.flush_ms) + 100));
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
