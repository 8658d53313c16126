//! The API: async-graphql objects that check scopes and call the domain. Names and shapes
//! follow Speckle's public schema (SPEC §5).

mod activity;
mod app;
mod branch;
mod commit;
pub mod http;
mod invite;
pub mod limits;
mod live;
mod live_streams;
mod model;
mod object;
mod paged;
mod parsed;
mod permissions;
mod project;
mod request;
mod scalars;
mod server;
mod stream;
mod token;
mod user;
mod version;
mod workspace;
pub mod ws;

use async_graphql::{Context, ErrorExtensions, MergedObject, Schema};

use crate::rules::error::AppError;
use crate::rules::scopes::Scope;
use crate::server::db::DbConn;
use crate::server::domain::activity::Seen;
use crate::server::domain::tokens::Caller;
pub use activity::*;
pub use app::*;
pub use branch::*;
pub use commit::*;
pub use invite::*;
pub use model::*;
pub use object::*;
use paged::Paged;
pub use permissions::*;
pub use project::*;
pub use request::{request, RequestContext};
pub use scalars::*;
pub use server::*;
pub use stream::*;
pub use token::*;
pub use user::*;
pub use version::*;
pub use workspace::*;

pub type ApiSchema = Schema<Query, Mutation, Subscription>;

/// The version of Speckle's server whose (stream-era) API this one speaks, as
/// `serverInfo.version` answers it: Speckle's clients enable methods by it.
pub const SPECKLE_API_VERSION: &str = "2.17.0";

/// The GraphQL engine of one server: the schema, and the room all its answers share.
#[derive(Clone)]
pub struct Engine {
    pub schema: ApiSchema,
    pub answers: std::sync::Arc<tokio::sync::Semaphore>,
    /// The live updates' open connections and their tokens.
    pub lives: std::sync::Arc<ws::Lives>,
}

impl Engine {
    pub fn new() -> Engine {
        Engine { schema: schema(), answers: limits::answer_pool(), lives: ws::Lives::new() }
    }
}

impl Default for Engine {
    fn default() -> Engine {
        Engine::new()
    }
}

/// `/graphql`: GraphiQL for a browser, the API for a token (see [`http`]), live updates over
/// a WebSocket (see [`ws`]).
pub fn routes() -> axum::Router<crate::server::state::AppState> {
    use axum::routing::get;
    axum::Router::new()
        .route("/graphql", get(http::explorer_or_live).post(http::graphql_api))
        .layer(axum::Extension(Engine::new()))
}

/// Builds the schema; each request brings its [`RequestContext`].
pub fn schema() -> ApiSchema {
    Schema::build(Query::default(), Mutation::default(), Subscription::default())
        .limit_depth(limits::MAX_DEPTH)
        .limit_complexity(limits::MAX_COMPLEXITY)
        .limit_directives(limits::MAX_DIRECTIVES)
        .extension(limits::Limits::default())
        .finish()
}

/// An API error with Speckle's `extensions.code`.
fn api_error(code: &'static str, message: impl Into<String>) -> async_graphql::Error {
    async_graphql::Error::new(message).extend_with(|_, e| e.set("code", code))
}

/// Our domain errors as API errors, with the code of [`AppError::code`].
/// A missing scope also carries `requiredScopes` and `tokenScopes` (SPEC §8); a refusal of
/// the token's streams `tokenLimit: true` (SPEC §12).
fn to_api(error: AppError) -> async_graphql::Error {
    let diagnostics = error.scope_diagnostics();
    let token_limit = error.is_token_limit();
    api_error(error.code(), error.to_string()).extend_with(|_, e| {
        if token_limit {
            e.set("tokenLimit", true);
        }
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
    request(ctx)?.caller.as_deref().ok_or_else(|| {
        api_error("UNAUTHENTICATED", "This needs a token: send Authorization: Bearer <token>.")
    })
}

/// Who reads streams in this request: its token, or anonymous.
fn reader<'a>(ctx: &'a Context<'_>) -> async_graphql::Result<crate::server::domain::streams::Reader<'a>> {
    Ok(request(ctx)?.reader())
}

/// The caller, if the token holds `scope`; otherwise `FORBIDDEN` naming the scope.
fn require<'a>(ctx: &'a Context<'_>, scope: Scope) -> async_graphql::Result<&'a Caller> {
    let caller = caller(ctx)?;
    caller.require(scope).map_err(to_api)?;
    Ok(caller)
}

/// The caller of a mutation that answers what it wrote (a project, a model, a version): the
/// answer is a read, so the token needs `streams:read` beside `streams:write`, both checked
/// before anything is written.
fn writer_who_reads<'a>(ctx: &'a Context<'_>) -> async_graphql::Result<&'a Caller> {
    require(ctx, Scope::StreamsWrite)?;
    require(ctx, Scope::StreamsRead)
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
    let conn = request(ctx)?.db.get().await.map_err(to_api)?;
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

/// Where the request came from, for the events a mutation records.
fn seen(ctx: &Context<'_>) -> async_graphql::Result<Seen> {
    Ok(request(ctx)?.seen.clone())
}

// The root query: each resource's fields, from its own file. (A comment, not a doc comment:
// Speckle's schema gives the root types no description.)
#[derive(MergedObject, Default)]
pub struct Query(
    user::UserQuery,
    stream::StreamQuery,
    project::ProjectQuery,
    invite::InviteQuery,
    server::ServerQuery,
    app::AppQuery,
    token::TokenQuery,
);

// The root mutation: each resource's fields, from its own file.
#[derive(MergedObject, Default)]
pub struct Mutation(
    stream::StreamMutation,
    branch::BranchMutation,
    commit::CommitMutation,
    object::ObjectMutation,
    user::UserMutation,
    token::TokenMutation,
    project::ProjectMutation,
    model::ModelMutation,
    version::VersionMutation,
    user::ActiveUserMutation,
    invite::InviteMutation,
    workspace::WorkspaceMutation,
    app::AppMutation,
);

// The root subscription: live updates in both vocabularies (SPEC §10).
#[derive(async_graphql::MergedSubscription, Default)]
pub struct Subscription(live::ProjectSubscription, live_streams::StreamSubscription);

/// The refusal of what needs workspaces, which this server does not have (SPEC §10).
fn workspaces_disabled() -> AppError {
    crate::rules::error::forbidden("Workspaces are not enabled on this server.")
}
