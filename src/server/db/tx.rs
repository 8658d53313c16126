//! A write's transaction, [`Tx`]: the one way the domain writes more than one row. Its steps
//! (lock a user or a stream, count what is held, record events, revoke a tree…) are methods,
//! each written once for both backends ([`tx_steps!`]); a step that changes what the read
//! cache holds marks its [`Topic`], and [`db_tx!`] ends the epoch of every marked topic after
//! the commit, before the caller can answer. So a step cannot forget the cache, and a
//! transaction cannot end the wrong epoch.

use super::cache::Topic;
use super::events::Event;

/// One transaction on the backend's connection `C`, at one moment (`now`, read once from the
/// pool's clock when it began).
pub struct Tx<'c, C> {
    c: &'c mut C,
    pub now: i64,
    changed: Changed,
    events: Vec<Event>,
}

/// The cached topics a transaction changed.
#[derive(Clone, Copy, Debug, Default)]
pub struct Changed {
    pub tokens: bool,
    pub streams: bool,
}

impl<'c, C> Tx<'c, C> {
    /// Begins the steps of a transaction [`db_tx!`] opened.
    #[doc(hidden)]
    pub fn begin(c: &'c mut C, now: i64) -> Tx<'c, C> {
        Tx { c, now, changed: Changed::default(), events: Vec::new() }
    }

    /// Tells every listener of `event` once the transaction has committed (see
    /// [`super::events`]).
    pub fn publish(&mut self, event: Event) {
        self.events.push(event);
    }

    /// The events published, for [`db_tx!`] to deliver after the commit.
    #[doc(hidden)]
    pub fn take_events(&mut self) -> Vec<Event> {
        std::mem::take(&mut self.events)
    }

    /// What the transaction changed, for [`db_tx!`] to end after the commit.
    #[doc(hidden)]
    pub fn changed(&self) -> Changed {
        self.changed
    }

    /// The connection, for reads and for writes of what no cache holds (events, new rows
    /// nobody has looked up yet).
    pub fn conn(&mut self) -> &mut C {
        self.c
    }

    /// The connection, for a write that changes what `topic`'s cached entries hold: the
    /// topic's epoch ends when the transaction commits.
    pub fn changing(&mut self, topic: Topic) -> &mut C {
        match topic {
            Topic::Tokens => self.changed.tokens = true,
            Topic::Streams => self.changed.streams = true,
        }
        self.c
    }
}

/// Runs `$body` (a block answering an `AppResult`) as one transaction on `$db` (a `&mut
/// DbConn`), with `$tx` its [`Tx`]; `return` and `?` in the body roll it back. Then the epoch
/// of each topic the body changed ends (see [`super::cache`]), whatever the outcome (a
/// needless end costs a cache miss; a commit whose answer was lost may have happened): a
/// write that could not end an epoch is answered as not done (503). The events the body
/// published reach their listeners at the commit (see [`super::events`]).
#[macro_export]
macro_rules! db_tx {
    ($db:expr, |$tx:ident| $body:block) => {{
        let db: &mut $crate::server::db::DbConn = $db;
        let now = db.now();
        let mut changed = $crate::server::db::tx::Changed::default();
        let mut events = Vec::new();
        let outcome = $crate::db_run!(&mut *db, |c| {
            diesel_async::AsyncConnection::transaction::<_, $crate::rules::error::AppError, _>(c, |c| {
                diesel_async::scoped_futures::ScopedFutureExt::scope_boxed(async {
                    #[allow(unused_mut)]
                    let mut $tx = $crate::server::db::Tx::begin(c, now);
                    let value = $crate::server::db::tx::step(async { $body }).await;
                    changed = $tx.changed();
                    let value = match value {
                        Ok(value) => $tx.notify().await.map(|()| value),
                        Err(error) => Err(error),
                    };
                    events = $tx.take_events();
                    value
                })
            })
            .await
        });
        if outcome.is_ok() {
            db.delivered_at_commit(events);
        }
        let ended = db.end_epochs(changed).await;
        outcome.and_then(|value| ended.map(|()| value))
    }};
}

/// Types a transaction's body: an `AppResult` (so `?` converts diesel's errors).
#[doc(hidden)]
pub async fn step<T>(
    body: impl std::future::Future<Output = crate::rules::error::AppResult<T>>,
) -> crate::rules::error::AppResult<T> {
    body.await
}

/// Writes steps of [`Tx`] once for both backends: `tx_steps! { pub async fn …(&mut self, …)
/// … }` defines each method for SQLite's connection and for PostgreSQL's.
#[macro_export]
macro_rules! tx_steps {
    ($($step:tt)*) => {
        impl $crate::server::db::Tx<'_, $crate::server::db::SqliteConn> {
            $($step)*
        }
        impl $crate::server::db::Tx<'_, diesel_async::AsyncPgConnection> {
            $($step)*
        }
    };
}

impl Tx<'_, super::SqliteConn> {
    /// SQLite: nothing before the commit; [`super::DbConn::delivered_at_commit`] delivers.
    #[doc(hidden)]
    pub async fn notify(&mut self) -> crate::rules::error::AppResult<()> {
        Ok(())
    }
}

impl Tx<'_, diesel_async::AsyncPgConnection> {
    /// PostgreSQL: one `NOTIFY` per event, inside the transaction, so that it is sent at the
    /// commit and never for a rollback.
    #[doc(hidden)]
    pub async fn notify(&mut self) -> crate::rules::error::AppResult<()> {
        use diesel_async::RunQueryDsl;
        for payload in super::events::payloads(&self.events) {
            diesel::sql_query("SELECT pg_notify($1, $2)")
                .bind::<diesel::sql_types::Text, _>(super::events::CHANNEL)
                .bind::<diesel::sql_types::Text, _>(payload)
                .execute(self.c)
                .await?;
        }
        Ok(())
    }
}
