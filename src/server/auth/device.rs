//! Trusted devices (OWASP's "device cookies"): a browser that signed in to an account gets a
//! random cookie, kept in the database only as a digest beside the account. When it signs in
//! to that account again, it keeps a lane of its own: its failures count against the device,
//! not its address, and its password check goes first in the hashing queue. A flood of
//! sign-ins from many addresses cannot lock out, or delay, a person at a browser they have
//! used before.

use diesel::prelude::*;
use diesel_async::RunQueryDsl;
use rand::distributions::{Alphanumeric, DistString};
use sha2::{Digest, Sha256};

use crate::db_run;
use crate::rules::error::AppResult;
use crate::server::db::schema::trusted_devices;
use crate::server::db::{DbConn, UserId, DAY_MS};

/// The cookie's name.
pub const DEVICE_COOKIE: &str = "device";
/// How long a device stays trusted without signing in again: a year.
const LIFE_DAYS: i64 = 365;
/// Devices kept per account; the one used longest ago goes first.
const PER_ACCOUNT: i64 = 20;

/// A device cookie as a browser presents it (never printed).
pub struct DeviceCookie(String);

impl std::fmt::Debug for DeviceCookie {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("DeviceCookie")
    }
}

impl DeviceCookie {
    /// The cookie in the request's `Cookie` headers, if it has one of the right shape.
    pub fn from_headers(headers: &axum::http::HeaderMap) -> Option<DeviceCookie> {
        headers
            .get_all(axum::http::header::COOKIE)
            .iter()
            .filter_map(|value| value.to_str().ok())
            .flat_map(|value| value.split(';'))
            .find_map(|pair| pair.trim().strip_prefix(DEVICE_COOKIE)?.strip_prefix('='))
            .filter(|value| value.len() == 32 && value.bytes().all(|b| b.is_ascii_alphanumeric()))
            .map(|value| DeviceCookie(value.to_owned()))
    }

    fn digest(&self) -> Vec<u8> {
        Sha256::digest(self.0.as_bytes()).to_vec()
    }

    /// The key its failures are counted under.
    pub fn throttle_key(&self) -> String {
        hex::encode(&self.digest()[..16])
    }

    /// Whether this browser is a trusted device of `user_id` (and not expired).
    pub async fn trusted_for(&self, conn: &mut DbConn, user_id: &UserId) -> AppResult<bool> {
        let digest = self.digest();
        let since = conn.now() - LIFE_DAYS * DAY_MS;
        let found: i64 = db_run!(conn, |c| {
            trusted_devices::table
                .filter(trusted_devices::digest.eq(&digest))
                .filter(trusted_devices::user_id.eq(user_id))
                .filter(trusted_devices::last_used_at.gt(since))
                .count()
                .get_result(c)
                .await
        })?;
        Ok(found > 0)
    }
}

/// After a successful sign-in: keeps the browser's device cookie trusted for `user_id` (a new
/// one unless `trusted`, the cookie it presented, is trusted for this account already) and
/// answers the `Set-Cookie` value to send. The account keeps its [`PER_ACCOUNT`] most
/// recently used devices. Two statements.
pub async fn remember(
    conn: &mut DbConn,
    user_id: &UserId,
    trusted: Option<&DeviceCookie>,
    secure: bool,
) -> AppResult<String> {
    let now = conn.now();
    let cookie = match trusted {
        Some(cookie) => DeviceCookie(cookie.0.clone()),
        None => DeviceCookie(Alphanumeric.sample_string(&mut rand::rngs::OsRng, 32)),
    };
    let digest = cookie.digest();
    db_run!(conn, |c| {
        diesel::insert_into(trusted_devices::table)
            .values((
                trusted_devices::digest.eq(&digest),
                trusted_devices::user_id.eq(user_id),
                trusted_devices::last_used_at.eq(now),
            ))
            .on_conflict(trusted_devices::digest)
            .do_update()
            .set(trusted_devices::last_used_at.eq(now))
            .execute(c)
            .await
    })?;
    db_run!(conn, |c| {
        let newest = diesel::alias!(trusted_devices as newest);
        let kept = newest
            .filter(newest.field(trusted_devices::user_id).eq(user_id))
            .order(newest.field(trusted_devices::last_used_at).desc())
            .limit(PER_ACCOUNT)
            .select(newest.field(trusted_devices::digest));
        diesel::delete(
            trusted_devices::table
                .filter(trusted_devices::user_id.eq(user_id))
                .filter(trusted_devices::digest.ne_all(kept)),
        )
        .execute(c)
        .await
    })?;
    let secure = if secure { "; Secure" } else { "" };
    Ok(format!(
        "{DEVICE_COOKIE}={}; Max-Age={}; Path=/; HttpOnly; SameSite=Lax{secure}",
        cookie.0,
        LIFE_DAYS * 24 * 3600
    ))
}
