//! Configuration and record mapping.

use logcrawl_core::{BuildContext, LogRecord, RawEvent};
use logcrawl_http::Url;
use serde_json::json;

use super::*;
use crate::event::{strip_port, to_record};

const TENANT: &str = "72f988bf-86f1-41af-91ab-2d7cd011db47";
const CLIENT: &str = "8a5c7f43-9d0e-4b16-a2c1-5e3f8d7b6a90";

fn build(extra: &str) -> Result<Office365Connector, ConfigError> {
    let text = format!("tenant_id = \"{TENANT}\"\nclient_id = \"{CLIENT}\"\nclient_secret = \"s\"\n{extra}");
    Office365Connector::from_table(&text.parse().expect("TOML"), &BuildContext::new("o365"))
}

fn refused(extra: &str) -> String {
    build(extra).expect_err("refused").to_string()
}

#[test]
fn defaults_give_five_streams_sharing_one_budget_and_one_token() {
    let connector = build("").unwrap();
    let names: Vec<&str> = connector.feed_streams().iter().map(|s| s.name()).collect();
    assert_eq!(names, ["Audit.AzureActiveDirectory", "Audit.Exchange", "Audit.SharePoint", "Audit.General", "DLP.All"]);
    let budgets: Vec<_> = connector.feed_streams().iter().map(|s| s.client().budget().clone()).collect();
    assert!(budgets.windows(2).all(|pair| Arc::ptr_eq(&pair[0], &pair[1])), "one budget for the tenant");
    assert_eq!(budgets[0].min_interval(), Some(DEFAULT_MIN_INTERVAL));
    assert_eq!(connector.credentials().scope(), "https://manage.office.com/.default");
    assert_eq!(
        connector.credentials().token_url().as_str(),
        format!("https://login.microsoftonline.com/{TENANT}/oauth2/v2.0/token")
    );
    let plan = connector.feed_streams()[0].plan();
    assert_eq!((plan.step, plan.settle_lag, plan.overlap), (DEFAULT_WINDOW_STEP, DEFAULT_SETTLE_LAG, DEFAULT_OVERLAP));
}

#[test]
fn bad_keys_are_refused_naming_the_key() {
    assert!(refused("content_types = [\"Audit.Teams\"]").contains("content_types"));
    assert!(refused("content_types = []").contains("content_types"));
    assert!(refused("content_types = [\"DLP.All\", \"dlp.all\"]").contains("twice"));
    assert!(refused("publisher_id = \"me\"").contains("publisher_id"));
    assert!(refused("window_step = \"20h\"\noverlap = \"5h\"").contains("overlap"));
    assert!(refused("window_step = \"25h\"").contains("window_step"));
    assert!(refused("settle_lag = \"13h\"").contains("settle_lag"));
    assert!(refused("initial_lookback = \"200h\"").contains("initial_lookback"));
    assert!(refused("base_url = \"ftp://x\"").contains("base_url"));
    assert!(refused("login_url = \"nope\"").contains("login_url"));
    assert!(refused("page_size = 3").contains("page_size"), "unknown keys are errors");
    let text = format!("tenant_id = \"contoso.onmicrosoft.com\"\nclient_id = \"{CLIENT}\"\nclient_secret = \"s\"");
    let err = Office365Connector::from_table(&text.parse().unwrap(), &BuildContext::new("o365")).unwrap_err();
    assert!(err.to_string().contains("tenant_id") && err.to_string().contains("GUID"), "{err}");
    let text = format!("tenant_id = \"{TENANT}\"\nclient_id = \"{CLIENT}\"");
    let err = Office365Connector::from_table(&text.parse().unwrap(), &BuildContext::new("o365")).unwrap_err();
    assert!(err.to_string().contains("client_secret"), "{err}");
}

#[test]
fn the_publisher_defaults_to_the_tenant_and_is_sent_on_every_request() {
    let connector = build("content_types = [\"Audit.General\"]").unwrap();
    let start = jiff::Timestamp::UNIX_EPOCH;
    let url = connector.feed_streams()[0].api().listing(start, start).url;
    assert!(url.as_str().ends_with(&format!("PublisherIdentifier={TENANT}")), "{url}");
    let other = "11111111-2222-3333-4444-555555555555";
    let connector = build(&format!("publisher_id = \"{other}\"")).unwrap();
    let url = connector.feed_streams()[0].api().follow(Url::parse("https://manage.office.com/x?a=1").unwrap()).url;
    assert_eq!(url.query(), Some(format!("a=1&PublisherIdentifier={other}").as_str()));
}

fn record(value: serde_json::Value) -> LogRecord {
    let text = value.to_string();
    to_record(RawEvent::from(serde_json::value::RawValue::from_string(text).unwrap())).unwrap()
}

#[test]
fn records_keep_the_vendor_json_and_add_the_standard_attributes() {
    let rec = record(json!({
        "Id": "80c76bd2-9d81-4c57-a97a-accfc3443dca", "CreationTime": "2015-06-29T20:03:19",
        "Operation": "FileAccessed", "UserId": "alice@contoso.com", "ObjectId": "https://contoso.sharepoint.com/a.docx",
        "Workload": "SharePoint", "ResultStatus": "Failed", "ClientIP": "203.0.113.7:51234", "RecordType": 6
    }));
    assert_eq!(rec.data["id"], "80c76bd2-9d81-4c57-a97a-accfc3443dca");
    assert_eq!(
        rec.data["message"],
        "SharePoint: alice@contoso.com FileAccessed https://contoso.sharepoint.com/a.docx (Failed)"
    );
    assert_eq!(rec.data["timestamp"], json!(1_435_608_199.0));
    assert_eq!(rec.data["status"], "warning");
    assert_eq!(rec.data["usr"], json!({"id": "alice@contoso.com", "email": "alice@contoso.com"}));
    assert_eq!(rec.data["network"], json!({"client": {"ip": "203.0.113.7"}}));
    assert_eq!(rec.data["evt"], json!({"name": "FileAccessed", "outcome": "failure"}));
    assert!(rec.raw.is_some(), "the vendor's record is kept");

    let aad = record(json!({"Id": "x", "CreationTime": "2015-06-29T20:03:19Z", "Operation": "UserLoggedIn",
        "UserId": "Not Available", "ResultStatus": "Succeeded", "ActorIpAddress": "2001:db8::1"}));
    assert_eq!(aad.data["status"], "info");
    assert_eq!(aad.data["network"], json!({"client": {"ip": "2001:db8::1"}}));
    assert!(aad.data["usr"].get("email").is_none());
    let bare = record(json!({}));
    assert_eq!(bare.data["message"], "Office 365 audit record");
    assert!(to_record(RawEvent::from(serde_json::value::RawValue::from_string("[1]".into()).unwrap())).is_err());
}

#[test]
fn ports_come_off_addresses() {
    assert_eq!(strip_port("1.2.3.4:80"), "1.2.3.4");
    assert_eq!(strip_port("[2001:db8::1]:443"), "2001:db8::1");
    assert_eq!(strip_port("2001:db8::1"), "2001:db8::1");
    assert_eq!(strip_port(" 1.2.3.4 "), "1.2.3.4");
}

proptest::proptest! {
    /// Whatever a blob's record holds, mapping it answers (no panic): a record for an object, an error otherwise.
    #[test]
    fn any_json_maps_or_is_refused(text in "\\{(\"(Id|CreationTime|UserId|ClientIP|ResultStatus|Operation|usr|network)\": (\"[a-zA-Z0-9 :.@-]{0,12}\"|[1-9][0-9]{0,3}|null|\\{\\}|\\[\\]), ){0,6}\"k\": 1\\}") {
        let raw = RawEvent::from(serde_json::value::RawValue::from_string(text).unwrap());
        let record = to_record(raw).unwrap();
        proptest::prop_assert!(record.data.contains_key("message"));
    }
}
