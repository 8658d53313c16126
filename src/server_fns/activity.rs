//! The activity of one token (`/profile/tokens/<id>`) and of the whole account
//! (`/profile/security`): events newest first, a page at a time.

use leptos::prelude::*;
use serde::{Deserialize, Serialize};

use super::tokens::TokenRow;
use crate::rules::error::AppError;

/// An event as the tables show it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct EventRow {
    pub label: String,
    pub detail: Option<String>,
    pub token_id: Option<String>,
    pub token_name: Option<String>,
    /// The exact time, and how long ago.
    pub at: String,
    pub ago: String,
    pub ip: String,
    pub user_agent: String,
}

/// An address a token was used from.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AddressRow {
    pub ip: String,
    pub at: String,
    pub ago: String,
}

/// `/profile/tokens/<id>`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TokenActivity {
    pub token: TokenRow,
    /// "Active", "Expired", "Revoked …", "Replaced …".
    pub status: String,
    pub addresses: Vec<AddressRow>,
    pub events: Vec<EventRow>,
    /// The `before` of the next (older) page, if there is one.
    pub older: Option<String>,
    /// What the token used in the last 30 days, when it is less than it holds (SPEC §12).
    pub narrow: Option<NarrowOffer>,
}

/// SPEC §12's "Narrow it": the scopes and streams a token used in the last 30 days.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct NarrowOffer {
    pub scopes: Vec<String>,
    /// None: the streams it has (all, or its own).
    pub streams: Option<Vec<super::tokens::StreamGrant>>,
}
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SecurityLog {
    pub events: Vec<EventRow>,
    pub older: Option<String>,
}

/// Events per page.
pub const EVENTS_PER_PAGE: i64 = 50;

#[server(endpoint = "token_activity")]
pub async fn get_token_activity(
    id: String,
    #[server(default)] before: String,
) -> Result<TokenActivity, AppError> {
    super::session::with_status(async move {
        use super::format as display;
        use super::session::{signed_in, SignedIn};
        use crate::server::db::iso8601;
        use crate::server::domain::{activity, tokens};
        let SignedIn { user, mut conn, .. } = signed_in().await?;
        let row = tokens::get(&mut conn, &user.id, &id.into()).await?;
        let now = conn.now();
        let status = match (&row.revoked_at, &row.grace_until) {
            (Some(at), _) => format!(
                "Revoked {} ({})",
                row.revoked_reason.as_deref().unwrap_or("by you"),
                display::date_time(*at)
            ),
            (None, Some(until)) if *until > now => {
                format!(
                    "Replaced by a regenerated token; works until it is used, or until {}",
                    iso8601(*until)
                )
            }
            (None, Some(_)) => "Replaced by a regenerated token".to_owned(),
            (None, None) if row.expires_at.is_some_and(|at| at <= now) => "Expired".to_owned(),
            (None, None) => "Active".to_owned(),
        };
        let addresses = activity::addresses(&mut conn, &row.id)
            .await?
            .into_iter()
            .map(|(ip, at)| AddressRow { ip, at: display::date_time(at), ago: display::ago(at, now) })
            .collect();
        let (events, older) = events_page(&mut conn, &user.id, Some(&row.id), &before, now).await?;
        let mut grants = super::tokens::stream_grants(&mut conn, std::slice::from_ref(&row)).await?;
        let token = super::tokens::token_row(&row, now, grants.remove(&row.id));
        let live = row.revoked_at.is_none() && row.grace_until.is_none();
        let narrow = match live {
            true => narrow_offer(&mut conn, &row, now).await?,
            false => None,
        };
        Ok(TokenActivity { token, status, addresses, events, older, narrow })
    })
    .await
}

/// The offer to narrow a token, with its streams' names, if it used less than it holds.
#[cfg(feature = "ssr")]
async fn narrow_offer(
    conn: &mut crate::server::db::DbConn,
    row: &crate::server::db::models::ApiToken,
    now: i64,
) -> Result<Option<NarrowOffer>, AppError> {
    use crate::server::domain::reach;
    use crate::server::domain::streams;
    let Some(narrowing) = reach::narrowing(conn, row, now).await? else { return Ok(None) };
    let streams = match &narrowing.streams {
        None => None,
        Some(chosen) => {
            let ids: Vec<&crate::server::db::StreamId> = chosen.keys().collect();
            let mut names = streams::names_of(conn, &ids).await?;
            Some(
                chosen
                    .iter()
                    .filter_map(|(id, level)| {
                        Some(super::tokens::StreamGrant::new(id, names.remove(id)?, *level))
                    })
                    .collect(),
            )
        }
    };
    let scopes = narrowing.scopes.iter().map(|scope| scope.name().to_owned()).collect();
    Ok(Some(NarrowOffer { scopes, streams }))
}

#[server(endpoint = "security_log")]
pub async fn get_security_log(#[server(default)] before: String) -> Result<SecurityLog, AppError> {
    super::session::with_status(async move {
        use super::session::{signed_in, SignedIn};
        let SignedIn { user, mut conn, .. } = signed_in().await?;
        let now = conn.now();
        let (events, older) = events_page(&mut conn, &user.id, None, &before, now).await?;
        Ok(SecurityLog { events, older })
    })
    .await
}

/// One page of events before the cursor `before` ("<time>.<id>", empty for the newest).
#[cfg(feature = "ssr")]
async fn events_page(
    conn: &mut crate::server::db::DbConn,
    user_id: &crate::server::db::UserId,
    token_id: Option<&crate::server::db::TokenId>,
    before: &str,
    now: i64,
) -> Result<(Vec<EventRow>, Option<String>), AppError> {
    use super::format as display;
    use crate::server::domain::activity;
    let cursor = match before.split_once('.').map(|(at, id)| (at.parse::<i64>(), id)) {
        None if before.is_empty() => None,
        Some((Ok(at), id)) if !id.is_empty() => Some((at, id.to_owned())),
        _ => return Err(crate::rules::error::bad_input("That page of events does not exist.")),
    };
    // One more than a page tells whether an older page exists.
    let mut events = activity::page(conn, user_id, token_id, cursor, EVENTS_PER_PAGE + 1).await?;
    let older = (events.len() as i64 > EVENTS_PER_PAGE).then(|| {
        events.truncate(EVENTS_PER_PAGE as usize);
        events.last().map(|last| format!("{}.{}", last.event.at, last.event.id)).unwrap_or_default()
    });
    let rows = events
        .into_iter()
        .map(|shown| EventRow {
            label: shown.kind.map_or("Event", |kind| kind.label()).to_owned(),
            detail: shown.event.detail,
            token_id: shown.event.token_id.map(String::from),
            token_name: shown.token_name,
            at: display::date_time(shown.event.at),
            ago: display::ago(shown.event.at, now),
            ip: shown.event.ip.unwrap_or_default(),
            user_agent: shown.event.user_agent.unwrap_or_default(),
        })
        .collect();
    Ok((rows, older))
}
