//! `content-encoding` decoding, bounded: a body is read in the form the upstream will read it.
//!
//! gzip (with `x-gzip`), deflate and identity are decoded, in the reverse order of the header's
//! list, each step stopping at `limit` output bytes, so a compression bomb costs at most `limit`
//! bytes and ends as oversize. HTTP's `deflate` is zlib-wrapped (RFC 9110 §8.4.1.2), but servers
//! commonly accept raw DEFLATE too, so both are read. Anything else is [`Decoded::Unsupported`].

use flate2::read::{DeflateDecoder, MultiGzDecoder, ZlibDecoder};
use std::borrow::Cow;
use std::io::Read;

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
}
