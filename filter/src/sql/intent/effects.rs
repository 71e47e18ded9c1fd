//! What each kind of statement does. [`Collector::statement`] names every `Statement` variant
//! sqlparser has, grouped by family as sqlparser's parser groups them, so a variant a later
//! sqlparser adds fails to compile here instead of passing as `other`. Effects follow what the
//! server does, not the keyword: `ALTER TABLE t DROP COLUMN` drops, `CREATE OR REPLACE TABLE`
//! drops the old table's rows, `INSERT OVERWRITE` truncates, `SET ROLE` changes privileges.

use sqlparser::ast::{
    AlterTable, AlterTableOperation, AlterView, CopyIntoSnowflakeKind, CopySource, CopyTarget, CreateForeignTable, CreateTable,
    CreateTrigger, Declare, DiscardObject, Expr, GrantObjects, ObjectName, Reset, Set, Statement, Truncate, Use, UtilityOption,
};

use super::super::names::canonical_ident;
use super::{Collector, ObjectPath, Operation};

/// Settings that choose whose privileges later statements run with.
const IDENTITY_SETTINGS: &[&str] = &["role", "session_authorization"];

pub(super) fn is_identity_setting(name: &str) -> bool {
    IDENTITY_SETTINGS.iter().any(|setting| setting.eq_ignore_ascii_case(name.trim()))
}

impl Collector {
    /// Operation and targets of one statement node (its children are walked afterwards).
    pub(super) fn statement(&mut self, statement: &Statement) {
        use Operation as Op;
        use Statement as S;
        match statement {
            // Queries and data changes.
            S::Query(_) => self.op(Op::Select),
            S::Insert(insert) => self.insert(insert),
            S::Update(update) => self.update(update),
            S::Delete(delete) => self.delete(delete),
            S::Merge(merge) => self.merge(merge),
            // Creation.
            S::CreateTable(create) => self.create_table(create),
            S::CreateView(view) => self.target(Op::Create, &view.name),
            S::CreateVirtualTable { name, .. } | S::CreateForeignTable(CreateForeignTable { name, .. }) => {
                self.target(Op::Create, name)
            }
            // An index, a rule, a trigger or a policy changes how its table behaves.
            S::CreateIndex(index) => self.create_on(&index.table_name),
            S::CreateRule(rule) => self.create_on(&rule.table_name),
            S::CreateTrigger(trigger) => self.create_trigger(trigger),
            S::CreatePolicy(policy) => self.create_on(&policy.table_name),
            S::Cache { table_name, .. } => self.cache(table_name),
            S::Declare { stmts, .. } => self.declare(stmts),
            // A user mapping stores credentials for a foreign server, as CREATE USER does.
            S::CreateUserMapping(_) => self.ops(&[Op::Create, Op::Grant]),
            S::CreateSecret { .. }
            | S::CreateServer(_)
            | S::CreateConnector(_)
            | S::CreateOperator(_)
            | S::CreateOperatorFamily(_)
            | S::CreateOperatorClass(_)
            | S::CreateTextSearch(_)
            | S::CreateExtension(_)
            | S::CreateCollation(_)
            | S::CreateSchema { .. }
            | S::CreateDatabase { .. }
            | S::CreateFunction(_)
            | S::CreateProcedure { .. }
            | S::CreateMacro { .. }
            | S::CreateStage { .. }
            | S::CreateFileFormat { .. }
            | S::CreateWarehouse(_)
            | S::CreateSequence { .. }
            | S::CreateDomain(_)
            | S::CreateType { .. }
            | S::CreateAggregate(_)
            | S::CreateForeignDataWrapper(_) => self.op(Op::Create),
            // Changes in place.
            S::AlterTable(alter) => self.alter_table(alter),
            S::AlterIndex { name, .. } | S::AlterView(AlterView { name, .. }) => self.target(Op::Alter, name),
            S::AlterTrigger(trigger) => self.target(Op::Alter, &trigger.table_name),
            S::AlterPolicy(policy) => self.target(Op::Alter, &policy.table_name),
            // REFRESH reruns the view's query and replaces its rows.
            S::RefreshMaterializedView(refresh) => self.target(Op::Alter, &refresh.name),
            S::AlterSchema(_)
            | S::AlterFunction(_)
            | S::AlterType(_)
            | S::AlterCollation(_)
            | S::AlterOperator(_)
            | S::AlterOperatorFamily(_)
            | S::AlterOperatorClass(_)
            | S::AlterTextSearch(_)
            | S::AlterConnector { .. }
            | S::RenameTable(_)
            | S::Comment { .. }
            | S::Msck(_)
            | S::OptimizeTable { .. }
            | S::Vacuum(_)
            | S::Analyze(_) => self.op(Op::Alter),
            // Destruction, and what detaches or forgets an object.
            S::Truncate(truncate) => self.truncate(truncate),
            S::Drop { names, table, .. } => self.drop(names, table.as_ref()),
            S::DropTrigger(trigger) => self.drop_on(trigger.table_name.as_ref()),
            S::DropPolicy(policy) => self.drop_on(Some(&policy.table_name)),
            S::DropRule(rule) => self.drop_on(Some(&rule.table_name)),
            S::DropFunction(_)
            | S::DropDomain(_)
            | S::DropProcedure { .. }
            | S::DropSecret { .. }
            | S::DropConnector { .. }
            | S::DropExtension(_)
            | S::DropOperator(_)
            | S::DropOperatorFamily(_)
            | S::DropOperatorClass(_)
            | S::DetachDuckDBDatabase { .. }
            | S::UNCache { .. }
            | S::Remove(_) => self.op(Op::Drop),
            // Privileges, and the roles and users that carry them (SUPERUSER, passwords, IN ROLE).
            S::Grant(grant) => self.grant(Op::Grant, grant.objects.as_ref()),
            S::Revoke(revoke) => self.grant(Op::Revoke, revoke.objects.as_ref()),
            S::GrantRole(_) | S::AlterDefaultPrivileges(_) | S::AlterRole { .. } | S::AlterUser(_) => self.op(Op::Grant),
            S::Deny(_) | S::RevokeRole(_) => self.op(Op::Revoke),
            S::CreateRole(_) | S::CreateUser(_) => self.ops(&[Op::Create, Op::Grant]),
            // Data in and out of the database.
            S::Copy { source, to, target, .. } => self.copy(source, *to, target),
            S::CopyIntoSnowflake { kind, into, from_obj, .. } => self.copy_into(kind, into, from_obj.as_ref()),
            S::Unload { query_text: Some(text), .. } => self.unload_text(text),
            S::Unload { .. } | S::ExportData(_) | S::Directory { .. } => self.op(Op::Export),
            S::LoadData { table_name, .. } => self.load(table_name),
            S::Put { .. } => self.op(Op::Import),
            S::List(_) => self.op(Op::Show),
            // Session state.
            S::Set(set) => self.set(set),
            S::Reset(reset) => self.reset(&reset.reset),
            S::Discard { object_type } => self.discard(object_type),
            S::Use(target) => self.use_(target),
            S::AlterSession { .. } | S::LISTEN { .. } | S::UNLISTEN { .. } => self.op(Op::Set),
            // Transactions and locks.
            S::StartTransaction { .. }
            | S::Commit { .. }
            | S::Rollback { .. }
            | S::Savepoint { .. }
            | S::ReleaseSavepoint { .. }
            | S::Lock(_)
            | S::LockTables { .. }
            | S::UnlockTables => self.op(Op::Transaction),
            // The rest of a read whose query was judged at DECLARE.
            S::Open(_) | S::Fetch { .. } | S::Close { .. } => self.op(Op::Select),
            // Introspection.
            S::Explain { analyze, options, statement, .. } => self.explain(*analyze, options.as_ref(), statement),
            S::ExplainTable { table_name, .. } => self.target(Op::Show, table_name),
            S::Pragma { value, .. } => self.op(if value.is_some() { Op::Set } else { Op::Show }),
            S::ShowFunctions { .. }
            | S::ShowVariable { .. }
            | S::ShowStatus { .. }
            | S::ShowVariables { .. }
            | S::ShowCreate { .. }
            | S::ShowColumns { .. }
            | S::ShowCatalogs { .. }
            | S::ShowDatabases { .. }
            | S::ShowProcessList { .. }
            | S::ShowSchemas { .. }
            | S::ShowCharset(_)
            | S::ShowObjects(_)
            | S::ShowTables { .. }
            | S::ShowViews { .. }
            | S::ShowCollation { .. } => self.op(Op::Show),
            // Code and SQL the analyzer cannot see, and server administration.
            S::Call(function) => self.call(&function.name),
            S::Install { .. }
            | S::Load { .. }
            | S::AttachDatabase { .. }
            | S::AttachDuckDBDatabase { .. }
            | S::Execute { .. }
            | S::Prepare { .. }
            | S::Deallocate { .. } => self.op(Op::Call),
            S::Kill { .. } | S::Flush { .. } => self.op(Op::Admin),
            // Control flow and messages: no effect of their own (the statements a block holds
            // are walked as children); NOTIFY signals other sessions.
            S::Case(_)
            | S::If(_)
            | S::While(_)
            | S::Raise(_)
            | S::Assert { .. }
            | S::Return(_)
            | S::Print(_)
            | S::Throw(_)
            | S::RaisError { .. }
            | S::WaitFor(_)
            | S::NOTIFY { .. } => self.op(Op::Other),
        }
    }

    fn ops(&mut self, ops: &[Operation]) {
        for op in ops {
            self.op(*op);
        }
    }

    /// `CREATE OR REPLACE TABLE` (Snowflake, BigQuery, DuckDB, Databricks) drops the old table
    /// and its rows first.
    fn create_table(&mut self, create: &CreateTable) {
        self.target(Operation::Create, &create.name);
        if create.or_replace {
            self.access(Operation::Drop, ObjectPath::from_object_name(&create.name, self.dialect));
        }
        if let Some(clone) = &create.clone {
            // Snowflake CLONE copies the source table's data.
            self.access(Operation::Select, ObjectPath::from_object_name(clone, self.dialect));
            self.targets.push(clone as *const ObjectName);
        }
    }

    fn create_on(&mut self, table: &ObjectName) {
        self.op(Operation::Create);
        self.target(Operation::Alter, table);
    }

    /// A trigger runs its function on every event it fires on: `call` on the function.
    fn create_trigger(&mut self, trigger: &CreateTrigger) {
        self.create_on(&trigger.table_name);
        if let Some(body) = &trigger.exec_body {
            self.access(Operation::Call, ObjectPath::from_object_name(&body.func_desc.name, self.dialect));
            self.classify_function(&body.func_desc.name);
        }
    }

    fn cache(&mut self, table: &ObjectName) {
        self.op(Operation::Create);
        self.targets.push(table as *const ObjectName);
    }

    /// A cursor is a read (its query is walked as a child); other declarations create.
    fn declare(&mut self, stmts: &[Declare]) {
        if !stmts.iter().all(|declare| declare.for_query.is_some()) {
            self.op(Operation::Create);
        }
    }

    fn alter_table(&mut self, alter: &AlterTable) {
        self.target(Operation::Alter, &alter.name);
        for operation in &alter.operations {
            if let Some(effect) = alter_table_effect(operation) {
                self.access(effect, ObjectPath::from_object_name(&alter.name, self.dialect));
            }
        }
    }

    fn truncate(&mut self, truncate: &Truncate) {
        for target in &truncate.table_names {
            self.target(Operation::Truncate, &target.name);
        }
    }

    fn drop(&mut self, names: &[ObjectName], table: Option<&ObjectName>) {
        for name in names {
            self.target(Operation::Drop, name);
        }
        if let Some(table) = table {
            self.target(Operation::Alter, table);
        }
        self.op(Operation::Drop);
    }

    /// DROP TRIGGER | POLICY | RULE ... ON t: `t` behaves differently afterwards.
    fn drop_on(&mut self, table: Option<&ObjectName>) {
        self.op(Operation::Drop);
        if let Some(table) = table {
            self.target(Operation::Alter, table);
        }
    }

    fn grant(&mut self, op: Operation, objects: Option<&GrantObjects>) {
        self.op(op);
        let names: &[ObjectName] = match objects {
            Some(
                GrantObjects::Tables(names)
                | GrantObjects::Views(names)
                | GrantObjects::Schemas(names)
                | GrantObjects::Databases(names)
                | GrantObjects::Sequences(names),
            ) => names,
            _ => &[],
        };
        for name in names {
            self.target(op, name);
        }
    }

    fn copy(&mut self, source: &CopySource, to: bool, target: &CopyTarget) {
        use Operation as Op;
        // COPY ... TO | FROM PROGRAM runs a shell command on the server.
        if matches!(target, CopyTarget::Program { .. }) {
            self.op(Op::Call);
        }
        let op = if to { Op::Export } else { Op::Import };
        match source {
            CopySource::Table { table_name, .. } if to => {
                self.target(Op::Select, table_name);
                self.access(Op::Export, ObjectPath::from_object_name(table_name, self.dialect));
            }
            CopySource::Table { table_name, columns } => {
                self.target(Op::Import, table_name);
                self.access(Op::Insert, ObjectPath::from_object_name(table_name, self.dialect));
                if columns.is_empty() {
                    self.written.unknown = true;
                }
                for column in columns {
                    let name = canonical_ident(column, self.dialect);
                    self.write_column(name);
                }
            }
            CopySource::Query(_) => {}
        }
        self.op(op);
    }

    fn copy_into(&mut self, kind: &CopyIntoSnowflakeKind, into: &ObjectName, from: Option<&ObjectName>) {
        match kind {
            CopyIntoSnowflakeKind::Table => self.load(into),
            CopyIntoSnowflakeKind::Location => {
                self.target(Operation::Export, into);
                if let Some(from) = from {
                    self.target(Operation::Select, from);
                }
            }
        }
    }

    fn load(&mut self, table: &ObjectName) {
        self.target(Operation::Import, table);
        self.access(Operation::Insert, ObjectPath::from_object_name(table, self.dialect));
    }

    /// Redshift passes UNLOAD's query as a string literal; what it reads still counts.
    fn unload_text(&mut self, text: &str) {
        self.op(Operation::Export);
        if let Ok(inner) = super::super::analyze(text, self.dialect) {
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

    /// An identity switch (`SET ROLE`, `SET SESSION AUTHORIZATION`, `SET role = x`) changes the
    /// privileges every later statement runs with: `grant` besides `set`.
    fn set(&mut self, set: &Set) {
        self.op(Operation::Set);
        let identity = match set {
            Set::SetRole { .. } | Set::SetSessionAuthorization(_) => true,
            Set::SingleAssignment { variable, .. } => names_identity(variable),
            Set::ParenthesizedAssignments { variables, .. } => variables.iter().any(names_identity),
            Set::MultipleAssignments { assignments } => assignments.iter().any(|a| names_identity(&a.name)),
            Set::SetSessionParam(_)
            | Set::SetTimeZone { .. }
            | Set::SetNames { .. }
            | Set::SetNamesDefault {}
            | Set::SetTransaction { .. } => false,
        };
        if identity {
            self.op(Operation::Grant);
        }
    }

    /// `RESET ROLE`, `RESET SESSION AUTHORIZATION` return to the session's own identity, which
    /// may hold more privileges than the one set. `RESET ALL` leaves the role as it is.
    fn reset(&mut self, reset: &Reset) {
        self.op(Operation::Set);
        if match reset {
            Reset::SessionAuthorization => true,
            Reset::ConfigurationParameter(name) => names_identity(name),
            Reset::ALL => false,
        } {
            self.op(Operation::Grant);
        }
    }

    /// `DISCARD ALL` runs `SET SESSION AUTHORIZATION DEFAULT`.
    fn discard(&mut self, object: &DiscardObject) {
        self.op(Operation::Set);
        if matches!(object, DiscardObject::ALL) {
            self.op(Operation::Grant);
        }
    }

    /// Snowflake `USE ROLE r`, `USE SECONDARY ROLES ALL` switch identity.
    fn use_(&mut self, target: &Use) {
        self.op(Operation::Set);
        if matches!(target, Use::Role(_) | Use::SecondaryRoles(_)) {
            self.op(Operation::Grant);
        }
    }

    fn explain(&mut self, analyze: bool, options: Option<&Vec<UtilityOption>>, inner: &Statement) {
        self.op(Operation::Explain);
        let analyze_option = options.is_some_and(|options| {
            options.iter().any(|option| {
                (option.name.value.eq_ignore_ascii_case("analyze") || option.name.value.eq_ignore_ascii_case("analyse"))
                    && option.arg.as_ref().is_none_or(|arg| !is_off(arg))
            })
        });
        if !(analyze || analyze_option) {
            self.planned_only.push(inner as *const Statement);
        }
    }

    fn call(&mut self, name: &ObjectName) {
        self.op(Operation::Call);
        self.classify_function(name);
    }
}

/// An option value that turns the option off: `false`, `off`, `0`.
fn is_off(arg: &Expr) -> bool {
    match arg {
        Expr::Value(v) => {
            matches!(&v.value, sqlparser::ast::Value::Boolean(false))
                || v.value.to_string().eq_ignore_ascii_case("off")
                || v.value.to_string() == "0"
        }
        Expr::Identifier(i) => i.value.eq_ignore_ascii_case("off") || i.value.eq_ignore_ascii_case("false"),
        _ => false,
    }
}

fn names_identity(name: &ObjectName) -> bool {
    name.0.last().and_then(|part| part.as_ident()).is_some_and(|ident| is_identity_setting(&ident.value))
}

/// What an ALTER TABLE operation does besides `alter`: dropping a column, a partition or a
/// constraint destroys what it held; row security and ownership decide who sees the rows.
/// Every operation is named, so a new one fails to compile until it is judged.
fn alter_table_effect(operation: &AlterTableOperation) -> Option<Operation> {
    use AlterTableOperation as A;
    match operation {
        A::DropColumn { .. }
        | A::DropPartitions { .. }
        | A::DropConstraint { .. }
        | A::DropPrimaryKey { .. }
        | A::DropForeignKey { .. }
        | A::DropIndex { .. }
        | A::DropProjection { .. } => Some(Operation::Drop),
        A::DisableRowLevelSecurity | A::NoForceRowLevelSecurity | A::OwnerTo { .. } => Some(Operation::Grant),
        A::AddConstraint { .. }
        | A::AddColumn { .. }
        | A::AddProjection { .. }
        | A::MaterializeProjection { .. }
        | A::ClearProjection { .. }
        | A::DisableRule { .. }
        | A::DisableTrigger { .. }
        | A::AttachPartition { .. }
        | A::AttachPartitionOf { .. }
        | A::DetachPartition { .. }
        | A::DetachPartitionOf { .. }
        | A::FreezePartition { .. }
        | A::UnfreezePartition { .. }
        | A::EnableAlwaysRule { .. }
        | A::EnableAlwaysTrigger { .. }
        | A::EnableReplicaRule { .. }
        | A::EnableReplicaTrigger { .. }
        | A::EnableRowLevelSecurity
        | A::ForceRowLevelSecurity
        | A::EnableRule { .. }
        | A::EnableTrigger { .. }
        | A::RenamePartitions { .. }
        | A::ReplicaIdentity { .. }
        | A::AddPartitions { .. }
        | A::RenameColumn { .. }
        | A::RenameTable { .. }
        | A::ChangeColumn { .. }
        | A::ModifyColumn { .. }
        | A::ModifyOrderBy { .. }
        | A::RenameConstraint { .. }
        | A::AlterColumn { .. }
        | A::SwapWith { .. }
        | A::SetTblProperties { .. }
        | A::SetLogged
        | A::SetUnlogged
        | A::ClusterBy { .. }
        | A::DropClusteringKey
        | A::AlterSortKey { .. }
        | A::SuspendRecluster
        | A::ResumeRecluster
        | A::Refresh { .. }
        | A::Suspend
        | A::Resume
        | A::Algorithm { .. }
        | A::Lock { .. }
        | A::AutoIncrement { .. }
        | A::ValidateConstraint { .. }
        | A::Inherit { .. }
        | A::NoInherit { .. }
        | A::SetOptionsParens { .. }
        | A::ResetOptions { .. }
        | A::GenericOptions { .. } => None,
    }
}
