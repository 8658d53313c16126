//! A new secret (a token's, an app's client secret) shown once to a browser without
//! JavaScript: its form post is answered with a redirect, so the secret crosses it sealed in
//! the session with its pad in a cookie (`server::auth::handover`), and the page that follows
//! takes it, once.

use leptos::prelude::use_context;

use super::session::{session, session_error, state};
use crate::rules::error::AppResult;
use crate::server::auth::handover;

/// What crossed the redirect: the id and name of what was made, and its secret.
pub struct Flashed {
    pub id: String,
    pub name: String,
    pub secret: String,
}

/// Keeps `secret` for the next page under the session key `key`, and redirects to `/profile`.
pub async fn keep(key: &'static str, id: String, name: String, secret: &str) -> AppResult<()> {
    let state = state()?;
    let (sealed, pad) = handover::seal(id, name, secret, state.db.now());
    session().await?.insert(key, &sealed).await.map_err(session_error)?;
    let cookie = handover::pad_cookie(&pad, state.secure_cookies);
    if let (Some(response), Ok(cookie)) = (use_context::<leptos_axum::ResponseOptions>(), cookie.parse()) {
        response.append_header(axum::http::header::SET_COOKIE, cookie);
    }
    leptos_axum::redirect("/profile");
    Ok(())
}

/// What was kept under `key`, handed over once and then forgotten; none once its five
/// minutes are over, or without the pad's cookie.
pub async fn take(key: &'static str) -> AppResult<Option<Flashed>> {
    let now = state()?.db.now();
    let Some(sealed) = session().await?.remove::<handover::Sealed>(key).await.map_err(session_error)? else {
        return Ok(None);
    };
    let pad =
        use_context::<axum::http::request::Parts>().and_then(|parts| handover::pad_from(&parts.headers));
    let secret = pad.and_then(|pad| handover::open(&sealed, &pad, now));
    Ok(secret.map(|secret| Flashed { id: sealed.id, name: sealed.name, secret }))
}
