//! The client's packets after its handshake response: each command is judged (SQL as the
//! session reads it; server commands that are not SQL as the statement they amount to, or as
//! unreadable), and goes on as sent or, denied, as `COM_PING`; its answer is then pending.
//! Continuations, authentication replies and LOAD DATA LOCAL file data are data, accepted only
//! with the sequence id the protocol expects.

use std::borrow::Cow;

use super::answers::{Pending, Shape};
use super::handshake::skip_auth_response;
use super::settings::Change;
use super::{frame, Front, Header, State, Step};
use crate::wire::{Inspect, Judge, Verdict};

const COM_SLEEP: u8 = 0x00;
const COM_QUIT: u8 = 0x01;
const COM_INIT_DB: u8 = 0x02;
pub(super) const COM_QUERY: u8 = 0x03;
const COM_FIELD_LIST: u8 = 0x04;
const COM_CREATE_DB: u8 = 0x05;
const COM_DROP_DB: u8 = 0x06;
const COM_REFRESH: u8 = 0x07;
const COM_SHUTDOWN: u8 = 0x08;
const COM_STATISTICS: u8 = 0x09;
const COM_PROCESS_INFO: u8 = 0x0a;
const COM_CONNECT: u8 = 0x0b;
const COM_PROCESS_KILL: u8 = 0x0c;
const COM_DEBUG: u8 = 0x0d;
pub(super) const COM_PING: u8 = 0x0e;
const COM_TIME: u8 = 0x0f;
const COM_DELAYED_INSERT: u8 = 0x10;
const COM_CHANGE_USER: u8 = 0x11;
const COM_STMT_PREPARE: u8 = 0x16;
const COM_STMT_EXECUTE: u8 = 0x17;
const COM_STMT_SEND_LONG_DATA: u8 = 0x18;
const COM_STMT_CLOSE: u8 = 0x19;
const COM_STMT_RESET: u8 = 0x1a;
const COM_SET_OPTION: u8 = 0x1b;
const COM_STMT_FETCH: u8 = 0x1c;
const COM_DAEMON: u8 = 0x1d;
const COM_RESET_CONNECTION: u8 = 0x1f;
const COM_STMT_BULK_EXECUTE: u8 = 0xfa;

/// How a command is read.
enum Reading {
    /// SQL, held whole.
    Sql,
    /// The statement a server command amounts to, from its (small) payload.
    Statement,
    /// Something the filter cannot read: judged as unreadable.
    Unreadable(&'static str),
    /// `COM_CHANGE_USER`, held whole: judged as unreadable, and, allowed, a new session.
    ChangeUser,
    /// Runs nothing the policy decides: streams on, with its answer of this shape (or none).
    Stream(Option<Shape>),
}

fn reading(command: Option<u8>) -> Reading {
    let Some(command) = command else { return Reading::Stream(Some(Shape::Results)) };
    match command {
        COM_QUERY | COM_STMT_PREPARE | COM_INIT_DB | COM_CREATE_DB | COM_DROP_DB => Reading::Sql,
        COM_PROCESS_KILL | COM_SHUTDOWN | COM_REFRESH | COM_PROCESS_INFO | COM_STATISTICS => Reading::Statement,
        COM_QUIT | COM_STMT_CLOSE | COM_STMT_SEND_LONG_DATA => Reading::Stream(None),
        COM_STMT_FETCH => Reading::Stream(Some(Shape::Rows)),
        COM_FIELD_LIST => Reading::Stream(Some(Shape::Definitions)),
        COM_SLEEP
        | COM_CONNECT
        | COM_PING
        | COM_TIME
        | COM_DELAYED_INSERT
        | COM_STMT_EXECUTE
        | COM_STMT_RESET
        | COM_SET_OPTION
        | COM_DAEMON
        | COM_RESET_CONNECTION
        | COM_STMT_BULK_EXECUTE => Reading::Stream(Some(Shape::Results)),
        COM_CHANGE_USER => Reading::ChangeUser,
        COM_DEBUG => Reading::Unreadable("COM_DEBUG (a dump of server state to its log)"),
        0x12 | 0x1e => Reading::Unreadable("a binary log dump"),
        0x13 => Reading::Unreadable("COM_TABLE_DUMP"),
        0x14 => Reading::Unreadable("COM_CONNECT_OUT"),
        0x15 => Reading::Unreadable("COM_REGISTER_SLAVE"),
        _ => Reading::Unreadable("a command the filter does not know"),
    }
}

fn shape(command: u8) -> Shape {
    match command {
        COM_STMT_PREPARE => Shape::Prepare,
        COM_STATISTICS => Shape::OnePacket,
        COM_CHANGE_USER => Shape::Authentication,
        _ => Shape::Results,
    }
}

impl State {
    /// A client packet after the handshake response.
    pub(super) fn client_message(&mut self, rest: &[u8], header: Header, out: &mut Vec<u8>, judge: &mut Judge<'_>) -> Step {
        match self.front {
            Front::Continued { seq, forward } if header.seq == seq => {
                self.front =
                    if header.continued() { Front::Continued { seq: seq.wrapping_add(1), forward } } else { Front::Commands };
                Step::Stream { size: header.size(), forward }
            }
            Front::LocalFile { seq, continued } if header.seq == seq => {
                let end = header.length == 0 && !continued;
                self.front = if end {
                    Front::Commands
                } else {
                    Front::LocalFile { seq: seq.wrapping_add(1), continued: header.continued() }
                };
                header.pass()
            }
            Front::Commands if self.invited == Some(header.seq) && header.seq != 0 => {
                self.invited = None;
                self.follow_continuation(header, true);
                header.pass()
            }
            Front::Commands if header.seq == 0 => {
                // A command ends any authentication exchange the client had left to answer.
                self.invited = None;
                self.command(rest, header, out, judge)
            }
            _ => Step::Close(format!("a client packet out of sequence (sequence id {})", header.seq)),
        }
    }

    /// A command: judged, carried on or replaced, and its answer awaited.
    fn command(&mut self, rest: &[u8], header: Header, out: &mut Vec<u8>, judge: &mut Judge<'_>) -> Step {
        let Some(command) = header.lead(rest) else { return Step::Incomplete };
        if self.answers.is_full() {
            return Step::Close(format!("more than {} commands sent ahead of their answers", super::answers::MAX_PENDING));
        }
        let verdict = match reading(command) {
            Reading::Stream(answer) => {
                self.follow_continuation(header, true);
                if let Some(shape) = answer {
                    let changes = if command == Some(COM_RESET_CONNECTION) { vec![Change::Reset] } else { Vec::new() };
                    self.answers.push(Pending { shape, denial: None, changes });
                }
                return header.pass();
            }
            Reading::Unreadable(what) => judge(Inspect::Unreadable { what }),
            Reading::ChangeUser => {
                let Some(packet) = frame::whole(rest, header.size()) else {
                    if header.length > super::MAX_HANDSHAKE {
                        return Step::Close("a COM_CHANGE_USER over 64 KiB".to_string());
                    }
                    return Step::Incomplete;
                };
                let session = new_session(packet.get(5..).unwrap_or_default(), self.negotiated);
                let verdict = judge(Inspect::Unreadable { what: "COM_CHANGE_USER (a change of identity)" });
                return self.carry(COM_CHANGE_USER, verdict, vec![session], header, out);
            }
            Reading::Sql | Reading::Statement => {
                // The payload's first byte is the command.
                let sql_size = u64::from(header.length).saturating_sub(1);
                if header.continued() || sql_size > self.max_message {
                    judge(Inspect::Oversize { size: usize::try_from(sql_size).unwrap_or(usize::MAX) })
                } else {
                    let Some(packet) = frame::whole(rest, header.size()) else { return Step::Incomplete };
                    return self.judge_whole(
                        command.unwrap_or_default(),
                        packet.get(4..).unwrap_or_default(),
                        header,
                        out,
                        judge,
                    );
                }
            }
        };
        self.carry(command.unwrap_or_default(), verdict, Vec::new(), header, out)
    }

    /// A command held whole: its SQL, or the statement it amounts to, judged in the session's
    /// context.
    fn judge_whole(&mut self, command: u8, payload: &[u8], header: Header, out: &mut Vec<u8>, judge: &mut Judge<'_>) -> Step {
        let body = payload.get(1..).unwrap_or_default();
        let mut own = Vec::new();
        let sql: Cow<'_, [u8]> = match command {
            COM_INIT_DB => {
                own.push(Change::Database(super::text(body)));
                Cow::Owned(quoted("USE ", body))
            }
            COM_CREATE_DB => Cow::Owned(quoted("CREATE DATABASE ", body)),
            COM_DROP_DB => Cow::Owned(quoted("DROP DATABASE ", body)),
            COM_PROCESS_KILL => Cow::Owned(format!("KILL {}", frame::le_u32(body, 0).unwrap_or(0)).into_bytes()),
            COM_SHUTDOWN => Cow::Borrowed(b"SHUTDOWN"),
            COM_REFRESH => Cow::Owned(refresh(body.first().copied().unwrap_or(0)).into_bytes()),
            COM_PROCESS_INFO => Cow::Borrowed(b"SHOW PROCESSLIST"),
            COM_STATISTICS => Cow::Borrowed(b"SHOW GLOBAL STATUS"),
            _ => Cow::Borrowed(body),
        };
        let doubt = self.answers.doubt();
        let verdict = match (self.settings.context(doubt), self.settings.decode(&sql, doubt)) {
            (Ok(context), Ok(text)) => judge(Inspect::Sql { text: &text, context: &context }),
            (Err(what), _) | (_, Err(what)) => judge(Inspect::Unreadable { what }),
        };
        self.carry(command, verdict, own, header, out)
    }

    /// A judged command goes on as sent, or (denied) as `COM_PING`; either way its answer is
    /// pending, and its continuation packets follow it, or are dropped with it.
    fn carry(&mut self, command: u8, verdict: Verdict, own: Vec<Change>, header: Header, out: &mut Vec<u8>) -> Step {
        let forward = match verdict {
            Verdict::Allow { changes } => {
                let mut changes: Vec<Change> = changes.iter().filter_map(Change::of).collect();
                changes.extend(own);
                self.answers.push(Pending { shape: shape(command), denial: None, changes });
                true
            }
            Verdict::Deny { .. } if self.lost => {
                return Step::Close("a denial on a connection whose answers the filter no longer follows".to_string())
            }
            Verdict::Deny { message } => {
                out.extend_from_slice(&[1, 0, 0, 0, COM_PING]);
                self.answers.push(Pending { shape: Shape::Results, denial: Some(message), changes: Vec::new() });
                false
            }
        };
        self.follow_continuation(header, forward);
        Step::Stream { size: header.size(), forward }
    }

    fn follow_continuation(&mut self, header: Header, forward: bool) {
        if header.continued() {
            self.front = Front::Continued { seq: header.seq.wrapping_add(1), forward };
        }
    }
}

/// The session `COM_CHANGE_USER` starts: user, auth response, schema, then (when sent) the
/// collation; unknown where the packet does not say.
fn new_session(body: &[u8], caps: u32) -> Change {
    let schema = frame::cstring(body)
        .and_then(|(_user, rest)| skip_auth_response(rest, caps & !super::handshake::CLIENT_PLUGIN_AUTH_LENENC_CLIENT_DATA))
        .and_then(frame::cstring);
    let database = schema.map(|(db, _)| (!db.is_empty()).then(|| super::text(db)));
    let collation = schema.and_then(|(_, rest)| rest.first().copied());
    Change::NewSession { database, collation }
}

/// `prefix` and a backquoted name.
fn quoted(prefix: &str, name: &[u8]) -> Vec<u8> {
    let mut sql = prefix.as_bytes().to_vec();
    sql.push(b'`');
    for &b in name {
        sql.extend_from_slice(if b == b'`' { b"``" } else { std::slice::from_ref(&b) });
    }
    sql.push(b'`');
    sql
}

/// The statements `COM_REFRESH` amounts to, one per flag.
fn refresh(flags: u8) -> String {
    const FLAGS: [(u8, &str); 8] = [
        (0x01, "FLUSH PRIVILEGES"),
        (0x02, "FLUSH LOGS"),
        (0x04, "FLUSH TABLES"),
        (0x08, "FLUSH HOSTS"),
        (0x10, "FLUSH STATUS"),
        (0x20, "FLUSH THREADS"),
        (0x40, "RESET SLAVE"),
        (0x80, "RESET MASTER"),
    ];
    let statements: Vec<&str> = FLAGS.iter().filter(|(bit, _)| flags & bit != 0).map(|(_, s)| *s).collect();
    if statements.is_empty() {
        return "FLUSH".to_string();
    }
    statements.join("; ")
}
