//! Commits: `Commit`, the paged list of a branch or stream, and the commit mutations.

use std::sync::Arc;

use async_graphql::{Context, InputObject, Object, SimpleObject};

use super::{
    activity_of, avatars_if, db, limits, reader, require, to_api, ActivityArgs, ActivityCollection, Avatar,
    Branch, DateTime, Paged, Stream,
};
use crate::rules::limits::{DEFAULT_PAGE, MAX_COMMIT_MESSAGE_BYTES};
use crate::rules::scopes::Scope;
use crate::server::db::{models, CommitId, StreamId, UserId};
use crate::server::domain::branches;
use crate::server::domain::commits::{self, CommitInput, CommitView};
use crate::server::domain::history::Of;
use crate::server::domain::pagination::Order;
use crate::server::domain::streams;

/// What a commit read to answer weighs (its author's avatar is read apart, when asked for).
pub(super) fn commit_bytes(view: &CommitView) -> usize {
    limits::row_bytes([Some(view.commit.message.as_str()), Some(&view.author_name)])
}

#[derive(SimpleObject)]
pub struct CommitCollection {
    pub total_count: i64,
    pub cursor: Option<String>,
    pub items: Option<Vec<Commit>>,
}

impl CommitCollection {
    /// A stream's commits, or one branch's, newest first.
    pub(super) async fn of(
        ctx: &Context<'_>,
        stream: &models::Stream,
        branch: Option<&str>,
        limit: i32,
        cursor: Option<String>,
    ) -> async_graphql::Result<CommitCollection> {
        let total_count = count_commits(ctx, stream, branch).await?;
        let (rows, cursor) = page_of_commits(ctx, stream, branch, &[], limit, cursor).await?;
        // Each author's avatar once, however many of the page's commits they made.
        let wanted = ctx.look_ahead().field("items").field("authorAvatar").exists();
        let mut authors: Vec<&UserId> = rows.iter().map(|view| &view.commit.author_id).collect();
        authors.sort_unstable();
        authors.dedup();
        let avatars = avatars_if(ctx, wanted, &authors).await?;
        let items = rows
            .into_iter()
            .map(|view| {
                let avatar = wanted.then(|| avatars.get(&view.commit.author_id).cloned());
                Commit { view, stream: stream.clone(), avatar }
            })
            .collect();
        Ok(CommitCollection { total_count, cursor, items: Some(items) })
    }
}

/// How many commits the stream has, or one branch.
pub(super) async fn count_commits(
    ctx: &Context<'_>,
    stream: &models::Stream,
    branch: Option<&str>,
) -> async_graphql::Result<i64> {
    commits::count_commits(&mut *db(ctx).await?, &stream.id, branch).await.map_err(to_api)
}

/// A page of the stream's commits (or one branch's), newest first, leaving out `except`:
/// the one read of both eras' lists (`Stream.commits`, `Model.versions`…).
pub(super) async fn page_of_commits(
    ctx: &Context<'_>,
    stream: &models::Stream,
    branch: Option<&str>,
    except: &[CommitId],
    limit: i32,
    cursor: Option<String>,
) -> async_graphql::Result<(Vec<CommitView>, Option<String>)> {
    // Messages may be long: room for a page of the longest is taken before it is read.
    let paged = Paged::new(Some(limit), cursor, Order::NewestFirst, MAX_COMMIT_MESSAGE_BYTES + 1024)?;
    paged
        .read(
            ctx,
            |pool, page| async move { commits::page_of_commits(&pool, &stream.id, branch, except, &page).await },
            |(rows, _)| rows.iter().map(commit_bytes).sum(),
        )
        .await
}

pub struct Commit {
    pub(super) view: CommitView,
    pub(super) stream: models::Stream,
    pub(super) avatar: Avatar,
}

impl Commit {
    pub(super) fn new(view: CommitView, stream: &models::Stream) -> Commit {
        Commit { view, stream: stream.clone(), avatar: None }
    }
}

#[Object]
impl Commit {
    async fn id(&self) -> &str {
        self.view.commit.id.as_str()
    }
    async fn referenced_object(&self) -> &str {
        &self.view.commit.referenced_object
    }
    async fn message(&self) -> Option<&str> {
        Some(&self.view.commit.message)
    }
    async fn source_application(&self) -> Option<&str> {
        self.view.commit.source_application.as_deref()
    }
    async fn total_children_count(&self) -> Option<i64> {
        self.view.commit.total_children_count
    }
    async fn branch_name(&self) -> Option<&str> {
        Some(&self.view.commit.branch_name)
    }
    async fn branch(&self, ctx: &Context<'_>) -> async_graphql::Result<Option<Branch>> {
        let name = &self.view.commit.branch_name;
        let found = branches::find(&mut *db(ctx).await?, &self.stream.id, name).await.map_err(to_api)?;
        Ok(found.map(|branch| Branch { branch, stream: self.stream.clone() }))
    }
    async fn parents(&self) -> Option<Vec<Option<String>>> {
        let parents = self.view.commit.parents.as_deref()?;
        let parents: Vec<String> = serde_json::from_str(parents).ok()?;
        Some(parents.into_iter().map(Some).collect())
    }
    async fn author_id(&self) -> Option<&str> {
        Some(self.view.commit.author_id.as_str())
    }
    async fn author_name(&self) -> Option<&str> {
        Some(&self.view.author_name)
    }
    async fn author_avatar(&self, ctx: &Context<'_>) -> async_graphql::Result<Option<Arc<str>>> {
        if let Some(read) = &self.avatar {
            return Ok(read.clone());
        }
        let author = &self.view.commit.author_id;
        Ok(avatars_if(ctx, true, &[author]).await?.remove(author))
    }
    async fn created_at(&self) -> Option<DateTime> {
        Some(DateTime(self.view.commit.created_at))
    }
    async fn stream_id(&self) -> Option<&str> {
        Some(self.stream.id.as_str())
    }
    async fn stream_name(&self) -> Option<&str> {
        Some(&self.stream.name)
    }
    /// The commit's stream (`streams:read`, or a public stream).
    async fn stream(&self, ctx: &Context<'_>) -> async_graphql::Result<Stream> {
        let access = streams::readable_by(&mut *db(ctx).await?, &self.stream.id, reader(ctx)?)
            .await
            .map_err(to_api)?;
        Ok(Stream::from(access))
    }
    async fn comment_count(&self) -> i32 {
        0
    }
    #[graphql(complexity = "limits::paged(limit, child_complexity)")]
    async fn activity(
        &self,
        ctx: &Context<'_>,
        action_type: Option<String>,
        after: Option<DateTime>,
        before: Option<DateTime>,
        cursor: Option<DateTime>,
        #[graphql(default_with = "DEFAULT_PAGE")] limit: i32,
    ) -> async_graphql::Result<Option<ActivityCollection>> {
        let args = ActivityArgs { action_type, after, before, cursor, limit };
        activity_of(
            ctx,
            Of::Resource { stream: &self.stream.id, resource: self.view.commit.id.as_str() },
            args,
        )
        .await
        .map(Some)
    }
}

#[derive(InputObject)]
pub struct CommitCreateInput {
    pub(super) stream_id: String,
    /// `main` when not given.
    pub(super) branch_name: Option<String>,
    pub(super) object_id: String,
    pub(super) message: Option<String>,
    pub(super) source_application: Option<String>,
    pub(super) total_children_count: Option<i32>,
    /// Use `parents`.
    pub(super) previous_commit_ids: Option<Vec<Option<String>>>,
    pub(super) parents: Option<Vec<Option<String>>>,
}

#[derive(InputObject)]
pub struct CommitUpdateInput {
    pub(super) stream_id: String,
    pub(super) id: String,
    pub(super) message: Option<String>,
    /// Moves the commit to the branch of this name.
    pub(super) new_branch_name: Option<String>,
}

#[derive(InputObject)]
pub struct CommitReceivedInput {
    pub(super) stream_id: String,
    pub(super) commit_id: String,
    pub(super) source_application: String,
    pub(super) message: Option<String>,
}

#[derive(InputObject)]
pub struct CommitDeleteInput {
    pub(super) stream_id: String,
    pub(super) id: String,
}

/// The root mutation's commit fields.
#[derive(Default)]
pub struct CommitMutation;

#[Object]
impl CommitMutation {
    /// Creates a commit on a branch (owners and contributors); answers its id.
    async fn commit_create(
        &self,
        ctx: &Context<'_>,
        commit: CommitCreateInput,
    ) -> async_graphql::Result<String> {
        let caller = require(ctx, Scope::StreamsWrite)?;
        let parents =
            commit.parents.or(commit.previous_commit_ids).map(|p| p.into_iter().flatten().collect());
        let input = CommitInput {
            branch_name: commit.branch_name,
            object_id: commit.object_id,
            message: commit.message,
            source_application: commit.source_application,
            total_children_count: commit.total_children_count.map(i64::from),
            parents,
        };
        let stream_id = StreamId::from(commit.stream_id);
        let created = commits::create_commit(&mut *db(ctx).await?, caller.actor(), &stream_id, input).await;
        created.map(String::from).map_err(to_api)
    }

    /// Changes a commit's message or branch (owners, or its author).
    async fn commit_update(
        &self,
        ctx: &Context<'_>,
        commit: CommitUpdateInput,
    ) -> async_graphql::Result<bool> {
        let caller = require(ctx, Scope::StreamsWrite)?;
        let c = commit;
        commits::update_commit(
            &mut *db(ctx).await?,
            caller.actor(),
            &c.stream_id.into(),
            &c.id.into(),
            c.message,
            c.new_branch_name.as_deref(),
        )
        .await
        .map_err(to_api)?;
        Ok(true)
    }

    /// Says that a commit was received by an application (`streams:read`).
    async fn commit_receive(
        &self,
        ctx: &Context<'_>,
        input: CommitReceivedInput,
    ) -> async_graphql::Result<bool> {
        let caller = require(ctx, Scope::StreamsRead)?;
        let _ = (input.source_application, input.message);
        let (stream_id, commit_id) = (input.stream_id.into(), input.commit_id.into());
        commits::received(&mut *db(ctx).await?, caller.actor(), &stream_id, &commit_id)
            .await
            .map_err(to_api)?;
        Ok(true)
    }

    /// Deletes a commit (owners, or its author).
    async fn commit_delete(
        &self,
        ctx: &Context<'_>,
        commit: CommitDeleteInput,
    ) -> async_graphql::Result<bool> {
        let caller = require(ctx, Scope::StreamsWrite)?;
        let (stream_id, commit_id) = (commit.stream_id.into(), commit.id.into());
        commits::delete_commit(&mut *db(ctx).await?, caller.actor(), &stream_id, &commit_id)
            .await
            .map_err(to_api)?;
        Ok(true)
    }
}
