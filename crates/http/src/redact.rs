//! Keeping secrets out of logs and errors.

use url::Url;

/// Query parameters whose values are never printed.
const SECRET_PARAMS: &[&str] = &[
    "token",
    "access_token",
    "api_key",
    "apikey",
    "key",
    "secret",
    "password",
    "signature",
    "sig",
    "client_secret",
    "dd-api-key",
];

/// A URL as it may appear in a log line or an error: no user-info, secret-looking query values masked.
pub fn redact_url(url: &Url) -> String {
    let mut shown = url.clone();
    if !shown.username().is_empty() || shown.password().is_some() {
        let _ignored = shown.set_username("");
        let _ignored = shown.set_password(None);
    }
    if shown.query().is_some() {
        let pairs: Vec<(String, String)> = shown
            .query_pairs()
            .map(|(k, v)| {
                let masked = SECRET_PARAMS.iter().any(|s| k.eq_ignore_ascii_case(s));
                (k.into_owned(), if masked { "REDACTED".to_owned() } else { v.into_owned() })
            })
            .collect();
        shown.query_pairs_mut().clear().extend_pairs(pairs);
    }
    shown.to_string()
}

/// Replaces every occurrence of each secret in `text` (for upstream error texts that may echo them).
pub fn scrub(text: &str, secrets: &[&str]) -> String {
    let mut out = text.to_owned();
    for secret in secrets.iter().filter(|s| s.len() >= 4) {
        out = out.replace(secret, "**REDACTED**");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn masks_credentials_in_urls() {
        let url = Url::parse("https://user:pw@host/path?after=1&api_key=s3cr3t").unwrap();
        let shown = redact_url(&url);
        assert!(!shown.contains("s3cr3t") && !shown.contains("pw@"), "{shown}");
        assert!(shown.contains("after=1"), "{shown}");
    }

    #[test]
    fn scrub_replaces_secrets() {
        assert_eq!(scrub("bad key abcd1234!", &["abcd1234"]), "bad key **REDACTED**!");
    }
}
