//! Rows as the database holds them.

use diesel::prelude::*;

use super::ids::{AppId, BranchId, CommitId, GrantId, StreamId, TokenId, UserId};
use super::schema::{
    api_tokens, app_grants, apps, branches, commits, mail_outbox, objects, security_events, stream_acl,
    stream_activity, streams, token_streams, users,
};

/// A user row. Its `Debug` leaves the password hash out, so no log can print it.
#[derive(Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = users)]
pub struct User {
    pub id: UserId,
    pub suuid: String,
    pub name: String,
    pub email: String,
    pub password_hash: String,
    pub bio: Option<String>,
    pub company: Option<String>,
    pub avatar: Option<String>,
    pub created_at: i64,
}

impl std::fmt::Debug for User {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("User")
            .field("id", &self.id)
            .field("suuid", &self.suuid)
            .field("name", &self.name)
            .field("email", &self.email)
            .field("password_hash", &"<redacted>")
            .field("created_at", &self.created_at)
            .finish_non_exhaustive()
    }
}

/// What the API and the pages show of a user: no password hash, and no avatar (up to
/// 256 kB, read apart when it is asked for: `users::avatars`).
#[derive(Clone, Debug, Queryable, Selectable)]
#[diesel(table_name = users)]
pub struct Profile {
    pub id: UserId,
    pub suuid: String,
    pub name: String,
    pub email: String,
    pub bio: Option<String>,
    pub company: Option<String>,
    pub created_at: i64,
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_users_debug_never_prints_the_password_hash() {
        let user = super::User {
            id: "u".into(),
            suuid: "s".into(),
            name: "Ada".into(),
            email: "ada@example.com".into(),
            password_hash: "$argon2id$v=19$secret-hash".into(),
            bio: None,
            company: None,
            avatar: None,
            created_at: 0,
        };
        let printed = format!("{user:?}");
        assert!(!printed.contains("argon2") && printed.contains("redacted"), "{printed}");
    }
}

/// A token row. The digest is deliberately absent: nothing outside the bearer check reads it.
#[derive(Clone, Debug, Queryable, Selectable)]
#[diesel(table_name = api_tokens)]
pub struct ApiToken {
    pub id: TokenId,
    pub user_id: UserId,
    pub name: String,
    pub last_chars: String,
    pub scopes: String,
    pub created_at: i64,
    pub expires_at: Option<i64>,
    pub last_used_at: Option<i64>,
    pub revoked_at: Option<i64>,
    pub description: Option<String>,
    pub parent_id: Option<TokenId>,
    pub family_id: Option<TokenId>,
    pub replaces: Option<TokenId>,
    /// Set once the token is regenerated: it dies then (or when its successor is first used).
    pub grace_until: Option<i64>,
    pub revoked_reason: Option<String>,
    /// An app's token: the grant it acts under (SPEC §11); none for a personal token.
    pub grant_id: Option<GrantId>,
    /// Limited to chosen streams (`token_streams`, SPEC §12); else it reaches every stream
    /// its owner can.
    pub limited: bool,
}

impl ApiToken {
    /// When the token stops working by the clock: its expiry, or the end of its grace
    /// period once regenerated, whichever is first.
    pub fn dies_at(&self) -> Option<i64> {
        earliest(self.expires_at, self.grace_until)
    }

    /// The first token of its regeneration line (rows older than families are their own).
    pub fn family(&self) -> &TokenId {
        self.family_id.as_ref().unwrap_or(&self.id)
    }
}

/// The earlier of two optional times (`None` is never).
pub fn earliest(a: Option<i64>, b: Option<i64>) -> Option<i64> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}

/// Something that happened to a user's tokens or account (`/profile/security`).
#[derive(Clone, Debug, Queryable, Selectable, Insertable)]
#[diesel(table_name = security_events, treat_none_as_null = true)]
pub struct SecurityEvent {
    pub id: String,
    pub user_id: UserId,
    pub token_id: Option<TokenId>,
    pub kind: String,
    pub detail: Option<String>,
    pub ip: Option<String>,
    pub user_agent: Option<String>,
    pub at: i64,
    pub once_key: Option<String>,
}

#[derive(Clone, Debug, Queryable, Selectable, Insertable)]
#[diesel(table_name = streams)]
pub struct Stream {
    pub id: StreamId,
    pub name: String,
    pub description: String,
    pub is_public: bool,
    pub created_at: i64,
    pub updated_at: i64,
}

/// One stream of a token limited to chosen streams, and the token's level on it (SPEC §12).
#[derive(Clone, Debug, Queryable, Selectable, Insertable)]
#[diesel(table_name = token_streams)]
pub struct TokenStream {
    pub token_id: TokenId,
    pub stream_id: StreamId,
    pub access: String,
}

#[derive(Clone, Debug, Queryable, Selectable, Insertable)]
#[diesel(table_name = stream_acl)]
pub struct StreamAcl {
    pub stream_id: StreamId,
    pub user_id: UserId,
    pub role: String,
}

#[derive(Clone, Debug, Queryable, Selectable, Insertable)]
#[diesel(table_name = commits)]
pub struct Commit {
    pub id: CommitId,
    pub stream_id: StreamId,
    pub branch_name: String,
    pub referenced_object: String,
    pub message: String,
    pub source_application: Option<String>,
    pub author_id: UserId,
    pub created_at: i64,
    pub total_children_count: Option<i64>,
    /// The ids of the parent commits, as a JSON array.
    pub parents: Option<String>,
}

#[derive(Clone, Debug, Queryable, Selectable, Insertable)]
#[diesel(table_name = branches)]
pub struct Branch {
    pub id: BranchId,
    pub stream_id: StreamId,
    pub name: String,
    pub description: Option<String>,
    pub author_id: Option<UserId>,
    pub created_at: i64,
    pub updated_at: i64,
}

/// An object to store, as the transport received it.
#[derive(Clone, Debug, Insertable)]
#[diesel(table_name = objects, treat_none_as_null = true)]
pub struct NewObject {
    pub stream_id: StreamId,
    pub id: String,
    pub speckle_type: Option<String>,
    pub total_children_count: i64,
    pub size_bytes: i64,
    pub data: String,
    pub created_at: i64,
}

/// A message for the outbox, due at once (`server::mail::send_due` sends it). Its `once_key`
/// makes it unique: queueing the same key again is a no-op.
#[derive(Clone, Debug, Insertable)]
#[diesel(table_name = mail_outbox)]
pub struct NewMail {
    pub id: String,
    pub user_id: UserId,
    pub once_key: String,
    pub subject: String,
    pub body: String,
    pub created_at: i64,
    pub next_attempt_at: i64,
    /// The address, when it is not the user's own (an invitation to an email).
    pub recipient: Option<String>,
}

impl NewMail {
    pub fn due_at(now: i64, user_id: &UserId, once_key: String, subject: String, body: String) -> NewMail {
        NewMail {
            id: super::new_id(),
            user_id: user_id.clone(),
            once_key,
            subject,
            body,
            created_at: now,
            next_attempt_at: now,
            recipient: None,
        }
    }

    /// The same message, to `address` rather than to its user.
    pub fn to(self, address: &str) -> NewMail {
        NewMail { recipient: Some(address.to_owned()), ..self }
    }
}

/// Something done on a stream, as its activity shows it (see `domain::history`).
#[derive(Clone, Debug, Queryable, Selectable, Insertable)]
#[diesel(table_name = stream_activity)]
pub struct StreamActivity {
    pub id: String,
    pub stream_id: StreamId,
    pub user_id: UserId,
    pub action_type: String,
    pub resource_type: String,
    pub resource_id: String,
    pub info: String,
    pub message: String,
    pub at: i64,
}

/// An app (SPEC §11). The secret's digest is deliberately absent: only the client check
/// reads it.
#[derive(Clone, Debug, Queryable, Selectable)]
#[diesel(table_name = apps)]
pub struct App {
    pub id: AppId,
    pub name: String,
    pub description: String,
    /// None: one of this server's own (Speckle's default apps).
    pub author_id: Option<UserId>,
    /// One URL a line, as registered.
    pub redirect_urls: String,
    pub scopes: String,
    pub created_at: i64,
    pub updated_at: i64,
}

impl App {
    /// The redirect URLs, as registered.
    pub fn redirects(&self) -> impl Iterator<Item = &str> {
        self.redirect_urls.lines().filter(|line| !line.is_empty())
    }
}

/// A person's consent to an app.
#[derive(Clone, Debug, Queryable, Selectable)]
#[diesel(table_name = app_grants)]
pub struct Grant {
    pub id: GrantId,
    pub app_id: AppId,
    pub user_id: UserId,
    pub scopes: String,
    pub created_at: i64,
    pub last_used_at: i64,
    pub revoked_at: Option<i64>,
    pub revoked_reason: Option<String>,
}
