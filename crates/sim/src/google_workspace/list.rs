//! The simulated activities list, `GET /admin/reports/v1/activity/users/all/applications/{application}`:
//! credentials, refusals, quota, the query, and the page of newest-first events it selects.

use std::collections::HashMap;
use std::sync::Arc;

use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use bytes::{BufMut, BytesMut};

use super::{APPLICATIONS, CUSTOMER_ID, MAX_RESULTS, QUIET, Shared, application_of, render};
use crate::util::{Gate, Planted, decode_base64, json_response, put_base64, put_hex, splitmix64};

/// A Google API error: `{"error": {"code", "message", "errors": [{"message", "domain", "reason"}], "status"}}`.
pub(super) fn google_error(
    status: StatusCode,
    reason: &str,
    message: &str,
    headers: &[(&'static str, String)],
) -> Response {
    let name = match status {
        StatusCode::BAD_REQUEST => "INVALID_ARGUMENT",
        StatusCode::UNAUTHORIZED => "UNAUTHENTICATED",
        StatusCode::FORBIDDEN => "PERMISSION_DENIED",
        StatusCode::TOO_MANY_REQUESTS => "RESOURCE_EXHAUSTED",
        _ => "UNKNOWN",
    };
    let domain =
        if reason.ends_with("RateLimitExceeded") || reason == "quotaExceeded" { "usageLimits" } else { "global" };
    let body = serde_json::json!({"error": {"code": status.as_u16(), "message": message,
        "errors": [{"message": message, "domain": domain, "reason": reason}], "status": name}});
    json_response(status, body.to_string(), headers)
}

fn quota(status: StatusCode, reason: &str, headers: &[(&'static str, String)]) -> Response {
    let message = match reason {
        "quotaExceeded" => "Quota exceeded for quota metric 'Queries' and limit 'Queries per day'.",
        "userRateLimitExceeded" => "User Rate Limit Exceeded",
        _ => "Quota exceeded for quota metric 'Queries' and limit 'Queries per minute per user'.",
    };
    google_error(status, reason, message, headers)
}

/// A page token for "the events below index `below`": opaque, checked when read back.
fn page_token(below: u64) -> String {
    let mut raw = BytesMut::with_capacity(32);
    put_hex(&mut raw, below, 16);
    put_hex(&mut raw, splitmix64(below ^ 0x70e0), 16);
    let mut out = BytesMut::with_capacity(48);
    put_base64(&mut out, &raw, true);
    String::from_utf8_lossy(&out).into_owned()
}

fn read_page_token(token: &str) -> Option<u64> {
    let raw = decode_base64(token)?;
    let text = std::str::from_utf8(&raw).ok()?;
    let (below, check) = (text.get(..16)?, text.get(16..)?);
    let below = u64::from_str_radix(below, 16).ok()?;
    (u64::from_str_radix(check, 16).ok()? == splitmix64(below ^ 0x70e0)).then_some(below)
}

fn instant(params: &HashMap<String, String>, name: &str) -> Result<Option<jiff::Timestamp>, String> {
    params
        .get(name)
        .map(|text| {
            text.parse::<jiff::Timestamp>().map_err(|_| format!("Invalid value '{text}' for {name}: not RFC 3339"))
        })
        .transpose()
}

pub(super) async fn list(
    State(sim): State<Arc<Shared>>,
    Path((user, application)): Path<(String, String)>,
    headers: HeaderMap,
    Query(params): Query<HashMap<String, String>>,
) -> Response {
    let ordinal = sim.feed.gate().arrive();
    if !sim.authorized(&headers) {
        let message = "Request had invalid authentication credentials. Expected OAuth 2 access token, login cookie or other valid authentication credential.";
        let auth = [("www-authenticate", "Bearer realm=\"https://accounts.google.com/\"".to_owned())];
        return google_error(StatusCode::UNAUTHORIZED, "authError", message, &auth);
    }
    if !sim.settings.permitted {
        return google_error(StatusCode::FORBIDDEN, "forbidden", "Not Authorized to access this resource/api", &[]);
    }
    let limited = match sim.feed.gate().pass(ordinal) {
        Gate::Open(_) => None,
        Gate::Exceeded(_) => Some(quota(StatusCode::FORBIDDEN, "rateLimitExceeded", &[])),
        Gate::Planted(Planted::TooManyRequests, _) => {
            let retry = [("retry-after", sim.feed.gate().limits().wait_secs().to_string())];
            Some(quota(StatusCode::TOO_MANY_REQUESTS, "rateLimitExceeded", &retry))
        }
        Gate::Planted(Planted::Exhausted, _) => Some(quota(StatusCode::FORBIDDEN, "quotaExceeded", &[])),
        Gate::Planted(Planted::Secondary, _) => Some(quota(StatusCode::FORBIDDEN, "userRateLimitExceeded", &[])),
    };
    if let Some(limited) = limited {
        return limited;
    }
    if let Some(every) = sim.settings.quota_every.filter(|every| ordinal.is_multiple_of(*every)) {
        let reason = ["rateLimitExceeded", "userRateLimitExceeded", "quotaExceeded"][(ordinal / every % 3) as usize];
        return quota(StatusCode::FORBIDDEN, reason, &[]);
    }

    let bad = |message: &str| google_error(StatusCode::BAD_REQUEST, "invalid", message, &[]);
    if user != "all" {
        return bad("This simulator serves userKey `all` only.");
    }
    let logging = APPLICATIONS.contains(&application.as_str());
    if !logging && !QUIET.contains(&application.as_str()) {
        return bad(&format!(
            "Invalid value '{application}'. Values must match the following regular expression: '(access_transparency)|(admin)|…'"
        ));
    }
    if params.get("customerId").is_some_and(|id| id != CUSTOMER_ID) {
        return bad("Bad Request: customerId names another customer.");
    }
    let (start, end) = match (instant(&params, "startTime"), instant(&params, "endTime")) {
        (Ok(start), Ok(end)) => (start, end),
        (Err(message), _) | (_, Err(message)) => return bad(&message),
    };
    if let (Some(start), Some(end)) = (start, end)
        && start >= end
    {
        return bad("Start time must be less than end time.");
    }
    let max = match params.get("maxResults").map(|n| n.parse::<u64>()) {
        None => MAX_RESULTS,
        Some(Ok(n)) if (1..=MAX_RESULTS).contains(&n) => n,
        Some(_) => return bad(&format!("Invalid value for maxResults: it must be between 1 and {MAX_RESULTS}.")),
    };
    let total = sim.feed.total_events();
    // Bounds in whole ms: an instant between two rounds towards the inside of the range.
    let ceil_ms = |at: jiff::Timestamp| {
        let ns = at.as_nanosecond();
        (ns.div_euclid(1_000_000) + i128::from(ns.rem_euclid(1_000_000) > 0)) as i64
    };
    let lo = start.map_or(0, |at| sim.first_from(ceil_ms(at), false, total));
    let hi = end.map_or(total, |at| sim.first_from(at.as_millisecond(), true, total));
    let from = match params.get("pageToken").filter(|token| !token.is_empty()) {
        None => hi,
        Some(token) => match read_page_token(token) {
            Some(below) if below <= total => below.min(hi),
            _ => return bad("Invalid pageToken."),
        },
    };

    let now_ms = jiff::Timestamp::now().as_millisecond();
    let mut events = Vec::with_capacity(max.min(from.saturating_sub(lo)) as usize);
    let mut at = from;
    if logging {
        while at > lo && (events.len() as u64) < max {
            at -= 1;
            if application_of(at) == application && sim.visible(at, now_ms) {
                events.push(at);
            }
        }
    }
    let more = (events.len() as u64 == max && at > lo).then_some(at);
    page(&sim, events, more)
}

/// A page of `events` (indices, in order), continuing below `more` if given; `items` left out when empty.
fn page(sim: &Shared, events: Vec<u64>, more: Option<u64>) -> Response {
    let mut body = BytesMut::with_capacity(events.len() * 900 + 256);
    body.put_slice(b"{\"kind\":\"admin#reports#activities\",\"etag\":\"\\\"");
    put_hex(&mut body, splitmix64(events.first().copied().unwrap_or(u64::MAX)), 16);
    body.put_slice(b"\\\"\"");
    if !events.is_empty() {
        body.put_slice(b",\"items\":[");
        for (k, &i) in events.iter().enumerate() {
            if k > 0 {
                body.put_u8(b',');
            }
            render::put_event(&mut body, i, sim.at_ms(i));
        }
        body.put_u8(b']');
    }
    if let Some(below) = more {
        body.put_slice(b",\"nextPageToken\":\"");
        body.put_slice(page_token(below).as_bytes());
        body.put_u8(b'"');
    }
    body.put_u8(b'}');
    sim.feed.serve(events.len() as u64);
    json_response(StatusCode::OK, body.freeze(), &[])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn page_tokens_read_back_and_others_are_refused() {
        for below in [0, 1, 999, u64::MAX / 3] {
            assert_eq!(read_page_token(&page_token(below)), Some(below));
        }
        assert_eq!(read_page_token("abc"), None);
        assert_eq!(read_page_token(""), None);
        let mut forged = page_token(5).into_bytes();
        forged[3] ^= 1;
        assert_eq!(read_page_token(&String::from_utf8_lossy(&forged)), None);
    }
}
