//! The configuration: every key checked, the endpoints it names, the per-application lags, the shared
//! budget, no secret in `Debug`.

use super::*;
use logcrawl_sim::google_workspace::{CLIENT_EMAIL, TEST_PRIVATE_KEY, service_account_key};

fn key_json(token_uri: &str) -> String {
    service_account_key(token_uri, TEST_PRIVATE_KEY)
}

/// A TOML basic string holding `text`.
fn quoted(text: &str) -> String {
    serde_json::Value::from(text).to_string()
}

fn build(extra: &str) -> Result<GoogleWorkspaceConnector, ConfigError> {
    let text = format!(
        "credentials = {}\nsubject = \"admin@example.com\"\n{extra}",
        quoted(&key_json("https://oauth2.googleapis.com/token"))
    );
    GoogleWorkspaceConnector::from_table(&text.parse().unwrap(), &BuildContext::new("google"))
}

fn names(connector: &GoogleWorkspaceConnector) -> Vec<String> {
    connector.streams().iter().map(|s| s.name().to_owned()).collect()
}

#[test]
fn applications_default_to_five_and_can_be_chosen() {
    assert_eq!(names(&build("").unwrap()), ["login", "admin", "drive", "token", "saml"]);
    assert_eq!(names(&build("applications = [\"calendar\", \"login\"]").unwrap()), ["calendar", "login"]);
}

#[test]
fn every_key_is_checked_and_named() {
    for (extra, key, says) in [
        ("applications = []", "applications", "at least one"),
        ("applications = [\"Login\"]", "applications", "is not a Reports API application"),
        ("applications = [\"drive\", \"drive\"]", "applications", "twice"),
        ("page_size = 0", "page_size", "not within 1..=1000"),
        ("page_size = 1001", "page_size", "not within 1..=1000"),
        ("initial_lookback = \"4321h\"", "initial_lookback", "Google Workspace keeps 180 days"),
        ("settle_lag = \"7h\"", "settle_lag", "at most 6h"),
        ("settle_lag = \"soon\"", "settle_lag", "invalid duration"),
        ("settle_lag = { calendar = \"1h\" }", "settle_lag", "not one of the applications"),
        ("settle_lag = { drive = \"9h\" }", "settle_lag", "drive: must be at most 6h"),
        ("window_step = \"500ms\"", "window_step", "1s to 24h"),
        ("base_url = \"ftp://admin\"", "base_url", "http(s)"),
        ("token_url = \"oauth2.googleapis.com\"", "token_url", "not a URL"),
        ("token_url = \"https://oauth2.googleapis.com/token?x=1\"", "token_url", "no query"),
        ("customer_id = \"C0 3\"", "customer_id", "not a customer ID"),
        ("credentials_file = \"/nonexistent.json\"", "credentials", "not both"),
        ("requests_per_second = 0", "requests_per_second", ""),
        ("scopes = []", "scopes", "unknown field"),
    ] {
        let err = build(extra).unwrap_err();
        assert_eq!(err.key(), key, "{extra}: {err}");
        assert!(err.to_string().contains(says), "{extra}: {err}");
    }
    let raw =
        |text: &str| GoogleWorkspaceConnector::from_table(&text.parse().unwrap(), &BuildContext::new("g")).unwrap_err();
    let credentials = quoted(&key_json("https://oauth2.googleapis.com/token"));
    for subject in ["admin", "", "a b@example.com", "admin@localhost"] {
        let err = raw(&format!("credentials = {credentials}\nsubject = \"{subject}\""));
        assert_eq!(err.key(), "subject", "{subject}: {err}");
    }
    assert_eq!(raw("subject = \"admin@example.com\"").key(), "credentials_file");
    assert_eq!(raw("credentials = \" \"\nsubject = \"admin@example.com\"").key(), "credentials");
    let missing = raw("credentials_file = \"/nonexistent/key.json\"\nsubject = \"admin@example.com\"");
    assert!(missing.key() == "credentials_file" && missing.to_string().contains("cannot read /nonexistent/key.json"));
    let not_a_key = raw("credentials = \"{\\\"type\\\": \\\"authorized_user\\\"}\"\nsubject = \"admin@example.com\"");
    assert_eq!(not_a_key.key(), "credentials");
    assert!(not_a_key.to_string().contains("not \"service_account\""), "{not_a_key}");
}

#[test]
fn key_files_are_read_and_their_errors_name_the_file_never_the_key() {
    let file = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(file.path(), key_json("https://oauth2.googleapis.com/token")).unwrap();
    let text = format!("credentials_file = \"{}\"\nsubject = \"admin@example.com\"", file.path().display());
    let connector = GoogleWorkspaceConnector::from_table(&text.parse().unwrap(), &BuildContext::new("g")).unwrap();
    assert_eq!(connector.auth().account().client_email(), CLIENT_EMAIL);
    let broken =
        key_json("https://oauth2.googleapis.com/token").replace("PRIVATE KEY-----\\n", "PRIVATE KEY-----\\nXX");
    std::fs::write(file.path(), &broken).unwrap();
    let err = GoogleWorkspaceConnector::from_table(&text.parse().unwrap(), &BuildContext::new("g")).unwrap_err();
    assert_eq!(err.key(), "credentials_file");
    assert!(err.to_string().contains(&file.path().display().to_string()), "{err}");
    assert!(!err.to_string().contains("MII"), "no key material in the error: {err}");
}

#[test]
fn the_token_url_is_the_override_then_the_files_then_googles() {
    let connector = build("").unwrap();
    assert_eq!(connector.auth().token_url().as_str(), "https://oauth2.googleapis.com/token");
    assert_eq!(
        build("token_url = \"http://127.0.0.1:9/token\"").unwrap().auth().token_url().as_str(),
        "http://127.0.0.1:9/token"
    );
    let text = format!(
        "credentials = {}\nsubject = \"admin@example.com\"",
        quoted(&key_json("https://oauth2.example.test/t"))
    );
    let from_file = GoogleWorkspaceConnector::from_table(&text.parse().unwrap(), &BuildContext::new("g")).unwrap();
    assert_eq!(from_file.auth().token_url().as_str(), "https://oauth2.example.test/t");
    let window = logcrawl_connector::Window {
        start: "2024-01-01T00:00:00Z".parse().unwrap(),
        end: "2024-01-01T01:00:00Z".parse().unwrap(),
    };
    let url = connector.activity_streams()[0].api().window_url(window);
    assert!(
        url.as_str().starts_with(
            "https://admin.googleapis.com/admin/reports/v1/activity/users/all/applications/login?startTime="
        )
    );
}

#[test]
fn each_application_has_its_settle_lag_and_overlap() {
    let lags = |connector: &GoogleWorkspaceConnector| -> Vec<(u64, u64)> {
        connector
            .activity_streams()
            .iter()
            .map(|s| (s.window_plan().settle_lag.as_secs(), s.window_plan().overlap.as_secs()))
            .collect()
    };
    let connector = build("applications = [\"admin\", \"drive\", \"calendar\"]").unwrap();
    assert_eq!(lags(&connector), [(600, 600), (3600, 3600), (7200, 7200)]);
    assert_eq!(connector.activity_streams()[0].window_plan().resolution, Duration::from_millis(1));
    let all = build("applications = [\"admin\", \"drive\"]\nsettle_lag = \"20m\"").unwrap();
    assert_eq!(lags(&all), [(1200, 1200), (1200, 1200)]);
    let each = build("applications = [\"admin\", \"drive\"]\nsettle_lag = { drive = \"2h\" }").unwrap();
    assert_eq!(lags(&each), [(600, 600), (7200, 7200)]);
}

#[test]
fn the_applications_share_one_budget_and_the_quota_classifier() {
    let connector = build("").unwrap();
    let clients: Vec<_> = connector.activity_streams().iter().map(|s| s.client().clone()).collect();
    assert!(clients.windows(2).all(|w| Arc::ptr_eq(w[0].budget(), w[1].budget())), "one budget for the account");
    assert_eq!(clients[0].budget().min_interval(), Some(DEFAULT_MIN_INTERVAL));
    assert!(clients[0].budget().key().contains(CLIENT_EMAIL));
    assert!(clients[0].config().rate_limited.is_some());
}

#[test]
fn debug_output_hides_the_key() {
    let (config, http): (GoogleWorkspaceConfig, HttpSettings) = ComponentTable::split(
        &format!("credentials = {}\nsubject = \"admin@example.com\"", quoted(&key_json("https://o/t")))
            .parse()
            .unwrap(),
        HTTP_DEFAULTS,
    )
    .unwrap();
    assert!(!format!("{config:?}").contains("PRIVATE"));
    let connector = GoogleWorkspaceConnector::new(config, &http, &BuildContext::new("g")).unwrap();
    assert!(!format!("{connector:?}").contains("PRIVATE") && !format!("{connector:?}").contains("MII"));
}
