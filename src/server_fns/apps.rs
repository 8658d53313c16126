//! "Your Apps", the apps part (SPEC §11): the apps the signed-in person has authorized, and
//! the apps they registered as a developer. The domain (`server::domain::apps`) does the work
//! for this door and GraphQL's alike.

use leptos::prelude::*;
use serde::{Deserialize, Serialize};

use crate::rules::error::AppError;

/// An app the person has authorized, as `Authorized apps` lists it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AuthorizedAppRow {
    pub app_id: String,
    pub name: String,
    /// Who registered it; none for the apps this server installs.
    pub author: Option<String>,
    pub scopes: Vec<String>,
    /// "3 days ago", and the exact time for its title.
    pub authorized: String,
    pub authorized_exact: String,
    pub last_used: String,
    pub last_used_exact: String,
}

/// An app the person registered, as `Developer apps` lists it (and its `Edit` dialog fills).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct DeveloperAppRow {
    /// The client id.
    pub id: String,
    pub name: String,
    pub description: String,
    /// One URL a line.
    pub redirect_urls: String,
    pub scopes: Vec<String>,
    /// A public client (no secret).
    pub public: bool,
    pub created: String,
    pub created_exact: String,
}

/// Both lists.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AppsPage {
    pub authorized: Vec<AuthorizedAppRow>,
    pub created: Vec<DeveloperAppRow>,
}

/// An app just registered, or its secret just regenerated: the one time the secret is shown
/// (none for a public client).
#[derive(Clone, PartialEq, Serialize, Deserialize)]
pub struct NewApp {
    pub id: String,
    pub name: String,
    pub secret: Option<String>,
}

impl std::fmt::Debug for NewApp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NewApp").field("id", &self.id).field("name", &self.name).finish_non_exhaustive()
    }
}

#[server(endpoint = "list_apps")]
pub async fn list_apps() -> Result<AppsPage, AppError> {
    super::session::with_status(async move {
        use super::format::{ago, date_time};
        use super::session::{signed_in, SignedIn};
        use crate::server::domain::apps::registered;
        let SignedIn { user, mut conn, .. } = signed_in().await?;
        let now = conn.now();
        let scopes = |names: &str| names.split_whitespace().map(str::to_owned).collect();
        let authorized = registered::authorized_by(&mut conn, &user.id)
            .await?
            .into_iter()
            .map(|row| AuthorizedAppRow {
                app_id: row.app.id.to_string(),
                name: row.app.name,
                author: row.author,
                scopes: scopes(&row.grant.scopes),
                authorized: ago(row.grant.created_at, now),
                authorized_exact: date_time(row.grant.created_at),
                last_used: ago(row.grant.last_used_at, now),
                last_used_exact: date_time(row.grant.last_used_at),
            })
            .collect();
        let created = registered::created_by(&mut conn, &user.id)
            .await?
            .into_iter()
            .map(|(app, confidential)| DeveloperAppRow {
                id: app.id.to_string(),
                scopes: scopes(&app.scopes),
                name: app.name,
                description: app.description,
                redirect_urls: app.redirect_urls,
                public: !confidential,
                created: ago(app.created_at, now),
                created_exact: date_time(app.created_at),
            })
            .collect();
        Ok(AppsPage { authorized, created })
    })
    .await
}

/// Ends an app's access: its access and refresh tokens die at once, on every server. An
/// access already ended is not an error (a second submission of the same dialog).
#[server(endpoint = "revoke_app_access")]
pub async fn revoke_app_access(app_id: String) -> Result<(), AppError> {
    super::session::with_status(async move {
        use super::session::{signed_in, SignedIn};
        use crate::server::domain::activity::Revoker;
        use crate::server::domain::apps;
        let SignedIn { user, mut conn, seen } = signed_in().await?;
        apps::revoke_access(&mut conn, &user.id, &app_id, Revoker::AppAccess, &seen).await?;
        back_to_profile();
        Ok(())
    })
    .await
}

/// Registers an app. With JavaScript its client id and secret come back in the answer; a
/// plain form post gets them once through the session (`take_new_app`) and a redirect.
#[server(endpoint = "create_app")]
pub async fn create_app(
    name: String,
    #[server(default)] description: String,
    #[server(default)] redirect_urls: String,
    #[server(default)] scopes: Vec<String>,
    #[server(default)] public: String,
) -> Result<Option<NewApp>, AppError> {
    super::session::with_status(async move {
        use super::session::{signed_in, SignedIn};
        use crate::server::domain::apps::registered;
        let SignedIn { user, mut conn, .. } = signed_in().await?;
        let fields = fields(name, description, redirect_urls, scopes)?;
        let (app, secret) = registered::register(&mut conn, &user.id, &fields, !public.is_empty()).await?;
        hand_over(app.id.to_string(), app.name, secret).await
    })
    .await
}

/// Edits an app's fields (its client id and kind stay).
#[server(endpoint = "update_app")]
pub async fn update_app(
    id: String,
    name: String,
    #[server(default)] description: String,
    #[server(default)] redirect_urls: String,
    #[server(default)] scopes: Vec<String>,
) -> Result<(), AppError> {
    super::session::with_status(async move {
        use super::session::{signed_in, SignedIn};
        use crate::server::domain::apps::registered;
        let SignedIn { user, mut conn, seen } = signed_in().await?;
        let fields = fields(name, description, redirect_urls, scopes)?;
        registered::update(&mut conn, &user.id, &id, &fields, &seen).await?;
        back_to_profile();
        Ok(())
    })
    .await
}

/// A new client secret, shown once; the old one stops working at once.
#[server(endpoint = "regenerate_app_secret")]
pub async fn regenerate_app_secret(id: String) -> Result<Option<NewApp>, AppError> {
    super::session::with_status(async move {
        use super::session::{signed_in, SignedIn};
        use crate::server::domain::apps::registered;
        let SignedIn { user, mut conn, .. } = signed_in().await?;
        let (app, secret) = registered::regenerate_secret(&mut conn, &user.id, &id).await?;
        hand_over(id, app.name, Some(secret)).await
    })
    .await
}

/// Deletes an app; every person's grant of it ends.
#[server(endpoint = "delete_app")]
pub async fn delete_app(id: String) -> Result<(), AppError> {
    super::session::with_status(async move {
        use super::session::{signed_in, SignedIn};
        use crate::server::domain::apps::registered;
        let SignedIn { user, mut conn, seen } = signed_in().await?;
        registered::delete(&mut conn, &user.id, &id, &seen).await?;
        back_to_profile();
        Ok(())
    })
    .await
}

/// The app registered (or secret regenerated) by a plain form post, handed over once.
#[server(endpoint = "take_new_app")]
pub async fn take_new_app() -> Result<Option<NewApp>, AppError> {
    super::session::with_status(async move {
        let flashed = super::flash::take(NEW_APP_KEY).await?;
        // A public client crosses with an empty secret.
        Ok(flashed.map(|f| NewApp {
            id: f.id,
            name: f.name,
            secret: Some(f.secret).filter(|s| !s.is_empty()),
        }))
    })
    .await
}

#[cfg(feature = "ssr")]
const NEW_APP_KEY: &str = "new_app";

/// The form's fields as the domain takes them; an unknown scope is refused.
#[cfg(feature = "ssr")]
fn fields(
    name: String,
    description: String,
    redirect_urls: String,
    scopes: Vec<String>,
) -> Result<crate::server::domain::apps::registered::AppFields, AppError> {
    use crate::rules::error::bad_input;
    let scopes = crate::rules::scopes::ScopeSet::try_from(scopes)
        .map_err(|unknown| bad_input(format!("There is no scope called {unknown:?}.")))?;
    Ok(crate::server::domain::apps::registered::AppFields { name, description, redirect_urls, scopes })
}

/// Shows the client id and secret once: in the answer with JavaScript, or across the
/// redirect that answers a plain form post.
#[cfg(feature = "ssr")]
async fn hand_over(
    id: String,
    name: String,
    secret: Option<crate::server::domain::tokens::PlainToken>,
) -> Result<Option<NewApp>, AppError> {
    let secret = secret.as_ref().map(|secret| secret.expose_secret());
    if super::session::is_plain_form_post() {
        super::flash::keep(NEW_APP_KEY, id, name, secret.unwrap_or_default()).await?;
        return Ok(None);
    }
    Ok(Some(NewApp { id, name, secret: secret.map(str::to_owned) }))
}

/// A plain form post (JavaScript off) goes back to `/profile`.
#[cfg(feature = "ssr")]
fn back_to_profile() {
    if super::session::is_plain_form_post() {
        leptos_axum::redirect("/profile");
    }
}
