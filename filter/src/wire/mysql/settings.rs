//! What the server's session has set that bears on the client's next statement: how its bytes
//! decode (the client character set), how its text cuts into tokens (`NO_BACKSLASH_ESCAPES`
//! from the status flags, `ANSI_QUOTES` from `sql_mode`), and where it runs (the schema).
//!
//! A change counts once the server confirmed it: status flags and session tracking in its OK
//! packets, or the OK answering the statement that made it. While a change is unconfirmed (a
//! pipelined statement behind it) or its outcome unknown, the statement is read every way the
//! session may be in: both quote readings; a non-ASCII text, or one whose schema is in doubt,
//! is unreadable.

use std::borrow::Cow;

use crate::sql::{Dialect, Lexing, SearchPath, SessionChange};
use crate::wire::Context;

/// A client character set, as far as it changes how SQL bytes cut into characters.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Charset {
    Utf8,
    /// One byte, one character (latin1, binary, ascii).
    SingleByte,
    Gbk,
    Gb18030,
    /// sjis and cp932.
    ShiftJis,
    Big5,
    /// A character set the filter does not decode: only ASCII text is read.
    Unsupported,
}

impl Charset {
    /// The character set of a collation id (the handshake's byte).
    pub fn of_collation(id: u8) -> Charset {
        match id {
            33 | 45 | 46 | 76 | 83 | 192..=247 | 255 => Charset::Utf8,
            5 | 8 | 11 | 15 | 31 | 47 | 48 | 49 | 63 | 65 | 94 => Charset::SingleByte,
            28 | 87 => Charset::Gbk,
            248..=250 => Charset::Gb18030,
            13 | 88 | 95 | 96 => Charset::ShiftJis,
            1 | 84 => Charset::Big5,
            _ => Charset::Unsupported,
        }
    }

    /// The character set `SET NAMES` (and the like) or session tracking names.
    pub fn named(name: &str) -> Charset {
        match name.trim().trim_matches(['\'', '"', '`']).to_ascii_lowercase().as_str() {
            "utf8" | "utf8mb3" | "utf8mb4" => Charset::Utf8,
            "latin1" | "binary" | "ascii" => Charset::SingleByte,
            "gbk" => Charset::Gbk,
            "gb18030" => Charset::Gb18030,
            "sjis" | "cp932" => Charset::ShiftJis,
            "big5" => Charset::Big5,
            _ => Charset::Unsupported,
        }
    }

    /// The text of `bytes`, cut into characters as the server's lexer cuts them; `None` when
    /// they are not well formed in the character set (or it is not decoded here).
    pub fn decode(self, bytes: &[u8]) -> Option<Cow<'_, str>> {
        if bytes.is_ascii() {
            return std::str::from_utf8(bytes).ok().map(Cow::Borrowed);
        }
        let encoding = match self {
            Charset::Utf8 => return std::str::from_utf8(bytes).ok().map(Cow::Borrowed),
            Charset::SingleByte => return Some(encoding_rs::WINDOWS_1252.decode_without_bom_handling(bytes).0),
            Charset::Unsupported => return None,
            Charset::Gbk => encoding_rs::GBK,
            Charset::Gb18030 => encoding_rs::GB18030,
            Charset::ShiftJis => encoding_rs::SHIFT_JIS,
            Charset::Big5 => encoding_rs::BIG5,
        };
        // encoding_rs takes some lead bytes the server's lexer reads as single bytes: only text
        // whose characters both cut alike is decoded.
        if !self.well_formed(bytes) {
            return None;
        }
        encoding.decode_without_bom_handling_and_without_replacement(bytes)
    }

    /// Every byte over 0x7f starts a character the server's lexer reads as one (MySQL's
    /// `ismbchar` ranges), so no trail byte is left to read as ASCII.
    fn well_formed(self, bytes: &[u8]) -> bool {
        let mut at = 0;
        while let Some(&lead) = bytes.get(at) {
            let trail = bytes.get(at + 1).copied().unwrap_or(0);
            let width = match self {
                _ if lead < 0x80 => 1,
                Charset::Gbk | Charset::Gb18030 if (0x81..=0xfe).contains(&lead) => match trail {
                    0x40..=0x7e | 0x80..=0xfe => 2,
                    0x30..=0x39 if self == Charset::Gb18030 && four_byte_gb18030(bytes.get(at + 2..at + 4)) => 4,
                    _ => return false,
                },
                Charset::ShiftJis if (0xa1..=0xdf).contains(&lead) => 1,
                Charset::ShiftJis if matches!(lead, 0x81..=0x9f | 0xe0..=0xfc) && matches!(trail, 0x40..=0x7e | 0x80..=0xfc) => 2,
                Charset::Big5 if (0xa1..=0xf9).contains(&lead) && matches!(trail, 0x40..=0x7e | 0xa1..=0xfe) => 2,
                _ => return false,
            };
            at += width;
        }
        true
    }
}

fn four_byte_gb18030(rest: Option<&[u8]>) -> bool {
    matches!(rest, Some([0x81..=0xfe, 0x30..=0x39]))
}

/// `sql_mode` modes that make `"` quote identifiers (ANSI_QUOTES and the combinations holding it).
fn ansi_quotes_in(sql_mode: &str) -> bool {
    const ANSI: [&str; 7] = ["ansi_quotes", "ansi", "db2", "maxdb", "mssql", "oracle", "postgresql"];
    sql_mode.split(',').any(|mode| ANSI.contains(&mode.trim().to_ascii_lowercase().as_str()))
}

/// A change to the session, once its command's answer confirms it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Change {
    /// `SET sql_mode`: its literal value, or `None`.
    SqlMode(Option<String>),
    /// `SET NAMES`, `SET CHARACTER SET`, `SET character_set_client`: the name, or `None`.
    Charset(Option<String>),
    /// `USE db`, `COM_INIT_DB`.
    Database(String),
    /// `COM_RESET_CONNECTION`: the session's settings as at its start (its schema stays).
    Reset,
    /// `COM_CHANGE_USER`: a new session, with this schema and collation, when readable.
    NewSession { database: Option<Option<String>>, collation: Option<u8> },
    /// `CALL`, `EXECUTE`: whatever ran may have set `sql_mode` or the character set.
    Unseen,
}

impl Change {
    /// The changes an allowed statement reports that matter here.
    pub fn of(change: &SessionChange) -> Option<Change> {
        match change {
            SessionChange::Database(db) => Some(Change::Database(db.clone())),
            SessionChange::Setting { name, value } => match name.as_str() {
                "sql_mode" => Some(Change::SqlMode(value.clone())),
                "names" | "character set" | "charset" | "character_set_client" => Some(Change::Charset(value.clone())),
                _ => None,
            },
            SessionChange::Unseen => Some(Change::Unseen),
            SessionChange::SearchPath(_) | SessionChange::ResetSearchPath => None,
        }
    }
}

/// What the server's OK packets tell of the session (session state tracking).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Tracked {
    Variable { name: String, value: String },
    Schema(String),
}

/// What unconfirmed changes of pipelined commands leave in doubt.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Doubt {
    pub sql_mode: bool,
    pub charset: bool,
    pub database: bool,
}

impl Doubt {
    pub fn add(&mut self, change: &Change) {
        match change {
            Change::SqlMode(_) => self.sql_mode = true,
            Change::Charset(_) => self.charset = true,
            Change::Unseen => {
                self.sql_mode = true;
                self.charset = true;
            }
            Change::Database(_) => self.database = true,
            Change::Reset | Change::NewSession { .. } => *self = Doubt { sql_mode: true, charset: true, database: true },
        }
    }
}

/// The session's settings as the server confirmed them; `None` where not known.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Settings {
    pub backslash_escapes: bool,
    pub ansi_quotes: Option<bool>,
    pub charset: Option<Charset>,
    /// The current schema (`Some(None)`: none selected).
    pub database: Option<Option<String>>,
    /// The handshake's character set, which `COM_RESET_CONNECTION` restores.
    initial_charset: Option<Charset>,
}

impl Default for Settings {
    fn default() -> Settings {
        // Until the greeting and handshake tell: MySQL's defaults.
        Settings { backslash_escapes: true, ansi_quotes: Some(false), charset: None, database: Some(None), initial_charset: None }
    }
}

impl Settings {
    /// The handshake's collation and schema.
    pub fn connected(&mut self, collation: u8, database: Option<String>) {
        self.charset = Some(Charset::of_collation(collation));
        self.initial_charset = self.charset;
        self.database = Some(database);
    }

    /// The status flags of an OK or EOF packet.
    pub fn status(&mut self, status: u16) {
        const SERVER_STATUS_NO_BACKSLASH_ESCAPES: u16 = 0x0200;
        self.backslash_escapes = status & SERVER_STATUS_NO_BACKSLASH_ESCAPES == 0;
    }

    /// A change the server confirmed.
    pub fn apply(&mut self, change: &Change) {
        match change {
            Change::SqlMode(mode) => self.ansi_quotes = mode.as_deref().map(ansi_quotes_in),
            Change::Charset(name) => self.charset = name.as_deref().map(Charset::named),
            Change::Database(db) => self.database = Some(Some(db.clone())),
            Change::Unseen => self.forget(change),
            Change::Reset => {
                self.ansi_quotes = Some(false);
                self.charset = self.initial_charset;
            }
            Change::NewSession { database, collation } => {
                self.ansi_quotes = Some(false);
                self.charset = collation.map(Charset::of_collation);
                self.initial_charset = self.charset;
                self.database = database.clone();
            }
        }
    }

    /// A change whose outcome is not known (a multi-statement that failed part way).
    pub fn forget(&mut self, change: &Change) {
        match change {
            Change::SqlMode(_) => self.ansi_quotes = None,
            Change::Charset(_) => self.charset = None,
            Change::Database(_) => self.database = None,
            Change::Unseen => {
                self.ansi_quotes = None;
                self.charset = None;
            }
            Change::Reset | Change::NewSession { .. } => self.forget_all(),
        }
    }

    pub fn forget_all(&mut self) {
        self.ansi_quotes = None;
        self.charset = None;
        self.database = None;
    }

    /// What session tracking reported.
    pub fn track(&mut self, tracked: &Tracked) {
        match tracked {
            Tracked::Variable { name, value } if name.eq_ignore_ascii_case("character_set_client") => {
                self.charset = Some(Charset::named(value));
            }
            Tracked::Variable { name, value } if name.eq_ignore_ascii_case("sql_mode") => {
                self.ansi_quotes = Some(ansi_quotes_in(value));
            }
            Tracked::Variable { .. } => {}
            Tracked::Schema(db) => self.database = Some((!db.is_empty()).then(|| db.clone())),
        }
    }

    /// The context a statement is judged in, or why it cannot be read.
    pub fn context(&self, doubt: Doubt) -> Result<Context, &'static str> {
        let database = match (&self.database, doubt.database) {
            (Some(database), false) => database.clone(),
            _ => return Err("a statement whose current database is not known (behind a USE not yet answered)"),
        };
        let backslash: &[bool] = if doubt.sql_mode { &[true, false] } else { std::slice::from_ref(&self.backslash_escapes) };
        let ansi: &[bool] = match (self.ansi_quotes, doubt.sql_mode) {
            (Some(ansi), false) => std::slice::from_ref(if ansi { &true } else { &false }),
            _ => &[false, true],
        };
        let mut lexings: Vec<Lexing> = backslash
            .iter()
            .flat_map(|&backslash_escapes| ansi.iter().map(move |&ansi_quotes| Lexing { backslash_escapes, ansi_quotes }))
            .collect();
        if lexings == [Lexing::default_for(Dialect::Mysql)] {
            lexings.clear();
        }
        let search_path = database.clone().map(|db| SearchPath::known(Dialect::Mysql, vec![db]));
        Ok(Context { database, lexings, search_path })
    }

    /// The text of a command's SQL bytes.
    pub fn decode<'a>(&self, bytes: &'a [u8], doubt: Doubt) -> Result<Cow<'a, str>, &'static str> {
        if bytes.is_ascii() {
            return std::str::from_utf8(bytes).map(Cow::Borrowed).map_err(|_| "SQL that is not ASCII");
        }
        match (self.charset, doubt.charset) {
            (Some(charset), false) => charset.decode(bytes).ok_or(match charset {
                Charset::Unsupported => "non-ASCII SQL in a character set the filter does not decode",
                _ => "SQL that is not well formed in the session's character set",
            }),
            _ => Err("non-ASCII SQL in a character set not known yet"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gbk_text_decodes_with_its_trail_backslash_inside_a_character() {
        let text = Charset::Gbk.decode(b"SELECT '\xbf\x5c'; DROP TABLE t; -- '").unwrap();
        assert_eq!(text, "SELECT '\u{7e17}'; DROP TABLE t; -- '");
        assert!(Charset::Utf8.decode(b"SELECT '\xbf\x5c'").is_none());
        // A lead byte the server reads alone (big5's 0x81) is not decoded with the next byte.
        assert!(Charset::Big5.decode(b"'\x81\xa1\x5c'").is_none());
        assert!(Charset::Big5.decode("'\u{4e00}'".as_bytes()).is_none());
        assert_eq!(Charset::ShiftJis.decode(b"'\x95\x5c'").unwrap(), "'\u{8868}'");
        assert_eq!(Charset::SingleByte.decode(b"'\xe9'").unwrap(), "'\u{e9}'");
        assert!(Charset::Unsupported.decode(b"'\xe9'").is_none());
        assert_eq!(Charset::Unsupported.decode(b"SELECT 1").unwrap(), "SELECT 1");
        assert!(Charset::Gbk.decode(b"'\x81\x30\x81\x30'").is_none(), "GB18030's four bytes are not GBK");
        assert!(Charset::Gb18030.decode(b"'\x81\x30\x81\x30'").is_some());
    }

    #[test]
    fn collations_and_names() {
        assert_eq!(Charset::of_collation(28), Charset::Gbk);
        assert_eq!(Charset::of_collation(45), Charset::Utf8);
        assert_eq!(Charset::of_collation(95), Charset::ShiftJis);
        assert_eq!(Charset::of_collation(12), Charset::Unsupported);
        assert_eq!(Charset::named("'GBK'"), Charset::Gbk);
        assert_eq!(Charset::named("koi8r"), Charset::Unsupported);
    }

    #[test]
    fn the_context_holds_every_reading_in_doubt() {
        let mut settings = Settings::default();
        settings.connected(45, Some("shop".into()));
        let context = settings.context(Doubt::default()).unwrap();
        assert!(context.lexings.is_empty());
        assert_eq!(context.search_path, Some(SearchPath::known(Dialect::Mysql, vec!["shop".into()])));
        settings.apply(&Change::SqlMode(Some("STRICT_TRANS_TABLES,ANSI_QUOTES".into())));
        settings.status(0x0202);
        assert_eq!(settings.context(Doubt::default()).unwrap().lexings, [Lexing { backslash_escapes: false, ansi_quotes: true }]);
        assert_eq!(settings.context(Doubt { sql_mode: true, ..Doubt::default() }).unwrap().lexings.len(), 4);
        settings.apply(&Change::SqlMode(None));
        assert_eq!(settings.context(Doubt::default()).unwrap().lexings.len(), 2);
        assert!(settings.context(Doubt { database: true, ..Doubt::default() }).is_err());
        assert!(settings.decode("é".as_bytes(), Doubt { charset: true, ..Doubt::default() }).is_err());
    }
}
