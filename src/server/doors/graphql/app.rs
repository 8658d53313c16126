//! Apps (SPEC §11) in Speckle's words: `app(id)`, `apps`, the person's `authorizedApps` and
//! `createdApps`, and `appCreate`, `appUpdate`, `appDelete`, `appRevokeAccess` under
//! `apps:read` / `apps:write`. Unlike Speckle, a client secret is stored only as its digest:
//! `ServerApp.secret` is always null, and `appRegenerateSecret` answers a new one, once.

use async_graphql::{Context, InputObject, Object, SimpleObject};

use super::{db, require, seen, to_api, DateTime, ScopeInfo};
use crate::rules::error::bad_input;
use crate::rules::scopes::{Scope, ScopeSet};
use crate::server::db::models;
use crate::server::domain::activity::Revoker;
use crate::server::domain::apps::{self, registered};

/// An app with what its author sees of it.
pub struct ServerApp {
    app: models::App,
    confidential: bool,
    author: Option<AppAuthor>,
}

/// The first registered redirect URL, as Speckle's one `redirectUrl`.
fn first_redirect(app: &models::App) -> String {
    app.redirects().next().unwrap_or_default().to_owned()
}

fn scope_infos(names: &str) -> Vec<ScopeInfo> {
    let scopes = ScopeSet::from_names(names).unwrap_or_default();
    scopes.iter().map(|scope| ScopeInfo { name: scope.name(), description: scope.description() }).collect()
}

#[Object]
impl ServerApp {
    async fn id(&self) -> &str {
        self.app.id.as_str()
    }
    /// Always null: secrets are kept only as digests (`appRegenerateSecret` gives a new one).
    async fn secret(&self) -> Option<String> {
        None
    }
    async fn name(&self) -> &str {
        &self.app.name
    }
    async fn description(&self) -> Option<&str> {
        Some(&self.app.description)
    }
    async fn terms_and_conditions_link(&self) -> Option<String> {
        None
    }
    async fn logo(&self) -> Option<String> {
        None
    }
    /// Whether the app is a public client (no secret: a desktop or command-line app).
    async fn public(&self) -> Option<bool> {
        Some(!self.confidential)
    }
    /// No app is trusted by default here: a person consents to each once.
    async fn trust_by_default(&self) -> Option<bool> {
        Some(false)
    }
    async fn author(&self) -> Option<&AppAuthor> {
        self.author.as_ref()
    }
    async fn created_at(&self) -> DateTime {
        DateTime(self.app.created_at)
    }
    async fn redirect_url(&self) -> String {
        first_redirect(&self.app)
    }
    /// Every registered redirect URL (Speckle has one).
    async fn redirect_urls(&self) -> Vec<&str> {
        self.app.redirects().collect()
    }
    async fn scopes(&self) -> Vec<ScopeInfo> {
        scope_infos(&self.app.scopes)
    }
}

/// An app as anyone may list it.
#[derive(SimpleObject)]
pub struct ServerAppListItem {
    pub(super) id: String,
    pub(super) name: String,
    pub(super) description: Option<String>,
    pub(super) redirect_url: String,
    pub(super) terms_and_conditions_link: Option<String>,
    pub(super) trust_by_default: Option<bool>,
    pub(super) logo: Option<String>,
    pub(super) author: Option<AppAuthor>,
}

impl ServerAppListItem {
    fn of(app: &models::App, author: Option<AppAuthor>) -> Self {
        ServerAppListItem {
            id: app.id.to_string(),
            name: app.name.clone(),
            description: Some(app.description.clone()),
            redirect_url: first_redirect(app),
            terms_and_conditions_link: None,
            trust_by_default: Some(false),
            logo: None,
            author,
        }
    }
}

/// Who registered an app (no avatar: it is not read for apps).
#[derive(Clone, SimpleObject)]
pub struct AppAuthor {
    pub(super) name: String,
    pub(super) id: String,
    pub(super) avatar: Option<String>,
}

/// The author of `app`, read by id.
async fn author_of(ctx: &Context<'_>, app: &models::App) -> async_graphql::Result<Option<AppAuthor>> {
    let Some(author_id) = &app.author_id else { return Ok(None) };
    let user = crate::server::domain::users::find(&mut *db(ctx).await?, author_id).await.map_err(to_api)?;
    Ok(user.map(|user| AppAuthor { name: user.name, id: user.id.into(), avatar: None }))
}

/// The root query's app fields.
#[derive(Default)]
pub struct AppQuery;

#[Object]
impl AppQuery {
    /// An app by its client id, as a consent page shows it: needs no token (as Speckle's).
    async fn app(&self, ctx: &Context<'_>, id: String) -> async_graphql::Result<Option<ServerApp>> {
        let found = registered::find_with_kind(&mut *db(ctx).await?, &id).await.map_err(to_api)?;
        let Some((app, confidential)) = found else { return Ok(None) };
        let author = author_of(ctx, &app).await?;
        Ok(Some(ServerApp { app, confidential, author }))
    }

    /// The apps this server installs for everyone (`apps:read`); apps people register are
    /// theirs to share.
    async fn apps(&self, ctx: &Context<'_>) -> async_graphql::Result<Option<Vec<Option<ServerAppListItem>>>> {
        require(ctx, Scope::AppsRead)?;
        let mut conn = db(ctx).await?;
        let mut listed = Vec::new();
        for default in apps::DEFAULT_APPS {
            if let Some(app) = apps::find(&mut conn, default.id).await.map_err(to_api)? {
                listed.push(Some(ServerAppListItem::of(&app, None)));
            }
        }
        Ok(Some(listed))
    }
}

/// `activeUser.authorizedApps` (`apps:read`).
pub(super) async fn authorized_apps(
    ctx: &Context<'_>,
    user: &crate::server::db::UserId,
) -> async_graphql::Result<Vec<ServerAppListItem>> {
    require(ctx, Scope::AppsRead)?;
    let rows = registered::authorized_by(&mut *db(ctx).await?, user).await.map_err(to_api)?;
    Ok(rows
        .into_iter()
        .map(|row| {
            let author = row.app.author_id.as_ref().zip(row.author).map(|(id, name)| AppAuthor {
                name,
                id: id.to_string(),
                avatar: None,
            });
            ServerAppListItem::of(&row.app, author)
        })
        .collect())
}

/// `activeUser.createdApps` (`apps:read`).
pub(super) async fn created_apps(
    ctx: &Context<'_>,
    user: &models::Profile,
) -> async_graphql::Result<Vec<ServerApp>> {
    require(ctx, Scope::AppsRead)?;
    let rows = registered::created_by(&mut *db(ctx).await?, &user.id).await.map_err(to_api)?;
    let author = AppAuthor { name: user.name.clone(), id: user.id.to_string(), avatar: None };
    Ok(rows
        .into_iter()
        .map(|(app, confidential)| ServerApp { app, confidential, author: Some(author.clone()) })
        .collect())
}

#[derive(InputObject)]
pub struct AppCreateInput {
    name: String,
    description: String,
    terms_and_conditions_link: Option<String>,
    logo: Option<String>,
    /// A public client (no secret): a desktop or command-line app. Fixed once registered.
    public: Option<bool>,
    /// One URL, or several one a line.
    redirect_url: String,
    scopes: Vec<Option<String>>,
}

/// `AppCreateInput`'s fields and the app's id.
#[derive(InputObject)]
pub struct AppUpdateInput {
    id: String,
    #[graphql(flatten)]
    app: AppCreateInput,
}

impl AppCreateInput {
    /// The fields as the domain takes them; an unknown scope is refused. (Speckle's
    /// terms-and-conditions link and logo are not kept.)
    fn fields(self) -> async_graphql::Result<registered::AppFields> {
        let names: Vec<String> = self.scopes.into_iter().flatten().collect();
        let scopes = ScopeSet::try_from(names)
            .map_err(|name| to_api(bad_input(format!("{name:?} is not a scope of this server."))))?;
        Ok(registered::AppFields {
            name: self.name,
            description: self.description,
            redirect_urls: self.redirect_url,
            scopes,
        })
    }
}

/// The root mutation's app fields (`apps:write`).
#[derive(Default)]
pub struct AppMutation;

#[Object]
impl AppMutation {
    /// Registers an app; answers its client id. A confidential app's secret is answered only
    /// by `appRegenerateSecret` (or shown once on `/profile`).
    async fn app_create(&self, ctx: &Context<'_>, app: AppCreateInput) -> async_graphql::Result<String> {
        let caller = require(ctx, Scope::AppsWrite)?;
        let public = app.public.unwrap_or(false);
        let fields = app.fields()?;
        let (created, _secret) = registered::register(&mut *db(ctx).await?, &caller.user_id, &fields, public)
            .await
            .map_err(to_api)?;
        Ok(created.id.into())
    }

    /// Edits one's own app; scopes taken away end every grant of it.
    async fn app_update(&self, ctx: &Context<'_>, app: AppUpdateInput) -> async_graphql::Result<bool> {
        let caller = require(ctx, Scope::AppsWrite)?;
        let fields = app.app.fields()?;
        let seen = seen(ctx)?;
        registered::update(&mut *db(ctx).await?, &caller.user_id, &app.id, &fields, &seen)
            .await
            .map_err(to_api)?;
        Ok(true)
    }

    /// A new client secret for one's own confidential app, answered once; the old one dies.
    async fn app_regenerate_secret(
        &self,
        ctx: &Context<'_>,
        app_id: String,
    ) -> async_graphql::Result<String> {
        let caller = require(ctx, Scope::AppsWrite)?;
        let (_, secret) = registered::regenerate_secret(&mut *db(ctx).await?, &caller.user_id, &app_id)
            .await
            .map_err(to_api)?;
        Ok(secret.expose_secret().to_owned())
    }

    /// Deletes one's own app: every person's grant of it ends.
    async fn app_delete(&self, ctx: &Context<'_>, app_id: String) -> async_graphql::Result<bool> {
        let caller = require(ctx, Scope::AppsWrite)?;
        let seen = seen(ctx)?;
        registered::delete(&mut *db(ctx).await?, &caller.user_id, &app_id, &seen).await.map_err(to_api)?;
        Ok(true)
    }

    /// Ends the caller's grant of an app: its tokens die at once, on every server.
    async fn app_revoke_access(
        &self,
        ctx: &Context<'_>,
        app_id: String,
    ) -> async_graphql::Result<Option<bool>> {
        let caller = require(ctx, Scope::AppsWrite)?;
        let revoker = Revoker::Token(caller.token_name.clone());
        let seen = seen(ctx)?;
        let ended = apps::revoke_access(&mut *db(ctx).await?, &caller.user_id, &app_id, revoker, &seen)
            .await
            .map_err(to_api)?;
        Ok(Some(ended))
    }
}
