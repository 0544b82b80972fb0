//! The simulated Duo's log endpoints: the v2 pages (authentication, telephony) and the v1 page
//! (administrator), each behind the same signature, permission and rate-limit checks.

use std::sync::Arc;

use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::Response;
use bytes::{BufMut, BytesMut};

use super::{DEFAULT_LIMIT, MAX_LIMIT, Shared, V1_PAGE, V2, bad_request, query_pairs, render, telephony_id, txid};
use crate::util::{json_response, put_dec};

fn param<'a>(pairs: &'a [(String, String)], name: &str) -> Option<&'a str> {
    pairs.iter().rev().find(|(key, _)| key == name).map(|(_, value)| value.as_str())
}

pub(super) async fn authentication(
    State(sim): State<Arc<Shared>>,
    method: Method,
    headers: HeaderMap,
    uri: Uri,
) -> Response {
    v2(&sim, V2::Authentication, &method, &headers, &uri)
}

pub(super) async fn telephony(
    State(sim): State<Arc<Shared>>,
    method: Method,
    headers: HeaderMap,
    uri: Uri,
) -> Response {
    v2(&sim, V2::Telephony, &method, &headers, &uri)
}

fn v2(sim: &Shared, log: V2, method: &Method, headers: &HeaderMap, uri: &Uri) -> Response {
    if let Some(refusal) = sim.refusal(method, uri, headers) {
        return refusal;
    }
    let pairs = query_pairs(uri.query());
    let number = |name: &str| param(&pairs, name).map(str::parse::<i64>);
    let (Some(Ok(mintime)), Some(Ok(maxtime))) = (number("mintime"), number("maxtime")) else {
        return bad_request("mintime and maxtime are required, in epoch milliseconds");
    };
    if mintime >= maxtime {
        return bad_request("mintime must be strictly less than maxtime");
    }
    let limit = match param(&pairs, "limit").map(str::parse::<u64>) {
        None => DEFAULT_LIMIT,
        Some(Ok(limit)) if (1..=MAX_LIMIT).contains(&limit) => limit,
        Some(_) => return bad_request("limit must be between 1 and 1000"),
    };
    let descending = match param(&pairs, "sort") {
        None | Some("ts:desc") => true,
        Some("ts:asc") => false,
        Some(_) => return bad_request("sort must be ts:asc or ts:desc"),
    };
    let timeline = match log {
        V2::Authentication => &sim.authentication,
        V2::Telephony => &sim.telephony,
    };
    let (total, clock) = (timeline.total(), timeline.clock());
    let (oldest, newest) = sim.served_span();
    let low = clock.first_at_or_after(mintime.max(oldest), total);
    let high = clock.first_at_or_after(maxtime.min(newest).saturating_add(1), total).max(low);
    let id_of = |i: u64| match log {
        V2::Authentication => txid(i),
        V2::Telephony => telephony_id(i),
    };
    // `next_offset` names the last event handed out: the page goes on after it.
    let (mut start, mut end) = (low, high);
    if let Some(offset) = param(&pairs, "next_offset") {
        let Some((ms, id)) = offset.split_once(',').and_then(|(ms, id)| Some((ms.parse::<i64>().ok()?, id))) else {
            return bad_request("next_offset must be the one a previous answer handed out");
        };
        let (from, to) =
            (clock.first_at_or_after(ms, total).max(low), clock.first_at_or_after(ms + 1, total).min(high));
        let Some(at) = (from..to).find(|&i| id_of(i) == id) else {
            return bad_request("next_offset names no event of this query");
        };
        if descending { end = at } else { start = at + 1 }
    }
    let page: Vec<u64> = if descending {
        (start.max(end.saturating_sub(limit))..end).rev().collect()
    } else {
        (start..end.min(start.saturating_add(limit))).collect()
    };

    let mut body = BytesMut::with_capacity(page.len() * 1300 + 200);
    body.put_slice(b"{\"stat\":\"OK\",\"response\":{\"");
    body.put_slice(if log == V2::Authentication { b"authlogs" } else { b"items" });
    body.put_slice(b"\":[");
    for (n, &i) in page.iter().enumerate() {
        if n > 0 {
            body.put_u8(b',');
        }
        match log {
            V2::Authentication => render::put_authentication(&mut body, i, clock.at_us(i)),
            V2::Telephony => render::put_telephony(&mut body, i, clock.at_us(i)),
        }
    }
    body.put_slice(b"],\"metadata\":{\"next_offset\":");
    match page.last().filter(|_| page.len() as u64 == limit) {
        None => body.put_slice(b"null"),
        Some(&last) => {
            let ms = clock.at_ms(last).max(0) as u64;
            if log == V2::Authentication {
                body.put_slice(b"[\"");
                put_dec(&mut body, ms, 1);
                body.put_slice(b"\",\"");
                body.put_slice(id_of(last).as_bytes());
                body.put_slice(b"\"]");
            } else {
                body.put_u8(b'"');
                put_dec(&mut body, ms, 1);
                body.put_u8(b',');
                body.put_slice(id_of(last).as_bytes());
                body.put_u8(b'"');
            }
        }
    }
    body.put_slice(b",\"total_objects\":");
    if log == V2::Authentication {
        put_dec(&mut body, high - low, 1);
    } else {
        body.put_slice(b"{\"relation\":\"eq\",\"value\":");
        put_dec(&mut body, high - low, 1);
        body.put_u8(b'}');
    }
    body.put_slice(b"}}}");
    sim.feed.serve(page.len() as u64);
    json_response(StatusCode::OK, body.freeze(), &[])
}

pub(super) async fn administrator(
    State(sim): State<Arc<Shared>>,
    method: Method,
    headers: HeaderMap,
    uri: Uri,
) -> Response {
    if let Some(refusal) = sim.refusal(&method, &uri, &headers) {
        return refusal;
    }
    let pairs = query_pairs(uri.query());
    let mintime = match param(&pairs, "mintime").map(str::parse::<i64>) {
        None => 0,
        Some(Ok(seconds)) => seconds,
        Some(Err(_)) => return bad_request("mintime must be epoch seconds"),
    };
    let timeline = &sim.administrator;
    let (total, clock) = (timeline.total(), timeline.clock());
    let (oldest, newest) = sim.served_span();
    let low = clock.first_at_or_after(mintime.saturating_mul(1000).max(oldest), total);
    let high = clock.first_at_or_after(newest.saturating_add(1), total).max(low).min(low + V1_PAGE);
    let mut body = BytesMut::with_capacity((high - low) as usize * 300 + 40);
    body.put_slice(b"{\"stat\":\"OK\",\"response\":[");
    for i in low..high {
        if i > low {
            body.put_u8(b',');
        }
        render::put_administrator(&mut body, i, clock.at_us(i));
    }
    body.put_slice(b"]}");
    sim.feed.serve(high - low);
    json_response(StatusCode::OK, body.freeze(), &[])
}
