//! Rows as the database holds them.

use diesel::prelude::*;

use super::schema::{api_tokens, branches, commits, objects, stream_acl, streams, users};

/// A user row. Its `Debug` leaves the password hash out, so no log can print it.
#[derive(Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = users)]
pub struct User {
    pub id: String,
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
    pub id: String,
    pub user_id: String,
    pub name: String,
    pub last_chars: String,
    pub scopes: String,
    pub created_at: i64,
    pub expires_at: Option<i64>,
    pub last_used_at: Option<i64>,
    pub revoked_at: Option<i64>,
}

#[derive(Clone, Debug, Queryable, Selectable, Insertable)]
#[diesel(table_name = streams)]
pub struct Stream {
    pub id: String,
    pub name: String,
    pub description: String,
    pub is_public: bool,
    pub created_at: i64,
    pub updated_at: i64,
}

#[derive(Clone, Debug, Queryable, Selectable, Insertable)]
#[diesel(table_name = stream_acl)]
pub struct StreamAcl {
    pub stream_id: String,
    pub user_id: String,
    pub role: String,
}

#[derive(Clone, Debug, Queryable, Selectable, Insertable)]
#[diesel(table_name = commits)]
pub struct Commit {
    pub id: String,
    pub stream_id: String,
    pub branch_name: String,
    pub referenced_object: String,
    pub message: String,
    pub source_application: Option<String>,
    pub author_id: String,
    pub created_at: i64,
    pub total_children_count: Option<i64>,
    /// The ids of the parent commits, as a JSON array.
    pub parents: Option<String>,
}

#[derive(Clone, Debug, Queryable, Selectable, Insertable)]
#[diesel(table_name = branches)]
pub struct Branch {
    pub id: String,
    pub stream_id: String,
    pub name: String,
    pub description: Option<String>,
    pub author_id: Option<String>,
    pub created_at: i64,
    pub updated_at: i64,
}

/// An object to store, as the transport received it.
#[derive(Clone, Debug, Insertable)]
#[diesel(table_name = objects, treat_none_as_null = true)]
pub struct NewObject {
    pub stream_id: String,
    pub id: String,
    pub speckle_type: Option<String>,
    pub total_children_count: i64,
    pub size_bytes: i64,
    pub data: String,
    pub created_at: i64,
}
