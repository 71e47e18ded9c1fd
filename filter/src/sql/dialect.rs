//! The SQL dialects a route can name, how each folds identifier case, and the session settings
//! ([`Lexing`]) that move where one of its strings or quoted identifiers ends.

use std::any::TypeId;

use sqlparser::dialect as sp;

/// A SQL dialect. Trino (and Presto) have no sqlparser dialect of their own and parse with the
/// generic one, which accepts their syntax for the statements that matter here; Databricks uses
/// sqlparser's Databricks (Spark SQL) dialect. `mariadb` is an alias of `mysql`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Dialect {
    Postgres,
    Mysql,
    Mssql,
    Sqlite,
    Snowflake,
    Bigquery,
    Clickhouse,
    Redshift,
    Duckdb,
    Databricks,
    Trino,
    Generic,
}

/// How a dialect compares identifiers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum CaseRule {
    /// Unquoted identifiers fold to lower case; quoted ones keep theirs (Postgres).
    FoldLower,
    /// Unquoted identifiers fold to upper case; quoted ones keep theirs (Snowflake).
    FoldUpper,
    /// Identifiers never differ by case, quoted or not (MySQL tables on most systems, T-SQL's
    /// default collation, SQLite, DuckDB, Redshift by default, Spark).
    Insensitive,
    /// Identifiers are exactly as written (BigQuery tables, ClickHouse).
    Sensitive,
}

impl Dialect {
    pub const NAMES: [&'static str; 14] = [
        "postgres",
        "mysql",
        "mariadb",
        "mssql",
        "sqlite",
        "snowflake",
        "bigquery",
        "clickhouse",
        "redshift",
        "duckdb",
        "databricks",
        "trino",
        "presto",
        "generic",
    ];

    pub fn parse(name: &str) -> Option<Dialect> {
        Some(match name {
            "postgres" | "postgresql" => Dialect::Postgres,
            "mysql" | "mariadb" => Dialect::Mysql,
            "mssql" | "sqlserver" => Dialect::Mssql,
            "sqlite" => Dialect::Sqlite,
            "snowflake" => Dialect::Snowflake,
            "bigquery" => Dialect::Bigquery,
            "clickhouse" => Dialect::Clickhouse,
            "redshift" => Dialect::Redshift,
            "duckdb" => Dialect::Duckdb,
            "databricks" => Dialect::Databricks,
            "trino" | "presto" => Dialect::Trino,
            "generic" => Dialect::Generic,
            _ => return None,
        })
    }

    pub(crate) fn parser_dialect(self) -> &'static dyn sp::Dialect {
        static POSTGRES: sp::PostgreSqlDialect = sp::PostgreSqlDialect {};
        static MYSQL: sp::MySqlDialect = sp::MySqlDialect {};
        static MSSQL: sp::MsSqlDialect = sp::MsSqlDialect {};
        static SQLITE: sp::SQLiteDialect = sp::SQLiteDialect {};
        static SNOWFLAKE: sp::SnowflakeDialect = sp::SnowflakeDialect {};
        static BIGQUERY: sp::BigQueryDialect = sp::BigQueryDialect {};
        static CLICKHOUSE: sp::ClickHouseDialect = sp::ClickHouseDialect {};
        static REDSHIFT: sp::RedshiftSqlDialect = sp::RedshiftSqlDialect {};
        static DUCKDB: sp::DuckDbDialect = sp::DuckDbDialect {};
        static DATABRICKS: sp::DatabricksDialect = sp::DatabricksDialect {};
        static GENERIC: sp::GenericDialect = sp::GenericDialect {};
        match self {
            Dialect::Postgres => &POSTGRES,
            Dialect::Mysql => &MYSQL,
            Dialect::Mssql => &MSSQL,
            Dialect::Sqlite => &SQLITE,
            Dialect::Snowflake => &SNOWFLAKE,
            Dialect::Bigquery => &BIGQUERY,
            Dialect::Clickhouse => &CLICKHOUSE,
            Dialect::Redshift => &REDSHIFT,
            Dialect::Duckdb => &DUCKDB,
            Dialect::Databricks => &DATABRICKS,
            Dialect::Trino | Dialect::Generic => &GENERIC,
        }
    }

    pub(crate) fn case_rule(self) -> CaseRule {
        match self {
            Dialect::Postgres | Dialect::Trino | Dialect::Generic => CaseRule::FoldLower,
            Dialect::Snowflake => CaseRule::FoldUpper,
            Dialect::Mysql | Dialect::Mssql | Dialect::Sqlite | Dialect::Redshift | Dialect::Duckdb | Dialect::Databricks => {
                CaseRule::Insensitive
            }
            Dialect::Bigquery | Dialect::Clickhouse => CaseRule::Sensitive,
        }
    }
}

/// Session settings that change where a string or a quoted identifier ends: the same bytes cut
/// into other tokens. A database session follows them (Postgres `standard_conforming_strings`,
/// MySQL's `sql_mode`); a text read with the wrong ones can hide a statement in "a string".
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Lexing {
    /// A backslash escapes the next character in `'...'` (and MySQL's `"..."`): MySQL unless
    /// `NO_BACKSLASH_ESCAPES`; Postgres when `standard_conforming_strings` is off.
    pub backslash_escapes: bool,
    /// `"..."` is an identifier, not a string (MySQL's `ANSI_QUOTES`; always so in Postgres).
    pub ansi_quotes: bool,
}

impl Lexing {
    /// How `dialect` reads text when the session changed nothing.
    pub fn default_for(dialect: Dialect) -> Lexing {
        let parser = dialect.parser_dialect();
        Lexing {
            backslash_escapes: parser.supports_string_literal_backslash_escape(),
            ansi_quotes: parser.is_delimited_identifier_start('"'),
        }
    }
}

impl Lexing {
    /// Every lexing a session of `dialect` can be in, its default first.
    pub fn every(dialect: Dialect) -> Vec<Lexing> {
        let default = Lexing::default_for(dialect);
        let flips: &[(bool, bool)] = match dialect {
            Dialect::Mysql => &[(false, false), (true, false), (false, true), (true, true)],
            Dialect::Postgres => &[(false, false), (true, false)],
            _ => &[(false, false)],
        };
        flips
            .iter()
            .map(|&(backslash, quotes)| Lexing {
                backslash_escapes: default.backslash_escapes ^ backslash,
                ansi_quotes: default.ansi_quotes ^ quotes,
            })
            .collect()
    }
}

impl Dialect {
    /// The dialect the tokenizer reads `lexing` with: the parser's own for the default reading,
    /// otherwise that dialect with only the changed setting differing (and its type identity, so
    /// the tokenizer's dialect checks still see a Postgres or a MySQL dialect). Settings other
    /// than Postgres's and MySQL's are not followed. It never expands `/*! ... */` itself.
    pub(crate) fn tokenizer_dialect(self, lexing: Lexing) -> &'static dyn sp::Dialect {
        static POSTGRES_BACKSLASH: Relexed<sp::PostgreSqlDialect> =
            Relexed { base: sp::PostgreSqlDialect {}, lexing: Lexing { backslash_escapes: true, ansi_quotes: true } };
        static MYSQL: [Relexed<sp::MySqlDialect>; 4] = [
            Relexed { base: sp::MySqlDialect {}, lexing: Lexing { backslash_escapes: false, ansi_quotes: false } },
            Relexed { base: sp::MySqlDialect {}, lexing: Lexing { backslash_escapes: false, ansi_quotes: true } },
            Relexed { base: sp::MySqlDialect {}, lexing: Lexing { backslash_escapes: true, ansi_quotes: false } },
            Relexed { base: sp::MySqlDialect {}, lexing: Lexing { backslash_escapes: true, ansi_quotes: true } },
        ];
        static GENERIC: Relexed<sp::GenericDialect> =
            Relexed { base: sp::GenericDialect {}, lexing: Lexing { backslash_escapes: false, ansi_quotes: true } };
        match self {
            // MySQL's executable comments are expanded by the server's own rules (`comments`),
            // and a generic server (Trino) runs none of them: sqlparser's expansion is off.
            Dialect::Mysql => &MYSQL[usize::from(lexing.backslash_escapes) * 2 + usize::from(lexing.ansi_quotes)],
            Dialect::Trino | Dialect::Generic => &GENERIC,
            _ if lexing == Lexing::default_for(self) => self.parser_dialect(),
            Dialect::Postgres if lexing.backslash_escapes => &POSTGRES_BACKSLASH,
            _ => self.parser_dialect(),
        }
    }
}

/// A dialect as its tokenizer sees it, with `lexing` in place of its own string and quote rules.
/// Every setting the tokenizer asks about is forwarded (the hash comments of MySQL among them).
#[derive(Debug)]
struct Relexed<D> {
    base: D,
    lexing: Lexing,
}

impl<D: sp::Dialect> sp::Dialect for Relexed<D> {
    fn dialect(&self) -> TypeId {
        self.base.dialect()
    }
    fn supports_string_literal_backslash_escape(&self) -> bool {
        self.lexing.backslash_escapes
    }
    fn is_delimited_identifier_start(&self, ch: char) -> bool {
        (ch == '"' && self.lexing.ansi_quotes) || (ch != '"' && self.base.is_delimited_identifier_start(ch))
    }
    fn is_identifier_start(&self, ch: char) -> bool {
        self.base.is_identifier_start(ch)
    }
    fn is_identifier_part(&self, ch: char) -> bool {
        self.base.is_identifier_part(ch)
    }
    fn is_custom_operator_part(&self, ch: char) -> bool {
        self.base.is_custom_operator_part(ch)
    }
    fn ignores_wildcard_escapes(&self) -> bool {
        self.base.ignores_wildcard_escapes()
    }
    fn requires_single_line_comment_whitespace(&self) -> bool {
        self.base.requires_single_line_comment_whitespace()
    }
    fn supports_dollar_as_money_prefix(&self) -> bool {
        self.base.supports_dollar_as_money_prefix()
    }
    fn supports_dollar_placeholder(&self) -> bool {
        self.base.supports_dollar_placeholder()
    }
    fn supports_geometric_types(&self) -> bool {
        self.base.supports_geometric_types()
    }
    fn supports_multiline_comment_hints(&self) -> bool {
        false
    }
    fn supports_nested_comments(&self) -> bool {
        self.base.supports_nested_comments()
    }
    fn supports_numeric_literal_underscores(&self) -> bool {
        self.base.supports_numeric_literal_underscores()
    }
    fn supports_numeric_prefix(&self) -> bool {
        self.base.supports_numeric_prefix()
    }
    fn supports_pipe_operator(&self) -> bool {
        self.base.supports_pipe_operator()
    }
    fn supports_quote_delimited_string(&self) -> bool {
        self.base.supports_quote_delimited_string()
    }
    fn supports_string_escape_constant(&self) -> bool {
        self.base.supports_string_escape_constant()
    }
    fn supports_triple_quoted_string(&self) -> bool {
        self.base.supports_triple_quoted_string()
    }
    fn supports_unicode_string_literal(&self) -> bool {
        self.base.supports_unicode_string_literal()
    }
    fn requires_hash_comment_space(&self) -> bool {
        self.base.requires_hash_comment_space()
    }
    fn supports_copy_from_stdin_data(&self) -> bool {
        self.base.supports_copy_from_stdin_data()
    }
    fn supports_hash_comment(&self) -> bool {
        self.base.supports_hash_comment()
    }
    fn supports_literal_prefix_in_qualified_name(&self) -> bool {
        self.base.supports_literal_prefix_in_qualified_name()
    }
    fn supports_national_string_literal(&self) -> bool {
        self.base.supports_national_string_literal()
    }
    fn supports_non_decimal_integer_literals(&self) -> bool {
        self.base.supports_non_decimal_integer_literals()
    }
    fn supports_tilde_like_match_operator(&self) -> bool {
        self.base.supports_tilde_like_match_operator()
    }
    fn supports_tuple_element_access(&self) -> bool {
        self.base.supports_tuple_element_access()
    }
    fn supports_unterminated_block_comments(&self) -> bool {
        self.base.supports_unterminated_block_comments()
    }
}
