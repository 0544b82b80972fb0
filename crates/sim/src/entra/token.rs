//! The simulated Microsoft identity platform token endpoint, `POST /{tenant}/oauth2/v2.0/token`: the
//! client-credentials grant with a client secret or a certificate-signed client assertion, the latter's
//! signature verified against the certificate. A [`TokenIssuer`] of its own serves every simulated
//! Microsoft API (Graph for Entra, the Office 365 Management APIs), each with its own scope.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::Response;
use axum::routing::post;
use bytes::BytesMut;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde::Deserialize;

use crate::util::{form, json_response, put_base64, splitmix64};

/// Who may get tokens from a [`TokenIssuer`], and for how long they last.
#[derive(Debug, Clone)]
pub struct Registration {
    /// The tenant the token endpoint serves.
    pub tenant: String,
    /// The application's client ID.
    pub client_id: String,
    /// Its client secret (`None`: none accepted).
    pub client_secret: Option<String>,
    /// The certificate (PEM) assertions must be signed with (`None`: assertions refused).
    pub certificate: Option<String>,
    /// How long issued tokens are valid (`expires_in`).
    pub token_lifetime: Duration,
}

/// A token endpoint on a simulator's origin: it issues tokens for `<base_url>/.default` and says whether
/// a bearer token is one of them.
#[derive(Debug)]
pub struct TokenIssuer {
    registration: Registration,
    /// `<base_url>/.default`.
    scope: String,
    /// `<base_url>/<tenant>/oauth2/v2.0/token`.
    token_url: String,
    /// A prefix of the issued tokens.
    prefix: &'static str,
    certificate: Option<Certificate>,
    token_requests: AtomicU64,
    tokens: Mutex<HashMap<String, i64>>,
    jtis: Jtis,
}

impl TokenIssuer {
    /// The token endpoint of a simulator at `base_url` for `registration`; tokens start with `prefix`.
    pub fn new(base_url: &str, registration: Registration, prefix: &'static str) -> Result<Self, String> {
        let certificate = registration.certificate.as_deref().map(Certificate::from_pem).transpose()?;
        Ok(Self {
            scope: format!("{base_url}/.default"),
            token_url: format!("{base_url}/{}/oauth2/v2.0/token", registration.tenant),
            registration,
            prefix,
            certificate,
            token_requests: AtomicU64::new(0),
            tokens: Mutex::default(),
            jtis: Mutex::default(),
        })
    }

    /// The route `POST /{tenant}/oauth2/v2.0/token`, to merge into the simulator's router.
    pub fn router(self: &Arc<Self>) -> Router {
        Router::new().route("/{tenant}/oauth2/v2.0/token", post(issue)).with_state(self.clone())
    }

    /// The token endpoint's URL.
    pub fn token_url(&self) -> &str {
        &self.token_url
    }

    /// The registration it serves.
    pub fn registration(&self) -> &Registration {
        &self.registration
    }

    /// Token requests received, every status included.
    pub fn token_requests(&self) -> u64 {
        self.token_requests.load(Ordering::Relaxed)
    }

    /// Ends every token issued so far.
    pub fn revoke_tokens(&self) {
        self.tokens.lock().unwrap_or_else(PoisonError::into_inner).clear();
    }

    /// Whether `token` was issued here and has not expired.
    pub fn valid(&self, token: &str) -> bool {
        let tokens = self.tokens.lock().unwrap_or_else(PoisonError::into_inner);
        tokens.get(token).is_some_and(|&expires| expires > jiff::Timestamp::now().as_millisecond())
    }

    /// Whether `headers` carry `Authorization: Bearer` with a token issued here, or `static_token`.
    pub fn authorized(&self, headers: &HeaderMap, static_token: Option<&str>) -> bool {
        let bearer =
            headers.get(header::AUTHORIZATION).and_then(|v| v.to_str().ok()).and_then(|v| v.strip_prefix("Bearer "));
        let Some(token) = bearer else { return false };
        static_token == Some(token) || self.valid(token)
    }
}

/// `client_assertion_type` of a JWT client assertion (RFC 7523).
pub const ASSERTION_TYPE: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";

/// The certificate client assertions must be signed with: its key and its thumbprints.
struct Certificate {
    key: DecodingKey,
    /// Base64url SHA-256 of the certificate's DER (`x5t#S256`).
    x5t_s256: String,
    /// Base64url SHA-1 of the certificate's DER (`x5t`).
    x5t: String,
}

impl std::fmt::Debug for Certificate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Certificate").field("x5t#S256", &self.x5t_s256).finish_non_exhaustive()
    }
}

impl Certificate {
    /// The first certificate of `pem` (a file may hold the key too).
    fn from_pem(pem_text: &str) -> Result<Self, String> {
        let blocks = pem::parse_many(pem_text).map_err(|err| err.to_string())?;
        let cert = blocks.iter().find(|b| b.tag() == "CERTIFICATE").ok_or("no CERTIFICATE in the PEM")?;
        let key = DecodingKey::from_rsa_pem(pem::encode(cert).as_bytes()).map_err(|err| err.to_string())?;
        Ok(Self {
            key,
            x5t_s256: thumbprint(&aws_lc_rs::digest::SHA256, cert.contents()),
            x5t: thumbprint(&aws_lc_rs::digest::SHA1_FOR_LEGACY_USE_ONLY, cert.contents()),
        })
    }
}

pub(super) fn thumbprint(algorithm: &'static aws_lc_rs::digest::Algorithm, der: &[u8]) -> String {
    let mut out = BytesMut::new();
    put_base64(&mut out, aws_lc_rs::digest::digest(algorithm, der).as_ref(), true);
    String::from_utf8_lossy(&out).into_owned()
}

/// The form fields of a token request.
#[derive(Deserialize)]
struct TokenRequest {
    grant_type: Option<String>,
    client_id: Option<String>,
    scope: Option<String>,
    client_secret: Option<String>,
    client_assertion_type: Option<String>,
    client_assertion: Option<String>,
}

/// The claims a client assertion must carry.
#[derive(Deserialize)]
struct Claims {
    iss: String,
    sub: String,
    jti: String,
}

/// An OAuth error as the Microsoft identity platform writes it: `error`, `error_description` starting
/// with the `AADSTS` code, `error_codes`.
fn oauth_error(status: StatusCode, error: &str, code: u32, description: &str) -> Response {
    let body = serde_json::json!({
        "error": error,
        "error_description": format!("AADSTS{code}: {description} Trace ID: 00000000-0000-0000-0000-000000000000"),
        "error_codes": [code],
        "timestamp": jiff::Timestamp::now().strftime("%Y-%m-%d %H:%M:%SZ").to_string(),
    });
    json_response(status, body.to_string(), &[])
}

async fn issue(State(sim): State<Arc<TokenIssuer>>, Path(tenant): Path<String>, body: Bytes) -> Response {
    let n = sim.token_requests.fetch_add(1, Ordering::Relaxed) + 1;
    if tenant != sim.registration.tenant {
        let description = format!("Tenant '{tenant}' not found. Check to make sure you have the correct tenant ID.");
        return oauth_error(StatusCode::BAD_REQUEST, "invalid_request", 90002, &description);
    }
    let Some(request) = form::<TokenRequest>(&body) else {
        return oauth_error(StatusCode::BAD_REQUEST, "invalid_request", 900144, "The request body is not a form.");
    };
    if request.grant_type.as_deref() != Some("client_credentials") {
        return oauth_error(
            StatusCode::BAD_REQUEST,
            "unsupported_grant_type",
            70003,
            "The grant type is not supported.",
        );
    }
    let client_id = request.client_id.as_deref().unwrap_or_default();
    if client_id != sim.registration.client_id {
        let description = format!("Application with identifier '{client_id}' was not found in the directory.");
        return oauth_error(StatusCode::BAD_REQUEST, "unauthorized_client", 700016, &description);
    }
    if request.scope.as_deref() != Some(sim.scope.as_str()) {
        let description = format!("The provided value for scope is not valid: it must be {}.", sim.scope);
        return oauth_error(StatusCode::BAD_REQUEST, "invalid_scope", 1002012, &description);
    }
    let verdict = match (&request.client_secret, &request.client_assertion) {
        (Some(secret), None) => check_secret(&sim, secret),
        (None, Some(assertion)) => match request.client_assertion_type.as_deref() {
            Some(ASSERTION_TYPE) => check_assertion(&sim, assertion),
            _ => Err((400, "invalid_request", 50027, "client_assertion_type must be jwt-bearer.".to_owned())),
        },
        _ => Err((
            400,
            "invalid_request",
            900144,
            "The request body must contain the following parameter: 'client_assertion' or 'client_secret'.".to_owned(),
        )),
    };
    if let Err((status, error, code, description)) = verdict {
        let status = StatusCode::from_u16(status).unwrap_or(StatusCode::BAD_REQUEST);
        return oauth_error(status, error, code, &description);
    }
    let token = format!("{}-{n}-{:016x}", sim.prefix, splitmix64(n ^ 0x0e17_a000));
    let lifetime = sim.registration.token_lifetime;
    let expires = jiff::Timestamp::now().as_millisecond() + lifetime.as_millis() as i64;
    sim.tokens.lock().unwrap_or_else(PoisonError::into_inner).insert(token.clone(), expires);
    let body = serde_json::json!({
        "token_type": "Bearer", "expires_in": lifetime.as_secs(), "ext_expires_in": lifetime.as_secs(),
        "access_token": token,
    });
    json_response(StatusCode::OK, body.to_string(), &[])
}

type Refusal = (u16, &'static str, u32, String);

fn check_secret(sim: &TokenIssuer, secret: &str) -> Result<(), Refusal> {
    match &sim.registration.client_secret {
        Some(expected) if expected == secret => Ok(()),
        _ => Err((
            401,
            "invalid_client",
            7000215,
            "Invalid client secret provided. Ensure the secret being sent in the request is the client secret value, not the client secret ID.".to_owned(),
        )),
    }
}

/// Verifies a client assertion: RS256 or PS256, signed by the configured certificate's key and naming it
/// by thumbprint, for this token endpoint, issued by and about the client, not expired, its `jti` never
/// seen before.
fn check_assertion(sim: &TokenIssuer, assertion: &str) -> Result<(), Refusal> {
    let invalid = |code: u32, description: &str| Err((401, "invalid_client", code, description.to_owned()));
    let Some(certificate) = &sim.certificate else {
        return invalid(700027, "No certificate is registered on the application.");
    };
    let Ok(header) = jsonwebtoken::decode_header(assertion) else {
        return invalid(50027, "JWT token is invalid or malformed.");
    };
    let names_it =
        header.x5t_s256.as_deref() == Some(&certificate.x5t_s256) || header.x5t.as_deref() == Some(&certificate.x5t);
    if !names_it {
        return invalid(700027, "Client assertion failed signature validation: the key was not found.");
    }
    if !matches!(header.alg, Algorithm::RS256 | Algorithm::PS256) {
        return invalid(50027, "JWT token is invalid or malformed: the algorithm is not RS256 or PS256.");
    }
    let mut validation = Validation::new(header.alg);
    validation.set_audience(&[&sim.token_url]);
    validation.set_required_spec_claims(&["exp", "aud", "iss", "sub"]);
    validation.validate_nbf = true;
    let claims = match jsonwebtoken::decode::<Claims>(assertion, &certificate.key, &validation) {
        Ok(data) => data.claims,
        Err(err) => {
            use jsonwebtoken::errors::ErrorKind;
            return match err.kind() {
                ErrorKind::ExpiredSignature | ErrorKind::ImmatureSignature => {
                    invalid(700024, "Client assertion is not within its valid time range.")
                }
                ErrorKind::InvalidSignature => invalid(700027, "Client assertion contains an invalid signature."),
                ErrorKind::InvalidAudience => invalid(700212, "The client assertion's audience is not this endpoint."),
                _ => invalid(50027, &format!("JWT token is invalid or malformed: {err}.")),
            };
        }
    };
    if claims.iss != sim.registration.client_id || claims.sub != sim.registration.client_id {
        return invalid(700021, "The client assertion's iss and sub must both be the application's client ID.");
    }
    let fresh = sim.jtis.lock().unwrap_or_else(PoisonError::into_inner).insert(claims.jti);
    if !fresh {
        return invalid(700025, "The client assertion's jti was already used.");
    }
    Ok(())
}

/// The `jti`s of every client assertion accepted so far.
type Jtis = Mutex<HashSet<String>>;
