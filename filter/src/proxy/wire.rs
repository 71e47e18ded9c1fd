//! The network filter: a database connection through the policy's wire protocol session.
//! Each callback hands the new bytes to the session and puts back what it says to forward
//! (the same bytes, a rewrite, or less while a message is incomplete).

use std::cell::RefCell;
use std::rc::Rc;

use proxy_wasm::hostcalls;
use proxy_wasm::traits::{Context, StreamContext};
use proxy_wasm::types::{Action, LogLevel, PeerType};

use super::audit::AuditSink;
use super::metrics::Metrics;
use super::{log, nanos, record};
use crate::decide::{decide_limit, Limit};
use crate::engine::{self, Outcome};
use crate::http::Request;
use crate::identity::{self, Actor, WireAttributes};
use crate::policy::{Policy, Protocol};
use crate::sql::AnalysisCache;
use crate::wire::{self, mysql, postgres, Inspect, Next, Verdict};

type Session = Box<dyn wire::Session>;

/// The route and actor of a connection, once its startup is read.
struct Matched {
    route: usize,
    actor: Actor,
    database: String,
    user: String,
    /// The engine reads requests; a connection's is empty.
    request: Request,
}

pub struct Connection {
    pub policy: Rc<Policy>,
    pub metrics: Rc<Metrics>,
    pub audit: Option<Rc<RefCell<AuditSink>>>,
    pub cache: Rc<RefCell<AnalysisCache>>,
    session: Option<Session>,
    matched: Option<Matched>,
    closed: bool,
}

impl Connection {
    pub fn new(
        policy: Rc<Policy>,
        metrics: Rc<Metrics>,
        audit: Option<Rc<RefCell<AuditSink>>>,
        cache: Rc<RefCell<AnalysisCache>>,
    ) -> Connection {
        let limit = policy.limits.max_body_bytes as usize;
        let session: Session = match policy.protocol {
            Protocol::Mysql => Box::new(mysql::Session::new(limit)),
            _ => Box::new(postgres::Session::new(limit)),
        };
        Connection { policy, metrics, audit, cache, session: Some(session), matched: None, closed: false }
    }

    /// Feeds one direction's new bytes to the session and forwards what it returns.
    fn carry(&mut self, size: usize, downstream: bool) -> Action {
        if self.closed {
            return Action::Pause;
        }
        let buffer = if downstream { proxy_wasm::types::BufferType::DownstreamData } else { proxy_wasm::types::BufferType::UpstreamData };
        let data = hostcalls::get_buffer(buffer, 0, size).ok().flatten().unwrap_or_default();
        let Some(mut session) = self.session.take() else { return Action::Continue };
        let next = if downstream {
            session.client_data(&data, &mut |inspect| self.judge(inspect))
        } else {
            session.server_data(&data)
        };
        self.session = Some(session);
        match next {
            Next::Forward(bytes) => {
                if bytes != data {
                    let _ = hostcalls::set_buffer(buffer, 0, size, &bytes);
                }
                Action::Continue
            }
            Next::Close(why) => {
                log(LogLevel::Warn, &format!("access-guardrails: closing a {:?} connection: {why}", self.policy.protocol));
                self.closed = true;
                let _ = hostcalls::set_buffer(buffer, 0, size, &[]);
                self.close_downstream();
                self.close_upstream();
                Action::Pause
            }
        }
    }

    fn judge(&mut self, inspect: Inspect<'_>) -> Verdict {
        let started = nanos(self.get_current_time());
        let policy = Rc::clone(&self.policy);
        if let Inspect::Startup { params } = inspect {
            let value = |name: &str| params.iter().find(|(n, _)| n == name).map(|(_, v)| v.as_str());
            let user = value("user").unwrap_or("");
            // Postgres: the database defaults to the user's name.
            let database = value("database").unwrap_or(if policy.protocol == Protocol::Postgres { user } else { "" });
            if let Some(route) = policy.connection_route(database, user) {
                let spiffe = hostcalls::get_property(vec!["connection", "uri_san_peer_certificate"])
                    .ok()
                    .flatten()
                    .and_then(|b| String::from_utf8(b).ok())
                    .filter(|s| s.starts_with("spiffe://"));
                let actor = identity::resolve(&policy.identity, &WireAttributes { params, peer_spiffe: spiffe });
                let request = Request::new("", "", "", Vec::new());
                self.matched = Some(Matched { route, actor, database: database.to_string(), user: user.to_string(), request });
            }
            return Verdict::Allow;
        }
        let Some(matched) = &self.matched else { return Verdict::Allow };
        let route = &policy.routes[matched.route];
        let outcome = match inspect {
            Inspect::Sql { text } => engine::evaluate_cached(
                &policy,
                route,
                &matched.actor,
                &matched.request,
                Some(text.as_bytes()),
                Some(&mut self.cache.borrow_mut()),
            ),
            Inspect::Unreadable { what } => Outcome::of(decide_limit(&policy, Limit::Unparsable, format!("the client sent {what}"))),
            Inspect::Oversize { size } => engine::oversize(&policy, size as u64),
            Inspect::Startup { .. } => return Verdict::Allow,
        };
        let now = nanos(self.get_current_time());
        let latency_us = now.saturating_sub(started) / 1_000;
        let protocol = if policy.protocol == Protocol::Mysql { "mysql" } else { "postgres" };
        let db = Some((protocol, matched.database.as_str(), matched.user.as_str()));
        record(self.audit.as_ref(), now, &policy, (matched.route, &matched.actor, &matched.request, &outcome), latency_us, None, db);
        self.metrics.count(&outcome);
        if outcome.decision.is_deny() {
            Verdict::Deny { message: wire::denied_message(&outcome.decision) }
        } else {
            Verdict::Allow
        }
    }
}

impl Context for Connection {}

impl StreamContext for Connection {
    fn on_downstream_data(&mut self, data_size: usize, _end_of_stream: bool) -> Action {
        self.carry(data_size, true)
    }

    fn on_upstream_data(&mut self, data_size: usize, _end_of_stream: bool) -> Action {
        self.carry(data_size, false)
    }

    fn on_downstream_close(&mut self, _peer_type: PeerType) {}
}
