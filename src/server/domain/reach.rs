//! How far a token reaches (SPEC §12): every stream its owner can, or only chosen ones, each
//! `Read` or `Read and write`. A limited token's streams are read with the token (one more
//! indexed read, for limited tokens only) and kept with its caller; every door then asks
//! [`streams::readable`](super::streams::readable) for one stream, or a listing that filters
//! with [`Actor::limit`] in its query, so the rule is applied in one place for each.
//!
//! A token's streams only ever shrink: a row goes with its stream, and with its owner's role
//! on it ([`Tx::drop_from_tokens`]), so a token never gains a stream.

use std::collections::BTreeMap;

use diesel::prelude::*;
use diesel_async::RunQueryDsl;

use crate::rules::error::{bad_input, not_found, token_limit, AppResult};
use crate::rules::limits::MAX_TOKEN_STREAMS;
use crate::server::db::cache::Touched;
use crate::server::db::schema::{api_tokens, stream_acl, streams, token_streams, token_usage};
use crate::server::db::{models, DbConn, DbPool, StreamId, TokenId, Topic, UserId};
use crate::{db_read, db_run};

/// What a limited token may do on one of its streams.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Level {
    /// Read it, as its owner can.
    Read,
    /// Read and write it, as far as its owner's role and the token's scopes allow.
    Write,
}

impl Level {
    /// Its stored name (and the API's, upper-cased: `READ`, `WRITE`).
    pub fn name(self) -> &'static str {
        match self {
            Level::Read => "read",
            Level::Write => "write",
        }
    }

    pub fn from_stored(name: &str) -> Option<Level> {
        [Level::Read, Level::Write].into_iter().find(|level| level.name() == name)
    }
}

/// The streams a limited token reaches, each at its level.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StreamLimit {
    pub token_id: TokenId,
    pub streams: BTreeMap<StreamId, Level>,
}

impl StreamLimit {
    /// The token's level on this stream; none outside its streams.
    pub fn level(&self, stream_id: &StreamId) -> Option<Level> {
        self.streams.get(stream_id).copied()
    }
}

/// Who acts on streams: a person, through the browser or through a token, as far as the
/// token's streams let them (`limit`; none: every stream the person can reach).
#[derive(Clone, Copy, Debug)]
pub struct Actor<'a> {
    pub user_id: &'a UserId,
    pub limit: Option<&'a StreamLimit>,
    /// Where a token's use is noted (SPEC §12's "Narrow it"); none for a person.
    pub touched: Option<&'a Touched>,
}

impl<'a> Actor<'a> {
    /// The person themself (a signed-in browser, or an unlimited token).
    pub fn person(user_id: &'a UserId) -> Actor<'a> {
        Actor { user_id, limit: None, touched: None }
    }

    /// Refuses, for a limited token, what no stream of it covers (creating a stream,
    /// accepting an invitation): SPEC §12's "outside this token's streams".
    pub fn refuse_if_limited(&self, action: &str) -> AppResult<()> {
        match self.limit {
            Some(_) => Err(outside(action)),
            None => Ok(()),
        }
    }
}

/// The refusal of an action outside a limited token's streams.
pub fn outside(action: &str) -> crate::rules::error::AppError {
    token_limit(format!("This token cannot {action}: that is outside this token's streams."))
}

/// The refusal of a write on a stream the token may only read.
pub fn read_only(action: &str) -> crate::rules::error::AppError {
    token_limit(format!("This token may only read this stream, so it cannot {action}."))
}

/// The ids of a limited token's streams, as a subquery: the one filter of every listing of a
/// limited token (a fixed statement, prepared once per connection).
pub fn token_streams_of(
    token_id: &TokenId,
) -> diesel::dsl::Select<
    diesel::dsl::Filter<token_streams::table, diesel::dsl::Eq<token_streams::token_id, &TokenId>>,
    token_streams::stream_id,
> {
    token_streams::table.filter(token_streams::token_id.eq(token_id)).select(token_streams::stream_id)
}

/// A limited token's streams, as stored: read with the token by the bearer check.
pub async fn load(db: &DbPool, token_id: &TokenId) -> AppResult<StreamLimit> {
    let rows: Vec<(StreamId, String)> = db_read!(
        db,
        load,
        token_streams::table
            .filter(token_streams::token_id.eq(token_id))
            .select((token_streams::stream_id, token_streams::access))
    )?;
    Ok(StreamLimit { token_id: token_id.clone(), streams: levels(rows) })
}

/// A token's streams, for its owner to see (its activity page, `limitResources`).
pub async fn of_token(conn: &mut DbConn, token_id: &TokenId) -> AppResult<BTreeMap<StreamId, Level>> {
    let rows: Vec<(StreamId, String)> = db_run!(conn, |c| {
        token_streams::table
            .filter(token_streams::token_id.eq(token_id))
            .select((token_streams::stream_id, token_streams::access))
            .load(c)
            .await
    })?;
    Ok(levels(rows))
}

/// One of a limited token's streams, named, as its owner's pages show it.
#[derive(Clone, Debug)]
pub struct Named {
    pub token_id: TokenId,
    pub stream_id: StreamId,
    pub name: String,
    pub level: Level,
}

/// The streams of these tokens (those that are limited), by stream name.
pub async fn named(conn: &mut DbConn, token_ids: &[&TokenId]) -> AppResult<Vec<Named>> {
    let rows: Vec<(TokenId, StreamId, String, String)> = db_run!(conn, |c| {
        token_streams::table
            .inner_join(streams::table)
            .filter(token_streams::token_id.eq_any(token_ids))
            .order((streams::name.asc(), streams::id.asc()))
            .select((token_streams::token_id, token_streams::stream_id, streams::name, token_streams::access))
            .load(c)
            .await
    })?;
    Ok(rows
        .into_iter()
        .filter_map(|(token_id, stream_id, name, access)| {
            Some(Named { token_id, stream_id, name, level: Level::from_stored(&access)? })
        })
        .collect())
}

/// How far back "Narrow it" looks at what a token used (SPEC §12).
pub const USAGE_WINDOW_MS: i64 = 30 * crate::rules::limits::DAY_MS;

/// The `what` of a token that reached more streams than are kept.
const MANY_STREAMS: &str = "stream:*";

/// Writes what the token used since the last write (see [`Touched`]): called with the
/// last-used time, at most once a minute per token.
pub async fn write_touched(
    conn: &mut DbConn,
    token_id: &TokenId,
    touched: &Touched,
    now: i64,
) -> AppResult<()> {
    let (bits, streams, overflowed) = touched.take();
    let mut used: Vec<String> = crate::rules::scopes::ScopeSet::from_bits(bits)
        .iter()
        .map(|scope| format!("scope:{}", scope.name()))
        .collect();
    used.extend(streams.iter().map(|stream_id| format!("stream:{stream_id}")));
    if overflowed {
        used.push(MANY_STREAMS.to_owned());
    }
    for what in &used {
        db_run!(conn, |c| {
            diesel::insert_into(token_usage::table)
                .values((
                    token_usage::token_id.eq(token_id),
                    token_usage::what.eq(what),
                    token_usage::last_at.eq(now),
                ))
                .on_conflict((token_usage::token_id, token_usage::what))
                .do_update()
                .set(token_usage::last_at.eq(now))
                .execute(c)
                .await
        })?;
    }
    Ok(())
}

/// What a token could be narrowed to: the scopes it used in the last 30 days, and the streams
/// (none: as it is).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Narrowing {
    pub scopes: crate::rules::scopes::ScopeSet,
    pub streams: Option<BTreeMap<StreamId, Level>>,
}

/// SPEC §12's "Narrow it": when the token used fewer scopes or streams in the last 30 days
/// than it holds, exactly those (a stream at `Read` unless it wrote; one its owner is no
/// longer on left out). None when it used nothing, or all it holds.
pub async fn narrowing(conn: &mut DbConn, row: &models::ApiToken, now: i64) -> AppResult<Option<Narrowing>> {
    use crate::rules::scopes::{Scope, ScopeSet};
    let since = now - USAGE_WINDOW_MS;
    let token_id = &row.id;
    let used: Vec<String> = db_run!(conn, |c| {
        token_usage::table
            .filter(token_usage::token_id.eq(token_id))
            .filter(token_usage::last_at.gt(since))
            .select(token_usage::what)
            .load(c)
            .await
    })?;
    let held = ScopeSet::from_names(&row.scopes).unwrap_or_default();
    let scopes = used
        .iter()
        .filter_map(|what| Scope::from_name(what.strip_prefix("scope:")?))
        .fold(ScopeSet::default(), |mut set, scope| {
            set.insert(scope);
            set
        })
        .intersection(held);
    if scopes.is_empty() {
        return Ok(None);
    }
    let writes = scopes.contains(Scope::StreamsWrite);
    let level = |held: Level| if writes { held } else { Level::Read };
    let reached: Vec<StreamId> =
        used.iter().filter_map(|what| Some(StreamId::from(what.strip_prefix("stream:")?))).collect();
    let many = used.iter().any(|what| what == MANY_STREAMS);
    let current = match row.limited {
        true => Some(of_token(conn, token_id).await?),
        false => None,
    };
    let streams = match (&current, many || reached.is_empty()) {
        (Some(current), true) => Some(current.iter().map(|(id, held)| (id.clone(), level(*held))).collect()),
        (None, true) => None,
        (Some(current), false) => Some(
            current
                .iter()
                .filter(|(id, _)| reached.contains(id))
                .map(|(id, held)| (id.clone(), level(*held)))
                .collect(),
        ),
        (None, false) => {
            let on = on_streams(conn, &row.user_id, &reached.iter().collect::<Vec<_>>()).await?;
            (!on.is_empty()).then(|| on.into_iter().map(|id| (id, level(Level::Write))).collect())
        }
    };
    let narrower = scopes != held || streams != current;
    Ok(narrower.then_some(Narrowing { scopes, streams }))
}

/// Which of these streams `user_id` is on (has a role on).
async fn on_streams(conn: &mut DbConn, user_id: &UserId, ids: &[&StreamId]) -> AppResult<Vec<StreamId>> {
    Ok(db_run!(conn, |c| {
        stream_acl::table
            .filter(stream_acl::user_id.eq(user_id))
            .filter(stream_acl::stream_id.eq_any(ids))
            .select(stream_acl::stream_id)
            .load(c)
            .await
    })?)
}

/// Stored rows of `token_streams` as streams and levels.
fn levels(rows: Vec<(StreamId, String)>) -> BTreeMap<StreamId, Level> {
    rows.into_iter().filter_map(|(id, access)| Some((id, Level::from_stored(&access)?))).collect()
}

/// The streams a client chose for a new token, checked: at most [`MAX_TOKEN_STREAMS`], none
/// twice, each one that `user_id` is on (any other is "not found", whether it exists or not),
/// and within `parent`'s streams and levels when a limited token mints or regenerates.
pub async fn check(
    conn: &mut DbConn,
    user_id: &UserId,
    chosen: &[(StreamId, Level)],
    parent: Option<&StreamLimit>,
) -> AppResult<BTreeMap<StreamId, Level>> {
    if chosen.is_empty() {
        return Err(bad_input("limitResources: choose at least one stream, or none to reach all streams."));
    }
    if chosen.len() > MAX_TOKEN_STREAMS {
        return Err(bad_input(format!(
            "limitResources: a token reaches at most {MAX_TOKEN_STREAMS} streams."
        )));
    }
    let mut streams = BTreeMap::new();
    for (stream_id, level) in chosen {
        if streams.insert(stream_id.clone(), *level).is_some() {
            return Err(bad_input(format!("limitResources: stream {stream_id} is listed twice.")));
        }
    }
    let ids: Vec<&StreamId> = streams.keys().collect();
    let on = on_streams(conn, user_id, &ids).await?;
    if let Some(missing) = ids.iter().find(|id| !on.contains(id)) {
        return Err(not_found(&format!("Stream {missing}")));
    }
    within(parent, Some(&streams))?;
    Ok(streams)
}

/// SPEC §12's subset rule: a token minted (or regenerated) by a limited token reaches only
/// that token's streams, each at most at its level (`streams` none: every stream, refused).
pub fn within(parent: Option<&StreamLimit>, streams: Option<&BTreeMap<StreamId, Level>>) -> AppResult<()> {
    let Some(parent) = parent else { return Ok(()) };
    let Some(streams) = streams else { return Err(outside("give another token every stream")) };
    for (stream_id, level) in streams {
        match parent.level(stream_id) {
            Some(held) if held >= *level => {}
            Some(_) => {
                return Err(token_limit(format!(
                    "This token may only read stream {stream_id}, so it cannot give another token more."
                )))
            }
            None => return Err(outside("give another token a stream")),
        }
    }
    Ok(())
}

/// What a new token's streams are to be: the chosen ones, checked; without a choice, those of
/// the limited token that mints it (a token never widens); else none (every stream).
pub async fn for_new_token(
    conn: &mut DbConn,
    user_id: &UserId,
    chosen: Option<&[(StreamId, Level)]>,
    parent: Option<&StreamLimit>,
) -> AppResult<Option<BTreeMap<StreamId, Level>>> {
    match (chosen, parent) {
        (Some(chosen), parent) => check(conn, user_id, chosen, parent).await.map(Some),
        (None, Some(parent)) => Ok(Some(parent.streams.clone())),
        (None, None) => Ok(None),
    }
}

crate::tx_steps! {
    /// A token's streams, as this transaction sees them.
    pub async fn streams_of_token(&mut self, token_id: &TokenId) -> AppResult<BTreeMap<StreamId, Level>> {
        let rows: Vec<(StreamId, String)> = token_streams::table
            .filter(token_streams::token_id.eq(token_id))
            .select((token_streams::stream_id, token_streams::access))
            .load(self.conn())
            .await?;
        Ok(levels(rows))
    }

    /// Gives a limited token that is being created its streams: those of `streams` that
    /// still exist (one deleted since they were chosen is left out, as it would drop out).
    pub async fn limit_token(&mut self, token_id: &TokenId, streams: &BTreeMap<StreamId, Level>) -> AppResult<()> {
        let ids: Vec<&StreamId> = streams.keys().collect();
        let existing: Vec<StreamId> =
            streams::table.filter(streams::id.eq_any(&ids)).select(streams::id).load(self.conn()).await?;
        // One row at a time (at most 100): SQLite's asynchronous connection has no batch insert.
        for (stream_id, level) in streams.iter().filter(|(id, _)| existing.contains(id)) {
            let row = models::TokenStream {
                token_id: token_id.clone(),
                stream_id: stream_id.clone(),
                access: level.name().to_owned(),
            };
            diesel::insert_into(token_streams::table).values(&row).execute(self.conn()).await?;
        }
        Ok(())
    }

    /// Drops `stream_id` from the streams of `user_id`'s tokens, once they leave it: it does
    /// not come back if they return. Ends the tokens' epoch, since callers keep their streams.
    pub async fn drop_from_tokens(&mut self, user_id: &UserId, stream_id: &StreamId) -> AppResult<()> {
        let theirs = api_tokens::table.filter(api_tokens::user_id.eq(user_id)).select(api_tokens::id);
        diesel::delete(
            token_streams::table
                .filter(token_streams::stream_id.eq(stream_id))
                .filter(token_streams::token_id.eq_any(theirs)),
        )
        .execute(self.changing(Topic::Tokens))
        .await?;
        Ok(())
    }
}
