//! Counters, shared by every stream of a VM. Envoy shows them at `/stats` with the prefix
//! `wasmcustom.`: `wasmcustom.guardrails.decisions.deny`, and so on.

use proxy_wasm::hostcalls;
use proxy_wasm::types::MetricType;

use crate::decide::{Limit, Reason};
use crate::engine::Outcome;

pub struct Metrics {
    allow: Option<u32>,
    deny: Option<u32>,
    would_deny: Option<u32>,
    unparsable: Option<u32>,
    oversize: Option<u32>,
    encoded_body: Option<u32>,
}

fn counter(name: &str) -> Option<u32> {
    hostcalls::define_metric(MetricType::Counter, name).ok()
}

fn bump(metric: Option<u32>) {
    if let Some(id) = metric {
        let _ = hostcalls::increment_metric(id, 1);
    }
}

impl Metrics {
    pub fn define() -> Metrics {
        Metrics {
            allow: counter("guardrails.decisions.allow"),
            deny: counter("guardrails.decisions.deny"),
            would_deny: counter("guardrails.decisions.would_deny"),
            unparsable: counter("guardrails.unparsable"),
            oversize: counter("guardrails.oversize"),
            encoded_body: counter("guardrails.encoded_body"),
        }
    }

    pub fn count(&self, outcome: &Outcome) {
        let decision = &outcome.decision;
        bump(if decision.is_deny() { self.deny } else { self.allow });
        if decision.would_deny.is_some() {
            bump(self.would_deny);
        }
        match decision.reason {
            Reason::Limit(Limit::Unparsable) => bump(self.unparsable),
            _ if outcome.statements.iter().any(Result::is_err) => bump(self.unparsable),
            Reason::Limit(Limit::Oversize) => bump(self.oversize),
            Reason::Limit(Limit::EncodedBody) => bump(self.encoded_body),
            Reason::Limit(Limit::AuditUnavailable | Limit::McpHeaders) | Reason::Rule | Reason::RouteDefault => {}
        }
    }
}
