//! What each subcommand prints, and its exit code.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use access_guardrails::policy::{Policy, Protocol};

use super::cases::{load_cases, load_policy};
use super::read;
use super::replay::run;
use crate::{Plugin, StartError};

const WASM: &str = "wasm32-wasip1/release/access_guardrails.wasm";

/// Every problem the filter would log for a policy, one a line; exit code 2 if there is any.
pub(super) fn lint(path: &Path) -> ExitCode {
    let text = match read(path) {
        Ok(t) => t,
        Err(e) => {
            eprintln!("guardrails: {e}");
            return ExitCode::from(2);
        }
    };
    match load_policy(&text) {
        Ok((_, policy)) => {
            println!(
                "{}: ok ({} routes, {} rules, hash {})",
                path.display(),
                policy.routes.len(),
                policy.rules.len(),
                &policy.hash[..12]
            );
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

/// The JSON plugin configuration of a policy, as Envoy or Istio take it.
pub(super) fn config(path: &Path) -> Result<ExitCode, String> {
    let (json, _) = policy_file(path)?;
    println!("{json}");
    Ok(ExitCode::SUCCESS)
}

/// A policy file as the JSON the filter receives, or every problem it has in one message.
fn policy_file(path: &Path) -> Result<(String, Policy), String> {
    load_policy(&read(path)?).map_err(|errors| format!("{} is not a valid policy:\n  {}", path.display(), errors.join("\n  ")))
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

/// Replays a case file against a policy through the compiled filter; exit code 1 if a case fails.
pub(super) fn test(
    policy_path: &Path,
    cases_path: &Path,
    wasm: Option<PathBuf>,
    audit_out: Option<PathBuf>,
) -> Result<ExitCode, String> {
    let (json, policy) = policy_file(policy_path)?;
    if policy.protocol != Protocol::Http {
        return Err(format!(
            "{} is a {:?} wire policy: `guardrails test` replays HTTP cases (the wire modes are exercised by make e2e)",
            policy_path.display(),
            policy.protocol
        ));
    }
    if audit_out.is_some() && policy.audit.is_none() {
        return Err(format!("--audit-out: {} has no audit section, so the filter ships nothing", policy_path.display()));
    }
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
    if let Some(path) = audit_out {
        let text: String = report.audit.iter().map(|r| format!("{r}\n")).collect();
        std::fs::write(&path, text).map_err(|e| format!("cannot write {}: {e}", path.display()))?;
        println!("{} audit records written to {}", report.audit.len(), path.display());
    }
    println!("{} passed, {} failed", report.passed, report.failures.len());
    Ok(if report.failures.is_empty() { ExitCode::SUCCESS } else { ExitCode::from(1) })
}

/// Checks exported audit records (ndjson, as `SELECT ... FORMAT JSONEachRow` gives them).
pub(super) fn verify_audit(path: &Path, key: Option<&str>) -> Result<ExitCode, String> {
    let text = if path == Path::new("-") {
        let mut text = String::new();
        std::io::Read::read_to_string(&mut std::io::stdin(), &mut text).map_err(|e| format!("cannot read stdin: {e}"))?;
        text
    } else {
        read(path)?
    };
    let mut records = Vec::new();
    for (i, line) in text.lines().enumerate().filter(|(_, l)| !l.trim().is_empty()) {
        match serde_json::from_str::<serde_json::Value>(line) {
            Ok(serde_json::Value::Object(record)) => records.push(record),
            _ => return Err(format!("{}:{}: not a JSON object", path.display(), i + 1)),
        }
    }
    if records.is_empty() {
        println!("no records to verify");
        return Ok(ExitCode::from(1));
    }
    let reports = access_guardrails::audit::verify(&records, key);
    let mut all_ok = true;
    for chain in &reports {
        let verdict = if chain.ok() { "ok" } else { "FAILED" };
        println!("chain {}: {} records, seq {}..{}: {verdict}", chain.id, chain.records, chain.first_seq, chain.last_seq);
        for gap in &chain.gaps {
            let how =
                if gap.accounted { "accounted for by a gap record" } else { "NOT accounted for: records were lost or removed" };
            println!("  gap: seq {}..{} ({} records), {how}", gap.from_seq, gap.to_seq, gap.to_seq - gap.from_seq + 1);
        }
        for (seq, why) in &chain.tampered {
            println!("  tampered: seq {seq}: {why}");
        }
        if chain.reordered {
            println!("  records are not in sequence order (a store's order; harmless)");
        }
        all_ok &= chain.ok();
    }
    println!("{} records in {} chains: {}", records.len(), reports.len(), if all_ok { "verified" } else { "NOT verified" });
    Ok(if all_ok { ExitCode::SUCCESS } else { ExitCode::from(1) })
}
