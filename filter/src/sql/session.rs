//! What a statement changes for the statements after it in its session, and where those look up
//! an unqualified table name.
//!
//! `SET search_path TO secret` makes a later `DELETE FROM keys` a delete of `secret.keys`;
//! `USE shop` does the same in MySQL. The analyzer reports such a change on the statement that
//! makes it ([`SessionChange`]); [`super::Statement::all_read`] applies it to the statements
//! after it in the same text, and a wire session to its later messages once the server ran it.
//!
//! ```
//! use access_guardrails::sql::{analyze_each, Dialect, SessionChange};
//! let analysis = analyze_each("SET search_path TO secret, public", Dialect::Postgres);
//! let change = analysis[0].as_ref().unwrap().session.clone();
//! assert_eq!(change, Some(SessionChange::SearchPath(Some(vec!["secret".into(), "public".into()]))));
//! ```

use sqlparser::ast::{
    ContextModifier, DiscardObject, Expr, ObjectName, Reset, ResetStatement, Set, Statement as Ast, Use, Value,
};
use sqlparser::tokenizer::{Token, TokenWithSpan};

use super::dialect::{Dialect, Lexing};
use super::names::{canonical, canonical_ident};

/// Where an unqualified table name may be found.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub enum SearchPath {
    /// Not known: the name may be in any schema. Deny rules see it as possibly any of theirs.
    #[default]
    Unknown,
    /// In one of `schemas`, searched in order (Postgres's `search_path`; MySQL's current
    /// database), or in one of `implied`, which the server searches without being named
    /// (Postgres's `pg_catalog` and `pg_temp`): deny rules look there too, allow rules do not.
    Known { schemas: Vec<String>, implied: Vec<String> },
}

impl SearchPath {
    /// `schemas` as `dialect` searches them: Postgres looks in `pg_temp` and `pg_catalog` first
    /// unless the path names them.
    pub fn known(dialect: Dialect, schemas: Vec<String>) -> SearchPath {
        let implied: Vec<&str> = match dialect {
            Dialect::Postgres | Dialect::Redshift => vec!["pg_temp", "pg_catalog"],
            Dialect::Sqlite => vec!["temp"],
            _ => Vec::new(),
        };
        let implied = implied.into_iter().filter(|s| !schemas.iter().any(|n| n == s)).map(String::from).collect();
        SearchPath::Known { schemas, implied }
    }

    /// Where a server of `dialect` looks when nothing changed it, as its manual documents:
    /// Postgres's and Redshift's `"$user", public`, SQL Server's `dbo`, SQLite's and DuckDB's
    /// `main`. Other servers look in the connection's database, which is not known here.
    pub fn server_default(dialect: Dialect) -> SearchPath {
        let schemas: &[&str] = match dialect {
            Dialect::Postgres | Dialect::Redshift => &["$user", "public"],
            Dialect::Mssql => &["dbo"],
            Dialect::Sqlite | Dialect::Duckdb => &["main"],
            _ => return SearchPath::Unknown,
        };
        SearchPath::known(dialect, schemas.iter().map(|s| s.to_string()).collect())
    }

    /// The qualified names an unqualified `name` may stand for; empty when unknown.
    pub fn candidates<'a>(&'a self, deny: bool) -> impl Iterator<Item = &'a str> + 'a {
        let (schemas, implied): (&[String], &[String]) = match self {
            SearchPath::Unknown => (&[], &[]),
            SearchPath::Known { schemas, implied } => (schemas, if deny { implied } else { &[] }),
        };
        implied.iter().chain(schemas).map(String::as_str)
    }
}

/// A change a statement makes to how its session's later statements read or resolve names.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum SessionChange {
    /// `SET search_path` (or `set_config('search_path', ...)`): the schemas as written
    /// (`$user` kept), or `None` when the value is not a literal list (an expression, `SET LOCAL`,
    /// which ends with the transaction).
    SearchPath(Option<Vec<String>>),
    /// `RESET search_path`, `RESET ALL`, `DISCARD ALL`, `SET search_path TO DEFAULT`: the path
    /// the session started with (its startup's, else the server's default).
    ResetSearchPath,
    /// `USE db`: the session's current database (MySQL's schema).
    Database(String),
    /// `SET name = value` of a setting that changes lexing (`sql_mode`,
    /// `standard_conforming_strings`, `NAMES`, `character_set_client`, `client_encoding`): its
    /// lower-case name and literal value, `None` when the value is not a literal.
    Setting { name: String, value: Option<String> },
    /// `CALL`, `EXECUTE` of a prepared statement: SQL the analyzer does not see ran and may have
    /// set anything a `SET` can (a MySQL `EXECUTE` of `SET sql_mode`, a Postgres procedure's
    /// `set_config('search_path', ...)`).
    Unseen,
}

/// Settings whose change moves how later text reads.
const LEXING_SETTINGS: [&str; 6] =
    ["sql_mode", "standard_conforming_strings", "names", "character_set_client", "client_encoding", "character set"];

/// What the parsed statement changes for its session, if anything that matters here.
pub(crate) fn change_of(statement: &Ast, tokens: &[TokenWithSpan], dialect: Dialect) -> Option<SessionChange> {
    match statement {
        Ast::Use(Use::Object(name) | Use::Database(name) | Use::Schema(name)) => {
            Some(SessionChange::Database(last_part(name, dialect)?))
        }
        Ast::Set(set) => set_change(set, dialect),
        Ast::Reset(ResetStatement { reset: Reset::ALL }) | Ast::Discard { object_type: DiscardObject::ALL } => {
            Some(SessionChange::ResetSearchPath)
        }
        Ast::Reset(ResetStatement { reset: Reset::ConfigurationParameter(name) })
            if name.to_string().eq_ignore_ascii_case("search_path") =>
        {
            Some(SessionChange::ResetSearchPath)
        }
        Ast::Call(_) | Ast::Execute { .. } => Some(SessionChange::Unseen),
        _ => set_config_call(tokens),
    }
}

/// What an unreadable statement may have changed: a `SET` that names a setting which moves how
/// text reads or where names resolve (`SET @@\`sql_mode\` = 'ANSI_QUOTES'`) may have set it to
/// anything, so later text is read every way it could be, as after a `CALL`. `words` are the
/// statement's words and strings, the first one first.
pub(crate) fn suspected_change<'a>(mut words: impl Iterator<Item = &'a str>) -> Option<SessionChange> {
    if !words.next().is_some_and(|first| first.eq_ignore_ascii_case("SET")) {
        return None;
    }
    let names_a_setting = |word: &str| {
        let name = word.to_lowercase();
        name.ends_with("search_path") || LEXING_SETTINGS.iter().any(|setting| name.ends_with(setting))
    };
    words.any(names_a_setting).then_some(SessionChange::Unseen)
}

fn set_change(set: &Set, dialect: Dialect) -> Option<SessionChange> {
    match set {
        Set::SingleAssignment { scope, variable, values, .. } => assignment(*scope, variable, values, dialect),
        Set::MultipleAssignments { assignments } => {
            // The last change that matters: `SET a = 1, sql_mode = 'x'`.
            assignments.iter().rev().find_map(|a| assignment(a.scope, &a.name, std::slice::from_ref(&a.value), dialect))
        }
        Set::SetNames { charset_name, .. } => {
            Some(SessionChange::Setting { name: "names".into(), value: Some(charset_name.value.to_lowercase()) })
        }
        Set::SetNamesDefault {} => Some(SessionChange::Setting { name: "names".into(), value: None }),
        _ => None,
    }
}

fn assignment(scope: Option<ContextModifier>, variable: &ObjectName, values: &[Expr], dialect: Dialect) -> Option<SessionChange> {
    if scope == Some(ContextModifier::Global) {
        return None;
    }
    // The name as the server looks it up: each part unquoted (`SET \`sql_mode\``, Postgres
    // `SET "search_path"`), without case (both servers find settings case-insensitively).
    let parts: Vec<String> =
        variable.0.iter().map(|part| part.as_ident().map_or_else(|| part.to_string(), |i| i.value.clone())).collect();
    let name = parts.join(".").to_lowercase();
    // `@@session.sql_mode`, `@@sql_mode`, `session.sql_mode` all name the session's setting.
    let name = name.trim_start_matches("@@").trim_start_matches("session.").trim_start_matches("local.").to_string();
    if name.starts_with("global.") {
        return None;
    }
    if name == "search_path" {
        let local = scope == Some(ContextModifier::Local);
        if !local && is_default(values) {
            return Some(SessionChange::ResetSearchPath);
        }
        return Some(SessionChange::SearchPath(if local { None } else { search_path(values, dialect) }));
    }
    if !LEXING_SETTINGS.contains(&name.as_str()) {
        return None;
    }
    let value = match values {
        [value] => literal(value),
        _ => None,
    };
    Some(SessionChange::Setting { name, value })
}

/// `TO DEFAULT`, the keyword (a quoted `"default"` is a schema).
fn is_default(values: &[Expr]) -> bool {
    matches!(values, [Expr::Identifier(ident)] if ident.quote_style.is_none() && ident.value.eq_ignore_ascii_case("default"))
}

/// The schemas of `SET search_path TO a, "B", 'c, d'`, as the server splits and folds them.
fn search_path(values: &[Expr], dialect: Dialect) -> Option<Vec<String>> {
    let mut schemas = Vec::new();
    for value in values {
        match value {
            Expr::Identifier(ident) => schemas.push(canonical_ident(ident, dialect)),
            Expr::Value(v) => match &v.value {
                Value::SingleQuotedString(list) => schemas.extend(split_identifiers(list, dialect)?),
                _ => return None,
            },
            _ => return None,
        }
    }
    Some(schemas)
}

/// A comma-separated list of identifiers in a string, each folded unless double-quoted.
pub fn schema_names(list: &str, dialect: Dialect) -> Option<Vec<String>> {
    split_identifiers(list, dialect)
}

fn split_identifiers(list: &str, dialect: Dialect) -> Option<Vec<String>> {
    let mut names = Vec::new();
    for part in list.split(',') {
        let part = part.trim();
        if part.is_empty() {
            continue;
        }
        match part.strip_prefix('"').and_then(|p| p.strip_suffix('"')) {
            Some(quoted) if !quoted.contains('"') => names.push(canonical(quoted, true, dialect)),
            Some(_) => return None,
            None if part.contains('"') => return None,
            None => names.push(canonical(part, false, dialect)),
        }
    }
    Some(names)
}

fn literal(value: &Expr) -> Option<String> {
    match value {
        Expr::Value(v) => match &v.value {
            Value::SingleQuotedString(s) | Value::DoubleQuotedString(s) => Some(s.clone()),
            Value::Number(n, _) => Some(n.clone()),
            Value::Boolean(b) => Some(if *b { "on".into() } else { "off".into() }),
            _ => None,
        },
        // `SET standard_conforming_strings = off`, `SET NAMES utf8mb4` read as identifiers.
        Expr::Identifier(ident) => Some(ident.value.to_lowercase()),
        _ => None,
    }
}

fn last_part(name: &ObjectName, dialect: Dialect) -> Option<String> {
    let ident = name.0.last()?.as_ident()?;
    Some(canonical_ident(ident, dialect))
}

/// `set_config('search_path', 'a, b', false)` anywhere in a statement (pg_dump starts with one):
/// a literal setting, or any other use of the function, which could set the path to anything.
/// `set_config('client_encoding', ...)` and the other lexing settings are reported as `SET` is.
fn set_config_call(tokens: &[TokenWithSpan]) -> Option<SessionChange> {
    let meaningful: Vec<&Token> = tokens.iter().map(|t| &t.token).filter(|t| !matches!(t, Token::Whitespace(_))).collect();
    let at = meaningful.windows(2).position(|w| {
        matches!(w[0], Token::Word(word) if word.value.eq_ignore_ascii_case("set_config")) && w[1] == &Token::LParen
    })?;
    let args = meaningful.get(at + 2..).unwrap_or_default();
    match args {
        [Token::SingleQuotedString(name), Token::Comma, Token::SingleQuotedString(value), Token::Comma, ..]
            if name.eq_ignore_ascii_case("search_path") =>
        {
            let local = matches!(args.get(4), Some(Token::Word(w)) if w.value.eq_ignore_ascii_case("true"));
            Some(SessionChange::SearchPath(if local { None } else { split_identifiers(value, Dialect::Postgres) }))
        }
        [Token::SingleQuotedString(name), Token::Comma, value, ..] if LEXING_SETTINGS.contains(&name.to_lowercase().as_str()) => {
            let value = match value {
                Token::SingleQuotedString(value) => Some(value.clone()),
                _ => None,
            };
            Some(SessionChange::Setting { name: name.to_lowercase(), value })
        }
        [Token::SingleQuotedString(name), Token::Comma, ..] if !name.eq_ignore_ascii_case("search_path") => None,
        _ => Some(SessionChange::SearchPath(None)),
    }
}

/// What a session has set that changes how its text reads and resolves: every [`Lexing`] it may
/// be in (several when it cannot tell which; a statement is then judged in each), and its search
/// path.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Settings {
    pub lexings: Vec<Lexing>,
    pub search_path: SearchPath,
}

impl Settings {
    /// A dialect's own reading, with nothing known of the search path.
    pub fn default_for(dialect: Dialect) -> Settings {
        Settings { lexings: vec![Lexing::default_for(dialect)], search_path: SearchPath::Unknown }
    }
}
