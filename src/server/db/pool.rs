//! The pool of connections to the backend chosen at start, the migrations run then, and the
//! read-only SQLite connections of the API's hot path.

use std::sync::{Arc, Mutex, TryLockError};
use std::time::Duration;

use deadpool::Runtime;
use diesel::{Connection, SqliteConnection};
use diesel_async::async_connection_wrapper::AsyncConnectionWrapper;
use diesel_async::pooled_connection::deadpool::{Pool, PoolError};
use diesel_async::pooled_connection::{AsyncDieselConnectionManager, ManagerConfig, RecyclingMethod};
use diesel_async::sync_connection_wrapper::SyncConnectionWrapper;
use diesel_async::{AsyncConnection, AsyncPgConnection, SimpleAsyncConnection};
use diesel_migrations::{embed_migrations, EmbeddedMigrations, MigrationHarness};

use super::cache::{self, Epochs, ReadCache};
use super::epochs::EpochReads;
use super::{epoch_sequences, DatabaseUrl, DbConn};
use crate::db_read;
use crate::rules::error::{AppError, AppResult};
use crate::server::clock::Clock;

/// One folder per backend, kept in step (a test compares the migrated schemas).
const SQLITE_MIGRATIONS: EmbeddedMigrations = embed_migrations!("migrations/sqlite");
const POSTGRES_MIGRATIONS: EmbeddedMigrations = embed_migrations!("migrations/postgres");

/// SQLite as diesel-async drives it: the synchronous connection on a blocking thread.
pub type SqliteConn = SyncConnectionWrapper<SqliteConnection>;

/// Run on every new SQLite connection: concurrent readers beside one writer (WAL), waits
/// instead of "database is locked" errors, and foreign keys that hold.
const SQLITE_PRAGMAS: &str = "PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL; \
     PRAGMA busy_timeout = 5000; PRAGMA foreign_keys = ON;";

/// How long a request waits for a connection (or for a new one to open) before it is
/// answered 503: a down database must never hang a request.
const POOL_TIMEOUT: Duration = Duration::from_secs(3);

/// Read-only connections also set these: a reader never writes, and in WAL mode it never
/// waits for a writer; it waits briefly only in rare cases (WAL recovery), then is a 503.
const SQLITE_READER_PRAGMAS: &str = "PRAGMA query_only = ON; PRAGMA busy_timeout = 1000;";

/// A pool of connections to one database.
#[derive(Clone)]
pub enum DbPool {
    /// Writes and most reads go through the pool (each query on a blocking thread); the
    /// reads of every API request go through the cache, then `readers` on the calling thread.
    Sqlite(Pool<SqliteConn>, Arc<SqliteReaders>, Arc<Shared>),
    Postgres(Pool<AsyncPgConnection>, Arc<Shared>),
}

/// What the pool and each of its connections carry: the read cache and the clock.
pub struct Shared {
    pub cache: ReadCache,
    pub clock: Clock,
    /// This server's listeners of what changed (live updates).
    pub events: super::events::EventBus,
    /// PostgreSQL's epochs, read once for many requests ([`super::epochs`]).
    pub epoch_reads: Arc<EpochReads>,
}

impl Shared {
    fn new(cache: ReadCache, clock: Clock) -> Shared {
        Shared { cache, clock, events: Default::default(), epoch_reads: Default::default() }
    }
}

/// Synchronous read-only SQLite connections for the API's hot path (the token lookup and the
/// stream count) and for downloads: an indexed read from the page cache takes a few
/// microseconds, less than the hop to a blocking thread and back that the pool needs, so it
/// runs on the async worker itself. There are more connections than workers, so a reader is
/// almost never waited for.
pub struct SqliteReaders {
    connections: Box<[Mutex<SqliteConnection>]>,
}

impl SqliteReaders {
    fn open(path: &str) -> Result<SqliteReaders, String> {
        let workers = std::thread::available_parallelism().map_or(2, usize::from);
        let connections = (0..(2 * workers).max(4))
            .map(|_| Ok(Mutex::new(open_sqlite(path, &[SQLITE_PRAGMAS, SQLITE_READER_PRAGMAS])?)))
            .collect::<Result<Vec<_>, String>>()?;
        Ok(SqliteReaders { connections: connections.into_boxed_slice() })
    }

    /// Runs one read on the first free connection (waiting for one only if all are busy).
    /// The first ones do most reads and so keep the pages they read in their caches: taking
    /// turns instead left every cache cold (downloads ran 1.6 times slower).
    pub fn read<T>(
        &self,
        query: impl FnOnce(&mut SqliteConnection) -> diesel::QueryResult<T>,
    ) -> AppResult<T> {
        for connection in &self.connections {
            match connection.try_lock() {
                Ok(mut conn) => return Ok(query(&mut conn)?),
                // A panic mid-read leaves nothing half done: statements reset when dropped.
                Err(TryLockError::Poisoned(poisoned)) => return Ok(query(&mut poisoned.into_inner())?),
                Err(TryLockError::WouldBlock) => {}
            }
        }
        let mut conn = self.connections[0].lock().unwrap_or_else(|p| p.into_inner());
        Ok(query(&mut conn)?)
    }
}

impl DbPool {
    /// Creates the database file if needed, runs the embedded migrations, opens the pool,
    /// with a read cache of the default size.
    pub async fn connect(url: &DatabaseUrl) -> Result<DbPool, String> {
        DbPool::connect_with_cache(url, cache::DEFAULT_ENTRIES).await
    }

    /// As [`DbPool::connect`], keeping at most `cache_entries` entries per map of the read
    /// cache (0: read the database on every request).
    pub async fn connect_with_cache(url: &DatabaseUrl, cache_entries: usize) -> Result<DbPool, String> {
        DbPool::connect_with(url, cache_entries, Clock::system()).await
    }

    /// As [`DbPool::connect_with_cache`], reading time from `clock` (tests move it).
    pub async fn connect_with(
        url: &DatabaseUrl,
        cache_entries: usize,
        clock: Clock,
    ) -> Result<DbPool, String> {
        match url {
            DatabaseUrl::Sqlite(path) => {
                if let Some(dir) = std::path::Path::new(path).parent() {
                    if !dir.as_os_str().is_empty() {
                        std::fs::create_dir_all(dir)
                            .map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
                    }
                }
                let migrate_path = path.clone();
                tokio::task::spawn_blocking(move || migrate_sqlite(&migrate_path))
                    .await
                    .map_err(|e| e.to_string())??;

                let mut config = ManagerConfig::default();
                // A local file does not drop connections: skip the `SELECT 1` that the
                // default check runs (through a blocking thread) on every checkout.
                config.recycling_method = RecyclingMethod::Fast;
                config.custom_setup = Box::new(|url| {
                    Box::pin(async move {
                        let mut conn = SqliteConn::establish(url).await?;
                        conn.batch_execute(SQLITE_PRAGMAS)
                            .await
                            .map_err(diesel::ConnectionError::CouldntSetupConfiguration)?;
                        Ok(conn)
                    })
                });
                let manager = AsyncDieselConnectionManager::<SqliteConn>::new_with_config(path, config);
                let pool = Pool::builder(manager)
                    .max_size(8)
                    .runtime(Runtime::Tokio1)
                    .wait_timeout(Some(POOL_TIMEOUT))
                    .create_timeout(Some(POOL_TIMEOUT))
                    .build()
                    .map_err(|e| e.to_string())?;
                let readers = SqliteReaders::open(path)?;
                let cache = ReadCache::beside_sqlite_file(path, cache_entries)?;
                Ok(DbPool::Sqlite(pool, Arc::new(readers), Arc::new(Shared::new(cache, clock))))
            }
            DatabaseUrl::Postgres(url) => {
                let migrate_url = url.clone();
                tokio::task::spawn_blocking(move || migrate_postgres(&migrate_url))
                    .await
                    .map_err(|e| e.to_string())??;
                // No `SELECT 1` round trip per checkout either: a connection whose socket
                // closed (a restarted server) is found broken when returned and dropped, so at
                // most one query fails on it (503) before the pool reconnects.
                let mut config = ManagerConfig::default();
                config.recycling_method = RecyclingMethod::Fast;
                let manager = AsyncDieselConnectionManager::<AsyncPgConnection>::new_with_config(url, config);
                let cache = ReadCache::with_epochs_in_database(cache_entries);
                let pool = Pool::builder(manager)
                    .max_size(16)
                    .runtime(Runtime::Tokio1)
                    .wait_timeout(Some(POOL_TIMEOUT))
                    .create_timeout(Some(POOL_TIMEOUT))
                    .recycle_timeout(Some(POOL_TIMEOUT))
                    .build()
                    .map_err(|e| e.to_string())?;
                let shared = Arc::new(Shared::new(cache, clock));
                super::events::EventBus::listen_postgres(Arc::downgrade(&shared), url.clone()).await;
                Ok(DbPool::Postgres(pool, shared))
            }
        }
    }

    /// The in-memory cache of the API's hot path.
    pub fn cache(&self) -> &ReadCache {
        match self {
            DbPool::Sqlite(_, _, shared) | DbPool::Postgres(_, shared) => &shared.cache,
        }
    }

    /// Now, in Unix milliseconds, by this pool's clock.
    pub fn now(&self) -> i64 {
        self.clock().now()
    }

    /// What changed, as this server hears it (see [`super::events`]).
    pub fn events(&self) -> &super::events::EventBus {
        match self {
            DbPool::Sqlite(_, _, shared) | DbPool::Postgres(_, shared) => &shared.events,
        }
    }

    /// The clock every connection of this pool reads.
    pub fn clock(&self) -> &Clock {
        match self {
            DbPool::Sqlite(_, _, shared) | DbPool::Postgres(_, shared) => &shared.clock,
        }
    }

    /// The cache's epochs as of now (read after this call began): once when an API request
    /// starts (see [`cache`]). On PostgreSQL one read serves every request that arrived
    /// while the previous read was in flight ([`super::epochs`]).
    pub async fn epochs(&self) -> AppResult<Epochs> {
        match self {
            DbPool::Sqlite(_, _, shared) => shared.cache.shared_epochs().ok_or(AppError::Internal),
            DbPool::Postgres(_, shared) => {
                let db = self.clone();
                shared.epoch_reads.after_now(move || read_sequences(db.clone())).await
            }
        }
    }

    /// The database's reads run in this process (SQLite, on the calling thread), not in the
    /// database's own (PostgreSQL).
    pub fn reads_in_process(&self) -> bool {
        matches!(self, DbPool::Sqlite(..))
    }

    /// Takes a connection from the pool; `Unavailable` if none can be had in time.
    pub async fn get(&self) -> Result<DbConn, AppError> {
        let conn = match self {
            DbPool::Sqlite(pool, _, shared) => pool.get().await.map(|c| DbConn::Sqlite(c, shared.clone())),
            DbPool::Postgres(pool, shared) => pool.get().await.map(|c| DbConn::Postgres(c, shared.clone())),
        };
        conn.map_err(no_connection)
    }
}

/// PostgreSQL's epochs: the sequences' last values, in one round trip.
async fn read_sequences(db: DbPool) -> AppResult<Epochs> {
    use diesel::prelude::*;
    use epoch_sequences::{cache_epoch_streams as streams, cache_epoch_tokens as tokens};
    let query = diesel::select((
        tokens::table.select(tokens::last_value).single_value(),
        streams::table.select(streams::last_value).single_value(),
    ));
    let (tokens, streams): (Option<i64>, Option<i64>) = db_read!(&db, get_result, query)?;
    Ok(Epochs { tokens: tokens.unwrap_or_default() as u64, streams: streams.unwrap_or_default() as u64 })
}

/// A pool that cannot hand out a connection in time: the database is unavailable (503).
pub fn no_connection(error: PoolError) -> AppError {
    tracing::warn!(%error, "no database connection");
    AppError::Unavailable
}

/// The advisory lock that servers starting at once on one database take in turn, so that
/// one runs the migrations and the others then find nothing to do (without it, two servers
/// creating the same tables at once: one fails with a duplicate key).
const MIGRATIONS_LOCK: i64 = 0x5e7c_1e70_6e25;

fn migrate_postgres(url: &str) -> Result<(), String> {
    let mut conn = <AsyncConnectionWrapper<AsyncPgConnection> as Connection>::establish(url)
        .map_err(|e| format!("cannot connect to PostgreSQL: {e}"))?;
    // Held by this session until it ends: a server that fails mid-way leaves no lock behind.
    let lock = |conn: &mut AsyncConnectionWrapper<AsyncPgConnection>, function: &str| {
        diesel::connection::SimpleConnection::batch_execute(
            conn,
            &format!("SELECT {function}({MIGRATIONS_LOCK})"),
        )
        .map_err(|e| e.to_string())
    };
    lock(&mut conn, "pg_advisory_lock")?;
    conn.run_pending_migrations(POSTGRES_MIGRATIONS).map_err(|e| e.to_string())?;
    lock(&mut conn, "pg_advisory_unlock")?;
    Ok(())
}

fn migrate_sqlite(path: &str) -> Result<(), String> {
    let mut conn = open_sqlite(path, &[SQLITE_PRAGMAS])?;
    conn.run_pending_migrations(SQLITE_MIGRATIONS).map_err(|e| e.to_string())?;
    Ok(())
}

/// A synchronous connection to the SQLite file at `path` set up as the server's are: for
/// tools beside the server (the bench's baseline).
pub fn sqlite_connection(path: &str) -> Result<SqliteConnection, String> {
    open_sqlite(path, &[SQLITE_PRAGMAS])
}

/// A synchronous connection to the SQLite file at `path`, with `pragmas` run on it.
fn open_sqlite(path: &str, pragmas: &[&str]) -> Result<SqliteConnection, String> {
    let mut conn = SqliteConnection::establish(path).map_err(|e| format!("{path}: {e}"))?;
    for batch in pragmas {
        diesel::connection::SimpleConnection::batch_execute(&mut conn, batch).map_err(|e| e.to_string())?;
    }
    Ok(conn)
}
