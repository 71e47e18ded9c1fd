//! Cases through the compiled filter: each request built as a client of its route would send
//! it, the decision the filter made read back, and compared with what the case expects.

use serde_json::Value;

use access_guardrails::engine::FilterState;
use access_guardrails::http::{PayloadSource, Request};
use access_guardrails::policy::{Payload, Policy};

use super::carrier::carrier;
use super::cases::{Case, Expect, Expected, RequestDoc, ResponseDoc};
use super::llm::{self, read::Answer};
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
    /// That body as the agent reads it, when the request is for a model provider's API.
    pub answer: Option<Answer>,
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
    let json = match (&request.json, &request.mcp, &request.graphql, &request.llm) {
        (Some(json), _, _, _) => Some(json.clone()),
        (_, Some(call), _, _) => {
            headers.push(("accept".into(), "application/json, text/event-stream".into()));
            Some(call.message())
        }
        (_, _, Some(document), _) => Some(serde_json::json!({ "query": document })),
        (_, _, _, Some(llm)) => Some(llm::render::request(llm)),
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
        answer: None,
    };
    if status == 200 && !denied {
        let path = prepared.headers.iter().find(|(k, _)| k == ":path").map(|(_, v)| v.as_str()).unwrap_or_default();
        let api = llm::api_at(path);
        let body = answer(host, id, api, response);
        observed.answer = api.map(|api| llm::read::answer(api, body.as_bytes()));
        observed.response = Some(body);
    }
    host.close(id);
    observed
}

/// The upstream answers an allowed request (`200`, `{}` as JSON unless the case says otherwise;
/// a model's answer in the API of the request's path); what the client gets of its body, or
/// the reply the filter sent instead.
fn answer(host: &mut Host, id: StreamId, api: Option<access_guardrails::llm::Api>, response: Option<&ResponseDoc>) -> String {
    let answer = response.cloned().unwrap_or_default();
    let mut headers = vec![(":status".to_string(), answer.status.unwrap_or(200).to_string())];
    headers.extend(answer.headers.pairs().into_iter().map(|(k, v)| (k.to_ascii_lowercase(), v)));
    let rendered = answer.llm.as_ref().zip(api).map(|(llm, api)| llm::render::response(api, llm));
    let body = match (&rendered, &answer.json, &answer.body) {
        (Some((_, body)), _, _) => body.clone(),
        (None, Some(json), _) => json.to_string().into_bytes(),
        (None, None, Some(body)) => body.clone().into_bytes(),
        (None, None, None) => b"{}".to_vec(),
    };
    let content_type = match &rendered {
        Some((content_type, _)) => Some(*content_type),
        None => (answer.json.is_some() || answer.body.is_none()).then_some("application/json"),
    };
    if let Some(content_type) = content_type.filter(|_| !headers.iter().any(|(k, _)| k == "content-type")) {
        headers.push(("content-type".into(), content_type.into()));
    }
    headers.push(("content-length".into(), body.len().to_string()));
    let pairs: Vec<(&str, &str)> = headers.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    host.response_headers(id, &pairs, false);
    host.response_body(id, &body, true);
    let stream = host.stream(id);
    let got = stream.local_reply.as_ref().map_or(&stream.response.forwarded_body, |reply| &reply.body);
    String::from_utf8_lossy(got).into_owned()
}

fn word(decision: Expected) -> &'static str {
    match decision {
        Expected::Allow => "allow",
        Expected::Deny => "deny",
    }
}

/// How an observation differs from what a case expects; `None` when it passes.
pub fn check(case: &Case, got: &Observed) -> Option<String> {
    let expect = &case.expect;
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
    if let Some(answer) = &got.answer {
        let sent = case.response.as_ref().and_then(|r| r.llm.as_ref());
        check_answer(expect, sent, answer, &mut problems);
    } else if !expect.tool_calls.is_empty() || expect.finish.is_some() {
        problems.push("expected a model's answer, but the request got none".into());
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

/// How the agent's reading of a model's answer differs from what a case expects of its calls:
/// an allowed call arrives with the arguments the model sent; a denied one does not arrive, and
/// the refusal that names it (and its rule) does, unless the answer is the provider's error.
fn check_answer(expect: &Expect, sent: Option<&llm::LlmResponseDoc>, answer: &Answer, problems: &mut Vec<String>) {
    problems.extend(answer.problems.iter().map(|p| format!("the answer would not parse: {p}")));
    for (id, wanted) in &expect.tool_calls {
        let seen = answer.calls.iter().find(|c| &c.id == id);
        let refusal = llm::read::refusal(&answer.text, id);
        match (wanted.decision, seen) {
            (Expected::Allow, None) => {
                let why = refusal.map(|rule| format!(": it was denied{}", by(rule.as_deref()))).unwrap_or_default();
                problems.push(format!("expected tool call {id} to arrive, it did not{why}"));
            }
            (Expected::Allow, Some(call)) => {
                let original = sent.and_then(|s| s.tool_calls.iter().find(|c| &c.id == id));
                let changed = original.filter(|o| !same_arguments(&llm::arguments_text(&o.arguments), &call.arguments));
                if let Some(original) = changed {
                    let was = llm::arguments_text(&original.arguments);
                    problems.push(format!("tool call {id} arrived with arguments {:?}, sent {was:?}", call.arguments));
                }
            }
            (Expected::Deny, Some(_)) => problems.push(format!("expected tool call {id} to be denied, it arrived")),
            (Expected::Deny, None) => match (refusal, &answer.error) {
                (None, None) => problems.push(format!("tool call {id} is gone, but no refusal names it")),
                (Some(rule), _) if wanted.rule.is_some() && rule != wanted.rule => problems.push(format!(
                    "expected tool call {id} denied{}, it was denied{}",
                    by(wanted.rule.as_deref()),
                    by(rule.as_deref())
                )),
                (None, Some(error)) => match &wanted.rule {
                    Some(rule) if !error.contains(rule.as_str()) => {
                        problems.push(format!("expected the provider's error to name rule {rule}, got {error:?}"))
                    }
                    _ => {}
                },
                (Some(_), _) => {}
            },
        }
    }
    if let Some(finish) = &expect.finish {
        if answer.finish.as_ref() != Some(finish) {
            let got = answer.finish.as_deref().unwrap_or("none");
            let error = answer.error.as_ref().map(|e| format!(" ({e})")).unwrap_or_default();
            problems.push(format!("expected the answer to finish {finish}, got {got}{error}"));
        }
    }
}

fn by(rule: Option<&str>) -> String {
    rule.map(|r| format!(" by {r}")).unwrap_or_default()
}

/// Arguments as the agent runs them: the same JSON, or the same text when either is not JSON.
fn same_arguments(sent: &str, got: &str) -> bool {
    match (serde_json::from_str::<Value>(sent), serde_json::from_str::<Value>(got)) {
        (Ok(a), Ok(b)) => a == b,
        _ => sent == got,
    }
}

/// The outcome of a run.
pub struct Report {
    pub passed: usize,
    pub failures: Vec<(String, String)>,
    /// The audit records the filter shipped, as JSON texts, in the order they arrived.
    pub audit: Vec<String>,
}

/// Runs every case through the filter loaded with the policy, in a host whose
/// `allow_on_headers_stop_iteration` is the policy's. With an `audit` section, the audit
/// cluster answers 200 to every batch and the records it received are returned.
pub fn run(plugin: &Plugin, policy_json: &str, policy: &Policy, cases: &[Case]) -> Result<Report, StartError> {
    let mut options = HostOptions::with_configuration(policy_json);
    // Envoy's plugin config is set as the policy says it is.
    options.allow_on_headers_stop_iteration = policy.proxy.allow_on_headers_stop_iteration;
    options.clusters.extend(policy.audit.as_ref().map(|a| a.cluster.clone()));
    let mut host = Host::start(plugin, options)?;
    let mut report = Report { passed: 0, failures: Vec::new(), audit: Vec::new() };
    for case in cases {
        let observed = exchange(&mut host, &prepare(policy, &case.request), case.response.as_ref());
        match check(case, &observed) {
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

#[cfg(test)]
mod tests {
    use access_guardrails::llm::Api;

    use super::*;
    use crate::cli::cases::load_cases;

    /// A case whose model answer has `call_ok` (allowed expected) and `call_no` (denied by `no-drops`).
    fn case() -> Case {
        let text = r#"
cases:
  - name: two calls
    request: {llm: {api: chat}}
    response: {llm: {tool_calls: [{id: call_ok, name: run_sql, arguments: {query: "SELECT 1"}}, {id: call_no, name: run_sql}]}}
    expect: {decision: allow, finish: tool_calls, tool_calls: {call_ok: {decision: allow}, call_no: {decision: deny, rule: no-drops}}}
"#;
        load_cases(text).unwrap().remove(0)
    }

    fn observed(body: serde_json::Value) -> Observed {
        let body = body.to_string();
        Observed {
            decision: Expected::Allow,
            status: 200,
            route: None,
            rule: None,
            would_deny: None,
            message: None,
            answer: Some(llm::read::answer(Api::ChatCompletions, body.as_bytes())),
            response: Some(body),
        }
    }

    fn chat(content: &str, calls: serde_json::Value, finish: &str) -> serde_json::Value {
        serde_json::json!({"choices": [{"index": 0, "finish_reason": finish, "message": {"content": content, "tool_calls": calls}}]})
    }

    const REFUSAL: &str =
        "[Access Guardrails] The tool call \"run_sql\" (call_no) was denied by rule \"no-drops\": no. It was not sent to you.";

    fn ok_call(arguments: &str) -> serde_json::Value {
        serde_json::json!([{"id": "call_ok", "type": "function", "function": {"name": "run_sql", "arguments": arguments}}])
    }

    #[test]
    fn what_the_filter_wrote_decides_an_llm_case() {
        let case = case();
        assert_eq!(check(&case, &observed(chat(REFUSAL, ok_call("{\"query\":\"SELECT 1\"}"), "tool_calls"))), None);
        let failures = [
            // The denied call arrived; nothing names it.
            (
                chat("", serde_json::json!([ok_call("{}")[0], {"id": "call_no", "function": {"name": "run_sql"}}]), "tool_calls"),
                "call_no to be denied, it arrived",
            ),
            // The allowed call is gone, refused.
            (
                chat(&REFUSAL.replace("call_no", "call_ok"), serde_json::json!(null), "stop"),
                "call_ok to arrive, it did not: it was denied by no-drops",
            ),
            // Another rule.
            (
                chat(&REFUSAL.replace("no-drops", "other"), ok_call("{\"query\":\"SELECT 1\"}"), "tool_calls"),
                "denied by no-drops, it was denied by other",
            ),
            // Gone without a word.
            (chat("", ok_call("{\"query\":\"SELECT 1\"}"), "tool_calls"), "call_no is gone, but no refusal names it"),
            // The allowed call's arguments changed.
            (chat(REFUSAL, ok_call("{\"query\":\"SELECT 2\"}"), "tool_calls"), "arrived with arguments"),
            // The finish reason.
            (chat(REFUSAL, ok_call("{\"query\":\"SELECT 1\"}"), "stop"), "expected the answer to finish tool_calls, got stop"),
        ];
        for (body, problem) in failures {
            let got = check(&case, &observed(body.clone())).unwrap_or_else(|| panic!("{body} passed"));
            assert!(got.contains(problem), "{got}");
        }
        let mut denied = observed(serde_json::json!({}));
        denied.answer = None;
        assert!(check(&case, &denied).unwrap().contains("expected a model's answer"));
    }
}
