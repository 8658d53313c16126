//! Users: `User` (the token's own, or another's), `LimitedUser`, the search, and their
//! fields of the root query and mutation.

use std::sync::Arc;

use async_graphql::{Context, InputObject, Object, SimpleObject, ID};

use super::{
    activity_of, caller, charge_read, db, limits, request, require, stream_bytes, to_api, ActivityArgs,
    ActivityCollection, ApiToken, DateTime, JsonObject, Paged, PendingStreamCollaborator, Project,
    RootPermissionChecks, Stream, StreamCollection, UserProjectCollection, UserProjectsFilter, SERVER_ROLE,
};
use crate::rules::limits::DEFAULT_PAGE;
use crate::rules::scopes::Scope;
use crate::server::db::{models, StreamId, UserId};
use crate::server::domain::favorites;
use crate::server::domain::history::Of;
use crate::server::domain::reach::Actor;
use crate::server::domain::streams::{self, Listing, StreamFilter};
use crate::server::domain::tokens;
use crate::server::domain::users::{self, ProfileUpdate};

/// What a user's profile read to answer weighs.
pub(super) fn user_bytes(user: &models::Profile) -> usize {
    limits::row_bytes([Some(user.name.as_str()), user.bio.as_deref(), user.company.as_deref()])
}

/// An avatar: read with others of its list, or, alone, when it is asked for.
pub(super) type Avatar = Option<Option<Arc<str>>>;

/// The avatars of these users, if the query asks for them (`wanted`): one read for the list,
/// charged at their size before they are read.
pub(super) async fn avatars_if(
    ctx: &Context<'_>,
    wanted: bool,
    user_ids: &[&UserId],
) -> async_graphql::Result<std::collections::HashMap<UserId, Arc<str>>> {
    if !wanted {
        return Ok(Default::default());
    }
    let charge = |bytes| match limits::budget(ctx) {
        Some(budget) => budget.charge_bytes(bytes),
        None => Ok(()),
    };
    crate::server::domain::users::avatars(&mut *db(ctx).await?, user_ids, charge).await.map_err(to_api)
}

/// Another user's public profile: what anyone with `users:read` may see of a user. A `User`
/// has all of it too.
#[derive(Clone)]
pub struct LimitedUser {
    pub(super) user: models::Profile,
    pub(super) avatar: Avatar,
    pub(super) is_own: bool,
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
        let ids: Vec<&UserId> = users.iter().map(|user| &user.id).collect();
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
        ID(self.user.id.to_string())
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
        #[graphql(default_with = "DEFAULT_PAGE")] limit: i32,
        cursor: Option<String>,
    ) -> async_graphql::Result<UserStreamCollection> {
        let caller = require(ctx, Scope::StreamsRead)?;
        let listing = match self.is_own {
            true => Listing::Own(caller.actor()),
            false => Listing::Public(&self.user.id),
        };
        UserStreamCollection::for_user(ctx, listing, Paged::newest_first(Some(limit), cursor)?).await
    }
    /// How many favourites the streams this user owns have.
    async fn total_owned_streams_favorites(&self, ctx: &Context<'_>) -> async_graphql::Result<i64> {
        favorites::of_owned(&mut *db(ctx).await?, &self.user.id).await.map_err(to_api)
    }
    #[graphql(complexity = "limits::paged(limit, child_complexity)")]
    async fn activity(
        &self,
        ctx: &Context<'_>,
        action_type: Option<String>,
        after: Option<DateTime>,
        before: Option<DateTime>,
        cursor: Option<DateTime>,
        #[graphql(default_with = "DEFAULT_PAGE")] limit: i32,
    ) -> async_graphql::Result<ActivityCollection> {
        let caller = require(ctx, Scope::UsersRead)?;
        let args = ActivityArgs { action_type, after, before, cursor, limit };
        let of = match self.is_own {
            true => Of::Own(caller.actor()),
            // Another's: only on streams the caller may read (public ones without streams:read).
            false => {
                let viewer = caller.scopes.contains(Scope::StreamsRead).then(|| caller.actor());
                Of::SeenBy { user: &self.user.id, viewer }
            }
        };
        activity_of(ctx, of, args).await
    }
    #[graphql(complexity = "limits::paged(limit, child_complexity)")]
    async fn timeline(
        &self,
        ctx: &Context<'_>,
        after: Option<DateTime>,
        before: Option<DateTime>,
        cursor: Option<DateTime>,
        #[graphql(default_with = "DEFAULT_PAGE")] limit: i32,
    ) -> async_graphql::Result<ActivityCollection> {
        require(ctx, Scope::UsersRead)?;
        let caller = require(ctx, Scope::StreamsRead)?;
        let args = ActivityArgs { action_type: None, after, before, cursor, limit };
        let of = match self.is_own {
            true => Of::StreamsOf(caller.actor()),
            // Another's: the activity of their public streams, as Speckle's `timeline` says.
            false => Of::PublicStreamsOf(&self.user.id),
        };
        activity_of(ctx, of, args).await
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

impl User {
    /// Refuses a field that only the user themselves may read (Speckle's `@isOwner`).
    fn own_only(&self, _ctx: &Context<'_>, refusal: &str) -> async_graphql::Result<()> {
        if self.0.is_own {
            return Ok(());
        }
        Err(super::api_error("FORBIDDEN", refusal))
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
    /// The user's workspaces: workspaces are not enabled here (an error says so).
    async fn workspaces(
        &self,
        ctx: &Context<'_>,
        #[graphql(default = 25)] limit: i32,
        cursor: Option<String>,
        filter: Option<super::UserWorkspacesFilter>,
    ) -> async_graphql::Result<super::WorkspaceCollection> {
        let _ = (limit, cursor, filter);
        self.own_only(ctx, "Only the user themselves may read their workspaces.")?;
        super::workspace::refused(ctx)
    }
    /// The workspace last visited: workspaces are not enabled here (an error says so).
    async fn active_workspace(
        &self,
        ctx: &Context<'_>,
    ) -> async_graphql::Result<Option<super::LimitedWorkspace>> {
        self.own_only(ctx, "Only the user themselves may read their workspaces.")?;
        super::workspace::refused(ctx)
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
    /// The streams the user marked as favourites and can still read, latest first
    /// (`streams:read`; one's own only).
    #[graphql(complexity = "limits::paged(limit, child_complexity)")]
    async fn favorite_streams(
        &self,
        ctx: &Context<'_>,
        #[graphql(default_with = "DEFAULT_PAGE")] limit: i32,
        cursor: Option<String>,
    ) -> async_graphql::Result<StreamCollection> {
        let caller = require(ctx, Scope::StreamsRead)?;
        self.own_only(ctx, "You can only list your own favourites.")?;
        let actor = caller.actor();
        let (total_count, rows, cursor) =
            Paged::newest_first(Some(limit), cursor)?
                .read(
                    ctx,
                    |pool, page| async move {
                        favorites::page_for_user(&mut pool.get().await?, actor, &page).await
                    },
                    |(_, rows, _)| rows.iter().map(|(stream, _, _)| stream_bytes(stream)).sum(),
                )
                .await?;
        let items = rows.into_iter().map(|(stream, role, _)| Stream { stream, role }).collect();
        Ok(StreamCollection { total_count, cursor, items })
    }
    /// The user's projects (`streams:read`; one's own only), newest first.
    #[graphql(complexity = "limits::paged(limit, child_complexity)")]
    async fn projects(
        &self,
        ctx: &Context<'_>,
        #[graphql(default_with = "DEFAULT_PAGE")] limit: i32,
        cursor: Option<String>,
        filter: Option<UserProjectsFilter>,
        sort_by: Option<Vec<String>>,
    ) -> async_graphql::Result<UserProjectCollection> {
        let _ = sort_by;
        let caller = require(ctx, Scope::StreamsRead)?;
        self.own_only(ctx, "You can only list your own projects.")?;
        let page = Paged::newest_first(Some(limit), cursor)?;
        let filter = filter.unwrap_or_default().to_streams().map_err(to_api)?;
        let streams = match &filter {
            Some(filter) => UserStreamCollection::matching(ctx, caller.actor(), filter, page).await?,
            None => UserStreamCollection::for_user(ctx, Listing::Own(caller.actor()), page).await?,
        };
        Ok(streams.into_projects())
    }
    /// Invitations to projects waiting for the user's answer (`streams:read`; one's own).
    #[graphql(
        complexity = "limits::at_most(crate::server::domain::invites::MAX_PENDING_LISTED as usize, child_complexity)"
    )]
    async fn project_invites(
        &self,
        ctx: &Context<'_>,
    ) -> async_graphql::Result<Vec<PendingStreamCollaborator>> {
        require(ctx, Scope::StreamsRead)?;
        self.own_only(ctx, "You can only list your own invitations.")?;
        super::mine(ctx).await
    }
    /// What the user may do on this server (one's own).
    async fn permissions(&self, ctx: &Context<'_>) -> async_graphql::Result<RootPermissionChecks> {
        self.own_only(ctx, "You can only check your own permissions.")?;
        Ok(RootPermissionChecks)
    }
    /// The apps the user has authorized (`apps:read`; one's own only).
    #[graphql(complexity = "limits::at_most(crate::rules::limits::MAX_APPS_LISTED, child_complexity)")]
    async fn authorized_apps(
        &self,
        ctx: &Context<'_>,
    ) -> async_graphql::Result<Option<Vec<super::ServerAppListItem>>> {
        self.own_only(ctx, "You can only list the apps you authorized.")?;
        Ok(Some(super::app::authorized_apps(ctx, &self.0.user.id).await?))
    }
    /// The apps the user registered (`apps:read`; one's own only).
    #[graphql(
        complexity = "limits::at_most(crate::rules::limits::MAX_APPS_PER_AUTHOR as usize, child_complexity)"
    )]
    async fn created_apps(&self, ctx: &Context<'_>) -> async_graphql::Result<Option<Vec<super::ServerApp>>> {
        self.own_only(ctx, "You can only list your own apps.")?;
        Ok(Some(super::app::created_apps(ctx, &self.0.user).await?))
    }
    /// The user's live tokens (`tokens:read`), never their secrets; one's own only.
    #[graphql(
        complexity = "limits::at_most(crate::rules::limits::MAX_LIVE_TOKENS as usize, child_complexity)"
    )]
    async fn api_tokens(&self, ctx: &Context<'_>) -> async_graphql::Result<Vec<ApiToken>> {
        require(ctx, Scope::TokensRead)?;
        self.own_only(ctx, "You can only list your own tokens.")?;
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
    pub(super) total_count: i64,
    pub(super) page: Option<(Vec<Stream>, Option<String>)>,
}

impl UserStreamCollection {
    /// Reads only what the query asks for: `{ streams { totalCount } }` costs one count.
    pub(super) async fn for_user(
        ctx: &Context<'_>,
        listing: Listing<'_>,
        page: Paged,
    ) -> async_graphql::Result<UserStreamCollection> {
        let epochs = request(ctx)?.epochs;
        let wanted = ctx.look_ahead();
        let rows_wanted = wanted.field("items").exists() || wanted.field("cursor").exists();
        let (total_count, rows) = page
            .read(
                ctx,
                |pool, page| async move {
                    let total = streams::count_for_user(&pool, epochs.as_ref(), listing).await?;
                    if !rows_wanted {
                        return Ok((total, None));
                    }
                    Ok((total, Some(streams::page_for_user(&pool, listing, &page).await?)))
                },
                |(_, rows)| {
                    rows.as_ref().map_or(0, |(rows, _)| rows.iter().map(|(s, _)| stream_bytes(s)).sum())
                },
            )
            .await?;
        let Some((rows, cursor)) = rows else {
            return Ok(UserStreamCollection { total_count, page: None });
        };
        let mut items = Stream::with_roles(rows);
        if let Listing::Public(_) = listing {
            // Another user's list: each stream's `role` is the caller's own on it, if any (and
            // if a limited token's streams hold it).
            let viewer = caller(ctx)?;
            let ids: Vec<&StreamId> = items
                .iter()
                .map(|item| &item.stream.id)
                .filter(|id| viewer.limit.as_ref().is_none_or(|limit| limit.level(id).is_some()))
                .collect();
            let mut roles =
                streams::roles_on(&mut *db(ctx).await?, &viewer.user_id, &ids).await.map_err(to_api)?;
            for item in &mut items {
                item.role = roles.remove(&item.stream.id);
            }
        }
        Ok(UserStreamCollection { total_count, page: Some((items, cursor)) })
    }

    /// The user's streams that `filter` keeps.
    pub(super) async fn matching(
        ctx: &Context<'_>,
        actor: Actor<'_>,
        filter: &StreamFilter,
        page: Paged,
    ) -> async_graphql::Result<UserStreamCollection> {
        let (total_count, rows, cursor) = page
            .read(
                ctx,
                |pool, page| async move { streams::matching_for_user(&pool, actor, filter, &page).await },
                |(_, rows, _)| rows.iter().map(|(stream, _)| stream_bytes(stream)).sum(),
            )
            .await?;
        Ok(UserStreamCollection { total_count, page: Some((Stream::with_roles(rows), cursor)) })
    }
}

impl UserStreamCollection {
    /// The same page, as the project era names it.
    fn into_projects(self) -> UserProjectCollection {
        let (items, cursor) = self.page.unwrap_or_default();
        UserProjectCollection {
            total_count: self.total_count,
            number_of_hidden: 0,
            cursor,
            items: items.into_iter().map(Project::from).collect(),
        }
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

#[derive(InputObject)]
pub struct UserUpdateInput {
    pub(super) name: Option<String>,
    pub(super) company: Option<String>,
    pub(super) bio: Option<String>,
    pub(super) avatar: Option<String>,
}

/// The root query's user fields.
#[derive(Default)]
pub struct UserQuery;

#[Object]
impl UserQuery {
    /// With no id: the token's own user (`profile:read`). With an id: that user's public
    /// profile (`users:read`), email hidden.
    async fn user(&self, ctx: &Context<'_>, id: Option<String>) -> async_graphql::Result<Option<User>> {
        let own_id = caller(ctx)?.user_id.clone();
        match id.map(UserId::from) {
            Some(id) if id != own_id => {
                require(ctx, Scope::UsersRead)?;
                let user = users::profile(&mut *db(ctx).await?, &id).await.map_err(to_api)?;
                charge_read(ctx, user_bytes(&user))?;
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
        let user = users::profile(&mut *db(ctx).await?, &id.into()).await.map_err(to_api)?;
        charge_read(ctx, user_bytes(&user))?;
        Ok(Some(LimitedUser::new(user)))
    }

    /// Users whose name holds `query`, or whose email is exactly `query` (`users:read`).
    #[graphql(complexity = "limits::paged(limit, child_complexity)")]
    async fn user_search(
        &self,
        ctx: &Context<'_>,
        query: String,
        #[graphql(default_with = "DEFAULT_PAGE")] limit: i32,
        cursor: Option<String>,
        #[graphql(default_with = "Some(false)")] archived: Option<bool>,
        #[graphql(default_with = "Some(false)")] email_only: Option<bool>,
    ) -> async_graphql::Result<UserSearchResultCollection> {
        require(ctx, Scope::UsersRead)?;
        let _ = archived;
        let email_only = email_only.unwrap_or(false);
        let query = query.as_str();
        let (rows, cursor) =
            Paged::newest_first(Some(limit), cursor)?
                .read(
                    ctx,
                    |pool, page| async move {
                        users::search(&mut pool.get().await?, query, email_only, &page).await
                    },
                    |(rows, _)| rows.iter().map(user_bytes).sum(),
                )
                .await?;
        let avatars = ctx.look_ahead().field("items").field("avatar").exists();
        Ok(UserSearchResultCollection { cursor, items: LimitedUser::list(ctx, rows, avatars).await? })
    }
}

/// The root mutation's user fields.
#[derive(Default)]
pub struct UserMutation;

#[Object]
impl UserMutation {
    /// Changes the token's user's profile (`profile:write`).
    async fn user_update(&self, ctx: &Context<'_>, user: UserUpdateInput) -> async_graphql::Result<bool> {
        let caller = require(ctx, Scope::ProfileWrite)?;
        users::update_profile(&mut *db(ctx).await?, &caller.user_id, user.into()).await.map_err(to_api)?;
        Ok(true)
    }
}

/// The root mutation's `activeUserMutations` (`profile:write`, as in Speckle).
#[derive(Default)]
pub struct ActiveUserMutation;

#[Object]
impl ActiveUserMutation {
    async fn active_user_mutations(&self, ctx: &Context<'_>) -> async_graphql::Result<ActiveUserMutations> {
        require(ctx, Scope::ProfileWrite)?;
        // Its answer is the profile: read too, so checked before anything is written.
        require(ctx, Scope::ProfileRead)?;
        Ok(ActiveUserMutations)
    }
}

pub struct ActiveUserMutations;

#[Object]
impl ActiveUserMutations {
    /// Changes the token's user's profile; answers it as it now is.
    async fn update(&self, ctx: &Context<'_>, user: UserUpdateInput) -> async_graphql::Result<User> {
        let caller = caller(ctx)?;
        let mut conn = db(ctx).await?;
        users::update_profile(&mut conn, &caller.user_id, user.into()).await.map_err(to_api)?;
        let profile = users::profile(&mut conn, &caller.user_id).await.map_err(to_api)?;
        Ok(User::own(profile))
    }
}

impl From<UserUpdateInput> for ProfileUpdate {
    fn from(user: UserUpdateInput) -> Self {
        ProfileUpdate { name: user.name, company: user.company, bio: user.bio, avatar: user.avatar }
    }
}
