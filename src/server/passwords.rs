//! Signing up and signing in with a password, as every door does it (the pages' server
//! functions, Speckle's `/auth/local/*`): what counts against whom, the lanes, and the
//! hashing queue. The door then starts its own kind of session (a cookie, or a code).

use std::net::IpAddr;

use secrecy::SecretString;

use crate::rules::error::{AppError, AppResult};
use crate::server::auth::device::DeviceCookie;
use crate::server::auth::password::Asker;
use crate::server::auth::throttle::retry_after_secs;
use crate::server::db::models;
use crate::server::domain::users;
use crate::server::state::AppState;

/// Makes an account. Mistakes in the form cost nothing; each attempt after that counts
/// against the address (made accounts and taken emails alike), and hashes in the address's
/// lane.
pub async fn sign_up(
    state: &AppState,
    ip: IpAddr,
    name: &str,
    email: &str,
    password: SecretString,
) -> AppResult<models::User> {
    users::validate_sign_up(name, email, &password)?;
    let address = ip.to_string();
    let throttles = &state.throttles;
    throttles.sign_up.begin(&[&address]).map_err(|wait| AppError::RateLimited(retry_after_secs(wait)))?;
    let asker = Asker { address: ip, trusted_device: false };
    let made = async {
        let _lane = throttles.lanes.enter(ip).await?;
        users::sign_up(&state.db, &state.hasher, asker, name, email, password).await
    }
    .await;
    // Only our own trouble is forgiven: an email that is taken still counts, so sign-up
    // cannot be used to test which emails have accounts any faster than sign-in.
    if matches!(
        made,
        Err(AppError::Busy(_) | AppError::Unavailable | AppError::Internal | AppError::RateLimited(_))
    ) {
        throttles.sign_up.forgive(&[&address]);
    }
    made
}

/// Who signed in, and whether from a trusted device of theirs.
pub struct SignedIn {
    pub user: models::User,
    pub trusted: bool,
}

/// Checks a password. A browser that signed in to this account before (its device cookie)
/// keeps a lane of its own: its failures count against it alone, and it hashes first. Anyone
/// else's failures are counted per address and email (guessing one account's password gets
/// slow, and no one can lock anyone out from elsewhere) and per address whatever the email
/// (a flood of fresh emails stops too). Each attempt counts before it is made, and is
/// forgiven if it succeeds.
pub async fn sign_in(
    state: &AppState,
    ip: IpAddr,
    device: Option<&DeviceCookie>,
    email: &str,
    password: SecretString,
) -> AppResult<SignedIn> {
    let throttles = &state.throttles;
    let trusted = match device {
        Some(device) => match users::account(&state.db, email).await? {
            Some(account) => device.trusted_for(&mut state.db.get().await?, &account.id).await?,
            None => false,
        },
        None => false,
    };
    let address = ip.to_string();
    let email_key: String = email.chars().take(crate::rules::limits::MAX_EMAIL_CHARS + 1).collect();
    let email_key = users::normalize_email(&email_key);
    let device_key = device.map(DeviceCookie::throttle_key).unwrap_or_default();
    let counted: Vec<(&_, Vec<&str>)> = if trusted {
        vec![(&throttles.sign_in_device, vec![device_key.as_str()])]
    } else {
        vec![
            (&throttles.sign_in_address, vec![address.as_str()]),
            (&throttles.sign_in, vec![address.as_str(), email_key.as_str()]),
        ]
    };
    for (taken, (throttle, key)) in counted.iter().enumerate() {
        if let Err(wait) = throttle.begin(key) {
            for (throttle, key) in &counted[..taken] {
                throttle.forgive(key);
            }
            return Err(AppError::RateLimited(retry_after_secs(wait)));
        }
    }
    let asker = Asker { address: ip, trusted_device: trusted };
    let signed_in = async {
        let _lane = match trusted {
            true => throttles.device_lanes.enter(device_key.clone()).await?,
            false => throttles.lanes.enter(ip).await?,
        };
        users::sign_in(&state.db, &state.hasher, asker, email, password).await
    }
    .await;
    if !matches!(signed_in, Err(AppError::BadInput(_))) {
        for (throttle, key) in &counted {
            throttle.forgive(key);
        }
    }
    Ok(SignedIn { user: signed_in?, trusted })
}

/// A sign-in is an event of `/profile/security`; failing to record it never fails it.
pub async fn record_sign_in(
    state: &AppState,
    user_id: &crate::server::db::UserId,
    seen: &crate::server::domain::activity::Seen,
) {
    use crate::server::domain::activity::{self, event, EventKind};
    let event = event(user_id, None, EventKind::SignedIn, None, seen, state.db.now());
    let recorded = match state.db.get().await {
        Ok(mut conn) => activity::record(&mut conn, event).await,
        Err(error) => Err(error),
    };
    if let Err(error) = recorded {
        tracing::warn!(%error, "could not record a sign-in");
    }
}
