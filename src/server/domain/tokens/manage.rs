//! Listing, editing and revoking tokens, and a token's first use (SPEC §3, §4, §8). Every
//! write that changes what the bearer check may have cached ends the tokens epoch before the
//! caller answers: a single statement through `db_write!`, a transaction through `db_tx!`
//! and the steps of `write.rs`.

use diesel::prelude::*;
use diesel_async::RunQueryDsl;

use super::{Caller, PlainToken};
use crate::rules::error::{not_found, AppResult};
use crate::rules::text::{TOKEN_DESCRIPTION, TOKEN_NAME};
use crate::server::db::schema::api_tokens;
use crate::server::db::{models, DbConn, TokenId, Topic, UserId};
use crate::server::domain::activity::{event, EventKind, Revoker, Seen};
use crate::{db_run, db_tx, db_write};

/// A personal token, not revoked, and not a regenerated token past its grace period: what
/// the list shows and the token limit counts (expired tokens included, until revoked).
/// An app's tokens are on their grant's row instead (SPEC §11).
fn live_or_expired() -> diesel::dsl::And<
    diesel::dsl::And<
        diesel::dsl::IsNull<api_tokens::revoked_at>,
        diesel::dsl::IsNull<api_tokens::grace_until>,
    >,
    diesel::dsl::IsNull<api_tokens::grant_id>,
> {
    // A regenerated token in its grace period is shown on its successor's row, not its own.
    api_tokens::revoked_at
        .is_null()
        .and(api_tokens::grace_until.is_null())
        .and(api_tokens::grant_id.is_null())
}

/// The user's tokens that are not revoked (expired ones included, marked by their date),
/// newest first.
pub async fn list(conn: &mut DbConn, user_id: &UserId) -> AppResult<Vec<models::ApiToken>> {
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
/// The calling token's own row, an app's token too (`tokenSelf`: any token may read itself).
pub async fn itself(conn: &mut DbConn, caller: &Caller) -> AppResult<models::ApiToken> {
    let token_id = &caller.token_id;
    let row: Option<models::ApiToken> = db_run!(conn, |c| {
        api_tokens::table.find(token_id).select(models::ApiToken::as_select()).first(c).await.optional()
    })?;
    row.ok_or_else(|| not_found("Token"))
}

pub async fn get(conn: &mut DbConn, user_id: &UserId, token_id: &TokenId) -> AppResult<models::ApiToken> {
    let row: Option<models::ApiToken> = db_run!(conn, |c| {
        api_tokens::table
            .filter(api_tokens::id.eq(token_id))
            .filter(api_tokens::user_id.eq(user_id))
            .filter(api_tokens::grant_id.is_null())
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
    user_id: &UserId,
    token_id: &TokenId,
    name: &str,
    description: Option<&str>,
) -> AppResult<()> {
    let name = TOKEN_NAME.value(name)?;
    let description = TOKEN_DESCRIPTION.optional(description)?;
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
    user_id: &UserId,
    token_id: &TokenId,
    revoker: Revoker,
    seen: &Seen,
) -> AppResult<()> {
    let revoked = db_tx!(conn, |tx| {
        tx.lock_user(user_id).await?;
        let root: Option<String> = api_tokens::table
            .filter(api_tokens::id.eq(token_id))
            .filter(api_tokens::user_id.eq(user_id))
            .filter(api_tokens::grant_id.is_null())
            .filter(api_tokens::revoked_at.is_null())
            .select(api_tokens::name)
            .first(tx.conn())
            .await
            .optional()?;
        let Some(root_name) = root else { return Ok(0) };
        tx.revoke_tree(user_id, vec![(token_id.clone(), root_name)], revoker, seen).await
    })?;
    if revoked == 0 {
        return Err(not_found("Token"));
    }
    tracing::info!(%token_id, %user_id, revoked, "token revoked");
    Ok(())
}

/// Revokes every token of the user that still works (in a grace period too) but `except`
/// (the token asking, through the API). Answers how many were revoked.
pub async fn revoke_all(
    conn: &mut DbConn,
    user_id: &UserId,
    except: Option<&TokenId>,
    revoker: Revoker,
    seen: &Seen,
) -> AppResult<usize> {
    let except = except.map_or("", TokenId::as_str);
    let revoked = db_tx!(conn, |tx| {
        tx.lock_user(user_id).await?;
        let roots: Vec<(TokenId, String)> = api_tokens::table
            .filter(api_tokens::user_id.eq(user_id))
            .filter(api_tokens::grant_id.is_null())
            .filter(api_tokens::revoked_at.is_null())
            .filter(api_tokens::id.ne(except))
            .select((api_tokens::id, api_tokens::name))
            .load(tx.conn())
            .await?;
        tx.revoke_tree(user_id, roots, revoker, seen).await
    })?;
    tracing::info!(%user_id, revoked, "every token revoked");
    Ok(revoked)
}

/// Revokes the user's own token given in clear (as `apiTokenRevoke` accepts it).
pub async fn revoke_by_secret(
    conn: &mut DbConn,
    user_id: &UserId,
    token: &PlainToken,
    revoker: Revoker,
    seen: &Seen,
) -> AppResult<()> {
    let digest = token.hashed();
    let token_id: Option<TokenId> = db_run!(conn, |c| {
        api_tokens::table
            .filter(api_tokens::token_digest.eq(digest.as_bytes()))
            .filter(api_tokens::user_id.eq(user_id))
            .filter(api_tokens::grant_id.is_null())
            .select(api_tokens::id)
            .first(c)
            .await
            .optional()
    })?;
    revoke(conn, user_id, &token_id.ok_or_else(|| not_found("Token"))?, revoker, seen).await
}

/// Marks regenerated tokens as revoked once their grace period is over, each at its time:
/// `(id, user, at)`, with `why` in the event. One transaction; the tokens epoch ends after it.
/// Answers how many were marked (another server may have marked some first).
pub async fn retire_replaced(
    conn: &mut DbConn,
    retired: &[(TokenId, UserId, i64)],
    why: &str,
    seen: &Seen,
) -> AppResult<usize> {
    db_tx!(conn, |tx| {
        let mut marked = 0;
        for (old_id, user_id, at) in retired {
            if tx.retire(old_id, user_id, *at, why, seen).await? {
                marked += 1;
            }
        }
        Ok(marked)
    })
}

/// A token's first use at `now` (SPEC §8), in one transaction: "last used" is written (only
/// by the one request that finds it unset), the event recorded, and the token it replaced,
/// if any, stops working. Answers whether this was the first use. The tokens epoch ends after
/// it when a replaced token was retired.
pub async fn first_use(conn: &mut DbConn, caller: &Caller, seen: &Seen, now: i64) -> AppResult<bool> {
    let token_id = &caller.token_id;
    let user_id = &caller.user_id;
    db_tx!(conn, |tx| {
        let first =
            diesel::update(api_tokens::table.find(token_id).filter(api_tokens::last_used_at.is_null()))
                .set(api_tokens::last_used_at.eq(now))
                .execute(tx.conn())
                .await?
                == 1;
        if first {
            let used = event(user_id, Some(token_id), EventKind::FirstUsed, None, seen, now);
            tx.record(std::slice::from_ref(&used)).await?;
            if let Some(old) = &caller.replaces {
                // Retiring the replaced token changes what the bearer check caches.
                tx.retire(old, user_id, now, "its regenerated token was used", seen).await?;
            }
        }
        Ok(first)
    })
}
