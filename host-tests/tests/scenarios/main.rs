//! The scenario tests in one binary, since every test binary links wasmtime: the compiled
//! filter through the host as Envoy drives it, the host's own Envoy behaviours with small
//! hand-written filters, and the examples and README the user reads.

mod common;

mod actions;
mod audit;
mod filter;
mod host;
mod istio;
mod llm;
mod mask;
mod mask_stream;
mod readme;
mod routes;
mod wire;
