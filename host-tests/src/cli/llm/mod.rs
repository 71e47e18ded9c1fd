//! The `llm` form of a case: a request to a model provider and the provider's answer, written
//! compactly (the API, the tool calls, some text) and rendered into the API's real JSON or
//! server-sent events ([`render`]); what the agent gets back is read as the provider's SDK reads
//! it ([`read`]), so a case checks what the filter actually wrote.

pub mod read;
pub mod render;

use serde::Deserialize;
use serde_json::Value;

use access_guardrails::llm::Api;

/// A provider API, as a case names it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ApiDoc {
    /// OpenAI Chat Completions.
    Chat,
    /// OpenAI Responses.
    Responses,
    /// Anthropic Messages.
    Messages,
}

impl ApiDoc {
    pub fn api(self) -> Api {
        match self {
            ApiDoc::Chat => Api::ChatCompletions,
            ApiDoc::Responses => Api::Responses,
            ApiDoc::Messages => Api::Messages,
        }
    }

    /// The API's path, as the provider's presets know it.
    pub fn path(self) -> &'static str {
        match self {
            ApiDoc::Chat => "/v1/chat/completions",
            ApiDoc::Responses => "/v1/responses",
            ApiDoc::Messages => "/v1/messages",
        }
    }
}

/// The API a request path is for, whichever provider serves it.
pub fn api_at(path: &str) -> Option<Api> {
    use access_guardrails::llm::Provider;
    let path = path.split('?').next().unwrap_or_default();
    Api::at(Provider::OpenAi, path).or_else(|| Api::at(Provider::Anthropic, path))
}

/// `request.llm`: what the agent asks the provider, and the results of tool calls it ran.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LlmRequestDoc {
    pub api: ApiDoc,
    pub model: Option<String>,
    /// The user's message ("go" unless given).
    pub prompt: Option<String>,
    /// Tool calls of the model's last answer that the agent ran, sent back with their results.
    #[serde(default)]
    pub results: Vec<ToolResultDoc>,
    /// Asks for a streamed answer; set when the case's `response.llm` is streamed.
    #[serde(default)]
    pub stream: bool,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ToolResultDoc {
    pub id: String,
    pub name: String,
    #[serde(default = "empty_object")]
    pub arguments: Value,
    /// What the tool returned ("done" unless given).
    pub output: Option<String>,
}

/// `response.llm`: the provider's answer.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LlmResponseDoc {
    /// Text the model writes before its calls.
    pub text: Option<String>,
    #[serde(default)]
    pub tool_calls: Vec<ToolCallDoc>,
    /// Sent as the API's server-sent events, each call's arguments split across events.
    #[serde(default)]
    pub stream: bool,
}

/// A tool call of the answer. `arguments` given as YAML is sent as its JSON; given as a string,
/// it is sent as is (so it may be text that is not JSON).
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ToolCallDoc {
    pub id: String,
    pub name: String,
    #[serde(default = "empty_object")]
    pub arguments: Value,
}

fn empty_object() -> Value {
    Value::Object(Default::default())
}

/// The arguments as the model writes them: a string as is, anything else as its JSON.
pub fn arguments_text(arguments: &Value) -> String {
    match arguments {
        Value::String(text) => text.clone(),
        other => other.to_string(),
    }
}
