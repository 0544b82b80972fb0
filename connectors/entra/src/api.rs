//! The three streams: the SDK's time windows over `GET /v1.0/auditLogs/{signIns,directoryAudits,
//! provisioning}`, each window one `$filter` on the log's time property, its pages followed by
//! `@odata.nextLink`; and Graph's refusals, said for the operator.

use std::fmt::Write as _;

use jiff::{SignedDuration, Timestamp};
use logcrawl_connector::{Keyed, Next, Page, Window, WindowedApi, WindowedStream, advised, malformed};
use logcrawl_core::{LogRecord, RawEvent, StreamError};
use logcrawl_http::header::{ACCEPT, HeaderValue};
use logcrawl_http::{HttpError, RequestSpec, Response, StatusCode, Url};
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};
use serde::Deserialize;
use serde_json::value::RawValue;

use crate::event::{GraphEvent, to_event};

/// Graph's time resolution: instants carry seven fractional digits (100 ns ticks).
pub const RESOLUTION: SignedDuration = SignedDuration::from_nanos(100);

/// One of a tenant's audit logs, each a stream of its own.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Log {
    /// `sign_ins`: user sign-ins, `auditLogs/signIns` (needs an Entra ID P1 or P2 licence).
    SignIns,
    /// `directory_audits`: changes to the directory, `auditLogs/directoryAudits`.
    DirectoryAudits,
    /// `provisioning`: the provisioning service's actions, `auditLogs/provisioning`.
    Provisioning,
}

impl Log {
    /// The three, in the order of the API reference.
    pub const ALL: [Log; 3] = [Log::SignIns, Log::DirectoryAudits, Log::Provisioning];

    /// The stream's name, as `streams` spells it and checkpoints are keyed.
    pub fn name(self) -> &'static str {
        match self {
            Log::SignIns => "sign_ins",
            Log::DirectoryAudits => "directory_audits",
            Log::Provisioning => "provisioning",
        }
    }

    /// The log called `name`.
    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|log| log.name() == name)
    }

    /// Its path under Graph's origin.
    pub fn path(self) -> &'static str {
        match self {
            Log::SignIns => "v1.0/auditLogs/signIns",
            Log::DirectoryAudits => "v1.0/auditLogs/directoryAudits",
            Log::Provisioning => "v1.0/auditLogs/provisioning",
        }
    }

    /// The property its events are filtered and ordered by.
    pub fn time_property(self) -> &'static str {
        match self {
            Log::SignIns => "createdDateTime",
            Log::DirectoryAudits | Log::Provisioning => "activityDateTime",
        }
    }

    /// The `$filter` of a half-open window `[start, end)` (both on Graph's ticks): sign-ins and directory
    /// audits document `ge`/`le` on their time property, provisioning `gt`/`lt`.
    pub fn filter(self, window: Window) -> String {
        let property = self.time_property();
        match self {
            Log::SignIns | Log::DirectoryAudits => format!(
                "{property} ge {} and {property} le {}",
                literal(window.start),
                literal(window.end - RESOLUTION)
            ),
            Log::Provisioning => format!(
                "{property} gt {} and {property} lt {}",
                literal(window.start - RESOLUTION),
                literal(window.end)
            ),
        }
    }
}

/// An instant as an OData `DateTimeOffset` literal in UTC with Graph's seven fractional digits
/// (`2024-01-01T00:00:00.0000000Z`), rounded down to a tick.
pub fn literal(at: Timestamp) -> String {
    let mut text = at.strftime("%Y-%m-%dT%H:%M:%S").to_string();
    let _infallible = write!(text, ".{:07}Z", at.subsec_nanosecond() / 100);
    text
}

/// What a query value escapes: everything but letters, digits and `-._~:` (a space is `%20`, never `+`,
/// which Graph would read as itself).
const QUERY_VALUE: &AsciiSet = &NON_ALPHANUMERIC.remove(b'-').remove(b'.').remove(b'_').remove(b'~').remove(b':');

/// One log of the tenant, window by window: its queries, its pages, its refusals.
#[derive(Debug)]
pub struct GraphApi {
    log: Log,
    url: Url,
    page_size: u32,
}

/// One log as a resumable stream of time windows.
pub type GraphStream = WindowedStream<GraphApi>;

/// One page of a list request.
#[derive(Deserialize)]
struct Answer<'a> {
    #[serde(borrow)]
    value: Option<Vec<&'a RawValue>>,
    #[serde(rename = "@odata.nextLink")]
    next_link: Option<String>,
}

/// Graph's error body, as far as it says which error it is.
#[derive(Deserialize)]
struct Refusal {
    error: Option<RefusalError>,
}

#[derive(Deserialize)]
struct RefusalError {
    code: Option<String>,
}

impl GraphApi {
    /// The API of `log` under Graph's origin `base`, `page_size` events a request.
    pub(crate) fn new(log: Log, base: &Url, page_size: u32) -> Result<Self, String> {
        let url = base.join(log.path()).map_err(|err| err.to_string())?;
        Ok(Self { log, url, page_size })
    }

    /// The log.
    pub fn log(&self) -> Log {
        self.log
    }

    /// The query of `window`: `$filter` on the log's time property, `$top`.
    pub fn window_url(&self, window: Window) -> Url {
        let mut url = self.url.clone();
        let filter = utf8_percent_encode(&self.log.filter(window), QUERY_VALUE).to_string();
        url.set_query(Some(&format!("$filter={filter}&$top={}", self.page_size)));
        url
    }

    fn request(url: Url) -> RequestSpec {
        RequestSpec::get(url).header(ACCEPT, HeaderValue::from_static("application/json"))
    }

    /// What to tell the operator about a refusal with Graph's error `code`.
    fn advice(&self, status: StatusCode, code: Option<&str>) -> Option<String> {
        let stream = self.log.name();
        Some(match (status, code) {
            (StatusCode::FORBIDDEN, Some("Authentication_RequestFromNonPremiumTenantOrB2CTenant")) => format!(
                " — the {stream} stream needs a Microsoft Entra ID P1 or P2 licence on the tenant (sign-in logs are \
                 not served to free tenants): license the tenant, or leave {stream} out of `streams`"
            ),
            (StatusCode::FORBIDDEN, _) => format!(
                " — the {stream} stream: the application needs the Microsoft Graph application permission \
                 AuditLog.Read.All, with admin consent granted in the tenant (Enterprise applications or App \
                 registrations → API permissions)"
            ),
            (StatusCode::UNAUTHORIZED, _) => format!(
                " — Microsoft Graph refused the {stream} stream's access token: tenant_id, client_id and the \
                 credential must be of one app registration, and base_url the Graph its login_url issues tokens for"
            ),
            _ => return None,
        })
    }
}

impl WindowedApi for GraphApi {
    type Event = GraphEvent;

    fn stream_name(&self) -> &str {
        self.log.name()
    }

    fn window_request(&self, window: Window) -> Result<RequestSpec, StreamError> {
        Ok(Self::request(self.window_url(window)))
    }

    /// Events stay the JSON Graph sent, slices of the page; `@odata.nextLink` (absolute, carrying
    /// `$skiptoken`) is the next page, which the SDK keeps on Graph's origin.
    fn parse(&self, response: &Response) -> Result<Page<GraphEvent>, StreamError> {
        let answer: Answer<'_> = response.json()?;
        let Some(values) = answer.value else {
            return Err(malformed(response, "the answer has no `value`"));
        };
        let events = values
            .into_iter()
            .enumerate()
            .map(|(i, raw)| {
                to_event(self.log, RawEvent::in_page(&response.body, raw))
                    .map_err(|err| malformed(response, format!("event {i}: {err}")))
            })
            .collect::<Result<Vec<_>, _>>()?;
        let next = match answer.next_link {
            None => Next::Done,
            Some(link) => match Url::parse(&link) {
                Ok(url) => Next::Request(Self::request(url)),
                Err(err) => return Err(malformed(response, format!("@odata.nextLink is not a URL: {err}"))),
            },
        };
        Ok(Page { events, next })
    }

    fn record(&self, event: GraphEvent) -> LogRecord {
        LogRecord { data: event.data, cursor: None, raw: Some(event.raw) }
    }

    /// Graph serves each window newest first and every event has a unique `id`: exact cursors inside a
    /// window, and the ids the overlap of the next window drops.
    fn key<'e>(&self, event: &'e GraphEvent) -> Option<Keyed<'e>> {
        Some(Keyed { id: event.id()?, at: event.at? })
    }

    fn error(&self, err: HttpError) -> StreamError {
        let code = match &err {
            HttpError::Status { body, .. } => {
                serde_json::from_str::<Refusal>(body).ok().and_then(|r| r.error).and_then(|e| e.code)
            }
            _ => None,
        };
        match err.status().and_then(|status| self.advice(status, code.as_deref())) {
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
    fn windows_are_half_open_in_each_logs_operators() {
        let window = Window { start: at("2024-01-01T00:00:00Z"), end: at("2024-01-01T01:00:00Z") };
        assert_eq!(
            Log::SignIns.filter(window),
            "createdDateTime ge 2024-01-01T00:00:00.0000000Z and createdDateTime le 2024-01-01T00:59:59.9999999Z"
        );
        assert_eq!(
            Log::Provisioning.filter(window),
            "activityDateTime gt 2023-12-31T23:59:59.9999999Z and activityDateTime lt 2024-01-01T01:00:00.0000000Z"
        );
        let base = Url::parse("https://graph.microsoft.com/").unwrap();
        let api = GraphApi::new(Log::DirectoryAudits, &base, 500).unwrap();
        let url = api.window_url(window);
        assert_eq!(url.path(), "/v1.0/auditLogs/directoryAudits");
        assert!(
            url.as_str().contains("?$filter=activityDateTime%20ge%202024-01-01T00:00:00.0000000Z%20and%20"),
            "{url}"
        );
        assert!(url.as_str().ends_with("&$top=500"), "{url}");
        let pairs: Vec<(String, String)> = url.query_pairs().map(|(k, v)| (k.into(), v.into())).collect();
        assert_eq!(pairs[0], ("$filter".into(), Log::DirectoryAudits.filter(window)), "reads back as written");
    }

    #[test]
    fn stream_names_and_paths() {
        assert_eq!(Log::ALL.map(Log::name), ["sign_ins", "directory_audits", "provisioning"]);
        assert_eq!(Log::from_name("provisioning"), Some(Log::Provisioning));
        assert_eq!(Log::from_name("signIns"), None);
    }

    proptest::proptest! {
        /// Any instant on a tick is written with seven digits and reads back as itself.
        #[test]
        fn literals_read_back_to_the_tick(ticks in 0i64..40_000_000_000_000_000) {
            let instant = Timestamp::from_nanosecond(i128::from(ticks) * 100).unwrap();
            let text = literal(instant);
            proptest::prop_assert_eq!(text.len(), "2024-01-01T00:00:00.0000000Z".len());
            proptest::prop_assert_eq!(text.parse::<Timestamp>().unwrap(), instant);
        }

        /// Consecutive windows' filters neither overlap nor leave a gap, whatever the boundary.
        #[test]
        fn consecutive_windows_meet_exactly(start in 0i64..4_000_000_000_000_000, len in 1i64..100_000_000) {
            let tick = |n: i64| Timestamp::from_nanosecond(i128::from(n) * 100).unwrap();
            let (a, b, c) = (tick(start), tick(start + len), tick(start + 2 * len));
            let first = Log::SignIns.filter(Window { start: a, end: b });
            let second = Log::SignIns.filter(Window { start: b, end: c });
            let upper: Timestamp = first.rsplit(' ').next().unwrap().parse().unwrap();
            let lower: Timestamp = second.split(' ').nth(2).unwrap().parse().unwrap();
            proptest::prop_assert_eq!(lower.duration_since(upper), RESOLUTION);
        }
    }
}
