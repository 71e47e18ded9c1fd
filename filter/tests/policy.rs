//! Policy v1 validation: every problem reported at once, each at its JSON path; a valid policy
//! compiles, hashes canonically, and keeps its defaults.

use access_guardrails::policy::{Effect, Mode, Policy};
use serde_json::json;

fn errors(policy: serde_json::Value) -> Vec<String> {
    match Policy::from_value(&policy) {
        Ok(_) => panic!("policy was accepted: {policy}"),
        Err(errors) => errors.iter().map(|e| e.to_string()).collect(),
    }
}

fn has(errors: &[String], expected: &str) {
    assert!(errors.iter().any(|e| e == expected), "expected {expected:?} among {errors:#?}");
}

fn minimal() -> serde_json::Value {
    json!({"version": 1, "routes": [{"name": "r", "sql": {"dialect": "postgres"}}], "rules": []})
}

#[test]
fn minimal_policy_gets_the_documented_defaults() {
    let policy = Policy::from_value(&minimal()).unwrap();
    assert_eq!(policy.mode, Mode::Enforce);
    assert_eq!(policy.limits.max_body_bytes, 1_048_576);
    assert_eq!(policy.limits.on_unparsable, Effect::Deny);
    assert_eq!(policy.limits.on_oversize, Effect::Deny);
    assert_eq!(policy.limits.on_encoded_body, Effect::Deny);
    assert_eq!(policy.routes[0].default, Effect::Allow);
    assert!(policy.audit.is_none());
    assert_eq!(policy.identity.principal.len(), 3);
    assert_eq!(policy.identity.agent_when.len(), 2);
    assert_eq!(policy.hash.len(), 64);
}

#[test]
fn every_problem_is_reported_with_its_path() {
    let errs = errors(json!({
        "version": 1,
        "mode": "enforcing",
        "routes": [
            {"name": "a", "match": {"path": "/x/[", "methods": []}, "sql": {"dialect": "oracle9"}, "rules": ["no-drop"]},
            {"name": "a", "sql": {"preset": "snowflak"}, "rules": ["no-drops", "no-drops"]},
            {"name": "c", "sql": {"dialect": "mysql", "from": {"json": "query"}}}
        ],
        "rules": [
            {"name": "no-drops", "effect": "deny", "when": {"sql": {"operations": ["drop", "destroy"], "tables": []}}},
            {"name": "no-drops", "effect": "deny"},
            {"name": "x", "effect": "deny", "when": {"actor": "robot", "sql": {"columns": {"only": ["a"], "any": ["b"]}}}},
            {"name": "y", "effect": "maybe"}
        ]
    }));
    has(&errs, "mode: unknown variant `enforcing`, expected `enforce` or `monitor`");
    has(&errs, "routes[0].match.path: bad glob: pattern \"/x/[\" has an unclosed '['");
    has(&errs, "routes[0].match.methods: must not be empty");
    assert!(errs.iter().any(|e| e.starts_with("routes[0].sql.dialect: unknown dialect \"oracle9\"")), "{errs:#?}");
    has(&errs, "routes[0].rules[0]: unknown rule \"no-drop\" (did you mean \"no-drops\"?)");
    has(&errs, "routes[1].name: duplicate route name \"a\"");
    assert!(errs.iter().any(|e| e.starts_with("routes[1].sql.preset: unknown preset \"snowflak\"")), "{errs:#?}");
    has(&errs, "routes[1].rules[1]: rule \"no-drops\" is listed twice");
    has(&errs, "routes[2].sql.from.json: JSON pointer \"query\" must be empty or start with '/'");
    assert!(errs.iter().any(|e| e.starts_with("rules[0].when.sql.operations[1]: unknown operation \"destroy\"")), "{errs:#?}");
    has(&errs, "rules[0].when.sql.tables: must not be empty");
    has(&errs, "rules[1].name: duplicate rule name \"no-drops\"");
    has(&errs, "rules[2].when.actor: unknown actor kind \"robot\", expected agent, human or any");
    has(&errs, "rules[2].when.sql.columns: set exactly one of only, any");
    has(&errs, "rules[3].effect: unknown variant `maybe`, expected `allow` or `deny`");
}

#[test]
fn unknown_fields_are_errors_at_every_level() {
    let errs = errors(json!({
        "version": 1, "extra": true,
        "limits": {"max_body_bytes": 10, "on_oversise": "deny"},
        "routes": [{"name": "r", "sql": {"dialect": "postgres"}, "matches": {}}],
        "rules": [{"name": "n", "effect": "deny", "when": {"sql": {"operation": ["drop"]}}}]
    }));
    assert!(errs.iter().any(|e| e.starts_with("extra: unknown field")), "{errs:#?}");
    assert!(errs.iter().any(|e| e.starts_with("limits.on_oversise: unknown field `on_oversise`")), "{errs:#?}");
    assert!(errs.iter().any(|e| e.starts_with("routes[0].matches: unknown field `matches`")), "{errs:#?}");
    assert!(errs.iter().any(|e| e.starts_with("rules[0].when.sql.operation: unknown field `operation`")), "{errs:#?}");
}

#[test]
fn missing_and_wrong_top_level_fields() {
    let errs = errors(json!({"routes": []}));
    has(&errs, "version: missing required field");
    has(&errs, "rules: missing required field");
    has(&errs, "routes: must not be empty: with no route the filter inspects nothing");
    let errs = errors(json!({"version": 2, "routes": [{"name": "r"}], "rules": []}));
    has(&errs, "version: unsupported version 2, expected 1");
    let errs = errors(json!([1, 2]));
    has(&errs, "policy must be a JSON object");
    assert!(Policy::from_json("{not json").unwrap_err()[0].message.starts_with("policy is not valid JSON"));
}

#[test]
fn sql_sources_and_limits_are_checked() {
    let errs = errors(json!({
        "version": 1,
        "limits": {"max_body_bytes": 0},
        "routes": [
            {"name": "a", "sql": {"preset": "snowflake", "from": "body"}},
            {"name": "b", "sql": {"from": "body"}},
            {"name": "c", "rules": ["needs-sql"]}
        ],
        "rules": [{"name": "needs-sql", "effect": "deny", "when": {"sql": {"operations": ["drop"]}}}]
    }));
    has(&errs, "limits.max_body_bytes: must be between 1 and 67108864");
    has(&errs, "routes[0].sql.from: a preset says where the SQL is: remove `from` or the preset");
    has(&errs, "routes[1].sql.dialect: required unless a preset is given");
    has(&errs, "routes[2].rules[0]: rule \"needs-sql\" has a sql condition, but the route reads no SQL (add a sql section)");
}

#[test]
fn identity_and_audit_sections_are_checked() {
    let errs = errors(json!({
        "version": 1,
        "identity": {"principal": [{"header": "bad header"}], "agent_when": [{"principal": "agent[*"}]},
        "audit": {"cluster": "", "path": "x", "batch": {"max_records": 0}},
        "routes": [{"name": "r"}],
        "rules": []
    }));
    has(&errs, "identity.principal[0].header: \"bad header\" is not a valid header name");
    has(&errs, "identity.agent_when[0].principal: bad glob: pattern \"agent[*\" has an unclosed '['");
    has(&errs, "audit.cluster: must name an Envoy cluster");
    has(&errs, "audit.path: must start with '/'");
    has(&errs, "audit.batch.max_records: must be at least 1");
}

#[test]
fn the_hash_ignores_layout_and_key_order_but_not_content() {
    let a = Policy::from_json(r#"{"version":1,"routes":[{"name":"r","sql":{"dialect":"postgres"}}],"rules":[]}"#).unwrap();
    let b = Policy::from_json(
        "{\n  \"rules\": [],\n  \"routes\": [{\"sql\": {\"dialect\": \"postgres\"}, \"name\": \"r\"}],\n  \"version\": 1\n}",
    )
    .unwrap();
    let c = Policy::from_json(r#"{"version":1,"routes":[{"name":"r","sql":{"dialect":"mysql"}}],"rules":[]}"#).unwrap();
    assert_eq!(a.hash, b.hash);
    assert_ne!(a.hash, c.hash);
}

#[test]
fn route_match_conditions_compile() {
    let policy = Policy::from_value(&json!({
        "version": 1,
        "routes": [
            {"name": "wh", "match": {"path": "/api/*/statements", "methods": ["post"], "authority": "*.snowflakecomputing.com",
             "headers": [{"name": "X-Env", "equals": "prod"}]}, "sql": {"preset": "snowflake"}},
            {"name": "rest", "match": {"path_prefix": "/"}}
        ],
        "rules": []
    }))
    .unwrap();
    use access_guardrails::http::Request;
    let req =
        |method: &str, path: &str, host: &str, env: &str| Request::new(method, path, host, vec![("x-env".into(), env.into())]);
    let name = |r: &Request| policy.route(r).map(|r| r.name.clone());
    assert_eq!(name(&req("POST", "/api/v2/statements", "acme.snowflakecomputing.com", "prod")).as_deref(), Some("wh"));
    assert_eq!(name(&req("GET", "/api/v2/statements", "acme.snowflakecomputing.com", "prod")).as_deref(), Some("rest"));
    assert_eq!(name(&req("POST", "/api/v2/statements", "acme.snowflakecomputing.com", "dev")).as_deref(), Some("rest"));
    assert_eq!(name(&req("POST", "/api//v2/./statements", "ACME.snowflakecomputing.com:443", "prod")).as_deref(), Some("wh"));
}

#[test]
fn table_patterns_match_from_the_right() {
    use access_guardrails::policy::TablePattern;
    use access_guardrails::sql::ObjectPath;
    let policy = Policy::from_value(&json!({
        "version": 1,
        "routes": [{"name": "r", "sql": {"dialect": "postgres"}, "rules": ["t"]}],
        "rules": [{"name": "t", "effect": "deny", "when": {"sql": {"tables": ["orders", "vault.*", "audit.**", "*.secrets"]}}}]
    }))
    .unwrap();
    let patterns: &Vec<TablePattern> = policy.rules[0].sql.as_ref().unwrap().tables.as_ref().unwrap();
    let path = |s: &str| ObjectPath::new(s.split('.').map(String::from).collect());
    let hits = |p: &TablePattern, s: &str| p.matches(&path(s));
    let [orders, vault, audit, secrets] = [&patterns[0], &patterns[1], &patterns[2], &patterns[3]];
    assert!(hits(orders, "orders") && hits(orders, "shop.orders") && hits(orders, "db.shop.ORDERS"));
    assert!(!hits(orders, "orders_archive") && !hits(orders, "orders.x"));
    assert!(hits(vault, "vault.keys") && hits(vault, "db.vault.keys"));
    assert!(!hits(vault, "keys") && !hits(vault, "vault.dbo.keys"));
    assert!(hits(audit, "audit.log") && hits(audit, "audit.dbo.log"));
    assert!(!hits(audit, "log"));
    assert!(hits(secrets, "secrets") && hits(secrets, "app.secrets"));
}
