//! One conclusion path for every channel: what `engine::conclude` hands the host for an HTTP
//! request, an MCP or GraphQL body, and a database message alike.

use access_guardrails::audit::Site;
use access_guardrails::engine::{conclude, evaluate, evaluate_sql, Conclusion, Environment, FilterState, Masking, ResponsePlan};
use access_guardrails::http::Request;
use access_guardrails::identity::{resolve, Actor, HttpAttributes, WireAttributes};
use access_guardrails::policy::{Effect, Policy, Protocol};
use access_guardrails::reply::Reply;
use access_guardrails::sql::{Dialect, Settings};
use serde_json::{json, Value};

const AUDIT: &str = r#""audit": {"cluster": "audit", "on_unavailable": "deny"}"#;

fn http_policy() -> Policy {
    let text = format!(
        r#"{{"version": 1, {AUDIT},
            "routes": [
              {{"name": "mcp", "match": {{"path": "/mcp"}}, "mcp": {{}}}},
              {{"name": "graphql", "match": {{"path": "/graphql"}}, "graphql": {{}}}},
              {{"name": "sql", "match": {{"path": "/sql"}}, "sql": {{"dialect": "postgres"}},
                "mask": {{"detectors": {{"email": "redact"}}, "actor": "agent"}}, "rules": ["no-drops"]}}],
            "rules": [{{"name": "no-drops", "effect": "deny", "when": {{"sql": {{"operations": ["drop"]}}}}}}]}}"#
    );
    Policy::from_json(&text).unwrap_or_else(|e| panic!("{e:?}"))
}

fn wire_policy(protocol: &str) -> Policy {
    let text = format!(
        r#"{{"version": 1, "protocol": "{protocol}", {AUDIT},
            "routes": [{{"name": "shop", "match": {{}}, "rules": ["no-drops"]}}],
            "rules": [{{"name": "no-drops", "effect": "deny", "when": {{"sql": {{"operations": ["drop"]}}}}}}]}}"#
    );
    Policy::from_json(&text).unwrap_or_else(|e| panic!("{e:?}"))
}

fn environment(site: Site<'_>, audit_unavailable: bool) -> Environment<'_> {
    Environment { site, audit_unavailable, now_nanos: 2_000_000, started_nanos: 1_000_000 }
}

fn http(policy: &Policy, path: &str, agent: bool, body: &str, audit_unavailable: bool) -> Conclusion {
    // A person is named: an actor without a principal counts as an agent.
    let (name, value) = if agent { ("x-actor-kind", "agent") } else { ("x-agent-id", "alice") };
    let headers = vec![(name.to_string(), value.to_string())];
    let request = Request::new("POST", path, "h", headers);
    let route = policy.route(&request).expect("a route");
    let actor = resolve(&policy.identity, &HttpAttributes::headers_only(&request));
    let outcome = evaluate(policy, route, &actor, &request, Some(body.as_bytes()), None);
    conclude(policy, route, &actor, outcome, &environment(Site::Http(&request), audit_unavailable))
}

fn wire(policy: &Policy, sql: &str, audit_unavailable: bool) -> Conclusion {
    let params = [("user".to_string(), "app".to_string()), ("database".to_string(), "shop".to_string())];
    let actor: Actor = resolve(&policy.identity, &WireAttributes { params: &params, peer_spiffe: None });
    let route = &policy.routes[0];
    let outcome = evaluate_sql(policy, route, &actor, sql, &Settings::default_for(Dialect::Postgres), None);
    let site = Site::Db { protocol: policy.protocol, database: "shop", user: "app" };
    conclude(policy, route, &actor, outcome, &environment(site, audit_unavailable))
}

fn record(conclusion: &Conclusion) -> &serde_json::Map<String, Value> {
    conclusion.record.as_ref().expect("the policy audits")
}

#[test]
fn an_unreadable_body_is_audited_as_its_routes_kind_of_action() {
    let p = http_policy();
    let mcp = http(&p, "/mcp", false, "{not json", false);
    assert_eq!(mcp.outcome.decision.rule.as_deref(), Some("limits.on_unparsable"));
    assert_eq!(record(&mcp)["action_kind"], "mcp");
    let graphql = http(&p, "/graphql", false, "{\"query\": \"query {\"}", false);
    assert_eq!(record(&graphql)["action_kind"], "graphql");
    assert_eq!(record(&http(&p, "/sql", false, "SELECT 1", false))["action_kind"], "sql");
}

#[test]
fn audit_unavailability_denies_on_every_channel() {
    let p = http_policy();
    let denied = http(&p, "/sql", false, "SELECT 1", true);
    assert_eq!(denied.outcome.decision.rule.as_deref(), Some("audit.on_unavailable"));
    assert!(matches!(&denied.reply, Some(Reply::Http(reply)) if reply.status == 403));
    for protocol in ["postgres", "mysql"] {
        let p = wire_policy(protocol);
        let allowed = wire(&p, "SELECT 1", false);
        assert!(!allowed.outcome.decision.is_deny() && allowed.reply.is_none());
        let denied = wire(&p, "SELECT 1", true);
        assert_eq!(denied.outcome.decision.rule.as_deref(), Some("audit.on_unavailable"), "{protocol}");
        match &denied.reply {
            Some(Reply::Wire { message }) => assert!(message.contains("audit.on_unavailable"), "{message}"),
            other => panic!("{protocol}: expected an in-band error, got {other:?}"),
        }
        assert_eq!(record(&denied)["decision_rule"], "audit.on_unavailable");
    }
}

#[test]
fn a_database_record_names_the_connection_and_no_http_request() {
    let p = wire_policy("postgres");
    let denied = wire(&p, "DROP TABLE orders", false);
    let record = record(&denied);
    assert_eq!(
        (&record["db_protocol"], &record["db_database"], &record["db_user"]),
        (&json!("postgres"), &json!("shop"), &json!("app"))
    );
    for key in ["http_method", "http_path", "http_authority", "request_id"] {
        assert!(record[key].is_null(), "{key}: {}", record[key]);
    }
    assert_eq!((&record["action_kind"], &record["latency_us"]), (&json!("sql"), &json!(1000)));
    assert!(matches!(&denied.reply, Some(Reply::Wire { message }) if message.contains("no-drops")));
    assert_eq!(p.protocol, Protocol::Postgres);
}

#[test]
fn masking_and_the_filter_state_are_concluded_once() {
    let p = http_policy();
    let agent = http(&p, "/sql", true, "SELECT email FROM users", false);
    assert_eq!(agent.response, ResponsePlan::Mask(Masking::Apply));
    assert_eq!(http(&p, "/sql", false, "SELECT email FROM users", false).response, ResponsePlan::Untouched);
    let denied = http(&p, "/sql", true, "DROP TABLE users", false);
    assert_eq!(denied.response, ResponsePlan::Untouched, "a denied request has no response to mask");
    let state: FilterState = serde_json::from_str(&denied.filter_state).unwrap();
    assert_eq!((state.effect, state.route.as_str(), state.rule.as_deref()), (Effect::Deny, "sql", Some("no-drops")));

    let monitor = Policy::from_value(&json!({
        "version": 1, "mode": "monitor",
        "routes": [{"name": "sql", "match": {}, "sql": {"dialect": "postgres"}, "default": "deny",
                    "mask": {"detectors": {"email": "redact"}}}],
        "rules": []
    }))
    .unwrap();
    let counted = http(&monitor, "/sql", true, "SELECT 1", false);
    assert!(!counted.outcome.decision.is_deny() && counted.outcome.decision.would_deny.is_some());
    assert_eq!(counted.response, ResponsePlan::Mask(Masking::CountOnly));
    assert!(counted.record.is_none(), "no audit section, no record");
}
