//! Retry timing: the Datadog Agent's exponential backoff with equal jitter, and `Retry-After` parsing.

use std::time::Duration;

use reqwest::header::{HeaderMap, RETRY_AFTER};

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

/// The wait a `Retry-After` header asks for: delta-seconds or an HTTP date.
pub fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    let value = headers.get(RETRY_AFTER)?.to_str().ok()?.trim();
    if let Ok(secs) = value.parse::<f64>() {
        return (secs.is_finite() && secs >= 0.0).then(|| Duration::from_secs_f64(secs));
    }
    let when = jiff::fmt::rfc2822::parse(value).ok()?.timestamp();
    let wait = when.duration_since(jiff::Timestamp::now());
    Some(Duration::try_from(wait).unwrap_or(Duration::ZERO))
}

#[cfg(test)]
mod tests {
    use super::*;
    use reqwest::header::HeaderValue;

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
    fn retry_after_reads_seconds_and_dates() {
        let mut headers = HeaderMap::new();
        headers.insert(RETRY_AFTER, HeaderValue::from_static("3"));
        assert_eq!(retry_after(&headers), Some(Duration::from_secs(3)));
        headers.insert(RETRY_AFTER, HeaderValue::from_static("Wed, 21 Oct 2015 07:28:00 GMT"));
        assert_eq!(retry_after(&headers), Some(Duration::ZERO));
        headers.insert(RETRY_AFTER, HeaderValue::from_static("soon"));
        assert_eq!(retry_after(&headers), None);
    }
}
