//! The local reply a denied HTTP request gets: `403`, `x-guardrails-decision: deny`, and a JSON
//! body a client (or an agent) can read: `{"error":"access_guardrails_denied","rule",
//! "message","request_id"}`.

use super::HttpReply;
use crate::decide::Decision;

pub const DENIED_STATUS: u32 = 403;

/// The reply for an enforced deny; `request_id` is the request's `x-request-id`.
pub fn denied(decision: &Decision, request_id: Option<&str>) -> HttpReply {
    let body = denied_body(decision, request_id);
    let mut headers = vec![("content-type", "application/json".to_string()), ("x-guardrails-decision", "deny".to_string())];
    if let Some(rule) = &decision.rule {
        headers.push(("x-guardrails-rule", header_safe(rule)));
    }
    HttpReply { status: DENIED_STATUS, headers, body: body.to_string() }
}

/// The JSON a client reads about a deny (the HTTP body; an MCP error's `data`).
pub fn denied_body(decision: &Decision, request_id: Option<&str>) -> serde_json::Value {
    serde_json::json!({
        "error": "access_guardrails_denied",
        "rule": decision.rule,
        "message": decision.message,
        "request_id": request_id,
    })
}

/// Status of a response withheld because it could not be masked.
pub const UNMASKABLE_STATUS: u32 = 502;

/// What the client gets instead of a response that could not be masked.
pub fn unmaskable(reason: &str, request_id: Option<&str>) -> HttpReply {
    let body = serde_json::json!({
        "error": "access_guardrails_unmaskable",
        "message": format!("the response was withheld: {reason}"),
        "request_id": request_id,
    });
    HttpReply {
        status: UNMASKABLE_STATUS,
        headers: vec![("content-type", "application/json".to_string())],
        body: body.to_string(),
    }
}

/// Rule names are policy text: keep a header value to visible ASCII.
pub(super) fn header_safe(value: &str) -> String {
    value.chars().map(|c| if c.is_ascii_graphic() || c == ' ' { c } else { '?' }).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::decide::Reason;
    use crate::policy::Effect;

    #[test]
    fn the_body_names_the_rule_and_request() {
        let decision = Decision {
            effect: Effect::Deny,
            enforced: true,
            reason: Reason::Rule,
            rule: Some("no-drops".into()),
            message: "Dropping \"objects\" goes through migrations.".into(),
            unit: crate::decide::Unit::Statement(0),
            would_deny: None,
        };
        let reply = denied(&decision, Some("req-1"));
        assert_eq!(reply.status, 403);
        let body: serde_json::Value = serde_json::from_str(&reply.body).unwrap();
        assert_eq!(body["error"], "access_guardrails_denied");
        assert_eq!(body["rule"], "no-drops");
        assert_eq!(body["message"], "Dropping \"objects\" goes through migrations.");
        assert_eq!(body["request_id"], "req-1");
        assert!(reply.headers.contains(&("x-guardrails-decision", "deny".into())));
        let default_deny = Decision { rule: None, reason: Reason::RouteDefault, ..decision };
        let body: serde_json::Value = serde_json::from_str(&denied(&default_deny, None).body).unwrap();
        assert!(body["rule"].is_null() && body["request_id"].is_null());
    }
}
