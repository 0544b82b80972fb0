//! [`RecordingSink`]: a sink that keeps every batch it is handed, and can be told to fail some.

use std::collections::HashMap;
use std::sync::Mutex;

use futures::future::BoxFuture;
use logcrawl_core::{Batch, BatchLimits, Delivery, LogRecord, Sink, SinkError};
use serde_json::Value;

/// One call of [`Sink::send`] as the [`RecordingSink`] saw it.
#[derive(Debug, Clone, PartialEq)]
pub struct SentBatch {
    /// 1-based: the first `send` is batch 1.
    pub ordinal: usize,
    /// The source's configured name.
    pub source: String,
    /// The stream the batch belongs to.
    pub stream: String,
    /// The records as whole JSON objects (`data` merged over the raw event, as a sink writes them).
    pub records: Vec<Value>,
    /// Whether the sink acknowledged the batch (`false`: it was scripted to fail, or refused a record).
    pub accepted: bool,
}

/// A sink that records every batch and acknowledges it, unless scripted to fail that batch.
///
/// * [`failing_batch`](Self::failing_batch) / [`fatal_batch`](Self::fatal_batch): the `n`th `send`
///   (1-based, counted over the sink's life) answers a retryable or fatal [`SinkError`] and delivers
///   nothing, like a backend outage in the middle of a run;
/// * [`requiring_message_and_timestamp`](Self::requiring_message_and_timestamp): a record without a string
///   `message` or a numeric `timestamp` makes the batch fail fatally, naming the record (what the real
///   sinks need from every connector);
/// * [`delivered`](Self::delivered) / [`delivered_field`](Self::delivered_field): the records of the
///   acknowledged batches, in order, to compare with what the vendor served.
///
/// One batch is in flight at a time (the [`Sink::max_in_flight`] default), so the ordinals follow the
/// stream's order.
#[derive(Debug, Default)]
pub struct RecordingSink {
    name: String,
    failures: HashMap<usize, bool>,
    require_message_and_timestamp: bool,
    limits: Option<BatchLimits>,
    batches: Mutex<Vec<SentBatch>>,
}

impl RecordingSink {
    /// A sink named `recording` that accepts everything.
    pub fn new() -> Self {
        Self { name: "recording".into(), ..Self::default() }
    }

    /// Makes the `n`th batch (1-based) fail with a retryable error: nothing of it is acknowledged.
    #[must_use]
    pub fn failing_batch(mut self, n: usize) -> Self {
        self.failures.insert(n, false);
        self
    }

    /// Makes the `n`th batch (1-based) fail with a fatal error.
    #[must_use]
    pub fn fatal_batch(mut self, n: usize) -> Self {
        self.failures.insert(n, true);
        self
    }

    /// Fails a batch fatally when one of its records has no string `message` or no numeric `timestamp`.
    #[must_use]
    pub fn requiring_message_and_timestamp(mut self) -> Self {
        self.require_message_and_timestamp = true;
        self
    }

    /// The batching the sink asks the crawler for (default: the crawler's default).
    #[must_use]
    pub fn with_batch_limits(mut self, limits: BatchLimits) -> Self {
        self.limits = Some(limits);
        self
    }

    /// Every batch handed to the sink, acknowledged or not, in the order of the calls.
    pub fn batches(&self) -> Vec<SentBatch> {
        self.batches.lock().expect("recording sink poisoned").clone()
    }

    /// The records of the acknowledged batches, in order.
    pub fn delivered(&self) -> Vec<Value> {
        let batches = self.batches.lock().expect("recording sink poisoned");
        batches.iter().filter(|b| b.accepted).flat_map(|b| b.records.iter().cloned()).collect()
    }

    /// The attribute `key` of every delivered record, as text (strings as they are, other values as
    /// JSON; a missing attribute is an empty string).
    pub fn delivered_field(&self, key: &str) -> Vec<String> {
        self.delivered()
            .iter()
            .map(|record| match record.get(key) {
                Some(Value::String(text)) => text.clone(),
                Some(other) => other.to_string(),
                None => String::new(),
            })
            .collect()
    }

    fn verdict(&self, ordinal: usize, records: &[LogRecord]) -> Result<(), SinkError> {
        if let Some(&fatal) = self.failures.get(&ordinal) {
            let message = format!("batch {ordinal} failed as scripted");
            return Err(if fatal { SinkError::fatal(message) } else { SinkError::retryable(message) });
        }
        if self.require_message_and_timestamp
            && let Some((i, _)) =
                records.iter().enumerate().find(|(_, r)| r.message().is_none() || r.timestamp().is_none())
        {
            return Err(SinkError::fatal(format!(
                "record {i} of batch {ordinal} lacks a string `message` or a numeric `timestamp`"
            )));
        }
        Ok(())
    }
}

impl Sink for RecordingSink {
    fn name(&self) -> &str {
        &self.name
    }

    fn batch_limits(&self) -> BatchLimits {
        self.limits.unwrap_or_default()
    }

    fn send(&self, batch: Batch) -> BoxFuture<'_, Result<Delivery, SinkError>> {
        Box::pin(async move {
            let mut batches = self.batches.lock().expect("recording sink poisoned");
            let ordinal = batches.len() + 1;
            let verdict = self.verdict(ordinal, &batch.records);
            let records = batch.records.iter().map(|r| r.to_value().expect("records are JSON objects")).collect();
            batches.push(SentBatch {
                ordinal,
                source: batch.source.name.clone(),
                stream: batch.stream.to_string(),
                records,
                accepted: verdict.is_ok(),
            });
            verdict.map(|()| Delivery::accepted(batch.records.len()))
        })
    }
}
