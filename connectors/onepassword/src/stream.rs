//! One stream per Events API endpoint: the SDK's page loop over 1Password's body cursors, which name a
//! page, persist once caught up, and are refused (400) when 1Password no longer honours them.

use std::time::Duration;

use logcrawl_connector::{Key, Next, Page, PagedApi, PagedStream, Position, Resume, TypedCursor, advised, malformed};
use logcrawl_core::{LogRecord, RawEvent, StreamError};
use logcrawl_http::header::{CONTENT_TYPE, HeaderValue};
use logcrawl_http::{HttpError, RequestSpec, Response, StatusCode, Url};
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;

use crate::event::{OnePasswordEvent, to_event};

/// One of the Events API's three event features, each a stream of its own.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Feature {
    /// `auditevents`: actions team members performed in the account.
    AuditEvents,
    /// `signinattempts`: successful and failed attempts to sign in.
    SignInAttempts,
    /// `itemusages`: each use of an item in a shared vault.
    ItemUsages,
}

impl Feature {
    /// The three, in the order of the API reference.
    pub const ALL: [Feature; 3] = [Feature::AuditEvents, Feature::SignInAttempts, Feature::ItemUsages];

    /// The stream's name: the endpoint's last path segment and the token's feature name.
    pub fn name(self) -> &'static str {
        match self {
            Feature::AuditEvents => "auditevents",
            Feature::SignInAttempts => "signinattempts",
            Feature::ItemUsages => "itemusages",
        }
    }

    /// The feature called `name`.
    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|feature| feature.name() == name)
    }

    /// How 1Password's admin console names the feature (for the operator).
    fn described(self) -> &'static str {
        match self {
            Feature::AuditEvents => "audit events",
            Feature::SignInAttempts => "sign-in attempts",
            Feature::ItemUsages => "item usage",
        }
    }
}

/// Where a stream resumes: 1Password's cursor (or, before the first one, the first query's
/// `start_time`) and the `timestamp` of the last event delivered.
///
/// The stored document (version 1) adds what the SDK's page loop keeps for exact resumes inside a page
/// (`through`, `index`) and at a page's end (`seen`):
///
/// * page end: `{"v":1,"cursor":C,"timestamp":T,"seen":[UUID…]}`: request `C`, drop `seen`;
/// * mid-page: `{"v":1,"cursor":C,"timestamp":T,"through":UUID,"index":I}`: request the page again
///   (the cursor that fetched it) and skip through `UUID`;
/// * on the first page of a first run `cursor` is absent and `start_time` stands for it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OnePasswordCursor {
    /// The cursor 1Password returned (or that fetched the page a mid-page cursor was taken on).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cursor: Option<String>,
    /// The `start_time` of the first query (RFC 3339), when no cursor exists yet.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start_time: Option<String>,
    /// The `timestamp` of the last event delivered, as 1Password wrote it: where a run restarts
    /// (`start_time`) when 1Password refuses `cursor`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timestamp: Option<String>,
}

impl TypedCursor for OnePasswordCursor {
    const VERSION: u64 = 1;
    const SHAPE: &'static str =
        r#"a 1Password cursor, {"v": 1, "cursor": "<1Password's cursor>", "timestamp": "<instant>", …}"#;
}

/// A request body: 1Password's *Cursor* or *ResetCursor*.
#[derive(Debug, Serialize, Deserialize)]
struct Body {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    cursor: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    limit: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    start_time: Option<String>,
}

/// One page as 1Password answers it.
#[derive(Deserialize)]
struct Answer<'a> {
    cursor: Option<String>,
    has_more: bool,
    #[serde(borrow, default)]
    items: Option<Vec<&'a RawValue>>,
}

/// One feature's events, page by page: its requests, its pages, its refusals.
#[derive(Debug)]
pub struct EventsApi {
    feature: Feature,
    url: Url,
    page_size: u32,
    lookback: Duration,
}

/// A feature's stream: the SDK's page loop over [`EventsApi`].
pub type EventsStream = PagedStream<EventsApi>;

impl EventsApi {
    /// The endpoint of `feature` under `base` (`{base}api/v2/{feature}`), `page_size` events a request,
    /// a first run starting `lookback` back.
    pub(crate) fn new(feature: Feature, base: &Url, page_size: u32, lookback: Duration) -> Result<Self, String> {
        let url = base.join(&format!("api/v2/{}", feature.name())).map_err(|err| err.to_string())?;
        Ok(Self { feature, url, page_size, lookback })
    }

    /// The feature this stream reads.
    pub fn feature(&self) -> Feature {
        self.feature
    }

    fn request(&self, body: &Body) -> RequestSpec {
        let json = serde_json::to_vec(body).unwrap_or_default();
        RequestSpec::post(self.url.clone(), json).header(CONTENT_TYPE, HeaderValue::from_static("application/json"))
    }

    /// The first query of a stream without a cursor: `start_time = now − lookback`.
    fn reset(&self, start_time: &str) -> RequestSpec {
        self.request(&Body { cursor: None, limit: Some(self.page_size), start_time: Some(start_time.to_owned()) })
    }

    fn continue_at(&self, cursor: &str) -> RequestSpec {
        self.request(&Body { cursor: Some(cursor.to_owned()), limit: None, start_time: None })
    }

    /// What a request built here asks for, as a cursor at `timestamp`.
    fn cursor_of(request: &RequestSpec, timestamp: Option<&str>) -> Option<OnePasswordCursor> {
        let body: Body = serde_json::from_slice(request.body.as_deref()?).ok()?;
        Some(OnePasswordCursor {
            cursor: body.cursor,
            start_time: body.start_time,
            timestamp: timestamp.map(str::to_owned),
        })
    }
}

impl PagedApi for EventsApi {
    type Cursor = OnePasswordCursor;
    type Event = OnePasswordEvent;

    fn stream_name(&self) -> &str {
        self.feature.name()
    }

    fn first_request(&self, cursor: Option<&OnePasswordCursor>) -> Result<RequestSpec, StreamError> {
        match cursor {
            None => {
                let since = jiff::Timestamp::now()
                    - jiff::SignedDuration::try_from(self.lookback).unwrap_or(jiff::SignedDuration::ZERO);
                Ok(self.reset(&format!("{since:.3}")))
            }
            Some(OnePasswordCursor { cursor: Some(cursor), .. }) => Ok(self.continue_at(cursor)),
            Some(OnePasswordCursor { cursor: None, start_time: Some(start_time), .. }) => Ok(self.reset(start_time)),
            Some(OnePasswordCursor { cursor: None, start_time: None, .. }) => {
                Err(StreamError::checkpoint("the stored cursor has neither a 1Password `cursor` nor a `start_time`"))
            }
        }
    }

    /// Each item stays the JSON 1Password sent, a slice of the page. `has_more` says whether to fetch
    /// the next page now; once it is false the returned cursor is where the next run polls.
    fn parse(&self, response: &Response) -> Result<Page<OnePasswordEvent>, StreamError> {
        let answer: Answer<'_> = response.json()?;
        let Some(cursor) = answer.cursor.filter(|c| !c.is_empty()) else {
            return Err(malformed(response, "the page has no cursor"));
        };
        let events = answer
            .items
            .unwrap_or_default()
            .into_iter()
            .enumerate()
            .map(|(i, raw)| {
                to_event(self.feature, RawEvent::in_page(&response.body, raw))
                    .map_err(|err| malformed(response, format!("item {i}: {err}")))
            })
            .collect::<Result<Vec<_>, _>>()?;
        let next = self.continue_at(&cursor);
        let next = if answer.has_more { Next::Request(next) } else { Next::Later(next) };
        Ok(Page { events, next })
    }

    fn record(&self, event: OnePasswordEvent, at: Position<'_>) -> (LogRecord, Resume<OnePasswordCursor>) {
        // Every page is requested with a body built here, so it always reads back; `Stay` is for the impossible.
        let resume = Self::cursor_of(at.page, event.timestamp.as_deref()).map_or(Resume::Stay, Resume::InPage);
        (LogRecord { data: event.data, cursor: None, raw: Some(event.raw) }, resume)
    }

    fn key<'e>(&self, event: &'e OnePasswordEvent) -> Key<'e> {
        Key { id: event.uuid(), instant: event.timestamp.as_deref() }
    }

    fn cursor_at(&self, next: &RequestSpec, instant: Option<&str>) -> Option<OnePasswordCursor> {
        Self::cursor_of(next, instant)
    }

    fn cursor_instant<'c>(&self, cursor: &'c OnePasswordCursor) -> Option<&'c str> {
        cursor.timestamp.as_deref()
    }

    /// A cursor 1Password no longer honours answers 400: restart from `start_time` = the last delivered
    /// event's `timestamp` (an inclusive bound), the events already delivered at that instant dropped.
    fn fallback(
        &self,
        stored: &OnePasswordCursor,
        refused: &HttpError,
    ) -> Option<Result<OnePasswordCursor, StreamError>> {
        if refused.status() != Some(StatusCode::BAD_REQUEST) || stored.cursor.is_none() {
            return None;
        }
        let Some(timestamp) = stored.timestamp.as_ref().filter(|t| t.parse::<jiff::Timestamp>().is_ok()) else {
            return Some(Err(StreamError::checkpoint(format!(
                "1Password refused the stored cursor of `{}`: {refused}; the checkpoint keeps no event timestamp to \
                 restart from without loss, so it must be reset (restart from initial_lookback) or set",
                self.feature.name()
            ))));
        };
        Some(Ok(OnePasswordCursor {
            cursor: None,
            start_time: Some(timestamp.clone()),
            timestamp: Some(timestamp.clone()),
        }))
    }

    fn error(&self, err: HttpError) -> StreamError {
        let stream = self.feature.name();
        let hint = match err.status().map(|s| s.as_u16()) {
            Some(401 | 403) => Some(format!(
                " — 1Password refused the token for the `{stream}` stream: check that `token` is a bearer token of an \
                 Events Reporting integration of this account (and region), and that the integration has the {} \
                 feature; leave `{stream}` out of `streams` if it should not",
                self.feature.described()
            )),
            _ => None,
        };
        match hint {
            Some(hint) => advised(err, hint),
            None => err.into(),
        }
    }
}
