//! The steps every token write's transaction is made of, written once as methods of
//! [`Tx`](crate::server::db::Tx): lock the user's row, count what they hold, insert a row,
//! revoke a tree, retire a replaced token. Revoking and retiring change what the bearer check
//! caches: they mark the tokens topic, whose epoch then ends after the commit.

use diesel::prelude::*;
use diesel_async::RunQueryDsl;

use super::HashedToken;
use crate::rules::error::AppResult;
use crate::server::db::schema::{api_tokens, users};
use crate::server::db::Topic;
use crate::server::db::{models, TokenId, UserId};
use crate::server::domain::activity::{event, EventKind, Revoker, Seen};
use crate::tx_steps;

tx_steps! {
    /// Takes the user's row lock before anything is read in a token write's transaction:
    /// two writes for one user run one after the other, on both backends (SQLite then never
    /// has to upgrade a read lock).
    pub async fn lock_user(&mut self, user_id: &UserId) -> AppResult<()> {
        diesel::update(users::table.find(user_id))
            .set(users::created_at.eq(users::created_at))
            .execute(self.conn())
            .await?;
        Ok(())
    }

    /// How many tokens the user holds against
    /// [`MAX_LIVE_TOKENS`](crate::rules::limits::MAX_LIVE_TOKENS): every token not revoked
    /// that may still work or be renewed (expired ones until revoked, regenerated ones until
    /// their grace period ends). After [`lock_user`](Self::lock_user).
    pub async fn held(&mut self, user_id: &UserId) -> AppResult<i64> {
        let now = self.now;
        Ok(api_tokens::table
            .filter(api_tokens::user_id.eq(user_id))
            .filter(api_tokens::grant_id.is_null())
            .filter(api_tokens::revoked_at.is_null())
            .filter(api_tokens::grace_until.is_null().or(api_tokens::grace_until.gt(now)))
            .count()
            .get_result::<i64>(self.conn())
            .await?)
    }

    /// Inserts a token row with its digest (nothing cached can name a new token).
    pub async fn insert_token(&mut self, row: &models::ApiToken, digest: &HashedToken) -> AppResult<()> {
        diesel::insert_into(api_tokens::table)
            .values((
                api_tokens::id.eq(&row.id),
                api_tokens::user_id.eq(&row.user_id),
                api_tokens::name.eq(&row.name),
                api_tokens::token_digest.eq(digest.as_bytes()),
                api_tokens::last_chars.eq(&row.last_chars),
                api_tokens::scopes.eq(&row.scopes),
                api_tokens::created_at.eq(row.created_at),
                api_tokens::expires_at.eq(row.expires_at),
                api_tokens::description.eq(&row.description),
                api_tokens::parent_id.eq(&row.parent_id),
                api_tokens::family_id.eq(&row.family_id),
                api_tokens::replaces.eq(&row.replaces),
                api_tokens::grant_id.eq(&row.grant_id),
                api_tokens::limited.eq(row.limited),
            ))
            .execute(self.conn())
            .await?;
        Ok(())
    }

    /// Revokes `roots` (ids and names, live) for `revoker`, then what they minted, level by
    /// level, each for its parent; records an event per token. Answers how many were
    /// revoked. After [`lock_user`](Self::lock_user).
    pub async fn revoke_tree(
        &mut self,
        user_id: &UserId,
        roots: Vec<(TokenId, String)>,
        revoker: Revoker,
        seen: &Seen,
    ) -> AppResult<usize> {
        let now = self.now;
        let mut level: Vec<(TokenId, String, Revoker)> =
            roots.into_iter().map(|(id, name)| (id, name, revoker.clone())).collect();
        let mut count = 0usize;
        while !level.is_empty() {
            let mut events = Vec::with_capacity(level.len());
            for (id, _, revoker) in &level {
                let reason = revoker.describe();
                diesel::update(api_tokens::table.find(id).filter(api_tokens::revoked_at.is_null()))
                    .set((api_tokens::revoked_at.eq(now), api_tokens::revoked_reason.eq(&reason)))
                    .execute(self.changing(Topic::Tokens))
                    .await?;
                events.push(event(user_id, Some(id), EventKind::Revoked, Some(reason), seen, now));
            }
            self.record(&events).await?;
            count += level.len();
            let parents: Vec<&TokenId> = level.iter().map(|(id, _, _)| id).collect();
            let children: Vec<(TokenId, String, Option<TokenId>)> = api_tokens::table
                .filter(api_tokens::user_id.eq(user_id))
                .filter(api_tokens::parent_id.eq_any(&parents))
                .filter(api_tokens::revoked_at.is_null())
                .select((api_tokens::id, api_tokens::name, api_tokens::parent_id))
                .load(self.conn())
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
        Ok(count)
    }

    /// Marks a regenerated token `old_id` of `user_id` revoked at `at` (it was used up, or
    /// its grace period ended), with `why` in the event; what it minted in its grace period
    /// passes to its successor, as at regeneration. Answers whether it was still to mark
    /// (another request or server may have marked it first).
    pub async fn retire(&mut self, old_id: &TokenId, user_id: &UserId, at: i64, why: &str, seen: &Seen) -> AppResult<bool> {
        let reason = Revoker::Replaced.describe();
        let ended = diesel::update(api_tokens::table.find(old_id).filter(api_tokens::revoked_at.is_null()))
            .set((api_tokens::revoked_at.eq(at), api_tokens::revoked_reason.eq(&reason)))
            .execute(self.changing(Topic::Tokens))
            .await?;
        if ended > 0 {
            let successor: Option<String> = api_tokens::table
                .filter(api_tokens::replaces.eq(old_id))
                .select(api_tokens::id)
                .first(self.conn())
                .await
                .optional()?;
            if let Some(successor) = successor {
                diesel::update(api_tokens::table.filter(api_tokens::parent_id.eq(old_id)))
                    .set(api_tokens::parent_id.eq(successor))
                    .execute(self.changing(Topic::Tokens))
                    .await?;
            }
            let ended = event(user_id, Some(old_id), EventKind::Revoked, Some(why.to_owned()), seen, at);
            self.record(std::slice::from_ref(&ended)).await?;
        }
        Ok(ended > 0)
    }
}
