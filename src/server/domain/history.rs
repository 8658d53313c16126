//! What happened on streams, by whom and when: Speckle's activity (`Stream.activity`,
//! `User.activity`, `LimitedUser.activity`). Each change writes its row in its own
//! transaction ([`record_on_stream`](crate::server::db::Tx::record_on_stream)), so the activity holds exactly
//! what was done. (A token's and an account's own events are `activity.rs`, SPEC §8.)

use diesel::prelude::*;
use diesel_async::RunQueryDsl;

use crate::db_run;
use crate::rules::error::{bad_input, AppResult};
use crate::rules::limits::MAX_PAGE;
use crate::server::db::schema::{stream_acl, stream_activity, streams};
use crate::server::db::{models, new_id, DbConn, StreamId, UserId};
use crate::server::domain::reach::token_streams_of;
use crate::server::domain::reach::Actor;

/// What was done, by Speckle's names of it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Action {
    StreamCreate,
    StreamUpdate,
    StreamDelete,
    PermissionsAdd,
    PermissionsRemove,
    InviteSent,
    InviteAccepted,
    InviteDeclined,
    BranchCreate,
    BranchUpdate,
    BranchDelete,
    CommitCreate,
    CommitUpdate,
    CommitDelete,
}

impl Action {
    /// Speckle's `actionType`.
    pub fn name(self) -> &'static str {
        match self {
            Action::StreamCreate => "stream_create",
            Action::StreamUpdate => "stream_update",
            Action::StreamDelete => "stream_delete",
            Action::PermissionsAdd => "stream_permissions_add",
            Action::PermissionsRemove => "stream_permissions_remove",
            Action::InviteSent => "stream_invite_sent",
            Action::InviteAccepted => "stream_invite_accepted",
            Action::InviteDeclined => "stream_invite_declined",
            Action::BranchCreate => "branch_create",
            Action::BranchUpdate => "branch_update",
            Action::BranchDelete => "branch_delete",
            Action::CommitCreate => "commit_create",
            Action::CommitUpdate => "commit_update",
            Action::CommitDelete => "commit_delete",
        }
    }

    /// Speckle's `resourceType`: what `resourceId` names.
    pub fn resource_type(self) -> &'static str {
        match self {
            Action::StreamCreate | Action::StreamUpdate | Action::StreamDelete => "stream",
            Action::PermissionsAdd | Action::PermissionsRemove => "user",
            Action::InviteSent | Action::InviteAccepted | Action::InviteDeclined => "stream_invite",
            Action::BranchCreate | Action::BranchUpdate | Action::BranchDelete => "branch",
            Action::CommitCreate | Action::CommitUpdate | Action::CommitDelete => "commit",
        }
    }
}

crate::tx_steps! {
    /// Records, in the write's transaction, that `by` did `action` on the stream's resource
    /// `resource_id`, with Speckle's `info` and a sentence that says it.
    pub async fn record_on_stream(
        &mut self,
        stream_id: &StreamId,
        by: &UserId,
        action: Action,
        resource_id: &str,
        info: serde_json::Value,
        message: String,
    ) -> AppResult<()> {
        let row = models::StreamActivity {
            id: new_id(),
            stream_id: stream_id.clone(),
            user_id: by.clone(),
            action_type: action.name().to_owned(),
            resource_type: action.resource_type().to_owned(),
            resource_id: resource_id.to_owned(),
            info: info.to_string(),
            message,
            at: self.now,
        };
        diesel::insert_into(stream_activity::table).values(&row).execute(self.conn()).await?;
        Ok(())
    }
}

/// Which activity is asked for: Speckle's arguments (times in Unix milliseconds).
#[derive(Clone, Debug, Default)]
pub struct Filter {
    pub action_type: Option<String>,
    /// Only what happened after this moment.
    pub after: Option<i64>,
    /// Only what happened before this moment.
    pub before: Option<i64>,
    /// The page after this one: what happened before the cursor (the last item's time).
    pub cursor: Option<i64>,
    pub limit: i64,
}

impl Filter {
    /// Speckle's arguments, `limit` checked.
    pub fn new(
        action_type: Option<String>,
        after: Option<i64>,
        before: Option<i64>,
        cursor: Option<i64>,
        limit: i32,
    ) -> AppResult<Filter> {
        if !(0..=MAX_PAGE).contains(&limit) {
            return Err(bad_input(format!("limit must be between 0 and {MAX_PAGE}.")));
        }
        Ok(Filter { action_type, after, before, cursor, limit: i64::from(limit) })
    }
}

/// Whose activity, as whom.
#[derive(Clone, Copy, Debug)]
pub enum Of<'a> {
    /// Everything on the stream (its reader was checked).
    Stream(&'a StreamId),
    /// What happened to one of the stream's branches or commits.
    Resource { stream: &'a StreamId, resource: &'a str },
    /// What the user did, on any stream: their own activity (a limited token's: on its
    /// streams).
    Own(Actor<'a>),
    /// What happened on the streams the user is on (Speckle's timeline; a limited token's:
    /// its streams).
    StreamsOf(Actor<'a>),
    /// What happened on the public streams `user` is on (another user's timeline).
    PublicStreamsOf(&'a UserId),
    /// What `user` did, on streams `viewer` may read (public ones, and those they are on and
    /// their token reaches).
    SeenBy { user: &'a UserId, viewer: Option<Actor<'a>> },
}

/// A page of activity, newest first, and how much there is in all.
pub async fn page(
    conn: &mut DbConn,
    of: Of<'_>,
    filter: &Filter,
) -> AppResult<(Vec<models::StreamActivity>, i64)> {
    macro_rules! filtered {
        () => {{
            let mut query = stream_activity::table.into_boxed();
            query = match of {
                Of::Stream(stream_id) => query.filter(stream_activity::stream_id.eq(stream_id)),
                Of::Resource { stream, resource } => query
                    .filter(stream_activity::stream_id.eq(stream))
                    .filter(stream_activity::resource_id.eq(resource.to_owned())),
                Of::Own(actor) => query.filter(stream_activity::user_id.eq(actor.user_id)),
                Of::StreamsOf(actor) => query.filter(
                    stream_activity::stream_id.eq_any(
                        stream_acl::table
                            .filter(stream_acl::user_id.eq(actor.user_id))
                            .select(stream_acl::stream_id),
                    ),
                ),
                Of::PublicStreamsOf(user) => query
                    .filter(stream_activity::stream_id.eq_any(
                        stream_acl::table.filter(stream_acl::user_id.eq(user)).select(stream_acl::stream_id),
                    ))
                    .filter(
                        stream_activity::stream_id
                            .eq_any(streams::table.filter(streams::is_public.eq(true)).select(streams::id)),
                    ),
                Of::SeenBy { user, viewer } => {
                    let public = streams::table.filter(streams::is_public.eq(true)).select(streams::id);
                    let viewer_id = viewer.map(|viewer| viewer.user_id);
                    let mut theirs = stream_acl::table
                        .filter(
                            stream_acl::user_id
                                .eq(viewer_id.cloned().unwrap_or_else(|| UserId::from(String::new()))),
                        )
                        .select(stream_acl::stream_id)
                        .into_boxed();
                    if let Some(limit) = viewer.and_then(|viewer| viewer.limit) {
                        theirs =
                            theirs.filter(stream_acl::stream_id.eq_any(token_streams_of(&limit.token_id)));
                    }
                    query.filter(stream_activity::user_id.eq(user)).filter(
                        stream_activity::stream_id
                            .eq_any(public)
                            .or(stream_activity::stream_id.eq_any(theirs)),
                    )
                }
            };
            // A limited token's own activity and timeline: on its streams only.
            if let Of::Own(Actor { limit: Some(limit), .. })
            | Of::StreamsOf(Actor { limit: Some(limit), .. }) = of
            {
                query = query.filter(stream_activity::stream_id.eq_any(token_streams_of(&limit.token_id)));
            }
            if let Some(action) = &filter.action_type {
                query = query.filter(stream_activity::action_type.eq(action.clone()));
            }
            if let Some(after) = filter.after {
                query = query.filter(stream_activity::at.gt(after));
            }
            if let Some(before) = filter.before {
                query = query.filter(stream_activity::at.lt(before));
            }
            query
        }};
    }
    let total: i64 = db_run!(conn, |c| filtered!().count().get_result(c).await)?;
    let rows = db_run!(conn, |c| {
        let mut query = filtered!();
        if let Some(cursor) = filter.cursor {
            query = query.filter(stream_activity::at.lt(cursor));
        }
        query
            .order((stream_activity::at.desc(), stream_activity::id.desc()))
            .limit(filter.limit)
            .select(models::StreamActivity::as_select())
            .load(c)
            .await
    })?;
    Ok((rows, total))
}
