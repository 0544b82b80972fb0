//! Vendor events kept as the JSON text they arrived in.
//!
//! A connector that parsed every event into a `serde_json` map would spend on the order of a hundred
//! allocations per 1.5 KB event, only for a sink to write the same JSON out again. Instead an event can
//! stay a [`RawEvent`]: a slice of the response body it was cut from, shared by reference count with the
//! other events of that page. Cutting a page into events then allocates nothing per event, and the page's
//! memory is returned in one piece once its last record was delivered. [`raw_members`] walks an event's
//! top-level members without building anything, for the few fields a connector or sink reads.
//!
//! A page split with [`RawEvent::split_array`] also keeps where each event's members lie (the `index`
//! module), so that neither the mapping nor the sink has to read the event's text again:
//! [`RawEvent::member_values`] is then a loop over offsets. Any other event is indexed by its first
//! complete [`member_values`](RawEvent::member_values) walk (the mapping's), which spares the sink's.

mod grammar;
mod index;
mod scan;

use std::borrow::Cow;
use std::fmt;
use std::ops::ControlFlow;
use std::sync::OnceLock;

use bytes::Bytes;
use bytestring::ByteString;
use serde::de::{self, Deserializer as _, MapAccess, Visitor};
use serde_json::value::RawValue;

/// The JSON text of one vendor event, as it arrived (see the [module](self) documentation).
///
/// It is meant to hold a JSON object; writers that need one ([`LogRecord::write_json`]) report an error
/// otherwise. The text is valid JSON when built from a [`RawValue`] ([`in_page`](Self::in_page),
/// [`From<Box<RawValue>>`](#impl-From<Box<RawValue>>-for-RawEvent)), and it is on one line: an event
/// that arrived pretty-printed loses its line breaks when cut, nothing else; cloning shares it.
///
/// [`LogRecord::write_json`]: crate::LogRecord::write_json
#[derive(Clone)]
pub struct RawEvent {
    /// Text known to be UTF-8, so that keys and values are sliced out of it without checking again.
    text: ByteString,
    /// Where its members lie: set when the page was split here, or by the first complete walk.
    index: OnceLock<index::Index>,
}

/// Two events are equal when their texts are (whether they carry an index does not matter).
impl PartialEq for RawEvent {
    fn eq(&self, other: &Self) -> bool {
        self.text == other.text
    }
}

impl Eq for RawEvent {}

impl RawEvent {
    /// An unindexed event of the JSON text `text`, put on one line (see [`on_one_line`]).
    fn plain(text: ByteString) -> Self {
        Self { text: on_one_line(text), index: OnceLock::new() }
    }

    /// Splits `page`, a JSON array of event objects, into events sharing its buffer, reading it once and
    /// keeping where each event's members lie (see the [module](self) documentation). Anything else is
    /// split the plain way ([`in_page`](Self::in_page) per element, unindexed; an element that is not an
    /// object is left for the mapping to refuse), whose error says what is wrong and where.
    pub fn split_array(page: &Bytes) -> serde_json::Result<Vec<Self>> {
        if let Some(events) = index::split_array(page) {
            return Ok(events);
        }
        let members: Vec<&RawValue> = serde_json::from_slice(page)?;
        Ok(members.into_iter().map(|member| Self::in_page(page, member)).collect())
    }

    /// [`member_values`](Self::member_values) for a callback that can fail: the walk stops at its first
    /// error, which is returned.
    pub fn try_member_values<'a>(
        &'a self,
        mut f: impl FnMut(&str, MemberValue<'a>) -> serde_json::Result<()>,
    ) -> serde_json::Result<()> {
        let mut failed = None;
        self.member_values(|key, value| match f(key, value) {
            Ok(()) => ControlFlow::Continue(()),
            Err(err) => {
                failed = Some(err);
                ControlFlow::Break(())
            }
        })?;
        failed.map_or(Ok(()), Err)
    }

    /// The event `member`, parsed from `page` (borrowed from it, as `serde_json::from_slice` does), as a
    /// slice sharing `page`'s buffer. A `member` that does not lie inside `page` is copied.
    pub fn in_page(page: &Bytes, member: &RawValue) -> Self {
        let text = member.get();
        if lies_within(page, text.as_bytes()) {
            // The slice holds the same bytes as `text`, so it is UTF-8: checked once here, never again.
            if let Ok(shared) = ByteString::try_from(page.slice_ref(text.as_bytes())) {
                return Self::plain(shared);
            }
        }
        Self::plain(ByteString::from(text))
    }

    /// `part` of the event's text (a key or a string value as [`raw_text`] reads it) as a string that
    /// shares the event's buffer when it is a slice of it: no allocation, where copying it out would cost
    /// one per event. A `part` that is not (an unescaped copy) is kept as it is.
    pub fn share(&self, part: Cow<'_, str>) -> ByteString {
        match part {
            Cow::Borrowed(part) if self.holds(part) => self.text.slice_ref(part),
            Cow::Borrowed(part) => ByteString::from(part),
            Cow::Owned(part) => ByteString::from(part),
        }
    }

    /// Whether `part` is a slice of the event's text, not a copy: a key [`member_values`](Self::member_values)
    /// hands over is one exactly when it had no escape to undo.
    pub fn holds(&self, part: &str) -> bool {
        lies_within(self.text.as_bytes(), part.as_bytes())
    }

    /// The JSON text.
    pub fn as_bytes(&self) -> &[u8] {
        self.text.as_bytes()
    }

    /// The JSON text as a string.
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// Calls `f` with each top-level member of the event (see [`raw_members`]).
    pub fn members<'a>(&'a self, f: impl FnMut(&str, &'a RawValue) -> ControlFlow<()>) -> serde_json::Result<()> {
        raw_members(&self.text, f)
    }

    /// Calls `f` with each top-level member's key (unescaped) and value, in order, until it breaks: the
    /// same members as [`members`](Self::members), but an indexed event is not read again, and a walk
    /// that reaches the end indexes the event for the next one (see the [module](self) documentation).
    /// For writers that copy values as they are ([`MemberValue::json`]) and mappings that parse only
    /// the few they lift ([`MemberValue::raw`]).
    pub fn member_values<'a>(
        &'a self,
        mut f: impl FnMut(&str, MemberValue<'a>) -> ControlFlow<()>,
    ) -> serde_json::Result<()> {
        let Some(index) = self.index.get() else {
            return self.walk_and_index(f);
        };
        let text: &'a str = &self.text;
        for span in index.spans() {
            let (key, value, end) = (span.key as usize, span.value as usize, span.end as usize);
            let key_end = index::key_end(text.as_bytes(), value).ok_or_else(|| unindexed(key))?;
            let (Some(raw_key), Some(json)) = (text.get(key..key_end), text.get(value..end)) else {
                return Err(unindexed(key));
            };
            let key = if !index.plain_keys && raw_key.contains('\\') {
                let quoted =
                    key.checked_sub(1).and_then(|open| text.get(open..key_end + 1)).ok_or_else(|| unindexed(key))?;
                Cow::Owned(serde_json::from_str::<String>(quoted)?)
            } else {
                Cow::Borrowed(raw_key)
            };
            if f(&key, MemberValue { json, parsed: None }).is_break() {
                break;
            }
        }
        Ok(())
    }

    /// The text between the event's braces, when the split found it compact (`"key":value,…`, no
    /// whitespace between tokens) with no key escaped, and its keys in order: the members exactly as a
    /// writer copying them one by one would write them, so a writer that keeps them all copies the text
    /// once instead. `None` for any other event.
    pub(crate) fn verbatim_members(&self) -> Option<(&str, impl Iterator<Item = &str>)> {
        let index = self.index.get().filter(|index| index.compact && index.plain_keys)?;
        let text: &str = &self.text;
        let inner = text.get(1..text.len().checked_sub(1)?)?;
        // In compact text a key ends two bytes before its value (`":`).
        let keys = index
            .spans()
            .map(move |span| text.get(span.key as usize..(span.value as usize).saturating_sub(2)).unwrap_or(""));
        Some((inner, keys))
    }

    /// [`member_values`](Self::member_values) of an event without an index: the walk, noting where each
    /// value lies, and the index made of it when the walk was not stopped.
    fn walk_and_index<'a>(
        &'a self,
        mut f: impl FnMut(&str, MemberValue<'a>) -> ControlFlow<()>,
    ) -> serde_json::Result<()> {
        let base = self.text.as_ptr() as usize;
        let mut values = Vec::new();
        let mut stopped = false;
        self.members(|key, value| {
            let at = (value.get().as_ptr() as usize).wrapping_sub(base);
            values.push((at, at + value.get().len()));
            let flow = f(key, MemberValue { json: value.get(), parsed: Some(value) });
            stopped = flow.is_break();
            flow
        })?;
        if !stopped {
            let mut spans = Vec::with_capacity(values.len());
            if index::key_spans(self.text.as_bytes(), &values, &mut spans) == Some(self.text.len())
                && let Some(index) = index::Index::own(spans)
            {
                // Another walk may have set it first, to the same spans.
                let _same = self.index.set(index);
            }
        }
        Ok(())
    }
}

/// A member's value as [`RawEvent::member_values`] hands it over: its JSON text, and the parsed
/// [`RawValue`] when the walk has one.
#[derive(Debug, Clone, Copy)]
pub struct MemberValue<'a> {
    json: &'a str,
    parsed: Option<&'a RawValue>,
}

impl<'a> MemberValue<'a> {
    /// The value's JSON text, as it is in the event (one JSON value).
    pub fn json(&self) -> &'a str {
        self.json
    }

    /// The value as text when it is a JSON string (borrowed unless it has escapes), as [`raw_text`]
    /// reads it, without first parsing the value as a [`RawValue`].
    pub fn text(&self) -> Option<Cow<'a, str>> {
        text_of(self.json)
    }

    /// The string at `path` below this value ([`raw_str_at`]), reading the value once: for a nested
    /// object, cheaper than parsing it with [`raw`](Self::raw) and then walking it.
    pub fn str_at(&self, path: &[&str]) -> Option<Cow<'a, str>> {
        str_at_json(self.json, path)
    }

    /// The value as a [`RawValue`] borrowing the event: the walk's, or parsed now from the text.
    pub fn raw(&self) -> serde_json::Result<&'a RawValue> {
        match self.parsed {
            Some(value) => Ok(value),
            None => serde_json::from_str(self.json),
        }
    }
}

/// Whether `part` is a slice of `whole`'s memory (not merely equal bytes elsewhere).
fn lies_within(whole: &[u8], part: &[u8]) -> bool {
    let start = whole.as_ptr() as usize;
    let at = part.as_ptr() as usize;
    at >= start && at + part.len() <= start + whole.len()
}

/// The JSON text `json` without line breaks: an event is one line of NDJSON however the vendor laid it
/// out, and writers copy its members as they are. In valid JSON a line feed or carriage return can only
/// be whitespace between tokens (inside a string it must be escaped), so each one is dropped with the
/// indentation after it; the meaning, the member order and every value's text are kept. Text without
/// one, all but pretty-printed responses, is returned as it is after one `memchr` pass.
fn on_one_line(json: ByteString) -> ByteString {
    if memchr::memchr2(b'\n', b'\r', json.as_bytes()).is_none() {
        return json;
    }
    let mut line = String::with_capacity(json.len());
    for (i, piece) in json.split(['\n', '\r']).enumerate() {
        line.push_str(if i == 0 { piece } else { piece.trim_start_matches([' ', '\t']) });
    }
    ByteString::from(line)
}

/// An index that does not fit its text: cannot happen for an index built here, reported rather than
/// trusted.
fn unindexed(at: usize) -> serde_json::Error {
    <serde_json::Error as de::Error>::custom(format!("an event's member index does not match its text at byte {at}"))
}

impl From<Box<RawValue>> for RawEvent {
    fn from(raw: Box<RawValue>) -> Self {
        let text: Box<str> = raw.into();
        Self::plain(ByteString::from(text))
    }
}

impl fmt::Debug for RawEvent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("RawEvent").field(&self.as_str()).finish()
    }
}

/// Calls `f` with each top-level member of the JSON object `json`, in order, until it breaks. Keys are
/// unescaped (borrowed unless they contain escapes); values are the members' raw JSON. Nothing is
/// allocated per member. Fails when `json` is not an object (or not JSON).
pub fn raw_members<'a>(
    json: &'a str,
    mut f: impl FnMut(&str, &'a RawValue) -> ControlFlow<()>,
) -> serde_json::Result<()> {
    struct Members<'f, F>(&'f mut F);

    impl<'de, F: FnMut(&str, &'de RawValue) -> ControlFlow<()>> Visitor<'de> for Members<'_, F> {
        type Value = ();

        fn expecting(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
            formatter.write_str("a JSON object")
        }

        fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
            while let Some(Key(key)) = map.next_key::<Key<'de>>()? {
                let value: &'de RawValue = map.next_value()?;
                if (self.0)(&key, value).is_break() {
                    // Stop without reading the rest; the caller ignores the remaining input.
                    return Err(de::Error::custom(STOPPED));
                }
            }
            Ok(())
        }
    }

    /// A key, borrowed from the input unless it has escapes.
    struct Key<'de>(Cow<'de, str>);

    impl<'de> de::Deserialize<'de> for Key<'de> {
        fn deserialize<D: de::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
            struct KeyVisitor;
            impl<'de> Visitor<'de> for KeyVisitor {
                type Value = Key<'de>;
                fn expecting(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
                    formatter.write_str("a string")
                }
                fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Key<'de>, E> {
                    Ok(Key(Cow::Borrowed(v)))
                }
                fn visit_str<E: de::Error>(self, v: &str) -> Result<Key<'de>, E> {
                    Ok(Key(Cow::Owned(v.to_owned())))
                }
                fn visit_string<E: de::Error>(self, v: String) -> Result<Key<'de>, E> {
                    Ok(Key(Cow::Owned(v)))
                }
            }
            deserializer.deserialize_str(KeyVisitor)
        }
    }

    const STOPPED: &str = "stopped early";
    let mut stopped = false;
    let mut g = |key: &str, value: &'a RawValue| {
        let flow = f(key, value);
        stopped = flow.is_break();
        flow
    };
    let mut deserializer = serde_json::Deserializer::from_str(json);
    match deserializer.deserialize_map(Members(&mut g)) {
        Err(_) if stopped => Ok(()),
        other => other,
    }
}

/// A member's value as text when it is a JSON string (borrowed unless it has escapes); `None` for an
/// absent member or any other JSON value.
pub fn raw_text(member: Option<&RawValue>) -> Option<Cow<'_, str>> {
    text_of(member?.get())
}

/// [`raw_text`] of a value given as its JSON text, which is valid JSON (a member's or a `RawValue`'s).
fn text_of(json: &str) -> Option<Cow<'_, str>> {
    let inner = json.strip_prefix('"')?;
    // Most strings have no escape: in valid JSON the text between the quotes is then the string itself
    // (no quote or control character can be in it unescaped), so it is borrowed without parsing.
    if let Some(plain) = inner.strip_suffix('"').filter(|plain| memchr::memchr(b'\\', plain.as_bytes()).is_none()) {
        return Some(Cow::Borrowed(plain));
    }
    match serde_json::from_str::<&str>(json) {
        Ok(text) => Some(Cow::Borrowed(text)),
        Err(_) => serde_json::from_str::<String>(json).ok().map(Cow::Owned),
    }
}

/// A member's value as text when it is a JSON string or number (a number as written, `123`); `None`
/// otherwise. For ids that vendors send either way.
pub fn raw_scalar(member: Option<&RawValue>) -> Option<Cow<'_, str>> {
    let json = member?.get();
    if json.starts_with('-') || json.starts_with(|c: char| c.is_ascii_digit()) {
        return Some(Cow::Borrowed(json));
    }
    raw_text(member)
}

/// A member parsed as a JSON value; `None` when absent.
pub fn raw_value(member: Option<&RawValue>) -> Option<serde_json::Value> {
    serde_json::from_str(member?.get()).ok()
}

/// The member `key` of the JSON object `object` (the last one when the key repeats, as when parsing into
/// a map); `None` when `object` is not an object or has no such member. Nothing is allocated.
pub fn raw_member<'a>(object: &'a RawValue, key: &str) -> Option<&'a RawValue> {
    member_in(object.get(), key)
}

/// [`raw_member`] of an object given as its JSON text.
fn member_in<'a>(json: &'a str, key: &str) -> Option<&'a RawValue> {
    // The text is a value of valid JSON: borrowing it as a `RawValue` cannot fail.
    serde_json::from_str(member_json(json, key)?).ok()
}

/// The text of [`raw_member`]'s member: what each step of a path needs, without a `RawValue`.
fn member_json<'a>(json: &'a str, key: &str) -> Option<&'a str> {
    if !json.starts_with('{') {
        return None;
    }
    match scan::member_text(json, key) {
        Some(found) => found,
        None => walked_member(json, key).map(RawValue::get),
    }
}

/// [`member_in`] by walking the object with `serde_json`, which unescapes keys: for objects the scan
/// cannot read ([`scan::member_text`]).
fn walked_member<'a>(json: &'a str, key: &str) -> Option<&'a RawValue> {
    let mut found = None;
    raw_members(json, |k, value| {
        if k != key {
            return ControlFlow::Continue(());
        }
        found = Some(value);
        let after = (value.get().as_ptr() as usize + value.get().len()).saturating_sub(json.as_ptr() as usize);
        let rest = json.as_bytes().get(after..).unwrap_or_default();
        if scan::no_repeat_can_follow(rest, key) { ControlFlow::Break(()) } else { ControlFlow::Continue(()) }
    })
    .ok()?;
    found
}

/// The string at `path` below the JSON object `object` (`["client", "ipAddress"]`), when every step is
/// an object and the last one a string.
pub fn raw_str_at<'a>(object: &'a RawValue, path: &[&str]) -> Option<Cow<'a, str>> {
    str_at_json(object.get(), path)
}

/// [`raw_str_at`] of a value given as its JSON text.
fn str_at_json<'a>(json: &'a str, path: &[&str]) -> Option<Cow<'a, str>> {
    let mut at = json;
    for key in path {
        at = member_json(at, key)?;
    }
    text_of(at)
}

#[cfg(test)]
mod tests;
