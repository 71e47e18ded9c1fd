//! Ships the audit trail from the root context: streams hand records to the VM's [`Shipper`],
//! and every tick sends what is due with an HTTP call. Calls are made only from the root
//! context, whose answer always finds it (a stream may be gone by then).

use std::collections::HashMap;
use std::rc::Rc;
use std::time::Duration;

use serde_json::{Map, Value};

use super::host::{self, BufferType, LogLevel, MapType};
use super::metrics::{Counter, Metrics};
use crate::audit::{Chain, Shipper, ShipperStats};
use crate::hex::hex;
use crate::policy::AuditDoc;

/// How long a batch may take before it counts as failed.
const CALL_TIMEOUT: Duration = Duration::from_secs(5);

#[link(wasm_import_module = "wasi_snapshot_preview1")]
extern "C" {
    fn random_get(buf: *mut u8, len: usize) -> u16;
}

fn random_bytes<const N: usize>() -> [u8; N] {
    let mut bytes = [0u8; N];
    // SAFETY: WASI writes exactly `len` bytes into the buffer it is given.
    unsafe { random_get(bytes.as_mut_ptr(), N) };
    bytes
}

pub struct AuditSink {
    config: AuditDoc,
    shipper: Shipper,
    /// Call token -> batch id.
    calls: HashMap<u32, u64>,
    /// Whether a refused batch was logged already (once is enough to find the cause).
    logged_refusal: bool,
    reported: ShipperStats,
    metrics: Rc<Metrics>,
}

impl AuditSink {
    pub fn new(config: &AuditDoc, metrics: Rc<Metrics>, now_nanos: u64) -> AuditSink {
        let chain = Chain::new(hex(&random_bytes::<16>()), config.chain_key.as_deref());
        let seed = u64::from_le_bytes(random_bytes::<8>());
        AuditSink {
            config: config.clone(),
            shipper: Shipper::new(config, chain, seed, now_nanos / 1_000_000),
            calls: HashMap::new(),
            logged_refusal: false,
            reported: ShipperStats::default(),
            metrics,
        }
    }

    /// Whether records can no longer be kept: deliveries fail and the buffer is full.
    pub fn unavailable(&self) -> bool {
        self.shipper.unavailable()
    }

    /// Takes a decision record into the chain and the buffer.
    pub fn push(&mut self, record: Map<String, Value>, now_nanos: u64) {
        self.shipper.push(record, now_nanos);
        self.report();
    }

    /// The tick period: often enough for `flush_ms`, and to send full batches promptly.
    pub fn tick_period(&self) -> Duration {
        Duration::from_millis(u64::from(self.config.batch.flush_ms.min(50)))
    }

    /// Sends every batch that is due.
    pub fn flush(&mut self, now_nanos: u64) {
        let now_ms = now_nanos / 1_000_000;
        // Envoy answers every call by its timeout; a batch twice as old lost its callback.
        let cutoff = now_ms.saturating_sub(2 * CALL_TIMEOUT.as_millis() as u64);
        for id in self.shipper.expire(cutoff, now_ms) {
            self.calls.retain(|_, batch| *batch != id);
        }
        for batch in self.shipper.poll(now_ms, now_nanos) {
            let authority = self.config.authority.as_deref().unwrap_or(&self.config.cluster);
            let mut headers = vec![
                (":method", "POST"),
                (":path", self.config.path.as_str()),
                (":authority", authority),
                ("content-type", batch.content_type),
            ];
            headers.extend(self.config.headers.iter().map(|(k, v)| (k.as_str(), v.as_str())));
            match host::http_call(&self.config.cluster, &headers, &batch.body, CALL_TIMEOUT) {
                Some(token) => {
                    self.calls.insert(token, batch.id);
                }
                None => self.shipper.failed(batch.id, now_ms),
            }
        }
        self.report();
    }

    /// An answer to one of our calls: any 2xx delivers the batch; anything else, or no answer
    /// at all (`num_headers == 0`, a reset), fails it.
    pub fn answered(&mut self, token: u32, num_headers: usize, now_nanos: u64) {
        let Some(batch) = self.calls.remove(&token) else { return };
        let status = if num_headers == 0 {
            None
        } else {
            host::headers(MapType::HttpCallResponseHeaders)
                .into_iter()
                .find(|(k, _)| k == ":status")
                .and_then(|(_, v)| std::str::from_utf8(&v).ok()?.parse::<u32>().ok())
        };
        match status {
            Some(200..=299) => self.shipper.delivered(batch),
            // Malformed for this sink: retrying cannot help.
            Some(code @ 400..=499) if code != 408 && code != 429 => {
                self.log_refusal(code);
                self.shipper.rejected(batch);
            }
            _ => self.shipper.failed(batch, now_nanos / 1_000_000),
        }
        self.report();
    }

    fn log_refusal(&mut self, code: u32) {
        if self.logged_refusal {
            return;
        }
        self.logged_refusal = true;
        let body = host::buffer(BufferType::HttpCallResponseBody, 0, 512);
        let message = format!(
            "access-guardrails: audit sink {} refused a batch with {code}, its records are dropped (and counted in a gap record): {}",
            self.config.cluster,
            String::from_utf8_lossy(&body).trim()
        );
        host::log(LogLevel::Error, &message);
    }

    /// Moves the counters by what changed since the last report.
    fn report(&mut self) {
        let now = self.shipper.stats;
        self.metrics.add(Counter::AuditSent, now.sent - self.reported.sent);
        self.metrics.add(Counter::AuditFailed, now.failed - self.reported.failed);
        self.metrics.add(Counter::AuditDropped, now.dropped - self.reported.dropped);
        self.reported = now;
    }
}
