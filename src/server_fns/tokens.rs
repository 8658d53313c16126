//! "Your Apps": list, create and revoke the signed-in user's personal access tokens.

use leptos::prelude::*;
use serde::{Deserialize, Serialize};

use crate::error::AppError;

/// One live token as the list shows it; dates are already words, so the server and the
/// browser render the same text.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TokenRow {
    pub id: String,
    pub name: String,
    pub scopes: Vec<String>,
    pub last_chars: String,
    pub created: String,
    pub last_used: String,
    pub expires: String,
}

/// A token just created: the one time its secret is shown.
#[derive(Clone, PartialEq, Serialize, Deserialize)]
pub struct NewToken {
    pub id: String,
    pub name: String,
    pub secret: String,
}

impl std::fmt::Debug for NewToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NewToken").field("id", &self.id).field("name", &self.name).finish_non_exhaustive()
    }
}

/// The choices of the `Expiration` select: (value, label); 90 days is the default.
pub const EXPIRATIONS: [(&str, &str); 5] =
    [("7", "7 days"), ("30", "30 days"), ("90", "90 days"), ("365", "1 year"), ("never", "No expiration")];
pub const DEFAULT_EXPIRATION: &str = "90";

#[server(endpoint = "list_tokens")]
pub async fn list_tokens() -> Result<Vec<TokenRow>, AppError> {
    super::session::with_status(async move {
        use super::session::{db, require_user};
        use crate::server::db::now_millis;
        use crate::server::tokens;
        let mut conn = db().await?;
        let user = require_user(&mut conn).await?;
        let now = now_millis();
        let rows = tokens::list(&mut conn, &user.id).await?;
        Ok(rows
            .into_iter()
            .map(|row| TokenRow {
                scopes: row.scopes.split_whitespace().map(str::to_owned).collect(),
                created: display::date(row.created_at),
                last_used: row.last_used_at.map_or("Never used".to_owned(), display::date_time),
                expires: match row.expires_at {
                    None => "Never".to_owned(),
                    Some(at) if at <= now => "Expired".to_owned(),
                    Some(at) => display::date(at),
                },
                id: row.id,
                name: row.name,
                last_chars: row.last_chars,
            })
            .collect())
    })
    .await
}

/// Creates a token. With JavaScript the secret comes back in the answer; a plain form post
/// gets it once through the session (`take_new_token`) and a redirect to `/profile`.
#[server(endpoint = "create_token")]
pub async fn create_token(
    name: String,
    #[server(default)] scopes: Vec<String>,
    expiration: String,
) -> Result<Option<NewToken>, AppError> {
    super::session::with_status(async move {
        use super::session::{db, is_plain_form_post, require_user, session, session_error};
        use crate::error::bad_input;
        use crate::scopes::ScopeSet;
        use crate::server::db::now_millis;
        use crate::server::tokens;

        let mut conn = db().await?;
        let user = require_user(&mut conn).await?;
        let scopes = ScopeSet::try_from(scopes)
            .map_err(|unknown| bad_input(format!("There is no scope called {unknown:?}.")))?;
        let expires_at = match expiration.as_str() {
            "never" => None,
            days => match days.parse::<i64>() {
                Ok(days @ (7 | 30 | 90 | 365)) => Some(now_millis() + days * 24 * 3600 * 1000),
                _ => return Err(bad_input("Choose an expiration from the list.")),
            },
        };
        let (row, secret) = tokens::create(&mut conn, &user.id, &name, scopes, expires_at).await?;
        if is_plain_form_post() {
            // Sealed in the session, its pad in a cookie: never in the database in the clear.
            use crate::server::auth::handover;
            let (sealed, pad) = handover::seal(row.id, row.name, secret.expose_secret());
            session().await?.insert(NEW_TOKEN_KEY, &sealed).await.map_err(session_error)?;
            let cookie = handover::pad_cookie(&pad, super::session::state()?.secure_cookies);
            if let (Some(response), Ok(cookie)) =
                (use_context::<leptos_axum::ResponseOptions>(), cookie.parse())
            {
                response.append_header(axum::http::header::SET_COOKIE, cookie);
            }
            leptos_axum::redirect("/profile");
            return Ok(None);
        }
        Ok(Some(NewToken { id: row.id, name: row.name, secret: secret.expose_secret().to_owned() }))
    })
    .await
}

/// The token created by a plain form post, handed over once and then forgotten.
#[server(endpoint = "take_new_token")]
pub async fn take_new_token() -> Result<Option<NewToken>, AppError> {
    super::session::with_status(async move {
        use super::session::{session, session_error};
        use crate::server::auth::handover;
        let Some(sealed) =
            session().await?.remove::<handover::Sealed>(NEW_TOKEN_KEY).await.map_err(session_error)?
        else {
            return Ok(None);
        };
        let pad =
            use_context::<axum::http::request::Parts>().and_then(|parts| handover::pad_from(&parts.headers));
        let secret = pad.and_then(|pad| handover::open(&sealed, &pad));
        Ok(secret.map(|secret| NewToken { id: sealed.id, name: sealed.name, secret }))
    })
    .await
}

#[cfg(feature = "ssr")]
const NEW_TOKEN_KEY: &str = "new_token";

#[server(endpoint = "revoke_token")]
pub async fn revoke_token(id: String) -> Result<(), AppError> {
    super::session::with_status(async move {
        use super::session::{db, is_plain_form_post, require_user};
        use crate::server::tokens;
        let mut conn = db().await?;
        let user = require_user(&mut conn).await?;
        tokens::revoke(&mut conn, &user.id, &id).await?;
        if is_plain_form_post() {
            leptos_axum::redirect("/profile");
        }
        Ok(())
    })
    .await
}

#[cfg(feature = "ssr")]
mod display {
    use time::macros::format_description;
    use time::OffsetDateTime;

    fn at(millis: i64) -> OffsetDateTime {
        OffsetDateTime::from_unix_timestamp_nanos(i128::from(millis) * 1_000_000)
            .unwrap_or(OffsetDateTime::UNIX_EPOCH)
    }

    /// "Nov 27, 2026"
    pub fn date(millis: i64) -> String {
        at(millis)
            .format(format_description!("[month repr:short] [day padding:none], [year]"))
            .unwrap_or_default()
    }

    /// "Nov 27, 2026, 22:31 UTC"
    pub fn date_time(millis: i64) -> String {
        at(millis)
            .format(format_description!("[month repr:short] [day padding:none], [year], [hour]:[minute] UTC"))
            .unwrap_or_default()
    }
}
