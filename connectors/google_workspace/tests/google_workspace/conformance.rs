//! The connector conformance suite (`logcrawl_testkit::conformance`) against the connector's `admin`
//! stream, as a windowed API: one window of three hours covers the suite's feed, read newest first,
//! settled at once (no settle lag, so no overlap either: the overlap has tests of its own).
//!
//! The access token comes from a wiremock token endpoint of the adapter's own (the JWT bearer grant), so
//! a 401 makes the connector fetch a token once more before it gives up ([`Vendor::refetches_on_401`]).
//! `nextPageToken` is a query parameter the client puts on its own URL, so no answer can name another
//! origin: the `next`-link case is declared not expressible. The adapter mints page tokens `p<offset>`
//! and leaves `items` out of empty pages, as Google does.

use std::sync::Arc;
use std::time::Duration;

use logcrawl_core::{Connector, Cursor};
use logcrawl_testkit::conformance::{Ask, Continuation, PageReply, Vendor};
use logcrawl_testkit::query;
use serde_json::{Value, json};
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, Request, ResponseTemplate};

/// The access token the adapter's token endpoint issues (never to be seen in a log line or an error).
const ACCESS: &str = "ya29.CONFORMANCE-access-token";

struct Google {
    tokens: MockServer,
}

impl Google {
    async fn start() -> Self {
        let tokens = MockServer::start().await;
        Mock::given(method("POST"))
            .and(path("/token"))
            .respond_with(
                ResponseTemplate::new(200)
                    .set_body_json(json!({"access_token": ACCESS, "expires_in": 3599, "token_type": "Bearer"})),
            )
            .mount(&tokens)
            .await;
        Self { tokens }
    }
}

fn ms(text: &str) -> i64 {
    text.parse::<jiff::Timestamp>().expect("an RFC 3339 instant").as_millisecond()
}

impl Vendor for Google {
    fn secret(&self) -> &str {
        ACCESS
    }

    fn connector(&self, base_url: &str, page_size: usize) -> Arc<dyn Connector> {
        let extra = format!(
            "applications = [\"admin\"]\npage_size = {page_size}\ninitial_lookback = \"2h\"\nwindow_step = \"3h\"\n\
             settle_lag = \"0s\"\ntimeout = \"5s\""
        );
        Arc::new(super::google(base_url, &format!("{}/token", self.tokens.uri()), &extra))
    }

    fn continuation(&self) -> Continuation {
        Continuation::QueryParameter
    }

    fn refetches_on_401(&self) -> bool {
        true
    }

    fn ask(&self, request: &Request) -> Ask {
        Ask::minted(request, "pageToken", "maxResults", 1000)
    }

    fn page(&self, reply: &PageReply<'_>) -> ResponseTemplate {
        let items: Vec<Value> = reply
            .events
            .iter()
            .map(|e| {
                json!({"kind": "admin#reports#activity",
                       "id": {"time": e.published, "uniqueQualifier": e.id, "applicationName": "admin", "customerId": "C03az79cb"},
                       "actor": {"callerType": "USER", "email": "liz@example.com", "profileId": "1145"},
                       "ipAddress": "203.0.113.7",
                       "events": [{"type": "USER_SETTINGS", "name": e.message, "parameters": [{"name": "USER_EMAIL", "value": "bob@example.com"}]}]})
            })
            .collect();
        let mut body = json!({"kind": "admin#reports#activities", "etag": "\"e\""});
        if !items.is_empty() {
            body["items"] = Value::Array(items);
        }
        if reply.more {
            body["nextPageToken"] = Value::from(format!("p{}", reply.next_position));
        }
        ResponseTemplate::new(200).set_body_json(body)
    }

    fn id_field(&self) -> &'static str {
        "uniqueQualifier"
    }

    fn unreadable_cursor(&self) -> Cursor {
        json!({"after": 5})
    }

    fn windowed(&self) -> Option<Duration> {
        Some(Duration::from_millis(1))
    }

    fn window(&self, request: &Request) -> Option<(i64, i64)> {
        let query = query(request);
        Some((ms(&query["startTime"]), ms(&query["endTime"])))
    }
}

logcrawl_testkit::conformance_suite!(Google::start().await, not_expressible: [OffOriginLink]);
