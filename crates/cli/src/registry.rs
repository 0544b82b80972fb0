//! Which connectors and sinks this binary was built with, and how to build them from configuration.
//!
//! Every connector and sink is a cargo feature of the `logcrawl` package (`acme`, `okta`, `github`, `auth0`,
//! `onepassword`, `slack`, `duo`, `entra`, `google_workspace`, `office365`, `http`, `file`, `datadog`, `lts`;
//! `all-connectors`, `all-sinks`; all by default), and every one
//! declares its kind in its crate (`KIND`: its name, one line about it, its factory). This module is two
//! tables of those kinds, one line each behind its feature ([`CONNECTORS`], [`SINKS`]), plus the names of
//! every component logcrawl has, compiled in or not ([`CONNECTOR_NAMES`], [`SINK_NAMES`]): a
//! configuration that names a component left out of the build gets an error saying which feature to
//! enable, and `logcrawl connectors` lists them all.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use logcrawl_core::{BuildContext, ComponentKind, Connector, ConnectorKind, Sink, SinkKind};

use crate::config::{ConfigError, SinkConfig, SourceConfig};

/// Every connector compiled into this binary.
pub const CONNECTORS: &[ConnectorKind] = &[
    #[cfg(feature = "acme")]
    logcrawl_acme::KIND,
    #[cfg(feature = "okta")]
    logcrawl_okta::KIND,
    #[cfg(feature = "github")]
    logcrawl_github::KIND,
    #[cfg(feature = "auth0")]
    logcrawl_auth0::KIND,
    #[cfg(feature = "onepassword")]
    logcrawl_onepassword::KIND,
    #[cfg(feature = "slack")]
    logcrawl_slack::KIND,
    #[cfg(feature = "duo")]
    logcrawl_duo::KIND,
    #[cfg(feature = "entra")]
    logcrawl_entra::KIND,
    #[cfg(feature = "http")]
    logcrawl_http_source::KIND,
    #[cfg(feature = "google_workspace")]
    logcrawl_google_workspace::KIND,
    #[cfg(feature = "office365")]
    logcrawl_office365::KIND,
    // xtask:new-connector:kind (scaffolded connectors are listed above this line)
];

/// The name of every connector logcrawl has, compiled into this binary or not; each is also the cargo
/// feature that adds it.
pub const CONNECTOR_NAMES: &[&str] = &[
    "acme",
    "okta",
    "github",
    "auth0",
    "onepassword",
    "slack",
    "duo",
    "entra",
    "http",
    "google_workspace",
    "office365",
    // xtask:new-connector:name (scaffolded connectors are named above this line)
];

/// Every sink compiled into this binary.
pub const SINKS: &[SinkKind] = &[
    #[cfg(feature = "file")]
    logcrawl_sink_file::KIND,
    #[cfg(feature = "datadog")]
    logcrawl_sink_datadog::KIND,
    #[cfg(feature = "lts")]
    logcrawl_sink_lts::KIND,
];

/// The name of every sink logcrawl has, compiled into this binary or not; each is also the cargo feature
/// that adds it.
pub const SINK_NAMES: &[&str] = &["file", "datadog", "lts"];

/// The kind called `name` among the compiled `kinds`; else why not: left out of this build (with the
/// feature that adds it, when `known` has the name) or unknown (with the names there are).
pub fn find<C: ?Sized>(
    kinds: &[ComponentKind<C>],
    known: &[&str],
    what: &str,
    name: &str,
) -> Result<ComponentKind<C>, String> {
    if let Some(kind) = kinds.iter().find(|kind| kind.name == name) {
        return Ok(*kind);
    }
    if known.contains(&name) {
        Err(format!(
            "{what} {name:?} is not compiled into this binary; rebuild with `cargo build -p logcrawl --features {name}`"
        ))
    } else {
        Err(format!("unknown {what} {name:?} (known: {})", known.join(", ")))
    }
}

/// `acme, okta` — the names of the compiled-in kinds.
pub fn kind_names<C: ?Sized>(kinds: &[ComponentKind<C>]) -> String {
    kinds.iter().map(|kind| kind.name).collect::<Vec<_>>().join(", ")
}

/// Every name of `known` with its kind's one line when it is compiled in (`None`: left out).
pub fn listing<C: ?Sized>(
    kinds: &[ComponentKind<C>],
    known: &[&'static str],
) -> Vec<(&'static str, Option<&'static str>)> {
    known.iter().map(|name| (*name, kinds.iter().find(|kind| kind.name == *name).map(|kind| kind.about))).collect()
}

/// A component's configuration error, placed under `prefix` at the key it names.
fn keyed(prefix: &str, err: &logcrawl_core::ConfigError) -> ConfigError {
    let key = if err.key().is_empty() { prefix.to_owned() } else { format!("{prefix}.{}", err.key()) };
    ConfigError::new(key, err.message())
}

/// Builds the sink a `[sinks.NAME]` table describes. Sinks that can refuse single records keep them in
/// their dead-letter file under `state_dir` (`dead-letter/NAME.ndjson`, created on the first letter).
pub fn build_sink(config: &SinkConfig, state_dir: &Path) -> Result<Arc<dyn Sink>, ConfigError> {
    let prefix = format!("sinks.{}", config.name);
    let kind = find(SINKS, SINK_NAMES, "sink", &config.kind)
        .map_err(|message| ConfigError::new(format!("{prefix}.type"), message))?;
    let context = BuildContext::new(&config.name).with_state_dir(state_dir);
    kind.build(&config.settings, &context).map_err(|err| keyed(&prefix, &err))
}

/// Builds the connector a `[[sources]]` entry describes. `max_age` is its sink's max age (`None` when the
/// connector is built without its sink): a first run need not reach further back than the sink accepts.
pub fn build_connector(
    source: &SourceConfig,
    state_dir: &Path,
    max_age: Option<Duration>,
) -> Result<Arc<dyn Connector>, ConfigError> {
    let prefix = format!("sources[{}]", source.index);
    let kind = find(CONNECTORS, CONNECTOR_NAMES, "connector", &source.connector)
        .map_err(|message| ConfigError::new(format!("{prefix}.connector"), message))?;
    let context = BuildContext::new(&source.name).with_state_dir(state_dir).with_max_age(max_age);
    kind.build(&source.settings, &context).map_err(|err| keyed(&prefix, &err))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sink(kind: &str, text: &str) -> Result<Arc<dyn Sink>, ConfigError> {
        let config = SinkConfig { name: "dd".into(), kind: kind.into(), settings: text.parse().unwrap() };
        build_sink(&config, Path::new("/nonexistent/state"))
    }

    #[cfg(feature = "datadog")]
    const DATADOG: &str = "endpoint = \"http://127.0.0.1:9\"\napi_key = \"k\"\n";

    fn source(text: &str) -> Result<Arc<dyn Connector>, ConfigError> {
        let config = crate::config::Config::parse(
            &format!("[sinks.out]\ntype = \"file\"\npath = \"-\"\n\n[[sources]]\nname = \"s\"\nsink = \"out\"\n{text}"),
            &|_| None,
        )?;
        build_connector(&config.sources[0], Path::new("/nonexistent/state"), None)
    }

    #[test]
    #[cfg(feature = "all-sinks")]
    fn every_sink_is_in_the_table_under_its_name() {
        assert_eq!(SINKS.iter().map(|kind| kind.name).collect::<Vec<_>>(), SINK_NAMES);
        assert_eq!(kind_names(SINKS), SINK_NAMES.join(", "));
        assert!(listing(SINKS, SINK_NAMES).iter().all(|(_, about)| about.is_some_and(|a| !a.is_empty())));
    }

    #[test]
    #[cfg(feature = "all-connectors")]
    fn every_connector_is_in_the_table_under_its_name() {
        assert_eq!(CONNECTORS.iter().map(|kind| kind.name).collect::<Vec<_>>(), CONNECTOR_NAMES);
        assert_eq!(kind_names(CONNECTORS), CONNECTOR_NAMES.join(", "));
        assert!(listing(CONNECTORS, CONNECTOR_NAMES).iter().all(|(_, about)| about.is_some_and(|a| !a.is_empty())));
        // Each kind builds what says it is of that kind.
        let acme = source("connector = \"acme\"\nbase_url = \"http://127.0.0.1:9\"").unwrap();
        let okta = source("connector = \"okta\"\ndomain = \"acme.okta.com\"\ntoken = \"t\"").unwrap();
        assert_eq!((acme.kind(), okta.kind()), ("acme", "okta"));
    }

    #[test]
    fn a_connector_left_out_of_the_build_names_its_feature_and_an_unknown_one_the_known_ones() {
        let without_okta: Vec<ConnectorKind> = CONNECTORS.iter().filter(|kind| kind.name != "okta").copied().collect();
        let err = find(&without_okta, CONNECTOR_NAMES, "connector", "okta").unwrap_err();
        assert_eq!(
            err,
            "connector \"okta\" is not compiled into this binary; rebuild with `cargo build -p logcrawl --features okta`"
        );
        let listed = listing(&without_okta, CONNECTOR_NAMES);
        assert_eq!(listed.iter().map(|(name, _)| *name).collect::<Vec<_>>(), CONNECTOR_NAMES, "listed all the same");
        assert_eq!(listed.iter().find(|(name, _)| *name == "okta"), Some(&("okta", None)));
        let Err(err) = source("connector = \"nonesuch\"") else { panic!("built") };
        assert_eq!(err.key, "sources[0].connector");
        assert_eq!(err.message, format!("unknown connector \"nonesuch\" (known: {})", CONNECTOR_NAMES.join(", ")));
        assert!(CONNECTOR_NAMES.contains(&"acme") && CONNECTOR_NAMES.contains(&"okta"));
    }

    #[test]
    #[cfg(feature = "acme")]
    fn connector_errors_name_the_exact_key_own_or_shared() {
        let key = |text: &str| {
            source(&format!("connector = \"acme\"\nbase_url = \"http://127.0.0.1:9\"\n{text}")).err().map(|err| err.key)
        };
        assert_eq!(key(""), None);
        assert_eq!(key("page_sise = 5"), Some("sources[0].page_sise".into()));
        assert_eq!(key("page_size = 0"), Some("sources[0].page_size".into()));
        assert_eq!(key("retry_atempts = 2"), Some("sources[0].retry_atempts".into()));
        assert_eq!(key("timeout = \"soon\""), Some("sources[0].timeout".into()));
        assert_eq!(key("requests_per_second = 0"), Some("sources[0].requests_per_second".into()));
        assert_eq!(key("max_in_flight = 2"), Some("sources[0].max_in_flight".into()), "a sink's setting");
    }

    #[test]
    fn a_sink_left_out_of_the_build_names_its_feature_and_an_unknown_one_the_known_ones() {
        let without_lts: Vec<SinkKind> = SINKS.iter().filter(|kind| kind.name != "lts").copied().collect();
        let err = find(&without_lts, SINK_NAMES, "sink", "lts").unwrap_err();
        assert!(err.contains("not compiled into this binary") && err.contains("--features lts"), "{err}");
        assert_eq!(listing(&without_lts, SINK_NAMES).iter().find(|(name, _)| *name == "lts"), Some(&("lts", None)));
        let err = find(SINKS, SINK_NAMES, "sink", "kafka").unwrap_err();
        assert_eq!(err, "unknown sink \"kafka\" (known: file, datadog, lts)");
        let Err(err) = sink("kafka", "") else { panic!("built") };
        assert_eq!(err.key, "sinks.dd.type");
    }

    #[test]
    #[cfg(feature = "datadog")]
    fn sink_errors_name_the_exact_key_own_or_shared() {
        let key = |text: &str| sink("datadog", &format!("{DATADOG}{text}")).err().map(|err| err.key);
        assert_eq!(key(""), None);
        assert_eq!(key("sitee = \"x\""), Some("sinks.dd.sitee".into()));
        assert_eq!(key("retry_atempts = 2"), Some("sinks.dd.retry_atempts".into()));
        assert_eq!(key("timeout = \"soon\""), Some("sinks.dd.timeout".into()));
        assert_eq!(key("max_in_flight = 0"), Some("sinks.dd.max_in_flight".into()));
        assert_eq!(key("batch_max_records = 1001"), Some("sinks.dd.batch_max_records".into()));
        // The old spellings load, and are named as written when wrong.
        assert_eq!(key("retry_max_attempts = 2\nretry_base_delay = \"10ms\""), None);
        assert_eq!(key("retry_max_attempts = 0"), Some("sinks.dd.retry_max_attempts".into()));
    }
}
