//! What an agent sends a provider: the model, and the tool calls whose results the request
//! carries back. Each provider requires the call itself in the same request, just before its
//! result, so the calls can be decided again from the request alone (on any worker or replica):
//! - Chat Completions: an assistant message's `tool_calls`, then `tool` messages with their
//!   `tool_call_id`;
//! - Responses: `function_call` items, then `function_call_output` items with their `call_id`
//!   (with `previous_response_id` the calls stay on the provider's side and are not seen here);
//! - Messages: an assistant turn's `tool_use` blocks, then a user turn of `tool_result` blocks
//!   with their `tool_use_id`.
//!
//! Only the latest turn's answered calls are read: earlier ones were decided when they were
//! answered, and a policy changed since does not condemn a whole conversation.

use serde_json::Value;

use super::responses::MINTED_PREFIX;
use super::{chat, Api, ToolCall};

/// The facts of one request to a provider.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Exchange {
    pub model: Option<String>,
    /// Calls of the latest turn that the request answers.
    pub answered: Vec<ToolCall>,
}

pub fn read(api: Api, body: &Value) -> Exchange {
    let model = body["model"].as_str().map(str::to_string);
    let answered = match api {
        Api::ChatCompletions => chat_answered(body["messages"].as_array().map_or(&[][..], Vec::as_slice)),
        Api::Responses => responses_answered(body["input"].as_array().map_or(&[][..], Vec::as_slice)),
        Api::Messages => messages_answered(body["messages"].as_array().map_or(&[][..], Vec::as_slice)),
    };
    Exchange { model, answered }
}

fn chat_answered(messages: &[Value]) -> Vec<ToolCall> {
    let Some(turn) = messages.iter().rposition(|m| m["role"] == "assistant" && m["tool_calls"].is_array()) else {
        return Vec::new();
    };
    let answered: Vec<&str> =
        messages[turn + 1..].iter().filter(|m| m["role"] == "tool").filter_map(|m| m["tool_call_id"].as_str()).collect();
    let calls = messages[turn]["tool_calls"].as_array().map_or(&[][..], Vec::as_slice);
    calls.iter().filter(|c| c["id"].as_str().is_some_and(|id| answered.contains(&id))).map(chat::whole_call).collect()
}

fn responses_answered(input: &[Value]) -> Vec<ToolCall> {
    let start = input.iter().rposition(|i| i["role"] == "user").map_or(0, |i| i + 1);
    let answered: Vec<&str> =
        input[start..].iter().filter(|i| i["type"] == "function_call_output").filter_map(|i| i["call_id"].as_str()).collect();
    input
        .iter()
        .filter(|i| i["type"] == "function_call" && i["call_id"].as_str().is_some_and(|id| answered.contains(&id)))
        .map(|i| {
            let text = |key: &str| i[key].as_str().unwrap_or_default().to_string();
            ToolCall::from_text(text("call_id"), text("name"), &text("arguments"))
        })
        .collect()
}

fn messages_answered(messages: &[Value]) -> Vec<ToolCall> {
    let blocks = |m: &Value| m["content"].as_array().cloned().unwrap_or_default();
    let Some(turn) = messages.iter().rposition(|m| m["role"] == "assistant" && blocks(m).iter().any(|b| b["type"] == "tool_use"))
    else {
        return Vec::new();
    };
    let results: Vec<Value> = messages[turn + 1..].iter().filter(|m| m["role"] == "user").flat_map(blocks).collect();
    let answered: Vec<&str> =
        results.iter().filter(|b| b["type"] == "tool_result").filter_map(|b| b["tool_use_id"].as_str()).collect();
    blocks(&messages[turn])
        .iter()
        .filter(|b| b["type"] == "tool_use" && b["id"].as_str().is_some_and(|id| answered.contains(&id)))
        .map(|b| ToolCall {
            id: b["id"].as_str().unwrap_or_default().to_string(),
            name: b["name"].as_str().unwrap_or_default().to_string(),
            arguments: match &b["input"] {
                input @ Value::Object(_) => Ok(input.clone()),
                other => Err(format!("the input is {}, not an object", crate::json::kind(other))),
            },
        })
        .collect()
}

/// A Responses API request body with the text items this filter wrote in place of denied calls
/// sent back as plain assistant messages (the provider rejects the ids minted for them, which it
/// never stored); `None` when there is none, or the body is not JSON.
pub fn restore_replacements(body: &[u8]) -> Option<Vec<u8>> {
    let needle = MINTED_PREFIX.as_bytes();
    if !body.windows(needle.len()).any(|w| w == needle) {
        return None;
    }
    let mut doc: Value = serde_json::from_slice(body).ok()?;
    let mut restored = false;
    for item in doc.get_mut("input")?.as_array_mut()? {
        if item["type"] == "message" && item["id"].as_str().is_some_and(|id| id.starts_with(MINTED_PREFIX)) {
            let parts = item["content"].as_array().map_or(&[][..], Vec::as_slice);
            let text: String = parts.iter().filter_map(|p| p["text"].as_str()).collect();
            *item = serde_json::json!({"type": "message", "role": "assistant", "content": text});
            restored = true;
        }
    }
    restored.then(|| doc.to_string().into_bytes())
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn ids(exchange: &Exchange) -> Vec<&str> {
        exchange.answered.iter().map(|c| c.id.as_str()).collect()
    }

    #[test]
    fn chat_results_name_the_latest_turns_calls() {
        let call = |id: &str| json!({"id": id, "type": "function", "function": {"name": "run_sql", "arguments": "{\"query\": \"SELECT 1\"}"}});
        let body = json!({"model": "gpt-x", "messages": [
            {"role": "user", "content": "hi"},
            {"role": "assistant", "tool_calls": [call("old")]},
            {"role": "tool", "tool_call_id": "old", "content": "1"},
            {"role": "assistant", "content": null, "tool_calls": [call("a"), call("b")]},
            {"role": "tool", "tool_call_id": "b", "content": "[[1]]"}]});
        let exchange = read(Api::ChatCompletions, &body);
        assert_eq!((exchange.model.as_deref(), ids(&exchange)), (Some("gpt-x"), vec!["b"]));
        assert_eq!(exchange.answered[0].arguments, Ok(json!({"query": "SELECT 1"})));
        assert!(read(Api::ChatCompletions, &json!({"messages": [{"role": "user", "content": "x"}]})).answered.is_empty());
    }

    #[test]
    fn replacements_sent_back_lose_their_minted_ids() {
        let body = json!({"model": "m", "input": [
            {"role": "user", "content": "go"},
            {"type": "message", "id": "msg_agdenied_c1", "role": "assistant", "status": "completed",
             "content": [{"type": "output_text", "text": "[Access Guardrails] denied", "annotations": []}]},
            {"type": "message", "id": "msg_abc", "role": "assistant", "content": [{"type": "output_text", "text": "kept"}]},
            {"type": "function_call", "call_id": "c2", "name": "read", "arguments": "{}"}]});
        let restored: Value = serde_json::from_slice(&restore_replacements(body.to_string().as_bytes()).unwrap()).unwrap();
        assert_eq!(
            restored["input"][1],
            json!({"type": "message", "role": "assistant", "content": "[Access Guardrails] denied"})
        );
        assert_eq!((&restored["input"][2], &restored["input"][3]), (&body["input"][2], &body["input"][3]));
        assert_eq!(restore_replacements(br#"{"input": [{"role": "user", "content": "msg_agdenied_ in a prompt"}]}"#), None);
        assert_eq!(restore_replacements(b"msg_agdenied_ {not json"), None);
    }

    #[test]
    fn responses_and_messages_results() {
        let body = json!({"input": [
            {"role": "user", "content": "go"},
            {"type": "function_call", "call_id": "c1", "name": "drop", "arguments": "{}"},
            {"type": "function_call", "call_id": "c2", "name": "read", "arguments": "{"},
            {"type": "function_call_output", "call_id": "c1", "output": "done"},
            {"type": "function_call_output", "call_id": "c2", "output": "done"}]});
        let exchange = read(Api::Responses, &body);
        assert_eq!(ids(&exchange), vec!["c1", "c2"]);
        assert!(exchange.answered[1].arguments.is_err());
        let body = json!({"messages": [
            {"role": "user", "content": "go"},
            {"role": "assistant", "content": [{"type": "text", "text": "ok"},
                {"type": "tool_use", "id": "toolu_1", "name": "drop", "input": {"t": 1}},
                {"type": "tool_use", "id": "toolu_2", "name": "read", "input": {}}]},
            {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "toolu_1", "content": "done"}]}]});
        let exchange = read(Api::Messages, &body);
        assert_eq!(ids(&exchange), vec!["toolu_1"]);
        assert_eq!(exchange.answered[0].arguments, Ok(json!({"t": 1})));
    }
}
