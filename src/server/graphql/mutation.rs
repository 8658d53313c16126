//! Mutations, named and shaped as Speckle's: streams, sharing, branches, commits and objects
//! (`streams:write`), the profile (`profile:write`) and tokens (`tokens:write`).

use async_graphql::{Context, InputObject, Object};

use super::{db, require, to_api, BigInt, JsonObject, Stream};
use crate::error::{bad_input, AppError};
use crate::scopes::{Scope, ScopeSet};
use crate::server::activity::{Revoker, Seen};
use crate::server::branches::{self, CommitInput};
use crate::server::db::now_millis;
use crate::server::objects;
use crate::server::streams::{self, Role, StreamInput};
use crate::server::tokens::{self, PlainToken};
use crate::server::users::{self, ProfileUpdate};

#[derive(InputObject)]
pub struct StreamCreateInput {
    name: Option<String>,
    description: Option<String>,
    is_public: Option<bool>,
    /// Discoverability is not a feature here; accepted and ignored.
    is_discoverable: Option<bool>,
    /// Users to share the new stream with, as contributors.
    with_contributors: Option<Vec<String>>,
}

#[derive(InputObject)]
pub struct StreamUpdateInput {
    id: String,
    name: Option<String>,
    description: Option<String>,
    is_public: Option<bool>,
    is_discoverable: Option<bool>,
    allow_public_comments: Option<bool>,
}

#[derive(InputObject)]
pub struct StreamUpdatePermissionInput {
    stream_id: String,
    user_id: String,
    role: String,
}

#[derive(InputObject)]
pub struct StreamRevokePermissionInput {
    stream_id: String,
    user_id: String,
}

#[derive(InputObject)]
pub struct StreamInviteCreateInput {
    email: Option<String>,
    user_id: Option<String>,
    stream_id: String,
    message: Option<String>,
    role: Option<String>,
    server_role: Option<String>,
}

#[derive(InputObject)]
pub struct BranchCreateInput {
    stream_id: String,
    name: String,
    description: Option<String>,
}

#[derive(InputObject)]
pub struct BranchUpdateInput {
    stream_id: String,
    id: String,
    name: Option<String>,
    description: Option<String>,
}

#[derive(InputObject)]
pub struct BranchDeleteInput {
    stream_id: String,
    id: String,
}

#[derive(InputObject)]
pub struct CommitCreateInput {
    stream_id: String,
    /// `main` when not given.
    branch_name: Option<String>,
    object_id: String,
    message: Option<String>,
    source_application: Option<String>,
    total_children_count: Option<i32>,
    /// Use `parents`.
    previous_commit_ids: Option<Vec<Option<String>>>,
    parents: Option<Vec<Option<String>>>,
}

#[derive(InputObject)]
pub struct CommitUpdateInput {
    stream_id: String,
    id: String,
    message: Option<String>,
    /// Moves the commit to the branch of this name.
    new_branch_name: Option<String>,
}

#[derive(InputObject)]
pub struct CommitReceivedInput {
    stream_id: String,
    commit_id: String,
    source_application: String,
    message: Option<String>,
}

#[derive(InputObject)]
pub struct CommitDeleteInput {
    stream_id: String,
    id: String,
}

#[derive(InputObject)]
pub struct ObjectCreateInput {
    stream_id: String,
    objects: Vec<Option<JsonObject>>,
}

#[derive(InputObject)]
pub struct UserUpdateInput {
    name: Option<String>,
    company: Option<String>,
    bio: Option<String>,
    avatar: Option<String>,
}

#[derive(InputObject)]
pub struct ApiTokenCreateInput {
    name: String,
    scopes: Vec<String>,
    /// Milliseconds; omitted: as long as the token that creates it.
    lifespan: Option<BigInt>,
    /// At most 500 characters.
    description: Option<String>,
}

/// SPEC §8's regeneration.
#[derive(InputObject)]
pub struct ApiTokenRotateInput {
    /// The id of the token to regenerate (one of the caller's own).
    id: String,
    /// Milliseconds; omitted: as long as the old token was given.
    lifespan: Option<BigInt>,
    /// How long the old token keeps working unless the new one is used first: 24 hours when
    /// omitted, 0 for not at all, at most 7 days.
    grace_period_seconds: Option<i32>,
}

/// Invitations are not a feature here: streams are shared directly.
fn no_invites() -> async_graphql::Error {
    to_api(bad_input(
        "Invitations are not available on this server: share the stream with streamUpdatePermission.",
    ))
}

pub struct Mutation;

/// The most collaborators `streamCreate` may add at once.
pub const MAX_CONTRIBUTORS_AT_CREATION: usize = 100;

/// Where the request came from, for the events a mutation records.
fn seen(ctx: &Context<'_>) -> Seen {
    ctx.data_opt::<Seen>().cloned().unwrap_or_default()
}

#[Object]
impl Mutation {
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
        let id = streams::create(&mut *db(ctx).await?, &caller.user_id, input).await.map_err(to_api)?;
        for user_id in contributors {
            // Each grant is its own write, counted as one.
            streams::grant(&mut *db(ctx).await?, &caller.user_id, &id, &user_id, Role::Contributor)
                .await
                .map_err(to_api)?;
        }
        Ok(Some(id))
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
        streams::update(&mut *db(ctx).await?, &caller.user_id, &stream.id, input).await.map_err(to_api)?;
        Ok(true)
    }

    /// Deletes a stream with everything in it (owners).
    async fn stream_delete(&self, ctx: &Context<'_>, id: String) -> async_graphql::Result<bool> {
        let caller = require(ctx, Scope::StreamsWrite)?;
        streams::delete(&mut *db(ctx).await?, &caller.user_id, &id).await.map_err(to_api)?;
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
        streams::grant(&mut *db(ctx).await?, &caller.user_id, &p.stream_id, &p.user_id, role)
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
        streams::revoke(&mut *db(ctx).await?, &caller.user_id, &p.stream_id, &p.user_id)
            .await
            .map_err(to_api)?;
        Ok(Some(true))
    }

    /// Favourites are not kept here: answers null for a stream the caller can read.
    async fn stream_favorite(
        &self,
        ctx: &Context<'_>,
        stream_id: String,
        favorited: bool,
    ) -> async_graphql::Result<Option<Stream>> {
        let caller = require(ctx, Scope::StreamsRead)?;
        let _ = favorited;
        streams::readable(&mut *db(ctx).await?, &stream_id, Some(&caller.user_id)).await.map_err(to_api)?;
        Ok(None)
    }

    async fn stream_invite_create(&self, input: StreamInviteCreateInput) -> async_graphql::Result<bool> {
        let _ = (input.email, input.user_id, input.stream_id, input.message, input.role, input.server_role);
        Err(no_invites())
    }

    async fn stream_invite_batch_create(
        &self,
        input: Vec<StreamInviteCreateInput>,
    ) -> async_graphql::Result<bool> {
        let _ = input;
        Err(no_invites())
    }

    async fn stream_invite_cancel(
        &self,
        stream_id: String,
        invite_id: String,
    ) -> async_graphql::Result<bool> {
        let _ = (stream_id, invite_id);
        Err(no_invites())
    }

    async fn stream_invite_use(
        &self,
        accept: bool,
        stream_id: String,
        token: String,
    ) -> async_graphql::Result<bool> {
        let _ = (accept, stream_id, token);
        Err(no_invites())
    }

    /// Creates a branch (owners and contributors); answers its id.
    async fn branch_create(
        &self,
        ctx: &Context<'_>,
        branch: BranchCreateInput,
    ) -> async_graphql::Result<String> {
        let caller = require(ctx, Scope::StreamsWrite)?;
        branches::create(
            &mut *db(ctx).await?,
            &caller.user_id,
            &branch.stream_id,
            &branch.name,
            branch.description,
        )
        .await
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
            &caller.user_id,
            &b.stream_id,
            &b.id,
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
        branches::delete(&mut *db(ctx).await?, &caller.user_id, &branch.stream_id, &branch.id)
            .await
            .map_err(to_api)?;
        Ok(true)
    }

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
        branches::create_commit(&mut *db(ctx).await?, &caller.user_id, &commit.stream_id, input)
            .await
            .map_err(to_api)
    }

    /// Changes a commit's message or branch (owners, or its author).
    async fn commit_update(
        &self,
        ctx: &Context<'_>,
        commit: CommitUpdateInput,
    ) -> async_graphql::Result<bool> {
        let caller = require(ctx, Scope::StreamsWrite)?;
        let c = commit;
        branches::update_commit(
            &mut *db(ctx).await?,
            &caller.user_id,
            &c.stream_id,
            &c.id,
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
        branches::received(&mut *db(ctx).await?, &caller.user_id, &input.stream_id, &input.commit_id)
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
        branches::delete_commit(&mut *db(ctx).await?, &caller.user_id, &commit.stream_id, &commit.id)
            .await
            .map_err(to_api)?;
        Ok(true)
    }

    /// Stores objects on a stream (owners and contributors); answers their ids. Large sets
    /// go through the object transport (`POST /objects/:streamId`) instead.
    async fn object_create(
        &self,
        ctx: &Context<'_>,
        object_input: ObjectCreateInput,
    ) -> async_graphql::Result<Vec<String>> {
        let caller = require(ctx, Scope::StreamsWrite)?;
        let mut conn = db(ctx).await?;
        let stream_id = &object_input.stream_id;
        streams::readable(&mut conn, stream_id, Some(&caller.user_id))
            .await
            .and_then(|access| access.require_write("send objects"))
            .map_err(to_api)?;
        let texts: Vec<String> = object_input
            .objects
            .into_iter()
            .map(|object| object.map_or_else(|| "null".to_owned(), |JsonObject(value)| value.to_string()))
            .collect();
        let batch: Vec<_> = texts
            .iter()
            .map(|text| objects::parse_object(text))
            .collect::<Result<_, AppError>>()
            .map_err(to_api)?;
        let ids = batch.iter().map(|object| object.id.to_string()).collect();
        objects::store(&mut conn, stream_id, batch).await.map_err(to_api)?;
        Ok(ids)
    }

    /// Changes the token's user's profile (`profile:write`).
    async fn user_update(&self, ctx: &Context<'_>, user: UserUpdateInput) -> async_graphql::Result<bool> {
        let caller = require(ctx, Scope::ProfileWrite)?;
        let update =
            ProfileUpdate { name: user.name, company: user.company, bio: user.bio, avatar: user.avatar };
        users::update_profile(&mut *db(ctx).await?, &caller.user_id, update).await.map_err(to_api)?;
        Ok(true)
    }

    /// Creates a token for the token's user; answers the secret, shown this once.
    async fn api_token_create(
        &self,
        ctx: &Context<'_>,
        token: ApiTokenCreateInput,
    ) -> async_graphql::Result<String> {
        let caller = require(ctx, Scope::TokensWrite)?;
        let scopes = ScopeSet::try_from(token.scopes)
            .map_err(|unknown| to_api(bad_input(format!("scopes: there is no scope called {unknown:?}."))))?;
        let lifespan = token.lifespan.map(|BigInt(ms)| ms);
        let new = tokens::NewToken {
            name: &token.name,
            description: token.description.as_deref(),
            scopes,
            expires_at: None,
        };
        let (_, secret) = tokens::create_child(&mut *db(ctx).await?, caller, new, lifespan, &seen(ctx))
            .await
            .map_err(to_api)?;
        Ok(secret.expose_secret().to_owned())
    }

    /// Revokes one of the caller's tokens, given by id or by the token itself, with every
    /// token it minted.
    async fn api_token_revoke(&self, ctx: &Context<'_>, token: String) -> async_graphql::Result<bool> {
        let caller = require(ctx, Scope::TokensWrite)?;
        let mut conn = db(ctx).await?;
        let revoker = Revoker::Token(caller.token_name.clone());
        let seen = seen(ctx);
        let revoked = match PlainToken::parse(token.trim()) {
            Ok(secret) => tokens::revoke_by_secret(&mut conn, &caller.user_id, &secret, revoker, &seen).await,
            Err(_) => tokens::revoke(&mut conn, &caller.user_id, token.trim(), revoker, &seen).await,
        };
        revoked.map_err(to_api)?;
        Ok(true)
    }

    /// Revokes every other token of the caller's user, with what they minted (SPEC §9).
    async fn api_tokens_revoke_all(&self, ctx: &Context<'_>) -> async_graphql::Result<bool> {
        let caller = require(ctx, Scope::TokensWrite)?;
        let revoker = Revoker::Token(caller.token_name.clone());
        tokens::revoke_all(
            &mut *db(ctx).await?,
            &caller.user_id,
            Some(&caller.token_id),
            revoker,
            &seen(ctx),
        )
        .await
        .map_err(to_api)?;
        Ok(true)
    }

    /// Regenerates one of the caller's tokens (SPEC §8); answers the new secret, shown this
    /// once. The old one works until the new one is first used or the grace period ends.
    async fn api_token_rotate(
        &self,
        ctx: &Context<'_>,
        token: ApiTokenRotateInput,
    ) -> async_graphql::Result<String> {
        let caller = require(ctx, Scope::TokensWrite)?;
        let expiry = match token.lifespan {
            Some(BigInt(ms)) => {
                tokens::Expiry::At(tokens::lifespan_expiry(ms, now_millis()).map_err(to_api)?)
            }
            None => tokens::Expiry::AsBefore,
        };
        let grace_ms = match token.grace_period_seconds {
            Some(seconds) => i64::from(seconds) * 1000,
            None => tokens::DEFAULT_GRACE_MS,
        };
        let rotation = tokens::Rotation { token_id: token.id.trim(), expiry, grace_ms, by: Some(caller) };
        let (_, secret) = tokens::rotate(&mut *db(ctx).await?, &caller.user_id, rotation, &seen(ctx))
            .await
            .map_err(to_api)?;
        Ok(secret.expose_secret().to_owned())
    }
}
