//! `make bench-engine`: analyze + decide per statement, natively, over a mixed corpus.
//!
//! Prints statements/s and µs/statement for the whole engine path (extraction from a JSON body,
//! tokenizing, parsing, intent, decision), and for each statement shape on its own.

use std::hint::black_box;
use std::time::{Duration, Instant};

use access_guardrails::engine::evaluate;
use access_guardrails::http::Request;
use access_guardrails::identity::{resolve, HttpAttributes};
use access_guardrails::policy::Policy;

const POLICY: &str = r#"{
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
fn corpus() -> Vec<(&'static str, String)> {
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

fn main() {
    let policy = Policy::from_json(POLICY).expect("policy");
    let request = Request::new("POST", "/sql", "db", vec![("x-agent-id".into(), "alice".into())]);
    let route = policy.route(&request).expect("route");
    let actor = resolve(&policy.identity, &HttpAttributes { request: &request, jwt_payload: None, peer_spiffe: None });
    let bodies: Vec<(&str, Vec<u8>, usize)> = corpus()
        .into_iter()
        .map(|(name, sql)| {
            let statements = sql.split(';').count();
            (name, serde_json::json!({ "query": sql }).to_string().into_bytes(), statements)
        })
        .collect();

    let budget = Duration::from_millis(std::env::var("BENCH_MS").ok().and_then(|v| v.parse().ok()).unwrap_or(400));
    println!("{:<18} {:>7} {:>12} {:>14}", "shape", "bytes", "µs/request", "µs/statement");
    let mut per_statement_costs = Vec::new();
    for (name, body, statements) in &bodies {
        // Warm up, then run for the budget.
        for _ in 0..50 {
            black_box(evaluate(&policy, route, &actor, &request, Some(body)));
        }
        let start = Instant::now();
        let mut runs = 0usize;
        while start.elapsed() < budget {
            for _ in 0..20 {
                black_box(evaluate(&policy, route, &actor, &request, Some(black_box(body))));
            }
            runs += 20;
        }
        let elapsed = start.elapsed();
        let per_request = elapsed.as_secs_f64() * 1e6 / runs as f64;
        println!("{:<18} {:>7} {:>12.2} {:>14.2}", name, body.len(), per_request, per_request / *statements as f64);
        per_statement_costs.push(per_request / *statements as f64);
    }
    // Each shape weighs the same, however fast it is.
    let mean = per_statement_costs.iter().sum::<f64>() / per_statement_costs.len() as f64;
    println!("mixed corpus (mean over shapes): {:.0} statements/s, {:.2} µs/statement", 1e6 / mean, mean);
}
