"""MariaDB, the real server (Debian's mariadbd), as the oracle of what MySQL-family SQL parses.

A private server is started on a Unix socket only (no TCP port, so nothing collides with the e2e
suite's) with its data under target/fidelity/mariadb, and stopped when the judging is done. A
statement is accepted when `PREPARE` takes it, or refuses it for a name it cannot resolve (a
missing table, column or function is looked up after the parse; the grammar's own actions raise
other errors, so those count as refusals): nothing is run. The server says nothing of what a
statement does, so the classes come from sqlglot's MySQL reading where sqlglot reads it too; a
statement only MariaDB reads counts for the unparsed share, and no claim of ours about it is
refuted.
"""

import os
import shutil
import subprocess
import time

import pymysql

from . import Parsing, Truth
from . import second_opinion

# ER_BAD_DB_ERROR, ER_BAD_FIELD_ERROR, ER_NON_UNIQ_ERROR, ER_UNKNOWN_TABLE, ER_NO_SUCH_TABLE,
# ER_KEY_DOES_NOT_EXITS, ER_UNSUPPORTED_PS, ER_SP_DOES_NOT_EXIST, ER_WRONG_OBJECT, ER_VIEW_INVALID,
# ER_FUNC_INEXISTENT_NAME_COLLISION: raised once the statement has parsed.
RESOLUTION_ERRORS = {1049, 1054, 1052, 1109, 1146, 1176, 1295, 1305, 1347, 1356, 1630}
ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
HOME = os.path.join(ROOT, "target", "fidelity", "mariadb")
SOCKET = os.path.join(HOME, "mariadb.sock")


def available():
    return shutil.which("mariadbd") is not None and shutil.which("mariadb-install-db") is not None


class Oracle(Parsing):
    dialect = "mariadb"
    judged_claims = second_opinion.Oracle.judged_claims

    def __init__(self):
        self.name = "mariadbd (PREPARE), classes by sqlglot mysql"
        super().__init__()
        self.classes = second_opinion.Oracle("mysql", set(), share=1)

    def judge(self, texts):
        server = _start()
        try:
            connection = pymysql.connect(unix_socket=SOCKET, user="root", autocommit=True)
            cursor = connection.cursor()
            cursor.execute("CREATE DATABASE IF NOT EXISTS fidelity")
            cursor.execute("USE fidelity")
            cursor.execute("SELECT VERSION()")
            self.name = f"mariadbd {cursor.fetchone()[0].split('-')[0]} (PREPARE), classes by sqlglot mysql"
            accepted = [text for text in texts if self._prepares(cursor, text)]
            connection.close()
        finally:
            server.terminate()
            server.wait(timeout=30)
        read = dict(self.classes.judge([text for text in accepted if _sqlglot_reads_as_mariadb(text)]))
        return [(text, read.get(text) or Truth(kind="other", opaque=True)) for text in accepted]

    def _prepares(self, cursor, text):
        try:
            with self.parsing():
                cursor.execute("PREPARE fidelity_statement FROM %s", (text,))
            return True
        except pymysql.MySQLError as error:
            return bool(error.args) and error.args[0] in RESOLUTION_ERRORS


def _sqlglot_reads_as_mariadb(text):
    """sqlglot skips executable comments (`/*!...*/`, `/*M!...*/`), which MariaDB runs: its classes
    of such a text are no truth. filter/tests/lexing.rs holds those against the server's own runs."""
    return "/*!" not in text and "/*m!" not in text.lower()


def _start():
    data = os.path.join(HOME, "data")
    if not os.path.isdir(os.path.join(data, "mysql")):
        shutil.rmtree(HOME, ignore_errors=True)
        os.makedirs(HOME)
        subprocess.run(["mariadb-install-db", "--no-defaults", f"--datadir={data}", "--user=root",
                        "--auth-root-authentication-method=normal"], check=True, capture_output=True)  # fmt: skip
    log = open(os.path.join(HOME, "mariadb.log"), "w")
    server = subprocess.Popen([shutil.which("mariadbd"), "--no-defaults", f"--datadir={data}", "--user=root", "--skip-networking",
                               f"--socket={SOCKET}", f"--pid-file={os.path.join(HOME, 'mariadb.pid')}", "--skip-log-bin"],
                              stdout=log, stderr=log)  # fmt: skip
    deadline = time.time() + 60
    while time.time() < deadline:
        try:
            pymysql.connect(unix_socket=SOCKET, user="root").close()
            return server
        except pymysql.MySQLError:
            if server.poll() is not None:
                break
            time.sleep(0.2)
    server.terminate()
    raise RuntimeError(f"mariadbd did not start; see {os.path.join(HOME, 'mariadb.log')}")
