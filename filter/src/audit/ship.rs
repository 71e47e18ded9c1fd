//! Batching and delivery, pure: records in, HTTP payloads out, the caller's clock passed in.
//!
//! Records are chained as they are accepted, then queue. A batch goes when the queue holds
//! `batch.max_records` or `batch.max_bytes`, or `batch.flush_ms` after the last one went, with
//! at most [`MAX_IN_FLIGHT`] batches in flight. A failed batch (an error, a non-2xx answer, a
//! timeout) goes back to the front of the queue and waits out an exponential backoff with
//! jitter. A batch the sink refuses as malformed (a 4xx other than 408 and 429) would fail
//! forever and hold every later record back: it is dropped instead, and counted in a gap record. The queue holds at most `buffer.max_records`: past that the oldest records are
//! dropped, counted, and stood for by a gap record in the chain, so the loss is visible. A gap
//! record that is itself dropped passes its range and count on to the next one: the buffer stays
//! bounded and no loss goes unrecorded.

use std::collections::VecDeque;

use serde_json::{Map, Value};

use super::chain::Chain;
use super::encode::{self, Entry};
use super::record::gap_record;
use crate::policy::schema::AuditFormat;
use crate::policy::AuditDoc;

pub const MAX_IN_FLIGHT: usize = 4;
pub const BACKOFF_BASE_MS: u64 = 200;
pub const BACKOFF_MAX_MS: u64 = 30_000;

/// A batch to send: `dispatch_http_call` it, then report [`Shipper::delivered`] or
/// [`Shipper::failed`] with its id.
pub struct Outgoing {
    pub id: u64,
    pub records: usize,
    pub body: Vec<u8>,
    pub content_type: &'static str,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ShipperStats {
    /// Records delivered.
    pub sent: u64,
    /// Batch attempts that failed.
    pub failed: u64,
    /// Records dropped from a full buffer.
    pub dropped: u64,
}

/// The records dropped since the last gap record: every missing seq in `from_seq..=to_seq`.
struct Dropped {
    from_seq: u64,
    to_seq: u64,
    count: u64,
}

pub struct Shipper {
    format: AuditFormat,
    max_records: usize,
    max_bytes: usize,
    flush_ms: u64,
    capacity: usize,
    chain: Chain,
    queue: VecDeque<Entry>,
    queued_bytes: usize,
    /// Batch id, records, when it was sent (ms).
    in_flight: Vec<(u64, Vec<Entry>, u64)>,
    dropped: Option<Dropped>,
    last_flush_ms: u64,
    not_before_ms: u64,
    failures_in_a_row: u32,
    next_id: u64,
    rng: u64,
    pub stats: ShipperStats,
}

impl Shipper {
    /// `seed` feeds the backoff jitter; `now_ms` starts the first flush interval.
    pub fn new(config: &AuditDoc, chain: Chain, seed: u64, now_ms: u64) -> Shipper {
        Shipper {
            format: config.format,
            max_records: config.batch.max_records as usize,
            max_bytes: config.batch.max_bytes as usize,
            flush_ms: u64::from(config.batch.flush_ms),
            capacity: config.buffer.max_records as usize,
            chain,
            queue: VecDeque::new(),
            queued_bytes: 0,
            in_flight: Vec::new(),
            dropped: None,
            last_flush_ms: now_ms,
            not_before_ms: 0,
            failures_in_a_row: 0,
            next_id: 0,
            rng: seed | 1,
            stats: ShipperStats::default(),
        }
    }

    /// Deliveries are failing and the buffer is full: under `on_unavailable: deny` no action
    /// may go on, since its record could not be kept.
    pub fn unavailable(&self) -> bool {
        self.failures_in_a_row > 0 && self.queue.len() >= self.capacity
    }

    /// Chains and queues a record; a full buffer drops its oldest record.
    pub fn push(&mut self, mut record: Map<String, Value>, now_nanos: u64) {
        let deny = record.get("decision_effect").and_then(Value::as_str) == Some("deny");
        let (seq, _) = self.chain.link(&mut record);
        let json = Value::Object(record).to_string();
        self.queued_bytes += json.len();
        self.queue.push_back(Entry { seq, time_nanos: now_nanos, deny, gap: false, json });
        while self.queue.len() > self.capacity {
            self.drop_oldest();
        }
    }

    fn drop_oldest(&mut self) {
        let Some(entry) = self.queue.pop_front() else { return };
        self.queued_bytes -= entry.json.len();
        let (from, count) = if entry.gap {
            // Its own range and count live on in the next gap record.
            let record: Value = serde_json::from_str(&entry.json).unwrap_or_default();
            let from = record.get("gap_from_seq").and_then(Value::as_u64).unwrap_or(entry.seq);
            (from, record.get("gap_count").and_then(Value::as_u64).unwrap_or(0))
        } else {
            self.stats.dropped += 1;
            (entry.seq, 1)
        };
        let run = self.dropped.get_or_insert(Dropped { from_seq: from, to_seq: entry.seq, count: 0 });
        run.from_seq = run.from_seq.min(from);
        run.to_seq = run.to_seq.max(entry.seq);
        run.count += count;
    }

    /// Queues the gap record of the pending dropped run, if any.
    fn emit_gap(&mut self, now_nanos: u64) {
        let Some(d) = self.dropped.take() else { return };
        let mut record = gap_record(now_nanos, d.from_seq, d.to_seq, d.count);
        let (seq, _) = self.chain.link(&mut record);
        let json = Value::Object(record).to_string();
        self.queued_bytes += json.len();
        self.queue.push_back(Entry { seq, time_nanos: now_nanos, deny: false, gap: true, json });
    }

    /// Batches due at `now`: full ones at once, a partial one every `flush_ms`, none while a
    /// backoff runs or [`MAX_IN_FLIGHT`] batches are out.
    pub fn poll(&mut self, now_ms: u64, now_nanos: u64) -> Vec<Outgoing> {
        let mut out = Vec::new();
        if now_ms < self.not_before_ms {
            return out;
        }
        self.emit_gap(now_nanos);
        while self.in_flight.len() < MAX_IN_FLIGHT && !self.queue.is_empty() {
            let full = self.queue.len() >= self.max_records || self.queued_bytes >= self.max_bytes;
            let due = now_ms.saturating_sub(self.last_flush_ms) >= self.flush_ms;
            if !full && !due {
                break;
            }
            let mut batch = Vec::new();
            let mut bytes = 0;
            while let Some(entry) = self.queue.front() {
                if batch.len() == self.max_records || (!batch.is_empty() && bytes + entry.json.len() > self.max_bytes) {
                    break;
                }
                bytes += entry.json.len();
                let entry = self.queue.pop_front().expect("front exists");
                self.queued_bytes -= entry.json.len();
                batch.push(entry);
            }
            let payload = encode::batch(self.format, &batch);
            self.next_id += 1;
            out.push(Outgoing { id: self.next_id, records: batch.len(), body: payload.body, content_type: payload.content_type });
            self.in_flight.push((self.next_id, batch, now_ms));
            self.last_flush_ms = now_ms;
        }
        out
    }

    /// The sink accepted the batch (a 2xx answer).
    pub fn delivered(&mut self, id: u64) {
        if let Some(i) = self.in_flight.iter().position(|(b, _, _)| *b == id) {
            let (_, batch, _) = self.in_flight.remove(i);
            self.stats.sent += batch.len() as u64;
            self.failures_in_a_row = 0;
        }
    }

    /// The batch did not arrive: its records go back to the front of the queue (they are the
    /// oldest), and nothing is sent until the backoff ends.
    pub fn failed(&mut self, id: u64, now_ms: u64) {
        let Some(i) = self.in_flight.iter().position(|(b, _, _)| *b == id) else { return };
        let (_, batch, _) = self.in_flight.remove(i);
        self.stats.failed += 1;
        self.failures_in_a_row = self.failures_in_a_row.saturating_add(1);
        for entry in batch.into_iter().rev() {
            self.queued_bytes += entry.json.len();
            self.queue.push_front(entry);
        }
        self.queue.make_contiguous().sort_by_key(|e| e.seq);
        while self.queue.len() > self.capacity {
            self.drop_oldest();
        }
        self.not_before_ms = now_ms + self.backoff_ms();
    }

    /// The sink refused the batch for good: its records are dropped and reported as a gap.
    pub fn rejected(&mut self, id: u64) {
        let Some(i) = self.in_flight.iter().position(|(b, _, _)| *b == id) else { return };
        let (_, batch, _) = self.in_flight.remove(i);
        self.stats.failed += 1;
        for entry in batch {
            self.queued_bytes += entry.json.len();
            self.queue.push_front(entry);
            self.drop_oldest();
        }
    }

    /// Batches sent before `cutoff_ms` whose answer never came count as failed (a lost callback
    /// must not hold records forever). Returns their ids.
    pub fn expire(&mut self, cutoff_ms: u64, now_ms: u64) -> Vec<u64> {
        let stale: Vec<u64> = self.in_flight.iter().filter(|(_, _, at)| *at < cutoff_ms).map(|(id, _, _)| *id).collect();
        for id in &stale {
            self.failed(*id, now_ms);
        }
        stale
    }

    /// `base * 2^(failures - 1)`, capped, then scaled by a random factor in [0.5, 1.5).
    fn backoff_ms(&mut self) -> u64 {
        let exponent = self.failures_in_a_row.saturating_sub(1).min(20);
        let backoff = (BACKOFF_BASE_MS << exponent).min(BACKOFF_MAX_MS);
        self.rng ^= self.rng << 13;
        self.rng ^= self.rng >> 7;
        self.rng ^= self.rng << 17;
        backoff / 2 + self.rng % backoff.max(1)
    }
}
