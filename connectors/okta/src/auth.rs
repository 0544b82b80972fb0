//! OAuth 2.0 client credentials with `private_key_jwt`, the way Okta's API service apps authenticate.
//!
//! Each token request carries a fresh client assertion: an RS256 JWT signed with the app's private key,
//! `iss` = `sub` = the client ID, `aud` = the token URL, a five-minute expiry and a unique `jti`. Okta
//! refuses a replayed `jti` with 400 `invalid_client`, so "each request" includes every retry the HTTP
//! client makes after a lost answer (a 5xx, a timeout, a reset): the assertion is signed per attempt
//! ([`HttpClient::execute_with`]), never once per fetch.
//!
//! The access token is cached and replaced a minute before it expires; a 401 from the API drops it so the
//! client fetches a new one once. Dropping it must work while another request is fetching a token (holding
//! the cache's lock), without waiting: [`Auth::invalidate`] bumps a generation counter, and a cached token
//! is used only while it was fetched under the current generation.

use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use futures::future::BoxFuture;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use logcrawl_core::{ExposeSecret, SecretString};
use logcrawl_http::header::{AUTHORIZATION, CONTENT_TYPE, HeaderName, HeaderValue};
use logcrawl_http::{Auth, AuthHeader, HttpClient, HttpError, RequestSpec, Response, Url};
use serde::{Deserialize, Serialize};
use tokio::sync::Mutex;
use tokio::time::Instant;

use crate::dpop::{Audience, DPOP_HEADER, Dpop, token_hash};

/// The scope the System Log API requires.
pub const LOGS_SCOPE: &str = "okta.logs.read";
/// The client-assertion type of `private_key_jwt`.
pub const ASSERTION_TYPE: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";
/// Lifetime of a client assertion (Okta accepts at most one hour).
const ASSERTION_LIFETIME: Duration = Duration::from_secs(300);
/// A cached access token is replaced this long before Okta says it expires.
const REFRESH_EARLY: Duration = Duration::from_secs(60);

#[derive(Serialize)]
struct Claims<'a> {
    iss: &'a str,
    sub: &'a str,
    aud: &'a str,
    iat: i64,
    exp: i64,
    jti: String,
}

#[derive(Deserialize)]
struct TokenResponse {
    access_token: String,
    #[serde(default)]
    token_type: Option<String>,
    #[serde(default)]
    expires_in: Option<u64>,
}

#[derive(Deserialize)]
struct TokenErrorBody {
    #[serde(default)]
    error: Option<String>,
    #[serde(default)]
    error_description: Option<String>,
}

struct CachedToken {
    header: HeaderValue,
    /// With DPoP, the token's hash (`ath`) every API proof binds.
    ath: Option<String>,
    refresh_at: Instant,
    /// The invalidation generation the fetch started under: a later `invalidate()` makes the token stale.
    generation: u64,
}

/// `Authorization: Bearer …` from Okta's token endpoint, via a `private_key_jwt` client assertion.
pub struct PrivateKeyJwtAuth {
    client_id: String,
    key_id: Option<String>,
    key: EncodingKey,
    token_url: Url,
    http: HttpClient,
    /// The DPoP key and nonces, when the app requires proof of possession (`dpop = true`).
    dpop: Option<Dpop>,
    cache: Mutex<Option<CachedToken>>,
    /// Bumped by every `invalidate()`; read without the lock so invalidation never waits for a fetch.
    generation: AtomicU64,
    fetches: AtomicU64,
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
    /// the DPoP key pair the tokens will be bound to.
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
        let auth = Self {
            client_id,
            key_id,
            key,
            token_url,
            http,
            dpop: if dpop { Some(Dpop::generate()?) } else { None },
            cache: Mutex::new(None),
            generation: AtomicU64::new(0),
            fetches: AtomicU64::new(0),
        };
        auth.assertion().map_err(|err| format!("cannot sign with this key: {err}"))?;
        Ok(auth)
    }

    /// How many access tokens were fetched so far.
    pub fn token_fetches(&self) -> u64 {
        self.fetches.load(Ordering::Relaxed)
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

    async fn fetch(&self, generation: u64) -> Result<CachedToken, HttpError> {
        // Built anew per attempt: a retry after a lost answer must not replay the `jti` Okta already saw.
        // Okta answers a first DPoP token request with 400 `use_dpop_nonce`: adopt its nonce, sign anew.
        let adopt = |response: &Response| self.dpop.as_ref().is_some_and(|d| d.adopt_nonce(response, Audience::Token));
        let response = match self.http.execute_challenged(|| self.token_request(), adopt).await {
            Ok(response) => response,
            Err(HttpError::Status { status, body, .. }) if status.is_client_error() => {
                return Err(HttpError::Auth(describe_token_error(status.as_u16(), &body)));
            }
            Err(err) => return Err(err),
        };
        let token: TokenResponse = response.json().map_err(|err| HttpError::Auth(format!("token endpoint: {err}")))?;
        let expected = if self.dpop.is_some() { "DPoP" } else { "Bearer" };
        if token.token_type.as_deref().is_some_and(|t| !t.eq_ignore_ascii_case(expected)) {
            let hint = if self.dpop.is_some() {
                "turn on \"Require Demonstrating Proof of Possession\" on the app, or set `dpop = false`"
            } else {
                "the app requires DPoP: set `dpop = true` on the source"
            };
            return Err(HttpError::Auth(format!(
                "the token endpoint issued a {:?} token where logcrawl expects {expected} ({hint})",
                token.token_type.unwrap_or_default()
            )));
        }
        let lifetime = Duration::from_secs(token.expires_in.unwrap_or(3600));
        let refresh_at = Instant::now() + lifetime.saturating_sub(REFRESH_EARLY.min(lifetime / 2));
        let ath = self.dpop.as_ref().map(|_| token_hash(&token.access_token));
        let prefix = if self.dpop.is_some() { "DPoP " } else { "Bearer " };
        let header = AuthHeader::new(AUTHORIZATION, prefix, &SecretString::from(token.access_token))?.value;
        self.fetches.fetch_add(1, Ordering::Relaxed);
        tracing::debug!(client_id = %self.client_id, expires_in = lifetime.as_secs(), "fetched an Okta access token");
        Ok(CachedToken { header, ath, refresh_at, generation })
    }
}

fn describe_token_error(status: u16, body: &str) -> String {
    let parsed: Option<TokenErrorBody> = serde_json::from_str(body).ok();
    let (error, description) =
        parsed.map(|b| (b.error.unwrap_or_default(), b.error_description.unwrap_or_default())).unwrap_or_default();
    let hint = match error.as_str() {
        "invalid_client" => " (check client_id, the key and key_id registered on the app)",
        "invalid_scope" => " (grant the okta.logs.read scope to the app under Okta API Scopes)",
        "invalid_dpop_proof" | "use_dpop_nonce" => {
            " (the app requires Demonstrating Proof of Possession: set `dpop = true` on the source, or turn the requirement off on the app)"
        }
        "unauthorized_client" => " (the app must allow the Client Credentials grant)",
        _ => "",
    };
    if error.is_empty() {
        format!("token endpoint answered HTTP {status}: {body}")
    } else {
        format!("token endpoint answered HTTP {status} {error}: {description}{hint}")
    }
}

impl PrivateKeyJwtAuth {
    /// The cached token's header and DPoP hash, fetching a new token when there is none, it is due for
    /// refresh, or it was invalidated.
    async fn current(&self) -> Result<(HeaderValue, Option<String>), HttpError> {
        let mut cache = self.cache.lock().await;
        // Read under the lock, before fetching: an invalidation that lands during the fetch below makes
        // its token stale too (the rejected request may have raced it), so the next caller fetches again.
        let generation = self.generation.load(Ordering::Acquire);
        if let Some(token) = cache.as_ref()
            && token.generation == generation
            && Instant::now() < token.refresh_at
        {
            return Ok((token.header.clone(), token.ath.clone()));
        }
        *cache = None;
        let token = self.fetch(generation).await?;
        let current = (token.header.clone(), token.ath.clone());
        *cache = Some(token);
        Ok(current)
    }
}

impl Auth for PrivateKeyJwtAuth {
    fn header(&self) -> BoxFuture<'_, Result<AuthHeader, HttpError>> {
        Box::pin(async move { Ok(AuthHeader { name: AUTHORIZATION, value: self.current().await?.0 }) })
    }

    /// With DPoP, each API request also carries its proof, bound to the token.
    fn headers<'a>(&'a self, request: &'a RequestSpec) -> BoxFuture<'a, Result<Vec<AuthHeader>, HttpError>> {
        Box::pin(async move {
            let (value, ath) = self.current().await?;
            let mut headers = vec![AuthHeader { name: AUTHORIZATION, value }];
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
        earlier == 0 && response.status == logcrawl_http::StatusCode::UNAUTHORIZED && self.invalidate()
    }

    fn invalidate(&self) -> bool {
        // Never waits for the cache's lock: a fetch may hold it for a whole token request.
        self.generation.fetch_add(1, Ordering::AcqRel);
        true
    }
}
