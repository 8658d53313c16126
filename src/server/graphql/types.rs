//! The object types of the API, named and shaped as in Speckle's schema (its stream-era
//! `User`, `Stream`, `Branch`, `Commit`, `Object`…), so that Speckle's own clients work.
//! Fields with no meaning here answer a constant (`verified`, `role`…) or an empty list
//! (activity, invites, favourites).

use std::sync::Arc;

use async_graphql::{
    Context, InputValueError, InputValueResult, Object, Scalar, ScalarType, SimpleObject, Value, ID,
};

use super::{caller, charge_read, db, limits, page, require, to_api, turn};
use crate::error::{bad_input, not_found};
use crate::scopes::{Scope, ScopeSet};
use crate::server::activity;
use crate::server::branches::{self, CommitView};
use crate::server::db::{iso8601, models, DbPool, Epochs};
use crate::server::objects::{self, StoredObject};
use crate::server::pagination::{Order, Page};
use crate::server::streams::{self, Access, Search};
use crate::server::tokens;

/// Every user's role on this server: there are no admins or guests here.
const SERVER_ROLE: &str = "server:user";

/// Speckle's `DateTime`: an ISO 8601 time in UTC (stored as Unix milliseconds).
#[derive(Clone, Copy, Debug)]
pub struct DateTime(pub i64);

#[Scalar]
impl ScalarType for DateTime {
    fn parse(value: Value) -> InputValueResult<Self> {
        let Value::String(text) = &value else { return Err(InputValueError::expected_type(value)) };
        time::OffsetDateTime::parse(text.trim(), &time::format_description::well_known::Rfc3339)
            .map(|t| DateTime((t.unix_timestamp_nanos() / 1_000_000) as i64))
            .map_err(|_| InputValueError::custom("expected an ISO 8601 time, e.g. 2024-01-31T12:00:00Z"))
    }

    fn to_value(&self) -> Value {
        Value::String(iso8601(self.0))
    }
}

/// Speckle's `JSONObject`: any JSON value.
#[derive(Clone, Debug)]
pub struct JsonObject(pub serde_json::Value);

#[Scalar(name = "JSONObject")]
impl ScalarType for JsonObject {
    fn parse(value: Value) -> InputValueResult<Self> {
        value.into_json().map(JsonObject).map_err(|_| InputValueError::custom("expected JSON"))
    }

    fn to_value(&self) -> Value {
        Value::from_json(self.0.clone()).unwrap_or(Value::Null)
    }
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

/// Speckle's activity stream: not kept here, so always empty.
#[derive(SimpleObject, Default)]
pub struct ActivityCollection {
    total_count: i32,
    cursor: Option<String>,
    items: Vec<Activity>,
}

#[derive(SimpleObject)]
pub struct Activity {
    id: ID,
    action_type: String,
    info: JsonObject,
    user_id: String,
    stream_id: Option<String>,
    resource_id: String,
    resource_type: String,
    time: DateTime,
    message: String,
}

/// The answer of every `activity` field: its arguments are accepted (and `limit` checked),
/// though nothing is kept.
fn no_activity(limit: i32) -> async_graphql::Result<ActivityCollection> {
    if !(0..=100).contains(&limit) {
        return Err(to_api(bad_input("limit must be between 0 and 100.")));
    }
    Ok(ActivityCollection::default())
}

/// What a commit read to answer weighs (its author's avatar is read apart, when asked for).
fn commit_bytes(view: &CommitView) -> usize {
    limits::row_bytes([Some(view.commit.message.as_str()), Some(&view.author_name)])
}

/// What a user's profile read to answer weighs.
pub(super) fn user_bytes(user: &models::Profile) -> usize {
    limits::row_bytes([Some(user.name.as_str()), user.bio.as_deref(), user.company.as_deref()])
}

/// An avatar: read with others of its list, or, alone, when it is asked for.
type Avatar = Option<Option<Arc<str>>>;

/// The avatars of these users, if the query asks for them (`wanted`): one read for the list,
/// charged at their size before they are read.
async fn avatars_if(
    ctx: &Context<'_>,
    wanted: bool,
    user_ids: &[&str],
) -> async_graphql::Result<std::collections::HashMap<String, Arc<str>>> {
    if !wanted {
        return Ok(Default::default());
    }
    let charge = |bytes| match limits::budget(ctx) {
        Some(budget) => budget.charge_bytes(bytes),
        None => Ok(()),
    };
    crate::server::users::avatars(&mut *db(ctx).await?, user_ids, charge).await.map_err(to_api)
}

/// Another user's public profile: what anyone with `users:read` may see of a user. A `User`
/// has all of it too.
pub struct LimitedUser {
    user: models::Profile,
    avatar: Avatar,
    is_own: bool,
}

impl LimitedUser {
    pub fn new(user: models::Profile) -> Self {
        LimitedUser { user, avatar: None, is_own: false }
    }

    /// Profiles of a list, with their avatars read for all of them at once when the query
    /// asks for `avatar` (`wanted`).
    pub async fn list(
        ctx: &Context<'_>,
        users: Vec<models::Profile>,
        wanted: bool,
    ) -> async_graphql::Result<Vec<LimitedUser>> {
        let ids: Vec<&str> = users.iter().map(|user| user.id.as_str()).collect();
        let mut avatars = avatars_if(ctx, wanted, &ids).await?;
        Ok(users
            .into_iter()
            .map(|user| {
                let avatar = wanted.then(|| avatars.remove(&user.id));
                LimitedUser { user, avatar, is_own: false }
            })
            .collect())
    }
}

#[Object]
impl LimitedUser {
    async fn id(&self) -> ID {
        ID(self.user.id.clone())
    }
    async fn suuid(&self) -> &str {
        &self.user.suuid
    }
    async fn name(&self) -> &str {
        &self.user.name
    }
    async fn bio(&self) -> Option<&str> {
        self.user.bio.as_deref()
    }
    async fn company(&self) -> Option<&str> {
        self.user.company.as_deref()
    }
    async fn avatar(&self, ctx: &Context<'_>) -> async_graphql::Result<Option<Arc<str>>> {
        if let Some(read) = &self.avatar {
            return Ok(read.clone());
        }
        Ok(avatars_if(ctx, true, &[&self.user.id]).await?.remove(&self.user.id))
    }
    /// Emails are not verified on this server.
    async fn verified(&self) -> Option<bool> {
        Some(false)
    }
    /// The server role.
    async fn role(&self) -> Option<&str> {
        Some(SERVER_ROLE)
    }
    /// The user's streams (`streams:read`): all of one's own, only public ones of others.
    #[graphql(complexity = "limits::paged(limit, child_complexity)")]
    async fn streams(
        &self,
        ctx: &Context<'_>,
        #[graphql(default = 25)] limit: i32,
        cursor: Option<String>,
    ) -> async_graphql::Result<UserStreamCollection> {
        require(ctx, Scope::StreamsRead)?;
        UserStreamCollection::for_user(ctx, &self.user.id, !self.is_own, page(Some(limit), cursor)?).await
    }
    async fn total_owned_streams_favorites(&self) -> i32 {
        0
    }
    #[graphql(complexity = "limits::paged(limit, child_complexity)")]
    async fn activity(
        &self,
        ctx: &Context<'_>,
        action_type: Option<String>,
        after: Option<DateTime>,
        before: Option<DateTime>,
        cursor: Option<DateTime>,
        #[graphql(default = 25)] limit: i32,
    ) -> async_graphql::Result<ActivityCollection> {
        let _ = (action_type, after, before, cursor);
        require(ctx, Scope::UsersRead)?;
        no_activity(limit)
    }
    #[graphql(complexity = "limits::paged(limit, child_complexity)")]
    async fn timeline(
        &self,
        ctx: &Context<'_>,
        after: Option<DateTime>,
        before: Option<DateTime>,
        cursor: Option<DateTime>,
        #[graphql(default = 25)] limit: i32,
    ) -> async_graphql::Result<ActivityCollection> {
        let _ = (after, before, cursor);
        require(ctx, Scope::UsersRead)?;
        require(ctx, Scope::StreamsRead)?;
        no_activity(limit)
    }
}

/// A user, as the token's owner (`own`) or as someone else (email never shown): the fields
/// of [`LimitedUser`], and the account's own.
pub struct User(LimitedUser);

impl User {
    pub fn own(user: models::Profile) -> Self {
        User(LimitedUser { user, avatar: None, is_own: true })
    }

    pub fn other(user: models::Profile) -> Self {
        User(LimitedUser::new(user))
    }
}

#[Object]
impl User {
    #[graphql(flatten)]
    async fn profile(&self) -> &LimitedUser {
        &self.0
    }
    /// Only the owner's own, with `profile:email`; null otherwise (as Speckle redacts it).
    async fn email(&self, ctx: &Context<'_>) -> Option<&str> {
        let allowed = self.0.is_own && caller(ctx).is_ok_and(|c| c.scopes.contains(Scope::ProfileEmail));
        allowed.then_some(self.0.user.email.as_str())
    }
    /// Linked sign-in profiles: none here.
    async fn profiles(&self) -> Option<JsonObject> {
        None
    }
    async fn is_onboarding_finished(&self) -> Option<bool> {
        self.0.is_own.then_some(true)
    }
    async fn created_at(&self) -> Option<DateTime> {
        Some(DateTime(self.0.user.created_at))
    }
    /// Favourites are not kept here.
    #[graphql(complexity = "limits::paged(limit, child_complexity)")]
    async fn favorite_streams(
        &self,
        ctx: &Context<'_>,
        #[graphql(default = 25)] limit: i32,
        cursor: Option<String>,
    ) -> async_graphql::Result<StreamCollection> {
        require(ctx, Scope::StreamsRead)?;
        page(Some(limit), cursor)?;
        Ok(StreamCollection { total_count: 0, cursor: None, items: Vec::new() })
    }
    /// The user's live tokens (`tokens:read`), never their secrets; one's own only.
    #[graphql(
        complexity = "limits::at_most(crate::server::tokens::MAX_LIVE_TOKENS as usize, child_complexity)"
    )]
    async fn api_tokens(&self, ctx: &Context<'_>) -> async_graphql::Result<Vec<ApiToken>> {
        require(ctx, Scope::TokensRead)?;
        if !self.0.is_own {
            return Err(super::api_error("FORBIDDEN", "You can only list your own tokens."));
        }
        let rows = tokens::list(&mut *db(ctx).await?, &self.0.user.id).await.map_err(to_api)?;
        Ok(rows.into_iter().map(ApiToken).collect())
    }
}

/// `userSearch`'s answer.
#[derive(SimpleObject)]
pub struct UserSearchResultCollection {
    pub cursor: Option<String>,
    pub items: Vec<LimitedUser>,
}

/// The streams a user collaborates on.
pub struct UserStreamCollection {
    total_count: i64,
    page: Option<(Vec<Stream>, Option<String>)>,
}

impl UserStreamCollection {
    /// Reads only what the query asks for: `{ streams { totalCount } }` costs one count.
    pub async fn for_user(
        ctx: &Context<'_>,
        user_id: &str,
        public_only: bool,
        page: Page,
    ) -> async_graphql::Result<UserStreamCollection> {
        let pool = ctx.data_unchecked::<DbPool>();
        let epochs = ctx.data_opt::<Epochs>();
        let in_turn = turn(ctx).await?;
        let total_count =
            streams::count_for_user(pool, epochs, user_id, public_only).await.map_err(to_api)?;
        let wanted = ctx.look_ahead();
        if !wanted.field("items").exists() && !wanted.field("cursor").exists() {
            return Ok(UserStreamCollection { total_count, page: None });
        }
        let (rows, cursor) =
            streams::page_for_user(pool, user_id, public_only, &page).await.map_err(to_api)?;
        let mut items = Stream::with_roles(rows);
        drop(in_turn);
        if public_only {
            // Another user's list: each stream's `role` is the caller's own on it, if any.
            let viewer = caller(ctx)?.user_id.clone();
            let ids: Vec<&str> = items.iter().map(|item| item.stream.id.as_str()).collect();
            let mut roles = streams::roles_on(&mut *db(ctx).await?, &viewer, &ids).await.map_err(to_api)?;
            for item in &mut items {
                item.role = roles.remove(&item.stream.id);
            }
        }
        Ok(UserStreamCollection { total_count, page: Some((items, cursor)) })
    }

    /// The user's streams that match a search.
    pub async fn search(
        ctx: &Context<'_>,
        user_id: &str,
        search: &Search,
        page: Page,
    ) -> async_graphql::Result<UserStreamCollection> {
        let pool = ctx.data_unchecked::<DbPool>();
        let _turn = turn(ctx).await?;
        let (total_count, rows, cursor) =
            streams::search_for_user(pool, user_id, search, &page).await.map_err(to_api)?;
        Ok(UserStreamCollection { total_count, page: Some((Stream::with_roles(rows), cursor)) })
    }
}

#[Object]
impl UserStreamCollection {
    /// Streams hidden from this list: none.
    async fn number_of_hidden(&self) -> i32 {
        0
    }
    async fn total_count(&self) -> i64 {
        self.total_count
    }
    async fn cursor(&self) -> Option<&str> {
        self.page.as_ref().and_then(|(_, cursor)| cursor.as_deref())
    }
    async fn items(&self) -> Option<&[Stream]> {
        Some(self.page.as_ref().map_or(&[], |(items, _)| items.as_slice()))
    }
}

#[derive(SimpleObject)]
pub struct StreamCollection {
    total_count: i64,
    cursor: Option<String>,
    items: Vec<Stream>,
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

impl Stream {
    fn with_roles(rows: Vec<(models::Stream, String)>) -> Vec<Stream> {
        rows.into_iter().map(|(stream, role)| Stream { stream, role: Some(role) }).collect()
    }
}

#[derive(SimpleObject)]
pub struct StreamCollaborator {
    id: String,
    name: String,
    role: String,
    company: Option<String>,
    avatar: Option<Arc<str>>,
    server_role: String,
}

/// An invitation to a stream: there are none here (streams are shared directly).
#[derive(SimpleObject)]
pub struct PendingStreamCollaborator {
    id: String,
    invite_id: String,
    project_id: String,
    project_name: String,
    stream_id: String,
    stream_name: String,
    title: String,
    role: String,
    invited_by: LimitedUser,
    user: Option<LimitedUser>,
    token: Option<String>,
}

#[Object]
impl Stream {
    async fn id(&self) -> &str {
        &self.stream.id
    }
    async fn name(&self) -> &str {
        &self.stream.name
    }
    async fn description(&self) -> Option<&str> {
        Some(&self.stream.description)
    }
    async fn is_public(&self) -> bool {
        self.stream.is_public
    }
    async fn is_discoverable(&self) -> bool {
        false
    }
    async fn allow_public_comments(&self) -> bool {
        false
    }
    async fn role(&self) -> Option<&str> {
        self.role.as_deref()
    }
    async fn created_at(&self) -> DateTime {
        DateTime(self.stream.created_at)
    }
    async fn updated_at(&self) -> DateTime {
        DateTime(self.stream.updated_at)
    }
    #[graphql(complexity = "limits::at_most(limits::COLLABORATORS_COSTED, child_complexity)")]
    async fn collaborators(&self, ctx: &Context<'_>) -> async_graphql::Result<Vec<StreamCollaborator>> {
        let rows = streams::collaborators(&mut *db(ctx).await?, &self.stream.id).await.map_err(to_api)?;
        charge_read(
            ctx,
            rows.iter().map(|row| limits::row_bytes([Some(row.name.as_str()), row.company.as_deref()])).sum(),
        )?;
        let ids: Vec<&str> = rows.iter().map(|row| row.id.as_str()).collect();
        let mut avatars = avatars_if(ctx, ctx.look_ahead().field("avatar").exists(), &ids).await?;
        Ok(rows
            .into_iter()
            .map(|c| StreamCollaborator {
                avatar: avatars.remove(&c.id),
                id: c.id,
                name: c.name,
                role: c.role,
                company: c.company,
                server_role: SERVER_ROLE.to_owned(),
            })
            .collect())
    }
    /// Invitations: none (streams are shared directly with `streamUpdatePermission`).
    async fn pending_collaborators(&self) -> Option<Vec<PendingStreamCollaborator>> {
        Some(Vec::new())
    }
    async fn size(&self) -> Option<String> {
        None
    }
    async fn favorited_date(&self) -> Option<DateTime> {
        None
    }
    async fn favorites_count(&self) -> i32 {
        0
    }
    async fn comment_count(&self) -> i32 {
        0
    }
    /// The stream's commits on every branch, newest first.
    #[graphql(complexity = "limits::paged(limit, child_complexity)")]
    async fn commits(
        &self,
        ctx: &Context<'_>,
        #[graphql(default = 25)] limit: i32,
        cursor: Option<String>,
    ) -> async_graphql::Result<Option<CommitCollection>> {
        CommitCollection::of(ctx, &self.stream, None, limit, cursor).await.map(Some)
    }
    /// The commit with this id; with none, the latest.
    async fn commit(&self, ctx: &Context<'_>, id: Option<String>) -> async_graphql::Result<Option<Commit>> {
        let found = branches::find_commit(&mut *db(ctx).await?, &self.stream.id, id.as_deref())
            .await
            .map_err(to_api)?;
        charge_read(ctx, found.as_ref().map_or(0, commit_bytes))?;
        Ok(found.map(|view| Commit::new(view, &self.stream)))
    }
    /// The stream's branches, oldest first.
    #[graphql(complexity = "limits::paged(limit, child_complexity)")]
    async fn branches(
        &self,
        ctx: &Context<'_>,
        #[graphql(default = 25)] limit: i32,
        cursor: Option<String>,
    ) -> async_graphql::Result<Option<BranchCollection>> {
        let page = Page::new(Some(limit), cursor.as_deref(), Order::OldestFirst).map_err(to_api)?;
        let (total_count, rows, cursor) =
            branches::page(&mut *db(ctx).await?, &self.stream.id, &page).await.map_err(to_api)?;
        let items = rows.into_iter().map(|branch| Branch { branch, stream: self.stream.clone() }).collect();
        Ok(Some(BranchCollection { total_count, cursor, items: Some(items) }))
    }
    /// The branch with this name (or id).
    async fn branch(
        &self,
        ctx: &Context<'_>,
        #[graphql(default_with = "Some(branches::MAIN.to_owned())")] name: Option<String>,
    ) -> async_graphql::Result<Option<Branch>> {
        let name = name.unwrap_or_else(|| branches::MAIN.to_owned());
        let found = branches::find(&mut *db(ctx).await?, &self.stream.id, &name).await.map_err(to_api)?;
        Ok(found.map(|branch| Branch { branch, stream: self.stream.clone() }))
    }
    /// One of the stream's objects.
    async fn object(&self, ctx: &Context<'_>, id: String) -> async_graphql::Result<Option<SpeckleObject>> {
        let found = objects::find(&mut *db(ctx).await?, &self.stream.id, &id).await.map_err(to_api)?;
        charge_read(ctx, found.as_ref().map_or(0, |object| object.data.len()))?;
        Ok(found.map(|object| SpeckleObject { object, stream_id: self.stream.id.clone() }))
    }
    #[graphql(complexity = "limits::paged(limit, child_complexity)")]
    async fn activity(
        &self,
        action_type: Option<String>,
        after: Option<DateTime>,
        before: Option<DateTime>,
        cursor: Option<DateTime>,
        #[graphql(default = 25)] limit: i32,
    ) -> async_graphql::Result<Option<ActivityCollection>> {
        let _ = (action_type, after, before, cursor);
        no_activity(limit).map(Some)
    }
}

#[derive(SimpleObject)]
pub struct BranchCollection {
    total_count: i64,
    cursor: Option<String>,
    items: Option<Vec<Branch>>,
}

pub struct Branch {
    branch: models::Branch,
    stream: models::Stream,
}

#[Object]
impl Branch {
    async fn id(&self) -> &str {
        &self.branch.id
    }
    async fn name(&self) -> &str {
        &self.branch.name
    }
    async fn description(&self) -> Option<&str> {
        self.branch.description.as_deref()
    }
    async fn created_at(&self) -> Option<DateTime> {
        Some(DateTime(self.branch.created_at))
    }
    /// Who made the branch (their public profile).
    async fn author(&self, ctx: &Context<'_>) -> async_graphql::Result<Option<User>> {
        let Some(author_id) = &self.branch.author_id else { return Ok(None) };
        let found = match crate::server::users::profile(&mut *db(ctx).await?, author_id).await {
            Ok(user) => Some(user),
            Err(crate::error::AppError::NotFound(_)) => None,
            Err(error) => return Err(to_api(error)),
        };
        charge_read(ctx, found.as_ref().map_or(0, user_bytes))?;
        let own = caller(ctx).is_ok_and(|c| &c.user_id == author_id);
        Ok(found.map(|user| if own { User::own(user) } else { User::other(user) }))
    }
    /// The branch's commits, newest first.
    #[graphql(complexity = "limits::paged(limit, child_complexity)")]
    async fn commits(
        &self,
        ctx: &Context<'_>,
        #[graphql(default = 25)] limit: i32,
        cursor: Option<String>,
    ) -> async_graphql::Result<Option<CommitCollection>> {
        CommitCollection::of(ctx, &self.stream, Some(&self.branch.name), limit, cursor).await.map(Some)
    }
    #[graphql(complexity = "limits::paged(limit, child_complexity)")]
    async fn activity(
        &self,
        action_type: Option<String>,
        after: Option<DateTime>,
        before: Option<DateTime>,
        cursor: Option<DateTime>,
        #[graphql(default = 25)] limit: i32,
    ) -> async_graphql::Result<Option<ActivityCollection>> {
        let _ = (action_type, after, before, cursor);
        no_activity(limit).map(Some)
    }
}

#[derive(SimpleObject)]
pub struct CommitCollection {
    pub total_count: i64,
    pub cursor: Option<String>,
    pub items: Option<Vec<Commit>>,
}

impl CommitCollection {
    /// A stream's commits, or one branch's, newest first.
    async fn of(
        ctx: &Context<'_>,
        stream: &models::Stream,
        branch: Option<&str>,
        limit: i32,
        cursor: Option<String>,
    ) -> async_graphql::Result<CommitCollection> {
        let page = page(Some(limit), cursor)?;
        let total_count =
            branches::count_commits(&mut *db(ctx).await?, &stream.id, branch).await.map_err(to_api)?;
        // Read on the pool's readers, in this request's turn, with room for a page of the
        // longest messages taken before it is read.
        let _turn = turn(ctx).await?;
        let estimate = limit.clamp(0, 100) as usize * (branches::MAX_COMMIT_MESSAGE_BYTES + 1024);
        let read = async {
            let pool = ctx.data_unchecked::<DbPool>();
            branches::page_of_commits(pool, &stream.id, branch, &page).await.map_err(to_api)
        };
        let (rows, cursor) =
            limits::read_within(ctx, estimate, read, |(rows, _)| rows.iter().map(commit_bytes).sum()).await?;
        drop(_turn);
        // Each author's avatar once, however many of the page's commits they made.
        let wanted = ctx.look_ahead().field("items").field("authorAvatar").exists();
        let mut authors: Vec<&str> = rows.iter().map(|view| view.commit.author_id.as_str()).collect();
        authors.sort_unstable();
        authors.dedup();
        let avatars = avatars_if(ctx, wanted, &authors).await?;
        let items = rows
            .into_iter()
            .map(|view| {
                let avatar = wanted.then(|| avatars.get(&view.commit.author_id).cloned());
                Commit { view, stream: stream.clone(), avatar }
            })
            .collect();
        Ok(CommitCollection { total_count, cursor, items: Some(items) })
    }
}

pub struct Commit {
    view: CommitView,
    stream: models::Stream,
    avatar: Avatar,
}

impl Commit {
    fn new(view: CommitView, stream: &models::Stream) -> Commit {
        Commit { view, stream: stream.clone(), avatar: None }
    }
}

#[Object]
impl Commit {
    async fn id(&self) -> &str {
        &self.view.commit.id
    }
    async fn referenced_object(&self) -> &str {
        &self.view.commit.referenced_object
    }
    async fn message(&self) -> Option<&str> {
        Some(&self.view.commit.message)
    }
    async fn source_application(&self) -> Option<&str> {
        self.view.commit.source_application.as_deref()
    }
    async fn total_children_count(&self) -> Option<i64> {
        self.view.commit.total_children_count
    }
    async fn branch_name(&self) -> Option<&str> {
        Some(&self.view.commit.branch_name)
    }
    async fn branch(&self, ctx: &Context<'_>) -> async_graphql::Result<Option<Branch>> {
        let name = &self.view.commit.branch_name;
        let found = branches::find(&mut *db(ctx).await?, &self.stream.id, name).await.map_err(to_api)?;
        Ok(found.map(|branch| Branch { branch, stream: self.stream.clone() }))
    }
    async fn parents(&self) -> Option<Vec<Option<String>>> {
        let parents = self.view.commit.parents.as_deref()?;
        let parents: Vec<String> = serde_json::from_str(parents).ok()?;
        Some(parents.into_iter().map(Some).collect())
    }
    async fn author_id(&self) -> Option<&str> {
        Some(&self.view.commit.author_id)
    }
    async fn author_name(&self) -> Option<&str> {
        Some(&self.view.author_name)
    }
    async fn author_avatar(&self, ctx: &Context<'_>) -> async_graphql::Result<Option<Arc<str>>> {
        if let Some(read) = &self.avatar {
            return Ok(read.clone());
        }
        let author = self.view.commit.author_id.as_str();
        Ok(avatars_if(ctx, true, &[author]).await?.remove(author))
    }
    async fn created_at(&self) -> Option<DateTime> {
        Some(DateTime(self.view.commit.created_at))
    }
    async fn stream_id(&self) -> Option<&str> {
        Some(&self.stream.id)
    }
    async fn stream_name(&self) -> Option<&str> {
        Some(&self.stream.name)
    }
    /// The commit's stream (`streams:read`, or a public stream).
    async fn stream(&self, ctx: &Context<'_>) -> async_graphql::Result<Stream> {
        let user_id = match caller(ctx) {
            Ok(_) => Some(require(ctx, Scope::StreamsRead)?.user_id.as_str()),
            Err(_) => None,
        };
        let access =
            streams::readable(&mut *db(ctx).await?, &self.stream.id, user_id).await.map_err(to_api)?;
        Ok(Stream::from(access))
    }
    async fn comment_count(&self) -> i32 {
        0
    }
    #[graphql(complexity = "limits::paged(limit, child_complexity)")]
    async fn activity(
        &self,
        action_type: Option<String>,
        after: Option<DateTime>,
        before: Option<DateTime>,
        cursor: Option<DateTime>,
        #[graphql(default = 25)] limit: i32,
    ) -> async_graphql::Result<Option<ActivityCollection>> {
        let _ = (action_type, after, before, cursor);
        no_activity(limit).map(Some)
    }
}

/// A Speckle object (`Object` in Speckle's schema).
pub struct SpeckleObject {
    object: StoredObject,
    stream_id: String,
}

#[derive(SimpleObject)]
pub struct ObjectCollection {
    total_count: i64,
    cursor: Option<String>,
    objects: Vec<SpeckleObject>,
}

#[Object(name = "Object")]
impl SpeckleObject {
    async fn id(&self) -> &str {
        &self.object.id
    }
    async fn speckle_type(&self) -> Option<&str> {
        self.object.speckle_type.as_deref()
    }
    async fn application_id(&self) -> async_graphql::Result<Option<String>> {
        Ok(self.json()?.get("applicationId").and_then(|v| v.as_str()).map(str::to_owned))
    }
    async fn created_at(&self) -> Option<DateTime> {
        Some(DateTime(self.object.created_at))
    }
    async fn total_children_count(&self) -> Option<i64> {
        Some(self.object.total_children_count)
    }
    /// The whole object, as it was sent.
    async fn data(&self) -> async_graphql::Result<Option<JsonObject>> {
        Ok(Some(JsonObject(self.json()?)))
    }
    /// The descendants its closure names, by id, down to `depth`; `select` picks fields
    /// (dotted paths) of each.
    #[expect(clippy::too_many_arguments, reason = "the arguments of Speckle's Object.children")]
    #[graphql(complexity = "limits::paged(limit, child_complexity)")]
    async fn children(
        &self,
        ctx: &Context<'_>,
        #[graphql(default = 100)] limit: i32,
        #[graphql(default = 50)] depth: i32,
        select: Option<Vec<Option<String>>>,
        cursor: Option<String>,
        query: Option<Vec<JsonObject>>,
        order_by: Option<JsonObject>,
    ) -> async_graphql::Result<ObjectCollection> {
        if query.is_some() || order_by.is_some() {
            return Err(to_api(bad_input("children: query and orderBy are not supported on this server.")));
        }
        if !(0..=1000).contains(&limit) {
            return Err(to_api(bad_input("limit must be between 0 and 1000.")));
        }
        let closure = objects::closure(&self.object.data).map_err(to_api)?;
        let within: Vec<String> =
            closure.into_iter().filter(|(_, at)| *at < i64::from(depth)).map(|(id, _)| id).collect();
        let total_count = within.len() as i64;
        let after = cursor.unwrap_or_default();
        let page: Vec<String> = within.into_iter().filter(|id| *id > after).take(limit as usize).collect();
        // What the page's objects weigh is read (and charged) before they are.
        let sizes = objects::sizes(&mut *db(ctx).await?, &self.stream_id, &page).await.map_err(to_api)?;
        charge_read(ctx, sizes.iter().map(|size| usize::try_from(*size).unwrap_or(usize::MAX)).sum())?;
        let found = objects::find_many(&mut *db(ctx).await?, &self.stream_id, &page).await.map_err(to_api)?;
        let mut children = Vec::with_capacity(found.len());
        for mut object in found {
            if let Some(fields) = &select {
                object.data = picked(&object.data, fields.iter().flatten())?.to_string();
            }
            children.push(SpeckleObject { object, stream_id: self.stream_id.clone() });
        }
        let cursor = (page.len() == limit as usize && limit > 0).then(|| page.last().cloned()).flatten();
        Ok(ObjectCollection { total_count, cursor, objects: children })
    }
    async fn comment_count(&self) -> i32 {
        0
    }
}

impl SpeckleObject {
    fn json(&self) -> async_graphql::Result<serde_json::Value> {
        serde_json::from_str(&self.object.data).map_err(|_| to_api(not_found("Object")))
    }
}

/// The fields at these dotted paths of an object's JSON, as a new object of the same shape
/// (a number in a path indexes an array). A path inside one already picked whole adds
/// nothing; a path that names nothing is left out. Never fails on what a client sends.
fn picked<'a>(
    data: &str,
    paths: impl Iterator<Item = &'a String>,
) -> async_graphql::Result<serde_json::Value> {
    let whole: serde_json::Value = serde_json::from_str(data).map_err(|_| to_api(not_found("Object")))?;
    let mut out = serde_json::Map::new();
    for path in paths {
        let parts: Vec<&str> = path.split('.').collect();
        let pointer: String =
            parts.iter().map(|part| format!("/{}", part.replace('~', "~0").replace('/', "~1"))).collect();
        if let Some(value) = whole.pointer(&pointer) {
            put_at(&mut out, &parts, value.clone());
        }
    }
    Ok(serde_json::Value::Object(out))
}

/// Puts `value` at `path` in `out`, making the objects on the way; stops at a value that is
/// not an object (a shorter path picked it whole, and it holds this one already).
fn put_at(out: &mut serde_json::Map<String, serde_json::Value>, path: &[&str], value: serde_json::Value) {
    let Some((last, parents)) = path.split_last() else { return };
    let mut at = out;
    for part in parents {
        let next =
            at.entry((*part).to_owned()).or_insert_with(|| serde_json::Value::Object(Default::default()));
        match next {
            serde_json::Value::Object(map) => at = map,
            _ => return,
        }
    }
    at.insert((*last).to_owned(), value);
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
    /// What happened to the token, newest first (SPEC §8).
    #[graphql(complexity = "limits::paged(limit, child_complexity)")]
    async fn events(
        &self,
        ctx: &Context<'_>,
        #[graphql(default = 25)] limit: i32,
    ) -> async_graphql::Result<Vec<ApiTokenEvent>> {
        require(ctx, Scope::TokensRead)?;
        if !(1..=100).contains(&limit) {
            return Err(to_api(bad_input("limit must be between 1 and 100.")));
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
    ip: String,
    last_seen: DateTime,
}

pub struct ServerInfo;

#[Object]
impl ServerInfo {
    async fn name(&self) -> &str {
        "Speckle Tokens"
    }
    async fn company(&self) -> Option<&str> {
        None
    }
    async fn description(&self) -> Option<&str> {
        Some("A Speckle-style server whose heart is personal access tokens.")
    }
    async fn admin_contact(&self) -> Option<&str> {
        None
    }
    async fn canonical_url(&self) -> Option<&str> {
        None
    }
    async fn terms_of_service(&self) -> Option<&str> {
        None
    }
    /// The version of Speckle's server whose API this one speaks: Speckle's clients enable
    /// their methods by it (specklepy wants at least 2.6.4 for sharing).
    async fn version(&self) -> Option<&str> {
        Some(super::SPECKLE_API_VERSION)
    }
    async fn roles(&self) -> Vec<RoleInfo> {
        let stream_roles = [
            (streams::Role::Owner, "Owners have full access, including deletion rights and access control."),
            (streams::Role::Contributor, "Contributors can create new branches and commits, but cannot edit stream details or manage collaborators."),
            (streams::Role::Reviewer, "Reviewers can only view (read) the data from this stream."),
        ];
        std::iter::once(RoleInfo {
            name: SERVER_ROLE,
            description: "Has normal access to the server.",
            resource_target: "server",
        })
        .chain(stream_roles.into_iter().map(|(role, description)| RoleInfo {
            name: role.name(),
            description,
            resource_target: "streams",
        }))
        .collect()
    }
    async fn scopes(&self) -> Vec<ScopeInfo> {
        Scope::ALL
            .into_iter()
            .map(|scope| ScopeInfo { name: scope.name(), description: scope.description() })
            .collect()
    }
    async fn invite_only(&self) -> Option<bool> {
        Some(false)
    }
    async fn guest_mode_enabled(&self) -> bool {
        false
    }
    async fn server_roles(&self) -> Vec<ServerRoleItem> {
        vec![ServerRoleItem { id: SERVER_ROLE, title: "User" }]
    }
    async fn configuration(&self) -> ServerConfiguration {
        let batch = objects::MAX_BATCH_BYTES as i32;
        ServerConfiguration {
            object_size_limit_bytes: batch,
            object_multipart_upload_size_limit_bytes: batch,
            is_email_enabled: false,
            email_verification_timeout_minutes: 0,
        }
    }
    /// How people sign in: with an email and password, at `/login`.
    async fn auth_strategies(&self) -> Vec<AuthStrategy> {
        vec![AuthStrategy { id: "local", name: "Local", icon: "TODO", url: "/login", color: None }]
    }
}

#[derive(SimpleObject)]
#[graphql(name = "Role")]
pub struct RoleInfo {
    name: &'static str,
    description: &'static str,
    resource_target: &'static str,
}

#[derive(SimpleObject)]
#[graphql(name = "Scope")]
pub struct ScopeInfo {
    name: &'static str,
    description: &'static str,
}

#[derive(SimpleObject)]
pub struct ServerRoleItem {
    id: &'static str,
    title: &'static str,
}

#[derive(SimpleObject)]
pub struct ServerConfiguration {
    object_size_limit_bytes: i32,
    object_multipart_upload_size_limit_bytes: i32,
    is_email_enabled: bool,
    email_verification_timeout_minutes: i32,
}

#[derive(SimpleObject)]
pub struct AuthStrategy {
    id: &'static str,
    name: &'static str,
    icon: &'static str,
    url: &'static str,
    color: Option<&'static str>,
}

/// An app registered on the server: there are none (tokens are personal).
#[derive(SimpleObject)]
pub struct ServerAppListItem {
    id: String,
    name: String,
    description: Option<String>,
    redirect_url: String,
    terms_and_conditions_link: Option<String>,
    trust_by_default: Option<bool>,
    logo: Option<String>,
    author: Option<AppAuthor>,
}

#[derive(SimpleObject)]
pub struct AppAuthor {
    name: String,
    id: String,
    avatar: Option<String>,
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::picked;

    #[test]
    fn a_path_inside_one_picked_whole_adds_nothing() {
        let data = r#"{"a": [1, {"b": 2}], "c": {"d": 3, "e": 4}}"#;
        let select = |paths: &[&str]| {
            let paths: Vec<String> = paths.iter().map(|p| p.to_string()).collect();
            picked(data, paths.iter()).unwrap()
        };
        assert_eq!(select(&["a", "a.0"]), serde_json::json!({"a": [1, {"b": 2}]}));
        assert_eq!(select(&["a.1.b"]), serde_json::json!({"a": {"1": {"b": 2}}}));
        assert_eq!(select(&["c.d", "c"]), serde_json::json!({"c": {"d": 3, "e": 4}}));
        assert_eq!(select(&["nothing.here", ""]), serde_json::json!({}));
    }

    fn json() -> impl Strategy<Value = serde_json::Value> {
        let leaf = prop_oneof![
            Just(serde_json::Value::Null),
            any::<bool>().prop_map(serde_json::Value::from),
            any::<i32>().prop_map(serde_json::Value::from),
            "[a-c0-2]{0,2}".prop_map(serde_json::Value::from),
        ];
        leaf.prop_recursive(4, 32, 4, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..4).prop_map(serde_json::Value::from),
                prop::collection::btree_map("[a-c0-2~/]{0,2}", inner, 0..4)
                    .prop_map(|map| serde_json::Value::Object(map.into_iter().collect())),
            ]
        })
    }

    proptest! {
        /// Any selection over any object answers an object, never a panic.
        #[test]
        fn any_selection_of_any_object_is_an_object(
            fields in prop::collection::btree_map("[a-c0-2~/]{0,2}", json(), 0..4),
            paths in prop::collection::vec("[a-c0-2.~/]{0,6}", 0..6),
        ) {
            let data = serde_json::Value::Object(fields.into_iter().collect()).to_string();
            let out = picked(&data, paths.iter()).unwrap();
            prop_assert!(out.is_object());
        }
    }
}
