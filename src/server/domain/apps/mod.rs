//! Apps (SPEC §11): third-party and Speckle's own apps that a person authorizes to act for
//! them. Every door of the flow (standard OAuth under `/oauth/*`, Speckle's `/authn/verify`,
//! `/auth/local/*` and `/auth/token`) calls these alike: the proof of possession of a code
//! (`pkce`), where an app may send a person back (`redirect`), Speckle's default apps
//! (`defaults`), and grants with their codes and tokens (`grants`; the steps of their
//! transactions in `write`).

pub mod authorize;
mod defaults;
pub mod device;
mod grants;
pub mod pkce;
pub mod redirect;
pub mod registered;
mod write;

use diesel::prelude::*;
use diesel_async::RunQueryDsl;

pub use defaults::{default_app, install_defaults, DefaultApp, DEFAULT_APPS, WEB_APP};
pub use grants::{
    approve, authenticate_client, end_grant, exchange_code, expire_unused, give_back, granted, introspect,
    refresh, revoke_access, revoke_all_access, Code, CodeRequest, Introspected,
};
pub use write::Pair;

use crate::db_run;
use crate::rules::error::{AppError, AppResult};
use crate::server::db::schema::apps;
use crate::server::db::{models, DbConn};
use crate::server::domain::users;

/// How a token request names its app: the client id, and the secret if it sent one.
#[derive(Clone, Copy)]
pub struct Client<'a> {
    pub id: &'a str,
    pub secret: Option<&'a str>,
}

impl std::fmt::Debug for Client<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client").field("id", &self.id).finish_non_exhaustive()
    }
}

/// Why a token request is refused, in OAuth's words (RFC 6749 §5.2); Speckle's door says
/// the same in its own shape.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Refusal {
    /// The app is unknown, or did not prove it is itself.
    InvalidClient,
    /// The code or refresh token is unknown, used, expired, revoked or another app's.
    InvalidGrant(&'static str),
    /// A device's poll (RFC 8628 §3.5): the person has not answered yet.
    AuthorizationPending,
    /// A device polled sooner than its interval, which grows by five seconds.
    SlowDown,
    /// The device code expired before it was exchanged.
    ExpiredToken,
    /// The person refused the device.
    AccessDenied,
}

impl Refusal {
    /// OAuth's `error` code.
    pub fn code(&self) -> &'static str {
        match self {
            Refusal::InvalidClient => "invalid_client",
            Refusal::InvalidGrant(_) => "invalid_grant",
            Refusal::AuthorizationPending => "authorization_pending",
            Refusal::SlowDown => "slow_down",
            Refusal::ExpiredToken => "expired_token",
            Refusal::AccessDenied => "access_denied",
        }
    }

    /// What the client is told.
    pub fn description(&self) -> &'static str {
        match self {
            Refusal::InvalidClient => "The app is unknown, or its credentials are wrong.",
            Refusal::InvalidGrant(why) => why,
            Refusal::AuthorizationPending => {
                "The person has not answered yet: poll again after the interval."
            }
            Refusal::SlowDown => "Polled too soon: wait five seconds longer between polls.",
            Refusal::ExpiredToken => "The device code expired: start again.",
            Refusal::AccessDenied => "The person refused.",
        }
    }
}

/// A token request that did not yield tokens: refused, or failed on our side.
#[derive(Debug)]
pub enum GrantError {
    Refused(Refusal),
    Failed(AppError),
}

impl From<Refusal> for GrantError {
    fn from(refusal: Refusal) -> Self {
        GrantError::Refused(refusal)
    }
}

impl From<AppError> for GrantError {
    fn from(error: AppError) -> Self {
        GrantError::Failed(error)
    }
}

/// The app with this client id.
pub async fn find(conn: &mut DbConn, id: &str) -> AppResult<Option<models::App>> {
    Ok(db_run!(conn, |c| {
        apps::table.filter(apps::id.eq(id)).select(models::App::as_select()).first(c).await.optional()
    })?)
}

/// The name of the person who registered `app`; none for the apps this server installs.
pub async fn author_name(conn: &mut DbConn, app: &models::App) -> AppResult<Option<String>> {
    let Some(author) = &app.author_id else { return Ok(None) };
    Ok(Some(users::find(conn, author).await?.map(|user| user.name).unwrap_or_default()))
}

/// Where an app's registered redirect URL leads: one that starts with `/` is on this server
/// (`origin` is how the request reached us, or PUBLIC_URL).
pub fn resolve_redirect(registered: &str, origin: &str) -> String {
    match registered.strip_prefix('/') {
        Some(path) => format!("{}/{path}", origin.trim_end_matches('/')),
        None => registered.to_owned(),
    }
}

/// `url` with `pairs` added to its query, as every answer that sends a person back to an app
/// is written; none if `url` is not a URL.
pub fn with_query(url: &str, pairs: &[(&str, &str)]) -> Option<String> {
    let mut url = url::Url::parse(url).ok()?;
    url.query_pairs_mut().extend_pairs(pairs);
    Some(url.into())
}
