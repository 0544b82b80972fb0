//! OAuth 2.0 client credentials with `private_key_jwt`, the way Okta's API service apps authenticate.
//!
//! Each token request carries a fresh client assertion: an RS256 JWT signed with the app's private key,
//! `iss` = `sub` = the client ID, `aud` = the token URL, a five-minute expiry and a unique `jti`. Okta
//! refuses a replayed `jti` with 400 `invalid_client`, so "each request" includes every retry the HTTP
//! client makes after a lost answer (a 5xx, a timeout, a reset): the assertion is signed per attempt
//! ([`HttpClient::execute_with`]), never once per fetch.
//!
//! The access token is cached, replaced a minute before it expires, and dropped by a 401 from the API so
//! that the client fetches a new one once: the shared [`TokenCache`] of `logcrawl-http`. With `dpop =
//! true` the token is DPoP-bound ([`crate::dpop`]): the token request and every API call carry a proof.

use std::fmt;
use std::time::Duration;

use futures::future::BoxFuture;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use logcrawl_core::{ExposeSecret, SecretString};
use logcrawl_http::header::{CONTENT_TYPE, HeaderName, HeaderValue};
use logcrawl_http::{
    Auth, AuthHeader, HttpClient, HttpError, IssuedToken, RequestSpec, Response, StatusCode, TokenCache, Url,
    request_token_challenged,
};
use serde::Serialize;

use crate::dpop::{Audience, DPOP_HEADER, Dpop, token_hash};

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

/// `Authorization: Bearer …` (or `DPoP …`) from Okta's token endpoint, via a `private_key_jwt` client
/// assertion.
pub struct PrivateKeyJwtAuth {
    client_id: String,
    key_id: Option<String>,
    key: EncodingKey,
    token_url: Url,
    http: HttpClient,
    tokens: TokenCache,
    /// The DPoP key and nonces, when the app requires proof of possession (`dpop = true`).
    dpop: Option<Dpop>,
}

impl fmt::Debug for PrivateKeyJwtAuth {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PrivateKeyJwtAuth")
            .field("client_id", &self.client_id)
            .field("key_id", &self.key_id)
            .field("token_url", &self.token_url.as_str())
            .field("dpop", &self.dpop.is_some())
            .finish_non_exhaustive()
    }
}

impl PrivateKeyJwtAuth {
    /// Parses the PEM key (`Err` is a message for the operator, never the key); with `dpop`, generates
    /// the key pair the tokens will be bound to.
    pub(crate) fn new(
        client_id: String,
        key_id: Option<String>,
        pem: &SecretString,
        token_url: Url,
        http: HttpClient,
        dpop: bool,
    ) -> Result<Self, String> {
        let key = EncodingKey::from_rsa_pem(pem.expose_secret().as_bytes())
            .map_err(|err| format!("not an RSA private key in PEM form (PKCS#1 or PKCS#8): {err}"))?;
        // Sign once now so a key the crypto backend refuses (too short, wrong type) fails at startup.
        let dpop = if dpop { Some(Dpop::generate()?) } else { None };
        let auth = Self { client_id, key_id, key, token_url, http, tokens: TokenCache::new(), dpop };
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
        let mut request = RequestSpec::post(self.token_url.clone(), body)
            .header(CONTENT_TYPE, HeaderValue::from_static("application/x-www-form-urlencoded"))
            .header(logcrawl_http::header::ACCEPT, HeaderValue::from_static("application/json"));
        if let Some(dpop) = &self.dpop {
            let proof = dpop.proof(&request.method, &request.url, None, Audience::Token)?;
            request = request.header(HeaderName::from_static(DPOP_HEADER), proof);
        }
        Ok(request)
    }

    async fn fetch(&self) -> Result<IssuedToken, HttpError> {
        // Built anew per attempt: a retry after a lost answer must not replay the `jti` Okta already saw.
        // Okta answers a first DPoP token request with 400 `use_dpop_nonce`: adopt its nonce, sign anew.
        let adopt = |response: &Response| self.dpop.as_ref().is_some_and(|d| d.adopt_nonce(response, Audience::Token));
        let token = request_token_challenged(&self.http, || self.token_request(), hint, adopt).await?;
        let dpop_bound = token.token_type.as_deref().is_some_and(|t| t.eq_ignore_ascii_case("dpop"));
        if dpop_bound != self.dpop.is_some() || (!dpop_bound && !token.is_bearer()) {
            let advice = if self.dpop.is_some() {
                "turn on \"Require Demonstrating Proof of Possession\" on the app, or set `dpop = false`"
            } else {
                "the app requires DPoP: set `dpop = true` on the source"
            };
            return Err(HttpError::Auth(format!(
                "the token endpoint issued a {:?} token where logcrawl expects {} ({advice})",
                token.token_type.unwrap_or_default(),
                if self.dpop.is_some() { "DPoP" } else { "Bearer" }
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
            " (the app requires Demonstrating Proof of Possession: set `dpop = true` on the source, or turn the requirement off on the app)"
        }
        "unauthorized_client" => " (the app must allow the Client Credentials grant)",
        _ => "",
    }
}

impl PrivateKeyJwtAuth {
    /// The current token's header and, with DPoP, its hash (`ath`).
    async fn current(&self) -> Result<(AuthHeader, Option<String>), HttpError> {
        match self.dpop {
            Some(_) => {
                self.tokens.current("DPoP ", || self.fetch(), |token| Some(token_hash(token.expose_secret()))).await
            }
            None => Ok((self.tokens.bearer(|| self.fetch()).await?, None)),
        }
    }
}

impl Auth for PrivateKeyJwtAuth {
    fn header(&self) -> BoxFuture<'_, Result<AuthHeader, HttpError>> {
        Box::pin(async move { Ok(self.current().await?.0) })
    }

    /// With DPoP, each API request also carries its proof, bound to the token.
    fn headers<'a>(&'a self, request: &'a RequestSpec) -> BoxFuture<'a, Result<Vec<AuthHeader>, HttpError>> {
        Box::pin(async move {
            let (authorization, ath) = self.current().await?;
            let mut headers = vec![authorization];
            if let Some(dpop) = &self.dpop {
                let proof = dpop.proof(&request.method, &request.url, ath.as_deref(), Audience::Api)?;
                headers.push(AuthHeader { name: HeaderName::from_static(DPOP_HEADER), value: proof });
            }
            Ok(headers)
        })
    }

    /// A 401 asking for a DPoP nonce is answered with it (the token stays); any other first 401 drops
    /// the token.
    fn challenged(&self, response: &Response, earlier: u32) -> bool {
        if self.dpop.as_ref().is_some_and(|dpop| dpop.adopt_nonce(response, Audience::Api)) {
            return true;
        }
        earlier == 0 && response.status == StatusCode::UNAUTHORIZED && self.invalidate()
    }

    fn invalidate(&self) -> bool {
        // Never waits for a fetch in progress (it may hold the cache for a whole token request).
        self.tokens.invalidate();
        true
    }
}
