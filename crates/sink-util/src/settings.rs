//! The shared delivery settings ([`DeliverySettings`]) checked against what a backend accepts.
//!
//! The keys are spelled and read once (in `logcrawl_core::config`); each backend still has its own
//! bounds (Datadog takes at most 1000 records per request, LTS 100 000), stated as [`DeliveryBounds`],
//! so every sink refuses an out-of-range value with the same kind of message, naming the key.

use std::fmt::Display;
use std::ops::RangeInclusive;

use logcrawl_core::{ConfigError, DeliverySettings};

/// What a backend accepts of each delivery setting (`linger` is the crawler's business and has none).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeliveryBounds {
    /// `batch_max_records`.
    pub records: RangeInclusive<usize>,
    /// `batch_max_bytes`.
    pub bytes: RangeInclusive<usize>,
    /// `max_in_flight`.
    pub in_flight: RangeInclusive<usize>,
    /// Whose bounds they are, for the message (`"the intake's limit"`).
    pub why: &'static str,
}

impl DeliveryBounds {
    /// `settings` if every value is within these bounds; else an error naming the first key out of them.
    pub fn check(&self, settings: DeliverySettings) -> Result<DeliverySettings, ConfigError> {
        within("batch_max_records", settings.batch_max_records, &self.records, self.why)?;
        within("batch_max_bytes", settings.batch_max_bytes, &self.bytes, self.why)?;
        within("max_in_flight", settings.max_in_flight, &self.in_flight, self.why)?;
        Ok(settings)
    }
}

fn within<T: PartialOrd + Display>(
    key: &'static str,
    value: T,
    range: &RangeInclusive<T>,
    why: &str,
) -> Result<(), ConfigError> {
    if range.contains(&value) {
        return Ok(());
    }
    Err(ConfigError::new(key, format!("{value} is not in {}-{} ({why})", range.start(), range.end())))
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[test]
    fn the_first_value_out_of_bounds_is_named() {
        let bounds =
            DeliveryBounds { records: 1..=1000, bytes: 1024..=5000, in_flight: 1..=4, why: "the backend's limit" };
        let ok = DeliverySettings {
            batch_max_records: 1000,
            batch_max_bytes: 1024,
            linger: Duration::ZERO,
            max_in_flight: 4,
            dead_letter_max_bytes: 1 << 20,
        };
        assert_eq!(bounds.check(ok), Ok(ok));
        let err = bounds.check(DeliverySettings { batch_max_records: 1001, ..ok }).unwrap_err();
        assert_eq!((err.key(), err.message()), ("batch_max_records", "1001 is not in 1-1000 (the backend's limit)"));
        assert_eq!(bounds.check(DeliverySettings { batch_max_bytes: 10, ..ok }).unwrap_err().key(), "batch_max_bytes");
        assert_eq!(bounds.check(DeliverySettings { max_in_flight: 0, ..ok }).unwrap_err().key(), "max_in_flight");
    }
}
