//! The API: async-graphql objects that check scopes and call the domain. Names and shapes
//! follow Speckle's public schema (SPEC §5).

pub mod http;
pub mod limits;
mod mutation;
mod types;

use async_graphql::{Context, EmptySubscription, ErrorExtensions, Object, Schema};

use crate::error::AppError;
use crate::scopes::Scope;
use crate::server::db::{DbConn, DbPool};
use crate::server::pagination::{Order, Page};
use crate::server::streams::Search;
use crate::server::tokens::Caller;
use crate::server::{streams, users};
pub use mutation::Mutation;
pub use types::*;

pub type ApiSchema = Schema<Query, Mutation, EmptySubscription>;

/// The version of Speckle's server whose (stream-era) API this one speaks, as
/// `serverInfo.version` answers it: Speckle's clients enable methods by it.
pub const SPECKLE_API_VERSION: &str = "2.17.0";

/// Builds the schema; resolvers reach the database through `pool`.
pub fn schema(pool: DbPool) -> ApiSchema {
    Schema::build(Query, Mutation, EmptySubscription)
        .data(pool)
        .limit_depth(limits::MAX_DEPTH)
        .limit_complexity(limits::MAX_COMPLEXITY)
        .limit_directives(limits::MAX_DIRECTIVES)
        .extension(limits::Limits)
        .finish()
}

/// An API error with Speckle's `extensions.code`.
fn api_error(code: &'static str, message: impl Into<String>) -> async_graphql::Error {
    async_graphql::Error::new(message).extend_with(|_, e| e.set("code", code))
}

/// Our domain errors as API errors, with the code of [`AppError::code`].
/// A missing scope also carries `requiredScopes` and `tokenScopes` (SPEC §8).
fn to_api(error: AppError) -> async_graphql::Error {
    let diagnostics = error.scope_diagnostics();
    api_error(error.code(), error.to_string()).extend_with(|_, e| {
        if let Some((required, held)) = diagnostics {
            e.set("requiredScopes", required.into_iter().map(async_graphql::Value::from).collect::<Vec<_>>());
            e.set("tokenScopes", held.into_iter().map(async_graphql::Value::from).collect::<Vec<_>>());
        }
    })
}

/// What the errors of an answer mean for its HTTP status.
pub enum Verdict {
    /// Data, or errors of fields (FORBIDDEN, NOT_FOUND…): 200, as Speckle answers.
    Answered,
    /// The request itself was refused (parse, validation, depth, complexity): 400.
    Malformed,
    /// The database is down: 503.
    Unavailable,
}

/// Errors the engine raises itself (parse, validation, wrong types) are the client's: gives
/// them `BAD_USER_INPUT`, so every error has a code, and says what the answer amounts to.
pub fn code_engine_errors(response: &mut async_graphql::Response) -> Verdict {
    let mut unavailable = false;
    let mut engine_errors = 0;
    for error in &mut response.errors {
        let extensions = error.extensions.get_or_insert_with(Default::default);
        match extensions.get("code") {
            None => {
                extensions.set("code", "BAD_USER_INPUT");
                engine_errors += 1;
            }
            Some(async_graphql::Value::String(code)) if code == AppError::Unavailable.code() => {
                unavailable = true
            }
            Some(_) => {}
        }
    }
    if unavailable {
        Verdict::Unavailable
    } else if engine_errors > 0
        && engine_errors == response.errors.len()
        && response.data == async_graphql::Value::Null
    {
        Verdict::Malformed
    } else {
        Verdict::Answered
    }
}

/// The token's caller, or `UNAUTHENTICATED` for an anonymous request.
fn caller<'a>(ctx: &'a Context<'_>) -> async_graphql::Result<&'a Caller> {
    ctx.data_opt::<std::sync::Arc<Caller>>().map(|caller| &**caller).ok_or_else(|| {
        api_error("UNAUTHENTICATED", "This needs a token: send Authorization: Bearer <token>.")
    })
}

/// The caller, if the token holds `scope`; otherwise `FORBIDDEN` naming the scope.
fn require<'a>(ctx: &'a Context<'_>, scope: Scope) -> async_graphql::Result<&'a Caller> {
    let caller = caller(ctx)?;
    caller.require(scope).map_err(to_api)?;
    Ok(caller)
}

/// This request's turn at the database, counted as one read, for reads that go to the pool
/// themselves (`db_read!`); none outside our HTTP handler.
async fn turn(ctx: &Context<'_>) -> async_graphql::Result<Option<tokio::sync::OwnedMutexGuard<()>>> {
    match limits::budget(ctx) {
        Some(budget) => {
            budget.charge_query().map_err(to_api)?;
            Ok(Some(budget.take_turn().await.map_err(to_api)?))
        }
        None => Ok(None),
    }
}

/// A database connection, counted against the request's budget, held in the request's turn.
async fn db(ctx: &Context<'_>) -> async_graphql::Result<RequestConn> {
    let turn = turn(ctx).await?;
    let conn = ctx.data_unchecked::<DbPool>().get().await.map_err(to_api)?;
    Ok(RequestConn { conn, _turn: turn })
}

/// A pooled connection used in this request's turn (see [`limits::Budget::take_turn`]).
struct RequestConn {
    conn: DbConn,
    _turn: Option<tokio::sync::OwnedMutexGuard<()>>,
}

impl std::ops::Deref for RequestConn {
    type Target = DbConn;
    fn deref(&self) -> &DbConn {
        &self.conn
    }
}

impl std::ops::DerefMut for RequestConn {
    fn deref_mut(&mut self) -> &mut DbConn {
        &mut self.conn
    }
}

/// Counts bytes read from the database (objects) against the request's budget.
fn charge_read(ctx: &Context<'_>, bytes: usize) -> async_graphql::Result<()> {
    match limits::budget(ctx) {
        Some(budget) => budget.charge_bytes(bytes).map_err(to_api),
        None => Ok(()),
    }
}

/// A page of a newest-first list.
fn page(limit: Option<i32>, cursor: Option<String>) -> async_graphql::Result<Page> {
    Page::new(limit, cursor.as_deref(), Order::NewestFirst).map_err(to_api)
}

pub struct Query;

#[Object]
impl Query {
    /// With no id: the token's own user (`profile:read`). With an id: that user's public
    /// profile (`users:read`), email hidden.
    async fn user(&self, ctx: &Context<'_>, id: Option<String>) -> async_graphql::Result<Option<User>> {
        let own_id = caller(ctx)?.user_id.clone();
        match id {
            Some(id) if id != own_id => {
                require(ctx, Scope::UsersRead)?;
                let user = users::profile(&mut *db(ctx).await?, &id).await.map_err(to_api)?;
                charge_read(ctx, types::user_bytes(&user))?;
                Ok(Some(User::other(user)))
            }
            _ => self.active_user(ctx).await,
        }
    }

    /// The token's own user (`profile:read`).
    async fn active_user(&self, ctx: &Context<'_>) -> async_graphql::Result<Option<User>> {
        let caller = require(ctx, Scope::ProfileRead)?;
        Ok(Some(User::own(caller.user.clone())))
    }

    /// Another user's public profile (`users:read`).
    async fn other_user(&self, ctx: &Context<'_>, id: String) -> async_graphql::Result<Option<LimitedUser>> {
        require(ctx, Scope::UsersRead)?;
        let user = users::profile(&mut *db(ctx).await?, &id).await.map_err(to_api)?;
        charge_read(ctx, types::user_bytes(&user))?;
        Ok(Some(LimitedUser::new(user)))
    }

    /// A stream the caller can read (`streams:read`); anyone, even without a token, reads a
    /// public one. A private stream the caller cannot read is `NOT_FOUND`.
    async fn stream(&self, ctx: &Context<'_>, id: String) -> async_graphql::Result<Option<Stream>> {
        let user_id = match ctx.data_opt::<std::sync::Arc<Caller>>() {
            Some(_) => Some(require(ctx, Scope::StreamsRead)?.user_id.as_str()),
            None => None,
        };
        let access = streams::readable(&mut *db(ctx).await?, &id, user_id).await.map_err(to_api)?;
        Ok(Some(Stream::from(access)))
    }

    /// The streams the token's user collaborates on (`streams:read`), newest first; with a
    /// `query`, those whose name or description holds it (or whose id it is).
    #[graphql(complexity = "limits::paged(limit.unwrap_or(25), child_complexity)")]
    async fn streams(
        &self,
        ctx: &Context<'_>,
        query: Option<String>,
        #[graphql(default = 25)] limit: Option<i32>,
        cursor: Option<String>,
    ) -> async_graphql::Result<Option<UserStreamCollection>> {
        let caller = require(ctx, Scope::StreamsRead)?;
        let page = page(limit, cursor)?;
        let collection = match Search::new(query.as_deref()).map_err(to_api)? {
            Some(search) => UserStreamCollection::search(ctx, &caller.user_id, &search, page).await?,
            None => UserStreamCollection::for_user(ctx, &caller.user_id, false, page).await?,
        };
        Ok(Some(collection))
    }

    /// Users whose name holds `query`, or whose email is exactly `query` (`users:read`).
    #[graphql(complexity = "limits::paged(limit, child_complexity)")]
    async fn user_search(
        &self,
        ctx: &Context<'_>,
        query: String,
        #[graphql(default = 25)] limit: i32,
        cursor: Option<String>,
        #[graphql(default_with = "Some(false)")] archived: Option<bool>,
        #[graphql(default_with = "Some(false)")] email_only: Option<bool>,
    ) -> async_graphql::Result<UserSearchResultCollection> {
        require(ctx, Scope::UsersRead)?;
        let _ = archived;
        let page = page(Some(limit), cursor)?;
        let (rows, cursor) = users::search(&mut *db(ctx).await?, &query, email_only.unwrap_or(false), &page)
            .await
            .map_err(to_api)?;
        charge_read(ctx, rows.iter().map(types::user_bytes).sum())?;
        let avatars = ctx.look_ahead().field("items").field("avatar").exists();
        Ok(UserSearchResultCollection { cursor, items: LimitedUser::list(ctx, rows, avatars).await? })
    }

    /// Invitations to streams: none here (streams are shared directly).
    async fn stream_invites(
        &self,
        ctx: &Context<'_>,
    ) -> async_graphql::Result<Vec<PendingStreamCollaborator>> {
        caller(ctx)?;
        Ok(Vec::new())
    }

    /// An invitation to a stream: none here.
    async fn stream_invite(
        &self,
        ctx: &Context<'_>,
        stream_id: String,
        token: Option<String>,
    ) -> async_graphql::Result<Option<PendingStreamCollaborator>> {
        let _ = (stream_id, token);
        caller(ctx)?;
        Ok(None)
    }

    /// Apps registered on this server: none (tokens are personal).
    async fn apps(&self) -> Option<Vec<Option<ServerAppListItem>>> {
        Some(Vec::new())
    }

    /// This server and the scopes it knows; needs no token.
    async fn server_info(&self) -> ServerInfo {
        ServerInfo
    }
}
