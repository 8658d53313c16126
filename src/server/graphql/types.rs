//! The object types of the API.

use async_graphql::{
    Context, InputValueError, InputValueResult, Object, Scalar, ScalarType, SimpleObject, Value,
};

use super::{db, page, require, to_api};
use crate::scopes::{Scope, ScopeSet};
use crate::server::db::{iso8601, models, DbPool, Epochs};
use crate::server::pagination::Page;
use crate::server::streams::{self, Access};
use crate::server::tokens;

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
    /// The user's streams (`streams:read`): all of one's own, only public ones of others.
    async fn streams(
        &self,
        ctx: &Context<'_>,
        limit: Option<i32>,
        cursor: Option<String>,
    ) -> async_graphql::Result<StreamCollection> {
        require(ctx, Scope::StreamsRead)?;
        StreamCollection::for_user(ctx, &self.user.id, !self.is_own, page(limit, cursor)?).await
    }
    /// The user's live tokens (`tokens:read`), never their secrets; one's own only.
    async fn api_tokens(&self, ctx: &Context<'_>) -> async_graphql::Result<Vec<ApiToken>> {
        require(ctx, Scope::TokensRead)?;
        if !self.is_own {
            return Err(super::api_error("FORBIDDEN", "You can only list your own tokens."));
        }
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

pub struct StreamCollection {
    total_count: i64,
    page: Option<(Vec<Stream>, Option<String>)>,
}

impl StreamCollection {
    /// Reads only what the query asks for: `{ streams { totalCount } }` costs one count.
    pub async fn for_user(
        ctx: &Context<'_>,
        user_id: &str,
        public_only: bool,
        page: Page,
    ) -> async_graphql::Result<StreamCollection> {
        let pool = ctx.data_unchecked::<DbPool>();
        let epochs = ctx.data_opt::<Epochs>();
        let total_count =
            streams::count_for_user(pool, epochs, user_id, public_only).await.map_err(to_api)?;
        let wanted = ctx.look_ahead();
        if !wanted.field("items").exists() && !wanted.field("cursor").exists() {
            return Ok(StreamCollection { total_count, page: None });
        }
        let (rows, cursor) =
            streams::page_for_user(pool, user_id, public_only, &page).await.map_err(to_api)?;
        let items = rows.into_iter().map(|(stream, role)| Stream { stream, role: Some(role) }).collect();
        Ok(StreamCollection { total_count, page: Some((items, cursor)) })
    }
}

#[Object]
impl StreamCollection {
    async fn total_count(&self) -> i64 {
        self.total_count
    }
    async fn cursor(&self) -> Option<&str> {
        self.page.as_ref().and_then(|(_, cursor)| cursor.as_deref())
    }
    async fn items(&self) -> &[Stream] {
        self.page.as_ref().map_or(&[], |(items, _)| items.as_slice())
    }
}

/// A stream, with the caller's role on it (null for a public stream they only read).
pub struct Stream {
    stream: models::Stream,
    role: Option<String>,
}

impl From<Access> for Stream {
    fn from(access: Access) -> Self {
        Stream { stream: access.stream, role: access.role.map(|role| role.name().to_owned()) }
    }
}

#[derive(SimpleObject)]
pub struct Collaborator {
    id: String,
    name: String,
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
    async fn role(&self) -> Option<&str> {
        self.role.as_deref()
    }
    async fn created_at(&self) -> String {
        iso8601(self.stream.created_at)
    }
    async fn updated_at(&self) -> String {
        iso8601(self.stream.updated_at)
    }
    async fn collaborators(&self, ctx: &Context<'_>) -> async_graphql::Result<Vec<Collaborator>> {
        let rows = streams::collaborators(&mut db(ctx).await?, &self.stream.id).await.map_err(to_api)?;
        Ok(rows.into_iter().map(|(id, name, role)| Collaborator { id, name, role }).collect())
    }
    async fn commits(
        &self,
        ctx: &Context<'_>,
        limit: Option<i32>,
        cursor: Option<String>,
    ) -> async_graphql::Result<CommitCollection> {
        let page = page(limit, cursor)?;
        let mut conn = db(ctx).await?;
        let total_count = streams::count_commits(&mut conn, &self.stream.id).await.map_err(to_api)?;
        let (rows, cursor) =
            streams::page_of_commits(&mut conn, &self.stream.id, &page).await.map_err(to_api)?;
        let items = rows.into_iter().map(|(commit, author_name)| Commit { commit, author_name }).collect();
        Ok(CommitCollection { total_count, cursor, items })
    }
}

#[derive(SimpleObject)]
pub struct CommitCollection {
    pub total_count: i64,
    pub cursor: Option<String>,
    pub items: Vec<Commit>,
}

pub struct Commit {
    commit: models::Commit,
    author_name: String,
}

#[Object]
impl Commit {
    async fn id(&self) -> &str {
        &self.commit.id
    }
    async fn message(&self) -> &str {
        &self.commit.message
    }
    async fn referenced_object(&self) -> &str {
        &self.commit.referenced_object
    }
    async fn branch_name(&self) -> &str {
        &self.commit.branch_name
    }
    async fn author_id(&self) -> &str {
        &self.commit.author_id
    }
    async fn author_name(&self) -> &str {
        &self.author_name
    }
    async fn source_application(&self) -> Option<&str> {
        self.commit.source_application.as_deref()
    }
    async fn created_at(&self) -> String {
        iso8601(self.commit.created_at)
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

/// Speckle's `BigInt`: a 64-bit whole number (as a JSON number or a string), e.g. a lifespan
/// in milliseconds, which overflows GraphQL's 32-bit `Int`.
pub struct BigInt(pub i64);

#[Scalar]
impl ScalarType for BigInt {
    fn parse(value: Value) -> InputValueResult<Self> {
        let parsed = match &value {
            Value::Number(number) => number.as_i64(),
            Value::String(text) => text.trim().parse().ok(),
            _ => None,
        };
        parsed.map(BigInt).ok_or_else(|| InputValueError::custom("expected a whole number of milliseconds"))
    }

    fn to_value(&self) -> Value {
        Value::Number(self.0.into())
    }
}
