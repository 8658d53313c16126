//! The steps of the grants' transactions, written once as methods of
//! [`Tx`](crate::server::db::Tx): claim a row before reading it, issue a pair, end a sign-in,
//! end a grant. Ending app tokens marks the tokens topic, whose epoch ends after the commit:
//! every server's bearer check sees it on the next request.

use diesel::prelude::*;
use diesel_async::RunQueryDsl;

use super::{GrantError, Refusal};
use crate::rules::error::AppResult;
use crate::rules::limits::{APP_ACCESS_LIFETIME_MS, GRANT_UNUSED_MS, MAX_APP_SESSIONS};
use crate::rules::scopes::ScopeSet;
use crate::server::db::schema::{api_tokens, app_codes, app_grants, app_refresh_tokens, apps};
use crate::server::db::{models, new_id, GrantId, TokenId, Topic, UserId};
use crate::server::domain::activity::{event, EventKind, Revoker, Seen};
use crate::server::domain::tokens::{HashedToken, PlainToken, SecretKind};
use crate::tx_steps;

/// What a code (or a refresh) is exchanged for.
#[derive(Debug)]
pub struct Pair {
    pub access: PlainToken,
    pub refresh: PlainToken,
    pub scopes: ScopeSet,
    /// Seconds the access token lives.
    pub expires_in: i64,
}

/// What a transaction of a token request came to, when a refusal must still commit what it
/// did (the revocation a replay causes, a device's poll).
pub(super) enum Outcome {
    Issued(Pair),
    Refused(Refusal),
}

impl Outcome {
    pub(super) fn into_result(self) -> Result<Pair, GrantError> {
        match self {
            Outcome::Issued(pair) => Ok(pair),
            Outcome::Refused(refusal) => Err(refusal.into()),
        }
    }
}

tx_steps! {
    /// Makes or widens the person's grant to `app` by `scopes` (an event says what it adds)
    /// and marks it used: the consent page's and the device page's approval alike. The
    /// caller holds the person's lock.
    pub async fn grant(
        &mut self,
        app: &models::App,
        user_id: &UserId,
        scopes: ScopeSet,
        seen: &Seen,
    ) -> AppResult<GrantId> {
        let now = self.now;
        let live: Option<(GrantId, String)> = app_grants::table
            .filter(app_grants::app_id.eq(&app.id))
            .filter(app_grants::user_id.eq(user_id))
            .filter(app_grants::revoked_at.is_null())
            .select((app_grants::id, app_grants::scopes))
            .first(self.conn())
            .await
            .optional()?;
        let (grant_id, before) = match live {
            Some((id, names)) => (id, ScopeSet::from_names(&names).unwrap_or_default()),
            None => {
                let id = GrantId::random();
                diesel::insert_into(app_grants::table)
                    .values((
                        app_grants::id.eq(&id),
                        app_grants::app_id.eq(&app.id),
                        app_grants::user_id.eq(user_id),
                        app_grants::scopes.eq(""),
                        app_grants::created_at.eq(now),
                        app_grants::last_used_at.eq(now),
                    ))
                    .execute(self.conn())
                    .await?;
                (id, ScopeSet::default())
            }
        };
        let after = before.union(scopes);
        diesel::update(app_grants::table.find(&grant_id))
            .set((app_grants::scopes.eq(after.to_names()), app_grants::last_used_at.eq(now)))
            .execute(self.conn())
            .await?;
        if after != before {
            let names: Vec<&str> = scopes.without(before).iter().map(|s| s.name()).collect();
            let detail = format!("{} ({})", app.name, names.join(", "));
            self.record(&[event(user_id, None, EventKind::AppAuthorized, Some(detail), seen, now)]).await?;
        }
        Ok(grant_id)
    }

    /// Takes the write lock on this code's row before anything is read (a no-op write): on
    /// SQLite a transaction that read first could not upgrade its lock once another had
    /// written; on PostgreSQL, of two exchanges of one code the second waits here for the
    /// first, then reads what it did.
    pub async fn claim_code(&mut self, digest: &[u8; 32]) -> AppResult<()> {
        diesel::update(app_codes::table.find(digest.as_slice()))
            .set(app_codes::digest.eq(app_codes::digest))
            .execute(self.conn())
            .await?;
        Ok(())
    }

    /// The same, for a refresh token's row (see [`claim_code`](Self::claim_code)).
    pub async fn claim_refresh(&mut self, digest: &HashedToken) -> AppResult<()> {
        diesel::update(app_refresh_tokens::table.filter(app_refresh_tokens::digest.eq(digest.as_bytes())))
            .set(app_refresh_tokens::digest.eq(app_refresh_tokens::digest))
            .execute(self.conn())
            .await?;
        Ok(())
    }

    /// The same, for an access token's row (see [`claim_code`](Self::claim_code)).
    pub async fn claim_access(&mut self, digest: &HashedToken) -> AppResult<()> {
        diesel::update(api_tokens::table.filter(api_tokens::token_digest.eq(digest.as_bytes())))
            .set(api_tokens::token_digest.eq(api_tokens::token_digest))
            .execute(self.conn())
            .await?;
        Ok(())
    }

    /// Marks a live grant used now; answers false if it is no longer live (revoked
    /// meanwhile: on PostgreSQL this waits for the revocation's commit, and then sees it).
    pub async fn touch_grant(&mut self, grant_id: &GrantId) -> AppResult<bool> {
        let now = self.now;
        Ok(diesel::update(app_grants::table.find(grant_id).filter(app_grants::revoked_at.is_null()))
            .set(app_grants::last_used_at.eq(now))
            .execute(self.conn())
            .await?
            == 1)
    }

    /// Issues an access token (one hour) and its refresh token (for as long as an unused
    /// grant lasts) under `grant`, in `family`; past [`MAX_APP_SESSIONS`] sign-ins of the
    /// grant, the oldest ends.
    pub async fn issue_pair(
        &mut self,
        grant: &models::Grant,
        app: &models::App,
        scopes: ScopeSet,
        family: &str,
    ) -> AppResult<Pair> {
        let now = self.now;
        let access = PlainToken::generate_of(SecretKind::AppAccess);
        let refresh = PlainToken::generate_of(SecretKind::AppRefresh);
        let access_id = TokenId::random();
        let row = models::ApiToken {
            id: access_id.clone(),
            user_id: grant.user_id.clone(),
            name: app.name.clone(),
            last_chars: access.last_chars(),
            scopes: scopes.to_names(),
            created_at: now,
            expires_at: Some(now + APP_ACCESS_LIFETIME_MS),
            last_used_at: None,
            revoked_at: None,
            description: None,
            parent_id: None,
            family_id: Some(access_id.clone()),
            replaces: None,
            grace_until: None,
            revoked_reason: None,
            grant_id: Some(grant.id.clone()),
            // Grants are not limited to streams (SPEC §12): they reach what the person can.
            limited: false,
        };
        self.insert_token(&row, &access.hashed()).await?;
        diesel::insert_into(app_refresh_tokens::table)
            .values((
                app_refresh_tokens::id.eq(new_id()),
                app_refresh_tokens::digest.eq(refresh.hashed().as_bytes()),
                app_refresh_tokens::grant_id.eq(&grant.id),
                app_refresh_tokens::family_id.eq(family),
                app_refresh_tokens::access_token_id.eq(&access_id),
                app_refresh_tokens::scopes.eq(scopes.to_names()),
                app_refresh_tokens::created_at.eq(now),
                app_refresh_tokens::expires_at.eq(now + GRANT_UNUSED_MS),
            ))
            .execute(self.conn())
            .await?;
        // Each sign-in is a family with one live refresh token: past the bound, the oldest go.
        let live: Vec<String> = app_refresh_tokens::table
            .filter(app_refresh_tokens::grant_id.eq(&grant.id))
            .filter(app_refresh_tokens::used_at.is_null())
            .filter(app_refresh_tokens::revoked_at.is_null())
            .order((app_refresh_tokens::created_at.desc(), app_refresh_tokens::id.desc()))
            .select(app_refresh_tokens::family_id)
            .offset(MAX_APP_SESSIONS as i64)
            .load(self.conn())
            .await?;
        for family in live {
            self.end_family(&family, Revoker::SignedOut).await?;
        }
        Ok(Pair { access, refresh, scopes, expires_in: APP_ACCESS_LIFETIME_MS / 1000 })
    }

    /// Ends one sign-in of an app: its refresh tokens, and the access tokens issued with
    /// them (with what they minted).
    pub async fn end_family(&mut self, family: &str, revoker: Revoker) -> AppResult<()> {
        let now = self.now;
        diesel::update(
            app_refresh_tokens::table
                .filter(app_refresh_tokens::family_id.eq(family))
                .filter(app_refresh_tokens::revoked_at.is_null()),
        )
        .set(app_refresh_tokens::revoked_at.eq(now))
        .execute(self.conn())
        .await?;
        let issued: Vec<TokenId> = app_refresh_tokens::table
            .filter(app_refresh_tokens::family_id.eq(family))
            .select(app_refresh_tokens::access_token_id)
            .load(self.conn())
            .await?;
        self.end_tokens(&issued, revoker).await
    }

    /// Revokes these app tokens and what they minted (an app's token cannot give
    /// `tokens:write`, so what it mints mints nothing). Quietly: an app renews its token every
    /// hour, and the person's events would be nothing else.
    pub async fn end_tokens(&mut self, ids: &[TokenId], revoker: Revoker) -> AppResult<()> {
        let now = self.now;
        let reason = revoker.describe();
        diesel::update(
            api_tokens::table
                .filter(api_tokens::id.eq_any(ids).or(api_tokens::parent_id.eq_any(ids)))
                .filter(api_tokens::revoked_at.is_null()),
        )
        .set((api_tokens::revoked_at.eq(now), api_tokens::revoked_reason.eq(&reason)))
        .execute(self.changing(Topic::Tokens))
        .await?;
        Ok(())
    }

    /// Ends a grant: it, its codes, its refresh tokens and every token it issued, at once (the
    /// tokens epoch ends at the commit, so every server sees it), with an event saying why.
    /// Answers whether it was still live.
    pub async fn end_grant(&mut self, grant: &models::Grant, revoker: Revoker, seen: &Seen) -> AppResult<bool> {
        let now = self.now;
        let reason = revoker.describe();
        let ended = diesel::update(app_grants::table.find(&grant.id).filter(app_grants::revoked_at.is_null()))
            .set((app_grants::revoked_at.eq(now), app_grants::revoked_reason.eq(&reason)))
            .execute(self.conn())
            .await?;
        if ended == 0 {
            return Ok(false);
        }
        diesel::update(
            api_tokens::table
                .filter(api_tokens::grant_id.eq(&grant.id))
                .filter(api_tokens::revoked_at.is_null()),
        )
        .set((api_tokens::revoked_at.eq(now), api_tokens::revoked_reason.eq(&reason)))
        .execute(self.changing(Topic::Tokens))
        .await?;
        diesel::update(
            app_refresh_tokens::table
                .filter(app_refresh_tokens::grant_id.eq(&grant.id))
                .filter(app_refresh_tokens::revoked_at.is_null()),
        )
        .set(app_refresh_tokens::revoked_at.eq(now))
        .execute(self.conn())
        .await?;
        diesel::delete(app_codes::table.filter(app_codes::grant_id.eq(&grant.id)).filter(app_codes::used_at.is_null()))
            .execute(self.conn())
            .await?;
        let app_name: String = apps::table.find(&grant.app_id).select(apps::name).first(self.conn()).await?;
        let detail = format!("{app_name}: {reason}");
        self.record(&[event(&grant.user_id, None, EventKind::AppAccessEnded, Some(detail), seen, now)]).await?;
        Ok(true)
    }

    /// Ends every live grant of the app `app_id` (see [`Self::end_grant`]).
    pub async fn end_grants_of(&mut self, app_id: &str, revoker: Revoker, seen: &Seen) -> AppResult<()> {
        let grants: Vec<models::Grant> = app_grants::table
            .filter(app_grants::app_id.eq(app_id))
            .filter(app_grants::revoked_at.is_null())
            .select(models::Grant::as_select())
            .load(self.conn())
            .await?;
        for grant in &grants {
            self.end_grant(grant, revoker.clone(), seen).await?;
        }
        Ok(())
    }
}
