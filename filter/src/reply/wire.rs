//! What a database client reads about a denied statement. The wire sessions put this text into
//! the protocol's own error (a Postgres `ErrorResponse` with SQLSTATE 42501, a MySQL `ERR`
//! 1227): where and with which sequence number is session state, so the framing stays in
//! [`crate::wire`].

use crate::decide::Decision;

/// The error text a client gets for a denied statement: the rule and its message.
pub fn denied_message(decision: &Decision) -> String {
    match &decision.rule {
        Some(rule) => format!("access guardrails: denied by {rule}: {}", decision.message),
        None => format!("access guardrails: denied: {}", decision.message),
    }
}
