//! # logcrawl-http
//!
//! The one HTTP client every connector and sink uses, so each of them gets the same protections without
//! writing them again:
//!
//! * **rate budgets** ([`RateBudget`]): a governor quota plus adaptation to the vendor's
//!   `X-Rate-Limit-Remaining/Reset` headers, applied to *every* request, each page of a chain included, and
//!   shared by every source that talks to the same tenant;
//! * **429 handling**: wait for `Retry-After` or the announced reset, then repeat the same request, so a
//!   rate limit in the middle of a pagination chain never leaves a gap; a vendor that answers its rate
//!   limits with 403 (GitHub) opts in to the same for those ([`HttpConfig::rate_limit_403`]);
//! * **retries** ([`RetryPolicy`]): jittered exponential backoff on timeouts, resets, 408 and 5xx, bounded;
//! * **a body cap**, so a runaway response cannot exhaust memory;
//! * **RFC 8288 `Link` parsing** ([`find_link`]) with relative references resolved;
//! * **a same-origin guard**: a `next` link or redirect to another host is refused before anything is sent,
//!   so credentials never leave their origin;
//! * **secrets redacted** in `Debug`, logs and errors ([`redact_url`], [`AuthHeader`]);
//! * **OAuth access tokens** ([`request_token`], [`TokenCache`]): requested per attempt, cached, replaced
//!   before they expire and dropped on a 401, for every token-based credential alike;
//! * **signed assertions** (feature `jwt`, [`jwt::RsaSigner`]): RS256 JWTs signed with an RSA key read
//!   from PEM, for the credentials that prove themselves with one (certificates, service accounts).
//!
//! A component configures its client from the settings every connector and HTTP sink shares
//! ([`logcrawl_core::HttpSettings`]: `timeout`, `requests_per_second`, retries, `max_retry_wait`) with
//! [`HttpConfig::with_settings`].
//!
//! Connectors call [`HttpClient::get`]/[`HttpClient::execute`] and get a 2xx [`Response`] or an
//! [`HttpError`] that already says whether the source must stop ([`HttpError::is_fatal`]). Sinks that
//! classify statuses themselves (split on 413, bisect on 400) call [`HttpClient::send_once`] and count
//! their retries through the same [`RetryState`] as [`HttpClient::execute`] (policy [`RetryPolicy`], waits
//! [`retry_after`], the [`LongServerWait`] rule); the delivery driver built on that lives with the sinks, in
//! `logcrawl-sink-util`: this crate is transport only and knows no batch or sink.

mod auth;
mod client;
mod error;
#[cfg(feature = "jwt")]
pub mod jwt;
mod link;
mod ratelimit;
mod redact;
mod retry;
mod token;

pub use auth::{Auth, AuthHeader, StaticAuth};
pub use client::{
    DEFAULT_MAX_BODY_BYTES, HttpClient, HttpConfig, REQUEST_LOG, RequestSpec, Response, SECONDARY_RATE_LIMIT_WAIT,
    is_rate_limit_403, is_retryable_status,
};
pub use error::HttpError;
pub use link::find_link;
pub use ratelimit::{
    MAX_RESET_HOLD, PROBE_AFTER, RateBudget, RateLimitConfig, RateLimitHeaders, RateLimitSnapshot, ResetFormat,
    tenant_key, until_epoch,
};
pub use redact::{redact_url, scrub};
pub use retry::{
    LONGEST_SERVER_WAIT, LongServerWait, RetryPolicy, RetryState, StopRetrying, parse_http_date, parse_retry_after,
    retry_after, server_clock, server_date,
};
pub use token::{
    DEFAULT_TOKEN_LIFETIME, IssuedToken, REFRESH_EARLY, TokenCache, describe_token_error, request_bearer_token,
    request_token, request_token_challenged,
};

pub use reqwest::{Method, StatusCode, header};
pub use url::Url;

#[cfg(test)]
mod tests;
