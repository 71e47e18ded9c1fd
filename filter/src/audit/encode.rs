//! A batch of records as each sink's HTTP input reads it.
//!
//! - `ndjson`: one record per line; ClickHouse `INSERT ... FORMAT JSONEachRow`, Vector's and
//!   Fluent Bit's HTTP inputs, Loki's promtail-less pushes through Vector.
//! - `otlp`: an OTLP/HTTP JSON `ExportLogsServiceRequest` (POST `/v1/logs`): one `LogRecord` per
//!   record, its fields as attributes and the record as the body.
//! - `elasticsearch`: a `_bulk` body of `create` actions (works for data streams).
//! - `splunk_hec`: HEC events (POST `/services/collector/event`), one JSON event per line.

use serde_json::{json, Map, Value};

use crate::policy::schema::AuditFormat;

/// One record waiting to be shipped.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Entry {
    pub seq: u64,
    pub time_nanos: u64,
    pub deny: bool,
    /// A gap record: never dropped itself, or the loss it reports would go unreported.
    pub gap: bool,
    /// The record as JSON text.
    pub json: String,
}

pub struct Payload {
    pub body: Vec<u8>,
    pub content_type: &'static str,
}

pub fn batch(format: AuditFormat, entries: &[Entry]) -> Payload {
    let mut body = Vec::with_capacity(entries.iter().map(|e| e.json.len() + 32).sum());
    match format {
        AuditFormat::Ndjson => {
            for e in entries {
                body.extend(e.json.as_bytes());
                body.push(b'\n');
            }
            Payload { body, content_type: "application/x-ndjson" }
        }
        AuditFormat::Elasticsearch => {
            for e in entries {
                body.extend(b"{\"create\":{}}\n");
                body.extend(e.json.as_bytes());
                body.push(b'\n');
            }
            Payload { body, content_type: "application/x-ndjson" }
        }
        AuditFormat::SplunkHec => {
            for e in entries {
                let time = format!("{}.{:06}", e.time_nanos / 1_000_000_000, e.time_nanos % 1_000_000_000 / 1_000);
                body.extend(
                    format!("{{\"time\":{time},\"source\":\"access-guardrails\",\"sourcetype\":\"_json\",\"event\":").as_bytes(),
                );
                body.extend(e.json.as_bytes());
                body.extend(b"}\n");
            }
            Payload { body, content_type: "application/json" }
        }
        AuditFormat::Otlp => {
            let records: Vec<Value> = entries.iter().map(otlp_record).collect();
            let request = json!({"resourceLogs": [{
                "resource": {"attributes": [
                    {"key": "service.name", "value": {"stringValue": "access-guardrails"}},
                    {"key": "service.version", "value": {"stringValue": env!("CARGO_PKG_VERSION")}},
                ]},
                "scopeLogs": [{"scope": {"name": "access-guardrails", "version": env!("CARGO_PKG_VERSION")}, "logRecords": records}],
            }]});
            Payload { body: request.to_string().into_bytes(), content_type: "application/json" }
        }
    }
}

/// The records in a payload [`batch`] made, as JSON texts: what a sink received, for
/// `guardrails test --audit-out` and for tests.
pub fn records(format: AuditFormat, body: &[u8]) -> Result<Vec<String>, String> {
    let text = std::str::from_utf8(body).map_err(|e| format!("payload is not UTF-8: {e}"))?;
    let lines = text.lines().filter(|l| !l.trim().is_empty());
    let parse = |line: &str| serde_json::from_str::<Value>(line).map_err(|e| format!("not JSON: {e}"));
    match format {
        AuditFormat::Ndjson => lines.map(|l| parse(l).map(|v| v.to_string())).collect(),
        AuditFormat::Elasticsearch => lines.skip(1).step_by(2).map(|l| parse(l).map(|v| v.to_string())).collect(),
        AuditFormat::SplunkHec => lines.map(|l| Ok(parse(l)?["event"].to_string())).collect(),
        AuditFormat::Otlp => {
            let request = parse(text)?;
            let mut out = Vec::new();
            for resource in request["resourceLogs"].as_array().into_iter().flatten() {
                for scope in resource["scopeLogs"].as_array().into_iter().flatten() {
                    for log in scope["logRecords"].as_array().into_iter().flatten() {
                        let body = log["body"]["stringValue"].as_str().ok_or("a log record without a string body")?;
                        out.push(body.to_string());
                    }
                }
            }
            Ok(out)
        }
    }
}

/// An OTLP `LogRecord`: INFO for allows, WARN for denies (severity numbers 9 and 13).
fn otlp_record(entry: &Entry) -> Value {
    let record: Map<String, Value> = serde_json::from_str(&entry.json).unwrap_or_default();
    let attributes: Vec<Value> = record
        .iter()
        .filter(|(_, v)| !v.is_null())
        .map(|(k, v)| json!({"key": format!("guardrails.{k}"), "value": any_value(v)}))
        .collect();
    let (number, text) = if entry.deny { (13, "WARN") } else { (9, "INFO") };
    let mut log = json!({
        "timeUnixNano": entry.time_nanos.to_string(),
        "observedTimeUnixNano": entry.time_nanos.to_string(),
        "severityNumber": number,
        "severityText": text,
        "body": {"stringValue": entry.json},
        "attributes": attributes,
    });
    // The W3C trace id travels as OTLP's hex traceId (proto3 JSON of bytes fields is hex here).
    if let Some(trace) = record.get("trace_id").and_then(Value::as_str).filter(|t| t.len() == 32) {
        log["traceId"] = json!(trace);
    }
    log
}

/// OTLP `AnyValue` in the protobuf JSON mapping: 64-bit integers as strings.
fn any_value(value: &Value) -> Value {
    match value {
        Value::String(s) => json!({"stringValue": s}),
        Value::Bool(b) => json!({"boolValue": b}),
        Value::Number(n) if n.is_i64() || n.is_u64() => json!({"intValue": n.to_string()}),
        Value::Number(n) => json!({"doubleValue": n.as_f64()}),
        Value::Array(items) => json!({"arrayValue": {"values": items.iter().map(any_value).collect::<Vec<_>>()}}),
        Value::Object(map) => {
            json!({"kvlistValue": {"values": map.iter().map(|(k, v)| json!({"key": k, "value": any_value(v)})).collect::<Vec<_>>()}})
        }
        Value::Null => json!({}),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entries() -> Vec<Entry> {
        (1..=2)
            .map(|seq| Entry {
                seq,
                time_nanos: 1_767_225_600_123_456_000,
                deny: seq == 2,
                gap: false,
                json: json!({"chain_seq": seq, "decision_rule": "r", "action_operations": ["drop"], "trace_id": null})
                    .to_string(),
            })
            .collect()
    }

    #[test]
    fn every_format_gives_back_its_records() {
        let sent: Vec<String> = entries().into_iter().map(|e| e.json).collect();
        for format in [AuditFormat::Ndjson, AuditFormat::Elasticsearch, AuditFormat::SplunkHec, AuditFormat::Otlp] {
            let body = batch(format, &entries()).body;
            let got: Vec<Value> = records(format, &body).unwrap().iter().map(|r| serde_json::from_str(r).unwrap()).collect();
            let want: Vec<Value> = sent.iter().map(|r| serde_json::from_str(r).unwrap()).collect();
            assert_eq!(got, want, "{format:?}");
        }
    }

    #[test]
    fn ndjson_and_bulk_are_one_record_per_line() {
        let nd = batch(AuditFormat::Ndjson, &entries());
        let text = String::from_utf8(nd.body).unwrap();
        assert_eq!(text.lines().count(), 2);
        assert!(text.lines().all(|l| serde_json::from_str::<Value>(l).is_ok()) && text.ends_with('\n'));
        let bulk = String::from_utf8(batch(AuditFormat::Elasticsearch, &entries()).body).unwrap();
        let lines: Vec<&str> = bulk.lines().collect();
        assert_eq!(lines.len(), 4);
        assert_eq!(lines[0], "{\"create\":{}}");
        assert_eq!(serde_json::from_str::<Value>(lines[3]).unwrap()["chain_seq"], 2);
    }

    #[test]
    fn splunk_events_carry_time_and_the_record() {
        let hec = String::from_utf8(batch(AuditFormat::SplunkHec, &entries()).body).unwrap();
        for line in hec.lines() {
            let event: Value = serde_json::from_str(line).unwrap();
            assert_eq!(event["time"].as_f64().unwrap(), 1_767_225_600.123456);
            assert_eq!(event["event"]["decision_rule"], "r");
        }
    }

    #[test]
    fn otlp_is_an_export_logs_request() {
        let payload: Value = serde_json::from_slice(&batch(AuditFormat::Otlp, &entries()).body).unwrap();
        let logs = &payload["resourceLogs"][0]["scopeLogs"][0]["logRecords"];
        assert_eq!(logs.as_array().unwrap().len(), 2);
        assert_eq!(logs[1]["severityNumber"], 13);
        assert_eq!(logs[0]["timeUnixNano"], "1767225600123456000");
        let attrs = logs[0]["attributes"].as_array().unwrap();
        assert!(attrs.contains(&json!({"key": "guardrails.chain_seq", "value": {"intValue": "1"}})));
        assert!(attrs.contains(
            &json!({"key": "guardrails.action_operations", "value": {"arrayValue": {"values": [{"stringValue": "drop"}]}}})
        ));
        assert!(!attrs.iter().any(|a| a["key"] == "guardrails.trace_id"), "nulls are left out");
    }
}
