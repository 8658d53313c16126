//! The headers a browser on the open internet gets: a content security policy on every
//! answer (pages allow only our own scripts, the hydration script by its nonce), no sniffing,
//! no framing, no referrer, nothing that can carry a secret cached, HSTS behind TLS.

use crate::common::*;
use axum::body::Body;
use axum::http::{header, Request, StatusCode};
use http_body_util::BodyExt;
use tower::ServiceExt;

fn assert_hardened(response: &TestResponse, what: &str) {
    assert_eq!(response.header("x-content-type-options"), "nosniff", "{what}");
    assert_eq!(response.header("referrer-policy"), "same-origin", "{what}");
    assert!(response.header("content-security-policy").contains("frame-ancestors 'none'"), "{what}");
}

#[tokio::test]
async fn pages_allow_only_our_scripts_and_are_never_cached() {
    let app = TestApp::new().await;
    let mut user = TestUser::sign_up(&app, "Alice").await;
    for path in ["/", "/login", "/profile"] {
        let page = user.browser.get(path).await;
        assert_eq!(page.status, StatusCode::OK, "{path}");
        assert_hardened(&page, path);
        assert_eq!(page.header("cache-control"), "no-store", "{path}");
        let policy = page.header("content-security-policy");
        let nonce = policy.split("'nonce-").nth(1).and_then(|rest| rest.split('\'').next()).unwrap();
        assert!(nonce.len() >= 16, "{policy}");
        assert!(
            page.body.contains(&format!("nonce=\"{nonce}\"")),
            "{path}: the hydration script has the nonce"
        );
        assert!(policy.contains("default-src 'self'") && !policy.contains("unsafe-inline"), "{policy}");
    }
    let again = user.browser.get("/").await;
    assert_ne!(
        again.header("content-security-policy"),
        user.browser.get("/").await.header("content-security-policy"),
        "a fresh nonce for every page"
    );
    // The answer that carries a new token's secret is not cached either.
    let created = user.browser.call("create_token", &token_form("Secret", &["profile:read"], "7")).await;
    assert!(created.status.is_success());
    assert_eq!(created.header("cache-control"), "no-store");
    assert_hardened(&created, "create_token");
}

#[tokio::test]
async fn api_answers_allow_nothing_in_a_browser() {
    let app = TestApp::new().await;
    let answer = app.graphql_with_header(None, "{ serverInfo { name } }").await;
    assert_hardened(&answer, "/graphql");
    assert!(answer.header("content-security-policy").starts_with("default-src 'none'"));
    assert_eq!(answer.header("cache-control"), "no-store");
    assert!(answer.headers.get("strict-transport-security").is_none(), "no HSTS without TLS");
}

#[tokio::test]
async fn graphiql_loads_only_from_our_origin() {
    let app = TestApp::new().await;
    let request = Request::get("/graphql").header(header::ACCEPT, "text/html").body(Body::empty()).unwrap();
    let page = app.send(request).await;
    assert_eq!(page.status, StatusCode::OK);
    assert_hardened(&page, "GraphiQL");
    let policy = page.header("content-security-policy");
    assert!(policy.contains("script-src 'self';"), "{policy}");
    assert!(!page.body.contains("://"), "no other origin: {}", page.body);
    for asset in ["/graphiql/graphiql-", "/graphiql/react-", "/graphiql/react-dom-", "/explorer.js"] {
        assert!(page.body.contains(asset), "{asset}");
    }
}

#[tokio::test]
async fn behind_tls_browsers_are_told_to_stay_on_https() {
    let app = TestApp::new().await;
    let mut state = app.state.clone();
    state.secure_cookies = true;
    let router = speckle_tokens::server::http::router(state);
    let request = Request::get("/healthz").body(Body::empty()).unwrap();
    let response = router.oneshot(request).await.unwrap();
    let hsts = response.headers()["strict-transport-security"].to_str().unwrap().to_owned();
    assert!(hsts.starts_with("max-age=63072000"), "{hsts}");
    let _ = response.into_body().collect().await;
}
