//! The consent page (SPEC §11) as a browser meets it: signing in first, what the page says,
//! `Authorize` and `Deny` for standard OAuth and Speckle's `/authn/verify`, requests that go
//! back to the app with an error and those that must not, and a request already granted
//! passing without the page.

use axum::body::Body;
use axum::http::{header, Request, StatusCode};
use serde_json::Value;
use speckle_tokens::rules::scopes::{Scope, ScopeSet};
use speckle_tokens::server::domain::apps::pkce;
use speckle_tokens::server::domain::apps::registered::{self, AppFields};

use crate::apps::{acts_for, post_form, post_json, speckle_pair};
use crate::common::*;

pub(crate) const VERIFIER: &str = "dBjftJeZ4CVP-mJ0OAq8oXaW1aKtWS2EYXvFbq1yrfEx";
const CALLBACK: &str = "http://127.0.0.1:53682/callback";

/// A signed-in browser and its user's id.
pub(crate) async fn signed_in<'a>(app: &'a TestApp, name: &str) -> (Browser<'a>, String) {
    let mut browser = app.browser();
    browser.sign_up(name, &format!("{}@example.com", name.to_lowercase())).await;
    let me = browser.call("current_user", &[]).await.json();
    (browser, me["id"].as_str().unwrap().to_owned())
}

/// A public app registered by a person, with a loopback redirect (any port) and two scopes.
async fn native_app(app: &TestApp) -> String {
    let (id, secret) = registered_app(app, "Model Checker", true).await;
    assert!(secret.is_none());
    id
}

/// An app `name` registered by a person named Author, public or with a secret, with a
/// loopback redirect (any port) and the scopes `streams:read` and `profile:read`: its client
/// id and secret.
pub(crate) async fn registered_app(app: &TestApp, name: &str, public: bool) -> (String, Option<String>) {
    let author = TestUser::sign_up(app, "Author").await;
    let fields = AppFields {
        name: name.into(),
        description: "Checks models.".into(),
        redirect_urls: "http://127.0.0.1/callback".into(),
        scopes: [Scope::StreamsRead, Scope::ProfileRead].into_iter().collect::<ScopeSet>(),
    };
    let mut conn = app.state.db.get().await.unwrap();
    let (registered, secret) =
        registered::register(&mut conn, &author.id.clone().into(), &fields, public).await.unwrap();
    (registered.id.to_string(), secret.map(|secret| secret.expose_secret().to_owned()))
}

fn authorize_query(client_id: &str, scope: &str) -> Vec<(&'static str, String)> {
    vec![
        ("client_id", client_id.to_owned()),
        ("response_type", "code".to_owned()),
        ("redirect_uri", CALLBACK.to_owned()),
        ("scope", scope.to_owned()),
        ("state", "xyz-state".to_owned()),
        ("code_challenge", pkce::s256(VERIFIER)),
        ("code_challenge_method", "S256".to_owned()),
    ]
}

fn authorize_url(query: &[(&'static str, String)]) -> String {
    format!("/oauth/authorize?{}", serde_urlencoded::to_string(query).unwrap())
}

/// The page's form as a browser posts it: the request in `request[…]`, then the decision.
fn decision_form(query: &[(&'static str, String)], decision: &str) -> Vec<(String, String)> {
    let mut form: Vec<(String, String)> =
        query.iter().map(|(name, value)| (format!("request[{name}]"), value.clone())).collect();
    form.push(("request[speckle]".into(), "false".into()));
    form.push(("decision".into(), decision.into()));
    form
}

async fn decide(browser: &mut Browser<'_>, form: &[(String, String)]) -> TestResponse {
    let pairs: Vec<(&str, &str)> = form.iter().map(|(name, value)| (name.as_str(), value.as_str())).collect();
    browser.call("authorize", &pairs).await
}

/// A page's text without the markers Leptos leaves between its parts.
pub(crate) fn text(page: &TestResponse) -> String {
    page.body.replace("<!>", "")
}

/// The query of a URL, as pairs.
fn query_of(url: &str) -> Vec<(String, String)> {
    url::Url::parse(url).unwrap().query_pairs().into_owned().collect()
}

pub(crate) fn param(url: &str, name: &str) -> Option<String> {
    query_of(url).into_iter().find(|(key, _)| key == name).map(|(_, value)| value)
}

#[tokio::test]
async fn a_person_signs_in_sees_the_app_and_authorizes_it() {
    let app = TestApp::new().await;
    let client_id = native_app(&app).await;
    let query = authorize_query(&client_id, "streams:read");

    let signed_out = app.browser().get(&authorize_url(&query)).await;
    assert!(signed_out.status.is_redirection(), "{}", signed_out.status);
    let login = signed_out.header("location").to_owned();
    let next = param(&format!("http://localhost{login}"), "next").unwrap();
    assert_eq!(next, authorize_url(&query), "the whole request comes back after signing in");

    let (mut browser, user_id) = signed_in(&app, "Consenting").await;
    let page = browser.get(&authorize_url(&query)).await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    for expected in [
        "Authorize Model Checker",
        "Registered by Author",
        "not made by this server",
        "an app on this computer",
        "streams:read",
        Scope::StreamsRead.description(),
        ">Authorize<",
        ">Deny<",
    ] {
        assert!(text(&page).contains(expected), "the page says {expected:?}: {}", page.body);
    }
    assert!(!page.body.contains("profile:read"), "only what was asked is listed");
    let policy = page.header("content-security-policy");
    assert!(policy.contains("frame-ancestors 'none'"), "{policy}");
    assert!(
        policy.contains("form-action 'self' http://127.0.0.1:53682"),
        "the answer may lead back to the app: {policy}"
    );

    let answer = decide(&mut browser, &decision_form(&query, "authorize")).await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.body);
    let back: String = serde_json::from_str(&answer.body).unwrap();
    assert!(back.starts_with(CALLBACK), "{back}");
    assert_eq!(param(&back, "state").as_deref(), Some("xyz-state"));
    assert_eq!(param(&back, "iss").as_deref(), Some("http://localhost"));
    let code = param(&back, "code").unwrap();

    let form = [
        ("grant_type", "authorization_code"),
        ("code", code.as_str()),
        ("code_verifier", VERIFIER),
        ("redirect_uri", CALLBACK),
        ("client_id", client_id.as_str()),
    ];
    let tokens = post_form(&app, "/oauth/token", &form, None).await;
    assert_eq!(tokens.status, StatusCode::OK, "{}", tokens.body);
    assert_eq!(tokens.json()["scope"], "streams:read");
    let access = tokens.json()["access_token"].as_str().unwrap().to_owned();
    assert_eq!(acts_for(&app, &access).await, None, "profile:read was not granted");

    // Asked again for what is granted, on another port: no page, straight back with a code.
    let mut again = authorize_query(&client_id, "streams:read");
    again[2].1 = "http://127.0.0.1:40111/callback".into();
    let passed = browser.get(&authorize_url(&again)).await;
    assert_eq!(passed.status, StatusCode::FOUND, "{}", passed.body);
    let location = passed.header("location").to_owned();
    assert!(location.starts_with("http://127.0.0.1:40111/callback?code="), "{location}");

    // Asked for more: the page lists the new scope apart from the granted one.
    let wider = browser.get(&authorize_url(&authorize_query(&client_id, "streams:read profile:read"))).await;
    assert_eq!(wider.status, StatusCode::OK);
    let wider = text(&wider);
    let (asked, granted) = wider.split_once("Already allowed").expect("granted scopes apart");
    assert!(asked.contains("profile:read") && !asked.contains("<code>streams:read</code>"), "{asked}");
    assert!(granted.contains("streams:read"), "{granted}");

    let user: String = user_id;
    let mut conn = app.state.db.get().await.unwrap();
    let granted =
        speckle_tokens::server::domain::apps::granted(&mut conn, &client_id, &user.into()).await.unwrap();
    assert_eq!(granted.unwrap().to_names(), "streams:read");
}

#[tokio::test]
async fn deny_and_bad_requests_go_back_to_the_app_unless_that_is_unsafe() {
    let app = TestApp::new().await;
    let client_id = native_app(&app).await;
    let (mut browser, user_id) = signed_in(&app, "Careful").await;
    let query = authorize_query(&client_id, "streams:read");

    let denied = decide(&mut browser, &decision_form(&query, "deny")).await;
    let back: String = serde_json::from_str(&denied.body).unwrap();
    assert_eq!(param(&back, "error").as_deref(), Some("access_denied"), "{back}");
    assert_eq!(param(&back, "state").as_deref(), Some("xyz-state"));
    assert_eq!(param(&back, "code"), None);

    let beyond = browser.get(&authorize_url(&authorize_query(&client_id, "streams:write"))).await;
    assert_eq!(beyond.status, StatusCode::FOUND);
    let location = beyond.header("location").to_owned();
    assert_eq!(param(&location, "error").as_deref(), Some("invalid_scope"), "{location}");
    assert_eq!(param(&location, "iss").as_deref(), Some("http://localhost"));

    let mut plain = query.clone();
    plain[6].1 = "plain".into();
    plain[5].1 = VERIFIER.into();
    let refused = browser.get(&authorize_url(&plain)).await;
    assert_eq!(param(refused.header("location"), "error").as_deref(), Some("invalid_request"));

    // An unregistered redirect, or an unknown app: said on the page, never redirected.
    let mut elsewhere = query.clone();
    elsewhere[2].1 = "https://evil.example/callback".into();
    for shown in [authorize_url(&elsewhere), authorize_url(&authorize_query("no-such-app", "streams:read"))] {
        let page = browser.get(&shown).await;
        assert_eq!(page.status, StatusCode::OK, "{}", page.body);
        assert!(page.headers.get(header::LOCATION).is_none());
        assert!(page.body.contains("cannot be authorized"), "{}", page.body);
        assert!(!page.body.contains(">Authorize<"));
    }
    let forged = decide(&mut browser, &decision_form(&elsewhere, "authorize")).await;
    assert_eq!(forged.status, StatusCode::BAD_REQUEST, "{}", forged.body);

    // A form posted from another site is refused, and grants nothing.
    let body = serde_urlencoded::to_string(decision_form(&query, "authorize")).unwrap();
    let request = Request::post("/api/authorize")
        .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
        .header(header::ORIGIN, "https://evil.example")
        .header(header::COOKIE, browser.cookie.clone().unwrap())
        .body(Body::from(body))
        .unwrap();
    assert_eq!(app.send(from_client(request, DEFAULT_CLIENT)).await.status, StatusCode::FORBIDDEN);
    let mut conn = app.state.db.get().await.unwrap();
    let granted =
        speckle_tokens::server::domain::apps::granted(&mut conn, &client_id, &user_id.into()).await.unwrap();
    assert!(granted.is_none(), "nothing was granted");
}

#[tokio::test]
async fn speckle_s_verify_page_sends_a_connector_its_access_code() {
    let app = TestApp::new().await;
    let (mut browser, user_id) = signed_in(&app, "Connector").await;
    let page = browser.get("/authn/verify/sca/my-plain-challenge").await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    assert!(page.body.contains("Authorize Speckle Connector"), "{}", page.body);
    assert!(page.body.contains("an app on this computer"));
    assert!(page.body.contains("One of Speckle"), "a default app says it is the server's own");

    let form = [
        ("request[speckle]", "true"),
        ("request[client_id]", "sca"),
        ("request[code_challenge]", "my-plain-challenge"),
        ("decision", "authorize"),
    ];
    let answer = browser.submit_form("authorize", &form).await;
    assert!(answer.status.is_redirection(), "a plain form post is redirected: {}", answer.status);
    let location = answer.header("location").to_owned();
    assert!(location.starts_with("http://localhost:29363/?access_code="), "{location}");
    let code = param(&location, "access_code").unwrap();
    let body = serde_json::json!({ "appId": "sca", "appSecret": "sca", "accessCode": code, "challenge": "my-plain-challenge" });
    let (token, _) = speckle_pair(&post_json(&app, "/auth/token", body).await);
    assert_eq!(acts_for(&app, &token).await, Some(user_id));

    let denied = browser
        .call(
            "authorize",
            &[
                ("request[speckle]", "true"),
                ("request[client_id]", "sca"),
                ("request[code_challenge]", "another"),
                ("decision", "deny"),
            ],
        )
        .await;
    let back: Value = denied.json();
    assert_eq!(back, "http://localhost:29363/?denied=true");
}
