//! One content type as a resumable stream: windows of content creation time oldest to newest, each
//! window's listing (from `overlap` before it) paged by `NextPageUri`, every blob not yet delivered
//! fetched (the next one while this one's records are delivered) and its records yielded with exact
//! cursors ([`crate::cursor`]).
//!
//! The SDK's `WindowedStream` reads events off the pages themselves; here a page lists blobs and the
//! events are one request further, inside blobs listed in no useful order, so the stream is its own,
//! on the SDK's pieces: typed cursors, the same-origin guard, the shared client's retries and budget,
//! deferred cursors, positions, prefetch.

use std::collections::HashSet;
use std::sync::{Arc, PoisonError, RwLock};

use futures::StreamExt;
use jiff::Timestamp;
use logcrawl_connector::Prefetch;
use logcrawl_connector::cursor::{load, store};
use logcrawl_core::{Cursor, LogRecord, LogStream, RawEvent, RecordCursor, RecordStream, StreamError};
use logcrawl_http::{HttpClient, HttpError, RequestSpec, Url, redact_url};

use crate::api::{Blob, FeedApi, Listing, blob_gone, needs_subscription};
use crate::cursor::{Done, FeedCursor, FeedPlan, InBlob, Reading, horizon};
use crate::event::to_record;

/// The blobs delivered in the window being read, after those carried from the one before: only ever
/// appended to, so that a record's cursor names a prefix of it, built when the crawler commits it.
#[derive(Debug, Default)]
struct DoneLog(RwLock<Vec<Done>>);

impl DoneLog {
    fn push(&self, done: Done) -> usize {
        let mut log = self.0.write().unwrap_or_else(PoisonError::into_inner);
        log.push(done);
        log.len()
    }

    fn prefix(&self, len: usize) -> Vec<Done> {
        let log = self.0.read().unwrap_or_else(PoisonError::into_inner);
        log[..len.min(log.len())].to_vec()
    }

    fn len(&self) -> usize {
        self.0.read().unwrap_or_else(PoisonError::into_inner).len()
    }
}

/// The cursor of a record inside window `[start, end)`: the first `len` blobs of `log` delivered, and
/// `blob` in part.
fn inside(log: &Arc<DoneLog>, len: usize, start: Timestamp, end: Timestamp, blob: Option<InBlob>) -> RecordCursor {
    let log = log.clone();
    RecordCursor::deferred(move || {
        store(&FeedCursor { until: start, done: log.prefix(len), reading: Some(Reading { end, blob: blob.clone() }) })
    })
}

/// One content type of a tenant (see the module documentation).
#[derive(Debug)]
pub struct FeedStream {
    api: Arc<FeedApi>,
    client: HttpClient,
    plan: FeedPlan,
}

/// Fetches a blob's records; `None` when the blob is gone (expired, unknown), which is logged.
async fn fetch_blob(api: Arc<FeedApi>, client: HttpClient, blob: Blob) -> Result<Option<Vec<LogRecord>>, StreamError> {
    let url = Url::parse(&blob.content_uri).map_err(|err| {
        StreamError::from(HttpError::Decode {
            url: redact_url(client.base_url()),
            message: format!("blob {}: contentUri is not an absolute URL: {err}", blob.content_id),
        })
    })?;
    client.ensure_same_origin(&url).map_err(|err| {
        StreamError::fatal(format!("the contentUri of blob {} leaves the origin: {err}", blob.content_id))
    })?;
    let response = match client.execute(api.follow(url)).await {
        Ok(response) => response,
        Err(err) if blob_gone(&err) => {
            tracing::warn!(stream = api.kind().name(), blob = %blob.content_id, error = %err,
                "a listed content blob is gone (expired after 7 days, or unknown): its records cannot be fetched; skipped");
            return Ok(None);
        }
        Err(err) => return Err(api.error(err)),
    };
    let malformed = |message: String| StreamError::from(HttpError::Decode { url: redact_url(&response.url), message });
    let items = RawEvent::split_array(&response.body)
        .map_err(|err| malformed(format!("blob {} is not a JSON array of records: {err}", blob.content_id)))?;
    items
        .into_iter()
        .enumerate()
        .map(|(i, raw)| to_record(raw).map_err(|err| malformed(format!("blob {} record {i}: {err}", blob.content_id))))
        .collect::<Result<Vec<_>, _>>()
        .map(Some)
}

impl FeedStream {
    /// A stream reading `api` through `client` as `plan` says.
    pub fn new(api: FeedApi, client: HttpClient, plan: FeedPlan) -> Self {
        Self { api: Arc::new(api), client, plan }
    }

    /// The connector's side.
    pub fn api(&self) -> &FeedApi {
        &self.api
    }

    /// The client the stream sends with.
    pub fn client(&self) -> &HttpClient {
        &self.client
    }

    /// The plan.
    pub fn plan(&self) -> &FeedPlan {
        &self.plan
    }

    /// One listing page; a missing (or disabled) subscription is started once, and the page asked again.
    async fn list(&self, request: &RequestSpec) -> Result<Listing, StreamError> {
        let response = match self.client.execute(request.clone()).await {
            Ok(response) => response,
            Err(err) if needs_subscription(&err) => {
                self.start_subscription().await?;
                self.client.execute(request.clone()).await.map_err(|err| self.api.error(err))?
            }
            Err(err) => return Err(self.api.error(err)),
        };
        self.api.parse_listing(&response)
    }

    async fn start_subscription(&self) -> Result<(), StreamError> {
        let kind = self.api.kind().name();
        match self.client.execute(self.api.start()).await {
            Ok(_) => {}
            // Already enabled (AF20024, as peers report: not in the reference): started by another.
            Err(err) if crate::api::error_code(&err).as_deref() == Some("AF20024") => {}
            Err(err) => return Err(self.api.error(err)),
        }
        tracing::info!(
            stream = kind,
            "started the subscription to {kind}: the first content blobs may take up to 12 hours to be listed"
        );
        Ok(())
    }

    fn run(&self, cursor: Option<Cursor>) -> RecordStream<'_> {
        async_stream::try_stream! {
            let resume: Option<FeedCursor> = cursor.as_ref().map(load).transpose()?;
            let now = Timestamp::now();
            let earliest = FeedPlan::earliest(now);
            if let Some(stored) = resume.as_ref().filter(|c| c.until < earliest) {
                tracing::warn!(stream = self.api.kind().name(), until = %stored.until, %earliest,
                    "the checkpoint is older than the 7 days the API keeps: content created before {earliest} is gone");
            }
            let windows = self.plan.windows(resume.as_ref(), now);
            let mut carried = resume.map(|c| c.done).unwrap_or_default();
            for planned in windows {
                let mut seen: HashSet<String> = carried.iter().map(|d| d.id.clone()).collect();
                let log = Arc::new(DoneLog(RwLock::new(std::mem::take(&mut carried))));
                let mut request = self.api.listing(planned.read_from, planned.end);
                let mut pages = 0usize;
                loop {
                    let Listing { blobs, next } = self.list(&request).await?;
                    pages += 1;
                    if let Some(next) = &next {
                        self.client.ensure_same_origin(next).map_err(|err| StreamError::fatal(format!(
                            "the next listing page after {} leaves the origin: {err}", redact_url(&request.url))))?;
                        if pages >= self.plan.max_pages_per_window {
                            Err(StreamError::transient(format!(
                                "the window {} to {} has more than {} listing pages; lower window_step",
                                planned.start, planned.end, self.plan.max_pages_per_window)))?;
                        }
                    }
                    let todo: Vec<Blob> = blobs.into_iter().filter(|b| seen.insert(b.content_id.clone())).collect();
                    let fetch = |blob: &Blob| {
                        Prefetch::spawn(fetch_blob(self.api.clone(), self.client.clone(), blob.clone()))
                    };
                    let mut ahead = todo.first().map(fetch);
                    for (at, blob) in todo.iter().enumerate() {
                        let Some(current) = ahead.take() else { break };
                        ahead = todo.get(at + 1).map(fetch);
                        let records = current.join().await?;
                        let created = blob.created().unwrap_or(planned.end);
                        let before = log.len();
                        let len = log.push(Done { id: blob.content_id.clone(), created });
                        let Some(records) = records else { continue };
                        let skip = planned.resume.as_ref().filter(|r| r.id == blob.content_id).map_or(0, |r| r.records);
                        let total = records.len();
                        for (i, mut record) in records.into_iter().enumerate().skip(skip) {
                            record.cursor = Some(if i + 1 == total {
                                inside(&log, len, planned.start, planned.end, None)
                            } else {
                                let part = InBlob { id: blob.content_id.clone(), records: i + 1 };
                                inside(&log, before, planned.start, planned.end, Some(part))
                            });
                            yield record;
                        }
                    }
                    match next {
                        Some(url) => request = self.api.follow(url),
                        None => break,
                    }
                }
                let done = horizon(log.prefix(usize::MAX), planned.end, self.plan.overlap);
                yield LogRecord::position(store(&FeedCursor { until: planned.end, done: done.clone(), reading: None }));
                carried = done;
            }
        }
        .boxed()
    }
}

impl LogStream for FeedStream {
    fn name(&self) -> &str {
        self.api.kind().name()
    }

    fn records(&self, cursor: Option<Cursor>) -> RecordStream<'_> {
        self.run(cursor)
    }
}
