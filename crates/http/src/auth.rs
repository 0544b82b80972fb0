//! Credentials: a header computed per request, never anywhere but that header.

use std::fmt;

use futures::future::BoxFuture;
use reqwest::StatusCode;
use reqwest::header::{HeaderName, HeaderValue};
use secrecy::{ExposeSecret, SecretString};

use crate::client::{RequestSpec, Response};
use crate::error::HttpError;

/// One credential header, marked sensitive so it never shows in `Debug` output or HTTP/2 header tables.
pub struct AuthHeader {
    /// Header name, e.g. `Authorization`, `DD-API-KEY`, `X-Auth-Token`.
    pub name: HeaderName,
    /// Header value.
    pub value: HeaderValue,
}

impl fmt::Debug for AuthHeader {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "AuthHeader({}: **REDACTED**)", self.name)
    }
}

impl AuthHeader {
    /// A header with a secret value (`prefix` is prepended, e.g. `"SSWS "` or `"Bearer "`).
    pub fn new(name: HeaderName, prefix: &str, secret: &SecretString) -> Result<Self, HttpError> {
        let mut value = HeaderValue::from_str(&format!("{prefix}{}", secret.expose_secret())).map_err(|_| {
            HttpError::Auth(format!("the {name} credential contains characters not allowed in a header"))
        })?;
        value.set_sensitive(true);
        Ok(Self { name, value })
    }
}

/// Supplies the credential header of each request. Static keys return the same header every time;
/// token-based schemes (OAuth, IAM) fetch, cache and refresh.
pub trait Auth: Send + Sync + fmt::Debug {
    /// The header for the next request.
    fn header(&self) -> BoxFuture<'_, Result<AuthHeader, HttpError>>;

    /// Called when the server answered 401: drop a cached token so the next call fetches a new one.
    /// Returns whether a retry with fresh credentials makes sense.
    fn invalidate(&self) -> bool {
        false
    }

    /// The credential headers of `request`. Most schemes send one header whatever the request is
    /// ([`header`](Self::header), the default); proof-of-possession schemes (DPoP, RFC 9449) sign each
    /// request's method and URL into a second header.
    fn headers<'a>(&'a self, request: &'a RequestSpec) -> BoxFuture<'a, Result<Vec<AuthHeader>, HttpError>> {
        let _ = request;
        Box::pin(async move { Ok(vec![self.header().await?]) })
    }

    /// A credential the API takes as a query parameter (an API key in the URL, for APIs that read no
    /// header): its name and value. The client appends it to the URL only as the request is sent, so the
    /// request's own URL — what logs, errors, links and stored cursors are made of — never holds it.
    /// `None` (the default): the credential travels in headers only.
    fn query_parameter(&self) -> Option<(&str, &SecretString)> {
        None
    }

    /// The server refused a request this credential signed (any 4xx), after `earlier` such refusals
    /// of the same request were answered: whether sending it again makes sense. By default the first 401
    /// [invalidates](Self::invalidate) a cached token (once: a second 401 stands); a scheme whose server
    /// hands out a value to sign into the next attempt (a DPoP nonce) adopts it here. The client asks at
    /// most twice per request.
    fn challenged(&self, response: &Response, earlier: u32) -> bool {
        earlier == 0 && response.status == StatusCode::UNAUTHORIZED && self.invalidate()
    }
}

/// A fixed secret in a fixed header: API tokens, API keys.
pub struct StaticAuth {
    name: HeaderName,
    prefix: std::borrow::Cow<'static, str>,
    secret: SecretString,
}

impl StaticAuth {
    /// `name: prefix + secret`, e.g. `Authorization: SSWS …` (a prefix from configuration is a `String`).
    pub fn new(name: HeaderName, prefix: impl Into<std::borrow::Cow<'static, str>>, secret: SecretString) -> Self {
        Self { name, prefix: prefix.into(), secret }
    }
}

impl fmt::Debug for StaticAuth {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "StaticAuth({}: {}**REDACTED**)", self.name, self.prefix)
    }
}

impl Auth for StaticAuth {
    fn header(&self) -> BoxFuture<'_, Result<AuthHeader, HttpError>> {
        Box::pin(async move { AuthHeader::new(self.name.clone(), &self.prefix, &self.secret) })
    }
}
