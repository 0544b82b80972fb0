//! The few members an event mapping reads, found in one pass over the event.
//!
//! A connector keeps its vendor's event as raw JSON ([`RawEvent`]) and reads only what it maps: an id, a
//! time, an actor, an action. Walking the event's top-level members once and keeping a borrowed slice of
//! each wanted one costs no allocation per member, where parsing the event into a map costs about a
//! hundred; for an event split with its member index (`array_page`) the walk does not even read the
//! event again, only the wanted members. [`pick`] is that walk for a list of names, and it also collects the event's own members
//! named like the attribute groups ([`OwnGroups`]) that [`Standard::insert`](crate::Standard::insert)
//! merges into.

use logcrawl_core::RawEvent;
use serde_json::value::RawValue;
use std::ops::ControlFlow;

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
    let mut groups = OwnGroups::default();
    let mut failed = None;
    // Only the named members and the groups are taken as `RawValue`s (parsed now for an indexed event,
    // whose other members are skipped without reading them).
    event.member_values(|key, value| {
        let named = names.iter().position(|name| name.as_ref() == key);
        let slot = groups.slot(key);
        if named.is_none() && slot.is_none() {
            return ControlFlow::Continue(());
        }
        match value.raw() {
            Ok(value) => {
                if let Some(at) = named.and_then(|at| values.get_mut(at)) {
                    *at = Some(value);
                }
                if let Some(slot) = slot {
                    *slot = Some(value);
                }
                ControlFlow::Continue(())
            }
            Err(err) => {
                failed = Some(err);
                ControlFlow::Break(())
            }
        }
    })?;
    match failed {
        Some(err) => Err(err),
        None => Ok(groups),
    }
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
    fn an_event_that_is_not_an_object_is_an_error() {
        assert!(pick(&event("[1, 2]"), ["a"]).is_err());
        assert!(pick(&event(r#""text""#), ["a"]).is_err());
    }
}
