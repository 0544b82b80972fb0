//! Micro-benchmarks of the per-record hot path: an Okta page parsed into records, its records' cursors
//! serialised (all of them, or only the committed one), and a batch encoded as NDJSON and as Datadog gzip
//! requests. Run with `cargo bench -p logcrawl-bench`.

use std::sync::Arc;

use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};
use futures::StreamExt as _;
use logcrawl_core::{Batch, BuildContext, Fields, LogRecord, LogStream as _, SourceMeta};
use logcrawl_okta::{OktaConfig, OktaConnector};
use logcrawl_sim::okta::OktaSim;
use logcrawl_sink_datadog::{DatadogConfig, DatadogSink};

const PAGE: u64 = 1000;

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build().unwrap()
}

fn page_json(sim: &OktaSim) -> Vec<u8> {
    let mut page = b"[".to_vec();
    for i in 0..PAGE {
        if i > 0 {
            page.push(b',');
        }
        page.extend_from_slice(&sim.render_event(i));
    }
    page.push(b']');
    page
}

fn records(sim: &OktaSim, rt: &tokio::runtime::Runtime) -> Vec<LogRecord> {
    rt.block_on(async {
        let config = OktaConfig {
            base_url: Some(sim.base_url().to_owned()),
            token: Some("t".to_owned().into()),
            ..OktaConfig::empty()
        };
        let connector = OktaConnector::new(config, &BuildContext::new("bench")).unwrap();
        let stream = connector.system_log();
        stream.records(None).map(|r| r.unwrap()).collect().await
    })
}

fn batch(records: Vec<LogRecord>) -> Batch {
    Batch::new(
        Arc::new(SourceMeta {
            name: "bench".into(),
            connector: "okta".into(),
            ddsource: "okta".into(),
            service: "okta".into(),
            tags: vec!["env:bench".into()],
            hostname: None,
        }),
        Arc::from("system_log"),
        records,
    )
}

fn hot_path(c: &mut Criterion) {
    let rt = runtime();
    let sim = rt.block_on(OktaSim::builder().events(PAGE).token("t").start()).unwrap();
    let page = page_json(&sim);
    let records = records(&sim, &rt);
    assert_eq!(records.len() as u64, PAGE);

    let mut group = c.benchmark_group("okta_page_1000");
    group.throughput(Throughput::Elements(PAGE));
    group.bench_function("parse_to_fields", |b| b.iter(|| serde_json::from_slice::<Vec<Fields>>(&page).unwrap()));
    group.bench_function("parse_to_raw", |b| {
        b.iter(|| serde_json::from_slice::<Vec<Box<serde_json::value::RawValue>>>(&page).unwrap())
    });
    group.bench_function("fetch_parse_map_via_http", |b| b.iter(|| self::records(&sim, &rt)));
    // What deferred record cursors save: serialising every record's cursor (as a stream that builds
    // each record's JSON cursor would) against only the one the crawler commits per batch.
    group.bench_function("serialise_every_cursor", |b| {
        b.iter(|| records.iter().filter_map(|r| r.cursor.as_ref().map(|c| c.to_cursor())).collect::<Vec<_>>())
    });
    group.bench_function("serialise_the_committed_cursor", |b| {
        b.iter(|| records.last().and_then(|r| r.cursor.as_ref()).map(|c| c.to_cursor()))
    });
    group.finish();

    let mut group = c.benchmark_group("encode_batch_1000");
    group.throughput(Throughput::Elements(PAGE));
    group.bench_function("ndjson", |b| {
        b.iter_batched(
            || batch(records.clone()),
            |batch| {
                let mut out = Vec::with_capacity(2 << 20);
                logcrawl_sink_file::encode_ndjson(&batch, &mut out);
                out
            },
            BatchSize::LargeInput,
        )
    });
    for (compression, name, level) in [
        (logcrawl_sink_datadog::Compression::Gzip, "gzip", 1u32),
        (logcrawl_sink_datadog::Compression::Gzip, "gzip", 6),
        (logcrawl_sink_datadog::Compression::Zstd, "zstd", 1),
    ] {
        let sink = DatadogSink::new(
            DatadogConfig {
                api_key: Some("k".to_owned().into()),
                compression,
                compression_level: Some(level),
                ..DatadogConfig::default()
            },
            &BuildContext::new("dd"),
        )
        .unwrap();
        group.bench_function(format!("datadog_{name}_{level}"), |b| {
            b.iter_batched(|| batch(records.clone()), |batch| sink.encode_bodies(batch).unwrap(), BatchSize::LargeInput)
        });
    }
    let plain = DatadogSink::new(
        DatadogConfig {
            api_key: Some("k".to_owned().into()),
            compression: logcrawl_sink_datadog::Compression::None,
            ..DatadogConfig::default()
        },
        &BuildContext::new("dd"),
    )
    .unwrap();
    group.bench_function("datadog_identity", |b| {
        b.iter_batched(|| batch(records.clone()), |batch| plain.encode_bodies(batch).unwrap(), BatchSize::LargeInput)
    });
    group.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(20);
    targets = hot_path
}
criterion_main!(benches);
