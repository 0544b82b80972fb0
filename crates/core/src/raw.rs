//! Vendor events kept as the JSON text they arrived in.
//!
//! A connector that parsed every event into a `serde_json` map would spend on the order of a hundred
//! allocations per 1.5 KB event, only for a sink to write the same JSON out again. Instead an event can
//! stay a [`RawEvent`]: a slice of the response body it was cut from, shared by reference count with the
//! other events of that page. Cutting a page into events then allocates nothing per event, and the page's
//! memory is returned in one piece once its last record was delivered. [`raw_members`] walks an event's
//! top-level members without building anything, for the few fields a connector or sink reads.

use std::borrow::Cow;
use std::fmt;
use std::ops::ControlFlow;

use bytes::Bytes;
use serde::de::{self, Deserializer as _, MapAccess, Visitor};
use serde_json::value::RawValue;

/// The JSON text of one vendor event, as it arrived (see the [module](self) documentation).
///
/// It is meant to hold a JSON object; writers that need one ([`LogRecord::write_json`]) report an error
/// otherwise. The text is valid JSON when built from a [`RawValue`] ([`in_page`](Self::in_page),
/// [`From<Box<RawValue>>`](#impl-From<Box<RawValue>>-for-RawEvent)); cloning shares it.
///
/// [`LogRecord::write_json`]: crate::LogRecord::write_json
#[derive(Clone, PartialEq, Eq)]
pub struct RawEvent(Bytes);

impl RawEvent {
    /// The event `member`, parsed from `page` (borrowed from it, as `serde_json::from_slice` does), as a
    /// slice sharing `page`'s buffer. A `member` that does not lie inside `page` is copied.
    pub fn in_page(page: &Bytes, member: &RawValue) -> Self {
        let text = member.get().as_bytes();
        let start = page.as_ptr() as usize;
        let at = text.as_ptr() as usize;
        if at >= start && at + text.len() <= start + page.len() {
            Self(page.slice_ref(text))
        } else {
            Self(Bytes::copy_from_slice(text))
        }
    }

    /// The JSON text.
    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }

    /// The JSON text as a string (replacing invalid UTF-8, which a `RawValue` never has).
    pub fn to_str_lossy(&self) -> Cow<'_, str> {
        String::from_utf8_lossy(&self.0)
    }

    /// Calls `f` with each top-level member of the event (see [`raw_members`]).
    pub fn members<'a>(&'a self, f: impl FnMut(&str, &'a RawValue) -> ControlFlow<()>) -> serde_json::Result<()> {
        // One validation of the whole text is cheaper than serde_json's check of every string it borrows
        // from a byte slice.
        let text = std::str::from_utf8(&self.0).map_err(<serde_json::Error as de::Error>::custom)?;
        raw_members(text, f)
    }
}

impl From<Box<RawValue>> for RawEvent {
    fn from(raw: Box<RawValue>) -> Self {
        let text: Box<str> = raw.into();
        Self(Bytes::from(text.into_boxed_bytes()))
    }
}

impl fmt::Debug for RawEvent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("RawEvent").field(&self.to_str_lossy()).finish()
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
    let json = member?.get();
    if !json.starts_with('"') {
        return None;
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
    if !object.get().starts_with('{') {
        return None;
    }
    let mut found = None;
    raw_members(object.get(), |k, value| {
        if k == key {
            found = Some(value);
        }
        ControlFlow::Continue(())
    })
    .ok()?;
    found
}

/// The string at `path` below the JSON object `object` (`["client", "ipAddress"]`), when every step is
/// an object and the last one a string.
pub fn raw_str_at<'a>(object: &'a RawValue, path: &[&str]) -> Option<Cow<'a, str>> {
    let mut at = object;
    for key in path {
        at = raw_member(at, key)?;
    }
    raw_text(Some(at))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn members_read_as_text_scalars_and_values() {
        let escaped = raw(r#""caf\u00e9""#);
        assert_eq!(raw_text(Some(&escaped)).as_deref(), Some("café"));
        assert!(matches!(raw_text(Some(&raw(r#""plain""#))), Some(Cow::Borrowed("plain"))));
        assert_eq!(raw_text(Some(&raw("12"))), None);
        assert_eq!(raw_scalar(Some(&raw("12"))).as_deref(), Some("12"));
        assert_eq!(raw_scalar(Some(&raw("-1.5"))).as_deref(), Some("-1.5"));
        assert_eq!(raw_scalar(Some(&raw(r#""x""#))).as_deref(), Some("x"));
        assert_eq!(raw_scalar(Some(&raw("[1]"))), None);
        assert_eq!(raw_value(Some(&raw(r#"{"a":[1]}"#))), Some(serde_json::json!({"a": [1]})));
        assert_eq!(raw_value(None), None);
    }

    fn raw(text: &str) -> Box<RawValue> {
        RawValue::from_string(text.to_owned()).unwrap()
    }

    #[test]
    fn events_cut_from_a_page_share_its_buffer() {
        let page = Bytes::from_static(br#"[{"a": 1}, {"b": "x\u00e9"}]"#);
        let members: Vec<&RawValue> = serde_json::from_slice(&page).unwrap();
        let events: Vec<RawEvent> = members.iter().map(|m| RawEvent::in_page(&page, m)).collect();
        assert_eq!(events[0].as_bytes(), br#"{"a": 1}"#);
        assert_eq!(events[1].to_str_lossy(), r#"{"b": "x\u00e9"}"#);
        let inside = page.as_ptr() as usize..page.as_ptr() as usize + page.len();
        assert!(events.iter().all(|e| inside.contains(&(e.as_bytes().as_ptr() as usize))));

        let elsewhere = raw(r#"{"c": 3}"#);
        let copied = RawEvent::in_page(&page, &elsewhere);
        assert_eq!(copied.as_bytes(), br#"{"c": 3}"#);
        assert!(!inside.contains(&(copied.as_bytes().as_ptr() as usize)));
        assert_eq!(copied, RawEvent::from(elsewhere));
    }

    #[test]
    fn members_are_walked_in_order_and_stop_when_asked() {
        let event = RawEvent::from(raw(r#"{"a": 1, "b\u00e9": [2], "c": 3}"#));
        let mut seen = Vec::new();
        event
            .members(|key, value| {
                seen.push((key.to_owned(), value.get().to_owned()));
                if key == "bé" { ControlFlow::Break(()) } else { ControlFlow::Continue(()) }
            })
            .unwrap();
        assert_eq!(seen, [("a".to_owned(), "1".to_owned()), ("bé".to_owned(), "[2]".to_owned())]);
    }

    #[test]
    fn strings_and_members_are_read_without_a_tree() {
        let event = raw(r#"{"a": "x", "b": "caf\u00e9", "c": 1, "d": {"e": {"f": "deep"}, "g": 2}, "a": "last"}"#);
        assert_eq!(raw_text(raw_member(&event, "a")).as_deref(), Some("last"), "the last one wins");
        assert!(matches!(raw_text(raw_member(&event, "b")), Some(Cow::Owned(text)) if text == "café"));
        assert_eq!(raw_text(raw_member(&event, "c")), None, "not a string");
        assert_eq!(raw_str_at(&event, &["d", "e", "f"]).as_deref(), Some("deep"));
        assert_eq!(raw_str_at(&event, &["d", "g"]), None);
        assert_eq!(raw_str_at(&event, &["d", "x", "f"]), None);
        assert_eq!(raw_str_at(&event, &["c", "f"]), None, "a step that is no object");
        assert!(raw_member(&raw("[1]"), "a").is_none());
    }

    #[test]
    fn anything_but_an_object_is_an_error() {
        for text in ["[1, 2]", "\"s\"", "3", "null"] {
            assert!(RawEvent::from(raw(text)).members(|_, _| ControlFlow::Continue(())).is_err(), "{text}");
        }
        let invalid = RawEvent(Bytes::from_static(b"{\"a\": \"\xff\"}"));
        assert!(invalid.members(|_, _| ControlFlow::Continue(())).is_err());
        assert!(raw_members(r#"{"a": }"#, |_, _| ControlFlow::Continue(())).is_err());
    }
}
