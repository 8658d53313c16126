//! The device authorization grant (RFC 8628; SPEC §11): a program without a browser (a
//! command-line tool, a connector on a headless machine) asks for a code pair, shows the
//! person a short `user_code`, and polls with its secret `device_code` while the person types
//! the short one on `/device`, signed in, and answers. Approving makes or widens their grant
//! to the app as the consent page does; the next poll is exchanged for a pair of tokens.
//!
//! The short code is 8 letters of 20 consonants (about 34 bits; RFC 8628 §6.1), good for ten
//! minutes; the page counts a person's wrong codes against a throttle, so guessing another
//! person's code is hopeless. The device code is 256 bits, kept as its digest.

use diesel::prelude::*;
use diesel_async::RunQueryDsl;
use rand::Rng;

use super::grants::{code_digest, Code};
use super::write::{Outcome, Pair};
use super::{GrantError, Refusal};
use crate::rules::error::{AppError, AppResult};
use crate::rules::limits::{DEVICE_CODE_LIFETIME_MS, DEVICE_POLL_INTERVAL_SECS};
use crate::rules::scopes::ScopeSet;
use crate::server::db::schema::{app_device_codes, app_grants, apps};
use crate::server::db::{models, new_id, DbConn, GrantId, UserId};
use crate::server::domain::activity::Seen;
use crate::{db_run, db_tx};

/// The letters of a user code: no vowels (no words), no look-alikes (RFC 8628 §6.1).
const USER_CODE_LETTERS: &[u8] = b"BCDFGHJKLMNPQRSTVWXZ";
const USER_CODE_LEN: usize = 8;

/// What the device is given to show and to poll with (RFC 8628 §3.2).
#[derive(Debug)]
pub struct Started {
    pub device_code: Code,
    /// As the person reads it: `WDJB-MJHT`.
    pub user_code: String,
    pub expires_in: i64,
    pub interval: i64,
}

/// A user code as it is stored and looked up: its letters, upper case, without the dash or
/// spaces a person may type.
pub fn normalize_user_code(typed: &str) -> String {
    typed.chars().filter(char::is_ascii_alphanumeric).map(|c| c.to_ascii_uppercase()).take(32).collect()
}

fn generate_user_code() -> String {
    let mut rng = rand::rngs::OsRng;
    (0..USER_CODE_LEN)
        .map(|_| char::from(USER_CODE_LETTERS[rng.gen_range(0..USER_CODE_LETTERS.len())]))
        .collect()
}

/// `WDJBMJHT` as `WDJB-MJHT`.
fn shown(user_code: &str) -> String {
    let (first, second) = user_code.split_at(user_code.len() / 2);
    format!("{first}-{second}")
}

/// The app (already authenticated) asks to act for whoever types the code, with `scopes`.
pub async fn start(conn: &mut DbConn, app: &models::App, scopes: ScopeSet) -> AppResult<Started> {
    let now = conn.now();
    // A fresh user code that happens to be a live one's is drawn again.
    for _ in 0..4 {
        let device_code = Code::generate();
        let user_code = generate_user_code();
        let digest = code_digest(device_code.expose_secret());
        let inserted = db_run!(conn, |c| {
            diesel::insert_into(app_device_codes::table)
                .values((
                    app_device_codes::digest.eq(digest.as_slice()),
                    app_device_codes::user_code.eq(&user_code),
                    app_device_codes::app_id.eq(&app.id),
                    app_device_codes::scopes.eq(scopes.to_names()),
                    app_device_codes::created_at.eq(now),
                    app_device_codes::expires_at.eq(now + DEVICE_CODE_LIFETIME_MS),
                    app_device_codes::interval_secs.eq(DEVICE_POLL_INTERVAL_SECS),
                ))
                .execute(c)
                .await
        });
        match inserted {
            Ok(_) => {
                return Ok(Started {
                    device_code,
                    user_code: shown(&user_code),
                    expires_in: DEVICE_CODE_LIFETIME_MS / 1000,
                    interval: DEVICE_POLL_INTERVAL_SECS,
                })
            }
            Err(diesel::result::Error::DatabaseError(
                diesel::result::DatabaseErrorKind::UniqueViolation,
                _,
            )) => continue,
            Err(error) => return Err(error.into()),
        }
    }
    tracing::error!("four user codes in a row were taken");
    Err(AppError::Unavailable)
}

/// What a typed code stands for, as the page shows it.
#[derive(Debug)]
pub enum Looked {
    /// Waiting for an answer: the app and what it asks for.
    Waiting { app: models::App, scopes: ScopeSet },
    /// This person answered it already.
    Answered { app: models::App, approved: bool },
    /// No live code is this one (unknown, expired, or someone else's answered one).
    Unknown,
}

/// The live code `typed`, for the signed-in `user_id`.
pub async fn look_up(conn: &mut DbConn, typed: &str, user_id: &UserId) -> AppResult<Looked> {
    let user_code = normalize_user_code(typed);
    let now = conn.now();
    type Row = (models::App, String, Option<UserId>, Option<String>);
    let row: Option<Row> = db_run!(conn, |c| {
        app_device_codes::table
            .inner_join(apps::table)
            .filter(app_device_codes::user_code.eq(&user_code))
            .filter(app_device_codes::expires_at.gt(now))
            .select((
                models::App::as_select(),
                app_device_codes::scopes,
                app_device_codes::user_id,
                app_device_codes::decision,
            ))
            .first(c)
            .await
            .optional()
    })?;
    Ok(match row {
        None => Looked::Unknown,
        Some((app, scopes, None, _)) => {
            Looked::Waiting { app, scopes: ScopeSet::from_names(&scopes).unwrap_or_default() }
        }
        Some((app, _, Some(answerer), decision)) if &answerer == user_id => {
            Looked::Answered { app, approved: decision.as_deref() == Some(APPROVED) }
        }
        Some(_) => Looked::Unknown,
    })
}

const APPROVED: &str = "approved";
const DENIED: &str = "denied";

/// The person answers the code `typed`: approved, their grant to the app is made or widened
/// by what it asks. Answers the app, or none when no code waits under that name (unknown,
/// expired, or answered already: a code is answered once).
pub async fn answer(
    conn: &mut DbConn,
    typed: &str,
    user_id: &UserId,
    approved: bool,
    seen: &Seen,
) -> AppResult<Option<models::App>> {
    let user_code = normalize_user_code(typed);
    db_tx!(conn, |tx| {
        tx.lock_user(user_id).await?;
        let now = tx.now;
        let decision = if approved { APPROVED } else { DENIED };
        // Of two answers racing, the one that marks the code wins.
        let marked = diesel::update(
            app_device_codes::table
                .filter(app_device_codes::user_code.eq(&user_code))
                .filter(app_device_codes::expires_at.gt(now))
                .filter(app_device_codes::user_id.is_null()),
        )
        .set((app_device_codes::user_id.eq(user_id), app_device_codes::decision.eq(decision)))
        .execute(tx.conn())
        .await?;
        if marked == 0 {
            return Ok(None);
        }
        let (app, scopes): (models::App, String) = app_device_codes::table
            .inner_join(apps::table)
            .filter(app_device_codes::user_code.eq(&user_code))
            .select((models::App::as_select(), app_device_codes::scopes))
            .first(tx.conn())
            .await?;
        if approved {
            let scopes = ScopeSet::from_names(&scopes).unwrap_or_default();
            let grant_id = tx.grant(&app, user_id, scopes, seen).await?;
            diesel::update(app_device_codes::table.filter(app_device_codes::user_code.eq(&user_code)))
                .set(app_device_codes::grant_id.eq(&grant_id))
                .execute(tx.conn())
                .await?;
        }
        Ok(Some(app))
    })
}

/// The device polls (RFC 8628 §3.4): tokens once the person approved; until then
/// `authorization_pending`, or `slow_down` (and five seconds more between polls) when it
/// polled sooner than its interval. A code is exchanged once.
pub async fn poll(conn: &mut DbConn, app: &models::App, device_code: &str) -> Result<Pair, GrantError> {
    let digest = code_digest(device_code);
    let outcome = db_tx!(conn, |tx| {
        let now = tx.now;
        // The write lock first (as for codes): two polls at once are one after the other.
        let claimed = diesel::update(app_device_codes::table.find(digest.as_slice()))
            .set(app_device_codes::digest.eq(app_device_codes::digest))
            .execute(tx.conn())
            .await?;
        if claimed == 0 {
            return Ok(Outcome::Refused(Refusal::InvalidGrant("The device code is not known.")));
        }
        type Row = (String, String, i64, i64, Option<i64>, Option<String>, Option<GrantId>, Option<i64>);
        let (app_id, scopes, expires_at, interval, polled_at, decision, grant_id, used_at): Row =
            app_device_codes::table
                .find(digest.as_slice())
                .select((
                    app_device_codes::app_id,
                    app_device_codes::scopes,
                    app_device_codes::expires_at,
                    app_device_codes::interval_secs,
                    app_device_codes::polled_at,
                    app_device_codes::decision,
                    app_device_codes::grant_id,
                    app_device_codes::used_at,
                ))
                .first(tx.conn())
                .await?;
        if app_id != app.id.as_str() {
            return Ok(Outcome::Refused(Refusal::InvalidGrant("The device code was issued to another app.")));
        }
        if used_at.is_some() {
            return Ok(Outcome::Refused(Refusal::InvalidGrant("The device code was already used.")));
        }
        if expires_at <= now {
            return Ok(Outcome::Refused(Refusal::ExpiredToken));
        }
        let this = app_device_codes::table.find(digest.as_slice());
        match (decision.as_deref(), grant_id) {
            (None, _) => {
                let too_soon = polled_at.is_some_and(|polled| now - polled < interval * 1000);
                let interval = if too_soon { interval + DEVICE_POLL_INTERVAL_SECS } else { interval };
                diesel::update(this)
                    .set((app_device_codes::polled_at.eq(now), app_device_codes::interval_secs.eq(interval)))
                    .execute(tx.conn())
                    .await?;
                Ok(Outcome::Refused(if too_soon { Refusal::SlowDown } else { Refusal::AuthorizationPending }))
            }
            (Some(APPROVED), Some(grant_id)) => {
                diesel::update(this).set(app_device_codes::used_at.eq(now)).execute(tx.conn()).await?;
                let grant: Option<models::Grant> = app_grants::table
                    .find(&grant_id)
                    .filter(app_grants::revoked_at.is_null())
                    .select(models::Grant::as_select())
                    .first(tx.conn())
                    .await
                    .optional()?;
                let Some(grant) = grant else {
                    return Ok(Outcome::Refused(Refusal::InvalidGrant("The app's access was revoked.")));
                };
                if !tx.touch_grant(&grant.id).await? {
                    return Ok(Outcome::Refused(Refusal::InvalidGrant("The app's access was revoked.")));
                }
                let scopes = ScopeSet::from_names(&scopes).unwrap_or_default();
                Ok(Outcome::Issued(tx.issue_pair(&grant, app, scopes, &new_id()).await?))
            }
            _ => {
                diesel::update(this).set(app_device_codes::used_at.eq(now)).execute(tx.conn()).await?;
                Ok(Outcome::Refused(Refusal::AccessDenied))
            }
        }
    })?;
    outcome.into_result()
}
