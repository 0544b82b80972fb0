//! Duo's answers: every one is `{"stat": "OK", "response": …}` or `{"stat": "FAIL", "code": N,
//! "message": "…", "message_detail": "…"}`, and a refusal's code says what the operator must fix.
//!
//! | code | HTTP | meaning | here |
//! |---|---|---|---|
//! | 40101–40199 | 401 | the request's credentials: 40102 an unknown integration key, 40103 a signature that does not verify, others a missing or stale `Date` | fatal: check `integration_key`, `secret_key`, `api_host`, the clock |
//! | 40301 | 403 | "Access forbidden": the Admin API application lacks the permission (for logs: "Grant read log") | fatal |
//! | other 403 | 403 | refused (an application restricted to some networks, say) | fatal |
//! | 42901 | 429 | too many requests | waited out by the HTTP client |
//! | 400xx | 400 | a parameter Duo refuses | transient, with Duo's message |

use std::borrow::Cow;

use logcrawl_connector::{advised, malformed};
use logcrawl_core::StreamError;
use logcrawl_http::{HttpError, Response, redact_url};
use serde::Deserialize;
use serde_json::value::RawValue;

/// The envelope of every answer.
#[derive(Deserialize)]
struct Envelope<'a> {
    stat: Option<Cow<'a, str>>,
    #[serde(borrow)]
    response: Option<&'a RawValue>,
    code: Option<u64>,
    #[serde(borrow)]
    message: Option<Cow<'a, str>>,
    #[serde(borrow)]
    message_detail: Option<Cow<'a, str>>,
}

/// The `response` of an `{"stat": "OK"}` answer; a `FAIL` answered with a 2xx is the refusal it says,
/// anything else is malformed.
pub(crate) fn response_of<'r>(response: &'r Response, log: &str) -> Result<&'r RawValue, StreamError> {
    let envelope: Envelope<'_> = response.json()?;
    match (envelope.stat.as_deref(), envelope.response) {
        (Some("OK"), Some(body)) => Ok(body),
        (Some("OK"), None) => Err(malformed(response, "`stat` is OK but there is no `response`")),
        (Some(_), _) => {
            let code = envelope.code.unwrap_or(0);
            let said = said(code, envelope.message.as_deref(), envelope.message_detail.as_deref());
            let text = format!("{} answered {said}{}", redact_url(&response.url), advice(code, log));
            Err(if fatal(code) { StreamError::fatal(text) } else { StreamError::transient(text) })
        }
        (None, _) => Err(malformed(response, "the answer has no `stat`")),
    }
}

fn said(code: u64, message: Option<&str>, detail: Option<&str>) -> String {
    let mut text = format!("`FAIL` {code}");
    if let Some(message) = message {
        text.push_str(&format!(" ({message}"));
        if let Some(detail) = detail {
            text.push_str(&format!(": {detail}"));
        }
        text.push(')');
    }
    text
}

/// Whether a refusal with Duo's `code` stops the source: credentials and permissions do.
fn fatal(code: u64) -> bool {
    (40100..40400).contains(&code)
}

/// What to check for a refusal with Duo's `code`, while reading the `log` log.
fn advice(code: u64, log: &str) -> String {
    match code {
        40301 => format!(
            " — Duo refused to read the {log} log: the Admin API application lacks the \"Grant read log\" \
             permission (Duo Admin Panel → Applications → the Admin API application → Permissions)"
        ),
        40102 => {
            " — Duo does not know the integration key: `integration_key` must be an Admin API application's".into()
        }
        40103 => " — the request's signature did not verify: check `secret_key`, and that `api_host` is the \
                   application's API hostname (every signature names it)"
            .into(),
        40100..40200 => " — Duo rejected the request's credentials: check `integration_key`, `secret_key`, \
                         `api_host`, and this host's clock (every request is signed with its Date)"
            .into(),
        40300..40400 => format!(
            " — Duo refused to read the {log} log: check the Admin API application's permissions (\"Grant read \
             log\") and any network restriction it has"
        ),
        _ => String::new(),
    }
}

/// Duo's refusal in the body of a failed request, if it has one.
#[derive(Deserialize)]
struct Refusal {
    code: Option<u64>,
}

/// The stream error for a failed request while reading the `log` log: its own kind (401/403 fatal),
/// with what to check appended.
pub(crate) fn refusal(err: HttpError, log: &str) -> StreamError {
    let code = match &err {
        HttpError::Status { body, .. } => serde_json::from_str::<Refusal>(body).ok().and_then(|r| r.code),
        _ => None,
    };
    let code = match (code, err.status().map(|s| s.as_u16())) {
        (Some(code), _) => code,
        (None, Some(401)) => 40100,
        (None, Some(403)) => 40300,
        (None, _) => 0,
    };
    advised(err, advice(code, log))
}

#[cfg(test)]
mod tests {
    use super::*;
    use logcrawl_core::StreamErrorKind;
    use logcrawl_http::{StatusCode, Url};

    fn answer(body: &str) -> Response {
        Response {
            status: StatusCode::OK,
            headers: Default::default(),
            body: body.to_owned().into(),
            url: Url::parse("https://api-x.duosecurity.com/admin/v1/logs/administrator?mintime=1").unwrap(),
        }
    }

    #[test]
    fn ok_answers_hand_out_their_response_and_fail_answers_say_why() {
        let ok = answer(r#"{"stat": "OK", "response": [1, 2]}"#);
        assert_eq!(response_of(&ok, "administrator").unwrap().get(), "[1, 2]");
        let denied =
            answer(r#"{"stat": "FAIL", "code": 40301, "message": "Access forbidden", "message_detail": "read log"}"#);
        let err = response_of(&denied, "administrator").unwrap_err();
        assert_eq!(err.kind(), StreamErrorKind::Fatal);
        let text = err.to_string();
        assert!(text.contains("40301 (Access forbidden: read log)") && text.contains("Grant read log"), "{text}");
        let busy = answer(r#"{"stat": "FAIL", "code": 50000, "message": "later"}"#);
        assert_eq!(response_of(&busy, "administrator").unwrap_err().kind(), StreamErrorKind::Transient);
        for bad in [r#"{"stat": "OK"}"#, r#"{"response": []}"#, "[]", "{"] {
            let err = response_of(&answer(bad), "administrator").unwrap_err();
            assert!(err.to_string().contains("malformed"), "{bad}: {err}");
        }
    }

    #[test]
    fn refusals_keep_their_kind_and_name_what_to_check() {
        let status = |status: u16, body: &str| HttpError::Status {
            status: StatusCode::from_u16(status).unwrap(),
            url: "https://api-x.duosecurity.com/admin/v2/logs/telephony".into(),
            body: body.into(),
        };
        let forbidden =
            refusal(status(403, r#"{"stat":"FAIL","code":40301,"message":"Access forbidden"}"#), "telephony");
        assert_eq!(forbidden.kind(), StreamErrorKind::Fatal);
        assert!(forbidden.to_string().contains("telephony log") && forbidden.to_string().contains("Grant read log"));
        let signature = refusal(status(401, r#"{"stat":"FAIL","code":40103,"message":"Invalid signature"}"#), "x");
        assert!(signature.to_string().contains("`secret_key`"), "{signature}");
        let bare = refusal(status(401, "nope"), "x");
        assert_eq!(bare.kind(), StreamErrorKind::Fatal);
        assert!(bare.to_string().contains("clock"), "{bare}");
        let bad = refusal(status(400, r#"{"stat":"FAIL","code":40002,"message":"Invalid request parameters"}"#), "x");
        assert_eq!(bad.kind(), StreamErrorKind::Transient);
        assert!(bad.to_string().contains("Invalid request parameters"), "{bad}");
    }

    proptest::proptest! {
        #[test]
        fn no_answer_panics(body in "\\PC{0,80}", code in 0u64..100_000) {
            let _any = response_of(&answer(&body), "x").is_ok();
            let failed = format!(r#"{{"stat": "FAIL", "code": {code}, "message": "m"}}"#);
            let err = response_of(&answer(&failed), "x").unwrap_err();
            proptest::prop_assert_eq!(err.kind() == StreamErrorKind::Fatal, (40100..40400).contains(&code));
        }
    }
}
