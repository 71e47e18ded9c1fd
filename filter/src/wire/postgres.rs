//! PostgreSQL protocol 3 through a network filter.
//!
//! Client side: the startup packets (SSLRequest and GSSENCRequest are forwarded, and the
//! server's one-byte answer must be `N`: encryption the filter cannot see through closes the
//! connection; the mesh's mTLS encrypts the hop instead), then typed messages. `Query`,
//! `Parse` and `FunctionCall` are held whole (up to the session's limit) and judged; everything
//! else streams through as it arrives, bounded by nothing but its own length.
//!
//! A denied message fails on the server as a real error does: a `Query` (or `FunctionCall`)
//! goes on as the Query `guardrails_denied`, a `Parse` as the Parse of that text (unnamed), which
//! the server refuses as a syntax error (42601). So it aborts an explicit transaction, and in the
//! extended protocol discards the rest of the segment up to `Sync` and rolls back its implicit
//! transaction. Its ErrorResponse, matched by segment (counted by `ReadyForQuery`), SQLSTATE and,
//! for a Parse, the `ParseComplete`s before it, becomes ours (42501, the rule's message); every
//! other answer, a client's own errors included, passes unchanged.
//!
//! SQL is read as the server reads it: decoded from the client encoding, with the
//! `standard_conforming_strings` the startup set or the server reported (ParameterStatus). The
//! server lexes a whole Query with the settings in force when it arrives; a message sent while
//! earlier ones are unanswered may meet settings they change, so it is judged in every reading
//! the session may be in (a deny in any wins). The search path follows allowed `SET search_path`
//! once its segment ran without error outside a transaction block; any doubt makes it unknown.

mod settings;

use std::borrow::Cow;
use std::collections::VecDeque;

use self::settings::{ClientEncoding, Conforming, Startup};
use super::frame::{self, Reader, Step};
use super::{Context, Inspect, Judge, Next, Verdict};
use crate::sql::{Dialect, Lexing, SearchPath, SessionChange};

const SSL_REQUEST: u32 = 80_877_103;
const GSSENC_REQUEST: u32 = 80_877_104;
const CANCEL_REQUEST: u32 = 80_877_102;
/// The shortest startup packet: its length and its code.
const MIN_STARTUP: u32 = 8;
/// The server's own limit on a startup packet.
const MAX_STARTUP: u32 = 10_000;
/// A typed message's length counts itself.
const LENGTH_FIELD: u32 = 4;
/// A typed message's kind byte and length field.
const HEADER: u64 = 5;
/// SQLSTATE `insufficient_privilege`.
pub const DENIED_SQLSTATE: &str = "42501";
/// What a denied message runs instead: a syntax error (42601) in every encoding and lexing.
const DENIED_TEXT: &str = "guardrails_denied";
const SYNTAX_ERROR: &[u8] = b"42601";
/// The largest server message read whole (ErrorResponse, ParameterStatus, ReadyForQuery); a
/// larger one streams on untouched.
const MAX_HELD: u64 = 64 * 1024;
/// Denials and search path changes a connection may have sent and not yet had answered.
const MAX_UNANSWERED: usize = 1024;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Front {
    Startup,
    Messages,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Back {
    /// The one-byte answer to SSLRequest / GSSENCRequest.
    EncryptionAnswer,
    Messages,
}

/// Which ErrorResponse of its segment answers a rewritten message.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Marker {
    /// A rewritten `Query` (or `FunctionCall`): the segment's error.
    Query,
    /// A rewritten `Parse`: the error after this many `ParseComplete`s of its segment.
    Parse { parses_before: u64 },
}

#[derive(Clone, Debug)]
struct Denial {
    /// Answered before the `ReadyForQuery` that ends this segment (0-based).
    segment: u64,
    marker: Marker,
    error: Vec<u8>,
}

/// A typed message's header: its kind and its body's length.
#[derive(Clone, Copy, Debug)]
struct Header {
    kind: u8,
    body: u64,
}

impl Header {
    /// The header at the head of `rest`, or the step to take while there is none: wait for it,
    /// or close on a length shorter than its own field.
    fn read(rest: &[u8], from: &str) -> Result<Header, Step> {
        let (Some(&kind), Some(length)) = (rest.first(), frame::be_u32(rest, 1)) else { return Err(Step::Incomplete) };
        match length.checked_sub(LENGTH_FIELD) {
            Some(body) => Ok(Header { kind, body: u64::from(body) }),
            None => Err(Step::Close(format!("a malformed PostgreSQL message from the {from} (length {length})"))),
        }
    }

    /// The whole message's size.
    fn size(self) -> u64 {
        HEADER + self.body
    }
}

/// Where the session's unqualified names resolve, as far as the server's answers confirm it.
#[derive(Clone, Debug, Default)]
struct SearchPaths {
    /// The startup's path, which RESET returns to (`None`: the route's).
    start: Option<SearchPath>,
    /// After every answered segment.
    settled: Option<SearchPath>,
    /// Paths set by allowed statements, by segment, not yet answered.
    sent: VecDeque<(u64, Option<SearchPath>)>,
    /// A prepared statement sets the path whenever it is executed: unknown from then on.
    lost: bool,
}

impl SearchPaths {
    fn current(&self) -> Option<SearchPath> {
        if self.lost || !self.sent.is_empty() {
            Some(SearchPath::Unknown)
        } else {
            self.settled.clone()
        }
    }

    fn send(&mut self, segment: u64, path: Option<SearchPath>) {
        if self.sent.len() >= MAX_UNANSWERED {
            self.lost = true;
            self.sent.clear();
        } else if !self.lost {
            self.sent.push_back((segment, path));
        }
    }

    /// `segment` was answered: its last path holds if it ran without error outside a
    /// transaction block, where nothing can roll it back.
    fn answered(&mut self, segment: u64, committed: bool) {
        let mut last = None;
        while self.sent.front().is_some_and(|(s, _)| *s <= segment) {
            last = self.sent.pop_front().map(|(_, path)| path);
        }
        if let Some(path) = last {
            self.settled = if committed { path } else { Some(SearchPath::Unknown) };
        }
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
    front: Front,
    /// Forwarded `Query`, `FunctionCall` and `Sync` messages (and the startup): each ends one
    /// segment.
    segments_sent: u64,
    parses_in_segment: u64,
    /// The segment being sent has something that runs (Parse, Bind, Execute).
    segment_open: bool,
    startup: Option<Vec<(String, String)>>,
    user: String,
    /// What the statements run in: the startup's database, the search path.
    context: Context,
    conforming: Conforming,
    encoding: ClientEncoding,
    /// Client encodings allowed statements named: the server may be in any of them while a
    /// message is unanswered.
    encodings_named: Vec<ClientEncoding>,
    paths: SearchPaths,
    back: Back,
    ready_seen: u64,
    parses_seen: u64,
    /// The segment being answered had an error.
    failed: bool,
    denials: VecDeque<Denial>,
}

impl Session {
    /// A session that holds SQL-carrying messages of up to `max_message` bytes.
    pub fn new(max_message: usize) -> Session {
        let state = State {
            max_message: frame::wide(max_message),
            front: Front::Startup,
            segments_sent: 0,
            parses_in_segment: 0,
            segment_open: false,
            startup: None,
            user: String::new(),
            context: Context::default(),
            conforming: Conforming::Unknown,
            encoding: ClientEncoding::Unknown,
            encodings_named: Vec::new(),
            paths: SearchPaths::default(),
            back: Back::Messages,
            ready_seen: 0,
            parses_seen: 0,
            failed: false,
            denials: VecDeque::new(),
        };
        Session { client: Reader::default(), server: Reader::default(), state }
    }

    /// Bytes held back until a message is complete (client side, server side): bounded by the
    /// session's limits whatever arrives.
    pub fn held(&self) -> (usize, usize) {
        (self.client.held(), self.server.held())
    }

    /// The startup parameters, once the client has sent them.
    pub fn startup(&self) -> Option<&[(String, String)]> {
        self.state.startup.as_deref()
    }
}

impl super::Session for Session {
    fn client_data(&mut self, data: &[u8], judge: &mut Judge<'_>) -> Next {
        let Session { client, state, .. } = self;
        client.read(data, |rest, out| state.client_message(rest, out, judge))
    }

    fn server_data(&mut self, data: &[u8]) -> Next {
        let Session { server, state, .. } = self;
        server.read(data, |rest, out| state.server_message(rest, out))
    }
}

impl State {
    fn client_message(&mut self, rest: &[u8], out: &mut Vec<u8>, judge: &mut Judge<'_>) -> Step {
        match self.front {
            Front::Startup => self.startup_packet(rest, judge),
            Front::Messages => self.typed_message(rest, out, judge),
        }
    }

    /// A startup packet: a length, a code, and for protocol 3 the session's parameters.
    fn startup_packet(&mut self, rest: &[u8], judge: &mut Judge<'_>) -> Step {
        let Some(length) = frame::be_u32(rest, 0) else { return Step::Incomplete };
        if !(MIN_STARTUP..=MAX_STARTUP).contains(&length) {
            return Step::Close(format!("not a PostgreSQL startup packet (length {length})"));
        }
        let Some(packet) = frame::whole(rest, u64::from(length)) else { return Step::Incomplete };
        let code = frame::be_u32(packet, 4).unwrap_or(0);
        match code {
            SSL_REQUEST | GSSENC_REQUEST => self.back = Back::EncryptionAnswer,
            CANCEL_REQUEST => {}
            _ if code >> 16 == 3 => {
                if let Err(why) = self.begin(packet.get(8..).unwrap_or_default(), judge) {
                    return Step::Close(why);
                }
            }
            _ => return Step::Close(format!("unsupported PostgreSQL protocol version {}.{}", code >> 16, code & 0xffff)),
        }
        Step::Stream { size: u64::from(length), forward: true }
    }

    /// The session's parameters, judged; typed messages follow.
    fn begin(&mut self, body: &[u8], judge: &mut Judge<'_>) -> Result<(), String> {
        let params = startup_params(body).ok_or("a malformed startup packet")?;
        if let Verdict::Deny { message } = judge(Inspect::Startup { params: &params }) {
            return Err(message);
        }
        // A repeated parameter: the server keeps the last value it reads.
        let value = |name: &str| params.iter().rev().find(|(n, _)| n == name).map(|(_, v)| v.clone());
        self.user = value("user").unwrap_or_default();
        self.context.database = value("database").or_else(|| value("user"));
        let startup = Startup::read(&params, &self.user);
        self.conforming = startup.conforming;
        self.encoding = startup.encoding;
        self.paths = SearchPaths { start: startup.search_path.clone(), settled: startup.search_path, ..SearchPaths::default() };
        self.startup = Some(params);
        self.front = Front::Messages;
        // The server ends the startup with a ReadyForQuery of its own.
        self.end_segment();
        Ok(())
    }

    fn typed_message(&mut self, rest: &[u8], out: &mut Vec<u8>, judge: &mut Judge<'_>) -> Step {
        let header = match Header::read(rest, "client") {
            Ok(header) => header,
            Err(step) => return step,
        };
        if !matches!(header.kind, b'Q' | b'P' | b'F') {
            self.forwarded(header.kind);
            return Step::Stream { size: header.size(), forward: true };
        }
        if header.body > self.max_message {
            return self.oversize(header, out, judge);
        }
        let Some(message) = frame::whole(rest, header.size()) else { return Step::Incomplete };
        self.judged(header, message, out, judge)
    }

    /// A SQL-carrying message over the limit: judged by its size, never held.
    fn oversize(&mut self, header: Header, out: &mut Vec<u8>, judge: &mut Judge<'_>) -> Step {
        let size = usize::try_from(header.body).unwrap_or(usize::MAX);
        let verdict = judge(Inspect::Oversize { size });
        self.carry(header, verdict, out)
    }

    /// A whole `Query`, `Parse` or `FunctionCall`, judged by what it runs.
    fn judged(&mut self, header: Header, message: &[u8], out: &mut Vec<u8>, judge: &mut Judge<'_>) -> Step {
        let body = message.get(5..).unwrap_or_default();
        let verdict = match sql_bytes(header.kind, body) {
            Ok(Some(sql)) => self.judge_sql(sql, judge),
            Ok(None) => judge(Inspect::Unreadable { what: "a function call by OID" }),
            Err(what) => judge(Inspect::Unreadable { what }),
        };
        self.carry(header, verdict, out)
    }

    /// SQL in every reading the server may give it; a deny in any stands.
    fn judge_sql(&mut self, sql: &[u8], judge: &mut Judge<'_>) -> Verdict {
        let Some(texts) = self.readings(sql) else {
            return judge(Inspect::Unreadable { what: "SQL that is not text in the session's client encoding" });
        };
        self.context.search_path = self.paths.current();
        let mut changes = Vec::new();
        for text in &texts {
            self.context.lexings = self.lexings(text);
            match judge(Inspect::Sql { text, context: &self.context }) {
                Verdict::Allow { changes: more } => changes.extend(more),
                deny => return deny,
            }
        }
        Verdict::Allow { changes }
    }

    /// The texts `sql` decodes to in the client encoding, and while a message is unanswered in
    /// any other one allowed statements named; `None` when one of them cannot read it.
    fn readings<'b>(&self, sql: &'b [u8]) -> Option<Vec<Cow<'b, str>>> {
        let named = if self.unanswered() { &self.encodings_named[..] } else { &[] };
        let mut texts: Vec<Cow<'b, str>> = Vec::new();
        for encoding in std::iter::once(&self.encoding).chain(named) {
            let text = encoding.decode(sql)?;
            if !texts.contains(&text) {
                texts.push(text);
            }
        }
        Some(texts)
    }

    /// How `text` may be cut: by the session's `standard_conforming_strings`, or both ways while
    /// it is not known or an unanswered message may have changed it. The two differ only where
    /// there is a backslash.
    fn lexings(&self, text: &str) -> Vec<Lexing> {
        let standard = Lexing::default_for(Dialect::Postgres);
        let escaping = Lexing { backslash_escapes: true, ..standard };
        if !text.contains('\\') {
            return vec![standard];
        }
        match (self.conforming, self.unanswered()) {
            (Conforming::On, false) => vec![standard],
            (Conforming::Off, false) => vec![escaping],
            _ => vec![standard, escaping],
        }
    }

    /// Something forwarded may still be running, and change the settings of what comes next.
    fn unanswered(&self) -> bool {
        self.ready_seen < self.segments_sent || self.segment_open
    }

    /// Follows a judged message through: on as sent, or (denied) as the rewrite now in `out`.
    fn carry(&mut self, header: Header, verdict: Verdict, out: &mut Vec<u8>) -> Step {
        match verdict {
            Verdict::Allow { changes } => {
                self.follow(header.kind, changes);
                self.forwarded(header.kind);
                Step::Stream { size: header.size(), forward: true }
            }
            Verdict::Deny { .. } if self.denials.len() >= MAX_UNANSWERED => {
                Step::Close(format!("{MAX_UNANSWERED} denials the server has not answered yet"))
            }
            Verdict::Deny { message } => {
                self.deny(header.kind, &message, out);
                Step::Stream { size: header.size(), forward: false }
            }
        }
    }

    /// What an allowed message of `kind` changes once the server runs it.
    fn follow(&mut self, kind: u8, changes: Vec<SessionChange>) {
        for change in changes {
            let path = match change {
                SessionChange::SearchPath(schemas) => Some(settings::schemas_path(schemas, &self.user)),
                SessionChange::Unseen => Some(settings::schemas_path(None, &self.user)),
                SessionChange::ResetSearchPath => self.paths.start.clone(),
                SessionChange::Setting { name, value } if name == "client_encoding" || name == "names" => {
                    let encoding = value.map_or(ClientEncoding::Unknown, |v| ClientEncoding::named(v.as_bytes()));
                    if !self.encodings_named.contains(&encoding) {
                        self.encodings_named.push(encoding);
                    }
                    continue;
                }
                SessionChange::Setting { .. } | SessionChange::Database(_) => continue,
            };
            if kind == b'P' {
                self.paths.lost = true;
            } else {
                self.paths.send(self.segments_sent, path);
            }
        }
    }

    fn forwarded(&mut self, kind: u8) {
        match kind {
            b'Q' | b'F' | b'S' => self.end_segment(),
            b'P' => {
                self.parses_in_segment += 1;
                self.segment_open = true;
            }
            b'B' | b'E' => self.segment_open = true,
            _ => {}
        }
    }

    fn end_segment(&mut self) {
        self.segments_sent += 1;
        self.parses_in_segment = 0;
        self.segment_open = false;
    }

    fn deny(&mut self, kind: u8, message: &str, out: &mut Vec<u8>) {
        let error = error_response(DENIED_SQLSTATE, message);
        let segment = self.segments_sent;
        if kind == b'P' {
            out.extend_from_slice(&denied_parse());
            let marker = Marker::Parse { parses_before: self.parses_in_segment };
            self.denials.push_back(Denial { segment, marker, error });
            self.forwarded(b'P');
        } else {
            out.extend_from_slice(&denied_query());
            self.denials.push_back(Denial { segment, marker: Marker::Query, error });
            self.forwarded(b'Q');
        }
    }

    fn server_message(&mut self, rest: &[u8], out: &mut Vec<u8>) -> Step {
        match self.back {
            Back::EncryptionAnswer => self.encryption_answer(rest, out),
            Back::Messages => self.answer(rest, out),
        }
    }

    fn encryption_answer(&mut self, rest: &[u8], out: &mut Vec<u8>) -> Step {
        match rest.first() {
            None => Step::Incomplete,
            Some(b'N') => {
                self.back = Back::Messages;
                Step::Stream { size: 1, forward: true }
            }
            Some(b'S' | b'G') => Step::Close(
                "the server accepted TLS or GSSAPI encryption, which the filter cannot inspect: \
                 turn it off for connections through Envoy (mTLS in the mesh encrypts them)"
                    .to_string(),
            ),
            // An error instead (a server that does not know the request): a message.
            Some(_) => {
                self.back = Back::Messages;
                self.answer(rest, out)
            }
        }
    }

    /// A message from the server: streamed on, or read whole (errors, settings, the end of a
    /// segment) and passed on, the error owed for a rewritten message in place of its own.
    fn answer(&mut self, rest: &[u8], out: &mut Vec<u8>) -> Step {
        let header = match Header::read(rest, "server") {
            Ok(header) => header,
            Err(step) => return step,
        };
        if !matches!(header.kind, b'E' | b'S' | b'Z') || header.size() > MAX_HELD {
            match header.kind {
                b'1' => self.parses_seen += 1,
                b'E' => self.failed = true,
                b'Z' => self.ready(None),
                _ => {}
            }
            return Step::Stream { size: header.size(), forward: true };
        }
        let Some(message) = frame::whole(rest, header.size()) else { return Step::Incomplete };
        let body = message.get(5..).unwrap_or_default();
        match header.kind {
            b'E' => {
                self.failed = true;
                match self.answered(body) {
                    Some(denial) => out.extend_from_slice(&denial.error),
                    None => out.extend_from_slice(message),
                }
            }
            b'S' => {
                self.parameter_status(body);
                out.extend_from_slice(message);
            }
            _ => {
                self.ready(body.first().copied());
                out.extend_from_slice(message);
            }
        }
        Step::Consumed(message.len())
    }

    /// The denial this ErrorResponse answers: the server's syntax error for our rewrite, in the
    /// denial's segment, at its place there.
    fn answered(&mut self, error: &[u8]) -> Option<Denial> {
        let due = self.denials.front()?;
        let at_place = match due.marker {
            Marker::Query => true,
            Marker::Parse { parses_before } => parses_before == self.parses_seen,
        };
        let ours = error_field(error, b'C') == Some(SYNTAX_ERROR)
            && error_field(error, b'M').is_some_and(|m| m.windows(DENIED_TEXT.len()).any(|w| w == DENIED_TEXT.as_bytes()));
        if due.segment == self.ready_seen && at_place && ours {
            self.denials.pop_front()
        } else {
            None
        }
    }

    fn parameter_status(&mut self, body: &[u8]) {
        let Some((name, value)) = settings::parameter_status(body) else { return };
        if name.eq_ignore_ascii_case(b"standard_conforming_strings") {
            self.conforming = Conforming::parse(value);
        } else if name.eq_ignore_ascii_case(b"client_encoding") {
            self.encoding = ClientEncoding::named(value);
        }
    }

    /// A `ReadyForQuery` with its transaction status (`I` idle, `T` in a block, `E` failed):
    /// the segment it ends is answered.
    fn ready(&mut self, status: Option<u8>) {
        let segment = self.ready_seen;
        // A denial whose answer never came (an earlier error made the server skip the
        // rewritten message) ends with its segment.
        while self.denials.front().is_some_and(|d| d.segment <= segment) {
            self.denials.pop_front();
        }
        self.paths.answered(segment, status == Some(b'I') && !self.failed);
        self.ready_seen += 1;
        self.parses_seen = 0;
        self.failed = false;
    }
}

/// Name/value pairs of a startup packet, up to its terminating empty name.
fn startup_params(mut body: &[u8]) -> Option<Vec<(String, String)>> {
    let mut params = Vec::new();
    loop {
        let (name, rest) = frame::cstring(body)?;
        if name.is_empty() {
            return Some(params);
        }
        let (value, rest) = frame::cstring(rest)?;
        params.push((String::from_utf8_lossy(name).into_owned(), String::from_utf8_lossy(value).into_owned()));
        body = rest;
    }
}

/// The SQL bytes of a `Query` or `Parse` body; `None` for a `FunctionCall`.
fn sql_bytes(kind: u8, body: &[u8]) -> Result<Option<&[u8]>, &'static str> {
    match kind {
        b'Q' => Ok(Some(frame::cstring(body).ok_or("a Query without its terminator")?.0)),
        b'P' => {
            let (_name, rest) = frame::cstring(body).ok_or("a Parse without its statement name")?;
            Ok(Some(frame::cstring(rest).ok_or("a Parse without its query")?.0))
        }
        _ => Ok(None),
    }
}

/// A field of an ErrorResponse body (`C` the SQLSTATE, `M` the message).
fn error_field(mut fields: &[u8], code: u8) -> Option<&[u8]> {
    loop {
        let (&field, rest) = fields.split_first().filter(|(field, _)| **field != 0)?;
        let (value, rest) = frame::cstring(rest)?;
        if field == code {
            return Some(value);
        }
        fields = rest;
    }
}

/// The `Query` a denied `Query` or `FunctionCall` becomes.
fn denied_query() -> Vec<u8> {
    typed(b'Q', &[DENIED_TEXT.as_bytes(), b"\0"].concat())
}

/// The `Parse` a denied `Parse` becomes: the unnamed statement, no parameter types.
fn denied_parse() -> Vec<u8> {
    typed(b'P', &[b"\0", DENIED_TEXT.as_bytes(), b"\0\0\0"].concat())
}

fn typed(kind: u8, body: &[u8]) -> Vec<u8> {
    let mut out = vec![kind];
    out.extend_from_slice(&((body.len() + 4) as u32).to_be_bytes());
    out.extend_from_slice(body);
    out
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
    typed(b'E', &fields)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sql::{analyze_each_as, Operation};
    use crate::wire::Session as _;

    fn message(kind: u8, body: &[u8]) -> Vec<u8> {
        typed(kind, body)
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
        query_bytes(sql.as_bytes())
    }

    fn query_bytes(sql: &[u8]) -> Vec<u8> {
        message(b'Q', &[sql, b"\0"].concat())
    }

    fn parse(name: &str, sql: &str) -> Vec<u8> {
        message(b'P', format!("{name}\0{sql}\0\0\0").as_bytes())
    }

    fn bind() -> Vec<u8> {
        message(b'B', b"\0\0\0\0\0\0\0\0")
    }

    fn execute() -> Vec<u8> {
        message(b'E', b"\0\0\0\0\0")
    }

    fn sync() -> Vec<u8> {
        message(b'S', b"")
    }

    fn ready() -> Vec<u8> {
        ready_in(b'I')
    }

    fn ready_in(status: u8) -> Vec<u8> {
        message(b'Z', &[status])
    }

    fn status(name: &str, value: &str) -> Vec<u8> {
        message(b'S', format!("{name}\0{value}\0").as_bytes())
    }

    fn complete(tag: &str) -> Vec<u8> {
        message(b'C', format!("{tag}\0").as_bytes())
    }

    /// An ErrorResponse as the server writes one.
    fn server_error(sqlstate: &str, text: &str) -> Vec<u8> {
        message(b'E', format!("SERROR\0VERROR\0C{sqlstate}\0M{text}\0P1\0Fscan.l\0\0").as_bytes())
    }

    /// The server's error for our rewritten message.
    fn our_syntax_error() -> Vec<u8> {
        server_error("42601", "syntax error at or near \"guardrails_denied\"")
    }

    fn denial() -> Vec<u8> {
        error_response(DENIED_SQLSTATE, "denied by rule \"no-drops\"")
    }

    /// Denies what the analyzer reads as a drop or truncate in any of the context's lexings, as
    /// the engine does; reports the statements' session changes.
    fn judge(inspect: Inspect<'_>) -> Verdict {
        match inspect {
            Inspect::Sql { text, context } => {
                let default = [Lexing::default_for(Dialect::Postgres)];
                let lexings = if context.lexings.is_empty() { &default[..] } else { &context.lexings };
                let mut changes = Vec::new();
                for &lexing in lexings {
                    for analysis in analyze_each_as(text, Dialect::Postgres, lexing) {
                        let intent = match &analysis {
                            Ok(intent) => intent,
                            Err(unparsed) => &unparsed.suspected,
                        };
                        if intent.operations.contains(Operation::Drop) || intent.operations.contains(Operation::Truncate) {
                            return Verdict::Deny { message: "denied by rule \"no-drops\"".into() };
                        }
                        changes.extend(intent.session.clone());
                    }
                }
                Verdict::Allow { changes }
            }
            Inspect::Startup { .. } => Verdict::ALLOW,
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

    /// Both ways cut at every single place: the output does not depend on where.
    fn every_cut(session: &Session, data: &[u8], client: bool) -> Vec<u8> {
        let whole = feed(&mut session.clone(), data, &[], client);
        for cut in 1..data.len() {
            assert_eq!(feed(&mut session.clone(), data, &[cut], client), whole, "cut at {cut}");
        }
        let every: Vec<usize> = (1..data.len()).collect();
        assert_eq!(feed(&mut session.clone(), data, &every, client), whole, "cut everywhere");
        whole
    }

    fn started_with(params: &[(&str, &str)], reports: &[(&str, &str)]) -> Session {
        let mut s = Session::new(1024);
        let hello = startup(params);
        assert_eq!(forward(s.client_data(&hello, &mut judge)), hello);
        let mut welcome = message(b'R', &[0, 0, 0, 0]);
        for (name, value) in reports {
            welcome.extend(status(name, value));
        }
        welcome.extend(ready());
        assert_eq!(forward(s.server_data(&welcome)), welcome);
        s
    }

    fn started() -> Session {
        let s = started_with(
            &[("user", "agent"), ("database", "shop"), ("application_name", "bot")],
            &[("client_encoding", "UTF8"), ("standard_conforming_strings", "on")],
        );
        assert_eq!(s.startup().unwrap()[2], ("application_name".to_string(), "bot".to_string()));
        s
    }

    /// What the judge was shown for each SQL text `data` carries.
    fn shown(s: &mut Session, data: &[u8]) -> Vec<(String, Context)> {
        let mut seen = Vec::new();
        forward(s.client_data(data, &mut |inspect| {
            if let Inspect::Sql { text, context } = &inspect {
                seen.push((text.to_string(), (*context).clone()));
            }
            judge(inspect)
        }));
        seen
    }

    fn standard() -> Lexing {
        Lexing::default_for(Dialect::Postgres)
    }

    fn escaping() -> Lexing {
        Lexing { backslash_escapes: true, ..standard() }
    }

    #[test]
    fn allowed_traffic_passes_byte_for_byte_however_it_is_cut() {
        let mut client = startup(&[("user", "u")]);
        client.extend(query("SELECT 1; SELECT 2"));
        client.extend(parse("s1", "SELECT $1"));
        client.extend(message(b'B', b"\0s1\0\0\0\0\0\0\0"));
        client.extend(message(b'd', &[7u8; 300]));
        client.extend(sync());
        assert_eq!(every_cut(&Session::new(1024), &client, true), client);
        let answer = [
            status("client_encoding", "UTF8"),
            ready(),
            message(b'T', &[0; 40]),
            server_error("22012", "division by zero"),
            ready(),
        ]
        .concat();
        assert_eq!(every_cut(&started(), &answer, false), answer);
    }

    #[test]
    fn a_denied_query_fails_on_the_server_and_its_error_becomes_ours() {
        let mut s = started();
        let sent = [query("select 1; /* x */ dRoP TABLE orders"), query("SELECT 2")].concat();
        assert_eq!(every_cut(&s, &sent, true), [denied_query(), query("SELECT 2")].concat());
        assert_eq!(denied_query(), b"Q\0\0\0\x16guardrails_denied\0");
        forward(s.client_data(&sent, &mut judge));
        let answer = [our_syntax_error(), ready(), complete("SELECT 1"), ready()].concat();
        let got = every_cut(&s, &answer, false);
        assert_eq!(got, [denial(), ready(), complete("SELECT 1"), ready()].concat());
        assert!(String::from_utf8_lossy(&denial()).contains("42501"));
    }

    #[test]
    fn in_a_transaction_the_denial_aborts_it_and_later_errors_pass_unchanged() {
        let mut s = started();
        let sent = [query("BEGIN"), query("INSERT INTO t VALUES (1)"), query("DROP TABLE t"), query("SELECT 1"), query("COMMIT")]
            .concat();
        assert_eq!(forward(s.client_data(&sent, &mut judge)), sent.replace(&query("DROP TABLE t"), &denied_query()));
        let aborted = server_error("25P02", "current transaction is aborted, commands ignored until end of transaction block");
        let answer = [
            complete("BEGIN"),
            ready_in(b'T'),
            complete("INSERT 0 1"),
            ready_in(b'T'),
            our_syntax_error(),
            ready_in(b'E'),
            aborted.clone(),
            ready_in(b'E'),
            complete("ROLLBACK"),
            ready(),
        ]
        .concat();
        let want = answer.replace(&our_syntax_error(), &denial());
        assert_eq!(every_cut(&s, &answer, false), want, "the statuses and the 25P02 pass as the server sent them");
    }

    #[test]
    fn a_denied_parse_fails_its_segment_on_the_server() {
        let mut s = started();
        let sent =
            [parse("", "INSERT INTO t VALUES (1)"), bind(), execute(), parse("s2", "DROP TABLE t"), bind(), execute(), sync()]
                .concat();
        let forwarded = every_cut(&s, &sent, true);
        let want = [parse("", "INSERT INTO t VALUES (1)"), bind(), execute(), denied_parse(), bind(), execute(), sync()].concat();
        assert_eq!(forwarded, want, "the rest of the segment goes on: the server discards it");
        assert_eq!(denied_parse(), b"P\0\0\0\x19\0guardrails_denied\0\0\0");
        forward(s.client_data(&sent, &mut judge));
        let answer = [message(b'1', b""), message(b'2', b""), complete("INSERT 0 1"), our_syntax_error(), ready()].concat();
        let want = [message(b'1', b""), message(b'2', b""), complete("INSERT 0 1"), denial(), ready()].concat();
        assert_eq!(every_cut(&s, &answer, false), want);
    }

    #[test]
    fn a_clients_own_error_before_the_rewritten_parse_is_not_taken_for_ours() {
        let mut s = started();
        let sent = [parse("", "guardrails_denied"), parse("", "DROP TABLE t"), sync(), query("SELECT 1")].concat();
        forward(s.client_data(&sent, &mut judge));
        // The client's first Parse fails: the server skips the rest of the segment.
        let answer = [our_syntax_error(), ready(), server_error("42601", "syntax error at or near \"SELEC\""), ready()].concat();
        assert_eq!(every_cut(&s, &answer, false), answer);
        forward(s.server_data(&answer));
        assert_eq!(pending_denials(&s), 0);
    }

    #[test]
    fn an_error_of_another_kind_in_the_denials_segment_passes() {
        let mut s = started();
        forward(
            s.client_data(&[parse("", "SELECT 1/0"), bind(), execute(), parse("", "DROP TABLE t"), sync()].concat(), &mut judge),
        );
        let answer = [message(b'1', b""), message(b'2', b""), server_error("22012", "division by zero"), ready()].concat();
        assert_eq!(every_cut(&s, &answer, false), answer);
    }

    #[test]
    fn a_huge_error_streams_untouched_and_is_not_held() {
        let mut s = started();
        forward(s.client_data(&query("DROP TABLE t"), &mut judge));
        let huge = server_error("42601", &format!("guardrails_denied {}", "x".repeat(70_000)));
        let mut out = Vec::new();
        for chunk in huge.chunks(1000) {
            out.extend(forward(s.server_data(chunk)));
            assert!(held(&s).1 < 5);
        }
        assert_eq!(out, huge);
        assert_eq!(forward(s.server_data(&ready_in(b'I'))), ready(), "the denial ended with its segment");
        assert_eq!(pending_denials(&s), 0);
    }

    #[test]
    fn the_servers_report_of_standard_conforming_strings_decides_the_lexing() {
        // With the setting off, `'x\', '` is one string and the DROP runs.
        let hidden = "SELECT 'x\\', ' ; DROP TABLE t; --'";
        let mut s = started();
        assert_eq!(shown(&mut s, &query(hidden))[0].1.lexings, [standard()]);
        forward(s.server_data(&[complete("SELECT 1"), ready()].concat()));
        forward(s.client_data(&query("SET standard_conforming_strings = off"), &mut judge));
        // Sent before the server answered the SET: read both ways, and one of them sees the DROP.
        let seen = shown(&mut s, &query(hidden));
        assert_eq!(seen[0].1.lexings, [standard(), escaping()]);
        let answer = [complete("SET"), status("standard_conforming_strings", "off"), ready(), message(b'I', b""), ready()];
        forward(s.server_data(&answer.concat()));
        assert_eq!(forward(s.client_data(&query(hidden), &mut judge)), denied_query());
        assert_eq!(shown(&mut s, &query("SELECT 'plain'"))[0].1.lexings, [standard()], "no backslash: one reading");
    }

    #[test]
    fn startup_options_set_the_lexing_until_the_server_reports_it() {
        let options = ("options", "-c standard_conforming_strings=off");
        let hidden = query("SELECT 'x\\', ' ; DROP TABLE t; --'");
        // Sent right behind the startup packet, before the server answered it.
        let mut s = Session::new(1024);
        let sent = [startup(&[("user", "u"), options]), hidden.clone()].concat();
        assert_eq!(every_cut(&s, &sent, true), [startup(&[("user", "u"), options]), denied_query()].concat());
        forward(s.client_data(&startup(&[("user", "u"), options]), &mut judge));
        forward(s.server_data(&[status("standard_conforming_strings", "off"), ready()].concat()));
        assert_eq!(shown(&mut s, &hidden)[0].1.lexings, [escaping()]);
        // The server's report wins over the startup's.
        let s = started_with(&[("user", "u"), options], &[("standard_conforming_strings", "on")]);
        assert_eq!(every_cut(&s, &hidden, true), hidden);
    }

    #[test]
    fn pipelined_behind_an_unanswered_message_both_readings_are_judged() {
        let hidden = parse("", "SELECT 'x\\', ' ; DROP TABLE t; --'");
        let s = started();
        assert_eq!(every_cut(&s, &hidden, true), hidden, "on: a harmless string");
        // A function could change the setting: anything unanswered makes the reading unsure.
        let sent = [parse("", "SELECT f()"), bind(), execute(), hidden.clone(), sync()].concat();
        let forwarded = every_cut(&s, &sent, true);
        assert_eq!(forwarded, [parse("", "SELECT f()"), bind(), execute(), denied_parse(), sync()].concat());
    }

    fn sjis(text: &str) -> Vec<u8> {
        encoding_rs::SHIFT_JIS.encode(text).0.into_owned()
    }

    #[test]
    fn sjis_text_is_read_as_the_server_reads_it() {
        // 表 is 0x95 0x5c in Shift JIS: read byte by byte, E'..\' would swallow the DROP.
        let hidden = sjis("SELECT E'表' ; DROP TABLE t; --'");
        assert!(hidden.windows(2).any(|w| w == [0x95, 0x5c]));
        let s = started_with(&[("user", "u"), ("client_encoding", "SJIS")], &[("client_encoding", "SJIS")]);
        assert_eq!(every_cut(&s, &query_bytes(&hidden), true), denied_query());
        let harmless = query_bytes(&sjis("SELECT '表', E'表\\\\'"));
        assert_eq!(every_cut(&s, &harmless, true), harmless);
        assert_eq!(shown(&mut s.clone(), &harmless)[0].0, "SELECT '表', E'表\\\\'");
        // In UTF-8 the same bytes are no text.
        assert_eq!(every_cut(&started(), &query_bytes(&sjis("SELECT '表'")), true), denied_query());
    }

    #[test]
    fn a_set_client_encoding_is_followed_from_the_servers_report() {
        let mut s = started();
        let hidden = query_bytes(&sjis("SELECT E'表' ; DROP TABLE t; --'"));
        forward(s.client_data(&query("SET client_encoding = 'SJIS'"), &mut judge));
        // Pipelined behind the SET: read in both the old and the named encoding.
        assert_eq!(every_cut(&s, &hidden, true), denied_query());
        forward(s.server_data(&[complete("SET"), status("client_encoding", "SJIS"), ready()].concat()));
        assert_eq!(every_cut(&s, &hidden, true), denied_query());
        let harmless = query_bytes(&sjis("SELECT '表'"));
        assert_eq!(every_cut(&s, &harmless, true), harmless);
        // An encoding the filter cannot decode: only ASCII text reads.
        forward(s.server_data(&status("client_encoding", "EUC_TW")));
        assert_eq!(every_cut(&s, &harmless, true), denied_query());
        assert_eq!(every_cut(&s, &query("SELECT 1"), true), query("SELECT 1"));
    }

    #[test]
    fn a_set_config_of_client_encoding_is_followed_like_a_set() {
        // LATIN1 reads 0x95 0x5c as two characters, the second a backslash that escapes the
        // quote: one harmless string. The server, once in SJIS, runs the DROP.
        let mut s = started_with(&[("user", "u"), ("client_encoding", "LATIN1")], &[("client_encoding", "LATIN1")]);
        let hidden = query_bytes(&sjis("SELECT E'表' ; DROP TABLE t; --'"));
        assert_eq!(every_cut(&s, &hidden, true), hidden, "the same bytes are one string in LATIN1");
        forward(s.client_data(&query("SELECT set_config('client_encoding', 'SJIS', false)"), &mut judge));
        assert_eq!(every_cut(&s, &hidden, true), denied_query());
    }

    fn path(schemas: &[&str]) -> Option<SearchPath> {
        Some(SearchPath::known(Dialect::Postgres, schemas.iter().map(|s| s.to_string()).collect()))
    }

    fn path_shown(s: &mut Session) -> Option<SearchPath> {
        shown(s, &query("SELECT 1")).remove(0).1.search_path
    }

    #[test]
    fn a_search_path_holds_once_the_server_ran_it_outside_a_transaction() {
        let mut s = started();
        assert_eq!(path_shown(&mut s), None, "the route's");
        forward(s.server_data(&[complete("SELECT 1"), ready()].concat()));
        forward(s.client_data(&query("SET search_path = secret, \"$user\""), &mut judge));
        assert_eq!(path_shown(&mut s), Some(SearchPath::Unknown), "not answered yet");
        forward(s.server_data(&[complete("SET"), ready(), complete("SELECT 1"), ready()].concat()));
        assert_eq!(path_shown(&mut s), path(&["secret", "agent"]));
        forward(s.server_data(&[complete("SELECT 1"), ready()].concat()));
        forward(s.client_data(&query("RESET ALL"), &mut judge));
        forward(s.server_data(&[complete("RESET"), ready()].concat()));
        assert_eq!(path_shown(&mut s), None, "back to the start");
    }

    #[test]
    fn a_search_path_that_may_be_rolled_back_or_failed_is_unknown() {
        for answer in [
            [complete("SET"), ready_in(b'T')].concat(),
            [server_error("22023", "invalid value"), ready()].concat(),
            [complete("SET"), ready_in(b'E')].concat(),
        ] {
            let mut s = started();
            forward(s.client_data(&query("SET search_path = secret"), &mut judge));
            forward(s.server_data(&answer));
            assert_eq!(path_shown(&mut s), Some(SearchPath::Unknown));
        }
        // A prepared statement may set it at any Execute.
        let mut s = started();
        forward(s.client_data(&[parse("", "SET search_path = secret"), bind(), execute(), sync()].concat(), &mut judge));
        forward(s.server_data(&[message(b'1', b""), message(b'2', b""), complete("SET"), ready()].concat()));
        forward(s.client_data(&query("SET search_path = public"), &mut judge));
        forward(s.server_data(&[complete("SET"), ready(), complete("SELECT 1"), ready()].concat()));
        assert_eq!(path_shown(&mut s), Some(SearchPath::Unknown));
    }

    #[test]
    fn startup_options_set_the_first_search_path() {
        let mut s = started_with(&[("user", "u"), ("options", "-c search_path=secret")], &[]);
        assert_eq!(path_shown(&mut s), path(&["secret"]));
        forward(s.server_data(&[complete("SELECT 1"), ready()].concat()));
        forward(s.client_data(&query("SET search_path = public"), &mut judge));
        forward(s.server_data(&[complete("SET"), ready()].concat()));
        assert_eq!(path_shown(&mut s), path(&["public"]));
        forward(s.server_data(&[complete("SELECT 1"), ready()].concat()));
        forward(s.client_data(&query("SET search_path TO DEFAULT"), &mut judge));
        forward(s.server_data(&[complete("SET"), ready()].concat()));
        assert_eq!(path_shown(&mut s), path(&["secret"]), "the startup's, as RESET gives");
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
            assert!(held(&s).0 <= 64 + 5);
        }
        assert_eq!(out, denied_query());
        let call = message(b'F', &[0, 0, 0, 42, 0, 0, 0, 0, 0, 0]);
        assert_eq!(forward(s.client_data(&call, &mut judge)), denied_query());
        let invalid = message(b'Q', b"SELECT '\xff'\0");
        assert_eq!(forward(s.client_data(&invalid, &mut judge)), denied_query());
    }

    #[test]
    fn unanswered_denials_are_bounded() {
        let mut s = started();
        let denied = query("DROP TABLE t");
        for _ in 0..MAX_UNANSWERED {
            assert_eq!(forward(s.client_data(&denied, &mut judge)), denied_query());
        }
        assert!(matches!(s.client_data(&denied, &mut judge), Next::Close(_)));
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
                assert!(held(&s).0 <= MAX_STARTUP as usize);
            }
            for chunk in bytes.chunks(1 + (next() % 50) as usize) {
                if let Next::Close(_) = s.server_data(chunk) {
                    break;
                }
                assert!(held(&s).1 <= MAX_HELD as usize);
            }
        }
    }

    fn held(s: &Session) -> (usize, usize) {
        (s.client.held(), s.server.held())
    }

    fn pending_denials(s: &Session) -> usize {
        s.state.denials.len()
    }

    /// A message header claiming `length`, without its body.
    fn claimed(kind: u8, length: u32) -> Vec<u8> {
        [vec![kind], length.to_be_bytes().to_vec()].concat()
    }

    #[test]
    fn client_lengths_below_the_length_field_close_the_connection() {
        for kind in [b'Q', b'P', b'D', b'X'] {
            for length in [0, 3] {
                let mut s = started();
                assert!(matches!(s.client_data(&claimed(kind, length), &mut judge), Next::Close(_)), "{} {length}", kind as char);
            }
        }
    }

    #[test]
    fn a_client_length_of_4_gib_streams_through_without_wrapping() {
        let chunk = [b'x'; 64 * 1024];
        for kind in [b'Q', b'P', b'D', b'X'] {
            let mut s = started();
            let head = claimed(kind, u32::MAX);
            let mut out = forward(s.client_data(&head, &mut judge));
            for _ in 0..16 {
                out.extend(forward(s.client_data(&chunk, &mut judge)));
                assert!(held(&s).0 <= 1024 + 5);
                assert!(pending_denials(&s) <= 1);
            }
            let want = match kind {
                b'Q' => denied_query(),
                b'P' => denied_parse(),
                _ => [head, chunk.repeat(16)].concat(),
            };
            assert!(out == want, "{}: {} bytes forwarded", kind as char, out.len());
        }
    }

    #[test]
    fn server_lengths_are_checked_the_same_way() {
        for length in [0, 3] {
            let mut s = started();
            assert!(matches!(s.server_data(&claimed(b'D', length)), Next::Close(_)));
        }
        for kind in [b'D', b'E', b'Z'] {
            let mut s = started();
            let head = claimed(kind, u32::MAX);
            let mut out = forward(s.server_data(&head));
            for _ in 0..16 {
                out.extend(forward(s.server_data(&[7; 64 * 1024])));
                assert!(held(&s).1 < 5);
            }
            assert_eq!(out.len(), head.len() + 16 * 64 * 1024);
        }
    }

    #[test]
    fn startup_lengths_out_of_range_close_the_connection() {
        for length in [u32::MAX, 0, 7, MAX_STARTUP + 1] {
            let mut s = Session::new(1024);
            let packet = [length.to_be_bytes(), 196_608u32.to_be_bytes()].concat();
            assert!(matches!(s.client_data(&packet, &mut judge), Next::Close(_)), "length {length}");
            assert!(held(&s).0 <= 8);
        }
    }

    trait Replace {
        fn replace(&self, from: &[u8], to: &[u8]) -> Vec<u8>;
    }

    impl Replace for Vec<u8> {
        /// The first occurrence of `from` replaced.
        fn replace(&self, from: &[u8], to: &[u8]) -> Vec<u8> {
            let at = self.windows(from.len()).position(|w| w == from).expect("present");
            [&self[..at], to, &self[at + from.len()..]].concat()
        }
    }
}
