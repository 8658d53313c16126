//! Speckle's permission checks (`Project.permissions`, `Model.permissions`,
//! `Version.permissions`, `User.permissions`): whether this token could do a thing, answered
//! by the same rules the mutation applies (the token's scope, then the stream's role), never
//! a second copy of them.

use async_graphql::{Context, Object, SimpleObject};

use super::{caller, db, to_api, JsonObject};
use crate::rules::error::{bad_input, AppError, AppResult};
use crate::rules::limits::MAIN_BRANCH;
use crate::rules::scopes::Scope;
use crate::server::db::{models, StreamId, UserId};
use crate::server::domain::sharing;
use crate::server::domain::streams::{self, Rights, Role};

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

    /// `tokenCan`'s answer: the code of the refusal (`OK`, `FORBIDDEN`, `NOT_FOUND`), its
    /// message naming the missing scope, role or limit.
    fn of_code(outcome: AppResult<()>) -> PermissionCheckResult {
        let code = match &outcome {
            Ok(()) => "OK",
            Err(error) => error.code(),
        };
        PermissionCheckResult::of(outcome, code).with_code(code)
    }

    fn with_code(mut self, code: &str) -> PermissionCheckResult {
        code.clone_into(&mut self.code);
        self
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

/// The rights of this request's token on a stream where the role it may use is `role`: the
/// same [`Rights`] the mutations check, with the token's streams (SPEC §12).
fn rights_on(ctx: &Context<'_>, stream_id: &StreamId, role: Option<Role>) -> Rights {
    let limit = caller(ctx).ok().and_then(|caller| caller.limit.as_ref());
    Rights::on(limit, stream_id, role)
}

/// What this request may do to a project, by the caller's role on it.
pub struct ProjectPermissionChecks {
    pub(super) role: Option<Role>,
    pub(super) stream: models::Stream,
}

impl ProjectPermissionChecks {
    fn rights(&self, ctx: &Context<'_>) -> Rights {
        rights_on(ctx, &self.stream.id, self.role)
    }
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
        let outcome = writing(ctx).and_then(|_| self.rights(ctx).require_write("create branches"));
        PermissionCheckResult::of(outcome, NOT_ENOUGH)
    }
    async fn can_publish(&self, ctx: &Context<'_>) -> PermissionCheckResult {
        let outcome = writing(ctx).and_then(|_| self.rights(ctx).require_write("create commits"));
        PermissionCheckResult::of(outcome, NOT_ENOUGH)
    }
    async fn can_update(&self, ctx: &Context<'_>) -> PermissionCheckResult {
        let outcome = writing(ctx).and_then(|_| self.rights(ctx).require_owner("update it"));
        PermissionCheckResult::of(outcome, NOT_ENOUGH)
    }
    async fn can_read_settings(&self, ctx: &Context<'_>) -> PermissionCheckResult {
        let outcome =
            holding(ctx, Scope::StreamsRead).and_then(|_| self.rights(ctx).require_owner("see its settings"));
        PermissionCheckResult::of(outcome, NOT_ENOUGH)
    }
    async fn can_delete(&self, ctx: &Context<'_>) -> PermissionCheckResult {
        let outcome =
            holding(ctx, Scope::StreamsWrite).and_then(|_| self.rights(ctx).require_owner("delete it"));
        PermissionCheckResult::of(outcome, NOT_ENOUGH)
    }
    async fn can_invite(&self, ctx: &Context<'_>) -> PermissionCheckResult {
        let outcome = writing(ctx)
            .and_then(|_| holding(ctx, Scope::UsersInvite))
            .and_then(|_| self.rights(ctx).require_owner("invite others to it"));
        PermissionCheckResult::of(outcome, NOT_ENOUGH)
    }
    /// Whether the caller may leave: one of its collaborators, and not its last owner.
    async fn can_leave(&self, ctx: &Context<'_>) -> async_graphql::Result<PermissionCheckResult> {
        let outcome = match holding(ctx, Scope::StreamsWrite) {
            Ok(user_id) => match self.rights(ctx).require_unnarrowed("leave it") {
                Ok(()) => sharing::may_leave(&mut *db(ctx).await?, user_id, &self.stream.id, self.role).await,
                Err(error) => Err(error),
            },
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

impl ModelPermissionChecks {
    fn rights(&self, ctx: &Context<'_>) -> Rights {
        rights_on(ctx, &self.branch.stream_id, self.role)
    }
}

#[Object]
impl ModelPermissionChecks {
    async fn can_update(&self, ctx: &Context<'_>) -> PermissionCheckResult {
        let outcome = writing(ctx).and_then(|_| self.rights(ctx).require_write("update branches"));
        PermissionCheckResult::of(outcome, NOT_ENOUGH)
    }
    async fn can_create_version(&self, ctx: &Context<'_>) -> PermissionCheckResult {
        let outcome = writing(ctx).and_then(|_| self.rights(ctx).require_write("create commits"));
        PermissionCheckResult::of(outcome, NOT_ENOUGH)
    }
    async fn can_delete(&self, ctx: &Context<'_>) -> PermissionCheckResult {
        if self.branch.name == MAIN_BRANCH {
            let reserved = crate::rules::error::bad_input("The main branch cannot be deleted.");
            return PermissionCheckResult::of(Err(reserved), "ReservedModelNotDeletable");
        }
        let outcome = holding(ctx, Scope::StreamsWrite).and_then(|user_id| {
            self.rights(ctx).require_owner_or_author(
                self.branch.author_id.as_ref(),
                user_id,
                "delete this branch",
            )
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

impl VersionPermissionChecks {
    fn rights(&self, ctx: &Context<'_>) -> Rights {
        rights_on(ctx, &self.commit.stream_id, self.role)
    }
}

#[Object]
impl VersionPermissionChecks {
    async fn can_update(&self, ctx: &Context<'_>) -> PermissionCheckResult {
        let outcome = writing(ctx).and_then(|user_id| {
            self.rights(ctx).require_owner_or_author(
                Some(&self.commit.author_id),
                user_id,
                "change this commit",
            )
        });
        PermissionCheckResult::of(outcome, NOT_ENOUGH)
    }
    async fn can_receive(&self, ctx: &Context<'_>) -> PermissionCheckResult {
        PermissionCheckResult::of(holding(ctx, Scope::StreamsRead).map(|_| ()), NOT_ENOUGH)
    }
}

/// SPEC §12's `tokenCan`: whether this token could take `action` (on `stream_id`), by the
/// rules the mutation applies, without taking it. A stream the token cannot see is
/// `NOT_FOUND` exactly as a missing one is; an action it does not know is the client's error.
pub(super) async fn token_can(
    ctx: &Context<'_>,
    action: &str,
    stream_id: Option<StreamId>,
) -> async_graphql::Result<PermissionCheckResult> {
    let caller = caller(ctx)?;
    let on_stream = |wanted: &str| {
        stream_id
            .clone()
            .ok_or_else(|| to_api(bad_input(format!("streamId: {wanted} is asked of one stream; name it."))))
    };
    let writable = |id: StreamId, scope: Scope| async move {
        caller.require(scope)?;
        streams::readable(&mut *db(ctx).await.map_err(|_| AppError::Unavailable)?, &id, Some(caller.actor()))
            .await
    };
    let outcome = match action {
        "streams:read" => match &stream_id {
            None => caller.require(Scope::StreamsRead),
            Some(id) => {
                let mut conn = db(ctx).await?;
                streams::readable_by(&mut conn, id, caller.reader()).await.map(drop)
            }
        },
        "streams:write" => match stream_id.clone() {
            None => caller
                .require(Scope::StreamsWrite)
                .and_then(|()| caller.actor().refuse_if_limited("create streams")),
            Some(id) => {
                writable(id, Scope::StreamsWrite).await.and_then(|access| access.require_write("write to it"))
            }
        },
        "stream:share" => {
            writable(on_stream(action)?, Scope::StreamsWrite).await.and_then(|a| a.require_owner("share it"))
        }
        "stream:delete" => {
            writable(on_stream(action)?, Scope::StreamsWrite).await.and_then(|a| a.require_owner("delete it"))
        }
        "users:invite" => match stream_id.clone() {
            None => caller.require(Scope::UsersInvite),
            Some(id) => {
                writable(id, Scope::UsersInvite).await.and_then(|a| a.require_owner("invite others to it"))
            }
        },
        name => match Scope::from_name(name) {
            Some(scope) if ACTION_SCOPES.contains(&scope) => caller.require(scope),
            _ => {
                return Err(to_api(bad_input(format!(
                    "action: {name:?} is not an action; ask about one of {}.",
                    ACTIONS.join(", ")
                ))))
            }
        },
    };
    match outcome {
        Err(error @ (AppError::Unavailable | AppError::Internal)) => Err(to_api(error)),
        outcome => Ok(PermissionCheckResult::of_code(outcome)),
    }
}

/// The actions `tokenCan` answers.
const ACTIONS: [&str; 10] = [
    "streams:read",
    "streams:write",
    "stream:share",
    "stream:delete",
    "users:read",
    "users:invite",
    "profile:read",
    "profile:email",
    "tokens:read",
    "tokens:write",
];

/// The actions of [`ACTIONS`] that are a scope and nothing more.
const ACTION_SCOPES: [Scope; 5] =
    [Scope::UsersRead, Scope::ProfileRead, Scope::ProfileEmail, Scope::TokensRead, Scope::TokensWrite];

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
