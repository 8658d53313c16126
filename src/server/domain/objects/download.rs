//! A closure sent back: the objects of a download, read a bounded group at a time and
//! written as Speckle's transport expects them (JSON array, or id-tab-data lines).

use bytes::{BufMut, Bytes, BytesMut};
use diesel::prelude::*;
use tokio::sync::mpsc;

use super::StoredObject;
use crate::db_read;
use crate::rules::error::{AppError, AppResult};
use crate::server::db::schema::objects;
use crate::server::db::{DbPool, StreamId};

/// Objects read per query when downloading, with the data of those up to [`INLINE_BYTES`];
/// bigger ones are read after, a few MB ([`GROUP_BYTES`]) at a time, so a download holds a
/// few MB whatever the objects' sizes.
const READ_ROWS: usize = 2000;
const INLINE_BYTES: i64 = 2 * 1024;
const GROUP_BYTES: i64 = 4 * 1024 * 1024;

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
/// `held` (the room the request's id list takes) is kept until the download ends.
pub fn download<H: Send + 'static>(
    db: DbPool,
    stream_id: StreamId,
    first: Option<StoredObject>,
    ids: Vec<String>,
    format: Format,
    held: H,
) -> mpsc::Receiver<Result<Bytes, AppError>> {
    let (sender, receiver) = mpsc::channel(2);
    tokio::spawn(async move {
        let _held = held;
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

/// (id, size, data): the data only when small enough to read with others (see
/// [`inline_data`]).
type Row = (String, i64, Option<String>);

/// Where a download reads its objects, a chunk at a time.
enum Selection {
    /// These ids (sorted), a chunk of them per query; `next` is the first not yet read.
    Ids { ids: Vec<String>, next: usize },
    /// The stream's objects in id order, keeping those in `wanted` (sorted; `next` is the
    /// first not yet passed): when most of a stream is wanted, a scan reads faster than as
    /// many lookups. Both backends order ids byte by byte (PostgreSQL's column is
    /// `COLLATE "C"`), as Rust sorts them, so one walk matches the two lists.
    Scan { wanted: Vec<String>, next: usize, done: bool },
}

/// One chunk's query, owned so that it can run while the chunk before it is written out.
enum Chunk {
    Ids(Vec<String>),
    /// Up to [`READ_ROWS`] objects from this id on.
    From(String),
}

impl Selection {
    /// Scans when the ids name at least half of what the stream holds.
    fn new(mut ids: Vec<String>, held: i64) -> Selection {
        ids.sort_unstable();
        ids.dedup();
        if ids.len() as i64 * 2 >= held {
            Selection::Scan { wanted: ids, next: 0, done: false }
        } else {
            Selection::Ids { ids, next: 0 }
        }
    }

    /// The query of the next chunk; `None` when everything wanted was read.
    fn next_chunk(&mut self) -> Option<Chunk> {
        match self {
            Selection::Ids { ids, next } => {
                let chunk = ids.get(*next..ids.len().min(*next + READ_ROWS)).filter(|c| !c.is_empty())?;
                *next += chunk.len();
                Some(Chunk::Ids(chunk.to_vec()))
            }
            // What lies before the first wanted id not yet passed is not wanted.
            Selection::Scan { wanted, next, done } => {
                (!*done).then(|| wanted.get(*next)).flatten().map(|from| Chunk::From(from.clone()))
            }
        }
    }

    /// Keeps the wanted rows of a chunk's answer, and moves past them.
    fn accept(&mut self, mut rows: Vec<Row>) -> Vec<Row> {
        if let Selection::Scan { wanted, next, done } = self {
            *done = rows.len() < READ_ROWS;
            rows.retain(|(id, _, _)| {
                while wanted.get(*next).is_some_and(|w| w < id) {
                    *next += 1;
                }
                wanted.get(*next) == Some(id)
            });
            // Every row kept matched `wanted[next]`; step past the last one.
            if rows.last().is_some_and(|(last, _, _)| wanted.get(*next) == Some(last)) {
                *next += 1;
            }
        }
        rows
    }
}

impl Chunk {
    /// Reads the chunk through `db_read!`: on SQLite a read-only connection on the calling
    /// thread, with no hop.
    async fn read(self, db: DbPool, stream_id: StreamId) -> AppResult<Vec<Row>> {
        let stream_id = stream_id.as_str();
        match self {
            Chunk::Ids(ids) => db_read!(
                &db,
                load,
                objects::table
                    .filter(objects::stream_id.eq(stream_id))
                    .filter(objects::id.eq_any(&ids))
                    .order(objects::id)
                    .select((objects::id, objects::size_bytes, inline_data()))
            ),
            Chunk::From(from) => db_read!(
                &db,
                load,
                objects::table
                    .filter(objects::stream_id.eq(stream_id))
                    .filter(objects::id.ge(&from))
                    .order(objects::id)
                    .limit(READ_ROWS as i64)
                    .select((objects::id, objects::size_bytes, inline_data()))
            ),
        }
    }
}

async fn send_objects(
    db: &DbPool,
    stream_id: &StreamId,
    ids: Vec<String>,
    writer: &mut Writer,
    sender: &mpsc::Sender<Result<Bytes, AppError>>,
) -> AppResult<()> {
    if ids.is_empty() {
        return Ok(());
    }
    let held: i64 =
        db_read!(db, get_result, objects::table.filter(objects::stream_id.eq(stream_id)).count())?;
    let mut selection = Selection::new(ids, held);
    let read = |chunk: Chunk| tokio::spawn(chunk.read(db.clone(), stream_id.to_owned()));
    let mut reading = selection.next_chunk().map(read);
    while let Some(chunk) = reading.take() {
        let rows = selection.accept(chunk.await.map_err(|_| AppError::Internal)??);
        // The next chunk is read while this one is written out.
        reading = selection.next_chunk().map(read);
        let mut big: Vec<(String, i64)> = Vec::new();
        for (id, size, data) in rows {
            match data {
                Some(data) => writer.object(&id, &data),
                None => big.push((id, size)),
            }
        }
        if sender.send(Ok(writer.take())).await.is_err() {
            return Ok(());
        }
        // Big objects after the small ones of their chunk, a few MB at a time.
        let mut group_start = 0;
        let mut group_bytes = 0;
        for end in 1..=big.len() {
            group_bytes += big[end - 1].1;
            if end < big.len() && group_bytes + big[end].1 <= GROUP_BYTES {
                continue;
            }
            let group: Vec<&str> = big[group_start..end].iter().map(|(id, _)| id.as_str()).collect();
            let rows: Vec<(String, String)> = db_read!(
                db,
                load,
                objects::table
                    .filter(objects::stream_id.eq(stream_id))
                    .filter(objects::id.eq_any(&group))
                    .order(objects::id)
                    .select((objects::id, objects::data))
            )?;
            for (id, data) in rows {
                writer.object(&id, &data);
            }
            if sender.send(Ok(writer.take())).await.is_err() {
                return Ok(());
            }
            (group_start, group_bytes) = (end, 0);
        }
    }
    Ok(())
}

/// An object's data when it is small enough to read with others; null when it is not.
fn inline_data() -> diesel::dsl::case_when<diesel::dsl::LtEq<objects::size_bytes, i64>, objects::data> {
    diesel::dsl::case_when(objects::size_bytes.le(INLINE_BYTES), objects::data)
}
