//! Statements real tools and people send that sqlparser 0.63 cannot read on its own: each must
//! be analyzed (never unparsable) with the operations and objects the server gives it, and none
//! may hide a write (each family has a case that tries).

mod common;

use access_guardrails::sql::{analyze_each, Dialect, Intent, Operation};
use common::{objects, one, ops};

fn has(intent: &Intent, op: Operation) -> bool {
    intent.operations.contains(op)
}

const PG: Dialect = Dialect::Postgres;
const MY: Dialect = Dialect::Mysql;

#[test]
fn pg_dump_reads_tables_through_a_cursor_over_only() {
    let declare = one("DECLARE _pg_dump_cursor CURSOR FOR SELECT id, status FROM ONLY public.orders", PG);
    assert_eq!(ops(&declare), ["select"]);
    assert_eq!(objects(&declare), ["select:public.orders"]);
    for sql in
        ["FETCH 100 FROM _pg_dump_cursor", "FETCH ALL c", "MOVE FORWARD 5 IN c", "MOVE c", "CLOSE _pg_dump_cursor", "CLOSE ALL"]
    {
        assert_eq!(ops(&one(sql, PG)), ["select"], "{sql}");
    }
    let lock = one("LOCK TABLE public.orders IN ACCESS SHARE MODE", PG);
    assert!(has(&lock, Operation::Transaction));
    assert_eq!(objects(&lock), ["select:public.orders"]);
}

#[test]
fn only_is_a_keyword_not_a_table_name() {
    // sqlparser alone reads `DELETE FROM ONLY secrets` as a table `only` aliased `secrets`.
    let delete = one("DELETE FROM ONLY secrets", PG);
    assert_eq!(objects(&delete), ["delete:secrets"]);
    assert!(delete.unbounded);
    assert_eq!(objects(&one("UPDATE ONLY vault.keys SET k = 1 WHERE id = 2", PG)), ["update:vault.keys"]);
    assert_eq!(objects(&one("SELECT * FROM a JOIN ONLY b ON a.id = b.id", PG)), ["select:a", "select:b"]);
    // `READ ONLY` is left alone.
    assert_eq!(ops(&one("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY", PG)), ["set"]);
}

#[test]
fn where_current_of_bounds_a_write_to_one_row() {
    let update = one("UPDATE t SET a = 1 WHERE CURRENT OF c", PG);
    assert_eq!(objects(&update), ["update:t"]);
    assert!(!update.unbounded);
    let delete = one("DELETE FROM t WHERE CURRENT OF c RETURNING *", PG);
    assert_eq!(objects(&delete), ["delete:t"]);
    assert!(!delete.unbounded);
    // A CTE's unbounded write is not excused by the cursor's bound.
    let hidden = one("WITH d AS (DELETE FROM logs RETURNING id) UPDATE t SET a = 1 WHERE CURRENT OF c", PG);
    assert!(hidden.unbounded && objects(&hidden).contains(&"delete:logs".to_string()));
}

#[test]
fn do_blocks_are_calls_and_their_bodies_count() {
    let drop = one("DO $$BEGIN DROP TABLE x; END$$", PG);
    assert!(has(&drop, Operation::Call) && has(&drop, Operation::Drop));
    assert!(objects(&drop).contains(&"drop:x".to_string()));
    let delete =
        one("DO LANGUAGE plpgsql $body$ BEGIN IF now() > '2020-01-01' THEN DELETE FROM t WHERE 1 = 1; END IF; END $body$", PG);
    assert!(has(&delete, Operation::Delete) && delete.unbounded, "{delete:?}");
    let bounded = one("DO $$ BEGIN DELETE FROM t WHERE id = 3; END $$", PG);
    assert!(has(&bounded, Operation::Delete) && !bounded.unbounded, "{bounded:?}");
    // A piece the parser cannot read counts as unbounded when it writes.
    let loop_body = one("DO $$ BEGIN FOR r IN SELECT 1 LOOP UPDATE t SET a = 1 WHERE id = r.x; END LOOP; END $$", PG);
    assert!(has(&loop_body, Operation::Update) && loop_body.unbounded, "{loop_body:?}");
    // Dynamic SQL in a literal is read too.
    let dynamic = one("DO $$ BEGIN EXECUTE 'TRUNCATE ' || 'audit_log'; EXECUTE 'DROP TABLE users'; END $$", PG);
    assert!(has(&dynamic, Operation::Truncate) && has(&dynamic, Operation::Drop));
    assert!(has(&one("DO $$ BEGIN PERFORM 1; END $$", PG), Operation::Call));
    // A DO nested in a DO's body still counts its drop.
    let nested = one("DO $a$ BEGIN EXECUTE $b$ DO $c$ BEGIN DROP TABLE deep; END $c$ $b$; END $a$", PG);
    assert!(has(&nested, Operation::Drop), "{nested:?}");
}

#[test]
fn routines_rules_count_what_their_bodies_do() {
    let function = one("CREATE FUNCTION f() RETURNS void LANGUAGE plpgsql AS $$BEGIN DROP TABLE t; END$$", PG);
    assert!(has(&function, Operation::Create) && has(&function, Operation::Drop));
    let sql = one("CREATE OR REPLACE PROCEDURE wipe() LANGUAGE sql AS 'DELETE FROM orders'", PG);
    assert!(has(&sql, Operation::Delete) && sql.unbounded);
    let atomic = one(
        "CREATE PROCEDURE p() LANGUAGE sql BEGIN ATOMIC UPDATE t SET a = CASE WHEN b THEN 1 ELSE 2 END; DELETE FROM u; END",
        PG,
    );
    assert!(has(&atomic, Operation::Update) && has(&atomic, Operation::Delete) && atomic.unbounded);
    let python = one("CREATE FUNCTION sh() RETURNS int LANGUAGE plpython3u AS $$ import os; os.system('x') $$", PG);
    assert!(has(&python, Operation::Call), "code in another language is a call");
    let ret = one("CREATE FUNCTION n() RETURNS bigint LANGUAGE sql RETURN (SELECT count(*) FROM secrets)", PG);
    assert!(objects(&ret).contains(&"select:secrets".to_string()));
    let rule =
        one("CREATE OR REPLACE RULE r AS ON UPDATE TO t WHERE old.id = 1 DO ALSO (DELETE FROM u; INSERT INTO v VALUES (1))", PG);
    assert!(has(&rule, Operation::Create) && has(&rule, Operation::Delete) && rule.unbounded);
    assert!(objects(&rule).contains(&"alter:t".to_string()) && objects(&rule).contains(&"insert:v".to_string()));
    assert_eq!(ops(&one("CREATE RULE r AS ON SELECT TO t DO INSTEAD NOTHING", PG)), ["create", "alter"]);
}

#[test]
fn a_rule_list_with_semicolons_is_one_statement_and_what_follows_is_another() {
    let all =
        analyze_each("CREATE RULE r AS ON INSERT TO t DO (INSERT INTO a VALUES (1); INSERT INTO b VALUES (2)); DROP TABLE t", PG);
    assert_eq!(all.len(), 2, "{all:?}");
    assert!(has(all[1].as_ref().unwrap(), Operation::Drop));
}

#[test]
fn reindex_is_alter_and_takes_nothing_else() {
    assert_eq!(objects(&one("REINDEX TABLE t", PG)), ["alter:t"]);
    assert_eq!(objects(&one("REINDEX (VERBOSE) INDEX CONCURRENTLY public.i", PG)), ["alter:public.i"]);
    assert_eq!(ops(&one("REINDEX DATABASE shop", PG)), ["alter"]);
    assert!(analyze_each("REINDEX TABLE t WHERE (SELECT 1)", PG)[0].is_err());
}

#[test]
fn mysql_routines_and_triggers_count_their_compound_bodies() {
    let sql = "CREATE DEFINER=`root`@`localhost` PROCEDURE p(IN a INT) SQL SECURITY INVOKER\nBEGIN\n  DECLARE n INT;\n  \
               IF a > 0 THEN DELETE FROM orders WHERE 1=1; END IF;\n  WHILE n < 3 DO SET n = n + 1; END WHILE;\n  DROP TABLE t;\nEND";
    let all = analyze_each(sql, MY);
    assert_eq!(all.len(), 1, "the body's semicolons do not end it: {all:?}");
    let procedure = all[0].as_ref().unwrap();
    assert!(has(procedure, Operation::Create) && has(procedure, Operation::Drop) && has(procedure, Operation::Delete));
    assert!(procedure.unbounded);
    let trigger = one("CREATE TRIGGER tr BEFORE INSERT ON t FOR EACH ROW DELETE FROM audit", MY);
    assert!(trigger.unbounded && objects(&trigger).contains(&"delete:audit".to_string()));
    assert!(objects(&trigger).contains(&"alter:t".to_string()));
    let after = analyze_each("CREATE TRIGGER tr AFTER UPDATE ON t FOR EACH ROW BEGIN UPDATE u SET a = 1; END; DROP TABLE x", MY);
    assert_eq!(after.len(), 2);
    assert!(after[0].as_ref().unwrap().unbounded && has(after[1].as_ref().unwrap(), Operation::Drop));
}

#[test]
fn prepare_from_a_literal_is_the_statement_it_prepares() {
    let drop = one("PREPARE s FROM 'DROP TABLE t'", MY);
    assert!(has(&drop, Operation::Call) && objects(&drop).contains(&"drop:t".to_string()));
    let split = one("PREPARE s FROM 'DELETE ' 'FROM orders'", MY);
    assert!(has(&split, Operation::Delete) && split.unbounded, "adjacent literals are one string");
    assert_eq!(ops(&one("PREPARE s FROM @sql", MY)), ["call"]);
    assert!(analyze_each("PREPARE s FROM 'DROP TABLE t garbage('", MY)[0].is_err());
    for sql in ["EXECUTE s USING @a", "DEALLOCATE PREPARE s", "DROP PREPARE s"] {
        assert_eq!(ops(&one(sql, MY)), ["call"], "{sql}");
    }
}

#[test]
fn mysql_selects_with_clauses_sqlparser_lacks() {
    assert_eq!(objects(&one("SELECT * FROM t LOCK IN SHARE MODE", MY)), ["select:t"]);
    assert_eq!(ops(&one("SELECT a FROM t WHERE id = 1 INTO @x", MY)), ["select"]);
    assert_eq!(ops(&one("SELECT a, b INTO @x, @y FROM t WHERE id = 1", MY)), ["select"]);
    let outfile = one("SELECT a FROM t INTO OUTFILE '/tmp/x' FIELDS TERMINATED BY ','", MY);
    assert!(has(&outfile, Operation::Export));
    assert!(has(&one("SELECT a INTO DUMPFILE '/tmp/x' FROM t", MY), Operation::Export));
    // `DO` evaluates expressions: a read, and a server-file function in it is still an export.
    assert_eq!(ops(&one("DO SLEEP(0)", MY)), ["select"]);
    assert!(has(&one("DO LOAD_FILE('/etc/passwd')", MY), Operation::Export));
}

#[test]
fn mysql_table_maintenance_and_options() {
    assert_eq!(objects(&one("ALTER TABLE t ENGINE=InnoDB", MY)), ["alter:t"]);
    assert_eq!(objects(&one("ALTER TABLE t ENGINE = InnoDB ROW_FORMAT=DYNAMIC, DEFAULT CHARSET = utf8mb4", MY)), ["alter:t"]);
    // BLACKHOLE keeps no rows: converting a table to it destroys them.
    assert!(has(&one("ALTER TABLE t ENGINE=BLACKHOLE", MY), Operation::Truncate));
    let mixed = one("ALTER TABLE t ENGINE = MyISAM, RENAME TO u", MY);
    assert!(has(&mixed, Operation::Alter));
    assert_eq!(objects(&one("OPTIMIZE NO_WRITE_TO_BINLOG TABLE t, shop.u", MY)), ["alter:t", "alter:shop.u"]);
    assert_eq!(ops(&one("CHECK TABLE t EXTENDED", MY)), ["show"]);
}

#[test]
fn mysql_handler_load_data_and_administration() {
    for sql in [
        "HANDLER t OPEN",
        "HANDLER t OPEN AS h",
        "HANDLER t READ FIRST",
        "HANDLER t READ `PRIMARY` NEXT WHERE a > 1 LIMIT 5",
        "HANDLER t CLOSE",
    ] {
        assert_eq!(objects(&one(sql, MY)), ["select:t"], "{sql}");
    }
    assert!(has(&one("HANDLER t READ FIRST WHERE a = LOAD_FILE('/etc/shadow')", MY), Operation::Export));
    let local = one("LOAD DATA LOCAL INFILE '/tmp/x' REPLACE INTO TABLE t FIELDS TERMINATED BY ',' (a, b)", MY);
    assert_eq!(objects(&local), ["import:t", "insert:t"]);
    assert!(local.columns_written.unknown);
    assert_eq!(objects(&one("LOAD DATA INFILE '/var/lib/x' INTO TABLE shop.t", MY)), ["import:shop.t", "insert:shop.t"]);
    for sql in ["KILL 5", "KILL QUERY 5", "FLUSH TABLES WITH READ LOCK", "SHUTDOWN", "SHUTDOWN WAIT FOR ALL REPLICAS"] {
        assert_eq!(ops(&one(sql, MY)), ["admin"], "{sql}");
    }
}

#[test]
fn mysqldump_single_transaction_statements() {
    assert_eq!(ops(&one("START TRANSACTION /*!40100 WITH CONSISTENT SNAPSHOT */", MY)), ["transaction"]);
    assert_eq!(ops(&one("LOCK TABLES `orders` READ /*!32311 LOCAL */,`v` READ /*!32311 LOCAL */", MY)), ["transaction"]);
    assert_eq!(ops(&one("SELECT /*!40001 SQL_NO_CACHE */ `id`, `status` FROM `orders`", MY)), ["select"]);
}

#[test]
fn admin_is_an_operation_policies_can_name() {
    assert_eq!(Operation::parse("admin"), Some(Operation::Admin));
    assert!(Operation::ALL.contains(&Operation::Admin));
}

#[test]
fn mysqldump_routines_statements() {
    assert_eq!(ops(&one("SHOW FUNCTION STATUS WHERE Db = 'shop'", MY)), ["show"]);
    assert_eq!(ops(&one("SHOW PROCEDURE STATUS WHERE Db = 'shop'", MY)), ["show"]);
    assert!(has(&one("SHOW FUNCTION STATUS WHERE Db = LOAD_FILE('/etc/passwd')", MY), Operation::Export));
    assert!(objects(&one("SHOW TABLES WHERE 1 IN (SELECT k FROM vault.keys)", MY)).contains(&"select:vault.keys".to_string()));
}

#[test]
fn destruction_counts_whatever_the_keyword() {
    for sql in [
        "ALTER TABLE orders DROP COLUMN total",
        "alter table ORDERS /* x */ drop column if exists total cascade",
        "ALTER TABLE \"orders\" DROP CONSTRAINT orders_pkey",
        "ALTER TABLE IF EXISTS ONLY orders DROP CONSTRAINT c, ADD COLUMN d int",
    ] {
        assert!(has(&one(sql, PG), Operation::Drop), "{sql}");
        assert!(objects(&one(sql, PG)).contains(&"drop:orders".to_string()), "{sql}");
    }
    assert_eq!(objects(&one("ALTER TABLE shop.orders DROP COLUMN total", PG)), ["alter:shop.orders", "drop:shop.orders"]);
    assert!(!has(&one("ALTER TABLE orders ADD COLUMN note text", PG), Operation::Drop));
    for (sql, dialect) in [
        ("CREATE OR REPLACE TABLE orders (id INT)", Dialect::Snowflake),
        ("create or replace table `ds.orders` as select 1 as id", Dialect::Bigquery),
        ("CREATE OR REPLACE TABLE orders AS SELECT 1", Dialect::Duckdb),
    ] {
        assert!(has(&one(sql, dialect), Operation::Drop), "{sql}");
    }
    assert!(!has(&one("CREATE TABLE orders (id INT)", Dialect::Snowflake), Operation::Drop));
    let overwrite = one("INSERT OVERWRITE TABLE orders SELECT * FROM staging", Dialect::Databricks);
    assert!(objects(&overwrite).contains(&"truncate:orders".to_string()));
    assert!(!has(&one("INSERT INTO orders SELECT * FROM staging", Dialect::Databricks), Operation::Truncate));
}

#[test]
fn dropping_a_trigger_policy_or_rule_names_its_table() {
    for sql in ["DROP TRIGGER audit ON secrets", "drop policy if exists p on SECRETS", "DROP RULE r ON \"secrets\""] {
        assert_eq!(objects(&one(sql, PG)), ["alter:secrets"], "{sql}");
        assert!(has(&one(sql, PG), Operation::Drop), "{sql}");
    }
}

#[test]
fn identity_switches_count_as_grant() {
    for sql in [
        "SET ROLE admin",
        "set local role \"admin\"",
        "SET SESSION AUTHORIZATION admin",
        "SET role = admin",
        "SET \"role\" TO admin",
        "SET session_authorization = admin",
        "RESET ROLE",
        "RESET SESSION AUTHORIZATION",
        "DISCARD ALL",
        "SELECT set_config('role', 'admin', false)",
        "SELECT pg_catalog.SET_CONFIG('ROLE', 'admin', true)",
        "SELECT set_config(name, 'admin', false) FROM settings",
    ] {
        assert!(has(&one(sql, PG), Operation::Grant), "{sql}");
    }
    for sql in
        ["SET work_mem = '1MB'", "RESET ALL", "RESET work_mem", "DISCARD PLANS", "SELECT set_config('work_mem', '1MB', false)"]
    {
        assert!(!has(&one(sql, PG), Operation::Grant), "{sql}");
    }
    assert!(has(&one("SET ROLE ALL", MY), Operation::Grant));
    assert!(has(&one("USE ROLE accountadmin", Dialect::Snowflake), Operation::Grant));
    assert!(!has(&one("USE WAREHOUSE wh", Dialect::Snowflake), Operation::Grant));
}

#[test]
fn row_security_and_ownership_are_privileges() {
    for sql in [
        "ALTER TABLE secrets DISABLE ROW LEVEL SECURITY",
        "ALTER TABLE secrets NO FORCE ROW LEVEL SECURITY",
        "ALTER TABLE secrets OWNER TO mallory",
    ] {
        assert!(has(&one(sql, PG), Operation::Grant), "{sql}");
    }
    assert!(!has(&one("ALTER TABLE secrets ENABLE ROW LEVEL SECURITY", PG), Operation::Grant));
}

#[test]
fn merge_conditions_count_toward_boundedness() {
    let bounded = "MERGE INTO orders o USING s ON true WHEN MATCHED AND o.id = s.id THEN DELETE";
    assert!(!one(bounded, PG).unbounded);
    for sql in [
        "MERGE INTO orders o USING s ON true WHEN MATCHED THEN DELETE",
        "MERGE INTO orders o USING s ON 1 = 1 WHEN MATCHED AND true THEN UPDATE SET total = 0",
        "MERGE INTO orders o USING s ON true WHEN MATCHED AND o.id = 1 THEN DELETE WHEN MATCHED THEN UPDATE SET total = 0",
    ] {
        assert!(one(sql, PG).unbounded, "{sql}");
    }
    let by_source = "MERGE INTO orders AS t USING s ON t.id = s.id WHEN NOT MATCHED BY SOURCE THEN DELETE;";
    assert!(one(by_source, Dialect::Mssql).unbounded);
    let by_source_bounded = "MERGE INTO orders AS t USING s ON t.id = s.id WHEN NOT MATCHED BY SOURCE AND t.id = 3 THEN DELETE;";
    assert!(!one(by_source_bounded, Dialect::Mssql).unbounded);
}

#[test]
fn server_file_and_link_functions_are_exports_and_calls() {
    for name in
        ["pg_ls_summariesdir", "pg_ls_logicalsnapdir", "pg_ls_logicalmapdir", "pg_ls_replslotdir", "PG_CATALOG.pg_ls_tmpdir"]
    {
        let sql = format!("SELECT * FROM {name}()");
        assert!(has(&one(&sql, PG), Operation::Export), "{sql}");
    }
    assert!(has(&one("SELECT lo_import('/etc/passwd')", PG), Operation::Export));
    for sql in ["SELECT dblink_connect('host=evil')", "SELECT * FROM dblink_fetch('c', 'cur', 10) AS t(a int)"] {
        assert!(has(&one(sql, PG), Operation::Call), "{sql}");
    }
}

#[test]
fn clickhouse_mutations_are_the_writes_they_perform() {
    const CH: Dialect = Dialect::Clickhouse;
    let delete = one("ALTER TABLE orders DELETE WHERE 1 = 1", CH);
    assert_eq!(objects(&delete), ["delete:orders", "alter:orders"]);
    assert!(delete.unbounded);
    let update = one("alter table shop.orders on cluster main update total = 0 where id IN (1, 2)", CH);
    assert_eq!(objects(&update), ["update:shop.orders", "alter:shop.orders"]);
    assert!(!update.unbounded);
    let reads = one("ALTER TABLE orders DELETE WHERE id IN (SELECT id FROM secrets)", CH);
    assert!(objects(&reads).contains(&"select:secrets".to_string()));
    for sql in [
        "ALTER TABLE orders DROP PARTITION 202001",
        "ALTER TABLE orders DROP PARTITION '2020-01-01'",
        "ALTER TABLE orders DROP DETACHED PART 'all_1_1_0'",
    ] {
        assert_eq!(objects(&one(sql, CH)), ["alter:orders", "drop:orders"], "{sql}");
    }
    // Every row of a partition is unbounded too.
    for sql in ["ALTER TABLE orders DELETE IN PARTITION 1 WHERE 1", "DELETE FROM orders IN PARTITION '2020' WHERE 1 = 1"] {
        let delete = one(sql, CH);
        assert!(delete.unbounded && has(&delete, Operation::Delete), "{sql}");
    }
    assert!(!one("ALTER TABLE orders UPDATE total = 0 IN PARTITION ID 'x' WHERE id = 7", CH).unbounded);
    // Shapes the recognizer does not account for stay unparsable, never a milder intent.
    for sql in
        ["ALTER TABLE orders DELETE WHERE 1, DROP PARTITION 2", "ALTER TABLE orders DELETE IN PARTITION (SELECT 1) WHERE 1"]
    {
        assert!(analyze_each(sql, CH)[0].is_err(), "{sql}");
    }
}

#[test]
fn clickhouse_clear_entity_drops_exchange_and_format() {
    const CH: Dialect = Dialect::Clickhouse;
    for sql in [
        "ALTER TABLE orders CLEAR COLUMN total IN PARTITION 202001",
        "ALTER TABLE orders ON CLUSTER c CLEAR INDEX i",
        "ALTER TABLE orders DROP STATISTICS total",
    ] {
        assert_eq!(objects(&one(sql, CH)), ["alter:orders", "drop:orders"], "{sql}");
    }
    for sql in
        ["DROP QUOTA IF EXISTS q", "DROP ROW POLICY p ON shop.orders", "DROP SETTINGS PROFILE p", "DROP NAMED COLLECTION c"]
    {
        assert_eq!(ops(&one(sql, CH)), ["drop"], "{sql}");
    }
    assert_eq!(objects(&one("EXCHANGE TABLES shop.a AND shop.b", CH)), ["alter:shop.a", "alter:shop.b"]);
    assert_eq!(objects(&one("SELECT id FROM orders FORMAT JSONEachRow", CH)), ["select:orders"]);
    // FORMAT does not hide what the rest does.
    assert!(analyze_each("SELECT id FROM orders INTO OUTFILE 'x' FORMAT CSV", CH)[0].is_err());
}

#[test]
fn clickhouse_table_functions_that_reach_outside_the_server_are_exports() {
    const CH: Dialect = Dialect::Clickhouse;
    for sql in [
        "SELECT * FROM remote('evil:9000', db, t)",
        "SELECT * FROM remoteSecure('evil:9440', db.t, 'u', 'p')",
        "SELECT * FROM mysql('h:3306', 'db', 't', 'u', 'p')",
        "SELECT * FROM postgresql('h:5432', 'db', 't', 'u', 'p')",
        "SELECT * FROM s3Cluster('c', 'https://b/x.csv')",
        "SELECT * FROM users WHERE id IN (SELECT id FROM cluster('c', db.t))",
    ] {
        assert!(has(&one(sql, CH), Operation::Export), "{sql}");
    }
    assert!(has(&one("SELECT * FROM executable('script.sh', TSV, 'x String')", CH), Operation::Call));
    // Only ClickHouse's: elsewhere a function of that name is what it is.
    assert!(!has(&one("SELECT * FROM remote(1)", PG), Operation::Export));
}

#[test]
fn clickhouse_detach_is_a_drop() {
    const CH: Dialect = Dialect::Clickhouse;
    for sql in ["ALTER TABLE orders DETACH PARTITION 202001", "ALTER TABLE orders DETACH PART 'all_1_1_0'"] {
        assert_eq!(objects(&one(sql, CH)), ["alter:orders", "drop:orders"], "{sql}");
    }
    let tuple = one("ALTER TABLE orders ON CLUSTER c DROP PARTITION tuple(toYYYYMM(toDate('2019-01-25')))", CH);
    assert_eq!(objects(&tuple), ["alter:orders", "drop:orders"]);
    for (sql, object) in [
        ("DETACH TABLE shop.orders PERMANENTLY", "drop:shop.orders"),
        ("DETACH DICTIONARY d", "drop:d"),
        ("DETACH DATABASE shop ON CLUSTER c", "drop:shop"),
        ("DROP DICTIONARY IF EXISTS db.d", "drop:db.d"),
        ("DROP TEMPORARY TABLE t", "drop:t"),
        ("DROP TABLE IF EXISTS db.t ON CLUSTER c SYNC", "drop:db.t"),
    ] {
        assert_eq!(objects(&one(sql, CH)), [object], "{sql}");
    }
    assert!(analyze_each("DETACH TABLE t AS (SELECT 1)", CH)[0].is_err());
}

#[test]
fn clickhouse_truncate_database_kill_and_system() {
    const CH: Dialect = Dialect::Clickhouse;
    assert_eq!(objects(&one("TRUNCATE DATABASE IF EXISTS shop ON CLUSTER c", CH)), ["truncate:shop"]);
    assert_eq!(objects(&one("TRUNCATE ALL TABLES FROM shop LIKE 'tmp%'", CH)), ["truncate:shop"]);
    for sql in [
        "KILL QUERY WHERE query_id = 'x' SYNC",
        "KILL MUTATION WHERE database = 'db'",
        "SYSTEM SHUTDOWN",
        "SYSTEM DROP REPLICA 'r' FROM TABLE t",
        "SYSTEM STOP MERGES",
    ] {
        assert_eq!(ops(&one(sql, CH)), ["admin"], "{sql}");
    }
    let reads = one("KILL QUERY WHERE user IN (SELECT name FROM secrets)", CH);
    assert!(has(&reads, Operation::Admin) && has(&reads, Operation::Select));
    assert!(analyze_each("KILL QUERY", CH)[0].is_err());
}

#[test]
fn partitions_and_role_families_sqlparser_lacks() {
    assert_eq!(objects(&one("ALTER TABLE `orders` DROP PARTITION p0, p1", MY)), ["alter:orders", "drop:orders"]);
    assert_eq!(objects(&one("ALTER TABLE orders TRUNCATE PARTITION ALL", MY)), ["alter:orders", "truncate:orders"]);
    assert_eq!(ops(&one("REASSIGN OWNED BY alice TO mallory", PG)), ["grant"]);
    assert_eq!(ops(&one("drop owned by alice, bob cascade", PG)), ["drop", "revoke"]);
    assert_eq!(ops(&one("ALTER GROUP admins ADD USER mallory, eve", PG)), ["grant"]);
    assert_eq!(ops(&one("ALTER GROUP admins DROP USER mallory", PG)), ["revoke"]);
    assert!(analyze_each("ALTER GROUP admins ADD USER (SELECT 1)", PG)[0].is_err());
}

#[test]
fn server_administration_functions_are_admin_not_reads() {
    // pglast (PostgreSQL's parser) reads each as a plain SELECT of a function call; the server's
    // documentation lists them under "System Administration Functions": they reload the
    // configuration, rotate logs, promote a standby, drop replication slots.
    for sql in [
        "SELECT pg_reload_conf()",
        "SELECT pg_catalog.pg_rotate_logfile()",
        "SELECT PG_SWITCH_WAL()",
        "SELECT pg_promote(true, 60)",
        "SELECT pg_drop_replication_slot('s')",
        "SELECT * FROM pg_create_logical_replication_slot('s', 'pgoutput')",
    ] {
        assert!(has(&one(sql, PG), Operation::Admin), "{sql}");
    }
    // Reading the settings is still a read.
    assert_eq!(ops(&one("SELECT current_setting('work_mem')", PG)), ["select"]);
    // Text sqlparser cannot read is suspected of the same (pglast reads `===` as an operator
    // name, which no built-in operator has).
    let unread = analyze_each("SELECT pg_reload_conf() WHERE 1 === 1", PG);
    let refused = unread[0].as_ref().expect_err("not parsable");
    assert!(refused.suspected.operations.contains(Operation::Admin));
}

#[test]
fn functions_that_change_state_count_as_the_statement_they_stand_for() {
    // PostgreSQL refuses nextval and setval in a READ ONLY transaction (SQLSTATE 25006): each
    // moves the sequence it names, which is an update of that sequence, not a read.
    assert_eq!(objects(&one("SELECT nextval('shop.orders_id_seq')", PG)), ["update:shop.orders_id_seq"]);
    assert_eq!(objects(&one("SELECT setval('\"Orders_Seq\"'::regclass, 1, false)", PG)), ["update:Orders_Seq"]);
    assert_eq!(objects(&one("SELECT pg_catalog.SETVAL('Vault.Keys_Seq', 1)", PG)), ["update:vault.keys_seq"]);
    // MariaDB names the sequence with an identifier, and refuses these in a READ ONLY transaction
    // too (error 1792), `NEXT VALUE FOR` and `DO` included.
    for sql in ["SELECT NEXTVAL(shop.orders_seq)", "DO SETVAL(shop.orders_seq, 5)", "SELECT NEXT VALUE FOR shop.orders_seq"] {
        let parsed = analyze_each(sql, MY);
        let intent = match &parsed[0] {
            Ok(intent) => intent.clone(),
            Err(refused) => refused.suspected.clone(),
        };
        assert!(objects(&intent).contains(&"update:shop.orders_seq".to_string()), "{sql}: {:?}", objects(&intent));
    }
    assert_eq!(ops(&one("SELECT LASTVAL(orders_seq), PREVIOUS VALUE FOR orders_seq", MY)), ["select"]);
    // Taking the next value is no unbounded write: agents insert rows with it.
    assert!(!one("SELECT nextval('orders_id_seq')", PG).unbounded);
    // A name only known when it runs is still an update.
    assert!(has(&one("SELECT nextval(name) FROM seqs", PG), Operation::Update));
    // Large objects are written and deleted as rows are, and pg_notify is NOTIFY: PostgreSQL
    // 15 runs these in a READ ONLY transaction, so only what they do says they are not reads.
    for (sql, op) in [
        ("SELECT lo_unlink(16401)", Operation::Delete),
        ("SELECT lo_put(16401, 0, '\\x00')", Operation::Update),
        ("SELECT lowrite(lo_open(16401, 131072), 'x')", Operation::Update),
        ("SELECT lo_from_bytea(0, 'x')", Operation::Insert),
        ("SELECT pg_notify('jobs', 'run')", Operation::Other),
        ("SELECT brin_summarize_new_values('orders_brin')", Operation::Alter),
        ("SELECT pg_stat_reset()", Operation::Admin),
        ("SELECT pg_logical_slot_get_changes('s', NULL, NULL)", Operation::Admin),
    ] {
        assert!(has(&one(sql, PG), op), "{sql}: {:?}", ops(&one(sql, PG)));
    }
    // What only reads stays a read: the current value, a lock on nothing but a number.
    for sql in ["SELECT currval('s'), lastval()", "SELECT lo_get(16401)", "SELECT pg_sequence_last_value('s')"] {
        assert_eq!(ops(&one(sql, PG)), ["select"], "{sql}");
    }
    // PostgreSQL runs a function named as a table in FROM as it runs one in an expression:
    // `SELECT * FROM nextval('s')` moves the sequence, refused in READ ONLY like the call.
    for (sql, op) in [
        ("SELECT * FROM nextval('shop.orders_id_seq')", Operation::Update),
        ("SELECT * FROM pg_catalog.setval('s', 1) WITH ORDINALITY", Operation::Update),
        ("SELECT * FROM orders, nextval('s')", Operation::Update),
        ("SELECT * FROM orders CROSS JOIN LATERAL nextval('s') AS n", Operation::Update),
        ("SELECT * FROM ROWS FROM (nextval('s'), generate_series(1, 2))", Operation::Update),
        ("WITH x AS (SELECT * FROM nextval('s')) SELECT * FROM x", Operation::Update),
        ("SELECT (SELECT v FROM nextval('s') v)", Operation::Update),
        ("SELECT * FROM lo_unlink(16401)", Operation::Delete),
        ("SELECT * FROM pg_notify('jobs', 'run')", Operation::Other),
        ("SELECT * FROM set_config('role', 'admin', false)", Operation::Grant),
    ] {
        assert!(has(&one(sql, PG), op), "{sql}: {:?}", ops(&one(sql, PG)));
    }
    let from = objects(&one("SELECT * FROM nextval('shop.orders_id_seq')", PG));
    assert!(from.contains(&"update:shop.orders_id_seq".to_string()), "{from:?}");
    assert_eq!(ops(&one("SELECT * FROM generate_series(1, 3), currval('s')", PG)), ["select"]);
    // Text sqlparser cannot read is suspected of the same.
    let unread = analyze_each("SELECT setval('s', 1) WHERE 1 === 1", PG);
    assert!(unread[0].as_ref().expect_err("not parsable").suspected.operations.contains(Operation::Update));
}
