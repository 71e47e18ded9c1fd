//! `make bench-host`: the per-request cost of the compiled filter in wasmtime, side by side with
//! an empty proxy-wasm filter built the same way, over the corpus `make bench-engine` uses.
//!
//! Each request goes the way Envoy's HTTP/1 codec delivers it: context create, headers, the
//! body, an empty end-of-stream body callback, response headers and body, then on_log, on_done
//! and on_delete. Prints µs/request for both filters and the difference, and the VM memory
//! before and after the run (it must stay flat). Then masking throughput: on uniform customer
//! records, and on the labeled data set of `make test-masking` (target/masking/dataset.jsonl, text
//! and JSON documents apart, every built-in detector on), a response per document and in 1 MiB
//! responses. Then a model's streamed answers on an
//! `llm` route ([`llm`]). With `BENCH_CALLGRIND=1` it runs itself under
//! `valgrind --tool=callgrind` and prints instructions per request, which do not depend on
//! what else the machine is doing. `BENCH_ONLY=requests`, `masking` or `llm` runs one part.

#[path = "../../filter/benches/corpus/mod.rs"]
mod corpus;
mod llm;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use guardrails_host::{Host, HostOptions, Plugin, StreamInfo};

fn release_wasm(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/wasm32-wasip1/release").join(name)
}

fn bodies() -> Vec<(&'static str, Vec<u8>)> {
    corpus::corpus().into_iter().map(|(name, sql)| (name, serde_json::json!({ "query": sql }).to_string().into_bytes())).collect()
}

fn exchange(host: &mut Host, body: &[u8], length: &str) {
    let id = host.open_http(0, StreamInfo::default());
    let headers = [
        (":method", "POST"),
        (":path", "/sql"),
        (":authority", "db.internal"),
        (":scheme", "http"),
        ("content-type", "application/json"),
        ("content-length", length),
        ("x-agent-id", "agent:bench"),
        ("x-request-id", "7d1c4a2e-bench"),
    ];
    host.request_headers(id, &headers, false);
    host.request_body(id, body, false);
    host.request_body(id, b"", true);
    if host.stream(id).local_reply.is_none() {
        host.response_headers(id, &[(":status", "200"), ("content-type", "application/json")], false);
        host.response_body(id, b"{\"rows\":[]}", true);
    }
    host.close(id);
}

fn start(plugin: &Plugin) -> Host {
    Host::start(plugin, HostOptions::with_configuration(corpus::POLICY)).expect("the filter starts")
}

/// µs per request over the corpus, run for `budget`.
fn measure(host: &mut Host, bodies: &[(&str, Vec<u8>)], budget: Duration) -> f64 {
    let lengths: Vec<String> = bodies.iter().map(|(_, b)| b.len().to_string()).collect();
    for _ in 0..20 {
        for ((_, body), length) in bodies.iter().zip(&lengths) {
            exchange(host, body, length);
        }
    }
    let start = Instant::now();
    let mut requests = 0usize;
    while start.elapsed() < budget {
        for ((_, body), length) in bodies.iter().zip(&lengths) {
            exchange(host, body, length);
        }
        requests += bodies.len();
    }
    start.elapsed().as_secs_f64() * 1e6 / requests as f64
}

fn load(name: &str) -> Plugin {
    let path = release_wasm(name);
    Plugin::load(&path).unwrap_or_else(|e| panic!("{e}: run `make wasm` first"))
}

fn main() {
    if let Ok(rounds) = std::env::var("BENCH_CALLGRIND_CHILD") {
        return callgrind_child(&rounds);
    }
    let budget = Duration::from_millis(std::env::var("BENCH_MS").ok().and_then(|v| v.parse().ok()).unwrap_or(2000));
    let bodies = bodies();
    let guardrails = load("access_guardrails.wasm");
    let empty = load("empty_filter.wasm");
    let size = |name| std::fs::metadata(release_wasm(name)).map(|m| m.len()).unwrap_or(0);
    println!(
        "access_guardrails.wasm: {} bytes; empty_filter.wasm: {} bytes",
        size("access_guardrails.wasm"),
        size("empty_filter.wasm")
    );

    // `BENCH_ONLY=requests`, `masking` or `llm` runs that part alone.
    let only = std::env::var("BENCH_ONLY").ok();
    let runs = |part: &str| only.as_deref().is_none_or(|only| only == part);
    if runs("requests") {
        requests(&guardrails, &empty, &bodies, budget);
    }
    if runs("masking") {
        masking(&guardrails, &empty, budget);
        masking_dataset(&guardrails, &empty, budget);
    }
    if runs("llm") {
        llm::bench(&guardrails, &empty, budget);
    }
    if std::env::var_os("BENCH_CALLGRIND").is_some() {
        callgrind();
    }
}

/// Microseconds per request of both filters over the corpus, with the memo hit and missed.
fn requests(guardrails: &Plugin, empty: &Plugin, bodies: &[(&str, Vec<u8>)], budget: Duration) {
    let mut floor_host = start(empty);
    let mut host = start(guardrails);
    let memory_before = host.memory_bytes(0);
    // Interleaved rounds, so both filters see the same machine.
    let (mut floor, mut filter) = (Vec::new(), Vec::new());
    for _ in 0..3 {
        floor.push(measure(&mut floor_host, bodies, budget / 3));
        filter.push(measure(&mut host, bodies, budget / 3));
    }
    let median = |v: &mut Vec<f64>| {
        v.sort_by(f64::total_cmp);
        v[v.len() / 2]
    };
    let (floor, filter) = (median(&mut floor), median(&mut filter));
    // Every statement new to the VM: its analysis memo never hits.
    let cold_bodies: Vec<(&str, Vec<u8>)> = (0..200)
        .flat_map(|n| {
            corpus::corpus()
                .into_iter()
                .map(move |(name, sql)| (name, serde_json::json!({ "query": format!("{sql} -- {n}") }).to_string().into_bytes()))
        })
        .collect();
    let cold = measure(&mut host, &cold_bodies, budget / 3);
    println!("{:<34} {:>12}", "filter (mixed corpus)", "µs/request");
    println!("{:<34} {:>12.2}", "empty proxy-wasm filter", floor);
    println!("{:<34} {:>12.2}", "access guardrails, repeated SQL", filter);
    println!("{:<34} {:>12.2}", "access guardrails, every SQL new", cold);
    println!("{:<34} {:>12.2} / {:.2}", "cost of deciding (repeated / new)", filter - floor, cold - floor);
    println!("VM memory: {} KiB before, {} KiB after the run", memory_before / 1024, host.memory_bytes(0) / 1024);
    println!("per shape (access guardrails, every SQL new, µs/request):");
    for (name, sql) in corpus::corpus() {
        // More variants than the memo holds, so every one is new when it comes round again.
        let one: Vec<(&str, Vec<u8>)> =
            (0..1100).map(|n| (name, serde_json::json!({ "query": format!("{sql} -- {n}") }).to_string().into_bytes())).collect();
        println!("  {:<18} {:>7} bytes {:>10.2}", name, one[0].1.len(), measure(&mut host, &one, budget / 10));
    }
}

const MASK_POLICY: &str = r#"{"version": 1, "rules": [], "routes": [{"name": "customers", "match": {"path_prefix": "/customers"},
  "mask": {"detectors": {"email": "partial", "phone": "redact", "credit_card": "partial", "us_ssn": "redact", "iban": "partial",
    "ipv4": "redact", "ipv6": "redact", "aws_access_key": "redact", "github_token": "redact", "slack_token": "redact",
    "jwt": "redact", "private_key": "redact", "api_key": "redact"},
    "fields": [{"name": "date_of_birth"}], "max_body_bytes": 4194304}}]}"#;

/// A response of about `size` bytes: customer records, half of their fields sensitive.
fn customers(size: usize, json: bool) -> Vec<u8> {
    let mut out = String::from(if json { "[" } else { "" });
    let mut i = 0;
    while out.len() < size {
        let record = serde_json::json!({
            "id": i, "name": format!("Customer {i}"), "email": format!("user{i}@example.com"), "phone": "+1 415 555 0134",
            "card": "4111 1111 1111 1111", "date_of_birth": "1990-04-01", "plan": "enterprise", "seats": 40 + i % 7,
            "notes": format!("renewal due in {} days; last login from 10.0.{}.{}; prefers email", i % 90, i % 250, i % 200),
        });
        if json {
            if i > 0 {
                out.push(',');
            }
            out.push_str(&record.to_string());
        } else {
            out.push_str(&format!("{} {} {} {}\n", record["id"], record["email"], record["card"], record["notes"]));
        }
        i += 1;
    }
    if json {
        out.push(']');
    }
    out.into_bytes()
}

/// One GET whose response the filter masks (or, for the empty filter, passes), delivered in
/// 16 KiB chunks as Envoy reads from an upstream.
fn masked_exchange(host: &mut Host, body: &[u8], content_type: &str) -> usize {
    let id = host.open_http(0, StreamInfo::default());
    let headers = [(":method", "GET"), (":path", "/customers"), (":authority", "api.internal"), (":scheme", "http")];
    host.request_headers(id, &headers, true);
    host.response_headers(id, &[(":status", "200"), ("content-type", content_type)], false);
    let chunks: Vec<&[u8]> = body.chunks(16 * 1024).collect();
    for (i, chunk) in chunks.iter().enumerate() {
        host.response_body(id, chunk, i + 1 == chunks.len());
    }
    let forwarded = host.stream(id).response.forwarded_body.len();
    host.close(id);
    forwarded
}

fn mask_seconds(host: &mut Host, body: &[u8], content_type: &str, budget: Duration) -> f64 {
    for _ in 0..3 {
        masked_exchange(host, body, content_type);
    }
    let start = Instant::now();
    let mut n = 0u32;
    while start.elapsed() < budget || n < 3 {
        masked_exchange(host, body, content_type);
        n += 1;
    }
    start.elapsed().as_secs_f64() / f64::from(n)
}

/// Seconds through the filter and through the empty filter: the median of three runs of each,
/// taken in turn (`time(true)` times the filter), so both see the same machine.
fn medians(mut time: impl FnMut(bool) -> f64) -> (f64, f64) {
    let (mut with, mut without) = (Vec::new(), Vec::new());
    for _ in 0..3 {
        without.push(time(false));
        with.push(time(true));
    }
    with.sort_by(f64::total_cmp);
    without.sort_by(f64::total_cmp);
    (with[1], without[1])
}

/// Masking throughput inside the .wasm: MB/s of response body, with the cost of carrying the
/// same response through the empty filter taken out.
fn masking(guardrails: &Plugin, empty: &Plugin, budget: Duration) {
    let mut host = Host::start(guardrails, HostOptions::with_configuration(MASK_POLICY)).expect("the filter starts");
    let mut floor_host = Host::start(empty, HostOptions::with_configuration(MASK_POLICY)).expect("the empty filter starts");
    println!("masking (all 13 detectors and a field, 16 KiB chunks):");
    println!("  {:<20} {:>10} {:>12} {:>12} {:>10}", "body", "bytes", "ms/response", "empty ms", "MB/s");
    for (name, json, size) in [("JSON, 64 KiB", true, 64 << 10), ("JSON, 1 MiB", true, 1 << 20), ("text, 1 MiB", false, 1 << 20)]
    {
        let body = customers(size, json);
        let content_type = if json { "application/json" } else { "text/plain" };
        let masked = masked_exchange(&mut host, &body, content_type);
        assert!(masked > 0 && masked != body.len(), "the body was masked");
        let (with, without) = medians(|guarded| match guarded {
            true => mask_seconds(&mut host, &body, content_type, budget / 12),
            false => mask_seconds(&mut floor_host, &body, content_type, budget / 12),
        });
        let mb = body.len() as f64 / 1e6;
        println!(
            "  {:<20} {:>10} {:>12.3} {:>12.3} {:>10.1}",
            name,
            body.len(),
            with * 1e3,
            without * 1e3,
            mb / (with - without)
        );
    }
}

/// The labeled data set of `make test-masking` (fidelity/masking/generate.py): (is JSON, text) per
/// document, or None when it has not been generated.
fn dataset() -> Option<Vec<(bool, Vec<u8>)>> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/masking/dataset.jsonl");
    let text = std::fs::read_to_string(path).ok()?;
    let documents = text.lines().map(|line| {
        let document: serde_json::Value = serde_json::from_str(line).expect("a data set line is JSON");
        let kind = document["kind"].as_str().expect("a document has a kind");
        (kind.starts_with("json"), document["text"].as_str().expect("a document has a text").as_bytes().to_vec())
    });
    Some(documents.collect())
}

/// Seconds per pass over the documents, each its own response.
fn dataset_seconds(host: &mut Host, documents: &[&[u8]], content_type: &str, budget: Duration) -> f64 {
    let start = Instant::now();
    let mut passes = 0u32;
    while start.elapsed() < budget || passes == 0 {
        for document in documents {
            masked_exchange(host, document, content_type);
        }
        passes += 1;
    }
    start.elapsed().as_secs_f64() / f64::from(passes)
}

/// The documents joined into responses of about 1 MiB: text one after the other, JSON as arrays
/// of documents. What masking costs apart from what each response costs (the first line of a
/// joined text is the only one read as a table's header).
fn joined(documents: &[&[u8]], json: bool) -> Vec<Vec<u8>> {
    let mut groups: Vec<(usize, Vec<&[u8]>)> = Vec::new();
    for &document in documents {
        match groups.last_mut() {
            Some((bytes, group)) if *bytes + document.len() <= 1 << 20 => {
                *bytes += document.len();
                group.push(document);
            }
            _ => groups.push((document.len(), vec![document])),
        }
    }
    let join = |group: Vec<&[u8]>| match json {
        true => [&b"["[..], &group.join(&b","[..]), b"]"].concat(),
        false => group.join(&b"\n"[..]),
    };
    groups.into_iter().map(|(_, group)| join(group)).collect()
}

/// Masking throughput inside the .wasm on the varied data set, every built-in detector on (action
/// redact): a response per document, then the same documents in 1 MiB responses; MB/s with the
/// empty filter's cost of the same responses taken out.
fn masking_dataset(guardrails: &Plugin, empty: &Plugin, budget: Duration) {
    let Some(documents) = dataset() else {
        println!("masking the data set: target/masking/dataset.jsonl not found (make masking-data), skipped");
        return;
    };
    let names = access_guardrails::mask::detectors::names();
    let detectors: serde_json::Map<String, serde_json::Value> = names.iter().map(|n| (n.to_string(), "redact".into())).collect();
    let policy =
        serde_json::json!({"version": 1, "rules": [], "routes": [{"name": "customers", "match": {"path_prefix": "/customers"},
        "mask": {"detectors": detectors, "max_body_bytes": 4194304}}]})
        .to_string();
    let mut host = Host::start(guardrails, HostOptions::with_configuration(policy.as_str())).expect("the filter starts");
    let mut floor_host = Host::start(empty, HostOptions::with_configuration(policy.as_str())).expect("the empty filter starts");
    println!("masking the data set (all {} detectors):", names.len());
    println!("  {:<26} {:>9} {:>10} {:>10} {:>10} {:>8}", "documents", "responses", "bytes", "ms/pass", "empty ms", "MB/s");
    for (name, json, content_type) in [("text", false, "text/plain"), ("JSON", true, "application/json")] {
        let chosen: Vec<&[u8]> =
            documents.iter().filter(|(is_json, _)| *is_json == json).map(|(_, text)| text.as_slice()).collect();
        let joined = joined(&chosen, json);
        let joined: Vec<&[u8]> = joined.iter().map(Vec::as_slice).collect();
        for (how, responses) in [("a response each", &chosen), ("in 1 MiB responses", &joined)] {
            let bytes: usize = responses.iter().map(|d| d.len()).sum();
            dataset_seconds(&mut host, responses, content_type, Duration::ZERO);
            let (with, without) = medians(|guarded| match guarded {
                true => dataset_seconds(&mut host, responses, content_type, budget / 12),
                false => dataset_seconds(&mut floor_host, responses, content_type, budget / 24),
            });
            let label = format!("{name}, {how}");
            let mb = bytes as f64 / 1e6;
            println!(
                "  {:<26} {:>9} {:>10} {:>10.1} {:>10.1} {:>8.1}",
                label,
                responses.len(),
                bytes,
                with * 1e3,
                without * 1e3,
                mb / (with - without)
            );
        }
    }
}

/// Instructions per request: two runs of different lengths under callgrind, per filter; their
/// difference cancels start-up and compiling the module.
fn callgrind() {
    if Command::new("valgrind").arg("--version").output().is_err() {
        println!("callgrind: valgrind not found, skipped");
        return;
    }
    let exe = std::env::current_exe().unwrap();
    let dir = std::env::temp_dir().join(format!("guardrails-callgrind-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    for name in ["empty_filter.wasm", "access_guardrails.wasm"] {
        let mut totals = Vec::new();
        for rounds in [2u64, 12] {
            let out = dir.join(format!("{name}.{rounds}.out"));
            let status = Command::new("valgrind")
                .arg("--tool=callgrind")
                .arg(format!("--callgrind-out-file={}", out.display()))
                .arg(&exe)
                .env("BENCH_CALLGRIND_CHILD", rounds.to_string())
                .env("BENCH_WASM", release_wasm(name))
                .output()
                .expect("valgrind runs");
            assert!(status.status.success(), "callgrind run failed: {}", String::from_utf8_lossy(&status.stderr));
            totals.push(instructions(&out));
        }
        let requests = 10 * bodies().len() as u64;
        println!("callgrind {name}: {} instructions/request", (totals[1] - totals[0]) / requests);
    }
    let _ = std::fs::remove_dir_all(&dir);
}

fn instructions(out: &Path) -> u64 {
    let text = std::fs::read_to_string(out).unwrap();
    text.lines().find_map(|l| l.strip_prefix("totals: ")).and_then(|t| t.trim().parse().ok()).expect("callgrind totals")
}

fn callgrind_child(rounds: &str) {
    let rounds: usize = rounds.parse().unwrap();
    // Compiled under valgrind, for the CPU valgrind emulates; the two run lengths cancel it out.
    let plugin = Plugin::load(std::env::var("BENCH_WASM").unwrap()).unwrap();
    let mut host = start(&plugin);
    let bodies = bodies();
    let lengths: Vec<String> = bodies.iter().map(|(_, b)| b.len().to_string()).collect();
    for _ in 0..rounds {
        for ((_, body), length) in bodies.iter().zip(&lengths) {
            exchange(&mut host, body, length);
        }
    }
}
