//! RS256 JSON Web Tokens signed with an RSA private key read from PEM: what every credential that proves
//! itself with a signed assertion shares (Entra's certificate client assertions, Google's service-account
//! JWT bearer grants). The credential says which claims and header members it signs; this module reads
//! the key once, with errors that say what is wrong with the text and never quote it, and signs.

use std::fmt;

use jsonwebtoken::{Algorithm, EncodingKey};
use serde::Serialize;

pub use jsonwebtoken::Header;
pub use jsonwebtoken::errors::Error as SignError;

/// The signing half of an RSA key pair (PKCS#8 `PRIVATE KEY` or PKCS#1 `RSA PRIVATE KEY`, unencrypted).
/// Its `Debug` shows nothing of the key.
pub struct RsaSigner {
    key: EncodingKey,
}

impl fmt::Debug for RsaSigner {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RsaSigner").finish_non_exhaustive()
    }
}

impl RsaSigner {
    /// Reads the first private key of a PEM text (other blocks, a certificate for one, are skipped). The
    /// error says what the text holds instead (its block names), never any of its contents.
    pub fn from_pem(text: &str) -> Result<Self, String> {
        let blocks = pem::parse_many(text).map_err(|err| format!("not PEM: {err}"))?;
        let tags: Vec<&str> = blocks.iter().map(pem::Pem::tag).collect();
        if tags.contains(&"ENCRYPTED PRIVATE KEY") {
            return Err("its private key is encrypted; export it without a password (PKCS#8 or PKCS#1)".into());
        }
        let block = blocks.iter().find(|b| matches!(b.tag(), "PRIVATE KEY" | "RSA PRIVATE KEY")).ok_or_else(|| {
            let found = if tags.is_empty() { "nothing".to_owned() } else { tags.join(", ") };
            format!("holds no PRIVATE KEY or RSA PRIVATE KEY block (found: {found})")
        })?;
        let key = EncodingKey::from_rsa_pem(pem::encode(block).as_bytes())
            .map_err(|err| format!("its private key is not an RSA key jsonwebtoken reads: {err}"))?;
        Ok(Self { key })
    }

    /// `header` (its algorithm set to RS256) and `claims`, signed: a compact JWT.
    pub fn sign<T: Serialize>(&self, header: &Header, claims: &T) -> Result<String, SignError> {
        let mut header = header.clone();
        header.alg = Algorithm::RS256;
        jsonwebtoken::encode(&header, claims, &self.key)
    }
}

/// The claims of an RFC 7523 client assertion (`private_key_jwt`, Entra's certificate credentials):
/// `iss` = `sub` = the client, `aud` = the token endpoint, valid from now for its lifetime, and a `jti`
/// that is new for every assertion — token endpoints refuse a replayed one, so an assertion is made per
/// attempt, retries included.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct AssertionClaims {
    /// The token endpoint.
    pub aud: String,
    /// The client.
    pub iss: String,
    /// The client.
    pub sub: String,
    /// A random GUID-shaped id.
    pub jti: String,
    /// When it was made (epoch seconds).
    pub iat: i64,
    /// Not before (epoch seconds).
    pub nbf: i64,
    /// When it expires (epoch seconds).
    pub exp: i64,
}

impl AssertionClaims {
    /// The claims of a new assertion of `client_id` for the token endpoint `aud`, valid `lifetime` from now.
    pub fn new(client_id: &str, aud: &str, lifetime: std::time::Duration) -> Self {
        let now = jiff::Timestamp::now().as_second();
        Self {
            aud: aud.to_owned(),
            iss: client_id.to_owned(),
            sub: client_id.to_owned(),
            jti: jti(),
            iat: now,
            nbf: now,
            exp: now.saturating_add(i64::try_from(lifetime.as_secs()).unwrap_or(i64::MAX)),
        }
    }
}

/// A random GUID-shaped id (version 4 layout).
pub fn jti() -> String {
    let (a, b) = (fastrand::u64(..), fastrand::u64(..));
    format!(
        "{:08x}-{:04x}-4{:03x}-{:04x}-{:012x}",
        a >> 32,
        (a >> 16) & 0xffff,
        a & 0xfff,
        0x8000 | (b >> 48) & 0x3fff,
        b & 0xffff_ffff_ffff
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A 2048-bit key made for this test only.
    const KEY: &str = include_str!("../fixtures/jwt-test-only.pem");
    const PUBLIC: &str = include_str!("../fixtures/jwt-test-only.pub.pem");

    #[test]
    fn signs_rs256_tokens_the_public_key_verifies() {
        let signer = RsaSigner::from_pem(KEY).unwrap();
        let mut header = Header::new(Algorithm::HS256);
        header.kid = Some("key-1".into());
        let claims =
            serde_json::json!({"iss": "a@b.iam.gserviceaccount.com", "aud": "https://t", "exp": 4_000_000_000_u64});
        let token = signer.sign(&header, &claims).unwrap();
        let decoded = jsonwebtoken::decode_header(&token).unwrap();
        assert_eq!((decoded.alg, decoded.kid.as_deref()), (Algorithm::RS256, Some("key-1")));
        let mut validation = jsonwebtoken::Validation::new(Algorithm::RS256);
        validation.set_audience(&["https://t"]);
        let key = jsonwebtoken::DecodingKey::from_rsa_pem(PUBLIC.as_bytes()).unwrap();
        let verified = jsonwebtoken::decode::<serde_json::Value>(&token, &key, &validation).unwrap();
        assert_eq!(verified.claims, claims);
        assert!(!format!("{signer:?}").contains("MII"));
    }

    #[test]
    fn texts_without_a_usable_key_are_refused_saying_what_they_hold() {
        let err = |text: &str| RsaSigner::from_pem(text).unwrap_err();
        assert!(err(PUBLIC).contains("no PRIVATE KEY") && err(PUBLIC).contains("PUBLIC KEY"), "{}", err(PUBLIC));
        assert!(err("hello").contains("found: nothing"), "{}", err("hello"));
        let encrypted = "-----BEGIN ENCRYPTED PRIVATE KEY-----\nAAAA\n-----END ENCRYPTED PRIVATE KEY-----\n";
        assert!(err(encrypted).contains("encrypted"));
        let garbage = "-----BEGIN PRIVATE KEY-----\nAAAAAAAAAAAAAAAAAAAA\n-----END PRIVATE KEY-----\n";
        assert!(err(garbage).contains("not an RSA key"), "{}", err(garbage));
        for text in [PUBLIC, encrypted, garbage] {
            assert!(!err(text).contains("AAAAAAAA") && !err(text).contains("MII"), "no PEM contents in an error");
        }
    }

    proptest::proptest! {
        /// Whatever the text, reading it answers (no panic), and an error never quotes its body.
        #[test]
        fn any_text_is_read_or_refused_without_quoting_it(body in "[A-Za-z0-9+/=]{9,120}") {
            let text = format!("-----BEGIN PRIVATE KEY-----\n{body}\n-----END PRIVATE KEY-----\n");
            if let Err(err) = RsaSigner::from_pem(&text) {
                proptest::prop_assert!(!err.contains(&body), "{}", err);
            }
        }
    }
}
