//! Duo's request signature, as Duo's server verifies it: every request is signed afresh (its own
//! `Date`), so the signer is an [`Auth`] whose [`headers`](Auth::headers) the HTTP client asks on every
//! attempt, retries included.
//!
//! ```text
//! canon         = Date \n METHOD \n host (lowercase) \n path \n params
//! params        = every query parameter as key=value, each part percent-encoded (all but
//!                 A–Z a–z 0–9 - . _ ~, as UTF-8 bytes, %XX uppercase), sorted, joined by &
//! signature     = hex(HMAC-SHA512(secret key, canon))
//! Authorization = Basic base64(integration key ":" signature)
//! Date          = RFC 2822, e.g. Tue, 21 Aug 2012 17:29:18 +0000
//! ```
//!
//! This is Duo's canonicalization "version 2" with HMAC-SHA512: what `duosecurity/duo_client_python`
//! computes with `sig_version=2` (its default digest is SHA-512 since 2021; SHA-1 before) and what
//! `duosecurity/duo_api_golang` sends for every request without a JSON body. The Python client's newer
//! default, version 5, adds two lines (the SHA-512 of the body and of the `X-Duo-*` headers) for JSON
//! bodies; a `GET` has neither, and Duo accepts version 2 for it.
//!
//! # Known-answer vectors
//!
//! The tests check three signatures computed by Duo's own client (`duo_client_python` 5.6.1,
//! `duo_client.client.sign(ikey, skey, method, host, path, date, 2, normalize_params(params),
//! digestmod=hashlib.sha512)`), with the integration and secret keys of Duo's documentation example.

use std::borrow::Cow;
use std::fmt;

use base64::Engine;
use futures::future::BoxFuture;
use hmac::{Hmac, KeyInit, Mac};
use jiff::Timestamp;
use logcrawl_core::{ExposeSecret, SecretString};
use logcrawl_http::header::{AUTHORIZATION, DATE, HeaderValue};
use logcrawl_http::{Auth, AuthHeader, HttpError, Method, RequestSpec, Url};
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};
use sha2::Sha512;

/// What a canonical parameter leaves as it is: the unreserved characters of RFC 3986 (Python's
/// `urllib.parse.quote(s, safe="~")`, which Duo's clients use).
const UNRESERVED: &AsciiSet = &NON_ALPHANUMERIC.remove(b'-').remove(b'.').remove(b'_').remove(b'~');

/// The `Date` format (RFC 2822), as a `jiff` strftime pattern.
pub const DATE_FORMAT: &str = "%a, %d %b %Y %H:%M:%S %z";

/// `ts` as the `Date` header writes it: `Tue, 21 Aug 2012 17:29:18 +0000`.
pub fn rfc2822(ts: Timestamp) -> String {
    ts.strftime(DATE_FORMAT).to_string()
}

/// A `Date` header read back (any offset), for checks and simulators.
pub fn parse_rfc2822(text: &str) -> Option<Timestamp> {
    jiff::fmt::strtime::parse(DATE_FORMAT, text.trim()).ok()?.to_timestamp().ok()
}

fn encode(text: &str) -> Cow<'_, str> {
    utf8_percent_encode(text, UNRESERVED).into()
}

/// The canonical parameter line: each key and value percent-encoded, the pairs sorted by key, then by
/// value, joined by `&` (a key given twice keeps both values). Any order in, the same line out.
pub fn canon_params<K: AsRef<str>, V: AsRef<str>>(params: impl IntoIterator<Item = (K, V)>) -> String {
    let mut pairs: Vec<(String, String)> =
        params.into_iter().map(|(k, v)| (encode(k.as_ref()).into_owned(), encode(v.as_ref()).into_owned())).collect();
    pairs.sort_unstable();
    let mut line = String::with_capacity(pairs.iter().map(|(k, v)| k.len() + v.len() + 2).sum());
    for (i, (key, value)) in pairs.iter().enumerate() {
        if i > 0 {
            line.push('&');
        }
        line.push_str(key);
        line.push('=');
        line.push_str(value);
    }
    line
}

/// The canonical request Duo signs: `date`, the method in capitals, the host in lowercase, the path,
/// and the parameter line ([`canon_params`]), one per line.
pub fn canonical<K: AsRef<str>, V: AsRef<str>>(
    date: &str,
    method: &str,
    host: &str,
    path: &str,
    params: impl IntoIterator<Item = (K, V)>,
) -> String {
    [date, &method.to_ascii_uppercase(), &host.to_ascii_lowercase(), path, &canon_params(params)].join("\n")
}

/// `hex(HMAC-SHA512(secret, canon))`.
pub fn signature(secret: &str, canon: &str) -> String {
    let mut mac = <Hmac<Sha512> as KeyInit>::new_from_slice(secret.as_bytes()).expect("HMAC takes keys of any length");
    mac.update(canon.as_bytes());
    hex::encode(mac.finalize().into_bytes())
}

/// Signs every request of a Duo Admin API application: `Authorization: Basic …` and `Date`.
pub struct DuoSigner {
    integration_key: String,
    secret_key: SecretString,
    host: String,
    /// The path `base_url` adds before Duo's paths (a proxy's `/duo`; empty for Duo itself), which Duo
    /// never sees and so never signs.
    prefix: String,
}

impl fmt::Debug for DuoSigner {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DuoSigner").field("host", &self.host).field("secret_key", &"[REDACTED]").finish_non_exhaustive()
    }
}

impl DuoSigner {
    /// The signer of the application `integration_key` / `secret_key` at API host `host`, its requests
    /// sent to `base` (whose path, if any, is not Duo's and is left out of the signature).
    pub fn new(integration_key: &str, secret_key: SecretString, host: &str, base: &Url) -> Self {
        Self {
            integration_key: integration_key.to_owned(),
            secret_key,
            host: host.to_ascii_lowercase(),
            prefix: base.path().trim_end_matches('/').to_owned(),
        }
    }

    /// The path Duo receives `url` at.
    fn duo_path<'u>(&self, url: &'u Url) -> &'u str {
        match url.path().strip_prefix(self.prefix.as_str()) {
            Some(rest) if !self.prefix.is_empty() && rest.starts_with('/') => rest,
            _ => url.path(),
        }
    }

    /// The `Authorization` and `Date` headers of `method url` sent at `now`.
    pub fn sign(&self, method: &Method, url: &Url, now: Timestamp) -> Result<Vec<AuthHeader>, HttpError> {
        let date = rfc2822(now);
        let canon = canonical(&date, method.as_str(), &self.host, self.duo_path(url), url.query_pairs());
        let signature = signature(self.secret_key.expose_secret(), &canon);
        let basic = base64::engine::general_purpose::STANDARD.encode(format!("{}:{signature}", self.integration_key));
        let mut authorization = HeaderValue::from_str(&format!("Basic {basic}"))
            .map_err(|_| HttpError::Auth("the Duo signature is not a valid header value".into()))?;
        authorization.set_sensitive(true);
        let date = HeaderValue::from_str(&date).map_err(|_| HttpError::Auth("the Date header is not valid".into()))?;
        Ok(vec![AuthHeader { name: AUTHORIZATION, value: authorization }, AuthHeader { name: DATE, value: date }])
    }
}

impl Auth for DuoSigner {
    /// Duo has no header that does not depend on the request: the client asks [`headers`](Self::headers).
    fn header(&self) -> BoxFuture<'_, Result<AuthHeader, HttpError>> {
        Box::pin(async { Err(HttpError::Auth("a Duo signature covers its request: it is made per request".into())) })
    }

    /// A fresh signature for each attempt (a retried request gets its own `Date`).
    fn headers<'a>(&'a self, request: &'a RequestSpec) -> BoxFuture<'a, Result<Vec<AuthHeader>, HttpError>> {
        Box::pin(async move { self.sign(&request.method, &request.url, Timestamp::now()) })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const IKEY: &str = "DIWJ8X6AEYOR5OMC6TQ1";
    const SKEY: &str = "Zh5eGmUq9zpfQnyUIu5OL9iWoMMv5ZNmk3zLJ4Ep";
    const DATE: &str = "Tue, 21 Aug 2012 17:29:18 -0000";

    fn basic(params: &[(&str, &str)], host: &str, path: &str) -> (String, String) {
        let canon = canonical(DATE, "GET", host, path, params.iter().copied());
        let basic = base64::engine::general_purpose::STANDARD.encode(format!("{IKEY}:{}", signature(SKEY, &canon)));
        (canon, format!("Basic {basic}"))
    }

    #[test]
    fn known_answers_from_duos_own_client() {
        let (canon, auth) = basic(
            &[
                ("mintime", "1346172820000"),
                ("maxtime", "1346176419999"),
                ("limit", "1000"),
                ("sort", "ts:desc"),
                ("next_offset", "1346176000000,5bea1c1e-612c-4f1d-b310-75fd31385b15"),
            ],
            "api-XXXXXXXX.duosecurity.com",
            "/admin/v2/logs/authentication",
        );
        assert_eq!(
            canon,
            "Tue, 21 Aug 2012 17:29:18 -0000\nGET\napi-xxxxxxxx.duosecurity.com\n/admin/v2/logs/authentication\n\
             limit=1000&maxtime=1346176419999&mintime=1346172820000&\
             next_offset=1346176000000%2C5bea1c1e-612c-4f1d-b310-75fd31385b15&sort=ts%3Adesc"
        );
        assert_eq!(
            auth,
            "Basic RElXSjhYNkFFWU9SNU9NQzZUUTE6NjJjMzRhNzE2N2U3NWIxZmI3MDg0ZWI5NzQ2ODY2MjA4NjVjYWJlM2ZjYTE2OTEwODBhMGMzZ\
             TUyNTBlY2E2N2MyN2U1ODM4NjBmZjAyYTAyOWM2NTQ3M2ZkOGY3OWQ3OTI4MzAzODc2ZjBlM2IwY2MzYjIzODlhZWY0NDg5NzU="
        );
        let (_, auth) =
            basic(&[("mintime", "1346172820")], "api-xxxxxxxx.duosecurity.com", "/admin/v1/logs/administrator");
        assert_eq!(
            auth,
            "Basic RElXSjhYNkFFWU9SNU9NQzZUUTE6YWY2YWMxNWY5MzBhOGIwZjE5ZmUzZGU5YzRjMmVmMjNjNjUwZTMwMDU5ZjllMWU1ZDMxODFmZ\
             jNiZWU5ZGExZmVkNTliNDIwN2NkMTBiOTk3NzVlOGI2N2Y5ZmIzNzAwODQ5ZTYxMjYwYTZlYmM4MmRlNTZjZWRiNGE4OTAxNGY="
        );
        let (canon, auth) = basic(
            &[("realname", "First Last"), ("username", "root"), ("realname", "Ünïcode ☃"), ("a~b", "x+y/z*")],
            "api-xxxxxxxx.duosecurity.com",
            "/admin/v1/users",
        );
        assert!(
            canon.ends_with(
                "a~b=x%2By%2Fz%2A&realname=%C3%9Cn%C3%AFcode%20%E2%98%83&realname=First%20Last&username=root"
            )
        );
        assert_eq!(
            auth,
            "Basic RElXSjhYNkFFWU9SNU9NQzZUUTE6YWNhMGY1Y2Q0N2Q4ZTcwNzM3ZTdjNzU1NGJhZjJkNTg3MTNmNzNhOTk1NDQ0YmU5ZWEzZGM0O\
             WNjOTkxODFkZTU2ZDRhMjgyZjdjZjEwNzZmN2I5Nzc5YzkxZjQxMjE2MjY2ZjY4NTNhZDdmMmRjNjVlNGJmZGIwNDBjM2UzMWM="
        );
    }

    #[test]
    fn the_signer_signs_the_url_it_sends_and_duos_path_behind_a_proxy() {
        let base = Url::parse("https://proxy.example/duo/").unwrap();
        let signer = DuoSigner::new(IKEY, SecretString::from(SKEY.to_owned()), "API-XXXXXXXX.duosecurity.com", &base);
        let mut url = base.join("admin/v1/logs/administrator").unwrap();
        url.query_pairs_mut().append_pair("mintime", "1346172820");
        let at = parse_rfc2822(DATE).unwrap();
        let headers = signer.sign(&Method::GET, &url, at).unwrap();
        let (_, expected) =
            basic(&[("mintime", "1346172820")], "api-xxxxxxxx.duosecurity.com", "/admin/v1/logs/administrator");
        assert_eq!(headers[0].name, AUTHORIZATION);
        assert!(headers[0].value.is_sensitive());
        // The same signature as Duo's client for the same Date (written +0000 rather than -0000).
        let date = headers[1].value.to_str().unwrap();
        assert_eq!(date, "Tue, 21 Aug 2012 17:29:18 +0000");
        let canon = canonical(
            date,
            "GET",
            "api-xxxxxxxx.duosecurity.com",
            "/admin/v1/logs/administrator",
            [("mintime", "1346172820")],
        );
        let own = base64::engine::general_purpose::STANDARD.encode(format!("{IKEY}:{}", signature(SKEY, &canon)));
        assert_eq!(headers[0].value.to_str().unwrap(), format!("Basic {own}"));
        assert_ne!(expected, format!("Basic {own}"), "the Date is part of what is signed");
        assert!(!format!("{signer:?}").contains(SKEY));
    }

    #[test]
    fn dates_are_rfc_2822() {
        let at: Timestamp = "2026-03-01T07:05:09Z".parse().unwrap();
        assert_eq!(rfc2822(at), "Sun, 01 Mar 2026 07:05:09 +0000");
        assert_eq!(parse_rfc2822("Sun, 01 Mar 2026 08:05:09 +0100"), Some(at));
        assert_eq!(parse_rfc2822(DATE), "2012-08-21T17:29:18Z".parse().ok());
        for bad in ["", "yesterday", "Sun, 01 Mar 2026 07:05:09", "2026-03-01T07:05:09Z"] {
            assert_eq!(parse_rfc2822(bad), None, "{bad}");
        }
    }

    /// What Python's `quote(s, safe="~")` writes, one character at a time.
    fn quoted(text: &str) -> String {
        text.chars()
            .map(|c| match c {
                'A'..='Z' | 'a'..='z' | '0'..='9' | '-' | '.' | '_' | '~' => c.to_string(),
                _ => c.to_string().bytes().map(|b| format!("%{b:02X}")).collect(),
            })
            .collect()
    }

    fn params() -> impl Strategy<Value = Vec<(String, String)>> {
        prop::collection::vec(("[a-z_~%+&=]{1,6}|\\PC{1,4}", "\\PC{0,12}|[0-9,:]{0,20}"), 0..8)
    }

    proptest! {
        #[test]
        fn any_order_gives_the_same_canon(pairs in params(), seed in any::<u64>()) {
            let mut shuffled = pairs.clone();
            let len = shuffled.len().max(1);
            for i in 0..shuffled.len() {
                shuffled.swap(i, (seed.rotate_left(i as u32) as usize) % len);
            }
            prop_assert_eq!(canon_params(pairs.clone()), canon_params(shuffled));
        }

        #[test]
        fn parameters_are_encoded_as_duos_clients_encode_them(pairs in params()) {
            let line = canon_params(pairs.clone());
            let mut expected: Vec<String> = pairs.iter().map(|(k, v)| format!("{}={}", quoted(k), quoted(v))).collect();
            expected.sort_by(|a, b| {
                let split = |s: &str| s.split_once('=').map(|(k, v)| (k.to_owned(), v.to_owned())).unwrap();
                split(a).cmp(&split(b))
            });
            prop_assert_eq!(&line, &expected.join("&"));
            prop_assert!(line.bytes().all(|b| b.is_ascii_alphanumeric() || b"-._~%=&".contains(&b)), "{}", line);
        }

        #[test]
        fn the_canon_of_a_sent_url_is_the_canon_of_its_parameters(pairs in params()) {
            // The client sends the query form-encoded (a space as `+`); what Duo decodes is what is signed.
            let mut url = Url::parse("https://api-x.duosecurity.com/admin/v2/logs/authentication").unwrap();
            url.query_pairs_mut().extend_pairs(pairs.iter().map(|(k, v)| (k.as_str(), v.as_str())));
            prop_assert_eq!(canon_params(url.query_pairs()), canon_params(pairs));
        }

        #[test]
        fn dates_read_back_to_the_second(seconds in 0i64..4_102_444_800, nanos in 0i32..1_000_000_000) {
            let at = Timestamp::new(seconds, nanos).unwrap();
            prop_assert_eq!(parse_rfc2822(&rfc2822(at)), Timestamp::from_second(seconds).ok());
        }

        #[test]
        fn no_date_text_panics(text in "\\PC{0,40}") {
            let _unreadable_is_fine = parse_rfc2822(&text);
        }
    }
}
