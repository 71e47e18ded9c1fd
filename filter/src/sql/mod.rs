//! SQL intent analysis: what a statement does, not what it says.
//!
//! [`analyze`] splits a text into statements, parses each with `sqlparser` in the route's
//! [`Dialect`] and reduces it to an [`Intent`]: the [`Operation`]s it performs anywhere in its
//! tree (a DELETE inside a CTE counts), the objects each operation touches, the columns it writes
//! and reads, whether an UPDATE or DELETE is unbounded, and a literal-free fingerprint.
//! Operations name effects, not keywords (`ALTER TABLE t DROP COLUMN` is a drop, `SET ROLE` a
//! grant), and every kind of statement sqlparser parses is classified by name (`intent::effects`).
//!
//! A statement that does not parse still yields a *suspected* intent from its tokens, so a deny
//! rule can catch `DROP TABLE x <garbage>` even when the policy lets unparsable SQL through.
//! Input that could exhaust the stack (long operator chains, deep nesting) is refused before the
//! tree is built.

mod bodies;
mod cache;
mod comments;
mod cursor;
mod dialect;
mod intent;
mod lexical;
mod names;
mod recognize;
mod repair;
mod session;
mod statement;
mod tautology;

pub use cache::AnalysisCache;
pub use comments::Server;
pub use statement::Statement;

use std::fmt;

pub use dialect::{Dialect, Lexing};
pub use names::ObjectPath;
pub use session::{schema_names, SearchPath, SessionChange, Settings};

/// Nesting the parser may recurse through (parentheses, subqueries, CASE).
const MAX_NESTING: usize = 64;
/// Operators chained at one nesting level; each adds a level to the (left-deep) tree.
pub const MAX_OPERATOR_CHAIN: usize = 2_000;
/// Statements in one text.
pub const MAX_STATEMENTS: usize = 1_000;

/// What a statement does. The policy names these in `operations`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[repr(u8)]
pub enum Operation {
    Select,
    Insert,
    Update,
    Delete,
    Merge,
    Create,
    Alter,
    Drop,
    Truncate,
    Grant,
    Revoke,
    Export,
    Import,
    Call,
    Set,
    Transaction,
    Explain,
    Show,
    /// Server administration: ending sessions, shutting down, flushing caches (KILL, SHUTDOWN, FLUSH).
    Admin,
    Other,
}

impl Operation {
    pub const ALL: [Operation; 20] = [
        Operation::Select,
        Operation::Insert,
        Operation::Update,
        Operation::Delete,
        Operation::Merge,
        Operation::Create,
        Operation::Alter,
        Operation::Drop,
        Operation::Truncate,
        Operation::Grant,
        Operation::Revoke,
        Operation::Export,
        Operation::Import,
        Operation::Call,
        Operation::Set,
        Operation::Transaction,
        Operation::Explain,
        Operation::Show,
        Operation::Admin,
        Operation::Other,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Operation::Select => "select",
            Operation::Insert => "insert",
            Operation::Update => "update",
            Operation::Delete => "delete",
            Operation::Merge => "merge",
            Operation::Create => "create",
            Operation::Alter => "alter",
            Operation::Drop => "drop",
            Operation::Truncate => "truncate",
            Operation::Grant => "grant",
            Operation::Revoke => "revoke",
            Operation::Export => "export",
            Operation::Import => "import",
            Operation::Call => "call",
            Operation::Set => "set",
            Operation::Transaction => "transaction",
            Operation::Explain => "explain",
            Operation::Show => "show",
            Operation::Admin => "admin",
            Operation::Other => "other",
        }
    }

    pub fn parse(name: &str) -> Option<Operation> {
        Operation::ALL.into_iter().find(|op| op.as_str() == name)
    }
}

impl fmt::Display for Operation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A set of operations, as a bitset.
#[derive(Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct OperationSet(u32);

impl OperationSet {
    pub const EMPTY: OperationSet = OperationSet(0);

    pub fn insert(&mut self, op: Operation) {
        self.0 |= 1 << op as u8;
    }
    pub fn contains(self, op: Operation) -> bool {
        self.0 & (1 << op as u8) != 0
    }
    pub fn is_empty(self) -> bool {
        self.0 == 0
    }
    pub fn intersects(self, other: OperationSet) -> bool {
        self.0 & other.0 != 0
    }
    pub fn is_subset(self, other: OperationSet) -> bool {
        self.0 & !other.0 == 0
    }
    pub fn iter(self) -> impl Iterator<Item = Operation> {
        Operation::ALL.into_iter().filter(move |op| self.contains(*op))
    }
}

impl fmt::Debug for OperationSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_set().entries(self.iter()).finish()
    }
}

/// One operation on one object: `(delete, public.users)`. Operations without an object
/// (`SELECT 1`, `BEGIN`) appear only in [`Intent::operations`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Access {
    pub operation: Operation,
    pub object: ObjectPath,
}

/// The columns a statement writes.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct WrittenColumns {
    /// Canonical column names, deduplicated, in order of appearance.
    pub names: Vec<String>,
    /// A write whose columns cannot be listed (INSERT without a column list, MERGE ... INSERT *).
    pub unknown: bool,
}

/// What one statement does.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Intent {
    /// Every operation performed anywhere in the statement's tree.
    pub operations: OperationSet,
    /// Operations paired with the objects they touch, deduplicated.
    pub accesses: Vec<Access>,
    pub columns_written: WrittenColumns,
    /// Columns referenced anywhere (filters, projections, joins), canonical, deduplicated.
    pub columns_read: Vec<String>,
    /// A `*` projection: every column of the tables read.
    pub reads_all_columns: bool,
    /// An UPDATE or DELETE with no WHERE, or a WHERE that is always true.
    pub unbounded: bool,
    /// The statement with literals replaced by `?` and layout normalized.
    pub fingerprint: String,
    /// Byte range of the statement in the analyzed text.
    pub span: (usize, usize),
    /// What the statement changes for the statements after it (`SET search_path`, `USE`).
    pub session: Option<SessionChange>,
}

impl Intent {
    /// Distinct objects touched, in order of first appearance.
    pub fn objects(&self) -> Vec<&ObjectPath> {
        let mut seen: Vec<&ObjectPath> = Vec::new();
        for access in &self.accesses {
            if !seen.contains(&&access.object) {
                seen.push(&access.object);
            }
        }
        seen
    }
}

/// Why a statement could not be analyzed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SqlErrorKind {
    /// The tokenizer or parser rejected it.
    Syntax,
    /// It nests or chains operators beyond the analyzer's bounds.
    TooComplex,
    /// The text holds more statements than the analyzer reads.
    TooManyStatements,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SqlError {
    pub kind: SqlErrorKind,
    pub message: String,
}

impl fmt::Display for SqlError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for SqlError {}

/// A statement the analyzer could not parse, with what its tokens suggest it does.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Unparsed {
    pub error: SqlError,
    /// Operations and objects read off the tokens: never an allow, only grounds for a deny.
    pub suspected: Intent,
}

/// One statement's analysis. Both sides carry a full intent, of about the same size.
pub type StatementAnalysis = Result<Intent, Unparsed>;

/// Analyzes every statement; any statement that does not parse makes the whole text an error.
pub fn analyze(sql: &str, dialect: Dialect) -> Result<Vec<Intent>, SqlError> {
    analyze_each(sql, dialect).into_iter().map(|statement| statement.map_err(|unparsed| unparsed.error)).collect()
}

/// Analyzes every statement on its own, so one bad statement does not hide the others.
/// Empty statements (`;;`, comments only) are skipped.
#[allow(clippy::result_large_err)] // both sides carry an intent: boxing one would not shrink it
pub fn analyze_each(sql: &str, dialect: Dialect) -> Vec<StatementAnalysis> {
    analyze_each_as(sql, dialect, Lexing::default_for(dialect))
}

/// [`analyze_each`], with the text cut into tokens as a session with `lexing` cuts it.
#[allow(clippy::result_large_err)]
pub fn analyze_each_as(sql: &str, dialect: Dialect, lexing: Lexing) -> Vec<StatementAnalysis> {
    analyze_each_on(sql, dialect, lexing, None)
}

/// [`analyze_each_as`], as `server` runs the text's executable comments (`None`: every `/*!`
/// runs, no `/*M!` does). [`readings`] names the servers that read a text differently.
#[allow(clippy::result_large_err)]
pub fn analyze_each_on(sql: &str, dialect: Dialect, lexing: Lexing, server: Option<Server>) -> Vec<StatementAnalysis> {
    let parser_dialect = dialect.parser_dialect();
    let tokens = match comments::tokenize(sql, dialect, lexing, server) {
        Ok(tokens) => tokens,
        Err(err) => return vec![Err(lexical::unparsed_text(sql, &err))],
    };
    let offsets = lexical::Offsets::new(sql);
    let segments = lexical::statement_segments(&tokens);
    if segments.len() > MAX_STATEMENTS {
        let error = SqlError {
            kind: SqlErrorKind::TooManyStatements,
            message: format!("more than {MAX_STATEMENTS} statements in one text"),
        };
        return vec![Err(Unparsed { error, suspected: lexical::suspect(&tokens, &offsets, dialect) })];
    }

    // A guard that fails leaves the tokens unparsed: the tree they would build is what we fear.
    if let Some(error) = lexical::complexity_error(&tokens) {
        return segments
            .iter()
            .map(|range| {
                let part = &tokens[range.clone()];
                Err(Unparsed { error: error.clone(), suspected: lexical::suspect(part, &offsets, dialect) })
            })
            .collect();
    }

    let mut results = Vec::new();
    let mut tokens = tokens;
    let mut cursor = cursor::Cursor::new(parser_dialect);
    while let Some(start) = cursor.next_statement(&tokens) {
        if let Some(recognized) = recognize::statement(&tokens, start, &offsets, dialect) {
            results.push(recognized.analysis);
            cursor.skip_to(&tokens, recognized.end);
            continue;
        }
        match cursor.parse(&mut tokens) {
            Ok(statement) => {
                // A statement not followed by `;` is followed by the next one (T-SQL needs no
                // separator); the loop parses it as a statement of its own.
                let end = cursor.at().min(tokens.len());
                let part = &tokens[start..end];
                results.push(match intent::of_statement(&statement, dialect) {
                    Ok(mut found) => {
                        found.session = session::change_of(&statement, part, dialect);
                        let segment = &tokens[start..lexical::next_semicolon(&tokens, end)];
                        lexical::complete(&mut found, part, segment, &offsets, dialect);
                        Ok(found)
                    }
                    Err(error) => Err(Unparsed { error, suspected: lexical::suspect(part, &offsets, dialect) }),
                });
            }
            Err(err) => {
                let resume = lexical::next_semicolon(&tokens, cursor.at().max(start));
                let too_deep = matches!(err, sqlparser::parser::ParserError::RecursionLimitExceeded);
                let repaired = if too_deep { None } else { repair::reparse(&tokens, start, resume, &offsets, dialect, &results) };
                if let Some(repaired) = repaired {
                    results.truncate(results.len() - repaired.replaces);
                    results.push(Ok(repaired.intent));
                } else {
                    let part = &tokens[start..resume];
                    let kind = if too_deep { SqlErrorKind::TooComplex } else { SqlErrorKind::Syntax };
                    results.push(Err(Unparsed {
                        error: SqlError { kind, message: err.to_string() },
                        suspected: lexical::suspect(part, &offsets, dialect),
                    }));
                }
                cursor.resume_at(&tokens, resume);
            }
        }
        if results.len() > MAX_STATEMENTS {
            break;
        }
    }
    results
}

/// The MySQL-family servers whose readings of `sql` differ (one each), or `[None]` when every
/// server reads it alike; an error when there are too many to read each.
pub fn readings(sql: &str, dialect: Dialect) -> Result<Vec<Option<Server>>, SqlError> {
    comments::readings(sql, dialect).map_err(|message| SqlError { kind: SqlErrorKind::TooComplex, message })
}
