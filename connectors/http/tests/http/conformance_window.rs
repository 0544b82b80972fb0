//! The conformance suite against a declared source read by time windows, newest first inside each
//! (Slack's audit logs, as `examples/http-slack.toml` declares them): one window of three hours covers
//! the suite's feed, settled at once. The token is a query parameter on the client's own URL, so the
//! `next`-link case is not expressible. The adapter mints cursors `o<offset>`.

use std::sync::Arc;
use std::time::Duration;

use logcrawl_core::{Connector, Cursor};
use logcrawl_testkit::conformance::{Ask, Continuation, PageReply, Vendor};
use logcrawl_testkit::query;
use serde_json::{Value, json};
use wiremock::{Request, ResponseTemplate};

use super::{TOKEN, connector};

struct Windows;

impl Vendor for Windows {
    fn secret(&self) -> &str {
        TOKEN
    }

    fn connector(&self, base_url: &str, page_size: usize) -> Arc<dyn Connector> {
        let text = format!(
            r#"base_url = "{base_url}"
page_size = {page_size}
initial_lookback = "2h"
requests_per_second = 1000
timeout = "5s"
[request]
path = "/audit/v1/logs"
query = {{ oldest = "{{{{ window.start | unix }}}}", latest = "{{{{ window.last | unix }}}}", limit = "{{{{ page_size }}}}" }}
[auth]
type = "bearer"
token = "{TOKEN}"
[pagination]
type = "token"
token = "$.response_metadata.next_cursor"
param = "cursor"
[records]
path = "$.entries[*]"
id = "$.id"
time = "$.date_create"
time_format = "unix"
order = "newest_first"
[window]
step = "3h"
settle_lag = "0s"
"#
        );
        connector(&text).expect("a valid configuration")
    }

    fn continuation(&self) -> Continuation {
        Continuation::QueryParameter
    }

    fn ask(&self, request: &Request) -> Ask {
        let query = query(request);
        let offset = query.get("cursor").map_or(0, |c| c.trim_start_matches('o').parse().expect("a minted cursor"));
        Ask { position: offset, limit: query.get("limit").map_or(100, |l| l.parse().expect("a number")) }
    }

    fn page(&self, reply: &PageReply<'_>) -> ResponseTemplate {
        let entries: Vec<Value> = reply
            .events
            .iter()
            .map(|e| json!({"id": e.id, "date_create": e.published_ms().div_euclid(1000), "action": e.message}))
            .collect();
        let next = if reply.more { format!("o{}", reply.next_position) } else { String::new() };
        ResponseTemplate::new(200)
            .set_body_json(json!({"entries": entries, "response_metadata": {"next_cursor": next}}))
    }

    fn id_field(&self) -> &'static str {
        "id"
    }

    fn unreadable_cursor(&self) -> Cursor {
        json!({"after": 5})
    }

    fn windowed(&self) -> Option<Duration> {
        Some(Duration::from_secs(1))
    }

    fn window(&self, request: &Request) -> Option<(i64, i64)> {
        // Inclusive Unix seconds, the window's first and last (`window.last`).
        let query = query(request);
        let [oldest, latest] = ["oldest", "latest"].map(|name| query[name].parse::<i64>().expect("Unix seconds"));
        Some((oldest * 1000, (latest + 1) * 1000))
    }
}

logcrawl_testkit::conformance_suite!(Windows, not_expressible: [OffOriginLink]);
