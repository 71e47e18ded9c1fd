//! MCP, GraphQL and REST rules through the compiled filter: the replies clients get, bodies
//! split anywhere, both header-pause modes, hostile messages.

use crate::common::*;
use serde_json::{json, Value};

const POLICY: &str = r#"
version: 1
identity: {principal: [{header: x-agent-id}], agent_when: [{principal: "agent:*"}]}
routes:
  - name: mcp
    match: {path: /mcp}
    mcp: {sql: [{tool: run_sql, pointer: /arguments/query, dialect: postgres}]}
    rules: [agents-no-delete-tools, no-drops]
  - name: graphql
    match: {path: /graphql}
    graphql: {}
    rules: [agents-no-delete-mutations]
  - name: api
    match: {path_prefix: /api}
    rules: [agents-no-project-deletes, no-prod-deploys]
rules:
  - {name: agents-no-delete-tools, effect: deny, when: {actor: agent, mcp: {tools: ["delete_*"]}}}
  - {name: no-drops, effect: deny, when: {sql: {operations: [drop]}}}
  - {name: agents-no-delete-mutations, effect: deny, when: {actor: agent, graphql: {operations: [mutation], fields: ["delete*"]}}}
  - {name: agents-no-project-deletes, effect: deny, when: {actor: agent, http: {methods: [DELETE], path: "/api/projects/*"}}}
  - {name: no-prod-deploys, effect: deny, when: {http: {path: /api/deploys}, json: [{pointer: /env, equals: prod}]}}
"#;

fn agent(method: &'static str, path: &'static str) -> Vec<(&'static str, &'static str)> {
    headers(method, path, &[("x-agent-id", "agent:ops"), ("content-type", "application/json")])
}

fn reply_json(host: &guardrails_host::Host, id: guardrails_host::StreamId) -> Option<(u32, Value)> {
    let reply = host.stream(id).local_reply.as_ref()?;
    assert_eq!(reply.header("x-guardrails-decision"), Some("deny"));
    Some((reply.status, serde_json::from_slice(&reply.body).expect("reply is JSON")))
}

#[test]
fn a_denied_tool_call_gets_the_json_rpc_error_with_its_id() {
    let mut host = start(POLICY);
    let call = json!({"jsonrpc": "2.0", "id": "call-1", "method": "tools/call", "params": {"name": "delete_project", "arguments": {"id": 1}}});
    let id = send(&mut host, &agent("POST", "/mcp"), &[call.to_string().as_bytes()]);
    let (status, body) = reply_json(&host, id).expect("denied");
    assert_eq!(status, 200);
    assert_eq!(host.stream(id).local_reply.as_ref().unwrap().header("content-type"), Some("application/json"));
    assert_eq!(body["jsonrpc"], "2.0");
    assert_eq!(body["id"], "call-1");
    assert_eq!(body["error"]["code"], -31403);
    assert_eq!(body["error"]["data"]["rule"], "agents-no-delete-tools");
    assert_eq!(body["error"]["data"]["request_id"], "rid-7");
    assert!(host.stream(id).request.forwarded_body.is_empty());
    assert_eq!(decision_property(&host, id).unwrap()["route"], "mcp");
}

#[test]
fn mcp_and_graphql_bodies_split_anywhere_are_still_read() {
    for allow_stop in [false, true] {
        let config = format!("{POLICY}\nproxy: {{allow_on_headers_stop_iteration: {allow_stop}}}");
        let mut host = start_with(&config, |o| o.allow_on_headers_stop_iteration = allow_stop);
        let bodies: [(&str, String, Option<&str>); 4] = [
            ("/mcp", json!({"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": {"name": "run_sql", "arguments": {"query": "select 1; DROP TABLE t"}}}).to_string(), Some("no-drops")),
            ("/mcp", json!([{"jsonrpc": "2.0", "id": 1, "method": "tools/list"}, {"jsonrpc": "2.0", "id": 2, "method": "tools/call", "params": {"name": "delete_x"}}]).to_string(), Some("agents-no-delete-tools")),
            ("/graphql", json!({"query": "mutation { ok: deleteUser(id: 1) }"}).to_string(), Some("agents-no-delete-mutations")),
            ("/graphql", json!({"query": "{ users { id } }"}).to_string(), None),
        ];
        for (path, body, rule) in &bodies {
            let head = agent("POST", if *path == "/mcp" { "/mcp" } else { "/graphql" });
            for cut in 1..body.len() {
                let bytes = body.as_bytes();
                let id = send(&mut host, &head, &[&bytes[..cut], &bytes[cut..]]);
                let got = reply_json(&host, id).map(|(_, b)| {
                    let data = b.pointer("/error/data").or(b.pointer("/0/error/data")).unwrap_or(&b);
                    data["rule"].as_str().unwrap_or("").to_string()
                });
                assert_eq!(got.as_deref(), *rule, "{path} cut at {cut}, allow_stop {allow_stop}");
                if rule.is_none() {
                    assert_eq!(host.stream(id).request.forwarded_body, bytes);
                }
            }
        }
        assert!(host.failure(0).is_none());
    }
}

#[test]
fn a_batch_answers_every_request_and_notifications_alone_get_403() {
    let mut host = start(POLICY);
    let batch = json!([
        {"jsonrpc": "2.0", "id": 1, "method": "tools/list"},
        {"jsonrpc": "2.0", "method": "notifications/cancelled", "params": {"requestId": 0}},
        {"jsonrpc": "2.0", "id": 2, "method": "tools/call", "params": {"name": "delete_x"}}
    ]);
    let id = send(&mut host, &agent("POST", "/mcp"), &[batch.to_string().as_bytes()]);
    let (status, body) = reply_json(&host, id).expect("denied");
    assert_eq!(status, 200);
    let ids: Vec<&Value> = body.as_array().expect("a batch answer").iter().map(|e| &e["id"]).collect();
    assert_eq!(ids, vec![&json!(1), &json!(2)]);
    let malformed = send(&mut host, &agent("POST", "/mcp"), &[b"{\"jsonrpc\":\"2.0\",\"method\":7}"]);
    let (status, body) = reply_json(&host, malformed).expect("denied");
    assert_eq!(status, 403);
    assert!(body["id"].is_null());
    assert_eq!(body["error"]["data"]["rule"], "limits.on_unparsable");
}

#[test]
fn an_oversize_mcp_call_is_answered_by_its_id_so_the_session_survives() {
    // The Python SDK 1.x writes the id after params: it is read from the body as it is discarded.
    let config = POLICY.replace("routes:", "limits: {max_body_bytes: 2048}\nroutes:");
    let query = "x".repeat(5000);
    let call = format!(
        r#"{{"method":"tools/call","params":{{"name":"run_sql","arguments":{{"query":"{query}"}}}},"jsonrpc":"2.0","id":41}}"#
    );
    let length = call.len().to_string();
    for declared in [false, true] {
        for cut in [1, 700, 2047, 2049, call.len() - 3] {
            let mut host = start(&config);
            let extra = [("x-agent-id", "alice"), ("content-length", length.as_str())];
            let head = headers("POST", "/mcp", &extra[..if declared { 2 } else { 1 }]);
            let (first, rest) = call.as_bytes().split_at(cut);
            let id = send(&mut host, &head, &[first, &rest[..rest.len() / 2], &rest[rest.len() / 2..]]);
            let (status, body) = reply_json(&host, id).expect("denied");
            assert_eq!((status, body["id"].as_i64()), (200, Some(41)), "declared {declared}, cut {cut}");
            assert_eq!(body["error"]["data"]["rule"], "limits.on_oversize");
            let upstream = &host.stream(id).request;
            assert!(upstream.forwarded_body.is_empty(), "no byte reached the upstream");
        }
    }
    // Nothing to answer: a body with no readable id keeps the plain denial.
    let mut host = start(&config);
    let junk = vec![b'x'; 5000];
    let id = send(&mut host, &headers("POST", "/mcp", &[("x-agent-id", "alice")]), &[&junk]);
    let (status, body) = reply_json(&host, id).expect("denied");
    assert_eq!((status, body["id"].is_null()), (403, true));
}

#[test]
fn mismatched_mcp_headers_get_400_header_mismatch() {
    let mut host = start(POLICY);
    let call = json!({"jsonrpc": "2.0", "id": 9, "method": "tools/call", "params": {"name": "delete_project"}});
    let mut head = headers("POST", "/mcp", &[("x-agent-id", "alice"), ("mcp-method", "tools/call"), ("mcp-name", "search")]);
    let id = send(&mut host, &head, &[call.to_string().as_bytes()]);
    let (status, body) = reply_json(&host, id).expect("denied");
    assert_eq!((status, body["error"]["code"].as_i64(), body["id"].as_i64()), (400, Some(-32020), Some(9)));
    head.pop();
    head.push(("mcp-name", "delete_project"));
    let id = send(&mut host, &head, &[call.to_string().as_bytes()]);
    assert!(passed(&host, id));
}

#[test]
fn rest_rules_decide_at_the_headers_unless_they_read_json() {
    let mut host = start(POLICY);
    let id = send(&mut host, &agent("DELETE", "/api/projects/7"), &[]);
    assert_eq!(denied_by(&host, id).as_deref(), Some("agents-no-project-deletes"));
    let id = send(&mut host, &agent("GET", "/api/projects/7"), &[]);
    assert!(passed(&host, id));
    let id = send(&mut host, &agent("POST", "/api/deploys"), &[b"{\"env\":", b"\"prod\"}"]);
    assert_eq!(denied_by(&host, id).as_deref(), Some("no-prod-deploys"));
    let id = send(&mut host, &agent("POST", "/api/deploys"), &[b"{\"env\":\"dev\"}"]);
    assert!(passed(&host, id));
}

#[test]
fn hostile_mcp_and_graphql_bodies_never_trap() {
    let mut host = start(POLICY);
    let deep_json = format!("{}{}", "[".repeat(100_000), "]".repeat(100_000));
    let deep_gql = json!({"query": format!("{}{}", "{ a ".repeat(20_000), "}".repeat(20_000))}).to_string();
    let deep_args = json!({"query": format!("{{ a(x: {}1{}) }}", "[".repeat(20_000), "]".repeat(20_000))}).to_string();
    let cycle = json!({"query": "mutation { ...A } fragment A on M { ...B } fragment B on M { ...A deleteX }"}).to_string();
    let huge_batch = format!("[{}]", vec![r#"{"jsonrpc":"2.0","id":1,"method":"ping"}"#; 5000].join(","));
    for (path, body) in [
        ("/mcp", deep_json.as_str()),
        ("/graphql", deep_json.as_str()),
        ("/graphql", deep_gql.as_str()),
        ("/graphql", deep_args.as_str()),
        ("/mcp", huge_batch.as_str()),
        ("/mcp", "\u{0}\u{ffff}"),
        ("/graphql", "{\"query\": \"\\ud800\"}"),
    ] {
        let id = send(&mut host, &agent("POST", if path == "/mcp" { "/mcp" } else { "/graphql" }), &[body.as_bytes()]);
        assert!(host.stream(id).local_reply.is_some(), "{path} {:.40} was not refused", body);
    }
    let id = send(&mut host, &agent("POST", "/graphql"), &[cycle.as_bytes()]);
    assert_eq!(reply_json(&host, id).unwrap().1["rule"], "agents-no-delete-mutations");
    assert!(host.failure(0).is_none());
}
