//! `guardrails`: test and lint Access Guardrails policies locally; the command is
//! [`guardrails_host::cli`].

fn main() -> std::process::ExitCode {
    guardrails_host::cli::main()
}
