//! The `[sinks.NAME]` table of a Datadog sink, its defaults, and the site → intake URL mapping.

use std::time::Duration;

use logcrawl_core::config::{Alias, ComponentTable, Table};
use logcrawl_core::{DeliverySettings, ExposeSecret, HttpSettings, SecretString};
use logcrawl_http::Url;
use serde::Deserialize;

/// Every Datadog site the intake runs on, by its site parameter (`site = "…"`).
pub const SITES: &[&str] = &[
    "datadoghq.com",
    "us3.datadoghq.com",
    "us5.datadoghq.com",
    "datadoghq.eu",
    "ap1.datadoghq.com",
    "ap2.datadoghq.com",
    "ddog-gov.com",
    "us2.ddog-gov.com",
    "uk1.datadoghq.com",
];

/// The default site (US1).
pub const DEFAULT_SITE: &str = "datadoghq.com";

/// The intake path, appended to `endpoint` unless it already ends with it.
pub const INTAKE_PATH: &str = "/api/v2/logs";

/// The intake's hard cap on entries per request.
pub const MAX_BATCH_RECORDS: usize = 1000;

/// The intake's hard cap on the uncompressed body of a request (5 MB).
pub const MAX_BATCH_BYTES: usize = 5_000_000;

/// Default target for the uncompressed body of a request: below the cap, like Vector's Datadog logs sink.
pub const DEFAULT_BATCH_MAX_BYTES: usize = 4_250_000;

/// The intake's cap on one log entry (1 MB). Larger entries are cut by the sink first.
pub const MAX_LOG_BYTES: usize = 1_000_000;

/// Smallest `max_log_bytes` accepted: room for the fixed attributes and some message.
pub const MIN_LOG_BYTES: usize = 1024;

/// The intake ignores logs older than this (18 h).
pub const MAX_AGE: Duration = Duration::from_secs(18 * 3600);

/// The intake ignores logs further than this in the future (2 h).
pub const MAX_FUTURE: Duration = Duration::from_secs(2 * 3600);

/// Environment variable read for the API key when `api_key` is absent from the configuration.
pub const API_KEY_ENV: &str = "DD_API_KEY";

/// Body compression.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Compression {
    /// `Content-Encoding: gzip` (the default, as Datadog recommends), levels 0–9, default
    /// [`DEFAULT_GZIP_LEVEL`].
    #[default]
    Gzip,
    /// `Content-Encoding: zstd`, levels 1–22, default [`DEFAULT_ZSTD_LEVEL`]. About a fifth of the CPU
    /// of gzip at level 6 and smaller bodies, but not among the encodings the intake's API reference
    /// lists (`identity`, `gzip`, `deflate`): opt-in (see the crate documentation).
    Zstd,
    /// Plain JSON.
    None,
}

impl Compression {
    /// The levels `compression_level` may take with this compression.
    pub fn levels(self) -> std::ops::RangeInclusive<u32> {
        match self {
            Compression::Gzip => 0..=9,
            Compression::Zstd => 1..=22,
            Compression::None => 0..=u32::MAX,
        }
    }

    /// The level used when `compression_level` is not given.
    pub fn default_level(self) -> u32 {
        match self {
            Compression::Gzip => DEFAULT_GZIP_LEVEL,
            Compression::Zstd => DEFAULT_ZSTD_LEVEL,
            Compression::None => 0,
        }
    }
}

/// gzip level when none is configured (zlib's default).
pub const DEFAULT_GZIP_LEVEL: u32 = 6;

/// zstd level when none is configured: the Datadog Agent's default for its zstd logs payloads, and the
/// cheapest of the regular levels.
pub const DEFAULT_ZSTD_LEVEL: u32 = 1;

/// The shared HTTP settings' defaults for Datadog, the Agent's: 30 s timeout, 8 attempts, waits from
/// 1–2 s up to 120 s; a `Retry-After` longer than the retry cap gives the send up.
pub const HTTP_DEFAULTS: HttpSettings = HttpSettings {
    timeout: Duration::from_secs(30),
    requests_per_second: None,
    retry_attempts: 8,
    retry_initial_delay: Duration::from_secs(2),
    retry_max_delay: Duration::from_secs(120),
    max_retry_wait: Duration::from_secs(120),
};

/// The shared delivery settings' defaults for Datadog: full 1000-entry requests of at most 4 250 000
/// bytes, four in flight, 1 s linger.
pub const DELIVERY_DEFAULTS: DeliverySettings = DeliverySettings {
    batch_max_records: MAX_BATCH_RECORDS,
    batch_max_bytes: DEFAULT_BATCH_MAX_BYTES,
    linger: Duration::from_secs(1),
    max_in_flight: 4,
    dead_letter_max_bytes: logcrawl_core::deadletter::DEFAULT_MAX_BYTES,
};

/// Keys read under their old names, with a warning: Datadog said `retry_max_attempts` and
/// `retry_base_delay` before every component spelled the shared HTTP settings one way.
pub const DEPRECATED_KEYS: &[Alias] = &[
    Alias { old: "retry_max_attempts", new: "retry_attempts" },
    Alias { old: "retry_base_delay", new: "retry_initial_delay" },
];

/// Configuration of a Datadog sink: the `[sinks.NAME]` table without its `type = "datadog"` key, read
/// with [`DatadogConfig::from_table`] (serde alone reads only the sink's own keys).
///
/// Every field has a default except the API key, which may also come from `DD_API_KEY`.
/// See the crate documentation for the table of keys.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DatadogConfig {
    /// Datadog site, e.g. `datadoghq.eu`. One of [`SITES`].
    pub site: String,
    /// Overrides the site's intake URL (`http://…` for a proxy or tests). `/api/v2/logs` is appended
    /// unless the path already ends with it.
    pub endpoint: Option<String>,
    /// The API key (`DD-API-KEY`). When absent, `DD_API_KEY` from the environment.
    pub api_key: Option<SecretString>,
    /// `gzip` (default), `zstd` or `none`.
    pub compression: Compression,
    /// The level of `compression`: gzip 0–9 (default 6), zstd 1–22 (default 1); `None`: the default.
    pub compression_level: Option<u32>,
    /// Longest serialized log entry; longer ones have their message cut (default and maximum 1 000 000).
    pub max_log_bytes: usize,
    /// `hostname` of every log when the source sets none.
    pub hostname: Option<String>,
    /// Also send the source's `key:value` tags as top-level attributes (Datadog's partner guideline).
    pub tag_attributes: bool,
    /// The shared HTTP settings, defaults [`HTTP_DEFAULTS`]. `retry_initial_delay` is the upper bound of
    /// the first retry wait (2 s: waits of 1–2 s, 2–4 s, … as the Agent); `max_retry_wait` defaults to
    /// `retry_max_delay` when the table does not give it.
    #[serde(skip)]
    pub http: HttpSettings,
    /// The shared delivery settings, defaults [`DELIVERY_DEFAULTS`]; at most [`MAX_BATCH_RECORDS`]
    /// records and [`MAX_BATCH_BYTES`] bytes per request.
    #[serde(skip)]
    pub delivery: DeliverySettings,
}

impl Default for DatadogConfig {
    fn default() -> Self {
        Self {
            site: DEFAULT_SITE.to_owned(),
            endpoint: None,
            api_key: None,
            compression: Compression::Gzip,
            compression_level: None,
            max_log_bytes: MAX_LOG_BYTES,
            hostname: None,
            tag_attributes: false,
            http: HTTP_DEFAULTS,
            delivery: DELIVERY_DEFAULTS,
        }
    }
}

impl DatadogConfig {
    /// Reads a `[sinks.NAME]` table: the sink's own keys, the shared HTTP and delivery settings over
    /// Datadog's defaults, and the [`DEPRECATED_KEYS`]. Errors name the key as written.
    pub fn from_table(table: &Table) -> Result<Self, ConfigError> {
        let mut keys = ComponentTable::new(table).with_aliases(DEPRECATED_KEYS)?;
        let wait_given = keys.contains("max_retry_wait");
        let mut http = keys.shared(HTTP_DEFAULTS)?;
        if !wait_given {
            // As before the key existed: a `Retry-After` longer than the retry cap gives the send up.
            http.max_retry_wait = http.retry_max_delay;
        }
        Ok(Self { http, delivery: keys.shared(DELIVERY_DEFAULTS)?, ..keys.own()? })
    }
}

/// A configuration the sink cannot run with: the one error type of every component.
pub use logcrawl_core::ConfigError;

/// An error about `key` of the sink named `sink`.
pub(crate) fn config_error(
    sink: &str,
    key: impl Into<std::borrow::Cow<'static, str>>,
    message: impl Into<String>,
) -> ConfigError {
    ConfigError::new(key, message).in_component(format!("sink {sink:?} (datadog)"))
}

/// The Logs intake URL of a site: `https://http-intake.logs.<site>/api/v2/logs`.
///
/// The site is matched case-insensitively; an unknown one is an error listing the valid sites.
pub fn intake_url(site: &str) -> Result<Url, String> {
    let wanted = site.trim().to_ascii_lowercase();
    let Some(known) = SITES.iter().find(|s| **s == wanted) else {
        return Err(format!("unknown Datadog site {site:?}; valid sites are: {}", SITES.join(", ")));
    };
    Url::parse(&format!("https://http-intake.logs.{known}{INTAKE_PATH}")).map_err(|err| err.to_string())
}

/// The intake URL for an `endpoint` override: scheme http(s), no credentials, `/api/v2/logs` appended
/// unless present.
pub fn endpoint_url(endpoint: &str) -> Result<Url, String> {
    let mut url = Url::parse(endpoint.trim()).map_err(|err| format!("not a URL: {err}"))?;
    if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none_or(str::is_empty) {
        return Err("must be an http:// or https:// URL with a host".into());
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err("must not carry credentials; the API key goes in `api_key`".into());
    }
    if url.query().is_some() || url.fragment().is_some() {
        return Err("must not have a query string or fragment".into());
    }
    if !url.path().trim_end_matches('/').ends_with(INTAKE_PATH) {
        let path = format!("{}{INTAKE_PATH}", url.path().trim_end_matches('/'));
        url.set_path(&path);
    }
    Ok(url)
}

/// The API key from the config, else from `env(API_KEY_ENV)`. Empty keys count as absent.
pub(crate) fn resolve_api_key(
    configured: Option<&SecretString>,
    env: impl FnOnce(&str) -> Option<String>,
) -> Option<SecretString> {
    if let Some(key) = configured {
        let trimmed = key.expose_secret().trim();
        return (!trimmed.is_empty()).then(|| SecretString::from(trimmed.to_owned()));
    }
    let from_env = env(API_KEY_ENV)?;
    let trimmed = from_env.trim();
    (!trimmed.is_empty()).then(|| SecretString::from(trimmed.to_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_site_maps_to_its_intake_host() {
        let expected = [
            ("datadoghq.com", "http-intake.logs.datadoghq.com"),
            ("us3.datadoghq.com", "http-intake.logs.us3.datadoghq.com"),
            ("us5.datadoghq.com", "http-intake.logs.us5.datadoghq.com"),
            ("datadoghq.eu", "http-intake.logs.datadoghq.eu"),
            ("ap1.datadoghq.com", "http-intake.logs.ap1.datadoghq.com"),
            ("ap2.datadoghq.com", "http-intake.logs.ap2.datadoghq.com"),
            ("ddog-gov.com", "http-intake.logs.ddog-gov.com"),
            ("us2.ddog-gov.com", "http-intake.logs.us2.ddog-gov.com"),
            ("uk1.datadoghq.com", "http-intake.logs.uk1.datadoghq.com"),
        ];
        assert_eq!(expected.len(), SITES.len());
        for (site, host) in expected {
            let url = intake_url(site).unwrap();
            assert_eq!(url.as_str(), format!("https://{host}/api/v2/logs"), "{site}");
        }
        assert_eq!(intake_url(" DatadogHQ.EU ").unwrap().host_str(), Some("http-intake.logs.datadoghq.eu"));
    }

    #[test]
    fn unknown_site_lists_the_valid_ones() {
        let err = intake_url("datadoghq.org").unwrap_err();
        assert!(err.contains("datadoghq.org"), "{err}");
        for site in SITES {
            assert!(err.contains(site), "{err} lacks {site}");
        }
    }

    #[test]
    fn endpoint_gets_the_intake_path_once() {
        assert_eq!(endpoint_url("http://127.0.0.1:8080").unwrap().as_str(), "http://127.0.0.1:8080/api/v2/logs");
        assert_eq!(endpoint_url("http://proxy/dd/").unwrap().as_str(), "http://proxy/dd/api/v2/logs");
        assert_eq!(endpoint_url("https://proxy/api/v2/logs").unwrap().as_str(), "https://proxy/api/v2/logs");
        assert!(endpoint_url("ftp://proxy").is_err());
        assert!(endpoint_url("http://user:pw@proxy").unwrap_err().contains("credentials"));
        assert!(endpoint_url("http://proxy/?dd-api-key=x").is_err());
        assert!(endpoint_url("proxy:80").is_err());
    }

    #[test]
    fn api_key_comes_from_config_then_environment() {
        let configured = SecretString::from(" abc ");
        let key = resolve_api_key(Some(&configured), |_| panic!("env must not be read"));
        assert_eq!(key.unwrap().expose_secret(), "abc");
        let key = resolve_api_key(None, |name| (name == "DD_API_KEY").then(|| "fromenv".to_owned()));
        assert_eq!(key.unwrap().expose_secret(), "fromenv");
        assert!(resolve_api_key(None, |_| None).is_none());
        assert!(resolve_api_key(None, |_| Some("  ".into())).is_none());
        assert!(resolve_api_key(Some(&SecretString::from("")), |_| Some("x".into())).is_none());
    }

    fn read(text: &str) -> Result<DatadogConfig, ConfigError> {
        DatadogConfig::from_table(&text.parse().unwrap())
    }

    #[test]
    fn reads_own_and_shared_keys_with_defaults_and_rejects_unknown_keys() {
        let config = read(
            "site = \"datadoghq.eu\"\napi_key = \"k\"\ncompression = \"none\"\ntimeout = \"10s\"\nlinger = \"250ms\"\n\
             tag_attributes = true",
        )
        .unwrap();
        assert_eq!(config.site, "datadoghq.eu");
        assert_eq!(config.compression, Compression::None);
        assert_eq!(config.http.timeout, Duration::from_secs(10));
        assert_eq!(config.delivery.linger, Duration::from_millis(250));
        assert_eq!(config.delivery.batch_max_bytes, DEFAULT_BATCH_MAX_BYTES);
        assert!(config.tag_attributes);
        assert_eq!(read("").unwrap().http, HTTP_DEFAULTS);
        assert_eq!(read("").unwrap().delivery, DELIVERY_DEFAULTS);
        let err = read("sitee = \"x\"").unwrap_err();
        assert_eq!(err.key(), "sitee");
        assert!(
            err.message().contains("or a shared setting: `timeout`") && err.message().contains("`linger`"),
            "{err}"
        );
        let err = read("compression = \"brotli\"").unwrap_err();
        assert_eq!(err.key(), "compression");
        assert!(err.to_string().contains("brotli") && err.to_string().contains("zstd"), "{err}");
        let zstd = read("compression = \"zstd\"\ncompression_level = 3").unwrap();
        assert_eq!((zstd.compression, zstd.compression_level), (Compression::Zstd, Some(3)));
        assert_eq!(read("").unwrap().compression_level, None);
        assert_eq!(read("max_in_flight = \"four\"").unwrap_err().key(), "max_in_flight");
    }

    #[test]
    fn the_old_retry_spellings_still_load() {
        let config = read("retry_max_attempts = 3\nretry_base_delay = \"500ms\"").unwrap();
        assert_eq!(config.http.retry_attempts, 3);
        assert_eq!(config.http.retry_initial_delay, Duration::from_millis(500));
        let same = read("retry_attempts = 3\nretry_initial_delay = \"500ms\"").unwrap();
        assert_eq!(config.http, same.http);
        assert_eq!(read("retry_base_delay = 2").unwrap_err().key(), "retry_base_delay");
        assert_eq!(read("retry_max_attempts = 3\nretry_attempts = 3").unwrap_err().key(), "retry_max_attempts");
    }

    #[test]
    fn the_longest_server_wait_follows_the_retry_cap_unless_given() {
        assert_eq!(read("retry_max_delay = \"30s\"").unwrap().http.max_retry_wait, Duration::from_secs(30));
        let given = read("retry_max_delay = \"30s\"\nmax_retry_wait = \"5m\"").unwrap();
        assert_eq!(given.http.max_retry_wait, Duration::from_secs(300));
    }
}
