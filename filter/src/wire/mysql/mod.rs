//! The MySQL / MariaDB client/server protocol through a network filter.
//!
//! Packets are a 3-byte length, a sequence id, and a payload; a payload of 16 MiB - 1 bytes is
//! continued by the next packet. `handshake` keeps the session readable (no TLS, compression,
//! query attributes or MariaDB extensions offered) and reads the client's facts; `commands`
//! judges every client packet that runs something, from the first one, sent before
//! authentication completes or not; `answers` matches the server's answers to the commands
//! they answer, so a denied command's answer (its `COM_PING`'s OK) becomes our ERR however the
//! client pipelines; `settings` follows what the server confirms of the session (schema,
//! character set, quoting and escapes), which the next statement is judged in.
//!
//! A client packet must carry the sequence id the protocol expects: 0 for a command, the next
//! one for a continuation, an authentication reply the server asked for, or LOAD DATA LOCAL
//! file data; any other closes the connection, so no packet reaches the server unread.

mod answers;
mod commands;
mod handshake;
mod settings;
#[cfg(test)]
mod tests;

use answers::{Answers, Done, Seen};
use settings::Settings;

use super::frame::{self, Reader, Step};
use super::{Judge, Next};

/// A packet's length and sequence id.
const HEADER: u64 = 4;
const MAX_PAYLOAD: u32 = 0xff_ffff;
/// The largest greeting, handshake response or OK packet held before it is complete.
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
    /// The server refused the authentication; it closes the connection.
    Refused,
}

/// What the client's next packet must be.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Front {
    /// A command (sequence id 0), or an authentication reply the server asked for.
    Commands,
    /// The rest of a payload of 16 MiB or more, from sequence id `seq`: forwarded or dropped
    /// with its first packet.
    Continued { seq: u8, forward: bool },
    /// LOAD DATA LOCAL: the file, in packets from sequence id `seq` (wrapping past 255) up to
    /// an empty one that continues nothing.
    LocalFile { seq: u8, continued: bool },
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

    fn pass(self) -> Step {
        Step::Stream { size: self.size(), forward: true }
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
    front: Front,
    /// The sequence id of an authentication reply the server asked for.
    invited: Option<u8>,
    /// The capabilities the greeting offers, once cleared of those the filter cannot follow.
    offered: u32,
    /// What the client asked for of that.
    negotiated: u32,
    answers: Answers,
    /// The server's answers stopped being understood: no denial can be answered any more.
    lost: bool,
    user: Option<String>,
    schema: Option<String>,
    attributes: Vec<(String, String)>,
    settings: Settings,
}

impl Session {
    pub fn new(max_message: usize) -> Session {
        let state = State {
            max_message: frame::wide(max_message),
            phase: Phase::Greeting,
            front: Front::Commands,
            invited: None,
            offered: 0,
            negotiated: 0,
            answers: Answers::default(),
            lost: false,
            user: None,
            schema: None,
            attributes: Vec::new(),
            settings: Settings::default(),
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
        match self.phase {
            Phase::Greeting => Step::Close("the client spoke before the server's greeting".to_string()),
            Phase::Handshake => self.handshake_response(rest, header, judge),
            Phase::Refused => Step::Close("the server refused the authentication".to_string()),
            Phase::Auth | Phase::Command => self.client_message(rest, header, out, judge),
        }
    }

    fn server_packet(&mut self, rest: &[u8], out: &mut Vec<u8>) -> Step {
        let Some(header) = Header::read(rest) else { return Step::Incomplete };
        match self.phase {
            Phase::Greeting => self.greeting(rest, header, out),
            Phase::Handshake | Phase::Auth => self.auth_answer(rest, header),
            Phase::Command | Phase::Refused if self.lost => header.pass(),
            Phase::Command | Phase::Refused => self.command_answer(rest, header, out),
        }
    }

    /// A packet of a command's answer: forwarded, or (a denied command's OK) our ERR in its
    /// place; a complete answer confirms what its command changed.
    fn command_answer(&mut self, rest: &[u8], header: Header, out: &mut Vec<u8>) -> Step {
        let Some(lead) = header.lead(rest) else { return Step::Incomplete };
        let payload = if self.answers.reads_whole(header, lead) && header.length <= MAX_HANDSHAKE {
            let Some(packet) = frame::whole(rest, header.size()) else { return Step::Incomplete };
            packet.get(4..).unwrap_or_default()
        } else {
            // The first byte is all the answer reads of it (an empty packet has none: the byte
            // after it is the next packet's, there or not yet depending on the cut).
            lead.as_slice()
        };
        let (seen, done) = self.answers.packet(header, payload);
        if let Some(done) = done {
            self.confirm(done);
        }
        match seen {
            Seen::Forward => header.pass(),
            Seen::Denied(message) => {
                out.extend_from_slice(&err_packet(header.seq, DENIED_CODE, DENIED_SQLSTATE, &message));
                Step::Stream { size: header.size(), forward: false }
            }
            Seen::LocalFile(seq) => match self.front {
                Front::Commands => {
                    self.front = Front::LocalFile { seq, continued: false };
                    header.pass()
                }
                _ => Step::Close("a LOCAL INFILE request while the client was sending a command".to_string()),
            },
            Seen::AuthData(seq) => {
                self.invited = Some(seq);
                header.pass()
            }
            Seen::Lost => {
                self.lose();
                header.pass()
            }
        }
    }

    /// A complete answer: its command's changes hold if it succeeded, none if it failed
    /// outright, and are in doubt if a multi-statement failed part way; then what the server
    /// reported itself.
    fn confirm(&mut self, done: Done) {
        for change in &done.command.changes {
            match (done.completed, done.failed) {
                (_, false) => self.settings.apply(change),
                (false, true) => {}
                (true, true) => self.settings.forget(change),
            }
        }
        done.tracked.iter().for_each(|t| self.settings.track(t));
        if let Some(status) = done.status {
            self.settings.status(status);
        }
    }

    /// The server's packets are no longer understood: what the session changed is unknown.
    fn lose(&mut self) {
        self.lost = true;
        self.settings.forget_all();
    }
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
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
