//! `Authorization: Bearer …` from Google's token endpoint by the JWT bearer grant (RFC 7523): the
//! service account's signed assertion in, an access token out, cached for every application of the
//! source, renewed a minute before it expires and fetched again once when the API answers 401. The
//! assertion travels in the token request's body only, never in a log line or an error.

use std::fmt;

use futures::future::BoxFuture;
use logcrawl_http::header::{ACCEPT, CONTENT_TYPE, HeaderValue};
use logcrawl_http::{
    Auth, AuthHeader, HttpClient, HttpError, IssuedToken, RequestSpec, TokenCache, Url, request_bearer_token,
};

use crate::credentials::ServiceAccount;

/// `grant_type` of the JWT bearer grant.
pub const GRANT_TYPE: &str = "urn:ietf:params:oauth:grant-type:jwt-bearer";

/// A service account acting as an administrator, for one scope, through one token endpoint.
pub struct ServiceAccountAuth {
    account: ServiceAccount,
    subject: String,
    scope: String,
    token_url: Url,
    http: HttpClient,
    tokens: TokenCache,
}

impl fmt::Debug for ServiceAccountAuth {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ServiceAccountAuth")
            .field("account", &self.account)
            .field("subject", &self.subject)
            .field("token_url", &self.token_url.as_str())
            .finish_non_exhaustive()
    }
}

impl ServiceAccountAuth {
    /// `account` acting as `subject` for `scope`, its tokens requested at `token_url` through `http`.
    pub(crate) fn new(
        account: ServiceAccount,
        subject: String,
        scope: String,
        token_url: Url,
        http: HttpClient,
    ) -> Self {
        Self { account, subject, scope, token_url, http, tokens: TokenCache::new() }
    }

    /// How many access tokens were fetched so far.
    pub fn token_fetches(&self) -> u64 {
        self.tokens.fetches()
    }

    /// The token endpoint.
    pub fn token_url(&self) -> &Url {
        &self.token_url
    }

    /// The service account.
    pub fn account(&self) -> &ServiceAccount {
        &self.account
    }

    /// The administrator acted as.
    pub fn subject(&self) -> &str {
        &self.subject
    }

    /// One token request as sent, with an assertion signed now.
    fn token_request(&self) -> Result<RequestSpec, HttpError> {
        let assertion = self
            .account
            .assertion(&self.subject, &self.scope, self.token_url.as_str())
            .map_err(|err| HttpError::Auth(format!("signing the service account's assertion failed: {err}")))?;
        let body = url::form_urlencoded::Serializer::new(String::new())
            .append_pair("grant_type", GRANT_TYPE)
            .append_pair("assertion", &assertion)
            .finish();
        Ok(RequestSpec::post(self.token_url.clone(), body)
            .header(CONTENT_TYPE, HeaderValue::from_static("application/x-www-form-urlencoded"))
            .header(ACCEPT, HeaderValue::from_static("application/json")))
    }

    async fn fetch(&self) -> Result<IssuedToken, HttpError> {
        // Built anew per attempt: a retry carries an assertion issued at its own time.
        let token = request_bearer_token(&self.http, || self.token_request(), hint, "the Admin SDK").await?;
        tracing::debug!(client_email = %self.account.client_email(), subject = %self.subject,
            expires_in = ?token.expires_in.map(|d| d.as_secs()), "fetched a Google access token");
        Ok(token)
    }
}

/// What to check for an OAuth `error` of Google's token endpoint.
pub(crate) fn hint(error: &str) -> &'static str {
    match error {
        "unauthorized_client" => {
            " (domain-wide delegation: in the Admin console, Security → Access and data control → API controls → \
             Manage domain-wide delegation, the service account's client ID must be granted the scope \
             https://www.googleapis.com/auth/admin.reports.audit.readonly)"
        }
        "invalid_grant" => {
            " (subject must be the email of an administrator of the customer with the Reports privilege; the key \
             must be a current key of the service account, neither deleted nor disabled; and this machine's clock \
             must be right, since the assertion is valid for an hour from now)"
        }
        "invalid_client" | "invalid_request" => {
            " (credentials must be the service account key file as downloaded, and token_url Google's token \
             endpoint, https://oauth2.googleapis.com/token)"
        }
        "invalid_scope" => " (the scope https://www.googleapis.com/auth/admin.reports.audit.readonly was refused)",
        _ => "",
    }
}

impl Auth for ServiceAccountAuth {
    fn header(&self) -> BoxFuture<'_, Result<AuthHeader, HttpError>> {
        Box::pin(self.tokens.bearer(|| self.fetch()))
    }

    fn invalidate(&self) -> bool {
        self.tokens.invalidate();
        true
    }
}
