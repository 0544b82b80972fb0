//! Rate budgets: a client-side quota (governor) plus adaptation to the vendor's own headers.
//!
//! Vendors announce their budget on every response — Okta `X-Rate-Limit-Limit/Remaining/Reset`, Auth0 and
//! GitHub `x-ratelimit-*` — so a [`RateBudget`] keeps an estimate of the remaining calls in the current
//! window and, when it falls to the configured margin, holds every request of every stream sharing the
//! budget until the window resets. That is what keeps a pagination chain from running into 429s
//! (elastic/beats#23023), and why two sources on one Okta org must share one budget: budgets are shared
//! process-wide by key (by default the origin's `host:port`). When sharers are configured differently, the
//! strictest setting of each kind holds for all of them: the largest margin, the lowest fixed quota.

use std::collections::HashMap;
use std::num::NonZeroU32;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, LazyLock, Mutex, Weak};
use std::time::Duration;

use governor::{DefaultDirectRateLimiter, Quota, RateLimiter};
use reqwest::header::HeaderMap;
use tokio::time::Instant;

/// Client-side rate limiting of one budget.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RateLimitConfig {
    /// A fixed client-side quota, in requests per second (none by default: the vendor's headers rule).
    pub requests_per_second: Option<NonZeroU32>,
    /// A fixed client-side quota slower than one request a second: at most one request per this interval
    /// (Slack's Tier 3, about 50 a minute, is one every 1.2 s). With `requests_per_second` too, the
    /// slower of the two holds.
    pub min_interval: Option<Duration>,
    /// Burst allowed by the fixed quota.
    pub burst: Option<NonZeroU32>,
    /// Stop sending while the vendor's remaining budget is at or below this many calls.
    pub margin: u32,
    /// Budgets with the same key are shared process-wide. Defaults to the origin's `host:port`.
    pub key: Option<String>,
    /// Where the vendor announces its budget (Okta's and GitHub's names by default).
    pub headers: RateLimitHeaders,
}

/// How a reset header writes when the window resets.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum ResetFormat {
    /// Unix epoch seconds (Okta, GitHub, Auth0).
    #[default]
    EpochSeconds,
    /// Seconds from the response (`RateLimit-Reset` of the IETF draft, many gateways).
    DeltaSeconds,
    /// An HTTP date.
    HttpDate,
}

/// The response headers a vendor announces its budget in: each a list of names, the first present one
/// read (case does not matter).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RateLimitHeaders {
    /// Calls allowed per window.
    pub limit: Vec<String>,
    /// Calls left in the window; without it nothing is read.
    pub remaining: Vec<String>,
    /// When the window resets.
    pub reset: Vec<String>,
    /// How `reset` is written.
    pub reset_format: ResetFormat,
}

impl Default for RateLimitHeaders {
    /// `X-Rate-Limit-*` (Okta) or `X-RateLimit-*` (Auth0, GitHub), the reset in epoch seconds.
    fn default() -> Self {
        let names = |what: &str| vec![format!("x-rate-limit-{what}"), format!("x-ratelimit-{what}")];
        Self {
            limit: names("limit"),
            remaining: names("remaining"),
            reset: names("reset"),
            reset_format: ResetFormat::EpochSeconds,
        }
    }
}

static DEFAULT_HEADERS: LazyLock<RateLimitHeaders> = LazyLock::new(RateLimitHeaders::default);

impl RateLimitHeaders {
    /// What `headers` say about the budget, read by these names (and the `Date` header, the vendor's clock).
    pub fn read(&self, headers: &HeaderMap) -> Option<RateLimitSnapshot> {
        let text = |names: &[String]| {
            names.iter().find_map(|name| std::str::from_utf8(headers.get(name.as_str())?.as_bytes()).ok())
        };
        let number = |names: &[String]| text(names).and_then(|v| v.trim().parse::<u64>().ok());
        let remaining = number(&self.remaining)?;
        let date = crate::retry::server_date(headers);
        let mut server_epoch = date.map(|date| date.as_second());
        let reset_epoch = match self.reset_format {
            ResetFormat::EpochSeconds => number(&self.reset),
            ResetFormat::DeltaSeconds => number(&self.reset).map(|delta| {
                // Measured from the response: its `Date`, else now, which becomes the clock it is read on.
                let base = server_epoch.unwrap_or_else(|| jiff::Timestamp::now().as_second());
                server_epoch = Some(base);
                u64::try_from(base).unwrap_or(0).saturating_add(delta)
            }),
            ResetFormat::HttpDate => text(&self.reset)
                .and_then(|v| crate::retry::parse_http_date(v.trim()))
                .and_then(|at| u64::try_from(at.as_second()).ok()),
        };
        Some(RateLimitSnapshot { limit: number(&self.limit), remaining, reset_epoch, server_epoch })
    }
}

impl Default for RateLimitConfig {
    fn default() -> Self {
        Self {
            requests_per_second: None,
            min_interval: None,
            burst: None,
            margin: 2,
            key: None,
            headers: RateLimitHeaders::default(),
        }
    }
}

impl RateLimitConfig {
    /// The budget of a vendor tenant that announces no budget in its headers (so no margin is kept):
    /// shared by every client of `key` (a [`tenant_key`]), at `requests_per_second` when the shared
    /// settings give it, else at one request per `pace` (`None`: no fixed quota). What Slack (Tier 3,
    /// one every 1.5 s), 1Password (8 a second, its shared default) and Duo (one every 2 s) use.
    pub fn tenant(key: String, requests_per_second: Option<NonZeroU32>, pace: Option<Duration>) -> Self {
        Self {
            requests_per_second,
            min_interval: pace.filter(|_| requests_per_second.is_none()),
            burst: None,
            margin: 0,
            key: Some(key),
            headers: RateLimitHeaders::default(),
        }
    }
}

/// What the vendor last said about its budget.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateLimitSnapshot {
    /// Calls allowed per window, when announced.
    pub limit: Option<u64>,
    /// Calls left in the window.
    pub remaining: u64,
    /// When the window resets, as Unix epoch seconds of the vendor's clock.
    pub reset_epoch: Option<u64>,
    /// The vendor's clock when it answered (its `Date` header), as Unix epoch seconds, when sent. The reset
    /// is measured against it: a host clock a minute fast would otherwise send requests a minute early
    /// into an exhausted window (429 storms), one a few minutes slow would wait minutes too long.
    pub server_epoch: Option<i64>,
}

impl RateLimitSnapshot {
    /// Reads `X-Rate-Limit-*` (Okta) or `X-RateLimit-*` (Auth0, GitHub) headers, and `Date`: the default
    /// [`RateLimitHeaders`].
    pub fn from_headers(headers: &HeaderMap) -> Option<Self> {
        DEFAULT_HEADERS.read(headers)
    }

    /// How long from now until the window resets, `None` when no reset was announced. Measured on the
    /// vendor's clock when the response carried a `Date`, else on the host's.
    pub fn until_reset(&self) -> Option<Duration> {
        let reset = self.reset_epoch?;
        Some(match self.server_epoch {
            Some(server_now) => between_epochs(server_now, reset),
            None => until_epoch(reset),
        })
    }
}

/// The key of a budget for the tenant a credential belongs to, when nothing else in the configuration
/// names the tenant (1Password's account, Slack's organization): the vendor, the origin, and a hash of
/// the credential — never the credential itself. Sources crawling with one credential share the
/// budget; two credentials of one tenant cannot be told apart, and get a budget each.
pub fn tenant_key(vendor: &str, origin: &url::Url, credential: &str) -> String {
    use std::hash::{Hash, Hasher};
    let mut hasher = std::hash::DefaultHasher::new();
    credential.hash(&mut hasher);
    let host = origin.host_str().unwrap_or_default().to_ascii_lowercase();
    let port = origin.port_or_known_default().unwrap_or(0);
    format!("{vendor}:{host}:{port}:{:016x}", hasher.finish())
}

/// A small margin for clock skew and the reset's one-second granularity.
const RESET_SKEW: Duration = Duration::from_millis(250);

/// Time from now (the host's clock) until Unix epoch second `epoch`, plus a small margin for clock skew
/// and the reset's one-second granularity. Prefer [`RateLimitSnapshot::until_reset`], which uses the
/// vendor's clock when it is known.
pub fn until_epoch(epoch: u64) -> Duration {
    let now = jiff::Timestamp::now().as_millisecond();
    let target = i64::try_from(epoch).unwrap_or(i64::MAX).saturating_mul(1000);
    Duration::from_millis(u64::try_from(target.saturating_sub(now)).unwrap_or(0)) + RESET_SKEW
}

/// Time from epoch second `from` to epoch second `to` (zero if `to` is earlier), plus the skew margin.
fn between_epochs(from: i64, to: u64) -> Duration {
    let to = i64::try_from(to).unwrap_or(i64::MAX);
    Duration::from_secs(u64::try_from(to.saturating_sub(from)).unwrap_or(0)) + RESET_SKEW
}

/// While the vendor's remaining budget is at the margin and no reset is known, one request is let through
/// as a probe after this long: its answer brings fresh headers (a known reset is held at most
/// [`MAX_RESET_HOLD`]). Without it, a budget exhausted without a reset header would hold every sharer forever, since
/// only a response can lift the hold and no request would be sent.
pub const PROBE_AFTER: Duration = Duration::from_secs(10);

/// The longest a budget holds its sharers for an announced reset before probing (a reset hours away is
/// more likely a vendor's or clock's error than a real window).
pub const MAX_RESET_HOLD: Duration = Duration::from_secs(15 * 60);

#[derive(Debug, Default)]
struct Window {
    remaining: Option<u64>,
    reset_at: Option<Instant>,
    blocked_until: Option<Instant>,
    /// When the next probe may go, while the budget is held at the margin without a reset.
    probe_at: Option<Instant>,
}

/// A fixed client-side quota and the limiter enforcing it.
#[derive(Debug)]
struct FixedQuota {
    /// One request per this long, sustained.
    period: Duration,
    burst: NonZeroU32,
    limiter: Arc<DefaultDirectRateLimiter>,
}

impl FixedQuota {
    fn of(config: &RateLimitConfig) -> Option<Self> {
        let per_second = config.requests_per_second.map(|n| Duration::from_secs(1) / n.get());
        let interval = config.min_interval.filter(|interval| !interval.is_zero());
        let period = per_second.into_iter().chain(interval).max()?;
        let burst = config.burst.or(config.requests_per_second.filter(|_| per_second == Some(period)));
        let burst = burst.unwrap_or(NonZeroU32::MIN);
        let quota = Quota::with_period(period)?.allow_burst(burst);
        Some(Self { period, burst, limiter: Arc::new(RateLimiter::direct(quota)) })
    }

    fn is_stricter_than(&self, other: &Self) -> bool {
        (std::cmp::Reverse(self.period), self.burst) < (std::cmp::Reverse(other.period), other.burst)
    }
}

/// One shared budget of requests.
#[derive(Debug)]
pub struct RateBudget {
    key: String,
    /// Where the vendor announces the budget (the creating sharer's names).
    headers: RateLimitHeaders,
    margin: AtomicU32,
    quota: Mutex<Option<FixedQuota>>,
    window: Mutex<Window>,
}

static REGISTRY: LazyLock<Mutex<HashMap<String, Weak<RateBudget>>>> = LazyLock::new(Mutex::default);

impl RateBudget {
    /// The process-wide budget for `key`, created from `config` if no live one exists. A live one is
    /// tightened to `config` where that is stricter (a larger margin, a lower fixed quota): the budget
    /// stands for the vendor's limit, which every sharer must respect.
    pub fn shared(key: &str, config: &RateLimitConfig) -> Arc<Self> {
        let mut registry = REGISTRY.lock().expect("rate budget registry poisoned");
        registry.retain(|_, budget| budget.strong_count() > 0);
        if let Some(existing) = registry.get(key).and_then(Weak::upgrade) {
            existing.tighten(config);
            return existing;
        }
        let budget = Arc::new(Self::new(key, config));
        registry.insert(key.to_owned(), Arc::downgrade(&budget));
        budget
    }

    /// A budget of its own, not shared.
    pub fn new(key: &str, config: &RateLimitConfig) -> Self {
        Self {
            key: key.to_owned(),
            headers: config.headers.clone(),
            margin: AtomicU32::new(config.margin),
            quota: Mutex::new(FixedQuota::of(config)),
            window: Mutex::default(),
        }
    }

    /// Applies the stricter of this budget's settings and `config`'s.
    fn tighten(&self, config: &RateLimitConfig) {
        let before = self.margin.fetch_max(config.margin, Ordering::Relaxed);
        if config.margin > before {
            tracing::debug!(budget = %self.key, margin = config.margin, "a sharer of this rate budget asks for a larger margin; applying it to all");
        }
        let Some(stricter) = FixedQuota::of(config) else { return };
        let mut quota = self.quota.lock().expect("rate quota poisoned");
        if quota.as_ref().is_none_or(|current| stricter.is_stricter_than(current)) {
            tracing::debug!(budget = %self.key, interval_ms = stricter.period.as_millis() as u64, "a sharer of this rate budget asks for a lower quota; applying it to all");
            *quota = Some(stricter);
        }
    }

    /// The margin in force: calls per window left unspent.
    pub fn margin(&self) -> u32 {
        self.margin.load(Ordering::Relaxed)
    }

    /// The fixed client-side quota in force, in whole requests per second, if any (`None` too for a quota
    /// slower than one a second: see [`min_interval`](Self::min_interval)).
    pub fn requests_per_second(&self) -> Option<NonZeroU32> {
        let period = self.min_interval()?;
        NonZeroU32::new(u32::try_from(Duration::from_secs(1).as_nanos() / period.as_nanos().max(1)).unwrap_or(u32::MAX))
    }

    /// The fixed client-side quota in force as the interval between two requests, if any.
    pub fn min_interval(&self) -> Option<Duration> {
        self.quota.lock().expect("rate quota poisoned").as_ref().map(|quota| quota.period)
    }

    /// The budget's key.
    pub fn key(&self) -> &str {
        &self.key
    }

    /// Waits until a request may be sent, and counts it against the window.
    pub async fn acquire(&self) {
        loop {
            let wait_until = {
                let mut window = self.window.lock().expect("rate window poisoned");
                let now = Instant::now();
                if window.reset_at.is_some_and(|reset| reset <= now) {
                    window.remaining = None;
                    window.reset_at = None;
                }
                match (window.blocked_until, window.remaining) {
                    (Some(until), _) if until > now => Some(until),
                    (_, Some(remaining)) if remaining <= u64::from(self.margin()) => {
                        // Held until the announced reset (lifted above once it passes), or, without one,
                        // until a single probe may go; a response to it refreshes the window.
                        match window.reset_at {
                            Some(reset) => Some(reset),
                            None => match window.probe_at {
                                Some(probe) if probe <= now => {
                                    window.probe_at = None;
                                    tracing::debug!(budget = %self.key, "rate budget held without a reset time; probing with one request");
                                    None
                                }
                                Some(probe) => Some(probe),
                                None => Some(*window.probe_at.insert(now + PROBE_AFTER)),
                            },
                        }
                    }
                    _ => {
                        window.blocked_until = None;
                        if let Some(remaining) = window.remaining.as_mut() {
                            *remaining -= 1;
                        }
                        None
                    }
                }
            };
            match wait_until {
                Some(until) => {
                    tracing::debug!(budget = %self.key, wait_ms = (until - Instant::now()).as_millis() as u64, "rate budget exhausted; waiting for the window to reset");
                    tokio::time::sleep_until(until).await;
                }
                None => break,
            }
        }
        let limiter = self.quota.lock().expect("rate quota poisoned").as_ref().map(|quota| quota.limiter.clone());
        if let Some(limiter) = limiter {
            limiter.until_ready().await;
        }
    }

    /// Takes in the vendor's view of the budget from a response.
    pub fn observe(&self, headers: &HeaderMap) {
        let Some(snapshot) = self.read(headers) else { return };
        let mut window = self.window.lock().expect("rate window poisoned");
        window.remaining = Some(snapshot.remaining);
        // A reset further away than the longest hold is not trusted: it becomes the time of a probe.
        window.reset_at = snapshot.until_reset().map(|wait| Instant::now() + wait.min(MAX_RESET_HOLD));
        window.probe_at = None;
    }

    /// What `headers` say about this budget, read by its vendor's header names.
    pub fn read(&self, headers: &HeaderMap) -> Option<RateLimitSnapshot> {
        self.headers.read(headers)
    }

    /// Holds every request of this budget for `wait` (after a 429).
    pub fn block_for(&self, wait: Duration) {
        let until = Instant::now() + wait;
        let mut window = self.window.lock().expect("rate window poisoned");
        if window.blocked_until.is_none_or(|current| current < until) {
            window.blocked_until = Some(until);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use reqwest::header::HeaderValue;

    #[test]
    fn a_tenants_budget_is_paced_unless_the_settings_give_a_quota() {
        let pace = Some(Duration::from_secs(2));
        let paced = RateLimitConfig::tenant("duo:x".into(), None, pace);
        assert_eq!((paced.min_interval, paced.requests_per_second, paced.margin), (pace, None, 0));
        assert_eq!(paced.key.as_deref(), Some("duo:x"));
        let quota = NonZeroU32::new(5);
        let given = RateLimitConfig::tenant("duo:y".into(), quota, pace);
        assert_eq!((given.min_interval, given.requests_per_second), (None, quota), "the setting replaces the pace");
        assert_eq!(RateLimitConfig::tenant("op".into(), None, None).min_interval, None);
        assert_eq!(RateBudget::new("tenant-paced", &paced).min_interval(), pace);
    }

    #[test]
    fn reads_both_header_families() {
        let mut okta = HeaderMap::new();
        okta.insert("X-Rate-Limit-Limit", HeaderValue::from_static("50"));
        okta.insert("X-Rate-Limit-Remaining", HeaderValue::from_static("7"));
        okta.insert("X-Rate-Limit-Reset", HeaderValue::from_static("1700000000"));
        assert_eq!(
            RateLimitSnapshot::from_headers(&okta),
            Some(RateLimitSnapshot {
                limit: Some(50),
                remaining: 7,
                reset_epoch: Some(1_700_000_000),
                server_epoch: None
            })
        );
        let mut auth0 = HeaderMap::new();
        auth0.insert("x-ratelimit-remaining", HeaderValue::from_static("3"));
        assert_eq!(RateLimitSnapshot::from_headers(&auth0).map(|s| s.remaining), Some(3));
        assert_eq!(RateLimitSnapshot::from_headers(&HeaderMap::new()), None);
    }

    #[test]
    fn same_key_same_budget() {
        let config = RateLimitConfig::default();
        let a = RateBudget::shared("org.example:443", &config);
        let b = RateBudget::shared("org.example:443", &config);
        let c = RateBudget::shared("other.example:443", &config);
        assert!(Arc::ptr_eq(&a, &b));
        assert!(!Arc::ptr_eq(&a, &c));
    }

    #[test]
    fn sharers_get_the_strictest_settings() {
        let rps = |n| NonZeroU32::new(n);
        let key = "strict.example:443";
        let loose = RateLimitConfig { margin: 1, requests_per_second: rps(50), ..RateLimitConfig::default() };
        let a = RateBudget::shared(key, &loose);
        assert_eq!((a.margin(), a.requests_per_second()), (1, rps(50)));
        let strict = RateLimitConfig { margin: 5, requests_per_second: rps(10), ..RateLimitConfig::default() };
        let b = RateBudget::shared(key, &strict);
        assert!(Arc::ptr_eq(&a, &b));
        assert_eq!((a.margin(), a.requests_per_second()), (5, rps(10)));
        // A later, looser sharer loosens nothing; one without a fixed quota keeps the existing one.
        let c = RateBudget::shared(key, &RateLimitConfig { margin: 0, ..RateLimitConfig::default() });
        assert_eq!((c.margin(), c.requests_per_second()), (5, rps(10)));
        RateBudget::shared(key, &loose);
        assert_eq!((a.margin(), a.requests_per_second()), (5, rps(10)));
    }

    #[tokio::test(start_paused = true)]
    async fn a_tightened_quota_paces_every_sharer() {
        let key = "paced.example:443";
        let rps = |n| NonZeroU32::new(n);
        let fast =
            RateBudget::shared(key, &RateLimitConfig { requests_per_second: rps(1000), ..RateLimitConfig::default() });
        let _slow = RateBudget::shared(
            key,
            &RateLimitConfig { requests_per_second: rps(2), burst: rps(1), ..RateLimitConfig::default() },
        );
        let start = std::time::Instant::now();
        for _ in 0..3 {
            fast.acquire().await;
        }
        // governor measures real time: 3 calls at 2/s with a burst of 1 take at least a second.
        assert!(start.elapsed() >= Duration::from_millis(900), "{:?}", start.elapsed());
    }

    #[test]
    fn a_quota_slower_than_one_a_second_holds_and_the_slower_quota_wins() {
        let key = "slow.example:443";
        let config = |rps: Option<u32>, interval_ms: Option<u64>| RateLimitConfig {
            requests_per_second: rps.and_then(NonZeroU32::new),
            min_interval: interval_ms.map(Duration::from_millis),
            ..RateLimitConfig::default()
        };
        let budget = RateBudget::shared(key, &config(Some(4), None));
        assert_eq!(budget.min_interval(), Some(Duration::from_millis(250)));
        assert_eq!(budget.requests_per_second(), NonZeroU32::new(4));
        RateBudget::shared(key, &config(None, Some(1200)));
        assert_eq!(budget.min_interval(), Some(Duration::from_millis(1200)), "50 a minute");
        assert_eq!(budget.requests_per_second(), None, "slower than one a second");
        RateBudget::shared(key, &config(Some(10), Some(500)));
        assert_eq!(budget.min_interval(), Some(Duration::from_millis(1200)), "a faster sharer loosens nothing");
        let both = RateBudget::new("both", &config(Some(2), Some(800)));
        assert_eq!(both.min_interval(), Some(Duration::from_millis(800)), "the slower of the two");
        assert_eq!(RateBudget::new("zero", &config(None, Some(0))).min_interval(), None);
    }

    #[tokio::test]
    async fn a_min_interval_paces_requests() {
        let budget = RateBudget::new(
            "paced-interval",
            &RateLimitConfig { min_interval: Some(Duration::from_millis(200)), ..RateLimitConfig::default() },
        );
        let start = std::time::Instant::now();
        for _ in 0..4 {
            budget.acquire().await;
        }
        // A burst of one, then one every 200 ms (governor measures real time).
        assert!(start.elapsed() >= Duration::from_millis(550), "{:?}", start.elapsed());
    }

    #[test]
    fn tenant_keys_hash_the_credential() {
        let origin = url::Url::parse("https://api.slack.com/").unwrap();
        let key = tenant_key("slack", &origin, "xoxp-secret-1");
        assert!(key.starts_with("slack:api.slack.com:443:") && !key.contains("secret"), "{key}");
        assert_eq!(key, tenant_key("slack", &origin, "xoxp-secret-1"));
        assert_ne!(key, tenant_key("slack", &origin, "xoxp-secret-2"));
        assert_ne!(key, tenant_key("other", &origin, "xoxp-secret-1"));
    }

    #[tokio::test(start_paused = true)]
    async fn holds_requests_at_the_margin_until_reset() {
        let budget = RateBudget::new("k", &RateLimitConfig { margin: 1, ..RateLimitConfig::default() });
        let mut headers = HeaderMap::new();
        headers.insert("x-rate-limit-remaining", HeaderValue::from_static("2"));
        let reset = jiff::Timestamp::now().as_second() + 30;
        headers.insert("x-rate-limit-reset", HeaderValue::from_str(&reset.to_string()).unwrap());
        budget.observe(&headers);
        let start = Instant::now();
        budget.acquire().await; // 2 -> 1
        assert!(start.elapsed() < Duration::from_secs(1));
        budget.acquire().await; // at the margin: waits for the reset
        assert!(start.elapsed() >= Duration::from_secs(28), "{:?}", start.elapsed());
    }

    #[test]
    fn a_vendors_own_header_names_and_reset_formats_are_read() {
        let date = jiff::Timestamp::from_second(1_800_000_000).unwrap();
        let named = |format| RateLimitHeaders {
            limit: vec!["ratelimit-limit".into()],
            remaining: vec!["ratelimit-remaining".into()],
            reset: vec!["ratelimit-reset".into()],
            reset_format: format,
        };
        let answer = |reset: String| {
            headers(&[
                ("ratelimit-limit", "100".into()),
                ("ratelimit-remaining", "7".into()),
                ("ratelimit-reset", reset),
                ("date", http_date(date)),
            ])
        };
        let delta = named(ResetFormat::DeltaSeconds).read(&answer("30".into())).unwrap();
        assert_eq!((delta.limit, delta.remaining, delta.reset_epoch), (Some(100), 7, Some(1_800_000_030)));
        assert_eq!(delta.until_reset().map(|d| d.as_secs()), Some(30), "measured on the vendor's clock");
        let dated =
            named(ResetFormat::HttpDate).read(&answer(http_date(date + jiff::SignedDuration::from_secs(90)))).unwrap();
        assert_eq!(dated.reset_epoch, Some(1_800_000_090));
        let epoch = named(ResetFormat::EpochSeconds).read(&answer("1800000005".into())).unwrap();
        assert_eq!(epoch.reset_epoch, Some(1_800_000_005));
        assert_eq!(RateLimitSnapshot::from_headers(&answer("30".into())), None, "not the default names");
        // A budget reads its own vendor's names.
        let config = RateLimitConfig { headers: named(ResetFormat::DeltaSeconds), ..RateLimitConfig::default() };
        let budget = RateBudget::new("named.example:443", &config);
        assert_eq!(budget.read(&answer("30".into())).map(|s| s.remaining), Some(7));
    }

    fn headers(pairs: &[(&'static str, String)]) -> HeaderMap {
        let mut headers = HeaderMap::new();
        for (name, value) in pairs {
            headers.insert(*name, HeaderValue::from_str(value).unwrap());
        }
        headers
    }

    fn http_date(at: jiff::Timestamp) -> String {
        at.strftime("%a, %d %b %Y %H:%M:%S GMT").to_string()
    }

    #[test]
    fn the_reset_is_measured_on_the_vendors_clock() {
        let host = jiff::Timestamp::now();
        // Host an hour fast: the vendor's clock is an hour behind, its reset 30 s after its own now.
        let vendor = host - jiff::SignedDuration::from_hours(1);
        let fast_host = headers(&[
            ("x-rate-limit-remaining", "0".into()),
            ("x-rate-limit-reset", (vendor.as_second() + 30).to_string()),
            ("date", http_date(vendor)),
        ]);
        let wait = RateLimitSnapshot::from_headers(&fast_host).unwrap().until_reset().unwrap();
        assert!((Duration::from_secs(30)..Duration::from_secs(31)).contains(&wait), "{wait:?}");
        // Host ten minutes slow: on the host's clock the reset would be 630 s away.
        let vendor = host + jiff::SignedDuration::from_mins(10);
        let slow_host = headers(&[
            ("x-rate-limit-remaining", "0".into()),
            ("x-rate-limit-reset", (vendor.as_second() + 30).to_string()),
            ("date", http_date(vendor)),
        ]);
        let wait = RateLimitSnapshot::from_headers(&slow_host).unwrap().until_reset().unwrap();
        assert!((Duration::from_secs(30)..Duration::from_secs(31)).contains(&wait), "{wait:?}");
    }

    #[tokio::test(start_paused = true)]
    async fn a_budget_at_the_margin_without_a_reset_probes_after_a_bounded_wait() {
        let budget = RateBudget::new("probe", &RateLimitConfig { margin: 2, ..RateLimitConfig::default() });
        budget.observe(&headers(&[("x-rate-limit-remaining", "1".into())]));
        let start = Instant::now();
        // Nothing but a response could lift this hold before: the request never went and it hung for ever.
        tokio::time::timeout(Duration::from_secs(3600), budget.acquire()).await.expect("the probe must go");
        let first = start.elapsed();
        assert!(first >= PROBE_AFTER && first < PROBE_AFTER + Duration::from_secs(1), "{first:?}");
        // Only one probe per period: the next request waits for the next period (or a response).
        tokio::time::timeout(Duration::from_secs(3600), budget.acquire()).await.expect("a second probe");
        assert!(start.elapsed() >= PROBE_AFTER * 2, "{:?}", start.elapsed());
        // A response with budget left lifts the hold at once.
        budget.observe(&headers(&[("x-rate-limit-remaining", "50".into())]));
        let before = Instant::now();
        budget.acquire().await;
        assert!(before.elapsed() < Duration::from_millis(10));
    }

    #[tokio::test(start_paused = true)]
    async fn a_reset_hours_away_holds_no_longer_than_the_longest_hold() {
        let budget = RateBudget::new("far", &RateLimitConfig { margin: 0, ..RateLimitConfig::default() });
        let far = jiff::Timestamp::now().as_second() + 10 * 3600;
        budget.observe(&headers(&[("x-rate-limit-remaining", "0".into()), ("x-rate-limit-reset", far.to_string())]));
        let start = Instant::now();
        tokio::time::timeout(Duration::from_secs(11 * 3600), budget.acquire()).await.unwrap();
        assert!(start.elapsed() <= MAX_RESET_HOLD + Duration::from_secs(1), "{:?}", start.elapsed());
    }

    proptest::proptest! {
        #[test]
        fn rate_limit_headers_never_panic(
            remaining in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..24),
            reset in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..24),
            date in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..40),
            numbers in (proptest::prelude::any::<u64>(), proptest::prelude::any::<u64>(), proptest::prelude::any::<i64>()),
        ) {
            let mut map = HeaderMap::new();
            for (name, bytes) in [("x-rate-limit-remaining", remaining), ("x-rate-limit-reset", reset), ("date", date)] {
                if let Ok(value) = HeaderValue::from_bytes(&bytes) {
                    map.insert(name, value);
                }
            }
            let budget = RateBudget::new("prop", &RateLimitConfig::default());
            budget.observe(&map);
            if let Some(snapshot) = RateLimitSnapshot::from_headers(&map) {
                let _ = snapshot.until_reset();
            }
            let (remaining, reset, server) = numbers;
            let snapshot = RateLimitSnapshot { limit: None, remaining, reset_epoch: Some(reset), server_epoch: Some(server) };
            let _ = snapshot.until_reset();
            let _ = until_epoch(reset);
        }
    }
}
