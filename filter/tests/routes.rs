//! Routes cannot be sidestepped: a request a server reads as the guarded endpoint is matched to
//! its route, whatever its path's spelling or method override, and one that reads as two
//! different routes is ambiguous.

use access_guardrails::http::Request;
use access_guardrails::policy::{Policy, RouteChoice};
use serde_json::json;

fn policy(routes: serde_json::Value) -> Policy {
    Policy::from_value(&json!({"version": 1, "routes": routes, "rules": []})).unwrap_or_else(|e| panic!("{e:?}"))
}

fn guarded() -> Policy {
    policy(json!([
        {"name": "sql", "match": {"path": "/sql"}},
        {"name": "user", "match": {"path": "/api/users/*"}},
        {"name": "drop", "match": {"path_prefix": "/admin", "methods": ["DELETE"]}}
    ]))
}

fn route_of(policy: &Policy, method: &str, path: &str, headers: &[(&str, &str)]) -> Option<String> {
    let headers = headers.iter().map(|(n, v)| (n.to_string(), v.to_string())).collect();
    policy.route(&Request::new(method, path, "h", headers)).map(|r| r.name.clone())
}

#[test]
fn path_spellings_a_server_reads_as_the_route_are_guarded_by_it() {
    let p = guarded();
    for path in [
        "/sql/",
        "//sql",
        "/sql//",
        "/./sql",
        "/x/../sql",
        "/x/%2e%2e/sql",
        "/x/%2E%2E/sql",
        "/%73ql",
        "/SQL",
        "/Sql/",
        "/sql;jsessionid=7",
        "/x/..;/sql",
        "/x\\..\\sql",
        "/sql?x=1",
        "/sql#frag",
    ] {
        assert_eq!(route_of(&p, "POST", path, &[]).as_deref(), Some("sql"), "{path}");
    }
    for path in ["/api/users/7/", "/api/users/7;v=1", "/API/Users/7", "/api//users/7", "/api%2Fusers/7", "/api%2fusers%2F7"] {
        assert_eq!(route_of(&p, "GET", path, &[]).as_deref(), Some("user"), "{path}");
    }
    assert_eq!(route_of(&p, "POST", "/sqlx", &[]), None);
    assert_eq!(route_of(&p, "POST", "/sql/x", &[]), None);
    assert_eq!(route_of(&p, "POST", "/sql%3Fx", &[]), None);
}

#[test]
fn a_glob_written_with_a_trailing_slash_matches_without_one() {
    let p = policy(json!([{"name": "sql", "match": {"path": "/sql/"}}]));
    assert_eq!(route_of(&p, "POST", "/sql", &[]).as_deref(), Some("sql"));
    assert_eq!(route_of(&p, "POST", "/sql/", &[]).as_deref(), Some("sql"));
}

#[test]
fn the_route_matches_on_every_method_the_request_may_stand_for() {
    let p = guarded();
    assert_eq!(route_of(&p, "POST", "/admin/users/7", &[]), None);
    for header in ["X-HTTP-Method-Override", "x-http-method", "X-Method-Override"] {
        assert_eq!(route_of(&p, "POST", "/admin/users/7", &[(header, "delete")]).as_deref(), Some("drop"), "{header}");
    }
    assert_eq!(route_of(&p, "POST", "/admin/users/7?_method=DELETE", &[]).as_deref(), Some("drop"));
    let form = [("content-type", "application/x-www-form-urlencoded")];
    assert_eq!(route_of(&p, "POST", "/admin/users/7", &form).as_deref(), Some("drop"), "_method may be in the body");
    let multipart = [("content-type", "multipart/form-data; boundary=x")];
    assert_eq!(route_of(&p, "POST", "/admin/users/7", &multipart).as_deref(), Some("drop"));
    assert_eq!(route_of(&p, "POST", "/admin/users/7", &[("content-type", "application/json")]), None);
}

#[test]
fn a_request_that_reads_as_two_routes_is_ambiguous() {
    let p = policy(json!([
        {"name": "sql", "match": {"path": "/sql"}},
        {"name": "writes", "match": {"path_prefix": "/", "methods": ["DELETE"]}},
        {"name": "rest", "match": {"path_prefix": "/"}}
    ]));
    let choice = |method: &str, path: &str, headers: &[(&str, &str)]| {
        let headers = headers.iter().map(|(n, v)| (n.to_string(), v.to_string())).collect();
        p.route_choice(&Request::new(method, path, "h", headers))
    };
    assert_eq!(choice("POST", "/sql", &[]), RouteChoice::Route(0));
    assert_eq!(choice("POST", "/other", &[]), RouteChoice::Route(2));
    // Read by Express as /sql, by a case- or slash-exact server as something else.
    assert_eq!(choice("POST", "/sql/", &[]), RouteChoice::Ambiguous(vec![0, 2]));
    assert_eq!(choice("POST", "/SQL", &[]), RouteChoice::Ambiguous(vec![0, 2]));
    assert_eq!(choice("POST", "/x/..;/sql", &[]), RouteChoice::Ambiguous(vec![0, 2]));
    assert_eq!(choice("POST", "/other", &[("x-http-method-override", "DELETE")]), RouteChoice::Ambiguous(vec![1, 2]));
    assert_eq!(choice("POST", "/sql", &[("x-http-method-override", "DELETE")]), RouteChoice::Route(0));
}
