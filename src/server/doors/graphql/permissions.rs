//! Speckle's permission checks (`Project.permissions`, `Model.permissions`,
//! `Version.permissions`, `User.permissions`): whether this token could do a thing, answered
//! by the same rules the mutation applies (the token's scope, then the stream's role), never
//! a second copy of them.

use async_graphql::{Context, Object, SimpleObject};

use super::{caller, db, to_api, JsonObject};
use crate::rules::error::{AppError, AppResult};
use crate::rules::limits::MAIN_BRANCH;
use crate::rules::scopes::Scope;
use crate::server::db::{models, UserId};
use crate::server::domain::branches::require_owner_or_author;
use crate::server::domain::sharing;
use crate::server::domain::streams::{require_owner, require_write, Role};

/// One check's answer, as Speckle gives it: `code` `OK`, or why not.
#[derive(SimpleObject)]
pub struct PermissionCheckResult {
    pub(super) authorized: bool,
    pub(super) code: String,
    pub(super) message: String,
    pub(super) payload: Option<JsonObject>,
    /// The message when refused, else null.
    pub(super) error_message: Option<String>,
}

impl PermissionCheckResult {
    /// The answer of a rule's outcome; `refused` is Speckle's code for "not enough rights".
    fn of(outcome: AppResult<()>, refused: &str) -> PermissionCheckResult {
        let code = match &outcome {
            Ok(()) => "OK",
            Err(AppError::MissingScope { .. }) => "MissingScope",
            Err(AppError::NotFound(_)) => "ProjectNotFound",
            Err(AppError::SignedOut) => "ServerNoSession",
            Err(_) => refused,
        };
        let message = match outcome {
            Ok(()) => "OK".to_owned(),
            Err(error) => error.to_string(),
        };
        let authorized = code == "OK";
        PermissionCheckResult {
            authorized,
            code: code.to_owned(),
            error_message: (!authorized).then(|| message.clone()),
            message,
            payload: None,
        }
    }

    fn workspaces_disabled() -> PermissionCheckResult {
        PermissionCheckResult::of(Err(super::workspaces_disabled()), "WorkspacesNotEnabled")
    }
}

/// The token's user, if the token holds `scope`; an anonymous request holds none.
fn holding<'a>(ctx: &'a Context<'_>, scope: Scope) -> AppResult<&'a UserId> {
    let caller = caller(ctx).map_err(|_| AppError::SignedOut)?;
    caller.require(scope)?;
    Ok(&caller.user_id)
}

/// The token's user, if the token may write and read back what it wrote (as the mutations
/// that answer a project, a model or a version ask: `writer_who_reads`).
fn writing<'a>(ctx: &'a Context<'_>) -> AppResult<&'a UserId> {
    holding(ctx, Scope::StreamsWrite)?;
    holding(ctx, Scope::StreamsRead)
}

const NOT_ENOUGH: &str = "ProjectNotEnoughPermissions";

/// What this request may do to a project, by the caller's role on it.
pub struct ProjectPermissionChecks {
    pub(super) role: Option<Role>,
    pub(super) stream: models::Stream,
}

#[Object]
impl ProjectPermissionChecks {
    async fn can_read(&self) -> PermissionCheckResult {
        PermissionCheckResult::of(Ok(()), NOT_ENOUGH)
    }
    async fn can_load(&self) -> PermissionCheckResult {
        PermissionCheckResult::of(Ok(()), NOT_ENOUGH)
    }
    async fn can_create_model(&self, ctx: &Context<'_>) -> PermissionCheckResult {
        let outcome = writing(ctx).and_then(|_| require_write(self.role, "create branches"));
        PermissionCheckResult::of(outcome, NOT_ENOUGH)
    }
    async fn can_publish(&self, ctx: &Context<'_>) -> PermissionCheckResult {
        let outcome = writing(ctx).and_then(|_| require_write(self.role, "create commits"));
        PermissionCheckResult::of(outcome, NOT_ENOUGH)
    }
    async fn can_update(&self, ctx: &Context<'_>) -> PermissionCheckResult {
        let outcome = writing(ctx).and_then(|_| require_owner(self.role, "update it"));
        PermissionCheckResult::of(outcome, NOT_ENOUGH)
    }
    async fn can_read_settings(&self, ctx: &Context<'_>) -> PermissionCheckResult {
        let outcome =
            holding(ctx, Scope::StreamsRead).and_then(|_| require_owner(self.role, "see its settings"));
        PermissionCheckResult::of(outcome, NOT_ENOUGH)
    }
    async fn can_delete(&self, ctx: &Context<'_>) -> PermissionCheckResult {
        let outcome = holding(ctx, Scope::StreamsWrite).and_then(|_| require_owner(self.role, "delete it"));
        PermissionCheckResult::of(outcome, NOT_ENOUGH)
    }
    async fn can_invite(&self, ctx: &Context<'_>) -> PermissionCheckResult {
        let outcome = writing(ctx)
            .and_then(|_| holding(ctx, Scope::UsersInvite))
            .and_then(|_| require_owner(self.role, "invite others to it"));
        PermissionCheckResult::of(outcome, NOT_ENOUGH)
    }
    /// Whether the caller may leave: one of its collaborators, and not its last owner.
    async fn can_leave(&self, ctx: &Context<'_>) -> async_graphql::Result<PermissionCheckResult> {
        let outcome = match holding(ctx, Scope::StreamsWrite) {
            Ok(user_id) => {
                sharing::may_leave(&mut *db(ctx).await?, user_id, &self.stream.id, self.role).await
            }
            Err(error) => Err(error),
        };
        match outcome {
            Err(error @ (AppError::Unavailable | AppError::Internal)) => Err(to_api(error)),
            Err(error @ AppError::BadInput(_)) => {
                Ok(PermissionCheckResult::of(Err(error), "ProjectLastOwner"))
            }
            outcome => Ok(PermissionCheckResult::of(outcome, NOT_ENOUGH)),
        }
    }
    async fn can_move_to_workspace(&self, workspace_id: Option<String>) -> PermissionCheckResult {
        let _ = workspace_id;
        PermissionCheckResult::workspaces_disabled()
    }
}

/// What this request may do to a model (a branch).
pub struct ModelPermissionChecks {
    pub(super) role: Option<Role>,
    pub(super) branch: models::Branch,
}

#[Object]
impl ModelPermissionChecks {
    async fn can_update(&self, ctx: &Context<'_>) -> PermissionCheckResult {
        let outcome = writing(ctx).and_then(|_| require_write(self.role, "update branches"));
        PermissionCheckResult::of(outcome, NOT_ENOUGH)
    }
    async fn can_create_version(&self, ctx: &Context<'_>) -> PermissionCheckResult {
        let outcome = writing(ctx).and_then(|_| require_write(self.role, "create commits"));
        PermissionCheckResult::of(outcome, NOT_ENOUGH)
    }
    async fn can_delete(&self, ctx: &Context<'_>) -> PermissionCheckResult {
        if self.branch.name == MAIN_BRANCH {
            let reserved = crate::rules::error::bad_input("The main branch cannot be deleted.");
            return PermissionCheckResult::of(Err(reserved), "ReservedModelNotDeletable");
        }
        let outcome = holding(ctx, Scope::StreamsWrite).and_then(|user_id| {
            require_owner_or_author(self.role, self.branch.author_id.as_ref(), user_id, "delete this branch")
        });
        PermissionCheckResult::of(outcome, NOT_ENOUGH)
    }
    /// Model ingestion (file imports) is not a feature here.
    async fn can_create_ingestion(&self) -> PermissionCheckResult {
        let refused = crate::rules::error::forbidden("Model ingestion is not available on this server.");
        PermissionCheckResult::of(Err(refused), "ModelIngestionNotEnabled")
    }
}

/// What this request may do to a version (a commit).
pub struct VersionPermissionChecks {
    pub(super) role: Option<Role>,
    pub(super) commit: models::Commit,
}

#[Object]
impl VersionPermissionChecks {
    async fn can_update(&self, ctx: &Context<'_>) -> PermissionCheckResult {
        let outcome = writing(ctx).and_then(|user_id| {
            require_owner_or_author(self.role, Some(&self.commit.author_id), user_id, "change this commit")
        });
        PermissionCheckResult::of(outcome, NOT_ENOUGH)
    }
    async fn can_receive(&self, ctx: &Context<'_>) -> PermissionCheckResult {
        PermissionCheckResult::of(holding(ctx, Scope::StreamsRead).map(|_| ()), NOT_ENOUGH)
    }
}

/// What the token's user may do on this server.
pub struct RootPermissionChecks;

#[Object]
impl RootPermissionChecks {
    async fn can_create_personal_project(&self, ctx: &Context<'_>) -> PermissionCheckResult {
        PermissionCheckResult::of(holding(ctx, Scope::StreamsWrite).map(|_| ()), "ServerNotEnoughPermissions")
    }
    async fn can_create_workspace(&self) -> PermissionCheckResult {
        PermissionCheckResult::workspaces_disabled()
    }
}
