//! The keys of a `[[sources]]` entry with `connector = "onepassword"`, and what each may be.

use std::num::NonZeroU32;
use std::time::Duration;

use logcrawl_connector::{origin, streams};
use logcrawl_core::config::within;
use logcrawl_core::{ConfigError, HttpSettings, SecretString};
use logcrawl_http::Url;
use serde::Deserialize;

use crate::stream::Feature;

/// Events per request by default: 1Password's largest page, the fewest requests of the scarce budget.
pub const DEFAULT_PAGE_SIZE: u32 = 1000;
/// 1Password's largest page.
pub const MAX_PAGE_SIZE: u32 = 1000;
/// How long 1Password keeps events: a first run cannot reach further back.
pub const RETENTION: Duration = Duration::from_secs(120 * 24 * 3600);
/// The client-side quota by default, in requests per second for every stream of a token together.
///
/// 1Password allows an account 600 requests a minute and 30 000 an hour and announces neither in
/// headers, so the connector paces itself below both: 8 a second (a burst of 8) is at most 488 a
/// minute and 28 808 an hour, and leaves room for another tool on the same account.
pub const DEFAULT_REQUESTS_PER_SECOND: u32 = 8;
/// The shared HTTP settings' defaults for 1Password: a 30 s timeout, the [`DEFAULT_REQUESTS_PER_SECOND`]
/// quota, the shared defaults otherwise.
pub const HTTP_DEFAULTS: HttpSettings = HttpSettings {
    timeout: Duration::from_secs(30),
    requests_per_second: NonZeroU32::new(DEFAULT_REQUESTS_PER_SECOND),
    ..HttpSettings::DEFAULT
};

/// Where an account is hosted: the Events API host of each (`region` in configuration).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Region {
    /// `1password.com`: `https://events.1password.com`.
    Com,
    /// `1password.ca`: `https://events.1password.ca`.
    Ca,
    /// `1password.eu`: `https://events.1password.eu`.
    Eu,
    /// `ent.1password.com`: `https://events.ent.1password.com`.
    Ent,
}

impl Region {
    /// The Events API origin of the region.
    pub fn base_url(self) -> &'static str {
        match self {
            Region::Com => "https://events.1password.com/",
            Region::Ca => "https://events.1password.ca/",
            Region::Eu => "https://events.1password.eu/",
            Region::Ent => "https://events.ent.1password.com/",
        }
    }
}

/// Configuration of one 1Password account: its own keys of a `[[sources]]` entry, read by
/// [`OnePasswordConnector::from_table`](crate::OnePasswordConnector::from_table) beside the shared HTTP settings.
/// Its `Debug` shows no secret: the token prints as `[REDACTED]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OnePasswordConfig {
    /// The Events Reporting integration's bearer token.
    pub token: SecretString,
    /// Where the account is hosted (default `com`); not together with `base_url`.
    #[serde(default)]
    pub region: Option<Region>,
    /// An origin that replaces the region's host (a proxy, tests); not together with `region`.
    #[serde(default)]
    pub base_url: Option<String>,
    /// Which streams to crawl (default all three): `auditevents`, `signinattempts`, `itemusages`.
    #[serde(default)]
    pub streams: Option<Vec<String>>,
    /// Events per request, 1–1000 (default 1000).
    #[serde(default)]
    pub page_size: Option<u32>,
    /// How far back a first run starts (default `18h`, at most 120 days, and inside the sink's max age).
    #[serde(default, deserialize_with = "logcrawl_core::config::opt_duration")]
    pub initial_lookback: Option<Duration>,
}

impl OnePasswordConfig {
    /// The origin requests go to: `base_url`, else the region's host.
    pub(crate) fn origin(&self) -> Result<Url, ConfigError> {
        let text = match (&self.base_url, self.region) {
            (Some(_), Some(_)) => {
                return Err(ConfigError::new("base_url", "set `region` or `base_url`, not both"));
            }
            (Some(url), None) => url.as_str(),
            (None, region) => region.unwrap_or(Region::Com).base_url(),
        };
        origin::base_url(text, "https://events.1password.com")
    }

    /// The streams to crawl, in the order configured.
    pub(crate) fn features(&self) -> Result<Vec<Feature>, ConfigError> {
        streams::chosen(self.streams.as_deref(), &Feature::ALL, Feature::name)
    }

    /// The page size, checked.
    pub(crate) fn page_size(&self) -> Result<u32, ConfigError> {
        within("page_size", self.page_size.unwrap_or(DEFAULT_PAGE_SIZE), 1..=MAX_PAGE_SIZE)
    }
}
