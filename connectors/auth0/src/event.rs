//! From an Auth0 log event to a logcrawl record: the event stays the JSON Auth0 sent (a slice of its
//! page), and one pass over its top-level members finds what logcrawl adds.

use std::borrow::Cow;

use logcrawl_connector::Standard;
use logcrawl_connector::members::pick;
use logcrawl_core::{Fields, RawEvent, raw_text};
use serde_json::value::RawValue;

/// One log event: what logcrawl adds, the event as Auth0 sent it, and its `log_id`.
#[derive(Debug)]
pub struct Auth0Event {
    /// `message`, `timestamp`, `status` and the standard attributes.
    pub(crate) data: Fields,
    /// The whole event (a slice of its page).
    pub(crate) raw: RawEvent,
    /// `log_id` (else `_id`): the checkpoint the stream resumes after.
    pub(crate) log_id: Option<Box<str>>,
}

/// What an event type code means: its description, and whether it is a success or a failure.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Outcome {
    Success,
    Failure,
    /// A warning or notice, neither.
    Warning,
    Unknown,
}

/// The event type codes logcrawl knows (Auth0's "Log Event Type Codes"), with their meaning.
const CODES: &[(&str, &str, Outcome)] = &[
    ("s", "Successful login", Outcome::Success),
    ("f", "Failed login", Outcome::Failure),
    ("fp", "Failed login (incorrect password)", Outcome::Failure),
    ("fu", "Failed login (invalid email or username)", Outcome::Failure),
    ("ss", "Successful signup", Outcome::Success),
    ("fs", "Failed signup", Outcome::Failure),
    ("slo", "Successful logout", Outcome::Success),
    ("flo", "Failed logout", Outcome::Failure),
    ("ssa", "Successful silent authentication", Outcome::Success),
    ("fsa", "Failed silent authentication", Outcome::Failure),
    ("sapi", "Successful Management API operation", Outcome::Success),
    ("fapi", "Failed Management API operation", Outcome::Failure),
    ("mgmt_api_read", "Management API read operation", Outcome::Success),
    ("seacft", "Successful exchange of authorization code for access token", Outcome::Success),
    ("feacft", "Failed exchange of authorization code for access token", Outcome::Failure),
    ("seccft", "Successful exchange of access token for a client credentials grant", Outcome::Success),
    ("feccft", "Failed exchange of access token for a client credentials grant", Outcome::Failure),
    ("scp", "Successful change password", Outcome::Success),
    ("fcp", "Failed change password", Outcome::Failure),
    ("sv", "Successful verification email", Outcome::Success),
    ("fv", "Failed verification email", Outcome::Failure),
    ("limit_wc", "Blocked account (too many failed logins)", Outcome::Failure),
    ("limit_mu", "Blocked IP address (too many failed logins from one IP)", Outcome::Failure),
    ("api_limit", "Rate limit reached on the Authentication or Management API", Outcome::Failure),
    ("pwd_leak", "Breached password", Outcome::Warning),
    ("w", "Warnings during login", Outcome::Warning),
    ("depnote", "Deprecation notice", Outcome::Warning),
];

/// The meaning of type code `code`: a known code's; else a success for a short `s…` code and a
/// failure for a short `f…` one (Auth0's naming), unknown otherwise.
pub(crate) fn meaning(code: &str) -> (Option<&'static str>, Outcome) {
    if let Some((_, description, outcome)) = CODES.iter().find(|(c, ..)| *c == code) {
        return (Some(description), *outcome);
    }
    let short = code.len() <= 8 && code.bytes().all(|b| b.is_ascii_lowercase());
    let outcome = match code.as_bytes().first() {
        Some(b's') if short && !code.starts_with("sys") => Outcome::Success,
        Some(b'f') if short => Outcome::Failure,
        _ => Outcome::Unknown,
    };
    (None, outcome)
}

/// Maps an event to a record. Fails when it is not a JSON object.
pub(crate) fn to_event(raw: RawEvent) -> Result<Auth0Event, serde_json::Error> {
    let mut data = Fields::new();
    let log_id = {
        let ([log_id, id, date, kind, description, ip, user_agent, user_id, user_name], groups) =
            pick(&raw, ["log_id", "_id", "date", "type", "description", "ip", "user_agent", "user_id", "user_name"])?;

        let kind = raw_text(kind).filter(|k| !k.is_empty());
        let (meaning, outcome) = kind.as_deref().map_or((None, Outcome::Unknown), meaning);
        let message = raw_text(description)
            .filter(|d| !d.is_empty())
            .map(Cow::into_owned)
            .or_else(|| meaning.map(str::to_owned))
            .or_else(|| kind.as_deref().map(|k| format!("Auth0 log event {k}")))
            .unwrap_or_else(|| "Auth0 log event".to_owned());
        let date = raw_text(date).and_then(|d| d.parse::<jiff::Timestamp>().ok());
        let status = match outcome {
            Outcome::Failure | Outcome::Warning => "warning",
            Outcome::Success | Outcome::Unknown => "info",
        };
        let owned = |member: Option<&RawValue>| raw_text(member).map(Cow::into_owned);
        let user_name = owned(user_name);
        Standard {
            message: Some(message),
            timestamp: date,
            status: Some(status.into()),
            usr_id: owned(user_id),
            usr_email: user_name.clone().filter(|name| name.contains('@')),
            usr_name: user_name,
            client_ip: owned(ip),
            user_agent: owned(user_agent),
            evt_name: kind.map(Cow::into_owned),
            evt_outcome: match outcome {
                Outcome::Success => Some("success".into()),
                Outcome::Failure => Some("failure".into()),
                Outcome::Warning | Outcome::Unknown => None,
            },
        }
        .insert(&mut data, |group| groups.get(group));
        raw_text(log_id).or_else(|| raw_text(id)).filter(|id| !id.is_empty()).map(|id| id.into())
    };
    Ok(Auth0Event { data, raw, log_id })
}

#[cfg(test)]
mod tests {
    use super::*;
    use logcrawl_core::LogRecord;
    use serde_json::{Value, json};

    fn event(value: Value) -> Auth0Event {
        to_event(RawValue::from_string(value.to_string()).unwrap().into()).unwrap()
    }

    fn record(value: Value) -> Value {
        let event = event(value);
        LogRecord::new(event.data).with_raw(event.raw).to_value().unwrap()
    }

    #[test]
    fn maps_a_login_and_keeps_the_event() {
        let sample = json!({
            "date": "2025-03-15T18:08:04.365Z", "type": "s", "description": "", "client_name": "XYZ",
            "ip": "192.168.1.1", "user_agent": "Chrome 134.0.0 / Windows 10.0.0", "user_id": "auth0|12345",
            "user_name": "jdoe@example.com", "log_id": "90020250315180807266045000000000000001223372126167226037",
            "_id": "90020250315180807266045000000000000001223372126167226037", "details": {"stats": {"loginsCount": 5}},
        });
        let parsed = event(sample.clone());
        assert_eq!(parsed.log_id.as_deref(), Some("90020250315180807266045000000000000001223372126167226037"));
        let out = record(sample.clone());
        assert_eq!(out["message"], "Successful login");
        assert_eq!(out["timestamp"].as_f64(), Some(1_742_062_084.365));
        assert_eq!(out["status"], "info");
        assert_eq!(out["usr"], json!({"id": "auth0|12345", "name": "jdoe@example.com", "email": "jdoe@example.com"}));
        assert_eq!(out["network"], json!({"client": {"ip": "192.168.1.1"}}));
        assert_eq!(out["http"], json!({"useragent": "Chrome 134.0.0 / Windows 10.0.0"}));
        assert_eq!(out["evt"], json!({"name": "s", "outcome": "success"}));
        for (key, value) in sample.as_object().unwrap() {
            assert_eq!(&out[key], value, "{key} is kept as Auth0 sent it");
        }
    }

    #[test]
    fn failures_and_warnings_and_unknown_codes() {
        let failed = record(json!({"type": "fp", "description": "Wrong email or password.", "user_name": "bob"}));
        assert_eq!(
            (failed["message"].as_str(), failed["status"].as_str()),
            (Some("Wrong email or password."), Some("warning"))
        );
        assert_eq!(failed["evt"], json!({"name": "fp", "outcome": "failure"}));
        assert_eq!(failed["usr"], json!({"name": "bob"}), "not an email");
        let warned = record(json!({"type": "w"}));
        assert_eq!(
            (warned["message"].as_str(), warned["status"].as_str()),
            (Some("Warnings during login"), Some("warning"))
        );
        assert!(warned["evt"].get("outcome").is_none());
        assert_eq!(meaning("sertft").1, Outcome::Success);
        assert_eq!(meaning("fcoa").1, Outcome::Failure);
        assert_eq!(meaning("sys_os_update_start").1, Outcome::Unknown);
        assert_eq!(meaning("gd_enrollment_complete").1, Outcome::Unknown);
        let unknown = record(json!({"type": "gd_start_auth", "_id": "900123"}));
        assert_eq!(unknown["message"], "Auth0 log event gd_start_auth");
        assert_eq!(event(json!({"_id": "900123"})).log_id.as_deref(), Some("900123"), "_id when log_id is absent");
        let bare = event(json!({"log_id": 5, "date": "yesterday"}));
        assert_eq!(bare.log_id, None);
        assert!(!bare.data.contains_key("timestamp"));
        for text in ["[]", "null"] {
            assert!(to_event(RawValue::from_string(text.into()).unwrap().into()).is_err());
        }
    }
}
