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
from harness import POSTGRES_ENVOY, POSTGRES_PORT, RUN, WASM, Envoy, Postgres, http, policy_json, wire_bootstrap  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
EMPTY_WASM = os.path.join(os.path.dirname(WASM), "empty_filter.wasm")
PORTS = {"native": 18110, "empty-wasm": 18111, "guardrails": 18112}
UPSTREAM, UPSTREAM_ADMIN, ADMIN = 18115, 18116, 18117
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


def cluster(name, port):
    return {"name": name, "type": "STATIC", "connect_timeout": "1s",
            "load_assignment": {"cluster_name": name, "endpoints": [{"lb_endpoints": [
                {"endpoint": {"address": {"socket_address": {"address": "127.0.0.1", "port_value": port}}}}]}]}}


def listener(name, port, filters, route):
    return {"name": name, "address": {"socket_address": {"address": "127.0.0.1", "port_value": port}},
            "filter_chains": [{"filters": [{"name": "envoy.filters.network.http_connection_manager", "typed_config": {
                "@type": "type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager",
                "stat_prefix": name,
                "route_config": {"virtual_hosts": [{"name": "all", "domains": ["*"], "routes": [dict({"match": {"prefix": "/"}}, **route)]}]},
                "http_filters": filters + [{"name": "envoy.filters.http.router", "typed_config": {
                    "@type": "type.googleapis.com/envoy.extensions.filters.http.router.v3.Router"}}]}}]}]}


def wasm_filter(path, configuration):
    return {"name": "envoy.filters.http.wasm", "typed_config": {
        "@type": "type.googleapis.com/envoy.extensions.filters.http.wasm.v3.Wasm",
        "config": {"name": os.path.basename(path), "vm_config": {"runtime": "envoy.wasm.runtime.v8", "code": {"local": {"filename": path}}},
                   "configuration": {"@type": "type.googleapis.com/google.protobuf.StringValue", "value": configuration}}}}


def chains(policy):
    to_upstream = {"route": {"cluster": "upstream"}}
    native = [{"name": "envoy.filters.http.buffer", "typed_config": {
        "@type": "type.googleapis.com/envoy.extensions.filters.http.buffer.v3.Buffer", "max_request_bytes": 1048576}}]
    return {
        "admin": {"address": {"socket_address": {"address": "127.0.0.1", "port_value": ADMIN}}},
        "static_resources": {
            "listeners": [
                listener("native", PORTS["native"], native, to_upstream),
                listener("empty_wasm", PORTS["empty-wasm"], [wasm_filter(EMPTY_WASM, "{}")], to_upstream),
                listener("guardrails", PORTS["guardrails"], [wasm_filter(WASM, policy)], to_upstream),
            ],
            "clusters": [cluster("upstream", UPSTREAM)],
        },
    }


def upstream_config():
    return {
        "admin": {"address": {"socket_address": {"address": "127.0.0.1", "port_value": UPSTREAM_ADMIN}}},
        "static_resources": {"listeners": [listener("upstream", UPSTREAM, [], {
            "direct_response": {"status": 200, "body": {"inline_string": "{\"data\": []}"}}})]},
    }


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
    upstream = Envoy(upstream_config(), concurrency=1, name="bench-upstream").start()
    bench = Envoy(chains(json.dumps(policy)), concurrency=1, name="bench").start()
    script = wrk_script()
    heap_before = heap(ADMIN)
    results = {name: None for name in PORTS}
    for _ in range(2):
        for name, port in PORTS.items():
            run = run_wrk(port, script)
            if results[name] is None or run["rps"] > results[name]["rps"]:
                results[name] = run
    heap_after = heap(ADMIN)
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


PLAIN_PORT, PLAIN_ADMIN = 18132, 18151


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
    plain = Envoy(wire_bootstrap(None, PLAIN_PORT, POSTGRES_PORT, admin=PLAIN_ADMIN), concurrency=1, name="pgbench-plain").start()
    guarded = Envoy(wire_bootstrap(policy_json("examples/postgres-wire/policy.yaml"), POSTGRES_ENVOY, POSTGRES_PORT),
                    concurrency=1, name="pgbench-guarded").start()
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
