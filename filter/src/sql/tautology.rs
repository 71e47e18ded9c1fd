//! Is a WHERE clause always true? Constant folding for the `unbounded` check.
//!
//! Only what can be decided without data is decided: literals and their comparisons, boolean
//! logic, casts of constants, `x = x`, `x LIKE '%'`, `x IS NULL OR x IS NOT NULL`. The top level
//! is flattened iteratively, so `a = 1 OR ... OR 1 = 1` is caught however long the chain; below
//! that, folding gives up (answers "unknown") past a small depth rather than recursing further.

use sqlparser::ast::{BinaryOperator, CastKind, Expr, InTarget, UnaryOperator, Value};

const MAX_DEPTH: usize = 32;

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
    complementary_null_checks(&disjuncts)
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
        _ => Const::Unknown,
    }
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
        _ if is_comparison(op) && same_column_expression(left, right) => Const::Bool(matches!(
            op,
            BinaryOperator::Eq | BinaryOperator::LtEq | BinaryOperator::GtEq | BinaryOperator::Spaceship
        )),
        _ => binary(op, &fold(left, depth), &fold(right, depth)),
    }
}

fn fold_in_list(expr: &Expr, list: &[Expr], negated: bool, depth: usize) -> Const {
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
        _ => Const::Unknown,
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

/// `x = x`, `t.x >= t.x`: both sides the same column (not a function, which may be volatile).
fn same_column_expression(left: &Expr, right: &Expr) -> bool {
    fn column(e: &Expr) -> Option<&Expr> {
        match e {
            Expr::Nested(inner) => column(inner),
            Expr::Identifier(_) | Expr::CompoundIdentifier(_) => Some(e),
            _ => None,
        }
    }
    fn parts(e: &Expr) -> Vec<String> {
        match e {
            Expr::Identifier(i) => vec![i.value.to_lowercase()],
            Expr::CompoundIdentifier(is) => is.iter().map(|i| i.value.to_lowercase()).collect(),
            _ => Vec::new(),
        }
    }
    // Compared without case or quotes: `id = ID`, `[id] = id`. A difference that only quoting
    // makes is rare, and the cost of a false "always true" is a denied write, not a leak.
    match (column(left), column(right)) {
        (Some(a), Some(b)) => parts(a) == parts(b),
        _ => false,
    }
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
            (BinaryOperator::Divide, Some(x), Some(y)) if y != 0.0 => Const::Num(x / y),
            _ => Const::Unknown,
        },
    }
}
