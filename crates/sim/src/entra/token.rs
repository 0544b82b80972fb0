//! The simulated Microsoft identity platform token endpoint, `POST /{tenant}/oauth2/v2.0/token`: the
//! client-credentials grant with a client secret or a certificate-signed client assertion, the latter's
//! signature verified against the certificate.

use std::collections::HashSet;
use std::sync::atomic::Ordering;
use std::sync::{Arc, PoisonError};

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use bytes::BytesMut;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde::Deserialize;

use super::Shared;
use crate::util::{form, json_response, put_base64, splitmix64};

/// `client_assertion_type` of a JWT client assertion (RFC 7523).
pub const ASSERTION_TYPE: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";

/// The certificate client assertions must be signed with: its key and its thumbprints.
pub(super) struct Certificate {
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
    pub(super) fn from_pem(pem_text: &str) -> Result<Self, String> {
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

pub(super) async fn issue(State(sim): State<Arc<Shared>>, Path(tenant): Path<String>, body: Bytes) -> Response {
    let n = sim.token_requests.fetch_add(1, Ordering::Relaxed) + 1;
    if tenant != sim.settings.tenant {
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
    if client_id != sim.settings.client_id {
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
    let token = format!("sim-graph-{n}-{:016x}", splitmix64(n ^ 0x0e17_a000));
    let lifetime = sim.settings.token_lifetime;
    let expires = jiff::Timestamp::now().as_millisecond() + lifetime.as_millis() as i64;
    sim.tokens.lock().unwrap_or_else(PoisonError::into_inner).insert(token.clone(), expires);
    let body = serde_json::json!({
        "token_type": "Bearer", "expires_in": lifetime.as_secs(), "ext_expires_in": lifetime.as_secs(),
        "access_token": token,
    });
    json_response(StatusCode::OK, body.to_string(), &[])
}

type Refusal = (u16, &'static str, u32, String);

fn check_secret(sim: &Shared, secret: &str) -> Result<(), Refusal> {
    match &sim.settings.client_secret {
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
fn check_assertion(sim: &Shared, assertion: &str) -> Result<(), Refusal> {
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
    if claims.iss != sim.settings.client_id || claims.sub != sim.settings.client_id {
        return invalid(700021, "The client assertion's iss and sub must both be the application's client ID.");
    }
    let fresh = sim.jtis.lock().unwrap_or_else(PoisonError::into_inner).insert(claims.jti);
    if !fresh {
        return invalid(700025, "The client assertion's jti was already used.");
    }
    Ok(())
}

/// The `jti`s of every client assertion accepted so far.
pub(super) type Jtis = std::sync::Mutex<HashSet<String>>;
