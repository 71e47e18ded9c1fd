//! The `id` of a JSON-RPC request read from a body that is never held: a body over
//! `limits.max_body_bytes` is discarded as it arrives, and its denial must still answer the
//! request's id, or an MCP client cannot tell which call failed (the Python SDK 1.x writes the
//! id last, after `params`).
//!
//! ```text
//! {"method":"tools/call","params":{"name":"x","arguments":{...}},"jsonrpc":"2.0","id":5}
//!                                                                                    ^ found at depth 1
//! ```
//!
//! Only a number or string member `id` of a top-level object counts. A batch, a body that is no
//! object, a duplicate `id` or one longer than [`MAX_ID_BYTES`] gives none.

use serde_json::Value;

/// Longer ids are not kept (the specification's examples are short numbers and UUIDs).
pub const MAX_ID_BYTES: usize = 256;

/// Feeds on the body piece by piece, in constant memory.
#[derive(Debug, Default)]
pub struct IdScan {
    depth: u32,
    started: bool,
    /// Not an object, a duplicate id, an id too long: nothing will be found.
    failed: bool,
    string: Option<Text>,
    /// A string at depth 1 just ended: was it `"id"`? A `:` next makes it a key.
    key_is_id: Option<bool>,
    /// The raw bytes of the id's value, while it is being read.
    value: Option<Vec<u8>>,
    found: Option<Value>,
}

/// A string being read: whether the last byte was a backslash, and (at depth 1) its first bytes.
#[derive(Debug, Default)]
struct Text {
    escaped: bool,
    head: Vec<u8>,
}

impl IdScan {
    pub fn feed(&mut self, bytes: &[u8]) {
        for &byte in bytes {
            if self.failed {
                return;
            }
            self.byte(byte);
        }
    }

    /// The id, once the body has been fed whole.
    pub fn id(&self) -> Option<Value> {
        (!self.failed && self.depth == 0 && self.started).then(|| self.found.clone()).flatten()
    }

    fn byte(&mut self, byte: u8) {
        if let Some(value) = self.value.as_mut() {
            if value.len() >= MAX_ID_BYTES {
                self.failed = true;
                return;
            }
            value.push(byte);
        }
        if let Some(text) = self.string.as_mut() {
            match (text.escaped, byte) {
                (true, _) => text.escaped = false,
                (false, b'\\') => text.escaped = true,
                (false, b'"') => {
                    let text = self.string.take().unwrap_or_default();
                    if self.depth == 1 && self.value.is_none() {
                        self.key_is_id = Some(text.head == b"id");
                    }
                    return;
                }
                _ => {}
            }
            if self.depth == 1 && text.head.len() <= 2 {
                text.head.push(byte);
            }
            return;
        }
        self.structural(byte);
    }

    fn structural(&mut self, byte: u8) {
        if byte.is_ascii_whitespace() {
            return;
        }
        if !self.started {
            self.started = true;
            self.failed = byte != b'{';
        } else if self.depth == 0 {
            self.failed = true;
            return;
        }
        let key_is_id = self.key_is_id.take();
        match byte {
            b'"' => self.string = Some(Text::default()),
            b'{' | b'[' => self.depth = self.depth.saturating_add(1),
            b':' if self.depth == 1 && key_is_id == Some(true) => {
                if self.found.is_some() {
                    self.failed = true;
                }
                self.value = Some(Vec::new());
            }
            b',' | b'}' if self.depth == 1 => self.end_value(),
            _ => {}
        }
        if matches!(byte, b'}' | b']') {
            self.depth = self.depth.saturating_sub(1);
        }
    }

    /// A member of the top-level object ended: if it was the id, parse what it held.
    fn end_value(&mut self) {
        let Some(mut raw) = self.value.take() else { return };
        raw.pop();
        match serde_json::from_slice::<Value>(&raw) {
            Ok(id @ (Value::Number(_) | Value::String(_))) => self.found = Some(id),
            _ => self.failed = true,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn scan(body: &str) -> Option<Value> {
        let mut whole = IdScan::default();
        whole.feed(body.as_bytes());
        // Cut at every byte, the answer is the same.
        for cut in 0..=body.len() {
            let mut pieces = IdScan::default();
            pieces.feed(&body.as_bytes()[..cut]);
            pieces.feed(&body.as_bytes()[cut..]);
            assert_eq!(pieces.id(), whole.id(), "cut at {cut}: {body}");
        }
        whole.id()
    }

    #[test]
    fn finds_the_top_level_id_wherever_it_is() {
        let last = r#"{"method":"tools/call","params":{"name":"x","arguments":{"id":9,"s":"\"id\":7"}},"jsonrpc":"2.0","id":5}"#;
        assert_eq!(scan(last), Some(json!(5)));
        assert_eq!(scan(r#" { "jsonrpc" : "2.0" , "id" : "a-\"b" , "method":"x"} "#), Some(json!("a-\"b")));
        assert_eq!(scan(r#"{"id":1.5e3}"#), Some(json!(1.5e3)));
        assert_eq!(scan(r#"{"ids":1,"xid":2,"d":"id","id":3}"#), Some(json!(3)));
    }

    #[test]
    fn gives_none_where_no_single_id_can_be_trusted() {
        for body in [
            r#"{"jsonrpc":"2.0","method":"notifications/initialized"}"#,
            r#"{"id":1,"id":2}"#,
            r#"{"id":null}"#,
            r#"{"id":{"a":1}}"#,
            r#"[{"id":1}]"#,
            r#"{"id":1} {"id":2}"#,
            r#"{"id":1"#,
            "not json",
            "",
        ] {
            assert_eq!(scan(body), None, "{body}");
        }
        let long = format!(r#"{{"id":"{}"}}"#, "x".repeat(MAX_ID_BYTES));
        assert_eq!(scan(&long), None);
    }
}
