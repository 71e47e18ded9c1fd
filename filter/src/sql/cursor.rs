//! Where the statement loop stands in a text's tokens, and the parser that reads from there.
//!
//! sqlparser owns the tokens it parses and cannot seek. A copy of every token (each word's
//! string cloned) cost as much as a tenth of the analysis, so the first statement borrows the
//! tokens themselves and hands them back; only a text with more statements pays for a copy,
//! made once, and again from each point where parsing resumes after an error. The position is
//! kept here exactly as the parser keeps its own (whitespace skipped, `;`s consumed), so a copy
//! made later stands where the one parser would have stood.

use sqlparser::ast::Statement;
use sqlparser::dialect::Dialect;
use sqlparser::parser::{Parser, ParserError};
use sqlparser::tokenizer::{Token, TokenWithSpan};

use super::MAX_NESTING;

pub(crate) struct Cursor<'d> {
    dialect: &'d dyn Dialect,
    /// Index of the next token to read, as the parser counts (past the end after its last).
    at: usize,
    /// A parser over a copy of the tokens from the index paired with it on, once one is needed.
    copy: Option<(Parser<'d>, usize)>,
}

impl<'d> Cursor<'d> {
    pub(crate) fn new(dialect: &'d dyn Dialect) -> Cursor<'d> {
        Cursor { dialect, at: 0, copy: None }
    }

    /// The index of the next token to read.
    pub(crate) fn at(&self) -> usize {
        self.at
    }

    /// Consumes the `;`s ahead; the index the next statement starts at, or `None` at the end.
    pub(crate) fn next_statement(&mut self, tokens: &[TokenWithSpan]) -> Option<usize> {
        loop {
            let next = next_solid(tokens, self.at);
            match tokens.get(next).map(|t| &t.token) {
                Some(Token::SemiColon) => self.at = next + 1,
                None | Some(Token::EOF) => return None,
                Some(_) => return Some(self.at),
            }
        }
    }

    /// Moves past the tokens before `end`, a token at a time as the parser's `next_token` does.
    pub(crate) fn skip_to(&mut self, tokens: &[TokenWithSpan], end: usize) {
        while self.at < end {
            let next = next_solid(tokens, self.at);
            self.at = next + 1;
            if tokens.get(next).is_none_or(|t| t.token == Token::EOF) {
                break;
            }
        }
    }

    /// Parses one statement from the current index, which then stands after it.
    pub(crate) fn parse(&mut self, tokens: &mut Vec<TokenWithSpan>) -> Result<Statement, ParserError> {
        if self.at == 0 && self.copy.is_none() {
            let mut parser = parser_over(self.dialect, std::mem::take(tokens));
            let parsed = parser.parse_statement();
            self.at = parser.index();
            *tokens = parser.into_tokens();
            return parsed;
        }
        let dialect = self.dialect;
        let (parser, base) = self.copy.get_or_insert_with(|| (parser_over(dialect, tokens.clone()), 0));
        while *base + parser.index() < self.at && parser.next_token_no_skip().is_some() {}
        let parsed = parser.parse_statement();
        self.at = *base + parser.index();
        parsed
    }

    /// Reads on from `resume` with a fresh parser: one that failed may have stopped anywhere.
    pub(crate) fn resume_at(&mut self, tokens: &[TokenWithSpan], resume: usize) {
        let rest = tokens.get(resume..).unwrap_or_default().to_vec();
        self.copy = Some((parser_over(self.dialect, rest), resume));
        self.at = resume;
    }
}

fn parser_over(dialect: &dyn Dialect, tokens: Vec<TokenWithSpan>) -> Parser<'_> {
    Parser::new(dialect).with_recursion_limit(MAX_NESTING).with_tokens_with_locations(tokens)
}

/// `tokens` (an edited or embedded text) parsed as exactly one statement, `;`s after it allowed.
pub(crate) fn single_statement(dialect: &dyn Dialect, tokens: Vec<TokenWithSpan>) -> Result<Statement, ParserError> {
    let mut parser = parser_over(dialect, tokens);
    let statement = parser.parse_statement()?;
    while parser.consume_token(&Token::SemiColon) {}
    match &parser.peek_token_ref().token {
        Token::EOF => Ok(statement),
        next => Err(ParserError::ParserError(format!("unexpected {next} after the statement"))),
    }
}

/// The index of the first token from `from` on that is not whitespace, or the end.
fn next_solid(tokens: &[TokenWithSpan], from: usize) -> usize {
    let rest = tokens.get(from..).unwrap_or_default();
    rest.iter().position(|t| !matches!(t.token, Token::Whitespace(_))).map_or(tokens.len().max(from), |p| from + p)
}

#[cfg(test)]
mod tests {
    use sqlparser::dialect::{MsSqlDialect, PostgreSqlDialect};
    use sqlparser::tokenizer::Tokenizer;

    use super::*;

    /// Where one parser over all of `sql` stands: each statement's start and end, and where
    /// stepping a token at a time up to index `skip` leaves it after the first statement.
    fn by_parser(dialect: &dyn Dialect, sql: &str, skip: usize) -> Vec<usize> {
        let tokens = Tokenizer::new(dialect, sql).tokenize_with_location().unwrap();
        let mut parser = parser_over(dialect, tokens);
        let mut seen = Vec::new();
        loop {
            while parser.consume_token(&Token::SemiColon) {}
            if parser.peek_token_ref().token == Token::EOF {
                return seen;
            }
            seen.push(parser.index());
            if seen.len() == 1 {
                while parser.index() < skip && parser.next_token().token != Token::EOF {}
                seen.push(parser.index());
                continue;
            }
            let parsed = parser.parse_statement().is_ok();
            seen.push(parser.index());
            if !parsed {
                return seen;
            }
        }
    }

    fn by_cursor(dialect: &dyn Dialect, sql: &str, skip: usize) -> Vec<usize> {
        let mut tokens = Tokenizer::new(dialect, sql).tokenize_with_location().unwrap();
        let mut cursor = Cursor::new(dialect);
        let mut seen = Vec::new();
        while let Some(start) = cursor.next_statement(&tokens) {
            seen.push(start);
            if seen.len() == 1 {
                cursor.skip_to(&tokens, skip);
                seen.push(cursor.at());
                continue;
            }
            let parsed = cursor.parse(&mut tokens).is_ok();
            seen.push(cursor.at());
            if !parsed {
                return seen;
            }
        }
        seen
    }

    #[test]
    fn stands_where_one_parser_stands() {
        let texts = [
            "SELECT 1",
            ";; SELECT 1 ; SELECT 2;",
            "  -- c\n SELECT 1; /* x */ ; INSERT INTO t VALUES (1) ;\n",
            "DO 'x' ; SELECT a FROM t WHERE b ; DELETE FROM t",
            "CREATE RULE r AS ON INSERT TO t DO ALSO SELECT 1; SELECT 1 FROM; SELECT 2",
            "SELECT 1;;",
        ];
        for sql in texts {
            for skip in [0, 1, 3, 6, 40] {
                assert_eq!(
                    by_cursor(&PostgreSqlDialect {}, sql, skip),
                    by_parser(&PostgreSqlDialect {}, sql, skip),
                    "{sql} {skip}"
                );
            }
        }
        let tsql = "SELECT 1 SELECT 2 ; SELECT 3";
        assert_eq!(by_cursor(&MsSqlDialect {}, tsql, 2), by_parser(&MsSqlDialect {}, tsql, 2));
    }

    #[test]
    fn the_first_statement_hands_its_tokens_back() {
        let dialect = PostgreSqlDialect {};
        let mut tokens = Tokenizer::new(&dialect, "SELECT 1; SELECT 2").tokenize_with_location().unwrap();
        let all = tokens.clone();
        let mut cursor = Cursor::new(&dialect);
        assert_eq!(cursor.next_statement(&tokens), Some(0));
        assert!(cursor.parse(&mut tokens).is_ok());
        assert_eq!(tokens, all);
        assert!(cursor.copy.is_none());
        assert!(cursor.next_statement(&tokens).is_some());
        assert!(cursor.parse(&mut tokens).is_ok());
        assert_eq!(cursor.next_statement(&tokens), None);
    }
}
