//! **Experimental** AK/SK request signing: Huawei Cloud's generic API Gateway signer `SDK-HMAC-SHA256`.
//!
//! The algorithm, as implemented by `huaweicloud/huaweicloud-sdk-go-v3` (`core/auth/signer/signer.go`,
//! `escape.go`):
//!
//! ```text
//! CanonicalRequest = METHOD \n
//!                    URI path, each segment RFC 3986-escaped, ending in '/' \n
//!                    query: keys lowercased, sorted, "k=v" escaped, joined by '&' \n
//!                    "name:trimmed value\n" for each signed header (names lowercased, sorted) \n
//!                    signed header names joined by ';' \n
//!                    hex(sha256(body))
//! StringToSign     = "SDK-HMAC-SHA256\n" + X-Sdk-Date + "\n" + hex(sha256(CanonicalRequest))
//! Signature        = hex(hmac_sha256(key = SK, StringToSign))
//! Authorization    = "SDK-HMAC-SHA256 Access={AK}, SignedHeaders={names}, Signature={Signature}"
//! ```
//!
//! `X-Sdk-Date` is `YYYYMMDDTHHMMSSZ` in UTC. LTS documents only `X-Auth-Token` for log reporting, so
//! whether `lts-access` accepts this signature is unverified; the sink marks the mode experimental.
//!
//! # Known-answer vectors
//!
//! The tests check two vectors from the vendor's own test suite (`core/auth/signer/signer_test.go`:
//! AK `AccessKey`, SK `SecretKey`, date `20060102T150405Z`) and one LTS-shaped vector. All three were
//! recomputed independently with this Python 3 script (standard library only), which reproduces the
//! vendor's expected values byte for byte:
//!
//! ```python
//! import hashlib, hmac, urllib.parse
//! def sign(method, path, query, headers, body, ak, sk):
//!     names = sorted(headers)  # lowercase header names, all signed
//!     uri = "/".join(urllib.parse.quote(s, safe="-_.~") for s in path.split("/"))
//!     if not uri.endswith("/"): uri += "/"
//!     q = "&".join(f"{k}={v}" for k, v in sorted(query))
//!     canon_headers = "".join(f"{n}:{headers[n].strip()}\n" for n in names)
//!     canonical = "\n".join([method, uri, q, canon_headers, ";".join(names),
//!                            hashlib.sha256(body).hexdigest()])
//!     sts = "SDK-HMAC-SHA256\n" + headers["x-sdk-date"] + "\n" \
//!           + hashlib.sha256(canonical.encode()).hexdigest()
//!     sig = hmac.new(sk.encode(), sts.encode(), hashlib.sha256).hexdigest()
//!     return f"SDK-HMAC-SHA256 Access={ak}, SignedHeaders={';'.join(names)}, Signature={sig}"
//!
//! # vendor vectors
//! sign("GET", "/path", [("limit", "1")], {"x-sdk-date": "20060102T150405Z"}, b"", "AccessKey", "SecretKey")
//! # -> ...Signature=5a2ce64c865e0e6046321c6f3d5a77ba8413eeaf355c3166c03d58d02ac79624
//! sign("POST", "/path", [("key", "value")], {"x-sdk-date": "20060102T150405Z"},
//!      b'{"Name":"test","Id":1}\n', "AccessKey", "SecretKey")
//! # -> ...Signature=cecc2af119b18ab70b4d094c0750f3b42c02f254903179a0fc2cc72fc9db4f59
//! # LTS-shaped vector (see the test `lts_shaped_vector`)
//! sign("POST", "/v2/0123456789abcdef0123456789abcdef/lts/groups/11111111-2222-3333-4444-555555555555"
//!      "/streams/66666666-7777-8888-9999-aaaaaaaaaaaa/tenant/contents/high-accuracy", [],
//!      {"content-type": "application/json;charset=UTF-8", "host": "lts-access.ap-southeast-1.myhuaweicloud.com",
//!       "x-project-id": "0123456789abcdef0123456789abcdef", "x-sdk-date": "20240806T153657Z"},
//!      b'{"contents":[{"log_time_ns":1722958617000000000,"log":"{\\"message\\":\\"hi\\"}"}],"labels":{"env":"prod"}}',
//!      "HPUAEXAMPLEAK", "exampleSecretKey0123456789")
//! # -> SDK-HMAC-SHA256 Access=HPUAEXAMPLEAK, SignedHeaders=content-type;host;x-project-id;x-sdk-date,
//! #    Signature=f5e51af82e3181a42765f9950241d6700bc76e284de5c662dab2e11259ad1190
//! ```

use hmac::{Hmac, KeyInit, Mac};
use sha2::{Digest, Sha256};

/// The algorithm name in `Authorization` and `StringToSign`.
pub const ALGORITHM: &str = "SDK-HMAC-SHA256";

/// The `X-Sdk-Date` format, as a `jiff` strftime pattern.
pub const DATE_FORMAT: &str = "%Y%m%dT%H%M%SZ";

/// `X-Sdk-Date` for `ts`.
pub fn sdk_date(ts: jiff::Timestamp) -> String {
    ts.strftime(DATE_FORMAT).to_string()
}

fn escape(segment: &str) -> String {
    let mut out = String::with_capacity(segment.len());
    for byte in segment.bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'_' | b'-' | b'~' | b'.') {
            out.push(byte as char);
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

/// The canonical request. `path` is the decoded URL path; `query` holds decoded pairs; `headers` are the
/// headers to sign, `(name, value)`, names in any case (the `x-sdk-date` header must be among them).
pub fn canonical_request(
    method: &str,
    path: &str,
    query: &[(String, String)],
    headers: &[(String, String)],
    body: &[u8],
) -> String {
    let mut uri = path.split('/').map(escape).collect::<Vec<_>>().join("/");
    if !uri.ends_with('/') {
        uri.push('/');
    }
    let mut pairs: Vec<(String, String)> =
        query.iter().map(|(k, v)| (escape(&k.to_ascii_lowercase()), escape(v))).collect();
    pairs.sort();
    let query = pairs.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join("&");
    let (names, lines) = canonical_headers(headers);
    let body_hash = hex::encode(Sha256::digest(body));
    format!("{method}\n{uri}\n{query}\n{lines}\n{names}\n{body_hash}")
}

/// `(signed header names, canonical header lines)`.
fn canonical_headers(headers: &[(String, String)]) -> (String, String) {
    let mut sorted: Vec<(String, &str)> = headers.iter().map(|(n, v)| (n.to_ascii_lowercase(), v.trim())).collect();
    sorted.sort();
    let mut names: Vec<&str> = sorted.iter().map(|(n, _)| n.as_str()).collect();
    names.dedup();
    let lines: String = sorted.iter().map(|(n, v)| format!("{n}:{v}\n")).collect();
    (names.join(";"), lines)
}

/// What a signature covers.
#[derive(Debug, Clone, Copy)]
pub struct SigningInput<'a> {
    /// HTTP method, e.g. `POST`.
    pub method: &'a str,
    /// The decoded URL path.
    pub path: &'a str,
    /// Decoded query pairs.
    pub query: &'a [(String, String)],
    /// The headers to sign, `(name, value)`, names in any case; `X-Sdk-Date` must be among them.
    pub headers: &'a [(String, String)],
    /// The body bytes exactly as sent (compressed, if compressed).
    pub body: &'a [u8],
}

/// The `Authorization` header value for a request. `date` is the value of its `X-Sdk-Date` header.
pub fn authorization(access_key: &str, secret_key: &str, date: &str, input: &SigningInput<'_>) -> String {
    let canonical = canonical_request(input.method, input.path, input.query, input.headers, input.body);
    let string_to_sign = format!("{ALGORITHM}\n{date}\n{}", hex::encode(Sha256::digest(canonical.as_bytes())));
    let mut mac =
        <Hmac<Sha256> as KeyInit>::new_from_slice(secret_key.as_bytes()).expect("HMAC takes keys of any length");
    mac.update(string_to_sign.as_bytes());
    let signature = hex::encode(mac.finalize().into_bytes());
    let (names, _) = canonical_headers(input.headers);
    format!("{ALGORITHM} Access={access_key}, SignedHeaders={names}, Signature={signature}")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn h(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect()
    }

    #[test]
    fn vendor_vector_get() {
        let auth = authorization(
            "AccessKey",
            "SecretKey",
            "20060102T150405Z",
            &SigningInput {
                method: "GET",
                path: "/path",
                query: &h(&[("limit", "1")]),
                headers: &h(&[("X-Sdk-Date", "20060102T150405Z")]),
                body: b"",
            },
        );
        assert_eq!(
            auth,
            "SDK-HMAC-SHA256 Access=AccessKey, SignedHeaders=x-sdk-date, \
             Signature=5a2ce64c865e0e6046321c6f3d5a77ba8413eeaf355c3166c03d58d02ac79624"
        );
    }

    #[test]
    fn vendor_vector_post() {
        let auth = authorization(
            "AccessKey",
            "SecretKey",
            "20060102T150405Z",
            &SigningInput {
                method: "POST",
                path: "/path",
                query: &h(&[("key", "value")]),
                headers: &h(&[("X-Sdk-Date", "20060102T150405Z")]),
                body: b"{\"Name\":\"test\",\"Id\":1}\n",
            },
        );
        assert_eq!(
            auth,
            "SDK-HMAC-SHA256 Access=AccessKey, SignedHeaders=x-sdk-date, \
             Signature=cecc2af119b18ab70b4d094c0750f3b42c02f254903179a0fc2cc72fc9db4f59"
        );
    }

    #[test]
    fn lts_shaped_vector() {
        let body = br#"{"contents":[{"log_time_ns":1722958617000000000,"log":"{\"message\":\"hi\"}"}],"labels":{"env":"prod"}}"#;
        let auth = authorization(
            "HPUAEXAMPLEAK",
            "exampleSecretKey0123456789",
            "20240806T153657Z",
            &SigningInput {
                method: "POST",
                path: "/v2/0123456789abcdef0123456789abcdef/lts/groups/11111111-2222-3333-4444-555555555555\
             /streams/66666666-7777-8888-9999-aaaaaaaaaaaa/tenant/contents/high-accuracy",
                query: &[],
                headers: &h(&[
                    ("X-Sdk-Date", "20240806T153657Z"),
                    ("Content-Type", "application/json;charset=UTF-8"),
                    ("Host", "lts-access.ap-southeast-1.myhuaweicloud.com"),
                    ("X-Project-Id", "0123456789abcdef0123456789abcdef"),
                ]),
                body,
            },
        );
        assert_eq!(
            auth,
            "SDK-HMAC-SHA256 Access=HPUAEXAMPLEAK, SignedHeaders=content-type;host;x-project-id;x-sdk-date, \
             Signature=f5e51af82e3181a42765f9950241d6700bc76e284de5c662dab2e11259ad1190"
        );
    }

    #[test]
    fn escapes_like_the_vendor() {
        assert_eq!(escape("a b/ü~._-"), "a%20b%2F%C3%BC~._-");
    }

    #[test]
    fn date_format() {
        let ts: jiff::Timestamp = "2024-08-06T15:36:57.25Z".parse().unwrap();
        assert_eq!(sdk_date(ts), "20240806T153657Z");
    }
}
