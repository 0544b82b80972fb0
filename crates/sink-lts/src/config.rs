//! The sink's configuration (`[sinks.NAME]` with `type = "lts"`) and its validation.

use std::collections::BTreeMap;
use std::time::Duration;

use logcrawl_core::config::{ComponentTable, SharedSettings, Table};
use logcrawl_core::{DeliverySettings, ExposeSecret, HttpSettings, SecretString};
use logcrawl_http::Url;
use logcrawl_sink_util::DeliveryBounds;
use serde::Deserialize;

/// Most labels one request may carry (LTS "Basic Resource Constraints").
pub const MAX_LABELS: usize = 100;

/// Longest label key accepted (the LTS SDK rule; the REST API documents none).
pub const MAX_LABEL_KEY_LEN: usize = 64;

/// Longest label value accepted: labels are shown with each log, a kilobyte is plenty.
pub const MAX_LABEL_VALUE_LEN: usize = 1024;

/// Default request body budget before compression: the official Go producer SDK's `MaxBatchSize`.
pub const DEFAULT_BATCH_MAX_BYTES: usize = 512 * 1024;

/// Default records per request: the official Go producer SDK's `MaxBatchCount`.
pub const DEFAULT_BATCH_MAX_RECORDS: usize = 4096;

/// Largest `batch_max_bytes` accepted: larger bodies are undocumented territory.
pub const MAX_BATCH_MAX_BYTES: usize = 8 * 1024 * 1024;

/// Field names LTS adds to every log itself ("Built-in Reserved Fields", lts_05_0100). A label with one of
/// these names (compared case-insensitively) would collide with them, so it is refused.
pub const RESERVED_LABELS: &[&str] = &[
    "appName",
    "category",
    "clusterId",
    "clusterName",
    "collectTime",
    "containerName",
    "content",
    "hostId",
    "hostIP",
    "hostIPv6",
    "hostName",
    "lineNum",
    "logGroupName",
    "logStreamName",
    "nameSpace",
    "pathFile",
    "podIp",
    "podName",
    "projectId",
    "regionName",
    "serviceID",
    "__time__",
];

/// Which LTS reporting API to use.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Mode {
    /// `…/tenant/contents/high-accuracy`: every record keeps its own timestamp (the default).
    #[default]
    HighPrecision,
    /// `…/tenant/contents`: one `log_time_ns` per request; line *i* is stamped `log_time_ns + i` nanoseconds.
    Batch,
}

/// Request body compression.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Compression {
    /// Plain JSON (the default).
    #[default]
    None,
    /// `Content-Encoding: gzip`; documented for the high-precision API only.
    Gzip,
}

/// How the sink authenticates (`auth = { type = "…", … }`).
///
/// Every secret may be given inline or, better, through the environment (`*_env` names the variable);
/// exactly one of the two is required.
#[derive(Debug, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum AuthConfig {
    /// A ready IAM token sent as `X-Auth-Token`. Tokens expire after 24 h: for short jobs only.
    Token {
        /// The token.
        #[serde(default)]
        token: Option<SecretString>,
        /// Environment variable holding the token.
        #[serde(default)]
        token_env: Option<String>,
    },
    /// IAM password authentication: the sink obtains a project-scoped token, caches it, refreshes it.
    IamPassword {
        /// IAM user name.
        user: String,
        /// Account (domain) name the user belongs to.
        domain: String,
        /// The user's password.
        #[serde(default)]
        password: Option<SecretString>,
        /// Environment variable holding the password.
        #[serde(default)]
        password_env: Option<String>,
        /// IAM endpoint; defaults to `https://iam.{region}.myhuaweicloud.com`.
        #[serde(default)]
        iam_endpoint: Option<String>,
    },
    /// Experimental: AK/SK request signing (`SDK-HMAC-SHA256`, the API Gateway signer).
    Aksk {
        /// Access key id.
        access_key: String,
        /// Secret access key.
        #[serde(default)]
        secret_key: Option<SecretString>,
        /// Environment variable holding the secret access key.
        #[serde(default)]
        secret_key_env: Option<String>,
    },
}

/// `[sinks.NAME]` of `type = "lts"` (the `type` key itself is removed by the CLI).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LtsConfig {
    /// Region id, e.g. `ap-southeast-1`; gives `https://lts-access.{region}.myhuaweicloud.com`.
    #[serde(default)]
    pub region: Option<String>,
    /// Explicit base URL (private access IP such as `https://100.125.12.150:8102`, tests); wins over `region`.
    #[serde(default)]
    pub endpoint: Option<String>,
    /// Port of the region endpoint (default 443). Put a port for `endpoint` into the URL itself.
    #[serde(default)]
    pub port: Option<u16>,
    /// Project id (32 characters).
    pub project_id: String,
    /// Log group id (36 characters).
    pub log_group_id: String,
    /// Log stream id (36 characters).
    pub log_stream_id: String,
    /// `high_precision` (default) or `batch`.
    #[serde(default)]
    pub mode: Mode,
    /// Labels sent with every request.
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
    /// Whether to add the source's `source` and `service` as labels (default true; config labels win).
    #[serde(default = "yes")]
    pub source_labels: bool,
    /// Credentials.
    pub auth: AuthConfig,
    /// `none` (default) or `gzip` (high-precision mode only).
    #[serde(default)]
    pub compression: Compression,
    /// The shared HTTP settings, defaults [`HTTP_DEFAULTS`]. A `Retry-After` longer than
    /// `max_retry_wait` is waited for that long, then the request is tried again.
    #[serde(skip, default = "http_defaults")]
    pub http: HttpSettings,
    /// The shared delivery settings, defaults [`DELIVERY_DEFAULTS`] (the official Go producer SDK's).
    #[serde(skip, default = "delivery_defaults")]
    pub delivery: DeliverySettings,
}

/// The shared HTTP settings' defaults for LTS: 30 s timeout, 5 attempts from 1 s up to 60 s apart, and a
/// `Retry-After` obeyed for at most 5 min (a longer one is cut to that).
pub const HTTP_DEFAULTS: HttpSettings = HttpSettings {
    timeout: Duration::from_secs(30),
    retry_max_delay: Duration::from_secs(60),
    ..HttpSettings::DEFAULT
};

/// The shared delivery settings' defaults for LTS: the official Go producer SDK's `MaxBatchCount` and
/// `MaxBatchSize`, two batches in flight, 1 s linger.
pub const DELIVERY_DEFAULTS: DeliverySettings = DeliverySettings {
    batch_max_records: DEFAULT_BATCH_MAX_RECORDS,
    batch_max_bytes: DEFAULT_BATCH_MAX_BYTES,
    linger: Duration::from_secs(1),
    max_in_flight: 2,
    dead_letter_max_bytes: logcrawl_core::deadletter::DEFAULT_MAX_BYTES,
};

/// Records per request LTS is sent at most.
pub const MAX_BATCH_MAX_RECORDS: usize = 100_000;

/// Batches of one stream in flight at most.
pub const MAX_IN_FLIGHT: usize = 64;

fn yes() -> bool {
    true
}
fn http_defaults() -> HttpSettings {
    HTTP_DEFAULTS
}
fn delivery_defaults() -> DeliverySettings {
    DELIVERY_DEFAULTS
}

impl LtsConfig {
    /// A configuration with every optional key at its default.
    pub fn new(
        project_id: impl Into<String>,
        log_group_id: impl Into<String>,
        log_stream_id: impl Into<String>,
        auth: AuthConfig,
    ) -> Self {
        Self {
            region: None,
            endpoint: None,
            port: None,
            project_id: project_id.into(),
            log_group_id: log_group_id.into(),
            log_stream_id: log_stream_id.into(),
            mode: Mode::default(),
            labels: BTreeMap::new(),
            source_labels: true,
            auth,
            compression: Compression::default(),
            http: HTTP_DEFAULTS,
            delivery: DELIVERY_DEFAULTS,
        }
    }

    /// Reads a `[sinks.NAME]` table: the sink's own keys, and the shared HTTP and delivery settings over
    /// LTS's defaults. Errors name the key (`auth.token`, `retry_attempts`).
    pub fn from_table(table: &Table) -> Result<Self, ConfigError> {
        let mut keys = ComponentTable::new(table);
        Ok(Self { http: keys.shared(HTTP_DEFAULTS)?, delivery: keys.shared(DELIVERY_DEFAULTS)?, ..keys.own()? })
    }
}

/// A configuration the sink cannot run with: the one error type of every component.
pub use logcrawl_core::ConfigError;

/// An error about `key` of the sink named `sink`.
pub(crate) fn config_error(
    sink: &str,
    key: impl Into<std::borrow::Cow<'static, str>>,
    message: impl Into<String>,
) -> ConfigError {
    ConfigError::new(key, message).in_component(format!("sink {sink:?} (lts)"))
}

/// Credentials after validation, secrets resolved.
#[derive(Debug)]
pub(crate) enum ResolvedAuth {
    Token(SecretString),
    IamPassword { user: String, domain: String, password: SecretString, iam_endpoint: Url },
    Aksk { access_key: String, secret_key: SecretString },
}

/// Everything the sink needs, checked.
#[derive(Debug)]
pub(crate) struct Settings {
    pub(crate) base_url: Url,
    pub(crate) contents_url: Url,
    pub(crate) project_id: String,
    pub(crate) mode: Mode,
    pub(crate) labels: BTreeMap<String, String>,
    pub(crate) source_labels: bool,
    pub(crate) auth: ResolvedAuth,
    pub(crate) compression: Compression,
    pub(crate) http: HttpSettings,
    pub(crate) delivery: DeliverySettings,
}

/// Reads a secret given inline or through an environment variable; exactly one of them.
fn resolve_secret(
    sink: &str,
    inline: Option<SecretString>,
    env: Option<String>,
    key: &str,
    lookup: &dyn Fn(&str) -> Option<String>,
) -> Result<SecretString, ConfigError> {
    let env_key = format!("auth.{key}_env");
    let secret = match (inline, env) {
        (Some(_), Some(_)) => {
            return Err(config_error(
                sink,
                format!("auth.{key}"),
                format!("set either `{key}` or `{key}_env`, not both"),
            ));
        }
        (Some(secret), None) => secret,
        (None, Some(var)) => match lookup(&var) {
            Some(value) => SecretString::from(value),
            None => {
                return Err(config_error(
                    sink,
                    env_key,
                    format!("environment variable {var:?} is not set or not UTF-8"),
                ));
            }
        },
        (None, None) => {
            return Err(config_error(sink, format!("auth.{key}"), format!("required: set `{key}` or `{key}_env`")));
        }
    };
    if secret.expose_secret().trim().is_empty() {
        return Err(config_error(sink, format!("auth.{key}"), "must not be empty"));
    }
    Ok(secret)
}

/// Checks a path id: non-empty, URL-safe; an unexpected length is only warned about (the documented
/// lengths come from mirrors of the docs, and private deployments may differ).
fn check_id(sink: &str, key: &'static str, value: &str, expected_len: usize) -> Result<(), ConfigError> {
    if value.is_empty() {
        return Err(config_error(sink, key, "must not be empty"));
    }
    if let Some(bad) = value.chars().find(|c| !(c.is_ascii_alphanumeric() || *c == '-' || *c == '_')) {
        return Err(config_error(sink, key, format!("{value:?} contains {bad:?}; ids are letters, digits and '-'")));
    }
    if value.len() != expected_len {
        tracing::warn!(sink, key, value, expected_len, "LTS documents this id as {expected_len} characters long");
    }
    Ok(())
}

/// Checks one label key: syntax, length, reserved names.
pub(crate) fn check_label_key(key: &str) -> Result<(), String> {
    let mut chars = key.chars();
    match chars.next() {
        None => return Err("label keys must not be empty".into()),
        Some(first) if !first.is_ascii_alphabetic() => {
            return Err(format!("label key {key:?} must start with a letter (A-Z, a-z)"));
        }
        Some(_) => {}
    }
    if let Some(bad) = chars.find(|c| !(c.is_ascii_alphanumeric() || *c == '_')) {
        return Err(format!("label key {key:?} contains {bad:?}; use letters, digits and '_'"));
    }
    if key.len() > MAX_LABEL_KEY_LEN {
        return Err(format!("label key {key:?} is longer than {MAX_LABEL_KEY_LEN} characters"));
    }
    if key.contains("__") {
        return Err(format!("label key {key:?} contains \"__\", which LTS cannot index"));
    }
    if let Some(reserved) = RESERVED_LABELS.iter().find(|r| r.eq_ignore_ascii_case(key)) {
        return Err(format!("label key {key:?} is the LTS built-in reserved field {reserved:?}"));
    }
    Ok(())
}

fn parse_base(sink: &str, key: &'static str, text: &str) -> Result<Url, ConfigError> {
    let url =
        Url::parse(text.trim()).map_err(|err| config_error(sink, key, format!("{text:?} is not a URL: {err}")))?;
    if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none() {
        return Err(config_error(sink, key, format!("{text:?} must be an http(s) URL with a host")));
    }
    if !url.username().is_empty() || url.password().is_some() || url.query().is_some() || url.fragment().is_some() {
        return Err(config_error(sink, key, "must not carry credentials, a query or a fragment"));
    }
    if url.scheme() == "http" {
        tracing::warn!(sink, key, "plain-http endpoint: credentials and logs travel unencrypted");
    }
    Ok(url)
}

/// `base` with `segments` appended to its path.
pub(crate) fn join_path(base: &Url, segments: &[&str]) -> Url {
    let mut url = base.clone();
    {
        let mut path = url.path_segments_mut().expect("http(s) URLs have a path");
        path.pop_if_empty();
        path.extend(segments);
    }
    url
}

fn check_region(sink: &str, region: &str) -> Result<(), ConfigError> {
    if region.is_empty() || !region.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-') {
        return Err(config_error(sink, "region", format!("{region:?} is not a region id such as \"ap-southeast-1\"")));
    }
    Ok(())
}

impl LtsConfig {
    /// Validates and resolves secrets (`*_env` via `lookup`).
    pub(crate) fn validate(self, sink: &str, lookup: &dyn Fn(&str) -> Option<String>) -> Result<Settings, ConfigError> {
        if let Some(region) = &self.region {
            check_region(sink, region)?;
        }
        let base_url = match (&self.endpoint, &self.region) {
            (Some(endpoint), _) => {
                if self.port.is_some() {
                    return Err(config_error(sink, "port", "applies to `region` only; write the port into `endpoint`"));
                }
                parse_base(sink, "endpoint", endpoint)?
            }
            (None, Some(region)) => {
                let port = self.port.unwrap_or(443);
                if port == 0 {
                    return Err(config_error(sink, "port", "must not be 0"));
                }
                parse_base(sink, "region", &format!("https://lts-access.{region}.myhuaweicloud.com:{port}/"))?
            }
            (None, None) => return Err(config_error(sink, "region", "set `region` (or an explicit `endpoint`)")),
        };
        check_id(sink, "project_id", &self.project_id, 32)?;
        check_id(sink, "log_group_id", &self.log_group_id, 36)?;
        check_id(sink, "log_stream_id", &self.log_stream_id, 36)?;
        let mut segments = vec![
            "v2",
            self.project_id.as_str(),
            "lts",
            "groups",
            self.log_group_id.as_str(),
            "streams",
            self.log_stream_id.as_str(),
            "tenant",
            "contents",
        ];
        if self.mode == Mode::HighPrecision {
            segments.push("high-accuracy");
        }
        let contents_url = join_path(&base_url, &segments);

        let auto = if self.source_labels { 2 } else { 0 };
        if self.labels.len() + auto > MAX_LABELS {
            let hint = if auto > 0 { " (2 are taken by `source_labels`)" } else { "" };
            return Err(config_error(sink, "labels", format!("at most {MAX_LABELS} labels per request{hint}")));
        }
        for (key, value) in &self.labels {
            check_label_key(key).map_err(|message| config_error(sink, format!("labels.{key}"), message))?;
            if value.len() > MAX_LABEL_VALUE_LEN {
                return Err(config_error(
                    sink,
                    format!("labels.{key}"),
                    format!("longer than {MAX_LABEL_VALUE_LEN} bytes"),
                ));
            }
        }

        if self.compression == Compression::Gzip && self.mode == Mode::Batch {
            return Err(config_error(
                sink,
                "compression",
                "LTS documents Content-Encoding for the high-precision API only; use mode = \"high_precision\" or compression = \"none\"",
            ));
        }
        self.http.validate().map_err(|e| config_error(sink, e.key().to_owned(), e.message()))?;
        let bounds = DeliveryBounds {
            records: 1..=MAX_BATCH_MAX_RECORDS,
            bytes: 1024..=MAX_BATCH_MAX_BYTES,
            in_flight: 1..=MAX_IN_FLIGHT,
            why: "what this sink sends to LTS",
        };
        let delivery = bounds.check(self.delivery).map_err(|e| config_error(sink, e.key().to_owned(), e.message()))?;

        let auth = match self.auth {
            AuthConfig::Token { token, token_env } => {
                ResolvedAuth::Token(resolve_secret(sink, token, token_env, "token", lookup)?)
            }
            AuthConfig::IamPassword { user, domain, password, password_env, iam_endpoint } => {
                if user.trim().is_empty() {
                    return Err(config_error(sink, "auth.user", "must not be empty"));
                }
                if domain.trim().is_empty() {
                    return Err(config_error(sink, "auth.domain", "must not be empty"));
                }
                let password = resolve_secret(sink, password, password_env, "password", lookup)?;
                let iam_endpoint = match (iam_endpoint, &self.region) {
                    (Some(endpoint), _) => parse_base(sink, "auth.iam_endpoint", &endpoint)?,
                    (None, Some(region)) => {
                        parse_base(sink, "auth.iam_endpoint", &format!("https://iam.{region}.myhuaweicloud.com/"))?
                    }
                    (None, None) => {
                        return Err(config_error(sink, "auth.iam_endpoint", "required when `region` is not set"));
                    }
                };
                ResolvedAuth::IamPassword { user, domain, password, iam_endpoint }
            }
            AuthConfig::Aksk { access_key, secret_key, secret_key_env } => {
                if access_key.is_empty() || !access_key.chars().all(|c| c.is_ascii_alphanumeric()) {
                    return Err(config_error(
                        sink,
                        "auth.access_key",
                        "must be a non-empty alphanumeric access key id",
                    ));
                }
                let secret_key = resolve_secret(sink, secret_key, secret_key_env, "secret_key", lookup)?;
                tracing::warn!(
                    sink,
                    "AK/SK signing of LTS log reporting is experimental: LTS documents X-Auth-Token only"
                );
                ResolvedAuth::Aksk { access_key, secret_key }
            }
        };

        Ok(Settings {
            base_url,
            contents_url,
            project_id: self.project_id,
            mode: self.mode,
            labels: self.labels,
            source_labels: self.source_labels,
            auth,
            compression: self.compression,
            http: self.http,
            delivery,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use logcrawl_core::ExposeSecret;

    const IDS: &str = r#"
        project_id = "0123456789abcdef0123456789abcdef"
        log_group_id = "11111111-2222-3333-4444-555555555555"
        log_stream_id = "66666666-7777-8888-9999-aaaaaaaaaaaa"
    "#;

    fn parse(extra: &str) -> Result<LtsConfig, ConfigError> {
        LtsConfig::from_table(&toml::from_str(&format!("{IDS}\n{extra}")).unwrap())
    }

    fn no_env(_: &str) -> Option<String> {
        None
    }

    fn settings(extra: &str) -> Result<Settings, ConfigError> {
        parse(extra).expect("parses").validate("main", &no_env)
    }

    fn err(extra: &str) -> ConfigError {
        settings(extra).expect_err("must be refused")
    }

    #[test]
    fn token_auth_with_region_and_defaults() {
        let s = settings("region = \"ap-southeast-1\"\nauth = { type = \"token\", token = \"t0k3n-value\" }").unwrap();
        assert_eq!(
            s.contents_url.as_str(),
            "https://lts-access.ap-southeast-1.myhuaweicloud.com/v2/0123456789abcdef0123456789abcdef/lts/groups/\
             11111111-2222-3333-4444-555555555555/streams/66666666-7777-8888-9999-aaaaaaaaaaaa/tenant/contents/high-accuracy"
        );
        assert_eq!(s.mode, Mode::HighPrecision);
        assert_eq!(s.delivery.batch_max_bytes, 512 * 1024);
        assert_eq!(s.delivery.batch_max_records, 4096);
        assert_eq!(s.http.retry_attempts, 5);
        assert_eq!(s.http, HTTP_DEFAULTS);
        assert!(matches!(s.auth, ResolvedAuth::Token(_)));
    }

    #[test]
    fn port_private_endpoint_and_batch_mode() {
        let s = settings(
            "region = \"cn-north-4\"\nport = 8102\nmode = \"batch\"\n[auth]\ntype = \"token\"\ntoken = \"abcd\"",
        )
        .unwrap();
        assert!(s.contents_url.as_str().starts_with("https://lts-access.cn-north-4.myhuaweicloud.com:8102/v2/"));
        assert!(s.contents_url.as_str().ends_with("/tenant/contents"));
        let s = settings("endpoint = \"https://100.125.12.150:8102\"\nauth = { type = \"token\", token = \"abcd\" }")
            .unwrap();
        assert!(s.contents_url.as_str().starts_with("https://100.125.12.150:8102/v2/0123"), "{}", s.contents_url);
        let e =
            err("endpoint = \"https://100.125.12.150\"\nport = 8102\nauth = { type = \"token\", token = \"abcd\" }");
        assert_eq!(e.key(), "port");
        assert_eq!(err("auth = { type = \"token\", token = \"abcd\" }").key(), "region");
    }

    #[test]
    fn iam_password_needs_an_endpoint_and_reads_env() {
        let lookup = |var: &str| (var == "LTS_PW").then(|| "pw-from-env".to_owned());
        let config = parse(
            "endpoint = \"http://127.0.0.1:9\"\n[auth]\ntype = \"iam_password\"\nuser = \"u\"\ndomain = \"d\"\npassword_env = \"LTS_PW\"",
        )
        .unwrap();
        let e = config.validate("main", &lookup).unwrap_err();
        assert_eq!(e.key(), "auth.iam_endpoint");
        let config = parse(
            "region = \"eu-west-101\"\n[auth]\ntype = \"iam_password\"\nuser = \"u\"\ndomain = \"d\"\npassword_env = \"LTS_PW\"",
        )
        .unwrap();
        let s = config.validate("main", &lookup).unwrap();
        let ResolvedAuth::IamPassword { password, iam_endpoint, .. } = s.auth else { panic!("iam") };
        assert_eq!(password.expose_secret(), "pw-from-env");
        assert_eq!(iam_endpoint.as_str(), "https://iam.eu-west-101.myhuaweicloud.com/");
        let e = err(
            "region = \"r\"\n[auth]\ntype = \"iam_password\"\nuser = \"u\"\ndomain = \"d\"\npassword_env = \"NOPE\"",
        );
        assert_eq!(e.key(), "auth.password_env");
        assert!(e.to_string().contains("NOPE"), "{e}");
    }

    #[test]
    fn secrets_exactly_once() {
        assert_eq!(err("region = \"r\"\nauth = { type = \"token\" }").key(), "auth.token");
        assert_eq!(
            err("region = \"r\"\nauth = { type = \"token\", token = \"a\", token_env = \"B\" }").key(),
            "auth.token"
        );
        assert_eq!(err("region = \"r\"\nauth = { type = \"aksk\", access_key = \"AK\" }").key(), "auth.secret_key");
        let s =
            settings("region = \"r\"\nauth = { type = \"aksk\", access_key = \"AK1\", secret_key = \"sk\" }").unwrap();
        assert!(matches!(s.auth, ResolvedAuth::Aksk { .. }));
    }

    #[test]
    fn unknown_keys_are_refused_everywhere() {
        let e = parse("region = \"r\"\nregoin = \"x\"\nauth = { type = \"token\", token = \"a\" }").unwrap_err();
        assert!(e.to_string().contains("regoin"), "{e}");
        let e = parse("region = \"r\"\nauth = { type = \"token\", token = \"a\", tokn = \"b\" }").unwrap_err();
        assert!(e.to_string().contains("tokn"), "{e}");
        let e =
            parse("region = \"r\"\nretry_max_attempts = 2\nauth = { type = \"token\", token = \"a\" }").unwrap_err();
        assert_eq!(e.key(), "retry_max_attempts", "Datadog's old spelling is not LTS's: {e}");
        let e = parse("region = \"r\"\nauth = { type = \"kerberos\" }").unwrap_err();
        assert!(e.to_string().contains("kerberos"), "{e}");
    }

    #[test]
    fn labels_are_validated_by_name() {
        let base = "region = \"r\"\nauth = { type = \"token\", token = \"abcd\" }\n[labels]\n";
        let e = err(&format!("{base}hostName = \"x\""));
        assert_eq!(e.key(), "labels.hostName");
        assert!(e.to_string().contains("reserved"), "{e}");
        assert_eq!(err(&format!("{base}HOSTNAME = \"x\"")).key(), "labels.HOSTNAME");
        assert_eq!(err(&format!("{base}\"1abc\" = \"x\"")).key(), "labels.1abc");
        assert_eq!(err(&format!("{base}\"a-b\" = \"x\"")).key(), "labels.a-b");
        assert_eq!(err(&format!("{base}a__b = \"x\"")).key(), "labels.a__b");
        let long = "k".repeat(65);
        assert_eq!(err(&format!("{base}{long} = \"x\"")).key(), format!("labels.{long}"));
        assert!(settings(&format!("{base}env = \"prod\"\nteam_1 = \"sec\"")).is_ok());
        let many: String = (0..99).map(|i| format!("l{i} = \"v\"\n")).collect();
        let e = err(&format!("{base}{many}"));
        assert_eq!(e.key(), "labels");
        assert!(e.to_string().contains("100"), "{e}");
        // Without the two source labels, 99 fit.
        assert!(settings(&format!("source_labels = false\n{base}{many}")).is_ok());
    }

    #[test]
    fn ids_and_limits() {
        let config = |ids: &str| -> Result<Settings, ConfigError> {
            LtsConfig::from_table(
                &toml::from_str(&format!("{ids}\nregion = \"r\"\nauth = {{ type = \"token\", token = \"abcd\" }}"))
                    .unwrap(),
            )
            .unwrap()
            .validate("main", &no_env)
        };
        let e = config("project_id = \"a/b\"\nlog_group_id = \"g\"\nlog_stream_id = \"s\"").unwrap_err();
        assert_eq!(e.key(), "project_id");
        // Unexpected lengths are only warned about.
        assert!(config("project_id = \"p\"\nlog_group_id = \"g\"\nlog_stream_id = \"s\"").is_ok());
        let e = err(
            "region = \"r\"\nmode = \"batch\"\ncompression = \"gzip\"\nauth = { type = \"token\", token = \"abcd\" }",
        );
        assert_eq!(e.key(), "compression");
        let e = err("region = \"r\"\nbatch_max_bytes = 10\nauth = { type = \"token\", token = \"abcd\" }");
        assert_eq!(e.key(), "batch_max_bytes");
        let e = parse("region = \"r\"\nretry_attempts = 0\nauth = { type = \"token\", token = \"abcd\" }").unwrap_err();
        assert_eq!(e.key(), "retry_attempts");
        let e = err("region = \"r\"\nmax_in_flight = 65\nauth = { type = \"token\", token = \"abcd\" }");
        assert_eq!(e.key(), "max_in_flight");
        let e = parse("region = \"r\"\nlinger = 1\nauth = { type = \"token\", token = \"abcd\" }").unwrap_err();
        assert_eq!(e.key(), "linger");
        let e = err("region = \"R!\"\nauth = { type = \"token\", token = \"abcd\" }");
        assert_eq!(e.key(), "region");
        let e = parse("region = \"r\"\ntimeout = \"soon\"\nauth = { type = \"token\", token = \"abcd\" }").unwrap_err();
        assert_eq!(e.key(), "timeout");
        assert!(e.to_string().contains("soon"), "{e}");
    }

    #[test]
    fn config_errors_never_show_secrets() {
        let e = err("region = \"r\"\nauth = { type = \"token\", token = \"   \" }");
        assert_eq!(e.key(), "auth.token");
        let config = parse("region = \"r\"\nauth = { type = \"token\", token = \"super-secret-token\" }").unwrap();
        assert!(!format!("{config:?}").contains("super-secret-token"));
    }
}
