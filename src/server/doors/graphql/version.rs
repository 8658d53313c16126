//! Versions, the project era's name for commits (SPEC §10): `Version`, the paged list of a
//! model's or project's versions, and `versionMutations`. A version *is* a commit (see
//! [`branches`]); its lists are read by the same function as `Stream.commits`.

use std::collections::HashMap;

use async_graphql::{Context, InputObject, Object, SimpleObject, ID};

use super::{
    caller, count_commits, db, page_of_commits, require, to_api, writer_who_reads, DateTime, LimitedUser,
    Model, Project, VersionPermissionChecks,
};
use crate::rules::error::{bad_input, not_found, AppError};
use crate::rules::scopes::Scope;
use crate::server::db::{models, CommitId, StreamId, UserId};
use crate::server::domain::branches::{self, MAX_FILTER_ITEMS};
use crate::server::domain::commits::{self, CommitInput, CommitView};
use crate::server::domain::streams::Role;
use crate::server::domain::users;

/// A version of a project, with the caller's role on the project and, when its list read
/// them, its author's profile.
pub struct Version {
    pub(super) view: CommitView,
    pub(super) stream: models::Stream,
    pub(super) role: Option<Role>,
    pub(super) author: Option<Option<LimitedUser>>,
}

impl Version {
    /// The stream's version with this id (of the model called `branch`, if given).
    pub(super) async fn find(
        ctx: &Context<'_>,
        stream: &models::Stream,
        role: Option<Role>,
        branch: Option<&str>,
        id: CommitId,
    ) -> async_graphql::Result<Version> {
        let found =
            commits::find_commit(&mut *db(ctx).await?, &stream.id, Some(&id)).await.map_err(to_api)?;
        let view = found
            .filter(|view| branch.is_none_or(|branch| view.commit.branch_name == branch))
            .ok_or_else(|| to_api(not_found("Version")))?;
        super::charge_read(ctx, super::commit_bytes(&view))?;
        Ok(Version { view, stream: stream.clone(), role, author: None })
    }

    /// The project's version with this id, for the caller (who may read the project).
    async fn of_project(
        ctx: &Context<'_>,
        project_id: StreamId,
        id: CommitId,
    ) -> async_graphql::Result<Version> {
        let project = Project::readable(ctx, &project_id).await?;
        Version::find(ctx, &project.stream, project.role, None, id).await
    }
}

#[Object]
impl Version {
    async fn id(&self) -> ID {
        ID(self.view.commit.id.to_string())
    }
    async fn referenced_object(&self) -> Option<&str> {
        Some(&self.view.commit.referenced_object)
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
    async fn parents(&self) -> Option<Vec<Option<String>>> {
        let parents: Vec<String> = serde_json::from_str(self.view.commit.parents.as_deref()?).ok()?;
        Some(parents.into_iter().map(Some).collect())
    }
    async fn created_at(&self) -> DateTime {
        DateTime(self.view.commit.created_at)
    }
    /// No preview is rendered here: the project's page, where the version is listed.
    async fn preview_url(&self) -> String {
        format!("/streams/{}", self.stream.id)
    }
    /// Who made the version (their public profile).
    async fn author_user(&self, ctx: &Context<'_>) -> async_graphql::Result<Option<LimitedUser>> {
        if let Some(read) = &self.author {
            return Ok(read.clone());
        }
        let found = match users::profile(&mut *db(ctx).await?, &self.view.commit.author_id).await {
            Ok(user) => Some(user),
            Err(AppError::NotFound(_)) => None,
            Err(error) => return Err(to_api(error)),
        };
        Ok(found.map(LimitedUser::new))
    }
    /// The model it is on.
    async fn model(&self, ctx: &Context<'_>) -> async_graphql::Result<Model> {
        let name = &self.view.commit.branch_name;
        let found = branches::find(&mut *db(ctx).await?, &self.stream.id, name).await.map_err(to_api)?;
        let branch = found.ok_or_else(|| to_api(not_found("Model")))?;
        Ok(Model { branch, stream: self.stream.clone(), role: self.role })
    }
    /// What this request may do to the version.
    async fn permissions(&self) -> VersionPermissionChecks {
        VersionPermissionChecks { role: self.role, commit: self.view.commit.clone() }
    }
}

#[derive(SimpleObject)]
pub struct VersionCollection {
    pub(super) total_count: i64,
    pub(super) cursor: Option<String>,
    pub(super) items: Vec<Version>,
}

/// Versions a client wants first (`Model.versions`).
#[derive(InputObject, Default)]
pub struct ModelVersionsFilter {
    /// These lead the first page.
    pub(super) priority_ids: Option<Vec<String>>,
    /// Only the versions of `priorityIds`.
    pub(super) priority_ids_only: Option<bool>,
}

impl VersionCollection {
    /// The versions of a project (or of its model called `branch`), newest first, those of
    /// `filter.priorityIds` leading the first page.
    pub(super) async fn of(
        ctx: &Context<'_>,
        stream: &models::Stream,
        role: Option<Role>,
        branch: Option<&str>,
        limit: i32,
        cursor: Option<String>,
        filter: Option<ModelVersionsFilter>,
    ) -> async_graphql::Result<VersionCollection> {
        let filter = filter.unwrap_or_default();
        let priority_ids: Vec<CommitId> =
            filter.priority_ids.unwrap_or_default().into_iter().map(Into::into).collect();
        if priority_ids.len() > MAX_FILTER_ITEMS {
            return Err(to_api(bad_input(format!("filter.priorityIds: at most {MAX_FILTER_ITEMS} ids."))));
        }
        let page_size = usize::try_from(limit).unwrap_or(0);
        let mut first = if priority_ids.is_empty() || cursor.is_some() {
            Vec::new()
        } else {
            commits::commits_with_ids(&mut *db(ctx).await?, &stream.id, branch, &priority_ids)
                .await
                .map_err(to_api)?
        };
        let (total_count, rows, cursor) = if filter.priority_ids_only.unwrap_or(false) {
            let total = first.len() as i64;
            first.truncate(page_size);
            (total, first, None)
        } else {
            first.truncate(page_size);
            let total = count_commits(ctx, stream, branch).await?;
            let rest_limit = limit.saturating_sub(i32::try_from(first.len()).unwrap_or(i32::MAX)).max(0);
            let (rest, cursor) =
                page_of_commits(ctx, stream, branch, &priority_ids, rest_limit, cursor).await?;
            first.extend(rest);
            (total, first, cursor)
        };
        let mut authors = authors_if(ctx, &rows).await?;
        let items = rows
            .into_iter()
            .map(|view| {
                let author = authors.as_mut().map(|authors| authors.get(&view.commit.author_id).cloned());
                Version { view, stream: stream.clone(), role, author }
            })
            .collect();
        Ok(VersionCollection { total_count, cursor, items })
    }
}

/// The authors of a page of versions, read at once if the query asks for them.
async fn authors_if(
    ctx: &Context<'_>,
    rows: &[CommitView],
) -> async_graphql::Result<Option<HashMap<UserId, LimitedUser>>> {
    let asked = ctx.look_ahead().field("items").field("authorUser");
    if !asked.exists() {
        return Ok(None);
    }
    let mut ids: Vec<&UserId> = rows.iter().map(|view| &view.commit.author_id).collect();
    ids.sort_unstable();
    ids.dedup();
    let profiles = users::profiles(&mut *db(ctx).await?, &ids).await.map_err(to_api)?;
    super::charge_read(ctx, profiles.values().map(super::user_bytes).sum())?;
    let people =
        LimitedUser::list(ctx, profiles.into_values().collect(), asked.field("avatar").exists()).await?;
    Ok(Some(people.into_iter().map(|user| (user.user.id.clone(), user)).collect()))
}

#[derive(InputObject)]
pub struct CreateVersionInput {
    pub(super) project_id: String,
    pub(super) model_id: String,
    pub(super) object_id: String,
    pub(super) message: Option<String>,
    pub(super) source_application: Option<String>,
    pub(super) total_children_count: Option<i32>,
    pub(super) parents: Option<Vec<String>>,
}

/// A null message leaves it as it is.
#[derive(InputObject)]
pub struct UpdateVersionInput {
    pub(super) project_id: ID,
    pub(super) version_id: ID,
    pub(super) message: Option<String>,
}

#[derive(InputObject)]
pub struct MoveVersionsInput {
    pub(super) project_id: ID,
    pub(super) version_ids: Vec<ID>,
    /// Made if the project has no model of this name.
    pub(super) target_model_name: String,
}

#[derive(InputObject)]
pub struct DeleteVersionsInput {
    pub(super) project_id: ID,
    pub(super) version_ids: Vec<ID>,
}

#[derive(InputObject)]
pub struct MarkReceivedVersionInput {
    pub(super) project_id: String,
    pub(super) version_id: String,
    pub(super) source_application: String,
    pub(super) message: Option<String>,
}

fn commit_ids(ids: Vec<ID>) -> Vec<CommitId> {
    ids.into_iter().map(|id| CommitId::from(id.0)).collect()
}

/// The root mutation's `versionMutations` (each with its own scope, as in Speckle).
#[derive(Default)]
pub struct VersionMutation;

#[Object]
impl VersionMutation {
    async fn version_mutations(&self, ctx: &Context<'_>) -> async_graphql::Result<VersionMutations> {
        caller(ctx)?;
        Ok(VersionMutations)
    }
}

pub struct VersionMutations;

#[Object]
impl VersionMutations {
    /// Creates a version of a model (owners and contributors; `streams:write`, and
    /// `streams:read` for the answer).
    async fn create(&self, ctx: &Context<'_>, input: CreateVersionInput) -> async_graphql::Result<Version> {
        let caller = writer_who_reads(ctx)?;
        let project_id = StreamId::from(input.project_id);
        // The model by its id, never by a name that looks like one.
        let model = branches::get(&mut *db(ctx).await?, &project_id, &input.model_id.into()).await;
        let model = model.map_err(|_| to_api(not_found("Model")))?;
        let commit = CommitInput {
            branch_name: Some(model.name),
            object_id: input.object_id,
            message: input.message,
            source_application: input.source_application,
            total_children_count: input.total_children_count.map(i64::from),
            parents: input.parents,
        };
        let id = commits::create_commit(&mut *db(ctx).await?, caller.actor(), &project_id, commit)
            .await
            .map_err(to_api)?;
        Version::of_project(ctx, project_id, id).await
    }

    /// Changes a version's message (owners, or its author; `streams:write`).
    async fn update(&self, ctx: &Context<'_>, input: UpdateVersionInput) -> async_graphql::Result<Version> {
        let caller = writer_who_reads(ctx)?;
        let (project_id, id) = (StreamId::from(input.project_id.0), CommitId::from(input.version_id.0));
        let mut conn = db(ctx).await?;
        match input.message {
            Some(message) => {
                commits::update_commit(&mut conn, caller.actor(), &project_id, &id, Some(message), None).await
            }
            // Nothing to change: still only for those who could change it.
            None => commits::may_change(&mut conn, caller.actor(), &project_id, &id).await,
        }
        .map_err(to_api)?;
        drop(conn);
        Version::of_project(ctx, project_id, id).await
    }

    /// Moves versions to the model of this name, made if there is none (`streams:write`).
    async fn move_to_model(
        &self,
        ctx: &Context<'_>,
        input: MoveVersionsInput,
    ) -> async_graphql::Result<Model> {
        let caller = writer_who_reads(ctx)?;
        let project_id = StreamId::from(input.project_id.0);
        let ids = commit_ids(input.version_ids);
        let target = &input.target_model_name;
        let branch = commits::move_commits(&mut *db(ctx).await?, caller.actor(), &project_id, &ids, target)
            .await
            .map_err(to_api)?;
        let project = Project::readable(ctx, &project_id).await?;
        Ok(Model { branch, stream: project.stream, role: project.role })
    }

    /// Deletes versions, all or none (owners, or each one's author; `streams:write`).
    async fn delete(&self, ctx: &Context<'_>, input: DeleteVersionsInput) -> async_graphql::Result<bool> {
        let caller = require(ctx, Scope::StreamsWrite)?;
        let project_id = StreamId::from(input.project_id.0);
        let ids = commit_ids(input.version_ids);
        commits::delete_commits(&mut *db(ctx).await?, caller.actor(), &project_id, &ids)
            .await
            .map_err(to_api)?;
        Ok(true)
    }

    /// Says that an application received a version (`streams:read`).
    async fn mark_received(
        &self,
        ctx: &Context<'_>,
        input: MarkReceivedVersionInput,
    ) -> async_graphql::Result<bool> {
        let caller = require(ctx, Scope::StreamsRead)?;
        let _ = (input.source_application, input.message);
        let (project_id, id) = (input.project_id.into(), input.version_id.into());
        commits::received(&mut *db(ctx).await?, caller.actor(), &project_id, &id).await.map_err(to_api)?;
        Ok(true)
    }
}
