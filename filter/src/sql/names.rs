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

    /// The last part: the table, view or function name itself.
    pub fn base(&self) -> &str {
        self.0.last().map(String::as_str).unwrap_or("")
    }

    pub(crate) fn from_object_name(name: &ObjectName, dialect: Dialect) -> ObjectPath {
        ObjectPath(
            name.0
                .iter()
                .map(|part| match part {
                    ObjectNamePart::Identifier(ident) => canonical_ident(ident, dialect),
                    ObjectNamePart::Function(func) => canonical(&func.name.value, false, dialect),
                })
                .collect(),
        )
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

pub(crate) fn canonical_ident(ident: &Ident, dialect: Dialect) -> String {
    canonical(&ident.value, ident.quote_style.is_some(), dialect)
}

pub(crate) fn canonical(value: &str, quoted: bool, dialect: Dialect) -> String {
    match (dialect.case_rule(), quoted) {
        (CaseRule::Sensitive, _) => value.to_string(),
        (CaseRule::Insensitive, _) | (CaseRule::FoldLower, false) | (CaseRule::FoldUpper, false) => {
            value.to_lowercase()
        }
        (CaseRule::FoldLower, true) => value.to_string(),
        // A quoted all-upper-case name is the same object as the unquoted one.
        (CaseRule::FoldUpper, true) if value == value.to_uppercase() => value.to_lowercase(),
        (CaseRule::FoldUpper, true) => value.to_string(),
    }
}
