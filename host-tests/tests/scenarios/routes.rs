//! Routes and identity through the compiled filter: a path spelled another way, a method
//! override, a request that reads as two routes, and actors without a principal or with
//! conflicting ones.

use crate::common::*;
use guardrails_host::StartError;

const POLICY: &str = r#"
version: 1
routes:
  - name: sql
    match: {path: /sql, methods: [POST]}
    sql: {dialect: postgres, from: body}
    rules: [no-drops, agents-bounded]
  - name: users
    match: {path: "/api/users/*"}
    rules: [agents-no-admin]
  - name: admin
    match: {path_prefix: /admin, methods: [DELETE]}
    rules: [agents-no-admin]
rules:
  - {name: no-drops, effect: deny, when: {sql: {operations: [drop, truncate]}}}
  - {name: agents-bounded, effect: deny, when: {actor: agent, sql: {operations: [update, delete], unbounded: true}}}
  - {name: agents-no-admin, effect: deny, when: {actor: agent}}
"#;

const AGENT: (&str, &str) = ("x-agent-id", "agent:etl");
const PERSON: (&str, &str) = ("x-agent-id", "alice");

#[test]
fn a_path_spelled_another_way_is_still_guarded() {
    let mut host = start(POLICY);
    for path in ["/sql/", "//sql", "/SQL", "/sql;v=1", "/x/..;/sql", "/x/%2e%2e/sql", "/%73ql", "/sql?x=1"] {
        let id = send(&mut host, &headers("POST", path, &[PERSON]), &[b"DROP TABLE orders"]);
        assert_eq!(denied_by(&host, id).as_deref(), Some("no-drops"), "{path}");
    }
    for path in ["/api/users/7/", "/api//users/7", "/api%2Fusers/7", "/API/users/7"] {
        let id = send(&mut host, &headers("GET", path, &[AGENT]), &[]);
        assert_eq!(denied_by(&host, id).as_deref(), Some("agents-no-admin"), "{path}");
    }
    let id = send(&mut host, &headers("GET", "/api/users/7", &[PERSON]), &[]);
    assert!(passed(&host, id));
}

#[test]
fn a_method_override_is_matched_as_the_method_it_asks_for() {
    let mut host = start(POLICY);
    let id = send(&mut host, &headers("POST", "/admin/users/7", &[AGENT]), &[]);
    assert!(passed(&host, id), "a plain POST is not a route for DELETE");
    for header in ["x-http-method-override", "x-http-method", "x-method-override"] {
        let id = send(&mut host, &headers("POST", "/admin/users/7", &[AGENT, (header, "DELETE")]), &[]);
        assert_eq!(denied_by(&host, id).as_deref(), Some("agents-no-admin"), "{header}");
    }
    let id = send(&mut host, &headers("POST", "/admin/users/7?_method=delete", &[AGENT]), &[]);
    assert_eq!(denied_by(&host, id).as_deref(), Some("agents-no-admin"));
    let form = headers("POST", "/admin/users/7", &[AGENT, ("content-type", "application/x-www-form-urlencoded")]);
    let id = send(&mut host, &form, &[b"_method=DELETE"]);
    assert_eq!(denied_by(&host, id).as_deref(), Some("agents-no-admin"), "_method in a form body");
}

#[test]
fn a_request_that_reads_as_two_routes_is_denied_as_ambiguous() {
    let config =
        POLICY.replace("rules:\n  - {name: no-drops", "  - name: rest\n    match: {path_prefix: /}\nrules:\n  - {name: no-drops");
    let mut host = start(&config);
    let id = send(&mut host, &headers("POST", "/sql", &[PERSON]), &[b"SELECT 1"]);
    assert!(passed(&host, id));
    let id = send(&mut host, &headers("POST", "/elsewhere", &[PERSON]), &[b"DROP TABLE orders"]);
    assert!(passed(&host, id), "the catch-all has no rules");
    for path in ["/sql/", "/SQL", "/x/..;/sql"] {
        let id = send(&mut host, &headers("POST", path, &[PERSON]), &[b"SELECT 1"]);
        assert_eq!(denied_by(&host, id).as_deref(), Some("routes"), "{path}");
        let reply = host.stream(id).local_reply.as_ref().unwrap();
        let body: serde_json::Value = serde_json::from_slice(&reply.body).unwrap();
        assert!(body["message"].as_str().unwrap_or("").contains("ambiguous"), "{body}");
    }
}

#[test]
fn an_actor_without_a_principal_or_with_conflicting_ones_counts_as_an_agent() {
    let mut host = start(POLICY);
    let unbounded: &[&[u8]] = &[b"DELETE FROM orders"];
    let id = send(&mut host, &headers("POST", "/sql", &[PERSON]), unbounded);
    assert!(passed(&host, id));
    let id = send(&mut host, &headers("POST", "/sql", &[]), unbounded);
    assert_eq!(denied_by(&host, id).as_deref(), Some("agents-bounded"), "no principal");
    let id = send(&mut host, &headers("POST", "/sql", &[("x-agent-id", "alice, agent:etl")]), unbounded);
    assert_eq!(denied_by(&host, id).as_deref(), Some("agents-bounded"), "comma-joined");
    let id = send(&mut host, &headers("POST", "/sql", &[PERSON, ("x-agent-id", "bob")]), unbounded);
    assert_eq!(denied_by(&host, id).as_deref(), Some("agents-bounded"), "two entries");
    let id = send(&mut host, &headers("POST", "/sql", &[PERSON, ("x-actor-kind", "human, agent")]), unbounded);
    assert_eq!(denied_by(&host, id).as_deref(), Some("agents-bounded"), "an agent marker among joined values");

    let lenient = format!("identity: {{unknown_actors: human}}\n{POLICY}");
    let mut host = start(&lenient);
    let id = send(&mut host, &headers("POST", "/sql", &[]), unbounded);
    assert!(passed(&host, id), "unknown_actors: human");
    let id = send(&mut host, &headers("POST", "/sql", &[PERSON, ("x-agent-id", "bob")]), unbounded);
    assert_eq!(denied_by(&host, id).as_deref(), Some("agents-bounded"), "a conflict is never an unknown person");
}

#[test]
fn a_bad_unknown_actors_setting_is_refused_at_its_path() {
    let config = json(&format!("identity: {{unknown_actors: robot}}\n{POLICY}"));
    let StartError::Configure { logs } = start_err(&config) else { panic!("expected a configure failure") };
    let expected = "identity.unknown_actors: unknown variant `robot`, expected `agent` or `human`";
    assert!(logs.iter().any(|l| l.message.contains(expected)), "{logs:?}");
}
