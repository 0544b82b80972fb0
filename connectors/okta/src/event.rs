//! From an Okta `LogEvent` to a logcrawl record: move, never re-serialise.

use logcrawl_core::Fields;
use serde_json::{Map, Value};

/// Adds `message`, `timestamp`, `status` and `network.client.ip` to an event, in place. Every field of the
/// event stays where Okta put it.
pub(crate) fn to_record_fields(mut event: Fields) -> Fields {
    let message = ["displayMessage", "eventType"]
        .iter()
        .find_map(|key| event.get(*key).and_then(Value::as_str).filter(|s| !s.is_empty()))
        .unwrap_or("Okta System Log event")
        .to_owned();
    let timestamp = event.get("published").and_then(Value::as_str).and_then(published_seconds);
    let status = event.get("severity").and_then(Value::as_str).map(status_of);
    let ip = event
        .get("client")
        .and_then(|client| client.get("ipAddress"))
        .and_then(Value::as_str)
        .filter(|ip| !ip.is_empty())
        .map(str::to_owned);

    event.insert("message".into(), Value::String(message));
    if let Some(ts) = timestamp.and_then(serde_json::Number::from_f64) {
        event.insert("timestamp".into(), Value::Number(ts));
    }
    if let Some(status) = status {
        event.insert("status".into(), Value::String(status.into()));
    }
    if let Some(ip) = ip {
        let network = event.entry("network").or_insert_with(|| Value::Object(Map::new()));
        if let Value::Object(network) = network {
            let client = network.entry("client").or_insert_with(|| Value::Object(Map::new()));
            if let Value::Object(client) = client {
                client.insert("ip".into(), Value::String(ip));
            }
        }
    }
    event
}

/// `published` (RFC 3339) as seconds since the epoch, millisecond precision.
pub(crate) fn published_seconds(published: &str) -> Option<f64> {
    let ts: jiff::Timestamp = published.parse().ok()?;
    Some(ts.as_millisecond() as f64 / 1000.0)
}

/// Okta `severity` to a Datadog-style status.
fn status_of(severity: &str) -> &'static str {
    match severity {
        "DEBUG" => "debug",
        "INFO" => "info",
        "WARN" => "warning",
        "ERROR" => "error",
        other if other.eq_ignore_ascii_case("warn") || other.eq_ignore_ascii_case("warning") => "warning",
        other if other.eq_ignore_ascii_case("error") => "error",
        other if other.eq_ignore_ascii_case("debug") => "debug",
        _ => "info",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn fields(value: Value) -> Fields {
        match value {
            Value::Object(map) => map,
            _ => unreachable!(),
        }
    }

    #[test]
    fn maps_the_standard_attributes_and_keeps_the_event() {
        let out = to_record_fields(fields(json!({
            "uuid": "u1",
            "published": "2024-08-13T15:58:20.353Z",
            "eventType": "user.session.start",
            "displayMessage": "User login to Okta",
            "severity": "WARN",
            "client": {"ipAddress": "10.0.0.1", "zone": null},
        })));
        assert_eq!(out["message"], "User login to Okta");
        assert_eq!(out["timestamp"].as_f64(), Some(1_723_564_700.353));
        assert_eq!(out["status"], "warning");
        assert_eq!(out["network"]["client"]["ip"], "10.0.0.1");
        assert_eq!(out["uuid"], "u1");
        assert_eq!(out["client"]["ipAddress"], "10.0.0.1");
        assert_eq!(out["displayMessage"], "User login to Okta");
    }

    #[test]
    fn falls_back_to_the_event_type() {
        let out = to_record_fields(fields(
            json!({"eventType": "app.oauth2.token.grant", "displayMessage": null, "severity": "ERROR"}),
        ));
        assert_eq!(out["message"], "app.oauth2.token.grant");
        assert_eq!(out["status"], "error");
        assert!(!out.contains_key("timestamp"));
        assert!(!out.contains_key("network"));
        let debug = to_record_fields(fields(json!({"severity": "DEBUG", "displayMessage": ""})));
        assert_eq!(debug["status"], "debug");
        assert_eq!(debug["message"], "Okta System Log event");
    }
}
