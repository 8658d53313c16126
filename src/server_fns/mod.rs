//! `#[server]` functions: the only way the UI reads or changes data. They are thin: check
//! the session, call the domain in `server/`, shape the answer for the page.

pub mod accounts;
pub mod activity;
pub mod apps;
pub mod consent;
#[cfg(feature = "ssr")]
mod flash;
#[cfg(feature = "ssr")]
mod format;
pub mod security;
pub mod streams;
pub mod tokens;

#[cfg(feature = "ssr")]
pub(crate) mod session {
    use tower_sessions::Session;

    use crate::rules::error::{AppError, AppResult};
    use crate::server::auth::session::USER_ID_KEY;
    use crate::server::db::{models, DbConn, UserId};
    use crate::server::domain::users;
    use crate::server::state::AppState;

    /// The app's state, provided to every server function by the router. It is missing only
    /// when the app is rendered outside a request (leptos' route discovery at start-up runs
    /// the App once, and its resources may fire): an error then, never a panic.
    pub fn state() -> AppResult<AppState> {
        leptos::prelude::use_context::<AppState>().ok_or_else(|| {
            tracing::debug!("server function called outside a request");
            AppError::Internal
        })
    }

    /// The browser session of this request.
    pub async fn session() -> AppResult<Session> {
        leptos_axum::extract::<Session>().await.map_err(|error| {
            tracing::error!(%error, "no session layer");
            AppError::Internal
        })
    }

    /// A database connection from the shared pool.
    pub async fn db() -> AppResult<DbConn> {
        state()?.db.get().await
    }

    /// The signed-in user, if the session names one that still exists. The session is read
    /// (from the store, the first time in a request) before a connection is taken for the
    /// user: a request never holds one pooled connection while it waits for another (ten
    /// tabs of one user held the whole pool that way, waiting for each other).
    pub async fn signed_in_user() -> AppResult<Option<models::User>> {
        match signed_in().await {
            Ok(signed_in) => Ok(Some(signed_in.user)),
            Err(AppError::SignedOut) => Ok(None),
            Err(error) => Err(error),
        }
    }

    /// The signed-in user, or `SignedOut`.
    pub async fn require_user() -> AppResult<models::User> {
        signed_in_user().await?.ok_or(AppError::SignedOut)
    }

    /// What a server function of a signed-in person works with, built once from its request
    /// (the session door's context): the user the session names, the connection the user was
    /// read with (one checkout, taken after the session was read; its pool carries the
    /// clock), and where the request came from, for the events it records.
    pub struct SignedIn {
        pub user: models::User,
        pub conn: DbConn,
        pub seen: crate::server::domain::activity::Seen,
    }

    /// The request's [`SignedIn`], or `SignedOut`.
    pub async fn signed_in() -> AppResult<SignedIn> {
        let user_id = session().await?.get::<UserId>(USER_ID_KEY).await.map_err(session_error)?;
        let user_id = user_id.ok_or(AppError::SignedOut)?;
        let mut conn = db().await?;
        let user = users::find(&mut conn, &user_id).await?.ok_or(AppError::SignedOut)?;
        Ok(SignedIn { user, conn, seen: seen() })
    }

    /// Was this request a plain HTML form post (JavaScript off)? Then it wants a redirect.
    pub fn is_plain_form_post() -> bool {
        leptos::prelude::use_context::<axum::http::request::Parts>()
            .is_some_and(|parts| crate::server::media::accepts(&parts.headers, "text/html"))
    }

    /// Runs a server function's body; an error gets its HTTP status (400, 401, 404, 500),
    /// except on a plain form post, which must stay a redirect back to the form.
    pub async fn with_status<T: Send + 'static>(
        body: impl std::future::Future<Output = AppResult<T>> + Send + 'static,
    ) -> AppResult<T> {
        // On a task of its own, with the request's context: a page's resource that Leptos
        // drops half way (disposed while rendering) would otherwise cancel a query, and a
        // pooled connection whose query was cancelled breaks the next request to take it.
        let body = leptos::reactive::computed::ScopedFuture::new_untracked(body);
        let result = match tokio::spawn(body).await {
            Ok(result) => result,
            Err(error) => {
                tracing::error!(%error, "a server function failed");
                Err(AppError::Internal)
            }
        };
        if let Err(error) = &result {
            if !is_plain_form_post() {
                if let Some(response) = leptos::prelude::use_context::<leptos_axum::ResponseOptions>() {
                    if let Some(seconds) = error.retry_after() {
                        response.insert_header(
                            axum::http::header::RETRY_AFTER,
                            axum::http::HeaderValue::from(seconds),
                        );
                    }
                    response.set_status(error.status());
                }
            }
        }
        result
    }

    /// The address the request came from.
    pub fn client_ip() -> std::net::IpAddr {
        leptos::prelude::use_context::<axum::http::request::Parts>()
            .map(|parts| crate::server::auth::throttle::client_ip(&parts.extensions))
            .unwrap_or(std::net::IpAddr::from([0, 0, 0, 0]))
    }

    /// Where this request came from, for the events it records.
    pub fn seen() -> crate::server::domain::activity::Seen {
        leptos::prelude::use_context::<axum::http::request::Parts>()
            .map(|parts| crate::server::domain::activity::Seen::of(&parts))
            .unwrap_or_default()
    }

    pub fn session_error(error: tower_sessions::session::Error) -> AppError {
        crate::server::auth::session::app_error(error)
    }
}
