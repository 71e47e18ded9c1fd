//! The client's side: the startup packet, then typed messages; `Query`, `Parse` and
//! `FunctionCall` are held whole and judged in every reading the session may be in, a denied one
//! is rewritten to fail on the server.

use std::borrow::Cow;

use super::messages::{denied_parse, denied_query, error_response, sql_bytes, startup_params};
use super::settings::{self, ClientEncoding, Conforming, Startup};
use super::{
    Back, Denial, Front, Header, Marker, SearchPaths, State, CANCEL_REQUEST, DENIED_SQLSTATE, GSSENC_REQUEST, MAX_STARTUP,
    MAX_UNANSWERED, MIN_STARTUP, SSL_REQUEST,
};
use crate::sql::{Dialect, Lexing, SessionChange};
use crate::wire::frame::{self, Step};
use crate::wire::{Inspect, Judge, Verdict};

impl State {
    pub(super) fn client_message(&mut self, rest: &[u8], out: &mut Vec<u8>, judge: &mut Judge<'_>) -> Step {
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
        self.paths = SearchPaths::starting(startup.search_path);
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
}
