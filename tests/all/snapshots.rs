//! What clients read, kept as snapshots (`tests/all/snapshots/`): a change of a field's name,
//! an argument, a default, a nullability or an error's shape shows as a diff to review
//! (`cargo insta review`, or `INSTA_UPDATE=always` to accept) instead of passing unseen.

use axum::body::Body;
use axum::http::{header, Request};
use speckle_tokens::server::doors::graphql::Engine;

use crate::common::*;

/// The GraphQL schema as Speckle's clients introspect it.
#[tokio::test]
async fn the_schema() {
    insta::assert_snapshot!(Engine::new().schema.sdl());
}

/// A refusal for a missing scope on the REST doors: the body, and the headers that name the
/// scopes (SPEC §8).
#[tokio::test]
async fn a_missing_scope_on_the_object_transport() {
    let app = TestApp::new().await;
    let mut owner = TestUser::sign_up(&app, "Owner").await;
    let writer = owner.token(&["streams:read", "streams:write"]).await;
    let stream = create_stream(&app, &writer, "Private", false).await;
    let no_read = owner.token(&["streams:write"]).await;
    let request = Request::get(format!("/objects/{stream}/abc"))
        .header(header::AUTHORIZATION, format!("Bearer {no_read}"))
        .body(Body::empty())
        .unwrap();
    let response = app.send(request).await;
    let headers = format!(
        "status: {}\nx-accepted-oauth-scopes: {}\nx-oauth-scopes: {}",
        response.status,
        response.header("x-accepted-oauth-scopes"),
        response.header("x-oauth-scopes"),
    );
    insta::assert_snapshot!(format!("{headers}\n\n{}", response.body));
}

/// The object transport's refusals, each as a client reads it (status, type, body): no
/// token, a dead token, someone else's stream, a stream that is not there, a malformed id
/// list, an upload that is not multipart.
#[tokio::test]
async fn the_object_transport_s_refusals() {
    let app = TestApp::new().await;
    let mut owner = TestUser::sign_up(&app, "Owner").await;
    let writer = owner.token(&["streams:read", "streams:write"]).await;
    let stream = create_stream(&app, &writer, "Private", false).await;
    let mut other = TestUser::sign_up(&app, "Other").await;
    let stranger = other.token(&["streams:read", "streams:write"]).await;
    let dead = format!("spk_{}", "0".repeat(36));
    let cases: Vec<(&str, Request<Body>)> = vec![
        ("no token", Request::get(format!("/objects/{stream}/abc")).body(Body::empty()).unwrap()),
        ("a dead token", bearer(Request::get(format!("/objects/{stream}/abc")), &dead, Body::empty())),
        (
            "someone else's stream",
            bearer(Request::get(format!("/objects/{stream}/abc")), &stranger, Body::empty()),
        ),
        ("no such stream", bearer(Request::get("/objects/0000000000000000/abc"), &writer, Body::empty())),
        (
            "a malformed id list",
            bearer(
                Request::post(format!("/api/getobjects/{stream}"))
                    .header(header::CONTENT_TYPE, "application/json"),
                &writer,
                Body::from("{\"objects\": [1, 2"),
            ),
        ),
        (
            "an upload that is not multipart",
            bearer(
                Request::post(format!("/objects/{stream}")).header(header::CONTENT_TYPE, "application/json"),
                &writer,
                Body::from("[]"),
            ),
        ),
    ];
    let mut seen = String::new();
    for (case, request) in cases {
        let line = format!("{} {}", request.method(), request.uri().path().replace(&stream, "{stream}"));
        let response = app.send(request).await;
        seen.push_str(&format!(
            "# {case}: {line}\nstatus: {}\ncontent-type: {}\n{}\n\n",
            response.status,
            response.header("content-type"),
            response.body
        ));
    }
    insta::assert_snapshot!(seen);
}

fn bearer(request: axum::http::request::Builder, token: &str, body: Body) -> Request<Body> {
    request.header(header::AUTHORIZATION, format!("Bearer {token}")).body(body).unwrap()
}
