//! "Your Apps": list, create and revoke the signed-in user's personal access tokens.

use leptos::prelude::*;
use serde::{Deserialize, Serialize};

use crate::rules::error::AppError;

/// One live token as the list shows it; times are already words (relative, with the exact
/// time beside), so the server and the browser render the same text.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TokenRow {
    pub id: String,
    pub name: String,
    pub description: Option<String>,
    pub scopes: Vec<String>,
    pub last_chars: String,
    /// "3 days ago", and the exact time for its title.
    pub created: String,
    pub created_exact: String,
    /// "Never used", or the exact time of the last use; and how long ago.
    pub last_used: String,
    pub last_used_ago: Option<String>,
    /// "Never", "Expired", "Expires in 5 days" (within a week) or a date; and the exact time.
    pub expires: String,
    pub expires_exact: Option<String>,
    /// The date it expires ("Dec 5, 2026"), if it does.
    pub expires_date: Option<String>,
    /// Expires within 7 days (and has not yet).
    pub expires_soon: bool,
    pub expired: bool,
    /// A token limited to chosen streams: those streams (SPEC §12); none: every stream.
    pub streams: Option<Vec<StreamGrant>>,
}

impl TokenRow {
    /// What the row says of its streams: `All streams`, `1 stream`, `N streams`.
    pub fn reach(&self) -> String {
        match self.streams.as_ref().map(Vec::len) {
            None => "All streams".to_owned(),
            Some(1) => "1 stream".to_owned(),
            Some(n) => format!("{n} streams"),
        }
    }
}

/// One of a limited token's streams, and what the token may do there.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct StreamGrant {
    pub id: String,
    pub name: String,
    /// `Read` or `Read and write`.
    pub access: String,
}

#[cfg(feature = "ssr")]
impl StreamGrant {
    /// The stream at this level, as the pages word it.
    pub(crate) fn new(
        id: &crate::server::db::StreamId,
        name: String,
        level: crate::server::domain::reach::Level,
    ) -> StreamGrant {
        use crate::server::domain::reach::Level;
        let access = match level {
            Level::Read => "Read",
            Level::Write => "Read and write",
        };
        StreamGrant { id: id.to_string(), name, access: access.to_owned() }
    }
}

/// A stream the New token dialog offers (SPEC §12), with its owner's name when another
/// stream of the list has the same name.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct StreamChoice {
    pub id: String,
    pub name: String,
    pub owner: Option<String>,
}

/// The most streams the New token dialog lists for one search.
pub const STREAM_CHOICES: i32 = 50;

/// The streams the user is on whose name or description holds `search` (all, without one),
/// newest first, at most [`STREAM_CHOICES`]: filtered in the database, however many there are.
#[server(endpoint = "find_streams")]
pub async fn find_streams(#[server(default)] search: String) -> Result<Vec<StreamChoice>, AppError> {
    super::session::with_status(async move {
        use super::session::{signed_in, state, SignedIn};
        use crate::server::db::sql::Search;
        use crate::server::domain::pagination::{Order, Page};
        use crate::server::domain::reach::Actor;
        use crate::server::domain::streams::{self, StreamFilter};
        let SignedIn { user, mut conn, .. } = signed_in().await?;
        let filter = StreamFilter { search: Search::new(Some(search.trim()))?, roles: None };
        let page = Page::new(Some(STREAM_CHOICES), None, Order::NewestFirst)?;
        let (_, rows, _) =
            streams::matching_for_user(&state()?.db, Actor::person(&user.id), &filter, &page).await?;
        let twice: Vec<&str> = rows
            .iter()
            .map(|(stream, _)| stream.name.as_str())
            .filter(|name| rows.iter().filter(|(other, _)| other.name == *name).count() > 1)
            .collect();
        let named_twice: Vec<&crate::server::db::StreamId> = rows
            .iter()
            .filter(|(stream, _)| twice.contains(&stream.name.as_str()))
            .map(|(s, _)| &s.id)
            .collect();
        let mut owners = streams::owner_names(&mut conn, &named_twice).await?;
        Ok(rows
            .iter()
            .map(|(stream, _)| StreamChoice {
                id: stream.id.to_string(),
                name: stream.name.clone(),
                owner: owners.remove(&stream.id),
            })
            .collect())
    })
    .await
}

/// One page of the list, and the tokens the expiry notice names.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TokenPage {
    pub rows: Vec<TokenRow>,
    /// Tokens matching the filter, on every page.
    pub total: usize,
    /// Tokens the user holds, whatever the filter.
    pub held: usize,
    /// 1-based.
    pub page: usize,
    pub pages: usize,
    /// Live tokens expiring within 7 days, and tokens expired in the last 7 days.
    pub expiring: Vec<TokenRow>,
}

/// Rows per page of the list.
pub const TOKENS_PER_PAGE: usize = 50;
/// The list offers its filter box past this many tokens.
pub const FILTER_FROM: usize = 10;

/// The order of the list: newest first, or by last use.
pub const SORTS: [(&str, &str); 2] = [("created", "Newest first"), ("last_used", "Recently used first")];

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

/// The user's tokens: filtered by name (`filter`), sorted (`sort`: see [`SORTS`]), one page.
#[server(endpoint = "list_tokens")]
pub async fn list_tokens(
    #[server(default)] filter: String,
    #[server(default)] sort: String,
    #[server(default)] page: usize,
) -> Result<TokenPage, AppError> {
    super::session::with_status(async move {
        use super::session::{signed_in, SignedIn};
        use crate::server::domain::tokens;
        let SignedIn { user, mut conn, .. } = signed_in().await?;
        let now = conn.now();
        let mut all = tokens::list(&mut conn, &user.id).await?;
        let mut reach = stream_grants(&mut conn, &all).await?;
        let held = all.len();
        let week = crate::rules::limits::EXPIRES_SOON_MS;
        let expiring = all
            .iter()
            .filter(|row| row.expires_at.is_some_and(|at| at > now - week && at <= now + week))
            .map(|row| token_row(row, now, reach.get(&row.id).cloned()))
            .collect();
        let filter = filter.trim().to_lowercase();
        if !filter.is_empty() {
            all.retain(|row| row.name.to_lowercase().contains(&filter));
        }
        if sort == "last_used" {
            // Stable: tokens never used keep their newest-first order, after the used ones.
            all.sort_by_key(|row| std::cmp::Reverse(row.last_used_at.unwrap_or(i64::MIN)));
        }
        let total = all.len();
        let pages = total.div_ceil(TOKENS_PER_PAGE).max(1);
        let page = page.clamp(1, pages);
        let rows = all
            .iter()
            .skip((page - 1) * TOKENS_PER_PAGE)
            .take(TOKENS_PER_PAGE)
            .map(|row| token_row(row, now, reach.remove(&row.id)))
            .collect();
        Ok(TokenPage { rows, total, held, page, pages, expiring })
    })
    .await
}

/// Creates a token. With JavaScript the secret comes back in the answer; a plain form post
/// gets it once through the session (`take_new_token`) and a redirect to `/profile`.
#[server(endpoint = "create_token")]
pub async fn create_token(
    name: String,
    #[server(default)] description: String,
    #[server(default)] scopes: Vec<String>,
    expiration: String,
    #[server(default)] reach: String,
    #[server(default)] streams: Vec<String>,
    #[server(default)] levels: Vec<String>,
) -> Result<Option<NewToken>, AppError> {
    super::session::with_status(async move {
        use super::session::{signed_in, SignedIn};
        use crate::rules::error::bad_input;
        use crate::rules::scopes::ScopeSet;
        use crate::server::domain::tokens;

        let SignedIn { user, mut conn, seen } = signed_in().await?;
        let scopes = ScopeSet::try_from(scopes)
            .map_err(|unknown| bad_input(format!("There is no scope called {unknown:?}.")))?;
        let expires_at = chosen_expiry(&expiration, conn.now())?;
        let streams = chosen_streams(&reach, streams, &levels)?;
        let new = tokens::NewToken {
            name: &name,
            description: Some(&description),
            scopes,
            expires_at,
            streams: streams.as_deref(),
        };
        let (row, secret) = tokens::create(&mut conn, &user.id, new, &seen).await?;
        hand_over(row, secret).await
    })
    .await
}

/// The `Streams` choice of the dialog: `All streams` (none), or the ticked streams, each at
/// its `Access to …` (`<id>:write`, or read).
#[cfg(feature = "ssr")]
fn chosen_streams(
    reach: &str,
    streams: Vec<String>,
    levels: &[String],
) -> Result<Option<Vec<(crate::server::db::StreamId, crate::server::domain::reach::Level)>>, AppError> {
    use crate::server::domain::reach::Level;
    match reach {
        "" | "all" => Ok(None),
        "selected" if streams.is_empty() => {
            Err(crate::rules::error::bad_input("Choose at least one stream, or All streams."))
        }
        "selected" => Ok(Some(
            streams
                .into_iter()
                .map(|id| {
                    let writes = levels.iter().any(|level| level.strip_suffix(":write") == Some(id.as_str()));
                    let level = if writes { Level::Write } else { Level::Read };
                    (id.into(), level)
                })
                .collect(),
        )),
        _ => Err(crate::rules::error::bad_input("Streams: choose All streams or Only selected streams.")),
    }
}

/// The streams of the limited ones of these tokens, as their rows show them.
#[cfg(feature = "ssr")]
pub(crate) async fn stream_grants(
    conn: &mut crate::server::db::DbConn,
    rows: &[crate::server::db::models::ApiToken],
) -> Result<std::collections::HashMap<crate::server::db::TokenId, Vec<StreamGrant>>, AppError> {
    use crate::server::domain::reach;
    let limited: Vec<&crate::server::db::TokenId> =
        rows.iter().filter(|row| row.limited).map(|row| &row.id).collect();
    let mut grants: std::collections::HashMap<_, Vec<StreamGrant>> =
        limited.iter().map(|id| ((*id).clone(), Vec::new())).collect();
    if limited.is_empty() {
        return Ok(grants);
    }
    for named in reach::named(conn, &limited).await? {
        let grant = StreamGrant::new(&named.stream_id, named.name, named.level);
        grants.entry(named.token_id).or_default().push(grant);
    }
    Ok(grants)
}

/// The `Expiration` select's choice as a time from `now`.
#[cfg(feature = "ssr")]
fn chosen_expiry(expiration: &str, now: i64) -> Result<Option<i64>, AppError> {
    use crate::rules::limits::{expiration_days, DAY_MS};
    match expiration_days(expiration) {
        Some(days) => Ok(days.map(|days| now + days * DAY_MS)),
        None => Err(crate::rules::error::bad_input("Choose an expiration from the list.")),
    }
}

/// Shows a new secret once: in the answer with JavaScript; a plain form post gets it once
/// through the session (`take_new_token`) and a redirect to `/profile`.
#[cfg(feature = "ssr")]
async fn hand_over(
    row: crate::server::db::models::ApiToken,
    secret: crate::server::domain::tokens::PlainToken,
) -> Result<Option<NewToken>, AppError> {
    if super::session::is_plain_form_post() {
        super::flash::keep(NEW_TOKEN_KEY, row.id.into(), row.name, secret.expose_secret()).await?;
        return Ok(None);
    }
    Ok(Some(NewToken { id: row.id.into(), name: row.name, secret: secret.expose_secret().to_owned() }))
}

/// Regenerates a token (SPEC §8): a new secret, shown once as at creation, with the same name,
/// scopes and description; the old one works until the new one is first used, or 24 hours.
/// With `narrow` (SPEC §12's "Narrow it"), the new token holds only the ticked `scopes` and,
/// when some are ticked, only these `streams` at their `levels` (as in the New token dialog),
/// within the old token's.
#[server(endpoint = "regenerate_token")]
pub async fn regenerate_token(
    id: String,
    expiration: String,
    #[server(default)] narrow: bool,
    #[server(default)] scopes: Vec<String>,
    #[server(default)] streams: Vec<String>,
    #[server(default)] levels: Vec<String>,
) -> Result<Option<NewToken>, AppError> {
    super::session::with_status(async move {
        use super::session::{signed_in, SignedIn};
        use crate::rules::limits::DEFAULT_GRACE_MS;
        use crate::server::domain::tokens::{self, Expiry, Rotation};
        let SignedIn { user, mut conn, seen } = signed_in().await?;
        let expiry = match chosen_expiry(&expiration, conn.now())? {
            Some(at) => Expiry::At(at),
            None => Expiry::Never,
        };
        let id = crate::server::db::TokenId::from(id);
        let narrowing = match narrow {
            false => None,
            true => {
                let scopes = crate::rules::scopes::ScopeSet::try_from(scopes).map_err(|unknown| {
                    crate::rules::error::bad_input(format!("There is no scope called {unknown:?}."))
                })?;
                let reach = if streams.is_empty() { "all" } else { "selected" };
                let streams =
                    chosen_streams(reach, streams, &levels)?.map(|chosen| chosen.into_iter().collect());
                Some(crate::server::domain::reach::Narrowing { scopes, streams })
            }
        };
        let rotation = Rotation {
            token_id: &id,
            expiry,
            grace_ms: DEFAULT_GRACE_MS,
            by: None,
            narrow: narrowing.as_ref(),
        };
        let (row, secret) = tokens::rotate(&mut conn, &user.id, rotation, &seen).await?;
        hand_over(row, secret).await
    })
    .await
}

/// Renames a token and sets its description.
#[server(endpoint = "update_token")]
pub async fn update_token(
    id: String,
    name: String,
    #[server(default)] description: String,
) -> Result<(), AppError> {
    super::session::with_status(async move {
        use super::session::{is_plain_form_post, signed_in, SignedIn};
        use crate::server::domain::tokens;
        let SignedIn { user, mut conn, .. } = signed_in().await?;
        tokens::update(&mut conn, &user.id, &id.into(), &name, Some(&description)).await?;
        if is_plain_form_post() {
            leptos_axum::redirect("/profile");
        }
        Ok(())
    })
    .await
}

/// The token created by a plain form post, handed over once and then forgotten.
#[server(endpoint = "take_new_token")]
pub async fn take_new_token() -> Result<Option<NewToken>, AppError> {
    super::session::with_status(async move {
        let flashed = super::flash::take(NEW_TOKEN_KEY).await?;
        Ok(flashed.map(|f| NewToken { id: f.id, name: f.name, secret: f.secret }))
    })
    .await
}

#[cfg(feature = "ssr")]
const NEW_TOKEN_KEY: &str = "new_token";

#[server(endpoint = "revoke_token")]
pub async fn revoke_token(id: String) -> Result<(), AppError> {
    super::session::with_status(async move {
        use super::session::{is_plain_form_post, signed_in, SignedIn};
        use crate::server::domain::activity::Revoker;
        use crate::server::domain::tokens;
        let SignedIn { user, mut conn, seen } = signed_in().await?;
        tokens::revoke(&mut conn, &user.id, &id.into(), Revoker::Owner, &seen).await?;
        if is_plain_form_post() {
            leptos_axum::redirect("/profile");
        }
        Ok(())
    })
    .await
}

#[cfg(feature = "ssr")]
/// A token as the list shows it, at `now`.
pub(crate) fn token_row(
    row: &crate::server::db::models::ApiToken,
    now: i64,
    streams: Option<Vec<StreamGrant>>,
) -> TokenRow {
    use super::format::{ago, ahead, date, date_time};
    let expired = row.expires_at.is_some_and(|at| at <= now);
    let expires_soon =
        !expired && row.expires_at.is_some_and(|at| at <= now + crate::rules::limits::EXPIRES_SOON_MS);
    TokenRow {
        id: row.id.to_string(),
        name: row.name.clone(),
        description: row.description.clone(),
        scopes: row.scopes.split_whitespace().map(str::to_owned).collect(),
        last_chars: row.last_chars.clone(),
        created: ago(row.created_at, now),
        created_exact: date_time(row.created_at),
        last_used: row.last_used_at.map_or("Never used".to_owned(), date_time),
        last_used_ago: row.last_used_at.map(|at| ago(at, now)),
        expires: match row.expires_at {
            None => "Never".to_owned(),
            Some(_) if expired => "Expired".to_owned(),
            Some(at) if expires_soon => format!("Expires {}", ahead(at, now)),
            Some(at) => date(at),
        },
        expires_exact: row.expires_at.map(date_time),
        expires_date: row.expires_at.map(date),
        expires_soon,
        expired,
        streams,
    }
}
