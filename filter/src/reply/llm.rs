//! What an agent reads when a model's tool call, or its request to the provider, is denied:
//! the text that stands where a denied call was, and the provider's own error format (status
//! 403, which both SDKs raise as `PermissionDeniedError` and never retry) for `on_deny: error`
//! and for a request sending back the result of a denied call.
//!
//! OpenAI: `{"error": {"message", "type", "param", "code"}}` (openai-python `_client.py` reads
//! `body["error"]`); Anthropic: `{"type": "error", "error": {"type": "permission_error",
//! "message"}}` (anthropic-sdk-python `types/shared/error_response.py`).

use serde_json::json;

use super::http::DENIED_STATUS;
use super::HttpReply;
use crate::decide::Decision;
use crate::http::sse::Event;
use crate::llm::{Api, Provider, ToolCall};

/// The text the agent reads in place of a denied call. It names the rule and its message,
/// never the arguments (they may hold what the rule is about).
pub fn refusal(decision: &Decision, call: &ToolCall) -> String {
    let rule = decision.rule.as_deref().map(|r| format!(" by rule {r:?}")).unwrap_or_default();
    format!(
        "[Access Guardrails] The tool call {:?} ({}) was denied{rule}: {}. It was not sent to you.",
        call.name,
        call.id,
        decision.message.trim_end_matches('.')
    )
}

/// The provider's error response for a denial.
pub fn denied(provider: Provider, decision: &Decision, request_id: Option<&str>) -> HttpReply {
    let message = match request_id {
        Some(id) => format!("{} (request {id})", decision.message),
        None => decision.message.clone(),
    };
    error(provider, &message, decision.rule.as_deref())
}

/// The provider's error response (403) saying `message`, `code` naming the rule or limit.
pub fn error(provider: Provider, message: &str, code: Option<&str>) -> HttpReply {
    let message = format!("Denied by Access Guardrails: {message}");
    let body = match provider {
        Provider::OpenAi => json!({"error": {"message": message, "type": "access_guardrails_denied",
            "param": null, "code": code}}),
        Provider::Anthropic => json!({"type": "error", "error": {"type": "permission_error", "message": message}}),
    };
    let mut headers = vec![("content-type", "application/json".to_string()), ("x-guardrails-decision", "deny".to_string())];
    if let Some(code) = code {
        headers.push(("x-guardrails-rule", super::http::header_safe(code)));
    }
    HttpReply { status: DENIED_STATUS, headers, body: body.to_string() }
}

/// A denial in the middle of a streamed answer, as the provider's own error event: the
/// headers went out with status 200, so this is what the SDK raises (`openai.APIError`,
/// `anthropic.APIStatusError`).
pub fn stream_error(api: Api, decision: &Decision) -> Vec<u8> {
    let message = format!("Denied by Access Guardrails: {}", decision.message);
    let mut out = Vec::new();
    match api {
        Api::ChatCompletions => {
            let data =
                json!({"error": {"message": message, "type": "access_guardrails_denied", "param": null, "code": decision.rule}});
            Event::write(None, &data.to_string(), &mut out);
        }
        Api::Responses => {
            let data = json!({"type": "error", "code": decision.rule, "message": message, "param": null});
            Event::write(Some("error"), &data.to_string(), &mut out);
        }
        Api::Messages => {
            let data = json!({"type": "error", "error": {"type": "permission_error", "message": message}});
            Event::write(Some("error"), &data.to_string(), &mut out);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::decide::{Reason, Unit};
    use crate::policy::Effect;

    fn decision() -> Decision {
        Decision {
            effect: Effect::Deny,
            enforced: true,
            reason: Reason::Rule,
            rule: Some("no-drops".into()),
            message: "Dropping tables goes through migrations.".into(),
            unit: Unit::Message { call: 0, statement: Some(0) },
            would_deny: None,
        }
    }

    #[test]
    fn each_provider_gets_its_own_error_shape() {
        let openai: serde_json::Value = serde_json::from_str(&denied(Provider::OpenAi, &decision(), Some("r1")).body).unwrap();
        assert_eq!(openai["error"]["code"], "no-drops");
        assert!(openai["error"]["message"].as_str().unwrap().contains("migrations"));
        let reply = denied(Provider::Anthropic, &decision(), None);
        let anthropic: serde_json::Value = serde_json::from_str(&reply.body).unwrap();
        assert_eq!(
            (reply.status, &anthropic["type"], &anthropic["error"]["type"]),
            (403, &json!("error"), &json!("permission_error"))
        );
    }

    #[test]
    fn a_stream_ends_with_the_providers_error_event() {
        let anthropic = Event::parse(stream_error(Api::Messages, &decision()));
        assert_eq!(anthropic.name.as_deref(), Some("error"));
        let data: serde_json::Value = serde_json::from_str(&anthropic.data).unwrap();
        assert_eq!(data["error"]["type"], "permission_error");
        let chat = Event::parse(stream_error(Api::ChatCompletions, &decision()));
        assert_eq!(
            (chat.name, serde_json::from_str::<serde_json::Value>(&chat.data).unwrap()["error"]["code"].clone()),
            (None, json!("no-drops"))
        );
    }

    #[test]
    fn the_refusal_names_the_rule_and_not_the_arguments() {
        let call =
            ToolCall { id: "call_A".into(), name: "run_sql".into(), arguments: Ok(json!({"query": "DROP TABLE secrets"})) };
        let text = refusal(&decision(), &call);
        assert_eq!(
            text,
            "[Access Guardrails] The tool call \"run_sql\" (call_A) was denied by rule \"no-drops\": Dropping tables goes through migrations. It was not sent to you."
        );
        assert!(!text.contains("secrets"));
    }
}
