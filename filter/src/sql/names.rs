//! Canonical object and column names, so `Users`, `"users"` and `public.USERS` compare as the
//! database would compare them.
//!
//! Canonical form: each identifier part as the dialect resolves it, written in lower case where
//! the resolved name is case-insensitive or folded (Snowflake's `ORDERS` is shown as `orders`),
//! and as written where case is significant (a quoted `"Orders"` in Postgres).

use std::fmt;

use sqlparser::ast::{Ident, ObjectName, ObjectNamePart};

use super::dialect::{CaseRule, Dialect};

/// A schema-qualified object name in canonical form: `["public", "users"]`.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ObjectPath(Vec<String>);

impl ObjectPath {
    pub fn new(parts: Vec<String>) -> ObjectPath {
        ObjectPath(parts)
    }

    pub fn parts(&self) -> &[String] {
        &self.0
    }

    pub(crate) fn from_object_name(name: &ObjectName, dialect: Dialect) -> ObjectPath {
        let mut parts = Vec::with_capacity(name.0.len());
        for part in &name.0 {
            match part {
                ObjectNamePart::Identifier(ident) => parts.push(canonical_ident(ident, dialect)),
                // Snowflake `IDENTIFIER('db.tbl')`: the literal is the name.
                ObjectNamePart::Function(func) => match identifier_literal(func) {
                    Some(text) => parts.extend(text.split('.').map(|p| canonical(p.trim(), false, dialect))),
                    None => parts.push(DYNAMIC_PART.to_string()),
                },
            }
        }
        ObjectPath(parts)
    }

    /// Whether a part of the name is only known at run time (`IDENTIFIER($var)`).
    pub fn is_dynamic(&self) -> bool {
        self.0.iter().any(|p| p == DYNAMIC_PART)
    }
}

impl fmt::Display for ObjectPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, part) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str(".")?;
            }
            f.write_str(part)?;
        }
        Ok(())
    }
}

/// Stands for a name part computed at run time.
const DYNAMIC_PART: &str = "?";

fn identifier_literal(func: &sqlparser::ast::ObjectNamePartFunction) -> Option<String> {
    use sqlparser::ast::{Expr, FunctionArg, FunctionArgExpr, Value};
    if !func.name.value.eq_ignore_ascii_case("identifier") {
        return None;
    }
    match func.args.as_slice() {
        [FunctionArg::Unnamed(FunctionArgExpr::Expr(Expr::Value(v)))] => match &v.value {
            Value::SingleQuotedString(s) | Value::DoubleQuotedString(s) => Some(s.clone()),
            _ => None,
        },
        _ => None,
    }
}

/// The name exactly as the database resolves it, for identity comparisons (CTE scoping):
/// unlike the canonical form, Snowflake's `"secrets"` and `secrets` (`SECRETS`) differ here.
pub(crate) fn resolved_ident(ident: &Ident, dialect: Dialect) -> String {
    let quoted = ident.quote_style.is_some();
    match (dialect.case_rule(), quoted) {
        (CaseRule::Sensitive, _) | (CaseRule::FoldLower, true) | (CaseRule::FoldUpper, true) => ident.value.clone(),
        (CaseRule::Insensitive, _) | (CaseRule::FoldLower, false) => ident.value.to_lowercase(),
        (CaseRule::FoldUpper, false) => ident.value.to_uppercase(),
    }
}

pub(crate) fn canonical_ident(ident: &Ident, dialect: Dialect) -> String {
    canonical(&ident.value, ident.quote_style.is_some(), dialect)
}

/// Appends [`canonical`] of an unquoted `value` to `out`, without a String of its own when it is ASCII.
pub(crate) fn push_canonical_unquoted(out: &mut String, value: &str, dialect: Dialect) {
    match dialect.case_rule() {
        CaseRule::Sensitive => out.push_str(value),
        _ if value.is_ascii() => out.extend(value.chars().map(|c| c.to_ascii_lowercase())),
        _ => out.push_str(&value.to_lowercase()),
    }
}

pub(crate) fn canonical(value: &str, quoted: bool, dialect: Dialect) -> String {
    match (dialect.case_rule(), quoted) {
        (CaseRule::Sensitive, _) => value.to_string(),
        (CaseRule::Insensitive, _) | (CaseRule::FoldLower, false) | (CaseRule::FoldUpper, false) => value.to_lowercase(),
        (CaseRule::FoldLower, true) => value.to_string(),
        // A quoted all-upper-case name is the same object as the unquoted one.
        (CaseRule::FoldUpper, true) if value == value.to_uppercase() => value.to_lowercase(),
        (CaseRule::FoldUpper, true) => value.to_string(),
    }
}
