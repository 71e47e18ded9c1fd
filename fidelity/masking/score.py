"""Scores the masker's detectors, and Presidio's pattern recognizers, on the labeled data set
(generate.py): per detector, recall (labeled values a span of the right type overlaps), precision
(spans that overlap a labeled value of the right type, over all its spans) and F1; overall on
the types Presidio covers and on all types. The secret detectors count as one family: a secret
masked by another secret detector is masked (a detector name this script does not know, as new
ones are added, is taken for a secret detector).

    score.py [--presidio] [--detect-secrets] [--findings FILE] [--ratchet RATCHET [--update-ratchet]] [--spans-bin BIN]

Ours come from the mask-spans bin, every built-in detector on: the raw spans masking replaces, a
JSON document's as `Masker::mask_as` masks JSON (strings decoded), any other's as `Masker::find`
finds them in the text. `--presidio` adds Presidio's column (presidio_spans.py),
`--detect-secrets` Yelp's detect-secrets' (detect_secrets_spans.py), each on the types it covers.
`--findings` writes, per detector, counts of misses by value variant and of false positives by
look-alike, and the 15 most telling of each with their context. `--ratchet` fails when one of
our detectors falls below its recall or precision floor in RATCHET, and ends with the line
`N passed, M failed` (one check per floor) that make test's summary adds up.
"""

import argparse
import hashlib
import json
import math
import subprocess
import sys
from collections import Counter, defaultdict
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent
PII = ["email", "phone", "credit_card", "us_ssn", "iban", "ipv4", "ipv6"]
SECRETS = ["aws_access_key", "github_token", "slack_token", "jwt", "private_key", "api_key"]
TYPES = PII + SECRETS


def kind_of(detector):
    """The label type a detector's spans stand for (`secret` for a detector added later)."""
    return detector if detector in TYPES else "secret"


def right_type(detector, label_type):
    kind = kind_of(detector)
    return kind == label_type or (label_type in SECRETS and (kind in SECRETS or kind == "secret"))


def overlapping(span, labels):
    return [label for label in labels if span["start"] < label["end"] and label["start"] < span["end"]]


class Tally:
    """Counts for one detector (or one overall row) of one system."""

    def __init__(self):
        self.labels = self.found = self.spans = self.correct = 0

    def scores(self):
        recall = self.found / self.labels if self.labels else None
        precision = self.correct / self.spans if self.spans else None
        if recall is None or precision is None:
            return recall, precision, None
        f1 = 2 * recall * precision / (recall + precision) if recall + precision else 0.0
        return recall, precision, f1


def rows(kind, detector=None):
    """The table rows a value or span of this type counts in: its own, and the overall ones."""
    kinds = SECRETS if kind == "secret" else [kind]
    return [detector or kind] + [name for name, types in OVERALL.items() if set(kinds) & set(types)]


def evaluate(docs, spans_of):
    """Tallies per detector and overall, and the misses and false positives themselves."""
    tallies = defaultdict(Tally)
    misses, false_positives = defaultdict(list), defaultdict(list)
    for doc in docs:
        spans = spans_of.get(doc["id"], [])
        for label in doc["labels"]:
            hit = any(right_type(s["detector"], label["type"]) for s in overlapping(label, spans))
            for row in rows(label["type"]):
                tallies[row].labels += 1
                tallies[row].found += hit
            if not hit:
                misses[label["type"]].append((doc, label))
        for span in spans:
            good = any(right_type(span["detector"], label["type"]) for label in overlapping(span, doc["labels"]))
            for row in rows(kind_of(span["detector"]), span["detector"]):
                tallies[row].spans += 1
                tallies[row].correct += good
            if not good:
                false_positives[span["detector"]].append((doc, span))
    return tallies, misses, false_positives


def our_spans(docs_path, spans_bin):
    with open(docs_path, "rb") as stdin:
        out = subprocess.run([spans_bin], stdin=stdin, capture_output=True, check=True).stdout
    return {row["id"]: row["spans"] for row in map(json.loads, out.splitlines())}


def percent(value):
    return "    -" if value is None else f"{100 * value:5.1f}"


OVERALL = {"presidio types": PII, "secret types": SECRETS, "all": TYPES}
PEERS = {"presidio": PII, "detect-secrets": SECRETS}


def table(columns):
    """One row per detector: labeled values, then recall, precision, F1 of each system on the
    types it covers."""
    names = list(columns)
    extra = sorted({d for tallies, _, _ in columns.values() for d in tallies} - set(TYPES) - set(OVERALL))
    head = f"{'detector':<16} {'values':>6}" + "".join(f" | {name + ' R':>16} {'P':>5} {'F1':>5}" for name in names)
    lines = [head, "-" * len(head)]
    for row in TYPES + extra + list(OVERALL):
        first = columns[names[0]][0].get(row)
        cells = ""
        for name in names:
            covered = PEERS.get(name, TYPES)
            if row not in covered and not (row in OVERALL and set(OVERALL[row]) <= set(covered)):
                cells += f" | {'':>16} {'':>5} {'':>5}"
                continue
            recall, precision, f1 = columns[name][0].get(row, Tally()).scores()
            cells += f" | {percent(recall):>16} {percent(precision):>5} {percent(f1):>5}"
        if row == "presidio types":
            lines.append("-" * len(head))
        lines.append(f"{row:<16} {first.labels if first else 0:>6}{cells}")
    return "\n".join(lines)


def context(doc, start, end, width=50):
    raw = doc["text"].encode()
    before = raw[max(0, start - width):start].decode(errors="replace")
    after = raw[end:end + width].decode(errors="replace")
    value = raw[start:end].decode(errors="replace")
    return json.dumps(f"{before}⟦{value}⟧{after}", ensure_ascii=False)


def telling(items, key, limit=15):
    """Up to `limit` items, round-robin over their groups, most frequent group first."""
    groups = defaultdict(list)
    for item in items:
        groups[key(item)].append(item)
    order = sorted(groups, key=lambda g: (-len(groups[g]), g))
    chosen, depth = [], 0
    while len(chosen) < limit and any(depth < len(groups[g]) for g in order):
        for group in order:
            if depth < len(groups[group]) and len(chosen) < limit:
                chosen.append((group, groups[group][depth]))
        depth += 1
    return chosen, Counter({g: len(groups[g]) for g in order})


def decoy_kind(doc, span):
    kinds = sorted({d["kind"] for d in overlapping(span, doc.get("decoys", []))})
    labels = sorted({label["type"] for label in overlapping(span, doc["labels"])})
    return "look-alike " + "+".join(kinds) if kinds else ("other type " + "+".join(labels) if labels else f"unlabeled in {doc['kind']}")


def findings(name, evaluation, types):
    _, misses, false_positives = evaluation
    out = [f"## {name}: misses and false positives per detector", ""]
    for detector in types + sorted(set(false_positives) - set(TYPES)):
        missed = misses.get(detector, [])
        wrong = false_positives.get(detector, [])
        if not missed and not wrong:
            continue
        out.append(f"### {detector}")
        if missed:
            chosen, counts = telling(missed, lambda m: f"{m[0]['kind']}:{m[1]['sub'].split('/')[0]}")
            out.append(f"{len(missed)} missed; by document kind and variant: " + ", ".join(f"{g} {n}" for g, n in counts.most_common()))
            out += [f"- FN [{g}] {m[0]['id']}: {context(m[0], m[1]['start'], m[1]['end'])}" for g, m in chosen]
        if wrong:
            chosen, counts = telling(wrong, lambda w: decoy_kind(*w))
            out.append(f"{len(wrong)} false positives; by what was matched: " + ", ".join(f"{g} {n}" for g, n in counts.most_common()))
            out += [f"- FP [{g}] {w[0]['id']}: {context(w[0], w[1]['start'], w[1]['end'])}" for g, w in chosen]
        out.append("")
    return "\n".join(out)


def by_kind(docs, spans_of):
    """Our recall and precision per document kind (escaped JSON apart from plain)."""
    kinds = sorted({doc["kind"] for doc in docs})
    lines = [f"{'kind':<22} {'values':>6} {'R':>6} {'P':>6}"]
    for kind in kinds:
        tallies, _, _ = evaluate([d for d in docs if d["kind"] == kind], spans_of)
        recall, precision, _ = tallies["all"].scores()
        lines.append(f"{kind:<22} {tallies['all'].labels:>6} {percent(recall):>6} {percent(precision):>6}")
    return "\n".join(lines)


def ratchet(tallies, floors):
    """Each detector's recall and precision against its floor: (passed, failed, messages)."""
    passed, failed, lines = 0, 0, []
    for detector, floor in sorted(floors.items()):
        recall, precision, _ = tallies.get(detector, Tally()).scores()
        for measure, value in (("recall", recall or 0.0), ("precision", 1.0 if precision is None else precision)):
            ok = value + 1e-9 >= floor[measure]
            passed, failed = passed + ok, failed + (not ok)
            if not ok:
                lines.append(f"FAIL {detector} {measure} {100 * value:.1f}% is below its floor {100 * floor[measure]:.1f}%")
    for detector in sorted(set(tallies) - set(floors) - set(OVERALL)):
        lines.append(f"note: detector {detector} has no floor yet")
    return passed, failed, lines


def measured_floors(tallies):
    """Today's recall and precision per detector, rounded down to 0.1%: the floors to hold."""
    floors = {}
    for detector in sorted(set(tallies) - set(OVERALL)):
        recall, precision, _ = tallies[detector].scores()
        floors[detector] = {"recall": math.floor(1000 * (recall or 0.0)) / 1000,
                            "precision": math.floor(1000 * (1.0 if precision is None else precision)) / 1000}
    return floors


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--dataset", type=Path, default=ROOT / "target/masking/dataset.jsonl")
    parser.add_argument("--spans-bin", default=str(ROOT / "target/release/mask-spans"))
    parser.add_argument("--presidio", action="store_true")
    parser.add_argument("--detect-secrets", action="store_true")
    parser.add_argument("--findings", type=Path)
    parser.add_argument("--ratchet", type=Path)
    parser.add_argument("--update-ratchet", action="store_true", help="write today's values to RATCHET as its floors")
    args = parser.parse_args()
    raw = args.dataset.read_bytes()
    docs = [json.loads(line) for line in raw.splitlines()]
    ours = our_spans(args.dataset, args.spans_bin)
    columns = {"ours": evaluate(docs, ours)}
    if args.presidio:
        from presidio_spans import presidio_spans
        spans = presidio_spans(docs, hashlib.sha256(raw).hexdigest(), args.dataset.parent / "presidio.jsonl")
        columns["presidio"] = evaluate(docs, spans)
    if args.detect_secrets:
        from detect_secrets_spans import detect_secrets_spans
        spans = detect_secrets_spans(docs, hashlib.sha256(raw).hexdigest(), args.dataset.parent / "detect-secrets.jsonl")
        columns["detect-secrets"] = evaluate(docs, spans)
    labels = sum(len(d["labels"]) for d in docs)
    decoys = sum(len(d.get("decoys", [])) for d in docs)
    print(f"masking quality: {len(docs)} documents, {labels} labeled values, {decoys} look-alikes ({args.dataset.name})")
    print("R recall, P precision, F1, in %; each peer on the types it covers (Presidio PII, detect-secrets secrets)")
    print(table(columns))
    print()
    print(by_kind(docs, ours))
    if args.findings:
        text = ["# Masking quality findings (fidelity/masking/score.py --presidio --findings)", "", "```", table(columns), "```", ""]
        text += [findings(name, evaluation, PEERS.get(name, TYPES)) for name, evaluation in columns.items()]
        args.findings.write_text("\n".join(text))
        print(f"findings: {args.findings}")
    if args.ratchet and args.update_ratchet:
        args.ratchet.write_text(json.dumps(measured_floors(columns["ours"][0]), indent=2) + "\n")
        print(f"floors written to {args.ratchet}")
    elif args.ratchet:
        passed, failed, lines = ratchet(columns["ours"][0], json.loads(args.ratchet.read_text()))
        print("\n".join(lines + [f"{passed} passed, {failed} failed"]))
        sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
