-- The audit store: one row per record, one column per record key (see README, "Audit trail").
-- Works on ClickHouse 18.16 and later. The filter inserts with
--   POST /?query=INSERT%20INTO%20guardrails.audit%20FORMAT%20JSONEachRow
-- and `guardrails verify-audit` reads back
--   SELECT * FROM guardrails.audit FORMAT JSONEachRow
CREATE DATABASE IF NOT EXISTS guardrails;

CREATE TABLE IF NOT EXISTS guardrails.audit
(
    time String,
    record_kind String,
    request_id Nullable(String),
    trace_id Nullable(String),
    chain_id String,
    chain_seq UInt64,
    chain_prev String,
    chain_hash String,
    actor_principal Nullable(String),
    actor_kind Nullable(String),
    actor_source Nullable(String),
    actor_spiffe Nullable(String),
    route Nullable(String),
    http_method Nullable(String),
    http_authority Nullable(String),
    http_path Nullable(String),
    action_kind Nullable(String),
    action_operations Array(String),
    action_objects Array(String),
    action_statement Nullable(String),
    action_fingerprint Nullable(String),
    action_statements Nullable(UInt32),
    decision_effect Nullable(String),
    decision_mode Nullable(String),
    decision_rule Nullable(String),
    decision_message Nullable(String),
    decision_would Nullable(String),
    policy_hash Nullable(String),
    plugin String,
    latency_us Nullable(UInt64),
    gap_from_seq Nullable(UInt64),
    gap_to_seq Nullable(UInt64),
    gap_count Nullable(UInt64),
    mask_detectors Array(String),
    mask_counts Array(UInt32),
    mask_note Nullable(String),
    db_protocol Nullable(String),
    db_database Nullable(String),
    db_user Nullable(String),
    llm_provider Nullable(String),
    llm_model Nullable(String),
    tool_call_id Nullable(String),
    tool_name Nullable(String)
)
ENGINE = MergeTree
ORDER BY (chain_id, chain_seq);
