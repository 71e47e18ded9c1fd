//! The HTTP filter stream: a request's facts to the engine, its conclusion carried out, and a
//! masked response streamed through the masker.
//!
//! Body handling follows Envoy: a paused body callback buffers, and the next one reports the
//! whole buffered size. A masked response never pauses: each chunk is replaced by what the
//! masker lets go, so Envoy's buffer limit never applies to it. With
//! `proxy.allow_on_headers_stop_iteration` the headers of a request whose body must be read are
//! held too; without it (Istio) they go on, because a paused header callback would get no body
//! callbacks at all.

use proxy_wasm::traits::{Context, HttpContext};
use proxy_wasm::types::Action;

use serde_json::{Map, Value};

use super::host::{self, BufferType, LogLevel, MapType};
use super::llm::Answer;
use super::outgoing::{Outgoing, Sent};
use super::{peer_spiffe, Shared};
use crate::audit::{add_mask, Site};
use crate::engine::{self, AtHeaders, Conclusion, Masking, Outcome, ResponsePlan, Unmaskable};
use crate::http::Request;
use crate::identity::{self, Actor, HttpAttributes};
use crate::mask::response::{self as masking, MaskSummary, Plan};
use crate::mask::stream::Streamer;
use crate::mcp::IdScan;
use crate::policy::{MaskRoute, RouteChoice};
use crate::reply::{self, HttpReply, Reply};

/// Envoy's jwt_authn filter keeps verified payloads in dynamic metadata under this namespace.
const JWT_AUTHN: &str = "envoy.filters.http.jwt_authn";
/// Filter state key `wasm.guardrails_decision`, for `%FILTER_STATE(wasm.guardrails_decision:PLAIN)%`.
const DECISION_PROPERTY: &str = "guardrails_decision";

/// A guarded request: its route and actor, resolved at the headers.
struct Guarded {
    route: usize,
    actor: Actor,
    request: Request,
    /// When the headers arrived, for the record's latency.
    started: u64,
}

/// An allowed request whose response is masked: its record waits for the response.
struct MaskedResponse {
    route: usize,
    masking: Masking,
    record: Option<Map<String, Value>>,
    request_id: Option<String>,
    summary: MaskSummary,
    body: Body,
}

/// What happens to the response body.
enum Body {
    /// Not read (yet, or at all).
    Untouched,
    /// Masked as it streams.
    Streaming(Box<Streamer>),
    /// Replaced: every chunk is dropped and the last one becomes this body.
    Withheld { body: String },
}

/// A denied MCP request whose reply waits for the request's id, read from the body as it is
/// discarded ([`Conclusion::awaits_request_id`]).
struct Unanswered {
    scan: IdScan,
    reply: HttpReply,
}

pub struct Stream {
    shared: Option<Shared>,
    /// A request waiting for its body.
    pending: Option<Guarded>,
    unanswered: Option<Unanswered>,
    masked: Option<MaskedResponse>,
    /// A model's answer whose tool calls are decided as they come.
    answer: Option<Answer>,
    /// An allowed request whose body is masked before it goes on.
    outgoing: Option<Outgoing>,
}

impl Stream {
    pub fn new(shared: Option<Shared>) -> Stream {
        Stream { shared, pending: None, unanswered: None, masked: None, answer: None, outgoing: None }
    }
}

impl Context for Stream {}

impl HttpContext for Stream {
    fn on_http_request_headers(&mut self, _num_headers: usize, end_of_stream: bool) -> Action {
        let Some(shared) = self.shared.clone() else {
            // Envoy does not run a plugin whose configuration failed; if a host does, fail closed.
            let headers = vec![("x-guardrails-decision", "unconfigured".to_string())];
            host::send_reply(&HttpReply { status: 503, headers, body: "no policy loaded".to_string() });
            return Action::Pause;
        };
        let policy = &shared.policy;
        let request = request_from(host::headers(MapType::HttpRequestHeaders));
        let choice = policy.route_choice(&request);
        let Some(route) = choice.route() else { return Action::Continue };
        let started = host::now_nanos();
        let attributes = HttpAttributes { request: &request, jwt_claim: &jwt_claim, peer_spiffe: peer_spiffe() };
        let actor = identity::resolve(&policy.identity, &attributes);
        if engine::reads_responses_of(&policy.routes[route], &actor) {
            // An uncompressed response can be read as it comes; a compressed one is decoded.
            host::set_header(MapType::HttpRequestHeaders, "accept-encoding", Some("identity"));
        }
        if engine::outgoing_masking(policy, &policy.routes[route], &actor) == Some(Masking::Apply) {
            // The body may change length: it goes chunked (HTTP/1.1) or as it is framed (HTTP/2).
            host::set_header(MapType::HttpRequestHeaders, "content-length", None);
        }
        let guarded = Guarded { route, actor, request, started };
        // Without it (Istio) the headers go on, or no body callback would come.
        let read_body = if policy.proxy.allow_on_headers_stop_iteration { Action::Pause } else { Action::Continue };
        let action = if let RouteChoice::Ambiguous(routes) = &choice {
            let outcome = engine::ambiguous(policy, &policy.routes[route], routes);
            self.carry_out(&shared, &guarded, outcome)
        } else {
            let cache = &mut shared.cache.borrow_mut();
            let (actor, request) = (&guarded.actor, &guarded.request);
            match engine::at_headers(policy, &policy.routes[route], actor, request, end_of_stream, Some(cache)) {
                AtHeaders::Decided(outcome) => {
                    let action = self.carry_out(&shared, &guarded, *outcome);
                    self.send_out(&shared, if end_of_stream { Sent::Nothing } else { Sent::Unread }, action)
                }
                AtHeaders::ReadBody => {
                    self.pending = Some(guarded);
                    return read_body;
                }
            }
        };
        match self.unanswered {
            Some(_) if end_of_stream => self.read_for_id(0, true),
            Some(_) => read_body,
            None => action,
        }
    }

    fn on_http_request_body(&mut self, body_size: usize, end_of_stream: bool) -> Action {
        if self.unanswered.is_some() {
            return self.read_for_id(body_size, end_of_stream);
        }
        let (Some(shared), Some(_)) = (self.shared.clone(), &self.pending) else { return Action::Continue };
        let action = if body_size as u64 > shared.policy.limits.max_body_bytes {
            let action = self.finish(&shared, |policy, route, _| engine::oversize(policy, route, body_size as u64));
            self.send_out(&shared, Sent::Unread, action)
        } else if !end_of_stream {
            return Action::Pause;
        } else {
            self.decide_body(&shared, body_size)
        };
        self.unless_unanswered(action, body_size, end_of_stream)
    }

    fn on_http_request_trailers(&mut self, _num_trailers: usize) -> Action {
        let Some(shared) = self.shared.clone() else { return Action::Continue };
        // The body ended without end_of_stream: the whole buffered body is readable here.
        let whole = shared.policy.limits.max_body_bytes as usize + 1;
        if self.unanswered.is_some() {
            return self.read_for_id(whole, true);
        }
        if self.pending.is_none() {
            return Action::Continue;
        }
        let action = self.decide_body(&shared, whole);
        self.unless_unanswered(action, whole, true)
    }

    fn on_http_response_headers(&mut self, _num_headers: usize, end_of_stream: bool) -> Action {
        if let (Some(shared), Some(answer)) = (&self.shared, &mut self.answer) {
            return answer.headers(shared, end_of_stream);
        }
        let Some((shared, mask, masked)) = self.masking() else { return Action::Continue };
        let headers = host::headers(MapType::HttpResponseHeaders);
        let value = |name: &str| {
            let values = headers.iter().filter(|(n, _)| n.eq_ignore_ascii_case(name));
            values.map(|(_, v)| String::from_utf8_lossy(v).into_owned()).collect::<Vec<String>>()
        };
        let content_type = value("content-type").into_iter().next();
        let encodings = value("content-encoding");
        let length = value("content-length").first().and_then(|l| l.trim().parse::<u64>().ok());
        match masking::plan(&mask.masker, content_type.as_deref(), encodings.iter().map(String::as_str), length, end_of_stream) {
            Plan::Pass(note) => masked.summary.note = Some(note.to_string()),
            Plan::Mask { kind, decode } => {
                // A body that is only counted keeps its headers.
                if masked.masking == Masking::Apply {
                    host::set_header(MapType::HttpResponseHeaders, "content-length", None);
                    if decode {
                        host::set_header(MapType::HttpResponseHeaders, "content-encoding", None);
                    }
                }
                let encodings = encodings.iter().map(String::as_str).filter(|_| decode);
                match Streamer::new(&mask.masker, kind, encodings) {
                    Ok(streamer) => masked.body = Body::Streaming(Box::new(streamer)),
                    Err(reason) => masked.unmaskable(shared, mask, &reason, true),
                }
            }
            Plan::Unmaskable(reason) => masked.unmaskable(shared, mask, &reason, true),
        }
        Action::Continue
    }

    fn on_http_response_body(&mut self, body_size: usize, end_of_stream: bool) -> Action {
        if let (Some(shared), Some(answer)) = (&self.shared, &mut self.answer) {
            return answer.body(shared, body_size, end_of_stream);
        }
        let Some((shared, mask, masked)) = self.masking() else { return Action::Continue };
        masked.stream(shared, mask, body_size, end_of_stream);
        if let Body::Withheld { body } = &masked.body {
            let replacement = if end_of_stream { body.as_bytes() } else { &[] };
            host::set_buffer(BufferType::HttpResponseBody, 0, body_size, replacement);
        }
        Action::Continue
    }

    fn on_http_response_trailers(&mut self, _num_trailers: usize) -> Action {
        if let (Some(shared), Some(answer)) = (&self.shared, &mut self.answer) {
            return answer.trailers(shared);
        }
        let Some((shared, mask, masked)) = self.masking() else { return Action::Continue };
        // The body ended without end_of_stream: what the masker still holds goes now.
        masked.stream(shared, mask, 0, true);
        if let Body::Withheld { body } = &masked.body {
            host::set_buffer(BufferType::HttpResponseBody, 0, 0, body.as_bytes());
        }
        Action::Continue
    }

    fn on_log(&mut self) {
        if let (Some(shared), Some(masked)) = (&self.shared, self.masked.take()) {
            if let Some(mut record) = masked.record {
                add_mask(&mut record, &masked.summary);
                shared.ship(record, host::now_nanos());
            }
        }
    }
}

impl Stream {
    /// The shared state, the route's mask section and the response, when it is being masked.
    fn masking(&mut self) -> Option<(&Shared, &MaskRoute, &mut MaskedResponse)> {
        let shared = self.shared.as_ref()?;
        let masked = self.masked.as_mut()?;
        let mask = shared.policy.routes[masked.route].mask.as_ref()?;
        Some((shared, mask, masked))
    }

    fn decide_body(&mut self, shared: &Shared, read_size: usize) -> Action {
        let body = host::buffer(BufferType::HttpRequestBody, 0, read_size);
        let cache = &shared.cache;
        let action = self.finish(shared, |policy, route, pending| {
            engine::with_body(policy, route, &pending.actor, &pending.request, &body, Some(&mut cache.borrow_mut()))
        });
        self.send_out(shared, Sent::Body(&body), action)
    }

    /// Carries out the masking of the request body that the decision just made asks for:
    /// `action` goes on, unless the body cannot be masked and is withheld.
    fn send_out(&mut self, shared: &Shared, sent: Sent<'_>, action: Action) -> Action {
        let Some(outgoing) = self.outgoing.take() else { return action };
        match outgoing.carry_out(shared, sent) {
            Some(withheld) => {
                host::send_reply(&withheld);
                Action::Pause
            }
            None => action,
        }
    }

    /// Decides the request that was pending its body, and carries the decision out.
    fn finish(
        &mut self,
        shared: &Shared,
        decide: impl FnOnce(&crate::policy::Policy, &crate::policy::Route, &Guarded) -> Outcome,
    ) -> Action {
        let Some(pending) = self.pending.take() else { return Action::Continue };
        let outcome = decide(&shared.policy, &shared.policy.routes[pending.route], &pending);
        self.carry_out(shared, &pending, outcome)
    }

    fn carry_out(&mut self, shared: &Shared, guarded: &Guarded, outcome: Outcome) -> Action {
        let site = Site::Http(&guarded.request);
        let mut conclusion = shared.conclude(guarded.route, &guarded.actor, outcome, site, guarded.started);
        host::set_property(&[DECISION_PROPERTY], conclusion.filter_state.as_bytes());
        if let ResponsePlan::Mask(masking) = conclusion.response {
            self.masked = Some(MaskedResponse {
                route: guarded.route,
                masking,
                record: conclusion.record.take(),
                request_id: guarded.request.header("x-request-id").map(String::from),
                summary: MaskSummary::default(),
                body: Body::Untouched,
            });
        }
        if let Some(masking) = conclusion.outgoing {
            self.outgoing = Some(Outgoing {
                route: guarded.route,
                masking,
                record: conclusion.record.take(),
                request_id: guarded.request.header("x-request-id").map(String::from),
                content_type: guarded.request.header("content-type").map(String::from),
                decided: conclusion.outcome.decision.message.clone(),
            });
        }
        if let ResponsePlan::ToolCalls { api, delivery } = conclusion.response {
            let model = match &conclusion.outcome.action {
                crate::decide::Action::Llm { model, .. } => model.clone(),
                _ => None,
            };
            let (actor, request) = (guarded.actor.clone(), guarded.request.clone());
            self.answer = Some(Answer::new(guarded.route, actor, request, guarded.started, model, api, delivery));
        }
        if conclusion.awaits_request_id() {
            if let Some(Reply::Http(reply)) = conclusion.reply.take() {
                self.unanswered = Some(Unanswered { scan: IdScan::default(), reply });
                return Action::Pause;
            }
        }
        reply(&conclusion, &guarded.request)
    }

    /// `action`, unless the decision just carried out waits for the request's id: then the
    /// body buffered so far (`size` bytes at most) is read for it.
    fn unless_unanswered(&mut self, action: Action, size: usize, end_of_stream: bool) -> Action {
        match self.unanswered {
            Some(_) => self.read_for_id(size, end_of_stream),
            None => action,
        }
    }

    /// Reads the buffered body (`size` bytes at most) for the request id of an unanswered
    /// denial and discards it; at the end of the body, the denial is sent.
    fn read_for_id(&mut self, size: usize, end_of_stream: bool) -> Action {
        let Some(unanswered) = self.unanswered.as_mut() else { return Action::Continue };
        if size > 0 {
            unanswered.scan.feed(&host::buffer(BufferType::HttpRequestBody, 0, size));
            host::set_buffer(BufferType::HttpRequestBody, 0, size, &[]);
        }
        if end_of_stream {
            if let Some(Unanswered { scan, reply }) = self.unanswered.take() {
                let reply = scan.id().map(|id| reply::mcp::answering(&reply, id)).unwrap_or(reply);
                host::send_reply(&reply);
            }
        }
        Action::Pause
    }
}

/// Sends a denied request's reply; the stream pauses for good.
fn reply(conclusion: &Conclusion, request: &Request) -> Action {
    let Some(Reply::Http(reply)) = &conclusion.reply else { return Action::Continue };
    let rule = conclusion.outcome.decision.rule.as_deref().unwrap_or("route default");
    host::log(LogLevel::Debug, &format!("access-guardrails: denied {} {} by {rule}", request.method, request.path()));
    host::send_reply(reply);
    Action::Pause
}

impl MaskedResponse {
    /// A response that cannot be masked: withheld (502 while its headers are still ours to
    /// change), or passed as it is, as the engine concludes.
    fn unmaskable(&mut self, shared: &Shared, mask: &MaskRoute, reason: &str, at_headers: bool) {
        match engine::unmaskable(&shared.policy, mask, reason, self.request_id.as_deref()) {
            Unmaskable::Pass { note } => {
                self.summary.note = Some(note);
                self.body = Body::Untouched;
            }
            Unmaskable::Withhold { reply, note } => {
                if at_headers {
                    host::set_header(MapType::HttpResponseHeaders, ":status", Some(&reply.status.to_string()));
                    for (name, value) in &reply.headers {
                        host::set_header(MapType::HttpResponseHeaders, name, Some(value));
                    }
                    host::set_header(MapType::HttpResponseHeaders, "content-length", None);
                    host::set_header(MapType::HttpResponseHeaders, "content-encoding", None);
                }
                self.summary.note = Some(note);
                self.body = Body::Withheld { body: reply.body };
            }
        }
    }

    /// Feeds the current chunk (`size` bytes) to the masker and replaces it with what the masker
    /// lets go; in monitor mode the chunk goes as it is and is only counted.
    fn stream(&mut self, shared: &Shared, mask: &MaskRoute, size: usize, end_of_stream: bool) {
        let Body::Streaming(streamer) = &mut self.body else { return };
        let chunk = if size > 0 { host::buffer(BufferType::HttpResponseBody, 0, size) } else { Vec::new() };
        let fed = with_cache(shared, self.route, mask, |cache| streamer.feed(&mask.masker, cache, &chunk, end_of_stream));
        self.summary.counts.clone_from(&streamer.counts);
        match fed {
            Ok(out) => {
                if self.masking == Masking::Apply {
                    host::set_buffer(BufferType::HttpResponseBody, 0, size, &out);
                }
                if let (true, Some(note)) = (end_of_stream, self.masking.note()) {
                    self.summary.note = Some(note.to_string());
                }
            }
            Err(reason) => self.give_up(shared, mask, &reason, size),
        }
    }

    /// A body the masker cannot go on with: withheld from here, or let go unmasked.
    fn give_up(&mut self, shared: &Shared, mask: &MaskRoute, reason: &str, size: usize) {
        let Body::Streaming(mut streamer) = std::mem::replace(&mut self.body, Body::Untouched) else { return };
        self.unmaskable(shared, mask, reason, false);
        if matches!(self.body, Body::Untouched) && self.masking == Masking::Apply {
            // Passed unmasked: what was held goes, and the rest is still decoded.
            host::set_buffer(BufferType::HttpResponseBody, 0, size, &streamer.pass());
            self.body = Body::Streaming(streamer);
        }
    }
}

/// The route's mask cache on this VM, made on first use.
pub(super) fn with_cache<T>(
    shared: &Shared,
    route: usize,
    mask: &MaskRoute,
    f: impl FnOnce(&mut crate::mask::MaskCache) -> T,
) -> T {
    let mut caches = shared.mask_caches.borrow_mut();
    if caches.len() <= route {
        caches.resize_with(route + 1, || None);
    }
    f(caches[route].get_or_insert_with(|| mask.masker.cache()))
}

/// A claim of the payload Envoy's jwt_authn stored under `payload_key` (dotted names reach
/// nested claims).
fn jwt_claim(payload_key: &str, claim: &str) -> Option<String> {
    let mut path = vec!["metadata", "filter_metadata", JWT_AUTHN, payload_key];
    path.extend(claim.split('.'));
    host::property(&path)
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
