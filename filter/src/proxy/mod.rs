//! The only module that talks to the host (proxy-wasm ABI 0.2.1): it gathers facts, asks the
//! engine, and carries out the [`crate::engine::Conclusion`]. It decides nothing itself.
//!
//! - [`host`]: every host call, wrapped so that none can panic.
//! - [`metrics`]: the counters, declared in one table.
//! - [`audit`]: shipping records from the root context.
//! - [`http`]: the HTTP filter stream, with [`llm`] for a model's answers; [`wire`]: the
//!   network filter connection.
//!
//! The root context loads the policy and makes HTTP or network contexts, by the policy's
//! protocol.

mod audit;
mod host;
mod http;
mod llm;
mod metrics;
mod outgoing;
mod wire;

use std::cell::RefCell;
use std::rc::Rc;

use proxy_wasm::traits::{Context, HttpContext, RootContext, StreamContext};
use proxy_wasm::types::ContextType;

use crate::audit::Site;
use crate::engine::{self, Conclusion, Environment, Outcome, ResponsePlan};
use crate::identity::Actor;
use crate::mask::MaskCache;
use crate::policy::{Policy, Protocol};
use crate::sql::AnalysisCache;
use audit::AuditSink;
use host::{BufferType, LogLevel};
use metrics::Metrics;

proxy_wasm::main! {{
    proxy_wasm::set_log_level(proxy_wasm::types::LogLevel::Info);
    proxy_wasm::set_root_context(|_| -> Box<dyn RootContext> { Box::new(Root::default()) });
}}

/// What every stream of a VM shares: the policy, counters, the audit sink and the memos.
#[derive(Clone)]
struct Shared {
    policy: Rc<Policy>,
    metrics: Rc<Metrics>,
    audit: Option<Rc<RefCell<AuditSink>>>,
    /// Statement analyses of this VM, reused across its streams.
    cache: Rc<RefCell<AnalysisCache>>,
    /// The lazy DFA state of each masking route, built as responses need it.
    mask_caches: Rc<RefCell<Vec<Option<MaskCache>>>>,
}

impl Shared {
    /// Concludes a decision on route `route` with what the host knows now (one clock read),
    /// counts it and ships its record, unless the record waits for a masked response.
    fn conclude(&self, route: usize, actor: &Actor, outcome: Outcome, site: Site<'_>, started_nanos: u64) -> Conclusion {
        let audit_unavailable = self.audit.as_ref().is_some_and(|a| a.borrow().unavailable());
        let environment = Environment { site, audit_unavailable, now_nanos: host::now_nanos(), started_nanos };
        let mut conclusion = engine::conclude(&self.policy, &self.policy.routes[route], actor, outcome, &environment);
        self.metrics.count(&conclusion);
        // A masked body's record waits to say what was masked.
        if !matches!(conclusion.response, ResponsePlan::Mask(_)) && conclusion.outgoing.is_none() {
            if let Some(record) = conclusion.record.take() {
                self.ship(record, environment.now_nanos);
            }
        }
        conclusion
    }

    fn ship(&self, record: serde_json::Map<String, serde_json::Value>, now_nanos: u64) {
        if let Some(audit) = &self.audit {
            audit.borrow_mut().push(record, now_nanos);
        }
    }
}

#[derive(Default)]
struct Root {
    shared: Option<Shared>,
}

impl Context for Root {
    fn on_http_call_response(&mut self, token: u32, num_headers: usize, _body_size: usize, _num_trailers: usize) {
        if let Some(audit) = self.shared.as_ref().and_then(|s| s.audit.as_ref()) {
            audit.borrow_mut().answered(token, num_headers, host::now_nanos());
        }
    }
}

impl RootContext for Root {
    fn on_configure(&mut self, _size: usize) -> bool {
        let config = host::buffer(BufferType::PluginConfiguration, 0, usize::MAX);
        let parsed = std::str::from_utf8(&config)
            .map_err(|e| vec![format!("policy is not UTF-8: {e}")])
            .and_then(|text| Policy::from_json(text).map_err(|errors| errors.iter().map(ToString::to_string).collect()));
        match parsed {
            Ok(policy) => {
                let loaded =
                    format!("policy {} loaded: {} routes, {} rules", &policy.hash[..12], policy.routes.len(), policy.rules.len());
                host::log(LogLevel::Info, &format!("access-guardrails: {loaded}"));
                self.shared = Some(Root::shared(policy));
                true
            }
            Err(errors) => {
                for error in &errors {
                    host::log(LogLevel::Error, &format!("access-guardrails: invalid policy: {error}"));
                }
                host::log(LogLevel::Error, &format!("access-guardrails: policy refused ({} errors)", errors.len()));
                false
            }
        }
    }

    fn on_tick(&mut self) {
        if let Some(audit) = self.shared.as_ref().and_then(|s| s.audit.as_ref()) {
            audit.borrow_mut().flush(host::now_nanos());
        }
    }

    fn create_http_context(&self, _context_id: u32) -> Option<Box<dyn HttpContext>> {
        Some(Box::new(http::Stream::new(self.shared.clone())))
    }

    fn create_stream_context(&self, _context_id: u32) -> Option<Box<dyn StreamContext>> {
        Some(Box::new(wire::Connection::new(self.shared.clone()?)))
    }

    /// HTTP policies make HTTP filter contexts; wire policies (`protocol: postgres | mysql`)
    /// make network filter contexts.
    fn get_type(&self) -> Option<ContextType> {
        match self.shared.as_ref().map(|s| s.policy.protocol) {
            Some(Protocol::Postgres | Protocol::Mysql) => Some(ContextType::StreamContext),
            _ => Some(ContextType::HttpContext),
        }
    }
}

impl Root {
    fn shared(policy: Policy) -> Shared {
        let metrics = Rc::new(Metrics::define());
        let audit = policy.audit.as_ref().map(|config| {
            let sink = AuditSink::new(config, Rc::clone(&metrics), host::now_nanos());
            host::set_tick_period(sink.tick_period());
            Rc::new(RefCell::new(sink))
        });
        Shared { policy: Rc::new(policy), metrics, audit, cache: Rc::default(), mask_caches: Rc::default() }
    }
}

/// The peer's SPIFFE ID from its mTLS certificate.
fn peer_spiffe() -> Option<String> {
    host::property(&["connection", "uri_san_peer_certificate"]).filter(|s| s.starts_with("spiffe://"))
}
