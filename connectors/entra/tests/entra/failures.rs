//! How refusals end a run: fatal for credentials and permissions (saying what to check), transient for a
//! malformed page; and no secret in any error or log line.

use logcrawl_testkit::LogCapture;

use super::*;

async fn refused_token(server: &MockServer, status: u16, error: &str, code: u32) {
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(status).set_body_json(json!({
            "error": error,
            "error_description": format!("AADSTS{code}: refused. Trace ID: 1"),
            "error_codes": [code],
        })))
        .mount(server)
        .await;
}

#[tokio::test]
async fn a_rejected_credential_is_fatal_and_says_what_to_check() {
    for (status, error, code, says) in [
        (401, "invalid_client", 7000215, "client_secret must be a current secret's value"),
        (400, "unauthorized_client", 700016, "client_id must be the application (client) ID"),
        (400, "invalid_request", 90002, "check tenant_id"),
        (400, "invalid_scope", 1002012, "base_url names the resource"),
    ] {
        let server = MockServer::start().await;
        refused_token(&server, status, error, code).await;
        let connector = entra(&server.uri(), &server.uri(), "initial_lookback = \"1h\"");
        let err = run(&connector, 0, None).await.error.expect("refused");
        let text = err.to_string();
        assert_eq!(err.kind(), StreamErrorKind::Fatal, "{text}");
        assert!(text.contains(error) && text.contains(&format!("AADSTS{code}")) && text.contains(says), "{text}");
        assert!(!text.contains(SECRET), "{text}");
        let graph = server.received_requests().await.unwrap().iter().filter(|r| r.method.as_str() == "GET").count();
        assert_eq!(graph, 0, "nothing reaches Graph without a token");
    }
    // With a certificate, the advice points at the certificate.
    let server = MockServer::start().await;
    refused_token(&server, 401, "invalid_client", 700027).await;
    let file = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(file.path(), logcrawl_sim::entra::TEST_CERTIFICATE).unwrap();
    let connector = entra(&server.uri(), &server.uri(), &format!("certificate_file = \"{}\"", file.path().display()));
    let text = run(&connector, 0, None).await.error.expect("refused").to_string();
    assert!(text.contains("certificate of certificate_file must be uploaded"), "{text}");
}

#[tokio::test]
async fn graphs_403s_are_fatal_naming_the_stream_and_the_permission_or_licence() {
    let server = MockServer::start().await;
    serve_tokens(&server, 3599).await;
    let refusal = |code: &str, message: &str| {
        ResponseTemplate::new(403).set_body_json(json!({"error": {"code": code, "message": message, "innerError": {}}}))
    };
    Mock::given(path("/v1.0/auditLogs/signIns"))
        .respond_with(refusal(
            "Authentication_RequestFromNonPremiumTenantOrB2CTenant",
            "Neither tenant is B2C or tenant doesn't have premium license",
        ))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(path("/v1.0/auditLogs/directoryAudits"))
        .respond_with(refusal("Authorization_RequestDenied", "Insufficient privileges to complete the operation."))
        .expect(1)
        .mount(&server)
        .await;
    let connector = entra(&server.uri(), &server.uri(), "initial_lookback = \"1h\"");
    let licence = run(&connector, 0, None).await.error.expect("refused");
    assert_eq!(licence.kind(), StreamErrorKind::Fatal);
    let text = licence.to_string();
    assert!(
        text.contains("403") && text.contains("sign_ins stream needs a Microsoft Entra ID P1 or P2 licence"),
        "{text}"
    );
    let permission = run(&connector, 1, None).await.error.expect("refused");
    assert_eq!(permission.kind(), StreamErrorKind::Fatal);
    let text = permission.to_string();
    assert!(text.contains("directory_audits stream") && text.contains("AuditLog.Read.All"), "{text}");
}

#[tokio::test]
async fn a_malformed_page_is_transient_and_names_the_url() {
    for body in [
        r#"{"value": [{"id": "x""#,
        r#"{"error": "none"}"#,
        r#"{"value": [1]}"#,
        r#"{"value": [], "@odata.nextLink": "::"}"#,
    ] {
        let server = MockServer::start().await;
        serve_tokens(&server, 3599).await;
        Mock::given(method("GET"))
            .respond_with(
                ResponseTemplate::new(200).insert_header("content-type", "application/json").set_body_string(body),
            )
            .mount(&server)
            .await;
        let connector = entra(&server.uri(), &server.uri(), "initial_lookback = \"1h\"");
        let err = run(&connector, 0, None).await.error.expect("malformed");
        let text = err.to_string();
        assert_eq!(err.kind(), StreamErrorKind::Transient, "{body}: {text}");
        assert!(text.contains("malformed") && text.contains("/v1.0/auditLogs/signIns"), "{body}: {text}");
    }
}

#[tokio::test]
async fn no_secret_in_any_error_or_log_line() {
    let logs = LogCapture::start();
    let mut messages = Vec::new();
    let graph_answers = [
        ResponseTemplate::new(401).set_body_json(json!({"error": {"code": "InvalidAuthenticationToken"}})),
        ResponseTemplate::new(403).set_body_json(json!({"error": {"code": "Authorization_RequestDenied"}})),
        ResponseTemplate::new(429).insert_header("retry-after", "86400"),
        ResponseTemplate::new(503).insert_header("retry-after", "86400"),
        ResponseTemplate::new(200).set_body_string("{\"value\": ["),
    ];
    for answer in graph_answers {
        let server = MockServer::start().await;
        serve_tokens(&server, 3599).await;
        Mock::given(method("GET")).respond_with(answer).mount(&server).await;
        let connector = entra(&server.uri(), &server.uri(), "initial_lookback = \"1h\"");
        let err = run(&connector, 0, None).await.error.expect("failed");
        messages.extend([err.to_string(), format!("{err:?}"), format!("{connector:?}")]);
    }
    let server = MockServer::start().await;
    refused_token(&server, 401, "invalid_client", 7000215).await;
    let err = run(&entra(&server.uri(), &server.uri(), ""), 0, None).await.error.expect("refused");
    messages.extend([err.to_string(), format!("{err:?}")]);
    for message in &messages {
        assert!(!message.contains(SECRET) && !message.contains(ACCESS), "{message}");
    }
    assert!(!logs.lines().is_empty(), "the capture saw the runs");
    logs.assert_absent(SECRET);
    logs.assert_absent(ACCESS);
}
