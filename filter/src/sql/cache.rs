//! A bounded memo of [`analyze_each`]: agents repeat the same statements, and analysis is a pure
//! function of the text and the dialect, so a repeat costs a lookup instead of a parse. Decisions
//! are never cached: they depend on the actor and the route, and are cheap.
//!
//! Bounded by entries and by the bytes of text held; when either is full the memo starts over
//! (no eviction bookkeeping on the hot path). Texts longer than [`MAX_TEXT`] are not kept.

use std::collections::HashMap;
use std::rc::Rc;

use super::{analyze_each_on, Dialect, Lexing, Server, StatementAnalysis};

pub const MAX_ENTRIES: usize = 1024;
pub const MAX_TEXT: usize = 16 * 1024;
pub const MAX_BYTES: usize = 4 * 1024 * 1024;

/// The statements of one text, analyzed in one dialect.
type Analyses = Rc<Vec<StatementAnalysis>>;
/// How a text was read: its dialect, the session's lexing, the server running its comments.
type Reading = (Dialect, Lexing, Option<Server>);

#[derive(Default)]
pub struct AnalysisCache {
    /// Text -> its analysis in each dialect and lexing it was read in.
    entries: HashMap<Box<str>, Vec<(Reading, Analyses)>>,
    count: usize,
    bytes: usize,
}

impl AnalysisCache {
    /// What `analyze_each(text, dialect)` returns, from the memo when it is there.
    pub fn analyze(&mut self, text: &str, dialect: Dialect) -> Analyses {
        self.analyze_as(text, dialect, Lexing::default_for(dialect))
    }

    /// What `analyze_each_as(text, dialect, lexing)` returns, from the memo when it is there.
    pub fn analyze_as(&mut self, text: &str, dialect: Dialect, lexing: Lexing) -> Analyses {
        self.analyze_on(text, dialect, lexing, None)
    }

    /// What `analyze_each_on(text, dialect, lexing, server)` returns, from the memo when it is there.
    pub fn analyze_on(&mut self, text: &str, dialect: Dialect, lexing: Lexing, server: Option<Server>) -> Analyses {
        let key = (dialect, lexing, server);
        if let Some((_, found)) = self.entries.get(text).and_then(|per| per.iter().find(|(k, _)| *k == key)) {
            return Rc::clone(found);
        }
        let analysis = Rc::new(analyze_each_on(text, dialect, lexing, server));
        if text.len() <= MAX_TEXT {
            if self.count >= MAX_ENTRIES || self.bytes + text.len() > MAX_BYTES {
                self.entries.clear();
                (self.count, self.bytes) = (0, 0);
            }
            self.count += 1;
            self.bytes += text.len();
            self.entries.entry(Box::from(text)).or_default().push((key, Rc::clone(&analysis)));
        }
        analysis
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sql::analyze_each;

    #[test]
    fn a_repeat_is_the_same_analysis_and_the_memo_stays_bounded() {
        let mut cache = AnalysisCache::default();
        let sql = "UPDATE orders SET status = 'x' WHERE id = 1";
        let first = cache.analyze(sql, Dialect::Postgres);
        let again = cache.analyze(sql, Dialect::Postgres);
        assert!(Rc::ptr_eq(&first, &again));
        assert_eq!(*first, analyze_each(sql, Dialect::Postgres));
        // The dialect is part of the key: backticks mean different things.
        let mysql = cache.analyze(sql, Dialect::Mysql);
        assert!(!Rc::ptr_eq(&first, &mysql));
        assert_eq!(cache.count, 2);
        for i in 0..3 * MAX_ENTRIES {
            cache.analyze(&format!("SELECT {i}"), Dialect::Postgres);
            assert!(cache.count <= MAX_ENTRIES);
        }
        let long = format!("SELECT '{}'", "x".repeat(MAX_TEXT));
        let held = cache.count;
        let once = cache.analyze(&long, Dialect::Postgres);
        let twice = cache.analyze(&long, Dialect::Postgres);
        assert!(!Rc::ptr_eq(&once, &twice), "long texts are not kept");
        assert_eq!(cache.count, held);
    }
}
