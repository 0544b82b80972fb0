//! Datadog's standard attributes, lifted from a vendor's event into a record's `data`.
//!
//! Every connector maps the same few facts of its vendor's event to the names Datadog's log pipelines and
//! security rules look for: who (`usr.id`, `usr.name`, `usr.email`), from where (`network.client.ip`,
//! `http.useragent`), and what (`evt.name`, `evt.outcome`). A connector fills a [`Standard`] from its
//! event and [`Standard::insert`]s it. The attributes are nested objects (`{"network": {"client": {"ip":
//! …}}}`), and a record's `data` wins over the event's members of the same name, so an event that has its
//! own top-level `network` (or `usr`, `http`, `evt`) object keeps its members: that object is lifted into
//! `data` and the attribute merged into it. An event whose member of that name is not an object keeps it
//! untouched, and the attributes of that group are left out.

use logcrawl_core::{Fields, epoch_seconds};
use serde_json::value::RawValue;
use serde_json::{Map, Value};

/// The standard attributes of one event (each `None` when the vendor's event does not say).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Standard {
    /// `message`: what happened, in a line.
    pub message: Option<String>,
    /// `timestamp`: when it happened (written as epoch seconds with milliseconds).
    pub timestamp: Option<jiff::Timestamp>,
    /// `status`: `debug`, `info`, `warning`, `error`…
    pub status: Option<String>,
    /// `usr.id`: the acting user's id.
    pub usr_id: Option<String>,
    /// `usr.name`: the acting user's name or login.
    pub usr_name: Option<String>,
    /// `usr.email`: the acting user's email.
    pub usr_email: Option<String>,
    /// `network.client.ip`: the client's IP address.
    pub client_ip: Option<String>,
    /// `http.useragent`: the client's user agent.
    pub user_agent: Option<String>,
    /// `evt.name`: what happened (the vendor's event type or action).
    pub evt_name: Option<String>,
    /// `evt.outcome`: `success` or `failure`, when the vendor says.
    pub evt_outcome: Option<String>,
}

/// The top-level members whose objects the attributes are merged into.
pub const GROUPS: [&str; 4] = ["usr", "network", "http", "evt"];

/// An event's own members named like the attribute groups ([`GROUPS`]), collected while walking its
/// members, for [`Standard::insert`].
#[derive(Debug, Default, Clone, Copy)]
pub struct OwnGroups<'a>([Option<&'a RawValue>; 4]);

impl<'a> OwnGroups<'a> {
    /// The slot of member `key` when it is one of the groups' names.
    pub fn slot(&mut self, key: &str) -> Option<&mut Option<&'a RawValue>> {
        GROUPS.iter().position(|group| *group == key).map(|at| &mut self.0[at])
    }

    /// Keeps `value` when `key` is one of the groups' names (the last one wins when a key repeats);
    /// returns whether it was one. Call it for every top-level member of the event.
    pub fn offer(&mut self, key: &str, value: &'a RawValue) -> bool {
        match self.slot(key) {
            Some(slot) => {
                *slot = Some(value);
                true
            }
            None => false,
        }
    }

    /// The event's member named `group`, if it has one.
    pub fn get(&self, group: &str) -> Option<&'a RawValue> {
        GROUPS.iter().position(|g| *g == group).and_then(|at| self.0[at])
    }
}

impl Standard {
    /// Adds the attributes that are set to `data`. `own(group)` is the event's own top-level member named
    /// `group` (one of [`GROUPS`]), if it has one: see the module documentation.
    pub fn insert<'a>(self, data: &mut Fields, own: impl Fn(&str) -> Option<&'a RawValue>) {
        if let Some(message) = self.message {
            data.insert("message".into(), Value::String(message));
        }
        if let Some(seconds) = self.timestamp.and_then(|ts| serde_json::Number::from_f64(epoch_seconds(ts))) {
            data.insert("timestamp".into(), Value::Number(seconds));
        }
        if let Some(status) = self.status {
            data.insert("status".into(), Value::String(status));
        }
        let attributes: [(&[&str], Option<String>); 7] = [
            (&["usr", "id"], self.usr_id),
            (&["usr", "name"], self.usr_name),
            (&["usr", "email"], self.usr_email),
            (&["network", "client", "ip"], self.client_ip),
            (&["http", "useragent"], self.user_agent),
            (&["evt", "name"], self.evt_name),
            (&["evt", "outcome"], self.evt_outcome),
        ];
        for (path, value) in attributes {
            let Some(value) = value.filter(|v| !v.is_empty()) else { continue };
            let (group, rest) = (path[0], &path[1..]);
            if !data.contains_key(group) {
                match own(group).map(|raw| serde_json::from_str::<Value>(raw.get())) {
                    None => {
                        data.insert(group.into(), Value::Object(Map::new()));
                    }
                    Some(Ok(object @ Value::Object(_))) => {
                        data.insert(group.into(), object);
                    }
                    // The event's own member is not an object: leave it as the vendor sent it.
                    Some(_) => continue,
                }
            }
            let mut at = data.get_mut(group);
            for key in &rest[..rest.len() - 1] {
                at = match at {
                    Some(Value::Object(map)) => Some(map.entry(*key).or_insert_with(|| Value::Object(Map::new()))),
                    _ => None,
                };
            }
            if let Some(Value::Object(map)) = at {
                map.insert(rest[rest.len() - 1].into(), Value::String(value));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn raw(text: &str) -> Box<RawValue> {
        RawValue::from_string(text.to_owned()).unwrap()
    }

    #[test]
    fn attributes_nest_under_datadogs_names() {
        let mut data = Fields::new();
        Standard {
            usr_id: Some("u1".into()),
            usr_name: Some("mona".into()),
            client_ip: Some("10.0.0.1".into()),
            user_agent: Some("curl/8".into()),
            evt_name: Some("repo.create".into()),
            evt_outcome: Some("success".into()),
            usr_email: Some(String::new()),
            ..Standard::default()
        }
        .insert(&mut data, |_| None);
        assert_eq!(
            Value::Object(data),
            json!({"usr": {"id": "u1", "name": "mona"}, "network": {"client": {"ip": "10.0.0.1"}},
                   "http": {"useragent": "curl/8"}, "evt": {"name": "repo.create", "outcome": "success"}})
        );
    }

    #[test]
    fn the_events_own_objects_are_kept_and_other_members_left_alone() {
        let network = raw(r#"{"isp": "x", "client": {"port": 1}}"#);
        let http = raw(r#""not an object""#);
        let mut data = Fields::new();
        let standard = Standard { client_ip: Some("::1".into()), user_agent: Some("ua".into()), ..Standard::default() };
        standard.insert(&mut data, |group| match group {
            "network" => Some(&network),
            "http" => Some(&http),
            _ => None,
        });
        assert_eq!(Value::Object(data), json!({"network": {"isp": "x", "client": {"port": 1, "ip": "::1"}}}));
        let mut own = OwnGroups::default();
        assert!(own.slot("payload").is_none());
        *own.slot("http").unwrap() = Some(&http);
        assert_eq!(own.get("http").map(RawValue::get), Some(r#""not an object""#));
        assert!(own.get("usr").is_none());
        let mut nothing = Fields::new();
        Standard::default().insert(&mut nothing, |_| None);
        assert!(nothing.is_empty());
    }
}
