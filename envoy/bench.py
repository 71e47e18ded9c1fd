"""`make bench-envoy`: wrk against a real Envoy 1.40, three chains side by side in one run.

1. native: Envoy's own buffer filter, then the router (the baseline);
2. empty-wasm: an empty proxy-wasm filter built like ours (the wasm floor);
3. guardrails: Access Guardrails with examples/warehouse/policy.yaml (its audit section removed:
   this measures deciding, not shipping).

Each chain is its own listener of one Envoy with one worker; the upstream is a second Envoy
answering 200, so no chain's body is cut short at the headers. wrk posts a mixed corpus of
Snowflake statements from about 80 bytes to 4 KB, with fixed threads and connections, and the
chains run in alternation, twice each, the better run counting. Prints rps, p50 and p99 latency,
the ratios, the .wasm sizes and Envoy's heap before and after. Report, never assert.
"""

import json
import os
import re
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import bootstraps  # noqa: E402
from loopback import BENCH_ADMIN, BENCH_CHAIN_PORTS, EMPTY_WASM, PLAIN_PORT, POSTGRES_ENVOY, POSTGRES_PORT, ROOT, RUN, WASM  # noqa: E402
from processes import Envoy, Postgres, http, policy_json  # noqa: E402

DURATION = os.environ.get("BENCH_DURATION", "8s")
CONNECTIONS = os.environ.get("BENCH_CONNECTIONS", "16")

CORPUS = [
    "UPDATE orders SET status = 'shipped', updated_at = CURRENT_TIMESTAMP WHERE id = 4211",
    "SELECT id, email, created_at FROM users WHERE id = 42",
    "DROP TABLE users",
    "DELETE FROM orders WHERE 1=1",
    "WITH recent AS (SELECT user_id, count(*) AS n FROM events WHERE ts > CURRENT_DATE - 7 GROUP BY user_id) "
    "SELECT u.id, u.name, r.n FROM users u JOIN recent r ON r.user_id = u.id WHERE r.n > 10 ORDER BY r.n DESC LIMIT 50",
    "SELECT " + ", ".join(f"e.col_{i}" for i in range(60)) + " FROM analytics.events e WHERE e.region IN ("
    + ", ".join(f"'r{i}'" for i in range(200)) + ") LIMIT 100",
    "INSERT INTO orders (id, customer_id, status, total) VALUES "
    + ", ".join(f"({i}, {i * 7}, 'new', {i * 3}.50)" for i in range(120)),
]


def wrk_script():
    path = os.path.join(RUN, "bench.lua")
    bodies = ",\n".join(json.dumps(json.dumps({"statement": sql})) for sql in CORPUS)
    with open(path, "w") as f:
        f.write(f"""local bodies = {{
{bodies}
}}
local i = 0
request = function()
  i = i % #bodies + 1
  return wrk.format("POST", "/api/v2/statements", {{["content-type"] = "application/json", ["x-agent-id"] = "agent:bench"}}, bodies[i])
end
""")
    return path


def run_wrk(port, script):
    out = subprocess.run(["wrk", "-t1", f"-c{CONNECTIONS}", f"-d{DURATION}", "--latency", "-s", script,
                          f"http://127.0.0.1:{port}/api/v2/statements"], capture_output=True, text=True, timeout=300).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    latency = {}
    for pct in ("50", "99"):
        value, unit = re.search(rf"\s{pct}%\s+([\d.]+)(us|ms|s)", out).groups()
        latency[pct] = float(value) * {"us": 1, "ms": 1000, "s": 1_000_000}[unit]
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    return {"rps": rps, "p50": latency["50"], "p99": latency["99"], "non2xx": int(non2xx.group(1)) if non2xx else 0}


def heap(admin):
    _, _, body = http("GET", f"http://127.0.0.1:{admin}/memory")
    return int(json.loads(body)["allocated"])


def main():
    os.chdir(ROOT)
    policy = json.loads(policy_json("examples/warehouse/policy.yaml"))
    policy.pop("audit", None)
    upstream = Envoy(bootstraps.bench_upstream(), concurrency=1, name="bench-upstream").start()
    bench = Envoy(bootstraps.bench_chains(json.dumps(policy)), concurrency=1, name="bench").start()
    script = wrk_script()
    heap_before = heap(BENCH_ADMIN)
    results = {name: None for name in BENCH_CHAIN_PORTS}
    for _ in range(2):
        for name, port in BENCH_CHAIN_PORTS.items():
            run = run_wrk(port, script)
            if results[name] is None or run["rps"] > results[name]["rps"]:
                results[name] = run
    heap_after = heap(BENCH_ADMIN)
    native, floor, ours = results["native"], results["empty-wasm"], results["guardrails"]
    print(f"wrk -t1 -c{CONNECTIONS} -d{DURATION}, {len(CORPUS)} statements of {min(map(len, CORPUS))}-{max(map(len, CORPUS))} bytes, "
          "Envoy 1.40 with 1 worker, best of 2")
    print(f"{'chain':<12} {'rps':>9} {'p50 µs':>9} {'p99 µs':>9} {'non-2xx':>8} {'vs native':>10} {'vs empty':>9}")
    for name, r in results.items():
        print(f"{name:<12} {r['rps']:>9.0f} {r['p50']:>9.0f} {r['p99']:>9.0f} {r['non2xx']:>8} "
              f"{r['rps'] / native['rps']:>9.2f}x {r['rps'] / floor['rps']:>8.2f}x")
    print(f"p99 added over the wasm floor: {ours['p99'] - floor['p99']:.0f} µs")
    print(f".wasm: access_guardrails {os.path.getsize(WASM)} bytes, empty_filter {os.path.getsize(EMPTY_WASM)} bytes")
    print(f"Envoy heap: {heap_before / 1048576:.1f} MiB before, {heap_after / 1048576:.1f} MiB after the runs")
    print("(non-2xx: the corpus's DROP and unbounded DELETE are denied with 403 by Access Guardrails)")
    bench.stop()
    upstream.stop()
    pgbench()


def run_pgbench(port, mode):
    args = ["pgbench", "-M", "extended", "-c", "8", "-j", "2", "-T", os.environ.get("BENCH_PGBENCH_SECONDS", "8"),
            "-h", "127.0.0.1", "-p", str(port), "-U", "postgres", "shop"]
    if mode == "select-only":
        args.insert(1, "-S")
    out = subprocess.run(args, capture_output=True, text=True, timeout=120)
    match = re.search(r"tps = ([0-9.]+)", out.stdout)
    return float(match.group(1)) if match else 0.0


def pgbench():
    """pgbench -M extended through Envoy's tcp_proxy with and without the filter (the
    postgres-wire example policy), alternating, best of 2."""
    pg = Postgres().start()
    pg.psql("CREATE DATABASE shop;")
    subprocess.run(["pgbench", "-i", "-q", "-s", "2", "-h", "127.0.0.1", "-p", str(POSTGRES_PORT), "-U", "postgres", "shop"],
                   capture_output=True, check=True)
    plain = Envoy(bootstraps.pgbench_baseline(), concurrency=1, name="pgbench-plain").start()
    guarded = Envoy(bootstraps.postgres_wire(policy_json("examples/postgres-wire/policy.yaml")), concurrency=1,
                    name="pgbench-guarded").start()
    print("pgbench -M extended -c 8 -j 2, Envoy 1.40 with 1 worker, tcp_proxy alone against the filter before it, best of 2")
    print(f"{'workload':<14} {'tcp_proxy tps':>14} {'guardrails tps':>15} {'ratio':>7}")
    for mode in ("select-only", "tpc-b"):
        best = {"plain": 0.0, "guarded": 0.0}
        for _ in range(2):
            best["plain"] = max(best["plain"], run_pgbench(PLAIN_PORT, mode))
            best["guarded"] = max(best["guarded"], run_pgbench(POSTGRES_ENVOY, mode))
        ratio = best["guarded"] / best["plain"] if best["plain"] else 0.0
        print(f"{mode:<14} {best['plain']:>14.0f} {best['guarded']:>15.0f} {ratio:>6.2f}x")
    plain.stop()
    guarded.stop()


if __name__ == "__main__":
    if sys.argv[1:] == ["pgbench"]:
        os.chdir(ROOT)
        pgbench()
    else:
        main()
