//! The case files shown in the README are real ones: they run green against the example policies.

use std::path::Path;

use guardrails_host::cli::{load_cases, load_policy, run};

#[test]
fn the_readme_case_file_passes_against_the_warehouse_policy() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap();
    let readme = std::fs::read_to_string(root.join("README.md")).unwrap();
    let start = readme.find("```yaml\ndefaults:").expect("README shows a case file") + "```yaml\n".len();
    let block = &readme[start..start + readme[start..].find("```").unwrap()];
    let cases = load_cases(block).expect("the README case file parses");
    assert_eq!(cases.len(), 3);
    let (json, policy) = load_policy(&std::fs::read_to_string(root.join("examples/warehouse/policy.yaml")).unwrap()).unwrap();
    let report = run(crate::common::plugin(), &json, &policy, &cases).unwrap();
    assert!(report.failures.is_empty(), "{:?}", report.failures);
    assert_eq!(report.passed, 3);
}

#[test]
fn the_readme_llm_cases_pass_against_the_llm_agents_policy() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap();
    let readme = std::fs::read_to_string(root.join("README.md")).unwrap();
    let start = readme.find("```yaml\n  - name: a DROP in run_sql").expect("README shows llm cases") + "```yaml\n".len();
    let block = format!("cases:\n{}", &readme[start..start + readme[start..].find("```").unwrap()]);
    let cases = load_cases(&block).expect("the README llm cases parse");
    assert_eq!(cases.len(), 2);
    let (json, policy) = load_policy(&std::fs::read_to_string(root.join("examples/llm-agents/policy.yaml")).unwrap()).unwrap();
    let report = run(crate::common::plugin(), &json, &policy, &cases).unwrap();
    assert!(report.failures.is_empty(), "{:?}", report.failures);
    assert_eq!(report.passed, 2);
}
