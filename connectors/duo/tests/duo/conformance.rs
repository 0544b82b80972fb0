//! The connector conformance suite (`logcrawl_testkit::conformance`) against the Duo connector's v2
//! streams, authentication and telephony, each as a windowed API: one window of six hours covers the
//! suite's feed, read newest first, settled at once (so a run reaches an event a millisecond after it).
//!
//! Every request is signed: the adapter verifies each signature as Duo does (the simulator's
//! [`Credentials`]) instead of comparing a fixed header. `next_offset` is a query parameter the client
//! puts on its own URL, so no answer can name another origin: the `next`-link case is declared not
//! expressible (the off-origin redirect case still runs). The adapter mints offsets `<ms>,o<offset>`.
//!
//! The administrator log (v1) cannot run the suite: it takes no page size (Duo answers up to 1000 events
//! a request), and the suite asks for pages of three; `main.rs` and `crawl.rs` test it.

use std::sync::Arc;
use std::time::Duration;

use logcrawl_core::{BuildContext, Connector, Cursor};
use logcrawl_duo::DuoConnector;
use logcrawl_sim::duo::Credentials;
use logcrawl_testkit::conformance::{Ask, Continuation, PageReply, Vendor};
use logcrawl_testkit::{header, query};
use serde_json::{Value, json};
use wiremock::{Request, ResponseTemplate};

use super::{API_HOST, INTEGRATION_KEY, SECRET_KEY, credentials};

/// One v2 log of Duo, for the suite.
struct Duo {
    log: &'static str,
}

/// An instant as Duo writes `isotimestamp` and `ts`: microseconds and an offset.
fn iso(ms: i64) -> String {
    let at = jiff::Timestamp::from_millisecond(ms).expect("a recent instant");
    format!("{}000+00:00", at.strftime("%Y-%m-%dT%H:%M:%S%.3f"))
}

impl Vendor for Duo {
    fn secret(&self) -> &str {
        SECRET_KEY
    }

    fn authorized(&self, request: &Request) -> bool {
        let creds: Credentials = credentials();
        let verdict = creds.verify(
            request.method.as_str(),
            request.url.path(),
            request.url.query(),
            header(request, "date"),
            header(request, "authorization"),
            jiff::Timestamp::now(),
        );
        verdict.is_ok()
    }

    fn connector(&self, base_url: &str, page_size: usize) -> Arc<dyn Connector> {
        let text = format!(
            "api_host = \"{API_HOST}\"\nintegration_key = \"{INTEGRATION_KEY}\"\nsecret_key = \"{SECRET_KEY}\"\n\
             base_url = \"{base_url}\"\nstreams = [\"{}\"]\npage_size = {page_size}\ninitial_lookback = \"2h\"\n\
             settle_lag = \"0s\"\nrequests_per_second = 1000\nretry_initial_delay = \"5ms\"\nretry_max_delay = \"20ms\"\n\
             timeout = \"5s\"",
            self.log
        );
        let table = text.parse().expect("TOML");
        Arc::new(DuoConnector::from_table(&table, &BuildContext::new("conformance")).expect("a valid configuration"))
    }

    fn continuation(&self) -> Continuation {
        Continuation::QueryParameter
    }

    fn ask(&self, request: &Request) -> Ask {
        let query = query(request);
        let offset = query.get("next_offset").map_or(0, |offset| {
            let (_, minted) = offset.split_once(',').expect("ms,o<offset>");
            minted.trim_start_matches('o').parse().expect("a minted offset")
        });
        Ask { position: offset, limit: query.get("limit").map_or(100, |l| l.parse().expect("a number")) }
    }

    fn page(&self, reply: &PageReply<'_>) -> ResponseTemplate {
        let events: Vec<Value> = reply
            .events
            .iter()
            .map(|e| {
                let ms = e.published_ms();
                if self.log == "telephony" {
                    json!({"context": "authentication", "credits": 1, "phone": "+15035550100", "telephony_id": e.id,
                           "ts": iso(ms), "txid": format!("tx-{}", e.id), "type": "sms"})
                } else {
                    json!({"txid": e.id, "isotimestamp": iso(ms), "timestamp": ms.div_euclid(1000),
                           "user": {"key": "DU0000000000000000001", "name": e.message}, "email": "bird@example.com",
                           "event_type": "authentication", "result": "success", "reason": "user_approved",
                           "factor": "duo_push", "application": {"key": "DI1", "name": "VPN"},
                           "access_device": {"ip": "10.0.0.1"}})
                }
            })
            .collect();
        let last_ms = reply.events.last().map_or(0, |e| e.published_ms());
        let minted = format!("o{}", reply.next_position);
        let (list, next_offset) = if self.log == "telephony" {
            ("items", reply.more.then(|| json!(format!("{last_ms},{minted}"))))
        } else {
            ("authlogs", reply.more.then(|| json!([last_ms.to_string(), minted])))
        };
        let mut response = json!({"metadata": {"next_offset": next_offset, "total_objects": events.len()}});
        response[list] = Value::Array(events);
        ResponseTemplate::new(200).set_body_json(json!({"stat": "OK", "response": response}))
    }

    fn id_field(&self) -> &'static str {
        if self.log == "telephony" { "telephony_id" } else { "txid" }
    }

    fn unreadable_cursor(&self) -> Cursor {
        json!({"after": 5})
    }

    fn windowed(&self) -> Option<Duration> {
        Some(Duration::from_millis(1))
    }

    fn window(&self, request: &Request) -> Option<(i64, i64)> {
        let query = query(request);
        let ms = |name: &str| query[name].parse::<i64>().expect("epoch milliseconds");
        Some((ms("mintime"), ms("maxtime") + 1))
    }
}

mod authentication {
    logcrawl_testkit::conformance_suite!(super::Duo { log: "authentication" }, not_expressible: [OffOriginLink]);
}

mod telephony {
    logcrawl_testkit::conformance_suite!(super::Duo { log: "telephony" }, not_expressible: [OffOriginLink]);
}
