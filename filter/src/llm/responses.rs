//! OpenAI Responses (`POST /v1/responses`): tool calls are `output[]` items
//! `{type: function_call, id, call_id, name, arguments}` (the arguments a JSON string;
//! openai-python `types/responses/response_function_tool_call.py`). Streamed as typed events
//! carrying an `output_index` and a `sequence_number`: `response.output_item.added`,
//! `response.function_call_arguments.delta` / `.done`, `response.output_item.done`, and at the
//! end `response.completed` (or `.incomplete`, `.failed`) with the whole response, which is what
//! the SDK's stream helper returns as the result.
//!
//! A `function_call` item is held from `output_item.added` to `output_item.done`, with every
//! event after it, and decided on its arguments; the three views the agent may read (the
//! deltas, `arguments.done`, the item) must agree or the call is unparsable. A denied item
//! becomes a message item at the same `output_index` (two events, reusing the held sequence
//! numbers, so no number moves), and the final response is rewritten to agree.

use std::collections::BTreeMap;

use serde_json::{json, Value};

use super::{event_json, write_event, Failure, Judge, ToolCall, Verdict};
use crate::http::sse::Event;

/// Rewrites a whole response; true when it changed.
pub fn rewrite(doc: &mut Value, judge: &mut dyn Judge) -> bool {
    rewrite_output(doc, &mut BTreeMap::new(), judge)
}

/// Replaces the denied `function_call` items of `response.output`: those already decided
/// (`decided`: call id to its replacement, `None` when released) and, judged now, any other.
/// A decision serves one item: another with the same call id is judged on its own, so a
/// replacement is never copied into item after item.
fn rewrite_output(response: &mut Value, decided: &mut BTreeMap<String, Option<Value>>, judge: &mut dyn Judge) -> bool {
    let Some(items) = response.get_mut("output").and_then(Value::as_array_mut) else { return false };
    let mut changed = false;
    for item in items.iter_mut().filter(|i| i["type"] == "function_call") {
        let call = item_call(item, None, None);
        let replacement = match decided.remove(&call.id) {
            Some(replacement) => replacement,
            None => match judge.judge(&call) {
                Verdict::Release => None,
                Verdict::Replace(note) => Some(message_item(&call.id, &note, "completed")),
            },
        };
        if let Some(replacement) = replacement {
            *item = replacement;
            changed = true;
        }
    }
    changed
}

/// The call of an item, checked against the other views of its arguments the stream gave.
fn item_call(item: &Value, deltas: Option<&str>, done: Option<&str>) -> ToolCall {
    let text = |key: &str| item[key].as_str().unwrap_or_default().to_string();
    let arguments = text("arguments");
    let mut call = ToolCall::from_text(text("call_id"), text("name"), &arguments);
    if deltas.is_some_and(|d| d != arguments) || done.is_some_and(|d| d != arguments) {
        call.arguments = Err("the stream's arguments disagree with the item's".into());
    }
    call
}

/// The id prefix of the message items that stand where denied calls were: the agent may send
/// them back as input, and the provider rejects item ids it did not store
/// ([`super::request::restore_replacements`]).
pub const MINTED_PREFIX: &str = "msg_agdenied_";

fn message_item(call_id: &str, note: &str, status: &str) -> Value {
    let content =
        if status == "completed" { json!([{"type": "output_text", "text": note, "annotations": []}]) } else { json!([]) };
    json!({"type": "message", "id": format!("{MINTED_PREFIX}{call_id}"), "role": "assistant", "status": status, "content": content})
}

/// A streamed response's state.
#[derive(Debug, Default)]
pub struct Stream {
    open: Option<OpenItem>,
    /// Calls decided from their item events: call id to the item replacing it.
    decided: BTreeMap<String, Option<Value>>,
}

#[derive(Debug)]
struct OpenItem {
    output_index: Value,
    deltas: String,
    done_arguments: Option<String>,
    /// The item's events and those after it, in order; true for the item's own.
    held: Vec<(Event, bool)>,
    held_bytes: usize,
    /// The sequence numbers of the item's first and last events.
    sequence: (Value, Value),
}

const FINAL_EVENTS: [&str; 3] = ["response.completed", "response.incomplete", "response.failed"];

impl Stream {
    pub fn held(&self) -> usize {
        self.open.as_ref().map_or(0, |o| o.held_bytes + o.deltas.len())
    }

    pub fn event(&mut self, event: Event, judge: &mut dyn Judge, out: &mut Vec<u8>) -> Result<(), Failure> {
        let kind = event.name.clone().unwrap_or_default();
        if self.open.is_some() {
            return self.held_event(event, &kind, judge, out);
        }
        if kind == "response.output_item.added" {
            let data = event_json(&event)?;
            if data["item"]["type"] == "function_call" {
                self.open = Some(OpenItem {
                    output_index: data["output_index"].clone(),
                    deltas: String::new(),
                    done_arguments: None,
                    held_bytes: event.raw.len(),
                    sequence: (data["sequence_number"].clone(), data["sequence_number"].clone()),
                    held: vec![(event, true)],
                });
                return Ok(());
            }
        } else if FINAL_EVENTS.contains(&kind.as_str()) {
            let mut data = event_json(&event)?;
            if rewrite_output(&mut data["response"], &mut self.decided, judge) {
                write_event(&kind, &data, out);
                return Ok(());
            }
        }
        out.extend_from_slice(&event.raw);
        Ok(())
    }

    fn held_event(&mut self, event: Event, kind: &str, judge: &mut dyn Judge, out: &mut Vec<u8>) -> Result<(), Failure> {
        let open = self.open.as_mut().expect("called with an open item");
        if FINAL_EVENTS.contains(&kind) {
            // The response ended with the item unfinished: decide it on what came.
            open.held.push((event, false));
            return self.finish(judge, out);
        }
        let data = event_json(&event)?;
        let ours = data["output_index"] == open.output_index;
        if ours {
            open.sequence.1 = data["sequence_number"].clone();
            match kind {
                "response.function_call_arguments.delta" => open.deltas.push_str(data["delta"].as_str().unwrap_or_default()),
                "response.function_call_arguments.done" => open.done_arguments = data["arguments"].as_str().map(str::to_string),
                _ => {}
            }
        }
        open.held_bytes += event.raw.len();
        open.held.push((event, ours));
        if ours && kind == "response.output_item.done" {
            let call = item_call(&data["item"], Some(&open.deltas), open.done_arguments.as_deref());
            for other in self.close(call, judge, out) {
                self.event(other, judge, out)?;
            }
        }
        Ok(())
    }

    /// The end of the body: an item never done is decided on its deltas.
    pub fn finish(&mut self, judge: &mut dyn Judge, out: &mut Vec<u8>) -> Result<(), Failure> {
        while let Some(open) = &self.open {
            let first = event_json(&open.held[0].0)?;
            let mut item = first["item"].clone();
            item["arguments"] = json!(open.deltas);
            let call = item_call(&item, None, open.done_arguments.as_deref());
            for other in self.close(call, judge, out) {
                self.event(other, judge, out)?;
            }
        }
        Ok(())
    }

    /// Decides the open item and writes it or its replacement; returns the other events held
    /// with it, to be read again now that it is closed.
    fn close(&mut self, call: ToolCall, judge: &mut dyn Judge, out: &mut Vec<u8>) -> Vec<Event> {
        let Some(open) = self.open.take() else { return Vec::new() };
        let (own, others): (Vec<_>, Vec<_>) = open.held.into_iter().partition(|(_, own)| *own);
        let verdict = judge.judge(&call);
        match &verdict {
            Verdict::Release => own.iter().for_each(|(e, _)| out.extend_from_slice(&e.raw)),
            Verdict::Replace(note) => {
                let (first, last) = open.sequence;
                let events =
                    [("response.output_item.added", first, "in_progress"), ("response.output_item.done", last, "completed")];
                for (name, sequence, status) in events {
                    let data = json!({"type": name, "sequence_number": sequence, "output_index": open.output_index,
                        "item": message_item(&call.id, note, status)});
                    write_event(name, &data, out);
                }
            }
        }
        let replacement = match verdict {
            Verdict::Release => None,
            Verdict::Replace(note) => Some(message_item(&call.id, &note, "completed")),
        };
        self.decided.insert(call.id, replacement);
        others.into_iter().map(|(e, _)| e).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::super::testing::{events, same_at_every_cut, DenyNames};
    use super::super::Api;
    use super::*;

    struct Builder {
        body: String,
        seq: u64,
        output: Vec<Value>,
    }

    impl Builder {
        fn new() -> Builder {
            let mut b = Builder { body: String::new(), seq: 0, output: Vec::new() };
            b.ev("response.created", json!({"response": {"id": "resp_9", "status": "in_progress", "output": []}}));
            b
        }

        fn ev(&mut self, name: &str, mut data: Value) {
            data["type"] = json!(name);
            data["sequence_number"] = json!(self.seq);
            self.seq += 1;
            self.body += &format!("event: {name}\ndata: {data}\n\n");
        }

        fn call(&mut self, index: u64, call_id: &str, name: &str, pieces: &[&str]) {
            let item = |status: &str, args: &str| {
                json!({"type": "function_call", "id": format!("fc_{call_id}"),
                "call_id": call_id, "name": name, "arguments": args, "status": status})
            };
            self.ev("response.output_item.added", json!({"output_index": index, "item": item("in_progress", "")}));
            for piece in pieces {
                self.ev(
                    "response.function_call_arguments.delta",
                    json!({"output_index": index, "item_id": format!("fc_{call_id}"), "delta": piece}),
                );
            }
            let args = pieces.concat();
            self.ev(
                "response.function_call_arguments.done",
                json!({"output_index": index, "item_id": format!("fc_{call_id}"), "arguments": args}),
            );
            self.ev("response.output_item.done", json!({"output_index": index, "item": item("completed", &args)}));
            self.output.push(item("completed", &args));
        }

        fn finish(mut self) -> Vec<u8> {
            let output = std::mem::take(&mut self.output);
            self.ev("response.completed", json!({"response": {"id": "resp_9", "status": "completed", "output": output}}));
            self.body.into_bytes()
        }
    }

    /// Items by output_index as the events leave them, the final output, and the sequence numbers.
    fn read(out: &[u8]) -> (Vec<(u64, String)>, Vec<String>, Vec<u64>) {
        let (mut items, mut output, mut seqs) = (BTreeMap::new(), Vec::new(), Vec::new());
        for (name, data) in events(out) {
            seqs.push(data["sequence_number"].as_u64().unwrap());
            let label = |item: &Value| match item["type"].as_str().unwrap() {
                "message" => item["content"][0]["text"].as_str().unwrap_or_default().to_string(),
                _ => format!("{}:{}", item["name"].as_str().unwrap(), item["arguments"].as_str().unwrap()),
            };
            match name.as_deref().unwrap() {
                "response.output_item.done" => {
                    items.insert(data["output_index"].as_u64().unwrap(), label(&data["item"]));
                }
                "response.completed" => output = data["response"]["output"].as_array().unwrap().iter().map(label).collect(),
                _ => {}
            }
        }
        (items.into_iter().collect(), output, seqs)
    }

    #[test]
    fn a_denied_item_becomes_a_message_and_the_final_response_agrees_at_every_cut() {
        let mut b = Builder::new();
        b.call(0, "call_A", "drop_table", &["{\"table\":", " \"users\"}"]);
        b.call(1, "call_B", "run_sql", &["{\"query\": \"SELECT 1\"}"]);
        let out = same_at_every_cut(Api::Responses, &b.finish(), &["drop_table"]);
        let (items, output, seqs) = read(&out);
        assert_eq!(items, vec![(0, "denied call_A".into()), (1, "run_sql:{\"query\": \"SELECT 1\"}".into())]);
        assert_eq!(output, vec!["denied call_A", "run_sql:{\"query\": \"SELECT 1\"}"]);
        assert!(seqs.windows(2).all(|w| w[0] < w[1]), "{seqs:?}");
    }

    #[test]
    fn allowed_streams_pass_byte_for_byte_and_disagreeing_views_are_unparsable() {
        let mut b = Builder::new();
        b.call(0, "call_A", "run_sql", &["{\"query\": \"SELECT 1\"}"]);
        let body = b.finish();
        assert_eq!(same_at_every_cut(Api::Responses, &body, &[]), body);
        let tampered =
            String::from_utf8(body).unwrap().replacen("\"delta\":\"{\\\"query\\\": \\\"SELECT 1\\\"}\"", "\"delta\":\"{}\"", 1);
        let mut judge = DenyNames::default();
        let mut rewriter = super::super::Rewriter::new(Api::Responses, true, 1 << 20);
        let out = rewriter.feed(tampered.as_bytes(), &mut judge).unwrap();
        assert!(judge.seen[0].arguments.is_err());
        assert_eq!(read(&out).1, vec!["denied call_A"]);
    }

    #[test]
    fn a_decided_replacement_is_not_copied_into_every_item_of_its_call_id() {
        /// Denies the long-named call with a note quoting its name, as the engine's refusal does.
        struct Quoting;
        impl Judge for Quoting {
            fn judge(&mut self, call: &ToolCall) -> Verdict {
                match call.name.len() > 100 {
                    true => Verdict::Replace(format!("denied {}", call.name)),
                    false => Verdict::Release,
                }
            }
        }
        let mut b = Builder::new();
        b.call(0, "c", &"n".repeat(4096), &["{}"]);
        b.output = vec![json!({"type": "function_call", "call_id": "c", "name": "x", "arguments": "{}"}); 100];
        let body = b.finish();
        let mut rewriter = super::super::Rewriter::new(Api::Responses, true, 1 << 20);
        let mut out = rewriter.feed(&body, &mut Quoting).unwrap();
        out.extend(rewriter.finish(&mut Quoting).unwrap());
        assert!(out.len() < 2 * body.len(), "{} bytes out of {}", out.len(), body.len());
        let output = read(&out).1;
        assert_eq!((output[0].len(), &output[1..]), (4096 + 7, &vec!["x:{}".to_string(); 99][..]));
    }

    #[test]
    fn a_whole_response_and_a_call_seen_only_at_the_end() {
        let call = json!({"type": "function_call", "call_id": "c", "name": "drop_table", "arguments": "{}"});
        let mut doc = json!({"output": [{"type": "message", "content": []}, call]});
        let mut judge = DenyNames { deny: vec!["drop_table"], ..Default::default() };
        assert!(rewrite(&mut doc, &mut judge));
        assert_eq!(doc["output"][1]["id"], "msg_agdenied_c");
        let mut b = Builder::new();
        b.output.push(call);
        let (_, output, _) = read(&same_at_every_cut(Api::Responses, &b.finish(), &["drop_table"]));
        assert_eq!(output, vec!["denied c"]);
    }
}
