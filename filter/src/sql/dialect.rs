//! The SQL dialects a route can name, and how each folds identifier case.

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
