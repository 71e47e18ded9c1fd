//! HTTP request facts: the path and its readings, query parameters, headers, route matching.
//!
//! Routes are matched against every reading a server may make of the path ([`path`]) and every
//! method the request may stand for (its own and any override), so `/api//v2/./%73tatements`
//! cannot slip past a route for `/api/v2/statements`, nor `POST` + `X-HTTP-Method-Override:
//! DELETE` past a route for `DELETE`. Header names are compared in lower case, as HTTP/2 and
//! Envoy carry them.

pub mod encoding;
mod extract;
mod path;
pub mod sse;

pub use extract::{extract, parse_strict_json, ExtractError, Payload, PayloadSource, Preset};
pub use path::{normalize_path, without_trailing_slash, Reading};

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
    readings: Vec<Reading>,
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
            readings: path::readings(path_part),
        }
    }

    /// The canonical path, without the query string.
    pub fn path(&self) -> &str {
        &self.path
    }

    /// Every reading of the path a server may route on.
    pub fn readings(&self) -> &[Reading] {
        &self.readings
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
            b'%' if i + 2 < bytes.len() => match (path::hex(bytes[i + 1]), path::hex(bytes[i + 2])) {
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

/// The query or form parameter Rails, Laravel, Symfony and Express's `method-override` read as
/// the method.
const METHOD_PARAMETER: &str = "_method";

impl Request {
    /// The method, and every method an override header or a `_method` query parameter asks
    /// for (upper case, each once).
    pub fn effective_methods(&self) -> Vec<String> {
        let mut methods = vec![self.method.clone()];
        let headers = METHOD_OVERRIDES.iter().flat_map(|header| self.header_values(header).map(str::to_string));
        for method in headers.chain(self.query_values(METHOD_PARAMETER)) {
            let method = method.trim().to_ascii_uppercase();
            if !method.is_empty() && !methods.contains(&method) {
                methods.push(method);
            }
        }
        methods
    }

    /// A form POST, whose body may name another method in `_method`: the body arrives after the
    /// route is chosen, so any method may be meant.
    pub fn may_name_a_method_in_its_body(&self) -> bool {
        let form = |v: &str| {
            let media = v.split(';').next().unwrap_or("").trim();
            media.eq_ignore_ascii_case("application/x-www-form-urlencoded") || media.eq_ignore_ascii_case("multipart/form-data")
        };
        self.method == "POST" && self.header_values("content-type").any(form)
    }
}

impl RouteMatcher {
    /// As a rule's `http` condition: a deny rule matches when the method or any override is
    /// listed and any reading of the path matches; an allow rule only when every one does.
    pub fn matches_for_rule(&self, request: &Request, deny: bool) -> bool {
        let all_or_any = |mut each: Box<dyn Iterator<Item = bool> + '_>| if deny { each.any(|b| b) } else { each.all(|b| b) };
        let effective = request.effective_methods();
        all_or_any(Box::new(effective.iter().map(|m| self.method_holds(m))))
            && all_or_any(Box::new(request.readings().iter().map(|r| self.path_holds(r))))
            && self.rest_holds(request)
    }

    /// The path conditions on one reading of the path.
    pub fn path_holds(&self, reading: &Reading) -> bool {
        let fold = reading.fold_case;
        self.path_prefix.as_ref().is_none_or(|prefix| path_has_prefix(&reading.path, prefix, fold))
            && self.path.as_ref().is_none_or(|glob| {
                if fold {
                    glob.matches_ignoring_case(&reading.path)
                } else {
                    glob.matches(&reading.path)
                }
            })
    }

    /// For each reading of the request's path, whether every condition but the method holds.
    pub fn readings_held(&self, request: &Request) -> Vec<bool> {
        let rest = self.rest_holds(request);
        request.readings().iter().map(|r| rest && self.path_holds(r)).collect()
    }

    pub fn method_holds(&self, method: &str) -> bool {
        self.methods.as_ref().is_none_or(|methods| methods.iter().any(|m| m == method))
    }

    /// Every condition but the path and the method: the authority and the headers.
    pub fn rest_holds(&self, request: &Request) -> bool {
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

fn path_has_prefix(path: &str, prefix: &str, fold: bool) -> bool {
    let prefix = prefix.trim_end_matches('/');
    if prefix.is_empty() {
        return true;
    }
    let Some(head) = path.get(..prefix.len()) else { return false };
    let same = if fold { head.eq_ignore_ascii_case(prefix) } else { head == prefix };
    same && path.get(prefix.len()..).is_some_and(|rest| rest.is_empty() || rest.starts_with('/'))
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

    /// Whether any reading of the request, with any of its methods, meets every condition.
    fn matches(m: &RouteMatcher, request: &Request) -> bool {
        let methods = request.effective_methods();
        request.readings().iter().any(|r| m.path_holds(r)) && methods.iter().any(|x| m.method_holds(x)) && m.rest_holds(request)
    }

    #[test]
    fn prefixes_stop_at_segment_boundaries() {
        let m = RouteMatcher { path_prefix: Some("/api".into()), ..Default::default() };
        let req = |p: &str| Request::new("POST", p, "h", vec![]);
        assert!(matches(&m, &req("/api")));
        assert!(matches(&m, &req("/api/v2?x=1")));
        assert!(!matches(&m, &req("/apix")));
        assert!(matches(&m, &req("//api/../api/v2")));
        assert!(matches(&m, &req("/API/v2")), "a server that ignores case routes it to /api");
        assert!(!matches(&m, &req("/\u{e9}\u{e9}i")));
    }

    #[test]
    fn overrides_and_the_method_parameter_are_methods_of_the_request() {
        let req = Request::new("POST", "/x?_method=delete", "h", vec![("X-HTTP-Method".into(), "put".into())]);
        assert_eq!(req.effective_methods(), vec!["POST", "PUT", "DELETE"]);
        let form = vec![("content-type".to_string(), "Application/X-WWW-Form-Urlencoded; charset=utf-8".to_string())];
        assert!(Request::new("POST", "/x", "h", form.clone()).may_name_a_method_in_its_body());
        assert!(!Request::new("PUT", "/x", "h", form).may_name_a_method_in_its_body());
        assert!(!Request::new("POST", "/x", "h", vec![("content-type".into(), "application/json".into())])
            .may_name_a_method_in_its_body());
    }

    #[test]
    fn authority_without_port_matches_any_port() {
        let m = RouteMatcher { authority: Some(Glob::case_insensitive("*.example.com").unwrap()), ..Default::default() };
        assert!(matches(&m, &Request::new("GET", "/", "db.Example.com:8443", vec![])));
        assert!(!matches(&m, &Request::new("GET", "/", "example.org", vec![])));
    }

    #[test]
    fn query_values_are_all_decoded() {
        let req = Request::new("GET", "/?query=SELECT+1&x=%41&query=DROP%20TABLE%20t", "h", vec![]);
        assert_eq!(req.query_values("query"), vec!["SELECT 1", "DROP TABLE t"]);
        assert_eq!(req.query_values("x"), vec!["A"]);
        assert_eq!(percent_decode("%zz%4", false), "%zz%4");
    }
}
