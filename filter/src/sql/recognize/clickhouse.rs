//! ClickHouse statements sqlparser cannot read: mutations parsed as the DELETE or UPDATE they
//! perform, partition and object drops, TRUNCATE DATABASE, KILL, SYSTEM, EXCHANGE and a
//! trailing FORMAT (see the parent module for why none of them can call a write a read).

use sqlparser::tokenizer::Token;

use super::super::bodies::{add_access, empty_intent, merge_suggested};
use super::super::{bodies, lexical};
use super::super::{Access, Operation};
use super::{alter_partitions, alter_table_header, Found, Part};

/// The statements of a ClickHouse route sqlparser lacks, by their first word.
pub(super) fn clickhouse(part: &Part) -> Option<Found> {
    match part.word(0)?.as_str() {
        "ALTER" => clickhouse_mutation(part).or_else(|| alter_partitions(part)).or_else(|| clickhouse_clear(part)),
        "DELETE" => clickhouse_delete_in_partition(part),
        "DROP" if part.is(1, "QUOTA") || part.is(1, "ROW") || part.is(1, "SETTINGS") || part.is(1, "NAMED") => {
            part.all_simple(2).then(|| empty_intent(&[Operation::Drop])).and_then(Found::intent)
        }
        "DROP" | "DETACH" => clickhouse_drop(part),
        "EXCHANGE" if part.is(1, "TABLES") || part.is(1, "DICTIONARIES") => clickhouse_exchange(part),
        "SELECT" | "WITH" => clickhouse_format(part),
        "TRUNCATE" if part.is(1, "DATABASE") || part.is(1, "ALL") => clickhouse_truncate_database(part),
        "KILL" if part.is(1, "QUERY") || part.is(1, "MUTATION") => clickhouse_kill(part),
        "SYSTEM" if part.word(1).is_some() && part.simple_or_literal(1) => Found::intent(empty_intent(&[Operation::Admin])),
        _ => None,
    }
}

/// ClickHouse {DROP | DETACH} [TEMPORARY] {TABLE | VIEW | DICTIONARY | DATABASE} [IF EXISTS] name
/// [ON CLUSTER c] [PERMANENTLY] [SYNC]: the object is gone for every client (a detached one until
/// ATTACH, or past restarts when PERMANENTLY). Other shapes (several names) are left to the parser.
fn clickhouse_drop(part: &Part) -> Option<Found> {
    let mut i = 1 + usize::from(part.is(1, "TEMPORARY"));
    if !["DICTIONARY", "TABLE", "VIEW", "DATABASE"].iter().any(|k| part.is(i, k)) {
        return None;
    }
    i += 1;
    if part.is(i, "IF") && part.is(i + 1, "EXISTS") {
        i += 2;
    }
    let (name, mut at) = part.name(i)?;
    if part.is(at, "ON") && part.is(at + 1, "CLUSTER") && part.token(at + 2).is_some() {
        at += 3;
    }
    while ["PERMANENTLY", "SYNC"].iter().any(|k| part.is(at, k)) {
        at += 1;
    }
    if at != part.len() {
        return None;
    }
    let mut found = empty_intent(&[]);
    add_access(&mut found, Access { operation: Operation::Drop, object: name });
    Found::intent(found)
}

/// ClickHouse TRUNCATE DATABASE [IF EXISTS] db [ON CLUSTER c] | TRUNCATE ALL TABLES [IF EXISTS]
/// FROM db [[NOT] LIKE 'pattern']: every table of `db` is emptied.
fn clickhouse_truncate_database(part: &Part) -> Option<Found> {
    let mut i = if part.is(1, "DATABASE") {
        2
    } else if part.is(2, "TABLES") {
        3
    } else {
        return None;
    };
    if part.is(i, "IF") && part.is(i + 1, "EXISTS") {
        i += 2;
    }
    if part.is(1, "ALL") {
        if !(part.is(i, "FROM") || part.is(i, "IN")) {
            return None;
        }
        i += 1;
    }
    let (database, at) = part.name(i)?;
    if !part.simple_or_literal(at) {
        return None;
    }
    let mut found = empty_intent(&[]);
    add_access(&mut found, Access { operation: Operation::Truncate, object: database });
    Found::intent(found)
}

/// ClickHouse KILL {QUERY | MUTATION} [ON CLUSTER c] WHERE e [SYNC | ASYNC | TEST]: ends other
/// sessions' queries or mutations. Its WHERE reads system tables; what its tokens suggest is added.
fn clickhouse_kill(part: &Part) -> Option<Found> {
    let where_at = part.top_level(2).into_iter().find(|&k| part.is(k, "WHERE"))?;
    let mut found = empty_intent(&[Operation::Admin]);
    let rest = &part.tokens[*part.solid.get(where_at)?..part.solid.last()? + 1];
    merge_suggested(&mut found, &lexical::suspect(rest, part.offsets, part.dialect));
    Found::intent(found)
}

/// ClickHouse ALTER TABLE t [ON CLUSTER c] {DELETE WHERE e | UPDATE a = v, ... WHERE e}: a
/// mutation, parsed as the `DELETE FROM t WHERE e` or `UPDATE t SET a = v WHERE e` it performs, so
/// its WHERE is judged as theirs. Several commands in one ALTER are left to the parser.
fn clickhouse_mutation(part: &Part) -> Option<Found> {
    let (table, name_end, i) = alter_table_header(part)?;
    let verb = part.word(i)?;
    let top = part.top_level(i);
    if !matches!(verb.as_str(), "DELETE" | "UPDATE") {
        return None;
    }
    let where_at = *top.iter().find(|&&k| part.is(k, "WHERE"))?;
    if top.iter().any(|&k| k > where_at && matches!(part.token(k), Some(Token::Comma))) {
        return None;
    }
    let mut edits: Vec<(usize, Option<&str>)> =
        (name_end..i).chain(in_partition(part, &top, where_at)?).map(|k| (k, None)).collect();
    if verb == "DELETE" {
        edits.extend([(0, Some("DELETE")), (1, Some("FROM")), (i, None)]);
    } else {
        edits.extend([(0, Some("UPDATE")), (1, None), (i, Some("SET"))]);
    }
    let result = part.parse_edited(&edits).map(|mut intent| {
        add_access(&mut intent, Access { operation: Operation::Alter, object: table });
        intent
    });
    Found::of(result)
}

/// The solid indexes of a mutation's `IN PARTITION p` before its WHERE at `where_at` (none when
/// it has none), when `p` is a name or a literal: the mutation is judged without it, as a write
/// of every row of the partition is unbounded there.
fn in_partition(part: &Part, top: &[usize], where_at: usize) -> Option<Vec<usize>> {
    let Some(&at) = top.iter().find(|&&k| k < where_at && part.is(k, "IN") && part.is(k + 1, "PARTITION")) else {
        return Some(Vec::new());
    };
    let plain = (at + 2..where_at).all(|k| part.simple_at(k) || part.token(k).and_then(bodies::literal_text).is_some());
    (plain && at + 2 < where_at).then(|| (at..where_at).collect())
}

/// ClickHouse DELETE FROM t [ON CLUSTER c] IN PARTITION p WHERE e: the DELETE without its
/// partition clause (the parser reads the rest).
fn clickhouse_delete_in_partition(part: &Part) -> Option<Found> {
    let top = part.top_level(0);
    let where_at = *top.iter().find(|&&k| part.is(k, "WHERE"))?;
    let edits: Vec<(usize, Option<&str>)> = in_partition(part, &top, where_at)?.into_iter().map(|k| (k, None)).collect();
    if edits.is_empty() {
        return None;
    }
    Found::of(part.parse_edited(&edits))
}

/// ClickHouse ALTER TABLE t {CLEAR {COLUMN | INDEX | PROJECTION | STATISTICS} | DROP STATISTICS}
/// ... [IN PARTITION p]: ClickHouse's tree calls CLEAR COLUMN a DROP_COLUMN; the values are gone.
fn clickhouse_clear(part: &Part) -> Option<Found> {
    let (table, _, i) = alter_table_header(part)?;
    let kinds = ["COLUMN", "INDEX", "PROJECTION", "STATISTICS"];
    let clears =
        part.is(i, "CLEAR") && kinds.iter().any(|k| part.is(i + 1, k)) || part.is(i, "DROP") && part.is(i + 1, "STATISTICS");
    if !clears || !part.simple_or_literal(i + 2) || i + 2 >= part.len() {
        return None;
    }
    let mut found = empty_intent(&[]);
    add_access(&mut found, Access { operation: Operation::Alter, object: table.clone() });
    add_access(&mut found, Access { operation: Operation::Drop, object: table });
    Found::intent(found)
}

/// ClickHouse EXCHANGE {TABLES | DICTIONARIES} a AND b [ON CLUSTER c]: both are altered, as by RENAME.
fn clickhouse_exchange(part: &Part) -> Option<Found> {
    let (first, at) = part.name(2)?;
    if !part.is(at, "AND") {
        return None;
    }
    let (second, end) = part.name(at + 1)?;
    let cluster = part.is(end, "ON") && part.is(end + 1, "CLUSTER") && end + 3 == part.len();
    if !(end == part.len() || cluster) {
        return None;
    }
    let mut found = empty_intent(&[]);
    add_access(&mut found, Access { operation: Operation::Alter, object: first });
    add_access(&mut found, Access { operation: Operation::Alter, object: second });
    Found::intent(found)
}

/// ClickHouse SELECT ... FORMAT f: the output format, which changes nothing of what is read.
fn clickhouse_format(part: &Part) -> Option<Found> {
    let last = part.len().checked_sub(1)?;
    let format = last.checked_sub(1).filter(|&k| part.is(k, "FORMAT") && part.top_level(0).contains(&k))?;
    if !matches!(part.token(last), Some(Token::Word(_))) {
        return None;
    }
    Found::of(part.parse_edited(&[(format, None), (last, None)]))
}
