//! The settings several components share, each knob spelled one way everywhere: [`HttpSettings`] (every
//! connector and every HTTP sink) and [`DeliverySettings`] (every sink that batches for a backend).
//!
//! They are plain data: `logcrawl-http` turns [`HttpSettings`] into its `HttpConfig` and `RetryPolicy`,
//! and `logcrawl-sink-util` checks [`DeliverySettings`] against what a backend accepts. Each component
//! keeps its own defaults (Okta's timeout is 45 s, Datadog retries 8 times), so the structs have no
//! `Default` that would hide a component's choice: a component starts from [`HttpSettings::DEFAULT`] or
//! spells its defaults out, and [`ComponentTable::shared`](super::ComponentTable::shared) reads the keys
//! a configuration gives over them. What every key means, for users: the README's "Shared settings".

use std::num::NonZeroU32;
use std::time::Duration;

use serde::Serialize;
use toml::Value;

use super::{ConfigError, parse_duration};

/// A group of keys that several components read the same way. [`ComponentTable::shared`] takes a
/// group's [`KEYS`](SharedSettings::KEYS) out of a component's table and sets each one, so each
/// component's own keys and the group's keys are both checked with unknown keys refused (serde's
/// `flatten` cannot do that together with `deny_unknown_fields`).
///
/// [`ComponentTable::shared`]: super::ComponentTable::shared
pub trait SharedSettings: Sized {
    /// Every key of the group, as written in configuration (a unit test holds each list to its struct).
    const KEYS: &'static [&'static str];

    /// Sets `key`, one of [`KEYS`](SharedSettings::KEYS), from its TOML value; `Err` is what is wrong
    /// with the value.
    fn set(&mut self, key: &str, value: Value) -> Result<(), String>;

    /// Checks the values together (each alone was checked by [`set`](SharedSettings::set)); the error
    /// names the key at fault.
    fn validate(&self) -> Result<(), ConfigError>;
}

/// How a component talks HTTP: the same six keys for every connector and every HTTP sink.
///
/// `logcrawl_http::HttpConfig::with_settings` applies them to a client. What happens when a server asks
/// for a wait longer than [`max_retry_wait`](Self::max_retry_wait) is the component's rule, stated in
/// its documentation (connectors and Datadog end the run; LTS waits that long and tries again).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct HttpSettings {
    /// `timeout`: the whole request, body included.
    pub timeout: Duration,
    /// `requests_per_second`: a client-side quota on top of what the vendor's rate-limit headers say
    /// (none: only the headers rule).
    pub requests_per_second: Option<NonZeroU32>,
    /// `retry_attempts`: attempts per request on timeouts, resets, 408 and 5xx, the first included
    /// (`1` disables retries).
    pub retry_attempts: u32,
    /// `retry_initial_delay`: the scale of the first retry wait; each later wait doubles, with jitter
    /// (the n-th is random in `[d·2ⁿ⁻¹/2, d·2ⁿ⁻¹]`).
    pub retry_initial_delay: Duration,
    /// `retry_max_delay`: no single retry wait is longer.
    pub retry_max_delay: Duration,
    /// `max_retry_wait`: the longest wait a server may impose (`Retry-After`, a rate-limit reset).
    pub max_retry_wait: Duration,
}

impl HttpSettings {
    /// The settings of a component that states no other: 60 s timeout, no quota, 5 attempts from 1 s up
    /// to 120 s apart, server waits up to 5 min. They are `logcrawl_http::HttpConfig::new`'s defaults.
    pub const DEFAULT: Self = Self {
        timeout: Duration::from_secs(60),
        requests_per_second: None,
        retry_attempts: 5,
        retry_initial_delay: Duration::from_secs(1),
        retry_max_delay: Duration::from_secs(120),
        max_retry_wait: Duration::from_secs(300),
    };
}

impl SharedSettings for HttpSettings {
    const KEYS: &'static [&'static str] = &[
        "timeout",
        "requests_per_second",
        "retry_attempts",
        "retry_initial_delay",
        "retry_max_delay",
        "max_retry_wait",
    ];

    fn set(&mut self, key: &str, value: Value) -> Result<(), String> {
        match key {
            "timeout" => self.timeout = duration(value)?,
            "requests_per_second" => self.requests_per_second = Some(typed(value)?),
            "retry_attempts" => self.retry_attempts = typed(value)?,
            "retry_initial_delay" => self.retry_initial_delay = duration(value)?,
            "retry_max_delay" => self.retry_max_delay = duration(value)?,
            "max_retry_wait" => self.max_retry_wait = duration(value)?,
            other => return Err(format!("`{other}` is not an HTTP setting")),
        }
        Ok(())
    }

    fn validate(&self) -> Result<(), ConfigError> {
        for (key, value) in [("timeout", self.timeout), ("max_retry_wait", self.max_retry_wait)] {
            if value.is_zero() {
                return Err(ConfigError::new(key, "must be longer than zero"));
            }
        }
        if self.retry_attempts == 0 {
            return Err(ConfigError::new("retry_attempts", "must be at least 1 (1 disables retries)"));
        }
        if self.retry_max_delay < self.retry_initial_delay {
            return Err(ConfigError::new("retry_max_delay", "must not be shorter than `retry_initial_delay`"));
        }
        Ok(())
    }
}

/// How a sink batches for its backend: the same four keys for every sink that has them. The backend's
/// bounds on each are the sink's (`logcrawl_sink_util::DeliveryBounds`); [`DeliverySettings::batch_limits`]
/// is what the sink answers to `Sink::batch_limits`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct DeliverySettings {
    /// `batch_max_records`: records per batch the crawler gathers, and per request.
    pub batch_max_records: usize,
    /// `batch_max_bytes`: bytes of encoded records per request, before compression.
    pub batch_max_bytes: usize,
    /// `linger`: how long a partial batch waits for more records while the stream is slow.
    pub linger: Duration,
    /// `max_in_flight`: batches of one stream sent at once (cursors are still committed in order).
    pub max_in_flight: usize,
    /// `dead_letter_max_bytes`: the most the sink's dead-letter file may hold (for sinks that set refused
    /// records aside); once full, a send that would add to it fails instead (nothing is dropped).
    pub dead_letter_max_bytes: u64,
}

impl DeliverySettings {
    /// The crawler's batching limits these settings ask for.
    pub fn batch_limits(&self) -> crate::BatchLimits {
        crate::BatchLimits { max_records: self.batch_max_records, linger: self.linger }
    }
}

impl SharedSettings for DeliverySettings {
    const KEYS: &'static [&'static str] =
        &["batch_max_records", "batch_max_bytes", "linger", "max_in_flight", "dead_letter_max_bytes"];

    fn set(&mut self, key: &str, value: Value) -> Result<(), String> {
        match key {
            "batch_max_records" => self.batch_max_records = typed(value)?,
            "batch_max_bytes" => self.batch_max_bytes = typed(value)?,
            "linger" => self.linger = duration(value)?,
            "max_in_flight" => self.max_in_flight = typed(value)?,
            "dead_letter_max_bytes" => self.dead_letter_max_bytes = typed(value)?,
            other => return Err(format!("`{other}` is not a delivery setting")),
        }
        Ok(())
    }

    fn validate(&self) -> Result<(), ConfigError> {
        let counts = [
            ("batch_max_records", self.batch_max_records),
            ("batch_max_bytes", self.batch_max_bytes),
            ("max_in_flight", self.max_in_flight),
            ("dead_letter_max_bytes", usize::try_from(self.dead_letter_max_bytes).unwrap_or(usize::MAX)),
        ];
        match counts.into_iter().find(|(_, value)| *value == 0) {
            Some((key, _)) => Err(ConfigError::new(key, "must be at least 1")),
            None => Ok(()),
        }
    }
}

/// A value of the type serde reads it as (numbers, booleans, strings).
fn typed<T: serde::de::DeserializeOwned>(value: Value) -> Result<T, String> {
    value.try_into().map_err(|err: toml::de::Error| err.message().trim().to_owned())
}

/// A human duration (`"30s"`, `"1m30s"`).
fn duration(value: Value) -> Result<Duration, String> {
    match value {
        Value::String(text) => parse_duration(&text),
        other => Err(format!("expected a duration such as \"30s\", found {}", other.type_str())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The keys of the struct as serde names its fields.
    fn field_names<S: Serialize>(settings: &S) -> Vec<String> {
        let value = serde_json::to_value(settings).unwrap();
        value.as_object().unwrap().keys().cloned().collect()
    }

    /// Every key is one field and every field one key, and `set` reaches each of them.
    fn keys_are_the_fields<S: SharedSettings + Serialize + PartialEq + Copy + std::fmt::Debug>(
        base: S,
        samples: &[(&str, Value)],
    ) {
        let mut fields = field_names(&base);
        let mut keys: Vec<String> = S::KEYS.iter().map(|k| (*k).to_owned()).collect();
        fields.sort();
        keys.sort();
        assert_eq!(keys, fields, "KEYS must list exactly the struct's fields");
        assert_eq!(samples.len(), S::KEYS.len(), "one sample per key");
        for (key, value) in samples {
            let mut changed = base;
            changed.set(key, value.clone()).unwrap_or_else(|err| panic!("{key}: {err}"));
            assert_ne!(changed, base, "setting `{key}` changed nothing");
        }
        let mut unknown = base;
        assert!(unknown.set("no_such_key", Value::Integer(1)).is_err());
    }

    #[test]
    fn http_keys_are_its_fields() {
        keys_are_the_fields(
            HttpSettings::DEFAULT,
            &[
                ("timeout", Value::String("7s".into())),
                ("requests_per_second", Value::Integer(3)),
                ("retry_attempts", Value::Integer(2)),
                ("retry_initial_delay", Value::String("10ms".into())),
                ("retry_max_delay", Value::String("1m".into())),
                ("max_retry_wait", Value::String("30s".into())),
            ],
        );
    }

    #[test]
    fn delivery_keys_are_its_fields() {
        let base = DeliverySettings {
            batch_max_records: 10,
            batch_max_bytes: 1000,
            linger: Duration::from_secs(1),
            max_in_flight: 1,
            dead_letter_max_bytes: 1 << 20,
        };
        keys_are_the_fields(
            base,
            &[
                ("batch_max_records", Value::Integer(5)),
                ("batch_max_bytes", Value::Integer(2048)),
                ("linger", Value::String("250ms".into())),
                ("max_in_flight", Value::Integer(4)),
                ("dead_letter_max_bytes", Value::Integer(4096)),
            ],
        );
    }

    #[test]
    fn values_are_checked_alone_and_together() {
        let mut http = HttpSettings::DEFAULT;
        assert!(http.set("timeout", Value::String("soon".into())).unwrap_err().contains("\"soon\""));
        assert!(http.set("timeout", Value::Integer(30)).unwrap_err().contains("expected a duration"));
        assert!(http.set("requests_per_second", Value::Integer(0)).unwrap_err().contains("nonzero"));
        assert!(http.set("retry_attempts", Value::Integer(-1)).is_err());
        assert_eq!(http, HttpSettings::DEFAULT, "a refused value changes nothing");
        let key = |settings: HttpSettings| settings.validate().unwrap_err().key().to_owned();
        assert_eq!(key(HttpSettings { timeout: Duration::ZERO, ..http }), "timeout");
        assert_eq!(key(HttpSettings { max_retry_wait: Duration::ZERO, ..http }), "max_retry_wait");
        assert_eq!(key(HttpSettings { retry_attempts: 0, ..http }), "retry_attempts");
        assert_eq!(key(HttpSettings { retry_max_delay: Duration::from_millis(1), ..http }), "retry_max_delay");
        http.validate().unwrap();
        let delivery = DeliverySettings {
            batch_max_records: 1,
            batch_max_bytes: 1,
            linger: Duration::ZERO,
            max_in_flight: 1,
            dead_letter_max_bytes: 1,
        };
        delivery.validate().unwrap();
        let err = DeliverySettings { max_in_flight: 0, ..delivery }.validate().unwrap_err();
        assert_eq!(err.key(), "max_in_flight");
        let err = DeliverySettings { dead_letter_max_bytes: 0, ..delivery }.validate().unwrap_err();
        assert_eq!(err.key(), "dead_letter_max_bytes");
    }
}
