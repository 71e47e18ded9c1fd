//! Is a WHERE clause always true? Constant folding for the `unbounded` check.
//!
//! Only what can be decided without data is decided: literals (hex and bit ones too) and their
//! comparisons, boolean logic, casts and collations of constants, deterministic functions of
//! constants (`abs(1)`, `coalesce(1, 0)`), scalar subqueries of constants (`(SELECT 1)`), and
//! predicates that hold for every non-NULL value whatever it is: a pure expression compared with
//! itself (`x = x`, `lower(x) = lower(x)`, `id = id + 0`), `x LIKE '%'`, `x GLOB '*'`,
//! `x IN (x)`, `x IS NULL OR x IS NOT NULL`, comparisons with constants that leave no value out
//! (`id > 0 OR id <= 0`). Such a WHERE filters on nothing but NULLs, so it counts
//! as always true; `x IS NOT NULL` alone is a filter on the data and does not. The top level is
//! flattened iteratively, so `a = 1 OR ... OR 1 = 1` is caught however long the chain; below that,
//! folding gives up (answers "unknown") past a small depth rather than recursing further.

use sqlparser::ast::{
    BinaryOperator, CastKind, Expr, FunctionArg, FunctionArgExpr, FunctionArguments, InTarget, Query, SetExpr, UnaryOperator,
    Value,
};

const MAX_DEPTH: usize = 32;
/// The most constants the conditions on one expression are checked with (see [`covers_every_value`]).
const MAX_CONSTANTS: usize = 256;

#[derive(Clone, Debug, PartialEq)]
enum Const {
    Bool(bool),
    Num(f64),
    Str(String),
    Null,
    /// Depends on the data.
    Unknown,
}

impl Const {
    /// MySQL and SQLite read numbers and strings as truth values; so do we, since a filter that
    /// guesses "false" would wave a `WHERE 1` or `WHERE '1abc'` through.
    fn truth(&self) -> Option<bool> {
        match self {
            Const::Bool(b) => Some(*b),
            Const::Null => Some(false),
            Const::Unknown => None,
            other => other.number().map(|n| n != 0.0),
        }
    }

    /// As MySQL converts: a string is its leading number (`'1abc'` is 1, `'x'` is 0).
    fn number(&self) -> Option<f64> {
        match self {
            Const::Num(n) => Some(*n),
            Const::Bool(b) => Some(if *b { 1.0 } else { 0.0 }),
            Const::Str(s) => Some(leading_number(s)),
            _ => None,
        }
    }
}

/// True when the predicate holds for every row (treating NULL-only exceptions as holding: an
/// `id = id` filter still touches every row that has an id).
pub(crate) fn always_true(predicate: &Expr) -> bool {
    let disjuncts = flatten(predicate, BinaryOperator::Or);
    if disjuncts.iter().any(|d| fold(d, 0).truth() == Some(true)) {
        return true;
    }
    complementary_null_checks(&disjuncts) || complementary_comparisons(&disjuncts)
}

/// The operands of a chain of `op` (with parentheses removed), without recursion.
fn flatten(expr: &Expr, op: BinaryOperator) -> Vec<&Expr> {
    let mut operands = Vec::new();
    let mut pending = vec![expr];
    while let Some(e) = pending.pop() {
        match e {
            Expr::Nested(inner) => pending.push(inner),
            Expr::BinaryOp { left, op: o, right } if *o == op => {
                pending.push(right);
                pending.push(left);
            }
            other => operands.push(other),
        }
    }
    operands
}

/// `x IS NULL OR x IS NOT NULL` (in any order, among other disjuncts).
fn complementary_null_checks(disjuncts: &[&Expr]) -> bool {
    // `x IS NULL` as (x, true), `x IS NOT NULL` / `NOT (x IS NULL)` as (x, false).
    fn null_test(e: &Expr) -> Option<(&Expr, bool)> {
        match e {
            Expr::Nested(inner) => null_test(inner),
            Expr::IsNull(x) => Some((x, true)),
            Expr::IsNotNull(x) => Some((x, false)),
            Expr::UnaryOp { op: UnaryOperator::Not, expr } => null_test(expr).map(|(x, is_null)| (x, !is_null)),
            _ => None,
        }
    }
    let tests: Vec<(&Expr, bool)> = disjuncts.iter().take(256).filter_map(|d| null_test(d)).collect();
    tests.iter().any(|(x, is_null)| tests.iter().any(|(y, other)| is_null != other && same_column_expression(x, y)))
}

/// What a disjunct says of one expression, with constants: `x op c`, `x [NOT] BETWEEN lo AND
/// hi`, `x [NOT] IN (c, ...)`.
enum Condition {
    Compare(BinaryOperator, Const),
    Between { low: Const, high: Const, negated: bool },
    In { list: Vec<Const>, negated: bool },
}

impl Condition {
    fn constants(&self) -> Vec<&Const> {
        match self {
            Condition::Compare(_, c) => vec![c],
            Condition::Between { low, high, .. } => vec![low, high],
            Condition::In { list, .. } => list.iter().collect(),
        }
    }

    /// Whether it holds for a value that compares with each constant as `order_with` says.
    fn holds(&self, order_with: impl Fn(&Const) -> Option<std::cmp::Ordering>) -> bool {
        match self {
            Condition::Compare(op, c) => order_with(c).is_some_and(|order| compares(op, order)),
            Condition::Between { low, high, negated } => match (order_with(low), order_with(high)) {
                (Some(low), Some(high)) => (low.is_ge() && high.is_le()) != *negated,
                _ => false,
            },
            Condition::In { list, negated } => match list.iter().map(&order_with).collect::<Option<Vec<_>>>() {
                Some(orders) => orders.iter().any(|o| o.is_eq()) != *negated,
                None => false,
            },
        }
    }

    /// Only equality asks of a value: its order among the constants does not matter.
    fn is_equality(&self) -> bool {
        matches!(self, Condition::Compare(BinaryOperator::Eq | BinaryOperator::NotEq, _) | Condition::In { .. })
    }
}

fn compares(op: &BinaryOperator, order: std::cmp::Ordering) -> bool {
    match op {
        BinaryOperator::Lt => order.is_lt(),
        BinaryOperator::LtEq => order.is_le(),
        BinaryOperator::Gt => order.is_gt(),
        BinaryOperator::GtEq => order.is_ge(),
        BinaryOperator::Eq => order.is_eq(),
        _ => order.is_ne(),
    }
}

/// Conditions on one pure expression that leave no value out: `id > 0 OR id <= 0`, `id <> 5 OR
/// id = 5`, `x < 'm' OR x >= 'm'`, `id BETWEEN 0 AND 9 OR id < 0 OR id > 9`, `id IN (1, 2) OR
/// id NOT IN (1, 2)`. With numbers the union is checked at every constant and between them;
/// with strings, equality at every constant and apart from all, order only when every constant
/// is the same one, since their order is the collation's.
fn complementary_comparisons(disjuncts: &[&Expr]) -> bool {
    // The conditions by the expression they are on, each expression's checked once.
    let mut on: Vec<(&Expr, Vec<Condition>)> = Vec::new();
    for (x, condition) in disjuncts.iter().take(256).filter_map(|d| condition_with_constants(d)) {
        match on.iter_mut().find(|(y, _)| same_column_expression(x, y)) {
            Some((_, conditions)) => conditions.push(condition),
            None => on.push((x, vec![condition])),
        }
    }
    on.iter().any(|(_, conditions)| covers_every_value(conditions))
}

/// `x op constant` or `constant op x` (turned around), for the six comparisons; `x [NOT]
/// BETWEEN` and `x [NOT] IN` constants. Every constant is a number or a string (a NULL in a
/// `NOT IN` list makes it never true).
fn condition_with_constants(expr: &Expr) -> Option<(&Expr, Condition)> {
    let constant = |e: &Expr| Some(fold(e, 0)).filter(|c| matches!(c, Const::Num(_) | Const::Str(_)));
    match plain(expr, 0) {
        Expr::Between { expr, negated, low, high } if constant(expr).is_none() => {
            Some((expr, Condition::Between { low: constant(low)?, high: constant(high)?, negated: *negated }))
        }
        Expr::In { expr, target: InTarget::List(list), negated, .. } if constant(expr).is_none() && !list.is_empty() => {
            // A list cut short would be true of more values than it is: a longer one is not read.
            if list.len() > MAX_CONSTANTS {
                return None;
            }
            let list = list.iter().map(constant).collect::<Option<Vec<_>>>()?;
            Some((expr, Condition::In { list, negated: *negated }))
        }
        Expr::BinaryOp { left, op, right } => {
            let flipped = match op {
                BinaryOperator::Lt => BinaryOperator::Gt,
                BinaryOperator::LtEq => BinaryOperator::GtEq,
                BinaryOperator::Gt => BinaryOperator::Lt,
                BinaryOperator::GtEq => BinaryOperator::LtEq,
                BinaryOperator::Eq | BinaryOperator::NotEq => op.clone(),
                _ => return None,
            };
            match (constant(left), constant(right)) {
                (None, Some(c)) => Some((left.as_ref(), Condition::Compare(op.clone(), c))),
                (Some(c), None) => Some((right.as_ref(), Condition::Compare(flipped, c))),
                _ => None,
            }
        }
        _ => None,
    }
}

fn same_string(a: &Const, b: &Const, loose: bool) -> bool {
    match (a, b) {
        (Const::Str(a), Const::Str(b)) if loose => {
            a.trim_end_matches(' ').to_lowercase() == b.trim_end_matches(' ').to_lowercase()
        }
        _ => a == b,
    }
}

/// Whether some condition of the list holds whatever `x` is (not NULL).
fn covers_every_value(conditions: &[Condition]) -> bool {
    use std::cmp::Ordering::{Equal, Less};
    let constants: Vec<&Const> = conditions.iter().flat_map(|c| c.constants()).collect();
    // Each probe reads every constant: past this many, the clause is left to count as a filter.
    if constants.len() > MAX_CONSTANTS {
        return false;
    }
    let numbers: Option<Vec<f64>> = constants.iter().map(|c| if let Const::Num(n) = c { Some(*n) } else { None }).collect();
    let covered_at = |order_with: &dyn Fn(&Const) -> Option<std::cmp::Ordering>| conditions.iter().any(|c| c.holds(order_with));
    if let Some(mut points) = numbers {
        // Every piece of the line the constants cut it into: each constant, between two, beyond both ends.
        points.sort_by(f64::total_cmp);
        let between = points.windows(2).map(|w| (w[0] + w[1]) / 2.0);
        let ends = [points.first().map(|p| p - 1.0), points.last().map(|p| p + 1.0)].into_iter().flatten();
        let probes: Vec<f64> = points.iter().copied().chain(between).chain(ends).collect();
        return !probes.is_empty() && probes.into_iter().all(|v| covered_at(&|c| c.number().map(|c| v.total_cmp(&c))));
    }
    if conditions.is_empty() {
        return false;
    }
    if conditions.iter().all(|c| c.is_equality()) {
        // Each constant, and a value equal to none of them; as a binary collation compares and as
        // a case-insensitive, space-padded one does (`'a' = 'A '` in MySQL's default).
        let apart = covered_at(&|_| Some(std::cmp::Ordering::Less));
        return apart
            && [false, true].into_iter().any(|loose| {
                constants.iter().all(|v| covered_at(&|c| Some(if same_string(c, v, loose) { Equal } else { Less })))
            });
    }
    let same = constants.windows(2).all(|w| w[0] == w[1]);
    let orders = [std::cmp::Ordering::Less, std::cmp::Ordering::Equal, std::cmp::Ordering::Greater];
    same && orders.into_iter().all(|order| covered_at(&|_| Some(order)))
}

fn fold(expr: &Expr, depth: usize) -> Const {
    if depth > MAX_DEPTH {
        return Const::Unknown;
    }
    let next = depth + 1;
    match expr {
        Expr::Value(v) => literal(&v.value),
        Expr::Nested(inner) => fold(inner, next),
        Expr::Cast { kind: CastKind::Cast | CastKind::DoubleColon | CastKind::TryCast | CastKind::SafeCast, expr, .. } => {
            fold(expr, next)
        }
        Expr::UnaryOp { op, expr } => unary(op, fold(expr, next)),
        Expr::BinaryOp { left, op, right } => fold_binary(expr, left, op, right, next),
        Expr::IsNull(inner) => match fold(inner, next) {
            Const::Unknown => Const::Unknown,
            v => Const::Bool(v == Const::Null),
        },
        Expr::IsNotNull(inner) => match fold(inner, next) {
            Const::Unknown => Const::Unknown,
            v => Const::Bool(v != Const::Null),
        },
        Expr::IsTrue(inner) | Expr::IsNotFalse(inner) => fold(inner, next).truth().map_or(Const::Unknown, Const::Bool),
        Expr::IsFalse(inner) | Expr::IsNotTrue(inner) => fold(inner, next).truth().map_or(Const::Unknown, |b| Const::Bool(!b)),
        Expr::IsNotDistinctFrom(a, b) if same_column_expression(a, b) => Const::Bool(true),
        Expr::IsDistinctFrom(a, b) if same_column_expression(a, b) => Const::Bool(false),
        Expr::SimilarTo { negated: false, pattern, .. } => match fold(pattern, next) {
            Const::Str(p) if !p.is_empty() && p.chars().all(|c| c == '%') => Const::Bool(true),
            _ => Const::Unknown,
        },
        // `EXISTS (SELECT 1)`: a subquery with no table and no filter always has a row.
        Expr::Exists { subquery, negated } => match &*subquery.body {
            sqlparser::ast::SetExpr::Select(select)
                if select.from.is_empty() && select.selection.is_none() && select.having.is_none() =>
            {
                Const::Bool(!negated)
            }
            _ => Const::Unknown,
        },
        Expr::Between { expr, negated, low, high } => {
            let (v, lo, hi) = (fold(expr, next), fold(low, next), fold(high, next));
            match (v.number(), lo.number(), hi.number()) {
                (Some(v), Some(lo), Some(hi)) => Const::Bool((lo <= v && v <= hi) != *negated),
                _ => Const::Unknown,
            }
        }
        Expr::In { expr, target: InTarget::List(list), negated, .. } => fold_in_list(expr, list, *negated, next),
        Expr::Like { negated: false, expr, pattern, .. } | Expr::ILike { negated: false, expr, pattern, .. } => {
            fold_like(expr, pattern, next)
        }
        _ => fold_more(expr, next),
    }
}

/// The forms `fold` hands on: collations, subqueries, functions, CASE.
fn fold_more(expr: &Expr, next: usize) -> Const {
    match expr {
        // A collation changes how strings compare, not whether a constant is true.
        Expr::Collate { expr, .. } => fold(expr, next),
        Expr::Subquery(query) => scalar_subquery(query).map_or(Const::Unknown, |e| fold(e, next)),
        Expr::Function(function) => {
            let Some(name) = function.name.0.last().and_then(|p| p.as_ident()).map(|i| i.value.to_ascii_lowercase()) else {
                return Const::Unknown;
            };
            let FunctionArguments::List(list) = &function.args else { return Const::Unknown };
            if function.filter.is_some() || function.over.is_some() || !list.clauses.is_empty() {
                return Const::Unknown;
            }
            let args: Option<Vec<Const>> = list.args.iter().map(|a| argument(a).map(|e| fold(e, next))).collect();
            args.map_or(Const::Unknown, |args| call(&name, &args))
        }
        Expr::Case { operand, conditions, else_result, .. } => {
            let operand = operand.as_ref().map(|o| fold(o, next));
            for when in conditions {
                let hit = match &operand {
                    Some(value) => equal(value, &fold(&when.condition, next)),
                    None => fold(&when.condition, next).truth(),
                };
                match hit {
                    Some(true) => return fold(&when.result, next),
                    Some(false) => {}
                    None => return Const::Unknown,
                }
            }
            else_result.as_ref().map_or(Const::Null, |e| fold(e, next))
        }
        _ => Const::Unknown,
    }
}

/// The one expression of `(SELECT expr)`: no table, filter, grouping or limit, so one row.
fn scalar_subquery(query: &Query) -> Option<&Expr> {
    let SetExpr::Select(select) = &*query.body else { return None };
    let plain = query.with.is_none() && query.limit_clause.is_none() && query.fetch.is_none();
    if !(plain && select.from.is_empty() && select.selection.is_none() && select.having.is_none()) {
        return None;
    }
    match select.projection.as_slice() {
        [sqlparser::ast::SelectItem::UnnamedExpr(e) | sqlparser::ast::SelectItem::ExprWithAlias { expr: e, .. }] => Some(e),
        _ => None,
    }
}

fn argument(arg: &FunctionArg) -> Option<&Expr> {
    match arg {
        FunctionArg::Unnamed(FunctionArgExpr::Expr(e)) => Some(e),
        _ => None,
    }
}

/// Deterministic functions of constants, as the servers compute them where it decides truth.
fn call(name: &str, args: &[Const]) -> Const {
    if args.contains(&Const::Unknown) {
        return Const::Unknown;
    }
    let first = args.first();
    let number = first.and_then(Const::number);
    match (name, args.len()) {
        ("coalesce" | "ifnull" | "nvl", _) => args.iter().find(|a| **a != Const::Null).cloned().unwrap_or(Const::Null),
        ("nullif", 2) => match equal(&args[0], &args[1]) {
            Some(true) => Const::Null,
            Some(false) => args[0].clone(),
            None => Const::Unknown,
        },
        ("if" | "iif", 3) => match args[0].truth() {
            Some(true) => args[1].clone(),
            Some(false) => args[2].clone(),
            None => Const::Unknown,
        },
        (_, _) if args.contains(&Const::Null) => Const::Null,
        ("abs", 1) => number.map_or(Const::Unknown, |n| Const::Num(n.abs())),
        ("sign", 1) => number.map_or(Const::Unknown, |n| Const::Num(if n == 0.0 { 0.0 } else { n.signum() })),
        ("ceil" | "ceiling", 1) => number.map_or(Const::Unknown, |n| Const::Num(n.ceil())),
        ("floor", 1) => number.map_or(Const::Unknown, |n| Const::Num(n.floor())),
        ("round", 1) => number.map_or(Const::Unknown, |n| Const::Num(n.round())),
        ("length" | "char_length" | "character_length" | "len", 1) => match first {
            Some(Const::Str(s)) => Const::Num(s.chars().count() as f64),
            _ => Const::Unknown,
        },
        ("lower" | "lcase", 1) => text_of(first).map_or(Const::Unknown, |s| Const::Str(s.to_lowercase())),
        ("upper" | "ucase", 1) => text_of(first).map_or(Const::Unknown, |s| Const::Str(s.to_uppercase())),
        ("trim", 1) => text_of(first).map_or(Const::Unknown, |s| Const::Str(s.trim().to_string())),
        ("greatest" | "max", n) if n > 1 => extreme(args, std::cmp::Ordering::Greater),
        ("least" | "min", n) if n > 1 => extreme(args, std::cmp::Ordering::Less),
        _ => Const::Unknown,
    }
}

fn text_of(value: Option<&Const>) -> Option<&str> {
    match value {
        Some(Const::Str(s)) => Some(s),
        _ => None,
    }
}

/// The greatest or least of numbers; unknown when any is not a number.
fn extreme(args: &[Const], wanted: std::cmp::Ordering) -> Const {
    let numbers: Option<Vec<f64>> = args.iter().map(Const::number).collect();
    let Some(numbers) = numbers else { return Const::Unknown };
    numbers.into_iter().reduce(|a, b| if b.partial_cmp(&a) == Some(wanted) { b } else { a }).map_or(Const::Unknown, Const::Num)
}

fn unary(op: &UnaryOperator, value: Const) -> Const {
    match op {
        UnaryOperator::Not => match value.truth() {
            Some(b) if value != Const::Null => Const::Bool(!b),
            _ => Const::Unknown,
        },
        UnaryOperator::Minus => value.number().map_or(Const::Unknown, |n| Const::Num(-n)),
        UnaryOperator::Plus => value.number().map_or(Const::Unknown, Const::Num),
        _ => Const::Unknown,
    }
}

/// `expr` is the whole `left op right`, for the chains that flatten it.
fn fold_binary(expr: &Expr, left: &Expr, op: &BinaryOperator, right: &Expr, depth: usize) -> Const {
    match op {
        BinaryOperator::Or => fold_chain(expr, BinaryOperator::Or, true, depth),
        BinaryOperator::And => fold_chain(expr, BinaryOperator::And, false, depth),
        BinaryOperator::Xor => match (fold(left, depth).truth(), fold(right, depth).truth()) {
            (Some(a), Some(b)) => Const::Bool(a != b),
            _ => Const::Unknown,
        },
        // SQLite's `a IS b`: NULL is NULL.
        BinaryOperator::Is | BinaryOperator::IsNot => {
            let same = if same_column_expression(left, right) {
                Some(true)
            } else {
                match (fold(left, depth), fold(right, depth)) {
                    (Const::Null, Const::Null) => Some(true),
                    (Const::Unknown, _) | (_, Const::Unknown) => None,
                    (Const::Null, _) | (_, Const::Null) => Some(false),
                    (a, b) => equal(&a, &b),
                }
            };
            same.map_or(Const::Unknown, |same| Const::Bool(same == (*op == BinaryOperator::Is)))
        }
        BinaryOperator::Glob => match fold(right, depth) {
            // `*` matches every non-NULL value.
            Const::Str(p) if !p.is_empty() && p.chars().all(|c| c == '*') => Const::Bool(true),
            _ => Const::Unknown,
        },
        _ if is_comparison(op) && same_column_expression(left, right) => Const::Bool(matches!(
            op,
            BinaryOperator::Eq | BinaryOperator::LtEq | BinaryOperator::GtEq | BinaryOperator::Spaceship
        )),
        _ => binary(op, &fold(left, depth), &fold(right, depth)),
    }
}

fn fold_in_list(expr: &Expr, list: &[Expr], negated: bool, depth: usize) -> Const {
    if !negated && list.iter().take(256).any(|item| same_column_expression(expr, item)) {
        return Const::Bool(true);
    }
    let value = fold(expr, depth);
    if value == Const::Unknown || value == Const::Null {
        return Const::Unknown;
    }
    let mut all_known = true;
    for item in list {
        match equal(&value, &fold(item, depth)) {
            Some(true) => return Const::Bool(!negated),
            Some(false) => {}
            None => all_known = false,
        }
    }
    if all_known {
        Const::Bool(negated)
    } else {
        Const::Unknown
    }
}

fn fold_like(expr: &Expr, pattern: &Expr, depth: usize) -> Const {
    match fold(pattern, depth) {
        // Matches every non-NULL value, whatever `expr` is.
        Const::Str(p) if !p.is_empty() && p.chars().all(|c| c == '%') => Const::Bool(true),
        Const::Str(p) => match fold(expr, depth) {
            Const::Str(s) if !p.contains(['%', '_', '\\']) => Const::Bool(s == p),
            _ => Const::Unknown,
        },
        _ => Const::Unknown,
    }
}

/// An OR chain (`absorbing` true) or an AND chain (`absorbing` false): one operand of the
/// absorbing value decides it, all operands of the other value decide it the other way.
fn fold_chain(expr: &Expr, op: BinaryOperator, absorbing: bool, depth: usize) -> Const {
    let values: Vec<Option<bool>> = flatten(expr, op).iter().map(|e| fold(e, depth).truth()).collect();
    if values.contains(&Some(absorbing)) {
        Const::Bool(absorbing)
    } else if values.iter().all(|v| *v == Some(!absorbing)) {
        Const::Bool(!absorbing)
    } else {
        Const::Unknown
    }
}

fn leading_number(s: &str) -> f64 {
    let s = s.trim_start();
    let mut end = 0;
    let bytes = s.as_bytes();
    if end < bytes.len() && (bytes[end] == b'-' || bytes[end] == b'+') {
        end += 1;
    }
    let mut best = 0.0;
    while end < bytes.len() && (bytes[end].is_ascii_digit() || bytes[end] == b'.' || bytes[end] == b'e' || bytes[end] == b'E') {
        end += 1;
        if let Some(Ok(n)) = s.get(..end).map(str::parse::<f64>) {
            best = n;
        }
    }
    best
}

fn literal(value: &Value) -> Const {
    match value {
        Value::Boolean(b) => Const::Bool(*b),
        Value::Null => Const::Null,
        Value::Number(n, _) => n.parse().map_or(Const::Unknown, Const::Num),
        Value::SingleQuotedString(s)
        | Value::DoubleQuotedString(s)
        | Value::EscapedStringLiteral(s)
        | Value::UnicodeStringLiteral(s)
        | Value::NationalStringLiteral(s)
        | Value::TripleSingleQuotedString(s)
        | Value::TripleDoubleQuotedString(s)
        | Value::SingleQuotedRawStringLiteral(s)
        | Value::DoubleQuotedRawStringLiteral(s) => Const::Str(s.clone()),
        Value::DollarQuotedString(d) => Const::Str(d.value.clone()),
        // `0x1F`, `X'1F'`: true when not zero (MariaDB reads `X'01'` as a string, false; a
        // reading too true only denies).
        Value::HexStringLiteral(digits) => radix(digits, 16),
        // `b'101'`
        Value::SingleQuotedByteStringLiteral(s) | Value::DoubleQuotedByteStringLiteral(s) => {
            if !s.is_empty() && s.bytes().all(|b| b == b'0' || b == b'1') {
                radix(s, 2)
            } else {
                Const::Str(s.clone())
            }
        }
        _ => Const::Unknown,
    }
}

/// A number in `radix`, `_` separators allowed; past 64 bits, only whether it is zero.
fn radix(digits: &str, radix: u32) -> Const {
    let digits: String = digits.chars().filter(|c| *c != '_').collect();
    match u64::from_str_radix(&digits, radix) {
        Ok(n) => Const::Num(n as f64),
        Err(_) if digits.chars().all(|c| c.is_digit(radix)) => {
            Const::Num(if digits.chars().all(|c| c == '0') { 0.0 } else { 1.0 })
        }
        Err(_) => Const::Unknown,
    }
}

fn is_comparison(op: &BinaryOperator) -> bool {
    matches!(
        op,
        BinaryOperator::Eq
            | BinaryOperator::NotEq
            | BinaryOperator::Lt
            | BinaryOperator::LtEq
            | BinaryOperator::Gt
            | BinaryOperator::GtEq
            | BinaryOperator::Spaceship
    )
}

/// `x = x`, `lower(t.x) >= lower(t.x)`, `id = id + 0`: both sides the same pure expression (no
/// subquery, no function that may differ between calls), up to parentheses, collations, unary
/// plus and adding zero or multiplying by one.
fn same_column_expression(left: &Expr, right: &Expr) -> bool {
    let (left, right) = (plain(left, 0), plain(right, 0));
    pure(left, 0) && pure(right, 0) && rendering(left) == rendering(right)
}

/// `expr` without what does not change its value for a non-NULL number.
fn plain(expr: &Expr, depth: usize) -> &Expr {
    if depth > MAX_DEPTH {
        return expr;
    }
    let identity = |value: &Expr, neutral: f64| fold(value, depth + 1).number() == Some(neutral);
    match expr {
        Expr::Nested(inner) | Expr::Collate { expr: inner, .. } | Expr::UnaryOp { op: UnaryOperator::Plus, expr: inner } => {
            plain(inner, depth + 1)
        }
        Expr::BinaryOp { left, op: BinaryOperator::Plus | BinaryOperator::Minus, right } if identity(right, 0.0) => {
            plain(left, depth + 1)
        }
        Expr::BinaryOp { left, op: BinaryOperator::Plus, right } if identity(left, 0.0) => plain(right, depth + 1),
        Expr::BinaryOp { left, op: BinaryOperator::Multiply | BinaryOperator::Divide, right } if identity(right, 1.0) => {
            plain(left, depth + 1)
        }
        Expr::BinaryOp { left, op: BinaryOperator::Multiply, right } if identity(left, 1.0) => plain(right, depth + 1),
        _ => expr,
    }
}

/// Functions whose value depends only on their arguments.
const DETERMINISTIC: &[&str] = &[
    "abs",
    "coalesce",
    "ifnull",
    "nvl",
    "nullif",
    "lower",
    "upper",
    "lcase",
    "ucase",
    "trim",
    "ltrim",
    "rtrim",
    "length",
    "char_length",
    "character_length",
    "octet_length",
    "len",
    "substr",
    "substring",
    "concat",
    "replace",
    "round",
    "ceil",
    "ceiling",
    "floor",
    "sign",
    "hex",
    "md5",
    "sha1",
    "sha2",
    "cast",
    "typeof",
    "quote",
    "instr",
    "reverse",
    "left",
    "right",
];

/// No subquery, no volatile function, no variable: the same value each time it is computed.
fn pure(expr: &Expr, depth: usize) -> bool {
    if depth > MAX_DEPTH {
        return false;
    }
    let next = depth + 1;
    match expr {
        Expr::Identifier(i) => !i.value.starts_with('@'),
        Expr::CompoundIdentifier(_) | Expr::Value(_) => true,
        Expr::Nested(e) | Expr::Collate { expr: e, .. } | Expr::UnaryOp { expr: e, .. } | Expr::Cast { expr: e, .. } => {
            pure(e, next)
        }
        Expr::IsNull(e) | Expr::IsNotNull(e) => pure(e, next),
        Expr::BinaryOp { left, right, .. } => pure(left, next) && pure(right, next),
        Expr::Function(function) => {
            let name = function.name.0.last().and_then(|p| p.as_ident()).map(|i| i.value.to_ascii_lowercase());
            let deterministic = name.is_some_and(|n| DETERMINISTIC.contains(&n.as_str()));
            let FunctionArguments::List(list) = &function.args else { return false };
            deterministic && function.over.is_none() && list.args.iter().all(|a| argument(a).is_some_and(|e| pure(e, next)))
        }
        _ => false,
    }
}

/// How an expression reads, without case: `id = ID`, `[id] = id` compare alike. A difference only
/// case or quoting makes is rare, and the cost of a false "always true" is a denied write.
fn rendering(expr: &Expr) -> String {
    let text = expr.to_string();
    text.chars().filter(|c| !matches!(c, '"' | '`' | '[' | ']')).collect::<String>().to_lowercase()
}

fn equal(a: &Const, b: &Const) -> Option<bool> {
    match (a, b) {
        (Const::Unknown, _) | (_, Const::Unknown) | (Const::Null, _) | (_, Const::Null) => None,
        (Const::Str(x), Const::Str(y)) => Some(x == y),
        (Const::Bool(x), Const::Bool(y)) => Some(x == y),
        _ => match (a.number(), b.number()) {
            (Some(x), Some(y)) => Some(x == y),
            _ => None,
        },
    }
}

fn binary(op: &BinaryOperator, l: &Const, r: &Const) -> Const {
    if *l == Const::Unknown || *r == Const::Unknown {
        return Const::Unknown;
    }
    if *l == Const::Null || *r == Const::Null {
        return match op {
            BinaryOperator::Spaceship => Const::Bool(l == r),
            _ => Const::Null,
        };
    }
    let ordering = match (l, r) {
        (Const::Str(x), Const::Str(y)) => Some(x.cmp(y)),
        _ => match (l.number(), r.number()) {
            (Some(x), Some(y)) => x.partial_cmp(&y),
            _ => None,
        },
    };
    use std::cmp::Ordering::*;
    match (op, ordering) {
        (BinaryOperator::Eq | BinaryOperator::Spaceship, Some(o)) => Const::Bool(o == Equal),
        (BinaryOperator::NotEq, Some(o)) => Const::Bool(o != Equal),
        (BinaryOperator::Lt, Some(o)) => Const::Bool(o == Less),
        (BinaryOperator::LtEq, Some(o)) => Const::Bool(o != Greater),
        (BinaryOperator::Gt, Some(o)) => Const::Bool(o == Greater),
        (BinaryOperator::GtEq, Some(o)) => Const::Bool(o != Less),
        _ => match (op, l.number(), r.number()) {
            (BinaryOperator::Plus, Some(x), Some(y)) => Const::Num(x + y),
            (BinaryOperator::Minus, Some(x), Some(y)) => Const::Num(x - y),
            (BinaryOperator::Multiply, Some(x), Some(y)) => Const::Num(x * y),
            // Integers divide to an integer, as in SQLite, Postgres and SQL Server (MySQL's `3 / 2`
            // is 1.5, which this does not follow).
            (BinaryOperator::Divide, Some(x), Some(y)) if y != 0.0 => {
                let integers = x.fract() == 0.0 && y.fract() == 0.0 && matches!((l, r), (Const::Num(_), Const::Num(_)));
                Const::Num(if integers { (x / y).trunc() } else { x / y })
            }
            (BinaryOperator::Modulo, Some(x), Some(y)) if y != 0.0 => Const::Num(x % y),
            _ => Const::Unknown,
        },
    }
}
