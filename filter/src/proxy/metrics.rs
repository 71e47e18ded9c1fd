//! Every counter of the filter, declared once in [`COUNTERS`] and shared by the streams of a
//! VM. Envoy shows them at `/stats` with the prefix `wasmcustom.`:
//! `wasmcustom.guardrails.decisions.deny`, and so on.

use super::host;
use crate::engine::{Conclusion, Count};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Counter {
    /// What a conclusion counts (see [`Conclusion::counts`]).
    Decision(Count),
    AuditSent,
    AuditFailed,
    AuditDropped,
}

/// Each counter and its name, in the order of their ids.
pub const COUNTERS: [(Counter, &str); 9] = [
    (Counter::Decision(Count::Allow), "guardrails.decisions.allow"),
    (Counter::Decision(Count::Deny), "guardrails.decisions.deny"),
    (Counter::Decision(Count::WouldDeny), "guardrails.decisions.would_deny"),
    (Counter::Decision(Count::Unparsable), "guardrails.unparsable"),
    (Counter::Decision(Count::Oversize), "guardrails.oversize"),
    (Counter::Decision(Count::EncodedBody), "guardrails.encoded_body"),
    (Counter::AuditSent, "guardrails.audit.sent"),
    (Counter::AuditFailed, "guardrails.audit.failed"),
    (Counter::AuditDropped, "guardrails.audit.dropped"),
];

pub struct Metrics {
    ids: [Option<u32>; COUNTERS.len()],
}

impl Metrics {
    pub fn define() -> Metrics {
        Metrics { ids: COUNTERS.map(|(_, name)| host::define_counter(name)) }
    }

    pub fn add(&self, counter: Counter, by: u64) {
        let id = COUNTERS.iter().position(|(c, _)| *c == counter).and_then(|i| self.ids[i]);
        if let (Some(id), true) = (id, by > 0) {
            host::increment(id, i64::try_from(by).unwrap_or(i64::MAX));
        }
    }

    pub fn count(&self, conclusion: &Conclusion) {
        for count in conclusion.counts() {
            self.add(Counter::Decision(count), 1);
        }
    }
}
