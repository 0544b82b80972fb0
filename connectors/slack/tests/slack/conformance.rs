//! The connector conformance suite (`logcrawl_testkit::conformance`) against the Slack connector, as a
//! windowed API: one window of three hours covers the suite's feed, read newest first, settled at once
//! (so a run reaches an event a second after it, Slack's resolution).
//!
//! Slack's `next_cursor` is a query parameter the client puts on its own URL, so no answer can name
//! another origin: the `next`-link case is declared not expressible (the off-origin redirect case still
//! runs). The adapter mints cursors `o<offset>`.

use std::sync::Arc;
use std::time::Duration;

use logcrawl_core::{BuildContext, Connector, Cursor};
use logcrawl_slack::from_table;
use logcrawl_testkit::conformance::{Ask, Continuation, PageReply, Vendor};
use logcrawl_testkit::query;
use serde_json::{Value, json};
use wiremock::{Request, ResponseTemplate};

use super::TOKEN;

struct Slack;

impl Vendor for Slack {
    fn secret(&self) -> &str {
        TOKEN
    }

    fn connector(&self, base_url: &str, page_size: usize) -> Arc<dyn Connector> {
        let text = format!(
            "base_url = \"{base_url}\"\ntoken = \"{TOKEN}\"\npage_size = {page_size}\ninitial_lookback = \"2h\"\n\
             window_step = \"3h\"\nsettle_lag = \"0s\"\nrequests_per_second = 1000\nretry_initial_delay = \"5ms\"\n\
             retry_max_delay = \"20ms\"\ntimeout = \"5s\""
        );
        let table = text.parse().expect("TOML");
        Arc::new(from_table(&table, &BuildContext::new("conformance")).expect("a valid configuration"))
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
            .map(|e| {
                json!({"id": e.id, "date_create": e.published_ms().div_euclid(1000), "action": "user_login",
                       "actor": {"type": "user", "user": {"id": "W1", "name": e.message, "email": "bird@example.com"}},
                       "entity": {"type": "user", "user": {"id": "W1"}}, "context": {"ip_address": "10.0.0.1"}})
            })
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
        let query = query(request);
        let second = |name: &str| query[name].parse::<i64>().expect("Unix seconds");
        Some((second("oldest") * 1000, (second("latest") + 1) * 1000))
    }
}

logcrawl_testkit::conformance_suite!(Slack, not_expressible: [OffOriginLink]);
