//! From a page to events, and from an event to a record: `records.path` splits the page, and one pass
//! over each event's top-level members finds its id, time and mapped attributes.

use std::borrow::Cow;
use std::collections::BTreeMap;

use jiff::Timestamp;
use logcrawl_connector::Standard;
use logcrawl_connector::members::pick_into;
use logcrawl_core::{Fields, RawEvent, raw_scalar};
use serde_json::value::RawValue;

use crate::path::Path;

/// How an event's time is written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TimeFormat {
    /// RFC 3339 (`2026-12-01T10:00:00.123Z`).
    Rfc3339,
    /// Epoch seconds (a number or a numeric string, fractions allowed).
    Unix,
    /// Epoch milliseconds.
    UnixMs,
    /// Epoch microseconds.
    UnixUs,
    /// Epoch nanoseconds.
    UnixNs,
    /// A `strptime` pattern (read as UTC when it has no offset).
    Pattern(String),
}

impl TimeFormat {
    /// Reads `time_format`.
    pub fn parse(text: Option<&str>) -> Self {
        match text.unwrap_or("rfc3339") {
            "rfc3339" => Self::Rfc3339,
            "unix" => Self::Unix,
            "unix_ms" => Self::UnixMs,
            "unix_us" => Self::UnixUs,
            "unix_ns" => Self::UnixNs,
            other => Self::Pattern(other.to_owned()),
        }
    }

    /// The finest instant the format writes: what windows align on by default.
    pub fn resolution(&self) -> std::time::Duration {
        match self {
            Self::Unix => std::time::Duration::from_secs(1),
            Self::UnixUs => std::time::Duration::from_micros(1),
            Self::UnixNs => std::time::Duration::from_nanos(1),
            Self::Pattern(p) if !p.contains("%f") && !p.contains("%.f") => std::time::Duration::from_secs(1),
            _ => std::time::Duration::from_millis(1),
        }
    }

    /// The instant `text` (a JSON string's contents, or a number as written) says.
    pub fn read(&self, text: &str) -> Option<Timestamp> {
        match self {
            Self::Rfc3339 => text.parse().ok(),
            Self::Unix => Timestamp::from_nanosecond(decimal(text, 9)?).ok(),
            Self::UnixMs => Timestamp::from_nanosecond(decimal(text, 6)?).ok(),
            Self::UnixUs => Timestamp::from_nanosecond(decimal(text, 3)?).ok(),
            Self::UnixNs => Timestamp::from_nanosecond(decimal(text, 0)?).ok(),
            Self::Pattern(pattern) => {
                let parsed = jiff::fmt::strtime::parse(pattern, text).ok()?;
                parsed.to_timestamp().ok().or_else(|| {
                    parsed.to_datetime().ok()?.to_zoned(jiff::tz::TimeZone::UTC).ok().map(|z| z.timestamp())
                })
            }
        }
    }
}

/// A decimal number of units of 10^`digits` nanoseconds (`"1764583200.25"` seconds: `digits` 9), read
/// exactly into nanoseconds; digits finer than a nanosecond are dropped.
fn decimal(text: &str, digits: usize) -> Option<i128> {
    let text = text.trim();
    let (negative, text) = text.strip_prefix('-').map_or((false, text), |rest| (true, rest));
    let (whole, fraction) = text.split_once('.').unwrap_or((text, ""));
    if whole.is_empty() || !whole.bytes().all(|b| b.is_ascii_digit()) || !fraction.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let scale = 10i128.pow(u32::try_from(digits).ok()?);
    let mut nanos = whole.parse::<i128>().ok()?.checked_mul(scale)?;
    let kept: String = fraction.chars().chain(std::iter::repeat('0')).take(digits).collect();
    if !kept.is_empty() {
        nanos += kept.parse::<i128>().ok()?;
    }
    Some(if negative { -nanos } else { nanos })
}

/// A standard attribute a field can fill.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Attribute {
    /// `message`.
    Message,
    /// `status`.
    Status,
    /// `usr.id`.
    UsrId,
    /// `usr.name`.
    UsrName,
    /// `usr.email`.
    UsrEmail,
    /// `network.client.ip`.
    ClientIp,
    /// `http.useragent`.
    UserAgent,
    /// `evt.name`.
    EvtName,
    /// `evt.outcome`.
    EvtOutcome,
}

/// The names `records.fields` takes.
pub const ATTRIBUTES: [(&str, Attribute); 9] = [
    ("message", Attribute::Message),
    ("status", Attribute::Status),
    ("usr.id", Attribute::UsrId),
    ("usr.name", Attribute::UsrName),
    ("usr.email", Attribute::UsrEmail),
    ("network.client.ip", Attribute::ClientIp),
    ("http.useragent", Attribute::UserAgent),
    ("evt.name", Attribute::EvtName),
    ("evt.outcome", Attribute::EvtOutcome),
];

/// One mapped attribute.
#[derive(Debug, Clone)]
pub struct Field {
    /// Which.
    pub attribute: Attribute,
    /// From where.
    pub path: Path,
    /// Lower-case first.
    pub lowercase: bool,
    /// Then translate.
    pub map: BTreeMap<String, String>,
}

/// What is read from every event.
#[derive(Debug, Clone)]
pub struct Mapping {
    /// `records.id`.
    pub id: Option<Path>,
    /// `records.time`.
    pub time: Option<Path>,
    /// `records.time_format`.
    pub time_format: TimeFormat,
    /// `records.fields`.
    pub fields: Vec<Field>,
    /// `message` when `records.fields.message` is not mapped or the event lacks it: every record has
    /// one, as every native connector's does (`<stream> event`).
    pub default_message: String,
    /// The top-level member names the paths start at, in one list for the one pass (paths index it).
    heads: Vec<String>,
}

/// One event of a page.
#[derive(Debug)]
pub struct HttpEvent {
    /// What logcrawl adds (`timestamp` and the mapped attributes).
    pub data: Fields,
    /// The event as the API sent it.
    pub raw: RawEvent,
    /// Its id, when `records.id` found one.
    pub id: Option<Box<str>>,
    /// Its time as written (for the boundary dedupe), when `records.time` found one.
    pub instant: Option<Box<str>>,
    /// Its time, read.
    pub at: Option<Timestamp>,
}

impl Mapping {
    /// The mapping of these paths.
    pub fn new(
        id: Option<Path>,
        time: Option<Path>,
        time_format: TimeFormat,
        fields: Vec<Field>,
        default_message: String,
    ) -> Self {
        let mut heads: Vec<String> = Vec::new();
        let all = id.iter().chain(time.iter()).chain(fields.iter().map(|f| &f.path));
        for head in all.filter_map(Path::head) {
            if !heads.iter().any(|h| h == head) {
                heads.push(head.to_owned());
            }
        }
        Self { id, time, time_format, fields, default_message, heads }
    }

    /// Reads `raw` (which must be a JSON object) into an event; the error says what is wrong with it.
    pub fn event(&self, raw: RawEvent) -> Result<HttpEvent, String> {
        let mut found: Vec<Option<&RawValue>> = vec![None; self.heads.len()];
        let groups = pick_into(&raw, &self.heads, &mut found).map_err(|err| format!("not a JSON object: {err}"))?;
        let mut document = None;
        let mut read = |path: &Path| -> Option<Cow<'_, str>> {
            let top = path.head().and_then(|h| self.heads.iter().position(|x| x == h)).and_then(|at| found[at]);
            let node = path.in_event(top, &raw, &mut document)?;
            match node {
                Cow::Borrowed(node) => raw_scalar(Some(node)),
                Cow::Owned(node) => raw_scalar(Some(&node)).map(|text| Cow::Owned(text.into_owned())),
            }
        };
        let id = self.id.as_ref().and_then(&mut read).map(|id| Box::from(id.as_ref()));
        let instant = self.time.as_ref().and_then(&mut read).map(|t| Box::from(t.as_ref()));
        let at = instant.as_deref().and_then(|t| self.time_format.read(t));
        let mut standard = Standard { timestamp: at, ..Standard::default() };
        for field in &self.fields {
            let Some(value) = read(&field.path) else { continue };
            let value = if field.lowercase { value.to_lowercase() } else { value.into_owned() };
            let value = field.map.get(&value).cloned().unwrap_or(value);
            let slot = match field.attribute {
                Attribute::Message => &mut standard.message,
                Attribute::Status => &mut standard.status,
                Attribute::UsrId => &mut standard.usr_id,
                Attribute::UsrName => &mut standard.usr_name,
                Attribute::UsrEmail => &mut standard.usr_email,
                Attribute::ClientIp => &mut standard.client_ip,
                Attribute::UserAgent => &mut standard.user_agent,
                Attribute::EvtName => &mut standard.evt_name,
                Attribute::EvtOutcome => &mut standard.evt_outcome,
            };
            *slot = Some(value);
        }
        if standard.message.as_deref().is_none_or(str::is_empty) {
            standard.message = Some(self.default_message.clone());
        }
        let mut data = Fields::new();
        standard.insert(&mut data, |group| groups.get(group));
        Ok(HttpEvent { data, raw, id, instant, at })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{Value, json};

    fn raw(text: &str) -> RawEvent {
        RawEvent::from(RawValue::from_string(text.to_owned()).unwrap())
    }

    fn path(p: &str) -> Path {
        Path::parse(p).unwrap()
    }

    #[test]
    fn an_event_is_read_in_one_pass_and_its_attributes_mapped() {
        let fields = vec![
            Field {
                attribute: Attribute::Message,
                path: path("$.displayMessage"),
                lowercase: false,
                map: BTreeMap::new(),
            },
            Field {
                attribute: Attribute::Status,
                path: path("$.severity"),
                lowercase: true,
                map: [("warn".to_owned(), "warning".to_owned())].into(),
            },
            Field {
                attribute: Attribute::ClientIp,
                path: path("$.client.ipAddress"),
                lowercase: false,
                map: BTreeMap::new(),
            },
            Field { attribute: Attribute::UsrId, path: path("$.actors[0].id"), lowercase: false, map: BTreeMap::new() },
        ];
        let mapping =
            Mapping::new(Some(path("$.uuid")), Some(path("$.published")), TimeFormat::Rfc3339, fields, "e".into());
        let event = mapping
            .event(raw(r#"{"uuid": "e1", "published": "2026-12-01T10:00:00.5Z", "displayMessage": "hi",
                "severity": "WARN", "client": {"ipAddress": "10.0.0.1"}, "actors": [{"id": "u1"}], "usr": {"team": 1}}"#))
            .unwrap();
        assert_eq!(event.id.as_deref(), Some("e1"));
        assert_eq!(event.instant.as_deref(), Some("2026-12-01T10:00:00.5Z"));
        assert_eq!(
            Value::Object(event.data),
            json!({"message": "hi", "timestamp": 1_796_119_200.5, "status": "warning",
                   "network": {"client": {"ip": "10.0.0.1"}}, "usr": {"team": 1, "id": "u1"}})
        );
        let plain = Mapping::new(None, None, TimeFormat::Rfc3339, Vec::new(), "audit event".into());
        assert_eq!(plain.event(raw("{}")).unwrap().data["message"], "audit event", "a message always");
        assert!(mapping.event(raw("[1]")).unwrap_err().contains("not a JSON object"));
    }

    #[test]
    fn times_in_every_format() {
        let at = |f: &str, t: &str| TimeFormat::parse(Some(f)).read(t).map(|t| t.as_millisecond());
        assert_eq!(at("rfc3339", "2026-12-01T10:00:00.123Z"), Some(1_796_119_200_123));
        assert_eq!(at("unix", "1796119200"), Some(1_796_119_200_000));
        assert_eq!(at("unix", "1796119200.25"), Some(1_796_119_200_250));
        assert_eq!(at("unix_ms", "1796119200123"), Some(1_796_119_200_123));
        assert_eq!(at("unix_us", "1796119200123000"), Some(1_796_119_200_123));
        assert_eq!(at("%Y-%m-%dT%H:%M:%S", "2026-12-01T10:00:00"), Some(1_796_119_200_000), "no offset: UTC");
        assert_eq!(at("unix", "soon"), None);
        assert_eq!(TimeFormat::parse(Some("unix")).resolution(), std::time::Duration::from_secs(1));
    }
}
