//! Speckle's activity fields: accepted (and `limit` checked), always empty here.

use async_graphql::{SimpleObject, ID};

use super::{to_api, DateTime, JsonObject};
use crate::rules::error::bad_input;
use crate::rules::limits::MAX_PAGE;

/// Speckle's activity stream: not kept here, so always empty.
#[derive(SimpleObject, Default)]
pub struct ActivityCollection {
    pub(super) total_count: i32,
    pub(super) cursor: Option<String>,
    pub(super) items: Vec<Activity>,
}

#[derive(SimpleObject)]
pub struct Activity {
    pub(super) id: ID,
    pub(super) action_type: String,
    pub(super) info: JsonObject,
    pub(super) user_id: String,
    pub(super) stream_id: Option<String>,
    pub(super) resource_id: String,
    pub(super) resource_type: String,
    pub(super) time: DateTime,
    pub(super) message: String,
}

/// The answer of every `activity` field: its arguments are accepted (and `limit` checked),
/// though nothing is kept.
pub(super) fn no_activity(limit: i32) -> async_graphql::Result<ActivityCollection> {
    if !(0..=MAX_PAGE).contains(&limit) {
        return Err(to_api(bad_input(format!("limit must be between 0 and {MAX_PAGE}."))));
    }
    Ok(ActivityCollection::default())
}
