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
    let app = TestApp::new().await;
    insta::assert_snapshot!(Engine::new(app.state.db.clone()).schema.sdl());
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
