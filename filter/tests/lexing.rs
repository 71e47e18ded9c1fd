//! Each server's own lexical rules: executable comments, `||`, `--`, nested comments, and the
//! statements other statements run (`EXECUTE IMMEDIATE`, MariaDB's `ANALYZE`). Where a text reads
//! differently on MySQL and MariaDB, or across their versions, every reading is judged.
//!
//! The comments say what a MariaDB 10.11.19 server did with `t` holding rows 1, 2 and 3.

use access_guardrails::sql::{analyze_each, readings, Dialect, Operation, Statement};

/// Every statement of every reading of `sql` on a MySQL-family route.
fn read(sql: &str) -> Vec<Statement> {
    Statement::all_in(sql, Dialect::Mysql, None)
}

fn unbounded_in_a_reading(sql: &str) -> bool {
    read(sql).iter().any(|s| s.intent().operations.contains(Operation::Delete) && s.intent().unbounded)
}

fn does_in_a_reading(sql: &str, op: Operation) -> bool {
    read(sql).iter().any(|s| s.intent().operations.contains(op))
}

#[test]
fn a_where_in_a_comment_the_server_skips_does_not_bound_a_delete() {
    // MariaDB deleted every row: it skips MySQL 5.7-and-later comments, and 99999 is above it.
    assert!(unbounded_in_a_reading("DELETE FROM t /*!99999 WHERE id=1 */"));
    assert!(unbounded_in_a_reading("DELETE FROM t /*!50700 WHERE id=1 */"));
    // Six digits are MariaDB's version 99.99.99: skipped, every row deleted.
    assert!(unbounded_in_a_reading("DELETE FROM t /*!999999 WHERE id=1 */"));
    // `/*M!` is MariaDB's only (it ran, one row deleted); MySQL skips it.
    assert!(unbounded_in_a_reading("DELETE FROM t /*M!99999 WHERE id=1 */"));
    // A lower-case `m` is a plain comment: MariaDB deleted every row.
    assert!(unbounded_in_a_reading("DELETE FROM t /*m! WHERE id=1 */"));
    // A comment every server runs bounds it (MariaDB deleted one row).
    assert!(!unbounded_in_a_reading("DELETE FROM t /*! WHERE id=1 */"));
}

#[test]
fn code_in_a_mariadb_comment_counts() {
    // MariaDB runs `/*M! ... */`: a DROP there is a DROP.
    assert!(does_in_a_reading("SELECT 1 /*M! ; DROP TABLE t */", Operation::Drop));
    assert!(does_in_a_reading("SELECT 1 /*M!100000 ; DROP TABLE t */", Operation::Drop));
    // MariaDB 10.11 runs `/*!101100` (10.11.0, six digits): one row deleted.
    let statements = read("DELETE FROM t /*!101100 WHERE id=1 */");
    assert!(statements.iter().any(|s| !s.intent().unbounded) && statements.iter().any(|s| s.intent().unbounded));
}

#[test]
fn a_quote_in_a_running_comment_hides_its_end() {
    // MariaDB read `'*/'` as a string inside the comment and deleted one row.
    let statements = read("DELETE FROM t WHERE id=1 /*! AND '*/' = '*/' */");
    assert!(statements.iter().all(|s| s.unparsed().is_none() && !s.intent().unbounded), "{statements:?}");
    // Skipped, the comment ends at the first `*/`: `OR 1` is code. MariaDB deleted every row.
    assert!(unbounded_in_a_reading("DELETE FROM t WHERE id=1 /*!99999 '*/ OR 1 /*' */"));
}

#[test]
fn a_text_every_server_reads_alike_is_read_once() {
    assert_eq!(read("DELETE FROM t WHERE id = 1").len(), 1);
    // mysqldump's comments run on every server considered.
    assert_eq!(read("/*!40101 SET NAMES utf8 */; DELETE FROM t WHERE id = 1").len(), 2);
    assert_eq!(readings("SELECT 1 /*!40101 , 2 */", Dialect::Mysql).unwrap().len(), 1);
}

#[test]
fn too_many_comment_versions_are_refused() {
    let sql: String = (0..40).map(|i| format!("/*!{} SELECT {i} */;", 50000 + i * 10)).collect();
    let statements = read(&sql);
    assert_eq!(statements.len(), 1);
    assert!(statements[0].unparsed().is_some());
}

#[test]
fn pipes_are_or_in_mysql() {
    // MariaDB (sql_mode without PIPES_AS_CONCAT) deleted every row.
    assert!(unbounded_in_a_reading("DELETE FROM t WHERE id = 1 || 1"));
    assert!(!unbounded_in_a_reading("DELETE FROM t WHERE id = 1 || id = 2"));
}

#[test]
fn double_dash_needs_a_space_in_mysql_only() {
    // MariaDB read `1--1` as 1 - -1 and deleted row 2; `-- x` is a comment there.
    let minus = &analyze_each("DELETE FROM t WHERE id=1--1", Dialect::Mysql)[0];
    assert!(minus.as_ref().unwrap().fingerprint.ends_with("id = ? - - ?"));
    let postgres = &analyze_each("DELETE FROM t WHERE id=1--1", Dialect::Postgres)[0];
    assert!(postgres.as_ref().unwrap().fingerprint.ends_with("id = ?"));
}

#[test]
fn block_comments_nest_where_the_server_nests_them() {
    // MariaDB: `/* /* */` ends the comment, and the rest is a syntax error (nothing deleted).
    let sql = "DELETE FROM t /* /* */ WHERE id=1 */";
    assert!(analyze_each(sql, Dialect::Mysql)[0].is_err());
    // SQLite does not nest either; Postgres does, so all of it is a comment and the DELETE unbounded.
    assert!(analyze_each(sql, Dialect::Sqlite)[0].is_err());
    assert!(analyze_each(sql, Dialect::Postgres)[0].as_ref().unwrap().unbounded);
}

#[test]
fn a_generic_server_runs_no_executable_comment() {
    let intent = analyze_each("DELETE FROM t /*! WHERE id=1 */", Dialect::Trino)[0].clone().unwrap();
    assert!(intent.unbounded);
}

#[test]
fn dynamic_sql_in_a_literal_is_the_statement_it_runs() {
    // MariaDB ran it and deleted every row.
    let intent = analyze_each("EXECUTE IMMEDIATE 'DELETE FROM t'", Dialect::Mysql)[0].clone().unwrap();
    assert!(intent.operations.contains(Operation::Delete) && intent.operations.contains(Operation::Call));
    assert!(intent.unbounded);
    let drop = analyze_each("EXECUTE IMMEDIATE 'DROP TABLE t'", Dialect::Snowflake)[0].clone().unwrap();
    assert!(drop.operations.contains(Operation::Drop));
}

#[test]
fn mariadb_analyze_runs_the_statement() {
    // MariaDB's ANALYZE DELETE deleted every row.
    for sql in ["ANALYZE DELETE FROM t", "ANALYZE FORMAT=JSON DELETE FROM t"] {
        let intent = analyze_each(sql, Dialect::Mysql)[0].clone().unwrap();
        assert!(intent.operations.contains(Operation::Delete) && intent.unbounded, "{sql}");
    }
    let update = analyze_each("ANALYZE UPDATE t SET a = 1 WHERE id = 2", Dialect::Mysql)[0].clone().unwrap();
    assert!(update.operations.contains(Operation::Update) && !update.unbounded);
    let table = analyze_each("ANALYZE TABLE t", Dialect::Mysql)[0].clone().unwrap();
    assert!(!table.operations.contains(Operation::Delete));
}
