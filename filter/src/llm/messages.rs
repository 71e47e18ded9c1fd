//! Anthropic Messages (`POST /v1/messages`): tool calls are `content[]` blocks
//! `{type: tool_use, id, name, input}` (`input` an object), and `stop_reason` is `tool_use` while
//! one is left (anthropic-sdk-python `types/tool_use_block.py`, `types/stop_reason.py`). Streamed:
//! `content_block_start` (the block, `input: {}`), `content_block_delta` with
//! `input_json_delta.partial_json` pieces, `content_block_stop`, then `message_delta` with the
//! `stop_reason` (platform.claude.com/docs/build-with-claude/streaming).
//!
//! A `tool_use` block is held from its start to its stop, with every event after it (the SDK
//! appends blocks in arrival order, ignoring their index), and decided on the exact bytes of
//! its `partial_json`. A denied block becomes a text block at the same index, so no index moves;
//! `stop_reason: tool_use` becomes `end_turn` when no call is left. Blocks the provider runs
//! itself (`server_tool_use`) are not the agent's and pass.

use serde_json::{json, Value};

use super::{event_json, write_event, Failure, Judge, ToolCall, Verdict};
use crate::http::sse::Event;

/// Rewrites a whole message; true when it changed.
pub fn rewrite(doc: &mut Value, judge: &mut dyn Judge) -> bool {
    let Some(blocks) = doc.get_mut("content").and_then(Value::as_array_mut) else { return false };
    let (mut kept, mut replaced) = (0, 0);
    for block in blocks.iter_mut().filter(|b| b["type"] == "tool_use") {
        let call = ToolCall {
            id: block["id"].as_str().unwrap_or_default().to_string(),
            name: block["name"].as_str().unwrap_or_default().to_string(),
            arguments: match &block["input"] {
                input @ Value::Object(_) => Ok(input.clone()),
                other => Err(format!("the input is {}, not an object", crate::json::kind(other))),
            },
        };
        match judge.judge(&call) {
            Verdict::Release => kept += 1,
            Verdict::Replace(note) => {
                *block = json!({"type": "text", "text": note});
                replaced += 1;
            }
        }
    }
    if replaced > 0 && kept == 0 && doc["stop_reason"] == "tool_use" {
        doc["stop_reason"] = json!("end_turn");
    }
    replaced > 0
}

/// A streamed message's state.
#[derive(Debug, Default)]
pub struct Stream {
    open: Option<OpenBlock>,
    kept: usize,
    replaced: usize,
}

#[derive(Debug)]
struct OpenBlock {
    index: Value,
    id: String,
    name: String,
    /// The `input` of `content_block_start`, used when no delta follows.
    start_input: Value,
    partial_json: String,
    /// The block's events and those after it, in order, as they came; true for the block's own.
    held: Vec<(Event, bool)>,
    held_bytes: usize,
}

impl Stream {
    pub fn held(&self) -> usize {
        self.open.as_ref().map_or(0, |b| b.held_bytes + b.partial_json.len())
    }

    pub fn event(&mut self, event: Event, judge: &mut dyn Judge, out: &mut Vec<u8>) -> Result<(), Failure> {
        let kind = event.name.clone().unwrap_or_default();
        if let Some(open) = &mut self.open {
            let data =
                if kind == "content_block_delta" || kind == "content_block_stop" { Some(event_json(&event)?) } else { None };
            let ours = data.as_ref().is_some_and(|d| d["index"] == open.index);
            if ours && kind == "content_block_delta" {
                let piece = &data.as_ref().expect("read above")["delta"]["partial_json"];
                open.partial_json.push_str(piece.as_str().unwrap_or_default());
            }
            open.held_bytes += event.raw.len();
            open.held.push((event, ours || kind == "ping"));
            if ours && kind == "content_block_stop" {
                for other in self.close(judge, out) {
                    self.event(other, judge, out)?;
                }
            }
            return Ok(());
        }
        match kind.as_str() {
            "content_block_start" => {
                let data = event_json(&event)?;
                let block = &data["content_block"];
                if block["type"] != "tool_use" {
                    out.extend_from_slice(&event.raw);
                    return Ok(());
                }
                self.open = Some(OpenBlock {
                    index: data["index"].clone(),
                    id: block["id"].as_str().unwrap_or_default().to_string(),
                    name: block["name"].as_str().unwrap_or_default().to_string(),
                    start_input: block["input"].clone(),
                    partial_json: String::new(),
                    held_bytes: event.raw.len(),
                    held: vec![(event, true)],
                });
            }
            "message_delta" => self.message_delta(event, out)?,
            _ => out.extend_from_slice(&event.raw),
        }
        Ok(())
    }

    /// The end of the body: a block never stopped is decided on what came.
    pub fn finish(&mut self, judge: &mut dyn Judge, out: &mut Vec<u8>) -> Result<(), Failure> {
        while self.open.is_some() {
            for other in self.close(judge, out) {
                self.event(other, judge, out)?;
            }
        }
        Ok(())
    }

    /// Decides the open block and writes it or its replacement; returns the other events held
    /// with it, to be read again now that it is closed.
    fn close(&mut self, judge: &mut dyn Judge, out: &mut Vec<u8>) -> Vec<Event> {
        let Some(open) = self.open.take() else { return Vec::new() };
        let call = match (&open.start_input, open.partial_json.is_empty()) {
            (input @ Value::Object(map), true) if !map.is_empty() => {
                ToolCall { id: open.id, name: open.name, arguments: Ok(input.clone()) }
            }
            _ => ToolCall::from_text(open.id, open.name, &open.partial_json),
        };
        let (own, others): (Vec<_>, Vec<_>) = open.held.into_iter().partition(|(_, own)| *own);
        match judge.judge(&call) {
            Verdict::Release => {
                self.kept += 1;
                own.iter().for_each(|(e, _)| out.extend_from_slice(&e.raw));
            }
            Verdict::Replace(note) => {
                self.replaced += 1;
                let index = open.index;
                write_event(
                    "content_block_start",
                    &json!({"type": "content_block_start", "index": index,
                    "content_block": {"type": "text", "text": ""}}),
                    out,
                );
                write_event(
                    "content_block_delta",
                    &json!({"type": "content_block_delta", "index": index,
                    "delta": {"type": "text_delta", "text": note}}),
                    out,
                );
                write_event("content_block_stop", &json!({"type": "content_block_stop", "index": index}), out);
            }
        }
        others.into_iter().map(|(e, _)| e).collect()
    }

    fn message_delta(&mut self, event: Event, out: &mut Vec<u8>) -> Result<(), Failure> {
        let mut data = event_json(&event)?;
        if self.replaced > 0 && self.kept == 0 && data["delta"]["stop_reason"] == "tool_use" {
            data["delta"]["stop_reason"] = json!("end_turn");
            write_event("message_delta", &data, out);
        } else {
            out.extend_from_slice(&event.raw);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::super::testing::{events, same_at_every_cut, DenyNames};
    use super::super::Api;
    use super::*;

    fn ev(name: &str, data: Value) -> String {
        format!("event: {name}\ndata: {data}\n\n")
    }

    fn tool_block(index: u64, id: &str, name: &str, pieces: &[&str]) -> String {
        let mut s = ev(
            "content_block_start",
            json!({"type": "content_block_start", "index": index,
            "content_block": {"type": "tool_use", "id": id, "name": name, "input": {}}}),
        );
        s.push_str(&ev("ping", json!({"type": "ping"})));
        for piece in pieces {
            s.push_str(&ev(
                "content_block_delta",
                json!({"type": "content_block_delta", "index": index,
                "delta": {"type": "input_json_delta", "partial_json": piece}}),
            ));
        }
        s + &ev("content_block_stop", json!({"type": "content_block_stop", "index": index}))
    }

    fn message(blocks: &[String]) -> Vec<u8> {
        let mut s =
            ev("message_start", json!({"type": "message_start", "message": {"id": "msg_1", "content": [], "stop_reason": null}}));
        s += &ev(
            "content_block_start",
            json!({"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}}),
        );
        s += &ev(
            "content_block_delta",
            json!({"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": "Checking."}}),
        );
        s += &ev("content_block_stop", json!({"type": "content_block_stop", "index": 0}));
        blocks.iter().for_each(|b| s += b);
        s += &ev(
            "message_delta",
            json!({"type": "message_delta", "delta": {"stop_reason": "tool_use", "stop_sequence": null}, "usage": {"output_tokens": 9}}),
        );
        s += &ev("message_stop", json!({"type": "message_stop"}));
        s.into_bytes()
    }

    /// What the SDK accumulates: blocks in arrival order (text, or tool name + input text), and the stop reason.
    fn accumulate(out: &[u8]) -> (Vec<String>, String) {
        let (mut blocks, mut stop): (Vec<String>, String) = (Vec::new(), String::new());
        for (name, data) in events(out) {
            match name.as_deref().unwrap_or_default() {
                "content_block_start" if data["content_block"]["type"] == "tool_use" => {
                    blocks.push(format!("{}:", data["content_block"]["name"].as_str().unwrap()))
                }
                "content_block_start" => blocks.push(String::new()),
                "content_block_delta" => {
                    let i = data["index"].as_u64().unwrap() as usize;
                    let d = &data["delta"];
                    blocks[i].push_str(d["text"].as_str().or(d["partial_json"].as_str()).unwrap());
                }
                "message_delta" => stop = data["delta"]["stop_reason"].as_str().unwrap().to_string(),
                _ => {}
            }
        }
        (blocks, stop)
    }

    #[test]
    fn a_denied_block_becomes_text_at_its_index_at_every_cut() {
        let body = message(&[
            tool_block(1, "toolu_A", "drop_table", &["", "{\"table\": ", "\"users\"}"]),
            tool_block(2, "toolu_B", "run_sql", &["{\"query\": \"SELECT 1\"}"]),
        ]);
        let (blocks, stop) = accumulate(&same_at_every_cut(Api::Messages, &body, &["drop_table"]));
        assert_eq!(blocks, vec!["Checking.", "denied toolu_A", "run_sql:{\"query\": \"SELECT 1\"}"]);
        assert_eq!(stop, "tool_use");
        let (blocks, stop) = accumulate(&same_at_every_cut(Api::Messages, &body, &["drop_table", "run_sql"]));
        assert_eq!(blocks, vec!["Checking.", "denied toolu_A", "denied toolu_B"]);
        assert_eq!(stop, "end_turn");
    }

    #[test]
    fn allowed_blocks_pass_byte_for_byte_and_broken_input_is_judged_broken() {
        let body = message(&[tool_block(1, "toolu_A", "run_sql", &["{\"query\": \"SELECT 1\"}"])]);
        assert_eq!(same_at_every_cut(Api::Messages, &body, &[]), body);
        for broken in
            ["{\"query\": \"DROP TABLE t\"", "{\"q\": 1} x", "{\"q\": 1}{\"q\": 2}", "{\"q\": 1, \"q\": 2}", "{\"n\": NaN}"]
        {
            let body = message(&[tool_block(1, "toolu_A", "run_sql", &[broken])]);
            let (blocks, stop) = accumulate(&same_at_every_cut(Api::Messages, &body, &[]));
            assert_eq!((blocks[1].as_str(), stop.as_str()), ("denied toolu_A", "end_turn"), "{broken}");
        }
    }

    #[test]
    fn a_whole_message_keeps_its_order() {
        let mut doc = json!({"content": [{"type": "text", "text": "x"},
            {"type": "tool_use", "id": "toolu_A", "name": "drop_table", "input": {"t": 1}},
            {"type": "tool_use", "id": "toolu_B", "name": "run_sql", "input": {"q": 1}}], "stop_reason": "tool_use"});
        let mut judge = DenyNames { deny: vec!["drop_table"], ..Default::default() };
        assert!(rewrite(&mut doc, &mut judge));
        assert_eq!(doc["content"][1], json!({"type": "text", "text": "denied toolu_A"}));
        assert_eq!(doc["content"][2]["id"], "toolu_B");
        assert_eq!(doc["stop_reason"], "tool_use");
        assert_eq!(judge.seen[1].arguments, Ok(json!({"q": 1})));
    }
}
