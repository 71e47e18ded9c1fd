//! The masker's side of the masking quality benchmark (fidelity/masking/score.py): compiles every
//! built-in detector (action redact), reads the data set's JSON lines `{"id", "text", ...}` on
//! stdin and answers each with `{"id", "spans": [{"start", "end", "detector"}]}`, the raw byte
//! spans masking replaces: a JSON document's (kind `json…`) as `Masker::mask_as` masks JSON,
//! strings decoded, any other's as `Masker::find` finds them in the text as it is.
//!
//! `--bench` instead measures native throughput: `Masker::mask` over the data set's text
//! documents (as text) and its JSON documents (as JSON), and `Masker::find` alone on the same
//! texts, MB/s of input, the best pass of two seconds' worth. Then `detectors::scan` (finding
//! alone, no masking) with each detector on by itself, beside the scan with none of the costly
//! ones on (`private_key` only: its `-----BEGIN` trigger is rare), which is the loop's own
//! ceiling, and with all of them: what each detector costs, on the raw texts.

use std::collections::BTreeMap;
use std::io::{self, BufRead, BufWriter, Write};
use std::time::{Duration, Instant};

use access_guardrails::mask::detectors::{Enabled, Kind};
use access_guardrails::mask::{detectors, Action, BodyKind, MaskCache, Masker};
use serde::{Deserialize, Serialize};

#[derive(Deserialize)]
struct Document {
    id: String,
    kind: String,
    text: String,
}

#[derive(Serialize)]
struct Span<'a> {
    start: usize,
    end: usize,
    detector: &'a str,
}

#[derive(Serialize)]
struct Answer<'a> {
    id: &'a str,
    spans: Vec<Span<'a>>,
}

fn masker() -> Result<Masker, String> {
    let builtins: BTreeMap<String, Action> =
        detectors::names().into_iter().map(|name| (name.to_string(), Action::Redact)).collect();
    Masker::compile(&builtins, &[], Vec::new(), None).map_err(|errors| format!("{} detectors did not compile", errors.len()))
}

fn spans(masker: &Masker, documents: &[Document]) -> Result<(), String> {
    let mut cache = masker.cache();
    let mut out = BufWriter::new(io::stdout().lock());
    for document in documents {
        let text = document.text.as_bytes();
        let spans = if document.kind.starts_with("json") {
            let masked = masker.masked_spans(&mut cache, text, BodyKind::Json);
            masked.into_iter().map(|(span, detector)| Span { start: span.start, end: span.end, detector }).collect()
        } else {
            let found = masker.find(&mut cache, text);
            found.iter().map(|f| Span { start: f.start, end: f.end, detector: masker.detector_name(f.detector) }).collect()
        };
        serde_json::to_writer(&mut out, &Answer { id: &document.id, spans }).map_err(|err| err.to_string())?;
        out.write_all(b"\n").map_err(|err| err.to_string())?;
    }
    out.flush().map_err(|err| err.to_string())
}

/// What a pass times: masking whole bodies, or only finding the values (`Masker::find` on the
/// raw text), which shows what detection costs apart from decoding and editing.
#[derive(Clone, Copy)]
enum Work {
    Mask,
    Find,
}

/// Seconds for one pass over the documents.
fn pass(masker: &Masker, cache: &mut MaskCache, documents: &[&Document], as_json: bool, work: Work) -> f64 {
    let started = Instant::now();
    let mut out = 0usize;
    for document in documents {
        let text = document.text.as_bytes();
        out += match work {
            Work::Mask => masker.mask(cache, text, as_json).body.len(),
            Work::Find => masker.find(cache, text).len(),
        };
    }
    assert!(out > 0, "every pass has output");
    started.elapsed().as_secs_f64()
}

fn bench(masker: &Masker, documents: &[Document]) {
    let mut cache = masker.cache();
    println!("mask-spans --bench: Masker::mask natively, all {} detectors, on the data set", detectors::names().len());
    println!("  {:<8} {:>6} {:>10} {:>10} {:>10}", "kind", "docs", "bytes", "mask MB/s", "find MB/s");
    for (label, as_json) in [("text", false), ("json", true)] {
        let chosen: Vec<&Document> = documents.iter().filter(|d| d.kind.starts_with("json") == as_json).collect();
        let bytes: usize = chosen.iter().map(|d| d.text.len()).sum();
        if bytes == 0 {
            continue;
        }
        let [mask, find] = [Work::Mask, Work::Find]
            .map(|work| best_mb_per_s(bytes, Duration::from_secs(2), || pass(masker, &mut cache, &chosen, as_json, work)));
        println!("  {:<8} {:>6} {:>10} {:>10.1} {:>10.1}", label, chosen.len(), bytes, mask, find);
    }
    per_detector(documents);
}

/// MB/s of `bytes` in the best of the passes `budget` allows (one warm-up pass first).
fn best_mb_per_s(bytes: usize, budget: Duration, mut pass: impl FnMut() -> f64) -> f64 {
    pass();
    let mut best = f64::MAX;
    let started = Instant::now();
    while started.elapsed() < budget || best == f64::MAX {
        best = best.min(pass());
    }
    bytes as f64 / 1e6 / best
}

fn per_detector(documents: &[Document]) {
    let alone = |kind| Enabled::default().with(Kind::PrivateKey).with(kind);
    let all = detectors::names().iter().filter_map(|n| Kind::from_name(n)).fold(Enabled::default(), Enabled::with);
    let mut sets = vec![("scan alone (private_key)".to_string(), alone(Kind::PrivateKey))];
    sets.extend(detectors::names().iter().filter_map(|n| Some((n.to_string(), alone(Kind::from_name(n)?)))));
    sets.push(("all".to_string(), all));
    println!("detectors::scan natively, each detector alone (with private_key), MB/s of the raw texts:");
    println!("  {:<26} {:>8} {:>8}", "detectors", "text", "json");
    let kinds = [false, true].map(|json| documents.iter().filter(|d| d.kind.starts_with("json") == json).collect::<Vec<_>>());
    let mut hits = Vec::new();
    for (name, enabled) in sets {
        let [text, json] = kinds.each_ref().map(|chosen| {
            let bytes: usize = chosen.iter().map(|d| d.text.len()).sum();
            best_mb_per_s(bytes.max(1), Duration::from_millis(500), || {
                let started = Instant::now();
                for document in chosen {
                    hits.clear();
                    detectors::scan(document.text.as_bytes(), enabled, &mut hits);
                }
                started.elapsed().as_secs_f64()
            })
        });
        println!("  {:<26} {:>8.1} {:>8.1}", name, text, json);
    }
}

fn main() -> Result<(), String> {
    let bench_mode = match std::env::args().nth(1).as_deref() {
        None => false,
        Some("--bench") => true,
        Some(other) => return Err(format!("unknown argument {other:?} (only --bench)")),
    };
    let mut documents = Vec::new();
    for line in io::stdin().lock().lines() {
        let line = line.map_err(|err| err.to_string())?;
        documents.push(serde_json::from_str::<Document>(&line).map_err(|err| format!("bad input line: {err}"))?);
    }
    let masker = masker()?;
    if bench_mode {
        bench(&masker, &documents);
        Ok(())
    } else {
        spans(&masker, &documents)
    }
}
