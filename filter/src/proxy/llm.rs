//! A model's answer on an `llm` route ([`ResponsePlan::ToolCalls`]) carried through
//! [`Rewriter`]: each chunk is replaced by what the rewriter lets go, so nothing waits in Envoy's
//! buffer and a released event leaves in the callback its last byte came in (the openai SDK
//! hangs up at `[DONE]`). Each tool call is decided by the engine as it completes, with a
//! conclusion of its own (counters, record); in monitor mode the chunks go unchanged while a
//! copy is read.
//!
//! [`ResponsePlan::ToolCalls`]: crate::engine::ResponsePlan::ToolCalls

use super::host::{self, BufferType, MapType};
use super::Shared;
use crate::audit::Site;
use crate::decide::Limit;
use crate::engine;
use crate::http::Request;
use crate::identity::Actor;
use crate::llm::{Api, Failure, Judge, Rewriter, ToolCall, Verdict};

/// The request whose answer is read, and where the reading is.
pub(super) struct Answer {
    pub route: usize,
    pub actor: Actor,
    pub request: Request,
    pub started: u64,
    pub model: Option<String>,
    pub api: Api,
    /// False in monitor mode: calls are decided and recorded, the body is left as it is.
    pub rewrite: bool,
    /// The answer is an event stream (known at its headers).
    streamed: bool,
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
}

/// The engine, deciding one call at a time for the proxy.
struct EngineJudge<'a> {
    shared: &'a Shared,
    answer: &'a Answer,
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
        conclusion.tool_call_verdict(call)
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
        rewrite: bool,
    ) -> Answer {
        Answer { route, actor, request, started, model, api, rewrite, streamed: false, state: State::Waiting }
    }

    /// Reads the response headers: a successful JSON or event-stream answer is read.
    pub fn headers(&mut self, shared: &Shared, end_of_stream: bool) {
        let headers = host::headers(MapType::HttpResponseHeaders);
        let value = |name: &str| {
            let found = headers.iter().find(|(n, _)| n.eq_ignore_ascii_case(name));
            found.map(|(_, v)| String::from_utf8_lossy(v).trim().to_ascii_lowercase())
        };
        let success = value(":status").is_some_and(|s| s.starts_with('2'));
        if !success || end_of_stream {
            self.state = State::Passing;
            return;
        }
        if let Some(coding) = value("content-encoding").filter(|c| !c.is_empty() && c != "identity") {
            return self.give_up(shared, Limit::EncodedBody, format!("the answer is compressed ({coding})"), 0);
        }
        let essence = value("content-type").map(|ct| ct.split(';').next().unwrap_or("").trim().to_string());
        let streamed = match essence.as_deref() {
            Some("text/event-stream") => true,
            Some("application/json") => false,
            other => {
                let detail = format!("the answer is {}, not JSON or events", other.unwrap_or("untyped"));
                return self.give_up(shared, Limit::Unparsable, detail, 0);
            }
        };
        if self.rewrite {
            host::set_header(MapType::HttpResponseHeaders, "content-length", None);
        }
        self.streamed = streamed;
        let limit = usize::try_from(shared.policy.limits.max_body_bytes).unwrap_or(usize::MAX);
        self.state = State::Reading(Box::new(Rewriter::new(self.api, streamed, limit)));
    }

    /// Reads the current chunk (`size` bytes) and replaces it with what may go now.
    pub fn body(&mut self, shared: &Shared, size: usize, end_of_stream: bool) {
        let state = std::mem::replace(&mut self.state, State::Passing);
        self.state = match state {
            State::Reading(mut rewriter) => {
                let chunk = if size > 0 { host::buffer(BufferType::HttpResponseBody, 0, size) } else { Vec::new() };
                let mut judge = EngineJudge { shared, answer: self };
                let read = rewriter.feed(&chunk, &mut judge).and_then(|mut out| {
                    if end_of_stream {
                        out.extend(rewriter.finish(&mut judge)?);
                    }
                    Ok(out)
                });
                match read {
                    Ok(out) => {
                        if self.rewrite {
                            host::set_buffer(BufferType::HttpResponseBody, 0, size, &out);
                        }
                        State::Reading(rewriter)
                    }
                    Err(failure) => {
                        self.state = State::Reading(rewriter);
                        let (limit, detail) = match failure {
                            Failure::Oversize(n) => (Limit::Oversize, format!("a tool call held past {n} bytes")),
                            Failure::Malformed(why) => (Limit::Unparsable, why),
                        };
                        self.give_up(shared, limit, detail, size);
                        return self.withheld(size, end_of_stream);
                    }
                }
            }
            other => other,
        };
        self.withheld(size, end_of_stream);
    }

    fn withheld(&self, size: usize, end_of_stream: bool) {
        if let (State::Withheld(body), true) = (&self.state, self.rewrite) {
            host::set_buffer(BufferType::HttpResponseBody, 0, size, if end_of_stream { body } else { &[] });
        }
    }

    /// An answer the rewriter cannot go on with, decided by the policy's limit: withheld (the
    /// provider's error, as an event for a stream, in place of the rest), or let go as it comes.
    fn give_up(&mut self, shared: &Shared, limit: Limit, detail: String, size: usize) {
        let route = &shared.policy.routes[self.route];
        let outcome = engine::unreadable_answer(&shared.policy, route, limit, detail);
        let conclusion = shared.conclude(self.route, &self.actor, outcome, Site::Http(&self.request), self.started);
        let held = match std::mem::replace(&mut self.state, State::Passing) {
            State::Reading(mut rewriter) => rewriter.release_all(),
            _ => Vec::new(),
        };
        match conclusion.reply {
            Some(crate::reply::Reply::Http(_)) if self.streamed => {
                self.state = State::Withheld(crate::reply::llm::stream_error(self.api, &conclusion.outcome.decision));
            }
            Some(crate::reply::Reply::Http(reply)) => self.state = State::Withheld(reply.body.into_bytes()),
            _ if self.rewrite => {
                host::set_buffer(BufferType::HttpResponseBody, 0, size, &held);
            }
            _ => {}
        }
    }
}
