//! Message bodies: reading startup parameters, SQL and error fields, and writing the messages a
//! denial sends.

use super::super::frame;
use super::DENIED_TEXT;

/// Name/value pairs of a startup packet, up to its terminating empty name.
pub(super) fn startup_params(mut body: &[u8]) -> Option<Vec<(String, String)>> {
    let mut params = Vec::new();
    loop {
        let (name, rest) = frame::cstring(body)?;
        if name.is_empty() {
            return Some(params);
        }
        let (value, rest) = frame::cstring(rest)?;
        params.push((String::from_utf8_lossy(name).into_owned(), String::from_utf8_lossy(value).into_owned()));
        body = rest;
    }
}

/// The SQL bytes of a `Query` or `Parse` body; `None` for a `FunctionCall`.
pub(super) fn sql_bytes(kind: u8, body: &[u8]) -> Result<Option<&[u8]>, &'static str> {
    match kind {
        b'Q' => Ok(Some(frame::cstring(body).ok_or("a Query without its terminator")?.0)),
        b'P' => {
            let (_name, rest) = frame::cstring(body).ok_or("a Parse without its statement name")?;
            Ok(Some(frame::cstring(rest).ok_or("a Parse without its query")?.0))
        }
        _ => Ok(None),
    }
}

/// A field of an ErrorResponse body (`C` the SQLSTATE, `M` the message).
pub(super) fn error_field(mut fields: &[u8], code: u8) -> Option<&[u8]> {
    loop {
        let (&field, rest) = fields.split_first().filter(|(field, _)| **field != 0)?;
        let (value, rest) = frame::cstring(rest)?;
        if field == code {
            return Some(value);
        }
        fields = rest;
    }
}

/// The `Query` a denied `Query` or `FunctionCall` becomes.
pub(super) fn denied_query() -> Vec<u8> {
    typed(b'Q', &[DENIED_TEXT.as_bytes(), b"\0"].concat())
}

/// The `Parse` a denied `Parse` becomes: the unnamed statement, no parameter types.
pub(super) fn denied_parse() -> Vec<u8> {
    typed(b'P', &[b"\0", DENIED_TEXT.as_bytes(), b"\0\0\0"].concat())
}

pub(super) fn typed(kind: u8, body: &[u8]) -> Vec<u8> {
    let mut out = vec![kind];
    out.extend_from_slice(&((body.len() + 4) as u32).to_be_bytes());
    out.extend_from_slice(body);
    out
}

/// An `ErrorResponse`: severity ERROR, the SQLSTATE, the message.
pub fn error_response(sqlstate: &str, message: &str) -> Vec<u8> {
    let mut fields = Vec::new();
    for (code, value) in [(b'S', "ERROR"), (b'V', "ERROR"), (b'C', sqlstate), (b'M', message)] {
        fields.push(code);
        // A NUL would end the field early: the message is policy text, never trusted to be clean.
        fields.extend(value.bytes().map(|b| if b == 0 { b' ' } else { b }));
        fields.push(0);
    }
    fields.push(0);
    typed(b'E', &fields)
}
