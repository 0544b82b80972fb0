//! What can go wrong with a request, phrased for an operator: every variant names the URL (redacted).

use logcrawl_core::Fatality;
use reqwest::StatusCode;

/// A request that did not produce a usable response.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum HttpError {
    /// A URL pointed at another origin than the configured one; nothing was sent.
    #[error("refused to follow {url}: it is not on the configured origin {origin} (credentials never leave it)")]
    OffOrigin {
        /// The refused URL (redacted).
        url: String,
        /// The configured origin.
        origin: String,
    },
    /// The server answered with a status the caller cannot use.
    #[error("{url} answered HTTP {status}{}", body_suffix(.body))]
    Status {
        /// The status.
        status: StatusCode,
        /// The URL (redacted).
        url: String,
        /// The start of the response body, for the operator.
        body: String,
    },
    /// The response body exceeded the configured cap and was cut off.
    #[error("response from {url} exceeds the {limit}-byte body limit; cut off")]
    BodyTooLarge {
        /// The URL (redacted).
        url: String,
        /// The cap in bytes.
        limit: usize,
    },
    /// The request could not be sent or the response not read.
    #[error("request to {url} failed: {message}")]
    Transport {
        /// The URL (redacted).
        url: String,
        /// What failed (timeout, connection reset, …), without secrets.
        message: String,
    },
    /// The body was not what the API documents.
    #[error("malformed response from {url}: {message}")]
    Decode {
        /// The URL (redacted).
        url: String,
        /// What is wrong.
        message: String,
    },
    /// Retryable failures continued past the retry budget.
    #[error("gave up on {url} after {attempts} attempts: {last}")]
    RetriesExhausted {
        /// The URL (redacted).
        url: String,
        /// Attempts made.
        attempts: u32,
        /// The last failure.
        last: String,
    },
    /// The server asked (`Retry-After` on a 429 or 5xx, or a rate-limit reset) for a longer wait than
    /// allowed: the request is given up, the run ends, and the next scheduled run tries again.
    #[error(
        "{url} answered HTTP {status} asking to wait {wait_secs} s, longer than the {max_secs} s allowed (max_retry_wait); giving up until the next run"
    )]
    ServerWaitTooLong {
        /// The URL (redacted).
        url: String,
        /// The answer that asked for the wait.
        status: StatusCode,
        /// Requested wait, in seconds.
        wait_secs: u64,
        /// Allowed wait, in seconds.
        max_secs: u64,
    },
    /// The server answered with a redirect the client does not follow: one off the configured origin, or
    /// any redirect of a request with a body (a 301/302/303 would turn a `POST` of logs into a `GET`
    /// without them, and a 2xx to that `GET` would look like a delivery).
    #[error("{url} answered HTTP {status}, a redirect to {location}, which is not followed: {reason}")]
    Redirected {
        /// The requested URL (redacted).
        url: String,
        /// The 3xx status.
        status: StatusCode,
        /// The `Location` header, resolved and redacted (or a placeholder when absent or unreadable).
        location: String,
        /// Whether the redirect leads off the configured origin (a fatal refusal: credentials stay home).
        off_origin: bool,
        /// Why it is not followed, with advice.
        reason: String,
    },
    /// Obtaining credentials failed (token endpoint, key loading).
    #[error("authentication failed: {0}")]
    Auth(String),
    /// A URL could not be built.
    #[error("invalid URL {url}: {message}")]
    InvalidUrl {
        /// The offending text (redacted).
        url: String,
        /// Why.
        message: String,
    },
}

fn body_suffix(body: &str) -> String {
    if body.is_empty() { String::new() } else { format!(": {body}") }
}

impl HttpError {
    /// The HTTP status, when the server answered.
    pub fn status(&self) -> Option<StatusCode> {
        match self {
            Self::Status { status, .. } => Some(*status),
            _ => None,
        }
    }

    /// Whether retrying later cannot help: credentials rejected (401/403) or refused by policy.
    pub fn is_fatal(&self) -> bool {
        matches!(self.status(), Some(StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN))
            || matches!(self, Self::Auth(_) | Self::OffOrigin { .. } | Self::Redirected { off_origin: true, .. })
    }
}

/// How a stream (`logcrawl_core::StreamError`) classes a failed request: [`HttpError::is_fatal`].
impl Fatality for HttpError {
    fn is_fatal(&self) -> bool {
        HttpError::is_fatal(self)
    }
}
