//! The policy corpus: SQL across dialects, each case with its expected intent and decision under
//! the strict policy in `corpus/policy.json`. See the header of `corpus/cases.txt`.

use std::collections::BTreeSet;

use access_guardrails::engine::evaluate;
use access_guardrails::http::Request;
use access_guardrails::identity::{resolve, HttpAttributes};
use access_guardrails::policy::{Effect, Policy};

fn policy() -> Policy {
    let text = include_str!("corpus/policy.json");
    // `@all` in a route's rules stands for every rule, in order.
    let mut value: serde_json::Value = serde_json::from_str(text).unwrap();
    let names: Vec<serde_json::Value> = value["rules"].as_array().unwrap().iter().map(|r| r["name"].clone()).collect();
    for route in value["routes"].as_array_mut().unwrap() {
        route["rules"] = serde_json::Value::Array(names.clone());
    }
    Policy::from_value(&value).unwrap_or_else(|errors| panic!("corpus policy: {errors:?}"))
}

struct Case {
    line: usize,
    dialect: String,
    actor: String,
    decision: String,
    rule: String,
    operations: String,
    objects: String,
    unbounded: String,
    sql: String,
}

fn cases() -> Vec<Case> {
    include_str!("corpus/cases.txt")
        .lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty() && !l.trim_start().starts_with('#'))
        .map(|(i, line)| {
            let f: Vec<&str> = line.splitn(8, '|').map(str::trim).collect();
            assert_eq!(f.len(), 8, "line {}: expected 8 fields: {line}", i + 1);
            Case {
                line: i + 1,
                dialect: f[0].into(),
                actor: f[1].into(),
                decision: f[2].into(),
                rule: f[3].into(),
                operations: f[4].into(),
                objects: f[5].into(),
                unbounded: f[6].into(),
                sql: f[7].replace("\\n", "\n"),
            }
        })
        .collect()
}

fn set(field: &str) -> BTreeSet<String> {
    if field == "-" {
        return BTreeSet::new();
    }
    field.split(',').map(|s| s.trim().to_string()).collect()
}

fn check(policy: &Policy, case: &Case) -> Result<(), String> {
    let principal = match case.actor.as_str() {
        "agent" => "agent:bot",
        "human" => "alice",
        other => return Err(format!("unknown actor {other}")),
    };
    let request =
        Request::new("POST", &format!("/sql/{}", case.dialect), "db.internal", vec![("x-agent-id".into(), principal.into())]);
    let route = policy.route(&request).ok_or_else(|| format!("no route for dialect {}", case.dialect))?;
    let actor = resolve(&policy.identity, &HttpAttributes::headers_only(&request));
    let outcome = evaluate(policy, route, &actor, &request, Some(case.sql.as_bytes()), None);
    let decision = &outcome.decision;

    let mut problems = Vec::new();
    let effect = match decision.effect {
        Effect::Allow => "allow",
        Effect::Deny => "deny",
    };
    if effect != case.decision {
        problems.push(format!("decision {effect}, expected {}", case.decision));
    }
    let rule = decision.rule.clone().unwrap_or_else(|| "-".into());
    if rule != case.rule {
        problems.push(format!("rule {rule}, expected {}", case.rule));
    }
    let statements = outcome.action.statements();
    let unparsed = statements.iter().any(|s| s.unparsed().is_some());
    if case.operations == "unparsable" {
        if !unparsed {
            problems.push("expected a statement that does not parse".into());
        }
    } else {
        if let Some(u) = statements.iter().find_map(|s| s.unparsed()) {
            problems.push(format!("unexpected parse failure: {}", u.error));
        }
        let ops: BTreeSet<String> = statements
            .iter()
            .filter_map(|s| s.analysis.as_ref().ok())
            .flat_map(|i| i.operations.iter().map(|o| o.as_str().to_string()))
            .collect();
        if ops != set(&case.operations) {
            problems.push(format!("operations {ops:?}, expected {:?}", set(&case.operations)));
        }
        if case.objects != "*" {
            let objects: BTreeSet<String> = statements
                .iter()
                .filter_map(|s| s.analysis.as_ref().ok())
                .flat_map(|i| i.objects().into_iter().map(|o| o.to_string()))
                .collect();
            if objects != set(&case.objects) {
                problems.push(format!("objects {objects:?}, expected {:?}", set(&case.objects)));
            }
        }
        if case.unbounded != "*" {
            let unbounded = statements.iter().filter_map(|s| s.analysis.as_ref().ok()).any(|i| i.unbounded);
            if unbounded != (case.unbounded == "y") {
                problems.push(format!("unbounded {unbounded}, expected {}", case.unbounded));
            }
        }
    }
    if problems.is_empty() {
        Ok(())
    } else {
        Err(problems.join("; "))
    }
}

#[test]
fn corpus() {
    let policy = policy();
    let cases = cases();
    let mut failures = Vec::new();
    for case in &cases {
        if let Err(problem) = check(&policy, case) {
            failures.push(format!("cases.txt:{} [{}] {}\n    {problem}", case.line, case.dialect, case.sql));
        }
    }
    let dialects: BTreeSet<&str> = cases.iter().map(|c| c.dialect.as_str()).collect();
    println!("corpus: {} cases across {} dialects", cases.len(), dialects.len());
    assert!(failures.is_empty(), "{} of {} cases failed:\n{}", failures.len(), cases.len(), failures.join("\n"));
}

/// The corpus is the evidence for the analyzer's claims: it must stay broad.
#[test]
fn corpus_is_broad() {
    let cases = cases();
    let dialects: BTreeSet<&str> = cases.iter().map(|c| c.dialect.as_str()).collect();
    assert!(cases.len() >= 200, "only {} cases", cases.len());
    assert!(dialects.len() >= 10, "only {} dialects: {dialects:?}", dialects.len());
    let allows = cases.iter().filter(|c| c.decision == "allow").count();
    assert!(allows * 4 >= cases.len(), "too few safe statements: {allows} of {}", cases.len());
}
