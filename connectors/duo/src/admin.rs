//! The administrator log (v1): the SDK's page loop over `GET /admin/v1/logs/administrator?mintime=S`.
//!
//! * **Pages.** Duo answers the (at most) 1000 earliest events whose `timestamp` (epoch seconds) is
//!   `mintime` or later, oldest first; there is no `limit`, `maxtime` or offset. The next page asks
//!   again from the last event's second, so the events of that second come again: they are dropped
//!   (the SDK's boundary dedupe, [`PagedApi::key`]).
//! * **Ids.** The events have none: an event's id is a digest of its JSON, numbered when the same JSON
//!   occurs twice in a page (two identical actions in one second are two events), so an event served
//!   again is recognised and two alike are both delivered.
//! * **Settling.** `maxtime` does not exist here, so the events of the seconds after `now −
//!   settle_lag` are left for a later run: the page ends before them, as caught up.
//! * **A full second.** A page of 1000 events of a single second cannot be continued from that second
//!   (Duo would answer the same page): the next page starts at the second after it, and whatever else
//!   Duo holds for that second is not fetched — a warning says so (Duo's v1 API offers no way to page
//!   inside a second).

use std::collections::HashMap;
use std::time::Duration;

use jiff::Timestamp;
use logcrawl_connector::{Key, Next, Page, PagedApi, PagedStream, Position, Resume, TypedCursor, malformed};
use logcrawl_core::{LogRecord, RawEvent, StreamError};
use logcrawl_http::header::{ACCEPT, HeaderValue};
use logcrawl_http::{HttpError, RequestSpec, Response, Url, redact_url};
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
use sha2::{Digest, Sha256};

use crate::answer::{refusal, response_of};
use crate::config::DuoLog;
use crate::event::{self, DuoEvent};

/// The most events Duo answers a v1 log request with.
pub const V1_PAGE: usize = 1000;

/// The administrator log as one resumable stream of pages.
pub type AdminStream = PagedStream<AdminApi>;

/// Where the administrator log resumes: the `mintime` (epoch seconds) of the page to ask for.
///
/// The stored document (version 1) adds what the SDK keeps for exact resumes: at a page's end
/// `{"mintime": S, "seen": [ids at second S], "v": 1}` (ask from `S`, drop `seen`); inside a page
/// `{"mintime": S, "through": ID, "index": I, "v": 1}` (ask for the page again, skip through `ID`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AdminCursor {
    /// The page's `mintime`, in epoch seconds.
    pub mintime: i64,
}

impl TypedCursor for AdminCursor {
    const VERSION: u64 = 1;
    const SHAPE: &'static str = r#"{"mintime": <epoch seconds>, "v": 1}"#;
}

/// The administrator log endpoint, page by page.
#[derive(Debug)]
pub struct AdminApi {
    url: Url,
    lookback: Duration,
    settle_lag: Duration,
}

/// An administrator event with what places it: its second (as text, the SDK's instant) and its id.
#[derive(Debug)]
pub struct AdminEvent {
    event: DuoEvent,
    second: i64,
    instant: String,
    id: String,
}

/// The `mintime` a request asks for.
fn mintime_of(url: &Url) -> Option<i64> {
    url.query_pairs().find(|(key, _)| key == "mintime").and_then(|(_, value)| value.parse().ok())
}

/// The id of an event without one: the digest of its JSON, `#n` added for its `n`th occurrence (n ≥ 2)
/// on its page.
fn digest_id(raw: &[u8], occurrences: &mut HashMap<[u8; 16], u32>) -> String {
    let digest = Sha256::digest(raw);
    let mut short = [0u8; 16];
    short.copy_from_slice(&digest[..16]);
    let seen = occurrences.entry(short).or_insert(0);
    *seen += 1;
    match *seen {
        1 => hex::encode(short),
        n => format!("{}#{n}", hex::encode(short)),
    }
}

impl AdminApi {
    /// The endpoint below `base`; a first run starts `lookback` ago, and no run reads the seconds after
    /// `now − settle_lag`.
    pub(crate) fn new(base: &Url, lookback: Duration, settle_lag: Duration) -> Result<Self, String> {
        let url = base.join(DuoLog::Administrator.path()).map_err(|err| err.to_string())?;
        Ok(Self { url, lookback, settle_lag })
    }

    /// The request for the page from `mintime`.
    pub fn request(&self, mintime: i64) -> RequestSpec {
        let mut url = self.url.clone();
        url.query_pairs_mut().append_pair("mintime", &mintime.to_string());
        RequestSpec::get(url).header(ACCEPT, HeaderValue::from_static("application/json"))
    }

    /// The first second not yet settled.
    fn horizon(&self) -> i64 {
        let lag = jiff::SignedDuration::try_from(self.settle_lag).unwrap_or(jiff::SignedDuration::MAX);
        (Timestamp::now() - lag).as_second()
    }
}

impl PagedApi for AdminApi {
    type Cursor = AdminCursor;
    type Event = AdminEvent;

    fn stream_name(&self) -> &str {
        DuoLog::Administrator.name()
    }

    fn first_request(&self, cursor: Option<&AdminCursor>) -> Result<RequestSpec, StreamError> {
        let mintime = match cursor {
            Some(cursor) => cursor.mintime,
            None => {
                let lookback = jiff::SignedDuration::try_from(self.lookback).unwrap_or(jiff::SignedDuration::MAX);
                Timestamp::now().checked_sub(lookback).unwrap_or(Timestamp::UNIX_EPOCH).as_second().max(0)
            }
        };
        Ok(self.request(mintime))
    }

    fn parse(&self, response: &Response) -> Result<Page<AdminEvent>, StreamError> {
        let log = DuoLog::Administrator.name();
        let body = response_of(response, log)?;
        let raws: Vec<&RawValue> =
            serde_json::from_str(body.get()).map_err(|err| malformed(response, format!("the `response`: {err}")))?;
        let full = raws.len() >= V1_PAGE;
        let mut events = raws
            .into_iter()
            .enumerate()
            .map(|(i, raw)| {
                let event = event::administrator(RawEvent::in_page(&response.body, raw))
                    .map_err(|err| malformed(response, format!("event {i}: {err}")))?;
                let second =
                    event.second.ok_or_else(|| malformed(response, format!("event {i} has no `timestamp`")))?;
                Ok((second, event))
            })
            .collect::<Result<Vec<_>, StreamError>>()?;
        // Oldest first, as Duo answers (a stable sort keeps Duo's order inside a second).
        events.sort_by_key(|(second, _)| *second);
        let horizon = self.horizon();
        let settled = events.iter().position(|(second, _)| *second >= horizon).unwrap_or(events.len());
        let cut = settled < events.len();
        events.truncate(settled);
        let mut occurrences = HashMap::new();
        let events: Vec<AdminEvent> = events
            .into_iter()
            .map(|(second, event)| {
                let id = digest_id(event.raw.as_bytes(), &mut occurrences);
                AdminEvent { event, second, instant: second.to_string(), id }
            })
            .collect();
        let asked = mintime_of(&response.url);
        let next = match events.last().map(|event| event.second) {
            None => Next::Done,
            Some(last) if cut || !full => Next::Later(self.request(last)),
            Some(last) if Some(last) == asked => {
                tracing::warn!(stream = log, url = %redact_url(&response.url), second = last,
                    "Duo answered 1000 administrator events of one second, its most: the v1 API cannot page inside \
                     a second, so any further events of that second are not fetched");
                Next::Request(self.request(last + 1))
            }
            Some(last) => Next::Request(self.request(last)),
        };
        Ok(Page { events, next })
    }

    fn record(&self, event: AdminEvent, at: Position<'_>) -> (LogRecord, Resume<AdminCursor>) {
        let record = LogRecord { data: event.event.data, cursor: None, raw: Some(event.event.raw) };
        match mintime_of(&at.page.url) {
            Some(mintime) => (record, Resume::InPage(AdminCursor { mintime })),
            None => (record, Resume::Stay),
        }
    }

    fn key<'e>(&self, event: &'e AdminEvent) -> Key<'e> {
        Key { id: Some(&event.id), instant: Some(&event.instant) }
    }

    fn cursor_at(&self, next: &RequestSpec, _instant: Option<&str>) -> Option<AdminCursor> {
        mintime_of(&next.url).map(|mintime| AdminCursor { mintime })
    }

    fn error(&self, err: HttpError) -> StreamError {
        refusal(err, DuoLog::Administrator.name())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identical_events_of_a_page_get_numbered_ids() {
        let mut seen = HashMap::new();
        let a = digest_id(br#"{"action":"user_update"}"#, &mut seen);
        let b = digest_id(br#"{"action":"user_delete"}"#, &mut seen);
        let again = digest_id(br#"{"action":"user_update"}"#, &mut seen);
        assert_eq!(a.len(), 32);
        assert_ne!(a, b);
        assert_eq!(again, format!("{a}#2"));
        assert_eq!(digest_id(br#"{"action":"user_update"}"#, &mut HashMap::new()), a, "the same on every page");
    }

    #[test]
    fn requests_ask_from_a_second() {
        let api = AdminApi::new(
            &Url::parse("https://api-x.duosecurity.com/").unwrap(),
            Duration::from_secs(60),
            Duration::ZERO,
        )
        .unwrap();
        let request = api.request(1_579_878_582);
        assert_eq!(
            request.url.as_str(),
            "https://api-x.duosecurity.com/admin/v1/logs/administrator?mintime=1579878582"
        );
        assert_eq!(mintime_of(&request.url), Some(1_579_878_582));
        let first = api.first_request(None).unwrap();
        let asked = mintime_of(&first.url).unwrap();
        assert!((Timestamp::now().as_second() - 60 - asked).abs() <= 1, "{asked}");
        assert_eq!(api.cursor_at(&request, None), Some(AdminCursor { mintime: 1_579_878_582 }));
    }
}
