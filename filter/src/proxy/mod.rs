//! The only module that talks to the host (proxy-wasm ABI 0.2.1): it gathers facts, asks the
//! engine, and carries out the decision.
//!
//! Body handling follows Envoy: a paused body callback buffers, and the next one reports the
//! whole buffered size. With `proxy.allow_on_headers_stop_iteration` the headers of a request
//! whose body must be read are held too; without it (Istio) they go on, because a paused header
//! callback would get no body callbacks at all.

mod audit;
mod metrics;
mod wire;

use std::cell::RefCell;
use std::rc::Rc;
use std::time::{SystemTime, UNIX_EPOCH};

use proxy_wasm::hostcalls;
use proxy_wasm::traits::{Context, HttpContext, RootContext, StreamContext};
use proxy_wasm::types::{Action, ContextType, LogLevel};

use crate::audit::{decision_record, RecordFacts};
use crate::decide::{actor_matches, decide_limit, Limit};
use crate::mask::response::{self as masking, MaskSummary, Plan};
use crate::mask::{MaskCache, Masker};
use crate::policy::{Mode, Protocol};
use crate::engine::{self, AtHeaders, Outcome};
use crate::http::Request;
use crate::identity::{self, Actor, Attributes};
use crate::policy::Policy;
use crate::sql::AnalysisCache;
use audit::AuditSink;
use metrics::Metrics;

proxy_wasm::main! {{
    proxy_wasm::set_log_level(LogLevel::Info);
    proxy_wasm::set_root_context(|_| -> Box<dyn RootContext> { Box::new(Root { policy: None, metrics: Rc::new(Metrics::define()), audit: None, cache: Rc::default(), mask_caches: Rc::default() }) });
}}

/// Envoy's jwt_authn filter keeps verified payloads in dynamic metadata under this namespace.
const JWT_AUTHN: &str = "envoy.filters.http.jwt_authn";
/// Filter state key `wasm.guardrails_decision`, for `%FILTER_STATE(wasm.guardrails_decision:PLAIN)%`.
const DECISION_PROPERTY: &str = "guardrails_decision";

fn log(level: LogLevel, message: &str) {
    let _ = hostcalls::log(level, message);
}

fn nanos(time: SystemTime) -> u64 {
    time.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_nanos() as u64)
}

struct Root {
    policy: Option<Rc<Policy>>,
    metrics: Rc<Metrics>,
    audit: Option<Rc<RefCell<AuditSink>>>,
    /// Statement analyses of this VM, reused across its streams.
    cache: Rc<RefCell<AnalysisCache>>,
    /// The lazy DFA state of each masking route, built as responses need it.
    mask_caches: Rc<RefCell<Vec<Option<MaskCache>>>>,
}

impl Context for Root {
    fn on_http_call_response(&mut self, token: u32, num_headers: usize, _body_size: usize, _num_trailers: usize) {
        if let Some(audit) = &self.audit {
            audit.borrow_mut().answered(token, num_headers, nanos(self.get_current_time()));
        }
    }
}

impl RootContext for Root {
    fn on_configure(&mut self, _size: usize) -> bool {
        let config = self.get_plugin_configuration().unwrap_or_default();
        let parsed = std::str::from_utf8(&config)
            .map_err(|e| vec![format!("policy is not UTF-8: {e}")])
            .and_then(|text| Policy::from_json(text).map_err(|errors| errors.iter().map(ToString::to_string).collect()));
        match parsed {
            Ok(policy) => {
                log(
                    LogLevel::Info,
                    &format!("access-guardrails: policy {} loaded: {} routes, {} rules", &policy.hash[..12], policy.routes.len(), policy.rules.len()),
                );
                if let Some(config) = &policy.audit {
                    let sink = AuditSink::new(config, nanos(self.get_current_time()));
                    self.set_tick_period(sink.tick_period());
                    self.audit = Some(Rc::new(RefCell::new(sink)));
                }
                self.policy = Some(Rc::new(policy));
                true
            }
            Err(errors) => {
                for error in &errors {
                    log(LogLevel::Error, &format!("access-guardrails: invalid policy: {error}"));
                }
                log(LogLevel::Error, &format!("access-guardrails: policy refused ({} errors)", errors.len()));
                false
            }
        }
    }

    fn on_tick(&mut self) {
        if let Some(audit) = &self.audit {
            audit.borrow_mut().flush(nanos(self.get_current_time()));
        }
    }

    fn create_http_context(&self, _context_id: u32) -> Option<Box<dyn HttpContext>> {
        Some(Box::new(Stream {
            policy: self.policy.clone(),
            metrics: Rc::clone(&self.metrics),
            audit: self.audit.clone(),
            cache: Rc::clone(&self.cache),
            mask_caches: Rc::clone(&self.mask_caches),
            pending: None,
            started: 0,
            deferred: None,
            response: Response::Untouched,
        }))
    }

    fn create_stream_context(&self, _context_id: u32) -> Option<Box<dyn StreamContext>> {
        let policy = self.policy.clone()?;
        Some(Box::new(wire::Connection::new(policy, Rc::clone(&self.metrics), self.audit.clone(), Rc::clone(&self.cache))))
    }

    /// HTTP policies make HTTP filter contexts; wire policies (`protocol: postgres | mysql`)
    /// make network filter contexts.
    fn get_type(&self) -> Option<ContextType> {
        match self.policy.as_ref().map(|p| p.protocol) {
            Some(Protocol::Postgres | Protocol::Mysql) => Some(ContextType::StreamContext),
            _ => Some(ContextType::HttpContext),
        }
    }
}

/// A guarded request waiting for its body.
struct Pending {
    route: usize,
    actor: Actor,
    request: Request,
}

/// An allowed request on a masking route: its record waits for the response.
struct Deferred {
    route: usize,
    actor: Actor,
    request: Request,
    outcome: Outcome,
    latency_us: u64,
    summary: MaskSummary,
}

/// What happens to the response body.
enum Response {
    Untouched,
    /// Held until it ends, then masked.
    Masking { json: bool, encodings: Vec<String> },
    /// Replaced: every chunk is dropped and the last one becomes this body.
    Withheld { body: String },
}

struct Stream {
    policy: Option<Rc<Policy>>,
    metrics: Rc<Metrics>,
    audit: Option<Rc<RefCell<AuditSink>>>,
    cache: Rc<RefCell<AnalysisCache>>,
    mask_caches: Rc<RefCell<Vec<Option<MaskCache>>>>,
    pending: Option<Pending>,
    /// When the headers arrived, for the record's latency.
    started: u64,
    deferred: Option<Deferred>,
    response: Response,
}

impl Context for Stream {}

impl HttpContext for Stream {
    fn on_http_request_headers(&mut self, _num_headers: usize, end_of_stream: bool) -> Action {
        let Some(policy) = self.policy.clone() else {
            // Envoy does not run a plugin whose configuration failed; if a host does, fail closed.
            self.send_http_response(503, vec![("x-guardrails-decision", "unconfigured")], Some(b"no policy loaded"));
            return Action::Pause;
        };
        let request = request_from(self.get_http_request_headers_bytes());
        let Some(index) = policy.route_index(&request) else {
            return Action::Continue;
        };
        self.started = nanos(self.get_current_time());
        let route = &policy.routes[index];
        if route.mask.is_some() {
            // An uncompressed response can be masked as it comes; a compressed one is decoded.
            self.set_http_request_header("accept-encoding", Some("identity"));
        }
        let actor = identity::resolve(&policy.identity, &HostAttributes { request: &request });
        let decided = engine::at_headers(&policy, route, &actor, &request, end_of_stream, Some(&mut self.cache.borrow_mut()));
        match decided {
            AtHeaders::Decided(outcome) => self.carry_out(&policy, index, &actor, &request, *outcome),
            AtHeaders::ReadBody => {
                self.pending = Some(Pending { route: index, actor, request });
                if policy.proxy.allow_on_headers_stop_iteration {
                    Action::Pause
                } else {
                    Action::Continue
                }
            }
        }
    }

    fn on_http_request_body(&mut self, body_size: usize, end_of_stream: bool) -> Action {
        let Some(policy) = self.policy.clone() else { return Action::Continue };
        if self.pending.is_none() {
            return Action::Continue;
        }
        if body_size as u64 > policy.limits.max_body_bytes {
            let outcome = engine::oversize(&policy, body_size as u64);
            return self.finish(&policy, outcome);
        }
        if !end_of_stream {
            return Action::Pause;
        }
        self.decide_body(&policy, body_size)
    }

    fn on_http_request_trailers(&mut self, _num_trailers: usize) -> Action {
        let Some(policy) = self.policy.clone() else { return Action::Continue };
        if self.pending.is_none() {
            return Action::Continue;
        }
        // The body ended without end_of_stream: the whole buffered body is readable here.
        self.decide_body(&policy, policy.limits.max_body_bytes as usize + 1)
    }

    fn on_http_response_headers(&mut self, _num_headers: usize, end_of_stream: bool) -> Action {
        let Some((policy, route)) = self.masking_route() else { return Action::Continue };
        let Some(masker) = policy.routes[route].mask.as_ref() else { return Action::Continue };
        let headers = self.get_http_response_headers_bytes();
        let value = |name: &str| {
            let values = headers.iter().filter(|(n, _)| n.eq_ignore_ascii_case(name));
            values.map(|(_, v)| String::from_utf8_lossy(v).into_owned()).collect::<Vec<String>>()
        };
        let content_type = value("content-type").into_iter().next();
        let encodings = value("content-encoding");
        let length = value("content-length").first().and_then(|l| l.trim().parse::<u64>().ok());
        match masking::plan(masker, content_type.as_deref(), encodings.iter().map(String::as_str), length, end_of_stream) {
            Plan::Pass(note) => self.note(note.to_string()),
            Plan::Mask { json, decode } => {
                // In monitor mode the body is counted, never changed: its headers stay.
                if !self.monitoring() {
                    self.set_http_response_header("content-length", None);
                    if decode {
                        self.set_http_response_header("content-encoding", None);
                    }
                }
                self.response = Response::Masking { json, encodings };
            }
            Plan::Unmaskable(reason) => self.unmaskable(masker, reason, true),
        }
        Action::Continue
    }

    fn on_http_response_body(&mut self, body_size: usize, end_of_stream: bool) -> Action {
        match &self.response {
            Response::Untouched => Action::Continue,
            Response::Withheld { body } => {
                let replacement = if end_of_stream { body.clone().into_bytes() } else { Vec::new() };
                self.set_http_response_body(0, body_size, &replacement);
                Action::Continue
            }
            Response::Masking { .. } => {
                let Some((policy, route)) = self.masking_route() else { return Action::Continue };
                let Some(masker) = policy.routes[route].mask.as_ref() else { return Action::Continue };
                if body_size as u64 > masker.max_body_bytes {
                    self.unmaskable(masker, masking::oversize(masker, body_size), false);
                    return self.on_http_response_body(body_size, end_of_stream);
                }
                if !end_of_stream {
                    return Action::Pause;
                }
                self.mask_response(masker, body_size);
                Action::Continue
            }
        }
    }

    fn on_http_response_trailers(&mut self, _num_trailers: usize) -> Action {
        let Some((policy, route)) = self.masking_route() else { return Action::Continue };
        let Some(masker) = policy.routes[route].mask.as_ref() else { return Action::Continue };
        let whole = masker.max_body_bytes as usize + 1;
        match &self.response {
            Response::Masking { .. } => self.mask_response(masker, whole),
            Response::Withheld { body } => {
                let body = body.clone();
                self.set_http_response_body(0, whole, body.as_bytes());
            }
            Response::Untouched => {}
        }
        Action::Continue
    }

    fn on_log(&mut self) {
        if let (Some(deferred), Some(policy)) = (self.deferred.take(), self.policy.clone()) {
            let decided = (deferred.route, &deferred.actor, &deferred.request, &deferred.outcome);
            self.record(&policy, decided, deferred.latency_us, Some(&deferred.summary));
        }
    }
}

impl Stream {
    fn decide_body(&mut self, policy: &Policy, read_size: usize) -> Action {
        let body = self.get_http_request_body(0, read_size).unwrap_or_default();
        let outcome = match &self.pending {
            Some(p) => {
                engine::with_body(policy, &policy.routes[p.route], &p.actor, &p.request, &body, Some(&mut self.cache.borrow_mut()))
            }
            None => return Action::Continue,
        };
        self.finish(policy, outcome)
    }

    /// Carries out a decision on a request that was pending its body.
    fn finish(&mut self, policy: &Policy, outcome: Outcome) -> Action {
        let Some(pending) = self.pending.take() else { return Action::Continue };
        self.carry_out(policy, pending.route, &pending.actor, &pending.request, outcome)
    }

    /// The policy and route of a stream whose response is to be masked.
    fn masking_route(&self) -> Option<(Rc<Policy>, usize)> {
        Some((self.policy.clone()?, self.deferred.as_ref()?.route))
    }

    fn note(&mut self, note: String) {
        if let Some(deferred) = &mut self.deferred {
            deferred.summary.note = Some(note);
        }
    }

    /// A response that cannot be masked: withheld (502 when its headers are still ours to
    /// change), or passed as it is, per `mask.on_unmaskable`.
    fn unmaskable(&mut self, masker: &Masker, reason: String, at_headers: bool) {
        if masker.on_unmaskable == crate::policy::Effect::Allow || self.monitoring() {
            self.note(format!("passed unmasked: {reason}"));
            self.response = Response::Untouched;
            return;
        }
        let request_id = self.deferred.as_ref().and_then(|d| d.request.header("x-request-id").map(String::from));
        if at_headers {
            let status = masking::UNMASKABLE_STATUS.to_string();
            self.set_http_response_header(":status", Some(&status));
            self.set_http_response_header("content-type", Some("application/json"));
            self.set_http_response_header("content-length", None);
            self.set_http_response_header("content-encoding", None);
        }
        self.note(format!("withheld: {reason}"));
        self.response = Response::Withheld { body: masking::unmaskable_body(&reason, request_id.as_deref()) };
    }

    fn monitoring(&self) -> bool {
        self.policy.as_ref().is_some_and(|p| p.mode == Mode::Monitor)
    }

    /// Masks the whole held body (`read_size` at least its size) and lets it go.
    fn mask_response(&mut self, masker: &Masker, read_size: usize) {
        let Response::Masking { json, encodings } = std::mem::replace(&mut self.response, Response::Untouched) else { return };
        let Some(route) = self.deferred.as_ref().map(|d| d.route) else { return };
        let raw = self.get_http_response_body(0, read_size).unwrap_or_default();
        let masked = {
            let mut caches = self.mask_caches.borrow_mut();
            if caches.len() <= route {
                caches.resize_with(route + 1, || None);
            }
            let cache = caches[route].get_or_insert_with(|| masker.cache());
            masking::mask_body(masker, cache, &raw, json, encodings.iter().map(String::as_str))
        };
        match masked {
            Ok(masked) => {
                if let Some(deferred) = &mut self.deferred {
                    deferred.summary.counts = masked.counts;
                }
                if self.monitoring() {
                    self.note("monitor mode: counted, not applied".to_string());
                } else {
                    self.set_http_response_body(0, read_size, &masked.body);
                }
            }
            Err(reason) => {
                self.unmaskable(masker, reason, false);
                if let Response::Withheld { body } = &self.response {
                    let body = body.clone();
                    self.set_http_response_body(0, read_size, body.as_bytes());
                }
            }
        }
    }

    fn record(&self, policy: &Policy, decided: (usize, &Actor, &Request, &Outcome), latency_us: u64, mask: Option<&MaskSummary>) {
        record(self.audit.as_ref(), nanos(self.get_current_time()), policy, decided, latency_us, mask, None);
    }

    fn carry_out(&mut self, policy: &Policy, route: usize, actor: &Actor, request: &Request, mut outcome: Outcome) -> Action {
        // No action without an audit trail, when the policy says so.
        if !outcome.decision.is_deny() && self.audit.as_ref().is_some_and(|a| a.borrow().shipper.unavailable()) {
            let detail = "the audit trail cannot be delivered and its buffer is full".to_string();
            let limited = decide_limit(policy, Limit::AuditUnavailable, detail);
            if limited.is_deny() {
                outcome.decision = limited;
            }
        }
        let latency_us = nanos(self.get_current_time()).saturating_sub(self.started) / 1_000;
        let masks = policy.routes[route].mask.as_ref().is_some_and(|m| actor_matches(m.actor.as_ref(), actor));
        if masks && !outcome.decision.is_deny() {
            // The record waits for the response, to say what was masked.
            self.deferred = Some(Deferred {
                route,
                actor: actor.clone(),
                request: request.clone(),
                outcome: outcome.clone(),
                latency_us,
                summary: MaskSummary::default(),
            });
        } else {
            self.record(policy, (route, actor, request, &outcome), latency_us, None);
        }
        let outcome = &outcome;
        let decision = &outcome.decision;
        self.metrics.count(outcome);
        let property = serde_json::json!({
            "effect": decision.effect,
            "enforced": decision.enforced,
            "route": policy.routes[route].name,
            "rule": decision.rule,
            "would_deny": decision.would_deny.as_ref().map(|w| &w.rule),
        });
        self.set_property(vec![DECISION_PROPERTY], Some(property.to_string().as_bytes()));
        if !decision.is_deny() {
            return Action::Continue;
        }
        let reply = engine::denied_reply(&policy.routes[route], outcome, request.header("x-request-id"));
        log(
            LogLevel::Debug,
            &format!("access-guardrails: denied {} {} by {}", request.method, request.path(), decision.rule.as_deref().unwrap_or("route default")),
        );
        let headers: Vec<(&str, &str)> = reply.headers.iter().map(|(n, v)| (*n, v.as_str())).collect();
        self.send_http_response(reply.status, headers, Some(reply.body.as_bytes()));
        Action::Pause
    }
}

/// Pushes the record of a decision (on `route`, by `actor`, for `request`); `latency_us` is
/// the time it took to decide.
fn record(
    audit: Option<&Rc<RefCell<AuditSink>>>,
    now: u64,
    policy: &Policy,
    decided: (usize, &Actor, &Request, &Outcome),
    latency_us: u64,
    mask: Option<&MaskSummary>,
    db: Option<(&str, &str, &str)>,
) {
    let Some(audit) = audit else { return };
    let (route, actor, request, outcome) = decided;
    let facts = RecordFacts {
        policy,
        route: &policy.routes[route].name,
        actor,
        request,
        outcome,
        now_nanos: now,
        latency_us,
        mask,
        db,
    };
    let mut audit = audit.borrow_mut();
    audit.shipper.push(decision_record(&facts), now);
    audit.report();
}

/// The engine's request from Envoy's header map: pseudo-headers give method, path and
/// authority; values that are not UTF-8 are read lossily (they can match nothing exactly).
fn request_from(headers: Vec<(String, Vec<u8>)>) -> Request {
    let (mut method, mut path, mut authority) = (String::new(), String::new(), String::new());
    let mut rest = Vec::with_capacity(headers.len());
    for (name, value) in headers {
        let value = String::from_utf8(value).unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned());
        match name.as_str() {
            ":method" => method = value,
            ":path" => path = value,
            ":authority" => authority = value,
            _ if name.starts_with(':') => {}
            _ => rest.push((name, value)),
        }
    }
    if authority.is_empty() {
        if let Some((_, host)) = rest.iter().find(|(n, _)| n.eq_ignore_ascii_case("host")) {
            authority = host.clone();
        }
    }
    Request::new(&method, &path, &authority, rest)
}

/// Identity facts from the request and from Envoy's properties.
struct HostAttributes<'a> {
    request: &'a Request,
}

impl Attributes for HostAttributes<'_> {
    fn values(&self, name: &str) -> Vec<&str> {
        self.request.header_values(name).collect()
    }

    fn jwt_claim(&self, payload_key: &str, claim: &str) -> Option<String> {
        let mut path = vec!["metadata", "filter_metadata", JWT_AUTHN, payload_key];
        path.extend(claim.split('.'));
        let bytes = hostcalls::get_property(path).ok()??;
        String::from_utf8(bytes).ok()
    }

    fn peer_spiffe(&self) -> Option<String> {
        let bytes = hostcalls::get_property(vec!["connection", "uri_san_peer_certificate"]).ok()??;
        String::from_utf8(bytes).ok().filter(|s| s.starts_with("spiffe://"))
    }
}
