//! Creating tokens: by a person (SPEC §3), and through the API by a token for its own user,
//! within the subset rule and the calling token's life.

use super::{Caller, PlainToken};
use crate::db_tx;
use crate::rules::error::{bad_input, forbidden, AppResult};
use crate::rules::limits::{MAX_LIFESPAN_MS, MAX_LIVE_TOKENS, MIN_LIFESPAN_MS};
use crate::rules::scopes::{Scope, ScopeSet};
use crate::rules::text::{TOKEN_DESCRIPTION, TOKEN_NAME};
use crate::server::db::{models, DbConn, StreamId, TokenId, UserId};
use crate::server::domain::activity::{event, EventKind, Seen};
use crate::server::domain::reach::{self, Level};

/// What a new token is to be.
pub struct NewToken<'a> {
    pub name: &'a str,
    pub description: Option<&'a str>,
    pub scopes: ScopeSet,
    pub expires_at: Option<i64>,
    /// Only these streams, each at its level (SPEC §12); none: every stream the user can
    /// reach (or, minted by a limited token, that token's streams).
    pub streams: Option<&'a [(StreamId, Level)]>,
}

/// Creates a token for `user_id`; the returned secret is the only copy there will ever be.
pub async fn create(
    conn: &mut DbConn,
    user_id: &UserId,
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
    new.expires_at = minted_expiry(parent, lifespan_ms, conn.now())?;
    insert(conn, &parent.user_id, new, Some(parent), seen).await
}

/// SPEC §3: a token gives only scopes it holds, and never `tokens:write`.
pub(super) fn check_minting(parent: &Caller, scopes: ScopeSet) -> AppResult<()> {
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
/// parent): a positive number of milliseconds, at most 200 years, never past the parent's.
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
    user_id: &UserId,
    new: NewToken<'_>,
    parent: Option<&Caller>,
    seen: &Seen,
) -> AppResult<(models::ApiToken, PlainToken)> {
    let name = TOKEN_NAME.value(new.name)?;
    let description = TOKEN_DESCRIPTION.optional(new.description)?;
    if new.scopes.is_empty() {
        return Err(bad_input("Choose at least one scope."));
    }
    let now = conn.now();
    if new.expires_at.is_some_and(|at| at <= now) {
        return Err(bad_input("The expiry must be in the future."));
    }
    let streams =
        reach::for_new_token(conn, user_id, new.streams, parent.and_then(|p| p.limit.as_ref())).await?;
    let secret = PlainToken::generate();
    let id = TokenId::random();
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
        parent_id: parent.map(|parent| parent.token_id.clone()),
        family_id: Some(id),
        replaces: None,
        grace_until: None,
        revoked_reason: None,
        // What an app's token mints belongs to its grant, and dies with it (SPEC §11).
        grant_id: parent.and_then(|parent| parent.grant_id.clone()),
        limited: streams.is_some(),
    };
    let digest = secret.hashed();
    let created = event(user_id, Some(&row.id), EventKind::Created, None, seen, now);
    db_tx!(conn, |tx| {
        tx.lock_user(user_id).await?;
        if tx.held(user_id).await? >= MAX_LIVE_TOKENS {
            return Err(bad_input(format!(
                "You already have {MAX_LIVE_TOKENS} tokens (expired ones count until you revoke \
                 them, regenerated ones until they stop working). Revoke some before creating more."
            )));
        }
        tx.insert_token(&row, &digest).await?;
        if let Some(streams) = &streams {
            tx.limit_token(&row.id, streams).await?;
        }
        tx.record(std::slice::from_ref(&created)).await
    })?;
    tracing::info!(token_id = %row.id, %user_id, "token created");
    Ok((row, secret))
}

/// The expiry of a token asked for through the API: `lifespan` milliseconds from now, a
/// positive number and at most 200 years.
pub fn lifespan_expiry(lifespan_ms: i64, now: i64) -> AppResult<i64> {
    if lifespan_ms < MIN_LIFESPAN_MS {
        return Err(bad_input("lifespan must be a positive number of milliseconds."));
    }
    if lifespan_ms > MAX_LIFESPAN_MS {
        return Err(bad_input(format!(
            "lifespan must be at most {MAX_LIFESPAN_MS} milliseconds (200 years); leave it out for \
             a token that lives as long as yours."
        )));
    }
    Ok(now.saturating_add(lifespan_ms))
}
