//! OAuth 2.0 client credentials against the Microsoft identity platform:
//! `POST {login_url}/{tenant_id}/oauth2/v2.0/token` with `grant_type=client_credentials`, the `client_id`,
//! `scope` = `{base_url}/.default` (the application permissions granted to the app on Graph), and the
//! client's proof: its `client_secret`, or a client assertion signed with its certificate
//! ([`crate::certificate`]), made anew for every attempt.
//!
//! The access token is cached and replaced a minute before it expires (Entra issues them for about an
//! hour), and a 401 from Graph drops it so that the request is sent once more with a new one: the shared
//! [`TokenCache`] of `logcrawl-http`, as Auth0's and Okta's service apps use it. The secret and the key
//! travel in the token request's body only, never in a log line or an error.

use std::fmt;

use futures::future::BoxFuture;
use logcrawl_core::{ExposeSecret, SecretString};
use logcrawl_http::header::{ACCEPT, CONTENT_TYPE, HeaderValue};
use logcrawl_http::{
    Auth, AuthHeader, HttpClient, HttpError, IssuedToken, RequestSpec, TokenCache, Url, request_bearer_token,
};

use logcrawl_core::{ConfigError, HttpSettings};
use logcrawl_http::HttpConfig;

use crate::certificate::ClientCertificate;
use crate::config::{Credential, Registration};

/// `client_assertion_type` of a JWT client assertion (RFC 7523).
pub const ASSERTION_TYPE: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";

/// What the application proves itself with.
pub(crate) enum Proof {
    /// A client secret.
    Secret(SecretString),
    /// A certificate's key, signing a client assertion per request.
    Certificate(Box<ClientCertificate>),
}

/// `Authorization: Bearer …` from the tenant's token endpoint, by client credentials.
pub struct ClientCredentials {
    client_id: String,
    scope: String,
    token_url: Url,
    proof: Proof,
    http: HttpClient,
    tokens: TokenCache,
}

impl fmt::Debug for ClientCredentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let proof = match &self.proof {
            Proof::Secret(_) => "client secret",
            Proof::Certificate(_) => "certificate",
        };
        f.debug_struct("ClientCredentials")
            .field("client_id", &self.client_id)
            .field("scope", &self.scope)
            .field("token_url", &self.token_url.as_str())
            .field("proof", &proof)
            .finish_non_exhaustive()
    }
}

impl ClientCredentials {
    /// The credential of application `client_id`, for `scope`, requested at `token_url` through `http`.
    pub(crate) fn new(client_id: String, scope: String, token_url: Url, proof: Proof, http: HttpClient) -> Self {
        Self { client_id, scope, token_url, proof, http, tokens: TokenCache::new() }
    }

    /// The client credentials of the app `registration` names, for the Microsoft resource at `resource`
    /// (`scope` = `{resource}/.default`: `https://graph.microsoft.com/.default`,
    /// `https://manage.office.com/.default`), requested at `{login_url}/{tenant_id}/oauth2/v2.0/token`
    /// through a client of their own built from `settings`, under the rate budget `budget` (the token
    /// endpoint's limits are not the resource's), and adjusted by `customize` as the connector adjusts its
    /// own. Checks every key of the registration (reading `certificate_file` now); errors name the key.
    pub fn for_resource(
        registration: &Registration<'_>,
        resource: &Url,
        settings: &HttpSettings,
        budget: &str,
        customize: impl Fn(&mut HttpConfig),
    ) -> Result<Self, ConfigError> {
        let tenant = registration.tenant()?;
        let client_id = registration.client()?.to_owned();
        let login = registration.login()?;
        let proof = match registration.credential()? {
            Credential::Secret(secret) => Proof::Secret(secret),
            Credential::Certificate { pem, file } => {
                let certificate = ClientCertificate::from_pem(pem.expose_secret())
                    .map_err(|why| ConfigError::new("certificate_file", format!("{}: {why}", file.display())))?;
                Proof::Certificate(Box::new(certificate))
            }
        };
        let mut token = HttpConfig::with_settings(login.clone(), settings)?;
        token.rate_limit = logcrawl_http::RateLimitConfig { key: Some(budget.to_owned()), ..Default::default() };
        customize(&mut token);
        token.base_url = login.clone();
        let token_url = login
            .join(&format!("{tenant}/oauth2/v2.0/token"))
            .map_err(|err| ConfigError::new("tenant_id", format!("cannot make the token URL: {err}")))?;
        let scope = format!("{}/.default", resource.as_str().trim_end_matches('/'));
        let http = HttpClient::new(token).map_err(|err| ConfigError::new("login_url", err.to_string()))?;
        Ok(Self::new(client_id, scope, token_url, proof, http))
    }

    /// How many access tokens were fetched so far.
    pub fn token_fetches(&self) -> u64 {
        self.tokens.fetches()
    }

    /// The token endpoint.
    pub fn token_url(&self) -> &Url {
        &self.token_url
    }

    /// The scope tokens are requested for.
    pub fn scope(&self) -> &str {
        &self.scope
    }

    /// One token request as sent: with a certificate, a newly signed assertion every time it is called.
    fn token_request(&self) -> Result<RequestSpec, HttpError> {
        let mut form = url::form_urlencoded::Serializer::new(String::new());
        form.append_pair("grant_type", "client_credentials")
            .append_pair("client_id", &self.client_id)
            .append_pair("scope", &self.scope);
        match &self.proof {
            Proof::Secret(secret) => {
                form.append_pair("client_secret", secret.expose_secret());
            }
            Proof::Certificate(certificate) => {
                let assertion = certificate
                    .assertion(&self.client_id, self.token_url.as_str())
                    .map_err(|err| HttpError::Auth(format!("signing the client assertion failed: {err}")))?;
                form.append_pair("client_assertion_type", ASSERTION_TYPE).append_pair("client_assertion", &assertion);
            }
        }
        Ok(RequestSpec::post(self.token_url.clone(), form.finish())
            .header(CONTENT_TYPE, HeaderValue::from_static("application/x-www-form-urlencoded"))
            .header(ACCEPT, HeaderValue::from_static("application/json")))
    }

    async fn fetch(&self) -> Result<IssuedToken, HttpError> {
        let hint: fn(&str) -> &'static str = match self.proof {
            Proof::Secret(_) => secret_hint,
            Proof::Certificate(_) => certificate_hint,
        };
        // Built anew per attempt: a retry after a lost answer carries a new assertion (a new `jti`).
        let token = request_bearer_token(&self.http, || self.token_request(), hint, "Microsoft Graph").await?;
        tracing::debug!(client_id = %self.client_id, expires_in = ?token.expires_in.map(|d| d.as_secs()), "fetched a Microsoft Graph token");
        Ok(token)
    }
}

/// What to check for an OAuth `error` of the token endpoint (its description carries the `AADSTS`
/// code), whichever the proof.
fn common_hint(error: &str) -> Option<&'static str> {
    match error {
        "unauthorized_client" => Some(
            " (client_id must be the application (client) ID of an app registration in the tenant tenant_id names, \
             with a service principal there)",
        ),
        "invalid_request" => Some(" (check tenant_id: the directory (tenant) ID of the app registration's tenant)"),
        "invalid_scope" => Some(
            " (base_url names the resource the token is for: https://graph.microsoft.com, or the national cloud's \
             Graph together with its login_url)",
        ),
        _ => None,
    }
}

fn secret_hint(error: &str) -> &'static str {
    common_hint(error).unwrap_or(match error {
        "invalid_client" => {
            " (client_secret must be a current secret's value — not its ID — from the app registration's \
             Certificates & secrets)"
        }
        _ => "",
    })
}

fn certificate_hint(error: &str) -> &'static str {
    common_hint(error).unwrap_or(match error {
        "invalid_client" => {
            " (the certificate of certificate_file must be uploaded to the app registration's Certificates & \
             secrets, and not expired)"
        }
        _ => "",
    })
}

impl Auth for ClientCredentials {
    fn header(&self) -> BoxFuture<'_, Result<AuthHeader, HttpError>> {
        Box::pin(self.tokens.bearer(|| self.fetch()))
    }

    fn invalidate(&self) -> bool {
        self.tokens.invalidate();
        true
    }
}
