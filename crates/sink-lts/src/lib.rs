//! # logcrawl-sink-lts
//!
//! Ships records to **Huawei Cloud Log Tank Service** (LTS) through its log reporting REST API, as a
//! [`logcrawl_core::Sink`]. Build it with [`LtsSink::new`] from an [`LtsConfig`] (the CLI reads
//! `[sinks.NAME]` minus `type = "lts"` into it with [`LtsConfig::from_table`], through [`KIND`]).
//!
//! ## The API
//!
//! | Mode ([`Mode`]) | Endpoint | Body |
//! |---|---|---|
//! | `high_precision` (default) | `POST {endpoint}/v2/{project_id}/lts/groups/{log_group_id}/streams/{log_stream_id}/tenant/contents/high-accuracy` | `{"contents": [{"log_time_ns": N, "log": "…"}, …], "labels": {…}}` |
//! | `batch` | `POST …/tenant/contents` | `{"log_time_ns": N, "contents": ["…", …], "labels": {…}}` |
//!
//! `{endpoint}` is `https://lts-access.{region}.myhuaweicloud.com` (port `port`, default 443), or an explicit
//! `endpoint` such as a private access IP from the ICAgent install command (`https://100.125.12.150:8102`).
//! Every request carries `Content-Type: application/json;charset=UTF-8` exactly; with `compression = "gzip"`
//! the high-precision body is gzipped and sent with `Content-Encoding: gzip`.
//!
//! **Each record** becomes one log line: its `data` serialized as a single-line JSON object, unchanged. The
//! source's `ddsource` and `service` are *not* injected into the line; they travel as the `source` and
//! `service` labels (`source_labels = true`, the default), where LTS shows them as fields of every line
//! without changing what the vendor sent. `log_time_ns` is a JSON number: the record's `timestamp`
//! (seconds since the epoch, integer or float, or an RFC 3339 string) in nanoseconds, or the time of
//! sending when the record has none. (Seconds, as everywhere in logcrawl: a millisecond value reads as a
//! time far in the future and is dropped by the ±24 h rule below.)
//!
//! ## Which mode
//!
//! Use **`high_precision`** (the default): every record keeps its own time. **`batch`** sends one
//! `log_time_ns` per request and LTS stamps line *i* with `log_time_ns + i` nanoseconds; this sink puts the
//! first record's time there, so **every record of a request is stamped with the first record's time (plus
//! its index in nanoseconds) and its own time survives only inside the JSON line**. Choose it only for
//! streams whose records of one batch are close together and in time order, and only if the
//! high-precision API is unavailable to you. gzip is documented for the high-precision API only; the
//! combination `batch` + `gzip` is refused. There is no zstd: the high-precision API documents
//! `Content-Encoding` values `GZIP`/`gzip` and `SNAPPY`/`snappy` only, and the other API none.
//!
//! ## Authentication (`auth = { type = "…", … }`)
//!
//! | `type` | Keys | Use when |
//! |---|---|---|
//! | `iam_password` | `user`, `domain` (account name), `password` or `password_env`, `iam_endpoint` (default `https://iam.{region}.myhuaweicloud.com`) | **recommended for long-running crawls**: the sink obtains a project-scoped token (`POST {iam_endpoint}/v3/auth/tokens`, password method, `scope.project.id = project_id`, token from the `X-Subject-Token` header), caches it, refreshes it once half its lifetime (read from `token.expires_at`, 24 h documented) or all but one hour of it has passed, and fetches a new one once if LTS answers 401 |
//! | `token` | `token` or `token_env` | you already manage IAM tokens; a token expires after 24 h, after which every send fails with a fatal 401 |
//! | `aksk` | `access_key`, `secret_key` or `secret_key_env` | **experimental**: signs each request with the generic API Gateway signer `SDK-HMAC-SHA256` (see [`signer`]); LTS documents only `X-Auth-Token` for log reporting, so whether `lts-access` accepts it is unverified |
//!
//! Secrets given inline or via `*_env` (the name of an environment variable read at start-up): exactly one
//! of the two. Secrets are `SecretString`s, never printed by `Debug`, and scrubbed from every error text,
//! even when a server echoes them.
//!
//! ## Configuration keys
//!
//! | Key | Default | Meaning |
//! |---|---|---|
//! | `region` | — | region id; gives the endpoint and the IAM endpoint |
//! | `endpoint` | from `region` | explicit base URL (http(s), may carry a port and a path prefix); wins over `region` |
//! | `port` | 443 | port of the region endpoint (not with `endpoint`: put the port in the URL) |
//! | `project_id`, `log_group_id`, `log_stream_id` | required | path ids; letters, digits, `-`, `_`; documented lengths 32/36/36 are warned about, not enforced |
//! | `mode` | `high_precision` | `high_precision` or `batch` |
//! | `labels` | `{}` | table of string labels sent with every request |
//! | `source_labels` | `true` | add `source`/`service` labels from the source (configured labels win) |
//! | `auth` | required | see above |
//! | `compression` | `none` | `none` or `gzip` (high-precision only) |
//!
//! and the shared settings (README, "Shared settings": what each key means), with LTS's defaults
//! ([`HTTP_DEFAULTS`], [`DELIVERY_DEFAULTS`]) and bounds:
//!
//! | Key | Default | Here |
//! |---|---|---|
//! | `timeout` | `30s` | whole request (IAM token requests too) |
//! | `requests_per_second` | none | a client-side cap on requests to LTS |
//! | `retry_attempts` | 5 | attempts per request for retryable failures, the first included |
//! | `retry_initial_delay`, `retry_max_delay` | `1s`, `60s` | jittered exponential backoff bounds |
//! | `max_retry_wait` | `5m` | longest `Retry-After` obeyed: a longer one is waited for this long, then the request is tried again |
//! | `batch_max_records` | 4096 | records per request, and per batch the crawler gathers (1 – 100 000) |
//! | `batch_max_bytes` | 524288 (512 KiB) | JSON bytes per request before compression (1024 – 8 MiB) |
//! | `linger` | `1s` | how long a partial batch waits for more records |
//! | `max_in_flight` | 2 | batches of one stream in flight, 1 – 64 (cursors are still committed in order) |
//!
//! ## Limits and how they are kept
//!
//! * **1 MB per log line** (LTS basic resource constraints): a longer line is cut at a character boundary
//!   to [`MAX_LINE_BYTES`] and ends with [`TRUNCATION_MARKER`] and the original length, so the cut is
//!   visible (the line is then no longer valid JSON).
//! * **100 labels** per request, keys `[A-Za-z][A-Za-z0-9_]*` of at most 64 characters without `__`,
//!   never one of LTS's built-in reserved fields ([`RESERVED_LABELS`], case-insensitively); values at most
//!   1024 bytes. Violations are refused at start-up with an error naming `labels.<key>`.
//! * **Request size**: LTS documents none; the defaults are the official Go producer SDK's (512 KiB,
//!   4096 lines). A batch from the crawler is cut into requests that respect both; a single line larger
//!   than the byte budget travels alone.
//! * **±24 h**: LTS does not collect logs more than 24 h from now. [`max_age`](logcrawl_core::Sink::max_age) and
//!   [`max_future`](logcrawl_core::Sink::max_future) are 24 h, so the crawler skips such records and counts them; the sink checks
//!   again at send time (a batch may have waited in retries) and reports those as dropped.
//!
//! ## Responses
//!
//! | Answer | Handling |
//! |---|---|
//! | 2xx whose JSON `errorCode` is `SVCSTG.ALS.200.200` | accepted |
//! | any other 2xx: another `errorCode`, no `errorCode`, not JSON, empty (a proxy answering in LTS's place) | **not** success: nothing proves the logs were stored, so it is retried like a 5xx and, when retries run out, the batch fails unacknowledged (at-least-once beats silent loss) |
//! | 3xx | never followed (a redirected `POST` would become a `GET` without the logs): a failed send naming the redacted `Location` |
//! | 400 | the request is halved until the offending records are isolated; a single record still refused is written to the sink's dead-letter file with `errorCode`/`error_msg` (the state directory's, or [`LtsSink::with_dead_letters`]) — but only while LTS accepts other records (its neighbours, or this sink's other requests). When LTS accepts nothing, the cause is the request (labels, ids), not the records: the send fails unacknowledged and nothing is set aside, one-record batches included |
//! | 413 | the request is halved until it fits; a single record still too large goes to the dead-letter file, on the same condition |
//! | 401 | fatal, after one token re-fetch with `iam_password`; the error shows `errorCode`/`error_msg` and a hint |
//! | 403, 404, other 4xx | fatal (credentials, permissions, ids or the request are wrong; retrying cannot help) |
//! | 408, 429, 5xx, network | retried with jittered exponential backoff, honouring `Retry-After` (up to `max_retry_wait`, 5 min), which also holds every other request of the sink to LTS |
//!
//! A fatal error stops the sources using the sink until the configuration is fixed; a retryable one ends the
//! run, and the next run re-sends from the last committed cursor.
//!
//! ## Why it is built this way
//!
//! Statuses are classified here, not in the shared client, because a sink must split on 413 and bisect on
//! 400; requests go through [`logcrawl_http::HttpClient::send_once`] and so still get the shared rate
//! budget, same-origin guard and body cap. The sink only says what an answer means (a
//! [`logcrawl_sink_util::Verdict`]) and how to halve a request; retrying, splitting and bisecting are
//! [`logcrawl_sink_util::Driver`]'s, the same driver the Datadog sink uses, so both count attempts and entries
//! the same way. Token schemes plug into [`logcrawl_http::Auth`]; AK/SK signing
//! has to see the exact body and headers of each attempt (its `X-Sdk-Date` changes per attempt), so the
//! sink signs its own requests.

mod config;
mod encode;
mod iam;
pub mod signer;
mod sink;

use std::sync::Arc;

use logcrawl_core::SinkKind;

pub use config::{
    AuthConfig, Compression, ConfigError, DEFAULT_BATCH_MAX_BYTES, DEFAULT_BATCH_MAX_RECORDS, DELIVERY_DEFAULTS,
    HTTP_DEFAULTS, LtsConfig, MAX_BATCH_MAX_BYTES, MAX_BATCH_MAX_RECORDS, MAX_IN_FLIGHT, MAX_LABEL_KEY_LEN,
    MAX_LABEL_VALUE_LEN, MAX_LABELS, Mode, RESERVED_LABELS,
};
pub use encode::{MAX_LINE_BYTES, TRUNCATION_MARKER};
pub use sink::{CONTENT_TYPE_JSON, LtsSink, SUCCESS_CODE, TIME_WINDOW};

/// `type = "lts"`: the sink built from its `[sinks.NAME]` table, with its dead-letter file in the state
/// directory.
pub const KIND: SinkKind = SinkKind::new("lts", "Huawei Cloud Log Tank Service", |table, context| {
    Ok(Arc::new(LtsSink::new(LtsConfig::from_table(table)?, context)?))
});
