//! Packet builders and the session's behaviour, with every byte boundary tried on the new paths.

use super::*;
use crate::sql::{Dialect, SearchPath};
use crate::sql::{Lexing, SessionChange};
use crate::wire::{Context, Inspect, Session as _, Verdict};

use super::commands::{COM_PING, COM_QUERY};
use super::handshake::{
    CLIENT_COMPRESS, CLIENT_CONNECT_ATTRS, CLIENT_CONNECT_WITH_DB, CLIENT_DEPRECATE_EOF, CLIENT_PLUGIN_AUTH,
    CLIENT_PLUGIN_AUTH_LENENC_CLIENT_DATA, CLIENT_PROTOCOL_41, CLIENT_QUERY_ATTRIBUTES, CLIENT_SECURE_CONNECTION,
    CLIENT_SESSION_TRACK, CLIENT_SSL,
};

fn packet(seq: u8, payload: &[u8]) -> Vec<u8> {
    let n = payload.len();
    let mut p = vec![n as u8, (n >> 8) as u8, (n >> 16) as u8, seq];
    p.extend_from_slice(payload);
    p
}

fn greeting(caps: u32) -> Vec<u8> {
    let mut g = vec![10];
    g.extend_from_slice(b"11.8.3-MariaDB\0");
    g.extend_from_slice(&7u32.to_le_bytes());
    g.extend_from_slice(b"12345678\0");
    g.extend_from_slice(&(caps as u16).to_le_bytes());
    g.push(45);
    g.extend_from_slice(&2u16.to_le_bytes());
    g.extend_from_slice(&((caps >> 16) as u16).to_le_bytes());
    g.push(21);
    g.extend_from_slice(&[0; 10]);
    g.extend_from_slice(b"abcdefghijkl\0mysql_native_password\0");
    packet(0, &g)
}

fn handshake(caps: u32) -> Vec<u8> {
    let mut h = caps.to_le_bytes().to_vec();
    h.extend_from_slice(&(1u32 << 24).to_le_bytes());
    h.push(45);
    h.extend_from_slice(&[0; 23]);
    h.extend_from_slice(b"agent\0");
    h.push(20);
    h.extend_from_slice(&[9; 20]);
    h.extend_from_slice(b"shop\0mysql_native_password\0");
    let attrs = [&[12u8][..], b"program_name", &[3], b"bot"].concat();
    h.push(attrs.len() as u8);
    h.extend_from_slice(&attrs);
    packet(1, &h)
}

const CAPS: u32 =
    CLIENT_CONNECT_WITH_DB | CLIENT_PROTOCOL_41 | CLIENT_SECURE_CONNECTION | CLIENT_PLUGIN_AUTH | CLIENT_CONNECT_ATTRS;

fn judge(inspect: Inspect<'_>) -> Verdict {
    match inspect {
        Inspect::Sql { text, .. } if text.to_ascii_uppercase().contains("DROP") => {
            Verdict::Deny { message: "rule no-drops".into() }
        }
        Inspect::Sql { .. } | Inspect::Startup { .. } => Verdict::ALLOW,
        _ => Verdict::Deny { message: "unreadable".into() },
    }
}

fn forward(next: Next) -> Vec<u8> {
    match next {
        Next::Forward(bytes) => bytes,
        Next::Close(why) => panic!("closed: {why}"),
    }
}

fn connected() -> Session {
    let mut s = Session::new(1024);
    let g = forward(s.server_data(&greeting(CAPS | CLIENT_SSL | CLIENT_QUERY_ATTRIBUTES)));
    assert_eq!(g, greeting(CAPS), "TLS and query attributes are not offered");
    assert_eq!(forward(s.client_data(&handshake(CAPS), &mut judge)), handshake(CAPS));
    let ok = packet(2, &[0, 0, 0, 2, 0, 0, 0]);
    assert_eq!(forward(s.server_data(&ok)), ok);
    s
}

#[test]
fn the_handshake_gives_user_schema_and_attributes() {
    let s = connected();
    let params = s.startup().unwrap();
    assert_eq!(params[0], ("user".into(), "agent".into()));
    assert_eq!(params[1], ("database".into(), "shop".into()));
    assert_eq!(params[2], ("program_name".into(), "bot".into()));
}

#[test]
fn a_denied_query_gets_an_err_with_the_right_sequence_id() {
    let mut s = connected();
    let drop = packet(0, b"\x03SELECT 1; DROP TABLE orders");
    assert_eq!(forward(s.client_data(&drop, &mut judge)), packet(0, &[COM_PING]));
    let got = forward(s.server_data(&packet(1, &[0, 0, 0, 2, 0, 0, 0])));
    assert_eq!(got, err_packet(1, DENIED_CODE, DENIED_SQLSTATE, "rule no-drops"));
    assert_eq!(&got[4..7], &[0xff, 0xcb, 0x04]);
    assert_eq!(&got[7..13], b"#42000");
    // The session goes on.
    let select = packet(0, b"\x03SELECT 1");
    assert_eq!(forward(s.client_data(&select, &mut judge)), select);
    let result = [packet(1, &[1]), packet(2, b"column"), packet(3, &[0xfe, 0, 0, 2, 0])].concat();
    assert_eq!(forward(s.server_data(&result)), result);
}

#[test]
fn commands_split_anywhere_are_judged_the_same() {
    let stream = [packet(0, b"\x03SELECT 1"), packet(0, b"\x16DROP TABLE t"), packet(0, b"\x02other")].concat();
    for cut in 1..stream.len() {
        let mut s = connected();
        let mut out = forward(s.client_data(&stream[..cut], &mut judge));
        out.extend(forward(s.client_data(&stream[cut..], &mut judge)));
        let want = [packet(0, b"\x03SELECT 1"), packet(0, &[COM_PING]), packet(0, b"\x02other")].concat();
        assert_eq!(out, want, "cut at {cut}");
    }
}

#[test]
fn tls_and_unreadable_commands() {
    let mut s = Session::new(1024);
    forward(s.server_data(&greeting(CAPS)));
    let ssl = packet(1, &[(CAPS | CLIENT_SSL).to_le_bytes().to_vec(), vec![0; 28]].concat());
    assert!(matches!(s.client_data(&ssl, &mut judge), Next::Close(_)));
    let mut s = connected();
    assert_eq!(forward(s.client_data(&packet(0, b"\x12\0\0\0\0"), &mut judge)), packet(0, &[COM_PING]));
}

#[test]
fn oversize_queries_are_dropped_as_they_stream() {
    let mut s = Session::new(64);
    forward(s.server_data(&greeting(CAPS)));
    forward(s.client_data(&handshake(CAPS), &mut judge));
    forward(s.server_data(&packet(2, &[0, 0, 0, 2, 0, 0, 0])));
    let big = packet(0, &[&[COM_QUERY][..], &[b'x'; 5000]].concat());
    let mut out = Vec::new();
    for chunk in big.chunks(100) {
        out.extend(forward(s.client_data(chunk, &mut judge)));
        assert!(held(&s).0 <= 64 + 5);
    }
    assert_eq!(out, packet(0, &[COM_PING]));
}

#[test]
fn random_bytes_never_panic() {
    let mut seed = 0x2545_f491_4f6c_dd1du64;
    let mut next = move || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    for round in 0..2000 {
        let mut s = if round % 2 == 0 { connected() } else { Session::new(64) };
        let bytes: Vec<u8> = (0..next() % 300).map(|_| if next() % 4 == 0 { 0 } else { next() as u8 }).collect();
        for chunk in bytes.chunks(1 + (next() % 40) as usize) {
            if matches!(s.server_data(chunk), Next::Close(_)) || matches!(s.client_data(chunk, &mut judge), Next::Close(_)) {
                break;
            }
            assert!(held(&s).0 <= 64 * 1024 + 4 && held(&s).1 <= 64 * 1024 + 4);
        }
    }
}

fn held(s: &Session) -> (usize, usize) {
    (s.client.held(), s.server.held())
}

/// A packet header claiming a payload of `length` bytes, without the payload.
fn claimed(seq: u8, length: u32) -> Vec<u8> {
    let [a, b, c, _] = length.to_le_bytes();
    vec![a, b, c, seq]
}

fn connected_with_limit(limit: usize) -> Session {
    let mut s = Session::new(limit);
    forward(s.server_data(&greeting(CAPS)));
    forward(s.client_data(&handshake(CAPS), &mut judge));
    forward(s.server_data(&packet(2, &[0, 0, 0, 2, 0, 0, 0])));
    s
}

#[test]
fn an_empty_packet_is_not_read_as_a_command() {
    let mut s = connected();
    // The next packet's length byte (3) is no COM_QUERY of the empty one.
    let stream = [packet(0, b""), packet(0, b"\x03ab")].concat();
    assert_eq!(forward(s.client_data(&stream, &mut judge)), stream);
    let mut s = connected();
    let drop = packet(0, b"\x03DROP TABLE t");
    assert_eq!(forward(s.client_data(&drop, &mut judge)), packet(0, &[COM_PING]));
    // An empty answer is complete: it is not our OK, and not held waiting for a byte.
    assert_eq!(forward(s.server_data(&packet(1, b""))), packet(1, b""));
}

#[test]
fn a_16_mib_command_streams_and_its_continuation_follows_its_verdict() {
    let fill = vec![b'x'; 0xff_ffff - 1];
    let after = packet(0, b"\x03SELECT 1");
    for (command, want_forwarded) in [(COM_QUERY, false), (0x18, true)] {
        let mut s = connected_with_limit(64);
        let stream = [claimed(0, 0xff_ffff), vec![command], fill.clone(), packet(1, b"tail"), after.clone()].concat();
        let mut out = Vec::new();
        for chunk in stream.chunks(64 * 1024 + 3) {
            out.extend(forward(s.client_data(chunk, &mut judge)));
            assert!(held(&s).0 <= 64 + 4);
        }
        let want = if want_forwarded { stream.clone() } else { [packet(0, &[COM_PING]), after.clone()].concat() };
        assert!(out == want, "command {command}: {} bytes forwarded", out.len());
    }
}

#[test]
fn oversize_lengths_from_the_server_stream_or_close() {
    let mut s = connected();
    let stream = [claimed(1, 0xff_ffff), vec![1; 0xff_ffff], packet(2, b"end")].concat();
    let mut out = Vec::new();
    for chunk in stream.chunks(64 * 1024 + 3) {
        out.extend(forward(s.server_data(chunk)));
        assert!(held(&s).1 <= 4);
    }
    assert!(out == stream);
    let mut s = Session::new(1024);
    assert!(matches!(s.server_data(&claimed(0, 0xff_ffff)), Next::Close(_)));
    let mut s = Session::new(1024);
    forward(s.server_data(&greeting(CAPS)));
    assert!(matches!(s.client_data(&claimed(1, 0xff_ffff), &mut judge), Next::Close(_)));
}

/// A handshake response whose auth response is `auth`, as `caps` encode it.
fn handshake_with(caps: u32, auth: &[u8], rest: &[u8]) -> Vec<u8> {
    let mut h = caps.to_le_bytes().to_vec();
    h.extend_from_slice(&(1u32 << 24).to_le_bytes());
    h.push(45);
    h.extend_from_slice(&[0; 23]);
    h.extend_from_slice(b"agent\0");
    h.extend_from_slice(auth);
    h.extend_from_slice(rest);
    packet(1, &h)
}

#[test]
fn malformed_length_encoded_integers_close_the_handshake() {
    let caps = CAPS | CLIENT_PLUGIN_AUTH_LENENC_CLIENT_DATA;
    let tail = b"shop\0mysql_native_password\0";
    let fine = handshake_with(caps, &[2, 9, 9], tail);
    let mut s = Session::new(1024);
    forward(s.server_data(&greeting(CAPS)));
    assert_eq!(forward(s.client_data(&fine, &mut judge)), fine);
    assert_eq!(s.startup().unwrap()[1], ("database".into(), "shop".into()));
    let auths: [&[u8]; 5] = [
        // 8 bytes announced, 3 sent.
        &[0xfe, 1, 0, 0],
        // 2^32 + 1: a usize on wasm32 would keep only the 1.
        &[0xfe, 1, 0, 0, 0, 1, 0, 0, 0, b'x'],
        &[0xfe, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff],
        // NULL and the ERR marker are not lengths.
        &[0xfb],
        &[0xff, 1, 0],
    ];
    for auth in auths {
        let mut s = Session::new(1024);
        forward(s.server_data(&greeting(CAPS)));
        assert!(matches!(s.client_data(&handshake_with(caps, auth, tail), &mut judge), Next::Close(_)), "{auth:?}");
    }
    // Connection attributes: a truncated total, and a key longer than the attributes.
    for attrs in [&[0xfc, 9][..], &[3, 0xfd, 1, 0]] {
        let mut s = Session::new(1024);
        forward(s.server_data(&greeting(CAPS)));
        let h = handshake_with(CAPS, &[0], &[tail.as_slice(), attrs].concat());
        assert!(matches!(s.client_data(&h, &mut judge), Next::Close(_)), "{attrs:?}");
    }
}

/// Every judgement, and its verdict: DROP, KILL and SHUTDOWN denied; `SET sql_mode`,
/// `SET NAMES` and `USE` report their changes as the analyzer does.
#[derive(Default)]
struct Recorder {
    seen: Vec<(String, Context)>,
}

impl Recorder {
    fn judge(&mut self, inspect: Inspect<'_>) -> Verdict {
        let (text, context) = match inspect {
            Inspect::Sql { text, context } => (text.to_string(), context.clone()),
            Inspect::Startup { .. } => return Verdict::ALLOW,
            Inspect::Unreadable { what } => (format!("unreadable: {what}"), Context::default()),
            Inspect::Oversize { .. } => ("oversize".to_string(), Context::default()),
        };
        self.seen.push((text.clone(), context));
        let upper = text.to_ascii_uppercase();
        if ["DROP", "KILL", "SHUTDOWN", "UNREADABLE"].iter().any(|w| upper.contains(w)) {
            return Verdict::Deny { message: "denied".into() };
        }
        let value = text.split_once('\'').map(|(_, v)| v.trim_end_matches('\'').to_string());
        let change = if upper.starts_with("SET SQL_MODE") {
            SessionChange::Setting { name: "sql_mode".into(), value }
        } else if let Some(name) = upper.strip_prefix("SET NAMES ") {
            SessionChange::Setting { name: "names".into(), value: Some(name.to_ascii_lowercase()) }
        } else if upper.starts_with("EXECUTE ") || upper.starts_with("CALL ") {
            SessionChange::Unseen
        } else if let Some(db) = text.strip_prefix("USE ") {
            SessionChange::Database(db.trim_matches('`').to_string())
        } else {
            return Verdict::ALLOW;
        };
        Verdict::Allow { changes: vec![change] }
    }

    fn texts(&self) -> Vec<&str> {
        self.seen.iter().map(|(t, _)| t.as_str()).collect()
    }
}

fn ok(seq: u8, status: u16) -> Vec<u8> {
    packet(seq, &[&[0, 0, 0][..], &status.to_le_bytes(), &[0, 0]].concat())
}

fn eof(seq: u8, status: u16) -> Vec<u8> {
    packet(seq, &[&[0xfe, 0, 0][..], &status.to_le_bytes()].concat())
}

/// A one-column result set from sequence id 1, with or without the EOF after the definitions.
fn result_set(rows: &[&[u8]], deprecate_eof: bool, status: u16) -> Vec<u8> {
    let mut out =
        vec![packet(1, &[1]), packet(2, b"\x03def\x00\x00\x00\x01c\x00\x0c\x08\x00\x01\x00\x00\x00\xfd\x00\x00\x00\x00\x00")];
    if !deprecate_eof {
        out.push(eof(3, 0x0002));
    }
    for row in rows {
        let seq = out.len() as u8 + 1;
        out.push(packet(seq, &[&[row.len() as u8][..], row].concat()));
    }
    let seq = out.len() as u8 + 1;
    out.push(if deprecate_eof {
        packet(seq, &[&[0xfe, 0, 0][..], &status.to_le_bytes(), &[0, 0]].concat())
    } else {
        eof(seq, status)
    });
    out.concat()
}

/// A session through its handshake with `caps`, judged by `recorder`.
fn connected_as(caps: u32, collation: u8, recorder: &mut Recorder) -> Session {
    let mut s = Session::new(1 << 20);
    forward(s.server_data(&greeting(caps)));
    let mut h = handshake(caps);
    h[12] = collation;
    forward(s.client_data(&h, &mut |i| recorder.judge(i)));
    forward(s.server_data(&ok(2, 0x0002)));
    s
}

/// Feeds `stream` to one side cut at `cut`, returning what goes on.
fn fed(s: &mut Session, stream: &[u8], cut: usize, client: Option<&mut Recorder>) -> Vec<u8> {
    let (a, b) = stream.split_at(cut);
    match client {
        Some(r) => {
            let mut out = forward(s.client_data(a, &mut |i| r.judge(i)));
            out.extend(forward(s.client_data(b, &mut |i| r.judge(i))));
            out
        }
        None => {
            let mut out = forward(s.server_data(a));
            out.extend(forward(s.server_data(b)));
            out
        }
    }
}

#[test]
fn a_command_written_with_the_handshake_response_is_judged() {
    let stream = [handshake(CAPS), packet(0, b"\x03DROP TABLE orders"), packet(0, b"\x03SELECT 1")].concat();
    for cut in 0..=stream.len() {
        let mut r = Recorder::default();
        let mut s = Session::new(1024);
        forward(s.server_data(&greeting(CAPS)));
        let out = fed(&mut s, &stream, cut, Some(&mut r));
        assert_eq!(out, [handshake(CAPS), packet(0, &[COM_PING]), packet(0, b"\x03SELECT 1")].concat(), "cut at {cut}");
        assert_eq!(r.texts(), ["DROP TABLE orders", "SELECT 1"]);
        assert_eq!(r.seen[0].1.database.as_deref(), Some("shop"));
        // Authentication completes, then the answers come: the ping's OK is the denial.
        let answers = [ok(2, 2), ok(1, 2), result_set(&[b"1"], false, 2)].concat();
        let got = forward(s.server_data(&answers));
        assert_eq!(
            got,
            [ok(2, 2), err_packet(1, DENIED_CODE, DENIED_SQLSTATE, "denied"), result_set(&[b"1"], false, 2)].concat()
        );
    }
}

#[test]
fn the_authentication_exchange_passes_but_nothing_else_before_its_ok() {
    let mut r = Recorder::default();
    let mut s = Session::new(1024);
    forward(s.server_data(&greeting(CAPS)));
    forward(s.client_data(&handshake(CAPS), &mut |i| r.judge(i)));
    let switch = packet(2, b"\xfemysql_native_password\0abcdefghijklmnopqrst\0");
    assert_eq!(forward(s.server_data(&switch)), switch);
    let reply = packet(3, &[7; 20]);
    assert_eq!(forward(s.client_data(&reply, &mut |i| r.judge(i))), reply);
    // Only one reply was asked for.
    assert!(matches!(s.client_data(&packet(3, b"\x03DROP TABLE t"), &mut |i| r.judge(i)), Next::Close(_)));
    let mut s = Session::new(1024);
    forward(s.server_data(&greeting(CAPS)));
    let stream = [handshake(CAPS), packet(2, b"\x03DROP TABLE t")].concat();
    assert!(matches!(s.client_data(&stream, &mut |i| r.judge(i)), Next::Close(_)), "a packet nobody asked for");
    // A command sent ahead, then the server asks for more authentication: the command would
    // be read as its answer.
    let mut s = Session::new(1024);
    forward(s.server_data(&greeting(CAPS)));
    forward(s.client_data(&[handshake(CAPS), packet(0, b"\x03SELECT 1")].concat(), &mut |i| r.judge(i)));
    assert!(matches!(s.server_data(&switch), Next::Close(_)));
    // A refused authentication: the client's later packets go nowhere.
    let mut s = Session::new(1024);
    forward(s.server_data(&greeting(CAPS)));
    forward(s.client_data(&handshake(CAPS), &mut |i| r.judge(i)));
    forward(s.server_data(&err_packet(2, 1045, "28000", "Access denied")));
    assert!(matches!(s.client_data(&packet(0, b"\x03SELECT 1"), &mut |i| r.judge(i)), Next::Close(_)));
}

#[test]
fn compression_is_never_offered_nor_accepted() {
    const ZSTD: u32 = 0x0400_0000;
    let mut s = Session::new(1024);
    assert_eq!(forward(s.server_data(&greeting(CAPS | CLIENT_COMPRESS | ZSTD))), greeting(CAPS));
    assert!(matches!(s.client_data(&handshake(CAPS | CLIENT_COMPRESS), &mut judge), Next::Close(_)));
    let mut s = Session::new(1024);
    forward(s.server_data(&greeting(CAPS | ZSTD)));
    assert!(matches!(s.client_data(&handshake(CAPS | ZSTD), &mut judge), Next::Close(_)));
    // MariaDB's extended capabilities (progress reports, cached metadata) are cleared.
    let mut g = greeting(CAPS);
    let at = g.len() - 35 - 4;
    g[at..at + 4].copy_from_slice(&[0xff; 4]);
    let mut s = Session::new(1024);
    assert_eq!(forward(s.server_data(&g)), greeting(CAPS));
    let mut h = handshake(CAPS);
    h[4 + 28] = 1;
    assert!(matches!(s.client_data(&h, &mut judge), Next::Close(_)));
}

/// Pipelined: a query with a result set, a denied DROP, a statement closed (no answer), a
/// prepare with a parameter and a column, a multi-statement with two results, a second DROP.
fn pipeline(deprecate_eof: bool) -> (Vec<u8>, Vec<u8>, Vec<u8>, Vec<u8>) {
    let client = [
        packet(0, b"\x03SELECT 1"),
        packet(0, b"\x03DROP TABLE a"),
        packet(0, b"\x19\x01\0\0\0"),
        packet(0, b"\x16SELECT ? FROM t"),
        packet(0, b"\x03SELECT 2; SELECT 3"),
        packet(0, b"\x03DROP TABLE b"),
    ]
    .concat();
    let sent = [
        packet(0, b"\x03SELECT 1"),
        packet(0, &[COM_PING]),
        packet(0, b"\x19\x01\0\0\0"),
        packet(0, b"\x16SELECT ? FROM t"),
        packet(0, b"\x03SELECT 2; SELECT 3"),
        packet(0, &[COM_PING]),
    ]
    .concat();
    let definition = |seq| packet(seq, b"\x03def\x00\x00\x00\x01c\x00\x0c\x08\x00\x01\x00\x00\x00\xfd\x00\x00\x00\x00\x00");
    let mut prepared = vec![packet(1, b"\x00\x01\0\0\0\x01\0\x01\0\0\0\0"), definition(2)];
    if !deprecate_eof {
        prepared.push(eof(3, 2));
    }
    prepared.push(definition(prepared.len() as u8 + 1));
    if !deprecate_eof {
        prepared.push(eof(prepared.len() as u8 + 1, 2));
    }
    let answers = |ping_one: Vec<u8>, ping_two: Vec<u8>| {
        [
            result_set(&[b"1", b"\xfe"], deprecate_eof, 2),
            ping_one,
            prepared.concat(),
            result_set(&[b"2"], deprecate_eof, 0x000a),
            result_set(&[b"3"], deprecate_eof, 2),
            ping_two,
        ]
        .concat()
    };
    let denied = || err_packet(1, DENIED_CODE, DENIED_SQLSTATE, "denied");
    (client, sent, answers(ok(1, 2), ok(1, 2)), answers(denied(), denied()))
}

#[test]
fn pipelined_denials_land_on_their_own_commands() {
    for deprecate_eof in [false, true] {
        let caps = if deprecate_eof { CAPS | CLIENT_DEPRECATE_EOF } else { CAPS };
        let (client, sent, answers, want) = pipeline(deprecate_eof);
        for cut in 0..=answers.len() {
            let mut r = Recorder::default();
            let mut s = connected_as(caps, 45, &mut r);
            assert_eq!(forward(s.client_data(&client, &mut |i| r.judge(i))), sent);
            assert_eq!(fed(&mut s, &answers, cut, None), want, "cut at {cut} (deprecate EOF {deprecate_eof})");
            // The session is back in step: the next denial is answered too.
            forward(s.client_data(&packet(0, b"\x03DROP TABLE c"), &mut |i| r.judge(i)));
            assert_eq!(forward(s.server_data(&ok(1, 2))), err_packet(1, DENIED_CODE, DENIED_SQLSTATE, "denied"));
        }
    }
}

#[test]
fn too_many_commands_ahead_of_their_answers_close() {
    let mut s = connected();
    let many = packet(0, b"\x03SELECT 1").repeat(answers::MAX_PENDING + 1);
    assert!(matches!(s.client_data(&many, &mut judge), Next::Close(_)));
}

#[test]
fn load_data_local_sends_its_file_as_data() {
    let load = packet(0, b"\x03LOAD DATA LOCAL INFILE 'f' INTO TABLE t");
    let mut file: Vec<Vec<u8>> = (0..300).map(|i| packet((i + 2) as u8, b"\x03DROP TABLE t\n")).collect();
    file.push(packet(46, b""));
    let file = file.concat();
    let after = packet(0, b"\x03DROP TABLE t");
    let client = [file.clone(), after.clone()].concat();
    for cut in 0..=client.len() {
        let mut r = Recorder::default();
        let mut s = connected_as(CAPS, 45, &mut r);
        assert_eq!(forward(s.client_data(&load, &mut |i| r.judge(i))), load);
        let request = packet(1, b"\xfbf");
        assert_eq!(forward(s.server_data(&request)), request);
        let out = fed(&mut s, &client, cut, Some(&mut r));
        assert_eq!(out, [file.clone(), packet(0, &[COM_PING])].concat(), "cut at {cut}");
        assert_eq!(r.texts(), ["LOAD DATA LOCAL INFILE 'f' INTO TABLE t", "DROP TABLE t"], "the file is not read as commands");
        let answers = [ok(47, 2), ok(1, 2)].concat();
        assert_eq!(forward(s.server_data(&answers)), [ok(47, 2), err_packet(1, DENIED_CODE, DENIED_SQLSTATE, "denied")].concat());
    }
    // File data out of sequence closes the connection.
    let mut r = Recorder::default();
    let mut s = connected_as(CAPS, 45, &mut r);
    forward(s.client_data(&load, &mut |i| r.judge(i)));
    forward(s.server_data(&packet(1, b"\xfbf")));
    assert!(matches!(s.client_data(&packet(3, b"data"), &mut |i| r.judge(i)), Next::Close(_)));
}

#[test]
fn server_commands_are_judged_as_their_statements() {
    let mut r = Recorder::default();
    let mut s = connected_as(CAPS, 45, &mut r);
    let commands: [&[u8]; 8] = [b"\x0c\x2a\0\0\0", b"\x08\0", b"\x07\x05", b"\x0a", b"\x09", b"\x0d", b"\x06shop", b"\x20"];
    for command in commands {
        forward(s.client_data(&packet(0, command), &mut |i| r.judge(i)));
    }
    assert_eq!(
        r.texts(),
        [
            "KILL 42",
            "SHUTDOWN",
            "FLUSH PRIVILEGES; FLUSH TABLES",
            "SHOW PROCESSLIST",
            "SHOW GLOBAL STATUS",
            "unreadable: COM_DEBUG (a dump of server state to its log)",
            "DROP DATABASE `shop`",
            "unreadable: a command the filter does not know",
        ]
    );
    let mut s = connected();
    assert_eq!(forward(s.client_data(&packet(0, b"\x0c\x2a\0\0\0"), &mut judge)), packet(0, b"\x0c\x2a\0\0\0"));
}

#[test]
fn the_status_flags_and_a_confirmed_sql_mode_change_how_text_reads() {
    let mut r = Recorder::default();
    let mut s = connected_as(CAPS, 45, &mut r);
    forward(s.client_data(&packet(0, b"\x03SET sql_mode='ANSI_QUOTES'"), &mut |i| r.judge(i)));
    // Pipelined behind it: every reading.
    forward(s.client_data(&packet(0, b"\x03SELECT 1"), &mut |i| r.judge(i)));
    assert_eq!(r.seen[1].1.lexings.len(), 4);
    forward(s.server_data(&[ok(1, 0x0202), ok(1, 0x0202)].concat()));
    forward(s.client_data(&packet(0, b"\x03SELECT 2"), &mut |i| r.judge(i)));
    assert_eq!(r.seen[2].1.lexings, [Lexing { backslash_escapes: false, ansi_quotes: true }]);
    forward(s.server_data(&ok(1, 0x0202)));
    // A failed change changes nothing; a value that is not a literal leaves both readings.
    forward(s.client_data(&packet(0, b"\x03SET sql_mode=''"), &mut |i| r.judge(i)));
    forward(s.server_data(&err_packet(1, 1231, "42000", "bad")));
    forward(s.client_data(&packet(0, b"\x03SET sql_mode=CONCAT(@@sql_mode)"), &mut |i| r.judge(i)));
    forward(s.server_data(&ok(1, 2)));
    forward(s.client_data(&packet(0, b"\x03SELECT 3"), &mut |i| r.judge(i)));
    let both = [Lexing { backslash_escapes: true, ansi_quotes: false }, Lexing { backslash_escapes: true, ansi_quotes: true }];
    assert_eq!(r.seen.last().unwrap().1.lexings, both);
    forward(s.server_data(&ok(1, 2)));
    forward(s.client_data(&packet(0, b"\x03SET sql_mode=''"), &mut |i| r.judge(i)));
    forward(s.server_data(&ok(1, 2)));
    forward(s.client_data(&packet(0, b"\x03SELECT 4"), &mut |i| r.judge(i)));
    assert_eq!(r.seen.last().unwrap().1.lexings, []);
    forward(s.server_data(&ok(1, 2)));
    // An EXECUTE (of `PREPARE s FROM 'SET sql_mode=...'`, say) may have set anything.
    forward(s.client_data(&packet(0, b"\x03EXECUTE s"), &mut |i| r.judge(i)));
    forward(s.server_data(&ok(1, 2)));
    forward(s.client_data(&packet(0, b"\x03SELECT 5"), &mut |i| r.judge(i)));
    assert_eq!(r.seen.last().unwrap().1.lexings, both);
    forward(s.client_data(&packet(0, b"\x03SET sql_mode=''"), &mut |i| r.judge(i)));
    forward(s.server_data(&[ok(1, 2), ok(1, 2)].concat()));
    // A multi-statement that failed part way: its change is in doubt.
    forward(s.client_data(&packet(0, b"\x03SET sql_mode='ANSI'"), &mut |i| r.judge(i)));
    forward(s.server_data(&[ok(1, 0x000a), err_packet(2, 1064, "42000", "x")].concat()));
    forward(s.client_data(&packet(0, b"\x03SELECT 4"), &mut |i| r.judge(i)));
    assert_eq!(r.seen.last().unwrap().1.lexings, both);
}

#[test]
fn the_character_set_decodes_the_text_before_it_is_judged() {
    let hidden = b"\x03SELECT '\xbf\x5c'; DROP TABLE t; -- '";
    // The handshake's gbk collation.
    let mut r = Recorder::default();
    let mut s = connected_as(CAPS, 28, &mut r);
    assert_eq!(forward(s.client_data(&packet(0, hidden), &mut |i| r.judge(i))), packet(0, &[COM_PING]));
    assert!(r.texts()[0].contains('\u{7e17}'));
    // SET NAMES gbk, once its OK came.
    let mut r = Recorder::default();
    let mut s = connected_as(CAPS, 45, &mut r);
    forward(s.client_data(&packet(0, b"\x03SET NAMES gbk"), &mut |i| r.judge(i)));
    forward(s.client_data(&packet(0, hidden), &mut |i| r.judge(i)));
    assert!(r.texts()[1].starts_with("unreadable"), "behind an unanswered SET NAMES: {:?}", r.texts());
    forward(s.server_data(&[ok(1, 2), ok(1, 2)].concat()));
    forward(s.client_data(&packet(0, hidden), &mut |i| r.judge(i)));
    assert!(r.texts()[2].contains("DROP TABLE t"));
    // A character set the filter does not decode: only ASCII is read.
    let mut r = Recorder::default();
    let mut s = connected_as(CAPS, 12, &mut r);
    forward(s.client_data(&packet(0, b"\x03SELECT 1"), &mut |i| r.judge(i)));
    forward(s.client_data(&packet(0, hidden), &mut |i| r.judge(i)));
    assert_eq!(r.texts()[0], "SELECT 1");
    assert!(r.texts()[1].starts_with("unreadable"));
}

/// An OK packet reporting session state: the schema and a system variable.
fn tracked_ok(seq: u8, schema: &str, variable: (&str, &str)) -> Vec<u8> {
    let lenenc = |b: &[u8]| [&[b.len() as u8][..], b].concat();
    let schema_entry = [&[1u8][..], &lenenc(&lenenc(schema.as_bytes()))].concat();
    let variable_entry = [&[0u8][..], &lenenc(&[lenenc(variable.0.as_bytes()), lenenc(variable.1.as_bytes())].concat())].concat();
    let state = [schema_entry, variable_entry].concat();
    packet(seq, &[&[0, 0, 0][..], &0x4002u16.to_le_bytes(), &[0, 0], &lenenc(b""), &lenenc(&state)].concat())
}

#[test]
fn the_schema_follows_use_init_db_and_session_tracking() {
    let mut r = Recorder::default();
    let mut s = connected_as(CAPS, 45, &mut r);
    let database = |r: &Recorder| r.seen.last().unwrap().1.database.clone();
    forward(s.client_data(&packet(0, b"\x03USE crm"), &mut |i| r.judge(i)));
    forward(s.client_data(&packet(0, b"\x03DELETE FROM keys"), &mut |i| r.judge(i)));
    assert!(r.texts()[1].starts_with("unreadable"), "behind an unanswered USE: {:?}", r.texts());
    forward(s.server_data(&[ok(1, 2), ok(1, 2)].concat()));
    forward(s.client_data(&packet(0, b"\x03SELECT 1"), &mut |i| r.judge(i)));
    assert_eq!(database(&r).as_deref(), Some("crm"));
    assert_eq!(r.seen.last().unwrap().1.search_path, Some(SearchPath::known(Dialect::Mysql, vec!["crm".into()])));
    forward(s.server_data(&ok(1, 2)));
    // COM_INIT_DB, refused by the server: the schema stays.
    forward(s.client_data(&packet(0, b"\x02nope"), &mut |i| r.judge(i)));
    assert_eq!(r.texts().last().copied(), Some("USE `nope`"));
    forward(s.server_data(&err_packet(1, 1049, "42000", "Unknown database")));
    forward(s.client_data(&packet(0, b"\x02shop"), &mut |i| r.judge(i)));
    forward(s.server_data(&ok(1, 2)));
    forward(s.client_data(&packet(0, b"\x03SELECT 2"), &mut |i| r.judge(i)));
    assert_eq!(database(&r).as_deref(), Some("shop"));
    forward(s.server_data(&ok(1, 2)));
    // Session tracking, when the client asked for it, reports what a procedure changed.
    let mut r = Recorder::default();
    let mut s = connected_as(CAPS | CLIENT_SESSION_TRACK, 45, &mut r);
    forward(s.client_data(&packet(0, b"\x03CALL p()"), &mut |i| r.judge(i)));
    let answer = tracked_ok(1, "secret", ("character_set_client", "gbk"));
    for cut in 0..=answer.len() {
        let mut s = s.clone();
        assert_eq!(fed(&mut s, &answer, cut, None), answer);
        forward(s.client_data(&packet(0, b"\x03SELECT '\xbf\x5c'"), &mut |i| r.judge(i)));
        let (text, context) = r.seen.last().unwrap();
        assert_eq!((text.as_str(), context.database.as_deref()), ("SELECT '\u{7e17}'", Some("secret")), "cut at {cut}");
    }
}

#[test]
fn the_new_paths_never_panic_on_random_answers() {
    let mut seed = 0x9e37_79b9_7f4a_7c15u64;
    let mut next = move || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    let (client, ..) = pipeline(false);
    for _ in 0..2000 {
        let mut r = Recorder::default();
        let mut s = connected_as(CAPS | CLIENT_SESSION_TRACK | CLIENT_DEPRECATE_EOF, 28, &mut r);
        forward(s.client_data(&client, &mut |i| r.judge(i)));
        let bytes: Vec<u8> =
            (0..next() % 200).map(|_| [0, 1, 0xfe, 0xfb, 0xff][next() as usize % 5].max(next() as u8 % 3)).collect();
        for chunk in bytes.chunks(1 + (next() % 20) as usize) {
            if matches!(s.server_data(chunk), Next::Close(_))
                || matches!(s.client_data(chunk, &mut |i| r.judge(i)), Next::Close(_))
            {
                break;
            }
        }
    }
}

#[test]
fn an_allowed_change_user_exchange_passes_and_starts_a_new_session() {
    let mut allow = |_: Inspect<'_>| Verdict::ALLOW;
    let mut s = Session::new(1024);
    forward(s.server_data(&greeting(CAPS)));
    let mut h = handshake(CAPS);
    h[12] = 28;
    forward(s.client_data(&h, &mut allow));
    forward(s.server_data(&ok(2, 2)));
    // user, auth response (1-byte length), schema, collation (utf8mb4), plugin.
    let change = packet(0, b"\x11bob\0\x01\x07crm\0\x2d\0mysql_native_password\0");
    let stream = [change.clone(), packet(2, &[5; 20])].concat();
    let switch = packet(1, b"\xfemysql_native_password\0abcdefghijklmnopqrst\0");
    for cut in 0..=switch.len() {
        let mut s = s.clone();
        assert_eq!(forward(s.client_data(&change, &mut allow)), change);
        assert_eq!(fed(&mut s, &switch, cut, None), switch);
        assert_eq!(forward(s.client_data(&stream[change.len()..], &mut allow)), packet(2, &[5; 20]));
        forward(s.server_data(&ok(3, 2)));
        let mut seen = None;
        forward(s.client_data(&packet(0, "\x03SELECT 'é'".as_bytes()), &mut |i| {
            if let Inspect::Sql { text, context } = i {
                seen = Some((text.to_string(), context.database.clone()));
            }
            Verdict::ALLOW
        }));
        assert_eq!(seen, Some(("SELECT 'é'".to_string(), Some("crm".to_string()))), "cut at {cut}");
    }
    // COM_RESET_CONNECTION restores the handshake's character set (gbk here).
    forward(s.client_data(&packet(0, b"\x03SET NAMES utf8mb4"), &mut |_| Verdict::Allow {
        changes: vec![SessionChange::Setting { name: "names".into(), value: Some("utf8mb4".into()) }],
    }));
    forward(s.server_data(&ok(1, 2)));
    forward(s.client_data(&packet(0, b"\x1f"), &mut allow));
    forward(s.server_data(&ok(1, 2)));
    let mut seen = None;
    forward(s.client_data(&packet(0, b"\x03SELECT '\xbf\x5c'"), &mut |i| {
        seen = Some(matches!(i, Inspect::Sql { text, .. } if text.contains('\u{7e17}')));
        Verdict::ALLOW
    }));
    assert_eq!(seen, Some(true));
}

/// Found by fuzzing: an empty packet's "first byte" was the next packet's, there or not yet
/// depending on where TCP cut the stream, so the answer's reading depended on the cut.
#[test]
fn an_empty_answer_packet_reads_the_same_however_it_is_cut() {
    let client = [packet(0, b"\x03SELECT 1"), packet(0, b"\x03DROP TABLE a")].concat();
    // The second definition is 255 bytes long: its header starts with 0xff, an ERR's first byte.
    let long = [&b"\x03def"[..], &[b'x'; 251]].concat();
    let answers =
        [packet(1, &[2]), packet(2, b""), packet(3, &long), eof(4, 2), packet(5, b"\x011"), eof(6, 2), ok(1, 2)].concat();
    let mut outputs = Vec::new();
    for size in [answers.len(), 1] {
        let mut r = Recorder::default();
        let mut s = connected_as(CAPS, 45, &mut r);
        forward(s.client_data(&client, &mut |i| r.judge(i)));
        let out: Vec<u8> = answers.chunks(size).flat_map(|c| forward(s.server_data(c))).collect();
        outputs.push(out);
    }
    assert_eq!(outputs[0], outputs[1]);
    assert!(outputs[0].ends_with(&err_packet(1, DENIED_CODE, DENIED_SQLSTATE, "denied")));
}
