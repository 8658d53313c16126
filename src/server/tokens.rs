//! The token domain: the token format, and creating, listing, revoking and verifying tokens.
//! Both front doors (server functions and GraphQL) call these, so each rule lives here once.

use std::fmt;

use diesel::prelude::*;
use diesel_async::RunQueryDsl;
use rand::distributions::{Alphanumeric, DistString};
use secrecy::{ExposeSecret, SecretString};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::error::{bad_input, forbidden, not_found, AppError, AppResult};
use crate::scopes::{Scope, ScopeSet};
use crate::server::db::cache::CachedToken;
use crate::server::db::schema::{api_tokens, users};
use crate::server::db::{models, new_id, now_millis, DbConn, DbPool, Epochs, Topic};
use crate::{db_read, db_run, db_write};

/// Every token starts with this, so that secret scanners can recognise a leaked one.
/// NEVER CHANGE THE PREFIX OF EXISTING TOKENS: tokens already issued would stop parsing.
pub const TOKEN_PREFIX: &str = "spk_";
/// Characters of OS randomness after the prefix: 30 base62 characters hold 178 bits.
const RANDOM_LEN: usize = 30;
/// Characters of checksum at the end: the CRC32 of everything before it, in base62.
const CHECKSUM_LEN: usize = 6;
/// The length of every token.
pub const TOKEN_LEN: usize = TOKEN_PREFIX.len() + RANDOM_LEN + CHECKSUM_LEN;
/// How many trailing characters are kept to tell tokens apart in lists (checksum only).
const LAST_CHARS_LEN: usize = 4;
/// A name is 1 to this many characters after trimming.
pub const MAX_NAME_CHARS: usize = 100;
/// The most live tokens one user may hold.
pub const MAX_LIVE_TOKENS: i64 = 500;
/// "Last used" is written at most once per this many milliseconds per token.
const LAST_USED_RESOLUTION_MS: i64 = 60_000;

/// A token in clear text. It never prints: `Debug` shows only the type's name.
pub struct PlainToken(SecretString);

/// Why a string is not a token: said to nobody but the logs and tests.
#[derive(Debug, PartialEq, Eq)]
pub enum TokenFormatError {
    Prefix,
    Length,
    Characters,
    Checksum,
}

impl PlainToken {
    /// A fresh token from the operating system's CSPRNG.
    pub fn generate() -> PlainToken {
        let mut token = String::with_capacity(TOKEN_LEN);
        token.push_str(TOKEN_PREFIX);
        Alphanumeric.append_string(&mut rand::rngs::OsRng, &mut token, RANDOM_LEN);
        let checksum = checksum(&token);
        token.push_str(&checksum);
        PlainToken(token.into())
    }

    /// Checks prefix, length, alphabet and checksum, without touching the database.
    pub fn parse(candidate: &str) -> Result<PlainToken, TokenFormatError> {
        if !candidate.starts_with(TOKEN_PREFIX) {
            return Err(TokenFormatError::Prefix);
        }
        if candidate.len() != TOKEN_LEN {
            return Err(TokenFormatError::Length);
        }
        let body = &candidate[TOKEN_PREFIX.len()..];
        if !body.bytes().all(|b| b.is_ascii_alphanumeric()) {
            return Err(TokenFormatError::Characters);
        }
        let (payload, sum) = candidate.split_at(TOKEN_LEN - CHECKSUM_LEN);
        if !bool::from(checksum(payload).as_bytes().ct_eq(sum.as_bytes())) {
            return Err(TokenFormatError::Checksum);
        }
        Ok(PlainToken(candidate.into()))
    }

    /// The only digest that is ever stored or looked up.
    pub fn hashed(&self) -> HashedToken {
        HashedToken(Sha256::digest(self.0.expose_secret().as_bytes()).into())
    }

    /// The last characters, kept for display (they are checksum, not secret).
    pub fn last_chars(&self) -> String {
        let secret = self.0.expose_secret();
        secret[secret.len() - LAST_CHARS_LEN..].to_owned()
    }

    /// The clear text, for the one time it is shown to its owner.
    pub fn expose_secret(&self) -> &str {
        self.0.expose_secret()
    }
}

impl fmt::Debug for PlainToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("PlainToken")
    }
}

fn checksum(payload: &str) -> String {
    format!("{:0>width$}", base62::encode(crc32fast::hash(payload.as_bytes())), width = CHECKSUM_LEN)
}

/// The SHA-256 digest of a token: what the database holds.
#[derive(Clone, PartialEq, Eq)]
pub struct HashedToken([u8; 32]);

impl HashedToken {
    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }

    pub fn as_array(&self) -> &[u8; 32] {
        &self.0
    }
}

impl fmt::Debug for HashedToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("HashedToken")
    }
}

/// Who is calling through a valid token, and what the token lets them do.
#[derive(Clone, Debug)]
pub struct Caller {
    pub user_id: String,
    /// The owner's row as it was when this request was authenticated.
    pub user: models::User,
    pub token_id: String,
    pub scopes: ScopeSet,
    pub expires_at: Option<i64>,
}

impl Caller {
    /// Refuses what the token's scopes do not allow, naming the missing scope.
    pub fn require(&self, scope: Scope) -> AppResult<()> {
        if self.scopes.contains(scope) {
            return Ok(());
        }
        Err(missing_scope(scope))
    }
}

/// The refusal of a token without `scope` (403, `FORBIDDEN`), naming it.
pub fn missing_scope(scope: Scope) -> AppError {
    forbidden(format!("Your token does not have the {} scope, which this needs.", scope.name()))
}

/// Trims and checks a token name; the error says what is wrong with it.
pub fn validate_name(name: &str) -> AppResult<String> {
    let name = name.trim();
    if name.is_empty() {
        return Err(bad_input("Give the token a name."));
    }
    if name.chars().count() > MAX_NAME_CHARS {
        return Err(bad_input(format!("The name must be at most {MAX_NAME_CHARS} characters.")));
    }
    Ok(name.to_owned())
}

/// Creates a token for `user_id`; the returned secret is the only copy there will ever be.
pub async fn create(
    conn: &mut DbConn,
    user_id: &str,
    name: &str,
    scopes: ScopeSet,
    expires_at: Option<i64>,
) -> AppResult<(models::ApiToken, PlainToken)> {
    let name = validate_name(name)?;
    if scopes.is_empty() {
        return Err(bad_input("Choose at least one scope."));
    }
    let now = now_millis();
    if expires_at.is_some_and(|at| at <= now) {
        return Err(bad_input("The expiry must be in the future."));
    }
    let live = count_live(conn, user_id, now).await?;
    if live >= MAX_LIVE_TOKENS {
        return Err(bad_input(format!(
            "You already have {MAX_LIVE_TOKENS} tokens. Revoke some before creating more."
        )));
    }
    let secret = PlainToken::generate();
    let row = models::ApiToken {
        id: new_id(),
        user_id: user_id.to_owned(),
        name,
        last_chars: secret.last_chars(),
        scopes: scopes.to_names(),
        created_at: now,
        expires_at,
        last_used_at: None,
        revoked_at: None,
    };
    let digest = secret.hashed();
    db_run!(conn, |c| {
        diesel::insert_into(api_tokens::table)
            .values((
                api_tokens::id.eq(&row.id),
                api_tokens::user_id.eq(&row.user_id),
                api_tokens::name.eq(&row.name),
                api_tokens::token_digest.eq(digest.as_bytes()),
                api_tokens::last_chars.eq(&row.last_chars),
                api_tokens::scopes.eq(&row.scopes),
                api_tokens::created_at.eq(row.created_at),
                api_tokens::expires_at.eq(row.expires_at),
            ))
            .execute(c)
            .await
    })?;
    tracing::info!(token_id = %row.id, user_id, "token created");
    Ok((row, secret))
}

async fn count_live(conn: &mut DbConn, user_id: &str, now: i64) -> AppResult<i64> {
    Ok(db_run!(conn, |c| {
        api_tokens::table
            .filter(api_tokens::user_id.eq(user_id))
            .filter(api_tokens::revoked_at.is_null())
            .filter(api_tokens::expires_at.is_null().or(api_tokens::expires_at.gt(now)))
            .count()
            .get_result::<i64>(c)
            .await
    })?)
}

/// The longest lifespan a token made through the API may ask for: 200 years (specklepy asks
/// for 100 by default). Longer would overflow dates.
pub const MAX_LIFESPAN_MS: i64 = 200 * 365 * 24 * 3600 * 1000;

/// Creates a token through the API for the caller's user: its scopes a subset of the
/// calling token's, never `tokens:write`, and it never outlives the calling token.
pub async fn create_child(
    conn: &mut DbConn,
    parent: &Caller,
    name: &str,
    scopes: ScopeSet,
    lifespan_ms: Option<i64>,
) -> AppResult<(models::ApiToken, PlainToken)> {
    if scopes.is_empty() {
        return Err(bad_input("scopes: choose at least one scope."));
    }
    if scopes.contains(Scope::TokensWrite) {
        return Err(forbidden("A token cannot create tokens with the tokens:write scope."));
    }
    if let Some(missing) = scopes.iter().find(|scope| !parent.scopes.contains(*scope)) {
        return Err(forbidden(format!(
            "Your token does not have the {} scope, so it cannot give it to a new token.",
            missing.name()
        )));
    }
    let now = now_millis();
    let expires_at = match (lifespan_ms, parent.expires_at) {
        (Some(ms), _) if ms <= 0 => {
            return Err(bad_input("lifespan must be a positive number of milliseconds."));
        }
        (Some(ms), _) if ms > MAX_LIFESPAN_MS => {
            return Err(bad_input(format!(
                "lifespan must be at most {MAX_LIFESPAN_MS} milliseconds (200 years); leave it out for \
                 a token that lives as long as yours."
            )));
        }
        (Some(ms), parent_expiry) => {
            let expires_at = now.saturating_add(ms);
            if parent_expiry.is_some_and(|limit| expires_at > limit) {
                return Err(bad_input("lifespan: a token cannot outlive the token that creates it."));
            }
            Some(expires_at)
        }
        (None, parent_expiry) => parent_expiry,
    };
    create(conn, &parent.user_id, name, scopes, expires_at).await
}

/// The user's tokens that are not revoked (expired ones included, marked by their date),
/// newest first.
pub async fn list(conn: &mut DbConn, user_id: &str) -> AppResult<Vec<models::ApiToken>> {
    Ok(db_run!(conn, |c| {
        api_tokens::table
            .filter(api_tokens::user_id.eq(user_id))
            .filter(api_tokens::revoked_at.is_null())
            .order((api_tokens::created_at.desc(), api_tokens::id.desc()))
            .select(models::ApiToken::as_select())
            .load(c)
            .await
    })?)
}

/// Revokes one of the user's own tokens. Another user's token, or one already revoked, is
/// "not found". The row stays, with the time of its revocation.
pub async fn revoke(conn: &mut DbConn, user_id: &str, token_id: &str) -> AppResult<()> {
    let now = now_millis();
    let updated = db_write!(conn, Topic::Tokens, |c| {
        diesel::update(
            api_tokens::table
                .filter(api_tokens::id.eq(token_id))
                .filter(api_tokens::user_id.eq(user_id))
                .filter(api_tokens::revoked_at.is_null()),
        )
        .set(api_tokens::revoked_at.eq(now))
        .execute(c)
        .await
    })?;
    if updated == 0 {
        return Err(not_found("Token"));
    }
    tracing::info!(token_id, user_id, "token revoked");
    Ok(())
}

/// Revokes the user's own token given in clear (as `apiTokenRevoke` accepts it).
pub async fn revoke_by_secret(conn: &mut DbConn, user_id: &str, token: &PlainToken) -> AppResult<()> {
    let digest = token.hashed();
    let token_id: Option<String> = db_run!(conn, |c| {
        api_tokens::table
            .filter(api_tokens::token_digest.eq(digest.as_bytes()))
            .filter(api_tokens::user_id.eq(user_id))
            .select(api_tokens::id)
            .first(c)
            .await
            .optional()
    })?;
    revoke(conn, user_id, &token_id.ok_or_else(|| not_found("Token"))?).await
}

/// Finds the live token behind `token`, `None` if it is unknown, revoked or expired. From the
/// cache while the `Tokens` epoch in which it was read lasts (`epochs`: as this request saw
/// them when it started; revoking ends it, see [`crate::server::db::cache`]), else one indexed
/// lookup by digest. Expiry is checked against the clock on every request either way.
pub async fn authenticate(db: &DbPool, token: &PlainToken, epochs: &Epochs) -> AppResult<Option<Caller>> {
    let digest = token.hashed();
    let key = *digest.as_array();
    let cache = db.cache();
    let now = now_millis();
    let known = match cache.token(&key, epochs.tokens) {
        Some(known) => known,
        None => {
            let Some(known) = read_live_token(db, &digest, now).await? else { return Ok(None) };
            cache.put_token(key, known.clone(), epochs.tokens);
            known
        }
    };
    // A cached token may have expired since it was read.
    if known.caller.expires_at.is_some_and(|at| at <= now) {
        return Ok(None);
    }
    let stale = known.last_used_at.is_none_or(|at| now - at >= LAST_USED_RESOLUTION_MS);
    if stale && cache.note_use(&key, now, LAST_USED_RESOLUTION_MS) {
        // "Last used" is a courtesy: failing to write it never fails the request.
        let touched = match db.get().await {
            Ok(mut conn) => touch_last_used(&mut conn, &known.caller.token_id, now).await,
            Err(error) => Err(error),
        };
        if let Err(error) = touched {
            tracing::warn!(%error, "could not record a token's last use");
        }
    }
    Ok(Some(known.caller))
}

/// The live token with this digest and its owner: one indexed lookup, compared in constant
/// time; none if unknown, revoked or expired.
async fn read_live_token(db: &DbPool, digest: &HashedToken, now: i64) -> AppResult<Option<CachedToken>> {
    // The token and its owner in one indexed lookup: the API answers most queries about the
    // caller without another round trip. The digest is unique, so at most one row comes back;
    // no LIMIT on purpose: SQLite plans with a bound LIMIT's value and so re-prepares the
    // statement on every call (seen in a profile as a third of the lookup's time).
    type Row = (String, Vec<u8>, String, Option<i64>, Option<i64>, Option<i64>, models::User);
    let rows: Vec<Row> = db_read!(
        db,
        load,
        api_tokens::table
            .inner_join(users::table)
            .filter(api_tokens::token_digest.eq(digest.as_bytes()))
            .select((
                api_tokens::id,
                api_tokens::token_digest,
                api_tokens::scopes,
                api_tokens::expires_at,
                api_tokens::last_used_at,
                api_tokens::revoked_at,
                models::User::as_select(),
            ))
    )?;
    let Some((token_id, stored, scopes, expires_at, last_used_at, revoked_at, user)) =
        rows.into_iter().next()
    else {
        return Ok(None);
    };
    let matches: bool = stored.as_slice().ct_eq(digest.as_bytes()).into();
    if !matches || revoked_at.is_some() || expires_at.is_some_and(|at| at <= now) {
        return Ok(None);
    }
    let Ok(scopes) = ScopeSet::from_names(&scopes) else {
        tracing::error!(token_id, "token row holds an unknown scope");
        return Ok(None);
    };
    let caller = Caller { user_id: user.id.clone(), user, token_id, scopes, expires_at };
    Ok(Some(CachedToken { caller, last_used_at }))
}

/// Records a use. The condition makes concurrent requests (or servers) write at most once
/// per resolution window.
async fn touch_last_used(conn: &mut DbConn, token_id: &str, now: i64) -> AppResult<()> {
    let stale_before = now - LAST_USED_RESOLUTION_MS;
    db_run!(conn, |c| {
        diesel::update(
            api_tokens::table
                .filter(api_tokens::id.eq(token_id))
                .filter(api_tokens::last_used_at.is_null().or(api_tokens::last_used_at.le(stale_before))),
        )
        .set(api_tokens::last_used_at.eq(now))
        .execute(c)
        .await
    })?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_tokens_parse_and_have_the_documented_shape() {
        let token = PlainToken::generate();
        let text = token.expose_secret().to_owned();
        assert!(text.starts_with("spk_"));
        assert_eq!(text.len(), TOKEN_LEN);
        assert!(PlainToken::parse(&text).is_ok());
        assert_eq!(token.last_chars(), text[text.len() - 4..]);
        assert_ne!(PlainToken::generate().expose_secret(), text);
    }

    #[test]
    fn mistyped_tokens_are_refused_without_a_lookup() {
        let text = PlainToken::generate().expose_secret().to_owned();
        let mut typo = text.clone().into_bytes();
        typo[10] = if typo[10] == b'a' { b'b' } else { b'a' };
        let typo = String::from_utf8(typo).unwrap();
        assert_eq!(PlainToken::parse(&typo).unwrap_err(), TokenFormatError::Checksum);
        assert_eq!(
            PlainToken::parse(&text.replacen("spk_", "ghp_", 1)).unwrap_err(),
            TokenFormatError::Prefix
        );
        assert_eq!(PlainToken::parse(&text[..TOKEN_LEN - 1]).unwrap_err(), TokenFormatError::Length);
        assert_eq!(PlainToken::parse("").unwrap_err(), TokenFormatError::Prefix);
        let accented = format!("spk_é{}", &text[6..]);
        assert!(PlainToken::parse(&accented).is_err());
    }

    #[test]
    fn secrets_never_print() {
        let token = PlainToken::generate();
        let printed = format!("{token:?} {:?}", token.hashed());
        assert!(!printed.contains(token.expose_secret()));
        assert_eq!(printed, "PlainToken HashedToken");
    }
}
