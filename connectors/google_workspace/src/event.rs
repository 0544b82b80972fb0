//! From a Reports API activity to a logcrawl record: the activity stays the JSON Google sent (one pass
//! over its top-level members finds what logcrawl reads), and only what logcrawl adds goes into `data`:
//!
//! | attribute | from |
//! |---|---|
//! | `timestamp` | `id.time` |
//! | `uniqueQualifier` | `id.uniqueQualifier` (lifted to the top for facets; `id` stays as it is) |
//! | `message` | `<actor> <event name>[ and N more] (<application>)` |
//! | `status` | `warning` for a failure (an event named `*_failure`, or `login_failure_type`), else `info` |
//! | `usr.id`, `usr.email` | `actor.profileId`, `actor.email` |
//! | `network.client.ip` | `ipAddress` |
//! | `evt.name` | the first event's `name` |
//! | `evt.outcome` | `success` / `failure` for events named `*_success` / `*_failure` |
//!
//! An activity holds one or more `events` (`{type, name, parameters[]}`); they stay in the record as sent.

use std::borrow::Cow;

use jiff::Timestamp;
use logcrawl_connector::Standard;
use logcrawl_connector::members::pick;
use logcrawl_core::{Fields, RawEvent, raw_member, raw_scalar, raw_str_at, raw_text};
use serde_json::Value;
use serde_json::value::RawValue;

/// One activity: what logcrawl adds, its instant and key, and the activity.
#[derive(Debug)]
pub struct Activity {
    /// `message`, `timestamp`, `status`, `uniqueQualifier` and the standard attributes.
    pub(crate) data: Fields,
    /// `id.time`, when it is an instant.
    pub(crate) at: Option<Timestamp>,
    /// `id.time` and `id.uniqueQualifier`, a space between: the dedupe key (when both are there).
    pub(crate) key: Option<String>,
    /// The whole activity, a JSON object (a slice of its page).
    pub(crate) raw: RawEvent,
}

fn text<'a>(raw: Option<&'a RawValue>, path: &[&str]) -> Option<Cow<'a, str>> {
    let raw = raw?;
    if path.is_empty() { raw_text(Some(raw)) } else { raw_str_at(raw, path) }.filter(|s| !s.trim().is_empty())
}

fn owned(text: Option<Cow<'_, str>>) -> Option<String> {
    text.map(Cow::into_owned)
}

/// Maps an activity. Fails when it is not a JSON object.
pub(crate) fn to_activity(raw: RawEvent) -> Result<Activity, serde_json::Error> {
    let mut data = Fields::new();
    let (at, key);
    {
        let ([id, actor, ip, events], groups) = pick(&raw, ["id", "actor", "ipAddress", "events"])?;
        let id = id.filter(|id| id.get().starts_with('{'));
        let time = text(id, &["time"]);
        at = time.as_deref().and_then(|t| t.parse::<Timestamp>().ok());
        let qualifier = id.and_then(|id| raw_scalar(raw_member(id, "uniqueQualifier")));
        key = match (&time, &qualifier) {
            (Some(time), Some(qualifier)) if at.is_some() => Some(format!("{time} {qualifier}")),
            _ => None,
        };
        if let Some(qualifier) = &qualifier {
            data.insert("uniqueQualifier".into(), Value::String(qualifier.clone().into_owned()));
        }
        let application = text(id, &["applicationName"]);
        let events: Vec<&RawValue> =
            events.and_then(|events| serde_json::from_str::<Vec<&RawValue>>(events.get()).ok()).unwrap_or_default();
        let first = events.first().copied();
        let name = text(first, &["name"]);
        let failed = name.as_deref().is_some_and(|n| n.ends_with("_failure"))
            || first.is_some_and(|e| e.get().contains("\"login_failure_type\""));
        let outcome = match name.as_deref() {
            Some(n) if n.ends_with("_failure") => Some("failure"),
            Some(n) if n.ends_with("_success") => Some("success"),
            _ => None,
        };
        let actor = actor.filter(|a| a.get().starts_with('{'));
        let who = text(actor, &["email"])
            .or_else(|| text(actor, &["key"]))
            .or_else(|| text(actor, &["callerType"]))
            .unwrap_or(Cow::Borrowed("someone"));
        let mut message = format!("{who} {}", name.as_deref().unwrap_or("did something"));
        if events.len() > 1 {
            message.push_str(&format!(" and {} more", events.len() - 1));
        }
        if let Some(application) = &application {
            message.push_str(&format!(" ({application})"));
        }
        Standard {
            message: Some(message),
            timestamp: at,
            status: Some(if failed { "warning" } else { "info" }.into()),
            usr_id: owned(text(actor, &["profileId"])),
            usr_email: owned(text(actor, &["email"])),
            client_ip: owned(text(ip, &[])),
            evt_name: owned(name),
            evt_outcome: outcome.map(str::to_owned),
            ..Standard::default()
        }
        .insert(&mut data, |group| groups.get(group));
    }
    Ok(Activity { data, at, key, raw })
}

#[cfg(test)]
mod tests {
    use super::*;
    use logcrawl_core::LogRecord;
    use serde_json::json;

    fn parsed(event: &Value) -> Activity {
        to_activity(RawValue::from_string(event.to_string()).unwrap().into()).unwrap()
    }

    fn record(event: &Value) -> Value {
        let activity = parsed(event);
        LogRecord::new(activity.data).with_raw(activity.raw).to_value().unwrap()
    }

    /// A login activity as the Reports API reference shows one, shortened.
    fn login() -> Value {
        json!({"kind": "admin#reports#activity",
               "id": {"time": "2024-05-02T10:11:12.345Z", "uniqueQualifier": "-5316829342129408256", "applicationName": "login", "customerId": "C03az79cb"},
               "etag": "\"abc\"", "actor": {"callerType": "USER", "email": "liz@example.com", "profileId": "114511147312345678901"},
               "ipAddress": "203.0.113.7",
               "events": [{"type": "login", "name": "login_failure", "parameters": [{"name": "login_type", "value": "google_password"},
                          {"name": "login_failure_type", "value": "login_failure_invalid_password"}, {"name": "is_suspicious", "boolValue": false}]}]})
    }

    #[test]
    fn activities_map_to_the_standard_attributes_and_keep_every_member() {
        let event = login();
        let out = record(&event);
        assert_eq!(out["message"], "liz@example.com login_failure (login)");
        assert_eq!(out["status"], "warning");
        assert!((out["timestamp"].as_f64().unwrap() - 1_714_644_672.345).abs() < 1e-6);
        assert_eq!(out["usr"], json!({"id": "114511147312345678901", "email": "liz@example.com"}));
        assert_eq!(out["network"]["client"]["ip"], "203.0.113.7");
        assert_eq!(out["evt"], json!({"name": "login_failure", "outcome": "failure"}));
        assert_eq!(out["uniqueQualifier"], "-5316829342129408256");
        let mut expected = event.as_object().unwrap().clone();
        for (key, value) in out.as_object().unwrap() {
            if !["message", "timestamp", "status", "usr", "network", "evt", "uniqueQualifier"].contains(&key.as_str()) {
                assert_eq!(expected.remove(key).as_ref(), Some(value), "{key}");
            }
        }
        assert!(expected.is_empty(), "every member kept: {expected:?}");
        let activity = parsed(&event);
        assert_eq!(activity.key.as_deref(), Some("2024-05-02T10:11:12.345Z -5316829342129408256"));
    }

    #[test]
    fn keys_need_both_halves_and_one_qualifier_at_two_times_is_two_keys() {
        let mut other = login();
        other["id"]["time"] = json!("2024-05-02T10:11:13.000Z");
        assert_ne!(parsed(&login()).key, parsed(&other).key, "uniqueQualifier alone is not unique");
        let mut no_time = login();
        no_time["id"].as_object_mut().unwrap().remove("time");
        assert!(parsed(&no_time).key.is_none() && parsed(&no_time).at.is_none());
        let mut bad_time = login();
        bad_time["id"]["time"] = json!("yesterday");
        assert!(parsed(&bad_time).key.is_none());
        let mut numeric = login();
        numeric["id"]["uniqueQualifier"] = json!(42);
        assert_eq!(parsed(&numeric).key.as_deref(), Some("2024-05-02T10:11:12.345Z 42"));
    }

    #[test]
    fn several_events_and_system_actors_read_well() {
        let drive = json!({"id": {"time": "2024-05-02T10:11:12Z", "uniqueQualifier": "7", "applicationName": "drive"},
            "actor": {"callerType": "KEY", "key": "SYSTEM"},
            "events": [{"type": "access", "name": "edit"}, {"type": "access", "name": "change_user_access"}]});
        let out = record(&drive);
        assert_eq!(out["message"], "SYSTEM edit and 1 more (drive)");
        assert_eq!((out["status"].as_str(), out["evt"]["name"].as_str()), (Some("info"), Some("edit")));
        assert!(out.get("usr").is_none() && out.get("network").is_none() && out["evt"].get("outcome").is_none());
        let odd = json!({"id": "x", "actor": 5, "events": "no", "usr": "mine"});
        let out = record(&odd);
        assert_eq!(out["message"], "someone did something");
        assert_eq!(out["usr"], "mine", "an own member that is not an object stays");
        for text in ["[]", "\"e\"", "1", "null"] {
            assert!(to_activity(RawValue::from_string(text.to_owned()).unwrap().into()).is_err());
        }
    }

    proptest::proptest! {
        #[test]
        fn no_activity_panics(text in ".{0,160}") {
            if let Ok(raw) = RawValue::from_string(text) {
                let _any_result_is_fine = to_activity(raw.into()).is_ok();
            }
        }
    }
}
