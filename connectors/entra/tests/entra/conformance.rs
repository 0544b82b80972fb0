//! The connector conformance suite (`logcrawl_testkit::conformance`) against the Entra connector's
//! `directory_audits` stream, as a windowed API: one window of three hours covers the suite's feed, read
//! newest first, settled at once (no settle lag, so no overlap either: the overlap has tests of its own).
//!
//! The access token comes from a wiremock token endpoint of the adapter's own (client credentials), so a
//! 401 makes the connector fetch a token once more before it gives up ([`Vendor::refetches_on_401`]).
//! Graph continues by `@odata.nextLink`, an absolute URL: every case applies. The adapter mints skip
//! tokens `p<offset>` and keeps each request's `$filter` in its next link.

use std::sync::Arc;
use std::time::Duration;

use logcrawl_core::{BuildContext, Connector, Cursor};
use logcrawl_entra::{EntraConnector, HTTP_DEFAULTS};
use logcrawl_sim::entra::{CLIENT_ID, TENANT};
use logcrawl_testkit::conformance::{Ask, PageReply, Vendor};
use logcrawl_testkit::{fast_retries, query};
use serde_json::{Value, json};
use wiremock::matchers::method;
use wiremock::{Mock, MockServer, Request, ResponseTemplate};

use super::{ACCESS, SECRET, token_answer};

struct Entra {
    tokens: MockServer,
}

impl Entra {
    async fn start() -> Self {
        let tokens = MockServer::start().await;
        Mock::given(method("POST")).respond_with(token_answer(ACCESS, 3599)).mount(&tokens).await;
        Self { tokens }
    }
}

/// An instant of a `$filter` clause, in epoch ms rounded up (events are on whole milliseconds).
fn ms_at_or_after(literal: &str) -> i64 {
    let at: jiff::Timestamp = literal.parse().expect("an instant");
    let ns = at.as_nanosecond();
    i64::try_from(ns.div_euclid(1_000_000) + i128::from(ns.rem_euclid(1_000_000) > 0)).expect("in range")
}

impl Vendor for Entra {
    fn secret(&self) -> &str {
        ACCESS
    }

    fn connector(&self, base_url: &str, page_size: usize) -> Arc<dyn Connector> {
        let text = format!(
            "tenant_id = \"{TENANT}\"\nclient_id = \"{CLIENT_ID}\"\nclient_secret = \"{SECRET}\"\nbase_url = \"{base_url}\"\n\
             login_url = \"{}\"\nstreams = [\"directory_audits\"]\npage_size = {page_size}\ninitial_lookback = \"2h\"\n\
             window_step = \"3h\"\nsettle_lag = \"0s\"\nrequests_per_second = 1000\ntimeout = \"5s\"",
            self.tokens.uri()
        );
        let (config, http) = logcrawl_core::config::ComponentTable::split(&text.parse().expect("TOML"), HTTP_DEFAULTS)
            .expect("a valid configuration");
        let connector = EntraConnector::with_http(config, &http, &BuildContext::new("conformance"), fast_retries)
            .expect("a valid configuration");
        Arc::new(connector)
    }

    fn refetches_on_401(&self) -> bool {
        true
    }

    fn ask(&self, request: &Request) -> Ask {
        Ask::minted(request, "$skiptoken", "$top", 1000)
    }

    fn page(&self, reply: &PageReply<'_>) -> ResponseTemplate {
        let value: Vec<Value> = reply
            .events
            .iter()
            .map(|e| {
                json!({"id": e.id, "activityDateTime": e.published, "activityDisplayName": e.message, "result": "success",
                       "category": "UserManagement", "initiatedBy": {"user": {"id": "u1", "userPrincipalName": "adelev@contoso.com"}, "app": null},
                       "targetResources": []})
            })
            .collect();
        let next = reply.more.then(|| {
            let kept: Vec<String> = reply
                .request
                .url
                .query()
                .unwrap_or_default()
                .split('&')
                .filter(|pair| !pair.starts_with("$skiptoken="))
                .map(str::to_owned)
                .collect();
            format!(
                "{}{}?{}&$skiptoken=p{}",
                reply.link_origin,
                reply.request.url.path(),
                kept.join("&"),
                reply.next_position
            )
        });
        ResponseTemplate::new(200).set_body_json(json!({"value": value, "@odata.nextLink": next}))
    }

    fn id_field(&self) -> &'static str {
        "id"
    }

    fn unreadable_cursor(&self) -> Cursor {
        json!({"after": 5})
    }

    fn windowed(&self) -> Option<Duration> {
        Some(Duration::from_millis(1))
    }

    fn window(&self, request: &Request) -> Option<(i64, i64)> {
        let filter = query(request).get("$filter").cloned().expect("every request filters on time");
        let words: Vec<&str> = filter.split(' ').collect();
        let [_, "ge", from, "and", _, "le", to] = words[..] else { panic!("not a directory audits window: {filter}") };
        let to = to.parse::<jiff::Timestamp>().expect("an instant") + jiff::SignedDuration::from_nanos(100);
        Some((ms_at_or_after(from), ms_at_or_after(&to.to_string())))
    }
}

logcrawl_testkit::conformance_suite!(Entra::start().await);
