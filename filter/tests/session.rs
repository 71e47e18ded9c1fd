//! A statement read as its session reads it: the settings that move where a string ends
//! (`standard_conforming_strings`, `sql_mode`), and the search path an unqualified name resolves
//! on (`SET search_path`, `set_config`, `USE`, the route's `sql.search_path`).
//!
//! Each hiding text below is one the other reading takes for a harmless string: the test fails if
//! the session's reading is not the one used.

use access_guardrails::engine::evaluate_sql;
use access_guardrails::identity::{resolve, Actor, WireAttributes};
use access_guardrails::policy::{Effect, Policy};
use access_guardrails::sql::{analyze_each_as, Dialect, Lexing, Operation, SearchPath, Settings};

fn policy(protocol: &str, route_sql: &str) -> Policy {
    let text = format!(
        r#"{{"version": 1, "protocol": "{protocol}",
            "routes": [{{"name": "db", "match": {{}}, "sql": {route_sql}, "default": "allow",
                         "rules": ["no-drops", "no-secret-deletes"]}}],
            "rules": [
              {{"name": "no-drops", "effect": "deny", "when": {{"sql": {{"operations": ["drop"]}}}}}},
              {{"name": "no-secret-deletes", "effect": "deny",
                "when": {{"sql": {{"operations": ["delete"], "tables": ["secret.*"]}}}}}}]}}"#
    );
    Policy::from_json(&text).unwrap_or_else(|e| panic!("{e:?}"))
}

fn actor(policy: &Policy) -> Actor {
    let params = [("user".to_string(), "app".to_string())];
    resolve(&policy.identity, &WireAttributes { params: &params, peer_spiffe: None })
}

/// The deciding rule (empty for the route's default), or `None` for an allow.
fn denied_by(policy: &Policy, text: &str, settings: &Settings) -> Option<String> {
    let outcome = evaluate_sql(policy, &policy.routes[0], &actor(policy), text, settings, None);
    (outcome.decision.effect == Effect::Deny).then(|| outcome.decision.rule.unwrap_or_default())
}

fn lexed(dialect: Dialect, lexings: &[Lexing]) -> Settings {
    Settings { lexings: lexings.to_vec(), search_path: SearchPath::server_default(dialect) }
}

const PG_OFF: Lexing = Lexing { backslash_escapes: true, ansi_quotes: true };
const PG_ON: Lexing = Lexing { backslash_escapes: false, ansi_quotes: true };

#[test]
fn standard_conforming_strings_off_reads_backslash_escapes() {
    let pg = policy("postgres", r#"{"dialect": "postgres"}"#);
    // With escapes: the string is `x'`, and the DROP runs. Without: `\` is a character and `''`
    // a quote, so it is all one string.
    let hidden = r"SELECT 'x\'' ; DROP TABLE t; --'";
    assert_eq!(denied_by(&pg, hidden, &lexed(Dialect::Postgres, &[PG_ON])), None);
    assert_eq!(denied_by(&pg, hidden, &lexed(Dialect::Postgres, &[PG_OFF])).as_deref(), Some("no-drops"));
    // Not sure which: each reading is judged, and the deny stands.
    assert_eq!(denied_by(&pg, hidden, &lexed(Dialect::Postgres, &[PG_ON, PG_OFF])).as_deref(), Some("no-drops"));
    assert_eq!(denied_by(&pg, hidden, &lexed(Dialect::Postgres, &[PG_OFF, PG_ON])).as_deref(), Some("no-drops"));
    // The other way round: hidden from the default reading, visible to the session's.
    let visible = r"SELECT 'x\' ; DROP TABLE t; --'";
    assert_eq!(denied_by(&pg, visible, &lexed(Dialect::Postgres, &[PG_ON])).as_deref(), Some("no-drops"));
    assert_eq!(denied_by(&pg, visible, &lexed(Dialect::Postgres, &[PG_OFF])), None);
    // E'' strings take escapes in either reading.
    let escaped = r"SELECT E'x\' ; DROP TABLE t; --'";
    for lexing in [PG_ON, PG_OFF] {
        assert_eq!(denied_by(&pg, escaped, &lexed(Dialect::Postgres, &[lexing])), None, "{lexing:?}");
    }
}

#[test]
fn mysql_sql_mode_changes_where_strings_end() {
    let my = policy("mysql", r#"{"dialect": "mysql", "search_path": ["shop"]}"#);
    let default = Lexing::default_for(Dialect::Mysql);
    assert_eq!(default, Lexing { backslash_escapes: true, ansi_quotes: false });
    let no_backslash = Lexing { backslash_escapes: false, ..default };
    let ansi = Lexing { ansi_quotes: true, ..default };
    let cases = [
        // NO_BACKSLASH_ESCAPES: the backslash no longer escapes the quote.
        (r"SELECT 'x\' ; DROP TABLE t; -- '", default, no_backslash),
        // ANSI_QUOTES: "..." is an identifier, which takes no escapes.
        (r#"SELECT "x\" ; DROP TABLE t; -- ""#, default, ansi),
    ];
    for (text, harmless, session) in cases {
        let settings = |l: &[Lexing]| Settings { lexings: l.to_vec(), search_path: SearchPath::Unknown };
        assert_eq!(denied_by(&my, text, &settings(&[harmless])), None, "{text}");
        assert_eq!(denied_by(&my, text, &settings(&[session])).as_deref(), Some("no-drops"), "{text}");
        assert_eq!(denied_by(&my, text, &settings(&[harmless, session])).as_deref(), Some("no-drops"), "{text}");
    }
    // A text with no quote character reads the same in every mode.
    let plain = "SELECT id FROM orders WHERE id = 1";
    for lexing in [default, no_backslash, ansi] {
        let ops = analyze_each_as(plain, Dialect::Mysql, lexing)[0].as_ref().unwrap().operations;
        assert!(ops.contains(Operation::Select) && !ops.contains(Operation::Drop));
    }
}

#[test]
fn an_unqualified_name_resolves_on_the_search_path_set_before_it() {
    let pg = policy("postgres", r#"{"dialect": "postgres"}"#);
    let default = Settings::default_for(Dialect::Postgres);
    let server = lexed(Dialect::Postgres, &[PG_ON]);
    let unknown = default.clone();
    assert_eq!(unknown.search_path, SearchPath::Unknown);
    // The server default ("$user", public): `keys` is not secret.keys.
    assert_eq!(denied_by(&pg, "DELETE FROM keys WHERE id = 1", &server), None);
    // Unknown: it may be in any schema, secret among them.
    assert_eq!(denied_by(&pg, "DELETE FROM keys WHERE id = 1", &unknown).as_deref(), Some("no-secret-deletes"));
    for text in [
        "SET search_path = secret; DELETE FROM keys WHERE id = 1",
        "SET search_path TO public, secret; DELETE FROM keys WHERE id = 1",
        "SET SESSION search_path = 'public, \"secret\"'; DELETE FROM keys WHERE id = 1",
        "SELECT pg_catalog.set_config('search_path', 'secret', false); DELETE FROM keys WHERE id = 1",
        // Not a literal: unknown from there on.
        "SELECT set_config('search' || '_path', 'secret', false); DELETE FROM keys WHERE id = 1",
        "SET LOCAL search_path = secret; DELETE FROM keys WHERE id = 1",
        "SET search_path = app; RESET search_path; DELETE FROM keys WHERE id = 1",
        "SET search_path = app; DISCARD ALL; DELETE FROM keys WHERE id = 1",
        // A quoted parameter name is the same parameter: pglast (PostgreSQL's parser) reads
        // `SET "search_path" TO secret` as VariableSetStmt name='search_path'.
        "SET \"search_path\" TO secret; DELETE FROM keys WHERE id = 1",
        "SET \"Search_Path\" = secret; DELETE FROM keys WHERE id = 1",
    ] {
        assert_eq!(denied_by(&pg, text, &server).as_deref(), Some("no-secret-deletes"), "{text}");
    }
    // Before the SET, and with a path that leaves secret out, the name is elsewhere.
    assert_eq!(denied_by(&pg, "DELETE FROM keys WHERE id = 1; SET search_path = secret", &server), None);
    assert_eq!(denied_by(&pg, "SET search_path = app, public; DELETE FROM keys WHERE id = 1", &server), None);
    // A qualified name is what it says, whatever the path.
    assert_eq!(denied_by(&pg, "SET search_path = secret; DELETE FROM public.keys WHERE id = 1", &server), None);
    // The route can declare the server's path.
    let declared = policy("postgres", r#"{"dialect": "postgres", "search_path": ["secret", "public"]}"#);
    let route_path = match &declared.routes[0].payload {
        access_guardrails::policy::Payload::Sql(sql) => sql.search_path.clone(),
        _ => unreachable!(),
    };
    let settings = Settings { lexings: vec![PG_ON], search_path: route_path };
    assert_eq!(denied_by(&declared, "DELETE FROM keys WHERE id = 1", &settings).as_deref(), Some("no-secret-deletes"));
}

#[test]
fn use_moves_a_mysql_session_to_another_database() {
    let my = policy("mysql", r#"{"dialect": "mysql"}"#);
    let shop = Settings { lexings: Vec::new(), search_path: SearchPath::known(Dialect::Mysql, vec!["shop".into()]) };
    assert_eq!(denied_by(&my, "DELETE FROM keys WHERE id = 1", &shop), None);
    assert_eq!(denied_by(&my, "USE secret; DELETE FROM keys WHERE id = 1", &shop).as_deref(), Some("no-secret-deletes"));
    assert_eq!(denied_by(&my, "USE `Secret`; DELETE FROM keys WHERE id = 1", &shop).as_deref(), Some("no-secret-deletes"));
    assert_eq!(denied_by(&my, "USE secret; USE shop; DELETE FROM keys WHERE id = 1", &shop), None);
}

#[test]
fn allow_rules_must_cover_every_schema_a_name_may_be_in() {
    let text = r#"{"version": 1, "protocol": "postgres",
        "routes": [{"name": "db", "match": {}, "sql": {"dialect": "postgres", "search_path": ["app", "public"]},
                    "default": "deny", "rules": ["public-reads"]}],
        "rules": [{"name": "public-reads", "effect": "allow",
                   "when": {"sql": {"operations": ["select"], "tables": ["public.*"]}}}]}"#;
    let pg = Policy::from_json(text).unwrap_or_else(|e| panic!("{e:?}"));
    let path = |schemas: &[&str]| Settings {
        lexings: Vec::new(),
        search_path: SearchPath::known(Dialect::Postgres, schemas.iter().map(|s| s.to_string()).collect()),
    };
    // `orders` may be app.orders, which the rule does not allow.
    assert_eq!(denied_by(&pg, "SELECT id FROM orders", &path(&["app", "public"])).as_deref(), Some(""));
    assert_eq!(denied_by(&pg, "SELECT id FROM orders", &path(&["public"])), None);
    // pg_catalog is searched first, but an allow rule does not need to name it.
    assert_eq!(denied_by(&pg, "SELECT id FROM public.orders", &path(&["app"])), None);
    // Unknown: an allow never assumes the schema.
    let unknown = Settings { lexings: Vec::new(), search_path: SearchPath::Unknown };
    assert_eq!(denied_by(&pg, "SELECT id FROM orders", &unknown).as_deref(), Some(""));
}

#[test]
fn an_invalid_search_path_is_refused_with_its_json_path() {
    let text =
        r#"{"version": 1, "routes": [{"name": "db", "match": {}, "sql": {"dialect": "postgres", "search_path": ["a, b"]}}]}"#;
    let error = format!("{:?}", Policy::from_json(text).unwrap_err());
    assert!(error.contains("routes[0].sql.search_path[0]"), "{error}");
}

#[test]
fn a_text_that_moves_to_another_database_is_decided_on_its_route_too() {
    let text = r#"{"version": 1, "protocol": "mysql",
        "routes": [{"name": "shop", "match": {"database": "shop"}, "default": "allow", "rules": ["no-deletes"]},
                   {"name": "scratch", "match": {}, "default": "allow"}],
        "rules": [{"name": "no-deletes", "effect": "deny", "when": {"sql": {"operations": ["delete"]}}}]}"#;
    let my = Policy::from_json(text).unwrap_or_else(|e| panic!("{e:?}"));
    let route_of = |database: &str| my.connection_route(database, "app");
    let settings = Settings { lexings: Vec::new(), search_path: SearchPath::known(Dialect::Mysql, vec!["scratch".into()]) };
    let decide = |text: &str| {
        let (route, outcome) =
            access_guardrails::engine::evaluate_session_sql(&my, 1, &route_of, &actor(&my), text, &settings, None);
        (my.routes[route].name.clone(), outcome.decision.effect)
    };
    assert_eq!(decide("DELETE FROM notes WHERE id = 1"), ("scratch".into(), Effect::Allow));
    assert_eq!(decide("USE shop; DELETE FROM orders WHERE id = 1"), ("shop".into(), Effect::Deny));
    assert_eq!(decide("USE `SHOP`; DELETE FROM orders WHERE id = 1"), ("shop".into(), Effect::Deny));
    assert_eq!(decide("USE other; DELETE FROM orders WHERE id = 1"), ("scratch".into(), Effect::Allow));
}

#[test]
fn a_mysql_text_that_changes_its_own_reading_is_read_every_way() {
    let my = policy("mysql", r#"{"dialect": "mysql", "search_path": ["shop"]}"#);
    let settings = Settings { lexings: Vec::new(), search_path: SearchPath::Unknown };
    // MySQL reads each statement of a text with the sql_mode the ones before it left.
    let hidden = r"SET sql_mode = 'NO_BACKSLASH_ESCAPES'; SELECT 'x\' ; DROP TABLE t; -- '";
    assert_eq!(denied_by(&my, hidden, &settings).as_deref(), Some("no-drops"));
    let hidden = r#"SET SESSION sql_mode = 'ANSI_QUOTES'; SELECT "x\" ; DROP TABLE t; -- ""#;
    assert_eq!(denied_by(&my, hidden, &settings).as_deref(), Some("no-drops"));
    // A backquoted variable name is the same variable (MySQL's grammar reads `internal_variable_name`
    // as an `ident`, quoted or not): the mode still changes for the statements after it.
    let hidden = r"SET `sql_mode` = 'NO_BACKSLASH_ESCAPES'; SELECT 'x\' ; DROP TABLE t; -- '";
    assert_eq!(denied_by(&my, hidden, &settings).as_deref(), Some("no-drops"));
    let hidden = r#"SET @@session.`SQL_MODE` = 'ANSI_QUOTES'; SELECT "x\" ; DROP TABLE t; -- ""#;
    assert_eq!(denied_by(&my, hidden, &settings).as_deref(), Some("no-drops"));
    // An EXECUTE may run the mode change the analyzer does not see.
    let hidden = r#"PREPARE s FROM @mode; EXECUTE s; SELECT "x\" ; DROP TABLE t; -- ""#;
    assert_eq!(denied_by(&my, hidden, &settings).as_deref(), Some("no-drops"));
    // The same strings without a mode change read as the session does: harmless.
    assert_eq!(denied_by(&my, r"SELECT 1; SELECT 'x\' ; DROP TABLE t; -- '", &settings), None);
    // A character set changed before non-ASCII text that was decoded in the old one.
    let charset = "SET NAMES gbk; SELECT '¿\\' ; DROP TABLE t; -- '";
    assert_eq!(denied_by(&my, charset, &settings).as_deref(), Some("limits.on_unparsable"));
    assert_eq!(denied_by(&my, "SET NAMES utf8mb4; SELECT 1", &settings), None);
    // Postgres lexes the whole text before it runs any of it.
    let pg = policy("postgres", r#"{"dialect": "postgres"}"#);
    let pg_hidden = r"SET standard_conforming_strings = off; SELECT 'x\' ; DROP TABLE t; --'";
    assert_eq!(denied_by(&pg, pg_hidden, &lexed(Dialect::Postgres, &[PG_ON])).as_deref(), Some("no-drops"));
}

#[test]
fn an_unreadable_set_of_a_lexing_setting_makes_the_rest_read_every_way() {
    // `SET @@`sql_mode`` is MariaDB the parser cannot read. Where a policy lets unreadable SQL
    // through, the mode it may have set still decides how the statements after it read.
    let lenient = Policy::from_json(
        r#"{"version": 1, "protocol": "mysql", "limits": {"on_unparsable": "allow"},
            "routes": [{"name": "db", "match": {}, "sql": {"dialect": "mysql"}, "default": "allow", "rules": ["no-drops"]}],
            "rules": [{"name": "no-drops", "effect": "deny", "when": {"sql": {"operations": ["drop"]}}}]}"#,
    )
    .unwrap_or_else(|e| panic!("{e:?}"));
    let settings = Settings { lexings: Vec::new(), search_path: SearchPath::Unknown };
    let hidden = r#"SET @@`sql_mode` = 'ANSI_QUOTES'; SELECT "x\" ; DROP TABLE t; -- ""#;
    assert_eq!(denied_by(&lenient, hidden, &settings).as_deref(), Some("no-drops"));
    let hidden = r"SET @@`SQL_MODE` = 'NO_BACKSLASH_ESCAPES'; SELECT 'x\' ; DROP TABLE t; -- '";
    assert_eq!(denied_by(&lenient, hidden, &settings).as_deref(), Some("no-drops"));
}
