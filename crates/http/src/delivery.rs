//! The delivery driver of the sinks that post batches of log entries: send a request, and depending on the
//! answer accept it, give up, retry it, split it (413) or bisect it (400) until only the entries the
//! backend refuses are left, and drop those one by one.
//!
//! # Why one driver
//!
//! Datadog's intake and Huawei LTS answer in different words (a status alone, or a status and a JSON
//! `errorCode`), but what a sink must *do* with an answer is the same, and it is the part that is easy to
//! get subtly wrong: count retries per request and not per batch, never retry past the policy, honour
//! `Retry-After` and hold the whole rate budget for it, never drop a whole request for one bad entry, and
//! account for every entry exactly once (accepted or dropped) so that the crawler commits a cursor only
//! behind delivered logs. This module does that once. A sink keeps what is really its own:
//!
//! * building a request and sending it once, and **classifying** the answer into a [`Verdict`]
//!   ([`Courier::attempt`]), with its own error wording and with its secrets already scrubbed;
//! * **cutting** a request in two ([`Courier::halves`]): LTS re-slices its entries, Datadog reopens a gzip
//!   body into its entries and packs each half again;
//! * refreshing credentials after a 401 ([`Courier::refresh_credentials`]), for token schemes.
//!
//! # What the driver does
//!
//! [`Driver::deliver`] takes one request and works through a stack of requests, first half first, so
//! entries are offered in their original order:
//!
//! | verdict | action |
//! |---|---|
//! | [`Verdict::Accepted`] | every entry of the request counts as accepted |
//! | [`Verdict::Split`] (413) | the halves are sent instead; a single entry still too large is dropped (warning with an excerpt) |
//! | [`Verdict::Bisect`] (400) | the halves are sent until the refused entries are isolated; each is dropped (warning with an excerpt) |
//! | [`Verdict::Retry`] | jittered backoff ([`RetryPolicy::delay`]), waiting at least the `Retry-After`, which also holds every request of the [`RateBudget`]; after [`RetryPolicy::max_attempts`] attempts, a retryable [`SinkError`] |
//! | [`Verdict::Unauthorized`] | credentials are refreshed once per request (not counted as an attempt) when [`Courier::refresh_credentials`] says it helps; otherwise fatal |
//! | [`Verdict::Fatal`] | a fatal [`SinkError`] at once |
//!
//! A `Retry-After` longer than allowed is handled as [`LongRetryAfter`] says: give up (the run ends and the
//! next one re-sends from the last commit) or wait no longer than a cap.
//!
//! Any error ends the whole delivery: nothing of the request is acknowledged, even halves that were already
//! accepted, because the crawler re-sends the batch from its last commit (at-least-once delivery).

use std::future::Future;
use std::time::Duration;

use logcrawl_core::{Delivery, SinkError};

use crate::ratelimit::RateBudget;
use crate::retry::RetryPolicy;

/// What the backend's answer to one attempt means, as the sink's classifier sees it.
///
/// Messages must already be free of secrets: the driver puts them into errors and logs as they are.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// Every entry of the request was taken.
    Accepted,
    /// The request is too large (413): send its halves instead. The text says why, for the logs.
    Split(String),
    /// The backend refused something in the request (400): bisect it to isolate the refused entries.
    /// The text is the backend's reason, for the logs.
    Bisect(String),
    /// The credentials were refused (401). The driver asks [`Courier::refresh_credentials`] once per request
    /// and tries again; if that does not help, this is the fatal error's message.
    Unauthorized(String),
    /// Retrying cannot help (credentials, permissions, configuration): the error's message.
    Fatal(String),
    /// A failure a later attempt may not hit (timeouts, 408, 429, 5xx, network errors).
    Retry {
        /// The wait the backend asked for (`Retry-After`), if any.
        after: Option<Duration>,
        /// What went wrong, for the log and for the error when retries run out.
        last: String,
    },
}

/// How a `Retry-After` beyond what is allowed is handled.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LongRetryAfter {
    /// A `Retry-After` longer than the policy's [`RetryPolicy::max_delay`] (configured as `retry_max_delay`)
    /// ends the request with a retryable error at once: the run ends rather than stall, and the next one
    /// re-sends. The rate budget is still held for `max_delay`.
    GiveUp,
    /// A `Retry-After` is waited out, but never longer than this.
    WaitAtMost(Duration),
}

/// A sink's side of the delivery of one kind of request: sending it once and classifying the answer,
/// cutting it in two, and describing its single entry when that entry is dropped.
pub trait Courier: Sync {
    /// One request: its entries and whatever is needed to send them (e.g. the encoded body).
    type Request: Send;

    /// The number of entries in `request`.
    fn entries(&self, request: &Self::Request) -> usize;

    /// Sends `request` once and classifies the answer (or the transport failure). Called again for every
    /// retry, so a request may be signed anew each time.
    fn attempt(&self, request: &Self::Request) -> impl Future<Output = Verdict> + Send;

    /// The two halves of `request` (of at least two entries), the first one not longer than the second.
    /// An error ends the delivery.
    fn halves(
        &self,
        request: Self::Request,
    ) -> impl Future<Output = Result<(Self::Request, Self::Request), SinkError>> + Send;

    /// The start of the first entry of `request`, for the warning when it is dropped. Must not reveal
    /// secrets; may be a description (time, size) rather than content.
    fn excerpt(&self, request: &Self::Request) -> String;

    /// After [`Verdict::Unauthorized`]: drops cached credentials so the next attempt fetches new ones, and
    /// says whether that can help. Static credentials answer `false` (the default).
    fn refresh_credentials(&self) -> bool {
        false
    }
}

/// What a delivery did with its entries: every entry is counted exactly once.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Delivered {
    /// Entries the backend accepted.
    pub accepted: usize,
    /// Entries dropped because the backend refused them one by one (400).
    pub refused: usize,
    /// Entries dropped because even alone they were too large (413).
    pub too_large: usize,
}

impl Delivered {
    /// Entries dropped for any reason.
    pub fn dropped(&self) -> usize {
        self.refused + self.too_large
    }
}

impl std::ops::AddAssign for Delivered {
    fn add_assign(&mut self, rhs: Self) {
        self.accepted += rhs.accepted;
        self.refused += rhs.refused;
        self.too_large += rhs.too_large;
    }
}

impl From<Delivered> for Delivery {
    fn from(delivered: Delivered) -> Self {
        Delivery { accepted: delivered.accepted, dropped: delivered.dropped() }
    }
}

/// The settings of deliveries to one backend: who is sending to whom, and how patiently.
#[derive(Debug, Clone, Copy)]
pub struct Driver<'a> {
    /// The sink's configured name, for logs and errors.
    pub sink: &'a str,
    /// The backend, as errors name it, e.g. `the Datadog intake (site datadoghq.eu)`.
    pub peer: &'a str,
    /// The stream the entries come from, for logs.
    pub stream: &'a str,
    /// Attempts and backoff of retryable failures, per request.
    pub retry: RetryPolicy,
    /// What a `Retry-After` beyond the allowed wait does.
    pub long_retry_after: LongRetryAfter,
    /// The rate budget held for a `Retry-After`, so that every request to the backend waits, not just the
    /// one that was told to ([`crate::HttpClient::budget`]).
    pub budget: &'a RateBudget,
}

/// How one request (not its halves) ended.
enum Outcome {
    Accepted,
    /// 413 (`too_large`) or 400, with the reason.
    Refused {
        too_large: bool,
        reason: String,
    },
}

impl Driver<'_> {
    /// Delivers `request` through `courier`: retries, splits and bisects as its verdicts say (see the module
    /// documentation), and returns what became of every entry, or the error that ended the delivery.
    pub async fn deliver<C: Courier>(&self, courier: &C, request: C::Request) -> Result<Delivered, SinkError> {
        let mut delivered = Delivered::default();
        let mut pending = vec![request];
        while let Some(request) = pending.pop() {
            let entries = courier.entries(&request);
            let (too_large, reason) = match self.settle(courier, &request).await? {
                Outcome::Accepted => {
                    tracing::debug!(sink = %self.sink, stream = %self.stream, entries, "{} accepted a request", self.peer);
                    delivered.accepted += entries;
                    continue;
                }
                Outcome::Refused { too_large, reason } => (too_large, reason),
            };
            if entries <= 1 {
                let entry = if entries == 1 { courier.excerpt(&request) } else { String::new() };
                if too_large {
                    tracing::warn!(sink = %self.sink, stream = %self.stream, reason = %reason, entry = %entry,
                        "{} refused a single log entry as too large; dropping it", self.peer);
                    delivered.too_large += entries;
                } else {
                    tracing::warn!(sink = %self.sink, stream = %self.stream, reason = %reason, entry = %entry,
                        "{} refused a log entry; dropping it", self.peer);
                    delivered.refused += entries;
                }
                continue;
            }
            if too_large {
                tracing::info!(sink = %self.sink, stream = %self.stream, entries, reason = %reason,
                    "request too large for {}; splitting it in halves", self.peer);
            } else {
                tracing::info!(sink = %self.sink, stream = %self.stream, entries, reason = %reason,
                    "{} refused a request; bisecting it to find the bad entries", self.peer);
            }
            let (first, second) = courier.halves(request).await?;
            pending.push(second);
            pending.push(first);
        }
        Ok(delivered)
    }

    /// Sends one request until it is accepted or refused as a whole, or fails for good.
    async fn settle<C: Courier>(&self, courier: &C, request: &C::Request) -> Result<Outcome, SinkError> {
        let mut failures = 0u32;
        let mut refreshed = false;
        loop {
            let (after, last) = match courier.attempt(request).await {
                Verdict::Accepted => return Ok(Outcome::Accepted),
                Verdict::Split(reason) => return Ok(Outcome::Refused { too_large: true, reason }),
                Verdict::Bisect(reason) => return Ok(Outcome::Refused { too_large: false, reason }),
                Verdict::Fatal(message) => return Err(SinkError::fatal(message)),
                Verdict::Unauthorized(message) => {
                    // Fresh credentials once per request, without counting an attempt.
                    if !refreshed && courier.refresh_credentials() {
                        refreshed = true;
                        tracing::info!(sink = %self.sink, "{} refused the credentials (401); fetching new ones", self.peer);
                        continue;
                    }
                    return Err(SinkError::fatal(message));
                }
                Verdict::Retry { after, last } => (after, last),
            };
            failures += 1;
            if !self.retry.allows_another(failures) {
                return Err(SinkError::retryable(format!(
                    "sink {}: gave up on {} after {failures} attempts: {last}",
                    self.sink, self.peer
                )));
            }
            let after = match after {
                Some(after) => Some(self.retry_after(after, &last)?),
                None => None,
            };
            let wait = self.retry.delay(failures).max(after.unwrap_or_default());
            tracing::warn!(sink = %self.sink, stream = %self.stream, attempt = failures,
                wait_ms = wait.as_millis() as u64, error = %last, "request to {} failed; retrying", self.peer);
            tokio::time::sleep(wait).await;
        }
    }

    /// The part of a `Retry-After` to wait out; holds the rate budget for it.
    fn retry_after(&self, after: Duration, last: &str) -> Result<Duration, SinkError> {
        let limit = match self.long_retry_after {
            LongRetryAfter::GiveUp => self.retry.max_delay,
            LongRetryAfter::WaitAtMost(limit) => limit,
        };
        // Everyone sending to this backend holds back, not just this request (bounded, so a huge
        // Retry-After cannot hold a shutdown hostage).
        self.budget.block_for(after.min(limit));
        if after > limit && self.long_retry_after == LongRetryAfter::GiveUp {
            return Err(SinkError::retryable(format!(
                "sink {}: {} asks to wait {} s (Retry-After), longer than retry_max_delay ({} s): {last}",
                self.sink,
                self.peer,
                after.as_secs(),
                limit.as_secs()
            )));
        }
        Ok(after.min(limit))
    }
}

#[cfg(test)]
mod tests;
