"""`make e2e`: the compiled filter in a real Envoy 1.40, with ClickHouse 18.16 as the audit store.

Checks decisions as a client sees them, the counters at the admin /stats endpoint, a bad
policy refused by Envoy with its JSON path, and the audit path end to end: every decision lands
in ClickHouse, `guardrails verify-audit` passes on what ClickHouse returns and fails once a byte
changes, and stopping ClickHouse mid-run loses nothing. Ends with `N passed, M failed`.
"""

import json
import os
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import bootstraps  # noqa: E402
import e2e_mysql  # noqa: E402
import e2e_postgres  # noqa: E402
import e2e_llm  # noqa: E402
import e2e_masking  # noqa: E402
import e2e_mask_escapes  # noqa: E402
import e2e_mcp_sdk  # noqa: E402
import e2e_routes  # noqa: E402
import e2e_tools  # noqa: E402
from loopback import ENVOY_PORT, GUARDRAILS, MARIADB_ENVOY, POSTGRES_ENVOY, POSTGRES_PORT, RUN  # noqa: E402
from processes import ClickHouse, Envoy, Mariadb, Postgres, policy_json, send  # noqa: E402
from servers import CUSTOMER, Upstream  # noqa: E402

WAREHOUSE = "examples/warehouse/policy.yaml"
STATEMENTS = "/api/v2/statements"
AGENT = {"x-agent-id": "agent:e2e", "content-type": "application/json"}


class Results:
    """Checks with a closing `N passed, M failed` line, as `make test`'s summary reads it."""

    def __init__(self):
        self.passed, self.failed = 0, 0

    def check(self, name, ok, detail=""):
        if ok:
            self.passed += 1
            print(f"ok   {name}")
        else:
            self.failed += 1
            print(f"FAIL {name}: {detail}")
        sys.stdout.flush()

    def finish(self):
        print(f"{self.passed} passed, {self.failed} failed")
        sys.exit(1 if self.failed else 0)


def run_alone(section):
    """One section's checks by themselves (`python envoy/e2e_<section>.py`), from the repository
    root, with the closing line `make e2e` prints."""
    os.chdir(os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
    results = Results()
    section(results)
    results.finish()


def statement(sql):
    return json.dumps({"statement": sql}).encode()


def export(clickhouse, path):
    text = clickhouse.query("SELECT * FROM guardrails.audit FORMAT JSONEachRow")
    with open(path, "w") as f:
        f.write(text)
    return [line for line in text.splitlines() if line.strip()]


def verify(path):
    out = subprocess.run([GUARDRAILS, "verify-audit", path], capture_output=True, text=True)
    return out.returncode, out.stdout


def count(clickhouse):
    return int(clickhouse.query("SELECT count() FROM guardrails.audit").strip())


def wait_for_value(read, expected, timeout):
    """Polls `read()` until it reaches `expected`; False on timeout (the store may be down)."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        try:
            if read() >= expected:
                return True
        except Exception:
            pass
        time.sleep(0.2)
    return False


def main():
    os.chdir(os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
    results = Results()
    config = policy_json(WAREHOUSE)

    # A bad policy: Envoy refuses it, and the log names the JSON path.
    bad = json.loads(config)
    bad["routes"][0]["rules"][0] = "no-drop"
    ok, output = Envoy(bootstraps.guarded_http(json.dumps(bad))).validate()
    results.check("a bad policy is refused by Envoy", not ok, output[-400:])
    results.check("the refusal names the JSON path", 'routes[0].rules[0]: unknown rule "no-drop"' in output, output[-800:])
    # Every bootstrap the demo, the tests and the benchmark start passes `envoy --mode validate`.
    held = json.loads(config)
    held["proxy"] = {"allow_on_headers_stop_iteration": True}
    candidates = {
        "demo and e2e": bootstraps.guarded_http(config),
        "headers held": bootstraps.guarded_http(json.dumps(held), allow_on_headers_stop_iteration=True),
        "bench chains": bootstraps.bench_chains(config),
        "bench upstream": bootstraps.bench_upstream(),
        "postgres wire": bootstraps.postgres_wire(policy_json("examples/postgres-wire/policy.yaml")),
        "mysql wire": bootstraps.mysql_wire(policy_json("examples/mysql-wire/policy.yaml")),
        "pgbench baseline": bootstraps.pgbench_baseline(),
    }
    for name, candidate in candidates.items():
        ok, output = Envoy(candidate, name="validate").validate()
        results.check(f"the {name} bootstrap passes envoy --mode validate", ok, output[-800:])

    clickhouse = ClickHouse().start()
    clickhouse.create_audit_table()
    upstream = Upstream()
    envoy = Envoy(bootstraps.guarded_http(config), concurrency=2).start()

    # Decisions as a client sees them.
    status, headers, body = send(STATEMENTS, statement("DROP TABLE orders"), headers=AGENT)
    reply = json.loads(body or b"{}")
    results.check("DROP TABLE is denied with 403", status == 403, f"{status} {body[:200]!r}")
    results.check("the deny names its rule", reply.get("rule") == "no-drops" and headers.get("x-guardrails-decision") == "deny", repr(reply))
    status, _, body = send(STATEMENTS, statement("SELECT id FROM orders WHERE id = 1"), headers=AGENT)
    results.check("a read reaches the upstream", status == 200 and json.loads(body).get("ok"), f"{status} {body[:200]!r}")
    status, _, _ = send("/elsewhere", b"DROP TABLE x")
    results.check("an unguarded path passes", status == 200, str(status))

    # A run of decisions from 8 concurrent clients, all recorded (the unguarded request is not).
    mix = ["SELECT id FROM orders WHERE id = {i}", "DELETE FROM orders WHERE 1=1", "UPDATE orders SET status = 'x' WHERE id = {i}",
           "DROP TABLE orders", "SELECT card_number FROM customers WHERE id = {i}"]
    burst = 3000
    started = time.time()
    with ThreadPoolExecutor(max_workers=8) as pool:
        statuses = list(pool.map(lambda i: send(STATEMENTS, statement(mix[i % len(mix)].format(i=i)), headers=AGENT)[0], range(burst)))
    sent_at = time.time()
    sent = 2 + burst
    arrived = wait_for_value(lambda: count(clickhouse), sent, timeout=60)
    landed = time.time()
    tally = {s: statuses.count(s) for s in set(statuses)}
    results.check("the burst is decided", tally == {403: burst * 2 // 5, 200: burst * 3 // 5}, str(tally))
    decisions = sum(v for k, v in envoy.stats("wasmcustom.guardrails.decisions").items() if not k.endswith("would_deny"))
    results.check(f"all {sent} decisions reach ClickHouse", arrived and count(clickhouse) == sent == decisions,
                  f"{count(clickhouse)} rows, {decisions} decisions, {sent} sent")
    print(f"     {burst} requests in {sent_at - started:.2f} s ({burst / (sent_at - started):.0f}/s); every record in ClickHouse "
          f"{landed - sent_at:.2f} s after the last: {burst / (landed - started):.0f} records/s shipped end to end")

    # Shipping under load: wrk sends statement-less POSTs for 3 s. Each is decided at its headers
    # (limits.on_unparsable) and answered by Envoy, so the demo upstream does not limit the rate.
    wrk_script = os.path.join(RUN, "post.lua")
    with open(wrk_script, "w") as f:
        f.write('wrk.method = "POST"\nwrk.headers["x-agent-id"] = "agent:load"\n')
    before = count(clickhouse)
    started = time.time()
    subprocess.run(["wrk", "-t2", "-c16", "-d3s", "-s", wrk_script, f"http://127.0.0.1:{ENVOY_PORT}{STATEMENTS}"],
                   capture_output=True, text=True, timeout=60)
    loaded = time.time()
    decisions = sum(v for k, v in envoy.stats("wasmcustom.guardrails.decisions").items() if not k.endswith("would_deny"))
    accounted = lambda: int(clickhouse.query(
        "SELECT countIf(record_kind = 'decision') + sumIf(assumeNotNull(gap_count), record_kind = 'gap') FROM guardrails.audit").strip())
    arrived = wait_for_value(accounted, decisions, timeout=60)
    landed = time.time()
    shipped = count(clickhouse) - before
    audit_stats = envoy.stats("wasmcustom.guardrails.audit")
    results.check("every decision under load reaches ClickHouse or a gap record", arrived,
                  f"{accounted()} accounted, {decisions} decisions, {json.dumps(audit_stats)}")
    print(f"     under wrk: {decisions - before} decisions, {shipped} records in {landed - started:.2f} s, the last "
          f"{landed - loaded:.2f} s after the load stopped: {shipped / (landed - started):.0f} records/s shipped end to end; "
          f"dropped {audit_stats.get('wasmcustom.guardrails.audit.dropped', 0)}, failed batches "
          f"{audit_stats.get('wasmcustom.guardrails.audit.failed', 0)}")
    sent = count(clickhouse)

    export_path = os.path.join(RUN, "audit-export.ndjson")
    lines = export(clickhouse, export_path)
    code, report = verify(export_path)
    results.check("verify-audit passes on SELECT ... FORMAT JSONEachRow", code == 0, report)
    results.check("one chain per Envoy worker", report.count("chain ") >= 1 and "records in" in report, report)
    tampered = os.path.join(RUN, "audit-tampered.ndjson")
    record = json.loads(lines[len(lines) // 2])
    record["decision_effect"] = "allow" if record.get("decision_effect") == "deny" else "deny"
    with open(tampered, "w") as f:
        f.write("\n".join(lines[: len(lines) // 2] + [json.dumps(record)] + lines[len(lines) // 2 + 1:]) + "\n")
    code, report = verify(tampered)
    results.check("verify-audit fails once a record is changed", code == 1 and "tampered" in report, report)

    stats = envoy.stats("wasmcustom.guardrails")
    results.check("counters at /stats", stats.get("wasmcustom.guardrails.decisions.deny", 0) >= 1 + burst * 2 // 5
                  and stats.get("wasmcustom.guardrails.audit.sent") + stats.get("wasmcustom.guardrails.audit.dropped") >= sent,
                  json.dumps(stats))
    with open(os.path.join(RUN, "access.log")) as f:
        access = f.read()
    results.check("the decision is in the access log", '"rule":"no-drops"' in access, access[-300:])

    # ClickHouse goes away mid-run and comes back: nothing is lost.
    clickhouse.stop()
    for i in range(100):
        send(STATEMENTS, statement(f"SELECT id FROM orders WHERE id = {i}"), headers=AGENT)
        sent += 1
    time.sleep(2)
    clickhouse.start()
    arrived = wait_for_value(lambda: count(clickhouse), sent, timeout=60)
    results.check("records buffered while ClickHouse was down arrive after it returns", arrived, f"{count(clickhouse)} of {sent}")
    export(clickhouse, export_path)
    code, report = verify(export_path)
    results.check("the chain still verifies after the outage", code == 0, report)
    failed = envoy.stats("wasmcustom.guardrails.audit").get("wasmcustom.guardrails.audit.failed", 0)
    results.check("the outage shows as failed deliveries", failed > 0, str(failed))

    envoy.stop()
    header_modes(results, upstream)
    body_limits(results)
    agent_actions(results, upstream)
    e2e_routes.routes(results, upstream)
    e2e_mcp_sdk.mcp_sdk(results)
    e2e_masking.masking(results)
    e2e_mask_escapes.mask_escapes(results)
    e2e_llm.llm(results)
    wire(results, clickhouse)
    results.finish()


def chunked(path, chunks, headers):
    """A POST whose body goes as HTTP/1.1 chunks, one write each."""
    import http.client
    connection = http.client.HTTPConnection("127.0.0.1", ENVOY_PORT, timeout=10)
    connection.request("POST", path, body=iter(chunks), headers=headers, encode_chunked=True)
    response = connection.getresponse()
    body = response.read()
    connection.close()
    return response.status, body


def header_modes(results, upstream):
    """Both pause modes in a real Envoy: by default the headers of a request whose body must be
    read go on and the body is held; with allow_on_headers_stop_iteration (in Envoy and in the
    policy) a denied request never reaches the upstream at all."""
    policy = json.loads(policy_json(WAREHOUSE))
    policy.pop("audit")
    for hold in (False, True):
        policy["proxy"] = {"allow_on_headers_stop_iteration": hold}
        envoy = Envoy(bootstraps.guarded_http(json.dumps(policy), allow_on_headers_stop_iteration=hold), concurrency=1).start()
        mode = "allow_on_headers_stop_iteration" if hold else "default mode"
        before = len(upstream.received)
        status, body = chunked(STATEMENTS, [b'{"statement": "SELECT 1; DR', b'OP TABLE orders"}'], AGENT)
        results.check(f"{mode}: a DROP split across chunks is denied", status == 403 and b"no-drops" in body, f"{status} {body[:120]!r}")
        reached = [r for r in upstream.received[before:] if r[0] == "POST"]
        if hold:
            results.check(f"{mode}: the denied request never reached the upstream", not reached, repr(reached))
        else:
            results.check(f"{mode}: the statement never reached the upstream", all(b"DROP" not in r[2] for r in reached), repr(reached))
        status, body = chunked(STATEMENTS, [b'{"statement": "SELECT id FROM ', b"orders WHERE id = 1", b'"}'], AGENT)
        last = upstream.received[-1][2] if upstream.received else b""
        results.check(f"{mode}: an allowed chunked body reaches the upstream whole",
                      status == 200 and last == b'{"statement": "SELECT id FROM orders WHERE id = 1"}', f"{status} {last!r}")
        envoy.stop()


def body_limits(results):
    """The policy's own size limit against Envoy's buffer limit (1 MiB by default)."""
    policy = json.loads(policy_json(WAREHOUSE))
    policy.pop("audit")
    padding = lambda n: json.dumps({"statement": "SELECT 1 -- " + "x" * n}).encode()
    policy["limits"]["max_body_bytes"] = 65536
    envoy = Envoy(bootstraps.guarded_http(json.dumps(policy)), concurrency=1).start()
    status, _, body = send(STATEMENTS, padding(100_000), headers=AGENT)
    results.check("a body over max_body_bytes is denied by limits.on_oversize", status == 403 and b"limits.on_oversize" in body,
                  f"{status} {body[:160]!r}")
    status, _, body = send(STATEMENTS, padding(60_000), headers=AGENT)
    results.check("a large body under the limit is read and allowed", status == 200, f"{status} {body[:160]!r}")
    envoy.stop()
    policy["limits"]["max_body_bytes"] = 4 * 1048576
    envoy = Envoy(bootstraps.guarded_http(json.dumps(policy)), concurrency=1).start()
    status, _, body = send(STATEMENTS, padding(2 * 1048576), headers=AGENT)
    results.check("past Envoy's 1 MiB buffer limit Envoy answers 413 first", status == 413, f"{status} {body[:160]!r}")
    envoy.stop()


def agent_actions(results, upstream):
    """REST rules, MCP tool calls and GraphQL operations through a real Envoy, with the example
    policies: the replies clients see, and what reaches the upstream."""
    agent = {"x-agent-id": "agent:e2e", "content-type": "application/json"}

    envoy = Envoy(bootstraps.guarded_http(policy_json("examples/rest-api/policy.yaml")), concurrency=1).start()
    status, _, body = send("/api/projects/42", method="DELETE", headers=agent)
    results.check("REST: an agent's DELETE /api/projects/42 is denied", status == 403 and b"agents-no-project-deletes" in body,
                  f"{status} {body[:160]!r}")
    status, _, body = send("/api/projects/42", b"{}", headers={**agent, "x-http-method-override": "DELETE"})
    results.check("REST: so is a POST with X-HTTP-Method-Override: DELETE", status == 403, f"{status} {body[:160]!r}")
    status, _, _ = send("/api/projects/42", method="GET", headers=agent)
    results.check("REST: an agent's GET passes", status == 200, str(status))
    deploy = lambda env: json.dumps({"targets": [{"environment": "staging"}, {"environment": env}]}).encode()
    status, _, body = send("/api/deploys", deploy("prod-eu"), headers=agent)
    results.check("REST: a JSON body condition denies a production deploy", status == 403 and b"no-prod-deploys-by-agents" in body,
                  f"{status} {body[:160]!r}")
    status, _, _ = send("/api/deploys", deploy("qa"), headers=agent)
    results.check("REST: a staging deploy reaches the upstream whole", status == 200 and upstream.received[-1][2] == deploy("qa"),
                  f"{status} {upstream.received[-1][2][:80]!r}")
    query = lambda doc: json.dumps({"query": doc}).encode()
    status, _, body = send("/graphql", query("mutation { archive: deleteProject(id: 42) { id } }"), headers=agent)
    results.check("GraphQL: an aliased delete mutation is denied", status == 403 and b"agents-no-destructive-mutations" in body,
                  f"{status} {body[:160]!r}")
    status, _, _ = send("/graphql", query("{ projects { id } }"), headers=agent)
    results.check("GraphQL: a query passes", status == 200, str(status))
    envoy.stop()

    envoy = Envoy(bootstraps.guarded_http(policy_json("examples/mcp-agents/policy.yaml")), concurrency=1).start()
    mcp = {**agent, "accept": "application/json, text/event-stream"}
    call = lambda id, tool, args: {"jsonrpc": "2.0", "id": id, "method": "tools/call", "params": {"name": tool, "arguments": args}}
    status, headers, body = send("/mcp", json.dumps(call(7, "delete_project", {"id": 1})).encode(), headers=mcp)
    reply = json.loads(body or b"{}")
    results.check("MCP: a denied tool call answers the JSON-RPC error with its id",
                  status == 200 and reply.get("id") == 7 and reply.get("error", {}).get("code") == -31403
                  and reply["error"].get("data", {}).get("rule") == "agents-no-destructive-tools"
                  and headers.get("content-type") == "application/json", f"{status} {headers} {body[:200]!r}")
    status, _, body = send("/mcp", json.dumps(call("q", "run_sql", {"query": "SELECT 1; drop table orders"})).encode(), headers=mcp)
    results.check("MCP: SQL in a tool argument is decided by the SQL rules", b'"rule":"no-drops"' in body, f"{status} {body[:200]!r}")
    sent = json.dumps(call(8, "run_sql", {"query": "SELECT id FROM orders WHERE id = 1"})).encode()
    status, _, _ = send("/mcp", sent, headers=mcp)
    results.check("MCP: an allowed call reaches the server whole", status == 200 and upstream.received[-1][2] == sent, str(status))
    batch = json.dumps([call(1, "search", {}), call(2, "purge_cache", {})]).encode()
    status, _, body = send("/mcp", batch, headers=mcp)
    answers = json.loads(body or b"null")
    results.check("MCP: a batch with one denied call answers every id",
                  status == 200 and isinstance(answers, list) and [a.get("id") for a in answers] == [1, 2], f"{status} {body[:200]!r}")
    mismatch = {**mcp, "mcp-method": "tools/call", "mcp-name": "search"}
    status, _, body = send("/mcp", json.dumps(call(3, "delete_project", {})).encode(), headers=mismatch)
    results.check("MCP: Mcp-Name that disagrees with the body gets 400 HeaderMismatch",
                  status == 400 and json.loads(body or b"{}").get("error", {}).get("code") == -32020, f"{status} {body[:200]!r}")
    envoy.stop()

    envoy = Envoy(bootstraps.guarded_http(policy_json("examples/customer-api/policy.yaml")), concurrency=1).start()
    status, headers, body = send("/api/customers/7", method="GET", headers={"x-agent-id": "agent:support", "accept-encoding": "gzip"})
    text = body.decode(errors="replace")
    try:
        masked = json.loads(body)
    except ValueError:
        masked = {}
    leaked = [v for v in ("jane.doe@", "4111 1111 1111 1111", "1990-04-01", "123-45-6789", "203.0.113.9", "98-7654321") if v in text]
    results.check("masking: an agent's response is valid JSON with every sensitive value masked",
                  status == 200 and masked.get("name") == "Jane Doe" and not leaked
                  and masked.get("card") == "**** **** **** 1111", f"{status} leaked {leaked}: {text[:300]}")
    results.check("masking: the masked response has no stale content-length or encoding",
                  "content-encoding" not in headers and headers.get("content-length") in (None, str(len(body))), repr(headers))
    status, _, body = send("/api/customers/7", method="GET", headers={"x-agent-id": "alice"})
    results.check("masking: a person's response is untouched", status == 200 and json.loads(body) == CUSTOMER, body[:200])
    envoy.stop()


def wire(results, clickhouse):
    """The filter as a network filter in front of Debian's PostgreSQL and MariaDB, with real
    clients: psql (simple protocol), pgbench -M extended (Parse/Bind/Execute), mariadb."""
    pg = Postgres().start()
    envoy = pg.shop()
    code, out = pg.psql("\\set VERBOSITY verbose\nDROP TABLE orders;\nSELECT count(*) FROM orders;\n", port=POSTGRES_ENVOY, database="shop")
    results.check("psql: DROP TABLE gets ERROR 42501 naming the rule", "42501" in out and "no-drops" in out, out)
    results.check("psql: the next SELECT in the same session works", "\n25\n" in "\n" + out, out)
    _, count = pg.psql("SELECT count(*) FROM orders;", database="shop")
    results.check("psql: the table and its rows are intact", count.strip() == "25", count)
    copy = "CREATE TABLE notes (id int, body text);\nCOPY notes FROM STDIN;\n1\thello\n2\tworld\n\\.\nSELECT count(*) FROM notes;\nCOPY notes TO STDOUT;\n"
    code, out = pg.psql(copy, port=POSTGRES_ENVOY, database="shop")
    results.check("psql: COPY FROM STDIN streams its rows through", "\n2\n" in "\n" + out, out)
    results.check("psql: COPY TO STDOUT is an export, denied", "no-exports" in out and "hello" not in out, out)
    subprocess.run(["pgbench", "-i", "-q", "-h", "127.0.0.1", "-p", str(POSTGRES_PORT), "-U", "postgres", "shop"],
                   capture_output=True, check=True)
    run = subprocess.run(["pgbench", "-M", "extended", "-t", "50", "-h", "127.0.0.1", "-p", str(POSTGRES_ENVOY), "-U", "postgres", "shop"],
                         capture_output=True, text=True, timeout=120)
    results.check("pgbench -M extended: the TPC-B transactions pass", run.returncode == 0 and "50/50" in run.stdout,
                  run.stdout[-300:] + run.stderr[-300:])
    script = os.path.join(RUN, "drop.sql")
    with open(script, "w") as f:
        f.write("DROP TABLE pgbench_history;\n")
    run = subprocess.run(["pgbench", "-M", "extended", "-n", "-t", "1", "-f", script, "-h", "127.0.0.1", "-p", str(POSTGRES_ENVOY),
                          "-U", "postgres", "shop"], capture_output=True, text=True, timeout=60)
    results.check("pgbench -M extended: a prepared DROP gets the error", run.returncode != 0 and "no-drops" in run.stderr, run.stderr[-300:])
    code, out = pg.psql("SELECT count(*) > 0 FROM pgbench_history;", database="shop")
    results.check("pgbench: pgbench_history still exists", out.strip() == "t", out)
    e2e_postgres.postgres_session(results, pg)
    envoy.stop()

    maria = Mariadb().start()
    maria.sql("CREATE DATABASE shop; CREATE TABLE shop.orders (id int PRIMARY KEY, status text);"
              "INSERT INTO shop.orders VALUES (1, 'new'), (2, 'new'), (3, 'paid');")
    envoy = Envoy(bootstraps.mysql_wire(policy_json("examples/mysql-wire/policy.yaml")), concurrency=1, name="mariadb-envoy").start()
    code, out = maria.sql("USE shop;\nDROP TABLE orders;\nSELECT COUNT(*) FROM orders;\n", port=MARIADB_ENVOY)
    results.check("mariadb: DROP TABLE gets ERROR 1227 (42000) naming the rule", "(42000)" in out and "no-drops" in out, out)
    results.check("mariadb: the next SELECT in the same session works", out.startswith("3\n") or "\n3\n" in out, out)
    _, count = maria.sql("SELECT COUNT(*) FROM shop.orders;")
    results.check("mariadb: the table and its rows are intact", count.strip() == "3", count)
    envoy.stop()
    e2e_mysql.mysql_wire(results, maria)
    e2e_tools.tools(results, pg, maria)
    audit_unavailable(results, clickhouse, pg, maria)


def audited(path):
    """An example wire policy with an audit trail that must not be lost (`on_unavailable: deny`)
    and a small buffer, so that an outage of the audit store fills it quickly."""
    policy = json.loads(policy_json(path))
    policy["audit"] = {"cluster": "audit_log", "path": "/?query=INSERT%20INTO%20guardrails.audit%20FORMAT%20JSONEachRow",
                       "on_unavailable": "deny", "batch": {"max_records": 1, "flush_ms": 10}, "buffer": {"max_records": 2}}
    return json.dumps(policy)


def until_refused(run, attempts=20):
    """Runs `run` until its output names audit.on_unavailable (records are being lost)."""
    out = ""
    for _ in range(attempts):
        out = run()
        if "audit.on_unavailable" in out:
            return True, out
        time.sleep(0.3)
    return False, out


def audit_unavailable(results, clickhouse, pg, maria):
    """ClickHouse stopped, the buffer full: psql and the mariadb client get the in-band error
    naming audit.on_unavailable, and the write they sent never reaches the server."""
    clickhouse.stop()
    envoy = Envoy(bootstraps.postgres_wire(audited("examples/postgres-wire/policy.yaml")), concurrency=1, name="pg-audit-envoy").start()
    refused, out = until_refused(lambda: pg.psql("SELECT 1;", port=POSTGRES_ENVOY, database="shop")[1])
    results.check("psql: with the audit store down and the buffer full, a statement gets 42501 naming audit.on_unavailable",
                  refused and "42501" in pg.psql("\\set VERBOSITY verbose\nSELECT 1;", port=POSTGRES_ENVOY, database="shop")[1], out)
    _, out = pg.psql("INSERT INTO orders VALUES (100, 'unaudited');", port=POSTGRES_ENVOY, database="shop")
    _, count = pg.psql("SELECT count(*) FROM orders WHERE id = 100;", database="shop")
    results.check("psql: the unaudited INSERT never ran (checked on the server)", "audit.on_unavailable" in out and count.strip() == "0",
                  out + count)
    envoy.stop()

    envoy = Envoy(bootstraps.mysql_wire(audited("examples/mysql-wire/policy.yaml")), concurrency=1, name="maria-audit-envoy").start()
    refused, out = until_refused(lambda: maria.sql("USE shop;\nSELECT 1;\n", port=MARIADB_ENVOY)[1])
    results.check("mariadb: with the audit store down and the buffer full, a statement gets ERROR 1227 naming audit.on_unavailable",
                  refused and "1227" in out, out)
    _, out = maria.sql("USE shop;\nINSERT INTO orders VALUES (100, 'unaudited');\n", port=MARIADB_ENVOY)
    _, count = maria.sql("SELECT COUNT(*) FROM shop.orders WHERE id = 100;")
    results.check("mariadb: the unaudited INSERT never ran (checked on the server)", "audit.on_unavailable" in out and count.strip() == "0",
                  out + count)
    envoy.stop()


if __name__ == "__main__":
    main()
