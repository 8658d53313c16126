//! Mutations: streams, sharing, commits (`streams:write`) and tokens (`tokens:write`).

use async_graphql::{Context, InputObject, Object};

use super::{db, require, to_api, BigInt};
use crate::error::bad_input;
use crate::scopes::{Scope, ScopeSet};
use crate::server::streams::{self, CommitInput, Role, StreamInput};
use crate::server::tokens::{self, PlainToken};

#[derive(InputObject)]
pub struct StreamCreateInput {
    name: Option<String>,
    description: Option<String>,
    is_public: Option<bool>,
}

#[derive(InputObject)]
pub struct StreamUpdateInput {
    id: String,
    name: Option<String>,
    description: Option<String>,
    is_public: Option<bool>,
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
pub struct CommitCreateInput {
    stream_id: String,
    branch_name: Option<String>,
    object_id: String,
    message: Option<String>,
    source_application: Option<String>,
}

#[derive(InputObject)]
pub struct ApiTokenCreateInput {
    name: String,
    scopes: Vec<String>,
    /// Milliseconds; omitted: as long as the token that creates it.
    lifespan: Option<BigInt>,
}

pub struct Mutation;

#[Object]
impl Mutation {
    /// Creates a stream owned by the token's user; answers its id.
    async fn stream_create(
        &self,
        ctx: &Context<'_>,
        stream: StreamCreateInput,
    ) -> async_graphql::Result<String> {
        let caller = require(ctx, Scope::StreamsWrite)?;
        let input =
            StreamInput { name: stream.name, description: stream.description, is_public: stream.is_public };
        streams::create(&mut db(ctx).await?, &caller.user_id, input).await.map_err(to_api)
    }

    /// Changes a stream's name, description or visibility (owners).
    async fn stream_update(
        &self,
        ctx: &Context<'_>,
        stream: StreamUpdateInput,
    ) -> async_graphql::Result<bool> {
        let caller = require(ctx, Scope::StreamsWrite)?;
        let input =
            StreamInput { name: stream.name, description: stream.description, is_public: stream.is_public };
        streams::update(&mut db(ctx).await?, &caller.user_id, &stream.id, input).await.map_err(to_api)?;
        Ok(true)
    }

    /// Deletes a stream (owners).
    async fn stream_delete(&self, ctx: &Context<'_>, id: String) -> async_graphql::Result<bool> {
        let caller = require(ctx, Scope::StreamsWrite)?;
        streams::delete(&mut db(ctx).await?, &caller.user_id, &id).await.map_err(to_api)?;
        Ok(true)
    }

    /// Shares a stream with a user in a role, or changes their role (owners).
    async fn stream_update_permission(
        &self,
        ctx: &Context<'_>,
        permission_params: StreamUpdatePermissionInput,
    ) -> async_graphql::Result<bool> {
        let caller = require(ctx, Scope::StreamsWrite)?;
        let role = Role::parse(&permission_params.role).map_err(to_api)?;
        let p = permission_params;
        streams::grant(&mut db(ctx).await?, &caller.user_id, &p.stream_id, &p.user_id, role)
            .await
            .map_err(to_api)?;
        Ok(true)
    }

    /// Stops sharing a stream with a user (owners).
    async fn stream_revoke_permission(
        &self,
        ctx: &Context<'_>,
        permission_params: StreamRevokePermissionInput,
    ) -> async_graphql::Result<bool> {
        let caller = require(ctx, Scope::StreamsWrite)?;
        let p = permission_params;
        streams::revoke(&mut db(ctx).await?, &caller.user_id, &p.stream_id, &p.user_id)
            .await
            .map_err(to_api)?;
        Ok(true)
    }

    /// Creates a commit on a stream (owners and contributors); answers its id.
    async fn commit_create(
        &self,
        ctx: &Context<'_>,
        commit: CommitCreateInput,
    ) -> async_graphql::Result<String> {
        let caller = require(ctx, Scope::StreamsWrite)?;
        let input = CommitInput {
            branch_name: commit.branch_name,
            object_id: commit.object_id,
            message: commit.message,
            source_application: commit.source_application,
        };
        streams::create_commit(&mut db(ctx).await?, &caller.user_id, &commit.stream_id, input)
            .await
            .map_err(to_api)
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
        let (_, secret) = tokens::create_child(&mut db(ctx).await?, &caller, &token.name, scopes, lifespan)
            .await
            .map_err(to_api)?;
        Ok(secret.expose_secret().to_owned())
    }

    /// Revokes one of the caller's tokens, given by id or by the token itself.
    async fn api_token_revoke(&self, ctx: &Context<'_>, token: String) -> async_graphql::Result<bool> {
        let caller = require(ctx, Scope::TokensWrite)?;
        let mut conn = db(ctx).await?;
        let revoked = match PlainToken::parse(token.trim()) {
            Ok(secret) => tokens::revoke_by_secret(&mut conn, &caller.user_id, &secret).await,
            Err(_) => tokens::revoke(&mut conn, &caller.user_id, token.trim()).await,
        };
        revoked.map_err(to_api)?;
        Ok(true)
    }
}
