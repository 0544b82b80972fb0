//! Splitting a component's TOML table into the shared settings it takes and its own keys.
//!
//! Every component's configuration refuses unknown keys (`#[serde(deny_unknown_fields)]`), so a typo is
//! an error naming the key instead of a setting silently ignored. serde's `flatten` cannot embed the
//! shared structs in such a configuration (it turns `deny_unknown_fields` off in practice), so
//! [`ComponentTable`] does the embedding by hand: [`shared`](ComponentTable::shared) takes a group's keys
//! out of the table and sets each over the component's defaults, and [`own`](ComponentTable::own)
//! deserialises what is left into the component's own struct, unknown keys refused. Every error is
//! keyed at the key as the user wrote it, so the CLI can add `sources[i].` or `sinks.NAME.` and its line.

use serde::de::DeserializeOwned;
use toml::{Table, Value};

use super::{ConfigError, SharedSettings};

/// A key's old spelling, still read (with a warning) as its new one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Alias {
    /// The deprecated spelling.
    pub old: &'static str,
    /// The key it now is.
    pub new: &'static str,
}

/// A component's TOML table on its way to the component's configuration: the shared settings it takes
/// ([`shared`](Self::shared), over the component's defaults), then its own keys ([`own`](Self::own),
/// into a struct that refuses unknown keys). serde's `flatten` cannot embed the shared structs instead:
/// it does not work together with `deny_unknown_fields`. Every error is keyed at the key as written.
///
/// ```
/// use logcrawl_core::config::{ComponentTable, ConfigError, HttpSettings, Table};
///
/// #[derive(Debug, serde::Deserialize)]
/// #[serde(deny_unknown_fields)]
/// struct Config {
///     page_size: u32,
///     #[serde(skip, default = "http")]
///     http: HttpSettings,
/// }
///
/// fn http() -> HttpSettings {
///     HttpSettings { timeout: std::time::Duration::from_secs(30), ..HttpSettings::DEFAULT }
/// }
///
/// fn read(table: &Table) -> Result<Config, ConfigError> {
///     let mut keys = ComponentTable::new(table);
///     Ok(Config { http: keys.shared(http())?, ..keys.own()? })
/// }
///
/// let config = read(&"page_size = 5\nretry_attempts = 2".parse().unwrap()).unwrap();
/// assert_eq!((config.page_size, config.http.retry_attempts), (5, 2));
/// let typo = read(&"page_size = 5\nretry_atempts = 2".parse().unwrap()).unwrap_err();
/// assert_eq!(typo.key(), "retry_atempts");
/// let bad = read(&"page_size = 5\ntimeout = \"soon\"".parse().unwrap()).unwrap_err();
/// assert_eq!(bad.key(), "timeout");
/// ```
#[derive(Debug, Clone)]
pub struct ComponentTable {
    /// The keys not taken yet.
    rest: Table,
    /// The shared keys taken so far, for the message about an unknown key.
    shared_keys: Vec<&'static str>,
    /// `(new, old)` for each deprecated key read as its new spelling, to name errors as written.
    renamed: Vec<(&'static str, String)>,
}

impl ComponentTable {
    /// Starts from a copy of `table`.
    pub fn new(table: &Table) -> Self {
        Self { rest: table.clone(), shared_keys: Vec::new(), renamed: Vec::new() }
    }

    /// The common case in one call: the component's own configuration `T` and the shared settings `S`
    /// read over `defaults` (see [`shared`](Self::shared) and [`own`](Self::own)).
    pub fn split<T: DeserializeOwned, S: SharedSettings>(table: &Table, defaults: S) -> Result<(T, S), ConfigError> {
        let mut keys = Self::new(table);
        let shared = keys.shared(defaults)?;
        Ok((keys.own()?, shared))
    }

    /// Reads each alias's old spelling as its new one, logging a warning that names both. Giving both
    /// spellings is an error: which one should win would be a guess.
    pub fn with_aliases(mut self, aliases: &[Alias]) -> Result<Self, ConfigError> {
        for alias in aliases {
            let Some(value) = self.rest.remove(alias.old) else { continue };
            if self.rest.contains_key(alias.new) {
                return Err(ConfigError::new(
                    alias.old,
                    format!(
                        "is the deprecated spelling of `{}`, which is given too: keep only `{}`",
                        alias.new, alias.new
                    ),
                ));
            }
            tracing::warn!(key = alias.old, "`{}` is deprecated: write `{}` (it means the same)", alias.old, alias.new);
            self.rest.insert(alias.new.to_owned(), value);
            self.renamed.push((alias.new, alias.old.to_owned()));
        }
        Ok(self)
    }

    /// Whether the table (after aliases) gives `key`: for a default that depends on whether a key was
    /// set (Datadog's `max_retry_wait` follows `retry_max_delay` unless given).
    pub fn contains(&self, key: &str) -> bool {
        self.rest.contains_key(key)
    }

    /// Takes `S`'s keys out of the table and sets each given one over `defaults`, then checks the result.
    /// An error names the key as written.
    pub fn shared<S: SharedSettings>(&mut self, mut defaults: S) -> Result<S, ConfigError> {
        self.shared_keys.extend_from_slice(S::KEYS);
        for key in S::KEYS {
            if let Some(value) = self.rest.remove(*key) {
                defaults.set(key, value).map_err(|message| ConfigError::new(self.as_written(key), message))?;
            }
        }
        defaults.validate().map_err(|err| ConfigError::new(self.as_written(err.key()), err.message().to_owned()))?;
        Ok(defaults)
    }

    /// Deserialises the keys left into the component's own configuration `T`, which should refuse
    /// unknown keys (`#[serde(deny_unknown_fields)]`). An unknown key's error lists the shared keys taken
    /// too; an error about one key (unknown, missing, duplicate, a bad value) is keyed at it, nested keys
    /// dotted (`auth.password`).
    pub fn own<T: DeserializeOwned>(self) -> Result<T, ConfigError> {
        Value::Table(self.rest.clone()).try_into::<T>().map_err(|err| self.own_error(&err))
    }

    fn own_error(&self, err: &toml::de::Error) -> ConfigError {
        let mut message = err.message().trim().to_owned();
        let field = ["unknown field `", "missing field `", "duplicate field `"]
            .iter()
            .find_map(|marker| message.split(marker).nth(1).and_then(|rest| rest.split('`').next()))
            .map(str::to_owned);
        // toml's own text ends with "in `a.b`" when it knows where the value was.
        let text = err.to_string();
        let path = text.lines().rev().find_map(|l| l.trim().strip_prefix("in `")?.strip_suffix('`')).map(str::to_owned);
        let key = match (path, field) {
            (Some(path), Some(field)) if path != field && !path.ends_with(&format!(".{field}")) => {
                format!("{path}.{field}")
            }
            (Some(path), _) => path,
            (None, Some(field)) => field,
            (None, None) => String::new(),
        };
        if message.starts_with("unknown field `") && !self.shared_keys.is_empty() {
            let shared: Vec<String> = self.shared_keys.iter().map(|k| format!("`{k}`")).collect();
            message = format!("{message}, or a shared setting: {}", shared.join(", "));
        }
        ConfigError::new(self.as_written(&key), message)
    }

    /// `key` as the configuration spells it: the deprecated spelling when that is what was given.
    fn as_written(&self, key: &str) -> String {
        let (top, rest) = key.split_once('.').map_or((key, None), |(top, rest)| (top, Some(rest)));
        let top = self.renamed.iter().find(|(new, _)| *new == top).map_or(top, |(_, old)| old.as_str());
        match rest {
            Some(rest) => format!("{top}.{rest}"),
            None => top.to_owned(),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use serde::Deserialize;

    use super::*;
    use crate::config::{DeliverySettings, HttpSettings};

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Own {
        base_url: String,
        #[serde(default)]
        page_size: u32,
        #[serde(default)]
        auth: Option<Auth>,
        #[serde(skip, default = "http")]
        http: HttpSettings,
    }

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Auth {
        #[allow(dead_code, reason = "read only to be refused")]
        user: String,
    }

    fn http() -> HttpSettings {
        HttpSettings { timeout: Duration::from_secs(45), ..HttpSettings::DEFAULT }
    }

    const ALIASES: &[Alias] = &[
        Alias { old: "retry_max_attempts", new: "retry_attempts" },
        Alias { old: "retry_base_delay", new: "retry_initial_delay" },
    ];

    fn read(text: &str) -> Result<Own, ConfigError> {
        let mut keys = ComponentTable::new(&text.parse().unwrap()).with_aliases(ALIASES)?;
        Ok(Own { http: keys.shared(http())?, ..keys.own()? })
    }

    #[test]
    fn own_and_shared_keys_each_go_to_their_struct() {
        let own = read("base_url = \"u\"\npage_size = 3\nretry_attempts = 2\nmax_retry_wait = \"1m\"").unwrap();
        assert_eq!((own.base_url.as_str(), own.page_size, own.auth.is_none()), ("u", 3, true));
        assert_eq!(own.http, HttpSettings { retry_attempts: 2, max_retry_wait: Duration::from_secs(60), ..http() });
        assert_eq!(read("base_url = \"u\"").unwrap().http, http(), "the component's defaults stay");
    }

    #[test]
    fn an_unknown_key_is_named_exactly_and_the_message_lists_both_kinds_of_keys() {
        let err = read("base_url = \"u\"\npage_sise = 3").unwrap_err();
        assert_eq!(err.key(), "page_sise");
        let message = err.message();
        assert!(message.starts_with("unknown field `page_sise`, expected one of `base_url`"), "{message}");
        assert!(
            message.contains("or a shared setting: `timeout`") && message.contains("`max_retry_wait`"),
            "{message}"
        );
        // A misspelt shared key is unknown to both structs: named the same way.
        assert_eq!(read("base_url = \"u\"\nretry_atempts = 3").unwrap_err().key(), "retry_atempts");
        // A shared key the component does not take (delivery settings here) is unknown too.
        assert_eq!(read("base_url = \"u\"\nlinger = \"1s\"").unwrap_err().key(), "linger");
    }

    #[test]
    fn errors_about_one_key_name_it() {
        let bad_shared = read("base_url = \"u\"\ntimeout = \"soon\"").unwrap_err();
        assert_eq!(bad_shared.key(), "timeout");
        assert!(bad_shared.message().contains("\"soon\""), "{bad_shared}");
        assert_eq!(read("base_url = \"u\"\nrequests_per_second = 0").unwrap_err().key(), "requests_per_second");
        let together = read("base_url = \"u\"\nretry_max_delay = \"1ms\"").unwrap_err();
        assert_eq!(together.key(), "retry_max_delay");
        assert_eq!(read("base_url = \"u\"\npage_size = \"big\"").unwrap_err().key(), "page_size");
        assert_eq!(read("page_size = 3").unwrap_err().key(), "base_url", "missing");
        assert_eq!(read("base_url = \"u\"\nauth = { usr = \"x\" }").unwrap_err().key(), "auth.usr");
        assert_eq!(read("base_url = \"u\"\nauth = { user = 5 }").unwrap_err().key(), "auth.user");
    }

    #[test]
    fn deprecated_spellings_are_read_as_the_new_ones_and_named_as_written() {
        let own = read("base_url = \"u\"\nretry_max_attempts = 7\nretry_base_delay = \"10ms\"").unwrap();
        assert_eq!(own.http.retry_attempts, 7);
        assert_eq!(own.http.retry_initial_delay, Duration::from_millis(10));
        let bad = read("base_url = \"u\"\nretry_max_attempts = \"seven\"").unwrap_err();
        assert_eq!(bad.key(), "retry_max_attempts");
        let zero = read("base_url = \"u\"\nretry_max_attempts = 0").unwrap_err();
        assert_eq!(zero.key(), "retry_max_attempts", "{zero}");
        let both = read("base_url = \"u\"\nretry_max_attempts = 7\nretry_attempts = 2").unwrap_err();
        assert_eq!(both.key(), "retry_max_attempts");
        assert!(both.message().contains("keep only `retry_attempts`"), "{both}");
    }

    #[test]
    fn two_groups_of_shared_keys_can_be_taken() {
        let delivery = DeliverySettings {
            batch_max_records: 10,
            batch_max_bytes: 100,
            linger: Duration::ZERO,
            max_in_flight: 1,
            dead_letter_max_bytes: 1,
        };
        let mut keys = ComponentTable::new(&"base_url = \"u\"\ntimeout = \"2s\"\nlinger = \"5s\"".parse().unwrap());
        assert!(keys.contains("timeout"));
        let http = keys.shared(http()).unwrap();
        let delivery = keys.shared(delivery).unwrap();
        assert!(!keys.contains("timeout"), "taken");
        let own: Own = keys.own().unwrap();
        assert_eq!(
            (http.timeout, delivery.linger, own.base_url.as_str()),
            (Duration::from_secs(2), Duration::from_secs(5), "u")
        );
    }
}
