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

type Job = Box<dyn FnOnce() + Send>;

/// Hashes waiting for the hashing thread; past this, a sign-in or sign-up is told to retry
/// (503) at once rather than wait behind a flood. About half a second of work.
pub const HASHING_QUEUE: usize = 8;

/// One thread, at the lowest priority, hashes every password in turn. Each hash takes 19 MiB
/// and a core for ~60 ms: a storm of sign-ins queues here, holds one buffer's worth of memory
/// (spread over many threads, each thread's allocator would keep its own), and leaves the
/// other cores to the API.
static HASHING_THREAD: std::sync::LazyLock<std::sync::mpsc::SyncSender<Job>> =
    std::sync::LazyLock::new(|| {
        let (jobs, queue) = std::sync::mpsc::sync_channel::<Job>(HASHING_QUEUE);
        let spawned = std::thread::Builder::new().name("password-hashing".into()).spawn(move || {
            lower_this_threads_priority();
            for job in queue {
                job();
            }
        });
        if let Err(error) = spawned {
            tracing::error!(%error, "cannot start the password hashing thread");
        }
        jobs
    });

fn lower_this_threads_priority() {
    // SAFETY: setpriority with PRIO_PROCESS and id 0 changes only the calling thread's nice
    // value on Linux; it touches none of our memory.
    let result = unsafe { libc::setpriority(libc::PRIO_PROCESS, 0, 19) };
    if result != 0 {
        tracing::debug!("could not lower the password hashing thread's priority");
    }
}

/// Runs `work` on the password hashing thread; waits for it without blocking the runtime.
async fn on_hashing_thread<T: Send + 'static>(work: impl FnOnce() -> T + Send + 'static) -> AppResult<T> {
    let (answer, answered) = tokio::sync::oneshot::channel();
    let job: Job = Box::new(move || {
        let _ = answer.send(work());
    });
    HASHING_THREAD.try_send(job).map_err(|error| match error {
        std::sync::mpsc::TrySendError::Full(_) => AppError::Busy("too many sign-ins at once".into()),
        std::sync::mpsc::TrySendError::Disconnected(_) => AppError::Internal,
    })?;
    answered.await.map_err(|_| AppError::Internal)
}

/// Hashes a password into a PHC string, on the hashing thread.
pub async fn hash(password: SecretString) -> AppResult<String> {
    on_hashing_thread(move || {
        let salt = SaltString::generate(&mut OsRng);
        argon2id().hash_password(password.expose_secret().as_bytes(), &salt).map(|hash| hash.to_string())
    })
    .await?
    .map_err(|error| {
        tracing::error!(%error, "password hashing failed");
        AppError::Internal
    })
}

/// Verifies a password against a stored hash, on the hashing thread. With no stored hash
/// (unknown email) it still does the same work, so timing does not tell which emails exist.
/// A password longer than any we accept is refused without hashing (its length is no
/// secret). Errs only if the hashing queue is full.
pub async fn verify(password: SecretString, stored: Option<String>) -> AppResult<bool> {
    if password.expose_secret().chars().count() > MAX_PASSWORD_CHARS {
        return Ok(false);
    }
    on_hashing_thread(move || {
        let stored = stored.unwrap_or_else(|| DUMMY_HASH.clone());
        let Ok(parsed) = PasswordHash::new(&stored) else { return false };
        argon2id().verify_password(password.expose_secret().as_bytes(), &parsed).is_ok()
    })
    .await
}

static DUMMY_HASH: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
    let salt = SaltString::generate(&mut OsRng);
    argon2id()
        .hash_password(b"no account has this password", &salt)
        .map(|hash| hash.to_string())
        .unwrap_or_default()
});
