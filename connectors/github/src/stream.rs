//! The `audit-log` stream: the SDK's page loop over GitHub's audit log, its `Link` cursors, and its
//! refusals.

use std::fmt;
use std::time::Duration;

use logcrawl_connector::{
    Key, Page, PagedApi, PagedStream, Position, Resume, TypedCursor, advised, array_page, next_link,
};
use logcrawl_core::{LogRecord, StreamError};
use logcrawl_http::header::{ACCEPT, HeaderName, HeaderValue};
use logcrawl_http::{HttpError, RequestSpec, Response, StatusCode, Url};
use serde::{Deserialize, Serialize};

use crate::config::{Account, MAX_PAGE_SIZE};
use crate::event::{GithubEvent, to_event};

/// The stream's name (the checkpoint key's second half).
pub const STREAM_NAME: &str = "audit-log";
/// The REST API version every request asks for.
pub const API_VERSION: &str = "2022-11-28";
/// GitHub's page size when a URL carries no `per_page`.
const GITHUB_DEFAULT_PER_PAGE: usize = 30;

/// A GitHub audit log as one resumable stream.
pub type AuditLogStream = PagedStream<AuditLogApi>;

/// Where an `audit-log` run resumes: a URL GitHub gave (a `next` link), the page a mid-page cursor was
/// taken on, or a `created:>=` query; and the second it was taken at.
///
/// Stored (version 1) with what the SDK adds for exact resumes: `{"v":1,"url":NEXT,"created":S,
/// "seen":[ID…]}` at a page's end, `{"v":1,"url":PAGE,"created":S,"through":ID,"index":I}` inside one.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GithubCursor {
    /// The URL to request.
    pub url: Url,
    /// `@timestamp` of the last delivered event in whole epoch seconds: where a run restarts
    /// (`created:>=`) when GitHub refuses `url`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created: Option<String>,
}

impl TypedCursor for GithubCursor {
    const VERSION: u64 = 1;
    const SHAPE: &'static str = r#"a GitHub audit log cursor, {"v": 1, "url": "<an audit-log URL of this source>", "created": "<epoch seconds>", …}"#;
}

/// The audit log API of one organization or enterprise, page by page.
pub struct AuditLogApi {
    audit_url: Url,
    account: Account,
    source: String,
    page_size: u32,
    lookback: Duration,
}

impl fmt::Debug for AuditLogApi {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AuditLogApi")
            .field("audit_url", &self.audit_url.as_str())
            .field("account", &self.account)
            .field("page_size", &self.page_size)
            .field("lookback", &self.lookback)
            .finish()
    }
}

impl AuditLogApi {
    /// The API of `account`'s audit log at `audit_url`, for source `source`.
    pub(crate) fn new(audit_url: Url, account: Account, source: String, page_size: u32, lookback: Duration) -> Self {
        Self { audit_url, account, source, page_size, lookback }
    }

    /// A `GET` of `url` with the headers GitHub asks every client to send.
    pub fn get(url: Url) -> RequestSpec {
        RequestSpec::get(url)
            .header(ACCEPT, HeaderValue::from_static("application/vnd.github+json"))
            .header(HeaderName::from_static("x-github-api-version"), HeaderValue::from_static(API_VERSION))
    }

    /// The query of events created at or after epoch second `second`: `phrase=created:>=<RFC 3339>`,
    /// ascending, `per_page`, and the enterprise's `include`.
    pub fn created_since(&self, second: i64) -> Url {
        let at = jiff::Timestamp::from_second(second).unwrap_or(jiff::Timestamp::UNIX_EPOCH);
        let mut url = self.audit_url.clone();
        {
            let mut query = url.query_pairs_mut();
            query.append_pair("phrase", &format!("created:>={}", at.strftime("%Y-%m-%dT%H:%M:%S+00:00")));
            query.append_pair("order", "asc");
            query.append_pair("per_page", &self.page_size.to_string());
            if let Account::Enterprise(_, Some(include)) = &self.account {
                query.append_pair("include", include.as_str());
            }
        }
        url
    }

    /// The first query of a stream without a cursor: created at or after now − `initial_lookback`.
    pub fn first_url(&self) -> Url {
        let lookback = i64::try_from(self.lookback.as_secs()).unwrap_or(i64::MAX);
        self.created_since(jiff::Timestamp::now().as_second().saturating_sub(lookback))
    }
}

impl PagedApi for AuditLogApi {
    type Cursor = GithubCursor;
    type Event = GithubEvent;

    fn stream_name(&self) -> &str {
        STREAM_NAME
    }

    fn first_request(&self, cursor: Option<&GithubCursor>) -> Result<RequestSpec, StreamError> {
        Ok(Self::get(cursor.map_or_else(|| self.first_url(), |cursor| cursor.url.clone())))
    }

    /// Each event stays a slice of the page. The continuation is only ever GitHub's own `next` link; a
    /// page shorter than it asked for that still has one is caught up, and the link is where the next
    /// run starts. Without a `next` link the run ends, and the last record's cursor (its page and id)
    /// resumes the next run exactly, whether GitHub ends an ascending crawl with or without a link.
    fn parse(&self, response: &Response) -> Result<Page<GithubEvent>, StreamError> {
        let events = array_page(response, to_event)?;
        let next = next_link(response, events.len(), per_page_of(&response.url), Self::get);
        Ok(Page { events, next })
    }

    fn record(&self, event: GithubEvent, at: Position<'_>) -> (LogRecord, Resume<GithubCursor>) {
        let cursor = GithubCursor { url: at.page.url.clone(), created: event.second.as_deref().map(str::to_owned) };
        (LogRecord { data: event.data, cursor: None, raw: Some(event.raw) }, Resume::InPage(cursor))
    }

    fn key<'e>(&self, event: &'e GithubEvent) -> Key<'e> {
        Key { id: event.id.as_deref(), instant: event.second.as_deref() }
    }

    fn cursor_at(&self, next: &RequestSpec, instant: Option<&str>) -> Option<GithubCursor> {
        Some(GithubCursor { url: next.url.clone(), created: instant.map(str::to_owned) })
    }

    fn cursor_instant<'c>(&self, cursor: &'c GithubCursor) -> Option<&'c str> {
        cursor.created.as_deref()
    }

    /// GitHub refused the stored URL (a cursor it no longer honours: 400 or 422): restart from
    /// `created:>=` the second the cursor was taken at; the SDK drops the events it had delivered in that
    /// second should they come again. Without a usable second there is no lossless way back.
    fn fallback(&self, stored: &GithubCursor, refused: &HttpError) -> Option<Result<GithubCursor, StreamError>> {
        if !matches!(refused.status(), Some(StatusCode::BAD_REQUEST | StatusCode::UNPROCESSABLE_ENTITY)) {
            return None;
        }
        let Some(second) = stored.created.as_deref().and_then(|s| s.parse::<i64>().ok()) else {
            return Some(Err(StreamError::checkpoint(format!(
                "GitHub refused the stored position: {refused}; the checkpoint keeps no usable `created` second to \
                 restart from without loss, so it must be reset (restart from initial_lookback) or set to a position \
                 GitHub accepts"
            ))));
        };
        Some(Ok(GithubCursor { url: self.created_since(second), created: stored.created.clone() }))
    }

    fn error(&self, err: HttpError) -> StreamError {
        let (source, account) = (&self.source, self.account.describe());
        let hint = match err.status().map(|s| s.as_u16()) {
            Some(401) => format!(
                " — source {source}: GitHub rejected the token: check `token` (expired or revoked; a GitHub App \
                 installation token lasts one hour)"
            ),
            Some(403) => format!(
                " — source {source}: GitHub refused the audit log of {account}: the token needs the read:audit_log \
                 scope (classic; an org owner's or enterprise owner's), a fine-grained token or GitHub App the \
                 \"Administration\" organization permission (read) or \"Enterprise administration\" (read)"
            ),
            Some(404) => format!(
                " — source {source}: GitHub has no audit log API for {account}: the audit log API needs GitHub \
                 Enterprise Cloud (check the name in `org`/`enterprise`, and that the token's owner is an owner of \
                 it; on GitHub Enterprise Server, base_url must be the API root, https://HOST/api/v3)"
            ),
            _ => String::new(),
        };
        // A 404 is no passing failure: every interval would get it again.
        if err.status() == Some(StatusCode::NOT_FOUND) {
            return StreamError::fatal(format!("{err}{hint}"));
        }
        advised(err, &hint)
    }
}

/// The page size a URL asks for (GitHub's default when absent), so a stored link made with an older
/// `page_size` is judged by what it carries.
fn per_page_of(url: &Url) -> usize {
    url.query_pairs()
        .find(|(k, _)| k == "per_page")
        .and_then(|(_, v)| v.parse::<usize>().ok())
        .filter(|&n| n > 0)
        .map_or(GITHUB_DEFAULT_PER_PAGE, |n| n.min(MAX_PAGE_SIZE as usize))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_page_size_a_url_asks_for() {
        let url = |q: &str| Url::parse(&format!("https://api.github.com/orgs/o/audit-log?{q}")).unwrap();
        assert_eq!(per_page_of(&url("per_page=20&after=x")), 20);
        assert_eq!(per_page_of(&url("after=x")), 30);
        assert_eq!(per_page_of(&url("per_page=500")), 100, "GitHub serves at most 100");
        assert_eq!(per_page_of(&url("per_page=0")), 30);
    }

    #[test]
    fn the_created_query_is_rfc_3339_to_the_second() {
        let api = AuditLogApi::new(
            Url::parse("https://api.github.com/enterprises/acme/audit-log").unwrap(),
            Account::Enterprise("acme".into(), Some(crate::config::Include::All)),
            "s".into(),
            50,
            Duration::from_secs(3600),
        );
        let url = api.created_since(1_606_929_874);
        let pairs: Vec<(String, String)> = url.query_pairs().into_owned().collect();
        assert_eq!(
            pairs,
            [
                ("phrase".into(), "created:>=2020-12-02T17:24:34+00:00".into()),
                ("order".into(), "asc".into()),
                ("per_page".into(), "50".into()),
                ("include".into(), "all".into())
            ]
        );
        assert!(url.as_str().contains("%2B00%3A00"), "the + is encoded: {url}");
    }
}
