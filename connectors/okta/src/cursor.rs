//! The `system_log` cursor document: what a record's cursor holds, and where a run resumes from it.
//!
//! Version 1, every key but `v` and `url` optional (a cursor written before `published` existed loads and
//! resumes as it always did):
//!
//! * page end: `{"v":1,"url":NEXT,"seen":[UUID…],"published":P}`;
//! * mid-page: `{"v":1,"url":PAGE,"through":UUID,"index":I,"published":P}`.
//!
//! `published` is the `published` of the event the cursor was taken at (for a page end, of the page's last
//! event, the instant `seen` belongs to). It is only read when Okta refuses `url`: the run then restarts
//! from `since = published`, dropping the uuids it already delivered at that instant.

use std::collections::HashSet;

use logcrawl_core::Cursor;
use logcrawl_http::Url;
use serde_json::{Map, Value};

use crate::event::Event;

/// Version of the cursor document, bumped only with a reader for the old one.
pub const CURSOR_VERSION: u64 = 1;

/// Where a resumed (or first) run starts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Resume {
    /// The URL to request.
    pub(crate) url: Url,
    /// Skip the page's events up to and including this `uuid` (a cursor taken in the middle of a page).
    pub(crate) through: Option<String>,
    /// Position of `through` on its page: the fallback for an event without a `uuid`.
    pub(crate) index: Option<usize>,
    /// `uuid`s already delivered at the previous page's last `published` instant: dropped if served again.
    pub(crate) seen: Vec<String>,
    /// `published` of the last delivered event, when the cursor kept it: where to restart if Okta refuses
    /// `url`.
    pub(crate) published: Option<String>,
}

impl Resume {
    /// A run without a cursor, starting at `url`.
    pub(crate) fn start(url: Url) -> Self {
        Self { url, through: None, index: None, seen: Vec::new(), published: None }
    }

    /// Reads a stored cursor; `Err` says what is wrong with it.
    pub(crate) fn from_cursor(cursor: &Cursor) -> Result<Self, String> {
        let object = cursor.as_object().ok_or("it is not a JSON object")?;
        match object.get("v").and_then(Value::as_u64) {
            Some(CURSOR_VERSION) => {}
            Some(other) => return Err(format!("cursor version {other} is newer than this logcrawl understands")),
            None => return Err("it has no version".into()),
        }
        let url = object.get("url").and_then(Value::as_str).ok_or("it has no `url`")?;
        let url = Url::parse(url).map_err(|err| format!("its `url` is invalid: {err}"))?;
        let through = object.get("through").and_then(Value::as_str).map(str::to_owned);
        let index = object.get("index").and_then(Value::as_u64).and_then(|i| usize::try_from(i).ok());
        let seen = match object.get("seen") {
            None | Some(Value::Null) => Vec::new(),
            Some(Value::Array(items)) => items.iter().filter_map(Value::as_str).map(str::to_owned).collect(),
            Some(_) => return Err("its `seen` is not an array".into()),
        };
        let published = match object.get("published") {
            None | Some(Value::Null) => None,
            Some(Value::String(published)) => Some(published.clone()),
            Some(_) => return Err("its `published` is not a string".into()),
        };
        Ok(Self { url, through, index, seen, published })
    }
}

/// What a page leaves for the one after it: the `uuid`s at its last event's `published` instant (Okta
/// may serve them again) and that instant.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Boundary {
    /// The uuids, last event first.
    pub(crate) uuids: Vec<String>,
    /// The instant, as Okta wrote it (absent when the last event has no string `published`).
    pub(crate) published: Option<String>,
}

impl Boundary {
    /// The boundary of a page, or `None` for an empty page: it says nothing new, so the previous boundary
    /// stays in force.
    pub(crate) fn of_page(events: &[Event]) -> Option<Self> {
        let last = events.last()?;
        let last_published = last.published();
        let uuids = events
            .iter()
            .rev()
            .take_while(|e| e.published() == last_published)
            .filter_map(|e| e.uuid().map(str::to_owned))
            .collect();
        Some(Self { uuids, published: last_published.and_then(Value::as_str).map(str::to_owned) })
    }

    /// The uuids as a set, for dropping events served again.
    pub(crate) fn seen(&self) -> HashSet<String> {
        self.uuids.iter().cloned().collect()
    }
}

/// The cursor of a page's last delivered record: resume at Okta's `next` link.
pub(crate) fn page_end_cursor(next: &Url, boundary: &Boundary) -> Cursor {
    let mut map = Map::new();
    map.insert("v".into(), Value::from(CURSOR_VERSION));
    map.insert("url".into(), Value::String(next.as_str().to_owned()));
    map.insert("seen".into(), Value::Array(boundary.uuids.iter().cloned().map(Value::String).collect()));
    if let Some(published) = &boundary.published {
        map.insert("published".into(), Value::String(published.clone()));
    }
    Value::Object(map)
}

/// The mid-page cursor of event `index` of `page`, its `uuid` and `published` read back from the event
/// itself: what a deferred record cursor builds when the crawler commits it.
pub(crate) fn mid_page_cursor_of(page: &Url, index: usize, event: &logcrawl_core::RawEvent) -> Cursor {
    #[derive(serde::Deserialize)]
    struct Ids<'a> {
        #[serde(default, borrow)]
        uuid: Option<std::borrow::Cow<'a, str>>,
        #[serde(default, borrow)]
        published: Option<std::borrow::Cow<'a, str>>,
    }
    // The event was parsed once already when its page was read, so it is a JSON object; should it not
    // be after all, the cursor falls back on the index alone, which resumes by position.
    let ids: Ids<'_> = serde_json::from_slice(event.as_bytes()).unwrap_or(Ids { uuid: None, published: None });
    mid_page_cursor(page, ids.uuid.as_deref(), index, ids.published.as_deref())
}

/// The cursor of any other record: request `page` again and skip through event `index` (`uuid`).
pub(crate) fn mid_page_cursor(page: &Url, uuid: Option<&str>, index: usize, published: Option<&str>) -> Cursor {
    let mut map = Map::new();
    map.insert("v".into(), Value::from(CURSOR_VERSION));
    map.insert("url".into(), Value::String(page.as_str().to_owned()));
    if let Some(uuid) = uuid {
        map.insert("through".into(), Value::String(uuid.to_owned()));
    }
    map.insert("index".into(), Value::from(index as u64));
    if let Some(published) = published {
        map.insert("published".into(), Value::String(published.to_owned()));
    }
    Value::Object(map)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::to_event;
    use serde_json::json;
    use serde_json::value::RawValue;

    fn boundary(uuids: &[&str], published: &str) -> Boundary {
        Boundary { uuids: uuids.iter().map(|u| (*u).to_owned()).collect(), published: Some(published.into()) }
    }

    #[test]
    fn cursors_round_trip() {
        let page = Url::parse("https://acme.okta.com/api/v1/logs?after=abc&limit=1000").unwrap();
        let mid = Resume::from_cursor(&mid_page_cursor(&page, Some("u7"), 7, Some("t7"))).unwrap();
        assert_eq!(
            mid,
            Resume {
                url: page.clone(),
                through: Some("u7".into()),
                index: Some(7),
                seen: vec![],
                published: Some("t7".into())
            }
        );
        let end = Resume::from_cursor(&page_end_cursor(&page, &boundary(&["a", "b"], "t2"))).unwrap();
        assert_eq!(end.seen, vec!["a".to_owned(), "b".to_owned()]);
        assert_eq!((end.through, end.published.as_deref()), (None, Some("t2")));
    }

    #[test]
    fn a_cursor_without_published_still_loads() {
        let old = json!({"v": 1, "url": "https://acme.okta.com/api/v1/logs?after=x", "seen": ["u1"]});
        let resume = Resume::from_cursor(&old).unwrap();
        assert_eq!((resume.seen, resume.published), (vec!["u1".to_owned()], None));
        let mid = json!({"v": 1, "url": "https://acme.okta.com/api/v1/logs?after=x", "through": "u1", "index": 0});
        assert_eq!(Resume::from_cursor(&mid).unwrap().through.as_deref(), Some("u1"));
        // Nothing is written for an event without a string `published`.
        let page = Url::parse("https://acme.okta.com/api/v1/logs?after=x").unwrap();
        assert!(mid_page_cursor(&page, Some("u"), 0, None).get("published").is_none());
        assert!(page_end_cursor(&page, &Boundary::default()).get("published").is_none());
    }

    #[test]
    fn foreign_cursors_are_refused_with_a_reason() {
        assert!(Resume::from_cursor(&json!("https://acme.okta.com/api/v1/logs")).unwrap_err().contains("object"));
        assert!(Resume::from_cursor(&json!({"v": 9, "url": "https://x/"})).unwrap_err().contains("version 9"));
        assert!(Resume::from_cursor(&json!({"v": 1})).unwrap_err().contains("url"));
        let odd = json!({"v": 1, "url": "https://x/", "published": 1});
        assert!(Resume::from_cursor(&odd).unwrap_err().contains("published"));
    }

    #[test]
    fn the_boundary_is_the_last_instant() {
        let page = json!([
            {"uuid": "a", "published": "t1"}, {"uuid": "b", "published": "t2"}, {"uuid": "c", "published": "t2"}
        ]);
        let events: Vec<Event> = serde_json::from_str::<Vec<Box<RawValue>>>(&page.to_string())
            .unwrap()
            .into_iter()
            .map(|raw| to_event(raw.into()).unwrap())
            .collect();
        assert_eq!(Boundary::of_page(&events), Some(boundary(&["c", "b"], "t2")));
        assert_eq!(Boundary::of_page(&[]), None, "an empty page leaves the previous boundary");
    }

    /// A mid-page cursor is built for every record: it stays a URL, a uuid and a timestamp.
    #[test]
    fn a_mid_page_cursor_stays_small() {
        let page = Url::parse("https://acme.okta.com/api/v1/logs?limit=1000&after=1723564700353_1").unwrap();
        let uuid = "5c6b1cb2-59a3-11ef-8e3e-4f0f1c2b5c1d";
        let cursor = mid_page_cursor(&page, Some(uuid), 999, Some("2024-08-13T15:58:20.353Z"));
        assert_eq!(cursor.as_object().map(Map::len), Some(5));
        assert!(cursor.to_string().len() < 200, "{cursor}");
    }
}
