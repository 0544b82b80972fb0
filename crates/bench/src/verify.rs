//! Exactly-once accounting at a sink's acknowledgement.

use std::borrow::Cow;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::future::BoxFuture;
use logcrawl_core::{Batch, BatchLimits, Delivery, LogRecord, Sink, SinkError};
use logcrawl_sim::datadog::IdDigest;

/// A [`Sink`] decorator that forwards every batch to `inner` unchanged and, when `inner` acknowledged it
/// with nothing dropped, adds the ids of its records (top-level `uuid`, else `id`, or the member
/// [`VerifyingSink::keyed`] names; in `data`, else in the raw event) to a per-source [`IdDigest`]. Memory is
/// constant per source: no id is stored.
///
/// What it proves is what the crawler's guarantee is about: which records the sink acknowledged, how
/// often. A record acknowledged twice, or never, shows as a digest that differs from the expected one.
pub struct VerifyingSink {
    inner: Arc<dyn Sink>,
    key: Option<&'static str>,
    acked: Mutex<HashMap<String, Tally>>,
}

/// What a [`VerifyingSink`] saw acknowledged for one source.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Tally {
    /// Ids of acknowledged records, repeats included.
    pub digest: IdDigest,
    /// Acknowledged records without an id.
    pub without_id: u64,
    /// Records the inner sink reported as dropped.
    pub dropped: u64,
}

impl std::fmt::Debug for VerifyingSink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("VerifyingSink").field("inner", &self.inner.name()).finish_non_exhaustive()
    }
}

impl VerifyingSink {
    /// Wraps `inner`.
    pub fn new(inner: Arc<dyn Sink>) -> Self {
        Self { inner, key: None, acked: Mutex::default() }
    }

    /// Wraps `inner`, reading each record's id from its top-level member `key` (in `data`, else in the
    /// vendor's raw event: GitHub's `_document_id`, Auth0's `log_id`).
    pub fn keyed(inner: Arc<dyn Sink>, key: &'static str) -> Self {
        Self { key: Some(key), ..Self::new(inner) }
    }

    fn id_of<'r>(&self, record: &'r LogRecord) -> Option<Cow<'r, str>> {
        match self.key {
            Some(key) => member_text(record, key),
            None => member_text(record, "uuid").or_else(|| member_text(record, "id")),
        }
    }

    /// The tally of every source, by source name.
    pub fn tallies(&self) -> HashMap<String, Tally> {
        self.acked.lock().expect("tally poisoned").clone()
    }

    /// The tally of every source together.
    pub fn total(&self) -> Tally {
        self.tallies().values().fold(Tally::default(), |mut sum, t| {
            sum.digest.merge(&t.digest);
            sum.without_id += t.without_id;
            sum.dropped += t.dropped;
            sum
        })
    }
}

/// The string member `key` of a record: in `data`, else at the raw event's top level (borrowed: the
/// accounting runs in the measured process, so it should cost the least it can).
fn member_text<'r>(record: &'r LogRecord, key: &str) -> Option<Cow<'r, str>> {
    if let Some(value) = record.data.get(key) {
        return value.as_str().map(Cow::Borrowed);
    }
    let mut found = None;
    record
        .raw
        .as_ref()?
        .member_values(|name, value| {
            if name == key {
                found = value.text();
                return std::ops::ControlFlow::Break(());
            }
            std::ops::ControlFlow::Continue(())
        })
        .ok()?;
    found
}

impl Sink for VerifyingSink {
    fn name(&self) -> &str {
        self.inner.name()
    }

    fn max_age(&self) -> Option<Duration> {
        self.inner.max_age()
    }

    fn max_future(&self) -> Option<Duration> {
        self.inner.max_future()
    }

    fn batch_limits(&self) -> BatchLimits {
        self.inner.batch_limits()
    }

    fn max_in_flight(&self) -> usize {
        self.inner.max_in_flight()
    }

    fn send(&self, batch: Batch) -> BoxFuture<'_, Result<Delivery, SinkError>> {
        let mut tally = Tally::default();
        for record in &batch.records {
            match self.id_of(record) {
                Some(id) => tally.digest.add(&id),
                None => tally.without_id += 1,
            }
        }
        let source = batch.source.name.clone();
        Box::pin(async move {
            let delivery = self.inner.send(batch).await?;
            let mut acked = self.acked.lock().expect("tally poisoned");
            let entry = acked.entry(source).or_default();
            if delivery.dropped == 0 {
                entry.digest.merge(&tally.digest);
                entry.without_id += tally.without_id;
            } else {
                // Which ones were dropped is the sink's secret: count the batch as not delivered.
                entry.dropped += delivery.dropped as u64;
            }
            Ok(delivery)
        })
    }
}
