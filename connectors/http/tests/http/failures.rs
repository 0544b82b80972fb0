//! A declared source's own rules: configuration errors keyed where they were written, run-time failures
//! (a template, a JSON path meeting an unexpected page) that name the source, the key and the page and
//! commit nothing past the last good record, and each credential sent as it should be.

use logcrawl_core::Connector;
use logcrawl_testkit::{body_bytes, drain, header, with_links};
use serde_json::json;
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

use super::{TOKEN, connector};

/// A minimal link-paginated source at `base`, with `extra` TOML lines appended to `[records]`'s table
/// and `request` lines in `[request]`.
fn source(base: &str, request: &str, auth: &str) -> String {
    format!(
        "base_url = \"{base}\"\npage_size = 2\n[request]\npath = \"/logs\"\n{request}\n[auth]\n{auth}\n\
         [pagination]\ntype = \"link\"\n[records]\npath = \"$.items[*]\"\nid = \"$.id\"\n"
    )
}

fn key_of(text: &str) -> String {
    connector(text).expect_err("a configuration error").key().to_owned()
}

#[test]
fn every_configuration_error_names_its_key() {
    let bearer = format!("type = \"bearer\"\ntoken = \"{TOKEN}\"");
    let good = source("https://api.example.com", "", &bearer);
    assert!(connector(&good).is_ok(), "the base configuration is valid");
    let cases = [
        (good.replace("id = \"$.id\"", "idd = \"$.id\""), "records.idd"),
        (good.replace("id = \"$.id\"", "id = \"$.id[\""), "records.id"),
        (good.replace("path = \"$.items[*]\"", "path = \"$.items\""), "records.path"),
        (good.replace("type = \"link\"", "type = \"offset\"\nparam = \"offset\""), "pagination.type"),
        (good.replace("type = \"link\"", "type = \"token\""), "pagination.token"),
        (good.replace("type = \"link\"", "type = \"link\"\nparam = \"p\""), "pagination.param"),
        (good.replace("path = \"/logs\"", "path = \"/logs/{{ vars.org\""), "request.path"),
        (good.replace("path = \"/logs\"", "path = \"/logs\"\nbody = { a = 1 }"), "request.body"),
        (
            good.replace("path = \"/logs\"", "path = \"/logs\"\nheaders = { Authorization = \"x\" }"),
            "request.headers.Authorization",
        ),
        (format!("{good}fields = {{ owner = \"$.o\" }}\n"), "records.fields.owner"),
        (format!("{good}order = \"newest_first\"\n"), "records.order"),
        (good.replace("base_url = \"https://api.example.com\"", "base_url = \"ftp://x\""), "base_url"),
        (good.replace(&bearer, "type = \"bearer\"\ntoken = \"\""), "auth.token"),
        (good.replace(&bearer, "type = \"magic\""), "auth.type"),
        (format!("{good}[window]\noverlap = \"5m\"\n").replace("id = \"$.id\"\n", ""), "window.overlap"),
    ];
    for (text, key) in cases {
        assert_eq!(key_of(&text), key, "{text}");
    }
}

#[tokio::test]
async fn a_template_that_fails_at_run_time_names_the_source_and_key_and_sends_nothing() {
    let server = MockServer::start().await;
    let text = source(&server.uri(), "query = { since = \"{{ vars.since }}\" }", "type = \"none\"");
    let connector = connector(&text).unwrap();
    let stream = &connector.streams()[0];
    let drained = drain(stream.as_ref(), None).await;
    let err = drained.error.expect("the run fails");
    assert!(err.is_fatal(), "a configuration that cannot render is fatal: {err}");
    let message = err.to_string();
    assert!(message.contains("source declared") && message.contains("`request.query.since`"), "{message}");
    assert!(server.received_requests().await.unwrap().is_empty(), "nothing is sent");
}

#[tokio::test]
async fn a_page_the_records_path_cannot_read_names_the_key_and_the_page_and_keeps_the_last_good_cursor() {
    let server = MockServer::start().await;
    let next = format!("{}/logs?after=2&api_key=hidden", server.uri());
    Mock::given(method("GET"))
        .and(path("/logs"))
        .and(wiremock::matchers::query_param("after", "2"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"items": {"not": "an array"}})))
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/logs"))
        .respond_with(with_links(
            ResponseTemplate::new(200).set_body_json(json!({"items": [{"id": "a"}, {"id": "b"}]})),
            &[("next", &next)],
        ))
        .mount(&server)
        .await;
    let connector = connector(&source(&server.uri(), "", "type = \"none\"")).unwrap();
    let stream = &connector.streams()[0];
    let drained = drain(stream.as_ref(), None).await;
    let ids: Vec<String> = drained
        .logs()
        .map(|r| {
            let raw: serde_json::Value = serde_json::from_slice(r.raw.as_ref().expect("the event").as_bytes()).unwrap();
            raw["id"].as_str().unwrap().to_owned()
        })
        .collect();
    assert_eq!(ids, ["a", "b"], "the good page is delivered");
    let message = drained.error.as_ref().expect("the bad page ends the run").to_string();
    assert!(message.contains("records.path") && message.contains("/logs?after=2"), "{message}");
    assert!(!message.contains("hidden"), "the page URL is redacted: {message}");
    // The last record resumes at the bad page, which is asked for again by the next run.
    let cursor = drained.last_cursor().expect("a cursor");
    assert_eq!(cursor["url"], next.as_str());
}

#[tokio::test]
async fn basic_and_header_credentials_are_sent_in_their_own_header_only() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"items": [{"id": "a"}]})))
        .mount(&server)
        .await;
    for (auth, name, value) in [
        (format!("type = \"basic\"\nusername = \"svc\"\npassword = \"{TOKEN}\""), "authorization", {
            use base64::Engine;
            format!("Basic {}", base64::engine::general_purpose::STANDARD.encode(format!("svc:{TOKEN}")))
        }),
        (format!("type = \"header\"\nname = \"X-API-Key\"\nvalue = \"{TOKEN}\""), "x-api-key", TOKEN.to_owned()),
        (
            format!("type = \"bearer\"\ntoken = \"{TOKEN}\"\nprefix = \"Token\""),
            "authorization",
            format!("Token {TOKEN}"),
        ),
    ] {
        let connector = connector(&source(&server.uri(), "", &auth)).unwrap();
        assert!(!format!("{connector:?}").contains(TOKEN), "Debug shows no secret");
        let drained = drain(connector.streams()[0].as_ref(), None).await;
        assert!(drained.error.is_none(), "{:?}", drained.error);
        let requests = server.received_requests().await.unwrap();
        let last = requests.last().unwrap();
        assert_eq!(header(last, name), Some(value.as_str()), "{auth}");
        assert!(!last.url.as_str().contains(TOKEN), "never in the URL");
        server.reset().await;
        Mock::given(method("GET"))
            .respond_with(ResponseTemplate::new(200).set_body_json(json!({"items": [{"id": "a"}]})))
            .mount(&server)
            .await;
    }
}

#[tokio::test]
async fn client_credentials_are_posted_as_a_form_to_the_token_endpoint_and_the_token_refetched_once_on_401() {
    let tokens = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/oauth2/token"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(json!({"access_token": "at-1", "token_type": "Bearer", "expires_in": 3600})),
        )
        .mount(&tokens)
        .await;
    let api = MockServer::start().await;
    Mock::given(method("GET"))
        .respond_with(ResponseTemplate::new(401).set_body_json(json!({"error": "expired"})))
        .mount(&api)
        .await;
    let auth = format!(
        "type = \"oauth2\"\ntoken_url = \"{}/oauth2/token\"\nclient_id = \"app\"\nclient_secret = \"{TOKEN}\"\nscopes = [\"logs.read\", \"audit\"]",
        tokens.uri()
    );
    let connector = connector(&source(&api.uri(), "", &auth)).unwrap();
    let drained = drain(connector.streams()[0].as_ref(), None).await;
    let err = drained.error.expect("a refused token ends the run");
    assert!(err.is_fatal(), "{err}");
    let token_requests = tokens.received_requests().await.unwrap();
    assert_eq!(token_requests.len(), 2, "fetched, then once more after the 401");
    let form = String::from_utf8(body_bytes(&token_requests[0])).unwrap();
    let pairs: std::collections::HashMap<String, String> =
        url::form_urlencoded::parse(form.as_bytes()).into_owned().collect();
    assert_eq!(pairs["grant_type"], "client_credentials");
    assert_eq!(pairs["client_id"], "app");
    assert_eq!(pairs["client_secret"], TOKEN);
    assert_eq!(pairs["scope"], "logs.read audit");
    assert_eq!(header(&token_requests[0], "content-type"), Some("application/x-www-form-urlencoded"));
    let api_requests = api.received_requests().await.unwrap();
    assert_eq!(api_requests.len(), 2);
    assert!(api_requests.iter().all(|r| header(r, "authorization") == Some("Bearer at-1")));
    assert!(!err.to_string().contains(TOKEN));
}

#[tokio::test]
async fn an_error_inside_a_200_stops_the_run_instead_of_committing_an_empty_window() {
    let sim = logcrawl_sim::slack::SlackSim::builder()
        .events(50)
        .token("the-right-token")
        .errors_with_200()
        .start()
        .await
        .unwrap();
    let declared = |error: &str| {
        format!(
            r#"base_url = "{}"
initial_lookback = "2h"
[request]
path = "/audit/v1/logs"
query = {{ oldest = "{{{{ window.start | unix }}}}", latest = "{{{{ window.last | unix }}}}" }}
[auth]
type = "bearer"
token = "a-revoked-token"
[pagination]
type = "token"
token = "$.response_metadata.next_cursor"
param = "cursor"
[records]
path = "$.entries[*]"
{error}
[window]
settle_lag = "0s"
"#,
            sim.base_url()
        )
    };
    let guarded = connector(&declared("error = \"$.error\"")).unwrap();
    let drained = drain(guarded.streams()[0].as_ref(), None).await;
    let err = drained.error.as_ref().expect("the refusal ends the run");
    assert!(err.is_fatal() && err.to_string().contains("invalid_auth"), "{err}");
    assert!(drained.last_cursor().is_none(), "no window is committed");
    // Without `records.error` the refusal reads as empty windows, committed: what the key prevents.
    let unguarded = connector(&declared("")).unwrap();
    let drained = drain(unguarded.streams()[0].as_ref(), None).await;
    assert!(drained.error.is_none() && drained.last_cursor().is_some());
}

#[tokio::test]
async fn a_budget_announced_in_the_apis_own_headers_is_respected() {
    let server = MockServer::start().await;
    let next = format!("{}/logs?after=2", server.uri());
    Mock::given(method("GET"))
        .and(wiremock::matchers::query_param("after", "2"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"items": [{"id": "c"}]})))
        .mount(&server)
        .await;
    // The first page spends the window: none left, the next one in 2 s (delta seconds).
    Mock::given(method("GET"))
        .respond_with(with_links(
            ResponseTemplate::new(200)
                .set_body_json(json!({"items": [{"id": "a"}, {"id": "b"}]}))
                .insert_header("RateLimit-Remaining", "0")
                .insert_header("RateLimit-Reset", "2"),
            &[("next", &next)],
        ))
        .mount(&server)
        .await;
    let keys = "[rate_limit]\nremaining = \"RateLimit-Remaining\"\nreset = \"RateLimit-Reset\"\nreset_format = \"delta_seconds\"\nmargin = 0\n";
    let text = format!("{}{keys}", source(&server.uri(), "", "type = \"none\""))
        .replace("base_url", "requests_per_second = 1000\nbase_url");
    let connector = connector(&text).unwrap();
    let started = std::time::Instant::now();
    let drained = drain(connector.streams()[0].as_ref(), None).await;
    assert!(drained.error.is_none(), "{:?}", drained.error);
    assert_eq!(drained.logs().count(), 3);
    assert!(
        started.elapsed() >= std::time::Duration::from_millis(1_500),
        "the next page waited for the reset: {:?}",
        started.elapsed()
    );
    assert_eq!(
        key_of(&format!("{}[rate_limit]\nremaining = \"bad name\"\n", source(&server.uri(), "", "type = \"none\""))),
        "rate_limit.remaining"
    );
}

#[tokio::test]
async fn a_query_parameter_key_is_sent_but_never_linked_logged_or_stored() {
    let server = MockServer::start().await;
    // The API echoes the key in its next link, as some do.
    let next = format!("{}/logs?after=2&api_token={TOKEN}", server.uri());
    Mock::given(method("GET"))
        .and(wiremock::matchers::query_param("after", "2"))
        .respond_with(ResponseTemplate::new(500).set_body_string("down"))
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .respond_with(with_links(
            ResponseTemplate::new(200).set_body_json(json!({"items": [{"id": "a"}, {"id": "b"}]})),
            &[("next", &next)],
        ))
        .mount(&server)
        .await;
    let auth = format!("type = \"query\"\nname = \"api_token\"\nvalue = \"{TOKEN}\"");
    let connector = connector(&source(&server.uri(), "", &auth)).unwrap();
    assert!(!format!("{connector:?}").contains(TOKEN));
    let logs = logcrawl_testkit::LogCapture::start();
    let drained = drain(connector.streams()[0].as_ref(), None).await;
    let err = drained.error.as_ref().expect("the second page fails");
    assert!(!err.to_string().contains(TOKEN), "{err}");
    let requests = server.received_requests().await.unwrap();
    assert!(requests.len() >= 2);
    for request in &requests {
        let keys: Vec<(String, String)> = request.url.query_pairs().into_owned().collect();
        assert_eq!(
            keys.iter().filter(|(k, v)| k == "api_token" && v == TOKEN).count(),
            1,
            "sent once: {}",
            request.url
        );
        assert!(header(request, "authorization").is_none());
    }
    let cursor = drained.last_cursor().expect("a cursor").to_string();
    assert!(!cursor.contains(TOKEN) && cursor.contains("after=2"), "{cursor}");
    assert!(logs.lines().iter().all(|line| !line.text.contains(TOKEN)), "a log line holds the key");
    assert_eq!(key_of(&source(&server.uri(), "query = { api_token = \"x\" }", &auth)), "request.query.api_token");
}

#[tokio::test]
async fn a_split_makes_a_record_of_each_element_keeping_the_parent_and_resumes_between_them() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"items": [
            {"id": "a", "actor": "mona", "events": [{"name": "login"}, {"name": "logout"}]},
            {"id": "b", "actor": "hubot", "events": []},
        ]})))
        .mount(&server)
        .await;
    let text = format!(
        "{}split = \"$.events\"\nfields = {{ \"evt.name\" = \"$.events.name\", \"usr.name\" = \"$.actor\" }}\n",
        source(&server.uri(), "", "type = \"none\"")
    )
    .replace("page_size = 2", "page_size = 10");
    let connector = connector(&text).unwrap();
    let drained = drain(connector.streams()[0].as_ref(), None).await;
    assert!(drained.error.is_none(), "{:?}", drained.error);
    let records: Vec<serde_json::Value> = drained
        .logs()
        .map(|r| {
            let mut raw: serde_json::Value = serde_json::from_slice(r.raw.as_ref().unwrap().as_bytes()).unwrap();
            for (k, v) in &r.data {
                raw[k] = v.clone();
            }
            raw
        })
        .collect();
    assert_eq!(records.len(), 3, "two parts of a, b kept whole");
    assert_eq!(records[0]["events"], json!({"name": "login"}));
    assert_eq!(records[1]["events"], json!({"name": "logout"}));
    assert_eq!(
        (records[0]["evt"]["name"].as_str(), records[1]["evt"]["name"].as_str()),
        (Some("login"), Some("logout"))
    );
    assert_eq!(records[1]["actor"], "mona", "the parent's members are kept");
    assert_eq!(records[2]["events"], json!([]), "an empty array keeps its parent");
    // Resumed after the first part: the second part and b, nothing again.
    let after_first = drained.logs().next().unwrap().cursor_value().expect("an exact cursor");
    let resumed = drain(connector.streams()[0].as_ref(), Some(after_first)).await;
    let names: Vec<String> =
        resumed.logs().map(|r| r.data.get("evt").and_then(|e| e["name"].as_str()).unwrap_or("-").to_owned()).collect();
    assert_eq!(names, ["logout", "-"]);
    assert_eq!(
        key_of(&format!("{}split = \"$.events[*]\"\n", source(&server.uri(), "", "type = \"none\""))),
        "records.split"
    );
}

#[tokio::test]
async fn private_key_jwt_signs_a_fresh_assertion_for_every_token_request_attempt() {
    use base64::Engine;
    let tokens = MockServer::start().await;
    // The first attempt is lost (a 503): the retry must carry a new assertion, not replay the first.
    Mock::given(method("POST")).respond_with(ResponseTemplate::new(503)).up_to_n_times(1).mount(&tokens).await;
    Mock::given(method("POST"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(json!({"access_token": "at-2", "token_type": "Bearer", "expires_in": 600})),
        )
        .mount(&tokens)
        .await;
    let api = MockServer::start().await;
    Mock::given(method("GET"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"items": [{"id": "a"}]})))
        .mount(&api)
        .await;
    let key = concat!(env!("CARGO_MANIFEST_DIR"), "/../../crates/http/fixtures/jwt-test-only.pem");
    let token_url = format!("{}/oauth2/v1/token", tokens.uri());
    let auth = format!(
        "type = \"oauth2\"\ntoken_url = \"{token_url}\"\nclient_id = \"0oa-app\"\nprivate_key_file = \"{key}\"\nkey_id = \"k1\"\nscopes = [\"okta.logs.read\"]"
    );
    let connector = connector(&source(&api.uri(), "", &auth)).unwrap();
    let drained = drain(connector.streams()[0].as_ref(), None).await;
    assert!(drained.error.is_none(), "{:?}", drained.error);
    assert_eq!(header(&api.received_requests().await.unwrap()[0], "authorization"), Some("Bearer at-2"));
    let attempts = tokens.received_requests().await.unwrap();
    assert_eq!(attempts.len(), 2);
    let jwt_parts = |request: &wiremock::Request| -> (serde_json::Value, serde_json::Value) {
        let form: std::collections::HashMap<String, String> =
            url::form_urlencoded::parse(&request.body).into_owned().collect();
        assert_eq!(form["client_assertion_type"], "urn:ietf:params:oauth:client-assertion-type:jwt-bearer");
        assert!(!form.contains_key("client_secret"));
        let decode = |part: &str| -> serde_json::Value {
            serde_json::from_slice(&base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(part).unwrap()).unwrap()
        };
        let parts: Vec<&str> = form["client_assertion"].split('.').collect();
        (decode(parts[0]), decode(parts[1]))
    };
    let (header0, claims0) = jwt_parts(&attempts[0]);
    let (_, claims1) = jwt_parts(&attempts[1]);
    assert_eq!((header0["alg"].as_str(), header0["kid"].as_str()), (Some("RS256"), Some("k1")));
    assert_eq!((claims0["iss"].as_str(), claims0["sub"].as_str()), (Some("0oa-app"), Some("0oa-app")));
    assert_eq!(claims0["aud"], token_url.as_str());
    assert_ne!(claims0["jti"], claims1["jti"], "a new assertion per attempt");
    let missing = format!("type = \"oauth2\"\ntoken_url = \"{token_url}\"\nclient_id = \"x\"");
    assert_eq!(key_of(&source(&api.uri(), "", &missing)), "auth.client_secret");
    let unreadable = format!(
        "type = \"oauth2\"\ntoken_url = \"{token_url}\"\nclient_id = \"x\"\nprivate_key_file = \"/nonexistent.pem\""
    );
    assert_eq!(key_of(&source(&api.uri(), "", &unreadable)), "auth.private_key_file");
}

#[tokio::test]
async fn a_token_equal_to_the_one_sent_is_caught_up_not_a_loop() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(wiremock::matchers::query_param("cursor", "t1"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"items": [], "next": "t1"})))
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .respond_with(
            ResponseTemplate::new(200).set_body_json(json!({"items": [{"id": "a"}, {"id": "b"}], "next": "t1"})),
        )
        .mount(&server)
        .await;
    let text = source(&server.uri(), "", "type = \"none\"")
        .replace("type = \"link\"", "type = \"token\"\ntoken = \"$.next\"\nparam = \"cursor\"\nstop = []");
    let connector = connector(&text).unwrap();
    let drained = drain(connector.streams()[0].as_ref(), None).await;
    assert!(drained.error.is_none(), "{:?}", drained.error);
    assert_eq!(drained.logs().count(), 2);
    assert_eq!(server.received_requests().await.unwrap().len(), 2, "the repeated token ends the chain");
    let cursor = drained.last_cursor().expect("a cursor");
    assert!(cursor["url"].as_str().unwrap().contains("cursor=t1"), "the next run polls the token: {cursor}");
}
