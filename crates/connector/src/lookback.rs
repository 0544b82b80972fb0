//! Where a stream's very first run starts: the `initial_lookback` every connector takes, bounded by what
//! the vendor keeps and by what the sink still accepts.
//!
//! A first run reaching further back than the vendor's retention asks for nothing that exists (some
//! vendors refuse it outright); one reaching further back than the sink's max age fetches events the
//! sink will refuse (Datadog takes nothing older than 18 h). And a backfill takes time: its oldest events
//! must still be young enough when they arrive, so the start stays [`SAFETY_MARGIN`] inside the max age.

use std::time::Duration;

use logcrawl_core::ConfigError;

/// The `initial_lookback` of every connector unless it says otherwise: Datadog's max age.
pub const DEFAULT_INITIAL_LOOKBACK: Duration = Duration::from_secs(18 * 3600);

/// How far inside the sink's max age a first run starts (half the max age when that is shorter than
/// two margins).
pub const SAFETY_MARGIN: Duration = Duration::from_secs(600);

/// The first run's lookback: `configured` (default [`DEFAULT_INITIAL_LOOKBACK`]), refused when zero or
/// beyond the vendor's `retention` (a [`ConfigError`] on `initial_lookback` saying so, `vendor` naming
/// who keeps that long), and cut to stay [`SAFETY_MARGIN`] inside the sink's `max_age`.
pub fn initial_lookback(
    configured: Option<Duration>,
    retention: Duration,
    vendor: &str,
    max_age: Option<Duration>,
) -> Result<Duration, ConfigError> {
    let lookback = configured.unwrap_or(DEFAULT_INITIAL_LOOKBACK.min(retention));
    if lookback.is_zero() {
        return Err(ConfigError::new("initial_lookback", "must be more than zero"));
    }
    if lookback > retention {
        return Err(ConfigError::new(
            "initial_lookback",
            format!(
                "must be at most {}h: {vendor} keeps {} days",
                retention.as_secs() / 3600,
                retention.as_secs() / 86_400
            ),
        ));
    }
    Ok(within_max_age(lookback, max_age))
}

/// `lookback`, but never older than `max_age` minus [`SAFETY_MARGIN`].
pub fn within_max_age(lookback: Duration, max_age: Option<Duration>) -> Duration {
    match max_age {
        None => lookback,
        Some(max_age) => lookback.min(max_age - SAFETY_MARGIN.min(max_age / 2)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const fn hours(h: u64) -> Duration {
        Duration::from_secs(h * 3600)
    }

    #[test]
    fn the_lookback_stays_a_margin_inside_the_max_age() {
        assert_eq!(within_max_age(hours(18), Some(hours(18))), hours(18) - SAFETY_MARGIN);
        assert_eq!(within_max_age(hours(48), Some(hours(1))), Duration::from_secs(50 * 60));
        assert_eq!(within_max_age(hours(2), Some(hours(18))), hours(2));
        assert_eq!(within_max_age(Duration::from_secs(600), Some(Duration::from_secs(900))), Duration::from_secs(450));
        assert_eq!(within_max_age(hours(48), None), hours(48));
    }

    #[test]
    fn the_configured_lookback_is_checked_against_the_retention() {
        let days = |d: u64| hours(24 * d);
        assert_eq!(initial_lookback(None, days(90), "Okta", None).unwrap(), DEFAULT_INITIAL_LOOKBACK);
        assert_eq!(
            initial_lookback(None, hours(4), "X", None).unwrap(),
            hours(4),
            "the default stays within retention"
        );
        let err = initial_lookback(Some(days(91)), days(90), "Okta", None).unwrap_err();
        assert_eq!(err.key(), "initial_lookback");
        assert!(err.message().contains("2160h") && err.message().contains("Okta keeps 90 days"), "{err}");
        assert!(initial_lookback(Some(Duration::ZERO), days(90), "Okta", None).is_err());
        assert_eq!(
            initial_lookback(Some(days(7)), days(90), "Okta", Some(hours(18))).unwrap(),
            hours(18) - SAFETY_MARGIN
        );
    }
}
