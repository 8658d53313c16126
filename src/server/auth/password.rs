//! Passwords: argon2id with OWASP's parameters, hashed off the async runtime.

use argon2::password_hash::{rand_core::OsRng, PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};
use secrecy::{ExposeSecret, SecretString};

use crate::error::{bad_input, AppError, AppResult};

pub const MIN_PASSWORD_CHARS: usize = 8;
pub const MAX_PASSWORD_CHARS: usize = 1024;

/// OWASP's first recommendation: 19 MiB of memory, two passes, one lane.
fn argon2id() -> Argon2<'static> {
    let params = Params::new(19 * 1024, 2, 1, None).expect("constant argon2 parameters are valid");
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
}

/// Checks a new password's length; the message says what is wrong.
pub fn validate_new(password: &SecretString) -> AppResult<()> {
    let chars = password.expose_secret().chars().count();
    if chars < MIN_PASSWORD_CHARS {
        return Err(bad_input(format!("The password must be at least {MIN_PASSWORD_CHARS} characters.")));
    }
    if chars > MAX_PASSWORD_CHARS {
        return Err(bad_input(format!("The password must be at most {MAX_PASSWORD_CHARS} characters.")));
    }
    Ok(())
}

/// Password hashes running at once: each takes 19 MiB and a core for ~60 ms, so a storm of
/// sign-ins queues here instead of taking every core and all memory from the API.
static HASHING: tokio::sync::Semaphore = tokio::sync::Semaphore::const_new(1);

/// Hashes a password into a PHC string, on a blocking thread.
pub async fn hash(password: SecretString) -> AppResult<String> {
    let _turn = HASHING.acquire().await.map_err(|_| AppError::Internal)?;
    tokio::task::spawn_blocking(move || {
        let salt = SaltString::generate(&mut OsRng);
        argon2id().hash_password(password.expose_secret().as_bytes(), &salt).map(|hash| hash.to_string())
    })
    .await
    .map_err(|_| AppError::Internal)?
    .map_err(|error| {
        tracing::error!(%error, "password hashing failed");
        AppError::Internal
    })
}

/// Verifies a password against a stored hash, on a blocking thread. With no stored hash
/// (unknown email) it still does the same work, so timing does not tell which emails exist.
pub async fn verify(password: SecretString, stored: Option<String>) -> bool {
    let too_long = password.expose_secret().chars().count() > MAX_PASSWORD_CHARS;
    let Ok(_turn) = HASHING.acquire().await else { return false };
    tokio::task::spawn_blocking(move || {
        let stored = stored.unwrap_or_else(|| DUMMY_HASH.clone());
        let Ok(parsed) = PasswordHash::new(&stored) else { return false };
        let ok = argon2id().verify_password(password.expose_secret().as_bytes(), &parsed).is_ok();
        ok && !too_long
    })
    .await
    .unwrap_or(false)
}

static DUMMY_HASH: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
    let salt = SaltString::generate(&mut OsRng);
    argon2id()
        .hash_password(b"no account has this password", &salt)
        .map(|hash| hash.to_string())
        .unwrap_or_default()
});
