//! A model's answer on an `llm` route ([`ResponsePlan::ToolCalls`]) carried through
//! [`Rewriter`], as its [`Delivery`] says. Rewritten: each chunk is replaced by what the
//! rewriter lets go, so nothing waits in Envoy's buffer and a released event leaves in the
//! callback its last byte came in (the openai SDK hangs up at `[DONE]`). Whole or refused: the
//! headers and the body wait in Envoy's buffer (bounded by `limits.max_body_bytes`) while the
//! calls are decided, then go unchanged, or the first denial's reply goes instead. Unchanged
//! (monitor mode): the chunks go as they come while a copy is read. Each tool call is decided
//! by the engine as it completes, with a conclusion of its own (counters, record).
//!
//! [`ResponsePlan::ToolCalls`]: crate::engine::ResponsePlan::ToolCalls

use proxy_wasm::types::Action;

use super::host::{self, BufferType, MapType};
use super::Shared;
use crate::audit::Site;
use crate::decide::Limit;
use crate::engine::{self, Delivery};
use crate::http::Request;
use crate::identity::Actor;
use crate::llm::{Api, Failure, Judge, Rewriter, ToolCall, Verdict};
use crate::reply::{HttpReply, Reply};

/// The request whose answer is read, and where the reading is.
pub(super) struct Answer {
    pub route: usize,
    pub actor: Actor,
    pub request: Request,
    pub started: u64,
    pub model: Option<String>,
    pub api: Api,
    pub delivery: Delivery,
    /// The answer is an event stream (known at its headers).
    streamed: bool,
    /// Of a whole answer held in Envoy's buffer: the bytes already read.
    read: usize,
    state: State,
}

enum State {
    /// The response headers have not come.
    Waiting,
    Reading(Box<Rewriter>),
    /// Not read: passed as it comes (an error status, or an unreadable answer the policy lets by).
    Passing,
    /// Withheld: every chunk is dropped and the last one becomes this.
    Withheld(Vec<u8>),
    /// A held answer was replaced by a local reply: nothing more of it goes.
    Refused,
}

/// The engine, deciding one call at a time for the proxy.
struct EngineJudge<'a> {
    shared: &'a Shared,
    answer: &'a Answer,
    /// The first denied call's reply, for an answer delivered whole or refused.
    refusal: Option<HttpReply>,
}

impl Judge for EngineJudge<'_> {
    fn judge(&mut self, call: &ToolCall) -> Verdict {
        let (shared, answer) = (self.shared, self.answer);
        let route = &shared.policy.routes[answer.route];
        let outcome = {
            let cache = &mut shared.cache.borrow_mut();
            let model = answer.model.clone();
            engine::evaluate_tool_call(&shared.policy, route, &answer.actor, &answer.request, model, call, Some(cache))
        };
        let conclusion = shared.conclude(answer.route, &answer.actor, outcome, Site::Http(&answer.request), answer.started);
        let verdict = conclusion.tool_call_verdict(call);
        if let (Some(Reply::Http(reply)), None) = (conclusion.reply, &self.refusal) {
            self.refusal = Some(reply);
        }
        verdict
    }
}

impl Answer {
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        route: usize,
        actor: Actor,
        request: Request,
        started: u64,
        model: Option<String>,
        api: Api,
        delivery: Delivery,
    ) -> Answer {
        Answer { route, actor, request, started, model, api, delivery, streamed: false, read: 0, state: State::Waiting }
    }

    /// Reads the response headers: a successful JSON or event-stream answer is read. The
    /// headers of an answer delivered whole or refused wait; one whose body may change loses
    /// its length.
    pub fn headers(&mut self, shared: &Shared, end_of_stream: bool) -> Action {
        let action = self.read_headers(shared, end_of_stream);
        if self.delivery == Delivery::Rewritten && matches!(self.state, State::Reading(_) | State::Withheld(_)) {
            host::set_header(MapType::HttpResponseHeaders, "content-length", None);
        }
        action
    }

    fn read_headers(&mut self, shared: &Shared, end_of_stream: bool) -> Action {
        let headers = host::headers(MapType::HttpResponseHeaders);
        let value = |name: &str| {
            let found = headers.iter().find(|(n, _)| n.eq_ignore_ascii_case(name));
            found.map(|(_, v)| String::from_utf8_lossy(v).trim().to_ascii_lowercase())
        };
        let success = value(":status").is_some_and(|s| s.starts_with('2'));
        if !success || end_of_stream {
            self.state = State::Passing;
            return Action::Continue;
        }
        if let Some(coding) = value("content-encoding").filter(|c| !c.is_empty() && c != "identity") {
            return self.give_up(shared, Limit::EncodedBody, format!("the answer is compressed ({coding})"), 0);
        }
        let essence = value("content-type").map(|ct| ct.split(';').next().unwrap_or("").trim().to_string());
        self.streamed = match essence.as_deref() {
            Some("text/event-stream") => true,
            Some("application/json") => false,
            other => {
                let detail = format!("the answer is {}, not JSON or events", other.unwrap_or("untyped"));
                return self.give_up(shared, Limit::Unparsable, detail, 0);
            }
        };
        self.state = State::Reading(Box::new(Rewriter::new(self.api, self.streamed, limit(shared))));
        match self.delivery {
            Delivery::Rewritten | Delivery::Unchanged => Action::Continue,
            Delivery::WholeOrRefused => Action::Pause,
        }
    }

    /// Reads the current chunk (`size` bytes, or all that Envoy holds of a held answer) and
    /// carries out what the rewriter makes of it.
    pub fn body(&mut self, shared: &Shared, size: usize, end_of_stream: bool) -> Action {
        match self.delivery {
            Delivery::WholeOrRefused => self.held_body(shared, size, end_of_stream),
            Delivery::Rewritten | Delivery::Unchanged => {
                self.flowing_body(shared, size, end_of_stream);
                Action::Continue
            }
        }
    }

    /// The trailers came: the body has ended.
    pub fn trailers(&mut self, shared: &Shared) -> Action {
        match self.delivery {
            // All the body Envoy holds, which is at most the limit (or it was refused).
            Delivery::WholeOrRefused => self.held_body(shared, self.read.saturating_add(limit(shared)), true),
            Delivery::Rewritten | Delivery::Unchanged => {
                self.flowing_body(shared, 0, true);
                Action::Continue
            }
        }
    }

    /// Reads what the chunk adds and gives what may go now in its place.
    fn flowing_body(&mut self, shared: &Shared, size: usize, end_of_stream: bool) {
        if let State::Reading(_) = self.state {
            let chunk = if size > 0 { host::buffer(BufferType::HttpResponseBody, 0, size) } else { Vec::new() };
            match self.feed(shared, &chunk, end_of_stream) {
                Ok((out, _)) if self.delivery == Delivery::Rewritten => {
                    host::set_buffer(BufferType::HttpResponseBody, 0, size, &out);
                }
                Ok(_) => {}
                Err((limit, detail)) => {
                    self.give_up(shared, limit, detail, size);
                }
            }
        }
        if let (State::Withheld(body), Delivery::Rewritten) = (&self.state, self.delivery) {
            host::set_buffer(BufferType::HttpResponseBody, 0, size, if end_of_stream { body } else { &[] });
        }
    }

    /// Envoy holds the answer: its new bytes are read; the first denial answers instead, and
    /// the whole answer goes when it has ended with none.
    fn held_body(&mut self, shared: &Shared, size: usize, end_of_stream: bool) -> Action {
        if !matches!(self.state, State::Reading(_)) {
            return if matches!(self.state, State::Refused) { Action::Pause } else { Action::Continue };
        }
        let chunk = host::buffer(BufferType::HttpResponseBody, self.read, size.saturating_sub(self.read));
        self.read = self.read.saturating_add(chunk.len());
        if self.read > limit(shared) {
            let detail = format!("the answer is held past {} bytes", limit(shared));
            return self.give_up(shared, Limit::Oversize, detail, 0);
        }
        match self.feed(shared, &chunk, end_of_stream) {
            Ok((_, Some(refusal))) => self.refuse(&refusal),
            Ok((_, None)) if end_of_stream => {
                self.state = State::Passing;
                Action::Continue
            }
            Ok((_, None)) => Action::Pause,
            Err((limit, detail)) => self.give_up(shared, limit, detail, 0),
        }
    }

    /// The rewriter's output for `chunk`, and the first refusal among the calls it completed.
    fn feed(
        &mut self,
        shared: &Shared,
        chunk: &[u8],
        end_of_stream: bool,
    ) -> Result<(Vec<u8>, Option<HttpReply>), (Limit, String)> {
        let State::Reading(mut rewriter) = std::mem::replace(&mut self.state, State::Passing) else {
            return Ok((Vec::new(), None));
        };
        let mut judge = EngineJudge { shared, answer: self, refusal: None };
        let read = rewriter.feed(chunk, &mut judge).and_then(|mut out| {
            if end_of_stream {
                out.extend(rewriter.finish(&mut judge)?);
            }
            Ok(out)
        });
        let refusal = judge.refusal;
        self.state = State::Reading(rewriter);
        read.map(|out| (out, refusal)).map_err(|failure| match failure {
            Failure::Oversize(n) => (Limit::Oversize, format!("a tool call held past {n} bytes")),
            Failure::Malformed(why) => (Limit::Unparsable, why),
        })
    }

    fn refuse(&mut self, reply: &HttpReply) -> Action {
        host::send_reply(reply);
        self.state = State::Refused;
        Action::Pause
    }

    /// An answer the rewriter cannot go on with, decided by the policy's limit: withheld (the
    /// provider's error in place of the rest: an event for a stream that is flowing, a local
    /// reply for one held), or let go as it comes.
    fn give_up(&mut self, shared: &Shared, limit: Limit, detail: String, size: usize) -> Action {
        let route = &shared.policy.routes[self.route];
        let outcome = engine::unreadable_answer(&shared.policy, route, limit, detail);
        let conclusion = shared.conclude(self.route, &self.actor, outcome, Site::Http(&self.request), self.started);
        let held = match std::mem::replace(&mut self.state, State::Passing) {
            State::Reading(mut rewriter) => rewriter.release_all(),
            _ => Vec::new(),
        };
        match (conclusion.reply, self.delivery) {
            (Some(Reply::Http(reply)), Delivery::WholeOrRefused) => return self.refuse(&reply),
            (Some(Reply::Http(_)), _) if self.streamed => {
                self.state = State::Withheld(crate::reply::llm::stream_error(self.api, &conclusion.outcome.decision));
            }
            (Some(Reply::Http(reply)), _) => self.state = State::Withheld(reply.body.into_bytes()),
            (_, Delivery::Rewritten) => {
                host::set_buffer(BufferType::HttpResponseBody, 0, size, &held);
            }
            _ => {}
        }
        Action::Continue
    }
}

fn limit(shared: &Shared) -> usize {
    usize::try_from(shared.policy.limits.max_body_bytes).unwrap_or(usize::MAX)
}
