//! The per-VM hash chain: `chain_hash = H(chain_prev || canonical(record))`, with H SHA-256, or
//! HMAC-SHA256 under `audit.chain_key`. `chain_prev` is the previous record's hash (64 zeros for
//! the first), `chain_seq` counts from 1, `chain_id` is random per VM. Changing, dropping or
//! reordering a record breaks a link that [`verify`] finds.
//!
//! The canonical form is type-blind so that a record survives a store: keys sorted, `chain_hash`
//! left out, numbers and booleans written as strings (ClickHouse returns 64-bit integers quoted),
//! no whitespace.

use std::collections::BTreeMap;

use hmac::{Hmac, Mac};
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};

use crate::hex::hex;

pub const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";

#[derive(Clone)]
pub struct Chain {
    id: String,
    seq: u64,
    prev: String,
    key: Option<Vec<u8>>,
}

impl Chain {
    pub fn new(id: String, key: Option<&str>) -> Chain {
        Chain { id, seq: 0, prev: GENESIS.to_string(), key: key.map(|k| k.as_bytes().to_vec()) }
    }

    /// Fills the chain fields of `record` and advances; returns its seq and hash.
    pub fn link(&mut self, record: &mut Map<String, Value>) -> (u64, String) {
        self.seq += 1;
        record.insert("chain_id".into(), Value::String(self.id.clone()));
        record.insert("chain_seq".into(), Value::from(self.seq));
        record.insert("chain_prev".into(), Value::String(self.prev.clone()));
        let hash = digest(self.key.as_deref(), &self.prev, &canonical(record));
        record.insert("chain_hash".into(), Value::String(hash.clone()));
        self.prev = hash.clone();
        (self.seq, hash)
    }
}

fn digest(key: Option<&[u8]>, prev: &str, canonical: &str) -> String {
    match key {
        Some(key) => {
            let mut mac = Hmac::<Sha256>::new_from_slice(key).expect("HMAC takes any key length");
            mac.update(prev.as_bytes());
            mac.update(canonical.as_bytes());
            hex(&mac.finalize().into_bytes())
        }
        None => {
            let mut hasher = Sha256::new();
            hasher.update(prev.as_bytes());
            hasher.update(canonical.as_bytes());
            hex(&hasher.finalize())
        }
    }
}

/// The text that is hashed: see the module documentation.
pub fn canonical(record: &Map<String, Value>) -> String {
    fn normal(value: &Value) -> Value {
        match value {
            Value::Number(n) => Value::String(n.to_string()),
            Value::Bool(b) => Value::String(b.to_string()),
            Value::Array(items) => Value::Array(items.iter().map(normal).collect()),
            Value::Object(map) => {
                let sorted: BTreeMap<&String, Value> = map.iter().map(|(k, v)| (k, normal(v))).collect();
                Value::Object(sorted.into_iter().map(|(k, v)| (k.clone(), v)).collect())
            }
            other => other.clone(),
        }
    }
    let sorted: BTreeMap<&String, Value> =
        record.iter().filter(|(k, _)| k.as_str() != "chain_hash").map(|(k, v)| (k, normal(v))).collect();
    let mut out = String::from("{");
    for (i, (k, v)) in sorted.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        out.push_str(&Value::String((*k).clone()).to_string());
        out.push(':');
        out.push_str(&v.to_string());
    }
    out.push('}');
    out
}

/// A hole in a chain's sequence.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Gap {
    pub from_seq: u64,
    pub to_seq: u64,
    /// Gap records of the same chain cover every missing seq: the buffer dropped them.
    pub accounted: bool,
}

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ChainReport {
    pub id: String,
    pub records: usize,
    pub first_seq: u64,
    pub last_seq: u64,
    pub gaps: Vec<Gap>,
    /// `(seq, why)` for every record whose hash or link does not hold.
    pub tampered: Vec<(u64, String)>,
    /// The records were not in sequence order as read (harmless: a store's order).
    pub reordered: bool,
}

impl ChainReport {
    pub fn ok(&self) -> bool {
        self.tampered.is_empty() && self.gaps.iter().all(|g| g.accounted)
    }
}

type Record = Map<String, Value>;

fn seq_of(value: Option<&Value>) -> Option<u64> {
    match value? {
        Value::Number(n) => n.as_u64(),
        Value::String(s) => s.parse().ok(),
        _ => None,
    }
}

fn str_of<'a>(record: &'a Map<String, Value>, key: &str) -> &'a str {
    record.get(key).and_then(Value::as_str).unwrap_or("")
}

/// Checks every chain found in `records` (in the order read). Records without chain fields are
/// reported under the chain id `""` as tampered.
pub fn verify(records: &[Map<String, Value>], key: Option<&str>) -> Vec<ChainReport> {
    let mut chains: BTreeMap<String, Vec<(u64, &Record)>> = BTreeMap::new();
    let mut reports: BTreeMap<String, ChainReport> = BTreeMap::new();
    for record in records {
        let id = str_of(record, "chain_id").to_string();
        match seq_of(record.get("chain_seq")) {
            Some(seq) => chains.entry(id).or_default().push((seq, record)),
            None => {
                let report = reports.entry(id.clone()).or_insert_with(|| ChainReport { id, ..ChainReport::default() });
                report.records += 1;
                report.tampered.push((0, "a record without chain_seq".into()));
            }
        }
    }
    let key = key.map(str::as_bytes);
    for (id, mut list) in chains {
        let mut report = reports.remove(&id).unwrap_or_else(|| ChainReport { id: id.clone(), ..ChainReport::default() });
        report.records += list.len();
        report.reordered = list.windows(2).any(|w| w[0].0 > w[1].0);
        list.sort_by_key(|(seq, _)| *seq);
        report.first_seq = list.first().map_or(0, |l| l.0);
        report.last_seq = list.last().map_or(0, |l| l.0);
        // The ranges gap records say records were dropped from.
        let dropped: Vec<(u64, u64)> = list
            .iter()
            .filter(|(_, r)| str_of(r, "record_kind") == "gap")
            .filter_map(|(_, r)| Some((seq_of(r.get("gap_from_seq"))?, seq_of(r.get("gap_to_seq"))?)))
            .collect();
        let covered = |seq: u64| dropped.iter().any(|(f, t)| (*f..=*t).contains(&seq));
        let mut expected_prev: (u64, String) = (0, GENESIS.to_string());
        for (seq, record) in &list {
            let stated = str_of(record, "chain_hash");
            let prev = str_of(record, "chain_prev");
            if digest(key, prev, &canonical(record)) != stated {
                report.tampered.push((*seq, "its hash does not match its contents".into()));
            }
            if *seq == expected_prev.0 {
                report.tampered.push((*seq, "the sequence number appears twice".into()));
                continue;
            }
            if *seq == expected_prev.0 + 1 {
                if prev != expected_prev.1 {
                    report.tampered.push((*seq, "it does not link to the record before it".into()));
                }
            } else {
                let (from, to) = (expected_prev.0 + 1, seq - 1);
                let accounted = (from..=to).all(covered);
                report.gaps.push(Gap { from_seq: from, to_seq: to, accounted });
            }
            expected_prev = (*seq, stated.to_string());
        }
        reports.insert(id, report);
    }
    reports.into_values().collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn records(n: u64, key: Option<&str>) -> Vec<Map<String, Value>> {
        let mut chain = Chain::new("c1".into(), key);
        (0..n)
            .map(|i| {
                let mut r = json!({"decision_rule": format!("r{i}"), "action_operations": ["drop"], "latency_us": i, "decision_would": null})
                    .as_object()
                    .unwrap()
                    .clone();
                chain.link(&mut r);
                r
            })
            .collect()
    }

    #[test]
    fn an_intact_chain_verifies_in_any_order_and_as_a_store_returns_it() {
        let mut list = records(5, None);
        assert!(verify(&list, None)[0].ok());
        list.reverse();
        let report = &verify(&list, None)[0];
        assert!(report.ok() && report.reordered && report.records == 5);
        // ClickHouse quotes 64-bit integers.
        for r in &mut list {
            let seq = r["chain_seq"].to_string();
            r.insert("chain_seq".into(), Value::String(seq));
            let latency = r["latency_us"].to_string();
            r.insert("latency_us".into(), Value::String(latency));
        }
        assert!(verify(&list, None)[0].ok());
    }

    #[test]
    fn any_change_to_any_record_is_tampering() {
        let list = records(4, Some("k"));
        assert!(verify(&list, Some("k"))[0].ok());
        assert!(!verify(&list, Some("other key"))[0].ok(), "an HMAC chain needs its key");
        assert!(!verify(&list, None)[0].ok());
        for i in 0..4 {
            let mut changed = list.clone();
            changed[i].insert("decision_rule".into(), json!("innocent"));
            let report = &verify(&changed, Some("k"))[0];
            assert_eq!(report.tampered.len(), 1, "{report:?}");
            assert_eq!(report.tampered[0].0, i as u64 + 1);
        }
        // Re-hashing a changed record still breaks the next link.
        let mut forged = list.clone();
        let mut chain = Chain::new("c1".into(), Some("guess"));
        chain.seq = 1;
        chain.prev = list[0]["chain_hash"].as_str().unwrap().to_string();
        forged[1].insert("decision_rule".into(), json!("innocent"));
        chain.link(&mut forged[1]);
        assert!(!verify(&forged, Some("k"))[0].ok());
    }

    #[test]
    fn gaps_are_reported_and_accounted_only_by_a_matching_gap_record() {
        let mut chain = Chain::new("c".into(), None);
        let mut list = Vec::new();
        for i in 0..6 {
            let mut r = json!({"record_kind": "decision", "n": i}).as_object().unwrap().clone();
            chain.link(&mut r);
            list.push(r);
        }
        // Records 2 and 3 were dropped; record 7 says so.
        let mut alternative = chain.clone();
        let mut gap = crate::audit::record::gap_record(0, 2, 3, 2);
        chain.link(&mut gap);
        let kept: Vec<_> = list.iter().enumerate().filter(|(i, _)| *i != 1 && *i != 2).map(|(_, r)| r.clone()).collect();
        let unaccounted = &verify(&kept, None)[0];
        assert_eq!(unaccounted.gaps, vec![Gap { from_seq: 2, to_seq: 3, accounted: false }]);
        assert!(!unaccounted.ok());
        let mut with_gap = kept.clone();
        with_gap.push(gap.clone());
        assert!(verify(&with_gap, None)[0].ok());
        // A gap record that names other records does not account for this hole.
        let mut wrong = crate::audit::record::gap_record(0, 2, 2, 1);
        alternative.link(&mut wrong);
        let mut with_wrong = kept;
        with_wrong.push(wrong);
        assert!(!verify(&with_wrong, None)[0].ok());
    }
}
