//! The MySQL / MariaDB client/server protocol through a network filter.
//!
//! Packets are a 3-byte length, a sequence id, and a payload; a payload of 16 MiB - 1 bytes is
//! continued by the next packet. The server's greeting goes to the client with `CLIENT_SSL`
//! and `CLIENT_QUERY_ATTRIBUTES` cleared, so the session stays readable (TLS) and every query
//! is plain text (attributes); a client that asks for TLS anyway is closed. The client's
//! handshake response gives the user, the schema and the connection attributes.
//!
//! In the command phase a packet with sequence id 0 starts a command. `COM_QUERY` (with
//! multi-statements), `COM_STMT_PREPARE` and `COM_INIT_DB` are held whole and judged; commands
//! the filter cannot read (replication, `COM_CHANGE_USER`) are judged as unreadable; the rest
//! stream through. A denied command goes on as `COM_PING`, whose `OK` (sequence id 1) becomes
//! our `ERR` packet (SQLSTATE 42000), with the sequence id the client expects.
//!
//! Clients send a command only once the previous answer is complete (the classic protocol has
//! no pipelining), so the first server packet after a rewritten command is its answer.

use std::collections::VecDeque;

use super::{Inspect, Next, Verdict};

const CLIENT_CONNECT_WITH_DB: u32 = 0x0000_0008;
const CLIENT_PROTOCOL_41: u32 = 0x0000_0200;
const CLIENT_SSL: u32 = 0x0000_0800;
const CLIENT_SECURE_CONNECTION: u32 = 0x0000_8000;
const CLIENT_PLUGIN_AUTH: u32 = 0x0008_0000;
const CLIENT_CONNECT_ATTRS: u32 = 0x0010_0000;
const CLIENT_PLUGIN_AUTH_LENENC_CLIENT_DATA: u32 = 0x0020_0000;
const CLIENT_QUERY_ATTRIBUTES: u32 = 0x0800_0000;

const COM_QUIT: u8 = 0x01;
const COM_INIT_DB: u8 = 0x02;
const COM_QUERY: u8 = 0x03;
const COM_PING: u8 = 0x0e;
const COM_CHANGE_USER: u8 = 0x11;
const COM_BINLOG_DUMP: u8 = 0x12;
const COM_TABLE_DUMP: u8 = 0x13;
const COM_REGISTER_SLAVE: u8 = 0x15;
const COM_STMT_PREPARE: u8 = 0x16;
const COM_BINLOG_DUMP_GTID: u8 = 0x1e;

const MAX_PAYLOAD: usize = 0xff_ffff;
/// SQLSTATE of the ERR packet (`syntax error or access rule violation`) and its error code
/// (`ER_SPECIFIC_ACCESS_DENIED_ERROR`).
pub const DENIED_SQLSTATE: &str = "42000";
pub const DENIED_CODE: u16 = 1227;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Phase {
    /// Waiting for the server's greeting.
    Greeting,
    /// Waiting for the client's handshake response.
    Handshake,
    /// Authentication exchange, until the server's OK or ERR.
    Auth,
    Command,
}

/// The rest of a packet not held: `remaining` bytes, forwarded or dropped.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Stream {
    remaining: usize,
    forward: bool,
}

/// One client connection.
#[derive(Clone, Debug)]
pub struct Session {
    max_message: usize,
    phase: Phase,
    capabilities: u32,
    front_pending: Vec<u8>,
    front_stream: Option<Stream>,
    /// Continuation packets of a payload over the limit, still to drop or pass.
    front_continued: Option<bool>,
    back_pending: Vec<u8>,
    back_stream: Option<Stream>,
    /// ERR packets owed to the client, one per rewritten command, in order.
    denials: VecDeque<Vec<u8>>,
    user: Option<String>,
    schema: Option<String>,
    attributes: Vec<(String, String)>,
}

impl Session {
    pub fn new(max_message: usize) -> Session {
        Session {
            max_message,
            phase: Phase::Greeting,
            capabilities: 0,
            front_pending: Vec::new(),
            front_stream: None,
            front_continued: None,
            back_pending: Vec::new(),
            back_stream: None,
            denials: VecDeque::new(),
            user: None,
            schema: None,
            attributes: Vec::new(),
        }
    }

    /// The connection's facts as startup parameters: `user`, `database`, and each connection
    /// attribute (`_client_name`, `program_name`, ...), once the client has sent them.
    pub fn startup(&self) -> Option<Vec<(String, String)>> {
        let user = self.user.clone()?;
        let mut params = vec![("user".to_string(), user)];
        params.extend(self.schema.clone().map(|s| ("database".to_string(), s)));
        params.extend(self.attributes.iter().cloned());
        Some(params)
    }

    /// Bytes from the client: what to forward to the server.
    pub fn client_data(&mut self, data: &[u8], judge: &mut dyn FnMut(Inspect<'_>) -> Verdict) -> Next {
        let mut input = std::mem::take(&mut self.front_pending);
        input.extend_from_slice(data);
        let mut out = Vec::with_capacity(input.len());
        let mut at = 0;
        while at < input.len() {
            if let Some(stream) = self.front_stream {
                at += pass(&input[at..], stream, &mut self.front_stream, &mut out);
                continue;
            }
            let rest = &input[at..];
            let Some((length, seq)) = header(rest) else { break };
            if let Some(forward) = self.front_continued {
                // A continuation of a payload judged as oversize.
                self.front_continued = (length == MAX_PAYLOAD).then_some(forward);
                at += start(rest, length, forward, &mut self.front_stream, &mut out);
                continue;
            }
            match self.phase {
                Phase::Greeting => return Next::Close("the client spoke before the server's greeting".to_string()),
                Phase::Handshake => {
                    if rest.len() < 4 + length {
                        if length > 64 * 1024 {
                            return Next::Close("a handshake response over 64 KiB".to_string());
                        }
                        break;
                    }
                    let payload = &rest[4..4 + length];
                    let caps = le32(payload, 0).unwrap_or(0);
                    if caps & CLIENT_SSL != 0 {
                        return Next::Close(
                            "the client asked for TLS, which the filter cannot inspect: connect without it \
                             through Envoy (mTLS in the mesh encrypts the hop)"
                                .to_string(),
                        );
                    }
                    if caps & CLIENT_PROTOCOL_41 == 0 {
                        return Next::Close("a pre-4.1 MySQL client".to_string());
                    }
                    if let Err(why) = self.read_handshake(payload, caps) {
                        return Next::Close(why.to_string());
                    }
                    let params = self.startup().unwrap_or_default();
                    if let Verdict::Deny { message } = judge(Inspect::Startup { params: &params }) {
                        return Next::Close(message);
                    }
                    self.capabilities = caps;
                    self.phase = Phase::Auth;
                    out.extend_from_slice(&rest[..4 + length]);
                    at += 4 + length;
                }
                Phase::Auth => {
                    at += start(rest, length, true, &mut self.front_stream, &mut out);
                }
                Phase::Command => {
                    let command = rest.get(4).copied();
                    let judged = seq == 0 && matches!(command, Some(COM_QUERY | COM_STMT_PREPARE | COM_INIT_DB));
                    let unreadable = seq == 0
                        && matches!(
                            command,
                            Some(COM_CHANGE_USER | COM_BINLOG_DUMP | COM_BINLOG_DUMP_GTID | COM_TABLE_DUMP | COM_REGISTER_SLAVE)
                        );
                    if command.is_none() && length > 0 {
                        break;
                    }
                    if !judged && !unreadable {
                        // Another command, or data for the current one (LOAD DATA LOCAL).
                        at += start(rest, length, true, &mut self.front_stream, &mut out);
                        continue;
                    }
                    if unreadable {
                        let verdict = judge(Inspect::Unreadable { what: command_name(command.unwrap_or(0)) });
                        at += self.carry_out(verdict, rest, length, &mut out);
                        continue;
                    }
                    let continued = length == MAX_PAYLOAD;
                    if continued || length - 1 > self.max_message {
                        let verdict = judge(Inspect::Oversize { size: length - 1 });
                        let forward = verdict == Verdict::Allow;
                        if let Verdict::Deny { message } = verdict {
                            self.deny(&message, &mut out);
                        }
                        self.front_continued = continued.then_some(forward);
                        at += start(rest, length, forward, &mut self.front_stream, &mut out);
                        continue;
                    }
                    if rest.len() < 4 + length {
                        break;
                    }
                    let body = &rest[5..4 + length];
                    let verdict = match std::str::from_utf8(body) {
                        Ok(text) if command == Some(COM_INIT_DB) => judge(Inspect::Sql { text: &format!("USE `{}`", text.replace('`', "``")) }),
                        Ok(text) => judge(Inspect::Sql { text }),
                        Err(_) => judge(Inspect::Unreadable { what: "SQL that is not UTF-8" }),
                    };
                    at += self.carry_out(verdict, rest, length, &mut out);
                }
            }
        }
        self.front_pending = input[at..].to_vec();
        Next::Forward(out)
    }

    /// Bytes from the server: what to forward to the client.
    pub fn server_data(&mut self, data: &[u8]) -> Next {
        let mut input = std::mem::take(&mut self.back_pending);
        input.extend_from_slice(data);
        let mut out = Vec::with_capacity(input.len());
        let mut at = 0;
        while at < input.len() {
            if let Some(stream) = self.back_stream {
                at += pass(&input[at..], stream, &mut self.back_stream, &mut out);
                continue;
            }
            let rest = &input[at..];
            let Some((length, seq)) = header(rest) else { break };
            match self.phase {
                Phase::Greeting => {
                    // Held whole (it is small) to clear the capabilities the filter cannot follow.
                    if rest.len() < 4 + length {
                        if length > 64 * 1024 {
                            return Next::Close("a server greeting over 64 KiB".to_string());
                        }
                        break;
                    }
                    let mut packet = rest[..4 + length].to_vec();
                    if packet.get(4) == Some(&0xff) {
                        // The server refused the connection: its ERR goes to the client.
                        out.extend_from_slice(&packet);
                        at += packet.len();
                        continue;
                    }
                    if packet.get(4) != Some(&10) {
                        return Next::Close("not a MySQL protocol 10 greeting".to_string());
                    }
                    if let Err(why) = clear_capabilities(&mut packet[4..]) {
                        return Next::Close(why.to_string());
                    }
                    out.extend_from_slice(&packet);
                    at += packet.len();
                    self.phase = Phase::Handshake;
                }
                Phase::Handshake | Phase::Auth => {
                    if rest.len() < 5 && length > 0 {
                        break;
                    }
                    if matches!(rest.get(4), Some(0x00 | 0xff)) && self.phase == Phase::Auth {
                        self.phase = Phase::Command;
                    }
                    at += start(rest, length, true, &mut self.back_stream, &mut out);
                }
                Phase::Command => {
                    if seq == 1 && !self.denials.is_empty() {
                        if rest.len() < 5 {
                            break;
                        }
                        // The first answer after a rewritten command is our COM_PING's.
                        let error = self.denials.pop_front().expect("checked above");
                        if rest[4] == 0x00 && length < MAX_PAYLOAD {
                            // Its OK becomes the ERR owed for the denied command.
                            out.extend_from_slice(&error);
                            at += start(rest, length, false, &mut self.back_stream, &mut out);
                            continue;
                        }
                    }
                    at += start(rest, length, true, &mut self.back_stream, &mut out);
                }
            }
        }
        self.back_pending = input[at..].to_vec();
        Next::Forward(out)
    }

    /// Forwards a whole judged command, or its rewrite; returns the bytes consumed.
    fn carry_out(&mut self, verdict: Verdict, rest: &[u8], length: usize, out: &mut Vec<u8>) -> usize {
        let forward = verdict == Verdict::Allow;
        if let Verdict::Deny { message } = verdict {
            self.deny(&message, out);
        }
        start(rest, length, forward, &mut self.front_stream, out)
    }

    fn deny(&mut self, message: &str, out: &mut Vec<u8>) {
        out.extend_from_slice(&[1, 0, 0, 0, COM_PING]);
        self.denials.push_back(err_packet(1, DENIED_CODE, DENIED_SQLSTATE, message));
    }

    fn read_handshake(&mut self, payload: &[u8], caps: u32) -> Result<(), &'static str> {
        let short = "a short handshake response";
        let rest = payload.get(32..).ok_or(short)?;
        let (user, mut rest) = cstring(rest).ok_or(short)?;
        self.user = Some(String::from_utf8_lossy(user).into_owned());
        // The auth response: length-encoded, one-byte length, or NUL-terminated.
        if caps & CLIENT_PLUGIN_AUTH_LENENC_CLIENT_DATA != 0 {
            let (n, after) = lenenc(rest).ok_or(short)?;
            rest = after.get(n as usize..).ok_or(short)?;
        } else if caps & CLIENT_SECURE_CONNECTION != 0 {
            let n = *rest.first().ok_or(short)? as usize;
            rest = rest.get(1 + n..).ok_or(short)?;
        } else {
            rest = cstring(rest).ok_or(short)?.1;
        }
        if caps & CLIENT_CONNECT_WITH_DB != 0 {
            let (schema, after) = cstring(rest).ok_or(short)?;
            if !schema.is_empty() {
                self.schema = Some(String::from_utf8_lossy(schema).into_owned());
            }
            rest = after;
        }
        if caps & CLIENT_PLUGIN_AUTH != 0 {
            rest = cstring(rest).map_or(&[][..], |(_, after)| after);
        }
        if caps & CLIENT_CONNECT_ATTRS != 0 {
            if let Some((total, after)) = lenenc(rest) {
                let mut attrs = after.get(..total as usize).ok_or(short)?;
                while !attrs.is_empty() {
                    let (key, after) = lenenc_string(attrs).ok_or(short)?;
                    let (value, after) = lenenc_string(after).ok_or(short)?;
                    self.attributes.push((String::from_utf8_lossy(key).into_owned(), String::from_utf8_lossy(value).into_owned()));
                    attrs = after;
                }
            }
        }
        Ok(())
    }
}

/// Starts forwarding (or dropping) one packet of `length` payload bytes at the head of `rest`;
/// returns the bytes consumed now and leaves the rest to `stream`.
fn start(rest: &[u8], length: usize, forward: bool, stream: &mut Option<Stream>, out: &mut Vec<u8>) -> usize {
    let n = (4 + length).min(rest.len());
    if forward {
        out.extend_from_slice(&rest[..n]);
    }
    if n < 4 + length {
        *stream = Some(Stream { remaining: 4 + length - n, forward });
    }
    n
}

fn pass(rest: &[u8], current: Stream, stream: &mut Option<Stream>, out: &mut Vec<u8>) -> usize {
    let n = current.remaining.min(rest.len());
    if current.forward {
        out.extend_from_slice(&rest[..n]);
    }
    *stream = (n < current.remaining).then_some(Stream { remaining: current.remaining - n, ..current });
    n
}

fn header(bytes: &[u8]) -> Option<(usize, u8)> {
    let h = bytes.get(..4)?;
    Some((usize::from(h[0]) | usize::from(h[1]) << 8 | usize::from(h[2]) << 16, h[3]))
}

fn le32(bytes: &[u8], at: usize) -> Option<u32> {
    bytes.get(at..at + 4).map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
}

fn cstring(bytes: &[u8]) -> Option<(&[u8], &[u8])> {
    let end = bytes.iter().position(|b| *b == 0)?;
    Some((&bytes[..end], &bytes[end + 1..]))
}

fn lenenc(bytes: &[u8]) -> Option<(u64, &[u8])> {
    let (&first, rest) = bytes.split_first()?;
    let width = match first {
        0..=0xfa => return Some((u64::from(first), rest)),
        0xfc => 2,
        0xfd => 3,
        0xfe => 8,
        _ => return None,
    };
    let raw = rest.get(..width)?;
    let value = raw.iter().rev().fold(0u64, |n, &b| n << 8 | u64::from(b));
    Some((value, &rest[width..]))
}

fn lenenc_string(bytes: &[u8]) -> Option<(&[u8], &[u8])> {
    let (n, rest) = lenenc(bytes)?;
    let n = usize::try_from(n).ok()?;
    Some((rest.get(..n)?, rest.get(n..)?))
}

/// Clears `CLIENT_SSL` and `CLIENT_QUERY_ATTRIBUTES` in a protocol 10 greeting's payload.
fn clear_capabilities(payload: &mut [u8]) -> Result<(), &'static str> {
    let version_end = payload[1..].iter().position(|b| *b == 0).ok_or("a greeting without its server version")? + 1;
    // version NUL, connection id (4), auth data part 1 (8), filler (1): then capabilities.
    let low = version_end + 1 + 4 + 8 + 1;
    if payload.len() < low + 2 {
        return Err("a short server greeting");
    }
    let cleared_low = (CLIENT_SSL & 0xffff) as u16;
    let caps = u16::from_le_bytes([payload[low], payload[low + 1]]) & !cleared_low;
    payload[low..low + 2].copy_from_slice(&caps.to_le_bytes());
    // charset (1), status (2): then the upper capability bytes, when present.
    let high = low + 2 + 1 + 2;
    if payload.len() >= high + 2 {
        let cleared_high = (CLIENT_QUERY_ATTRIBUTES >> 16) as u16;
        let caps = u16::from_le_bytes([payload[high], payload[high + 1]]) & !cleared_high;
        payload[high..high + 2].copy_from_slice(&caps.to_le_bytes());
    }
    Ok(())
}

fn command_name(command: u8) -> &'static str {
    match command {
        COM_CHANGE_USER => "COM_CHANGE_USER (a change of identity)",
        COM_BINLOG_DUMP | COM_BINLOG_DUMP_GTID => "a binary log dump",
        COM_TABLE_DUMP => "COM_TABLE_DUMP",
        COM_REGISTER_SLAVE => "COM_REGISTER_SLAVE",
        COM_QUIT => "COM_QUIT",
        _ => "an unknown command",
    }
}

/// An ERR packet (protocol 4.1) with sequence id `seq`.
pub fn err_packet(seq: u8, code: u16, sqlstate: &str, message: &str) -> Vec<u8> {
    let mut payload = vec![0xff];
    payload.extend_from_slice(&code.to_le_bytes());
    payload.push(b'#');
    payload.extend_from_slice(sqlstate.as_bytes());
    payload.extend_from_slice(message.as_bytes());
    payload.truncate(MAX_PAYLOAD);
    let n = payload.len();
    let mut packet = vec![n as u8, (n >> 8) as u8, (n >> 16) as u8, seq];
    packet.extend_from_slice(&payload);
    packet
}

#[cfg(test)]
mod tests {
    use super::*;

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

    const CAPS: u32 = CLIENT_CONNECT_WITH_DB
        | CLIENT_PROTOCOL_41
        | CLIENT_SECURE_CONNECTION
        | CLIENT_PLUGIN_AUTH
        | CLIENT_CONNECT_ATTRS;

    fn judge(inspect: Inspect<'_>) -> Verdict {
        match inspect {
            Inspect::Sql { text } if text.to_ascii_uppercase().contains("DROP") => Verdict::Deny { message: "rule no-drops".into() },
            Inspect::Sql { .. } | Inspect::Startup { .. } => Verdict::Allow,
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
            assert!(s.front_pending.len() <= 64 + 5);
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
                assert!(s.back_pending.len() <= 64 * 1024 + 4 && s.front_pending.len() <= 64 * 1024 + 4);
            }
        }
    }
}
