//! Postgres query forms sqlparser 0.64 rejects and the engine reads through a rewrite (PostgreSQL
//! 15's regression suite has them all): each is analyzed with the operations and objects the
//! server gives it, and a write, a drop or a call hidden in the rewritten part is still seen.

mod common;

use access_guardrails::sql::{analyze_each, Dialect, Intent, Operation};
use common::{objects, ops};

/// The one statement of `sql`, analyzed as Postgres.
fn one(sql: &str) -> Intent {
    common::one(sql, Dialect::Postgres)
}

fn unparsable(sql: &str) -> bool {
    analyze_each(sql, Dialect::Postgres).iter().any(Result::is_err)
}

#[test]
fn subscripted_assignment_targets_write_their_column() {
    let update = one("UPDATE arrtest SET a[4] = NULL, b[1:2] = '{1,2}' WHERE a[2] IS NULL");
    assert_eq!(objects(&update), ["update:arrtest"]);
    assert_eq!(update.columns_written.names, ["a", "b"]);
    assert!(!update.unbounded);
    let jsonb = one("update test_jsonb_subscript set test_json['a'][0]['c'] = '1'");
    assert_eq!(objects(&jsonb), ["update:test_jsonb_subscript"]);
    assert!(jsonb.unbounded, "no WHERE: every row");
    let insert = one("insert into inserttest (f2[1], f2[2]) values (3,4), (5,6)");
    assert_eq!(objects(&insert), ["insert:inserttest"]);
    assert_eq!(insert.columns_written.names, ["f2"]);
    let conflict = one("insert into t (a) values (1) on conflict (a) do update set b[1] = 2");
    assert_eq!(ops(&conflict), ["insert", "update"]);
    assert_eq!(conflict.columns_written.names, ["a", "b"]);
    // A tautology after the SET list still makes the update unbounded.
    assert!(one("UPDATE t SET a[1] = 0 WHERE 1 = 1").unbounded);
}

#[test]
fn a_subscript_holding_a_call_or_subquery_is_not_rewritten() {
    assert!(unparsable("UPDATE t SET a[(SELECT dblink_exec('drop table x'))] = 1"));
    assert!(unparsable("UPDATE t SET a[f(1)] = 1 WHERE id = 1"));
    // The value side keeps its subquery: the DELETE in it still counts.
    let update = one("WITH d AS (DELETE FROM logs RETURNING id) UPDATE t SET a[1] = (SELECT max(id) FROM d)");
    assert_eq!(ops(&update), ["select", "update", "delete"]);
    assert!(update.unbounded);
}

#[test]
fn variadic_arguments_keep_their_call_and_array() {
    let call = one("select vari(variadic array[5,6,7])");
    assert_eq!(ops(&call), ["select"]);
    let json = one("SELECT json_build_object(VARIADIC '{a,1,b,2}'::text[])");
    assert_eq!(ops(&json), ["select"]);
    let agg = one("select least_agg(variadic array[q1,q2]) from int8_tbl");
    assert_eq!(objects(&agg), ["select:int8_tbl"]);
    // What the array holds is analyzed: a dblink call inside still runs code.
    let hidden = one("SELECT concat(VARIADIC ARRAY[(SELECT dblink_exec('host=x', 'DROP TABLE users'))])");
    assert!(hidden.operations.contains(Operation::Call), "{:?}", hidden.operations);
    let file = one("SELECT format('%s', VARIADIC ARRAY[pg_read_file('/etc/passwd')])");
    assert!(file.operations.contains(Operation::Export));
}

#[test]
fn window_frame_exclusions_and_interval_bounds_read_the_same_table() {
    for sql in [
        "SELECT sum(unique1) over (order by four range between 5::int8 preceding and 6::int2 following exclude current row), unique1 FROM tenk1",
        "select last_value(salary) over (order by enroll_date groups between 1 following and 3 following exclude group) from empsalary",
        "select first_value(x) over (order by x rows between current row and 2 following exclude ties) from empsalary",
        "select sum(salary) over (order by enroll_date range between '1 year'::interval preceding and '1 year'::interval following exclude no others) from empsalary",
    ] {
        let select = one(sql);
        assert_eq!(ops(&select), ["select"], "{sql}");
        assert_eq!(select.accesses.len(), 1, "{sql}: {:?}", select.accesses);
    }
}

#[test]
fn search_and_cycle_clauses_keep_the_recursive_body() {
    let search = one(
        "with recursive search_graph(f, t, label) as (select * from graph g union all select g.* from graph g, search_graph sg \
         where g.f = sg.t) search depth first by f, t set seq select * from search_graph order by seq",
    );
    assert_eq!(objects(&search), ["select:graph"]);
    let cycle = one("with recursive sg(f, t) as (select * from graph g union all select g.* from graph g, sg where g.f = sg.t) \
         cycle f, t set is_cycle to true default false using path select * from sg");
    assert_eq!(objects(&cycle), ["select:graph"]);
    // A write in the CTE is still a write, unbounded as it is.
    let write = one("WITH RECURSIVE gone AS (DELETE FROM accounts RETURNING id) SEARCH BREADTH FIRST BY id SET ord \
         CYCLE id SET c USING p SELECT * FROM gone");
    assert!(write.operations.contains(Operation::Delete), "{:?}", write.operations);
    assert!(objects(&write).contains(&"delete:accounts".to_string()));
    assert!(write.unbounded);
}

#[test]
fn sql_xml_forms_are_calls_on_the_same_arguments() {
    let element = one("SELECT xmlelement(name foo, xmlattributes('2009-04-09 00:24:37'::timestamp as bar), 'x')");
    assert_eq!(ops(&element), ["select"]);
    let forest = one("SELECT xmlelement(name employee, xmlforest(name, age, salary as pay)) FROM emp");
    assert_eq!(objects(&forest), ["select:emp"]);
    assert_eq!(ops(&one("SELECT xmlpi(name php, 'echo \"hello world\";')")), ["select"]);
    let exists = one("SELECT COUNT(id) FROM xmltest WHERE xmlexists('/menu/beer' PASSING BY REF data BY REF)");
    assert_eq!(objects(&exists), ["select:xmltest"]);
    assert_eq!(ops(&one("SELECT xmlroot(xml '<foo/>', version no value, standalone yes)")), ["select"]);
    assert_eq!(ops(&one("SELECT xmlparse(document '<abc>x</abc>')")), ["select"]);
    assert_eq!(objects(&one("SELECT xmlserialize(content data as character varying(20)) FROM xmltest")), ["select:xmltest"]);
    let table = one("SELECT xmltable.* FROM xmldata, LATERAL xmltable('/ROWS/ROW' PASSING data COLUMNS id int PATH '@id', \
         _id FOR ORDINALITY, name text PATH 'NAME' NOT NULL, premier text PATH 'P' DEFAULT 'none')");
    assert_eq!(objects(&table), ["select:xmldata"]);
}

#[test]
fn calls_inside_xml_arguments_still_count() {
    let drop = one("SELECT xmlelement(name x, (SELECT dblink_exec('host=x', 'DROP TABLE users')))");
    assert!(drop.operations.contains(Operation::Call), "{:?}", drop.operations);
    let file = one("SELECT xmlforest(pg_read_file('/etc/passwd') AS f)");
    assert!(file.operations.contains(Operation::Export), "{:?}", file.operations);
    let path = one("SELECT * FROM xmltable('/r' PASSING (SELECT lo_import('/etc/shadow')) COLUMNS a text PATH 'a')");
    assert!(path.operations.contains(Operation::Import), "{:?}", path.operations);
    let default = one("SELECT * FROM xmltable('/r' PASSING x COLUMNS a text PATH 'a' DEFAULT pg_read_file('/etc/passwd'))");
    assert!(default.operations.contains(Operation::Export), "{:?}", default.operations);
    let cte = one("WITH d AS (DELETE FROM t RETURNING x) SELECT xmlelement(name e, (SELECT x FROM d LIMIT 1))");
    assert!(cte.operations.contains(Operation::Delete));
    assert!(cte.unbounded);
}

#[test]
fn table_statements_read_every_column() {
    let table = one("TABLE t1");
    assert_eq!(objects(&table), ["select:t1"]);
    assert!(table.reads_all_columns);
    assert_eq!(objects(&one("SELECT * FROM a UNION ALL TABLE b")), ["select:a", "select:b"]);
    // `CREATE TABLE`, `LOCK TABLE` and the like are no TABLE query.
    assert!(unparsable("LOCK TABLE t IN NOWAIT garbage"));
}

#[test]
fn other_expression_forms() {
    assert_eq!(ops(&one("SELECT SUBSTRING('abcdefg' SIMILAR 'a#\"(b_d)#\"%' ESCAPE '#') AS \"bcd\"")), ["select"]);
    assert_eq!(objects(&one("select row(1, 'abc')::testtype3 *< row(1, 'abd')::testtype3 from t")), ["select:t"]);
    assert_eq!(ops(&one("select sum(c) from gstest2 group by grouping sets(grouping sets((a, b))) order by 1 desc")), ["select"]);
    assert_eq!(ops(&one("select a from t group by distinct rollup(a, b), rollup(a, c)")), ["select"]);
    let coldefs = one("SELECT * FROM json_populate_record(null::record, '{\"x\": 776}') AS (x int, y numeric(10, 2))");
    assert_eq!(ops(&coldefs), ["select"]);
    let star = one("SELECT * FROM f_star* x WHERE x.c ISNULL");
    assert_eq!(objects(&star), ["select:f_star"]);
    let expansion = one("select description, (test_conv(inbytes, 'gb18030', 'utf8')).* from gb18030_inputs");
    assert_eq!(objects(&expansion), ["select:gb18030_inputs"]);
    assert!(expansion.reads_all_columns);
    assert_eq!(ops(&one("SELECT collation for ('foo')")), ["select"]);
    assert!(one("delete from rtest_v1 where b isnull").operations.contains(Operation::Delete));
}

#[test]
fn a_column_definition_list_never_swallows_a_query() {
    // A CTE's column list is followed by AS and a body: the body stays.
    let cte = one("WITH x(a, b) AS (DELETE FROM t RETURNING a, b) SELECT * FROM x, xmlpi(name y)");
    assert!(objects(&cte).contains(&"delete:t".to_string()), "{:?}", cte.accesses);
}

#[test]
fn create_as_and_views_keep_their_query() {
    let ctas = one("CREATE TABLE ctas_nodata (ii, jj) AS SELECT i, j FROM ctas_base WITH NO DATA");
    assert_eq!(objects(&ctas), ["create:ctas_nodata", "select:ctas_base"]);
    let view = one("CREATE VIEW rw_view1 AS SELECT * FROM base_tbl WHERE a < b WITH LOCAL CHECK OPTION");
    assert_eq!(objects(&view), ["create:rw_view1", "select:base_tbl"]);
    let matview = one("CREATE MATERIALIZED VIEW heapmv USING heap AS SELECT * FROM heaptable");
    assert!(objects(&matview).contains(&"select:heaptable".to_string()));
}

#[test]
fn explain_keeps_its_options_and_runs_under_analyze() {
    let plain = one("EXPLAIN (COSTS OFF) UPDATE t SET a[1] = 0");
    assert_eq!(ops(&plain), ["explain"]);
    let analyze = one("EXPLAIN (ANALYZE, COSTS OFF) UPDATE t SET a[1] = 0");
    assert_eq!(ops(&analyze), ["update", "explain"]);
    assert!(analyze.unbounded);
    let fingerprint = one("explain (verbose, costs off) update dcomptable set d1[1].r = d1[1].r - 1 where d1[1].i > 0");
    assert!(fingerprint.fingerprint.starts_with("EXPLAIN"), "{}", fingerprint.fingerprint);
}

#[test]
fn copy_and_merge_forms() {
    let copy = one("copy header_copytest from stdin with (header match)");
    assert_eq!(ops(&copy), ["insert", "import"]);
    let export = one("copy header_copytest to stdout with (header match, format csv)");
    assert!(export.operations.contains(Operation::Export));
    let merge = one("MERGE INTO target t USING source AS s ON t.tid = s.sid WHEN NOT MATCHED THEN INSERT DEFAULT VALUES");
    assert!(merge.operations.contains(Operation::Merge));
    assert!(objects(&merge).contains(&"merge:target".to_string()));
    let overriding = one(
        "MERGE INTO itest t USING (SELECT 30 AS a) s ON t.a = s.a WHEN NOT MATCHED THEN INSERT (a) OVERRIDING SYSTEM VALUE VALUES (s.a)",
    );
    assert!(objects(&overriding).contains(&"merge:itest".to_string()));
}

#[test]
fn a_rewrite_never_edits_a_string() {
    // The literal holds the pattern word for word; the statement stays unparsable.
    assert!(unparsable("SELECT 'xmlelement(name foo)' garbage garbage"));
    let text = one("SELECT xmlelement(name foo, 'TABLE t VARIADIC a[1]')");
    assert!(text.fingerprint.contains('?'), "{}", text.fingerprint);
}

#[test]
fn statements_around_a_repaired_one_keep_their_own_analysis() {
    let all = analyze_each("DELETE FROM a; UPDATE t SET x[1] = 1 WHERE id = 2; DROP TABLE b", Dialect::Postgres);
    let ops: Vec<Vec<&str>> = all.iter().map(|r| r.as_ref().map(ops).unwrap_or_default()).collect();
    assert_eq!(ops, [vec!["delete"], vec!["update"], vec!["drop"]]);
    assert!(all[0].as_ref().is_ok_and(|i| i.unbounded));
    assert!(all[1].as_ref().is_ok_and(|i| !i.unbounded));
}

#[test]
fn rows_from_reads_its_calls() {
    let rows = one("SELECT * FROM (VALUES (1),(2)) v(r), ROWS FROM( rngfunc_sql(11,11), rngfunc_mat(10+r,13) ) WITH ORDINALITY AS f(a, b, o)");
    assert_eq!(ops(&rows), ["select"]);
    let hidden = one("SELECT * FROM ROWS FROM( dblink('host=x', 'DELETE FROM users') AS (n int) )");
    assert!(hidden.operations.contains(Operation::Call), "{:?}", hidden.operations);
}

#[test]
fn conflict_inference_expressions_go_but_calls_that_matter_stay() {
    let insert = one("insert into fruits values (20, 'Quince') on conflict (key, lower(fruit) collate \"C\" text_pattern_ops) do update set fruit = excluded.fruit");
    assert_eq!(ops(&insert), ["insert", "update"]);
    assert_eq!(objects(&insert), ["insert:fruits"]);
    assert_eq!(
        ops(&one("explain (costs off) insert into t values (0, 'x') on conflict (lower(fruit), key) do nothing")),
        ["explain"]
    );
    assert!(unparsable("insert into t values (1) on conflict (dblink_exec('x', 'drop table y')) do nothing"));
    assert!(unparsable("insert into t values (1) on conflict ((select 1)) do nothing"));
}

#[test]
fn merge_from_a_join_keeps_target_and_sources() {
    let merge =
        one("MERGE INTO cj_target t USING cj_source2 s2 INNER JOIN cj_source1 s1 ON sid1 = sid2 AND scat = 20 ON t.tid = sid1 \
         WHEN MATCHED THEN DELETE");
    let found = objects(&merge);
    for object in ["merge:cj_target", "select:cj_source2", "select:cj_source1"] {
        assert!(found.contains(&object.to_string()), "{object}: {found:?}");
    }
    assert!(merge.operations.contains(Operation::Delete));
    let all = one("MERGE INTO t USING a JOIN b ON a.id = b.id ON true WHEN MATCHED THEN DELETE");
    assert!(all.unbounded, "ON true deletes every matched row");
}

#[test]
fn xmltable_columns_drop_only_names_types_and_options() {
    // Where a type goes, the rewrite takes only names, types and sizes: a call there stops it.
    let call = "SELECT * FROM t, LATERAL xmltable('/r' PASSING t.x COLUMNS a dblink_exec('host=x', 'drop table t') PATH 'a')";
    assert!(unparsable(call));
    let sized =
        one("SELECT * FROM t, LATERAL xmltable('/r' PASSING t.x COLUMNS a numeric(10, 2) PATH 'a', b int[] PATH 'b' NOT NULL)");
    assert_eq!(objects(&sized), ["select:t"]);
    // MySQL's multi-table `t.*` is no descendant star.
    assert!(unparsable("DELETE FROM t1.*, t2.* USING t1 JOIN t2 garbage"));
}
