//! Writing one JSON object member by member, serialized values and verbatim JSON text side by side.
//!
//! A record whose vendor event is kept raw is written as `data`'s members followed by the event's own,
//! and the event's members are already JSON: copying their text is all a writer has to do. `serde`'s
//! map serializer cannot take bytes that are already JSON without first parsing them into a
//! [`RawValue`](serde_json::value::RawValue), so writers build the object with [`ObjectWriter`] instead.
//! The bytes are exactly those `serde_json::to_writer` writes for a map with the same entries.

use serde::Serialize;

use crate::raw::{MemberValue, RawEvent};

/// Appends one compact JSON object to a buffer (see the [module](self) documentation).
///
/// ```
/// # use logcrawl_core::ObjectWriter;
/// let mut out = Vec::new();
/// let mut object = ObjectWriter::begin(&mut out);
/// object.entry("a", &1).unwrap();
/// object.raw_entry("b", br#"{"c": [true]}"#).unwrap();
/// object.end();
/// assert_eq!(out, br#"{"a":1,"b":{"c": [true]}}"#);
/// ```
///
/// Keys are escaped as `serde_json` escapes them.
#[derive(Debug)]
pub struct ObjectWriter<'b> {
    out: &'b mut Vec<u8>,
    empty: bool,
}

impl<'b> ObjectWriter<'b> {
    /// Starts an object at the end of `out`.
    pub fn begin(out: &'b mut Vec<u8>) -> Self {
        out.push(b'{');
        Self { out, empty: true }
    }

    fn key(&mut self, key: &str) -> serde_json::Result<()> {
        // Most keys need no escape (`serde_json` escapes only quotes, backslashes and control characters):
        // copying them spares the serializer's set-up per key, for the same bytes.
        if key.bytes().all(|b| b >= 0x20 && b != b'"' && b != b'\\') {
            self.plain_key(key);
            return Ok(());
        }
        self.separate();
        serde_json::to_writer(&mut *self.out, key)?;
        self.out.push(b':');
        Ok(())
    }

    /// A key known to need no escape, copied.
    fn plain_key(&mut self, key: &str) {
        self.separate();
        self.out.push(b'"');
        self.out.extend_from_slice(key.as_bytes());
        self.out.extend_from_slice(b"\":");
    }

    fn separate(&mut self) {
        if !self.empty {
            self.out.push(b',');
        }
        self.empty = false;
    }

    /// Appends the member `key` with `value` serialized. On an error the buffer holds part of the
    /// object: the caller truncates it.
    pub fn entry(&mut self, key: &str, value: &(impl Serialize + ?Sized)) -> serde_json::Result<()> {
        self.key(key)?;
        serde_json::to_writer(&mut *self.out, value)
    }

    /// Appends the member `key` whose value is `json`, copied as it is: the caller vouches that it is one
    /// JSON value (a member's text from a parsed event).
    pub fn raw_entry(&mut self, key: &str, json: &[u8]) -> serde_json::Result<()> {
        self.key(key)?;
        self.out.extend_from_slice(json);
        Ok(())
    }

    /// Appends a member of `event` as [`RawEvent::member_values`] handed it over, its value copied. A key
    /// that is a slice of the event's text was read with no escape to undo, and valid JSON has none of
    /// the characters that need one outside an escape: it is copied without `raw_entry`'s check.
    pub fn event_member(&mut self, event: &RawEvent, key: &str, value: MemberValue<'_>) -> serde_json::Result<()> {
        if !event.holds(key) {
            return self.raw_entry(key, value.json().as_bytes());
        }
        self.plain_key(key);
        self.out.extend_from_slice(value.json().as_bytes());
        Ok(())
    }

    /// Appends `members`, the text between the braces of a compact event (`"key":value,…`, as
    /// [`RawEvent::verbatim_members`] gives it), copied in one piece.
    pub(crate) fn verbatim_members(&mut self, members: &str) {
        if !members.is_empty() {
            self.separate();
            self.out.extend_from_slice(members.as_bytes());
        }
    }

    /// Closes the object.
    pub fn end(self) {
        self.out.push(b'}');
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    proptest::proptest! {
        #[test]
        fn members_are_written_as_serde_json_writes_them(
            members in proptest::collection::vec(
                ("\\PC{0,4}|[\"\\\\\n\u{1}\u{7f}é]{0,3}", proptest::num::i64::ANY),
                0..5,
            ),
        ) {
            let mut out = Vec::new();
            let mut object = ObjectWriter::begin(&mut out);
            let mut expected = Vec::new();
            for (i, (key, value)) in members.iter().enumerate() {
                if i % 2 == 0 {
                    object.entry(key, value).unwrap();
                } else {
                    object.raw_entry(key, value.to_string().as_bytes()).unwrap();
                }
                expected.push(format!("{}:{value}", serde_json::to_string(key).unwrap()));
            }
            object.end();
            proptest::prop_assert_eq!(String::from_utf8(out).unwrap(), format!("{{{}}}", expected.join(",")));
        }

        #[test]
        fn an_events_members_are_copied_as_serde_json_writes_them(
            members in proptest::collection::btree_map("\\PC{0,4}|[\"\\\\\n\u{1}\u{7f}é]{0,3}", proptest::num::i64::ANY, 0..5),
        ) {
            let text = serde_json::to_string(&members).unwrap();
            let walked = RawEvent::from(serde_json::value::RawValue::from_string(text.clone()).unwrap());
            let page = bytes::Bytes::from(format!("[{text}]"));
            let indexed = RawEvent::split_array(&page).unwrap().pop().unwrap();
            for event in [walked, indexed] {
                let mut out = Vec::new();
                let mut object = ObjectWriter::begin(&mut out);
                event.try_member_values(|key, value| object.event_member(&event, key, value)).unwrap();
                object.end();
                proptest::prop_assert_eq!(String::from_utf8(out).unwrap(), text.clone());
            }
        }
    }
}
