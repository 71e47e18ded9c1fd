//! The settings that decide how a Postgres session's bytes read as SQL: `client_encoding` and
//! `standard_conforming_strings`, as the server applies them from a startup packet (`options`
//! switches first, then the other parameters, the last value of each winning) and as it reports
//! them (ParameterStatus); and the search path a startup packet sets.

use std::borrow::Cow;

use encoding_rs::Encoding;

use super::super::frame;
use crate::sql::{schema_names, Dialect, SearchPath};

/// How the client's bytes become the text the server lexes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ClientEncoding {
    /// UTF8, and SQL_ASCII (no conversion: read as UTF-8, as today).
    Utf8,
    /// An encoding the server converts to its own: decoded to UTF-8 before judging.
    Decoded(&'static Encoding),
    /// Not known yet, or one this filter cannot decode (EUC_TW, JOHAB, MULE_INTERNAL, the
    /// JIS 2004 ones): only ASCII text, which reads the same in every client encoding.
    Unknown,
}

impl ClientEncoding {
    /// An encoding by any name the server accepts (it ignores case and punctuation).
    pub fn named(name: &[u8]) -> ClientEncoding {
        let clean: String =
            name.iter().filter(|b| b.is_ascii_alphanumeric()).map(|b| char::from(b.to_ascii_lowercase())).collect();
        let encoding = match clean.as_str() {
            "utf8" | "unicode" | "sqlascii" => return ClientEncoding::Utf8,
            "sjis" | "shiftjis" | "mskanji" | "win932" | "windows932" => encoding_rs::SHIFT_JIS,
            "big5" | "win950" | "windows950" => encoding_rs::BIG5,
            // encoding_rs's GBK decoder reads GB2312 (EUC_CN) as well.
            "gbk" | "win936" | "windows936" | "euccn" => encoding_rs::GBK,
            "gb18030" => encoding_rs::GB18030,
            // Windows 949, a superset of EUC-KR.
            "uhc" | "win949" | "windows949" | "euckr" => encoding_rs::EUC_KR,
            "eucjp" => encoding_rs::EUC_JP,
            // ISO 8859-1 and -9 are read as the Windows code pages that contain them.
            "latin1" | "iso88591" => encoding_rs::WINDOWS_1252,
            "latin2" | "iso88592" => encoding_rs::ISO_8859_2,
            "latin3" | "iso88593" => encoding_rs::ISO_8859_3,
            "latin4" | "iso88594" => encoding_rs::ISO_8859_4,
            "latin5" | "iso88599" => encoding_rs::WINDOWS_1254,
            "latin6" | "iso885910" => encoding_rs::ISO_8859_10,
            "latin7" | "iso885913" => encoding_rs::ISO_8859_13,
            "latin8" | "iso885914" => encoding_rs::ISO_8859_14,
            "latin9" | "iso885915" => encoding_rs::ISO_8859_15,
            "latin10" | "iso885916" => encoding_rs::ISO_8859_16,
            "iso88595" => encoding_rs::ISO_8859_5,
            "iso88596" => encoding_rs::ISO_8859_6,
            "iso88597" => encoding_rs::ISO_8859_7,
            "iso88598" => encoding_rs::ISO_8859_8,
            "koi8" | "koi8r" => encoding_rs::KOI8_R,
            "koi8u" => encoding_rs::KOI8_U,
            "win866" | "windows866" | "alt" => encoding_rs::IBM866,
            "win874" | "windows874" => encoding_rs::WINDOWS_874,
            "win" | "win1251" | "windows1251" => encoding_rs::WINDOWS_1251,
            "win1250" | "windows1250" => encoding_rs::WINDOWS_1250,
            "win1252" | "windows1252" => encoding_rs::WINDOWS_1252,
            "win1253" | "windows1253" => encoding_rs::WINDOWS_1253,
            "win1254" | "windows1254" => encoding_rs::WINDOWS_1254,
            "win1255" | "windows1255" => encoding_rs::WINDOWS_1255,
            "win1256" | "windows1256" => encoding_rs::WINDOWS_1256,
            "win1257" | "windows1257" => encoding_rs::WINDOWS_1257,
            "win1258" | "windows1258" | "abc" | "tcvn" | "tcvn5712" | "vscii" => encoding_rs::WINDOWS_1258,
            _ => return ClientEncoding::Unknown,
        };
        ClientEncoding::Decoded(encoding)
    }

    /// `bytes` as the server reads them, or `None` when they are no text in this encoding (the
    /// server refuses such text; a decoder stricter than the server's only makes it unreadable).
    pub fn decode(self, bytes: &[u8]) -> Option<Cow<'_, str>> {
        if bytes.is_ascii() {
            return std::str::from_utf8(bytes).ok().map(Cow::Borrowed);
        }
        match self {
            ClientEncoding::Utf8 => std::str::from_utf8(bytes).ok().map(Cow::Borrowed),
            ClientEncoding::Decoded(encoding) => encoding.decode_without_bom_handling_and_without_replacement(bytes),
            ClientEncoding::Unknown => None,
        }
    }
}

/// `standard_conforming_strings`: whether a backslash is an ordinary character in `'...'`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Conforming {
    On,
    /// A backslash escapes in every string.
    Off,
    /// Not known yet: the text is read both ways.
    Unknown,
}

impl Conforming {
    /// A boolean as the server parses one: on/off, true/false, yes/no, 1/0, or a unique prefix.
    pub fn parse(value: &[u8]) -> Conforming {
        match value.to_ascii_lowercase().as_slice() {
            b"on" | b"t" | b"tr" | b"tru" | b"true" | b"y" | b"ye" | b"yes" | b"1" => Conforming::On,
            b"of" | b"off" | b"f" | b"fa" | b"fal" | b"fals" | b"false" | b"n" | b"no" | b"0" => Conforming::Off,
            _ => Conforming::Unknown,
        }
    }
}

/// What a startup packet sets that bears on how the session's SQL reads and resolves.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Startup {
    pub conforming: Conforming,
    pub encoding: ClientEncoding,
    /// `None` when the startup leaves the path to the server's configuration.
    pub search_path: Option<SearchPath>,
}

impl Startup {
    /// The settings of startup parameters `params`, for the session of `user`. What the startup
    /// does not set may come from the role's or database's settings: unknown until the server
    /// reports it.
    pub fn read(params: &[(String, String)], user: &str) -> Startup {
        let unknown = Startup { conforming: Conforming::Unknown, encoding: ClientEncoding::Unknown, search_path: None };
        let Some(settings) = settings(params) else {
            return Startup { search_path: Some(SearchPath::Unknown), ..unknown };
        };
        let last = |name: &str| settings.iter().rev().find(|(n, _)| n == name).map(|(_, v)| v.as_bytes());
        Startup {
            conforming: last("standard_conforming_strings").map_or(Conforming::Unknown, Conforming::parse),
            encoding: last("client_encoding").map_or(ClientEncoding::Unknown, ClientEncoding::named),
            search_path: last("search_path").map(|value| path_of(&String::from_utf8_lossy(value), user)),
        }
    }
}

/// A search path from its text (`secret, "$user"`), with `$user` as the session's user.
pub fn path_of(list: &str, user: &str) -> SearchPath {
    schemas_path(schema_names(list, Dialect::Postgres), user)
}

/// Schemas as written (`None`: not a literal list) as the path they make for `user`.
pub fn schemas_path(schemas: Option<Vec<String>>, user: &str) -> SearchPath {
    match schemas {
        Some(schemas) => {
            let schemas = schemas.into_iter().map(|s| if s == "$user" { user.to_string() } else { s }).collect();
            SearchPath::known(Dialect::Postgres, schemas)
        }
        None => SearchPath::Unknown,
    }
}

/// Every setting of a startup packet in the order the server applies them (names lower-cased,
/// `-` read as `_`), or `None` when its `options` cannot be read as the server reads them.
fn settings(params: &[(String, String)]) -> Option<Vec<(String, String)>> {
    let mut settings = Vec::new();
    // The server keeps the last `options` and applies its switches before any other parameter.
    if let Some((_, options)) = params.iter().rev().find(|(name, _)| name == "options") {
        settings.extend(switches(&split_options(options))?);
    }
    const NOT_SETTINGS: [&str; 4] = ["user", "database", "options", "replication"];
    let gucs = params.iter().filter(|(name, _)| !NOT_SETTINGS.contains(&name.as_str()) && !name.starts_with("_pq_."));
    settings.extend(gucs.map(|(name, value)| (name.to_ascii_lowercase(), value.clone())));
    Some(settings)
}

/// `options` cut into arguments at unescaped white space, a backslash taking the next character
/// as it is (libpq writes `-c search_path=a,\ b`).
fn split_options(options: &str) -> Vec<String> {
    let mut args = Vec::new();
    let mut chars = options.chars();
    let mut arg: Option<String> = None;
    while let Some(c) = chars.next() {
        match c {
            '\\' => arg.get_or_insert_default().extend(chars.next()),
            c if c.is_ascii_whitespace() => args.extend(arg.take()),
            c => arg.get_or_insert_default().push(c),
        }
    }
    args.extend(arg);
    args
}

/// The `-c name=value` and `--name=value` settings of the server's command-line switches; `None`
/// for anything the server would not take as its switches.
fn switches(args: &[String]) -> Option<Vec<(String, String)>> {
    // The switches of `postgres` that take a value; the others are flags.
    const WITH_VALUE: &str = "BCcDdfhkNprStvW-";
    const FLAGS: &str = "bEeFijlnOPsT";
    let mut settings = Vec::new();
    let mut args = args.iter();
    while let Some(arg) = args.next() {
        let mut letters = arg.strip_prefix('-').filter(|letters| !letters.is_empty())?.chars();
        while let Some(letter) = letters.next() {
            if FLAGS.contains(letter) {
                continue;
            }
            if !WITH_VALUE.contains(letter) {
                return None;
            }
            let attached = letters.as_str();
            let value = if attached.is_empty() { args.next()?.as_str() } else { attached };
            if matches!(letter, 'c' | '-') {
                let (name, value) = value.split_once('=')?;
                settings.push((name.replace('-', "_").to_ascii_lowercase(), value.to_string()));
            }
            break;
        }
    }
    Some(settings)
}

/// The name and value of a ParameterStatus body.
pub fn parameter_status(body: &[u8]) -> Option<(&[u8], &[u8])> {
    let (name, rest) = frame::cstring(body)?;
    let (value, _) = frame::cstring(rest)?;
    Some((name, value))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    #[test]
    fn options_are_split_and_read_as_the_server_reads_them() {
        assert_eq!(
            split_options(r"  -c search_path=a,\ b  --client-encoding=SJIS "),
            ["-c", "search_path=a, b", "--client-encoding=SJIS"]
        );
        let read = |options: &str| settings(&params(&[("options", options)]));
        assert_eq!(read("-c a=1 -cb=2 --c-d=3"), Some(params(&[("a", "1"), ("b", "2"), ("c_d", "3")])));
        assert_eq!(read("-B 100 -c x=1 -e"), Some(params(&[("x", "1")])), "a switch's value is not a switch");
        assert_eq!(read("-B -cx=1"), Some(params(&[])), "`-cx=1` is -B's value");
        assert_eq!(read("-c x"), None, "a setting without a value");
        assert_eq!(read("stray"), None);
        assert_eq!(read("-"), None);
        assert_eq!(read("-Z"), None);
    }

    #[test]
    fn the_startup_sets_what_its_last_value_says_parameters_after_options() {
        let startup = Startup::read(
            &params(&[
                ("user", "agent"),
                ("options", "-c standard_conforming_strings=on"),
                ("options", r"-c standard_conforming_strings=off -c search_path=secret,\ $user"),
                ("client_encoding", "sjis"),
                ("Client_Encoding", "Shift_JIS"),
            ]),
            "agent",
        );
        assert_eq!(startup.conforming, Conforming::Off);
        assert_eq!(startup.encoding, ClientEncoding::Decoded(encoding_rs::SHIFT_JIS));
        assert_eq!(startup.search_path, Some(SearchPath::known(Dialect::Postgres, vec!["secret".into(), "agent".into()])));
        let plain = Startup::read(&params(&[("user", "u"), ("standard_conforming_strings", "on")]), "u");
        assert_eq!((plain.conforming, plain.encoding, plain.search_path), (Conforming::On, ClientEncoding::Unknown, None));
        let odd = Startup::read(&params(&[("options", "-c search_path")]), "u");
        assert_eq!(odd.search_path, Some(SearchPath::Unknown));
    }

    #[test]
    fn encodings_by_their_server_names() {
        for (name, want) in [
            ("UTF8", ClientEncoding::Utf8),
            ("SQL_ASCII", ClientEncoding::Utf8),
            ("SJIS", ClientEncoding::Decoded(encoding_rs::SHIFT_JIS)),
            ("BIG5", ClientEncoding::Decoded(encoding_rs::BIG5)),
            ("GBK", ClientEncoding::Decoded(encoding_rs::GBK)),
            ("UHC", ClientEncoding::Decoded(encoding_rs::EUC_KR)),
            ("ISO_8859_5", ClientEncoding::Decoded(encoding_rs::ISO_8859_5)),
            ("LATIN9", ClientEncoding::Decoded(encoding_rs::ISO_8859_15)),
            ("WIN1251", ClientEncoding::Decoded(encoding_rs::WINDOWS_1251)),
            ("KOI8R", ClientEncoding::Decoded(encoding_rs::KOI8_R)),
            ("EUC_TW", ClientEncoding::Unknown),
            ("SHIFT_JIS_2004", ClientEncoding::Unknown),
            ("JOHAB", ClientEncoding::Unknown),
        ] {
            assert_eq!(ClientEncoding::named(name.as_bytes()), want, "{name}");
        }
    }

    #[test]
    fn a_multibyte_character_may_end_in_a_backslash_byte() {
        // 表 in Shift JIS is 0x95 0x5c: no backslash for the server.
        let sjis = b"SELECT E'\x95\x5c' ; DROP TABLE t; --'";
        let text = ClientEncoding::named(b"SJIS").decode(sjis).unwrap();
        assert_eq!(text, "SELECT E'表' ; DROP TABLE t; --'");
        assert_eq!(ClientEncoding::named(b"BIG5").decode(b"'\xb3\x5c'").unwrap(), "'許'");
        assert_eq!(ClientEncoding::Utf8.decode(sjis), None);
        assert_eq!(ClientEncoding::Unknown.decode(sjis), None);
        assert_eq!(ClientEncoding::Unknown.decode(b"SELECT 1").unwrap(), "SELECT 1");
        assert_eq!(ClientEncoding::named(b"SJIS").decode(b"'\x95'"), None, "a lead byte alone");
    }

    #[test]
    fn booleans_as_the_server_reads_them() {
        for on in ["on", "ON", "true", "t", "yes", "1"] {
            assert_eq!(Conforming::parse(on.as_bytes()), Conforming::On, "{on}");
        }
        for off in ["off", "of", "False", "n", "0"] {
            assert_eq!(Conforming::parse(off.as_bytes()), Conforming::Off, "{off}");
        }
        assert_eq!(Conforming::parse(b"o"), Conforming::Unknown);
    }
}
