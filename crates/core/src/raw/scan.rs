//! Finding a member of an object by skipping over its text instead of parsing it.
//!
//! A nested read (`client.ipAddress` of an Okta event) used to walk the object with `serde_json`: every
//! key parsed, every value before the wanted one read as a [`RawValue`](serde_json::value::RawValue),
//! nested objects and strings included — about 6 000 instructions for Okta's `client`, a tenth of what
//! an event costs. The text handed to these functions is always JSON that `serde_json` has already
//! validated (an event's member from the page's index or a walk, or a `RawValue`), so finding where a
//! value ends needs no validation: strings are jumped over with `memchr` to their closing quote, and
//! containers by counting brackets outside strings. Only what validation would have caught is lost, and
//! there is nothing left to catch.
//!
//! A key with an escape is not compared here (its spelling may differ from its meaning): the scan then
//! says it cannot tell, and the caller walks the object with `serde_json` as before.

use super::index::{is_ws, skip_ws};

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
        let key_end = string_end(bytes, at)?;
        let this_key = &bytes[at + 1..key_end];
        if memchr::memchr(b'\\', this_key).is_some() {
            return None;
        }
        at = skip_ws(bytes, key_end + 1);
        if bytes.get(at) != Some(&b':') {
            return None;
        }
        let value = skip_ws(bytes, at + 1);
        let value_end = value_end(bytes, value)?;
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

/// The index of the closing quote of the string whose opening quote is at `open`.
fn string_end(bytes: &[u8], open: usize) -> Option<usize> {
    let mut at = open + 1;
    loop {
        at += memchr::memchr2(b'"', b'\\', bytes.get(at..)?)?;
        if bytes[at] == b'"' {
            return Some(at);
        }
        // The escaped byte (a quote or a backslash among them) is not the string's end.
        at += 2;
    }
}

/// One past the end of the value that starts at `start`.
fn value_end(bytes: &[u8], start: usize) -> Option<usize> {
    match bytes.get(start)? {
        b'"' => string_end(bytes, start).map(|end| end + 1),
        b'{' | b'[' => {
            let mut depth = 0usize;
            let mut at = start;
            loop {
                match bytes.get(at)? {
                    b'"' => at = string_end(bytes, at)?,
                    b'{' | b'[' => depth += 1,
                    b'}' | b']' => {
                        depth -= 1;
                        if depth == 0 {
                            return Some(at + 1);
                        }
                    }
                    _ => {}
                }
                at += 1;
            }
        }
        // A number, `true`, `false` or `null`: up to the next delimiter.
        _ => {
            let len = bytes[start..]
                .iter()
                .position(|&b| matches!(b, b',' | b'}' | b']') || is_ws(b))
                .unwrap_or(bytes.len() - start);
            (len > 0).then_some(start + len)
        }
    }
}
