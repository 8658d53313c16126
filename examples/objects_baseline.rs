//! The database's own speed at what the object transport does, for `scripts/bench`: a raw
//! batched INSERT of the same objects into a fresh stream of the same database, then a raw
//! SELECT of them, through the database driver alone (no HTTP, no parsing, no pool), with the
//! server's connection settings and the fastest batching each backend has: SQLite one
//! prepared statement run per row inside a transaction, PostgreSQL 500 rows per statement.
//!
//!   objects_baseline <DATABASE_URL> <objects.jsonl>
//!
//! `objects.jsonl` holds one object per line, each with its `id`. Prints one line of JSON:
//! `{"objects": N, "bytes": B, "insert_seconds": …, "select_seconds": …}` (the SELECT's
//! fastest of three runs).

use std::time::Instant;

use diesel::prelude::*;
use diesel_async::{AsyncConnection, AsyncPgConnection};
use speckle_tokens::server::db::models::NewObject;
use speckle_tokens::server::db::schema::{objects, streams};
use speckle_tokens::server::db::{sqlite_connection, DatabaseUrl, DbPool};

/// Bytes per transaction: what the transport does with a client's 1 MB batches.
const TRANSACTION_BYTES: usize = 1_000_000;
const ROWS_PER_STATEMENT: usize = 500;
/// The SELECT runs this many times; the fastest counts (as the bench counts downloads).
const READS: usize = 3;

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let mut args = std::env::args().skip(1);
    let (Some(url), Some(path)) = (args.next(), args.next()) else {
        eprintln!("usage: objects_baseline <DATABASE_URL> <objects.jsonl>");
        std::process::exit(2);
    };
    let url: DatabaseUrl = url.parse().unwrap_or_else(|e: String| panic!("{e}"));
    // Connecting runs the migrations: the same tables and indexes as the server's.
    drop(DbPool::connect(&url).await.expect("database"));
    let stream = format!("baseline{}", std::process::id());
    let rows: Vec<NewObject> = std::fs::read_to_string(&path)
        .expect("objects file")
        .lines()
        .map(|line| {
            let value: serde_json::Value = serde_json::from_str(line).expect("one JSON object per line");
            NewObject {
                stream_id: stream.clone().into(),
                id: value["id"].as_str().expect("an id").to_owned(),
                speckle_type: value["speckle_type"].as_str().map(str::to_owned),
                total_children_count: 0,
                size_bytes: line.len() as i64,
                data: line.to_owned(),
                created_at: 0,
            }
        })
        .collect();
    let transactions = transactions(&rows);
    let new_stream = (
        streams::id.eq(&stream),
        streams::name.eq("baseline"),
        streams::description.eq(""),
        streams::is_public.eq(false),
        streams::created_at.eq(0),
        streams::updated_at.eq(0),
    );
    let select = objects::table
        .filter(objects::stream_id.eq(&stream))
        .order(objects::id)
        .select((objects::id, objects::data));
    let (insert_seconds, select_seconds) = match &url {
        DatabaseUrl::Sqlite(file) => {
            let mut conn = sqlite_connection(file).expect("SQLite");
            diesel::insert_into(streams::table).values(new_stream).execute(&mut conn).unwrap();
            let started = Instant::now();
            for transaction in &transactions {
                conn.transaction::<_, diesel::result::Error, _>(|conn| {
                    for row in *transaction {
                        diesel::insert_into(objects::table).values(row).execute(conn)?;
                    }
                    Ok(())
                })
                .unwrap();
            }
            let insert_seconds = started.elapsed().as_secs_f64();
            let select_seconds = best_of(READS, || {
                let started = Instant::now();
                let read: Vec<(String, String)> = select.load(&mut conn).unwrap();
                assert_eq!(read.len(), rows.len());
                started.elapsed().as_secs_f64()
            });
            (insert_seconds, select_seconds)
        }
        DatabaseUrl::Postgres(url) => {
            use diesel_async::RunQueryDsl;
            let mut conn = AsyncPgConnection::establish(url).await.expect("PostgreSQL");
            RunQueryDsl::execute(diesel::insert_into(streams::table).values(new_stream), &mut conn)
                .await
                .unwrap();
            let started = Instant::now();
            for transaction in &transactions {
                conn.transaction::<_, diesel::result::Error, _>(|conn| {
                    Box::pin(async move {
                        for chunk in transaction.chunks(ROWS_PER_STATEMENT) {
                            RunQueryDsl::execute(diesel::insert_into(objects::table).values(chunk), conn)
                                .await?;
                        }
                        Ok(())
                    })
                })
                .await
                .unwrap();
            }
            let insert_seconds = started.elapsed().as_secs_f64();
            let mut select_seconds = f64::INFINITY;
            for _ in 0..READS {
                let started = Instant::now();
                let read: Vec<(String, String)> = RunQueryDsl::load(select, &mut conn).await.unwrap();
                assert_eq!(read.len(), rows.len());
                select_seconds = select_seconds.min(started.elapsed().as_secs_f64());
            }
            (insert_seconds, select_seconds)
        }
    };
    let bytes: i64 = rows.iter().map(|row| row.size_bytes).sum();
    println!(
        "{}",
        serde_json::json!({
            "objects": rows.len(),
            "bytes": bytes,
            "insert_seconds": insert_seconds,
            "select_seconds": select_seconds,
        })
    );
}

fn best_of(times: usize, mut run: impl FnMut() -> f64) -> f64 {
    (0..times).map(|_| run()).fold(f64::INFINITY, f64::min)
}

/// The rows cut into transactions of about [`TRANSACTION_BYTES`].
fn transactions(rows: &[NewObject]) -> Vec<&[NewObject]> {
    let mut cuts = Vec::new();
    let (mut start, mut size) = (0, 0);
    for (i, row) in rows.iter().enumerate() {
        if size + row.data.len() > TRANSACTION_BYTES && i > start {
            cuts.push(&rows[start..i]);
            (start, size) = (i, 0);
        }
        size += row.data.len();
    }
    cuts.push(&rows[start..]);
    cuts
}
