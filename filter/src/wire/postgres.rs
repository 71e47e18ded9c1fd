//! PostgreSQL protocol 3 through a network filter.
//!
//! Client side: the startup packets (SSLRequest and GSSENCRequest are forwarded, and the
//! server's one-byte answer must be `N`: encryption the filter cannot see through closes the
//! connection; the mesh's mTLS encrypts the hop instead), then typed messages. `Query`,
//! `Parse` and `FunctionCall` are held whole (up to the session's limit) and judged; everything
//! else streams through as it arrives, bounded by nothing but its own length.
//!
//! A denied `Query` (or `FunctionCall`) goes on as an empty query; the server answers
//! `EmptyQueryResponse` + `ReadyForQuery`, and the first becomes our `ErrorResponse` (SQLSTATE
//! 42501). A denied `Parse` goes on as the parse of an empty unnamed statement, and every
//! message after it up to `Sync` is dropped, as a server drops them after an error; its
//! `ParseComplete` becomes our `ErrorResponse`. So the client sees the error flow it expects
//! and its session stays usable. Answers are matched to rewritten messages by counting
//! `ReadyForQuery` (one per `Query` or `Sync`) and `ParseComplete` within a segment.
//!
//! One difference stays visible: a denied statement inside an explicit transaction does not
//! abort it on the server, as a real error would.

use std::collections::VecDeque;

use super::{Inspect, Next, Verdict};

const SSL_REQUEST: u32 = 80_877_103;
const GSSENC_REQUEST: u32 = 80_877_104;
const CANCEL_REQUEST: u32 = 80_877_102;
/// The server's own limit on a startup packet.
const MAX_STARTUP: usize = 10_000;
/// SQLSTATE `insufficient_privilege`.
pub const DENIED_SQLSTATE: &str = "42501";

const EMPTY_QUERY: [u8; 6] = [b'Q', 0, 0, 0, 5, 0];
/// `Parse` of the unnamed statement, empty text, no parameter types.
const EMPTY_PARSE: [u8; 9] = [b'P', 0, 0, 0, 8, 0, 0, 0, 0];

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Front {
    Startup,
    Messages,
    /// The rest of a message that is not held: `remaining` bytes, forwarded or dropped.
    Stream { remaining: usize, forward: bool },
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Back {
    /// The one-byte answer to SSLRequest / GSSENCRequest.
    EncryptionAnswer,
    Messages,
    Stream { remaining: usize },
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Marker {
    /// The `EmptyQueryResponse` of a rewritten `Query`.
    EmptyQuery,
    /// The n-th `ParseComplete` of the segment (1-based).
    ParseComplete(u64),
}

#[derive(Clone, Debug)]
struct Denial {
    /// Answered before the `ReadyForQuery` that ends this segment (0-based).
    segment: u64,
    marker: Marker,
    error: Vec<u8>,
}

/// One client connection.
#[derive(Clone, Debug)]
pub struct Session {
    max_message: usize,
    front: Front,
    /// An incomplete message from the client (at most `max_message` + 5 bytes).
    front_pending: Vec<u8>,
    /// Forwarded `Query` and `Sync` messages: each ends one segment.
    segments_sent: u64,
    parses_in_segment: u64,
    /// After a denied `Parse`: drop messages until `Sync`.
    skipping: bool,
    startup: Option<Vec<(String, String)>>,
    back: Back,
    back_pending: Vec<u8>,
    ready_seen: u64,
    parses_seen: u64,
    denials: VecDeque<Denial>,
}

impl Session {
    /// A session that holds SQL-carrying messages of up to `max_message` bytes.
    pub fn new(max_message: usize) -> Session {
        Session {
            max_message,
            front: Front::Startup,
            front_pending: Vec::new(),
            segments_sent: 0,
            parses_in_segment: 0,
            skipping: false,
            startup: None,
            back: Back::Messages,
            back_pending: Vec::new(),
            ready_seen: 0,
            parses_seen: 0,
            denials: VecDeque::new(),
        }
    }

    /// The startup parameters, once the client has sent them.
    pub fn startup(&self) -> Option<&[(String, String)]> {
        self.startup.as_deref()
    }

    /// Bytes from the client: what to forward to the server.
    pub fn client_data(&mut self, data: &[u8], judge: &mut dyn FnMut(Inspect<'_>) -> Verdict) -> Next {
        let mut input = std::mem::take(&mut self.front_pending);
        input.extend_from_slice(data);
        let mut out = Vec::with_capacity(input.len());
        let mut at = 0;
        while at < input.len() {
            let rest = &input[at..];
            match self.front {
                Front::Stream { remaining, forward } => {
                    let n = remaining.min(rest.len());
                    if forward {
                        out.extend_from_slice(&rest[..n]);
                    }
                    at += n;
                    self.front = if n == remaining { Front::Messages } else { Front::Stream { remaining: remaining - n, forward } };
                }
                Front::Startup => {
                    let Some(length) = be32(rest, 0).map(|l| l as usize) else { break };
                    if !(8..=MAX_STARTUP).contains(&length) {
                        return Next::Close(format!("not a PostgreSQL startup packet (length {length})"));
                    }
                    if rest.len() < length {
                        break;
                    }
                    let packet = &rest[..length];
                    let code = be32(packet, 4).unwrap_or(0);
                    match code {
                        SSL_REQUEST | GSSENC_REQUEST => self.back = Back::EncryptionAnswer,
                        CANCEL_REQUEST => {}
                        _ if code >> 16 == 3 => {
                            let params = startup_params(&packet[8..])
                                .ok_or_else(|| "a malformed startup packet".to_string());
                            let params = match params {
                                Ok(p) => p,
                                Err(e) => return Next::Close(e),
                            };
                            if let Verdict::Deny { message } = judge(Inspect::Startup { params: &params }) {
                                return Next::Close(message);
                            }
                            self.startup = Some(params);
                            self.front = Front::Messages;
                        }
                        _ => return Next::Close(format!("unsupported PostgreSQL protocol version {}.{}", code >> 16, code & 0xffff)),
                    }
                    out.extend_from_slice(packet);
                    at += length;
                }
                Front::Messages => {
                    let (Some(&kind), Some(length)) = (rest.first(), be32(rest, 1)) else { break };
                    let length = length as usize;
                    if length < 4 {
                        return Next::Close(format!("a malformed PostgreSQL message (length {length})"));
                    }
                    let body = length - 4;
                    if self.skipping {
                        // As a server after an error: everything up to Sync is dropped.
                        let forward = matches!(kind, b'S' | b'H' | b'X');
                        if kind == b'S' {
                            self.skipping = false;
                            self.end_segment();
                        }
                        self.stream_front(rest, body, forward, &mut out, &mut at);
                        continue;
                    }
                    if !matches!(kind, b'Q' | b'P' | b'F') {
                        if kind == b'S' {
                            self.end_segment();
                        }
                        self.stream_front(rest, body, true, &mut out, &mut at);
                        continue;
                    }
                    if body > self.max_message {
                        let verdict = judge(Inspect::Oversize { size: body });
                        let forward = verdict == Verdict::Allow;
                        match verdict {
                            Verdict::Allow => self.forwarded(kind),
                            Verdict::Deny { message } => self.deny(kind, &message, &mut out),
                        }
                        self.stream_front(rest, body, forward, &mut out, &mut at);
                        continue;
                    }
                    if rest.len() < 1 + length {
                        break;
                    }
                    let message = &rest[..1 + length];
                    let verdict = match read_sql(kind, &message[5..]) {
                        Ok(Some(text)) => judge(Inspect::Sql { text }),
                        Ok(None) => judge(Inspect::Unreadable { what: "a function call by OID" }),
                        Err(what) => judge(Inspect::Unreadable { what }),
                    };
                    match verdict {
                        Verdict::Allow => {
                            out.extend_from_slice(message);
                            self.forwarded(kind);
                        }
                        Verdict::Deny { message } => self.deny(kind, &message, &mut out),
                    }
                    at += 1 + length;
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
            let rest = &input[at..];
            match self.back {
                Back::Stream { remaining } => {
                    let n = remaining.min(rest.len());
                    out.extend_from_slice(&rest[..n]);
                    at += n;
                    self.back = if n == remaining { Back::Messages } else { Back::Stream { remaining: remaining - n } };
                }
                Back::EncryptionAnswer => match rest[0] {
                    b'N' => {
                        out.push(b'N');
                        at += 1;
                        self.back = Back::Messages;
                    }
                    b'S' | b'G' => {
                        return Next::Close(
                            "the server accepted TLS or GSSAPI encryption, which the filter cannot inspect: \
                             turn it off for connections through Envoy (mTLS in the mesh encrypts them)"
                                .to_string(),
                        )
                    }
                    // An error instead (a server that does not know the request): a message.
                    _ => self.back = Back::Messages,
                },
                Back::Messages => {
                    let (Some(&kind), Some(length)) = (rest.first(), be32(rest, 1)) else { break };
                    let length = length as usize;
                    if length < 4 {
                        return Next::Close(format!("a malformed message from the server (length {length})"));
                    }
                    let marker = match kind {
                        b'I' => Some(Marker::EmptyQuery),
                        b'1' => {
                            self.parses_seen += 1;
                            Some(Marker::ParseComplete(self.parses_seen))
                        }
                        b'Z' => {
                            // A denial whose answer never came (an earlier error made the server
                            // skip the rewritten message) ends with its segment.
                            while self.denials.front().is_some_and(|d| d.segment <= self.ready_seen) {
                                self.denials.pop_front();
                            }
                            self.ready_seen += 1;
                            self.parses_seen = 0;
                            None
                        }
                        _ => None,
                    };
                    let ours = self.denials.front().is_some_and(|d| d.segment == self.ready_seen && Some(d.marker) == marker);
                    if ours && length == 4 {
                        let denial = self.denials.pop_front().expect("checked above");
                        out.extend_from_slice(&denial.error);
                        at += 5;
                        continue;
                    }
                    let n = (1 + length).min(rest.len());
                    out.extend_from_slice(&rest[..n]);
                    at += n;
                    if n < 1 + length {
                        self.back = Back::Stream { remaining: 1 + length - n };
                    }
                }
            }
        }
        self.back_pending = input[at..].to_vec();
        Next::Forward(out)
    }

    fn stream_front(&mut self, rest: &[u8], body: usize, forward: bool, out: &mut Vec<u8>, at: &mut usize) {
        let n = (5 + body).min(rest.len());
        if forward {
            out.extend_from_slice(&rest[..n]);
        }
        *at += n;
        if n < 5 + body {
            self.front = Front::Stream { remaining: 5 + body - n, forward };
        }
    }

    fn end_segment(&mut self) {
        self.segments_sent += 1;
        self.parses_in_segment = 0;
    }

    fn forwarded(&mut self, kind: u8) {
        match kind {
            b'Q' | b'F' => self.end_segment(),
            b'P' => self.parses_in_segment += 1,
            _ => {}
        }
    }

    fn deny(&mut self, kind: u8, message: &str, out: &mut Vec<u8>) {
        let error = error_response(DENIED_SQLSTATE, message);
        if kind == b'P' {
            out.extend_from_slice(&EMPTY_PARSE);
            self.parses_in_segment += 1;
            let marker = Marker::ParseComplete(self.parses_in_segment);
            self.denials.push_back(Denial { segment: self.segments_sent, marker, error });
            self.skipping = true;
        } else {
            out.extend_from_slice(&EMPTY_QUERY);
            self.denials.push_back(Denial { segment: self.segments_sent, marker: Marker::EmptyQuery, error });
            self.end_segment();
        }
    }
}

fn be32(bytes: &[u8], at: usize) -> Option<u32> {
    bytes.get(at..at + 4).map(|b| u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
}

/// Name/value pairs of a startup packet, up to its terminating empty name.
fn startup_params(mut body: &[u8]) -> Option<Vec<(String, String)>> {
    let mut params = Vec::new();
    loop {
        let (name, rest) = cstring(body)?;
        if name.is_empty() {
            return Some(params);
        }
        let (value, rest) = cstring(rest)?;
        params.push((String::from_utf8_lossy(name).into_owned(), String::from_utf8_lossy(value).into_owned()));
        body = rest;
    }
}

fn cstring(bytes: &[u8]) -> Option<(&[u8], &[u8])> {
    let end = bytes.iter().position(|b| *b == 0)?;
    Some((&bytes[..end], &bytes[end + 1..]))
}

/// The SQL of a `Query` or `Parse` body; `None` for a `FunctionCall`.
fn read_sql(kind: u8, body: &[u8]) -> Result<Option<&str>, &'static str> {
    let text = match kind {
        b'Q' => cstring(body).ok_or("a Query without its terminator")?.0,
        b'P' => {
            let (_name, rest) = cstring(body).ok_or("a Parse without its statement name")?;
            cstring(rest).ok_or("a Parse without its query")?.0
        }
        _ => return Ok(None),
    };
    std::str::from_utf8(text).map(Some).map_err(|_| "SQL that is not UTF-8")
}

/// An `ErrorResponse`: severity ERROR, the SQLSTATE, the message.
pub fn error_response(sqlstate: &str, message: &str) -> Vec<u8> {
    let mut fields = Vec::new();
    for (code, value) in [(b'S', "ERROR"), (b'V', "ERROR"), (b'C', sqlstate), (b'M', message)] {
        fields.push(code);
        // A NUL would end the field early: the message is policy text, never trusted to be clean.
        fields.extend(value.bytes().map(|b| if b == 0 { b' ' } else { b }));
        fields.push(0);
    }
    fields.push(0);
    let mut out = vec![b'E'];
    out.extend_from_slice(&((fields.len() + 4) as u32).to_be_bytes());
    out.extend_from_slice(&fields);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn message(kind: u8, body: &[u8]) -> Vec<u8> {
        let mut m = vec![kind];
        m.extend_from_slice(&((body.len() + 4) as u32).to_be_bytes());
        m.extend_from_slice(body);
        m
    }

    fn startup(params: &[(&str, &str)]) -> Vec<u8> {
        let mut body = 196_608u32.to_be_bytes().to_vec();
        for (k, v) in params {
            body.extend_from_slice(k.as_bytes());
            body.push(0);
            body.extend_from_slice(v.as_bytes());
            body.push(0);
        }
        body.push(0);
        let mut p = ((body.len() + 4) as u32).to_be_bytes().to_vec();
        p.extend_from_slice(&body);
        p
    }

    fn query(sql: &str) -> Vec<u8> {
        message(b'Q', format!("{sql}\0").as_bytes())
    }

    fn parse(name: &str, sql: &str) -> Vec<u8> {
        message(b'P', format!("{name}\0{sql}\0\0\0").as_bytes())
    }

    fn ready() -> Vec<u8> {
        message(b'Z', b"I")
    }

    /// Denies any SQL that mentions DROP.
    fn judge(inspect: Inspect<'_>) -> Verdict {
        match inspect {
            Inspect::Sql { text } if text.to_ascii_uppercase().contains("DROP") => {
                Verdict::Deny { message: "denied by rule \"no-drops\"".into() }
            }
            Inspect::Sql { .. } | Inspect::Startup { .. } => Verdict::Allow,
            Inspect::Unreadable { .. } | Inspect::Oversize { .. } => Verdict::Deny { message: "unreadable".into() },
        }
    }

    fn forward(next: Next) -> Vec<u8> {
        match next {
            Next::Forward(bytes) => bytes,
            Next::Close(why) => panic!("closed: {why}"),
        }
    }

    /// Feeds `data` in pieces cut at `cuts`; the concatenated output.
    fn feed(session: &mut Session, data: &[u8], cuts: &[usize], client: bool) -> Vec<u8> {
        let mut out = Vec::new();
        let mut last = 0;
        for &cut in cuts.iter().chain(std::iter::once(&data.len())) {
            let piece = &data[last..cut];
            out.extend(forward(if client { session.client_data(piece, &mut judge) } else { session.server_data(piece) }));
            last = cut;
        }
        out
    }

    fn started() -> Session {
        let mut s = Session::new(1024);
        let hello = startup(&[("user", "agent"), ("database", "shop"), ("application_name", "bot")]);
        assert_eq!(forward(s.client_data(&hello, &mut judge)), hello);
        assert_eq!(s.startup().unwrap()[2], ("application_name".to_string(), "bot".to_string()));
        s
    }

    #[test]
    fn allowed_traffic_passes_byte_for_byte_however_it_is_cut() {
        let mut client = startup(&[("user", "u")]);
        client.extend(query("SELECT 1; SELECT 2"));
        client.extend(parse("s1", "SELECT $1"));
        client.extend(message(b'B', b"\0s1\0\0\0\0\0\0\0"));
        client.extend(message(b'd', &[7u8; 300]));
        client.extend(message(b'S', b""));
        for cut in 1..client.len() {
            let mut s = Session::new(1024);
            assert_eq!(feed(&mut s, &client, &[cut], true), client, "cut at {cut}");
        }
        let mut s = Session::new(1024);
        let every: Vec<usize> = (1..client.len()).collect();
        assert_eq!(feed(&mut s, &client, &every, true), client);
    }

    #[test]
    fn a_denied_query_becomes_an_error_and_the_session_goes_on() {
        let mut s = started();
        let mut sent = query("select 1; /* x */ dRoP TABLE orders");
        sent.extend(query("SELECT 2"));
        assert_eq!(forward(s.client_data(&sent, &mut judge)), [EMPTY_QUERY.to_vec(), query("SELECT 2")].concat());
        // The server answers the empty query, then the real one.
        let mut answer = message(b'I', b"");
        answer.extend(ready());
        answer.extend(message(b'C', b"SELECT 1\0"));
        answer.extend(ready());
        let got = forward(s.server_data(&answer));
        let error = error_response(DENIED_SQLSTATE, "denied by rule \"no-drops\"");
        assert_eq!(got, [error.clone(), ready(), message(b'C', b"SELECT 1\0"), ready()].concat());
        assert!(String::from_utf8_lossy(&error).contains("42501"));
    }

    #[test]
    fn a_denied_parse_drops_its_segment_and_its_parse_complete_becomes_the_error() {
        let mut s = started();
        let mut sent = parse("", "SELECT 1");
        sent.extend(message(b'B', b"\0\0\0\0\0\0\0\0"));
        sent.extend(message(b'E', b"\0\0\0\0\0"));
        sent.extend(parse("s2", "DROP TABLE t"));
        sent.extend(message(b'B', b"\0s2\0\0\0\0\0\0\0"));
        sent.extend(message(b'E', b"\0\0\0\0\0"));
        sent.extend(message(b'S', b""));
        sent.extend(query("SELECT 3"));
        let forwarded = forward(s.client_data(&sent, &mut judge));
        let expected = [
            parse("", "SELECT 1"),
            message(b'B', b"\0\0\0\0\0\0\0\0"),
            message(b'E', b"\0\0\0\0\0"),
            EMPTY_PARSE.to_vec(),
            message(b'S', b""),
            query("SELECT 3"),
        ]
        .concat();
        assert_eq!(forwarded, expected);
        let answer = [
            message(b'1', b""),
            message(b'2', b""),
            message(b'D', b"\0\x01\0\0\0\x011"),
            message(b'C', b"SELECT 1\0"),
            message(b'1', b""),
            ready(),
            message(b'C', b"SELECT 1\0"),
            ready(),
        ]
        .concat();
        // Cut the answer at every place: the rewrite does not depend on it.
        for cut in 1..answer.len() {
            let mut copy = s.clone();
            let got = feed(&mut copy, &answer, &[cut], false);
            let error = error_response(DENIED_SQLSTATE, "denied by rule \"no-drops\"");
            let want = [
                message(b'1', b""),
                message(b'2', b""),
                message(b'D', b"\0\x01\0\0\0\x011"),
                message(b'C', b"SELECT 1\0"),
                error,
                ready(),
                message(b'C', b"SELECT 1\0"),
                ready(),
            ]
            .concat();
            assert_eq!(got, want, "cut at {cut}");
        }
    }

    #[test]
    fn a_server_error_before_the_rewritten_message_leaves_no_denial_behind() {
        let mut s = started();
        let sent = [parse("", "SELEC broken"), parse("", "DROP TABLE t"), message(b'S', b""), query("SELECT 1")].concat();
        forward(s.client_data(&sent, &mut judge));
        // The first Parse fails: the server skips the rest of the segment.
        let answer = [message(b'E', b"SERROR\0C42601\0\0"), ready(), message(b'I', b""), ready()].concat();
        let got = forward(s.server_data(&answer));
        assert_eq!(got, answer, "the next segment's messages are not taken for ours");
    }

    #[test]
    fn encryption_must_be_refused_by_the_server() {
        let mut s = Session::new(1024);
        let ssl = [0, 0, 0, 8, 0x04, 0xd2, 0x16, 0x2f];
        assert_eq!(forward(s.client_data(&ssl, &mut judge)), ssl);
        assert_eq!(forward(s.server_data(b"N")), b"N");
        let hello = startup(&[("user", "u")]);
        assert_eq!(forward(s.client_data(&hello, &mut judge)), hello);

        let mut s = Session::new(1024);
        forward(s.client_data(&ssl, &mut judge));
        assert!(matches!(s.server_data(b"S"), Next::Close(_)));
    }

    #[test]
    fn oversize_and_unreadable_messages_are_judged_and_never_held_whole() {
        let mut s = Session::new(64);
        forward(s.client_data(&startup(&[("user", "u")]), &mut judge));
        let big = query(&"x".repeat(10_000));
        let mut out = Vec::new();
        for chunk in big.chunks(100) {
            out.extend(forward(s.client_data(chunk, &mut judge)));
            assert!(s.front_pending.len() <= 64 + 5);
        }
        assert_eq!(out, EMPTY_QUERY);
        let call = message(b'F', &[0, 0, 0, 42, 0, 0, 0, 0, 0, 0]);
        assert_eq!(forward(s.client_data(&call, &mut judge)), EMPTY_QUERY);
        let invalid = message(b'Q', b"SELECT '\xff'\0");
        assert_eq!(forward(s.client_data(&invalid, &mut judge)), EMPTY_QUERY);
    }

    #[test]
    fn garbage_closes_the_connection() {
        let mut s = Session::new(64);
        assert!(matches!(s.client_data(b"GET / HTTP/1.1\r\n\r\n", &mut judge), Next::Close(_)));
        let mut s = started();
        assert!(matches!(s.client_data(&[b'Q', 0, 0, 0, 2], &mut judge), Next::Close(_)));
        let mut s = Session::new(64);
        let v2 = [0, 0, 0, 8, 0, 2, 0, 0];
        assert!(matches!(s.client_data(&v2, &mut judge), Next::Close(_)));
    }

    #[test]
    fn random_bytes_never_panic_and_buffers_stay_bounded() {
        let mut seed = 0x9e37_79b9_7f4a_7c15u64;
        let mut next = move || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed
        };
        for round in 0..2000 {
            let mut s = if round % 2 == 0 { started() } else { Session::new(64) };
            let len = (next() % 400) as usize;
            // Mostly protocol-shaped: a known type byte now and then, small lengths.
            let bytes: Vec<u8> = (0..len)
                .map(|i| match next() % 8 {
                    0 if i % 7 == 0 => b"QPFSBEHXdcf1IZ"[(next() % 14) as usize],
                    1 => 0,
                    _ => next() as u8,
                })
                .collect();
            for chunk in bytes.chunks(1 + (next() % 50) as usize) {
                if let Next::Close(_) = s.client_data(chunk, &mut judge) {
                    break;
                }
                assert!(s.front_pending.len() <= MAX_STARTUP.max(64 + 5));
            }
            for chunk in bytes.chunks(1 + (next() % 50) as usize) {
                if let Next::Close(_) = s.server_data(chunk) {
                    break;
                }
                assert!(s.back_pending.len() < 5);
            }
        }
    }
}
