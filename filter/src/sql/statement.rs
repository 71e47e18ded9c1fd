//! A statement as the engine decides it: its text, the dialect it was read in, and what the
//! analyzer made of it. Requests hold these, never parallel lists of texts and analyses.

use super::{analyze_each, AnalysisCache, Dialect, Intent, StatementAnalysis, Unparsed};

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Statement {
    /// The statement's own text within what the client sent.
    pub text: String,
    pub dialect: Dialect,
    pub analysis: StatementAnalysis,
}

impl Statement {
    /// Every statement of `text`, read in `dialect`; from the memo when one is given.
    pub fn all_in(text: &str, dialect: Dialect, cache: Option<&mut AnalysisCache>) -> Vec<Statement> {
        let analyses = match cache {
            Some(cache) => cache.analyze(text, dialect).as_ref().clone(),
            None => analyze_each(text, dialect),
        };
        analyses
            .into_iter()
            .map(|analysis| {
                let (start, end) = match &analysis {
                    Ok(intent) => intent.span,
                    Err(unparsed) => unparsed.suspected.span,
                };
                Statement { text: text.get(start..end).unwrap_or("").to_string(), dialect, analysis }
            })
            .collect()
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
