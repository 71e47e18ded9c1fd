//! OpenAI Chat Completions (`POST /v1/chat/completions`): tool calls in
//! `choices[].message.tool_calls[]` ({id, type: function, function: {name, arguments}}, the
//! arguments a JSON string), streamed as `chat.completion.chunk` events whose
//! `choices[].delta.tool_calls[]` fragments share an `index`: the first carries `id` and `name`,
//! the rest pieces of `arguments` (openai-python `types/chat/chat_completion_chunk.py`).
//!
//! A streamed call is complete when a fragment of another index starts in its choice, at the
//! choice's `finish_reason`, or at `[DONE]`: the SDK's own stream helper closes calls the same
//! way. A released call goes out as one fragment renumbered to the next free index (the stream
//! helpers raise on a gap); a replaced one becomes a `content` delta. Text deltas pass at once.

use std::collections::BTreeMap;

use serde_json::{json, Map, Value};

use super::{event_json, Failure, Judge, ToolCall, Verdict};
use crate::http::sse::Event;

/// Rewrites a whole `chat.completion`; true when it changed.
pub fn rewrite(doc: &mut Value, judge: &mut dyn Judge) -> bool {
    let Some(choices) = doc.get_mut("choices").and_then(Value::as_array_mut) else { return false };
    let mut changed = false;
    for choice in choices {
        let Some(message) = choice.get_mut("message").and_then(Value::as_object_mut) else { continue };
        let Some(Value::Array(calls)) = message.remove("tool_calls") else { continue };
        let mut kept = Vec::new();
        let mut notes = Vec::new();
        for call in calls {
            match judge.judge(&whole_call(&call)) {
                Verdict::Release => kept.push(call),
                Verdict::Replace(note) => notes.push(note),
            }
        }
        if notes.is_empty() {
            message.insert("tool_calls".into(), Value::Array(kept));
            continue;
        }
        changed = true;
        let content = match message.get("content").and_then(Value::as_str) {
            Some(text) if !text.is_empty() => format!("{text}\n\n{}", notes.join("\n")),
            _ => notes.join("\n"),
        };
        message.insert("content".into(), Value::String(content));
        if kept.is_empty() {
            if choice.get("finish_reason").and_then(Value::as_str) == Some("tool_calls") {
                choice["finish_reason"] = json!("stop");
            }
        } else {
            choice["message"]["tool_calls"] = Value::Array(kept);
        }
    }
    changed
}

/// A call of a whole message; `custom` tools' free text is read as `{"input": text}`.
pub(super) fn whole_call(call: &Value) -> ToolCall {
    let id = call.get("id").and_then(Value::as_str).unwrap_or_default().to_string();
    let (name, arguments) = match (call.get("function"), call.get("custom")) {
        (Some(f), _) => (text_of(f, "name"), text_of(f, "arguments")),
        (None, Some(c)) => (text_of(c, "name"), json!({"input": text_of(c, "input")}).to_string()),
        _ => return ToolCall { id, name: String::new(), arguments: Err("a tool call of an unknown type".into()) },
    };
    ToolCall::from_text(id, name, &arguments)
}

fn text_of(value: &Value, key: &str) -> String {
    value.get(key).and_then(Value::as_str).unwrap_or_default().to_string()
}

/// A streamed response's state.
#[derive(Debug, Default)]
pub struct Stream {
    choices: BTreeMap<u64, Choice>,
    /// The identity of the last chunk that carried a call ([`identity`]), for the chunks written
    /// when calls close.
    envelope: Value,
}

#[derive(Debug, Default)]
struct Choice {
    open: Option<OpenCall>,
    /// Indexes of calls already closed: a fragment for one of them comes too late.
    closed: Vec<u64>,
    /// The index the next released call gets.
    next_index: u64,
    replaced: usize,
    /// Text went out before: a note starts a paragraph of its own.
    has_text: bool,
}

#[derive(Debug)]
struct OpenCall {
    index: u64,
    kind: String,
    id: String,
    name: String,
    arguments: String,
}

impl Stream {
    pub fn held(&self) -> usize {
        self.choices.values().filter_map(|c| c.open.as_ref()).map(|c| c.arguments.len() + c.name.len()).sum()
    }

    pub fn event(&mut self, event: Event, judge: &mut dyn Judge, out: &mut Vec<u8>) -> Result<(), Failure> {
        if event.data.trim() == "[DONE]" || event.data.is_empty() {
            self.finish(judge, out)?;
            out.extend_from_slice(&event.raw);
            return Ok(());
        }
        let mut chunk = event_json(&event)?;
        for choice in chunk["choices"].as_array().into_iter().flatten() {
            if choice["delta"]["content"].as_str().is_some_and(|t| !t.is_empty()) {
                self.choices.entry(choice["index"].as_u64().unwrap_or(0)).or_default().has_text = true;
            }
        }
        let touched = chunk["choices"]
            .as_array()
            .is_some_and(|cs| cs.iter().any(|c| c["delta"].get("tool_calls").is_some() || !c["finish_reason"].is_null()));
        if !touched {
            out.extend_from_slice(&event.raw);
            return Ok(());
        }
        let Some(Value::Array(choices)) = chunk.as_object_mut().and_then(|o| o.remove("choices")) else {
            return Err(Failure::Malformed("a chunk's choices are not an array".into()));
        };
        self.envelope = identity(&chunk);
        let envelope = chunk;
        let mut rest = Vec::new();
        for mut choice in choices {
            let index = choice["index"].as_u64().unwrap_or(0);
            let state = self.choices.entry(index).or_default();
            if let Some(Value::Array(fragments)) = choice["delta"].as_object_mut().and_then(|d| d.remove("tool_calls")) {
                for fragment in fragments {
                    state.fragment(index, fragment, &self.envelope, judge, out)?;
                }
            }
            if let Some(reason) = choice["finish_reason"].as_str() {
                state.close(index, &self.envelope, judge, out);
                if reason == "tool_calls" && state.next_index == 0 && state.replaced > 0 {
                    choice["finish_reason"] = json!("stop");
                }
            }
            let delta_empty = choice["delta"].as_object().is_none_or(Map::is_empty);
            if !delta_empty || !choice["finish_reason"].is_null() {
                rest.push(choice);
            }
        }
        if !rest.is_empty() {
            write_chunk(&envelope, rest, out);
        }
        Ok(())
    }

    /// The end of the stream (`[DONE]` or the body's end): every open call is decided.
    pub fn finish(&mut self, judge: &mut dyn Judge, out: &mut Vec<u8>) -> Result<(), Failure> {
        for (index, choice) in &mut self.choices {
            choice.close(*index, &self.envelope, judge, out);
        }
        Ok(())
    }
}

impl Choice {
    fn fragment(
        &mut self,
        choice: u64,
        fragment: Value,
        envelope: &Value,
        judge: &mut dyn Judge,
        out: &mut Vec<u8>,
    ) -> Result<(), Failure> {
        let index = fragment["index"].as_u64().ok_or_else(|| Failure::Malformed("a tool call fragment has no index".into()))?;
        if self.open.as_ref().is_some_and(|open| open.index != index) {
            self.close(choice, envelope, judge, out);
        }
        if self.closed.contains(&index) {
            return Err(Failure::Malformed(format!("a fragment of tool call {index} came after the call ended")));
        }
        let open = self.open.get_or_insert_with(|| OpenCall {
            index,
            kind: "function".into(),
            id: String::new(),
            name: String::new(),
            arguments: String::new(),
        });
        if let Some(kind) = fragment["type"].as_str() {
            open.kind = kind.to_string();
        }
        if let Some(id) = fragment["id"].as_str() {
            open.id.push_str(id);
        }
        let body = &fragment[open.kind.as_str()];
        open.name.push_str(body["name"].as_str().unwrap_or_default());
        let piece = if open.kind == "custom" { &body["input"] } else { &body["arguments"] };
        open.arguments.push_str(piece.as_str().unwrap_or_default());
        Ok(())
    }

    /// Decides the open call, if any, and writes what replaces it.
    fn close(&mut self, choice: u64, envelope: &Value, judge: &mut dyn Judge, out: &mut Vec<u8>) {
        let Some(open) = self.open.take() else { return };
        self.closed.push(open.index);
        let arguments = if open.kind == "custom" { json!({"input": open.arguments}).to_string() } else { open.arguments.clone() };
        let call = ToolCall::from_text(open.id.clone(), open.name.clone(), &arguments);
        let delta = match judge.judge(&call) {
            Verdict::Release => {
                let body_key = if open.kind == "custom" { "input" } else { "arguments" };
                let fragment = json!({
                    "index": self.next_index, "id": open.id, "type": open.kind,
                    (open.kind.as_str()): {"name": open.name, (body_key): open.arguments},
                });
                self.next_index += 1;
                json!({"tool_calls": [fragment]})
            }
            Verdict::Replace(note) => {
                self.replaced += 1;
                let separator = if std::mem::replace(&mut self.has_text, true) { "\n\n" } else { "" };
                json!({"content": format!("{separator}{note}")})
            }
        };
        write_chunk(envelope, vec![json!({"index": choice, "delta": delta, "finish_reason": null})], out);
    }
}

/// The fields of a chunk that a chunk written for a closed call carries: what names the
/// completion, each short. A call closes once per fragment or choice, so a copy of a long field
/// in each would make the output grow with the square of the input.
fn identity(chunk: &Value) -> Value {
    const FIELDS: [&str; 6] = ["id", "object", "created", "model", "system_fingerprint", "service_tier"];
    let short = |value: &&Value| value.to_string().len() <= 256;
    Value::Object(FIELDS.iter().filter_map(|&f| chunk.get(f).filter(short).map(|v| (f.to_string(), v.clone()))).collect())
}

fn write_chunk(envelope: &Value, choices: Vec<Value>, out: &mut Vec<u8>) {
    let mut chunk = envelope.clone();
    chunk["choices"] = Value::Array(choices);
    Event::write(None, &chunk.to_string(), out);
}

#[cfg(test)]
mod tests {
    use super::super::testing::{events, same_at_every_cut, DenyNames};
    use super::super::{Api, Rewriter};
    use super::*;

    fn chunk(choices: Value) -> String {
        let c = json!({"id": "chatcmpl-9", "object": "chat.completion.chunk", "created": 1, "model": "m", "choices": choices});
        format!("data: {c}\n\n")
    }

    fn call_start(index: u64, id: &str, name: &str) -> String {
        let f = json!({"index": index, "id": id, "type": "function", "function": {"name": name, "arguments": ""}});
        chunk(json!([{"index": 0, "delta": {"tool_calls": [f]}, "finish_reason": null}]))
    }

    fn call_args(index: u64, args: &str) -> String {
        let f = json!({"index": index, "function": {"arguments": args}});
        chunk(json!([{"index": 0, "delta": {"tool_calls": [f]}, "finish_reason": null}]))
    }

    fn stream(parts: &[String]) -> Vec<u8> {
        let mut s = chunk(json!([{"index": 0, "delta": {"role": "assistant", "content": "Checking."}, "finish_reason": null}]));
        s.extend(parts.iter().cloned());
        s.push_str(&chunk(json!([{"index": 0, "delta": {}, "finish_reason": "tool_calls"}])));
        s.push_str("data: [DONE]\n\n");
        s.into_bytes()
    }

    /// Content, the calls (index, id, name, arguments) and the finish reason.
    type Accumulated = (String, Vec<(u64, String, String, String)>, String);

    /// What the SDK would accumulate.
    fn accumulate(out: &[u8]) -> Accumulated {
        let (mut content, mut calls, mut finish) = (String::new(), BTreeMap::new(), String::new());
        for (_, chunk) in events(out) {
            let Some(choices) = chunk["choices"].as_array() else { continue };
            for c in choices {
                content.push_str(c["delta"]["content"].as_str().unwrap_or_default());
                for f in c["delta"]["tool_calls"].as_array().into_iter().flatten() {
                    let entry: &mut (String, String, String) = calls.entry(f["index"].as_u64().unwrap()).or_default();
                    entry.0.push_str(f["id"].as_str().unwrap_or_default());
                    entry.1.push_str(f["function"]["name"].as_str().unwrap_or_default());
                    entry.2.push_str(f["function"]["arguments"].as_str().unwrap_or_default());
                }
                if let Some(r) = c["finish_reason"].as_str() {
                    finish = r.to_string();
                }
            }
        }
        (content, calls.into_iter().map(|(i, (a, b, c))| (i, a, b, c)).collect(), finish)
    }

    #[test]
    fn a_denied_call_is_removed_and_the_next_renumbered_at_every_cut() {
        let body = stream(&[
            call_start(0, "call_A", "drop_table"),
            call_args(0, "{\"table\":"),
            call_args(0, " \"users\"}"),
            call_start(1, "call_B", "run_sql"),
            call_args(1, "{\"query\": \"SELECT 1\"}"),
        ]);
        let out = same_at_every_cut(Api::ChatCompletions, &body, &["drop_table"]);
        let (content, calls, finish) = accumulate(&out);
        assert_eq!(content, "Checking.\n\ndenied call_A");
        assert_eq!(calls, vec![(0, "call_B".into(), "run_sql".into(), "{\"query\": \"SELECT 1\"}".into())]);
        assert_eq!(finish, "tool_calls");
        assert!(out.ends_with(b"data: [DONE]\n\n"));
    }

    #[test]
    fn when_every_call_is_denied_the_finish_reason_is_stop() {
        let body = stream(&[call_start(0, "call_A", "drop_table"), call_args(0, "{}")]);
        let (content, calls, finish) = accumulate(&same_at_every_cut(Api::ChatCompletions, &body, &["drop_table"]));
        assert_eq!((content.as_str(), calls.len(), finish.as_str()), ("Checking.\n\ndenied call_A", 0, "stop"));
    }

    #[test]
    fn allowed_streams_keep_their_calls_and_text_passes_unchanged() {
        let body = stream(&[call_start(0, "call_A", "run_sql"), call_args(0, "{\"query\": \"SELECT 1\"}")]);
        let mut judge = DenyNames::default();
        let mut rewriter = Rewriter::new(Api::ChatCompletions, true, 1 << 20);
        let first_event = body.windows(2).position(|w| w == b"\n\n").unwrap() + 2;
        assert_eq!(rewriter.feed(&body[..first_event], &mut judge).unwrap(), &body[..first_event]);
        let (_, calls, finish) = accumulate(&same_at_every_cut(Api::ChatCompletions, &body, &[]));
        assert_eq!(calls, vec![(0, "call_A".into(), "run_sql".into(), "{\"query\": \"SELECT 1\"}".into())]);
        assert_eq!(finish, "tool_calls");
    }

    #[test]
    fn broken_arguments_and_late_fragments_fail_closed() {
        let body = stream(&[call_start(0, "call_A", "run_sql"), call_args(0, "{\"query\": \"DROP")]);
        let mut judge = DenyNames::default();
        let mut rewriter = Rewriter::new(Api::ChatCompletions, true, 1 << 20);
        let out = rewriter.feed(&body, &mut judge).unwrap();
        assert!(judge.seen[0].arguments.is_err());
        assert_eq!(accumulate(&out).1.len(), 0);
        let late = stream(&[call_start(0, "a", "x"), call_start(1, "b", "y"), call_args(0, "{}")]);
        let mut rewriter = Rewriter::new(Api::ChatCompletions, true, 1 << 20);
        assert!(matches!(rewriter.feed(&late, &mut judge), Err(Failure::Malformed(_))));
    }

    #[test]
    fn calls_closed_in_one_chunk_do_not_copy_its_long_fields() {
        let fragments: Vec<Value> = (0..100).map(|i| json!({"index": i, "id": format!("c{i}")})).collect();
        let c = json!({"id": "chatcmpl-9", "object": "chat.completion.chunk", "created": 1, "model": "m", "pad": "x".repeat(4096),
            "choices": [{"index": 0, "delta": {"tool_calls": fragments}, "finish_reason": null}]});
        let body = format!("data: {c}\n\ndata: [DONE]\n\n");
        let mut rewriter = Rewriter::new(Api::ChatCompletions, true, 1 << 20);
        let mut judge = DenyNames::default();
        let mut out = rewriter.feed(body.as_bytes(), &mut judge).unwrap();
        out.extend(rewriter.finish(&mut judge).unwrap());
        assert_eq!(judge.seen.len(), 100);
        // A chunk of its own each call (some 200 bytes), not a copy of the 4 KiB field each.
        assert!(out.len() < body.len() + 100 * 300, "{} bytes out of {}", out.len(), body.len());
        let (_, calls, _) = accumulate(&out);
        assert_eq!(calls.len(), 100);
        assert!(events(&out).iter().all(|(_, chunk)| chunk["id"] == "chatcmpl-9" || chunk == "[DONE]"));
    }

    #[test]
    fn a_whole_completion_loses_denied_calls_and_never_keeps_an_empty_list() {
        let call = |id: &str, name: &str| json!({"id": id, "type": "function", "function": {"name": name, "arguments": "{}"}});
        let mut doc = json!({"choices": [{"index": 0, "finish_reason": "tool_calls",
            "message": {"role": "assistant", "content": null, "tool_calls": [call("a", "drop"), call("b", "read")]}}]});
        let mut judge = DenyNames { deny: vec!["drop"], ..Default::default() };
        assert!(rewrite(&mut doc, &mut judge));
        assert_eq!(doc["choices"][0]["message"]["tool_calls"], json!([call("b", "read")]));
        assert_eq!(doc["choices"][0]["message"]["content"], "denied a");
        judge.deny.push("read");
        assert!(rewrite(&mut doc, &mut judge));
        assert!(doc["choices"][0]["message"].get("tool_calls").is_none());
        assert_eq!(doc["choices"][0]["finish_reason"], "stop");
        let mut plain = json!({"choices": [{"message": {"content": "hi"}, "finish_reason": "stop"}]});
        assert!(!rewrite(&mut plain, &mut judge));
    }
}
