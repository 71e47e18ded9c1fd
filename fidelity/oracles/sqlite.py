"""SQLite (Python's sqlite3) as an oracle: a statement it prepares is valid, and the actions its
authorizer callback reports during the prepare are the truth.

Statements are prepared as `EXPLAIN <statement>`, which compiles them without running them. A
schema grows as the corpus goes: a CREATE or ALTER SQLite accepts is then run for real on the
in-memory database, so later statements find their tables (a CREATE whose name is taken is judged
on an empty database). An unbounded DELETE is one SQLite compiles to its truncate optimization
(the `Clear` opcode, no WHERE and no triggers). SQLite cannot tell an unbounded UPDATE, and has
no exports, so unbounded and export claims of ours are not judged here.
"""

import sqlite3
import time

from . import Truth

DROPS = {getattr(sqlite3, name) for name in dir(sqlite3) if name.startswith("SQLITE_DROP_")}
CREATES = {getattr(sqlite3, name) for name in dir(sqlite3) if name.startswith("SQLITE_CREATE_")}
SCHEMA_CHANGES = CREATES | {sqlite3.SQLITE_ALTER_TABLE}
WRITES = {sqlite3.SQLITE_INSERT, sqlite3.SQLITE_UPDATE, sqlite3.SQLITE_DELETE}
SESSION = {sqlite3.SQLITE_TRANSACTION, sqlite3.SQLITE_SAVEPOINT, sqlite3.SQLITE_PRAGMA}
CATALOG = {"sqlite_master", "sqlite_temp_master"}


class Oracle:
    dialect = "sqlite"
    name = f"sqlite3 {sqlite3.sqlite_version}"
    judged_claims = {"drop", "truncate", "grant", "revoke"}

    def __init__(self):
        self.parse_seconds = 0.0
        self.attempted = 0
        self.schema = sqlite3.connect(":memory:")

    def judge(self, texts):
        judged = []
        for text in texts:
            self.attempted += 1
            actions = self._prepare(self.schema, text)
            if actions is None:
                continue
            codes = {code for code, _ in actions}
            if codes & SCHEMA_CHANGES and not codes & DROPS:
                try:
                    self.schema.execute(text)
                except sqlite3.Error:
                    pass
            found = truth(actions)
            if _is_explain(text):
                found.classes = set()  # compiled to be listed, never run
            judged.append((text, found))
        return judged

    def _prepare(self, connection, text):
        """The authorizer's (code, name) pairs, plus ("opcode", op) ones, or None if refused."""
        actions = []

        def authorize(code, first, second, _database, _trigger):
            actions.append((code, second if code == sqlite3.SQLITE_FUNCTION else first))
            return sqlite3.SQLITE_OK

        statement = text if _is_explain(text) else "EXPLAIN " + text
        started = time.perf_counter()
        connection.set_authorizer(authorize)
        try:
            program = connection.execute(statement).fetchall()
        except (sqlite3.Error, sqlite3.Warning, ValueError) as error:
            program = None
            if "already exists" in str(error) and connection is self.schema:
                return self._prepare(sqlite3.connect(":memory:"), text)
        finally:
            connection.set_authorizer(None)
            self.parse_seconds += time.perf_counter() - started
        if program is None:
            return None
        return actions + [("opcode", row[1]) for row in program if len(row) > 1]


def _is_explain(text):
    return text.lstrip()[:7].lower() == "explain"


def truth(actions):
    codes = {code for code, _ in actions}
    names = {(code, name) for code, name in actions}
    result = Truth(kind=_kind(codes, actions), opaque=codes <= {"opcode"})
    if codes & DROPS or (sqlite3.SQLITE_FUNCTION, "sqlite_drop_column") in names:
        result.classes.add("drop")
    if sqlite3.SQLITE_DELETE in codes and ("opcode", "Clear") in names:
        result.classes.add("unbounded-delete")
    return result


def _kind(codes, actions):
    if codes & (SCHEMA_CHANGES | DROPS):
        return "ddl"
    if any(code in WRITES and name not in CATALOG for code, name in actions):
        return "write"
    if codes & SESSION:
        return "session"
    if sqlite3.SQLITE_SELECT in codes:
        return "read"
    return "other"
