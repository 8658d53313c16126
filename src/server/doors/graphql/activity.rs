//! Speckle's activity fields (`Stream`, `Branch`, `Commit`, `User` and `LimitedUser`'s
//! `activity`): what happened, by whom and when, as `domain::history` recorded it.

use async_graphql::{Context, SimpleObject, ID};

use super::{charge_read, db, to_api, DateTime, JsonObject};
use crate::server::db::models;
use crate::server::domain::history::{self, Filter, Of};

/// A page of activity, newest first.
#[derive(SimpleObject, Default)]
pub struct ActivityCollection {
    pub(super) total_count: i32,
    /// The time of the page's last item: the next page is what happened before it.
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

impl From<models::StreamActivity> for Activity {
    fn from(row: models::StreamActivity) -> Activity {
        Activity {
            id: ID(row.id),
            action_type: row.action_type,
            info: JsonObject(serde_json::from_str(&row.info).unwrap_or_default()),
            user_id: row.user_id.to_string(),
            stream_id: Some(row.stream_id.to_string()),
            resource_id: row.resource_id,
            resource_type: row.resource_type,
            time: DateTime(row.at),
            message: row.message,
        }
    }
}

/// Speckle's arguments of every `activity` field.
pub(super) struct ActivityArgs {
    pub action_type: Option<String>,
    pub after: Option<DateTime>,
    pub before: Option<DateTime>,
    pub cursor: Option<DateTime>,
    pub limit: i32,
}

/// The page of `of`'s activity these arguments ask for (the caller was checked for it).
pub(super) async fn activity_of(
    ctx: &Context<'_>,
    of: Of<'_>,
    args: ActivityArgs,
) -> async_graphql::Result<ActivityCollection> {
    let time = |at: Option<DateTime>| at.map(|at| at.0);
    let filter =
        Filter::new(args.action_type, time(args.after), time(args.before), time(args.cursor), args.limit)
            .map_err(to_api)?;
    let (rows, total) = history::page(&mut *db(ctx).await?, of, &filter).await.map_err(to_api)?;
    charge_read(ctx, rows.iter().map(|row| row.info.len() + row.message.len() + 128).sum())?;
    let cursor = (rows.len() as i64 == filter.limit)
        .then(|| rows.last().map(|row| crate::server::db::iso8601(row.at)))
        .flatten();
    Ok(ActivityCollection {
        total_count: i32::try_from(total).unwrap_or(i32::MAX),
        cursor,
        items: rows.into_iter().map(Activity::from).collect(),
    })
}
