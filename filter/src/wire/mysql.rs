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

use super::frame::{self, Reader, Step};
use super::{Context, Inspect, Judge, Next, Verdict};

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

/// A packet's length and sequence id.
const HEADER: u64 = 4;
const MAX_PAYLOAD: u32 = 0xff_ffff;
/// The largest greeting or handshake response held before it is complete.
const MAX_HANDSHAKE: u32 = 64 * 1024;
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

/// A packet's header.
#[derive(Clone, Copy, Debug)]
struct Header {
    length: u32,
    seq: u8,
}

impl Header {
    fn read(rest: &[u8]) -> Option<Header> {
        Some(Header { length: frame::le_u24(rest, 0)?, seq: *rest.get(3)? })
    }

    /// The whole packet's size.
    fn size(self) -> u64 {
        HEADER + u64::from(self.length)
    }

    /// A payload of the largest length goes on in the next packet.
    fn continued(self) -> bool {
        self.length == MAX_PAYLOAD
    }

    /// The payload's first byte (`None` for an empty payload), once it is here.
    fn lead(self, rest: &[u8]) -> Option<Option<u8>> {
        if self.length == 0 {
            return Some(None);
        }
        rest.get(4).map(|b| Some(*b))
    }
}

/// One client connection.
#[derive(Clone, Debug)]
pub struct Session {
    client: Reader,
    server: Reader,
    state: State,
}

/// What the session knows of the conversation, both ways.
#[derive(Clone, Debug)]
struct State {
    max_message: u64,
    phase: Phase,
    /// The continuation packets of a judged payload still to come: forwarded, or dropped.
    continued: Option<bool>,
    /// ERR packets owed to the client, one per rewritten command, in order.
    denials: VecDeque<Vec<u8>>,
    user: Option<String>,
    schema: Option<String>,
    attributes: Vec<(String, String)>,
    /// What the statements run in: the current schema, and how the text reads.
    context: Context,
}

impl Session {
    pub fn new(max_message: usize) -> Session {
        let state = State {
            max_message: frame::wide(max_message),
            phase: Phase::Greeting,
            continued: None,
            denials: VecDeque::new(),
            user: None,
            schema: None,
            attributes: Vec::new(),
            context: Context::default(),
        };
        Session { client: Reader::default(), server: Reader::default(), state }
    }

    /// Bytes held back until a message is complete (client side, server side): bounded by the
    /// session's limits whatever arrives.
    pub fn held(&self) -> (usize, usize) {
        (self.client.held(), self.server.held())
    }

    /// The connection's facts as startup parameters: `user`, `database`, and each connection
    /// attribute (`_client_name`, `program_name`, ...), once the client has sent them.
    pub fn startup(&self) -> Option<Vec<(String, String)>> {
        self.state.startup()
    }
}

impl super::Session for Session {
    fn client_data(&mut self, data: &[u8], judge: &mut Judge<'_>) -> Next {
        let Session { client, state, .. } = self;
        client.read(data, |rest, out| state.client_packet(rest, out, judge))
    }

    fn server_data(&mut self, data: &[u8]) -> Next {
        let Session { server, state, .. } = self;
        server.read(data, |rest, out| state.server_packet(rest, out))
    }
}

impl State {
    fn startup(&self) -> Option<Vec<(String, String)>> {
        let user = self.user.clone()?;
        let mut params = vec![("user".to_string(), user)];
        params.extend(self.schema.clone().map(|s| ("database".to_string(), s)));
        params.extend(self.attributes.iter().cloned());
        Some(params)
    }

    fn client_packet(&mut self, rest: &[u8], out: &mut Vec<u8>, judge: &mut Judge<'_>) -> Step {
        let Some(header) = Header::read(rest) else { return Step::Incomplete };
        if let Some(forward) = self.continued {
            self.continued = header.continued().then_some(forward);
            return Step::Stream { size: header.size(), forward };
        }
        match self.phase {
            Phase::Greeting => Step::Close("the client spoke before the server's greeting".to_string()),
            Phase::Handshake => self.handshake_response(rest, header, judge),
            Phase::Auth => Step::Stream { size: header.size(), forward: true },
            Phase::Command => self.command(rest, header, out, judge),
        }
    }

    /// The client's handshake response, held whole: its facts are judged as the startup.
    fn handshake_response(&mut self, rest: &[u8], header: Header, judge: &mut Judge<'_>) -> Step {
        let Some(packet) = frame::whole(rest, header.size()) else {
            if header.length > MAX_HANDSHAKE {
                return Step::Close("a handshake response over 64 KiB".to_string());
            }
            return Step::Incomplete;
        };
        let payload = packet.get(4..).unwrap_or_default();
        let caps = frame::le_u32(payload, 0).unwrap_or(0);
        if caps & CLIENT_SSL != 0 {
            return Step::Close(
                "the client asked for TLS, which the filter cannot inspect: connect without it \
                 through Envoy (mTLS in the mesh encrypts the hop)"
                    .to_string(),
            );
        }
        if caps & CLIENT_PROTOCOL_41 == 0 {
            return Step::Close("a pre-4.1 MySQL client".to_string());
        }
        if let Err(why) = self.read_handshake(payload, caps) {
            return Step::Close(why.to_string());
        }
        let params = self.startup().unwrap_or_default();
        if let Verdict::Deny { message } = judge(Inspect::Startup { params: &params }) {
            return Step::Close(message);
        }
        self.phase = Phase::Auth;
        Step::Stream { size: header.size(), forward: true }
    }

    /// A packet in the command phase: with sequence id 0 it starts a command.
    fn command(&mut self, rest: &[u8], header: Header, out: &mut Vec<u8>, judge: &mut Judge<'_>) -> Step {
        let pass = Step::Stream { size: header.size(), forward: true };
        if header.seq != 0 {
            // Data for the current command (LOAD DATA LOCAL).
            return pass;
        }
        let Some(command) = header.lead(rest) else { return Step::Incomplete };
        match command {
            Some(command @ (COM_QUERY | COM_STMT_PREPARE | COM_INIT_DB)) => self.sql_command(command, rest, header, out, judge),
            Some(command @ (COM_CHANGE_USER | COM_BINLOG_DUMP | COM_BINLOG_DUMP_GTID | COM_TABLE_DUMP | COM_REGISTER_SLAVE)) => {
                let verdict = judge(Inspect::Unreadable { what: command_name(command) });
                self.carry(verdict, header, out)
            }
            _ => pass,
        }
    }

    /// A command that carries SQL: held whole and judged, or judged by its size alone when it
    /// is over the limit or continued.
    fn sql_command(&mut self, command: u8, rest: &[u8], header: Header, out: &mut Vec<u8>, judge: &mut Judge<'_>) -> Step {
        // The payload's first byte is the command.
        let sql_size = u64::from(header.length).saturating_sub(1);
        if header.continued() || sql_size > self.max_message {
            let verdict = judge(Inspect::Oversize { size: usize::try_from(sql_size).unwrap_or(usize::MAX) });
            return self.carry(verdict, header, out);
        }
        let Some(packet) = frame::whole(rest, header.size()) else { return Step::Incomplete };
        let verdict = match std::str::from_utf8(packet.get(5..).unwrap_or_default()) {
            Ok(text) if command == COM_INIT_DB => {
                judge(Inspect::Sql { text: &format!("USE `{}`", text.replace('`', "``")), context: &self.context })
            }
            Ok(text) => judge(Inspect::Sql { text, context: &self.context }),
            Err(_) => judge(Inspect::Unreadable { what: "SQL that is not UTF-8" }),
        };
        self.carry(verdict, header, out)
    }

    /// A judged command goes on as sent, or (denied) as `COM_PING`; its continuation packets
    /// follow it, or are dropped with it.
    fn carry(&mut self, verdict: Verdict, header: Header, out: &mut Vec<u8>) -> Step {
        let forward = match verdict {
            Verdict::Allow { .. } => true,
            Verdict::Deny { message } => {
                out.extend_from_slice(&[1, 0, 0, 0, COM_PING]);
                self.denials.push_back(err_packet(1, DENIED_CODE, DENIED_SQLSTATE, &message));
                false
            }
        };
        self.continued = header.continued().then_some(forward);
        Step::Stream { size: header.size(), forward }
    }

    fn server_packet(&mut self, rest: &[u8], out: &mut Vec<u8>) -> Step {
        let Some(header) = Header::read(rest) else { return Step::Incomplete };
        match self.phase {
            Phase::Greeting => self.greeting(rest, header, out),
            Phase::Handshake | Phase::Auth => self.auth_answer(rest, header),
            Phase::Command => self.command_answer(rest, header, out),
        }
    }

    /// The server's greeting, held whole (it is small) to clear the capabilities the filter
    /// cannot follow.
    fn greeting(&mut self, rest: &[u8], header: Header, out: &mut Vec<u8>) -> Step {
        let Some(packet) = frame::whole(rest, header.size()) else {
            if header.length > MAX_HANDSHAKE {
                return Step::Close("a server greeting over 64 KiB".to_string());
            }
            return Step::Incomplete;
        };
        match packet.get(4) {
            // The server refused the connection: its ERR goes to the client.
            Some(0xff) => return Step::Stream { size: header.size(), forward: true },
            Some(10) => {}
            _ => return Step::Close("not a MySQL protocol 10 greeting".to_string()),
        }
        let mut packet = packet.to_vec();
        if let Err(why) = clear_capabilities(packet.get_mut(4..).unwrap_or_default()) {
            return Step::Close(why.to_string());
        }
        out.extend_from_slice(&packet);
        self.phase = Phase::Handshake;
        Step::Consumed(packet.len())
    }

    /// During authentication: the server's OK or ERR ends it.
    fn auth_answer(&mut self, rest: &[u8], header: Header) -> Step {
        let Some(lead) = header.lead(rest) else { return Step::Incomplete };
        if self.phase == Phase::Auth && matches!(lead, Some(0x00 | 0xff)) {
            self.phase = Phase::Command;
        }
        Step::Stream { size: header.size(), forward: true }
    }

    /// In the command phase, the first answer after a rewritten command is our `COM_PING`'s:
    /// its OK becomes the ERR owed for the denied command.
    fn command_answer(&mut self, rest: &[u8], header: Header, out: &mut Vec<u8>) -> Step {
        let pass = Step::Stream { size: header.size(), forward: true };
        if header.seq != 1 || self.denials.is_empty() {
            return pass;
        }
        let Some(lead) = header.lead(rest) else { return Step::Incomplete };
        let Some(error) = self.denials.pop_front() else { return pass };
        if lead != Some(0x00) || header.continued() {
            return pass;
        }
        out.extend_from_slice(&error);
        Step::Stream { size: header.size(), forward: false }
    }

    fn read_handshake(&mut self, payload: &[u8], caps: u32) -> Result<(), &'static str> {
        let short = "a short handshake response";
        let rest = payload.get(32..).ok_or(short)?;
        let (user, rest) = frame::cstring(rest).ok_or(short)?;
        self.user = Some(text(user));
        let mut rest = skip_auth_response(rest, caps).ok_or(short)?;
        if caps & CLIENT_CONNECT_WITH_DB != 0 {
            let (schema, after) = frame::cstring(rest).ok_or(short)?;
            if !schema.is_empty() {
                self.schema = Some(text(schema));
                self.context.database = self.schema.clone();
            }
            rest = after;
        }
        if caps & CLIENT_PLUGIN_AUTH != 0 {
            rest = frame::cstring(rest).map_or(&[][..], |(_, after)| after);
        }
        // A client may announce attributes and send none.
        if caps & CLIENT_CONNECT_ATTRS != 0 && !rest.is_empty() {
            self.attributes = connection_attributes(rest).ok_or(short)?;
        }
        Ok(())
    }
}

/// The bytes after the handshake's auth response: length-encoded, one-byte length, or
/// NUL-terminated.
fn skip_auth_response(rest: &[u8], caps: u32) -> Option<&[u8]> {
    if caps & CLIENT_PLUGIN_AUTH_LENENC_CLIENT_DATA != 0 {
        Some(frame::lenenc_bytes(rest)?.1)
    } else if caps & CLIENT_SECURE_CONNECTION != 0 {
        let (&n, rest) = rest.split_first()?;
        Some(frame::split(rest, u64::from(n))?.1)
    } else {
        Some(frame::cstring(rest)?.1)
    }
}

/// The connection attributes: their length-encoded total, then length-encoded keys and values.
fn connection_attributes(rest: &[u8]) -> Option<Vec<(String, String)>> {
    let (mut attrs, _) = frame::lenenc_bytes(rest)?;
    let mut pairs = Vec::new();
    while !attrs.is_empty() {
        let (key, after) = frame::lenenc_bytes(attrs)?;
        let (value, after) = frame::lenenc_bytes(after)?;
        pairs.push((text(key), text(value)));
        attrs = after;
    }
    Some(pairs)
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// Clears `CLIENT_SSL` and `CLIENT_QUERY_ATTRIBUTES` in a protocol 10 greeting's payload.
fn clear_capabilities(payload: &mut [u8]) -> Result<(), &'static str> {
    let version = payload.get(1..).unwrap_or_default();
    let version_end = version.iter().position(|b| *b == 0).ok_or("a greeting without its server version")? + 1;
    // version NUL, connection id (4), auth data part 1 (8), filler (1): then capabilities.
    let low = version_end + 1 + 4 + 8 + 1;
    if !clear_bits(payload, low, (CLIENT_SSL & 0xffff) as u16) {
        return Err("a short server greeting");
    }
    // charset (1), status (2): then the upper capability bytes, when present.
    clear_bits(payload, low + 2 + 1 + 2, (CLIENT_QUERY_ATTRIBUTES >> 16) as u16);
    Ok(())
}

/// Clears `bits` in the little-endian `u16` at `at`; false if the payload ends before it.
fn clear_bits(payload: &mut [u8], at: usize, bits: u16) -> bool {
    let Some(field) = payload.get_mut(at..).and_then(|rest| rest.first_chunk_mut::<2>()) else { return false };
    *field = (u16::from_le_bytes(*field) & !bits).to_le_bytes();
    true
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
    payload.truncate(MAX_PAYLOAD as usize);
    let [a, b, c, _] = u32::try_from(payload.len()).unwrap_or(MAX_PAYLOAD).to_le_bytes();
    let mut packet = vec![a, b, c, seq];
    packet.extend_from_slice(&payload);
    packet
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::Session as _;

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
}
