//! The MySQL / MariaDB wire session (`wire::mysql::Session`) on a fuzzed conversation: client
//! and server bytes interleaved, each event cut as the fuzzer chooses (`script` gives the
//! input format).
//!
//! Checks: no panic; neither side ever holds more than a handshake packet (64 KiB) or a judged
//! command with its header; one call per event, the fuzzer's pieces and one byte per call
//! forward the same bytes, close at the same event and ask the judge the same questions.

#![no_main]

use access_guardrails::wire::mysql::Session;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| guardrails_fuzz::script::check::<Session>(data));
