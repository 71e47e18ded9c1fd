//! Model providers' responses, read for the tool calls they hand to agents, and rewritten so a
//! denied call never reaches the agent while the provider's SDK still parses what it gets.
//!
//! Three APIs, each whole (JSON) or streamed (server-sent events):
//! - OpenAI Chat Completions, `POST /v1/chat/completions` ([`chat`]): `choices[].message.tool_calls[]`,
//!   `function.arguments` a JSON *string*; streamed as `chat.completion.chunk`s whose
//!   `delta.tool_calls[]` carry an `index` and argument fragments, ended by `data: [DONE]`
//!   (openai-python `types/chat/chat_completion_chunk.py`).
//! - OpenAI Responses, `POST /v1/responses` ([`responses`]): `output[]` items of type
//!   `function_call` (`call_id`, `name`, `arguments` string); streamed as typed events
//!   (`response.output_item.added` / `.done`, `response.function_call_arguments.delta` /
//!   `.done`, `response.completed` with the whole response, which the SDK's result is taken
//!   from: openai-python `lib/streaming/responses/_responses.py`).
//! - Anthropic Messages, `POST /v1/messages` ([`messages`]): `content[]` blocks of type
//!   `tool_use` (`id`, `name`, `input` object); streamed as `content_block_start`,
//!   `input_json_delta.partial_json` deltas, `content_block_stop`, `message_delta` with the
//!   `stop_reason` (platform.claude.com/docs/build-with-claude/streaming).
//!
//! What the SDKs require of a rewrite (measured with openai 3.57 and anthropic 2.15): no index
//! gaps (both stream helpers raise), no empty `tool_calls: []` (the provider rejects it when the
//! agent sends it back), `response.completed` agreeing with the item events, and `event:` lines
//! kept. So a denied Chat call is removed and the others renumbered; a denied Responses item or
//! Anthropic block is replaced in place by a text item or block; `finish_reason` and
//! `stop_reason` stop saying "tool calls" when none is left. Arguments are judged as the exact
//! bytes the agent receives, strictly ([`crate::json::parse_strict`]): the Anthropic SDK repairs
//! broken input leniently, the filter never does.
//!
//! A call's events are held from its first to its last and decided then; the rest passes as it
//! comes (in the Responses and Messages APIs, events after an open call wait for it, because
//! the SDKs place items in arrival order). What is held is bounded by the rewriter's limit.

pub mod chat;
pub mod messages;
pub mod request;
pub mod responses;

use serde_json::Value;

use crate::http::sse::{Event, Framer};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Provider {
    OpenAi,
    Anthropic,
}

impl Provider {
    /// As the policy and the audit record name it.
    pub fn as_str(self) -> &'static str {
        match self {
            Provider::OpenAi => "openai",
            Provider::Anthropic => "anthropic",
        }
    }
}

/// One provider API, by its path.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Api {
    ChatCompletions,
    Responses,
    Messages,
}

impl Api {
    /// The API a provider serves at `path` (normalized, without the query), if any.
    pub fn at(provider: Provider, path: &str) -> Option<Api> {
        let path = path.trim_end_matches('/');
        match provider {
            Provider::OpenAi if path.ends_with("/v1/chat/completions") => Some(Api::ChatCompletions),
            Provider::OpenAi if path.ends_with("/v1/responses") => Some(Api::Responses),
            Provider::Anthropic if path.ends_with("/v1/messages") => Some(Api::Messages),
            _ => None,
        }
    }
}

/// A tool call the model asked for, complete.
#[derive(Clone, Debug, PartialEq)]
pub struct ToolCall {
    /// What the agent's result refers to: Chat's `id`, Responses' `call_id`, Anthropic's `id`.
    pub id: String,
    pub name: String,
    /// The arguments as the agent will read them; an error when they are not a JSON object.
    pub arguments: Result<Value, String>,
}

impl ToolCall {
    /// A call whose arguments arrive as JSON text (`""` is Anthropic's way of saying `{}`).
    pub fn from_text(id: String, name: String, text: &str) -> ToolCall {
        let arguments = if text.trim().is_empty() { Ok(Value::Object(Default::default())) } else { object(text) };
        ToolCall { id, name, arguments }
    }
}

impl ToolCall {
    /// The call as the engine decides tool calls: an MCP `tools/call` message (arguments that
    /// do not parse are `null` there; the engine refuses them before any rule reads them).
    pub fn as_message(&self) -> crate::mcp::Call {
        let arguments = self.arguments.clone().unwrap_or(Value::Null);
        let message = serde_json::json!({"jsonrpc": "2.0", "id": self.id, "method": "tools/call",
            "params": {"name": self.name, "arguments": arguments}});
        crate::mcp::Call {
            kind: crate::mcp::MessageKind::Request,
            id: Some(Value::String(self.id.clone())),
            method: Some("tools/call".into()),
            target: Some(self.name.clone()),
            message,
        }
    }
}

fn object(text: &str) -> Result<Value, String> {
    match crate::json::parse_strict(text) {
        Ok(value @ Value::Object(_)) => Ok(value),
        Ok(other) => Err(format!("the arguments are {}, not an object", crate::json::kind(&other))),
        Err(e) => Err(format!("the arguments are not valid JSON: {e}")),
    }
}

/// What happens to one tool call.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Verdict {
    Release,
    /// The call is removed; the agent reads this text where it was.
    Replace(String),
}

/// Decides tool calls as they complete (the engine, through the proxy).
pub trait Judge {
    fn judge(&mut self, call: &ToolCall) -> Verdict;
}

/// What stops a response from being rewritten.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Failure {
    /// More than the limit would have to be held.
    Oversize(usize),
    /// The body is not the API's shape, so its calls cannot be found.
    Malformed(String),
}

/// One response through the rewriter: bytes in, the bytes to send now out.
#[derive(Debug)]
pub struct Rewriter {
    body: Body,
    limit: usize,
    /// The stream's last event came (`[DONE]`, `response.completed`, `message_stop`).
    ended: bool,
}

#[derive(Debug)]
enum Body {
    /// Held whole, rewritten at the end.
    Json {
        api: Api,
        held: Vec<u8>,
    },
    Events {
        framer: Framer,
        stream: Box<Stream>,
    },
}

#[derive(Debug)]
enum Stream {
    Chat(chat::Stream),
    Responses(responses::Stream),
    Messages(messages::Stream),
}

impl Rewriter {
    /// `streamed`: the response is `text/event-stream`. `limit` bounds what is held.
    pub fn new(api: Api, streamed: bool, limit: usize) -> Rewriter {
        let body = if streamed {
            let stream = match api {
                Api::ChatCompletions => Stream::Chat(chat::Stream::default()),
                Api::Responses => Stream::Responses(responses::Stream::default()),
                Api::Messages => Stream::Messages(messages::Stream::default()),
            };
            Body::Events { framer: Framer::new(limit), stream: Box::new(stream) }
        } else {
            Body::Json { api, held: Vec::new() }
        };
        Rewriter { body, limit, ended: false }
    }

    /// Whether the stream's last event has come: nothing after it is part of the answer.
    pub fn ended(&self) -> bool {
        self.ended
    }

    /// Takes a chunk of the body; returns what may be sent now.
    pub fn feed(&mut self, chunk: &[u8], judge: &mut dyn Judge) -> Result<Vec<u8>, Failure> {
        match &mut self.body {
            Body::Json { held, .. } => {
                held.extend_from_slice(chunk);
                if held.len() > self.limit {
                    return Err(Failure::Oversize(held.len()));
                }
                Ok(Vec::new())
            }
            Body::Events { framer, stream } => {
                let events = framer.push(chunk).map_err(|e| Failure::Oversize(e.0))?;
                let mut out = Vec::new();
                for event in events {
                    self.ended |= stream.ends_with(&event);
                    stream.event(event, judge, &mut out)?;
                }
                stream.check_held(self.limit)?;
                Ok(out)
            }
        }
    }

    /// The end of the body: decides what is still held.
    pub fn finish(&mut self, judge: &mut dyn Judge) -> Result<Vec<u8>, Failure> {
        match &mut self.body {
            Body::Json { api, held } => {
                let mut doc: Value = crate::json::parse_strict(&String::from_utf8_lossy(held)).map_err(Failure::Malformed)?;
                let changed = match api {
                    Api::ChatCompletions => chat::rewrite(&mut doc, judge),
                    Api::Responses => responses::rewrite(&mut doc, judge),
                    Api::Messages => messages::rewrite(&mut doc, judge),
                };
                Ok(if changed { doc.to_string().into_bytes() } else { std::mem::take(held) })
            }
            Body::Events { framer, stream } => {
                let mut out = Vec::new();
                if let Some(tail) = framer.finish() {
                    stream.event(tail, judge, &mut out)?;
                }
                stream.finish(judge, &mut out)?;
                Ok(out)
            }
        }
    }
}

impl Rewriter {
    /// Gives rewriting up (the policy lets an unreadable answer pass): what is held goes as it
    /// came, or, for a call held in pieces, whole and undecided.
    pub fn release_all(&mut self) -> Vec<u8> {
        struct ReleaseAll;
        impl Judge for ReleaseAll {
            fn judge(&mut self, _call: &ToolCall) -> Verdict {
                Verdict::Release
            }
        }
        match &mut self.body {
            Body::Json { held, .. } => std::mem::take(held),
            Body::Events { framer, stream } => {
                let mut out = Vec::new();
                // An event that did not parse was given up already; what is held still reads.
                let _ = stream.finish(&mut ReleaseAll, &mut out);
                out.extend(framer.finish().map(|tail| tail.raw).unwrap_or_default());
                out
            }
        }
    }
}

impl Stream {
    /// Whether `event` is the API's last: the SDKs stop reading there (openai's at `[DONE]`).
    fn ends_with(&self, event: &Event) -> bool {
        let last = match self {
            Stream::Chat(_) => return event.data.trim() == "[DONE]",
            Stream::Responses(_) => &["response.completed", "response.failed", "response.incomplete"][..],
            Stream::Messages(_) => &["message_stop"][..],
        };
        match &event.name {
            Some(name) => last.contains(&name.as_str()),
            None => {
                serde_json::from_str::<Value>(&event.data).is_ok_and(|d| d["type"].as_str().is_some_and(|t| last.contains(&t)))
            }
        }
    }

    fn event(&mut self, event: Event, judge: &mut dyn Judge, out: &mut Vec<u8>) -> Result<(), Failure> {
        match self {
            Stream::Chat(s) => s.event(event, judge, out),
            Stream::Responses(s) => s.event(event, judge, out),
            Stream::Messages(s) => s.event(event, judge, out),
        }
    }

    fn finish(&mut self, judge: &mut dyn Judge, out: &mut Vec<u8>) -> Result<(), Failure> {
        match self {
            Stream::Chat(s) => s.finish(judge, out),
            Stream::Responses(s) => s.finish(judge, out),
            Stream::Messages(s) => s.finish(judge, out),
        }
    }

    fn check_held(&self, limit: usize) -> Result<(), Failure> {
        let held = match self {
            Stream::Chat(s) => s.held(),
            Stream::Responses(s) => s.held(),
            Stream::Messages(s) => s.held(),
        };
        if held > limit {
            Err(Failure::Oversize(held))
        } else {
            Ok(())
        }
    }
}

/// An event's data as JSON; an event that is not is malformed (no provider sends one).
fn event_json(event: &Event) -> Result<Value, Failure> {
    if !event.utf8 {
        return Err(Failure::Malformed("an event is not UTF-8".into()));
    }
    serde_json::from_str(&event.data).map_err(|e| Failure::Malformed(format!("an event is not JSON: {e}")))
}

/// The SSE events written for a response: one `event:` + `data:` each.
fn write_event(name: &str, data: &Value, out: &mut Vec<u8>) {
    Event::write(Some(name), &data.to_string(), out);
}

#[cfg(test)]
pub(crate) mod testing {
    //! A judge for the rewriters' tests: denies calls by name, records what it saw.
    use super::*;

    #[derive(Default)]
    pub struct DenyNames {
        pub deny: Vec<&'static str>,
        pub seen: Vec<ToolCall>,
    }

    impl Judge for DenyNames {
        fn judge(&mut self, call: &ToolCall) -> Verdict {
            self.seen.push(call.clone());
            if self.deny.contains(&call.name.as_str()) || call.arguments.is_err() {
                Verdict::Replace(format!("denied {}", call.id))
            } else {
                Verdict::Release
            }
        }
    }

    /// The output of a stream fed whole, then cut at every byte, must be the same.
    pub fn same_at_every_cut(api: Api, body: &[u8], deny: &[&'static str]) -> Vec<u8> {
        let run = |chunks: &[&[u8]]| {
            let mut judge = DenyNames { deny: deny.to_vec(), ..Default::default() };
            let mut rewriter = Rewriter::new(api, true, 1 << 20);
            let mut out = Vec::new();
            for chunk in chunks {
                out.extend(rewriter.feed(chunk, &mut judge).unwrap());
            }
            out.extend(rewriter.finish(&mut judge).unwrap());
            out
        };
        let whole = run(&[body]);
        for cut in 0..=body.len() {
            assert_eq!(run(&[&body[..cut], &body[cut..]]), whole, "cut at {cut}");
        }
        let bytes: Vec<&[u8]> = body.chunks(1).collect();
        assert_eq!(run(&bytes), whole, "in single bytes");
        whole
    }

    /// The events of a rewritten stream, as (event name, data JSON) pairs.
    pub fn events(out: &[u8]) -> Vec<(Option<String>, Value)> {
        let mut framer = Framer::new(usize::MAX);
        let mut events = framer.push(out).unwrap();
        events.extend(framer.finish());
        events
            .into_iter()
            .filter(|e| !e.data.is_empty())
            .map(|e| (e.name.clone(), serde_json::from_str(&e.data).unwrap_or(Value::String(e.data.clone()))))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn apis_by_path_and_arguments_strictly() {
        assert_eq!(Api::at(Provider::OpenAi, "/v1/chat/completions"), Some(Api::ChatCompletions));
        assert_eq!(Api::at(Provider::OpenAi, "/openai/v1/responses/"), Some(Api::Responses));
        assert_eq!(Api::at(Provider::Anthropic, "/v1/messages"), Some(Api::Messages));
        assert_eq!(Api::at(Provider::Anthropic, "/v1/chat/completions"), None);
        let call = |text: &str| ToolCall::from_text("c".into(), "t".into(), text).arguments;
        assert_eq!(call(""), Ok(serde_json::json!({})));
        assert_eq!(call("{\"q\": 1}"), Ok(serde_json::json!({"q": 1})));
        for bad in ["{\"q\": 1", "{\"q\": 1} x", "{\"q\": 1, \"q\": 2}", "{\"n\": NaN}", "[1]", "{\"q\": \"\\ud800\"}"] {
            assert!(call(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn a_whole_body_over_the_limit_is_refused() {
        let mut rewriter = Rewriter::new(Api::Messages, false, 4);
        let mut judge = testing::DenyNames::default();
        assert_eq!(rewriter.feed(b"{\"content\": []}", &mut judge), Err(Failure::Oversize(15)));
        let mut rewriter = Rewriter::new(Api::Messages, false, 64);
        rewriter.feed(b"{\"content\": [", &mut judge).unwrap();
        assert!(matches!(rewriter.finish(&mut judge), Err(Failure::Malformed(_))));
    }
}
