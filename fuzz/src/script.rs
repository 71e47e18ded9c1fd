//! A wire conversation as fuzz input, and the checks every conversation must pass.
//!
//! Input: one byte choosing the session's message limit, then events, each a control byte
//! (bit 0: from the server; the other bits: the piece size the event is cut into, minus one), a
//! little-endian `u16` length and that many bytes (fewer at the end of the input).
//!
//! A conversation is played three times: each event in one call, cut into the fuzzer's piece
//! size, and one byte per call. Every call must keep the session's buffers within its bound,
//! and the three plays must forward the same bytes each way, close at the same event and ask
//! the judge the same questions: where TCP cuts a stream never changes a verdict. Where the
//! protocol is simple enough to read back (Postgres), the client bytes forwarded must hold no
//! SQL the judge denied, as the server reads them.

use access_guardrails::wire::{mysql, postgres, Inspect, Next, Session, Verdict};

/// The session limits a script can choose from: tiny (oversize paths), small, and above the
/// MySQL handshake limit.
pub const LIMITS: [usize; 3] = [64, 1024, 100_000];

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Side {
    Client,
    Server,
}

#[derive(Clone, Debug)]
pub struct Event<'a> {
    pub from: Side,
    /// Bytes per call when the event is cut into pieces (at least 1).
    pub piece: usize,
    pub bytes: &'a [u8],
}

#[derive(Clone, Debug)]
pub struct Script<'a> {
    pub limit: usize,
    pub events: Vec<Event<'a>>,
}

impl<'a> Script<'a> {
    pub fn parse(data: &'a [u8]) -> Script<'a> {
        let Some((&choice, mut rest)) = data.split_first() else { return Script { limit: LIMITS[0], events: Vec::new() } };
        let limit = LIMITS[usize::from(choice) % LIMITS.len()];
        let mut events = Vec::new();
        while let [control, low, high, tail @ ..] = rest {
            let length = usize::from(u16::from_le_bytes([*low, *high])).min(tail.len());
            let (bytes, after) = tail.split_at(length);
            let from = if control & 1 == 0 { Side::Client } else { Side::Server };
            events.push(Event { from, piece: usize::from(control >> 1) + 1, bytes });
            rest = after;
        }
        Script { limit, events }
    }
}

/// Writes a script in the input format: `limit_choice` indexes `LIMITS`; pieces above 128
/// are cut to 128.
pub fn encode(limit_choice: u8, events: &[(Side, usize, &[u8])]) -> Vec<u8> {
    let mut out = vec![limit_choice];
    for (from, piece, bytes) in events {
        for chunk in bytes.chunks(usize::from(u16::MAX)) {
            let size = u8::try_from(piece.clamp(&1, &128) - 1).unwrap_or(127);
            out.push(size << 1 | u8::from(*from == Side::Server));
            out.extend_from_slice(&u16::try_from(chunk.len()).unwrap_or(u16::MAX).to_le_bytes());
            out.extend_from_slice(chunk);
        }
    }
    out
}

/// A wire session under test.
pub trait Wire: Session {
    fn new(limit: usize) -> Self;
    /// Bytes held back (client side, server side).
    fn held(&self) -> (usize, usize);
    /// The most each side may ever hold with this limit.
    fn bound(limit: usize) -> (usize, usize);
    /// SQL the server would run from these forwarded client bytes that the judge denies.
    fn unjudged(forwarded: &[u8]) -> Option<String>;
}

/// The server's own limit on a PostgreSQL startup packet.
const POSTGRES_MAX_STARTUP: usize = 10_000;
/// A PostgreSQL typed message's kind byte and length field.
const POSTGRES_HEADER: usize = 5;
/// The largest server message the session reads whole (an ErrorResponse it may replace).
const POSTGRES_MAX_HELD: usize = 64 * 1024;
/// The largest MySQL greeting or handshake response held before it is complete.
const MYSQL_MAX_HANDSHAKE: usize = 64 * 1024;
/// A MySQL packet's length and sequence id.
const MYSQL_HEADER: usize = 4;

/// The client side holds at most a startup packet or a judged message with its header; the
/// server side no more than a header.
impl Wire for postgres::Session {
    fn new(limit: usize) -> Self {
        postgres::Session::new(limit)
    }
    fn held(&self) -> (usize, usize) {
        postgres::Session::held(self)
    }
    fn bound(limit: usize) -> (usize, usize) {
        (POSTGRES_MAX_STARTUP.max(limit + POSTGRES_HEADER), POSTGRES_MAX_HELD + POSTGRES_HEADER)
    }
    fn unjudged(forwarded: &[u8]) -> Option<String> {
        postgres_unjudged(forwarded)
    }
}

/// Reads the forwarded stream as the server does: startup packets (an encryption request is
/// followed by another), then typed messages; a `Query`'s or `Parse`'s text ends at its first
/// NUL. A `FunctionCall` is never allowed by the judge. Stops where the stream is not the
/// protocol (the server would close) or at a cancel request.
fn postgres_unjudged(mut rest: &[u8]) -> Option<String> {
    const ENCRYPTION_REQUESTS: [u32; 2] = [80_877_103, 80_877_104];
    loop {
        let (Some(length), Some(code)) = (be_u32(rest, 0), be_u32(rest, 4)) else { return None };
        rest = rest.get(usize::try_from(length).ok()?.max(8)..)?;
        if !ENCRYPTION_REQUESTS.contains(&code) {
            break;
        }
    }
    while let (Some(&kind), Some(length)) = (rest.first(), be_u32(rest, 1)) {
        let end = usize::try_from(length).ok()?.checked_add(1)?;
        let body = rest.get(5..end)?;
        let text = match kind {
            b'Q' => body,
            b'P' => body.get(body.iter().position(|&b| b == 0)? + 1..)?,
            b'F' => return Some("a FunctionCall".into()),
            _ => &[],
        };
        let text = &text[..text.iter().position(|&b| b == 0).unwrap_or(text.len())];
        if text.to_ascii_uppercase().windows(4).any(|w| w == b"DROP") {
            return Some(String::from_utf8_lossy(text).into_owned());
        }
        rest = &rest[end..];
    }
    None
}

fn be_u32(bytes: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_be_bytes(bytes.get(at..at.checked_add(4)?)?.try_into().ok()?))
}

/// Either side holds at most a handshake packet or a judged command with its header.
impl Wire for mysql::Session {
    fn new(limit: usize) -> Self {
        mysql::Session::new(limit)
    }
    fn held(&self) -> (usize, usize) {
        mysql::Session::held(self)
    }
    fn bound(limit: usize) -> (usize, usize) {
        let most = MYSQL_MAX_HANDSHAKE.max(limit) + MYSQL_HEADER;
        (most, most)
    }
    fn unjudged(_: &[u8]) -> Option<String> {
        None
    }
}

/// The judge: denies SQL that mentions DROP (in any case) and what cannot be read.
fn judge(inspect: Inspect<'_>) -> Verdict {
    match inspect {
        Inspect::Sql { text, .. } if text.to_ascii_uppercase().contains("DROP") => Verdict::Deny { message: "no drops".into() },
        Inspect::Sql { .. } | Inspect::Startup { .. } => Verdict::ALLOW,
        Inspect::Unreadable { .. } | Inspect::Oversize { .. } => Verdict::Deny { message: "unreadable".into() },
    }
}

#[derive(Clone, Copy, Debug)]
enum Cut {
    Whole,
    Pieces,
    EveryByte,
}

/// What one event came to.
#[derive(Debug, PartialEq, Eq)]
enum Came {
    Forwarded { bytes: Vec<u8>, asked: Vec<String> },
    Closed,
}

fn play<S: Wire>(script: &Script<'_>, cut: Cut) -> Vec<Came> {
    let mut session = S::new(script.limit);
    let (client_bound, server_bound) = S::bound(script.limit);
    let mut results = Vec::new();
    for event in &script.events {
        let size = match cut {
            Cut::Whole => event.bytes.len().max(1),
            Cut::Pieces => event.piece,
            Cut::EveryByte => 1,
        };
        let mut asked = Vec::new();
        let mut forwarded = Vec::new();
        let mut closed = false;
        for piece in event.bytes.chunks(size) {
            let next = match event.from {
                Side::Client => session.client_data(piece, &mut |inspect| {
                    asked.push(format!("{inspect:?}"));
                    judge(inspect)
                }),
                Side::Server => session.server_data(piece),
            };
            let (client, server) = session.held();
            assert!(client <= client_bound, "{cut:?}: the client side holds {client} bytes, bound {client_bound}");
            assert!(server <= server_bound, "{cut:?}: the server side holds {server} bytes, bound {server_bound}");
            match next {
                Next::Forward(bytes) => forwarded.extend(bytes),
                Next::Close(_) => {
                    closed = true;
                    break;
                }
            }
        }
        if closed {
            results.push(Came::Closed);
            break;
        }
        results.push(Came::Forwarded { bytes: forwarded, asked });
    }
    results
}

/// Plays `data` as a script three ways and checks the invariants.
pub fn check<S: Wire>(data: &[u8]) {
    let script = Script::parse(data);
    let whole = play::<S>(&script, Cut::Whole);
    let to_server: Vec<u8> = script
        .events
        .iter()
        .zip(&whole)
        .filter(|(event, _)| event.from == Side::Client)
        .flat_map(|(_, came)| match came {
            Came::Forwarded { bytes, .. } => bytes.as_slice(),
            Came::Closed => &[],
        })
        .copied()
        .collect();
    if let Some(sql) = S::unjudged(&to_server) {
        panic!("the server gets SQL the judge denies: {sql:?}");
    }
    for cut in [Cut::Pieces, Cut::EveryByte] {
        let other = play::<S>(&script, cut);
        assert_eq!(whole.len(), other.len(), "{cut:?}: closed at another event than in one call each");
        for (index, (a, b)) in whole.iter().zip(&other).enumerate() {
            assert_eq!(a, b, "{cut:?}: event {index} came to something else than in one call");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Forwards each call's first byte only: its output depends on where the stream is cut.
    struct FirstBytes;

    impl Session for FirstBytes {
        fn client_data(&mut self, data: &[u8], _: &mut access_guardrails::wire::Judge<'_>) -> Next {
            Next::Forward(data.iter().take(1).copied().collect())
        }
        fn server_data(&mut self, _: &[u8]) -> Next {
            Next::Forward(Vec::new())
        }
    }

    impl Wire for FirstBytes {
        fn new(_: usize) -> Self {
            FirstBytes
        }
        fn held(&self) -> (usize, usize) {
            (0, 0)
        }
        fn bound(_: usize) -> (usize, usize) {
            (0, 0)
        }
        fn unjudged(_: &[u8]) -> Option<String> {
            None
        }
    }

    #[test]
    fn a_script_reads_back_what_encode_wrote() {
        let data = encode(2, &[(Side::Client, 3, b"abc"), (Side::Server, 200, b"Z")]);
        let script = Script::parse(&data);
        assert_eq!(script.limit, LIMITS[2]);
        assert_eq!((script.events[0].from, script.events[0].piece, script.events[0].bytes), (Side::Client, 3, &b"abc"[..]));
        assert_eq!((script.events[1].from, script.events[1].piece), (Side::Server, 128));
    }

    #[test]
    fn the_server_s_reading_of_a_forwarded_stream() {
        let message =
            |kind: u8, body: &[u8]| [vec![kind], (body.len() as u32 + 4).to_be_bytes().to_vec(), body.to_vec()].concat();
        let startup = [0, 0, 0, 9, 0, 3, 0, 0, 0].to_vec();
        let ssl = [0, 0, 0, 8, 0x04, 0xd2, 0x16, 0x2f].to_vec();
        let allowed =
            [ssl.clone(), startup.clone(), message(b'P', b"drop\0SELECT 1\0\0\0"), message(b'Q', b"SELECT 1\0DROP")].concat();
        assert_eq!(postgres_unjudged(&allowed), None);
        let denied = [ssl, startup.clone(), message(b'd', b"DROP"), message(b'Q', b"select 1; drop table t\0")].concat();
        assert_eq!(postgres_unjudged(&denied).as_deref(), Some("select 1; drop table t"));
        assert!(postgres_unjudged(&[startup, message(b'F', b"")].concat()).is_some());
    }

    #[test]
    #[should_panic(expected = "came to something else")]
    fn output_that_depends_on_the_cut_is_caught() {
        check::<FirstBytes>(&encode(0, &[(Side::Client, 1, b"SELECT 1")]));
    }

    #[test]
    #[should_panic(expected = "the client side holds 3 bytes, bound 0")]
    fn a_session_over_its_bound_is_caught() {
        // Three bytes of a startup packet's length: held until the fourth.
        let data = encode(1, &[(Side::Client, 1, &[0, 0, 0])]);
        struct Tight(postgres::Session);
        impl Session for Tight {
            fn client_data(&mut self, data: &[u8], judge: &mut access_guardrails::wire::Judge<'_>) -> Next {
                self.0.client_data(data, judge)
            }
            fn server_data(&mut self, data: &[u8]) -> Next {
                self.0.server_data(data)
            }
        }
        impl Wire for Tight {
            fn new(limit: usize) -> Self {
                Tight(postgres::Session::new(limit))
            }
            fn held(&self) -> (usize, usize) {
                self.0.held()
            }
            fn bound(_: usize) -> (usize, usize) {
                (0, 0)
            }
            fn unjudged(_: &[u8]) -> Option<String> {
                None
            }
        }
        check::<Tight>(&data);
    }
}
