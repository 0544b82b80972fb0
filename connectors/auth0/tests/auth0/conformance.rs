//! The connector conformance suite (`logcrawl_testkit::conformance`) against the Auth0 connector with a
//! static Management API token: every case applies (Auth0 continues by `Link: rel="next"`).

use std::sync::Arc;

use logcrawl_core::{Connector, Cursor};
use logcrawl_testkit::conformance::{Ask, PageReply, Vendor};
use logcrawl_testkit::{query, with_links};
use serde_json::{Value, json};
use wiremock::{Request, ResponseTemplate};

use super::{TOKEN, connector};

struct Auth0;

impl Vendor for Auth0 {
    fn secret(&self) -> &str {
        TOKEN
    }

    fn connector(&self, base_url: &str, page_size: usize) -> Arc<dyn Connector> {
        Arc::new(connector(base_url, json!({"page_size": page_size})))
    }

    fn ask(&self, request: &Request) -> Ask {
        let query = query(request);
        let from = query.get("from").expect("every read is a checkpoint read");
        // The first read starts from the lookback instant (56 digits); every later one after an event id.
        let position = if from.len() == 56 { 0 } else { from.parse().expect("an event id") };
        Ask { position, limit: query.get("take").map_or(50, |n| n.parse().expect("a number")) }
    }

    fn page(&self, reply: &PageReply<'_>) -> ResponseTemplate {
        let events: Vec<Value> = reply
            .events
            .iter()
            .map(|e| {
                json!({"log_id": e.id, "_id": e.id, "date": e.published, "type": "s", "description": e.message,
                            "user_name": "jdoe@example.com", "ip": "10.0.0.1"})
            })
            .collect();
        let next = match reply.events.last() {
            Some(last) => format!("{}/api/v2/logs?from={}&take={}", reply.link_origin, last.id, reply.ask.limit),
            None => reply.request_url.clone(),
        };
        with_links(ResponseTemplate::new(200).set_body_json(events), &[("next", &next)])
    }

    fn id_field(&self) -> &'static str {
        "log_id"
    }

    fn unreadable_cursor(&self) -> Cursor {
        json!({"url": "https://acme.us.auth0.com/api/v2/logs"})
    }
}

logcrawl_testkit::conformance_suite!(Auth0);
