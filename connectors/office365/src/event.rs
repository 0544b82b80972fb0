//! From an audit record of a content blob to a logcrawl record: the record stays the JSON the blob held
//! (one pass over its top-level members finds what logcrawl reads), and only what logcrawl adds goes
//! into `data`:
//!
//! | attribute | from the common schema |
//! |---|---|
//! | `id` | `Id` |
//! | `timestamp` | `CreationTime` (UTC, written without a zone) |
//! | `message` | `<Workload>: <UserId> <Operation> <ObjectId>`, and `(<ResultStatus>)` when it says |
//! | `status` | `warning` when `ResultStatus` says it failed (`Failed`, `False`, `Failure`), else `info` |
//! | `usr.id`, `usr.email` | `UserId` (`usr.email` when it is an address) |
//! | `network.client.ip` | `ClientIP`, else `ActorIpAddress`, else `ClientIPAddress`, without a port |
//! | `evt.name` | `Operation` |
//! | `evt.outcome` | `success` / `failure` from `ResultStatus`, when it says |

use std::borrow::Cow;

use logcrawl_connector::Standard;
use logcrawl_connector::members::pick;
use logcrawl_core::{Fields, LogRecord, RawEvent, raw_scalar, raw_text};
use serde_json::Value;
use serde_json::value::RawValue;

use crate::api::parse_instant;

fn text(raw: Option<&RawValue>) -> Option<Cow<'_, str>> {
    raw_text(raw).or_else(|| raw_scalar(raw)).filter(|s| !s.trim().is_empty())
}

/// An address as `ClientIP` writes it, without a port: `1.2.3.4:5678` and `[2001:db8::1]:443` lose it,
/// a bare IPv6 address is kept whole.
pub(crate) fn strip_port(address: &str) -> &str {
    let address = address.trim();
    if let Some(rest) = address.strip_prefix('[') {
        return rest.split(']').next().unwrap_or(rest);
    }
    match address.rsplit_once(':') {
        Some((host, port)) if !host.contains(':') && port.bytes().all(|b| b.is_ascii_digit()) => host,
        _ => address,
    }
}

/// What `ResultStatus` says of the outcome, when it says.
fn outcome(status: &str) -> Option<&'static str> {
    match status.to_ascii_lowercase().as_str() {
        "succeeded" | "success" | "true" | "partiallysucceeded" => Some("success"),
        "failed" | "failure" | "false" => Some("failure"),
        _ => None,
    }
}

/// The record for one audit record of a blob. Fails when it is not a JSON object.
pub(crate) fn to_record(raw: RawEvent) -> Result<LogRecord, serde_json::Error> {
    let mut data = Fields::new();
    {
        let names = [
            "Id",
            "CreationTime",
            "Operation",
            "UserId",
            "ObjectId",
            "Workload",
            "ResultStatus",
            "ClientIP",
            "ActorIpAddress",
            "ClientIPAddress",
        ];
        let ([id, created, operation, user, object, workload, result, ip, actor_ip, client_ip], own) =
            pick(&raw, names)?;
        let id = text(id);
        let operation = text(operation);
        let user = text(user);
        let result = text(result);
        let outcome = result.as_deref().and_then(outcome);
        let mut message = String::new();
        if let Some(workload) = text(workload) {
            message.push_str(&workload);
            message.push_str(": ");
        }
        let object = text(object);
        let what: Vec<&str> =
            [user.as_deref(), operation.as_deref(), object.as_deref()].into_iter().flatten().map(str::trim).collect();
        message.push_str(&what.join(" "));
        if let Some(result) = &result {
            message.push_str(&format!(" ({result})"));
        }
        if message.trim().is_empty() {
            message.push_str("Office 365 audit record");
        }
        if let Some(id) = &id {
            data.insert("id".into(), Value::String(id.clone().into_owned()));
        }
        let address = text(ip).or_else(|| text(actor_ip)).or_else(|| text(client_ip));
        Standard {
            message: Some(message),
            timestamp: text(created).and_then(|t| parse_instant(&t)),
            status: Some(if outcome == Some("failure") { "warning" } else { "info" }.to_owned()),
            usr_id: user.as_deref().map(str::to_owned),
            usr_name: None,
            usr_email: user.as_deref().filter(|u| u.contains('@')).map(str::to_owned),
            client_ip: address.as_deref().map(strip_port).filter(|a| !a.is_empty()).map(str::to_owned),
            user_agent: None,
            evt_name: operation.as_deref().map(str::to_owned),
            evt_outcome: outcome.map(str::to_owned),
        }
        .insert(&mut data, |group| own.get(group));
    }
    Ok(LogRecord { data, cursor: None, raw: Some(raw) })
}
