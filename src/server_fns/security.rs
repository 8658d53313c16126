//! SPEC §9 on `/profile`: alerts about leaked tokens, revoking every token, changing the
//! password.

use leptos::prelude::*;
use serde::{Deserialize, Serialize};

use crate::rules::error::AppError;

/// A leaked token's alert, as the notice says it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AlertRow {
    pub id: String,
    pub token_id: String,
    pub token_name: String,
    /// "found in public at https://…", "reported as leaked by someone who found it".
    pub how: String,
    pub url: Option<String>,
    pub source: Option<String>,
    pub when: String,
}

#[server(endpoint = "leak_alerts")]
pub async fn leak_alerts() -> Result<Vec<AlertRow>, AppError> {
    super::session::with_status(async move {
        use super::format as display;
        use super::session::{signed_in, SignedIn};
        use crate::server::domain::leaks::{self, FoundBy};
        let SignedIn { user, mut conn, .. } = signed_in().await?;
        let alerts = leaks::alerts(&mut conn, &user.id).await?;
        Ok(alerts
            .into_iter()
            .map(|alert| {
                let (url, source) = match &alert.found_by {
                    FoundBy::Scanner { url, source } => (url.clone(), source.clone()),
                    FoundBy::Report => (None, None),
                };
                AlertRow {
                    how: alert.found_by.describe(),
                    id: alert.id,
                    token_id: alert.token_id.into(),
                    token_name: alert.token_name,
                    url,
                    source,
                    when: display::date_time(alert.at),
                }
            })
            .collect())
    })
    .await
}

#[server(endpoint = "dismiss_alert")]
pub async fn dismiss_alert(id: String) -> Result<(), AppError> {
    super::session::with_status(async move {
        use super::session::{is_plain_form_post, signed_in, SignedIn};
        let SignedIn { user, mut conn, .. } = signed_in().await?;
        crate::server::domain::leaks::dismiss(&mut conn, &user.id, &id).await?;
        if is_plain_form_post() {
            leptos_axum::redirect("/profile");
        }
        Ok(())
    })
    .await
}

/// Revokes every token of the signed-in user; answers how many.
#[server(endpoint = "revoke_all_tokens")]
pub async fn revoke_all_tokens() -> Result<usize, AppError> {
    super::session::with_status(async move {
        use super::session::{is_plain_form_post, signed_in, SignedIn};
        use crate::server::domain::activity::Revoker;
        let SignedIn { user, mut conn, seen } = signed_in().await?;
        let revoked =
            crate::server::domain::tokens::revoke_all(&mut conn, &user.id, None, Revoker::All, &seen).await?;
        if is_plain_form_post() {
            leptos_axum::redirect("/profile");
        }
        Ok(revoked)
    })
    .await
}

/// Ends every app's access the person granted (offered after a password change): answers a
/// sentence for the page.
#[server(endpoint = "end_all_app_access")]
pub async fn end_all_app_access() -> Result<String, AppError> {
    super::session::with_status(async move {
        use super::session::{is_plain_form_post, signed_in, SignedIn};
        let SignedIn { user, mut conn, seen } = signed_in().await?;
        let ended = crate::server::domain::apps::revoke_all_access(&mut conn, &user.id, &seen).await?;
        if is_plain_form_post() {
            leptos_axum::redirect("/profile");
        }
        Ok(match ended {
            0 => "No app had access.".to_owned(),
            1 => "One app lost its access.".to_owned(),
            n => format!("{n} apps lost their access."),
        })
    })
    .await
}

/// Changes the password after checking the current one; signs out every other session
/// (this one gets a new id). Answers a sentence for the page.
#[server(endpoint = "change_password")]
pub async fn change_password(current_password: String, new_password: String) -> Result<String, AppError> {
    super::session::with_status(async move {
        use super::session::{is_plain_form_post, require_user, session, session_error, state};
        use crate::server::auth::session::end_other_sessions;
        use crate::server::auth::throttle::retry_after_secs;
        use crate::server::domain::users;
        let state = state()?;
        let user = require_user().await?;
        let throttle = &state.throttles.password_change;
        throttle.begin(&[user.id.as_str()]).map_err(|wait| AppError::RateLimited(retry_after_secs(wait)))?;
        // Through the address's lane, as a sign-in: each change hashes twice.
        let ip = super::session::client_ip();
        let asker = crate::server::auth::password::Asker { address: ip, trusted_device: false };
        let changed = async {
            let _lane = state.throttles.lanes.enter(ip).await?;
            let (current, new) = (current_password.into(), new_password.into());
            users::change_password(&state.db, &state.hasher, asker, &user.id, current, new).await
        }
        .await;
        if !matches!(changed, Err(AppError::BadInput(_))) {
            throttle.forgive(&[user.id.as_str()]);
        }
        changed?;
        // A new id for this session (its old row goes), then every row of the user goes: the
        // new one is written when this answer is.
        session().await?.cycle_id().await.map_err(session_error)?;
        let ended = end_other_sessions(&state.db, &user.id, None).await?;
        tracing::info!(user_id = %user.id, ended, "password changed");
        if is_plain_form_post() {
            leptos_axum::redirect("/profile?password=changed");
        }
        Ok("Your password was changed, and every other session signed out.".to_owned())
    })
    .await
}
