//! The conformance suite against a declared source that continues by `Link: rel="next"` (Okta's System
//! Log, as `examples/http-okta.toml` declares it): every case applies.

use std::sync::Arc;

use logcrawl_core::{Connector, Cursor};
use logcrawl_testkit::conformance::{Ask, Continuation, PageReply, Vendor};
use logcrawl_testkit::with_links;
use serde_json::{Value, json};
use wiremock::{Request, ResponseTemplate};

use super::{TOKEN, connector};

struct LinkChain;

impl Vendor for LinkChain {
    fn secret(&self) -> &str {
        TOKEN
    }

    fn credential(&self) -> (&'static str, String) {
        ("authorization", format!("SSWS {TOKEN}"))
    }

    fn connector(&self, base_url: &str, page_size: usize) -> Arc<dyn Connector> {
        let text = format!(
            r#"base_url = "{base_url}"
page_size = {page_size}
requests_per_second = 1000
timeout = "5s"
[request]
path = "/api/v1/logs"
query = {{ since = "{{{{ start }}}}", limit = "{{{{ page_size }}}}" }}
[auth]
type = "bearer"
prefix = "SSWS"
token = "{TOKEN}"
[pagination]
type = "link"
[records]
path = "$[*]"
id = "$.uuid"
time = "$.published"
fields = {{ message = "$.displayMessage" }}
"#
        );
        connector(&text).expect("a valid configuration")
    }

    fn continuation(&self) -> Continuation {
        Continuation::Link
    }

    fn ask(&self, request: &Request) -> Ask {
        Ask::minted(request, "after", "limit", 100)
    }

    fn page(&self, reply: &PageReply<'_>) -> ResponseTemplate {
        let events: Vec<Value> = reply
            .events
            .iter()
            .map(|e| json!({"uuid": e.id, "published": e.published, "displayMessage": e.message, "severity": "INFO"}))
            .collect();
        let next = reply.minted_next(|token| format!("/api/v1/logs?limit={}&after={token}", reply.ask.limit));
        with_links(ResponseTemplate::new(200).set_body_json(events), &[("self", &reply.request_url), ("next", &next)])
    }

    fn id_field(&self) -> &'static str {
        "uuid"
    }

    fn unreadable_cursor(&self) -> Cursor {
        json!({"after": "x"})
    }
}

logcrawl_testkit::conformance_suite!(LinkChain);
