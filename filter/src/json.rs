//! JSON as the engine reads it: strict parsing ([`parse_strict`]: no duplicate keys, bounded
//! nesting), pointers (RFC 6901, plus `*` for every element or member) and the conditions rules
//! put on what they reach (`equals`, `glob`, `exists`).
//!
//! A pointer reaches a *set* of values: `/items/*/id` reaches every item's id. A condition holds
//! when any reached value satisfies it, so a deny rule cannot be dodged by hiding the value in a
//! second array element; `exists: false` holds only when nothing is reached.

use std::fmt;

use serde::de::{self, DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::Value;

use crate::glob::Glob;

/// JSON nesting the engine accepts (serde_json's own limit is 128).
pub const MAX_JSON_DEPTH: usize = 64;

/// A parsed pointer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Pointer {
    source: String,
    segments: Vec<String>,
}

impl Pointer {
    pub fn parse(pointer: &str) -> Result<Pointer, String> {
        check_pointer(pointer)?;
        let segments = if pointer.is_empty() {
            Vec::new()
        } else {
            pointer[1..].split('/').map(|s| s.replace("~1", "/").replace("~0", "~")).collect()
        };
        Ok(Pointer { source: pointer.to_string(), segments })
    }

    pub fn as_str(&self) -> &str {
        &self.source
    }

    /// Every value the pointer reaches in `doc`, in document order.
    pub fn values<'v>(&self, doc: &'v Value) -> Vec<&'v Value> {
        let mut current = vec![doc];
        for segment in &self.segments {
            let mut next = Vec::new();
            for value in current {
                match (value, segment.as_str()) {
                    (Value::Array(items), "*") => next.extend(items.iter()),
                    (Value::Object(map), "*") => next.extend(map.values()),
                    (Value::Array(items), index) => {
                        next.extend(index.parse::<usize>().ok().and_then(|i| items.get(i)));
                    }
                    (Value::Object(map), key) => next.extend(map.get(key)),
                    _ => {}
                }
            }
            current = next;
        }
        current
    }
}

/// Is `pointer` a valid pointer?
pub fn check_pointer(pointer: &str) -> Result<(), String> {
    if !pointer.is_empty() && !pointer.starts_with('/') {
        return Err(format!("JSON pointer {pointer:?} must be empty or start with '/'"));
    }
    let mut rest = pointer;
    while let Some(i) = rest.find('~') {
        if !matches!(rest.as_bytes().get(i + 1), Some(b'0') | Some(b'1')) {
            return Err(format!("JSON pointer {pointer:?} has '~' not followed by 0 or 1"));
        }
        rest = &rest[i + 2..];
    }
    Ok(())
}

#[derive(Clone, Debug)]
pub enum JsonTest {
    /// The value equals this JSON value (numbers compare by value: `1` equals `1.0`).
    Equals(Value),
    /// The value is a string matching the glob.
    Glob(Glob),
    /// `true`: the pointer reaches a value (null included); `false`: it reaches none.
    Exists(bool),
}

/// One condition on a JSON document.
#[derive(Clone, Debug)]
pub struct JsonCondition {
    pub pointer: Pointer,
    pub test: JsonTest,
}

impl JsonCondition {
    pub fn holds(&self, doc: &Value) -> bool {
        let reached = self.pointer.values(doc);
        match &self.test {
            JsonTest::Exists(wanted) => reached.is_empty() != *wanted,
            JsonTest::Equals(expected) => reached.iter().any(|v| json_equal(v, expected)),
            JsonTest::Glob(glob) => reached.iter().any(|v| v.as_str().is_some_and(|s| glob.matches(s))),
        }
    }
}

fn json_equal(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => x.as_f64() == y.as_f64(),
        (Value::Array(x), Value::Array(y)) => x.len() == y.len() && x.iter().zip(y).all(|(a, b)| json_equal(a, b)),
        (Value::Object(x), Value::Object(y)) => {
            x.len() == y.len() && x.iter().all(|(k, v)| y.get(k).is_some_and(|w| json_equal(v, w)))
        }
        _ => a == b,
    }
}

/// A short name of a value's type, for error messages.
pub fn kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// Parses JSON, refusing duplicate object keys and nesting beyond [`MAX_JSON_DEPTH`].
pub fn parse_strict(text: &str) -> Result<Value, String> {
    let mut deserializer = serde_json::Deserializer::from_str(text);
    let value = StrictValue { depth: 0 }.deserialize(&mut deserializer).map_err(|e| format!("body is not valid JSON: {e}"))?;
    deserializer.end().map_err(|e| format!("body is not valid JSON: {e}"))?;
    Ok(value)
}

struct StrictValue {
    depth: usize,
}

impl<'de> de::DeserializeSeed<'de> for StrictValue {
    type Value = Value;
    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Value, D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for StrictValue {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a JSON value")
    }
    fn visit_bool<E>(self, v: bool) -> Result<Value, E> {
        Ok(Value::Bool(v))
    }
    fn visit_i64<E>(self, v: i64) -> Result<Value, E> {
        Ok(Value::from(v))
    }
    fn visit_u64<E>(self, v: u64) -> Result<Value, E> {
        Ok(Value::from(v))
    }
    fn visit_f64<E>(self, v: f64) -> Result<Value, E> {
        Ok(Value::from(v))
    }
    fn visit_str<E>(self, v: &str) -> Result<Value, E> {
        Ok(Value::String(v.to_string()))
    }
    fn visit_string<E>(self, v: String) -> Result<Value, E> {
        Ok(Value::String(v))
    }
    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }
    fn visit_none<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        if self.depth >= MAX_JSON_DEPTH {
            return Err(de::Error::custom(format!("nested deeper than {MAX_JSON_DEPTH} levels")));
        }
        let mut items = Vec::new();
        while let Some(item) = seq.next_element_seed(StrictValue { depth: self.depth + 1 })? {
            items.push(item);
        }
        Ok(Value::Array(items))
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        if self.depth >= MAX_JSON_DEPTH {
            return Err(de::Error::custom(format!("nested deeper than {MAX_JSON_DEPTH} levels")));
        }
        let mut object = serde_json::Map::new();
        while let Some(key) = map.next_key::<String>()? {
            let value = map.next_value_seed(StrictValue { depth: self.depth + 1 })?;
            if object.insert(key.clone(), value).is_some() {
                return Err(de::Error::custom(format!("duplicate key {key:?}")));
            }
        }
        Ok(Value::Object(object))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn condition(pointer: &str, test: JsonTest) -> JsonCondition {
        JsonCondition { pointer: Pointer::parse(pointer).unwrap(), test }
    }

    #[test]
    fn pointers_reach_every_element_a_star_names() {
        let doc = json!({"items": [{"id": 1}, {"id": 2}, {"x": 3}], "a/b": {"~": true}});
        let p = Pointer::parse("/items/*/id").unwrap();
        assert_eq!(p.values(&doc), vec![&json!(1), &json!(2)]);
        assert_eq!(Pointer::parse("/a~1b/~0").unwrap().values(&doc), vec![&json!(true)]);
        assert_eq!(Pointer::parse("/items/1/id").unwrap().values(&doc), vec![&json!(2)]);
        assert!(Pointer::parse("/items/9").unwrap().values(&doc).is_empty());
        assert!(Pointer::parse("items").is_err());
        assert!(Pointer::parse("/a~2").is_err());
    }

    #[test]
    fn any_reached_value_satisfies_a_condition() {
        let doc = json!({"targets": [{"env": "staging"}, {"env": "prod-eu"}], "force": true, "n": 1.0});
        assert!(condition("/targets/*/env", JsonTest::Glob(Glob::new("prod*").unwrap())).holds(&doc));
        assert!(condition("/force", JsonTest::Equals(json!(true))).holds(&doc));
        assert!(!condition("/force", JsonTest::Equals(json!("true"))).holds(&doc));
        assert!(condition("/n", JsonTest::Equals(json!(1))).holds(&doc));
        assert!(condition("/force", JsonTest::Exists(true)).holds(&doc));
        assert!(condition("/dry_run", JsonTest::Exists(false)).holds(&doc));
        assert!(!condition("/force", JsonTest::Exists(false)).holds(&doc));
        // A glob never matches a non-string.
        assert!(!condition("/n", JsonTest::Glob(Glob::new("*").unwrap())).holds(&doc));
    }
}
