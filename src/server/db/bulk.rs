//! The one write whose fastest form differs by backend: storing a batch of objects.

use diesel::Connection;

use super::schema::objects;
use super::{models, DbConn};
use crate::rules::error::{AppError, AppResult};

/// Rows per statement on PostgreSQL: a few thousand bound values, well under its limit.
const ROWS_PER_STATEMENT: usize = 500;

/// Stores rows of the objects table in one transaction, keeping any row the table already
/// holds (an object's id is a hash of its content). SQLite runs the whole batch on its
/// connection's own thread, one prepared single-row statement per object: compiling a
/// many-row statement costs SQLite more than it saves, and a hop per statement would too.
/// PostgreSQL takes many rows per statement, since each statement is a round trip.
pub async fn insert_objects(conn: &mut DbConn, rows: Vec<models::NewObject>) -> AppResult<()> {
    match conn {
        DbConn::Sqlite(pooled, _) => {
            let insert = move |c: &mut diesel::SqliteConnection| {
                c.transaction(|c| {
                    for row in &rows {
                        let insert = diesel::insert_into(objects::table).values(row).on_conflict_do_nothing();
                        diesel::RunQueryDsl::execute(insert, c)?;
                    }
                    Ok(())
                })
            };
            pooled.spawn_blocking(insert).await.map_err(AppError::from)
        }
        DbConn::Postgres(pooled, _) => {
            use diesel_async::scoped_futures::ScopedFutureExt;
            use diesel_async::{AsyncConnection, RunQueryDsl};
            let rows = &rows;
            (**pooled)
                .transaction::<_, diesel::result::Error, _>(|c| {
                    async move {
                        for chunk in rows.chunks(ROWS_PER_STATEMENT) {
                            let insert =
                                diesel::insert_into(objects::table).values(chunk).on_conflict_do_nothing();
                            RunQueryDsl::execute(insert, c).await?;
                        }
                        Ok(())
                    }
                    .scope_boxed()
                })
                .await
                .map_err(AppError::from)
        }
    }
}
