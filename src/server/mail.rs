//! Mail: the SMTP client, and the outbox every message goes through (SPEC §8, §9).
//!
//! A message is a row of `mail_outbox`, queued by the domain in the transaction that decides
//! it (an expiry warning, a leak alert). A server claims a message (a conditional `UPDATE` of
//! `attempts` and `claimed_until`) before sending it, retries with backoff when the SMTP
//! server fails, and marks it sent: several servers on one database send it once. No
//! connection is held while the SMTP server is spoken to.

use std::time::Duration;

use diesel::prelude::*;
use diesel_async::RunQueryDsl;
use lettre::message::Mailbox;
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};

use crate::db_run;
use crate::rules::error::AppResult;
use crate::server::db::schema::{mail_outbox, users};
use crate::server::db::DbPool;

/// A message is tried this many times, then given up (and logged).
const MAX_ATTEMPTS: i64 = 8;
/// A server that claimed a message has this long to send it before another may.
const CLAIM_MS: i64 = 120_000;
/// Messages sent per pass.
const SEND_BATCH: i64 = 50;

/// Where mail goes out: `SMTP_URL` (`smtp://host:port`, `smtps://…`, with `?tls=required`
/// for STARTTLS; credentials in the URL) and `MAIL_FROM`.
#[derive(Clone)]
pub struct Mailer {
    transport: AsyncSmtpTransport<Tokio1Executor>,
    from: Mailbox,
    /// The address of the profile page in messages (`PUBLIC_URL`), if known.
    public_url: Option<String>,
    /// The one task that sends mail now rather than at the next pass (see [`Mailer::send_soon`]).
    soon: std::sync::Arc<Soon>,
}

/// Whether a send-now task runs, and whether more mail was queued since it last looked.
#[derive(Default)]
struct Soon {
    running: std::sync::atomic::AtomicBool,
    again: std::sync::atomic::AtomicBool,
}

impl std::fmt::Debug for Mailer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The URL may hold SMTP credentials: never printed.
        f.debug_struct("Mailer").field("from", &self.from.to_string()).finish_non_exhaustive()
    }
}

impl Mailer {
    pub fn new(smtp_url: &str, from: &str, public_url: Option<String>) -> Result<Mailer, String> {
        let transport = AsyncSmtpTransport::<Tokio1Executor>::from_url(smtp_url)
            .map_err(|error| format!("SMTP_URL: {error}"))?
            .timeout(Some(Duration::from_secs(20)))
            .build();
        let from = from.parse().map_err(|error| format!("MAIL_FROM: {error}"))?;
        let public_url = public_url.map(|url| url.trim_end_matches('/').to_owned());
        Ok(Mailer { transport, from, public_url, soon: Default::default() })
    }

    /// Sends what is due now, on one task at a time per server: a flood of leak reports
    /// queues messages, not tasks (each would hold a connection while it talks to SMTP).
    pub fn send_soon(&self, db: &DbPool) {
        use std::sync::atomic::{AtomicBool, Ordering::SeqCst};
        self.soon.again.store(true, SeqCst);
        if self.soon.running.swap(true, SeqCst) {
            return; // the running task looks again before it stops
        }
        let (mailer, db) = (self.clone(), db.clone());
        tokio::spawn(async move {
            loop {
                while mailer.soon.again.swap(false, SeqCst) {
                    if let Err(error) = send_due(&db, &mailer, db.now()).await {
                        tracing::warn!(%error, "could not send mail now; the next pass will");
                    }
                }
                mailer.soon.running.store(false, SeqCst);
                // Mail queued after the last look and before `running` was cleared would
                // otherwise wait for the next pass.
                if !AtomicBool::load(&mailer.soon.again, SeqCst) || mailer.soon.running.swap(true, SeqCst) {
                    return;
                }
            }
        });
    }

    /// The address of the site in messages (`PUBLIC_URL`), if known.
    pub fn public_url(&self) -> Option<&str> {
        self.public_url.as_deref()
    }

    async fn send(&self, to: &str, subject: &str, body: &str) -> Result<(), String> {
        let to: Mailbox = to.parse().map_err(|error| format!("recipient: {error}"))?;
        let message = Message::builder()
            .from(self.from.clone())
            .to(to)
            .subject(subject)
            .header(lettre::message::header::ContentType::TEXT_PLAIN)
            .body(body.to_owned())
            .map_err(|error| error.to_string())?;
        self.transport.send(message).await.map(|_| ()).map_err(|error| error.to_string())
    }
}

/// Sends the messages that are due, each claimed by one server first. Answers how many went.
/// A connection is taken for each query and given back before the SMTP server is spoken to,
/// so a slow mail server never holds one of the pool's.
pub async fn send_due(db: &DbPool, mailer: &Mailer, now: i64) -> AppResult<usize> {
    type Due = (String, String, String, i64, String, Option<String>);
    let due: Vec<Due> = db_run!(&mut db.get().await?, |c| {
        mail_outbox::table
            .inner_join(users::table)
            .filter(mail_outbox::sent_at.is_null())
            .filter(mail_outbox::next_attempt_at.le(now))
            .filter(mail_outbox::attempts.lt(MAX_ATTEMPTS))
            .filter(mail_outbox::claimed_until.is_null().or(mail_outbox::claimed_until.lt(now)))
            .order(mail_outbox::next_attempt_at)
            .select((
                mail_outbox::id,
                mail_outbox::subject,
                mail_outbox::body,
                mail_outbox::attempts,
                users::email,
                mail_outbox::recipient,
            ))
            .limit(SEND_BATCH)
            .load(c)
            .await
    })?;
    let mut sent = 0;
    for (id, subject, body, attempts, user_email, recipient) in due {
        // A message to an address (an invitation) carries a secret: forgotten once sent.
        let forget_body = recipient.is_some();
        let to = recipient.unwrap_or(user_email);
        let claimed = db_run!(&mut db.get().await?, |c| {
            diesel::update(
                mail_outbox::table
                    .find(&id)
                    .filter(mail_outbox::sent_at.is_null())
                    .filter(mail_outbox::attempts.eq(attempts))
                    .filter(mail_outbox::claimed_until.is_null().or(mail_outbox::claimed_until.lt(now))),
            )
            .set((mail_outbox::claimed_until.eq(now + CLAIM_MS), mail_outbox::attempts.eq(attempts + 1)))
            .execute(c)
            .await
        })?;
        if claimed == 0 {
            continue; // another server has it
        }
        let outcome = mailer.send(&to, &subject, &body).await;
        let mut conn = db.get().await?;
        let sent_at = conn.now().max(now);
        match outcome {
            Ok(()) => {
                db_run!(&mut conn, |c| {
                    let sent = mail_outbox::table.find(&id);
                    let done = (mail_outbox::sent_at.eq(sent_at), mail_outbox::claimed_until.eq(None::<i64>));
                    if forget_body {
                        diesel::update(sent).set((done, mail_outbox::body.eq(""))).execute(c).await
                    } else {
                        diesel::update(sent).set(done).execute(c).await
                    }
                })?;
                sent += 1;
            }
            Err(error) => {
                let tried = attempts + 1;
                if tried >= MAX_ATTEMPTS {
                    tracing::error!(mail_id = %id, %error, "giving up on a message after {tried} attempts");
                } else {
                    tracing::warn!(mail_id = %id, %error, "a message could not be sent; retrying later");
                }
                let wait = backoff_ms(tried);
                db_run!(&mut conn, |c| {
                    diesel::update(mail_outbox::table.find(&id))
                        .set((
                            mail_outbox::next_attempt_at.eq(now + wait),
                            mail_outbox::claimed_until.eq(None::<i64>),
                        ))
                        .execute(c)
                        .await
                })?;
            }
        }
    }
    Ok(sent)
}

/// The wait before try `tried + 1`: 30 s, doubling, at most an hour.
pub fn backoff_ms(tried: i64) -> i64 {
    (30_000_i64 << tried.clamp(0, 7)).min(3_600_000)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retries_back_off_to_an_hour() {
        assert_eq!(backoff_ms(0), 30_000);
        assert_eq!(backoff_ms(1), 60_000);
        assert_eq!(backoff_ms(10), 3_600_000);
    }
}
