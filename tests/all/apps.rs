//! Apps (SPEC §11) as Speckle's clients and a standard OAuth client use them: Speckle's SDK
//! fixtures' seeding, `/auth/token` (codes, refreshes, reuse), the .NET S256 variant, the
//! standard token endpoint, revocation and sign-out; and what the person keeps of it.

use axum::body::Body;
use axum::http::{header, Request, StatusCode};
use serde_json::{json, Value};
use speckle_tokens::server::domain::activity::Seen;
use speckle_tokens::server::domain::apps::{self, pkce, CodeRequest};

use crate::common::*;

/// `POST path` with a JSON body, from the default client.
pub(crate) async fn post_json(app: &TestApp, path: &str, body: Value) -> TestResponse {
    let request = Request::post(path)
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::from(body.to_string()));
    app.send(from_client(request.unwrap(), DEFAULT_CLIENT)).await
}

/// `POST path` with a form body, and an `Authorization` header if given.
pub(crate) async fn post_form(
    app: &TestApp,
    path: &str,
    form: &[(&str, &str)],
    authorization: Option<&str>,
) -> TestResponse {
    let mut request = Request::post(path).header(header::CONTENT_TYPE, "application/x-www-form-urlencoded");
    if let Some(value) = authorization {
        request = request.header(header::AUTHORIZATION, value);
    }
    let body = serde_urlencoded::to_string(form).unwrap();
    app.send(from_client(request.body(Body::from(body)).unwrap(), DEFAULT_CLIENT)).await
}

/// The `access_code` of a 302's `Location`, as the SDK fixtures read it.
fn access_code(response: &TestResponse) -> String {
    assert_eq!(response.status, StatusCode::FOUND, "{}", response.body);
    let location = url::Url::parse(response.header("location")).unwrap();
    location.query_pairs().find(|(name, _)| name == "access_code").map(|(_, code)| code.into_owned()).unwrap()
}

/// specklepy's `seed_user`: a form to `/auth/local/register?challenge=pyspeckletests`.
async fn register_as_specklepy(app: &TestApp, email: &str) -> String {
    let form = [
        ("email", email),
        ("password", "$uper$3cr3tP@ss"),
        ("name", "Seeded Name"),
        ("company", "test spockle"),
    ];
    let response = post_form(app, "/auth/local/register?challenge=pyspeckletests", &form, None).await;
    access_code(&response)
}

/// The web app's code exchange, as the SDK fixtures send it.
async fn exchange(app: &TestApp, code: &str, challenge: &str) -> TestResponse {
    let body = json!({ "appSecret": "spklwebapp", "appId": "spklwebapp", "accessCode": code, "challenge": challenge });
    post_json(app, "/auth/token", body).await
}

async fn refresh(app: &TestApp, refresh_token: &str) -> TestResponse {
    let body = json!({ "appId": "spklwebapp", "appSecret": "spklwebapp", "refreshToken": refresh_token });
    post_json(app, "/auth/token", body).await
}

/// Whether the token acts for someone: their id.
pub(crate) async fn acts_for(app: &TestApp, token: &str) -> Option<String> {
    let answer = app.graphql(token, "{ activeUser { id } }").await;
    (answer.status == StatusCode::OK)
        .then(|| answer.json()["data"]["activeUser"]["id"].as_str().map(str::to_owned))
        .flatten()
}

/// `{token, refreshToken}` and nothing else (Speckle's .NET SDK refuses any other key).
pub(crate) fn speckle_pair(response: &TestResponse) -> (String, String) {
    assert_eq!(response.status, StatusCode::OK, "{}", response.body);
    assert_eq!(response.header("cache-control"), "no-store");
    let body = response.json();
    let keys: Vec<&String> = body.as_object().unwrap().keys().collect();
    assert_eq!(keys, ["refreshToken", "token"], "{body}");
    let token = body["token"].as_str().unwrap().to_owned();
    let refresh = body["refreshToken"].as_str().unwrap().to_owned();
    assert!(token.starts_with("spko_") && refresh.starts_with("spkr_"), "{body}");
    (token, refresh)
}

#[tokio::test]
async fn the_sdk_fixtures_seed_a_user_and_get_working_tokens_for_the_web_app() {
    let app = TestApp::new().await;
    let code = register_as_specklepy(&app, "seeded@example.org").await;
    let (token, _) = speckle_pair(&exchange(&app, &code, "pyspeckletests").await);
    let me = app.gql(Some(&token), "{ activeUser { name email company } }").await;
    assert_eq!(
        me["data"]["activeUser"],
        json!({ "name": "Seeded Name", "email": "seeded@example.org", "company": "test spockle" })
    );
    // The access token carries SPEC §8's headers, and lives an hour.
    let answer = app.graphql(&token, "{ activeUser { id } }").await;
    assert!(answer.header("x-oauth-scopes").contains("streams:write"), "{:?}", answer.headers);
    let expires = time::OffsetDateTime::parse(
        answer.header("token-expiration"),
        &time::format_description::well_known::Rfc3339,
    )
    .unwrap();
    let lives = expires.unix_timestamp() * 1000 - app.now();
    assert!((3_590_000..=3_600_000).contains(&lives), "{lives}");
    app.advance(std::time::Duration::from_secs(3601));
    assert_eq!(acts_for(&app, &token).await, None, "an hour later the access token is dead");

    // The .NET fixture: JSON, another challenge; and signing in again gives another code.
    let body = json!({ "email": "seeded@example.org", "password": "$uper$3cr3tP@ss" });
    let login = post_json(&app, "/auth/local/login?challenge=challengingchallenge", body).await;
    assert!(!login.header("location").contains("register=true"));
    let (token, _) = speckle_pair(&exchange(&app, &access_code(&login), "challengingchallenge").await);
    assert!(acts_for(&app, &token).await.is_some());
}

#[tokio::test]
async fn a_code_is_single_use_its_replay_ends_what_it_gave_and_a_wrong_challenge_changes_nothing() {
    let app = TestApp::new().await;
    let code = register_as_specklepy(&app, "replay@example.org").await;
    let wrong = exchange(&app, &code, "another challenge").await;
    assert_eq!(wrong.status, StatusCode::UNAUTHORIZED);
    assert!(wrong.json()["err"].as_str().unwrap().contains("challenge"), "{}", wrong.body);
    let (token, refresh_token) = speckle_pair(&exchange(&app, &code, "pyspeckletests").await);
    assert!(acts_for(&app, &token).await.is_some());
    let replay = exchange(&app, &code, "pyspeckletests").await;
    assert_eq!(replay.status, StatusCode::UNAUTHORIZED, "{}", replay.body);
    assert_eq!(acts_for(&app, &token).await, None, "the replay revoked the access token it had issued");
    assert_eq!(refresh(&app, &refresh_token).await.status, StatusCode::UNAUTHORIZED);

    let late = register_as_specklepy(&app, "late@example.org").await;
    app.advance(std::time::Duration::from_secs(61));
    assert_eq!(
        exchange(&app, &late, "pyspeckletests").await.status,
        StatusCode::UNAUTHORIZED,
        "a code lasts a minute"
    );

    let fresh = register_as_specklepy(&app, "secret@example.org").await;
    let body = json!({ "appSecret": "wrong", "appId": "spklwebapp", "accessCode": fresh, "challenge": "pyspeckletests" });
    assert_eq!(post_json(&app, "/auth/token", body).await.status, StatusCode::UNAUTHORIZED);
    let body = json!({ "appSecret": "explorer", "appId": "explorer", "accessCode": fresh, "challenge": "pyspeckletests" });
    assert_eq!(
        post_json(&app, "/auth/token", body).await.status,
        StatusCode::UNAUTHORIZED,
        "another app's code"
    );
    speckle_pair(&exchange(&app, &fresh, "pyspeckletests").await);
}

#[tokio::test]
async fn a_refresh_ends_the_pair_it_replaces_and_a_reused_refresh_token_ends_the_grant() {
    let app = TestApp::new().await;
    let code = register_as_specklepy(&app, "refresh@example.org").await;
    let (first, first_refresh) = speckle_pair(&exchange(&app, &code, "pyspeckletests").await);
    let (second, second_refresh) = speckle_pair(&refresh(&app, &first_refresh).await);
    assert_eq!(acts_for(&app, &first).await, None, "the refresh ended the old access token");
    assert!(acts_for(&app, &second).await.is_some());
    let reuse = refresh(&app, &first_refresh).await;
    assert_eq!(reuse.status, StatusCode::UNAUTHORIZED, "{}", reuse.body);
    assert_eq!(acts_for(&app, &second).await, None, "the reuse ended the whole grant");
    assert_eq!(refresh(&app, &second_refresh).await.status, StatusCode::UNAUTHORIZED);
    let reason: Vec<(Option<String>,)> = reasons(&app).await;
    assert!(
        reason.iter().any(|(why,)| why.as_deref().is_some_and(|why| why.contains("second time"))),
        "{reason:?}"
    );
    // Speckle's .NET SDK leaves out a null refresh token: then it is a code exchange, refused.
    let body = json!({ "appId": "spklwebapp", "appSecret": "spklwebapp" });
    assert_eq!(post_json(&app, "/auth/token", body).await.status, StatusCode::UNAUTHORIZED);
}

async fn reasons(app: &TestApp) -> Vec<(Option<String>,)> {
    use diesel::prelude::*;
    use speckle_tokens::server::db::schema::app_grants;
    let mut conn = app.state.db.get().await.unwrap();
    speckle_tokens::db_run!(&mut conn, |c| {
        diesel_async::RunQueryDsl::load(app_grants::table.select((app_grants::revoked_reason,)), c).await
    })
    .unwrap()
}

#[tokio::test]
async fn of_two_refreshes_racing_with_one_refresh_token_exactly_one_succeeds() {
    let app = TestApp::new().await;
    let code = register_as_specklepy(&app, "race@example.org").await;
    let (_, refresh_token) = speckle_pair(&exchange(&app, &code, "pyspeckletests").await);
    let answers: Vec<TestResponse> =
        futures::future::join_all((0..4).map(|_| refresh(&app, &refresh_token))).await;
    let won = answers.iter().filter(|answer| answer.status == StatusCode::OK).count();
    assert_eq!(won, 1, "{:?}", answers.iter().map(|a| (a.status, a.body.clone())).collect::<Vec<_>>());
    let refused = answers.iter().filter(|answer| answer.status == StatusCode::UNAUTHORIZED).count();
    assert_eq!(refused, 3, "the others are refused as reuses, not failed");
    let winner = answers.iter().find(|answer| answer.status == StatusCode::OK).unwrap();
    let (token, _) = speckle_pair(winner);
    assert_eq!(acts_for(&app, &token).await, None, "the losers were reuses: the grant ended");
}

#[tokio::test]
async fn the_password_sign_ins_refuse_as_speckle_does() {
    let app = TestApp::new().await;
    let form = [("email", "nochallenge@example.org"), ("password", PASSWORD), ("name", "No Challenge")];
    let response = post_form(&app, "/auth/local/register", &form, None).await;
    assert_eq!(response.status, StatusCode::BAD_REQUEST);
    assert_eq!(response.body, "Invalid request: no challenge detected.");
    register_as_specklepy(&app, "known@example.org").await;
    let wrong = post_json(
        &app,
        "/auth/local/login?challenge=c",
        json!({ "email": "known@example.org", "password": "wrong password" }),
    )
    .await;
    assert_eq!(wrong.status, StatusCode::UNAUTHORIZED);
    assert_eq!(wrong.json()["err"], true);
    let taken = post_form(
        &app,
        "/auth/local/register?challenge=c",
        &[("email", "known@example.org"), ("password", PASSWORD), ("name", "Again")],
        None,
    )
    .await;
    assert_eq!(taken.status, StatusCode::BAD_REQUEST, "{}", taken.body);
    assert!(taken.headers.get(header::LOCATION).is_none());
}

/// A code for `app_id` as the consent page gives it, made with an S256 challenge.
pub(crate) async fn s256_code(app: &TestApp, app_id: &str, user_id: &str, verifier: &str) -> String {
    let mut conn = app.state.db.get().await.unwrap();
    let found = apps::find(&mut conn, app_id).await.unwrap().unwrap();
    let challenge = pkce::Challenge::new(pkce::Method::S256, &pkce::s256(verifier)).unwrap();
    let scopes = speckle_tokens::rules::scopes::ScopeSet::from_names(&found.scopes).unwrap();
    let request = CodeRequest { scopes, challenge, redirect_uri: None };
    let code = apps::approve(&mut conn, &found, &user_id.to_owned().into(), request, &Seen::default())
        .await
        .unwrap();
    code.expose_secret().to_owned()
}

const VERIFIER: &str = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";

#[tokio::test]
async fn speckles_dotnet_auth_flow_takes_s256_when_the_probe_answers_200() {
    let app = TestApp::new().await;
    let user = TestUser::sign_up(&app, "Dotnet").await;
    let probe = app.send(Request::get("/oauth/token").body(Body::empty()).unwrap()).await;
    assert_eq!(probe.status, StatusCode::OK);
    let code = s256_code(&app, "connectrV3", &user.id, VERIFIER).await;
    let wrong = post_json(
        &app,
        "/oauth/token",
        json!({ "appId": "connectrV3", "accessCode": code, "codeVerifier": "x".repeat(43) }),
    )
    .await;
    assert_eq!(wrong.status, StatusCode::UNAUTHORIZED);
    let answer = post_json(
        &app,
        "/oauth/token",
        json!({ "appId": "connectrV3", "accessCode": code, "codeVerifier": VERIFIER }),
    )
    .await;
    let (token, _) = speckle_pair(&answer);
    assert_eq!(acts_for(&app, &token).await.as_deref(), Some(user.id.as_str()));
    // A plain code is not taken where S256 is required.
    let plain = register_as_specklepy(&app, "plain@example.org").await;
    let answer = post_json(
        &app,
        "/oauth/token",
        json!({ "appId": "spklwebapp", "accessCode": plain, "codeVerifier": "pyspeckletests" }),
    )
    .await;
    assert_eq!(answer.status, StatusCode::UNAUTHORIZED, "{}", answer.body);
}

#[tokio::test]
async fn the_standard_token_endpoint_exchanges_refreshes_and_revokes() {
    let app = TestApp::new().await;
    let user = TestUser::sign_up(&app, "Standard").await;
    let code = s256_code(&app, "sca", &user.id, VERIFIER).await;
    let form = [
        ("grant_type", "authorization_code"),
        ("code", &code),
        ("code_verifier", VERIFIER),
        ("client_id", "sca"),
    ];
    let answer = post_form(&app, "/oauth/token", &form, None).await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.body);
    assert_eq!(answer.header("cache-control"), "no-store");
    let body = answer.json();
    assert_eq!(body["token_type"], "Bearer");
    assert_eq!(body["expires_in"], 3600);
    assert!(body["scope"].as_str().unwrap().split(' ').any(|scope| scope == "streams:read"), "{body}");
    let access = body["access_token"].as_str().unwrap().to_owned();
    let refresh_token = body["refresh_token"].as_str().unwrap().to_owned();
    assert_eq!(acts_for(&app, &access).await.as_deref(), Some(user.id.as_str()));

    let replay = post_form(&app, "/oauth/token", &form, None).await;
    assert_eq!(
        (replay.status, replay.json()["error"].clone()),
        (StatusCode::BAD_REQUEST, json!("invalid_grant"))
    );
    assert_eq!(acts_for(&app, &access).await, None, "the replay ended what the code gave");

    let code = s256_code(&app, "sca", &user.id, VERIFIER).await;
    let form = [
        ("grant_type", "authorization_code"),
        ("code", &code),
        ("code_verifier", VERIFIER),
        ("client_id", "sca"),
    ];
    let body = post_form(&app, "/oauth/token", &form, None).await.json();
    let refresh_token_2 = body["refresh_token"].as_str().unwrap().to_owned();
    assert_ne!(refresh_token, refresh_token_2);
    let wider = [
        ("grant_type", "refresh_token"),
        ("refresh_token", &refresh_token_2),
        ("client_id", "sca"),
        ("scope", "tokens:write"),
    ];
    let refused = post_form(&app, "/oauth/token", &wider, None).await;
    assert_eq!(refused.json()["error"], "invalid_scope");
    let form = [("grant_type", "refresh_token"), ("refresh_token", &refresh_token_2), ("client_id", "sca")];
    let body = post_form(&app, "/oauth/token", &form, None).await.json();
    let access = body["access_token"].as_str().unwrap().to_owned();
    let refresh_token_3 = body["refresh_token"].as_str().unwrap().to_owned();
    assert!(acts_for(&app, &access).await.is_some());

    // Another app cannot give it back; its own app can (RFC 7009), and then it is dead.
    let other = post_form(&app, "/oauth/revoke", &[("token", &access), ("client_id", "sdas")], None).await;
    assert_eq!(other.status, StatusCode::OK);
    assert!(acts_for(&app, &access).await.is_some());
    let own = post_form(&app, "/oauth/revoke", &[("token", &access), ("client_id", "sca")], None).await;
    assert_eq!(own.status, StatusCode::OK);
    assert_eq!(acts_for(&app, &access).await, None);
    // Revoking a refresh token ends its grant.
    let form = [("grant_type", "refresh_token"), ("refresh_token", &refresh_token_3), ("client_id", "sca")];
    assert_eq!(post_form(&app, "/oauth/token", &form, None).await.status, StatusCode::BAD_REQUEST);

    let unknown =
        post_form(&app, "/oauth/token", &[("grant_type", "password"), ("client_id", "sca")], None).await;
    assert_eq!(unknown.json()["error"], "unsupported_grant_type");
    let nobody =
        post_form(&app, "/oauth/token", &[("grant_type", "refresh_token"), ("client_id", "nope")], None)
            .await;
    assert_eq!(
        (nobody.status, nobody.json()["error"].clone()),
        (StatusCode::UNAUTHORIZED, json!("invalid_client"))
    );
    let basic =
        format!("Basic {}", base64::Engine::encode(&base64::engine::general_purpose::STANDARD, "sca:wrong"));
    let refused = post_form(&app, "/oauth/token", &[("grant_type", "refresh_token")], Some(&basic)).await;
    assert_eq!(refused.status, StatusCode::UNAUTHORIZED);
    assert!(refused.header("www-authenticate").starts_with("Basic"));
}

#[tokio::test]
async fn app_tokens_stay_out_of_the_personal_list_and_logout_ends_them() {
    let app = TestApp::new().await;
    let code = register_as_specklepy(&app, "listed@example.org").await;
    let (token, refresh_token) = speckle_pair(&exchange(&app, &code, "pyspeckletests").await);
    let tokens = app.gql(Some(&token), "{ activeUser { id } }").await;
    assert!(tokens["errors"].is_null(), "{tokens}");
    let listed = app.gql(Some(&token), "{ activeUser { apiTokens { id name } } }").await;
    assert_eq!(listed["data"]["activeUser"]["apiTokens"], json!([]), "{listed}");
    let out = post_json(&app, "/auth/logout", json!({ "token": token, "refreshToken": refresh_token })).await;
    assert_eq!((out.status, out.json()), (StatusCode::OK, json!({ "message": "You have logged out." })));
    assert_eq!(acts_for(&app, &token).await, None);
    assert_eq!(refresh(&app, &refresh_token).await.status, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn the_metadata_document_names_the_endpoints() {
    let app = TestApp::new().await;
    let request =
        Request::get("/.well-known/oauth-authorization-server").header(header::HOST, "tokens.example");
    let body = app.send(request.body(Body::empty()).unwrap()).await.json();
    assert_eq!(body["issuer"], "http://tokens.example");
    assert_eq!(body["token_endpoint"], "http://tokens.example/oauth/token");
    assert_eq!(body["code_challenge_methods_supported"], json!(["S256"]));
}

#[tokio::test]
async fn a_grant_unused_for_90_days_ends_and_the_app_must_ask_again() {
    use speckle_tokens::server::domain::lifecycle::tick;
    let app = TestApp::new().await;
    let code = register_as_specklepy(&app, "idle@example.org").await;
    let (_, refresh_token) = speckle_pair(&exchange(&app, &code, "pyspeckletests").await);
    let day = std::time::Duration::from_secs(86_400);
    app.advance(day * 89);
    assert_eq!(tick(&app.state.db, None, app.now()).await.unwrap().grants_expired, 0);
    // Used on day 89: the 90 days start again.
    let (_, refresh_token) = speckle_pair(&refresh(&app, &refresh_token).await);
    app.advance(day * 89);
    assert_eq!(tick(&app.state.db, None, app.now()).await.unwrap().grants_expired, 0);
    app.advance(day * 2);
    assert_eq!(tick(&app.state.db, None, app.now()).await.unwrap().grants_expired, 1);
    assert_eq!(refresh(&app, &refresh_token).await.status, StatusCode::UNAUTHORIZED);
    let reason = reasons(&app).await;
    assert!(
        reason.iter().any(|(why,)| why.as_deref().is_some_and(|why| why.contains("unused for 90 days"))),
        "{reason:?}"
    );
    assert_eq!(tick(&app.state.db, None, app.now()).await.unwrap().grants_expired, 0, "once");
}
