//! From an Okta `LogEvent` to a logcrawl record: the event stays the JSON Okta sent, never re-serialised.
//!
//! Building a `serde_json` map per event (about a hundred allocations for a 1.5 KB event) and writing it
//! out again was most of the crawler's CPU. The event is kept as raw JSON ([`LogRecord::raw`]); one pass
//! over its top-level members finds the few fields logcrawl reads, and only what logcrawl adds or reads
//! goes into `data`.
//!
//! [`LogRecord::raw`]: logcrawl_core::LogRecord::raw

use logcrawl_connector::Standard;
use logcrawl_connector::members::pick_values;
use logcrawl_core::{ByteString, Fields, LogRecord, RawEvent};
use serde_json::Value;
use serde_json::value::RawValue;

/// One Okta event: what logcrawl adds, what the stream reads, and the event as Okta sent it.
#[derive(Debug)]
pub struct OktaEvent {
    /// The attributes logcrawl adds, found at parse time, built into `data` with the record.
    lifted: Lifted,
    /// The event's `uuid` (for the cursors and the boundary), when it is a string: a slice of the event.
    uuid: Option<ByteString>,
    /// The event's `published` instant, when it is a string: a slice of the event.
    published: Option<ByteString>,
    /// The whole event, a JSON object (a slice of the page it came in).
    raw: RawEvent,
}

/// `message`, `timestamp`, `status` and `network.client.ip` as the parse found them, strings as slices
/// of the event where it had no escape.
///
/// A page is parsed whole, and the page fetched ahead waits parsed while the current one is delivered:
/// as a `data` map (three `BTreeMap` nodes with `network` and `client`, ~2 kB) an event's attributes
/// would take more memory than its text does, for events that are not being delivered yet. They become
/// `data` when the stream yields the record ([`OktaEvent::into_record`]).
#[derive(Debug)]
struct Lifted {
    message: ByteString,
    timestamp: Option<serde_json::Number>,
    status: Option<&'static str>,
    client_ip: Option<ByteString>,
    /// The event's own `network` member (its text), which `network.client.ip` is merged into: only kept
    /// when there is an ip to merge.
    own_network: Option<ByteString>,
}

impl OktaEvent {
    /// The event's `uuid`, when it is a string.
    pub(crate) fn uuid(&self) -> Option<&str> {
        self.uuid.as_deref()
    }

    /// The event's `published` instant, when it is a string.
    pub(crate) fn published(&self) -> Option<&str> {
        self.published.as_deref()
    }

    /// The record (without a cursor): the added attributes as `data`, the event as `raw`.
    pub(crate) fn into_record(self) -> LogRecord {
        let Lifted { message, timestamp, status, client_ip, own_network } = self.lifted;
        let mut data = Fields::new();
        data.insert("message".into(), Value::String(message.into()));
        if let Some(timestamp) = timestamp {
            data.insert("timestamp".into(), Value::Number(timestamp));
        }
        if let Some(status) = status {
            data.insert("status".into(), Value::String(status.into()));
        }
        // An event with its own `network` object keeps its members: it is lifted and the ip merged in.
        // The text was a member's value of a parsed event, so it parses again.
        let own_network: Option<&RawValue> = own_network.as_deref().and_then(|text| serde_json::from_str(text).ok());
        let standard = Standard { client_ip: client_ip.map(String::from), ..Standard::default() };
        standard.insert(&mut data, |group| own_network.filter(|_| group == "network"));
        LogRecord::new(data).with_raw(self.raw)
    }
}

/// Reads an event: the attributes logcrawl adds (`message`, `timestamp`, `status`, `network.client.ip`,
/// as they always were), and `uuid` and `published`, which the stream reads. Every field of the event
/// stays where Okta put it, in `raw`. Fails when the event is not a JSON object.
pub(crate) fn to_event(raw: RawEvent) -> Result<OktaEvent, serde_json::Error> {
    let (lifted, uuid, published) = {
        let ([uuid, published, display_message, event_type, severity, client], groups) =
            pick_values(&raw, ["uuid", "published", "displayMessage", "eventType", "severity", "client"])?;
        let [uuid, published, display_message, event_type, severity] =
            [uuid, published, display_message, event_type, severity].map(|member| member.and_then(|m| m.text()));

        let message = [display_message, event_type]
            .into_iter()
            .find_map(|text| text.filter(|s| !s.is_empty()))
            .map_or_else(|| ByteString::from_static("Okta System Log event"), |text| raw.share(text));
        let timestamp = published.as_deref().and_then(published_seconds).and_then(serde_json::Number::from_f64);
        let status = severity.map(|s| status_of(&s));
        let client_ip =
            client.and_then(|client| client.str_at(&["ipAddress"])).filter(|ip| !ip.is_empty()).map(|ip| raw.share(ip));
        let own_network = groups.get("network").filter(|_| client_ip.is_some()).map(|own| raw.share(own.get().into()));
        let lifted = Lifted { message, timestamp, status, client_ip, own_network };
        (lifted, uuid.map(|uuid| raw.share(uuid)), published.map(|published| raw.share(published)))
    };
    Ok(OktaEvent { lifted, uuid, published, raw })
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

    /// The record as sinks see it.
    fn record(event: Value) -> Value {
        let event = to_event(RawValue::from_string(event.to_string()).unwrap().into()).unwrap();
        event.into_record().to_value().unwrap()
    }

    #[test]
    fn maps_the_standard_attributes_and_keeps_the_event() {
        let out = record(json!({
            "uuid": "u1",
            "published": "2024-08-13T15:58:20.353Z",
            "eventType": "user.session.start",
            "displayMessage": "User login to Okta",
            "severity": "WARN",
            "client": {"ipAddress": "10.0.0.1", "zone": null},
        }));
        assert_eq!(out["message"], "User login to Okta");
        assert_eq!(out["timestamp"].as_f64(), Some(1_723_564_700.353));
        assert_eq!(out["status"], "warning");
        assert_eq!(out["network"]["client"]["ip"], "10.0.0.1");
        assert_eq!(out["uuid"], "u1");
        assert_eq!(out["client"]["ipAddress"], "10.0.0.1");
        assert_eq!(out["displayMessage"], "User login to Okta");
        assert_eq!(out.as_object().unwrap().len(), 10, "{out}");
    }

    #[test]
    fn uuid_and_published_are_read_from_slices_of_the_event_not_copied_into_data() {
        let page = bytes::Bytes::from_static(br#"[{"uuid":"u\u0031","published":"2024-08-13T15:58:20.353Z","n":1}]"#);
        let event = to_event(RawEvent::split_array(&page).unwrap().pop().unwrap()).unwrap();
        assert_eq!(event.uuid(), Some("u1"), "an escaped uuid is unescaped");
        assert_eq!(event.published(), Some("2024-08-13T15:58:20.353Z"));
        let inside = page.as_ptr() as usize..page.as_ptr() as usize + page.len();
        assert!(inside.contains(&(event.published().unwrap().as_ptr() as usize)), "published shares the page");
        let record = event.into_record();
        assert!(!record.data.contains_key("uuid") && !record.data.contains_key("published"));
        let out = record.to_value().unwrap();
        assert_eq!((&out["uuid"], &out["published"]), (&json!("u1"), &json!("2024-08-13T15:58:20.353Z")));
    }

    #[test]
    fn falls_back_to_the_event_type() {
        let out = record(json!({"eventType": "app.oauth2.token.grant", "displayMessage": null, "severity": "ERROR"}));
        assert_eq!(out["message"], "app.oauth2.token.grant");
        assert_eq!(out["status"], "error");
        assert!(out.get("timestamp").is_none());
        assert!(out.get("network").is_none());
        let debug = record(json!({"severity": "DEBUG", "displayMessage": ""}));
        assert_eq!(debug["status"], "debug");
        assert_eq!(debug["message"], "Okta System Log event");
    }

    /// The record is exactly what adding the fields to the parsed event gave (the previous design).
    #[test]
    fn the_record_is_the_event_with_the_added_fields() {
        let event = json!({
            "uuid": "u\"2", "published": "2024-08-13T15:58:20Z", "displayMessage": "Caf\u{e9} \n login",
            "severity": "warning", "client": {"ipAddress": "::1"}, "network": {"isp": "x", "client": {"port": 1}},
            "message": "Okta's own", "timestamp": "Okta's own", "target": [{"id": 1}], "n": 1.25,
        });
        let mut expected = event.clone();
        expected["message"] = json!("Café \n login");
        expected["timestamp"] = json!(1_723_564_700.0);
        expected["status"] = json!("warning");
        expected["network"] = json!({"isp": "x", "client": {"port": 1, "ip": "::1"}});
        assert_eq!(record(event), expected);

        // Fields of another type than documented are kept as they are and add nothing.
        let odd = json!({"uuid": 7, "published": 3, "displayMessage": 1, "eventType": ["e"], "severity": {},
            "client": "c", "network": "n"});
        let mut expected = odd.clone();
        expected["message"] = json!("Okta System Log event");
        assert_eq!(record(odd), expected);
        let no_network = json!({"client": {"ipAddress": "10.0.0.2"}, "network": [1]});
        let mut expected = no_network.clone();
        expected["message"] = json!("Okta System Log event");
        assert_eq!(record(no_network), expected, "a non-object `network` is left as it is");
    }

    #[test]
    fn an_event_that_is_not_an_object_is_refused() {
        for text in ["[]", "\"e\"", "1", "null"] {
            assert!(to_event(RawValue::from_string(text.to_owned()).unwrap().into()).is_err(), "{text}");
        }
    }
}
