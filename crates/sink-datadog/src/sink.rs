//! [`DatadogSink`]: validated configuration, the HTTP client, and the status → action rules.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use futures::future::BoxFuture;
use futures::{StreamExt, TryStreamExt, stream};
use logcrawl_core::deadletter::DeadLetterFile;
use logcrawl_core::{
    Batch, BatchLimits, BuildContext, Delivery, ExposeSecret, SecretString, Sink, SinkError, now_seconds,
};
use logcrawl_http::header::{CONTENT_ENCODING, CONTENT_TYPE, HeaderName, HeaderValue};
use logcrawl_http::{
    HttpClient, HttpConfig, HttpError, RequestSpec, Response, RetryPolicy, StaticAuth, StatusCode, Url, redact_url,
    retry_after, scrub,
};
use logcrawl_sink_util::{Courier, Delivered, DeliveryBounds, Driver, LongServerWait, Refusals, Verdict};

use crate::config::{
    Compression, ConfigError, DatadogConfig, MAX_AGE, MAX_BATCH_BYTES, MAX_BATCH_RECORDS, MAX_FUTURE, MAX_LOG_BYTES,
    MIN_LOG_BYTES, config_error, endpoint_url, intake_url, resolve_api_key,
};
use crate::encode::{Common, EncodeLimits, encode};
use crate::payload::{Codec, Packed, Payload};

/// Payloads at least this large are compressed on the blocking pool rather than on an async worker.
const BLOCKING_COMPRESS_BYTES: usize = 64 * 1024;

/// A Datadog Logs intake sink (`POST /api/v2/logs`). See the crate documentation.
pub struct DatadogSink {
    name: String,
    inner: Arc<Inner>,
    /// Whether the intake accepts this sink's requests, and where entries it refuses alone are kept
    /// ([`DatadogSink::with_dead_letters`]).
    refusals: Refusals,
}

struct Inner {
    client: HttpClient,
    url: Url,
    /// `site datadoghq.eu` or `endpoint http://…`, for messages.
    target: String,
    key: SecretString,
    codec: Codec,
    retry: RetryPolicy,
    /// What a `Retry-After` longer than `max_retry_wait` does: gives the send up.
    long_wait: LongServerWait,
    limits: EncodeLimits,
    batch: BatchLimits,
    max_in_flight: usize,
    hostname: Option<String>,
    tag_attributes: bool,
}

impl fmt::Debug for DatadogSink {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DatadogSink")
            .field("name", &self.name)
            .field("url", &self.inner.url.as_str())
            .field("codec", &self.inner.codec)
            .field("max_in_flight", &self.inner.max_in_flight)
            .finish_non_exhaustive()
    }
}

impl DatadogSink {
    /// Validates `config` and builds the sink named `context.name` (the `[sinks.NAME]` key), keeping
    /// refused entries in the context's dead-letter file when it has a state directory.
    ///
    /// The API key comes from `api_key`, or from the `DD_API_KEY` environment variable when the key is
    /// absent from the configuration.
    pub fn new(config: DatadogConfig, context: &BuildContext) -> Result<Self, ConfigError> {
        Self::with_env(config, context, |var| std::env::var(var).ok())
    }

    fn with_env(
        config: DatadogConfig,
        context: &BuildContext,
        env: impl FnOnce(&str) -> Option<String>,
    ) -> Result<Self, ConfigError> {
        let name = context.name.as_str();
        let err = |key, message: String| config_error(name, key, message);
        let (url, target) = match &config.endpoint {
            Some(endpoint) => {
                let url = endpoint_url(endpoint).map_err(|m| err("endpoint", m))?;
                let target = format!("endpoint {}", redact_url(&url));
                (url, target)
            }
            None => {
                let url = intake_url(&config.site).map_err(|m| err("site", m))?;
                (url, format!("site {}", config.site.trim().to_ascii_lowercase()))
            }
        };
        if url.scheme() == "http" && !is_loopback(&url) {
            tracing::warn!(sink = name, url = %redact_url(&url), "the Datadog endpoint is plain http: the API key travels unencrypted");
        }
        let key = resolve_api_key(config.api_key.as_ref(), env)
            .ok_or_else(|| err("api_key", "missing: set `api_key` or the DD_API_KEY environment variable".into()))?;
        let auth = StaticAuth::new(HeaderName::from_static("dd-api-key"), "", key.clone());
        if HeaderValue::from_str(key.expose_secret()).is_err() {
            return Err(err("api_key", "contains characters not allowed in an HTTP header".into()));
        }
        let level = config.compression_level.unwrap_or(config.compression.default_level());
        let levels = config.compression.levels();
        if !levels.contains(&level) {
            let name = format!("{:?}", config.compression).to_lowercase();
            return Err(err(
                "compression_level",
                format!("{level} is not in {}-{} (the levels of {name})", levels.start(), levels.end()),
            ));
        }
        if !(MIN_LOG_BYTES..=MAX_LOG_BYTES).contains(&config.max_log_bytes) {
            return Err(err(
                "max_log_bytes",
                format!("{} is not in {MIN_LOG_BYTES}-{MAX_LOG_BYTES} (the intake's limit)", config.max_log_bytes),
            ));
        }
        if config.delivery.batch_max_bytes < config.max_log_bytes + 2 {
            return Err(err(
                "batch_max_bytes",
                format!(
                    "{} must be at least max_log_bytes + 2 ({}): a request must hold the longest entry",
                    config.delivery.batch_max_bytes,
                    config.max_log_bytes + 2
                ),
            ));
        }
        let bounds = DeliveryBounds {
            records: 1..=MAX_BATCH_RECORDS,
            bytes: 1..=MAX_BATCH_BYTES,
            in_flight: 1..=256,
            why: "the intake's limit",
        };
        let delivery =
            bounds.check(config.delivery).map_err(|e| config_error(name, e.key().to_owned(), e.message()))?;
        let hostname = config.hostname.as_deref().map(str::trim).filter(|h| !h.is_empty()).map(str::to_owned);

        let mut http = HttpConfig::with_settings(url.clone(), &config.http)
            .map_err(|e| config_error(name, e.key().to_owned(), e.message()))?;
        http.connect_timeout = config.http.timeout.min(Duration::from_secs(10));
        let client = HttpClient::new(http)
            .map_err(|e| err("endpoint", scrub(&e.to_string(), &[key.expose_secret()])))?
            .with_auth(Arc::new(auth));
        let inner = Inner {
            client,
            url,
            target,
            key,
            codec: match config.compression {
                Compression::Gzip => Codec::Gzip(level),
                Compression::Zstd => Codec::Zstd(i32::try_from(level).expect("checked to be 1-22")),
                Compression::None => Codec::Identity,
            },
            retry: RetryPolicy::from(&config.http),
            long_wait: LongServerWait::GiveUpAbove(config.http.max_retry_wait),
            limits: EncodeLimits {
                max_records: delivery.batch_max_records,
                max_bytes: delivery.batch_max_bytes,
                max_log_bytes: config.max_log_bytes,
                max_age: MAX_AGE,
                max_future: MAX_FUTURE,
            },
            batch: delivery.batch_limits(),
            max_in_flight: delivery.max_in_flight,
            hostname,
            tag_attributes: config.tag_attributes,
        };
        let refusals =
            Refusals { dead_letters: context.dead_letter_file(delivery.dead_letter_max_bytes), ..Refusals::default() };
        Ok(Self { name: name.to_owned(), inner: Arc::new(inner), refusals })
    }

    /// Keeps entries the intake refuses on their own (while accepting others) in `file` instead of failing
    /// the delivery. Without a file such a refusal fails the send: no record is ever dropped.
    #[must_use]
    pub fn with_dead_letters(mut self, file: DeadLetterFile) -> Self {
        self.refusals.dead_letters = Some(file);
        self
    }

    /// The intake URL requests go to.
    pub fn url(&self) -> &Url {
        &self.inner.url
    }

    /// The request bodies (compressed as configured) that [`Sink::send`] would post for `batch`, without
    /// sending anything: for benchmarks of the encoding and for dry runs. Records the sink would drop are
    /// left out, as `send` leaves them out.
    pub fn encode_bodies(&self, batch: Batch) -> std::io::Result<Vec<Bytes>> {
        let Batch { source, records, .. } = batch;
        let common = Common::new(&source, self.inner.hostname.as_deref(), self.inner.tag_attributes);
        let encoded = encode(records, &common, &self.inner.limits, now_seconds(), self.inner.codec)?;
        Ok(encoded.payloads.iter().map(|packed| packed.body().clone()).collect())
    }

    async fn send_batch(&self, batch: Batch) -> Result<Delivery, SinkError> {
        let inner = self.inner.clone();
        let total = batch.records.len();
        let Batch { source, stream, records, hold } = batch;
        let common = Common::new(&source, inner.hostname.as_deref(), inner.tag_attributes);
        let limits = inner.limits;
        let codec = inner.codec;
        // Serializing and compressing ~4 MB is milliseconds of CPU: keep it off the async workers. Once the
        // records are encoded, the crawler may cut the next batch while this one waits for the intake.
        let encoded = tokio::task::spawn_blocking(move || {
            let encoded = encode(records, &common, &limits, now_seconds(), codec);
            drop(hold);
            encoded
        })
        .await
        .map_err(|join| SinkError::retryable(format!("sink {}: encoding the batch failed: {join}", self.name)))?
        .map_err(|e| SinkError::retryable(format!("sink {}: compressing failed: {e}", self.name)))?;

        let dropped = encoded.dropped;
        if dropped.total() > 0 {
            tracing::warn!(
                sink = %self.name, source = %source.name, stream = %stream,
                without_message = dropped.no_message, older_than_18h = dropped.too_old,
                more_than_2h_ahead = dropped.too_new, too_large = dropped.too_large,
                "records not sent to Datadog"
            );
        }
        if encoded.truncated > 0 {
            tracing::info!(sink = %self.name, stream = %stream, count = encoded.truncated, limit = limits.max_log_bytes,
                "log entries over the size limit had their message cut (marked logcrawl.truncated)");
        }
        let mut delivery = Delivery { dropped: dropped.total(), ..Delivery::default() };
        let peer = format!("the Datadog intake ({})", inner.target);
        let driver = Driver {
            sink: &self.name,
            peer: &peer,
            stream: &stream,
            retry: inner.retry,
            long_wait: inner.long_wait,
            budget: inner.client.budget(),
            refusals: &self.refusals,
        };
        let intake = Intake { sink: self };
        let sent: Delivered = stream::iter(encoded.payloads)
            .map(|packed| driver.deliver(&intake, packed))
            .buffer_unordered(inner.max_in_flight)
            .try_fold(Delivered::default(), |mut sum, one| async move {
                sum += one;
                Ok(sum)
            })
            .await?;
        delivery += sent.into();
        debug_assert_eq!(delivery.total(), total);
        Ok(delivery)
    }

    fn classify(&self, response: &Response) -> Verdict {
        let status = response.status;
        let body = || {
            let excerpt = self.scrub(&response.excerpt());
            if excerpt.is_empty() { String::new() } else { format!(": {excerpt}") }
        };
        match status {
            s if s.is_success() => Verdict::Accepted,
            StatusCode::BAD_REQUEST => Verdict::Bisect(format!("HTTP 400{}", body())),
            StatusCode::PAYLOAD_TOO_LARGE => Verdict::Split(format!("HTTP 413{}", body())),
            StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN => Verdict::Fatal(format!(
                "sink {}: the Datadog intake at {} ({}) rejected the API key with HTTP {}{}; check `api_key` (or \
                 DD_API_KEY) is an API key of this site's organisation (no application key is needed)",
                self.name,
                redact_url(&self.inner.url),
                self.inner.target,
                status.as_u16(),
                body()
            )),
            // The endpoint is not an intake (a wrong `endpoint` path, a proxy in the way): retrying cannot
            // help, and retrying for ever would hide the mistake.
            StatusCode::NOT_FOUND | StatusCode::METHOD_NOT_ALLOWED | StatusCode::UNSUPPORTED_MEDIA_TYPE => {
                Verdict::Fatal(format!(
                    "sink {}: {} ({}) answered HTTP {}{}: that URL does not take logs; check `site`/`endpoint` (an \
                     endpoint is the intake's origin, logcrawl adds /api/v2/logs) and any proxy in between",
                    self.name,
                    redact_url(&self.inner.url),
                    self.inner.target,
                    status.as_u16(),
                    body()
                ))
            }
            _ => Verdict::Retry {
                after: retry_after(&response.headers),
                last: format!("{} answered HTTP {}{}", redact_url(&self.inner.url), status.as_u16(), body()),
            },
        }
    }

    /// The payload a request was made of, rebuilt from its body.
    fn open(&self, packed: &Packed) -> Result<Payload, SinkError> {
        packed
            .open()
            .map_err(|e| SinkError::retryable(format!("sink {}: reopening a request body failed: {e}", self.name)))
    }

    /// A payload (a half of a split one) as a request body.
    async fn pack(&self, payload: Payload) -> Result<Packed, SinkError> {
        let codec = self.inner.codec;
        let result = if codec != Codec::Identity && payload.json().len() >= BLOCKING_COMPRESS_BYTES {
            tokio::task::spawn_blocking(move || payload.pack(codec))
                .await
                .map_err(|join| SinkError::retryable(format!("sink {}: compression task failed: {join}", self.name)))?
        } else {
            payload.pack(codec)
        };
        result.map_err(|e| SinkError::retryable(format!("sink {}: compressing failed: {e}", self.name)))
    }

    fn scrub(&self, text: &str) -> String {
        scrub(text, &[self.inner.key.expose_secret()])
    }
}

/// The sink's side of [`Driver::deliver`]: one request of the intake, its answer, its halves.
struct Intake<'a> {
    sink: &'a DatadogSink,
}

impl Courier for Intake<'_> {
    /// Only the wire body is kept while a request is out (compressed, a tenth of the JSON or less); the JSON is
    /// rebuilt from it in the rare case that the intake asks for a split or a bisection.
    type Request = Packed;

    fn entries(&self, packed: &Packed) -> usize {
        packed.len()
    }

    fn payload_bytes(&self, packed: &Packed) -> Option<(usize, usize)> {
        Some((packed.json_len(), packed.body().len()))
    }

    async fn attempt(&self, packed: &Packed) -> Verdict {
        let sink = self.sink;
        let mut request = RequestSpec::post(sink.inner.url.clone(), packed.body().clone())
            .header(CONTENT_TYPE, HeaderValue::from_static("application/json"));
        if let Some(encoding) = packed.codec().content_encoding() {
            request = request.header(CONTENT_ENCODING, HeaderValue::from_static(encoding));
        }
        match sink.inner.client.send_once(&request).await {
            Ok(response) => sink.classify(&response),
            Err(err @ (HttpError::OffOrigin { .. } | HttpError::InvalidUrl { .. } | HttpError::Auth(_))) => {
                Verdict::Fatal(sink.scrub(&format!("sink {}: {err}", sink.name)))
            }
            // Never followed (a 301/302/303 would make the POST a bodiless GET): a failed send, whose
            // message names where the intake was redirected to.
            Err(err @ HttpError::Redirected { .. }) => {
                Verdict::Retry { after: None, last: sink.scrub(&format!("sink {}: {err}", sink.name)) }
            }
            Err(err) => Verdict::Retry { after: None, last: sink.scrub(&err.to_string()) },
        }
    }

    async fn halves(&self, packed: Packed) -> Result<(Packed, Packed), SinkError> {
        let (left, right) = self.sink.open(&packed)?.halves();
        drop(packed);
        Ok((self.sink.pack(left).await?, self.sink.pack(right).await?))
    }

    fn excerpt(&self, packed: &Packed) -> String {
        match packed.open() {
            Ok(payload) => payload.excerpt(0),
            Err(e) => format!("(the request body could not be reopened: {e})"),
        }
    }

    fn entry(&self, packed: &Packed) -> Vec<u8> {
        match packed.open() {
            Ok(payload) => payload.entry(0).to_vec(),
            Err(e) => format!("(the request body could not be reopened: {e})").into_bytes(),
        }
    }
}

fn is_loopback(url: &Url) -> bool {
    match url.host() {
        Some(url::Host::Domain(domain)) => domain.eq_ignore_ascii_case("localhost"),
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        None => false,
    }
}

impl Sink for DatadogSink {
    fn name(&self) -> &str {
        &self.name
    }

    fn max_age(&self) -> Option<Duration> {
        Some(MAX_AGE)
    }

    fn max_future(&self) -> Option<Duration> {
        Some(MAX_FUTURE)
    }

    fn batch_limits(&self) -> BatchLimits {
        self.inner.batch
    }

    fn max_in_flight(&self) -> usize {
        self.inner.max_in_flight
    }

    fn send(&self, batch: Batch) -> BoxFuture<'_, Result<Delivery, SinkError>> {
        Box::pin(self.send_batch(batch))
    }
}

#[cfg(test)]
mod tests {
    use logcrawl_core::{DeliverySettings, HttpSettings};

    use super::*;
    use crate::config::{DELIVERY_DEFAULTS, HTTP_DEFAULTS};

    fn config() -> DatadogConfig {
        DatadogConfig { api_key: Some(SecretString::from("k3y-s3cr3t-value")), ..DatadogConfig::default() }
    }

    fn build(config: DatadogConfig) -> Result<DatadogSink, ConfigError> {
        DatadogSink::with_env(config, &BuildContext::new("dd"), |_| None)
    }

    #[test]
    fn defaults_target_us1() {
        let sink = build(config()).unwrap();
        assert_eq!(sink.url().as_str(), "https://http-intake.logs.datadoghq.com/api/v2/logs");
        assert_eq!(sink.max_in_flight(), 4);
        assert_eq!(sink.batch_limits(), BatchLimits { max_records: 1000, linger: Duration::from_secs(1) });
        assert_eq!(sink.max_age(), Some(Duration::from_secs(18 * 3600)));
        assert_eq!(sink.max_future(), Some(Duration::from_secs(2 * 3600)));
        assert!(!format!("{sink:?}").contains("s3cr3t"));
    }

    #[test]
    fn endpoint_overrides_site() {
        let sink = build(DatadogConfig { endpoint: Some("http://127.0.0.1:9/".into()), ..config() }).unwrap();
        assert_eq!(sink.url().as_str(), "http://127.0.0.1:9/api/v2/logs");
    }

    #[test]
    fn api_key_may_come_from_the_environment() {
        let config = DatadogConfig { api_key: None, ..config() };
        assert!(DatadogSink::with_env(config.clone(), &BuildContext::new("dd"), |_| Some("envkey".into())).is_ok());
        let err = DatadogSink::with_env(config, &BuildContext::new("dd"), |_| None).unwrap_err();
        assert_eq!(err.key(), "api_key");
        assert!(err.to_string().contains("DD_API_KEY"), "{err}");
    }

    #[test]
    fn invalid_values_name_their_key() {
        let delivery = |delivery: DeliverySettings| DatadogConfig { delivery, ..config() };
        let http = |http: HttpSettings| DatadogConfig { http, ..config() };
        let (d, h) = (DELIVERY_DEFAULTS, HTTP_DEFAULTS);
        let cases: Vec<(&str, DatadogConfig)> = vec![
            ("site", DatadogConfig { site: "datadoghq.net".into(), ..config() }),
            ("endpoint", DatadogConfig { endpoint: Some("not a url".into()), ..config() }),
            ("compression_level", DatadogConfig { compression_level: Some(10), ..config() }),
            (
                "compression_level",
                DatadogConfig { compression: Compression::Zstd, compression_level: Some(0), ..config() },
            ),
            (
                "compression_level",
                DatadogConfig { compression: Compression::Zstd, compression_level: Some(23), ..config() },
            ),
            ("batch_max_records", delivery(DeliverySettings { batch_max_records: 1001, ..d })),
            ("batch_max_records", delivery(DeliverySettings { batch_max_records: 0, ..d })),
            ("batch_max_bytes", delivery(DeliverySettings { batch_max_bytes: 5_000_001, ..d })),
            ("batch_max_bytes", delivery(DeliverySettings { batch_max_bytes: 500_000, ..d })),
            ("max_log_bytes", DatadogConfig { max_log_bytes: 1_000_001, ..config() }),
            ("max_in_flight", delivery(DeliverySettings { max_in_flight: 0, ..d })),
            ("retry_attempts", http(HttpSettings { retry_attempts: 0, ..h })),
            ("retry_max_delay", http(HttpSettings { retry_max_delay: Duration::from_millis(1), ..h })),
            ("timeout", http(HttpSettings { timeout: Duration::ZERO, ..h })),
            ("max_retry_wait", http(HttpSettings { max_retry_wait: Duration::ZERO, ..h })),
            ("api_key", DatadogConfig { api_key: Some(SecretString::from("k3y\ns3cr3t")), ..config() }),
        ];
        for (key, config) in cases {
            let err = build(config).unwrap_err();
            assert_eq!(err.key(), key, "{err}");
            let text = err.to_string();
            assert!(text.contains(&format!("`{key}`")) && text.contains("\"dd\""), "{text}");
            assert!(!text.contains("s3cr3t"), "{text}");
        }
        let err = build(DatadogConfig { site: "datadoghq.net".into(), ..config() }).unwrap_err();
        assert!(err.to_string().contains("us5.datadoghq.com"), "{err}");
    }
}
