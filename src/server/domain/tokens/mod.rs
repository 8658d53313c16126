//! The token domain: the token format here; creating tokens in `create`, regenerating them in
//! `rotate`, listing, editing and revoking them in `manage` (the steps of their transactions
//! in `write`); the bearer check in `verify`. Every door calls these, so each rule lives here
//! once.

mod create;
mod manage;
mod rotate;
mod verify;
mod write;

use std::fmt;

use rand::distributions::{Alphanumeric, DistString};
use secrecy::{ExposeSecret, SecretString};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::rules::error::{AppError, AppResult};
use crate::rules::scopes::{Scope, ScopeSet};
use crate::server::db::{models, GrantId, TokenId, UserId};
use crate::server::domain::reach::{Actor, StreamLimit};
pub use create::{create, create_child, lifespan_expiry, NewToken};
pub use manage::{
    first_use, get, itself, list, retire_replaced, revoke, revoke_all, revoke_by_secret, update,
};
pub use rotate::{rotate, Expiry, Rotation};
pub use verify::{authenticate, still_alive};

impl Caller {
    /// This token as a reader of streams (see [`crate::server::domain::streams::readable_by`]).
    pub fn reader(&self) -> crate::server::domain::streams::Reader<'_> {
        crate::server::domain::streams::Reader::Token { actor: self.actor(), scopes: self.scopes }
    }

    /// This token's user, acting as far as the token's streams let them.
    pub fn actor(&self) -> Actor<'_> {
        Actor { user_id: &self.user_id, limit: self.limit.as_ref(), touched: Some(&self.touched) }
    }

    /// Who reads streams in a request: its token's caller, or anonymous without one.
    pub fn reader_of(caller: Option<&Caller>) -> crate::server::domain::streams::Reader<'_> {
        caller.map_or(crate::server::domain::streams::Reader::Anonymous, Caller::reader)
    }
}

/// What a secret of this server is for; each kind has its own prefix, so that secret scanners
/// recognise a leaked one and say which it is, and so that one kind is never taken for another.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SecretKind {
    /// A person's own token (SPEC §4).
    Personal,
    /// An app's access token, acting for the person who authorized the app (SPEC §11).
    AppAccess,
    /// What an app trades for a new pair of tokens; never a bearer credential.
    AppRefresh,
    /// A registered app's client secret; never a bearer credential.
    ClientSecret,
}

impl SecretKind {
    const ALL: [SecretKind; 4] =
        [SecretKind::Personal, SecretKind::AppAccess, SecretKind::AppRefresh, SecretKind::ClientSecret];

    /// NEVER CHANGE THE PREFIX OF EXISTING TOKENS: tokens already issued would stop parsing.
    /// No prefix starts another, so a secret's prefix names its kind.
    pub const fn prefix(self) -> &'static str {
        match self {
            SecretKind::Personal => "spk_",
            SecretKind::AppAccess => "spko_",
            SecretKind::AppRefresh => "spkr_",
            SecretKind::ClientSecret => "spkcs_",
        }
    }

    /// The `token_type` secret scanning and reports name it by (SPEC §9, §11).
    pub fn token_type(self) -> &'static str {
        match self {
            SecretKind::Personal => "speckle_personal_access_token",
            SecretKind::AppAccess => "speckle_oauth_access_token",
            SecretKind::AppRefresh => "speckle_oauth_refresh_token",
            SecretKind::ClientSecret => "speckle_oauth_client_secret",
        }
    }

    /// Whether `Authorization: Bearer` may carry it.
    pub fn is_bearer(self) -> bool {
        matches!(self, SecretKind::Personal | SecretKind::AppAccess)
    }

    /// The length of every secret of this kind.
    pub const fn secret_len(self) -> usize {
        self.prefix().len() + RANDOM_LEN + CHECKSUM_LEN
    }
}

/// Characters of OS randomness after the prefix: 30 base62 characters hold 178 bits.
const RANDOM_LEN: usize = 30;
/// Characters of checksum at the end: the CRC32 of everything before it, in base62.
const CHECKSUM_LEN: usize = 6;
/// The length of every personal token.
pub const TOKEN_LEN: usize = SecretKind::Personal.secret_len();
/// How many trailing characters are kept to tell tokens apart in lists (checksum only).
const LAST_CHARS_LEN: usize = 4;
/// "Last used" (and the time of an address) is written at most once per this many
/// milliseconds per token.
const LAST_USED_RESOLUTION_MS: i64 = 60_000;

/// A token (or another secret of [`SecretKind`]) in clear text. It never prints: `Debug`
/// shows only the type's name.
pub struct PlainToken {
    secret: SecretString,
    kind: SecretKind,
}

/// Why a string is not a token: said to nobody but the logs and tests.
#[derive(Debug, PartialEq, Eq)]
pub enum TokenFormatError {
    Prefix,
    Length,
    Characters,
    Checksum,
}

impl PlainToken {
    /// A fresh personal token from the operating system's CSPRNG.
    pub fn generate() -> PlainToken {
        PlainToken::generate_of(SecretKind::Personal)
    }

    /// A fresh secret of `kind` from the operating system's CSPRNG.
    pub fn generate_of(kind: SecretKind) -> PlainToken {
        let mut token = String::with_capacity(kind.secret_len());
        token.push_str(kind.prefix());
        Alphanumeric.append_string(&mut rand::rngs::OsRng, &mut token, RANDOM_LEN);
        let checksum = checksum(&token);
        token.push_str(&checksum);
        PlainToken { secret: token.into(), kind }
    }

    /// Checks prefix, length, alphabet and checksum, without touching the database.
    pub fn parse(candidate: &str) -> Result<PlainToken, TokenFormatError> {
        let kind = SecretKind::ALL
            .into_iter()
            .find(|kind| candidate.starts_with(kind.prefix()))
            .ok_or(TokenFormatError::Prefix)?;
        if candidate.len() != kind.secret_len() {
            return Err(TokenFormatError::Length);
        }
        let body = &candidate[kind.prefix().len()..];
        if !body.bytes().all(|b| b.is_ascii_alphanumeric()) {
            return Err(TokenFormatError::Characters);
        }
        let (payload, sum) = candidate.split_at(kind.secret_len() - CHECKSUM_LEN);
        if !bool::from(checksum(payload).as_bytes().ct_eq(sum.as_bytes())) {
            return Err(TokenFormatError::Checksum);
        }
        Ok(PlainToken { secret: candidate.into(), kind })
    }

    /// What this secret is for, as its prefix says.
    pub fn kind(&self) -> SecretKind {
        self.kind
    }

    /// The only digest that is ever stored or looked up.
    pub fn hashed(&self) -> HashedToken {
        HashedToken(Sha256::digest(self.secret.expose_secret().as_bytes()).into())
    }

    /// The last characters, kept for display (they are checksum, not secret).
    pub fn last_chars(&self) -> String {
        let secret = self.secret.expose_secret();
        secret[secret.len() - LAST_CHARS_LEN..].to_owned()
    }

    /// The clear text, for the one time it is shown to its owner.
    pub fn expose_secret(&self) -> &str {
        self.secret.expose_secret()
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
    pub user_id: UserId,
    /// The owner's profile as it was when this request was authenticated (no password hash,
    /// no avatar: this is kept in memory for every cached token).
    pub user: models::Profile,
    pub token_id: TokenId,
    pub token_name: String,
    pub scopes: ScopeSet,
    pub expires_at: Option<i64>,
    /// Set once the token was regenerated: it dies then, if its successor is not used first.
    pub grace_until: Option<i64>,
    /// The token this one was regenerated from, which dies when this one is first used.
    pub replaces: Option<TokenId>,
    /// An app's token: the grant it acts under; none for a personal token.
    pub grant_id: Option<GrantId>,
    /// A token limited to chosen streams: those streams and its level on each (SPEC §12);
    /// none for a token that reaches every stream its owner can.
    pub limit: Option<StreamLimit>,
    /// What the token used since that was last written (SPEC §12), shared by every caller
    /// read for it.
    pub touched: std::sync::Arc<crate::server::db::cache::Touched>,
    /// What every answer to this token says about it, made once when the token is read.
    pub headers: AnswerHeaders,
}

/// SPEC §8's headers of a bearer answer: `Token-Expiration` (RFC 3339, UTC) when the token
/// expires (or ends its grace period), `X-OAuth-Scopes` its scopes.
#[derive(Clone, Debug)]
pub struct AnswerHeaders {
    expiration: Option<axum::http::HeaderValue>,
    scopes: axum::http::HeaderValue,
}

impl AnswerHeaders {
    pub fn new(dies_at: Option<i64>, scopes: ScopeSet) -> AnswerHeaders {
        use axum::http::HeaderValue;
        let expiration = dies_at.and_then(|at| HeaderValue::from_str(&crate::server::db::iso8601(at)).ok());
        let names: Vec<&str> = scopes.iter().map(Scope::name).collect();
        let scopes = HeaderValue::from_str(&names.join(", ")).unwrap_or(HeaderValue::from_static(""));
        AnswerHeaders { expiration, scopes }
    }

    /// Writes them into an answer's headers.
    pub fn write(&self, headers: &mut axum::http::HeaderMap) {
        if let Some(expiration) = &self.expiration {
            headers.insert("token-expiration", expiration.clone());
        }
        headers.insert("x-oauth-scopes", self.scopes.clone());
    }
}

impl Caller {
    /// Refuses what the token's scopes do not allow, naming the missing scope.
    pub fn require(&self, scope: Scope) -> AppResult<()> {
        if self.scopes.contains(scope) {
            self.touched.scopes(ScopeSet::of(scope).bits());
            return Ok(());
        }
        Err(AppError::MissingScope { needed: scope, held: self.scopes })
    }

    /// When the token stops working by the clock (SPEC §8's `Token-Expiration`).
    pub fn dies_at(&self) -> Option<i64> {
        models::earliest(self.expires_at, self.grace_until)
    }
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
    fn each_kind_of_secret_parses_as_itself_and_only_bearer_kinds_are_bearer() {
        for kind in SecretKind::ALL {
            let token = PlainToken::generate_of(kind);
            let text = token.expose_secret();
            assert!(text.starts_with(kind.prefix()));
            assert_eq!(text.len(), kind.secret_len());
            assert_eq!(PlainToken::parse(text).unwrap().kind(), kind);
            // Another kind's prefix on the same characters fails its checksum.
            for other in SecretKind::ALL.into_iter().filter(|other| *other != kind) {
                let swapped = format!("{}{}", other.prefix(), &text[kind.prefix().len()..]);
                assert!(PlainToken::parse(&swapped).is_err(), "{kind:?} read as {other:?}");
            }
        }
        assert!(SecretKind::Personal.is_bearer() && SecretKind::AppAccess.is_bearer());
        assert!(!SecretKind::AppRefresh.is_bearer() && !SecretKind::ClientSecret.is_bearer());
    }

    #[test]
    fn no_prefix_starts_another() {
        for kind in SecretKind::ALL {
            for other in SecretKind::ALL.into_iter().filter(|other| *other != kind) {
                assert!(!kind.prefix().starts_with(other.prefix()), "{kind:?} starts with {other:?}");
            }
        }
    }

    #[test]
    fn secrets_never_print() {
        let token = PlainToken::generate();
        let printed = format!("{token:?} {:?}", token.hashed());
        assert!(!printed.contains(token.expose_secret()));
        assert_eq!(printed, "PlainToken HashedToken");
    }
}
