//! Speckle's default apps (SPEC §11): the ids, names, redirect URLs and scopes Speckle's own
//! clients expect, written at every start so that each server of a deployment agrees. Their
//! secrets are their ids, public in Speckle's source: they are public clients, whose codes
//! the challenge protects, and they present that known secret.

use diesel::prelude::*;
use diesel::upsert::excluded;
use diesel_async::RunQueryDsl;

use crate::db_run;
use crate::rules::error::AppResult;
use crate::rules::scopes::{Scope, ScopeSet};
use crate::server::db::schema::apps;
use crate::server::db::DbConn;

/// Speckle's web app: its password sign-in (`/auth/local/*`) is the consent for it.
pub const WEB_APP: &str = "spklwebapp";

/// One of Speckle's default apps. A redirect URL starting with `/` is on this server.
pub struct DefaultApp {
    pub id: &'static str,
    pub name: &'static str,
    pub description: &'static str,
    pub redirect_url: &'static str,
    pub scopes: fn() -> ScopeSet,
}

/// What Speckle's connectors ask for (Speckle's scopes that this server does not have left
/// out).
fn connector() -> ScopeSet {
    [
        Scope::StreamsRead,
        Scope::StreamsWrite,
        Scope::ProfileRead,
        Scope::ProfileEmail,
        Scope::UsersRead,
        Scope::UsersInvite,
    ]
    .into_iter()
    .collect()
}

fn all() -> ScopeSet {
    Scope::ALL.into_iter().collect()
}

fn power_bi() -> ScopeSet {
    [
        Scope::StreamsRead,
        Scope::ProfileRead,
        Scope::ProfileEmail,
        Scope::UsersRead,
        Scope::UsersInvite,
        Scope::TokensWrite,
    ]
    .into_iter()
    .collect()
}

fn automate() -> ScopeSet {
    [
        Scope::ProfileEmail,
        Scope::ProfileRead,
        Scope::UsersRead,
        Scope::TokensWrite,
        Scope::StreamsRead,
        Scope::StreamsWrite,
    ]
    .into_iter()
    .collect()
}

/// Speckle's default apps, as Speckle's server defines them.
pub const DEFAULT_APPS: [DefaultApp; 9] = [
    DefaultApp {
        id: WEB_APP,
        name: "Speckle Web Manager",
        description: "The Speckle Web Manager is your one-stop place to manage and coordinate your data.",
        redirect_url: "/",
        scopes: all,
    },
    DefaultApp {
        id: "explorer",
        name: "Speckle Explorer",
        description: "GraphiQL Playground with authentication.",
        redirect_url: "/explorer",
        scopes: all,
    },
    DefaultApp {
        id: "sdm",
        name: "Speckle Desktop Manager",
        description: "Manages local installations of Speckle connectors, kits and everything else.",
        redirect_url: "speckle://account",
        scopes: connector,
    },
    DefaultApp {
        id: "sca",
        name: "Speckle Connector",
        description: "A Speckle Desktop Connectors.",
        redirect_url: "http://localhost:29363",
        scopes: connector,
    },
    DefaultApp {
        id: "sdas",
        name: "Speckle Connector",
        description: "Speckle desktop authentication service. This application helps link your Speckle \
                      account with all host application connectors, like Revit, Rhino etc.",
        redirect_url: "http://localhost:29364",
        scopes: connector,
    },
    DefaultApp {
        id: "connectrV3",
        name: "Desktop Connectors",
        description: "Speckle V3 connectors..",
        redirect_url: "http://localhost:29355",
        scopes: connector,
    },
    DefaultApp {
        id: "spklexcel",
        name: "Speckle Connector For Excel",
        description: "The Speckle Connector For Excel. For more info, check the docs here: \
                      https://speckle.guide/user/excel.",
        redirect_url: "https://speckle-excel.netlify.app",
        scopes: connector,
    },
    DefaultApp {
        id: "spklpwerbi",
        name: "Speckle Connector For PowerBI",
        description: "The Speckle Connector for Power BI.",
        redirect_url: "https://oauth.powerbi.com/views/oauthredirect.html",
        scopes: power_bi,
    },
    DefaultApp {
        id: "spklautoma",
        name: "Speckle Automate",
        description: "Our automation platform",
        redirect_url: "https://automate.speckle.systems/authn/callback",
        scopes: automate,
    },
];

/// The default app with this id, if it is one.
pub fn default_app(id: &str) -> Option<&'static DefaultApp> {
    DEFAULT_APPS.iter().find(|app| app.id == id)
}

/// Writes the default apps as this version defines them (their grants stay).
pub async fn install_defaults(conn: &mut DbConn) -> AppResult<()> {
    let now = conn.now();
    for app in &DEFAULT_APPS {
        let scopes = (app.scopes)().to_names();
        db_run!(conn, |c| {
            diesel::insert_into(apps::table)
                .values((
                    apps::id.eq(app.id),
                    apps::name.eq(app.name),
                    apps::description.eq(app.description),
                    apps::redirect_urls.eq(app.redirect_url),
                    apps::scopes.eq(&scopes),
                    apps::created_at.eq(now),
                    apps::updated_at.eq(now),
                ))
                .on_conflict(apps::id)
                .do_update()
                .set((
                    apps::name.eq(excluded(apps::name)),
                    apps::description.eq(excluded(apps::description)),
                    apps::redirect_urls.eq(excluded(apps::redirect_urls)),
                    apps::scopes.eq(excluded(apps::scopes)),
                ))
                .execute(c)
                .await
        })?;
    }
    Ok(())
}
