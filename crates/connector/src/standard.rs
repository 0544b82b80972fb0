//! The Datadog standard attributes, written under their standard names in one place, so every connector
//! spells `network.client.ip` or `evt.outcome` the same way and nests them the same way.
//!
//! A connector fills a [`Standard`] from its vendor's event and [`Standard::write`]s it into the record's
//! `data`. Nested attributes merge into objects `data` already holds (an event's own `network` object
//! keeps its other members). A connector that keeps the vendor's event raw ([`LogRecord::raw`]) and
//! whose event has a top-level object of the same name (`network`, `http`, `usr`, `evt`) lifts that
//! object into `data` first: `data` wins over raw member by member at the top level, so the vendor's
//! other members of that object would otherwise be hidden.
//!
//! [`LogRecord::raw`]: logcrawl_core::LogRecord::raw

use logcrawl_core::{Fields, epoch_seconds};
use serde_json::{Map, Value};

/// The standard attributes of one record; `None` leaves an attribute out.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Standard {
    /// `message`: what happened, in a line.
    pub message: Option<String>,
    /// `timestamp`: when it happened (written as epoch seconds with milliseconds).
    pub timestamp: Option<jiff::Timestamp>,
    /// `status`: `debug`, `info`, `warning`, `error`…
    pub status: Option<String>,
    /// `network.client.ip`: the address the actor came from.
    pub client_ip: Option<String>,
    /// `http.useragent`: the actor's user agent.
    pub user_agent: Option<String>,
    /// `usr.id`: the actor's id at the vendor.
    pub usr_id: Option<String>,
    /// `usr.name`: the actor's name or login.
    pub usr_name: Option<String>,
    /// `usr.email`: the actor's email address.
    pub usr_email: Option<String>,
    /// `evt.name`: the vendor's name for the action (`repo.destroy`, `user.session.start`).
    pub evt_name: Option<String>,
    /// `evt.outcome`: `success`, `failure`… as the vendor says.
    pub evt_outcome: Option<String>,
}

impl Standard {
    /// Writes the attributes that are set into `data`.
    pub fn write(self, data: &mut Fields) {
        let text = |value: String| Value::String(value);
        if let Some(message) = self.message {
            data.insert("message".into(), text(message));
        }
        if let Some(timestamp) = self.timestamp.and_then(|ts| serde_json::Number::from_f64(epoch_seconds(ts))) {
            data.insert("timestamp".into(), Value::Number(timestamp));
        }
        if let Some(status) = self.status {
            data.insert("status".into(), text(status));
        }
        let nested = [
            ("network", "client", "ip", self.client_ip),
            ("http", "", "useragent", self.user_agent),
            ("usr", "", "id", self.usr_id),
            ("usr", "", "name", self.usr_name),
            ("usr", "", "email", self.usr_email),
            ("evt", "", "name", self.evt_name),
            ("evt", "", "outcome", self.evt_outcome),
        ];
        for (top, middle, leaf, value) in nested {
            let Some(value) = value else { continue };
            let Some(mut object) = object_at(data, top) else { continue };
            if !middle.is_empty() {
                match object_at(object, middle) {
                    Some(inner) => object = inner,
                    None => continue,
                }
            }
            object.insert(leaf.into(), text(value));
        }
    }
}

/// The object under `key`, created when absent; `None` when `key` holds something else (left as it is).
fn object_at<'m>(map: &'m mut Map<String, Value>, key: &str) -> Option<&'m mut Map<String, Value>> {
    match map.entry(key).or_insert_with(|| Value::Object(Map::new())) {
        Value::Object(object) => Some(object),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn writes_the_standard_names_and_merges_into_existing_objects() {
        let Value::Object(mut data) = json!({"network": {"isp": "x"}, "usr": "not an object", "id": 1}) else {
            unreachable!()
        };
        Standard {
            message: Some("User logged in".into()),
            timestamp: Some("2024-08-13T15:58:20.353Z".parse().unwrap()),
            status: Some("info".into()),
            client_ip: Some("10.0.0.1".into()),
            user_agent: Some("curl/8".into()),
            usr_id: Some("u1".into()),
            evt_name: Some("user.login".into()),
            evt_outcome: Some("success".into()),
            ..Standard::default()
        }
        .write(&mut data);
        assert_eq!(
            Value::Object(data),
            json!({
                "network": {"isp": "x", "client": {"ip": "10.0.0.1"}},
                "usr": "not an object",
                "id": 1,
                "message": "User logged in",
                "timestamp": 1_723_564_700.353,
                "status": "info",
                "http": {"useragent": "curl/8"},
                "evt": {"name": "user.login", "outcome": "success"},
            })
        );
    }

    #[test]
    fn nothing_set_writes_nothing() {
        let mut data = Fields::new();
        Standard::default().write(&mut data);
        assert!(data.is_empty());
    }
}
