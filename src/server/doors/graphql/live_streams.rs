//! The stream era's subscriptions (`userStreamAdded`, `streamUpdated`, `branchCreated`,
//! `commitCreated`…), on the feeds of `live.rs`: the same events, shown as Speckle's 2.x
//! server shows them, as JSON.

use async_graphql::{Context, Subscription};
use futures_util::Stream;
use serde_json::json;

use super::live::{
    branch_changes, branch_of, commit_changes, commit_of, membership, stream_changes, subscribed_stream,
    Feed, Membership, Needs,
};
use super::{require, JsonObject};
use crate::rules::scopes::Scope;
use crate::server::db::events::{Change, Event};
use crate::server::db::{iso8601, models, BranchId, CommitId, StreamId};
use crate::server::domain::commits;
use crate::server::domain::streams::Access;
use crate::server::domain::tokens::Caller;

/// A stream as the stream era's JSON payloads show it.
fn stream_json(access: &Access) -> serde_json::Value {
    let stream = &access.stream;
    json!({
        "id": stream.id,
        "name": stream.name,
        "description": stream.description,
        "isPublic": stream.is_public,
        "createdAt": iso8601(stream.created_at),
        "updatedAt": iso8601(stream.updated_at),
        "role": access.role.map(|role| role.name()),
    })
}

fn commit_json(view: &commits::CommitView) -> serde_json::Value {
    let commit = &view.commit;
    let parents: Option<Vec<String>> = commit.parents.as_deref().and_then(|p| serde_json::from_str(p).ok());
    json!({
        "id": commit.id,
        "streamId": commit.stream_id,
        "branchName": commit.branch_name,
        "objectId": commit.referenced_object,
        "message": commit.message,
        "sourceApplication": commit.source_application,
        "totalChildrenCount": commit.total_children_count,
        "parents": parents,
        "authorId": commit.author_id,
        "createdAt": iso8601(commit.created_at),
    })
}

fn branch_json(branch: &models::Branch) -> serde_json::Value {
    json!({
        "id": branch.id,
        "streamId": branch.stream_id,
        "name": branch.name,
        "description": branch.description,
        "authorId": branch.author_id,
    })
}

/// The stream era's subscriptions (their payloads are JSON, as Speckle's are).
#[derive(Default)]
pub struct StreamSubscription;

#[Subscription]
impl StreamSubscription {
    /// The stream era's: a stream the token's user comes onto (`sharedBy` who gave it).
    async fn user_stream_added(
        &self,
        ctx: &Context<'_>,
    ) -> async_graphql::Result<impl Stream<Item = Option<JsonObject>>> {
        let caller = require(ctx, Scope::ProfileRead)?;
        let feed = Feed::start(ctx)?;
        let pick = joined_or_left(caller, true);
        Ok(feed.into_stream(pick, |_, Membership { by, .. }, access| async move {
            let mut shown = stream_json(&access?);
            if let Some(by) = by {
                shown["sharedBy"] = json!(by);
            }
            Some(Some(JsonObject(shown)))
        }))
    }

    /// The stream era's: a stream the token's user leaves (`revokedBy` who took it away).
    async fn user_stream_removed(
        &self,
        ctx: &Context<'_>,
    ) -> async_graphql::Result<impl Stream<Item = Option<JsonObject>>> {
        let caller = require(ctx, Scope::ProfileRead)?;
        let feed = Feed::start(ctx)?;
        let pick = joined_or_left(caller, false);
        Ok(feed.into_stream(pick, |_, Membership { stream, by, .. }, _| async move {
            let mut shown = json!({ "id": stream });
            if let Some(by) = by {
                shown["revokedBy"] = json!(by);
            }
            Some(Some(JsonObject(shown)))
        }))
    }

    /// The stream era's: the stream's name, description or visibility changed.
    async fn stream_updated(
        &self,
        ctx: &Context<'_>,
        stream_id: Option<String>,
    ) -> async_graphql::Result<impl Stream<Item = Option<JsonObject>>> {
        let id = StreamId::from(stream_id.unwrap_or_default());
        subscribed_stream(ctx, &id).await?;
        let feed = Feed::start(ctx)?;
        let changes = stream_changes(id);
        let pick = move |event: &Event| changes(event).filter(|(change, _)| *change == Change::Updated);
        Ok(feed
            .into_stream(pick, |_, _, access| async move { Some(Some(JsonObject(stream_json(&access?)))) }))
    }

    /// The stream era's: the stream was deleted.
    async fn stream_deleted(
        &self,
        ctx: &Context<'_>,
        stream_id: Option<String>,
    ) -> async_graphql::Result<impl Stream<Item = Option<JsonObject>>> {
        let id = StreamId::from(stream_id.unwrap_or_default());
        subscribed_stream(ctx, &id).await?;
        let feed = Feed::start(ctx)?;
        let changes = stream_changes(id.clone());
        let pick = move |event: &Event| changes(event).filter(|(change, _)| *change == Change::Deleted);
        Ok(feed.into_stream(pick, move |_, _, _| {
            let id = id.clone();
            async move { Some(Some(JsonObject(json!({ "streamId": id })))) }
        }))
    }

    /// The stream era's: a branch was created.
    async fn branch_created(
        &self,
        ctx: &Context<'_>,
        stream_id: String,
    ) -> async_graphql::Result<impl Stream<Item = Option<JsonObject>>> {
        self.branch_feed(ctx, stream_id, Change::Created, None).await
    }

    /// The stream era's: a branch (this one, if named) was updated.
    async fn branch_updated(
        &self,
        ctx: &Context<'_>,
        stream_id: String,
        branch_id: Option<String>,
    ) -> async_graphql::Result<impl Stream<Item = Option<JsonObject>>> {
        self.branch_feed(ctx, stream_id, Change::Updated, branch_id.map(BranchId::from)).await
    }

    /// The stream era's: a branch was deleted.
    async fn branch_deleted(
        &self,
        ctx: &Context<'_>,
        stream_id: String,
    ) -> async_graphql::Result<impl Stream<Item = Option<JsonObject>>> {
        self.branch_feed(ctx, stream_id, Change::Deleted, None).await
    }

    /// The stream era's: a commit was created.
    async fn commit_created(
        &self,
        ctx: &Context<'_>,
        stream_id: String,
    ) -> async_graphql::Result<impl Stream<Item = Option<JsonObject>>> {
        self.commit_feed(ctx, stream_id, Change::Created, None).await
    }

    /// The stream era's: a commit (this one, if named) was updated.
    async fn commit_updated(
        &self,
        ctx: &Context<'_>,
        stream_id: String,
        commit_id: Option<String>,
    ) -> async_graphql::Result<impl Stream<Item = Option<JsonObject>>> {
        self.commit_feed(ctx, stream_id, Change::Updated, commit_id.map(CommitId::from)).await
    }

    /// The stream era's: a commit was deleted.
    async fn commit_deleted(
        &self,
        ctx: &Context<'_>,
        stream_id: String,
    ) -> async_graphql::Result<impl Stream<Item = Option<JsonObject>>> {
        self.commit_feed(ctx, stream_id, Change::Deleted, None).await
    }
}

/// The user's joining (or leaving) streams, for the stream era's two user subscriptions.
fn joined_or_left(caller: &Caller, wanted: bool) -> impl Fn(&Event) -> Option<(Membership, Needs)> {
    let member = membership(caller.user_id.clone(), caller.limit.clone());
    move |event| member(event).filter(|(membership, _)| membership.joined == wanted)
}

impl StreamSubscription {
    /// The stream era's branch subscriptions: one kind of change, of one branch if named.
    async fn branch_feed(
        &self,
        ctx: &Context<'_>,
        stream_id: String,
        wanted: Change,
        only: Option<BranchId>,
    ) -> async_graphql::Result<impl Stream<Item = Option<JsonObject>> + use<>> {
        let id = StreamId::from(stream_id);
        subscribed_stream(ctx, &id).await?;
        let feed = Feed::start(ctx)?;
        let changes = branch_changes(id);
        let pick = move |event: &Event| {
            changes(event).filter(|((branch, change), _)| {
                *change == wanted && only.as_ref().is_none_or(|only| only == branch)
            })
        };
        Ok(feed.into_stream(pick, |db, (branch, change), access| async move {
            let access = access?;
            let shown = match change {
                Change::Deleted => json!({ "id": branch, "streamId": access.stream.id }),
                _ => branch_json(&branch_of(&db, &access.stream.id, &branch).await?),
            };
            Some(Some(JsonObject(shown)))
        }))
    }

    /// The stream era's commit subscriptions: one kind of change, of one commit if named.
    async fn commit_feed(
        &self,
        ctx: &Context<'_>,
        stream_id: String,
        wanted: Change,
        only: Option<CommitId>,
    ) -> async_graphql::Result<impl Stream<Item = Option<JsonObject>> + use<>> {
        let id = StreamId::from(stream_id);
        subscribed_stream(ctx, &id).await?;
        let feed = Feed::start(ctx)?;
        let changes = commit_changes(id);
        let pick = move |event: &Event| {
            changes(event).filter(|((_, commit, change), _)| {
                *change == wanted && only.as_ref().is_none_or(|only| only == commit)
            })
        };
        Ok(feed.into_stream(pick, |db, (_, commit, change), access| async move {
            let access = access?;
            let shown = match change {
                Change::Deleted => json!({ "id": commit, "streamId": access.stream.id }),
                _ => commit_json(&commit_of(&db, &access.stream.id, &commit).await?),
            };
            Some(Some(JsonObject(shown)))
        }))
    }
}
