//! The object domain: Speckle objects stored once per stream by id, as the client sent them.
//! An object's `__closure` names every descendant (with its depth), so sending a commit's
//! root object and its closure moves the whole tree. The transport's REST routes and the
//! GraphQL `object` fields both read and write through here.

use std::borrow::Cow;
use std::collections::HashSet;
use std::fmt;

use bytes::{BufMut, Bytes, BytesMut};
use diesel::prelude::*;
use diesel_async::RunQueryDsl;
use serde::de::{IgnoredAny, MapAccess, Visitor};
use serde::{Deserialize, Deserializer};
use serde_json::value::RawValue;
use sha2::{Digest, Sha256};
use tokio::sync::mpsc;

use crate::error::{bad_input, AppError, AppResult};
use crate::server::db::schema::objects;
use crate::server::db::{insert_objects, models, now_millis, DbConn, DbPool};
use crate::{db_read, db_run};

/// The most bytes of JSON one upload batch may hold, uncompressed (a bigger one is a 413).
/// Speckle's clients send batches of about 1 MB; one object may be as big as a batch.
pub const MAX_BATCH_BYTES: usize = 10 * 1024 * 1024;
/// The most ids one diff or download request may name.
pub const MAX_IDS_PER_REQUEST: usize = 200_000;
/// The most characters of an object id (Speckle's are 32 hexadecimal digits).
pub const MAX_ID_CHARS: usize = 64;
/// Ids looked up per query.
const LOOKUP_IDS: usize = 500;
/// Objects read per query when downloading, with the data of those up to [`INLINE_BYTES`];
/// bigger ones are read after, a few MB ([`GROUP_BYTES`]) at a time, so a download holds a
/// few MB whatever the objects' sizes.
const READ_ROWS: usize = 2000;
const INLINE_BYTES: i64 = 2 * 1024;
const GROUP_BYTES: i64 = 4 * 1024 * 1024;

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
pub struct ParsedObject<'a> {
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
pub fn parse_object(raw: &str) -> AppResult<ParsedObject<'_>> {
    // serde reads a struct from an array as well: `[]` would pass, and be stored as a broken
    // object. Only a JSON object is one.
    if !raw.trim_start().starts_with('{') {
        return Err(bad_input("each object must be a JSON object with an id."));
    }
    let header: Header = serde_json::from_str(raw)
        .map_err(|error| bad_input(format!("each object must be a JSON object with an id: {error}")))?;
    let total_children_count = header.closure.map_or(0, |count| count.0 as i64);
    let (id, data) = match header.id {
        Some(id) => (id, Cow::Borrowed(raw)),
        None => {
            let digest = Sha256::digest(raw.as_bytes());
            let id = hex::encode(&digest[..16]);
            let body = raw.trim_start().strip_prefix('{').unwrap_or_default().trim_start();
            let separator = if body.starts_with('}') { "" } else { "," };
            let data = format!("{{\"id\":\"{id}\"{separator}{body}");
            (Cow::Owned(id), Cow::Owned(data))
        }
    };
    validate_id(&id)?;
    Ok(ParsedObject { id, speckle_type: header.speckle_type, total_children_count, data })
}

/// Reads a batch: a JSON array of objects.
pub fn parse_batch(text: &str) -> AppResult<Vec<ParsedObject<'_>>> {
    let raw: Vec<&RawValue> = serde_json::from_str(text)
        .map_err(|error| bad_input(format!("a batch must be a JSON array of objects: {error}")))?;
    raw.into_iter().map(|object| parse_object(object.get())).collect()
}

/// Reads the `objects` field of a diff or download request: a JSON array of ids, as a string
/// (in a form, as specklepy sends it, or in a JSON body, as Speckle's .NET client does) or as
/// an array in a JSON body. Each id is checked as it is read, and reading stops at the
/// [`MAX_IDS_PER_REQUEST`]th (413): a list of millions of ids is never held.
pub fn parse_id_list(body: &[u8], is_json: bool) -> AppResult<Vec<String>> {
    let problem = std::cell::RefCell::new(None);
    let explain =
        || bad_input("Send the ids as the form field `objects`: a JSON array of object ids, as a string.");
    let parsed = if is_json {
        let mut deserializer = serde_json::Deserializer::from_slice(body);
        serde::de::DeserializeSeed::deserialize(IdListSeed(&problem), &mut deserializer)
            .and_then(|ids| deserializer.end().map(|()| ids))
    } else {
        let Some(field) = form_field(body, "objects") else { return Err(explain()) };
        // Decoded as it is parsed: a list refused at its 200,001st id is decoded no further.
        let decoded = std::io::BufReader::with_capacity(64 * 1024, FormDecoded(field));
        let mut deserializer = serde_json::Deserializer::from_reader(decoded);
        serde::de::DeserializeSeed::deserialize(IdsSeed(&problem), &mut deserializer)
            .and_then(|ids| deserializer.end().map(|()| Some(ids)))
    };
    match (parsed, problem.into_inner()) {
        (Ok(Some(ids)), _) => Ok(ids),
        (_, Some(problem)) => Err(problem),
        _ => Err(explain()),
    }
}

/// The value of the form field `name`, still encoded.
fn form_field<'a>(body: &'a [u8], name: &str) -> Option<&'a [u8]> {
    body.split(|byte| *byte == b'&').find_map(|pair| {
        let (key, value) = match pair.iter().position(|byte| *byte == b'=') {
            Some(at) => (&pair[..at], &pair[at + 1..]),
            None => (pair, &pair[pair.len()..]),
        };
        let (key, _) = form_urlencoded::parse(key).next()?;
        (key == name).then_some(value)
    })
}

/// A form value (`application/x-www-form-urlencoded`: `+` for a space, `%XX` for a byte)
/// read as its decoded bytes, a buffer at a time.
struct FormDecoded<'a>(&'a [u8]);

impl std::io::Read for FormDecoded<'_> {
    fn read(&mut self, out: &mut [u8]) -> std::io::Result<usize> {
        let hex = |digit: u8| char::from(digit).to_digit(16);
        let mut written = 0;
        while written < out.len() {
            let (byte, used) = match *self.0 {
                [] => break,
                [b'+', ..] => (b' ', 1),
                [b'%', high, low, ..] => match (hex(high), hex(low)) {
                    (Some(high), Some(low)) => ((high * 16 + low) as u8, 3),
                    _ => (b'%', 1),
                },
                [byte, ..] => (byte, 1),
            };
            out[written] = byte;
            written += 1;
            self.0 = &self.0[used..];
        }
        Ok(written)
    }
}

/// Where a seed leaves the precise reason a list was refused (serde's errors are text).
type Problem<'p> = &'p std::cell::RefCell<Option<AppError>>;

/// The ids of a JSON array written as text.
fn ids_in_text(text: &str, problem: Problem<'_>) -> Result<Option<Vec<String>>, serde_json::Error> {
    let mut deserializer = serde_json::Deserializer::from_str(text);
    let ids = serde::de::DeserializeSeed::deserialize(IdsSeed(problem), &mut deserializer)?;
    deserializer.end()?;
    Ok(Some(ids))
}

/// A JSON body `{"objects": …}`: the field's ids, `None` without the field.
struct IdListSeed<'p>(Problem<'p>);

impl<'de> serde::de::DeserializeSeed<'de> for IdListSeed<'_> {
    type Value = Option<Vec<String>>;
    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Self::Value, D::Error> {
        deserializer.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for IdListSeed<'_> {
    type Value = Option<Vec<String>>;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("an object with the field objects")
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut ids = None;
        while let Some(key) = map.next_key::<Cow<'de, str>>()? {
            if key == "objects" && ids.is_none() {
                ids = Some(map.next_value_seed(FieldSeed(self.0))?);
            } else {
                map.next_value::<IgnoredAny>()?;
            }
        }
        Ok(ids)
    }
}

/// The `objects` field: a JSON array of ids, or the text of one.
struct FieldSeed<'p>(Problem<'p>);

impl<'de> serde::de::DeserializeSeed<'de> for FieldSeed<'_> {
    type Value = Vec<String>;
    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Self::Value, D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for FieldSeed<'_> {
    type Value = Vec<String>;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a JSON array of object ids, or its text")
    }
    fn visit_str<E: serde::de::Error>(self, text: &str) -> Result<Self::Value, E> {
        match ids_in_text(text, self.0) {
            Ok(Some(ids)) => Ok(ids),
            _ => Err(E::custom("objects is not a JSON array of ids")),
        }
    }
    fn visit_seq<A: serde::de::SeqAccess<'de>>(self, seq: A) -> Result<Self::Value, A::Error> {
        IdsSeed(self.0).visit_seq(seq)
    }
}

/// A JSON array of ids, each checked as it is read, at most [`MAX_IDS_PER_REQUEST`].
struct IdsSeed<'p>(Problem<'p>);

impl<'de> serde::de::DeserializeSeed<'de> for IdsSeed<'_> {
    type Value = Vec<String>;
    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Self::Value, D::Error> {
        deserializer.deserialize_seq(self)
    }
}

impl<'de> Visitor<'de> for IdsSeed<'_> {
    type Value = Vec<String>;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a JSON array of object ids")
    }
    fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        use serde::de::Error;
        let mut ids = Vec::with_capacity(seq.size_hint().unwrap_or(0).min(MAX_IDS_PER_REQUEST));
        while let Some(id) = seq.next_element::<Cow<'de, str>>()? {
            let refused = if ids.len() == MAX_IDS_PER_REQUEST {
                Some(AppError::TooLarge(format!("A request may name at most {MAX_IDS_PER_REQUEST} objects.")))
            } else {
                validate_id(&id).err()
            };
            if let Some(refused) = refused {
                *self.0.borrow_mut() = Some(refused);
                return Err(A::Error::custom("refused"));
            }
            ids.push(id.into_owned());
        }
        Ok(ids)
    }
}

/// Stores objects in one transaction: all of them, or (on any error) none. An object the
/// stream already holds is kept as it was: an id is a hash of the content.
pub async fn store(conn: &mut DbConn, stream_id: &str, objects: Vec<ParsedObject<'_>>) -> AppResult<usize> {
    let rows = rows(stream_id, objects);
    let count = rows.len();
    insert_objects(conn, rows).await?;
    Ok(count)
}

/// Reads a batch (a JSON array of objects) and stores it (see [`store`]), letting go of its
/// text before the objects are written.
pub async fn store_batch(conn: &mut DbConn, stream_id: &str, text: String) -> AppResult<usize> {
    let rows = rows(stream_id, parse_batch(&text)?);
    drop(text);
    let count = rows.len();
    insert_objects(conn, rows).await?;
    Ok(count)
}

/// The rows that store these objects, owning their text.
fn rows(stream_id: &str, objects: Vec<ParsedObject<'_>>) -> Vec<models::NewObject> {
    let now = now_millis();
    objects
        .into_iter()
        .map(|object| models::NewObject {
            stream_id: stream_id.to_owned(),
            id: object.id.into_owned(),
            speckle_type: object.speckle_type.map(Cow::into_owned),
            total_children_count: object.total_children_count,
            size_bytes: object.data.len() as i64,
            data: object.data.into_owned(),
            created_at: now,
        })
        .collect()
}

/// Which of `ids` the stream holds.
pub async fn existing(conn: &mut DbConn, stream_id: &str, ids: &[String]) -> AppResult<HashSet<String>> {
    let mut found = HashSet::new();
    for chunk in ids.chunks(LOOKUP_IDS) {
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

/// What the stream's objects with these ids weigh, in bytes of JSON (those it holds).
pub async fn sizes(conn: &mut DbConn, stream_id: &str, ids: &[String]) -> AppResult<Vec<i64>> {
    Ok(db_run!(conn, |c| {
        objects::table
            .filter(objects::stream_id.eq(stream_id))
            .filter(objects::id.eq_any(ids))
            .select(objects::size_bytes)
            .load(c)
            .await
    })?)
}

/// The stream's objects with these ids (those it holds), in id order, in one query.
pub async fn find_many(conn: &mut DbConn, stream_id: &str, ids: &[String]) -> AppResult<Vec<StoredObject>> {
    Ok(db_run!(conn, |c| {
        objects::table
            .filter(objects::stream_id.eq(stream_id))
            .filter(objects::id.eq_any(ids))
            .order(objects::id)
            .select(StoredObject::as_select())
            .load(c)
            .await
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
        closure: Option<Descendants>,
    }
    let parsed: Closure = match serde_json::from_str(data) {
        Ok(parsed) => parsed,
        Err(error) => {
            // Stored before objects were checked to be objects (`[]`): it names nothing.
            tracing::warn!(%error, "a stored object is not a JSON object; it has no descendants");
            return Ok(Vec::new());
        }
    };
    let mut descendants = parsed.closure.map_or_else(Vec::new, |d| d.0);
    descendants.sort_unstable();
    Ok(descendants)
}

/// A closure's entries as (id, depth), read straight into a list.
struct Descendants(Vec<(String, i64)>);

impl<'de> Deserialize<'de> for Descendants {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Entries;
        impl<'de> Visitor<'de> for Entries {
            type Value = Descendants;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("an object of descendant ids and depths")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Descendants, A::Error> {
                let mut entries = Vec::with_capacity(map.size_hint().unwrap_or(0));
                while let Some((id, depth)) = map.next_entry::<String, serde_json::Value>()? {
                    entries.push((id, depth.as_i64().unwrap_or(1)));
                }
                Ok(Descendants(entries))
            }
        }
        deserializer.deserialize_map(Entries)
    }
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
/// `held` (the room the request's id list takes) is kept until the download ends.
pub fn download<H: Send + 'static>(
    db: DbPool,
    stream_id: String,
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
    async fn read(self, db: DbPool, stream_id: String) -> AppResult<Vec<Row>> {
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
    stream_id: &str,
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

#[cfg(test)]
mod id_list_tests {
    use proptest::prelude::*;

    use super::{parse_id_list, MAX_IDS_PER_REQUEST};
    use crate::error::AppError;

    fn form(text: &str) -> Vec<u8> {
        form_urlencoded::Serializer::new(String::new()).append_pair("objects", text).finish().into_bytes()
    }

    #[test]
    fn the_three_shapes_clients_send_are_read_and_a_list_past_the_cap_stops_there() {
        let ids = vec!["a1".to_owned(), "B2".to_owned()];
        let text = serde_json::to_string(&ids).unwrap();
        assert_eq!(parse_id_list(&form(&text), false).unwrap(), ids);
        // Python's json.dumps puts a space after each comma: a `+` in the form.
        assert_eq!(parse_id_list(&form(r#"["a1", "B2"]"#), false).unwrap(), ids);
        let json = serde_json::json!({ "objects": text }).to_string();
        assert_eq!(parse_id_list(json.as_bytes(), true).unwrap(), ids);
        let array = serde_json::json!({ "other": 1, "objects": ids }).to_string();
        assert_eq!(parse_id_list(array.as_bytes(), true).unwrap(), ids);
        let many = format!("[{}\"a\"]", "\"a\",".repeat(MAX_IDS_PER_REQUEST));
        assert!(matches!(parse_id_list(&form(&many), false), Err(AppError::TooLarge(_))));
        assert!(matches!(parse_id_list(&form(r#"["a\tb"]"#), false), Err(AppError::BadInput(_))));
        assert!(matches!(parse_id_list(b"objects=%5B", false), Err(AppError::BadInput(_))));
        assert!(matches!(parse_id_list(b"nothing=1", false), Err(AppError::BadInput(_))));
    }

    proptest! {
        /// Whatever the body, an answer: the ids, or a 4xx; never a panic.
        #[test]
        fn any_body_is_read_or_refused(body in prop::collection::vec(any::<u8>(), 0..200), is_json: bool) {
            let _ = parse_id_list(&body, is_json);
            let mut field = b"objects=".to_vec();
            field.extend(&body);
            let _ = parse_id_list(&field, false);
        }

        /// Any list of ids survives its trip through a form and through JSON.
        #[test]
        fn ids_round_trip(ids in prop::collection::vec("[a-zA-Z0-9]{1,64}", 0..20)) {
            let text = serde_json::to_string(&ids).unwrap();
            prop_assert_eq!(&parse_id_list(&form(&text), false).unwrap(), &ids);
            let json = serde_json::json!({ "objects": text }).to_string();
            prop_assert_eq!(&parse_id_list(json.as_bytes(), true).unwrap(), &ids);
        }
    }
}
