//! One stream per application: the SDK's time windows over `GET
//! /admin/reports/v1/activity/users/all/applications/{application}`, each window one `startTime`/`endTime`
//! query, its pages followed by `pageToken`; and Google's refusals, told apart and said for the operator.

use jiff::{SignedDuration, Timestamp};
use logcrawl_connector::{Keyed, Next, Page, Window, WindowedApi, WindowedStream, advised, malformed};
use logcrawl_core::{LogRecord, RawEvent, StreamError};
use logcrawl_http::header::{ACCEPT, HeaderValue};
use logcrawl_http::{HttpError, RequestSpec, Response, StatusCode, Url};
use serde::Deserialize;
use serde_json::value::RawValue;

use crate::event::{Activity, to_activity};

/// The Reports API's time resolution: `id.time` has milliseconds.
pub const RESOLUTION: SignedDuration = SignedDuration::from_millis(1);

/// The reasons of Google's quota and rate-limit errors (`error.errors[].reason`), waited out and retried.
pub const QUOTA_REASONS: [&str; 3] = ["rateLimitExceeded", "userRateLimitExceeded", "quotaExceeded"];

/// An instant as the Reports API takes it: RFC 3339 in UTC with milliseconds
/// (`2024-01-01T00:00:00.000Z`), rounded down to a millisecond.
pub fn rfc3339_ms(at: Timestamp) -> String {
    at.strftime("%Y-%m-%dT%H:%M:%S%.3fZ").to_string()
}

/// One application's activities, window by window: its queries, its pages, its refusals.
#[derive(Debug)]
pub struct ActivitiesApi {
    application: String,
    url: Url,
    page_size: u32,
    customer: Option<String>,
}

/// One application's activities as a resumable stream of time windows.
pub type ActivityStream = WindowedStream<ActivitiesApi>;

/// One page of the list.
#[derive(Deserialize)]
struct Answer<'a> {
    kind: Option<&'a str>,
    #[serde(borrow)]
    items: Option<Vec<&'a RawValue>>,
    #[serde(rename = "nextPageToken")]
    next_page_token: Option<String>,
}

/// Google's error body, as far as it says which error it is.
#[derive(Deserialize)]
struct Refusal {
    error: Option<RefusalError>,
}

#[derive(Deserialize)]
struct RefusalError {
    #[serde(default)]
    errors: Vec<Reason>,
}

#[derive(Deserialize)]
struct Reason {
    reason: Option<String>,
}

/// The `reason`s of a Google error body (none when it is not one).
fn reasons(body: &[u8]) -> Vec<String> {
    serde_json::from_slice::<Refusal>(body)
        .ok()
        .and_then(|refusal| refusal.error)
        .map(|error| error.errors.into_iter().filter_map(|e| e.reason).collect())
        .unwrap_or_default()
}

/// Whether an answer is one of Google's quota errors: a 403 or 429 whose reason is in [`QUOTA_REASONS`]
/// (the client waits it out and asks again; a 403 with another reason is a refusal).
pub fn is_quota_error(response: &Response) -> bool {
    matches!(response.status, StatusCode::FORBIDDEN | StatusCode::TOO_MANY_REQUESTS)
        && reasons(&response.body).iter().any(|reason| QUOTA_REASONS.contains(&reason.as_str()))
}

impl ActivitiesApi {
    /// The activities of `application` under the Admin SDK's origin `base`, `page_size` a request, of
    /// customer `customer` when given.
    pub(crate) fn new(
        application: String,
        base: &Url,
        page_size: u32,
        customer: Option<String>,
    ) -> Result<Self, String> {
        let url = base
            .join(&format!("admin/reports/v1/activity/users/all/applications/{application}"))
            .map_err(|err| err.to_string())?;
        Ok(Self { application, url, page_size, customer })
    }

    /// The application.
    pub fn application(&self) -> &str {
        &self.application
    }

    /// The query of `window`: `startTime` = its start, `endTime` = its end (the events at the end itself,
    /// which Google may list, are dropped and left to the next window), `maxResults`, `customerId`.
    pub fn window_url(&self, window: Window) -> Url {
        let mut url = self.url.clone();
        {
            let mut query = url.query_pairs_mut();
            query
                .append_pair("startTime", &rfc3339_ms(window.start))
                .append_pair("endTime", &rfc3339_ms(window.end))
                .append_pair("maxResults", &self.page_size.to_string());
            if let Some(customer) = &self.customer {
                query.append_pair("customerId", customer);
            }
        }
        url
    }

    fn request(url: Url) -> RequestSpec {
        RequestSpec::get(url).header(ACCEPT, HeaderValue::from_static("application/json"))
    }

    /// What to tell the operator about a refusal with Google's `reasons`.
    fn advice(&self, status: StatusCode, reasons: &[String]) -> Option<String> {
        let stream = &self.application;
        Some(match status {
            StatusCode::FORBIDDEN => format!(
                " — the {stream} activities ({}): subject must be an administrator whose role has the Reports \
                 privilege, and the Admin SDK API enabled in the service account's Google Cloud project",
                if reasons.is_empty() { "forbidden".to_owned() } else { reasons.join(", ") }
            ),
            StatusCode::UNAUTHORIZED => format!(
                " — Google refused the {stream} stream's access token twice: the service account's key and subject \
                 must belong to this customer, with domain-wide delegation of the Reports audit scope"
            ),
            StatusCode::BAD_REQUEST => {
                format!(" — the Reports API refused the {stream} query: check customer_id and the application's name")
            }
            _ => return None,
        })
    }
}

/// The `endTime` a request asked for, when it has one that reads.
fn end_time(url: &Url) -> Option<Timestamp> {
    url.query_pairs().find(|(name, _)| name == "endTime").and_then(|(_, value)| value.parse().ok())
}

impl WindowedApi for ActivitiesApi {
    type Event = Activity;

    fn stream_name(&self) -> &str {
        &self.application
    }

    fn window_request(&self, window: Window) -> Result<RequestSpec, StreamError> {
        Ok(Self::request(self.window_url(window)))
    }

    /// Activities stay the JSON Google sent, slices of the page; `items` is absent on an empty page. The
    /// next page is the same query with `pageToken`. Activities at or after the request's `endTime` are
    /// dropped: the reference does not say whether `endTime` is inclusive, and the next window starts
    /// there.
    fn parse(&self, response: &Response) -> Result<Page<Activity>, StreamError> {
        let answer: Answer<'_> = response.json()?;
        if let Some(kind) = answer.kind.filter(|kind| *kind != "admin#reports#activities") {
            return Err(malformed(response, format!("the answer is a {kind:?}, not admin#reports#activities")));
        }
        let end = end_time(&response.url);
        let mut events = Vec::new();
        for (i, raw) in answer.items.unwrap_or_default().into_iter().enumerate() {
            let activity = to_activity(RawEvent::in_page(&response.body, raw))
                .map_err(|err| malformed(response, format!("item {i}: {err}")))?;
            if end.is_some_and(|end| activity.at.is_some_and(|at| at >= end)) {
                continue;
            }
            events.push(activity);
        }
        let next = match answer.next_page_token.filter(|token| !token.is_empty()) {
            None => Next::Done,
            Some(token) => Next::Request(Self::request(response.url.clone()).with_query_set("pageToken", &token)),
        };
        Ok(Page { events, next })
    }

    fn record(&self, event: Activity) -> LogRecord {
        LogRecord { data: event.data, cursor: None, raw: Some(event.raw) }
    }

    /// Google lists each window newest first; `id.time` with `id.uniqueQualifier` identifies an activity
    /// (the qualifier alone does not: several activities share one).
    fn key<'e>(&self, event: &'e Activity) -> Option<Keyed<'e>> {
        Some(Keyed { id: event.key.as_deref()?, at: event.at? })
    }

    fn error(&self, err: HttpError) -> StreamError {
        let reasons = match &err {
            HttpError::Status { body, .. } => reasons(body.as_bytes()),
            _ => Vec::new(),
        };
        match err.status().and_then(|status| self.advice(status, &reasons)) {
            Some(advice) => advised(err, advice),
            None => err.into(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(text: &str) -> Timestamp {
        text.parse().unwrap()
    }

    #[test]
    fn windows_ask_for_their_bounds_in_milliseconds() {
        let base = Url::parse("https://admin.googleapis.com/").unwrap();
        let api = ActivitiesApi::new("drive".into(), &base, 500, Some("C03az79cb".into())).unwrap();
        let url = api.window_url(Window { start: at("2024-01-01T00:00:00Z"), end: at("2024-01-01T01:00:00.5Z") });
        assert_eq!(url.path(), "/admin/reports/v1/activity/users/all/applications/drive");
        assert_eq!(
            url.query(),
            Some(
                "startTime=2024-01-01T00%3A00%3A00.000Z&endTime=2024-01-01T01%3A00%3A00.500Z&maxResults=500&customerId=C03az79cb"
            )
        );
        assert_eq!(end_time(&url), Some(at("2024-01-01T01:00:00.5Z")));
    }

    #[test]
    fn quota_errors_are_told_from_refusals_by_their_reason() {
        let answer = |status: u16, reason: &str| Response {
            status: StatusCode::from_u16(status).unwrap(),
            headers: Default::default(),
            body: format!(r#"{{"error":{{"code":{status},"errors":[{{"reason":"{reason}"}}]}}}}"#).into(),
            url: Url::parse("https://admin.googleapis.com/x").unwrap(),
        };
        for reason in QUOTA_REASONS {
            assert!(is_quota_error(&answer(403, reason)), "{reason}");
        }
        assert!(!is_quota_error(&answer(403, "forbidden")));
        assert!(!is_quota_error(&answer(403, "insufficientPermissions")));
        assert!(!is_quota_error(&answer(400, "quotaExceeded")));
        assert_eq!(reasons(b"not json"), Vec::<String>::new());
    }

    proptest::proptest! {
        /// Any millisecond is written with three digits and reads back as itself.
        #[test]
        fn instants_read_back_to_the_millisecond(ms in 0i64..250_000_000_000_000) {
            let instant = Timestamp::from_millisecond(ms).unwrap();
            let text = rfc3339_ms(instant);
            proptest::prop_assert_eq!(text.len(), "2024-01-01T00:00:00.000Z".len());
            proptest::prop_assert_eq!(text.parse::<Timestamp>().unwrap(), instant);
        }

        /// No body makes the quota check panic.
        #[test]
        fn no_body_panics(body in proptest::collection::vec(proptest::num::u8::ANY, 0..200)) {
            let _any = reasons(&body);
        }
    }
}
