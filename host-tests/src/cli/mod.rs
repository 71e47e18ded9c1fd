//! The `guardrails` command: test and lint Access Guardrails policies locally, with the same
//! `.wasm` Envoy loads.
//!
//!   guardrails test --policy POLICY.yaml CASES.yaml [--wasm PATH] [--audit-out FILE]
//!   guardrails lint POLICY.yaml
//!   guardrails config POLICY.yaml
//!   guardrails verify-audit FILE|- [--key KEY]
//!
//! Exit codes: 0 all good; 1 a case failed, or an audit trail was tampered with or lost
//! records no gap record accounts for; 2 a bad policy, case file, audit file or command line.
//!
//! The command is built on the host's public API only, and the host knows nothing of it. It
//! lives in the library rather than in its bin so that the scenario tests load policies and
//! replay case files exactly as the command does: [`cases`] is the case file format, [`replay`]
//! sends cases through the filter (with `carrier` placing a case's `sql` as a client of the
//! route would, and [`llm`] rendering a model provider's requests and answers and reading back
//! what the agent gets), `commands` prints what each subcommand finds.

mod carrier;
pub mod cases;
mod commands;
pub mod llm;
pub mod replay;

use std::path::{Path, PathBuf};
use std::process::ExitCode;

pub use cases::{load_cases, load_policy};
pub use replay::{exchange, prepare, run, Report};

const USAGE: &str = "usage:
  guardrails test --policy POLICY.yaml CASES.yaml [--wasm PATH] [--audit-out FILE]
  guardrails lint POLICY.yaml
  guardrails config POLICY.yaml      (the JSON plugin configuration for Envoy or Istio)
  guardrails verify-audit FILE|- [--key KEY]";

/// Runs the command on the process's arguments; a bad command line is exit code 2.
pub fn main() -> ExitCode {
    match dispatch() {
        Ok(code) => code,
        Err(message) => {
            eprintln!("guardrails: {message}");
            ExitCode::from(2)
        }
    }
}

/// The subcommand and its options, as given.
struct Arguments {
    command: String,
    policy: Option<PathBuf>,
    wasm: Option<PathBuf>,
    audit_out: Option<PathBuf>,
    key: Option<String>,
    files: Vec<PathBuf>,
}

fn dispatch() -> Result<ExitCode, String> {
    let Some(args) = parse()? else {
        println!("{USAGE}");
        return Ok(ExitCode::SUCCESS);
    };
    match (args.command.as_str(), args.files.as_slice()) {
        ("lint", [path]) => Ok(commands::lint(path)),
        ("config", [path]) => commands::config(path),
        ("test", [cases]) => {
            let policy = args.policy.ok_or_else(|| format!("test needs --policy\n{USAGE}"))?;
            commands::test(&policy, cases, args.wasm, args.audit_out)
        }
        ("verify-audit", [path]) => commands::verify_audit(path, args.key.as_deref()),
        _ => Err(format!("unexpected arguments\n{USAGE}")),
    }
}

/// The command line; `None` asks for the usage.
fn parse() -> Result<Option<Arguments>, String> {
    use lexopt::prelude::*;
    let mut parser = lexopt::Parser::from_env();
    let command = match parser.next().map_err(|e| e.to_string())? {
        Some(Value(v)) => v.string().map_err(|e| e.to_string())?,
        Some(Long("help") | Short('h')) | None => return Ok(None),
        Some(other) => return Err(format!("{}\n{USAGE}", other.unexpected())),
    };
    let mut args = Arguments { command, policy: None, wasm: None, audit_out: None, key: None, files: Vec::new() };
    while let Some(arg) = parser.next().map_err(|e| e.to_string())? {
        match arg {
            Long("policy") | Short('p') => args.policy = Some(PathBuf::from(parser.value().map_err(|e| e.to_string())?)),
            Long("wasm") => args.wasm = Some(PathBuf::from(parser.value().map_err(|e| e.to_string())?)),
            Long("audit-out") => args.audit_out = Some(PathBuf::from(parser.value().map_err(|e| e.to_string())?)),
            Long("key") => args.key = Some(parser.value().map_err(|e| e.to_string())?.string().map_err(|e| e.to_string())?),
            Value(v) => args.files.push(PathBuf::from(v)),
            other => return Err(format!("{}\n{USAGE}", other.unexpected())),
        }
    }
    Ok(Some(args))
}

fn read(path: &Path) -> Result<String, String> {
    std::fs::read_to_string(path).map_err(|e| format!("cannot read {}: {e}", path.display()))
}
