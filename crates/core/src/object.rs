//! Writing one JSON object member by member, serialized values and verbatim JSON text side by side.
//!
//! A record whose vendor event is kept raw is written as `data`'s members followed by the event's own,
//! and the event's members are already JSON: copying their text is all a writer has to do. `serde`'s
//! map serializer cannot take bytes that are already JSON without first parsing them into a
//! [`RawValue`](serde_json::value::RawValue), so writers build the object with [`ObjectWriter`] instead.
//! The bytes are exactly those `serde_json::to_writer` writes for a map with the same entries.

use serde::Serialize;

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
        if !self.empty {
            self.out.push(b',');
        }
        self.empty = false;
        serde_json::to_writer(&mut *self.out, key)?;
        self.out.push(b':');
        Ok(())
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

    /// Closes the object.
    pub fn end(self) {
        self.out.push(b'}');
    }
}
