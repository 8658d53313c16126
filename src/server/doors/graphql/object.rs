//! Objects: Speckle's `Object` (with its children and dotted-path selections) and
//! `objectCreate`.

use async_graphql::{Context, InputObject, Object, SimpleObject};

use super::{charge_read, db, limits, require, to_api, DateTime, JsonObject};
use crate::rules::error::{bad_input, not_found, AppError};
use crate::rules::limits::{DEFAULT_CHILDREN_PAGE, MAX_CHILDREN_PAGE};
use crate::rules::scopes::Scope;
use crate::server::db::StreamId;
use crate::server::domain::objects::{self, StoredObject};
use crate::server::domain::streams;

/// A Speckle object (`Object` in Speckle's schema).
pub struct SpeckleObject {
    pub(super) object: StoredObject,
    pub(super) stream_id: StreamId,
}

#[derive(SimpleObject)]
pub struct ObjectCollection {
    pub(super) total_count: i64,
    pub(super) cursor: Option<String>,
    pub(super) objects: Vec<SpeckleObject>,
}

#[Object(name = "Object")]
impl SpeckleObject {
    async fn id(&self) -> &str {
        &self.object.id
    }
    async fn speckle_type(&self) -> Option<&str> {
        self.object.speckle_type.as_deref()
    }
    async fn application_id(&self) -> async_graphql::Result<Option<String>> {
        Ok(self.json()?.get("applicationId").and_then(|v| v.as_str()).map(str::to_owned))
    }
    async fn created_at(&self) -> Option<DateTime> {
        Some(DateTime(self.object.created_at))
    }
    async fn total_children_count(&self) -> Option<i64> {
        Some(self.object.total_children_count)
    }
    /// The whole object, as it was sent.
    async fn data(&self) -> async_graphql::Result<Option<JsonObject>> {
        Ok(Some(JsonObject(self.json()?)))
    }
    /// The descendants its closure names, by id, down to `depth`; `select` picks fields
    /// (dotted paths) of each.
    #[expect(clippy::too_many_arguments, reason = "the arguments of Speckle's Object.children")]
    #[graphql(complexity = "limits::paged(limit, child_complexity)")]
    async fn children(
        &self,
        ctx: &Context<'_>,
        #[graphql(default_with = "DEFAULT_CHILDREN_PAGE")] limit: i32,
        #[graphql(default = 50)] depth: i32,
        select: Option<Vec<Option<String>>>,
        cursor: Option<String>,
        query: Option<Vec<JsonObject>>,
        order_by: Option<JsonObject>,
    ) -> async_graphql::Result<ObjectCollection> {
        if query.is_some() || order_by.is_some() {
            return Err(to_api(bad_input("children: query and orderBy are not supported on this server.")));
        }
        if !(0..=MAX_CHILDREN_PAGE).contains(&limit) {
            return Err(to_api(bad_input(format!("limit must be between 0 and {MAX_CHILDREN_PAGE}."))));
        }
        let closure = objects::closure(&self.object.data).map_err(to_api)?;
        let within: Vec<String> =
            closure.into_iter().filter(|(_, at)| *at < i64::from(depth)).map(|(id, _)| id).collect();
        let total_count = within.len() as i64;
        let after = cursor.unwrap_or_default();
        let page: Vec<String> = within.into_iter().filter(|id| *id > after).take(limit as usize).collect();
        // What the page's objects weigh is read (and charged) before they are.
        let sizes = objects::sizes(&mut *db(ctx).await?, &self.stream_id, &page).await.map_err(to_api)?;
        charge_read(ctx, sizes.iter().map(|size| usize::try_from(*size).unwrap_or(usize::MAX)).sum())?;
        let found = objects::find_many(&mut *db(ctx).await?, &self.stream_id, &page).await.map_err(to_api)?;
        let mut children = Vec::with_capacity(found.len());
        for mut object in found {
            if let Some(fields) = &select {
                object.data = picked(&object.data, fields.iter().flatten())?.to_string();
            }
            children.push(SpeckleObject { object, stream_id: self.stream_id.clone() });
        }
        let cursor = (page.len() == limit as usize && limit > 0).then(|| page.last().cloned()).flatten();
        Ok(ObjectCollection { total_count, cursor, objects: children })
    }
    async fn comment_count(&self) -> i32 {
        0
    }
}

impl SpeckleObject {
    fn json(&self) -> async_graphql::Result<serde_json::Value> {
        serde_json::from_str(&self.object.data).map_err(|_| to_api(not_found("Object")))
    }
}

/// The fields at these dotted paths of an object's JSON, as a new object of the same shape
/// (a number in a path indexes an array). A path inside one already picked whole adds
/// nothing; a path that names nothing is left out. Never fails on what a client sends.
fn picked<'a>(
    data: &str,
    paths: impl Iterator<Item = &'a String>,
) -> async_graphql::Result<serde_json::Value> {
    let whole: serde_json::Value = serde_json::from_str(data).map_err(|_| to_api(not_found("Object")))?;
    let mut out = serde_json::Map::new();
    for path in paths {
        let parts: Vec<&str> = path.split('.').collect();
        let pointer: String =
            parts.iter().map(|part| format!("/{}", part.replace('~', "~0").replace('/', "~1"))).collect();
        if let Some(value) = whole.pointer(&pointer) {
            put_at(&mut out, &parts, value.clone());
        }
    }
    Ok(serde_json::Value::Object(out))
}

/// Puts `value` at `path` in `out`, making the objects on the way; stops at a value that is
/// not an object (a shorter path picked it whole, and it holds this one already).
fn put_at(out: &mut serde_json::Map<String, serde_json::Value>, path: &[&str], value: serde_json::Value) {
    let Some((last, parents)) = path.split_last() else { return };
    let mut at = out;
    for part in parents {
        let next =
            at.entry((*part).to_owned()).or_insert_with(|| serde_json::Value::Object(Default::default()));
        match next {
            serde_json::Value::Object(map) => at = map,
            _ => return,
        }
    }
    at.insert((*last).to_owned(), value);
}

#[derive(InputObject)]
pub struct ObjectCreateInput {
    pub(super) stream_id: String,
    pub(super) objects: Vec<Option<JsonObject>>,
}

/// The root mutation's object fields.
#[derive(Default)]
pub struct ObjectMutation;

#[Object]
impl ObjectMutation {
    /// Stores objects on a stream (owners and contributors); answers their ids. Large sets
    /// go through the object transport (`POST /objects/:streamId`) instead.
    async fn object_create(
        &self,
        ctx: &Context<'_>,
        object_input: ObjectCreateInput,
    ) -> async_graphql::Result<Vec<String>> {
        let caller = require(ctx, Scope::StreamsWrite)?;
        let mut conn = db(ctx).await?;
        let stream_id = &StreamId::from(object_input.stream_id);
        streams::readable(&mut conn, stream_id, Some(caller.actor()))
            .await
            .and_then(|access| access.require_write("send objects"))
            .map_err(to_api)?;
        let texts: Vec<String> = object_input
            .objects
            .into_iter()
            .map(|object| object.map_or_else(|| "null".to_owned(), |JsonObject(value)| value.to_string()))
            .collect();
        let batch: Vec<_> = texts
            .iter()
            .map(|text| objects::parse_object(text))
            .collect::<Result<_, AppError>>()
            .map_err(to_api)?;
        let ids = batch.iter().map(|object| object.id.to_string()).collect();
        objects::store(&mut conn, stream_id, batch).await.map_err(to_api)?;
        Ok(ids)
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::picked;

    #[test]
    fn a_path_inside_one_picked_whole_adds_nothing() {
        let data = r#"{"a": [1, {"b": 2}], "c": {"d": 3, "e": 4}}"#;
        let select = |paths: &[&str]| {
            let paths: Vec<String> = paths.iter().map(|p| p.to_string()).collect();
            picked(data, paths.iter()).unwrap()
        };
        assert_eq!(select(&["a", "a.0"]), serde_json::json!({"a": [1, {"b": 2}]}));
        assert_eq!(select(&["a.1.b"]), serde_json::json!({"a": {"1": {"b": 2}}}));
        assert_eq!(select(&["c.d", "c"]), serde_json::json!({"c": {"d": 3, "e": 4}}));
        assert_eq!(select(&["nothing.here", ""]), serde_json::json!({}));
    }

    fn json() -> impl Strategy<Value = serde_json::Value> {
        let leaf = prop_oneof![
            Just(serde_json::Value::Null),
            any::<bool>().prop_map(serde_json::Value::from),
            any::<i32>().prop_map(serde_json::Value::from),
            "[a-c0-2]{0,2}".prop_map(serde_json::Value::from),
        ];
        leaf.prop_recursive(4, 32, 4, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..4).prop_map(serde_json::Value::from),
                prop::collection::btree_map("[a-c0-2~/]{0,2}", inner, 0..4)
                    .prop_map(|map| serde_json::Value::Object(map.into_iter().collect())),
            ]
        })
    }

    proptest! {
        /// Any selection over any object answers an object, never a panic.
        #[test]
        fn any_selection_of_any_object_is_an_object(
            fields in prop::collection::btree_map("[a-c0-2~/]{0,2}", json(), 0..4),
            paths in prop::collection::vec("[a-c0-2.~/]{0,6}", 0..6),
        ) {
            let data = serde_json::Value::Object(fields.into_iter().collect()).to_string();
            let out = picked(&data, paths.iter()).unwrap();
            prop_assert!(out.is_object());
        }
    }
}
