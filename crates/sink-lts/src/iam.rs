//! IAM password authentication: a project-scoped token from `POST {iam}/v3/auth/tokens`, cached and
//! refreshed well before it expires.

use std::fmt;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use futures::future::BoxFuture;
use logcrawl_core::{ExposeSecret, SecretString};
use logcrawl_http::header::{CONTENT_TYPE, HeaderName, HeaderValue};
use logcrawl_http::{Auth, AuthHeader, HttpClient, HttpError, RequestSpec, StatusCode, Url, scrub};
use serde_json::{Value, json};

/// The header a token travels in, both from IAM and to LTS.
pub(crate) const X_AUTH_TOKEN: HeaderName = HeaderName::from_static("x-auth-token");
const X_SUBJECT_TOKEN: &str = "x-subject-token";

/// The lifetime IAM documents for a token, assumed when the response does not say.
const DOCUMENTED_LIFETIME: Duration = Duration::from_secs(24 * 3600);
/// Refresh no later than this before expiry.
const MIN_MARGIN: Duration = Duration::from_secs(3600);

struct Cached {
    token: SecretString,
    refresh_at: Instant,
}

/// Supplies `X-Auth-Token` from IAM password authentication.
///
/// The token is fetched on first use, shared by every request, and fetched again once half of its lifetime
/// (read from `token.expires_at`; 24 h documented) has passed, or one hour before it expires, whichever
/// comes first. [`Auth::invalidate`] drops it after LTS answered 401, so the next request fetches a new one.
/// Concurrent requests wait for a single fetch.
pub(crate) struct IamTokenAuth {
    client: HttpClient,
    url: Url,
    user: String,
    domain: String,
    password: SecretString,
    project_id: String,
    cached: Mutex<Option<Cached>>,
    fetching: tokio::sync::Mutex<()>,
}

impl fmt::Debug for IamTokenAuth {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("IamTokenAuth")
            .field("url", &self.url.as_str())
            .field("user", &self.user)
            .field("domain", &self.domain)
            .field("project_id", &self.project_id)
            .finish_non_exhaustive()
    }
}

impl IamTokenAuth {
    pub(crate) fn new(
        client: HttpClient,
        user: String,
        domain: String,
        password: SecretString,
        project_id: String,
    ) -> Self {
        let url = crate::config::join_path(client.base_url(), &["v3", "auth", "tokens"]);
        Self {
            client,
            url,
            user,
            domain,
            password,
            project_id,
            cached: Mutex::new(None),
            fetching: tokio::sync::Mutex::new(()),
        }
    }

    fn current(&self) -> Option<SecretString> {
        let cached = self.cached.lock().unwrap_or_else(|poison| poison.into_inner());
        cached.as_ref().filter(|c| Instant::now() < c.refresh_at).map(|c| c.token.clone())
    }

    async fn token(&self) -> Result<SecretString, HttpError> {
        if let Some(token) = self.current() {
            return Ok(token);
        }
        let _one_fetch = self.fetching.lock().await;
        if let Some(token) = self.current() {
            return Ok(token);
        }
        let (token, lifetime) = self.fetch().await?;
        let refresh_after = (lifetime / 2).min(lifetime.saturating_sub(MIN_MARGIN));
        tracing::debug!(user = %self.user, refresh_in_s = refresh_after.as_secs(), "obtained an IAM token");
        *self.cached.lock().unwrap_or_else(|poison| poison.into_inner()) =
            Some(Cached { token: token.clone(), refresh_at: Instant::now() + refresh_after });
        Ok(token)
    }

    /// One token request: the token and how long it stays valid.
    async fn fetch(&self) -> Result<(SecretString, Duration), HttpError> {
        let body = json!({
            "auth": {
                "identity": {
                    "methods": ["password"],
                    "password": {
                        "user": {
                            "name": self.user,
                            "password": self.password.expose_secret(),
                            "domain": {"name": self.domain},
                        }
                    }
                },
                "scope": {"project": {"id": self.project_id}}
            }
        });
        let body = serde_json::to_vec(&body)
            .map_err(|err| HttpError::Auth(format!("cannot encode the IAM request: {err}")))?;
        let request = RequestSpec::post(self.url.clone(), body)
            .header(CONTENT_TYPE, HeaderValue::from_static("application/json;charset=UTF-8"));
        let response = self.client.send_once(&request).await?;
        let scrubbed = |text: &str| scrub(text, &[self.password.expose_secret()]);
        if !response.status.is_success() {
            let detail = scrubbed(&iam_error(&response.body).unwrap_or_else(|| response.excerpt()));
            let what = format!(
                "IAM at {} answered HTTP {} for user {:?} of domain {:?}: {detail}",
                self.url, response.status, self.user, self.domain
            );
            return Err(
                if response.status == StatusCode::TOO_MANY_REQUESTS
                    || response.status == StatusCode::REQUEST_TIMEOUT
                    || response.status.is_server_error()
                {
                    HttpError::RetriesExhausted { url: self.url.to_string(), attempts: 1, last: what }
                } else {
                    // 400/401/403/404: the credentials or the scope are wrong; retrying cannot help.
                    HttpError::Auth(what)
                },
            );
        }
        let token = response
            .headers
            .get(X_SUBJECT_TOKEN)
            .and_then(|v| v.to_str().ok())
            .map(str::trim)
            .filter(|t| !t.is_empty())
            .ok_or_else(|| {
                HttpError::Auth(format!(
                    "IAM at {} answered {} without an X-Subject-Token header",
                    self.url, response.status
                ))
            })?;
        let token = SecretString::from(token.to_owned());
        let lifetime = serde_json::from_slice::<Value>(&response.body)
            .ok()
            .and_then(|v| v.pointer("/token/expires_at")?.as_str()?.parse::<jiff::Timestamp>().ok())
            .map(|expires| {
                let left = expires.duration_since(jiff::Timestamp::now());
                Duration::try_from(left).unwrap_or(Duration::ZERO)
            });
        let lifetime = lifetime.unwrap_or_else(|| {
            tracing::warn!(url = %self.url, "IAM token response has no readable token.expires_at; assuming the documented 24 h");
            DOCUMENTED_LIFETIME
        });
        Ok((token, lifetime))
    }
}

/// `error.message` (IAM) or `error_msg` from an error body.
fn iam_error(body: &[u8]) -> Option<String> {
    let value: Value = serde_json::from_slice(body).ok()?;
    let message = value.pointer("/error/message").or_else(|| value.get("error_msg")).and_then(Value::as_str)?;
    let code = value.pointer("/error/code").or_else(|| value.get("error_code")).map(|c| match c {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    });
    Some(match code {
        Some(code) => format!("{code}: {message}"),
        None => message.to_owned(),
    })
}

impl Auth for IamTokenAuth {
    fn header(&self) -> BoxFuture<'_, Result<AuthHeader, HttpError>> {
        Box::pin(async move {
            let token = self.token().await?;
            AuthHeader::new(X_AUTH_TOKEN, "", &token)
        })
    }

    fn invalidate(&self) -> bool {
        *self.cached.lock().unwrap_or_else(|poison| poison.into_inner()) = None;
        true
    }
}
