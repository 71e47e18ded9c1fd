//! The proxy-wasm wire form of header maps and property paths.
//!
//! A map is `count: u32`, then `(key_len: u32, value_len: u32)` per pair, then each key and
//! value followed by a NUL byte; all integers little-endian. A property path is its segments
//! joined by NUL.

pub type Pairs = Vec<(String, Vec<u8>)>;

pub fn serialize(pairs: &[(String, Vec<u8>)]) -> Vec<u8> {
    let size = 4 + pairs.iter().map(|(k, v)| 8 + k.len() + v.len() + 2).sum::<usize>();
    let mut out = Vec::with_capacity(size);
    out.extend((pairs.len() as u32).to_le_bytes());
    for (k, v) in pairs {
        out.extend((k.len() as u32).to_le_bytes());
        out.extend((v.len() as u32).to_le_bytes());
    }
    for (k, v) in pairs {
        out.extend(k.as_bytes());
        out.push(0);
        out.extend(v);
        out.push(0);
    }
    out
}

/// `None` when the bytes are not a well-formed map (Envoy answers `BadArgument`).
pub fn deserialize(bytes: &[u8]) -> Option<Pairs> {
    let u32_at =
        |at: usize| -> Option<usize> { bytes.get(at..at + 4).map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]) as usize) };
    if bytes.is_empty() {
        return Some(Vec::new());
    }
    let count = u32_at(0)?;
    let mut sizes = Vec::with_capacity(count.min(bytes.len() / 8));
    for i in 0..count {
        sizes.push((u32_at(4 + i * 8)?, u32_at(8 + i * 8)?));
    }
    let mut at = 4usize.checked_add(count.checked_mul(8)?)?;
    let mut pairs = Vec::with_capacity(sizes.len());
    for (k, v) in sizes {
        let key = bytes.get(at..at.checked_add(k)?)?;
        at += k + 1;
        let value = bytes.get(at..at.checked_add(v)?)?;
        at += v + 1;
        if at > bytes.len() {
            return None;
        }
        pairs.push((String::from_utf8_lossy(key).into_owned(), value.to_vec()));
    }
    Some(pairs)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_refuses_truncation() {
        let pairs = vec![(":path".to_string(), b"/x".to_vec()), ("a".to_string(), Vec::new())];
        let bytes = serialize(&pairs);
        assert_eq!(deserialize(&bytes), Some(pairs));
        for cut in 1..bytes.len() {
            assert_eq!(deserialize(&bytes[..cut]), None, "cut at {cut}");
        }
        assert_eq!(deserialize(&[0xff, 0xff, 0xff, 0xff]), None);
    }
}
