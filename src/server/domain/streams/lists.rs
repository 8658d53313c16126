//! The listings of streams: a user's (all, public only, or a limited token's), their counts
//! (cached), searches, and who is on a stream. Every filter is in the query, a limited
//! token's too ([`token_streams_of`]).

use diesel::prelude::*;
use diesel_async::RunQueryDsl;

use super::Role;
use crate::rules::error::AppResult;
use crate::server::db::schema::{stream_acl, streams, users};
use crate::server::db::sql::{lower, Search};
use crate::server::db::{models, DbConn, DbPool, Epochs, StreamId, UserId};
use crate::server::domain::pagination::Page;
use crate::server::domain::reach::{token_streams_of, Actor};
use crate::{db_read, db_run, keyset};

/// Someone on a stream, as its collaborator list shows them.
#[derive(Clone, Debug, Queryable)]
pub struct Collaborator {
    pub id: UserId,
    pub name: String,
    pub company: Option<String>,
    pub role: String,
}

/// The stream's collaborators, owners first (their avatars are read apart: `users::avatars`).
pub async fn collaborators(conn: &mut DbConn, stream_id: &StreamId) -> AppResult<Vec<Collaborator>> {
    Ok(db_run!(conn, |c| {
        stream_acl::table
            .inner_join(users::table)
            .filter(stream_acl::stream_id.eq(stream_id))
            .order((stream_acl::role.asc(), users::name.asc()))
            .select((users::id, users::name, users::company, stream_acl::role))
            .load(c)
            .await
    })?)
}

/// Whose streams a listing shows, and as whom.
#[derive(Clone, Copy, Debug)]
pub enum Listing<'a> {
    /// The user's own: every stream they are on, or only a limited token's streams (SPEC §12:
    /// a limited token's lists are its streams).
    Own(Actor<'a>),
    /// Another user's, as anyone sees them: their public streams.
    Public(&'a UserId),
}

impl Listing<'_> {
    fn user_id(&self) -> &UserId {
        match self {
            Listing::Own(actor) => actor.user_id,
            Listing::Public(user_id) => user_id,
        }
    }
}

/// How many streams a listing holds. A read of the API's hot path (`{ user { streams {
/// totalCount } } }`): from the cache when it can (`epochs`: as the request saw them when it
/// started), else one read (see [`db_read!`]).
pub async fn count_for_user(db: &DbPool, epochs: Option<&Epochs>, listing: Listing<'_>) -> AppResult<i64> {
    let epoch = epochs.map(|epochs| epochs.streams);
    let cache = db.cache();
    let cached = epoch.and_then(|epoch| match listing {
        Listing::Own(Actor { limit: Some(limit), .. }) => cache.limited_stream_count(&limit.token_id, epoch),
        Listing::Own(Actor { user_id, limit: None, .. }) => cache.stream_count(user_id, false, epoch),
        Listing::Public(user_id) => cache.stream_count(user_id, true, epoch),
    });
    if let Some(count) = cached {
        return Ok(count);
    }
    // Fixed statements rather than one with a variable filter: fixed ones are prepared once
    // per connection and cached.
    let own = stream_acl::table.inner_join(streams::table).filter(stream_acl::user_id.eq(listing.user_id()));
    let count: i64 = match listing {
        Listing::Public(_) => db_read!(db, get_result, own.filter(streams::is_public.eq(true)).count())?,
        Listing::Own(Actor { limit: None, .. }) => db_read!(db, get_result, own.count())?,
        Listing::Own(Actor { limit: Some(limit), .. }) => db_read!(
            db,
            get_result,
            own.filter(stream_acl::stream_id.eq_any(token_streams_of(&limit.token_id))).count()
        )?,
    };
    if let Some(epoch) = epoch {
        match listing {
            Listing::Own(Actor { limit: Some(limit), .. }) => {
                cache.put_limited_stream_count(&limit.token_id, count, epoch)
            }
            Listing::Own(Actor { user_id, limit: None, .. }) => {
                cache.put_stream_count(user_id, false, count, epoch)
            }
            Listing::Public(user_id) => cache.put_stream_count(user_id, true, count, epoch),
        }
    }
    Ok(count)
}

/// One page of a listing's streams with the user's role on each, newest first.
pub async fn page_for_user(
    db: &DbPool,
    listing: Listing<'_>,
    page: &Page,
) -> AppResult<(Vec<(models::Stream, String)>, Option<String>)> {
    // A macro, not a closure: the boxed query is typed by each backend's arm of `db_read!`.
    macro_rules! listed {
        () => {{
            let theirs = streams::table
                .inner_join(stream_acl::table)
                .filter(stream_acl::user_id.eq(listing.user_id()))
                .into_boxed();
            match listing {
                Listing::Public(_) => theirs.filter(streams::is_public.eq(true)),
                Listing::Own(Actor { limit: None, .. }) => theirs,
                Listing::Own(Actor { limit: Some(limit), .. }) => {
                    theirs.filter(stream_acl::stream_id.eq_any(token_streams_of(&limit.token_id)))
                }
            }
        }};
    }
    let rows: Vec<(models::Stream, String)> = db_read!(
        db,
        load,
        keyset!(newest_first, listed!(), page, streams::created_at, streams::id)
            .select((models::Stream::as_select(), stream_acl::role))
    )?;
    Ok(page.finish(rows, |(stream, _)| (stream.created_at, &stream.id)))
}

/// The names of these streams, by id (those that exist).
pub async fn names_of(
    conn: &mut DbConn,
    stream_ids: &[&StreamId],
) -> AppResult<std::collections::HashMap<StreamId, String>> {
    let rows: Vec<(StreamId, String)> = db_run!(conn, |c| {
        streams::table
            .filter(streams::id.eq_any(stream_ids))
            .select((streams::id, streams::name))
            .load(c)
            .await
    })?;
    Ok(rows.into_iter().collect())
}

/// The name of an owner of each of these streams (the first by name), by stream id.
pub async fn owner_names(
    conn: &mut DbConn,
    stream_ids: &[&StreamId],
) -> AppResult<std::collections::HashMap<StreamId, String>> {
    if stream_ids.is_empty() {
        return Ok(Default::default());
    }
    let rows: Vec<(StreamId, String)> = db_run!(conn, |c| {
        stream_acl::table
            .inner_join(users::table)
            .filter(stream_acl::stream_id.eq_any(stream_ids))
            .filter(stream_acl::role.eq(Role::Owner.name()))
            .order(users::name.desc())
            .select((stream_acl::stream_id, users::name))
            .load(c)
            .await
    })?;
    // Ordered by name descending, so the first by name is the one kept.
    Ok(rows.into_iter().collect())
}

/// `user_id`'s role on each of these streams that they are on, by stream id.
pub async fn roles_on(
    conn: &mut DbConn,
    user_id: &UserId,
    stream_ids: &[&StreamId],
) -> AppResult<std::collections::HashMap<StreamId, String>> {
    let rows: Vec<(StreamId, String)> = db_run!(conn, |c| {
        stream_acl::table
            .filter(stream_acl::user_id.eq(user_id))
            .filter(stream_acl::stream_id.eq_any(stream_ids))
            .select((stream_acl::stream_id, stream_acl::role))
            .load(c)
            .await
    })?;
    Ok(rows.into_iter().collect())
}

/// Which of a user's streams a listing keeps: those whose name or description holds
/// `search` (or whose id it is), and, with `roles`, those on which the user holds one of them.
#[derive(Debug, Default)]
pub struct StreamFilter {
    pub search: Option<Search>,
    pub roles: Option<Vec<Role>>,
}

/// The user's streams that `filter` keeps (a limited token's: of its streams), newest first:
/// their total, and one page.
pub async fn matching_for_user(
    db: &DbPool,
    actor: Actor<'_>,
    filter: &StreamFilter,
    page: &Page,
) -> AppResult<(i64, Vec<(models::Stream, String)>, Option<String>)> {
    let user_id = actor.user_id;
    let roles: Option<Vec<&str>> =
        filter.roles.as_ref().map(|roles| roles.iter().map(|r| r.name()).collect());
    // A macro, not a closure: the boxed query is typed by each backend's arm of `db_read!`.
    macro_rules! matching {
        () => {{
            let mine = stream_acl::table
                .inner_join(streams::table)
                .filter(stream_acl::user_id.eq(user_id))
                .into_boxed();
            let mine = match &filter.search {
                Some(search) => mine.filter(
                    lower(streams::name)
                        .like(search.pattern())
                        .escape('\\')
                        .or(lower(streams::description).like(search.pattern()).escape('\\'))
                        .or(streams::id.eq(&search.text)),
                ),
                None => mine,
            };
            let mine = match &roles {
                Some(roles) => mine.filter(stream_acl::role.eq_any(roles)),
                None => mine,
            };
            match actor.limit {
                Some(limit) => mine.filter(stream_acl::stream_id.eq_any(token_streams_of(&limit.token_id))),
                None => mine,
            }
        }};
    }
    let total: i64 = db_read!(db, get_result, matching!().count())?;
    let rows: Vec<(models::Stream, String)> = db_read!(
        db,
        load,
        keyset!(newest_first, matching!(), page, streams::created_at, streams::id)
            .select((models::Stream::as_select(), stream_acl::role))
    )?;
    let (rows, cursor) = page.finish(rows, |(stream, _)| (stream.created_at, &stream.id));
    Ok((total, rows, cursor))
}
