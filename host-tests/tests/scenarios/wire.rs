//! The compiled filter as a network filter (`protocol: postgres | mysql`): TCP segments cut at
//! every byte, pipelined messages, the errors clients get, hostile bytes.

use crate::common::*;
use guardrails_host::{Host, StreamId, StreamInfo};

fn policy(protocol: &str) -> String {
    format!(
        r#"
version: 1
protocol: {protocol}
identity: {{principal: [{{client_attribute: application_name}}, {{db_user: true}}], agent_when: [{{principal: "agent*"}}]}}
routes:
  - {{name: shop, match: {{database: shop}}, rules: [no-drops, agents-bounded]}}
rules:
  - {{name: no-drops, effect: deny, when: {{sql: {{operations: [drop, truncate]}}}}}}
  - {{name: agents-bounded, effect: deny, when: {{actor: agent, sql: {{operations: [update, delete], unbounded: true}}}}}}
"#
    )
}

fn pg(kind: u8, body: &[u8]) -> Vec<u8> {
    let mut m = vec![kind];
    m.extend_from_slice(&((body.len() + 4) as u32).to_be_bytes());
    m.extend_from_slice(body);
    m
}

fn pg_startup(user: &str, database: &str) -> Vec<u8> {
    let body = [&196_608u32.to_be_bytes()[..], format!("user\0{user}\0database\0{database}\0\0").as_bytes()].concat();
    [&((body.len() + 4) as u32).to_be_bytes()[..], &body].concat()
}

fn pg_query(sql: &str) -> Vec<u8> {
    pg(b'Q', format!("{sql}\0").as_bytes())
}

fn ready() -> Vec<u8> {
    pg(b'Z', b"I")
}

/// What a denied Query becomes: a text the server fails as a syntax error.
fn pg_denied() -> Vec<u8> {
    pg_query("guardrails_denied")
}

/// The server's syntax error for it.
fn pg_syntax_error() -> Vec<u8> {
    pg(b'E', b"SERROR\0VERROR\0C42601\0Msyntax error at or near \"guardrails_denied\"\0P1\0\0")
}

/// A Postgres connection through the startup and the server's welcome.
fn pg_connect(host: &mut Host, user: &str) -> StreamId {
    let id = host.open_tcp(0, StreamInfo::default());
    host.downstream_data(id, &pg_startup(user, "shop"), false);
    host.upstream_data(id, &[pg(b'R', &[0, 0, 0, 0]), ready()].concat(), false);
    id
}

fn forwarded(host: &Host, id: StreamId) -> (Vec<u8>, Vec<u8>) {
    let s = host.stream(id);
    (s.request.forwarded_body.clone(), s.response.forwarded_body.clone())
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

#[test]
fn postgres_a_drop_cut_at_every_byte_becomes_an_error_and_the_session_goes_on() {
    let mut host = start(&policy("postgres"));
    let sent = [pg_query("SELECT 1; dRoP /* x */ TABLE orders"), pg_query("SELECT count(*) FROM orders")].concat();
    for cut in 1..sent.len() {
        let id = pg_connect(&mut host, "alice");
        let before = forwarded(&host, id).0.len();
        host.downstream_data(id, &sent[..cut], false);
        host.downstream_data(id, &sent[cut..], false);
        let (to_server, _) = forwarded(&host, id);
        assert_eq!(&to_server[before..], [pg_denied(), pg_query("SELECT count(*) FROM orders")].concat(), "cut at {cut}");
        let answer = [pg_syntax_error(), ready(), pg(b'C', b"SELECT 1\0"), ready()].concat();
        host.upstream_data(id, &answer[..cut.min(answer.len() - 1)], false);
        host.upstream_data(id, &answer[cut.min(answer.len() - 1)..], false);
        let (_, to_client) = forwarded(&host, id);
        assert!(contains(&to_client, b"C42501\0"), "cut at {cut}");
        assert!(contains(&to_client, b"no-drops"));
        assert!(to_client.ends_with(&[pg(b'C', b"SELECT 1\0"), ready()].concat()));
        host.close(id);
    }
    assert_eq!(host.metric("guardrails.decisions.deny"), Some((sent.len() - 1) as i64));
    assert!(host.failure(0).is_none());
}

#[test]
fn postgres_identity_comes_from_the_startup() {
    let mut host = start(&policy("postgres"));
    let id = pg_connect(&mut host, "agent-7");
    host.downstream_data(id, &pg_query("UPDATE orders SET status = 'x'"), false);
    assert!(forwarded(&host, id).0.ends_with(&pg_denied()), "an agent's unbounded update is denied");
    let id = pg_connect(&mut host, "alice");
    host.downstream_data(id, &pg_query("UPDATE orders SET status = 'x'"), false);
    assert!(forwarded(&host, id).0.ends_with(&pg_query("UPDATE orders SET status = 'x'")));
}

#[test]
fn postgres_tls_offered_by_the_server_closes_the_connection() {
    let mut host = start(&policy("postgres"));
    let id = host.open_tcp(0, StreamInfo::default());
    host.downstream_data(id, &[0, 0, 0, 8, 0x04, 0xd2, 0x16, 0x2f], false);
    host.upstream_data(id, b"S", false);
    assert!(host.stream(id).closed);
    assert!(forwarded(&host, id).1.is_empty(), "the client never sees the S");
}

fn my_packet(seq: u8, payload: &[u8]) -> Vec<u8> {
    let n = payload.len();
    [&[n as u8, (n >> 8) as u8, (n >> 16) as u8, seq][..], payload].concat()
}

fn my_connect(host: &mut Host) -> StreamId {
    let id = host.open_tcp(0, StreamInfo::default());
    let caps: u32 = 0x8 | 0x200 | 0x800 | 0x8000 | 0x8_0000;
    let mut greeting = vec![10];
    greeting.extend_from_slice(b"10.11.6-MariaDB\0");
    greeting.extend_from_slice(&[1, 0, 0, 0]);
    greeting.extend_from_slice(b"abcdefgh\0");
    greeting.extend_from_slice(&(caps as u16).to_le_bytes());
    greeting.extend_from_slice(&[45, 2, 0]);
    greeting.extend_from_slice(&((caps >> 16) as u16).to_le_bytes());
    greeting.extend_from_slice(&[21; 11]);
    greeting.extend_from_slice(b"ijklmnopqrst\0mysql_native_password\0");
    host.upstream_data(id, &my_packet(0, &greeting), false);
    let offered = forwarded(host, id).1;
    assert_eq!(u16::from_le_bytes([offered[4 + 1 + 16 + 4 + 9], offered[4 + 1 + 16 + 4 + 10]]) & 0x800, 0, "no TLS offered");
    let client_caps: u32 = caps & !0x800;
    let handshake =
        [&client_caps.to_le_bytes()[..], &[0, 0, 0, 1, 45], &[0; 23], b"root\0", &[0], b"shop\0", b"mysql_native_password\0"]
            .concat();
    host.downstream_data(id, &my_packet(1, &handshake), false);
    host.upstream_data(id, &my_packet(2, &[0, 0, 0, 2, 0, 0, 0]), false);
    id
}

#[test]
fn mysql_a_drop_cut_at_every_byte_gets_err_42000_with_sequence_id_1() {
    let mut host = start(&policy("mysql"));
    let sent = my_packet(0, b"\x03SELECT 1; DROP TABLE orders");
    for cut in 1..sent.len() {
        let id = my_connect(&mut host);
        let before = forwarded(&host, id);
        host.downstream_data(id, &sent[..cut], false);
        host.downstream_data(id, &sent[cut..], false);
        assert_eq!(&forwarded(&host, id).0[before.0.len()..], my_packet(0, &[0x0e]), "cut at {cut}: sent as COM_PING");
        host.upstream_data(id, &my_packet(1, &[0, 0, 0, 2, 0, 0, 0]), false);
        let to_client = &forwarded(&host, id).1[before.1.len()..];
        assert_eq!(to_client[3], 1, "sequence id");
        assert_eq!(&to_client[4..7], &[0xff, 0xcb, 0x04]);
        assert!(contains(to_client, b"#42000") && contains(to_client, b"no-drops"));
        // The session goes on.
        host.downstream_data(id, &my_packet(0, b"\x03SELECT 2"), false);
        assert!(forwarded(&host, id).0.ends_with(&my_packet(0, b"\x03SELECT 2")));
        host.close(id);
    }
    assert!(host.failure(0).is_none());
}

#[test]
fn hostile_bytes_never_trap_the_vm() {
    for protocol in ["postgres", "mysql"] {
        let mut host = start(&policy(protocol));
        let mut seed = 0x1234_5678_9abc_def1u64;
        let mut next = move || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed
        };
        for _ in 0..200 {
            let id = host.open_tcp(0, StreamInfo::default());
            for _ in 0..5 {
                let chunk: Vec<u8> = (0..next() % 200).map(|_| next() as u8).collect();
                if next() % 2 == 0 {
                    host.downstream_data(id, &chunk, false);
                } else {
                    host.upstream_data(id, &chunk, false);
                }
            }
            host.close(id);
        }
        assert!(host.failure(0).is_none(), "{protocol}: {:?}", host.failure(0));
    }
}

#[test]
fn a_wire_decision_is_recorded_with_its_connection() {
    let audited =
        format!("{}\naudit: {{cluster: audit_log, path: /, batch: {{max_records: 1, flush_ms: 1}}}}\n", policy("postgres"));
    let mut host = start_with(&audited, |o| o.clusters = vec!["audit_log".into()]);
    let id = pg_connect(&mut host, "agent-9");
    host.downstream_data(id, &pg_query("TRUNCATE orders"), false);
    host.advance(std::time::Duration::from_millis(60));
    let record: serde_json::Value = host
        .http_calls()
        .iter()
        .flat_map(|c| String::from_utf8_lossy(&c.body).lines().map(String::from).collect::<Vec<_>>())
        .map(|line| serde_json::from_str(&line).unwrap())
        .next()
        .expect("a record");
    assert_eq!(record["db_protocol"], "postgres");
    assert_eq!(record["db_database"], "shop");
    assert_eq!(record["db_user"], "agent-9");
    assert_eq!(record["actor_kind"], "agent");
    assert_eq!(record["decision_rule"], "no-drops");
    assert_eq!(record["action_statement"], "TRUNCATE orders");
    assert!(record["http_method"].is_null() && record["http_path"].is_null());
}

/// With `audit.on_unavailable: deny`, a database session stops writing once its audit trail is
/// being lost, and gets the protocol's own error naming the limit; delivery recovers, the
/// session goes on.
#[test]
fn with_on_unavailable_deny_a_session_gets_the_in_band_error_while_records_are_lost() {
    for protocol in ["postgres", "mysql"] {
        let audited = format!(
            "{}\naudit: {{cluster: audit_log, path: /, on_unavailable: deny, batch: {{max_records: 1, flush_ms: 1}}, buffer: {{max_records: 2}}}}\n",
            policy(protocol)
        );
        let mut host = start_with(&audited, |o| o.clusters = vec!["audit_log".into()]);
        let id = if protocol == "postgres" { pg_connect(&mut host, "app") } else { my_connect(&mut host) };
        let query =
            |sql: &str| if protocol == "postgres" { pg_query(sql) } else { my_packet(0, format!("\x03{sql}").as_bytes()) };
        let fail_deliveries = |host: &mut Host| {
            host.advance(std::time::Duration::from_secs(1));
            for call in host.http_calls() {
                host.respond_http_call(call.token, 503, &[], b"");
            }
        };
        // Two records fill the buffer while every delivery fails.
        for sql in ["SELECT 1", "SELECT 2"] {
            let before = forwarded(&host, id).0.len();
            host.downstream_data(id, &query(sql), false);
            assert!(
                forwarded(&host, id).0[before..].ends_with(&query(sql)),
                "{protocol}: {sql} goes on while the buffer has room"
            );
            host.upstream_data(id, &if protocol == "postgres" { ready() } else { my_packet(1, &[0, 0, 0, 2, 0, 0, 0]) }, false);
            fail_deliveries(&mut host);
        }
        let before = forwarded(&host, id);
        host.downstream_data(id, &query("INSERT INTO orders VALUES (1)"), false);
        let sent = &forwarded(&host, id).0[before.0.len()..];
        assert!(!contains(sent, b"INSERT"), "{protocol}: the write never reaches the server");
        let answer =
            if protocol == "postgres" { [pg_syntax_error(), ready()].concat() } else { my_packet(1, &[0, 0, 0, 2, 0, 0, 0]) };
        host.upstream_data(id, &answer, false);
        let to_client = &forwarded(&host, id).1[before.1.len()..];
        assert!(contains(to_client, b"audit.on_unavailable"), "{protocol}: {}", String::from_utf8_lossy(to_client));
        assert!(contains(to_client, if protocol == "postgres" { b"42501" } else { b"#42000" }), "{protocol}");
        assert!(host.failure(0).is_none());
    }
}

/// PostgreSQL takes the last of a repeated startup parameter: a client that names a lenient
/// database first and the guarded one last is routed by the one the server connects to.
#[test]
fn postgres_a_repeated_startup_parameter_routes_by_the_value_the_server_uses() {
    let mut host = start(&policy("postgres"));
    let body = [&196_608u32.to_be_bytes()[..], b"user\0app\0database\0elsewhere\0database\0shop\0\0"].concat();
    let id = host.open_tcp(0, StreamInfo::default());
    host.downstream_data(id, &[&((body.len() + 4) as u32).to_be_bytes()[..], &body].concat(), false);
    host.upstream_data(id, &[pg(b'R', &[0, 0, 0, 0]), ready()].concat(), false);
    let before = forwarded(&host, id).0.len();
    host.downstream_data(id, &pg_query("DROP TABLE orders"), false);
    assert!(!contains(&forwarded(&host, id).0[before..], b"DROP"), "the DROP is judged on the shop route and denied");
}

#[test]
fn mysql_an_unreadable_set_of_sql_mode_passed_by_the_limits_leaves_the_mode_unknown() {
    // `SET @@`sql_mode`` is MariaDB the parser cannot read; this policy lets unreadable SQL pass.
    // The server then reads `"x\"` as an identifier, and the DROP after it runs, unless the
    // filter reads the next command every way the mode may be.
    let lenient = policy("mysql").replacen("routes:", "limits: {on_unparsable: allow}\nroutes:", 1);
    let mut host = start(&lenient);
    let id = my_connect(&mut host);
    host.downstream_data(id, &my_packet(0, b"\x03SET @@`sql_mode` = 'ANSI_QUOTES'"), false);
    assert!(forwarded(&host, id).0.ends_with(b"ANSI_QUOTES'"), "the unreadable SET passes, as the limits say");
    host.upstream_data(id, &my_packet(1, &[0, 0, 0, 2, 0, 0, 0]), false);
    let before = forwarded(&host, id);
    host.downstream_data(id, &my_packet(0, b"\x03SELECT \"x\\\" ; DROP TABLE orders; -- \""), false);
    assert!(!contains(&forwarded(&host, id).0[before.0.len()..], b"DROP"), "the hidden DROP never reaches the server");
    host.upstream_data(id, &my_packet(1, &[0, 0, 0, 2, 0, 0, 0]), false);
    assert!(contains(&forwarded(&host, id).1[before.1.len()..], b"no-drops"));
    assert!(host.failure(0).is_none());
}
