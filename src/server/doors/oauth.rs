//! Standard OAuth 2.1 for apps (SPEC §11; RFC 6749 with OAuth 2.1's rules): the token
//! endpoint (`POST /oauth/token`, form-encoded: a code with its S256 verifier, or a refresh
//! token; `client_secret_basic` or `client_secret_post` for confidential apps, none for
//! public ones), the device authorization grant (RFC 8628; the person answers on `/device`),
//! revocation (RFC 7009), introspection (RFC 7662) and the metadata document (RFC 8414). A JSON body to
//! `/oauth/token` is Speckle's .NET `AuthFlow`, answered in Speckle's shape. Every rule is the
//! grants' (`domain::apps`); this door speaks OAuth's shapes.

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use base64::Engine;
use serde::Deserialize;
use serde_json::json;

use super::speckle_auth::{is_json, no_store, speckle_s256_token};
use crate::rules::error::AppError;
use crate::rules::scopes::{Scope, ScopeSet};
use crate::server::domain::activity::Seen;
use crate::server::domain::apps::pkce::Method;
use crate::server::domain::apps::{self, Client, GrantError, Pair, Refusal};
use crate::server::domain::tokens::PlainToken;
use crate::server::state::AppState;

pub fn routes() -> Router<AppState> {
    Router::new()
        // Speckle's .NET SDK takes its S256 flow when this answers 200.
        .route("/oauth/token", get(token_probe).post(token))
        .route("/oauth/device_authorization", post(device_authorization))
        .route("/oauth/revoke", post(revoke))
        .route("/oauth/introspect", post(introspect))
        .route("/.well-known/oauth-authorization-server", get(metadata))
}

/// An OAuth error answer (RFC 6749 §5.2), or our own failure.
enum OAuthError {
    Refused {
        status: StatusCode,
        error: &'static str,
        description: String,
        /// The client authenticated with HTTP Basic: a refusal of it says so (§5.2).
        basic: bool,
    },
    Failed(AppError),
}

impl From<AppError> for OAuthError {
    fn from(error: AppError) -> Self {
        OAuthError::Failed(error)
    }
}

impl OAuthError {
    fn refused(status: StatusCode, error: &'static str, description: impl Into<String>, basic: bool) -> Self {
        OAuthError::Refused { status, error, description: description.into(), basic }
    }

    fn invalid_request(description: impl Into<String>) -> Self {
        OAuthError::refused(StatusCode::BAD_REQUEST, "invalid_request", description, false)
    }

    fn of(error: GrantError, basic: bool) -> Self {
        match error {
            GrantError::Refused(refusal) => {
                let status = match refusal {
                    Refusal::InvalidClient => StatusCode::UNAUTHORIZED,
                    _ => StatusCode::BAD_REQUEST,
                };
                OAuthError::refused(status, refusal.code(), refusal.description(), basic)
            }
            GrantError::Failed(error) => OAuthError::Failed(error),
        }
    }
}

impl IntoResponse for OAuthError {
    fn into_response(self) -> Response {
        let (status, error, description, basic) = match self {
            OAuthError::Refused { status, error, description, basic } => (status, error, description, basic),
            OAuthError::Failed(error) => return error.into_response(),
        };
        let body = Json(json!({ "error": error, "error_description": description }));
        let mut response = (status, no_store(), body).into_response();
        if status == StatusCode::UNAUTHORIZED {
            let scheme = if basic { "Basic realm=\"oauth\"" } else { "Bearer" };
            response.headers_mut().insert(header::WWW_AUTHENTICATE, HeaderValue::from_static(scheme));
        }
        response
    }
}

/// `GET /oauth/token`: Speckle's .NET SDK asks this to learn that S256 is spoken here.
async fn token_probe() -> Response {
    Json(json!({ "message": "POST a form here to get tokens (RFC 6749 §3.2); see /.well-known/oauth-authorization-server." }))
        .into_response()
}

/// The fields of a token, revocation or introspection request.
#[derive(Deserialize, Default)]
struct Form {
    grant_type: Option<String>,
    code: Option<String>,
    redirect_uri: Option<String>,
    code_verifier: Option<String>,
    refresh_token: Option<String>,
    scope: Option<String>,
    client_id: Option<String>,
    client_secret: Option<String>,
    token: Option<String>,
    /// RFC 7009 and 7662 let it be sent; every token says what it is by its prefix.
    #[expect(dead_code, reason = "accepted as the RFCs allow, not needed")]
    token_type_hint: Option<String>,
    device_code: Option<String>,
}

/// A form body; a field sent twice is refused (RFC 6749 §3.1).
fn form(body: &Bytes) -> Result<Form, OAuthError> {
    let pairs: Vec<(String, String)> = serde_urlencoded::from_bytes(body)
        .map_err(|_| OAuthError::invalid_request("The body must be application/x-www-form-urlencoded."))?;
    let mut seen = std::collections::HashSet::new();
    if let Some((name, _)) = pairs.iter().find(|(name, _)| !seen.insert(name.as_str())) {
        return Err(OAuthError::invalid_request(format!("{name} is given more than once.")));
    }
    serde_urlencoded::from_bytes(body).map_err(|_| OAuthError::invalid_request("The body could not be read."))
}

/// Who the request says the client is, and its secret (owned: a Basic header is decoded):
/// HTTP Basic (`client_secret_basic`, RFC 6749 §2.3.1, each part form-encoded), or the body's
/// `client_id` and `client_secret`; never both.
fn client_of(headers: &HeaderMap, form: &Form) -> Result<(String, Option<String>, bool), OAuthError> {
    let basic = headers
        .get(header::AUTHORIZATION)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.strip_prefix("Basic ").or_else(|| value.strip_prefix("basic ")));
    if let Some(encoded) = basic {
        if form.client_secret.is_some() {
            return Err(OAuthError::invalid_request("Authenticate the client one way only."));
        }
        let decoded = base64::engine::general_purpose::STANDARD
            .decode(encoded.trim())
            .ok()
            .and_then(|bytes| String::from_utf8(bytes).ok())
            .ok_or_else(|| OAuthError::invalid_request("The Basic credentials are not valid base64."))?;
        let (id, secret) = decoded.split_once(':').ok_or_else(|| {
            OAuthError::invalid_request("The Basic credentials need a client id and secret.")
        })?;
        let unescape = |part: &str| {
            url::form_urlencoded::parse(format!("x={part}").as_bytes())
                .next()
                .map(|(_, value)| value.into_owned())
        };
        let (Some(id), Some(secret)) = (unescape(id), unescape(secret)) else {
            return Err(OAuthError::invalid_request("The Basic credentials could not be read."));
        };
        if form.client_id.as_deref().is_some_and(|given| given != id) {
            return Err(OAuthError::invalid_request("client_id differs from the Basic credentials."));
        }
        return Ok((id, Some(secret), true));
    }
    let id = form.client_id.clone().ok_or_else(|| {
        let why = "Name the client: client_id, or HTTP Basic.";
        OAuthError::refused(StatusCode::UNAUTHORIZED, "invalid_client", why, false)
    })?;
    Ok((id, form.client_secret.clone(), false))
}

/// The form of a request to one of the app's endpoints, the app it proves to be, and a
/// connection; `basic` says how it authenticated, for a refusal to say so.
struct AppRequest {
    form: Form,
    app: crate::server::db::models::App,
    conn: crate::server::db::DbConn,
    basic: bool,
}

async fn app_request(state: &AppState, headers: &HeaderMap, body: &Bytes) -> Result<AppRequest, OAuthError> {
    let form = form(body)?;
    let (client_id, secret, basic) = client_of(headers, &form)?;
    let mut conn = state.db.get().await?;
    let client = Client { id: &client_id, secret: secret.as_deref() };
    let app =
        apps::authenticate_client(&mut conn, client).await.map_err(|error| OAuthError::of(error, basic))?;
    Ok(AppRequest { form, app, conn, basic })
}

/// `POST /oauth/token`.
async fn token(State(state): State<AppState>, headers: HeaderMap, body: Bytes) -> Response {
    if is_json(&headers) {
        return speckle_s256_token(&state, &headers, &body).await;
    }
    match token_grant(&state, &headers, &body).await {
        Ok(pair) => pair_answer(pair),
        Err(error) => error.into_response(),
    }
}

async fn token_grant(state: &AppState, headers: &HeaderMap, body: &Bytes) -> Result<Pair, OAuthError> {
    let AppRequest { form, app, mut conn, basic } = app_request(state, headers, body).await?;
    let fail = |error: GrantError| OAuthError::of(error, basic);
    match form.grant_type.as_deref() {
        Some("authorization_code") => {
            let (Some(code), Some(verifier)) = (form.code.as_deref(), form.code_verifier.as_deref()) else {
                return Err(OAuthError::invalid_request("code and code_verifier are required (PKCE, S256)."));
            };
            apps::exchange_code(
                &mut conn,
                &app,
                code,
                verifier,
                form.redirect_uri.as_deref(),
                Some(Method::S256),
            )
            .await
            .map_err(fail)
        }
        Some("refresh_token") => {
            let Some(refresh) = form.refresh_token.as_deref() else {
                return Err(OAuthError::invalid_request("refresh_token is required."));
            };
            let Ok(refresh) = PlainToken::parse(refresh.trim()) else {
                return Err(fail(Refusal::InvalidGrant("The refresh token is not known.").into()));
            };
            if let Some(asked) = form.scope.as_deref() {
                // RFC 6749 §6: a refresh may keep the scopes, never widen them.
                let within = ScopeSet::from_names(asked)
                    .ok()
                    .zip(ScopeSet::from_names(&app.scopes).ok())
                    .is_some_and(|(asked, allowed)| asked.is_within(allowed));
                if !within {
                    return Err(OAuthError::refused(
                        StatusCode::BAD_REQUEST,
                        "invalid_scope",
                        "A refresh cannot add scopes.",
                        basic,
                    ));
                }
            }
            apps::refresh(&mut conn, &app, &refresh, &Seen::default()).await.map_err(fail)
        }
        Some(DEVICE_CODE_GRANT) => {
            let Some(device_code) = form.device_code.as_deref() else {
                return Err(OAuthError::invalid_request("device_code is required."));
            };
            apps::device::poll(&mut conn, &app, device_code).await.map_err(fail)
        }
        Some(_) => Err(OAuthError::refused(
            StatusCode::BAD_REQUEST,
            "unsupported_grant_type",
            "grant_type must be authorization_code, refresh_token or urn:ietf:params:oauth:grant-type:device_code.",
            basic,
        )),
        None => Err(OAuthError::invalid_request("grant_type is required.")),
    }
}

/// RFC 8628 §3.4's grant type.
const DEVICE_CODE_GRANT: &str = "urn:ietf:params:oauth:grant-type:device_code";

/// `POST /oauth/device_authorization` (RFC 8628 §3.1): the codes for the device to show and
/// to poll with, for the scopes asked (all the app registered when none are).
async fn device_authorization(
    State(state): State<AppState>,
    parts: axum::http::request::Parts,
    body: Bytes,
) -> Response {
    use crate::server::auth::throttle::{client_ip, retry_after_secs};
    let headers = &parts.headers;
    // Every request counts: anyone may start a device grant for a public app.
    let ip = client_ip(&parts.extensions).to_string();
    if let Err(wait) = state.throttles.device_start.begin(&[&ip]) {
        return AppError::RateLimited(retry_after_secs(wait)).into_response();
    }
    let answered = async {
        let AppRequest { form, app, mut conn, basic } = app_request(&state, headers, &body).await?;
        let offered = ScopeSet::from_names(&app.scopes).unwrap_or_default();
        let scopes = match form.scope.as_deref() {
            None => offered,
            Some(names) => match ScopeSet::from_names(names) {
                Ok(scopes) if scopes.is_within(offered) && !scopes.is_empty() => scopes,
                _ => {
                    let why = "The app may ask only for the scopes it registered.";
                    return Err(OAuthError::refused(StatusCode::BAD_REQUEST, "invalid_scope", why, basic));
                }
            },
        };
        let started = apps::device::start(&mut conn, &app, scopes).await?;
        let page = format!("{}/device", state.origin(headers));
        let complete = apps::with_query(&page, &[("user_code", started.user_code.as_str())]);
        Ok(json!({
            "device_code": started.device_code.expose_secret(),
            "user_code": started.user_code,
            "verification_uri": page,
            "verification_uri_complete": complete,
            "expires_in": started.expires_in,
            "interval": started.interval,
        }))
    }
    .await;
    match answered {
        Ok(body) => (StatusCode::OK, no_store(), Json(body)).into_response(),
        Err(error) => error.into_response(),
    }
}

/// RFC 6749 §5.1's answer.
fn pair_answer(pair: Pair) -> Response {
    let scope: Vec<&str> = pair.scopes.iter().map(Scope::name).collect();
    let body = json!({
        "access_token": pair.access.expose_secret(),
        "token_type": "Bearer",
        "expires_in": pair.expires_in,
        "refresh_token": pair.refresh.expose_secret(),
        "scope": scope.join(" "),
    });
    (StatusCode::OK, no_store(), Json(body)).into_response()
}

/// `POST /oauth/revoke` (RFC 7009): the app gives back an access or refresh token of its
/// own; the answer is 200 whether or not the token was known (§2.2).
async fn revoke(State(state): State<AppState>, parts: axum::http::request::Parts, body: Bytes) -> Response {
    let answered = async {
        let AppRequest { form, app, mut conn, .. } = app_request(&state, &parts.headers, &body).await?;
        let Some(token) = form.token.as_deref() else {
            return Err(OAuthError::invalid_request("token is required."));
        };
        if let Ok(token) = PlainToken::parse(token.trim()) {
            apps::give_back(&mut conn, Some(&app), &token, &Seen::of(&parts)).await?;
        }
        Ok(())
    }
    .await;
    match answered {
        Ok(()) => (StatusCode::OK, no_store()).into_response(),
        Err(error) => error.into_response(),
    }
}

/// `POST /oauth/introspect` (RFC 7662): whether a token of the asking app's own is live, and
/// what it may do; any other token, the app's or not, is only `{"active": false}`.
async fn introspect(State(state): State<AppState>, headers: HeaderMap, body: Bytes) -> Response {
    let answered = async {
        let AppRequest { form, app, mut conn, .. } = app_request(&state, &headers, &body).await?;
        let Some(token) = form.token.as_deref() else {
            return Err(OAuthError::invalid_request("token is required."));
        };
        let live = match PlainToken::parse(token.trim()) {
            Ok(token) => apps::introspect(&mut conn, &app, &token).await?,
            Err(_) => None,
        };
        let Some(live) = live else { return Ok(json!({ "active": false })) };
        let scope: Vec<&str> = live.scopes.iter().map(Scope::name).collect();
        let mut body = json!({
            "active": true,
            "scope": scope.join(" "),
            "client_id": app.id.as_str(),
            "sub": live.user_id.to_string(),
            "iat": live.issued_at / 1000,
            "exp": live.expires_at / 1000,
            "iss": state.origin(&headers),
        });
        // RFC 7662's token_type is RFC 6749's (§5.1): an access token's; a refresh token has none.
        if live.is_access {
            body["token_type"] = json!("Bearer");
        }
        Ok(body)
    }
    .await;
    match answered {
        Ok(body) => (StatusCode::OK, no_store(), Json(body)).into_response(),
        Err(error) => error.into_response(),
    }
}

/// `GET /.well-known/oauth-authorization-server` (RFC 8414).
async fn metadata(State(state): State<AppState>, headers: HeaderMap) -> Response {
    let issuer = state.origin(&headers);
    let scopes: Vec<&str> = Scope::ALL.iter().map(|scope| scope.name()).collect();
    Json(json!({
        "issuer": issuer,
        "authorization_endpoint": format!("{issuer}/oauth/authorize"),
        "token_endpoint": format!("{issuer}/oauth/token"),
        "revocation_endpoint": format!("{issuer}/oauth/revoke"),
        "introspection_endpoint": format!("{issuer}/oauth/introspect"),
        "device_authorization_endpoint": format!("{issuer}/oauth/device_authorization"),
        "response_types_supported": ["code"],
        "grant_types_supported": ["authorization_code", "refresh_token", DEVICE_CODE_GRANT],
        "code_challenge_methods_supported": ["S256"],
        "token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post", "none"],
        "revocation_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post", "none"],
        "introspection_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post", "none"],
        "scopes_supported": scopes,
        "authorization_response_iss_parameter_supported": true,
    }))
    .into_response()
}
