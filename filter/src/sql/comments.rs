//! MySQL-family executable comments: `/*! ... */` runs on MySQL and MariaDB, `/*!NNNNN ... */`
//! only from version NNNNN on, `/*M! ... */` only on MariaDB. Which of them run depends on the
//! server, so a text holding them reads differently on each: [`readings`] names one server per
//! distinct reading of a text, and [`tokenize`] cuts the text as that server does.
//!
//! The rules, as a MariaDB 10.11.19 server ran them (`DELETE FROM t /*!NNNNN WHERE id=1 */`):
//! MariaDB takes five digits, or six when a sixth follows (`/*!101100` is 10.11.0), runs the
//! comment up to its own version but skips MySQL 5.7's and later's `/*!50700` .. `/*!99999`
//! (not `/*M!50700`); `/*m!` is a plain comment; fewer than five digits are code (`/*!1 x */`
//! runs `1 x`). MySQL's manual gives it five digits and no `/*M!`.

use std::collections::BTreeSet;

use sqlparser::tokenizer::{Token, TokenWithSpan, Tokenizer, Whitespace};

use super::dialect::{Dialect, Lexing};
use super::lexical::Offsets;

/// A MySQL-family server by product and version number (`80036` is MySQL 8.0.36, `101106` is
/// MariaDB 10.11.6).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Server {
    Mysql(u32),
    Mariadb(u32),
}

/// The reading of a text that names no server: every `/*!` runs, `/*M!` does not (sqlparser's).
const DEFAULT: Server = Server::Mysql(u32::MAX);
/// The oldest versions considered: MySQL 5.0 and MariaDB 5.1. Older `/*!40101` comments run.
const OLDEST_MYSQL: u32 = 50000;
const OLDEST_MARIADB: u32 = 50100;
/// Distinct comment versions one text may hold; more cannot be read in every way.
const MAX_VERSIONS: usize = 16;
/// Running comments whose code has quotes or comments in it, each needing a fresh tokenizing.
const MAX_RELEXED: usize = 16;

/// A comment opener: `M!` or `!`, then an optional version.
struct Opener {
    mariadb_only: bool,
    /// The five digits MySQL reads, and the six MariaDB reads when a sixth follows.
    five: Option<u32>,
    six: Option<u32>,
}

impl Opener {
    /// The opener of a block comment's text (after `/*`), and its length.
    fn of(comment: &str) -> Option<Opener> {
        let (mariadb_only, rest) = match comment.strip_prefix("M!") {
            Some(rest) => (true, rest),
            None => (false, comment.strip_prefix('!')?),
        };
        let digits = rest.bytes().take(6).take_while(u8::is_ascii_digit).count();
        let number = |n: usize| rest.get(..n).and_then(|d| d.parse().ok());
        let five = if digits >= 5 { number(5) } else { None };
        let six = if digits == 6 { number(6) } else { None };
        Some(Opener { mariadb_only, five, six })
    }

    /// Whether `server` runs the comment, and then how many bytes after `/*` are not code.
    fn runs_on(&self, server: Server) -> Option<usize> {
        let marker = if self.mariadb_only { 2 } else { 1 };
        match server {
            Server::Mysql(_) if self.mariadb_only => None,
            Server::Mysql(version) => match self.five {
                Some(v) => (v <= version).then_some(marker + 5),
                None => Some(marker),
            },
            Server::Mariadb(version) => match (self.six, self.five) {
                (Some(v), _) | (None, Some(v)) => {
                    let mysql_only = (50700..=99999).contains(&v) && !self.mariadb_only;
                    let digits = if self.six.is_some() { 6 } else { 5 };
                    (v <= version && !mysql_only).then_some(marker + digits)
                }
                (None, None) => Some(marker),
            },
        }
    }
}

/// The servers whose readings of `sql` differ, one each; `[None]` when no server reads it
/// differently. Openers are found in the raw text, inside strings too: a reading too many is
/// only a reading more. Errs when the text holds more versions than can each be read.
pub(crate) fn readings(sql: &str, dialect: Dialect) -> Result<Vec<Option<Server>>, String> {
    if dialect != Dialect::Mysql || !(sql.contains("/*!") || sql.contains("/*M!")) {
        return Ok(vec![None]);
    }
    let openers: Vec<Opener> = sql.match_indices("/*").filter_map(|(at, _)| sql.get(at + 2..).and_then(Opener::of)).collect();
    let mysql: BTreeSet<u32> = openers.iter().filter_map(|o| o.five).filter(|v| *v > OLDEST_MYSQL).collect();
    let mariadb: BTreeSet<u32> = openers.iter().filter_map(|o| o.six.or(o.five)).filter(|v| *v > OLDEST_MARIADB).collect();
    if mysql.len() > MAX_VERSIONS || mariadb.len() > MAX_VERSIONS {
        return Err(format!("more than {MAX_VERSIONS} versions of executable comments in one text"));
    }
    let candidates = std::iter::once(OLDEST_MYSQL)
        .chain(mysql)
        .map(Server::Mysql)
        .chain(std::iter::once(OLDEST_MARIADB).chain(mariadb).map(Server::Mariadb));
    let mut seen: Vec<Vec<bool>> = Vec::new();
    let mut servers = Vec::new();
    for server in candidates {
        let runs: Vec<bool> = openers.iter().map(|o| o.runs_on(server).is_some()).collect();
        if !seen.contains(&runs) {
            seen.push(runs);
            servers.push(Some(server));
        }
    }
    Ok(servers)
}

/// The tokens of `sql` as `server` cuts them (`None`: the default reading). In MySQL the code of
/// a running comment is read as if the comment markers were spaces, and `||` is OR unless
/// `sql_mode` says `PIPES_AS_CONCAT`, which is not followed: reading it as OR can only find more
/// WHERE clauses always true.
pub(crate) fn tokenize(
    sql: &str,
    dialect: Dialect,
    lexing: Lexing,
    server: Option<Server>,
) -> Result<Vec<TokenWithSpan>, String> {
    let cut = |text: &str| {
        let mut tokens = Vec::new();
        let result = Tokenizer::new(dialect.tokenizer_dialect(lexing), text).tokenize_with_location_into_buf(&mut tokens);
        (tokens, result.err().map(|e| e.to_string()))
    };
    let (mut tokens, mut error) = cut(sql);
    if dialect != Dialect::Mysql {
        return error.map_or(Ok(tokens), Err);
    }
    let server = server.unwrap_or(DEFAULT);
    let mut text = sql.to_string();
    let mut relexed = 0;
    let mut from = 0;
    // The tokens read before an error are enough: a comment whose code holds a quote can end a
    // string the plain reading cannot (`/*! '*/' */`), and reads again once its opener is blank.
    while let Some(opener) = blank_running_comments(&mut text, &tokens, server, from) {
        // A running comment whose code holds quotes or comments ends where the server's lexer
        // finds `*/` outside them: read again with the opener blanked to find it.
        relexed += 1;
        if relexed > MAX_RELEXED {
            return Err(format!("more than {MAX_RELEXED} executable comments holding quotes or comments"));
        }
        let (opened, _) = cut(&text);
        from = match closer(&text, &opened, opener) {
            Some(at) => {
                text.replace_range(at..at + 2, "  ");
                at + 2
            }
            None => text.len(),
        };
        (tokens, error) = cut(&text);
    }
    if text != sql {
        (tokens, error) = cut(&text);
    }
    if let Some(error) = error {
        return Err(error);
    }
    for token in &mut tokens {
        if token.token == Token::StringConcat {
            token.token = Token::make_keyword("OR");
        }
    }
    Ok(tokens)
}

/// Where the first `*/` outside strings and comments is, at or after byte `from`.
fn closer(text: &str, tokens: &[TokenWithSpan], from: usize) -> Option<usize> {
    let offsets = Offsets::new(text);
    tokens
        .iter()
        .filter(|t| t.token == Token::Mul)
        .map(|t| offsets.byte(t.span.start))
        .find(|&at| at >= from && text.as_bytes().get(at + 1) == Some(&b'/'))
}

/// Blanks, from byte `from` on, the markers of each comment that `server` runs and whose code
/// ends at the comment's first `*/`; stops at one whose code holds quotes or comments, having
/// blanked its opener, and returns where its code starts.
fn blank_running_comments(text: &mut String, tokens: &[TokenWithSpan], server: Server, from: usize) -> Option<usize> {
    let offsets = Offsets::new(text);
    let mut edits: Vec<(usize, usize, usize)> = Vec::new(); // (start, code start, end)
    let mut held: Option<usize> = None;
    for token in tokens {
        let Token::Whitespace(Whitespace::MultiLineComment(comment)) = &token.token else { continue };
        let start = offsets.byte(token.span.start);
        let Some(skip) = Opener::of(comment).and_then(|o| o.runs_on(server)) else { continue };
        if start < from {
            continue;
        }
        let code = comment.get(skip..).unwrap_or("");
        let end = offsets.byte(token.span.end);
        if code.contains(['\'', '"', '`', '#']) || code.contains("--") || code.contains("/*") {
            held = Some(start + 2 + skip);
            edits.push((start, start + 2 + skip, start + 2 + skip));
            break;
        }
        edits.push((start, start + 2 + skip, end));
    }
    blank(text, &edits);
    held
}

/// Replaces each opener (`start..code`) and closer (the two bytes before `end`, when `end` is
/// past the code) with spaces: every marker byte is ASCII, so offsets and locations stay.
fn blank(text: &mut String, edits: &[(usize, usize, usize)]) {
    for &(start, code, end) in edits {
        let closer = if end > code { end.saturating_sub(2) } else { end };
        for (a, b) in [(start, code), (closer, end)] {
            if a < b && text.get(a..b).is_some_and(|s| s.is_ascii()) {
                text.replace_range(a..b, &" ".repeat(b - a));
            }
        }
    }
}
