//! The steps every token write's transaction is made of, written once: lock the user's row,
//! count what they hold, insert a row, revoke a tree, retire a replaced token. Each runs
//! inside a transaction (`c` is its connection).

/// Takes the user's row lock before anything is read in a token write's transaction: two
/// writes for one user run one after the other, on both backends (SQLite then never has to
/// upgrade a read lock).
macro_rules! lock_user {
    ($c:ident, $user_id:expr) => {
        diesel::update(users::table.find($user_id))
            .set(users::created_at.eq(users::created_at))
            .execute($c)
            .await?
    };
}

/// How many tokens the user holds against
/// [`MAX_LIVE_TOKENS`](crate::rules::limits::MAX_LIVE_TOKENS): every token not revoked that
/// may still work or be renewed (expired ones until revoked, regenerated ones until their
/// grace period ends). Runs inside a write's transaction, after `lock_user!`.
macro_rules! held {
    ($c:ident, $user_id:expr, $now:expr) => {
        api_tokens::table
            .filter(api_tokens::user_id.eq($user_id))
            .filter(api_tokens::revoked_at.is_null())
            .filter(api_tokens::grace_until.is_null().or(api_tokens::grace_until.gt($now)))
            .count()
            .get_result::<i64>($c)
            .await?
    };
}

/// Inserts a token row with its digest.
macro_rules! insert_row {
    ($c:ident, $row:expr, $digest:expr) => {{
        let row: &models::ApiToken = $row;
        diesel::insert_into(api_tokens::table)
            .values((
                api_tokens::id.eq(&row.id),
                api_tokens::user_id.eq(&row.user_id),
                api_tokens::name.eq(&row.name),
                api_tokens::token_digest.eq($digest.as_bytes()),
                api_tokens::last_chars.eq(&row.last_chars),
                api_tokens::scopes.eq(&row.scopes),
                api_tokens::created_at.eq(row.created_at),
                api_tokens::expires_at.eq(row.expires_at),
                api_tokens::description.eq(&row.description),
                api_tokens::parent_id.eq(&row.parent_id),
                api_tokens::family_id.eq(&row.family_id),
                api_tokens::replaces.eq(&row.replaces),
            ))
            .execute($c)
            .await?
    }};
}

/// Revokes `$roots` (ids and names, live) for `$revoker`, then what they minted, level by
/// level, each for its parent; records an event per token. Answers how many were revoked.
/// Runs inside a write's transaction, after `lock_user!`.
macro_rules! revoke_tree {
    ($c:ident, $user_id:expr, $roots:expr, $revoker:expr, $seen:expr, $now:expr) => {{
        let mut level: Vec<(String, String, Revoker)> =
            $roots.into_iter().map(|(id, name)| (id, name, $revoker.clone())).collect();
        let mut count = 0usize;
        while !level.is_empty() {
            let mut events = Vec::with_capacity(level.len());
            for (id, _, revoker) in &level {
                let reason = revoker.describe();
                diesel::update(api_tokens::table.find(id).filter(api_tokens::revoked_at.is_null()))
                    .set((api_tokens::revoked_at.eq($now), api_tokens::revoked_reason.eq(&reason)))
                    .execute($c)
                    .await?;
                events.push(event(
                    $user_id,
                    Some(id.as_str()),
                    EventKind::Revoked,
                    Some(reason),
                    $seen,
                    $now,
                ));
            }
            record_events!($c, &events);
            count += level.len();
            let parents: Vec<&String> = level.iter().map(|(id, _, _)| id).collect();
            let children: Vec<(String, String, Option<String>)> = api_tokens::table
                .filter(api_tokens::user_id.eq($user_id))
                .filter(api_tokens::parent_id.eq_any(&parents))
                .filter(api_tokens::revoked_at.is_null())
                .select((api_tokens::id, api_tokens::name, api_tokens::parent_id))
                .load($c)
                .await?;
            level = children
                .into_iter()
                .map(|(id, name, parent)| {
                    let parent_name = level
                        .iter()
                        .find(|(pid, _, _)| Some(pid) == parent.as_ref())
                        .map(|(_, name, _)| name.clone())
                        .unwrap_or_default();
                    (id, name, Revoker::Parent(parent_name))
                })
                .collect();
        }
        count
    }};
}

/// Marks a regenerated token `$old_id` of `$user_id` revoked at `$at` (it was used up, or its
/// grace period ended), with `$why` in the event; what it minted in its grace period passes to
/// its successor, as at regeneration. Answers whether it was still to mark (another request or
/// server may have marked it first). Runs inside a write's transaction.
macro_rules! retire {
    ($c:ident, $old_id:expr, $user_id:expr, $at:expr, $why:expr, $seen:expr) => {{
        let (old_id, user_id, at): (&str, &str, i64) = ($old_id, $user_id, $at);
        let reason = Revoker::Replaced.describe();
        let ended = diesel::update(api_tokens::table.find(old_id).filter(api_tokens::revoked_at.is_null()))
            .set((api_tokens::revoked_at.eq(at), api_tokens::revoked_reason.eq(&reason)))
            .execute($c)
            .await?;
        if ended > 0 {
            let successor: Option<String> = api_tokens::table
                .filter(api_tokens::replaces.eq(old_id))
                .select(api_tokens::id)
                .first($c)
                .await
                .optional()?;
            if let Some(successor) = successor {
                diesel::update(api_tokens::table.filter(api_tokens::parent_id.eq(old_id)))
                    .set(api_tokens::parent_id.eq(successor))
                    .execute($c)
                    .await?;
            }
            let ended = event(user_id, Some(old_id), EventKind::Revoked, Some($why.to_owned()), $seen, at);
            record_events!($c, std::slice::from_ref(&ended));
        }
        ended > 0
    }};
}
