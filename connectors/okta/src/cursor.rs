//! The `system_log` cursor: a URL Okta gave (or the first polling query) and the `published` instant it
//! was taken at.
//!
//! The stored document (version 1) is this type plus what the SDK's page loop adds for exact resumes
//! ([`logcrawl_connector::Resume::InPage`]), every key but `url` optional:
//!
//! * page end: `{"v":1,"url":NEXT,"seen":[UUID…],"published":P}`;
//! * mid-page: `{"v":1,"url":PAGE,"through":UUID,"index":I,"published":P}`.
//!
//! `published` is the `published` of the event the cursor was taken at (for a page end, of the page's last
//! event, the instant `seen` belongs to). It is only read when Okta refuses `url`: the run then restarts
//! from `since = published`, dropping the uuids it already delivered at that instant. Cursors written
//! before `published` existed load and resume as they always did.

use logcrawl_connector::TypedCursor;
use logcrawl_http::Url;
use serde::{Deserialize, Serialize};

/// Version of the cursor document, bumped only with a reader for the old one.
pub const CURSOR_VERSION: u64 = 1;

/// Where a `system_log` run resumes: the URL to request, and the instant to fall back on.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OktaCursor {
    /// The URL to request: Okta's `next` link, the page a mid-page cursor was taken on, or a polling
    /// query from `since`.
    pub url: Url,
    /// `published` of the last delivered event, when known: where a run restarts (`since`) if Okta
    /// refuses `url`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub published: Option<String>,
}

impl TypedCursor for OktaCursor {
    const VERSION: u64 = CURSOR_VERSION;
    const SHAPE: &'static str = r#"an Okta System Log cursor, {"v": 1, "url": "<an /api/v1/logs URL of this org>", "published": "<instant>", …}"#;
}

#[cfg(test)]
mod tests {
    use super::*;
    use logcrawl_connector::cursor::{load, store};
    use logcrawl_core::StreamErrorKind;
    use serde_json::json;

    #[test]
    fn stores_as_version_1_and_reads_cursors_without_published() {
        let url = Url::parse("https://acme.okta.com/api/v1/logs?after=abc&limit=1000").unwrap();
        let cursor = OktaCursor { url: url.clone(), published: Some("2024-08-13T15:58:20.353Z".into()) };
        assert_eq!(store(&cursor), json!({"v": 1, "url": url.as_str(), "published": "2024-08-13T15:58:20.353Z"}));
        let old = json!({"v": 1, "url": "https://acme.okta.com/api/v1/logs?after=x"});
        assert_eq!(load::<OktaCursor>(&old).unwrap().published, None);
    }

    #[test]
    fn foreign_cursors_are_refused_with_a_reason() {
        for (stored, why) in [
            (json!("https://acme.okta.com/api/v1/logs"), "not a JSON object"),
            (json!({"v": 9, "url": "https://x/"}), "version 9"),
            (json!({"v": 1}), "url"),
            (json!({"v": 1, "url": "https://x/", "published": 1}), "Okta System Log cursor"),
        ] {
            let err = load::<OktaCursor>(&stored).unwrap_err();
            assert_eq!(err.kind(), StreamErrorKind::Checkpoint);
            assert!(err.to_string().contains(why), "{stored}: {err}");
        }
    }
}
