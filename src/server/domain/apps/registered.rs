//! Apps a person registers (SPEC §11, `Developer apps` and `appCreate`…): their fields and
//! client secret, and the apps a person has authorized. Every door (the profile's dialogs,
//! GraphQL) calls these alike.

use diesel::prelude::*;
use diesel_async::RunQueryDsl;

use super::redirect;
use crate::rules::error::{bad_input, AppError, AppResult};
use crate::rules::limits::{MAX_APPS_LISTED, MAX_APPS_PER_AUTHOR, MAX_REDIRECT_URLS};
use crate::rules::scopes::ScopeSet;
use crate::rules::text::{APP_DESCRIPTION, APP_NAME};
use crate::server::db::schema::{app_grants, apps, users};
use crate::server::db::{models, AppId, DbConn, UserId};
use crate::server::domain::activity::{Revoker, Seen};
use crate::server::domain::tokens::{PlainToken, SecretKind};
use crate::{db_run, db_tx};

/// What a person types to register or edit an app.
#[derive(Clone, Debug, Default)]
pub struct AppFields {
    pub name: String,
    pub description: String,
    /// One URL a line (blank lines ignored).
    pub redirect_urls: String,
    pub scopes: ScopeSet,
}

/// The fields as stored: name and description checked, each redirect URL one an app may
/// register, at least one scope.
fn checked(fields: &AppFields) -> AppResult<(String, String, String)> {
    let name = APP_NAME.value(&fields.name)?;
    let description = APP_DESCRIPTION.value(&fields.description)?;
    let urls: Vec<&str> =
        fields.redirect_urls.lines().map(str::trim).filter(|line| !line.is_empty()).collect();
    if urls.len() > MAX_REDIRECT_URLS {
        return Err(bad_input(format!("An app has at most {MAX_REDIRECT_URLS} redirect URLs.")));
    }
    for url in &urls {
        redirect::check_registered(url)?;
    }
    if fields.scopes.is_empty() {
        return Err(bad_input("Choose at least one scope."));
    }
    Ok((name, description, urls.join("\n")))
}

/// A new client secret, and the digest that is stored.
fn new_secret() -> (PlainToken, Vec<u8>) {
    let secret = PlainToken::generate_of(SecretKind::ClientSecret);
    let digest = secret.hashed().as_bytes().to_vec();
    (secret, digest)
}

/// Registers an app by `author`; a confidential one (`public` false) gets its client secret,
/// answered here once and stored only as its digest.
pub async fn register(
    conn: &mut DbConn,
    author: &UserId,
    fields: &AppFields,
    public: bool,
) -> AppResult<(models::App, Option<PlainToken>)> {
    let (name, description, redirect_urls) = checked(fields)?;
    let secret = (!public).then(new_secret);
    let id = AppId::random();
    let scopes = fields.scopes.to_names();
    let created_at = db_tx!(conn, |tx| {
        tx.lock_user(author).await?;
        let now = tx.now;
        let held: i64 = apps::table.filter(apps::author_id.eq(author)).count().get_result(tx.conn()).await?;
        if held >= MAX_APPS_PER_AUTHOR {
            return Err(bad_input(format!("You can register at most {MAX_APPS_PER_AUTHOR} apps.")));
        }
        diesel::insert_into(apps::table)
            .values((
                apps::id.eq(&id),
                apps::name.eq(&name),
                apps::description.eq(&description),
                apps::author_id.eq(author),
                apps::secret_digest.eq(secret.as_ref().map(|(_, digest)| digest.as_slice())),
                apps::redirect_urls.eq(&redirect_urls),
                apps::scopes.eq(&scopes),
                apps::created_at.eq(now),
                apps::updated_at.eq(now),
            ))
            .execute(tx.conn())
            .await?;
        Ok(now)
    })?;
    tracing::info!(app_id = %id, %author, "app registered");
    let app = models::App {
        id,
        name,
        description,
        author_id: Some(author.clone()),
        redirect_urls,
        scopes,
        created_at,
        updated_at: created_at,
    };
    Ok((app, secret.map(|(secret, _)| secret)))
}

/// The app `id` if `author` registered it; another's, or none, is not found.
pub async fn own(conn: &mut DbConn, author: &UserId, id: &str) -> AppResult<models::App> {
    let app = super::find(conn, id).await?;
    app.filter(|app| app.author_id.as_ref() == Some(author)).ok_or_else(|| AppError::NotFound("App".into()))
}

/// Edits an app. Scopes taken away end every grant of it (as Speckle revokes its tokens):
/// no token keeps what the app no longer asks for, and each person is asked again. The scopes
/// before are read under the author's lock, so two edits at once cannot both miss a narrowing.
pub async fn update(
    conn: &mut DbConn,
    author: &UserId,
    id: &str,
    fields: &AppFields,
    seen: &Seen,
) -> AppResult<()> {
    let (name, description, redirect_urls) = checked(fields)?;
    db_tx!(conn, |tx| {
        tx.lock_user(author).await?;
        let now = tx.now;
        let before: Option<String> = apps::table
            .filter(apps::id.eq(id))
            .filter(apps::author_id.eq(author))
            .select(apps::scopes)
            .first(tx.conn())
            .await
            .optional()?;
        let before = before.ok_or_else(|| AppError::NotFound("App".into()))?;
        let narrowed = !ScopeSet::from_names(&before).unwrap_or_default().is_within(fields.scopes);
        diesel::update(apps::table.find(id))
            .set((
                apps::name.eq(&name),
                apps::description.eq(&description),
                apps::redirect_urls.eq(&redirect_urls),
                apps::scopes.eq(fields.scopes.to_names()),
                apps::updated_at.eq(now),
            ))
            .execute(tx.conn())
            .await?;
        if narrowed {
            tx.end_grants_of(id, Revoker::AppNarrowed, seen).await?;
        }
        Ok(())
    })
}

/// A new client secret for a confidential app, answered once with the app; the old one no
/// longer works.
pub async fn regenerate_secret(
    conn: &mut DbConn,
    author: &UserId,
    id: &str,
) -> AppResult<(models::App, PlainToken)> {
    let app = own(conn, author, id).await?;
    let (secret, digest) = new_secret();
    let now = conn.now();
    let changed = db_run!(conn, |c| {
        diesel::update(apps::table.find(id).filter(apps::secret_digest.is_not_null()))
            .set((apps::secret_digest.eq(digest.as_slice()), apps::updated_at.eq(now)))
            .execute(c)
            .await
    })?;
    if changed == 0 {
        return Err(bad_input("A public client has no secret."));
    }
    tracing::info!(app_id = id, %author, "client secret regenerated");
    Ok((app, secret))
}

/// Deletes an app: every person's grant of it ends first (their tokens die at once, on every
/// server, and each is told why), then the app and what hangs from it go.
pub async fn delete(conn: &mut DbConn, author: &UserId, id: &str, seen: &Seen) -> AppResult<()> {
    own(conn, author, id).await?;
    db_tx!(conn, |tx| {
        tx.end_grants_of(id, Revoker::AppDeleted, seen).await?;
        diesel::delete(apps::table.find(id)).execute(tx.conn()).await?;
        Ok(())
    })?;
    tracing::info!(app_id = id, %author, "app deleted");
    Ok(())
}

/// The app `id`, and whether it is confidential (has a client secret).
pub async fn find_with_kind(conn: &mut DbConn, id: &str) -> AppResult<Option<(models::App, bool)>> {
    Ok(db_run!(conn, |c| {
        apps::table
            .filter(apps::id.eq(id))
            .select((models::App::as_select(), apps::secret_digest.is_not_null()))
            .first(c)
            .await
            .optional()
    })?)
}

/// The apps `author` registered, newest first, and whether each is confidential.
pub async fn created_by(conn: &mut DbConn, author: &UserId) -> AppResult<Vec<(models::App, bool)>> {
    Ok(db_run!(conn, |c| {
        apps::table
            .filter(apps::author_id.eq(author))
            .order((apps::created_at.desc(), apps::id.desc()))
            .select((models::App::as_select(), apps::secret_digest.is_not_null()))
            .load(c)
            .await
    })?)
}

/// An app a person has authorized: their live grant, the app, and who registered it.
#[derive(Debug)]
pub struct Authorized {
    pub grant: models::Grant,
    pub app: models::App,
    pub author: Option<String>,
}

/// The apps `user` has authorized, most recently authorized first.
pub async fn authorized_by(conn: &mut DbConn, user: &UserId) -> AppResult<Vec<Authorized>> {
    let rows: Vec<(models::Grant, models::App, Option<String>)> = db_run!(conn, |c| {
        app_grants::table
            .inner_join(apps::table)
            .left_join(users::table.on(apps::author_id.eq(users::id.nullable())))
            .filter(app_grants::user_id.eq(user))
            .filter(app_grants::revoked_at.is_null())
            .order((app_grants::created_at.desc(), app_grants::id.desc()))
            .limit(MAX_APPS_LISTED as i64)
            .select((models::Grant::as_select(), models::App::as_select(), users::name.nullable()))
            .load(c)
            .await
    })?;
    Ok(rows.into_iter().map(|(grant, app, author)| Authorized { grant, app, author }).collect())
}
