//! The policies users copy from must compile: every `examples/*/policy.yaml`, and the complete
//! example in the README (which must be the warehouse example, word for word).

use std::path::Path;

use access_guardrails::policy::Policy;

fn compile_yaml(text: &str, origin: &str) -> Policy {
    let value: serde_json::Value = serde_norway::from_str(text).unwrap_or_else(|e| panic!("{origin}: not YAML: {e}"));
    Policy::from_value(&value)
        .unwrap_or_else(|errors| panic!("{origin}: {}", errors.iter().map(|e| e.to_string()).collect::<Vec<_>>().join("\n")))
}

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap()
}

#[test]
fn every_example_policy_compiles() {
    let mut seen = 0;
    for entry in std::fs::read_dir(root().join("examples")).unwrap() {
        let policy = entry.unwrap().path().join("policy.yaml");
        if policy.exists() {
            let text = std::fs::read_to_string(&policy).unwrap();
            compile_yaml(&text, &policy.display().to_string());
            seen += 1;
        }
    }
    assert!(seen >= 1, "no example policies found");
}

#[test]
fn the_readme_example_is_the_warehouse_example_and_compiles() {
    let readme = std::fs::read_to_string(root().join("README.md")).unwrap();
    let start = readme.find("```yaml\nversion: 1").expect("README has the complete example") + "```yaml\n".len();
    let block = &readme[start..start + readme[start..].find("```").unwrap()];
    let example = std::fs::read_to_string(root().join("examples/warehouse/policy.yaml")).unwrap();
    assert!(example.ends_with(block), "README example and examples/warehouse/policy.yaml differ");
    let policy = compile_yaml(block, "README.md");
    assert_eq!(policy.routes[0].name, "warehouse");
    assert!(policy.audit.is_some());
}
