//! A case's compact request and answer as the provider's APIs carry them: the request body an
//! SDK sends, and the answer whole (JSON) or streamed (server-sent events), in the shapes the
//! providers document (openai-python `types/chat/`, `types/responses/`, anthropic-sdk-python
//! `types/`; the same shapes `envoy/llm_stub.py` serves).

use serde_json::{json, Value};

use super::{arguments_text, LlmRequestDoc, LlmResponseDoc, ToolCallDoc};
use access_guardrails::llm::Api;

/// The request body: the user's prompt and, when the agent ran tool calls, the assistant turn
/// that made them followed by their results.
pub fn request(doc: &LlmRequestDoc) -> Value {
    let api = doc.api.api();
    let prompt = json!({"role": "user", "content": doc.prompt.as_deref().unwrap_or("go")});
    let output = |r: &super::ToolResultDoc| r.output.clone().unwrap_or_else(|| "done".into());
    let mut body = match api {
        Api::ChatCompletions => {
            let mut messages = vec![prompt];
            if !doc.results.is_empty() {
                let calls: Vec<Value> = doc.results.iter().map(|r| chat_call(&r.id, &r.name, &r.arguments)).collect();
                messages.push(json!({"role": "assistant", "content": null, "tool_calls": calls}));
                messages.extend(doc.results.iter().map(|r| json!({"role": "tool", "tool_call_id": r.id, "content": output(r)})));
            }
            json!({"messages": messages})
        }
        Api::Responses => {
            let mut input = vec![prompt];
            input.extend(doc.results.iter().map(
                |r| json!({"type": "function_call", "call_id": r.id, "name": r.name, "arguments": arguments_text(&r.arguments)}),
            ));
            input.extend(
                doc.results.iter().map(|r| json!({"type": "function_call_output", "call_id": r.id, "output": output(r)})),
            );
            json!({"input": input})
        }
        Api::Messages => {
            let mut messages = vec![prompt];
            if !doc.results.is_empty() {
                let uses: Vec<Value> = doc
                    .results
                    .iter()
                    .map(|r| json!({"type": "tool_use", "id": r.id, "name": r.name, "input": input_of(&r.arguments)}))
                    .collect();
                let results: Vec<Value> = doc
                    .results
                    .iter()
                    .map(|r| json!({"type": "tool_result", "tool_use_id": r.id, "content": output(r)}))
                    .collect();
                messages.push(json!({"role": "assistant", "content": uses}));
                messages.push(json!({"role": "user", "content": results}));
            }
            json!({"messages": messages, "max_tokens": 1024})
        }
    };
    body["model"] = json!(doc.model.clone().unwrap_or_else(|| default_model(api).into()));
    if doc.stream {
        body["stream"] = json!(true);
    }
    body
}

fn default_model(api: Api) -> &'static str {
    match api {
        Api::ChatCompletions | Api::Responses => "gpt-4.1",
        Api::Messages => "claude-sonnet-4-5",
    }
}

fn chat_call(id: &str, name: &str, arguments: &Value) -> Value {
    json!({"id": id, "type": "function", "function": {"name": name, "arguments": arguments_text(arguments)}})
}

/// Anthropic's `input` is an object: arguments written as text that parses are sent parsed,
/// other text as a JSON string (which no object rule can read).
fn input_of(arguments: &Value) -> Value {
    match arguments {
        Value::String(text) => serde_json::from_str(text).unwrap_or_else(|_| arguments.clone()),
        other => other.clone(),
    }
}

/// The answer's content type and body.
pub fn response(api: Api, doc: &LlmResponseDoc) -> (&'static str, Vec<u8>) {
    if !doc.stream {
        let body = match api {
            Api::ChatCompletions => chat_whole(doc),
            Api::Responses => responses_whole(doc),
            Api::Messages => messages_whole(doc),
        };
        return ("application/json", body.to_string().into_bytes());
    }
    let events = match api {
        Api::ChatCompletions => chat_events(doc),
        Api::Responses => responses_events(doc),
        Api::Messages => messages_events(doc),
    };
    let mut out = String::new();
    for (name, data) in events {
        if let Some(name) = name {
            out.push_str(&format!("event: {name}\n"));
        }
        out.push_str(&format!("data: {data}\n\n"));
    }
    ("text/event-stream", out.into_bytes())
}

/// The arguments in two pieces, cut inside, as models stream them.
fn halves(text: &str) -> (&str, &str) {
    let mut cut = text.len() / 2;
    while !text.is_char_boundary(cut) {
        cut -= 1;
    }
    text.split_at(cut)
}

fn chat_whole(doc: &LlmResponseDoc) -> Value {
    let mut message = json!({"role": "assistant", "content": doc.text, "refusal": null});
    if !doc.tool_calls.is_empty() {
        message["tool_calls"] = doc.tool_calls.iter().map(|c| chat_call(&c.id, &c.name, &c.arguments)).collect();
    }
    let finish = if doc.tool_calls.is_empty() { "stop" } else { "tool_calls" };
    json!({"id": "chatcmpl-case", "object": "chat.completion", "created": 1, "model": "gpt-4.1",
        "choices": [{"index": 0, "message": message, "finish_reason": finish, "logprobs": null}],
        "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2}})
}

fn chat_events(doc: &LlmResponseDoc) -> Vec<(Option<&'static str>, String)> {
    let chunk = |delta: Value, finish: Option<&str>| {
        let data = json!({"id": "chatcmpl-case", "object": "chat.completion.chunk", "created": 1, "model": "gpt-4.1",
            "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]});
        (None, data.to_string())
    };
    let mut events = vec![chunk(json!({"role": "assistant", "content": doc.text.as_deref().unwrap_or("")}), None)];
    for (index, call) in doc.tool_calls.iter().enumerate() {
        let first = json!({"index": index, "id": call.id, "type": "function", "function": {"name": call.name, "arguments": ""}});
        events.push(chunk(json!({"tool_calls": [first]}), None));
        let text = arguments_text(&call.arguments);
        let (a, b) = halves(&text);
        for piece in [a, b] {
            events.push(chunk(json!({"tool_calls": [{"index": index, "function": {"arguments": piece}}]}), None));
        }
    }
    let finish = if doc.tool_calls.is_empty() { "stop" } else { "tool_calls" };
    events.push(chunk(json!({}), Some(finish)));
    events.push((None, "[DONE]".into()));
    events
}

fn responses_items(doc: &LlmResponseDoc) -> Vec<Value> {
    let text = doc.text.iter().map(|text| {
        json!({"type": "message", "id": "msg_case", "role": "assistant", "status": "completed",
            "content": [{"type": "output_text", "text": text, "annotations": []}]})
    });
    let calls = doc.tool_calls.iter().map(|c: &ToolCallDoc| {
        json!({"type": "function_call", "id": format!("fc_{}", c.id), "call_id": c.id, "name": c.name,
            "arguments": arguments_text(&c.arguments), "status": "completed"})
    });
    text.chain(calls).collect()
}

fn responses_whole(doc: &LlmResponseDoc) -> Value {
    json!({"id": "resp_case", "object": "response", "created_at": 1, "model": "gpt-4.1", "status": "completed",
        "output": responses_items(doc), "parallel_tool_calls": true, "tool_choice": "auto", "tools": []})
}

fn responses_events(doc: &LlmResponseDoc) -> Vec<(Option<&'static str>, String)> {
    let whole = responses_whole(doc);
    let mut events = Vec::new();
    let mut event = |name: &'static str, mut data: Value| {
        data["type"] = json!(name);
        data["sequence_number"] = json!(events.len());
        events.push((Some(name), data.to_string()));
    };
    let mut created = whole.clone();
    (created["status"], created["output"]) = (json!("in_progress"), json!([]));
    event("response.created", json!({"response": created}));
    for (index, item) in responses_items(doc).into_iter().enumerate() {
        let mut added = item.clone();
        added["status"] = json!("in_progress");
        if item["type"] == "function_call" {
            added["arguments"] = json!("");
        } else {
            added["content"] = json!([]);
        }
        event("response.output_item.added", json!({"output_index": index, "item": added}));
        let id = item["id"].clone();
        if item["type"] == "function_call" {
            let text = item["arguments"].as_str().unwrap_or_default();
            let (a, b) = halves(text);
            for piece in [a, b] {
                event("response.function_call_arguments.delta", json!({"output_index": index, "item_id": id, "delta": piece}));
            }
            event("response.function_call_arguments.done", json!({"output_index": index, "item_id": id, "arguments": text}));
        } else {
            let text = &item["content"][0]["text"];
            let part = |text: &Value| json!({"type": "output_text", "text": text, "annotations": []});
            let at = json!({"output_index": index, "item_id": id, "content_index": 0});
            let with = |mut base: Value, key: &str, value: Value| {
                base[key] = value;
                base
            };
            event("response.content_part.added", with(at.clone(), "part", part(&json!(""))));
            event("response.output_text.delta", with(with(at.clone(), "delta", text.clone()), "logprobs", json!([])));
            event("response.output_text.done", with(with(at.clone(), "text", text.clone()), "logprobs", json!([])));
            event("response.content_part.done", with(at, "part", part(text)));
        }
        event("response.output_item.done", json!({"output_index": index, "item": item}));
    }
    event("response.completed", json!({"response": whole}));
    events
}

fn messages_whole(doc: &LlmResponseDoc) -> Value {
    let text = doc.text.iter().map(|text| json!({"type": "text", "text": text}));
    let uses =
        doc.tool_calls.iter().map(|c| json!({"type": "tool_use", "id": c.id, "name": c.name, "input": input_of(&c.arguments)}));
    let stop = if doc.tool_calls.is_empty() { "end_turn" } else { "tool_use" };
    json!({"id": "msg_case", "type": "message", "role": "assistant", "model": "claude-sonnet-4-5",
        "content": text.chain(uses).collect::<Vec<_>>(), "stop_reason": stop, "stop_sequence": null,
        "usage": {"input_tokens": 1, "output_tokens": 1}})
}

fn messages_events(doc: &LlmResponseDoc) -> Vec<(Option<&'static str>, String)> {
    let mut start = messages_whole(doc);
    let stop = start["stop_reason"].clone();
    (start["content"], start["stop_reason"]) = (json!([]), Value::Null);
    let mut events = Vec::new();
    let mut event = |name: &'static str, mut data: Value| {
        data["type"] = json!(name);
        events.push((Some(name), data.to_string()));
    };
    event("message_start", json!({"message": start}));
    let mut index = 0;
    if let Some(text) = &doc.text {
        event("content_block_start", json!({"index": index, "content_block": {"type": "text", "text": ""}}));
        event("content_block_delta", json!({"index": index, "delta": {"type": "text_delta", "text": text}}));
        event("content_block_stop", json!({"index": index}));
        index += 1;
    }
    for call in &doc.tool_calls {
        let block = json!({"type": "tool_use", "id": call.id, "name": call.name, "input": {}});
        event("content_block_start", json!({"index": index, "content_block": block}));
        let text = arguments_text(&call.arguments);
        let (a, b) = halves(&text);
        for piece in ["", a, b] {
            event("content_block_delta", json!({"index": index, "delta": {"type": "input_json_delta", "partial_json": piece}}));
        }
        event("content_block_stop", json!({"index": index}));
        index += 1;
    }
    event("message_delta", json!({"delta": {"stop_reason": stop, "stop_sequence": null}, "usage": {"output_tokens": 1}}));
    event("message_stop", json!({}));
    events
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::super::{ApiDoc, ToolResultDoc};
    use super::*;
    use access_guardrails::llm::request as provider;

    #[test]
    fn a_request_carries_back_the_calls_it_answers_as_the_filter_reads_them() {
        for api in [ApiDoc::Chat, ApiDoc::Responses, ApiDoc::Messages] {
            let result = ToolResultDoc {
                id: "c1".into(),
                name: "run_sql".into(),
                arguments: json!({"query": "DROP TABLE t"}),
                output: None,
            };
            let doc = LlmRequestDoc { api, model: None, prompt: None, results: vec![result], stream: true };
            let body = request(&doc);
            assert_eq!(body["stream"], true);
            let exchange = provider::read(api.api(), &body);
            assert_eq!(exchange.answered.len(), 1, "{api:?}");
            assert_eq!((exchange.answered[0].id.as_str(), exchange.answered[0].name.as_str()), ("c1", "run_sql"));
            assert_eq!(exchange.answered[0].arguments, Ok(json!({"query": "DROP TABLE t"})), "{api:?}");
            assert!(exchange.model.is_some());
        }
    }

    #[test]
    fn arguments_are_cut_on_a_character() {
        assert_eq!(halves("aé"), ("a", "é"));
        assert_eq!(halves(""), ("", ""));
    }
}
