//! Speckle's own app flow (SPEC §11), for Speckle's clients and their SDKs' test fixtures:
//! `POST /auth/local/register|login?challenge=` (a password sign-in that is the consent for
//! Speckle's web app, answered with a 302 carrying `access_code`), `POST /auth/token` (a code
//! or a refresh token for `{"token", "refreshToken"}`, nothing else: Speckle's .NET SDK
//! refuses any other key), the S256 variant of Speckle's .NET `AuthFlow` (`GET /oauth/token`
//! answers 200; JSON to `POST /oauth/token`), and `POST /auth/logout`. Every rule is the
//! grants' (`domain::apps`); this door only speaks Speckle's shapes. No session is read or
//! made here, so no cross-site form can sign anyone in.

use axum::body::Bytes;
use axum::extract::{Query, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Json, Router};
use serde::de::DeserializeOwned;
use serde::Deserialize;
use serde_json::json;

use crate::rules::error::{AppError, AppResult};
use crate::server::auth::throttle::client_ip;
use crate::server::domain::activity::Seen;
use crate::server::domain::apps::pkce::{Challenge, Method};
use crate::server::domain::apps::{self, Client, CodeRequest, GrantError, Pair, Refusal};
use crate::server::domain::tokens::PlainToken;
use crate::server::domain::users;
use crate::server::passwords;
use crate::server::state::AppState;

/// The routes, outside the pages (no session, no CSRF: nothing here reads a cookie).
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/auth/local/register", post(register))
        .route("/auth/local/login", post(login))
        .route("/auth/token", post(token))
        .route("/auth/logout", post(logout))
}

/// `?challenge=` of the password sign-ins.
#[derive(Deserialize)]
struct ChallengeQuery {
    challenge: Option<String>,
}

/// The password sign-ins' fields, from a form or JSON.
#[derive(Deserialize)]
struct Credentials {
    #[serde(default)]
    email: String,
    #[serde(default)]
    password: String,
    name: Option<String>,
    company: Option<String>,
}

/// A body as Speckle's clients send it: JSON, or a form.
fn fields<T: DeserializeOwned>(headers: &HeaderMap, body: &Bytes) -> AppResult<T> {
    let parsed = match is_json(headers) {
        true => serde_json::from_slice(body).map_err(|error| error.to_string()),
        false => serde_urlencoded::from_bytes(body).map_err(|error| error.to_string()),
    };
    parsed.map_err(|error| crate::rules::error::bad_input(format!("The body could not be read: {error}")))
}

/// Whether the body is JSON (else it is read as a form).
pub fn is_json(headers: &HeaderMap) -> bool {
    crate::server::media::content_type(headers).as_deref() == Some("application/json")
}

/// The plain challenge a password sign-in names, as Speckle requires one.
fn plain_challenge(query: &ChallengeQuery) -> Result<Challenge, Box<Response>> {
    let refused =
        || Box::new((StatusCode::BAD_REQUEST, "Invalid request: no challenge detected.").into_response());
    let challenge = query.challenge.as_deref().ok_or_else(refused)?;
    Challenge::new(Method::Plain, challenge).map_err(|error| Box::new(error.into_response()))
}

/// `POST /auth/local/register?challenge=C`: makes the account (the sign-up page's rules and
/// throttles), then answers as Speckle does: 302 to the web app with `access_code` and
/// `register=true`.
async fn register(
    State(state): State<AppState>,
    Query(query): Query<ChallengeQuery>,
    parts: axum::http::request::Parts,
    body: Bytes,
) -> Response {
    let challenge = match plain_challenge(&query) {
        Ok(challenge) => challenge,
        Err(refusal) => return *refusal,
    };
    let made = async {
        let credentials: Credentials = fields(&parts.headers, &body)?;
        let name = credentials.name.as_deref().unwrap_or_default();
        let ip = client_ip(&parts.extensions);
        let user =
            passwords::sign_up(&state, ip, name, &credentials.email, credentials.password.into()).await?;
        if let Some(company) = credentials.company.filter(|company| !company.trim().is_empty()) {
            let update = users::ProfileUpdate { company: Some(company), ..Default::default() };
            if let Err(error) = users::update_profile(&mut state.db.get().await?, &user.id, update).await {
                tracing::info!(user_id = %user.id, %error, "the company given at sign-up was not kept");
            }
        }
        Ok::<_, AppError>(user)
    }
    .await;
    match made {
        Ok(user) => signed_in(&state, &parts, &user.id, challenge, true).await,
        Err(error) => error.into_response(),
    }
}

/// `POST /auth/local/login?challenge=C`: the sign-in page's check and throttles; a wrong
/// password is Speckle's 401.
async fn login(
    State(state): State<AppState>,
    Query(query): Query<ChallengeQuery>,
    parts: axum::http::request::Parts,
    body: Bytes,
) -> Response {
    let challenge = match plain_challenge(&query) {
        Ok(challenge) => challenge,
        Err(refusal) => return *refusal,
    };
    let credentials: Credentials = match fields(&parts.headers, &body) {
        Ok(credentials) => credentials,
        Err(error) => return error.into_response(),
    };
    let ip = client_ip(&parts.extensions);
    match passwords::sign_in(&state, ip, None, &credentials.email, credentials.password.into()).await {
        Ok(signed) => {
            passwords::record_sign_in(&state, &signed.user.id, &Seen::of(&parts)).await;
            signed_in(&state, &parts, &signed.user.id, challenge, false).await
        }
        Err(AppError::BadInput(message)) => {
            (StatusCode::UNAUTHORIZED, Json(json!({ "err": true, "message": message }))).into_response()
        }
        Err(error) => error.into_response(),
    }
}

/// A password sign-in is the consent for Speckle's web app (SPEC §11): a code for it, and
/// the 302 to its redirect URL that Speckle's SDK fixtures read the code from.
async fn signed_in(
    state: &AppState,
    parts: &axum::http::request::Parts,
    user_id: &crate::server::db::UserId,
    challenge: Challenge,
    registered: bool,
) -> Response {
    let issued = async {
        let mut conn = state.db.get().await?;
        let app = apps::find(&mut conn, apps::WEB_APP).await?.ok_or(AppError::Internal)?;
        let scopes = crate::rules::scopes::ScopeSet::from_names(&app.scopes).unwrap_or_default();
        let request = CodeRequest { scopes, challenge, redirect_uri: None };
        let code = apps::approve(&mut conn, &app, user_id, request, &Seen::of(parts)).await?;
        Ok::<_, AppError>((app, code))
    }
    .await;
    let (app, code) = match issued {
        Ok(issued) => issued,
        Err(error) => return error.into_response(),
    };
    let registered_url = app.redirects().next().unwrap_or("/");
    let mut query = vec![("access_code", code.expose_secret())];
    if registered {
        query.push(("register", "true"));
    }
    redirect_with(&apps::resolve_redirect(registered_url, &state.origin(&parts.headers)), &query)
}

/// A 302 to `url` with `pairs` added to its query.
fn redirect_with(url: &str, pairs: &[(&str, &str)]) -> Response {
    let Some(url) = apps::with_query(url, pairs) else { return AppError::Internal.into_response() };
    match HeaderValue::from_str(&url) {
        Ok(location) => (StatusCode::FOUND, no_store(), [(header::LOCATION, location)]).into_response(),
        Err(_) => AppError::Internal.into_response(),
    }
}

/// What every answer carrying a secret says to caches (RFC 6749 §5.1).
pub fn no_store() -> [(header::HeaderName, HeaderValue); 2] {
    [
        (header::CACHE_CONTROL, HeaderValue::from_static("no-store")),
        (header::PRAGMA, HeaderValue::from_static("no-cache")),
    ]
}

/// `POST /auth/token`'s fields (Speckle's names).
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct TokenRequest {
    app_id: Option<String>,
    app_secret: Option<String>,
    access_code: Option<String>,
    challenge: Option<String>,
    code_verifier: Option<String>,
    refresh_token: Option<String>,
}

/// Speckle's refusal of a token request: 401 `{"err": …}`.
fn speckle_refusal(message: &str) -> Response {
    (StatusCode::UNAUTHORIZED, no_store(), Json(json!({ "err": message }))).into_response()
}

fn speckle_error(error: GrantError) -> Response {
    match error {
        GrantError::Refused(refusal) => speckle_refusal(refusal.description()),
        GrantError::Failed(error) => error.into_response(),
    }
}

/// Exactly `{"token", "refreshToken"}`, never cached.
fn speckle_pair(pair: Pair) -> Response {
    let body = json!({ "token": pair.access.expose_secret(), "refreshToken": pair.refresh.expose_secret() });
    (StatusCode::OK, no_store(), Json(body)).into_response()
}

/// `POST /auth/token`: with `refreshToken` (present at all), a refresh; else a code with
/// its plain `challenge`. The app's secret is always required, as Speckle requires it.
async fn token(State(state): State<AppState>, headers: HeaderMap, body: Bytes) -> Response {
    let request: TokenRequest = match fields(&headers, &body) {
        Ok(request) => request,
        Err(_) => return speckle_refusal("Invalid request: the body could not be read."),
    };
    let Some(app_id) = request.app_id.as_deref().filter(|id| !id.is_empty()) else {
        return speckle_refusal("Invalid request, insufficient information provided. App Id is required.");
    };
    let Some(secret) = request.app_secret.as_deref().filter(|secret| !secret.is_empty()) else {
        return speckle_refusal(
            "Invalid request, insufficient information provided. App Secret is required.",
        );
    };
    let answered = async {
        let mut conn = state.db.get().await?;
        let app = apps::authenticate_client(&mut conn, Client { id: app_id, secret: Some(secret) }).await?;
        if let Some(refresh) = request.refresh_token.as_deref() {
            let Ok(refresh) = PlainToken::parse(refresh.trim()) else {
                return Err(Refusal::InvalidGrant("A valid refresh token is required.").into());
            };
            return apps::refresh(&mut conn, &app, &refresh, &Seen::default()).await;
        }
        let (Some(code), Some(challenge)) = (request.access_code.as_deref(), request.challenge.as_deref())
        else {
            return Err(Refusal::InvalidGrant(
                "Invalid request, insufficient information provided. Access Code and Challenge are required.",
            )
            .into());
        };
        apps::exchange_code(&mut conn, &app, code, challenge, None, None).await
    }
    .await;
    match answered {
        Ok(pair) => speckle_pair(pair),
        Err(error) => speckle_error(error),
    }
}

/// The S256 variant of Speckle's .NET `AuthFlow`: JSON `{appId, accessCode, codeVerifier}`
/// to `POST /oauth/token`, no secret (the verifier is the proof), answered as `/auth/token`.
pub async fn speckle_s256_token(state: &AppState, headers: &HeaderMap, body: &Bytes) -> Response {
    let request: TokenRequest = match fields(headers, body) {
        Ok(request) => request,
        Err(_) => return speckle_refusal("Invalid request: the body could not be read."),
    };
    let (Some(app_id), Some(code), Some(verifier)) =
        (request.app_id.as_deref(), request.access_code.as_deref(), request.code_verifier.as_deref())
    else {
        return speckle_refusal("Invalid request: appId, accessCode and codeVerifier are required.");
    };
    let answered = async {
        let mut conn = state.db.get().await?;
        let client = Client { id: app_id, secret: request.app_secret.as_deref() };
        let app = apps::authenticate_client(&mut conn, client).await?;
        apps::exchange_code(&mut conn, &app, code, verifier, None, Some(Method::S256)).await
    }
    .await;
    match answered {
        Ok(pair) => speckle_pair(pair),
        Err(error) => speckle_error(error),
    }
}

/// `POST /auth/logout {token, refreshToken}`: the app signs out; its sign-in ends (and, given
/// the refresh token, its grant: SPEC §11). Unknown tokens are no error.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct LogoutRequest {
    token: Option<String>,
    refresh_token: Option<String>,
}

async fn logout(State(state): State<AppState>, parts: axum::http::request::Parts, body: Bytes) -> Response {
    let request: LogoutRequest = match fields(&parts.headers, &body) {
        Ok(request) => request,
        Err(error) => return error.into_response(),
    };
    let Some(token) = request.token.as_deref().and_then(|token| PlainToken::parse(token.trim()).ok()) else {
        return (StatusCode::BAD_REQUEST, "Something went wrong while trying to logout.").into_response();
    };
    let seen = Seen::of(&parts);
    let done = async {
        let mut conn = state.db.get().await?;
        let given = std::iter::once(token)
            .chain(request.refresh_token.and_then(|t| PlainToken::parse(t.trim()).ok()));
        for token in given {
            apps::give_back(&mut conn, None, &token, &seen).await?;
        }
        Ok::<_, AppError>(())
    }
    .await;
    match done {
        Ok(()) => Json(json!({ "message": "You have logged out." })).into_response(),
        Err(error) => error.into_response(),
    }
}
