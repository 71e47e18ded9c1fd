//! Policy files and case files for `guardrails test`: requests to replay through the compiled
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
//!
//! On an `llm` route, `request.llm` is a request to a model provider (`{api: chat | responses |
//! messages, model, prompt, results: [{id, name, arguments, output}]}`, the path from the API
//! unless given) and `response.llm` the provider's answer (`{text, tool_calls: [{id, name,
//! arguments}], stream}`), both rendered by [`super::llm::render`]. `expect.tool_calls` says,
//! per call id, whether the agent gets it (`decision: allow`, its arguments intact) or not
//! (`decision: deny`, the refusal in its place naming `rule`), and `expect.finish` the finish
//! reason the agent reads (or `error`), all read from what the filter wrote back.

use serde::Deserialize;
use serde_json::Value;

use access_guardrails::policy::{Policy, PolicyError};

use super::llm::{api_at, LlmRequestDoc, LlmResponseDoc};

/// A YAML (or JSON) policy as the JSON the filter receives, with every problem the filter would
/// log for it.
pub fn load_policy(text: &str) -> Result<(String, Policy), Vec<String>> {
    let value: Value = serde_norway::from_str(text).map_err(|e| vec![format!("not valid YAML: {e}")])?;
    let json = serde_json::to_string(&value).map_err(|e| vec![e.to_string()])?;
    Policy::from_json(&json).map(|p| (json, p)).map_err(|errors| errors.iter().map(PolicyError::to_string).collect())
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
    /// A request to a model provider.
    pub llm: Option<LlmRequestDoc>,
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
    /// A model provider's answer, in the API the request is for.
    pub llm: Option<LlmResponseDoc>,
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
    pub(super) fn message(&self) -> Value {
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
    pub(super) fn pairs(&self) -> Vec<(String, String)> {
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
    /// What becomes of each tool call of a model's answer, by call id.
    #[serde(default)]
    pub tool_calls: std::collections::BTreeMap<String, ToolCallExpect>,
    /// The finish reason the agent reads in a model's answer, or `error`.
    pub finish: Option<String>,
}

/// `deny` with a `rule`: the refusal in the call's place names it.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ToolCallExpect {
    pub decision: Expected,
    pub rule: Option<String>,
}

/// A case file: a list of cases, or `{defaults, cases}`. A problem is named by its case and
/// field (`case "x" (cases[2]): request.llm.api: unknown variant ...`).
pub fn load_cases(text: &str) -> Result<Vec<Case>, String> {
    use serde_norway::Value as Yaml;
    let doc: Yaml = serde_norway::from_str(text).map_err(|e| format!("not a case file: {e}"))?;
    let (defaults, cases) = match doc {
        Yaml::Sequence(cases) => (RequestDoc::default(), cases),
        Yaml::Mapping(mut file) => {
            if let Some(key) = file.keys().find(|k| !matches!(k.as_str(), Some("defaults" | "cases"))) {
                return Err(format!("not a case file: unknown key {key:?}, expected defaults or cases"));
            }
            let defaults = match file.remove("defaults") {
                Some(value) => {
                    serde_path_to_error::deserialize(value).map_err(|e| format!("defaults: {}: {}", e.path(), e.inner()))?
                }
                None => RequestDoc::default(),
            };
            match file.remove("cases") {
                Some(Yaml::Sequence(cases)) => (defaults, cases),
                _ => return Err("not a case file: cases must be a list".into()),
            }
        }
        _ => return Err("not a case file: expected a list of cases, or defaults and cases".into()),
    };
    let mut cases = cases
        .into_iter()
        .enumerate()
        .map(|(i, value)| {
            let name = value.get("name").and_then(Yaml::as_str).map_or_else(|| format!("#{}", i + 1), |n| format!("{n:?}"));
            serde_path_to_error::deserialize(value).map_err(|e| format!("case {name} (cases[{i}]): {}: {}", e.path(), e.inner()))
        })
        .collect::<Result<Vec<Case>, String>>()?;
    for case in &mut cases {
        let d = &defaults;
        let r = &mut case.request;
        r.method = r.method.take().or_else(|| d.method.clone());
        let preset = r.llm.as_ref().map(|llm| llm.api.path().to_string());
        r.path = r.path.take().or(preset).or_else(|| d.path.clone());
        r.authority = r.authority.take().or_else(|| d.authority.clone());
        let mut headers = d.headers.pairs();
        let own = r.headers.pairs();
        headers.retain(|(k, _)| !own.iter().any(|(o, _)| o.eq_ignore_ascii_case(k)));
        headers.extend(own);
        r.headers = Headers::Pairs(headers);
        let payloads =
            [r.body.is_some(), r.sql.is_some(), r.json.is_some(), r.mcp.is_some(), r.graphql.is_some(), r.llm.is_some()];
        if payloads.iter().filter(|p| **p).count() > 1 {
            return Err(format!("case {:?}: give one of body, sql, json, mcp, graphql, llm", case.name));
        }
        if let Some(call) = &r.mcp {
            if call.tool.is_some() == call.method.is_some() {
                return Err(format!("case {:?}: mcp takes tool (with arguments) or method (with params)", case.name));
            }
        }
        r.peer_spiffe = r.peer_spiffe.take().or_else(|| d.peer_spiffe.clone());
        r.jwt = r.jwt.take().or_else(|| d.jwt.clone());
        check_llm(case)?;
    }
    Ok(cases)
}

/// The `llm` parts of a case agree with each other; a streamed answer is asked for as one.
fn check_llm(case: &mut Case) -> Result<(), String> {
    let name = &case.name;
    let api = case.request.path.as_deref().and_then(api_at);
    if let Some(answer) = case.response.as_ref().and_then(|r| r.llm.as_ref()) {
        let response = case.response.as_ref().is_some_and(|r| r.body.is_some() || r.json.is_some());
        if response {
            return Err(format!("case {name:?}: response: give one of body, json, llm"));
        }
        if api.is_none() {
            let path = case.request.path.as_deref().unwrap_or("/");
            return Err(format!(
                "case {name:?}: response.llm: the request's path {path:?} is none of the providers' APIs (give request.llm)"
            ));
        }
        if let Some(request) = &mut case.request.llm {
            request.stream |= answer.stream;
        }
        for id in case.expect.tool_calls.keys() {
            if !answer.tool_calls.iter().any(|c| &c.id == id) {
                return Err(format!("case {name:?}: expect.tool_calls.{id}: response.llm.tool_calls has no call {id:?}"));
            }
        }
    }
    if api.is_none() && (!case.expect.tool_calls.is_empty() || case.expect.finish.is_some()) {
        return Err(format!("case {name:?}: expect.tool_calls and expect.finish read a model's answer: give request.llm"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn error(text: &str) -> String {
        load_cases(text).expect_err("the case file is refused")
    }

    #[test]
    fn an_llm_case_takes_its_path_from_the_api_and_asks_for_a_stream_it_gets() {
        let cases = load_cases(
            "cases:\n  - name: s\n    request: {llm: {api: messages}}\n    response: {llm: {stream: true, tool_calls: [{id: t1, name: x}]}}\n    expect: {decision: allow, tool_calls: {t1: {decision: deny, rule: r}}}\n",
        )
        .unwrap();
        assert_eq!(cases[0].request.path.as_deref(), Some("/v1/messages"));
        assert!(cases[0].request.llm.as_ref().unwrap().stream);
        let own = load_cases(
            "defaults: {path: /x}\ncases:\n  - name: p\n    request: {path: /eu/v1/responses, llm: {api: responses}}\n    expect: {decision: allow}\n",
        );
        assert_eq!(own.unwrap()[0].request.path.as_deref(), Some("/eu/v1/responses"));
    }

    #[test]
    fn an_llm_case_that_does_not_hold_together_names_the_case_and_the_field() {
        let case = |request: &str, response: &str, expect: &str| {
            format!("cases:\n  - name: broken\n    request: {request}\n    response: {response}\n    expect: {expect}\n")
        };
        let unknown = error(&case(
            "{llm: {api: chat}}",
            "{llm: {tool_calls: [{id: a, name: t}]}}",
            "{decision: allow, tool_calls: {b: {decision: deny}}}",
        ));
        assert!(unknown.contains("\"broken\"") && unknown.contains("expect.tool_calls.b"), "{unknown}");
        let no_api = error(&case("{path: /mcp, json: {}}", "{llm: {text: hi}}", "{decision: allow}"));
        assert!(no_api.contains("\"broken\"") && no_api.contains("response.llm") && no_api.contains("/mcp"), "{no_api}");
        let two = error(&case("{llm: {api: chat}}", "{body: x, llm: {text: hi}}", "{decision: allow}"));
        assert!(two.contains("response: give one of body, json, llm"), "{two}");
        let both = error(&case("{llm: {api: chat}, mcp: {tool: t}}", "{}", "{decision: allow}"));
        assert!(both.contains("give one of body, sql, json, mcp, graphql, llm"), "{both}");
        let finish = error(&case("{path: /api}", "{}", "{decision: allow, finish: stop}"));
        assert!(finish.contains("expect.tool_calls and expect.finish"), "{finish}");
        let api = error(&case("{llm: {api: chatgpt}}", "{}", "{decision: allow}"));
        assert!(api.contains("case \"broken\" (cases[0]): request.llm.api: unknown variant `chatgpt`"), "{api}");
        let top = error("defaults: {}\ncase: []\n");
        assert!(top.contains("unknown key"), "{top}");
    }
}
