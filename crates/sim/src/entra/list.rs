//! The simulated Graph list requests, `GET /v1.0/auditLogs/{log}`: credentials, refusals, throttling,
//! the query, and the page of newest-first events it selects.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::Ordering;

use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode, Uri, header};
use axum::response::Response;
use bytes::{BufMut, BytesMut};

use super::query::{next_link, parse_filter, parse_skiptoken, skiptoken};
use super::{Log, MAX_TOP, Refusal, Shared, log_of, render};
use crate::util::{Gate, json_response};

/// A Graph error: `{"error": {"code", "message", "innerError": {"date", "request-id", "client-request-id"}}}`.
fn graph_error(status: StatusCode, code: &str, message: &str, headers: &[(&'static str, String)]) -> Response {
    let body = serde_json::json!({"error": {"code": code, "message": message, "innerError": {
        "date": jiff::Timestamp::now().strftime("%Y-%m-%dT%H:%M:%S").to_string(),
        "request-id": "00000000-0000-0000-0000-000000000000",
        "client-request-id": "00000000-0000-0000-0000-000000000000",
    }}});
    json_response(status, body.to_string(), headers)
}

pub(super) async fn list(
    State(sim): State<Arc<Shared>>,
    Path(segment): Path<String>,
    headers: HeaderMap,
    uri: Uri,
    Query(params): Query<HashMap<String, String>>,
) -> Response {
    let ordinal = sim.feed.gate().arrive();
    if !sim.authorized(&headers) {
        let message = if headers.contains_key(header::AUTHORIZATION) {
            "Lifetime validation failed, the token is expired."
        } else {
            "Access token is empty."
        };
        return graph_error(StatusCode::UNAUTHORIZED, "InvalidAuthenticationToken", message, &[]);
    }
    let Some(log) = Log::from_segment(&segment) else {
        let message = format!("Resource not found for the segment '{segment}'.");
        return graph_error(StatusCode::BAD_REQUEST, "BadRequest", &message, &[]);
    };
    match sim.settings.refusal {
        Some(Refusal::Permission) => {
            let message = "Insufficient privileges to complete the operation.";
            return graph_error(StatusCode::FORBIDDEN, "Authorization_RequestDenied", message, &[]);
        }
        Some(Refusal::Premium) if log == Log::SignIns => {
            let message = "Neither tenant is B2C or tenant doesn't have premium license";
            return graph_error(
                StatusCode::FORBIDDEN,
                "Authentication_RequestFromNonPremiumTenantOrB2CTenant",
                message,
                &[],
            );
        }
        _ => {}
    }
    let wait = match sim.feed.gate().pass(ordinal) {
        Gate::Open(_) => None,
        Gate::Exceeded(quota) => Some((quota.reset_epoch - jiff::Timestamp::now().as_second()).max(1) as u64),
        Gate::Planted(..) => Some(sim.feed.gate().limits().wait_secs()),
    };
    if let Some(wait) = wait {
        let retry = [("retry-after", wait.to_string())];
        return graph_error(StatusCode::TOO_MANY_REQUESTS, "TooManyRequests", "Too many requests.", &retry);
    }

    let bad = |message: String| graph_error(StatusCode::BAD_REQUEST, "BadRequest", &message, &[]);
    let bounds = match params.get("$filter").map(|filter| parse_filter(log, filter)).transpose() {
        Ok(bounds) => bounds.unwrap_or_default(),
        Err(message) => return bad(message),
    };
    let top = match params.get("$top").map(|top| top.parse::<u64>()) {
        None => MAX_TOP,
        Some(Ok(top)) if (1..=MAX_TOP).contains(&top) => top,
        Some(_) => return bad(format!("Invalid page size specified: it must be between 1 and {MAX_TOP} inclusive.")),
    };
    let total = sim.feed.total_events();
    let lo = bounds.lower.map_or(0, |(at, inclusive)| sim.first_from(log, at, !inclusive, total));
    let hi = bounds.upper.map_or(total, |(at, inclusive)| sim.first_from(log, at, inclusive, total));
    let from = match params.get("$skiptoken") {
        None => hi,
        Some(token) => match parse_skiptoken(token) {
            Some(index) if index <= total => {
                let every = sim.settings.empty_page_every.unwrap_or(0);
                let n = sim.continuations.fetch_add(1, Ordering::Relaxed) + 1;
                if every > 0 && n.is_multiple_of(every) && index > lo {
                    return page(&sim, log, &uri, Vec::new(), Some(index));
                }
                index.min(hi)
            }
            _ => return bad("The $skiptoken is not valid.".into()),
        },
    };

    let now_us = jiff::Timestamp::now().as_microsecond();
    let mut events = Vec::with_capacity(top.min(from.saturating_sub(lo)) as usize);
    let mut at = from;
    while at > lo && (events.len() as u64) < top {
        at -= 1;
        if log_of(at) == log && sim.visible(at, now_us) {
            events.push(at);
        }
    }
    let more = (events.len() as u64 == top && at > lo).then_some(at);
    page(&sim, log, &uri, events, more)
}

/// A page of `events` (indices, in order), continuing below `more` if given.
fn page(sim: &Shared, log: Log, uri: &Uri, events: Vec<u64>, more: Option<u64>) -> Response {
    let mut body = BytesMut::with_capacity(events.len() * 1400 + 256);
    body.put_slice(b"{\"@odata.context\":\"");
    body.put_slice(sim.base_url.as_bytes());
    body.put_slice(b"/v1.0/$metadata#auditLogs/");
    body.put_slice(log.segment().as_bytes());
    body.put_slice(b"\",\"value\":[");
    for (k, &i) in events.iter().enumerate() {
        if k > 0 {
            body.put_u8(b',');
        }
        render::put_event(&mut body, log, i, sim.at_us(i));
    }
    body.put_u8(b']');
    if let Some(below) = more {
        body.put_slice(b",\"@odata.nextLink\":");
        body.put_slice(serde_json::Value::from(next_link(sim, uri, &skiptoken(below))).to_string().as_bytes());
    }
    body.put_u8(b'}');
    sim.feed.serve(events.len() as u64);
    json_response(StatusCode::OK, body.freeze(), &[])
}
