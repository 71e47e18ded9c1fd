"""The engine's own rate on the PostgreSQL regression statements pglast accepts, natively.

    .venv/bin/python fidelity/bench.py [--analyzer PATH] [--against PATH] [--rounds N]

The statements are the fidelity harness's (run.py): the regression scripts' and the policy
corpus's, those PostgreSQL's parser accepts, fed as JSON lines to a release fidelity-analyze,
which reports its analysis time only. Shared machines are noisy: the binaries run in turn
(`--against` names another build, e.g. one of an older commit in a worktree of its own), and each
one's median and its median ratio to the first are printed. Nothing is asserted.
"""

import argparse
import json
import os
import re
import statistics
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import run  # noqa: E402
from oracles import postgres  # noqa: E402


def main():
    arguments = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    arguments.add_argument("--analyzer", default=os.path.join(run.ROOT, "target", "release", "fidelity-analyze"))
    arguments.add_argument("--against", action="append", default=[], help="another analyzer binary, run in turn")
    arguments.add_argument("--rounds", type=int, default=7)
    options = arguments.parse_args()

    judged = postgres.Oracle().judge(run.shared_corpus())
    lines = "".join(json.dumps({"dialect": "postgres", "sql": sql}) + "\n" for sql, _ in judged)
    binaries = options.against + [options.analyzer]
    rates = {binary: [] for binary in binaries}
    for _ in range(options.rounds):
        for binary in binaries:
            rates[binary].append(rate(binary, lines))
    first = rates[binaries[0]]
    print(f"engine on {len(judged)} PostgreSQL regression statements, {options.rounds} rounds:")
    for binary in binaries:
        ratio = statistics.median(ours / theirs for ours, theirs in zip(rates[binary], first))
        name = os.path.relpath(binary, run.ROOT) if binary.startswith(run.ROOT) else binary
        print(f"  {name}: median {statistics.median(rates[binary]):,.0f} statements/s, x{ratio:.3f} of the first")
    return 0


def rate(binary, lines):
    done = subprocess.run([binary], input=lines, capture_output=True, text=True)
    found = re.search(r"([0-9]+) statements/s", done.stderr)
    if done.returncode != 0 or not found:
        sys.exit(f"bench: {binary} failed:\n{done.stderr[-2000:]}")
    return int(found.group(1))


if __name__ == "__main__":
    sys.exit(main())
