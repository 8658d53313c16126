//! Handing a new token's secret to a browser without JavaScript, across the redirect that
//! follows its form post, without the secret ever resting in the database in the clear.
//!
//! The session holds the secret XOR a one-time pad as long as the secret (a one-time pad:
//! alone, it says nothing about the secret), with a five-minute life; the pad goes to the
//! browser in a cookie of the same life. Only the page that receives both, once, can join
//! them; a copy of the sessions table holds nothing usable.

use rand::RngCore;
use serde::{Deserialize, Serialize};

/// The cookie that carries the pad.
pub const PAD_COOKIE: &str = "new-token-pad";
/// How long the hand-over waits for its page.
pub const LIFE_SECS: i64 = 300;

/// What the session keeps: the sealed secret and when it stops being worth opening.
#[derive(Clone, Serialize, Deserialize)]
pub struct Sealed {
    pub id: String,
    pub name: String,
    sealed: String,
    expires_at: i64,
}

/// Seals `secret`: what the session keeps, and the pad for the cookie.
pub fn seal(id: String, name: String, secret: &str, now: i64) -> (Sealed, String) {
    let mut pad = vec![0u8; secret.len()];
    rand::rngs::OsRng.fill_bytes(&mut pad);
    let sealed: Vec<u8> = secret.bytes().zip(&pad).map(|(s, p)| s ^ p).collect();
    let expires_at = now + LIFE_SECS * 1000;
    (Sealed { id, name, sealed: hex::encode(sealed), expires_at }, hex::encode(pad))
}

/// The secret, if the pad fits and the hand-over has not expired by `now`.
pub fn open(sealed: &Sealed, pad: &str, now: i64) -> Option<String> {
    if now >= sealed.expires_at {
        return None;
    }
    let (sealed_bytes, pad) = (hex::decode(&sealed.sealed).ok()?, hex::decode(pad).ok()?);
    if sealed_bytes.len() != pad.len() {
        return None;
    }
    String::from_utf8(sealed_bytes.iter().zip(&pad).map(|(s, p)| s ^ p).collect()).ok()
}

/// The `Set-Cookie` value that gives the browser the pad.
pub fn pad_cookie(pad: &str, secure: bool) -> String {
    let secure = if secure { "; Secure" } else { "" };
    format!("{PAD_COOKIE}={pad}; Max-Age={LIFE_SECS}; Path=/profile; HttpOnly; SameSite=Lax{secure}")
}

/// The pad, from the request's `Cookie` headers.
pub fn pad_from(headers: &axum::http::HeaderMap) -> Option<String> {
    headers
        .get_all(axum::http::header::COOKIE)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(';'))
        .find_map(|pair| pair.trim().strip_prefix(PAD_COOKIE)?.strip_prefix('=').map(str::to_owned))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_pad_opens_the_seal_and_neither_alone_holds_the_secret() {
        let secret = "spk_abcdefghijklmnopqrstuvwxyz0123456789";
        let (sealed, pad) = seal("id".into(), "name".into(), secret, 1_000);
        assert!(!sealed.sealed.contains(&hex::encode(secret)));
        assert_eq!(open(&sealed, &pad, 1_000).as_deref(), Some(secret));
        let (_, other_pad) = seal("id".into(), "name".into(), secret, 1_000);
        assert_ne!(open(&sealed, &other_pad, 1_000).as_deref(), Some(secret));
        assert_eq!(open(&sealed, "zz", 1_000), None);
        assert_eq!(open(&sealed, &pad, 1_000 + LIFE_SECS * 1000), None, "expired");
    }
}
