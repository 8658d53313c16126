//! Apps through the API (SPEC §11): registered with `appCreate`, a secret answered once by
//! `appRegenerateSecret`, listed as created and authorized, narrowed, revoked and deleted,
//! each ending the tokens it must.

use axum::http::StatusCode;
use serde_json::{json, Value};

use crate::apps::{acts_for, post_form, s256_code};
use crate::common::*;

const VERIFIER: &str = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";

fn create(name: &str, scopes: &str) -> String {
    format!(
        r#"mutation {{ appCreate(app: {{ name: "{name}", description: "Reads models", redirectUrl: "https://checker.example/cb", scopes: [{scopes}] }}) }}"#
    )
}

/// Tokens for `user` from the app, through the standard endpoint with its client secret.
async fn tokens(app: &TestApp, client_id: &str, secret: &str, user_id: &str) -> TestResponse {
    let code = s256_code(app, client_id, user_id, VERIFIER).await;
    let form = [
        ("grant_type", "authorization_code"),
        ("code", code.as_str()),
        ("code_verifier", VERIFIER),
        ("client_id", client_id),
        ("client_secret", secret),
    ];
    post_form(app, "/oauth/token", &form, None).await
}

#[tokio::test]
async fn an_app_registered_through_the_api_lives_and_dies_with_its_grants() {
    let app = TestApp::new().await;
    let mut author = TestUser::sign_up(&app, "Author").await;
    let mut user = TestUser::sign_up(&app, "User").await;
    let token = author.token(&["apps:read", "apps:write", "profile:read"]).await;

    let made = app.gql(Some(&token), &create("Checker", r#""streams:read", "profile:read""#)).await;
    let id = made["data"]["appCreate"].as_str().unwrap_or_else(|| panic!("{made}")).to_owned();
    let unknown = app.gql(Some(&token), &create("Bad", r#""streams:fly""#)).await;
    assert_eq!(outcome(&unknown), "BAD_USER_INPUT", "{unknown}");

    let shown = app
        .gql(
            None,
            &format!(r#"{{ app(id: "{id}") {{ name secret public author {{ name }} scopes {{ name }} }} }}"#),
        )
        .await;
    assert_eq!(shown["data"]["app"]["name"], "Checker");
    assert_eq!(shown["data"]["app"]["secret"], Value::Null, "secrets are kept only as digests");
    assert_eq!(shown["data"]["app"]["public"], false);
    assert_eq!(shown["data"]["app"]["author"]["name"], "Author");

    let secret =
        app.gql(Some(&token), &format!(r#"mutation {{ appRegenerateSecret(appId: "{id}") }}"#)).await;
    let secret = secret["data"]["appRegenerateSecret"].as_str().unwrap().to_owned();
    assert!(secret.starts_with("spkcs_"), "{secret}");
    let wrong = tokens(&app, &id, "spkcs_wrong", &user.id).await;
    assert_eq!(wrong.status, StatusCode::UNAUTHORIZED, "{}", wrong.body);
    let pair = tokens(&app, &id, &secret, &user.id).await;
    assert_eq!(pair.status, StatusCode::OK, "{}", pair.body);
    let access = pair.json()["access_token"].as_str().unwrap().to_owned();
    assert_eq!(acts_for(&app, &access).await.as_deref(), Some(user.id.as_str()));

    let mine = app.gql(Some(&token), "{ activeUser { createdApps { id name public } } }").await;
    assert_eq!(
        mine["data"]["activeUser"]["createdApps"],
        json!([{ "id": id, "name": "Checker", "public": false }])
    );
    let user_token = user.token(&["apps:read", "apps:write", "profile:read"]).await;
    let theirs = app.gql(Some(&user_token), "{ activeUser { authorizedApps { id author { name } } } }").await;
    assert_eq!(
        theirs["data"]["activeUser"]["authorizedApps"],
        json!([{ "id": id, "author": { "name": "Author" } }])
    );

    // Another person can neither edit nor delete it.
    let foreign = app.gql(Some(&user_token), &format!(r#"mutation {{ appDelete(appId: "{id}") }}"#)).await;
    assert_eq!(outcome(&foreign), "NOT_FOUND", "{foreign}");

    // Renamed only: the grant lives on. Narrowed: it ends, and its token dies.
    let update = |scopes: &str| {
        format!(
            r#"mutation {{ appUpdate(app: {{ id: "{id}", name: "Checker 2", description: "d", redirectUrl: "https://checker.example/cb", scopes: [{scopes}] }}) }}"#
        )
    };
    assert_eq!(outcome(&app.gql(Some(&token), &update(r#""streams:read", "profile:read""#)).await), "OK");
    assert_eq!(acts_for(&app, &access).await.as_deref(), Some(user.id.as_str()));
    assert_eq!(outcome(&app.gql(Some(&token), &update(r#""streams:read""#)).await), "OK");
    assert_eq!(acts_for(&app, &access).await, None, "narrowing the app ended its grants");

    // The person revokes a new grant; then the author deletes the app, ending the next one.
    let access =
        tokens(&app, &id, &secret, &user.id).await.json()["access_token"].as_str().unwrap().to_owned();
    let revoked =
        app.gql(Some(&user_token), &format!(r#"mutation {{ appRevokeAccess(appId: "{id}") }}"#)).await;
    assert_eq!(revoked["data"]["appRevokeAccess"], true, "{revoked}");
    let gone = app.graphql(&access, "{ activeUser { id } }").await;
    assert_eq!(gone.status, StatusCode::UNAUTHORIZED);
    let access =
        tokens(&app, &id, &secret, &user.id).await.json()["access_token"].as_str().unwrap().to_owned();
    let deleted = app.gql(Some(&token), &format!(r#"mutation {{ appDelete(appId: "{id}") }}"#)).await;
    assert_eq!(deleted["data"]["appDelete"], true, "{deleted}");
    assert_eq!(app.graphql(&access, "{ activeUser { id } }").await.status, StatusCode::UNAUTHORIZED);
    let listed = app.gql(Some(&user_token), "{ activeUser { authorizedApps { id } } }").await;
    assert_eq!(listed["data"]["activeUser"]["authorizedApps"], json!([]));
}
