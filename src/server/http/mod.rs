//! The whole application in one place: the router (pages, server functions, the doors, static
//! files, health check) and the layers every request passes, the accept loop (`listen`),
//! security headers (`headers`) and middleware.

pub mod headers;
pub mod listen;
pub mod middleware;

use std::time::Duration;

use axum::extract::Request;
use axum::http::{header, Method};
use axum::routing::get;
use axum::Router;
use leptos::prelude::*;
use leptos_axum::{generate_route_list, LeptosRoutes};
use tower_http::cors::{Any, CorsLayer};
use tower_http::limit::RequestBodyLimitLayer;
use tower_http::trace::{DefaultOnResponse, TraceLayer};
use tower_sessions::cookie::SameSite;
use tower_sessions::{Expiry, SessionManagerLayer};

use crate::app::{shell, App};
use crate::rules::limits::MAX_BODY_BYTES;
use crate::server::auth::session::DbSessionStore;
use crate::server::db::DbPool;
use crate::server::doors::{bearer, graphql, oauth, scanning, speckle_auth, transport};
use crate::server::{auth, state::AppState};
/// A session ends after this long without a request.
const SESSION_IDLE_DAYS: i64 = 14;

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
            route_list(),
            {
                let state = state.clone();
                move || provide_context(state.clone())
            },
            {
                let options = state.leptos_options.clone();
                move || page(options.clone())
            },
        )
        .fallback(leptos_axum::file_and_error_handler::<AppState, _>(page))
        .layer(axum::middleware::from_fn(middleware::require_sign_in))
        .layer(axum::middleware::from_fn(middleware::client_errors_are_4xx))
        .layer(sessions)
        .layer(axum::middleware::from_fn({
            let secure = state.secure_cookies;
            move |request, next| auth::csrf::same_origin_only(secure, request, next)
        }))
        .layer(RequestBodyLimitLayer::new(MAX_BODY_BYTES));

    let api = graphql::routes().layer(RequestBodyLimitLayer::new(MAX_BODY_BYTES)).layer(api_cors());

    let options = &state.leptos_options;
    let static_files = headers::static_files(&options.site_root, &options.site_pkg_dir, options.hash_files);

    Router::new()
        .route("/healthz", get(|| async { "ok" }))
        .merge(api)
        .merge(scanning::routes())
        .merge(
            speckle_auth::routes()
                .merge(oauth::routes())
                .layer(RequestBodyLimitLayer::new(MAX_BODY_BYTES))
                .layer(api_cors()),
        )
        .merge(static_files)
        // The object transport sets its own body limits: its batches are bigger.
        .merge(transport::routes().layer(axum::middleware::from_fn(bearer::token_headers)).layer(api_cors()))
        .merge(pages)
        .layer(axum::middleware::from_fn(middleware::run_to_completion))
        .layer(axum::middleware::from_fn({
            let proxies = state.trusted_proxies.clone();
            move |request, next| auth::client::settle(proxies.clone(), request, next)
        }))
        .layer(axum::middleware::from_fn({
            let secure = state.secure_cookies;
            move |request, next| headers::security_headers(secure, request, next)
        }))
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

/// A page: the app's shell, with the content security policy of its nonce.
fn page(options: LeptosOptions) -> impl IntoView {
    headers::set_page_policy();
    shell(options)
}

/// The pages' routes, found once per process. Leptos finds them by rendering the whole app
/// with a process-wide switch on that makes every resource wait forever (`leptos_server`'s
/// `SuppressResourceLoad`): a page being served meanwhile, by another router of the same
/// process, would never finish. Found once, before any router exists, nothing can be.
fn route_list() -> Vec<leptos_axum::AxumRouteListing> {
    static ROUTES: std::sync::OnceLock<Vec<leptos_axum::AxumRouteListing>> = std::sync::OnceLock::new();
    ROUTES.get_or_init(|| generate_route_list(App)).clone()
}

/// Scripts call the bearer APIs from other sites' pages; those never read cookies, so any
/// origin may.
fn api_cors() -> CorsLayer {
    CorsLayer::new()
        .allow_origin(Any)
        .allow_methods([Method::GET, Method::POST, Method::OPTIONS])
        .allow_headers([header::AUTHORIZATION, header::CONTENT_TYPE, header::ACCEPT])
        .expose_headers(bearer::EXPOSED_HEADERS.map(header::HeaderName::from_static))
        .max_age(Duration::from_secs(3600))
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
