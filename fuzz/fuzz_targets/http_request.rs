//! A full HTTP decision (`engine::at_headers`, `with_body`, `conclude`) of a fuzzed request
//! under the example policies and the fuzz policy (`src/sources.yaml`): content decoding, SQL
//! extraction by every source and preset, the MCP and GraphQL readers, the SQL analyzer, the
//! reply and the audit record (`request` gives the input format).
//!
//! Checks: no panic; deciding with an analysis cache, twice, gives the decision made without.

#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| guardrails_fuzz::request::check(data));
