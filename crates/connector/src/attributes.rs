//! Datadog's standard attributes, lifted out of a vendor event into a record's `data`.
//!
//! Datadog's log pipelines (and most backends that follow them) read who acted (`usr.id`, `usr.name`,
//! `usr.email`), from where (`network.client.ip`, `http.useragent`) and what happened (`evt.name`,
//! `evt.outcome`) from fixed attribute names. A connector finds those facts in its vendor's own fields
//! and hands them to [`Standard`], which writes them as the nested objects the names stand for.
//!
//! A record's `data` wins over the raw event's member of the same key (see `LogRecord`'s raw events),
//! so writing `network` would hide an event's own `network` object. [`Roots`] keeps the event's own
//! members of those names (found in the connector's one pass over the event), and [`Standard::insert`]
//! merges into them: the event's members stay, the standard ones are added. A root the event has that
//! is not an object is left as it is, and nothing is added under it.

use std::borrow::Cow;

use logcrawl_core::Fields;
use serde_json::value::RawValue;
use serde_json::{Map, Value};

/// The top-level keys standard attributes live under.
pub const ROOTS: [&str; 4] = ["usr", "network", "http", "evt"];

/// An event's own top-level members named like a standard attribute's root, as raw JSON.
#[derive(Debug, Default, Clone, Copy)]
pub struct Roots<'a> {
    usr: Option<&'a RawValue>,
    network: Option<&'a RawValue>,
    http: Option<&'a RawValue>,
    evt: Option<&'a RawValue>,
}

impl<'a> Roots<'a> {
    /// Keeps `value` when `key` is one of [`ROOTS`] (the last one wins when a key repeats); returns
    /// whether it was one. Call it for every top-level member of the event.
    pub fn offer(&mut self, key: &str, value: &'a RawValue) -> bool {
        let slot = match key {
            "usr" => &mut self.usr,
            "network" => &mut self.network,
            "http" => &mut self.http,
            "evt" => &mut self.evt,
            _ => return false,
        };
        *slot = Some(value);
        true
    }

    fn get(&self, root: &str) -> Option<&'a RawValue> {
        match root {
            "usr" => self.usr,
            "network" => self.network,
            "http" => self.http,
            "evt" => self.evt,
            _ => None,
        }
    }
}

/// The standard attributes of one event; `None` or empty ones are not written.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Standard<'a> {
    /// `usr.id`: the acting user's id at the vendor.
    pub usr_id: Option<Cow<'a, str>>,
    /// `usr.name`: the acting user's display name.
    pub usr_name: Option<Cow<'a, str>>,
    /// `usr.email`: the acting user's email.
    pub usr_email: Option<Cow<'a, str>>,
    /// `network.client.ip`: the client's IP address.
    pub client_ip: Option<Cow<'a, str>>,
    /// `http.useragent`: the client's User-Agent.
    pub user_agent: Option<Cow<'a, str>>,
    /// `evt.name`: what happened, in the vendor's words (`user_login`, `update`).
    pub evt_name: Option<Cow<'a, str>>,
    /// `evt.outcome`: how it ended (`success`, `failure`).
    pub evt_outcome: Option<Cow<'a, str>>,
}

impl Standard<'_> {
    /// Writes the attributes into `data` (`usr`, `network.client`, `http`, `evt`), merged into the
    /// event's own members of those names (`roots`) so that none of theirs is hidden.
    pub fn insert(self, data: &mut Fields, roots: &Roots<'_>) {
        let groups: [(&str, &[&str], Vec<(&str, Option<Cow<'_, str>>)>); 4] = [
            ("usr", &[], vec![("id", self.usr_id), ("name", self.usr_name), ("email", self.usr_email)]),
            ("network", &["client"], vec![("ip", self.client_ip)]),
            ("http", &[], vec![("useragent", self.user_agent)]),
            ("evt", &[], vec![("name", self.evt_name), ("outcome", self.evt_outcome)]),
        ];
        for (root, path, values) in groups {
            let values: Vec<(&str, String)> = values
                .into_iter()
                .filter_map(|(key, value)| Some((key, value.filter(|v| !v.is_empty())?.into_owned())))
                .collect();
            if values.is_empty() {
                continue;
            }
            let Some(mut top) = lifted(roots.get(root)) else { continue };
            if let Some(at) = object_at(&mut top, path) {
                for (key, value) in values {
                    at.insert(key.to_owned(), Value::String(value));
                }
            }
            data.insert(root.to_owned(), Value::Object(top));
        }
    }
}

/// The object at `path` below `map`, created where missing; `None` when a step is something else.
fn object_at<'m>(map: &'m mut Map<String, Value>, path: &[&str]) -> Option<&'m mut Map<String, Value>> {
    let Some((step, rest)) = path.split_first() else { return Some(map) };
    match map.entry(*step).or_insert_with(|| Value::Object(Map::new())) {
        Value::Object(inner) => object_at(inner, rest),
        _ => None,
    }
}

/// The event's own object at a root, parsed (an empty one when the event has none); `None` when the
/// event's member is not an object, which is then left as it is.
fn lifted(own: Option<&RawValue>) -> Option<Map<String, Value>> {
    match own.map(|raw| serde_json::from_str::<Value>(raw.get())) {
        None => Some(Map::new()),
        Some(Ok(Value::Object(map))) => Some(map),
        Some(_) => None,
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
    fn attributes_become_nested_objects() {
        let mut data = Fields::new();
        let standard = Standard {
            usr_id: Some("u1".into()),
            usr_email: Some("a@example.com".into()),
            usr_name: Some("".into()),
            client_ip: Some("10.0.0.1".into()),
            user_agent: None,
            evt_name: Some("user_login".into()),
            evt_outcome: Some("success".into()),
        };
        standard.insert(&mut data, &Roots::default());
        assert_eq!(
            Value::Object(data),
            json!({"usr": {"id": "u1", "email": "a@example.com"}, "network": {"client": {"ip": "10.0.0.1"}},
                   "evt": {"name": "user_login", "outcome": "success"}})
        );
    }

    #[test]
    fn the_events_own_roots_are_merged_into_or_left_alone() {
        let network = raw(r#"{"isp": "x", "client": {"port": 1}}"#);
        let usr = raw(r#""not an object""#);
        let evt = raw(r#"{"category": "auth", "name": "theirs"}"#);
        let http = raw(r#"{"client": "x"}"#);
        let mut roots = Roots::default();
        assert!(roots.offer("network", &network) && roots.offer("usr", &usr) && roots.offer("evt", &evt));
        assert!(roots.offer("http", &http));
        assert!(!roots.offer("other", &network));
        let mut data = Fields::new();
        Standard {
            usr_id: Some("u".into()),
            client_ip: Some("::1".into()),
            evt_name: Some("ours".into()),
            user_agent: Some("curl".into()),
            ..Standard::default()
        }
        .insert(&mut data, &roots);
        assert_eq!(data["network"], json!({"isp": "x", "client": {"port": 1, "ip": "::1"}}));
        assert!(!data.contains_key("usr"), "a root that is no object stays the event's");
        assert_eq!(data["evt"], json!({"category": "auth", "name": "ours"}));
        assert_eq!(data["http"], json!({"client": "x", "useragent": "curl"}));

        // `network.client` that is no object: the event's `network` is kept, no ip is added.
        let odd = raw(r#"{"client": 5}"#);
        let mut roots = Roots::default();
        roots.offer("network", &odd);
        let mut data = Fields::new();
        Standard { client_ip: Some("10.0.0.2".into()), ..Standard::default() }.insert(&mut data, &roots);
        assert_eq!(data["network"], json!({"client": 5}));
    }

    #[test]
    fn nothing_to_write_writes_nothing() {
        let network = raw(r#"{"isp": "x"}"#);
        let mut roots = Roots::default();
        roots.offer("network", &network);
        let mut data = Fields::new();
        Standard::default().insert(&mut data, &roots);
        assert!(data.is_empty());
    }
}
