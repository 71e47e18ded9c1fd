//! Hostile input: nothing a client sends may crash the analyzer or exhaust its stack. Each case
//! runs on a thread with a 1 MiB stack, the stack the filter has inside the wasm VM.

use access_guardrails::sql::{analyze, analyze_each, Dialect, Operation, SqlErrorKind};

const STACK: usize = 1024 * 1024;

fn on_small_stack<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> T {
    std::thread::Builder::new().stack_size(STACK).spawn(f).unwrap().join().expect("analysis crashed")
}

#[test]
fn long_operator_chains_within_the_bound_are_analyzed() {
    // 900 `OR 1 = 1` terms: about 1,800 operators, under the chain bound.
    let sql = format!("DELETE FROM t WHERE id = 1{}", " OR id = 2".repeat(900));
    let intents = on_small_stack(move || analyze(&sql, Dialect::Postgres)).unwrap();
    assert!(intents[0].operations.contains(Operation::Delete));
}

#[test]
fn the_longest_chain_the_guard_admits_fits_the_stack() {
    let sql = format!("SELECT 1{}", " + 1".repeat(access_guardrails::sql::MAX_OPERATOR_CHAIN - 10));
    let intents = on_small_stack(move || analyze(&sql, Dialect::Postgres)).unwrap();
    assert!(intents[0].operations.contains(Operation::Select));
}

#[test]
fn tautologies_deep_in_a_long_chain_are_found() {
    let sql = format!("UPDATE t SET a = 1 WHERE {} OR 1 = 1", vec!["id = 3"; 600].join(" OR "));
    let intents = on_small_stack(move || analyze(&sql, Dialect::Postgres)).unwrap();
    assert!(intents[0].unbounded);
}

#[test]
fn chains_beyond_the_bound_are_refused_not_crashed() {
    for sql in [
        format!("SELECT 1{}", " + 1".repeat(200_000)),
        format!("SELECT * FROM t WHERE a{}", "::int".repeat(50_000)),
        format!("SELECT a{}", "[1]".repeat(50_000)),
        format!("DELETE FROM t WHERE {}", vec!["1=1"; 100_000].join(" AND ")),
    ] {
        let result = on_small_stack(move || analyze_each(&sql, Dialect::Postgres));
        let err = result[0].as_ref().expect_err("refused");
        assert_eq!(err.error.kind, SqlErrorKind::TooComplex);
    }
}

#[test]
fn deep_nesting_is_refused_not_crashed() {
    for sql in [
        format!("SELECT {}1{}", "(".repeat(10_000), ")".repeat(10_000)),
        format!("SELECT * FROM {}t{}", "(SELECT * FROM ".repeat(5_000), ")".repeat(5_000)),
        format!("SELECT {}1", "NOT ".repeat(10_000)),
        format!("SELECT {}1", "- ".repeat(10_000)),
        format!("SELECT {} 1 {}", "CASE WHEN true THEN".repeat(3_000), "END".repeat(3_000)),
        "SELECT ".to_string() + &"ARRAY[".repeat(10_000),
    ] {
        let result = on_small_stack(move || analyze_each(&sql, Dialect::Postgres));
        assert!(result.iter().any(|r| r.is_err()), "deeply nested input was accepted");
    }
}

#[test]
fn suspected_operations_survive_a_refusal() {
    let sql = format!("DROP TABLE users; SELECT {}1{}", "(".repeat(10_000), ")".repeat(10_000));
    let result = on_small_stack(move || analyze_each(&sql, Dialect::Postgres));
    let first = result[0].as_ref().expect_err("the whole text is refused");
    assert!(first.suspected.operations.contains(Operation::Drop));
}

#[test]
fn garbage_never_panics() {
    let samples: Vec<String> = vec![
        "\0\0\0".into(),
        "'unterminated".into(),
        "/* unterminated comment".into(),
        "$$ unterminated dollar".into(),
        "\u{feff}SELECT 1".into(),
        "SELECT \u{202e}1".into(),
        ";;;;".into(),
        String::from_utf8_lossy(&(0u8..=255).collect::<Vec<_>>()).into_owned(),
        "SELECT * FROM t WHERE x = '".repeat(40),
        "E'\\".into(),
        "U&'\\".into(),
        "x'".into(),
        "\"".repeat(3),
        "SELECT 1e99999999999999999999".into(),
    ];
    let dialects = [
        Dialect::Postgres, Dialect::Mysql, Dialect::Mssql, Dialect::Sqlite, Dialect::Snowflake, Dialect::Bigquery,
        Dialect::Clickhouse, Dialect::Redshift, Dialect::Duckdb, Dialect::Databricks, Dialect::Trino, Dialect::Generic,
    ];
    on_small_stack(move || {
        for sql in &samples {
            for dialect in dialects {
                let _ = analyze_each(sql, dialect);
                // Every prefix too: truncation at any byte must be as safe as the whole.
                for cut in (0..sql.len()).filter(|&i| sql.is_char_boundary(i)).step_by(7) {
                    let _ = analyze_each(&sql[..cut], dialect);
                }
            }
        }
    });
}

#[test]
fn many_statements_are_bounded() {
    let sql = "SELECT 1;".repeat(5_000);
    let result = on_small_stack(move || analyze_each(&sql, Dialect::Postgres));
    assert!(result.len() <= access_guardrails::sql::MAX_STATEMENTS + 1);
    assert!(result.iter().any(|r| r.is_err()));
}
