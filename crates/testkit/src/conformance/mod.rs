//! The connector conformance suite: the behaviour every connector owes the runtime, checked against a
//! wiremock API that a small [`Vendor`] adapter teaches the suite to speak.
//!
//! The suite owns the API: a feed of [`Event`]s (`seq` 1, 2, …), served page by page, with faults planted
//! at chosen positions (429, 5xx, a malformed body, a redirect or `next` link to another origin, 401).
//! The adapter translates both ways: which position and page size a request asks for
//! ([`Vendor::ask`]), and how a page looks on the wire ([`Vendor::page`]). Each [`Case`] then crawls with
//! the real [`Crawler`](logcrawl_core::Crawler), a [`RecordingSink`](crate::RecordingSink) and an
//! in-memory checkpoint store, and asserts on what was **sent** (positions requested, credential header
//! on every request, nothing sent to the other origin, no request at all), what was delivered (every
//! event once, in order), what was committed, and what was logged (no secret in any line or message).
//!
//! An API read in **time windows, newest first** inside each (Slack's audit logs; the SDK's
//! `WindowedStream`) is served the same feed: its adapter says which window a request asks for
//! ([`Vendor::window`]) and how old an event must be before a run reaches it ([`Vendor::windowed`]).
//! A position is then the number of feed events before the window plus the offset inside it, the suite
//! expects each window's events newest first ([`Harness::in_order`]), publishes new events stamped now,
//! and spaces runs so that each one has a new window to read.
//!
//! A connector adopts it in a few lines of its tests (see the crate documentation), and
//! [`conformance_suite!`](crate::conformance_suite) makes one `#[tokio::test]` per case. A case the
//! connector's API cannot express (a `next` link for an API that pages by query parameter) answers
//! [`Verdict::NotExpressible`]; the connector must list it, so it is never skipped silently, and a case
//! listed but runnable fails too.

mod api;
mod cases;
mod failures;

use std::sync::Arc;

use logcrawl_core::{Connector, Cursor};
use wiremock::{Request, ResponseTemplate};

pub use api::{Harness, Run};

/// One event of the suite's feed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Event {
    /// 1-based place in the feed; the event at position `p` has `seq` `p + 1`.
    pub seq: u64,
    /// A unique, increasing id: `seq` in twelve digits (`000000000007`). Connectors must keep it in the
    /// record's [`Vendor::id_field`].
    pub id: String,
    /// RFC 3339 with milliseconds, one millisecond apart, recent (so no sink's age window drops it).
    pub published: String,
    /// `event <seq>`.
    pub message: String,
}

impl Event {
    /// The event with this `seq`.
    pub fn new(seq: u64) -> Self {
        let base = jiff::Timestamp::now().as_millisecond() - 3_600_000;
        let base = base - base.rem_euclid(1000);
        Self::at(seq, base + seq as i64)
    }

    /// The event with this `seq`, published at `epoch_ms`.
    pub fn at(seq: u64, epoch_ms: i64) -> Self {
        let published = jiff::Timestamp::from_millisecond(epoch_ms).unwrap_or(jiff::Timestamp::UNIX_EPOCH);
        Self { seq, id: format!("{seq:012}"), published: format!("{published:.3}"), message: format!("event {seq}") }
    }

    /// `published` in epoch milliseconds.
    pub fn published_ms(&self) -> i64 {
        self.published.parse::<jiff::Timestamp>().map_or(0, |at| at.as_millisecond())
    }

    /// The `seq` of an id made by [`Event::new`].
    pub fn seq_of(id: &str) -> Option<u64> {
        id.parse().ok()
    }
}

/// What a request asks for, decoded by [`Vendor::ask`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ask {
    /// How many events of the feed lie before the first one asked for (0: from the start). For a
    /// windowed API, the adapter gives the offset inside the request's window (newest first), and the
    /// suite adds the events before the window.
    pub position: usize,
    /// How many events at most.
    pub limit: usize,
}

impl Ask {
    /// What a request of a chain of minted links asks for: the position from the token in query
    /// parameter `token` (`p<position>`, as [`PageReply::minted_next`] writes it; absent or empty on a
    /// chain's first request: the start), the limit from `limit` (absent: `default_limit`).
    ///
    /// # Panics
    ///
    /// When either parameter does not read (an adapter's test failing, as it should).
    pub fn minted(request: &Request, token: &str, limit: &str, default_limit: usize) -> Self {
        let query = crate::query(request);
        let position = query
            .get(token)
            .filter(|token| !token.is_empty())
            .map_or(0, |token| token.trim_start_matches('p').parse().expect("a minted token"));
        let limit = query.get(limit).map_or(default_limit, |n| n.parse().expect("a number"));
        Self { position, limit }
    }
}

/// A page to render, handed to [`Vendor::page`].
#[derive(Debug)]
pub struct PageReply<'a> {
    /// The request being answered.
    pub request: &'a Request,
    /// The URL as the client sent it, on the configured origin (for a `self` link).
    pub request_url: String,
    /// What the request asked for.
    pub ask: Ask,
    /// The events of the page (may be empty), in the order the API serves them.
    pub events: &'a [Event],
    /// The position right after the page's last event (the position of the next page; for a windowed
    /// API, the offset inside the window, as [`Vendor::ask`] decodes it).
    pub next_position: usize,
    /// Whether the feed holds events after this page.
    pub more: bool,
    /// The origin (`http://host:port`) continuation links must point at: the configured one, except in
    /// the off-origin case.
    pub link_origin: &'a str,
}

impl PageReply<'_> {
    /// The `next` link of a polling API whose continuation tokens the adapter mints: after an empty page
    /// the request itself (a caught-up chain asks again for its end), else [`link_origin`](Self::link_origin)
    /// followed by `path_and_query(token)`, the token `p<next_position>` that [`Ask::minted`] reads.
    pub fn minted_next(&self, path_and_query: impl FnOnce(&str) -> String) -> String {
        if self.events.is_empty() {
            self.request_url.clone()
        } else {
            format!("{}{}", self.link_origin, path_and_query(&format!("p{}", self.next_position)))
        }
    }
}

/// How the vendor's API continues a chain of pages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Continuation {
    /// A URL the server hands out (a `Link: rel="next"` header, a `next` field): it could point anywhere.
    Link,
    /// A query parameter the client sets on its own URL (`after=<id>`): no other origin can be named.
    QueryParameter,
    /// A token the server hands out that the client sends in a request body to its own URL
    /// (1Password's `{"cursor": "…"}`): no other origin can be named either.
    BodyToken,
}

/// What the suite needs to know about a connector and its vendor's wire format.
pub trait Vendor: Send + Sync + 'static {
    /// The credential the connector is configured with; it must reach the configured origin only, and
    /// never appear in an error message or a log line.
    fn secret(&self) -> &str;

    /// The header carrying the credential and its exact value; by default a bearer token,
    /// `("authorization", "Bearer <secret>")`.
    fn credential(&self) -> (&'static str, String) {
        ("authorization", format!("Bearer {}", self.secret()))
    }

    /// Whether `request` carries the credential. By default: the [`credential`](Self::credential)
    /// header with exactly its value. A vendor whose requests are signed one by one (Duo's HMAC over the
    /// request and its `Date`) verifies the signature here instead.
    fn authorized(&self, request: &Request) -> bool {
        let (name, value) = self.credential();
        crate::wire::header(request, name) == Some(value.as_str())
    }

    /// A connector crawling the API at `base_url` (`http://127.0.0.1:PORT`) with `page_size` events per
    /// request and [`secret`](Self::secret) as its credential. It must expose exactly one stream, retry
    /// quickly (milliseconds between attempts, at least 2 attempts) and keep the default `max_retry_wait`
    /// of a few minutes.
    fn connector(&self, base_url: &str, page_size: usize) -> Arc<dyn Connector>;

    /// How the API continues a chain; by default by links the server hands out.
    fn continuation(&self) -> Continuation {
        Continuation::Link
    }

    /// Whether the credential is an access token the connector fetches from a token endpoint of its own
    /// (OAuth client credentials), dropped on a 401 and fetched once more before the request is sent
    /// again: a rejected credential then reaches the API twice, never more. By default (a static
    /// credential) once.
    fn refetches_on_401(&self) -> bool {
        false
    }

    /// The position and page size `request` asks for. Only requests the connector made reach it.
    fn ask(&self, request: &Request) -> Ask;

    /// The vendor's answer carrying `reply.events`.
    fn page(&self, reply: &PageReply<'_>) -> ResponseTemplate;

    /// The attribute of a delivered record holding the event's [`Event::id`].
    fn id_field(&self) -> &'static str;

    /// A stored cursor of a shape this connector never writes: resuming from it must fail as a
    /// checkpoint error without a request.
    fn unreadable_cursor(&self) -> Cursor;

    /// For an API read in time windows, newest first inside each: how old an event must be before a run
    /// reaches it (the connector's settle lag plus its windows' resolution; the adapter configures both).
    /// `None` (the default): the API is paged by position.
    fn windowed(&self) -> Option<std::time::Duration> {
        None
    }

    /// The answer to a request that is no page of the feed but content a page points at, fetched one by
    /// one (the Office 365 Management Activity API lists content blobs; each blob is a request of its
    /// own): the adapter answers it from what its pages listed. Such a request still needs the
    /// credential, but it asks for no position: no fault is planted on it and it is not among a run's
    /// [`asks`](Run::asks). `None` (the default): every request is a page.
    fn content(&self, request: &Request) -> Option<ResponseTemplate> {
        let _ = request;
        None
    }

    /// For a windowed API, the window `request` asks for, as epoch milliseconds `[from, to)`.
    fn window(&self, request: &Request) -> Option<(i64, i64)> {
        let _ = request;
        None
    }
}

/// The cases of the suite.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Case {
    /// A first run delivers every event once, in order, asking for each page once, with the credential.
    FirstRun,
    /// A run resumes from the committed cursor (mid-page after a sink failure, and once caught up) with
    /// no duplicate and no gap.
    Resume,
    /// Events added between runs are delivered by the next run, which does not start over.
    NewEvents,
    /// A 429 with a rate-limit reset in the middle of a chain is waited out and the same page repeated.
    RateLimited,
    /// A 5xx is retried; a 5xx asking for a wait beyond `max_retry_wait` ends the run transiently.
    ServerError,
    /// A malformed page ends the run after the records before it, and the checkpoint stays on them.
    MalformedPage,
    /// An API with no events, and a chain ending on an empty page.
    EmptyPage,
    /// A redirect to another origin is refused; the other origin receives nothing.
    OffOriginRedirect,
    /// A `next` link to another origin is refused; nothing is sent there, no cursor points there.
    OffOriginLink,
    /// A 401 is fatal, sent once (twice for a fetched token, [`Vendor::refetches_on_401`]: no retry storm),
    /// with an error naming the status.
    RejectedCredential,
    /// An unreadable stored cursor is a checkpoint error, and no request is sent.
    UnreadableCursor,
    /// No secret in any error message or captured log line, across every failure the suite provokes.
    NoSecretLeaks,
}

impl Case {
    /// Every case, in the order of the suite.
    pub const ALL: [Case; 12] = [
        Case::FirstRun,
        Case::Resume,
        Case::NewEvents,
        Case::RateLimited,
        Case::ServerError,
        Case::MalformedPage,
        Case::EmptyPage,
        Case::OffOriginRedirect,
        Case::OffOriginLink,
        Case::RejectedCredential,
        Case::UnreadableCursor,
        Case::NoSecretLeaks,
    ];

    /// The name of the test [`conformance_suite!`](crate::conformance_suite) generates for it. The match
    /// is exhaustive: a new case does not compile until it is named here and in the macro.
    pub fn test_name(self) -> &'static str {
        match self {
            Case::FirstRun => "first_run_delivers_every_event_once_in_order",
            Case::Resume => "resume_from_the_committed_cursor_without_duplicate_or_gap",
            Case::NewEvents => "events_added_between_runs_are_picked_up",
            Case::RateLimited => "a_429_mid_chain_waits_for_the_reset_and_repeats_the_page",
            Case::ServerError => "server_errors_are_retried",
            Case::MalformedPage => "a_malformed_page_ends_the_run_without_advancing_the_checkpoint",
            Case::EmptyPage => "empty_pages_end_the_run_cleanly",
            Case::OffOriginRedirect => "an_off_origin_redirect_is_refused",
            Case::OffOriginLink => "an_off_origin_next_link_is_refused",
            Case::RejectedCredential => "a_rejected_credential_is_fatal_with_a_clear_error",
            Case::UnreadableCursor => "an_unreadable_cursor_is_a_checkpoint_error_sending_nothing",
            Case::NoSecretLeaks => "no_secret_in_errors_or_logs",
        }
    }
}

/// How a case ended (a failed case panics).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// Every assertion held.
    Passed,
    /// The connector's API cannot express the case; why.
    NotExpressible(&'static str),
}

/// Runs `case` against `vendor`. Panics on a failed assertion. Needs a current-thread tokio runtime
/// (`#[tokio::test]`'s default), so that log capture sees every task.
pub async fn run(vendor: impl Vendor, case: Case) -> Verdict {
    let vendor: Arc<dyn Vendor> = Arc::new(vendor);
    match case {
        Case::FirstRun => cases::first_run(vendor).await,
        Case::Resume => cases::resume(vendor).await,
        Case::NewEvents => cases::new_events(vendor).await,
        Case::RateLimited => cases::rate_limited(vendor).await,
        Case::ServerError => cases::server_error(vendor).await,
        Case::EmptyPage => cases::empty_page(vendor).await,
        Case::MalformedPage => failures::malformed_page(vendor).await,
        Case::OffOriginRedirect => failures::off_origin_redirect(vendor).await,
        Case::OffOriginLink => failures::off_origin_link(vendor).await,
        Case::RejectedCredential => failures::rejected_credential(vendor).await,
        Case::UnreadableCursor => failures::unreadable_cursor(vendor).await,
        Case::NoSecretLeaks => failures::no_secret_leaks(vendor).await,
    }
}

/// Runs `case` and checks its verdict against the connector's declaration: a case in `not_expressible`
/// must answer [`Verdict::NotExpressible`], every other case must pass.
pub async fn check(vendor: impl Vendor, case: Case, not_expressible: &[Case]) {
    let declared = not_expressible.contains(&case);
    match (run(vendor, case).await, declared) {
        (Verdict::Passed, false) | (Verdict::NotExpressible(_), true) => {}
        (Verdict::Passed, true) => {
            panic!(
                "{case:?} is declared not expressible for this connector, but it ran and passed: remove it from the list"
            )
        }
        (Verdict::NotExpressible(why), false) => {
            panic!("{case:?} cannot be expressed for this connector ({why}): declare it in `not_expressible`")
        }
    }
}

/// One `#[tokio::test]` per [`Case`] for a connector's [`Vendor`]:
///
/// ```ignore
/// logcrawl_testkit::conformance_suite!(AcmeVendor, not_expressible: [OffOriginLink]);
/// ```
///
/// `$vendor` is evaluated once per test. Cases in `not_expressible` (names of [`Case`] variants) must
/// answer [`Verdict::NotExpressible`]; the others must pass. The calling crate needs `tokio` with the
/// `macros` and `rt` features.
#[macro_export]
macro_rules! conformance_suite {
    ($vendor:expr $(, not_expressible: [$($na:ident),* $(,)?])? $(,)?) => {
        $crate::__conformance_tests!($vendor; [$($($na),*)?];
            first_run_delivers_every_event_once_in_order => FirstRun,
            resume_from_the_committed_cursor_without_duplicate_or_gap => Resume,
            events_added_between_runs_are_picked_up => NewEvents,
            a_429_mid_chain_waits_for_the_reset_and_repeats_the_page => RateLimited,
            server_errors_are_retried => ServerError,
            a_malformed_page_ends_the_run_without_advancing_the_checkpoint => MalformedPage,
            empty_pages_end_the_run_cleanly => EmptyPage,
            an_off_origin_redirect_is_refused => OffOriginRedirect,
            an_off_origin_next_link_is_refused => OffOriginLink,
            a_rejected_credential_is_fatal_with_a_clear_error => RejectedCredential,
            an_unreadable_cursor_is_a_checkpoint_error_sending_nothing => UnreadableCursor,
            no_secret_in_errors_or_logs => NoSecretLeaks,
        );
    };
}

/// The tests of [`conformance_suite!`](crate::conformance_suite); not for direct use.
#[doc(hidden)]
#[macro_export]
macro_rules! __conformance_tests {
    ($vendor:expr; [$($na:ident),*]; $($name:ident => $case:ident),* $(,)?) => {
        /// The cases this connector declares not expressible.
        const __CONFORMANCE_NOT_EXPRESSIBLE: &[$crate::conformance::Case] = &[$($crate::conformance::Case::$na),*];
        $(
            #[tokio::test]
            async fn $name() {
                assert_eq!($crate::conformance::Case::$case.test_name(), stringify!($name));
                $crate::conformance::check($vendor, $crate::conformance::Case::$case, __CONFORMANCE_NOT_EXPRESSIBLE)
                    .await;
            }
        )*
    };
}
