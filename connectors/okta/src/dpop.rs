//! DPoP (RFC 9449), for Okta API service apps with *Require Demonstrating Proof of Possession* on.
//!
//! The connector holds a key pair of its own (P-256, generated at start-up, never written anywhere) and
//! proves possession of it on every call: the token request and each API request carry a `DPoP` header,
//! a JWT signed with that key whose header carries the public key (`jwk`) and whose claims name the
//! request (`htm` the method, `htu` the URL without query or fragment), a one-time `jti` and `iat`. Okta
//! then issues a token bound to the key (`token_type: DPoP`), sent as `Authorization: DPoP <token>`,
//! and each API proof also carries `ath`, the token's SHA-256 (base64url), so a stolen token is useless
//! without the key.
//!
//! Okta answers the first token request with 400 `use_dpop_nonce` and a `DPoP-Nonce` header: the next
//! proof must carry that `nonce`. A resource server may do the same with a 401 whose `WWW-Authenticate`
//! says `error="use_dpop_nonce"`. Both nonces are kept (they are different servers' values) and adopted
//! from such an answer; the HTTP client then sends the request again, newly signed.

use std::sync::Mutex;

use aws_lc_rs::digest::{SHA256, digest};
use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, KeyPair};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use logcrawl_http::header::HeaderValue;
use logcrawl_http::{HttpError, Method, Response, StatusCode, Url};
use serde_json::json;

/// The header a proof travels in.
pub(crate) const DPOP_HEADER: &str = "dpop";
/// The header a server hands a nonce out in.
pub(crate) const NONCE_HEADER: &str = "dpop-nonce";

/// Which server a nonce came from, and is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Audience {
    /// The authorization server (`/oauth2/v1/token`).
    Token,
    /// The API (`/api/v1/logs`).
    Api,
}

/// The connector's DPoP key and the nonces the servers handed out.
pub(crate) struct Dpop {
    key: EcdsaKeyPair,
    rng: SystemRandom,
    /// The public key as a JWK, for every proof's header.
    jwk: serde_json::Value,
    token_nonce: Mutex<Option<String>>,
    api_nonce: Mutex<Option<String>>,
}

impl std::fmt::Debug for Dpop {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Dpop").field("jwk", &self.jwk).finish_non_exhaustive()
    }
}

impl Dpop {
    /// A new key pair (`Err`: the crypto backend refused, a message for the operator).
    pub(crate) fn generate() -> Result<Self, String> {
        let rng = SystemRandom::new();
        let pkcs8 = EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &rng)
            .map_err(|_| "generating the DPoP key failed".to_owned())?;
        let key = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, pkcs8.as_ref())
            .map_err(|_| "loading the DPoP key failed".to_owned())?;
        // An uncompressed P-256 point: 0x04, then x and y, 32 bytes each.
        let point = key.public_key().as_ref();
        if point.len() != 65 || point[0] != 4 {
            return Err("the DPoP public key is not an uncompressed P-256 point".into());
        }
        let jwk = json!({
            "kty": "EC",
            "crv": "P-256",
            "x": URL_SAFE_NO_PAD.encode(&point[1..33]),
            "y": URL_SAFE_NO_PAD.encode(&point[33..]),
        });
        Ok(Self { key, rng, jwk, token_nonce: Mutex::new(None), api_nonce: Mutex::new(None) })
    }

    fn nonce(&self, audience: Audience) -> &Mutex<Option<String>> {
        match audience {
            Audience::Token => &self.token_nonce,
            Audience::Api => &self.api_nonce,
        }
    }

    /// The proof of a `method` request to `url` for `audience`, binding the access token whose hash is
    /// `ath` (API requests), with the nonce that server handed out last, if any.
    pub(crate) fn proof(
        &self,
        method: &Method,
        url: &Url,
        ath: Option<&str>,
        audience: Audience,
    ) -> Result<HeaderValue, HttpError> {
        let mut htu = url.clone();
        htu.set_query(None);
        htu.set_fragment(None);
        let header = json!({"typ": "dpop+jwt", "alg": "ES256", "jwk": self.jwk});
        let mut claims = json!({
            "jti": format!("{:032x}", fastrand::u128(..)),
            "htm": method.as_str(),
            "htu": htu.as_str(),
            "iat": jiff::Timestamp::now().as_second(),
        });
        if let Some(ath) = ath {
            claims["ath"] = json!(ath);
        }
        if let Some(nonce) = self.nonce(audience).lock().unwrap_or_else(std::sync::PoisonError::into_inner).clone() {
            claims["nonce"] = json!(nonce);
        }
        let input =
            format!("{}.{}", URL_SAFE_NO_PAD.encode(header.to_string()), URL_SAFE_NO_PAD.encode(claims.to_string()));
        let signature = self
            .key
            .sign(&self.rng, input.as_bytes())
            .map_err(|_| HttpError::Auth("signing the DPoP proof failed".into()))?;
        let jwt = format!("{input}.{}", URL_SAFE_NO_PAD.encode(signature.as_ref()));
        HeaderValue::from_str(&jwt).map_err(|_| HttpError::Auth("the DPoP proof is not a valid header value".into()))
    }

    /// Adopts the nonce `response` hands out when it asks for one (400 `use_dpop_nonce` from the token
    /// endpoint, 401 `WWW-Authenticate: DPoP error="use_dpop_nonce"` from the API): whether a new nonce
    /// was adopted, so the request is worth sending again.
    pub(crate) fn adopt_nonce(&self, response: &Response, audience: Audience) -> bool {
        let asks = match audience {
            Audience::Token => {
                response.status == StatusCode::BAD_REQUEST
                    && String::from_utf8_lossy(&response.body).contains("use_dpop_nonce")
            }
            Audience::Api => {
                response.status == StatusCode::UNAUTHORIZED
                    && response
                        .headers
                        .get_all("www-authenticate")
                        .iter()
                        .any(|v| v.to_str().is_ok_and(|v| v.contains("use_dpop_nonce")))
            }
        };
        let Some(nonce) = response.headers.get(NONCE_HEADER).and_then(|v| v.to_str().ok()) else { return false };
        if !asks || nonce.is_empty() {
            return false;
        }
        let mut current = self.nonce(audience).lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if current.as_deref() == Some(nonce) {
            return false; // refused with the nonce it asked for: another attempt would be refused alike
        }
        *current = Some(nonce.to_owned());
        true
    }
}

/// `ath`: the base64url SHA-256 of an access token, as a DPoP proof binds it.
pub(crate) fn token_hash(access_token: &str) -> String {
    URL_SAFE_NO_PAD.encode(digest(&SHA256, access_token.as_bytes()).as_ref())
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_lc_rs::signature::{ECDSA_P256_SHA256_FIXED, UnparsedPublicKey};

    fn decode(part: &str) -> serde_json::Value {
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(part).unwrap()).unwrap()
    }

    #[test]
    fn a_proof_is_an_es256_jwt_over_the_request_verifiable_with_its_jwk() {
        let dpop = Dpop::generate().unwrap();
        let url = Url::parse("https://acme.okta.com/api/v1/logs?after=x#f").unwrap();
        let proof = dpop.proof(&Method::GET, &url, Some(&token_hash("at-1")), Audience::Api).unwrap();
        let parts: Vec<&str> = proof.to_str().unwrap().split('.').collect();
        let (header, claims) = (decode(parts[0]), decode(parts[1]));
        assert_eq!((header["typ"].as_str(), header["alg"].as_str()), (Some("dpop+jwt"), Some("ES256")));
        assert_eq!(claims["htm"], "GET");
        assert_eq!(claims["htu"], "https://acme.okta.com/api/v1/logs", "no query, no fragment");
        assert_eq!(claims["ath"], token_hash("at-1"));
        assert!(claims.get("nonce").is_none());
        let mut point = vec![4u8];
        point.extend(URL_SAFE_NO_PAD.decode(header["jwk"]["x"].as_str().unwrap()).unwrap());
        point.extend(URL_SAFE_NO_PAD.decode(header["jwk"]["y"].as_str().unwrap()).unwrap());
        let signed = format!("{}.{}", parts[0], parts[1]);
        let signature = URL_SAFE_NO_PAD.decode(parts[2]).unwrap();
        UnparsedPublicKey::new(&ECDSA_P256_SHA256_FIXED, &point).verify(signed.as_bytes(), &signature).unwrap();
        let again = dpop.proof(&Method::GET, &url, None, Audience::Api).unwrap();
        assert_ne!(decode(again.to_str().unwrap().split('.').nth(1).unwrap())["jti"], claims["jti"]);
    }

    #[test]
    fn the_sha256_of_a_token_is_base64url_without_padding() {
        // RFC 9449 §7.1's example: the hash of the access token "Kz~8mXK1EalYznwH-LC-1fBAo.4Ljp~zsPE_NeO.gxU".
        assert_eq!(
            token_hash("Kz~8mXK1EalYznwH-LC-1fBAo.4Ljp~zsPE_NeO.gxU"),
            "fUHyO2r2Z3DZ53EsNrWBb0xWXoaNy59IiKCAqksmQEo"
        );
    }
}
