//! The stream domain: who may read, write and share a stream, its collaborators and commits.
//! A private stream the caller cannot read is "not found", never a hint that it exists.

use diesel::prelude::*;
use diesel_async::scoped_futures::ScopedFutureExt;
use diesel_async::{AsyncConnection, RunQueryDsl};

use crate::error::{bad_input, forbidden, not_found, AppError, AppResult};
use crate::server::db::schema::{commits, stream_acl, streams, users};
use crate::server::db::{models, new_id, now_millis, DbConn, DbPool, Epochs, Topic};
use crate::server::pagination::{Cursor, Page};
use crate::{db_read, db_run};

pub const MAX_STREAM_NAME_CHARS: usize = 512;
pub const MAX_DESCRIPTION_CHARS: usize = 10_000;
pub const MAX_COMMIT_MESSAGE_BYTES: usize = 64 * 1024;
pub const MAX_REFERENCE_CHARS: usize = 512;

/// A collaborator's role on a stream.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Role {
    Owner,
    Contributor,
    Reviewer,
}

impl Role {
    pub fn name(self) -> &'static str {
        match self {
            Role::Owner => "stream:owner",
            Role::Contributor => "stream:contributor",
            Role::Reviewer => "stream:reviewer",
        }
    }

    /// Parses a role name from a client; the error names the field.
    pub fn parse(name: &str) -> AppResult<Role> {
        [Role::Owner, Role::Contributor, Role::Reviewer]
            .into_iter()
            .find(|role| role.name() == name)
            .ok_or_else(|| {
                bad_input(format!(
                    "role: {name:?} is not a role; use stream:owner, stream:contributor or stream:reviewer."
                ))
            })
    }

    fn from_stored(name: &str) -> Option<Role> {
        Role::parse(name).ok()
    }

    /// Owners and contributors create commits.
    pub fn can_write(self) -> bool {
        matches!(self, Role::Owner | Role::Contributor)
    }
}

/// A stream and the caller's role on it (none for a public stream they only read).
#[derive(Clone, Debug)]
pub struct Access {
    pub stream: models::Stream,
    pub role: Option<Role>,
}

impl Access {
    fn require_owner(&self, action: &str) -> AppResult<()> {
        if self.role == Some(Role::Owner) {
            return Ok(());
        }
        Err(forbidden(format!("Only an owner of the stream can {action}.")))
    }
}

/// What a client sends to create or update a stream.
#[derive(Clone, Debug, Default)]
pub struct StreamInput {
    pub name: Option<String>,
    pub description: Option<String>,
    pub is_public: Option<bool>,
}

fn validate_name(name: &str) -> AppResult<String> {
    let name = name.trim();
    if name.is_empty() || name.chars().count() > MAX_STREAM_NAME_CHARS {
        return Err(bad_input(format!("name must be 1 to {MAX_STREAM_NAME_CHARS} characters.")));
    }
    Ok(name.to_owned())
}

fn validate_description(description: &str) -> AppResult<String> {
    if description.chars().count() > MAX_DESCRIPTION_CHARS {
        return Err(bad_input(format!("description must be at most {MAX_DESCRIPTION_CHARS} characters.")));
    }
    Ok(description.to_owned())
}

/// The stream, if `user_id` (or anyone, for a public one) may read it; else "not found".
pub async fn readable(conn: &mut DbConn, stream_id: &str, user_id: Option<&str>) -> AppResult<Access> {
    let stream: Option<models::Stream> = db_run!(conn, |c| {
        streams::table.find(stream_id).select(models::Stream::as_select()).first(c).await.optional()
    })?;
    let stream = stream.ok_or_else(|| not_found("Stream"))?;
    let role = match user_id {
        Some(user_id) => role_of(conn, stream_id, user_id).await?,
        None => None,
    };
    if !stream.is_public && role.is_none() {
        return Err(not_found("Stream"));
    }
    Ok(Access { stream, role })
}

async fn role_of(conn: &mut DbConn, stream_id: &str, user_id: &str) -> AppResult<Option<Role>> {
    let role: Option<String> = db_run!(conn, |c| {
        stream_acl::table.find((stream_id, user_id)).select(stream_acl::role).first(c).await.optional()
    })?;
    Ok(role.as_deref().and_then(Role::from_stored))
}

/// Creates a stream owned by `owner_id`; answers its id.
pub async fn create(conn: &mut DbConn, owner_id: &str, input: StreamInput) -> AppResult<String> {
    let now = now_millis();
    let stream = models::Stream {
        id: new_id(),
        name: validate_name(input.name.as_deref().unwrap_or_default())?,
        description: validate_description(input.description.as_deref().unwrap_or_default())?,
        is_public: input.is_public.unwrap_or(false),
        created_at: now,
        updated_at: now,
    };
    let owner = models::StreamAcl {
        stream_id: stream.id.clone(),
        user_id: owner_id.to_owned(),
        role: Role::Owner.name().to_owned(),
    };
    let created = db_run!(conn, |c| {
        c.transaction::<_, AppError, _>(|c| {
            async move {
                diesel::insert_into(streams::table).values(&stream).execute(c).await?;
                diesel::insert_into(stream_acl::table).values(&owner).execute(c).await?;
                Ok(stream.id)
            }
            .scope_boxed()
        })
        .await
    });
    conn.end_epoch(Topic::Streams).await;
    created
}

/// Changes a stream's name, description or visibility (owners only).
pub async fn update(conn: &mut DbConn, user_id: &str, stream_id: &str, input: StreamInput) -> AppResult<()> {
    let access = readable(conn, stream_id, Some(user_id)).await?;
    access.require_owner("update it")?;
    let stream = access.stream;
    let name = match input.name {
        Some(name) => validate_name(&name)?,
        None => stream.name,
    };
    let description = match input.description {
        Some(description) => validate_description(&description)?,
        None => stream.description,
    };
    let is_public = input.is_public.unwrap_or(stream.is_public);
    let updated = db_run!(conn, |c| {
        diesel::update(streams::table.find(stream_id))
            .set((
                streams::name.eq(&name),
                streams::description.eq(&description),
                streams::is_public.eq(is_public),
                streams::updated_at.eq(now_millis()),
            ))
            .execute(c)
            .await
    });
    conn.end_epoch(Topic::Streams).await;
    updated?;
    Ok(())
}

/// Deletes a stream with its commits and roles (owners only).
pub async fn delete(conn: &mut DbConn, user_id: &str, stream_id: &str) -> AppResult<()> {
    readable(conn, stream_id, Some(user_id)).await?.require_owner("delete it")?;
    let deleted = db_run!(conn, |c| diesel::delete(streams::table.find(stream_id)).execute(c).await);
    conn.end_epoch(Topic::Streams).await;
    deleted?;
    Ok(())
}

/// Refuses to take the owner role from `$losing` (the user about to lose it, if any) when
/// they are the stream's only owner.
/// A macro, not a function: it runs on the backend connection inside a `db_run!` transaction.
/// It first writes to the stream's row, which takes the write lock before the read: SQLite
/// never has to upgrade a read lock (no "database is locked" under concurrent writers), and
/// PostgreSQL serialises concurrent role changes of one stream on that row.
macro_rules! keep_an_owner {
    ($c:ident, $stream_id:expr, $losing:expr) => {{
        diesel::update(streams::table.find($stream_id))
            .set(streams::updated_at.eq(now_millis()))
            .execute($c)
            .await?;
        let owners: Vec<String> = stream_acl::table
            .filter(stream_acl::stream_id.eq($stream_id))
            .filter(stream_acl::role.eq(Role::Owner.name()))
            .select(stream_acl::user_id)
            .load($c)
            .await?;
        let losing: Option<&str> = $losing;
        if owners.len() == 1 && losing == Some(owners[0].as_str()) {
            return Err(bad_input("A stream must keep at least one owner: make someone else owner first."));
        }
    }};
}

/// Gives `target_id` a role on the stream, or changes it (owners only). A stream keeps at
/// least one owner.
pub async fn grant(
    conn: &mut DbConn,
    user_id: &str,
    stream_id: &str,
    target_id: &str,
    role: Role,
) -> AppResult<()> {
    readable(conn, stream_id, Some(user_id)).await?.require_owner("share it")?;
    let target_exists: i64 =
        db_run!(conn, |c| users::table.filter(users::id.eq(target_id)).count().get_result(c).await)?;
    if target_exists == 0 {
        return Err(not_found("User"));
    }
    let row = models::StreamAcl {
        stream_id: stream_id.into(),
        user_id: target_id.into(),
        role: role.name().into(),
    };
    let granted = db_run!(conn, |c| {
        c.transaction::<_, AppError, _>(|c| {
            async move {
                keep_an_owner!(c, stream_id, (role != Role::Owner).then_some(target_id));
                diesel::insert_into(stream_acl::table)
                    .values(&row)
                    .on_conflict((stream_acl::stream_id, stream_acl::user_id))
                    .do_update()
                    .set(stream_acl::role.eq(&row.role))
                    .execute(c)
                    .await?;
                Ok(())
            }
            .scope_boxed()
        })
        .await
    });
    conn.end_epoch(Topic::Streams).await;
    granted
}

/// Removes `target_id`'s role on the stream (owners only); the last owner stays.
pub async fn revoke(conn: &mut DbConn, user_id: &str, stream_id: &str, target_id: &str) -> AppResult<()> {
    readable(conn, stream_id, Some(user_id)).await?.require_owner("change who it is shared with")?;
    let revoked = db_run!(conn, |c| {
        c.transaction::<_, AppError, _>(|c| {
            async move {
                keep_an_owner!(c, stream_id, Some(target_id));
                let removed =
                    diesel::delete(stream_acl::table.find((stream_id, target_id))).execute(c).await?;
                if removed == 0 {
                    return Err(not_found("Collaborator"));
                }
                Ok(())
            }
            .scope_boxed()
        })
        .await
    });
    conn.end_epoch(Topic::Streams).await;
    revoked
}

/// The stream's collaborators: (user id, name, role), owners first.
pub async fn collaborators(conn: &mut DbConn, stream_id: &str) -> AppResult<Vec<(String, String, String)>> {
    Ok(db_run!(conn, |c| {
        stream_acl::table
            .inner_join(users::table)
            .filter(stream_acl::stream_id.eq(stream_id))
            .order((stream_acl::role.asc(), users::name.asc()))
            .select((users::id, users::name, stream_acl::role))
            .load(c)
            .await
    })?)
}

/// The values of `is_public` a listing includes.
fn is_public_values(public_only: bool) -> [bool; 2] {
    if public_only {
        [true, true]
    } else {
        [true, false]
    }
}

/// How many streams the user collaborates on; only public ones when `public_only`. A read
/// of the API's hot path (`{ user { streams { totalCount } } }`): from the cache when it
/// can (`epochs`: as the request saw them when it started), else one read (see
/// [`db_read!`]).
pub async fn count_for_user(
    db: &DbPool,
    epochs: Option<&Epochs>,
    user_id: &str,
    public_only: bool,
) -> AppResult<i64> {
    let epoch = epochs.map(|epochs| epochs.streams);
    if let Some(count) = epoch.and_then(|epoch| db.cache().stream_count(user_id, public_only, epoch)) {
        return Ok(count);
    }
    // Two fixed statements rather than one with a variable filter: fixed ones are prepared
    // once per connection and cached.
    let own = stream_acl::table.inner_join(streams::table).filter(stream_acl::user_id.eq(user_id));
    let count: i64 = if public_only {
        db_read!(db, get_result, own.filter(streams::is_public.eq(true)).count())?
    } else {
        db_read!(db, get_result, own.count())?
    };
    if let Some(epoch) = epoch {
        db.cache().put_stream_count(user_id, public_only, count, epoch);
    }
    Ok(count)
}

/// One page of the user's streams with their role, newest first.
pub async fn page_for_user(
    db: &DbPool,
    user_id: &str,
    public_only: bool,
    page: &Page,
) -> AppResult<(Vec<(models::Stream, String)>, Option<String>)> {
    let visibility = is_public_values(public_only);
    let after = &page.after;
    let rows: Vec<(models::Stream, String)> = db_read!(
        db,
        load,
        streams::table
            .inner_join(stream_acl::table)
            .filter(stream_acl::user_id.eq(user_id))
            .filter(streams::is_public.eq_any(visibility))
            .filter(
                streams::created_at
                    .lt(after.created_at)
                    .or(streams::created_at.eq(after.created_at).and(streams::id.lt(&after.id))),
            )
            .order((streams::created_at.desc(), streams::id.desc()))
            .limit(page.fetch())
            .select((models::Stream::as_select(), stream_acl::role))
    )?;
    Ok(page.finish(rows, |(stream, _)| Cursor { created_at: stream.created_at, id: stream.id.clone() }))
}

/// What a client sends to create a commit.
#[derive(Clone, Debug)]
pub struct CommitInput {
    pub branch_name: Option<String>,
    pub object_id: String,
    pub message: Option<String>,
    pub source_application: Option<String>,
}

/// Creates a commit (owners and contributors); answers its id.
pub async fn create_commit(
    conn: &mut DbConn,
    user_id: &str,
    stream_id: &str,
    input: CommitInput,
) -> AppResult<String> {
    let access = readable(conn, stream_id, Some(user_id)).await?;
    if !access.role.is_some_and(Role::can_write) {
        return Err(forbidden("Only owners and contributors of the stream can create commits."));
    }
    let object_id = input.object_id.trim();
    if object_id.is_empty() || object_id.chars().count() > MAX_REFERENCE_CHARS {
        return Err(bad_input(format!("objectId must be 1 to {MAX_REFERENCE_CHARS} characters.")));
    }
    let branch_name = input.branch_name.as_deref().map(str::trim).filter(|b| !b.is_empty()).unwrap_or("main");
    if branch_name.chars().count() > MAX_REFERENCE_CHARS {
        return Err(bad_input(format!("branchName must be at most {MAX_REFERENCE_CHARS} characters.")));
    }
    let message = input.message.unwrap_or_default();
    if message.len() > MAX_COMMIT_MESSAGE_BYTES {
        return Err(bad_input("message must be at most 64 kB."));
    }
    if input.source_application.as_ref().is_some_and(|s| s.chars().count() > MAX_REFERENCE_CHARS) {
        return Err(bad_input(format!(
            "sourceApplication must be at most {MAX_REFERENCE_CHARS} characters."
        )));
    }
    let commit = models::Commit {
        id: new_id(),
        stream_id: stream_id.to_owned(),
        branch_name: branch_name.to_owned(),
        referenced_object: object_id.to_owned(),
        message,
        source_application: input.source_application,
        author_id: user_id.to_owned(),
        created_at: now_millis(),
    };
    db_run!(conn, |c| diesel::insert_into(commits::table).values(&commit).execute(c).await)?;
    Ok(commit.id)
}

pub async fn count_commits(conn: &mut DbConn, stream_id: &str) -> AppResult<i64> {
    Ok(db_run!(conn, |c| {
        commits::table.filter(commits::stream_id.eq(stream_id)).count().get_result(c).await
    })?)
}

/// One page of a stream's commits with their authors' names, newest first.
pub async fn page_of_commits(
    conn: &mut DbConn,
    stream_id: &str,
    page: &Page,
) -> AppResult<(Vec<(models::Commit, String)>, Option<String>)> {
    let after = &page.after;
    let rows: Vec<(models::Commit, String)> = db_run!(conn, |c| {
        commits::table
            .inner_join(users::table)
            .filter(commits::stream_id.eq(stream_id))
            .filter(
                commits::created_at
                    .lt(after.created_at)
                    .or(commits::created_at.eq(after.created_at).and(commits::id.lt(&after.id))),
            )
            .order((commits::created_at.desc(), commits::id.desc()))
            .limit(page.fetch())
            .select((models::Commit::as_select(), users::name))
            .load(c)
            .await
    })?;
    Ok(page.finish(rows, |(commit, _)| Cursor { created_at: commit.created_at, id: commit.id.clone() }))
}
