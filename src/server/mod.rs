//! Everything that runs only on the server: state, router, API, domain and database.
//!
//! Three front doors over one house: the browser (Leptos pages and server functions), and,
//! for scripts, `/graphql` and the object transport, both behind one bearer extractor
//! ([`auth::bearer::BearerAuth`]). All of them call the domain modules (`tokens`, `users`,
//! `streams`, `branches`, `objects`), which call `db`.

pub mod activity;
pub mod auth;
pub mod branches;
pub mod config;
pub mod db;
pub mod graphql;
pub mod headers;
pub mod leaks;
pub mod lifecycle;
pub mod listen;
mod middleware;
pub mod objects;
pub mod pagination;
pub mod room;
pub mod scanning;
pub mod streams;
pub mod tokens;
pub mod transport;
pub mod users;

use std::sync::Arc;
use std::time::Duration;

use axum::extract::{FromRef, Request};
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
use auth::client::TrustedProxies;
use auth::session::DbSessionStore;
use auth::throttle::Throttles;
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
    pub trusted_proxies: TrustedProxies,
    /// Where alerts about leaked tokens are mailed through, if SMTP is configured.
    pub mailer: Option<lifecycle::Mailer>,
    /// The keys that sign secret scanning alerts.
    pub scanning_keys: Arc<scanning::ScanningKeys>,
    /// The memory the object transport's big requests share.
    pub room: Arc<room::Room>,
    /// Password hashing: this server's thread and its queue.
    pub hasher: Arc<auth::password::Hasher>,
    /// The room all GraphQL answers share (see `graphql::limits`).
    pub answers: Arc<tokio::sync::Semaphore>,
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
        AppState {
            db,
            schema,
            leptos_options,
            secure_cookies,
            throttles: Arc::new(throttles),
            trusted_proxies: TrustedProxies::default(),
            mailer: None,
            scanning_keys: Arc::new(scanning::ScanningKeys::new(scanning::GITHUB_KEYS_URL)),
            room: Arc::new(room::Room::default()),
            hasher: Arc::new(auth::password::Hasher::new()),
            answers: graphql::limits::answer_pool(),
        }
    }

    /// Mails alerts through this mailer.
    pub fn with_mailer(mut self, mailer: Option<lifecycle::Mailer>) -> Self {
        self.mailer = mailer;
        self
    }

    /// Fetches the secret scanning keys from `url` (GitHub's list by default).
    pub fn with_scanning_keys_url(self, url: &str) -> Self {
        self.with_scanning_keys(Arc::new(scanning::ScanningKeys::new(url)))
    }

    pub fn with_scanning_keys(mut self, keys: Arc<scanning::ScanningKeys>) -> Self {
        self.scanning_keys = keys;
        self
    }

    /// Believes `Forwarded` / `X-Forwarded-For` from these proxies (none by default).
    pub fn with_trusted_proxies(mut self, proxies: TrustedProxies) -> Self {
        self.trusted_proxies = proxies;
        self
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
            route_list(),
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
        .layer(axum::middleware::from_fn(middleware::require_sign_in))
        .layer(axum::middleware::from_fn(middleware::client_errors_are_4xx))
        .layer(sessions)
        .layer(axum::middleware::from_fn({
            let secure = state.secure_cookies;
            move |request, next| auth::csrf::same_origin_only(secure, request, next)
        }))
        .layer(RequestBodyLimitLayer::new(MAX_BODY_BYTES));

    let api = Router::new()
        .route("/graphql", get(graphql::http::graphiql).post(graphql::http::graphql_api))
        .layer(RequestBodyLimitLayer::new(MAX_BODY_BYTES))
        .layer(api_cors());

    let options = &state.leptos_options;
    let static_files = headers::static_files(&options.site_root, &options.site_pkg_dir, options.hash_files);

    Router::new()
        .route("/healthz", get(|| async { "ok" }))
        .merge(api)
        .merge(scanning::routes())
        .merge(static_files)
        // The object transport sets its own body limits: its batches are bigger.
        .merge(
            transport::routes()
                .layer(axum::middleware::from_fn(auth::bearer::token_headers))
                .layer(api_cors()),
        )
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
        .expose_headers(auth::bearer::EXPOSED_HEADERS.map(header::HeaderName::from_static))
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
