"""The PostgreSQL wire session against a real server, with real clients (psql, psycopg 3,
asyncpg) through Envoy and the postgres-wire example policy, every effect checked on the server
directly: a denial aborts the transaction as a real error does, the session's own lexing
(`standard_conforming_strings`, client encodings) and search_path are followed.

Called from `e2e.py`'s `wire()` with its running Postgres and Envoy; `python envoy/e2e_postgres.py`
runs this section alone (after `make wasm`, under the shared lock).
"""

import asyncio
import os
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from loopback import POSTGRES_ENVOY  # noqa: E402

HOST = "127.0.0.1"
HIDDEN_BY_BACKSLASH = "SELECT 'x\\', ' ; DROP TABLE victim; --'"
# 表 in Shift JIS ends in 0x5c: read byte by byte, E'..\' swallows the DROP the server runs.
HIDDEN_BY_SJIS = "SELECT E'表' ; DROP TABLE victim; --'".encode("shift_jis")


def psql(args, env=None, stdin=None):
    """(exit code, output bytes) of psql through Envoy on the shop database."""
    run = subprocess.run(["psql", "-h", HOST, "-p", str(POSTGRES_ENVOY), "-U", "postgres", "-d", "shop", "-X", "-At",
                          "-v", "VERBOSITY=verbose", *args], input=stdin, capture_output=True, timeout=60,
                         env={**os.environ, **(env or {})})
    return run.returncode, run.stdout + run.stderr


def text(out):
    return out.decode("utf-8", "replace")


def postgres_session(results, pg):
    direct = lambda sql: pg.psql(sql, database="shop")[1].strip()  # noqa: E731
    direct("CREATE TABLE ledger (id int); CREATE TABLE victim (id int); CREATE SCHEMA vault;"
           "CREATE TABLE vault.keys (id int); INSERT INTO vault.keys VALUES (1);")
    transactions(results, direct)
    pipelines(results, direct)
    lexing(results, direct)
    search_path(results, direct)
    other_databases(results, pg)
    state_changing_functions(results, pg)


def transactions(results, direct):
    script = b"INSERT INTO ledger VALUES (1);\nDROP TABLE orders;\nINSERT INTO ledger VALUES (2);\n"
    code, out = psql(["-1", "-f", "-"], stdin=script)
    results.check("psql -1: the denial is ERROR 42501 naming the rule", b"42501" in out and b"no-drops" in out, text(out))
    results.check("psql -1: nothing of the script is committed", direct("SELECT count(*) FROM ledger;") == "0", text(out))
    block = b"BEGIN;\nINSERT INTO ledger VALUES (3);\nDROP TABLE orders;\nINSERT INTO ledger VALUES (4);\nCOMMIT;\n"
    code, out = psql(["-f", "-"], stdin=block)
    results.check("BEGIN block: after the denial the next statement gets 25P02", b"25P02" in out, text(out))
    results.check("BEGIN block: COMMIT rolls back", b"ROLLBACK" in out and direct("SELECT count(*) FROM ledger;") == "0", text(out))
    code, out = psql(["-c", "SELECT count(*) FROM orders"])
    results.check("the session's server is still usable through Envoy", out.strip() == b"25", text(out))


def pipelines(results, direct):
    import psycopg

    error = None
    with psycopg.connect(host=HOST, port=POSTGRES_ENVOY, user="postgres", dbname="shop", autocommit=True) as conn:
        try:
            with conn.pipeline():
                conn.execute("INSERT INTO ledger VALUES (5)")
                conn.execute("DROP TABLE orders")
        except psycopg.Error as e:
            error = e
        after = conn.execute("SELECT count(*) FROM orders").fetchone()[0]
    results.check("psycopg pipeline: the denied DROP is 42501 naming the rule",
                  error is not None and error.sqlstate == "42501" and "no-drops" in str(error), repr(error))
    results.check("psycopg pipeline: the INSERT before it in the segment is rolled back",
                  direct("SELECT count(*) FROM ledger;") == "0", direct("SELECT * FROM ledger;"))
    results.check("psycopg pipeline: the connection goes on", after == 25, repr(after))
    outcome = asyncio.run(asyncpg_session())
    results.check("asyncpg: the denied statements are 42501 naming the rule",
                  outcome["errors"] == [("42501", True), ("42501", True)], repr(outcome))
    results.check("asyncpg: the transaction's executemany is not committed", direct("SELECT count(*) FROM ledger;") == "0",
                  direct("SELECT * FROM ledger;"))
    results.check("asyncpg: the denied executemany deletes nothing", direct("SELECT count(*) FROM vault.keys;") == "1")
    results.check("asyncpg: the connection goes on", outcome["after"] == 25, repr(outcome))


async def asyncpg_session():
    import asyncpg

    conn = await asyncpg.connect(host=HOST, port=POSTGRES_ENVOY, user="postgres", database="shop")
    errors = []
    # The client goes on after the denial and commits, as a script that ignores errors does.
    transaction = conn.transaction()
    await transaction.start()
    await conn.executemany("INSERT INTO ledger VALUES ($1)", [(6,), (7,)])
    try:
        await conn.fetch("DROP TABLE orders")
    except asyncpg.PostgresError as e:
        errors.append((e.sqlstate, "no-drops" in str(e)))
    try:
        await transaction.commit()
    except asyncpg.PostgresError:
        pass
    try:
        await conn.executemany("DELETE FROM vault.keys WHERE id = $1", [(1,), (2,)])
    except asyncpg.PostgresError as e:
        errors.append((e.sqlstate, "vault-is-append-only" in str(e)))
    after = await conn.fetchval("SELECT count(*) FROM orders")
    await conn.close()
    return {"errors": errors, "after": after}


def victim_intact(direct):
    return direct("SELECT count(*) FROM pg_tables WHERE tablename = 'victim';") == "1"


def lexing(results, direct):
    code, out = psql(["-c", "SET standard_conforming_strings = off", "-c", HIDDEN_BY_BACKSLASH])
    results.check("SET standard_conforming_strings = off: a DROP behind \\' is denied", b"no-drops" in out, text(out))
    results.check("... and the table still exists", victim_intact(direct), text(out))
    code, out = psql(["-c", 'SET "standard_conforming_strings" = off', "-c", HIDDEN_BY_BACKSLASH])
    results.check('SET "standard_conforming_strings" = off (the name quoted): the hidden DROP is denied, table intact',
                  b"no-drops" in out and victim_intact(direct), text(out))
    code, out = psql(["-c", "SET standard_conforming_strings = off; SELECT '\\'; DROP TABLE victim; --'"])
    results.check("the SET and the hidden DROP in one text: denied", b"no-drops" in out and victim_intact(direct), text(out))
    off = {"PGOPTIONS": "-c standard_conforming_strings=off"}
    code, out = psql(["-c", HIDDEN_BY_BACKSLASH], env=off)
    results.check("PGOPTIONS=-c standard_conforming_strings=off: denied, table intact",
                  b"no-drops" in out and victim_intact(direct), text(out))
    sjis = {"PGCLIENTENCODING": "SJIS"}
    code, out = psql([b"-c", HIDDEN_BY_SJIS], env=sjis)
    results.check("PGCLIENTENCODING=SJIS: a DROP behind a character ending in 0x5c is denied, table intact",
                  b"no-drops" in out and victim_intact(direct), text(out))
    code, out = psql([b"-c", "SET client_encoding = 'SJIS'".encode(), b"-c", HIDDEN_BY_SJIS])
    results.check("SET client_encoding = 'SJIS': the same is denied, table intact",
                  b"no-drops" in out and victim_intact(direct), text(out))
    code, out = psql([b"-c", "SELECT '表' AS kanji".encode("shift_jis")], env=sjis)
    results.check("a harmless Shift JIS SELECT passes", code == 0 and "表".encode("shift_jis") in out, text(out))


def search_path(results, direct):
    code, out = psql(["-c", "SET search_path = vault", "-c", "DELETE FROM keys WHERE id = 1"])
    results.check("SET search_path = vault: DELETE FROM keys is denied by the vault.* rule",
                  b"vault-is-append-only" in out or b"never changed" in out, text(out))
    results.check("... and the row is intact", direct("SELECT count(*) FROM vault.keys;") == "1", text(out))
    code, out = psql(["-c", "DELETE FROM keys WHERE id = 1"], env={"PGOPTIONS": "-c search_path=vault"})
    results.check("PGOPTIONS=-c search_path=vault: denied, row intact",
                  b"never changed" in out and direct("SELECT count(*) FROM vault.keys;") == "1", text(out))
    code, out = psql(["-c", "SET search_path = vault", "-c", "RESET search_path", "-c", "DELETE FROM keys WHERE id = 1"])
    results.check("RESET search_path: back to the default path, where keys is no vault table",
                  b"42P01" in out and b"never changed" not in out, text(out))


def other_databases(results, pg):
    """A database the policy does not name gets the strict catch-all route: reads only."""
    target = os.path.join(pg.dir, "exported.csv")
    _, out = pg.psql(f"\\set VERBOSITY verbose\nCOPY (SELECT 1) TO '{target}';\nSELECT 40 + 2;\n", port=POSTGRES_ENVOY)
    results.check("database=postgres: COPY to a server file is denied (42501)", "42501" in out and not os.path.exists(target), out)
    results.check("database=postgres: a read passes", "\n42\n" in "\n" + out + "\n", out)
    _, out = pg.psql("\\set VERBOSITY verbose\nCREATE TABLE scratch (id int);\n", port=POSTGRES_ENVOY)
    _, exists = pg.psql("SELECT to_regclass('public.scratch') IS NULL;")
    results.check("database=postgres: a write is denied by the route's default", "42501" in out and exists.strip() == "t", out)



# Calls a SELECT can make. Which of them PostgreSQL itself refuses in a READ ONLY transaction is
# asked of the server, not assumed; the rest change state all the same or only read.
CALLS = ["nextval('counter')", "setval('counter', 1000)", "setval('counter'::regclass, 7, false)",
         "lo_unlink(4242)", "lo_put(4242, 0, '\\x41')", "pg_notify('jobs', 'run')", "random() < 2",
         "pg_sequence_last_value('counter')", "lo_get(4242)", "now() IS NOT NULL"]
CHANGES_STATE = {"nextval", "setval", "lo_unlink", "lo_put", "pg_notify"}


def state_changing_functions(results, pg):
    """On the read-only route, a SELECT of a function that changes state is denied: every call the
    server refuses in a READ ONLY transaction, and the large-object and NOTIFY calls it runs there."""
    pg.psql("DROP SEQUENCE IF EXISTS counter; CREATE SEQUENCE counter;"
            "SELECT lo_unlink(4242) FROM pg_largeobject_metadata WHERE oid = 4242; SELECT lo_from_bytea(4242, 'x');")
    state = lambda: pg.psql("SELECT last_value, is_called FROM counter; SELECT encode(lo_get(4242), 'escape');")[1]  # noqa: E731
    before = state()
    # A function named in FROM runs as it does in an expression (`SELECT * FROM nextval('s')`).
    statements = [f"SELECT {call}" for call in CALLS] + [f"SELECT * FROM {call}" for call in CALLS if call.endswith(")")]
    function = lambda sql: sql.removeprefix("SELECT ").removeprefix("* FROM ").split("(")[0]  # noqa: E731
    refused = set()
    for sql in statements:
        _, out = pg.psql(f"BEGIN READ ONLY;\n{sql};\nROLLBACK;\n")
        if "read-only transaction" in out:
            refused.add(sql)
    results.check("the server refuses nextval and setval in a READ ONLY transaction, in FROM too (the oracle answers)",
                  {function(sql) for sql in refused} == {"nextval", "setval"}
                  and any(sql.startswith("SELECT * FROM nextval") for sql in refused), str(sorted(refused)))
    for sql in statements:
        _, out = pg.psql(f"\\set VERBOSITY verbose\n{sql};\n", port=POSTGRES_ENVOY)
        denied = "42501" in out
        expected = function(sql) in CHANGES_STATE
        why = "refused read-only by the server" if sql in refused else "changes state" if expected else "only reads"
        results.check(f"database=postgres: {sql} is {'denied' if expected else 'passed'} ({why})",
                      denied == expected and (denied or "ERROR" not in out), out)
    results.check("... and the sequence and the large object are unchanged", state() == before, before + " / " + state())


if __name__ == "__main__":
    os.chdir(os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
    from e2e import Results
    from processes import Postgres

    results = Results()
    pg = Postgres().start()
    envoy = pg.shop()
    postgres_session(results, pg)
    envoy.stop()
    results.finish()
