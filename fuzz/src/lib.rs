//! What the fuzz targets share: how their input bytes are read (a wire script, an HTTP request
//! in text, a model's answer), the checks each run makes, and the policies the HTTP target evaluates.
//!
//! The targets (`fuzz_targets/`) are libFuzzer programs built with coverage instrumentation on
//! stable Rust by `make fuzz-smoke` and `make fuzz`; `make-corpus` writes their seed corpora
//! (`fuzz/corpus/<target>/`) from the same encoders, but for `llm_rewriter`'s: `fuzz/llm_corpus.py`
//! writes those from the provider stub's answers (`envoy/llm_stub.py`).

pub mod llm;
pub mod request;
pub mod script;
