//! Response masking through the compiled filter: JSON and text bodies split anywhere, the
//! headers a masked response gets, compressed, binary, oversize and streaming responses, whose
//! responses are masked, monitor mode, what the audit record says, and escaped JSON (Go's and
//! Python's defaults) and form bodies matched as their clients read them.

use std::io::Write;
use std::time::Duration;

use crate::common::*;
use access_guardrails::audit::encode::records;
use access_guardrails::policy::schema::AuditFormat;
use guardrails_host::{Host, StreamId};
use serde_json::{json, Value};

const POLICY: &str = r#"
version: 1
identity: {principal: [{header: x-agent-id}], agent_when: [{principal: "agent:*"}]}
routes:
  - name: customers
    match: {path_prefix: /customers}
    mask:
      actor: agent
      detectors: {email: redact, credit_card: partial, us_ssn: redact}
      patterns: [{name: employee_id, regex: "EMP-[0-9]{6}", action: hash}]
      fields: [{name: "date_of_birth"}, {pointer: /account/iban, action: partial}]
      max_body_bytes: 4096
    rules: []
rules: []
audit: {cluster: audit_log, path: "/?query=INSERT", batch: {max_records: 1, flush_ms: 1}}
"#;

fn start_masking(policy: &str) -> Host {
    start_with(policy, |o| o.clusters = vec!["audit_log".into()])
}

fn get(host: &mut Host, who: &str) -> StreamId {
    send(host, &headers("GET", "/customers/7", &[("x-agent-id", who), ("accept-encoding", "gzip, br")]), &[])
}

/// Sends the upstream's response in `chunks`; returns what the client got.
fn respond(host: &mut Host, id: StreamId, headers: &[(&str, &str)], chunks: &[&[u8]]) -> (String, Vec<u8>) {
    host.response_headers(id, headers, chunks.is_empty());
    for (i, chunk) in chunks.iter().enumerate() {
        host.response_body(id, chunk, i + 1 == chunks.len());
    }
    let flow = &host.stream(id).response;
    let status = flow.headers.iter().find(|(n, _)| n == ":status").map(|(_, v)| String::from_utf8_lossy(v).into_owned());
    (status.unwrap_or_default(), flow.forwarded_body.clone())
}

fn header(host: &Host, id: StreamId, name: &str) -> Option<String> {
    host.stream(id).response.headers.iter().find(|(n, _)| n == name).map(|(_, v)| String::from_utf8_lossy(v).into_owned())
}

fn customer() -> Vec<u8> {
    json!({
        "id": 7, "name": "Jane", "email": "jane.doe@example.com", "date_of_birth": "1990-04-01",
        "card": "4111 1111 1111 1111", "notes": "ssn 123-45-6789, badge EMP-004211, backup jane@corp.example",
        "account": {"iban": "GB82WEST12345698765432", "balance": 10}
    })
    .to_string()
    .into_bytes()
}

#[test]
fn an_agent_gets_the_json_masked_and_still_valid_whatever_the_chunking() {
    let mut host = start_masking(POLICY);
    let body = customer();
    for cut in (1..body.len()).step_by(7) {
        let id = get(&mut host, "agent:support");
        // The upstream is asked for an uncompressed body.
        let accept = host.stream(id).request.headers.iter().find(|(n, _)| n == "accept-encoding").map(|(_, v)| v.clone());
        assert_eq!(accept.as_deref(), Some(&b"identity"[..]));
        let length = body.len().to_string();
        let (status, got) = respond(
            &mut host,
            id,
            &[(":status", "200"), ("content-type", "application/json"), ("content-length", &length)],
            &[&body[..cut], &body[cut..]],
        );
        assert_eq!(status, "200");
        assert_eq!(header(&host, id, "content-length"), None, "the length changed, so it goes");
        let v: Value =
            serde_json::from_slice(&got).unwrap_or_else(|e| panic!("cut {cut}: {e}: {}", String::from_utf8_lossy(&got)));
        assert_eq!(v["email"], "[REDACTED:email]");
        assert_eq!(v["date_of_birth"], "[REDACTED:date_of_birth]");
        assert_eq!(v["card"], "**** **** **** 1111");
        assert_eq!(v["account"]["iban"], "******************5432");
        let notes = v["notes"].as_str().unwrap();
        assert!(
            notes.starts_with("ssn [REDACTED:us_ssn], badge [employee_id:") && notes.ends_with(", backup [REDACTED:email]"),
            "{notes}"
        );
        assert_eq!((v["id"].as_i64(), v["name"].as_str()), (Some(7), Some("Jane")));
        host.close(id);
    }
    assert!(host.failure(0).is_none());
}

#[test]
fn people_and_binary_bodies_are_not_touched() {
    let mut host = start_masking(POLICY);
    let body = customer();
    let id = get(&mut host, "alice");
    let (_, got) = respond(&mut host, id, &[(":status", "200"), ("content-type", "application/json")], &[&body]);
    assert_eq!(got, body);
    // A person's request keeps its accept-encoding, and the compressed answer passes as it is.
    let id = get(&mut host, "alice");
    let accept = host.stream(id).request.headers.iter().find(|(n, _)| n == "accept-encoding").map(|(_, v)| v.clone());
    assert_eq!(accept.as_deref(), Some(&b"gzip, br"[..]));
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    e.write_all(&body).unwrap();
    let gz = e.finish().unwrap();
    let compressed = [(":status", "200"), ("content-type", "application/json"), ("content-encoding", "gzip")];
    let (_, got) = respond(&mut host, id, &compressed, &[&gz]);
    assert_eq!(got, gz);
    assert_eq!(header(&host, id, "content-encoding").as_deref(), Some("gzip"));
    let id = get(&mut host, "agent:support");
    let png = b"\x89PNG jane.doe@example.com";
    let (_, got) = respond(&mut host, id, &[(":status", "200"), ("content-type", "image/png"), ("content-length", "25")], &[png]);
    assert_eq!(got, png);
    assert_eq!(header(&host, id, "content-length").as_deref(), Some("25"));
}

#[test]
fn compressed_responses_are_masked_decoded() {
    let mut host = start_masking(POLICY);
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    e.write_all(b"write to jane.doe@example.com").unwrap();
    let gz = e.finish().unwrap();
    let id = get(&mut host, "agent:support");
    let (_, got) =
        respond(&mut host, id, &[(":status", "200"), ("content-type", "text/plain"), ("content-encoding", "gzip")], &[&gz]);
    assert_eq!(got, b"write to [REDACTED:email]");
    assert_eq!(header(&host, id, "content-encoding"), None);
    // An encoding the filter cannot read is withheld.
    let id = get(&mut host, "agent:support");
    let (status, got) =
        respond(&mut host, id, &[(":status", "200"), ("content-type", "text/plain"), ("content-encoding", "br")], &[b"\x1b\x00"]);
    assert_eq!(status, "502");
    let v: Value = serde_json::from_slice(&got).unwrap();
    assert_eq!(v["error"], "access_guardrails_unmaskable");
    assert_eq!(v["request_id"], "rid-7");
}

#[test]
fn oversize_responses_follow_on_unmaskable() {
    let mut host = start_masking(POLICY);
    let big = format!("{{\"email\": \"a@b.io\", \"pad\": \"{}\"}}", "x".repeat(5000)).into_bytes();
    // Declared over the limit: refused at the headers, nothing of the body reaches the client.
    let id = get(&mut host, "agent:support");
    let (status, got) = respond(
        &mut host,
        id,
        &[(":status", "200"), ("content-type", "application/json"), ("content-length", "5030")],
        &[&big[..2000], &big[2000..]],
    );
    assert_eq!(status, "502");
    assert!(!String::from_utf8_lossy(&got).contains("a@b.io"));
    // Streamed past the limit: the headers are gone, the body is replaced.
    let id = get(&mut host, "agent:support");
    let (status, got) =
        respond(&mut host, id, &[(":status", "200"), ("content-type", "application/json")], &[&big[..3000], &big[3000..]]);
    assert_eq!(status, "200");
    let v: Value = serde_json::from_slice(&got).expect("the replacement is JSON");
    assert_eq!(v["error"], "access_guardrails_unmaskable");
    // With on_unmaskable: allow, it passes as it is.
    let mut host = start_masking(&POLICY.replace("max_body_bytes: 4096", "max_body_bytes: 4096\n      on_unmaskable: allow"));
    let id = get(&mut host, "agent:support");
    let (_, got) =
        respond(&mut host, id, &[(":status", "200"), ("content-type", "application/json")], &[&big[..3000], &big[3000..]]);
    assert_eq!(got, big);
}

#[test]
fn invalid_json_cannot_have_its_fields_masked() {
    let mut host = start_masking(POLICY);
    let id = get(&mut host, "agent:support");
    let (status, got) = respond(
        &mut host,
        id,
        &[(":status", "200"), ("content-type", "application/json")],
        &[b"{\"date_of_birth\": \"1990\", oops"],
    );
    assert_eq!(status, "200");
    assert!(!String::from_utf8_lossy(&got).contains("1990"), "{}", String::from_utf8_lossy(&got));
}

#[test]
fn monitor_mode_counts_and_changes_nothing() {
    let mut host = start_masking(&format!("mode: monitor\n{POLICY}"));
    let body = customer();
    let id = get(&mut host, "agent:support");
    let (_, got) = respond(
        &mut host,
        id,
        &[(":status", "200"), ("content-type", "application/json"), ("content-length", &body.len().to_string())],
        &[&body],
    );
    assert_eq!(got, body);
    assert_eq!(header(&host, id, "content-length"), Some(body.len().to_string()));
}

#[test]
fn the_record_counts_what_was_masked_never_the_values() {
    let mut host = start_masking(POLICY);
    let body = customer();
    let id = get(&mut host, "agent:support");
    respond(&mut host, id, &[(":status", "200"), ("content-type", "application/json")], &[&body]);
    host.close(id);
    host.advance(Duration::from_millis(60));
    let calls = host.http_calls();
    let record: Value = calls
        .iter()
        .flat_map(|c| records(AuditFormat::Ndjson, &c.body).unwrap())
        .map(|r| serde_json::from_str::<Value>(&r).unwrap())
        .find(|r| r["route"] == "customers")
        .expect("a record");
    let detectors: Vec<&str> = record["mask_detectors"].as_array().unwrap().iter().map(|v| v.as_str().unwrap()).collect();
    let counts: Vec<u64> = record["mask_counts"].as_array().unwrap().iter().map(|v| v.as_u64().unwrap()).collect();
    let by: std::collections::BTreeMap<&str, u64> = detectors.into_iter().zip(counts).collect();
    assert_eq!(by.get("email"), Some(&2));
    assert_eq!(by.get("us_ssn"), Some(&1));
    assert_eq!(by.get("credit_card"), Some(&1));
    assert_eq!(by.get("employee_id"), Some(&1));
    assert_eq!(by.get("date_of_birth"), Some(&1));
    assert_eq!(by.get("/account/iban"), Some(&1));
    let text = record.to_string();
    for secret in ["jane.doe@example.com", "123-45-6789", "4111", "1990-04-01"] {
        assert!(!text.contains(secret), "{secret} leaked into the record");
    }
}

#[test]
fn go_and_python_escaped_json_is_masked_as_the_client_reads_it_and_stays_valid() {
    let mut host = start_masking(POLICY);
    // Go's encoding/json escapes <, > and &; Python's json.dumps writes non-ASCII (and, here, an
    // escaped @) as \uXXXX and astral characters as surrogate pairs.
    let go = br#"{"name": "Jane \u003cjane.doe@example.com\u003e \u0026 co", "card": "4111\u00201111\u00201111\u00201111"}"#;
    let python =
        br#"{"name": "Ren\u00e9 \ud83d\ude00", "email": "jane.doe\u0040example.com", "notes": "ssn 123\u002d45\u002d6789"}"#;
    for body in [&go[..], &python[..]] {
        let id = get(&mut host, "agent:support");
        let (status, got) = respond(&mut host, id, &[(":status", "200"), ("content-type", "application/json")], &[body]);
        assert_eq!(status, "200");
        let v: Value = serde_json::from_slice(&got).unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&got)));
        let text = v.to_string();
        for secret in ["jane.doe@example.com", "4111 1111 1111 1111", "123-45-6789"] {
            assert!(!text.contains(secret), "{secret} in {text}");
        }
        host.close(id);
    }
    let id = get(&mut host, "agent:support");
    let (_, got) = respond(&mut host, id, &[(":status", "200"), ("content-type", "application/json")], &[go]);
    let v: Value = serde_json::from_slice(&got).unwrap();
    assert_eq!((v["name"].as_str(), v["card"].as_str()), (Some("Jane <[REDACTED:email]> & co"), Some("**** **** **** 1111")));
    let id = get(&mut host, "agent:support");
    let (_, got) = respond(&mut host, id, &[(":status", "200"), ("content-type", "application/json")], &[python]);
    let v: Value = serde_json::from_slice(&got).unwrap();
    assert_eq!(v["name"], "Ren\u{e9} \u{1F600}");
    assert_eq!((v["email"].as_str(), v["notes"].as_str()), (Some("[REDACTED:email]"), Some("ssn [REDACTED:us_ssn]")));
}

#[test]
fn a_form_encoded_response_is_masked_percent_decoded() {
    let mut host = start_masking(POLICY);
    let id = get(&mut host, "agent:support");
    let form = [(":status", "200"), ("content-type", "application/x-www-form-urlencoded")];
    let (_, got) = respond(&mut host, id, &form, &[b"user=jane&email=jane.doe%40example.com&note=call+me"]);
    assert_eq!(String::from_utf8(got).unwrap(), "user=jane&email=%5BREDACTED%3Aemail%5D&note=call+me");
}
