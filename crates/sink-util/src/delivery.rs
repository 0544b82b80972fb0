//! The delivery driver of the sinks that post batches of log entries: send a request, and depending on the
//! answer accept it, give up, retry it, split it (413) or bisect it (400) until only the entries the
//! backend refuses are left, and set those aside in the sink's dead-letter file.
//!
//! # Why one driver
//!
//! Datadog's intake and Huawei LTS answer in different words (a status alone, or a status and a JSON
//! `errorCode`), but what a sink must *do* with an answer is the same, and it is the part that is easy to
//! get subtly wrong: count retries per request and not per batch, never retry past the policy, honour
//! `Retry-After` and hold the whole rate budget for it, never give up a whole request for one bad entry,
//! never give up entries because the backend refuses *everything*, and account for every entry exactly
//! once (accepted or set aside) so that the crawler commits a cursor only behind delivered logs. This
//! module does that once. A sink keeps what is really its own:
//!
//! * building a request and sending it once, and **classifying** the answer into a [`Verdict`]
//!   ([`Courier::attempt`]), with its own error wording and with its secrets already scrubbed;
//! * **cutting** a request in two ([`Courier::halves`]): LTS re-slices its entries, Datadog reopens a gzip
//!   body into its entries and packs each half again;
//! * the entry of a one-entry request as it was sent ([`Courier::entry`]), for the dead-letter file;
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
//! | [`Verdict::Split`] (413) | the halves are sent instead, down to single entries |
//! | [`Verdict::Bisect`] (400) | the halves are sent until the refused entries are isolated |
//! | [`Verdict::Retry`] | jittered backoff ([`RetryPolicy::delay`](logcrawl_http::RetryPolicy::delay)), waiting at least the `Retry-After`, which also holds every request of the [`RateBudget`]; after [`RetryPolicy::max_attempts`](logcrawl_http::RetryPolicy::max_attempts) attempts, a retryable [`SinkError`] |
//! | [`Verdict::Unauthorized`] | credentials are refreshed once per request (not counted as an attempt) when [`Courier::refresh_credentials`] says it helps; otherwise fatal |
//! | [`Verdict::Fatal`] | a fatal [`SinkError`] at once |
//!
//! # Refused entries are set aside, never dropped, and only when the backend accepts others
//!
//! A single entry the backend still refuses (400, or 413 alone) is poison only if the backend is
//! demonstrably accepting other entries: its neighbours in the same request, or this sink's other
//! requests (an [`Acceptance`] shared by all deliveries of the sink). Then it is written, with the
//! backend's reason, to the sink's [`DeadLetterFile`] and counted. Otherwise — every entry refused and
//! nothing else ever accepted, typically a misconfiguration (labels, a proxy, a wrong endpoint) — the
//! delivery fails and nothing is set aside: the run ends, and the next one sends the records again. A
//! sink without a dead-letter file fails the delivery too, rather than lose a record.
//!
//! A `Retry-After` longer than allowed is handled as the [`LongServerWait`] rule says: give up (the run ends and the
//! next one re-sends from the last commit) or wait no longer than a cap.
//!
//! Any error ends the whole delivery: nothing of the request is acknowledged, even halves that were already
//! accepted, because the crawler re-sends the batch from its last commit (at-least-once delivery).

use std::future::Future;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use logcrawl_core::deadletter::{DeadLetter, DeadLetterFile};
use logcrawl_core::{Delivery, SinkError, metric};
use metrics::SharedString;

use logcrawl_http::{LongServerWait, RateBudget, RetryPolicy, RetryState, StopRetrying};

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

    /// The start of the first entry of `request`, for the warning when it is set aside. Must not reveal
    /// secrets; may be a description (time, size) rather than content.
    fn excerpt(&self, request: &Self::Request) -> String;

    /// The single entry of a one-entry `request` as it was sent (JSON), for the dead-letter file.
    fn entry(&self, request: &Self::Request) -> Vec<u8>;

    /// After [`Verdict::Unauthorized`]: drops cached credentials so the next attempt fetches new ones, and
    /// says whether that can help. Static credentials answer `false` (the default).
    fn refresh_credentials(&self) -> bool {
        false
    }

    /// The payload of `request` in bytes: `(before compression, as sent)`, counted in
    /// `logcrawl_sink_bytes_total` for each attempt. `None` (the default) when the sink does not know.
    fn payload_bytes(&self, request: &Self::Request) -> Option<(usize, usize)> {
        let _ = request;
        None
    }
}

/// What a delivery did with its entries: every entry is counted exactly once.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Delivered {
    /// Entries the backend accepted.
    pub accepted: usize,
    /// Entries the backend refused one by one (400) while accepting others: in the dead-letter file.
    pub refused: usize,
    /// Entries the backend refused as too large even alone (413): in the dead-letter file.
    pub too_large: usize,
}

impl Delivered {
    /// Entries set aside in the dead-letter file for any reason.
    pub fn dead_lettered(&self) -> usize {
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
        Delivery { accepted: delivered.accepted, dropped: 0, dead_lettered: delivered.dead_lettered() }
    }
}

/// Whether a backend has accepted any request of this sink: what makes a refusal of one entry credible
/// as "this entry is bad" rather than "everything is refused". One per sink, shared by its deliveries.
#[derive(Debug, Default)]
pub struct Acceptance {
    accepted_any: AtomicBool,
}

impl Acceptance {
    /// Notes that the backend accepted a request.
    pub fn record(&self) {
        self.accepted_any.store(true, Ordering::Relaxed);
    }

    /// Whether the backend accepted any request so far.
    pub fn has_accepted(&self) -> bool {
        self.accepted_any.load(Ordering::Relaxed)
    }
}

/// What a sink keeps about refused entries across its deliveries: whether the backend accepts anything
/// ([`Acceptance`]), and the dead-letter file refused entries go to. One per sink.
#[derive(Debug, Default)]
pub struct Refusals {
    /// Whether the backend accepted any of this sink's requests.
    pub acceptance: Acceptance,
    /// Where entries refused on their own go; without one, such a refusal fails the delivery.
    pub dead_letters: Option<DeadLetterFile>,
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
    /// What a `Retry-After` beyond the allowed wait does: give up (the run ends, the next one re-sends)
    /// or wait no longer than a cap. Either way the rate budget is held for at most the limit.
    pub long_wait: LongServerWait,
    /// The rate budget held for a `Retry-After`, so that every request to the backend waits, not just the
    /// one that was told to ([`logcrawl_http::HttpClient::budget`]).
    pub budget: &'a RateBudget,
    /// The sink's memory of refusals: whether the backend accepts its requests, and its dead-letter file
    /// (see the module documentation).
    pub refusals: &'a Refusals,
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
        // Single entries the backend refused: set aside only once the whole request is settled, when it
        // is known whether the backend accepted any of their neighbours.
        let mut refused: Vec<(C::Request, bool, String)> = Vec::new();
        let mut pending = vec![request];
        while let Some(request) = pending.pop() {
            let entries = courier.entries(&request);
            let (too_large, reason) = match self.settle(courier, &request).await? {
                Outcome::Accepted => {
                    tracing::debug!(sink = %self.sink, stream = %self.stream, entries, "{} accepted a request", self.peer);
                    self.refusals.acceptance.record();
                    delivered.accepted += entries;
                    continue;
                }
                Outcome::Refused { too_large, reason } => (too_large, reason),
            };
            if entries <= 1 {
                if entries == 1 {
                    refused.push((request, too_large, reason));
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
        if !refused.is_empty() {
            self.set_aside(courier, &refused, delivered.accepted > 0)?;
            for (_, too_large, _) in &refused {
                if *too_large {
                    delivered.too_large += 1;
                } else {
                    delivered.refused += 1;
                }
            }
        }
        Ok(delivered)
    }

    /// Writes the refused single entries to the dead-letter file, or fails the delivery when the backend
    /// is not demonstrably accepting other entries or there is no file to keep them.
    fn set_aside<C: Courier>(
        &self,
        courier: &C,
        refused: &[(C::Request, bool, String)],
        neighbours_accepted: bool,
    ) -> Result<(), SinkError> {
        let last_reason = refused.last().map_or("", |(_, _, reason)| reason.as_str());
        if !neighbours_accepted && !self.refusals.acceptance.has_accepted() {
            return Err(SinkError::retryable(format!(
                "sink {}: {} refused {} of {} (each on its own) and has accepted nothing from this sink so far; \
                 that points at the configuration or the backend, not at the records, so none was set aside \
                 (the next run sends them again): {last_reason}",
                self.sink,
                self.peer,
                if refused.len() == 1 { "the record".to_owned() } else { format!("all {} records", refused.len()) },
                if refused.len() == 1 { "its request" } else { "their request" },
            )));
        }
        let Some(file) = &self.refusals.dead_letters else {
            return Err(SinkError::retryable(format!(
                "sink {}: {} refused {} record(s) on their own, and no dead-letter file is configured to keep \
                 them, so the delivery fails rather than lose them: {last_reason}",
                self.sink,
                self.peer,
                refused.len()
            )));
        };
        let entries: Vec<Vec<u8>> = refused.iter().map(|(request, _, _)| courier.entry(request)).collect();
        let letters: Vec<DeadLetter<'_>> = refused
            .iter()
            .zip(&entries)
            .map(|((_, _, reason), entry)| DeadLetter { stream: self.stream, reason, entry })
            .collect();
        file.write(&letters).map_err(|err| SinkError::retryable(format!("sink {}: {err}", self.sink)))?;
        for (request, too_large, reason) in refused {
            tracing::warn!(sink = %self.sink, stream = %self.stream, reason = %reason, entry = %courier.excerpt(request),
                file = %file.path().display(), too_large,
                "{} refused a log entry on its own; set aside in the dead-letter file", self.peer);
        }
        Ok(())
    }

    /// Sends one request until it is accepted or refused as a whole, or fails for good.
    async fn settle<C: Courier>(&self, courier: &C, request: &C::Request) -> Result<Outcome, SinkError> {
        let mut retry = RetryState::new(self.retry, self.long_wait);
        let mut refreshed = false;
        loop {
            let verdict = courier.attempt(request).await;
            self.count(courier, request, &verdict);
            let (after, last) = match verdict {
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
            if let Some(after) = after {
                // Everyone sending to this backend holds back, not just this request (bounded, so a huge
                // Retry-After cannot hold a shutdown hostage).
                self.budget.block_for(after.min(self.long_wait.limit()));
            }
            let wait = retry.next_wait(after).map_err(|stop| match stop {
                StopRetrying::Exhausted { attempts } => SinkError::retryable(format!(
                    "sink {}: gave up on {} after {attempts} attempts: {last}",
                    self.sink, self.peer
                )),
                StopRetrying::WaitTooLong { asked, limit } => SinkError::retryable(format!(
                    "sink {}: {} asks to wait {} s (Retry-After), longer than the {} s allowed: {last}",
                    self.sink,
                    self.peer,
                    asked.as_secs(),
                    limit.as_secs()
                )),
            })?;
            tracing::warn!(sink = %self.sink, stream = %self.stream, attempt = retry.failures(),
                wait_ms = wait.as_millis() as u64, error = %last, "request to {} failed; retrying", self.peer);
            metrics::counter!(metric::SINK_RETRIES, "sink" => self.sink.to_owned()).increment(1);
            tokio::time::sleep(wait).await;
        }
    }

    /// Counts one attempt: its outcome and, when the sink knows them, its bytes before and after compression.
    fn count<C: Courier>(&self, courier: &C, request: &C::Request, verdict: &Verdict) {
        let outcome = match verdict {
            Verdict::Accepted => "accepted",
            Verdict::Split(_) => "split",
            Verdict::Bisect(_) => "refused",
            Verdict::Unauthorized(_) => "unauthorized",
            Verdict::Fatal(_) => "error",
            Verdict::Retry { .. } => "retried",
        };
        let sink = SharedString::from(self.sink.to_owned());
        metrics::counter!(metric::SINK_REQUESTS, "sink" => sink.clone(), "outcome" => outcome).increment(1);
        if let Some((raw, sent)) = courier.payload_bytes(request) {
            metrics::counter!(metric::SINK_BYTES, "sink" => sink.clone(), "stage" => "raw").increment(raw as u64);
            metrics::counter!(metric::SINK_BYTES, "sink" => sink, "stage" => "sent").increment(sent as u64);
        }
    }
}

#[cfg(test)]
mod tests;
