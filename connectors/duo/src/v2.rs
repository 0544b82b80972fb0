//! The v2 logs, authentication and telephony: the SDK's time windows over `GET
//! /admin/v2/logs/{authentication,telephony}`, each window read newest first through `next_offset`.
//!
//! * **Windows.** `mintime` and `maxtime` are epoch milliseconds, both inclusive, so the window
//!   `[start, end)` is asked as `mintime = start`, `maxtime = end − 1`. Duo wants `mintime` strictly
//!   less than `maxtime`: a window of one millisecond (the rest of a window stopped inside its first
//!   millisecond, or two runs a millisecond apart) is asked as `maxtime = end`, and the events of that
//!   one millisecond after it may come twice. No window ends later than `now − settle_lag`.
//! * **Pages.** `sort=ts:desc` (newest first) and `limit = page_size`; the next page is the same query
//!   with `next_offset` set to what the answer's `metadata.next_offset` says (authentication: the pair
//!   `[ts, txid]`, passed back as `ts,txid`; telephony: one string), until it is absent.
//! * **Exact cursors.** Every event has a unique id (`txid`, `telephony_id`) and, to the millisecond,
//!   the instant Duo filters by: each record's cursor says how far down its window was delivered
//!   ([`WindowedApi::key`]). An event whose time is in whole seconds only carries no exact cursor (the
//!   rest of its window commits at the window's end).

use std::time::Duration;

use jiff::Timestamp;
use logcrawl_connector::{Keyed, Next, Page, Window, WindowedApi, WindowedStream, malformed};
use logcrawl_core::{LogRecord, RawEvent, StreamError};
use logcrawl_http::header::{ACCEPT, HeaderValue};
use logcrawl_http::{HttpError, RequestSpec, Response, Url};
use serde::Deserialize;
use serde_json::Value;
use serde_json::value::RawValue;

use crate::answer::{refusal, response_of};
use crate::config::DuoLog;
use crate::event::{self, DuoEvent};

/// The longest window one query covers: a run stopped inside one resumes exactly (every record's
/// cursor is exact), so the step only bounds a window's pages.
pub const WINDOW_STEP: Duration = Duration::from_secs(6 * 3600);

/// The most events one window may hold before the stream gives up on it (a window of more is an error
/// naming it, never a loop).
pub const MAX_EVENTS_PER_WINDOW: usize = 10_000_000;

/// The pages of `page_size` events that many events take.
pub fn pages_per_window(page_size: u32) -> usize {
    MAX_EVENTS_PER_WINDOW.div_ceil(page_size.max(1) as usize)
}

/// A v2 log as one resumable stream of time windows.
pub type V2Stream = WindowedStream<V2Api>;

/// One v2 log endpoint, window by window: its queries, its pages, its refusals.
#[derive(Debug)]
pub struct V2Api {
    log: DuoLog,
    url: Url,
    page_size: u32,
}

/// The `response` of a v2 answer.
#[derive(Deserialize)]
struct V2Page<'a> {
    #[serde(borrow, default)]
    authlogs: Option<Vec<&'a RawValue>>,
    #[serde(borrow, default)]
    items: Option<Vec<&'a RawValue>>,
    #[serde(default)]
    metadata: Option<Metadata>,
}

#[derive(Deserialize)]
struct Metadata {
    #[serde(default)]
    next_offset: Option<Value>,
}

/// `next_offset` as a query parameter: a list's members joined by commas, a string as it is; nothing
/// when absent, null or empty.
pub fn next_offset(value: Option<&Value>) -> Result<Option<String>, String> {
    let text = match value {
        None | Some(Value::Null) => return Ok(None),
        Some(Value::String(text)) => text.clone(),
        Some(Value::Array(parts)) => {
            let parts = parts
                .iter()
                .map(|part| match part {
                    Value::String(text) => Ok(text.clone()),
                    Value::Number(n) => Ok(n.to_string()),
                    other => Err(format!("`next_offset` holds {other}, not a string or number")),
                })
                .collect::<Result<Vec<_>, _>>()?;
            parts.join(",")
        }
        Some(other) => return Err(format!("`next_offset` is {other}, not a list or a string")),
    };
    Ok(Some(text).filter(|text| !text.is_empty()))
}

fn ceil_ms(at: Timestamp) -> i64 {
    at.as_millisecond() + i64::from(at.subsec_nanosecond() % 1_000_000 > 0)
}

impl V2Api {
    /// The `log` endpoint (authentication or telephony) below `base`, `page_size` events a request.
    pub(crate) fn new(log: DuoLog, base: &Url, page_size: u32) -> Result<Self, String> {
        let url = base.join(log.path()).map_err(|err| err.to_string())?;
        Ok(Self { log, url, page_size })
    }

    /// The query for `window` (see the module documentation).
    pub fn window_url(&self, window: Window) -> Url {
        let (mintime, end) = (ceil_ms(window.start), ceil_ms(window.end));
        let maxtime = if end - 1 > mintime { end - 1 } else { end.max(mintime + 1) };
        let mut url = self.url.clone();
        url.query_pairs_mut()
            .append_pair("mintime", &mintime.to_string())
            .append_pair("maxtime", &maxtime.to_string())
            .append_pair("limit", &self.page_size.to_string())
            .append_pair("sort", "ts:desc");
        url
    }

    fn request(url: Url) -> RequestSpec {
        RequestSpec::get(url).header(ACCEPT, HeaderValue::from_static("application/json"))
    }

    fn event(&self, raw: RawEvent) -> Result<DuoEvent, serde_json::Error> {
        match self.log {
            DuoLog::Telephony => event::telephony(raw),
            _ => event::authentication(raw),
        }
    }
}

impl WindowedApi for V2Api {
    type Event = DuoEvent;

    fn stream_name(&self) -> &str {
        self.log.name()
    }

    fn window_request(&self, window: Window) -> Result<RequestSpec, StreamError> {
        Ok(Self::request(self.window_url(window)))
    }

    fn parse(&self, response: &Response) -> Result<Page<DuoEvent>, StreamError> {
        let body = response_of(response, self.log.name())?;
        let page: V2Page<'_> =
            serde_json::from_str(body.get()).map_err(|err| malformed(response, format!("the `response`: {err}")))?;
        let (events, member) = match self.log {
            DuoLog::Telephony => (page.items, "items"),
            _ => (page.authlogs, "authlogs"),
        };
        let Some(events) = events else {
            return Err(malformed(response, format!("the `response` has no `{member}`")));
        };
        let events = events
            .into_iter()
            .enumerate()
            .map(|(i, raw)| {
                self.event(RawEvent::in_page(&response.body, raw))
                    .map_err(|err| malformed(response, format!("{member}[{i}]: {err}")))
            })
            .collect::<Result<Vec<_>, _>>()?;
        let offset = next_offset(page.metadata.as_ref().and_then(|m| m.next_offset.as_ref()))
            .map_err(|why| malformed(response, why))?;
        let next = match offset {
            None => Next::Done,
            Some(offset) => Next::Request(Self::request(response.url.clone()).with_query_set("next_offset", &offset)),
        };
        Ok(Page { events, next })
    }

    fn record(&self, event: DuoEvent) -> LogRecord {
        LogRecord { data: event.data, cursor: None, raw: Some(event.raw) }
    }

    /// Duo serves a v2 query newest first (`sort=ts:desc`), and `txid` / `telephony_id` are unique:
    /// every record with a millisecond time gets an exact cursor inside its window.
    fn key<'e>(&self, event: &'e DuoEvent) -> Option<Keyed<'e>> {
        Some(Keyed { id: event.id.as_deref()?, at: event.at? })
    }

    fn error(&self, err: HttpError) -> StreamError {
        refusal(err, self.log.name())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use jiff::SignedDuration;
    use serde_json::json;

    #[test]
    fn windows_map_onto_inclusive_milliseconds() {
        let api =
            V2Api::new(DuoLog::Authentication, &Url::parse("https://api-x.duosecurity.com/").unwrap(), 500).unwrap();
        let start = Timestamp::from_millisecond(1_700_000_000_000).unwrap();
        let query = |window: Window| -> Vec<(String, String)> {
            api.window_url(window).query_pairs().map(|(k, v)| (k.into(), v.into())).collect()
        };
        let hour = Window { start, end: start + SignedDuration::from_secs(3600) };
        let expected =
            [("mintime", "1700000000000"), ("maxtime", "1700003599999"), ("limit", "500"), ("sort", "ts:desc")];
        assert_eq!(query(hour), expected.map(|(k, v)| (k.to_owned(), v.to_owned())));
        assert_eq!(api.window_url(hour).path(), "/admin/v2/logs/authentication");
        // One millisecond: Duo wants mintime < maxtime.
        let one = Window { start, end: start + SignedDuration::from_millis(1) };
        assert_eq!(
            &query(one)[..2],
            [("mintime".into(), "1700000000000".into()), ("maxtime".into(), "1700000000001".into())]
        );
        let two = Window { start, end: start + SignedDuration::from_millis(2) };
        assert_eq!(query(two)[1], ("maxtime".into(), "1700000000001".into()));
    }

    #[test]
    fn a_window_may_hold_ten_million_events_at_any_page_size() {
        assert_eq!(pages_per_window(1000), 10_000);
        assert_eq!(pages_per_window(1), 10_000_000);
        assert_eq!(pages_per_window(300), 33_334);
    }

    #[test]
    fn next_offsets_are_lists_or_strings() {
        assert_eq!(next_offset(Some(&json!(["1547486297000", "5bea1c1e"]))), Ok(Some("1547486297000,5bea1c1e".into())));
        assert_eq!(
            next_offset(Some(&json!([1547486297000_i64, "5bea1c1e"]))),
            Ok(Some("1547486297000,5bea1c1e".into()))
        );
        assert_eq!(next_offset(Some(&json!("1666714065304,5bf1a860"))), Ok(Some("1666714065304,5bf1a860".into())));
        for none in [None, Some(json!(null)), Some(json!("")), Some(json!([]))] {
            assert_eq!(next_offset(none.as_ref()), Ok(None), "{none:?}");
        }
        assert!(next_offset(Some(&json!({"ts": 1}))).is_err());
        assert!(next_offset(Some(&json!([{"ts": 1}]))).is_err());
    }

    proptest::proptest! {
        #[test]
        fn a_listed_offset_reads_back_as_its_parts(parts in proptest::collection::vec("[0-9a-f-]{1,36}", 1..4)) {
            let joined = next_offset(Some(&json!(parts))).unwrap().unwrap();
            proptest::prop_assert_eq!(joined.split(',').collect::<Vec<_>>(), parts.iter().map(String::as_str).collect::<Vec<_>>());
        }
    }
}
