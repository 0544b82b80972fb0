//! The ACME logs API: the tutorial's imaginary vendor, served for real on loopback.
//!
//! ## Contract
//!
//! `GET /v1/logs?after=<id>&limit=<n>` returns the events whose id comes after `after` (all events from
//! the oldest when `after` is absent), oldest first, at most `limit` of them (default 100, at most 1000):
//!
//! ```json
//! {"logs": [{"id": "000000000001", "timestamp": "2026-11-22T10:00:00.001Z", "level": "info",
//!            "message": "alice logged in", "user": "alice", "action": "login", "ip": "10.1.0.7"}],
//!  "has_more": true}
//! ```
//!
//! * `id` is unique and strictly increasing: it is the resume point (a timestamp alone is not, several
//!   events share one millisecond).
//! * `has_more` is `false` on the page that reaches the newest event: the client is caught up.
//! * With an API key configured, requests must carry `Authorization: Bearer <key>`; otherwise 401.
//! * `limit` outside `1..=1000` or an `after` that is not an id is a 400 with `{"error": "..."}`.
//! * In live mode new events keep arriving at a fixed rate, as a real audit log does.
//!
//! Content is deterministic: event `i` is the same on every run with the same start time.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde::Deserialize;

use crate::util::{Listener, Server};
use tokio::time::Instant;

const USERS: [&str; 6] = ["alice", "bob", "carol", "dave", "erin", "frank"];
const ACTIONS: [(&str, &str, &str); 6] = [
    ("login", "info", "logged in"),
    ("logout", "info", "logged out"),
    ("mfa_challenge", "info", "passed an MFA challenge"),
    ("password_change", "warning", "changed their password"),
    ("login_failed", "error", "failed to log in"),
    ("export", "warning", "exported the audit report"),
];

/// How an [`AcmeSim`] behaves.
#[derive(Debug, Clone)]
pub struct AcmeSimConfig {
    /// Events available at start.
    pub events: u64,
    /// Events added per second after start (live mode); 0 for a fixed log.
    pub live_rate: u64,
    /// Timestamp of event 1; events are 1 ms apart. Defaults to "now − events ms" so all are recent.
    pub start: Option<jiff::Timestamp>,
    /// Required bearer key, if any.
    pub api_key: Option<String>,
    /// Address to bind; port 0 picks a free one.
    pub bind: SocketAddr,
}

impl Default for AcmeSimConfig {
    fn default() -> Self {
        Self { events: 1000, live_rate: 0, start: None, api_key: None, bind: SocketAddr::from(([127, 0, 0, 1], 0)) }
    }
}

#[derive(Debug)]
struct SimState {
    config: AcmeSimConfig,
    /// The key requests must carry now: the configured one until [`AcmeSim::rotate_key`].
    key: std::sync::RwLock<Option<String>>,
    start_ms: i64,
    started: Instant,
}

impl SimState {
    fn available(&self) -> u64 {
        let live = self.config.live_rate.saturating_mul(self.started.elapsed().as_millis() as u64) / 1000;
        self.config.events + live
    }
}

/// A running ACME API; stops when dropped.
#[derive(Debug)]
pub struct AcmeSim {
    server: Server,
    state: Arc<SimState>,
}

impl AcmeSim {
    /// Binds and serves on the current tokio runtime.
    pub async fn start(config: AcmeSimConfig) -> std::io::Result<Self> {
        let listener = Listener::bind(config.bind).await?;
        let start_ms = config
            .start
            .unwrap_or_else(|| jiff::Timestamp::now() - jiff::SignedDuration::from_millis(config.events as i64))
            .as_millisecond();
        let key = std::sync::RwLock::new(config.api_key.clone());
        let state = Arc::new(SimState { config, key, start_ms, started: Instant::now() });
        let app = Router::new().route("/v1/logs", get(list_logs)).with_state(state.clone());
        Ok(Self { server: listener.serve("acme", app), state })
    }

    /// Revokes the current key: from now on only `key` is accepted (`None`: any request), as when an
    /// administrator rotates a token at the vendor.
    pub fn rotate_key(&self, key: Option<String>) {
        *self.state.key.write().unwrap_or_else(std::sync::PoisonError::into_inner) = key;
    }

    /// `http://127.0.0.1:PORT`.
    pub fn base_url(&self) -> String {
        format!("http://{}", self.server.addr())
    }

    /// The bound address.
    pub fn addr(&self) -> SocketAddr {
        self.server.addr()
    }
}

#[derive(Deserialize)]
struct LogsQuery {
    after: Option<String>,
    limit: Option<String>,
}

fn bad_request(message: &str) -> Response {
    (StatusCode::BAD_REQUEST, [(header::CONTENT_TYPE, "application/json")], format!("{{\"error\":{message:?}}}"))
        .into_response()
}

async fn list_logs(State(state): State<Arc<SimState>>, headers: HeaderMap, Query(query): Query<LogsQuery>) -> Response {
    let key = state.key.read().unwrap_or_else(std::sync::PoisonError::into_inner).clone();
    if let Some(key) = key {
        let expected = format!("Bearer {key}");
        if headers.get(header::AUTHORIZATION).and_then(|v| v.to_str().ok()) != Some(expected.as_str()) {
            return (
                StatusCode::UNAUTHORIZED,
                [(header::CONTENT_TYPE, "application/json")],
                "{\"error\":\"invalid API key\"}",
            )
                .into_response();
        }
    }
    let limit = match query.limit.as_deref().map(str::parse::<u64>) {
        None => 100,
        Some(Ok(n)) if (1..=1000).contains(&n) => n,
        Some(_) => return bad_request("limit must be an integer from 1 to 1000"),
    };
    let after = match query.after.as_deref().map(str::parse::<u64>) {
        None => 0,
        Some(Ok(n)) => n,
        Some(Err(_)) => return bad_request("after must be an event id"),
    };
    let available = state.available();
    let first = after + 1;
    let last = (after + limit).min(available);
    let mut body = String::with_capacity(((last + 1).saturating_sub(first) as usize) * 200 + 32);
    body.push_str("{\"logs\":[");
    for id in first..=last {
        if id > first {
            body.push(',');
        }
        render_event(&mut body, id, state.start_ms);
    }
    body.push_str("],\"has_more\":");
    body.push_str(if last < available { "true" } else { "false" });
    body.push('}');
    ([(header::CONTENT_TYPE, "application/json")], body).into_response()
}

/// Appends event `id` as JSON.
fn render_event(out: &mut String, id: u64, start_ms: i64) {
    use std::fmt::Write;
    let user = USERS[(id % USERS.len() as u64) as usize];
    let (action, level, verb) = ACTIONS[((id / 7) % ACTIONS.len() as u64) as usize];
    let ts = jiff::Timestamp::from_millisecond(start_ms + id as i64 - 1).unwrap_or(jiff::Timestamp::UNIX_EPOCH);
    let _infallible = write!(
        out,
        r#"{{"id":"{id:012}","timestamp":"{ts:.3}","level":"{level}","message":"{user} {verb}","user":"{user}","action":"{action}","ip":"10.{}.{}.{}"}}"#,
        (id >> 16) & 0xff,
        (id >> 8) & 0xff,
        id & 0xff,
    );
}

/// Waits until `sim` answers, for callers that start it and immediately crawl.
pub async fn wait_ready(sim: &AcmeSim) {
    for _ in 0..50 {
        if tokio::net::TcpStream::connect(sim.addr()).await.is_ok() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::Value;

    async fn get(url: &str) -> (u16, Value) {
        let response = reqwest::get(url).await.unwrap();
        let status = response.status().as_u16();
        (status, serde_json::from_slice(&response.bytes().await.unwrap()).unwrap())
    }

    #[tokio::test]
    async fn pages_through_all_events_by_id() {
        let sim = AcmeSim::start(AcmeSimConfig { events: 250, ..AcmeSimConfig::default() }).await.unwrap();
        let (status, page) = get(&format!("{}/v1/logs?limit=100", sim.base_url())).await;
        assert_eq!(status, 200);
        assert_eq!(page["logs"].as_array().unwrap().len(), 100);
        assert_eq!(page["logs"][0]["id"], "000000000001");
        assert_eq!(page["has_more"], true);
        let (_, last) = get(&format!("{}/v1/logs?after=200&limit=100", sim.base_url())).await;
        assert_eq!(last["logs"].as_array().unwrap().len(), 50);
        assert_eq!(last["logs"][49]["id"], "000000000250");
        assert_eq!(last["has_more"], false);
        let (_, empty) = get(&format!("{}/v1/logs?after=250", sim.base_url())).await;
        assert_eq!(empty["logs"].as_array().unwrap().len(), 0);
    }

    #[tokio::test]
    async fn refuses_bad_parameters_and_missing_keys() {
        let sim =
            AcmeSim::start(AcmeSimConfig { api_key: Some("k3y".into()), ..AcmeSimConfig::default() }).await.unwrap();
        let (status, _) = get(&format!("{}/v1/logs", sim.base_url())).await;
        assert_eq!(status, 401);
        let client = reqwest::Client::new();
        let response = client
            .get(format!("{}/v1/logs?limit=5000", sim.base_url()))
            .header("authorization", "Bearer k3y")
            .send()
            .await
            .unwrap();
        assert_eq!(response.status().as_u16(), 400);
    }
}
