//! The compiled filter end to end through the proxy-wasm ABI: every policy feature as Envoy
//! would exercise it, hostile inputs, both header-pause modes.

use std::io::Write;

use crate::common::*;
use flate2::write::GzEncoder;
use flate2::Compression;
use guardrails_host::{StartError, StreamInfo};

const POLICY: &str = r#"
version: 1
identity:
  principal: [{header: x-agent-id}, {jwt_claim: sub}, {peer_spiffe: true}]
  agent_when:
    - header: {name: x-actor-kind, equals: agent}
    - principal: "agent:*"
    - peer_spiffe: "spiffe://prod.example/ns/agents/*"
limits: {max_body_bytes: 4096}
routes:
  - name: sql
    match: {path_prefix: /sql, methods: [POST]}
    sql: {dialect: postgres, from: body}
    rules: [no-drops, agents-bounded]
  - name: json
    match: {path_prefix: /query}
    sql: {dialect: postgres, from: {json: /query}}
    rules: [no-drops]
  - name: clickhouse
    match: {path_prefix: /ch}
    sql: {dialect: clickhouse, from: {query_param: query}}
    rules: [no-drops]
  - name: admin
    match: {path_prefix: /admin}
    rules: [agents-no-admin]
rules:
  - {name: no-drops, effect: deny, when: {sql: {operations: [drop, truncate]}}}
  - {name: agents-bounded, effect: deny, when: {actor: agent, sql: {operations: [update, delete], unbounded: true}}}
  - {name: agents-no-admin, effect: deny, when: {actor: agent}}
"#;

fn post(path: &str) -> Vec<(&str, &str)> {
    headers("POST", path, &[])
}

fn gzip(data: &[u8]) -> Vec<u8> {
    let mut e = GzEncoder::new(Vec::new(), Compression::default());
    e.write_all(data).unwrap();
    e.finish().unwrap()
}

#[test]
fn an_invalid_policy_is_refused_with_every_error_and_its_json_path() {
    let config = json(
        "version: 1\nroutes: [{name: r, rules: [no-drop]}, {name: r, sql: {dialect: oracle9}}]\nrules: [{name: no-drops, effect: deny, when: {sql: {operations: [dorp]}}}]\nextra: 1",
    );
    let StartError::Configure { logs } = start_err(&config) else { panic!("expected a configure failure") };
    let errors: Vec<&str> = logs.iter().filter(|l| l.level == 4).map(|l| l.message.as_str()).collect();
    let expect = [
        "extra: unknown field",
        "rules[0].when.sql.operations[0]: unknown operation \"dorp\"",
        "routes[0].rules[0]: unknown rule \"no-drop\" (did you mean \"no-drops\"?)",
        "routes[1].name: duplicate route name \"r\"",
        "routes[1].sql.dialect: unknown dialect \"oracle9\"",
        "policy refused (5 errors)",
    ];
    for e in expect {
        assert!(errors.iter().any(|l| l.contains(e)), "no log line contains {e:?} in {errors:#?}");
    }
    for bad in ["", "not json", "[1,2]", "{\"version\":2,\"routes\":[],\"rules\":[]}", "\u{feff}{}"] {
        assert!(matches!(start_err(bad), StartError::Configure { .. }), "{bad:?} was not refused");
    }
}

#[test]
fn a_valid_policy_loads_on_every_worker() {
    let host = start_with(POLICY, |o| o.workers = 3);
    let loaded = host.logs().iter().filter(|l| l.message.contains("policy") && l.message.contains("loaded")).count();
    assert_eq!(loaded, 3);
}

#[test]
fn a_denied_request_gets_403_with_the_rule_and_request_id() {
    let mut host = start(POLICY);
    let id = send(&mut host, &post("/sql"), &[b"DROP TABLE orders"]);
    let reply = host.stream(id).local_reply.clone().expect("denied");
    assert_eq!(reply.status, 403);
    assert_eq!(reply.header("x-guardrails-decision"), Some("deny"));
    assert_eq!(reply.header("content-type"), Some("application/json"));
    let body: serde_json::Value = serde_json::from_slice(&reply.body).unwrap();
    assert_eq!(body["error"], "access_guardrails_denied");
    assert_eq!(body["rule"], "no-drops");
    assert_eq!(body["request_id"], "rid-7");
    assert!(body["message"].as_str().unwrap().contains("no-drops"));
    // The body of a denied request never reaches the upstream.
    assert!(host.stream(id).request.forwarded_body.is_empty());
    let property = decision_property(&host, id).unwrap();
    assert_eq!(property["effect"], "deny");
    assert_eq!(property["route"], "sql");
    assert_eq!(property["rule"], "no-drops");
}

#[test]
fn an_allowed_body_reaches_the_upstream_byte_for_byte() {
    let mut host = start(POLICY);
    let sql = b"UPDATE orders SET status = 'x' WHERE id = 1";
    let id = send(&mut host, &post("/sql"), &[&sql[..10], &sql[10..]]);
    assert!(passed(&host, id));
    assert_eq!(host.stream(id).request.forwarded_body, sql);
    assert_eq!(decision_property(&host, id).unwrap()["effect"], "allow");
}

#[test]
fn a_keyword_split_at_every_byte_boundary_is_still_seen() {
    for allow_stop in [false, true] {
        let config = format!("{POLICY}\nproxy: {{allow_on_headers_stop_iteration: {allow_stop}}}");
        let mut host = start_with(&config, |o| o.allow_on_headers_stop_iteration = allow_stop);
        let bodies: [(&str, &[u8], Option<&str>); 3] = [
            ("/sql", b"SELECT 1; dRoP /* x */ TABLE orders", Some("no-drops")),
            ("/query", br#"{"query": "TRUNCATE \u0074able orders"}"#, Some("no-drops")),
            ("/sql", b"SELECT id FROM orders WHERE id = 1", None),
        ];
        for (path, body, rule) in bodies {
            for cut in 1..body.len() {
                let id = send(&mut host, &post(path), &[&body[..cut], &body[cut..]]);
                assert_eq!(denied_by(&host, id).as_deref(), rule, "{path} cut at {cut}, allow_stop {allow_stop}");
                if rule.is_none() {
                    assert_eq!(host.stream(id).request.forwarded_body, body);
                }
            }
            // One byte at a time.
            let bytes: Vec<&[u8]> = body.chunks(1).collect();
            let id = send(&mut host, &post(path), &bytes);
            assert_eq!(denied_by(&host, id).as_deref(), rule, "{path} byte by byte");
        }
        assert!(host.failure(0).is_none());
    }
}

#[test]
fn in_the_default_mode_headers_go_on_and_the_body_is_held() {
    let mut host = start(POLICY);
    let id = host.open_http(0, StreamInfo::default());
    host.request_headers(id, &post("/sql"), false);
    assert!(host.stream(id).request.headers_forwarded, "Istio mode: headers continue");
    host.request_body(id, b"DROP TABLE t", false);
    assert!(host.stream(id).request.forwarded_body.is_empty(), "the body waits for the decision");
    host.request_body(id, b"", true);
    assert_eq!(denied_by(&host, id).as_deref(), Some("no-drops"));
    assert!(host.stream(id).request.forwarded_body.is_empty());
}

#[test]
fn with_allow_on_headers_stop_iteration_a_denied_request_never_reaches_the_upstream() {
    let config = format!("{POLICY}\nproxy: {{allow_on_headers_stop_iteration: true}}");
    let mut host = start_with(&config, |o| o.allow_on_headers_stop_iteration = true);
    let id = host.open_http(0, StreamInfo::default());
    host.request_headers(id, &post("/sql"), false);
    assert!(!host.stream(id).request.headers_forwarded, "headers held until the body is decided");
    host.request_body(id, b"DROP TABLE t", true);
    assert_eq!(denied_by(&host, id).as_deref(), Some("no-drops"));
    assert!(!host.stream(id).request.headers_forwarded);
    let id = send(&mut host, &post("/sql"), &[b"SELECT 1"]);
    assert!(passed(&host, id));
}

#[test]
fn requests_with_trailers_are_decided_at_the_trailers() {
    let mut host = start(POLICY);
    let id = host.open_http(0, StreamInfo::default());
    host.request_headers(id, &post("/sql"), false);
    host.request_body(id, b"TRUNCATE orders", false);
    host.request_trailers(id, &[("x-checksum", "1")]);
    assert_eq!(denied_by(&host, id).as_deref(), Some("no-drops"));
    let id = host.open_http(0, StreamInfo::default());
    host.request_headers(id, &post("/sql"), false);
    host.request_body(id, b"SELECT 1", false);
    host.request_trailers(id, &[("x-checksum", "1")]);
    assert!(passed(&host, id));
    assert_eq!(host.stream(id).request.forwarded_body, b"SELECT 1");
}

#[test]
fn header_only_routes_are_decided_at_the_headers() {
    let mut host = start(POLICY);
    let agent = headers("DELETE", "/admin/projects/1", &[("x-actor-kind", "agent")]);
    let id = send(&mut host, &agent, &[]);
    assert_eq!(denied_by(&host, id).as_deref(), Some("agents-no-admin"));
    // Even with a body the decision is made before any of it is read.
    let id = host.open_http(0, StreamInfo::default());
    host.request_headers(id, &agent, false);
    assert_eq!(denied_by(&host, id).as_deref(), Some("agents-no-admin"));
    let human = headers("DELETE", "/admin/projects/1", &[("x-agent-id", "alice")]);
    let id = send(&mut host, &human, &[]);
    assert!(passed(&host, id));
}

#[test]
fn a_route_that_reads_a_body_refuses_a_request_without_one() {
    let mut host = start(POLICY);
    let id = send(&mut host, &post("/sql"), &[]);
    assert_eq!(denied_by(&host, id).as_deref(), Some("limits.on_unparsable"));
    let id = send(&mut host, &post("/query"), &[br#"{"q": "DROP TABLE t"}"#]);
    assert_eq!(denied_by(&host, id).as_deref(), Some("limits.on_unparsable"));
    let id = send(&mut host, &post("/query"), &[br#"{"query": "DROP TABLE t", "query": "SELECT 1"}"#]);
    assert_eq!(denied_by(&host, id).as_deref(), Some("limits.on_unparsable"), "duplicate keys");
}

#[test]
fn sql_in_the_query_string_is_decided_at_the_headers() {
    let mut host = start(POLICY);
    let id = send(&mut host, &headers("GET", "/ch/?query=DROP%20TABLE%20events", &[]), &[]);
    assert_eq!(denied_by(&host, id).as_deref(), Some("no-drops"));
    let id = send(&mut host, &headers("GET", "/ch/?query=SELECT%201", &[]), &[]);
    assert!(passed(&host, id));
}

#[test]
fn unmatched_requests_pass_untouched_and_undecided() {
    let mut host = start(POLICY);
    let id = send(&mut host, &post("/other"), &[b"DROP TABLE t"]);
    assert!(passed(&host, id));
    assert_eq!(host.stream(id).request.forwarded_body, b"DROP TABLE t");
    assert!(decision_property(&host, id).is_none());
    // A path that normalizes onto a route is that route.
    let id = send(&mut host, &post("/x/../%73ql"), &[b"DROP TABLE t"]);
    assert_eq!(denied_by(&host, id).as_deref(), Some("no-drops"));
}

#[test]
fn oversize_bodies_follow_the_policy() {
    let mut host = start(POLICY);
    let big = vec![b' '; 5000];
    // Declared: decided at the headers, before any byte is buffered.
    let length = big.len().to_string();
    let extra = [("content-length", length.as_str())];
    let declared = headers("POST", "/sql", &extra);
    let id = host.open_http(0, StreamInfo::default());
    host.request_headers(id, &declared, false);
    assert_eq!(denied_by(&host, id).as_deref(), Some("limits.on_oversize"));
    // Streamed without a length: decided once the buffer passes the limit.
    let id = send(&mut host, &post("/sql"), &[&big[..3000], &big[3000..]]);
    assert_eq!(denied_by(&host, id).as_deref(), Some("limits.on_oversize"));
    // on_oversize: allow lets it through unread.
    let config = POLICY.replace("limits: {max_body_bytes: 4096}", "limits: {max_body_bytes: 4096, on_oversize: allow}");
    let mut host = start(&config);
    let mut body = b"DROP TABLE t; ".to_vec();
    body.extend(&big);
    let id = send(&mut host, &post("/sql"), &[&body[..3000], &body[3000..]]);
    assert!(passed(&host, id));
    assert_eq!(host.stream(id).request.forwarded_body, body);
    assert_eq!(host.metric("guardrails.oversize"), Some(1));
}

#[test]
fn envoys_buffer_limit_answers_413_before_a_larger_policy_limit() {
    let config = POLICY.replace("max_body_bytes: 4096", "max_body_bytes: 100000");
    let mut host = start_with(&config, |o| o.buffer_limit = 1024);
    let id = send(&mut host, &post("/sql"), &[&[b' '; 800], &[b' '; 800]]);
    let reply = host.stream(id).local_reply.clone().unwrap();
    assert_eq!(
        (reply.status, reply.body_text(), reply.details.as_str()),
        (413, "Payload Too Large", "request_payload_too_large")
    );
}

#[test]
fn compressed_bodies_are_read_as_the_upstream_reads_them() {
    let mut host = start(POLICY);
    let gz = [("content-encoding", "gzip")];
    let drop = gzip(b"SELECT 1; DROP TABLE orders");
    let id = send(&mut host, &headers("POST", "/sql", &gz), &[&drop[..7], &drop[7..]]);
    assert_eq!(denied_by(&host, id).as_deref(), Some("no-drops"));
    let select = gzip(b"SELECT 1");
    let id = send(&mut host, &headers("POST", "/sql", &gz), &[&select]);
    assert!(passed(&host, id));
    assert_eq!(host.stream(id).request.forwarded_body, select, "forwarded still compressed");
    // A bomb: small on the wire, over the limit once decoded.
    let bomb = gzip(&vec![b' '; 1 << 20]);
    let id = send(&mut host, &headers("POST", "/sql", &gz), &[&bomb]);
    assert_eq!(denied_by(&host, id).as_deref(), Some("limits.on_oversize"));
    // What the filter cannot read follows on_encoded_body.
    let id = send(&mut host, &headers("POST", "/sql", &[("content-encoding", "br")]), &[b"\x1b\x03"]);
    assert_eq!(denied_by(&host, id).as_deref(), Some("limits.on_encoded_body"));
    let id = send(&mut host, &headers("POST", "/sql", &gz), &[b"DROP TABLE orders"]);
    assert_eq!(denied_by(&host, id).as_deref(), Some("limits.on_encoded_body"), "not gzip at all");
    assert_eq!(host.metric("guardrails.encoded_body"), Some(2));
    let config = POLICY.replace("limits: {max_body_bytes: 4096}", "limits: {max_body_bytes: 4096, on_encoded_body: allow}");
    let mut host = start(&config);
    let id = send(&mut host, &headers("POST", "/sql", &[("content-encoding", "br")]), &[b"\x1b\x03"]);
    assert!(passed(&host, id));
}

#[test]
fn identity_comes_from_headers_jwt_and_mtls_in_policy_order() {
    let mut host = start(POLICY);
    let unbounded: &[&[u8]] = &[b"DELETE FROM orders"];
    // An agent principal by header.
    let id = send(&mut host, &headers("POST", "/sql", &[("x-agent-id", "agent:etl")]), unbounded);
    assert_eq!(denied_by(&host, id).as_deref(), Some("agents-bounded"));
    // The same header twice with the same value is one principal.
    let twice = headers("POST", "/sql", &[("x-agent-id", "agent:etl"), ("x-agent-id", "agent:etl")]);
    let id = send(&mut host, &twice, unbounded);
    assert_eq!(denied_by(&host, id).as_deref(), Some("agents-bounded"));
    // Conflicting copies yield nothing: the JWT subject is next, and the actor counts as an
    // agent, since a client that adds a header must not be held to less.
    let conflict = headers("POST", "/sql", &[("x-agent-id", "agent:etl"), ("x-agent-id", "alice")]);
    let jwt =
        serde_json::json!({"filter_metadata": {"envoy.filters.http.jwt_authn": {"jwt_payload": {"sub": "alice", "exp": 1.9e9}}}});
    let id = send_info(&mut host, &conflict, unbounded, StreamInfo { metadata: jwt.clone(), ..StreamInfo::default() });
    assert_eq!(denied_by(&host, id).as_deref(), Some("agents-bounded"), "alice from the JWT, but a conflict");
    let named = headers("POST", "/sql", &[]);
    let id = send_info(&mut host, &named, unbounded, StreamInfo { metadata: jwt.clone(), ..StreamInfo::default() });
    assert!(passed(&host, id), "alice from the JWT is a person");
    let agent_jwt =
        serde_json::json!({"filter_metadata": {"envoy.filters.http.jwt_authn": {"jwt_payload": {"sub": "agent:claude"}}}});
    let id = send_info(&mut host, &conflict, unbounded, StreamInfo { metadata: agent_jwt, ..StreamInfo::default() });
    assert_eq!(denied_by(&host, id).as_deref(), Some("agents-bounded"));
    // The mTLS peer: an agent workload by its SPIFFE ID.
    let spiffe = StreamInfo { peer_uri_san: Some("spiffe://prod.example/ns/agents/sa/bot".into()), ..StreamInfo::default() };
    let id = send_info(&mut host, &post("/sql"), unbounded, spiffe);
    assert_eq!(denied_by(&host, id).as_deref(), Some("agents-bounded"));
    // A header claiming a human does not override the agent marker.
    let marked = headers("POST", "/sql", &[("x-agent-id", "alice"), ("x-actor-kind", "agent")]);
    let id = send(&mut host, &marked, unbounded);
    assert_eq!(denied_by(&host, id).as_deref(), Some("agents-bounded"));
    let id = send(&mut host, &headers("POST", "/sql", &[("x-agent-id", "alice")]), unbounded);
    assert!(passed(&host, id));
}

#[test]
fn monitor_mode_decides_counts_and_never_blocks() {
    let config = format!("{POLICY}\nmode: monitor");
    let mut host = start(&config);
    let id = send(&mut host, &post("/sql"), &[b"DROP TABLE orders"]);
    assert!(passed(&host, id));
    let property = decision_property(&host, id).unwrap();
    assert_eq!((property["effect"].as_str(), property["enforced"].as_bool()), (Some("allow"), Some(false)));
    assert_eq!(property["would_deny"], "no-drops");
    assert_eq!(host.metric("guardrails.decisions.would_deny"), Some(1));
    assert_eq!(host.metric("guardrails.decisions.deny"), Some(0));
}

#[test]
fn counters_add_up_across_workers() {
    let mut host = start_with(POLICY, |o| o.workers = 2);
    for worker in 0..2 {
        for body in [&b"SELECT 1"[..], b"DROP TABLE t", b"SELEC oops", b"SELECT 2"] {
            let id = host.open_http(worker, StreamInfo::default());
            host.request_headers(id, &post("/sql"), false);
            host.request_body(id, body, true);
            host.close(id);
        }
    }
    assert_eq!(host.metric("guardrails.decisions.allow"), Some(4));
    assert_eq!(host.metric("guardrails.decisions.deny"), Some(4));
    assert_eq!(host.metric("guardrails.unparsable"), Some(2));
}

#[test]
fn hostile_requests_never_trap_the_vm() {
    let mut host = start(POLICY);
    let mut seed = 0x2545F4914F6CDD1Du64;
    let mut next = || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    let fragments: [&[u8]; 12] =
        [b"DROP", b" TABLE ", b"'", b"\"", b"(", b")", b";", b"/*", b"\xff\xfe", b"{\"query\":", b"\\u0000", b"--\n"];
    for _ in 0..300 {
        let mut body = Vec::new();
        for _ in 0..(next() % 40) {
            body.extend(fragments[(next() % 12) as usize]);
        }
        let path = ["/sql", "/query", "/ch/?query=%ff%00"][(next() % 3) as usize];
        let id = send(&mut host, &post(path), &[&body]);
        assert!(host.stream(id).local_reply.is_some() || passed(&host, id));
    }
    // Header values that are not UTF-8, missing pseudo-headers, absurd lengths.
    let id = host.open_http(0, StreamInfo::default());
    host.request_headers(id, &[(":method", "POST"), ("x-agent-id", "\u{fffd}\u{0}")], false);
    host.request_body(id, b"DROP TABLE t", true);
    let id2 = send(&mut host, &headers("POST", "/sql", &[("content-length", "99999999999999999999999")]), &[b"SELECT 1"]);
    assert!(passed(&host, id2));
    assert!(host.failure(0).is_none(), "the VM trapped: {:?}", host.failure(0));
    let _ = id;
}
