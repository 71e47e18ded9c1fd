//! The connection phase: the server's greeting, held whole to clear the capabilities the filter
//! cannot follow (TLS, compression, query attributes, optional result set metadata, MariaDB's
//! extended capabilities such as progress reports and cached metadata); the client's handshake
//! response, whose facts (user, schema, attributes) are judged as the startup and which is
//! refused if it asks for what was not offered; and the authentication exchange, where the
//! client may only answer what the server asks, up to the server's OK or ERR.

use super::answers::ok_status;
use super::{frame, text, Header, Phase, State, Step, MAX_HANDSHAKE};
use crate::wire::{Inspect, Judge, Verdict};

const CLIENT_MYSQL: u32 = 0x0000_0001;
pub(super) const CLIENT_CONNECT_WITH_DB: u32 = 0x0000_0008;
pub(super) const CLIENT_COMPRESS: u32 = 0x0000_0020;
pub(super) const CLIENT_PROTOCOL_41: u32 = 0x0000_0200;
pub(super) const CLIENT_SSL: u32 = 0x0000_0800;
pub(super) const CLIENT_SECURE_CONNECTION: u32 = 0x0000_8000;
pub(super) const CLIENT_PLUGIN_AUTH: u32 = 0x0008_0000;
pub(super) const CLIENT_CONNECT_ATTRS: u32 = 0x0010_0000;
pub(super) const CLIENT_PLUGIN_AUTH_LENENC_CLIENT_DATA: u32 = 0x0020_0000;
pub(super) const CLIENT_SESSION_TRACK: u32 = 0x0080_0000;
pub(super) const CLIENT_DEPRECATE_EOF: u32 = 0x0100_0000;
const CLIENT_OPTIONAL_RESULTSET_METADATA: u32 = 0x0200_0000;
const CLIENT_ZSTD_COMPRESSION_ALGORITHM: u32 = 0x0400_0000;
pub(super) const CLIENT_QUERY_ATTRIBUTES: u32 = 0x0800_0000;
/// What the greeting never offers: each changes the bytes the filter reads.
pub(super) const UNFOLLOWED: u32 = CLIENT_SSL
    | CLIENT_COMPRESS
    | CLIENT_ZSTD_COMPRESSION_ALGORITHM
    | CLIENT_QUERY_ATTRIBUTES
    | CLIENT_OPTIONAL_RESULTSET_METADATA;

impl State {
    /// The server's greeting, held whole (it is small) to clear the capabilities the filter
    /// cannot follow.
    pub(super) fn greeting(&mut self, rest: &[u8], header: Header, out: &mut Vec<u8>) -> Step {
        let Some(packet) = frame::whole(rest, header.size()) else {
            if header.length > MAX_HANDSHAKE {
                return Step::Close("a server greeting over 64 KiB".to_string());
            }
            return Step::Incomplete;
        };
        match packet.get(4) {
            // The server refused the connection: its ERR goes to the client.
            Some(0xff) => return header.pass(),
            Some(10) => {}
            _ => return Step::Close("not a MySQL protocol 10 greeting".to_string()),
        }
        let mut packet = packet.to_vec();
        match clear_capabilities(packet.get_mut(4..).unwrap_or_default()) {
            Ok((offered, status)) => {
                self.offered = offered;
                self.settings.status(status);
            }
            Err(why) => return Step::Close(why.to_string()),
        }
        out.extend_from_slice(&packet);
        self.phase = Phase::Handshake;
        Step::Consumed(packet.len())
    }

    /// The client's handshake response, held whole: its facts are judged as the startup.
    pub(super) fn handshake_response(&mut self, rest: &[u8], header: Header, judge: &mut Judge<'_>) -> Step {
        let Some(packet) = frame::whole(rest, header.size()) else {
            if header.length > MAX_HANDSHAKE {
                return Step::Close("a handshake response over 64 KiB".to_string());
            }
            return Step::Incomplete;
        };
        let payload = packet.get(4..).unwrap_or_default();
        let caps = frame::le_u32(payload, 0).unwrap_or(0);
        if caps & CLIENT_SSL != 0 {
            return Step::Close(
                "the client asked for TLS, which the filter cannot inspect: connect without it \
                 through Envoy (mTLS in the mesh encrypts the hop)"
                    .to_string(),
            );
        }
        if let Err(why) = refused_capabilities(payload, caps) {
            return Step::Close(why.to_string());
        }
        if let Err(why) = self.read_handshake(payload, caps) {
            return Step::Close(why.to_string());
        }
        self.negotiated = caps & self.offered;
        self.answers.deprecate_eof = self.negotiated & CLIENT_DEPRECATE_EOF != 0;
        self.answers.session_track = self.negotiated & CLIENT_SESSION_TRACK != 0;
        let params = self.startup().unwrap_or_default();
        if let Verdict::Deny { message } = judge(Inspect::Startup { params: &params }) {
            return Step::Close(message);
        }
        self.phase = Phase::Auth;
        header.pass()
    }

    /// During authentication: the server's OK or ERR ends it; anything else asks the client
    /// for its next packet, which only a client that has sent no command yet may answer.
    pub(super) fn auth_answer(&mut self, rest: &[u8], header: Header) -> Step {
        if self.phase == Phase::Handshake {
            return Step::Close("the server spoke before the client's handshake response".to_string());
        }
        let Some(lead) = header.lead(rest) else { return Step::Incomplete };
        match lead {
            Some(0x00) => {
                let Some(packet) = frame::whole(rest, header.size()) else {
                    if header.length > MAX_HANDSHAKE {
                        return Step::Close("an authentication OK over 64 KiB".to_string());
                    }
                    return Step::Incomplete;
                };
                let Some((status, tracked)) = ok_status(packet.get(4..).unwrap_or_default(), self.answers.session_track) else {
                    return Step::Close("a malformed authentication OK".to_string());
                };
                self.settings.status(status);
                tracked.iter().for_each(|t| self.settings.track(t));
                self.phase = Phase::Command;
                self.invited = None;
            }
            Some(0xff) => self.phase = Phase::Refused,
            _ if !self.answers.is_empty() => {
                return Step::Close("the server asked for authentication data after the client sent commands".to_string())
            }
            _ => self.invited = Some(header.seq.wrapping_add(1)),
        }
        header.pass()
    }

    fn read_handshake(&mut self, payload: &[u8], caps: u32) -> Result<(), &'static str> {
        let short = "a short handshake response";
        let collation = *payload.get(8).ok_or(short)?;
        let rest = payload.get(32..).ok_or(short)?;
        let (user, rest) = frame::cstring(rest).ok_or(short)?;
        self.user = Some(text(user));
        let mut rest = skip_auth_response(rest, caps).ok_or(short)?;
        if caps & CLIENT_CONNECT_WITH_DB != 0 {
            let (schema, after) = frame::cstring(rest).ok_or(short)?;
            if !schema.is_empty() {
                self.schema = Some(text(schema));
            }
            rest = after;
        }
        if caps & CLIENT_PLUGIN_AUTH != 0 {
            rest = frame::cstring(rest).map_or(&[][..], |(_, after)| after);
        }
        // A client may announce attributes and send none.
        if caps & CLIENT_CONNECT_ATTRS != 0 && !rest.is_empty() {
            self.attributes = connection_attributes(rest).ok_or(short)?;
        }
        self.settings.connected(collation, self.schema.clone());
        Ok(())
    }
}

/// A handshake response that asks for what the greeting did not offer: compression would hide
/// every later packet, MariaDB's extensions change the answers' shapes.
fn refused_capabilities(payload: &[u8], caps: u32) -> Result<(), &'static str> {
    if caps & CLIENT_PROTOCOL_41 == 0 {
        return Err("a pre-4.1 MySQL client");
    }
    if caps & (CLIENT_COMPRESS | CLIENT_ZSTD_COMPRESSION_ALGORITHM) != 0 {
        return Err("the client asked for compression, which the server was not offered to it: connect without it");
    }
    if caps & UNFOLLOWED != 0 {
        return Err("the client asked for a capability the greeting did not offer");
    }
    // MariaDB reads extended capabilities at the filler's end from clients without CLIENT_MYSQL.
    let extended = frame::le_u32(payload, 28).unwrap_or(0);
    if caps & CLIENT_MYSQL == 0 && extended != 0 {
        return Err("the client asked for MariaDB extended capabilities the greeting did not offer");
    }
    Ok(())
}

/// The bytes after the handshake's auth response: length-encoded, one-byte length, or
/// NUL-terminated.
pub(super) fn skip_auth_response(rest: &[u8], caps: u32) -> Option<&[u8]> {
    if caps & CLIENT_PLUGIN_AUTH_LENENC_CLIENT_DATA != 0 {
        Some(frame::lenenc_bytes(rest)?.1)
    } else if caps & CLIENT_SECURE_CONNECTION != 0 {
        let (&n, rest) = rest.split_first()?;
        Some(frame::split(rest, u64::from(n))?.1)
    } else {
        Some(frame::cstring(rest)?.1)
    }
}

/// The connection attributes: their length-encoded total, then length-encoded keys and values.
fn connection_attributes(rest: &[u8]) -> Option<Vec<(String, String)>> {
    let (mut attrs, _) = frame::lenenc_bytes(rest)?;
    let mut pairs = Vec::new();
    while !attrs.is_empty() {
        let (key, after) = frame::lenenc_bytes(attrs)?;
        let (value, after) = frame::lenenc_bytes(after)?;
        pairs.push((text(key), text(value)));
        attrs = after;
    }
    Some(pairs)
}

/// Clears the capabilities the filter cannot follow in a protocol 10 greeting's payload, and
/// MariaDB's extended capabilities; returns what it still offers and the server's status.
fn clear_capabilities(payload: &mut [u8]) -> Result<(u32, u16), &'static str> {
    let version = payload.get(1..).unwrap_or_default();
    let version_end = version.iter().position(|b| *b == 0).ok_or("a greeting without its server version")? + 1;
    // version NUL, connection id (4), auth data part 1 (8), filler (1): then capabilities.
    let low_at = version_end + 1 + 4 + 8 + 1;
    let low = clear_bits(payload, low_at, (UNFOLLOWED & 0xffff) as u16).ok_or("a short server greeting")?;
    // charset (1), status (2): then the upper capability bytes, when present.
    let status = payload.get(low_at + 3..low_at + 5).map_or(0, |b| u16::from_le_bytes([b[0], b[1]]));
    let high = clear_bits(payload, low_at + 5, (UNFOLLOWED >> 16) as u16).unwrap_or(0);
    // auth data length (1), 6 reserved bytes: then MariaDB's extended capabilities.
    if let Some(extended) = payload.get_mut(low_at + 14..low_at + 18) {
        extended.fill(0);
    }
    Ok((u32::from(low) | u32::from(high) << 16, status))
}

/// Clears `bits` in the little-endian `u16` at `at`, returning what is left; `None` if the
/// payload ends before it.
fn clear_bits(payload: &mut [u8], at: usize, bits: u16) -> Option<u16> {
    let field = payload.get_mut(at..).and_then(|rest| rest.first_chunk_mut::<2>())?;
    let left = u16::from_le_bytes(*field) & !bits;
    *field = left.to_le_bytes();
    Some(left)
}
