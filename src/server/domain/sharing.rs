//! Who is on a stream: giving a role, taking it away, leaving (SPEC §5), each in one
//! transaction with the event it publishes and the activity it records. A stream keeps at
//! least one owner.

use diesel::prelude::*;
use diesel_async::RunQueryDsl;

use crate::rules::error::{bad_input, forbidden, not_found, AppError, AppResult};
use crate::server::db::events::{Change, Event};
use crate::server::db::schema::{stream_acl, users};
use crate::server::db::{models, DbConn, StreamId, Topic, UserId};
use crate::server::domain::history::Action;
use crate::server::domain::reach::Actor;
use crate::server::domain::streams::{readable, Role};
use crate::{db_run, db_tx};

crate::tx_steps! {
    /// Publishes that `user_id` comes onto the stream (when they are not on it yet) and that
    /// its team changed: call before giving them a role.
    pub async fn publish_joining(&mut self, stream_id: &StreamId, user_id: &UserId, by: Option<&UserId>) -> AppResult<()> {
        let on_it: i64 = stream_acl::table
            .filter(stream_acl::stream_id.eq(stream_id))
            .filter(stream_acl::user_id.eq(user_id))
            .count()
            .get_result(self.conn())
            .await?;
        if on_it == 0 {
            let by = by.filter(|by| *by != user_id).cloned();
            self.publish(Event::Member { stream: stream_id.clone(), user: user_id.clone(), joined: true, by });
        }
        self.publish(Event::Stream { stream: stream_id.clone(), change: Change::Updated });
        Ok(())
    }

    /// Publishes that `user_id` left the stream (`by` someone else, or themselves) and that
    /// its team changed.
    pub fn publish_leaving(&mut self, stream_id: &StreamId, user_id: &UserId, by: Option<&UserId>) {
        let by = by.filter(|by| *by != user_id).cloned();
        self.publish(Event::Member { stream: stream_id.clone(), user: user_id.clone(), joined: false, by });
        self.publish(Event::Stream { stream: stream_id.clone(), change: Change::Updated });
    }

    /// Refuses to take the owner role from `losing` (the user about to lose it, if any) when
    /// they are the stream's only owner. After [`still_owner`](Self::still_owner).
    pub async fn keep_an_owner(&mut self, stream_id: &StreamId, losing: Option<&UserId>) -> AppResult<()> {
        let owners: Vec<UserId> = stream_acl::table
            .filter(stream_acl::stream_id.eq(stream_id))
            .filter(stream_acl::role.eq(Role::Owner.name()))
            .select(stream_acl::user_id)
            .load(self.conn())
            .await?;
        if owners.len() == 1 && losing == Some(&owners[0]) {
            return Err(bad_input("A stream must keep at least one owner: make someone else owner first."));
        }
        Ok(())
    }
}

/// Gives `target_id` a role on the stream, or changes it (owners only). A stream keeps at
/// least one owner.
pub async fn grant(
    conn: &mut DbConn,
    actor: Actor<'_>,
    stream_id: &StreamId,
    target_id: &UserId,
    role: Role,
) -> AppResult<()> {
    let user_id = actor.user_id;
    readable(conn, stream_id, Some(actor)).await?.require_owner("share it")?;
    let target_exists: i64 =
        db_run!(conn, |c| users::table.filter(users::id.eq(target_id)).count().get_result(c).await)?;
    if target_exists == 0 {
        return Err(not_found("User"));
    }
    let row = models::StreamAcl {
        stream_id: stream_id.clone(),
        user_id: target_id.clone(),
        role: role.name().into(),
    };
    db_tx!(conn, |tx| {
        tx.still_owner(stream_id, user_id, "share it").await?;
        tx.keep_an_owner(stream_id, (role != Role::Owner).then_some(target_id)).await?;
        tx.publish_joining(stream_id, target_id, Some(user_id)).await?;
        diesel::insert_into(stream_acl::table)
            .values(&row)
            .on_conflict((stream_acl::stream_id, stream_acl::user_id))
            .do_update()
            .set(stream_acl::role.eq(&row.role))
            .execute(tx.changing(Topic::Streams))
            .await?;
        let info = serde_json::json!({ "targetUser": target_id, "role": row.role });
        let message = format!("Permission granted to user {target_id} ({})", row.role);
        tx.record_on_stream(stream_id, user_id, Action::PermissionsAdd, target_id.as_str(), info, message)
            .await?;
        Ok(())
    })
}

/// Removes `target_id`'s role on the stream (owners only); the last owner stays.
pub async fn revoke(
    conn: &mut DbConn,
    actor: Actor<'_>,
    stream_id: &StreamId,
    target_id: &UserId,
) -> AppResult<()> {
    let user_id = actor.user_id;
    readable(conn, stream_id, Some(actor)).await?.require_owner("change who it is shared with")?;
    db_tx!(conn, |tx| {
        tx.still_owner(stream_id, user_id, "change who it is shared with").await?;
        tx.keep_an_owner(stream_id, Some(target_id)).await?;
        let removed = diesel::delete(stream_acl::table.find((stream_id, target_id)))
            .execute(tx.changing(Topic::Streams))
            .await?;
        if removed == 0 {
            return Err(not_found("Collaborator"));
        }
        tx.drop_from_tokens(target_id, stream_id).await?;
        tx.publish_leaving(stream_id, target_id, Some(user_id));
        let info = serde_json::json!({ "targetUser": target_id });
        let message = format!("Permission revoked for user {target_id}");
        tx.record_on_stream(stream_id, user_id, Action::PermissionsRemove, target_id.as_str(), info, message)
            .await?;
        Ok(())
    })
}

/// Whether the user, whose role on the stream is `role`, may leave it: a collaborator, and
/// not its last owner (who deletes it instead).
pub async fn may_leave(
    conn: &mut DbConn,
    user_id: &UserId,
    stream_id: &StreamId,
    role: Option<Role>,
) -> AppResult<()> {
    if role.is_none() {
        return Err(not_a_collaborator());
    }
    db_tx!(conn, |tx| { tx.keep_an_owner(stream_id, Some(user_id)).await })
}

fn not_a_collaborator() -> AppError {
    forbidden("You are not a collaborator of this stream.")
}

/// Takes the user off a stream they are on, as [`may_leave`] allows.
pub async fn leave(conn: &mut DbConn, actor: Actor<'_>, stream_id: &StreamId) -> AppResult<()> {
    let user_id = actor.user_id;
    let access = readable(conn, stream_id, Some(actor)).await?;
    access.require_unnarrowed("leave it")?;
    may_leave(conn, user_id, stream_id, access.role).await?;
    db_tx!(conn, |tx| {
        if tx.role_under_lock(stream_id, user_id).await?.is_none() {
            return Err(not_a_collaborator());
        }
        tx.keep_an_owner(stream_id, Some(user_id)).await?;
        diesel::delete(stream_acl::table.find((stream_id, user_id)))
            .execute(tx.changing(Topic::Streams))
            .await?;
        tx.drop_from_tokens(user_id, stream_id).await?;
        tx.publish_leaving(stream_id, user_id, None);
        let info = serde_json::json!({ "targetUser": user_id });
        let message = format!("User {user_id} left the stream");
        tx.record_on_stream(stream_id, user_id, Action::PermissionsRemove, user_id.as_str(), info, message)
            .await?;
        Ok(())
    })
}
