//! Grants (SPEC §11): a person's consent to an app, the codes it yields, and the tokens
//! those codes and their refresh tokens are exchanged for. Every door of the flow (standard
//! OAuth, Speckle's app flow) comes here, so each rule is written once:
//! - a code is single use and a minute long; presenting it again revokes what it issued;
//! - a refresh ends the pair it replaces; a refresh token presented again (a copy in two
//!   hands, or two refreshes racing) ends the whole grant;
//! - every write begins with a conditional update, so that of two requests racing for one
//!   code or refresh token exactly one wins, on both backends.

use diesel::prelude::*;
use diesel_async::RunQueryDsl;
use secrecy::{ExposeSecret, SecretString};
use sha2::{Digest, Sha256};

use super::pkce::{Challenge, Method};
use super::write::{Outcome, Pair};
use super::{Client, GrantError, Refusal};
use crate::rules::error::{AppError, AppResult};
use crate::rules::limits::{CODE_LIFETIME_MS, GRANT_UNUSED_MS};
use crate::rules::scopes::ScopeSet;
use crate::server::db::schema::{
    api_tokens, app_codes, app_device_codes, app_grants, app_refresh_tokens, apps,
};
use crate::server::db::{models, new_id, DbConn, GrantId, TokenId, UserId, DAY_MS};
use crate::server::domain::activity::{Revoker, Seen};
use crate::server::domain::tokens::{PlainToken, SecretKind};
use crate::{db_run, db_tx, tx_steps};

/// Characters of an authorization code: 43 base62 characters hold 256 bits.
const CODE_CHARS: usize = 43;

/// An authorization code in clear text, for the one redirect that carries it. It never prints.
pub struct Code(SecretString);

impl Code {
    pub(super) fn generate() -> Code {
        use rand::distributions::{Alphanumeric, DistString};
        Code(Alphanumeric.sample_string(&mut rand::rngs::OsRng, CODE_CHARS).into())
    }

    pub fn expose_secret(&self) -> &str {
        self.0.expose_secret()
    }
}

impl std::fmt::Debug for Code {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Code")
    }
}

pub(super) fn code_digest(code: &str) -> [u8; 32] {
    Sha256::digest(code.as_bytes()).into()
}

/// What a code asks for: the scopes the person approves, its challenge, and the redirect URI
/// the request named (the exchange must repeat it; Speckle's flow names none).
pub struct CodeRequest<'a> {
    pub scopes: ScopeSet,
    pub challenge: Challenge,
    pub redirect_uri: Option<&'a str>,
}

/// The scopes the person has already granted the app, if they have a live grant.
pub async fn granted(conn: &mut DbConn, app_id: &str, user_id: &UserId) -> AppResult<Option<ScopeSet>> {
    let scopes: Option<String> = db_run!(conn, |c| {
        app_grants::table
            .filter(app_grants::app_id.eq(app_id))
            .filter(app_grants::user_id.eq(user_id))
            .filter(app_grants::revoked_at.is_null())
            .select(app_grants::scopes)
            .first(c)
            .await
            .optional()
    })?;
    Ok(scopes.map(|names| ScopeSet::from_names(&names).unwrap_or_default()))
}

/// The person approves `request` for `app` (on the consent page, or by signing in to
/// Speckle's web app): their grant is made or widened (an event says so), and a code issued.
pub async fn approve(
    conn: &mut DbConn,
    app: &models::App,
    user_id: &UserId,
    request: CodeRequest<'_>,
    seen: &Seen,
) -> AppResult<Code> {
    let code = Code::generate();
    let digest = code_digest(code.expose_secret());
    db_tx!(conn, |tx| {
        tx.lock_user(user_id).await?;
        let now = tx.now;
        let grant_id = tx.grant(app, user_id, request.scopes, seen).await?;
        diesel::insert_into(app_codes::table)
            .values((
                app_codes::digest.eq(digest.as_slice()),
                app_codes::grant_id.eq(&grant_id),
                app_codes::scopes.eq(request.scopes.to_names()),
                app_codes::redirect_uri.eq(request.redirect_uri),
                app_codes::challenge.eq(request.challenge.as_str()),
                app_codes::challenge_method.eq(request.challenge.method().as_str()),
                app_codes::expires_at.eq(now + CODE_LIFETIME_MS),
            ))
            .execute(tx.conn())
            .await?;
        Ok(())
    })?;
    tracing::info!(app_id = %app.id, %user_id, "app approved, code issued");
    Ok(code)
}

/// The app, if `client` proves to be it: a confidential app's secret matches its digest (in
/// constant time); a public app presents none, but for Speckle's default apps, whose
/// clients send the secret Speckle's source gives them (their id).
pub async fn authenticate_client(conn: &mut DbConn, client: Client<'_>) -> Result<models::App, GrantError> {
    use subtle::ConstantTimeEq;
    type Row = (models::App, Option<Vec<u8>>);
    let row: Option<Row> = db_run!(conn, |c| {
        apps::table
            .filter(apps::id.eq(client.id))
            .select((models::App::as_select(), apps::secret_digest))
            .first(c)
            .await
            .optional()
    })
    .map_err(AppError::from)?;
    let Some((app, digest)) = row else { return Err(Refusal::InvalidClient.into()) };
    let proven = match (digest, client.secret) {
        (Some(digest), Some(secret)) => {
            bool::from(Sha256::digest(secret.as_bytes()).as_slice().ct_eq(&digest))
        }
        (Some(_), None) => false,
        (None, None) => true,
        (None, Some(secret)) => {
            super::defaults::default_app(app.id.as_str()).is_some()
                && bool::from(secret.as_bytes().ct_eq(app.id.as_str().as_bytes()))
        }
    };
    if !proven {
        return Err(Refusal::InvalidClient.into());
    }
    Ok(app)
}

/// Exchanges a code for a pair of tokens, for the app it was issued to, with the verifier of
/// its challenge and the redirect URI its request named. A refusal changes nothing, but for
/// a code presented again: what it issued ends.
pub async fn exchange_code(
    conn: &mut DbConn,
    app: &models::App,
    code: &str,
    verifier: &str,
    redirect_uri: Option<&str>,
    only: Option<Method>,
) -> Result<Pair, GrantError> {
    let digest = code_digest(code);
    let outcome = db_tx!(conn, |tx| {
        let now = tx.now;
        tx.claim_code(&digest).await?;
        type Row = (models::Grant, String, Option<String>, String, String, i64, Option<i64>);
        let row: Option<Row> = app_codes::table
            .inner_join(app_grants::table)
            .filter(app_codes::digest.eq(digest.as_slice()))
            .select((
                models::Grant::as_select(),
                app_codes::scopes,
                app_codes::redirect_uri,
                app_codes::challenge,
                app_codes::challenge_method,
                app_codes::expires_at,
                app_codes::used_at,
            ))
            .first(tx.conn())
            .await
            .optional()?;
        let Some((grant, scopes, expected_uri, challenge, method, expires_at, used_at)) = row else {
            return Ok(Outcome::Refused(Refusal::InvalidGrant("The code is not known.")));
        };
        if grant.app_id != app.id {
            return Ok(Outcome::Refused(Refusal::InvalidGrant("The code was issued to another app.")));
        }
        if used_at.is_some() {
            return tx.replayed_code(&digest, &grant).await;
        }
        if expires_at <= now {
            return Ok(Outcome::Refused(Refusal::InvalidGrant("The code expired.")));
        }
        if expected_uri.is_some() && expected_uri.as_deref() != redirect_uri {
            return Ok(Outcome::Refused(Refusal::InvalidGrant(
                "redirect_uri must be the one the authorization request named.",
            )));
        }
        let Some(challenge) = Challenge::stored(&method, &challenge) else {
            return Ok(Outcome::Refused(Refusal::InvalidGrant("The code's challenge is unreadable.")));
        };
        if only.is_some_and(|method| method != challenge.method()) {
            return Ok(Outcome::Refused(Refusal::InvalidGrant(
                "The code was asked for with a plain challenge; this endpoint takes S256 only.",
            )));
        }
        if !challenge.is_met_by(verifier) {
            return Ok(Outcome::Refused(Refusal::InvalidGrant(
                "The code verifier does not match the challenge the code was asked for with.",
            )));
        }
        // Of two exchanges racing, the one that marks the code wins; the other is a replay.
        let family = new_id();
        let marked =
            diesel::update(app_codes::table.find(digest.as_slice()).filter(app_codes::used_at.is_null()))
                .set((app_codes::used_at.eq(now), app_codes::family_id.eq(&family)))
                .execute(tx.conn())
                .await?;
        if marked == 0 {
            return tx.replayed_code(&digest, &grant).await;
        }
        if grant.revoked_at.is_some() || !tx.touch_grant(&grant.id).await? {
            return Ok(Outcome::Refused(Refusal::InvalidGrant("The app's access was revoked.")));
        }
        let scopes = ScopeSet::from_names(&scopes).unwrap_or_default();
        Ok(Outcome::Issued(tx.issue_pair(&grant, app, scopes, &family).await?))
    })?;
    outcome.into_result()
}

/// Exchanges a refresh token for a new pair, for the app it was issued to: the pair it
/// replaces ends. Presented a second time, it ends the whole grant; any other refusal
/// changes nothing.
pub async fn refresh(
    conn: &mut DbConn,
    app: &models::App,
    refresh: &PlainToken,
    seen: &Seen,
) -> Result<Pair, GrantError> {
    if refresh.kind() != SecretKind::AppRefresh {
        return Err(Refusal::InvalidGrant("That is not a refresh token.").into());
    }
    let digest = refresh.hashed();
    let outcome = db_tx!(conn, |tx| {
        let now = tx.now;
        tx.claim_refresh(&digest).await?;
        type Row = (models::Grant, String, TokenId, String, i64, Option<i64>, Option<i64>);
        let row: Option<Row> = app_refresh_tokens::table
            .inner_join(app_grants::table)
            .filter(app_refresh_tokens::digest.eq(digest.as_bytes()))
            .select((
                models::Grant::as_select(),
                app_refresh_tokens::family_id,
                app_refresh_tokens::access_token_id,
                app_refresh_tokens::scopes,
                app_refresh_tokens::expires_at,
                app_refresh_tokens::used_at,
                app_refresh_tokens::revoked_at,
            ))
            .first(tx.conn())
            .await
            .optional()?;
        let Some((grant, family, access_token_id, scopes, expires_at, used_at, revoked_at)) = row else {
            return Ok(Outcome::Refused(Refusal::InvalidGrant("The refresh token is not known.")));
        };
        if grant.app_id != app.id {
            return Ok(Outcome::Refused(Refusal::InvalidGrant(
                "The refresh token was issued to another app.",
            )));
        }
        if used_at.is_some() {
            return tx.reused_refresh(&grant, seen).await;
        }
        if revoked_at.is_some() || grant.revoked_at.is_some() {
            return Ok(Outcome::Refused(Refusal::InvalidGrant("The refresh token was revoked.")));
        }
        if expires_at <= now {
            return Ok(Outcome::Refused(Refusal::InvalidGrant("The refresh token expired.")));
        }
        // Of two refreshes racing, the one that marks the token wins; the other is a reuse.
        let marked = diesel::update(
            app_refresh_tokens::table
                .filter(app_refresh_tokens::digest.eq(digest.as_bytes()))
                .filter(app_refresh_tokens::used_at.is_null())
                .filter(app_refresh_tokens::revoked_at.is_null()),
        )
        .set(app_refresh_tokens::used_at.eq(now))
        .execute(tx.conn())
        .await?;
        if marked == 0 {
            return tx.reused_refresh(&grant, seen).await;
        }
        if !tx.touch_grant(&grant.id).await? {
            return Ok(Outcome::Refused(Refusal::InvalidGrant("The app's access was revoked.")));
        }
        tx.end_tokens(std::slice::from_ref(&access_token_id), Revoker::Refreshed).await?;
        let scopes = ScopeSet::from_names(&scopes).unwrap_or_default();
        Ok(Outcome::Issued(tx.issue_pair(&grant, app, scopes, &family).await?))
    })?;
    outcome.into_result()
}

/// The person ends an app's access (on `/profile`, or `appRevokeAccess`): every token of
/// their grant dies at once, on every server. Answers whether there was one to end.
pub async fn revoke_access(
    conn: &mut DbConn,
    user_id: &UserId,
    app_id: &str,
    revoker: Revoker,
    seen: &Seen,
) -> AppResult<bool> {
    db_tx!(conn, |tx| {
        tx.lock_user(user_id).await?;
        let grant: Option<models::Grant> = app_grants::table
            .filter(app_grants::app_id.eq(app_id))
            .filter(app_grants::user_id.eq(user_id))
            .filter(app_grants::revoked_at.is_null())
            .select(models::Grant::as_select())
            .first(tx.conn())
            .await
            .optional()?;
        match grant {
            Some(grant) => tx.end_grant(&grant, revoker, seen).await,
            None => Ok(false),
        }
    })
}

/// The person ends every app's access at once (after changing their password): answers how
/// many grants ended.
pub async fn revoke_all_access(conn: &mut DbConn, user_id: &UserId, seen: &Seen) -> AppResult<usize> {
    db_tx!(conn, |tx| {
        tx.lock_user(user_id).await?;
        let grants: Vec<models::Grant> = app_grants::table
            .filter(app_grants::user_id.eq(user_id))
            .filter(app_grants::revoked_at.is_null())
            .select(models::Grant::as_select())
            .load(tx.conn())
            .await?;
        let mut ended = 0;
        for grant in &grants {
            ended += usize::from(tx.end_grant(grant, Revoker::AppAccess, seen).await?);
        }
        Ok(ended)
    })
}

/// Ends the grant `grant_id` (a token of it leaked): answers whether it was still live.
pub async fn end_grant(
    conn: &mut DbConn,
    grant_id: &GrantId,
    revoker: Revoker,
    seen: &Seen,
) -> AppResult<bool> {
    db_tx!(conn, |tx| {
        let grant: Option<models::Grant> = app_grants::table
            .find(grant_id)
            .select(models::Grant::as_select())
            .first(tx.conn())
            .await
            .optional()?;
        let Some(grant) = grant else { return Ok(false) };
        tx.lock_user(&grant.user_id).await?;
        tx.end_grant(&grant, revoker, seen).await
    })
}

/// An app gives back one of its tokens (RFC 7009; Speckle's `/auth/logout`, which names no
/// app: `app` none): an access token ends its sign-in (the pair, and what it minted); a
/// refresh token ends the whole grant, as SPEC §11 says. Another app's token, or an unknown
/// one, is left alone.
pub async fn give_back(
    conn: &mut DbConn,
    app: Option<&models::App>,
    token: &PlainToken,
    seen: &Seen,
) -> AppResult<()> {
    let digest = token.hashed();
    let app_id = app.map_or("", |app| app.id.as_str());
    let any_app = app.is_none();
    db_tx!(conn, |tx| {
        match token.kind() {
            SecretKind::AppRefresh => {
                tx.claim_refresh(&digest).await?;
                let grant: Option<models::Grant> = app_refresh_tokens::table
                    .inner_join(app_grants::table)
                    .filter(app_refresh_tokens::digest.eq(digest.as_bytes()))
                    .filter(app_grants::app_id.eq(app_id).or(any_app.into_sql::<diesel::sql_types::Bool>()))
                    .select(models::Grant::as_select())
                    .first(tx.conn())
                    .await
                    .optional()?;
                if let Some(grant) = grant.filter(|grant| grant.revoked_at.is_none()) {
                    tx.end_grant(&grant, Revoker::SignedOut, seen).await?;
                }
            }
            SecretKind::AppAccess => {
                tx.claim_access(&digest).await?;
                let family: Option<String> = app_refresh_tokens::table
                    .inner_join(app_grants::table)
                    .inner_join(api_tokens::table.on(api_tokens::id.eq(app_refresh_tokens::access_token_id)))
                    .filter(api_tokens::token_digest.eq(digest.as_bytes()))
                    .filter(app_grants::app_id.eq(app_id).or(any_app.into_sql::<diesel::sql_types::Bool>()))
                    .select(app_refresh_tokens::family_id)
                    .first(tx.conn())
                    .await
                    .optional()?;
                if let Some(family) = family {
                    tx.end_family(&family, Revoker::SignedOut).await?;
                }
            }
            SecretKind::Personal | SecretKind::ClientSecret => {}
        }
        Ok(())
    })
}

/// Ends the grants unused for [`GRANT_UNUSED_MS`] (none of their tokens can still be
/// refreshed; now they leave the person's list too, and the app must ask again), at most
/// `batch` of them; and forgets codes and device codes that expired a day ago (a code is
/// refused once expired; its replay is still seen for that day). Answers the grants ended.
pub async fn expire_unused(conn: &mut DbConn, now: i64, batch: i64) -> AppResult<usize> {
    let stale: Vec<GrantId> = db_run!(conn, |c| {
        app_grants::table
            .filter(app_grants::revoked_at.is_null())
            .filter(app_grants::last_used_at.le(now - GRANT_UNUSED_MS))
            .select(app_grants::id)
            .limit(batch)
            .load(c)
            .await
    })?;
    let mut ended = 0;
    for grant_id in &stale {
        ended += usize::from(end_grant(conn, grant_id, Revoker::Unused, &Seen::default()).await?);
    }
    let forgotten = now - DAY_MS;
    db_run!(conn, |c| {
        diesel::delete(app_codes::table.filter(app_codes::expires_at.le(forgotten))).execute(c).await?;
        diesel::delete(app_device_codes::table.filter(app_device_codes::expires_at.le(forgotten)))
            .execute(c)
            .await
    })?;
    Ok(ended)
}

/// What introspection (RFC 7662) says of a live token of the asking app.
#[derive(Debug)]
pub struct Introspected {
    /// An access token (else a refresh token).
    pub is_access: bool,
    pub scopes: ScopeSet,
    pub user_id: UserId,
    /// Milliseconds since the epoch.
    pub issued_at: i64,
    pub expires_at: i64,
}

/// The asking app's own token, if it is live (RFC 7662 §2.2): another app's, or one that is
/// revoked, used, expired or unknown, is none.
pub async fn introspect(
    conn: &mut DbConn,
    app: &models::App,
    token: &PlainToken,
) -> AppResult<Option<Introspected>> {
    let digest = token.hashed();
    let now = conn.now();
    type Row = (String, UserId, i64, Option<i64>);
    let (is_access, row): (bool, Option<Row>) = match token.kind() {
        SecretKind::AppAccess => (
            true,
            db_run!(conn, |c| {
                api_tokens::table
                    .inner_join(app_grants::table)
                    .filter(api_tokens::token_digest.eq(digest.as_bytes()))
                    .filter(app_grants::app_id.eq(&app.id))
                    .filter(app_grants::revoked_at.is_null())
                    .filter(api_tokens::revoked_at.is_null())
                    .select((
                        api_tokens::scopes,
                        api_tokens::user_id,
                        api_tokens::created_at,
                        api_tokens::expires_at,
                    ))
                    .first(c)
                    .await
                    .optional()
            })?,
        ),
        SecretKind::AppRefresh => (
            false,
            db_run!(conn, |c| {
                app_refresh_tokens::table
                    .inner_join(app_grants::table)
                    .filter(app_refresh_tokens::digest.eq(digest.as_bytes()))
                    .filter(app_grants::app_id.eq(&app.id))
                    .filter(app_grants::revoked_at.is_null())
                    .filter(app_refresh_tokens::revoked_at.is_null())
                    .filter(app_refresh_tokens::used_at.is_null())
                    .select((
                        app_refresh_tokens::scopes,
                        app_grants::user_id,
                        app_refresh_tokens::created_at,
                        app_refresh_tokens::expires_at.nullable(),
                    ))
                    .first(c)
                    .await
                    .optional()
            })?,
        ),
        SecretKind::Personal | SecretKind::ClientSecret => return Ok(None),
    };
    Ok(row.and_then(|(scopes, user_id, issued_at, expires_at)| {
        let expires_at = expires_at?;
        (expires_at > now).then(|| Introspected {
            is_access,
            scopes: ScopeSet::from_names(&scopes).unwrap_or_default(),
            user_id,
            issued_at,
            expires_at,
        })
    }))
}

tx_steps! {
    /// A code presented again: whoever holds a copy has what it issued, so that ends (the
    /// refusal commits the revocation).
    async fn replayed_code(&mut self, digest: &[u8; 32], grant: &models::Grant) -> AppResult<Outcome> {
        let family: Option<String> = app_codes::table
            .find(digest.as_slice())
            .select(app_codes::family_id)
            .first::<Option<String>>(self.conn())
            .await?;
        if let Some(family) = family {
            self.end_family(&family, Revoker::CodeReplay).await?;
        }
        tracing::warn!(app_id = %grant.app_id, user_id = %grant.user_id, "authorization code replayed");
        Ok(Outcome::Refused(Refusal::InvalidGrant("The code was already used.")))
    }

    /// A refresh token presented a second time (a copy in other hands, or two refreshes
    /// racing): the grant ends, and the refusal commits that.
    async fn reused_refresh(&mut self, grant: &models::Grant, seen: &Seen) -> AppResult<Outcome> {
        if self.end_grant(grant, Revoker::RefreshReuse, seen).await? {
            tracing::warn!(app_id = %grant.app_id, user_id = %grant.user_id, "refresh token reused: grant ended");
        }
        Ok(Outcome::Refused(Refusal::InvalidGrant("The refresh token was already used.")))
    }
}
