//! Branches, as Speckle has them: every stream is created with `main`, branch names follow
//! Speckle's rules, and each holds commits (see [`commits`](super::commits)). Who may do what
//! rests on the stream's roles (see [`streams`]).

use diesel::prelude::*;
use diesel_async::RunQueryDsl;

use crate::rules::error::{bad_input, not_found, AppError, AppResult};
use crate::rules::limits::MAIN_BRANCH;
use crate::rules::text::{BRANCH_DESCRIPTION, BRANCH_NAME};
use crate::server::db::events::{Change, Event};
use crate::server::db::schema::{branches, commits};
use crate::server::db::sql::{lower, Search};
use crate::server::db::{models, BranchId, DbConn, StreamId, UserId};
use crate::server::domain::history::Action;
use crate::server::domain::pagination::Page;
use crate::server::domain::reach::Actor;
use crate::server::domain::streams::{self, require_owner_or_author, require_write};
use crate::{db_run, db_tx, keyset};

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

/// Which of a stream's branches a listing keeps (Speckle's `ProjectModelsFilter`); the
/// default keeps them all.
#[derive(Debug, Default)]
pub struct BranchFilter {
    /// Names that hold this text.
    pub search: Option<Search>,
    /// Only these ids.
    pub ids: Option<Vec<BranchId>>,
    /// None of these ids.
    pub exclude_ids: Vec<BranchId>,
    /// Only branches with at least one commit.
    pub only_with_commits: bool,
    /// Only branches with a commit from one of these applications.
    pub source_apps: Option<Vec<String>>,
    /// Only branches with a commit by one of these users.
    pub authors: Option<Vec<UserId>>,
}

/// The most ids or names a filter may list.
pub const MAX_FILTER_ITEMS: usize = 100;

impl BranchFilter {
    /// Refuses a filter listing more than [`MAX_FILTER_ITEMS`] of anything.
    pub fn check(&self) -> AppResult<()> {
        let longest = [
            self.ids.as_ref().map_or(0, Vec::len),
            self.exclude_ids.len(),
            self.source_apps.as_ref().map_or(0, Vec::len),
            self.authors.as_ref().map_or(0, Vec::len),
        ];
        if longest.into_iter().any(|len| len > MAX_FILTER_ITEMS) {
            return Err(bad_input(format!(
                "filter: at most {MAX_FILTER_ITEMS} ids, names or apps in a list."
            )));
        }
        Ok(())
    }
}

/// The stream's branches that `filter` keeps, oldest first (`main` leads): their total, and
/// one page.
pub async fn page(
    conn: &mut DbConn,
    stream_id: &StreamId,
    filter: &BranchFilter,
    page: &Page,
) -> AppResult<(i64, Vec<models::Branch>, Option<String>)> {
    filter.check()?;
    // A macro, not a closure: the boxed query is typed by each backend's arm of `db_run!`.
    macro_rules! matching {
        () => {{
            let of_stream = branches::table.filter(branches::stream_id.eq(stream_id)).into_boxed();
            let of_stream = match &filter.search {
                Some(search) => of_stream.filter(lower(branches::name).like(search.pattern()).escape('\\')),
                None => of_stream,
            };
            let of_stream = match &filter.ids {
                Some(ids) => of_stream.filter(branches::id.eq_any(ids)),
                None => of_stream,
            };
            let of_stream = if filter.exclude_ids.is_empty() {
                of_stream
            } else {
                of_stream.filter(branches::id.ne_all(&filter.exclude_ids))
            };
            let its_commits = || {
                commits::table
                    .filter(commits::stream_id.eq(branches::stream_id))
                    .filter(commits::branch_name.eq(branches::name))
            };
            let of_stream = if filter.only_with_commits {
                of_stream.filter(diesel::dsl::exists(its_commits()))
            } else {
                of_stream
            };
            let of_stream = match &filter.source_apps {
                Some(apps) => of_stream.filter(diesel::dsl::exists(
                    its_commits().filter(commits::source_application.eq_any(apps)),
                )),
                None => of_stream,
            };
            match &filter.authors {
                Some(authors) => of_stream
                    .filter(diesel::dsl::exists(its_commits().filter(commits::author_id.eq_any(authors)))),
                None => of_stream,
            }
        }};
    }
    let total: i64 = db_run!(conn, |c| matching!().count().get_result(c).await)?;
    let rows: Vec<models::Branch> = db_run!(conn, |c| {
        keyset!(oldest_first, matching!(), page, branches::created_at, branches::id)
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
pub async fn get(conn: &mut DbConn, stream_id: &StreamId, branch_id: &BranchId) -> AppResult<models::Branch> {
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
    actor: Actor<'_>,
    stream_id: &StreamId,
    name: &str,
    description: Option<String>,
) -> AppResult<BranchId> {
    let user_id = actor.user_id;
    streams::readable(conn, stream_id, Some(actor)).await?.require_write("create branches")?;
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
        let info =
            serde_json::json!({ "branch": { "name": branch.name, "description": branch.description } });
        let message = format!("Branch created: {}", branch.name);
        tx.record_on_stream(stream_id, user_id, Action::BranchCreate, branch.id.as_str(), info, message)
            .await?;
        tx.publish(Event::Branch {
            stream: stream_id.clone(),
            branch: branch.id.clone(),
            change: Change::Created,
        });
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

/// Whether the user may update the stream's branches (as [`update`] asks), for a client
/// asking to change nothing.
pub async fn may_update(conn: &mut DbConn, actor: Actor<'_>, stream_id: &StreamId) -> AppResult<()> {
    streams::readable(conn, stream_id, Some(actor)).await?.require_write("update branches")
}

/// Renames a branch or changes its description (owners and contributors). Its commits follow
/// a new name (the database cascades it).
pub async fn update(
    conn: &mut DbConn,
    actor: Actor<'_>,
    stream_id: &StreamId,
    branch_id: &BranchId,
    name: Option<&str>,
    description: Option<String>,
) -> AppResult<()> {
    let user_id = actor.user_id;
    may_update(conn, actor, stream_id).await?;
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
        let info = serde_json::json!({ "new": { "name": name, "description": description } });
        let message = format!("Branch metadata changed: {name}");
        tx.record_on_stream(stream_id, user_id, Action::BranchUpdate, branch_id.as_str(), info, message)
            .await?;
        tx.publish(Event::Branch {
            stream: stream_id.clone(),
            branch: branch_id.clone(),
            change: Change::Updated,
        });
        Ok(())
    })
}

/// Deletes a branch and its commits: the stream's owners, or the contributor who made it.
/// `main` stays.
pub async fn delete(
    conn: &mut DbConn,
    actor: Actor<'_>,
    stream_id: &StreamId,
    branch_id: &BranchId,
) -> AppResult<()> {
    let user_id = actor.user_id;
    let access = streams::readable(conn, stream_id, Some(actor)).await?;
    let branch = get(conn, stream_id, branch_id).await?;
    let author = branch.author_id.as_ref();
    access.require_owner_or_author(author, user_id, "delete this branch")?;
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
        let info = serde_json::json!({ "branch": { "name": branch.name } });
        let message = format!("Branch deleted: {}", branch.name);
        tx.record_on_stream(stream_id, user_id, Action::BranchDelete, branch_id.as_str(), info, message)
            .await?;
        tx.publish(Event::Branch {
            stream: stream_id.clone(),
            branch: branch_id.clone(),
            change: Change::Deleted,
        });
        Ok(())
    })
}
