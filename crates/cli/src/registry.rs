//! Which connectors and sinks this binary was built with, and how to build them from configuration.
//!
//! Every connector and sink is a cargo feature of the `logcrawl` package (`acme`, `okta`, `file`,
//! `datadog`, `lts`; `all-connectors`, `all-sinks`; all by default). A configuration that names a
//! component left out of the build gets an error saying which feature to enable.

use std::sync::Arc;
use std::time::Duration;

use logcrawl_core::{Connector, Sink};
use serde::de::DeserializeOwned;
use toml::{Table, Value};

use crate::config::{ConfigError, SinkConfig, SourceConfig};

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

/// Every sink logcrawl has.
pub const SINKS: &[Component] = &[
    Component { name: "file", about: "NDJSON to a file or stdout", enabled: cfg!(feature = "file") },
    Component { name: "datadog", about: "Datadog Logs intake, every site", enabled: cfg!(feature = "datadog") },
    Component { name: "lts", about: "Huawei Cloud Log Tank Service", enabled: cfg!(feature = "lts") },
];

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
pub fn build_sink(config: &SinkConfig, state_dir: &std::path::Path) -> Result<Arc<dyn Sink>, ConfigError> {
    #[cfg(any(feature = "datadog", feature = "lts"))]
    let dead_letters = || {
        logcrawl_core::deadletter::DeadLetterFile::in_state_dir(
            state_dir,
            &config.name,
            logcrawl_core::deadletter::DEFAULT_MAX_BYTES,
        )
    };
    #[cfg(not(any(feature = "datadog", feature = "lts")))]
    let _ = state_dir;
    let prefix = format!("sinks.{}", config.name);
    match config.kind.as_str() {
        #[cfg(feature = "file")]
        "file" => {
            let settings = component_config(&config.settings, &prefix)?;
            let sink =
                logcrawl_sink_file::FileSink::new(&config.name, settings).map_err(|e| keyed(&prefix, "path", &e))?;
            Ok(Arc::new(sink))
        }
        #[cfg(feature = "datadog")]
        "datadog" => {
            let settings = component_config(&config.settings, &prefix)?;
            let sink = logcrawl_sink_datadog::DatadogSink::new(&config.name, settings)
                .map_err(|e| keyed(&prefix, e.key(), &e.message()))?
                .with_dead_letters(dead_letters());
            Ok(Arc::new(sink))
        }
        #[cfg(feature = "lts")]
        "lts" => {
            let settings = component_config(&config.settings, &prefix)?;
            let sink = logcrawl_sink_lts::LtsSink::new(&config.name, settings)
                .map_err(|e| keyed(&prefix, e.key(), &e.message()))?
                .with_dead_letters(dead_letters());
            Ok(Arc::new(sink))
        }
        other => Err(unavailable(format!("{prefix}.type"), "sink", other, SINKS)),
    }
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
