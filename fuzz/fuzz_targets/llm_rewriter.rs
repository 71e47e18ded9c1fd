//! A model's answer through `llm::Rewriter` (`llm` gives the input format): each provider API,
//! streamed and whole, fed whole and cut at fuzzed points, a judge denying some calls.
//!
//! Checks: no panic; the output bounded; the cuts change nothing; with every call released the
//! agent gets what the provider sent.

#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| guardrails_fuzz::llm::check(data));
