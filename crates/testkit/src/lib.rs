//! # logcrawl-testkit
//!
//! What logcrawl's tests share, and the conformance suite every connector runs. A dev-dependency only
//! (`publish = false`): nothing here is shipped.
//!
//! ## Helpers
//!
//! | item | for |
//! |---|---|
//! | [`RecordingSink`] | a sink that keeps every batch ([`SentBatch`]), acknowledges it, or fails the `n`th one as scripted (a backend outage mid-run); can refuse records without `message`/`timestamp` |
//! | [`ScriptedStream`], [`ScriptedConnector`], [`Step`] | a vendor whose every run is written out in advance (records, then maybe an error), keeping the cursor each run was given |
//! | [`drain`], [`Drained`] | one run of a stream read to its end without a crawler: its records (positions included), the error that ended it, the last cursor |
//! | [`body_json`], [`body_bytes`] | a wiremock request's body, gunzipped when its `Content-Encoding` says so (what a sink sent) |
//! | [`ndjson`] | the JSON lines of a file sink's output or a dead-letter file |
//! | [`url_as_sent`], [`query`], [`header`], [`with_links`], [`with_link_list`], [`epoch_now`] | wiremock pagination: the URL a client asked for, its query, `Link: rel="next"` headers (one value per link, or GitHub's one list), rate-limit resets |
//! | [`fast_retries`] | a connector's HTTP settings with millisecond retries, for its `with_http` hook |
//! | [`pg::PgServer`] | a throw-away PostgreSQL server on a loopback port (`initdb`, started, stopped on drop; as `nobody` when run as root) |
//! | [`LogCapture`] | every `tracing` line of a test, formatted as in production, to assert on what was logged (and that no secret was) |
//!
//! ## The conformance suite
//!
//! [`conformance`] checks the promises a connector makes to the runtime, against a wiremock API the
//! suite serves and a real [`Crawler`](logcrawl_core::Crawler): every event once and in order; resuming
//! from the committed cursor with no duplicate and no gap; new events picked up; a 429 waited out and
//! the same page repeated; 5xx retried; a malformed page ending the run without moving the checkpoint
//! past what was delivered; empty pages; redirects and `next` links to another origin refused with the
//! credential kept home; a 401 fatal, sent once; an unreadable stored cursor a checkpoint error sending
//! nothing; and no secret in any error message or log line. It asserts on the requests (what was asked,
//! with which credential, to which origin) as well as on what was delivered and committed.
//!
//! A connector adopts it with a [`conformance::Vendor`] — how its requests name a position and page
//! size, how its pages look, which header carries the credential (or, for requests signed one by one,
//! how to verify them: [`conformance::Vendor::authorized`]) — and one macro line:
//!
//! ```ignore
//! use logcrawl_testkit::conformance::{Ask, Continuation, PageReply, Vendor};
//!
//! struct Acme;
//!
//! impl Vendor for Acme {
//!     fn secret(&self) -> &str { "s3cr3t" }
//!     fn credential(&self) -> (&'static str, String) { ("authorization", "Bearer s3cr3t".into()) }
//!     fn connector(&self, base_url: &str, page_size: usize) -> Arc<dyn Connector> { /* config → connector */ }
//!     fn continuation(&self) -> Continuation { Continuation::QueryParameter }
//!     fn ask(&self, request: &Request) -> Ask { /* ?after=<id>&limit=<n> → Ask { position, limit } */ }
//!     fn page(&self, reply: &PageReply<'_>) -> ResponseTemplate { /* {"logs": [...], "has_more": …} */ }
//!     fn id_field(&self) -> &'static str { "id" }
//!     fn unreadable_cursor(&self) -> Cursor { json!({"after": 5}) }
//! }
//!
//! logcrawl_testkit::conformance_suite!(Acme, not_expressible: [OffOriginLink]);
//! ```
//!
//! The macro writes one `#[tokio::test]` per [`conformance::Case`]. A case the API cannot express (ACME
//! pages by a query parameter, so no server can hand it a link to another origin) is listed in
//! `not_expressible`: the suite then checks that it indeed answers
//! [`Verdict::NotExpressible`](conformance::Verdict::NotExpressible), so no case is skipped silently.
//! `connectors/acme/tests/conformance.rs` and `connectors/okta/tests/okta/conformance.rs` are the
//! adopters to copy for an API paged by position; `connectors/onepassword/tests/onepassword/conformance.rs`
//! pages by a `POST` body cursor, and `connectors/slack/tests/slack/conformance.rs` is read in time windows,
//! newest first ([`conformance::Vendor::window`]).

pub mod conformance;
mod logs;
pub mod pg;
mod sink;
mod stream;
mod wire;

pub use logs::{CaptureGuard, LineWriter, LogCapture, LogLine};
pub use sink::{RecordingSink, SentBatch};
pub use stream::{Drained, ScriptedConnector, ScriptedStream, Step, drain};
pub use wire::{
    body_bytes, body_json, epoch_now, fast_retries, header, ndjson, query, url_as_sent, with_link_list, with_links,
};

#[cfg(test)]
mod tests;
