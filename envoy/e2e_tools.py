"""Real database tools through the wire filter: `pg_dump` and `mysqldump` of the example `shop`
databases complete through Envoy with the example wire policies, and their dumps equal direct
dumps. Called from e2e.py's `wire()` with PostgreSQL and MariaDB running and no wire Envoy up;
`python envoy/e2e_tools.py` runs this section alone (under the e2e lock: it uses the fixed ports).

pg_dump runs with `--inserts`: its default `COPY ... TO STDOUT` is an export, which the example
policy's `no-exports` denies on the shop route. With `--inserts` it reads each table through a
cursor (`DECLARE ... CURSOR FOR SELECT ... FROM ONLY t`, `FETCH`, `CLOSE`), which the policy allows.
"""

import os
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import bootstraps  # noqa: E402
from loopback import MARIADB_ENVOY, MARIADB_PORT, POSTGRES_ENVOY, POSTGRES_PORT  # noqa: E402
from processes import Envoy, Mariadb, Postgres, policy_json  # noqa: E402

# Lines that carry the time, the host or a per-run key, not the data.
VOLATILE = ("\\restrict ", "\\unrestrict ", "-- Dump completed on", "-- Host:", "-- MariaDB dump", "-- MySQL dump", "-- Server version")

# Objects whose dumps take pg_dump and mysqldump through more of their catalog queries.
PG_OBJECTS = """
CREATE TABLE IF NOT EXISTS customers (id serial PRIMARY KEY, name text NOT NULL, tags text[]);
INSERT INTO customers (name, tags) VALUES ('ada', '{a,b}'), ('bob', NULL);
CREATE OR REPLACE VIEW open_orders AS SELECT * FROM orders WHERE status = 'new';
CREATE INDEX IF NOT EXISTS orders_status ON orders (status);
CREATE OR REPLACE FUNCTION order_count() RETURNS bigint LANGUAGE sql AS $$ SELECT count(*) FROM orders $$;
CREATE OR REPLACE FUNCTION touch() RETURNS trigger LANGUAGE plpgsql AS $$BEGIN NEW.name := trim(NEW.name); RETURN NEW; END$$;
CREATE OR REPLACE TRIGGER customers_touch BEFORE INSERT ON customers FOR EACH ROW EXECUTE FUNCTION touch();
COMMENT ON TABLE orders IS 'the example orders';
"""

MARIA_OBJECTS = """
USE shop;
CREATE TABLE IF NOT EXISTS customers (id int AUTO_INCREMENT PRIMARY KEY, name varchar(40) NOT NULL) ENGINE=InnoDB;
INSERT INTO customers (name) VALUES ('ada'), ('bob');
CREATE OR REPLACE VIEW open_orders AS SELECT * FROM orders WHERE status = 'new';
CREATE OR REPLACE TRIGGER customers_touch BEFORE INSERT ON customers FOR EACH ROW SET NEW.name = TRIM(NEW.name);
DELIMITER //
CREATE OR REPLACE PROCEDURE order_count(OUT n INT) BEGIN SELECT COUNT(*) INTO n FROM orders; END//
DELIMITER ;
"""


def steady(dump):
    return [line for line in dump.splitlines() if not line.startswith(VOLATILE)]


def run(argv):
    out = subprocess.run(argv, capture_output=True, text=True, timeout=300)
    return out.returncode, out.stdout, out.stderr


def compare(results, name, direct, guarded):
    code, through, err = guarded
    results.check(f"{name} through the filter completes", code == 0, err[-600:])
    expected, got = steady(direct[1]), steady(through)
    same = code == 0 and direct[0] == 0 and expected == got
    known = set(expected)
    diff = [line for line in got if line not in known][:5]
    results.check(f"{name} through the filter equals the direct dump", same and len(through) > 1000, repr(diff) + err[-300:])


def pg_dumps(results, pg):
    pg.psql(PG_OBJECTS, database="shop")
    argv = ["pg_dump", "--inserts", "-h", "127.0.0.1", "-U", "postgres", "shop"]
    direct = run(argv[:-1] + ["-p", str(POSTGRES_PORT), "shop"])
    envoy = Envoy(bootstraps.postgres_wire(policy_json("examples/postgres-wire/policy.yaml")), concurrency=1, name="tools-pg-envoy").start()
    try:
        compare(results, "pg_dump --inserts", direct, run(argv[:-1] + ["-p", str(POSTGRES_ENVOY), "shop"]))
        code, _, err = run(["pg_dump", "-h", "127.0.0.1", "-p", str(POSTGRES_ENVOY), "-U", "postgres", "shop"])
        results.check("pg_dump with COPY TO STDOUT is refused naming no-exports", code != 0 and "no-exports" in err, err[-300:])
    finally:
        envoy.stop()


def maria_dumps(results, maria):
    maria.sql(MARIA_OBJECTS)
    base = ["mysqldump", "--no-defaults", "-h", "127.0.0.1", "-u", "root", "--skip-ssl", "--routines"]
    envoy = Envoy(bootstraps.mysql_wire(policy_json("examples/mysql-wire/policy.yaml")), concurrency=1, name="tools-maria-envoy").start()
    try:
        for extra in ([], ["--single-transaction"]):
            name = " ".join(["mysqldump"] + extra)
            direct = run(base + extra + ["-P", str(MARIADB_PORT), "shop"])
            compare(results, name, direct, run(base + extra + ["-P", str(MARIADB_ENVOY), "shop"]))
    finally:
        envoy.stop()


def tools(results, pg, maria):
    """pg_dump and mysqldump through Envoy with the example wire policies, against direct dumps,
    on the servers wire() started (`pg`, `maria`)."""
    pg_dumps(results, pg)
    maria_dumps(results, maria)


def main():
    os.chdir(os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
    from e2e import Results

    results = Results()
    pg = Postgres().start()
    pg.psql("CREATE DATABASE shop;")
    pg.psql("CREATE TABLE orders (id int PRIMARY KEY, status text);"
            "INSERT INTO orders SELECT g, 'new' FROM generate_series(1, 25) g;", database="shop")
    subprocess.run(["pgbench", "-i", "-q", "-h", "127.0.0.1", "-p", str(POSTGRES_PORT), "-U", "postgres", "shop"],
                   capture_output=True, check=True)
    maria = Mariadb().start()
    maria.sql("CREATE DATABASE shop; CREATE TABLE shop.orders (id int PRIMARY KEY, status text);"
              "INSERT INTO shop.orders VALUES (1, 'new'), (2, 'new'), (3, 'paid');")
    tools(results, pg, maria)
    results.finish()


if __name__ == "__main__":
    main()
