//! A model's answers through the compiled filter on an `llm` route: a streamed Chat Completions
//! answer cut at every byte loses its denied call and keeps the allowed one renumbered; an
//! Anthropic message has the denied block replaced in place; monitor mode passes the answer
//! byte for byte; an answer that is not the API's shape is withheld; with `on_deny: error` the
//! answer waits whole and a denied call makes it the provider's 403.

use serde_json::{json, Value};

use crate::common::*;
use guardrails_host::{Host, StreamId};

const POLICY: &str = r#"
version: 1
identity: {principal: [{header: x-agent-id}], agent_when: [{principal: "agent:*"}]}
routes:
  - name: openai
    match: {path_prefix: /v1}
    llm: {provider: openai, sql: [{tool: run_sql, pointer: /query, dialect: postgres}]}
    rules: [no-drops]
  - name: anthropic
    match: {path_prefix: /anthropic}
    llm: {provider: anthropic}
    rules: [no-delete-tools]
rules:
  - {name: no-drops, effect: deny, when: {sql: {operations: [drop, truncate]}}, message: "Dropping tables goes through migrations."}
  - {name: no-delete-tools, effect: deny, when: {tool: {names: ["delete_*"]}}}
"#;

fn ask(host: &mut Host, path: &str) -> StreamId {
    let body = json!({"model": "m", "stream": true, "messages": [{"role": "user", "content": "go"}]}).to_string();
    send(host, &headers("POST", path, &[("x-agent-id", "agent:ops"), ("content-type", "application/json")]), &[body.as_bytes()])
}

fn answer(host: &mut Host, path: &str, content_type: &str, chunks: &[&[u8]]) -> Vec<u8> {
    let id = ask(host, path);
    assert!(passed(host, id), "the question is allowed");
    host.response_headers(id, &[(":status", "200"), ("content-type", content_type)], false);
    for (i, chunk) in chunks.iter().enumerate() {
        host.response_body(id, chunk, i + 1 == chunks.len());
    }
    let got = host.stream(id).response.forwarded_body.clone();
    host.close(id);
    got
}

fn chat_stream() -> Vec<u8> {
    let chunk = |choices: Value| {
        format!(
            "data: {}\n\n",
            json!({"id": "c", "object": "chat.completion.chunk", "created": 1, "model": "m", "choices": choices})
        )
    };
    let frag = |i: u64, f: Value| {
        chunk(
            json!([{"index": 0, "delta": {"tool_calls": [f.as_object().unwrap().clone().into_iter().chain([("index".to_string(), json!(i))]).collect::<serde_json::Map<_, _>>()]}, "finish_reason": null}]),
        )
    };
    let mut s = chunk(json!([{"index": 0, "delta": {"role": "assistant", "content": "On it."}, "finish_reason": null}]));
    s += &frag(0, json!({"id": "call_A", "type": "function", "function": {"name": "run_sql", "arguments": "{\"query\": \"DRO"}}));
    s += &frag(0, json!({"function": {"arguments": "P TABLE users\"}"}}));
    s += &frag(
        1,
        json!({"id": "call_B", "type": "function", "function": {"name": "run_sql", "arguments": "{\"query\": \"SELECT 1\"}"}}),
    );
    s += &chunk(json!([{"index": 0, "delta": {}, "finish_reason": "tool_calls"}]));
    s += "data: [DONE]\n\n";
    s.into_bytes()
}

/// Content, calls (index, id, arguments) and finish reason, as the SDK accumulates them.
fn accumulate(out: &[u8]) -> (String, Vec<(u64, String, String)>, String) {
    let (mut content, mut calls, mut finish) = (String::new(), Vec::<(u64, String, String)>::new(), String::new());
    for event in String::from_utf8_lossy(out).split("\n\n").filter_map(|e| e.strip_prefix("data: ")) {
        let Ok(chunk) = serde_json::from_str::<Value>(event) else { continue };
        for c in chunk["choices"].as_array().into_iter().flatten() {
            content.push_str(c["delta"]["content"].as_str().unwrap_or_default());
            for f in c["delta"]["tool_calls"].as_array().into_iter().flatten() {
                let index = f["index"].as_u64().unwrap();
                if calls.last().is_none_or(|l| l.0 != index) {
                    calls.push((index, String::new(), String::new()));
                }
                let call = calls.last_mut().unwrap();
                call.1.push_str(f["id"].as_str().unwrap_or_default());
                call.2.push_str(f["function"]["arguments"].as_str().unwrap_or_default());
            }
            finish = c["finish_reason"].as_str().map(str::to_string).unwrap_or(finish);
        }
    }
    (content, calls, finish)
}

#[test]
fn a_streamed_answer_loses_its_denied_call_however_it_is_cut() {
    let mut host = start(POLICY);
    let body = chat_stream();
    let whole = answer(&mut host, "/v1/chat/completions", "text/event-stream", &[&body]);
    let (content, calls, finish) = accumulate(&whole);
    assert!(
        content.starts_with("On it.\n\n[Access Guardrails] The tool call \"run_sql\" (call_A) was denied by rule \"no-drops\""),
        "{content}"
    );
    assert_eq!(calls, vec![(0, "call_B".to_string(), "{\"query\": \"SELECT 1\"}".to_string())]);
    assert_eq!(finish, "tool_calls");
    assert!(whole.ends_with(b"data: [DONE]\n\n"));
    for cut in 0..=body.len() {
        let got = answer(&mut host, "/v1/chat/completions", "text/event-stream", &[&body[..cut], &body[cut..]]);
        assert_eq!(got, whole, "cut at {cut}");
    }
    let bytes: Vec<&[u8]> = body.chunks(1).collect();
    assert_eq!(answer(&mut host, "/v1/chat/completions", "text/event-stream", &bytes), whole);
}

#[test]
fn a_whole_anthropic_message_has_the_denied_block_replaced_in_place() {
    let mut host = start(POLICY);
    let message = json!({"id": "msg", "type": "message", "role": "assistant", "stop_reason": "tool_use", "content": [
        {"type": "text", "text": "Cleaning."},
        {"type": "tool_use", "id": "toolu_1", "name": "delete_project", "input": {"id": 7}}]});
    let got = answer(&mut host, "/anthropic/v1/messages", "application/json", &[message.to_string().as_bytes()]);
    let got: Value = serde_json::from_slice(&got).expect("still JSON");
    assert_eq!(got["content"][1]["type"], "text");
    assert!(got["content"][1]["text"].as_str().unwrap().contains("no-delete-tools"));
    assert_eq!(got["stop_reason"], "end_turn");
}

#[test]
fn monitor_mode_passes_the_answer_and_broken_answers_are_withheld() {
    let mut host = start(&POLICY.replace("version: 1", "version: 1\nmode: monitor"));
    let body = chat_stream();
    assert_eq!(answer(&mut host, "/v1/chat/completions", "text/event-stream", &[&body]), body);
    let mut host = start(POLICY);
    let got = answer(&mut host, "/v1/chat/completions", "text/event-stream", &[b"data: {not json\n\n", b"data: [DONE]\n\n"]);
    let event = String::from_utf8(got).unwrap();
    let error: Value =
        serde_json::from_str(event.strip_prefix("data: ").expect("an event").trim()).expect("the provider's error");
    assert_eq!(error["error"]["code"], "limits.on_unparsable");
    let got = answer(&mut host, "/anthropic/v1/messages", "application/json", &[b"{\"content\": ["]);
    let error: Value = serde_json::from_slice(&got).expect("the provider's error body");
    assert_eq!(error["error"]["type"], "permission_error");
}

fn anthropic_stream(tool: &str) -> Vec<u8> {
    let event = |name: &str, data: Value| format!("event: {name}\ndata: {data}\n\n");
    let mut s = event(
        "message_start",
        json!({"type": "message_start", "message": {"id": "msg", "type": "message",
        "role": "assistant", "content": [], "stop_reason": null, "usage": {"input_tokens": 1, "output_tokens": 1}}}),
    );
    s += &event(
        "content_block_start",
        json!({"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}}),
    );
    s += &event(
        "content_block_delta",
        json!({"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": "Cleaning."}}),
    );
    s += &event("content_block_stop", json!({"type": "content_block_stop", "index": 0}));
    s += &event(
        "content_block_start",
        json!({"type": "content_block_start", "index": 1,
        "content_block": {"type": "tool_use", "id": "toolu_1", "name": tool, "input": {}}}),
    );
    for part in ["{\"id\"", ": 7}"] {
        s += &event(
            "content_block_delta",
            json!({"type": "content_block_delta", "index": 1,
            "delta": {"type": "input_json_delta", "partial_json": part}}),
        );
    }
    s += &event("content_block_stop", json!({"type": "content_block_stop", "index": 1}));
    s += &event(
        "message_delta",
        json!({"type": "message_delta", "delta": {"stop_reason": "tool_use"}, "usage": {"output_tokens": 9}}),
    );
    s += &event("message_stop", json!({"type": "message_stop"}));
    s.into_bytes()
}

/// With `on_deny: error` and `allow_on_headers_stop_iteration`: whether the answer's headers
/// went out, what went with them, and the local reply (status, body) if one went instead.
fn held_answer(host: &mut Host, chunks: &[&[u8]]) -> (bool, Vec<u8>, Option<(u32, Value)>) {
    let id = ask(host, "/anthropic/v1/messages");
    assert!(passed(host, id), "the question is allowed");
    host.response_headers(id, &[(":status", "200"), ("content-type", "text/event-stream")], false);
    for (i, chunk) in chunks.iter().enumerate() {
        let stream = host.stream(id);
        assert!(!stream.response.headers_forwarded || stream.local_reply.is_some(), "the headers wait");
        host.response_body(id, chunk, i + 1 == chunks.len());
    }
    let stream = host.stream(id);
    let reply = stream.local_reply.as_ref().map(|r| (r.status, serde_json::from_slice(&r.body).expect("a JSON error")));
    let got = (stream.response.headers_forwarded && reply.is_none(), stream.response.forwarded_body.clone(), reply);
    host.close(id);
    got
}

#[test]
fn with_on_deny_error_the_answer_waits_whole_and_a_denied_call_answers_403() {
    let policy = POLICY.replace("llm: {provider: anthropic}", "llm: {provider: anthropic, on_deny: error}");
    let policy = format!("{policy}\nproxy: {{allow_on_headers_stop_iteration: true}}");
    let mut host = start_with(&policy, |o| o.allow_on_headers_stop_iteration = true);
    let allowed = anthropic_stream("read_project");
    let bytes: Vec<&[u8]> = allowed.chunks(1).collect();
    assert_eq!(held_answer(&mut host, &bytes), (true, allowed.clone(), None), "an allowed answer goes whole, unchanged");
    let denied = anthropic_stream("delete_project");
    for cut in 0..=denied.len() {
        let (sent, body, reply) = held_answer(&mut host, &[&denied[..cut], &denied[cut..]]);
        assert!(!sent && body.is_empty(), "nothing of a refused answer goes (cut at {cut})");
        let (status, error) = reply.expect("the provider's error");
        assert_eq!((status, error["error"]["type"].as_str()), (403, Some("permission_error")), "cut at {cut}");
        assert!(error["error"]["message"].as_str().unwrap().contains("Denied by Access Guardrails"));
    }
    let id = ask(&mut host, "/anthropic/v1/messages");
    host.response_headers(id, &[(":status", "200"), ("content-type", "text/event-stream")], false);
    host.response_body(id, &allowed, false);
    let stream = host.stream(id);
    assert!(stream.response.headers_forwarded, "released at message_stop, before the upstream closes");
    assert_eq!(stream.response.forwarded_body, allowed);
    host.response_body(id, b"event: content_block_start\ndata: {}\n\n", true);
    assert_eq!(host.stream(id).response.forwarded_body, allowed, "nothing after the last event goes");
    host.close(id);
    let small = start_with(&policy.replace("version: 1", "version: 1\nlimits: {max_body_bytes: 200}"), |o| {
        o.allow_on_headers_stop_iteration = true
    });
    let (sent, body, reply) = held_answer(&mut { small }, &bytes);
    assert!(!sent && body.is_empty());
    assert_eq!(reply.map(|(status, _)| status), Some(403), "an answer held past the limit is refused (on_oversize: deny)");
}

const MASKED: &str = r#"
version: 1
identity: {principal: [{header: x-agent-id}], agent_when: [{principal: "agent:*"}]}
routes:
  - name: openai
    match: {path_prefix: /v1}
    llm: {provider: openai}
    mask:
      actor: agent
      detectors: {email: redact, api_key: redact}
      fields: [{pointer: /metadata/customer_id}]
    rules: []
rules: []
audit: {cluster: audit_log, path: "/?query=INSERT", batch: {max_records: 1, flush_ms: 1}}
"#;

/// The body the provider receives for `body`, the status of any local reply, and the record.
fn sent_out(policy: &str, content_type: &str, body: &[u8]) -> (Vec<u8>, Option<u32>, Value) {
    use access_guardrails::audit::encode::records;
    use access_guardrails::policy::schema::AuditFormat;
    let mut host = start_with(policy, |o| o.clusters = vec!["audit_log".into()]);
    let length = body.len().to_string();
    let sent = [("x-agent-id", "agent:ops"), ("content-type", content_type), ("content-length", &length)];
    let head = headers("POST", "/v1/chat/completions", &sent);
    let id = send(&mut host, &head, &[body]);
    let stream = host.stream(id);
    let (forwarded, reply) = (stream.request.forwarded_body.clone(), stream.local_reply.as_ref().map(|r| r.status));
    assert!(stream.request.headers.iter().all(|(k, _)| k != "content-length") || policy.contains("monitor"), "the length goes");
    host.close(id);
    host.advance(std::time::Duration::from_millis(60));
    let record = host
        .http_calls()
        .iter()
        .flat_map(|c| records(AuditFormat::Ndjson, &c.body).unwrap())
        .map(|r| serde_json::from_str::<Value>(&r).unwrap())
        .find(|r| r["route"] == "openai")
        .expect("a record");
    (forwarded, reply, record)
}

#[test]
fn what_goes_out_to_the_provider_is_masked_and_recorded_without_the_values() {
    let key = "sk-proj-Zq3vR8mT2xW9kL4nP7sA1dF6gH0jB5cV";
    let question = json!({"model": "m", "metadata": {"customer_id": "C-991"}, "messages": [
        {"role": "user", "content": "Why did jane.doe@example.com's refund fail?"},
        {"role": "tool", "tool_call_id": "call_1", "content": format!("{{\"owner\": \"ops\u{0040}example.com\", \"key\": \"{key}\"}}")}]});
    let body = question.to_string();
    let (out, reply, record) = sent_out(MASKED, "application/json", body.as_bytes());
    assert_eq!(reply, None);
    let out: Value = serde_json::from_slice(&out).expect("still JSON");
    let text = out.to_string();
    for secret in ["jane.doe@example.com", "ops@example.com", key, "C-991"] {
        assert!(!text.contains(secret), "{secret} left the mesh: {text}");
        assert!(!record.to_string().contains(secret), "{secret} in the record");
    }
    assert_eq!(out["messages"][0]["content"], "Why did [REDACTED:email]'s refund fail?");
    assert_eq!(out["model"], "m");
    let by: Vec<(String, u64)> = record["mask_detectors"]
        .as_array()
        .unwrap()
        .iter()
        .zip(record["mask_counts"].as_array().unwrap())
        .map(|(d, c)| (d.as_str().unwrap().to_string(), c.as_u64().unwrap()))
        .collect();
    assert!(by.contains(&("email".into(), 2)) && by.contains(&("api_key".into(), 1)), "{by:?}");
    assert_eq!(record["mask_note"], "masked on its way to the provider");

    let monitor = MASKED.replace("version: 1", "version: 1\nmode: monitor");
    let (out, reply, record) = sent_out(&monitor, "application/json", body.as_bytes());
    assert_eq!((out, reply), (body.clone().into_bytes(), None), "monitor mode sends it as it is");
    assert_eq!(record["mask_note"], "monitor mode: counted, not applied");

    let (out, reply, record) = sent_out(MASKED, "application/octet-stream", body.as_bytes());
    assert!(out.is_empty() && reply == Some(403), "a body that cannot be masked does not go");
    assert!(record["mask_note"].as_str().unwrap().starts_with("withheld"), "{record}");
}

#[test]
fn a_replacement_sent_back_to_the_responses_api_loses_its_minted_id() {
    let mut host = start(POLICY);
    let input = json!({"model": "m", "input": [
        {"role": "user", "content": "clean up"},
        {"type": "message", "id": "msg_agdenied_call_A", "role": "assistant", "status": "completed",
         "content": [{"type": "output_text", "text": "[Access Guardrails] The tool call was denied.", "annotations": []}]},
        {"role": "user", "content": "ok, only read then"}]});
    let body = input.to_string();
    let head = headers("POST", "/v1/responses", &[("x-agent-id", "agent:ops"), ("content-type", "application/json")]);
    let id = send(&mut host, &head, &[body.as_bytes()]);
    assert!(passed(&host, id));
    let out: Value = serde_json::from_slice(&host.stream(id).request.forwarded_body).expect("JSON");
    assert_eq!(
        out["input"][1],
        json!({"type": "message", "role": "assistant", "content": "[Access Guardrails] The tool call was denied."})
    );
    assert_eq!((&out["input"][0], &out["input"][2]), (&input["input"][0], &input["input"][2]));
    let chat = json!({"model": "m", "messages": [{"role": "user", "content": "msg_agdenied_x"}]}).to_string();
    let head = headers("POST", "/v1/chat/completions", &[("x-agent-id", "agent:ops"), ("content-type", "application/json")]);
    let id = send(&mut host, &head, &[chat.as_bytes()]);
    assert_eq!(host.stream(id).request.forwarded_body, chat.as_bytes(), "other APIs' bodies go as they are");
}
