//! A statement as the engine decides it: its text, the dialect it was read in, what the analyzer
//! made of it, and where its unqualified names resolve. Requests hold these, never parallel lists
//! of texts and analyses.

use super::{
    analyze_each_as, AnalysisCache, Dialect, Intent, Lexing, Operation, SearchPath, SessionChange, StatementAnalysis, Unparsed,
};

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Statement {
    /// The statement's own text within what the client sent.
    pub text: String,
    pub dialect: Dialect,
    pub analysis: StatementAnalysis,
    /// Where its unqualified table names may be: the session's path, as changed by the
    /// statements before it in the same text.
    pub search_path: SearchPath,
}

impl Statement {
    /// Every statement of `text`, read in `dialect`; from the memo when one is given.
    pub fn all_in(text: &str, dialect: Dialect, cache: Option<&mut AnalysisCache>) -> Vec<Statement> {
        Statement::all_read(text, dialect, Lexing::default_for(dialect), &SearchPath::Unknown, cache)
    }

    /// Every statement of `text`, cut into tokens as `lexing` says, its names resolved from
    /// `search_path` on (`SET search_path` and `USE` change it for the statements after them).
    pub fn all_read(
        text: &str,
        dialect: Dialect,
        lexing: Lexing,
        search_path: &SearchPath,
        cache: Option<&mut AnalysisCache>,
    ) -> Vec<Statement> {
        let analyses = match cache {
            Some(cache) => cache.analyze_as(text, dialect, lexing).as_ref().clone(),
            None => analyze_each_as(text, dialect, lexing),
        };
        let mut path = search_path.clone();
        analyses
            .into_iter()
            .map(|analysis| {
                let (start, end) = match &analysis {
                    Ok(intent) => intent.span,
                    Err(unparsed) => unparsed.suspected.span,
                };
                let text = text.get(start..end).unwrap_or("").to_string();
                let statement = Statement { text, dialect, analysis, search_path: path.clone() };
                path = statement.path_after(path.clone());
                statement
            })
            .collect()
    }

    /// The search path the statements after this one start from.
    fn path_after(&self, path: SearchPath) -> SearchPath {
        match &self.analysis {
            Ok(intent) => match &intent.session {
                Some(SessionChange::SearchPath(Some(schemas))) => SearchPath::known(self.dialect, schemas.clone()),
                // The text does not know where its session started.
                Some(SessionChange::SearchPath(None) | SessionChange::ResetSearchPath | SessionChange::Unseen) => {
                    SearchPath::Unknown
                }
                Some(SessionChange::Database(database)) => SearchPath::known(self.dialect, vec![database.clone()]),
                _ => path,
            },
            // A setting the analyzer could not read may have been the path.
            Err(unparsed) if unparsed.suspected.operations.contains(Operation::Set) => SearchPath::Unknown,
            Err(_) => path,
        }
    }

    /// What the statement does: as parsed, or as its tokens suggest when it did not parse.
    pub fn intent(&self) -> &Intent {
        match &self.analysis {
            Ok(intent) => intent,
            Err(unparsed) => &unparsed.suspected,
        }
    }

    pub fn unparsed(&self) -> Option<&Unparsed> {
        self.analysis.as_ref().err()
    }
}
