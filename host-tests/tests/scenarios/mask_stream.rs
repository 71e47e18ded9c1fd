//! Masked responses as streams through the compiled filter: text, NDJSON, SSE and JSON bodies
//! cut anywhere give what the whole body gives, SSE events go as they complete, a body far over
//! Envoy's buffer limit streams through with only the window held, and gzip streams are decoded.

use std::io::Write;

use crate::common::*;
use guardrails_host::{Host, StreamId};

const POLICY: &str = r#"
version: 1
identity: {principal: [{header: x-agent-id}], agent_when: [{principal: "agent:*"}]}
routes:
  - name: events
    match: {path_prefix: /events}
    mask:
      actor: agent
      detectors: {email: redact, credit_card: partial, us_ssn: redact}
      fields: [{name: "ssn"}]
      max_body_bytes: 4096
    rules: []
rules: []
"#;

fn get(host: &mut Host) -> StreamId {
    send(host, &headers("GET", "/events/1", &[("x-agent-id", "agent:ops")]), &[])
}

/// The upstream's response in `chunks` (the last ends the stream); what the client got.
fn respond(host: &mut Host, content_type: &str, extra: &[(&str, &str)], chunks: &[&[u8]]) -> Vec<u8> {
    let id = get(host);
    let mut headers = vec![(":status", "200"), ("content-type", content_type)];
    headers.extend_from_slice(extra);
    host.response_headers(id, &headers, false);
    for (i, chunk) in chunks.iter().enumerate() {
        host.response_body(id, chunk, i + 1 == chunks.len());
    }
    let got = host.stream(id).response.forwarded_body.clone();
    host.close(id);
    got
}

/// Every cut into two chunks, and one-byte chunks, give what the whole body gives.
fn same_however_cut(host: &mut Host, content_type: &str, body: &[u8]) -> String {
    let whole = respond(host, content_type, &[], &[body]);
    for cut in 0..=body.len() {
        let got = respond(host, content_type, &[], &[&body[..cut], &body[cut..]]);
        assert_eq!(String::from_utf8_lossy(&got), String::from_utf8_lossy(&whole), "{content_type} cut at {cut}");
    }
    let bytes: Vec<&[u8]> = body.chunks(1).collect();
    assert_eq!(respond(host, content_type, &[], &bytes), whole, "{content_type} in one-byte chunks");
    String::from_utf8(whole).unwrap()
}

#[test]
fn every_stream_kind_is_masked_the_same_however_it_is_cut() {
    let mut host = start(POLICY);
    let text = b"write to jane.doe@example.com, card 4111 1111 1111 1111, ssn 123-45-6789.\n";
    assert_eq!(
        same_however_cut(&mut host, "text/plain", text),
        "write to [REDACTED:email], card **** **** **** 1111, ssn [REDACTED:us_ssn].\n"
    );
    let ndjson = b"{\"ssn\": \"123456789\", \"to\": \"a@b.io\"}\n{\"n\": 2, \"note\": \"x@y.com\"}\n";
    assert_eq!(
        same_however_cut(&mut host, "application/x-ndjson", ndjson),
        "{\"ssn\": \"[REDACTED:ssn]\", \"to\": \"[REDACTED:email]\"}\n{\"n\": 2, \"note\": \"[REDACTED:email]\"}\n"
    );
    let sse = b"event: message\ndata: {\"ssn\": 1, \"m\": \"mail a@b.io\"}\n\ndata: plain x@y.com\n\n";
    assert_eq!(
        same_however_cut(&mut host, "text/event-stream", sse),
        "event: message\ndata: {\"ssn\": \"[REDACTED:ssn]\", \"m\": \"mail [REDACTED:email]\"}\n\ndata: plain [REDACTED:email]\n\n"
    );
    let json = br#"{"ssn": "123-45-6789", "contact": {"email": "jane@example.com"}}"#;
    assert_eq!(
        same_however_cut(&mut host, "application/json", json),
        r#"{"ssn": "[REDACTED:ssn]", "contact": {"email": "[REDACTED:email]"}}"#
    );
    assert!(host.failure(0).is_none());
}

#[test]
fn sse_events_reach_the_client_before_the_stream_ends() {
    let mut host = start(POLICY);
    let id = get(&mut host);
    host.response_headers(id, &[(":status", "200"), ("content-type", "text/event-stream")], false);
    host.response_body(id, b"data: {\"progress\": \"mailed jane@example.com\"}\n\n", false);
    let first = host.stream(id).response.forwarded_body.clone();
    assert_eq!(String::from_utf8(first).unwrap(), "data: {\"progress\": \"mailed [REDACTED:email]\"}\n\n");
    host.response_body(id, b"data: {\"result\": ", false);
    assert_eq!(host.stream(id).response.forwarded_body.len(), "data: {\"progress\": \"mailed [REDACTED:email]\"}\n\n".len());
    host.response_body(id, b"\"done\"}\n\n", true);
    assert!(String::from_utf8_lossy(&host.stream(id).response.forwarded_body).ends_with("data: {\"result\": \"done\"}\n\n"));
}

#[test]
fn fifty_megabytes_stream_through_with_only_the_window_held() {
    let mut host = start(POLICY);
    let id = get(&mut host);
    host.response_headers(id, &[(":status", "200"), ("content-type", "text/plain")], false);
    let line = b"order 1234 for jane.doe@example.com shipped\n";
    let chunk: Vec<u8> = line.iter().copied().cycle().take(64 * 1024).collect();
    let chunks = 50 * 1024 * 1024 / chunk.len();
    let mut fed = 0;
    for i in 0..chunks {
        host.response_body(id, &chunk, i + 1 == chunks);
        fed += chunk.len();
        let forwarded = host.stream(id).response.forwarded_body.len();
        // Masking shortens each line a little; beyond that only the window may be missing.
        let masked_so_far = fed / line.len() * (line.len() - "jane.doe@example.com".len() + "[REDACTED:email]".len());
        assert!(forwarded + 4096 + line.len() >= masked_so_far, "chunk {i}: {forwarded} of {masked_so_far} let go");
    }
    let got = &host.stream(id).response.forwarded_body;
    assert!(host.stream(id).local_reply.is_none(), "no reset, no local reply");
    assert!(!got.windows(8).any(|w| w == b"jane.doe"), "every address is masked");
    assert_eq!(got.windows(16).filter(|w| w == b"[REDACTED:email]").count(), chunks * (chunk.len() / line.len()));
}

#[test]
fn a_gzip_stream_is_decoded_and_masked_as_it_comes() {
    let mut host = start(POLICY);
    let text: Vec<u8> = (0..5000).flat_map(|i| format!("{i}: mail jane{i}@example.com\n").into_bytes()).collect();
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    e.write_all(&text).unwrap();
    let gz = e.finish().unwrap();
    let chunks: Vec<&[u8]> = gz.chunks(333).collect();
    let got = respond(&mut host, "text/plain", &[("content-encoding", "gzip")], &chunks);
    let expected: String = (0..5000).map(|i| format!("{i}: mail [REDACTED:email]\n")).collect();
    assert_eq!(String::from_utf8(got).unwrap(), expected);
}

#[test]
fn monitor_mode_streams_unchanged_and_the_record_counts_at_the_end() {
    use access_guardrails::audit::encode::records;
    use access_guardrails::policy::schema::AuditFormat;
    let audited =
        format!("mode: monitor\n{POLICY}audit: {{cluster: audit_log, path: /, batch: {{max_records: 1, flush_ms: 1}}}}\n");
    let mut host = start_with(&audited, |o| o.clusters = vec!["audit_log".into()]);
    let body = b"data: {\"m\": \"a@b.io\"}\n\ndata: {\"ssn\": 1, \"m\": \"c@d.io\"}\n\n";
    let chunks: Vec<&[u8]> = body.chunks(5).collect();
    assert_eq!(respond(&mut host, "text/event-stream", &[], &chunks), body);
    host.advance(std::time::Duration::from_millis(60));
    let record: serde_json::Value = host
        .http_calls()
        .iter()
        .flat_map(|c| records(AuditFormat::Ndjson, &c.body).unwrap())
        .map(|r| serde_json::from_str::<serde_json::Value>(&r).unwrap())
        .find(|r| r["route"] == "events")
        .expect("a record");
    assert_eq!(record["mask_detectors"], serde_json::json!(["email", "ssn"]));
    assert_eq!(record["mask_counts"], serde_json::json!([2, 1]));
    assert_eq!(record["mask_note"], "monitor mode: counted, not applied");
}
