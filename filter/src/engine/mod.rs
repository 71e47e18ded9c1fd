//! One action through the whole engine, for every channel alike:
//!
//! - [`evaluate`] (HTTP, MCP, GraphQL) and [`evaluate_sql`] (a database message) read what the
//!   route's payload says, analyze every statement and decide: an [`Outcome`].
//! - [`conclude`] turns an outcome and what only the host knows ([`Environment`]: audit
//!   availability, time, where the action was taken) into a [`Conclusion`]: the final
//!   decision, its audit record, the reply a denied client gets, the filter state, and what
//!   happens to the response.
//!
//! The filter, the `guardrails` command and the tests all come through here, so they cannot
//! disagree; `proxy/` carries a conclusion out and decides nothing.

mod conclude;
mod evaluate;

pub use crate::decide::Outcome;
pub use conclude::{
    conclude, masks_responses_of, outgoing_masking, reads_responses_of, unmaskable, unmaskable_outgoing, Conclusion, Count,
    Delivery, Environment, FilterState, Masking, ResponsePlan, Unmaskable,
};
pub use evaluate::{
    ambiguous, at_headers, evaluate, evaluate_session_sql, evaluate_sql, evaluate_tool_call, oversize, unreadable,
    unreadable_answer, with_body, AtHeaders,
};
