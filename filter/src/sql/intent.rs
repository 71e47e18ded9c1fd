//! From a parsed statement to its [`Intent`], in one walk with sqlparser's [`Visitor`].
//!
//! Every statement in the tree (the top one, a DELETE inside a CTE, the statement under EXPLAIN
//! ANALYZE, a PREPARE's body) records its operation and its *targets*: the objects it writes.
//! Every other relation is a read. Targets are told apart from reads by node identity, so a
//! table that is both (`UPDATE t ... FROM t`) is counted once as each. CTE names are scoped as
//! SQL scopes them: a CTE body sees only the CTEs before it (all of them under RECURSIVE), so
//! `WITH users AS (SELECT * FROM users)` still reads the real `users` table.

use std::ops::ControlFlow;

use sqlparser::ast::{
    AssignmentTarget, Delete, Expr, FromTable, Function, FunctionArg, FunctionArgExpr, FunctionArguments, Ident, Insert, Merge,
    MergeAction, MergeClauseKind, MergeInsertKind, MergeUpdateKind, ObjectName, ObjectNamePart, Query, Select, SelectItem,
    SetExpr, Statement, TableFactor, TableObject, Update, Visit, Visitor,
};

mod effects;

use super::dialect::Dialect;
use super::names::{canonical_ident, resolved_ident, ObjectPath};
use super::{tautology, Access, Intent, Operation, OperationSet, SqlError, WrittenColumns};

/// Functions that read or write files on the database server, or fetch remote data into it:
/// each is an export of data out of the database's control.
const SERVER_FILE_FUNCTIONS: &[&str] = &[
    // Postgres (up to 18): generic file access, server-side large objects, adminpack (up to 16)
    "pg_read_file",
    "pg_read_file_old",
    "pg_read_binary_file",
    "pg_stat_file",
    "pg_ls_dir",
    "pg_ls_logdir",
    "pg_ls_waldir",
    "pg_ls_tmpdir",
    "pg_ls_archive_statusdir",
    "pg_ls_logicalsnapdir",
    "pg_ls_logicalmapdir",
    "pg_ls_replslotdir",
    "pg_ls_summariesdir",
    "pg_current_logfile",
    "lo_export",
    "lo_import",
    "pg_file_write",
    "pg_file_rename",
    "pg_file_unlink",
    "pg_file_sync",
    "pg_logdir_ls",
    // MySQL / MariaDB
    "load_file",
    // SQLite (fileio extension, CLI)
    "readfile",
    "writefile",
    "edit",
    // DuckDB
    "read_text",
    "read_blob",
    "read_csv",
    "read_csv_auto",
    "read_json",
    "read_json_auto",
    "read_ndjson",
    "read_parquet",
    "parquet_scan",
    "glob",
    // ClickHouse table functions
    "file",
    "url",
    "s3",
    "hdfs",
    "azureblobstorage",
    "gcs",
    // SQL Server
    "openrowset",
    "opendatasource",
];

/// ClickHouse table functions that reach data outside the server's own tables (other servers,
/// databases, object stores, lakes): reading through one sends the query's data out and brings
/// outside data in, as `url` and `s3` do. Only ClickHouse's, so a function of these names in
/// another dialect keeps its meaning.
const CLICKHOUSE_OUTSIDE_FUNCTIONS: &[&str] = &[
    "remote",
    "remotesecure",
    "cluster",
    "clusterallreplicas",
    "mysql",
    "postgresql",
    "mongodb",
    "redis",
    "sqlite",
    "odbc",
    "jdbc",
    "filecluster",
    "urlcluster",
    "s3cluster",
    "hdfscluster",
    "azureblobstoragecluster",
    "oss",
    "cosn",
    "iceberg",
    "icebergs3",
    "icebergazure",
    "iceberghdfs",
    "iceberglocal",
    "deltalake",
    "deltalakes3",
    "deltalakeazure",
    "hudi",
    "arrowflight",
    "ytsaurus",
];

/// Functions that load data from outside into the database (`lo_import` reads a server file
/// besides, so it is an export too).
const IMPORT_FUNCTIONS: &[&str] = &["lo_import", "lo_from_bytea"];

/// Functions that run code or SQL the analyzer cannot see.
const DYNAMIC_FUNCTIONS: &[&str] = &[
    "dblink",
    "dblink_exec",
    "dblink_send_query",
    "dblink_connect",
    "dblink_connect_u",
    "dblink_open",
    "dblink_fetch",
    "dblink_get_result",
    "query_to_xml",
    "xp_cmdshell",
    "sp_executesql",
    "load_extension",
    "sys_exec",
    "sys_eval",
    "query_to_xml_and_xmlschema",
    "table_to_xml",
    "pg_terminate_backend",
    "pg_cancel_backend",
];

/// Functions that administer the server rather than read data (PostgreSQL's "System
/// Administration Functions"): reloading its configuration, switching or rotating its logs,
/// promoting a standby, replication slots, backups.
const ADMIN_FUNCTIONS: &[&str] = &[
    "pg_reload_conf",
    "pg_rotate_logfile",
    "pg_log_backend_memory_contexts",
    "pg_switch_wal",
    "pg_promote",
    "pg_create_restore_point",
    "pg_backup_start",
    "pg_backup_stop",
    "pg_start_backup",
    "pg_stop_backup",
    "pg_wal_replay_pause",
    "pg_wal_replay_resume",
    "pg_create_physical_replication_slot",
    "pg_create_logical_replication_slot",
    "pg_drop_replication_slot",
    "pg_replication_slot_advance",
    "pg_copy_physical_replication_slot",
    "pg_copy_logical_replication_slot",
    // Consuming a slot's changes moves it on: its subscriber never sees them.
    "pg_logical_slot_get_changes",
    "pg_logical_slot_get_binary_changes",
    "pg_logical_emit_message",
    "pg_replication_origin_create",
    "pg_replication_origin_drop",
    "pg_replication_origin_advance",
    "pg_replication_origin_session_setup",
    "pg_replication_origin_session_reset",
    "pg_replication_origin_xact_setup",
    "pg_replication_origin_xact_reset",
    "pg_stat_reset",
    "pg_stat_reset_shared",
    "pg_stat_reset_single_table_counters",
    "pg_stat_reset_single_function_counters",
    "pg_stat_reset_slru",
    "pg_stat_reset_replication_slot",
    "pg_stat_reset_subscription_stats",
    "pg_stat_statements_reset",
    "pg_import_system_collations",
    "pg_rotate_logfile_old",
];

/// What a [`STATE_FUNCTIONS`] call changes.
#[derive(Clone, Copy)]
enum StateChange {
    /// The sequence its first argument names moves on: an `UPDATE` of the sequence (PostgreSQL
    /// refuses `nextval` and `setval` in a READ ONLY transaction).
    Sequence,
    /// What the statement of this operation does, to no table of its own: large objects written
    /// and deleted (PostgreSQL 15 lets these through a READ ONLY transaction, so they are listed
    /// by what they do), `pg_notify` as `NOTIFY`, index summaries as `VACUUM`.
    As(Operation),
}

/// Functions that change what the database holds as a statement would.
const STATE_FUNCTIONS: &[(&str, StateChange)] = &[
    ("nextval", StateChange::Sequence),
    ("setval", StateChange::Sequence),
    ("lo_create", StateChange::As(Operation::Insert)),
    ("lo_creat", StateChange::As(Operation::Insert)),
    ("lo_from_bytea", StateChange::As(Operation::Insert)),
    ("lo_put", StateChange::As(Operation::Update)),
    ("lowrite", StateChange::As(Operation::Update)),
    ("lo_truncate", StateChange::As(Operation::Update)),
    ("lo_truncate64", StateChange::As(Operation::Update)),
    ("lo_unlink", StateChange::As(Operation::Delete)),
    ("pg_notify", StateChange::As(Operation::Other)),
    ("brin_summarize_new_values", StateChange::As(Operation::Alter)),
    ("brin_summarize_range", StateChange::As(Operation::Alter)),
    ("brin_desummarize_range", StateChange::As(Operation::Alter)),
    ("gin_clean_pending_list", StateChange::As(Operation::Alter)),
];

fn state_change_of(name: &str) -> Option<StateChange> {
    STATE_FUNCTIONS.iter().find(|(function, _)| function.eq_ignore_ascii_case(name)).map(|(_, change)| *change)
}

/// The operation a [`STATE_FUNCTIONS`] call performs.
pub(crate) fn state_function_operation(name: &str) -> Option<Operation> {
    state_change_of(name).map(|change| match change {
        StateChange::Sequence => Operation::Update,
        StateChange::As(op) => op,
    })
}

pub(crate) fn of_statement(statement: &Statement, dialect: Dialect) -> Result<Intent, SqlError> {
    let mut collector = Collector::new(dialect);
    if let ControlFlow::Break(error) = statement.visit(&mut collector) {
        return Err(error);
    }
    Ok(collector.finish())
}

struct CteFrame {
    owner: *const Query,
    names: Vec<String>,
    recursive: bool,
    /// How many of `names` are in scope right now.
    visible: usize,
}

struct Collector {
    dialect: Dialect,
    operations: OperationSet,
    accesses: Vec<Access>,
    /// Relation nodes already recorded as targets of a write.
    targets: Vec<*const ObjectName>,
    /// Statements under a plain EXPLAIN: planned, not run.
    planned_only: Vec<*const Statement>,
    planning_depth: usize,
    ctes: Vec<CteFrame>,
    /// CTE bodies: (query node, frame owner, index of the CTE).
    cte_bodies: Vec<(*const Query, *const Query, usize)>,
    written: WrittenColumns,
    read: Vec<String>,
    reads_all_columns: bool,
    unbounded: bool,
}

impl Collector {
    fn new(dialect: Dialect) -> Collector {
        Collector {
            dialect,
            operations: OperationSet::EMPTY,
            accesses: Vec::new(),
            targets: Vec::new(),
            planned_only: Vec::new(),
            planning_depth: 0,
            ctes: Vec::new(),
            cte_bodies: Vec::new(),
            written: WrittenColumns::default(),
            read: Vec::new(),
            reads_all_columns: false,
            unbounded: false,
        }
    }

    fn finish(self) -> Intent {
        Intent {
            session: None,
            operations: self.operations,
            accesses: self.accesses,
            columns_written: self.written,
            columns_read: self.read,
            reads_all_columns: self.reads_all_columns,
            unbounded: self.unbounded,
            fingerprint: String::new(),
            span: (0, 0),
        }
    }

    /// Under a plain EXPLAIN nothing runs: every operation is recorded as `explain`.
    fn effective(&self, op: Operation) -> Operation {
        if self.planning_depth > 0 {
            Operation::Explain
        } else {
            op
        }
    }

    fn op(&mut self, op: Operation) {
        let op = self.effective(op);
        self.operations.insert(op);
    }

    fn access(&mut self, op: Operation, object: ObjectPath) {
        let op = self.effective(op);
        self.operations.insert(op);
        let access = Access { operation: op, object };
        if !self.accesses.contains(&access) {
            self.accesses.push(access);
        }
    }

    /// Records a write target and remembers the node so the relation walk skips it.
    fn target(&mut self, op: Operation, name: &ObjectName) {
        self.targets.push(name as *const ObjectName);
        let path = ObjectPath::from_object_name(name, self.dialect);
        self.access(op, path);
    }

    fn write_column(&mut self, name: String) {
        if self.planning_depth > 0 {
            return;
        }
        if !self.written.names.contains(&name) {
            self.written.names.push(name);
        }
    }

    fn column_name(&self, name: &ObjectName) -> Option<String> {
        name.0.last().and_then(|part| part.as_ident()).map(|ident| canonical_ident(ident, self.dialect))
    }

    fn read_column(&mut self, ident: &Ident) {
        let name = canonical_ident(ident, self.dialect);
        if !self.read.contains(&name) {
            self.read.push(name);
        }
    }

    fn mark_unbounded(&mut self, selection: Option<&Expr>) {
        if self.planning_depth > 0 {
            return;
        }
        if selection.is_none_or(tautology::always_true) {
            self.unbounded = true;
        }
    }

    fn is_cte_reference(&self, name: &ObjectName) -> bool {
        let [part] = name.0.as_slice() else { return false };
        let Some(ident) = part.as_ident() else { return false };
        let wanted = resolved_ident(ident, self.dialect);
        self.ctes.iter().any(|frame| frame.names[..frame.visible].contains(&wanted))
    }

    /// A table read by name: a CTE's name reads nothing, a dynamic name runs code, a file path
    /// exports the file.
    fn read_relation(&mut self, relation: &ObjectName) {
        if self.is_cte_reference(relation) {
            return;
        }
        let path = ObjectPath::from_object_name(relation, self.dialect);
        if path.is_dynamic() {
            // `IDENTIFIER($table)`: which table is only known when it runs.
            self.op(Operation::Call);
        }
        if names_a_file(relation) {
            // DuckDB `FROM '/etc/passwd'`, Spark `csv.`/data/x.csv``: the server reads a file.
            self.access(Operation::Export, path.clone());
        }
        self.access(Operation::Select, path);
    }

    fn classify_function(&mut self, name: &ObjectName) {
        let base = match name.0.last().and_then(|p| p.as_ident()) {
            Some(ident) => ident.value.to_ascii_lowercase(),
            None => return,
        };
        let path = ObjectPath::from_object_name(name, self.dialect);
        if IMPORT_FUNCTIONS.contains(&base.as_str()) {
            self.access(Operation::Import, path.clone());
        }
        let clickhouse = self.dialect == Dialect::Clickhouse;
        if SERVER_FILE_FUNCTIONS.contains(&base.as_str()) || clickhouse && CLICKHOUSE_OUTSIDE_FUNCTIONS.contains(&base.as_str()) {
            self.access(Operation::Export, path);
        } else if DYNAMIC_FUNCTIONS.contains(&base.as_str()) || clickhouse && base == "executable" {
            // ClickHouse `executable(script, ...)` runs a script on the server.
            self.access(Operation::Call, path);
        } else if ADMIN_FUNCTIONS.contains(&base.as_str()) {
            self.access(Operation::Admin, path);
        }
    }

    /// A [`STATE_FUNCTIONS`] call: on the sequence it names (`nextval('shop.orders_id_seq')`,
    /// MariaDB's `NEXTVAL(orders_seq)`), else on the function itself.
    fn state_change(&mut self, name: &ObjectName, args: Option<&[FunctionArg]>) {
        let Some(base) = name.0.last().and_then(|p| p.as_ident()) else { return };
        let own = || ObjectPath::from_object_name(name, self.dialect);
        match state_change_of(&base.value) {
            Some(StateChange::Sequence) => {
                let sequence = first_argument(args).and_then(|arg| named_relation(arg, self.dialect));
                self.access(Operation::Update, sequence.unwrap_or_else(own));
            }
            Some(StateChange::As(op)) => self.access(op, own()),
            None => {}
        }
    }

    fn read_table_queries(&mut self, body: &SetExpr) {
        match body {
            SetExpr::Table(table) => {
                let parts = table.schema_name.iter().chain(&table.table_name);
                let name = ObjectName(parts.cloned().map(ObjectNamePart::Identifier).collect());
                if !name.0.is_empty() {
                    self.read_relation(&name);
                }
            }
            SetExpr::SetOperation { left, right, .. } => {
                self.read_table_queries(left);
                self.read_table_queries(right);
            }
            _ => {}
        }
    }

    fn insert(&mut self, insert: &Insert) {
        let op = Operation::Insert;
        match &insert.table {
            TableObject::TableName(name) => self.target(op, name),
            // ClickHouse `INSERT INTO FUNCTION file(...)`, `s3(...)`: data leaves the database.
            TableObject::TableFunction(function) => {
                let path = ObjectPath::from_object_name(&function.name, self.dialect);
                self.access(Operation::Export, path);
            }
            TableObject::TableQuery(_) => self.op(op),
        }
        if insert.overwrite {
            // Hive, Databricks, Snowflake `INSERT OVERWRITE`: the table's rows are replaced.
            match &insert.table {
                TableObject::TableName(name) => {
                    self.access(Operation::Truncate, ObjectPath::from_object_name(name, self.dialect))
                }
                TableObject::TableFunction(_) | TableObject::TableQuery(_) => self.op(Operation::Truncate),
            }
        }
        self.returning(insert.returning.as_ref());
        if insert.columns.is_empty() && insert.assignments.is_empty() {
            self.written.unknown = true;
        }
        for column in &insert.columns {
            if let Some(name) = self.column_name(column) {
                self.write_column(name);
            }
        }
        for assignment in &insert.assignments {
            self.assignment_target(&assignment.target);
        }
        if let Some(sqlparser::ast::OnInsert::DuplicateKeyUpdate(assignments)) = &insert.on {
            self.op(Operation::Update);
            for assignment in assignments {
                self.assignment_target(&assignment.target);
            }
        }
        if let Some(sqlparser::ast::OnInsert::OnConflict(conflict)) = &insert.on {
            if let sqlparser::ast::OnConflictAction::DoUpdate(update) = &conflict.action {
                self.op(Operation::Update);
                for assignment in &update.assignments {
                    self.assignment_target(&assignment.target);
                }
            }
        }
    }

    /// `RETURNING *` hands back whole rows.
    fn returning(&mut self, items: Option<&Vec<SelectItem>>) {
        if items
            .is_some_and(|items| items.iter().any(|i| matches!(i, SelectItem::Wildcard(_) | SelectItem::QualifiedWildcard(..))))
        {
            self.reads_all_columns = true;
        }
    }

    fn assignment_target(&mut self, target: &AssignmentTarget) {
        let names: &[ObjectName] = match target {
            AssignmentTarget::ColumnName(name) => std::slice::from_ref(name),
            AssignmentTarget::Tuple(names) => names,
        };
        for name in names {
            if let Some(column) = self.column_name(name) {
                self.write_column(column);
            }
        }
    }

    fn update(&mut self, update: &Update) {
        self.op(Operation::Update);
        self.table_factor_target(Operation::Update, &update.table.relation);
        for join in &update.table.joins {
            self.table_factor_target(Operation::Update, &join.relation);
        }
        for assignment in &update.assignments {
            self.assignment_target(&assignment.target);
        }
        self.returning(update.returning.as_ref());
        self.mark_unbounded(update.selection.as_ref());
    }

    fn delete(&mut self, delete: &Delete) {
        self.op(Operation::Delete);
        if delete.tables.is_empty() {
            let from = match &delete.from {
                FromTable::WithFromKeyword(tables) | FromTable::WithoutKeyword(tables) => tables,
            };
            // Postgres and standard SQL: the FROM list names the target; MySQL's joined
            // single-table form does too.
            for table in from {
                self.table_factor_target(Operation::Delete, &table.relation);
                for join in &table.joins {
                    self.table_factor_target(Operation::Delete, &join.relation);
                }
            }
        } else {
            // MySQL multi-table: `DELETE o, c FROM orders o JOIN customers c ...` names targets
            // by alias: resolve each through the FROM list.
            let from = match &delete.from {
                FromTable::WithFromKeyword(tables) | FromTable::WithoutKeyword(tables) => tables,
            };
            let factors = from.iter().flat_map(|t| std::iter::once(&t.relation).chain(t.joins.iter().map(|j| &j.relation)));
            let aliases: Vec<(&Ident, &ObjectName)> = factors
                .filter_map(|f| match f {
                    TableFactor::Table { name, alias: Some(alias), .. } => Some((&alias.name, name)),
                    _ => None,
                })
                .collect();
            for name in &delete.tables {
                let aliased = match name.0.as_slice() {
                    [part] => part.as_ident().and_then(|ident| {
                        aliases.iter().find(|(a, _)| a.value.eq_ignore_ascii_case(&ident.value)).map(|(_, n)| *n)
                    }),
                    _ => None,
                };
                self.target(Operation::Delete, aliased.unwrap_or(name));
            }
        }
        self.returning(delete.returning.as_ref());
        self.mark_unbounded(delete.selection.as_ref());
    }

    fn table_factor_target(&mut self, op: Operation, factor: &TableFactor) {
        match factor {
            TableFactor::Table { name, .. } => self.target(op, name),
            _ => self.op(op),
        }
    }

    /// A MERGE changes every target row when its ON matches every pair and a changing clause
    /// has no real condition of its own; `WHEN NOT MATCHED BY SOURCE` is bounded only by its own.
    fn merge(&mut self, merge: &Merge) {
        self.table_factor_target(Operation::Merge, &merge.table);
        let on_matches_all = tautology::always_true(&merge.on);
        for clause in &merge.clauses {
            let changes_rows = matches!(clause.action, MergeAction::Update(_) | MergeAction::Delete { .. });
            let bounded_by_on = match clause.clause_kind {
                MergeClauseKind::Matched => !on_matches_all,
                MergeClauseKind::NotMatchedBySource => false,
                MergeClauseKind::NotMatched | MergeClauseKind::NotMatchedByTarget => true,
            };
            if changes_rows && !bounded_by_on {
                self.mark_unbounded(clause.predicate.as_ref());
            }
            self.merge_action(&clause.action);
        }
    }

    fn merge_action(&mut self, action: &MergeAction) {
        match action {
            MergeAction::Insert(insert) => {
                self.op(Operation::Insert);
                if insert.columns.is_empty() || matches!(insert.kind, MergeInsertKind::Row) {
                    self.written.unknown = true;
                }
                for column in &insert.columns {
                    if let Some(name) = self.column_name(column) {
                        self.write_column(name);
                    }
                }
            }
            MergeAction::Update(update) => {
                self.op(Operation::Update);
                if let MergeUpdateKind::Set(assignments) = &update.kind {
                    for assignment in assignments {
                        self.assignment_target(&assignment.target);
                    }
                } else {
                    self.written.unknown = true;
                }
            }
            MergeAction::Delete { .. } => self.op(Operation::Delete),
            MergeAction::DoNothing { .. } => {}
        }
    }

    fn select(&mut self, select: &Select) {
        for item in &select.projection {
            if matches!(item, SelectItem::Wildcard(_) | SelectItem::QualifiedWildcard(..)) {
                self.reads_all_columns = true;
            }
        }
        // `SELECT u FROM users u`, `row_to_json(users)`: a table's name as a value is its whole row.
        let mut row_names: Vec<&str> = Vec::new();
        for table in &select.from {
            for factor in std::iter::once(&table.relation).chain(table.joins.iter().map(|j| &j.relation)) {
                if let TableFactor::Table { name, alias, .. } = factor {
                    if let Some(last) = name.0.last().and_then(|p| p.as_ident()) {
                        row_names.push(&last.value);
                    }
                    if let Some(alias) = alias {
                        row_names.push(&alias.name.value);
                    }
                }
            }
            for join in &table.joins {
                if let Some(sqlparser::ast::JoinConstraint::Using(columns)) = join_constraint(&join.join_operator) {
                    for column in columns {
                        if let Some(ident) = column.0.last().and_then(|p| p.as_ident()) {
                            self.read_column(ident);
                        }
                    }
                }
            }
        }
        let is_row = |e: &Expr| matches!(e, Expr::Identifier(i) if row_names.iter().any(|n| n.eq_ignore_ascii_case(&i.value)));
        for item in &select.projection {
            let expr = match item {
                SelectItem::UnnamedExpr(e) | SelectItem::ExprWithAlias { expr: e, .. } => e,
                _ => continue,
            };
            let whole_row = is_row(expr)
                || matches!(expr, Expr::Function(f) if matches!(&f.args, FunctionArguments::List(list)
                    if list.args.iter().any(|a| matches!(a, FunctionArg::Unnamed(FunctionArgExpr::Expr(e)) if is_row(e)))));
            if whole_row {
                self.reads_all_columns = true;
            }
        }
        // `SELECT ... INTO new_table` (Postgres, T-SQL) creates and fills a table.
        if let Some(into) = &select.into {
            for target in &into.targets {
                let name = match target {
                    Expr::Identifier(ident) => Some(vec![canonical_ident(ident, self.dialect)]),
                    Expr::CompoundIdentifier(idents) => Some(idents.iter().map(|i| canonical_ident(i, self.dialect)).collect()),
                    _ => None,
                };
                if let Some(parts) = name {
                    // MySQL `INTO @var` assigns a session variable, not a table.
                    if !parts.first().is_some_and(|p| p.starts_with('@')) {
                        self.access(Operation::Create, ObjectPath::new(parts.clone()));
                        self.access(Operation::Insert, ObjectPath::new(parts));
                    }
                }
            }
        }
    }

    fn function_call(&mut self, function: &Function) {
        let args = match &function.args {
            FunctionArguments::List(list) => Some(&list.args[..]),
            _ => None,
        };
        self.run_function(&function.name, args);
    }

    /// A call, in an expression or as a table in FROM (`FROM nextval('s')`, `LATERAL
    /// setval('s', 1)`): the server runs it either way. `args` is `None` without a list.
    fn run_function(&mut self, name: &ObjectName, args: Option<&[FunctionArg]>) {
        self.classify_function(name);
        self.state_change(name, args);
        if sets_identity(name, args) {
            // `set_config('role', 'admin', false)` is `SET ROLE admin`.
            self.op(Operation::Grant);
        }
        for arg in args.unwrap_or_default() {
            let expr = match arg {
                FunctionArg::Named { arg, .. } | FunctionArg::ExprNamed { arg, .. } | FunctionArg::Unnamed(arg) => arg,
            };
            if matches!(expr, FunctionArgExpr::Wildcard | FunctionArgExpr::QualifiedWildcard(_)) {
                // COUNT(*) reads no column values; other aggregates over * are rare.
                let name = name.to_string().to_ascii_lowercase();
                if name != "count" {
                    self.reads_all_columns = true;
                }
            }
        }
    }
}

impl Visitor for Collector {
    type Break = SqlError;

    fn pre_visit_statement(&mut self, statement: &Statement) -> ControlFlow<SqlError> {
        let ptr = statement as *const Statement;
        if self.planned_only.contains(&ptr) {
            self.planning_depth += 1;
        }
        self.statement(statement);
        ControlFlow::Continue(())
    }

    fn post_visit_statement(&mut self, statement: &Statement) -> ControlFlow<SqlError> {
        if self.planned_only.contains(&(statement as *const Statement)) {
            self.planning_depth -= 1;
        }
        ControlFlow::Continue(())
    }

    fn pre_visit_query(&mut self, query: &Query) -> ControlFlow<SqlError> {
        let ptr = query as *const Query;
        if let Some(&(_, owner, index)) = self.cte_bodies.iter().find(|(body, _, _)| *body == ptr) {
            if let Some(frame) = self.ctes.iter_mut().rev().find(|f| f.owner == owner) {
                frame.visible = if frame.recursive { frame.names.len() } else { index };
            }
        }
        if let Some(with) = &query.with {
            let names: Vec<String> = with.cte_tables.iter().map(|cte| resolved_ident(&cte.alias.name, self.dialect)).collect();
            for (index, cte) in with.cte_tables.iter().enumerate() {
                self.cte_bodies.push((&*cte.query as *const Query, ptr, index));
            }
            self.ctes.push(CteFrame { owner: ptr, names, recursive: with.recursive, visible: 0 });
        }
        // A SELECT inside a statement is a read; the body of a CTE may be a write.
        if let SetExpr::Select(_) | SetExpr::Table(_) = &*query.body {
            self.op(Operation::Select);
        }
        ControlFlow::Continue(())
    }

    fn post_visit_query(&mut self, query: &Query) -> ControlFlow<SqlError> {
        let ptr = query as *const Query;
        if let Some(&(_, owner, index)) = self.cte_bodies.iter().find(|(body, _, _)| *body == ptr) {
            if let Some(frame) = self.ctes.iter_mut().rev().find(|f| f.owner == owner) {
                frame.visible = frame.visible.max(index + 1);
            }
        }
        // `TABLE t` names its table in idents, not as a relation the visitor walks; read here,
        // once the query's own CTEs are visible.
        // `SELECT ... UNION TABLE t` holds it in a set operation, no query of its own.
        self.read_table_queries(&query.body);
        if query.with.is_some() && self.ctes.last().is_some_and(|f| f.owner == ptr) {
            self.ctes.pop();
        }
        ControlFlow::Continue(())
    }

    fn pre_visit_select(&mut self, select: &Select) -> ControlFlow<SqlError> {
        self.select(select);
        ControlFlow::Continue(())
    }

    fn pre_visit_relation(&mut self, relation: &ObjectName) -> ControlFlow<SqlError> {
        if !self.targets.contains(&(relation as *const ObjectName)) {
            self.read_relation(relation);
        }
        ControlFlow::Continue(())
    }

    fn pre_visit_table_factor(&mut self, factor: &TableFactor) -> ControlFlow<SqlError> {
        match factor {
            // `FROM pg_read_file(...)`, ClickHouse `FROM file(...)`.
            TableFactor::Table { name, args: Some(table_args), .. } => self.run_function(name, Some(&table_args.args)),
            TableFactor::Function { name, args, .. } => self.run_function(name, Some(args)),
            TableFactor::TableFunction { expr: Expr::Function(function), .. } => self.function_call(function),
            _ => {}
        }
        ControlFlow::Continue(())
    }

    fn pre_visit_expr(&mut self, expr: &Expr) -> ControlFlow<SqlError> {
        match expr {
            Expr::Identifier(ident) => self.read_column(ident),
            Expr::CompoundIdentifier(idents) => {
                if let Some(last) = idents.last() {
                    self.read_column(last);
                }
            }
            Expr::Function(function) => self.function_call(function),
            Expr::QualifiedWildcard(..) | Expr::Wildcard(_) => self.reads_all_columns = true,
            _ => {}
        }
        ControlFlow::Continue(())
    }
}

fn join_constraint(operator: &sqlparser::ast::JoinOperator) -> Option<&sqlparser::ast::JoinConstraint> {
    use sqlparser::ast::JoinOperator as J;
    match operator {
        J::Join(c)
        | J::Inner(c)
        | J::Left(c)
        | J::LeftOuter(c)
        | J::Right(c)
        | J::RightOuter(c)
        | J::FullOuter(c)
        | J::CrossJoin(c)
        | J::Semi(c)
        | J::LeftSemi(c)
        | J::RightSemi(c)
        | J::Anti(c)
        | J::LeftAnti(c)
        | J::RightAnti(c) => Some(c),
        _ => None,
    }
}

/// Postgres `set_config(name, value, local)` whose name is `role` or `session_authorization`, or
/// a name only known when it runs.
fn sets_identity(name: &ObjectName, args: Option<&[FunctionArg]>) -> bool {
    let is_set_config = name.0.last().and_then(|p| p.as_ident()).is_some_and(|i| i.value.eq_ignore_ascii_case("set_config"));
    let Some(args) = args else { return false };
    let first = match args.first() {
        Some(FunctionArg::Named { arg: FunctionArgExpr::Expr(e), .. } | FunctionArg::Unnamed(FunctionArgExpr::Expr(e))) => e,
        _ => return is_set_config,
    };
    let literal = match first {
        Expr::Value(v) => v.value.clone().into_string(),
        _ => None,
    };
    is_set_config && literal.is_none_or(|name| effects::is_identity_setting(&name))
}

fn first_argument(args: Option<&[FunctionArg]>) -> Option<&Expr> {
    match args?.first()? {
        FunctionArg::Unnamed(FunctionArgExpr::Expr(e)) | FunctionArg::Named { arg: FunctionArgExpr::Expr(e), .. } => Some(e),
        _ => None,
    }
}

/// The relation an argument names: a string the server reads as a name (`'shop."Orders_seq"'`,
/// `'s'::regclass`) or an identifier.
fn named_relation(arg: &Expr, dialect: Dialect) -> Option<ObjectPath> {
    let name = match arg {
        Expr::Cast { expr, .. } => return named_relation(expr, dialect),
        Expr::Identifier(ident) => ObjectName(vec![ObjectNamePart::Identifier(ident.clone())]),
        Expr::CompoundIdentifier(idents) => ObjectName(idents.iter().cloned().map(ObjectNamePart::Identifier).collect()),
        Expr::Value(v) => {
            let text = v.value.clone().into_string()?;
            sqlparser::parser::Parser::new(dialect.parser_dialect()).try_with_sql(&text).ok()?.parse_object_name(false).ok()?
        }
        _ => return None,
    };
    Some(ObjectPath::from_object_name(&name, dialect))
}

/// A relation that is a file path, not a table.
fn names_a_file(name: &ObjectName) -> bool {
    name.0.iter().filter_map(|p| p.as_ident()).any(|ident| {
        ident.quote_style == Some('\'')
            || (ident.quote_style.is_some() && (ident.value.contains('/') || ident.value.contains('\\')))
    })
}

/// A function that runs SQL or code the analyzer cannot see (`dblink_exec`, `xp_cmdshell`).
pub(crate) fn is_dynamic_function(name: &str) -> bool {
    DYNAMIC_FUNCTIONS.contains(&name.to_ascii_lowercase().as_str())
}

/// A function that administers the server (`pg_reload_conf`, `pg_promote`).
pub(crate) fn is_admin_function(name: &str) -> bool {
    ADMIN_FUNCTIONS.contains(&name.to_ascii_lowercase().as_str())
}

pub(crate) fn is_server_file_function(name: &str) -> bool {
    let lower = name.to_ascii_lowercase();
    // Short generic names (`file`, `url`, `glob`) only count as calls, not as bare words.
    lower.len() > 4 && SERVER_FILE_FUNCTIONS.contains(&lower.as_str())
}

#[cfg(test)]
mod tests {
    use super::super::{analyze, Dialect, Operation};

    fn ops(sql: &str, dialect: Dialect) -> Vec<&'static str> {
        let intents = analyze(sql, dialect).unwrap_or_else(|e| panic!("{sql}: {e}"));
        intents[0].operations.iter().map(Operation::as_str).collect()
    }

    #[test]
    fn cte_shadowing_a_table_still_reads_the_table() {
        let intents = analyze("WITH users AS (SELECT * FROM users) SELECT * FROM users", Dialect::Postgres).unwrap();
        let objects: Vec<String> = intents[0].objects().iter().map(|o| o.to_string()).collect();
        assert_eq!(objects, vec!["users"]);
    }

    #[test]
    fn cte_reference_is_not_a_table() {
        let intents = analyze("WITH recent AS (SELECT * FROM analytics.events) SELECT * FROM recent", Dialect::Postgres).unwrap();
        let objects: Vec<String> = intents[0].objects().iter().map(|o| o.to_string()).collect();
        assert_eq!(objects, vec!["analytics.events"]);
    }

    #[test]
    fn plain_explain_runs_nothing_but_explain_analyze_does() {
        assert_eq!(ops("EXPLAIN DELETE FROM t", Dialect::Postgres), vec!["explain"]);
        assert_eq!(ops("EXPLAIN ANALYZE DELETE FROM t", Dialect::Postgres), vec!["delete", "explain"]);
        assert_eq!(ops("EXPLAIN (ANALYZE) DELETE FROM t", Dialect::Postgres), vec!["delete", "explain"]);
        assert_eq!(ops("EXPLAIN (ANALYZE false) DELETE FROM t", Dialect::Postgres), vec!["explain"]);
    }
}
