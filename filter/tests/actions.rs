//! Agent actions beyond SQL over HTTP: REST calls (`when.http`, `when.json`), MCP tool calls
//! and GraphQL operations, with the evasions each invites.

use access_guardrails::decide::{Limit, Reason};
use access_guardrails::engine::{evaluate, Outcome};
use access_guardrails::http::Request;
use access_guardrails::identity::{resolve, HttpAttributes};
use access_guardrails::policy::Policy;
use access_guardrails::reply::http_denial;
use serde_json::{json, Value};

fn policy() -> Policy {
    Policy::from_value(&json!({
        "version": 1,
        "identity": {"principal": [{"header": "x-agent-id"}], "agent_when": [{"principal": "agent:*"}]},
        "routes": [
            {"name": "mcp", "match": {"path": "/mcp"},
             "mcp": {"sql": [{"tool": "run_sql", "pointer": "/arguments/query", "dialect": "postgres"},
                             {"tool": "run_sql", "pointer": "/arguments/queries/*", "dialect": "postgres"}]},
             "rules": ["no-deletes-tools", "no-drops", "no-forced-deploys", "no-secrets", "no-shell-prompt"]},
            {"name": "graphql", "match": {"path": "/graphql"}, "graphql": {}, "default": "deny",
             "rules": ["agents-no-destructive-mutations", "agents-read-only-graphql"]},
            {"name": "api", "match": {"path_prefix": "/api"}, "default": "allow",
             "rules": ["agents-no-project-deletes", "no-prod-deploys", "debug-needs-ticket"]}
        ],
        "rules": [
            {"name": "no-deletes-tools", "effect": "deny", "when": {"actor": "agent", "mcp": {"tools": ["delete_*", "drop_*"]}}},
            {"name": "no-drops", "effect": "deny", "when": {"sql": {"operations": ["drop", "truncate"]}},
             "message": "Dropping objects goes through migrations."},
            {"name": "no-forced-deploys", "effect": "deny",
             "when": {"mcp": {"tools": ["deploy"], "params": [{"pointer": "/arguments/force", "equals": true}]}}},
            {"name": "no-secrets", "effect": "deny", "when": {"mcp": {"methods": ["resources/read"], "resources": ["secret://*"]}}},
            {"name": "no-shell-prompt", "effect": "deny", "when": {"json": [{"pointer": "/params/name", "glob": "shell*"}],
             "mcp": {"methods": ["prompts/get"]}}},
            {"name": "agents-no-destructive-mutations", "effect": "deny",
             "when": {"actor": "agent", "graphql": {"operations": ["mutation"], "fields": ["delete*", "drop*"]}}},
            {"name": "agents-read-only-graphql", "effect": "allow", "when": {"actor": "agent", "graphql": {"operations": ["query"]}}},
            {"name": "agents-no-project-deletes", "effect": "deny",
             "when": {"actor": "agent", "http": {"methods": ["DELETE"], "path": "/api/projects/*"}},
             "message": "Agents may not delete projects."},
            {"name": "no-prod-deploys", "effect": "deny",
             "when": {"http": {"methods": ["POST"], "path": "/api/deploys"},
                      "json": [{"pointer": "/targets/*/env", "glob": "prod*"}]}},
            {"name": "debug-needs-ticket", "effect": "deny",
             "when": {"http": {"path": "/api/debug/**", "headers": [{"name": "x-ticket", "present": false}]}}}
        ]
    }))
    .unwrap_or_else(|e| panic!("{e:?}"))
}

fn send(policy: &Policy, method: &str, path: &str, who: &str, headers: &[(&str, &str)], body: Option<&str>) -> Outcome {
    let mut all: Vec<(String, String)> = vec![("x-agent-id".into(), who.into())];
    all.extend(headers.iter().map(|(n, v)| (n.to_string(), v.to_string())));
    let request = Request::new(method, path, "h", all);
    let route = policy.route(&request).expect("a route");
    let actor = resolve(&policy.identity, &HttpAttributes::headers_only(&request));
    evaluate(policy, route, &actor, &request, body.map(str::as_bytes), None)
}

fn rule(outcome: &Outcome) -> Option<&str> {
    outcome.decision.is_deny().then(|| outcome.decision.rule.as_deref().unwrap_or("default"))
}

fn tool_call(id: Value, name: &str, arguments: Value) -> Value {
    json!({"jsonrpc": "2.0", "id": id, "method": "tools/call", "params": {"name": name, "arguments": arguments}})
}

fn mcp(policy: &Policy, who: &str, headers: &[(&str, &str)], body: &Value) -> Outcome {
    send(policy, "POST", "/mcp", who, headers, Some(&body.to_string()))
}

#[test]
fn rest_rules_match_method_path_and_headers() {
    let p = policy();
    assert_eq!(rule(&send(&p, "DELETE", "/api/projects/42", "agent:ops", &[], None)), Some("agents-no-project-deletes"));
    assert_eq!(rule(&send(&p, "DELETE", "/api/projects/42", "alice", &[], None)), None);
    assert_eq!(rule(&send(&p, "GET", "/api/projects/42", "agent:ops", &[], None)), None);
    // `*` stops at `/`: a sub-resource is another path.
    assert_eq!(rule(&send(&p, "DELETE", "/api/projects/42/labels/x", "agent:ops", &[], None)), None);
    assert_eq!(rule(&send(&p, "GET", "/api/debug/heap/dump", "alice", &[], None)), Some("debug-needs-ticket"));
    assert_eq!(rule(&send(&p, "GET", "/api/debug/heap", "alice", &[("x-ticket", "OPS-1")], None)), None);
}

#[test]
fn rest_evasions_by_case_path_tricks_and_method_override_are_caught() {
    let p = policy();
    for path in ["/api/projects/../projects/42", "/api//projects/42", "/api/%70rojects/42", "/API/../api/projects/42"] {
        assert_eq!(rule(&send(&p, "delete", path, "agent:ops", &[], None)), Some("agents-no-project-deletes"), "{path}");
    }
    for header in ["x-http-method-override", "X-HTTP-Method", "x-method-override"] {
        let out = send(&p, "POST", "/api/projects/42", "agent:ops", &[(header, "delete")], None);
        assert_eq!(rule(&out), Some("agents-no-project-deletes"), "{header}");
    }
}

#[test]
fn json_body_conditions_reach_every_element() {
    let p = policy();
    let deploy = |body: &str| rule(&send(&p, "POST", "/api/deploys", "alice", &[], Some(body))).map(str::to_string);
    assert_eq!(deploy(r#"{"targets":[{"env":"staging"}]}"#), None);
    assert_eq!(deploy(r#"{"targets":[{"env":"staging"},{"env":"prod-eu"}]}"#).as_deref(), Some("no-prod-deploys"));
    // Escapes are decoded before matching.
    assert_eq!(deploy(r#"{"targets":[{"env":"\u0070rod"}]}"#).as_deref(), Some("no-prod-deploys"));
    // Duplicate keys are refused: servers disagree on which one wins.
    assert_eq!(deploy(r#"{"targets":[{"env":"staging","env":"prod"}]}"#).as_deref(), Some("limits.on_unparsable"));
    assert_eq!(deploy("targets=prod").as_deref(), Some("limits.on_unparsable"));
    // No body: nothing is reached, the rule does not match.
    assert_eq!(deploy(""), None);
}

#[test]
fn mcp_tool_calls_are_decided_by_name_and_arguments() {
    let p = policy();
    let out = mcp(&p, "agent:ops", &[], &tool_call(json!(7), "delete_project", json!({"id": 1})));
    assert_eq!(rule(&out), Some("no-deletes-tools"));
    assert_eq!(out.action.kind(), "mcp");
    assert_eq!(rule(&mcp(&p, "alice", &[], &tool_call(json!(7), "delete_project", json!({})))), None);
    assert_eq!(rule(&mcp(&p, "alice", &[], &tool_call(json!(1), "deploy", json!({"force": false})))), None);
    assert_eq!(rule(&mcp(&p, "alice", &[], &tool_call(json!(1), "deploy", json!({"force": true})))), Some("no-forced-deploys"));
    let read = json!({"jsonrpc": "2.0", "id": "r", "method": "resources/read", "params": {"uri": "secret://db/password"}});
    assert_eq!(rule(&mcp(&p, "alice", &[], &read)), Some("no-secrets"));
    let prompt = json!({"jsonrpc": "2.0", "id": 3, "method": "prompts/get", "params": {"name": "shell-helper"}});
    assert_eq!(rule(&mcp(&p, "alice", &[], &prompt)), Some("no-shell-prompt"));
    let list = json!({"jsonrpc": "2.0", "id": 4, "method": "tools/list"});
    assert_eq!(rule(&mcp(&p, "agent:ops", &[], &list)), None);
    // A tool named through a JSON escape is the same tool.
    let escaped = r#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"delete\u005fproject"}}"#;
    assert_eq!(rule(&send(&p, "POST", "/mcp", "agent:ops", &[], Some(escaped))), Some("no-deletes-tools"));
}

#[test]
fn sql_inside_tool_arguments_goes_through_the_sql_engine() {
    let p = policy();
    let run = |args: Value| rule(&mcp(&p, "agent:ops", &[], &tool_call(json!(1), "run_sql", args))).map(str::to_string);
    assert_eq!(run(json!({"query": "SELECT * FROM orders"})), None);
    assert_eq!(run(json!({"query": "select 1; /* x */ DrOp TABLE orders"})).as_deref(), Some("no-drops"));
    assert_eq!(run(json!({"query": "WITH x AS (SELECT 1) SELECT * FROM x; TRUNCATE t"})).as_deref(), Some("no-drops"));
    assert_eq!(run(json!({"queries": ["SELECT 1", "DROP TABLE t"]})).as_deref(), Some("no-drops"));
    // A SQL tool without SQL, or with something else where SQL belongs, cannot be judged.
    assert_eq!(run(json!({"q": "DROP TABLE t"})).as_deref(), Some("limits.on_unparsable"));
    assert_eq!(run(json!({"query": ["DROP TABLE t"]})).as_deref(), Some("limits.on_unparsable"));
    let out = mcp(&p, "agent:ops", &[], &tool_call(json!(1), "run_sql", json!({"query": "DROP TABLE t"})));
    assert_eq!(out.decision.message, "Dropping objects goes through migrations.");
    let texts: Vec<&str> = out.action.statements().iter().map(|s| s.text.as_str()).collect();
    assert_eq!(texts, vec!["DROP TABLE t"]);
}

#[test]
fn a_batch_is_denied_when_any_message_is_and_every_request_gets_its_error() {
    let p = policy();
    let batch = json!([
        tool_call(json!(1), "search", json!({})),
        {"jsonrpc": "2.0", "method": "notifications/progress", "params": {"progressToken": 1, "progress": 1}},
        tool_call(json!("b"), "drop_index", json!({})),
    ]);
    let out = mcp(&p, "agent:ops", &[], &batch);
    assert_eq!(rule(&out), Some("no-deletes-tools"));
    assert_eq!(out.decision.call(), Some(2));
    let route = &p.routes[0];
    let reply = http_denial(&route.payload, &out, Some("req-9"));
    assert_eq!(reply.status, 200);
    let body: Value = serde_json::from_str(&reply.body).unwrap();
    let ids: Vec<&Value> = body.as_array().unwrap().iter().map(|e| &e["id"]).collect();
    assert_eq!(ids, vec![&json!(1), &json!("b")]);
    assert_eq!(body[1]["error"]["code"], -31403);
    assert_eq!(body[1]["error"]["data"]["rule"], "no-deletes-tools");
    assert_eq!(body[1]["error"]["data"]["request_id"], "req-9");

    let single = mcp(&p, "agent:ops", &[], &tool_call(json!(5), "drop_index", json!({})));
    let body: Value = serde_json::from_str(&http_denial(&route.payload, &single, None).body).unwrap();
    assert_eq!((body["jsonrpc"].as_str(), &body["id"]), (Some("2.0"), &json!(5)));
    assert!(body["error"]["message"].as_str().unwrap().contains("no-deletes-tools"));
}

#[test]
fn malformed_json_rpc_is_unparsable() {
    let p = policy();
    for body in [
        "not json",
        "[]",
        r#"{"id":1,"method":"tools/call","params":{"name":"x"}}"#,
        r#"{"jsonrpc":"2.0","id":null,"method":"tools/call","params":{"name":"x"}}"#,
        r#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":["delete_project"]}"#,
        r#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"search","name":"delete_project"}}"#,
        r#"{"jsonrpc":"2.0","id":{"a":1},"method":"tools/list"}"#,
        r#"[1,2]"#,
    ] {
        let out = send(&p, "POST", "/mcp", "agent:ops", &[], Some(body));
        assert_eq!(out.decision.reason, Reason::Limit(Limit::Unparsable), "{body}");
        assert!(out.decision.is_deny(), "{body}");
    }
}

#[test]
fn mcp_routing_headers_must_agree_with_the_body() {
    let p = policy();
    let call = tool_call(json!(1), "delete_project", json!({}));
    let mismatch = |headers: &[(&str, &str)]| {
        let out = mcp(&p, "alice", headers, &call);
        (out.decision.reason == Reason::Limit(Limit::McpHeaders)).then_some(out)
    };
    assert!(mismatch(&[("mcp-method", "tools/call"), ("mcp-name", "delete_project")]).is_none());
    assert!(mismatch(&[("mcp-method", "tools/call"), ("mcp-name", "search")]).is_some());
    assert!(mismatch(&[("mcp-method", "TOOLS/CALL")]).is_some());
    assert!(mismatch(&[("mcp-method", "tools/list")]).is_some());
    // The base64 sentinel form decodes before comparing ("delete_project").
    assert!(mismatch(&[("mcp-method", "tools/call"), ("mcp-name", "=?base64?ZGVsZXRlX3Byb2plY3Q=?=")]).is_none());
    assert!(mismatch(&[("mcp-name", "=?base64?c2VhcmNo?=")]).is_some());
    // From 2026-07-28 on, the headers are required.
    assert!(mismatch(&[("mcp-protocol-version", "2025-06-18")]).is_none());
    assert!(mismatch(&[("mcp-protocol-version", "2026-07-28"), ("mcp-method", "tools/call")]).is_some());
    let out = mismatch(&[("mcp-protocol-version", "2026-07-28")]).expect("missing headers are refused");
    assert!(out.decision.is_deny());
    let reply = http_denial(&p.routes[0].payload, &out, None);
    assert_eq!(reply.status, 400);
    let body: Value = serde_json::from_str(&reply.body).unwrap();
    assert_eq!(body["error"]["code"], -32020);
    assert_eq!(body["id"], 1);
}

#[test]
fn mcp_name_is_compared_where_the_method_names_something_and_let_through_elsewhere() {
    let p = policy();
    let message = |method: &str, params: Value| json!({"jsonrpc": "2.0", "id": 3, "method": method, "params": params});
    let refused = |method: &str, params: Value, name: &str| {
        let headers = [("mcp-protocol-version", "2026-07-28"), ("mcp-method", method), ("mcp-name", name)];
        mcp(&p, "alice", &headers, &message(method, params)).decision.reason == Reason::Limit(Limit::McpHeaders)
    };
    // The official Python SDK mirrors a task's id into Mcp-Name on tasks/* (SEP-2663).
    assert!(!refused("tasks/get", json!({"taskId": "786512e2"}), "786512e2"));
    assert!(refused("tasks/get", json!({"taskId": "786512e2"}), "other-task"));
    assert!(!refused("tasks/cancel", json!({"taskId": "t-1"}), "=?base64?dC0x?="));
    // Where the method names nothing, the header decides nothing and is let through.
    assert!(!refused("tools/list", json!({}), "anything"));
    assert!(!refused("tasks/list", json!({}), "anything"));
    // The named methods still compare it.
    assert!(refused("prompts/get", json!({"name": "summary"}), "secrets"));
    assert!(refused("resources/read", json!({"uri": "file:///etc/passwd"}), "file:///tmp/x"));
}

#[test]
fn graphql_mutations_are_seen_through_aliases_fragments_and_batches() {
    let p = policy();
    let gql = |who: &str, body: Value| rule(&send(&p, "POST", "/graphql", who, &[], Some(&body.to_string()))).map(str::to_string);
    assert_eq!(gql("agent:a", json!({"query": "{ users { id } }"})), None);
    assert_eq!(
        gql("agent:a", json!({"query": "mutation { deleteUser(id: 1) }"})).as_deref(),
        Some("agents-no-destructive-mutations")
    );
    assert_eq!(
        gql("agent:a", json!({"query": "mutation { ok: deleteUser(id: 1) }"})).as_deref(),
        Some("agents-no-destructive-mutations")
    );
    let fragment = "mutation { ...F } fragment F on Mutation { ... on Mutation { dropProject(id: 1) } }";
    assert_eq!(gql("agent:a", json!({"query": fragment})).as_deref(), Some("agents-no-destructive-mutations"));
    let batch = json!([{"query": "{ users { id } }"}, {"query": "mutation { deleteUser(id: 2) }"}]);
    assert_eq!(gql("agent:a", batch).as_deref(), Some("agents-no-destructive-mutations"));
    // Other mutations fall to the route default (deny): the allow rule covers queries only.
    assert_eq!(gql("agent:a", json!({"query": "mutation { renameUser(id: 1) }"})).as_deref(), Some("default"));
    assert_eq!(gql("alice", json!({"query": "mutation { deleteUser(id: 1) }"})).as_deref(), Some("default"));
    assert_eq!(gql("agent:a", json!({"query": "mutation {"})).as_deref(), Some("limits.on_unparsable"));
    let get = send(&p, "GET", "/graphql?query=mutation%7BdeleteUser(id%3A1)%7D", "agent:a", &[], None);
    assert_eq!(rule(&get), Some("agents-no-destructive-mutations"));
    assert_eq!(get.action.kind(), "graphql");
    assert_eq!(get.action.operations()[0].fields, vec!["deleteUser"]);
}

#[test]
fn policy_errors_name_the_path() {
    let errors = Policy::from_value(&json!({
        "version": 1,
        "routes": [
            {"name": "a", "match": {}, "mcp": {"sql": [{"tool": "q", "pointer": "x", "dialect": "nosql"}]}, "sql": {"dialect": "postgres"}},
            {"name": "b", "match": {}, "rules": ["m", "g", "j"]}
        ],
        "rules": [
            {"name": "m", "effect": "deny", "when": {"mcp": {"tools": []}}},
            {"name": "g", "effect": "deny", "when": {"graphql": {"operations": ["upsert"]}}},
            {"name": "j", "effect": "deny", "when": {"json": [{"pointer": "/a", "equals": 1, "exists": true}]}}
        ]
    }))
    .unwrap_err();
    let text: Vec<String> = errors.iter().map(ToString::to_string).collect();
    let has = |needle: &str| assert!(text.iter().any(|t| t.contains(needle)), "{needle} not in {text:#?}");
    has("routes[0]: a route reads one kind of payload, this one names sql and mcp (SQL in tool arguments goes under mcp.sql)");
    has("routes[0].mcp.sql[0].pointer: JSON pointer \"x\" must be empty or start with '/'");
    has("routes[0].mcp.sql[0].dialect: unknown dialect \"nosql\"");
    has("rules[0].when.mcp.tools: must not be empty");
    has("rules[1].when.graphql.operations[0]: unknown GraphQL operation \"upsert\"");
    has("rules[2].when.json[0]: set exactly one of equals, glob, exists");
}

#[test]
fn rules_for_another_kind_of_route_are_refused() {
    let errors = Policy::from_value(&json!({
        "version": 1,
        "routes": [{"name": "rest", "match": {}, "rules": ["m", "g"]}],
        "rules": [
            {"name": "m", "effect": "deny", "when": {"mcp": {"tools": ["x"]}}},
            {"name": "g", "effect": "deny", "when": {"graphql": {"operations": ["mutation"]}}}
        ]
    }))
    .unwrap_err();
    let text: Vec<String> = errors.iter().map(ToString::to_string).collect();
    assert_eq!(
        text,
        vec![
        "routes[0].rules[0]: rule \"m\" has an mcp condition, but the route is not an MCP route (add an mcp section)",
        "routes[0].rules[1]: rule \"g\" has a graphql condition, but the route is not a GraphQL route (add a graphql section)",
    ]
    );
}

/// Every error of a policy with these routes (and no rules), as printed.
fn route_errors(routes: Value) -> Vec<String> {
    let errors = Policy::from_value(&json!({"version": 1, "routes": routes, "rules": []})).unwrap_err();
    errors.iter().map(ToString::to_string).collect()
}

fn assert_has(errors: &[String], needle: &str) {
    assert!(errors.iter().any(|t| t.contains(needle)), "{needle} not in {errors:#?}");
}

#[test]
fn mask_sections_are_checked_with_paths() {
    let errors = route_errors(json!([
        {"name": "a", "match": {}, "mask": {"detectors": {"email": "redact", "phone": "blur"}}},
        {"name": "b", "match": {}, "mask": {}}
    ]));
    assert_has(&errors, "routes[0].mask.detectors.phone: unknown variant `blur`, expected one of `redact`, `partial`, `hash`");
    assert_has(&errors, "routes[1].mask: masks nothing: give detectors, patterns or fields");
    let errors = route_errors(json!([{"name": "a", "match": {}, "mask": {
        "detectors": {"email": "redact"},
        "patterns": [{"name": "bad name", "regex": "x"}],
        "fields": [{"name": "a", "pointer": "/b"}, {"pointer": ""}, {"pointer": "c"}],
        "max_body_bytes": 0, "hash_key": ""}}]));
    assert_has(&errors, "routes[0].mask.max_body_bytes: must be between 1 and");
    assert_has(&errors, "routes[0].mask.hash_key: must not be empty");
    assert_has(&errors, "routes[0].mask.patterns[0].name: must be letters, digits");
    assert_has(&errors, "routes[0].mask.fields[0]: set exactly one of name, pointer");
    assert_has(&errors, "routes[0].mask.fields[1].pointer: must name a field");
    assert_has(&errors, "routes[0].mask.fields[2].pointer: JSON pointer \"c\" must be empty or start with '/'");
    // Detector names and regexes are checked once the rest is sound.
    let errors = route_errors(json!([{"name": "a", "match": {}, "mask": {
        "detectors": {"email": "redact", "passport": "redact"},
        "patterns": [{"name": "open", "regex": "("}, {"name": "ok", "regex": "x{2,1}"}]}}]));
    assert_has(&errors, "routes[0].mask.detectors.passport: unknown detector, expected one of: private_key, jwt");
    assert_has(&errors, "routes[0].mask.patterns[0].regex:");
    assert_has(&errors, "routes[0].mask.patterns[1].regex:");
}
