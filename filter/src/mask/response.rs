//! One response through the masker: what its headers allow (mask as a stream of some kind,
//! pass, or refuse). The proxy glue carries it out, the body through [`super::stream`].

use std::collections::BTreeMap;

use super::stream::Kind;
use super::{readable, Masker};
use crate::http::encoding;

/// What the response headers say about masking the body.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Plan {
    /// Nothing to mask (no body, or a binary type); the note says why, for the record.
    Pass(&'static str),
    /// Mask the body as it streams, cut as `kind` says. `decode`: the body is compressed and
    /// is masked decoded (the `content-encoding` header goes). `content-length` goes in every case.
    Mask { kind: Kind, decode: bool },
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
    // Only a document is held whole: streams have no length limit.
    if let Some(length) = content_length.filter(|&l| kind.document().is_some() && l > masker.max_body_bytes) {
        return Plan::Unmaskable(format!(
            "the response ({length} bytes) is over mask.max_body_bytes ({})",
            masker.max_body_bytes
        ));
    }
    let decode = encodings.iter().any(|e| !e.trim().is_empty() && !e.trim().eq_ignore_ascii_case("identity"));
    Plan::Mask { kind, decode }
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
        assert_eq!(plan(&m, Some("application/json"), none(), Some(10), false), Plan::Mask { kind: Kind::Json, decode: false });
        assert!(matches!(plan(&m, Some("application/json"), none(), Some(65), false), Plan::Unmaskable(_)));
        let form = Some("application/x-www-form-urlencoded");
        assert!(matches!(plan(&m, form, none(), Some(65), false), Plan::Unmaskable(_)), "a form is held whole too");
        let stream = Plan::Mask { kind: Kind::Text, decode: false };
        assert_eq!(plan(&m, Some("text/plain"), none(), Some(65), false), stream, "a stream has no length limit");
        let events = Plan::Mask { kind: Kind::Sse, decode: false };
        assert_eq!(plan(&m, Some("text/event-stream"), none(), None, false), events);
        assert_eq!(plan(&m, Some("image/png"), none(), Some(10), false), Plan::Pass("binary content type"));
        assert_eq!(plan(&m, Some("text/plain"), none(), None, true), Plan::Pass("no body"));
        assert!(matches!(plan(&m, Some("text/plain"), ["br"].into_iter(), None, false), Plan::Unmaskable(_)));
        assert_eq!(
            plan(&m, Some("text/plain"), ["gzip"].into_iter(), None, false),
            Plan::Mask { kind: Kind::Text, decode: true }
        );
    }
}
