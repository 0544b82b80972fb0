//! Activities rendered straight into a page's buffer, each application with its own event names and
//! parameters (the members of the Reports API's activity resource and of each application's event
//! reference, shortened).

use bytes::{BufMut, BytesMut};

use super::{CUSTOMER_ID, application_of, unique_qualifier};
use crate::util::{put_dec, put_hex, put_private_ip, put_rfc3339_ms, splitmix64};

const USERS: u64 = 997;

fn put_user(out: &mut BytesMut, hash: u64) {
    out.put_slice(b"user");
    put_dec(out, hash % USERS, 1);
    out.put_slice(b"@example.com");
}

fn put_value(out: &mut BytesMut, name: &str, value: &[u8]) {
    out.put_slice(b"{\"name\":\"");
    out.put_slice(name.as_bytes());
    out.put_slice(b"\",\"value\":\"");
    out.put_slice(value);
    out.put_slice(b"\"}");
}

fn put_bool(out: &mut BytesMut, name: &str, value: bool) {
    out.put_slice(b"{\"name\":\"");
    out.put_slice(name.as_bytes());
    out.put_slice(b"\",\"boolValue\":");
    out.put_slice(if value { b"true" } else { b"false" });
    out.put_u8(b'}');
}

fn put_int(out: &mut BytesMut, name: &str, value: u64) {
    out.put_slice(b"{\"name\":\"");
    out.put_slice(name.as_bytes());
    out.put_slice(b"\",\"intValue\":\"");
    put_dec(out, value, 1);
    out.put_slice(b"\"}");
}

fn put_multi(out: &mut BytesMut, name: &str, values: &[&str]) {
    out.put_slice(b"{\"name\":\"");
    out.put_slice(name.as_bytes());
    out.put_slice(b"\",\"multiValue\":[");
    for (k, value) in values.iter().enumerate() {
        if k > 0 {
            out.put_u8(b',');
        }
        out.put_u8(b'"');
        out.put_slice(value.as_bytes());
        out.put_u8(b'"');
    }
    out.put_slice(b"]}");
}

/// Writes event `i`, which happened at epoch ms `at_ms`.
pub(super) fn put_event(out: &mut BytesMut, i: u64, at_ms: i64) {
    let application = application_of(i);
    let hash = splitmix64(i ^ 0x600d_1e00);
    out.put_slice(b"{\"kind\":\"admin#reports#activity\",\"id\":{\"time\":\"");
    put_rfc3339_ms(out, at_ms);
    out.put_slice(b"\",\"uniqueQualifier\":\"");
    let qualifier = unique_qualifier(i);
    if qualifier < 0 {
        out.put_u8(b'-');
    }
    put_dec(out, qualifier.unsigned_abs(), 1);
    out.put_slice(b"\",\"applicationName\":\"");
    out.put_slice(application.as_bytes());
    out.put_slice(b"\",\"customerId\":\"");
    out.put_slice(CUSTOMER_ID.as_bytes());
    out.put_slice(b"\"},\"etag\":\"\\\"");
    put_hex(out, hash, 16);
    out.put_slice(b"\\\"\",\"actor\":{");
    if application == "drive" && hash.is_multiple_of(5) {
        out.put_slice(b"\"callerType\":\"KEY\",\"key\":\"SYSTEM\"},");
    } else {
        out.put_slice(b"\"callerType\":\"USER\",\"email\":\"");
        put_user(out, hash);
        out.put_slice(b"\",\"profileId\":\"1");
        put_dec(out, (hash >> 11) % 100_000_000_000_000_000, 20);
        out.put_slice(b"\"},");
    }
    // Most Drive activity carries no address.
    if application != "drive" || hash % 4 == 1 {
        out.put_slice(b"\"ipAddress\":\"");
        put_private_ip(out, hash);
        out.put_slice(b"\",");
    }
    out.put_slice(b"\"events\":[{\"type\":\"");
    let failed = hash % 7 == 3;
    match application {
        "login" => {
            out.put_slice(b"login\",\"name\":\"");
            out.put_slice(if failed { b"login_failure" as &[u8] } else { b"login_success" });
            out.put_slice(b"\",\"parameters\":[");
            put_value(out, "login_type", b"google_password");
            out.put_u8(b',');
            put_multi(out, "login_challenge_method", &["password", "totp"][..1 + (hash % 2) as usize]);
            out.put_u8(b',');
            put_bool(out, "is_suspicious", hash.is_multiple_of(97));
            if failed {
                out.put_u8(b',');
                put_value(out, "login_failure_type", b"login_failure_invalid_password");
            }
        }
        "drive" => {
            let name: &[u8] = match hash % 4 {
                0 => b"view",
                1 => b"edit",
                2 => b"download",
                _ => b"change_user_access",
            };
            out.put_slice(b"access\",\"name\":\"");
            out.put_slice(name);
            out.put_slice(b"\",\"parameters\":[");
            out.put_slice(b"{\"name\":\"doc_id\",\"value\":\"1");
            put_hex(out, hash >> 3, 16);
            out.put_slice(b"\"},{\"name\":\"doc_title\",\"value\":\"Quarterly plan ");
            put_dec(out, hash % 500, 1);
            out.put_slice(b"\"},");
            put_value(out, "doc_type", b"document");
            out.put_slice(b",{\"name\":\"owner\",\"value\":\"");
            put_user(out, hash >> 7);
            out.put_slice(b"\"},");
            put_value(out, "visibility", if hash.is_multiple_of(3) { b"shared_internally" } else { b"private" });
            out.put_u8(b',');
            put_bool(out, "primary_event", true);
            out.put_u8(b',');
            put_bool(out, "billable", true);
        }
        "admin" => {
            out.put_slice(b"USER_SETTINGS\",\"name\":\"");
            out.put_slice(if hash.is_multiple_of(2) { b"CHANGE_PASSWORD" as &[u8] } else { b"CREATE_USER" });
            out.put_slice(b"\",\"parameters\":[{\"name\":\"USER_EMAIL\",\"value\":\"");
            put_user(out, hash >> 5);
            out.put_slice(b"\"}");
        }
        "token" => {
            out.put_slice(b"auth\",\"name\":\"");
            out.put_slice(if hash.is_multiple_of(5) { b"revoke" as &[u8] } else { b"authorize" });
            out.put_slice(b"\",\"parameters\":[");
            out.put_slice(b"{\"name\":\"client_id\",\"value\":\"");
            put_dec(out, hash % 1_000_000_000_000, 12);
            out.put_slice(b".apps.googleusercontent.com\"},");
            put_value(out, "app_name", b"Calendar Sync");
            out.put_u8(b',');
            put_value(out, "client_type", b"WEB");
            out.put_u8(b',');
            put_multi(out, "scope", &["https://www.googleapis.com/auth/calendar.readonly", "openid"]);
        }
        _ => {
            out.put_slice(b"login\",\"name\":\"");
            out.put_slice(if failed { b"login_failure" as &[u8] } else { b"login_success" });
            out.put_slice(b"\",\"parameters\":[");
            put_value(out, "application_name", b"Example HR");
            out.put_u8(b',');
            put_value(out, "initiated_by", b"sp");
            out.put_u8(b',');
            put_value(out, "orgunit_path", b"/Staff");
            out.put_u8(b',');
            put_value(out, "saml_status_code", if failed { b"SAML2_STATUS_REQUEST_DENIED" } else { b"SUCCESS_URI" });
            out.put_u8(b',');
            put_int(out, "saml_second_level_status_code_count", u64::from(failed));
        }
    }
    out.put_slice(b"]}]}");
}
