//! Eight bytes at a time in a `u64` (SIMD within a register): what the scans of words and JSON
//! strings use to pass long runs without a branch per byte. Each test sets the high bit of the
//! bytes it accepts, exactly in every lane, so a caller may read any set bit, not only the lowest.
//!
//! ```text
//! equal(u64::from_le_bytes(*b"ab\"cd\\ef"), b'"') == 0x80 << 16
//! ```

pub(crate) const LOW_BITS: u64 = u64::MAX / 255;
pub(crate) const HIGH_BITS: u64 = LOW_BITS * 0x80;

/// The eight bytes of `text` from `at`, the first in the lowest lane; `None` past the end.
pub(crate) fn eight(text: &[u8], at: usize) -> Option<u64> {
    let bytes = text.get(at..at.checked_add(8)?)?;
    Some(u64::from_le_bytes(bytes.try_into().expect("eight bytes")))
}

/// The high bit of each byte of `x` that is `byte`.
pub(crate) fn equal(x: u64, byte: u8) -> u64 {
    let zero = x ^ (LOW_BITS * u64::from(byte));
    // Adding 0x7f to the low seven bits sets the high bit of every byte but a zero one.
    !((zero & (LOW_BITS * 0x7f)).wrapping_add(LOW_BITS * 0x7f) | zero) & HIGH_BITS
}

/// The index of the lowest lane whose high bit `found` sets.
pub(crate) fn first_lane(found: u64) -> usize {
    found.trailing_zeros() as usize / 8
}

#[cfg(test)]
mod tests {
    #[test]
    fn equal_sets_exactly_the_lanes_of_the_byte() {
        for byte in 0..=255u8 {
            for other in [0u8, 1, 0x7f, 0x80, 0xff, byte ^ 1, byte.wrapping_add(1)] {
                let lanes: [u8; 8] = std::array::from_fn(|i| if i % 3 == 0 { byte } else { other });
                let expected = (0..8).filter(|&i| lanes[i] == byte).fold(0u64, |bits, i| bits | 0x80 << (8 * i));
                assert_eq!(super::equal(u64::from_le_bytes(lanes), byte), expected, "{byte:#04x} among {other:#04x}");
            }
        }
        assert_eq!(super::first_lane(super::equal(u64::from_le_bytes(*b"ab\"cd\\ef"), b'"')), 2);
        assert_eq!(super::eight(b"1234567", 0), None);
    }
}
