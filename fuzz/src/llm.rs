//! A model's answer through `llm::Rewriter`, fed whole and cut into chunks, as fuzz input.
//!
//! Input: a byte choosing the API (`% 3`), whether the answer is streamed (bit 2) and the
//! judge (bits 3-4: release every call, deny every call, deny every other one, deny the names
//! starting with `d`); a byte seeding the chunk sizes; a byte choosing the limit (0: one no
//! input reaches, else 32 times it); then the body.
//!
//! Checks, besides no panic: the output is bounded by the input and the calls decided; given up
//! after a failure (`release_all`, as the proxy does), what is held comes out bounded too. Under
//! a limit no input reaches, the chunks change nothing: the same output and the same calls, or a
//! failure both ways. When every call is released, what the agent gets is what the provider
//! sent: a whole answer byte for byte; a Responses or Messages stream the same events (a call's
//! events go out before the others held with it, so only their order may change); a Chat stream
//! whose events all end the same text per choice and one fragment per call.

use std::collections::BTreeMap;

use access_guardrails::http::sse::Framer;
use access_guardrails::llm::{Api, Failure, Judge, Rewriter, ToolCall, Verdict};
use serde_json::Value;

const APIS: [Api; 3] = [Api::ChatCompletions, Api::Responses, Api::Messages];

/// More than any input holds.
const NO_LIMIT: usize = 1 << 20;

/// The most a denial or a renumbered call adds, beyond the bytes it came in.
const PER_CALL: usize = 1024;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Mode {
    ReleaseAll,
    DenyAll,
    DenyEveryOther,
    DenyNamedD,
}

struct Fuzzed {
    mode: Mode,
    seen: Vec<ToolCall>,
    denied: usize,
}

impl Judge for Fuzzed {
    fn judge(&mut self, call: &ToolCall) -> Verdict {
        let deny = match self.mode {
            Mode::ReleaseAll => false,
            Mode::DenyAll => true,
            Mode::DenyEveryOther => self.seen.len() % 2 == 1,
            Mode::DenyNamedD => call.name.starts_with('d'),
        };
        self.seen.push(call.clone());
        if deny {
            self.denied += 1;
            Verdict::Replace(format!("[denied] the tool call {:?} ({}) was denied", call.name, call.id))
        } else {
            Verdict::Release
        }
    }
}

pub struct Input<'a> {
    pub api: Api,
    pub streamed: bool,
    mode: Mode,
    seed: u8,
    pub limit: usize,
    pub body: &'a [u8],
}

impl<'a> Input<'a> {
    pub fn parse(data: &'a [u8]) -> Option<Input<'a>> {
        let [flags, seed, limit, body @ ..] = data else { return None };
        let mode = [Mode::ReleaseAll, Mode::DenyAll, Mode::DenyEveryOther, Mode::DenyNamedD][usize::from(flags >> 3 & 3)];
        let limit = if *limit == 0 { NO_LIMIT } else { usize::from(*limit) * 32 };
        Some(Input { api: APIS[usize::from(flags % 4) % 3], streamed: flags & 4 != 0, mode, seed: *seed, limit, body })
    }

    /// The body cut into chunks of 1 to `seed % 97 + 1` bytes, empty chunks among them.
    fn chunks(&self) -> Vec<&'a [u8]> {
        let (most, mut state, mut rest) = (usize::from(self.seed % 97) + 1, u32::from(self.seed) | 1, self.body);
        let mut chunks = Vec::new();
        while !rest.is_empty() {
            state = state.wrapping_mul(1_103_515_245).wrapping_add(12_345);
            let size = usize::try_from(state >> 16).unwrap_or(0) % (most + 1);
            let (chunk, after) = rest.split_at(size.min(rest.len()));
            chunks.push(chunk);
            rest = after;
        }
        chunks
    }
}

/// One answer through a rewriter.
struct Run {
    out: Vec<u8>,
    failure: Option<Failure>,
    judge: Fuzzed,
}

fn run(input: &Input, chunks: &[&[u8]]) -> Run {
    let mut judge = Fuzzed { mode: input.mode, seen: Vec::new(), denied: 0 };
    let mut rewriter = Rewriter::new(input.api, input.streamed, input.limit);
    let mut out = Vec::new();
    let mut failure = None;
    for chunk in chunks {
        match rewriter.feed(chunk, &mut judge) {
            Ok(sent) => out.extend(sent),
            Err(e) => {
                failure = Some(e);
                break;
            }
        }
    }
    if failure.is_none() {
        match rewriter.finish(&mut judge) {
            Ok(sent) => out.extend(sent),
            Err(e) => failure = Some(e),
        }
    }
    let run = Run { out, failure, judge };
    if run.failure.is_some() {
        let given_up = rewriter.release_all();
        assert!(given_up.len() <= bound(input, &run.judge), "release_all gave {} bytes for {}", given_up.len(), input.body.len());
    }
    run
}

fn bound(input: &Input, judge: &Fuzzed) -> usize {
    2 * input.body.len() + PER_CALL * judge.seen.len() + PER_CALL
}

pub fn check(data: &[u8]) {
    let Some(input) = Input::parse(data) else { return };
    let whole = run(&input, &[input.body]);
    let cut = run(&input, &input.chunks());
    for r in [&whole, &cut] {
        assert!(r.out.len() <= bound(&input, &r.judge), "{} bytes out of {} in", r.out.len(), input.body.len());
    }
    if input.limit != NO_LIMIT {
        return;
    }
    match (&whole.failure, &cut.failure) {
        (None, None) => {
            assert_eq!(whole.out, cut.out, "the chunks changed the output");
            assert_eq!(whole.judge.seen, cut.judge.seen, "the chunks changed the calls");
        }
        (Some(Failure::Malformed(_)), Some(Failure::Malformed(_))) => {}
        (w, c) => panic!("whole: {w:?}, in chunks: {c:?}"),
    }
    if input.mode == Mode::ReleaseAll && whole.failure.is_none() {
        released_unchanged(&input, &whole.out, whole.judge.seen.len());
    }
}

/// Every call released: the answer the agent gets is the provider's.
fn released_unchanged(input: &Input, out: &[u8], calls: usize) {
    match (input.streamed, input.api) {
        (false, _) => assert!(out == input.body, "a whole answer changed"),
        // An event never ended goes out as it came, and what is written after it joins it (a
        // client drops it; with it, what joins it): read only what ends.
        (true, Api::ChatCompletions) if reorderable_events(input.body).is_some() => {
            assert_eq!(chat_text(out), chat_text(input.body), "the text changed");
            assert_eq!(chat_calls(out), calls, "a released call is not one fragment of its own");
        }
        (true, Api::ChatCompletions) => {}
        (true, _) => {
            let (mut sent, mut came) = (out.to_vec(), input.body.to_vec());
            sent.sort_unstable();
            came.sort_unstable();
            assert!(sent == came, "bytes were added or lost");
            if let Some(mut events) = reorderable_events(input.body) {
                let mut framer = Framer::new(usize::MAX);
                let mut sent: Vec<Vec<u8>> = framer.push(out).expect("no limit").into_iter().map(|e| e.raw).collect();
                assert!(framer.finish().is_none(), "a complete event was cut");
                sent.sort_unstable();
                events.sort_unstable();
                assert!(sent == events, "the events changed");
            }
        }
    }
}

/// The events of a stream whose events read the same in any order (or after more written): every
/// one ended, and none ending in a CR that a LF starting the next could join.
fn reorderable_events(body: &[u8]) -> Option<Vec<Vec<u8>>> {
    let mut framer = Framer::new(usize::MAX);
    let events: Vec<Vec<u8>> = framer.push(body).ok()?.into_iter().map(|e| e.raw).collect();
    let ended = framer.finish().is_none();
    (ended && events.iter().all(|raw| raw.last() != Some(&b'\r'))).then_some(events)
}

fn chat_events(body: &[u8]) -> Vec<Value> {
    let mut framer = Framer::new(usize::MAX);
    let mut events = framer.push(body).expect("no limit");
    events.extend(framer.finish());
    events.iter().filter_map(|e| serde_json::from_str(&e.data).ok()).collect()
}

/// The text of each choice, as the SDK joins its `delta.content`.
fn chat_text(body: &[u8]) -> BTreeMap<u64, String> {
    let mut text: BTreeMap<u64, String> = BTreeMap::new();
    for chunk in chat_events(body) {
        for choice in chunk["choices"].as_array().into_iter().flatten() {
            if let Some(content) = choice["delta"]["content"].as_str() {
                text.entry(choice["index"].as_u64().unwrap_or(0)).or_default().push_str(content);
            }
        }
    }
    text.retain(|_, t| !t.is_empty());
    text
}

/// The tool call fragments of a rewritten Chat stream: one a call.
fn chat_calls(out: &[u8]) -> usize {
    let fragments = chat_events(out).into_iter().flat_map(|chunk| {
        let choices = chunk["choices"].as_array().cloned().unwrap_or_default();
        choices.into_iter().flat_map(|c| c["delta"]["tool_calls"].as_array().cloned().unwrap_or_default())
    });
    fragments.count()
}
