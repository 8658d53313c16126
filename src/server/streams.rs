//! The stream domain: which streams a user can see, and in which role.

use diesel::prelude::*;
use diesel_async::RunQueryDsl;

use crate::db_run;
use crate::error::AppResult;
use crate::server::db::schema::{stream_acl, streams};
use crate::server::db::{models, DbConn};

/// How many streams the user collaborates on.
pub async fn count_for_user(conn: &mut DbConn, user_id: &str) -> AppResult<i64> {
    Ok(db_run!(conn, |c| {
        stream_acl::table.filter(stream_acl::user_id.eq(user_id)).count().get_result::<i64>(c).await
    })?)
}

/// The streams the user collaborates on, with the user's role, newest first.
pub async fn list_for_user(
    conn: &mut DbConn,
    user_id: &str,
    limit: i64,
) -> AppResult<Vec<(models::Stream, String)>> {
    Ok(db_run!(conn, |c| {
        streams::table
            .inner_join(stream_acl::table)
            .filter(stream_acl::user_id.eq(user_id))
            .order((streams::created_at.desc(), streams::id.desc()))
            .limit(limit)
            .select((models::Stream::as_select(), stream_acl::role))
            .load(c)
            .await
    })?)
}
