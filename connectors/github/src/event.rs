//! From a GitHub audit log event to a logcrawl record: the event stays the JSON GitHub sent (a slice of
//! its page), and one pass over its top-level members finds what logcrawl adds.

use std::borrow::Cow;

use logcrawl_connector::Standard;
use logcrawl_connector::members::pick;
use logcrawl_core::{Fields, RawEvent, raw_scalar, raw_text};
use serde_json::value::RawValue;

/// One audit log event: what logcrawl adds, the event as GitHub sent it, and what its cursors read.
#[derive(Debug)]
pub struct GithubEvent {
    /// `message`, `timestamp`, `status` and the standard attributes.
    pub(crate) data: Fields,
    /// The whole event (a slice of its page).
    pub(crate) raw: RawEvent,
    /// `_document_id`: the event's unique id.
    pub(crate) id: Option<Box<str>>,
    /// `@timestamp` (else `created_at`) in whole epoch seconds, as text: the instant the boundary of a
    /// page is kept at, and the `created:>=` a refused cursor restarts from (GitHub's `created` qualifier
    /// is read to the second).
    pub(crate) second: Option<Box<str>>,
}

/// The members logcrawl reads (the last wins when a key repeats, as when parsing into a map).
/// An instant as GitHub writes it — epoch milliseconds (a number, or a number in a string), or RFC 3339
/// text — as epoch milliseconds.
fn epoch_ms(member: Option<&RawValue>) -> Option<i64> {
    let text = raw_scalar(member)?;
    if let Ok(ms) = text.parse::<i64>() {
        return Some(ms);
    }
    if let Ok(ms) = text.parse::<f64>() {
        return (ms.is_finite() && ms.abs() < 1e17).then_some(ms as i64);
    }
    text.parse::<jiff::Timestamp>().ok().map(|ts| ts.as_millisecond())
}

/// Maps an event to a record. Fails when it is not a JSON object.
pub(crate) fn to_event(raw: RawEvent) -> Result<GithubEvent, serde_json::Error> {
    let mut data = Fields::new();
    let (id, second) = {
        let (
            [document_id, timestamp, created_at, action, actor, actor_id, actor_ip, user_agent, repo, team, user],
            groups,
        ) = pick(
            &raw,
            [
                "_document_id",
                "@timestamp",
                "created_at",
                "action",
                "actor",
                "actor_id",
                "actor_ip",
                "user_agent",
                "repo",
                "team",
                "user",
            ],
        )?;

        let action = raw_text(action).filter(|a| !a.is_empty());
        let actor = raw_text(actor).filter(|a| !a.is_empty());
        let target = [repo, team, user].into_iter().find_map(|t| raw_text(t).filter(|t| !t.is_empty()));
        let message = match (&action, &actor) {
            (Some(action), Some(actor)) => format!("{action} by {actor}"),
            (Some(action), None) => action.to_string(),
            (None, _) => "GitHub audit log event".to_owned(),
        };
        let message = match target {
            Some(target) if action.is_some() => format!("{message}: {target}"),
            _ => message,
        };
        let ms = epoch_ms(timestamp).or_else(|| epoch_ms(created_at));
        let owned = |member: Option<&RawValue>| raw_scalar(member).map(Cow::into_owned);
        Standard {
            message: Some(message),
            timestamp: ms.and_then(|ms| jiff::Timestamp::from_millisecond(ms).ok()),
            status: Some("info".into()),
            usr_id: owned(actor_id),
            usr_name: actor.map(Cow::into_owned),
            client_ip: owned(actor_ip),
            user_agent: owned(user_agent),
            evt_name: action.map(Cow::into_owned),
            ..Standard::default()
        }
        .insert(&mut data, |group| groups.get(group));
        let id = raw_text(document_id).filter(|id| !id.is_empty()).map(|id| id.into());
        (id, ms.map(|ms| ms.div_euclid(1000).to_string().into_boxed_str()))
    };
    Ok(GithubEvent { data, raw, id, second })
}

#[cfg(test)]
mod tests {
    use super::*;
    use logcrawl_core::LogRecord;
    use serde_json::{Value, json};

    fn event(value: Value) -> GithubEvent {
        to_event(RawValue::from_string(value.to_string()).unwrap().into()).unwrap()
    }

    fn record(value: Value) -> Value {
        let event = event(value);
        LogRecord::new(event.data).with_raw(event.raw).to_value().unwrap()
    }

    #[test]
    fn maps_the_documented_example_and_keeps_the_event() {
        let sample = json!({
            "@timestamp": 1606929874512_i64, "action": "team.add_member", "actor": "octocat",
            "created_at": 1606929874512_i64, "_document_id": "xJJFlFOhQ6b-5vaAFy9Rjw", "org": "octo-corp",
            "team": "octo-corp/example-team", "user": "monalisa", "actor_id": 7, "actor_ip": "88.123.45.123",
            "user_agent": "curl/8.4",
        });
        let parsed = event(sample.clone());
        assert_eq!(parsed.id.as_deref(), Some("xJJFlFOhQ6b-5vaAFy9Rjw"));
        assert_eq!(parsed.second.as_deref(), Some("1606929874"));
        let out = record(sample.clone());
        assert_eq!(out["message"], "team.add_member by octocat: octo-corp/example-team");
        assert_eq!(out["timestamp"].as_f64(), Some(1_606_929_874.512));
        assert_eq!(out["status"], "info");
        assert_eq!(out["usr"], json!({"id": "7", "name": "octocat"}));
        assert_eq!(out["network"], json!({"client": {"ip": "88.123.45.123"}}));
        assert_eq!(out["http"], json!({"useragent": "curl/8.4"}));
        assert_eq!(out["evt"], json!({"name": "team.add_member"}));
        for (key, value) in sample.as_object().unwrap() {
            assert_eq!(&out[key], value, "{key} is kept as GitHub sent it");
        }
    }

    #[test]
    fn odd_events_map_what_they_can() {
        let bare = record(json!({"created_at": "2024-01-01T00:00:01.5Z"}));
        assert_eq!(bare["message"], "GitHub audit log event");
        assert_eq!(bare["timestamp"].as_f64(), Some(1_704_067_201.5));
        let no_actor = record(json!({"action": "org.create", "@timestamp": "1606507117008", "actor": 5}));
        assert_eq!(no_actor["message"], "org.create");
        assert_eq!(no_actor["timestamp"].as_f64(), Some(1_606_507_117.008));
        assert!(no_actor.get("usr").is_none(), "{no_actor}");
        let odd = event(json!({"_document_id": 5, "@timestamp": "soon", "created_at": [1]}));
        assert_eq!((odd.id, odd.second), (None, None));
        let negative = event(json!({"@timestamp": -1500}));
        assert_eq!(negative.second.as_deref(), Some("-2"), "seconds are floored");
        for text in ["[]", "1", "\"e\""] {
            assert!(to_event(RawValue::from_string(text.into()).unwrap().into()).is_err());
        }
    }
}
