//! Database wire protocols as a network filter sees them: a byte stream each way, cut at any
//! place by TCP.
//!
//! A session reads the client's messages, hands each one that carries SQL to a judge, and
//! forwards the stream with denied messages rewritten into harmless ones; on the way back it
//! turns the server's answer to a rewritten message into the error the client gets. Nothing is
//! ever written to a side out of turn (a proxy-wasm network filter cannot), and every buffer is
//! bounded: messages the filter does not read stream through without being held.
//!
//! Both protocols cut their bytes into messages with `frame`, where a size read from the wire
//! is a `u64`: no length a client or server sends can wrap, on wasm32's 32-bit `usize` either.

mod frame;
pub mod mysql;
pub mod postgres;

use crate::sql::{Lexing, SearchPath, SessionChange};

/// What the session has established, as the server confirmed it, that bears on a statement:
/// where it runs, how its text reads, and where its unqualified names resolve.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Context {
    /// The current database: Postgres's startup `database`; MySQL's schema (the handshake's,
    /// then `USE` / `COM_INIT_DB`). `None` when the session has none.
    pub database: Option<String>,
    /// Every reading the text may have: one when the session knows its settings, several when
    /// it cannot tell (each is judged), none for the dialect's default.
    pub lexings: Vec<Lexing>,
    /// The search path, once the session changed it from the server's default (the route's
    /// `sql.search_path`); MySQL's is its current database.
    pub search_path: Option<SearchPath>,
}

/// What the judge is asked about.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Inspect<'a> {
    /// The session's parameters (user, database, application_name, ...).
    Startup { params: &'a [(String, String)] },
    /// SQL text to run (a simple query, or a statement being prepared), decoded to UTF-8 from
    /// the session's encoding, in the session's `context`.
    Sql { text: &'a str, context: &'a Context },
    /// A message that runs something the filter cannot read (a function call by OID, SQL that
    /// is not UTF-8).
    Unreadable { what: &'static str },
    /// A SQL-carrying message larger than the session's limit.
    Oversize { size: usize },
}

/// The judge's answer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// Forward it; once the server has run it, `changes` are what it did to the session.
    Allow { changes: Vec<SessionChange> },
    /// The client gets an error with this message; its session goes on.
    Deny { message: String },
}

impl Verdict {
    pub const ALLOW: Verdict = Verdict::Allow { changes: Vec::new() };
}

/// What the filter must do with the connection after feeding bytes to a session.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Next {
    /// Forward these bytes (possibly none) and go on.
    Forward(Vec<u8>),
    /// The connection cannot be inspected (TLS was negotiated, an unsupported protocol
    /// version, bytes that are not the protocol): close it.
    Close(String),
}

/// Asked about each message that runs something.
pub type Judge<'a> = dyn FnMut(Inspect<'_>) -> Verdict + 'a;

/// One database connection in one wire protocol.
pub trait Session {
    /// Bytes from the client: what to forward to the server.
    fn client_data(&mut self, data: &[u8], judge: &mut Judge<'_>) -> Next;
    /// Bytes from the server: what to forward to the client.
    fn server_data(&mut self, data: &[u8]) -> Next;
}
