//! Branches: `Branch`, and the mutations that create, rename and delete them.

use async_graphql::{Context, InputObject, Object, SimpleObject};

use super::{
    activity_of, caller, charge_read, db, limits, require, to_api, user_bytes, ActivityArgs,
    ActivityCollection, CommitCollection, DateTime, User,
};
use crate::rules::limits::DEFAULT_PAGE;
use crate::rules::scopes::Scope;
use crate::server::db::models;
use crate::server::domain::branches;
use crate::server::domain::history::Of;

#[derive(SimpleObject)]
pub struct BranchCollection {
    pub(super) total_count: i64,
    pub(super) cursor: Option<String>,
    pub(super) items: Option<Vec<Branch>>,
}

/// What a branch read to answer weighs.
pub(super) fn branch_bytes(branch: &models::Branch) -> usize {
    limits::row_bytes([Some(branch.name.as_str()), branch.description.as_deref()])
}

pub struct Branch {
    pub(super) branch: models::Branch,
    pub(super) stream: models::Stream,
}

#[Object]
impl Branch {
    async fn id(&self) -> &str {
        self.branch.id.as_str()
    }
    async fn name(&self) -> &str {
        &self.branch.name
    }
    async fn description(&self) -> Option<&str> {
        self.branch.description.as_deref()
    }
    async fn created_at(&self) -> Option<DateTime> {
        Some(DateTime(self.branch.created_at))
    }
    /// Who made the branch (their public profile).
    async fn author(&self, ctx: &Context<'_>) -> async_graphql::Result<Option<User>> {
        let Some(author_id) = &self.branch.author_id else { return Ok(None) };
        let found = match crate::server::domain::users::profile(&mut *db(ctx).await?, author_id).await {
            Ok(user) => Some(user),
            Err(crate::rules::error::AppError::NotFound(_)) => None,
            Err(error) => return Err(to_api(error)),
        };
        charge_read(ctx, found.as_ref().map_or(0, user_bytes))?;
        let own = caller(ctx).is_ok_and(|c| &c.user_id == author_id);
        Ok(found.map(|user| if own { User::own(user) } else { User::other(user) }))
    }
    /// The branch's commits, newest first.
    #[graphql(complexity = "limits::paged(limit, child_complexity)")]
    async fn commits(
        &self,
        ctx: &Context<'_>,
        #[graphql(default_with = "DEFAULT_PAGE")] limit: i32,
        cursor: Option<String>,
    ) -> async_graphql::Result<Option<CommitCollection>> {
        CommitCollection::of(ctx, &self.stream, Some(&self.branch.name), limit, cursor).await.map(Some)
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
        activity_of(ctx, Of::Resource { stream: &self.stream.id, resource: self.branch.id.as_str() }, args)
            .await
            .map(Some)
    }
}

#[derive(InputObject)]
pub struct BranchCreateInput {
    pub(super) stream_id: String,
    pub(super) name: String,
    pub(super) description: Option<String>,
}

#[derive(InputObject)]
pub struct BranchUpdateInput {
    pub(super) stream_id: String,
    pub(super) id: String,
    pub(super) name: Option<String>,
    pub(super) description: Option<String>,
}

#[derive(InputObject)]
pub struct BranchDeleteInput {
    pub(super) stream_id: String,
    pub(super) id: String,
}

/// The root mutation's branch fields.
#[derive(Default)]
pub struct BranchMutation;

#[Object]
impl BranchMutation {
    /// Creates a branch (owners and contributors); answers its id.
    async fn branch_create(
        &self,
        ctx: &Context<'_>,
        branch: BranchCreateInput,
    ) -> async_graphql::Result<String> {
        let caller = require(ctx, Scope::StreamsWrite)?;
        branches::create(
            &mut *db(ctx).await?,
            caller.actor(),
            &branch.stream_id.into(),
            &branch.name,
            branch.description,
        )
        .await
        .map(String::from)
        .map_err(to_api)
    }

    /// Renames a branch or changes its description (owners and contributors).
    async fn branch_update(
        &self,
        ctx: &Context<'_>,
        branch: BranchUpdateInput,
    ) -> async_graphql::Result<bool> {
        let caller = require(ctx, Scope::StreamsWrite)?;
        let b = branch;
        branches::update(
            &mut *db(ctx).await?,
            caller.actor(),
            &b.stream_id.into(),
            &b.id.into(),
            b.name.as_deref(),
            b.description,
        )
        .await
        .map_err(to_api)?;
        Ok(true)
    }

    /// Deletes a branch and its commits (owners, or its author); `main` stays.
    async fn branch_delete(
        &self,
        ctx: &Context<'_>,
        branch: BranchDeleteInput,
    ) -> async_graphql::Result<bool> {
        let caller = require(ctx, Scope::StreamsWrite)?;
        let (stream_id, branch_id) = (branch.stream_id.into(), branch.id.into());
        branches::delete(&mut *db(ctx).await?, caller.actor(), &stream_id, &branch_id)
            .await
            .map_err(to_api)?;
        Ok(true)
    }
}
