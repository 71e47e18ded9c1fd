//! The `llm` route's part of `make bench-host`: a model's streamed answers through the filter in
//! wasmtime, next to the empty filter, for each provider API. Only the response body callbacks
//! are timed (the question, the headers and building the answer are not), each figure the
//! median of alternating runs ([`medians`]):
//! - the first text delta: the callback of the answer's first chunk (the events up to and
//!   including the first text delta), which the filter lets go at once;
//! - a held tool call: an answer of [`CALLS`] calls, each held until complete and decided by the
//!   engine (a `run_sql` whose statement is new each time, or a `delete_project` the policy
//!   denies and the rewriter replaces), the difference divided by the calls;
//! - throughput: a 1 MiB answer of text deltas, and one of tool calls with argument fragments,
//!   in 16 KiB chunks, MB/s with the empty filter's cost taken out.

use std::time::{Duration, Instant};

use guardrails_host::{Host, HostOptions, Plugin, StreamInfo};
use serde_json::{json, Value};

use super::medians;

const POLICY: &str = r#"{"version": 1,
  "identity": {"principal": [{"header": "x-agent-id"}], "agent_when": [{"principal": "agent:*"}]},
  "limits": {"max_body_bytes": 4194304},
  "routes": [
    {"name": "openai", "match": {"path_prefix": "/v1"}, "rules": ["no-drops", "no-delete-tools"],
     "llm": {"provider": "openai", "sql": [{"tool": "run_sql", "pointer": "/query", "dialect": "postgres"}]}},
    {"name": "anthropic", "match": {"path_prefix": "/anthropic"}, "rules": ["no-drops", "no-delete-tools"],
     "llm": {"provider": "anthropic", "sql": [{"tool": "run_sql", "pointer": "/query", "dialect": "postgres"}]}}],
  "rules": [
    {"name": "no-drops", "effect": "deny", "when": {"sql": {"operations": ["drop", "truncate"]}}},
    {"name": "no-delete-tools", "effect": "deny", "when": {"tool": {"names": ["delete_*"]}}}]}"#;

/// The tool calls of one answer in the per-call measure.
const CALLS: usize = 32;
const CHUNK: usize = 16 * 1024;
const FIRST_TEXT: &str = "Hello";

#[derive(Clone, Copy, PartialEq, Eq)]
enum Api {
    Chat,
    Responses,
    Messages,
}

const APIS: [Api; 3] = [Api::Chat, Api::Responses, Api::Messages];

impl Api {
    fn name(self) -> &'static str {
        match self {
            Api::Chat => "Chat Completions",
            Api::Responses => "Responses",
            Api::Messages => "Anthropic Messages",
        }
    }

    fn path(self) -> &'static str {
        match self {
            Api::Chat => "/v1/chat/completions",
            Api::Responses => "/v1/responses",
            Api::Messages => "/anthropic/v1/messages",
        }
    }

    fn question(self) -> Vec<u8> {
        let body = match self {
            Api::Responses => json!({"model": "m", "stream": true, "input": "go"}),
            _ => json!({"model": "m", "stream": true, "messages": [{"role": "user", "content": "go"}]}),
        };
        body.to_string().into_bytes()
    }
}

/// A streamed answer as the provider writes it (the shapes of envoy/llm_stub.py): text deltas,
/// then tool calls whose arguments come in fragments.
struct Answer {
    api: Api,
    body: String,
    sequence: u64,
    text: String,
    /// Bytes up to the end of the first text delta.
    opening: usize,
    calls: Vec<(String, String)>,
}

impl Answer {
    fn new(api: Api) -> Answer {
        let mut answer = Answer { api, body: String::new(), sequence: 0, text: String::new(), opening: 0, calls: Vec::new() };
        match api {
            Api::Chat => {}
            Api::Responses => {
                answer.event("response.created", json!({"response": {"id": "resp_1", "status": "in_progress", "output": []}}));
                let item = json!({"type": "message", "id": "msg_1", "role": "assistant", "status": "in_progress", "content": []});
                answer.event("response.output_item.added", json!({"output_index": 0, "item": item}));
            }
            Api::Messages => {
                let message = json!({"id": "msg_1", "type": "message", "role": "assistant", "model": "m", "content": [],
                    "stop_reason": null, "usage": {"input_tokens": 1, "output_tokens": 1}});
                answer.event("message_start", json!({"message": message}));
                answer.event("content_block_start", json!({"index": 0, "content_block": {"type": "text", "text": ""}}));
            }
        }
        answer.text(FIRST_TEXT);
        answer.opening = answer.body.len();
        answer
    }

    fn event(&mut self, name: &str, mut data: Value) {
        data["type"] = json!(name);
        if self.api == Api::Responses {
            data["sequence_number"] = json!(self.sequence);
            self.sequence += 1;
        }
        self.body += &format!("event: {name}\ndata: {data}\n\n");
    }

    fn chunk(&mut self, delta: Value, finish: Option<&str>) {
        let chunk = json!({"id": "chatcmpl-1", "object": "chat.completion.chunk", "created": 1, "model": "m",
            "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]});
        self.body += &format!("data: {chunk}\n\n");
    }

    fn text(&mut self, piece: &str) {
        assert!(self.calls.is_empty(), "text comes before the calls");
        self.text.push_str(piece);
        match self.api {
            Api::Chat => self.chunk(json!({"content": piece}), None),
            Api::Responses => self.event(
                "response.output_text.delta",
                json!({"output_index": 0, "content_index": 0, "item_id": "msg_1", "delta": piece}),
            ),
            Api::Messages => {
                self.event("content_block_delta", json!({"index": 0, "delta": {"type": "text_delta", "text": piece}}))
            }
        }
    }

    /// The text's end, before the first call.
    fn end_text(&mut self) {
        match self.api {
            Api::Chat => {}
            Api::Responses => {
                let item = self.message_item();
                self.event("response.output_item.done", json!({"output_index": 0, "item": item}));
            }
            Api::Messages => self.event("content_block_stop", json!({"index": 0})),
        }
    }

    fn message_item(&self) -> Value {
        json!({"type": "message", "id": "msg_1", "role": "assistant", "status": "completed",
            "content": [{"type": "output_text", "text": self.text, "annotations": []}]})
    }

    fn call(&mut self, name: &str, arguments: &str, fragment: usize) {
        if self.calls.is_empty() {
            self.end_text();
        }
        let (index, id) = (self.calls.len(), format!("call_{}", self.calls.len()));
        let pieces: Vec<String> = arguments.chars().collect::<Vec<_>>().chunks(fragment).map(|c| c.iter().collect()).collect();
        match self.api {
            Api::Chat => {
                let start = json!({"index": index, "id": id, "type": "function", "function": {"name": name, "arguments": ""}});
                self.chunk(json!({"tool_calls": [start]}), None);
                for piece in &pieces {
                    self.chunk(json!({"tool_calls": [{"index": index, "function": {"arguments": piece}}]}), None);
                }
            }
            Api::Responses => {
                let item = |status: &str, arguments: &str| {
                    json!({"type": "function_call", "id": format!("fc_{index}"), "call_id": id, "name": name,
                        "arguments": arguments, "status": status})
                };
                self.event("response.output_item.added", json!({"output_index": index + 1, "item": item("in_progress", "")}));
                for piece in &pieces {
                    let delta = json!({"output_index": index + 1, "item_id": format!("fc_{index}"), "delta": piece});
                    self.event("response.function_call_arguments.delta", delta);
                }
                let done = json!({"output_index": index + 1, "item_id": format!("fc_{index}"), "arguments": arguments});
                self.event("response.function_call_arguments.done", done);
                self.event("response.output_item.done", json!({"output_index": index + 1, "item": item("completed", arguments)}));
            }
            Api::Messages => {
                let block = json!({"type": "tool_use", "id": id, "name": name, "input": {}});
                self.event("content_block_start", json!({"index": index + 1, "content_block": block}));
                for piece in &pieces {
                    let delta = json!({"index": index + 1, "delta": {"type": "input_json_delta", "partial_json": piece}});
                    self.event("content_block_delta", delta);
                }
                self.event("content_block_stop", json!({"index": index + 1}));
            }
        }
        self.calls.push((name.to_string(), arguments.to_string()));
    }

    fn finish(mut self) -> (Vec<u8>, usize) {
        if self.calls.is_empty() {
            self.end_text();
        }
        let called = !self.calls.is_empty();
        match self.api {
            Api::Chat => {
                self.chunk(json!({}), Some(if called { "tool_calls" } else { "stop" }));
                self.body += "data: [DONE]\n\n";
            }
            Api::Responses => {
                let mut output = vec![self.message_item()];
                output.extend(self.calls.iter().enumerate().map(|(i, (name, arguments))| {
                    json!({"type": "function_call", "id": format!("fc_{i}"), "call_id": format!("call_{i}"), "name": name,
                        "arguments": arguments, "status": "completed"})
                }));
                self.event("response.completed", json!({"response": {"id": "resp_1", "status": "completed", "output": output}}));
            }
            Api::Messages => {
                let stop = if called { "tool_use" } else { "end_turn" };
                self.event(
                    "message_delta",
                    json!({"delta": {"stop_reason": stop, "stop_sequence": null}, "usage": {"output_tokens": 9}}),
                );
                self.event("message_stop", json!({}));
            }
        }
        (self.body.into_bytes(), self.opening)
    }
}

/// The response body callbacks of one answer: the first chunk's time, all of them, and what
/// had gone to the agent after the first.
struct Timed {
    first: Duration,
    all: Duration,
    after_first: Vec<u8>,
    sent: Vec<u8>,
}

/// The question, then the answer in the chunks `cuts` ends, as Envoy delivers them.
fn exchange(host: &mut Host, api: Api, body: &[u8], cuts: &[usize]) -> Timed {
    let id = host.open_http(0, StreamInfo::default());
    let question = api.question();
    let length = question.len().to_string();
    let headers = [
        (":method", "POST"),
        (":path", api.path()),
        (":authority", "llm.internal"),
        (":scheme", "http"),
        ("content-type", "application/json"),
        ("content-length", length.as_str()),
        ("x-agent-id", "agent:bench"),
    ];
    host.request_headers(id, &headers, false);
    host.request_body(id, &question, false);
    host.request_body(id, b"", true);
    assert!(host.stream(id).local_reply.is_none(), "the question is allowed");
    host.response_headers(id, &[(":status", "200"), ("content-type", "text/event-stream")], false);
    let mut timed = Timed { first: Duration::ZERO, all: Duration::ZERO, after_first: Vec::new(), sent: Vec::new() };
    let mut from = 0;
    for (i, &to) in cuts.iter().enumerate() {
        let start = Instant::now();
        host.response_body(id, &body[from..to], i + 1 == cuts.len());
        let took = start.elapsed();
        timed.all += took;
        if i == 0 {
            timed.first = took;
            timed.after_first = host.stream(id).response.forwarded_body.clone();
        }
        from = to;
    }
    timed.sent = host.stream(id).response.forwarded_body.clone();
    host.close(id);
    timed
}

fn chunked(length: usize) -> Vec<usize> {
    (1..=length.div_ceil(CHUNK)).map(|n| (n * CHUNK).min(length)).collect()
}

/// Mean seconds of `part` over the exchanges that fit in `budget` (at least three), each answer
/// made anew by `make` (its number given) with the cuts of `cuts`.
fn seconds(
    host: &mut Host,
    api: Api,
    budget: Duration,
    mut make: impl FnMut(usize) -> (Vec<u8>, Vec<usize>),
    part: fn(&Timed) -> Duration,
) -> f64 {
    let start = Instant::now();
    let (mut total, mut n) = (Duration::ZERO, 0usize);
    while start.elapsed() < budget || n < 3 {
        let (body, cuts) = make(n);
        total += part(&exchange(host, api, &body, &cuts));
        n += 1;
    }
    total.as_secs_f64() / n as f64
}

/// The empty filter's host and the filter's, by `guarded`.
struct Hosts([Host; 2]);

impl Hosts {
    fn get(&mut self, guarded: bool) -> &mut Host {
        &mut self.0[usize::from(guarded)]
    }
}

pub fn bench(guardrails: &Plugin, empty: &Plugin, budget: Duration) {
    let start = |plugin| Host::start(plugin, HostOptions::with_configuration(POLICY)).expect("the filter starts");
    let mut hosts = Hosts([start(empty), start(guardrails)]);
    first_delta(&mut hosts, budget);
    held_calls(&mut hosts, budget);
    throughput(&mut hosts, budget);
}

/// The first chunk's callback: the events up to the first text delta, let go at once.
fn first_delta(hosts: &mut Hosts, budget: Duration) {
    println!("llm: the first text delta (its chunk's callback, µs):");
    println!("  {:<20} {:>8} {:>12} {:>12} {:>10}", "API", "bytes", "filter", "empty", "added");
    for api in APIS {
        let mut answer = Answer::new(api);
        answer.text(" world");
        let (body, opening) = answer.finish();
        let cuts = [opening, body.len()];
        for guarded in [true, false] {
            let sent = exchange(hosts.get(guarded), api, &body, &cuts).after_first;
            assert_eq!(sent, &body[..opening], "the first text delta goes at once");
        }
        let make = |_| (body.clone(), cuts.to_vec());
        let (with, without) = medians(|guarded| seconds(hosts.get(guarded), api, budget / 40, make, |t| t.first));
        println!(
            "  {:<20} {:>8} {:>12.2} {:>12.2} {:>10.2}",
            api.name(),
            opening,
            with * 1e6,
            without * 1e6,
            (with - without) * 1e6
        );
    }
}

/// An answer of `CALLS` calls of one tool, its arguments in 8-character fragments, every
/// statement new (`n` numbers the answer).
fn calls_answer(api: Api, tool: &str, n: usize) -> (Vec<u8>, Vec<usize>) {
    let mut answer = Answer::new(api);
    for k in 0..CALLS {
        let arguments = match tool {
            "run_sql" => json!({"query": format!("SELECT id, total FROM orders WHERE customer_id = {k} -- {n}")}),
            _ => json!({"project_id": k, "reason": format!("cleanup {n}")}),
        };
        answer.call(tool, &arguments.to_string(), 8);
    }
    let (body, _) = answer.finish();
    let cuts = chunked(body.len());
    (body, cuts)
}

/// The cost of a held tool call: the whole answer's callbacks, the difference per call.
fn held_calls(hosts: &mut Hosts, budget: Duration) {
    println!("llm: a held tool call ({CALLS} calls an answer, 8-byte argument fragments, µs/call):");
    println!("  {:<20} {:<30} {:>10} {:>10} {:>10}", "API", "call", "filter", "empty", "added");
    for api in APIS {
        for (tool, label) in [("run_sql", "run_sql, released (SQL new)"), ("delete_project", "delete_project, denied")] {
            let (body, cuts) = calls_answer(api, tool, 0);
            let sent = exchange(hosts.get(true), api, &body, &cuts).sent;
            let denials = String::from_utf8_lossy(&sent).matches("no-delete-tools").count();
            assert_eq!(denials > 0, tool == "delete_project", "the calls are decided as the policy says");
            let (with, without) =
                medians(|guarded| seconds(hosts.get(guarded), api, budget / 40, |n| calls_answer(api, tool, n), |t| t.all));
            let per_call = |s: f64| s * 1e6 / CALLS as f64;
            println!(
                "  {:<20} {:<30} {:>10.2} {:>10.2} {:>10.2}",
                api.name(),
                label,
                per_call(with),
                per_call(without),
                per_call(with - without)
            );
        }
    }
}

/// A 1 MiB answer: text deltas of a few characters, or `write_file` calls of 4 KiB arguments in
/// 16-character fragments.
fn long_answer(api: Api, calls: bool) -> Vec<u8> {
    let words = ["The", " report", " shows", " revenue", " grew", " 12%", " in", " Q3,", " led", " by", " EMEA", "."];
    let mut answer = Answer::new(api);
    let mut size = 0;
    for i in 0.. {
        if size > 1 << 20 {
            break;
        }
        if calls {
            let content: String = words.iter().cycle().skip(i).take(700).copied().collect();
            let arguments = json!({"path": format!("notes/{i}.txt"), "content": &content[..4096.min(content.len())]});
            answer.call("write_file", &arguments.to_string(), 16);
        } else {
            answer.text(words[i % words.len()]);
        }
        size = answer.body.len();
    }
    answer.finish().0
}

fn throughput(hosts: &mut Hosts, budget: Duration) {
    println!("llm: SSE throughput (1 MiB answers, 16 KiB chunks):");
    println!("  {:<20} {:<22} {:>10} {:>12} {:>12} {:>10}", "API", "answer", "bytes", "ms/answer", "empty ms", "MB/s");
    for api in APIS {
        for (calls, label) in [(false, "text deltas"), (true, "tool-call fragments")] {
            let body = long_answer(api, calls);
            let cuts = chunked(body.len());
            let make = |_| (body.clone(), cuts.clone());
            let (with, without) = medians(|guarded| seconds(hosts.get(guarded), api, budget / 12, make, |t| t.all));
            println!(
                "  {:<20} {:<22} {:>10} {:>12.3} {:>12.3} {:>10.1}",
                api.name(),
                label,
                body.len(),
                with * 1e3,
                without * 1e3,
                body.len() as f64 / 1e6 / (with - without)
            );
        }
    }
}
