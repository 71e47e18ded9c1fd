"""PostgreSQL's own parser (libpg_query through pglast): truth from the raw parse tree.

The tree is walked whole, so a DELETE in a CTE, a rule action, an EXPLAIN, a PREPARE or a
BEGIN ATOMIC body counts as the statement's own.
"""

import json

from pglast import parser

from . import Parsing, Truth

DROPS = {"DropStmt", "DropdbStmt", "DropRoleStmt", "DropTableSpaceStmt", "DropOwnedStmt", "DropSubscriptionStmt",
         "DropUserMappingStmt"}  # fmt: skip
DROPPING_ALTERS = {"AT_DropColumn", "AT_DropConstraint"}
GRANTS = {"GrantStmt", "GrantRoleStmt", "AlterDefaultPrivilegesStmt"}
# Role attributes and memberships that hand out privileges (CREATE/ALTER ROLE ... SUPERUSER, IN ROLE).
PRIVILEGED_ROLE_OPTIONS = {"superuser", "createrole", "createdb", "isreplication", "bypassrls", "addroleto",
                           "rolemembers", "adminmembers"}  # fmt: skip
# PostgreSQL's generic file access functions (documentation, "System Administration Functions") and lo_export.
SERVER_FILE_FUNCTIONS = {"pg_read_file", "pg_read_binary_file", "pg_stat_file", "pg_ls_dir", "pg_ls_logdir",
                         "pg_ls_waldir", "pg_ls_tmpdir", "pg_ls_archive_statusdir", "pg_ls_logicalsnapdir",
                         "pg_ls_logicalmapdir", "pg_ls_replslotdir", "lo_export"}  # fmt: skip
READS = {"SelectStmt", "VariableShowStmt"}
WRITES = {"InsertStmt", "UpdateStmt", "DeleteStmt", "MergeStmt", "CopyStmt", "TruncateStmt"}
SESSION = {"VariableSetStmt", "TransactionStmt", "DiscardStmt", "ListenStmt", "UnlistenStmt", "NotifyStmt",
           "DeclareCursorStmt", "FetchStmt", "ClosePortalStmt", "PrepareStmt", "ExecuteStmt", "DeallocateStmt",
           "LockStmt", "ConstraintsSetStmt"}  # fmt: skip
OTHER = {"ExplainStmt", "CallStmt", "DoStmt", "VacuumStmt", "CheckPointStmt", "LoadStmt", "ReindexStmt", "ClusterStmt",
         "ReassignOwnedStmt", "RefreshMatViewStmt"}  # fmt: skip


class Oracle(Parsing):
    dialect = "postgres"
    name = "pglast (PostgreSQL %d.%d parser)" % parser.get_postgresql_version()

    judged_claims = {"drop", "truncate", "grant", "revoke", "export", "unbounded"}

    def judge(self, texts):
        """[(statement text, Truth)] for every statement pglast accepts, a text cut at its statements."""
        judged = []
        for text in texts:
            try:
                with self.parsing():
                    tree = json.loads(parser.parse_sql_json(text))
            except parser.ParseError:
                continue
            raw = text.encode("utf-8")
            for entry in tree.get("stmts", []):
                start = entry.get("stmt_location", 0)
                end = start + entry["stmt_len"] if entry.get("stmt_len") else len(raw)
                statement = raw[start:end].decode("utf-8", errors="replace").strip()
                if statement:
                    judged.append((statement, truth(entry["stmt"])))
        return judged


def truth(stmt):
    (top,) = stmt
    result = Truth(kind=_kind(top, stmt[top]))
    for node_type, fields in _nodes(stmt):
        result.classes |= _classes(node_type, fields)
        # A WHERE or ON is there, but whether it bounds anything (`id = id`) the tree does not say.
        result.unbounded_possible |= node_type in ("UpdateStmt", "DeleteStmt", "MergeStmt")
        result.opaque |= node_type == "DoStmt" or node_type == "CreateFunctionStmt" and "sql_body" not in fields
    return result


def _classes(node_type, fields):
    if node_type in DROPS:
        return {"drop"}
    if node_type == "AlterTableCmd" and fields.get("subtype") in DROPPING_ALTERS:
        return {"drop"}
    if node_type == "TruncateStmt":
        return {"truncate"}
    if node_type in ("DeleteStmt", "UpdateStmt") and "whereClause" not in fields:
        return {"unbounded-delete" if node_type == "DeleteStmt" else "unbounded-update"}
    if node_type in GRANTS:
        return {"grant/revoke"}
    if node_type in ("CreateRoleStmt", "AlterRoleStmt") and any(_grants_privilege(option) for option in fields.get("options", [])):
        return {"grant/revoke"}
    if node_type == "CopyStmt":
        return ({"program"} if fields.get("is_program") else set()) | (set() if fields.get("is_from") else {"export"})
    if node_type == "FuncCall" and _name(fields.get("funcname", [])) in SERVER_FILE_FUNCTIONS:
        return {"server-files"}
    return set()


def _grants_privilege(option):
    element = option.get("DefElem", {})
    if element.get("defname") not in PRIVILEGED_ROLE_OPTIONS:
        return False
    return element.get("arg", {}).get("Boolean", {"boolval": True}).get("boolval", False)


def _analyzes(explain):
    for option in explain.get("options", []):
        element = option.get("DefElem", {})
        if element.get("defname") == "analyze":
            arg = element.get("arg", {})
            value = arg.get("String", {}).get("sval") or arg.get("Boolean", {}).get("boolval", True)
            return value not in ("false", "off", "0", False)
    return False


def _name(parts):
    return parts[-1].get("String", {}).get("sval", "") if parts else ""


def _kind(top, fields):
    if top == "SelectStmt" and "intoClause" not in fields or top in READS:
        return "read"
    if top in WRITES:
        return "write"
    if top in SESSION:
        return "session"
    if top in OTHER or top in GRANTS:
        return "other"
    return "ddl"


def _nodes(value):
    """(node type, fields) of every node in a parse tree's JSON, depth first. The statement of an
    EXPLAIN without ANALYZE is planned, not run: its nodes are left out."""
    stack = [value]
    while stack:
        value = stack.pop()
        if isinstance(value, dict):
            for key, inner in value.items():
                if key[:1].isupper() and isinstance(inner, dict):
                    yield key, inner
                    if key == "ExplainStmt" and not _analyzes(inner):
                        inner = {name: field for name, field in inner.items() if name != "query"}
                stack.append(inner)
        elif isinstance(value, list):
            stack.extend(value)
