//! What went over the wire: request bodies as JSON, NDJSON files, the URL a client asked for, `Link`
//! headers.

use std::collections::HashMap;
use std::io::Read as _;
use std::path::Path;

use serde_json::Value;
use wiremock::{Request, ResponseTemplate};

/// A request's body, decompressed when its `Content-Encoding` says `gzip` or `zstd` (in any letter case),
/// parsed as JSON. Panics with what is wrong when the body is not valid gzip, zstd or JSON.
pub fn body_json(request: &Request) -> Value {
    serde_json::from_slice(&body_bytes(request)).expect("JSON body")
}

/// A request's body bytes, decompressed when its `Content-Encoding` says `gzip` or `zstd`.
pub fn body_bytes(request: &Request) -> Vec<u8> {
    let encoding = request.headers.get("content-encoding").map(|v| v.as_bytes().to_ascii_lowercase());
    let mut plain = Vec::new();
    match encoding.as_deref() {
        Some(b"gzip") => {
            flate2::read::GzDecoder::new(&request.body[..]).read_to_end(&mut plain).expect("valid gzip");
        }
        Some(b"zstd") => plain = zstd::decode_all(&request.body[..]).expect("valid zstd"),
        _ => return request.body.clone(),
    }
    plain
}

/// The JSON values of an NDJSON file, one per line; a missing file is empty. Panics on a line that is
/// not whole JSON.
pub fn ndjson(path: &Path) -> Vec<Value> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .map(|line| serde_json::from_str(line).expect("NDJSON line"))
        .collect()
}

/// `base` (a mock server's `uri()`) followed by the request's path and query: the URL the client asked
/// for, on the origin it was configured with (wiremock reports the `Host` it saw, not the configured one).
pub fn url_as_sent(base: &str, request: &Request) -> String {
    match request.url.query() {
        Some(query) => format!("{base}{}?{query}", request.url.path()),
        None => format!("{base}{}", request.url.path()),
    }
}

/// The request's query parameters (the last one wins when a name repeats).
pub fn query(request: &Request) -> HashMap<String, String> {
    request.url.query_pairs().map(|(k, v)| (k.into_owned(), v.into_owned())).collect()
}

/// The value of the request's header `name` as text, `None` when absent or not text.
pub fn header<'a>(request: &'a Request, name: &str) -> Option<&'a str> {
    request.headers.get(name).and_then(|v| v.to_str().ok())
}

/// `template` with a `Link: <url>; rel="…"` header for each `(rel, url)`, as one header value each (the
/// way Okta sends `self` and `next`).
pub fn with_links(mut template: ResponseTemplate, links: &[(&str, &str)]) -> ResponseTemplate {
    for (rel, url) in links {
        template = template.append_header("link", format!("<{url}>; rel=\"{rel}\"").as_str());
    }
    template
}

/// Retries in milliseconds (3 attempts, 10–40 ms apart) instead of seconds: what a connector's tests
/// pass to its `with_http` hook so that a retried 5xx does not slow the suite.
pub fn fast_retries(http: &mut logcrawl_http::HttpConfig) {
    http.retry = logcrawl_http::RetryPolicy {
        max_attempts: 3,
        base_delay: std::time::Duration::from_millis(10),
        max_delay: std::time::Duration::from_millis(40),
    };
}

/// `template` with one `Link` header listing every `(rel, url)`, comma-separated (GitHub's way).
pub fn with_link_list(template: ResponseTemplate, links: &[(&str, &str)]) -> ResponseTemplate {
    let value = links.iter().map(|(rel, url)| format!("<{url}>; rel=\"{rel}\"")).collect::<Vec<_>>().join(", ");
    template.insert_header("link", value.as_str())
}

/// Seconds since the Unix epoch on the host's clock (for `X-Rate-Limit-Reset` headers).
pub fn epoch_now() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write as _;

    #[test]
    fn ndjson_reads_lines_and_a_missing_file_is_empty() {
        let dir = std::env::temp_dir().join(format!("logcrawl-testkit-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("out.ndjson");
        std::fs::write(&path, "{\"a\":1}\n[2]\n").unwrap();
        assert_eq!(ndjson(&path), vec![serde_json::json!({"a": 1}), serde_json::json!([2])]);
        assert!(ndjson(&dir.join("absent.ndjson")).is_empty());
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn compression_is_undone_only_when_the_request_says_so() {
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        gz.write_all(b"[1,2]").unwrap();
        let zipped = gz.finish().unwrap();
        let request = |encoding: Option<&str>, body: Vec<u8>| {
            let mut headers = wiremock::http::HeaderMap::new();
            if let Some(encoding) = encoding {
                headers.insert("content-encoding", encoding.parse().unwrap());
            }
            Request {
                url: "http://127.0.0.1/x?a=1&b=2".parse().unwrap(),
                method: wiremock::http::Method::POST,
                headers,
                body,
            }
        };
        assert_eq!(body_json(&request(Some("GZIP"), zipped.clone())), serde_json::json!([1, 2]));
        assert_eq!(body_json(&request(None, b"[3]".to_vec())), serde_json::json!([3]));
        assert_eq!(body_bytes(&request(None, zipped.clone())), zipped, "not gunzipped without the header");
        let zstd = zstd::encode_all(&b"[4]"[..], 1).unwrap();
        assert_eq!(body_json(&request(Some("Zstd"), zstd.clone())), serde_json::json!([4]));
        assert_eq!(body_bytes(&request(Some("gzip, br"), zstd.clone())), zstd, "unknown encodings are left alone");
        let plain = request(None, Vec::new());
        assert_eq!(url_as_sent("http://h:1", &plain), "http://h:1/x?a=1&b=2");
        assert_eq!(query(&plain)["b"], "2");
    }
}
