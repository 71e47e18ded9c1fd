//! Every `pluginConfig` in `examples/istio/` is a policy `guardrails lint` accepts and the
//! compiled filter loads, in manifests that use the WasmPlugin fields the README promises.

use std::path::Path;

use guardrails_host::cli::load_policy;
use guardrails_host::{Host, HostOptions};
use serde_json::Value;

#[test]
fn every_istio_plugin_config_lints_and_loads() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/istio");
    let mut manifests = Vec::new();
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "yaml") {
            let text = std::fs::read_to_string(&path).unwrap();
            let manifest: Value = serde_norway::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            manifests.push((path, manifest));
        }
    }
    assert!(manifests.len() >= 2, "the README describes two manifests");
    for (path, manifest) in &manifests {
        let name = path.display();
        assert_eq!(manifest["kind"], "WasmPlugin", "{name}");
        let spec = &manifest["spec"];
        assert_eq!(spec["type"], "HTTP", "{name}");
        assert_eq!(spec["phase"], "AUTHZ", "{name}");
        assert!(spec["failStrategy"].is_string() && spec["url"].as_str().unwrap().starts_with("oci://"), "{name}");
        let config = serde_norway::to_string(&spec["pluginConfig"]).unwrap();
        let (json, policy) = load_policy(&config).unwrap_or_else(|errors| panic!("{name}: {errors:#?}"));
        assert!(!policy.proxy.allow_on_headers_stop_iteration, "{name}: Istio cannot set allow_on_headers_stop_iteration");
        let host = Host::start(crate::common::plugin(), HostOptions::with_configuration(json));
        assert!(host.is_ok(), "{name}: the filter refused it: {}", host.err().unwrap());
    }
    assert!(manifests.iter().any(|(_, m)| m["spec"]["selector"].is_object()), "a per-workload selector");
    assert!(manifests.iter().any(|(_, m)| m["spec"]["targetRefs"].is_array()), "targetRefs");
}
