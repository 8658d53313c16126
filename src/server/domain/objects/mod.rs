//! The object domain: Speckle objects stored once per stream by id, as the client sent them.
//! An object's `__closure` names every descendant (with its depth), so sending a commit's
//! root object and its closure moves the whole tree. The transport's REST routes and the
//! GraphQL `object` fields both read and write through here.
//!
//! What a client sends is read in `parse` (objects, batches, id lists, never a panic); a
//! closure is sent back in `download`.

mod download;
mod parse;

pub use download::*;
pub use parse::*;

use std::borrow::Cow;
use std::collections::HashSet;
use std::fmt;

use diesel::prelude::*;
use diesel_async::RunQueryDsl;
use serde::de::{MapAccess, Visitor};
use serde::{Deserialize, Deserializer};

use crate::db_run;
use crate::rules::error::AppResult;
use crate::server::db::schema::objects;
use crate::server::db::{insert_objects, models, DbConn, StreamId};

/// The most bytes of JSON one upload batch may hold, uncompressed (a bigger one is a 413).
/// Speckle's clients send batches of about 1 MB; one object may be as big as a batch.
pub const MAX_BATCH_BYTES: usize = 10 * 1024 * 1024;
/// Ids looked up per query.
const LOOKUP_IDS: usize = 500;

/// Stores objects in one transaction: all of them, or (on any error) none. An object the
/// stream already holds is kept as it was: an id is a hash of the content.
pub async fn store(
    conn: &mut DbConn,
    stream_id: &StreamId,
    objects: Vec<ParsedObject<'_>>,
) -> AppResult<usize> {
    let rows = rows(stream_id, objects, conn.now());
    let count = rows.len();
    insert_objects(conn, rows).await?;
    Ok(count)
}

/// Reads a batch (a JSON array of objects) and stores it (see [`store`]), letting go of its
/// text before the objects are written.
pub async fn store_batch(conn: &mut DbConn, stream_id: &StreamId, text: String) -> AppResult<usize> {
    let rows = rows(stream_id, parse_batch(&text)?, conn.now());
    drop(text);
    let count = rows.len();
    insert_objects(conn, rows).await?;
    Ok(count)
}

/// The rows that store these objects, owning their text.
fn rows(stream_id: &StreamId, objects: Vec<ParsedObject<'_>>, now: i64) -> Vec<models::NewObject> {
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
pub async fn existing(conn: &mut DbConn, stream_id: &StreamId, ids: &[String]) -> AppResult<HashSet<String>> {
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
pub async fn find(conn: &mut DbConn, stream_id: &StreamId, id: &str) -> AppResult<Option<StoredObject>> {
    Ok(db_run!(conn, |c| {
        objects::table.find((stream_id, id)).select(StoredObject::as_select()).first(c).await.optional()
    })?)
}

/// What the stream's objects with these ids weigh, in bytes of JSON (those it holds).
pub async fn sizes(conn: &mut DbConn, stream_id: &StreamId, ids: &[String]) -> AppResult<Vec<i64>> {
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
pub async fn find_many(
    conn: &mut DbConn,
    stream_id: &StreamId,
    ids: &[String],
) -> AppResult<Vec<StoredObject>> {
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
pub async fn count(conn: &mut DbConn, stream_id: &StreamId) -> AppResult<i64> {
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
