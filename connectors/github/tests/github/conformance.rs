//! The connector conformance suite (`logcrawl_testkit::conformance`) against the GitHub connector: every
//! case applies (GitHub continues by `Link: rel="next"`, so the off-origin link case runs too).
//!
//! The suite's API ends a chain the way the simulator's `next_on_last_page` does — a `next` link after
//! every non-empty page, `next` equal to the request on an empty one — since its cases assert that a
//! caught-up run asks only for the feed's end. The other way GitHub may end an ascending crawl (no `next`
//! on the last page, the next run asking for that page again) is covered in `sim.rs` and `main.rs`.

use std::sync::Arc;

use logcrawl_core::{Connector, Cursor};
use logcrawl_testkit::conformance::{Ask, PageReply, Vendor};
use logcrawl_testkit::with_link_list;
use serde_json::{Value, json};
use wiremock::{Request, ResponseTemplate};

use super::{TOKEN, connector};

struct Github;

impl Vendor for Github {
    fn secret(&self) -> &str {
        TOKEN
    }

    fn connector(&self, base_url: &str, page_size: usize) -> Arc<dyn Connector> {
        Arc::new(connector(base_url, json!({"page_size": page_size})))
    }

    fn ask(&self, request: &Request) -> Ask {
        // The first query is a `created:>=` phrase; every later one follows a link minted below.
        Ask::minted(request, "after", "per_page", 30)
    }

    fn page(&self, reply: &PageReply<'_>) -> ResponseTemplate {
        let events: Vec<Value> = reply
            .events
            .iter()
            .map(|e| {
                let ms = e.published.parse::<jiff::Timestamp>().expect("RFC 3339").as_millisecond();
                json!({"@timestamp": ms, "created_at": ms, "_document_id": e.id, "action": e.message,
                       "actor": "octocat", "actor_ip": "10.0.0.1", "org": "conformance"})
            })
            .collect();
        let next = reply.minted_next(|token| {
            format!("/organizations/1/audit-log?per_page={}&order=asc&after={token}&before=", reply.ask.limit)
        });
        with_link_list(ResponseTemplate::new(200).set_body_json(events), &[("next", &next)])
    }

    fn id_field(&self) -> &'static str {
        "_document_id"
    }

    fn unreadable_cursor(&self) -> Cursor {
        json!({"after": "x"})
    }
}

logcrawl_testkit::conformance_suite!(Github);
