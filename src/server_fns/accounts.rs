//! Sign up, sign in, sign out, and who is signed in.

use leptos::prelude::*;
use serde::{Deserialize, Serialize};

use crate::rules::error::AppError;

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
        use super::session::signed_in_user;
        let user = signed_in_user().await?;
        Ok(user.map(|u| SignedInUser { id: u.id.into(), name: u.name, email: u.email }))
    })
    .await
}

/// Account actions answer with the page to go to next; the browser then loads it in full,
/// so every part of the page sees the new session. A plain form post is redirected instead.
#[server(endpoint = "signup")]
pub async fn signup(
    name: String,
    email: String,
    password: String,
    invite: Option<String>,
) -> Result<String, AppError> {
    super::session::with_status(async move {
        use super::session::{client_ip, state};
        let state = state()?;
        let user =
            crate::server::passwords::sign_up(&state, client_ip(), &name, &email, password.into()).await?;
        // Signing up from an invitation's link accepts it (SPEC §10). The account exists
        // whatever happens to the invitation: a refusal is logged, and the invitee may still
        // answer it with its code.
        if let Some(secret) = invite.as_deref().map(str::trim).filter(|secret| !secret.is_empty()) {
            let accepted = match state.db.get().await {
                Ok(mut conn) => {
                    crate::server::domain::invites::accept_by_secret(&mut conn, &user.id, secret).await
                }
                Err(error) => Err(error),
            };
            if let Err(error) = accepted {
                tracing::info!(user_id = %user.id, %error, "an invitation given at sign-up was not accepted");
            }
        }
        trust_this_device(&state, &user.id, None).await;
        start_session(&user.id, "/profile").await
    })
    .await
}

#[server(endpoint = "login")]
pub async fn login(email: String, password: String, next: Option<String>) -> Result<String, AppError> {
    super::session::with_status(async move {
        use super::session::{client_ip, seen, state};
        use crate::server::auth::device::DeviceCookie;
        use crate::server::passwords;
        let state = state()?;
        let device = use_context::<axum::http::request::Parts>()
            .and_then(|parts| DeviceCookie::from_headers(&parts.headers));
        let signed_in =
            passwords::sign_in(&state, client_ip(), device.as_ref(), &email, password.into()).await?;
        let user = signed_in.user;
        passwords::record_sign_in(&state, &user.id, &seen()).await;
        trust_this_device(&state, &user.id, device.as_ref().filter(|_| signed_in.trusted)).await;
        start_session(&user.id, &safe_next(next.as_deref())).await
    })
    .await
}

/// Remembers this browser as a trusted device of the account it signed in to (its cookie, if
/// `trusted` for this account, renewed, else a new one given); failing to never fails the
/// sign-in.
#[cfg(feature = "ssr")]
async fn trust_this_device(
    state: &crate::server::state::AppState,
    user_id: &crate::server::db::UserId,
    trusted: Option<&crate::server::auth::device::DeviceCookie>,
) {
    use crate::server::auth::device;
    let remembered = match state.db.get().await {
        Ok(mut conn) => device::remember(&mut conn, user_id, trusted, state.secure_cookies).await,
        Err(error) => Err(error),
    };
    match remembered {
        Ok(cookie) => {
            if let (Some(response), Ok(cookie)) =
                (use_context::<leptos_axum::ResponseOptions>(), cookie.parse())
            {
                response.append_header(axum::http::header::SET_COOKIE, cookie);
            }
        }
        Err(error) => tracing::warn!(%error, "could not remember a trusted device"),
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
async fn start_session(user_id: &crate::server::db::UserId, next: &str) -> Result<String, AppError> {
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
