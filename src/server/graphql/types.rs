//! The object types of the API.

use async_graphql::{Context, Object, SimpleObject};

use super::{db, require, to_api};
use crate::scopes::{Scope, ScopeSet};
use crate::server::db::{iso8601, models};
use crate::server::{streams, tokens};

/// A user, as the token's owner (`own`) or as someone else (email never shown).
pub struct User {
    user: models::User,
    is_own: bool,
}

impl User {
    pub fn own(user: models::User) -> Self {
        User { user, is_own: true }
    }

    pub fn other(user: models::User) -> Self {
        User { user, is_own: false }
    }

    fn forbid_others(&self, what: &str) -> async_graphql::Result<()> {
        if self.is_own {
            return Ok(());
        }
        Err(super::api_error("FORBIDDEN", format!("You can only read your own {what}.")))
    }
}

#[Object]
impl User {
    async fn id(&self) -> &str {
        &self.user.id
    }
    async fn suuid(&self) -> &str {
        &self.user.suuid
    }
    async fn name(&self) -> &str {
        &self.user.name
    }
    /// Only the owner's own, with `profile:email`; null for anyone else.
    async fn email(&self, ctx: &Context<'_>) -> async_graphql::Result<Option<&str>> {
        if !self.is_own {
            return Ok(None);
        }
        require(ctx, Scope::ProfileEmail)?;
        Ok(Some(&self.user.email))
    }
    async fn bio(&self) -> Option<&str> {
        self.user.bio.as_deref()
    }
    async fn company(&self) -> Option<&str> {
        self.user.company.as_deref()
    }
    async fn avatar(&self) -> Option<&str> {
        self.user.avatar.as_deref()
    }
    async fn created_at(&self) -> String {
        iso8601(self.user.created_at)
    }
    /// The streams the user collaborates on (`streams:read`).
    async fn streams(
        &self,
        ctx: &Context<'_>,
        #[graphql(default = 25)] limit: i32,
    ) -> async_graphql::Result<StreamCollection> {
        require(ctx, Scope::StreamsRead)?;
        self.forbid_others("streams")?;
        if !(1..=100).contains(&limit) {
            return Err(to_api(crate::error::bad_input("limit must be between 1 and 100.")));
        }
        let mut conn = db(ctx).await?;
        let total_count = streams::count_for_user(&mut conn, &self.user.id).await.map_err(to_api)?;
        let items = streams::list_for_user(&mut conn, &self.user.id, i64::from(limit))
            .await
            .map_err(to_api)?
            .into_iter()
            .map(|(stream, role)| Stream { stream, role })
            .collect();
        Ok(StreamCollection { total_count, cursor: None, items })
    }
    /// The user's live tokens (`tokens:read`), never their secrets.
    async fn api_tokens(&self, ctx: &Context<'_>) -> async_graphql::Result<Vec<ApiToken>> {
        require(ctx, Scope::TokensRead)?;
        self.forbid_others("tokens")?;
        let rows = tokens::list(&mut db(ctx).await?, &self.user.id).await.map_err(to_api)?;
        Ok(rows.into_iter().map(ApiToken).collect())
    }
}

/// Another user's public profile.
pub struct LimitedUser(pub models::User);

#[Object]
impl LimitedUser {
    async fn id(&self) -> &str {
        &self.0.id
    }
    async fn suuid(&self) -> &str {
        &self.0.suuid
    }
    async fn name(&self) -> &str {
        &self.0.name
    }
    async fn bio(&self) -> Option<&str> {
        self.0.bio.as_deref()
    }
    async fn company(&self) -> Option<&str> {
        self.0.company.as_deref()
    }
    async fn avatar(&self) -> Option<&str> {
        self.0.avatar.as_deref()
    }
}

#[derive(SimpleObject)]
pub struct StreamCollection {
    pub total_count: i64,
    pub cursor: Option<String>,
    pub items: Vec<Stream>,
}

/// A stream, with the caller's role on it.
pub struct Stream {
    stream: models::Stream,
    role: String,
}

#[Object]
impl Stream {
    async fn id(&self) -> &str {
        &self.stream.id
    }
    async fn name(&self) -> &str {
        &self.stream.name
    }
    async fn description(&self) -> &str {
        &self.stream.description
    }
    async fn is_public(&self) -> bool {
        self.stream.is_public
    }
    async fn role(&self) -> &str {
        &self.role
    }
    async fn created_at(&self) -> String {
        iso8601(self.stream.created_at)
    }
    async fn updated_at(&self) -> String {
        iso8601(self.stream.updated_at)
    }
}

/// A token as its owner may see it: everything but the secret.
pub struct ApiToken(pub models::ApiToken);

#[Object]
impl ApiToken {
    async fn id(&self) -> &str {
        &self.0.id
    }
    async fn name(&self) -> &str {
        &self.0.name
    }
    async fn last_chars(&self) -> &str {
        &self.0.last_chars
    }
    async fn scopes(&self) -> Vec<&'static str> {
        ScopeSet::from_names(&self.0.scopes).unwrap_or_default().iter().map(Scope::name).collect()
    }
    async fn created_at(&self) -> String {
        iso8601(self.0.created_at)
    }
    async fn expires_at(&self) -> Option<String> {
        self.0.expires_at.map(iso8601)
    }
    async fn last_used(&self) -> Option<String> {
        self.0.last_used_at.map(iso8601)
    }
}

pub struct ServerInfo;

#[Object]
impl ServerInfo {
    async fn name(&self) -> &str {
        "Speckle Tokens"
    }
    async fn version(&self) -> &str {
        env!("CARGO_PKG_VERSION")
    }
    async fn scopes(&self) -> Vec<ScopeInfo> {
        Scope::ALL
            .into_iter()
            .map(|scope| ScopeInfo { name: scope.name(), description: scope.description() })
            .collect()
    }
}

#[derive(SimpleObject)]
pub struct ScopeInfo {
    name: &'static str,
    description: &'static str,
}
