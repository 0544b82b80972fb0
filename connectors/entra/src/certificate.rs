//! A certificate credential: the PEM file of `certificate_file` (the certificate uploaded to the app
//! registration, and its private key), and the client assertions it signs.
//!
//! Each assertion is an RS256 JWT whose header names the certificate by its thumbprints (`x5t#S256`, the
//! base64url SHA-256 of its DER, and `x5t`, the SHA-1 one older Entra endpoints read), with `aud` = the
//! token URL, `iss` = `sub` = the client ID, `iat` = `nbf` = now, `exp` five minutes later and a new
//! random `jti`: one per token request attempt, never reused.

use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::{Algorithm, DecodingKey, Header, Validation};
use logcrawl_http::jwt::{AssertionClaims, RsaSigner};

/// How long an assertion is valid (Entra sets no limit; its documentation asks for minutes).
pub const ASSERTION_LIFETIME: Duration = Duration::from_secs(300);

/// The signing half of a certificate credential.
pub struct ClientCertificate {
    key: RsaSigner,
    /// The certificate's public key: what the token endpoint verifies with.
    public: DecodingKey,
    x5t_s256: String,
    x5t: String,
}

impl std::fmt::Debug for ClientCertificate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClientCertificate").field("x5t#S256", &self.x5t_s256).finish_non_exhaustive()
    }
}

impl ClientCertificate {
    /// Reads a PEM text holding a certificate (the first one is the app's) and its RSA private key
    /// (PKCS#8 or PKCS#1, unencrypted), in any order, and checks that the two belong together. The error
    /// says what is wrong with the file, never any of its contents.
    pub fn from_pem(text: &str) -> Result<Self, String> {
        let blocks = pem::parse_many(text).map_err(|err| format!("not PEM: {err}"))?;
        let tags: Vec<&str> = blocks.iter().map(pem::Pem::tag).collect();
        let certificate = blocks
            .iter()
            .find(|b| b.tag() == "CERTIFICATE")
            .ok_or_else(|| format!("holds no CERTIFICATE block (found: {})", listed(&tags)))?;
        let key = RsaSigner::from_pem(text)?;
        let public = DecodingKey::from_rsa_pem(pem::encode(certificate).as_bytes())
            .map_err(|err| format!("its certificate holds no RSA public key: {err}"))?;
        let der = certificate.contents();
        let digest = |algorithm| URL_SAFE_NO_PAD.encode(aws_lc_rs::digest::digest(algorithm, der));
        let credential = Self {
            key,
            public,
            x5t_s256: digest(&aws_lc_rs::digest::SHA256),
            x5t: digest(&aws_lc_rs::digest::SHA1_FOR_LEGACY_USE_ONLY),
        };
        credential.check_pair()?;
        Ok(credential)
    }

    /// `x5t#S256`: the certificate's SHA-256 thumbprint, base64url.
    pub fn thumbprint_sha256(&self) -> &str {
        &self.x5t_s256
    }

    /// `x5t`: the certificate's SHA-1 thumbprint, base64url.
    pub fn thumbprint_sha1(&self) -> &str {
        &self.x5t
    }

    /// A new client assertion of application `client_id` for the token endpoint `aud`.
    pub fn assertion(&self, client_id: &str, aud: &str) -> Result<String, jsonwebtoken::errors::Error> {
        let mut header = Header::new(Algorithm::RS256);
        header.x5t_s256 = Some(self.x5t_s256.clone());
        header.x5t = Some(self.x5t.clone());
        self.key.sign(&header, &AssertionClaims::new(client_id, aud, ASSERTION_LIFETIME))
    }

    /// Signs an assertion and verifies it with the certificate's key: a key of another certificate fails
    /// here, at startup, rather than at the token endpoint.
    fn check_pair(&self) -> Result<(), String> {
        let probe = "https://login.invalid/check";
        let signed =
            self.assertion("check", probe).map_err(|err| format!("cannot sign with its private key: {err}"))?;
        let mut validation = Validation::new(Algorithm::RS256);
        validation.set_audience(&[probe]);
        jsonwebtoken::decode::<AssertionClaims>(&signed, &self.public, &validation)
            .map(drop)
            .map_err(|_| "its private key does not belong to its (first) certificate".to_owned())
    }
}

fn listed(tags: &[&str]) -> String {
    if tags.is_empty() { "nothing".to_owned() } else { tags.join(", ") }
}

#[cfg(test)]
mod tests {
    use super::*;
    use logcrawl_sim::entra::{OTHER_TEST_CERTIFICATE, TEST_CERTIFICATE};

    fn decode(part: &str) -> serde_json::Value {
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(part).unwrap()).unwrap()
    }

    #[test]
    fn assertions_name_the_certificate_and_are_new_each_time() {
        let credential = ClientCertificate::from_pem(TEST_CERTIFICATE).unwrap();
        let one = credential.assertion("client", "https://login.example/t/oauth2/v2.0/token").unwrap();
        let two = credential.assertion("client", "https://login.example/t/oauth2/v2.0/token").unwrap();
        let (header, claims) = (decode(one.split('.').next().unwrap()), decode(one.split('.').nth(1).unwrap()));
        assert_eq!(header["alg"], "RS256");
        assert_eq!(header["x5t#S256"], credential.thumbprint_sha256());
        assert_eq!(header["x5t"], credential.thumbprint_sha1());
        assert_eq!(credential.thumbprint_sha256().len(), 43);
        assert_eq!(credential.thumbprint_sha1().len(), 27);
        assert_eq!((claims["iss"].as_str(), claims["sub"].as_str()), (Some("client"), Some("client")));
        assert_eq!(claims["aud"], "https://login.example/t/oauth2/v2.0/token");
        assert_eq!(claims["exp"].as_i64().unwrap() - claims["nbf"].as_i64().unwrap(), 300);
        assert_ne!(claims["jti"], decode(two.split('.').nth(1).unwrap())["jti"], "a new jti every time");
        assert!(!format!("{credential:?}").contains("PRIVATE"));
    }

    #[test]
    fn files_that_do_not_hold_a_matching_pair_are_refused_saying_why() {
        let (cert, key) = TEST_CERTIFICATE.split_at(TEST_CERTIFICATE.find("-----BEGIN PRIVATE KEY").unwrap());
        let (other_cert, other_key) =
            OTHER_TEST_CERTIFICATE.split_at(OTHER_TEST_CERTIFICATE.find("-----BEGIN PRIVATE KEY").unwrap());
        assert!(ClientCertificate::from_pem(&format!("{key}{cert}")).is_ok(), "the key may come first");
        let err = |text: &str| ClientCertificate::from_pem(text).unwrap_err();
        assert!(err(cert).contains("no PRIVATE KEY"), "{}", err(cert));
        assert!(err(key).contains("no CERTIFICATE"), "{}", err(key));
        assert!(err("hello").contains("no CERTIFICATE"), "{}", err("hello"));
        assert!(err(&format!("{cert}{other_key}")).contains("does not belong"));
        assert!(err(&format!("{other_cert}{key}")).contains("does not belong"));
        let encrypted =
            format!("{cert}-----BEGIN ENCRYPTED PRIVATE KEY-----\nAAAA\n-----END ENCRYPTED PRIVATE KEY-----\n");
        assert!(err(&encrypted).contains("encrypted"));
        for text in [cert, key, &encrypted] {
            assert!(!err(text).contains("MII"), "no PEM contents in an error");
        }
    }

    #[test]
    fn jtis_are_guid_shaped_and_distinct() {
        let ids: std::collections::HashSet<String> = (0..1000).map(|_| logcrawl_http::jwt::jti()).collect();
        assert_eq!(ids.len(), 1000);
        assert!(ids.iter().all(|id| crate::config::is_guid(id)));
    }

    proptest::proptest! {
        /// Whatever the file holds, reading it answers (no panic), and an error never quotes it.
        #[test]
        fn any_text_is_read_or_refused_without_quoting_it(text in "(-----BEGIN [A-Z ]{0,20}-----\n)?[A-Za-z0-9+/=\n]{0,200}(-----END [A-Z ]{0,20}-----\n)?") {
            if let Err(err) = ClientCertificate::from_pem(&text) {
                let body: String = text.lines().filter(|l| !l.starts_with("-----") && l.len() > 8).collect();
                proptest::prop_assert!(body.is_empty() || !err.contains(&body), "{}", err);
            }
        }
    }
}
