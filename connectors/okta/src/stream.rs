//! The `system_log` stream: polling `/api/v1/logs` by its `next` links, with exact per-record cursors.

use std::collections::HashSet;
use std::fmt;
use std::time::Duration;

use futures::StreamExt;
use logcrawl_core::{Cursor, LogRecord, LogStream, RawEvent, RecordStream, StreamError};
use logcrawl_http::{HttpClient, HttpError, Url, redact_url};
use serde_json::value::RawValue;
use serde_json::{Map, Value};

use crate::event::{Event, to_event};

/// The stream's name (the checkpoint key's second half).
pub const STREAM_NAME: &str = "system_log";
/// Version of the cursor document, bumped only with a reader for the old one.
pub const CURSOR_VERSION: u64 = 1;
/// Okta's page size when a URL carries no `limit`.
const OKTA_DEFAULT_LIMIT: usize = 100;
/// Empty pages whose `next` moves on (possible with a `filter`) followed in one run before it ends.
const MAX_EMPTY_HOPS: usize = 5;

/// Where a resumed (or first) run starts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Resume {
    /// The URL to request.
    url: Url,
    /// Skip the page's events up to and including this `uuid` (a cursor taken in the middle of a page).
    through: Option<String>,
    /// Position of `through` on its page: the fallback for an event without a `uuid`.
    index: Option<usize>,
    /// `uuid`s already delivered at the previous page's last `published` instant: dropped if served again.
    seen: Vec<String>,
}

impl Resume {
    fn from_cursor(cursor: &Cursor) -> Result<Self, String> {
        let object = cursor.as_object().ok_or("it is not a JSON object")?;
        match object.get("v").and_then(Value::as_u64) {
            Some(CURSOR_VERSION) => {}
            Some(other) => return Err(format!("cursor version {other} is newer than this logcrawl understands")),
            None => return Err("it has no version".into()),
        }
        let url = object.get("url").and_then(Value::as_str).ok_or("it has no `url`")?;
        let url = Url::parse(url).map_err(|err| format!("its `url` is invalid: {err}"))?;
        let through = object.get("through").and_then(Value::as_str).map(str::to_owned);
        let index = object.get("index").and_then(Value::as_u64).map(|i| i as usize);
        let seen = match object.get("seen") {
            None | Some(Value::Null) => Vec::new(),
            Some(Value::Array(items)) => items.iter().filter_map(Value::as_str).map(str::to_owned).collect(),
            Some(_) => return Err("its `seen` is not an array".into()),
        };
        Ok(Self { url, through, index, seen })
    }
}

/// Okta's System Log as one resumable stream.
///
/// See the crate documentation for the cursor scheme; in short, every record's cursor is either
/// `{"v":1,"url":NEXT,"seen":[…]}` (last record of a page: request Okta's `next` link, drop the listed
/// `uuid`s if served again) or `{"v":1,"url":PAGE,"through":UUID,"index":I}` (inside a page: request the same
/// page again and skip through that event). Both are exact, and the mid-page one costs one URL clone.
pub struct SystemLogStream {
    http: HttpClient,
    logs_url: Url,
    limit: u32,
    lookback: Duration,
    filter: Option<String>,
}

impl fmt::Debug for SystemLogStream {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SystemLogStream")
            .field("logs_url", &self.logs_url.as_str())
            .field("limit", &self.limit)
            .field("lookback", &self.lookback)
            .field("filter", &self.filter)
            .finish_non_exhaustive()
    }
}

/// An HTTP failure with advice for the operator appended.
#[derive(Debug, thiserror::Error)]
#[error("{inner}{hint}")]
struct Advised {
    inner: HttpError,
    hint: &'static str,
}

fn stream_error(err: HttpError) -> StreamError {
    let hint = match err.status().map(|s| s.as_u16()) {
        Some(401) => {
            " — Okta rejected the credentials: check `token` (API tokens expire after 30 days unused) or the OAuth app's `client_id`/key"
        }
        Some(403) => {
            " — Okta refused access to the System Log: the API token's admin needs a role that may read the System Log (e.g. Read-Only Administrator); an OAuth app needs the okta.logs.read scope granted and an admin role"
        }
        _ => "",
    };
    if err.is_fatal() {
        StreamError::fatal(Advised { inner: err, hint })
    } else {
        StreamError::transient(Advised { inner: err, hint })
    }
}

/// A fatal problem found by the stream itself (a corrupt cursor, a `next` link to another host).
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
struct Refused(String);

impl SystemLogStream {
    pub(crate) fn new(http: HttpClient, logs_url: Url, limit: u32, lookback: Duration, filter: Option<String>) -> Self {
        Self { http, logs_url, limit, lookback, filter }
    }

    /// The first request of a stream without a cursor: `since = now − lookback`, `limit`, ascending.
    pub fn first_url(&self) -> Url {
        let since = jiff::Timestamp::now()
            - jiff::SignedDuration::try_from(self.lookback).unwrap_or(jiff::SignedDuration::ZERO);
        let since = since.round(jiff::Unit::Millisecond).unwrap_or(since);
        let mut url = self.logs_url.clone();
        {
            let mut query = url.query_pairs_mut();
            query.append_pair("since", &since.strftime("%Y-%m-%dT%H:%M:%S%.3fZ").to_string());
            query.append_pair("limit", &self.limit.to_string());
            query.append_pair("sortOrder", "ASCENDING");
            if let Some(filter) = &self.filter {
                query.append_pair("filter", filter);
            }
        }
        url
    }

    fn resume_point(&self, cursor: Option<Cursor>) -> Result<Resume, StreamError> {
        match cursor {
            None => Ok(Resume { url: self.first_url(), through: None, index: None, seen: Vec::new() }),
            Some(cursor) => {
                let resume = Resume::from_cursor(&cursor).map_err(|why| {
                    StreamError::fatal(Refused(format!(
                        "the stored checkpoint is not an Okta System Log cursor ({why}); fix or delete it to restart from initial_lookback"
                    )))
                })?;
                if resume.url.origin() != self.logs_url.origin() {
                    return Err(StreamError::fatal(Refused(format!(
                        "the stored checkpoint belongs to {}, but this source now points at {}; delete the checkpoint to restart from initial_lookback",
                        resume.url.origin().ascii_serialization(),
                        self.logs_url.origin().ascii_serialization()
                    ))));
                }
                Ok(resume)
            }
        }
    }

    fn fetch_records(&self, cursor: Option<Cursor>) -> RecordStream<'_> {
        async_stream::try_stream! {
            let Resume { mut url, mut through, mut index, seen } = self.resume_point(cursor)?;
            let mut seen: HashSet<String> = seen.into_iter().collect();
            let mut empty_hops = 0usize;
            let mut prefetched: Option<Prefetch> = None;
            loop {
                let page = match prefetched.take() {
                    Some(prefetch) => prefetch.join().await?,
                    None => fetch_page(self.http.clone(), url.clone()).await?,
                };
                let Page { next, events } = page;
                let served = events.len();
                let page_limit = limit_of(&url);

                // Where this page's delivery starts (a cursor taken inside the page skips what was delivered).
                let start = match (through.take(), index.take()) {
                    (Some(uuid), index) => match events.iter().position(|e| e.uuid() == Some(uuid.as_str())) {
                        Some(pos) => pos + 1,
                        None => {
                            tracing::warn!(url = %redact_url(&url), uuid = %uuid, index = ?index, "the event the checkpoint points at is no longer on its page; re-delivering the page");
                            0
                        }
                    },
                    (None, Some(index)) => (index + 1).min(served),
                    (None, None) => 0,
                };

                // The uuids at the page's final `published` instant: dropped if the next page serves them again.
                let tail: Vec<String> = tail_uuids(&events);
                let end_cursor = next.as_ref().map(|next| page_end_cursor(next, &tail));
                let duplicate = |e: &Event| !seen.is_empty() && e.uuid().is_some_and(|u| seen.contains(u));
                let last_kept = events.iter().enumerate().skip(start).rev().find(|(_, e)| !duplicate(e)).map(|(i, _)| i);
                let dropped = events.iter().skip(start).filter(|e| duplicate(e)).count();
                if dropped > 0 {
                    tracing::debug!(url = %redact_url(&url), dropped, "dropped events already delivered at the previous page's boundary");
                }

                // Whether another page follows is known now; if so, fetch and parse it on another task while
                // this page's records are delivered.
                let follow = match &next {
                    None => None,
                    Some(next) if *next == url => None, // polling and caught up: Okta answers `[]` with next == self
                    Some(next) if served == 0 => {
                        empty_hops += 1;
                        (empty_hops <= MAX_EMPTY_HOPS).then(|| next.clone())
                    }
                    // A short page: caught up, the next run starts at `next` (no wasted empty poll).
                    Some(next) => {
                        empty_hops = 0;
                        (served >= page_limit).then(|| next.clone())
                    }
                };
                if let Some(follow) = &follow {
                    prefetched = Some(Prefetch(tokio::spawn(fetch_page(self.http.clone(), follow.clone()))));
                }

                let mut end_cursor = end_cursor;
                for (i, event) in events.into_iter().enumerate().skip(start) {
                    if duplicate(&event) {
                        continue;
                    }
                    let cursor = if Some(i) == last_kept && end_cursor.is_some() {
                        end_cursor.take().expect("checked")
                    } else {
                        mid_page_cursor(&url, event.uuid(), i)
                    };
                    yield LogRecord { data: event.data, cursor: Some(cursor), raw: Some(event.raw) };
                }
                seen = tail.into_iter().collect();

                match follow {
                    Some(follow) => url = follow,
                    None => break,
                }
            }
        }
        .boxed()
    }
}

/// One page's events, already mapped to records, and Okta's `next` link (already checked to stay on the
/// org).
struct Page {
    next: Option<Url>,
    events: Vec<Event>,
}

/// Fetches and parses the page at `url`. Run on its own task for the page after the current one, so
/// parsing overlaps the delivery of the current page on another core.
async fn fetch_page(http: HttpClient, url: Url) -> Result<Page, StreamError> {
    let response = http.get(url.clone()).await.map_err(stream_error)?;
    let next = response.link("next");
    if let Some(next) = &next {
        // Refuse before delivering anything: a committed cursor must never point off the org.
        http.ensure_same_origin(next).map_err(|err| {
            StreamError::fatal(Refused(format!("Okta's next link from {} leaves the org: {err}", redact_url(&url))))
        })?;
    }
    // Each event stays the JSON Okta sent, a slice of the page's body (nothing is allocated or copied per
    // event for it); only what logcrawl reads is parsed.
    let events: Vec<&RawValue> = response.json().map_err(stream_error)?;
    let events = events
        .into_iter()
        .enumerate()
        .map(|(i, raw)| {
            to_event(RawEvent::in_page(&response.body, raw)).map_err(|err| {
                stream_error(HttpError::Decode { url: redact_url(&url), message: format!("event {i}: {err}") })
            })
        })
        .collect::<Result<Vec<_>, _>>()?;
    Ok(Page { next, events })
}

/// The next page, fetched on its own task while the current one is delivered (one page ahead at most, so
/// memory stays two pages). Dropping it — the run ended early — aborts the request.
struct Prefetch(tokio::task::JoinHandle<Result<Page, StreamError>>);

impl Prefetch {
    async fn join(mut self) -> Result<Page, StreamError> {
        match (&mut self.0).await {
            Ok(page) => page,
            Err(join) => Err(StreamError::transient(Refused(format!("fetching the next Okta page failed: {join}")))),
        }
    }
}

impl Drop for Prefetch {
    fn drop(&mut self) {
        self.0.abort();
    }
}

impl LogStream for SystemLogStream {
    fn name(&self) -> &str {
        STREAM_NAME
    }

    fn records(&self, cursor: Option<Cursor>) -> RecordStream<'_> {
        self.fetch_records(cursor)
    }
}

/// The page size a URL asks for (Okta's default when absent), so a stored `next` from an older `limit`
/// setting is judged by the limit it carries.
fn limit_of(url: &Url) -> usize {
    url.query_pairs()
        .find(|(k, _)| k == "limit")
        .and_then(|(_, v)| v.parse::<usize>().ok())
        .filter(|&l| l > 0)
        .unwrap_or(OKTA_DEFAULT_LIMIT)
}

/// The `uuid`s of the events that share the last event's `published` value.
fn tail_uuids(events: &[Event]) -> Vec<String> {
    let Some(last) = events.last() else { return Vec::new() };
    let last_published = last.published();
    events
        .iter()
        .rev()
        .take_while(|e| e.published() == last_published)
        .filter_map(|e| e.uuid().map(str::to_owned))
        .collect()
}

fn page_end_cursor(next: &Url, seen: &[String]) -> Cursor {
    let mut map = Map::new();
    map.insert("v".into(), Value::from(CURSOR_VERSION));
    map.insert("url".into(), Value::String(next.as_str().to_owned()));
    map.insert("seen".into(), Value::Array(seen.iter().cloned().map(Value::String).collect()));
    Value::Object(map)
}

fn mid_page_cursor(page: &Url, uuid: Option<&str>, index: usize) -> Cursor {
    let mut map = Map::new();
    map.insert("v".into(), Value::from(CURSOR_VERSION));
    map.insert("url".into(), Value::String(page.as_str().to_owned()));
    if let Some(uuid) = uuid {
        map.insert("through".into(), Value::String(uuid.to_owned()));
    }
    map.insert("index".into(), Value::from(index as u64));
    Value::Object(map)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn cursors_round_trip() {
        let page = Url::parse("https://acme.okta.com/api/v1/logs?after=abc&limit=1000").unwrap();
        let mid = Resume::from_cursor(&mid_page_cursor(&page, Some("u7"), 7)).unwrap();
        assert_eq!(mid, Resume { url: page.clone(), through: Some("u7".into()), index: Some(7), seen: vec![] });
        let end = Resume::from_cursor(&page_end_cursor(&page, &["a".into(), "b".into()])).unwrap();
        assert_eq!(end.seen, vec!["a".to_owned(), "b".to_owned()]);
        assert_eq!(end.through, None);
    }

    #[test]
    fn foreign_cursors_are_refused_with_a_reason() {
        assert!(Resume::from_cursor(&json!("https://acme.okta.com/api/v1/logs")).unwrap_err().contains("object"));
        assert!(Resume::from_cursor(&json!({"v": 9, "url": "https://x/"})).unwrap_err().contains("version 9"));
        assert!(Resume::from_cursor(&json!({"v": 1})).unwrap_err().contains("url"));
    }

    #[test]
    fn limit_and_tail() {
        assert_eq!(limit_of(&Url::parse("https://x/api/v1/logs?limit=20").unwrap()), 20);
        assert_eq!(limit_of(&Url::parse("https://x/api/v1/logs?after=1").unwrap()), 100);
        let page = json!([
            {"uuid": "a", "published": "t1"}, {"uuid": "b", "published": "t2"}, {"uuid": "c", "published": "t2"}
        ]);
        let events: Vec<Event> = serde_json::from_str::<Vec<Box<RawValue>>>(&page.to_string())
            .unwrap()
            .into_iter()
            .map(|raw| to_event(raw.into()).unwrap())
            .collect();
        assert_eq!(tail_uuids(&events), vec!["c".to_owned(), "b".to_owned()]);
        assert!(tail_uuids(&[]).is_empty());
    }
}
