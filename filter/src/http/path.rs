//! Request paths: the canonical form a request is recorded under, and every reading of the path
//! a server behind Envoy may act on, which is what routes are matched against.
//!
//! Envoy forwards `:path` as the client sent it (`normalize_path` and `merge_slashes` are off and
//! `path_with_escaped_slashes_action` keeps `%2F` by default), and servers disagree on what it
//! names: Go's `ServeMux` cleans `.`, `..` and `//` but keeps `%2F` inside a segment; uvicorn
//! (Starlette, FastAPI) decodes every escape, `%2F` included; servlet containers drop each
//! segment's `;params`; Express and ASP.NET ignore case and a trailing slash, Starlette and
//! Flask redirect a trailing slash away. Each [`Reading`] is one of these views.

/// One reading of a request path, and whether the servers that read it so ignore case.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Reading {
    pub path: String,
    pub fold_case: bool,
}

/// How a server turns the path it received into the path it routes.
#[derive(Clone, Copy)]
enum Form {
    /// Untouched: Envoy's own default, and servers that route the path as sent.
    AsSent,
    /// Unreserved escapes decoded (RFC 3986 equivalence), `.`/`..` resolved, `//` merged; `%2F`,
    /// `\` and `;` stay part of their segment.
    Segments,
    /// `;params` dropped from each segment, every escape decoded (`%2F` and `\` separate
    /// segments), `.`/`..` resolved, `//` merged.
    Decoded,
}

/// Every reading of `path` (without its query string), in the order: as sent, by segments,
/// decoded; each as it is and without a trailing slash; each case-sensitive and folding case.
pub fn readings(path: &str) -> Vec<Reading> {
    let mut readings: Vec<Reading> = Vec::new();
    for form in [Form::AsSent, Form::Segments, Form::Decoded] {
        let read = read(path, form);
        let stripped = without_trailing_slash(&read).to_string();
        for path in [read, stripped] {
            for fold_case in [false, true] {
                let reading = Reading { path: path.clone(), fold_case };
                if !readings.contains(&reading) {
                    readings.push(reading);
                }
            }
        }
    }
    readings
}

/// The canonical path of a request, as it is recorded and as `path_prefix` patterns are written
/// down: unreserved escapes and `%2F`/`%5C` decoded, `\` a separator, `.`/`..` resolved, `//`
/// merged, a trailing slash kept.
pub fn normalize_path(path: &str) -> String {
    let decoded = decode(path, |c| c.is_ascii_alphanumeric() || matches!(c, b'-' | b'.' | b'_' | b'~' | b'/' | b'\\'));
    resolve(&decoded.replace('\\', "/"))
}

/// `/sql/` as `/sql`; the root stays `/`.
pub fn without_trailing_slash(path: &str) -> &str {
    match path.trim_end_matches('/') {
        "" if path.starts_with('/') => "/",
        trimmed => trimmed,
    }
}

fn read(path: &str, form: Form) -> String {
    match form {
        Form::AsSent => path.to_string(),
        Form::Segments => resolve(&decode(path, |c| c.is_ascii_alphanumeric() || matches!(c, b'-' | b'.' | b'_' | b'~'))),
        Form::Decoded => {
            let without_params: Vec<&str> = path.split('/').map(|segment| segment.split(';').next().unwrap_or("")).collect();
            resolve(&decode(&without_params.join("/"), |_| true).replace('\\', "/"))
        }
    }
}

/// Percent-decodes the escapes of the bytes `wanted` accepts; others, and invalid escapes, stay
/// as they are. Bytes that do not form UTF-8 are replaced (the path is matched, never forwarded).
fn decode(path: &str, wanted: fn(u8) -> bool) -> String {
    let bytes = path.as_bytes();
    let mut decoded = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let escape = bytes.get(i + 1..i + 3).and_then(|pair| Some(hex(pair[0])? * 16 + hex(pair[1])?));
        match escape {
            Some(c) if bytes[i] == b'%' && wanted(c) => {
                decoded.push(c);
                i += 3;
            }
            _ => {
                decoded.push(bytes[i]);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&decoded).into_owned()
}

pub(super) fn hex(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

/// Resolves `.` and `..` segments and merges repeated slashes; a trailing slash is kept.
fn resolve(path: &str) -> String {
    let mut segments: Vec<&str> = Vec::new();
    for segment in path.split('/') {
        match segment {
            "" | "." => {}
            ".." => {
                segments.pop();
            }
            s => segments.push(s),
        }
    }
    let mut out = String::with_capacity(path.len() + 1);
    for s in &segments {
        out.push('/');
        out.push_str(s);
    }
    if out.is_empty() || (path.ends_with('/') && !segments.is_empty()) {
        out.push('/');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn paths(raw: &str) -> Vec<String> {
        let mut out: Vec<String> = readings(raw).into_iter().map(|r| r.path).collect();
        out.dedup();
        out
    }

    #[test]
    fn the_canonical_path_is_normalized_like_a_server_would() {
        assert_eq!(normalize_path("/api//v2/./%73tatements"), "/api/v2/statements");
        assert_eq!(normalize_path("/api/v2/x/../statements"), "/api/v2/statements");
        assert_eq!(normalize_path("/a/%2e%2e/b"), "/b");
        assert_eq!(normalize_path("/api/v2/statements/"), "/api/v2/statements/");
        assert_eq!(normalize_path(""), "/");
        assert_eq!(normalize_path("/../../etc"), "/etc");
        assert_eq!(normalize_path("/a\\b"), "/a/b");
        // Reserved characters stay encoded: %3F is not a query separator.
        assert_eq!(normalize_path("/a%3Fb"), "/a%3Fb");
    }

    #[test]
    fn readings_cover_what_each_family_of_servers_routes() {
        assert_eq!(paths("/sql"), vec!["/sql"]);
        assert_eq!(paths("/sql/"), vec!["/sql/", "/sql"]);
        assert_eq!(paths("//sql"), vec!["//sql", "/sql"]);
        assert_eq!(paths("/api%2Fsql"), vec!["/api%2Fsql", "/api/sql"]);
        assert_eq!(paths("/api%2fsql"), vec!["/api%2fsql", "/api/sql"]);
        assert_eq!(paths("/x/%2e%2e/sql"), vec!["/x/%2e%2e/sql", "/sql"]);
        assert_eq!(paths("/public/..;/sql"), vec!["/public/..;/sql", "/sql"]);
        assert_eq!(paths("/sql;jsessionid=1"), vec!["/sql;jsessionid=1", "/sql"]);
        assert_eq!(paths("/a\\..\\sql"), vec!["/a\\..\\sql", "/sql"]);
        assert_eq!(readings("/SQL").iter().filter(|r| r.fold_case).count(), 1);
    }

    #[test]
    fn hostile_escapes_do_not_panic() {
        for raw in ["%", "/%", "/%2", "/%zz", "/%e9%", "/\u{e9}%2", "/;", "/..;/..;"] {
            assert!(readings(raw).iter().all(|r| r.path.starts_with('/') || r.path == raw));
        }
        assert_eq!(without_trailing_slash("///"), "/");
        assert_eq!(without_trailing_slash("/a//"), "/a");
    }
}
