//! The object domain: Speckle objects stored once per stream by id, as the client sent them.
//! An object's `__closure` names every descendant (with its depth), so sending a commit's
//! root object and its closure moves the whole tree. The transport's REST routes and the
//! GraphQL `object` fields both read and write through here.

use std::borrow::Cow;
use std::collections::HashSet;
use std::fmt;

use bytes::{BufMut, Bytes, BytesMut};
use diesel::prelude::*;
use diesel_async::scoped_futures::ScopedFutureExt;
use diesel_async::{AsyncConnection, RunQueryDsl};
use serde::de::{IgnoredAny, MapAccess, Visitor};
use serde::{Deserialize, Deserializer};
use serde_json::value::RawValue;
use sha2::{Digest, Sha256};
use tokio::sync::mpsc;

use crate::db_run;
use crate::error::{bad_input, AppError, AppResult};
use crate::server::db::schema::objects;
use crate::server::db::{now_millis, DbConn, DbPool};

/// The most bytes of JSON one upload batch may hold, uncompressed (a bigger one is a 413).
/// Speckle's clients send batches of about 1 MB; one object may be as big as a batch.
pub const MAX_BATCH_BYTES: usize = 10 * 1024 * 1024;
/// The most ids one diff or download request may name.
pub const MAX_IDS_PER_REQUEST: usize = 200_000;
/// The most characters of an object id (Speckle's are 32 hexadecimal digits).
pub const MAX_ID_CHARS: usize = 64;
/// Rows inserted per statement: a few thousand bound values, under both backends' limits.
const INSERT_ROWS: usize = 500;
/// Objects read per query when downloading; bigger ones than [`INLINE_BYTES`] are read one
/// at a time, so a download holds at most a few MB whatever the objects' sizes.
const READ_ROWS: usize = 256;
const INLINE_BYTES: i64 = 16 * 1024;

/// Checks an object id: 1 to 64 ASCII letters and digits (it is a hash; it travels in URLs
/// and in tab-separated lines).
pub fn validate_id(id: &str) -> AppResult<()> {
    if id.is_empty() || id.len() > MAX_ID_CHARS || !id.bytes().all(|b| b.is_ascii_alphanumeric()) {
        return Err(bad_input(format!(
            "object id {:?}: an id is 1 to {MAX_ID_CHARS} letters and digits (a hash).",
            id.chars().take(80).collect::<String>()
        )));
    }
    Ok(())
}

/// One object of a batch, ready to store; borrowed from the batch's text where it can be.
#[derive(Debug)]
pub struct NewObject<'a> {
    pub id: Cow<'a, str>,
    pub speckle_type: Option<Cow<'a, str>>,
    pub total_children_count: i64,
    pub data: Cow<'a, str>,
}

/// What we read of an object before storing it; the rest stays as the client wrote it.
#[derive(Deserialize)]
struct Header<'a> {
    #[serde(borrow, default)]
    id: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    speckle_type: Option<Cow<'a, str>>,
    #[serde(rename = "__closure", default)]
    closure: Option<EntryCount>,
}

/// How many entries a JSON object has, counted without keeping them.
struct EntryCount(usize);

impl<'de> Deserialize<'de> for EntryCount {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Counter;
        impl<'de> Visitor<'de> for Counter {
            type Value = EntryCount;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("an object of descendant ids and depths")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<EntryCount, A::Error> {
                let mut count = 0;
                while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {
                    count += 1;
                }
                Ok(EntryCount(count))
            }
        }
        deserializer.deserialize_map(Counter)
    }
}

/// Reads one object as a client sent it. An object without an id gets Speckle's: a hash of
/// its JSON (here SHA-256, cut to 32 hexadecimal digits), written into it.
pub fn parse_object(raw: &str) -> AppResult<NewObject<'_>> {
    let header: Header = serde_json::from_str(raw)
        .map_err(|error| bad_input(format!("each object must be a JSON object with an id: {error}")))?;
    let total_children_count = header.closure.map_or(0, |count| count.0 as i64);
    let (id, data) = match header.id {
        Some(id) => (id, Cow::Borrowed(raw)),
        None => {
            let digest = Sha256::digest(raw.as_bytes());
            let id: String = digest.iter().take(16).map(|b| format!("{b:02x}")).collect();
            let body = raw.trim_start().strip_prefix('{').unwrap_or_default().trim_start();
            let separator = if body.starts_with('}') { "" } else { "," };
            let data = format!("{{\"id\":\"{id}\"{separator}{body}");
            (Cow::Owned(id), Cow::Owned(data))
        }
    };
    validate_id(&id)?;
    Ok(NewObject { id, speckle_type: header.speckle_type, total_children_count, data })
}

/// Reads a batch: a JSON array of objects.
pub fn parse_batch(text: &str) -> AppResult<Vec<NewObject<'_>>> {
    let raw: Vec<&RawValue> = serde_json::from_str(text)
        .map_err(|error| bad_input(format!("a batch must be a JSON array of objects: {error}")))?;
    raw.into_iter().map(|object| parse_object(object.get())).collect()
}

/// Stores a batch in one transaction: all of it, or (on any error) none of it. An object the
/// stream already holds is kept as it was: an id is a hash of the content.
pub async fn store(conn: &mut DbConn, stream_id: &str, batch: &[NewObject<'_>]) -> AppResult<()> {
    use diesel::sql_types::{BigInt, Nullable, Text};
    let now = now_millis();
    db_run!(conn, |c| {
        c.transaction::<_, AppError, _>(|c| {
            async move {
                for chunk in batch.chunks(INSERT_ROWS) {
                    // Many rows per statement, with as many bound values: diesel's typed batch
                    // insert does not reach SQLite through diesel-async, and `$n` placeholders
                    // read the same in SQLite and PostgreSQL.
                    let mut query = diesel::sql_query(insert_statement(chunk.len())).into_boxed();
                    for object in chunk {
                        query = query
                            .bind::<Text, _>(stream_id)
                            .bind::<Text, _>(object.id.as_ref())
                            .bind::<Nullable<Text>, _>(object.speckle_type.as_deref())
                            .bind::<BigInt, _>(object.total_children_count)
                            .bind::<BigInt, _>(object.data.len() as i64)
                            .bind::<Text, _>(object.data.as_ref())
                            .bind::<BigInt, _>(now);
                    }
                    query.execute(c).await?;
                }
                Ok(())
            }
            .scope_boxed()
        })
        .await
    })
}

/// `INSERT … VALUES ($1, …, $7), …` for `rows` rows of the objects table, keeping rows the
/// table already holds.
fn insert_statement(rows: usize) -> String {
    const COLUMNS: usize = 7;
    let mut sql = String::from(
        "INSERT INTO objects (stream_id, id, speckle_type, total_children_count, size_bytes, data, created_at) VALUES ",
    );
    for row in 0..rows {
        sql.push_str(if row == 0 { "(" } else { ", (" });
        for column in 0..COLUMNS {
            if column > 0 {
                sql.push_str(", ");
            }
            sql.push_str(&format!("${}", row * COLUMNS + column + 1));
        }
        sql.push(')');
    }
    sql.push_str(" ON CONFLICT DO NOTHING");
    sql
}

/// Which of `ids` the stream holds.
pub async fn existing(conn: &mut DbConn, stream_id: &str, ids: &[String]) -> AppResult<HashSet<String>> {
    let mut found = HashSet::new();
    for chunk in ids.chunks(INSERT_ROWS) {
        let rows: Vec<String> = db_run!(conn, |c| {
            objects::table
                .filter(objects::stream_id.eq(stream_id))
                .filter(objects::id.eq_any(chunk))
                .select(objects::id)
                .load(c)
                .await
        })?;
        found.extend(rows);
    }
    Ok(found)
}

/// An object as the API shows it.
#[derive(Clone, Debug, Queryable, Selectable)]
#[diesel(table_name = objects)]
pub struct StoredObject {
    pub id: String,
    pub speckle_type: Option<String>,
    pub total_children_count: i64,
    pub data: String,
    pub created_at: i64,
}

/// The stream's object with this id.
pub async fn find(conn: &mut DbConn, stream_id: &str, id: &str) -> AppResult<Option<StoredObject>> {
    Ok(db_run!(conn, |c| {
        objects::table.find((stream_id, id)).select(StoredObject::as_select()).first(c).await.optional()
    })?)
}

/// How many objects the stream holds.
pub async fn count(conn: &mut DbConn, stream_id: &str) -> AppResult<i64> {
    Ok(db_run!(conn, |c| objects::table
        .filter(objects::stream_id.eq(stream_id))
        .count()
        .get_result(c)
        .await)?)
}

/// The descendants an object's `__closure` names, with their depth, sorted by id.
pub fn closure(data: &str) -> AppResult<Vec<(String, i64)>> {
    #[derive(Deserialize)]
    struct Closure {
        #[serde(rename = "__closure", default)]
        closure: Option<std::collections::BTreeMap<String, serde_json::Value>>,
    }
    let parsed: Closure = serde_json::from_str(data).map_err(|_| AppError::Internal)?;
    Ok(parsed
        .closure
        .unwrap_or_default()
        .into_iter()
        .map(|(id, depth)| (id, depth.as_i64().unwrap_or(1)))
        .collect())
}

/// How a download is written: Speckle's two formats.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    /// A JSON array of the objects (`Accept: application/json`, the default).
    JsonArray,
    /// One `<id>\t<json>` line per object (`Accept: text/plain`, what Speckle's clients ask).
    Lines,
}

/// Writes objects in a [`Format`], a chunk at a time.
struct Writer {
    format: Format,
    first: bool,
    buffer: BytesMut,
}

impl Writer {
    fn new(format: Format) -> Writer {
        let mut buffer = BytesMut::new();
        if format == Format::JsonArray {
            buffer.put_u8(b'[');
        }
        Writer { format, first: true, buffer }
    }

    fn object(&mut self, id: &str, data: &str) {
        match self.format {
            Format::JsonArray => {
                if !self.first {
                    self.buffer.put_u8(b',');
                }
                self.buffer.put_slice(data.as_bytes());
            }
            Format::Lines => {
                self.buffer.put_slice(id.as_bytes());
                self.buffer.put_u8(b'\t');
                self.buffer.put_slice(data.as_bytes());
                self.buffer.put_u8(b'\n');
            }
        }
        self.first = false;
    }

    fn take(&mut self) -> Bytes {
        self.buffer.split().freeze()
    }

    fn finish(mut self) -> Bytes {
        if self.format == Format::JsonArray {
            self.buffer.put_u8(b']');
        }
        self.buffer.freeze()
    }
}

/// Streams `first` (if any), then the stream's objects with these ids, in id order, into
/// the returned receiver, a few MB at a time. Ids the stream does not hold are left out.
/// A client that hangs up ends the work at the next chunk.
pub fn download(
    db: DbPool,
    stream_id: String,
    first: Option<StoredObject>,
    ids: Vec<String>,
    format: Format,
) -> mpsc::Receiver<Result<Bytes, AppError>> {
    let (sender, receiver) = mpsc::channel(2);
    tokio::spawn(async move {
        let mut writer = Writer::new(format);
        if let Some(first) = first {
            writer.object(&first.id, &first.data);
        }
        if let Err(error) = send_objects(&db, &stream_id, ids, &mut writer, &sender).await {
            let _ = sender.send(Err(error)).await;
            return;
        }
        let _ = sender.send(Ok(writer.finish())).await;
    });
    receiver
}

/// (id, data): the data only when small enough to read with others (see [`inline_data`]).
type Row = (String, Option<String>);

/// Where a download reads its objects, a chunk at a time.
enum Selection {
    /// These ids (sorted), a chunk of them per query.
    Ids { ids: Vec<String>, next: usize },
    /// The stream's objects in id order, after `after`, keeping those in `wanted` (sorted):
    /// when most of a stream is wanted, a scan reads faster than as many lookups.
    Scan { wanted: Vec<String>, after: String, done: bool },
}

impl Selection {
    /// Scans when the ids name at least half of what the stream holds.
    fn new(mut ids: Vec<String>, held: i64) -> Selection {
        ids.sort_unstable();
        ids.dedup();
        if ids.len() as i64 * 2 >= held {
            Selection::Scan { wanted: ids, after: String::new(), done: false }
        } else {
            Selection::Ids { ids, next: 0 }
        }
    }

    /// The next chunk of wanted objects, in id order; `None` when there are no more.
    async fn next_chunk(&mut self, conn: &mut DbConn, stream_id: &str) -> AppResult<Option<Vec<Row>>> {
        match self {
            Selection::Ids { ids, next } => {
                if *next >= ids.len() {
                    return Ok(None);
                }
                let chunk = &ids[*next..ids.len().min(*next + READ_ROWS)];
                *next += chunk.len();
                let rows = db_run!(conn, |c| {
                    objects::table
                        .filter(objects::stream_id.eq(stream_id))
                        .filter(objects::id.eq_any(chunk))
                        .order(objects::id)
                        .select((objects::id, inline_data()))
                        .load(c)
                        .await
                })?;
                Ok(Some(rows))
            }
            Selection::Scan { wanted, after, done } => {
                if *done {
                    return Ok(None);
                }
                let mut rows: Vec<Row> = db_run!(conn, |c| {
                    objects::table
                        .filter(objects::stream_id.eq(stream_id))
                        .filter(objects::id.gt(&*after))
                        .order(objects::id)
                        .limit(READ_ROWS as i64)
                        .select((objects::id, inline_data()))
                        .load(c)
                        .await
                })?;
                *done = rows.len() < READ_ROWS;
                if let Some((last, _)) = rows.last() {
                    after.clone_from(last);
                }
                rows.retain(|(id, _)| wanted.binary_search(id).is_ok());
                Ok(Some(rows))
            }
        }
    }
}

async fn send_objects(
    db: &DbPool,
    stream_id: &str,
    ids: Vec<String>,
    writer: &mut Writer,
    sender: &mpsc::Sender<Result<Bytes, AppError>>,
) -> AppResult<()> {
    if ids.is_empty() {
        return Ok(());
    }
    let mut selection = Selection::new(ids, count(&mut db.get().await?, stream_id).await?);
    loop {
        let mut conn = db.get().await?;
        let Some(rows) = selection.next_chunk(&mut conn, stream_id).await? else { return Ok(()) };
        for (id, data) in rows {
            match data {
                Some(data) => writer.object(&id, &data),
                None => {
                    // A big object: read alone, and sent before the next is read.
                    let Some(big) = find(&mut conn, stream_id, &id).await? else { continue };
                    writer.object(&id, &big.data);
                    if sender.send(Ok(writer.take())).await.is_err() {
                        return Ok(());
                    }
                }
            }
        }
        drop(conn);
        if sender.send(Ok(writer.take())).await.is_err() {
            return Ok(());
        }
    }
}

/// An object's data when it is small enough to read with others; null when it is not.
fn inline_data() -> diesel::dsl::case_when<diesel::dsl::LtEq<objects::size_bytes, i64>, objects::data> {
    diesel::dsl::case_when(objects::size_bytes.le(INLINE_BYTES), objects::data)
}
