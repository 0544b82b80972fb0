//! OAuth 2.0 client credentials against the tenant's token endpoint, the way Auth0's machine-to-machine
//! applications get Management API tokens: `POST /oauth/token` with `grant_type=client_credentials`, the
//! application's `client_id` and `client_secret`, and `audience` = `https://{domain}/api/v2/`.
//!
//! The token is cached, replaced a minute before it expires (Auth0's default lifetime is a day), and
//! dropped by a 401 from the API so that the client fetches a new one once: the shared
//! [`TokenCache`] of `logcrawl-http`, as Okta's service apps do. The secret travels in the token
//! request's body only, never in a log line or an error.

use std::fmt;

use futures::future::BoxFuture;
use logcrawl_core::{ExposeSecret, SecretString};
use logcrawl_http::header::{ACCEPT, CONTENT_TYPE, HeaderValue};
use logcrawl_http::{
    Auth, AuthHeader, HttpClient, HttpError, IssuedToken, RequestSpec, TokenCache, Url, request_bearer_token,
};

/// The scope the logs endpoint requires.
pub const LOGS_SCOPE: &str = "read:logs";

/// `Authorization: Bearer …` from the tenant's token endpoint, by client credentials.
pub struct ClientCredentialsAuth {
    client_id: String,
    client_secret: SecretString,
    audience: String,
    token_url: Url,
    http: HttpClient,
    tokens: TokenCache,
}

impl fmt::Debug for ClientCredentialsAuth {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClientCredentialsAuth")
            .field("client_id", &self.client_id)
            .field("audience", &self.audience)
            .field("token_url", &self.token_url.as_str())
            .finish_non_exhaustive()
    }
}

impl ClientCredentialsAuth {
    /// The credential of application `client_id` for `audience`, requested at `token_url` through `http`.
    pub(crate) fn new(
        client_id: String,
        client_secret: SecretString,
        audience: String,
        token_url: Url,
        http: HttpClient,
    ) -> Self {
        Self { client_id, client_secret, audience, token_url, http, tokens: TokenCache::new() }
    }

    /// How many access tokens were fetched so far.
    pub fn token_fetches(&self) -> u64 {
        self.tokens.fetches()
    }

    /// The audience tokens are requested for.
    pub fn audience(&self) -> &str {
        &self.audience
    }

    fn token_request(&self) -> Result<RequestSpec, HttpError> {
        let body = serde_json::json!({
            "grant_type": "client_credentials",
            "client_id": self.client_id,
            "client_secret": self.client_secret.expose_secret(),
            "audience": self.audience,
        });
        Ok(RequestSpec::post(self.token_url.clone(), body.to_string())
            .header(CONTENT_TYPE, HeaderValue::from_static("application/json"))
            .header(ACCEPT, HeaderValue::from_static("application/json")))
    }

    async fn fetch(&self) -> Result<IssuedToken, HttpError> {
        let token = request_bearer_token(&self.http, || self.token_request(), hint, "the Management API").await?;
        tracing::debug!(client_id = %self.client_id, expires_in = ?token.expires_in.map(|d| d.as_secs()), "fetched an Auth0 Management API token");
        Ok(token)
    }
}

/// What to check for an OAuth `error` of Auth0's token endpoint.
fn hint(error: &str) -> &'static str {
    match error {
        "access_denied" | "invalid_client" => {
            " (check client_id and client_secret, and that the application is authorized for the Auth0 Management API with the read:logs scope; with a custom domain, `domain` must still be the tenant's Auth0 domain, which names the API's audience)"
        }
        "unauthorized_client" => " (the application must allow the Client Credentials grant)",
        "invalid_scope" => " (grant the application the read:logs scope of the Auth0 Management API)",
        _ => "",
    }
}

impl Auth for ClientCredentialsAuth {
    fn header(&self) -> BoxFuture<'_, Result<AuthHeader, HttpError>> {
        Box::pin(self.tokens.bearer(|| self.fetch()))
    }

    fn invalidate(&self) -> bool {
        self.tokens.invalidate();
        true
    }
}
