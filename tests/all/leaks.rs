//! SPEC §9, when a token leaks: GitHub's secret scanning partner protocol against keys this
//! test makes and serves, the public report endpoint, revoke all, change password.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::common::*;
use axum::body::Body;
use axum::http::{header, Request, StatusCode};
use base64::Engine;
use p256::ecdsa::signature::Signer;
use p256::ecdsa::{Signature, SigningKey};
use p256::pkcs8::{EncodePublicKey, LineEnding};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use speckle_tokens::server::auth::scanning_keys::ScanningKeys;

const WHO: &str = "{ activeUser { name } }";

/// A key list served from a local listener, as GitHub serves its own.
struct KeyServer {
    /// Each key with its id and whether GitHub still signs with it (`is_current`).
    list: Arc<Mutex<Vec<(String, SigningKey, bool)>>>,
    url: String,
}

impl KeyServer {
    async fn start(keys: &[(&str, &SigningKey)]) -> KeyServer {
        let list = Arc::new(Mutex::new(
            keys.iter().map(|(id, key)| (id.to_string(), (*key).clone(), true)).collect::<Vec<_>>(),
        ));
        let served = list.clone();
        let app = axum::Router::new().route(
            "/keys",
            axum::routing::get(move || {
                let served = served.clone();
                async move {
                    let keys: Vec<Value> = served
                        .lock()
                        .unwrap()
                        .iter()
                        .map(|(id, key, current)| {
                            let pem = key.verifying_key().to_public_key_pem(LineEnding::LF).unwrap();
                            json!({ "key_identifier": id, "key": pem, "is_current": current })
                        })
                        .collect();
                    axum::Json(json!({ "public_keys": keys }))
                }
            }),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/keys", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await });
        KeyServer { list, url }
    }

    fn add(&self, id: &str, key: &SigningKey) {
        self.list.lock().unwrap().push((id.to_owned(), key.clone(), true));
    }

    /// GitHub no longer signs with this key.
    fn retire(&self, id: &str) {
        for (known, _, current) in self.list.lock().unwrap().iter_mut() {
            if known == id {
                *current = false;
            }
        }
    }
}

fn new_key() -> SigningKey {
    SigningKey::random(&mut rand::rngs::OsRng)
}

/// The app, fetching its keys from `server` (refetching at most once a minute).
async fn app_with_keys(server: &KeyServer) -> (TestApp, Arc<ScanningKeys>) {
    let keys = Arc::new(ScanningKeys::new(&server.url));
    let shared = keys.clone();
    (TestApp::with_state(move |state| state.with_scanning_keys(shared)).await, keys)
}

/// POSTs a batch signed by `key` under `key_id`; `tamper` changes the body after signing.
async fn post_batch(app: &TestApp, body: &str, key_id: &str, key: &SigningKey, tamper: bool) -> TestResponse {
    let signature: Signature = key.sign(body.as_bytes());
    let signature = base64::engine::general_purpose::STANDARD.encode(signature.to_der().as_bytes());
    let sent = if tamper { body.replacen("github.com", "gitlab.com", 1) } else { body.to_owned() };
    let request = Request::post("/api/secret-scanning/verify")
        .header(header::CONTENT_TYPE, "application/json")
        .header("Github-Public-Key-Identifier", key_id)
        .header("Github-Public-Key-Signature", signature)
        .body(Body::from(sent))
        .unwrap();
    app.send(from_client(request, DEFAULT_CLIENT)).await
}

fn batch(tokens: &[&str]) -> String {
    let entries: Vec<Value> = tokens
        .iter()
        .map(|token| {
            json!({
                "token": token,
                "type": "speckle_personal_access_token",
                "url": "https://github.com/octocat/leaky/blob/main/deploy.sh",
                "source": "content",
            })
        })
        .collect();
    Value::from(entries).to_string()
}

async fn works(app: &TestApp, secret: &str) -> bool {
    match app.graphql(secret, WHO).await.status {
        StatusCode::OK => true,
        StatusCode::UNAUTHORIZED => false,
        other => panic!("{other}"),
    }
}

#[tokio::test]
async fn a_correctly_signed_alert_revokes_the_token_and_tells_its_owner() {
    let key = new_key();
    let keys = KeyServer::start(&[("k1", &key)]).await;
    let (app, _) = app_with_keys(&keys).await;
    let mut alice = TestUser::sign_up(&app, "Alice").await;
    let leaked = alice.browser.create_token("Deploy script", &["profile:read"], "30").await.1;
    let bystander = alice.token(&["profile:read"]).await;
    let stranger = "not_even_close";

    let response = post_batch(&app, &batch(&[&leaked, stranger]), "k1", &key, false).await;
    assert_eq!(response.status, StatusCode::OK, "{}", response.body);
    let labels = response.json();
    assert_eq!(labels[0]["token_hash"], hex::encode(Sha256::digest(leaked.as_bytes())));
    assert_eq!(labels[0]["token_type"], "speckle_personal_access_token");
    assert_eq!(labels[0]["label"], "true_positive");
    assert_eq!(labels[1]["label"], "false_positive");
    assert!(!works(&app, &leaked).await, "dead on the next call");
    assert!(works(&app, &bystander).await);

    // Alice learns of it: an alert until dismissed, the event in the activity.
    let alerts = alice.browser.call("leak_alerts", &[]).await.json();
    assert_eq!(alerts[0]["token_name"], "Deploy script", "{alerts}");
    assert!(alerts[0]["how"].as_str().unwrap().contains("https://github.com/octocat/leaky"), "{alerts}");
    let page = alice.browser.get("/profile").await.body;
    assert!(page.contains(r#"role="alert""#) && page.contains("Deploy script"), "the notice on /profile");
    let log = alice.browser.call("security_log", &[]).await.json().to_string();
    assert!(log.contains("found in public at https://github.com/octocat/leaky"), "{log}");
    let id = alerts[0]["id"].as_str().unwrap().to_owned();
    assert_eq!(alice.browser.call("dismiss_alert", &[("id", &id)]).await.status, StatusCode::OK);
    assert_eq!(alice.browser.call("leak_alerts", &[]).await.json(), json!([]));
    // The same alert again: still ours, nothing more to revoke.
    let again = post_batch(&app, &batch(&[&leaked]), "k1", &key, false).await;
    assert_eq!(again.json()[0]["label"], "true_positive");
}

#[tokio::test]
async fn a_bad_signature_revokes_nothing() {
    let key = new_key();
    let keys = KeyServer::start(&[("k1", &key)]).await;
    let (app, _) = app_with_keys(&keys).await;
    let mut alice = TestUser::sign_up(&app, "Alice").await;
    let token = alice.token(&["profile:read"]).await;
    let body = batch(&[&token]);
    let forger = new_key();
    for (what, response) in [
        ("signed by another key", post_batch(&app, &body, "k1", &forger, false).await),
        ("an unknown key id", post_batch(&app, &body, "k9", &key, false).await),
        ("changed after signing", post_batch(&app, &body, "k1", &key, true).await),
    ] {
        assert_eq!(response.status, StatusCode::UNAUTHORIZED, "{what}: {}", response.body);
    }
    let unsigned = Request::post("/api/secret-scanning/verify")
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::from(body.clone()))
        .unwrap();
    assert_eq!(app.send(from_client(unsigned, DEFAULT_CLIENT)).await.status, StatusCode::UNAUTHORIZED);
    let garbage = Request::post("/api/secret-scanning/verify")
        .header("Github-Public-Key-Identifier", "k1")
        .header("Github-Public-Key-Signature", "not base64 at all!")
        .body(Body::from(body))
        .unwrap();
    assert_eq!(app.send(from_client(garbage, DEFAULT_CLIENT)).await.status, StatusCode::UNAUTHORIZED);
    assert!(works(&app, &token).await, "nothing revoked");
}

#[tokio::test]
async fn an_unknown_key_id_refetches_the_list_at_most_once_per_interval() {
    let first = new_key();
    let keys = KeyServer::start(&[("k1", &first)]).await;
    let (app, fetched) = app_with_keys(&keys).await;
    let mut alice = TestUser::sign_up(&app, "Alice").await;
    let body = batch(&["spk_nothing"]);
    assert_eq!(post_batch(&app, &body, "k1", &first, false).await.status, StatusCode::OK);
    assert_eq!(fetched.fetches(), 1);

    // GitHub rotates its key: the new id is unknown here until the list is fetched again.
    let second = new_key();
    keys.add("k2", &second);
    let early = post_batch(&app, &body, "k2", &second, false).await;
    assert_eq!(early.status, StatusCode::UNAUTHORIZED, "within the interval: no refetch");
    assert_eq!(fetched.fetches(), 1);
    app.advance(Duration::from_secs(61));
    let token = alice.token(&["profile:read"]).await;
    let accepted = post_batch(&app, &batch(&[&token]), "k2", &second, false).await;
    assert_eq!(accepted.status, StatusCode::OK, "{}", accepted.body);
    assert_eq!(fetched.fetches(), 2);
    assert!(!works(&app, &token).await);
    // A flood of unknown ids costs one fetch per interval.
    for _ in 0..20 {
        assert_eq!(
            post_batch(&app, &body, "k-unknown", &second, false).await.status,
            StatusCode::UNAUTHORIZED
        );
    }
    assert_eq!(fetched.fetches(), 2, "none within the interval");
}

#[tokio::test]
async fn a_batch_of_a_thousand_mostly_false_matches_is_answered_within_seconds() {
    let key = new_key();
    let keys = KeyServer::start(&[("k1", &key)]).await;
    let (app, _) = app_with_keys(&keys).await;
    let mut alice = TestUser::sign_up(&app, "Alice").await;
    let live = alice.token(&["profile:read"]).await;
    let mut tokens: Vec<String> = (0..999)
        .map(|i| match i % 3 {
            // A wrong checksum, a well-formed token nobody issued, something else entirely.
            0 => format!("spk_{:0>36}", i),
            1 => speckle_tokens::server::domain::tokens::PlainToken::generate().expose_secret().to_owned(),
            _ => format!("ghp_{i}"),
        })
        .collect();
    tokens.insert(500, live.clone());
    let refs: Vec<&str> = tokens.iter().map(String::as_str).collect();
    let started = std::time::Instant::now();
    let response = post_batch(&app, &batch(&refs), "k1", &key, false).await;
    let took = started.elapsed();
    assert_eq!(response.status, StatusCode::OK, "{}", response.body);
    let labels = response.json();
    let labels = labels.as_array().unwrap();
    assert_eq!(labels.len(), 1_000);
    let positives: Vec<usize> =
        labels.iter().enumerate().filter(|(_, l)| l["label"] == "true_positive").map(|(i, _)| i).collect();
    assert_eq!(positives, [500]);
    assert!(took < Duration::from_secs(5), "answered in {took:?}");
    assert!(!works(&app, &live).await);
}

async fn report(app: &TestApp, token: &str) -> TestResponse {
    let request = Request::post("/api/tokens/report")
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::from(json!({ "token": token }).to_string()))
        .unwrap();
    app.send(from_client(request, DEFAULT_CLIENT)).await
}

#[tokio::test]
async fn a_report_answers_the_same_whatever_the_token_and_revokes_a_live_one() {
    let app = TestApp::new().await;
    let mut alice = TestUser::sign_up(&app, "Alice").await;
    let live = alice.token(&["profile:read"]).await;
    let revoked = alice.browser.create_token("old", &["profile:read"], "30").await;
    alice.browser.call("revoke_token", &[("id", &revoked.0)]).await;
    let random = speckle_tokens::server::domain::tokens::PlainToken::generate().expose_secret().to_owned();
    let mut answers: Vec<(StatusCode, String)> = Vec::new();
    for token in [live.as_str(), revoked.1.as_str(), random.as_str(), "garbage"] {
        let response = report(&app, token).await;
        answers.push((response.status, response.body));
    }
    assert!(answers.iter().all(|answer| *answer == answers[0]), "{answers:?}");
    assert_eq!(answers[0].0, StatusCode::ACCEPTED);
    assert!(!works(&app, &live).await, "the live one is revoked");
    let alerts = alice.browser.call("leak_alerts", &[]).await.json();
    assert!(alerts[0]["how"].as_str().unwrap().contains("reported"), "{alerts}");
    // Rate limited per address.
    let mut limited = false;
    for _ in 0..30 {
        if report(&app, &random).await.status == StatusCode::TOO_MANY_REQUESTS {
            limited = true;
            break;
        }
    }
    assert!(limited, "reports are rate limited");
}

#[tokio::test]
async fn revoke_all_through_the_api_keeps_the_caller_and_on_the_profile_keeps_nothing() {
    let app = TestApp::new().await;
    let mut alice = TestUser::sign_up(&app, "Alice").await;
    let manager = alice.token(&["tokens:write", "profile:read"]).await;
    let others = [alice.token(&["profile:read"]).await, alice.token(&["streams:read"]).await];
    let answer = app.gql(Some(&manager), "mutation { apiTokensRevokeAll }").await;
    assert_eq!(answer["data"]["apiTokensRevokeAll"], true, "{answer}");
    for other in &others {
        assert!(!works(&app, other).await);
    }
    assert!(works(&app, &manager).await, "every other token");
    let reader = alice.token(&["profile:read"]).await;
    let denied = app.gql(Some(&reader), "mutation { apiTokensRevokeAll }").await;
    assert_eq!(outcome(&denied), "FORBIDDEN", "tokens:write is needed: {denied}");
    assert!(works(&app, &manager).await);
    let response = alice.browser.call("revoke_all_tokens", &[]).await;
    assert_eq!(response.status, StatusCode::OK, "{}", response.body);
    assert!(!works(&app, &manager).await);
    assert_eq!(alice.browser.list_tokens().await.json()["rows"], json!([]));
}

#[tokio::test]
async fn changing_the_password_signs_out_every_other_session() {
    let app = TestApp::new().await;
    let mut here = app.browser();
    here.sign_up("Alice", "alice@example.com").await;
    let mut elsewhere = app.browser();
    let signed_in = elsewhere.call("login", &[("email", "alice@example.com"), ("password", PASSWORD)]).await;
    assert_eq!(signed_in.status, StatusCode::OK, "{}", signed_in.body);
    assert_eq!(elsewhere.list_tokens().await.status, StatusCode::OK);

    let wrong = here
        .call(
            "change_password",
            &[("current_password", "not it at all"), ("new_password", "a brand new secret")],
        )
        .await;
    assert_eq!(wrong.status, StatusCode::BAD_REQUEST, "{}", wrong.body);
    assert!(wrong.body.contains("current password is wrong"), "{}", wrong.body);
    assert_eq!(elsewhere.list_tokens().await.status, StatusCode::OK, "nothing changed");

    let changed = here
        .call("change_password", &[("current_password", PASSWORD), ("new_password", "a brand new secret")])
        .await;
    assert_eq!(changed.status, StatusCode::OK, "{}", changed.body);
    assert_eq!(here.list_tokens().await.status, StatusCode::OK, "this session stays");
    assert_eq!(elsewhere.list_tokens().await.status, StatusCode::UNAUTHORIZED, "the other is signed out");
    let mut again = app.browser();
    let old = again.call("login", &[("email", "alice@example.com"), ("password", PASSWORD)]).await;
    assert_eq!(old.status, StatusCode::BAD_REQUEST);
    let new =
        again.call("login", &[("email", "alice@example.com"), ("password", "a brand new secret")]).await;
    assert_eq!(new.status, StatusCode::OK, "{}", new.body);
}

#[tokio::test]
async fn a_retired_key_signs_nothing() {
    let retired = new_key();
    let keys = KeyServer::start(&[("k0", &retired)]).await;
    keys.retire("k0");
    let (app, _) = app_with_keys(&keys).await;
    let mut alice = TestUser::sign_up(&app, "Alice").await;
    let token = alice.token(&["profile:read"]).await;
    let answer = post_batch(&app, &batch(&[&token]), "k0", &retired, false).await;
    assert_eq!(answer.status, StatusCode::UNAUTHORIZED, "{}", answer.body);
    assert!(works(&app, &token).await, "nothing revoked");
}

/// An app's pair for `user_id` (Speckle's connector app, through the standard endpoint).
async fn app_pair(app: &TestApp, user_id: &str) -> (String, String) {
    let code = crate::apps::s256_code(app, "sca", user_id, crate::consent::VERIFIER).await;
    let form = [
        ("grant_type", "authorization_code"),
        ("code", code.as_str()),
        ("code_verifier", crate::consent::VERIFIER),
        ("client_id", "sca"),
    ];
    let body = crate::apps::post_form(app, "/oauth/token", &form, None).await.json();
    (body["access_token"].as_str().unwrap().to_owned(), body["refresh_token"].as_str().unwrap().to_owned())
}

async fn refreshes(app: &TestApp, refresh_token: &str) -> bool {
    let form = [("grant_type", "refresh_token"), ("refresh_token", refresh_token), ("client_id", "sca")];
    crate::apps::post_form(app, "/oauth/token", &form, None).await.status == StatusCode::OK
}

#[tokio::test]
async fn a_leaked_app_token_ends_its_grant_and_tells_the_person() {
    let key = new_key();
    let keys = KeyServer::start(&[("k1", &key)]).await;
    let (app, _) = app_with_keys(&keys).await;
    let mut alice = TestUser::sign_up(&app, "Alice").await;
    let (access, refresh_token) = app_pair(&app, &alice.id).await;
    assert!(works(&app, &access).await);
    let body = json!([{
        "token": access,
        "type": "speckle_oauth_access_token",
        "url": "https://github.com/octocat/leaky/blob/main/ci.yml",
        "source": "content",
    }])
    .to_string();
    let labels = post_batch(&app, &body, "k1", &key, false).await.json();
    assert_eq!(labels[0]["token_type"], "speckle_oauth_access_token", "{labels}");
    assert_eq!(labels[0]["label"], "true_positive");
    assert!(!works(&app, &access).await, "the access token is dead");
    assert!(!refreshes(&app, &refresh_token).await, "and so is the whole grant");
    let alerts = alice.browser.call("leak_alerts", &[]).await.json();
    assert_eq!(alerts[0]["token_name"], "Speckle Connector", "{alerts}");
    let listed = alice.browser.call("list_apps", &[]).await.json();
    assert_eq!(listed["authorized"], json!([]), "the app must ask again");

    // A refresh token found by someone and reported: the same.
    let (access, refresh_token) = app_pair(&app, &alice.id).await;
    assert_eq!(report(&app, &refresh_token).await.status, StatusCode::ACCEPTED);
    assert!(!works(&app, &access).await, "a reported refresh token ends the grant, its access token too");
    assert!(!refreshes(&app, &refresh_token).await);
}
