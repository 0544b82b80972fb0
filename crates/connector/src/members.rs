//! The few members an event mapping reads, found in one pass over the event.
//!
//! A connector keeps its vendor's event as raw JSON ([`RawEvent`]) and reads only what it maps: an id, a
//! time, an actor, an action. Walking the event's top-level members once and keeping a borrowed slice of
//! each wanted one costs no allocation per member, where parsing the event into a map costs about a
//! hundred; for an event split with its member index (`array_page`) the walk does not even read the
//! event again, only the wanted members. [`pick`] is that walk for a list of names, and it also collects
//! the event's own members named like the attribute groups ([`OwnGroups`]) that [`Standard::insert`](crate::Standard::insert)
//! merges into.

use logcrawl_core::{MemberValue, RawEvent};
use serde_json::value::RawValue;

use crate::OwnGroups;

/// The top-level members of `event` named in `names`, in the same order (`None` for each it lacks; the
/// last one wins when a key repeats, as when parsing into a map), and its members named like the
/// attribute groups. Fails when `event` is not a JSON object.
///
/// ```
/// # use logcrawl_connector::members::pick;
/// # use logcrawl_core::RawEvent;
/// let event = RawEvent::from(serde_json::value::RawValue::from_string(
///     r#"{"id": "e1", "actor": "mona", "usr": {"team": "ops"}}"#.to_owned(),
/// ).unwrap());
/// let ([id, action], groups) = pick(&event, ["id", "action"]).unwrap();
/// assert_eq!(id.map(|raw| raw.get()), Some(r#""e1""#));
/// assert!(action.is_none());
/// assert!(groups.get("usr").is_some());
/// ```
pub fn pick<'a, const N: usize>(
    event: &'a RawEvent,
    names: [&str; N],
) -> serde_json::Result<([Option<&'a RawValue>; N], OwnGroups<'a>)> {
    let mut values = [None; N];
    let groups = pick_into(event, &names, &mut values)?;
    Ok((values, groups))
}

/// [`pick`] for names known only at run time: the member named `names[i]` goes to `values[i]` (a
/// `values` shorter than `names` leaves the rest out). Returns the event's members named like the
/// attribute groups.
pub fn pick_into<'a>(
    event: &'a RawEvent,
    names: &[impl AsRef<str>],
    values: &mut [Option<&'a RawValue>],
) -> serde_json::Result<OwnGroups<'a>> {
    walk_named(event, names, |at, value| {
        if let Some(slot) = values.get_mut(at) {
            *slot = Some(value.raw()?);
        }
        Ok(())
    })
}

/// [`pick`] handing over the members unparsed ([`MemberValue`]): for a mapping that reads inside a
/// nested object ([`MemberValue::str_at`]), which then reads it once instead of twice.
pub fn pick_values<'a, const N: usize>(
    event: &'a RawEvent,
    names: [&str; N],
) -> serde_json::Result<([Option<MemberValue<'a>>; N], OwnGroups<'a>)> {
    let mut values = [None; N];
    let groups = walk_named(event, &names, |at, value| {
        if let Some(slot) = values.get_mut(at) {
            *slot = Some(value);
        }
        Ok(())
    })?;
    Ok((values, groups))
}

/// The one walk behind the `pick` functions: `named(i, value)` for each member named `names[i]`, and the
/// members named like the attribute groups.
fn walk_named<'a>(
    event: &'a RawEvent,
    names: &[impl AsRef<str>],
    mut named: impl FnMut(usize, MemberValue<'a>) -> serde_json::Result<()>,
) -> serde_json::Result<OwnGroups<'a>> {
    let mut groups = OwnGroups::default();
    // Only the named members and the groups are taken (as `RawValue`s, parsed now for an indexed event,
    // whose other members are skipped without reading them).
    event.try_member_values(|key, value| {
        if let Some(at) = names.iter().position(|name| name.as_ref() == key) {
            named(at, value)?;
        }
        if let Some(slot) = groups.slot(key) {
            *slot = Some(value.raw()?);
        }
        Ok(())
    })?;
    Ok(groups)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(text: &str) -> RawEvent {
        RawValue::from_string(text.to_owned()).unwrap().into()
    }

    #[test]
    fn named_members_come_back_in_the_order_asked_and_the_last_repeat_wins() {
        let raw = event(r#"{"b": 1, "a": "x", "b": 2, "network": {"isp": "i"}, "other": null}"#);
        let ([a, b, missing, network], groups) = pick(&raw, ["a", "b", "c", "network"]).unwrap();
        assert_eq!(a.map(RawValue::get), Some(r#""x""#));
        assert_eq!(b.map(RawValue::get), Some("2"));
        assert!(missing.is_none());
        assert_eq!(network.map(RawValue::get), groups.get("network").map(RawValue::get), "a named group is both");
        assert!(groups.get("usr").is_none());
    }

    #[test]
    fn names_known_at_run_time_are_picked_from_an_indexed_event_too() {
        let page = bytes::Bytes::from_static(br#"[{"a": {"x": 1}, "usr": {"id": "u"}, "b": "y", "c": 3}]"#);
        let indexed = RawEvent::split_array(&page).unwrap().pop().unwrap();
        let names = vec!["c".to_owned(), "a".to_owned(), "missing".to_owned()];
        let mut values = [None; 2];
        let groups = pick_into(&indexed, &names, &mut values).unwrap();
        assert_eq!(values.map(|v| v.map(RawValue::get)), [Some("3"), Some(r#"{"x": 1}"#)], "shorter than the names");
        assert_eq!(groups.get("usr").map(RawValue::get), Some(r#"{"id": "u"}"#));
    }

    #[test]
    fn unparsed_members_read_inside_nested_objects() {
        let page = bytes::Bytes::from_static(br#"[{"client": {"ip": "10.0.0.1", "geo": {"city": "Oslo"}}, "n": 1}]"#);
        for raw in [
            RawEvent::split_array(&page).unwrap().pop().unwrap(),
            event(r#"{"client": {"ip": "10.0.0.1", "geo": {"city": "Oslo"}}, "n": 1}"#),
        ] {
            let ([client, n, none], _) = pick_values(&raw, ["client", "n", "none"]).unwrap();
            let client = client.unwrap();
            assert_eq!(client.str_at(&["ip"]).as_deref(), Some("10.0.0.1"));
            assert_eq!(client.str_at(&["geo", "city"]).as_deref(), Some("Oslo"));
            assert_eq!(client.str_at(&["geo"]), None, "not a string");
            assert_eq!(client.str_at(&["x"]), None);
            assert_eq!(n.unwrap().json(), "1");
            assert_eq!(n.unwrap().str_at(&["a"]), None, "not an object");
            assert!(none.is_none());
        }
    }

    #[test]
    fn an_event_that_is_not_an_object_is_an_error() {
        assert!(pick(&event("[1, 2]"), ["a"]).is_err());
        assert!(pick(&event(r#""text""#), ["a"]).is_err());
    }
}
