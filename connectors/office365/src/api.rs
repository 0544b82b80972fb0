//! The Management Activity API's requests and answers: the content listing of a window (its pages by
//! the `NextPageUri` header), a content blob (a JSON array of audit records), the subscription start, and
//! the API's `AF…` error codes said for the operator.

use jiff::Timestamp;
use logcrawl_connector::{advised, malformed};
use logcrawl_core::StreamError;
use logcrawl_http::header::{ACCEPT, HeaderValue};
use logcrawl_http::{HttpError, RequestSpec, Response, StatusCode, Url};
use serde::Deserialize;

/// One of the API's content types: a stream each.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ContentType {
    /// `Audit.AzureActiveDirectory`: Microsoft Entra ID's sign-ins and directory changes.
    AzureActiveDirectory,
    /// `Audit.Exchange`: Exchange Online's mailbox and admin audit records.
    Exchange,
    /// `Audit.SharePoint`: SharePoint Online's and OneDrive's.
    SharePoint,
    /// `Audit.General`: every other workload (Teams, Power BI, Copilot, …).
    General,
    /// `DLP.All`: data loss prevention events of every workload.
    Dlp,
}

impl ContentType {
    /// The five, as the API reference lists them.
    pub const ALL: [ContentType; 5] = [
        ContentType::AzureActiveDirectory,
        ContentType::Exchange,
        ContentType::SharePoint,
        ContentType::General,
        ContentType::Dlp,
    ];

    /// The API's name (`contentType=`), also the stream's name.
    pub fn name(self) -> &'static str {
        match self {
            ContentType::AzureActiveDirectory => "Audit.AzureActiveDirectory",
            ContentType::Exchange => "Audit.Exchange",
            ContentType::SharePoint => "Audit.SharePoint",
            ContentType::General => "Audit.General",
            ContentType::Dlp => "DLP.All",
        }
    }

    /// The content type called `name` (ASCII case ignored).
    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|kind| kind.name().eq_ignore_ascii_case(name.trim()))
    }
}

/// One listed content blob.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Blob {
    /// `contentId`: the blob's unique id, what the cursor remembers.
    pub content_id: String,
    /// `contentUri`: where to fetch it (absolute, on the API's origin).
    pub content_uri: String,
    /// `contentCreated`: when it was made available, what listings select by.
    pub content_created: Option<String>,
}

impl Blob {
    /// `contentCreated` as an instant, when it reads as one.
    pub fn created(&self) -> Option<Timestamp> {
        self.content_created.as_deref().and_then(parse_instant)
    }
}

/// An instant as the API writes it: RFC 3339, or a date and time without a zone (UTC).
pub fn parse_instant(text: &str) -> Option<Timestamp> {
    let text = text.trim();
    text.parse::<Timestamp>().ok().or_else(|| {
        let civil: jiff::civil::DateTime = text.parse().ok()?;
        civil.to_zoned(jiff::tz::TimeZone::UTC).ok().map(|zoned| zoned.timestamp())
    })
}

/// One listing page: its blobs, and the next page when the `NextPageUri` header names one.
#[derive(Debug)]
pub struct Listing {
    /// The blobs, in the order listed.
    pub blobs: Vec<Blob>,
    /// `NextPageUri`, absolute.
    pub next: Option<Url>,
}

/// The API's error body: `{"error": {"code": "AF…", "message": …}}`.
#[derive(Deserialize)]
struct Refusal {
    error: Option<RefusalError>,
}

#[derive(Deserialize)]
struct RefusalError {
    code: Option<String>,
}

/// The `AF…` code of a refusal, when its body says.
pub fn error_code(err: &HttpError) -> Option<String> {
    match err {
        HttpError::Status { body, .. } => {
            serde_json::from_str::<Refusal>(body).ok().and_then(|r| r.error).and_then(|e| e.code)
        }
        _ => None,
    }
}

/// No subscription to the content type (AF20022), or one an administrator disabled (AF20023): start it.
pub fn needs_subscription(err: &HttpError) -> bool {
    matches!(error_code(err).as_deref(), Some("AF20022" | "AF20023"))
}

/// A blob that is gone for good: expired after 7 days (AF20051), unknown (AF20050), 404, 410.
pub fn blob_gone(err: &HttpError) -> bool {
    matches!(error_code(err).as_deref(), Some("AF20050" | "AF20051"))
        || matches!(err.status(), Some(StatusCode::NOT_FOUND | StatusCode::GONE))
}

/// The feed of one content type of one tenant: its URLs and how to read its answers.
#[derive(Debug)]
pub struct FeedApi {
    kind: ContentType,
    /// `{base}/api/v1.0/{tenant}/activity/feed/`.
    feed: Url,
    publisher: String,
}

/// The time as the listing's `startTime`/`endTime` take it: UTC, whole seconds, no zone.
pub fn listing_time(at: Timestamp) -> String {
    at.strftime("%Y-%m-%dT%H:%M:%S").to_string()
}

impl FeedApi {
    /// The feed of `kind` of `tenant` under the API's origin `base`, every request counted against
    /// `publisher`.
    pub fn new(kind: ContentType, base: &Url, tenant: &str, publisher: &str) -> Result<Self, String> {
        let feed = base.join(&format!("api/v1.0/{tenant}/activity/feed/")).map_err(|err| err.to_string())?;
        Ok(Self { kind, feed, publisher: publisher.to_owned() })
    }

    /// The content type.
    pub fn kind(&self) -> ContentType {
        self.kind
    }

    fn request(&self, url: Url) -> RequestSpec {
        RequestSpec::get(url)
            .with_query_set("PublisherIdentifier", &self.publisher)
            .header(ACCEPT, HeaderValue::from_static("application/json"))
    }

    /// The first listing request of blobs created in `[start, end)` (the API's bounds: `startTime` ≤
    /// `contentCreated` < `endTime`).
    pub fn listing(&self, start: Timestamp, end: Timestamp) -> RequestSpec {
        let mut url = self.feed.join("subscriptions/content").unwrap_or_else(|_| self.feed.clone());
        url.query_pairs_mut()
            .append_pair("contentType", self.kind.name())
            .append_pair("startTime", &listing_time(start))
            .append_pair("endTime", &listing_time(end));
        self.request(url)
    }

    /// A request for `url` (a `NextPageUri` or a `contentUri`), carrying `PublisherIdentifier`.
    pub fn follow(&self, url: Url) -> RequestSpec {
        self.request(url)
    }

    /// `POST …/subscriptions/start?contentType=…`.
    pub fn start(&self) -> RequestSpec {
        let mut url = self.feed.join("subscriptions/start").unwrap_or_else(|_| self.feed.clone());
        url.query_pairs_mut().append_pair("contentType", self.kind.name());
        let spec = RequestSpec::post(url, Vec::new());
        spec.with_query_set("PublisherIdentifier", &self.publisher)
            .header(ACCEPT, HeaderValue::from_static("application/json"))
    }

    /// Reads a listing page: a JSON array of blobs; `NextPageUri` must be an absolute URL.
    pub fn parse_listing(&self, response: &Response) -> Result<Listing, StreamError> {
        let blobs: Vec<Blob> = response
            .json()
            .map_err(|err| malformed(response, format!("the content listing is not an array of blobs: {err}")))?;
        let next = match response.headers.get("NextPageUri") {
            None => None,
            Some(value) => {
                let text = value.to_str().map_err(|_| malformed(response, "NextPageUri is not text"))?;
                if text.trim().is_empty() {
                    None
                } else {
                    let url = Url::parse(text.trim())
                        .map_err(|err| malformed(response, format!("NextPageUri is not an absolute URL: {err}")))?;
                    Some(url)
                }
            }
        };
        Ok(Listing { blobs, next })
    }

    /// The stream error for a failed request, with what to check when the API says.
    pub fn error(&self, err: HttpError) -> StreamError {
        let code = error_code(&err);
        let kind = self.kind.name();
        let advice = match (err.status(), code.as_deref()) {
            (_, Some("AF10001")) | (Some(StatusCode::FORBIDDEN), _) => Some(format!(
                " — the {kind} stream: the app registration needs the Office 365 Management APIs application \
                 permission ActivityFeed.Read (ActivityFeed.ReadDlp too for DLP.All), with admin consent granted, \
                 and the tenant's unified audit log must be turned on (Microsoft Purview → Audit)"
            )),
            (_, Some("AF20010" | "AF20011" | "AF20012" | "AF20013")) => Some(format!(
                " — the {kind} stream: tenant_id must be the directory (tenant) ID of the tenant the app \
                 registration's token is for, a tenant with Microsoft 365 auditing"
            )),
            (_, Some("AF20020")) => Some(format!(" — {kind} is not a content type this tenant offers")),
            (Some(StatusCode::UNAUTHORIZED), _) => Some(format!(
                " — the Management API refused the {kind} stream's access token: tenant_id, client_id and the \
                 credential must be of one app registration, and base_url the API its login_url issues tokens for"
            )),
            _ => None,
        };
        match advice {
            Some(advice) => advised(err, advice),
            None => err.into(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn listings_take_half_open_windows_in_whole_seconds_and_carry_the_publisher() {
        let base = Url::parse("https://manage.office.com/").unwrap();
        let api = FeedApi::new(ContentType::Exchange, &base, "t-guid", "p-guid").unwrap();
        let start: Timestamp = "2026-12-01T10:00:00Z".parse().unwrap();
        let url = api.listing(start, start + jiff::SignedDuration::from_hours(1)).url;
        assert_eq!(url.path(), "/api/v1.0/t-guid/activity/feed/subscriptions/content");
        assert_eq!(
            url.query(),
            Some(
                "contentType=Audit.Exchange&startTime=2026-12-01T10%3A00%3A00&endTime=2026-12-01T11%3A00%3A00&PublisherIdentifier=p-guid"
            )
        );
        let start = api.start().url;
        assert_eq!(start.path(), "/api/v1.0/t-guid/activity/feed/subscriptions/start");
        assert_eq!(start.query(), Some("contentType=Audit.Exchange&PublisherIdentifier=p-guid"));
    }

    #[test]
    fn instants_without_a_zone_are_utc() {
        let at = parse_instant("2015-06-29T20:03:19").unwrap();
        assert_eq!(at, "2015-06-29T20:03:19Z".parse::<Timestamp>().unwrap());
        assert_eq!(parse_instant("2015-06-29T20:03:19.5Z").unwrap().subsec_millisecond(), 500);
        assert!(parse_instant("yesterday").is_none());
    }

    #[test]
    fn content_types_by_name() {
        assert_eq!(ContentType::from_name("dlp.all"), Some(ContentType::Dlp));
        assert_eq!(ContentType::ALL.map(ContentType::name)[0], "Audit.AzureActiveDirectory");
        assert!(ContentType::from_name("Audit.Teams").is_none());
    }

    proptest::proptest! {
        /// Any instant written as a listing bound reads back as itself, to the second.
        #[test]
        fn listing_times_read_back(seconds in 0i64..4_000_000_000) {
            let at = Timestamp::from_second(seconds).unwrap();
            proptest::prop_assert_eq!(parse_instant(&listing_time(at)), Some(at));
        }
    }
}
