//! The network filter: a database connection through the policy's wire protocol session.
//! Each callback hands the new bytes to the session and puts back what it says to forward
//! (the same bytes, a rewrite, or less while a message is incomplete). Every SQL-carrying
//! message is evaluated and concluded by the engine, as an HTTP request is.

use proxy_wasm::traits::StreamContext;
use proxy_wasm::types::{Action, PeerType};

use super::host::{self, BufferType, LogLevel};
use super::{peer_spiffe, Shared};
use crate::audit::Site;
use crate::engine::{self, Outcome};
use crate::identity::{self, Actor, WireAttributes};
use crate::policy::{Payload, Policy, Protocol, Route};
use crate::reply::Reply;
use crate::sql::{SearchPath, Settings};
use crate::wire::{self, mysql, postgres, Context, Inspect, Next, Verdict};

type Session = Box<dyn wire::Session>;

/// The route and actor of a connection, once its startup is read.
struct Matched {
    /// The route of the session's current database; `None`: no route matches it.
    route: Option<usize>,
    actor: Actor,
    database: String,
    user: String,
}

pub struct Connection {
    shared: Shared,
    session: Option<Session>,
    matched: Option<Matched>,
    closed: bool,
}

impl Connection {
    pub fn new(shared: Shared) -> Connection {
        let limit = shared.policy.limits.max_body_bytes as usize;
        let session: Session = match shared.policy.protocol {
            Protocol::Mysql => Box::new(mysql::Session::new(limit)),
            _ => Box::new(postgres::Session::new(limit)),
        };
        Connection { shared, session: Some(session), matched: None, closed: false }
    }

    /// Feeds one direction's new bytes to the session and forwards what it returns.
    fn carry(&mut self, size: usize, downstream: bool) -> Action {
        if self.closed {
            return Action::Pause;
        }
        let buffer = if downstream { BufferType::DownstreamData } else { BufferType::UpstreamData };
        let data = host::buffer(buffer, 0, size);
        let Some(mut session) = self.session.take() else { return Action::Continue };
        let next =
            if downstream { session.client_data(&data, &mut |inspect| self.judge(inspect)) } else { session.server_data(&data) };
        self.session = Some(session);
        match next {
            Next::Forward(bytes) => {
                if bytes != data {
                    host::set_buffer(buffer, 0, size, &bytes);
                }
                Action::Continue
            }
            Next::Close(why) => {
                let protocol = self.shared.policy.protocol;
                host::log(LogLevel::Warn, &format!("access-guardrails: closing a {protocol:?} connection: {why}"));
                self.closed = true;
                host::set_buffer(buffer, 0, size, &[]);
                host::close_connection();
                Action::Pause
            }
        }
    }

    fn judge(&mut self, inspect: Inspect<'_>) -> Verdict {
        let started = host::now_nanos();
        if let Inspect::Startup { params } = inspect {
            self.matched = Some(self.startup(params));
            return Verdict::ALLOW;
        }
        let Some(matched) = &mut self.matched else { return Verdict::ALLOW };
        let policy = &self.shared.policy;
        if let Inspect::Sql { context: Context { database: Some(database), .. }, .. } = &inspect {
            matched.follow(policy, database);
        }
        // A connection no route matches passes uninspected.
        let Some(mut route) = matched.route else { return Verdict::ALLOW };
        let outcome = match inspect {
            Inspect::Sql { text, context } => {
                let settings = matched.settings(&policy.routes[route], context);
                let route_of = |database: &str| policy.connection_route(database, &matched.user);
                let cache = Some(&mut *self.shared.cache.borrow_mut());
                let decided = engine::evaluate_session_sql(policy, route, &route_of, &matched.actor, text, &settings, cache);
                route = decided.0;
                decided.1
            }
            Inspect::Unreadable { what } => engine::unreadable(policy, &policy.routes[route], what),
            Inspect::Oversize { size } => engine::oversize(policy, &policy.routes[route], size as u64),
            Inspect::Startup { .. } => return Verdict::ALLOW,
        };
        let changes = outcome.action.statements().iter().filter_map(|s| s.intent().session.clone()).collect();
        match self.carry_out(route, outcome, started) {
            Verdict::Allow { .. } => Verdict::Allow { changes },
            deny => deny,
        }
    }

    /// The route and actor of a connection, from its startup parameters.
    fn startup(&self, params: &[(String, String)]) -> Matched {
        let policy = &self.shared.policy;
        // A repeated parameter: PostgreSQL keeps the last value it reads, so routing does too.
        let value = |name: &str| params.iter().rev().find(|(n, _)| n == name).map(|(_, v)| v.as_str());
        let user = value("user").unwrap_or("");
        // Postgres: the database defaults to the user's name.
        let database = value("database").unwrap_or(if policy.protocol == Protocol::Postgres { user } else { "" });
        let route = policy.connection_route(database, user);
        let actor = identity::resolve(&policy.identity, &WireAttributes { params, peer_spiffe: peer_spiffe() });
        Matched { route, actor, database: database.to_string(), user: user.to_string() }
    }

    /// Concludes a message's decision on `route`: its record and counters, and the session's
    /// verdict.
    fn carry_out(&self, route: usize, outcome: Outcome, started: u64) -> Verdict {
        let Some(matched) = &self.matched else { return Verdict::ALLOW };
        let site = Site::Db { protocol: self.shared.policy.protocol, database: &matched.database, user: &matched.user };
        match self.shared.conclude(route, &matched.actor, outcome, site, started).reply {
            Some(Reply::Wire { message }) => Verdict::Deny { message },
            _ => Verdict::ALLOW,
        }
    }
}

impl Matched {
    /// The session moved to `database` (MySQL's `USE`): its route is that database's now.
    fn follow(&mut self, policy: &Policy, database: &str) {
        if database != self.database {
            self.route = policy.connection_route(database, &self.user);
            self.database = database.to_string();
        }
    }

    /// How the session's text reads and resolves: its own settings, on the route's search path
    /// until the session changed it (`$user` is the session's user).
    fn settings(&self, route: &Route, context: &Context) -> Settings {
        let search_path = match (&context.search_path, &route.payload) {
            (Some(path), _) => path.clone(),
            (None, Payload::Sql(sql)) => with_user(&sql.search_path, &self.user),
            (None, _) => SearchPath::Unknown,
        };
        Settings { lexings: context.lexings.clone(), search_path }
    }
}

fn with_user(path: &SearchPath, user: &str) -> SearchPath {
    match path {
        SearchPath::Known { schemas, implied } => {
            let schemas = schemas.iter().map(|s| if s == "$user" { user.to_string() } else { s.clone() }).collect();
            SearchPath::Known { schemas, implied: implied.clone() }
        }
        SearchPath::Unknown => SearchPath::Unknown,
    }
}

impl proxy_wasm::traits::Context for Connection {}

impl StreamContext for Connection {
    fn on_downstream_data(&mut self, data_size: usize, _end_of_stream: bool) -> Action {
        self.carry(data_size, true)
    }

    fn on_upstream_data(&mut self, data_size: usize, _end_of_stream: bool) -> Action {
        self.carry(data_size, false)
    }

    fn on_downstream_close(&mut self, _peer_type: PeerType) {}
}
