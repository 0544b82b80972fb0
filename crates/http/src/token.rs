//! OAuth 2.0 access tokens from a token endpoint: requested, cached, replaced before they expire, and
//! dropped when the API answers 401. Every token-based [`Auth`](crate::Auth) (Okta's `private_key_jwt`,
//! Auth0's client credentials) is its own token request plus this.
//!
//! * [`request_token`] sends the token request through the shared client (its retries, its rate budget),
//!   building it anew per attempt (a signed client assertion must not be replayed), and turns a 4xx into
//!   [`HttpError::Auth`] with the endpoint's `error`/`error_description` and the vendor's advice, never
//!   the request (it holds the client's secret);
//! * [`TokenCache`] keeps the token as a header value, hands it out until [`REFRESH_EARLY`] before it
//!   expires, and forgets it on [`TokenCache::invalidate`]. Invalidation never waits: a fetch may hold the
//!   cache's lock for a whole token request, so it bumps a generation counter instead, and a cached token
//!   is used only while it was fetched under the current generation. A 401 that races a fetch thus makes
//!   the token being fetched stale too, and the next request fetches again.

use std::fmt;
use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use reqwest::header::{AUTHORIZATION, HeaderValue};
use secrecy::SecretString;
use serde::Deserialize;
use tokio::sync::Mutex;
use tokio::time::Instant;

use crate::auth::AuthHeader;
use crate::client::{HttpClient, RequestSpec};
use crate::error::HttpError;

/// A cached token is replaced this long before it expires (half its lifetime when that is shorter).
pub const REFRESH_EARLY: Duration = Duration::from_secs(60);

/// The lifetime assumed for a token whose endpoint did not say (`expires_in` absent).
pub const DEFAULT_TOKEN_LIFETIME: Duration = Duration::from_secs(3600);

/// An access token as a token endpoint issued it.
pub struct IssuedToken {
    /// The token.
    pub access_token: SecretString,
    /// `token_type` (`Bearer`, `DPoP`, …), when the endpoint said.
    pub token_type: Option<String>,
    /// How long it is valid, when the endpoint said (`expires_in`).
    pub expires_in: Option<Duration>,
}

impl fmt::Debug for IssuedToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("IssuedToken")
            .field("access_token", &"**REDACTED**")
            .field("token_type", &self.token_type)
            .field("expires_in", &self.expires_in)
            .finish()
    }
}

impl IssuedToken {
    /// Whether the endpoint issued a bearer token (or did not say which type).
    pub fn is_bearer(&self) -> bool {
        self.token_type.as_deref().is_none_or(|t| t.eq_ignore_ascii_case("bearer"))
    }
}

#[derive(Deserialize)]
struct TokenBody {
    access_token: String,
    #[serde(default)]
    token_type: Option<String>,
    #[serde(default)]
    expires_in: Option<u64>,
}

#[derive(Deserialize)]
struct ErrorBody {
    #[serde(default)]
    error: Option<String>,
    #[serde(default)]
    error_description: Option<String>,
}

/// Sends the token request `build` makes (anew for every attempt, retries included) and reads the
/// token. A 4xx answer is [`HttpError::Auth`] saying what the endpoint answered, with `hint(error)`
/// appended (`error` is the OAuth `error` code, empty when the body has none): advice naming what to
/// check. Other failures are the client's own (retried 5xx, timeouts).
pub async fn request_token(
    http: &HttpClient,
    build: impl FnMut() -> Result<RequestSpec, HttpError>,
    hint: impl Fn(&str) -> &'static str,
) -> Result<IssuedToken, HttpError> {
    request_token_challenged(http, build, hint, |_| false).await
}

/// [`request_token`] for a credential that sends its token as `Bearer`: a token of another type
/// (`DPoP`, `MAC`) is [`HttpError::Auth`] saying that `api` takes Bearer tokens.
pub async fn request_bearer_token(
    http: &HttpClient,
    build: impl FnMut() -> Result<RequestSpec, HttpError>,
    hint: impl Fn(&str) -> &'static str,
    api: &str,
) -> Result<IssuedToken, HttpError> {
    let token = request_token(http, build, hint).await?;
    if !token.is_bearer() {
        return Err(HttpError::Auth(format!(
            "the token endpoint issued a {:?} token; {api} takes Bearer tokens",
            token.token_type.unwrap_or_default()
        )));
    }
    Ok(token)
}

/// Like [`request_token`], with `challenged` asked about a 4xx answer whether to send the request again
/// (at most twice; [`HttpClient::execute_challenged`]): for an endpoint that hands out something the next
/// attempt must carry (a DPoP nonce).
pub async fn request_token_challenged(
    http: &HttpClient,
    build: impl FnMut() -> Result<RequestSpec, HttpError>,
    hint: impl Fn(&str) -> &'static str,
    challenged: impl FnMut(&crate::client::Response) -> bool,
) -> Result<IssuedToken, HttpError> {
    let response = match http.execute_challenged(build, challenged).await {
        Ok(response) => response,
        Err(HttpError::Status { status, body, .. }) if status.is_client_error() => {
            return Err(HttpError::Auth(describe_token_error(status.as_u16(), &body, hint)));
        }
        Err(err) => return Err(err),
    };
    let token: TokenBody = response.json().map_err(|err| HttpError::Auth(format!("token endpoint: {err}")))?;
    if token.access_token.is_empty() {
        return Err(HttpError::Auth("the token endpoint issued an empty access_token".into()));
    }
    Ok(IssuedToken {
        access_token: SecretString::from(token.access_token),
        token_type: token.token_type,
        expires_in: token.expires_in.map(Duration::from_secs),
    })
}

/// What a token endpoint's 4xx said: `error` and `error_description` when its body is OAuth's error
/// object, else the body's start; then `hint(error)`.
pub fn describe_token_error(status: u16, body: &str, hint: impl Fn(&str) -> &'static str) -> String {
    let parsed: Option<ErrorBody> = serde_json::from_str(body).ok();
    let (error, description) =
        parsed.map(|b| (b.error.unwrap_or_default(), b.error_description.unwrap_or_default())).unwrap_or_default();
    let hint = hint(&error);
    if error.is_empty() {
        format!("token endpoint answered HTTP {status}: {body}{hint}")
    } else {
        format!("token endpoint answered HTTP {status} {error}: {description}{hint}")
    }
}

struct Cached {
    header: HeaderValue,
    /// What the token's binding needs per request (a DPoP proof's `ath`), when it has one.
    binding: Option<String>,
    refresh_at: Instant,
    /// The invalidation generation the fetch started under: a later `invalidate()` makes the token stale.
    generation: u64,
}

/// The current access token of one credential: handed out until [`REFRESH_EARLY`] before it expires, forgotten on [`TokenCache::invalidate`] (a generation counter, so invalidating never waits for a fetch in progress).
#[derive(Default)]
pub struct TokenCache {
    cache: Mutex<Option<Cached>>,
    /// Bumped by every `invalidate()`; read without the lock so invalidation never waits for a fetch.
    generation: AtomicU64,
    fetches: AtomicU64,
}

impl fmt::Debug for TokenCache {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TokenCache").field("fetches", &self.fetches()).finish_non_exhaustive()
    }
}

impl TokenCache {
    /// An empty cache: the first request fetches.
    pub fn new() -> Self {
        Self::default()
    }

    /// `Authorization: Bearer <token>`: the cached token while it is fresh and of the current generation,
    /// else one `fetch`ed now (callers wait for it, one fetch at a time).
    pub async fn bearer<F, Fut>(&self, fetch: F) -> Result<AuthHeader, HttpError>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<IssuedToken, HttpError>>,
    {
        Ok(self.current("Bearer ", fetch, |_| None).await?.0)
    }

    /// `Authorization: <scheme><token>` (`"Bearer "`, `"DPoP "`) and the token's `binding` (what a
    /// proof-of-possession scheme signs into each request, computed once per token), fetching as
    /// [`bearer`](Self::bearer) does.
    pub async fn current<F, Fut>(
        &self,
        scheme: &'static str,
        fetch: F,
        binding: impl FnOnce(&SecretString) -> Option<String>,
    ) -> Result<(AuthHeader, Option<String>), HttpError>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<IssuedToken, HttpError>>,
    {
        let mut cache = self.cache.lock().await;
        // Read under the lock, before fetching: an invalidation that lands during the fetch below makes its
        // token stale too (the rejected request may have raced it), so the next caller fetches again.
        let generation = self.generation.load(Ordering::Acquire);
        if let Some(token) = cache.as_ref()
            && token.generation == generation
            && Instant::now() < token.refresh_at
        {
            return Ok((AuthHeader { name: AUTHORIZATION, value: token.header.clone() }, token.binding.clone()));
        }
        *cache = None;
        let issued = fetch().await?;
        let lifetime = issued.expires_in.unwrap_or(DEFAULT_TOKEN_LIFETIME);
        let refresh_at = Instant::now() + lifetime.saturating_sub(REFRESH_EARLY.min(lifetime / 2));
        let header = AuthHeader::new(AUTHORIZATION, scheme, &issued.access_token)?;
        let binding = binding(&issued.access_token);
        self.fetches.fetch_add(1, Ordering::Relaxed);
        *cache = Some(Cached { header: header.value.clone(), binding: binding.clone(), refresh_at, generation });
        Ok((header, binding))
    }

    /// Forgets the cached token (the API answered 401); never waits for a fetch in progress.
    pub fn invalidate(&self) {
        self.generation.fetch_add(1, Ordering::AcqRel);
    }

    /// How many tokens were fetched so far.
    pub fn fetches(&self) -> u64 {
        self.fetches.load(Ordering::Relaxed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use secrecy::ExposeSecret;

    fn issued(token: &str, expires_in: u64) -> IssuedToken {
        IssuedToken {
            access_token: SecretString::from(token.to_owned()),
            token_type: Some("Bearer".into()),
            expires_in: Some(Duration::from_secs(expires_in)),
        }
    }

    fn value(header: &AuthHeader) -> &str {
        header.value.to_str().unwrap()
    }

    #[tokio::test(start_paused = true)]
    async fn a_token_is_reused_until_shortly_before_it_expires_then_refetched() {
        let cache = TokenCache::new();
        let first = cache.bearer(|| async { Ok(issued("t1", 600)) }).await.unwrap();
        assert_eq!(value(&first), "Bearer t1");
        assert!(first.value.is_sensitive());
        let again = cache.bearer(|| async { panic!("a fresh token is not fetched again") }).await.unwrap();
        assert_eq!(value(&again), "Bearer t1");
        tokio::time::advance(Duration::from_secs(600) - REFRESH_EARLY).await;
        let renewed = cache.bearer(|| async { Ok(issued("t2", 600)) }).await.unwrap();
        assert_eq!(value(&renewed), "Bearer t2");
        assert_eq!(cache.fetches(), 2);
    }

    #[tokio::test(start_paused = true)]
    async fn invalidation_drops_the_token_and_a_failed_fetch_caches_nothing() {
        let cache = TokenCache::new();
        cache.bearer(|| async { Ok(issued("t1", 3600)) }).await.unwrap();
        cache.invalidate();
        let failed = cache.bearer(|| async { Err(HttpError::Auth("refused".into())) }).await;
        assert!(matches!(failed, Err(HttpError::Auth(_))));
        let next = cache.bearer(|| async { Ok(issued("t2", 3600)) }).await.unwrap();
        assert_eq!(value(&next), "Bearer t2");
        assert_eq!(cache.fetches(), 2);
    }

    #[tokio::test]
    async fn an_invalidation_during_a_fetch_makes_that_token_stale_without_waiting_for_it() {
        let cache = std::sync::Arc::new(TokenCache::new());
        let (started, wait) = tokio::sync::oneshot::channel::<()>();
        let (release, released) = tokio::sync::oneshot::channel::<()>();
        let fetching = tokio::spawn({
            let cache = cache.clone();
            async move {
                cache
                    .bearer(|| async move {
                        let _sent = started.send(());
                        let _released = released.await;
                        Ok(issued("raced", 3600))
                    })
                    .await
            }
        });
        wait.await.unwrap();
        cache.invalidate(); // must not wait for the fetch holding the lock
        let _sent = release.send(());
        assert_eq!(value(&fetching.await.unwrap().unwrap()), "Bearer raced");
        let after = cache.bearer(|| async { Ok(issued("fresh", 3600)) }).await.unwrap();
        assert_eq!(value(&after), "Bearer fresh", "the token fetched while invalidated is not reused");
    }

    #[test]
    fn token_errors_say_what_the_endpoint_answered_with_the_vendors_hint() {
        let hint = |error: &str| if error == "invalid_client" { " (check client_id)" } else { "" };
        let oauth = describe_token_error(401, r#"{"error":"invalid_client","error_description":"bad"}"#, hint);
        assert_eq!(oauth, "token endpoint answered HTTP 401 invalid_client: bad (check client_id)");
        let plain = describe_token_error(403, "nope", hint);
        assert_eq!(plain, "token endpoint answered HTTP 403: nope");
        let token = issued("s3cret", 1);
        assert!(!format!("{token:?}").contains("s3cret"));
        assert_eq!(token.access_token.expose_secret(), "s3cret");
        assert!(token.is_bearer());
        assert!(!IssuedToken { token_type: Some("DPoP".into()), ..issued("x", 1) }.is_bearer());
    }
}
