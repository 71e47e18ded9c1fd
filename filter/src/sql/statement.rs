//! A statement as the engine decides it: its text, the dialect it was read in, what the analyzer
//! made of it, and where its unqualified names resolve. Requests hold these, never parallel lists
//! of texts and analyses.

use super::bodies::{empty_intent, merge};
use super::{
    analyze_each_on, readings, AnalysisCache, Dialect, Intent, Lexing, Operation, SearchPath, SessionChange, SqlError,
    StatementAnalysis, Unparsed,
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
    /// A text that MySQL-family servers read differently (executable comments) yields the
    /// statements of every reading, each reading resolved from `search_path` on its own: a deny
    /// in any reading stands.
    pub fn all_read(
        text: &str,
        dialect: Dialect,
        lexing: Lexing,
        search_path: &SearchPath,
        mut cache: Option<&mut AnalysisCache>,
    ) -> Vec<Statement> {
        let servers = match readings(text, dialect) {
            Ok(servers) => servers,
            Err(error) => return vec![Statement::refused(text, dialect, lexing, error, search_path)],
        };
        let mut statements = Vec::new();
        for server in servers {
            let analyses = match cache.as_deref_mut() {
                Some(cache) => cache.analyze_on(text, dialect, lexing, server).as_ref().clone(),
                None => analyze_each_on(text, dialect, lexing, server),
            };
            statements.extend(Statement::chained(text, dialect, analyses, search_path));
        }
        statements
    }

    /// The statements of one reading, each resolving names where the ones before it left them.
    fn chained(text: &str, dialect: Dialect, analyses: Vec<StatementAnalysis>, search_path: &SearchPath) -> Vec<Statement> {
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

    /// The whole text as one statement that cannot be read, with what its default reading suggests.
    fn refused(text: &str, dialect: Dialect, lexing: Lexing, error: SqlError, search_path: &SearchPath) -> Statement {
        let mut suspected = empty_intent(&[]);
        for analysis in analyze_each_on(text, dialect, lexing, None) {
            let intent = match &analysis {
                Ok(intent) => intent,
                Err(unparsed) => &unparsed.suspected,
            };
            merge(&mut suspected, intent);
        }
        suspected.span = (0, text.len());
        let analysis = Err(Unparsed { error, suspected });
        Statement { text: text.to_string(), dialect, analysis, search_path: search_path.clone() }
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
