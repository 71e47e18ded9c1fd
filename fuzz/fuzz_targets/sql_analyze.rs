//! The SQL analyzer (`sql::analyze_each`) on fuzzed text in every dialect: tokenizing,
//! statement splitting, the complexity guards, parsing, intents, fingerprints and the lexical
//! suspicion of what does not parse. Bytes that are not UTF-8 are read lossily, so every input
//! is text (and multi-byte text is common).
//!
//! Checks: no panic, in no dialect.

#![no_main]

use std::sync::OnceLock;

use access_guardrails::sql::{analyze_each, Dialect};
use libfuzzer_sys::fuzz_target;

/// Every dialect once (`mariadb` and `presto` are aliases).
fn dialects() -> &'static [Dialect] {
    static ALL: OnceLock<Vec<Dialect>> = OnceLock::new();
    ALL.get_or_init(|| {
        let mut all: Vec<Dialect> = Dialect::NAMES.iter().filter_map(|name| Dialect::parse(name)).collect();
        all.dedup();
        all
    })
}

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    for &dialect in dialects() {
        std::hint::black_box(analyze_each(&text, dialect));
    }
});
