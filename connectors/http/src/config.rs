//! The keys of an `http` source, as the configuration file spells them.
//!
//! Deserialised strictly (an unknown key is an error naming it, with its line once the CLI locates it),
//! then checked as a whole by [`crate::compile`]: which pagination style needs which key, which cursor a
//! style can resume by, and every template and JSON path compiled up front, so a source that starts
//! cannot fail later on its own configuration.

use std::collections::BTreeMap;
use std::time::Duration;

use logcrawl_core::SecretString;
use logcrawl_core::config::opt_duration;
use serde::Deserialize;

/// A `[[sources]]` table with `connector = "http"` (less the shared HTTP settings).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HttpSourceConfig {
    /// The API's origin (and path prefix): every request and every continuation stays on it.
    pub base_url: String,
    /// The stream's name, the second half of its checkpoint key (default `events`).
    #[serde(default)]
    pub stream: Option<String>,
    /// `page_size` in templates (default 100).
    #[serde(default)]
    pub page_size: Option<u32>,
    /// Where a first run starts, behind now (default 18 h, within the sink's max age).
    #[serde(default, deserialize_with = "opt_duration")]
    pub initial_lookback: Option<Duration>,
    /// How long the vendor keeps events: `initial_lookback` may not reach further (default 90 days).
    #[serde(default, deserialize_with = "opt_duration")]
    pub retention: Option<Duration>,
    /// Pages one run fetches at most (continuation sources; windowed ones count windows).
    #[serde(default)]
    pub max_pages_per_run: Option<usize>,
    /// Empty pages that claim more followed in a row before a run ends (default 5).
    #[serde(default)]
    pub max_empty_pages: Option<usize>,
    /// Values of the source's own, for templates (`vars.org`).
    #[serde(default)]
    pub vars: toml::Table,
    /// The first request of a run (or of a window).
    pub request: RequestConfig,
    /// The credential.
    #[serde(default)]
    pub auth: AuthConfig,
    /// Where the next page is.
    #[serde(default)]
    pub pagination: PaginationConfig,
    /// Where the events are in a page, and what is read from each.
    pub records: RecordsConfig,
    /// Time windows, for APIs read by a time filter (newest-first ones above all).
    #[serde(default)]
    pub window: Option<WindowConfig>,
    /// Where the API announces its rate budget.
    #[serde(default)]
    pub rate_limit: Option<RateLimitKeys>,
}

/// `[sources.rate_limit]`: the response headers the API announces its budget in, and the margin kept.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RateLimitKeys {
    /// The header of the calls allowed per window.
    #[serde(default)]
    pub limit: Option<String>,
    /// The header of the calls left (required to read anything).
    pub remaining: String,
    /// The header of when the window resets.
    #[serde(default)]
    pub reset: Option<String>,
    /// `epoch_seconds` (the default), `delta_seconds` or `http_date`.
    #[serde(default)]
    pub reset_format: ResetFormatKey,
    /// Calls left unspent in each window (default 2).
    #[serde(default)]
    pub margin: Option<u32>,
}

/// How `rate_limit.reset` is written.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ResetFormatKey {
    /// Unix epoch seconds.
    #[default]
    EpochSeconds,
    /// Seconds from the response.
    DeltaSeconds,
    /// An HTTP date.
    HttpDate,
}

/// `[sources.request]`: method, path, query, headers and body, each string a template.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RequestConfig {
    /// `GET` (the default) or `POST`.
    #[serde(default)]
    pub method: Method,
    /// The path below `base_url` (a template).
    pub path: String,
    /// Query parameters (templates; one rendered empty is left out).
    #[serde(default)]
    pub query: BTreeMap<String, String>,
    /// Request headers (templates).
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
    /// A JSON body (a TOML table or array; its strings are templates, and a string that is one
    /// `{{ expression }}` becomes the expression's JSON value, so `"{{ page_size }}"` is a number).
    #[serde(default)]
    pub body: Option<toml::Value>,
}

/// The request method.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum Method {
    /// `GET`.
    #[default]
    Get,
    /// `POST`.
    Post,
}

/// `[sources.auth]`: how requests prove who sends them. Every secret is written `${ENV}` in practice and
/// is never printed.
#[derive(Debug, Default, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum AuthConfig {
    /// No credential.
    #[default]
    None,
    /// `Authorization: <prefix> <token>` (prefix `Bearer` unless given, e.g. `SSWS` for Okta).
    Bearer {
        /// The token.
        token: SecretString,
        /// The scheme word before it.
        #[serde(default)]
        prefix: Option<String>,
    },
    /// `Authorization: Basic base64(username:password)`.
    Basic {
        /// The user name.
        username: String,
        /// The password.
        password: SecretString,
    },
    /// An API key in a header of its own.
    Header {
        /// The header's name (`X-API-Key`).
        name: String,
        /// Its value.
        value: SecretString,
    },
    /// An API key in a query parameter, added to each request as it is sent (never to a logged,
    /// linked or stored URL).
    Query {
        /// The parameter's name (`api_key`).
        name: String,
        /// Its value.
        value: SecretString,
    },
    /// OAuth 2.0 client credentials: a token from `token_url`, cached and renewed.
    Oauth2 {
        /// The token endpoint (an absolute URL; the secret is sent there only).
        token_url: String,
        /// The client id.
        client_id: String,
        /// The client secret (or `private_key_file`).
        #[serde(default)]
        client_secret: Option<SecretString>,
        /// A PEM file with the client's RSA private key, for `private_key_jwt`: each token request carries
        /// a client assertion signed with it (or `client_secret`).
        #[serde(default)]
        private_key_file: Option<String>,
        /// The key's id (`kid`), when the authorization server asks for it.
        #[serde(default)]
        key_id: Option<String>,
        /// Scopes asked for (space-joined into `scope`).
        #[serde(default)]
        scopes: Vec<String>,
        /// `audience`, for the endpoints that want one (Auth0).
        #[serde(default)]
        audience: Option<String>,
        /// How the token request is encoded: `form` (RFC 6749, the default) or `json`.
        #[serde(default)]
        encoding: TokenEncoding,
    },
}

/// The body encoding of an OAuth token request.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TokenEncoding {
    /// `application/x-www-form-urlencoded`.
    #[default]
    Form,
    /// `application/json` (Auth0's token endpoint takes both).
    Json,
}

/// `[sources.pagination]`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PaginationConfig {
    /// The style: `none` (the default), `link`, `token`, `offset` or `page`.
    #[serde(rename = "type", default)]
    pub style: Style,
    /// `link`: the relation to follow (default `next`).
    #[serde(default)]
    pub rel: Option<String>,
    /// `token`: the JSON path of the next page's token in the body.
    #[serde(default)]
    pub token: Option<String>,
    /// `token`, `offset`, `page`: the query parameter that carries it.
    #[serde(default)]
    pub param: Option<String>,
    /// `token`: the body member that carries it instead (a `POST` API).
    #[serde(default)]
    pub body_field: Option<String>,
    /// `token`: the whole body of a continuation (templates over `token`), when it is not the first
    /// request's body with `body_field` set (1Password's `{"cursor": …}`).
    #[serde(default)]
    pub next_body: Option<toml::Value>,
    /// The JSON path of a boolean that says whether more pages follow.
    #[serde(default)]
    pub has_more: Option<String>,
    /// `offset`: the first offset (default 0); `page`: the first page number (default 1).
    #[serde(default)]
    pub start: Option<u64>,
    /// What ends a chain early: `empty_page`, `short_page` (default both).
    #[serde(default)]
    pub stop: Option<Vec<Stop>>,
}

/// A pagination style.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Style {
    /// One request per run (or per window).
    #[default]
    None,
    /// A `Link` header.
    Link,
    /// A token in the body, passed back.
    Token,
    /// An item offset.
    Offset,
    /// A page number.
    Page,
}

/// A stop rule.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Stop {
    /// A page without events is the end (for now).
    EmptyPage,
    /// A page with fewer events than `page_size` is the end (for now).
    ShortPage,
}

/// `[sources.records]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RecordsConfig {
    /// The JSON path of the events in a page (`$[*]`, `$.items[*]`).
    pub path: String,
    /// A member chain (`$.events`) naming an array inside each event: each of its elements becomes a
    /// record of its own, the parent's other members kept (the array replaced by the element).
    #[serde(default)]
    pub split: Option<String>,
    /// The JSON path of an event's unique id.
    #[serde(default)]
    pub id: Option<String>,
    /// The JSON path of an event's time.
    #[serde(default)]
    pub time: Option<String>,
    /// How the time is written: `rfc3339` (the default), `unix`, `unix_ms`, `unix_us`, `unix_ns`, or a
    /// `strftime` pattern.
    #[serde(default)]
    pub time_format: Option<String>,
    /// The JSON path of an error the API reports inside a successful answer (Slack's `$.error` with
    /// `"ok": false`): when it selects anything but `null` or `false`, the page is refused, not read as
    /// empty.
    #[serde(default)]
    pub error: Option<String>,
    /// The API's order inside a page chain: `oldest_first` (the default), `newest_first` or `any`.
    #[serde(default)]
    pub order: Order,
    /// Standard attributes read from each event: name → JSON path, or `{ path, map, lowercase }`.
    #[serde(default)]
    pub fields: BTreeMap<String, FieldConfig>,
}

/// The order events come in.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Order {
    /// Oldest first.
    #[default]
    OldestFirst,
    /// Newest first.
    NewestFirst,
    /// No promise.
    Any,
}

/// One mapped attribute: a JSON path, or a path with a value map.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
pub enum FieldConfig {
    /// `"$.displayMessage"`.
    Path(String),
    /// `{ path = "$.severity", map = { WARN = "warning" }, lowercase = true }`.
    Mapped(MappedField),
}

/// A path whose value is translated.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MappedField {
    /// The JSON path.
    pub path: String,
    /// Values replaced (after `lowercase`); others are kept.
    #[serde(default)]
    pub map: BTreeMap<String, String>,
    /// Lower-case the value first.
    #[serde(default)]
    pub lowercase: bool,
}

/// `[sources.window]`: read by time windows oldest to newest.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WindowConfig {
    /// The longest window (default 1 h).
    #[serde(default, deserialize_with = "opt_duration")]
    pub step: Option<Duration>,
    /// How far behind now windows end (default 1 min).
    #[serde(default, deserialize_with = "opt_duration")]
    pub settle_lag: Option<Duration>,
    /// How long before its start each window is read again, for late events (default 0; needs
    /// `records.id`).
    #[serde(default, deserialize_with = "opt_duration")]
    pub overlap: Option<Duration>,
    /// The API's time resolution (default: that of `records.time_format`, 1 ms for RFC 3339).
    #[serde(default, deserialize_with = "opt_duration")]
    pub resolution: Option<Duration>,
}
