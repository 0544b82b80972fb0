//! A fake Datadog Logs intake (`POST /api/v2/logs`) on loopback, fast enough never to be what a benchmark
//! measures, that remembers which log entries it received.
//!
//! # Contract
//!
//! * **Endpoint.** `POST {base_url}/api/v2/logs` with a JSON array of entries, `Content-Encoding` `gzip`,
//!   `deflate`, `identity` or none (the encodings of the intake's API reference), or `zstd` (what Datadog's
//!   own senders use; the sink's opt-in `compression = "zstd"`). Any other encoding answers 415; a body that does not decompress or is not
//!   a JSON array of objects answers 400 `{"errors":[…]}` and nothing of it is counted.
//! * **Auth.** With [`DatadogIntakeBuilder::api_key`], a request without `DD-API-KEY` answers 401 and one
//!   with another key 403, as the real intake does (the contract's status table).
//! * **Limits.** More than 5 000 000 uncompressed bytes (whatever the body's compressed size) or more than
//!   1000 entries answers 413.
//! * **Accepted.** Every other request answers **202** `{}` after its entries were counted. Each entry's id is
//!   its top-level `uuid` (Okta events), else its top-level `id` (ACME events and most others); entries
//!   with neither are counted apart. Nested `id`s (an Okta actor's, a target's) are never taken.
//! * **Fault injection.** [`DatadogIntakeBuilder::fail_every`] answers 503 (with `Retry-After` when
//!   [`DatadogIntakeBuilder::retry_after`] is set) to every n-th request, before looking at it, so a test can
//!   prove that a retried batch is neither lost nor double-counted.
//! * **What it remembers.** [`IntakeStats`] (requests, entries, bytes, distinct ids, repeated deliveries)
//!   and an [`IdDigest`] of every id received — an order-independent, constant-size fingerprint of the
//!   multiset of ids, which a benchmark compares with the digest of the ids it expects: equal counts and equal
//!   digests mean every expected entry arrived exactly once. With [`DatadogIntakeBuilder::record_ids`]
//!   (the default) it also keeps every id with its delivery count ([`DatadogIntake::deliveries_of`],
//!   [`DatadogIntake::ids`]); benchmarks of millions of entries may turn that off and rely on the digest.
//! * **Stats over HTTP.** `GET {base_url}/_sim/stats` answers the [`IntakeStats`] as JSON, so a benchmark
//!   can run the intake in a child process and still read what it received.
//! * **Speed.** Bodies are decompressed with zlib-rs or zstd and scanned with `serde_json` into a borrowed struct of
//!   two raw fields (every other field is skipped, never built): several hundred MB/s per core.
//!
//! The server binds `127.0.0.1:0`, runs on the current tokio runtime and stops when the [`DatadogIntake`]
//! is dropped.

use std::collections::HashMap;
use std::io::Read as _;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{DefaultBodyLimit, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::Response;
use axum::routing::{get, post};
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;

use crate::util::{Server, serve_loopback};

/// The intake path.
pub const INTAKE_PATH: &str = "/api/v2/logs";
/// Where [`IntakeStats`] are served as JSON.
pub const STATS_PATH: &str = "/_sim/stats";
/// The intake's cap on the uncompressed body.
pub const MAX_BODY_BYTES: usize = 5_000_000;
/// The intake's cap on entries per request.
pub const MAX_ENTRIES: usize = 1000;

/// An order-independent fingerprint of a multiset of ids: how many, and two wrapping sums of two
/// independent 64-bit hashes of each. Adding the same ids in any order gives the same digest; a missing,
/// extra or repeated id changes the count or (with probability 1 − 2⁻¹²⁸ for unrelated ids) the sums.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct IdDigest {
    /// Ids added.
    pub count: u64,
    /// Wrapping sum of FNV-1a-64 of each id.
    pub sum_a: u64,
    /// Wrapping sum of a second, independently seeded hash of each id.
    pub sum_b: u64,
}

impl IdDigest {
    /// Adds one id.
    pub fn add(&mut self, id: &str) {
        let (a, b) = id_hashes(id.as_bytes());
        self.count += 1;
        self.sum_a = self.sum_a.wrapping_add(a);
        self.sum_b = self.sum_b.wrapping_add(b);
    }

    /// Adds every id of `other`.
    pub fn merge(&mut self, other: &IdDigest) {
        self.count += other.count;
        self.sum_a = self.sum_a.wrapping_add(other.sum_a);
        self.sum_b = self.sum_b.wrapping_add(other.sum_b);
    }

    /// The digest of `ids`.
    pub fn of<'a>(ids: impl IntoIterator<Item = &'a str>) -> Self {
        let mut digest = Self::default();
        for id in ids {
            digest.add(id);
        }
        digest
    }
}

fn id_hashes(bytes: &[u8]) -> (u64, u64) {
    let fnv = |basis: u64| bytes.iter().fold(basis, |h, b| (h ^ u64::from(*b)).wrapping_mul(0x0100_0000_01b3));
    let a = fnv(0xcbf2_9ce4_8422_2325);
    // A different basis plus a mixing finaliser: not a function of `a`.
    let mut b = fnv(0x84222325cbf29ce4) ^ (bytes.len() as u64).rotate_left(29);
    b = (b ^ (b >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    b = (b ^ (b >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    (a, b ^ (b >> 31))
}

/// What the intake received so far.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct IntakeStats {
    /// Requests received on the intake path, every status included.
    pub requests: u64,
    /// Requests answered 202.
    pub accepted_requests: u64,
    /// Requests answered 401 or 403.
    pub unauthorized_requests: u64,
    /// Requests answered 503 by fault injection.
    pub injected_failures: u64,
    /// Requests answered 400, 413 or 415.
    pub refused_requests: u64,
    /// Entries in accepted requests.
    pub entries: u64,
    /// Accepted entries without a `message` (or with `null`).
    pub entries_without_message: u64,
    /// Accepted entries with neither a top-level `uuid` nor `id`.
    pub entries_without_id: u64,
    /// Distinct ids received (0 when ids are not recorded).
    pub distinct_ids: u64,
    /// Accepted entries whose id had been received before (0 when ids are not recorded).
    pub repeated_ids: u64,
    /// Body bytes as received.
    pub wire_bytes: u64,
    /// Body bytes after decompression.
    pub json_bytes: u64,
    /// Fingerprint of every id received, repeats included.
    pub digest: IdDigest,
}

/// Settings of a [`DatadogIntake`].
#[derive(Debug, Clone)]
pub struct DatadogIntakeBuilder {
    api_key: Option<String>,
    fail_every: u64,
    retry_after: Option<Duration>,
    record_ids: bool,
}

impl Default for DatadogIntakeBuilder {
    fn default() -> Self {
        Self { api_key: None, fail_every: 0, retry_after: None, record_ids: true }
    }
}

impl DatadogIntakeBuilder {
    /// Require `DD-API-KEY: <key>` (401 without it, 403 with another).
    #[must_use]
    pub fn api_key(mut self, key: impl Into<String>) -> Self {
        self.api_key = Some(key.into());
        self
    }

    /// Answer 503 to every `n`-th request (1-based: with 3, the 3rd, 6th, …); 0 turns it off (the default).
    #[must_use]
    pub fn fail_every(mut self, n: u64) -> Self {
        self.fail_every = n;
        self
    }

    /// Send `Retry-After` (whole seconds, rounded up) with injected 503s.
    #[must_use]
    pub fn retry_after(mut self, wait: Duration) -> Self {
        self.retry_after = Some(wait);
        self
    }

    /// Keep every id and its delivery count (default true). Off, only the [`IdDigest`] is kept: constant
    /// memory for benchmarks of millions of entries.
    #[must_use]
    pub fn record_ids(mut self, on: bool) -> Self {
        self.record_ids = on;
        self
    }

    /// Binds `127.0.0.1:0` and serves on the current tokio runtime.
    pub async fn start(self) -> std::io::Result<DatadogIntake> {
        DatadogIntake::start(self).await
    }
}

#[derive(Debug, Default)]
struct Received {
    stats: IntakeStats,
    ids: HashMap<Box<str>, u32>,
}

#[derive(Debug)]
struct Shared {
    settings: DatadogIntakeBuilder,
    requests: AtomicU64,
    received: Mutex<Received>,
}

/// A running fake intake. Dropping it stops the server.
#[derive(Debug)]
pub struct DatadogIntake {
    shared: Arc<Shared>,
    server: Server,
}

impl DatadogIntake {
    /// Settings with defaults: no key required, no faults, ids recorded.
    pub fn builder() -> DatadogIntakeBuilder {
        DatadogIntakeBuilder::default()
    }

    /// Starts a server with `settings`.
    pub async fn start(settings: DatadogIntakeBuilder) -> std::io::Result<Self> {
        let routes = Router::new()
            .route(INTAKE_PATH, post(intake))
            .route(STATS_PATH, get(stats))
            // Room for a compressed body well past the 5 MB the intake accepts uncompressed: the 413 is ours.
            .layer(DefaultBodyLimit::max(4 * MAX_BODY_BYTES));
        let (shared, server) = serve_loopback("datadog intake", routes, |_| Shared {
            settings,
            requests: AtomicU64::new(0),
            received: Mutex::default(),
        })
        .await?;
        Ok(Self { shared, server })
    }

    /// `http://127.0.0.1:PORT`, to use as a Datadog sink's `endpoint`.
    pub fn base_url(&self) -> &str {
        self.server.base_url()
    }

    /// What was received so far.
    pub fn stats(&self) -> IntakeStats {
        self.shared.received.lock().expect("intake state poisoned").stats.clone()
    }

    /// How many times an entry with this id was accepted (0 when ids are not recorded).
    pub fn deliveries_of(&self, id: &str) -> u32 {
        self.shared.received.lock().expect("intake state poisoned").ids.get(id).copied().unwrap_or(0)
    }

    /// Every id received, sorted (empty when ids are not recorded).
    pub fn ids(&self) -> Vec<String> {
        let received = self.shared.received.lock().expect("intake state poisoned");
        let mut ids: Vec<String> = received.ids.keys().map(|id| id.to_string()).collect();
        ids.sort_unstable();
        ids
    }
}

/// Reads the [`IntakeStats`] of an intake served at `base_url` (possibly by another process).
pub async fn fetch_stats(base_url: &str) -> Result<IntakeStats, String> {
    let addr = base_url.trim_start_matches("http://").trim_end_matches('/');
    let mut stream = tokio::net::TcpStream::connect(addr).await.map_err(|e| format!("connecting to {addr}: {e}"))?;
    let request = format!("GET {STATS_PATH} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
    stream.write_all(request.as_bytes()).await.map_err(|e| e.to_string())?;
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw).await.map_err(|e| e.to_string())?;
    let split = raw.windows(4).position(|w| w == b"\r\n\r\n").ok_or("no HTTP header end in the stats answer")?;
    serde_json::from_slice(&raw[split + 4..]).map_err(|e| format!("stats answer is not IntakeStats: {e}"))
}

/// The two fields of an entry the intake looks at; every other field is skipped by the parser.
#[derive(Deserialize)]
struct EntryView<'a> {
    #[serde(borrow, default)]
    uuid: Option<&'a RawValue>,
    #[serde(borrow, default)]
    id: Option<&'a RawValue>,
    #[serde(borrow, default)]
    message: Option<&'a RawValue>,
}

impl EntryView<'_> {
    fn id(&self) -> Option<String> {
        let raw = self.uuid.or(self.id)?.get();
        match raw.as_bytes().first() {
            Some(b'"') => serde_json::from_str::<String>(raw).ok(),
            Some(b'n') => None,
            _ => Some(raw.to_owned()),
        }
    }

    fn has_message(&self) -> bool {
        self.message.is_some_and(|m| m.get() != "null")
    }
}

fn json_response(status: StatusCode, body: String) -> Response {
    let mut response = Response::new(Body::from(body));
    *response.status_mut() = status;
    response.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
    response
}

fn refuse(sim: &Shared, status: StatusCode, why: &str) -> Response {
    sim.received.lock().expect("intake state poisoned").stats.refused_requests += 1;
    json_response(status, serde_json::json!({ "errors": [why] }).to_string())
}

async fn stats(State(sim): State<Arc<Shared>>) -> Response {
    let stats = sim.received.lock().expect("intake state poisoned").stats.clone();
    json_response(StatusCode::OK, serde_json::to_string(&stats).expect("stats serialise"))
}

async fn intake(State(sim): State<Arc<Shared>>, headers: HeaderMap, body: Bytes) -> Response {
    let ordinal = sim.requests.fetch_add(1, Ordering::Relaxed) + 1;
    {
        let mut received = sim.received.lock().expect("intake state poisoned");
        received.stats.requests += 1;
        received.stats.wire_bytes += body.len() as u64;
    }
    if let Some(key) = &sim.settings.api_key {
        let status = match headers.get("dd-api-key").map(HeaderValue::as_bytes) {
            None => Some(StatusCode::UNAUTHORIZED),
            Some(given) if given != key.as_bytes() => Some(StatusCode::FORBIDDEN),
            Some(_) => None,
        };
        if let Some(status) = status {
            sim.received.lock().expect("intake state poisoned").stats.unauthorized_requests += 1;
            return json_response(status, r#"{"errors":["Forbidden"]}"#.to_owned());
        }
    }
    if sim.settings.fail_every > 0 && ordinal.is_multiple_of(sim.settings.fail_every) {
        sim.received.lock().expect("intake state poisoned").stats.injected_failures += 1;
        let mut response =
            json_response(StatusCode::SERVICE_UNAVAILABLE, r#"{"errors":["Service Unavailable"]}"#.to_owned());
        if let Some(wait) = sim.settings.retry_after {
            let secs = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
            response.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from(secs));
        }
        return response;
    }
    let encoding = headers.get(header::CONTENT_ENCODING).and_then(|v| v.to_str().ok()).unwrap_or("identity");
    let plain: Bytes = match encoding.trim().to_ascii_lowercase().as_str() {
        "identity" | "" => body,
        "gzip" => match inflate(flate2::read::GzDecoder::new(&body[..]), body.len()) {
            Ok(plain) => plain,
            Err(err) => return refuse(&sim, StatusCode::BAD_REQUEST, &format!("invalid gzip body: {err}")),
        },
        "deflate" => match inflate(flate2::read::ZlibDecoder::new(&body[..]), body.len()) {
            Ok(plain) => plain,
            Err(err) => return refuse(&sim, StatusCode::BAD_REQUEST, &format!("invalid deflate body: {err}")),
        },
        "zstd" => match zstd::stream::read::Decoder::new(&body[..]).and_then(|d| inflate(d, body.len())) {
            Ok(plain) => plain,
            Err(err) => return refuse(&sim, StatusCode::BAD_REQUEST, &format!("invalid zstd body: {err}")),
        },
        other => {
            return refuse(&sim, StatusCode::UNSUPPORTED_MEDIA_TYPE, &format!("unsupported Content-Encoding {other}"));
        }
    };
    if plain.len() > MAX_BODY_BYTES {
        return refuse(&sim, StatusCode::PAYLOAD_TOO_LARGE, "payload over 5 MB");
    }
    let entries: Vec<EntryView<'_>> = match serde_json::from_slice(&plain) {
        Ok(entries) => entries,
        Err(err) => return refuse(&sim, StatusCode::BAD_REQUEST, &format!("not a JSON array of log entries: {err}")),
    };
    if entries.len() > MAX_ENTRIES {
        return refuse(&sim, StatusCode::PAYLOAD_TOO_LARGE, "more than 1000 entries");
    }
    let ids: Vec<Option<String>> = entries.iter().map(EntryView::id).collect();
    let without_message = entries.iter().filter(|e| !e.has_message()).count() as u64;
    let mut received = sim.received.lock().expect("intake state poisoned");
    let Received { stats, ids: seen } = &mut *received;
    stats.accepted_requests += 1;
    stats.entries += entries.len() as u64;
    stats.entries_without_message += without_message;
    stats.json_bytes += plain.len() as u64;
    for id in ids {
        let Some(id) = id else {
            stats.entries_without_id += 1;
            continue;
        };
        stats.digest.add(&id);
        if sim.settings.record_ids {
            let count = seen.entry(id.into_boxed_str()).or_insert(0);
            *count += 1;
            if *count == 1 {
                stats.distinct_ids += 1;
            } else {
                stats.repeated_ids += 1;
            }
        }
    }
    drop(received);
    json_response(StatusCode::ACCEPTED, "{}".to_owned())
}

fn inflate(mut reader: impl std::io::Read, hint: usize) -> std::io::Result<Bytes> {
    let mut out = Vec::with_capacity(hint.saturating_mul(6).min(MAX_BODY_BYTES + 1));
    // Read one byte past the cap at most: a decompression bomb costs no more than that.
    (&mut reader).take(MAX_BODY_BYTES as u64 + 1).read_to_end(&mut out)?;
    Ok(Bytes::from(out))
}

#[cfg(test)]
mod tests {
    use std::io::Write as _;

    use super::*;

    fn gzip(data: &[u8]) -> Vec<u8> {
        let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        encoder.write_all(data).unwrap();
        encoder.finish().unwrap()
    }

    fn zstd(data: &[u8]) -> Vec<u8> {
        zstd::encode_all(data, 1).unwrap()
    }

    async fn post(intake: &DatadogIntake, key: Option<&str>, encoding: Option<&str>, body: Vec<u8>) -> u16 {
        let mut request = reqwest::Client::new().post(format!("{}{INTAKE_PATH}", intake.base_url())).body(body);
        if let Some(key) = key {
            request = request.header("DD-API-KEY", key);
        }
        if let Some(encoding) = encoding {
            request = request.header("Content-Encoding", encoding);
        }
        request.send().await.unwrap().status().as_u16()
    }

    #[tokio::test]
    async fn counts_gzip_and_identity_entries_by_top_level_id() {
        let intake = DatadogIntake::builder().api_key("k").start().await.unwrap();
        let okta = br#"[{"message":"a","uuid":"u-1","actor":{"id":"nested"}},{"message":"b","uuid":"u-2"}]"#;
        assert_eq!(post(&intake, Some("k"), Some("gzip"), gzip(okta)).await, 202);
        let acme = br#"[{"message":"c","id":"000000000001"},{"message":null,"id":7},{"status":"info"}]"#;
        assert_eq!(post(&intake, Some("k"), None, acme.to_vec()).await, 202);
        assert_eq!(post(&intake, Some("k"), Some("gzip"), gzip(br#"[{"message":"again","uuid":"u-1"}]"#)).await, 202);
        let zstd_body = zstd(br#"[{"message":"z","uuid":"u-3"}]"#);
        assert_eq!(post(&intake, Some("k"), Some("ZSTD"), zstd_body).await, 202);
        let stats = intake.stats();
        assert_eq!(stats.accepted_requests, 4);
        assert_eq!(stats.entries, 7);
        assert_eq!(stats.entries_without_id, 1);
        assert_eq!(stats.entries_without_message, 2);
        assert_eq!((stats.distinct_ids, stats.repeated_ids), (5, 1));
        assert_eq!(intake.deliveries_of("u-1"), 2);
        assert_eq!(intake.deliveries_of("nested"), 0);
        assert_eq!(intake.ids(), ["000000000001", "7", "u-1", "u-2", "u-3"]);
        assert_eq!(stats.digest, IdDigest::of(["u-2", "7", "u-1", "000000000001", "u-1", "u-3"]));
        assert_ne!(stats.digest, IdDigest::of(["u-2", "7", "u-1", "000000000001", "u-2", "u-3"]));
        assert_eq!(fetch_stats(intake.base_url()).await.unwrap(), stats);
    }

    #[tokio::test]
    async fn checks_the_key_and_refuses_bad_bodies() {
        let intake = DatadogIntake::builder().api_key("k").start().await.unwrap();
        assert_eq!(post(&intake, None, None, b"[]".to_vec()).await, 401);
        assert_eq!(post(&intake, Some("nope"), None, b"[]".to_vec()).await, 403);
        assert_eq!(post(&intake, Some("k"), Some("gzip"), b"not gzip".to_vec()).await, 400);
        assert_eq!(post(&intake, Some("k"), None, b"{\"message\":1}".to_vec()).await, 400);
        assert_eq!(post(&intake, Some("k"), Some("br"), b"[]".to_vec()).await, 415);
        assert_eq!(post(&intake, Some("k"), Some("zstd"), gzip(b"[]")).await, 400, "gzip bytes said to be zstd");
        let many = format!("[{}]", vec![r#"{"message":"m"}"#; 1001].join(","));
        assert_eq!(post(&intake, Some("k"), None, many.into_bytes()).await, 413);
        // The 5 MB limit is on the uncompressed body: a small zstd body of 6 MB of JSON is refused.
        let big = format!("[{}]", vec![format!(r#"{{"message":"{}"}}"#, "m".repeat(6000)); 1000].join(","));
        let small = zstd(big.as_bytes());
        assert!(small.len() < 100_000 && big.len() > MAX_BODY_BYTES);
        assert_eq!(post(&intake, Some("k"), Some("zstd"), small).await, 413);
        let stats = intake.stats();
        assert_eq!((stats.requests, stats.unauthorized_requests, stats.refused_requests), (8, 2, 6));
        assert_eq!(stats.entries, 0);
    }

    #[tokio::test]
    async fn injects_503_on_every_nth_request_without_counting_it() {
        let intake =
            DatadogIntake::builder().fail_every(2).retry_after(Duration::from_millis(1500)).start().await.unwrap();
        let body = || br#"[{"message":"m","id":"x"}]"#.to_vec();
        assert_eq!(post(&intake, None, None, body()).await, 202);
        // The failing request is sent by hand: its headers matter.
        let response = reqwest::Client::new()
            .post(format!("{}{INTAKE_PATH}", intake.base_url()))
            .body(body())
            .send()
            .await
            .unwrap();
        assert_eq!(response.status().as_u16(), 503);
        assert_eq!(response.headers()["retry-after"], "2");
        assert_eq!(post(&intake, None, None, body()).await, 202);
        let stats = intake.stats();
        assert_eq!((stats.requests, stats.injected_failures, stats.entries), (3, 1, 2));
        assert_eq!(intake.deliveries_of("x"), 2);
    }

    #[test]
    fn digests_ignore_order_and_see_swaps() {
        assert_eq!(IdDigest::of(["a", "b", "c"]), IdDigest::of(["c", "a", "b"]));
        assert_ne!(IdDigest::of(["a", "b", "b"]), IdDigest::of(["a", "a", "b"]));
        let mut merged = IdDigest::of(["a"]);
        merged.merge(&IdDigest::of(["b", "c"]));
        assert_eq!(merged, IdDigest::of(["a", "b", "c"]));
    }
}
