//! The simulated Google OAuth 2.0 token endpoint, `POST /token`: the JWT bearer grant of a service
//! account (RFC 7523) with domain-wide delegation, the assertion's signature verified with the service
//! account key's public half.

use std::sync::atomic::Ordering;
use std::sync::{Arc, PoisonError};

use axum::body::Bytes;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use jsonwebtoken::{Algorithm, Validation};
use serde::Deserialize;

use super::{CLIENT_EMAIL, PRIVATE_KEY_ID, SCOPE, Shared};
use crate::util::{form, json_response, splitmix64};

/// `grant_type` of the JWT bearer grant.
pub const GRANT_TYPE: &str = "urn:ietf:params:oauth:grant-type:jwt-bearer";

#[derive(Deserialize)]
struct TokenRequest {
    grant_type: Option<String>,
    assertion: Option<String>,
}

#[derive(Deserialize)]
struct Claims {
    iss: String,
    sub: Option<String>,
    scope: Option<String>,
    iat: i64,
    exp: i64,
}

/// Google's OAuth error: `{"error", "error_description"}`.
fn oauth_error(status: StatusCode, error: &str, description: &str) -> Response {
    let body = serde_json::json!({"error": error, "error_description": description});
    json_response(status, body.to_string(), &[])
}

const SIGNATURE: &str = "Invalid JWT Signature.";
const TIMEFRAME: &str = "Invalid JWT: Token must be a short-lived token (60 minutes) and in a reasonable timeframe. Check your iat and exp values in the JWT claim.";

pub(super) async fn issue(State(sim): State<Arc<Shared>>, body: Bytes) -> Response {
    let n = sim.token_requests.fetch_add(1, Ordering::Relaxed) + 1;
    let Some(request) = form::<TokenRequest>(&body) else {
        return oauth_error(StatusCode::BAD_REQUEST, "invalid_request", "The request body is not a form.");
    };
    if request.grant_type.as_deref() != Some(GRANT_TYPE) {
        return oauth_error(StatusCode::BAD_REQUEST, "unsupported_grant_type", "Invalid grant_type: ");
    }
    let Some(assertion) = request.assertion else {
        return oauth_error(StatusCode::BAD_REQUEST, "invalid_request", "Missing required parameter: assertion");
    };
    sim.assertions.lock().unwrap_or_else(PoisonError::into_inner).push(assertion.clone());
    if let Err((status, error, description)) = check(&sim, &assertion) {
        return oauth_error(status, error, &description);
    }
    let token = format!("ya29.sim-{n}-{:016x}", splitmix64(n ^ 0x600e_7000));
    let lifetime = sim.settings.token_lifetime;
    let expires = jiff::Timestamp::now().as_millisecond() + lifetime.as_millis() as i64;
    sim.tokens.lock().unwrap_or_else(PoisonError::into_inner).insert(token.clone(), expires);
    let body = serde_json::json!({"access_token": token, "expires_in": lifetime.as_secs(), "token_type": "Bearer"});
    json_response(StatusCode::OK, body.to_string(), &[])
}

type Refusal = (StatusCode, &'static str, String);

fn grant(description: &str) -> Result<(), Refusal> {
    Err((StatusCode::BAD_REQUEST, "invalid_grant", description.to_owned()))
}

/// Verifies an assertion: RS256, `kid` the key's id, the key's signature, `aud` this endpoint, `iss`
/// the service account, a short-lived time range, the scope, delegation, and the subject.
fn check(sim: &Shared, assertion: &str) -> Result<(), Refusal> {
    let Ok(header) = jsonwebtoken::decode_header(assertion) else {
        return grant("Invalid JWT: the assertion is not a JWT.");
    };
    if header.alg != Algorithm::RS256 || header.kid.as_deref() != Some(PRIVATE_KEY_ID) {
        return grant(SIGNATURE);
    }
    let mut validation = Validation::new(Algorithm::RS256);
    validation.set_audience(&[&sim.token_url]);
    validation.set_required_spec_claims(&["exp", "aud", "iss"]);
    validation.leeway = 0;
    let claims = match jsonwebtoken::decode::<Claims>(assertion, &sim.public_key, &validation) {
        Ok(data) => data.claims,
        Err(err) => {
            use jsonwebtoken::errors::ErrorKind;
            return match err.kind() {
                ErrorKind::ExpiredSignature | ErrorKind::ImmatureSignature => grant(TIMEFRAME),
                ErrorKind::InvalidAudience => grant("Invalid JWT: Failed audience check."),
                ErrorKind::InvalidSignature => grant(SIGNATURE),
                _ => grant(&format!("Invalid JWT: {err}.")),
            };
        }
    };
    if claims.iss != CLIENT_EMAIL {
        return grant("Invalid grant: account not found");
    }
    let now = jiff::Timestamp::now().as_second();
    if claims.iat > now + 5 || claims.exp <= claims.iat || claims.exp - claims.iat > 3600 {
        return grant(TIMEFRAME);
    }
    let scopes = claims.scope.unwrap_or_default();
    if scopes.split(' ').all(|scope| scope != SCOPE) || !sim.settings.delegated {
        return Err((
            StatusCode::UNAUTHORIZED,
            "unauthorized_client",
            "Client is unauthorized to retrieve access tokens using this method, or client not authorized for any of the scopes requested.".to_owned(),
        ));
    }
    if claims.sub.as_deref() != Some(sim.settings.subject.as_str()) {
        return grant("Invalid email or User ID");
    }
    Ok(())
}
