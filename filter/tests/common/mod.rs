//! What the statement-family tests (statements, ddl, repair) read of an analysis.

#![allow(dead_code)] // each test crate uses its own share of these

use access_guardrails::sql::{analyze_each, Dialect, Intent, Operation};

/// The one statement of `sql`, analyzed; panics if it is unparsable or not alone.
pub fn one(sql: &str, dialect: Dialect) -> Intent {
    let mut all = analyze_each(sql, dialect);
    assert_eq!(all.len(), 1, "{sql}: {all:?}");
    all.remove(0).unwrap_or_else(|unparsed| panic!("{sql}: unparsable: {}", unparsed.error))
}

pub fn ops(intent: &Intent) -> Vec<&'static str> {
    intent.operations.iter().map(Operation::as_str).collect()
}

pub fn objects(intent: &Intent) -> Vec<String> {
    intent.accesses.iter().map(|a| format!("{}:{}", a.operation, a.object)).collect()
}
