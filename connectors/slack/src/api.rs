//! The `audit-logs` stream: the SDK's time windows over `GET /audit/v1/logs`, its cursors, and Slack's
//! two ways of saying no (an HTTP status, or HTTP 200 with `{"ok": false}`).

use std::borrow::Cow;

use jiff::Timestamp;
use logcrawl_connector::{Keyed, Next, Page, Window, WindowedApi, WindowedStream, advised, malformed};
use logcrawl_core::{LogRecord, RawEvent, StreamError};
use logcrawl_http::header::{ACCEPT, HeaderValue};
use logcrawl_http::{HttpError, RequestSpec, Response, Url, redact_url};
use serde::Deserialize;
use serde_json::value::RawValue;

use crate::event::{SlackEntry, to_entry};

/// The stream's name (the checkpoint key's second half).
pub const STREAM_NAME: &str = "audit-logs";

/// The organization's audit log as one resumable stream of time windows.
pub type AuditLogsStream = WindowedStream<AuditLogsApi>;

/// The Audit Logs API, window by window: its queries, its pages, its refusals.
#[derive(Debug)]
pub struct AuditLogsApi {
    logs: Url,
    page_size: u32,
    actions: Option<String>,
}

/// One answer of `/audit/v1/logs`, a page or a refusal.
#[derive(Deserialize)]
struct Answer<'a> {
    ok: Option<bool>,
    #[serde(borrow)]
    error: Option<Cow<'a, str>>,
    #[serde(borrow)]
    entries: Option<Vec<&'a RawValue>>,
    response_metadata: Option<Metadata>,
}

#[derive(Deserialize)]
struct Metadata {
    next_cursor: Option<String>,
}

/// A refusal's body, as far as it says which error it is.
#[derive(Deserialize)]
struct Refusal {
    error: Option<String>,
}

impl AuditLogsApi {
    /// `{base}audit/v1/logs`, `page_size` entries a request, only `actions` (comma-separated) when given.
    pub(crate) fn new(base: &Url, page_size: u32, actions: Option<String>) -> Result<Self, String> {
        let logs = base.join("audit/v1/logs").map_err(|err| err.to_string())?;
        Ok(Self { logs, page_size, actions })
    }

    /// The query for `window`: its half-open bounds as Slack's inclusive Unix seconds, `oldest = start`
    /// and `latest = end − 1 s` (windows lie on whole seconds; an instant between two reads as the next).
    pub fn window_url(&self, window: Window) -> Url {
        let (oldest, latest) = (ceil_seconds(window.start), ceil_seconds(window.end) - 1);
        let mut url = self.logs.clone();
        {
            let mut query = url.query_pairs_mut();
            query.append_pair("oldest", &oldest.to_string());
            query.append_pair("latest", &latest.to_string());
            query.append_pair("limit", &self.page_size.to_string());
            if let Some(actions) = &self.actions {
                query.append_pair("action", actions);
            }
        }
        url
    }

    fn request(url: Url) -> RequestSpec {
        RequestSpec::get(url).header(ACCEPT, HeaderValue::from_static("application/json"))
    }
}

fn ceil_seconds(at: Timestamp) -> i64 {
    at.as_second() + i64::from(at.subsec_nanosecond() > 0)
}

/// What an error code means for the operator: whether retrying can help, and what to check.
fn advice(code: &str) -> (bool, &'static str) {
    match code {
        "not_authed" | "invalid_auth" | "token_revoked" | "token_expired" | "account_inactive" => (
            true,
            "Slack rejected the token: `token` must be a valid user token (xoxp-…) of the Enterprise organization's owner",
        ),
        "missing_scope" | "no_permission" | "not_allowed_token_type" | "user_is_not_owner" => (
            true,
            "the token may not read audit logs: it must be the organization owner's user token (admin tokens are not \
             supported) of an app granted the auditlogs:read scope and installed on the organization",
        ),
        "feature_not_enabled" | "team_not_authorized" | "invalid_workspace" | "paid_only" | "not_an_enterprise" => (
            true,
            "the Audit Logs API needs Slack Enterprise (Grid) and an app installed on the organization, not on one of \
             its workspaces",
        ),
        "invalid_arguments" | "invalid_arg_name" | "invalid_action" | "unknown_action" => {
            (true, "Slack refused the query: check `actions` (the names Slack's /audit/v1/actions lists)")
        }
        _ => (false, ""),
    }
}

impl WindowedApi for AuditLogsApi {
    type Event = SlackEntry;

    fn stream_name(&self) -> &str {
        STREAM_NAME
    }

    fn window_request(&self, window: Window) -> Result<RequestSpec, StreamError> {
        Ok(Self::request(self.window_url(window)))
    }

    /// Entries stay the JSON Slack sent, slices of the page. A page carrying `{"ok": false}` is
    /// Slack's refusal with HTTP 200, handled as the same refusal with an HTTP status would be.
    fn parse(&self, response: &Response) -> Result<Page<SlackEntry>, StreamError> {
        let answer: Answer<'_> = response.json()?;
        if answer.ok == Some(false) || (answer.entries.is_none() && answer.error.is_some()) {
            let code = answer.error.as_deref().unwrap_or("an unnamed error");
            let (fatal, advice) = advice(code);
            let message = format!("{} answered `{code}`{}", redact_url(&response.url), dash(advice));
            return Err(if fatal { StreamError::fatal(message) } else { StreamError::transient(message) });
        }
        let Some(entries) = answer.entries else {
            return Err(malformed(response, "the answer has no `entries`"));
        };
        let events = entries
            .into_iter()
            .enumerate()
            .map(|(i, raw)| {
                to_entry(RawEvent::in_page(&response.body, raw))
                    .map_err(|err| malformed(response, format!("entry {i}: {err}")))
            })
            .collect::<Result<Vec<_>, _>>()?;
        let next = match answer.response_metadata.and_then(|meta| meta.next_cursor).filter(|c| !c.is_empty()) {
            None => Next::Done,
            Some(cursor) => Next::Request(Self::request(response.url.clone()).with_query_set("cursor", &cursor)),
        };
        Ok(Page { events, next })
    }

    fn record(&self, entry: SlackEntry) -> LogRecord {
        LogRecord { data: entry.data, cursor: None, raw: Some(entry.raw) }
    }

    /// Slack serves a window newest first by `date_create`, and `id` is unique per entry: every record
    /// gets an exact cursor inside its window.
    fn key<'e>(&self, entry: &'e SlackEntry) -> Option<Keyed<'e>> {
        Some(Keyed { id: entry.id()?, at: entry.at? })
    }

    fn error(&self, err: HttpError) -> StreamError {
        let code = match &err {
            HttpError::Status { body, .. } => serde_json::from_str::<Refusal>(body).ok().and_then(|r| r.error),
            _ => None,
        };
        let (fatal, advice) = code.as_deref().map_or((false, ""), advice);
        match code {
            Some(code) if fatal && !err.is_fatal() => {
                StreamError::fatal(format!("{err} — Slack answered `{code}`{}", dash(advice)))
            }
            _ if err.is_fatal() => {
                let advice = if fatal { advice } else { self::advice("invalid_auth").1 };
                advised(err, dash(advice))
            }
            _ => err.into(),
        }
    }
}

fn dash(advice: &str) -> String {
    if advice.is_empty() { String::new() } else { format!(" — {advice}") }
}
