//! Packet builders and the session's behaviour, with every byte boundary tried on the new paths.

use super::*;
use crate::sql::{Lexing, SessionChange};
use crate::wire::{Inspect, Session as _, Verdict};

const CLIENT_CONNECT_WITH_DB: u32 = 0x0000_0008;
const CLIENT_COMPRESS: u32 = 0x0000_0020;
const CLIENT_PROTOCOL_41: u32 = 0x0000_0200;
const CLIENT_SSL: u32 = 0x0000_0800;
const CLIENT_SECURE_CONNECTION: u32 = 0x0000_8000;
const CLIENT_PLUGIN_AUTH: u32 = 0x0008_0000;
const CLIENT_CONNECT_ATTRS: u32 = 0x0010_0000;
const CLIENT_PLUGIN_AUTH_LENENC_CLIENT_DATA: u32 = 0x0020_0000;
const CLIENT_SESSION_TRACK: u32 = 0x0080_0000;
const CLIENT_DEPRECATE_EOF: u32 = 0x0100_0000;
const CLIENT_QUERY_ATTRIBUTES: u32 = 0x0800_0000;
const COM_QUERY: u8 = 0x03;
const COM_PING: u8 = 0x0e;

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

