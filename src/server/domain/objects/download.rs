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

/// Wanted ids per chunk, and the most rows a chunk's query reads, with the data of those up
/// to [`INLINE_BYTES`]; bigger ones are read after, a few MB ([`GROUP_BYTES`]) at a time, so
/// a download holds a few MB whatever the objects' sizes (at most [`READ_ROWS`] ×
/// [`INLINE_BYTES`] per chunk, 3 MB, for each chunk read and the one written).
const READ_IDS: usize = 4000;
const READ_ROWS: usize = READ_IDS * 3 / 2;
const INLINE_BYTES: i64 = 512;
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

    /// Room for the objects of a chunk whose data came with it, so that they are written
    /// without growing the buffer (big ones, read after, are not counted: a chunk of them
    /// would reserve gigabytes).
    fn reserve_for(&mut self, rows: &[Row]) {
        let bytes = rows.iter().filter_map(|(id, _, data)| Some(id.len() + data.as_ref()?.len() + 2));
        self.buffer.reserve(bytes.sum());
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

/// How a chunk's objects are read.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Way {
    /// The stream's objects from the chunk's first id to its last, in id order, at most
    /// [`READ_ROWS`], keeping the wanted ones: when the wanted ids are most of what lies
    /// between them (a closure is most of its stream), one range reads faster than as many
    /// lookups. Both backends order ids byte by byte (PostgreSQL's column is `COLLATE "C"`),
    /// as Rust sorts them, so one walk matches the two lists.
    Range,
    /// The chunk's ids, looked up.
    Ids,
}

/// Up to [`READ_IDS`] of the wanted ids (sorted), read by one query (and a second for those
/// a range left out), independent of the others, so that several can be read at once.
struct Chunk {
    ids: Vec<String>,
    way: Way,
}

/// The rows of a chunk, in id order, and whether its range had room for all its ids: when it
/// had not, the stream is sparse there, and the chunks after it are looked up by id.
struct Read {
    rows: Vec<Row>,
    sparse: bool,
}

impl Chunk {
    async fn read(self, db: DbPool, stream_id: StreamId) -> AppResult<Read> {
        let (Some(first), Some(last)) = (self.ids.first(), self.ids.last()) else {
            return Ok(Read { rows: Vec::new(), sparse: false });
        };
        if self.way == Way::Ids {
            return Ok(Read { rows: by_ids(&db, &stream_id, &self.ids).await?, sparse: false });
        }
        let stream = stream_id.as_str();
        let mut rows: Vec<Row> = db_read!(
            &db,
            load,
            objects::table
                .filter(objects::stream_id.eq(stream))
                .filter(objects::id.between(first, last))
                .order(objects::id)
                .limit(READ_ROWS as i64)
                .select((objects::id, objects::size_bytes, inline_data()))
        )?;
        let sparse = rows.len() == READ_ROWS;
        let rest = keep_wanted(&mut rows, &self.ids, sparse);
        if !rest.is_empty() {
            rows.extend(by_ids(&db, &stream_id, rest).await?);
        }
        Ok(Read { rows, sparse })
    }
}

/// Keeps the rows of a range that are among `ids` (both sorted), and answers the ids past
/// the range's last row when it was cut short (`full`: it read as many rows as it may).
fn keep_wanted<'a>(rows: &mut Vec<Row>, ids: &'a [String], full: bool) -> &'a [String] {
    let rest = match (full, rows.last()) {
        (true, Some((reached, _, _))) => &ids[ids.partition_point(|id| id <= reached)..],
        _ => &[],
    };
    let mut wanted = ids.iter().peekable();
    rows.retain(|(id, _, _)| {
        while wanted.next_if(|w| *w < id).is_some() {}
        wanted.next_if(|w| *w == id).is_some()
    });
    rest
}

/// These objects of the stream, in id order.
async fn by_ids(db: &DbPool, stream_id: &StreamId, ids: &[String]) -> AppResult<Vec<Row>> {
    db_read!(
        db,
        load,
        objects::table
            .filter(objects::stream_id.eq(stream_id.as_str()))
            .filter(objects::id.eq_any(ids))
            .order(objects::id)
            .select((objects::id, objects::size_bytes, inline_data()))
    )
}

async fn send_objects(
    db: &DbPool,
    stream_id: &StreamId,
    mut ids: Vec<String>,
    writer: &mut Writer,
    sender: &mpsc::Sender<Result<Bytes, AppError>>,
) -> AppResult<()> {
    ids.sort_unstable();
    ids.dedup();
    // The sorted ids are moved into their chunks, not copied: the list is not used again.
    let mut ids = ids.into_iter().peekable();
    let mut chunks = std::iter::from_fn(move || {
        ids.peek()?;
        Some(ids.by_ref().take(READ_IDS).collect::<Vec<_>>())
    });
    let mut way = Way::Range;
    let read =
        |ids: Vec<String>, way: Way| tokio::spawn(Chunk { ids, way }.read(db.clone(), stream_id.to_owned()));
    // The chunks after the one being written are read meanwhile: one on SQLite, whose reads
    // run on the worker threads that also write the answer out (a second one at once slows
    // the download); two on PostgreSQL, which reads in processes of its own, so that it
    // works on one chunk while the rows of the other come over.
    let ahead = if db.reads_in_process() { 1 } else { 2 };
    let mut reading: std::collections::VecDeque<_> =
        chunks.by_ref().take(ahead).map(|ids| read(ids, way)).collect();
    while let Some(chunk) = reading.pop_front() {
        let Read { rows, sparse } = chunk.await.map_err(|_| AppError::Internal)??;
        if sparse {
            way = Way::Ids;
        }
        reading.extend(chunks.next().map(|ids| read(ids, way)));
        writer.reserve_for(&rows);
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

#[cfg(test)]
mod tests {
    use super::*;

    fn rows(ids: &[&str]) -> Vec<Row> {
        ids.iter().map(|id| (id.to_string(), 1, Some(String::new()))).collect()
    }

    fn ids(ids: &[&str]) -> Vec<String> {
        ids.iter().map(|id| id.to_string()).collect()
    }

    #[test]
    fn a_chunk_reserves_room_for_its_inline_objects_only() {
        let mut writer = Writer::new(Format::Lines);
        let mut chunk = rows(&["a", "b"]);
        chunk[0].2 = Some("x".repeat(100));
        // Claimed big: its data is read after, in groups.
        chunk.push(("c".to_owned(), 1 << 40, None));
        writer.reserve_for(&chunk);
        assert!(writer.buffer.capacity() < 1 << 20, "reserved {}", writer.buffer.capacity());
        assert!(writer.buffer.capacity() >= 106);
    }

    #[test]
    fn a_range_keeps_its_wanted_rows_and_names_those_it_did_not_reach() {
        let wanted = ids(&["a", "c", "e", "g"]);
        // The whole range read: the wanted rows, nothing left.
        let mut read = rows(&["a", "b", "c", "d", "e", "f", "g"]);
        assert!(keep_wanted(&mut read, &wanted, false).is_empty());
        assert_eq!(read, rows(&["a", "c", "e", "g"]));
        // Cut short after an unwanted row, and after a wanted one: the rest is what follows.
        let mut read = rows(&["a", "b", "c", "d"]);
        assert_eq!(keep_wanted(&mut read, &wanted, true), ids(&["e", "g"]));
        assert_eq!(read, rows(&["a", "c"]));
        let mut read = rows(&["a", "b", "c"]);
        assert_eq!(keep_wanted(&mut read, &wanted, true), ids(&["e", "g"]));
        assert_eq!(read, rows(&["a", "c"]));
        // A wanted id the stream lacks is left out.
        let mut read = rows(&["c", "d", "g"]);
        assert!(keep_wanted(&mut read, &wanted, false).is_empty());
        assert_eq!(read, rows(&["c", "g"]));
    }
}
