//! How the simulated Duo checks a request's signature, as Duo's server does: it rebuilds the canonical
//! request from what it received (the `Date` header, the method, its own API hostname, the path, the
//! query parameters decoded and encoded again), signs it with the application's secret key and compares.
//!
//! ```text
//! canon         = Date \n METHOD \n api host (lowercase) \n path \n key=value&… (RFC 3986-encoded, sorted)
//! Authorization = Basic base64(integration key ":" hex(HMAC-SHA512(secret key, canon)))
//! ```
//!
//! Only HMAC-SHA512 signatures of Duo's canonicalization version 2 are accepted (no SHA-1, no version 5
//! body hash: a `GET` has no body).

use hmac::{Hmac, KeyInit, Mac};
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, percent_decode_str, utf8_percent_encode};
use sha2::Sha512;

use crate::util::decode_base64;

/// The characters a canonical parameter keeps as they are (RFC 3986's unreserved ones).
const KEEP: &AsciiSet = &NON_ALPHANUMERIC.remove(b'-').remove(b'.').remove(b'_').remove(b'~');

/// How far a request's `Date` may be from the simulator's clock [UNVERIFIED: Duo documents no window].
pub const MAX_DATE_SKEW: std::time::Duration = std::time::Duration::from_secs(300);

/// An Admin API application as the simulated Duo knows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Credentials {
    /// The API hostname every signature must name.
    pub api_host: String,
    /// The integration key (`DI…`).
    pub integration_key: String,
    /// The secret key signatures are made with.
    pub secret_key: String,
}

/// Why a request's credentials were refused: Duo's `code` and `message` for it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refused {
    /// No `Authorization: Basic …`, or one that does not decode to `ikey:signature`.
    MissingCredentials,
    /// An integration key the simulator does not know.
    UnknownIntegrationKey,
    /// A `Date` that is missing or does not read as RFC 2822 [UNVERIFIED code].
    UnreadableDate,
    /// A `Date` further than [`MAX_DATE_SKEW`] from now [UNVERIFIED code].
    StaleDate,
    /// A signature that does not verify.
    BadSignature,
}

impl Refused {
    /// Duo's error code.
    pub fn code(self) -> u64 {
        match self {
            Refused::MissingCredentials => 40101,
            Refused::UnknownIntegrationKey => 40102,
            Refused::BadSignature => 40103,
            Refused::UnreadableDate => 40104,
            Refused::StaleDate => 40105,
        }
    }

    /// Duo's message.
    pub fn message(self) -> &'static str {
        match self {
            Refused::MissingCredentials => "Missing request credentials",
            Refused::UnknownIntegrationKey => "Invalid integration key in request credentials",
            Refused::BadSignature => "Invalid signature in request credentials",
            Refused::UnreadableDate => "Missing or invalid Date header",
            Refused::StaleDate => "Request date is too far from the current time",
        }
    }
}

/// The query parameters of `query` (`a=1&b=x%20y`), decoded as a form is (`+` is a space).
pub fn query_pairs(query: Option<&str>) -> Vec<(String, String)> {
    let decode = |text: &str| percent_decode_str(&text.replace('+', " ")).decode_utf8_lossy().into_owned();
    query
        .unwrap_or_default()
        .split('&')
        .filter(|pair| !pair.is_empty())
        .map(|pair| {
            let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
            (decode(key), decode(value))
        })
        .collect()
}

/// The canonical request of a request received: `date`, `method`, the `host` it must name, `path`, and
/// its query parameters (each encoded, then the pairs sorted).
pub fn canonical_of(date: &str, method: &str, host: &str, path: &str, query: Option<&str>) -> String {
    let mut pairs: Vec<String> = query_pairs(query)
        .iter()
        .map(|(key, value)| format!("{}={}", utf8_percent_encode(key, KEEP), utf8_percent_encode(value, KEEP)))
        .collect();
    // By key, then value, as Duo's clients sort: not as whole `key=value` strings (`a.b=1` sorts before
    // `a=1` byte by byte, after it by key).
    pairs.sort_by(|a, b| a.split_once('=').cmp(&b.split_once('=')));
    [date.to_owned(), method.to_ascii_uppercase(), host.to_ascii_lowercase(), path.to_owned(), pairs.join("&")]
        .join("\n")
}

/// `hex(HMAC-SHA512(secret, canon))`.
pub fn sign(secret: &str, canon: &str) -> String {
    let mut mac = <Hmac<Sha512> as KeyInit>::new_from_slice(secret.as_bytes()).expect("any key length");
    mac.update(canon.as_bytes());
    mac.finalize().into_bytes().iter().map(|b| format!("{b:02x}")).collect()
}

/// The `Date` header read as RFC 2822 (`Tue, 21 Aug 2012 17:29:18 -0000`).
pub fn read_date(text: &str) -> Option<jiff::Timestamp> {
    jiff::fmt::strtime::parse("%a, %d %b %Y %H:%M:%S %z", text.trim()).ok()?.to_timestamp().ok()
}

impl Credentials {
    /// Checks the credentials of `method path?query` received with `date` and `authorization` headers
    /// at `now`.
    pub fn verify(
        &self,
        method: &str,
        path: &str,
        query: Option<&str>,
        date: Option<&str>,
        authorization: Option<&str>,
        now: jiff::Timestamp,
    ) -> Result<(), Refused> {
        let basic = authorization.and_then(|value| value.strip_prefix("Basic ")).ok_or(Refused::MissingCredentials)?;
        let decoded = decode_base64(basic.trim()).and_then(|bytes| String::from_utf8(bytes).ok());
        let (ikey, signature) =
            decoded.as_deref().and_then(|text| text.split_once(':')).ok_or(Refused::MissingCredentials)?;
        if ikey != self.integration_key {
            return Err(Refused::UnknownIntegrationKey);
        }
        let date = date.ok_or(Refused::UnreadableDate)?;
        let sent = read_date(date).ok_or(Refused::UnreadableDate)?;
        let skew = now.duration_since(sent).unsigned_abs();
        if skew > MAX_DATE_SKEW {
            return Err(Refused::StaleDate);
        }
        let expected = sign(&self.secret_key, &canonical_of(date, method, &self.api_host, path, query));
        if signature.eq_ignore_ascii_case(&expected) { Ok(()) } else { Err(Refused::BadSignature) }
    }

    /// The `Authorization` header Duo expects for `method path?query` sent with `date` (for tests of
    /// the simulator itself).
    pub fn authorization(&self, date: &str, method: &str, path: &str, query: Option<&str>) -> String {
        let signature = sign(&self.secret_key, &canonical_of(date, method, &self.api_host, path, query));
        let mut out = bytes::BytesMut::new();
        crate::util::put_base64(&mut out, format!("{}:{signature}", self.integration_key).as_bytes(), false);
        format!("Basic {}", String::from_utf8_lossy(&out))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn docs() -> Credentials {
        Credentials {
            api_host: "api-xxxxxxxx.duosecurity.com".into(),
            integration_key: "DIWJ8X6AEYOR5OMC6TQ1".into(),
            secret_key: "Zh5eGmUq9zpfQnyUIu5OL9iWoMMv5ZNmk3zLJ4Ep".into(),
        }
    }

    const DATE: &str = "Tue, 21 Aug 2012 17:29:18 -0000";

    #[test]
    fn duos_own_client_signs_what_the_simulator_accepts() {
        // Computed by duo_client_python 5.6.1: sign(..., sig_version=2, digestmod=hashlib.sha512).
        let expected = "Basic RElXSjhYNkFFWU9SNU9NQzZUUTE6YWY2YWMxNWY5MzBhOGIwZjE5ZmUzZGU5YzRjMmVmMjNjNjUwZTMwMDU5ZjllMWU1ZDMxODFmZjNiZWU5ZGExZmVkNTliNDIwN2NkMTBiOTk3NzVlOGI2N2Y5ZmIzNzAwODQ5ZTYxMjYwYTZlYmM4MmRlNTZjZWRiNGE4OTAxNGY=";
        let query = Some("mintime=1346172820");
        let path = "/admin/v1/logs/administrator";
        assert_eq!(docs().authorization(DATE, "GET", path, query), expected);
        let at = read_date(DATE).unwrap();
        assert_eq!(docs().verify("GET", path, query, Some(DATE), Some(expected), at), Ok(()));
        // The same parameters in another order and encoding sign the same.
        let v2 = "/admin/v2/logs/authentication";
        let a = "mintime=1346172820000&maxtime=1346176419999&limit=1000&sort=ts%3Adesc&next_offset=1346176000000%2C5bea1c1e-612c-4f1d-b310-75fd31385b15";
        let b = "sort=ts:desc&next_offset=1346176000000,5bea1c1e-612c-4f1d-b310-75fd31385b15&limit=1000&maxtime=1346176419999&mintime=1346172820000";
        assert_eq!(docs().authorization(DATE, "GET", v2, Some(a)), docs().authorization(DATE, "GET", v2, Some(b)));
        assert!(
            docs()
                .authorization(DATE, "GET", v2, Some(a))
                .starts_with("Basic RElXSjhYNkFFWU9SNU9NQzZUUTE6NjJjMzRhNzE2N2U3")
        );
    }

    #[test]
    fn every_way_to_get_it_wrong_is_refused() {
        let creds = docs();
        let path = "/admin/v1/logs/administrator";
        let query = Some("mintime=1");
        let good = creds.authorization(DATE, "GET", path, query);
        let at = read_date(DATE).unwrap();
        let verify =
            |query, date: Option<&str>, auth: Option<&str>, now| creds.verify("GET", path, query, date, auth, now);
        assert_eq!(verify(query, Some(DATE), None, at), Err(Refused::MissingCredentials));
        assert_eq!(verify(query, Some(DATE), Some("Bearer x"), at), Err(Refused::MissingCredentials));
        assert_eq!(verify(query, Some(DATE), Some("Basic !!"), at), Err(Refused::MissingCredentials));
        let other = Credentials { integration_key: "DIOTHER".into(), ..docs() }.authorization(DATE, "GET", path, query);
        assert_eq!(verify(query, Some(DATE), Some(&other), at), Err(Refused::UnknownIntegrationKey));
        assert_eq!(verify(query, None, Some(&good), at), Err(Refused::UnreadableDate));
        let later = at + jiff::SignedDuration::from_secs(301);
        assert_eq!(verify(query, Some(DATE), Some(&good), later), Err(Refused::StaleDate));
        assert_eq!(verify(Some("mintime=2"), Some(DATE), Some(&good), at), Err(Refused::BadSignature));
        let wrong_key = Credentials { secret_key: "other".into(), ..docs() }.authorization(DATE, "GET", path, query);
        assert_eq!(verify(query, Some(DATE), Some(&wrong_key), at), Err(Refused::BadSignature));
        let wrong_host = Credentials { api_host: "api-other.duosecurity.com".into(), ..docs() };
        assert_eq!(
            verify(query, Some(DATE), Some(&wrong_host.authorization(DATE, "GET", path, query)), at),
            Err(Refused::BadSignature)
        );
        assert_eq!((Refused::BadSignature.code(), Refused::UnknownIntegrationKey.code()), (40103, 40102));
    }

    #[test]
    fn queries_decode_like_forms() {
        assert_eq!(
            query_pairs(Some("a=1&b=x+y%2Fz&c&=v&&d=%E2%98%83")),
            [("a", "1"), ("b", "x y/z"), ("c", ""), ("", "v"), ("d", "☃")].map(|(k, v)| (k.to_owned(), v.to_owned()))
        );
        assert!(query_pairs(None).is_empty());
        let canon = canonical_of(DATE, "get", "API-X.duosecurity.com", "/p", Some("b=2&a=x+y&a=%7E"));
        assert_eq!(canon, format!("{DATE}\nGET\napi-x.duosecurity.com\n/p\na=x%20y&a=~&b=2"));
    }

    proptest::proptest! {
        #[test]
        fn dates_read_in_any_offset(seconds in 0i64..4_102_444_800, hours in -12i8..=14) {
            let at = jiff::Timestamp::from_second(seconds).unwrap();
            let zone = jiff::tz::TimeZone::fixed(jiff::tz::Offset::from_hours(hours).unwrap());
            let text = at.to_zoned(zone).strftime("%a, %d %b %Y %H:%M:%S %z").to_string();
            proptest::prop_assert_eq!(read_date(&text), Some(at));
            proptest::prop_assert_eq!(read_date(&text.replace("+0000", "-0000")), Some(at));
        }

        #[test]
        fn no_header_panics(date in "\\PC{0,40}", auth in "\\PC{0,60}", query in "\\PC{0,60}") {
            let _refused = docs().verify("GET", "/x", Some(&query), Some(&date), Some(&auth), jiff::Timestamp::now());
        }
    }
}
