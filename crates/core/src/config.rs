//! What every component's configuration shares: the one [`ConfigError`], human durations, the shared
//! settings ([`HttpSettings`], [`DeliverySettings`]) with one spelling for each knob, and
//! [`ComponentTable`], which splits a component's TOML table into those and the component's own keys.

use std::borrow::Cow;
use std::fmt;
use std::time::Duration;

use serde::{Deserialize, Deserializer};

mod settings;
mod table;

pub use settings::{DeliverySettings, HttpSettings, SharedSettings};
pub use table::{Alias, ComponentTable};
/// Re-exported: a component's configuration arrives as a TOML table ([`ComponentTable::new`]).
pub use toml::{Table, Value};

/// `value` of `key` if it lies in `range`, else an error saying where it must lie.
pub fn within<T: PartialOrd + fmt::Display>(
    key: &'static str,
    value: T,
    range: std::ops::RangeInclusive<T>,
) -> Result<T, ConfigError> {
    if range.contains(&value) {
        Ok(value)
    } else {
        Err(ConfigError::new(key, format!("{value} is not within {}..={}", range.start(), range.end())))
    }
}

/// A configuration a connector or sink cannot start with: which key, what is wrong, and (once known)
/// which component. The one error type of every component's constructor, so the CLI places any of them
/// at the key's line the same way. Messages never contain a secret's value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    component: Option<String>,
    key: Cow<'static, str>,
    message: String,
}

impl ConfigError {
    /// An error about `key` (a field name, or a dotted path such as `auth.password_env`).
    pub fn new(key: impl Into<Cow<'static, str>>, message: impl Into<String>) -> Self {
        Self { component: None, key: key.into(), message: message.into() }
    }

    /// The same error, saying which component it is about (e.g. `sink "dd" (datadog)`).
    #[must_use]
    pub fn in_component(mut self, component: impl Into<String>) -> Self {
        self.component = Some(component.into());
        self
    }

    /// The key at fault.
    pub fn key(&self) -> &str {
        &self.key
    }

    /// What is wrong with it.
    pub fn message(&self) -> &str {
        &self.message
    }

    /// The component, when it was given.
    pub fn component(&self) -> Option<&str> {
        self.component.as_deref()
    }
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(component) = &self.component {
            write!(f, "{component}: ")?;
        }
        write!(f, "`{}`: {}", self.key, self.message)
    }
}

impl std::error::Error for ConfigError {}

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
