//! Glob patterns for paths, hosts, principals, tables and tool names.
//!
//! `*` matches any run of characters except the separator (when the glob has one), `**` any run
//! at all, `?` one character, `[a-z]` / `[!0-9]` one character of (or not of) a class, and `\`
//! escapes the next character. Matching runs over the set of reachable text positions, one
//! pattern token at a time: O(pattern × text), no backtracking, no recursion.

use std::fmt;

#[derive(Clone, Debug, PartialEq, Eq)]
enum Piece {
    Literal(char),
    /// `*`: anything but the separator.
    Star,
    /// `**`: anything.
    DeepStar,
    /// `?`: one character but the separator.
    One,
    Class {
        ranges: Vec<(char, char)>,
        negated: bool,
    },
}

/// A compiled glob.
#[derive(Clone, PartialEq, Eq)]
pub struct Glob {
    source: String,
    pieces: Vec<Piece>,
    separator: Option<char>,
    case_insensitive: bool,
    /// The whole pattern is a literal: matching is a string comparison.
    literal: Option<String>,
}

impl fmt::Debug for Glob {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Glob({:?})", self.source)
    }
}

impl fmt::Display for Glob {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.source)
    }
}

impl Glob {
    /// A glob whose `*` stops at `separator` (`/` for paths), case-sensitive.
    pub fn with_separator(pattern: &str, separator: char) -> Result<Glob, String> {
        Glob::compile(pattern, Some(separator), false)
    }

    /// A glob whose `*` matches anything, case-sensitive.
    pub fn new(pattern: &str) -> Result<Glob, String> {
        Glob::compile(pattern, None, false)
    }

    /// A glob whose `*` matches anything, ignoring ASCII case.
    pub fn case_insensitive(pattern: &str) -> Result<Glob, String> {
        Glob::compile(pattern, None, true)
    }

    pub fn as_str(&self) -> &str {
        &self.source
    }

    /// True when the pattern has no wildcard at all.
    pub fn is_literal(&self) -> bool {
        self.literal.is_some()
    }

    fn compile(pattern: &str, separator: Option<char>, case_insensitive: bool) -> Result<Glob, String> {
        if pattern.is_empty() {
            return Err("empty pattern".to_string());
        }
        let mut pieces = Vec::new();
        let mut chars = pattern.chars().peekable();
        while let Some(c) = chars.next() {
            match c {
                '\\' => match chars.next() {
                    Some(escaped) => pieces.push(Piece::Literal(escaped)),
                    None => return Err(format!("pattern {pattern:?} ends with a lone '\\'")),
                },
                '*' => {
                    if chars.peek() == Some(&'*') {
                        chars.next();
                        pieces.push(Piece::DeepStar);
                    } else {
                        pieces.push(Piece::Star);
                    }
                }
                '?' => pieces.push(Piece::One),
                '[' => {
                    let negated = matches!(chars.peek(), Some('!') | Some('^'));
                    if negated {
                        chars.next();
                    }
                    let mut ranges = Vec::new();
                    let mut closed = false;
                    let mut first = true;
                    while let Some(c) = chars.next() {
                        if c == ']' && !first {
                            closed = true;
                            break;
                        }
                        first = false;
                        let low = if c == '\\' {
                            chars.next().ok_or_else(|| format!("pattern {pattern:?} has an unclosed '['"))?
                        } else {
                            c
                        };
                        if chars.peek() == Some(&'-') {
                            chars.next();
                            match chars.next() {
                                Some(']') => {
                                    ranges.push((low, low));
                                    ranges.push(('-', '-'));
                                    closed = true;
                                    break;
                                }
                                Some(high) if high >= low => ranges.push((low, high)),
                                Some(high) => return Err(format!("pattern {pattern:?} has a reversed range {low}-{high}")),
                                None => return Err(format!("pattern {pattern:?} has an unclosed '['")),
                            }
                        } else {
                            ranges.push((low, low));
                        }
                    }
                    if !closed {
                        return Err(format!("pattern {pattern:?} has an unclosed '['"));
                    }
                    pieces.push(Piece::Class { ranges, negated });
                }
                other => pieces.push(Piece::Literal(other)),
            }
        }
        let literal = pieces
            .iter()
            .map(|p| match p {
                Piece::Literal(c) => Some(*c),
                _ => None,
            })
            .collect::<Option<String>>()
            .map(|s| if case_insensitive { s.to_ascii_lowercase() } else { s });
        Ok(Glob { source: pattern.to_string(), pieces, separator, case_insensitive, literal })
    }

    pub fn matches(&self, text: &str) -> bool {
        self.matches_folding(text, self.case_insensitive)
    }

    /// Matches as if the glob had been compiled case-insensitive: how a server that routes
    /// paths regardless of case reads them.
    pub fn matches_ignoring_case(&self, text: &str) -> bool {
        self.matches_folding(text, true)
    }

    fn matches_folding(&self, text: &str, fold: bool) -> bool {
        if let Some(literal) = &self.literal {
            return if fold { literal.eq_ignore_ascii_case(text) } else { literal == text };
        }
        let text: Vec<char> = text.chars().collect();
        let n = text.len();
        let mut reachable = vec![false; n + 1];
        reachable[0] = true;
        let mut next = vec![false; n + 1];
        for piece in &self.pieces {
            next.iter_mut().for_each(|r| *r = false);
            match piece {
                Piece::Star | Piece::DeepStar => {
                    let deep = *piece == Piece::DeepStar || self.separator.is_none();
                    let mut carrying = false;
                    for i in 0..=n {
                        carrying |= reachable[i];
                        next[i] = carrying;
                        if !deep && i < n && Some(text[i]) == self.separator {
                            carrying = false;
                        }
                    }
                }
                _ => {
                    for i in 0..n {
                        if reachable[i] && self.piece_matches(piece, text[i], fold) {
                            next[i + 1] = true;
                        }
                    }
                }
            }
            std::mem::swap(&mut reachable, &mut next);
            if !reachable.iter().any(|&r| r) {
                return false;
            }
        }
        reachable[n]
    }

    fn piece_matches(&self, piece: &Piece, c: char, fold: bool) -> bool {
        let folded = |x: char| if fold { x.to_ascii_lowercase() } else { x };
        match piece {
            Piece::Literal(l) => folded(*l) == folded(c),
            Piece::One => Some(c) != self.separator,
            Piece::Class { ranges, negated } => {
                let c = folded(c);
                let inside =
                    ranges.iter().any(|&(lo, hi)| (lo..=hi).contains(&c) || (fold && (folded(lo)..=folded(hi)).contains(&c)));
                inside != *negated && Some(c) != self.separator
            }
            Piece::Star | Piece::DeepStar => true,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn star_stops_at_the_separator_and_deep_star_does_not() {
        let g = Glob::with_separator("/api/*/statements", '/').unwrap();
        assert!(g.matches("/api/v2/statements"));
        assert!(!g.matches("/api/v2/x/statements"));
        let deep = Glob::with_separator("/api/**", '/').unwrap();
        assert!(deep.matches("/api/v2/x/statements"));
        assert!(!deep.matches("/apix"));
    }

    #[test]
    fn classes_escapes_and_question_marks() {
        let g = Glob::new("agent-[0-9]?").unwrap();
        assert!(g.matches("agent-7x"));
        assert!(!g.matches("agent-x7"));
        assert!(Glob::new("a[!b]c").unwrap().matches("axc"));
        assert!(!Glob::new("a[!b]c").unwrap().matches("abc"));
        assert!(Glob::new(r"lit\*").unwrap().matches("lit*"));
        assert!(!Glob::new(r"lit\*").unwrap().matches("lit-anything"));
    }

    #[test]
    fn bad_patterns_are_errors() {
        assert!(Glob::new("").is_err());
        assert!(Glob::new("a[bc").is_err());
        assert!(Glob::new("abc\\").is_err());
        assert!(Glob::new("[z-a]").is_err());
    }

    #[test]
    fn case_insensitive_globs() {
        let g = Glob::case_insensitive("Orders*").unwrap();
        assert!(g.matches("ORDERS_2024"));
        assert!(Glob::case_insensitive("users").unwrap().matches("USERS"));
        assert!(!Glob::new("users").unwrap().matches("USERS"));
        let path = Glob::with_separator("/api/[a-z]*/Rows", '/').unwrap();
        assert!(!path.matches("/API/Users/rows"));
        assert!(path.matches_ignoring_case("/API/Users/rows"));
        assert!(!path.matches_ignoring_case("/API/Users/x/rows"));
    }

    #[test]
    fn long_texts_do_not_blow_up() {
        let g = Glob::new("*a*a*a*a*a*a*a*b").unwrap();
        assert!(!g.matches(&"a".repeat(10_000)));
    }
}
