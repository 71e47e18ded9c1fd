//! The audit trail: one record per decision on a matched route, chained so that nobody can alter,
//! drop or reorder records unnoticed, batched and shipped to a logging cluster.
//!
//! - [`record`]: the record, a flat JSON object (one column per key in ClickHouse).
//! - [`chain`]: the per-VM hash chain and its verification.
//! - [`encode`]: a batch as each sink reads it (ndjson, OTLP/HTTP JSON, Elasticsearch `_bulk`,
//!   Splunk HEC).
//! - [`ship`]: batching, bounded buffering with gap records, retries; pure, time passed in.

pub mod chain;
pub mod encode;
pub mod record;
pub mod ship;

pub use chain::{verify, Chain, ChainReport};
pub use record::{add_mask, decision_record, RecordFacts, Site};
pub use ship::{Outgoing, Shipper, ShipperStats};
