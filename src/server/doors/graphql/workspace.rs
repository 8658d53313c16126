//! Speckle's workspaces, which this server does not have (`workspacesEnabled` is false, SPEC
//! §10): the fields specklepy 2026 asks for exist, with Speckle's names and types, so that a
//! query naming them is valid, and each answers that workspaces are not enabled. Their types
//! have no values (empty enums): nothing can ever be answered through them.

// async-graphql's macro wraps each resolver's `match *self {}` in code that can never run.
#![allow(unreachable_code)]

use async_graphql::{Context, InputObject, Object, ID};

use super::{
    caller, to_api, workspaces_disabled, DateTime, JsonObject, PermissionCheckResult, Project,
    ProjectVisibility,
};

/// A workspace: none exist here.
pub enum Workspace {}

#[Object]
impl Workspace {
    async fn id(&self) -> ID {
        match *self {}
    }
    async fn name(&self) -> String {
        match *self {}
    }
    async fn slug(&self) -> String {
        match *self {}
    }
    async fn description(&self) -> Option<String> {
        match *self {}
    }
    async fn created_at(&self) -> DateTime {
        match *self {}
    }
    async fn updated_at(&self) -> DateTime {
        match *self {}
    }
    async fn logo(&self) -> Option<String> {
        match *self {}
    }
    async fn role(&self) -> Option<String> {
        match *self {}
    }
    async fn read_only(&self) -> bool {
        match *self {}
    }
    async fn creation_state(&self) -> Option<WorkspaceCreationState> {
        match *self {}
    }
    async fn permissions(&self) -> WorkspacePermissionChecks {
        match *self {}
    }
}

pub enum WorkspaceCreationState {}

#[Object]
impl WorkspaceCreationState {
    async fn completed(&self) -> bool {
        match *self {}
    }
    async fn state(&self) -> JsonObject {
        match *self {}
    }
}

pub enum WorkspacePermissionChecks {}

#[Object]
impl WorkspacePermissionChecks {
    async fn can_create_project(&self) -> PermissionCheckResult {
        match *self {}
    }
}

/// Workspace metadata visible to non-members: none here.
pub enum LimitedWorkspace {}

#[Object]
impl LimitedWorkspace {
    async fn id(&self) -> ID {
        match *self {}
    }
    async fn name(&self) -> String {
        match *self {}
    }
    async fn slug(&self) -> String {
        match *self {}
    }
    async fn description(&self) -> Option<String> {
        match *self {}
    }
    async fn role(&self) -> Option<String> {
        match *self {}
    }
    async fn logo(&self) -> Option<String> {
        match *self {}
    }
}

pub enum WorkspaceCollection {}

#[Object]
impl WorkspaceCollection {
    async fn total_count(&self) -> i32 {
        match *self {}
    }
    async fn cursor(&self) -> Option<String> {
        match *self {}
    }
    async fn items(&self) -> Vec<Workspace> {
        match *self {}
    }
}

#[derive(InputObject)]
pub struct UserWorkspacesFilter {
    pub search: Option<String>,
    pub completed: Option<bool>,
}

#[derive(InputObject)]
pub struct WorkspaceProjectCreateInput {
    pub name: Option<String>,
    pub description: Option<String>,
    pub visibility: Option<ProjectVisibility>,
    pub workspace_id: String,
}

/// `User.workspaces` and `User.activeWorkspace` (the token's own user only, as `@isOwner`).
pub(super) fn refused<T>(ctx: &Context<'_>) -> async_graphql::Result<T> {
    caller(ctx)?;
    Err(to_api(workspaces_disabled()))
}

/// The root mutation's `workspaceMutations`.
#[derive(Default)]
pub struct WorkspaceMutation;

#[Object]
impl WorkspaceMutation {
    async fn workspace_mutations(&self, ctx: &Context<'_>) -> async_graphql::Result<WorkspaceMutations> {
        caller(ctx)?;
        Ok(WorkspaceMutations)
    }
}

pub struct WorkspaceMutations;

#[Object]
impl WorkspaceMutations {
    async fn projects(&self, ctx: &Context<'_>) -> async_graphql::Result<WorkspaceProjectMutations> {
        refused(ctx)
    }
}

pub enum WorkspaceProjectMutations {}

#[Object]
impl WorkspaceProjectMutations {
    async fn create(&self, input: WorkspaceProjectCreateInput) -> Project {
        let _ = input;
        match *self {}
    }
}
