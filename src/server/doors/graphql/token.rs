//! Tokens: `ApiToken` as its owner sees it, its events and addresses, and the mutations
//! that create, revoke and rotate tokens.

use async_graphql::{Context, Enum, InputObject, Object, SimpleObject};

use super::{db, limits, request, require, seen, to_api, BigInt, DateTime};
use crate::rules::error::bad_input;
use crate::rules::limits::{DEFAULT_PAGE, MAX_PAGE};
use crate::rules::scopes::{Scope, ScopeSet};
use crate::server::db::{models, StreamId, TokenId};
use crate::server::domain::activity::{self, Revoker};
use crate::server::domain::reach::{self, Level};
use crate::server::domain::tokens::{self, PlainToken};

/// A token as its owner may see it: everything but the secret.
pub struct ApiToken(pub models::ApiToken);

#[Object]
impl ApiToken {
    async fn id(&self) -> &str {
        self.0.id.as_str()
    }
    async fn name(&self) -> &str {
        &self.0.name
    }
    async fn last_chars(&self) -> &str {
        &self.0.last_chars
    }
    async fn scopes(&self) -> Vec<Option<&'static str>> {
        ScopeSet::from_names(&self.0.scopes).unwrap_or_default().iter().map(|s| Some(s.name())).collect()
    }
    async fn created_at(&self) -> DateTime {
        DateTime(self.0.created_at)
    }
    /// Milliseconds from creation to expiry, as Speckle counts them; 0 for a token that
    /// never expires.
    async fn lifespan(&self) -> BigInt {
        BigInt(self.0.expires_at.map_or(0, |at| at - self.0.created_at))
    }
    async fn expires_at(&self) -> Option<DateTime> {
        self.0.expires_at.map(DateTime)
    }
    /// Null until the token is first used (Speckle answers its creation time then).
    async fn last_used(&self) -> Option<DateTime> {
        self.0.last_used_at.map(DateTime)
    }
    async fn description(&self) -> Option<&str> {
        self.0.description.as_deref()
    }
    /// The streams a limited token reaches, each at its level (SPEC §12); null: every stream
    /// its owner can.
    #[graphql(complexity = "limits::at_most(crate::rules::limits::MAX_TOKEN_STREAMS, child_complexity)")]
    async fn limit_resources(
        &self,
        ctx: &Context<'_>,
    ) -> async_graphql::Result<Option<Vec<TokenResourceIdentifier>>> {
        if !self.0.limited {
            return Ok(None);
        }
        let streams = reach::of_token(&mut *db(ctx).await?, &self.0.id).await.map_err(to_api)?;
        Ok(Some(
            streams
                .into_iter()
                .map(|(id, level)| TokenResourceIdentifier {
                    id: id.to_string(),
                    kind: TokenResourceIdentifierType::Project,
                    access: level.into(),
                })
                .collect(),
        ))
    }
    /// The token that created this one through the API, if one did (revoking it revokes this).
    async fn parent_id(&self) -> Option<&str> {
        self.0.parent_id.as_ref().map(TokenId::as_str)
    }
    /// The first token of its regeneration line: presenting a superseded secret revokes
    /// every token of the family (SPEC §8).
    async fn family_id(&self) -> &str {
        self.0.family().as_str()
    }
    /// What happened to the token, newest first (SPEC §8).
    #[graphql(complexity = "limits::paged(limit, child_complexity)")]
    async fn events(
        &self,
        ctx: &Context<'_>,
        #[graphql(default_with = "DEFAULT_PAGE")] limit: i32,
    ) -> async_graphql::Result<Vec<ApiTokenEvent>> {
        require(ctx, Scope::TokensRead)?;
        if !(1..=MAX_PAGE).contains(&limit) {
            return Err(to_api(bad_input(format!("limit must be between 1 and {MAX_PAGE}."))));
        }
        let events =
            activity::page(&mut *db(ctx).await?, &self.0.user_id, Some(&self.0.id), None, limit.into())
                .await
                .map_err(to_api)?;
        Ok(events.into_iter().map(ApiTokenEvent).collect())
    }
    /// The last distinct addresses the token was used from, most recent first.
    #[graphql(complexity = "limits::at_most(limits::ADDRESSES_COSTED, child_complexity)")]
    async fn last_used_from(&self, ctx: &Context<'_>) -> async_graphql::Result<Vec<TokenAddress>> {
        require(ctx, Scope::TokensRead)?;
        let addresses = activity::addresses(&mut *db(ctx).await?, &self.0.id).await.map_err(to_api)?;
        Ok(addresses.into_iter().map(|(ip, at)| TokenAddress { ip, last_seen: DateTime(at) }).collect())
    }
}

/// An event of a token's activity.
pub struct ApiTokenEvent(activity::ShownEvent);

#[Object]
impl ApiTokenEvent {
    /// `created`, `first_used`, `new_address`, `regenerated`, `revoked`, `expired`…
    #[graphql(name = "type")]
    async fn kind(&self) -> &str {
        &self.0.event.kind
    }
    /// As the activity page says it: "First used", "Used from a new address"…
    async fn label(&self) -> &str {
        self.0.kind.map_or("Event", |kind| kind.label())
    }
    /// Who or what did it, when it says more than the label.
    async fn detail(&self) -> Option<&str> {
        self.0.event.detail.as_deref()
    }
    async fn ip(&self) -> Option<&str> {
        self.0.event.ip.as_deref()
    }
    async fn user_agent(&self) -> Option<&str> {
        self.0.event.user_agent.as_deref()
    }
    async fn created_at(&self) -> DateTime {
        DateTime(self.0.event.at)
    }
}

/// An address a token was used from.
#[derive(SimpleObject)]
pub struct TokenAddress {
    pub(super) ip: String,
    pub(super) last_seen: DateTime,
}

#[derive(InputObject)]
pub struct ApiTokenCreateInput {
    pub(super) name: String,
    pub(super) scopes: Vec<String>,
    /// Milliseconds; omitted: as long as the token that creates it.
    pub(super) lifespan: Option<BigInt>,
    /// At most 500 characters.
    pub(super) description: Option<String>,
    /// Only these streams (at most 100, each one the user is on), each at its `access`
    /// (SPEC §12); omitted or empty: every stream the user can reach, or, for a token created
    /// by a limited token, that token's streams.
    pub(super) limit_resources: Option<Vec<TokenResourceIdentifierInput>>,
}

/// What kind of resource a token is limited to: Speckle's `project`, or `stream`, its
/// synonym here; `workspace` is refused (no workspaces on this server).
#[derive(Enum, Copy, Clone, Eq, PartialEq)]
pub enum TokenResourceIdentifierType {
    #[graphql(name = "project")]
    Project,
    #[graphql(name = "stream")]
    Stream,
    #[graphql(name = "workspace")]
    Workspace,
}

/// What a limited token may do on one of its streams.
#[derive(Enum, Copy, Clone, Eq, PartialEq)]
pub enum TokenResourceAccess {
    /// Read it.
    Read,
    /// Read and write it, as far as the scopes and the user's role allow.
    Write,
}

impl From<Level> for TokenResourceAccess {
    fn from(level: Level) -> Self {
        match level {
            Level::Read => TokenResourceAccess::Read,
            Level::Write => TokenResourceAccess::Write,
        }
    }
}

/// One stream a token is limited to, as Speckle names it, with the token's level on it.
#[derive(InputObject)]
pub struct TokenResourceIdentifierInput {
    pub(super) id: String,
    #[graphql(name = "type")]
    pub(super) kind: TokenResourceIdentifierType,
    /// Omitted: `WRITE` (as far as the scopes allow), since Speckle's clients send only
    /// `{id, type}`.
    pub(super) access: Option<TokenResourceAccess>,
}

/// One of a limited token's streams.
#[derive(SimpleObject)]
pub struct TokenResourceIdentifier {
    pub(super) id: String,
    #[graphql(name = "type")]
    pub(super) kind: TokenResourceIdentifierType,
    pub(super) access: TokenResourceAccess,
}

/// A client's `limitResources`, as the domain takes it: none (or empty) for every stream.
fn chosen_streams(
    resources: Option<Vec<TokenResourceIdentifierInput>>,
) -> async_graphql::Result<Option<Vec<(StreamId, Level)>>> {
    let Some(resources) = resources.filter(|resources| !resources.is_empty()) else { return Ok(None) };
    if resources.len() > crate::rules::limits::MAX_TOKEN_STREAMS {
        let limit = crate::rules::limits::MAX_TOKEN_STREAMS;
        return Err(to_api(bad_input(format!("limitResources: a token reaches at most {limit} streams."))));
    }
    resources
        .into_iter()
        .map(|resource| match resource.kind {
            TokenResourceIdentifierType::Workspace => Err(to_api(bad_input(
                "limitResources: there are no workspaces on this server; limit to projects.",
            ))),
            TokenResourceIdentifierType::Project | TokenResourceIdentifierType::Stream => {
                let level = match resource.access.unwrap_or(TokenResourceAccess::Write) {
                    TokenResourceAccess::Read => Level::Read,
                    TokenResourceAccess::Write => Level::Write,
                };
                Ok((StreamId::from(resource.id.trim()), level))
            }
        })
        .collect::<async_graphql::Result<Vec<_>>>()
        .map(Some)
}

/// SPEC §8's regeneration.
#[derive(InputObject)]
pub struct ApiTokenRotateInput {
    /// The id of the token to regenerate (one of the caller's own).
    pub(super) id: String,
    /// Milliseconds; omitted: as long as the old token was given.
    pub(super) lifespan: Option<BigInt>,
    /// How long the old token keeps working unless the new one is used first: 24 hours when
    /// omitted, 0 for not at all, at most 7 days.
    pub(super) grace_period_seconds: Option<i32>,
}

/// The root query's token fields: what a token may ask about itself (SPEC §12).
#[derive(Default)]
pub struct TokenQuery;

#[Object]
impl TokenQuery {
    /// The calling token itself, its streams and its family; any valid token may read it, with
    /// no scope.
    async fn token_self(&self, ctx: &Context<'_>) -> async_graphql::Result<ApiToken> {
        let caller = super::caller(ctx)?;
        let row = tokens::itself(&mut *db(ctx).await?, caller).await.map_err(to_api)?;
        Ok(ApiToken(row))
    }

    /// Whether this token could take `action` (on `streamId`), without taking it: `OK`,
    /// `FORBIDDEN` (the message names the missing scope, role or limit) or `NOT_FOUND`.
    /// Actions: `streams:read`, `streams:write` (without a stream: creating one),
    /// `stream:share`, `stream:delete`, `users:read`, `users:invite`, `profile:read`,
    /// `profile:email`, `tokens:read`, `tokens:write`.
    async fn token_can(
        &self,
        ctx: &Context<'_>,
        action: String,
        stream_id: Option<String>,
    ) -> async_graphql::Result<super::permissions::PermissionCheckResult> {
        let stream_id = stream_id.map(|id| StreamId::from(id.trim()));
        super::permissions::token_can(ctx, action.trim(), stream_id).await
    }
}

/// The root mutation's token fields.
#[derive(Default)]
pub struct TokenMutation;

#[Object]
impl TokenMutation {
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
        let streams = chosen_streams(token.limit_resources)?;
        let new = tokens::NewToken {
            name: &token.name,
            description: token.description.as_deref(),
            scopes,
            expires_at: None,
            streams: streams.as_deref(),
        };
        let (_, secret) = tokens::create_child(&mut *db(ctx).await?, caller, new, lifespan, &seen(ctx)?)
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
        let seen = seen(ctx)?;
        let revoked = match PlainToken::parse(token.trim()) {
            Ok(secret) => tokens::revoke_by_secret(&mut conn, &caller.user_id, &secret, revoker, &seen).await,
            Err(_) => tokens::revoke(&mut conn, &caller.user_id, &token.trim().into(), revoker, &seen).await,
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
            &seen(ctx)?,
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
                tokens::Expiry::At(tokens::lifespan_expiry(ms, request(ctx)?.db.now()).map_err(to_api)?)
            }
            None => tokens::Expiry::AsBefore,
        };
        let grace_ms = match token.grace_period_seconds {
            Some(seconds) => i64::from(seconds) * 1000,
            None => crate::rules::limits::DEFAULT_GRACE_MS,
        };
        let token_id = TokenId::from(token.id.trim());
        let rotation =
            tokens::Rotation { token_id: &token_id, expiry, grace_ms, by: Some(caller), narrow: None };
        let (_, secret) = tokens::rotate(&mut *db(ctx).await?, &caller.user_id, rotation, &seen(ctx)?)
            .await
            .map_err(to_api)?;
        Ok(secret.expose_secret().to_owned())
    }
}
