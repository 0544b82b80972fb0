//! # logcrawl-http-source
//!
//! `connector = "http"`: any cursor-paginated JSON API from configuration alone, with every guarantee a
//! hand-written connector has — records committed only once the sink has them, exact resume, the same-origin
//! guard on every continuation, the shared rate budget and retries, secrets redacted, time windows for
//! newest-first APIs. `docs/http-connector.md` is the reference of every key and a cookbook; this is the
//! design.
//!
//! ## Why it is built this way
//!
//! The declarative peers lose events in the seams between their features: a cursor saved from the last
//! response rather than the last *delivered* event, a template language of their own that users cannot
//! debug, a pagination step that resets the time filter. Here a declared source compiles to the same SDK
//! streams the native connectors use ([`stream`]), so the page loop, prefetch, cursors and dedupe are the
//! ones the conformance suite checks, not a second implementation:
//!
//! * a **continuation** source (the API's `Link` or body token is resumable, as Okta's, GitHub's, Auth0's
//!   and 1Password's are) stores the request of the next page, and inside a page the SDK's id and index;
//! * a **windowed** source (`[sources.window]`: the request filters by `window.start`/`window.end`)
//!   walks time oldest to newest behind a settle lag, with an overlap deduped by id — the only sound way
//!   to resume offsets, page numbers or newest-first APIs (Slack's audit logs).
//!
//! Templates are `minijinja` ([`template`]), JSON paths RFC 9535 with a fast path for plain member chains
//! ([`path`]) so that a declared Okta crawl reads pages as fast as the native one. Everything is compiled
//! when the source is built ([`compile`]): a configuration that starts cannot fail later on a typo, and a
//! failure on a vendor's page names the source, the key and the page, and commits nothing past it.

pub mod api;
pub mod auth;
pub mod compile;
pub mod config;
pub mod event;
pub mod path;
pub mod stream;
pub mod template;

use std::sync::Arc;

use logcrawl_connector::{PagedStream, WindowedStream};
use logcrawl_core::config::{ComponentTable, Table};
use logcrawl_core::{BuildContext, ConfigError, Connector, ConnectorKind, HttpSettings, LogStream};
use logcrawl_http::{HttpClient, HttpConfig};

pub use compile::{Compiled, DEFAULT_PAGE_SIZE, DEFAULT_RETENTION, DEFAULT_SETTLE_LAG, DEFAULT_WINDOW_STEP, Shape};
pub use config::HttpSourceConfig;
pub use stream::{ContinuationApi, HttpCursor, WindowApi};

/// The shared HTTP settings' defaults for a declared source: the workspace's own.
pub const HTTP_DEFAULTS: HttpSettings = HttpSettings::DEFAULT;

/// `connector = "http"`: what the registry builds a declared source with.
pub const KIND: ConnectorKind = ConnectorKind::new(
    "http",
    "any cursor-paginated JSON API, declared in configuration (templates, pagination, JSON paths, windows)",
    |table, context| Ok(Arc::new(HttpConnector::from_table(table, context)?)),
);

/// A declared source: one stream.
pub struct HttpConnector {
    stream: Arc<dyn LogStream>,
    compiled: Arc<api::Source>,
}

impl HttpConnector {
    /// Reads a `[[sources]]` table (the source's keys, then the shared HTTP settings) and builds the
    /// connector of source `context.name`.
    pub fn from_table(table: &Table, context: &BuildContext) -> Result<Self, ConfigError> {
        let (config, http) = ComponentTable::split(table, HTTP_DEFAULTS)?;
        Self::new(config, &http, context)
    }

    /// Validates `config` and builds the connector with the shared HTTP settings `http`.
    pub fn new(config: HttpSourceConfig, http: &HttpSettings, context: &BuildContext) -> Result<Self, ConfigError> {
        Self::with_http(config, http, context, |_| {})
    }

    /// Like [`HttpConnector::new`], letting the caller adjust the HTTP settings of the API's and the token
    /// endpoint's clients before they are built (retry timing in tests, for one).
    pub fn with_http(
        mut config: HttpSourceConfig,
        settings: &HttpSettings,
        context: &BuildContext,
        customize: impl Fn(&mut HttpConfig),
    ) -> Result<Self, ConfigError> {
        let auth = std::mem::take(&mut config.auth);
        let secret_param = match &auth {
            config::AuthConfig::Query { name, .. } => Some(name.clone()),
            _ => None,
        };
        let rate_limit = config.rate_limit.take();
        let Compiled { source, shape } = compile::compile(&context.name, config, context.max_age, secret_param)?;
        let mut http = HttpConfig::with_settings(source.base.clone(), settings)?;
        if let Some(keys) = rate_limit {
            rate_limit_headers(&mut http.rate_limit, keys)?;
        }
        customize(&mut http);
        let mut client = HttpClient::new(http).map_err(|err| ConfigError::new("base_url", err.to_string()))?;
        if let Some(auth) = auth::credential(auth, settings, &customize)? {
            client = client.with_auth(auth);
        }
        let stream: Arc<dyn LogStream> = match shape {
            Shape::Continuation(limits) => {
                Arc::new(PagedStream::new(ContinuationApi::new(source.clone()), client).with_limits(limits))
            }
            Shape::Windowed(plan, order) => {
                Arc::new(WindowedStream::new(WindowApi::new(source.clone(), order), client, plan))
            }
        };
        Ok(Self { stream, compiled: source })
    }

    /// The compiled source (its requests, paths and pagination).
    pub fn source(&self) -> &api::Source {
        &self.compiled
    }
}

/// Applies `[sources.rate_limit]` to the API's budget.
fn rate_limit_headers(
    budget: &mut logcrawl_http::RateLimitConfig,
    keys: config::RateLimitKeys,
) -> Result<(), ConfigError> {
    use logcrawl_http::ResetFormat;
    let name = |key: &str, value: &str| -> Result<String, ConfigError> {
        logcrawl_http::header::HeaderName::from_bytes(value.as_bytes())
            .map(|n| n.as_str().to_owned())
            .map_err(|_| ConfigError::new(format!("rate_limit.{key}"), format!("{value:?} is not a header name")))
    };
    budget.headers = logcrawl_http::RateLimitHeaders {
        limit: keys.limit.as_deref().map(|v| name("limit", v)).transpose()?.into_iter().collect(),
        remaining: vec![name("remaining", &keys.remaining)?],
        reset: keys.reset.as_deref().map(|v| name("reset", v)).transpose()?.into_iter().collect(),
        reset_format: match keys.reset_format {
            config::ResetFormatKey::EpochSeconds => ResetFormat::EpochSeconds,
            config::ResetFormatKey::DeltaSeconds => ResetFormat::DeltaSeconds,
            config::ResetFormatKey::HttpDate => ResetFormat::HttpDate,
        },
    };
    if let Some(margin) = keys.margin {
        budget.margin = margin;
    }
    Ok(())
}

impl std::fmt::Debug for HttpConnector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HttpConnector")
            .field("source", &self.compiled.name)
            .field("stream", &self.compiled.stream)
            .field("base_url", &self.compiled.base.as_str())
            .finish_non_exhaustive()
    }
}

impl Connector for HttpConnector {
    fn kind(&self) -> &str {
        KIND.name
    }

    fn streams(&self) -> Vec<Arc<dyn LogStream>> {
        vec![self.stream.clone()]
    }
}
