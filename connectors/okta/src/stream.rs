//! The `system_log` stream: the SDK's page loop over Okta's `/api/v1/logs`, its `next` links and its
//! 400 for a position it no longer honours.

use std::fmt;
use std::time::Duration;

use logcrawl_connector::{Key, Page, PagedApi, PagedStream, Position, Resume, advised, array_page, next_link};
use logcrawl_core::{LogRecord, StreamError};
use logcrawl_http::{HttpClient, HttpError, RequestSpec, Response, StatusCode, Url};

use crate::cursor::OktaCursor;
use crate::event::{OktaEvent, to_event};

/// The stream's name (the checkpoint key's second half).
pub const STREAM_NAME: &str = "system_log";
/// Okta's page size when a URL carries no `limit`.
const OKTA_DEFAULT_LIMIT: usize = 100;

/// Okta's System Log as one resumable stream (see the crate documentation for its cursors).
pub type SystemLogStream = PagedStream<SystemLogApi>;

/// The System Log API, page by page: the polling query, Okta's pages and links, its refusals.
pub struct SystemLogApi {
    logs_url: Url,
    limit: u32,
    lookback: Duration,
    filter: Option<String>,
}

impl fmt::Debug for SystemLogApi {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SystemLogApi")
            .field("logs_url", &self.logs_url.as_str())
            .field("limit", &self.limit)
            .field("lookback", &self.lookback)
            .field("filter", &self.filter)
            .finish()
    }
}

/// The `system_log` stream of an org: `http` carries the credential and the org's rate budget.
pub(crate) fn system_log(
    http: HttpClient,
    logs_url: Url,
    limit: u32,
    lookback: Duration,
    filter: Option<String>,
) -> SystemLogStream {
    PagedStream::new(SystemLogApi { logs_url, limit, lookback, filter }, http)
}

impl SystemLogApi {
    /// The first request of a stream without a cursor: `since = now − lookback`, `limit`, ascending.
    pub fn first_url(&self) -> Url {
        let since = jiff::Timestamp::now()
            - jiff::SignedDuration::try_from(self.lookback).unwrap_or(jiff::SignedDuration::ZERO);
        let since = since.round(jiff::Unit::Millisecond).unwrap_or(since);
        self.since_url(&since.strftime("%Y-%m-%dT%H:%M:%S%.3fZ").to_string())
    }

    /// A polling query from `since` (RFC 3339): the configured `limit` and `filter`, ascending, no `until`.
    fn since_url(&self, since: &str) -> Url {
        let mut url = self.logs_url.clone();
        {
            let mut query = url.query_pairs_mut();
            query.append_pair("since", since);
            query.append_pair("limit", &self.limit.to_string());
            query.append_pair("sortOrder", "ASCENDING");
            if let Some(filter) = &self.filter {
                query.append_pair("filter", filter);
            }
        }
        url
    }
}

impl PagedApi for SystemLogApi {
    type Cursor = OktaCursor;
    type Event = OktaEvent;

    fn stream_name(&self) -> &str {
        STREAM_NAME
    }

    fn first_request(&self, cursor: Option<&OktaCursor>) -> Result<RequestSpec, StreamError> {
        Ok(RequestSpec::get(cursor.map_or_else(|| self.first_url(), |cursor| cursor.url.clone())))
    }

    /// Each event stays the JSON Okta sent, a slice of the page's body (nothing is allocated or copied
    /// per event for it); only what logcrawl reads is parsed. A page shorter than the `limit` it asked
    /// for is caught up: its `next` is where the next run starts (no extra empty poll per run).
    fn parse(&self, response: &Response) -> Result<Page<OktaEvent>, StreamError> {
        let events = array_page(response, to_event)?;
        let next = next_link(response, events.len(), limit_of(&response.url), RequestSpec::get);
        Ok(Page { events, next })
    }

    fn record(&self, event: OktaEvent, at: Position<'_>) -> (LogRecord, Resume<OktaCursor>) {
        let published = event.published().map(str::to_owned);
        let cursor = OktaCursor { url: at.page.url.clone(), published };
        (event.into_record(), Resume::InPage(cursor))
    }

    fn key<'e>(&self, event: &'e OktaEvent) -> Key<'e> {
        Key { id: event.uuid(), instant: event.published() }
    }

    fn cursor_at(&self, next: &RequestSpec, instant: Option<&str>) -> Option<OktaCursor> {
        Some(OktaCursor { url: next.url.clone(), published: instant.map(str::to_owned) })
    }

    fn cursor_instant<'c>(&self, cursor: &'c OktaCursor) -> Option<&'c str> {
        cursor.published.as_deref()
    }

    /// An expired `after`, or a `since` beyond retention, answers 400: restart from `since = published`
    /// (persistence time, never earlier than `published`, so nothing after the checkpoint is lost).
    /// Without a usable `published` the checkpoint cannot be resumed from without loss.
    fn fallback(&self, stored: &OktaCursor, refused: &HttpError) -> Option<Result<OktaCursor, StreamError>> {
        if refused.status() != Some(StatusCode::BAD_REQUEST) {
            return None;
        }
        let Some(published) = stored.published.as_ref().filter(|p| p.parse::<jiff::Timestamp>().is_ok()) else {
            return Some(Err(StreamError::checkpoint(format!(
                "Okta refused the stored position: {refused}; the checkpoint keeps no usable `published` instant \
                 to restart from without loss (it was written before that key existed), so it must be reset (restart from \
                 initial_lookback) or set to a position Okta accepts"
            ))));
        };
        Some(Ok(OktaCursor { url: self.since_url(published), published: Some(published.clone()) }))
    }

    fn error(&self, err: HttpError) -> StreamError {
        let hint = match err.status().map(|s| s.as_u16()) {
            Some(401) => {
                " — Okta rejected the credentials: check `token` (API tokens expire after 30 days unused) or the OAuth app's `client_id`/key"
            }
            Some(403) => {
                " — Okta refused access to the System Log: the API token's admin needs a role that may read the System Log (e.g. Read-Only Administrator); an OAuth app needs the okta.logs.read scope granted and an admin role"
            }
            _ => "",
        };
        advised(err, hint)
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_limit_a_url_asks_for() {
        assert_eq!(limit_of(&Url::parse("https://x/api/v1/logs?limit=20").unwrap()), 20);
        assert_eq!(limit_of(&Url::parse("https://x/api/v1/logs?after=1").unwrap()), 100);
        assert_eq!(limit_of(&Url::parse("https://x/api/v1/logs?limit=0").unwrap()), 100);
    }
}
