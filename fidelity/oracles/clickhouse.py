"""ClickHouse's own parser (chdb, the engine in-process) as the oracle, its AST the truth.

A text is accepted when `formatQuerySingleLineOrNull` reads it as one statement (implicit SELECT
off); `EXPLAIN AST` of ClickHouse's own rendering then gives the tree. Nothing is run: EXPLAIN
AST only parses, and the rendering, being one statement without inline data, leaves nothing
after it for chdb's multi-statement mode to run (the raw text could: `INSERT ... VALUES (1);
DROP ...`). A few texts the parser takes but EXPLAIN refuses (an unknown setting) are left out.
It reads the ClickHouse statements of corpus.clickhouse_tests (fidelity/clickhouse.sql, sqlglot's
dialect tests), every
statement of the policy corpus and half of the others (by a hash of their text, so the same half
each run: chdb takes about 1 ms a statement).

The classes, from the tree's node kinds:
- drop: DropQuery and DetachQuery (both ASTDropQuery, whose third kind is TRUNCATE: a detached
  table is gone for every client, past restarts with PERMANENTLY), the other Drop*Query kinds
  (function, index, named collection), DROP USER | ROLE | QUOTA | ... queries, and ALTER's DROP_*
  commands (ClickHouse's DROP_PARTITION covers DETACH PARTITION, DROP_COLUMN CLEAR COLUMN);
- truncate: TruncateQuery;
- unbounded-delete | -update: a mutation (ALTER DELETE | UPDATE, DELETE FROM, UPDATE) whose
  predicate is constant and true by the small evaluator below (ClickHouse requires a WHERE, so
  `WHERE 1` is its unbounded form); any other predicate may still be (`id = id`);
- grant/revoke: GrantQuery (both);
- export: INSERT INTO FUNCTION (a function is the target: data leaves the server's tables),
  INTO OUTFILE (a Literal child of a query with output), BACKUP;
- server-files: the table functions below, read anywhere in the tree, and the `file` scalar;
- program: the `executable` table function, which runs a script.
The nodes under EXPLAIN are planned, not run.
"""

import re
import time
import zlib

import chdb
from chdb import session

from . import Parsing, Truth

# Table functions that reach data outside the server's own tables (ClickHouse documentation,
# "Table Functions"): files, object stores, URLs, other servers and databases.
OUTSIDE_TABLE_FUNCTIONS = {
    "file", "filecluster", "url", "urlcluster", "s3", "s3cluster", "gcs", "oss", "cosn", "hdfs", "hdfscluster",
    "azureblobstorage", "azureblobstoragecluster", "remote", "remotesecure", "cluster", "clusterallreplicas", "mysql",
    "postgresql", "mongodb", "redis", "sqlite", "odbc", "jdbc", "iceberg", "icebergs3", "icebergazure", "iceberghdfs",
    "icebergLocal", "deltalake", "deltalakes3", "deltalakeazure", "hudi", "arrowflight", "ytsaurus",
}  # fmt: skip
OUTSIDE_TABLE_FUNCTIONS = {name.lower() for name in OUTSIDE_TABLE_FUNCTIONS}
# Root kinds whose Literal children are an INTO OUTFILE target (ASTQueryWithOutput).
WITH_OUTPUT = {"SelectWithUnionQuery", "SelectIntersectExceptQuery", "ShowTables", "ShowCreateTableQuery", "DescribeQuery"}
KINDS = {"SelectWithUnionQuery": "read", "SelectIntersectExceptQuery": "read", "ShowTables": "read", "DescribeQuery": "read",
         "InsertQuery": "write", "DeleteQuery": "write", "UpdateQuery": "write", "CreateQuery": "ddl", "AlterQuery": "ddl",
         "DropQuery": "ddl", "DetachQuery": "ddl", "TruncateQuery": "ddl", "Rename": "ddl", "AttachQuery": "ddl",
         "Set": "session", "UseQuery": "session", "SetRoleQuery": "session"}  # fmt: skip
COMPARISONS = {"equals": lambda a, b: a == b, "notEquals": lambda a, b: a != b, "less": lambda a, b: a < b,
               "greater": lambda a, b: a > b, "lessOrEquals": lambda a, b: a <= b,
               "greaterOrEquals": lambda a, b: a >= b}  # fmt: skip
BATCH = 500
SHARE = 2
UNKNOWN = object()


class Node:
    def __init__(self, label):
        self.label = label
        self.kind = label.split(" ", 1)[0]
        self.children = []

    def name(self):
        """The second word: a Function's name, an AlterCommand's type, a Literal's value."""
        parts = self.label.split(" ", 2)
        return parts[1] if len(parts) > 1 else ""

    def walk(self):
        stack = [self]
        while stack:
            node = stack.pop()
            yield node
            stack.extend(node.children)


class Oracle(Parsing):
    dialect = "clickhouse"
    judged_claims = {"drop", "truncate", "grant", "revoke", "export", "unbounded"}

    def __init__(self, own_texts, always, share=SHARE):
        super().__init__()
        self.own_texts = own_texts  # ClickHouse statements judged besides the shared corpus
        self.always = always  # the shared texts read whatever their hash
        self.share = share
        # A batch of texts is one query: the parser's limit on a query's size is raised for it.
        self.session = session.Session(f":memory:?implicit_select=0&max_query_size={64 << 20}")
        self.name = f"chdb {chdb.__version__} (ClickHouse {chdb.engine_version} parser)"

    def judge(self, texts):
        sampled = [text for text in texts if text in self.always or not zlib.crc32(text.encode()) % self.share]
        texts = list(dict.fromkeys([*self.own_texts, *sampled]))
        started = time.perf_counter()
        judged = []
        for at in range(0, len(texts), BATCH):
            batch = texts[at : at + BATCH]
            for text, rendered in zip(batch, self._rendered(batch)):
                tree = rendered and self._tree(rendered)
                if tree:
                    judged.append((text, truth(tree)))
        self.parse_seconds += time.perf_counter() - started
        self.attempted += len(texts)
        return judged

    def _rendered(self, texts):
        """ClickHouse's one-statement rendering of each text, None where its parser refuses it."""
        literals = ",".join(_literal(text) for text in texts)
        query = f"SELECT formatQuerySingleLineOrNull(q) FROM (SELECT arrayJoin([{literals}]) AS q)"
        try:
            result = self.session.query(query, "TabSeparated").bytes().decode("utf-8", errors="replace")
        except Exception:  # noqa: BLE001 - a text that is no valid string literal fails its batch: one by one
            return [row for text in texts for row in self._rendered([text])] if len(texts) > 1 else [None]
        rows = [None if row == "\\N" else _unescaped(row) for row in result.split("\n")[: len(texts)]]
        return rows if len(rows) == len(texts) else [None] * len(texts)

    def _tree(self, rendered):
        try:
            dump = self.session.query(f"EXPLAIN AST {rendered}", "TabSeparatedRaw").bytes().decode("utf-8", errors="replace")
        except Exception:  # noqa: BLE001 - chdb raises its own error types for refusals
            return None
        return _parse_dump(dump)


def truth(tree):
    result = Truth(kind=KINDS.get(tree.kind, "other"))
    if tree.kind == "Explain":
        tree = Node("Explain")  # planned, not run
    for node in tree.walk():
        result.classes |= _classes(node)
        if _mutation(node):
            result.unbounded_possible = True
            value = _evaluate(_predicate(node))
            if isinstance(value, (bool, int, float)) and value:
                updates = node.kind == "UpdateQuery" or node.name() == "UPDATE"
                result.classes.add("unbounded-update" if updates else "unbounded-delete")
    if tree.kind in WITH_OUTPUT and any(child.kind == "Literal" for child in tree.children):
        result.classes.add("export")
    return result


def _classes(node):
    if re.fullmatch(r"Drop[A-Za-z]*Query|DetachQuery", node.kind) or re.fullmatch(r"DROP [A-Z ]+ query", node.label):
        return {"drop"}
    if node.kind == "TruncateQuery":
        return {"truncate"}
    if node.kind == "AlterCommand" and node.name().startswith("DROP_"):
        return {"drop"}
    if node.kind == "GrantQuery":
        return {"grant/revoke"}
    if node.kind == "BackupQuery" or node.kind == "InsertQuery" and any(child.kind == "Function" for child in node.children):
        return {"export"}
    if node.kind == "TableExpression":
        names = {child.name().lower() for child in node.children if child.kind == "Function"}
        return ({"server-files"} if names & OUTSIDE_TABLE_FUNCTIONS else set()) | ({"program"} if "executable" in names else set())
    if node.kind == "Function" and node.name() == "file":
        return {"server-files"}
    return set()


def _mutation(node):
    return node.kind in ("DeleteQuery", "UpdateQuery") or node.kind == "AlterCommand" and node.name() in ("DELETE", "UPDATE")


def _predicate(node):
    """A mutation's WHERE: the child that is not its table, partition, assignments or settings."""
    names = set(node.label.split()[1:]) if node.kind in ("DeleteQuery", "UpdateQuery") else set()
    rest = [child for child in node.children if child.kind not in ("Partition", "ExpressionList", "Set")
            and not (child.kind == "Identifier" and child.name() in names)]  # fmt: skip
    return rest[0] if len(rest) == 1 else None


def _evaluate(node):
    """The value of a predicate of literals, comparisons, AND, OR and NOT; UNKNOWN for the rest."""
    if node is None:
        return UNKNOWN
    if node.kind == "Literal":
        return _literal_value(node.label.split(" ", 1)[1] if " " in node.label else "")
    if node.kind != "Function" or len(node.children) != 1:
        return UNKNOWN
    args = [_evaluate(arg) for arg in node.children[0].children]
    if UNKNOWN in args or None in args:
        return UNKNOWN
    name = node.name()
    if name in COMPARISONS and len(args) == 2 and type(args[0]) is type(args[1]):
        return COMPARISONS[name](*args)
    if name in ("and", "or") and args and all(isinstance(arg, (bool, int, float)) for arg in args):
        return all(args) if name == "and" else any(args)
    if name == "not" and len(args) == 1 and isinstance(args[0], (bool, int, float)):
        return not args[0]
    return UNKNOWN


def _literal_value(text):
    text = re.sub(r" \(alias .*\)$", "", text)
    if text.startswith("'") and text.endswith("'") and len(text) >= 2:
        return text[1:-1]
    if text == "NULL":
        return None
    match = re.fullmatch(r"(?:UInt64|Int64|Float64|Bool)_(-?[0-9.]+(?:e[+-]?[0-9]+)?)", text)
    if not match:
        return UNKNOWN
    number = float(match.group(1))
    return bool(number) if text.startswith("Bool") else number


def _parse_dump(dump):
    """The tree of `EXPLAIN AST`'s text: one node a line, its depth its indentation."""
    root, stack = None, []
    for line in dump.split("\n"):
        if not line.strip():
            continue
        depth = len(line) - len(line.lstrip(" "))
        node = Node(re.sub(r" \(children [0-9]+\)$", "", line.strip()))
        del stack[depth:]
        if stack:
            stack[-1].children.append(node)
        elif root is None:
            root = node
        else:
            return None  # two roots: not one statement
        stack.append(node)
    return root


def _literal(text):
    return "'" + text.replace("\\", "\\\\").replace("'", "\\'") + "'"


def _unescaped(row):
    """A TabSeparated value as text."""
    escapes = {"n": "\n", "t": "\t", "\\": "\\", "'": "'", "0": "\0", "r": "\r", "b": "\b", "f": "\f"}
    return re.sub(r"\\(.)", lambda match: escapes.get(match.group(1), match.group(1)), row)
