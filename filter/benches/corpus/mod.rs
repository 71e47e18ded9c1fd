//! The benchmark corpus, shared by `make bench-engine` (native) and `make bench-host` (the
//! `.wasm` in wasmtime), so both measure the same requests.

/// A warehouse route reading `{"query": ...}`, with the rules a real deployment has.
pub const POLICY: &str = r#"{
  "version": 1,
  "identity": {"principal": [{"header": "x-agent-id"}], "agent_when": [{"principal": "agent:*"}]},
  "routes": [{"name": "warehouse", "match": {"path_prefix": "/sql"}, "sql": {"dialect": "postgres", "from": {"json": "/query"}},
              "default": "deny", "rules": ["no-drops", "no-unbounded", "no-exports", "status-ok", "reads"]}],
  "rules": [
    {"name": "no-drops", "effect": "deny", "when": {"sql": {"operations": ["drop", "truncate"]}}},
    {"name": "no-unbounded", "effect": "deny", "when": {"sql": {"operations": ["update", "delete"], "unbounded": true}}},
    {"name": "no-exports", "effect": "deny", "when": {"sql": {"operations": ["export"]}}},
    {"name": "status-ok", "effect": "allow", "when": {"sql": {"operations": ["update"], "tables": ["orders"], "columns": {"only": ["status", "updated_at"]}}}},
    {"name": "reads", "effect": "allow", "when": {"sql": {"operations": ["select"]}}}
  ]
}"#;

/// Statement shapes from about 80 bytes to 4 KB, as agents and people send them.
pub fn corpus() -> Vec<(&'static str, String)> {
    let wide_select = format!(
        "SELECT {} FROM analytics.events e JOIN users u ON u.id = e.user_id WHERE e.created_at > now() - interval '1 day' AND u.region IN ({}) ORDER BY e.created_at DESC LIMIT 100",
        (0..60).map(|i| format!("e.col_{i}")).collect::<Vec<_>>().join(", "),
        (0..200).map(|i| format!("'r{i}'")).collect::<Vec<_>>().join(", ")
    );
    let bulk_insert = format!(
        "INSERT INTO orders (id, customer_id, status, total) VALUES {}",
        (0..120).map(|i| format!("({i}, {}, 'new', {}.50)", i * 7, i * 3)).collect::<Vec<_>>().join(", ")
    );
    vec![
        ("update 78B", "UPDATE orders SET status = 'shipped', updated_at = now() WHERE id = 4211".to_string()),
        ("select point", "SELECT id, email, created_at FROM users WHERE id = 42".to_string()),
        ("drop", "DROP TABLE users".to_string()),
        ("delete unbounded", "DELETE FROM orders WHERE 1=1".to_string()),
        ("cte join", "WITH recent AS (SELECT user_id, count(*) AS n FROM events WHERE ts > now() - interval '7 days' GROUP BY user_id) SELECT u.id, u.name, r.n FROM users u JOIN recent r ON r.user_id = u.id WHERE r.n > 10 ORDER BY r.n DESC LIMIT 50".to_string()),
        ("copy export", "COPY (SELECT * FROM customers) TO '/tmp/customers.csv' WITH (FORMAT csv)".to_string()),
        ("multi", "BEGIN; UPDATE orders SET status = 'paid' WHERE id = 7; COMMIT".to_string()),
        ("wide select 4KB", wide_select),
        ("bulk insert 4KB", bulk_insert),
    ]
}
