//! How a client carries SQL to a route: the inverse of the filter's extraction, for cases that
//! give `sql` instead of a body.

use serde_json::Value;

use access_guardrails::http::{PayloadSource, Preset};

/// The parts of a request that carry a statement.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) struct Carrier {
    /// Appended to the path (`?name=...`), when the SQL travels in the query string.
    pub query: Option<String>,
    pub body: String,
    pub content_type: Option<&'static str>,
}

/// How a client would carry `sql` to a route reading from `source`.
pub(super) fn carrier(source: &PayloadSource, sql: &str) -> Carrier {
    let json = |value: Value| Carrier { query: None, body: value.to_string(), content_type: Some("application/json") };
    match source {
        PayloadSource::Body => Carrier { query: None, body: sql.to_string(), content_type: Some("text/plain") },
        PayloadSource::Json(pointers) => json(at_pointer(pointers.first().map_or("", String::as_str), sql)),
        PayloadSource::QueryParam(name) => Carrier {
            query: Some(format!("{}={}", form_encode(name), form_encode(sql))),
            body: String::new(),
            content_type: None,
        },
        PayloadSource::Form(name) => Carrier {
            query: None,
            body: format!("{}={}", form_encode(name), form_encode(sql)),
            content_type: Some("application/x-www-form-urlencoded"),
        },
        PayloadSource::Preset(preset) => match preset {
            Preset::Snowflake | Preset::Databricks => json(serde_json::json!({ "statement": sql })),
            Preset::Bigquery => json(serde_json::json!({ "query": sql, "useLegacySql": false })),
            Preset::Neon => json(serde_json::json!({ "query": sql, "params": [] })),
            Preset::D1 => json(serde_json::json!({ "sql": sql, "params": [] })),
            Preset::Hasura => json(serde_json::json!({ "type": "run_sql", "args": { "sql": sql } })),
            Preset::Trino | Preset::Clickhouse => {
                Carrier { query: None, body: sql.to_string(), content_type: Some("text/plain") }
            }
        },
    }
}

/// A JSON document holding `sql` at `pointer` (`*` becomes the first array element).
fn at_pointer(pointer: &str, sql: &str) -> Value {
    let mut value = Value::String(sql.to_string());
    for token in pointer.split('/').skip(1).collect::<Vec<_>>().into_iter().rev() {
        value = if token == "*" {
            Value::Array(vec![value])
        } else {
            let key = token.replace("~1", "/").replace("~0", "~");
            Value::Object([(key, value)].into_iter().collect())
        };
    }
    value
}

fn form_encode(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for b in text.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => out.push(b as char),
            b' ' => out.push('+'),
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use access_guardrails::http::{extract, Request};

    use super::*;

    #[test]
    fn a_carried_statement_is_extracted_back() {
        let sql = "SELECT 'a&b=c', \"x y\" FROM t; DELETE FROM u";
        let mut sources = vec![
            PayloadSource::Body,
            PayloadSource::Json(vec!["/query".into()]),
            PayloadSource::Json(vec!["/batch/*/sql".into()]),
            PayloadSource::Json(vec!["/a~1b".into()]),
            PayloadSource::QueryParam("q".into()),
            PayloadSource::Form("sql".into()),
        ];
        for name in Preset::NAMES {
            sources.push(PayloadSource::Preset(Preset::parse(name).unwrap()));
        }
        for source in sources {
            let c = carrier(&source, sql);
            let path = match &c.query {
                Some(q) => format!("/x?{q}"),
                None => "/x".to_string(),
            };
            let headers = c.content_type.map(|t| vec![("content-type".to_string(), t.to_string())]).unwrap_or_default();
            let request = Request::new("POST", &path, "h", headers);
            let body = (!c.body.is_empty()).then_some(c.body.as_bytes());
            let found = extract(&source, &request, body).unwrap_or_else(|e| panic!("{source:?}: {e}"));
            assert_eq!(found.iter().map(|p| p.text.as_str()).collect::<Vec<_>>(), vec![sql], "{source:?}");
        }
    }
}
