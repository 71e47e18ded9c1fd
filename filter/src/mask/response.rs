//! One response through the masker: what its headers allow (mask, pass, or refuse), and the
//! masked body once it has all arrived. The proxy glue carries these out.

use std::collections::BTreeMap;

use super::{readable, BodyKind, MaskCache, Masker};
use crate::http::encoding::{self, Decoded};

/// What the response headers say about masking the body.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Plan {
    /// Nothing to mask (no body, or a binary type); the note says why, for the record.
    Pass(&'static str),
    /// Buffer the body and mask it as `kind`. `decode`: the body is compressed and is masked
    /// decoded (the `content-encoding` header goes). `content-length` goes in every case.
    Mask { kind: BodyKind, decode: bool },
    /// The body cannot be masked: `mask.on_unmaskable` decides.
    Unmaskable(String),
}

/// Reads the response headers.
pub fn plan<'h>(
    masker: &Masker,
    content_type: Option<&str>,
    encodings: impl Iterator<Item = &'h str>,
    content_length: Option<u64>,
    end_of_stream: bool,
) -> Plan {
    if end_of_stream || content_length == Some(0) {
        return Plan::Pass("no body");
    }
    let Some(kind) = readable(content_type) else { return Plan::Pass("binary content type") };
    let encodings: Vec<&str> = encodings.collect();
    if let Err(reason) = encoding::check(encodings.iter().copied()) {
        return Plan::Unmaskable(reason);
    }
    if let Some(length) = content_length.filter(|&l| l > masker.max_body_bytes) {
        return Plan::Unmaskable(format!(
            "the response ({length} bytes) is over mask.max_body_bytes ({})",
            masker.max_body_bytes
        ));
    }
    let decode = encodings.iter().any(|e| !e.trim().is_empty() && !e.trim().eq_ignore_ascii_case("identity"));
    Plan::Mask { kind, decode }
}

/// The body over `mask.max_body_bytes`, met while it streams in.
pub fn oversize(masker: &Masker, size: usize) -> String {
    format!("the response (over {size} bytes) is over mask.max_body_bytes ({})", masker.max_body_bytes)
}

/// Masks a whole body, decoding it first when it came compressed.
pub fn mask_body<'h>(
    masker: &Masker,
    cache: &mut MaskCache,
    raw: &[u8],
    kind: BodyKind,
    encodings: impl Iterator<Item = &'h str>,
) -> Result<super::Masked, String> {
    let limit = masker.max_body_bytes as usize;
    if raw.len() > limit {
        return Err(oversize(masker, raw.len()));
    }
    let body = match encoding::decode(encodings, raw, limit) {
        Decoded::Body(body) => body,
        Decoded::TooLarge => return Err(format!("the decoded response is over mask.max_body_bytes ({limit})")),
        Decoded::Unsupported(reason) | Decoded::Corrupt(reason) => return Err(reason),
    };
    let masked = masker.mask_as(cache, &body, kind);
    if !masked.complete {
        return Err("the response is not valid JSON, so its fields cannot be masked".to_string());
    }
    Ok(masked)
}

/// What the audit record says about masking.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct MaskSummary {
    pub counts: BTreeMap<String, u32>,
    /// Why a response was not masked, or was withheld.
    pub note: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mask::Action;

    fn masker() -> Masker {
        let mut m = Masker::compile(&[("email".to_string(), Action::Redact)].into(), &[], Vec::new(), None)
            .unwrap_or_else(|_| panic!("compiles"));
        m.max_body_bytes = 64;
        m
    }

    #[test]
    fn plans_follow_the_headers() {
        let m = masker();
        let none = std::iter::empty::<&str>;
        assert_eq!(
            plan(&m, Some("application/json"), none(), Some(10), false),
            Plan::Mask { kind: BodyKind::Json, decode: false }
        );
        assert_eq!(plan(&m, Some("image/png"), none(), Some(10), false), Plan::Pass("binary content type"));
        assert_eq!(plan(&m, Some("text/plain"), none(), None, true), Plan::Pass("no body"));
        assert!(matches!(plan(&m, Some("text/plain"), none(), Some(65), false), Plan::Unmaskable(_)));
        assert!(matches!(plan(&m, Some("text/plain"), ["br"].into_iter(), None, false), Plan::Unmaskable(_)));
        assert_eq!(
            plan(&m, Some("text/plain"), ["gzip"].into_iter(), None, false),
            Plan::Mask { kind: BodyKind::Text, decode: true }
        );
    }

    #[test]
    fn compressed_bodies_are_masked_decoded_and_bombs_are_refused() {
        use std::io::Write;
        let m = masker();
        let gzip = |data: &[u8]| {
            let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
            e.write_all(data).unwrap();
            e.finish().unwrap()
        };
        let out = mask_body(&m, &mut m.cache(), &gzip(b"to a@b.io"), BodyKind::Text, ["gzip"].into_iter()).unwrap();
        assert_eq!(out.body, b"to [REDACTED:email]");
        assert!(mask_body(&m, &mut m.cache(), &gzip(&[b'x'; 10_000]), BodyKind::Text, ["gzip"].into_iter()).is_err());
    }
}
