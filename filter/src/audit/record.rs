//! The audit record: flat JSON, every key present in every record (null when it does not apply),
//! so one table schema fits all and ClickHouse's `JSONEachRow` maps each key to a column.
//!
//! | key | value |
//! |---|---|
//! | `time` | RFC 3339 UTC, microseconds |
//! | `record_kind` | `decision`, or `gap` for records the buffer had to drop |
//! | `request_id`, `trace_id` | `x-request-id`; the W3C `traceparent` (or B3) trace id |
//! | `chain_id`, `chain_seq`, `chain_prev`, `chain_hash` | see [`super::chain`] |
//! | `actor_principal`, `actor_kind`, `actor_source`, `actor_spiffe` | who acted |
//! | `route`, `http_method`, `http_authority`, `http_path` | where (HTTP) |
//! | `db_protocol`, `db_database`, `db_user` | where (a database connection on the wire) |
//! | `action_kind` | `sql`, `mcp`, `graphql` or `http` |
//! | `action_operations`, `action_objects` | every operation and object, sorted: SQL operations and tables, MCP methods and their tools, prompts or resources, GraphQL operation types and root fields |
//! | `action_statement` / `action_fingerprint` | per `audit.statement` |
//! | `action_statements` | how many statements |
//! | `decision_effect`, `decision_mode`, `decision_rule`, `decision_message`, `decision_would` | the decision; `decision_mode` is `enforce` or `monitor` |
//! | `mask_detectors`, `mask_counts` | values masked in the response, per detector or field (parallel lists; never the values) |
//! | `mask_note` | why a response on a masking route was not masked, or was withheld |
//! | `policy_hash`, `plugin`, `latency_us` | |
//! | `gap_from_seq`, `gap_to_seq`, `gap_count` | on gap records: how many records were dropped, all from that range |

use serde_json::{json, Map, Value};

use crate::decide::{Action, Outcome};
use crate::http::Request;
use crate::identity::Actor;
use crate::mask::response::MaskSummary;
use crate::policy::{Effect, Policy, Protocol, StatementDetail};

pub const PLUGIN: &str = concat!("access-guardrails/", env!("CARGO_PKG_VERSION"));

/// Where an action was taken: an HTTP request, or a database connection on the wire.
#[derive(Clone, Copy, Debug)]
pub enum Site<'a> {
    Http(&'a Request),
    Db { protocol: Protocol, database: &'a str, user: &'a str },
}

impl<'a> Site<'a> {
    /// The request's `x-request-id`.
    pub fn request_id(&self) -> Option<&'a str> {
        match self {
            Site::Http(request) => request.header("x-request-id"),
            Site::Db { .. } => None,
        }
    }
}

/// What a decision record is made of, gathered by the caller.
pub struct RecordFacts<'a> {
    pub policy: &'a Policy,
    pub route: &'a str,
    pub actor: &'a Actor,
    pub site: Site<'a>,
    pub outcome: &'a Outcome,
    pub now_nanos: u64,
    pub latency_us: u64,
}

/// The record of one decision, without its chain fields.
pub fn decision_record(facts: &RecordFacts<'_>) -> Map<String, Value> {
    let outcome = facts.outcome;
    let decision = &outcome.decision;
    let (operations, objects) = operations_and_objects(&outcome.action);
    let statements = outcome.action.statements();
    let detail = facts.policy.audit.as_ref().map_or(StatementDetail::Full, |a| a.statement);
    let joined = |part: fn(&crate::sql::Statement) -> &str| statements.iter().map(part).collect::<Vec<_>>().join(";\n");
    let (statement, fingerprint) = match detail {
        _ if statements.is_empty() => (None, None),
        StatementDetail::Full => (Some(joined(|s| &s.text)), None),
        StatementDetail::Fingerprint => (None, Some(joined(|s| &s.intent().fingerprint))),
        StatementDetail::None => (None, None),
    };
    let mut record = base(facts.now_nanos, "decision");
    let fields = json!({
        "actor_principal": facts.actor.principal,
        "actor_kind": facts.actor.kind_str(),
        "actor_source": facts.actor.source,
        "actor_spiffe": facts.actor.spiffe,
        "route": facts.route,
        "action_kind": outcome.action.kind(),
        "action_operations": operations,
        "action_objects": objects,
        "action_statement": statement,
        "action_fingerprint": fingerprint,
        "action_statements": statements.len(),
        "decision_effect": if decision.effect == Effect::Deny { "deny" } else { "allow" },
        "decision_mode": if decision.enforced { "enforce" } else { "monitor" },
        "decision_rule": decision.rule,
        "decision_message": decision.message,
        "decision_would": decision.would_deny.as_ref().map(|w| &w.rule),
        "policy_hash": facts.policy.hash,
        "latency_us": facts.latency_us,
    });
    if let Value::Object(fields) = fields {
        record.extend(fields);
    }
    record.extend(site_fields(facts.site));
    if let Action::Llm { provider, model, calls, .. } = &outcome.action {
        let call = decision.call().and_then(|i| calls.get(i)).or(calls.first());
        record.insert("llm_provider".into(), json!(provider.as_str()));
        record.insert("llm_model".into(), json!(model));
        record.insert("tool_call_id".into(), json!(call.and_then(|c| c.id.as_ref())));
        record.insert("tool_name".into(), json!(call.and_then(|c| c.target.as_ref())));
    }
    record
}

/// The `http_*` keys of a request, or the `db_*` keys of a connection.
fn site_fields(site: Site<'_>) -> Map<String, Value> {
    let fields = match site {
        Site::Http(r) => json!({
            "request_id": r.header("x-request-id"),
            "trace_id": trace_id(r),
            "http_method": r.method,
            "http_authority": r.authority,
            "http_path": r.path(),
        }),
        Site::Db { protocol, database, user } => json!({
            "db_protocol": protocol,
            "db_database": database,
            "db_user": user,
        }),
    };
    match fields {
        Value::Object(map) => map,
        _ => Map::new(),
    }
}

/// Every operation and object, sorted: SQL operations and tables, MCP methods and targets,
/// GraphQL operation types and root fields.
fn operations_and_objects(action: &Action) -> (Vec<&str>, Vec<String>) {
    let mut operations: Vec<&str> = Vec::new();
    let mut objects: Vec<String> = Vec::new();
    for statement in action.statements() {
        let intent = statement.intent();
        operations.extend(intent.operations.iter().map(|op| op.as_str()));
        objects.extend(intent.objects().iter().map(|o| o.to_string()));
    }
    for call in action.calls() {
        operations.extend(call.method.as_deref());
        objects.extend(call.target.clone());
    }
    for operation in action.operations() {
        operations.push(operation.kind.as_str());
        objects.extend(operation.fields.iter().cloned());
    }
    operations.sort_unstable();
    operations.dedup();
    objects.sort_unstable();
    objects.dedup();
    (operations, objects)
}

/// Adds what masking did to the response (counts per detector, never values) to a record.
pub fn add_mask(record: &mut Map<String, Value>, mask: &MaskSummary) {
    record.insert("mask_detectors".into(), json!(mask.counts.keys().collect::<Vec<_>>()));
    record.insert("mask_counts".into(), json!(mask.counts.values().collect::<Vec<_>>()));
    record.insert("mask_note".into(), json!(mask.note));
}

/// A record standing for `count` records the buffer dropped: every seq in `from_seq..=to_seq`
/// that never arrives is one of them.
pub fn gap_record(now_nanos: u64, from_seq: u64, to_seq: u64, count: u64) -> Map<String, Value> {
    let mut record = base(now_nanos, "gap");
    record.insert("gap_from_seq".into(), json!(from_seq));
    record.insert("gap_to_seq".into(), json!(to_seq));
    record.insert("gap_count".into(), json!(count));
    record.insert("decision_message".into(), json!(format!("{count} audit records dropped: the buffer was full")));
    record
}

/// Every key, null (lists empty), but `time`, `record_kind` and `plugin`.
fn base(now_nanos: u64, kind: &str) -> Map<String, Value> {
    const KEYS: [&str; 42] = [
        "request_id",
        "trace_id",
        "chain_id",
        "chain_seq",
        "chain_prev",
        "chain_hash",
        "actor_principal",
        "actor_kind",
        "actor_source",
        "actor_spiffe",
        "route",
        "http_method",
        "http_authority",
        "http_path",
        "action_kind",
        "action_operations",
        "action_objects",
        "action_statement",
        "action_fingerprint",
        "action_statements",
        "decision_effect",
        "decision_mode",
        "decision_rule",
        "decision_message",
        "decision_would",
        "policy_hash",
        "latency_us",
        "gap_from_seq",
        "gap_to_seq",
        "gap_count",
        "plugin",
        "record_kind",
        "mask_detectors",
        "mask_counts",
        "mask_note",
        "db_protocol",
        "db_database",
        "db_user",
        "llm_provider",
        "llm_model",
        "tool_call_id",
        "tool_name",
    ];
    let mut record: Map<String, Value> = KEYS.iter().map(|k| (k.to_string(), Value::Null)).collect();
    // Lists are empty rather than null: ClickHouse's Array columns take no null.
    record.insert("action_operations".into(), json!([]));
    record.insert("action_objects".into(), json!([]));
    record.insert("mask_detectors".into(), json!([]));
    record.insert("mask_counts".into(), json!([]));
    record.insert("time".into(), json!(rfc3339(now_nanos)));
    record.insert("record_kind".into(), json!(kind));
    record.insert("plugin".into(), json!(PLUGIN));
    record
}

/// The W3C `traceparent` trace id, else B3's `x-b3-traceid`.
fn trace_id(request: &Request) -> Option<String> {
    if let Some(parent) = request.header("traceparent") {
        let parts: Vec<&str> = parent.trim().split('-').collect();
        if parts.len() >= 4 && parts[1].len() == 32 && parts[1].bytes().all(|b| b.is_ascii_hexdigit()) {
            return Some(parts[1].to_ascii_lowercase());
        }
    }
    request.header("x-b3-traceid").map(|t| t.trim().to_ascii_lowercase()).filter(|t| !t.is_empty() && t.len() <= 32)
}

/// `2026-01-01T00:00:00.000000Z` from nanoseconds since the Unix epoch.
pub fn rfc3339(nanos: u64) -> String {
    let secs = nanos / 1_000_000_000;
    let micros = (nanos % 1_000_000_000) / 1_000;
    let (days, rem) = (secs / 86_400, secs % 86_400);
    // Civil date from days since 1970-01-01 (H. Hinnant's algorithm).
    let z = days as i64 + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!("{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{micros:06}Z", rem / 3600, rem % 3600 / 60, rem % 60)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc3339_matches_known_instants() {
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00.000000Z");
        assert_eq!(rfc3339(1_767_225_600_000_000_000), "2026-01-01T00:00:00.000000Z");
        assert_eq!(rfc3339(951_782_400_123_456_789), "2000-02-29T00:00:00.123456Z");
        assert_eq!(rfc3339(4_107_542_399_000_000_000), "2100-02-28T23:59:59.000000Z");
    }

    #[test]
    fn trace_ids_come_from_traceparent_or_b3() {
        let with = |h: &str, v: &str| Request::new("GET", "/", "h", vec![(h.into(), v.into())]);
        let parent = "00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01";
        assert_eq!(trace_id(&with("traceparent", parent)).as_deref(), Some("4bf92f3577b34da6a3ce929d0e0e4736"));
        assert_eq!(trace_id(&with("traceparent", "garbage")), None);
        assert_eq!(trace_id(&with("x-b3-traceid", "80f198ee56343ba8")).as_deref(), Some("80f198ee56343ba8"));
    }
}
