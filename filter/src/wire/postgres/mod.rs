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

mod client;
mod messages;
mod paths;
mod server;
mod settings;
#[cfg(test)]
mod tests;

use std::collections::VecDeque;

use self::paths::SearchPaths;
use self::settings::{ClientEncoding, Conforming};
use super::frame::{self, Reader, Step};
use super::{Context, Judge, Next};

pub use self::messages::error_response;

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
