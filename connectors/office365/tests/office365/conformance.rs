//! The connector conformance suite (`logcrawl_testkit::conformance`) against the `Audit.Exchange`
//! stream, as a windowed API: one window of content creation time covers the suite's feed (a listing
//! page per suite page), settled at once (no settle lag, no overlap: the overlap has tests of its own).
//!
//! Each listing page lists one blob holding the page's events, in the suite's order; the blob is
//! fetched from the API's origin by its `contentUri` and answered by the adapter
//! ([`Vendor::content`]), so the suite's positions are the listing pages'. `NextPageUri` is an absolute
//! URL: every case applies. The access token comes from a wiremock token endpoint of the adapter's own,
//! so a 401 makes the connector fetch a token once more before it gives up.

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use logcrawl_core::{BuildContext, Connector, Cursor};
use logcrawl_office365::{HTTP_DEFAULTS, Office365Connector, parse_instant};
use logcrawl_sim::entra::{CLIENT_ID, TENANT};
use logcrawl_testkit::conformance::{Ask, PageReply, Vendor};
use logcrawl_testkit::{fast_retries, query};
use serde_json::{Value, json};
use wiremock::matchers::method;
use wiremock::{Mock, MockServer, Request, ResponseTemplate};

use super::{ACCESS, SECRET, token_answer};

struct Office365 {
    tokens: MockServer,
    page_size: AtomicUsize,
    /// The blobs the listing pages named, by `contentId`: their records.
    blobs: Mutex<HashMap<String, Vec<Value>>>,
}

impl Office365 {
    async fn start() -> Self {
        let tokens = MockServer::start().await;
        Mock::given(method("POST")).respond_with(token_answer(ACCESS, 3599)).mount(&tokens).await;
        Self { tokens, page_size: AtomicUsize::new(1000), blobs: Mutex::default() }
    }
}

/// A listing bound in epoch ms.
fn ms(text: &str) -> i64 {
    parse_instant(text).expect("a listing bound").as_millisecond()
}

impl Vendor for Office365 {
    fn secret(&self) -> &str {
        ACCESS
    }

    fn connector(&self, base_url: &str, page_size: usize) -> Arc<dyn Connector> {
        self.page_size.store(page_size, Ordering::Relaxed);
        let text = format!(
            "tenant_id = \"{TENANT}\"\nclient_id = \"{CLIENT_ID}\"\nclient_secret = \"{SECRET}\"\nbase_url = \"{base_url}\"\n\
             login_url = \"{}\"\ncontent_types = [\"Audit.Exchange\"]\ninitial_lookback = \"2h\"\nwindow_step = \"3h\"\n\
             settle_lag = \"0s\"\noverlap = \"0s\"\nrequests_per_second = 1000\ntimeout = \"5s\"",
            self.tokens.uri()
        );
        let (config, http) = logcrawl_core::config::ComponentTable::split(&text.parse().expect("TOML"), HTTP_DEFAULTS)
            .expect("a valid configuration");
        let connector = Office365Connector::with_http(config, &http, &BuildContext::new("conformance"), fast_retries)
            .expect("a valid configuration");
        Arc::new(connector)
    }

    fn refetches_on_401(&self) -> bool {
        true
    }

    fn ask(&self, request: &Request) -> Ask {
        Ask::minted(request, "nextPage", "limit", self.page_size.load(Ordering::Relaxed))
    }

    fn content(&self, request: &Request) -> Option<ResponseTemplate> {
        let id = request.url.path().strip_prefix(&format!("/api/v1.0/{TENANT}/activity/feed/audit/"))?;
        let records = self.blobs.lock().expect("blobs poisoned").get(id).cloned();
        Some(match records {
            Some(records) => ResponseTemplate::new(200).set_body_json(records),
            None => ResponseTemplate::new(400).set_body_json(json!({"error": {"code": "AF20050", "message": id}})),
        })
    }

    fn page(&self, reply: &PageReply<'_>) -> ResponseTemplate {
        let mut listed = Vec::new();
        if let (Some(first), Some(last)) = (reply.events.first(), reply.events.last()) {
            let id = format!("b{}-{}", first.id, last.id);
            let records: Vec<Value> = reply
                .events
                .iter()
                .map(|e| {
                    json!({"Id": e.id, "CreationTime": e.published.trim_end_matches('Z'), "Operation": e.message,
                           "UserId": "adelev@contoso.com", "Workload": "Exchange", "ResultStatus": "Succeeded",
                           "RecordType": 2, "ClientIP": "203.0.113.9"})
                })
                .collect();
            self.blobs.lock().expect("blobs poisoned").insert(id.clone(), records);
            let origin = reply.request_url.split("/api/").next().unwrap_or_default();
            listed.push(json!({"contentType": "Audit.Exchange", "contentId": id,
                "contentUri": format!("{origin}/api/v1.0/{TENANT}/activity/feed/audit/{id}"),
                "contentCreated": first.published, "contentExpiration": first.published}));
        }
        let mut answer = ResponseTemplate::new(200).set_body_json(listed);
        if reply.more {
            let kept: Vec<&str> = reply
                .request
                .url
                .query()
                .unwrap_or_default()
                .split('&')
                .filter(|pair| !pair.starts_with("nextPage="))
                .collect();
            let next = format!(
                "{}{}?{}&nextPage=p{}",
                reply.link_origin,
                reply.request.url.path(),
                kept.join("&"),
                reply.next_position
            );
            answer = answer.insert_header("NextPageUri", next.as_str());
        }
        answer
    }

    fn id_field(&self) -> &'static str {
        "id"
    }

    fn unreadable_cursor(&self) -> Cursor {
        json!({"after": 5})
    }

    fn windowed(&self) -> Option<Duration> {
        Some(Duration::from_millis(1000))
    }

    fn window(&self, request: &Request) -> Option<(i64, i64)> {
        let query = query(request);
        let from = query.get("startTime").expect("every listing has a window");
        let to = query.get("endTime").expect("every listing has a window");
        Some((ms(from), ms(to)))
    }
}

logcrawl_testkit::conformance_suite!(Office365::start().await);
