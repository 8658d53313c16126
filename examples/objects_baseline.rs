//! The database's own speed at what the object transport does, for `scripts/bench`: a raw
//! batched INSERT of the same objects into a fresh stream of the same database, then a raw
//! SELECT of them, through the database driver alone (no HTTP, no parsing, no pool).
//!
//!   objects_baseline <DATABASE_URL> <objects.jsonl>
//!
//! `objects.jsonl` holds one object per line, each with its `id`. Prints one line of JSON:
//! `{"objects": N, "bytes": B, "insert_seconds": …, "select_seconds": …}`.

use std::time::Instant;

use diesel::sql_types::{BigInt, Text};
use diesel::Connection;
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl as _};
use speckle_tokens::server::db::{DatabaseUrl, DbPool};

/// Rows per statement and bytes per transaction: what the transport does with a client's
/// 1 MB batches.
const ROWS: usize = 500;
const TRANSACTION_BYTES: usize = 1_000_000;

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
    let text = std::fs::read_to_string(&path).expect("objects file");
    let objects: Vec<(String, &str)> = text
        .lines()
        .map(|line| {
            let value: serde_json::Value = serde_json::from_str(line).expect("one JSON object per line");
            (value["id"].as_str().expect("an id").to_owned(), line)
        })
        .collect();
    let stream = format!("baseline{}", std::process::id());
    let transactions = transactions(&objects);
    let (insert_seconds, select_seconds) = match &url {
        DatabaseUrl::Sqlite(file) => {
            let mut conn = diesel::SqliteConnection::establish(file).expect("SQLite");
            diesel::connection::SimpleConnection::batch_execute(
                &mut conn,
                "PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL; PRAGMA foreign_keys = ON;",
            )
            .unwrap();
            diesel::RunQueryDsl::execute(diesel::sql_query(create_stream(&stream)), &mut conn).unwrap();
            let started = Instant::now();
            for transaction in &transactions {
                conn.transaction::<_, diesel::result::Error, _>(|conn| {
                    for rows in transaction.chunks(ROWS) {
                        diesel::RunQueryDsl::execute(insert(&stream, rows), conn)?;
                    }
                    Ok(())
                })
                .unwrap();
            }
            let insert_seconds = started.elapsed().as_secs_f64();
            let started = Instant::now();
            let rows: Vec<Row> = diesel::RunQueryDsl::load(select(&stream), &mut conn).unwrap();
            assert_eq!(rows.len(), objects.len());
            (insert_seconds, started.elapsed().as_secs_f64())
        }
        DatabaseUrl::Postgres(url) => {
            let mut conn = AsyncPgConnection::establish(url).await.expect("PostgreSQL");
            diesel::sql_query(create_stream(&stream)).execute(&mut conn).await.unwrap();
            let started = Instant::now();
            let stream = stream.as_str();
            for transaction in &transactions {
                conn.transaction::<_, diesel::result::Error, _>(|conn| {
                    Box::pin(async move {
                        for rows in transaction.chunks(ROWS) {
                            insert(stream, rows).execute(conn).await?;
                        }
                        Ok(())
                    })
                })
                .await
                .unwrap();
            }
            let insert_seconds = started.elapsed().as_secs_f64();
            let started = Instant::now();
            let rows: Vec<Row> = select(stream).load(&mut conn).await.unwrap();
            assert_eq!(rows.len(), objects.len());
            (insert_seconds, started.elapsed().as_secs_f64())
        }
    };
    let bytes: usize = objects.iter().map(|(_, data)| data.len()).sum();
    println!(
        "{}",
        serde_json::json!({
            "objects": objects.len(),
            "bytes": bytes,
            "insert_seconds": insert_seconds,
            "select_seconds": select_seconds,
        })
    );
}

/// The objects cut into transactions of about [`TRANSACTION_BYTES`].
fn transactions<'a>(objects: &'a [(String, &'a str)]) -> Vec<&'a [(String, &'a str)]> {
    let mut cuts = Vec::new();
    let (mut start, mut size) = (0, 0);
    for (i, (_, data)) in objects.iter().enumerate() {
        if size + data.len() > TRANSACTION_BYTES && i > start {
            cuts.push(&objects[start..i]);
            (start, size) = (i, 0);
        }
        size += data.len();
    }
    cuts.push(&objects[start..]);
    cuts
}

fn create_stream(stream: &str) -> String {
    format!("INSERT INTO streams (id, name, description, is_public, created_at, updated_at) VALUES ('{stream}', 'baseline', '', FALSE, 0, 0)")
}

fn insert<'a, DB: diesel::backend::Backend>(
    stream: &'a str,
    rows: &'a [(String, &'a str)],
) -> diesel::query_builder::BoxedSqlQuery<'a, DB, diesel::query_builder::SqlQuery>
where
    String: diesel::serialize::ToSql<Text, DB>,
    str: diesel::serialize::ToSql<Text, DB>,
    i64: diesel::serialize::ToSql<BigInt, DB>,
    DB: diesel::sql_types::HasSqlType<Text> + diesel::sql_types::HasSqlType<BigInt>,
{
    let values: Vec<String> = (0..rows.len())
        .map(|row| {
            let n = row * 5;
            format!("(${}, ${}, 'Base', 0, ${}, ${}, ${})", n + 1, n + 2, n + 3, n + 4, n + 5)
        })
        .collect();
    let sql = format!(
        "INSERT INTO objects (stream_id, id, speckle_type, total_children_count, size_bytes, data, created_at) VALUES {}",
        values.join(", ")
    );
    let mut query = diesel::sql_query(sql).into_boxed::<DB>();
    for (id, data) in rows {
        query = query
            .bind::<Text, _>(stream)
            .bind::<Text, _>(id.as_str())
            .bind::<BigInt, _>(data.len() as i64)
            .bind::<Text, _>(*data)
            .bind::<BigInt, _>(0_i64);
    }
    query
}

/// An object as the SELECT reads it: what a download sends.
#[derive(diesel::QueryableByName)]
#[allow(dead_code)] // read, not used: the time of reading is what counts
struct Row {
    #[diesel(sql_type = Text)]
    id: String,
    #[diesel(sql_type = Text)]
    data: String,
}

fn select<DB: diesel::backend::Backend>(
    stream: &str,
) -> diesel::query_builder::BoxedSqlQuery<'_, DB, diesel::query_builder::SqlQuery>
where
    str: diesel::serialize::ToSql<Text, DB>,
    DB: diesel::sql_types::HasSqlType<Text>,
{
    diesel::sql_query("SELECT id, data FROM objects WHERE stream_id = $1 ORDER BY id")
        .into_boxed()
        .bind::<Text, _>(stream)
}
