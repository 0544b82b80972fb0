//! A service account's key file (`type: service_account`, as the Google Cloud console downloads it) and
//! the JWT bearer assertions it signs.
//!
//! Each assertion is an RS256 JWT whose header names the key (`kid` = `private_key_id`), with `iss` = the
//! service account's `client_email`, `sub` = the administrator it acts as (domain-wide delegation),
//! `scope` = the Reports audit scope, `aud` = the token URL, `iat` = now and `exp` an hour later (Google's
//! longest): signed anew for every token request attempt.

use std::fmt;
use std::time::Duration;

use logcrawl_core::{ExposeSecret, SecretString};
use logcrawl_http::jwt::{Header, RsaSigner, SignError};
use serde::{Deserialize, Serialize};

/// How long an assertion is valid: Google's limit of one hour.
pub const ASSERTION_LIFETIME: Duration = Duration::from_secs(3600);

/// The members of a key file the connector reads (the others, `client_id`, `project_id`, …, are not
/// needed).
#[derive(Deserialize)]
struct KeyFile {
    #[serde(rename = "type")]
    kind: Option<String>,
    client_email: Option<String>,
    private_key_id: Option<String>,
    private_key: Option<SecretString>,
    token_uri: Option<String>,
}

/// A service account's signing key: who it is, which key, and the key.
pub struct ServiceAccount {
    client_email: String,
    private_key_id: String,
    token_uri: Option<String>,
    signer: RsaSigner,
}

impl fmt::Debug for ServiceAccount {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ServiceAccount")
            .field("client_email", &self.client_email)
            .field("private_key_id", &self.private_key_id)
            .finish_non_exhaustive()
    }
}

#[derive(Serialize)]
struct Claims<'a> {
    iss: &'a str,
    sub: &'a str,
    scope: &'a str,
    aud: &'a str,
    iat: i64,
    exp: i64,
}

impl ServiceAccount {
    /// Reads a key file's JSON text. The error names the member that is missing or wrong, never any of
    /// the file's values (the private key is a secret).
    pub fn from_json(text: &str) -> Result<Self, String> {
        let file: KeyFile = serde_json::from_str(text).map_err(|err| {
            format!(
                "not a service account key file (JSON) at line {} column {}: {}",
                err.line(),
                err.column(),
                match err.classify() {
                    serde_json::error::Category::Data => "a member has the wrong type",
                    _ => "it does not parse",
                }
            )
        })?;
        match file.kind.as_deref() {
            Some("service_account") => {}
            Some(other) => {
                return Err(format!(
                    "its type is {other:?}, not \"service_account\": create a key of a service account (IAM & Admin → \
                     Service accounts → Keys → Add key → JSON)"
                ));
            }
            None => return Err("it has no `type`; a service account key file says \"service_account\"".into()),
        }
        let present = |value: Option<String>, name: &str| {
            value.filter(|v| !v.trim().is_empty()).ok_or_else(|| format!("it has no `{name}`"))
        };
        let client_email = present(file.client_email, "client_email")?;
        let private_key_id = present(file.private_key_id, "private_key_id")?;
        let key = file.private_key.ok_or("it has no `private_key`")?;
        let signer = RsaSigner::from_pem(key.expose_secret()).map_err(|why| format!("`private_key`: {why}"))?;
        Ok(Self { client_email, private_key_id, token_uri: file.token_uri.filter(|u| !u.trim().is_empty()), signer })
    }

    /// The service account (`client_email`).
    pub fn client_email(&self) -> &str {
        &self.client_email
    }

    /// The key's id (`private_key_id`).
    pub fn private_key_id(&self) -> &str {
        &self.private_key_id
    }

    /// The file's `token_uri`, if it has one.
    pub fn token_uri(&self) -> Option<&str> {
        self.token_uri.as_deref()
    }

    /// A new assertion acting as `subject` for `scope`, for the token endpoint `aud`, issued now.
    pub fn assertion(&self, subject: &str, scope: &str, aud: &str) -> Result<String, SignError> {
        let now = jiff::Timestamp::now().as_second();
        let header = Header { kid: Some(self.private_key_id.clone()), ..Header::default() };
        let claims = Claims {
            iss: &self.client_email,
            sub: subject,
            scope,
            aud,
            iat: now,
            exp: now + ASSERTION_LIFETIME.as_secs() as i64,
        };
        self.signer.sign(&header, &claims)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use logcrawl_sim::google_workspace::{
        CLIENT_EMAIL, PRIVATE_KEY_ID, TEST_PRIVATE_KEY, TEST_PUBLIC_KEY, service_account_key,
    };
    use serde_json::{Value, json};

    fn key_file() -> Value {
        serde_json::from_str(&service_account_key("https://oauth2.googleapis.com/token", TEST_PRIVATE_KEY)).unwrap()
    }

    #[test]
    fn assertions_carry_the_claims_google_asks_for_signed_with_the_key() {
        let account = ServiceAccount::from_json(&key_file().to_string()).unwrap();
        assert_eq!((account.client_email(), account.private_key_id()), (CLIENT_EMAIL, PRIVATE_KEY_ID));
        assert_eq!(account.token_uri(), Some("https://oauth2.googleapis.com/token"));
        let token = account.assertion("admin@example.com", "s1 s2", "https://t/token").unwrap();
        let header = jsonwebtoken::decode_header(&token).unwrap();
        assert_eq!((header.alg, header.kid.as_deref()), (jsonwebtoken::Algorithm::RS256, Some(PRIVATE_KEY_ID)));
        let mut validation = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::RS256);
        validation.set_audience(&["https://t/token"]);
        let key = jsonwebtoken::DecodingKey::from_rsa_pem(TEST_PUBLIC_KEY.as_bytes()).unwrap();
        let claims = jsonwebtoken::decode::<Value>(&token, &key, &validation).unwrap().claims;
        assert_eq!((claims["iss"].as_str(), claims["sub"].as_str()), (Some(CLIENT_EMAIL), Some("admin@example.com")));
        assert_eq!(claims["scope"], "s1 s2");
        let (iat, exp) = (claims["iat"].as_i64().unwrap(), claims["exp"].as_i64().unwrap());
        assert_eq!(exp - iat, 3600, "Google's longest: an hour");
        assert!((iat - jiff::Timestamp::now().as_second()).abs() <= 2);
        assert!(!format!("{account:?}").contains("PRIVATE"));
    }

    #[test]
    fn files_that_are_not_service_account_keys_are_refused_naming_what_is_wrong() {
        let err = |file: Value| ServiceAccount::from_json(&file.to_string()).unwrap_err();
        let with = |name: &str, value: Value| {
            let mut file = key_file();
            file[name] = value;
            file
        };
        let without = |name: &str| {
            let mut file = key_file();
            file.as_object_mut().unwrap().remove(name);
            file
        };
        assert!(err(with("type", json!("authorized_user"))).contains("not \"service_account\""));
        assert!(err(without("type")).contains("no `type`"));
        assert!(err(without("client_email")).contains("no `client_email`"));
        assert!(err(with("private_key_id", json!(""))).contains("no `private_key_id`"));
        assert!(err(without("private_key")).contains("no `private_key`"));
        let not_a_key =
            err(with("private_key", json!("-----BEGIN PUBLIC KEY-----\nMIIBIjAN\n-----END PUBLIC KEY-----\n")));
        assert!(not_a_key.contains("`private_key`: holds no PRIVATE KEY"), "{not_a_key}");
        let text = ServiceAccount::from_json("{\"type\": \"service_account\", \"private_key\": 5, \"x\": \"SECRET\"}")
            .unwrap_err();
        assert!(text.contains("wrong type") && !text.contains("SECRET"), "{text}");
        let broken = ServiceAccount::from_json("{\"private_key\": \"-----BEGIN PRIVATE KEY-----\\nMIIE").unwrap_err();
        assert!(broken.contains("does not parse") && !broken.contains("MIIE"), "{broken}");
    }

    proptest::proptest! {
        /// Whatever the text, reading it answers, and an error never quotes it.
        #[test]
        fn any_text_is_read_or_refused_without_quoting_it(value in "[A-Za-z0-9+/]{12,40}") {
            let text = format!("{{\"type\":\"service_account\",\"client_email\":\"a@b\",\"private_key_id\":\"k\",\"private_key\":\"{value}\"}}");
            let err = ServiceAccount::from_json(&text).unwrap_err();
            proptest::prop_assert!(!err.contains(&value), "{}", err);
        }
    }
}
