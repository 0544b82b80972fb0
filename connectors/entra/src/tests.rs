//! The configuration: every key checked, the endpoints it names, the shared budget.

use super::*;
use logcrawl_sim::entra::{OTHER_TEST_CERTIFICATE, TEST_CERTIFICATE};

const TENANT: &str = "72f988bf-86f1-41af-91ab-2d7cd011db47";
const CLIENT: &str = "8a5c7f43-9d0e-4b16-a2c1-5e3f8d7b6a90";

fn build(extra: &str) -> Result<EntraConnector, ConfigError> {
    let text = format!("tenant_id = \"{TENANT}\"\nclient_id = \"{CLIENT}\"\nclient_secret = \"s3cr3t~value\"\n{extra}");
    EntraConnector::from_table(&text.parse().unwrap(), &BuildContext::new("entra"))
}

fn build_raw(text: &str) -> Result<EntraConnector, ConfigError> {
    EntraConnector::from_table(&text.parse().unwrap(), &BuildContext::new("entra"))
}

fn names(connector: &EntraConnector) -> Vec<String> {
    connector.streams().iter().map(|s| s.name().to_owned()).collect()
}

fn pem_file(text: &str) -> tempfile::NamedTempFile {
    let file = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(file.path(), text).unwrap();
    file
}

#[test]
fn streams_default_to_all_three_and_can_be_chosen() {
    assert_eq!(names(&build("").unwrap()), ["sign_ins", "directory_audits", "provisioning"]);
    assert_eq!(names(&build("streams = [\"provisioning\", \"sign_ins\"]").unwrap()), ["provisioning", "sign_ins"]);
}

#[test]
fn every_key_is_checked_and_named() {
    for (extra, key, says) in [
        ("streams = []", "streams", "at least one"),
        ("streams = [\"signIns\"]", "streams", "\"signIns\" is not a stream"),
        ("streams = [\"sign_ins\", \"sign_ins\"]", "streams", "twice"),
        ("page_size = 0", "page_size", "not within 1..=1000"),
        ("page_size = 1001", "page_size", "not within 1..=1000"),
        ("initial_lookback = \"721h\"", "initial_lookback", "Microsoft Entra ID keeps 30 days"),
        ("initial_lookback = \"0s\"", "initial_lookback", "more than zero"),
        ("settle_lag = \"2h\"", "settle_lag", "at most 1h"),
        ("window_step = \"500ms\"", "window_step", "1s to 24h"),
        ("window_step = \"25h\"", "window_step", "1s to 24h"),
        ("base_url = \"ftp://graph\"", "base_url", "http(s)"),
        ("base_url = \"https://graph.microsoft.com/?x=1\"", "base_url", "query"),
        ("login_url = \"login.microsoftonline.com\"", "login_url", "not a URL"),
        ("login_url = \"https://login.microsoftonline.com/#f\"", "login_url", "fragment"),
        ("certificate_file = \"/nonexistent.pem\"", "certificate_file", "not both"),
        ("requests_per_second = 0", "requests_per_second", ""),
        ("tenant = \"x\"", "tenant", "unknown field"),
    ] {
        let err = build(extra).unwrap_err();
        assert_eq!(err.key(), key, "{extra}: {err}");
        assert!(err.to_string().contains(says), "{extra}: {err}");
    }
    let credentials = |tenant: &str, client: &str, credential: &str| {
        build_raw(&format!("tenant_id = \"{tenant}\"\nclient_id = \"{client}\"\n{credential}")).unwrap_err()
    };
    for (tenant, says) in [
        ("common", "names no tenant"),
        ("Organizations", "names no tenant"),
        ("", "not a directory"),
        ("contoso", "not a directory"),
        ("a b.com", "not a directory"),
    ] {
        let err = credentials(tenant, CLIENT, "client_secret = \"s\"");
        assert_eq!(err.key(), "tenant_id", "{tenant}");
        assert!(err.to_string().contains(says), "{tenant}: {err}");
    }
    assert!(
        build_raw(&format!("tenant_id = \"contoso.onmicrosoft.com\"\nclient_id = \"{CLIENT}\"\nclient_secret = \"s\""))
            .is_ok()
    );
    assert_eq!(credentials(TENANT, "my-app", "client_secret = \"s\"").key(), "client_id");
    assert_eq!(credentials(TENANT, CLIENT, "").key(), "client_secret");
    assert_eq!(credentials(TENANT, CLIENT, "client_secret = \" \"").key(), "client_secret");
    let missing = credentials(TENANT, CLIENT, "certificate_file = \"/nonexistent/app.pem\"");
    assert_eq!(missing.key(), "certificate_file");
    assert!(missing.to_string().contains("cannot read /nonexistent/app.pem"), "{missing}");
    let absent = build_raw(&format!("client_id = \"{CLIENT}\"\nclient_secret = \"s\"")).unwrap_err();
    assert!(absent.to_string().contains("tenant_id"), "{absent}");
}

#[test]
fn certificate_files_are_read_and_checked_at_startup() {
    let good = pem_file(TEST_CERTIFICATE);
    let table = |file: &tempfile::NamedTempFile| {
        format!("tenant_id = \"{TENANT}\"\nclient_id = \"{CLIENT}\"\ncertificate_file = \"{}\"", file.path().display())
    };
    let connector = build_raw(&table(&good)).unwrap();
    assert!(format!("{:?}", connector.credentials()).contains("certificate"));
    let key_start = OTHER_TEST_CERTIFICATE.find("-----BEGIN PRIVATE KEY").unwrap();
    let mismatched = pem_file(&format!(
        "{}{}",
        &TEST_CERTIFICATE[..TEST_CERTIFICATE.find("-----BEGIN PRIVATE KEY").unwrap()],
        &OTHER_TEST_CERTIFICATE[key_start..]
    ));
    let err = build_raw(&table(&mismatched)).unwrap_err();
    assert_eq!(err.key(), "certificate_file");
    assert!(
        err.to_string().contains("does not belong")
            && err.to_string().contains(&mismatched.path().display().to_string()),
        "{err}"
    );
    assert!(!err.to_string().contains("MII"), "no key material in the error: {err}");
}

#[test]
fn endpoints_follow_the_cloud_and_the_scope_is_graphs() {
    let global = build("").unwrap();
    let credentials = global.credentials();
    assert_eq!(
        credentials.token_url().as_str(),
        format!("https://login.microsoftonline.com/{TENANT}/oauth2/v2.0/token")
    );
    assert_eq!(credentials.scope(), "https://graph.microsoft.com/.default");
    let first = global.graph_streams()[0].api().window_url(logcrawl_connector::Window {
        start: "2024-01-01T00:00:00Z".parse().unwrap(),
        end: "2024-01-01T01:00:00Z".parse().unwrap(),
    });
    assert!(first.as_str().starts_with("https://graph.microsoft.com/v1.0/auditLogs/signIns?$filter="), "{first}");
    let us =
        build("base_url = \"https://graph.microsoft.us\"\nlogin_url = \"https://login.microsoftonline.us\"").unwrap();
    assert_eq!(
        us.credentials().token_url().as_str(),
        format!("https://login.microsoftonline.us/{TENANT}/oauth2/v2.0/token")
    );
    assert_eq!(us.credentials().scope(), "https://graph.microsoft.us/.default");
}

#[test]
fn the_streams_share_one_budget_paced_below_graphs_limit() {
    let connector = build("").unwrap();
    let budgets: Vec<_> = connector.graph_streams().iter().map(|s| s.client().budget().clone()).collect();
    assert!(budgets.windows(2).all(|w| Arc::ptr_eq(&w[0], &w[1])), "one budget for the tenant");
    assert_eq!(budgets[0].min_interval(), Some(DEFAULT_MIN_INTERVAL));
    assert!(10.0 / DEFAULT_MIN_INTERVAL.as_secs_f64() <= 5.0, "at most five requests per ten seconds");
    assert!(budgets[0].key().contains(TENANT) && budgets[0].key().contains(CLIENT));
    assert!(!budgets[0].key().contains("s3cr3t"));
    // Another app (budgets are shared process-wide by key: the first source of a key sets its pace).
    let other_app = "0b1c2d3e-4f50-6172-8394-a5b6c7d8e9f0";
    let fast = build_raw(&format!(
        "tenant_id = \"{TENANT}\"\nclient_id = \"{other_app}\"\nclient_secret = \"s\"\nrequests_per_second = 4"
    ))
    .unwrap();
    assert_eq!(fast.graph_streams()[0].client().budget().min_interval(), Some(Duration::from_millis(250)));
}

#[test]
fn debug_output_hides_the_secret() {
    let (config, http): (EntraConfig, HttpSettings) = ComponentTable::split(
        &format!("tenant_id = \"{TENANT}\"\nclient_id = \"{CLIENT}\"\nclient_secret = \"SECRETvalue\"")
            .parse()
            .unwrap(),
        HTTP_DEFAULTS,
    )
    .unwrap();
    assert!(!format!("{config:?}").contains("SECRET"));
    let connector = EntraConnector::new(config, &http, &BuildContext::new("e")).unwrap();
    assert!(!format!("{connector:?}").contains("SECRET"));
}
