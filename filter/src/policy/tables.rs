//! Table patterns of `sql.tables`: dotted parts, each a case-insensitive glob, matched from the
//! right so that a qualifier the statement leaves out is never assumed.

use crate::glob::Glob;
use crate::sql::ObjectPath;

/// A table pattern: dotted parts, each a case-insensitive glob (`prod.*`, `*.users`, `orders`).
#[derive(Clone, Debug)]
pub struct TablePattern {
    pub parts: Vec<Glob>,
}

impl TablePattern {
    /// Matches from the right, part by part: `users` matches `users` and `public.users`;
    /// `vault.*` matches `vault.keys` but not an unqualified `keys` (whose schema the statement
    /// does not name), nor `vault.dbo.keys`; `vault.**` matches any number of parts under
    /// `vault`. Leading `*` / `**` parts also match qualifiers the statement leaves out.
    pub fn matches(&self, object: &ObjectPath) -> bool {
        let (p, n) = (&self.parts, object.parts());
        let deep = |g: &Glob| g.as_str() == "**";
        // reach[j]: the first i pattern parts match the first j name parts (right ends aligned,
        // name qualifiers beyond the pattern's left end are free).
        let mut reach: Vec<bool> = vec![true; n.len() + 1];
        for i in 1..=p.len() {
            let mut next = vec![false; n.len() + 1];
            next[0] = reach[0] && matches!(p[i - 1].as_str(), "*" | "**");
            for j in 1..=n.len() {
                next[j] = if deep(&p[i - 1]) { reach[j] || next[j - 1] } else { reach[j - 1] && p[i - 1].matches(&n[j - 1]) };
            }
            reach = next;
        }
        reach[n.len()]
    }
}

impl TablePattern {
    /// For a name the statement leaves unqualified and whose schema is not known: whether it may
    /// be a table this pattern names, in whatever schema (`vault.*` may be an unqualified `keys`).
    pub fn matches_in_any_schema(&self, object: &ObjectPath) -> bool {
        match (self.parts.last(), object.parts()) {
            (Some(last), [name]) => last.as_str() == "**" || last.matches(name),
            _ => self.matches(object),
        }
    }
}

/// Splits `a.b."c.d"` into parts; quotes keep dots and case-insensitivity still applies.
pub(super) fn split_table_pattern(pattern: &str) -> Vec<String> {
    let mut parts = vec![String::new()];
    let mut quoted = false;
    for c in pattern.chars() {
        match c {
            '"' | '`' => quoted = !quoted,
            '.' if !quoted => parts.push(String::new()),
            c => parts.last_mut().expect("parts is never empty").push(c),
        }
    }
    parts
}
