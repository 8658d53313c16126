//! The bearer check of every API request, and what a use records (SPEC §4, §8).

use diesel::prelude::*;
use diesel_async::RunQueryDsl;
use subtle::ConstantTimeEq;

use super::{Caller, HashedToken, PlainToken, LAST_USED_RESOLUTION_MS};
use crate::rules::error::AppResult;
use crate::rules::scopes::ScopeSet;
use crate::server::db::cache::{CachedToken, UseNote};
use crate::server::db::schema::{api_tokens, users};
use crate::server::db::{models, DbConn, DbPool, Epochs, GrantId, TokenId};
use crate::server::domain::activity::{self, Seen};
use crate::server::domain::reach;
use crate::{db_read, db_run};

/// Finds the live token behind `token`, `None` if it is unknown, revoked or expired. From the
/// cache while the `Tokens` epoch in which it was read lasts (`epochs`: as this request saw
/// them when it started; revoking ends it, see [`crate::server::db::cache`]), else one indexed
/// lookup by digest. Expiry (and a regenerated token's grace) is checked against the clock on
/// every request either way. A use is recorded at most once a minute per token and address.
pub async fn authenticate(
    db: &DbPool,
    token: &PlainToken,
    epochs: &Epochs,
    seen: &Seen,
) -> AppResult<Option<std::sync::Arc<Caller>>> {
    let digest = token.hashed();
    let key = *digest.as_array();
    let cache = db.cache();
    let now = db.now();
    let cached = cache
        .use_token(&key, epochs.tokens, now, LAST_USED_RESOLUTION_MS, seen.ip)
        .and_then(|(kept, note)| Some((kept.downcast::<Caller>().ok()?, note)));
    let (caller, note) = match cached {
        Some(known) => known,
        None => {
            let Some((caller, last_used_at)) = read_live_token(db, &digest, now).await? else {
                return Ok(None);
            };
            let mut known = CachedToken { caller: caller.clone(), last_used_at, addresses: Vec::new() };
            let note = known.note_use(now, LAST_USED_RESOLUTION_MS, seen.ip);
            cache.put_token(key, known, epochs.tokens);
            (caller, note)
        }
    };
    // A cached token may have expired (or ended its grace period) since it was read.
    if caller.dies_at().is_some_and(|at| at <= now) {
        return Ok(None);
    }
    if note.last_used || note.address {
        // Recording a use is a courtesy: failing to write it never fails the request.
        let recorded = match db.get().await {
            Ok(mut conn) => record_use(&mut conn, &caller, seen, note, now).await,
            Err(error) => Err(error),
        };
        if let Err(error) = recorded {
            tracing::warn!(%error, "could not record a token's use");
        }
    }
    Ok(Some(caller))
}

/// The live token with this digest and its owner: one indexed lookup, compared in constant
/// time; none if unknown, revoked or expired.
async fn read_live_token(
    db: &DbPool,
    digest: &HashedToken,
    now: i64,
) -> AppResult<Option<(std::sync::Arc<Caller>, Option<i64>)>> {
    // The token and its owner in one indexed lookup: the API answers most queries about the
    // caller without another round trip. The digest is unique, so at most one row comes back;
    // no LIMIT on purpose: SQLite plans with a bound LIMIT's value and so re-prepares the
    // statement on every call (seen in a profile as a third of the lookup's time).
    type Row = (
        (TokenId, String, Vec<u8>, String, bool),
        (Option<i64>, Option<i64>, Option<i64>, Option<i64>, Option<TokenId>, Option<GrantId>),
        models::Profile,
    );
    let rows: Vec<Row> = db_read!(
        db,
        load,
        api_tokens::table
            .inner_join(users::table)
            .filter(api_tokens::token_digest.eq(digest.as_bytes()))
            .select((
                (
                    api_tokens::id,
                    api_tokens::name,
                    api_tokens::token_digest,
                    api_tokens::scopes,
                    api_tokens::limited,
                ),
                (
                    api_tokens::expires_at,
                    api_tokens::last_used_at,
                    api_tokens::revoked_at,
                    api_tokens::grace_until,
                    api_tokens::replaces,
                    api_tokens::grant_id,
                ),
                models::Profile::as_select(),
            ))
    )?;
    let Some((
        (token_id, token_name, stored, scopes, limited),
        (expires_at, last_used_at, revoked_at, grace_until, replaces, grant_id),
        user,
    )) = rows.into_iter().next()
    else {
        return Ok(None);
    };
    let matches: bool = stored.as_slice().ct_eq(digest.as_bytes()).into();
    let dies_at = models::earliest(expires_at, grace_until);
    if !matches || revoked_at.is_some() || dies_at.is_some_and(|at| at <= now) {
        return Ok(None);
    }
    let Ok(scopes) = ScopeSet::from_names(&scopes) else {
        tracing::error!(%token_id, "token row holds an unknown scope");
        return Ok(None);
    };
    let headers = super::AnswerHeaders::new(dies_at, scopes);
    // A limited token's streams: one more indexed read, for limited tokens only (SPEC §12).
    let limit = match limited {
        true => Some(reach::load(db, &token_id).await?),
        false => None,
    };
    let touched = db.cache().touched(&token_id);
    let caller = Caller {
        user_id: user.id.clone(),
        user,
        token_id,
        token_name,
        scopes,
        expires_at,
        grace_until,
        replaces,
        grant_id,
        limit,
        touched,
        headers,
    };
    Ok(Some((std::sync::Arc::new(caller), last_used_at)))
}

/// Records a use: "last used" (the first use, its event and the end of the token it replaced
/// are one transaction, see [`super::first_use`]), and the address when it is new to the
/// token. Each write is conditional, so concurrent requests (or servers) write it at most once.
async fn record_use(
    conn: &mut DbConn,
    caller: &Caller,
    seen: &Seen,
    note: UseNote,
    now: i64,
) -> AppResult<()> {
    let token_id = caller.token_id.as_str();
    let mut first_use = false;
    if note.last_used {
        first_use = super::first_use(conn, caller, seen, now).await?;
        if !first_use {
            let stale_before = now - LAST_USED_RESOLUTION_MS;
            db_run!(conn, |c| {
                diesel::update(
                    api_tokens::table.find(token_id).filter(api_tokens::last_used_at.le(stale_before)),
                )
                .set(api_tokens::last_used_at.eq(now))
                .execute(c)
                .await
            })?;
        }
    }
    if note.last_used {
        reach::write_touched(conn, &caller.token_id, &caller.touched, now).await?;
    }
    if note.address || first_use {
        activity::note_address(
            conn,
            &caller.user_id,
            &caller.token_id,
            seen,
            first_use,
            now,
            LAST_USED_RESOLUTION_MS,
        )
        .await?;
    }
    Ok(())
}

/// Of these tokens, those still alive at `now` (not revoked, expired or past their grace),
/// each with the moment it dies, if it has one: how open connections (live updates) learn
/// that their token died, a few at a time, whatever the number of connections.
pub async fn still_alive(db: &DbPool, ids: &[TokenId], now: i64) -> AppResult<Vec<(TokenId, Option<i64>)>> {
    let mut alive = Vec::with_capacity(ids.len());
    for chunk in ids.chunks(500) {
        let rows: Vec<(TokenId, Option<i64>, Option<i64>)> = db_read!(
            db,
            load,
            api_tokens::table
                .filter(api_tokens::id.eq_any(chunk))
                .filter(api_tokens::revoked_at.is_null())
                .select((api_tokens::id, api_tokens::expires_at, api_tokens::grace_until))
        )?;
        for (id, expires_at, grace_until) in rows {
            let dies_at = models::earliest(expires_at, grace_until);
            if dies_at.is_none_or(|at| at > now) {
                alive.push((id, dies_at));
            }
        }
    }
    Ok(alive)
}
