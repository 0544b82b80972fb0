//! The simulated Duo's events, written straight into a page's buffer: each a pure function of its index
//! and its instant, in the shapes of Duo's Admin API documentation.

use bytes::{BufMut, BytesMut};

use crate::util::{put_dec, put_hex, put_private_ip, put_rfc3339_ms, put_uuid, splitmix64};

pub(super) const AUTH_SALT: u64 = 0xd0a0_0000_0000_0a17;
pub(super) const TELEPHONY_SALT: u64 = 0xd0a0_0000_0000_7e1e;
pub(super) const ADMIN_SALT: u64 = 0xd0a0_0000_0000_ad01;

const APPLICATIONS: [&str; 5] =
    ["Microsoft Azure Active Directory", "Cisco AnyConnect VPN", "Okta SSO", "Windows Logon", "Duo Admin Panel"];
const FACTORS: [&str; 6] =
    ["duo_push", "phone_call", "passcode", "sms_passcode", "webauthn_credential", "remembered_device"];
const CITIES: [(&str, &str, &str); 4] = [
    ("Ann Arbor", "Michigan", "United States"),
    ("Austin", "Texas", "United States"),
    ("London", "England", "United Kingdom"),
    ("Berlin", "Berlin", "Germany"),
];
const ACTIONS: [&str; 6] =
    ["admin_login", "user_update", "user_create", "group_update", "integration_update", "phone_create"];
const CONTEXTS: [&str; 3] = ["authentication", "enrollment", "administrator login"];

/// `epoch_us` as Duo's `isotimestamp`: `2020-02-13T18:56:20.351346+00:00`.
pub(super) fn put_iso_us(out: &mut BytesMut, epoch_us: i64) {
    put_rfc3339_ms(out, epoch_us.div_euclid(1000));
    out.truncate(out.len() - 1); // the `Z`
    put_dec(out, epoch_us.rem_euclid(1000) as u64, 3);
    out.put_slice(b"+00:00");
}

/// `epoch_us` in whole seconds, as the v1 `isotimestamp`: `2020-01-24T15:09:42+00:00`.
fn put_iso_seconds(out: &mut BytesMut, epoch_us: i64) {
    put_rfc3339_ms(out, epoch_us.div_euclid(1_000_000) * 1000);
    out.truncate(out.len() - 5); // `.000Z`
    out.put_slice(b"+00:00");
}

/// A Duo key (`DU…`, `DI…`, `DP…`: two letters and 18 characters) unique to `n` for `prefix`.
fn put_key(out: &mut BytesMut, prefix: &[u8; 2], n: u64) {
    const ALPHABET: &[u8; 32] = b"0123456789ABCDEFGHJKLMNPQRSTUVWX";
    out.put_slice(prefix);
    let mut bits = splitmix64(n ^ u64::from(prefix[1]) << 56);
    for i in 0..18 {
        if i == 12 {
            bits = splitmix64(bits);
        }
        out.put_u8(ALPHABET[(bits & 31) as usize]);
        bits >>= 5;
    }
}

/// The `txid` of authentication event `i`.
pub(super) fn put_txid(out: &mut BytesMut, i: u64) {
    put_uuid(out, i, AUTH_SALT);
}

/// The `telephony_id` of telephony event `i`.
pub(super) fn put_telephony_id(out: &mut BytesMut, i: u64) {
    put_uuid(out, i, TELEPHONY_SALT);
}

fn put_location(out: &mut BytesMut, hash: u64) {
    let (city, state, country) = CITIES[(hash % CITIES.len() as u64) as usize];
    out.put_slice(b"{\"city\":\"");
    out.put_slice(city.as_bytes());
    out.put_slice(b"\",\"country\":\"");
    out.put_slice(country.as_bytes());
    out.put_slice(b"\",\"state\":\"");
    out.put_slice(state.as_bytes());
    out.put_slice(b"\"}");
}

/// Authentication event `i` (v2), which happened at `epoch_us`: one in fifty an enrollment, one in ten
/// denied, one in a thousand marked as fraud.
pub(super) fn put_authentication(out: &mut BytesMut, i: u64, epoch_us: i64) {
    let hash = splitmix64(i ^ AUTH_SALT);
    let user = (hash >> 8) % 500;
    let (result, reason) = match (hash >> 20) % 1000 {
        0 => ("fraud", "user_marked_fraud"),
        1..=49 => ("denied", "user_mistake"),
        50..=99 => ("denied", "deny_unenrolled_user"),
        _ => ("success", "user_approved"),
    };
    let event_type = if (hash >> 32).is_multiple_of(50) { "enrollment" } else { "authentication" };
    out.put_slice(
        b"{\"access_device\":{\"browser\":\"Chrome\",\"browser_version\":\"124.0.6367.91\",\"hostname\":null,\"ip\":\"",
    );
    put_private_ip(out, hash);
    out.put_slice(b"\",\"location\":");
    put_location(out, hash >> 40);
    out.put_slice(b",\"os\":\"Mac OS X\",\"os_version\":\"14.4.1\"},\"alias\":\"\",\"application\":{\"key\":\"");
    let app = (hash >> 44) % APPLICATIONS.len() as u64;
    put_key(out, b"DI", app);
    out.put_slice(b"\",\"name\":\"");
    out.put_slice(APPLICATIONS[app as usize].as_bytes());
    out.put_slice(b"\"},\"auth_device\":{\"ip\":\"");
    put_private_ip(out, hash.rotate_left(17));
    out.put_slice(b"\",\"key\":\"");
    put_key(out, b"DP", user);
    out.put_slice(b"\",\"location\":");
    put_location(out, hash >> 40);
    out.put_slice(b",\"name\":\"iPhone (734-555-");
    put_dec(out, user % 10_000, 4);
    out.put_slice(b")\"},\"email\":\"user");
    put_dec(out, user, 4);
    out.put_slice(b"@example.com\",\"event_type\":\"");
    out.put_slice(event_type.as_bytes());
    out.put_slice(b"\",\"factor\":\"");
    out.put_slice(FACTORS[((hash >> 50) % FACTORS.len() as u64) as usize].as_bytes());
    out.put_slice(b"\",\"isotimestamp\":\"");
    put_iso_us(out, epoch_us);
    out.put_slice(b"\",\"ood_software\":null,\"reason\":\"");
    out.put_slice(reason.as_bytes());
    out.put_slice(b"\",\"result\":\"");
    out.put_slice(result.as_bytes());
    out.put_slice(b"\",\"timestamp\":");
    put_dec(out, epoch_us.div_euclid(1_000_000).max(0) as u64, 1);
    out.put_slice(b",\"trusted_endpoint_status\":\"not trusted\",\"txid\":\"");
    put_txid(out, i);
    out.put_slice(b"\",\"user\":{\"groups\":[\"Duo Users\"],\"key\":\"");
    put_key(out, b"DU", user);
    out.put_slice(b"\",\"name\":\"user");
    put_dec(out, user, 4);
    out.put_slice(b"\"}}");
}

/// Telephony event `i` (v2), at `epoch_us`: an SMS or a call, and the credits it used.
pub(super) fn put_telephony(out: &mut BytesMut, i: u64, epoch_us: i64) {
    let hash = splitmix64(i ^ TELEPHONY_SALT);
    let phone = (hash >> 8) % 10_000;
    let (kind, credits) = if hash.is_multiple_of(4) { ("phone", 2) } else { ("sms", 1) };
    out.put_slice(b"{\"context\":\"");
    out.put_slice(CONTEXTS[((hash >> 24) % CONTEXTS.len() as u64) as usize].as_bytes());
    out.put_slice(b"\",\"credits\":");
    put_dec(out, credits, 1);
    out.put_slice(b",\"phone\":\"+1503555");
    put_dec(out, phone, 4);
    out.put_slice(b"\",\"telephony_id\":\"");
    put_telephony_id(out, i);
    out.put_slice(b"\",\"ts\":\"");
    put_iso_us(out, epoch_us);
    out.put_slice(b"\",\"txid\":\"");
    put_uuid(out, i, AUTH_SALT ^ TELEPHONY_SALT);
    out.put_slice(b"\",\"type\":\"");
    out.put_slice(kind.as_bytes());
    out.put_slice(b"\"}");
}

/// Administrator event `i` (v1), at `epoch_us`: an action on a user, group or integration; its
/// `description` (a JSON document in a string, as Duo writes it) names the change by number, so no two
/// events are alike.
pub(super) fn put_administrator(out: &mut BytesMut, i: u64, epoch_us: i64) {
    let hash = splitmix64(i ^ ADMIN_SALT);
    out.put_slice(b"{\"action\":\"");
    out.put_slice(ACTIONS[(hash % ACTIONS.len() as u64) as usize].as_bytes());
    out.put_slice(b"\",\"description\":\"{\\\"notes\\\": \\\"change ");
    put_dec(out, i, 7);
    out.put_slice(b"\\\", \\\"hash\\\": \\\"");
    put_hex(out, hash >> 32, 8);
    out.put_slice(b"\\\"}\",\"isotimestamp\":\"");
    put_iso_seconds(out, epoch_us);
    out.put_slice(b"\",\"object\":\"user");
    put_dec(out, (hash >> 8) % 500, 4);
    out.put_slice(b"\",\"timestamp\":");
    put_dec(out, epoch_us.div_euclid(1_000_000).max(0) as u64, 1);
    out.put_slice(b",\"username\":\"admin");
    put_dec(out, (hash >> 16) % 5, 1);
    out.put_slice(b"\"}");
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::Value;

    fn json(write: fn(&mut BytesMut, u64, i64), i: u64, us: i64) -> Value {
        let mut out = BytesMut::new();
        write(&mut out, i, us);
        serde_json::from_slice(&out).unwrap_or_else(|err| panic!("{err}: {}", String::from_utf8_lossy(&out)))
    }

    #[test]
    fn events_are_json_in_duos_shapes() {
        let us = 1_581_620_180_351_346;
        let auth = json(put_authentication, 7, us);
        assert_eq!(auth["isotimestamp"], "2020-02-13T18:56:20.351346+00:00");
        assert_eq!(auth["timestamp"], 1_581_620_180);
        for key in [
            "access_device",
            "application",
            "auth_device",
            "email",
            "event_type",
            "factor",
            "reason",
            "result",
            "txid",
            "user",
        ] {
            assert!(auth.get(key).is_some(), "{key}");
        }
        assert_eq!(auth["user"]["key"].as_str().unwrap().len(), 20);
        assert!(auth["user"]["key"].as_str().unwrap().starts_with("DU"));
        let call = json(put_telephony, 7, us);
        assert_eq!(call["ts"], "2020-02-13T18:56:20.351346+00:00");
        assert!(["sms", "phone"].contains(&call["type"].as_str().unwrap()));
        let action = json(put_administrator, 7, us);
        assert_eq!(action["isotimestamp"], "2020-02-13T18:56:20+00:00");
        assert_eq!(action["timestamp"], 1_581_620_180);
        let description: Value = serde_json::from_str(action["description"].as_str().unwrap()).unwrap();
        assert_eq!(description["notes"], "change 0000007");
    }

    #[test]
    fn results_vary_as_a_real_log_does() {
        let results: Vec<String> =
            (0..5000).map(|i| json(put_authentication, i, 0)["result"].as_str().unwrap().to_owned()).collect();
        let denied = results.iter().filter(|r| *r == "denied").count();
        assert!((300..700).contains(&denied), "{denied}");
        assert!(results.iter().any(|r| r == "fraud"));
    }
}
