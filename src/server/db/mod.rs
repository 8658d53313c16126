//! The database: one pool over the backend chosen by `DATABASE_URL`, and the single place
//! where backends differ. Every query is written once, inside [`db_run!`]; the one write
//! whose fastest form differs by backend is in `bulk`.

mod bulk;
pub mod cache;
mod epochs;
pub mod events;
pub mod ids;
pub mod models;
mod pool;
pub mod schema;
pub mod sql;
pub mod tx;
mod url;

use std::sync::Arc;

use diesel_async::pooled_connection::deadpool::Object;
use diesel_async::AsyncPgConnection;

use crate::rules::error::{AppError, AppResult};
pub use bulk::insert_objects;
pub use cache::{Epochs, ReadCache, Topic};
pub use ids::{AppId, BranchId, CommitId, GrantId, StreamId, TokenId, UserId};
pub use pool::{no_connection, sqlite_connection, DbPool, Shared, SqliteConn, SqliteReaders};
pub use tx::Tx;
pub use url::DatabaseUrl;

/// Runs one read-only query of the API's hot path: `$method` (`load`, `get_result`) of
/// diesel's `RunQueryDsl` on `$query`. On SQLite it runs on a reader, on the calling thread;
/// on PostgreSQL on a pooled connection. `$query` is compiled once per backend, as in
/// [`db_run!`]. Answers an `AppResult`.
#[macro_export]
macro_rules! db_read {
    ($pool:expr, $method:ident, $query:expr) => {
        match $pool {
            $crate::server::db::DbPool::Sqlite(_, readers, _) => {
                readers.read(|c| diesel::RunQueryDsl::$method($query, c))
            }
            $crate::server::db::DbPool::Postgres(pool, _) => match pool.get().await {
                Ok(mut c) => diesel_async::RunQueryDsl::$method($query, &mut *c)
                    .await
                    .map_err($crate::rules::error::AppError::from),
                Err(error) => Err($crate::server::db::no_connection(error)),
            },
        }
    };
}

/// One pooled connection; give it to the functions of the domain modules.
pub enum DbConn {
    /// With the pool's cache, whose epochs the writes on this connection end, and its clock.
    Sqlite(Object<SqliteConn>, Arc<Shared>),
    Postgres(Object<AsyncPgConnection>, Arc<Shared>),
}

impl DbConn {
    /// Now, in Unix milliseconds, by the pool's clock: the only "now" of the domain.
    pub fn now(&self) -> i64 {
        match self {
            DbConn::Sqlite(_, shared) | DbConn::Postgres(_, shared) => shared.clock.now(),
        }
    }

    /// Call after a write that changes what `topic`'s cached entries hold has committed, and
    /// before answering it (see [`cache`]). On PostgreSQL the epoch is a sequence: if it
    /// cannot be advanced after a few tries (with a short wait between), this server's own
    /// entries are dropped and the write is answered 503 rather than success: it is done, but
    /// the other servers may serve what it changed until their entries expire by age
    /// ([`cache::MAX_AGE`]), so the client must not take it as settled (retrying a
    /// revocation is harmless).
    pub async fn end_epoch(&mut self, topic: Topic) -> AppResult<()> {
        match self {
            DbConn::Sqlite(_, shared) => {
                shared.cache.end_shared_epoch(topic);
                Ok(())
            }
            DbConn::Postgres(conn, shared) => {
                let next = match topic {
                    Topic::Tokens => "nextval('cache_epoch_tokens')",
                    Topic::Streams => "nextval('cache_epoch_streams')",
                };
                let mut failure = None;
                for attempt in 0..EPOCH_TRIES {
                    if attempt > 0 {
                        tokio::time::sleep(std::time::Duration::from_millis(50 << attempt)).await;
                    }
                    let ended = diesel_async::RunQueryDsl::execute(
                        diesel::select(diesel::dsl::sql::<diesel::sql_types::BigInt>(next)),
                        &mut **conn,
                    )
                    .await;
                    match ended {
                        Ok(_) => return Ok(()),
                        Err(error) => failure = Some(error),
                    }
                }
                if let Some(error) = failure {
                    tracing::error!(%error, ?topic, "could not end a cache epoch; dropping this server's cache");
                }
                shared.cache.clear();
                Err(AppError::Unavailable)
            }
        }
    }
}

impl DbConn {
    /// Delivers a committed transaction's events to this server's listeners, on SQLite; on
    /// PostgreSQL they were notified in the transaction, and this server's listening
    /// connection hears them as every other server's does.
    pub fn delivered_at_commit(&self, events: Vec<events::Event>) {
        if let DbConn::Sqlite(_, shared) = self {
            shared.events.deliver(events);
        }
    }

    /// Ends the epoch of each topic a transaction changed ([`db_tx!`]).
    pub async fn end_epochs(&mut self, changed: tx::Changed) -> AppResult<()> {
        let mut outcome = Ok(());
        for (topic, did) in [(Topic::Tokens, changed.tokens), (Topic::Streams, changed.streams)] {
            if did {
                outcome = outcome.and(self.end_epoch(topic).await);
            }
        }
        outcome
    }
}

/// How often ending an epoch is tried before the write is answered as not done.
const EPOCH_TRIES: usize = 3;

/// PostgreSQL's cache epochs, read like tables (see `migrations/postgres/*_cache_epochs`).
mod epoch_sequences {
    diesel::table! {
        cache_epoch_tokens (last_value) {
            last_value -> BigInt,
        }
    }
    diesel::table! {
        cache_epoch_streams (last_value) {
            last_value -> BigInt,
        }
    }
}

/// Runs `$body` with `$conn` bound to the backend's own async connection. The body is
/// compiled once per backend, so each query is written once and type-checked for all.
/// This is the only place where the code matches on the backend.
#[macro_export]
macro_rules! db_run {
    ($db:expr, |$conn:ident| $body:expr) => {
        match $db {
            $crate::server::db::DbConn::Sqlite(pooled, _) => {
                let $conn = &mut **pooled;
                $body
            }
            $crate::server::db::DbConn::Postgres(pooled, _) => {
                let $conn = &mut **pooled;
                $body
            }
        }
    };
}

/// Runs a write as [`db_run!`] does, then ends the epoch of `$topic` (see [`cache`]) before
/// the caller can answer: every write that changes what the read cache holds (a token, a
/// user's row, a stream or who is on it) goes through here, so none can forget it. The epoch
/// ends whatever the write's outcome: a needless end costs a cache miss, a missing one a
/// stale answer.
#[macro_export]
macro_rules! db_write {
    ($db:expr, $topic:expr, |$conn:ident| $body:expr) => {{
        let db: &mut $crate::server::db::DbConn = $db;
        let result = $crate::db_run!(&mut *db, |$conn| $body).map_err($crate::rules::error::AppError::from);
        match db.end_epoch($topic).await {
            Ok(()) => result,
            Err(error) => result.and(Err(error)),
        }
    }};
}

/// A day in milliseconds.
pub use crate::rules::limits::DAY_MS;

/// A new random id (16 hex characters, 64 bits from the OS RNG).
pub fn new_id() -> String {
    use rand::RngCore;
    let mut bytes = [0u8; 8];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    hex::encode(bytes)
}

impl From<diesel::result::Error> for AppError {
    /// Lost connections and lock time-outs are "retry later" (503); the rest is our fault.
    fn from(error: diesel::result::Error) -> Self {
        use diesel::result::{DatabaseErrorKind, Error};
        let unavailable = match &error {
            Error::DatabaseError(
                DatabaseErrorKind::ClosedConnection
                | DatabaseErrorKind::UnableToSendCommand
                | DatabaseErrorKind::SerializationFailure,
                _,
            )
            | Error::BrokenTransactionManager => true,
            Error::DatabaseError(_, info) => info.message().contains("database is locked"),
            _ => false,
        };
        if unavailable {
            tracing::warn!(%error, "database unavailable");
            return AppError::Unavailable;
        }
        tracing::error!(%error, "database error");
        AppError::Internal
    }
}

/// A stored time as an ISO 8601 / RFC 3339 string in UTC, as the API answers it.
pub fn iso8601(millis: i64) -> String {
    time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(millis) * 1_000_000)
        .ok()
        .and_then(|t| t.format(&time::format_description::well_known::Rfc3339).ok())
        .unwrap_or_default()
}
