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

/// Where to go after signing in: a path on this site, else `/profile`.
///
/// A browser resolves a `Location` that starts with one `/` (then neither `/` nor `\\`)
/// against our own origin, unless it first drops characters it ignores in URLs (tabs, line
/// breaks: `/\t/evil.example` becomes `//evil.example`). So only visible ASCII is accepted,
/// which also keeps the header valid.
pub fn safe_next(next: Option<&str>) -> String {
    const FALLBACK: &str = "/profile";
    let Some(path) = next else { return FALLBACK.to_owned() };
    let visible_ascii = path.bytes().all(|b| b.is_ascii_graphic());
    let local = path.starts_with('/') && !path.starts_with("//") && !path.contains('\\');
    if visible_ascii && local && path.len() <= 2048 {
        path.to_owned()
    } else {
        FALLBACK.to_owned()
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
        use super::session::{client_ip, state};
        use crate::server::auth::throttle::retry_after_secs;
        use crate::server::users;
        let password = password.into();
        // Mistakes in the form cost nothing; each attempt after that counts against the
        // address (made accounts and taken emails alike), and hashes in the address's lane.
        users::validate_sign_up(&name, &email, &password)?;
        let ip = client_ip();
        let address = ip.to_string();
        let state = state()?;
        let throttles = &state.throttles;
        throttles.sign_up.begin(&[&address]).map_err(|wait| AppError::RateLimited(retry_after_secs(wait)))?;
        let made = async {
            let _lane = throttles.lanes.enter(ip).await?;
            users::sign_up(&state.db, &name, &email, password).await
        }
        .await;
        // Only our own trouble is forgiven: an email that is taken still counts, so sign-up
        // cannot be used to test which emails have accounts any faster than sign-in.
        if matches!(
            made,
            Err(AppError::Busy(_) | AppError::Unavailable | AppError::Internal | AppError::RateLimited(_))
        ) {
            throttles.sign_up.forgive(&[&address]);
        }
        start_session(&made?.id, "/profile").await
    })
    .await
}

#[server(endpoint = "login")]
pub async fn login(email: String, password: String, next: Option<String>) -> Result<String, AppError> {
    super::session::with_status(async move {
        use super::session::{client_ip, state};
        use crate::server::auth::throttle::retry_after_secs;
        use crate::server::users;
        // Failures are counted per address and email (guessing one account's password gets
        // slow, and no one can lock anyone out from elsewhere) and per address whatever the
        // email (a flood of fresh emails stops too). Each attempt counts before it is made,
        // and is forgiven if it succeeds.
        let ip = client_ip();
        let address = ip.to_string();
        let email_key: String = email.chars().take(users::MAX_EMAIL_CHARS + 1).collect();
        let email_key = users::normalize_email(&email_key);
        let keys: [&[&str]; 2] = [&[&address], &[&address, &email_key]];
        let state = state()?;
        let throttles = &state.throttles;
        let [by_address, by_account] = [&throttles.sign_in_address, &throttles.sign_in];
        by_address.begin(keys[0]).map_err(|wait| AppError::RateLimited(retry_after_secs(wait)))?;
        if let Err(wait) = by_account.begin(keys[1]) {
            by_address.forgive(keys[0]);
            return Err(AppError::RateLimited(retry_after_secs(wait)));
        }
        let signed_in = async {
            let _lane = throttles.lanes.enter(ip).await?;
            users::sign_in(&state.db, &email, password.into()).await
        }
        .await;
        if !matches!(signed_in, Err(AppError::BadInput(_))) {
            by_address.forgive(keys[0]);
            by_account.forgive(keys[1]);
        }
        let user = signed_in?;
        record_sign_in(&state, &user.id).await;
        start_session(&user.id, &safe_next(next.as_deref())).await
    })
    .await
}

/// A sign-in is an event of `/profile/security`; failing to record it never fails it.
#[cfg(feature = "ssr")]
async fn record_sign_in(state: &crate::server::AppState, user_id: &str) {
    use crate::server::activity::{self, event, EventKind};
    let event = event(
        user_id,
        None,
        EventKind::SignedIn,
        None,
        &super::session::seen(),
        crate::server::db::now_millis(),
    );
    let recorded = match state.db.get().await {
        Ok(mut conn) => activity::record(&mut conn, event).await,
        Err(error) => Err(error),
    };
    if let Err(error) = recorded {
        tracing::warn!(%error, "could not record a sign-in");
    }
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

#[cfg(test)]
mod tests {
    use super::safe_next;

    #[test]
    fn next_stays_on_this_site() {
        for local in ["/profile", "/streams/abc?x=1#y", "/%2F%2Fevil.example", "/.//evil.example"] {
            assert_eq!(safe_next(Some(local)), local);
        }
        for away in [
            "//evil.example",
            "/\\evil.example",
            "/\t/evil.example",
            "/\n",
            "/\r\n/evil.example",
            " /evil",
            "https://evil.example",
            "javascript:alert(1)",
            "/caf\u{e9}",
            "",
        ] {
            assert_eq!(safe_next(Some(away)), "/profile", "{away:?}");
        }
        assert_eq!(safe_next(None), "/profile");
    }
}
