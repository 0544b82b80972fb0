//! # logcrawl-sink-datadog
//!
//! Ships log records to the Datadog Logs intake, `POST https://http-intake.logs.<site>/api/v2/logs`,
//! with the semantics of the Agent's `send_log` and the batching and retry behaviour of the Agent's own
//! HTTP logs sender — but acknowledging a batch only once the intake accepted it, so the crawler commits
//! a cursor only behind delivered logs (the Python crawler moves its cursor as soon as a log is handed to
//! the Agent, and loses logs when the hand-over fails later).
//!
//! ## What a record becomes
//!
//! A record's map is one JSON entry of the request array:
//!
//! * `message` is required. A record without one (or with `null`) is not sent and is counted as dropped.
//!   A non-string message (a number, an object) is sent as its JSON text.
//! * `timestamp` in seconds since the epoch becomes integer **milliseconds, truncated** like the Agent's
//!   `int(timestamp * 1000)`: `1722958617.2842212` → `1722958617284`. A non-numeric timestamp (an ISO
//!   string) is passed through; the intake parses it.
//! * `ddtags`: a record's own value is kept as is; otherwise the source's tags as the Agent formats
//!   instance tags ([`SourceMeta::formatted_tags`](logcrawl_core::SourceMeta::formatted_tags): `key:value`
//!   only, de-duplicated, sorted, joined with `,`).
//! * `ddsource` and `service` come from the source, lowercase; a record cannot override them (Datadog's
//!   partner guideline: they select the integration's pipelines and must not be user-editable).
//! * `hostname`: the source's hostname, else the sink's `hostname`; with neither configured, a record's own
//!   `hostname` passes through.
//! * `status` and every other key are sent unchanged as attributes.
//! * With `tag_attributes = true`, each source tag `key:value` is also a top-level attribute `key: "value"`
//!   ("manual user tags are sent as key-value attributes in the JSON body"); a key with several values
//!   becomes an array. A record's own attribute of the same name wins, and reserved names are never set.
//!
//! ## The intake's limits, and what the sink does about them
//!
//! | Limit | Intake | Sink |
//! |---|---|---|
//! | entries per request | 1000 | `batch_max_records` (≤ 1000) records per batch and per request |
//! | uncompressed request | 5 MB | requests are cut at `batch_max_bytes` (default 4 250 000, ≤ 5 000 000) |
//! | one log | 1 MB, cut by the intake | entries over `max_log_bytes` (1 000 000) have their `message` cut at a character boundary and get `logcrawl.truncated: true` and `logcrawl.original_bytes`; if the other attributes alone are too large, only the reserved fields are kept and the message becomes the start of the original entry's JSON |
//! | timestamp | ≤ 18 h old, ≤ 2 h ahead | [`Sink::max_age`](logcrawl_core::Sink::max_age)/[`max_future`](logcrawl_core::Sink::max_future) make the crawler skip and count them; records that reach the sink anyway are dropped and counted |
//! | compression | `identity`, `gzip`, `deflate` in the API reference | gzip by default (`Content-Encoding: gzip`), zstd on request (`Content-Encoding: zstd`), level configurable; the size limits count the uncompressed JSON whatever the compression |
//!
//! ## Status → action
//!
//! | Response | Action |
//! |---|---|
//! | 2xx (202) | the request's entries are accepted |
//! | 400 | bisect: each half is sent again until the refused entries are isolated; those are set aside in the sink's dead-letter file with the intake's reason (logged at `warn`, counted) — but only while the intake accepts other entries (their neighbours, or this sink's other requests): when it accepts nothing, the send fails and nothing is set aside. A request refused as a whole costs about two requests per entry |
//! | 401, 403 | fatal [`SinkError`](logcrawl_core::SinkError): the message names the site or endpoint, never the key; the crawler stops the sources using the sink |
//! | 413 | split the request in halves and send each; a single entry still refused goes to the dead-letter file, on the same condition as for 400 |
//! | 404, 405, 415 | fatal: the URL is not an intake (a wrong `endpoint`, a proxy in the way) |
//! | 3xx | never followed (a redirected `POST` would become a `GET` without the logs): a failed send naming the redacted `Location` |
//! | 408, 429, 5xx, other statuses, network errors, timeouts | retry with the Agent's jittered exponential backoff (`retry_initial_delay` 2 s → waits of 1–2 s, 2–4 s, 4–8 s … capped at `retry_max_delay`), waiting at least `Retry-After`; a `Retry-After` also holds every other request to the intake. After `retry_attempts` attempts, or when `Retry-After` exceeds `max_retry_wait` (by default `retry_max_delay`), a retryable [`SinkError`](logcrawl_core::SinkError): the run ends, nothing of the batch is acknowledged, and the next run re-sends from the last commit |
//!
//! The sink acknowledges a batch (`Ok(Delivery { accepted, dropped, dead_lettered })`) only when every record
//! of it was accepted, dropped by the rules above (no `message`, outside the time window) or durably written
//! to the dead-letter file (the state directory's, from the [`BuildContext`](logcrawl_core::BuildContext), or
//! [`DatadogSink::with_dead_letters`]; without one, such a refusal fails the send);
//! the three always add up to the batch size.
//!
//! ## Configuration (`[sinks.NAME]`, `type = "datadog"`)
//!
//! The sink's own keys, read by [`DatadogConfig::from_table`]:
//!
//! | Key | Default | Meaning |
//! |---|---|---|
//! | `site` | `datadoghq.com` | one of [`SITES`]: `datadoghq.com`, `us3.datadoghq.com`, `us5.datadoghq.com`, `datadoghq.eu`, `ap1.datadoghq.com`, `ap2.datadoghq.com`, `ddog-gov.com`, `us2.ddog-gov.com`, `uk1.datadoghq.com` |
//! | `endpoint` | — | overrides the site's URL, e.g. `http://127.0.0.1:8080` for a proxy or tests; `/api/v2/logs` is appended unless the path ends with it |
//! | `api_key` | `$DD_API_KEY` | the API key, sent only in the `DD-API-KEY` header (no application key is needed) |
//! | `compression` | `gzip` | `gzip`, `zstd` or `none` (see [Compression](#compression)) |
//! | `compression_level` | `6` (gzip), `1` (zstd) | gzip level 0–9, zstd level 1–22 |
//! | `max_log_bytes` | `1000000` | longest serialized entry, 1024 – 1 000 000 |
//! | `hostname` | — | `hostname` of every log when the source sets none |
//! | `tag_attributes` | `false` | also send the source's tags as attributes |
//!
//! and the shared settings (README, "Shared settings": what each key means), with Datadog's defaults
//! ([`HTTP_DEFAULTS`], [`DELIVERY_DEFAULTS`]) and bounds:
//!
//! | Key | Default | Here |
//! |---|---|---|
//! | `timeout` | `30s` | whole request |
//! | `requests_per_second` | none | a client-side cap on requests to the intake |
//! | `retry_attempts` | `8` | attempts per request, the first included |
//! | `retry_initial_delay` | `2s` | upper bound of the first retry wait (1–2 s, then 2–4 s, …, as the Agent) |
//! | `retry_max_delay` | `120s` | longest retry wait |
//! | `max_retry_wait` | `retry_max_delay` | longest `Retry-After` waited out; a longer one gives the send up (the next run re-sends) |
//! | `batch_max_records` | `1000` | records per batch and per request, ≤ 1000 |
//! | `batch_max_bytes` | `4250000` | uncompressed bytes per request, ≤ 5 000 000 and ≥ `max_log_bytes` + 2 |
//! | `linger` | `1s` | how long a partial batch waits for more records |
//! | `max_in_flight` | `4` | requests in flight per sink, 1–256 (the crawler still commits each stream in order) |
//!
//! `retry_max_attempts` and `retry_base_delay` ([`DEPRECATED_KEYS`]) are the old spellings of
//! `retry_attempts` and `retry_initial_delay`: still read, with a warning; giving both spellings is an
//! error.
//!
//! ## Compression
//!
//! `compression = "zstd"` sends each request as one zstd frame with `Content-Encoding: zstd`. On Okta
//! events zstd at level 1 costs about a fifth of the CPU of gzip at level 6 (a third less for the whole
//! path) and makes bodies about a third smaller (`docs/benchmarks.md`). It is **opt-in, and gzip stays the default**, because the
//! intake's public API reference (`POST /api/v2/logs`) lists only `identity`, `gzip` and `deflate` as
//! `Content-Encoding` values, with gzip recommended. Datadog's own senders (the Agent built with its `zstd`
//! tag, its Rust data plane Saluki) and Vector's `datadog_logs` sink send logs zstd-compressed, which says
//! the intake takes it, but that is not the documented contract. An intake or proxy that does not take it
//! answers 415 (this sink then stops as for a wrong endpoint) or 400 (bisected; when nothing is accepted
//! the send fails and nothing is set aside): try it on one source before switching every sink.
//! The limits — 5 MB per request, 1 MB per entry, `batch_max_bytes` — count the uncompressed JSON, as the
//! intake does, whatever the compression.
//!
//! ## Why it is built this way
//!
//! * **Serialize once, never clone, never hold the JSON.** The sink owns the batch's records; each map is
//!   serialized by a borrowing view that adds the source's fields on the fly into a small scratch buffer
//!   (where it can still be cut to `max_log_bytes`), then fed straight to the request's compressor (gzip or zstd), which
//!   remembers each entry's byte range. A request in flight keeps only its compressed body (about a tenth
//!   of the JSON); splitting (413) and bisection (400) decompress it and copy those ranges instead of
//!   serializing again. Encoding and compression run on the blocking pool, so a 4 MB batch never stalls the
//!   async workers that are fetching the next pages.
//! * **Bisect rather than drop on 400.** The Agent drops a whole payload on 400; one malformed entry
//!   should not cost 999 good ones, and an audit trail should lose as little as possible.
//! * **One delivery driver.** The sink classifies answers ([`logcrawl_sink_util::Verdict`]) and halves its
//!   requests; the retry, split and bisect loop is [`logcrawl_sink_util::Driver`]'s, shared with the LTS sink.
//! * **Give up, don't spin.** The Agent retries forever; here a batch is given up after the configured
//!   attempts and the crawler's next run re-sends it from the checkpoint, so a long outage never holds
//!   a run (or a shutdown) hostage, and nothing is lost.
//! * **The key stays in its header.** It is read into a [`SecretString`](logcrawl_core::SecretString),
//!   sent as a sensitive header through [`logcrawl_http::HttpClient`] (same-origin guard: no redirect can
//!   carry it elsewhere), and scrubbed from any response text that ends up in an error or a log line.

mod config;
mod encode;
mod payload;
mod sink;

use std::sync::Arc;

use logcrawl_core::SinkKind;

pub use config::{
    API_KEY_ENV, Compression, ConfigError, DEFAULT_BATCH_MAX_BYTES, DEFAULT_GZIP_LEVEL, DEFAULT_SITE,
    DEFAULT_ZSTD_LEVEL, DELIVERY_DEFAULTS, DEPRECATED_KEYS, DatadogConfig, HTTP_DEFAULTS, INTAKE_PATH, MAX_AGE,
    MAX_BATCH_BYTES, MAX_BATCH_RECORDS, MAX_FUTURE, MAX_LOG_BYTES, MIN_LOG_BYTES, SITES, endpoint_url, intake_url,
};
pub use encode::{ORIGINAL_BYTES_KEY, TRUNCATED_KEY};
pub use sink::DatadogSink;

/// `type = "datadog"`: the sink built from its `[sinks.NAME]` table, with its dead-letter file in the
/// state directory.
pub const KIND: SinkKind = SinkKind::new("datadog", "Datadog Logs intake, every site", |table, context| {
    Ok(Arc::new(DatadogSink::new(DatadogConfig::from_table(table)?, context)?))
});
