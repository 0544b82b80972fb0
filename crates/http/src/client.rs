//! [`HttpClient`]: one configured origin, its credentials, its rate budget and its retry policy.

use std::sync::Arc;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use logcrawl_core::config::{ConfigError, HttpSettings, SharedSettings};
use logcrawl_core::{ExposeSecret, SecretString, metric};
use metrics::SharedString;
use reqwest::header::{self, CONTENT_LENGTH, HeaderMap};
use reqwest::{Method, StatusCode};
use serde::Deserialize;
use url::Url;

use crate::auth::{Auth, StaticAuth};
use crate::error::HttpError;
use crate::link::find_link;
use crate::ratelimit::{RateBudget, RateLimitConfig, RateLimitSnapshot};
use crate::redact::{redact_url, scrub};
use crate::retry::{LongServerWait, RetryPolicy, RetryState, StopRetrying, retry_after};

/// Default cap on a response body: generous for a 1000-event page, small enough to stop a runaway reply.
pub const DEFAULT_MAX_BODY_BYTES: usize = 32 * 1024 * 1024;

/// How an [`HttpClient`] behaves.
#[derive(Debug, Clone)]
pub struct HttpConfig {
    /// The origin every request must stay on; relative paths are joined to it.
    pub base_url: Url,
    /// Whole-request timeout, body included.
    pub timeout: Duration,
    /// Connection timeout.
    pub connect_timeout: Duration,
    /// Response bodies larger than this are cut off with an error.
    pub max_body_bytes: usize,
    /// Retries of timeouts, resets, 408, 5xx.
    pub retry: RetryPolicy,
    /// Longest wait a server may impose (`Retry-After` on a 429 or 5xx, a rate-limit reset) before the
    /// request is given up with [`HttpError::ServerWaitTooLong`]; the next run tries again.
    pub max_server_wait: Duration,
    /// How many 429s (and rate-limit 403s) in a row are waited out before giving up.
    pub max_rate_limited: u32,
    /// Whether a 403 that says it is a rate limit is waited out like a 429 (GitHub's primary and secondary
    /// rate limits answer 403): one with `Retry-After`, with `x-ratelimit-remaining: 0`, or whose body
    /// speaks of a rate limit (see [`is_rate_limit_403`]). Off by default: elsewhere a 403 is a refusal.
    pub rate_limit_403: bool,
    /// A vendor's own rate-limit answers besides 429 (Google's 403 `rateLimitExceeded` and
    /// `quotaExceeded`, told apart from its permission 403s only by the body's `reason`): an answer it
    /// says yes to is waited out like a 429 — its `Retry-After` if any, else the retry policy's backoff —
    /// and the same request sent again. `None` (the default): only 429 (and [`HttpConfig::rate_limit_403`]).
    pub rate_limited: Option<fn(&Response) -> bool>,
    /// Client-side quota and header adaptation.
    pub rate_limit: RateLimitConfig,
    /// `User-Agent` sent with every request.
    pub user_agent: String,
}

impl HttpConfig {
    /// Defaults for `base_url`.
    pub fn new(base_url: Url) -> Self {
        Self {
            base_url,
            timeout: Duration::from_secs(60),
            connect_timeout: Duration::from_secs(10),
            max_body_bytes: DEFAULT_MAX_BODY_BYTES,
            retry: RetryPolicy::default(),
            max_server_wait: Duration::from_secs(300),
            max_rate_limited: 20,
            rate_limit_403: false,
            rate_limited: None,
            rate_limit: RateLimitConfig::default(),
            user_agent: concat!("logcrawl/", env!("CARGO_PKG_VERSION")).to_owned(),
        }
    }

    /// [`HttpConfig::new`] with a component's shared settings applied, after checking them together
    /// (the error names the key): `timeout`, `requests_per_second` (the client-side quota of the rate
    /// budget), the retry policy, and `max_retry_wait` as [`HttpConfig::max_server_wait`]. What the
    /// settings leave out (connect timeout, body cap, budget key and margin) keeps its default for the
    /// component to set.
    pub fn with_settings(base_url: Url, settings: &HttpSettings) -> Result<Self, ConfigError> {
        settings.validate()?;
        let mut config = Self::new(base_url);
        config.timeout = settings.timeout;
        config.rate_limit.requests_per_second = settings.requests_per_second;
        config.retry = RetryPolicy::from(settings);
        config.max_server_wait = settings.max_retry_wait;
        Ok(config)
    }
}

/// The `tracing` target of the one line logged per request sent (at `debug`): method, URL (redacted) and
/// the answer's status and size, never a header or a body (a token request's body holds its secret).
/// `logcrawl check` shows them.
pub const REQUEST_LOG: &str = "logcrawl::requests";

fn log_request(request: &RequestSpec, outcome: &Result<Response, HttpError>) {
    let status = match outcome {
        Ok(response) => match response.status.as_u16() {
            200..=299 => "2xx",
            300..=399 => "3xx",
            400..=499 => "4xx",
            500..=599 => "5xx",
            _ => "other",
        },
        Err(_) => "error",
    };
    let [source, stream] = metric::stream_labels();
    metrics::counter!(metric::VENDOR_REQUESTS, &[source, stream, ("status", SharedString::const_str(status))])
        .increment(1);
    match outcome {
        Ok(response) => tracing::debug!(
            target: REQUEST_LOG,
            method = %request.method,
            url = %redact_url(&request.url),
            status = response.status.as_u16(),
            bytes = response.body.len(),
            "request"
        ),
        Err(err) => {
            tracing::debug!(target: REQUEST_LOG, method = %request.method, url = %redact_url(&request.url), error = %err, "request")
        }
    }
}

/// Waits shorter than this are the budget's pacing between requests, not a rate limit being waited out.
const RATE_LIMIT_WAIT_FLOOR: Duration = Duration::from_millis(50);

/// Counts a wait for the rate budget (a 429's `Retry-After`, a quota reset, the budget at its margin).
fn count_rate_limit_wait(waited: Duration) {
    if waited >= RATE_LIMIT_WAIT_FLOOR {
        metrics::histogram!(metric::RATE_LIMIT_WAIT, &metric::stream_labels()).record(waited.as_secs_f64());
    }
}

/// Refusals answered by sending a request again with what the server asked for (a fresh token, a DPoP
/// nonce), at most: a server that keeps refusing gets its answer reported, not a loop.
const MAX_CHALLENGES: u32 = 2;

/// A request to send: method, URL, extra headers and an optional body.
#[derive(Debug, Clone)]
pub struct RequestSpec {
    /// Method.
    pub method: Method,
    /// Absolute URL; it must be on the client's origin.
    pub url: Url,
    /// Extra headers (the credential header is added by the client).
    pub headers: HeaderMap,
    /// Body bytes, if any.
    pub body: Option<Bytes>,
}

impl RequestSpec {
    /// A `GET` of `url`.
    pub fn get(url: Url) -> Self {
        Self { method: Method::GET, url, headers: HeaderMap::new(), body: None }
    }

    /// A `POST` of `body` to `url`.
    pub fn post(url: Url, body: impl Into<Bytes>) -> Self {
        Self { method: Method::POST, url, headers: HeaderMap::new(), body: Some(body.into()) }
    }

    /// Adds a header.
    #[must_use]
    pub fn header(mut self, name: reqwest::header::HeaderName, value: reqwest::header::HeaderValue) -> Self {
        self.headers.insert(name, value);
        self
    }

    /// Appends `pairs` to the URL's query, percent-encoded (an `Option` of one pair appends it only when
    /// given).
    #[must_use]
    pub fn with_query<K: AsRef<str>, V: AsRef<str>>(mut self, pairs: impl IntoIterator<Item = (K, V)>) -> Self {
        self.url.query_pairs_mut().extend_pairs(pairs);
        self
    }

    /// The same request with the query parameter `key` set to `value`: every earlier value of `key`
    /// removed, the other parameters kept in their order, `key` last. The next page of an API that
    /// continues by a token the client puts on its own URL (Slack's `cursor`, Duo's `next_offset`).
    #[must_use]
    pub fn with_query_set(mut self, key: &str, value: &str) -> Self {
        let kept: Vec<(String, String)> = self
            .url
            .query_pairs()
            .filter(|(name, _)| name != key)
            .map(|(name, kept)| (name.into_owned(), kept.into_owned()))
            .collect();
        self.url.query_pairs_mut().clear().extend_pairs(kept).append_pair(key, value);
        self
    }
}

/// A complete response: status, headers and the whole (capped) body.
#[derive(Debug, Clone)]
pub struct Response {
    /// Status.
    pub status: StatusCode,
    /// Headers.
    pub headers: HeaderMap,
    /// Body.
    pub body: Bytes,
    /// The URL that was requested.
    pub url: Url,
}

impl Response {
    /// The `rel` link of the `Link` header, resolved against the request URL.
    pub fn link(&self, rel: &str) -> Option<Url> {
        find_link(&self.headers, &self.url, rel)
    }

    /// The body parsed as JSON; a parse failure names the URL (redacted) and the position.
    ///
    /// The result may borrow from the body (`&str`, `&RawValue`).
    pub fn json<'a, T: Deserialize<'a>>(&'a self) -> Result<T, HttpError> {
        serde_json::from_slice(&self.body)
            .map_err(|err| HttpError::Decode { url: redact_url(&self.url), message: err.to_string() })
    }

    /// The first bytes of the body as text, for error messages.
    pub fn excerpt(&self) -> String {
        excerpt(&self.body)
    }
}

fn excerpt(body: &[u8]) -> String {
    const MAX: usize = 512;
    let text = String::from_utf8_lossy(&body[..body.len().min(MAX)]);
    let mut text = text.trim().replace(['\n', '\r'], " ");
    if body.len() > MAX {
        text.push('…');
    }
    text
}

/// What makes two underlying clients interchangeable: the origin (the redirect guard is per origin), the
/// timeouts, the `User-Agent`, and whether redirects are followed at all.
type ClientKey = (String, Duration, Duration, String, bool);

static CLIENTS: std::sync::LazyLock<
    std::sync::Mutex<std::collections::HashMap<ClientKey, std::sync::Weak<reqwest::Client>>>,
> = std::sync::LazyLock::new(Default::default);

/// The most idle connections a shared client keeps open to its origin for reuse.
///
/// Each one holds about 15 kB of buffers. Without a bound the pool keeps as many as were ever open at
/// once: 10 000 sources of one origin (one Slack, GitHub or Microsoft Graph host) whose runs fall due
/// together kept about 10 000 of them, 150 MB, for as long as they idled. A burst wider than the bound
/// still opens what it needs; the surplus is closed once its response has been read.
pub(crate) const MAX_IDLE_CONNECTIONS_PER_ORIGIN: usize = 256;

/// The process-wide `reqwest` client for `config`'s origin and settings, built on first use; `follow`
/// says whether it follows same-origin redirects.
///
/// A `reqwest` client carries a TLS configuration with its root store and a connection pool: about
/// 150 kB and 2 ms to build. Ten thousand sources of one vendor would otherwise hold ten thousand of them
/// (1.5 GB); sharing one per origin and settings also lets them share warm connections.
fn shared_client(config: &HttpConfig, follow: bool) -> Result<Arc<reqwest::Client>, HttpError> {
    let origin = config.base_url.origin();
    let key: ClientKey =
        (origin.ascii_serialization(), config.timeout, config.connect_timeout, config.user_agent.clone(), follow);
    let mut clients = CLIENTS.lock().expect("client registry poisoned");
    if let Some(client) = clients.get(&key).and_then(std::sync::Weak::upgrade) {
        return Ok(client);
    }
    clients.retain(|_, client| client.strong_count() > 0);
    let policy = if follow {
        let redirect_origin = origin.clone();
        reqwest::redirect::Policy::custom(move |attempt| {
            if attempt.previous().len() >= 5 || attempt.url().origin() != redirect_origin {
                attempt.stop()
            } else {
                attempt.follow()
            }
        })
    } else {
        reqwest::redirect::Policy::none()
    };
    let client = reqwest::Client::builder()
        .timeout(config.timeout)
        .connect_timeout(config.connect_timeout)
        .user_agent(config.user_agent.clone())
        .redirect(policy)
        .pool_max_idle_per_host(MAX_IDLE_CONNECTIONS_PER_ORIGIN)
        .build()
        .map_err(|err| HttpError::Transport { url: redact_url(&config.base_url), message: err.to_string() })?;
    let client = Arc::new(client);
    clients.insert(key, Arc::downgrade(&client));
    Ok(client)
}

/// The shared HTTP client of connectors and sinks.
///
/// * **Same origin only**: any URL whose scheme, host or port differs from `base_url` is refused before
///   anything is sent, and redirects are followed only within the origin, so a vendor (or an attacker
///   controlling a `next` link) can never make the client hand credentials to another host.
/// * **No redirects with a body**: only `GET` and `HEAD` follow (same-origin) redirects. Any other method
///   gets [`HttpError::Redirected`] for a 3xx: a 301/302/303 would turn a sink's `POST` into a bodiless
///   `GET`, and a 2xx to that would be taken for a delivery.
/// * **Rate budget**: every request, each page of a pagination chain included, waits on the shared
///   [`RateBudget`]; responses feed the vendor's remaining/reset headers back into it.
/// * **429**: waits for `Retry-After` or the `X-Rate-Limit-Reset` instant (on the vendor's clock), then
///   repeats the same request.
/// * **Retries**: timeouts, connection failures, 408 and 5xx are retried with jittered exponential backoff,
///   waiting at least a `Retry-After`.
/// * **Bounded waits**: no server-requested wait is longer than [`HttpConfig::max_server_wait`]; a longer
///   one gives the request up ([`HttpError::ServerWaitTooLong`]) and the next run tries again.
/// * **Body cap**: a body past `max_body_bytes` is cut off with [`HttpError::BodyTooLarge`].
#[derive(Debug, Clone)]
pub struct HttpClient {
    /// Follows same-origin redirects: for `GET` and `HEAD`.
    inner: Arc<reqwest::Client>,
    /// Follows no redirect: for every method with a body.
    unredirected: Arc<reqwest::Client>,
    config: Arc<HttpConfig>,
    auth: Option<Arc<dyn Auth>>,
    budget: Arc<RateBudget>,
}

impl HttpClient {
    /// A client for `config.base_url` without credentials.
    pub fn new(config: HttpConfig) -> Result<Self, HttpError> {
        let origin = config.base_url.origin();
        if !origin.is_tuple() {
            return Err(HttpError::InvalidUrl {
                url: redact_url(&config.base_url),
                message: "an http(s) URL with a host is required".into(),
            });
        }
        let inner = shared_client(&config, true)?;
        let unredirected = shared_client(&config, false)?;
        let key = config.rate_limit.key.clone().unwrap_or_else(|| {
            format!(
                "{}:{}",
                config.base_url.host_str().unwrap_or_default(),
                config.base_url.port_or_known_default().unwrap_or(0)
            )
        });
        let budget = RateBudget::shared(&key, &config.rate_limit);
        Ok(Self { inner, unredirected, config: Arc::new(config), auth: None, budget })
    }

    /// A connector's client: `base_url` with the component's shared HTTP settings, a problem with either
    /// keyed at the setting (`base_url` for the URL).
    pub fn from_settings(base_url: Url, settings: &HttpSettings) -> Result<Self, ConfigError> {
        Self::new(HttpConfig::with_settings(base_url, settings)?)
            .map_err(|err| ConfigError::new("base_url", err.to_string()))
    }

    /// The same client, sending `Authorization: Bearer KEY` with every request when `key` is given.
    #[must_use]
    pub fn with_bearer(self, key: Option<SecretString>) -> Self {
        match key {
            Some(key) => self.with_auth(Arc::new(StaticAuth::new(header::AUTHORIZATION, "Bearer ", key))),
            None => self,
        }
    }

    /// The same client, sending `auth`'s header with every request.
    #[must_use]
    pub fn with_auth(mut self, auth: Arc<dyn Auth>) -> Self {
        self.auth = Some(auth);
        self
    }

    /// The configured origin.
    pub fn base_url(&self) -> &Url {
        &self.config.base_url
    }

    /// The configuration.
    pub fn config(&self) -> &HttpConfig {
        &self.config
    }

    /// The rate budget this client draws on.
    pub fn budget(&self) -> &Arc<RateBudget> {
        &self.budget
    }

    /// `path` (with query) resolved against the base URL.
    pub fn url(&self, path: &str) -> Result<Url, HttpError> {
        self.config
            .base_url
            .join(path)
            .map_err(|err| HttpError::InvalidUrl { url: path.to_owned(), message: err.to_string() })
    }

    /// Refuses `url` unless it is on the configured origin.
    pub fn ensure_same_origin(&self, url: &Url) -> Result<(), HttpError> {
        if url.origin() == self.config.base_url.origin() {
            Ok(())
        } else {
            Err(HttpError::OffOrigin {
                url: redact_url(url),
                origin: self.config.base_url.origin().ascii_serialization(),
            })
        }
    }

    /// `GET url` with every protection and retry; 2xx only.
    pub async fn get(&self, url: Url) -> Result<Response, HttpError> {
        self.execute(RequestSpec::get(url)).await
    }

    /// Sends `request` with retries and rate limiting; returns a 2xx response or an error.
    pub async fn execute(&self, request: RequestSpec) -> Result<Response, HttpError> {
        self.execute_with(|| Ok(request.clone())).await
    }

    /// Like [`HttpClient::execute`], but builds the request anew for every attempt, retries included: for
    /// requests that must not be replayed byte for byte (a signed client assertion with a one-time `jti`,
    /// a nonce, a signature over the current time). An error from `build` ends the call.
    pub async fn execute_with(
        &self,
        build: impl FnMut() -> Result<RequestSpec, HttpError>,
    ) -> Result<Response, HttpError> {
        self.execute_challenged(build, |_| false).await
    }

    /// Like [`HttpClient::execute_with`], with `challenged` asked about any 4xx answer whether to send
    /// the request again (at most twice, as for the client's [`Auth::challenged`]): for a request whose
    /// server hands out something the next attempt must carry, as a DPoP nonce on a token endpoint.
    pub async fn execute_challenged(
        &self,
        mut build: impl FnMut() -> Result<RequestSpec, HttpError>,
        mut challenged: impl FnMut(&Response) -> bool,
    ) -> Result<Response, HttpError> {
        let mut retry = RetryState::new(self.config.retry, LongServerWait::GiveUpAbove(self.config.max_server_wait));
        let mut rate_limited = 0u32;
        let mut challenges = 0u32;
        loop {
            let request = build()?;
            let outcome = self.send_once(&request).await;
            log_request(&request, &outcome);
            let (asked, last, answered) = match outcome {
                Ok(response) if response.status.is_success() => return Ok(response),
                Ok(response) if self.is_rate_limited(&response) => {
                    // Rate limits are waited out, not counted as failures: a long backfill meets many.
                    rate_limited += 1;
                    if rate_limited > self.config.max_rate_limited {
                        return Err(HttpError::RetriesExhausted {
                            url: redact_url(&request.url),
                            attempts: rate_limited,
                            last: format!("HTTP {}: {}", response.status.as_u16(), response.excerpt()),
                        });
                    }
                    let wait = retry
                        .server_wait(self.rate_limit_wait(&response, rate_limited))
                        .map_err(|stop| self.stopped(stop, &request, Some(response.status), String::new()))?;
                    tracing::info!(url = %redact_url(&request.url), status = response.status.as_u16(), wait_ms = wait.as_millis() as u64, "rate limited; waiting for the rate limit to reset");
                    // The wait itself happens in the budget's next `acquire`, which counts it.
                    self.budget.block_for(wait);
                    continue;
                }
                Ok(response)
                    if response.status.is_client_error()
                        && challenges < MAX_CHALLENGES
                        && (self.auth.as_ref().is_some_and(|auth| auth.challenged(&response, challenges))
                            || challenged(&response)) =>
                {
                    challenges += 1;
                    continue;
                }
                Ok(response) if is_retryable_status(response.status) => {
                    (retry_after(&response.headers), status_error(&response).to_string(), Some(response.status))
                }
                Ok(response) => return Err(status_error(&response)),
                Err(err @ HttpError::Transport { .. }) => (None, err.to_string(), None),
                Err(err) => return Err(err),
            };
            let wait = retry.next_wait(asked).map_err(|stop| self.stopped(stop, &request, answered, last.clone()))?;
            tracing::debug!(url = %redact_url(&request.url), attempt = retry.failures(), wait_ms = wait.as_millis() as u64, error = %last, "retrying");
            tokio::time::sleep(wait).await;
        }
    }

    /// The error for a request whose retries ended (`last`: the last failure, `status`: its answer).
    fn stopped(
        &self,
        stop: StopRetrying,
        request: &RequestSpec,
        status: Option<StatusCode>,
        last: String,
    ) -> HttpError {
        let url = redact_url(&request.url);
        match stop {
            StopRetrying::Exhausted { attempts } => HttpError::RetriesExhausted { url, attempts, last },
            StopRetrying::WaitTooLong { asked, limit } => {
                tracing::warn!(url = %url, wait_secs = asked.as_secs(), max_secs = limit.as_secs(),
                    "the server asks for a longer wait than allowed; giving up until the next run");
                HttpError::ServerWaitTooLong {
                    url,
                    status: status.unwrap_or(StatusCode::SERVICE_UNAVAILABLE),
                    wait_secs: asked.as_secs(),
                    max_secs: limit.as_secs(),
                }
            }
        }
    }

    /// A 429, with [`HttpConfig::rate_limit_403`] a 403 that says it is a rate limit, or an answer the
    /// vendor's [`HttpConfig::rate_limited`] calls one.
    fn is_rate_limited(&self, response: &Response) -> bool {
        response.status == StatusCode::TOO_MANY_REQUESTS
            || (self.config.rate_limit_403 && is_rate_limit_403(response.status, &response.headers, &response.body))
            || self.vendor_rate_limited(response)
    }

    fn vendor_rate_limited(&self, response: &Response) -> bool {
        self.config.rate_limited.is_some_and(|rate_limited| rate_limited(response))
    }

    fn rate_limit_wait(&self, response: &Response, consecutive: u32) -> Duration {
        if let Some(asked) = retry_after(&response.headers) {
            return asked;
        }
        if response.status != StatusCode::TOO_MANY_REQUESTS && self.vendor_rate_limited(response) {
            return self.config.retry.delay(consecutive);
        }
        if response.status == StatusCode::FORBIDDEN {
            // An exhausted window waits for its reset; any other rate-limit 403 (a secondary limit) at
            // least a minute, as GitHub asks, however close the primary window's reset is.
            let snapshot = self.budget.read(&response.headers);
            return match snapshot.filter(|s| s.remaining == 0).and_then(|s| s.until_reset()) {
                Some(reset) => reset,
                None => SECONDARY_RATE_LIMIT_WAIT.max(self.config.retry.delay(consecutive)),
            };
        }
        self.budget
            .read(&response.headers)
            .and_then(|s| s.until_reset())
            .unwrap_or_else(|| self.config.retry.delay(consecutive))
    }

    /// Sends `request` once: origin guard, rate budget, credentials, body cap. Any status is returned as
    /// a response; sinks use this to classify statuses themselves.
    pub async fn send_once(&self, request: &RequestSpec) -> Result<Response, HttpError> {
        self.ensure_same_origin(&request.url)?;
        let asked = std::time::Instant::now();
        self.budget.acquire().await;
        count_rate_limit_wait(asked.elapsed());
        let client =
            if matches!(request.method, Method::GET | Method::HEAD) { &self.inner } else { &self.unredirected };
        let in_url = self.auth.as_ref().and_then(|auth| auth.query_parameter());
        let mut url = request.url.clone();
        if let Some((name, value)) = in_url {
            url.query_pairs_mut().append_pair(name, value.expose_secret());
        }
        let secrets: Vec<&str> = in_url.map(|(_, value)| value.expose_secret()).into_iter().collect();
        let mut builder = client.request(request.method.clone(), url).headers(request.headers.clone());
        if let Some(auth) = &self.auth {
            for header in auth.headers(request).await? {
                builder = builder.header(header.name, header.value);
            }
        }
        if let Some(body) = &request.body {
            builder = builder.body(body.clone());
        }
        // An error's text may quote the URL as sent: the credential it carries is scrubbed from it.
        let transport = |err: reqwest::Error| HttpError::Transport {
            url: redact_url(&request.url),
            message: scrub(&describe(&err), &secrets),
        };
        let mut response = builder.send().await.map_err(transport)?;
        let status = response.status();
        let headers = response.headers().clone();
        self.budget.observe(&headers);
        if status.is_redirection() {
            return Err(match self.refused_redirect(request, status, &headers) {
                HttpError::Redirected { url, status, location, off_origin, reason } => {
                    HttpError::Redirected { url, status, location: scrub(&location, &secrets), off_origin, reason }
                }
                other => other,
            });
        }
        let limit = self.config.max_body_bytes;
        let too_large = || HttpError::BodyTooLarge { url: redact_url(&request.url), limit };
        let declared = headers.get(CONTENT_LENGTH).and_then(|v| v.to_str().ok()?.parse::<usize>().ok());
        if declared.is_some_and(|len| len > limit) {
            return Err(too_large());
        }
        let mut body = BytesMut::with_capacity(declared.unwrap_or(0).min(limit));
        while let Some(chunk) = response.chunk().await.map_err(transport)? {
            if body.len() + chunk.len() > limit {
                return Err(too_large());
            }
            body.extend_from_slice(&chunk);
        }
        // Without a Content-Length the buffer grew by doubling; parsed records may keep slices of the body
        // for as long as they are in flight, so a body with much slack is moved to an exact allocation.
        let body = if body.capacity() - body.len() > body.len() / 4 + 4096 {
            Bytes::copy_from_slice(&body)
        } else {
            body.freeze()
        };
        Ok(Response { status, headers, body, url: request.url.clone() })
    }
}

impl HttpClient {
    /// The error for a 3xx that reached us: one the policy did not follow (off the origin, too many hops)
    /// or one of a request with a body, which is never followed. The `Location` is shown redacted.
    fn refused_redirect(&self, request: &RequestSpec, status: StatusCode, headers: &HeaderMap) -> HttpError {
        let target = headers
            .get(reqwest::header::LOCATION)
            .and_then(|v| std::str::from_utf8(v.as_bytes()).ok())
            .map(|location| request.url.join(location.trim()));
        let origin = self.config.base_url.origin();
        let (location, off_origin) = match &target {
            Some(Ok(url)) => (redact_url(url), url.origin() != origin),
            Some(Err(_)) => ("(an unreadable Location)".to_owned(), false),
            None => ("(no Location)".to_owned(), false),
        };
        let reason = if off_origin {
            format!("it leaves the configured origin {} (credentials never leave it)", origin.ascii_serialization())
        } else if matches!(request.method, Method::GET | Method::HEAD) {
            "too many redirects, or one without a usable Location".to_owned()
        } else {
            format!(
                "a {} is never redirected (its body would be lost and a reply to the redirected request is no \
                 delivery); configure the final URL",
                request.method
            )
        };
        HttpError::Redirected { url: redact_url(&request.url), status, location, off_origin, reason }
    }
}

/// The least a rate-limit 403 with neither `Retry-After` nor an exhausted window waits (GitHub: "wait for
/// at least one minute" after a secondary rate limit).
pub const SECONDARY_RATE_LIMIT_WAIT: Duration = Duration::from_secs(60);

/// Whether a response of `status` is a 403 that says it is a rate limit, the way GitHub answers its
/// primary limit (`x-ratelimit-remaining: 0`) and its secondary limits (`Retry-After`, or a body such as
/// "You have exceeded a secondary rate limit"). A 403 without any of these is a refusal. Reads at most the
/// body's first 4 KiB; never panics, whatever the headers and body hold.
pub fn is_rate_limit_403(status: StatusCode, headers: &HeaderMap, body: &[u8]) -> bool {
    if status != StatusCode::FORBIDDEN {
        return false;
    }
    if headers.contains_key(reqwest::header::RETRY_AFTER) {
        return true;
    }
    if RateLimitSnapshot::from_headers(headers).is_some_and(|s| s.remaining == 0) {
        return true;
    }
    const NEEDLE: &[u8] = b"rate limit";
    body[..body.len().min(4096)].windows(NEEDLE.len()).any(|w| w.eq_ignore_ascii_case(NEEDLE))
}

/// 408, 5xx: worth another try.
pub fn is_retryable_status(status: StatusCode) -> bool {
    status == StatusCode::REQUEST_TIMEOUT || status.is_server_error()
}

fn status_error(response: &Response) -> HttpError {
    HttpError::Status { status: response.status, url: redact_url(&response.url), body: response.excerpt() }
}

/// A reqwest error without the URL (which we print redacted ourselves) and with its causes.
fn describe(err: &reqwest::Error) -> String {
    let kind = if err.is_timeout() {
        "timed out"
    } else if err.is_connect() {
        "connection failed"
    } else if err.is_body() || err.is_decode() {
        "reading the body failed"
    } else {
        "request failed"
    };
    let mut text = kind.to_owned();
    let mut cause = std::error::Error::source(err);
    while let Some(inner) = cause {
        text.push_str(": ");
        text.push_str(&inner.to_string());
        cause = inner.source();
    }
    text
}

#[cfg(test)]
mod shared_client_tests {
    use super::*;

    #[test]
    fn clients_of_one_origin_and_settings_share_the_reqwest_client() {
        let config = |url: &str| HttpConfig::new(Url::parse(url).unwrap());
        let a = HttpClient::new(config("http://127.0.0.1:9/a")).unwrap();
        let b = HttpClient::new(config("http://127.0.0.1:9/b")).unwrap();
        let other_origin = HttpClient::new(config("http://127.0.0.1:10/")).unwrap();
        let mut slower = config("http://127.0.0.1:9/");
        slower.timeout = Duration::from_secs(1);
        let other_timeout = HttpClient::new(slower).unwrap();
        assert!(Arc::ptr_eq(&a.inner, &b.inner));
        assert!(!Arc::ptr_eq(&a.inner, &other_origin.inner));
        assert!(!Arc::ptr_eq(&a.inner, &other_timeout.inner));
    }
}
