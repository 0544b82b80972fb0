//! The conformance suite against a declared source that continues by a token in a `POST` body
//! (1Password's Events API, as `examples/http-onepassword.toml` declares it). The token goes back in the
//! body to the client's own URL, so no answer can name another origin: the `next`-link case is not
//! expressible. The adapter mints cursors `c<position>-<limit>`.

use std::sync::Arc;

use logcrawl_core::{Connector, Cursor};
use logcrawl_testkit::body_json;
use logcrawl_testkit::conformance::{Ask, Continuation, PageReply, Vendor};
use serde_json::{Value, json};
use wiremock::{Request, ResponseTemplate};

use super::{TOKEN, connector};

struct BodyToken;

impl Vendor for BodyToken {
    fn secret(&self) -> &str {
        TOKEN
    }

    fn connector(&self, base_url: &str, page_size: usize) -> Arc<dyn Connector> {
        let text = format!(
            r#"base_url = "{base_url}"
page_size = {page_size}
requests_per_second = 1000
timeout = "5s"
[request]
method = "POST"
path = "/api/v2/auditevents"
body = {{ limit = "{{{{ page_size }}}}", start_time = "{{{{ start }}}}" }}
[auth]
type = "bearer"
token = "{TOKEN}"
[pagination]
type = "token"
token = "$.cursor"
next_body = {{ cursor = "{{{{ token }}}}" }}
has_more = "$.has_more"
[records]
path = "$.items[*]"
id = "$.uuid"
time = "$.timestamp"
"#
        );
        connector(&text).expect("a valid configuration")
    }

    fn continuation(&self) -> Continuation {
        Continuation::BodyToken
    }

    fn ask(&self, request: &Request) -> Ask {
        let body = body_json(request);
        match body["cursor"].as_str() {
            None => {
                assert!(body["start_time"].is_string(), "a first request carries start_time: {body}");
                Ask { position: 0, limit: body["limit"].as_u64().expect("limit, a number") as usize }
            }
            Some(cursor) => {
                assert_eq!(body.as_object().map(|b| b.len()), Some(1), "a continuation is the cursor alone: {body}");
                let (position, limit) = cursor.trim_start_matches('c').split_once('-').expect("a minted cursor");
                Ask { position: position.parse().expect("a number"), limit: limit.parse().expect("a number") }
            }
        }
    }

    fn page(&self, reply: &PageReply<'_>) -> ResponseTemplate {
        let items: Vec<Value> =
            reply.events.iter().map(|e| json!({"uuid": e.id, "timestamp": e.published, "action": e.message})).collect();
        let cursor = format!("c{}-{}", reply.next_position, reply.ask.limit);
        ResponseTemplate::new(200).set_body_json(json!({"cursor": cursor, "has_more": reply.more, "items": items}))
    }

    fn id_field(&self) -> &'static str {
        "uuid"
    }

    fn unreadable_cursor(&self) -> Cursor {
        json!({"url": 5})
    }
}

logcrawl_testkit::conformance_suite!(BodyToken, not_expressible: [OffOriginLink]);
