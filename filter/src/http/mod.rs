//! HTTP request facts: the normalized path, query parameters, headers, route matching.
//!
//! Paths are matched after the normalization a server applies (percent-decoding of unreserved
//! characters, dot segments, repeated slashes), so `/api//v2/./%73tatements` cannot slip past a
//! route for `/api/v2/statements`. Header names are compared in lower case, as HTTP/2 and Envoy
//! carry them.

pub mod encoding;
mod extract;

pub use extract::{extract, parse_strict_json, ExtractError, Payload, PayloadSource, Preset};

use crate::glob::Glob;

/// One HTTP request as the engine sees it.
#[derive(Clone, Debug)]
pub struct Request {
    pub method: String,
    /// The path as sent (`:path`), query string included.
    pub raw_path: String,
    pub authority: String,
    /// Header names in lower case; a repeated header appears once per value.
    pub headers: Vec<(String, String)>,
    path: String,
}

impl Request {
    pub fn new(method: &str, raw_path: &str, authority: &str, headers: Vec<(String, String)>) -> Request {
        let headers = headers.into_iter().map(|(name, value)| (name.to_ascii_lowercase(), value)).collect();
        let path_part = raw_path.split(['?', '#']).next().unwrap_or("");
        Request {
            method: method.to_ascii_uppercase(),
            raw_path: raw_path.to_string(),
            authority: authority.to_string(),
            headers,
            path: normalize_path(path_part),
        }
    }

    /// The normalized path, without the query string.
    pub fn path(&self) -> &str {
        &self.path
    }

    /// The raw query string, without `?`.
    pub fn query(&self) -> &str {
        let after = self.raw_path.split_once('?').map_or("", |(_, q)| q);
        after.split('#').next().unwrap_or("")
    }

    /// Every value of a header (names are case-insensitive).
    pub fn header_values<'a, 'n>(&'a self, name: &'n str) -> impl Iterator<Item = &'a str> + use<'a, 'n> {
        self.headers.iter().filter(move |(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.header_values(name).next()
    }

    /// Every value of a query parameter, decoded.
    pub fn query_values(&self, name: &str) -> Vec<String> {
        form_values(self.query(), name)
    }
}

/// Decoded values of `name` in an `application/x-www-form-urlencoded` string.
pub fn form_values(encoded: &str, name: &str) -> Vec<String> {
    encoded
        .split('&')
        .filter_map(|pair| {
            let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
            (percent_decode(key, true) == name).then(|| percent_decode(value, true))
        })
        .collect()
}

/// Percent-decoding; `+` is a space in form encoding. Invalid escapes stay as they are, and
/// bytes that do not form UTF-8 are replaced (the text is analyzed, never forwarded).
pub fn percent_decode(input: &str, plus_is_space: bool) -> String {
    let bytes = input.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'%' if i + 2 < bytes.len() => match (hex(bytes[i + 1]), hex(bytes[i + 2])) {
                (Some(h), Some(l)) => {
                    out.push(h * 16 + l);
                    i += 3;
                    continue;
                }
                _ => out.push(b'%'),
            },
            b'+' if plus_is_space => out.push(b' '),
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn hex(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

/// RFC 3986 normalization plus slash merging: decode `%XX` of unreserved characters (and of
/// `/`, which some servers also decode), resolve `.` and `..`, merge `//`.
pub fn normalize_path(path: &str) -> String {
    let bytes = path.as_bytes();
    let mut decoded = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' && i + 2 < bytes.len() {
            if let (Some(h), Some(l)) = (hex(bytes[i + 1]), hex(bytes[i + 2])) {
                let c = h * 16 + l;
                if c.is_ascii_alphanumeric() || matches!(c, b'-' | b'.' | b'_' | b'~' | b'/' | b'\\') {
                    decoded.push(if c == b'\\' { b'/' } else { c });
                    i += 3;
                    continue;
                }
            }
        }
        decoded.push(if bytes[i] == b'\\' { b'/' } else { bytes[i] });
        i += 1;
    }
    let decoded = String::from_utf8_lossy(&decoded);
    let mut segments: Vec<&str> = Vec::new();
    for segment in decoded.split('/') {
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
    if out.is_empty() || (decoded.ends_with('/') && !segments.is_empty()) {
        out.push('/');
    }
    out
}

/// A header condition of a route or rule.
#[derive(Clone, Debug)]
pub enum HeaderTest {
    Present,
    Absent,
    Equals(String),
    Glob(Glob),
}

#[derive(Clone, Debug)]
pub struct HeaderCondition {
    /// Lower case.
    pub name: String,
    pub test: HeaderTest,
}

impl HeaderCondition {
    /// With repeated headers, the condition holds when any value satisfies it (`Absent`: none
    /// is present).
    pub fn holds(&self, request: &Request) -> bool {
        let mut values = request.header_values(&self.name);
        match &self.test {
            HeaderTest::Present => values.next().is_some(),
            HeaderTest::Absent => values.next().is_none(),
            HeaderTest::Equals(expected) => values.any(|v| v == expected),
            HeaderTest::Glob(glob) => values.any(|v| glob.matches(v)),
        }
    }
}

/// The compiled `match` of a route. Every present condition must hold.
#[derive(Clone, Debug, Default)]
pub struct RouteMatcher {
    /// A normalized prefix ending at a segment boundary: `/api` matches `/api` and `/api/x`,
    /// not `/apix`.
    pub path_prefix: Option<String>,
    pub path: Option<Glob>,
    /// Upper case.
    pub methods: Option<Vec<String>>,
    pub authority: Option<Glob>,
    pub headers: Vec<HeaderCondition>,
    /// Wire policies: the connection's database and user.
    pub database: Option<Glob>,
    pub user: Option<Glob>,
}

/// Headers through which clients ask a server to treat a POST as another method; frameworks
/// that honour them make `POST` + `X-HTTP-Method-Override: DELETE` a DELETE.
const METHOD_OVERRIDES: [&str; 3] = ["x-http-method-override", "x-http-method", "x-method-override"];

impl Request {
    /// The method, and every method an override header asks for (upper case).
    pub fn effective_methods(&self) -> Vec<String> {
        let mut methods = vec![self.method.clone()];
        for header in METHOD_OVERRIDES {
            methods.extend(self.header_values(header).map(|v| v.trim().to_ascii_uppercase()));
        }
        methods
    }
}

impl RouteMatcher {
    /// As a rule's `http` condition: a deny rule's `methods` match when the method or any
    /// override is listed; an allow rule's only when all of them are.
    pub fn matches_for_rule(&self, request: &Request, deny: bool) -> bool {
        if let Some(methods) = &self.methods {
            let effective = request.effective_methods();
            let listed = |m: &String| methods.contains(m);
            let ok = if deny { effective.iter().any(listed) } else { effective.iter().all(listed) };
            if !ok {
                return false;
            }
        }
        self.matches_except_methods(request)
    }

    pub fn matches(&self, request: &Request) -> bool {
        if let Some(methods) = &self.methods {
            if !methods.contains(&request.method) {
                return false;
            }
        }
        self.matches_except_methods(request)
    }

    fn matches_except_methods(&self, request: &Request) -> bool {
        if let Some(prefix) = &self.path_prefix {
            if !path_has_prefix(request.path(), prefix) {
                return false;
            }
        }
        if let Some(glob) = &self.path {
            if !glob.matches(request.path()) {
                return false;
            }
        }
        if let Some(glob) = &self.authority {
            let authority = request.authority.to_ascii_lowercase();
            // A pattern without a port matches the host on any port.
            let host = if glob.as_str().contains(':') { authority.as_str() } else { strip_port(&authority) };
            if !glob.matches(host) {
                return false;
            }
        }
        self.headers.iter().all(|h| h.holds(request))
    }
}

fn path_has_prefix(path: &str, prefix: &str) -> bool {
    let prefix = prefix.trim_end_matches('/');
    if prefix.is_empty() {
        return true;
    }
    path.strip_prefix(prefix).is_some_and(|rest| rest.is_empty() || rest.starts_with('/'))
}

fn strip_port(authority: &str) -> &str {
    if authority.starts_with('[') {
        return authority.split_once(']').map_or(authority, |(h, _)| &authority[..h.len() + 1]);
    }
    match authority.rsplit_once(':') {
        Some((host, port)) if port.bytes().all(|b| b.is_ascii_digit()) => host,
        _ => authority,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_are_normalized_like_a_server_would() {
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
    fn prefixes_stop_at_segment_boundaries() {
        let m = RouteMatcher { path_prefix: Some("/api".into()), ..Default::default() };
        let req = |p: &str| Request::new("POST", p, "h", vec![]);
        assert!(m.matches(&req("/api")));
        assert!(m.matches(&req("/api/v2?x=1")));
        assert!(!m.matches(&req("/apix")));
        assert!(m.matches(&req("//api/../api/v2")));
    }

    #[test]
    fn authority_without_port_matches_any_port() {
        let m = RouteMatcher { authority: Some(Glob::case_insensitive("*.example.com").unwrap()), ..Default::default() };
        assert!(m.matches(&Request::new("GET", "/", "db.Example.com:8443", vec![])));
        assert!(!m.matches(&Request::new("GET", "/", "example.org", vec![])));
    }

    #[test]
    fn query_values_are_all_decoded() {
        let req = Request::new("GET", "/?query=SELECT+1&x=%41&query=DROP%20TABLE%20t", "h", vec![]);
        assert_eq!(req.query_values("query"), vec!["SELECT 1", "DROP TABLE t"]);
        assert_eq!(req.query_values("x"), vec!["A"]);
        assert_eq!(percent_decode("%zz%4", false), "%zz%4");
    }
}
