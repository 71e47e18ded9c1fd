//! The server's side: the answer to an encryption request, then messages; a denial's
//! ErrorResponse becomes ours, ParameterStatus and ReadyForQuery settle the session's settings.

use super::messages::error_field;
use super::settings::{self, ClientEncoding, Conforming};
use super::{Back, Denial, Header, Marker, State, DENIED_TEXT, MAX_HELD, SYNTAX_ERROR};
use crate::wire::frame::{self, Step};

impl State {
    pub(super) fn server_message(&mut self, rest: &[u8], out: &mut Vec<u8>) -> Step {
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
