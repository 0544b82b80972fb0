//! The connector conformance suite (`logcrawl_testkit::conformance`) against the Okta connector: every
//! case applies (Okta continues by `Link: rel="next"` headers, so the off-origin link case runs too).

use std::sync::Arc;

use logcrawl_core::{BuildContext, Connector, Cursor};
use logcrawl_okta::OktaConnector;
use logcrawl_testkit::conformance::{Ask, Continuation, PageReply, Vendor};
use logcrawl_testkit::with_links;
use serde_json::{Value, json};
use wiremock::{Request, ResponseTemplate};

use super::{TOKEN, fast_retries};

struct Okta;

impl Vendor for Okta {
    fn secret(&self) -> &str {
        TOKEN
    }

    fn credential(&self) -> (&'static str, String) {
        ("authorization", format!("SSWS {TOKEN}"))
    }

    fn connector(&self, base_url: &str, page_size: usize) -> Arc<dyn Connector> {
        let config = serde_json::from_value(json!({"base_url": base_url, "token": TOKEN, "limit": page_size}))
            .expect("a valid Okta configuration");
        Arc::new(
            OktaConnector::with_http(config, &BuildContext::new("conformance"), fast_retries)
                .expect("a valid Okta configuration"),
        )
    }

    fn continuation(&self) -> Continuation {
        Continuation::Link
    }

    fn ask(&self, request: &Request) -> Ask {
        // The first request of a chain is a `since` query; every later one follows a `next` link minted below.
        Ask::minted(request, "after", "limit", 100)
    }

    fn page(&self, reply: &PageReply<'_>) -> ResponseTemplate {
        let events: Vec<Value> = reply
            .events
            .iter()
            .map(|e| {
                json!({"uuid": e.id, "published": e.published, "eventType": "user.session.start",
                       "displayMessage": e.message, "severity": "INFO", "client": {"ipAddress": "10.0.0.1"}})
            })
            .collect();
        // Polling semantics: an empty page's `next` is itself; otherwise it resumes after the last event.
        let next = reply.minted_next(|token| format!("/api/v1/logs?limit={}&after={token}", reply.ask.limit));
        let page = ResponseTemplate::new(200).set_body_json(events);
        with_links(page, &[("self", &reply.request_url), ("next", &next)])
    }

    fn id_field(&self) -> &'static str {
        "uuid"
    }

    fn unreadable_cursor(&self) -> Cursor {
        json!({"after": "x"})
    }
}

logcrawl_testkit::conformance_suite!(Okta);
