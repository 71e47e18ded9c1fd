"""The MySQL wire session against MariaDB through Envoy, attacked as issue 13 found it: with real
clients (a raw socket client speaking the protocol, the mariadb client with --compress, pymysql,
mysql-connector), every effect checked on the server directly.

`python envoy/e2e_mysql.py` runs these checks alone (MariaDB and Envoy, no audit store).
"""

import hashlib
import os
import socket
import struct
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import bootstraps  # noqa: E402
from loopback import MARIADB_ENVOY, MARIADB_PORT, RUN  # noqa: E402
from processes import Envoy, policy_json  # noqa: E402

import pymysql  # noqa: E402
import mysql.connector  # noqa: E402

POLICY = "examples/mysql-wire/policy.yaml"
USER, PASSWORD = "agent", "s3cret-pw"
CLIENT_LONG_PASSWORD, CLIENT_CONNECT_WITH_DB, CLIENT_PROTOCOL_41 = 0x1, 0x8, 0x200
CLIENT_SECURE_CONNECTION, CLIENT_MULTI_STATEMENTS, CLIENT_MULTI_RESULTS, CLIENT_PLUGIN_AUTH = 0x8000, 0x10000, 0x20000, 0x80000


def packet(seq, payload):
    return struct.pack("<I", len(payload))[:3] + bytes([seq]) + payload


class Raw:
    """A MySQL client on a socket: mysql_native_password from the greeting's scramble, and the
    handshake response written together with whatever `ahead` holds, in one write."""

    def __init__(self, port, ahead=b"", database=b"shop"):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=10)
        _, greeting = self.read()
        version_end = greeting.index(b"\0", 1)
        at = version_end + 1 + 4
        scramble = greeting[at:at + 8]
        auth_len = greeting[at + 8 + 1 + 2 + 1 + 2 + 2]
        part2_at = at + 8 + 1 + 2 + 1 + 2 + 2 + 1 + 10
        scramble += greeting[part2_at:part2_at + max(13, auth_len - 8) - 1]
        caps = (CLIENT_LONG_PASSWORD | CLIENT_PROTOCOL_41 | CLIENT_SECURE_CONNECTION | CLIENT_MULTI_STATEMENTS
                | CLIENT_MULTI_RESULTS | CLIENT_PLUGIN_AUTH | (CLIENT_CONNECT_WITH_DB if database else 0))
        token = native_password(PASSWORD.encode(), scramble)
        response = struct.pack("<IIB23x", caps, 1 << 24, 45) + USER.encode() + b"\0" + bytes([len(token)]) + token
        response += (database + b"\0" if database else b"") + b"mysql_native_password\0"
        self.sock.sendall(packet(1, response) + ahead)
        _, self.auth = self.read()

    def read(self):
        header = self.exactly(4)
        return header[3], self.exactly(int.from_bytes(header[:3], "little"))

    def exactly(self, n):
        data = b""
        while len(data) < n:
            chunk = self.sock.recv(n - len(data))
            if not chunk:
                raise ConnectionError("closed")
            data += chunk
        return data

    def answer(self):
        """One command's answer: "ok", "err <message>", or the rows of a text result set."""
        _, first = self.read()
        if first[0] == 0x00:
            return "ok"
        if first[0] == 0xFF:
            return "err " + first[9:].decode(errors="replace")
        if first[0] == 0xFE and len(first) < 9:
            return "eof"
        for _ in range(first[0]):
            self.read()
        self.read()  # the EOF after the column definitions
        rows = []
        while True:
            _, row = self.read()
            if row[0] == 0xFE and len(row) < 9:
                return rows
            rows.append(row[1:1 + row[0]].decode())

    def close(self):
        self.sock.close()


def native_password(password, scramble):
    """mysql_native_password: SHA1(password) XOR SHA1(scramble + SHA1(SHA1(password)))."""
    stage1 = hashlib.sha1(password).digest()
    mix = hashlib.sha1(scramble + hashlib.sha1(stage1).digest()).digest()
    return bytes(a ^ b for a, b in zip(stage1, mix))


def query(sql):
    return packet(0, b"\x03" + sql)


def connect(**extra):
    args = dict(host="127.0.0.1", port=MARIADB_ENVOY, user=USER, password=PASSWORD, database="shop")
    args.update(extra)
    return pymysql.connect(**args)


def attempt(conn, sql):
    """The error code and message of `sql` on `conn`, or (0, rows)."""
    try:
        with conn.cursor() as cur:
            cur.execute(sql) if isinstance(sql, str) else conn.query(sql)
            return 0, cur.fetchall() if isinstance(sql, str) else conn._result.rows
    except pymysql.MySQLError as e:
        return e.args[0], str(e.args[-1])


def mysql_wire(results, maria):
    """The checks, with `maria` (processes.Mariadb) running: an Envoy of their own in front of it."""
    # The anonymous ''@'localhost' that mariadb-install-db creates would shadow a '%' user.
    users = "".join(f"CREATE USER IF NOT EXISTS '{USER}'@'{host}' IDENTIFIED BY '{PASSWORD}'; GRANT ALL ON *.* TO '{USER}'@'{host}';"
                    for host in ["localhost", "127.0.0.1", "%"])
    maria.sql(users +
              "DROP DATABASE IF EXISTS shop; CREATE DATABASE shop;"
              "CREATE TABLE shop.orders (id int PRIMARY KEY, status text); INSERT INTO shop.orders VALUES (1, 'new'), (2, 'new'), (3, 'paid');"
              "CREATE TABLE shop.imports (id int, body text);")
    count = lambda: maria.sql("SELECT COUNT(*) FROM shop.orders;")[1].strip()  # noqa: E731
    envoy = Envoy(bootstraps.mysql_wire(policy_json(POLICY)), concurrency=1, name="mysql-e2e-envoy").start()
    try:
        handshake_and_pipelining(results, count)
        compressed(results, count)
        drivers(results, count)
        load_data_local(results, maria)
        lexing(results, count)
        schema(results, count)
        sequences(results, maria)
        server_commands(results, maria)
    finally:
        envoy.stop()


def handshake_and_pipelining(results, count):
    raw = Raw(MARIADB_ENVOY, ahead=query(b"DROP TABLE orders"))
    denied = raw.answer()
    results.check("raw client: a DROP written with the handshake response is denied", raw.auth[0] == 0 and "no-drops" in denied, denied)
    results.check("raw client: the early DROP did not run (checked on the server)", count() == "3", count())
    raw.sock.sendall(query(b"SELECT 1") + query(b"DROP TABLE orders") + query(b"SELECT 2") + query(b"SELECT 1; DROP TABLE orders")
                     + query(b"SELECT 3"))
    answers = [raw.answer() for _ in range(5)]
    results.check("raw client: five pipelined commands get their own answers, the denials after result sets",
                  answers[0] == ["1"] and "no-drops" in answers[1] and answers[2] == ["2"] and "no-drops" in answers[3]
                  and answers[4] == ["3"], repr(answers))
    raw.close()
    results.check("raw client: the pipelined DROPs did not run", count() == "3", count())


def compressed(results, count):
    out = subprocess.run(["mariadb", "--no-defaults", "--compress", "-h", "127.0.0.1", "-P", str(MARIADB_ENVOY), "-u", USER,
                          f"-p{PASSWORD}", "--skip-ssl", "--force", "-N", "-B", "shop"],
                         input="SELECT COUNT(*) FROM orders;\nDROP TABLE orders;\nSELECT 'after';\n", capture_output=True, text=True, timeout=60)
    text = out.stdout + out.stderr
    results.check("mariadb --compress: works (uncompressed) through Envoy", text.startswith("3\n") and "after" in text, text)
    results.check("mariadb --compress: DROP gets ERROR 1227 naming the rule, the table intact",
                  "1227" in text and "no-drops" in text and count() == "3", text)


def drivers(results, count):
    conn = connect(client_flag=pymysql.constants.CLIENT.MULTI_STATEMENTS)
    with conn.cursor() as cur:
        cur.execute("SELECT 1; SELECT 2")
        first = cur.fetchall()
        cur.nextset()
        second = cur.fetchall()
    code, message = attempt(conn, "DROP TABLE orders")
    after = attempt(conn, "SELECT 3")
    results.check("pymysql: a multi-statement's results, then a denied DROP, then the next query",
                  first == ((1,),) and second == ((2,),) and code == 1227 and "no-drops" in message and after == (0, ((3,),)),
                  f"{first} {second} {code} {message} {after}")
    conn.close()
    conn = mysql.connector.connect(host="127.0.0.1", port=MARIADB_ENVOY, user=USER, password=PASSWORD, database="shop")
    cur = conn.cursor()
    cur.execute("SELECT COUNT(*) FROM orders")
    rows = cur.fetchall()
    try:
        cur.execute("DROP TABLE orders")
        error = None
    except mysql.connector.Error as e:
        error = e
    cur.execute("SELECT 4")
    results.check("mysql-connector: DROP denied between two queries that work",
                  rows == [(3,)] and error is not None and error.errno == 1227 and cur.fetchall() == [(4,)], f"{rows} {error}")
    conn.close()
    results.check("drivers: the table is intact", count() == "3", count())


def load_data_local(results, maria):
    path = os.path.join(RUN, "imports.csv")
    lines = 120_000
    with open(path, "w") as f:
        f.writelines(f"{i},{'x' * 40}\n" for i in range(lines))
    packets = os.path.getsize(path) // (16 * 1024)
    sql = f"LOAD DATA LOCAL INFILE '{path}' INTO TABLE imports FIELDS TERMINATED BY ','"
    conn = connect(local_infile=True, autocommit=True)
    outcome = attempt(conn, sql)
    after = attempt(conn, "SELECT COUNT(*) FROM imports")
    conn.close()
    loaded = maria.sql("SELECT COUNT(*), SUM(id) FROM shop.imports;")[1].split()
    results.check(f"pymysql: LOAD DATA LOCAL of {packets} packets loads every row (checked on the server), the session goes on",
                  outcome[0] == 0 and loaded == [str(lines), str(lines * (lines - 1) // 2)] and after == (0, ((lines,),)),
                  f"{outcome} {loaded} {after}")
    conn = connect(local_infile=True, program_name="agent-e2e")
    outcome = attempt(conn, sql)
    conn.close()
    os.remove(path)
    loaded = maria.sql("SELECT COUNT(*) FROM shop.imports;")[1].strip()
    results.check("pymysql: LOAD DATA LOCAL by an agent is denied by the import rule, nothing loaded",
                  outcome[0] == 1227 and "no-agent-imports" in outcome[1] and loaded == str(lines), f"{outcome} {loaded}")


def lexing(results, count):
    multi = pymysql.constants.CLIENT.MULTI_STATEMENTS
    cases = [
        ("ANSI_QUOTES", b'SELECT 1 AS "a\\"; DROP TABLE orders; -- "'),
        ("NO_BACKSLASH_ESCAPES", b"SELECT 'a\\'; DROP TABLE orders; -- '"),
    ]
    # The variable's name written plain, back-quoted, and as @@SESSION.: the server takes each.
    for mode, hidden in cases:
        for name in ["sql_mode", "`sql_mode`", "@@SESSION.sql_mode", "SESSION sql_mode", "@@sql_mode"]:
            conn = connect(client_flag=multi)
            attempt(conn, f"SET {name} = '{mode}'")
            code, message = attempt(conn, hidden)
            conn.close()
            results.check(f"pymysql: after SET {name} = '{mode}', a DROP the default mode reads as a string is denied, the table intact",
                          code == 1227 and "no-drops" in message and count() == "3", f"{code} {message} {count()}")
    conn = connect(client_flag=multi)
    attempt(conn, "SET NAMES gbk")
    code, message = attempt(conn, b"SELECT '\xbf\x5c'; DROP TABLE orders; -- '")
    conn.close()
    results.check("pymysql: after SET NAMES gbk, a DROP behind 0xbf5c is denied, the table intact",
                  code == 1227 and "no-drops" in message and count() == "3", f"{code} {message} {count()}")


def schema(results, count):
    conn = connect(database=None)
    created = attempt(conn, "CREATE DATABASE IF NOT EXISTS elsewhere")
    read = attempt(conn, "SELECT COUNT(*) FROM shop.orders")
    conn.close()
    exists = attempt(connect(), "SELECT COUNT(*) FROM information_schema.schemata WHERE schema_name = 'elsewhere'")
    results.check("pymysql: connected with no schema, the strict catch-all lets reads through and denies a CREATE DATABASE (checked on the server)",
                  created[0] == 1227 and "everything-else" in created[1] and read == (0, ((3,),)) and exists == (0, ((0,),)),
                  f"{created} {read} {exists}")
    for how in ["USE shop", "COM_INIT_DB"]:
        conn = connect(database=None, program_name="agent-e2e")
        if how == "USE shop":
            attempt(conn, "USE shop")
        else:
            conn.select_db("shop")
        code, message = attempt(conn, "DELETE FROM orders")
        conn.close()
        results.check(f"pymysql: connected with no schema, then {how}: the shop route's agents-no-unbounded-writes applies",
                      code == 1227 and "agents-no-unbounded-writes" in message and count() == "3", f"{code} {message} {count()}")


# A sequence's next value is a write: MariaDB itself refuses these in a READ ONLY transaction
# (asked of the server below, not assumed); the last value is a read.
SEQUENCE_CALLS = [("SELECT NEXTVAL(shop.counter)", True), ("SELECT NEXT VALUE FOR shop.counter", True),
                  ("SELECT SETVAL(shop.counter, 1000)", True), ("DO NEXTVAL(shop.counter)", True),
                  ("SELECT LASTVAL(shop.counter)", False), ("SELECT PREVIOUS VALUE FOR shop.counter", False)]


def sequences(results, maria):
    maria.sql("DROP SEQUENCE IF EXISTS shop.counter; CREATE SEQUENCE shop.counter;")
    value = lambda: maria.sql("SELECT next_not_cached_value FROM shop.counter;")[1].strip()  # noqa: E731
    before = value()
    for sql, writes in SEQUENCE_CALLS:
        _, out = maria.sql(f"START TRANSACTION READ ONLY; {sql}; ROLLBACK;")
        refused = "1792" in out
        conn = connect(database=None)
        code, message = attempt(conn, sql)
        conn.close()
        results.check(f"pymysql, no schema (reads only): {sql} is {'denied' if writes else 'passed'}, as MariaDB "
                      f"{'refuses' if writes else 'runs'} it in a READ ONLY transaction",
                      refused == writes and (code == 1227) == writes and (writes or code == 0), f"{out} {code} {message}")
    results.check("... and the sequence did not move", value() == before, f"{before} {value()}")


def server_commands(results, maria):
    victim = pymysql.connect(host="127.0.0.1", port=MARIADB_PORT, user=USER, password=PASSWORD)
    conn = connect()
    try:
        conn.kill(victim.thread_id())
        code, message = 0, "killed"
    except pymysql.MySQLError as e:
        code, message = e.args[0], str(e.args[-1])
    conn.close()
    alive = attempt(victim, "SELECT 1")
    victim.close()
    results.check("pymysql: COM_PROCESS_KILL is judged as KILL and denied, the other session alive",
                  code == 1227 and "no-server-admin" in message and alive == (0, ((1,),)), f"{code} {message} {alive}")
    raw = Raw(MARIADB_ENVOY)
    raw.sock.sendall(packet(0, b"\x08\x00"))
    try:
        answer = raw.answer()
    except OSError as e:
        answer = f"the connection ended: {e}"
    raw.close()
    up = maria.sql("SELECT 1;")[1].strip()
    results.check("raw client: COM_SHUTDOWN is judged as SHUTDOWN and denied, the server up",
                  "no-server-admin" in answer and up == "1", f"{answer} {up}")


if __name__ == "__main__":
    from e2e import Results
    from processes import Mariadb

    os.chdir(os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
    results = Results()
    maria = Mariadb().start()
    mysql_wire(results, maria)
    results.finish()
