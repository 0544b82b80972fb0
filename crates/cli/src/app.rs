//! Turning a configuration into a running crawler.

use std::collections::BTreeMap;
use std::sync::Arc;

use logcrawl_core::{BatchLimits, CheckpointStore, Crawler, Sink, Source, SourceMeta};

use crate::config::{Config, ConfigError, SourceConfig};
use crate::registry::{build_connector, build_sink};

/// Builds every sink of the configuration, each once (sources naming the same sink share it).
pub fn build_sinks(config: &Config) -> Result<BTreeMap<String, Arc<dyn Sink>>, ConfigError> {
    config
        .sinks
        .values()
        .map(|sink| Ok((sink.name.clone(), build_sink(sink, &config.state_dir).map_err(|e| config.locate(e))?)))
        .collect()
}

/// Builds one source, sending to `sink`.
pub fn build_source(config: &Config, source: &SourceConfig, sink: Arc<dyn Sink>) -> Result<Source, ConfigError> {
    let connector = build_connector(source, &config.state_dir, sink.max_age()).map_err(|e| config.locate(e))?;
    let batch = (source.batch_max_records.is_some() || source.linger.is_some()).then(|| {
        let preferred = sink.batch_limits();
        BatchLimits {
            max_records: source.batch_max_records.unwrap_or(preferred.max_records).min(preferred.max_records),
            linger: source.linger.unwrap_or(preferred.linger),
        }
    });
    Ok(Source {
        meta: Arc::new(SourceMeta {
            name: source.name.clone(),
            connector: source.connector.clone(),
            ddsource: source.ddsource.clone(),
            service: source.service.clone(),
            tags: source.tags.clone(),
            hostname: source.hostname.clone(),
        }),
        connector,
        sink,
        interval: source.interval,
        batch,
        emit_errors: source.emit_errors,
    })
}

/// A crawler with every configured source.
pub fn build_crawler(config: &Config, store: Arc<dyn CheckpointStore>) -> Result<Crawler, ConfigError> {
    let sinks = build_sinks(config)?;
    let mut crawler = Crawler::new(store);
    for source in &config.sources {
        let sink = sinks[&source.sink].clone();
        crawler.add_source(build_source(config, source, sink)?);
    }
    Ok(crawler)
}
