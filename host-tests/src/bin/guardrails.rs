//! `guardrails`: test and lint Access Guardrails policies locally, with the same `.wasm` Envoy
//! loads.
//!
//!   guardrails test --policy POLICY.yaml CASES.yaml [--wasm PATH]
//!   guardrails lint POLICY.yaml
//!
//! Exit codes: 0 all good, 1 a case failed, 2 a bad policy, case file or command line.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use guardrails_host::cases::{load_cases, load_policy, run};
use guardrails_host::{Plugin, StartError};

const USAGE: &str = "usage:
  guardrails test --policy POLICY.yaml CASES.yaml [--wasm PATH]
  guardrails lint POLICY.yaml";

const WASM: &str = "wasm32-wasip1/release/access_guardrails.wasm";

fn main() -> ExitCode {
    match cli() {
        Ok(code) => code,
        Err(message) => {
            eprintln!("guardrails: {message}");
            ExitCode::from(2)
        }
    }
}

fn cli() -> Result<ExitCode, String> {
    use lexopt::prelude::*;
    let mut parser = lexopt::Parser::from_env();
    let command = match parser.next().map_err(|e| e.to_string())? {
        Some(Value(v)) => v.string().map_err(|e| e.to_string())?,
        Some(Long("help") | Short('h')) | None => {
            println!("{USAGE}");
            return Ok(ExitCode::SUCCESS);
        }
        Some(other) => return Err(format!("{}\n{USAGE}", other.unexpected())),
    };
    let (mut policy, mut wasm, mut files) = (None, None, Vec::new());
    while let Some(arg) = parser.next().map_err(|e| e.to_string())? {
        match arg {
            Long("policy") | Short('p') => policy = Some(PathBuf::from(parser.value().map_err(|e| e.to_string())?)),
            Long("wasm") => wasm = Some(PathBuf::from(parser.value().map_err(|e| e.to_string())?)),
            Value(v) => files.push(PathBuf::from(v)),
            other => return Err(format!("{}\n{USAGE}", other.unexpected())),
        }
    }
    match (command.as_str(), files.as_slice()) {
        ("lint", [path]) => Ok(lint(path)),
        ("test", [cases]) => {
            let policy = policy.ok_or_else(|| format!("test needs --policy\n{USAGE}"))?;
            test(&policy, cases, wasm)
        }
        _ => Err(format!("unexpected arguments\n{USAGE}")),
    }
}

fn read(path: &Path) -> Result<String, String> {
    std::fs::read_to_string(path).map_err(|e| format!("cannot read {}: {e}", path.display()))
}

fn lint(path: &Path) -> ExitCode {
    let text = match read(path) {
        Ok(t) => t,
        Err(e) => {
            eprintln!("guardrails: {e}");
            return ExitCode::from(2);
        }
    };
    match load_policy(&text) {
        Ok((_, policy)) => {
            println!("{}: ok ({} routes, {} rules, hash {})", path.display(), policy.routes.len(), policy.rules.len(), &policy.hash[..12]);
            ExitCode::SUCCESS
        }
        Err(errors) => {
            for e in &errors {
                println!("{}: {e}", path.display());
            }
            println!("{} errors", errors.len());
            ExitCode::from(2)
        }
    }
}

/// `$GUARDRAILS_WASM`, else the release build next to this binary's target directory, else
/// `target/` under the working directory.
fn default_wasm() -> PathBuf {
    if let Some(path) = std::env::var_os("GUARDRAILS_WASM") {
        return PathBuf::from(path);
    }
    let beside = std::env::current_exe().ok().and_then(|exe| Some(exe.parent()?.parent()?.join(WASM)));
    match beside {
        Some(path) if path.exists() => path,
        _ => Path::new("target").join(WASM),
    }
}

fn test(policy_path: &Path, cases_path: &Path, wasm: Option<PathBuf>) -> Result<ExitCode, String> {
    let (json, policy) = load_policy(&read(policy_path)?).map_err(|errors| {
        format!("{} is not a valid policy:\n  {}", policy_path.display(), errors.join("\n  "))
    })?;
    let cases = load_cases(&read(cases_path)?).map_err(|e| format!("{}: {e}", cases_path.display()))?;
    let wasm = wasm.unwrap_or_else(default_wasm);
    let plugin = Plugin::load(&wasm).map_err(|e| format!("{e} (build it with `make wasm`)"))?;
    let report = match run(&plugin, &json, &policy, &cases) {
        Ok(report) => report,
        Err(StartError::Configure { logs }) => {
            let lines: Vec<String> = logs.into_iter().filter(|l| l.level >= 3).map(|l| l.message).collect();
            return Err(format!("the filter refused {}:\n  {}", policy_path.display(), lines.join("\n  ")));
        }
        Err(e) => return Err(e.to_string()),
    };
    for (name, problem) in &report.failures {
        println!("FAIL {name}: {problem}");
    }
    println!("{} passed, {} failed", report.passed, report.failures.len());
    Ok(if report.failures.is_empty() { ExitCode::SUCCESS } else { ExitCode::from(1) })
}
