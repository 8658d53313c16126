//! Sign up, sign in, sign out, and who is signed in.

use leptos::prelude::*;
use serde::{Deserialize, Serialize};

use crate::error::AppError;

/// The signed-in user, as pages show them.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SignedInUser {
    pub id: String,
    pub name: String,
    pub email: String,
}

/// Where to go after signing in: a local path only, never another site.
pub fn safe_next(next: Option<&str>) -> String {
    match next {
        Some(path) if path.starts_with('/') && !path.starts_with("//") && !path.contains('\\') => {
            path.to_owned()
        }
        _ => "/profile".to_owned(),
    }
}

#[server(endpoint = "current_user")]
pub async fn current_user() -> Result<Option<SignedInUser>, AppError> {
    super::session::with_status(async move {
        use super::session::{db, signed_in_user};
        let user = signed_in_user(&mut db().await?).await?;
        Ok(user.map(|u| SignedInUser { id: u.id, name: u.name, email: u.email }))
    })
    .await
}

/// Account actions answer with the page to go to next; the browser then loads it in full,
/// so every part of the page sees the new session. A plain form post is redirected instead.
#[server(endpoint = "signup")]
pub async fn signup(name: String, email: String, password: String) -> Result<String, AppError> {
    super::session::with_status(async move {
        use super::session::db;
        use crate::server::users;
        let user = users::sign_up(&mut db().await?, &name, &email, password.into()).await?;
        start_session(&user.id, "/profile").await
    })
    .await
}

#[server(endpoint = "login")]
pub async fn login(email: String, password: String, next: Option<String>) -> Result<String, AppError> {
    super::session::with_status(async move {
        use super::session::{client_ip, db, state};
        use crate::server::auth::throttle::retry_after_secs;
        use crate::server::users;
        // Failures are counted per address and email: one attacker cannot lock anyone out
        // from elsewhere, and guessing one account's password gets slow.
        let key = format!("{}|{}", client_ip(), users::normalize_email(&email));
        let throttle = &state()?.throttles.sign_in;
        if let Some(wait) = throttle.blocked(&key) {
            return Err(AppError::RateLimited(retry_after_secs(wait)));
        }
        let signed_in = users::sign_in(&mut db().await?, &email, password.into()).await;
        if matches!(signed_in, Err(AppError::BadInput(_))) {
            throttle.record_failure(&key);
        }
        start_session(&signed_in?.id, &safe_next(next.as_deref())).await
    })
    .await
}

#[server(endpoint = "logout")]
pub async fn logout() -> Result<String, AppError> {
    super::session::with_status(async move {
        use super::session::{session, session_error};
        session().await?.flush().await.map_err(session_error)?;
        Ok(go_to("/"))
    })
    .await
}

/// Signs the user in with a fresh session id (no session fixation) and goes to `next`.
#[cfg(feature = "ssr")]
async fn start_session(user_id: &str, next: &str) -> Result<String, AppError> {
    use super::session::{session, session_error};
    use crate::server::auth::session::USER_ID_KEY;
    let session = session().await?;
    session.cycle_id().await.map_err(session_error)?;
    session.insert(USER_ID_KEY, user_id).await.map_err(session_error)?;
    Ok(go_to(next))
}

/// Redirects a plain form post to `path`; either way answers `path`.
#[cfg(feature = "ssr")]
fn go_to(path: &str) -> String {
    if super::session::is_plain_form_post() {
        leptos_axum::redirect(path);
    }
    path.to_owned()
}
