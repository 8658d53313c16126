//! Everything that runs only on the server: state, router, API, domain and database.

pub mod auth;
pub mod config;
pub mod db;
pub mod graphql;
pub mod pagination;
pub mod streams;
pub mod tokens;
pub mod users;

use std::sync::Arc;
use std::time::Duration;

use async_graphql::http::GraphiQLSource;
use async_graphql_axum::{GraphQLRequest, GraphQLResponse};
use axum::extract::{FromRef, FromRequest, Request, State};
use axum::http::{header, HeaderValue, Method, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::get;
use axum::Router;
use leptos::prelude::*;
use leptos_axum::{generate_route_list, LeptosRoutes};
use tower_http::cors::{Any, CorsLayer};
use tower_http::limit::RequestBodyLimitLayer;
use tower_http::trace::{DefaultOnResponse, TraceLayer};
use tower_sessions::cookie::SameSite;
use tower_sessions::{Expiry, Session, SessionManagerLayer};

use crate::app::{shell, App};
use crate::error::AppError;
use auth::bearer::{credentials, Credentials};
use auth::session::{DbSessionStore, USER_ID_KEY};
use auth::throttle::{client_ip, retry_after_secs, Throttles};
use db::DbPool;

/// The largest request body we read (SPEC §6: bigger gets 413).
pub const MAX_BODY_BYTES: usize = 1024 * 1024;
/// A session ends after this long without a request.
const SESSION_IDLE_DAYS: i64 = 14;

/// What every handler and server function can reach.
#[derive(Clone)]
pub struct AppState {
    pub db: DbPool,
    pub schema: graphql::ApiSchema,
    pub leptos_options: LeptosOptions,
    pub secure_cookies: bool,
    pub throttles: Arc<Throttles>,
}

impl FromRef<AppState> for LeptosOptions {
    fn from_ref(state: &AppState) -> Self {
        state.leptos_options.clone()
    }
}

impl AppState {
    pub fn new(
        db: DbPool,
        leptos_options: LeptosOptions,
        secure_cookies: bool,
        throttles: Throttles,
    ) -> Self {
        let schema = graphql::schema(db.clone());
        AppState { db, schema, leptos_options, secure_cookies, throttles: Arc::new(throttles) }
    }
}

/// The whole application: pages, server functions, the API and health check.
pub fn router(state: AppState) -> Router {
    let sessions = SessionManagerLayer::new(DbSessionStore::new(state.db.clone()))
        .with_name(if state.secure_cookies { "__Host-session" } else { "session" })
        .with_secure(state.secure_cookies)
        .with_http_only(true)
        .with_same_site(SameSite::Lax)
        .with_path("/")
        .with_expiry(Expiry::OnInactivity(time::Duration::days(SESSION_IDLE_DAYS)));

    let pages = Router::new()
        .leptos_routes_with_context(
            &state,
            generate_route_list(App),
            {
                let state = state.clone();
                move || provide_context(state.clone())
            },
            {
                let options = state.leptos_options.clone();
                move || shell(options.clone())
            },
        )
        .fallback(leptos_axum::file_and_error_handler::<AppState, _>(shell))
        .layer(middleware::from_fn(require_sign_in))
        .layer(middleware::from_fn(client_errors_are_4xx))
        .layer(sessions)
        .layer(middleware::from_fn(auth::csrf::same_origin_only));

    // Scripts call the API from other sites' pages; it never reads cookies, so any origin may.
    let api_cors = CorsLayer::new()
        .allow_origin(Any)
        .allow_methods([Method::GET, Method::POST, Method::OPTIONS])
        .allow_headers([header::AUTHORIZATION, header::CONTENT_TYPE])
        .max_age(Duration::from_secs(3600));
    let api = Router::new().route("/graphql", get(graphiql).post(graphql_api)).layer(api_cors);

    Router::new()
        .route("/healthz", get(|| async { "ok" }))
        .merge(api)
        .merge(pages)
        .layer(RequestBodyLimitLayer::new(MAX_BODY_BYTES))
        .layer(middleware::from_fn(run_to_completion))
        .layer(
            TraceLayer::new_for_http()
                .make_span_with(|request: &Request| {
                    // Method and path only: headers and query strings may carry secrets.
                    tracing::info_span!("request", method = %request.method(), path = %request.uri().path())
                })
                .on_request(())
                .on_response(
                    DefaultOnResponse::new()
                        .level(tracing::Level::INFO)
                        .latency_unit(tower_http::LatencyUnit::Micros),
                ),
        )
        .with_state(state)
}

/// Runs each request on a task of its own, so a client that hangs up cannot cancel it half
/// way: database work always finishes and returns its connection to the pool in a clean state
/// (diesel-async's SQLite wrapper panics on a connection whose query was cancelled), and
/// nothing acknowledged is half done. A panic becomes a 500 instead of a dropped connection.
async fn run_to_completion(request: Request, next: Next) -> Response {
    match tokio::spawn(next.run(request)).await {
        Ok(response) => response,
        Err(error) => {
            tracing::error!(%error, "request task failed");
            StatusCode::INTERNAL_SERVER_ERROR.into_response()
        }
    }
}

/// Pages that need a signed-in user send a signed-out visitor to `/login`, server-side.
async fn require_sign_in(session: Session, request: Request, next: Next) -> Response {
    let path = request.uri().path();
    let protected = path == "/profile" || path == "/streams" || path.starts_with("/streams/");
    if protected && request.method() == Method::GET {
        match session.get::<String>(USER_ID_KEY).await {
            Ok(Some(_)) => {}
            Ok(None) => return Redirect::to(&format!("/login?next={path}")).into_response(),
            Err(_) => return service_unavailable(),
        }
    }
    next.run(request).await
}

/// Leptos answers 500 when a server function's arguments cannot be decoded (missing or
/// malformed form fields): that is the client's mistake, so it becomes a 400. Our own errors
/// already carry their status; a decoding failure is the only kind that is "Transport".
async fn client_errors_are_4xx(request: Request, next: Next) -> Response {
    let is_server_function = request.uri().path().starts_with("/api/");
    let response = next.run(request).await;
    if !is_server_function || response.status() != StatusCode::INTERNAL_SERVER_ERROR {
        return response;
    }
    let (mut parts, body) = response.into_parts();
    let Ok(bytes) = axum::body::to_bytes(body, MAX_BODY_BYTES).await else {
        return StatusCode::INTERNAL_SERVER_ERROR.into_response();
    };
    if bytes.starts_with(br#"{"Transport""#) {
        parts.status = StatusCode::BAD_REQUEST;
    }
    Response::from_parts(parts, axum::body::Body::from(bytes))
}

/// `GET /graphql`: the GraphiQL explorer for a browser; queries must be POSTed.
async fn graphiql(headers: axum::http::HeaderMap) -> Response {
    let wants_html = headers
        .get(header::ACCEPT)
        .and_then(|accept| accept.to_str().ok())
        .is_none_or(|accept| accept.contains("text/html") || accept.contains("*/*"));
    if !wants_html {
        return (
            StatusCode::METHOD_NOT_ALLOWED,
            [(header::ALLOW, "POST")],
            "Send GraphQL queries with POST /graphql and Content-Type: application/json.",
        )
            .into_response();
    }
    Html(GraphiQLSource::build().endpoint("/graphql").title("Speckle Tokens API").finish()).into_response()
}

/// The content types `POST /graphql` reads.
fn is_graphql_content_type(headers: &axum::http::HeaderMap) -> bool {
    let Some(content_type) = headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()) else {
        return false;
    };
    let essence = content_type.split(';').next().unwrap_or_default().trim().to_ascii_lowercase();
    matches!(essence.as_str(), "application/json" | "application/graphql")
}

/// `POST /graphql`: authenticate by bearer token only, then run the query. An address that
/// keeps sending invalid tokens is told to wait (429) before any lookup.
async fn graphql_api(State(state): State<AppState>, request: Request) -> Response {
    let credentials = credentials(request.headers());
    let ip = client_ip(request.extensions()).to_string();
    if !matches!(credentials, Credentials::Anonymous) {
        if let Some(wait) = state.throttles.bearer.blocked(&ip) {
            return too_many_failures(wait);
        }
    }
    let mut epochs = None;
    let caller = match credentials {
        Credentials::Anonymous => None,
        Credentials::Invalid => {
            state.throttles.bearer.record_failure(&ip);
            return invalid_token();
        }
        Credentials::Token(token) => {
            let verified = match state.db.epochs().await {
                Ok(now) => {
                    epochs = Some(now);
                    tokens::authenticate(&state.db, &token, &now).await
                }
                Err(error) => Err(error),
            };
            match verified {
                Ok(Some(caller)) => Some(caller),
                Ok(None) => {
                    state.throttles.bearer.record_failure(&ip);
                    return invalid_token();
                }
                Err(AppError::Unavailable) => return service_unavailable(),
                Err(_) => return StatusCode::INTERNAL_SERVER_ERROR.into_response(),
            }
        }
    };
    if !is_graphql_content_type(request.headers()) {
        return (StatusCode::UNSUPPORTED_MEDIA_TYPE, "POST /graphql takes Content-Type: application/json.")
            .into_response();
    }
    let query = match GraphQLRequest::<async_graphql_axum::rejection::GraphQLRejection>::from_request(
        request, &state,
    )
    .await
    {
        Ok(query) => query.into_inner(),
        Err(rejection) => return rejection.into_response(),
    };
    let query = match caller {
        Some(caller) => query.data(caller),
        None => query,
    };
    let query = match epochs {
        Some(epochs) => query.data(epochs),
        None => query,
    };
    let mut response = state.schema.execute(query).await;
    let verdict = graphql::code_engine_errors(&mut response);
    let mut response = GraphQLResponse::from(response).into_response();
    match verdict {
        graphql::Verdict::Answered => {}
        graphql::Verdict::Malformed => *response.status_mut() = StatusCode::BAD_REQUEST,
        graphql::Verdict::Unavailable => {
            *response.status_mut() = StatusCode::SERVICE_UNAVAILABLE;
            response.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
        }
    }
    response
}

/// SPEC §6: the one answer for a missing, malformed, unknown, revoked or expired token.
pub fn invalid_token() -> Response {
    (
        StatusCode::UNAUTHORIZED,
        [
            (header::WWW_AUTHENTICATE, HeaderValue::from_static(r#"Bearer error="invalid_token""#)),
            (header::CONTENT_TYPE, HeaderValue::from_static("application/json")),
        ],
        r#"{"errors":[{"message":"Your token is not valid.","extensions":{"code":"UNAUTHENTICATED"}}]}"#,
    )
        .into_response()
}

fn too_many_failures(wait: Duration) -> Response {
    let seconds = retry_after_secs(wait);
    let body = serde_json::json!({ "errors": [{
        "message": format!("Too many invalid tokens from your address. Retry after {seconds} seconds."),
        "extensions": { "code": "RATE_LIMITED" },
    }]});
    (
        StatusCode::TOO_MANY_REQUESTS,
        [(header::RETRY_AFTER, seconds.to_string()), (header::CONTENT_TYPE, "application/json".to_owned())],
        body.to_string(),
    )
        .into_response()
}

/// 503 with `Retry-After`: the database is not answering; nothing was done.
pub fn service_unavailable() -> Response {
    (
        StatusCode::SERVICE_UNAVAILABLE,
        [(header::RETRY_AFTER, HeaderValue::from_static("1"))],
        "The database is not answering. Please retry.",
    )
        .into_response()
}

/// Deletes expired sessions every hour, for as long as the server runs.
pub fn spawn_session_cleanup(pool: DbPool) {
    use tower_sessions::session_store::ExpiredDeletion;
    let store = DbSessionStore::new(pool);
    tokio::spawn(async move {
        let mut every_hour = tokio::time::interval(Duration::from_secs(3600));
        loop {
            every_hour.tick().await;
            if let Err(error) = store.delete_expired().await {
                tracing::warn!(%error, "expired session clean-up failed");
            }
        }
    });
}
