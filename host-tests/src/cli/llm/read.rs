//! What the agent gets back from a provider, read as the provider's SDK reads it: the text, the
//! tool calls (in order, with their arguments as the agent would run them), the finish reason,
//! or the provider's error. A stream the SDK's helper would raise on (a call index skipped) is
//! noted as a problem.

use std::collections::BTreeMap;

use serde_json::Value;

use access_guardrails::llm::Api;

/// The answer as the agent reads it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Answer {
    pub text: String,
    pub calls: Vec<SeenCall>,
    /// Chat's `finish_reason`, Messages' `stop_reason`, Responses' `status`; `error` when the
    /// answer is the provider's error.
    pub finish: Option<String>,
    /// The provider's error the agent gets instead of an answer (its code or type, and message).
    pub error: Option<String>,
    /// What would make the SDK raise, or is not the API's shape.
    pub problems: Vec<String>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SeenCall {
    pub id: String,
    pub name: String,
    pub arguments: String,
}

/// Reads an answer: server-sent events when it looks like them, else JSON.
pub fn answer(api: Api, body: &[u8]) -> Answer {
    let text = String::from_utf8_lossy(body);
    let streamed = text.starts_with("data:") || text.starts_with("event:");
    let mut answer = if streamed {
        let events = events(&text);
        match api {
            Api::ChatCompletions => chat_stream(&events),
            Api::Responses => responses_stream(&events),
            Api::Messages => messages_stream(&events),
        }
    } else {
        match serde_json::from_str::<Value>(&text) {
            Ok(doc) => whole(api, &doc),
            Err(e) => Answer { problems: vec![format!("the answer is not JSON: {e}")], ..Answer::default() },
        }
    };
    if answer.error.is_some() {
        answer.finish = Some("error".into());
    }
    answer
}

/// The events of a stream as (event name, data), `data:` lines joined; a data that is not JSON
/// is kept as a JSON string (`[DONE]`).
fn events(text: &str) -> Vec<(Option<String>, Value)> {
    let normalized = text.replace("\r\n", "\n");
    let mut found = Vec::new();
    for block in normalized.split("\n\n").filter(|b| !b.trim().is_empty()) {
        let (mut name, mut data) = (None, Vec::new());
        for line in block.lines() {
            if let Some(value) = line.strip_prefix("event:") {
                name = Some(value.trim().to_string());
            } else if let Some(value) = line.strip_prefix("data:") {
                data.push(value.strip_prefix(' ').unwrap_or(value));
            }
        }
        let data = data.join("\n");
        found.push((name, serde_json::from_str(&data).unwrap_or(Value::String(data))));
    }
    found
}

fn text_of(value: &Value) -> String {
    value.as_str().unwrap_or_default().to_string()
}

fn error_of(error: &Value) -> String {
    let code = error.get("code").filter(|c| !c.is_null()).or_else(|| error.get("type"));
    format!("{}: {}", code.map(text_of).unwrap_or_default(), text_of(&error["message"]))
}

fn whole(api: Api, doc: &Value) -> Answer {
    let mut answer = Answer::default();
    if doc["type"] == "error" || doc.get("error").is_some_and(Value::is_object) {
        answer.error = Some(error_of(&doc["error"]));
        return answer;
    }
    match api {
        Api::ChatCompletions => {
            let choice = &doc["choices"][0];
            answer.text = text_of(&choice["message"]["content"]);
            for call in choice["message"]["tool_calls"].as_array().into_iter().flatten() {
                let function = &call["function"];
                answer.calls.push(SeenCall {
                    id: text_of(&call["id"]),
                    name: text_of(&function["name"]),
                    arguments: text_of(&function["arguments"]),
                });
            }
            if choice["message"]["tool_calls"].as_array().is_some_and(Vec::is_empty) {
                answer.problems.push("an empty tool_calls list (the provider refuses it when it is sent back)".into());
            }
            answer.finish = choice["finish_reason"].as_str().map(String::from);
        }
        Api::Responses => responses_output(doc, &mut answer),
        Api::Messages => {
            for block in doc["content"].as_array().into_iter().flatten() {
                match block["type"].as_str() {
                    Some("text") => answer.text.push_str(block["text"].as_str().unwrap_or_default()),
                    Some("tool_use") => answer.calls.push(SeenCall {
                        id: text_of(&block["id"]),
                        name: text_of(&block["name"]),
                        arguments: block["input"].to_string(),
                    }),
                    _ => {}
                }
            }
            answer.finish = doc["stop_reason"].as_str().map(String::from);
        }
    }
    answer
}

/// A Responses `Response`: its `output[]` (what the SDK's result holds, streamed or not).
fn responses_output(response: &Value, answer: &mut Answer) {
    for item in response["output"].as_array().into_iter().flatten() {
        match item["type"].as_str() {
            Some("message") => {
                for part in item["content"].as_array().into_iter().flatten() {
                    answer.text.push_str(part["text"].as_str().unwrap_or_default());
                }
            }
            Some("function_call") => answer.calls.push(SeenCall {
                id: text_of(&item["call_id"]),
                name: text_of(&item["name"]),
                arguments: text_of(&item["arguments"]),
            }),
            _ => {}
        }
    }
    answer.finish = response["status"].as_str().map(String::from);
}

fn chat_stream(events: &[(Option<String>, Value)]) -> Answer {
    let mut answer = Answer::default();
    let mut calls: BTreeMap<u64, SeenCall> = BTreeMap::new();
    for (_, data) in events {
        if let Some(error) = data.get("error") {
            answer.error = Some(error_of(error));
        }
        for choice in data["choices"].as_array().into_iter().flatten().filter(|c| c["index"] == 0) {
            answer.text.push_str(choice["delta"]["content"].as_str().unwrap_or_default());
            for fragment in choice["delta"]["tool_calls"].as_array().into_iter().flatten() {
                let index = fragment["index"].as_u64().unwrap_or(u64::MAX);
                if !calls.contains_key(&index) && index != calls.len() as u64 {
                    answer.problems.push(format!("tool call index {index} follows {} calls (the SDK raises)", calls.len()));
                }
                let call =
                    calls.entry(index).or_insert(SeenCall { id: String::new(), name: String::new(), arguments: String::new() });
                call.id.push_str(fragment["id"].as_str().unwrap_or_default());
                call.name.push_str(fragment["function"]["name"].as_str().unwrap_or_default());
                call.arguments.push_str(fragment["function"]["arguments"].as_str().unwrap_or_default());
            }
            if let Some(finish) = choice["finish_reason"].as_str() {
                answer.finish = Some(finish.to_string());
            }
        }
    }
    answer.calls = calls.into_values().collect();
    answer
}

fn responses_stream(events: &[(Option<String>, Value)]) -> Answer {
    let mut answer = Answer::default();
    let mut completed = false;
    for (name, data) in events {
        match name.as_deref().or(data["type"].as_str()) {
            Some("error") => answer.error = Some(error_of(data)),
            Some("response.completed" | "response.incomplete" | "response.failed") => {
                responses_output(&data["response"], &mut answer);
                completed = true;
            }
            _ => {}
        }
    }
    if !completed && answer.error.is_none() {
        answer.problems.push("the stream has no response.completed (the SDK's final response)".into());
    }
    answer
}

fn messages_stream(events: &[(Option<String>, Value)]) -> Answer {
    let mut answer = Answer::default();
    let mut blocks: BTreeMap<u64, (Value, String)> = BTreeMap::new();
    for (name, data) in events {
        let index = data["index"].as_u64().unwrap_or(u64::MAX);
        match name.as_deref().or(data["type"].as_str()) {
            Some("error") => answer.error = Some(error_of(&data["error"])),
            Some("content_block_start") => {
                if index != blocks.len() as u64 {
                    answer.problems.push(format!("content block {index} follows {} blocks", blocks.len()));
                }
                blocks.insert(index, (data["content_block"].clone(), String::new()));
            }
            Some("content_block_delta") => {
                let Some((_, text)) = blocks.get_mut(&index) else { continue };
                let delta = &data["delta"];
                text.push_str(delta["text"].as_str().or(delta["partial_json"].as_str()).unwrap_or_default());
            }
            Some("message_delta") => answer.finish = data["delta"]["stop_reason"].as_str().map(String::from),
            _ => {}
        }
    }
    for (block, text) in blocks.into_values() {
        match block["type"].as_str() {
            Some("text") => answer.text.push_str(&text),
            Some("tool_use") => {
                answer.calls.push(SeenCall { id: text_of(&block["id"]), name: text_of(&block["name"]), arguments: text })
            }
            _ => {}
        }
    }
    answer
}

/// Whether `text` holds the filter's refusal of the call `id`, and the rule it names
/// (`[Access Guardrails] The tool call "run_sql" (call_A) was denied by rule "no-drops": ...`).
pub fn refusal(text: &str, id: &str) -> Option<Option<String>> {
    let marker = format!("({id}) was denied");
    let after = &text[text.find(&marker)? + marker.len()..];
    let Some(quoted) = after.strip_prefix(" by rule ") else { return Some(None) };
    let mut strings = serde_json::Deserializer::from_str(quoted).into_iter::<String>();
    Some(strings.next().and_then(Result::ok))
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::super::{render, LlmResponseDoc, ToolCallDoc};
    use super::*;

    fn doc(stream: bool) -> LlmResponseDoc {
        let call = |id: &str, arguments: Value| ToolCallDoc { id: id.into(), name: "run_sql".into(), arguments };
        LlmResponseDoc {
            text: Some("Checking é.".into()),
            tool_calls: vec![call("c1", json!({"query": "SELECT 1"})), call("c2", json!("{\"query\": \"SELECT 2\""))],
            stream,
        }
    }

    #[test]
    fn every_rendered_answer_reads_back_as_it_was_written() {
        for api in [Api::ChatCompletions, Api::Responses, Api::Messages] {
            for stream in [false, true] {
                let (content_type, body) = render::response(api, &doc(stream));
                assert_eq!(content_type == "text/event-stream", stream);
                let got = answer(api, &body);
                assert_eq!((got.text.as_str(), &got.problems, &got.error), ("Checking é.", &vec![], &None), "{api:?} {stream}");
                let ids: Vec<&str> = got.calls.iter().map(|c| c.id.as_str()).collect();
                assert_eq!(ids, ["c1", "c2"], "{api:?} {stream}");
                let first: Value = serde_json::from_str(&got.calls[0].arguments).unwrap();
                assert_eq!(first, json!({"query": "SELECT 1"}), "{api:?} {stream}");
                let finish = match api {
                    Api::ChatCompletions => "tool_calls",
                    Api::Responses => "completed",
                    Api::Messages => "tool_use",
                };
                assert_eq!(got.finish.as_deref(), Some(finish), "{api:?} {stream}");
            }
        }
        // Text that is not JSON reaches the agent as it was written, where the API carries text.
        let (_, body) = render::response(Api::ChatCompletions, &doc(true));
        assert_eq!(answer(Api::ChatCompletions, &body).calls[1].arguments, "{\"query\": \"SELECT 2\"");
    }

    #[test]
    fn a_skipped_index_and_the_providers_errors_are_seen() {
        let chunk = |index: u64, id: &str| {
            let fragment = json!({"index": index, "id": id, "function": {"name": "t", "arguments": "{}"}});
            format!("data: {}\n\n", json!({"choices": [{"index": 0, "delta": {"tool_calls": [fragment]}}]}))
        };
        let gap = format!("{}{}data: [DONE]\n\n", chunk(0, "a"), chunk(2, "b"));
        assert_eq!(answer(Api::ChatCompletions, gap.as_bytes()).problems.len(), 1);
        let error = b"event: error\ndata: {\"type\":\"error\",\"error\":{\"type\":\"permission_error\",\"message\":\"no\"}}\n\n";
        let got = answer(Api::Messages, error);
        assert_eq!((got.finish.as_deref(), got.error.as_deref()), (Some("error"), Some("permission_error: no")));
        let got = answer(Api::ChatCompletions, br#"{"error": {"message": "Denied", "code": "no-drops", "type": "x"}}"#);
        assert_eq!(got.error.as_deref(), Some("no-drops: Denied"));
        assert!(!answer(Api::Responses, b"{not json").problems.is_empty());
    }

    #[test]
    fn a_refusal_names_its_call_and_rule() {
        let text = "Ok.\n\n[Access Guardrails] The tool call \"run_sql\" (call_A) was denied by rule \"no-drops\": Use migrations. It was not sent to you.";
        assert_eq!(refusal(text, "call_A"), Some(Some("no-drops".into())));
        assert_eq!(refusal(text, "call_B"), None);
        assert_eq!(refusal("The tool call \"t\" (x) was denied: too big.", "x"), Some(None));
    }
}
