//! Which connectors and sinks this binary was built with, and how to build them from configuration.
//!
//! Every connector and sink is a cargo feature of the `logcrawl` package (`acme`, `okta`, `file`,
//! `datadog`, `lts`; `all-connectors`, `all-sinks`; all by default). A configuration that names a
//! component left out of the build gets an error saying which feature to enable.
//!
//! Sinks are a table of the [`SinkKind`]s their crates declare, one line each behind its feature, plus
//! the list of every sink's name ([`SINK_NAMES`]), compiled in or not, for that error.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use logcrawl_core::{BuildContext, ComponentKind, Connector, Sink, SinkKind};
use serde::de::DeserializeOwned;
use toml::{Table, Value};

use crate::config::{ConfigError, SinkConfig, SourceConfig};

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

/// `file, datadog` — the names of the compiled-in kinds.
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

/// A connector or sink kind and whether it is compiled in.
#[derive(Debug, Clone, Copy)]
pub struct Component {
    /// Its name in configuration (`connector = "…"`, `type = "…"`), also its cargo feature.
    pub name: &'static str,
    /// One line about it.
    pub about: &'static str,
    /// Compiled into this binary.
    pub enabled: bool,
}

/// Every connector logcrawl has.
pub const CONNECTORS: &[Component] = &[
    Component { name: "acme", about: "ACME demo logs API (the tutorial connector)", enabled: cfg!(feature = "acme") },
    Component { name: "okta", about: "Okta System Log (/api/v1/logs)", enabled: cfg!(feature = "okta") },
    // xtask:new-connector:component (scaffolded connectors are listed above this line)
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

/// `acme, okta` — the names of the compiled-in components.
pub fn enabled_names(components: &[Component]) -> String {
    components.iter().filter(|c| c.enabled).map(|c| c.name).collect::<Vec<_>>().join(", ")
}

fn unavailable(key: String, what: &str, name: &str, components: &[Component]) -> ConfigError {
    let message = if components.iter().any(|c| c.name == name) {
        format!(
            "{what} {name:?} is not compiled into this binary; rebuild with `cargo build -p logcrawl --features {name}`"
        )
    } else {
        let known: Vec<&str> = components.iter().map(|c| c.name).collect();
        format!("unknown {what} {name:?} (known: {})", known.join(", "))
    };
    ConfigError::new(key, message)
}

/// Deserialises a component's own keys, pointing at the offending key when serde names one.
fn component_config<T: DeserializeOwned>(settings: &Table, prefix: &str) -> Result<T, ConfigError> {
    Value::Table(settings.clone()).try_into::<T>().map_err(|err| {
        let message = err.message().trim().to_owned();
        let named = ["unknown field `", "missing field `", "duplicate field `"]
            .iter()
            .find_map(|marker| message.split(marker).nth(1).and_then(|rest| rest.split('`').next()));
        match named {
            Some(field) => ConfigError::new(format!("{prefix}.{field}"), message),
            None => ConfigError::new(prefix.to_owned(), message),
        }
    })
}

/// A component's own configuration error, placed under `prefix` at the key it names.
fn keyed(prefix: &str, key: &str, err: &dyn std::fmt::Display) -> ConfigError {
    let key = if key.is_empty() { prefix.to_owned() } else { format!("{prefix}.{key}") };
    ConfigError::new(key, err.to_string())
}

/// Builds the sink a `[sinks.NAME]` table describes. Sinks that can refuse single records keep them in
/// their dead-letter file under `state_dir` (`dead-letter/NAME.ndjson`, created on the first letter).
pub fn build_sink(config: &SinkConfig, state_dir: &Path) -> Result<Arc<dyn Sink>, ConfigError> {
    let prefix = format!("sinks.{}", config.name);
    let kind = find(SINKS, SINK_NAMES, "sink", &config.kind)
        .map_err(|message| ConfigError::new(format!("{prefix}.type"), message))?;
    let context = BuildContext::new(&config.name).with_state_dir(state_dir);
    kind.build(&config.settings, &context).map_err(|e| keyed(&prefix, e.key(), &e.message()))
}

/// Builds the connector a `[[sources]]` entry describes. `max_lookback` is the sink's max age: a first
/// run never reaches further back than the sink would accept.
pub fn build_connector(
    source: &SourceConfig,
    max_lookback: Option<Duration>,
) -> Result<Arc<dyn Connector>, ConfigError> {
    let prefix = format!("sources[{}]", source.index);
    let _used_by_some_connectors = max_lookback;
    match source.connector.as_str() {
        #[cfg(feature = "acme")]
        "acme" => {
            let settings = component_config(&source.settings, &prefix)?;
            let connector =
                logcrawl_acme::AcmeConnector::new(settings).map_err(|e| keyed(&prefix, e.key(), &e.message()))?;
            Ok(Arc::new(connector))
        }
        #[cfg(feature = "okta")]
        "okta" => {
            let settings = component_config(&source.settings, &prefix)?;
            let connector = logcrawl_okta::OktaConnector::new(&source.name, settings, max_lookback)
                .map_err(|e| keyed(&prefix, e.key(), &e.message()))?;
            Ok(Arc::new(connector))
        }
        // xtask:new-connector:build (scaffolded connectors are built above this line)
        other => Err(unavailable(format!("{prefix}.connector"), "connector", other, CONNECTORS)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sink(kind: &str, text: &str) -> Result<Arc<dyn Sink>, ConfigError> {
        let config = SinkConfig { name: "dd".into(), kind: kind.into(), settings: text.parse().unwrap() };
        build_sink(&config, Path::new("/nonexistent/state"))
    }

    const DATADOG: &str = "endpoint = \"http://127.0.0.1:9\"\napi_key = \"k\"\n";

    #[test]
    #[cfg(all(feature = "file", feature = "datadog", feature = "lts"))]
    fn every_sink_is_in_the_table_under_its_name() {
        assert_eq!(SINKS.iter().map(|kind| kind.name).collect::<Vec<_>>(), SINK_NAMES);
        assert_eq!(kind_names(SINKS), "file, datadog, lts");
        assert!(listing(SINKS, SINK_NAMES).iter().all(|(_, about)| about.is_some_and(|a| !a.is_empty())));
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
