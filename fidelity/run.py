"""The differential SQL-fidelity harness: the engine against real parsers, on a shared corpus.

    .venv/bin/python fidelity/run.py [--analyzer PATH] [--update]

Each oracle judges every statement of the corpus and keeps those it accepts, with the truth its
own tree gives (fidelity/oracles/). The engine (fidelity-analyze) reads the same statements. A
statement of a dangerous class the engine parses without naming it is a miss; a dangerous claim
the tree does not bear out is a false alarm; a statement the engine cannot parse is unparsed
(denied by default: a legitimate statement blocked). The run fails on a miss not in
fidelity/known_misses.txt and on an unparsed share above fidelity/ratchet.json's; `--update`
rewrites both from this run. The report goes to target/reports/fidelity.txt.
"""

import argparse
import hashlib
import json
import os
import re
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import corpus  # noqa: E402
from oracles import DANGEROUS  # noqa: E402
from oracles import duckdb as duckdb_oracle  # noqa: E402
from oracles import clickhouse, mariadb, postgres, second_opinion, sqlite  # noqa: E402

ROOT = corpus.ROOT
RATCHET = os.path.join(HERE, "ratchet.json")
KNOWN_MISSES = os.path.join(HERE, "known_misses.txt")
REPORT = os.path.join(ROOT, "target", "reports", "fidelity.txt")
UNPARSED = os.path.join(corpus.CACHE, "unparsed")  # <dialect>.txt: the statements we could not parse
# A claim of ours, and the oracle classes that bear it out.
CLAIMS = {
    "drop": {"drop"},
    "truncate": {"truncate"},
    "grant": {"grant/revoke"},
    "revoke": {"grant/revoke"},
    "export": {"export", "server-files"},
    "unbounded": {"unbounded-delete", "unbounded-update"},
}
EXCERPT = 160


def main():
    arguments = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    arguments.add_argument("--analyzer", default=os.path.join(ROOT, "target", "debug", "fidelity-analyze"))
    arguments.add_argument("--update", action="store_true", help="record this run's unparsed shares and misses")
    options = arguments.parse_args()

    started = time.perf_counter()
    statements = shared_corpus()
    policy = {" ".join(sql.split()) for _, sql in corpus.policy_cases()}
    policy = {text for text in statements if " ".join(text.split()) in policy}
    oracles = [postgres.Oracle(), sqlite.Oracle(), duckdb_oracle.Oracle()]
    oracles += [mariadb.Oracle()] if mariadb.available() else []
    skipped = [] if mariadb.available() else ["mariadb: not judged, mariadbd is not installed (make deps installs it)"]
    oracles += [second_opinion.Oracle(dialect, policy) for dialect in second_opinion.DIALECTS]
    oracles += [clickhouse.Oracle(corpus.clickhouse_tests(), policy)]
    results = [compare(oracle, statements, options.analyzer) for oracle in oracles]
    lines, passed, failed = verdict(results, options.update)
    lines.extend(skipped)
    save_unparsed(results)
    lines.append(f"unparsed statements, one a line: {os.path.relpath(UNPARSED, ROOT)}/<dialect>.txt")
    lines.append(f"corpus: {len(statements)} distinct statements; run took {time.perf_counter() - started:.1f} s")
    lines.append(f"{passed} passed, {failed} failed")
    os.makedirs(os.path.dirname(REPORT), exist_ok=True)
    with open(REPORT, "w") as handle:
        handle.write("\n".join(lines) + "\n")
    print("\n".join(lines))
    return 1 if failed else 0


def shared_corpus():
    """Distinct statement texts: the regression scripts' buffers and the policy corpus's SQL,
    cut at their statements (by pglast's parser, or its scanner where the parser refuses)."""
    from pglast import split  # noqa: PLC0415

    texts = corpus.psql_buffers() + [sql for _, sql in corpus.policy_cases()]
    seen = {}
    for text in texts:
        try:
            pieces = split(text)
        except Exception:  # noqa: BLE001 - the scanner itself refuses some texts: keep them whole
            try:
                pieces = split(text, with_parser=False)
            except Exception:  # noqa: BLE001
                pieces = [text]
        for piece in pieces:
            seen.setdefault(piece.strip(), None)
    return [text for text in seen if text]


class Result:
    def __init__(self, oracle, judged, ours, rate):
        self.oracle = oracle
        self.judged = judged  # [(sql, Truth)]
        self.ours = ours  # [dict], one per judged statement
        self.rate = rate
        self.unparsed = sum(not answer["parsed"] for answer in ours)
        self.misses = []  # [(class, sql)]
        self.false_alarms = []  # [(claim, sql)]
        for (sql, truth), answer in zip(judged, ours):
            if not answer["parsed"]:
                continue
            claims = set(answer["operations"]) | ({"unbounded"} if answer["unbounded"] else set())
            self.misses.extend((cls, sql) for cls in sorted(truth.classes) if not DANGEROUS[cls] & claims)
            for claim in sorted(claims & oracle.judged_claims if not truth.opaque else ()):
                if not CLAIMS[claim] & truth.classes and not (claim == "unbounded" and truth.unbounded_possible):
                    self.false_alarms.append((claim, sql))


def compare(oracle, statements, analyzer):
    judged = oracle.judge(statements)
    lines = "".join(json.dumps({"dialect": oracle.dialect, "sql": sql}) + "\n" for sql, _ in judged)
    run = subprocess.run([analyzer], input=lines, capture_output=True, text=True)
    if run.returncode != 0:
        sys.exit(f"fidelity: {analyzer} failed:\n{run.stderr[-2000:]}")
    ours = [json.loads(line) for line in run.stdout.splitlines()]
    rate = re.search(r"([0-9]+) statements/s", run.stderr)
    return Result(oracle, judged, ours, int(rate.group(1)) if rate else 0)


def fingerprint(dialect, sql):
    return hashlib.sha256(f"{dialect}\0{' '.join(sql.split())}".encode()).hexdigest()[:16]


def excerpt(sql):
    flat = " ".join(sql.split())
    return flat if len(flat) <= EXCERPT else flat[: EXCERPT - 3] + "..."


def verdict(results, update):
    known = load_known_misses()
    ratchet = load_ratchet()
    lines = [table(results), ""]
    passed = failed = 0
    found = set()
    for result in results:
        dialect = result.oracle.dialect
        share = round(result.unparsed / max(len(result.judged), 1), 5)
        limit = ratchet.get(dialect)
        keys = [(fingerprint(dialect, sql), dialect, cls) for cls, sql in result.misses]
        found.update(keys)
        new = [(cls, sql) for (cls, sql), key in zip(result.misses, keys) if key not in known]
        lines.append(f"== {dialect} ({result.oracle.name}): {len(result.misses)} misses, {len(result.misses) - len(new)} of "
                     f"them known (fidelity/known_misses.txt), {len(new)} new")  # fmt: skip
        lines.append(f"  statements by kind (the oracle's): {kinds(result)}")
        lines.append(f"  unparsed, by leading words: {leading_words(result)}")
        lines.extend(listing("miss", result.misses, keys, known))
        lines.extend(listing("false alarm", result.false_alarms, None, None))
        ok_share = update or limit is not None and share <= limit
        lines.append(f"{'ok' if ok_share else 'FAIL'}: {dialect} unparsed share {share:.5f}"
                     f" (ratchet {'none' if limit is None else f'{limit:.5f}'})")  # fmt: skip
        ok_misses = update or not new
        lines.append(f"{'ok' if ok_misses else 'FAIL'}: {dialect} misses outside the known list: {len(new)}")
        passed, failed = passed + ok_share + ok_misses, failed + (not ok_share) + (not ok_misses)
        ratchet[dialect] = share if update else ratchet.get(dialect, share)
    stale = sorted(set(known) - found)
    if stale:
        lines.append(f"{len(stale)} known misses no longer miss (run with --update to drop them): "
                     + ", ".join(f"{key[0]} {key[2]}" for key in stale[:20]))  # fmt: skip
    if update:
        save(ratchet, results)
        lines.append("updated fidelity/ratchet.json and fidelity/known_misses.txt")
    return lines, passed, failed


def table(results):
    header = ["dialect", "oracle", "statements", "unparsed", "misses by class", "false alarms by claim", "ours stmt/s",
              "oracle stmt/s"]  # fmt: skip
    rows = [header]
    for result in results:
        judged = len(result.judged)
        oracle = result.oracle
        rows.append([
            oracle.dialect, oracle.name, str(judged),
            f"{result.unparsed} ({100 * result.unparsed / max(judged, 1):.2f}%)",
            counted(result.misses), counted(result.false_alarms), str(result.rate),
            f"{oracle.attempted / max(oracle.parse_seconds, 1e-9):.0f}",
        ])  # fmt: skip
    widths = [max(len(row[column]) for row in rows) for column in range(len(header))]
    return "\n".join("  ".join(cell.ljust(width) for cell, width in zip(row, widths)).rstrip() for row in rows)


def kinds(result):
    counts = {}
    for _, truth in result.judged:
        counts[truth.kind] = counts.get(truth.kind, 0) + 1
    return ", ".join(f"{kind} {count}" for kind, count in sorted(counts.items()))


def leading_words(result, shown=10):
    """The commonest first two words of the statements we could not parse, with their counts."""
    counts = {}
    for (sql, _), answer in zip(result.judged, result.ours):
        if not answer["parsed"]:
            words = " ".join(re.sub(r"--[^\n]*|/\*.*?\*/", " ", sql, flags=re.DOTALL).split()[:2]).upper()
            counts[words] = counts.get(words, 0) + 1
    ranked = sorted(counts.items(), key=lambda item: (-item[1], item[0]))[:shown]
    return ", ".join(f"{words} {count}" for words, count in ranked) or "none"


def counted(entries):
    """`drop 3, truncate 1` for [(class, sql)], `0` for none."""
    counts = {}
    for cls, _ in entries:
        counts[cls] = counts.get(cls, 0) + 1
    return ", ".join(f"{cls} {count}" for cls, count in sorted(counts.items())) or "0"


def listing(what, entries, keys, known):
    lines = []
    for index, (cls, sql) in enumerate(entries):
        mark = "" if keys is None else (" (known)" if keys[index] in known else " (NEW)")
        lines.append(f"  {what} {cls}{mark}: {excerpt(sql)}")
    return lines


def load_known_misses():
    known = set()
    if os.path.exists(KNOWN_MISSES):
        with open(KNOWN_MISSES) as handle:
            for line in handle:
                if line.strip() and not line.startswith("#"):
                    fingerprint_, dialect, cls = line.split()[:3]
                    known.add((fingerprint_, dialect, cls))
    return known


def load_ratchet():
    if not os.path.exists(RATCHET):
        return {}
    with open(RATCHET) as handle:
        return {dialect: entry["unparsed_share"] for dialect, entry in json.load(handle).items()}


def save_unparsed(results):
    os.makedirs(UNPARSED, exist_ok=True)
    for result in results:
        with open(os.path.join(UNPARSED, f"{result.oracle.dialect}.txt"), "w") as handle:
            for (sql, _), answer in zip(result.judged, result.ours):
                if not answer["parsed"]:
                    handle.write(" ".join(sql.split()) + "\n")


def save(ratchet, results):
    with open(RATCHET, "w") as handle:
        json.dump({dialect: {"unparsed_share": share} for dialect, share in sorted(ratchet.items())}, handle, indent=2)
        handle.write("\n")
    with open(KNOWN_MISSES, "w") as handle:
        handle.write("# Misses fidelity/run.py knows of: fingerprint, dialect, class, then the statement (for reading only).\n"
                     "# Written by `fidelity/run.py --update`; a miss not listed here fails the run.\n")  # fmt: skip
        for result in results:
            dialect = result.oracle.dialect
            for cls, sql in sorted(result.misses):
                handle.write(f"{fingerprint(dialect, sql)} {dialect} {cls} {excerpt(sql)[:100]}\n")


if __name__ == "__main__":
    sys.exit(main())
