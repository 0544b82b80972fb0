//! Tests of the `http` connector against wiremock: the SDK's conformance suite for each shape a
//! declared source takes (a `Link` chain, a `POST` body token, time windows newest first), and the
//! behaviour of a declared source's own rules (located configuration errors, run-time failures that name
//! the key and the page and advance nothing, what is sent).

mod conformance_body;
mod conformance_link;
mod conformance_window;
mod failures;

use std::sync::Arc;

use logcrawl_core::BuildContext;
use logcrawl_core::config::ComponentTable;
use logcrawl_http_source::{HTTP_DEFAULTS, HttpConnector};

/// The credential every test configures.
pub(crate) const TOKEN: &str = "http-source-secret-TOKEN";

/// The connector of `text` (a source's keys, TOML), with fast retries.
pub(crate) fn connector(text: &str) -> Result<Arc<HttpConnector>, logcrawl_core::ConfigError> {
    let table = text.parse().expect("TOML");
    let (config, http) = ComponentTable::split(&table, HTTP_DEFAULTS)?;
    Ok(Arc::new(HttpConnector::with_http(
        config,
        &http,
        &BuildContext::new("declared"),
        logcrawl_testkit::fast_retries,
    )?))
}
