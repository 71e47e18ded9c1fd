//! Decision semantics: deny wins, allow must cover the whole statement, route defaults, shadow
//! rules, monitor mode, unparsable SQL and limits.

use access_guardrails::decide::{decide_limit, Limit, Reason};
use access_guardrails::engine::{evaluate, Outcome};
use access_guardrails::http::Request;
use access_guardrails::identity::{resolve, HttpAttributes};
use access_guardrails::policy::{Effect, Policy};
use serde_json::{json, Value};

fn policy(mode: &str, default: &str, on_unparsable: &str, rules: Value, names: &[&str]) -> Policy {
    Policy::from_value(&json!({
        "version": 1,
        "mode": mode,
        "identity": {"principal": [{"header": "x-agent-id"}], "agent_when": [{"principal": "agent:*"}]},
        "limits": {"on_unparsable": on_unparsable},
        "routes": [
            {"name": "sql", "match": {"path_prefix": "/sql"}, "sql": {"dialect": "postgres", "from": {"json": "/query"}},
             "default": default, "rules": names},
            {"name": "admin", "match": {"path_prefix": "/admin"}, "default": "allow", "rules": ["agents-out-of-admin"]}
        ],
        "rules": rules
    }))
    .unwrap_or_else(|e| panic!("{e:?}"))
}

fn standard(mode: &str) -> Policy {
    policy(
        mode,
        "deny",
        "deny",
        json!([
            {"name": "no-drops", "effect": "deny", "when": {"sql": {"operations": ["drop"]}}, "message": "Use migrations."},
            {"name": "reads", "effect": "allow", "when": {"sql": {"operations": ["select"]}}},
            {"name": "shadow-deletes", "effect": "deny", "mode": "monitor", "when": {"sql": {"operations": ["delete"]}}},
            {"name": "humans-delete", "effect": "allow", "when": {"actor": "human", "sql": {"operations": ["delete"]}}},
            {"name": "agents-out-of-admin", "effect": "deny", "when": {"actor": "agent"}}
        ]),
        &["no-drops", "reads", "shadow-deletes", "humans-delete"],
    )
}

fn run(policy: &Policy, path: &str, who: &str, sql: &str) -> Outcome {
    let request = Request::new("POST", path, "h", vec![("x-agent-id".into(), who.into())]);
    let route = policy.route(&request).expect("route");
    let actor = resolve(&policy.identity, &HttpAttributes::headers_only(&request));
    let body = json!({ "query": sql }).to_string();
    evaluate(policy, route, &actor, &request, Some(body.as_bytes()), None)
}

#[test]
fn deny_wins_and_names_rule_message_and_statement() {
    let p = standard("enforce");
    let out = run(&p, "/sql", "alice", "SELECT 1; DROP TABLE t; SELECT 2");
    let d = &out.decision;
    assert_eq!(d.effect, Effect::Deny);
    assert_eq!(d.rule.as_deref(), Some("no-drops"));
    assert_eq!(d.message, "Use migrations.");
    assert_eq!(d.statement(), Some(1));
    assert_eq!(out.action.statements()[1].text, "DROP TABLE t");
}

#[test]
fn allow_rules_must_cover_the_whole_statement() {
    let p = standard("enforce");
    // A CTE delete is not excused by the allow on reads, and agents may not delete.
    let out = run(&p, "/sql", "agent:bot", "WITH d AS (DELETE FROM t WHERE id = 1 RETURNING *) SELECT * FROM d");
    assert_eq!(out.decision.effect, Effect::Deny);
    assert_eq!(out.decision.reason, Reason::RouteDefault);
    assert_eq!(out.decision.rule, None);
    assert_eq!(run(&p, "/sql", "agent:bot", "SELECT * FROM t").decision.rule.as_deref(), Some("reads"));
}

#[test]
fn shadow_rules_record_would_deny_and_never_block() {
    let p = standard("enforce");
    let out = run(&p, "/sql", "alice", "DELETE FROM t WHERE id = 4");
    assert_eq!(out.decision.effect, Effect::Allow);
    assert_eq!(out.decision.rule.as_deref(), Some("humans-delete"));
    let would = out.decision.would_deny.expect("would-deny");
    assert_eq!(would.rule, "shadow-deletes");
    assert_eq!(would.statement, Some(0));
}

#[test]
fn monitor_mode_allows_and_records_what_it_would_have_done() {
    let p = standard("monitor");
    let out = run(&p, "/sql", "alice", "DROP TABLE t");
    assert_eq!(out.decision.effect, Effect::Allow);
    assert!(!out.decision.enforced);
    assert_eq!(out.decision.would_deny.as_ref().map(|w| w.rule.as_str()), Some("no-drops"));
    let out = run(&p, "/sql", "alice", "SELECT 1");
    assert_eq!(out.decision.effect, Effect::Allow);
    assert_eq!(out.decision.would_deny, None);
}

#[test]
fn unparsable_sql_meets_deny_rules_then_the_limit() {
    let allow_unparsable = policy(
        "enforce",
        "allow",
        "allow",
        json!([
            {"name": "no-drops", "effect": "deny", "when": {"sql": {"operations": ["drop"]}}},
            {"name": "agents-out-of-admin", "effect": "deny", "when": {"actor": "agent"}}
        ]),
        &["no-drops"],
    );
    // The tokens say DROP: denied by the rule even though unparsable SQL is allowed.
    let out = run(&allow_unparsable, "/sql", "alice", "DROP TABBLE users");
    assert_eq!(out.decision.effect, Effect::Deny);
    assert_eq!(out.decision.rule.as_deref(), Some("no-drops"));
    assert!(out.decision.message.contains("did not parse"), "{}", out.decision.message);
    // No rule matches: the limit decides.
    let out = run(&allow_unparsable, "/sql", "alice", "SELEKT * FROM t");
    assert_eq!(out.decision.effect, Effect::Allow);
    assert_eq!(out.decision.reason, Reason::Limit(Limit::Unparsable));
    let strict = standard("enforce");
    let out = run(&strict, "/sql", "alice", "SELEKT * FROM t");
    assert_eq!(out.decision.effect, Effect::Deny);
    assert_eq!(out.decision.rule.as_deref(), Some("limits.on_unparsable"));
}

#[test]
fn missing_payloads_and_empty_sql_follow_on_unparsable() {
    let p = standard("enforce");
    let request = Request::new("POST", "/sql", "h", vec![]);
    let route = p.route(&request).unwrap();
    let actor = resolve(&p.identity, &HttpAttributes::headers_only(&request));
    for body in [None, Some(&b"{}"[..]), Some(&b"{\"query\": \"  -- nothing\"}"[..]), Some(&b"not json"[..])] {
        let out = evaluate(&p, route, &actor, &request, body, None);
        assert_eq!(out.decision.effect, Effect::Deny, "{body:?}");
        assert_eq!(out.decision.rule.as_deref(), Some("limits.on_unparsable"), "{body:?}");
    }
}

#[test]
fn limits_decide_by_their_setting() {
    let p = standard("enforce");
    let d = decide_limit(&p, Limit::Oversize, "body over 1048576 bytes".into());
    assert_eq!((d.effect, d.rule.as_deref()), (Effect::Deny, Some("limits.on_oversize")));
    let monitor = standard("monitor");
    let d = decide_limit(&monitor, Limit::EncodedBody, "br".into());
    assert_eq!(d.effect, Effect::Allow);
    assert_eq!(d.would_deny.map(|w| w.rule), Some("limits.on_encoded_body".to_string()));
}

#[test]
fn routes_without_sql_decide_on_the_actor() {
    let p = standard("enforce");
    assert_eq!(run(&p, "/admin/users", "agent:bot", "").decision.effect, Effect::Deny);
    assert_eq!(run(&p, "/admin/users", "alice", "").decision.effect, Effect::Allow);
}
