//! The connector conformance suite (`logcrawl_testkit::conformance`) against the entra connector.
//!
//! The assumed API pages by an `after=<event id>` query parameter the client sets on its own URL, so no
//! server answer can name another origin: the `next`-link case is declared not expressible (the off-origin
//! redirect case still runs). Adapt `Vendor` with the connector, and keep every case passing.

use std::sync::Arc;

use logcrawl_core::{BuildContext, Connector, Cursor};
use logcrawl_entra::KIND;
use logcrawl_testkit::conformance::{Ask, Continuation, PageReply, Vendor};
use logcrawl_testkit::query;
use serde_json::{Value, json};
use wiremock::{Request, ResponseTemplate};

const KEY: &str = "entra-conformance-key-0123456789";

struct Entra;

impl Vendor for Entra {
    fn secret(&self) -> &str {
        KEY
    }

    fn credential(&self) -> (&'static str, String) {
        ("authorization", format!("Bearer {KEY}"))
    }

    fn connector(&self, base_url: &str, page_size: usize) -> Arc<dyn Connector> {
        let table =
            format!("base_url = \"{base_url}\"\npage_size = {page_size}\napi_key = \"{KEY}\"\ntimeout = \"5s\"");
        let context = BuildContext::new("entra-conformance");
        KIND.build(&table.parse().expect("TOML"), &context).expect("a valid configuration")
    }

    fn continuation(&self) -> Continuation {
        Continuation::QueryParameter
    }

    fn ask(&self, request: &Request) -> Ask {
        let query = query(request);
        let number = |key: &str, default: usize| query.get(key).map_or(default, |v| v.parse().expect("a number"));
        // The event with id `k` is the `k`th: asking for what comes after it starts at position `k`.
        Ask { position: number("after", 0), limit: number("limit", 100) }
    }

    fn page(&self, reply: &PageReply<'_>) -> ResponseTemplate {
        let logs: Vec<Value> = reply
            .events
            .iter()
            .map(|e| json!({"id": e.id, "timestamp": e.published, "level": "info", "message": e.message, "user": "alice"}))
            .collect();
        ResponseTemplate::new(200).set_body_json(json!({"logs": logs, "has_more": reply.more}))
    }

    fn id_field(&self) -> &'static str {
        "id"
    }

    fn unreadable_cursor(&self) -> Cursor {
        json!({"after": 5})
    }
}

logcrawl_testkit::conformance_suite!(Entra, not_expressible: [OffOriginLink]);
