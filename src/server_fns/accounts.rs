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
        use crate::server::auth::password::Asker;
        use crate::server::auth::throttle::retry_after_secs;
        use crate::server::domain::users;
        let password = password.into();
        // Mistakes in the form cost nothing; each attempt after that counts against the
        // address (made accounts and taken emails alike), and hashes in the address's lane.
        users::validate_sign_up(&name, &email, &password)?;
        let ip = client_ip();
        let address = ip.to_string();
        let state = state()?;
        let throttles = &state.throttles;
        throttles.sign_up.begin(&[&address]).map_err(|wait| AppError::RateLimited(retry_after_secs(wait)))?;
        let asker = Asker { address: ip, trusted_device: false };
        let made = async {
            let _lane = throttles.lanes.enter(ip).await?;
            users::sign_up(&state.db, &state.hasher, asker, &name, &email, password).await
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
        let user = made?;
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
        use super::session::{client_ip, state};
        use crate::server::auth::device::DeviceCookie;
        use crate::server::auth::password::Asker;
        use crate::server::auth::throttle::retry_after_secs;
        use crate::server::domain::users;
        let ip = client_ip();
        let state = state()?;
        let throttles = &state.throttles;
        // A browser that signed in to this account before (its device cookie) keeps a lane
        // of its own: its failures count against it alone, and it hashes first. Anyone else's
        // failures are counted per address and email (guessing one account's password gets
        // slow, and no one can lock anyone out from elsewhere) and per address whatever the
        // email (a flood of fresh emails stops too). Each attempt counts before it is made,
        // and is forgiven if it succeeds.
        let device = use_context::<axum::http::request::Parts>()
            .and_then(|parts| DeviceCookie::from_headers(&parts.headers));
        let trusted = match &device {
            Some(device) => match users::account(&state.db, &email).await? {
                Some(account) => device.trusted_for(&mut state.db.get().await?, &account.id).await?,
                None => false,
            },
            None => false,
        };
        let address = ip.to_string();
        let email_key: String = email.chars().take(crate::rules::limits::MAX_EMAIL_CHARS + 1).collect();
        let email_key = users::normalize_email(&email_key);
        let device_key = device.as_ref().map(DeviceCookie::throttle_key).unwrap_or_default();
        let counted: Vec<(&_, Vec<&str>)> = if trusted {
            vec![(&throttles.sign_in_device, vec![device_key.as_str()])]
        } else {
            vec![
                (&throttles.sign_in_address, vec![address.as_str()]),
                (&throttles.sign_in, vec![address.as_str(), email_key.as_str()]),
            ]
        };
        for (taken, (throttle, key)) in counted.iter().enumerate() {
            if let Err(wait) = throttle.begin(key) {
                for (throttle, key) in &counted[..taken] {
                    throttle.forgive(key);
                }
                return Err(AppError::RateLimited(retry_after_secs(wait)));
            }
        }
        let asker = Asker { address: ip, trusted_device: trusted };
        let signed_in = async {
            let _lane = match trusted {
                true => throttles.device_lanes.enter(device_key.clone()).await?,
                false => throttles.lanes.enter(ip).await?,
            };
            users::sign_in(&state.db, &state.hasher, asker, &email, password.into()).await
        }
        .await;
        if !matches!(signed_in, Err(AppError::BadInput(_))) {
            for (throttle, key) in &counted {
                throttle.forgive(key);
            }
        }
        let user = signed_in?;
        record_sign_in(&state, &user.id).await;
        trust_this_device(&state, &user.id, device.as_ref().filter(|_| trusted)).await;
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

/// A sign-in is an event of `/profile/security`; failing to record it never fails it.
#[cfg(feature = "ssr")]
async fn record_sign_in(state: &crate::server::state::AppState, user_id: &crate::server::db::UserId) {
    use crate::server::domain::activity::{self, event, EventKind};
    let event = event(user_id, None, EventKind::SignedIn, None, &super::session::seen(), state.db.now());
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
