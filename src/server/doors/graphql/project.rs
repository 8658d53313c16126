//! Projects, the project era's name for streams (SPEC §10): `Project`, its team, the root
//! `project` field and `projectMutations`. A project *is* a stream: every field reads the
//! stream domain, every mutation calls it, so both eras keep one set of rules.

use async_graphql::{Context, Enum, InputObject, Object, SimpleObject, ID};

use super::{
    caller, charge_read, db, limits, reader, require, to_api, writer_who_reads, DateTime, LimitedUser, Model,
    ModelCollection, PendingStreamCollaborator, ProjectModelsFilter, ProjectPermissionChecks, Version,
    VersionCollection,
};
use crate::rules::error::AppResult;
use crate::rules::limits::DEFAULT_PAGE;
use crate::rules::scopes::Scope;
use crate::server::db::{models, StreamId, UserId};
use crate::server::domain::branches;
use crate::server::domain::sharing;
use crate::server::domain::streams::{self, Access, Role, StreamInput};
use crate::server::domain::users;

/// Who may see a project. `UNLISTED` is Speckle's old name for `PUBLIC`, read back as it;
/// `WORKSPACE` needs workspaces, which this server does not have.
#[derive(Enum, Clone, Copy, PartialEq, Eq)]
pub enum ProjectVisibility {
    Private,
    Unlisted,
    Public,
    Workspace,
}

impl ProjectVisibility {
    /// Whether the stream is public; workspaces are refused.
    fn is_public(self) -> AppResult<bool> {
        match self {
            ProjectVisibility::Private => Ok(false),
            ProjectVisibility::Public | ProjectVisibility::Unlisted => Ok(true),
            ProjectVisibility::Workspace => Err(super::workspaces_disabled()),
        }
    }
}

/// A project: a stream, with the caller's role on it (none for a public one they only read).
pub struct Project {
    pub(super) stream: models::Stream,
    pub(super) role: Option<Role>,
}

impl From<Access> for Project {
    fn from(access: Access) -> Self {
        Project { stream: access.stream, role: access.role }
    }
}

/// The stream era's view of the same stream, as the project era names it.
impl From<super::Stream> for Project {
    fn from(stream: super::Stream) -> Self {
        Project { role: stream.role.as_deref().and_then(Role::from_stored), stream: stream.stream }
    }
}

impl Project {
    /// The project with this id, if the request may read it (as `stream(id)` allows).
    pub(super) async fn readable(ctx: &Context<'_>, id: &StreamId) -> async_graphql::Result<Project> {
        let access = streams::readable_by(&mut *db(ctx).await?, id, reader(ctx)?).await.map_err(to_api)?;
        charge_read(ctx, super::stream_bytes(&access.stream))?;
        Ok(Project::from(access))
    }

    fn model_of(&self, branch: models::Branch) -> Model {
        Model { branch, stream: self.stream.clone(), role: self.role }
    }
}

/// Someone on a project's team.
#[derive(SimpleObject)]
pub struct ProjectCollaborator {
    pub(super) id: ID,
    pub(super) role: String,
    pub(super) user: LimitedUser,
}

#[Object]
impl Project {
    async fn id(&self) -> ID {
        ID(self.stream.id.to_string())
    }
    async fn name(&self) -> &str {
        &self.stream.name
    }
    async fn description(&self) -> Option<&str> {
        Some(&self.stream.description)
    }
    async fn visibility(&self) -> ProjectVisibility {
        if self.stream.is_public {
            ProjectVisibility::Public
        } else {
            ProjectVisibility::Private
        }
    }
    /// Comments are not a feature here.
    async fn allow_public_comments(&self) -> bool {
        false
    }
    /// The caller's role; null for a public project they are not on.
    async fn role(&self) -> Option<&str> {
        self.role.map(Role::name)
    }
    async fn created_at(&self) -> DateTime {
        DateTime(self.stream.created_at)
    }
    async fn updated_at(&self) -> DateTime {
        DateTime(self.stream.updated_at)
    }
    /// Workspaces are not enabled here: always null.
    async fn workspace_id(&self) -> Option<String> {
        None
    }
    /// The collaborators with their roles: whoever reads the project reads them, as
    /// `Stream.collaborators` (SPEC §3: `streams:read` covers a stream's collaborators).
    #[graphql(complexity = "limits::at_most(limits::COLLABORATORS_COSTED, child_complexity)")]
    async fn team(&self, ctx: &Context<'_>) -> async_graphql::Result<Vec<ProjectCollaborator>> {
        let mut conn = db(ctx).await?;
        let rows = streams::collaborators(&mut conn, &self.stream.id).await.map_err(to_api)?;
        let ids: Vec<&UserId> = rows.iter().map(|row| &row.id).collect();
        let mut profiles = users::profiles(&mut conn, &ids).await.map_err(to_api)?;
        drop(conn);
        charge_read(ctx, profiles.values().map(super::user_bytes).sum())?;
        let wanted = ctx.look_ahead().field("user").field("avatar").exists();
        let people: Vec<models::Profile> = rows.iter().filter_map(|row| profiles.remove(&row.id)).collect();
        let people = LimitedUser::list(ctx, people, wanted).await?;
        let mut by_id: std::collections::HashMap<UserId, LimitedUser> =
            people.into_iter().map(|user| (user.user.id.clone(), user)).collect();
        Ok(rows
            .into_iter()
            .filter_map(|row| {
                let user = by_id.remove(&row.id)?;
                Some(ProjectCollaborator { id: ID(row.id.to_string()), role: row.role, user })
            })
            .collect())
    }
    /// Those invited who have not answered yet (its owners only).
    #[graphql(
        complexity = "limits::at_most(crate::server::domain::invites::MAX_PENDING_LISTED as usize, child_complexity)"
    )]
    async fn invited_team(
        &self,
        ctx: &Context<'_>,
    ) -> async_graphql::Result<Option<Vec<PendingStreamCollaborator>>> {
        super::invited(ctx, &self.stream, self.role).await.map(Some)
    }
    /// The applications its versions were sent from.
    async fn source_apps(&self, ctx: &Context<'_>) -> async_graphql::Result<Vec<String>> {
        streams::source_apps(&mut *db(ctx).await?, &self.stream.id).await.map_err(to_api)
    }
    /// Its models, oldest first (`main` leads).
    #[graphql(complexity = "limits::paged(limit, child_complexity)")]
    async fn models(
        &self,
        ctx: &Context<'_>,
        cursor: Option<String>,
        #[graphql(default_with = "DEFAULT_PAGE")] limit: i32,
        filter: Option<ProjectModelsFilter>,
    ) -> async_graphql::Result<ModelCollection> {
        ModelCollection::of(ctx, &self.stream, self.role, limit, cursor, filter).await
    }
    /// The model with this id.
    async fn model(&self, ctx: &Context<'_>, id: String) -> async_graphql::Result<Model> {
        let branch =
            branches::get(&mut *db(ctx).await?, &self.stream.id, &id.into()).await.map_err(to_api)?;
        Ok(self.model_of(branch))
    }
    /// The model with this name (names are lower-cased, as Speckle stores them).
    async fn model_by_name(&self, ctx: &Context<'_>, name: String) -> async_graphql::Result<Model> {
        let found = branches::find(&mut *db(ctx).await?, &self.stream.id, &name).await.map_err(to_api)?;
        let branch = found.ok_or_else(|| to_api(crate::rules::error::not_found("Model")))?;
        Ok(self.model_of(branch))
    }
    /// Its versions on every model, newest first.
    #[graphql(complexity = "limits::paged(limit, child_complexity)")]
    async fn versions(
        &self,
        ctx: &Context<'_>,
        #[graphql(default_with = "DEFAULT_PAGE")] limit: i32,
        cursor: Option<String>,
    ) -> async_graphql::Result<VersionCollection> {
        VersionCollection::of(ctx, &self.stream, self.role, None, limit, cursor, None).await
    }
    /// The version with this id.
    async fn version(&self, ctx: &Context<'_>, id: String) -> async_graphql::Result<Version> {
        Version::find(ctx, &self.stream, self.role, None, id.into()).await
    }
    /// What this request may do to the project.
    async fn permissions(&self) -> ProjectPermissionChecks {
        ProjectPermissionChecks { role: self.role, stream: self.stream.clone() }
    }
}

/// `User.projects`: the user's projects, newest first.
#[derive(SimpleObject)]
pub struct UserProjectCollection {
    pub(super) total_count: i64,
    /// Projects hidden from this list: none.
    pub(super) number_of_hidden: i32,
    pub(super) cursor: Option<String>,
    pub(super) items: Vec<Project>,
}

/// Which of the user's projects `User.projects` lists.
#[derive(InputObject, Default)]
pub struct UserProjectsFilter {
    /// Names or descriptions that hold this text.
    pub(super) search: Option<String>,
    /// Only those on which the user holds one of these roles.
    pub(super) only_with_roles: Option<Vec<String>>,
    /// Workspaces are not enabled here: refused when set.
    pub(super) workspace_id: Option<ID>,
    /// Every project here is personal: accepted.
    pub(super) personal_only: Option<bool>,
    /// There is no implicit access here (no workspaces): accepted.
    pub(super) include_implicit_access: Option<bool>,
}

impl UserProjectsFilter {
    /// The stream filter this asks for; `None` when it keeps every project.
    pub(super) fn to_streams(&self) -> AppResult<Option<streams::StreamFilter>> {
        if self.workspace_id.is_some() {
            return Err(super::workspaces_disabled());
        }
        let _ = (self.personal_only, self.include_implicit_access);
        let search = crate::server::db::sql::Search::new(self.search.as_deref())?;
        let roles = match &self.only_with_roles {
            Some(names) if names.len() > 10 => {
                return Err(crate::rules::error::bad_input("filter.onlyWithRoles: at most 10 roles."));
            }
            Some(names) => {
                let mut roles = names.iter().map(|name| Role::parse(name)).collect::<AppResult<Vec<_>>>()?;
                roles.sort_by_key(|role| role.name());
                roles.dedup();
                Some(roles)
            }
            None => None,
        };
        if search.is_none() && roles.is_none() {
            return Ok(None);
        }
        Ok(Some(streams::StreamFilter { search, roles }))
    }
}

/// What `projectMutations.create` takes; nulls are left to their defaults.
#[derive(InputObject)]
pub struct ProjectCreateInput {
    pub(super) name: Option<String>,
    pub(super) description: Option<String>,
    pub(super) visibility: Option<ProjectVisibility>,
}

/// What `projectMutations.update` takes; a null leaves the field as it is.
#[derive(InputObject)]
pub struct ProjectUpdateInput {
    pub(super) id: ID,
    pub(super) name: Option<String>,
    pub(super) description: Option<String>,
    pub(super) visibility: Option<ProjectVisibility>,
    /// Comments are not a feature here: accepted and ignored.
    pub(super) allow_public_comments: Option<bool>,
}

#[derive(InputObject)]
pub struct ProjectUpdateRoleInput {
    pub(super) project_id: String,
    pub(super) user_id: String,
    /// Null takes the user off the project.
    pub(super) role: Option<String>,
}

fn stream_input(
    name: Option<String>,
    description: Option<String>,
    visibility: Option<ProjectVisibility>,
) -> async_graphql::Result<StreamInput> {
    let is_public = visibility.map(ProjectVisibility::is_public).transpose().map_err(to_api)?;
    Ok(StreamInput { name, description, is_public })
}

/// The root query's project fields.
#[derive(Default)]
pub struct ProjectQuery;

#[Object]
impl ProjectQuery {
    /// A project the caller can read, as `stream(id)` allows: a public one is anyone's.
    async fn project(&self, ctx: &Context<'_>, id: String) -> async_graphql::Result<Project> {
        Project::readable(ctx, &id.into()).await
    }
}

/// The root mutation's `projectMutations` (`streams:write` for all of them, as in Speckle).
#[derive(Default)]
pub struct ProjectMutation;

#[Object]
impl ProjectMutation {
    async fn project_mutations(&self, ctx: &Context<'_>) -> async_graphql::Result<ProjectMutations> {
        require(ctx, Scope::StreamsWrite)?;
        Ok(ProjectMutations)
    }
}

pub struct ProjectMutations;

#[Object]
impl ProjectMutations {
    /// Creates a project owned by the token's user, with a `main` model.
    async fn create(
        &self,
        ctx: &Context<'_>,
        input: Option<ProjectCreateInput>,
    ) -> async_graphql::Result<Project> {
        let caller = writer_who_reads(ctx)?;
        let input = input.unwrap_or(ProjectCreateInput { name: None, description: None, visibility: None });
        let input = stream_input(input.name, input.description, input.visibility)?;
        let id = streams::create(&mut *db(ctx).await?, caller.actor(), input).await.map_err(to_api)?;
        Project::readable(ctx, &id).await
    }

    /// Changes a project's name, description or visibility (owners).
    async fn update(&self, ctx: &Context<'_>, update: ProjectUpdateInput) -> async_graphql::Result<Project> {
        let caller = writer_who_reads(ctx)?;
        let _ = update.allow_public_comments;
        let id = StreamId::from(update.id.0);
        let input = stream_input(update.name, update.description, update.visibility)?;
        streams::update(&mut *db(ctx).await?, caller.actor(), &id, input).await.map_err(to_api)?;
        Project::readable(ctx, &id).await
    }

    /// Deletes a project with everything in it (owners).
    async fn delete(&self, ctx: &Context<'_>, id: String) -> async_graphql::Result<bool> {
        let caller = caller(ctx)?;
        streams::delete(&mut *db(ctx).await?, caller.actor(), &id.into()).await.map_err(to_api)?;
        Ok(true)
    }

    /// Gives a user a role on the project, or, with a null role, takes them off it (owners).
    async fn update_role(
        &self,
        ctx: &Context<'_>,
        input: ProjectUpdateRoleInput,
    ) -> async_graphql::Result<Project> {
        let caller = writer_who_reads(ctx)?;
        let (id, target) = (StreamId::from(input.project_id), UserId::from(input.user_id));
        let mut conn = db(ctx).await?;
        match input.role.as_deref() {
            Some(role) => {
                let role = Role::parse(role).map_err(to_api)?;
                sharing::grant(&mut conn, caller.actor(), &id, &target, role).await
            }
            None => sharing::revoke(&mut conn, caller.actor(), &id, &target).await,
        }
        .map_err(to_api)?;
        drop(conn);
        Project::readable(ctx, &id).await
    }

    /// Takes the token's user off the project; its last owner stays.
    async fn leave(&self, ctx: &Context<'_>, id: String) -> async_graphql::Result<bool> {
        let caller = caller(ctx)?;
        sharing::leave(&mut *db(ctx).await?, caller.actor(), &id.into()).await.map_err(to_api)?;
        Ok(true)
    }

    /// Invitations to the project.
    async fn invites(&self) -> super::ProjectInviteMutations {
        super::ProjectInviteMutations
    }
}
