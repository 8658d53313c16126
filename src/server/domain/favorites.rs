//! Favourites, as Speckle keeps them: a user marks a stream they can read; the stream counts
//! its favourites, the user lists theirs (only those they can still read).

use diesel::prelude::*;
use diesel_async::RunQueryDsl;

use crate::rules::error::AppResult;
use crate::server::db::schema::{stream_acl, stream_favorites, streams};
use crate::server::db::{models, DbConn, StreamId, UserId};
use crate::server::domain::pagination::Page;
use crate::server::domain::reach::token_streams_of;
use crate::server::domain::reach::Actor;
use crate::server::domain::streams::{readable, Role};
use crate::{db_run, keyset};

/// Marks (`favorited`) or unmarks a stream the user can read as one of their favourites.
pub async fn set(
    conn: &mut DbConn,
    actor: Actor<'_>,
    stream_id: &StreamId,
    favorited: bool,
) -> AppResult<()> {
    let user_id = actor.user_id;
    readable(conn, stream_id, Some(actor)).await?;
    let now = conn.now();
    db_run!(conn, |c| {
        if favorited {
            diesel::insert_into(stream_favorites::table)
                .values((
                    stream_favorites::user_id.eq(user_id),
                    stream_favorites::stream_id.eq(stream_id),
                    stream_favorites::created_at.eq(now),
                ))
                .on_conflict_do_nothing()
                .execute(c)
                .await
        } else {
            diesel::delete(stream_favorites::table.find((user_id, stream_id))).execute(c).await
        }
    })?;
    Ok(())
}

/// How many users favour the stream.
pub async fn count(conn: &mut DbConn, stream_id: &StreamId) -> AppResult<i64> {
    Ok(db_run!(conn, |c| {
        stream_favorites::table.filter(stream_favorites::stream_id.eq(stream_id)).count().get_result(c).await
    })?)
}

/// When the user marked the stream as a favourite, if they did.
pub async fn favorited_at(
    conn: &mut DbConn,
    user_id: &UserId,
    stream_id: &StreamId,
) -> AppResult<Option<i64>> {
    Ok(db_run!(conn, |c| {
        stream_favorites::table
            .find((user_id, stream_id))
            .select(stream_favorites::created_at)
            .first(c)
            .await
            .optional()
    })?)
}

/// How many favourites the streams the user owns have.
pub async fn of_owned(conn: &mut DbConn, user_id: &UserId) -> AppResult<i64> {
    Ok(db_run!(conn, |c| {
        stream_favorites::table
            .inner_join(
                stream_acl::table.on(stream_acl::stream_id
                    .eq(stream_favorites::stream_id)
                    .and(stream_acl::user_id.eq(user_id))
                    .and(stream_acl::role.eq(Role::Owner.name()))),
            )
            .count()
            .get_result(c)
            .await
    })?)
}

/// A favourite stream, with the user's role on it and when they marked it.
pub type Favorite = (models::Stream, Option<String>, i64);

/// The user's favourite streams that they can still read, latest marked first: their total,
/// and one page.
pub async fn page_for_user(
    conn: &mut DbConn,
    actor: Actor<'_>,
    page: &Page,
) -> AppResult<(i64, Vec<Favorite>, Option<String>)> {
    let user_id = actor.user_id;
    // A macro, not a closure: the query is typed by each backend's arm of `db_run!`.
    macro_rules! readable_favorites {
        () => {{
            let favorites = stream_favorites::table
                .inner_join(streams::table)
                .left_join(
                    stream_acl::table.on(stream_acl::stream_id
                        .eq(stream_favorites::stream_id)
                        .and(stream_acl::user_id.eq(user_id))),
                )
                .filter(stream_favorites::user_id.eq(user_id))
                .filter(streams::is_public.eq(true).or(stream_acl::role.is_not_null()))
                .into_boxed();
            // A limited token's favourites: those among its streams (SPEC §12).
            match actor.limit {
                Some(limit) => {
                    favorites.filter(stream_favorites::stream_id.eq_any(token_streams_of(&limit.token_id)))
                }
                None => favorites,
            }
        }};
    }
    let total: i64 = db_run!(conn, |c| readable_favorites!().count().get_result(c).await)?;
    let rows: Vec<Favorite> = db_run!(conn, |c| {
        keyset!(
            newest_first,
            readable_favorites!(),
            page,
            stream_favorites::created_at,
            stream_favorites::stream_id
        )
        .select((models::Stream::as_select(), stream_acl::role.nullable(), stream_favorites::created_at))
        .load(c)
        .await
    })?;
    let (rows, cursor) = page.finish(rows, |(stream, _, at)| (*at, &stream.id));
    Ok((total, rows, cursor))
}
