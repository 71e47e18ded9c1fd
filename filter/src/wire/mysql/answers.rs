//! The server's answers, matched to the commands they answer by their boundaries: a client may
//! pipeline commands, so the n-th complete answer is the n-th pending command's.
//!
//! An answer is an OK, an ERR, an EOF, a LOCAL INFILE request (`0xFB`, then the statement's
//! OK or ERR once the client sent its file), or a result set: the column count, its column
//! definitions, an EOF unless `CLIENT_DEPRECATE_EOF`, rows, and a final EOF (or OK); with
//! `SERVER_MORE_RESULTS_EXISTS` another result follows. `COM_STMT_PREPARE` answers an OK
//! giving its parameter and column definition counts, each block followed by an EOF unless
//! deprecated. Commands with no answer (`COM_QUIT`, `COM_STMT_CLOSE`,
//! `COM_STMT_SEND_LONG_DATA`) are never pending.

use std::collections::VecDeque;

use super::settings::{Change, Doubt, Tracked};
use super::Header;
use crate::wire::frame;

const SERVER_MORE_RESULTS_EXISTS: u16 = 0x0008;
const SERVER_STATUS_CURSOR_EXISTS: u16 = 0x0040;
const SERVER_SESSION_STATE_CHANGED: u16 = 0x4000;
const SESSION_TRACK_SYSTEM_VARIABLES: u8 = 0;
const SESSION_TRACK_SCHEMA: u8 = 1;
/// The most commands a client may have sent ahead of their answers.
pub const MAX_PENDING: usize = 256;

/// What a command's answer looks like.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Shape {
    /// OK, ERR, EOF, a result set (text or binary), or a LOCAL INFILE request.
    Results,
    /// `COM_STMT_PREPARE`: OK with its definitions, or ERR.
    Prepare,
    /// `COM_STMT_FETCH`: rows up to an EOF, or ERR.
    Rows,
    /// `COM_FIELD_LIST`: column definitions up to an EOF, or ERR.
    Definitions,
    /// `COM_STATISTICS`: one packet of text.
    OnePacket,
    /// `COM_CHANGE_USER`: an authentication exchange up to OK or ERR.
    Authentication,
}

/// A command sent on, waiting for its answer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Pending {
    pub shape: Shape,
    /// A denied command went on as `COM_PING`: its OK becomes the ERR with this message.
    pub denial: Option<String>,
    /// What the command changes, once its answer confirms it.
    pub changes: Vec<Change>,
}

/// Where the answer in progress is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Reading {
    /// Its first packet, or the first of the next result.
    First,
    /// `left` column or parameter definitions, then an EOF unless deprecated, then `then`.
    Definitions { left: u64, then: Then },
    /// The EOF after a block of definitions.
    DefinitionsEof { then: Then },
    /// Rows up to the result's EOF or OK.
    Rows,
    /// Column definitions up to an EOF (`COM_FIELD_LIST`).
    FieldList,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Then {
    Rows,
    /// A prepared statement's column definitions, after its parameters'.
    Columns(u64),
    Done,
}

/// What one server packet was, for the session to act on.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Seen {
    /// Part of an answer, or a packet no command asked for: forward it.
    Forward,
    /// The OK answering a denied command: the client gets this ERR message instead.
    Denied(String),
    /// A LOCAL INFILE request: the client's file follows, from this sequence id.
    LocalFile(u8),
    /// The server asks the client for more authentication data, with this sequence id.
    AuthData(u8),
    /// The server's packets are no longer understood: the session cannot follow its answers.
    Lost,
}

/// The pending commands and the answer in progress.
#[derive(Clone, Debug, Default)]
pub struct Answers {
    pending: VecDeque<Pending>,
    reading: Option<Reading>,
    /// The answer so far: a result was complete, an ERR came.
    completed: bool,
    failed: bool,
    status: Option<u16>,
    tracked: Vec<Tracked>,
    /// The previous server packet was 16 MiB - 1 bytes: this one continues it.
    continued: bool,
    pub deprecate_eof: bool,
    pub session_track: bool,
}

/// A complete answer: its command, how it went, what the server reported.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Done {
    pub command: Pending,
    /// Some result was complete / an ERR came.
    pub completed: bool,
    pub failed: bool,
    pub status: Option<u16>,
    pub tracked: Vec<Tracked>,
}

impl Answers {
    pub fn is_full(&self) -> bool {
        self.pending.len() >= MAX_PENDING
    }

    pub fn is_empty(&self) -> bool {
        self.pending.is_empty()
    }

    pub fn push(&mut self, command: Pending) {
        self.pending.push_back(command);
    }

    /// What the pending commands' changes leave in doubt.
    pub fn doubt(&self) -> Doubt {
        let mut doubt = Doubt::default();
        self.pending.iter().flat_map(|p| &p.changes).for_each(|c| doubt.add(c));
        doubt
    }

    /// Whether the answer reads the whole packet that starts with `lead` (OK, EOF and column
    /// counts), rather than its first byte (rows, definitions, continuations).
    pub fn reads_whole(&self, header: Header, lead: Option<u8>) -> bool {
        if self.continued || header.continued() {
            return false;
        }
        let Some(head) = self.pending.front() else { return false };
        match (self.reading.unwrap_or(self.start()), head.shape) {
            (_, Shape::OnePacket | Shape::Authentication) | (Reading::Definitions { .. }, _) => false,
            (Reading::Rows | Reading::FieldList, _) => lead == Some(0xfe),
            _ => true,
        }
    }

    fn start(&self) -> Reading {
        match self.pending.front().map(|p| p.shape) {
            Some(Shape::Rows) => Reading::Rows,
            Some(Shape::Definitions) => Reading::FieldList,
            _ => Reading::First,
        }
    }

    /// One server packet (`payload` is what is here of it: whole unless `needs` said less).
    pub fn packet(&mut self, header: Header, payload: &[u8]) -> (Seen, Option<Done>) {
        let continuation = std::mem::replace(&mut self.continued, header.continued());
        let Some(head) = self.pending.front() else { return (Seen::Forward, None) };
        if continuation {
            return (Seen::Forward, None);
        }
        let shape = head.shape;
        let denial = head.denial.clone();
        let lead = payload.first().copied();
        let reading = self.reading.unwrap_or(self.start());
        let (seen, next) = match (reading, shape, lead) {
            (_, Shape::OnePacket, _) => (Seen::Forward, None),
            (_, Shape::Authentication, _) => self.authentication(header, lead),
            (Reading::First, Shape::Prepare, Some(0x00)) => (Seen::Forward, self.prepared(payload)),
            (Reading::First, _, Some(0x00)) => match denial {
                Some(message) => (Seen::Denied(message), None),
                None => self.result_end(payload),
            },
            (Reading::First, _, Some(0xfb)) if shape == Shape::Results => {
                (Seen::LocalFile(header.seq.wrapping_add(1)), Some(Reading::First))
            }
            (_, _, Some(0xff)) => {
                self.failed = true;
                (Seen::Forward, None)
            }
            (Reading::First, _, Some(0xfe)) if header.length < 9 => self.result_end(payload),
            (Reading::First, _, _) => match frame::lenenc_int(payload) {
                Some((columns, _)) => (Seen::Forward, self.definitions(columns, Then::Rows)),
                None => (Seen::Lost, None),
            },
            (Reading::Definitions { left, then }, _, _) => (Seen::Forward, self.definitions(left.saturating_sub(1), then)),
            (Reading::DefinitionsEof { then }, _, Some(0xfe)) => self.after_definitions(then, payload),
            (Reading::DefinitionsEof { .. }, _, _) => (Seen::Lost, None),
            (Reading::Rows | Reading::FieldList, _, Some(0xfe)) if !header.continued() => self.result_end(payload),
            (Reading::Rows | Reading::FieldList, _, _) => (Seen::Forward, Some(reading)),
        };
        if seen == Seen::Lost {
            return (Seen::Lost, None);
        }
        self.reading = next;
        (seen, if next.is_none() { self.finish() } else { None })
    }

    /// An OK, EOF or result-set terminator: the answer ends unless more results exist.
    fn result_end(&mut self, payload: &[u8]) -> (Seen, Option<Reading>) {
        let Some((status, tracked)) = self.read_status(payload) else { return (Seen::Lost, None) };
        self.completed = true;
        self.status = Some(status);
        self.tracked.extend(tracked);
        (Seen::Forward, (status & SERVER_MORE_RESULTS_EXISTS != 0).then_some(Reading::First))
    }

    /// Definitions still to come, then what follows them.
    fn definitions(&mut self, left: u64, then: Then) -> Option<Reading> {
        match (left, self.deprecate_eof) {
            (0, true) => self.then(then),
            (0, false) => Some(Reading::DefinitionsEof { then }),
            _ => Some(Reading::Definitions { left, then }),
        }
    }

    fn then(&mut self, then: Then) -> Option<Reading> {
        match then {
            Then::Rows => Some(Reading::Rows),
            Then::Columns(0) | Then::Done => {
                self.completed = true;
                None
            }
            Then::Columns(columns) => self.definitions(columns, Then::Done),
        }
    }

    /// The EOF after definitions; an open cursor sends no rows.
    fn after_definitions(&mut self, then: Then, payload: &[u8]) -> (Seen, Option<Reading>) {
        let Some(status) = eof_status(payload) else { return (Seen::Lost, None) };
        self.status = Some(status);
        if then == Then::Rows && status & SERVER_STATUS_CURSOR_EXISTS != 0 {
            self.completed = true;
            return (Seen::Forward, None);
        }
        (Seen::Forward, self.then(then))
    }

    /// `COM_STMT_PREPARE_OK`: statement id, columns, parameters.
    fn prepared(&mut self, payload: &[u8]) -> Option<Reading> {
        let count = |at| payload.get(at..at + 2).map_or(0, |b| u64::from(u16::from_le_bytes([b[0], b[1]])));
        let (columns, params) = (count(5), count(7));
        if params == 0 {
            return self.then(Then::Columns(columns));
        }
        self.definitions(params, Then::Columns(columns))
    }

    /// `COM_CHANGE_USER`'s exchange: OK or ERR end it, anything else asks the client.
    fn authentication(&mut self, header: Header, lead: Option<u8>) -> (Seen, Option<Reading>) {
        match lead {
            Some(0x00) => {
                self.completed = true;
                (Seen::Forward, None)
            }
            Some(0xff) => {
                self.failed = true;
                (Seen::Forward, None)
            }
            _ => (Seen::AuthData(header.seq.wrapping_add(1)), Some(Reading::First)),
        }
    }

    fn finish(&mut self) -> Option<Done> {
        let command = self.pending.pop_front()?;
        let done = Done {
            command,
            completed: std::mem::take(&mut self.completed),
            failed: std::mem::take(&mut self.failed),
            status: self.status.take(),
            tracked: std::mem::take(&mut self.tracked),
        };
        Some(done)
    }

    /// The status flags (and tracked session state) of an OK packet, or of a short EOF.
    pub fn read_status(&self, payload: &[u8]) -> Option<(u16, Vec<Tracked>)> {
        if payload.first() == Some(&0xfe) && payload.len() < 9 {
            return Some((eof_status(payload)?, Vec::new()));
        }
        ok_status(payload, self.session_track)
    }
}

/// An EOF packet's status flags: after its marker and warning count.
fn eof_status(payload: &[u8]) -> Option<u16> {
    let flags = payload.get(3..5)?;
    Some(u16::from_le_bytes([flags[0], flags[1]]))
}

/// An OK packet's status flags and, with session tracking, what it reports.
pub fn ok_status(payload: &[u8], session_track: bool) -> Option<(u16, Vec<Tracked>)> {
    let (_affected, rest) = frame::lenenc_int(payload.get(1..)?)?;
    let (_insert_id, rest) = frame::lenenc_int(rest)?;
    let flags = rest.get(..2)?;
    let status = u16::from_le_bytes([flags[0], flags[1]]);
    let rest = rest.get(4..)?;
    if !session_track || rest.is_empty() {
        return Some((status, Vec::new()));
    }
    let (_info, rest) = frame::lenenc_bytes(rest)?;
    if status & SERVER_SESSION_STATE_CHANGED == 0 {
        return Some((status, Vec::new()));
    }
    let (mut state, _) = frame::lenenc_bytes(rest)?;
    let mut tracked = Vec::new();
    while let Some((&kind, after)) = state.split_first() {
        let (data, after) = frame::lenenc_bytes(after)?;
        match kind {
            SESSION_TRACK_SYSTEM_VARIABLES => {
                let (name, data) = frame::lenenc_bytes(data)?;
                let (value, _) = frame::lenenc_bytes(data)?;
                tracked.push(Tracked::Variable { name: super::text(name), value: super::text(value) });
            }
            SESSION_TRACK_SCHEMA => tracked.push(Tracked::Schema(super::text(frame::lenenc_bytes(data)?.0))),
            _ => {}
        }
        state = after;
    }
    Some((status, tracked))
}
