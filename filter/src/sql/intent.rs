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
    AlterView, AssignmentTarget, CopyIntoSnowflakeKind, CopySource, CopyTarget, Delete, Expr, FromTable, Function, FunctionArg,
    FunctionArgExpr, FunctionArguments, GrantObjects, Ident, Insert, Merge, MergeAction, MergeInsertKind, MergeUpdateKind,
    ObjectName, ObjectNamePart, Query, Select, SelectItem, SetExpr, Statement, TableFactor, TableObject, Update, UtilityOption,
    Visit, Visitor,
};

use super::dialect::Dialect;
use super::names::{canonical_ident, resolved_ident, ObjectPath};
use super::{tautology, Access, Intent, Operation, OperationSet, SqlError, WrittenColumns};

/// Functions that read or write files on the database server, or fetch remote data into it:
/// each is an export of data out of the database's control.
const SERVER_FILE_FUNCTIONS: &[&str] = &[
    // Postgres
    "pg_read_file",
    "pg_read_binary_file",
    "pg_ls_dir",
    "pg_stat_file",
    "lo_export",
    "pg_ls_logdir",
    "pg_ls_waldir",
    "pg_ls_tmpdir",
    "pg_ls_archive_statusdir",
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

/// Functions that load data from outside into the database.
const IMPORT_FUNCTIONS: &[&str] = &["lo_import", "lo_from_bytea"];

/// Functions that run code or SQL the analyzer cannot see.
const DYNAMIC_FUNCTIONS: &[&str] = &[
    "dblink",
    "dblink_exec",
    "dblink_send_query",
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
        if SERVER_FILE_FUNCTIONS.contains(&base.as_str()) {
            self.access(Operation::Export, path);
        } else if IMPORT_FUNCTIONS.contains(&base.as_str()) {
            self.access(Operation::Import, path);
        } else if DYNAMIC_FUNCTIONS.contains(&base.as_str()) {
            self.access(Operation::Call, path);
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

    fn explain(&mut self, analyze: bool, options: Option<&Vec<UtilityOption>>, inner: &Statement) {
        self.op(Operation::Explain);
        let analyze_option = options.is_some_and(|options| {
            options.iter().any(|option| {
                (option.name.value.eq_ignore_ascii_case("analyze") || option.name.value.eq_ignore_ascii_case("analyse"))
                    && option.arg.as_ref().is_none_or(|arg| {
                        !matches!(arg, Expr::Value(v) if matches!(&v.value,
                            sqlparser::ast::Value::Boolean(false))
                            || v.value.to_string().eq_ignore_ascii_case("off")
                            || v.value.to_string() == "0")
                            && !matches!(arg, Expr::Identifier(i) if i.value.eq_ignore_ascii_case("off")
                                || i.value.eq_ignore_ascii_case("false"))
                    })
            })
        });
        if !(analyze || analyze_option) {
            self.planned_only.push(inner as *const Statement);
        }
    }

    /// Operation and targets of one statement node (its children are walked afterwards).
    /// Statements are grouped by family, as sqlparser's own parser groups them; each family
    /// method says whether the statement was one of its own.
    fn statement(&mut self, statement: &Statement) {
        let known = self.dml(statement)
            || self.create(statement)
            || self.alter(statement)
            || self.drop(statement)
            || self.privileges(statement)
            || self.transfer(statement)
            || self.session(statement)
            || self.dynamic(statement);
        if !known {
            self.op(Operation::Other);
        }
    }

    /// Queries and data changes: SELECT, INSERT, UPDATE, DELETE, MERGE.
    fn dml(&mut self, statement: &Statement) -> bool {
        match statement {
            Statement::Query(_) => self.op(Operation::Select),
            Statement::Insert(insert) => self.insert(insert),
            Statement::Update(update) => {
                self.op(Operation::Update);
                self.update(update)
            }
            Statement::Delete(delete) => {
                self.op(Operation::Delete);
                self.delete(delete)
            }
            Statement::Merge(merge) => self.merge(merge),
            _ => return false,
        }
        true
    }

    fn merge(&mut self, merge: &Merge) {
        self.table_factor_target(Operation::Merge, &merge.table);
        let changes_rows = merge.clauses.iter().any(|c| matches!(c.action, MergeAction::Update(_) | MergeAction::Delete { .. }));
        if changes_rows {
            self.mark_unbounded(Some(&merge.on));
        }
        for clause in &merge.clauses {
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

    /// CREATE of every kind, and what creates an object without the word (DECLARE, CACHE).
    fn create(&mut self, statement: &Statement) -> bool {
        use Operation as Op;
        match statement {
            Statement::CreateTable(create) => {
                self.target(Op::Create, &create.name);
                if let Some(clone) = &create.clone {
                    // Snowflake CLONE copies the source table's data.
                    self.access(Op::Select, ObjectPath::from_object_name(clone, self.dialect));
                    self.targets.push(clone as *const ObjectName);
                }
            }
            Statement::CreateView(view) => self.target(Op::Create, &view.name),
            Statement::CreateIndex(index) => {
                self.op(Op::Create);
                self.target(Op::Alter, &index.table_name);
            }
            Statement::CreateVirtualTable { name, .. } => self.target(Op::Create, name),
            Statement::Cache { table_name, .. } => {
                self.op(Op::Create);
                self.targets.push(table_name as *const ObjectName);
            }
            Statement::CreateSecret { .. }
            | Statement::CreateServer(_)
            | Statement::CreatePolicy(_)
            | Statement::CreateConnector(_)
            | Statement::CreateOperator(_)
            | Statement::CreateOperatorFamily(_)
            | Statement::CreateOperatorClass(_)
            | Statement::CreateTextSearch(_)
            | Statement::CreateExtension(_)
            | Statement::CreateCollation(_)
            | Statement::CreateSchema { .. }
            | Statement::CreateDatabase { .. }
            | Statement::CreateFunction(_)
            | Statement::CreateTrigger(_)
            | Statement::CreateProcedure { .. }
            | Statement::CreateMacro { .. }
            | Statement::CreateStage { .. }
            | Statement::CreateFileFormat { .. }
            | Statement::CreateWarehouse(_)
            | Statement::CreateSequence { .. }
            | Statement::CreateDomain(_)
            | Statement::CreateType { .. }
            | Statement::CreateAggregate(_)
            | Statement::CreateForeignDataWrapper(_) => self.op(Op::Create),
            Statement::CreateForeignTable(table) => self.target(Op::Create, &table.name),
            // A rule rewrites every later statement on its table: the table is altered.
            Statement::CreateRule(rule) => {
                self.op(Op::Create);
                self.target(Op::Alter, &rule.table_name);
            }
            // A user mapping stores credentials for a foreign server, as CREATE USER does.
            Statement::CreateUserMapping(_) => {
                self.op(Op::Create);
                self.op(Op::Grant);
            }
            // A cursor is a read: its query is walked as a child and records what it does.
            Statement::Declare { stmts, .. } if stmts.iter().all(|declare| declare.for_query.is_some()) => {}
            Statement::Declare { .. } => self.op(Op::Create),
            _ => return false,
        }
        true
    }

    /// ALTER, and the statements that change an object in place (RENAME, COMMENT, VACUUM...).
    fn alter(&mut self, statement: &Statement) -> bool {
        match statement {
            Statement::AlterTable(alter) => self.target(Operation::Alter, &alter.name),
            Statement::AlterIndex { name, .. } | Statement::AlterView(AlterView { name, .. }) => {
                self.target(Operation::Alter, name)
            }
            Statement::AlterSchema(_)
            | Statement::AlterFunction(_)
            | Statement::AlterType(_)
            | Statement::AlterCollation(_)
            | Statement::AlterOperator(_)
            | Statement::AlterOperatorFamily(_)
            | Statement::AlterOperatorClass(_)
            | Statement::AlterTextSearch(_)
            | Statement::AlterPolicy(_)
            | Statement::AlterConnector { .. }
            | Statement::RenameTable(_)
            | Statement::Comment { .. }
            | Statement::Msck(_)
            | Statement::OptimizeTable { .. }
            | Statement::Vacuum(_)
            | Statement::Analyze(_) => self.op(Operation::Alter),
            Statement::AlterTrigger(trigger) => self.target(Operation::Alter, &trigger.table_name),
            // REFRESH reruns the view's query and replaces its rows.
            Statement::RefreshMaterializedView(refresh) => self.target(Operation::Alter, &refresh.name),
            _ => return false,
        }
        true
    }

    /// DROP of every kind, TRUNCATE, and what detaches or forgets an object.
    fn drop(&mut self, statement: &Statement) -> bool {
        use Operation as Op;
        match statement {
            Statement::Truncate(truncate) => {
                for target in &truncate.table_names {
                    self.target(Op::Truncate, &target.name);
                }
            }
            Statement::Drop { names, table, .. } => {
                for name in names {
                    self.target(Op::Drop, name);
                }
                if let Some(table) = table {
                    self.target(Op::Alter, table);
                }
                self.op(Op::Drop);
            }
            Statement::DropFunction(_)
            | Statement::DropDomain(_)
            | Statement::DropProcedure { .. }
            | Statement::DropSecret { .. }
            | Statement::DropPolicy(_)
            | Statement::DropConnector { .. }
            | Statement::DropExtension(_)
            | Statement::DropOperator(_)
            | Statement::DropOperatorFamily(_)
            | Statement::DropOperatorClass(_)
            | Statement::DropTrigger(_)
            | Statement::DetachDuckDBDatabase { .. }
            | Statement::UNCache { .. } => self.op(Op::Drop),
            Statement::DropRule(rule) => {
                self.op(Op::Drop);
                self.target(Op::Alter, &rule.table_name);
            }
            _ => return false,
        }
        true
    }

    /// GRANT, REVOKE, DENY, and the roles and users that carry privileges.
    fn privileges(&mut self, statement: &Statement) -> bool {
        use Operation as Op;
        match statement {
            Statement::Grant(grant) => {
                self.op(Op::Grant);
                if let Some(objects) = &grant.objects {
                    self.grant_objects(Op::Grant, objects);
                }
            }
            Statement::GrantRole(_) | Statement::AlterDefaultPrivileges(_) => self.op(Op::Grant),
            Statement::Deny(_) | Statement::RevokeRole(_) => self.op(Op::Revoke),
            Statement::Revoke(revoke) => {
                self.op(Op::Revoke);
                if let Some(objects) = &revoke.objects {
                    self.grant_objects(Op::Revoke, objects);
                }
            }
            // Roles and users carry privileges (SUPERUSER, passwords): as dangerous as a GRANT.
            Statement::CreateRole(_) | Statement::CreateUser(_) => {
                self.op(Op::Create);
                self.op(Op::Grant);
            }
            Statement::AlterRole { .. } | Statement::AlterUser(_) => self.op(Op::Grant),
            _ => return false,
        }
        true
    }

    /// Data in and out of the database: COPY, UNLOAD, EXPORT DATA, LOAD DATA, stage files.
    fn transfer(&mut self, statement: &Statement) -> bool {
        use Operation as Op;
        match statement {
            Statement::Copy { source, to, target, .. } => self.copy(source, *to, target),
            Statement::CopyIntoSnowflake { kind, into, from_obj, .. } => match kind {
                CopyIntoSnowflakeKind::Table => {
                    self.target(Op::Import, into);
                    self.access(Op::Insert, ObjectPath::from_object_name(into, self.dialect));
                }
                CopyIntoSnowflakeKind::Location => {
                    self.target(Op::Export, into);
                    if let Some(from) = from_obj {
                        self.target(Op::Select, from);
                    }
                }
            },
            Statement::Unload { query_text: Some(text), .. } => self.unload_text(text),
            Statement::Unload { .. } | Statement::ExportData(_) | Statement::Directory { .. } => self.op(Op::Export),
            Statement::List(_) => self.op(Op::Show),
            Statement::Remove(_) => self.op(Op::Drop),
            Statement::Put { .. } => self.op(Op::Import),
            Statement::LoadData { table_name, .. } => {
                self.target(Op::Import, table_name);
                self.access(Op::Insert, ObjectPath::from_object_name(table_name, self.dialect));
            }
            _ => return false,
        }
        true
    }

    fn copy(&mut self, source: &CopySource, to: bool, target: &CopyTarget) {
        use Operation as Op;
        let op = match (to, target) {
            (true, _) => Op::Export,
            // COPY ... FROM PROGRAM runs a shell command on the server.
            (false, CopyTarget::Program { .. }) => {
                self.op(Op::Call);
                Op::Import
            }
            (false, _) => Op::Import,
        };
        if to && matches!(target, CopyTarget::Program { .. }) {
            self.op(Op::Call);
        }
        match source {
            CopySource::Table { table_name, .. } if to => {
                self.target(Op::Select, table_name);
                self.access(Op::Export, ObjectPath::from_object_name(table_name, self.dialect));
            }
            CopySource::Table { table_name, columns } => {
                self.target(Op::Import, table_name);
                self.op(Op::Insert);
                self.access(Op::Insert, ObjectPath::from_object_name(table_name, self.dialect));
                if columns.is_empty() {
                    self.written.unknown = true;
                }
                for column in columns {
                    let name = canonical_ident(column, self.dialect);
                    self.write_column(name);
                }
            }
            CopySource::Query(_) => self.op(op),
        }
        self.op(op);
    }

    /// Redshift passes UNLOAD's query as a string literal; what it reads still counts.
    fn unload_text(&mut self, text: &str) {
        self.op(Operation::Export);
        if let Ok(inner) = super::analyze(text, self.dialect) {
            for intent in inner {
                for access in intent.accesses {
                    self.access(access.operation, access.object);
                }
                for op in intent.operations.iter() {
                    self.op(op);
                }
            }
        }
    }

    /// Session state, transactions and introspection: SET, BEGIN, LOCK, EXPLAIN, SHOW, PRAGMA.
    fn session(&mut self, statement: &Statement) -> bool {
        use Operation as Op;
        match statement {
            Statement::Set(_) | Statement::Use(_) | Statement::Reset(_) | Statement::Discard { .. } => self.op(Op::Set),
            Statement::StartTransaction { .. }
            | Statement::Commit { .. }
            | Statement::Rollback { .. }
            | Statement::Savepoint { .. }
            | Statement::ReleaseSavepoint { .. }
            | Statement::Lock(_)
            | Statement::LockTables { .. }
            | Statement::UnlockTables => self.op(Op::Transaction),
            // The rest of a read whose query was judged at DECLARE.
            Statement::Fetch { .. } | Statement::Close { .. } => self.op(Op::Select),
            Statement::Explain { analyze, options, statement, .. } => self.explain(*analyze, options.as_ref(), statement),
            Statement::ExplainTable { table_name, .. } => {
                self.op(Op::Show);
                self.target(Op::Show, table_name);
            }
            Statement::ShowFunctions { .. }
            | Statement::ShowVariable { .. }
            | Statement::ShowStatus { .. }
            | Statement::ShowVariables { .. }
            | Statement::ShowCreate { .. }
            | Statement::ShowColumns { .. }
            | Statement::ShowCatalogs { .. }
            | Statement::ShowDatabases { .. }
            | Statement::ShowProcessList { .. }
            | Statement::ShowSchemas { .. }
            | Statement::ShowCharset(_)
            | Statement::ShowObjects(_)
            | Statement::ShowTables { .. }
            | Statement::ShowViews { .. }
            | Statement::ShowCollation { .. } => self.op(Op::Show),
            // `PRAGMA x` reads a setting; `PRAGMA x = v` changes one.
            Statement::Pragma { value, .. } => self.op(if value.is_some() { Op::Set } else { Op::Show }),
            _ => return false,
        }
        true
    }

    /// What runs code or SQL the analyzer cannot see (CALL, EXECUTE, PREPARE, extensions), and
    /// server administration (KILL, FLUSH).
    fn dynamic(&mut self, statement: &Statement) -> bool {
        match statement {
            Statement::Call(function) => {
                self.op(Operation::Call);
                self.classify_function(&function.name);
            }
            Statement::Install { .. }
            | Statement::Load { .. }
            | Statement::AttachDatabase { .. }
            | Statement::AttachDuckDBDatabase { .. }
            | Statement::Execute { .. }
            | Statement::Prepare { .. }
            | Statement::Deallocate { .. } => self.op(Operation::Call),
            Statement::Kill { .. } | Statement::Flush { .. } => self.op(Operation::Admin),
            _ => return false,
        }
        true
    }

    fn grant_objects(&mut self, op: Operation, objects: &GrantObjects) {
        let names: &[ObjectName] = match objects {
            GrantObjects::Tables(names)
            | GrantObjects::Views(names)
            | GrantObjects::Schemas(names)
            | GrantObjects::Databases(names)
            | GrantObjects::Sequences(names) => names,
            _ => &[],
        };
        for name in names {
            self.target(op, name);
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
        self.classify_function(&function.name);
        if let FunctionArguments::List(list) = &function.args {
            for arg in &list.args {
                let expr = match arg {
                    FunctionArg::Named { arg, .. } | FunctionArg::ExprNamed { arg, .. } | FunctionArg::Unnamed(arg) => arg,
                };
                if matches!(expr, FunctionArgExpr::Wildcard | FunctionArgExpr::QualifiedWildcard(_)) {
                    // COUNT(*) reads no column values; other aggregates over * are rare.
                    let name = function.name.to_string().to_ascii_lowercase();
                    if name != "count" {
                        self.reads_all_columns = true;
                    }
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
        if let SetExpr::Table(table) = &*query.body {
            let parts = table.schema_name.iter().chain(&table.table_name);
            let name = ObjectName(parts.cloned().map(ObjectNamePart::Identifier).collect());
            if !name.0.is_empty() {
                self.read_relation(&name);
            }
        }
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
            TableFactor::Table { name, args: Some(_), .. } => self.classify_function(name),
            TableFactor::Function { name, .. } => self.classify_function(name),
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
