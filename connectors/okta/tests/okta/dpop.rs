//! DPoP (`dpop = true`): the token request and every API call carry a proof, verified here the way an
//! authorization and a resource server verify it (RFC 9449): signature by the `jwk` in its header,
//! `htm`/`htu` of the request, a fresh `jti`, `ath` binding the token, and the nonce the server asked for.

use std::collections::HashSet;
use std::sync::{Arc, Mutex};

use aws_lc_rs::digest::{SHA256, digest};
use aws_lc_rs::signature::{ECDSA_P256_SHA256_FIXED, UnparsedPublicKey};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use logcrawl_core::BuildContext;
use logcrawl_okta::{OktaConfig, OktaConnector};
use serde_json::{Value, json};
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, Request, ResponseTemplate};

use super::oauth::{CLIENT_ID, PRIVATE_KEY, assertion_claims};
use super::{as_sent, crawl, events, fast_retries, logs_url, page, uuids};

/// A verified DPoP proof's header `jwk` and claims.
struct Proof {
    jwk: Value,
    claims: Value,
}

fn decode(part: &str) -> Value {
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(part).expect("base64url")).expect("JSON")
}

/// The request's DPoP proof, after checking its type, algorithm and signature (by its own `jwk`).
fn proof_of(req: &Request) -> Proof {
    let jwt = req.headers.get("dpop").expect("a DPoP header").to_str().unwrap();
    let parts: Vec<&str> = jwt.split('.').collect();
    assert_eq!(parts.len(), 3, "{jwt}");
    let header = decode(parts[0]);
    assert_eq!((header["typ"].as_str(), header["alg"].as_str()), (Some("dpop+jwt"), Some("ES256")), "{header}");
    let jwk = header["jwk"].clone();
    assert_eq!((jwk["kty"].as_str(), jwk["crv"].as_str()), (Some("EC"), Some("P-256")));
    assert!(jwk.get("d").is_none(), "the private key never leaves");
    let mut point = vec![4u8];
    for coordinate in ["x", "y"] {
        point.extend(URL_SAFE_NO_PAD.decode(jwk[coordinate].as_str().unwrap()).unwrap());
    }
    let signature = URL_SAFE_NO_PAD.decode(parts[2]).unwrap();
    UnparsedPublicKey::new(&ECDSA_P256_SHA256_FIXED, &point)
        .verify(format!("{}.{}", parts[0], parts[1]).as_bytes(), &signature)
        .expect("signed by the key in its jwk");
    Proof { jwk, claims: decode(parts[1]) }
}

/// What both servers saw: every proof's `jti` (each may be used once) and the key the tokens are bound to.
#[derive(Default)]
struct Seen {
    jtis: HashSet<String>,
    jwk: Option<Value>,
    assertions: HashSet<String>,
}

impl Seen {
    fn check(&mut self, proof: &Proof) {
        let jti = proof.claims["jti"].as_str().expect("jti").to_owned();
        assert!(self.jtis.insert(jti), "a DPoP jti was replayed");
        let iat = proof.claims["iat"].as_i64().expect("iat");
        assert!((iat - jiff::Timestamp::now().as_second()).abs() < 60);
        match &self.jwk {
            Some(jwk) => assert_eq!(jwk, &proof.jwk, "one key for the token request and every call"),
            None => self.jwk = Some(proof.jwk.clone()),
        }
    }
}

fn dpop_connector(server: &MockServer) -> OktaConnector {
    let config: OktaConfig = serde_json::from_value(json!({
        "base_url": server.uri(), "client_id": CLIENT_ID, "private_key": PRIVATE_KEY, "key_id": "test-kid-1",
        "dpop": true,
    }))
    .unwrap();
    OktaConnector::with_http(config, &BuildContext::new("okta-dpop"), fast_retries).unwrap()
}

#[tokio::test]
async fn dpop_binds_the_token_to_a_key_and_answers_both_servers_nonces() {
    let server = MockServer::start().await;
    let seen = Arc::new(Mutex::new(Seen::default()));
    let token_url = format!("{}/oauth2/v1/token", server.uri());
    let observed = seen.clone();
    Mock::given(method("POST"))
        .and(path("/oauth2/v1/token"))
        .respond_with(move |req: &Request| {
            let claims = assertion_claims(req, &token_url);
            let proof = proof_of(req);
            let mut seen = observed.lock().unwrap();
            assert!(seen.assertions.insert(claims.jti), "each attempt signs a new client assertion");
            seen.check(&proof);
            assert_eq!((proof.claims["htm"].as_str(), proof.claims["htu"].as_str()), (Some("POST"), Some(&*token_url)));
            assert!(proof.claims.get("ath").is_none(), "no token to bind yet");
            match proof.claims["nonce"].as_str() {
                None => ResponseTemplate::new(400).insert_header("dpop-nonce", "as-nonce-1").set_body_json(json!({
                    "error": "use_dpop_nonce",
                    "error_description": "Authorization server requires nonce in DPoP proof."
                })),
                Some(nonce) => {
                    assert_eq!(nonce, "as-nonce-1");
                    ResponseTemplate::new(200).set_body_json(json!({
                        "token_type": "DPoP", "expires_in": 3600, "access_token": "at-1", "scope": "okta.logs.read"
                    }))
                }
            }
        })
        .expect(2)
        .mount(&server)
        .await;
    let (base, observed) = (server.uri(), seen.clone());
    let logs = format!("{base}/api/v1/logs");
    let next = logs_url(&server, "limit=1000&after=tail");
    Mock::given(method("GET"))
        .and(path("/api/v1/logs"))
        .respond_with(move |req: &Request| {
            assert_eq!(req.headers["authorization"], "DPoP at-1", "a DPoP-bound token, not a Bearer one");
            let proof = proof_of(req);
            observed.lock().unwrap().check(&proof);
            assert_eq!((proof.claims["htm"].as_str(), proof.claims["htu"].as_str()), (Some("GET"), Some(&*logs)));
            let ath = URL_SAFE_NO_PAD.encode(digest(&SHA256, b"at-1").as_ref());
            assert_eq!(proof.claims["ath"].as_str(), Some(ath.as_str()), "the proof binds the token");
            match proof.claims["nonce"].as_str() {
                // The resource server asks for a nonce of its own once.
                None => ResponseTemplate::new(401)
                    .insert_header("www-authenticate", "DPoP error=\"use_dpop_nonce\", error_description=\"Resource server requires nonce in DPoP proof\"")
                    .insert_header("dpop-nonce", "rs-nonce-1"),
                Some(nonce) => {
                    assert_eq!(nonce, "rs-nonce-1", "the API's nonce, not the token endpoint's");
                    page(events(0, 3), &as_sent(&base, req), &next)
                }
            }
        })
        .expect(2)
        .mount(&server)
        .await;

    let connector = dpop_connector(&server);
    let (records, err) = crawl(&connector, None).await;
    assert!(err.is_none(), "{err:?}");
    assert_eq!(uuids(&records), ["u0", "u1", "u2"]);
    assert_eq!(connector.oauth().unwrap().token_fetches(), 1, "the nonce retry keeps the token");
    assert_eq!(seen.lock().unwrap().jtis.len(), 4, "four requests, four proofs");
    assert!(!format!("{connector:?}").contains("at-1"));
}

#[tokio::test]
async fn a_dpop_token_without_dpop_configured_says_to_set_it() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/oauth2/v1/token"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "token_type": "DPoP", "expires_in": 3600, "access_token": "at-1"
        })))
        .mount(&server)
        .await;
    let config: OktaConfig = serde_json::from_value(json!({
        "base_url": server.uri(), "client_id": CLIENT_ID, "private_key": PRIVATE_KEY, "key_id": "test-kid-1",
    }))
    .unwrap();
    let connector = OktaConnector::with_http(config, &BuildContext::new("okta-oauth"), fast_retries).unwrap();
    let (_, err) = crawl(&connector, None).await;
    let err = err.expect("refused");
    assert!(err.to_string().contains("dpop = true"), "{err}");
    let with_token: Result<OktaConfig, _> =
        serde_json::from_value(json!({"base_url": server.uri(), "token": "t", "dpop": true}));
    let err = OktaConnector::new(with_token.unwrap(), &BuildContext::new("s")).unwrap_err();
    assert_eq!(err.key(), "dpop");
}
