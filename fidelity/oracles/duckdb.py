"""DuckDB as an oracle: a statement its parser accepts (`extract_statements`) is valid, and its
statement type is the truth, refined by DuckDB's own tree (`json_serialize_sql`, SELECTs only)
and its own tokens (`duckdb.tokenize`) where the type alone does not tell: the WHERE of an UPDATE
or DELETE, TRUNCATE (a DELETE to DuckDB), the direction of COPY, ALTER ... DROP. Nothing is run.
"""

import json

import duckdb

from . import Parsing, Truth

# DuckDB's table functions that read files or URLs (DuckDB documentation, "Data Import").
FILE_FUNCTIONS = {"read_csv", "read_csv_auto", "read_parquet", "parquet_scan", "read_json", "read_json_auto",
                  "read_ndjson", "read_ndjson_auto", "read_json_objects", "read_text", "read_blob", "glob",
                  "parquet_metadata", "parquet_schema", "sniff_csv"}  # fmt: skip
KINDS = {"SELECT": "read", "INSERT": "write", "UPDATE": "write", "DELETE": "write", "COPY": "write", "MERGE_INTO": "write",
         "CREATE": "ddl", "ALTER": "ddl", "DROP": "ddl", "CREATE_FUNC": "ddl", "TRANSACTION": "session",
         "SET": "session", "VARIABLE_SET": "session", "PRAGMA": "session"}  # fmt: skip
NOT_A_DROP = {"not", "default", "identity", "expression"}
# `FROM 'data.csv'`: a table named like a file DuckDB replaces by a scan of that file.
FILE_SUFFIXES = (".csv", ".tsv", ".txt", ".parquet", ".json", ".jsonl", ".ndjson", ".gz", ".zst")


class Oracle(Parsing):
    dialect = "duckdb"
    name = f"duckdb {duckdb.__version__}"
    judged_claims = {"drop", "truncate", "grant", "revoke", "export", "unbounded"}

    def __init__(self):
        super().__init__()
        self.connection = duckdb.connect(":memory:")

    def judge(self, texts):
        judged = []
        for text in texts:
            try:
                with self.parsing():
                    statements = self.connection.extract_statements(text)
            except duckdb.Error:
                continue
            if len(statements) == 1:
                judged.append((text, self._truth(statements[0].type.name, text)))
        return judged

    def _truth(self, kind, text):
        words = _words(text)
        result = Truth(kind=KINDS.get(kind, "other"))
        if kind == "DROP" and words[:1] != [("deallocate", 0)] or kind == "ALTER" and _drops_part(words):
            result.classes.add("drop")
        elif kind == "DELETE" and words[:1] == [("truncate", 0)]:
            result.classes.add("truncate")
        elif kind in ("DELETE", "UPDATE"):
            where = [index for index, (word, depth) in enumerate(words) if word == "where" and depth == 0]
            if not where:
                result.classes.add(f"unbounded-{kind.lower()}")
            else:
                result.unbounded_possible = True
        elif kind == "COPY" and any(word == "to" and depth == 0 for word, depth in words):
            result.classes.add("export")
        elif kind == "EXPORT":
            result.classes.add("export")
        elif kind == "SELECT" and self._reads_files(text):
            result.classes.add("server-files")
        if kind not in ("DELETE", "UPDATE"):
            # A write inside (a CTE, EXPLAIN ANALYZE, MERGE) the type does not show.
            result.unbounded_possible = any(word in ("delete", "update", "merge") for word, _ in words)
        return result

    def _reads_files(self, text):
        try:
            (tree,) = self.connection.execute("SELECT json_serialize_sql(?)", [text]).fetchone()
        except duckdb.Error:
            return False
        return any(name in FILE_FUNCTIONS if kind == "function" else "/" in name or name.endswith(FILE_SUFFIXES)
                   for kind, name in _read_names(json.loads(tree)))  # fmt: skip


def _words(text):
    """DuckDB's tokens as (lower-case keyword or operator, or <identifier>/<constant>, paren depth)."""
    raw = text.encode("utf-8")
    tokens = duckdb.tokenize(text)
    words, depth = [], 0
    for index, (offset, kind) in enumerate(tokens):
        end = tokens[index + 1][0] if index + 1 < len(tokens) else len(raw)
        word = raw[offset:end].decode("utf-8", errors="replace").strip().lower()
        if kind.name == "identifier":
            word = "<identifier>"
        elif kind.name in ("numeric_const", "string_const"):
            word = "<constant>"
        depth -= word.count(")") if kind.name == "operator" else 0
        words.append((word, depth))
        depth += word.count("(") if kind.name == "operator" else 0
    return words


def _drops_part(words):
    return any(word == "drop" and depth == 0 and (index + 1 >= len(words) or words[index + 1][0] not in NOT_A_DROP)
               for index, (word, depth) in enumerate(words))  # fmt: skip


def _read_names(value):
    """("function" or "table", name) for what a serialized SELECT names, lower case."""
    stack = [value]
    while stack:
        value = stack.pop()
        if isinstance(value, dict):
            if isinstance(value.get("function_name"), str):
                yield "function", value["function_name"].lower()
            if value.get("type") == "BASE_TABLE" and isinstance(value.get("table_name"), str):
                yield "table", value["table_name"].lower()
            stack.extend(value.values())
        elif isinstance(value, list):
            stack.extend(value)
