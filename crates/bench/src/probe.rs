//! The limit probe: what the machine at hand needs, at the least, per Okta event, so that a scenario's CPU
//! per event can be read as a multiple of it — a ratio that travels between machines where absolute
//! figures do not.
//!
//! On pages of 1000 events served by the Okta simulator (fetched once over loopback, then reused), each
//! step is timed alone on one thread, over enough repetitions to last about a quarter of a second:
//!
//! | step | what it does per page |
//! |---|---|
//! | `split` | `serde_json` cuts the page into its events, each a borrowed `RawValue` (no DOM) |
//! | `indexed split` | logcrawl's own split of the page (`RawEvent::split_array`), shown, not in a floor |
//! | `write` | the events as NDJSON lines into a reused buffer, written to `/dev/null` |
//! | `gzip-6` | that NDJSON through gzip at level 6 (zlib-rs, the Datadog sink's default) |
//! | `zstd-1` | the same through zstd at level 1 (the Datadog sink's `compression = "zstd"`) |
//!
//! The floors are sums of steps: NDJSON = split + write; Datadog = split + write + the compression.
//! Nothing a crawler does can cost less than the floor on the same events; how far above it a scenario
//! lands is the overhead left to remove. The split of the floor is `serde_json`'s, the reference the
//! targets were set against; logcrawl's own split (a scanner of its own that also indexes each event's
//! members) is faster, and is printed beside it so that a ratio against it can be read too.

use std::io::Write as _;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use serde_json::value::RawValue;

/// What one Okta event costs the machine at each step of the floor.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Probe {
    /// Events per page probed.
    pub events_per_page: usize,
    /// Mean bytes of JSON per event.
    pub bytes_per_event: f64,
    /// Cutting a page into raw events with `serde_json` (the floor's split).
    pub split: Duration,
    /// The same page split by logcrawl itself (`RawEvent::split_array`: its own validating scanner, each
    /// event's member index), shown beside the floor, not part of it.
    pub split_indexed: Duration,
    /// Writing the events as NDJSON to `/dev/null`.
    pub write: Duration,
    /// gzip at level 6.
    pub gzip6: Duration,
    /// zstd at level 1.
    pub zstd1: Duration,
    /// Compressed size / uncompressed size with gzip 6.
    pub gzip6_ratio: f64,
    /// The same with zstd 1.
    pub zstd1_ratio: f64,
}

/// Which floor a scenario is compared with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Floor {
    /// split + write.
    Ndjson,
    /// split + write + gzip 6.
    Gzip,
    /// split + write + zstd 1.
    Zstd,
}

impl Probe {
    /// The floor per event of `floor`.
    pub fn floor(&self, floor: Floor) -> Duration {
        let base = self.split + self.write;
        match floor {
            Floor::Ndjson => base,
            Floor::Gzip => base + self.gzip6,
            Floor::Zstd => base + self.zstd1,
        }
    }

    /// The probe as text, with the CPU model, for the head of the results.
    pub fn describe(&self) -> String {
        let us = |d: Duration| d.as_secs_f64() * 1e6;
        let mbps = |d: Duration| self.bytes_per_event / d.as_secs_f64().max(1e-12) / 1e6;
        format!(
            "limit probe on {cpu}: Okta pages of {n} events, {bytes:.0} bytes each; per event: split {split:.2} µs \
             ({split_mb:.0} MB/s; logcrawl's indexed split {indexed:.2} µs), write NDJSON {write:.2} µs, gzip-6 {gzip:.2} µs (ratio {gzip_ratio:.1}), zstd-1 \
             {zstd:.2} µs (ratio {zstd_ratio:.1}); floors: NDJSON {nd:.2} µs, Datadog gzip-6 {gf:.2} µs, Datadog zstd-1 \
             {zf:.2} µs",
            cpu = cpu_model(),
            n = self.events_per_page,
            bytes = self.bytes_per_event,
            split = us(self.split),
            split_mb = mbps(self.split),
            indexed = us(self.split_indexed),
            write = us(self.write),
            gzip = us(self.gzip6),
            gzip_ratio = 1.0 / self.gzip6_ratio.max(1e-12),
            zstd = us(self.zstd1),
            zstd_ratio = 1.0 / self.zstd1_ratio.max(1e-12),
            nd = us(self.floor(Floor::Ndjson)),
            gf = us(self.floor(Floor::Gzip)),
            zf = us(self.floor(Floor::Zstd)),
        )
    }
}

/// The CPU model from `/proc/cpuinfo` and how many CPUs the process may use, or `unknown CPU`.
pub fn cpu_model() -> String {
    let model = std::fs::read_to_string("/proc/cpuinfo").ok().and_then(|text| {
        text.lines()
            .find(|line| line.starts_with("model name"))
            .and_then(|line| line.split_once(':'))
            .map(|(_, model)| model.trim().to_owned())
    });
    let cpus = std::thread::available_parallelism().map_or(0, usize::from);
    format!("{} ({cpus} CPUs)", model.as_deref().unwrap_or("unknown CPU"))
}

/// Fetches a page of 1000 events from an Okta simulator started for the purpose and probes it.
pub async fn run() -> anyhow::Result<Probe> {
    let sim = logcrawl_sim::okta::OktaSim::builder()
        .events(1000)
        .token(crate::sims::OKTA_TOKEN)
        .start()
        .await
        .context("starting the Okta simulator for the probe")?;
    let url = format!("{}/api/v1/logs?limit=1000", sim.base_url());
    let response = reqwest::Client::new()
        .get(&url)
        .header("authorization", format!("SSWS {}", crate::sims::OKTA_TOKEN))
        .send()
        .await
        .and_then(reqwest::Response::error_for_status)
        .context("fetching a page for the probe")?;
    let page = response.bytes().await.context("reading the probe's page")?;
    tokio::task::spawn_blocking(move || probe_page(&page)).await.context("the probe panicked")?
}

/// [`run`] in a fresh child `exe probe`, how the binary probes before its scenarios: the probe's simulator,
/// client and page buffers would otherwise stay resident in this process and count in the next
/// scenario's peak RSS (it is reset to the RSS at the scenario's start, not to zero).
pub async fn run_in_child(exe: &std::path::Path) -> anyhow::Result<Probe> {
    crate::child::run_for_result(exe, &["probe".to_owned()], "PROBE").await
}

/// The body of `logcrawl-bench probe`: runs the probe and prints `PROBE <result>` on stdout.
pub async fn serve_probe() -> anyhow::Result<()> {
    crate::child::print_result("PROBE", &run().await?)
}

/// Probes one page (a JSON array of events).
pub fn probe_page(page: &[u8]) -> anyhow::Result<Probe> {
    let events: Vec<&RawValue> = serde_json::from_slice(page).context("the probe's page is not a JSON array")?;
    anyhow::ensure!(!events.is_empty(), "the probe's page has no event");
    let n = events.len();
    let json_bytes: usize = events.iter().map(|e| e.get().len()).sum();
    let mut ndjson = Vec::with_capacity(json_bytes + n);
    for event in &events {
        ndjson.extend_from_slice(event.get().as_bytes());
        ndjson.push(b'\n');
    }

    let split = per_event(n, || {
        let events: Vec<&RawValue> = serde_json::from_slice(page).expect("parsed once already");
        std::hint::black_box(events);
    });
    let shared = bytes::Bytes::copy_from_slice(page);
    let split_indexed = per_event(n, || {
        let events = logcrawl_core::RawEvent::split_array(&shared).expect("parsed once already");
        std::hint::black_box(events);
    });
    let mut null = std::fs::OpenOptions::new().write(true).open("/dev/null").context("opening /dev/null")?;
    let mut buffer = Vec::with_capacity(ndjson.len());
    let write = per_event(n, || {
        buffer.clear();
        for event in &events {
            buffer.extend_from_slice(event.get().as_bytes());
            buffer.push(b'\n');
        }
        null.write_all(&buffer).expect("writing to /dev/null");
    });
    let mut gzip_len = 0;
    let gzip6 = per_event(n, || {
        let mut encoder =
            flate2::write::GzEncoder::new(Vec::with_capacity(ndjson.len() / 8), flate2::Compression::new(6));
        encoder.write_all(&ndjson).expect("compressing in memory");
        gzip_len = encoder.finish().expect("compressing in memory").len();
    });
    let mut zstd_len = 0;
    let zstd1 = per_event(n, || {
        let mut encoder =
            zstd::stream::write::Encoder::new(Vec::with_capacity(ndjson.len() / 16), 1).expect("a zstd context");
        encoder.write_all(&ndjson).expect("compressing in memory");
        zstd_len = encoder.finish().expect("compressing in memory").len();
    });
    Ok(Probe {
        events_per_page: n,
        bytes_per_event: json_bytes as f64 / n as f64,
        split,
        split_indexed,
        write,
        gzip6,
        zstd1,
        gzip6_ratio: gzip_len as f64 / ndjson.len() as f64,
        zstd1_ratio: zstd_len as f64 / ndjson.len() as f64,
    })
}

/// The time per event of `page_step` (which handles `events` events), the best of five rounds that each
/// last about 50 ms: the floor, not the mean, is what the machine can do.
fn per_event(events: usize, mut page_step: impl FnMut()) -> Duration {
    page_step();
    let mut best = Duration::MAX;
    for _ in 0..5 {
        let started = Instant::now();
        let mut pages = 0u32;
        while started.elapsed() < Duration::from_millis(50) || pages < 2 {
            page_step();
            pages += 1;
        }
        best = best.min(started.elapsed() / (pages * u32::try_from(events).unwrap_or(u32::MAX)));
    }
    best
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn floors_add_up_and_the_page_is_measured() {
        let event = br#"{"uuid":"u","published":"2024-08-13T15:58:20.353Z","displayMessage":"User login to Okta"}"#;
        let page = format!("[{}]", vec![std::str::from_utf8(event).unwrap(); 50].join(","));
        let probe = probe_page(page.as_bytes()).unwrap();
        assert_eq!(probe.events_per_page, 50);
        assert_eq!(probe.bytes_per_event, event.len() as f64);
        assert!(
            probe.split > Duration::ZERO
                && probe.split_indexed > Duration::ZERO
                && probe.gzip6 > Duration::ZERO
                && probe.zstd1 > Duration::ZERO
        );
        assert!(probe.gzip6_ratio < 0.5 && probe.zstd1_ratio < 0.5, "repeated events compress: {probe:?}");
        assert_eq!(probe.floor(Floor::Ndjson), probe.split + probe.write);
        assert_eq!(probe.floor(Floor::Zstd), probe.floor(Floor::Ndjson) + probe.zstd1);
        assert_eq!(probe.floor(Floor::Gzip), probe.floor(Floor::Ndjson) + probe.gzip6);
        let text = probe.describe();
        assert!(text.contains("pages of 50 events") && text.contains("zstd-1"), "{text}");
        assert!(probe_page(b"[]").is_err() && probe_page(b"{}").is_err());
    }
}
