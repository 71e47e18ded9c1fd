"""`make demo`: Access Guardrails in a real Envoy, in front of a real database.

Starts a Snowflake-style SQL API (POST /api/v2/statements, {"statement": ...}) backed by a
SQLite database, Envoy 1.40 with the filter and examples/warehouse/policy.yaml, and ClickHouse
as the audit store. Plays a session of an agent and a person, prints each decision, then the
audit trail from ClickHouse and its verification, and proves the data is intact. `--keep`
leaves everything running and prints how to try it by hand.
"""

import json
import os
import sqlite3
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import bootstraps  # noqa: E402
from loopback import CLICKHOUSE_HTTP, ENVOY_ADMIN, ENVOY_PORT, GUARDRAILS, POSTGRES_ENVOY, RUN, UPSTREAM_PORT  # noqa: E402
from processes import ClickHouse, Envoy, Postgres, policy_json, send, workdir  # noqa: E402
from servers import serve  # noqa: E402

POLICY = "examples/warehouse/policy.yaml"
STATEMENTS = "/api/v2/statements"
AGENT = {"x-agent-id": "agent:support-bot", "content-type": "application/json"}
PERSON = {"x-agent-id": "alice@example.com", "content-type": "application/json"}

SESSION = [
    (AGENT, "SELECT id, status FROM orders WHERE customer_id = 1"),
    (AGENT, "UPDATE orders SET status = 'shipped', updated_at = CURRENT_TIMESTAMP WHERE id = 2"),
    (AGENT, "DROP TABLE orders"),
    (AGENT, "DELETE FROM orders"),
    (AGENT, "DELETE FROM orders WHERE 1=1"),
    (PERSON, "COPY INTO @exfil/customers FROM customers"),
    (AGENT, "SELECT 1; /* just checking */ DROP TABLE customers"),
    (AGENT, "UPDATE orders SET status = 'cancelled' WHERE id = 3; DELETE FROM customers"),
    (AGENT, "SELECT name, card_number FROM customers WHERE id = 1"),
    (PERSON, "SELECT count(*) FROM orders"),
]


class Warehouse:
    """A SQL-over-HTTP API in the shape of Snowflake's, executing on SQLite."""

    def __init__(self):
        self.path = os.path.join(workdir("warehouse"), "warehouse.db")
        db = sqlite3.connect(self.path)
        db.executescript("""
            CREATE TABLE customers (id INTEGER PRIMARY KEY, name TEXT, email TEXT, card_number TEXT);
            CREATE TABLE orders (id INTEGER PRIMARY KEY, customer_id INTEGER, status TEXT, total REAL, updated_at TEXT);
            INSERT INTO customers VALUES (1, 'Ada', 'ada@example.com', '4111111111111111'),
                                         (2, 'Grace', 'grace@example.com', '5500000000000004');
            INSERT INTO orders VALUES (1, 1, 'new', 20.5, NULL), (2, 1, 'paid', 99.0, NULL),
                                      (3, 2, 'paid', 12.0, NULL), (4, 2, 'new', 5.0, NULL);
        """)
        db.commit()
        db.close()
        self.lock = threading.Lock()

        def answer(method, path, body):
            try:
                return 200, self.execute(json.loads(body)["statement"])
            except Exception as error:  # the API answers errors, as Snowflake's does
                return 422, {"message": str(error)}

        self.server = serve(UPSTREAM_PORT, answer)

    def execute(self, sql):
        with self.lock:
            db = sqlite3.connect(self.path)
            try:
                if sql.lstrip().upper().startswith("SELECT"):
                    return {"data": db.execute(sql).fetchall()}
                db.executescript(sql)
                db.commit()
                return {"data": [], "rowsAffected": db.total_changes}
            finally:
                db.close()

    def facts(self):
        db = sqlite3.connect(self.path)
        tables = sorted(r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'"))
        counts = {t: db.execute(f"SELECT count(*) FROM {t}").fetchone()[0] for t in tables}
        db.close()
        return counts


def table(rows, header):
    widths = [max(len(str(r[i])) for r in rows + [header]) for i in range(len(header))]
    line = lambda r: "  ".join(str(c).ljust(w) for c, w in zip(r, widths))
    print(line(header))
    print("  ".join("-" * w for w in widths))
    for row in rows:
        print(line(row))


def short(text, width):
    text = " ".join(text.split())
    return text if len(text) <= width else text[: width - 1] + "…"


def main():
    os.chdir(os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
    keep = "--keep" in sys.argv
    print("Starting ClickHouse (audit store), the warehouse API (SQLite behind it), and Envoy 1.40 with")
    print(f"Access Guardrails and {POLICY} ...\n")
    clickhouse = ClickHouse().start()
    clickhouse.create_audit_table()
    warehouse = Warehouse()
    before = warehouse.facts()
    envoy = Envoy(bootstraps.guarded_http(policy_json(POLICY)), concurrency=1).start()

    rows = []
    for headers, sql in SESSION:
        status, reply_headers, body = send(STATEMENTS, json.dumps({"statement": sql}).encode(), headers=headers)
        actor = headers["x-agent-id"]
        if status == 403:
            reply = json.loads(body)
            decision, rule = "DENY", reply.get("rule") or "(route default)"
        else:
            decision, rule = f"allow ({status})", "-"
        rows.append((short(sql, 58), actor, decision, rule))
    print("The session, through Envoy:\n")
    table(rows, ("request", "actor", "decision", "rule"))

    print("\nWaiting for the audit batch (flush_ms: 1000) ...")
    deadline = time.time() + 15
    while time.time() < deadline and int(clickhouse.query("SELECT count() FROM guardrails.audit").strip()) < len(SESSION):
        time.sleep(0.2)
    audit = clickhouse.query(
        "SELECT chain_seq, actor_principal, decision_effect, decision_rule, decision_would, action_statement "
        "FROM guardrails.audit ORDER BY chain_seq FORMAT JSONEachRow")
    records = [json.loads(line) for line in audit.splitlines() if line.strip()]
    print(f"\nThe audit trail in ClickHouse (guardrails.audit, {len(records)} records):\n")
    table([(r["chain_seq"], r["actor_principal"], r["decision_effect"], r["decision_rule"] or "-", r["decision_would"] or "-",
            short(r["action_statement"] or "", 40)) for r in records],
          ("seq", "actor", "effect", "rule", "would deny", "statement"))

    export = os.path.join(RUN, "demo-audit.ndjson")
    with open(export, "w") as f:
        f.write(clickhouse.query("SELECT * FROM guardrails.audit FORMAT JSONEachRow"))
    print("\nguardrails verify-audit (SELECT * FROM guardrails.audit FORMAT JSONEachRow):")
    verified = subprocess.run([GUARDRAILS, "verify-audit", export], capture_output=True, text=True)
    print("  " + verified.stdout.strip().replace("\n", "\n  "))

    after = warehouse.facts()
    print("\nThe data is intact:")
    for name in sorted(before):
        print(f"  {name}: {'still there' if name in after else 'GONE'}, {before[name]} rows before, {after.get(name, 0)} after")
    intact = before == after and verified.returncode == 0 and psql_session()
    print("\n" + ("Every unsafe statement was stopped, every decision is on record, and the record verifies."
                  if intact else "Something is wrong: see above."))

    if keep:
        print(f"""
Still running (Ctrl-C to stop everything):
  curl -s localhost:{ENVOY_PORT}{STATEMENTS} -H 'x-agent-id: agent:me' -H 'content-type: application/json' \\
       -d '{{"statement": "DROP TABLE orders"}}'
  curl -s localhost:{ENVOY_PORT}{STATEMENTS} -H 'x-agent-id: agent:me' -H 'content-type: application/json' \\
       -d '{{"statement": "SELECT * FROM orders"}}'
  curl -s localhost:{ENVOY_ADMIN}/stats | grep wasmcustom
  curl -s 'localhost:{CLICKHOUSE_HTTP}/?query=SELECT+chain_seq,decision_effect,decision_rule+FROM+guardrails.audit+FORMAT+PrettyCompact'""")
        try:
            while True:
                time.sleep(3600)
        except KeyboardInterrupt:
            pass
    envoy.stop()
    clickhouse.stop()
    sys.exit(0 if intact else 1)


def psql_session():
    """The same guardrails on the PostgreSQL wire: psql through Envoy's network filter."""
    print("\nThe same guardrails on the PostgreSQL wire: Debian's PostgreSQL behind Envoy, the filter loaded as a")
    print("network filter before tcp_proxy with examples/postgres-wire/policy.yaml, and a psql session through it:\n")
    pg = Postgres().start()
    envoy = pg.shop()
    script = "SELECT count(*) FROM orders;\nDROP TABLE orders;\nUPDATE orders SET status = 'paid' WHERE id = 7;\nTRUNCATE orders;\nSELECT count(*) FROM orders;\n"
    run = subprocess.run(["psql", "-h", "127.0.0.1", "-p", str(POSTGRES_ENVOY), "-U", "postgres", "-d", "shop", "-X", "-e",
                          "-v", "VERBOSITY=verbose", "-f", "-"], input=script, stdout=subprocess.PIPE,
                         stderr=subprocess.STDOUT, text=True, timeout=60)
    for line in run.stdout.splitlines():
        print(f"  {line}")
    _, count = pg.psql("SELECT count(*) FROM orders;", database="shop")
    print(f"\n  orders, read directly from PostgreSQL: {count.strip()} rows (25 before)")
    envoy.stop()
    return count.strip() == "25"


if __name__ == "__main__":
    main()
