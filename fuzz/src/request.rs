//! An HTTP request as fuzz input, decided the way the proxy decides it.
//!
//! Input: one byte choosing the policy, then `METHOD PATH AUTHORITY`, a line per header
//! (`name: value`), an empty line and the body; without the empty line there is no body. The
//! request goes through `at_headers`, `with_body` (content decoding, extraction, the MCP and
//! GraphQL readers, the SQL analyzer) and `conclude` (the reply and the audit record), once
//! without and twice with an analysis cache, which must not change the decision.

use std::sync::OnceLock;

use access_guardrails::audit::Site;
use access_guardrails::engine::{at_headers, conclude, with_body, AtHeaders, Environment, Outcome};
use access_guardrails::http::Request;
use access_guardrails::identity::{resolve, HttpAttributes};
use access_guardrails::policy::Policy;
use access_guardrails::sql::AnalysisCache;
use serde_json::Value;

/// The example policies, and one route per way of carrying SQL that they do not use.
const POLICIES: [&str; 9] = [
    include_str!("../../examples/agents-readonly/policy.yaml"),
    include_str!("../../examples/column-updates/policy.yaml"),
    include_str!("../../examples/customer-api/policy.yaml"),
    include_str!("../../examples/mcp-agents/policy.yaml"),
    include_str!("../../examples/mysql-wire/policy.yaml"),
    include_str!("../../examples/postgres-wire/policy.yaml"),
    include_str!("../../examples/rest-api/policy.yaml"),
    include_str!("../../examples/warehouse/policy.yaml"),
    include_str!("sources.yaml"),
];

pub fn policies() -> &'static [Policy] {
    static COMPILED: OnceLock<Vec<Policy>> = OnceLock::new();
    COMPILED.get_or_init(|| {
        POLICIES
            .iter()
            .map(|text| {
                let value: Value = serde_norway::from_str(text).expect("a policy in YAML");
                Policy::from_value(&value).unwrap_or_else(|e| panic!("an invalid policy: {e:?}"))
            })
            .collect()
    })
}

pub struct Input<'a> {
    pub policy: &'a Policy,
    pub request: Request,
    pub body: Option<&'a [u8]>,
}

impl<'a> Input<'a> {
    pub fn parse(data: &'a [u8]) -> Option<Input<'a>> {
        let (&choice, rest) = data.split_first()?;
        let all = policies();
        let policy = &all[usize::from(choice) % all.len()];
        let (head, body) = match find(rest, b"\n\n") {
            Some(at) => (&rest[..at], rest.get(at + 2..)),
            None => (rest, None),
        };
        let head = String::from_utf8_lossy(head);
        let mut lines = head.split('\n');
        let mut first = lines.next().unwrap_or("").split(' ');
        let (method, path, authority) = (first.next().unwrap_or(""), first.next().unwrap_or(""), first.next().unwrap_or(""));
        let headers = lines
            .map(|line| line.split_once(':').unwrap_or((line, "")))
            .map(|(name, value)| (name.to_string(), value.trim_start().to_string()))
            .collect();
        Some(Input { policy, request: Request::new(method, path, authority, headers), body })
    }
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

/// Writes a request in the input format.
pub fn encode(policy: u8, head: &str, headers: &[(&str, &str)], body: Option<&[u8]>) -> Vec<u8> {
    let mut out = vec![policy];
    out.extend_from_slice(head.as_bytes());
    for (name, value) in headers {
        out.extend_from_slice(format!("\n{name}: {value}").as_bytes());
    }
    if let Some(body) = body {
        out.extend_from_slice(b"\n\n");
        out.extend_from_slice(body);
    }
    out
}

/// Decides `data` as a request and checks that the cache changes nothing.
pub fn check(data: &[u8]) {
    let Some(input) = Input::parse(data) else { return };
    let Input { policy, request, body } = input;
    let Some(route) = policy.route(&request) else { return };
    let actor = resolve(&policy.identity, &HttpAttributes::headers_only(&request));
    let decide = |cache: Option<&mut AnalysisCache>| -> Outcome {
        match at_headers(policy, route, &actor, &request, body.is_none(), None) {
            AtHeaders::Decided(outcome) => *outcome,
            AtHeaders::ReadBody => with_body(policy, route, &actor, &request, body.unwrap_or_default(), cache),
        }
    };
    let outcome = decide(None);
    let mut cache = AnalysisCache::default();
    for round in 0..2 {
        assert_eq!(decide(Some(&mut cache)).decision, outcome.decision, "round {round} with the cache decided otherwise");
    }
    let environment = Environment { site: Site::Http(&request), audit_unavailable: false, now_nanos: 2, started_nanos: 1 };
    let _ = conclude(policy, route, &actor, outcome, &environment);
}
