//! What happens to tokens while nobody asks (SPEC §8): expiries and ended grace periods are
//! recorded in the activity, and apps' grants unused for 90 days end (SPEC §11). With SMTP
//! configured, owners are warned by email 7 days and 1 day before a token expires and on the
//! day it does, and told when they authorized an app.
//!
//! Mail goes through the outbox ([`crate::server::mail`]), so that several servers on one
//! database and restarts never send a notice twice: each (token, stage) notice is recorded
//! once (primary key), together with the one message of the day that carries it (`once_key`
//! `expiry:<user>:<day>`), in one transaction. Nothing here runs on a request.

use std::time::Duration;

use diesel::prelude::*;
use diesel_async::RunQueryDsl;

use crate::rules::error::{AppError, AppResult};
use crate::rules::limits::EXPIRES_SOON_MS;
use crate::server::db::schema::{api_tokens, expiry_notices, mail_outbox, security_events};
use crate::server::db::{models, DbConn, DbPool, TokenId, UserId, DAY_MS};
use crate::server::domain::activity::{event, EventKind, Seen};
use crate::server::mail::{send_due, Mailer};
use crate::{db_run, db_tx};

/// Rows looked at per query, so one query stays short. Warnings page through the whole
/// window a batch at a time; a batch holds every due token of at least one user (a user holds
/// at most [`crate::rules::limits::MAX_LIVE_TOKENS`]).
const BATCH: i64 = 1000;

/// Runs [`tick`] every `every`, for as long as the server runs.
pub fn spawn(db: DbPool, mailer: Option<Mailer>, every: Duration) {
    tokio::spawn(async move {
        let mut interval = tokio::time::interval(every);
        interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            interval.tick().await;
            if let Err(error) = tick(&db, mailer.as_ref(), db.now()).await {
                tracing::warn!(%error, "token lifecycle pass failed; retrying at the next");
            }
        }
    });
}

/// What one pass did.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Pass {
    pub expiries_recorded: usize,
    pub graces_ended: usize,
    pub grants_expired: usize,
    pub messages_queued: usize,
    pub messages_sent: usize,
}

/// One pass at time `now`: records expiries and ended grace periods, ends unused grants; with a mailer, queues
/// the day's warnings and sends what is due.
/// Each step takes a connection for its queries only: none is held while mail is sent.
pub async fn tick(db: &DbPool, mailer: Option<&Mailer>, now: i64) -> AppResult<Pass> {
    let mut pass = Pass {
        expiries_recorded: record_expiries(&mut db.get().await?, now).await?,
        graces_ended: end_graces(&mut db.get().await?, now).await?,
        grants_expired: crate::server::domain::apps::expire_unused(&mut db.get().await?, now, BATCH).await?,
        ..Pass::default()
    };
    if let Some(mailer) = mailer {
        pass.messages_queued = queue_warnings(&mut db.get().await?, mailer, now).await?
            + queue_app_notices(&mut db.get().await?, mailer, now).await?;
        pass.messages_sent = send_due(db, mailer, now).await?;
    }
    Ok(pass)
}

/// A message to the person for every app they authorized (or granted more) in the last day
/// that has none yet (SPEC §11): one per event, its `once_key` the event's id, so several
/// servers never send it twice. If they did not do it, the message says what to do.
async fn queue_app_notices(conn: &mut DbConn, mailer: &Mailer, now: i64) -> AppResult<usize> {
    use diesel::sql_types::Text;
    let once_key = "app-authorized:".into_sql::<Text>().concat(security_events::id);
    let recent: Vec<(String, UserId, Option<String>, Option<String>)> = db_run!(conn, |c| {
        security_events::table
            .filter(security_events::kind.eq(EventKind::AppAuthorized.name()))
            .filter(security_events::at.gt(now - DAY_MS))
            .filter(diesel::dsl::not(diesel::dsl::exists(
                mail_outbox::table.filter(mail_outbox::once_key.eq(once_key)),
            )))
            .select((
                security_events::id,
                security_events::user_id,
                security_events::detail,
                security_events::ip,
            ))
            .limit(BATCH)
            .load(c)
            .await
    })?;
    let site = mailer.public_url().map_or_else(String::new, |url| format!(" on {url}"));
    let mails: Vec<models::NewMail> = recent
        .into_iter()
        .map(|(id, user_id, detail, ip)| {
            let app = detail.unwrap_or_default();
            let from = ip.map_or_else(String::new, |ip| format!(" from {ip}"));
            let subject = "An app may now act for you".to_owned();
            let body = format!(
                "Hello,\n\nYou authorized the app {app}{site}{from}: it may now act for you as far as those \
                 scopes allow.\n\nIf this was not you, end its access under Your Apps on your profile, and \
                 change your password.\n"
            );
            models::NewMail::due_at(now, &user_id, format!("app-authorized:{id}"), subject, body)
        })
        .collect();
    let mut queued = 0;
    for mail in &mails {
        queued += db_run!(conn, |c| {
            diesel::insert_into(mail_outbox::table).values(mail).on_conflict_do_nothing().execute(c).await
        })?;
    }
    Ok(queued)
}

/// An "Expired" event for every token that expired unrevoked, once (its `once_key`).
async fn record_expiries(conn: &mut DbConn, now: i64) -> AppResult<usize> {
    let expired: Vec<(TokenId, UserId, i64)> = db_run!(conn, |c| {
        api_tokens::table
            .filter(api_tokens::expires_at.le(now))
            .filter(api_tokens::revoked_at.is_null())
            .filter(api_tokens::grace_until.is_null())
            // An app's access tokens expire every hour by design: not news to anyone.
            .filter(api_tokens::grant_id.is_null())
            .filter(diesel::dsl::not(diesel::dsl::exists(
                security_events::table
                    .filter(security_events::token_id.eq(api_tokens::id.nullable()))
                    .filter(security_events::kind.eq(EventKind::Expired.name())),
            )))
            .select((api_tokens::id, api_tokens::user_id, api_tokens::expires_at.assume_not_null()))
            .limit(BATCH)
            .load(c)
            .await
    })?;
    let events: Vec<models::SecurityEvent> = expired
        .iter()
        .map(|(token_id, user_id, at)| models::SecurityEvent {
            once_key: Some(format!("expired:{token_id}")),
            ..event(user_id, Some(token_id), EventKind::Expired, None, &Seen::default(), *at)
        })
        .collect();
    db_tx!(conn, |tx| { tx.record(&events).await })?;
    Ok(events.len())
}

/// Regenerated tokens whose grace period ended unused are marked revoked (they were already
/// refused by the clock), with the event.
async fn end_graces(conn: &mut DbConn, now: i64) -> AppResult<usize> {
    let ended: Vec<(TokenId, UserId, i64)> = db_run!(conn, |c| {
        api_tokens::table
            .filter(api_tokens::grace_until.le(now))
            .filter(api_tokens::revoked_at.is_null())
            .select((api_tokens::id, api_tokens::user_id, api_tokens::grace_until.assume_not_null()))
            .limit(BATCH)
            .load(c)
            .await
    })?;
    if ended.is_empty() {
        return Ok(0);
    }
    crate::server::domain::tokens::retire_replaced(conn, &ended, "its grace period ended", &Seen::default())
        .await?;
    Ok(ended.len())
}

/// The warnings of SPEC §8, by time left before expiry: 7 days, 1 day, the day itself.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Stage {
    Week,
    Day,
    Expired,
}

impl Stage {
    /// The stage a token is in `left` milliseconds before its expiry (negative: after), if
    /// any: a week ahead, a day ahead, and up to a day after.
    pub fn at(left: i64) -> Option<Stage> {
        match left {
            l if l <= -DAY_MS => None,
            l if l <= 0 => Some(Stage::Expired),
            l if l <= DAY_MS => Some(Stage::Day),
            l if l <= EXPIRES_SOON_MS => Some(Stage::Week),
            _ => None,
        }
    }

    fn name(self) -> &'static str {
        match self {
            Stage::Week => "7d",
            Stage::Day => "1d",
            Stage::Expired => "0d",
        }
    }

    /// The expiries `(from, to]` that are in this stage at `now` (as [`Stage::at`] says).
    fn window(self, now: i64) -> (i64, i64) {
        match self {
            Stage::Expired => (now - DAY_MS, now),
            Stage::Day => (now, now + DAY_MS),
            Stage::Week => (now + DAY_MS, now + EXPIRES_SOON_MS),
        }
    }
}

/// A token due for a warning.
struct Due {
    token_id: TokenId,
    user_id: UserId,
    name: String,
    expires_at: i64,
    stage: Stage,
}

/// Queues, per user with warnings due, the one message of the day that carries them all.
/// Answers how many messages it queued. The window is read a batch of users at a time, and
/// tokens whose notice for their stage is queued already are left out by the query itself,
/// so every user is reached however many tokens are due.
async fn queue_warnings(conn: &mut DbConn, mailer: &Mailer, now: i64) -> AppResult<usize> {
    let day = day_of(now);
    let mut queued = 0;
    let mut after_user = UserId::from(String::new());
    loop {
        let (batch, complete) = due_after(conn, &after_user, now).await?;
        let Some(last) = batch.last() else { return Ok(queued) };
        after_user = last.user_id.clone();
        for user_due in batch.chunk_by(|a, b| a.user_id == b.user_id) {
            if queue_message(conn, mailer, user_due, &day, now).await? {
                queued += 1;
            }
        }
        if complete {
            return Ok(queued);
        }
    }
}

/// The due tokens of the users after `after_user` (by id), a batch at a time, each user's
/// whole; with whether the window ends with this batch.
async fn due_after(conn: &mut DbConn, after_user: &UserId, now: i64) -> AppResult<(Vec<Due>, bool)> {
    let notified = |stage: Stage| {
        diesel::dsl::exists(
            expiry_notices::table
                .filter(expiry_notices::token_id.eq(api_tokens::id))
                .filter(expiry_notices::stage.eq(stage.name())),
        )
    };
    let in_stage = |stage: Stage| {
        let (from, to) = stage.window(now);
        api_tokens::expires_at
            .gt(from)
            .and(api_tokens::expires_at.le(to))
            .and(diesel::dsl::not(notified(stage)))
    };
    let rows: Vec<(TokenId, UserId, String, i64)> = db_run!(conn, |c| {
        api_tokens::table
            .filter(api_tokens::user_id.gt(after_user))
            .filter(api_tokens::expires_at.gt(now - DAY_MS))
            .filter(api_tokens::expires_at.le(now + EXPIRES_SOON_MS))
            .filter(api_tokens::revoked_at.is_null())
            .filter(api_tokens::grace_until.is_null())
            .filter(api_tokens::grant_id.is_null())
            .filter(in_stage(Stage::Expired).or(in_stage(Stage::Day)).or(in_stage(Stage::Week)))
            .order((api_tokens::user_id, api_tokens::expires_at, api_tokens::id))
            .select((
                api_tokens::id,
                api_tokens::user_id,
                api_tokens::name,
                api_tokens::expires_at.assume_not_null(),
            ))
            .limit(BATCH)
            .load(c)
            .await
    })?;
    let complete = (rows.len() as i64) < BATCH;
    let mut due: Vec<Due> = rows
        .into_iter()
        .filter_map(|(token_id, user_id, name, expires_at)| {
            let stage = Stage::at(expires_at - now)?;
            Some(Due { token_id, user_id, name, expires_at, stage })
        })
        .collect();
    if !complete {
        // The last user's tokens may go on in the next batch: that user starts it.
        let last = due.last().map(|d| d.user_id.clone());
        let whole = due.iter().take_while(|d| Some(&d.user_id) != last.as_ref()).count();
        if whole > 0 {
            due.truncate(whole);
        }
    }
    Ok((due, complete))
}

/// Queues one user's message of the day with its notices, in one transaction; answers
/// whether it did (today's message may be queued already, here or by another server).
async fn queue_message(
    conn: &mut DbConn,
    mailer: &Mailer,
    user_due: &[Due],
    day: &str,
    now: i64,
) -> AppResult<bool> {
    let user_id = &user_due[0].user_id;
    let (subject, body) = warning_message(user_due, mailer.public_url(), now);
    let mail = models::NewMail::due_at(now, user_id, format!("expiry:{user_id}:{day}"), subject, body);
    let mail_id = &mail.id;
    let took = db_tx!(conn, |tx| {
        let inserted = diesel::insert_into(mail_outbox::table)
            .values(&mail)
            .on_conflict_do_nothing()
            .execute(tx.conn())
            .await?;
        if inserted == 0 {
            // Today's message to this user is queued (here or by another server):
            // these notices wait for tomorrow's.
            return Ok(false);
        }
        let mut recorded = 0;
        for due in user_due {
            recorded += diesel::insert_into(expiry_notices::table)
                .values((
                    expiry_notices::token_id.eq(&due.token_id),
                    expiry_notices::stage.eq(due.stage.name()),
                    expiry_notices::mail_id.eq(mail_id),
                ))
                .on_conflict_do_nothing()
                .execute(tx.conn())
                .await?;
        }
        if recorded == 0 {
            // Another server sent them all meanwhile: no message (rolled back).
            return Err(AppError::NotFound("notice".to_owned()));
        }
        Ok(true)
    });
    match took {
        Ok(took) => Ok(took),
        // Another server's transaction on the same rows won: its message carries them.
        Err(AppError::NotFound(_) | AppError::Unavailable) => Ok(false),
        Err(error) => Err(error),
    }
}

/// The UTC day of `now`, `YYYY-MM-DD`.
fn day_of(now: i64) -> String {
    crate::server::db::iso8601(now).chars().take(10).collect()
}

/// One message naming every token of one user due for a warning.
fn warning_message(due: &[Due], public_url: Option<&str>, now: i64) -> (String, String) {
    let subject = match due {
        [one] if one.stage == Stage::Expired => format!("Your token “{}” has expired", one.name),
        [one] => format!("Your token “{}” expires soon", one.name),
        many => format!("{} of your tokens expire soon", many.len()),
    };
    let mut body = String::from("Hello,\n\n");
    for token in due {
        let when = crate::server::db::iso8601(token.expires_at);
        let line = match token.stage {
            Stage::Expired => format!("- “{}” expired at {when}: scripts using it now fail.\n", token.name),
            _ => {
                let hours = (token.expires_at - now).max(0) / 3_600_000;
                let left =
                    if hours >= 48 { format!("{} days", hours / 24) } else { format!("{hours} hours") };
                format!("- “{}” expires at {when} (in about {left}).\n", token.name)
            }
        };
        body.push_str(&line);
    }
    let profile =
        public_url.map_or("your profile page (/profile)".to_owned(), |url| format!("{url}/profile"));
    body.push_str(&format!(
        "\nRegenerate a token on {profile}: the new one keeps its name, scopes and description, and the \
         old one keeps working until the new one is first used, so your scripts do not break.\n\n\
         You get at most one such message a day.\n"
    ));
    (subject, body)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stages_follow_the_time_left() {
        assert_eq!(Stage::at(8 * DAY_MS), None);
        assert_eq!(Stage::at(EXPIRES_SOON_MS), Some(Stage::Week));
        assert_eq!(Stage::at(DAY_MS + 1), Some(Stage::Week));
        assert_eq!(Stage::at(DAY_MS), Some(Stage::Day));
        assert_eq!(Stage::at(1), Some(Stage::Day));
        assert_eq!(Stage::at(0), Some(Stage::Expired));
        assert_eq!(Stage::at(-DAY_MS + 1), Some(Stage::Expired));
        assert_eq!(Stage::at(-DAY_MS), None);
    }
}
