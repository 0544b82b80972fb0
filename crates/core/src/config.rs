//! Small helpers shared by every component's configuration.

use std::time::Duration;

use serde::{Deserialize, Deserializer};

/// Parses a human duration: `"15s"`, `"500ms"`, `"1m30s"`, `"18h"`, `"2 days"`, `"90d"` (a day is 24 h).
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let invalid = |err: &dyn std::fmt::Display| {
        format!("invalid duration {text:?} (expected e.g. \"15s\", \"500ms\", \"1h30m\", \"7d\"): {err}")
    };
    let span: jiff::Span = text.trim().parse().map_err(|err| invalid(&err))?;
    let signed = span.to_duration(jiff::SpanRelativeTo::days_are_24_hours()).map_err(|err| invalid(&err))?;
    Duration::try_from(signed).map_err(|_| format!("invalid duration {text:?}: must not be negative"))
}

/// `#[serde(deserialize_with = "logcrawl_core::config::duration")]` for human durations.
pub fn duration<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Duration, D::Error> {
    let text = String::deserialize(deserializer)?;
    parse_duration(&text).map_err(serde::de::Error::custom)
}

/// Like [`duration`], for `Option<Duration>` fields (use with `#[serde(default)]`).
pub fn opt_duration<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<Duration>, D::Error> {
    let text = Option::<String>::deserialize(deserializer)?;
    text.map(|t| parse_duration(&t).map_err(serde::de::Error::custom)).transpose()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_friendly_durations() {
        assert_eq!(parse_duration("15s").unwrap(), Duration::from_secs(15));
        assert_eq!(parse_duration("500ms").unwrap(), Duration::from_millis(500));
        assert_eq!(parse_duration("1h30m").unwrap(), Duration::from_secs(5400));
        assert_eq!(parse_duration("18h").unwrap(), Duration::from_secs(18 * 3600));
        assert_eq!(parse_duration("90d").unwrap(), Duration::from_secs(90 * 86400));
        assert_eq!(parse_duration("2 days").unwrap(), Duration::from_secs(2 * 86400));
        assert!(parse_duration("fifteen").unwrap_err().contains("fifteen"));
        assert!(parse_duration("-5s").is_err());
    }
}
