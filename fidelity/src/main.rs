//! Reads JSON lines `{"dialect": "postgres", "sql": "..."}` and answers each with one line
//! `{"parsed": bool, "statements": n, "operations": [...], "unbounded": bool}`: what the engine
//! makes of the text (every reading of it, as the engine decides it), for fidelity/run.py to hold against a real parser. `parsed` is false when
//! any statement of the text did not parse; the operations and `unbounded` are those of the
//! statements that did. The last line on stderr is the engine's own rate, analysis time only.

use std::io::{self, BufRead, BufWriter, Write};
use std::time::{Duration, Instant};

use access_guardrails::sql::{Dialect, OperationSet, Statement};
use serde::{Deserialize, Serialize};

#[derive(Deserialize)]
struct Input {
    dialect: String,
    sql: String,
}

#[derive(Serialize)]
struct Output {
    parsed: bool,
    statements: usize,
    operations: Vec<&'static str>,
    unbounded: bool,
}

fn analyze(input: &Input, spent: &mut Duration) -> Result<Output, String> {
    let dialect = Dialect::parse(&input.dialect).ok_or_else(|| format!("unknown dialect {:?}", input.dialect))?;
    let started = Instant::now();
    // As the engine reads a text: every reading of a MySQL-family text's executable comments.
    let statements = Statement::all_in(&input.sql, dialect, None);
    *spent += started.elapsed();
    let mut operations = OperationSet::EMPTY;
    let mut parsed = true;
    let mut unbounded = false;
    for statement in &statements {
        match &statement.analysis {
            Ok(intent) => {
                intent.operations.iter().for_each(|op| operations.insert(op));
                unbounded |= intent.unbounded;
            }
            Err(_) => parsed = false,
        }
    }
    let operations = operations.iter().map(|op| op.as_str()).collect();
    Ok(Output { parsed, statements: statements.len(), operations, unbounded })
}

fn main() -> Result<(), String> {
    let mut out = BufWriter::new(io::stdout().lock());
    let mut spent = Duration::ZERO;
    let mut texts = 0u64;
    for line in io::stdin().lock().lines() {
        let line = line.map_err(|err| err.to_string())?;
        let input: Input = serde_json::from_str(&line).map_err(|err| format!("bad input line: {err}"))?;
        let output = analyze(&input, &mut spent)?;
        serde_json::to_writer(&mut out, &output).map_err(|err| err.to_string())?;
        out.write_all(b"\n").map_err(|err| err.to_string())?;
        texts += 1;
    }
    out.flush().map_err(|err| err.to_string())?;
    let rate = texts as f64 / spent.as_secs_f64().max(1e-9);
    eprintln!("fidelity-analyze: {texts} texts in {:.3} s of analysis: {rate:.0} statements/s", spent.as_secs_f64());
    Ok(())
}
