"""sqlglot as a second opinion for the dialects no real parser here speaks: Snowflake, BigQuery,
Trino, Databricks, Redshift and T-SQL. It is not the vendors' parser, so its verdicts say where
two independent readings differ, not which one the database agrees with.

A statement is accepted when sqlglot reads it as one statement of its own tree, not as the
opaque `Command` it falls back to. The truth is that tree's node types. Being pure Python it is
slow: it reads a quarter of the regression statements (chosen by a hash of their text, so the
same quarter each run) and every statement of the policy corpus.
"""

import logging
import zlib

import sqlglot
from sqlglot import exp

from . import Parsing, Truth

logging.getLogger("sqlglot").setLevel(logging.ERROR)

# Our dialect name, sqlglot's.
DIALECTS = {"snowflake": "snowflake", "bigquery": "bigquery", "trino": "trino", "databricks": "databricks",
            "redshift": "redshift", "mssql": "tsql"}  # fmt: skip
READS = dict(DIALECTS, mysql="mysql")  # mysql: the classes of the MariaDB oracle (oracles/mariadb.py)
SHARE = 4
KINDS = {exp.Select: "read", exp.Union: "read", exp.Insert: "write", exp.Update: "write", exp.Delete: "write",
         exp.Merge: "write", exp.Copy: "write", exp.Create: "ddl", exp.Alter: "ddl", exp.Drop: "ddl", exp.Set: "session",
         exp.Transaction: "session", exp.Commit: "session", exp.Rollback: "session", exp.Use: "session"}  # fmt: skip


class Oracle(Parsing):
    judged_claims = {"drop", "truncate", "grant", "revoke", "export", "unbounded"}

    def __init__(self, dialect, always, share=SHARE):
        super().__init__()
        self.dialect = dialect
        self.read = READS[dialect]
        self.name = f"sqlglot {sqlglot.__version__} ({self.read}), 1/{share} of the regression statements"
        self.always = always  # the texts read whatever their hash
        self.share = share

    def judge(self, texts):
        judged = []
        for text in texts:
            if text not in self.always and zlib.crc32(text.encode()) % self.share:
                continue
            try:
                with self.parsing():
                    trees = sqlglot.parse(text, read=self.read)
            except (sqlglot.errors.SqlglotError, RecursionError, ValueError, KeyError, TypeError, AttributeError):
                continue  # sqlglot's own bugs on odd input count as refusals too
            trees = [tree for tree in trees if tree is not None]
            if len(trees) == 1 and not any(isinstance(node, exp.Command) for node in trees[0].walk()):
                judged.append((text, truth(trees[0])))
        return judged


def truth(tree):
    result = Truth(kind=next((kind for node_type, kind in KINDS.items() if isinstance(tree, node_type)), "other"))
    for node in tree.walk():
        if isinstance(node, exp.Drop):
            result.classes.add("drop")
        elif isinstance(node, exp.TruncateTable):
            result.classes.add("truncate")
        elif isinstance(node, (exp.Delete, exp.Update)):
            # A MERGE's WHEN MATCHED THEN UPDATE is bounded by the ON, not by a WHERE of its own.
            if node.args.get("where") is None and not isinstance(node.parent, exp.When):
                result.classes.add("unbounded-delete" if isinstance(node, exp.Delete) else "unbounded-update")
            result.unbounded_possible = True
        elif isinstance(node, exp.Merge):
            result.unbounded_possible = True
        elif isinstance(node, (exp.Grant, exp.Revoke)):
            result.classes.add("grant/revoke")
        elif isinstance(node, exp.Export) or isinstance(node, exp.Copy) and _unloads(node):
            result.classes.add("export")
    if isinstance(tree, exp.Describe):
        result.classes = set()  # EXPLAIN plans its statement, it does not run it
    return result


def _unloads(copy):
    """COPY t TO ..., or Snowflake's COPY INTO <location> (a stage or a URI, not a table)."""
    target = copy.this
    return copy.args.get("kind") is False or isinstance(target, exp.Table) and isinstance(target.this, (exp.Var, exp.Literal))
