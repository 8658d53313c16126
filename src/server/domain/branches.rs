//! Branches and their commits, as Speckle has them: every stream is created with `main`,
//! every commit belongs to one branch of its stream, and branch names follow Speckle's rules.
//! Who may do what rests on the stream's roles (see [`streams`]).

use diesel::prelude::*;
use diesel_async::RunQueryDsl;

use crate::rules::error::{bad_input, forbidden, not_found, AppError, AppResult};
use crate::rules::limits::{MAIN_BRANCH, MAX_COMMIT_MESSAGE_BYTES, MAX_PARENTS, MAX_REFERENCE_CHARS};
use crate::rules::text::{BRANCH_DESCRIPTION, BRANCH_NAME};
use crate::server::db::schema::{branches, commits, objects, users};
use crate::server::db::{models, BranchId, CommitId, DbConn, DbPool, StreamId, UserId};
use crate::server::domain::pagination::Page;
use crate::server::domain::streams::{self, require_write, Role};
use crate::{db_read, db_run, db_tx, keyset};

/// Checks a branch name as Speckle does, and lower-cases it as Speckle stores it.
pub fn validate_name(name: &str) -> AppResult<String> {
    let name = BRANCH_NAME.value(&name.to_lowercase())?;
    let malformed = name.starts_with(['/', '#', '$'])
        || name.ends_with('/')
        || name.contains("//")
        || name.contains([',', '\\'])
        || name.chars().any(char::is_control);
    if malformed {
        return Err(bad_input(
            "name: branch names cannot start with \"#\" or \"$\", start or end with \"/\", have two \
             slashes in a row (\"//\"), or contain commas, backslashes or control characters.",
        ));
    }
    Ok(name)
}

fn validate_description(description: Option<String>) -> AppResult<Option<String>> {
    description.map(|description| BRANCH_DESCRIPTION.value(&description)).transpose()
}

/// The stream's branches, oldest first (`main` leads): their total, and one page.
pub async fn page(
    conn: &mut DbConn,
    stream_id: &StreamId,
    page: &Page,
) -> AppResult<(i64, Vec<models::Branch>, Option<String>)> {
    let total: i64 = db_run!(conn, |c| {
        branches::table.filter(branches::stream_id.eq(stream_id)).count().get_result(c).await
    })?;
    let rows: Vec<models::Branch> = db_run!(conn, |c| {
        keyset!(
            oldest_first,
            branches::table.filter(branches::stream_id.eq(stream_id)),
            page,
            branches::created_at,
            branches::id
        )
        .select(models::Branch::as_select())
        .load(c)
        .await
    })?;
    let (rows, cursor) = page.finish(rows, |branch| (branch.created_at, &branch.id));
    Ok((total, rows, cursor))
}

/// The stream's branch called `name` (names are stored lower-cased; branches made before
/// that rule keep their case), or, as Speckle also accepts, with that id.
pub async fn find(conn: &mut DbConn, stream_id: &StreamId, name: &str) -> AppResult<Option<models::Branch>> {
    let name = name.trim();
    let lowered = name.to_lowercase();
    Ok(db_run!(conn, |c| {
        branches::table
            .filter(branches::stream_id.eq(stream_id))
            .filter(branches::name.eq(&lowered).or(branches::name.eq(name)).or(branches::id.eq(name)))
            .order((branches::name.eq(&lowered).desc(), branches::name.eq(name).desc()))
            .select(models::Branch::as_select())
            .first(c)
            .await
            .optional()
    })?)
}

/// The stream's branch with this id, or "not found".
async fn get(conn: &mut DbConn, stream_id: &StreamId, branch_id: &BranchId) -> AppResult<models::Branch> {
    let branch: Option<models::Branch> = db_run!(conn, |c| {
        branches::table
            .filter(branches::stream_id.eq(stream_id))
            .filter(branches::id.eq(branch_id))
            .select(models::Branch::as_select())
            .first(c)
            .await
            .optional()
    })?;
    branch.ok_or_else(|| not_found("Branch"))
}

fn name_taken(error: &diesel::result::Error) -> bool {
    matches!(
        error,
        diesel::result::Error::DatabaseError(diesel::result::DatabaseErrorKind::UniqueViolation, _)
    )
}

/// Creates a branch (owners and contributors); answers its id.
pub async fn create(
    conn: &mut DbConn,
    user_id: &UserId,
    stream_id: &StreamId,
    name: &str,
    description: Option<String>,
) -> AppResult<BranchId> {
    streams::readable(conn, stream_id, Some(user_id)).await?.require_write("create branches")?;
    let now = conn.now();
    let branch = models::Branch {
        id: BranchId::random(),
        stream_id: stream_id.to_owned(),
        name: validate_name(name)?,
        description: validate_description(description)?,
        author_id: Some(user_id.to_owned()),
        created_at: now,
        updated_at: now,
    };
    let created = db_tx!(conn, |tx| {
        require_write(tx.role_under_lock(stream_id, user_id).await?, "create branches")?;
        diesel::insert_into(branches::table).values(&branch).execute(tx.conn()).await.map_err(taken_or)?;
        Ok(())
    });
    created.map(|()| branch.id)
}

/// A unique name already taken is the client's mistake; other errors are ours.
fn taken_or(error: diesel::result::Error) -> AppError {
    if name_taken(&error) {
        return bad_input("A branch with this name already exists.");
    }
    error.into()
}

/// Renames a branch or changes its description (owners and contributors). Its commits follow
/// a new name (the database cascades it).
pub async fn update(
    conn: &mut DbConn,
    user_id: &UserId,
    stream_id: &StreamId,
    branch_id: &BranchId,
    name: Option<&str>,
    description: Option<String>,
) -> AppResult<()> {
    streams::readable(conn, stream_id, Some(user_id)).await?.require_write("update branches")?;
    let branch = get(conn, stream_id, branch_id).await?;
    let name = match name.map(str::trim).filter(|n| !n.is_empty()) {
        Some(name) => Some(validate_name(name)?),
        None => None,
    };
    let description = validate_description(description)?;
    if name.is_none() && description.is_none() {
        return Err(bad_input("Give the branch a new name or description."));
    }
    if branch.name == MAIN_BRANCH && name.as_deref().is_some_and(|n| n != MAIN_BRANCH) {
        return Err(bad_input("The main branch cannot be renamed."));
    }
    let name = name.unwrap_or(branch.name);
    let description = description.or(branch.description);
    let now = conn.now();
    db_tx!(conn, |tx| {
        require_write(tx.role_under_lock(stream_id, user_id).await?, "update branches")?;
        diesel::update(branches::table.find(branch_id))
            .set((
                branches::name.eq(&name),
                branches::description.eq(&description),
                branches::updated_at.eq(now),
            ))
            .execute(tx.conn())
            .await
            .map_err(taken_or)?;
        Ok(())
    })
}

/// Deletes a branch and its commits: the stream's owners, or the contributor who made it.
/// `main` stays.
pub async fn delete(
    conn: &mut DbConn,
    user_id: &UserId,
    stream_id: &StreamId,
    branch_id: &BranchId,
) -> AppResult<()> {
    let access = streams::readable(conn, stream_id, Some(user_id)).await?;
    let branch = get(conn, stream_id, branch_id).await?;
    let author = branch.author_id.as_ref();
    require_owner_or_author(access.role, author, user_id, "delete this branch")?;
    if branch.name == MAIN_BRANCH {
        return Err(bad_input("The main branch cannot be deleted."));
    }
    db_tx!(conn, |tx| {
        require_owner_or_author(
            tx.role_under_lock(stream_id, user_id).await?,
            author,
            user_id,
            "delete this branch",
        )?;
        diesel::delete(branches::table.find(branch_id)).execute(tx.conn()).await?;
        Ok(())
    })
}

/// Owners may; so may the author of the thing while they can still write to the stream.
fn require_owner_or_author(
    role: Option<Role>,
    author_id: Option<&UserId>,
    user_id: &UserId,
    action: &str,
) -> AppResult<()> {
    let is_author = author_id == Some(user_id) && role.is_some_and(Role::can_write);
    if role == Some(Role::Owner) || is_author {
        return Ok(());
    }
    Err(forbidden(format!("Only an owner of the stream or its author can {action}.")))
}

/// What a client sends to create a commit.
#[derive(Clone, Debug, Default)]
pub struct CommitInput {
    pub branch_name: Option<String>,
    pub object_id: String,
    pub message: Option<String>,
    pub source_application: Option<String>,
    pub total_children_count: Option<i64>,
    pub parents: Option<Vec<String>>,
}

fn validate_message(message: &str) -> AppResult<()> {
    if message.len() > MAX_COMMIT_MESSAGE_BYTES {
        return Err(bad_input("message must be at most 64 kB."));
    }
    Ok(())
}

/// Creates a commit on a branch (owners and contributors); answers its id. The branch must
/// exist (`main` if none is named). The commit may name an object not stored (yet); its
/// `totalChildrenCount` then is what the client said.
pub async fn create_commit(
    conn: &mut DbConn,
    user_id: &UserId,
    stream_id: &StreamId,
    input: CommitInput,
) -> AppResult<CommitId> {
    streams::readable(conn, stream_id, Some(user_id)).await?.require_write("create commits")?;
    let object_id = input.object_id.trim();
    if object_id.is_empty() || object_id.chars().count() > MAX_REFERENCE_CHARS {
        return Err(bad_input(format!("objectId must be 1 to {MAX_REFERENCE_CHARS} characters.")));
    }
    let message = input.message.unwrap_or_default();
    validate_message(&message)?;
    if input.source_application.as_ref().is_some_and(|s| s.chars().count() > MAX_REFERENCE_CHARS) {
        return Err(bad_input(format!(
            "sourceApplication must be at most {MAX_REFERENCE_CHARS} characters."
        )));
    }
    let parents = match input.parents {
        Some(parents) if parents.len() > MAX_PARENTS => {
            return Err(bad_input(format!("parents: a commit has at most {MAX_PARENTS} parents.")));
        }
        Some(parents) if parents.iter().any(|p| p.chars().count() > MAX_REFERENCE_CHARS) => {
            return Err(bad_input("parents: a parent is a commit id."));
        }
        Some(parents) => Some(serde_json::to_string(&parents).map_err(|_| bad_input("parents"))?),
        None => None,
    };
    let branch_name =
        input.branch_name.as_deref().map(str::trim).filter(|b| !b.is_empty()).unwrap_or(MAIN_BRANCH);
    let branch = find(conn, stream_id, branch_name).await?.ok_or_else(|| not_found("Branch"))?;
    let stored_children: Option<i64> = db_run!(conn, |c| {
        objects::table
            .find((stream_id, object_id))
            .select(objects::total_children_count)
            .first(c)
            .await
            .optional()
    })?;
    let commit = models::Commit {
        id: CommitId::random(),
        stream_id: stream_id.to_owned(),
        branch_name: branch.name,
        referenced_object: object_id.to_owned(),
        message,
        source_application: input.source_application,
        author_id: user_id.to_owned(),
        created_at: conn.now(),
        total_children_count: stored_children.or(input.total_children_count),
        parents,
    };
    // The commit and its branch's new time together, by someone who may still write.
    db_tx!(conn, |tx| {
        require_write(tx.role_under_lock(stream_id, user_id).await?, "create commits")?;
        diesel::insert_into(commits::table).values(&commit).execute(tx.conn()).await?;
        diesel::update(branches::table.find(&branch.id))
            .set(branches::updated_at.eq(commit.created_at))
            .execute(tx.conn())
            .await?;
        Ok(())
    })?;
    Ok(commit.id)
}

/// A commit with what the API shows of its author (their avatar, up to 256 kB, is read apart
/// when asked for: see `users::avatars`).
#[derive(Clone, Debug, Queryable)]
pub struct CommitView {
    pub commit: models::Commit,
    pub author_name: String,
}

/// The stream's commits, or one branch's (by its stored name).
pub async fn count_commits(conn: &mut DbConn, stream_id: &StreamId, branch: Option<&str>) -> AppResult<i64> {
    Ok(db_run!(conn, |c| {
        let all = commits::table.filter(commits::stream_id.eq(stream_id));
        match branch {
            Some(branch) => all.filter(commits::branch_name.eq(branch)).count().get_result(c).await,
            None => all.count().get_result(c).await,
        }
    })?)
}

/// One page of the stream's commits (or one branch's), with their authors, newest first.
/// Read on SQLite's readers, on the calling thread (see `db_read!`): a page can carry
/// megabytes of messages, and memory allocated and freed on the same busy threads is
/// returned at once, where a pooled connection's blocking thread would keep it.
pub async fn page_of_commits(
    db: &DbPool,
    stream_id: &StreamId,
    branch: Option<&str>,
    page: &Page,
) -> AppResult<(Vec<CommitView>, Option<String>)> {
    let rows: Vec<CommitView> = db_read!(db, load, {
        let of_stream =
            commits::table.inner_join(users::table).filter(commits::stream_id.eq(stream_id)).into_boxed();
        let of_branch = match branch {
            Some(branch) => of_stream.filter(commits::branch_name.eq(branch)),
            None => of_stream,
        };
        keyset!(newest_first, of_branch, page, commits::created_at, commits::id)
            .select((models::Commit::as_select(), users::name))
    })?;
    Ok(page.finish(rows, |view| (view.commit.created_at, &view.commit.id)))
}

/// The stream's commit with this id; with none, its latest commit (as Speckle answers).
pub async fn find_commit(
    conn: &mut DbConn,
    stream_id: &StreamId,
    commit_id: Option<&CommitId>,
) -> AppResult<Option<CommitView>> {
    Ok(db_run!(conn, |c| {
        let of_stream = commits::table
            .inner_join(users::table)
            .filter(commits::stream_id.eq(stream_id))
            .select((models::Commit::as_select(), users::name));
        match commit_id {
            Some(id) => of_stream.filter(commits::id.eq(id)).first(c).await.optional(),
            None => {
                of_stream.order((commits::created_at.desc(), commits::id.desc())).first(c).await.optional()
            }
        }
    })?)
}

async fn get_commit(conn: &mut DbConn, stream_id: &StreamId, commit_id: &CommitId) -> AppResult<CommitView> {
    find_commit(conn, stream_id, Some(commit_id)).await?.ok_or_else(|| not_found("Commit"))
}

/// Changes a commit's message or moves it to another branch: the stream's owners, or the
/// commit's author while they can write to the stream.
pub async fn update_commit(
    conn: &mut DbConn,
    user_id: &UserId,
    stream_id: &StreamId,
    commit_id: &CommitId,
    message: Option<String>,
    new_branch_name: Option<&str>,
) -> AppResult<()> {
    let access = streams::readable(conn, stream_id, Some(user_id)).await?;
    let commit = get_commit(conn, stream_id, commit_id).await?.commit;
    require_owner_or_author(access.role, Some(&commit.author_id), user_id, "change this commit")?;
    if let Some(message) = &message {
        validate_message(message)?;
    }
    let branch_name = match new_branch_name.map(str::trim).filter(|b| !b.is_empty()) {
        Some(name) => Some(find(conn, stream_id, name).await?.ok_or_else(|| not_found("Branch"))?.name),
        None => None,
    };
    if message.is_none() && branch_name.is_none() {
        return Err(bad_input("Give the commit a new message or branch."));
    }
    let message = message.unwrap_or(commit.message);
    let branch_name = branch_name.unwrap_or(commit.branch_name);
    let author = Some(&commit.author_id);
    db_tx!(conn, |tx| {
        require_owner_or_author(
            tx.role_under_lock(stream_id, user_id).await?,
            author,
            user_id,
            "change this commit",
        )?;
        diesel::update(commits::table.find(commit_id))
            .set((commits::message.eq(&message), commits::branch_name.eq(&branch_name)))
            .execute(tx.conn())
            .await?;
        Ok(())
    })
}

/// Deletes a commit (not its objects): the stream's owners, or its author while they can
/// write to the stream.
pub async fn delete_commit(
    conn: &mut DbConn,
    user_id: &UserId,
    stream_id: &StreamId,
    commit_id: &CommitId,
) -> AppResult<()> {
    let access = streams::readable(conn, stream_id, Some(user_id)).await?;
    let commit = get_commit(conn, stream_id, commit_id).await?.commit;
    let author = Some(&commit.author_id);
    require_owner_or_author(access.role, author, user_id, "delete this commit")?;
    db_tx!(conn, |tx| {
        require_owner_or_author(
            tx.role_under_lock(stream_id, user_id).await?,
            author,
            user_id,
            "delete this commit",
        )?;
        diesel::delete(commits::table.find(commit_id)).execute(tx.conn()).await?;
        Ok(())
    })
}

/// Checks that the commit exists on a stream the user can read: `commitReceive` records
/// nothing more here.
pub async fn received(
    conn: &mut DbConn,
    user_id: &UserId,
    stream_id: &StreamId,
    commit_id: &CommitId,
) -> AppResult<()> {
    streams::readable(conn, stream_id, Some(user_id)).await?;
    get_commit(conn, stream_id, commit_id).await?;
    Ok(())
}
