//! Where the SQL is in a request: the raw body, a JSON pointer, a query parameter, a form field,
//! or a preset for a real SQL-over-HTTP API.
//!
//! Extraction is deliberately greedy: every place a server could read SQL from is read (all
//! values of a repeated parameter, every element a `*` pointer segment reaches, every statement
//! of a batch), so a filter that reads one field cannot be bypassed through another. JSON with
//! duplicate keys is refused: servers disagree on which duplicate wins.

use std::fmt;

use serde_json::Value;

use super::{form_values, percent_decode, Request};
use crate::json::{self as strict, kind, Pointer};
use crate::sql::Dialect;

/// Nesting of Hasura `bulk` envelopes.
const MAX_BULK_DEPTH: usize = 8;

/// One place SQL is read from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PayloadSource {
    /// The whole body is SQL.
    Body,
    /// JSON pointers (RFC 6901, plus `*` for every array element or member). A pointer that
    /// reaches nothing is skipped; a reached value that is not a string is an error.
    Json(Vec<String>),
    /// Every value of a query parameter.
    QueryParam(String),
    /// Every value of an `application/x-www-form-urlencoded` body field.
    Form(String),
    Preset(Preset),
}

/// The SQL-over-HTTP APIs the filter knows by name.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Preset {
    /// Snowflake SQL API, `POST /api/v2/statements`, SQL in `statement`
    /// (<https://docs.snowflake.com/en/developer-guide/sql-api/submitting-requests>); several
    /// statements may be sent separated by `;` with `MULTI_STATEMENT_COUNT`
    /// (<https://docs.snowflake.com/en/developer-guide/sql-api/submitting-multiple-statements>).
    /// The drivers' `POST /queries/v1/query-request` carries SQL in `sqlText`, read too.
    Snowflake,
    /// Databricks SQL Statement Execution API, `POST /api/2.0/sql/statements`, SQL in
    /// `statement` (<https://docs.databricks.com/api/workspace/statementexecution/executestatement>).
    Databricks,
    /// Trino client protocol, `POST /v1/statement`, the body is the SQL
    /// (<https://trino.io/docs/current/develop/client-protocol.html>). Prepared statements travel
    /// URL-encoded in `X-Trino-Prepared-Statement: name=sql,...` and run on `EXECUTE name`; they
    /// are analyzed too. Presto sends the same as `X-Presto-Prepared-Statement`.
    Trino,
    /// ClickHouse HTTP interface (<https://clickhouse.com/docs/interfaces/http>): the `query`
    /// parameter, then a line feed, then the body, form one text ("If part of the query is sent
    /// in the parameter, and part in the POST, a line feed is inserted between these two data
    /// parts"). Multipart bodies and `decompress=1` are encodings the filter does not read.
    Clickhouse,
    /// BigQuery `jobs.query` (`POST /bigquery/v2/projects/{p}/queries`, SQL in `query`,
    /// <https://cloud.google.com/bigquery/docs/reference/rest/v2/jobs/query>) and `jobs.insert`
    /// (`configuration.query.query`,
    /// <https://cloud.google.com/bigquery/docs/reference/rest/v2/Job#JobConfigurationQuery>).
    Bigquery,
    /// Neon serverless driver over HTTP, `POST /sql`: `{"query": ..., "params": [...]}` or the
    /// transaction batch `{"queries": [{"query": ...}, ...]}`
    /// (<https://github.com/neondatabase/serverless>, `src/httpQuery.ts`).
    Neon,
    /// Hasura schema API, `POST /v2/query` (and the older `/v1/query`):
    /// `{"type": "run_sql", "args": {"sql": ...}}`, the backend variants `<backend>_run_sql`, and
    /// `bulk` / `concurrent_bulk` arrays of the same envelope, nested
    /// (<https://hasura.io/docs/latest/api-reference/schema-api/run-sql/>).
    Hasura,
    /// Cloudflare D1 HTTP API, `POST /client/v4/accounts/{a}/d1/database/{d}/query` (and `/raw`):
    /// `{"sql": ..., "params": [...]}` or `{"batch": [{"sql": ...}, ...]}`
    /// (<https://developers.cloudflare.com/api/resources/d1/subresources/database/methods/query/>).
    D1,
}

impl Preset {
    pub const NAMES: [&'static str; 9] =
        ["snowflake", "databricks", "trino", "presto", "clickhouse", "bigquery", "neon", "hasura", "d1"];

    pub fn parse(name: &str) -> Option<Preset> {
        Some(match name {
            "snowflake" => Preset::Snowflake,
            "databricks" => Preset::Databricks,
            "trino" | "presto" => Preset::Trino,
            "clickhouse" => Preset::Clickhouse,
            "bigquery" => Preset::Bigquery,
            "neon" => Preset::Neon,
            "hasura" => Preset::Hasura,
            "d1" | "cloudflare_d1" => Preset::D1,
            _ => return None,
        })
    }

    /// The dialect of the API's SQL.
    pub fn dialect(self) -> Dialect {
        match self {
            Preset::Snowflake => Dialect::Snowflake,
            Preset::Databricks => Dialect::Databricks,
            Preset::Trino => Dialect::Trino,
            Preset::Clickhouse => Dialect::Clickhouse,
            Preset::Bigquery => Dialect::Bigquery,
            Preset::Neon | Preset::Hasura => Dialect::Postgres,
            Preset::D1 => Dialect::Sqlite,
        }
    }
}

impl PayloadSource {
    /// Whether the body must be read.
    pub fn needs_body(&self) -> bool {
        !matches!(self, PayloadSource::QueryParam(_))
    }
}

/// SQL text found in a request, with the dialect when the request itself names one.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Payload {
    pub text: String,
    pub dialect: Option<Dialect>,
}

impl Payload {
    fn plain(text: String) -> Payload {
        Payload { text, dialect: None }
    }
}

/// Why no SQL could be read.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ExtractError {
    /// The request carries no SQL where the route expects it.
    Missing(String),
    /// The body or field is not what the source expects (bad JSON, not UTF-8, not a string).
    Malformed(String),
    /// SQL is there but in an encoding the filter does not read (multipart, compressed).
    Encoded(String),
}

impl fmt::Display for ExtractError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ExtractError::Missing(m) | ExtractError::Malformed(m) | ExtractError::Encoded(m) => f.write_str(m),
        }
    }
}

/// Reads the SQL of a request. `body` is the complete (decoded) body, or `None` when there is
/// none. Every text found is returned; none at all is [`ExtractError::Missing`].
pub fn extract(source: &PayloadSource, request: &Request, body: Option<&[u8]>) -> Result<Vec<Payload>, ExtractError> {
    let mut found = Vec::new();
    match source {
        PayloadSource::Body => {
            if let Some(text) = body_text(body)? {
                found.push(Payload::plain(text.to_string()));
            }
        }
        PayloadSource::Json(pointers) => {
            if let Some(doc) = json_body(body)? {
                for pointer in pointers {
                    collect_pointer(&doc, pointer, &mut found)?;
                }
            }
        }
        PayloadSource::QueryParam(name) => {
            found.extend(request.query_values(name).into_iter().map(Payload::plain));
        }
        PayloadSource::Form(name) => {
            if let Some(text) = body_text(body)? {
                found.extend(form_values(text, name).into_iter().map(Payload::plain));
            }
        }
        PayloadSource::Preset(preset) => extract_preset(*preset, request, body, &mut found)?,
    }
    found.retain(|p| !p.text.trim().is_empty());
    if found.is_empty() {
        return Err(ExtractError::Missing(format!("no SQL found in the request ({})", describe(source))));
    }
    Ok(found)
}

fn describe(source: &PayloadSource) -> String {
    match source {
        PayloadSource::Body => "expected it in the body".to_string(),
        PayloadSource::Json(p) => format!("expected it at JSON pointer {}", p.join(" or ")),
        PayloadSource::QueryParam(n) => format!("expected it in query parameter {n:?}"),
        PayloadSource::Form(n) => format!("expected it in form field {n:?}"),
        PayloadSource::Preset(p) => format!("preset {p:?}"),
    }
}

fn body_text(body: Option<&[u8]>) -> Result<Option<&str>, ExtractError> {
    match body {
        None | Some([]) => Ok(None),
        Some(bytes) => {
            std::str::from_utf8(bytes).map(Some).map_err(|e| ExtractError::Malformed(format!("body is not UTF-8 ({e})")))
        }
    }
}

fn json_body(body: Option<&[u8]>) -> Result<Option<Value>, ExtractError> {
    let Some(text) = body_text(body)? else { return Ok(None) };
    parse_strict_json(text).map(Some)
}

/// [`strict::parse_strict`], its error a malformed request.
pub fn parse_strict_json(text: &str) -> Result<Value, ExtractError> {
    strict::parse_strict(text).map_err(ExtractError::Malformed)
}

fn collect_pointer(doc: &Value, pointer: &str, out: &mut Vec<Payload>) -> Result<(), ExtractError> {
    let Ok(pointer) = Pointer::parse(pointer) else { return Ok(()) };
    for value in pointer.values(doc) {
        match value {
            Value::String(text) => out.push(Payload::plain(text.clone())),
            Value::Null => {}
            other => {
                return Err(ExtractError::Malformed(format!(
                    "JSON pointer {} holds {} where SQL text was expected",
                    pointer.as_str(),
                    kind(other)
                )))
            }
        }
    }
    Ok(())
}

fn extract_preset(preset: Preset, request: &Request, body: Option<&[u8]>, out: &mut Vec<Payload>) -> Result<(), ExtractError> {
    let pointers: &[&str] = match preset {
        Preset::Snowflake => &["/statement", "/sqlText"],
        Preset::Databricks => &["/statement"],
        Preset::Bigquery => &["/query", "/configuration/query/query"],
        Preset::Neon => &["/query", "/queries/*/query"],
        Preset::D1 => &["/sql", "/batch/*/sql"],
        Preset::Trino => {
            if let Some(text) = body_text(body)? {
                out.push(Payload::plain(text.to_string()));
            }
            for header in ["x-trino-prepared-statement", "x-presto-prepared-statement"] {
                for value in request.header_values(header) {
                    for entry in value.split(',') {
                        let Some((_, sql)) = entry.trim().split_once('=') else { continue };
                        if sql.starts_with("$zstd:") {
                            return Err(ExtractError::Encoded(format!("{header} holds zstd-compressed SQL")));
                        }
                        out.push(Payload::plain(percent_decode(sql, true)));
                    }
                }
            }
            return Ok(());
        }
        Preset::Clickhouse => {
            let content_type = request.header("content-type").unwrap_or("").to_ascii_lowercase();
            if content_type.starts_with("multipart/") {
                return Err(ExtractError::Encoded("multipart ClickHouse requests are not inspected".into()));
            }
            if request.query_values("decompress").iter().any(|v| v != "0") {
                return Err(ExtractError::Encoded("ClickHouse-compressed bodies (decompress=1) are not inspected".into()));
            }
            let params = request.query_values("query");
            if params.len() > 1 {
                return Err(ExtractError::Malformed("the query parameter is repeated".into()));
            }
            let mut text = params.into_iter().next().unwrap_or_default();
            if let Some(rest) = body_text(body)? {
                if !text.is_empty() {
                    text.push('\n');
                }
                text.push_str(rest);
            }
            out.push(Payload::plain(text));
            return Ok(());
        }
        Preset::Hasura => {
            if let Some(doc) = json_body(body)? {
                hasura(&doc, 0, out)?;
            }
            return Ok(());
        }
    };
    if let Some(doc) = json_body(body)? {
        for pointer in pointers {
            collect_pointer(&doc, pointer, out)?;
        }
    }
    Ok(())
}

/// One Hasura envelope: `run_sql` variants carry SQL, `bulk` variants nest envelopes.
fn hasura(doc: &Value, depth: usize, out: &mut Vec<Payload>) -> Result<(), ExtractError> {
    if depth > MAX_BULK_DEPTH {
        return Err(ExtractError::Malformed(format!("Hasura bulk nested deeper than {MAX_BULK_DEPTH} levels")));
    }
    let kind = doc.get("type").and_then(Value::as_str).unwrap_or("");
    let args = doc.get("args");
    if matches!(kind, "bulk" | "concurrent_bulk" | "bulk_keep_going" | "bulk_atomic") {
        if let Some(Value::Array(items)) = args {
            for item in items {
                hasura(item, depth + 1, out)?;
            }
        }
        return Ok(());
    }
    if kind == "run_sql" || kind.ends_with("_run_sql") || kind == "bigquery_database_inspection" {
        let dialect = match kind.strip_suffix("_run_sql").unwrap_or("") {
            "mssql" => Some(Dialect::Mssql),
            "bigquery" => Some(Dialect::Bigquery),
            "pg" | "citus" | "cockroach" => Some(Dialect::Postgres),
            _ if kind == "bigquery_database_inspection" => Some(Dialect::Bigquery),
            _ => None,
        };
        match args.and_then(|a| a.get("sql")) {
            Some(Value::String(sql)) => out.push(Payload { text: sql.clone(), dialect }),
            Some(other) => return Err(ExtractError::Malformed(format!("Hasura {kind} args.sql is {}", strict::kind(other)))),
            None => {}
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn post(path: &str, headers: Vec<(&str, &str)>) -> Request {
        Request::new("POST", path, "h", headers.into_iter().map(|(a, b)| (a.into(), b.into())).collect())
    }

    fn texts(r: Result<Vec<Payload>, ExtractError>) -> Vec<String> {
        r.unwrap().into_iter().map(|p| p.text).collect()
    }

    #[test]
    fn snowflake_reads_both_statement_fields() {
        let req = post("/api/v2/statements", vec![]);
        let body = br#"{"statement":"DROP TABLE t","timeout":60}"#;
        assert_eq!(texts(extract(&PayloadSource::Preset(Preset::Snowflake), &req, Some(body))), vec!["DROP TABLE t"]);
        let body = br#"{"sqlText":"DELETE FROM t","sequenceId":1}"#;
        assert_eq!(texts(extract(&PayloadSource::Preset(Preset::Snowflake), &req, Some(body))), vec!["DELETE FROM t"]);
    }

    #[test]
    fn duplicate_json_keys_are_refused() {
        let req = post("/", vec![]);
        let body = br#"{"statement":"DROP TABLE t","statement":"SELECT 1"}"#;
        let err = extract(&PayloadSource::Preset(Preset::Snowflake), &req, Some(body)).unwrap_err();
        assert!(matches!(err, ExtractError::Malformed(ref m) if m.contains("duplicate key")), "{err:?}");
    }

    #[test]
    fn deep_json_is_refused_without_overflow() {
        let req = post("/", vec![]);
        let body = format!("{}{}", "[".repeat(100_000), "]".repeat(100_000));
        assert!(extract(&PayloadSource::Json(vec!["/q".into()]), &req, Some(body.as_bytes())).is_err());
    }

    #[test]
    fn neon_and_d1_batches_are_read_whole() {
        let req = post("/sql", vec![]);
        let body = br#"{"queries":[{"query":"SELECT 1","params":[]},{"query":"DROP TABLE t","params":[]}]}"#;
        assert_eq!(texts(extract(&PayloadSource::Preset(Preset::Neon), &req, Some(body))), vec!["SELECT 1", "DROP TABLE t"]);
        let body = br#"{"batch":[{"sql":"SELECT 1"},{"sql":"DELETE FROM t"}]}"#;
        assert_eq!(texts(extract(&PayloadSource::Preset(Preset::D1), &req, Some(body))), vec!["SELECT 1", "DELETE FROM t"]);
    }

    #[test]
    fn clickhouse_joins_parameter_and_body_with_a_line_feed() {
        let req = post("/?query=DROP%20TABLE", vec![]);
        assert_eq!(texts(extract(&PayloadSource::Preset(Preset::Clickhouse), &req, Some(b" t"))), vec!["DROP TABLE\n t"]);
        let req = post("/?decompress=1", vec![]);
        assert!(matches!(extract(&PayloadSource::Preset(Preset::Clickhouse), &req, Some(b"x")), Err(ExtractError::Encoded(_))));
    }

    #[test]
    fn trino_prepared_statements_in_headers_are_read() {
        let req = post("/v1/statement", vec![("X-Trino-Prepared-Statement", "q1=DELETE+FROM+t,q2=SELECT%201")]);
        assert_eq!(
            texts(extract(&PayloadSource::Preset(Preset::Trino), &req, Some(b"EXECUTE q1"))),
            vec!["EXECUTE q1", "DELETE FROM t", "SELECT 1"]
        );
    }

    #[test]
    fn hasura_bulk_is_walked_with_dialects() {
        let req = post("/v2/query", vec![]);
        let body = br#"{"type":"bulk","args":[{"type":"run_sql","args":{"sql":"SELECT 1"}},
            {"type":"bulk","args":[{"type":"mssql_run_sql","args":{"sql":"DROP TABLE t"}}]}]}"#;
        let found = extract(&PayloadSource::Preset(Preset::Hasura), &req, Some(body)).unwrap();
        assert_eq!(found[1], Payload { text: "DROP TABLE t".into(), dialect: Some(Dialect::Mssql) });
    }

    #[test]
    fn missing_and_malformed_payloads() {
        let req = post("/", vec![]);
        assert!(matches!(extract(&PayloadSource::Body, &req, None), Err(ExtractError::Missing(_))));
        assert!(matches!(
            extract(&PayloadSource::Json(vec!["/q".into()]), &req, Some(b"{\"q\": 5}")),
            Err(ExtractError::Malformed(_))
        ));
        assert!(matches!(extract(&PayloadSource::Body, &req, Some(&[0xff, 0xfe])), Err(ExtractError::Malformed(_))));
        let form = post("/", vec![]);
        assert_eq!(
            texts(extract(&PayloadSource::Form("sql".into()), &form, Some(b"a=1&sql=SELECT+*+FROM+t"))),
            vec!["SELECT * FROM t"]
        );
    }
}
