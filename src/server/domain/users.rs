//! The account domain: sign-up and sign-in rules.

use diesel::prelude::*;
use diesel_async::RunQueryDsl;
use secrecy::SecretString;

use crate::rules::error::{bad_input, not_found, AppResult};
use crate::rules::limits::{MAX_AVATAR_BYTES, MAX_EMAIL_CHARS, MIN_SEARCH_CHARS};
use crate::rules::text::{BIO, COMPANY, USER_NAME};
use crate::server::auth::password::{self, Asker, Hasher};
use crate::server::db::schema::users;
use crate::server::db::sql::{lower, Search};
use crate::server::db::{models, new_id, DbConn, DbPool, Topic, UserId};
use crate::server::domain::pagination::Page;
use crate::{db_run, db_write, keyset};

/// Said for a wrong email and a wrong password alike.
pub const INVALID_CREDENTIALS: &str = "Invalid email or password.";

/// Emails are compared trimmed and case-insensitively, so they are stored that way.
pub fn normalize_email(email: &str) -> String {
    email.trim().to_lowercase()
}

/// Longer than any email we accept, whatever its characters: refused before any other work.
fn beyond_any_email(email: &str) -> bool {
    email.len() > 4 * MAX_EMAIL_CHARS
}

/// Checks what a sign-up form holds, without any costly work: the name, an email-like
/// email, the password's length. Answers the trimmed name and normalized email.
pub fn validate_sign_up(name: &str, email: &str, password: &SecretString) -> AppResult<(String, String)> {
    let name = USER_NAME.value(name)?;
    if beyond_any_email(email) {
        return Err(bad_input("Enter a valid email address."));
    }
    let email = normalize_email(email);
    let looks_like_email = email.split_once('@').is_some_and(|(local, domain)| {
        !local.is_empty() && !domain.is_empty() && !email.chars().any(char::is_whitespace)
    });
    if !looks_like_email || email.chars().count() > MAX_EMAIL_CHARS {
        return Err(bad_input("Enter a valid email address."));
    }
    password::validate_new(password)?;
    Ok((name, email))
}

/// Creates an account; the password is hashed with argon2id before a database connection is
/// taken, so hashing never holds one.
pub async fn sign_up(
    pool: &DbPool,
    hasher: &Hasher,
    asker: Asker,
    name: &str,
    email: &str,
    password: SecretString,
) -> AppResult<models::User> {
    let (name, email) = validate_sign_up(name, email, &password)?;
    let password_hash = hasher.hash(password, asker).await?;
    let conn = &mut pool.get().await?;
    let user = models::User {
        id: UserId::random(),
        suuid: new_id(),
        name,
        email,
        password_hash,
        bio: None,
        company: None,
        avatar: None,
        created_at: conn.now(),
    };
    let inserted = db_run!(conn, |c| diesel::insert_into(users::table).values(&user).execute(c).await);
    match inserted {
        Ok(_) => Ok(user),
        Err(diesel::result::Error::DatabaseError(diesel::result::DatabaseErrorKind::UniqueViolation, _)) => {
            Err(bad_input("An account with this email already exists."))
        }
        Err(error) => Err(error.into()),
    }
}

/// Checks an email and password; any mismatch is the same "Invalid email or password.".
/// An email longer than any account's is refused before any work.
/// The connection is given back before the password is checked.
pub async fn sign_in(
    pool: &DbPool,
    hasher: &Hasher,
    asker: Asker,
    email: &str,
    password: SecretString,
) -> AppResult<models::User> {
    if beyond_any_email(email) {
        return Err(bad_input(INVALID_CREDENTIALS));
    }
    // A sign-in the hashing queue would turn away costs no database read either.
    hasher.admits(asker)?;
    let user = account(pool, email).await?;
    // An unknown email still costs one verification, so timing tells nothing.
    let stored = user.as_ref().map(|u| u.password_hash.clone());
    let verified = hasher.verify(password, stored, asker).await?;
    match user {
        Some(user) if verified => Ok(user),
        _ => Err(bad_input(INVALID_CREDENTIALS)),
    }
}

/// The account of this email, if any (for a sign-in; an email longer than any is none).
pub async fn account(pool: &DbPool, email: &str) -> AppResult<Option<models::User>> {
    if beyond_any_email(email) {
        return Ok(None);
    }
    find_by_email(&mut pool.get().await?, &normalize_email(email)).await
}

/// Changes a password after checking the current one ("The current password is wrong." if
/// not). No connection is held while hashing.
pub async fn change_password(
    pool: &DbPool,
    hasher: &Hasher,
    asker: Asker,
    user_id: &UserId,
    current: SecretString,
    new: SecretString,
) -> AppResult<()> {
    password::validate_new(&new)?;
    let user = get(&mut pool.get().await?, user_id).await?;
    if !hasher.verify(current, Some(user.password_hash), asker).await? {
        return Err(bad_input("The current password is wrong."));
    }
    let hash = hasher.hash(new, asker).await?;
    db_run!(&mut pool.get().await?, |c| {
        diesel::update(users::table.find(user_id)).set(users::password_hash.eq(&hash)).execute(c).await
    })?;
    Ok(())
}

async fn find_by_email(conn: &mut DbConn, email: &str) -> AppResult<Option<models::User>> {
    Ok(db_run!(conn, |c| {
        users::table
            .filter(users::email.eq(email))
            .select(models::User::as_select())
            .first(c)
            .await
            .optional()
    })?)
}

/// The user with this id, if there is one.
pub async fn find(conn: &mut DbConn, user_id: &UserId) -> AppResult<Option<models::User>> {
    Ok(db_run!(conn, |c| {
        users::table.find(user_id).select(models::User::as_select()).first(c).await.optional()
    })?)
}

/// The user with this id, or "not found".
pub async fn get(conn: &mut DbConn, user_id: &UserId) -> AppResult<models::User> {
    find(conn, user_id).await?.ok_or_else(|| not_found("User"))
}

/// The profile of the user with this id, or "not found".
pub async fn profile(conn: &mut DbConn, user_id: &UserId) -> AppResult<models::Profile> {
    let found: Option<models::Profile> = db_run!(conn, |c| {
        users::table.find(user_id).select(models::Profile::as_select()).first(c).await.optional()
    })?;
    found.ok_or_else(|| not_found("User"))
}

/// The profiles of these users (those that exist), by id: one read for a list.
pub async fn profiles(
    conn: &mut DbConn,
    user_ids: &[&UserId],
) -> AppResult<std::collections::HashMap<UserId, models::Profile>> {
    if user_ids.is_empty() {
        return Ok(Default::default());
    }
    let rows: Vec<models::Profile> = db_run!(conn, |c| {
        users::table.filter(users::id.eq_any(user_ids)).select(models::Profile::as_select()).load(c).await
    })?;
    Ok(rows.into_iter().map(|user| (user.id.clone(), user)).collect())
}

diesel::define_sql_function! {
    /// SQL's `octet_length()`: a text's size in bytes (PostgreSQL; SQLite since 3.43).
    fn octet_length(text: diesel::sql_types::Nullable<diesel::sql_types::Text>) -> diesel::sql_types::Nullable<diesel::sql_types::Integer>;
}

/// The avatars of these users (those who have one), by id. What they weigh is read first and
/// given to `charge`, which may refuse before any is read: a list of users whose avatars
/// are a quarter of a megabyte each is refused, not loaded.
pub async fn avatars(
    conn: &mut DbConn,
    user_ids: &[&UserId],
    charge: impl FnOnce(usize) -> AppResult<()>,
) -> AppResult<std::collections::HashMap<UserId, std::sync::Arc<str>>> {
    if user_ids.is_empty() {
        return Ok(Default::default());
    }
    let sizes: Vec<Option<i32>> = db_run!(conn, |c| {
        users::table
            .filter(users::id.eq_any(user_ids))
            .filter(users::avatar.is_not_null())
            .select(octet_length(users::avatar.nullable()))
            .load(c)
            .await
    })?;
    let weight = sizes.iter().map(|size| size.unwrap_or(0).max(0) as usize).sum();
    charge(weight)?;
    let rows: Vec<(UserId, Option<String>)> = db_run!(conn, |c| {
        users::table
            .filter(users::id.eq_any(user_ids))
            .filter(users::avatar.is_not_null())
            .select((users::id, users::avatar))
            .load(c)
            .await
    })?;
    Ok(rows.into_iter().filter_map(|(id, avatar)| Some((id, std::sync::Arc::from(avatar?)))).collect())
}

/// What a user may change of their own profile; `None` leaves a field as it is.
#[derive(Clone, Debug, Default)]
pub struct ProfileUpdate {
    pub name: Option<String>,
    pub company: Option<String>,
    pub bio: Option<String>,
    pub avatar: Option<String>,
}

/// Changes the user's own profile. The read cache holds users' rows with their tokens, so
/// this ends the tokens' epoch.
pub async fn update_profile(conn: &mut DbConn, user_id: &UserId, update: ProfileUpdate) -> AppResult<()> {
    if update.name.is_none() && update.company.is_none() && update.bio.is_none() && update.avatar.is_none() {
        return Err(bad_input("Give at least one of name, company, bio or avatar."));
    }
    let user = get(conn, user_id).await?;
    let name = match update.name {
        Some(name) => USER_NAME.value(&name)?,
        None => user.name,
    };
    let company = COMPANY.optional(update.company.as_deref())?.or(user.company);
    let bio = BIO.optional(update.bio.as_deref())?.or(user.bio);
    let avatar = update.avatar.map(|a| a.trim().to_owned()).filter(|a| !a.is_empty()).or(user.avatar);
    if avatar.as_ref().is_some_and(|a| a.len() > MAX_AVATAR_BYTES) {
        return Err(bad_input(format!("avatar must be at most {} kB.", MAX_AVATAR_BYTES / 1024)));
    }
    db_write!(conn, Topic::Tokens, |c| {
        diesel::update(users::table.find(user_id))
            .set((
                users::name.eq(&name),
                users::company.eq(&company),
                users::bio.eq(&bio),
                users::avatar.eq(&avatar),
            ))
            .execute(c)
            .await
    })?;
    Ok(())
}

/// Users whose name holds `query` (case-insensitive), or whose email is exactly `query`;
/// with `email_only`, only the latter. Newest first, a page at a time.
pub async fn search(
    conn: &mut DbConn,
    query: &str,
    email_only: bool,
    page: &Page,
) -> AppResult<(Vec<models::Profile>, Option<String>)> {
    let query = query.trim();
    if query.chars().count() < MIN_SEARCH_CHARS {
        return Err(bad_input(format!("query must be at least {MIN_SEARCH_CHARS} characters.")));
    }
    let Some(search) = Search::new(Some(query))? else { return Ok((Vec::new(), None)) };
    let email = normalize_email(query);
    let rows: Vec<models::Profile> = db_run!(conn, |c| {
        let matching = if email_only {
            users::table.filter(users::email.eq(&email)).into_boxed()
        } else {
            let by_name = lower(users::name).like(search.pattern()).escape('\\');
            users::table.filter(by_name.or(users::email.eq(&email))).into_boxed()
        };
        keyset!(newest_first, matching, page, users::created_at, users::id)
            .select(models::Profile::as_select())
            .load(c)
            .await
    })?;
    Ok(page.finish(rows, |user| (user.created_at, &user.id)))
}
