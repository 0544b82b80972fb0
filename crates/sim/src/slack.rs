//! A simulated Slack Audit Logs API (`GET /audit/v1/logs`) on loopback.
//!
//! # Contract
//!
//! * **Entries.** Entry `i` (0-based) is a pure function of `i` and the builder's settings, in the shape
//!   of Slack's audit log entries: `id` (a UUID, [`entry_id`]), `date_create` (epoch seconds), `action`,
//!   `actor{type, user{id, name, email, team}}`, `entity{type, <type>{…}}` (a user, channel, file, app or
//!   workspace, following the action), `context{location{type, id, name, domain}, ua, ip_address,
//!   session_id}` and, for preference changes, `details`. The member list comes from Slack's SDK fixtures
//!   and documentation; which optional members real entries carry is not verified. Entries are `spacing`
//!   apart (default 10 ms, so about a hundred share each `date_create` second, as in a busy org);
//!   [`SlackSim::append`] publishes more, stamped from the moment of the call on.
//! * **Query.** `oldest` and `latest` (Unix seconds, **both inclusive**; defaults: the beginning, now),
//!   `limit` (1–9999, default 100; the default is not verified), `action` (one action, or several
//!   separated by commas: an entry matches any of them — that Slack takes a comma-separated list is not
//!   verified), `cursor` (only ever taken from `response_metadata.next_cursor`). Entries come **newest
//!   first** (by `date_create`, ties newest first). `actor` and `entity`, an unparsable value or a limit
//!   out of range answer 400 `invalid_arguments`; an unknown cursor 400 `invalid_cursor`.
//! * **Pages.** 200 `{"entries": [...], "response_metadata": {"next_cursor": "…"}}`; an empty
//!   `next_cursor` is the end. A cursor is a position in the entries as they were when it was minted:
//!   entries published later (newer) never shift it.
//! * **Auth.** With [`SlackSimBuilder::token`], a request without `Authorization: Bearer <token>` answers
//!   `{"ok": false, "error": "not_authed"}` (no header) or `invalid_auth` (another token), with HTTP 401 —
//!   or HTTP 200, the Web API's habit, with [`SlackSimBuilder::errors_with_200`] (which one the audit API
//!   uses is not verified; a connector must handle both). [`SlackSimBuilder::refuse`] makes every
//!   authorised request answer an error code instead (e.g. `feature_not_enabled`, a workspace without
//!   Enterprise), with HTTP 403 or 200 alike.
//! * **Rate limits.** Tier 3, counted organization-wide: 50 requests a minute by default
//!   ([`SlackSimBuilder::rate_limit`]); past it, 429 `{"ok": false, "error": "ratelimited"}` with
//!   `Retry-After` (seconds until the minute resets). [`SlackSimBuilder::inject_429`] forces 429s, with a
//!   `Retry-After` of [`SlackSimBuilder::inject_wait`], on given request ordinals (1-based).
//! * **Counters.** Requests, 429s, entries served.
//! * **Speed.** Pages are rendered straight into one buffer (no serialiser, no allocation per entry).
//!
//! The server binds `127.0.0.1:0`, runs on the current tokio runtime and stops when dropped.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use axum::Router;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::Response;
use axum::routing::get;
use bytes::{BufMut, BytesMut};

use crate::util::{
    Clock, Feed, FeedSettings, Gate, PEOPLE, RateLimits, Server, authorized, feed_builder, feed_deref, json_response,
    put_dec, put_hex, put_private_ip, put_uuid, serve_loopback, splitmix64,
};

/// Slack's largest page.
pub const MAX_LIMIT: u64 = 9999;
/// The page size without `limit` (not verified).
pub const DEFAULT_LIMIT: u64 = 100;
const ID_SALT: u64 = 0x51ac_4a0d_17e5_0000;
const CURSOR_KEY: u64 = 0x736c_6163_6b5f_6175;

/// Settings of a [`SlackSim`]: its feed's rate limit is Tier 3's window, organization-wide.
#[derive(Debug, Clone)]
pub struct SlackSimBuilder {
    feed: FeedSettings,
    errors_with_200: bool,
    refuse: Option<String>,
}

impl Default for SlackSimBuilder {
    fn default() -> Self {
        Self {
            feed: FeedSettings {
                spacing_us: 10_000,
                newest_age: Duration::from_secs(600),
                ..FeedSettings::new(RateLimits::new(50, Duration::from_secs(60)))
            },
            errors_with_200: false,
            refuse: None,
        }
    }
}

impl SlackSimBuilder {
    feed_builder!(SlackSim, spacing "10 ms", newest "ten minutes");

    /// Answer `{"ok": false, …}` errors (but 429s) with HTTP 200, as Slack's Web API does.
    #[must_use]
    pub fn errors_with_200(mut self) -> Self {
        self.errors_with_200 = true;
        self
    }

    /// Answer every authorised request with this error code (e.g. `feature_not_enabled`).
    #[must_use]
    pub fn refuse(mut self, error: impl Into<String>) -> Self {
        self.refuse = Some(error.into());
        self
    }
}

/// A run of entries on `clock`, the first of them entry `first`.
#[derive(Debug, Clone, Copy)]
struct Segment {
    first: u64,
    clock: Clock,
}

impl Segment {
    fn at_ms(&self, i: u64) -> i64 {
        self.clock.at_ms(i - self.first)
    }

    /// The first entry of the segment (at or after `first`) at or after `ms`.
    fn first_at_or_after(&self, ms: i64) -> u64 {
        self.first.saturating_add(self.clock.first_at_or_after(ms, u64::MAX))
    }
}

#[derive(Debug)]
struct Shared {
    feed: Feed,
    /// The feed's entries at start, then each run [`SlackSim::append`] published.
    segments: Mutex<Vec<Segment>>,
    errors_with_200: bool,
    refuse: Option<String>,
}

/// A running simulated Slack Enterprise organization. Dropping it stops the server.
#[derive(Debug)]
pub struct SlackSim {
    shared: Arc<Shared>,
    server: Server,
}

impl SlackSim {
    /// Settings with defaults.
    pub fn builder() -> SlackSimBuilder {
        SlackSimBuilder::default()
    }

    /// Starts a server with `settings`.
    pub async fn start(settings: SlackSimBuilder) -> std::io::Result<Self> {
        let feed = Feed::new(settings.feed);
        let routes = Router::new().route("/audit/v1/logs", get(logs));
        let (shared, server) = serve_loopback("slack", routes, |_| Shared {
            segments: Mutex::new(vec![Segment { first: 0, clock: feed.clock() }]),
            feed,
            errors_with_200: settings.errors_with_200,
            refuse: settings.refuse,
        })
        .await?;
        Ok(Self { shared, server })
    }

    /// `http://127.0.0.1:PORT`, to use as the connector's `base_url`.
    pub fn base_url(&self) -> &str {
        self.server.base_url()
    }

    /// Publishes `n` more entries, the first stamped now (or right after the newest, if that is later),
    /// `spacing` apart (the feed's own `append` would continue its clock instead).
    pub fn append(&self, n: u64) {
        let mut segments = self.shared.segments.lock().unwrap_or_else(PoisonError::into_inner);
        let total = self.shared.feed.total_events();
        let last = segments.last().copied().expect("one segment at least");
        let after_newest = if total > 0 { last.at_ms(total - 1) + 1 } else { i64::MIN };
        let start_ms = jiff::Timestamp::now().as_millisecond().max(after_newest);
        segments.push(Segment { first: total, clock: Clock { start_ms, ..last.clock } });
        self.shared.feed.append(n);
    }

    /// `date_create` of entry `i`.
    pub fn date_create(&self, i: u64) -> i64 {
        self.shared.at_ms(i).div_euclid(1000)
    }

    /// The action of entry `i`.
    pub fn action(&self, i: u64) -> &'static str {
        KINDS[kind_of(i)].action
    }

    /// Entry `i` as this simulator serves it.
    pub fn render_event(&self, i: u64) -> Vec<u8> {
        let mut out = BytesMut::with_capacity(1024);
        render_entry(&mut out, i, self.date_create(i));
        out.to_vec()
    }
}

feed_deref!(SlackSim);

/// When entry `i` happened, in epoch milliseconds, among `segments`.
fn at_ms_in(segments: &[Segment], i: u64) -> i64 {
    let at = segments.partition_point(|s| s.first <= i).saturating_sub(1);
    segments[at].at_ms(i)
}

impl Shared {
    fn at_ms(&self, i: u64) -> i64 {
        at_ms_in(&self.segments.lock().unwrap_or_else(PoisonError::into_inner), i)
    }

    /// The first entry stamped at or after `ms` (`total` when none is).
    fn first_at_or_after(&self, ms: i64, total: u64) -> u64 {
        let segments = self.segments.lock().unwrap_or_else(PoisonError::into_inner);
        for (k, segment) in segments.iter().enumerate() {
            let end = segments.get(k + 1).map_or(total, |next| next.first).min(total);
            if segment.first >= end {
                continue;
            }
            let found = segment.first_at_or_after(ms);
            if found < end {
                return found;
            }
        }
        total
    }
}

/// The cursor that goes on below entry `index` (scanning down).
fn cursor_for(index: u64) -> String {
    format!("dXNl{:016x}", index ^ CURSOR_KEY)
}

fn parse_cursor(cursor: &str) -> Option<u64> {
    let hex = cursor.strip_prefix("dXNl")?;
    (hex.len() == 16).then_some(())?;
    Some(u64::from_str_radix(hex, 16).ok()? ^ CURSOR_KEY)
}

fn slack_error(sim: &Shared, status: StatusCode, error: &str, headers: &[(&'static str, String)]) -> Response {
    let status = if sim.errors_with_200 && status != StatusCode::TOO_MANY_REQUESTS { StatusCode::OK } else { status };
    json_response(status, serde_json::json!({"ok": false, "error": error}).to_string(), headers)
}

async fn logs(
    State(sim): State<Arc<Shared>>,
    headers: HeaderMap,
    Query(params): Query<HashMap<String, String>>,
) -> Response {
    let ordinal = sim.feed.gate().arrive();
    if let Some(token) = sim.feed.token() {
        if !headers.contains_key(header::AUTHORIZATION) {
            return slack_error(&sim, StatusCode::UNAUTHORIZED, "not_authed", &[]);
        }
        if !authorized(&headers, &format!("Bearer {token}")) {
            return slack_error(&sim, StatusCode::UNAUTHORIZED, "invalid_auth", &[]);
        }
    }
    if let Some(error) = &sim.refuse {
        return slack_error(&sim, StatusCode::FORBIDDEN, error, &[]);
    }
    let wait = match sim.feed.gate().pass(ordinal) {
        Gate::Open(_) => None,
        Gate::Exceeded(quota) => Some((quota.reset_epoch - jiff::Timestamp::now().as_second()).max(1) as u64),
        Gate::Planted(..) => Some(sim.feed.gate().limits().wait_secs()),
    };
    if let Some(wait) = wait {
        return slack_error(&sim, StatusCode::TOO_MANY_REQUESTS, "ratelimited", &[("retry-after", wait.to_string())]);
    }

    let invalid = || slack_error(&sim, StatusCode::BAD_REQUEST, "invalid_arguments", &[]);
    if params.contains_key("actor") || params.contains_key("entity") {
        return invalid();
    }
    let number = |name: &str| params.get(name).map(|v| v.parse::<i64>());
    let (oldest, latest, limit) = match (number("oldest"), number("latest"), number("limit")) {
        (Some(Err(_)), _, _) | (_, Some(Err(_)), _) | (_, _, Some(Err(_))) => return invalid(),
        (oldest, latest, limit) => (
            oldest.map_or(i64::MIN / 2000, Result::unwrap_or_default),
            latest.map_or_else(|| jiff::Timestamp::now().as_second(), Result::unwrap_or_default),
            limit.map_or(DEFAULT_LIMIT as i64, Result::unwrap_or_default),
        ),
    };
    let Ok(limit) = u64::try_from(limit) else { return invalid() };
    if !(1..=MAX_LIMIT).contains(&limit) {
        return invalid();
    }
    let actions: Option<Vec<&str>> = params.get("action").map(|list| list.split(',').map(str::trim).collect());

    let total = sim.feed.total_events();
    let lo = sim.first_at_or_after(oldest.saturating_mul(1000), total);
    let hi = sim.first_at_or_after(latest.saturating_add(1).saturating_mul(1000), total);
    let from = match params.get("cursor").filter(|c| !c.is_empty()) {
        None => hi,
        Some(cursor) => match parse_cursor(cursor) {
            Some(index) if index <= total => index.min(hi),
            _ => return slack_error(&sim, StatusCode::BAD_REQUEST, "invalid_cursor", &[]),
        },
    };

    let segments = sim.segments.lock().unwrap_or_else(PoisonError::into_inner).clone();
    let mut out = BytesMut::with_capacity((limit.min(from.saturating_sub(lo))) as usize * 800 + 96);
    out.put_slice(b"{\"entries\":[");
    let (mut served, mut at) = (0u64, from);
    while at > lo && served < limit {
        at -= 1;
        if actions.as_ref().is_some_and(|actions| !actions.contains(&KINDS[kind_of(at)].action)) {
            continue;
        }
        if served > 0 {
            out.put_u8(b',');
        }
        render_entry(&mut out, at, at_ms_in(&segments, at).div_euclid(1000));
        served += 1;
    }
    out.put_slice(b"],\"response_metadata\":{\"next_cursor\":\"");
    if at > lo {
        out.put_slice(cursor_for(at).as_bytes());
    }
    out.put_slice(b"\"}}");
    sim.feed.serve(served);
    json_response(StatusCode::OK, out.freeze(), &[])
}

// ---------------------------------------------------------------------------------------------------------
// Rendering
// ---------------------------------------------------------------------------------------------------------

/// The `id` of entry `index` (unique per index).
pub fn entry_id(index: u64) -> String {
    let mut out = BytesMut::with_capacity(36);
    put_uuid(&mut out, index, ID_SALT);
    String::from_utf8(out.to_vec()).expect("ascii")
}

/// What an action acts on.
#[derive(Debug, Clone, Copy)]
enum Entity {
    User,
    Channel,
    File,
    App,
    Workspace,
}

struct Kind {
    action: &'static str,
    entity: Entity,
}

/// The actions entries cycle through (weighted: logins are most of a real audit log).
const KINDS: &[Kind] = &[
    Kind { action: "user_login", entity: Entity::User },
    Kind { action: "user_login", entity: Entity::User },
    Kind { action: "user_logout", entity: Entity::User },
    Kind { action: "user_login_failed", entity: Entity::User },
    Kind { action: "user_channel_join", entity: Entity::Channel },
    Kind { action: "public_channel_created", entity: Entity::Channel },
    Kind { action: "file_downloaded", entity: Entity::File },
    Kind { action: "file_uploaded", entity: Entity::File },
    Kind { action: "app_installed", entity: Entity::App },
    Kind { action: "pref.allow_calls", entity: Entity::Workspace },
];

fn kind_of(index: u64) -> usize {
    (splitmix64(index ^ 0x0a17_0000) % KINDS.len() as u64) as usize
}

/// The organization's members: all the people but the last.
const USERS: &[(&str, &str)] = PEOPLE.split_at(PEOPLE.len() - 1).0;

const AGENTS: &[&str] = &[
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) Slack/4.41.105 Chrome/128.0.6613.186 Electron/32.2.5 Safari/537.36 Sonic Slack_SSB/4.41.105",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0.0.0 Safari/537.36",
    "com.tinyspeck.chatlyio/24.11.10 (iPhone; iOS 18.1; Scale/3.00)",
];

fn put_user(out: &mut BytesMut, user: u64) {
    let (name, local) = USERS[(user % USERS.len() as u64) as usize];
    out.put_slice(br#"{"id":"W"#);
    put_hex(out, splitmix64(user ^ 0x75e7) >> 28, 9);
    out.put_slice(br#"","name":""#);
    out.put_slice(name.as_bytes());
    out.put_slice(br#"","email":""#);
    out.put_slice(local.as_bytes());
    out.put_slice(br#"@example.com","team":"E0123ABCDE"}"#);
}

fn render_entry(out: &mut BytesMut, index: u64, date_create: i64) {
    let hash = splitmix64(index ^ 0x0123_4567_89ab_cdef);
    let user = hash % 89;
    let kind = &KINDS[kind_of(index)];
    out.put_slice(br#"{"id":""#);
    put_uuid(out, index, ID_SALT);
    out.put_slice(br#"","date_create":"#);
    put_dec(out, date_create.max(0) as u64, 1);
    out.put_slice(br#","action":""#);
    out.put_slice(kind.action.as_bytes());
    out.put_slice(br#"","actor":{"type":"user","user":"#);
    put_user(out, user);
    out.put_slice(br#"},"entity":{"type":""#);
    match kind.entity {
        Entity::User => {
            out.put_slice(br#"user","user":"#);
            put_user(out, if kind.action == "user_login_failed" { user } else { user ^ 1 });
        }
        Entity::Channel => {
            out.put_slice(br#"channel","channel":{"id":"C"#);
            put_hex(out, hash % 4099, 9);
            out.put_slice(br#"","name":"project-"#);
            put_dec(out, hash % 4099, 1);
            out.put_slice(br#"","privacy":"public","is_shared":false,"is_org_shared":true}"#);
        }
        Entity::File => {
            out.put_slice(br#"file","file":{"id":"F"#);
            put_hex(out, hash >> 24, 9);
            out.put_slice(br#"","name":"roadmap.pdf","filetype":"pdf","title":"Roadmap"}"#);
        }
        Entity::App => {
            out.put_slice(br#"app","app":{"id":"A"#);
            put_hex(out, hash % 31, 9);
            out.put_slice(br#"","name":"Standup Bot","is_distributed":false,"is_directory_approved":true,"scopes":["channels:read","chat:write"]}"#);
        }
        Entity::Workspace => {
            out.put_slice(br#"workspace","workspace":{"id":"T0123ABCDE","name":"Birdland","domain":"birdland"}"#);
        }
    }
    out.put_slice(br#"},"context":{"location":{"type":"enterprise","id":"E0123ABCDE","name":"Birdland","domain":"birdland"},"ua":""#);
    out.put_slice(AGENTS[(hash >> 40) as usize % AGENTS.len()].as_bytes());
    out.put_slice(br#"","ip_address":""#);
    put_private_ip(out, hash);
    out.put_slice(br#"","session_id":"#);
    put_dec(out, 1_000_000_000 + hash % 9_000_000_000, 1);
    out.put_u8(b'}');
    if let Entity::Workspace = kind.entity {
        out.put_slice(br#","details":{"new_value":"enabled","previous_value":"disabled"}"#);
    }
    out.put_u8(b'}');
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::Value;

    #[test]
    fn entries_are_valid_json_in_slacks_shape() {
        for index in 0..40 {
            let mut out = BytesMut::new();
            render_entry(&mut out, index, 1_611_221_649);
            let entry: Value = serde_json::from_slice(&out).expect("valid JSON");
            assert_eq!(entry["id"], entry_id(index));
            assert_eq!(entry["date_create"], 1_611_221_649);
            let entity = entry["entity"]["type"].as_str().unwrap();
            assert!(entry["entity"][entity].is_object(), "{entry}");
            assert!(entry["actor"]["user"]["email"].as_str().unwrap().ends_with("@example.com"));
            assert!(entry["context"]["ip_address"].as_str().unwrap().starts_with("10."));
            assert!((500..1200).contains(&out.len()), "{} bytes", out.len());
        }
        let ids: std::collections::HashSet<String> = (0..10_000).map(entry_id).collect();
        assert_eq!(ids.len(), 10_000);
    }

    async fn get(sim: &SlackSim, token: Option<&str>, query: &str) -> (u16, Value, Option<String>) {
        let mut request = reqwest::Client::new().get(format!("{}/audit/v1/logs?{query}", sim.base_url()));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        let response = request.send().await.unwrap();
        let retry_after = response.headers().get("retry-after").map(|v| v.to_str().unwrap().to_owned());
        let status = response.status().as_u16();
        (status, serde_json::from_slice(&response.bytes().await.unwrap()).unwrap(), retry_after)
    }

    fn ids(page: &Value) -> Vec<String> {
        page["entries"].as_array().unwrap().iter().map(|e| e["id"].as_str().unwrap().to_owned()).collect()
    }

    #[tokio::test]
    async fn windows_are_inclusive_newest_first_and_paged_by_cursor() {
        let start = jiff::Timestamp::from_second(1_700_000_000).unwrap();
        // Ten entries 500 ms apart: two per second, seconds 0..5 after start.
        let sim = SlackSim::builder()
            .events(10)
            .first_event_at(start)
            .spacing(Duration::from_millis(500))
            .start()
            .await
            .unwrap();
        assert_eq!(
            (sim.date_create(0), sim.date_create(1), sim.date_create(9)),
            (1_700_000_000, 1_700_000_000, 1_700_000_004)
        );
        let (status, page, _) = get(&sim, None, "oldest=1700000001&latest=1700000003&limit=4").await;
        assert_eq!(status, 200);
        assert_eq!(ids(&page), [7, 6, 5, 4].map(entry_id), "both bounds inclusive, newest first");
        let cursor = page["response_metadata"]["next_cursor"].as_str().unwrap().to_owned();
        assert!(!cursor.is_empty());
        let (_, rest, _) =
            get(&sim, None, &format!("oldest=1700000001&latest=1700000003&limit=4&cursor={cursor}")).await;
        assert_eq!(ids(&rest), [3, 2].map(entry_id));
        assert_eq!(rest["response_metadata"]["next_cursor"], "", "the end");
        assert_eq!(sim.events_served(), 6);

        // Newer entries never shift a cursor.
        sim.append(5);
        let (_, again, _) =
            get(&sim, None, &format!("oldest=1700000001&latest=1700000003&limit=4&cursor={cursor}")).await;
        assert_eq!(ids(&again), [3, 2].map(entry_id));
        assert!(sim.date_create(10) >= jiff::Timestamp::now().as_second() - 1, "appended entries are new");
    }

    #[tokio::test]
    async fn actions_filter_as_a_comma_separated_list() {
        let sim = SlackSim::builder().events(200).start().await.unwrap();
        let (_, page, _) = get(&sim, None, "limit=9999&action=user_logout,file_downloaded").await;
        let entries = page["entries"].as_array().unwrap();
        let expected = (0..200).filter(|&i| ["user_logout", "file_downloaded"].contains(&sim.action(i))).count();
        assert!(expected > 0 && entries.len() == expected, "{} of {expected}", entries.len());
        assert!(entries.iter().all(|e| ["user_logout", "file_downloaded"].contains(&e["action"].as_str().unwrap())));
    }

    #[tokio::test]
    async fn auth_errors_refusals_and_rate_limits_answer_like_slack() {
        let sim = SlackSim::builder()
            .token("xoxp-1")
            .rate_limit(2, Duration::from_secs(60))
            .inject_429([3])
            .inject_wait(Duration::from_secs(7))
            .start()
            .await
            .unwrap();
        assert_eq!(get(&sim, None, "").await.0, 401);
        let (status, body, _) = get(&sim, Some("xoxp-2"), "").await;
        assert_eq!((status, body), (401, serde_json::json!({"ok": false, "error": "invalid_auth"})));
        let (status, _, retry) = get(&sim, Some("xoxp-1"), "").await;
        assert_eq!((status, retry), (429, Some("7".to_owned())), "injected");
        assert_eq!(get(&sim, Some("xoxp-1"), "limit=0").await.1["error"], "invalid_arguments");
        assert_eq!(get(&sim, Some("xoxp-1"), "").await.0, 429, "past the minute's 2");
        assert_eq!(sim.rate_limited(), 2);

        let sim =
            SlackSim::builder().token("xoxp-1").errors_with_200().refuse("feature_not_enabled").start().await.unwrap();
        let (status, body, _) = get(&sim, Some("xoxp-1"), "").await;
        assert_eq!((status, body), (200, serde_json::json!({"ok": false, "error": "feature_not_enabled"})));
        assert_eq!(
            get(&sim, Some("bad"), "").await,
            (200, serde_json::json!({"ok": false, "error": "invalid_auth"}), None)
        );
        let sim = SlackSim::builder().start().await.unwrap();
        assert_eq!(get(&sim, None, "cursor=nope").await.1["error"], "invalid_cursor");
        assert_eq!(get(&sim, None, "actor=W1").await.0, 400);
    }

    #[test]
    fn cursors_round_trip() {
        for index in [0, 1, 99, u64::MAX / 3] {
            assert_eq!(parse_cursor(&cursor_for(index)), Some(index));
        }
        assert_eq!(parse_cursor("dXNlxyz"), None);
    }

    /// Run with `cargo test --release -p logcrawl-sim -- --ignored --nocapture slack_serving_speed`.
    #[tokio::test(flavor = "current_thread")]
    #[ignore = "a throughput measurement; run in release"]
    async fn slack_serving_speed() {
        let sim =
            SlackSim::builder().events(1_000_000).rate_limit(u64::MAX, Duration::from_secs(60)).start().await.unwrap();
        let client = reqwest::Client::new();
        let started = std::time::Instant::now();
        let base = format!("{}/audit/v1/logs?limit=9999", sim.base_url());
        let mut url = base.clone();
        loop {
            let body = client.get(&url).send().await.unwrap().bytes().await.unwrap();
            // Only the cursor is read: the last `"next_cursor":"…"` of the body.
            let text = std::str::from_utf8(&body).unwrap();
            let cursor = text.rsplit("\"next_cursor\":\"").next().unwrap().trim_end_matches("\"}}");
            if cursor.is_empty() {
                break;
            }
            url = format!("{base}&cursor={cursor}");
        }
        crate::util::report_serving_speed("entries", sim.events_served(), started);
    }
}
