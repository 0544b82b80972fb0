//! The simulated Management Activity API's requests: subscriptions, content listings, blob fetches,
//! and the records blobs hold.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::sync::Arc;
use std::sync::atomic::Ordering;

use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::response::Response;
use bytes::{BufMut, BytesMut};

use super::{BlobKey, KINDS, Shared, kind_of, record_id};
use crate::util::{Gate, PEOPLE, json_response, splitmix64};

/// What the API keeps: 7 days.
const RETENTION_MS: i64 = 7 * 24 * 3600 * 1000;
/// The longest listing: 24 hours.
const MAX_LISTING_MS: i64 = 24 * 3600 * 1000;

/// An error of the API: `{"error": {"code", "message"}}`.
fn api_error(status: StatusCode, code: &str, message: &str, headers: &[(&'static str, String)]) -> Response {
    let body = serde_json::json!({"error": {"code": code, "message": message}});
    json_response(status, body.to_string(), headers)
}

fn now_ms() -> i64 {
    jiff::Timestamp::now().as_millisecond()
}

/// An instant as the API writes it, in epoch ms: `YYYY-MM-DDTHH:MM:SS.fffZ`.
fn instant(ms: i64) -> String {
    let at = jiff::Timestamp::from_millisecond(ms).unwrap_or(jiff::Timestamp::UNIX_EPOCH);
    format!("{at:.3}")
}

/// A listing bound (`YYYY-MM-DD`, `YYYY-MM-DDTHH:MM`, `…:SS`, with or without a zone: UTC) in epoch ms.
fn bound(text: &str) -> Option<i64> {
    let text = text.trim();
    if let Ok(at) = text.parse::<jiff::Timestamp>() {
        return Some(at.as_millisecond());
    }
    let civil = text
        .parse::<jiff::civil::DateTime>()
        .ok()
        .or_else(|| text.parse::<jiff::civil::Date>().ok().map(|d| d.to_datetime(jiff::civil::Time::midnight())))?;
    civil.to_zoned(jiff::tz::TimeZone::UTC).ok().map(|z| z.timestamp().as_millisecond())
}

/// The checks every request goes through: the tenant, the credential, the permission, the budget; the
/// `PublisherIdentifier` recorded. `Some`: the answer, refusing it.
fn refusal(sim: &Shared, tenant: &str, headers: &HeaderMap, params: &HashMap<String, String>) -> Option<Response> {
    let ordinal = sim.feed.gate().arrive();
    if !sim.issuer.authorized(headers, sim.feed.token()) {
        let message = "Authorization has been denied for this request.";
        return Some(api_error(StatusCode::UNAUTHORIZED, "AF10000", message, &[]));
    }
    if tenant != sim.settings.registration.tenant {
        let message = format!("Specified tenant ID ({tenant}) does not exist in the system or has been deleted.");
        return Some(api_error(StatusCode::BAD_REQUEST, "AF20011", &message, &[]));
    }
    if sim.settings.without_permission {
        let message = "The permission set (ActivityReports.Read) sent in the request did not include the expected permission ActivityFeed.Read.";
        return Some(api_error(StatusCode::FORBIDDEN, "AF10001", message, &[]));
    }
    let publisher = params.get("PublisherIdentifier").cloned().unwrap_or_default();
    sim.publishers.lock().unwrap_or_else(std::sync::PoisonError::into_inner).insert(publisher.clone());
    let throttled = sim.settings.throttle_one_in.is_some_and(|n| ordinal.is_multiple_of(n));
    let wait = match sim.feed.gate().pass(ordinal) {
        Gate::Open(_) if !throttled => None,
        Gate::Open(_) | Gate::Planted(..) => Some(sim.feed.gate().limits().wait_secs()),
        Gate::Exceeded(quota) => Some((quota.reset_epoch - jiff::Timestamp::now().as_second()).max(1) as u64),
    };
    wait.map(|wait| {
        sim.throttled.fetch_add(1, Ordering::Relaxed);
        let message = format!("Too many requests. Method=GET, PublisherId={publisher}");
        api_error(StatusCode::TOO_MANY_REQUESTS, "AF429", &message, &[("retry-after", wait.to_string())])
    })
}

/// The content type asked for, an index into [`KINDS`].
fn kind_param(params: &HashMap<String, String>) -> Option<usize> {
    let name = params.get("contentType").map(String::as_str).unwrap_or_default();
    KINDS.iter().position(|kind| kind.eq_ignore_ascii_case(name))
}

fn invalid_kind() -> Response {
    api_error(StatusCode::BAD_REQUEST, "AF20020", "The specified content type is not valid.", &[])
}

pub(super) async fn start(
    State(sim): State<Arc<Shared>>,
    Path(tenant): Path<String>,
    headers: HeaderMap,
    Query(params): Query<HashMap<String, String>>,
) -> Response {
    if let Some(answer) = refusal(&sim, &tenant, &headers, &params) {
        return answer;
    }
    let Some(kind) = kind_param(&params) else { return invalid_kind() };
    sim.subscribed[kind].store(true, Ordering::Relaxed);
    sim.starts.fetch_add(1, Ordering::Relaxed);
    let body = serde_json::json!({"contentType": KINDS[kind], "status": "enabled", "webhook": null});
    json_response(StatusCode::OK, body.to_string(), &[])
}

pub(super) async fn list_subscriptions(
    State(sim): State<Arc<Shared>>,
    Path(tenant): Path<String>,
    headers: HeaderMap,
    Query(params): Query<HashMap<String, String>>,
) -> Response {
    if let Some(answer) = refusal(&sim, &tenant, &headers, &params) {
        return answer;
    }
    let list: Vec<serde_json::Value> = (0..5)
        .filter(|&k| sim.subscribed[k].load(Ordering::Relaxed))
        .map(|k| serde_json::json!({"contentType": KINDS[k], "status": "enabled", "webhook": null}))
        .collect();
    json_response(StatusCode::OK, serde_json::Value::from(list).to_string(), &[])
}

/// A blob's `contentId`: its creation instant in digits, its content type and its stretch.
fn content_id(sim: &Shared, key: BlobKey) -> String {
    let at = jiff::Timestamp::from_millisecond(sim.created_ms(key)).unwrap_or(jiff::Timestamp::UNIX_EPOCH);
    format!("{}{:03}${}${}", at.strftime("%Y%m%d%H%M%S"), at.subsec_millisecond(), key.kind, key.stretch)
}

fn parse_content_id(sim: &Shared, id: &str) -> Option<BlobKey> {
    let mut parts = id.split('$');
    let (_, kind, stretch) = (parts.next()?, parts.next()?.parse().ok()?, parts.next()?.parse().ok()?);
    let key = BlobKey { kind, stretch };
    (kind < 5 && parts.next().is_none() && content_id(sim, key) == id).then_some(key)
}

pub(super) async fn content(
    State(sim): State<Arc<Shared>>,
    Path(tenant): Path<String>,
    headers: HeaderMap,
    uri: Uri,
    Query(params): Query<HashMap<String, String>>,
) -> Response {
    if let Some(answer) = refusal(&sim, &tenant, &headers, &params) {
        return answer;
    }
    let Some(kind) = kind_param(&params) else { return invalid_kind() };
    if !sim.subscribed[kind].load(Ordering::Relaxed) {
        let message = "No subscription found for the specified content type.";
        return api_error(StatusCode::BAD_REQUEST, "AF20022", message, &[]);
    }
    let now = now_ms();
    let range = match (params.get("startTime").map(|t| bound(t)), params.get("endTime").map(|t| bound(t))) {
        (None, None) => Some((now - MAX_LISTING_MS, now)),
        (Some(Some(from)), Some(Some(to)))
            if from <= to && to - from <= MAX_LISTING_MS && from >= now - RETENTION_MS =>
        {
            Some((from, to))
        }
        _ => None,
    };
    let Some((from, to)) = range else {
        let message = "Start time and end time must both be specified (or both omitted) and must be less than or equal to 24 hours apart, with the start time no more than 7 days in the past.";
        return api_error(StatusCode::BAD_REQUEST, "AF20030", message, &[]);
    };
    let offset = match params.get("nextPage").map(|t| t.strip_prefix('p').and_then(|n| n.parse::<usize>().ok())) {
        None => 0,
        Some(Some(offset)) => offset,
        Some(None) => {
            let message = format!("Invalid nextPage Input: {}.", params.get("nextPage").cloned().unwrap_or_default());
            return api_error(StatusCode::BAD_REQUEST, "AF20031", &message, &[]);
        }
    };
    // Stretches whose blob may be created in [from, to).
    let span_ms = (sim.span_us() / 1000).max(1);
    let delay = sim.settings.publish_delay.as_millis() as i64 + sim.settings.creation_jitter.as_millis() as i64;
    let total = sim.feed.total_events();
    let first = (from - delay).div_euclid(span_ms) - 2;
    let last = (to - sim.settings.publish_delay.as_millis() as i64).div_euclid(span_ms) + 1;
    let mut blobs: Vec<(i64, i64, BlobKey)> = (first..=last)
        .map(|stretch| BlobKey { kind, stretch })
        .filter(|key| (from..to).contains(&sim.created_ms(*key)) && sim.listed_ms(*key) <= now)
        .filter(|key| !sim.records_of(*key, total).is_empty())
        .map(|key| (sim.listed_ms(key), sim.created_ms(key), key))
        .collect();
    blobs.sort_by_key(|(listed, created, key)| (*listed, *created, key.stretch));
    let page = sim.settings.page_blobs;
    let end = offset.saturating_add(page).min(blobs.len());
    let mut out = BytesMut::with_capacity(page * 400);
    out.put_u8(b'[');
    for (n, (_, created, key)) in blobs[offset.min(end)..end].iter().enumerate() {
        if n > 0 {
            out.put_u8(b',');
        }
        let id = content_id(&sim, *key);
        let mut entry = String::with_capacity(400);
        let _infallible = write!(
            entry,
            r#"{{"contentType":"{}","contentId":"{id}","contentUri":"{}/api/v1.0/{tenant}/activity/feed/audit/{id}","contentCreated":"{}","contentExpiration":"{}"}}"#,
            KINDS[kind],
            sim.base_url,
            instant(*created),
            instant(created + RETENTION_MS)
        );
        out.put_slice(entry.as_bytes());
    }
    out.put_u8(b']');
    sim.listings.fetch_add(1, Ordering::Relaxed);
    let mut extra = Vec::new();
    if end < blobs.len() {
        let kept: Vec<&str> =
            uri.query().unwrap_or_default().split('&').filter(|p| !p.starts_with("nextPage=")).collect();
        extra.push(("NextPageUri", format!("{}{}?{}&nextPage=p{end}", sim.base_url, uri.path(), kept.join("&"))));
    }
    json_response(StatusCode::OK, out.freeze(), &extra)
}

pub(super) async fn blob(
    State(sim): State<Arc<Shared>>,
    Path((tenant, id)): Path<(String, String)>,
    headers: HeaderMap,
    Query(params): Query<HashMap<String, String>>,
) -> Response {
    if let Some(answer) = refusal(&sim, &tenant, &headers, &params) {
        return answer;
    }
    let now = now_ms();
    let Some(key) = parse_content_id(&sim, &id).filter(|key| sim.listed_ms(*key) <= now) else {
        let message = format!("The specified content ({id}) does not exist.");
        return api_error(StatusCode::BAD_REQUEST, "AF20050", &message, &[]);
    };
    if sim.created_ms(key) < now - RETENTION_MS {
        let message = format!(
            "Content requested with the key {id} has already expired. Content older than 7 days cannot be retrieved."
        );
        return api_error(StatusCode::BAD_REQUEST, "AF20051", &message, &[]);
    }
    let mut records = sim.records_of(key, sim.feed.total_events());
    // Records inside a blob are in no time order.
    records.sort_by_key(|i| splitmix64(*i ^ 0xb10b));
    let mut out = BytesMut::with_capacity(records.len() * 520 + 2);
    out.put_u8(b'[');
    for (n, i) in records.iter().enumerate() {
        if n > 0 {
            out.put_u8(b',');
        }
        put_record(&mut out, &tenant, *i, sim.at_us(*i));
    }
    out.put_u8(b']');
    sim.blob_fetches.fetch_add(1, Ordering::Relaxed);
    sim.records_served.fetch_add(records.len() as u64, Ordering::Relaxed);
    sim.feed.serve(records.len() as u64);
    json_response(StatusCode::OK, out.freeze(), &[])
}

/// Writes record `i` (happened at `at_us`) of `tenant`.
pub(super) fn put_record(out: &mut BytesMut, tenant: &str, i: u64, at_us: i64) {
    let hash = splitmix64(i ^ 0x0365);
    let (workload, record_type, operation, object) = match kind_of(i) {
        0 => ("AzureActiveDirectory", 15, "UserLoggedIn", "00000002-0000-0ff1-ce00-000000000000"),
        1 => ("Exchange", 2, "MailItemsAccessed", "/Inbox"),
        2 => ("SharePoint", 6, "FileAccessed", "https://contoso.sharepoint.com/sites/finance/Shared Documents/q3.xlsx"),
        3 => ("MicrosoftTeams", 25, "MessageSent", "19:meeting_general@thread.v2"),
        _ => ("Exchange", 13, "DlpRuleMatch", "<message-id@contoso.com>"),
    };
    let failed = hash.is_multiple_of(10);
    let result = match (kind_of(i), failed) {
        (0, false) => "Success",
        (0, true) => "Failed",
        (_, false) => "Succeeded",
        (_, true) => "Failed",
    };
    let (_, user) = PEOPLE[(hash >> 8) as usize % PEOPLE.len()];
    let at = jiff::Timestamp::from_microsecond(at_us).unwrap_or(jiff::Timestamp::UNIX_EPOCH);
    let mut text = String::with_capacity(520);
    let _infallible = write!(
        text,
        r#"{{"CreationTime":"{}","Id":"{}","Operation":"{operation}","OrganizationId":"{tenant}","RecordType":{record_type},"ResultStatus":"{result}","UserKey":"1003{:012X}","UserType":0,"Version":1,"Workload":"{workload}","ClientIP":"203.0.113.{}:{}","ObjectId":"{object}","UserId":"{user}@contoso.com"}}"#,
        at.strftime("%Y-%m-%dT%H:%M:%S"),
        record_id(i),
        hash >> 16 & 0xffff_ffff_ffff,
        (hash >> 40) % 254 + 1,
        (hash >> 24) % 50_000 + 1024,
    );
    out.put_slice(text.as_bytes());
}
