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

mod corpus;

use corpus::{corpus, POLICY};

fn main() {
    let policy = Policy::from_json(POLICY).expect("policy");
    let request = Request::new("POST", "/sql", "db", vec![("x-agent-id".into(), "alice".into())]);
    let route = policy.route(&request).expect("route");
    let actor = resolve(&policy.identity, &HttpAttributes::headers_only(&request));
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
            black_box(evaluate(&policy, route, &actor, &request, Some(body), None));
        }
        let start = Instant::now();
        let mut runs = 0usize;
        while start.elapsed() < budget {
            for _ in 0..20 {
                black_box(evaluate(&policy, route, &actor, &request, Some(black_box(body)), None));
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
