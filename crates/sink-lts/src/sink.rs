//! [`LtsSink`]: batching into requests, sending, classifying LTS's answers.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use futures::future::BoxFuture;
use logcrawl_core::deadletter::DeadLetterFile;
use logcrawl_core::{
    Batch, BatchLimits, BuildContext, Delivery, ExposeSecret, SecretString, Sink, SinkError, SourceMeta,
};
use logcrawl_http::header::{AUTHORIZATION, CONTENT_ENCODING, CONTENT_TYPE, HeaderName, HeaderValue};
use logcrawl_http::{
    Auth, HttpClient, HttpConfig, RequestSpec, Response, RetryPolicy, StaticAuth, StatusCode, Url, redact_url,
    retry_after, scrub,
};
use logcrawl_sink_util::{Courier, Delivered, Driver, LongServerWait, Refusals, Verdict};
use serde_json::Value;

use crate::config::{Compression, ConfigError, LtsConfig, Mode, ResolvedAuth, Settings, config_error};
use crate::encode::{self, Entry};
use crate::iam::{IamTokenAuth, X_AUTH_TOKEN};
use crate::signer;

/// The `errorCode` of a successful report.
pub const SUCCESS_CODE: &str = "SVCSTG.ALS.200.200";

/// The `Content-Type` LTS requires, byte for byte.
pub const CONTENT_TYPE_JSON: &str = "application/json;charset=UTF-8";

/// How far from now a record's time may be: LTS does not store logs older or newer than 24 h.
pub const TIME_WINDOW: Duration = Duration::from_secs(24 * 3600);

const X_SDK_DATE: HeaderName = HeaderName::from_static("x-sdk-date");
const X_PROJECT_ID: HeaderName = HeaderName::from_static("x-project-id");

/// The Huawei Cloud Log Tank Service sink. See the crate documentation.
#[derive(Debug)]
pub struct LtsSink {
    name: String,
    settings: Settings,
    client: HttpClient,
    /// The token scheme, for [`Auth::invalidate`] after a 401; `None` with AK/SK signing.
    auth: Option<Arc<dyn Auth>>,
    /// Whether the backend accepts this sink's requests, and where records it refuses alone are kept
    /// ([`LtsSink::with_dead_letters`]).
    refusals: Refusals,
}

impl LtsSink {
    /// Builds the sink `context.name` from its configuration, reading `*_env` secrets from the process
    /// environment, and keeping refused records in the context's dead-letter file when it has a state
    /// directory. Nothing is sent until the first batch.
    pub fn new(config: LtsConfig, context: &BuildContext) -> Result<Self, ConfigError> {
        Self::with_env_lookup(config, context, |var| std::env::var(var).ok())
    }

    /// Like [`LtsSink::new`], resolving `*_env` secrets through `lookup` instead of the process environment.
    pub fn with_env_lookup(
        config: LtsConfig,
        context: &BuildContext,
        lookup: impl Fn(&str) -> Option<String>,
    ) -> Result<Self, ConfigError> {
        let name = context.name.as_str();
        let settings = config.validate(name, &lookup)?;
        let http = HttpConfig::with_settings(settings.base_url.clone(), &settings.http)
            .map_err(|err| config_error(name, err.key().to_owned(), err.message()))?;
        let client = HttpClient::new(http).map_err(|err| config_error(name, "endpoint", err.to_string()))?;
        let (client, auth): (HttpClient, Option<Arc<dyn Auth>>) = match &settings.auth {
            ResolvedAuth::Token(token) => {
                let auth: Arc<dyn Auth> = Arc::new(StaticAuth::new(X_AUTH_TOKEN, "", token.clone()));
                (client.with_auth(auth.clone()), Some(auth))
            }
            ResolvedAuth::IamPassword { user, domain, password, iam_endpoint } => {
                let mut iam = HttpConfig::new(iam_endpoint.clone());
                iam.timeout = settings.http.timeout;
                let iam_client =
                    HttpClient::new(iam).map_err(|err| config_error(name, "auth.iam_endpoint", err.to_string()))?;
                let auth: Arc<dyn Auth> = Arc::new(IamTokenAuth::new(
                    iam_client,
                    user.clone(),
                    domain.clone(),
                    password.clone(),
                    settings.project_id.clone(),
                ));
                (client.with_auth(auth.clone()), Some(auth))
            }
            ResolvedAuth::Aksk { .. } => (client, None),
        };
        let refusals = Refusals {
            dead_letters: context.dead_letter_file(settings.delivery.dead_letter_max_bytes),
            ..Refusals::default()
        };
        Ok(Self { name: name.to_owned(), settings, client, auth, refusals })
    }

    /// Keeps records LTS refuses on their own (while accepting others) in `file` instead of failing the
    /// delivery. Without a file such a refusal fails the send: no record is ever dropped.
    #[must_use]
    pub fn with_dead_letters(mut self, file: DeadLetterFile) -> Self {
        self.refusals.dead_letters = Some(file);
        self
    }

    /// The URL records are posted to.
    pub fn url(&self) -> &Url {
        &self.settings.contents_url
    }

    /// The reporting mode.
    pub fn mode(&self) -> Mode {
        self.settings.mode
    }

    /// The labels of a batch from `source`: `source`/`service` (when enabled), then the configured labels.
    pub fn labels_for(&self, source: &SourceMeta) -> BTreeMap<String, String> {
        let mut labels = BTreeMap::new();
        if self.settings.source_labels {
            for (key, value) in [("source", &source.ddsource), ("service", &source.service)] {
                if !value.is_empty() {
                    let value: String = value.chars().take(crate::config::MAX_LABEL_VALUE_LEN).collect();
                    labels.insert(key.to_owned(), value);
                }
            }
        }
        labels.extend(self.settings.labels.iter().map(|(k, v)| (k.clone(), v.clone())));
        labels
    }

    fn secrets(&self) -> Vec<&str> {
        match &self.settings.auth {
            ResolvedAuth::Token(token) => vec![token.expose_secret()],
            ResolvedAuth::IamPassword { password, .. } => vec![password.expose_secret()],
            ResolvedAuth::Aksk { secret_key, .. } => vec![secret_key.expose_secret()],
        }
    }

    fn scrub(&self, text: &str) -> String {
        scrub(text, &self.secrets())
    }

    async fn deliver(&self, mut batch: Batch) -> Result<Delivery, SinkError> {
        let mode = self.settings.mode;
        let now = now_ns();
        let labels_json = encode::labels_json(&self.labels_for(&batch.source));
        let mut delivery = Delivery::default();
        let mut entries: Vec<Entry> = Vec::with_capacity(batch.records.len());
        for record in &batch.records {
            let time_ns = encode::record_time_ns(&record.data, now);
            if encode::in_window(time_ns, now) {
                entries.push(encode::entry(mode, time_ns, &encode::log_line(record)));
            } else {
                delivery.dropped += 1;
            }
        }
        // The entries are all that is sent from here on: let the crawler cut the next batch meanwhile.
        drop(std::mem::take(&mut batch.records));
        drop(std::mem::take(&mut batch.hold));
        if delivery.dropped > 0 {
            tracing::warn!(sink = %self.name, stream = %batch.stream, skipped = delivery.dropped,
                "records more than 24 h from now dropped: LTS does not store them");
        }
        let peer = format!("LTS ({})", redact_url(&self.settings.contents_url));
        let driver = Driver {
            sink: &self.name,
            peer: &peer,
            stream: &batch.stream,
            retry: RetryPolicy::from(&self.settings.http),
            long_wait: LongServerWait::WaitAtMost(self.settings.http.max_retry_wait),
            budget: self.client.budget(),
            refusals: &self.refusals,
        };
        let contents = Contents { sink: self, labels_json: &labels_json };
        let mut total = Delivered::default();
        for range in encode::chunks(
            &entries,
            &labels_json,
            self.settings.delivery.batch_max_bytes,
            self.settings.delivery.batch_max_records,
        ) {
            total += driver.deliver(&contents, contents.part(&entries[range])).await?;
        }
        delivery += total.into();
        Ok(delivery)
    }

    /// The request of one attempt (AK/SK signatures carry the attempt's time).
    fn request(&self, payload: &Bytes, gzip: bool) -> Result<RequestSpec, SinkError> {
        let url = &self.settings.contents_url;
        let mut request = RequestSpec::post(url.clone(), payload.clone())
            .header(CONTENT_TYPE, HeaderValue::from_static(CONTENT_TYPE_JSON));
        if gzip {
            request = request.header(CONTENT_ENCODING, HeaderValue::from_static("gzip"));
        }
        if let ResolvedAuth::Aksk { access_key, secret_key } = &self.settings.auth {
            request = self.sign(request, access_key, secret_key)?;
        }
        Ok(request)
    }

    fn sign(
        &self,
        mut request: RequestSpec,
        access_key: &str,
        secret_key: &SecretString,
    ) -> Result<RequestSpec, SinkError> {
        let date = signer::sdk_date(jiff::Timestamp::now());
        let header_value = |text: &str| {
            HeaderValue::from_str(text).map_err(|_| SinkError::fatal("a signed header value is not a valid header"))
        };
        request.headers.insert(X_SDK_DATE, header_value(&date)?);
        request.headers.insert(X_PROJECT_ID, header_value(&self.settings.project_id)?);
        let url = &request.url;
        let host = match url.port() {
            Some(port) => format!("{}:{port}", url.host_str().unwrap_or_default()),
            None => url.host_str().unwrap_or_default().to_owned(),
        };
        let mut signed: Vec<(String, String)> = request
            .headers
            .iter()
            .filter_map(|(name, value)| Some((name.as_str().to_owned(), value.to_str().ok()?.to_owned())))
            .collect();
        signed.push(("host".to_owned(), host));
        let path = percent_encoding::percent_decode_str(url.path()).decode_utf8_lossy().into_owned();
        let query: Vec<(String, String)> = url.query_pairs().map(|(k, v)| (k.into_owned(), v.into_owned())).collect();
        let body = request.body.as_deref().unwrap_or_default();
        let input = signer::SigningInput {
            method: request.method.as_str(),
            path: &path,
            query: &query,
            headers: &signed,
            body,
        };
        let authorization = signer::authorization(access_key, secret_key.expose_secret(), &date, &input);
        let mut value = header_value(&authorization)?;
        value.set_sensitive(true);
        request.headers.insert(AUTHORIZATION, value);
        Ok(request)
    }

    /// What a response means for the request.
    fn classify(&self, response: &Response) -> Verdict {
        let status = response.status;
        if status.is_success() {
            // Only LTS's own answer counts as a delivery: a proxy's or captive portal's 200 (HTML, empty,
            // other JSON) must not get a batch acknowledged and its cursor committed.
            let body: Option<Value> = serde_json::from_slice(&response.body).ok();
            let code = body.as_ref().and_then(|b| b.get("errorCode")).and_then(Value::as_str);
            return match code {
                Some(SUCCESS_CODE) => Verdict::Accepted,
                Some(_) => Verdict::Retry {
                    after: None,
                    last: format!(
                        "{} (a 2xx whose errorCode is not {SUCCESS_CODE}: not taken as delivered)",
                        self.describe(response)
                    ),
                },
                None => Verdict::Retry {
                    after: None,
                    last: format!(
                        "{} (a 2xx that is not LTS's JSON answer with errorCode {SUCCESS_CODE}: not taken as delivered; \
                         is a proxy answering in LTS's place?)",
                        self.describe(response)
                    ),
                },
            };
        }
        match status {
            StatusCode::BAD_REQUEST => Verdict::Bisect(self.describe(response)),
            StatusCode::PAYLOAD_TOO_LARGE => Verdict::Split(self.describe(response)),
            // With an IAM password the driver fetches a new token once before this counts.
            StatusCode::UNAUTHORIZED => Verdict::Unauthorized(self.describe_fatal(response)),
            StatusCode::REQUEST_TIMEOUT | StatusCode::TOO_MANY_REQUESTS => {
                Verdict::Retry { after: retry_after(&response.headers), last: self.describe(response) }
            }
            status if status.is_server_error() => {
                Verdict::Retry { after: retry_after(&response.headers), last: self.describe(response) }
            }
            status if status.is_client_error() => Verdict::Fatal(self.describe_fatal(response)),
            _ => Verdict::Retry { after: None, last: self.describe(response) },
        }
    }

    /// `HTTP 401 (errorCode SVCSTG.ALS.403.105: Project id is invalid.)`, secrets scrubbed.
    fn describe(&self, response: &Response) -> String {
        let parsed: Option<Value> = serde_json::from_slice(&response.body).ok();
        let field = |key: &str| parsed.as_ref().and_then(|b| b.get(key)).and_then(Value::as_str).map(str::to_owned);
        let detail = match (field("errorCode"), field("error_msg").or_else(|| field("result"))) {
            (Some(code), Some(msg)) => format!(" (errorCode {code}: {msg})"),
            (Some(code), None) => format!(" (errorCode {code})"),
            (None, Some(msg)) => format!(" ({msg})"),
            (None, None) => {
                let excerpt = response.excerpt();
                if excerpt.is_empty() { String::new() } else { format!(" ({excerpt})") }
            }
        };
        self.scrub(&format!("HTTP {}{detail}", response.status.as_u16()))
    }

    fn describe_fatal(&self, response: &Response) -> String {
        let hint = match response.status {
            StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN => match &self.settings.auth {
                ResolvedAuth::Token(_) => {
                    "the token is invalid, expired or lacks LTS permissions, or project_id is wrong"
                }
                ResolvedAuth::IamPassword { .. } => {
                    "a freshly obtained IAM token was refused: check the user's LTS permissions and project_id"
                }
                ResolvedAuth::Aksk { .. } => {
                    "the AK/SK signature was refused (AK/SK signing is experimental; LTS documents X-Auth-Token)"
                }
            },
            StatusCode::NOT_FOUND => "check project_id, log_group_id and log_stream_id",
            _ => "the request is not one LTS accepts; check the configuration",
        };
        format!("LTS refused the request to {}: {}; {hint}", self.settings.contents_url, self.describe(response))
    }
}

/// One request to LTS: its records and its encoded body.
struct Part<'a> {
    entries: &'a [Entry],
    body: Bytes,
    /// The body's length before compression.
    raw: usize,
}

/// The sink's side of [`Driver::deliver`] for the records of one batch.
struct Contents<'a> {
    sink: &'a LtsSink,
    labels_json: &'a str,
}

impl<'a> Contents<'a> {
    /// `entries` as a request (encoded and compressed once, sent as often as needed).
    fn part(&self, entries: &'a [Entry]) -> Part<'a> {
        let json = encode::body(self.sink.settings.mode, entries, self.labels_json);
        let raw = json.len();
        let body = Bytes::from(if self.gzip() { encode::gzip(&json) } else { json });
        Part { entries, body, raw }
    }

    fn gzip(&self) -> bool {
        self.sink.settings.compression == Compression::Gzip
    }
}

impl<'a> Courier for Contents<'a> {
    type Request = Part<'a>;

    fn entries(&self, part: &Part<'a>) -> usize {
        part.entries.len()
    }

    fn payload_bytes(&self, part: &Part<'a>) -> Option<(usize, usize)> {
        Some((part.raw, part.body.len()))
    }

    async fn attempt(&self, part: &Part<'a>) -> Verdict {
        let sink = self.sink;
        let request = match sink.request(&part.body, self.gzip()) {
            Ok(request) => request,
            Err(err) => return Verdict::Fatal(sink.scrub(&err.to_string())),
        };
        match sink.client.send_once(&request).await {
            Ok(response) => sink.classify(&response),
            Err(err) if err.is_fatal() => Verdict::Fatal(sink.scrub(&err.to_string())),
            Err(err) => Verdict::Retry { after: None, last: sink.scrub(&err.to_string()) },
        }
    }

    async fn halves(&self, part: Part<'a>) -> Result<(Part<'a>, Part<'a>), SinkError> {
        let (first, second) = part.entries.split_at(part.entries.len() / 2);
        Ok((self.part(first), self.part(second)))
    }

    /// The record's time and size, not its content.
    fn excerpt(&self, part: &Part<'a>) -> String {
        part.entries
            .first()
            .map_or_else(String::new, |entry| format!("log_time_ns {} ({} bytes)", entry.time_ns, entry.fragment.len()))
    }

    /// The entry's JSON fragment: an object in high-precision mode, a string in batch mode.
    fn entry(&self, part: &Part<'a>) -> Vec<u8> {
        part.entries.first().map_or_else(Vec::new, |entry| entry.fragment.clone().into_bytes())
    }

    fn refresh_credentials(&self) -> bool {
        self.sink.auth.as_ref().is_some_and(|auth| auth.invalidate())
    }
}

fn now_ns() -> i64 {
    i64::try_from(jiff::Timestamp::now().as_nanosecond()).unwrap_or(i64::MAX)
}

impl Sink for LtsSink {
    fn name(&self) -> &str {
        &self.name
    }

    fn max_age(&self) -> Option<Duration> {
        Some(TIME_WINDOW)
    }

    fn max_future(&self) -> Option<Duration> {
        Some(TIME_WINDOW)
    }

    fn batch_limits(&self) -> BatchLimits {
        self.settings.delivery.batch_limits()
    }

    fn max_in_flight(&self) -> usize {
        self.settings.delivery.max_in_flight
    }

    fn send(&self, batch: Batch) -> BoxFuture<'_, Result<Delivery, SinkError>> {
        Box::pin(self.deliver(batch))
    }
}
