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

use super::grammar;

/// The text of the member `key` of the JSON object `object` (valid JSON, starting with `{`): the last
/// one when the key repeats, as parsing into a map would. `Some(None)`: there is no such member.
/// `None`: the scan cannot tell — a top-level key has an escape, or the text is not what valid JSON
/// has there.
pub(super) fn member_text<'a>(object: &'a str, key: &str) -> Option<Option<&'a str>> {
    let bytes = object.as_bytes();
    let mut found = None;
    // Set when the answer is known before the object's end: the walk is then stopped.
    let mut settled = false;
    let end = grammar::object_end(bytes, 0, grammar::MAX_DEPTH, |member| {
        if member.escaped_key {
            return None;
        }
        if bytes.get(member.key..member.key_end - 1)? == key.as_bytes() {
            found = Some(object.get(member.value..member.end)?);
            if no_repeat_can_follow(&bytes[member.end..], key) {
                settled = true;
                return None;
            }
        }
        Some(())
    });
    (end.is_some() || settled).then_some(found)
}

/// Whether `rest`, the object's text after a member `key`, can hold no other member `key`: a repeat
/// would have the key's bytes in it, or an escape (one spelling the key differently). The last repeat
/// wins, but the object need not be read to the end to know there is none.
pub(super) fn no_repeat_can_follow(rest: &[u8], key: &str) -> bool {
    memchr::memchr(b'\\', rest).is_none() && memchr::memmem::find(rest, key.as_bytes()).is_none()
}
