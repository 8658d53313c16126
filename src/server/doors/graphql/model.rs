//! Models, the project era's name for branches (SPEC §10): `Model`, the paged list of a
//! project's models, and `modelMutations`. A model *is* a branch (see [`branches`]).

use async_graphql::{Context, InputObject, Object, SimpleObject, ID};

use super::{
    branch_bytes, caller, charge_read, db, limits, require, to_api, writer_who_reads, DateTime, LimitedUser,
    ModelPermissionChecks, ModelVersionsFilter, Paged, Project, Version, VersionCollection,
};
use crate::rules::error::{AppError, AppResult};
use crate::rules::limits::DEFAULT_PAGE;
use crate::rules::scopes::Scope;
use crate::server::db::sql::Search;
use crate::server::db::{models, StreamId};
use crate::server::domain::branches::{self, BranchFilter};
use crate::server::domain::pagination::Order;
use crate::server::domain::streams::Role;
use crate::server::domain::users;

/// A model of a project, with the caller's role on the project.
pub struct Model {
    pub(super) branch: models::Branch,
    pub(super) stream: models::Stream,
    pub(super) role: Option<Role>,
}

impl Model {
    /// The project's model with this id, for the caller (who may read the project).
    async fn of_project(
        ctx: &Context<'_>,
        project_id: StreamId,
        model_id: ID,
    ) -> async_graphql::Result<Model> {
        let project = Project::readable(ctx, &project_id).await?;
        let branch = branches::get(&mut *db(ctx).await?, &project.stream.id, &model_id.0.into())
            .await
            .map_err(to_api)?;
        Ok(Model { branch, stream: project.stream, role: project.role })
    }
}

#[Object]
impl Model {
    async fn id(&self) -> ID {
        ID(self.branch.id.to_string())
    }
    /// The full name, its parents' names before it, `/` between them.
    async fn name(&self) -> &str {
        &self.branch.name
    }
    /// The last part of the name.
    async fn display_name(&self) -> &str {
        self.branch.name.rsplit('/').next().unwrap_or(&self.branch.name)
    }
    async fn description(&self) -> Option<&str> {
        self.branch.description.as_deref()
    }
    async fn created_at(&self) -> DateTime {
        DateTime(self.branch.created_at)
    }
    async fn updated_at(&self) -> DateTime {
        DateTime(self.branch.updated_at)
    }
    /// Previews are not rendered here.
    async fn preview_url(&self) -> Option<String> {
        None
    }
    async fn project_id(&self) -> &str {
        self.stream.id.as_str()
    }
    /// Who made the model (their public profile).
    async fn author(&self, ctx: &Context<'_>) -> async_graphql::Result<Option<LimitedUser>> {
        let Some(author_id) = &self.branch.author_id else { return Ok(None) };
        let found = match users::profile(&mut *db(ctx).await?, author_id).await {
            Ok(user) => Some(user),
            Err(AppError::NotFound(_)) => None,
            Err(error) => return Err(to_api(error)),
        };
        charge_read(ctx, found.as_ref().map_or(0, super::user_bytes))?;
        Ok(found.map(LimitedUser::new))
    }
    /// Its versions, newest first; `filter.priorityIds` first.
    #[graphql(complexity = "limits::paged(limit, child_complexity)")]
    async fn versions(
        &self,
        ctx: &Context<'_>,
        #[graphql(default_with = "DEFAULT_PAGE")] limit: i32,
        cursor: Option<String>,
        filter: Option<ModelVersionsFilter>,
    ) -> async_graphql::Result<VersionCollection> {
        let branch = Some(self.branch.name.as_str());
        VersionCollection::of(ctx, &self.stream, self.role, branch, limit, cursor, filter).await
    }
    /// The version of this model with this id.
    async fn version(&self, ctx: &Context<'_>, id: String) -> async_graphql::Result<Version> {
        Version::find(ctx, &self.stream, self.role, Some(&self.branch.name), id.into()).await
    }
    /// What this request may do to the model.
    async fn permissions(&self) -> ModelPermissionChecks {
        ModelPermissionChecks { role: self.role, branch: self.branch.clone() }
    }
}

#[derive(SimpleObject)]
pub struct ModelCollection {
    pub(super) total_count: i64,
    pub(super) cursor: Option<String>,
    pub(super) items: Vec<Model>,
}

/// Which of a project's models `Project.models` lists.
#[derive(InputObject, Default)]
pub struct ProjectModelsFilter {
    /// Names that hold this text.
    pub(super) search: Option<String>,
    /// Models with a version from one of these applications.
    pub(super) source_apps: Option<Vec<String>>,
    /// Models with a version by one of these users.
    pub(super) contributors: Option<Vec<String>>,
    /// Only models with at least one version.
    pub(super) only_with_versions: Option<bool>,
    pub(super) ids: Option<Vec<String>>,
    pub(super) exclude_ids: Option<Vec<String>>,
}

impl ProjectModelsFilter {
    fn into_branches(self) -> AppResult<BranchFilter> {
        let filter = BranchFilter {
            search: Search::new(self.search.as_deref())?,
            ids: self.ids.map(|ids| ids.into_iter().map(Into::into).collect()),
            exclude_ids: self.exclude_ids.unwrap_or_default().into_iter().map(Into::into).collect(),
            only_with_commits: self.only_with_versions.unwrap_or(false),
            source_apps: self.source_apps,
            authors: self.contributors.map(|ids| ids.into_iter().map(Into::into).collect()),
        };
        filter.check()?;
        Ok(filter)
    }
}

impl ModelCollection {
    /// A project's models that `filter` keeps, oldest first.
    pub(super) async fn of(
        ctx: &Context<'_>,
        stream: &models::Stream,
        role: Option<Role>,
        limit: i32,
        cursor: Option<String>,
        filter: Option<ProjectModelsFilter>,
    ) -> async_graphql::Result<ModelCollection> {
        let filter = filter.unwrap_or_default().into_branches().map_err(to_api)?;
        let paged = Paged::new(Some(limit), cursor, Order::OldestFirst, 0)?;
        let filter = &filter;
        let (total_count, rows, cursor) = paged
            .read(
                ctx,
                |pool, page| async move {
                    branches::page(&mut pool.get().await?, &stream.id, filter, &page).await
                },
                |(_, rows, _)| rows.iter().map(branch_bytes).sum(),
            )
            .await?;
        let items = rows.into_iter().map(|branch| Model { branch, stream: stream.clone(), role }).collect();
        Ok(ModelCollection { total_count, cursor, items })
    }
}

#[derive(InputObject)]
pub struct CreateModelInput {
    pub(super) project_id: ID,
    pub(super) name: String,
    pub(super) description: Option<String>,
}

/// A null leaves the field as it is.
#[derive(InputObject)]
pub struct UpdateModelInput {
    pub(super) project_id: ID,
    pub(super) id: ID,
    pub(super) name: Option<String>,
    pub(super) description: Option<String>,
}

#[derive(InputObject)]
pub struct DeleteModelInput {
    pub(super) project_id: ID,
    pub(super) id: ID,
}

/// The root mutation's `modelMutations` (`streams:write`, as in Speckle).
#[derive(Default)]
pub struct ModelMutation;

#[Object]
impl ModelMutation {
    async fn model_mutations(&self, ctx: &Context<'_>) -> async_graphql::Result<ModelMutations> {
        require(ctx, Scope::StreamsWrite)?;
        Ok(ModelMutations)
    }
}

pub struct ModelMutations;

#[Object]
impl ModelMutations {
    /// Creates a model (owners and contributors).
    async fn create(&self, ctx: &Context<'_>, input: CreateModelInput) -> async_graphql::Result<Model> {
        let caller = writer_who_reads(ctx)?;
        let project_id = StreamId::from(input.project_id.0);
        let mut conn = db(ctx).await?;
        let id = branches::create(&mut conn, caller.actor(), &project_id, &input.name, input.description)
            .await
            .map_err(to_api)?;
        drop(conn);
        Model::of_project(ctx, project_id, ID(id.into())).await
    }

    /// Renames a model or changes its description (owners and contributors).
    async fn update(&self, ctx: &Context<'_>, input: UpdateModelInput) -> async_graphql::Result<Model> {
        let caller = writer_who_reads(ctx)?;
        let project_id = StreamId::from(input.project_id.0);
        if input.name.is_some() || input.description.is_some() {
            let model_id = input.id.0.clone().into();
            let name = input.name.as_deref();
            branches::update(
                &mut *db(ctx).await?,
                caller.actor(),
                &project_id,
                &model_id,
                name,
                input.description,
            )
            .await
            .map_err(to_api)?;
        } else {
            // Nothing to change: still only for those who could change it.
            branches::may_update(&mut *db(ctx).await?, caller.actor(), &project_id).await.map_err(to_api)?;
        }
        Model::of_project(ctx, project_id, input.id).await
    }

    /// Deletes a model and its versions (owners, or its author); `main` stays.
    async fn delete(&self, ctx: &Context<'_>, input: DeleteModelInput) -> async_graphql::Result<bool> {
        let caller = caller(ctx)?;
        let (project_id, model_id) = (input.project_id.0.into(), input.id.0.into());
        branches::delete(&mut *db(ctx).await?, caller.actor(), &project_id, &model_id)
            .await
            .map_err(to_api)?;
        Ok(true)
    }
}
