//! Repository rules for the exported metrics: the README's table lists exactly [`metric::ALL`], and every
//! series the Grafana dashboard in `examples/deploy/` queries is one logcrawl exports, grouped only by
//! labels it carries. A renamed metric then fails here rather than as an empty panel in production.

use std::collections::BTreeSet;

use logcrawl_core::metric::{self, Kind, Metric};
use serde_json::Value;

fn repository_file(path: &str) -> String {
    let full = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../..").join(path);
    std::fs::read_to_string(&full).unwrap_or_else(|err| panic!("{}: {err}", full.display()))
}

/// The metric a series name belongs to: itself, or a histogram's `_count`/`_sum` (exported as a summary).
fn metric_of(series: &str) -> Option<&'static Metric> {
    metric::ALL.iter().find(|m| m.name == series).or_else(|| {
        let base = series.strip_suffix("_count").or_else(|| series.strip_suffix("_sum"))?;
        metric::ALL.iter().find(|m| m.name == base && m.kind == Kind::Histogram)
    })
}

/// Every label a metric's series carry.
fn labels_of(metric: &Metric) -> BTreeSet<&'static str> {
    let mut labels: BTreeSet<&str> = metric.labels.split(',').map(str::trim).filter(|l| !l.is_empty()).collect();
    if metric.per_stream {
        labels.extend(["source", "stream"]);
    }
    if metric.kind == Kind::Histogram {
        labels.insert("quantile");
    }
    labels
}

/// Each `logcrawl_…` name in a PromQL expression.
fn series_in(expr: &str) -> Vec<&str> {
    let mut names = Vec::new();
    let mut rest = expr;
    while let Some(at) = rest.find("logcrawl_") {
        let tail = &rest[at..];
        let end = tail.find(|c: char| !(c.is_ascii_lowercase() || c == '_')).unwrap_or(tail.len());
        names.push(&tail[..end]);
        rest = &tail[end..];
    }
    names
}

/// The labels of each `by (…)` clause.
fn grouped_by(expr: &str) -> Vec<&str> {
    expr.split("by (")
        .skip(1)
        .filter_map(|clause| clause.split_once(')'))
        .flat_map(|(labels, _)| labels.split(',').map(str::trim))
        .collect()
}

fn expressions(value: &Value, out: &mut Vec<String>) {
    match value {
        Value::Object(map) => {
            for (key, value) in map {
                match (key.as_str(), value) {
                    ("expr" | "definition", Value::String(expr)) => out.push(expr.clone()),
                    _ => expressions(value, out),
                }
            }
        }
        Value::Array(items) => items.iter().for_each(|item| expressions(item, out)),
        _ => {}
    }
}

#[test]
fn every_series_the_dashboard_queries_is_exported_with_the_labels_it_groups_by() {
    let dashboard: Value = serde_json::from_str(&repository_file("examples/deploy/grafana-dashboard.json")).unwrap();
    let mut exprs = Vec::new();
    expressions(&dashboard, &mut exprs);
    assert!(exprs.len() >= 15, "{exprs:?}");
    let mut queried = BTreeSet::new();
    for expr in &exprs {
        let metrics: Vec<&Metric> = series_in(expr)
            .into_iter()
            .map(|series| metric_of(series).unwrap_or_else(|| panic!("{series} is not exported (in {expr})")))
            .collect();
        assert!(!metrics.is_empty(), "a query of no logcrawl metric: {expr}");
        for label in grouped_by(expr) {
            for metric in &metrics {
                assert!(labels_of(metric).contains(label), "{} has no label {label} (in {expr})", metric.name);
            }
        }
        queried.extend(metrics.iter().map(|m| m.name));
    }
    // What the dashboard is for: events/s and lag per source, rate-limit waits, errors by stage, dead
    // letters, sink retries.
    for needed in [
        metric::EVENTS_DELIVERED,
        metric::LAG,
        metric::RATE_LIMIT_WAIT,
        metric::RUNS_FAILED,
        metric::EVENTS_DEAD_LETTERED,
        metric::SINK_RETRIES,
    ] {
        assert!(queried.contains(needed), "the dashboard shows no {needed}");
    }
}

/// The README row of `metric`.
fn row(metric: &Metric) -> String {
    let kind = match metric.kind {
        Kind::Counter => "counter",
        Kind::Gauge => "gauge",
        Kind::Histogram => "summary",
    };
    let mut labels: Vec<String> = Vec::new();
    if metric.per_stream {
        labels.extend(["source".into(), "stream".into()]);
    }
    labels.extend(metric.labels.split(',').map(str::trim).filter(|l| !l.is_empty()).map(str::to_owned));
    let labels = if labels.is_empty() { "—".to_owned() } else { labels.join(", ") };
    format!("| `{}` | {kind} | {labels} | {} |", metric.name, metric.help.replace('|', "\\|"))
}

#[test]
fn the_readme_metrics_table_is_the_exported_list() {
    let readme = repository_file("README.md");
    let table: Vec<&str> = readme.lines().filter(|line| line.starts_with("| `logcrawl_")).collect();
    let expected: Vec<String> = metric::ALL.iter().map(row).collect();
    assert_eq!(
        table,
        expected,
        "README.md's metrics table differs from logcrawl_core::metric::ALL; the rows should be:\n{}",
        expected.join("\n")
    );
}
