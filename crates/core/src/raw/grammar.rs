//! Where a JSON value ends, found while checking that it is JSON.
//!
//! Splitting a page is the one step that reads every byte a vendor sent, and it must refuse what is not
//! JSON: an event it passes on is trusted by everything after it (the index, the nested reads of
//! `scan`, writers that copy members verbatim). `serde_json` did it as a side effect of deserializing
//! each member into a `RawValue`; that machinery (a visitor per event, a `MapAccess` per member, a
//! `RawValue` per value) cost as much as reading the bytes, about half of the split. A page's shape is
//! simple enough to check directly: this module follows the JSON grammar (RFC 8259) over bytes, with no
//! allocation and no recursion into anything but containers.
//!
//! What it accepts must be what `serde_json` accepts, or an event that would have been refused slips
//! through: strings without raw control characters and with only the escapes JSON has (`\u` with four
//! hex digits; a lone surrogate is accepted, as `serde_json` does when it only skips a string), numbers
//! by the grammar (no leading zeros, digits after `.` and `e`), the three literals, and the four
//! whitespace bytes between tokens. Nesting is limited ([`MAX_DEPTH`], below `serde_json`'s 128): text
//! nested deeper is refused here and left to `serde_json`, whose error or result then stands. Refusing
//! is always safe, since the caller then splits the page with `serde_json`; accepting too much would
//! not be, so a property test compares the two on generated and mutated text. The input is a `&str`:
//! UTF-8 was checked once, for the whole page, before.
//!
//! Strings are most of an event, so they are read eight bytes at a time: one word operation tells
//! whether any of the eight is a quote, a backslash or a control byte, the way `serde_json` itself
//! skips to an escape.

/// How deep containers may nest here (the page's array counts): deeper text goes to `serde_json`.
pub(super) const MAX_DEPTH: u32 = 100;

const ONES: u64 = u64::from_ne_bytes([1; 8]);
const HIGH_BITS: u64 = u64::from_ne_bytes([0x80; 8]);

/// The high bit of each byte of `word` (bytes in memory order, little-endian) that is a quote, a
/// backslash or below 0x20; a byte above a flagged one may be flagged wrongly (a borrow), never one
/// below, so the lowest flag is exact.
#[inline]
fn special_bytes(word: u64) -> u64 {
    let zero_bytes = |v: u64| v.wrapping_sub(ONES) & !v;
    let quotes = zero_bytes(word ^ (ONES * u64::from(b'"')));
    let backslashes = zero_bytes(word ^ (ONES * u64::from(b'\\')));
    let controls = word.wrapping_sub(ONES * 0x20) & !word;
    (quotes | backslashes | controls) & HIGH_BITS
}

/// One past the closing quote of the string whose first byte (after its opening quote) is at `at`.
/// `None`: the string does not end, or holds a control byte or an escape JSON does not have.
#[inline]
pub(super) fn string_end(text: &[u8], at: usize) -> Option<usize> {
    string_scan(text, at).map(|(end, _)| end)
}

/// [`string_end`], and whether the string has an escape (its text is then not its value). Inlined
/// where it is called: a call's set-up was a fifth of what an average (11-byte) string costs.
#[inline(always)]
pub(super) fn string_scan(text: &[u8], mut at: usize) -> Option<(usize, bool)> {
    let mut escaped = false;
    loop {
        while let Some(word) = text.get(at..).and_then(<[u8]>::first_chunk::<8>) {
            let special = special_bytes(u64::from_le_bytes(*word));
            if special != 0 {
                at += (special.trailing_zeros() / 8) as usize;
                break;
            }
            at += 8;
        }
        match *text.get(at)? {
            b'"' => return Some((at + 1, escaped)),
            b'\\' => {
                escaped = true;
                at = escape_end(text, at + 1)?;
            }
            byte if byte < 0x20 => return None,
            _ => at += 1,
        }
    }
}

/// One past the escape whose letter (after the backslash) is at `at`.
fn escape_end(text: &[u8], at: usize) -> Option<usize> {
    match *text.get(at)? {
        b'"' | b'\\' | b'/' | b'b' | b'f' | b'n' | b'r' | b't' => Some(at + 1),
        b'u' => text.get(at + 1..at + 5).filter(|hex| hex.iter().all(u8::is_ascii_hexdigit)).map(|_| at + 5),
        _ => None,
    }
}

/// The first byte at or after `at` that is not JSON whitespace.
#[inline]
pub(super) fn skip_ws(text: &[u8], mut at: usize) -> usize {
    while text.get(at).is_some_and(|byte| is_ws(*byte)) {
        at += 1;
    }
    at
}

/// Whether `byte` is one of JSON's four whitespace bytes.
#[inline]
pub(super) fn is_ws(byte: u8) -> bool {
    matches!(byte, b' ' | b'\t' | b'\n' | b'\r')
}

fn digits_end(text: &[u8], mut at: usize) -> usize {
    while text.get(at).is_some_and(u8::is_ascii_digit) {
        at += 1;
    }
    at
}

/// One past the number that starts at `at`: `-`, an integer part without leading zeros, then optional
/// fraction and exponent, each with at least one digit.
fn number_end(text: &[u8], mut at: usize) -> Option<usize> {
    if text.get(at) == Some(&b'-') {
        at += 1;
    }
    at = match *text.get(at)? {
        // A digit after a leading zero is refused here, not left to the caller, as `serde_json` does.
        b'0' if text.get(at + 1).is_some_and(u8::is_ascii_digit) => return None,
        b'0' => at + 1,
        b'1'..=b'9' => digits_end(text, at + 1),
        _ => return None,
    };
    if text.get(at) == Some(&b'.') {
        let end = digits_end(text, at + 1);
        at = (end > at + 1).then_some(end)?;
    }
    if matches!(text.get(at), Some(b'e' | b'E')) {
        at += 1;
        if matches!(text.get(at), Some(b'+' | b'-')) {
            at += 1;
        }
        let end = digits_end(text, at);
        at = (end > at).then_some(end)?;
    }
    Some(at)
}

fn literal_end(text: &[u8], at: usize, literal: &[u8]) -> Option<usize> {
    (text.get(at..at + literal.len())? == literal).then_some(at + literal.len())
}

/// One past the JSON value that starts at `at` (no whitespace before it), which may open at most `depth`
/// containers, itself included. `None`: it is not a whole JSON value, or nests deeper.
pub(super) fn value_end(text: &[u8], at: usize, depth: u32) -> Option<usize> {
    match *text.get(at)? {
        b'"' => string_end(text, at + 1),
        b'{' => object_end(text, at, depth, |_| Some(())),
        b'[' => {
            let inner = depth.checked_sub(1)?;
            let mut at = skip_ws(text, at + 1);
            if text.get(at) == Some(&b']') {
                return Some(at + 1);
            }
            loop {
                at = skip_ws(text, value_end(text, at, inner)?);
                match text.get(at)? {
                    b',' => at = skip_ws(text, at + 1),
                    b']' => return Some(at + 1),
                    _ => return None,
                }
            }
        }
        b't' => literal_end(text, at, b"true"),
        b'f' => literal_end(text, at, b"false"),
        b'n' => literal_end(text, at, b"null"),
        _ => number_end(text, at),
    }
}

/// Where a member of an object lies (offsets into the text scanned).
#[derive(Debug, Clone, Copy)]
pub(super) struct Member {
    /// The key's first byte after its opening quote.
    pub(super) key: usize,
    /// One past the key's closing quote.
    pub(super) key_end: usize,
    /// Whether the key has an escape.
    pub(super) escaped_key: bool,
    /// The value's first byte.
    pub(super) value: usize,
    /// One past the value's last byte.
    pub(super) end: usize,
}

/// One past the object that starts at `at` (a `{`), which may open at most `depth` containers, itself
/// included, calling `member` with each of its members in order; `None` as soon as the text is not a
/// JSON object or `member` says so.
pub(super) fn object_end(
    text: &[u8],
    at: usize,
    depth: u32,
    mut member: impl FnMut(Member) -> Option<()>,
) -> Option<usize> {
    if text.get(at) != Some(&b'{') {
        return None;
    }
    let inner = depth.checked_sub(1)?;
    let mut at = skip_ws(text, at + 1);
    if text.get(at) == Some(&b'}') {
        return Some(at + 1);
    }
    loop {
        if text.get(at) != Some(&b'"') {
            return None;
        }
        let key = at + 1;
        let (key_end, escaped_key) = string_scan(text, key)?;
        at = skip_ws(text, key_end);
        if text.get(at) != Some(&b':') {
            return None;
        }
        let value = skip_ws(text, at + 1);
        let end = value_end(text, value, inner)?;
        member(Member { key, key_end, escaped_key, value, end })?;
        at = skip_ws(text, end);
        match text.get(at)? {
            b',' => at = skip_ws(text, at + 1),
            b'}' => return Some(at + 1),
            _ => return None,
        }
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    /// Whether the scanner takes `text` for one JSON value with only whitespace around it.
    fn scanner_accepts(text: &str) -> bool {
        let bytes = text.as_bytes();
        let start = skip_ws(bytes, 0);
        value_end(bytes, start, MAX_DEPTH).is_some_and(|end| skip_ws(bytes, end) == bytes.len())
    }

    fn serde_json_accepts(text: &str) -> bool {
        serde_json::from_str::<serde::de::IgnoredAny>(text).is_ok()
    }

    #[test]
    fn the_grammar_is_json_s() {
        let accepted = [
            r#"{"a": [1, -0, 0.5, 1e9, 1E+2, -3.25e-7, true, false, null], "b\"\\\/\b\f\n\r\t": "\u00e9\uD800é"}"#,
            " \t\r\n[ ] ",
            r#""\u007f""#,
            "{}",
            "[[[]]]",
        ];
        for text in accepted {
            assert!(scanner_accepts(text), "{text}");
            assert!(serde_json_accepts(text), "{text}");
        }
        let refused = [
            "01",
            "1.",
            ".5",
            "-",
            "1e",
            "1e+",
            "+1",
            "tru",
            "nul",
            "[1,]",
            "{\"a\":1,}",
            "{\"a\"}",
            "{a:1}",
            "\"\u{1}\"",
            "\"\t\"",
            "\"\\x\"",
            "\"\\u12\"",
            "\"\\u12g4\"",
            "\"open",
            "[1 2]",
            "{} {}",
            "\u{a0}1",
        ];
        for text in refused {
            assert!(!scanner_accepts(text), "{text:?}");
            assert!(!serde_json_accepts(text), "{text:?}");
        }
    }

    /// Deeper than the scanner goes, but not too deep for `serde_json`: refused here, so the page is left
    /// to the plain split, which takes it.
    #[test]
    fn nesting_deeper_than_the_scanner_goes_is_refused() {
        let deep = |depth: usize| format!("{}{}", "[".repeat(depth), "]".repeat(depth));
        assert!(scanner_accepts(&deep(MAX_DEPTH as usize)));
        assert!(!scanner_accepts(&deep(MAX_DEPTH as usize + 1)));
        assert!(serde_json_accepts(&deep(MAX_DEPTH as usize + 1)));
        let page = bytes::Bytes::from(format!("[{{\"a\": {}}}]", deep(MAX_DEPTH as usize)));
        assert!(super::super::index::split_array(&page).is_none());
        assert_eq!(super::super::RawEvent::split_array(&page).unwrap().len(), 1);
    }

    /// Valid JSON with a few bytes inserted, removed or replaced: mostly broken in the ways that matter
    /// (an unbalanced bracket, a bare control byte, half an escape, a stray digit).
    fn mutated_json() -> impl Strategy<Value = String> {
        let json = (proptest::collection::vec(crate::record::tests::object(), 0..3), proptest::bool::ANY).prop_map(
            |(events, pretty)| {
                let text = if pretty { serde_json::to_string_pretty(&events) } else { serde_json::to_string(&events) };
                text.unwrap_or_default()
            },
        );
        let byte = proptest::sample::select(
            b"{}[]\",:\\ \t\n\x01\x1f0159-+.eEtrufalsn/bu\x7fx".iter().map(|b| char::from(*b)).collect::<Vec<_>>(),
        );
        let edit = (0..3u8, proptest::num::usize::ANY, byte);
        (json, proptest::collection::vec(edit, 0..3)).prop_map(|(json, edits)| {
            let mut chars: Vec<char> = json.chars().collect();
            for (kind, at, byte) in edits {
                let at = if chars.is_empty() { 0 } else { at % (chars.len() + 1) };
                match kind {
                    0 => chars.insert(at, byte),
                    1 if at < chars.len() => {
                        chars.remove(at);
                    }
                    _ if at < chars.len() => chars[at] = byte,
                    _ => chars.push(byte),
                }
            }
            chars.into_iter().collect()
        })
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2048))]
        /// The scanner accepts exactly what `serde_json` accepts: taking more would let malformed text
        /// through as an event; taking less would only be slower (the plain split), but it would hide a
        /// mistake.
        #[test]
        fn the_scanner_accepts_what_serde_json_accepts(text in mutated_json()) {
            prop_assert_eq!(scanner_accepts(&text), serde_json_accepts(&text), "{:?}", text);
        }

        #[test]
        fn the_scanner_agrees_on_token_soup(text in "[\\[\\]{}\",:\\\\ \t\u{1}0-9eE.+\\-tfnrulas]{0,24}") {
            prop_assert_eq!(scanner_accepts(&text), serde_json_accepts(&text), "{:?}", text);
        }

        /// Where the scanner says a value ends is where `serde_json`'s `RawValue` of it ends.
        #[test]
        fn a_value_ends_where_serde_json_says(text in mutated_json(), tail in "[ ,\\]}]{0,2}") {
            let text = format!("{text}{tail}");
            let bytes = text.as_bytes();
            let start = skip_ws(bytes, 0);
            let mut deserializer = serde_json::Deserializer::from_str(&text);
            let parsed = <&serde_json::value::RawValue as serde::Deserialize>::deserialize(&mut deserializer);
            match (value_end(bytes, start, MAX_DEPTH), parsed) {
                (Some(end), Ok(raw)) => prop_assert_eq!(&text[start..end], raw.get()),
                (None, Err(_)) => {}
                (ours, theirs) => prop_assert!(false, "{:?}: scanner {:?}, serde_json {:?}", text, ours, theirs.map(|raw| raw.get())),
            }
        }
    }
}
