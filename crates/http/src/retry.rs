//! Retry timing: the Datadog Agent's exponential backoff with equal jitter, and the waits servers ask for
//! (`Retry-After`, read against the server's own clock).
//!
//! Everything a server says about time is untrusted input. `Retry-After: 1e20` must not crash the process
//! and `Retry-After: 86400` must not silently freeze a stream for a day: the parsers here never panic
//! (a property test feeds them arbitrary strings), saturate absurd values instead of overflowing, and leave
//! the decision about a long wait to the caller, which caps it ([`crate::HttpConfig::max_server_wait`]).

use std::time::Duration;

use reqwest::header::{DATE, HeaderMap, RETRY_AFTER};

/// How often and how patiently to retry a retryable failure.
///
/// After the n-th consecutive failure (n ≥ 1) the wait is a random duration in `[base·2ⁿ⁻¹/2, base·2ⁿ⁻¹]`,
/// capped at `max_delay`: with the defaults 0.5–1 s, 1–2 s, 2–4 s, … as the Agent's logs sender does.
/// The randomness spreads retries of many streams apart.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Attempts in all, the first included. `1` disables retries.
    pub max_attempts: u32,
    /// Scale of the first wait.
    pub base_delay: Duration,
    /// No single wait is longer.
    pub max_delay: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self { max_attempts: 5, base_delay: Duration::from_secs(1), max_delay: Duration::from_secs(120) }
    }
}

impl From<&logcrawl_core::HttpSettings> for RetryPolicy {
    /// The policy of the shared settings `retry_attempts`, `retry_initial_delay` and `retry_max_delay`.
    fn from(settings: &logcrawl_core::HttpSettings) -> Self {
        Self {
            max_attempts: settings.retry_attempts,
            base_delay: settings.retry_initial_delay,
            max_delay: settings.retry_max_delay,
        }
    }
}

impl RetryPolicy {
    /// The wait after `failures` consecutive failures (1 for the first).
    pub fn delay(&self, failures: u32) -> Duration {
        let exp = failures.saturating_sub(1).min(30);
        let upper = self.base_delay.saturating_mul(1u32 << exp).min(self.max_delay);
        let lower = upper / 2;
        let spread = upper.saturating_sub(lower);
        lower + spread.mul_f64(fastrand::f64())
    }

    /// Whether another attempt is allowed after `attempts` attempts.
    pub fn allows_another(&self, attempts: u32) -> bool {
        attempts < self.max_attempts.max(1)
    }
}

/// What a server-requested wait (`Retry-After`) longer than allowed does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LongServerWait {
    /// A longer wait gives the request up at once: the run ends rather than stall, and the next one tries
    /// again.
    GiveUpAbove(Duration),
    /// A longer wait is cut to this and waited out.
    WaitAtMost(Duration),
}

impl LongServerWait {
    /// The longest wait this rule lets a server impose.
    pub fn limit(self) -> Duration {
        match self {
            Self::GiveUpAbove(limit) | Self::WaitAtMost(limit) => limit,
        }
    }
}

/// Why [`RetryState::next_wait`] says to stop.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StopRetrying {
    /// [`RetryPolicy::max_attempts`] attempts were made.
    Exhausted {
        /// Attempts made, the failed ones.
        attempts: u32,
    },
    /// The server asked for a longer wait than [`LongServerWait::GiveUpAbove`] allows.
    WaitTooLong {
        /// What it asked for.
        asked: Duration,
        /// What is allowed.
        limit: Duration,
    },
}

/// The retry bookkeeping of one request: how many attempts failed, and how long to wait before the next
/// one. The shared client's request loop and the sinks' delivery driver both count through this, so a
/// retry means the same everywhere: jittered backoff from [`RetryPolicy`], at least what the server asked
/// for, never past the policy's attempts, and never longer than the [`LongServerWait`] rule.
#[derive(Debug, Clone)]
pub struct RetryState {
    policy: RetryPolicy,
    long_wait: LongServerWait,
    failures: u32,
}

impl RetryState {
    /// A request about to be tried for the first time.
    pub fn new(policy: RetryPolicy, long_wait: LongServerWait) -> Self {
        Self { policy, long_wait, failures: 0 }
    }

    /// Checks a server-requested wait against the rule without counting a failure: the wait to obey (cut
    /// to the limit with [`LongServerWait::WaitAtMost`]), or why to stop.
    pub fn server_wait(&self, asked: Duration) -> Result<Duration, StopRetrying> {
        match self.long_wait {
            LongServerWait::GiveUpAbove(limit) if asked > limit => Err(StopRetrying::WaitTooLong { asked, limit }),
            rule => Ok(asked.min(rule.limit())),
        }
    }

    /// Counts a retryable failure and returns the wait before the next attempt: the policy's backoff, or
    /// what the server asked for (`asked`) if that is longer, within the rule.
    pub fn next_wait(&mut self, asked: Option<Duration>) -> Result<Duration, StopRetrying> {
        self.failures += 1;
        if !self.policy.allows_another(self.failures) {
            return Err(StopRetrying::Exhausted { attempts: self.failures });
        }
        let asked = asked.map(|asked| self.server_wait(asked)).transpose()?;
        Ok(self.policy.delay(self.failures).max(asked.unwrap_or_default()))
    }

    /// Failed attempts so far.
    pub fn failures(&self) -> u32 {
        self.failures
    }
}

/// The longest wait a header can express here: a hundred years. Larger values (`1e20`, `99999999999999`)
/// saturate to it, which is past any cap, so the caller refuses them with a clear error.
pub const LONGEST_SERVER_WAIT: Duration = Duration::from_secs(100 * 365 * 24 * 3600);

/// The wait a response's `Retry-After` header asks for: delta-seconds or an HTTP date, the date measured
/// against the response's own `Date` header (so a host clock that is off does not stretch or void it).
/// `None` when the header is absent or unreadable.
pub fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    let value = std::str::from_utf8(headers.get(RETRY_AFTER)?.as_bytes()).ok()?;
    parse_retry_after(value, server_clock(headers))
}

/// The server's clock when it answered: its `Date` header when that is a valid HTTP date, else ours.
pub fn server_clock(headers: &HeaderMap) -> jiff::Timestamp {
    server_date(headers).unwrap_or_else(jiff::Timestamp::now)
}

/// The response's `Date` header, when it is a valid HTTP date.
pub fn server_date(headers: &HeaderMap) -> Option<jiff::Timestamp> {
    std::str::from_utf8(headers.get(DATE)?.as_bytes()).ok().and_then(parse_http_date)
}

/// Parses a `Retry-After` value given the server's current time: delta-seconds (an integer; a decimal is
/// accepted too), or an HTTP date (IMF-fixdate, RFC 850, asctime). A date in the past is a wait of zero;
/// huge numbers saturate at [`LONGEST_SERVER_WAIT`]; negative, non-finite or unreadable values are `None`.
pub fn parse_retry_after(value: &str, server_now: jiff::Timestamp) -> Option<Duration> {
    let value = value.trim();
    if value.is_empty() {
        return None;
    }
    if value.bytes().all(|b| b.is_ascii_digit()) {
        // All digits: only overflow can make the parse fail, and an overflowing wait is a very long one.
        let secs = value.parse::<u64>().unwrap_or(u64::MAX);
        return Some(Duration::from_secs(secs).min(LONGEST_SERVER_WAIT));
    }
    if value.bytes().all(|b| b.is_ascii_digit() || matches!(b, b'.' | b'e' | b'E' | b'+' | b'-')) {
        let secs = value.parse::<f64>().ok().filter(|s| s.is_finite() && *s >= 0.0)?;
        return Some(Duration::try_from_secs_f64(secs).unwrap_or(LONGEST_SERVER_WAIT).min(LONGEST_SERVER_WAIT));
    }
    let when = parse_http_date(value)?;
    Some(Duration::try_from(when.duration_since(server_now)).unwrap_or(Duration::ZERO).min(LONGEST_SERVER_WAIT))
}

/// An HTTP date (RFC 9110 §5.6.7): IMF-fixdate `Sun, 06 Nov 1994 08:49:37 GMT`, and the obsolete RFC 850
/// `Sunday, 06-Nov-94 08:49:37 GMT` and asctime `Sun Nov  6 08:49:37 1994` forms recipients must accept.
pub fn parse_http_date(value: &str) -> Option<jiff::Timestamp> {
    let value = value.trim();
    if let Ok(zoned) = jiff::fmt::rfc2822::parse(value) {
        return Some(zoned.timestamp());
    }
    let civil = |format: &str, text: &str| {
        jiff::fmt::strtime::parse(format, text).ok()?.to_datetime().ok()?.to_zoned(jiff::tz::TimeZone::UTC).ok()
    };
    if let Some(rest) = value.strip_suffix(" GMT")
        && let Some(zoned) = civil("%A, %d-%b-%y %H:%M:%S", rest)
    {
        return Some(zoned.timestamp());
    }
    let squeezed = value.split_ascii_whitespace().collect::<Vec<_>>().join(" ");
    civil("%a %b %d %H:%M:%S %Y", &squeezed).map(|zoned| zoned.timestamp())
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use reqwest::header::HeaderValue;

    fn at(text: &str) -> jiff::Timestamp {
        text.parse().unwrap()
    }

    #[test]
    fn delays_follow_the_agents_schedule() {
        let policy = RetryPolicy::default();
        for _ in 0..100 {
            let d1 = policy.delay(1);
            assert!(d1 >= Duration::from_millis(500) && d1 <= Duration::from_secs(1), "{d1:?}");
            let d3 = policy.delay(3);
            assert!(d3 >= Duration::from_secs(2) && d3 <= Duration::from_secs(4), "{d3:?}");
            let d20 = policy.delay(20);
            assert!(d20 >= Duration::from_secs(60) && d20 <= Duration::from_secs(120), "{d20:?}");
        }
    }

    #[test]
    fn retry_state_counts_attempts_and_applies_the_long_wait_rule() {
        let policy = RetryPolicy {
            max_attempts: 3,
            base_delay: Duration::from_millis(10),
            max_delay: Duration::from_millis(20),
        };
        let mut state = RetryState::new(policy, LongServerWait::GiveUpAbove(Duration::from_secs(60)));
        assert!(state.next_wait(None).unwrap() <= Duration::from_millis(10));
        assert_eq!(state.next_wait(Some(Duration::from_secs(5))), Ok(Duration::from_secs(5)));
        assert_eq!(state.next_wait(None), Err(StopRetrying::Exhausted { attempts: 3 }));
        let mut state = RetryState::new(policy, LongServerWait::GiveUpAbove(Duration::from_secs(60)));
        let asked = Duration::from_secs(61);
        let limit = Duration::from_secs(60);
        assert_eq!(state.next_wait(Some(asked)), Err(StopRetrying::WaitTooLong { asked, limit }));
        let mut cut = RetryState::new(policy, LongServerWait::WaitAtMost(Duration::from_secs(30)));
        assert_eq!(cut.next_wait(Some(Duration::from_secs(3600))), Ok(Duration::from_secs(30)));
        assert_eq!(cut.failures(), 1);
    }

    #[test]
    fn retry_after_reads_seconds_and_dates() {
        let mut headers = HeaderMap::new();
        headers.insert(RETRY_AFTER, HeaderValue::from_static("3"));
        assert_eq!(retry_after(&headers), Some(Duration::from_secs(3)));
        headers.insert(RETRY_AFTER, HeaderValue::from_static("Wed, 21 Oct 2015 07:28:00 GMT"));
        assert_eq!(retry_after(&headers), Some(Duration::ZERO));
        headers.insert(RETRY_AFTER, HeaderValue::from_static("soon"));
        assert_eq!(retry_after(&headers), None);
    }

    #[test]
    fn absurd_values_saturate_instead_of_panicking() {
        let now = jiff::Timestamp::now();
        // `Duration::from_secs_f64(1e20)` panics: this used to kill the stream's task.
        assert_eq!(parse_retry_after("1e20", now), Some(LONGEST_SERVER_WAIT));
        assert_eq!(parse_retry_after("99999999999999999999999", now), Some(LONGEST_SERVER_WAIT));
        assert_eq!(parse_retry_after("1.5", now), Some(Duration::from_millis(1500)));
        for garbage in ["-1", "NaN", "inf", "1e400", "", "  ", "-0.5", "1..2", "e"] {
            assert_eq!(parse_retry_after(garbage, now), None, "{garbage:?}");
        }
    }

    #[test]
    fn an_http_date_is_measured_against_the_servers_clock() {
        // The server's clock says 07:28:00; the host's is irrelevant.
        let server_now = at("2015-10-21T07:28:00Z");
        for date in ["Wed, 21 Oct 2015 07:28:30 GMT", "Wednesday, 21-Oct-15 07:28:30 GMT", "Wed Oct 21 07:28:30 2015"] {
            assert_eq!(parse_retry_after(date, server_now), Some(Duration::from_secs(30)), "{date}");
        }
        let mut headers = HeaderMap::new();
        headers.insert(DATE, HeaderValue::from_static("Wed, 21 Oct 2015 07:28:00 GMT"));
        headers.insert(RETRY_AFTER, HeaderValue::from_static("Wed, 21 Oct 2015 07:29:00 GMT"));
        assert_eq!(retry_after(&headers), Some(Duration::from_secs(60)));
        assert_eq!(server_clock(&headers), server_now);
        assert_eq!(parse_http_date("Sun Nov  6 08:49:37 1994"), Some(at("1994-11-06T08:49:37Z")));
    }

    proptest! {
        #[test]
        fn retry_after_never_panics(value in any::<String>(), offset in any::<i32>()) {
            let now = jiff::Timestamp::from_second(i64::from(offset)).unwrap_or_else(|_| jiff::Timestamp::now());
            if let Some(wait) = parse_retry_after(&value, now) {
                prop_assert!(wait <= LONGEST_SERVER_WAIT);
            }
            let _ = parse_http_date(&value);
        }

        #[test]
        fn retry_after_headers_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..64)) {
            if let Ok(value) = HeaderValue::from_bytes(&bytes) {
                let mut headers = HeaderMap::new();
                headers.insert(RETRY_AFTER, value.clone());
                headers.insert(DATE, value);
                let _ = retry_after(&headers);
            }
        }

        #[test]
        fn delta_seconds_are_read_exactly(secs in 0u64..10_000_000) {
            prop_assert_eq!(parse_retry_after(&secs.to_string(), jiff::Timestamp::now()), Some(Duration::from_secs(secs)));
        }
    }
}
