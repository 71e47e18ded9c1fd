//! Where a session's unqualified names resolve, as far as the server's answers confirm it: a
//! path set by an allowed statement holds once its segment ran without error outside a
//! transaction block; any doubt makes it unknown.

use std::collections::VecDeque;

use super::MAX_UNANSWERED;
use crate::sql::SearchPath;

/// Where the session's unqualified names resolve, as far as the server's answers confirm it.
#[derive(Clone, Debug, Default)]
pub(super) struct SearchPaths {
    /// The startup's path, which RESET returns to (`None`: the route's).
    pub start: Option<SearchPath>,
    /// After every answered segment.
    settled: Option<SearchPath>,
    /// Paths set by allowed statements, by segment, not yet answered.
    sent: VecDeque<(u64, Option<SearchPath>)>,
    /// A prepared statement sets the path whenever it is executed: unknown from then on.
    pub lost: bool,
}

impl SearchPaths {
    /// The path a startup packet set (`None`: the route's), before anything changed it.
    pub fn starting(path: Option<SearchPath>) -> SearchPaths {
        SearchPaths { start: path.clone(), settled: path, ..SearchPaths::default() }
    }

    pub fn current(&self) -> Option<SearchPath> {
        if self.lost || !self.sent.is_empty() {
            Some(SearchPath::Unknown)
        } else {
            self.settled.clone()
        }
    }

    pub fn send(&mut self, segment: u64, path: Option<SearchPath>) {
        if self.sent.len() >= MAX_UNANSWERED {
            self.lost = true;
            self.sent.clear();
        } else if !self.lost {
            self.sent.push_back((segment, path));
        }
    }

    /// `segment` was answered: its last path holds if it ran without error outside a
    /// transaction block, where nothing can roll it back.
    pub fn answered(&mut self, segment: u64, committed: bool) {
        let mut last = None;
        while self.sent.front().is_some_and(|(s, _)| *s <= segment) {
            last = self.sent.pop_front().map(|(_, path)| path);
        }
        if let Some(path) = last {
            self.settled = if committed { path } else { Some(SearchPath::Unknown) };
        }
    }
}
