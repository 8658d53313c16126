//! Browser sessions, stored in our own database (tower-sessions has no diesel store).
//! Rows are keyed by the SHA-256 of the session id, so a copy of the table opens no session.

use async_trait::async_trait;
use diesel::prelude::*;
use diesel_async::RunQueryDsl;
use sha2::{Digest, Sha256};
use tower_sessions::session::{Id, Record};
use tower_sessions::session_store::{self, ExpiredDeletion};
use tower_sessions::SessionStore;

use crate::db_run;
use crate::rules::error::AppError;
use crate::server::db::schema::sessions;
use crate::server::db::{DbPool, UserId};

/// The session key that holds the signed-in user's id.
pub const USER_ID_KEY: &str = "user_id";

/// A tower-sessions store over our database.
#[derive(Clone)]
pub struct DbSessionStore {
    pool: DbPool,
}

impl DbSessionStore {
    pub fn new(pool: DbPool) -> Self {
        DbSessionStore { pool }
    }
}

impl std::fmt::Debug for DbSessionStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("DbSessionStore")
    }
}

fn row_key(id: &Id) -> String {
    hex::encode(Sha256::digest(id.to_string().as_bytes()))
}

/// What the store says when the database is not answering, so callers can answer 503.
const DATABASE_UNAVAILABLE: &str = "database unavailable";

fn backend(error: impl Into<AppError>) -> session_store::Error {
    match error.into() {
        AppError::Unavailable => session_store::Error::Backend(DATABASE_UNAVAILABLE.to_owned()),
        error => session_store::Error::Backend(error.to_string()),
    }
}

fn encode(error: serde_json::Error) -> session_store::Error {
    session_store::Error::Encode(error.to_string())
}

/// A session failure as the app's error: 503 when the database is down, else internal.
pub fn app_error(error: tower_sessions::session::Error) -> AppError {
    use tower_sessions::session::Error;
    match &error {
        Error::Store(session_store::Error::Backend(message)) if message == DATABASE_UNAVAILABLE => {
            AppError::Unavailable
        }
        _ => {
            tracing::error!(%error, "session store failed");
            AppError::Internal
        }
    }
}

/// The signed-in user of a session, kept beside its data so that their sessions can be found.
fn user_of(record: &Record) -> Option<&str> {
    record.data.get(USER_ID_KEY).and_then(serde_json::Value::as_str)
}

/// Signs `user_id` out everywhere but the session `keep` (after a password change).
pub async fn end_other_sessions(
    pool: &DbPool,
    user_id: &UserId,
    keep: Option<Id>,
) -> Result<usize, AppError> {
    let mut conn = pool.get().await?;
    let keep = keep.map(|id| row_key(&id)).unwrap_or_default();
    Ok(db_run!(&mut conn, |c| {
        diesel::delete(sessions::table.filter(sessions::user_id.eq(user_id)).filter(sessions::id.ne(&keep)))
            .execute(c)
            .await
    })?)
}

fn expiry_millis(record: &Record) -> i64 {
    (record.expiry_date.unix_timestamp_nanos() / 1_000_000) as i64
}

#[async_trait]
impl SessionStore for DbSessionStore {
    async fn create(&self, record: &mut Record) -> session_store::Result<()> {
        let mut conn = self.pool.get().await.map_err(backend)?;
        let data = serde_json::to_string(&record.data).map_err(encode)?;
        let user_id = user_of(record).map(str::to_owned);
        loop {
            let inserted = db_run!(&mut conn, |c| {
                diesel::insert_into(sessions::table)
                    .values((
                        sessions::id.eq(row_key(&record.id)),
                        sessions::data.eq(&data),
                        sessions::expires_at.eq(expiry_millis(record)),
                        sessions::user_id.eq(&user_id),
                    ))
                    .on_conflict_do_nothing()
                    .execute(c)
                    .await
            })
            .map_err(backend)?;
            if inserted == 1 {
                return Ok(());
            }
            // An id collision (2^-128): draw another rather than share a session.
            record.id = Id::default();
        }
    }

    /// Updates a session that exists; never brings back one deleted meanwhile (a request
    /// that loaded it before a sign-out elsewhere must not sign the user in again). New
    /// sessions go through `create`.
    async fn save(&self, record: &Record) -> session_store::Result<()> {
        let mut conn = self.pool.get().await.map_err(backend)?;
        let data = serde_json::to_string(&record.data).map_err(encode)?;
        let expires_at = expiry_millis(record);
        db_run!(&mut conn, |c| {
            diesel::update(sessions::table.find(row_key(&record.id)))
                .set((
                    sessions::data.eq(&data),
                    sessions::expires_at.eq(expires_at),
                    sessions::user_id.eq(user_of(record)),
                ))
                .execute(c)
                .await
        })
        .map_err(backend)?;
        Ok(())
    }

    async fn load(&self, id: &Id) -> session_store::Result<Option<Record>> {
        let mut conn = self.pool.get().await.map_err(backend)?;
        let now = conn.now();
        let row: Option<(String, i64)> = db_run!(&mut conn, |c| {
            sessions::table
                .find(row_key(id))
                .filter(sessions::expires_at.gt(now))
                .select((sessions::data, sessions::expires_at))
                .first(c)
                .await
                .optional()
        })
        .map_err(backend)?;
        let Some((data, expires_at)) = row else { return Ok(None) };
        let data = serde_json::from_str(&data).map_err(|e| session_store::Error::Decode(e.to_string()))?;
        let expiry_date = time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(expires_at) * 1_000_000)
            .map_err(|e| session_store::Error::Decode(e.to_string()))?;
        Ok(Some(Record { id: *id, data, expiry_date }))
    }

    async fn delete(&self, id: &Id) -> session_store::Result<()> {
        let mut conn = self.pool.get().await.map_err(backend)?;
        db_run!(&mut conn, |c| diesel::delete(sessions::table.find(row_key(id))).execute(c).await)
            .map_err(backend)?;
        Ok(())
    }
}

#[async_trait]
impl ExpiredDeletion for DbSessionStore {
    async fn delete_expired(&self) -> session_store::Result<()> {
        let mut conn = self.pool.get().await.map_err(backend)?;
        let now = conn.now();
        db_run!(&mut conn, |c| {
            diesel::delete(sessions::table.filter(sessions::expires_at.le(now))).execute(c).await
        })
        .map_err(backend)?;
        Ok(())
    }
}
