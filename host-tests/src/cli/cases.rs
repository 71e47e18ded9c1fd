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

use serde::Deserialize;
use serde_json::Value;

use access_guardrails::policy::{Policy, PolicyError};

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
