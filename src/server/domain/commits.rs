//! Commits, as Speckle has them: each belongs to one branch of its stream (by the branch's
//! name), points at an object, and is changed only by the stream's owners or its author.
//! Who may do what rests on the stream's roles (see [`streams`]).

use diesel::prelude::*;
use diesel_async::RunQueryDsl;

use crate::rules::error::{bad_input, not_found, AppResult};
use crate::rules::limits::{MAIN_BRANCH, MAX_COMMIT_MESSAGE_BYTES, MAX_PARENTS, MAX_REFERENCE_CHARS};
use crate::server::db::events::{Change, Event};
use crate::server::db::schema::{branches, commits, objects, users};
use crate::server::db::{models, BranchId, CommitId, DbConn, DbPool, StreamId, UserId};
use crate::server::domain::branches::{self as branch_rules, find, MAX_FILTER_ITEMS};
use crate::server::domain::history::Action;
use crate::server::domain::pagination::Page;
use crate::server::domain::reach::Actor;
use crate::server::domain::streams::{self, require_owner_or_author, require_write};
use crate::{db_read, db_run, db_tx, keyset};

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
    actor: Actor<'_>,
    stream_id: &StreamId,
    input: CommitInput,
) -> AppResult<CommitId> {
    let user_id = actor.user_id;
    streams::readable(conn, stream_id, Some(actor)).await?.require_write("create commits")?;
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
        let info = serde_json::json!({ "commit": {
            "message": commit.message,
            "branchName": commit.branch_name,
            "objectId": commit.referenced_object,
            "sourceApplication": commit.source_application,
        } });
        let message =
            format!("Commit created on branch {}: {} ({})", commit.branch_name, commit.id, commit.message);
        tx.record_on_stream(stream_id, user_id, Action::CommitCreate, commit.id.as_str(), info, message)
            .await?;
        let (stream, commit) = (stream_id.clone(), commit.id.clone());
        tx.publish(Event::Commit { stream, branch: branch.id.clone(), commit, change: Change::Created });
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

/// One page of the stream's commits (or one branch's), with their authors, newest first,
/// leaving out `except` (commits a client asked for first, see [`commits_with_ids`]).
/// Read on SQLite's readers, on the calling thread (see `db_read!`): a page can carry
/// megabytes of messages, and memory allocated and freed on the same busy threads is
/// returned at once, where a pooled connection's blocking thread would keep it.
pub async fn page_of_commits(
    db: &DbPool,
    stream_id: &StreamId,
    branch: Option<&str>,
    except: &[CommitId],
    page: &Page,
) -> AppResult<(Vec<CommitView>, Option<String>)> {
    let rows: Vec<CommitView> = db_read!(db, load, {
        let of_stream =
            commits::table.inner_join(users::table).filter(commits::stream_id.eq(stream_id)).into_boxed();
        let of_branch = match branch {
            Some(branch) => of_stream.filter(commits::branch_name.eq(branch)),
            None => of_stream,
        };
        let kept = if except.is_empty() { of_branch } else { of_branch.filter(commits::id.ne_all(except)) };
        keyset!(newest_first, kept, page, commits::created_at, commits::id)
            .select((models::Commit::as_select(), users::name))
    })?;
    Ok(page.finish(rows, |view| (view.commit.created_at, &view.commit.id)))
}

/// The stream's commits (or one branch's) with these ids, newest first: at most
/// [`MAX_FILTER_ITEMS`] ids.
pub async fn commits_with_ids(
    conn: &mut DbConn,
    stream_id: &StreamId,
    branch: Option<&str>,
    ids: &[CommitId],
) -> AppResult<Vec<CommitView>> {
    if ids.len() > MAX_FILTER_ITEMS {
        return Err(bad_input(format!("at most {MAX_FILTER_ITEMS} version ids at once.")));
    }
    Ok(db_run!(conn, |c| {
        let of_stream = commits::table
            .inner_join(users::table)
            .filter(commits::stream_id.eq(stream_id))
            .filter(commits::id.eq_any(ids))
            .into_boxed();
        let of_branch = match branch {
            Some(branch) => of_stream.filter(commits::branch_name.eq(branch)),
            None => of_stream,
        };
        of_branch
            .order((commits::created_at.desc(), commits::id.desc()))
            .select((models::Commit::as_select(), users::name))
            .load(c)
            .await
    })?)
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
    actor: Actor<'_>,
    stream_id: &StreamId,
    commit_id: &CommitId,
    message: Option<String>,
    new_branch_name: Option<&str>,
) -> AppResult<()> {
    let user_id = actor.user_id;
    let access = streams::readable(conn, stream_id, Some(actor)).await?;
    let commit = get_commit(conn, stream_id, commit_id).await?.commit;
    access.require_owner_or_author(Some(&commit.author_id), user_id, "change this commit")?;
    if let Some(message) = &message {
        validate_message(message)?;
    }
    let new_branch = match new_branch_name.map(str::trim).filter(|b| !b.is_empty()) {
        Some(name) => Some(find(conn, stream_id, name).await?.ok_or_else(|| not_found("Branch"))?),
        None => None,
    };
    if message.is_none() && new_branch.is_none() {
        return Err(bad_input("Give the commit a new message or branch."));
    }
    let message = message.unwrap_or(commit.message);
    let branch_name = new_branch.map_or(commit.branch_name, |branch| branch.name);
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
        let info = serde_json::json!({ "new": { "message": message, "branchName": branch_name } });
        let text = format!("Commit updated: {commit_id}");
        tx.record_on_stream(stream_id, user_id, Action::CommitUpdate, commit_id.as_str(), info, text).await?;
        let branch = tx.branch_ids(stream_id, std::slice::from_ref(&branch_name)).await?;
        tx.publish_commits(stream_id, &branch, [(commit_id, branch_name.as_str())], Change::Updated);
        Ok(())
    })
}

/// Deletes a commit (not its objects): the stream's owners, or its author while they can
/// write to the stream.
pub async fn delete_commit(
    conn: &mut DbConn,
    actor: Actor<'_>,
    stream_id: &StreamId,
    commit_id: &CommitId,
) -> AppResult<()> {
    delete_commits(conn, actor, stream_id, std::slice::from_ref(commit_id)).await
}

/// The stream's commits with these ids (at most [`MAX_FILTER_ITEMS`]), each of which the
/// user may change: the stream's owners may change any, its author while they can write;
/// "not found" if one is not on the stream.
async fn commits_to_change(
    conn: &mut DbConn,
    actor: Actor<'_>,
    stream_id: &StreamId,
    commit_ids: &[CommitId],
    action: &str,
) -> AppResult<Vec<models::Commit>> {
    let user_id = actor.user_id;
    if commit_ids.is_empty() {
        return Err(bad_input("versionIds: give at least one."));
    }
    let access = streams::readable(conn, stream_id, Some(actor)).await?;
    let found = commits_with_ids(conn, stream_id, None, commit_ids).await?;
    let mut wanted: Vec<&CommitId> = commit_ids.iter().collect();
    wanted.sort_unstable();
    wanted.dedup();
    if found.len() != wanted.len() {
        return Err(not_found("Commit"));
    }
    for view in &found {
        access.require_owner_or_author(Some(&view.commit.author_id), user_id, action)?;
    }
    Ok(found.into_iter().map(|view| view.commit).collect())
}

/// Whether the user may change this commit of the stream (as [`update_commit`] would let
/// them), for a client asking to change nothing.
pub async fn may_change(
    conn: &mut DbConn,
    actor: Actor<'_>,
    stream_id: &StreamId,
    commit_id: &CommitId,
) -> AppResult<()> {
    commits_to_change(conn, actor, stream_id, std::slice::from_ref(commit_id), "change this commit")
        .await
        .map(|_| ())
}

crate::tx_steps! {
    /// The ids of the stream's branches with these names, inside the write's transaction.
    pub async fn branch_ids(&mut self, stream_id: &StreamId, names: &[String]) -> AppResult<Vec<(String, BranchId)>> {
        Ok(branches::table
            .filter(branches::stream_id.eq(stream_id))
            .filter(branches::name.eq_any(names))
            .select((branches::name, branches::id))
            .load(self.conn())
            .await?)
    }

    /// Publishes a change of these commits, each on the branch of its name (`branches`: names
    /// and ids, from [`branch_ids`](Self::branch_ids)).
    pub fn publish_commits<'a>(
        &mut self,
        stream_id: &StreamId,
        branches: &[(String, BranchId)],
        commits: impl IntoIterator<Item = (&'a CommitId, &'a str)>,
        change: Change,
    ) {
        for (commit, branch_name) in commits {
            let Some((_, branch)) = branches.iter().find(|(name, _)| name == branch_name) else { continue };
            let (stream, branch, commit) = (stream_id.clone(), branch.clone(), commit.clone());
            self.publish(Event::Commit { stream, branch, commit, change });
        }
    }

    /// Checks again, inside the write's transaction, that the user may still change each of
    /// these commits (see [`commits_to_change`]).
    pub async fn still_may_change(
        &mut self,
        user_id: &UserId,
        stream_id: &StreamId,
        commits: &[models::Commit],
        action: &str,
    ) -> AppResult<()> {
        let role = self.role_under_lock(stream_id, user_id).await?;
        for commit in commits {
            require_owner_or_author(role, Some(&commit.author_id), user_id, action)?;
        }
        Ok(())
    }
}

/// Deletes these commits of the stream (not their objects), all or none: each by the
/// stream's owners, or by its author while they can write to the stream.
pub async fn delete_commits(
    conn: &mut DbConn,
    actor: Actor<'_>,
    stream_id: &StreamId,
    commit_ids: &[CommitId],
) -> AppResult<()> {
    let user_id = actor.user_id;
    let action = "delete this commit";
    let commits = commits_to_change(conn, actor, stream_id, commit_ids, action).await?;
    db_tx!(conn, |tx| {
        tx.still_may_change(user_id, stream_id, &commits, action).await?;
        let names: Vec<String> = commits.iter().map(|commit| commit.branch_name.clone()).collect();
        let branches = tx.branch_ids(stream_id, &names).await?;
        let deleted = commits.iter().map(|commit| (&commit.id, commit.branch_name.as_str()));
        tx.publish_commits(stream_id, &branches, deleted, Change::Deleted);
        for commit in &commits {
            let info = serde_json::json!({ "commit": { "message": commit.message, "branchName": commit.branch_name } });
            let text = format!("Commit deleted: {}", commit.id);
            tx.record_on_stream(stream_id, user_id, Action::CommitDelete, commit.id.as_str(), info, text)
                .await?;
        }
        diesel::delete(
            commits::table.filter(commits::stream_id.eq(stream_id)).filter(commits::id.eq_any(commit_ids)),
        )
        .execute(tx.conn())
        .await?;
        Ok(())
    })
}

/// Moves these commits of the stream to the branch called `target`, made first if there is
/// none (by someone who may create branches); all or none, each as [`update_commit`] allows.
pub async fn move_commits(
    conn: &mut DbConn,
    actor: Actor<'_>,
    stream_id: &StreamId,
    commit_ids: &[CommitId],
    target: &str,
) -> AppResult<models::Branch> {
    let user_id = actor.user_id;
    let action = "move this commit";
    let commits = commits_to_change(conn, actor, stream_id, commit_ids, action).await?;
    let branch = match find(conn, stream_id, target).await? {
        Some(branch) => branch,
        None => {
            let id = branch_rules::create(conn, actor, stream_id, target, None).await?;
            branch_rules::get(conn, stream_id, &id).await?
        }
    };
    db_tx!(conn, |tx| {
        tx.still_may_change(user_id, stream_id, &commits, action).await?;
        diesel::update(
            commits::table.filter(commits::stream_id.eq(stream_id)).filter(commits::id.eq_any(commit_ids)),
        )
        .set(commits::branch_name.eq(&branch.name))
        .execute(tx.conn())
        .await?;
        let moved = commits.iter().map(|commit| (&commit.id, branch.name.as_str()));
        tx.publish_commits(stream_id, &[(branch.name.clone(), branch.id.clone())], moved, Change::Updated);
        for commit in &commits {
            let info = serde_json::json!({ "new": { "branchName": branch.name } });
            let text = format!("Commit moved to branch {}: {}", branch.name, commit.id);
            tx.record_on_stream(stream_id, user_id, Action::CommitUpdate, commit.id.as_str(), info, text)
                .await?;
        }
        Ok(())
    })?;
    Ok(branch)
}

/// Checks that the commit exists on a stream the user can read: `commitReceive` records
/// nothing more here.
pub async fn received(
    conn: &mut DbConn,
    actor: Actor<'_>,
    stream_id: &StreamId,
    commit_id: &CommitId,
) -> AppResult<()> {
    streams::readable(conn, stream_id, Some(actor)).await?;
    get_commit(conn, stream_id, commit_id).await?;
    Ok(())
}
