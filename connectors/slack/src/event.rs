//! From a Slack audit log entry to a logcrawl record: the entry stays the JSON Slack sent (one pass over
//! its top-level members finds what logcrawl reads), and only what logcrawl adds goes into `data`:
//!
//! | attribute | from |
//! |---|---|
//! | `id` | `id` (kept at the top level: the id downstream deduplication can key on) |
//! | `message` | `<actor> <action> <entity type> <entity name>`: the actor's email, else name, else id; the entity's name, else id |
//! | `timestamp` | `date_create` (epoch seconds) |
//! | `status` | `warning` for an action ending in `_failed`, else `info` |
//! | `usr.id`, `usr.name`, `usr.email` | `actor.user` |
//! | `network.client.ip`, `http.useragent` | `context.ip_address`, `context.ua` |
//! | `evt.name` | `action` |
//! | `evt.outcome` | `failure` for an action ending in `_failed`, `success` for `user_login` |

use std::borrow::Cow;

use jiff::Timestamp;
use logcrawl_connector::Standard;
use logcrawl_connector::members::pick;
use logcrawl_core::{Fields, RawEvent, raw_member, raw_str_at, raw_text};
use serde_json::Value;
use serde_json::value::RawValue;

/// One audit log entry: what logcrawl adds, its instant, and the entry.
#[derive(Debug)]
pub struct SlackEntry {
    /// `id`, `message`, `timestamp`, `status` and the standard attributes.
    pub(crate) data: Fields,
    /// `date_create`, when it is a number of seconds.
    pub(crate) at: Option<Timestamp>,
    /// The whole entry, a JSON object (a slice of its page).
    pub(crate) raw: RawEvent,
}

impl SlackEntry {
    /// The entry's `id`, when it is a string.
    pub(crate) fn id(&self) -> Option<&str> {
        self.data.get("id").and_then(Value::as_str)
    }
}

fn text<'a>(raw: Option<&'a RawValue>, path: &[&str]) -> Option<Cow<'a, str>> {
    let raw = raw?;
    if path.is_empty() { raw_text(Some(raw)) } else { raw_str_at(raw, path) }.filter(|s| !s.is_empty())
}

/// The entity, as a message names it: its type and its name (else its id).
fn entity_of(entity: Option<&RawValue>) -> String {
    let Some(kind) = text(entity, &["type"]) else { return String::from("-") };
    let inner = entity.and_then(|e| raw_member(e, &kind));
    match text(inner, &["name"]).or_else(|| text(inner, &["id"])) {
        Some(name) => format!("{kind} {name}"),
        None => kind.into_owned(),
    }
}

/// Maps an entry to a record. Fails when it is not a JSON object.
pub(crate) fn to_entry(raw: RawEvent) -> Result<SlackEntry, serde_json::Error> {
    let mut data = Fields::new();
    let at;
    {
        let ([id, date_create, action, actor, entity, context], roots) =
            pick(&raw, ["id", "date_create", "action", "actor", "entity", "context"])?;

        let seconds = date_create.and_then(|raw| seconds_of(raw.get()));
        at = seconds.and_then(|s| Timestamp::from_second(s).ok());
        let action = text(action, &[]);
        let failed = action.as_deref().is_some_and(|a| a.ends_with("_failed"));
        let user = |field: &str| text(actor, &["user", field]);
        let actor = user("email")
            .or_else(|| user("name"))
            .or_else(|| user("id"))
            .or_else(|| text(actor, &["type"]))
            .unwrap_or(Cow::Borrowed("someone"));
        let message = format!("{actor} {} {}", action.as_deref().unwrap_or("-"), entity_of(entity));

        if let Some(id) = id.and_then(|raw| serde_json::from_str::<Value>(raw.get()).ok()) {
            data.insert("id".into(), id);
        }
        // Whole seconds, as Slack writes them (an integer, where `Standard` would write a fraction).
        if let Some(seconds) = seconds.filter(|_| at.is_some()) {
            data.insert("timestamp".into(), Value::from(seconds));
        }
        let outcome = match action.as_deref() {
            _ if failed => Some("failure"),
            Some("user_login") => Some("success"),
            _ => None,
        };
        let owned = |text: Option<Cow<'_, str>>| text.map(Cow::into_owned);
        Standard {
            message: Some(message),
            status: Some(if failed { "warning" } else { "info" }.into()),
            usr_id: owned(user("id")),
            usr_name: owned(user("name")),
            usr_email: owned(user("email")),
            client_ip: owned(text(context, &["ip_address"])),
            user_agent: owned(text(context, &["ua"])),
            evt_name: owned(action),
            evt_outcome: outcome.map(str::to_owned),
            ..Standard::default()
        }
        .insert(&mut data, |group| roots.get(group));
    }
    Ok(SlackEntry { data, at, raw })
}

/// `date_create` as whole seconds: an integer, or a number with a fraction (rounded down).
fn seconds_of(json: &str) -> Option<i64> {
    json.parse::<i64>().ok().or_else(|| {
        let float = json.parse::<f64>().ok().filter(|f| f.is_finite() && f.abs() < 1e15)?;
        Some(float.floor() as i64)
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use logcrawl_core::LogRecord;
    use serde_json::json;

    fn record(entry: &Value) -> (Value, Option<Timestamp>) {
        let entry = to_entry(RawValue::from_string(entry.to_string()).unwrap().into()).unwrap();
        let at = entry.at;
        (LogRecord::new(entry.data).with_raw(entry.raw).to_value().unwrap(), at)
    }

    /// The entry of Slack's SDK test fixtures.
    fn fixture() -> Value {
        json!({"id": "xxx-yyy-zzz-111", "date_create": 1611221649, "action": "user_login",
               "actor": {"type": "user", "user": {"id": "W111", "name": "your name", "email": "foo@example.com", "team": "E111"}},
               "entity": {"type": "user", "user": {"id": "W111", "name": "your name", "email": "foo@example.com", "team": "E111"}},
               "context": {"location": {"type": "workspace", "id": "T111", "name": "WS", "domain": "foo-bar-baz"},
                           "ua": "UA", "ip_address": "1.2.3.4", "session_id": 1656410836837u64}})
    }

    #[test]
    fn maps_an_entry_to_the_standard_attributes() {
        let (out, at) = record(&fixture());
        assert_eq!(at, Timestamp::from_second(1_611_221_649).ok());
        assert_eq!(out["message"], "foo@example.com user_login user your name");
        assert_eq!(out["timestamp"], 1_611_221_649);
        assert_eq!(out["status"], "info");
        assert_eq!(out["usr"], json!({"id": "W111", "name": "your name", "email": "foo@example.com"}));
        assert_eq!(out["network"]["client"]["ip"], "1.2.3.4");
        assert_eq!(out["http"]["useragent"], "UA");
        assert_eq!(out["evt"], json!({"name": "user_login", "outcome": "success"}));
        let mut expected = fixture();
        for (key, value) in out.as_object().unwrap() {
            if !["message", "timestamp", "status", "usr", "network", "http", "evt"].contains(&key.as_str()) {
                assert_eq!(expected.as_object_mut().unwrap().remove(key).as_ref(), Some(value), "{key}");
            }
        }
        assert!(expected.as_object().unwrap().is_empty(), "every member kept: {expected}");
    }

    #[test]
    fn failures_warn_and_entities_are_named() {
        let mut entry = fixture();
        entry["action"] = json!("user_login_failed");
        entry["actor"] = json!({"type": "user", "user": {"id": "W9"}});
        entry["entity"] = json!({"type": "channel", "channel": {"id": "C1", "name": "general", "privacy": "public"}});
        let (out, _) = record(&entry);
        assert_eq!(out["message"], "W9 user_login_failed channel general");
        assert_eq!((out["status"].as_str(), out["evt"]["outcome"].as_str()), (Some("warning"), Some("failure")));
        entry["entity"] = json!({"type": "file", "file": {"id": "F1"}});
        entry["action"] = json!("file_downloaded");
        assert_eq!(record(&entry).0["message"], "W9 file_downloaded file F1");
        assert!(record(&entry).0["evt"].get("outcome").is_none());
    }

    #[test]
    fn date_create_is_whole_seconds() {
        assert_eq!(seconds_of("1611221649"), Some(1_611_221_649));
        assert_eq!(seconds_of("1611221649.75"), Some(1_611_221_649));
        for odd in ["\"1\"", "1e400", "null", "-"] {
            assert_eq!(seconds_of(odd), None, "{odd}");
        }
    }

    #[test]
    fn odd_members_are_kept_and_add_nothing() {
        let entry = json!({"id": 7, "date_create": "yesterday", "actor": [], "entity": {"type": 3}, "network": "x"});
        let (out, at) = record(&entry);
        assert!(at.is_none());
        assert_eq!(out["date_create"], "yesterday", "kept as Slack wrote it");
        assert!(out.get("timestamp").is_none() && out.get("usr").is_none());
        assert_eq!(out["network"], "x");
        assert_eq!(out["message"], "someone - -");
        assert_eq!(out["id"], 7);
        for text in ["[]", "\"e\"", "1", "null"] {
            assert!(to_entry(RawValue::from_string(text.to_owned()).unwrap().into()).is_err());
        }
    }

    proptest::proptest! {
        #[test]
        fn no_entry_panics(text in ".{0,96}") {
            if let Ok(raw) = RawValue::from_string(text) {
                let _any_result_is_fine = to_entry(raw.into()).is_ok();
            }
        }
    }
}
