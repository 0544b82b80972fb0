//! A simulated 1Password Events API (`POST /api/v2/{auditevents|signinattempts|itemusages}`) on loopback.
//!
//! # Contract
//!
//! * **Feeds.** Three, one per endpoint ([`Feed`]), each its own sequence: event `i` (0-based) of a feed
//!   is a pure function of the feed, `i` and the builder's settings, in the shape of the current Events
//!   API reference's V2 examples (the OpenAPI description 1.2.0 for V1, plus the V2 additions
//!   `account_uuid`, `user_type`, `actor_details`, `actor_type`; which optional members real events
//!   carry is not verified). Its `uuid` ([`event_uuid`]) is a 26-character base32 id unique per feed and
//!   index; `timestamp` is `start + i × spacing`, RFC 3339 in UTC with milliseconds (real events may be
//!   written with another precision or offset: not verified). Events `0..total` exist per feed;
//!   [`OnePasswordSim::append`] publishes more while the server runs.
//! * **Requests.** A JSON body, either a *ResetCursor* `{"limit": 1..=1000 (default 100), "start_time":
//!   RFC 3339}` (the first event with `timestamp ≥ start_time`, or the feed's start without one) or a
//!   *Cursor* `{"cursor": "…"}` (exactly where the page that returned it ended, with its limit). An
//!   `end_time`, both kinds at once, a limit outside 1–1000, an unparsable time, a cursor of another feed
//!   or an unreadable body answer 400.
//! * **Pages.** 200 `{"cursor": "…", "has_more": bool, "items": [...]}`, oldest first. `has_more` is
//!   whether events exist after the page; the cursor resumes right after the page's last event **and
//!   keeps working after `has_more` is false**: polling it later returns the events published since
//!   (an empty page returns the cursor it was asked with, as 1Password's persistent cursor does).
//! * **Auth.** With [`OnePasswordSimBuilder::token`], a request without `Authorization: Bearer <token>`
//!   answers 401 `{"Error": {"Message": "Unauthorized"}}`, and so does a request to a feed the token's
//!   features ([`OnePasswordSimBuilder::features`]) leave out (whether 1Password answers a missing
//!   feature with 401 or 403, and with which message, is not verified). Refused requests are not counted
//!   against the rate limits.
//! * **Rate limits.** 1Password's published limits, 600 requests per minute and 30 000 per hour for the
//!   account (every feed together), by default ([`OnePasswordSimBuilder::rate_limit`],
//!   [`OnePasswordSimBuilder::hourly_limit`]); past either, 429 `{"Error": {"Message": "Too many
//!   requests"}}`. No rate-limit headers and no `Retry-After` are sent: 1Password documents none.
//!   [`OnePasswordSimBuilder::inject_429`] forces 429s on given request ordinals (1-based, over every
//!   feed); every planted answer is that 429, and [`OnePasswordSimBuilder::inject_wait`] changes nothing.
//! * **Counters.** Requests per feed and in all, 429s, events served.
//! * **Speed.** Pages are rendered straight into one buffer (no serialiser, no allocation per event).
//!
//! The server binds `127.0.0.1:0`, runs on the current tokio runtime and stops when dropped.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use axum::Router;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use axum::routing::post;
use bytes::{BufMut, Bytes, BytesMut};
use serde::Deserialize;

use crate::util::{
    Clock, FeedSettings, Gate, PEOPLE, RateGate, RateLimits, Server, authorized, feed_builder, json_response,
    put_base32_id, put_dec, put_private_ip, put_rfc3339_ms, serve_loopback, splitmix64,
};

/// 1Password's largest page.
pub const MAX_LIMIT: u64 = 1000;
/// 1Password's default page.
pub const DEFAULT_LIMIT: u64 = 100;
const CURSOR_KEY: u64 = 0x3170_6173_735f_7369;

/// One of the Events API's three feeds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Feed {
    /// `auditevents`: actions of team members.
    AuditEvents,
    /// `signinattempts`: successful and failed sign-ins.
    SignInAttempts,
    /// `itemusages`: uses of items in shared vaults.
    ItemUsages,
}

impl Feed {
    /// Every feed.
    pub const ALL: [Feed; 3] = [Feed::AuditEvents, Feed::SignInAttempts, Feed::ItemUsages];

    /// Its endpoint's last path segment (and the token feature that opens it).
    pub fn name(self) -> &'static str {
        match self {
            Feed::AuditEvents => "auditevents",
            Feed::SignInAttempts => "signinattempts",
            Feed::ItemUsages => "itemusages",
        }
    }

    /// The feed called `name`.
    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|feed| feed.name() == name)
    }

    fn index(self) -> usize {
        self as usize
    }

    fn salt(self) -> u64 {
        0x1a55_0000 + self as u64
    }
}

/// Settings of a [`OnePasswordSim`]. Its feed settings are every feed's: the count of events of each
/// (unless [`OnePasswordSimBuilder::feed_events`] sets one), their clock, the credential, and the
/// account's rate limit (per minute by default).
#[derive(Debug, Clone)]
pub struct OnePasswordSimBuilder {
    feed: FeedSettings,
    feed_events: [Option<u64>; 3],
    features: Vec<Feed>,
    per_hour: u64,
}

impl Default for OnePasswordSimBuilder {
    fn default() -> Self {
        Self {
            feed: FeedSettings::new(RateLimits::new(600, Duration::from_secs(60))),
            feed_events: [None; 3],
            features: Feed::ALL.to_vec(),
            per_hour: 30_000,
        }
    }
}

impl OnePasswordSimBuilder {
    feed_builder!(OnePasswordSim);

    /// How many events `feed` has at start (instead of the count of [`events`](Self::events), whichever
    /// is set first).
    #[must_use]
    pub fn feed_events(mut self, feed: Feed, total: u64) -> Self {
        self.feed_events[feed.index()] = Some(total);
        self
    }

    /// The feeds the token may read (default all three); the others answer 401.
    #[must_use]
    pub fn features(mut self, features: impl IntoIterator<Item = Feed>) -> Self {
        self.features = features.into_iter().collect();
        self
    }

    /// Requests allowed per hour, every feed together (default 30 000), besides the window of
    /// [`rate_limit`](Self::rate_limit) (default 600 per minute).
    #[must_use]
    pub fn hourly_limit(mut self, calls: u64) -> Self {
        self.per_hour = calls;
        self
    }
}

#[derive(Debug)]
struct Shared {
    totals: [AtomicU64; 3],
    clock: Clock,
    token: Option<String>,
    features: Vec<Feed>,
    /// Every request, the window of `rate_limit` and the planted 429s.
    minute: RateGate,
    /// The hour's window (requests the minute let through).
    hour: RateGate,
    feed_requests: [AtomicU64; 3],
    served: AtomicU64,
}

/// A running simulated 1Password account. Dropping it stops the server.
#[derive(Debug)]
pub struct OnePasswordSim {
    shared: Arc<Shared>,
    server: Server,
}

impl OnePasswordSim {
    /// Settings with defaults.
    pub fn builder() -> OnePasswordSimBuilder {
        OnePasswordSimBuilder::default()
    }

    /// Starts a server with `settings`.
    pub async fn start(settings: OnePasswordSimBuilder) -> std::io::Result<Self> {
        let counts = settings.feed_events.map(|total| total.unwrap_or(settings.feed.events));
        let routes = Router::new().route("/api/v2/{feed}", post(events));
        let (shared, server) = serve_loopback("onepassword", routes, |_| Shared {
            totals: counts.map(AtomicU64::new),
            // The newest event of the largest feed is the newest.
            clock: settings.feed.clock(counts.into_iter().max().unwrap_or(0)),
            token: settings.feed.token,
            features: settings.features,
            minute: RateGate::new(settings.feed.limits),
            hour: RateGate::new(RateLimits::new(settings.per_hour, Duration::from_secs(3600))),
            feed_requests: Default::default(),
            served: AtomicU64::new(0),
        })
        .await?;
        Ok(Self { shared, server })
    }

    /// `http://127.0.0.1:PORT`, to use as the connector's `base_url`.
    pub fn base_url(&self) -> &str {
        self.server.base_url()
    }

    /// Events of `feed` that exist now.
    pub fn total_events(&self, feed: Feed) -> u64 {
        self.shared.totals[feed.index()].load(Ordering::Relaxed)
    }

    /// Publishes `n` more events on `feed` (they continue its deterministic sequence).
    pub fn append(&self, feed: Feed, n: u64) {
        self.shared.totals[feed.index()].fetch_add(n, Ordering::Relaxed);
    }

    /// Requests received on any feed, every status included.
    pub fn requests(&self) -> u64 {
        self.shared.minute.requests()
    }

    /// Requests received on `feed`, every status included.
    pub fn requests_of(&self, feed: Feed) -> u64 {
        self.shared.feed_requests[feed.index()].load(Ordering::Relaxed)
    }

    /// 429 answers given.
    pub fn rate_limited(&self) -> u64 {
        self.shared.minute.rate_limited() + self.shared.hour.rate_limited()
    }

    /// Events served in 200 pages, every feed, repeats counted.
    pub fn events_served(&self) -> u64 {
        self.shared.served.load(Ordering::Relaxed)
    }

    /// `timestamp` of event `i` of any feed, in epoch milliseconds.
    pub fn timestamp_ms(&self, i: u64) -> i64 {
        self.shared.clock.at_ms(i)
    }

    /// Event `i` of `feed` as this simulator serves it.
    pub fn render_event(&self, feed: Feed, i: u64) -> Vec<u8> {
        let mut out = BytesMut::with_capacity(1024);
        render_event(&mut out, feed, i, self.timestamp_ms(i));
        out.to_vec()
    }
}

/// A request body: a ResetCursor or a Cursor.
#[derive(Deserialize)]
struct Body {
    cursor: Option<String>,
    limit: Option<serde_json::Number>,
    start_time: Option<String>,
    end_time: Option<String>,
}

/// The cursor that resumes `feed` at event `position`, with pages of `limit`: opaque to clients.
pub fn cursor_for(feed: Feed, position: u64, limit: u64) -> String {
    format!("{:x}{:016x}{:03x}", feed.index(), position ^ CURSOR_KEY ^ feed.salt(), limit)
}

/// The feed, position and limit of a cursor.
fn parse_cursor(cursor: &str) -> Option<(Feed, u64, u64)> {
    if cursor.len() != 20 || !cursor.is_ascii() {
        return None;
    }
    let feed = *Feed::ALL.get(usize::from_str_radix(&cursor[..1], 16).ok()?)?;
    let position = u64::from_str_radix(&cursor[1..17], 16).ok()? ^ CURSOR_KEY ^ feed.salt();
    let limit = u64::from_str_radix(&cursor[17..], 16).ok()?;
    (1..=MAX_LIMIT).contains(&limit).then_some((feed, position, limit))
}

fn error(status: StatusCode, message: &str) -> Response {
    json_response(status, serde_json::json!({"Error": {"Message": message}}).to_string(), &[])
}

async fn events(State(sim): State<Arc<Shared>>, Path(feed): Path<String>, headers: HeaderMap, body: Bytes) -> Response {
    let ordinal = sim.minute.arrive();
    let Some(feed) = Feed::from_name(&feed) else { return error(StatusCode::NOT_FOUND, "Not Found") };
    sim.feed_requests[feed.index()].fetch_add(1, Ordering::Relaxed);

    if let Some(token) = &sim.token
        && (!authorized(&headers, &format!("Bearer {token}")) || !sim.features.contains(&feed))
    {
        return error(StatusCode::UNAUTHORIZED, "Unauthorized");
    }
    // The minute's window first; a request it lets through counts against the hour's.
    let limited =
        !matches!(sim.minute.pass(ordinal), Gate::Open(_)) || !matches!(sim.hour.pass(ordinal), Gate::Open(_));
    if limited {
        return error(StatusCode::TOO_MANY_REQUESTS, "Too many requests");
    }

    let Ok(request) = serde_json::from_slice::<Body>(&body) else {
        return error(StatusCode::BAD_REQUEST, "Invalid request body");
    };
    let total = sim.totals[feed.index()].load(Ordering::Relaxed);
    let (first, limit) = match (&request.cursor, &request.limit, &request.start_time, &request.end_time) {
        (_, _, _, Some(_)) => return error(StatusCode::BAD_REQUEST, "end_time is not simulated"),
        (Some(cursor), None, None, None) => match parse_cursor(cursor) {
            Some((of, position, limit)) if of == feed => (position.min(total), limit),
            _ => return error(StatusCode::BAD_REQUEST, "Invalid cursor"),
        },
        (Some(_), _, _, _) => return error(StatusCode::BAD_REQUEST, "a cursor request takes no other member"),
        (None, limit, start_time, None) => {
            let limit = match limit.as_ref().map(serde_json::Number::as_u64) {
                None => DEFAULT_LIMIT,
                Some(Some(limit)) if (1..=MAX_LIMIT).contains(&limit) => limit,
                Some(_) => return error(StatusCode::BAD_REQUEST, "limit must be between 1 and 1000"),
            };
            let first = match start_time.as_deref().map(str::parse::<jiff::Timestamp>) {
                None => 0,
                Some(Ok(at)) => sim.clock.first_at_or_after(at.as_millisecond(), total),
                Some(Err(_)) => return error(StatusCode::BAD_REQUEST, "start_time is not an RFC 3339 date-time"),
            };
            (first, limit)
        }
    };
    let end = first.saturating_add(limit).min(total);

    let mut out = BytesMut::with_capacity((end - first) as usize * 900 + 96);
    out.put_slice(b"{\"cursor\":\"");
    out.put_slice(cursor_for(feed, end, limit).as_bytes());
    out.put_slice(b"\",\"has_more\":");
    out.put_slice(if end < total { b"true" } else { b"false" });
    out.put_slice(b",\"items\":[");
    for i in first..end {
        if i > first {
            out.put_u8(b',');
        }
        render_event(&mut out, feed, i, sim.clock.at_ms(i));
    }
    out.put_slice(b"]}");
    sim.served.fetch_add(end - first, Ordering::Relaxed);
    json_response(StatusCode::OK, out.freeze(), &[])
}

// ---------------------------------------------------------------------------------------------------------
// Rendering
// ---------------------------------------------------------------------------------------------------------

/// The `uuid` of event `index` of `feed`.
pub fn event_uuid(feed: Feed, index: u64) -> String {
    let mut out = BytesMut::with_capacity(26);
    put_base32_id(&mut out, index, feed.salt());
    String::from_utf8(out.to_vec()).expect("base32 is ascii")
}

/// The simulated account's `account_uuid`.
const ACCOUNT: &str = "VZSYVT2LGHTBWBQGUJAIZVRABM";

/// The account's team members: all the people but the first.
const USERS: &[(&str, &str)] = PEOPLE.split_at(1).1;

const CLIENTS: &[&str] = &[
    r#""app_name":"1Password Browser Extension","app_version":"20127","platform_name":"Chrome","platform_version":"126.0.0.0","os_name":"MacOSX","os_version":"14.5""#,
    r#""app_name":"1Password for Windows","app_version":"81000022","platform_name":"Windows","platform_version":"10.0.22631","os_name":"Windows","os_version":"11""#,
    r#""app_name":"1Password CLI","app_version":"2300301","platform_name":"Linux","platform_version":"x86_64","os_name":"Linux","os_version":"6.8""#,
];

const LOCATIONS: &[&str] = &[
    r#"{"country":"CA","region":"Ontario","city":"Toronto","latitude":43.64,"longitude":-79.433}"#,
    r#"{"country":"DE","region":"Berlin","city":"Berlin","latitude":52.52,"longitude":13.405}"#,
    r#"{"country":"US","region":"California","city":"San Francisco","latitude":37.7749,"longitude":-122.4194}"#,
];

/// `category`, `type` and `details` of sign-in attempts (mostly successes).
const SIGNINS: &[&str] = &[
    r#""category":"success","type":"credentials_ok","details":null"#,
    r#""category":"success","type":"mfa_ok","details":null"#,
    r#""category":"success","type":"credentials_ok","details":null"#,
    r#""category":"credentials_failed","type":"password_secret_bad","details":null"#,
    r#""category":"mfa_failed","type":"totp_bad","details":null"#,
    r#""category":"firewall_failed","type":"continent_blocked","details":{"value":"Europe"}"#,
];

/// `action`, `object_type` of audit events.
const AUDITS: &[(&str, &str)] = &[
    ("update", "item"),
    ("create", "item"),
    ("join", "user"),
    ("grant", "vault"),
    ("revoke", "vault"),
    ("update", "user"),
    ("delete", "item"),
    ("begin", "sso"),
];

const ITEM_ACTIONS: &[&str] = &["fill", "reveal", "secure-copy", "server-fetch", "server-update", "export"];

fn put_id(out: &mut BytesMut, key: u64, salt: u64) {
    out.put_u8(b'"');
    put_base32_id(out, key, salt);
    out.put_u8(b'"');
}

fn put_user(out: &mut BytesMut, user: u64) {
    let (name, local) = USERS[(user % USERS.len() as u64) as usize];
    out.put_slice(br#"{"uuid":"#);
    put_id(out, user, 0x05e4);
    out.put_slice(br#","name":""#);
    out.put_slice(name.as_bytes());
    out.put_slice(br#"","email":""#);
    out.put_slice(local.as_bytes());
    out.put_slice(br#"@example.com","user_type":"user"}"#);
}

fn put_client(out: &mut BytesMut, hash: u64) {
    out.put_u8(b'{');
    out.put_slice(CLIENTS[(hash >> 12) as usize % CLIENTS.len()].as_bytes());
    out.put_slice(br#","ip_address":""#);
    put_private_ip(out, hash);
    out.put_slice(br#""}"#);
}

fn render_event(out: &mut BytesMut, feed: Feed, index: u64, timestamp_ms: i64) {
    let hash = splitmix64(index ^ feed.salt() ^ 0x0123_4567_89ab_cdef);
    let user = hash % 97;
    out.put_slice(br#"{"uuid":"#);
    put_id(out, index, feed.salt());
    out.put_slice(br#","timestamp":""#);
    put_rfc3339_ms(out, timestamp_ms);
    out.put_u8(b'"');
    match feed {
        Feed::AuditEvents => {
            let (action, object_type) = AUDITS[(hash >> 40) as usize % AUDITS.len()];
            out.put_slice(br#","actor_uuid":"#);
            put_id(out, user, 0x05e4);
            out.put_slice(br#","actor_details":"#);
            put_user(out, user);
            out.put_slice(br#","action":""#);
            out.put_slice(action.as_bytes());
            out.put_slice(br#"","object_type":""#);
            out.put_slice(object_type.as_bytes());
            out.put_slice(br#"","object_uuid":"#);
            put_id(out, hash >> 20, 0x0b1e);
            out.put_slice(br#","aux_id":"#);
            put_dec(out, hash % 100_000, 1);
            out.put_slice(br#","aux_uuid":"#);
            put_id(out, hash >> 30, 0xa0c5);
            out.put_slice(br#","aux_info":"","session":{"uuid":"#);
            put_id(out, user ^ 0x5e55, 0x5e55);
            out.put_slice(br#","login_time":""#);
            put_rfc3339_ms(out, timestamp_ms - 3_600_000);
            out.put_slice(br#"","device_uuid":"#);
            put_id(out, user, 0xde71);
            out.put_slice(br#","ip":""#);
            put_private_ip(out, hash);
            out.put_slice(br#""},"location":"#);
        }
        Feed::SignInAttempts => {
            out.put_slice(br#","session_uuid":"#);
            put_id(out, user ^ 0x5e55, 0x5e55);
            out.put_u8(b',');
            out.put_slice(SIGNINS[(hash >> 40) as usize % SIGNINS.len()].as_bytes());
            out.put_slice(br#","country":"CA","target_user":"#);
            put_user(out, user);
            out.put_slice(br#","client":"#);
            put_client(out, hash);
            out.put_slice(br#","location":"#);
        }
        Feed::ItemUsages => {
            out.put_slice(br#","used_version":"#);
            put_dec(out, 1 + hash % 9, 1);
            out.put_slice(br#","vault_uuid":"#);
            put_id(out, hash % 13, 0x7a01);
            out.put_slice(br#","item_uuid":"#);
            put_id(out, hash % 4099, 0x17e3);
            out.put_slice(br#","user":"#);
            put_user(out, user);
            out.put_slice(br#","client":"#);
            put_client(out, hash);
            out.put_slice(br#","action":""#);
            out.put_slice(ITEM_ACTIONS[(hash >> 40) as usize % ITEM_ACTIONS.len()].as_bytes());
            out.put_slice(br#"","location":"#);
        }
    }
    out.put_slice(LOCATIONS[(hash >> 50) as usize % LOCATIONS.len()].as_bytes());
    out.put_slice(br#","account_uuid":""#);
    out.put_slice(ACCOUNT.as_bytes());
    out.put_slice(br#""}"#);
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{Value, json};

    #[test]
    fn events_are_valid_json_in_each_feeds_shape() {
        for (feed, members) in [
            (Feed::AuditEvents, &["actor_uuid", "actor_details", "action", "object_type", "session"][..]),
            (Feed::SignInAttempts, &["session_uuid", "category", "type", "target_user", "client"][..]),
            (Feed::ItemUsages, &["vault_uuid", "item_uuid", "user", "client", "action"][..]),
        ] {
            let mut out = BytesMut::new();
            render_event(&mut out, feed, 42, 1_723_564_700_353);
            let event: Value = serde_json::from_slice(&out).expect("valid JSON");
            assert_eq!(event["uuid"], event_uuid(feed, 42));
            assert_eq!(event["timestamp"], "2024-08-13T15:58:20.353Z");
            assert_eq!(event["account_uuid"], ACCOUNT);
            for member in members {
                assert!(event.get(member).is_some(), "{feed:?} lacks {member}: {event}");
            }
            assert!((400..1200).contains(&out.len()), "{feed:?}: {} bytes", out.len());
        }
        assert_ne!(event_uuid(Feed::AuditEvents, 1), event_uuid(Feed::ItemUsages, 1), "feeds have their own ids");
    }

    #[test]
    fn cursors_round_trip_and_refuse_garbage() {
        for feed in Feed::ALL {
            for (position, limit) in [(0, 1), (7, 100), (1_000_000, 1000)] {
                assert_eq!(parse_cursor(&cursor_for(feed, position, limit)), Some((feed, position, limit)));
            }
        }
        for garbage in ["", "x", "0000000000000000000000", "z0000000000000000064", "00000000000000000000"] {
            assert_eq!(parse_cursor(garbage), None, "{garbage}");
        }
    }

    async fn post(sim: &OnePasswordSim, feed: &str, token: &str, body: Value) -> (u16, Value) {
        let response = reqwest::Client::new()
            .post(format!("{}/api/v2/{feed}", sim.base_url()))
            .bearer_auth(token)
            .header("content-type", "application/json")
            .body(body.to_string())
            .send()
            .await
            .unwrap();
        let status = response.status().as_u16();
        (status, serde_json::from_slice(&response.bytes().await.unwrap()).unwrap())
    }

    #[tokio::test]
    async fn pages_by_body_cursor_and_the_cursor_persists_after_the_end() {
        let sim = OnePasswordSim::builder().events(5).token("t0k").start().await.unwrap();
        let (status, first) =
            post(&sim, "itemusages", "t0k", json!({"limit": 3, "start_time": "2000-01-01T00:00:00Z"})).await;
        assert_eq!(status, 200);
        assert_eq!(first["has_more"], true);
        let items = first["items"].as_array().unwrap();
        assert_eq!(
            items.iter().map(|e| e["uuid"].clone()).collect::<Vec<_>>(),
            (0..3).map(|i| json!(event_uuid(Feed::ItemUsages, i))).collect::<Vec<_>>()
        );
        let (_, second) = post(&sim, "itemusages", "t0k", json!({"cursor": first["cursor"]})).await;
        assert_eq!((second["items"].as_array().unwrap().len(), &second["has_more"]), (2, &json!(false)));
        // Caught up: the cursor keeps working, an empty page hands it back, growth comes through it.
        let (_, empty) = post(&sim, "itemusages", "t0k", json!({"cursor": second["cursor"]})).await;
        assert_eq!((empty["items"].as_array().unwrap().len(), &empty["cursor"]), (0, &second["cursor"]));
        sim.append(Feed::ItemUsages, 2);
        let (_, grown) = post(&sim, "itemusages", "t0k", json!({"cursor": second["cursor"]})).await;
        assert_eq!(grown["items"][0]["uuid"], event_uuid(Feed::ItemUsages, 5));
        assert_eq!(sim.requests_of(Feed::ItemUsages), 4);
        assert_eq!(sim.events_served(), 7);

        // A cursor of another feed, an end_time, both kinds at once, a bad limit: 400.
        for (feed, body) in [
            ("auditevents", json!({"cursor": second["cursor"]})),
            ("auditevents", json!({"end_time": "2030-01-01T00:00:00Z"})),
            ("auditevents", json!({"cursor": second["cursor"], "limit": 2})),
            ("auditevents", json!({"limit": 1001})),
            ("auditevents", json!({"start_time": "yesterday"})),
        ] {
            let (status, error) = post(&sim, feed, "t0k", body.clone()).await;
            assert_eq!(status, 400, "{body}");
            assert!(error["Error"]["Message"].is_string(), "{error}");
        }
    }

    #[tokio::test]
    async fn start_time_selects_the_first_event_at_or_after_it() {
        let start = jiff::Timestamp::from_second(1_700_000_000).unwrap();
        let sim = OnePasswordSim::builder()
            .events(100)
            .feed_events(Feed::ItemUsages, 10)
            .first_event_at(start)
            .spacing(Duration::from_micros(500))
            .start()
            .await
            .unwrap();
        let at = (start + jiff::SignedDuration::from_millis(10)).to_string();
        let (_, page) = post(&sim, "auditevents", "", json!({"limit": 1, "start_time": at})).await;
        assert_eq!(page["items"][0]["uuid"], event_uuid(Feed::AuditEvents, 20));
        // The feeds share one clock: the ten item usages all happened before it.
        let (_, page) = post(&sim, "itemusages", "", json!({"limit": 1, "start_time": at})).await;
        assert_eq!((page["items"].as_array().unwrap().len(), &page["has_more"]), (0, &json!(false)));
    }

    #[tokio::test]
    async fn tokens_features_and_rate_limits() {
        let sim = OnePasswordSim::builder()
            .token("t0k")
            .features([Feed::AuditEvents])
            .rate_limit(3, Duration::from_secs(60))
            .hourly_limit(1000)
            .inject_429([4])
            .start()
            .await
            .unwrap();
        let (status, body) = post(&sim, "auditevents", "wrong", json!({})).await;
        assert_eq!((status, body), (401, json!({"Error": {"Message": "Unauthorized"}})));
        let (status, _) = post(&sim, "signinattempts", "t0k", json!({})).await;
        assert_eq!(status, 401, "a feature the token lacks");
        assert_eq!(post(&sim, "auditevents", "t0k", json!({})).await.0, 200);
        assert_eq!(post(&sim, "auditevents", "t0k", json!({})).await.0, 429, "injected");
        assert_eq!(post(&sim, "auditevents", "t0k", json!({})).await.0, 200);
        let (status, body) = post(&sim, "auditevents", "t0k", json!({})).await;
        assert_eq!((status, body), (429, json!({"Error": {"Message": "Too many requests"}})), "past the minute's 3");
        assert_eq!(sim.rate_limited(), 2);
        assert_eq!(sim.requests(), 6);
    }

    /// Run with `cargo test --release -p logcrawl-sim -- --ignored --nocapture onepassword_serving_speed`.
    #[tokio::test(flavor = "current_thread")]
    #[ignore = "a throughput measurement; run in release"]
    async fn onepassword_serving_speed() {
        let sim = OnePasswordSim::builder()
            .events(1_000_000)
            .rate_limit(u64::MAX, Duration::from_secs(60))
            .hourly_limit(u64::MAX)
            .start()
            .await
            .unwrap();
        let client = reqwest::Client::new();
        let url = format!("{}/api/v2/signinattempts", sim.base_url());
        let started = std::time::Instant::now();
        let mut body = json!({"limit": 1000, "start_time": "2000-01-01T00:00:00Z"});
        loop {
            let response = client.post(&url).body(body.to_string()).send().await.unwrap();
            // Only the cursor is read (the items are skipped, not parsed into values).
            #[derive(Deserialize)]
            struct Head {
                cursor: String,
                has_more: bool,
            }
            let page: Head = serde_json::from_slice(&response.bytes().await.unwrap()).unwrap();
            if !page.has_more {
                break;
            }
            body = json!({"cursor": page.cursor});
        }
        crate::util::report_serving_speed("events", sim.events_served(), started);
    }
}
