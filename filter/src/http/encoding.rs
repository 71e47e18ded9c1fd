//! `content-encoding` decoding, bounded: a body is read in the form the upstream will read it.
//!
//! gzip (with `x-gzip`), deflate and identity are decoded, in the reverse order of the header's
//! list, each step stopping at `limit` output bytes, so a compression bomb costs at most `limit`
//! bytes and ends as oversize. HTTP's `deflate` is zlib-wrapped (RFC 9110 §8.4.1.2), but servers
//! commonly accept raw DEFLATE too, so both are read. Anything else is [`Decoded::Unsupported`].
//! [`StreamDecoder`] does the same as a body arrives, each chunk's output bounded.

use flate2::read::{DeflateDecoder, MultiGzDecoder, ZlibDecoder};
use flate2::write;
use std::borrow::Cow;
use std::cell::RefCell;
use std::io::{self, Read, Write};
use std::rc::Rc;

/// More codings than this in one header is not a real client.
const MAX_CODINGS: usize = 4;

#[derive(Debug, PartialEq, Eq)]
pub enum Decoded<'a> {
    Body(Cow<'a, [u8]>),
    /// The decoded body is larger than the limit.
    TooLarge,
    /// A coding the filter does not read, or more codings than it unwraps.
    Unsupported(String),
    /// The body is not valid for its coding.
    Corrupt(String),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Coding {
    Gzip,
    Deflate,
}

/// The codings named by every `content-encoding` value, in the order they were applied;
/// `identity` is dropped. Fails on a coding the filter cannot decode.
fn codings<'h>(headers: impl Iterator<Item = &'h str>) -> Result<Vec<Coding>, String> {
    let mut out = Vec::new();
    for name in headers.flat_map(|v| v.split(',')).map(str::trim).filter(|n| !n.is_empty()) {
        let coding = match name.to_ascii_lowercase().as_str() {
            "identity" => continue,
            "gzip" | "x-gzip" => Coding::Gzip,
            "deflate" => Coding::Deflate,
            other => return Err(format!("content-encoding {other:?} is not inspected")),
        };
        out.push(coding);
        if out.len() > MAX_CODINGS {
            return Err(format!("more than {MAX_CODINGS} content-encodings"));
        }
    }
    Ok(out)
}

/// Whether the `content-encoding` values name only codings this module reads: `Err` gives the
/// reason the body cannot be read, known before any of it arrives.
pub fn check(headers: impl Iterator<Item = impl AsRef<str>>) -> Result<(), String> {
    let values: Vec<_> = headers.collect();
    codings(values.iter().map(AsRef::as_ref)).map(drop)
}

/// Undoes the `content-encoding` values on `body`, producing at most `limit` bytes.
pub fn decode<'a, 'h>(headers: impl Iterator<Item = &'h str>, body: &'a [u8], limit: usize) -> Decoded<'a> {
    let codings = match codings(headers) {
        Ok(c) => c,
        Err(reason) => return Decoded::Unsupported(reason),
    };
    let mut current: Cow<'a, [u8]> = Cow::Borrowed(body);
    for coding in codings.iter().rev() {
        current = match inflate(*coding, &current, limit) {
            Ok(Some(bytes)) => Cow::Owned(bytes),
            Ok(None) => return Decoded::TooLarge,
            Err(reason) => return Decoded::Corrupt(reason),
        };
    }
    if current.len() > limit {
        return Decoded::TooLarge;
    }
    Decoded::Body(current)
}

/// `Ok(None)` when the output would pass `limit`.
fn inflate(coding: Coding, input: &[u8], limit: usize) -> Result<Option<Vec<u8>>, String> {
    match coding {
        Coding::Gzip => read_bounded(MultiGzDecoder::new(input), limit).map_err(|e| format!("gzip body is corrupt: {e}")),
        Coding::Deflate => match read_bounded(ZlibDecoder::new(input), limit) {
            Ok(out) => Ok(out),
            Err(_) => read_bounded(DeflateDecoder::new(input), limit).map_err(|e| format!("deflate body is corrupt: {e}")),
        },
    }
}

fn read_bounded(reader: impl Read, limit: usize) -> std::io::Result<Option<Vec<u8>>> {
    let mut out = Vec::new();
    let read = reader.take(limit as u64 + 1).read_to_end(&mut out)?;
    Ok((read <= limit).then_some(out))
}

/// The codings of a body undone as it arrives. What one chunk decodes to is bounded, so a
/// compression bomb stops at the bound instead of filling memory.
pub struct StreamDecoder {
    first: Layer,
    sink: Rc<RefCell<Sink>>,
}

struct Sink {
    out: Vec<u8>,
    limit: usize,
    over: bool,
}

/// One decoding step, writing what it decodes to the next.
enum Layer {
    Gzip(Box<write::MultiGzDecoder<Layer>>),
    Zlib(Box<write::ZlibDecoder<Layer>>),
    Raw(Box<write::DeflateDecoder<Layer>>),
    /// `deflate` before its first two bytes tell zlib from raw DEFLATE.
    Sniff(Vec<u8>, Option<Box<Layer>>),
    Sink(Rc<RefCell<Sink>>),
}

impl Layer {
    fn finish(&mut self) -> io::Result<()> {
        match self {
            Layer::Gzip(d) => d.try_finish().and_then(|_| d.get_mut().finish()),
            Layer::Zlib(d) => d.try_finish().and_then(|_| d.get_mut().finish()),
            Layer::Raw(d) => d.try_finish().and_then(|_| d.get_mut().finish()),
            Layer::Sniff(..) => Err(io::Error::new(io::ErrorKind::UnexpectedEof, "deflate body is too short")),
            Layer::Sink(_) => Ok(()),
        }
    }
}

impl Write for Layer {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            Layer::Gzip(d) => d.write(buf),
            Layer::Zlib(d) => d.write(buf),
            Layer::Raw(d) => d.write(buf),
            Layer::Sniff(head, next) => {
                head.extend_from_slice(buf);
                if head.len() >= 2 {
                    let next = *next.take().ok_or_else(|| io::Error::other("deflate decoder reused"))?;
                    let zlib = head[0] & 0x0f == 8 && (u16::from(head[0]) << 8 | u16::from(head[1])) % 31 == 0;
                    let head = std::mem::take(head);
                    *self = if zlib {
                        Layer::Zlib(Box::new(write::ZlibDecoder::new(next)))
                    } else {
                        Layer::Raw(Box::new(write::DeflateDecoder::new(next)))
                    };
                    self.write_all(&head)?;
                }
                Ok(buf.len())
            }
            Layer::Sink(sink) => {
                let mut sink = sink.borrow_mut();
                if sink.out.len().saturating_add(buf.len()) > sink.limit {
                    sink.over = true;
                    return Err(io::Error::other("decoded chunk over the limit"));
                }
                sink.out.extend_from_slice(buf);
                Ok(buf.len())
            }
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        match self {
            Layer::Gzip(d) => d.flush(),
            Layer::Zlib(d) => d.flush(),
            Layer::Raw(d) => d.flush(),
            Layer::Sniff(..) | Layer::Sink(_) => Ok(()),
        }
    }
}

impl StreamDecoder {
    /// A decoder for the `content-encoding` values; `limit` bounds what one chunk decodes to.
    pub fn new<'h>(headers: impl Iterator<Item = &'h str>, limit: usize) -> Result<StreamDecoder, String> {
        let sink = Rc::new(RefCell::new(Sink { out: Vec::new(), limit, over: false }));
        let mut layer = Layer::Sink(sink.clone());
        // The first coding applied is the last undone: it writes to the sink.
        for coding in codings(headers)? {
            layer = match coding {
                Coding::Gzip => Layer::Gzip(Box::new(write::MultiGzDecoder::new(layer))),
                Coding::Deflate => Layer::Sniff(Vec::new(), Some(Box::new(layer))),
            };
        }
        Ok(StreamDecoder { first: layer, sink })
    }

    /// What `chunk` decodes to; at the end of the body, the rest and a check it was whole.
    pub fn feed(&mut self, chunk: &[u8], end_of_stream: bool) -> Decoded<'static> {
        let mut written = self.first.write_all(chunk).and_then(|_| self.first.flush());
        if end_of_stream {
            written = written.and_then(|_| self.first.finish());
        }
        let mut sink = self.sink.borrow_mut();
        let out = std::mem::take(&mut sink.out);
        match written {
            _ if sink.over => Decoded::TooLarge,
            Ok(()) => Decoded::Body(Cow::Owned(out)),
            Err(e) => Decoded::Corrupt(format!("the compressed body is corrupt: {e}")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use flate2::write::{DeflateEncoder, GzEncoder, ZlibEncoder};
    use flate2::Compression;
    use std::io::Write;

    fn gzip(data: &[u8]) -> Vec<u8> {
        let mut e = GzEncoder::new(Vec::new(), Compression::default());
        e.write_all(data).unwrap();
        e.finish().unwrap()
    }

    fn body(d: Decoded<'_>) -> Vec<u8> {
        match d {
            Decoded::Body(b) => b.into_owned(),
            other => panic!("expected a body, got {other:?}"),
        }
    }

    #[test]
    fn decodes_gzip_zlib_and_raw_deflate() {
        let sql = b"DROP TABLE orders";
        assert_eq!(body(decode(["gzip"].into_iter(), &gzip(sql), 100)), sql);
        assert_eq!(body(decode(["X-GZIP"].into_iter(), &gzip(sql), 100)), sql);
        let mut z = ZlibEncoder::new(Vec::new(), Compression::default());
        z.write_all(sql).unwrap();
        assert_eq!(body(decode(["deflate"].into_iter(), &z.finish().unwrap(), 100)), sql);
        let mut d = DeflateEncoder::new(Vec::new(), Compression::default());
        d.write_all(sql).unwrap();
        assert_eq!(body(decode(["deflate"].into_iter(), &d.finish().unwrap(), 100)), sql);
    }

    #[test]
    fn undoes_stacked_codings_in_reverse_order() {
        let sql = b"DELETE FROM t";
        let twice = gzip(&gzip(sql));
        assert_eq!(body(decode(["gzip, gzip"].into_iter(), &twice, 100)), sql);
        assert_eq!(body(decode(["gzip", "identity", "gzip"].into_iter(), &twice, 100)), sql);
        // Concatenated gzip members are one body, as gunzip reads them.
        let mut two = gzip(b"SELECT 1;");
        two.extend(gzip(b"DROP TABLE t"));
        assert_eq!(body(decode(["gzip"].into_iter(), &two, 100)), b"SELECT 1;DROP TABLE t");
    }

    #[test]
    fn a_bomb_stops_at_the_limit() {
        let bomb = gzip(&vec![b' '; 10_000_000]);
        assert!(bomb.len() < 20_000);
        assert_eq!(decode(["gzip"].into_iter(), &bomb, 1 << 20), Decoded::TooLarge);
        assert_eq!(decode(["gzip"].into_iter(), &gzip(&[b'a'; 101]), 100), Decoded::TooLarge);
        assert!(matches!(decode(["gzip"].into_iter(), &gzip(&[b'a'; 100]), 100), Decoded::Body(_)));
        assert_eq!(decode(std::iter::empty(), &[b'a'; 101], 100), Decoded::TooLarge);
    }

    #[test]
    fn unknown_and_corrupt_bodies_are_reported() {
        assert!(matches!(decode(["br"].into_iter(), b"x", 10), Decoded::Unsupported(r) if r.contains("\"br\"")));
        assert!(matches!(decode(["gzip, zstd"].into_iter(), b"x", 10), Decoded::Unsupported(_)));
        assert!(matches!(decode(["gzip"].into_iter(), b"DROP TABLE t", 100), Decoded::Corrupt(_)));
        let mut truncated = gzip(b"DROP TABLE t");
        truncated.truncate(truncated.len() - 6);
        assert!(matches!(decode(["gzip"].into_iter(), &truncated, 100), Decoded::Corrupt(_)));
        assert!(check(["gzip", "identity"].into_iter()).is_ok());
        assert!(check(["gzip,gzip,gzip,gzip,gzip"].into_iter()).is_err());
        assert!(matches!(decode(["identity"].into_iter(), b"SELECT 1", 10), Decoded::Body(Cow::Borrowed(_))));
    }

    #[test]
    fn a_stream_decodes_chunk_by_chunk_within_its_bound() {
        let text: Vec<u8> = (0..20_000u32).flat_map(|i| format!("line {i}\n").into_bytes()).collect();
        let mut z = ZlibEncoder::new(Vec::new(), Compression::default());
        z.write_all(&text).unwrap();
        let mut d = DeflateEncoder::new(Vec::new(), Compression::default());
        d.write_all(&text).unwrap();
        let mut two = gzip(&text[..1000]);
        two.extend(gzip(&text[1000..]));
        for (coding, encoded) in [("gzip", two), ("deflate", z.finish().unwrap()), ("deflate", d.finish().unwrap())] {
            for size in [1, 7, 4096] {
                let mut decoder = StreamDecoder::new([coding].into_iter(), 1 << 20).unwrap();
                let mut out = Vec::new();
                let chunks: Vec<&[u8]> = encoded.chunks(size).collect();
                for (i, chunk) in chunks.iter().enumerate() {
                    out.extend(body(decoder.feed(chunk, i + 1 == chunks.len())));
                }
                assert_eq!(out, text, "{coding} in chunks of {size}");
            }
        }
        let bomb = gzip(&vec![b' '; 10_000_000]);
        let mut decoder = StreamDecoder::new(["gzip"].into_iter(), 1 << 20).unwrap();
        assert_eq!(decoder.feed(&bomb, true), Decoded::TooLarge);
        let mut truncated = StreamDecoder::new(["gzip"].into_iter(), 1 << 20).unwrap();
        let whole = gzip(b"DROP TABLE t");
        assert!(matches!(truncated.feed(&whole[..whole.len() - 6], true), Decoded::Corrupt(_)));
        assert!(StreamDecoder::new(["br"].into_iter(), 10).is_err());
    }
}
