//! Where a connector sends its requests: the `base_url` every connector takes, and the `domain` of a
//! vendor with a host per tenant (Okta's org, Auth0's tenant), checked the same way everywhere.
//!
//! Both end in `/`, so that the API's paths join below any path a proxy adds (`https://proxy/okta/` +
//! `api/v1/logs`).

use logcrawl_core::ConfigError;
use logcrawl_http::Url;

/// `text` as a `base_url`: an http(s) URL with a host, no query or fragment, ending in `/`. The error
/// is keyed `base_url`; `example` completes its advice (`https://acme.okta.com`).
pub fn base_url(text: &str, example: &str) -> Result<Url, ConfigError> {
    let mut url = Url::parse(text.trim()).map_err(|err| ConfigError::new("base_url", format!("not a URL: {err}")))?;
    if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none() {
        return Err(ConfigError::new("base_url", format!("must be an http(s) URL with a host, e.g. {example}")));
    }
    if url.query().is_some() || url.fragment().is_some() {
        return Err(ConfigError::new("base_url", "must not carry a query or fragment"));
    }
    if !url.path().ends_with('/') {
        let path = format!("{}/", url.path());
        url.set_path(&path);
    }
    Ok(url)
}

/// `text` as a tenant's `domain`: a host name (an `https://` and a trailing `/` are tolerated), served
/// over HTTPS: `https://{host}/`. The error is keyed `domain`; `example` is a host to suggest.
pub fn domain_url(text: &str, example: &str) -> Result<Url, ConfigError> {
    let host = text.trim().trim_start_matches("https://").trim_end_matches('/');
    if host.is_empty() || host.contains(['/', '?', '#', '@', ' ', ':']) {
        return Err(ConfigError::new(
            "domain",
            format!("{text:?} is not a host name; give e.g. {example}, or a full URL as base_url"),
        ));
    }
    Url::parse(&format!("https://{host}/")).map_err(|err| ConfigError::new("domain", format!("{text:?}: {err}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base_urls_end_in_a_slash_and_refuse_what_is_not_an_origin() {
        assert_eq!(base_url("http://127.0.0.1:9/okta", "x").unwrap().as_str(), "http://127.0.0.1:9/okta/");
        assert_eq!(base_url(" https://api.github.com ", "x").unwrap().as_str(), "https://api.github.com/");
        for bad in ["ftp://x", "not a url", "https://x/?a=1", "https://x/#f", "file:///etc"] {
            let err = base_url(bad, "https://acme.example").unwrap_err();
            assert_eq!(err.key(), "base_url", "{bad}");
        }
        assert!(base_url("mailto:x", "https://acme.example").unwrap_err().message().contains("https://acme.example"));
    }

    #[test]
    fn domains_are_hosts_over_https() {
        assert_eq!(domain_url("acme.us.auth0.com", "x").unwrap().as_str(), "https://acme.us.auth0.com/");
        assert_eq!(domain_url("https://acme.okta.com/", "x").unwrap().as_str(), "https://acme.okta.com/");
        for bad in ["", "acme.okta.com/x", "http://acme.okta.com", "a b", "u@acme.okta.com", "acme:443"] {
            assert_eq!(domain_url(bad, "acme.okta.com").unwrap_err().key(), "domain", "{bad}");
        }
    }
}
