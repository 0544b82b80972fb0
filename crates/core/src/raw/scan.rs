//! Finding a member of an object by skipping over its text instead of parsing it.
//!
//! A nested read (`client.ipAddress` of an Okta event) used to walk the object with `serde_json`: every
//! key parsed, every value before the wanted one read as a [`RawValue`](serde_json::value::RawValue),
//! nested objects and strings included — about 6 000 instructions for Okta's `client`, a tenth of what
//! an event costs. Here the object is read with the page splitter's own scanner (the `grammar` module):
//! keys are compared as bytes, and the values before the wanted one are only skipped. The text handed
//! to these functions has been validated already (an event's member from the page's index or a walk, or
//! a `RawValue`), so the scanner's checks cannot fail on it; they cost little, and one scanner serves
//! both.
//!
//! A key with an escape is not compared here (its spelling may differ from its meaning): the scan then
//! says it cannot tell, and the caller walks the object with `serde_json` as before.

use super::grammar::{self, skip_ws};

/// The text of the member `key` of the JSON object `object` (valid JSON, starting with `{`): the last
/// one when the key repeats, as parsing into a map would. `Some(None)`: there is no such member.
/// `None`: the scan cannot tell — a top-level key has an escape, or the text is not what valid JSON
/// has there.
pub(super) fn member_text<'a>(object: &'a str, key: &str) -> Option<Option<&'a str>> {
    let bytes = object.as_bytes();
    if bytes.first() != Some(&b'{') {
        return None;
    }
    let mut found = None;
    let mut at = 1;
    loop {
        at = skip_ws(bytes, at);
        match bytes.get(at)? {
            b'}' => return Some(found),
            b',' => {
                at += 1;
                continue;
            }
            b'"' => {}
            _ => return None,
        }
        let (after_key, escaped) = grammar::string_scan(bytes, at + 1)?;
        if escaped {
            return None;
        }
        let this_key = &bytes[at + 1..after_key - 1];
        at = skip_ws(bytes, after_key);
        if bytes.get(at) != Some(&b':') {
            return None;
        }
        let value = skip_ws(bytes, at + 1);
        let value_end = grammar::value_end(bytes, value, grammar::MAX_DEPTH)?;
        if this_key == key.as_bytes() {
            found = Some(object.get(value..value_end)?);
            if no_repeat_can_follow(&bytes[value_end..], key) {
                return Some(found);
            }
        }
        at = value_end;
    }
}

/// Whether `rest`, the object's text after a member `key`, can hold no other member `key`: a repeat
/// would have the key's bytes in it, or an escape (one spelling the key differently). The last repeat
/// wins, but the object need not be read to the end to know there is none.
pub(super) fn no_repeat_can_follow(rest: &[u8], key: &str) -> bool {
    memchr::memchr(b'\\', rest).is_none() && memchr::memmem::find(rest, key.as_bytes()).is_none()
}
