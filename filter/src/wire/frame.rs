//! Framing shared by the wire protocols: one direction's bytes cut into messages, wherever TCP
//! cut them. A message is held only while its protocol reads it whole; any other streams through
//! on a countdown, so a direction holds at most one incomplete message.
//!
//! A size from the wire is a `u64`: a header's length plus the header's own bytes cannot wrap
//! there, as it does in wasm32's 32-bit `usize`. It becomes a `usize` only through a checked
//! conversion, as a slice of bytes that are at hand.

use super::Next;

/// What a protocol makes of the bytes at the head of a direction, at a message boundary.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Step {
    /// The message is not complete: hold it until more bytes come.
    Incomplete,
    /// The first `n` bytes are done with: what they become is already in the output.
    Consumed(usize),
    /// The message is `size` bytes long, its header included: forward it or drop it, and the
    /// part still to come with it.
    Stream { size: u64, forward: bool },
    /// The connection cannot go on.
    Close(String),
}

/// One direction of a connection.
#[derive(Clone, Debug, Default)]
pub struct Reader {
    /// An incomplete message.
    pending: Vec<u8>,
    /// The rest of a message on its way through.
    streaming: Option<Countdown>,
}

#[derive(Clone, Copy, Debug)]
struct Countdown {
    remaining: u64,
    forward: bool,
}

impl Reader {
    /// Feeds this direction's new bytes: each message that starts goes to `message`, which writes
    /// what it becomes and says how it goes on; the output is what to send on.
    pub fn read(&mut self, data: &[u8], mut message: impl FnMut(&[u8], &mut Vec<u8>) -> Step) -> Next {
        let mut input = std::mem::take(&mut self.pending);
        input.extend_from_slice(data);
        let mut out = Vec::with_capacity(input.len());
        let mut at = 0;
        while let Some(rest) = input.get(at..).filter(|rest| !rest.is_empty()) {
            let used = match self.streaming.take() {
                Some(countdown) => self.pass(rest, countdown, &mut out),
                None => match message(rest, &mut out) {
                    Step::Incomplete => break,
                    Step::Consumed(n) => n.min(rest.len()),
                    Step::Stream { size, forward } => self.pass(rest, Countdown { remaining: size, forward }, &mut out),
                    Step::Close(why) => return Next::Close(why),
                },
            };
            if used == 0 {
                // The same bytes would make the same step again, and the worker would spin.
                return Next::Close("a message of no length".to_string());
            }
            at += used;
        }
        self.pending = input.get(at..).unwrap_or_default().to_vec();
        Next::Forward(out)
    }

    /// The bytes held: an incomplete message.
    pub fn held(&self) -> usize {
        self.pending.len()
    }

    /// Forwards or drops what is here of a message; returns the bytes it took.
    fn pass(&mut self, rest: &[u8], countdown: Countdown, out: &mut Vec<u8>) -> usize {
        let n = usize::try_from(countdown.remaining).map_or(rest.len(), |remaining| remaining.min(rest.len()));
        let (here, _) = rest.split_at(n);
        if countdown.forward {
            out.extend_from_slice(here);
        }
        let remaining = countdown.remaining.saturating_sub(wide(n));
        self.streaming = (remaining > 0).then_some(Countdown { remaining, ..countdown });
        n
    }
}

/// A count of bytes at hand as a wire size.
pub fn wide(n: usize) -> u64 {
    u64::try_from(n).unwrap_or(u64::MAX)
}

/// The whole message of `size` bytes at the head of `bytes`, once it is all here.
pub fn whole(bytes: &[u8], size: u64) -> Option<&[u8]> {
    bytes.get(..usize::try_from(size).ok()?)
}

/// The first `n` bytes and the rest, if that many are here.
pub fn split(bytes: &[u8], n: u64) -> Option<(&[u8], &[u8])> {
    bytes.split_at_checked(usize::try_from(n).ok()?)
}

/// A big-endian `u32` at `at` (PostgreSQL).
pub fn be_u32(bytes: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_be_bytes(*bytes.get(at..)?.first_chunk()?))
}

/// A little-endian `u32` at `at` (MySQL).
pub fn le_u32(bytes: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_le_bytes(*bytes.get(at..)?.first_chunk()?))
}

/// A little-endian 3-byte integer at `at` (MySQL's packet length).
pub fn le_u24(bytes: &[u8], at: usize) -> Option<u32> {
    let [low, middle, high] = *bytes.get(at..)?.first_chunk()?;
    Some(u32::from_le_bytes([low, middle, high, 0]))
}

/// A NUL-terminated string and the bytes after its NUL.
pub fn cstring(bytes: &[u8]) -> Option<(&[u8], &[u8])> {
    let end = bytes.iter().position(|b| *b == 0)?;
    let (text, rest) = bytes.split_at(end);
    Some((text, rest.get(1..)?))
}

/// A MySQL length-encoded integer and the bytes after it: one byte up to 0xfa, or 0xfc, 0xfd or
/// 0xfe and then 2, 3 or 8 little-endian bytes. 0xfb (NULL) and 0xff (an ERR packet's first
/// byte) are no integers.
pub fn lenenc_int(bytes: &[u8]) -> Option<(u64, &[u8])> {
    let (&first, rest) = bytes.split_first()?;
    let width = match first {
        0..=0xfa => return Some((u64::from(first), rest)),
        0xfc => 2,
        0xfd => 3,
        0xfe => 8,
        0xfb | 0xff => return None,
    };
    let (raw, rest) = rest.split_at_checked(width)?;
    let value = raw.iter().rev().fold(0u64, |n, &b| n << 8 | u64::from(b));
    Some((value, rest))
}

/// MySQL bytes prefixed with their length-encoded count, and the bytes after them.
pub fn lenenc_bytes(bytes: &[u8]) -> Option<(&[u8], &[u8])> {
    let (n, rest) = lenenc_int(bytes)?;
    split(rest, n)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A protocol of one-byte headers giving the whole message's size; sizes over 8 stream.
    fn sized(rest: &[u8], out: &mut Vec<u8>) -> Step {
        let size = u64::from(rest[0]);
        match whole(rest, size) {
            Some(message) if size <= 8 => {
                out.extend_from_slice(message);
                Step::Consumed(message.len())
            }
            _ if size <= 8 => Step::Incomplete,
            _ => Step::Stream { size, forward: true },
        }
    }

    fn forward(next: Next) -> Vec<u8> {
        match next {
            Next::Forward(bytes) => bytes,
            Next::Close(why) => panic!("closed: {why}"),
        }
    }

    #[test]
    fn messages_are_cut_and_streamed_wherever_the_bytes_are_cut() {
        let stream = [&[3, 1, 2][..], &[20; 20], &[1], &[8; 8]].concat();
        for cut in 1..stream.len() {
            let mut reader = Reader::default();
            let mut out = forward(reader.read(&stream[..cut], sized));
            assert!(reader.held() < 8);
            out.extend(forward(reader.read(&stream[cut..], sized)));
            assert_eq!(out, stream, "cut at {cut}");
            assert_eq!(reader.held(), 0);
        }
    }

    #[test]
    fn a_size_beyond_any_usize_streams_on_and_on() {
        let mut reader = Reader::default();
        let mut out = forward(reader.read(&[9], |_, _| Step::Stream { size: u64::MAX, forward: false }));
        for _ in 0..4 {
            out.extend(forward(reader.read(&[0; 4096], |_, _| panic!("a message inside another"))));
            assert_eq!(reader.held(), 0);
        }
        assert!(out.is_empty());
    }

    #[test]
    fn a_step_that_takes_nothing_closes_instead_of_spinning() {
        for step in [Step::Consumed(0), Step::Stream { size: 0, forward: true }] {
            let mut reader = Reader::default();
            assert!(matches!(reader.read(b"x", |_, _| step.clone()), Next::Close(_)));
        }
    }

    #[test]
    fn integers_and_strings_are_read_only_from_bytes_at_hand() {
        assert_eq!(be_u32(&[0, 0, 1, 2], 0), Some(258));
        assert_eq!(le_u32(&[2, 1, 0, 0, 9], 0), Some(258));
        assert_eq!(le_u24(&[0xff, 0xff, 0xff, 7], 0), Some(0xff_ffff));
        assert_eq!(be_u32(&[0, 0, 1], 0), None);
        assert_eq!(le_u24(&[1, 2, 3], usize::MAX), None);
        assert_eq!(cstring(b"ab\0cd"), Some((&b"ab"[..], &b"cd"[..])));
        assert_eq!(cstring(b"ab"), None);
        assert_eq!(split(b"abc", u64::MAX), None);
        assert_eq!(split(b"abc", 3), Some((&b"abc"[..], &b""[..])));
    }

    #[test]
    fn length_encoded_integers() {
        assert_eq!(lenenc_int(&[0xfa, 1]), Some((0xfa, &[1][..])));
        assert_eq!(lenenc_int(&[0xfc, 1, 2]), Some((0x0201, &[][..])));
        assert_eq!(lenenc_int(&[0xfd, 1, 2, 3]), Some((0x03_0201, &[][..])));
        assert_eq!(lenenc_int(&[0xfe, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff]), Some((u64::MAX, &[][..])));
        assert_eq!(lenenc_int(&[0xfe, 1, 2, 3, 4, 5, 6, 7]), None, "truncated");
        assert_eq!(lenenc_int(&[0xfb]), None, "NULL");
        assert_eq!(lenenc_int(&[0xff, 0, 0]), None, "an ERR marker");
        assert_eq!(lenenc_int(&[]), None);
        assert_eq!(lenenc_bytes(&[2, b'a', b'b', b'c']), Some((&b"ab"[..], &b"c"[..])));
        assert_eq!(lenenc_bytes(&[0xfe, 1, 0, 0, 0, 1, 0, 0, 0, b'x']), None, "2^32 + 1 is not 1");
        assert_eq!(lenenc_bytes(&[0xfe, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, b'x']), None);
    }
}
