//! The simulated tenant's events as Microsoft Graph writes them: `signIn`, `directoryAudit` and
//! `provisioningObjectSummary` objects (the members of the API reference's examples), rendered straight
//! into the page buffer.

use bytes::{BufMut, BytesMut};

use super::Log;
use crate::util::{put_base32_id, put_dec, put_hex, put_private_ip, put_rfc3339_ms, put_uuid, splitmix64};

const ID_SALT: u64 = 0x0e17_a5a1_7000_0000;

const USERS: &[(&str, &str)] = &[
    ("Adele Vance", "adelev"),
    ("Alex Wilber", "alexw"),
    ("Diego Siciliani", "diegos"),
    ("Grady Archie", "gradya"),
    ("Isaiah Langer", "isaiahl"),
    ("Johanna Lorenz", "johannal"),
    ("Lee Gu", "leeg"),
    ("Megan Bowen", "meganb"),
];

const APPS: &[(&str, &str)] = &[
    ("Microsoft Teams", "1fec8e78-bce4-4aaf-ab1b-5451cc387264"),
    ("Office 365 Exchange Online", "00000002-0000-0ff1-ce00-000000000000"),
    ("Azure Portal", "c44b4083-3bb0-49c1-b47d-974e53cbdf3c"),
    ("Graph Explorer", "de8bc8b5-d9f9-48b1-a8ad-b748da725064"),
];

const PLACES: &[(&str, &str, &str)] = &[
    ("Redmond", "Washington", "US"),
    ("Dublin", "Dublin", "IE"),
    ("Munich", "Bavaria", "DE"),
    ("Osaka", "Osaka", "JP"),
];

/// `(activityDisplayName, category, loggedByService, operationType)` of the simulated directory audits.
const ACTIVITIES: &[(&str, &str, &str, &str)] = &[
    ("Add member to group", "GroupManagement", "Core Directory", "Assign"),
    ("Update user", "UserManagement", "Core Directory", "Update"),
    ("Reset password (self-service)", "UserManagement", "Self-service Password Management", "Update"),
    ("Add app role assignment to service principal", "ApplicationManagement", "Core Directory", "Assign"),
    ("Consent to application", "ApplicationManagement", "Core Directory", "Assign"),
    ("Add member to role", "RoleManagement", "Core Directory", "Assign"),
];

const ACTIONS: &[&str] = &["create", "update", "update", "delete", "disable", "other"];

/// Writes the `id` of event `index` (of log `log`): a GUID for sign-ins and provisioning, Graph's
/// `Directory_<GUID>_<5 characters>_<number>` for directory audits.
pub(super) fn put_id(out: &mut BytesMut, log: Log, index: u64) {
    if log == Log::DirectoryAudits {
        out.put_slice(b"Directory_");
        put_uuid(out, index, ID_SALT);
        out.put_u8(b'_');
        let mut code = BytesMut::with_capacity(26);
        put_base32_id(&mut code, index, ID_SALT);
        out.put_slice(&code[..5]);
        out.put_u8(b'_');
        put_dec(out, splitmix64(index) % 900_000_000 + 100_000_000, 1);
    } else {
        put_uuid(out, index, ID_SALT ^ ((log as u64 + 1) << 56));
    }
}

/// Writes an instant (epoch µs) as Graph does: seven fractional digits (`2020-03-13T19:15:41.6195830Z`),
/// or whole seconds for provisioning (`2019-05-04T03:00:54Z`).
pub(super) fn put_instant(out: &mut BytesMut, log: Log, epoch_us: i64) {
    put_rfc3339_ms(out, epoch_us.div_euclid(1000));
    out.truncate(out.len() - if log == Log::Provisioning { 5 } else { 1 });
    if log != Log::Provisioning {
        put_dec(out, epoch_us.rem_euclid(1000) as u64, 3);
        out.put_u8(b'0');
    }
    out.put_u8(b'Z');
}

fn put_guid(out: &mut BytesMut, seed: u64) {
    put_uuid(out, seed, ID_SALT ^ 0x5eed);
}

fn put_user(out: &mut BytesMut, user: u64, with_ip: Option<u64>) {
    let (name, alias) = USERS[(user % USERS.len() as u64) as usize];
    out.put_slice(br#"{"id":""#);
    put_guid(out, user);
    out.put_slice(br#"","displayName":""#);
    out.put_slice(name.as_bytes());
    out.put_slice(br#"","userPrincipalName":""#);
    out.put_slice(alias.as_bytes());
    out.put_slice(b"@contoso.com\"");
    if let Some(hash) = with_ip {
        out.put_slice(br#","ipAddress":""#);
        put_private_ip(out, hash);
        out.put_slice(br#"","userType":"Member","homeTenantId":null,"homeTenantName":null"#);
    }
    out.put_u8(b'}');
}

/// Writes event `index` of `log`, which happened at epoch µs `at_us`.
pub(super) fn put_event(out: &mut BytesMut, log: Log, index: u64, at_us: i64) {
    let hash = splitmix64(index ^ 0x0e17_0000_0000_0001);
    out.put_slice(br#"{"id":""#);
    put_id(out, log, index);
    out.put_slice(b"\",");
    match log {
        Log::SignIns => put_sign_in(out, hash, at_us),
        Log::DirectoryAudits => put_audit(out, hash, at_us),
        Log::Provisioning => put_provisioning(out, hash, at_us),
    }
    out.put_u8(b'}');
}

fn put_sign_in(out: &mut BytesMut, hash: u64, at_us: i64) {
    let user = hash % 61;
    let (name, alias) = USERS[(user % USERS.len() as u64) as usize];
    let (app, app_id) = APPS[(hash >> 20) as usize % APPS.len()];
    let (city, state, country) = PLACES[(hash >> 28) as usize % PLACES.len()];
    let failed = hash % 8 == 5;
    out.put_slice(br#""createdDateTime":""#);
    put_instant(out, Log::SignIns, at_us);
    out.put_slice(br#"","userDisplayName":""#);
    out.put_slice(name.as_bytes());
    out.put_slice(br#"","userPrincipalName":""#);
    out.put_slice(alias.as_bytes());
    out.put_slice(br#"@contoso.com","userId":""#);
    put_guid(out, user);
    out.put_slice(br#"","appId":""#);
    out.put_slice(app_id.as_bytes());
    out.put_slice(br#"","appDisplayName":""#);
    out.put_slice(app.as_bytes());
    out.put_slice(br#"","ipAddress":""#);
    put_private_ip(out, hash);
    out.put_slice(br#"","clientAppUsed":"Browser","correlationId":""#);
    put_guid(out, hash);
    out.put_slice(br#"","conditionalAccessStatus":"notApplied","isInteractive":true,"riskDetail":"none","riskLevelAggregated":"none","riskLevelDuringSignIn":"none","riskState":"none","riskEventTypes":[],"riskEventTypes_v2":[],"resourceDisplayName":"Microsoft Graph","resourceId":"00000003-0000-0000-c000-000000000000","status":{"errorCode":"#);
    if failed {
        out.put_slice(br#"50126,"failureReason":"Error validating credentials due to invalid username or password.","additionalDetails":"The user didn't enter the right credentials."}"#);
    } else {
        out.put_slice(br#"0,"failureReason":null,"additionalDetails":null}"#);
    }
    out.put_slice(br#","deviceDetail":{"deviceId":"","displayName":null,"operatingSystem":"Windows 10","browser":"Edge 126.0.0","isCompliant":null,"isManaged":null,"trustType":null},"location":{"city":""#);
    out.put_slice(city.as_bytes());
    out.put_slice(br#"","state":""#);
    out.put_slice(state.as_bytes());
    out.put_slice(br#"","countryOrRegion":""#);
    out.put_slice(country.as_bytes());
    out.put_slice(br#"","geoCoordinates":{"altitude":null,"latitude":47.68050003051758,"longitude":-122.12094116210938}},"appliedConditionalAccessPolicies":[{"id":""#);
    put_guid(out, 7);
    out.put_slice(br#"","displayName":"Require MFA for admins","enforcedGrantControls":[],"enforcedSessionControls":[],"result":"notEnabled"}]"#);
}

fn put_audit(out: &mut BytesMut, hash: u64, at_us: i64) {
    let (activity, category, service, operation) = ACTIVITIES[(hash >> 16) as usize % ACTIVITIES.len()];
    let failed = hash % 11 == 4;
    out.put_slice(br#""category":""#);
    out.put_slice(category.as_bytes());
    out.put_slice(br#"","correlationId":""#);
    put_guid(out, hash);
    out.put_slice(br#"","result":""#);
    out.put_slice(if failed { b"failure" } else { b"success" });
    out.put_slice(br#"","resultReason":""#);
    out.put_slice(if failed { &b"Insufficient privileges"[..] } else { &b""[..] });
    out.put_slice(br#"","activityDisplayName":""#);
    out.put_slice(activity.as_bytes());
    out.put_slice(br#"","activityDateTime":""#);
    put_instant(out, Log::DirectoryAudits, at_us);
    out.put_slice(br#"","loggedByService":""#);
    out.put_slice(service.as_bytes());
    out.put_slice(br#"","operationType":""#);
    out.put_slice(operation.as_bytes());
    out.put_slice(br#"","initiatedBy":{"#);
    if hash.is_multiple_of(5) {
        out.put_slice(br#""user":null,"app":{"appId":""#);
        out.put_slice(APPS[3].1.as_bytes());
        out.put_slice(br#"","displayName":"Provisioning Agent","servicePrincipalId":""#);
        put_guid(out, 99);
        out.put_slice(br#"","servicePrincipalName":null}"#);
    } else {
        out.put_slice(br#""app":null,"user":"#);
        put_user(out, hash % 61, Some(hash));
    }
    out.put_slice(br#"},"targetResources":[{"id":""#);
    put_guid(out, hash >> 3);
    out.put_slice(br#"","displayName":""#);
    out.put_slice(USERS[(hash >> 40) as usize % USERS.len()].0.as_bytes());
    out.put_slice(br#"","type":"User","userPrincipalName":""#);
    out.put_slice(USERS[(hash >> 40) as usize % USERS.len()].1.as_bytes());
    out.put_slice(br#"@contoso.com","groupType":null,"modifiedProperties":[{"displayName":"AccountEnabled","oldValue":"[true]","newValue":"[false]"}]}],"additionalDetails":[{"key":"User-Agent","value":"Mozilla/5.0 (Windows NT 10.0; Win64; x64)"}]"#);
}

fn put_provisioning(out: &mut BytesMut, hash: u64, at_us: i64) {
    let action = ACTIONS[(hash >> 12) as usize % ACTIONS.len()];
    let status: &[u8] = match hash % 13 {
        3 => b"failure",
        7 => b"skipped",
        _ => b"success",
    };
    let user = USERS[(hash >> 36) as usize % USERS.len()];
    out.put_slice(br#""activityDateTime":""#);
    put_instant(out, Log::Provisioning, at_us);
    out.put_slice(br#"","tenantId":""#);
    put_guid(out, 1);
    out.put_slice(
        br#"","jobId":"aws.74beb1753b704b63b8d56f0b76082b16.10a7a801-7101-4c69-ae00-ce9f75f8460a","cycleId":""#,
    );
    put_guid(out, hash >> 48);
    out.put_slice(br#"","changeId":""#);
    put_guid(out, hash);
    out.put_slice(br#"","provisioningAction":""#);
    out.put_slice(action.as_bytes());
    out.put_slice(br#"","durationInMilliseconds":"#);
    put_dec(out, hash % 5000 + 200, 1);
    out.put_slice(br#","provisioningStatusInfo":{"status":""#);
    out.put_slice(status);
    if status == b"failure" {
        out.put_slice(br#"","errorInformation":{"errorCode":"ContosoEntryConflict","reason":"Contoso returned an error response with the HTTP status code 409.","additionalDetails":null,"errorCategory":"nonServiceFailure","recommendedAction":null}}"#);
    } else {
        out.put_slice(br#"","errorInformation":null}"#);
    }
    out.put_slice(br#","provisioningSteps":[{"name":"EntryImport","provisioningStepType":"import","status":"success","description":"Received User change from Azure Active Directory","details":{}}],"modifiedProperties":[{"displayName":"accountEnabled","oldValue":null,"newValue":"True"}],"servicePrincipal":{"id":""#);
    put_guid(out, 42);
    out.put_slice(br#"","displayName":"Contoso"},"sourceSystem":{"id":""#);
    put_guid(out, 43);
    out.put_slice(br#"","displayName":"Azure Active Directory","details":{}},"targetSystem":{"id":""#);
    put_guid(out, 44);
    out.put_slice(br#"","displayName":"Contoso","details":{"ApplicationId":"f2764360-e0ec-5676-711e-cd6fc0d4dd61"}},"initiatedBy":{"id":"","displayName":"Azure AD Provisioning Service","initiatorType":"system"},"sourceIdentity":{"id":""#);
    put_guid(out, hash >> 36);
    out.put_slice(br#"","displayName":""#);
    out.put_slice(user.0.as_bytes());
    out.put_slice(br#"","identityType":"User","details":{}},"targetIdentity":{"id":""#);
    put_hex(out, hash, 16);
    out.put_slice(br#"","displayName":""#);
    out.put_slice(user.1.as_bytes());
    out.put_slice(br#"@contoso.com","identityType":"User","details":{}}"#);
}
