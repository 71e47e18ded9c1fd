//! Hostile input: nothing a client sends may crash the analyzer or exhaust its stack. Each case
//! runs on a thread with a 1 MiB stack, the stack the filter has inside the wasm VM.

use access_guardrails::sql::{analyze, analyze_each, Dialect, Operation, SqlErrorKind};

const STACK: usize = 1024 * 1024;

const DIALECTS: [Dialect; 12] = [
    Dialect::Postgres,
    Dialect::Mysql,
    Dialect::Mssql,
    Dialect::Sqlite,
    Dialect::Snowflake,
    Dialect::Bigquery,
    Dialect::Clickhouse,
    Dialect::Redshift,
    Dialect::Duckdb,
    Dialect::Databricks,
    Dialect::Trino,
    Dialect::Generic,
];

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
    on_small_stack(move || {
        for sql in &samples {
            for dialect in DIALECTS {
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

#[test]
fn a_multibyte_identifier_before_values_keeps_its_fingerprint_whole() {
    // The row-collapsing step once sliced the fingerprint inside `ї` and panicked.
    let intents = on_small_stack(|| analyze("insert into `t2$ї`values (1,1)", Dialect::Mysql)).unwrap();
    assert_eq!(intents[0].fingerprint, "INSERT INTO `t2$ї` VALUES (?, ...)");
    let cases = [
        (Dialect::Postgres, "insert into \"t2$ї\"values (1,1)", "INSERT INTO \"t2$ї\" VALUES (?, ...)"),
        (Dialect::Mssql, "insert into [t2$ї]values (1,1)", "INSERT INTO [t2$ї] VALUES (?, ...)"),
        (Dialect::Sqlite, "insert into \"日本\"values (1,1), (2,2)", "INSERT INTO \"日本\" VALUES (?, ...)"),
        (Dialect::Clickhouse, "insert into `t😀`values (1,1)", "INSERT INTO `t😀` VALUES (?, ...)"),
    ];
    for (dialect, sql, expected) in cases {
        let intents = on_small_stack(move || analyze(sql, dialect)).unwrap_or_else(|e| panic!("{sql}: {e}"));
        assert_eq!(intents[0].fingerprint, expected, "{dialect:?}");
        assert!(intents[0].operations.contains(Operation::Insert));
    }
}

/// A deterministic xorshift64 generator: the same strings on every run.
struct XorShift(u64);

impl XorShift {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

/// Multi-byte characters: two, three and four bytes, a combining mark, a BOM, a zero-width space.
const MULTIBYTE: &[&str] = &["ї", "日本", "😀", "e\u{301}", "\u{feff}", "\u{200b}", "ß"];

/// What the tokenizer, the parser and the fingerprint treat specially.
const FRAGMENTS: &[&str] = &[
    "SELECT",
    "INSERT INTO",
    "UPDATE",
    "DELETE FROM",
    "VALUES",
    "SET",
    "WHERE",
    "FROM",
    "INTO",
    "OUTFILE",
    "COPY",
    "TO",
    "DROP TABLE",
    "t",
    "t2$",
    "x",
    "=",
    "1",
    "'a'",
    "(",
    ")",
    ",",
    ";",
    ".",
    "'",
    "\"",
    "`",
    "[",
    "]",
    "--",
    "/*",
    "*/",
    "\n",
    "\r\n",
    "\t",
    " ",
    "$$",
    "$1",
    "?",
    "@v",
    "#",
    "::int",
    "E'",
    "N'",
    "X'",
    "*",
    "OR 1=1",
];

/// Statement shapes that parse, so generated names and literals reach the parser and the
/// fingerprint, not only the tokenizer's error path.
const TEMPLATES: &[&str] = &[
    "insert into {id}{gap}values ({v},{v}){gap}",
    "insert into {id}({id}, {id}){gap}values ({v}, {v}), ({v}, {v})",
    "update {id} set {id} = {v}{gap}where {id} = {v}",
    "select {id}, {id} from {id}{gap}where {id} in ({v}, {v}, {v})",
    "delete from {id} where {id} = {v};{gap}select {v}",
    "select ({v}){gap}from {id}",
];

fn multibyte_text(rng: &mut XorShift) -> String {
    (0..1 + rng.below(3)).map(|_| if rng.below(2) == 0 { MULTIBYTE[rng.below(MULTIBYTE.len())] } else { "t2$" }).collect()
}

fn identifier(rng: &mut XorShift) -> String {
    let name = multibyte_text(rng);
    match rng.below(5) {
        0 => format!("`{name}`"),
        1 => format!("\"{name}\""),
        2 => format!("[{name}]"),
        3 => name,
        _ => "t".to_string(),
    }
}

fn value(rng: &mut XorShift) -> String {
    match rng.below(3) {
        0 => format!("'{}'", multibyte_text(rng)),
        1 => identifier(rng),
        _ => rng.below(100).to_string(),
    }
}

fn gap(rng: &mut XorShift) -> String {
    match rng.below(4) {
        0 => String::new(),
        1 => format!("/*{}*/", multibyte_text(rng)),
        2 => format!(" --{}\n", multibyte_text(rng)),
        _ => MULTIBYTE[rng.below(MULTIBYTE.len())].to_string(),
    }
}

fn from_template(rng: &mut XorShift) -> String {
    let template = TEMPLATES[rng.below(TEMPLATES.len())];
    let mut sql = String::new();
    let mut rest = template;
    while let Some(open) = rest.find('{') {
        sql.push_str(&rest[..open]);
        let close = open + rest[open..].find('}').expect("closed placeholder");
        sql.push_str(&match &rest[open + 1..close] {
            "id" => identifier(rng),
            "v" => value(rng),
            _ => gap(rng),
        });
        rest = &rest[close + 1..];
    }
    sql.push_str(rest);
    sql
}

fn from_fragments(rng: &mut XorShift) -> String {
    let mut sql = String::new();
    for _ in 0..1 + rng.below(24) {
        let fragment =
            if rng.below(4) == 0 { MULTIBYTE[rng.below(MULTIBYTE.len())] } else { FRAGMENTS[rng.below(FRAGMENTS.len())] };
        sql.push_str(fragment);
        if rng.below(3) == 0 {
            sql.push(' ');
        }
    }
    sql
}

#[test]
fn multibyte_text_mixed_with_sql_never_panics() {
    on_small_stack(|| {
        let mut rng = XorShift(0x9e37_79b9_7f4a_7c15);
        let mut parsed = 0;
        for _ in 0..3_000 {
            let sql = if rng.below(2) == 0 { from_template(&mut rng) } else { from_fragments(&mut rng) };
            for dialect in DIALECTS {
                // A panic here fails the test: in the wasm VM it would abort the filter.
                let results = analyze_each(&sql, dialect);
                for result in &results {
                    let intent = match result {
                        Ok(intent) => {
                            parsed += 1;
                            intent
                        }
                        Err(unparsed) => &unparsed.suspected,
                    };
                    assert!(sql.get(intent.span.0..intent.span.1).is_some(), "{dialect:?} {sql:?}: {:?}", intent.span);
                }
            }
        }
        // The generator must reach the parser, not only the tokenizer's error path.
        assert!(parsed > 5_000, "only {parsed} statements parsed");
    });
}
