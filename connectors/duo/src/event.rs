//! From a Duo log event to a logcrawl record: the event stays the JSON Duo sent (one pass over its
//! top-level members finds what logcrawl reads), and only what logcrawl adds goes into `data`:
//!
//! | attribute | authentication (v2) | administrator (v1) | telephony (v2) |
//! |---|---|---|---|
//! | `message` | `<user> <event_type>: <result> (<reason>) with <factor> for <application>` | `<username> <action> <object>` | `<type> to <phone> for <context> (<credits> credits)` |
//! | `timestamp` | `isotimestamp` (else `timestamp`, seconds) | `timestamp` (seconds) | `ts` |
//! | `status` | `info`; `warning` when denied; `error` for fraud or an error | `info` | `info` |
//! | `usr.id`, `usr.name`, `usr.email` | `user.key`, `user.name`, `email` | —, `username`, — | — |
//! | `network.client.ip` | `access_device.ip` | — | — |
//! | `evt.name` | `event_type` (`authentication`, `enrollment`) | `action` | `type` (`sms`, `phone`) |
//! | `evt.outcome` | `success`; `failure` when denied or fraud | — | — |
//!
//! What orders and identifies an event (the stream's cursors) is read here too: `txid` and a
//! millisecond `isotimestamp` (authentication), `telephony_id` and a millisecond `ts` (telephony), and
//! for the administrator log, whose events have no id, the second (`timestamp`) and a digest of the
//! event's JSON (see [`crate::admin`]).

use std::borrow::Cow;

use jiff::Timestamp;
use logcrawl_connector::Standard;
use logcrawl_connector::members::pick;
use logcrawl_core::{Fields, RawEvent, raw_scalar, raw_str_at, raw_text};
use serde_json::Value;
use serde_json::value::RawValue;

/// One Duo log event: what logcrawl adds, what orders and identifies it, and the event.
#[derive(Debug)]
pub struct DuoEvent {
    /// `message`, `timestamp`, `status` and the standard attributes.
    pub(crate) data: Fields,
    /// The event's unique id (`txid`, `telephony_id`), when it has one.
    pub(crate) id: Option<String>,
    /// The millisecond it happened in, the resolution Duo filters by (`None` when Duo wrote the time
    /// less precisely, or not at all).
    pub(crate) at: Option<Timestamp>,
    /// The whole second it happened in (the v1 `timestamp`).
    pub(crate) second: Option<i64>,
    /// The whole event, a JSON object (a slice of its page).
    pub(crate) raw: RawEvent,
}

/// The string at `path` below `member` (the member itself for an empty path), when it is one and not
/// empty.
fn string(member: Option<&RawValue>, path: &[&str]) -> Option<String> {
    let found = match path {
        [] => raw_text(member),
        _ => raw_str_at(member?, path),
    };
    found.filter(|s| !s.is_empty()).map(Cow::into_owned)
}

/// The millisecond `at` lies in.
fn millisecond(at: Timestamp) -> Option<Timestamp> {
    Timestamp::from_millisecond(at.as_millisecond()).ok()
}

/// An ISO 8601 instant with its offset, and whether it has at least milliseconds.
fn instant(text: Option<&str>) -> (Option<Timestamp>, bool) {
    let Some(text) = text else { return (None, false) };
    let Ok(at) = text.parse::<Timestamp>() else { return (None, false) };
    let digits = text.split_once('.').map_or(0, |(_, rest)| rest.bytes().take_while(u8::is_ascii_digit).count());
    (Some(at), digits >= 3)
}

/// A whole number of seconds, as Duo writes `timestamp`.
fn seconds(member: Option<&RawValue>) -> Option<i64> {
    raw_scalar(member)?.parse().ok()
}

/// An authentication log event (v2). Fails when it is not a JSON object.
pub(crate) fn authentication(raw: RawEvent) -> Result<DuoEvent, serde_json::Error> {
    let mut data = Fields::new();
    let (id, at, second);
    {
        let (
            [txid, isotimestamp, timestamp, user, email, event_type, result, reason, factor, application, device],
            own,
        ) = pick(
            &raw,
            [
                "txid",
                "isotimestamp",
                "timestamp",
                "user",
                "email",
                "event_type",
                "result",
                "reason",
                "factor",
                "application",
                "access_device",
            ],
        )?;
        id = string(txid, &[]);
        let iso = string(isotimestamp, &[]);
        let (when, precise) = instant(iso.as_deref());
        second = seconds(timestamp);
        at = when.filter(|_| precise).and_then(millisecond);
        let when = when.or_else(|| second.and_then(|s| Timestamp::from_second(s).ok()));

        let result = string(result, &[]);
        let event_type = string(event_type, &[]);
        let (usr_id, usr_name, usr_email) = (string(user, &["key"]), string(user, &["name"]), string(email, &[]));
        let who = usr_name.clone().or_else(|| usr_email.clone()).or_else(|| usr_id.clone());
        let mut message = format!(
            "{} {}: {}",
            who.as_deref().unwrap_or("unknown user"),
            event_type.as_deref().unwrap_or("authentication"),
            result.as_deref().unwrap_or("-")
        );
        if let Some(reason) = string(reason, &[]) {
            message.push_str(&format!(" ({reason})"));
        }
        if let Some(factor) = string(factor, &[]) {
            message.push_str(&format!(" with {factor}"));
        }
        if let Some(application) = string(application, &["name"]) {
            message.push_str(&format!(" for {application}"));
        }
        let (status, outcome) = match result.as_deref() {
            Some("success") => ("info", Some("success")),
            Some("denied") => ("warning", Some("failure")),
            Some("fraud") => ("error", Some("failure")),
            Some("error") => ("error", None),
            _ => ("info", None),
        };
        Standard {
            message: Some(message),
            timestamp: when,
            status: Some(status.into()),
            usr_id,
            usr_name,
            usr_email,
            client_ip: string(device, &["ip"]),
            evt_name: event_type,
            evt_outcome: outcome.map(str::to_owned),
            ..Standard::default()
        }
        .insert(&mut data, |group| own.get(group));
    }
    Ok(DuoEvent { data, id, at, second, raw })
}

/// A telephony log event (v2). Fails when it is not a JSON object.
pub(crate) fn telephony(raw: RawEvent) -> Result<DuoEvent, serde_json::Error> {
    let mut data = Fields::new();
    let (id, at);
    {
        let ([telephony_id, ts, context, kind, phone, credits], own) =
            pick(&raw, ["telephony_id", "ts", "context", "type", "phone", "credits"])?;
        id = string(telephony_id, &[]);
        let (when, precise) = instant(string(ts, &[]).as_deref());
        at = when.filter(|_| precise).and_then(millisecond);
        let kind = string(kind, &[]);
        let credits = raw_scalar(credits).map_or_else(|| "?".to_owned(), Cow::into_owned);
        let message = format!(
            "{} to {} for {} ({credits} credits)",
            kind.as_deref().unwrap_or("telephony"),
            string(phone, &[]).as_deref().unwrap_or("an unknown phone"),
            string(context, &[]).as_deref().unwrap_or("-"),
        );
        Standard {
            message: Some(message),
            timestamp: when,
            status: Some("info".into()),
            evt_name: kind,
            ..Standard::default()
        }
        .insert(&mut data, |group| own.get(group));
    }
    Ok(DuoEvent { data, id, at, second: None, raw })
}

/// An administrator log event (v1). Fails when it is not a JSON object.
pub(crate) fn administrator(raw: RawEvent) -> Result<DuoEvent, serde_json::Error> {
    let mut data = Fields::new();
    let second;
    {
        let ([timestamp, action, object, username], own) = pick(&raw, ["timestamp", "action", "object", "username"])?;
        second = seconds(timestamp);
        let (action, username) = (string(action, &[]), string(username, &[]));
        let mut message =
            format!("{} {}", username.as_deref().unwrap_or("an administrator"), action.as_deref().unwrap_or("acted"));
        if let Some(object) = string(object, &[]) {
            message.push(' ');
            message.push_str(&object);
        }
        // Whole seconds, as Duo writes them (an integer, where `Standard` would write a fraction).
        if let Some(second) = second {
            data.insert("timestamp".into(), Value::from(second));
        }
        Standard {
            message: Some(message),
            status: Some("info".into()),
            usr_name: username,
            evt_name: action,
            ..Standard::default()
        }
        .insert(&mut data, |group| own.get(group));
    }
    Ok(DuoEvent { data, id: None, at: None, second, raw })
}

#[cfg(test)]
mod tests {
    use super::*;
    use logcrawl_core::LogRecord;
    use serde_json::json;

    fn raw(event: &Value) -> RawEvent {
        RawValue::from_string(event.to_string()).unwrap().into()
    }

    fn out(event: DuoEvent) -> Value {
        LogRecord::new(event.data).with_raw(event.raw).to_value().unwrap()
    }

    /// The authentication event of Duo's Admin API documentation (abridged).
    fn authlog() -> Value {
        json!({
            "access_device": {"browser": "Chrome", "browser_version": "67.0.3396.99", "ip": "169.232.89.219",
                              "location": {"city": "Ann Arbor", "country": "United States", "state": "Michigan"},
                              "os": "Mac OS X", "os_version": "10.14.1"},
            "alias": "", "application": {"key": "DIY231J8BR23QK4UKBY8", "name": "Microsoft Azure Active Directory"},
            "auth_device": {"ip": "192.168.225.254", "key": "DP5BJ05HI4WRAVFZG9ZY", "name": "My iPhone X (734-555-2342)"},
            "email": "narroway@example.com", "event_type": "authentication", "factor": "duo_push",
            "isotimestamp": "2020-02-13T18:56:20.351346+00:00", "ood_software": null, "reason": "user_approved",
            "result": "success", "timestamp": 1581620180, "trusted_endpoint_status": "not trusted",
            "txid": "340a23e3-23f3-4e8a-8b2e-e4d0ba5e4b8b",
            "user": {"groups": ["Duo Users", "CorpHQ Users"], "key": "DU3KC77WJ06Y5HIV7XKQ", "name": "narroway@example.com"}
        })
    }

    #[test]
    fn an_authentication_maps_to_the_standard_attributes_and_keeps_every_member() {
        let event = authentication(raw(&authlog())).unwrap();
        assert_eq!(event.id.as_deref(), Some("340a23e3-23f3-4e8a-8b2e-e4d0ba5e4b8b"));
        assert_eq!(event.at, "2020-02-13T18:56:20.351Z".parse().ok(), "the millisecond Duo filters by");
        let out = out(event);
        assert_eq!(
            out["message"],
            "narroway@example.com authentication: success (user_approved) with duo_push for Microsoft Azure Active Directory"
        );
        assert!((out["timestamp"].as_f64().unwrap() - 1_581_620_180.351_346).abs() < 1e-6, "{}", out["timestamp"]);
        assert_eq!(out["status"], "info");
        assert_eq!(
            out["usr"],
            json!({"id": "DU3KC77WJ06Y5HIV7XKQ", "name": "narroway@example.com", "email": "narroway@example.com"})
        );
        assert_eq!(out["network"]["client"]["ip"], "169.232.89.219");
        assert_eq!(out["evt"], json!({"name": "authentication", "outcome": "success"}));
        let mut expected = authlog();
        for (key, value) in out.as_object().unwrap() {
            if !["message", "timestamp", "status", "usr", "network", "evt"].contains(&key.as_str()) {
                assert_eq!(expected.as_object_mut().unwrap().remove(key).as_ref(), Some(value), "{key}");
            }
        }
        assert_eq!(expected.as_object().unwrap().keys().collect::<Vec<_>>(), ["timestamp"], "every member kept");
    }

    #[test]
    fn denials_and_fraud_are_failures_and_imprecise_times_order_nothing() {
        let mut log = authlog();
        log["result"] = json!("fraud");
        log["reason"] = json!("user_marked_fraud");
        log["isotimestamp"] = json!("2020-02-13T18:56:20+00:00");
        let event = authentication(raw(&log)).unwrap();
        assert_eq!(event.at, None, "a time in whole seconds cannot place the event inside its second");
        let out = out(event);
        assert_eq!((out["status"].as_str(), out["evt"]["outcome"].as_str()), (Some("error"), Some("failure")));
        assert_eq!(out["timestamp"], 1_581_620_180.0);
        log["result"] = json!("denied");
        assert_eq!(super::tests::out(authentication(raw(&log)).unwrap())["status"], "warning");
        let bare = authentication(raw(&json!({"timestamp": 12, "user": "x", "network": 3}))).unwrap();
        assert!(bare.id.is_none() && bare.at.is_none());
        let bare = super::tests::out(bare);
        assert_eq!(bare["message"], "unknown user authentication: -");
        assert_eq!(bare["network"], 3, "an event's own member that is not an object is left alone");
        for text in ["[]", "\"e\"", "1", "null"] {
            assert!(authentication(RawValue::from_string(text.to_owned()).unwrap().into()).is_err());
        }
    }

    #[test]
    fn telephony_and_administrator_events_map_too() {
        let call = json!({"context": "authentication", "credits": 1, "phone": "+15035550100",
                          "telephony_id": "220a8a54-9c36-4d6b-8b3f-2a1b0f2a4c10", "ts": "2022-10-25T16:05:33.123456+00:00",
                          "txid": "a1b1c1d1-0000-0000-0000-000000000000", "type": "sms"});
        let event = telephony(raw(&call)).unwrap();
        assert_eq!(event.id.as_deref(), Some("220a8a54-9c36-4d6b-8b3f-2a1b0f2a4c10"));
        assert!(event.at.is_some());
        let out = out(event);
        assert_eq!(out["message"], "sms to +15035550100 for authentication (1 credits)");
        assert_eq!((out["evt"]["name"].as_str(), out["phone"].as_str()), (Some("sms"), Some("+15035550100")));

        let action = json!({"action": "user_update", "description": "{\"notes\": \"Joe asked\"}",
                            "isotimestamp": "2020-01-24T15:09:42+00:00", "object": "jsmith", "timestamp": 1579878582,
                            "username": "admin"});
        let event = administrator(raw(&action)).unwrap();
        assert_eq!(event.second, Some(1_579_878_582));
        let out = super::tests::out(event);
        assert_eq!(out["message"], "admin user_update jsmith");
        assert_eq!(out["timestamp"], 1_579_878_582);
        assert_eq!((out["usr"]["name"].as_str(), out["evt"]["name"].as_str()), (Some("admin"), Some("user_update")));
        assert_eq!(out["description"], "{\"notes\": \"Joe asked\"}", "kept as Duo wrote it");
    }

    proptest::proptest! {
        #[test]
        fn no_event_panics(text in ".{0,96}") {
            if let Ok(raw) = RawValue::from_string(text) {
                let raw: RawEvent = raw.into();
                let _ = (authentication(raw.clone()).is_ok(), telephony(raw.clone()).is_ok(), administrator(raw).is_ok());
            }
        }

        #[test]
        fn instants_read_their_precision(ms in 0i64..4_102_444_800_000, micros in 0u32..1000, offset in -14i32..=14) {
            let at = Timestamp::from_millisecond(ms).unwrap();
            let zone = jiff::tz::TimeZone::fixed(jiff::tz::Offset::from_hours(offset as i8).unwrap());
            let local = at.to_zoned(zone);
            let text = format!("{}{micros:03}{}", local.strftime("%Y-%m-%dT%H:%M:%S%.3f"), local.strftime("%:z"));
            let (read, precise) = instant(Some(&text));
            proptest::prop_assert!(precise);
            proptest::prop_assert_eq!(read.map(|t| t.as_millisecond()), Some(ms));
            let whole = local.strftime("%Y-%m-%dT%H:%M:%S%:z").to_string();
            proptest::prop_assert_eq!(instant(Some(&whole)), (Timestamp::from_second(ms.div_euclid(1000)).ok(), false));
        }
    }
}
