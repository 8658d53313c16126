//! Standard OAuth (SPEC §11) as an independent client speaks it: the `oauth2` crate, over
//! real HTTP, for the authorization code with PKCE (the person answering on the consent
//! page), refresh, introspection and revocation; the device grant (the person answering on
//! `/device`) with its waits and refusals; and the metadata that names it all.

use axum::http::StatusCode;
use oauth2::basic::BasicClient;
use oauth2::{
    AuthUrl, AuthorizationCode, ClientId, ClientSecret, CsrfToken, DeviceAuthorizationUrl, IntrospectionUrl,
    PkceCodeChallenge, RedirectUrl, RefreshToken, Scope as OAuthScope, StandardDeviceAuthorizationResponse,
    TokenIntrospectionResponse, TokenResponse, TokenUrl,
};
use serde_json::{json, Value};

use crate::apps::{acts_for, post_form};
use crate::common::*;
use crate::consent::{param, registered_app, signed_in, text};

/// A confidential app registered by a person: its client id and secret.
async fn web_app(app: &TestApp) -> (String, String) {
    let (id, secret) = registered_app(app, "Model Board", false).await;
    (id, secret.unwrap())
}

/// The crate's HTTP client, as its docs advise: no redirects followed.
fn http() -> oauth2::reqwest::Client {
    oauth2::reqwest::Client::builder().redirect(oauth2::reqwest::redirect::Policy::none()).build().unwrap()
}

#[tokio::test]
async fn the_oauth2_crate_gets_refreshes_introspects_and_revokes_tokens_with_pkce() {
    let app = TestApp::new().await;
    let addr = app.listen().await;
    let base = format!("http://{addr}");
    let (client_id, secret) = web_app(&app).await;
    let client = BasicClient::new(ClientId::new(client_id.clone()))
        .set_client_secret(ClientSecret::new(secret.clone()))
        .set_auth_uri(AuthUrl::new(format!("{base}/oauth/authorize")).unwrap())
        .set_token_uri(TokenUrl::new(format!("{base}/oauth/token")).unwrap())
        .set_introspection_url(IntrospectionUrl::new(format!("{base}/oauth/introspect")).unwrap())
        // Any port on the loopback address (RFC 8252).
        .set_redirect_uri(RedirectUrl::new("http://127.0.0.1:49152/callback".into()).unwrap());
    let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
    let (url, state) = client
        .authorize_url(CsrfToken::new_random)
        .add_scope(OAuthScope::new("streams:read".into()))
        .add_scope(OAuthScope::new("profile:read".into()))
        .set_pkce_challenge(challenge)
        .url();

    // The person opens the URL, signed in, sees the page and authorizes.
    let (mut browser, user_id) = signed_in(&app, "Consenting").await;
    let path = &url.as_str()[base.len()..];
    let page = browser.get(path).await;
    assert!(text(&page).contains("Authorize Model Board"), "{}", page.body);
    let mut form: Vec<(String, String)> =
        url.query_pairs().map(|(name, value)| (format!("request[{name}]"), value.into_owned())).collect();
    form.push(("request[speckle]".into(), "false".into()));
    form.push(("decision".into(), "authorize".into()));
    let pairs: Vec<(&str, &str)> = form.iter().map(|(name, value)| (name.as_str(), value.as_str())).collect();
    let answer = browser.call("authorize", &pairs).await;
    let back: String = serde_json::from_str(&answer.body).unwrap();
    assert_eq!(param(&back, "error"), None, "{back}");
    assert_eq!(param(&back, "state").as_deref(), Some(state.secret().as_str()));
    let code = param(&back, "code").unwrap();

    let http = http();
    let tokens = client
        .exchange_code(AuthorizationCode::new(code.clone()))
        .set_pkce_verifier(verifier)
        .request_async(&http)
        .await
        .unwrap();
    let access = tokens.access_token().secret().to_owned();
    assert_eq!(acts_for(&app, &access).await.as_deref(), Some(user_id.as_str()));
    assert_eq!(tokens.expires_in(), Some(std::time::Duration::from_secs(3600)));
    let mut scopes: Vec<String> = tokens.scopes().unwrap().iter().map(|scope| scope.to_string()).collect();
    scopes.sort();
    assert_eq!(scopes, ["profile:read", "streams:read"]);
    // A replay of the code is refused, and ends what it gave.
    let replay = client
        .exchange_code(AuthorizationCode::new(code))
        .set_pkce_verifier(oauth2::PkceCodeVerifier::new("x".repeat(43)))
        .request_async(&http)
        .await;
    assert!(replay.is_err());
    assert_eq!(acts_for(&app, &access).await, None);

    // Again, without a replay: then refresh, introspect, revoke.
    let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
    let (url, _) = client.authorize_url(CsrfToken::new_random).set_pkce_challenge(challenge).url();
    let mut form: Vec<(String, String)> =
        url.query_pairs().map(|(name, value)| (format!("request[{name}]"), value.into_owned())).collect();
    form.push(("request[speckle]".into(), "false".into()));
    form.push(("decision".into(), "authorize".into()));
    let pairs: Vec<(&str, &str)> = form.iter().map(|(name, value)| (name.as_str(), value.as_str())).collect();
    let back: String = serde_json::from_str(&browser.call("authorize", &pairs).await.body).unwrap();
    let code = AuthorizationCode::new(param(&back, "code").unwrap());
    let first = client.exchange_code(code).set_pkce_verifier(verifier).request_async(&http).await.unwrap();
    let second =
        client.exchange_refresh_token(first.refresh_token().unwrap()).request_async(&http).await.unwrap();
    assert_eq!(acts_for(&app, first.access_token().secret()).await, None, "a refresh ends the old pair");
    let access = second.access_token();
    let seen = client.introspect(access).request_async(&http).await.unwrap();
    assert!(seen.active());
    assert_eq!(seen.sub(), Some(user_id.as_str()));
    assert_eq!(seen.client_id().map(|id| id.as_str()), Some(client_id.as_str()));
    let mut scopes: Vec<String> = seen.scopes().unwrap().iter().map(|scope| scope.to_string()).collect();
    scopes.sort();
    assert_eq!(scopes, ["profile:read", "streams:read"], "the grant's scopes: all the app registered");
    let used = client.introspect(first.access_token()).request_async(&http).await.unwrap();
    assert!(!used.active(), "the replaced token is not active");

    // The crate sends revocations only over https (RFC 7009 §2): the same request by hand,
    // authenticated as it would be (HTTP Basic).
    let refresh = second.refresh_token().unwrap().clone();
    let basic = format!(
        "Basic {}",
        base64::Engine::encode(&base64::engine::general_purpose::STANDARD, format!("{client_id}:{secret}"))
    );
    let form = [("token", refresh.secret().as_str()), ("token_type_hint", "refresh_token")];
    let revoked = post_form(&app, "/oauth/revoke", &form, Some(&basic)).await;
    assert_eq!(revoked.status, StatusCode::OK, "{}", revoked.body);
    assert_eq!(acts_for(&app, access.secret()).await, None, "revoking the refresh token ended the grant");
    let after = client.introspect(access).request_async(&http).await.unwrap();
    assert!(!after.active());
    assert!(client
        .exchange_refresh_token(&RefreshToken::new(refresh.secret().clone()))
        .request_async(&http)
        .await
        .is_err());
}

#[tokio::test]
async fn introspection_is_for_the_apps_own_tokens_and_needs_its_secret() {
    let app = TestApp::new().await;
    let (client_id, secret) = web_app(&app).await;
    let (mut browser, _) = signed_in(&app, "Holder").await;
    let (_, personal) = browser.create_token("script", &["streams:read"], "30").await;
    let (device_code, user_code) = start_device(&app, &client_id, Some(&secret)).await;
    answer_device(&mut browser, &user_code, "authorize").await;
    let form = [
        ("grant_type", DEVICE_GRANT),
        ("device_code", device_code.as_str()),
        ("client_id", client_id.as_str()),
        ("client_secret", secret.as_str()),
    ];
    let tokens = post_form(&app, "/oauth/token", &form, None).await.json();
    let access = tokens["access_token"].as_str().unwrap();

    let ask = |token: &str, id: &str, secret: Option<&str>| {
        let mut form = vec![("token", token.to_owned()), ("client_id", id.to_owned())];
        form.extend(secret.map(|secret| ("client_secret", secret.to_owned())));
        let app = &app;
        async move {
            let pairs: Vec<(&str, &str)> = form.iter().map(|(name, value)| (*name, value.as_str())).collect();
            post_form(app, "/oauth/introspect", &pairs, None).await
        }
    };
    let own = ask(access, &client_id, Some(&secret)).await;
    assert_eq!(own.status, StatusCode::OK, "{}", own.body);
    assert_eq!(own.header("cache-control"), "no-store");
    assert_eq!(own.json()["active"], true);
    assert_eq!(own.json()["token_type"], "Bearer");
    let without_secret = ask(access, &client_id, None).await;
    assert_eq!(without_secret.status, StatusCode::UNAUTHORIZED, "{}", without_secret.body);
    assert_eq!(without_secret.json()["error"], "invalid_client");
    for (token, why) in [(access, "another app's"), (personal.as_str(), "a personal token")] {
        let other = ask(token, "sca", None).await;
        assert_eq!(other.json(), json!({ "active": false }), "{why}: {}", other.body);
    }
    let personal_to_owner = ask(&personal, &client_id, Some(&secret)).await;
    assert_eq!(personal_to_owner.json(), json!({ "active": false }));
    let junk = ask("not a token", &client_id, Some(&secret)).await;
    assert_eq!(junk.json(), json!({ "active": false }));
    app.advance(std::time::Duration::from_secs(3601));
    assert_eq!(ask(access, &client_id, Some(&secret)).await.json(), json!({ "active": false }), "expired");
}

const DEVICE_GRANT: &str = "urn:ietf:params:oauth:grant-type:device_code";

/// `POST /oauth/device_authorization` for all the app's scopes: the device and user codes.
async fn start_device(app: &TestApp, client_id: &str, secret: Option<&str>) -> (String, String) {
    let mut form = vec![("client_id", client_id)];
    form.extend(secret.map(|secret| ("client_secret", secret)));
    let answer = post_form(app, "/oauth/device_authorization", &form, None).await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.body);
    let body = answer.json();
    (body["device_code"].as_str().unwrap().to_owned(), body["user_code"].as_str().unwrap().to_owned())
}

/// The person's answer on `/device`, as the page's JavaScript sends it.
async fn answer_device(browser: &mut Browser<'_>, user_code: &str, decision: &str) -> TestResponse {
    let answer = browser.call("device_answer", &[("user_code", user_code), ("decision", decision)]).await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.body);
    answer
}

#[tokio::test]
async fn the_oauth2_crate_gets_tokens_for_a_device_the_person_approves_on_the_device_page() {
    let app = TestApp::new().await;
    let addr = app.listen().await;
    let base = format!("http://{addr}");
    // Speckle's default public app for scripts: no secret.
    let client = BasicClient::new(ClientId::new("sca".into()))
        .set_token_uri(TokenUrl::new(format!("{base}/oauth/token")).unwrap())
        .set_device_authorization_url(
            DeviceAuthorizationUrl::new(format!("{base}/oauth/device_authorization")).unwrap(),
        );
    let http = http();
    let details: StandardDeviceAuthorizationResponse = client
        .exchange_device_code()
        .add_scope(OAuthScope::new("streams:read".into()))
        .add_scope(OAuthScope::new("profile:read".into()))
        .request_async(&http)
        .await
        .unwrap();
    let user_code = details.user_code().secret().clone();
    assert!(
        user_code.len() == 9 && user_code.as_bytes()[4] == b'-',
        "shown as two groups of four letters: {user_code}"
    );
    assert_eq!(details.verification_uri().as_str(), format!("{base}/device"));
    let complete = details.verification_uri_complete().unwrap().secret().clone();
    assert_eq!(param(&complete, "user_code").as_deref(), Some(user_code.as_str()));
    assert_eq!(details.interval(), std::time::Duration::from_secs(5));

    // The person follows the link; the page names the app beside the code.
    let (mut browser, user_id) = signed_in(&app, "Owner").await;
    let page =
        browser.get(&format!("/device?user_code={}", user_code.to_lowercase().replace('-', "+"))).await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    for expected in
        ["Code", "for <strong>", ">Authorize<", ">Deny<", "streams:read", "One of Speckle's own apps"]
    {
        assert!(text(&page).contains(expected), "the page says {expected:?}: {}", page.body);
    }
    answer_device(&mut browser, &user_code, "authorize").await;

    // The crate polls, sleeping on the server's clock: the first poll after approval wins.
    let sleep = |wait: std::time::Duration| {
        app.advance(wait);
        std::future::ready(())
    };
    let tokens =
        client.exchange_device_access_token(&details).request_async(&http, sleep, None).await.unwrap();
    let access = tokens.access_token().secret();
    assert_eq!(acts_for(&app, access).await.as_deref(), Some(user_id.as_str()));
    let mut scopes: Vec<String> = tokens.scopes().unwrap().iter().map(|scope| scope.to_string()).collect();
    scopes.sort();
    assert_eq!(scopes, ["profile:read", "streams:read"]);
    let again = client.exchange_device_access_token(&details).request_async(&http, sleep, None).await;
    assert!(again.is_err(), "a device code is exchanged once");
    let page = browser.get(&format!("/device?user_code={user_code}")).await;
    assert!(text(&page).contains("may now act for you"), "{}", page.body);
}

/// A device's poll, by the raw form: the answer's status and `error` (or tokens).
async fn poll(app: &TestApp, device_code: &str) -> (StatusCode, Value) {
    let form = [("grant_type", DEVICE_GRANT), ("device_code", device_code), ("client_id", "sca")];
    let answer = post_form(app, "/oauth/token", &form, None).await;
    (answer.status, answer.json())
}

#[tokio::test]
async fn a_device_waits_slows_down_is_denied_or_expires_as_rfc_8628_says() {
    let app = TestApp::new().await;
    let (mut browser, _) = signed_in(&app, "Waiting").await;
    let (device_code, user_code) = start_device(&app, "sca", None).await;
    let (status, body) = poll(&app, &device_code).await;
    assert_eq!((status, body["error"].as_str()), (StatusCode::BAD_REQUEST, Some("authorization_pending")));
    let (_, body) = poll(&app, &device_code).await;
    assert_eq!(body["error"], "slow_down", "polled sooner than five seconds");
    app.advance(std::time::Duration::from_secs(6));
    let (_, body) = poll(&app, &device_code).await;
    assert_eq!(body["error"], "slow_down", "the interval grew to ten seconds");
    app.advance(std::time::Duration::from_secs(11));
    let (_, body) = poll(&app, &device_code).await;
    assert_eq!(body["error"], "slow_down", "each slow_down adds five: fifteen now");
    app.advance(std::time::Duration::from_secs(20));
    let (_, body) = poll(&app, &device_code).await;
    assert_eq!(body["error"], "authorization_pending");

    answer_device(&mut browser, &user_code, "deny").await;
    let again = browser.call("device_answer", &[("user_code", &user_code), ("decision", "authorize")]).await;
    assert_eq!(again.status, StatusCode::BAD_REQUEST, "a code is answered once: {}", again.body);
    let (_, body) = poll(&app, &device_code).await;
    assert_eq!(body["error"], "access_denied");
    let (_, body) = poll(&app, &device_code).await;
    assert_eq!(body["error"], "invalid_grant", "and it is done");

    let (late, late_user_code) = start_device(&app, "sca", None).await;
    app.advance(std::time::Duration::from_secs(601));
    let (_, body) = poll(&app, &late).await;
    assert_eq!(body["error"], "expired_token");
    let page = browser.get(&format!("/device?user_code={late_user_code}")).await;
    assert!(text(&page).contains("No device waits for this code"), "{}", page.body);
    let (_, body) = poll(&app, "made-up").await;
    assert_eq!(body["error"], "invalid_grant");
    let wider = post_form(
        &app,
        "/oauth/device_authorization",
        &[("client_id", "sca"), ("scope", "tokens:write")],
        None,
    )
    .await;
    assert_eq!(
        (wider.status, wider.json()["error"].clone()),
        (StatusCode::BAD_REQUEST, json!("invalid_scope"))
    );
}

#[tokio::test]
async fn the_device_page_needs_a_signed_in_person_and_stops_a_guesser() {
    let app = TestApp::new().await;
    let signed_out = app.browser().get("/device?user_code=BCDF-GHJK").await;
    assert!(signed_out.status.is_redirection());
    assert_eq!(signed_out.header("location"), "/login?next=/device?user_code=BCDF-GHJK");

    let (_, user_code) = start_device(&app, "sca", None).await;
    let (mut guesser, _) = signed_in(&app, "Guesser").await;
    let mut refused = None;
    for attempt in 0..12 {
        let answer = guesser.call("device_request", &[("user_code", &format!("BCDF-GH{attempt:02}"))]).await;
        if answer.status == StatusCode::TOO_MANY_REQUESTS {
            refused = Some(attempt);
            break;
        }
        assert_eq!(answer.json(), json!("Unknown"), "{}", answer.body);
    }
    assert_eq!(refused, Some(10), "ten wrong codes, then a wait");
    let right = guesser.call("device_request", &[("user_code", &user_code)]).await;
    assert_eq!(right.status, StatusCode::TOO_MANY_REQUESTS, "even the right code waits");
    let (mut owner, _) = signed_in(&app, "Owner").await;
    let theirs = owner.call("device_request", &[("user_code", &user_code)]).await;
    assert!(theirs.json()["Waiting"]["app_name"].is_string(), "{}", theirs.body);

    // Without JavaScript the answer comes back to the page, which then says it.
    let posted = owner.submit_form("device_answer", &[("user_code", &user_code), ("decision", "deny")]).await;
    assert!(posted.status.is_redirection(), "{}", posted.status);
    let page = owner.get(posted.header("location")).await;
    assert!(text(&page).contains("You refused"), "{}", page.body);
}

#[tokio::test]
async fn the_metadata_names_the_device_and_introspection_endpoints() {
    let app = TestApp::new().await;
    let body = app.browser().get("/.well-known/oauth-authorization-server").await.json();
    assert_eq!(body["device_authorization_endpoint"], "http://localhost/oauth/device_authorization");
    assert_eq!(body["introspection_endpoint"], "http://localhost/oauth/introspect");
    let grants = body["grant_types_supported"].as_array().unwrap();
    assert!(grants.contains(&json!(DEVICE_GRANT)), "{body}");
}

#[tokio::test]
async fn starting_device_grants_is_rate_limited_per_address() {
    let app = TestApp::new().await;
    let mut answers = Vec::new();
    for _ in 0..61 {
        answers
            .push(post_form(&app, "/oauth/device_authorization", &[("client_id", "sca")], None).await.status);
    }
    assert!(answers[..60].iter().all(|status| *status == StatusCode::OK), "{answers:?}");
    assert_eq!(answers[60], StatusCode::TOO_MANY_REQUESTS);
}
