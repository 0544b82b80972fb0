//! From a 1Password event to a logcrawl record: the event stays the JSON 1Password sent (one pass over
//! its top-level members finds what logcrawl reads), and only what logcrawl adds goes into `data`.
//!
//! Every record gets `uuid`, `message`, `timestamp` (epoch seconds, in place of 1Password's RFC 3339
//! `timestamp`, which the cursor keeps), `status` and the Datadog standard attributes the feature has:
//!
//! | feature | `message` | `usr.*` from | `network.client.ip` | `evt.name` | `evt.outcome` | `status` |
//! |---|---|---|---|---|---|---|
//! | `auditevents` | `<actor> <action> <object_type> <object_uuid>` | `actor_details` (`actor_uuid`) | `session.ip` | `action` | — | `info` |
//! | `signinattempts` | `Sign-in attempt by <user>: <category> (<type>)` | `target_user` | `client.ip_address` | `signinattempt` | `success` for `success` and `firewall_reported_success`, else `failure` | `info`, `warning` when failed |
//! | `itemusages` | `<user> <action> item <item_uuid> in vault <vault_uuid>` | `user` | `client.ip_address` | `action` | — | `info` |

use std::borrow::Cow;

use logcrawl_connector::Standard;
use logcrawl_connector::members::pick;
use logcrawl_core::{Fields, RawEvent, raw_str_at, raw_text};
use serde_json::Value;
use serde_json::value::RawValue;

use crate::stream::Feature;

/// One 1Password event: what logcrawl adds, the `timestamp` as 1Password wrote it, and the event.
#[derive(Debug)]
pub struct OnePasswordEvent {
    /// `uuid`, `message`, `timestamp`, `status` and the standard attributes.
    pub(crate) data: Fields,
    /// `timestamp` as 1Password wrote it: the instant the cursors keep and compare.
    pub(crate) timestamp: Option<String>,
    /// The whole event, a JSON object (a slice of its page).
    pub(crate) raw: RawEvent,
}

impl OnePasswordEvent {
    /// The event's `uuid`, when it is a string.
    pub(crate) fn uuid(&self) -> Option<&str> {
        self.data.get("uuid").and_then(Value::as_str)
    }
}

fn text(raw: Option<&RawValue>) -> Option<Cow<'_, str>> {
    raw_text(raw).filter(|s| !s.is_empty())
}

fn at<'a>(raw: Option<&'a RawValue>, path: &[&str]) -> Option<Cow<'a, str>> {
    raw_str_at(raw?, path).filter(|s| !s.is_empty())
}

/// Who a user object names, for a message: email, else name, else uuid.
fn who<'a>(user: Option<&'a RawValue>, fallback: Option<Cow<'a, str>>) -> Cow<'a, str> {
    at(user, &["email"]).or_else(|| at(user, &["name"])).or(fallback).unwrap_or(Cow::Borrowed("someone"))
}

/// The attributes of the user a feature's event is about (`usr.*`, with the id given), from `client_ip`.
fn person(user: Option<&RawValue>, id: Option<Cow<'_, str>>, client_ip: Option<Cow<'_, str>>) -> Standard {
    Standard {
        usr_id: id.map(Cow::into_owned),
        usr_name: at(user, &["name"]).map(Cow::into_owned),
        usr_email: at(user, &["email"]).map(Cow::into_owned),
        client_ip: client_ip.map(Cow::into_owned),
        ..Standard::default()
    }
}

fn or_dash<'v>(value: Option<&'v Cow<'_, str>>) -> &'v str {
    value.map_or("-", |v| v.as_ref())
}

/// Maps an item of `feature`'s page to a record. Fails when it is not a JSON object.
pub(crate) fn to_event(feature: Feature, raw: RawEvent) -> Result<OnePasswordEvent, serde_json::Error> {
    let mut data = Fields::new();
    let timestamp;
    {
        let (
            [
                uuid,
                timestamp_member,
                action,
                actor_uuid,
                actor_details,
                object_type,
                object_uuid,
                session,
                category,
                kind,
                target_user,
                user,
                client,
                item_uuid,
                vault_uuid,
            ],
            roots,
        ) = pick(
            &raw,
            [
                "uuid",
                "timestamp",
                "action",
                "actor_uuid",
                "actor_details",
                "object_type",
                "object_uuid",
                "session",
                "category",
                "type",
                "target_user",
                "user",
                "client",
                "item_uuid",
                "vault_uuid",
            ],
        )?;
        // Sign-in attempts name their user `target_user`, item usages `user`.
        let user = user.or(target_user);

        timestamp = text(timestamp_member).map(Cow::into_owned);
        let action = text(action);
        let standard = match feature {
            Feature::AuditEvents => {
                let actor_id = text(actor_uuid).or_else(|| at(actor_details, &["uuid"]));
                let message = format!(
                    "{} {} {} {}",
                    who(actor_details, actor_id.clone()),
                    or_dash(action.as_ref()),
                    or_dash(text(object_type).as_ref()),
                    or_dash(text(object_uuid).as_ref()),
                );
                Standard {
                    message: Some(message),
                    status: Some("info".into()),
                    evt_name: action.map(Cow::into_owned),
                    ..person(actor_details, actor_id, at(session, &["ip"]))
                }
            }
            Feature::SignInAttempts => {
                let category = text(category);
                let succeeded =
                    category.as_deref().is_some_and(|c| matches!(c, "success" | "firewall_reported_success"));
                let message = format!(
                    "Sign-in attempt by {}: {} ({})",
                    who(user, at(user, &["uuid"])),
                    or_dash(category.as_ref()),
                    or_dash(text(kind).as_ref()),
                );
                Standard {
                    message: Some(message),
                    status: Some(if succeeded || category.is_none() { "info" } else { "warning" }.into()),
                    evt_name: Some("signinattempt".into()),
                    evt_outcome: category.as_ref().map(|_| if succeeded { "success" } else { "failure" }.to_owned()),
                    ..person(user, at(user, &["uuid"]), at(client, &["ip_address"]))
                }
            }
            Feature::ItemUsages => {
                let message = format!(
                    "{} {} item {} in vault {}",
                    who(user, at(user, &["uuid"])),
                    or_dash(action.as_ref()),
                    or_dash(text(item_uuid).as_ref()),
                    or_dash(text(vault_uuid).as_ref()),
                );
                Standard {
                    message: Some(message),
                    status: Some("info".into()),
                    evt_name: action.map(Cow::into_owned),
                    ..person(user, at(user, &["uuid"]), at(client, &["ip_address"]))
                }
            }
        };

        if let Some(uuid) = uuid.and_then(|raw| serde_json::from_str::<Value>(raw.get()).ok()) {
            data.insert("uuid".into(), uuid);
        }
        let standard = Standard { timestamp: timestamp.as_deref().and_then(|t| t.parse().ok()), ..standard };
        standard.insert(&mut data, |group| roots.get(group));
    }
    Ok(OnePasswordEvent { data, timestamp, raw })
}

#[cfg(test)]
mod tests {
    use super::*;
    use logcrawl_core::LogRecord;
    use serde_json::json;

    fn record(feature: Feature, event: &Value) -> (Value, Option<String>) {
        let event = to_event(feature, RawValue::from_string(event.to_string()).unwrap().into()).unwrap();
        let timestamp = event.timestamp.clone();
        (LogRecord::new(event.data).with_raw(event.raw).to_value().unwrap(), timestamp)
    }

    fn user() -> Value {
        json!({"uuid": "U1", "name": "Jack O'Neill", "email": "jack@example.com", "user_type": "user"})
    }

    #[test]
    fn audit_events_name_the_actor_and_the_action() {
        let event = json!({"uuid": "A1", "timestamp": "2024-08-13T15:58:20.353Z", "actor_uuid": "U1",
            "actor_details": user(), "action": "update", "object_type": "item", "object_uuid": "I9",
            "session": {"uuid": "S", "ip": "13.227.95.22"}, "location": {"country": "CA"}});
        let (out, timestamp) = record(Feature::AuditEvents, &event);
        assert_eq!(timestamp.as_deref(), Some("2024-08-13T15:58:20.353Z"));
        assert_eq!(out["message"], "jack@example.com update item I9");
        assert_eq!(out["timestamp"].as_f64(), Some(1_723_564_700.353));
        assert_eq!(out["status"], "info");
        assert_eq!(out["usr"], json!({"id": "U1", "name": "Jack O'Neill", "email": "jack@example.com"}));
        assert_eq!(out["network"]["client"]["ip"], "13.227.95.22");
        assert_eq!(out["evt"], json!({"name": "update"}));
        assert_eq!(out["session"], event["session"], "the event's members stay");
        assert_eq!(out["uuid"], "A1");
    }

    #[test]
    fn sign_in_attempts_have_an_outcome() {
        let failed = json!({"uuid": "B2", "timestamp": "2020-06-11T16:32:50-03:00", "category": "firewall_failed",
            "type": "continent_blocked", "target_user": user(), "client": {"ip_address": "10.0.0.1"}});
        let (out, _) = record(Feature::SignInAttempts, &failed);
        assert_eq!(out["message"], "Sign-in attempt by jack@example.com: firewall_failed (continent_blocked)");
        assert_eq!(out["status"], "warning");
        assert_eq!(out["evt"], json!({"name": "signinattempt", "outcome": "failure"}));
        assert_eq!(out["timestamp"].as_f64(), Some(1_591_903_970.0), "an offset is honoured");
        assert_eq!(out["type"], "continent_blocked");
        let ok = json!({"uuid": "B3", "category": "firewall_reported_success", "target_user": {"uuid": "U2"}});
        let (out, timestamp) = record(Feature::SignInAttempts, &ok);
        assert_eq!((out["status"].as_str(), out["evt"]["outcome"].as_str()), (Some("info"), Some("success")));
        assert_eq!(out["message"], "Sign-in attempt by U2: firewall_reported_success (-)");
        assert!(timestamp.is_none() && out.get("timestamp").is_none(), "no timestamp, none invented");
    }

    #[test]
    fn item_usages_name_the_item_and_vault() {
        let event = json!({"uuid": "C3", "timestamp": "2024-08-13T15:58:20Z", "used_version": 2, "vault_uuid": "V",
            "item_uuid": "I", "user": user(), "client": {"ip_address": "10.1.2.3"}, "action": "reveal"});
        let (out, _) = record(Feature::ItemUsages, &event);
        assert_eq!(out["message"], "jack@example.com reveal item I in vault V");
        assert_eq!(out["evt"]["name"], "reveal");
        assert_eq!(out["usr"]["id"], "U1");
        assert_eq!(out["network"]["client"]["ip"], "10.1.2.3");
        assert_eq!(out["used_version"], 2);
    }

    #[test]
    fn odd_members_are_kept_and_add_nothing() {
        let event = json!({"uuid": 5, "timestamp": "soon", "user": "x", "client": [1], "action": {}, "network": 1});
        let (out, timestamp) = record(Feature::ItemUsages, &event);
        assert_eq!(timestamp.as_deref(), Some("soon"));
        assert_eq!(out["timestamp"], "soon", "an unreadable timestamp stays as 1Password wrote it");
        assert!(out.get("usr").is_none() && out.get("evt").is_none());
        assert_eq!(out["network"], 1, "an event's own member stays when nothing is added under it");
        assert_eq!(out["uuid"], 5);
        assert_eq!(out["message"], "someone - item - in vault -");
        for text in ["[]", "\"e\"", "1", "null"] {
            assert!(to_event(Feature::AuditEvents, RawValue::from_string(text.to_owned()).unwrap().into()).is_err());
        }
    }

    proptest::proptest! {
        #[test]
        fn no_item_panics(text in ".{0,96}", feature in 0usize..3) {
            if let Ok(raw) = RawValue::from_string(text) {
                let _any_result_is_fine = to_event(Feature::ALL[feature], raw.into()).is_ok();
            }
        }
    }
}
