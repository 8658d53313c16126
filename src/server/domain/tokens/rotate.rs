//! Regenerating a token (SPEC §8): a new secret, the old one in its grace period, and the
//! family revoked when a superseded secret comes back.

use diesel::prelude::*;
use diesel_async::RunQueryDsl;

use super::create::check_minting;
use super::{Caller, PlainToken};
use crate::db_tx;
use crate::rules::error::{bad_input, forbidden, not_found, AppResult};
use crate::rules::limits::{MAX_GRACE_MS, MAX_LIVE_TOKENS};
use crate::rules::scopes::ScopeSet;
use crate::server::db::schema::api_tokens;
use crate::server::db::{iso8601, models, DbConn, TokenId, Topic, UserId};
use crate::server::domain::activity::{event, EventKind, Revoker, Seen};
use crate::server::domain::reach;

/// When a regenerated token expires.
#[derive(Clone, Copy, Debug)]
pub enum Expiry {
    Never,
    At(i64),
    /// After as long as the old token was given.
    AsBefore,
}

/// How a token is to be regenerated.
pub struct Rotation<'a> {
    pub token_id: &'a TokenId,
    /// The new token's expiry.
    pub expiry: Expiry,
    /// How long the old token keeps working if the new one is not used first; 0: not at all.
    pub grace_ms: i64,
    /// The token asking, through the API; `None` on the profile page.
    pub by: Option<&'a Caller>,
    /// Narrower scopes and streams for the new token (SPEC §12's "Narrow it"); within the old
    /// token's. None: the same.
    pub narrow: Option<&'a reach::Narrowing>,
}

/// Regenerates a token (SPEC §8): a new secret with the same name, scopes, description,
/// parent and family; the old one works until the new one is first used or the grace period
/// ends. Regenerating a token that was already regenerated revokes its whole family (a
/// superseded secret in use by two parties is the mark of a leak) and is refused.
pub async fn rotate(
    conn: &mut DbConn,
    user_id: &UserId,
    rotation: Rotation<'_>,
    seen: &Seen,
) -> AppResult<(models::ApiToken, PlainToken)> {
    if !(0..=MAX_GRACE_MS).contains(&rotation.grace_ms) {
        return Err(bad_input("gracePeriodSeconds must be between 0 and 604800 (7 days)."));
    }
    if rotation.by.is_some_and(|by| by.grant_id.is_some()) {
        return Err(forbidden("An app's token cannot regenerate tokens."));
    }
    let now = conn.now();
    if matches!(rotation.expiry, Expiry::At(at) if at <= now) {
        return Err(bad_input("The expiry must be in the future."));
    }
    if let Some(narrow) = rotation.narrow {
        if narrow.scopes.is_empty() {
            return Err(bad_input("Choose at least one scope."));
        }
        if let Some(streams) = &narrow.streams {
            let chosen: Vec<_> = streams.iter().map(|(id, level)| (id.clone(), *level)).collect();
            reach::check(conn, user_id, &chosen, None).await?;
        }
    }
    let secret = PlainToken::generate();
    let digest = secret.hashed();
    let new_id = TokenId::random();
    let outcome = db_tx!(conn, |tx| {
        tx.lock_user(user_id).await?;
        let old: Option<models::ApiToken> = api_tokens::table
            .filter(api_tokens::id.eq(rotation.token_id))
            .filter(api_tokens::user_id.eq(user_id))
            // An app's tokens are renewed with their refresh token, never regenerated.
            .filter(api_tokens::grant_id.is_null())
            .select(models::ApiToken::as_select())
            .first(tx.conn())
            .await
            .optional()?;
        let Some(old) = old else { return Err(not_found("Token")) };
        // The secret presented may itself be a superseded one, still in its grace
        // period: a copy of it in use elsewhere is the likely story, so its family goes.
        let asker_superseded = match rotation.by {
            Some(by) => api_tokens::table
                .find(&by.token_id)
                .select(api_tokens::grace_until)
                .first::<Option<i64>>(tx.conn())
                .await?
                .is_some(),
            None => false,
        };
        let reused_family = match (rotation.by, asker_superseded) {
            (Some(by), true) => {
                let (id, family): (TokenId, Option<TokenId>) = api_tokens::table
                    .find(&by.token_id)
                    .select((api_tokens::id, api_tokens::family_id))
                    .first(tx.conn())
                    .await?;
                Some(family.unwrap_or(id))
            }
            // Through the API, naming a superseded token is presenting it again (SPEC §8).
            (Some(_), false) if old.grace_until.is_some() => Some(old.family().clone()),
            _ => None,
        };
        if let Some(family) = reused_family {
            let members: Vec<(TokenId, String)> = api_tokens::table
                .filter(api_tokens::user_id.eq(user_id))
                .filter(api_tokens::family_id.eq(family))
                .filter(api_tokens::revoked_at.is_null())
                .select((api_tokens::id, api_tokens::name))
                .load(tx.conn())
                .await?;
            tx.revoke_tree(user_id, members, Revoker::FamilyReuse, seen).await?;
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
        if rotation.grace_ms > 0 && tx.held(user_id).await? >= MAX_LIVE_TOKENS {
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
        let mut scopes = ScopeSet::from_names(&old.scopes).unwrap_or_default();
        // The new token keeps the old one's streams (SPEC §12), or narrower ones.
        let mut streams = match old.limited {
            true => Some(tx.streams_of_token(&old.id).await?),
            false => None,
        };
        if let Some(narrow) = rotation.narrow {
            if !narrow.scopes.is_within(scopes) {
                return Err(bad_input("Narrowing keeps a subset of the token's scopes."));
            }
            scopes = narrow.scopes;
            if let Some(narrower) = &narrow.streams {
                let old_limit =
                    streams.clone().map(|streams| reach::StreamLimit { token_id: old.id.clone(), streams });
                reach::within(old_limit.as_ref(), Some(narrower))?;
                streams = Some(narrower.clone());
            }
        }
        if let Some(by) = minting {
            check_minting(by, scopes)?;
            reach::within(by.limit.as_ref(), streams.as_ref())?;
        }
        if let Some(by) = rotation.by {
            if by.expires_at.is_some_and(|limit| expires_at.is_none_or(|at| at > limit)) {
                return Err(bad_input("lifespan: a token cannot outlive the token that regenerates it."));
            }
        }
        let new = models::ApiToken {
            id: new_id.clone(),
            user_id: user_id.to_owned(),
            name: old.name.clone(),
            last_chars: secret.last_chars(),
            scopes: scopes.to_names(),
            created_at: now,
            expires_at,
            last_used_at: None,
            revoked_at: None,
            description: old.description.clone(),
            parent_id: old.parent_id.clone(),
            family_id: Some(old.family().clone()),
            replaces: Some(old.id.clone()),
            grace_until: None,
            revoked_reason: None,
            grant_id: None,
            limited: streams.is_some(),
        };
        tx.insert_token(&new, &digest).await?;
        if let Some(streams) = &streams {
            tx.limit_token(&new.id, streams).await?;
        }
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
            .execute(tx.changing(Topic::Tokens))
            .await?;
        // What the old token minted is the new one's now: replacing is not revoking.
        diesel::update(api_tokens::table.filter(api_tokens::parent_id.eq(&old.id)))
            .set(api_tokens::parent_id.eq(&new.id))
            .execute(tx.changing(Topic::Tokens))
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
            event(user_id, Some(&new.id), EventKind::Created, Some("regenerated".to_owned()), seen, now),
        ];
        tx.record(&events).await?;
        Ok(Some(new))
    })?;
    match outcome {
        Some(row) => {
            tracing::info!(token_id = %row.id, replaces = %rotation.token_id, %user_id, "token regenerated");
            Ok((row, secret))
        }
        None => {
            tracing::warn!(
                token_id = %rotation.token_id,
                %user_id,
                "superseded token presented: family revoked"
            );
            Err(forbidden(
                "This token was already regenerated. Presenting it again suggests it leaked, so every \
                 token regenerated from the same original has been revoked. Create a new token.",
            ))
        }
    }
}
