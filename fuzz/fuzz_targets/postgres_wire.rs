//! The PostgreSQL wire session (`wire::postgres::Session`) on a fuzzed conversation: client
//! and server bytes interleaved, each event cut as the fuzzer chooses (`script` gives the
//! input format).
//!
//! Checks: no panic; the client side never holds more than a startup packet (10 000 bytes) or
//! a judged message with its header, the server side no more than a header; one call per
//! event, the fuzzer's pieces and one byte per call forward the same bytes, close at the same
//! event and ask the judge the same questions; read as the server reads it, the forwarded
//! client stream holds no SQL the judge denied.

#![no_main]

use access_guardrails::wire::postgres::Session;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| guardrails_fuzz::script::check::<Session>(data));
