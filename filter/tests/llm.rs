//! Model tool calls through the engine: `when.tool` and `llm.sql` on a provider's route, each
//! call of a response decided on its own, and a request that sends back the result of a call
//! the policy denies.

use access_guardrails::engine::{evaluate, evaluate_tool_call, Outcome};
use access_guardrails::http::Request;
use access_guardrails::identity::{resolve, HttpAttributes};
use access_guardrails::llm::ToolCall;
use access_guardrails::policy::Policy;
use access_guardrails::reply::http_denial;
use serde_json::{json, Value};

fn policy() -> Policy {
    Policy::from_value(&policy_doc()).unwrap_or_else(|e| panic!("{e:?}"))
}

fn policy_doc() -> Value {
    json!({
        "version": 1,
        "identity": {"principal": [{"header": "x-agent-id"}], "agent_when": [{"principal": "agent:*"}]},
        "proxy": {"allow_on_headers_stop_iteration": true},
        "routes": [
            {"name": "openai", "match": {"path_prefix": "/v1"},
             "llm": {"provider": "openai", "sql": [{"tool": "run_sql", "pointer": "/query", "dialect": "postgres"}]},
             "rules": ["no-drops", "agents-no-delete-tools", "no-forced-deploys"]},
            {"name": "anthropic", "match": {"path_prefix": "/anthropic"},
             "llm": {"provider": "anthropic", "on_deny": "error"}, "rules": ["agents-no-delete-tools"]}
        ],
        "rules": [
            {"name": "no-drops", "effect": "deny", "when": {"sql": {"operations": ["drop", "truncate"]}},
             "message": "Dropping tables goes through migrations."},
            {"name": "agents-no-delete-tools", "effect": "deny", "when": {"actor": "agent", "tool": {"names": ["delete_*"]}}},
            {"name": "no-forced-deploys", "effect": "deny",
             "when": {"tool": {"names": ["deploy"], "arguments": [{"pointer": "/force", "equals": true}]}}}
        ]
    })
}

fn request(path: &str, who: &str) -> Request {
    Request::new("POST", path, "llm.local", vec![("x-agent-id".into(), who.into())])
}

fn decide_call(policy: &Policy, path: &str, who: &str, name: &str, arguments: &str) -> Outcome {
    let request = request(path, who);
    let route = policy.route(&request).expect("a route");
    let actor = resolve(&policy.identity, &HttpAttributes::headers_only(&request));
    let call = ToolCall::from_text("call_1".into(), name.into(), arguments);
    evaluate_tool_call(policy, route, &actor, &request, Some("gpt-x".into()), &call, None)
}

fn rule(outcome: &Outcome) -> Option<&str> {
    outcome.decision.is_deny().then(|| outcome.decision.rule.as_deref().unwrap_or("default"))
}

#[test]
fn tool_calls_are_decided_by_name_arguments_and_the_sql_inside() {
    let p = policy();
    let call =
        |who: &str, name: &str, args: &str| rule(&decide_call(&p, "/v1/chat/completions", who, name, args)).map(str::to_string);
    assert_eq!(call("agent:a", "run_sql", r#"{"query": "SELECT * FROM users"}"#), None);
    for query in
        ["DROP TABLE users", "select 1; drop table users", "WITH x AS (SELECT 1) SELECT 1; TRUNCATE t", "/* */ DrOp TaBlE t"]
    {
        let args = json!({"query": query}).to_string();
        assert_eq!(call("agent:a", "run_sql", &args).as_deref(), Some("no-drops"), "{query}");
    }
    assert_eq!(call("agent:a", "delete_project", "{}").as_deref(), Some("agents-no-delete-tools"));
    assert_eq!(call("alice", "delete_project", "{}"), None);
    assert_eq!(call("alice", "deploy", r#"{"force": true}"#).as_deref(), Some("no-forced-deploys"));
    assert_eq!(call("alice", "deploy", r#"{"force": false}"#), None);
    // What the agent's SDK would repair is refused as it is.
    for broken in [r#"{"query": "DROP"#, r#"{"query": "SELECT 1"} x"#, r#"{"query": "SELECT 1", "query": "DROP TABLE t"}"#, "[]"]
    {
        assert_eq!(call("alice", "run_sql", broken).as_deref(), Some("limits.on_unparsable"), "{broken}");
    }
    // A run_sql call without its SQL is not a call the route can read.
    assert_eq!(call("alice", "run_sql", r#"{"sql": "DROP TABLE t"}"#).as_deref(), Some("limits.on_unparsable"));
}

#[test]
fn the_outcome_names_the_call_for_the_record() {
    let p = policy();
    let outcome = decide_call(&p, "/v1/responses", "agent:a", "run_sql", r#"{"query": "DROP TABLE users"}"#);
    assert_eq!(outcome.action.kind(), "llm");
    assert_eq!(outcome.action.calls()[0].target.as_deref(), Some("run_sql"));
    assert_eq!(outcome.action.statements()[0].text, "DROP TABLE users");
}

fn send(policy: &Policy, path: &str, who: &str, body: &Value) -> Outcome {
    let request = request(path, who);
    let route = policy.route(&request).expect("a route");
    let actor = resolve(&policy.identity, &HttpAttributes::headers_only(&request));
    evaluate(policy, route, &actor, &request, Some(body.to_string().as_bytes()), None)
}

#[test]
fn a_request_sending_back_a_denied_calls_result_is_denied_in_the_providers_format() {
    let p = policy();
    let call = |id: &str, query: &str| {
        json!({"id": id, "type": "function",
        "function": {"name": "run_sql", "arguments": json!({"query": query}).to_string()}})
    };
    let body = |query: &str| {
        json!({"model": "gpt-x", "messages": [
        {"role": "user", "content": "clean up"},
        {"role": "assistant", "content": null, "tool_calls": [call("call_1", query)]},
        {"role": "tool", "tool_call_id": "call_1", "content": "done"}]})
    };
    assert_eq!(rule(&send(&p, "/v1/chat/completions", "agent:a", &body("SELECT 1"))), None);
    let denied = send(&p, "/v1/chat/completions", "agent:a", &body("DROP TABLE users"));
    assert_eq!(rule(&denied), Some("no-drops"));
    let reply = http_denial(&p.routes[0].payload, &denied, Some("r1"));
    let error: Value = serde_json::from_str(&reply.body).unwrap();
    assert_eq!((reply.status, &error["error"]["code"]), (403, &json!("no-drops")));
    // Another path of the provider's is a plain request.
    assert_eq!(rule(&send(&p, "/v1/models", "agent:a", &json!({}))), None);
    let anthropic = json!({"model": "claude", "messages": [
        {"role": "assistant", "content": [{"type": "tool_use", "id": "toolu_1", "name": "delete_project", "input": {}}]},
        {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "toolu_1", "content": "gone"}]}]});
    let denied = send(&p, "/anthropic/v1/messages", "agent:a", &anthropic);
    assert_eq!(rule(&denied), Some("agents-no-delete-tools"));
    let error: Value = serde_json::from_str(&http_denial(&p.routes[1].payload, &denied, None).body).unwrap();
    assert_eq!(error["error"]["type"], "permission_error");
}

#[test]
fn llm_sections_and_tool_conditions_are_checked() {
    let bad = |route: Value, rule: Value| {
        let doc = json!({"version": 1, "routes": [route], "rules": [rule]});
        Policy::from_value(&doc).err().map(|e| format!("{e:?}")).unwrap_or_default()
    };
    let tool_rule = json!({"name": "r", "effect": "deny", "when": {"tool": {"names": ["x"]}}});
    let mcp_rule = json!({"name": "r", "effect": "deny", "when": {"mcp": {"tools": ["x"]}}});
    let llm = |section: Value| json!({"name": "a", "llm": section, "rules": ["r"]});
    assert!(bad(llm(json!({"provider": "gemini"})), tool_rule.clone()).contains("unknown provider"));
    assert!(bad(llm(json!({"provider": "openai", "on_deny": "drop"})), tool_rule.clone()).contains("on_deny"));
    assert!(bad(
        llm(json!({"provider": "openai", "sql": [{"tool": "q", "pointer": "query", "dialect": "postgres"}]})),
        tool_rule.clone()
    )
    .contains("routes[0].llm.sql[0].pointer"));
    assert!(bad(llm(json!({"provider": "openai"})), mcp_rule).contains("when.tool"));
    assert!(bad(json!({"name": "a", "rules": ["r"]}), tool_rule.clone()).contains("carries no tool calls"));
    assert!(bad(
        json!({"name": "a", "llm": {"provider": "openai"}, "sql": {"dialect": "postgres"}, "rules": ["r"]}),
        tool_rule.clone()
    )
    .contains("llm.sql"));
    let refused = bad(llm(json!({"provider": "anthropic", "on_deny": "error"})), tool_rule.clone());
    assert!(refused.contains("routes[0].llm.on_deny") && refused.contains("allow_on_headers_stop_iteration"), "{refused}");
    let mut held = json!({"version": 1, "proxy": {"allow_on_headers_stop_iteration": true}, "rules": [tool_rule],
        "routes": [llm(json!({"provider": "anthropic", "on_deny": "error"}))]});
    assert!(Policy::from_value(&held).is_ok());
    held["mode"] = json!("monitor");
    assert!(Policy::from_value(&held).is_ok());
}

#[test]
fn on_deny_error_holds_the_answer_and_monitor_mode_passes_it() {
    use access_guardrails::audit::Site;
    use access_guardrails::engine::{conclude, Delivery, Environment, ResponsePlan};
    use access_guardrails::llm::Api;
    let plan = |mode: &str| {
        let mut doc = policy_doc();
        doc["mode"] = json!(mode);
        let p = Policy::from_value(&doc).unwrap_or_else(|e| panic!("{e:?}"));
        let request = request("/anthropic/v1/messages", "agent:a");
        let route = p.route(&request).unwrap();
        let actor = resolve(&p.identity, &HttpAttributes::headers_only(&request));
        let env = Environment { site: Site::Http(&request), audit_unavailable: false, now_nanos: 2, started_nanos: 1 };
        let asked = send(&p, "/anthropic/v1/messages", "agent:a", &json!({"model": "claude-x", "messages": []}));
        conclude(&p, route, &actor, asked, &env).response
    };
    assert_eq!(plan("enforce"), ResponsePlan::ToolCalls { api: Api::Messages, delivery: Delivery::WholeOrRefused });
    assert_eq!(plan("monitor"), ResponsePlan::ToolCalls { api: Api::Messages, delivery: Delivery::Unchanged });
}

#[test]
fn a_providers_response_is_planned_for_its_calls_and_a_denied_call_is_replaced_by_its_refusal() {
    use access_guardrails::audit::Site;
    use access_guardrails::engine::{conclude, Delivery, Environment, ResponsePlan};
    use access_guardrails::llm::{Api, Verdict};
    let mut doc = policy_doc();
    doc["audit"] = json!({"cluster": "audit", "path": "/"});
    let p = Policy::from_value(&doc).unwrap_or_else(|e| panic!("{e:?}"));
    let request = request("/v1/chat/completions", "agent:a");
    let route = p.route(&request).unwrap();
    let actor = resolve(&p.identity, &HttpAttributes::headers_only(&request));
    let env = Environment { site: Site::Http(&request), audit_unavailable: false, now_nanos: 2, started_nanos: 1 };
    let asked = send(&p, "/v1/chat/completions", "agent:a", &json!({"model": "gpt-x", "messages": []}));
    let plan = conclude(&p, route, &actor, asked, &env).response;
    assert_eq!(plan, ResponsePlan::ToolCalls { api: Api::ChatCompletions, delivery: Delivery::Rewritten });
    let call = ToolCall::from_text("call_9".into(), "run_sql".into(), r#"{"query": "DROP TABLE users"}"#);
    let outcome = evaluate_tool_call(&p, route, &actor, &request, Some("gpt-x".into()), &call, None);
    let concluded = conclude(&p, route, &actor, outcome, &env);
    let Verdict::Replace(text) = concluded.tool_call_verdict(&call) else { panic!("released") };
    assert!(text.contains("no-drops") && text.contains("call_9"), "{text}");
    let record = concluded.record.unwrap();
    assert_eq!((record["action_kind"].as_str(), record["llm_provider"].as_str()), (Some("llm"), Some("openai")));
    assert_eq!((record["tool_call_id"].as_str(), record["tool_name"].as_str()), (Some("call_9"), Some("run_sql")));
    assert_eq!((record["llm_model"].as_str(), record["action_statement"].as_str()), (Some("gpt-x"), Some("DROP TABLE users")));
    // Monitor mode records the call and changes nothing.
    doc["mode"] = json!("monitor");
    let p = Policy::from_value(&doc).unwrap_or_else(|e| panic!("{e:?}"));
    let route = p.route(&request).unwrap();
    let outcome = evaluate_tool_call(&p, route, &actor, &request, None, &call, None);
    let concluded = conclude(&p, route, &actor, outcome, &env);
    assert_eq!(concluded.tool_call_verdict(&call), Verdict::Release);
    assert_eq!(concluded.record.unwrap()["decision_would"], "no-drops");
}
