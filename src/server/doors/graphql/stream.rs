//! Streams: `Stream`, its collaborators, the root fields that read, create, share and
//! delete streams (invitations are in `invite.rs`).

use std::sync::Arc;

use async_graphql::{Context, InputObject, Object, SimpleObject};

use super::{
    activity_of, avatars_if, branch_bytes, charge_read, commit_bytes, db, invited, limits, reader, require,
    to_api, ActivityArgs, ActivityCollection, Branch, BranchCollection, Commit, CommitCollection, DateTime,
    Paged, PendingStreamCollaborator, SpeckleObject, UserStreamCollection, SERVER_ROLE,
};
use crate::rules::error::bad_input;
use crate::rules::limits::{DEFAULT_PAGE, MAIN_BRANCH};
use crate::rules::scopes::Scope;
use crate::server::db::sql::Search;
use crate::server::db::{models, UserId};
use crate::server::domain::branches;
use crate::server::domain::commits;
use crate::server::domain::favorites;
use crate::server::domain::history::Of;
use crate::server::domain::objects;
use crate::server::domain::pagination::Order;
use crate::server::domain::sharing;
use crate::server::domain::streams::{self, Access, Listing, Role, StreamFilter, StreamInput};

#[derive(SimpleObject)]
pub struct StreamCollection {
    pub(super) total_count: i64,
    pub(super) cursor: Option<String>,
    pub(super) items: Vec<Stream>,
}

/// What a stream read to answer weighs.
pub(super) fn stream_bytes(stream: &models::Stream) -> usize {
    limits::row_bytes([Some(stream.name.as_str()), Some(stream.description.as_str())])
}

/// A stream, with the caller's role on it (null for a public stream they only read).
pub struct Stream {
    pub(super) stream: models::Stream,
    pub(super) role: Option<String>,
}

impl From<Access> for Stream {
    fn from(access: Access) -> Self {
        Stream { stream: access.stream, role: access.role.map(|role| role.name().to_owned()) }
    }
}

impl Stream {
    pub(super) fn with_roles(rows: Vec<(models::Stream, String)>) -> Vec<Stream> {
        rows.into_iter().map(|(stream, role)| Stream { stream, role: Some(role) }).collect()
    }
}

#[derive(SimpleObject)]
pub struct StreamCollaborator {
    pub(super) id: String,
    pub(super) name: String,
    pub(super) role: String,
    pub(super) company: Option<String>,
    pub(super) avatar: Option<Arc<str>>,
    pub(super) server_role: String,
}

#[Object]
impl Stream {
    async fn id(&self) -> &str {
        self.stream.id.as_str()
    }
    async fn name(&self) -> &str {
        &self.stream.name
    }
    async fn description(&self) -> Option<&str> {
        Some(&self.stream.description)
    }
    async fn is_public(&self) -> bool {
        self.stream.is_public
    }
    async fn is_discoverable(&self) -> bool {
        false
    }
    async fn allow_public_comments(&self) -> bool {
        false
    }
    async fn role(&self) -> Option<&str> {
        self.role.as_deref()
    }
    async fn created_at(&self) -> DateTime {
        DateTime(self.stream.created_at)
    }
    async fn updated_at(&self) -> DateTime {
        DateTime(self.stream.updated_at)
    }
    #[graphql(complexity = "limits::at_most(limits::COLLABORATORS_COSTED, child_complexity)")]
    async fn collaborators(&self, ctx: &Context<'_>) -> async_graphql::Result<Vec<StreamCollaborator>> {
        let rows = streams::collaborators(&mut *db(ctx).await?, &self.stream.id).await.map_err(to_api)?;
        charge_read(
            ctx,
            rows.iter().map(|row| limits::row_bytes([Some(row.name.as_str()), row.company.as_deref()])).sum(),
        )?;
        let ids: Vec<&UserId> = rows.iter().map(|row| &row.id).collect();
        let mut avatars = avatars_if(ctx, ctx.look_ahead().field("avatar").exists(), &ids).await?;
        Ok(rows
            .into_iter()
            .map(|c| StreamCollaborator {
                avatar: avatars.remove(&c.id),
                id: c.id.into(),
                name: c.name,
                role: c.role,
                company: c.company,
                server_role: SERVER_ROLE.to_owned(),
            })
            .collect())
    }
    /// Those invited who have not answered yet (its owners only).
    #[graphql(
        complexity = "limits::at_most(crate::server::domain::invites::MAX_PENDING_LISTED as usize, child_complexity)"
    )]
    async fn pending_collaborators(
        &self,
        ctx: &Context<'_>,
    ) -> async_graphql::Result<Option<Vec<PendingStreamCollaborator>>> {
        let role = self.role.as_deref().and_then(Role::from_stored);
        invited(ctx, &self.stream, role).await.map(Some)
    }
    async fn size(&self) -> Option<String> {
        None
    }
    /// When the token's user marked it as a favourite, if they did.
    async fn favorited_date(&self, ctx: &Context<'_>) -> async_graphql::Result<Option<DateTime>> {
        let Ok(caller) = super::caller(ctx) else { return Ok(None) };
        let at = favorites::favorited_at(&mut *db(ctx).await?, &caller.user_id, &self.stream.id).await;
        Ok(at.map_err(to_api)?.map(DateTime))
    }
    /// How many users favour it.
    async fn favorites_count(&self, ctx: &Context<'_>) -> async_graphql::Result<i64> {
        favorites::count(&mut *db(ctx).await?, &self.stream.id).await.map_err(to_api)
    }
    async fn comment_count(&self) -> i32 {
        0
    }
    /// The stream's commits on every branch, newest first.
    #[graphql(complexity = "limits::paged(limit, child_complexity)")]
    async fn commits(
        &self,
        ctx: &Context<'_>,
        #[graphql(default_with = "DEFAULT_PAGE")] limit: i32,
        cursor: Option<String>,
    ) -> async_graphql::Result<Option<CommitCollection>> {
        CommitCollection::of(ctx, &self.stream, None, limit, cursor).await.map(Some)
    }
    /// The commit with this id; with none, the latest.
    async fn commit(&self, ctx: &Context<'_>, id: Option<String>) -> async_graphql::Result<Option<Commit>> {
        let found = commits::find_commit(&mut *db(ctx).await?, &self.stream.id, id.map(Into::into).as_ref())
            .await
            .map_err(to_api)?;
        charge_read(ctx, found.as_ref().map_or(0, commit_bytes))?;
        Ok(found.map(|view| Commit::new(view, &self.stream)))
    }
    /// The stream's branches, oldest first.
    #[graphql(complexity = "limits::paged(limit, child_complexity)")]
    async fn branches(
        &self,
        ctx: &Context<'_>,
        #[graphql(default_with = "DEFAULT_PAGE")] limit: i32,
        cursor: Option<String>,
    ) -> async_graphql::Result<Option<BranchCollection>> {
        let paged = Paged::new(Some(limit), cursor, Order::OldestFirst, 0)?;
        let stream_id = &self.stream.id;
        let (total_count, rows, cursor) = paged
            .read(
                ctx,
                |pool, page| async move {
                    branches::page(&mut pool.get().await?, stream_id, &Default::default(), &page).await
                },
                |(_, rows, _)| rows.iter().map(branch_bytes).sum(),
            )
            .await?;
        let items = rows.into_iter().map(|branch| Branch { branch, stream: self.stream.clone() }).collect();
        Ok(Some(BranchCollection { total_count, cursor, items: Some(items) }))
    }
    /// The branch with this name (or id).
    async fn branch(
        &self,
        ctx: &Context<'_>,
        #[graphql(default_with = "Some(MAIN_BRANCH.to_owned())")] name: Option<String>,
    ) -> async_graphql::Result<Option<Branch>> {
        let name = name.unwrap_or_else(|| MAIN_BRANCH.to_owned());
        let found = branches::find(&mut *db(ctx).await?, &self.stream.id, &name).await.map_err(to_api)?;
        Ok(found.map(|branch| Branch { branch, stream: self.stream.clone() }))
    }
    /// One of the stream's objects.
    async fn object(&self, ctx: &Context<'_>, id: String) -> async_graphql::Result<Option<SpeckleObject>> {
        let found = objects::find(&mut *db(ctx).await?, &self.stream.id, &id).await.map_err(to_api)?;
        charge_read(ctx, found.as_ref().map_or(0, |object| object.data.len()))?;
        Ok(found.map(|object| SpeckleObject { object, stream_id: self.stream.id.clone() }))
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
        activity_of(ctx, Of::Stream(&self.stream.id), args).await.map(Some)
    }
}

/// The most collaborators `streamCreate` may add at once.
pub const MAX_CONTRIBUTORS_AT_CREATION: usize = 100;

#[derive(InputObject)]
pub struct StreamCreateInput {
    pub(super) name: Option<String>,
    pub(super) description: Option<String>,
    pub(super) is_public: Option<bool>,
    /// Discoverability is not a feature here; accepted and ignored.
    pub(super) is_discoverable: Option<bool>,
    /// Users to share the new stream with, as contributors.
    pub(super) with_contributors: Option<Vec<String>>,
}

#[derive(InputObject)]
pub struct StreamUpdateInput {
    pub(super) id: String,
    pub(super) name: Option<String>,
    pub(super) description: Option<String>,
    pub(super) is_public: Option<bool>,
    pub(super) is_discoverable: Option<bool>,
    pub(super) allow_public_comments: Option<bool>,
}

#[derive(InputObject)]
pub struct StreamUpdatePermissionInput {
    pub(super) stream_id: String,
    pub(super) user_id: String,
    pub(super) role: String,
}

#[derive(InputObject)]
pub struct StreamRevokePermissionInput {
    pub(super) stream_id: String,
    pub(super) user_id: String,
}

/// The root query's stream fields.
#[derive(Default)]
pub struct StreamQuery;

#[Object]
impl StreamQuery {
    /// A stream the caller can read (`streams:read`); anyone, even without a token or with a
    /// token lacking `streams:read`, reads a public one. A private stream the caller cannot
    /// read is `NOT_FOUND` (or, for a token without `streams:read`, that missing scope).
    async fn stream(&self, ctx: &Context<'_>, id: String) -> async_graphql::Result<Option<Stream>> {
        let access =
            streams::readable_by(&mut *db(ctx).await?, &id.into(), reader(ctx)?).await.map_err(to_api)?;
        Ok(Some(Stream::from(access)))
    }

    /// The streams the token's user collaborates on (`streams:read`), newest first; with a
    /// `query`, those whose name or description holds it (or whose id it is).
    #[graphql(complexity = "limits::paged(limit.unwrap_or(DEFAULT_PAGE), child_complexity)")]
    async fn streams(
        &self,
        ctx: &Context<'_>,
        query: Option<String>,
        #[graphql(default_with = "Some(DEFAULT_PAGE)")] limit: Option<i32>,
        cursor: Option<String>,
    ) -> async_graphql::Result<Option<UserStreamCollection>> {
        let caller = require(ctx, Scope::StreamsRead)?;
        let page = Paged::newest_first(limit, cursor)?;
        let collection = match Search::new(query.as_deref()).map_err(to_api)? {
            Some(search) => {
                let filter = StreamFilter { search: Some(search), roles: None };
                UserStreamCollection::matching(ctx, caller.actor(), &filter, page).await?
            }
            None => UserStreamCollection::for_user(ctx, Listing::Own(caller.actor()), page).await?,
        };
        Ok(Some(collection))
    }
}

/// The root mutation's stream fields.
#[derive(Default)]
pub struct StreamMutation;

#[Object]
impl StreamMutation {
    /// Creates a stream owned by the token's user, with a `main` branch; answers its id.
    async fn stream_create(
        &self,
        ctx: &Context<'_>,
        stream: StreamCreateInput,
    ) -> async_graphql::Result<Option<String>> {
        let caller = require(ctx, Scope::StreamsWrite)?;
        let _ = stream.is_discoverable;
        let contributors = stream.with_contributors.unwrap_or_default();
        if contributors.len() > MAX_CONTRIBUTORS_AT_CREATION {
            return Err(to_api(bad_input(format!(
                "withContributors: at most {MAX_CONTRIBUTORS_AT_CREATION}; share with more afterwards."
            ))));
        }
        let input =
            StreamInput { name: stream.name, description: stream.description, is_public: stream.is_public };
        let id = streams::create(&mut *db(ctx).await?, caller.actor(), input).await.map_err(to_api)?;
        for user_id in contributors {
            // Each grant is its own write, counted as one.
            sharing::grant(&mut *db(ctx).await?, caller.actor(), &id, &user_id.into(), Role::Contributor)
                .await
                .map_err(to_api)?;
        }
        Ok(Some(id.into()))
    }

    /// Changes a stream's name, description or visibility (owners).
    async fn stream_update(
        &self,
        ctx: &Context<'_>,
        stream: StreamUpdateInput,
    ) -> async_graphql::Result<bool> {
        let caller = require(ctx, Scope::StreamsWrite)?;
        let _ = (stream.is_discoverable, stream.allow_public_comments);
        let input =
            StreamInput { name: stream.name, description: stream.description, is_public: stream.is_public };
        streams::update(&mut *db(ctx).await?, caller.actor(), &stream.id.into(), input)
            .await
            .map_err(to_api)?;
        Ok(true)
    }

    /// Deletes a stream with everything in it (owners).
    async fn stream_delete(&self, ctx: &Context<'_>, id: String) -> async_graphql::Result<bool> {
        let caller = require(ctx, Scope::StreamsWrite)?;
        streams::delete(&mut *db(ctx).await?, caller.actor(), &id.into()).await.map_err(to_api)?;
        Ok(true)
    }

    /// Shares a stream with a user in a role, or changes their role (owners).
    async fn stream_update_permission(
        &self,
        ctx: &Context<'_>,
        permission_params: StreamUpdatePermissionInput,
    ) -> async_graphql::Result<Option<bool>> {
        let caller = require(ctx, Scope::StreamsWrite)?;
        let role = Role::parse(&permission_params.role).map_err(to_api)?;
        let p = permission_params;
        sharing::grant(&mut *db(ctx).await?, caller.actor(), &p.stream_id.into(), &p.user_id.into(), role)
            .await
            .map_err(to_api)?;
        Ok(Some(true))
    }

    /// Stops sharing a stream with a user (owners).
    async fn stream_revoke_permission(
        &self,
        ctx: &Context<'_>,
        permission_params: StreamRevokePermissionInput,
    ) -> async_graphql::Result<Option<bool>> {
        let caller = require(ctx, Scope::StreamsWrite)?;
        let p = permission_params;
        sharing::revoke(&mut *db(ctx).await?, caller.actor(), &p.stream_id.into(), &p.user_id.into())
            .await
            .map_err(to_api)?;
        Ok(Some(true))
    }

    /// Marks a stream the caller can read as one of their favourites, or unmarks it
    /// (`streams:read`); answers the stream.
    async fn stream_favorite(
        &self,
        ctx: &Context<'_>,
        stream_id: String,
        favorited: bool,
    ) -> async_graphql::Result<Option<Stream>> {
        let caller = require(ctx, Scope::StreamsRead)?;
        let stream_id = stream_id.into();
        let mut conn = db(ctx).await?;
        favorites::set(&mut conn, caller.actor(), &stream_id, favorited).await.map_err(to_api)?;
        let access = streams::readable(&mut conn, &stream_id, Some(caller.actor())).await.map_err(to_api)?;
        Ok(Some(Stream::from(access)))
    }
}
