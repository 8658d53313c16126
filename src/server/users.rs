//! The account domain: sign-up and sign-in rules.

use diesel::prelude::*;
use diesel_async::RunQueryDsl;
use secrecy::SecretString;

use crate::db_run;
use crate::error::{bad_input, not_found, AppResult};
use crate::server::auth::password;
use crate::server::db::schema::users;
use crate::server::db::{models, new_id, now_millis, DbConn};

pub const MAX_NAME_CHARS: usize = 100;
pub const MAX_EMAIL_CHARS: usize = 254;
/// Said for a wrong email and a wrong password alike.
pub const INVALID_CREDENTIALS: &str = "Invalid email or password.";

/// Emails are compared trimmed and case-insensitively, so they are stored that way.
pub fn normalize_email(email: &str) -> String {
    email.trim().to_lowercase()
}

/// Creates an account; the password is hashed with argon2id.
pub async fn sign_up(
    conn: &mut DbConn,
    name: &str,
    email: &str,
    password: SecretString,
) -> AppResult<models::User> {
    let name = name.trim();
    if name.is_empty() {
        return Err(bad_input("Enter your name."));
    }
    if name.chars().count() > MAX_NAME_CHARS {
        return Err(bad_input(format!("The name must be at most {MAX_NAME_CHARS} characters.")));
    }
    let email = normalize_email(email);
    let looks_like_email = email.split_once('@').is_some_and(|(local, domain)| {
        !local.is_empty() && !domain.is_empty() && !email.chars().any(char::is_whitespace)
    });
    if !looks_like_email || email.chars().count() > MAX_EMAIL_CHARS {
        return Err(bad_input("Enter a valid email address."));
    }
    password::validate_new(&password)?;
    let password_hash = password::hash(password).await?;
    let user = models::User {
        id: new_id(),
        suuid: new_id(),
        name: name.to_owned(),
        email,
        password_hash,
        bio: None,
        company: None,
        avatar: None,
        created_at: now_millis(),
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
pub async fn sign_in(conn: &mut DbConn, email: &str, password: SecretString) -> AppResult<models::User> {
    let user = find_by_email(conn, &normalize_email(email)).await?;
    // An unknown email still costs one verification, so timing tells nothing.
    let stored = user.as_ref().map(|u| u.password_hash.clone());
    let verified = password::verify(password, stored).await;
    match user {
        Some(user) if verified => Ok(user),
        _ => Err(bad_input(INVALID_CREDENTIALS)),
    }
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
pub async fn find(conn: &mut DbConn, user_id: &str) -> AppResult<Option<models::User>> {
    Ok(db_run!(conn, |c| {
        users::table.find(user_id).select(models::User::as_select()).first(c).await.optional()
    })?)
}

/// The user with this id, or "not found".
pub async fn get(conn: &mut DbConn, user_id: &str) -> AppResult<models::User> {
    find(conn, user_id).await?.ok_or_else(|| not_found("User"))
}
