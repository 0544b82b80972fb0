//! `[sources.auth]` as an [`Auth`]: a fixed header (bearer with any prefix, basic, a named API-key
//! header), or OAuth 2.0 client credentials through the shared [`TokenCache`] (cached, renewed a minute
//! before expiry, fetched again once on a 401). Secrets are sent in their own header, or in the token
//! request's body to the token endpoint, and nowhere else.

use std::fmt;
use std::sync::Arc;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use futures::future::BoxFuture;
use logcrawl_core::{ConfigError, ExposeSecret, HttpSettings, SecretString};
use logcrawl_http::header::{ACCEPT, AUTHORIZATION, CONTENT_TYPE, HeaderName, HeaderValue};
use logcrawl_http::{
    Auth, AuthHeader, HttpClient, HttpConfig, HttpError, IssuedToken, RequestSpec, StaticAuth, TokenCache, Url,
    request_bearer_token,
};

use logcrawl_http::jwt::{AssertionClaims, Header, RsaSigner};

use crate::config::{AuthConfig, TokenEncoding};

/// `client_assertion_type` of a JWT client assertion (RFC 7523).
pub const ASSERTION_TYPE: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";

/// The credential of a source, or `None` for `type = "none"`. `http` are the source's shared settings,
/// which the token endpoint's client uses too (adjusted by `customize`, as the API's client is).
pub fn credential(
    config: AuthConfig,
    http: &HttpSettings,
    customize: &dyn Fn(&mut HttpConfig),
) -> Result<Option<Arc<dyn Auth>>, ConfigError> {
    let key = |k: &str| format!("auth.{k}");
    Ok(Some(match config {
        AuthConfig::None => return Ok(None),
        AuthConfig::Bearer { token, prefix } => {
            let prefix = prefix.unwrap_or_else(|| "Bearer".to_owned());
            if prefix.trim().is_empty() || prefix.contains(char::is_whitespace) {
                return Err(ConfigError::new(key("prefix"), "must be one word, e.g. Bearer or SSWS"));
            }
            check_header_value(&key("token"), token.expose_secret())?;
            Arc::new(StaticAuth::new(AUTHORIZATION, format!("{prefix} "), token))
        }
        AuthConfig::Basic { username, password } => {
            if username.contains(':') {
                return Err(ConfigError::new(key("username"), "must not contain `:` (HTTP Basic joins on it)"));
            }
            let joined = STANDARD.encode(format!("{username}:{}", password.expose_secret()));
            Arc::new(StaticAuth::new(AUTHORIZATION, "Basic ", SecretString::from(joined)))
        }
        AuthConfig::Header { name, value } => {
            let name = HeaderName::from_bytes(name.as_bytes())
                .map_err(|_| ConfigError::new(key("name"), format!("{name:?} is not a header name")))?;
            check_header_value(&key("value"), value.expose_secret())?;
            Arc::new(StaticAuth::new(name, "", value))
        }
        AuthConfig::Query { name, value } => {
            if name.trim().is_empty() || name.contains(['&', '=', '#', ' ']) {
                return Err(ConfigError::new(key("name"), format!("{name:?} is not a query parameter name")));
            }
            if value.expose_secret().is_empty() {
                return Err(ConfigError::new(key("value"), "must not be empty"));
            }
            Arc::new(QueryKey { name, value })
        }
        AuthConfig::Oauth2 {
            token_url,
            client_id,
            client_secret,
            private_key_file,
            key_id,
            scopes,
            audience,
            encoding,
        } => {
            let url = Url::parse(&token_url)
                .ok()
                .filter(|u| matches!(u.scheme(), "http" | "https") && u.host_str().is_some())
                .ok_or_else(|| ConfigError::new(key("token_url"), format!("{token_url:?} is not an http(s) URL")))?;
            if client_id.trim().is_empty() {
                return Err(ConfigError::new(key("client_id"), "must not be empty"));
            }
            let mut token_http = HttpConfig::with_settings(url.clone(), http)?;
            customize(&mut token_http);
            let http =
                HttpClient::new(token_http).map_err(|err| ConfigError::new(key("token_url"), err.to_string()))?;
            let proof = match (client_secret, private_key_file) {
                (Some(secret), None) => Proof::Secret(secret),
                (None, Some(file)) => {
                    let text = std::fs::read_to_string(&file).map_err(|err| {
                        ConfigError::new(key("private_key_file"), format!("cannot read {file:?}: {err}"))
                    })?;
                    let signer = RsaSigner::from_pem(&text)
                        .map_err(|why| ConfigError::new(key("private_key_file"), format!("{file:?} {why}")))?;
                    Proof::Assertion { signer, key_id }
                }
                (Some(_), Some(_)) => {
                    return Err(ConfigError::new(
                        key("private_key_file"),
                        "give client_secret or private_key_file, not both",
                    ));
                }
                (None, None) => {
                    return Err(ConfigError::new(key("client_secret"), "missing: client_secret or private_key_file"));
                }
            };
            Arc::new(ClientCredentials {
                token_url: url,
                client_id,
                proof,
                scope: scopes.join(" "),
                audience,
                encoding,
                http,
                tokens: TokenCache::new(),
            })
        }
    }))
}

fn check_header_value(key: &str, value: &str) -> Result<(), ConfigError> {
    if value.is_empty() {
        return Err(ConfigError::new(key.to_owned(), "must not be empty"));
    }
    if HeaderValue::from_str(value).is_err() {
        return Err(ConfigError::new(key.to_owned(), "holds characters a header cannot carry (a line break?)"));
    }
    Ok(())
}

/// An API key in a query parameter: no header, the key added by the client as it sends.
struct QueryKey {
    name: String,
    value: SecretString,
}

impl fmt::Debug for QueryKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "QueryKey({}=**REDACTED**)", self.name)
    }
}

impl Auth for QueryKey {
    fn header(&self) -> BoxFuture<'_, Result<AuthHeader, HttpError>> {
        Box::pin(async { Err(HttpError::Auth("a query-parameter key sends no header".into())) })
    }

    fn headers<'a>(&'a self, _request: &'a RequestSpec) -> BoxFuture<'a, Result<Vec<AuthHeader>, HttpError>> {
        Box::pin(async { Ok(Vec::new()) })
    }

    fn query_parameter(&self) -> Option<(&str, &SecretString)> {
        Some((&self.name, &self.value))
    }
}

/// What an OAuth client proves itself with.
enum Proof {
    /// A client secret, in the token request's body.
    Secret(SecretString),
    /// `private_key_jwt`: a client assertion signed per attempt.
    Assertion { signer: RsaSigner, key_id: Option<String> },
}

/// How long a client assertion is valid.
const ASSERTION_LIFETIME: std::time::Duration = std::time::Duration::from_secs(300);

/// OAuth 2.0 client credentials.
struct ClientCredentials {
    token_url: Url,
    client_id: String,
    proof: Proof,
    scope: String,
    audience: Option<String>,
    encoding: TokenEncoding,
    http: HttpClient,
    tokens: TokenCache,
}

impl fmt::Debug for ClientCredentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClientCredentials")
            .field("token_url", &self.token_url.as_str())
            .field("client_id", &self.client_id)
            .field("scope", &self.scope)
            .finish_non_exhaustive()
    }
}

impl ClientCredentials {
    fn token_request(&self) -> Result<RequestSpec, HttpError> {
        let assertion;
        let mut members = vec![("grant_type", "client_credentials"), ("client_id", self.client_id.as_str())];
        match &self.proof {
            Proof::Secret(secret) => members.push(("client_secret", secret.expose_secret())),
            Proof::Assertion { signer, key_id } => {
                let mut header = Header::default();
                header.kid.clone_from(key_id);
                let claims = AssertionClaims::new(&self.client_id, self.token_url.as_str(), ASSERTION_LIFETIME);
                assertion = signer
                    .sign(&header, &claims)
                    .map_err(|err| HttpError::Auth(format!("cannot sign the client assertion: {err}")))?;
                members.push(("client_assertion_type", ASSERTION_TYPE));
                members.push(("client_assertion", &assertion));
            }
        }
        if !self.scope.is_empty() {
            members.push(("scope", &self.scope));
        }
        if let Some(audience) = &self.audience {
            members.push(("audience", audience));
        }
        let (body, content_type) = match self.encoding {
            TokenEncoding::Form => {
                let mut form = url::form_urlencoded::Serializer::new(String::new());
                form.extend_pairs(&members);
                (form.finish(), "application/x-www-form-urlencoded")
            }
            TokenEncoding::Json => {
                let map: serde_json::Map<String, serde_json::Value> =
                    members.iter().map(|(k, v)| ((*k).to_owned(), serde_json::Value::from(*v))).collect();
                (serde_json::Value::Object(map).to_string(), "application/json")
            }
        };
        Ok(RequestSpec::post(self.token_url.clone(), body)
            .header(CONTENT_TYPE, HeaderValue::from_static(content_type))
            .header(ACCEPT, HeaderValue::from_static("application/json")))
    }

    async fn fetch(&self) -> Result<IssuedToken, HttpError> {
        request_bearer_token(&self.http, || self.token_request(), hint, "this API").await
    }
}

fn hint(error: &str) -> &'static str {
    match error {
        "invalid_client" | "unauthorized_client" => " (check auth.client_id and auth.client_secret)",
        "invalid_scope" => " (check auth.scopes against what the application was granted)",
        _ => "",
    }
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
