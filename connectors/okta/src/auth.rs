//! OAuth 2.0 client credentials with `private_key_jwt`, the way Okta's API service apps authenticate.
//!
//! Each token request carries a fresh client assertion: an RS256 JWT signed with the app's private key,
//! `iss` = `sub` = the client ID, `aud` = the token URL, a five-minute expiry and a unique `jti`. Okta
//! refuses a replayed `jti` with 400 `invalid_client`, so "each request" includes every retry the HTTP
//! client makes after a lost answer (a 5xx, a timeout, a reset): the assertion is signed per attempt
//! ([`HttpClient::execute_with`]), never once per fetch.
//!
//! The access token is cached, replaced a minute before it expires, and dropped by a 401 from the API so
//! that the client fetches a new one once: the shared [`TokenCache`] of `logcrawl-http`.

use std::fmt;
use std::time::Duration;

use futures::future::BoxFuture;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use logcrawl_core::{ExposeSecret, SecretString};
use logcrawl_http::header::{CONTENT_TYPE, HeaderValue};
use logcrawl_http::{
    Auth, AuthHeader, HttpClient, HttpError, IssuedToken, RequestSpec, TokenCache, Url, request_token,
};
use serde::Serialize;

/// The scope the System Log API requires.
pub const LOGS_SCOPE: &str = "okta.logs.read";
/// The client-assertion type of `private_key_jwt`.
pub const ASSERTION_TYPE: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";
/// Lifetime of a client assertion (Okta accepts at most one hour).
const ASSERTION_LIFETIME: Duration = Duration::from_secs(300);

#[derive(Serialize)]
struct Claims<'a> {
    iss: &'a str,
    sub: &'a str,
    aud: &'a str,
    iat: i64,
    exp: i64,
    jti: String,
}

/// `Authorization: Bearer …` from Okta's token endpoint, via a `private_key_jwt` client assertion.
pub struct PrivateKeyJwtAuth {
    client_id: String,
    key_id: Option<String>,
    key: EncodingKey,
    token_url: Url,
    http: HttpClient,
    tokens: TokenCache,
}

impl fmt::Debug for PrivateKeyJwtAuth {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PrivateKeyJwtAuth")
            .field("client_id", &self.client_id)
            .field("key_id", &self.key_id)
            .field("token_url", &self.token_url.as_str())
            .finish_non_exhaustive()
    }
}

impl PrivateKeyJwtAuth {
    /// Parses the PEM key (`Err` is a message for the operator, never the key).
    pub(crate) fn new(
        client_id: String,
        key_id: Option<String>,
        pem: &SecretString,
        token_url: Url,
        http: HttpClient,
    ) -> Result<Self, String> {
        let key = EncodingKey::from_rsa_pem(pem.expose_secret().as_bytes())
            .map_err(|err| format!("not an RSA private key in PEM form (PKCS#1 or PKCS#8): {err}"))?;
        // Sign once now so a key the crypto backend refuses (too short, wrong type) fails at startup.
        let auth = Self { client_id, key_id, key, token_url, http, tokens: TokenCache::new() };
        auth.assertion().map_err(|err| format!("cannot sign with this key: {err}"))?;
        Ok(auth)
    }

    /// How many access tokens were fetched so far.
    pub fn token_fetches(&self) -> u64 {
        self.tokens.fetches()
    }

    fn assertion(&self) -> Result<String, jsonwebtoken::errors::Error> {
        let now = jiff::Timestamp::now().as_second();
        let mut header = Header::new(Algorithm::RS256);
        header.kid.clone_from(&self.key_id);
        let jti = format!("{:032x}{:016x}", fastrand::u128(..), jiff::Timestamp::now().as_nanosecond() as u64);
        let claims = Claims {
            iss: &self.client_id,
            sub: &self.client_id,
            aud: self.token_url.as_str(),
            iat: now,
            exp: now + ASSERTION_LIFETIME.as_secs() as i64,
            jti,
        };
        jsonwebtoken::encode(&header, &claims, &self.key)
    }

    /// One token request as sent: a newly signed assertion (new `jti`, `iat`, `exp`) every time it is called.
    fn token_request(&self) -> Result<RequestSpec, HttpError> {
        let assertion =
            self.assertion().map_err(|err| HttpError::Auth(format!("signing the client assertion failed: {err}")))?;
        let body = url::form_urlencoded::Serializer::new(String::new())
            .append_pair("grant_type", "client_credentials")
            .append_pair("scope", LOGS_SCOPE)
            .append_pair("client_assertion_type", ASSERTION_TYPE)
            .append_pair("client_assertion", &assertion)
            .finish();
        Ok(RequestSpec::post(self.token_url.clone(), body)
            .header(CONTENT_TYPE, HeaderValue::from_static("application/x-www-form-urlencoded"))
            .header(logcrawl_http::header::ACCEPT, HeaderValue::from_static("application/json")))
    }

    async fn fetch(&self) -> Result<IssuedToken, HttpError> {
        // Built anew per attempt: a retry after a lost answer must not replay the `jti` Okta already saw.
        let token = request_token(&self.http, || self.token_request(), hint).await?;
        if !token.is_bearer() {
            return Err(HttpError::Auth(format!(
                "the token endpoint issued a {:?} token; logcrawl sends Bearer tokens (turn off \"Require DPoP\" on the app)",
                token.token_type.unwrap_or_default()
            )));
        }
        tracing::debug!(client_id = %self.client_id, expires_in = ?token.expires_in.map(|d| d.as_secs()), "fetched an Okta access token");
        Ok(token)
    }
}

/// What to check for an OAuth `error` of Okta's token endpoint.
fn hint(error: &str) -> &'static str {
    match error {
        "invalid_client" => " (check client_id, the key and key_id registered on the app)",
        "invalid_scope" => " (grant the okta.logs.read scope to the app under Okta API Scopes)",
        "invalid_dpop_proof" | "use_dpop_nonce" => {
            " (turn off \"Require Demonstrating Proof of Possession\" on the app)"
        }
        "unauthorized_client" => " (the app must allow the Client Credentials grant)",
        _ => "",
    }
}

impl Auth for PrivateKeyJwtAuth {
    fn header(&self) -> BoxFuture<'_, Result<AuthHeader, HttpError>> {
        Box::pin(self.tokens.bearer(|| self.fetch()))
    }

    fn invalidate(&self) -> bool {
        // Never waits for a fetch in progress (it may hold the cache for a whole token request).
        self.tokens.invalidate();
        true
    }
}
