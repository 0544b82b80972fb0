//! RFC 8288 `Link` headers: Okta, Auth0 and GitHub page with `rel="next"`.

use reqwest::header::{HeaderMap, LINK};
use url::Url;

/// The target of the link with relation `rel`, resolved against `base` (the URL that was requested).
///
/// Vendors send one header value per link (Okta) or a comma-separated list (GitHub); both are read.
/// Relative references are resolved per RFC 3986.
pub fn find_link(headers: &HeaderMap, base: &Url, rel: &str) -> Option<Url> {
    let joined = headers.get_all(LINK).iter().filter_map(|v| v.to_str().ok()).collect::<Vec<_>>().join(", ");
    if joined.is_empty() {
        return None;
    }
    let links = parse_link_header::parse_with_rel(&joined).ok()?;
    let link = links.get(rel)?;
    base.join(&link.raw_uri).ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use reqwest::header::HeaderValue;

    fn base() -> Url {
        Url::parse("https://acme.okta.com/api/v1/logs?since=x").unwrap()
    }

    #[test]
    fn separate_header_values() {
        let mut headers = HeaderMap::new();
        headers.append(LINK, HeaderValue::from_static("<https://acme.okta.com/api/v1/logs?since=x>; rel=\"self\""));
        headers
            .append(LINK, HeaderValue::from_static("<https://acme.okta.com/api/v1/logs?after=abc%3D>; rel=\"next\""));
        let next = find_link(&headers, &base(), "next").unwrap();
        assert_eq!(next.as_str(), "https://acme.okta.com/api/v1/logs?after=abc%3D");
        assert_eq!(find_link(&headers, &base(), "prev"), None);
    }

    #[test]
    fn comma_separated_and_relative() {
        let mut headers = HeaderMap::new();
        headers.insert(
            LINK,
            HeaderValue::from_static("</api/v1/logs?after=2>; rel=\"next\", <https://x/first>; rel=\"first\""),
        );
        assert_eq!(find_link(&headers, &base(), "next").unwrap().as_str(), "https://acme.okta.com/api/v1/logs?after=2");
    }

    #[test]
    fn no_header_no_link() {
        assert_eq!(find_link(&HeaderMap::new(), &base(), "next"), None);
    }

    proptest::proptest! {
        #[test]
        fn link_headers_never_panic(values in proptest::collection::vec(proptest::collection::vec(proptest::prelude::any::<u8>(), 0..80), 0..4)) {
            let mut headers = HeaderMap::new();
            for bytes in values {
                if let Ok(value) = HeaderValue::from_bytes(&bytes) {
                    headers.append(LINK, value);
                }
            }
            let _ = find_link(&headers, &base(), "next");
        }

        #[test]
        fn a_well_formed_next_link_is_found(path in "[a-z0-9/]{0,20}", after in "[A-Za-z0-9_-]{1,30}") {
            let mut headers = HeaderMap::new();
            let link = format!("<https://acme.okta.com/{path}?after={after}>; rel=\"next\"");
            headers.insert(LINK, HeaderValue::from_str(&link).unwrap());
            let found = find_link(&headers, &base(), "next").unwrap();
            let expected = format!("after={after}");
            proptest::prop_assert_eq!(found.query(), Some(expected.as_str()));
        }
    }
}
