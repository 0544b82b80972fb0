//! From a Graph audit log event to a logcrawl record: the event stays the JSON Graph sent (one pass over
//! its top-level members finds what logcrawl reads), and only what logcrawl adds goes into `data`:
//!
//! | attribute | sign-in (`signIn`) | directory audit (`directoryAudit`) | provisioning (`provisioningObjectSummary`) |
//! |---|---|---|---|
//! | `id` | `id` | `id` | `id` |
//! | `timestamp` | `createdDateTime` | `activityDateTime` | `activityDateTime` |
//! | `message` | `<user> signed in to <app>`, or `failed to sign in … (<failureReason>)` | `<initiator> <activityDisplayName> <target>` and the result | `<action> <identity type> <identity> from <source> to <target>: <status>` |
//! | `status` | `warning` when `status.errorCode` ≠ 0, else `info` | `warning` unless `result` is `success` | `error` on `failure`, else `info` |
//! | `usr.id`, `usr.name`, `usr.email` | `userId`, `userDisplayName`, `userPrincipalName` | `initiatedBy.user` (`id`, `displayName`, `userPrincipalName`) | `initiatedBy` (`id`, `displayName`) |
//! | `network.client.ip` | `ipAddress` | `initiatedBy.user.ipAddress` | — |
//! | `http.useragent` | `userAgent` (beta) | — | — |
//! | `evt.name` | `Sign-in activity` | `activityDisplayName` | `provisioningAction` |
//! | `evt.outcome` | `success` / `failure` | `result` | `provisioningStatusInfo.status` |
//!
//! A sign-in's own `status` object (`errorCode`, `failureReason`, `additionalDetails`) would be hidden by
//! the record's `status`, the log's level: it is kept as `signInStatus`.

use std::borrow::Cow;

use jiff::Timestamp;
use logcrawl_connector::Standard;
use logcrawl_connector::members::pick;
use logcrawl_core::{Fields, RawEvent, raw_member, raw_scalar, raw_str_at, raw_text};
use serde_json::Value;
use serde_json::value::RawValue;

use crate::api::Log;

/// One event of a log: what logcrawl adds, its instant, and the event.
#[derive(Debug)]
pub struct GraphEvent {
    /// `id`, `message`, `timestamp`, `status` and the standard attributes.
    pub(crate) data: Fields,
    /// The log's time property, when it is an instant.
    pub(crate) at: Option<Timestamp>,
    /// The whole event, a JSON object (a slice of its page).
    pub(crate) raw: RawEvent,
}

impl GraphEvent {
    /// The event's `id`, when it is a string.
    pub(crate) fn id(&self) -> Option<&str> {
        self.data.get("id").and_then(Value::as_str)
    }
}

/// A non-empty string at `path` below `raw` (`raw` itself for an empty path).
fn text<'a>(raw: Option<&'a RawValue>, path: &[&str]) -> Option<Cow<'a, str>> {
    let raw = raw?;
    if path.is_empty() { raw_text(Some(raw)) } else { raw_str_at(raw, path) }.filter(|s| !s.trim().is_empty())
}

fn owned(text: Option<Cow<'_, str>>) -> Option<String> {
    text.map(Cow::into_owned)
}

/// The first element of a JSON array.
fn first(raw: Option<&RawValue>) -> Option<&RawValue> {
    serde_json::from_str::<Vec<&RawValue>>(raw?.get()).ok()?.into_iter().next()
}

/// Maps an event of `log` to a record. Fails when it is not a JSON object.
pub(crate) fn to_event(log: Log, raw: RawEvent) -> Result<GraphEvent, serde_json::Error> {
    let mut data = Fields::new();
    let at;
    {
        let names = match log {
            Log::SignIns => [
                "id",
                "createdDateTime",
                "userId",
                "userDisplayName",
                "userPrincipalName",
                "ipAddress",
                "appDisplayName",
                "status",
                "userAgent",
            ],
            Log::DirectoryAudits => [
                "id",
                "activityDateTime",
                "activityDisplayName",
                "result",
                "resultReason",
                "initiatedBy",
                "targetResources",
                "category",
                "loggedByService",
            ],
            Log::Provisioning => [
                "id",
                "activityDateTime",
                "provisioningAction",
                "provisioningStatusInfo",
                "sourceIdentity",
                "sourceSystem",
                "targetSystem",
                "initiatedBy",
                "jobId",
            ],
        };
        let (members, roots) = pick(&raw, names)?;
        if let Some(id) = members[0].and_then(|raw| serde_json::from_str::<Value>(raw.get()).ok()) {
            data.insert("id".into(), id);
        }
        at = text(members[1], &[]).and_then(|t| t.parse::<Timestamp>().ok());
        if let (Log::SignIns, Some(status)) = (log, members[7])
            && let Ok(status) = serde_json::from_str::<Value>(status.get())
        {
            data.insert("signInStatus".into(), status);
        }
        let standard = match log {
            Log::SignIns => sign_in(&members),
            Log::DirectoryAudits => directory_audit(&members),
            Log::Provisioning => provisioning(&members),
        };
        Standard { timestamp: at, ..standard }.insert(&mut data, |group| roots.get(group));
    }
    Ok(GraphEvent { data, at, raw })
}

/// `[id, createdDateTime, userId, userDisplayName, userPrincipalName, ipAddress, appDisplayName, status, userAgent]`.
fn sign_in(m: &[Option<&RawValue>; 9]) -> Standard {
    let code = m[7].and_then(|status| raw_scalar(raw_member(status, "errorCode")));
    let failed = code.as_deref().is_some_and(|code| code != "0");
    let who =
        text(m[4], &[]).or_else(|| text(m[3], &[])).or_else(|| text(m[2], &[])).unwrap_or(Cow::Borrowed("someone"));
    let app = text(m[6], &[]).unwrap_or(Cow::Borrowed("an application"));
    let message = if failed {
        let reason = text(m[7], &["failureReason"]).unwrap_or(Cow::Borrowed("error"));
        format!("{who} failed to sign in to {app} ({reason}, error {})", code.as_deref().unwrap_or("?"))
    } else {
        format!("{who} signed in to {app}")
    };
    Standard {
        message: Some(message),
        status: Some(if failed { "warning" } else { "info" }.into()),
        usr_id: owned(text(m[2], &[])),
        usr_name: owned(text(m[3], &[])),
        usr_email: owned(text(m[4], &[])),
        client_ip: owned(text(m[5], &[])),
        user_agent: owned(text(m[8], &[])),
        evt_name: Some("Sign-in activity".into()),
        evt_outcome: code.map(|_| if failed { "failure" } else { "success" }.into()),
        ..Standard::default()
    }
}

/// `[id, activityDateTime, activityDisplayName, result, resultReason, initiatedBy, targetResources, category, loggedByService]`.
fn directory_audit(m: &[Option<&RawValue>; 9]) -> Standard {
    let user = m[5].and_then(|by| raw_member(by, "user")).filter(|u| u.get().starts_with('{'));
    let app = m[5].and_then(|by| raw_member(by, "app")).filter(|a| a.get().starts_with('{'));
    let initiator = text(user, &["userPrincipalName"])
        .or_else(|| text(user, &["displayName"]))
        .or_else(|| text(app, &["displayName"]))
        .or_else(|| text(app, &["appId"]))
        .unwrap_or(Cow::Borrowed("someone"));
    let activity = text(m[2], &[]);
    let target = first(m[6]);
    let target = text(target, &["userPrincipalName"])
        .or_else(|| text(target, &["displayName"]))
        .or_else(|| text(target, &["id"]));
    let result = text(m[3], &[]);
    let mut message = format!("{initiator} {}", activity.as_deref().unwrap_or("did something"));
    if let Some(target) = &target {
        message.push(' ');
        message.push_str(target);
    }
    if let Some(result) = result.as_deref().filter(|r| *r != "success") {
        message.push_str(&format!(": {result}"));
        if let Some(reason) = text(m[4], &[]) {
            message.push_str(&format!(" ({reason})"));
        }
    }
    Standard {
        message: Some(message),
        status: Some(if result.as_deref().is_none_or(|r| r == "success") { "info" } else { "warning" }.into()),
        usr_id: owned(text(user, &["id"])),
        usr_name: owned(text(user, &["displayName"])),
        usr_email: owned(text(user, &["userPrincipalName"])),
        client_ip: owned(text(user, &["ipAddress"])),
        evt_name: owned(activity),
        evt_outcome: owned(result),
        ..Standard::default()
    }
}

/// `[id, activityDateTime, provisioningAction, provisioningStatusInfo, sourceIdentity, sourceSystem, targetSystem, initiatedBy, jobId]`.
fn provisioning(m: &[Option<&RawValue>; 9]) -> Standard {
    let action = text(m[2], &[]);
    let status = text(m[3], &["status"]);
    let identity = text(m[4], &["displayName"]).or_else(|| text(m[4], &["id"])).unwrap_or(Cow::Borrowed("an object"));
    let kind = text(m[4], &["identityType"]).map_or(String::new(), |kind| format!("{kind} "));
    let source = text(m[5], &["displayName"]).unwrap_or(Cow::Borrowed("?"));
    let target = text(m[6], &["displayName"]).unwrap_or(Cow::Borrowed("?"));
    let mut message = format!(
        "{} {kind}{identity} from {source} to {target}: {}",
        action.as_deref().unwrap_or("provision"),
        status.as_deref().unwrap_or("unknown")
    );
    if let Some(reason) = m[3].and_then(|info| text(Some(info), &["errorInformation", "reason"])) {
        message.push_str(&format!(" ({reason})"));
    }
    Standard {
        message: Some(message),
        status: Some(if status.as_deref() == Some("failure") { "error" } else { "info" }.into()),
        usr_id: owned(text(m[7], &["id"])),
        usr_name: owned(text(m[7], &["displayName"])),
        evt_name: owned(action),
        evt_outcome: owned(status),
        ..Standard::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use logcrawl_core::LogRecord;
    use serde_json::json;

    fn record(log: Log, event: &Value) -> Value {
        let event = to_event(log, RawValue::from_string(event.to_string()).unwrap().into()).unwrap();
        LogRecord::new(event.data).with_raw(event.raw).to_value().unwrap()
    }

    /// The sign-in of the API reference's example, shortened.
    fn sign_in_example() -> Value {
        json!({"id": "66ea54eb-6301-4ee5-be62-ff5a759b0100", "createdDateTime": "2020-03-13T19:15:41.6195833Z",
               "userDisplayName": "Test Contoso", "userPrincipalName": "testaccount1@contoso.com",
               "userId": "26be570a-ae82-4189-b4e2-a37c6808512d", "appDisplayName": "Graph explorer",
               "ipAddress": "131.107.159.37", "status": {"errorCode": 0, "failureReason": null},
               "location": {"city": "Redmond", "countryOrRegion": "US"}})
    }

    #[test]
    fn sign_ins_map_to_the_standard_attributes_and_keep_every_member() {
        let out = record(Log::SignIns, &sign_in_example());
        assert_eq!(out["message"], "testaccount1@contoso.com signed in to Graph explorer");
        assert_eq!(out["status"], "info");
        assert!((out["timestamp"].as_f64().unwrap() - 1_584_126_941.6195833).abs() < 1e-6, "{}", out["timestamp"]);
        assert_eq!(
            out["usr"],
            json!({"id": "26be570a-ae82-4189-b4e2-a37c6808512d", "name": "Test Contoso", "email": "testaccount1@contoso.com"})
        );
        assert_eq!(out["network"]["client"]["ip"], "131.107.159.37");
        assert_eq!(out["evt"], json!({"name": "Sign-in activity", "outcome": "success"}));
        assert_eq!(out["signInStatus"], json!({"errorCode": 0, "failureReason": null}), "Graph's status, kept");
        let mut expected = sign_in_example();
        expected["signInStatus"] = expected.as_object_mut().unwrap().remove("status").unwrap();
        for (key, value) in out.as_object().unwrap() {
            if !["message", "timestamp", "status", "usr", "network", "evt"].contains(&key.as_str()) {
                assert_eq!(expected.as_object_mut().unwrap().remove(key).as_ref(), Some(value), "{key}");
            }
        }
        assert!(expected.as_object().unwrap().is_empty(), "every member kept: {expected}");

        let mut failed = sign_in_example();
        failed["status"] = json!({"errorCode": 50126, "failureReason": "Invalid username or password."});
        let out = record(Log::SignIns, &failed);
        assert_eq!(
            out["message"],
            "testaccount1@contoso.com failed to sign in to Graph explorer (Invalid username or password., error 50126)"
        );
        assert_eq!((out["status"].as_str(), out["evt"]["outcome"].as_str()), (Some("warning"), Some("failure")));
    }

    #[test]
    fn directory_audits_name_initiator_activity_and_target() {
        let audit = json!({"id": "Directory_da159bfb_X", "activityDateTime": "2018-01-09T21:20:02.7215374Z",
            "activityDisplayName": "Add member to group", "result": "success", "category": "GroupManagement",
            "initiatedBy": {"user": {"id": "728309ae", "displayName": "Audry Oliver", "userPrincipalName": "bob@wingtiptoysonline.com", "ipAddress": "127.0.0.1"}, "app": null},
            "targetResources": [{"id": "ef7e527d", "displayName": "Example.com", "type": "Group"}]});
        let out = record(Log::DirectoryAudits, &audit);
        assert_eq!(out["message"], "bob@wingtiptoysonline.com Add member to group Example.com");
        assert_eq!(out["usr"]["email"], "bob@wingtiptoysonline.com");
        assert_eq!(out["network"]["client"]["ip"], "127.0.0.1");
        assert_eq!(out["evt"], json!({"name": "Add member to group", "outcome": "success"}));
        let by_app = json!({"id": "a", "activityDateTime": "2024-12-27T10:01:19.5796748Z", "activityDisplayName": "Update user",
            "result": "failure", "resultReason": "Insufficient privileges",
            "initiatedBy": {"user": null, "app": {"displayName": "Provisioning Agent"}}, "targetResources": []});
        let out = record(Log::DirectoryAudits, &by_app);
        assert_eq!(out["message"], "Provisioning Agent Update user: failure (Insufficient privileges)");
        assert_eq!(out["status"], "warning");
        assert!(out.get("usr").is_none() && out.get("network").is_none());
    }

    #[test]
    fn provisioning_events_say_what_moved_where() {
        let event = json!({"id": "gc532ff9", "activityDateTime": "2019-06-24T20:53:08Z", "provisioningAction": "create",
            "provisioningStatusInfo": {"status": "failure", "errorInformation": {"reason": "HTTP 409"}},
            "sourceIdentity": {"id": "5e6c", "displayName": "Self-service Pilot", "identityType": "Group"},
            "sourceSystem": {"displayName": "Azure Active Directory"}, "targetSystem": {"displayName": "Contoso"},
            "initiatedBy": {"id": "", "displayName": "Azure AD Provisioning Service", "initiatorType": "system"}});
        let out = record(Log::Provisioning, &event);
        assert_eq!(
            out["message"],
            "create Group Self-service Pilot from Azure Active Directory to Contoso: failure (HTTP 409)"
        );
        assert_eq!(out["status"], "error");
        assert_eq!(out["timestamp"], 1_561_409_588.0);
        assert_eq!(out["usr"], json!({"name": "Azure AD Provisioning Service"}));
        assert_eq!(out["evt"], json!({"name": "create", "outcome": "failure"}));
    }

    #[test]
    fn odd_members_are_kept_and_add_nothing() {
        let event = json!({"id": 7, "createdDateTime": "yesterday", "status": "odd", "usr": "x"});
        let parsed = to_event(Log::SignIns, RawValue::from_string(event.to_string()).unwrap().into()).unwrap();
        assert!(parsed.at.is_none() && parsed.id().is_none());
        let out = record(Log::SignIns, &event);
        assert_eq!(out["createdDateTime"], "yesterday");
        assert_eq!(out["usr"], "x", "an own member that is not an object stays");
        assert_eq!(out["message"], "someone signed in to an application");
        for text in ["[]", "\"e\"", "1", "null"] {
            assert!(to_event(Log::DirectoryAudits, RawValue::from_string(text.to_owned()).unwrap().into()).is_err());
        }
    }

    proptest::proptest! {
        #[test]
        fn no_event_panics(text in ".{0,120}") {
            if let Ok(raw) = RawValue::from_string(text) {
                for log in Log::ALL {
                    let _any_result_is_fine = to_event(log, raw.clone().into()).is_ok();
                }
            }
        }
    }
}
