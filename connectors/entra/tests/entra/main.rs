//! Wiremock and simulator tests of the Entra connector: the token requests it sends (secret, certificate
//! assertions), the queries (window filters per log, `$top`, next links), what it delivers, and how
//! Graph's and the identity platform's refusals end a run, naming what to check and never a secret.

use std::time::Duration;

use logcrawl_core::{BuildContext, Cursor, StreamErrorKind};
use logcrawl_entra::EntraConnector;
use logcrawl_sim::entra::{CLIENT_ID, TENANT};
use logcrawl_testkit::{Drained, drain, fast_retries, header, query};
use serde_json::{Value, json};
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, Request, ResponseTemplate};

mod conformance;
mod crawl;
mod failures;
mod tokens;

/// The client secret of the wiremock tests (never to be seen in a log line or an error).
const SECRET: &str = "wire~SECRET~0123456789";
/// The access token the wiremock token endpoint issues (likewise).
const ACCESS: &str = "eyJ0eXAiOiJKV1QiLCJhbGciOi.ACCESS-TOKEN.sig";

/// A connector for Graph at `graph` and the identity platform at `login`: fast retries, a generous pace,
/// the client secret unless `extra` names a certificate file, and `extra` keys.
fn entra(graph: &str, login: &str, extra: &str) -> EntraConnector {
    let credential =
        if extra.contains("certificate_file") { String::new() } else { format!("client_secret = \"{SECRET}\"\n") };
    let text = format!(
        "tenant_id = \"{TENANT}\"\nclient_id = \"{CLIENT_ID}\"\n{credential}base_url = \"{graph}\"\nlogin_url = \"{login}\"\n\
         requests_per_second = 1000\n{extra}"
    );
    let (config, http) =
        logcrawl_core::config::ComponentTable::split(&text.parse().expect("TOML"), logcrawl_entra::HTTP_DEFAULTS)
            .expect("a valid configuration");
    EntraConnector::with_http(config, &http, &BuildContext::new("entra"), fast_retries).expect("a valid configuration")
}

async fn run(connector: &EntraConnector, stream: usize, cursor: Option<Cursor>) -> Drained {
    drain(connector.graph_streams()[stream].as_ref(), cursor).await
}

/// The token endpoint of `server`, issuing `ACCESS` for `expires_in` seconds to the secret.
async fn serve_tokens(server: &MockServer, expires_in: u64) {
    Mock::given(method("POST"))
        .and(path(format!("/{TENANT}/oauth2/v2.0/token")))
        .and(|request: &Request| form(request).get("client_secret").map(String::as_str) == Some(SECRET))
        .respond_with(token_answer(ACCESS, expires_in))
        .mount(server)
        .await;
}

fn token_answer(token: &str, expires_in: u64) -> ResponseTemplate {
    ResponseTemplate::new(200).set_body_json(
        json!({"token_type": "Bearer", "expires_in": expires_in, "ext_expires_in": expires_in, "access_token": token}),
    )
}

/// A form body's fields.
fn form(request: &Request) -> std::collections::HashMap<String, String> {
    url::form_urlencoded::parse(&request.body).into_owned().collect()
}

/// A page of Graph's list answer.
fn page(events: Vec<Value>, next: Option<String>) -> ResponseTemplate {
    ResponseTemplate::new(200).set_body_json(json!({
        "@odata.context": "https://graph.microsoft.com/v1.0/$metadata#auditLogs/signIns",
        "value": events,
        "@odata.nextLink": next,
    }))
}

/// A sign-in at `at` (RFC 3339).
fn sign_in(id: &str, at: &str) -> Value {
    json!({"id": id, "createdDateTime": at, "userDisplayName": "Megan Bowen", "userPrincipalName": "meganb@contoso.com",
           "userId": "5a1e2f3d", "appDisplayName": "Microsoft Teams", "ipAddress": "10.1.2.3",
           "status": {"errorCode": 0, "failureReason": null}})
}

/// An instant `secs` before now on Graph's ticks, and its literal.
fn ago(secs: i64) -> (jiff::Timestamp, String) {
    let at = jiff::Timestamp::now() - jiff::SignedDuration::from_secs(secs);
    let at = jiff::Timestamp::from_nanosecond(at.as_nanosecond() / 100 * 100).unwrap();
    (at, logcrawl_entra::literal(at))
}

#[tokio::test]
async fn windows_filter_each_log_on_its_property_and_follow_absolute_next_links() {
    let server = MockServer::start().await;
    serve_tokens(&server, 3599).await;
    let (_, t1) = ago(1800);
    let (_, t2) = ago(1700);
    let next = format!("{}/v1.0/auditLogs/signIns?$filter=x&$top=2&$skiptoken=abc", server.uri());
    Mock::given(method("GET"))
        .and(path("/v1.0/auditLogs/signIns"))
        .and(|request: &Request| !query(request).contains_key("$skiptoken"))
        .respond_with(page(vec![sign_in("b", &t2), sign_in("a", &t1)], Some(next)))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/v1.0/auditLogs/signIns"))
        .and(|request: &Request| query(request).get("$skiptoken").map(String::as_str) == Some("abc"))
        .respond_with(page(vec![], None))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/v1.0/auditLogs/provisioning"))
        .respond_with(page(vec![], None))
        .mount(&server)
        .await;

    let connector = entra(
        &server.uri(),
        &server.uri(),
        "page_size = 2\ninitial_lookback = \"1h\"\nstreams = [\"sign_ins\", \"provisioning\"]",
    );
    let drained = run(&connector, 0, None).await;
    assert!(drained.error.is_none(), "{:?}", drained.error);
    assert_eq!(drained.field("id"), ["b", "a"]);
    assert_eq!(drained.records[0].data["message"], "meganb@contoso.com signed in to Microsoft Teams");
    let last = drained.records.last().unwrap().cursor_value().expect("the window's end");
    assert!(last["overlap"].is_object(), "the default settle lag re-reads an overlap: {last}");
    assert!(run(&connector, 1, None).await.error.is_none());

    let requests = server.received_requests().await.unwrap();
    let graph: Vec<&Request> = requests.iter().filter(|r| r.method.as_str() == "GET").collect();
    for request in &graph {
        assert_eq!(header(request, "authorization"), Some(format!("Bearer {ACCESS}").as_str()));
    }
    let filter = |r: &Request| query(r).get("$filter").cloned().unwrap_or_default();
    let first = filter(graph[0]);
    assert!(first.starts_with("createdDateTime ge ") && first.contains(" and createdDateTime le "), "{first}");
    assert_eq!(query(graph[0]).get("$top").map(String::as_str), Some("2"));
    let provisioning = filter(graph.iter().find(|r| r.url.path().ends_with("provisioning")).unwrap());
    assert!(
        provisioning.starts_with("activityDateTime gt ") && provisioning.contains(" and activityDateTime lt "),
        "{provisioning}"
    );
    assert!(graph[0].url.query().unwrap().contains("%20ge%20"), "spaces as %20, never +: {}", graph[0].url);

    // One token for both streams, asked as the client-credentials grant for Graph's scope.
    let tokens: Vec<&Request> = requests.iter().filter(|r| r.method.as_str() == "POST").collect();
    assert_eq!(tokens.len(), 1, "the streams share the token");
    let fields = form(tokens[0]);
    assert_eq!(fields["grant_type"], "client_credentials");
    assert_eq!(fields["client_id"], CLIENT_ID);
    assert_eq!(fields["scope"], format!("{}/.default", server.uri()));
    assert_eq!(connector.credentials().token_fetches(), 1);
}

#[tokio::test]
async fn a_stored_window_cursor_resumes_there_and_an_unreadable_one_is_a_checkpoint_error() {
    let server = MockServer::start().await;
    serve_tokens(&server, 3599).await;
    Mock::given(method("GET")).respond_with(page(vec![], None)).mount(&server).await;
    let connector = entra(&server.uri(), &server.uri(), "settle_lag = \"0s\"\nwindow_step = \"24h\"");
    let (from, literal) = ago(600);
    let drained = run(&connector, 1, Some(json!({"until": from.to_string(), "v": 1}))).await;
    assert!(drained.error.is_none(), "{:?}", drained.error);
    let requests = server.received_requests().await.unwrap();
    let get = requests.iter().find(|r| r.method.as_str() == "GET").unwrap();
    assert!(query(get)["$filter"].starts_with(&format!("activityDateTime ge {literal} and ")), "{}", get.url);

    let drained = run(&connector, 1, Some(json!({"after": "x"}))).await;
    assert_eq!(drained.error.expect("unreadable").kind(), StreamErrorKind::Checkpoint);
}

#[tokio::test]
async fn an_empty_page_that_links_on_is_followed_to_the_windows_end() {
    let server = MockServer::start().await;
    serve_tokens(&server, 3599).await;
    let (_, at) = ago(900);
    let link = |token: &str| format!("{}/v1.0/auditLogs/signIns?$skiptoken={token}", server.uri());
    let pages = [
        (None, page(vec![], Some(link("1")))),
        (Some("1"), page(vec![], Some(link("2")))),
        (Some("2"), page(vec![sign_in("x", &at)], None)),
    ];
    for (token, answer) in pages {
        Mock::given(method("GET"))
            .and(path("/v1.0/auditLogs/signIns"))
            .and(move |request: &Request| query(request).get("$skiptoken").map(String::as_str) == token)
            .respond_with(answer)
            .expect(1)
            .mount(&server)
            .await;
    }
    let connector =
        entra(&server.uri(), &server.uri(), "settle_lag = \"0s\"\nwindow_step = \"24h\"\ninitial_lookback = \"1h\"");
    let drained = run(&connector, 0, None).await;
    assert!(drained.error.is_none(), "{:?}", drained.error);
    assert_eq!(drained.field("id"), ["x"]);
}

#[tokio::test]
async fn a_429_with_retry_after_is_waited_out_and_the_page_asked_again() {
    let server = MockServer::start().await;
    serve_tokens(&server, 3599).await;
    let (_, at) = ago(900);
    Mock::given(method("GET"))
        .respond_with(
            ResponseTemplate::new(429)
                .insert_header("retry-after", "1")
                .set_body_json(json!({"error": {"code": "TooManyRequests", "message": "Too many requests"}})),
        )
        .up_to_n_times(1)
        .with_priority(1)
        .mount(&server)
        .await;
    Mock::given(method("GET")).respond_with(page(vec![sign_in("x", &at)], None)).mount(&server).await;
    let connector =
        entra(&server.uri(), &server.uri(), "settle_lag = \"0s\"\nwindow_step = \"24h\"\ninitial_lookback = \"1h\"");
    let started = std::time::Instant::now();
    let drained = run(&connector, 0, None).await;
    assert!(drained.error.is_none(), "{:?}", drained.error);
    assert_eq!(drained.field("id"), ["x"]);
    assert!(started.elapsed() >= Duration::from_millis(950), "Retry-After waited out: {:?}", started.elapsed());

    // A wait beyond max_retry_wait ends the run, transient: the next interval tries again.
    let server = MockServer::start().await;
    serve_tokens(&server, 3599).await;
    Mock::given(method("GET"))
        .respond_with(ResponseTemplate::new(429).insert_header("retry-after", "3600"))
        .mount(&server)
        .await;
    let connector =
        entra(&server.uri(), &server.uri(), "max_retry_wait = \"10s\"\ninitial_lookback = \"1h\"\nsettle_lag = \"0s\"");
    let err = run(&connector, 0, None).await.error.expect("gave up");
    assert_eq!(err.kind(), StreamErrorKind::Transient, "{err}");
    assert!(err.to_string().contains("429") && err.to_string().contains("max_retry_wait"), "{err}");
}
