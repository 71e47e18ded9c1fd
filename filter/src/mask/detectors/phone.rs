//! Phone numbers: international (`+` or `00`, a country code from the table below and the
//! national number's length there) and national in the shapes the number plans give them
//! (`020 7946 0958`, `030 12345678`, `01 23 45 67 89`, `(11) 91234-5678`, `(415) 555-0134`,
//! `98765 43210`), with an extension (`x123`, `ext. 45`). A bare run of digits is a phone only
//! after a word like `phone` or `tel`, or with a trunk `0`.

use super::label::{Family, Names, Reach};
use super::{word_at, Enabled, Hit, Kind};

/// Country code, then the shortest and longest national significant number (ITU-T E.164
/// assignments, as the national plans publish them).
const PLANS: &[(u16, u8, u8)] = &[
    (1, 10, 10),
    (7, 10, 10),
    (20, 8, 10),
    (27, 9, 9),
    (30, 10, 10),
    (31, 9, 9),
    (32, 8, 9),
    (33, 9, 9),
    (34, 9, 9),
    (36, 8, 9),
    (39, 6, 11),
    (40, 9, 9),
    (41, 9, 9),
    (43, 4, 13),
    (44, 7, 10),
    (45, 8, 8),
    (46, 7, 10),
    (47, 8, 8),
    (48, 9, 9),
    (49, 6, 13),
    (51, 8, 9),
    (52, 10, 10),
    (54, 10, 11),
    (55, 10, 11),
    (56, 9, 9),
    (57, 8, 10),
    (60, 8, 10),
    (61, 9, 9),
    (62, 8, 12),
    (63, 8, 10),
    (64, 8, 10),
    (65, 8, 8),
    (66, 8, 9),
    (81, 9, 10),
    (82, 8, 11),
    (84, 9, 10),
    (86, 10, 11),
    (90, 10, 10),
    (91, 10, 10),
    (92, 9, 10),
    (212, 9, 9),
    (234, 8, 10),
    (254, 9, 9),
    (351, 9, 9),
    (352, 6, 11),
    (353, 7, 9),
    (358, 5, 12),
    (380, 9, 9),
    (420, 9, 9),
    (421, 9, 9),
    (852, 8, 8),
    (886, 8, 9),
    (966, 9, 9),
    (971, 8, 9),
    (972, 8, 9),
];

/// The fewest digits a national number is written with (a bare one after a phone keyword).
const SHORTEST_NATIONAL: usize = 8;

/// The fewest digits after `+`: the shortest country code and national number of [`PLANS`].
const SHORTEST_INTERNATIONAL: usize = {
    let mut shortest = 8;
    let mut i = 0;
    while i < PLANS.len() {
        let (code, min, _) = PLANS[i];
        let code_digits = if code >= 100 {
            3
        } else if code >= 10 {
            2
        } else {
            1
        };
        if code_digits + (min as usize) < shortest {
            shortest = code_digits + min as usize;
        }
        i += 1;
    }
    shortest
};

/// A digit group as written: its digits, and whether it is in parentheses (`(0)`, `(415)`).
#[derive(Clone, Copy, Default)]
struct Group {
    start: usize,
    end: usize,
    parens: bool,
}

/// A phone number from `at` (a digit, `+` or `(`).
pub(super) fn phone(text: &[u8], names: &Names, at: usize, enabled: Enabled) -> Option<Hit> {
    // Glued to the word before it (`SKU-0201234567`), a number is part of that word's code.
    if !enabled.has(Kind::Phone) || at >= 2 && matches!(text[at - 1], b'-' | b'.') && text[at - 2].is_ascii_alphanumeric() {
        return None;
    }
    let plus = text[at] == b'+';
    let (groups, count) = read_groups(text, if plus { at + 1 } else { at }, plus);
    // Too few digits for any phone number, whatever groups are taken (most numbers: `123.45`).
    let digits: usize = groups[..count].iter().map(|g| g.end - g.start).sum();
    if digits < if plus { SHORTEST_INTERNATIONAL } else { SHORTEST_NATIONAL } {
        return None;
    }
    // Looked up only for the shapes that need it, once: most numbers are not phones.
    let named = std::cell::OnceCell::new();
    let near_words = || {
        *named.get_or_init(|| matches!(names.label(at, Reach::Near, &[Family::Phone, Family::Ssn, Family::Contact]), Some(0 | 2)))
    };
    let dialled = Dialled::of(text, &groups[..count], plus);
    let count = (1..=count).rev().find(|&n| {
        let last = groups[n - 1];
        let after = last.end + usize::from(last.parens);
        // Fewer groups than were read only where a space follows: `606-8692089-4284006` is an order.
        let cut = n < count && text.get(after) != Some(&b' ');
        let valid = |digits: &[u8]| valid(text, &groups[..n], digits, plus, &near_words);
        !cut && !word_at(text, after) && dialled.first(n).is_some_and(valid)
    })?;
    // A number its name calls something else: `order=0259694467`, a column headed `imei`.
    if !plus && names.label(at, Reach::Near, &[Family::Phone, Family::NotAPhone]) == Some(1) {
        return None;
    }
    let last = groups[count - 1];
    let end = last.end + usize::from(last.parens);
    Some(Hit { start: at, end: extension(text, end).unwrap_or(end), kind: Kind::Phone })
}

/// Up to eight digit groups of at most 15 digits (E.164's longest number): `(`digits`)` or
/// digits, one separator between (`-`, `.`, `/`, a space, or none after `)`, nor before the
/// `(0)` after a country code: `+49(0)30 1234567`).
fn read_groups(text: &[u8], at: usize, plus: bool) -> ([Group; 8], usize) {
    let mut groups = [Group::default(); 8];
    let mut count = 0;
    let mut p = at;
    while count < groups.len() {
        let parens = text.get(p) == Some(&b'(');
        let start = p + usize::from(parens);
        let end = super::run(text, start, 15, |b| b.is_ascii_digit());
        if end == start || (parens && text.get(end) != Some(&b')')) {
            break;
        }
        groups[count] = Group { start, end, parens };
        count += 1;
        let after = end + usize::from(parens);
        let separated = matches!(text.get(after), Some(b' ' | b'-' | b'.' | b'/'));
        let next = after + usize::from(separated);
        let trunk_follows = plus && count == 1 && !separated && text.get(after) == Some(&b'(');
        let continues = text.get(next).is_some_and(|b| b.is_ascii_digit() || (*b == b'(' && (separated || trunk_follows)));
        if !continues || (!separated && !parens && !trunk_follows) {
            break;
        }
        p = next;
    }
    (groups, count)
}

/// The digits a number's groups dial, read once for every count of groups [`phone`] tries.
struct Dialled {
    digits: [u8; 20],
    /// How many digits the first `n` groups dial; more than 20 is no phone number.
    upto: [usize; 9],
}

impl Dialled {
    fn of(text: &[u8], groups: &[Group], plus: bool) -> Dialled {
        let mut dialled = Dialled { digits: [0; 20], upto: [0; 9] };
        let mut n = 0;
        for (i, g) in groups.iter().enumerate() {
            // `+44 (0)20 …`: the trunk prefix in parentheses is not dialled from abroad.
            if !(plus && g.parens && &text[g.start..g.end] == b"0") {
                for &b in &text[g.start..g.end] {
                    if let Some(slot) = dialled.digits.get_mut(n) {
                        *slot = b - b'0';
                    }
                    n += 1;
                }
            }
            dialled.upto[i + 1] = n;
        }
        dialled
    }

    /// The digits of the first `groups` groups, if there are at most 20.
    fn first(&self, groups: usize) -> Option<&[u8]> {
        self.digits.get(..self.upto[groups])
    }
}

fn valid(text: &[u8], groups: &[Group], digits: &[u8], plus: bool, near_words: &dyn Fn() -> bool) -> bool {
    let mut lens = [0usize; 8];
    for (len, g) in lens.iter_mut().zip(groups) {
        *len = g.end - g.start;
    }
    let lens = &lens[..groups.len()];
    if plus {
        international(digits)
    } else if digits.starts_with(&[0, 0]) {
        international(&digits[2..])
    } else {
        let last_dashed = groups.len() > 1 && groups.last().is_some_and(|g| g.start > 0 && text[g.start - 1] == b'-');
        national(digits, lens, Shape { area_in_parens: groups[0].parens, last_dashed }, near_words)
    }
}

/// A country code of the table and a national number of a length it assigns; an unknown code
/// takes any E.164 length.
fn international(digits: &[u8]) -> bool {
    let code = |len: usize| digits.iter().take(len).fold(0u16, |n, &d| n * 10 + u16::from(d));
    if digits.first().is_none_or(|&d| d == 0) {
        return false;
    }
    for len in 1..=3 {
        if let Some(&(_, min, max)) = PLANS.iter().find(|(cc, _, _)| *cc == code(len)) {
            let national = digits.len().saturating_sub(len);
            return (usize::from(min)..=usize::from(max)).contains(&national);
        }
    }
    (8..=15).contains(&digits.len())
}

/// How a national number is written, beyond its groups' lengths.
#[derive(Clone, Copy)]
struct Shape {
    area_in_parens: bool,
    /// A dash before the last group (`7773-0116`).
    last_dashed: bool,
}

/// The national shapes: a trunk `0` and groups, the North American `3-3-4`, an area code in
/// parentheses, the nine- and ten-digit plans without a trunk prefix (Spain, Italy, India), and
/// Brazil's dashed numbers.
fn national(digits: &[u8], lens: &[usize], shape: Shape, near_words: &dyn Fn() -> bool) -> bool {
    let Shape { area_in_parens, last_dashed } = shape;
    let n = digits.len();
    let nanp = |d: &[u8]| d.len() == 10 && d[0] >= 2 && d[3] >= 2;
    if lens.len() == 1 {
        let trunk = (9..=11).contains(&n) && digits[0] == 0 && digits[1] != 0;
        return trunk || ((9..=12).contains(&n) && near_words());
    }
    let grouped = lens.iter().skip(1).all(|&l| l >= 2);
    let plan = match lens {
        _ if digits[0] == 0 => digits[1] != 0 && (9..=12).contains(&n) && lens[0] >= 2,
        // Italy's mobiles (`363 101 7344`) start with 3 whatever their exchange.
        [3, 3, 4] => nanp(digits) || digits[0] == 3,
        [1, 3, 3, 4] => digits[0] == 1 && nanp(&digits[1..]),
        _ if area_in_parens => (10..=11).contains(&n),
        // Brazil: a two-digit area code without zeros, eight digits (not from 0 or 1) or a
        // mobile's nine (from 9), dashed.
        [2, 4, 4] => last_dashed && !digits[..2].contains(&0) && digits[2] >= 2,
        [2, 5, 4] => last_dashed && !digits[..2].contains(&0) && digits[2] == 9,
        [3, 2, 2, 2] | [3, 3, 3] | [2, 3, 2, 2] => n == 9 && digits[0] >= 6,
        [5, 5] | [3, 7] | [4, 3, 3] => n == 10 && digits[0] >= 6,
        _ => false,
    };
    grouped && (plan || ((8..=13).contains(&n) && near_words()))
}

/// An extension after the number: ` x123`, `ext. 45`, `#200`, `;ext=45` (RFC 3966).
fn extension(text: &[u8], at: usize) -> Option<usize> {
    let rest = text.get(at..)?;
    let spaced = usize::from(rest.first() == Some(&b' '));
    let rest = &rest[spaced..];
    let marker = ["extension ", "ext. ", "ext.", "ext ", ";ext=", "x", "#"]
        .iter()
        .find(|m| rest.len() > m.len() && rest[..m.len()].eq_ignore_ascii_case(m.as_bytes()))?;
    let from = at + spaced + marker.len();
    let end = super::run(text, from, 6, |b| b.is_ascii_digit());
    (end > from && !word_at(text, end)).then_some(end)
}
