//! The connector conformance suite (`logcrawl_testkit::conformance`) against the 1Password connector,
//! crawling one stream (`auditevents`).
//!
//! 1Password continues by a cursor in the body of a `POST` to the client's own URL, so no answer can
//! name another origin: the `next`-link case is declared not expressible (the off-origin redirect case
//! still runs, and a `POST` is never redirected). The adapter mints cursors `c<position>-<limit>`.

use std::sync::Arc;

use logcrawl_core::{BuildContext, Connector, Cursor};
use logcrawl_onepassword::OnePasswordConnector;
use logcrawl_testkit::body_json;
use logcrawl_testkit::conformance::{Ask, Continuation, PageReply, Vendor};
use serde_json::{Value, json};
use wiremock::{Request, ResponseTemplate};

use super::TOKEN;

struct OnePassword;

impl Vendor for OnePassword {
    fn secret(&self) -> &str {
        TOKEN
    }

    fn connector(&self, base_url: &str, page_size: usize) -> Arc<dyn Connector> {
        let text = format!(
            "base_url = \"{base_url}\"\ntoken = \"{TOKEN}\"\npage_size = {page_size}\nstreams = [\"auditevents\"]\n\
             requests_per_second = 1000\nretry_initial_delay = \"5ms\"\nretry_max_delay = \"20ms\"\ntimeout = \"5s\""
        );
        let table = text.parse().expect("TOML");
        Arc::new(
            OnePasswordConnector::from_table(&table, &BuildContext::new("conformance")).expect("a valid configuration"),
        )
    }

    fn continuation(&self) -> Continuation {
        Continuation::BodyToken
    }

    fn ask(&self, request: &Request) -> Ask {
        let body = body_json(request);
        match body["cursor"].as_str() {
            // A ResetCursor: the suite's feed is younger than the lookback, so it starts at the feed's start.
            None => Ask { position: 0, limit: body["limit"].as_u64().map_or(100, |l| l as usize) },
            Some(cursor) => {
                let (position, limit) = cursor.trim_start_matches('c').split_once('-').expect("a minted cursor");
                Ask { position: position.parse().expect("a number"), limit: limit.parse().expect("a number") }
            }
        }
    }

    fn page(&self, reply: &PageReply<'_>) -> ResponseTemplate {
        let items: Vec<Value> = reply
            .events
            .iter()
            .map(|e| {
                json!({"uuid": e.id, "timestamp": e.published, "actor_uuid": "U1",
                       "actor_details": {"uuid": "U1", "name": "Jack", "email": "jack@example.com"},
                       "action": "update", "object_type": "item", "object_uuid": e.message,
                       "session": {"ip": "10.0.0.1"}})
            })
            .collect();
        let cursor = format!("c{}-{}", reply.next_position, reply.ask.limit);
        ResponseTemplate::new(200).set_body_json(json!({"cursor": cursor, "has_more": reply.more, "items": items}))
    }

    fn id_field(&self) -> &'static str {
        "uuid"
    }

    fn unreadable_cursor(&self) -> Cursor {
        json!({"after": 5})
    }
}

logcrawl_testkit::conformance_suite!(OnePassword, not_expressible: [OffOriginLink]);
