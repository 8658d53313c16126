//! Creating, listing, editing, regenerating and revoking tokens (SPEC §3, §4, §8). Every write
//! that changes what the bearer check may have cached goes through `db_write!`, which ends the
//! tokens epoch before the caller answers.

use diesel::prelude::*;
use diesel_async::scoped_futures::ScopedFutureExt;
use diesel_async::{AsyncConnection, RunQueryDsl};

use super::{validate_description, validate_name, Caller, PlainToken, MAX_LIVE_TOKENS};
use crate::error::{bad_input, forbidden, not_found, AppError, AppResult};
use crate::scopes::{Scope, ScopeSet};
use crate::server::activity::{event, EventKind, Revoker, Seen};
use crate::server::db::schema::{api_tokens, users};
use crate::server::db::{iso8601, models, new_id, now_millis, DbConn, Topic};
use crate::{db_run, db_write, record_events};

/// The longest lifespan a token made through the API may ask for: 200 years (specklepy asks
/// for 100 by default). Longer would overflow dates.
pub const MAX_LIFESPAN_MS: i64 = 200 * 365 * 24 * 3600 * 1000;
/// The shortest lifespan a token made through the API may ask for: a token that dies before
/// it can be copied is a mistake.
pub const MIN_LIFESPAN_MS: i64 = 60_000;
/// How long a regenerated token keeps working unless its successor is used first: 24 hours.
pub const DEFAULT_GRACE_MS: i64 = crate::server::db::DAY_MS;

/// Takes the user's row lock before anything is read in a token write's transaction: two
/// writes for one user run one after the other, on both backends (SQLite then never has to
/// upgrade a read lock).
macro_rules! lock_user {
    ($c:ident, $user_id:expr) => {
        diesel::update(users::table.find($user_id))
            .set(users::created_at.eq(users::created_at))
            .execute($c)
            .await?
    };
}

/// How many tokens the user holds against [`MAX_LIVE_TOKENS`]: every token not revoked that
/// may still work or be renewed (expired ones until revoked, regenerated ones until their
/// grace period ends). Runs inside a write's transaction, after `lock_user!`.
macro_rules! held {
    ($c:ident, $user_id:expr, $now:expr) => {
        api_tokens::table
            .filter(api_tokens::user_id.eq($user_id))
            .filter(api_tokens::revoked_at.is_null())
            .filter(api_tokens::grace_until.is_null().or(api_tokens::grace_until.gt($now)))
            .count()
            .get_result::<i64>($c)
            .await?
    };
}

/// Inserts a token row with its digest.
macro_rules! insert_row {
    ($c:ident, $row:expr, $digest:expr) => {{
        let row: &models::ApiToken = $row;
        diesel::insert_into(api_tokens::table)
            .values((
                api_tokens::id.eq(&row.id),
                api_tokens::user_id.eq(&row.user_id),
                api_tokens::name.eq(&row.name),
                api_tokens::token_digest.eq($digest.as_bytes()),
                api_tokens::last_chars.eq(&row.last_chars),
                api_tokens::scopes.eq(&row.scopes),
                api_tokens::created_at.eq(row.created_at),
                api_tokens::expires_at.eq(row.expires_at),
                api_tokens::description.eq(&row.description),
                api_tokens::parent_id.eq(&row.parent_id),
                api_tokens::family_id.eq(&row.family_id),
                api_tokens::replaces.eq(&row.replaces),
            ))
            .execute($c)
            .await?
    }};
}

/// Revokes `$roots` (ids and names, live) for `$revoker`, then what they minted, level by
/// level, each for its parent; records an event per token. Answers how many were revoked.
/// Runs inside a write's transaction, after `lock_user!`.
macro_rules! revoke_tree {
    ($c:ident, $user_id:expr, $roots:expr, $revoker:expr, $seen:expr, $now:expr) => {{
        let mut level: Vec<(String, String, Revoker)> =
            $roots.into_iter().map(|(id, name)| (id, name, $revoker.clone())).collect();
        let mut count = 0usize;
        while !level.is_empty() {
            let mut events = Vec::with_capacity(level.len());
            for (id, _, revoker) in &level {
                let reason = revoker.describe();
                diesel::update(api_tokens::table.find(id).filter(api_tokens::revoked_at.is_null()))
                    .set((api_tokens::revoked_at.eq($now), api_tokens::revoked_reason.eq(&reason)))
                    .execute($c)
                    .await?;
                events.push(event(
                    $user_id,
                    Some(id.as_str()),
                    EventKind::Revoked,
                    Some(reason),
                    $seen,
                    $now,
                ));
            }
            record_events!($c, &events);
            count += level.len();
            let parents: Vec<&String> = level.iter().map(|(id, _, _)| id).collect();
            let children: Vec<(String, String, Option<String>)> = api_tokens::table
                .filter(api_tokens::user_id.eq($user_id))
                .filter(api_tokens::parent_id.eq_any(&parents))
                .filter(api_tokens::revoked_at.is_null())
                .select((api_tokens::id, api_tokens::name, api_tokens::parent_id))
                .load($c)
                .await?;
            level = children
                .into_iter()
                .map(|(id, name, parent)| {
                    let parent_name = level
                        .iter()
                        .find(|(pid, _, _)| Some(pid) == parent.as_ref())
                        .map(|(_, name, _)| name.clone())
                        .unwrap_or_default();
                    (id, name, Revoker::Parent(parent_name))
                })
                .collect();
        }
        count
    }};
}

/// What a new token is to be.
pub struct NewToken<'a> {
    pub name: &'a str,
    pub description: Option<&'a str>,
    pub scopes: ScopeSet,
    pub expires_at: Option<i64>,
}

/// Creates a token for `user_id`; the returned secret is the only copy there will ever be.
pub async fn create(
    conn: &mut DbConn,
    user_id: &str,
    new: NewToken<'_>,
    seen: &Seen,
) -> AppResult<(models::ApiToken, PlainToken)> {
    insert(conn, user_id, new, None, seen).await
}

/// Creates a token through the API for the caller's user: its scopes a subset of the
/// calling token's, never `tokens:write`, it never outlives the calling token, and it
/// belongs to the caller's family (revoking the caller revokes it).
pub async fn create_child(
    conn: &mut DbConn,
    parent: &Caller,
    mut new: NewToken<'_>,
    lifespan_ms: Option<i64>,
    seen: &Seen,
) -> AppResult<(models::ApiToken, PlainToken)> {
    if new.scopes.is_empty() {
        return Err(bad_input("scopes: choose at least one scope."));
    }
    check_minting(parent, new.scopes)?;
    new.expires_at = minted_expiry(parent, lifespan_ms, now_millis())?;
    insert(conn, &parent.user_id, new, Some(&parent.token_id), seen).await
}

/// SPEC §3: a token gives only scopes it holds, and never `tokens:write`.
fn check_minting(parent: &Caller, scopes: ScopeSet) -> AppResult<()> {
    if scopes.contains(Scope::TokensWrite) {
        return Err(forbidden("A token cannot give the tokens:write scope to another token."));
    }
    if let Some(missing) = scopes.iter().find(|scope| !parent.scopes.contains(*scope)) {
        return Err(forbidden(format!(
            "Your token does not have the {} scope, so it cannot give it to another token.",
            missing.name()
        )));
    }
    Ok(())
}

/// The expiry of a token minted by `parent` living `lifespan_ms` (none: as long as the
/// parent): at least a minute, at most 200 years, never past the parent's.
fn minted_expiry(parent: &Caller, lifespan_ms: Option<i64>, now: i64) -> AppResult<Option<i64>> {
    let Some(ms) = lifespan_ms else { return Ok(parent.expires_at) };
    let expires_at = lifespan_expiry(ms, now)?;
    if parent.expires_at.is_some_and(|limit| expires_at > limit) {
        return Err(bad_input("lifespan: a token cannot outlive the token that creates it."));
    }
    Ok(Some(expires_at))
}

/// Inserts a new token: the user's row locked first, so counting and inserting are one step
/// (two tabs cannot both take the 500th place).
async fn insert(
    conn: &mut DbConn,
    user_id: &str,
    new: NewToken<'_>,
    parent_id: Option<&str>,
    seen: &Seen,
) -> AppResult<(models::ApiToken, PlainToken)> {
    let name = validate_name(new.name)?;
    let description = validate_description(new.description)?;
    if new.scopes.is_empty() {
        return Err(bad_input("Choose at least one scope."));
    }
    let now = now_millis();
    if new.expires_at.is_some_and(|at| at <= now) {
        return Err(bad_input("The expiry must be in the future."));
    }
    let secret = PlainToken::generate();
    let id = new_id();
    let row = models::ApiToken {
        id: id.clone(),
        user_id: user_id.to_owned(),
        name,
        last_chars: secret.last_chars(),
        scopes: new.scopes.to_names(),
        created_at: now,
        expires_at: new.expires_at,
        last_used_at: None,
        revoked_at: None,
        description,
        parent_id: parent_id.map(str::to_owned),
        family_id: Some(id),
        replaces: None,
        grace_until: None,
        revoked_reason: None,
    };
    let digest = secret.hashed();
    let created = event(user_id, Some(&row.id), EventKind::Created, None, seen, now);
    db_run!(conn, |c| {
        c.transaction::<_, AppError, _>(|c| {
            async {
                lock_user!(c, user_id);
                if held!(c, user_id, now) >= MAX_LIVE_TOKENS {
                    return Err(bad_input(format!(
                        "You already have {MAX_LIVE_TOKENS} tokens (expired ones count until you revoke \
                         them, regenerated ones until they stop working). Revoke some before creating more."
                    )));
                }
                insert_row!(c, &row, &digest);
                record_events!(c, std::slice::from_ref(&created));
                Ok(())
            }
            .scope_boxed()
        })
        .await
    })?;
    tracing::info!(token_id = %row.id, user_id, "token created");
    Ok((row, secret))
}

/// Not revoked, and not a regenerated token past its grace period: what the list shows and
/// the token limit counts (expired tokens included, until revoked).
fn live_or_expired(
) -> diesel::dsl::And<diesel::dsl::IsNull<api_tokens::revoked_at>, diesel::dsl::IsNull<api_tokens::grace_until>>
{
    // A regenerated token in its grace period is shown on its successor's row, not its own.
    api_tokens::revoked_at.is_null().and(api_tokens::grace_until.is_null())
}

/// The user's tokens that are not revoked (expired ones included, marked by their date),
/// newest first.
pub async fn list(conn: &mut DbConn, user_id: &str) -> AppResult<Vec<models::ApiToken>> {
    Ok(db_run!(conn, |c| {
        api_tokens::table
            .filter(api_tokens::user_id.eq(user_id))
            .filter(live_or_expired())
            .order((api_tokens::created_at.desc(), api_tokens::id.desc()))
            .select(models::ApiToken::as_select())
            .load(c)
            .await
    })?)
}

/// One of the user's tokens, revoked or not (the activity page shows dead tokens too).
pub async fn get(conn: &mut DbConn, user_id: &str, token_id: &str) -> AppResult<models::ApiToken> {
    let row: Option<models::ApiToken> = db_run!(conn, |c| {
        api_tokens::table
            .filter(api_tokens::id.eq(token_id))
            .filter(api_tokens::user_id.eq(user_id))
            .select(models::ApiToken::as_select())
            .first(c)
            .await
            .optional()
    })?;
    row.ok_or_else(|| not_found("Token"))
}

/// Renames a live token and sets its description, without regenerating it.
pub async fn update(
    conn: &mut DbConn,
    user_id: &str,
    token_id: &str,
    name: &str,
    description: Option<&str>,
) -> AppResult<()> {
    let name = validate_name(name)?;
    let description = validate_description(description)?;
    let updated = db_write!(conn, Topic::Tokens, |c| {
        diesel::update(
            api_tokens::table
                .filter(api_tokens::id.eq(token_id))
                .filter(api_tokens::user_id.eq(user_id))
                .filter(live_or_expired()),
        )
        .set((api_tokens::name.eq(&name), api_tokens::description.eq(&description)))
        .execute(c)
        .await
    })?;
    if updated == 0 {
        return Err(not_found("Token"));
    }
    Ok(())
}

/// Revokes one of the user's own tokens, and every token it minted (and theirs). Another
/// user's token, or one already revoked, is "not found". The rows stay, with the time of
/// their revocation and why.
pub async fn revoke(
    conn: &mut DbConn,
    user_id: &str,
    token_id: &str,
    revoker: Revoker,
    seen: &Seen,
) -> AppResult<()> {
    let now = now_millis();
    let revoked = db_write!(conn, Topic::Tokens, |c| {
        c.transaction::<_, AppError, _>(|c| {
            async {
                lock_user!(c, user_id);
                let root: Option<String> = api_tokens::table
                    .filter(api_tokens::id.eq(token_id))
                    .filter(api_tokens::user_id.eq(user_id))
                    .filter(api_tokens::revoked_at.is_null())
                    .select(api_tokens::name)
                    .first(c)
                    .await
                    .optional()?;
                let Some(root_name) = root else { return Ok(0) };
                let roots = vec![(token_id.to_owned(), root_name)];
                Ok(revoke_tree!(c, user_id, roots, revoker, seen, now))
            }
            .scope_boxed()
        })
        .await
    })?;
    if revoked == 0 {
        return Err(not_found("Token"));
    }
    tracing::info!(token_id, user_id, revoked, "token revoked");
    Ok(())
}

/// Revokes every token of the user that still works (in a grace period too) but `except`
/// (the token asking, through the API). Answers how many were revoked.
pub async fn revoke_all(
    conn: &mut DbConn,
    user_id: &str,
    except: Option<&str>,
    revoker: Revoker,
    seen: &Seen,
) -> AppResult<usize> {
    let now = now_millis();
    let except = except.unwrap_or_default();
    let revoked = db_write!(conn, Topic::Tokens, |c| {
        c.transaction::<_, AppError, _>(|c| {
            async {
                lock_user!(c, user_id);
                let roots: Vec<(String, String)> = api_tokens::table
                    .filter(api_tokens::user_id.eq(user_id))
                    .filter(api_tokens::revoked_at.is_null())
                    .filter(api_tokens::id.ne(except))
                    .select((api_tokens::id, api_tokens::name))
                    .load(c)
                    .await?;
                Ok(revoke_tree!(c, user_id, roots, revoker, seen, now))
            }
            .scope_boxed()
        })
        .await
    })?;
    tracing::info!(user_id, revoked, "every token revoked");
    Ok(revoked)
}

/// Revokes the user's own token given in clear (as `apiTokenRevoke` accepts it).
pub async fn revoke_by_secret(
    conn: &mut DbConn,
    user_id: &str,
    token: &PlainToken,
    revoker: Revoker,
    seen: &Seen,
) -> AppResult<()> {
    let digest = token.hashed();
    let token_id: Option<String> = db_run!(conn, |c| {
        api_tokens::table
            .filter(api_tokens::token_digest.eq(digest.as_bytes()))
            .filter(api_tokens::user_id.eq(user_id))
            .select(api_tokens::id)
            .first(c)
            .await
            .optional()
    })?;
    revoke(conn, user_id, &token_id.ok_or_else(|| not_found("Token"))?, revoker, seen).await
}

/// Marks a regenerated token `$old_id` of `$user_id` revoked at `$at` (it was used up, or its
/// grace period ended), with `$why` in the event; what it minted in its grace period passes to
/// its successor, as at regeneration. Answers whether it was still to mark (another request or
/// server may have marked it first). Runs inside a write's transaction.
macro_rules! retire {
    ($c:ident, $old_id:expr, $user_id:expr, $at:expr, $why:expr, $seen:expr) => {{
        let (old_id, user_id, at): (&str, &str, i64) = ($old_id, $user_id, $at);
        let reason = Revoker::Replaced.describe();
        let ended = diesel::update(api_tokens::table.find(old_id).filter(api_tokens::revoked_at.is_null()))
            .set((api_tokens::revoked_at.eq(at), api_tokens::revoked_reason.eq(&reason)))
            .execute($c)
            .await?;
        if ended > 0 {
            let successor: Option<String> = api_tokens::table
                .filter(api_tokens::replaces.eq(old_id))
                .select(api_tokens::id)
                .first($c)
                .await
                .optional()?;
            if let Some(successor) = successor {
                diesel::update(api_tokens::table.filter(api_tokens::parent_id.eq(old_id)))
                    .set(api_tokens::parent_id.eq(successor))
                    .execute($c)
                    .await?;
            }
            let ended = event(user_id, Some(old_id), EventKind::Revoked, Some($why.to_owned()), $seen, at);
            record_events!($c, std::slice::from_ref(&ended));
        }
        ended > 0
    }};
}

/// Marks regenerated tokens as revoked once their grace period is over, each at its time:
/// `(id, user, at)`, with `why` in the event. One transaction; the tokens epoch ends after it.
/// Answers how many were marked (another server may have marked some first).
pub async fn retire_replaced(
    conn: &mut DbConn,
    retired: &[(String, String, i64)],
    why: &str,
    seen: &Seen,
) -> AppResult<usize> {
    db_write!(conn, Topic::Tokens, |c| {
        c.transaction::<_, AppError, _>(|c| {
            async {
                let mut marked = 0;
                for (old_id, user_id, at) in retired {
                    if retire!(c, old_id, user_id, *at, why, seen) {
                        marked += 1;
                    }
                }
                Ok(marked)
            }
            .scope_boxed()
        })
        .await
    })
}

/// A token's first use at `now` (SPEC §8), in one transaction: "last used" is written (only
/// by the one request that finds it unset), the event recorded, and the token it replaced,
/// if any, stops working. Answers whether this was the first use. The tokens epoch ends after
/// it when a replaced token was retired.
pub async fn first_use(conn: &mut DbConn, caller: &Caller, seen: &Seen, now: i64) -> AppResult<bool> {
    let token_id = caller.token_id.as_str();
    let user_id = caller.user_id.as_str();
    // The same transaction on either path; only the epoch differs.
    macro_rules! first_use_tx {
        ($c:ident) => {
            $c.transaction::<_, AppError, _>(|c| {
                async move {
                    let first = diesel::update(
                        api_tokens::table.find(token_id).filter(api_tokens::last_used_at.is_null()),
                    )
                    .set(api_tokens::last_used_at.eq(now))
                    .execute(c)
                    .await?
                        == 1;
                    if first {
                        let used = event(user_id, Some(token_id), EventKind::FirstUsed, None, seen, now);
                        record_events!(c, std::slice::from_ref(&used));
                        if let Some(old) = &caller.replaces {
                            let _ = retire!(c, old, user_id, now, "its regenerated token was used", seen);
                        }
                    }
                    Ok(first)
                }
                .scope_boxed()
            })
            .await
        };
    }
    // Retiring the replaced token changes what the bearer check caches: its epoch ends.
    match &caller.replaces {
        Some(_) => db_write!(conn, Topic::Tokens, |c| first_use_tx!(c)),
        None => db_run!(conn, |c| first_use_tx!(c)),
    }
}

/// When a regenerated token expires.
#[derive(Clone, Copy, Debug)]
pub enum Expiry {
    Never,
    At(i64),
    /// After as long as the old token was given.
    AsBefore,
}

/// The expiry of a token asked for through the API: `lifespan` milliseconds from now, at least
/// a minute and at most 200 years.
pub fn lifespan_expiry(lifespan_ms: i64, now: i64) -> AppResult<i64> {
    if lifespan_ms < MIN_LIFESPAN_MS {
        return Err(bad_input(format!(
            "lifespan must be at least {MIN_LIFESPAN_MS} milliseconds (a minute)."
        )));
    }
    if lifespan_ms > MAX_LIFESPAN_MS {
        return Err(bad_input(format!(
            "lifespan must be at most {MAX_LIFESPAN_MS} milliseconds (200 years); leave it out for \
             a token that lives as long as yours."
        )));
    }
    Ok(now.saturating_add(lifespan_ms))
}

/// How a token is to be regenerated.
pub struct Rotation<'a> {
    pub token_id: &'a str,
    /// The new token's expiry.
    pub expiry: Expiry,
    /// How long the old token keeps working if the new one is not used first; 0: not at all.
    pub grace_ms: i64,
    /// The token asking, through the API; `None` on the profile page.
    pub by: Option<&'a Caller>,
}

/// Regenerates a token (SPEC §8): a new secret with the same name, scopes, description,
/// parent and family; the old one works until the new one is first used or the grace period
/// ends. Regenerating a token that was already regenerated revokes its whole family (a
/// superseded secret in use by two parties is the mark of a leak) and is refused.
pub async fn rotate(
    conn: &mut DbConn,
    user_id: &str,
    rotation: Rotation<'_>,
    seen: &Seen,
) -> AppResult<(models::ApiToken, PlainToken)> {
    if !(0..=DEFAULT_GRACE_MS * 7).contains(&rotation.grace_ms) {
        return Err(bad_input("gracePeriodSeconds must be between 0 and 604800 (7 days)."));
    }
    let now = now_millis();
    if matches!(rotation.expiry, Expiry::At(at) if at <= now) {
        return Err(bad_input("The expiry must be in the future."));
    }
    let secret = PlainToken::generate();
    let digest = secret.hashed();
    let new_id = new_id();
    let outcome = db_write!(conn, Topic::Tokens, |c| {
        c.transaction::<_, AppError, _>(|c| {
            async {
                lock_user!(c, user_id);
                let old: Option<models::ApiToken> = api_tokens::table
                    .filter(api_tokens::id.eq(rotation.token_id))
                    .filter(api_tokens::user_id.eq(user_id))
                    .select(models::ApiToken::as_select())
                    .first(c)
                    .await
                    .optional()?;
                let Some(old) = old else { return Err(not_found("Token")) };
                // The secret presented may itself be a superseded one, still in its grace
                // period: a copy of it in use elsewhere is the likely story, so its family goes.
                let asker_superseded = match rotation.by {
                    Some(by) => api_tokens::table
                        .find(&by.token_id)
                        .select(api_tokens::grace_until)
                        .first::<Option<i64>>(c)
                        .await?
                        .is_some(),
                    None => false,
                };
                let reused_family = match (rotation.by, asker_superseded) {
                    (Some(by), true) => {
                        let (id, family): (String, Option<String>) = api_tokens::table
                            .find(&by.token_id)
                            .select((api_tokens::id, api_tokens::family_id))
                            .first(c)
                            .await?;
                        Some(family.unwrap_or(id))
                    }
                    // Through the API, naming a superseded token is presenting it again (SPEC §8).
                    (Some(_), false) if old.grace_until.is_some() => Some(old.family().to_owned()),
                    _ => None,
                };
                if let Some(family) = reused_family {
                    let members: Vec<(String, String)> = api_tokens::table
                        .filter(api_tokens::user_id.eq(user_id))
                        .filter(api_tokens::family_id.eq(family))
                        .filter(api_tokens::revoked_at.is_null())
                        .select((api_tokens::id, api_tokens::name))
                        .load(c)
                        .await?;
                    revoke_tree!(c, user_id, members, Revoker::FamilyReuse, seen, now);
                    return Ok(None);
                }
                if old.grace_until.is_some() {
                    // On the profile page: the same dialog sent twice (a double click, a second
                    // tab). The first one's token stands; nothing is revoked, no secret shown.
                    return Err(bad_input(
                        "This token was regenerated already: its new token is in your list. Reload the \
                         page to see it.",
                    ));
                }
                if old.revoked_at.is_some() {
                    return Err(not_found("Token"));
                }
                if rotation.grace_ms > 0 && held!(c, user_id, now) >= MAX_LIVE_TOKENS {
                    return Err(bad_input(format!(
                        "You already have {MAX_LIVE_TOKENS} tokens, and the old one keeps working in its \
                         grace period. Revoke some first, or regenerate with no grace period."
                    )));
                }
                // A token regenerating another mints it; one regenerating itself keeps its
                // scopes. Either way the new token never outlives the one asking.
                let minting = rotation.by.filter(|by| by.token_id != old.id);
                let expires_at = match rotation.expiry {
                    Expiry::Never => None,
                    Expiry::At(at) => Some(at),
                    Expiry::AsBefore => {
                        let as_before = old.expires_at.map(|at| now.saturating_add(at - old.created_at));
                        models::earliest(as_before, rotation.by.and_then(|by| by.expires_at))
                    }
                };
                let scopes = ScopeSet::from_names(&old.scopes).unwrap_or_default();
                if let Some(by) = minting {
                    check_minting(by, scopes)?;
                }
                if let Some(by) = rotation.by {
                    if by.expires_at.is_some_and(|limit| expires_at.is_none_or(|at| at > limit)) {
                        return Err(bad_input(
                            "lifespan: a token cannot outlive the token that regenerates it.",
                        ));
                    }
                }
                let new = models::ApiToken {
                    id: new_id.clone(),
                    user_id: user_id.to_owned(),
                    name: old.name.clone(),
                    last_chars: secret.last_chars(),
                    scopes: old.scopes.clone(),
                    created_at: now,
                    expires_at,
                    last_used_at: None,
                    revoked_at: None,
                    description: old.description.clone(),
                    parent_id: old.parent_id.clone(),
                    family_id: Some(old.family().to_owned()),
                    replaces: Some(old.id.clone()),
                    grace_until: None,
                    revoked_reason: None,
                };
                insert_row!(c, &new, &digest);
                let grace_until = now + rotation.grace_ms;
                // (The old token is not revoked: that was answered above.)
                let (revoked_at, reason) = match rotation.grace_ms {
                    0 => (Some(now), Some(Revoker::Replaced.describe())),
                    _ => (None, None),
                };
                diesel::update(api_tokens::table.find(&old.id))
                    .set((
                        api_tokens::grace_until.eq(grace_until),
                        api_tokens::revoked_at.eq(revoked_at),
                        api_tokens::revoked_reason.eq(reason),
                    ))
                    .execute(c)
                    .await?;
                // What the old token minted is the new one's now: replacing is not revoking.
                diesel::update(api_tokens::table.filter(api_tokens::parent_id.eq(&old.id)))
                    .set(api_tokens::parent_id.eq(&new.id))
                    .execute(c)
                    .await?;
                let detail = match rotation.grace_ms {
                    0 => "the old token stopped working at once".to_owned(),
                    _ => format!(
                        "the old token works until the new one is first used, or until {}",
                        iso8601(grace_until)
                    ),
                };
                let events = [
                    event(user_id, Some(&old.id), EventKind::Regenerated, Some(detail), seen, now),
                    event(
                        user_id,
                        Some(&new.id),
                        EventKind::Created,
                        Some("regenerated".to_owned()),
                        seen,
                        now,
                    ),
                ];
                record_events!(c, &events);
                Ok(Some(new))
            }
            .scope_boxed()
        })
        .await
    })?;
    match outcome {
        Some(row) => {
            tracing::info!(token_id = %row.id, replaces = rotation.token_id, user_id, "token regenerated");
            Ok((row, secret))
        }
        None => {
            tracing::warn!(
                token_id = rotation.token_id,
                user_id,
                "superseded token presented: family revoked"
            );
            Err(forbidden(
                "This token was already regenerated. Presenting it again suggests it leaked, so every \
                 token regenerated from the same original has been revoked. Create a new token.",
            ))
        }
    }
}
