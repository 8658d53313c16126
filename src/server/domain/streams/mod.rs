//! The stream domain: who may read, write and share a stream, its collaborators and commits.
//! A private stream the caller cannot read is "not found", never a hint that it exists.

mod lists;

pub use lists::*;

use diesel::prelude::*;
use diesel_async::RunQueryDsl;

use crate::rules::error::{bad_input, forbidden, not_found, AppError, AppResult};
use crate::rules::limits::MAIN_BRANCH;
use crate::rules::scopes::{Scope, ScopeSet};
use crate::rules::text::{STREAM_DESCRIPTION, STREAM_NAME};
use crate::server::db::events::{Change, Event};
use crate::server::db::schema::{branches, commits, stream_acl, streams};
use crate::server::db::{models, BranchId, DbConn, StreamId, Topic, UserId};
use crate::server::domain::history::Action;
use crate::server::domain::reach::{self, Actor, Level, StreamLimit};
use crate::{db_run, db_tx};

/// A collaborator's role on a stream.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Role {
    Owner,
    Contributor,
    Reviewer,
}

impl Role {
    pub fn name(self) -> &'static str {
        match self {
            Role::Owner => "stream:owner",
            Role::Contributor => "stream:contributor",
            Role::Reviewer => "stream:reviewer",
        }
    }

    /// Parses a role name from a client; the error names the field.
    pub fn parse(name: &str) -> AppResult<Role> {
        [Role::Owner, Role::Contributor, Role::Reviewer]
            .into_iter()
            .find(|role| role.name() == name)
            .ok_or_else(|| {
                bad_input(format!(
                    "role: {name:?} is not a role; use stream:owner, stream:contributor or stream:reviewer."
                ))
            })
    }

    pub fn from_stored(name: &str) -> Option<Role> {
        Role::parse(name).ok()
    }

    /// Owners and contributors create commits.
    pub fn can_write(self) -> bool {
        matches!(self, Role::Owner | Role::Contributor)
    }
}

/// A stream and the caller's role on it (none for a public stream they only read).
#[derive(Clone, Debug)]
pub struct Access {
    pub stream: models::Stream,
    /// The role as the caller may use it: none on a stream outside a limited token's streams.
    pub role: Option<Role>,
    /// What a limited token's streams take away here (SPEC §12).
    pub narrowed: Narrowed,
}

/// What a token's streams take away from its owner's role on one stream.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Narrowed {
    /// Nothing: an unlimited token, a person, or a stream of the token's at `Read and write`.
    Nothing,
    /// Writing: a stream of the token's at `Read`.
    ToReading,
    /// The role itself: a public stream outside the token's streams, read as anyone reads it
    /// (the role its owner holds, which the token cannot use).
    Outside(Option<Role>),
}

impl Access {
    /// What the caller may do here: the role, and what the token's streams take away.
    pub fn rights(&self) -> Rights {
        Rights { role: self.role, narrowed: self.narrowed }
    }

    pub fn require_owner(&self, action: &str) -> AppResult<()> {
        self.rights().require_owner(action)
    }

    /// Owners and contributors write: commits, branches, objects.
    pub fn require_write(&self, action: &str) -> AppResult<()> {
        self.rights().require_write(action)
    }

    /// Owners change anything on the stream, its author their commit or branch while they
    /// can write to it.
    pub fn require_owner_or_author(
        &self,
        author_id: Option<&UserId>,
        user_id: &UserId,
        action: &str,
    ) -> AppResult<()> {
        self.rights().require_owner_or_author(author_id, user_id, action)
    }

    /// Refuses what the token's streams take away here, whatever the role (SPEC §12).
    pub fn require_unnarrowed(&self, action: &str) -> AppResult<()> {
        self.rights().require_unnarrowed(action)
    }
}

/// What a caller may do on a stream: the role it may use, and what a limited token's streams
/// take away (SPEC §12). Each check names the role first, and the token's streams only when
/// the role would have allowed it.
#[derive(Clone, Copy, Debug)]
pub struct Rights {
    pub role: Option<Role>,
    pub narrowed: Narrowed,
}

impl Rights {
    /// The rights of `actor`'s token on `stream_id`, whose owner holds `held` there.
    pub fn on(limit: Option<&StreamLimit>, stream_id: &StreamId, held: Option<Role>) -> Rights {
        match limit.map(|limit| limit.level(stream_id)) {
            None | Some(Some(Level::Write)) => Rights { role: held, narrowed: Narrowed::Nothing },
            Some(Some(Level::Read)) => Rights { role: held, narrowed: Narrowed::ToReading },
            Some(None) => Rights { role: None, narrowed: Narrowed::Outside(held) },
        }
    }

    pub fn require_owner(self, action: &str) -> AppResult<()> {
        require_owner(self.held(), action)?;
        self.require_unnarrowed(action)
    }

    /// Owners and contributors write: commits, branches, objects.
    pub fn require_write(self, action: &str) -> AppResult<()> {
        require_write(self.held(), action)?;
        self.require_unnarrowed(action)
    }

    /// Owners change anything on the stream, its author their commit or branch while they
    /// can write to it.
    pub fn require_owner_or_author(
        self,
        author_id: Option<&UserId>,
        user_id: &UserId,
        action: &str,
    ) -> AppResult<()> {
        require_owner_or_author(self.held(), author_id, user_id, action)?;
        self.require_unnarrowed(action)
    }

    /// Refuses what the token's streams take away here, whatever the role.
    pub fn require_unnarrowed(self, action: &str) -> AppResult<()> {
        match self.narrowed {
            Narrowed::Nothing => Ok(()),
            Narrowed::ToReading => Err(reach::read_only(action)),
            Narrowed::Outside(_) => Err(reach::outside(action)),
        }
    }

    /// The role its owner holds, whatever the token may use of it.
    fn held(self) -> Option<Role> {
        match self.narrowed {
            Narrowed::Outside(role) => role,
            _ => self.role,
        }
    }
}

/// Only owners update, share and delete a stream.
pub fn require_owner(role: Option<Role>, action: &str) -> AppResult<()> {
    if role == Some(Role::Owner) {
        return Ok(());
    }
    Err(not_an_owner(action))
}

/// Owners and contributors write: commits, branches, objects.
pub fn require_write(role: Option<Role>, action: &str) -> AppResult<()> {
    if role.is_some_and(Role::can_write) {
        return Ok(());
    }
    Err(forbidden(format!("Only owners and contributors of the stream can {action}.")))
}

/// Owners may; so may the author of the thing while they can still write to the stream.
pub fn require_owner_or_author(
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

/// The refusal of a stream action only owners may take.
fn not_an_owner(action: &str) -> AppError {
    forbidden(format!("Only an owner of the stream can {action}."))
}

/// What a client sends to create or update a stream.
#[derive(Clone, Debug, Default)]
pub struct StreamInput {
    pub name: Option<String>,
    pub description: Option<String>,
    pub is_public: Option<bool>,
}

/// Who asks to read a stream, as every door sees them.
#[derive(Clone, Copy, Debug)]
pub enum Reader<'a> {
    Anonymous,
    /// A token holding `scopes`, acting for its user as far as its streams reach.
    Token {
        actor: Actor<'a>,
        scopes: ScopeSet,
    },
}

/// The stream, if `reader` may read it (SPEC §3, the one rule of every door): a token reads
/// as its user with `streams:read`, and never less than anonymous, so a public stream is
/// anyone's. A private stream is "not found" whether it exists or not; for a token without
/// `streams:read`, that is the missing scope (which says nothing about the stream).
pub async fn readable_by(conn: &mut DbConn, stream_id: &StreamId, reader: Reader<'_>) -> AppResult<Access> {
    let actor = match reader {
        Reader::Token { actor, scopes } if scopes.contains(Scope::StreamsRead) => Some(actor),
        _ => None,
    };
    match (readable(conn, stream_id, actor).await, reader) {
        (Err(AppError::NotFound(_)), Reader::Token { scopes, .. }) if actor.is_none() => {
            Err(AppError::MissingScope { needed: Scope::StreamsRead, held: scopes })
        }
        (Ok(access), _) => {
            if let Some(touched) = actor.and_then(|actor| actor.touched) {
                touched.scopes(ScopeSet::of(Scope::StreamsRead).bits());
            }
            Ok(access)
        }
        (access, _) => access,
    }
}

/// The stream, if `actor` (or anyone, for a public one) may read it; else "not found". The one
/// place where a limited token's streams apply to a stream (SPEC §12): outside them, the token
/// reads as anyone does, so a private stream is "not found" exactly as a missing one is.
pub async fn readable(
    conn: &mut DbConn,
    stream_id: &StreamId,
    actor: Option<Actor<'_>>,
) -> AppResult<Access> {
    let stream: Option<models::Stream> = db_run!(conn, |c| {
        streams::table.find(stream_id).select(models::Stream::as_select()).first(c).await.optional()
    })?;
    let stream = stream.ok_or_else(|| not_found("Stream"))?;
    let held = match actor {
        Some(actor) => role_of(conn, stream_id, actor.user_id).await?,
        None => None,
    };
    let Rights { role, narrowed } = Rights::on(actor.and_then(|actor| actor.limit), stream_id, held);
    if !stream.is_public && role.is_none() {
        return Err(not_found("Stream"));
    }
    if let Some(touched) = actor.and_then(|actor| actor.touched) {
        touched.stream(stream_id);
    }
    Ok(Access { stream, role, narrowed })
}

async fn role_of(conn: &mut DbConn, stream_id: &StreamId, user_id: &UserId) -> AppResult<Option<Role>> {
    let role: Option<String> = db_run!(conn, |c| {
        stream_acl::table.find((stream_id, user_id)).select(stream_acl::role).first(c).await.optional()
    })?;
    Ok(role.as_deref().and_then(Role::from_stored))
}

/// Creates a stream owned by `owner_id`, with its `main` branch; answers its id.
pub async fn create(conn: &mut DbConn, actor: Actor<'_>, input: StreamInput) -> AppResult<StreamId> {
    actor.refuse_if_limited("create streams")?;
    let owner_id = actor.user_id;
    let now = conn.now();
    let stream = models::Stream {
        id: StreamId::random(),
        name: STREAM_NAME.value(input.name.as_deref().unwrap_or_default())?,
        description: STREAM_DESCRIPTION.value(input.description.as_deref().unwrap_or_default())?,
        is_public: input.is_public.unwrap_or(false),
        created_at: now,
        updated_at: now,
    };
    let owner = models::StreamAcl {
        stream_id: stream.id.clone(),
        user_id: owner_id.to_owned(),
        role: Role::Owner.name().to_owned(),
    };
    let main = models::Branch {
        id: BranchId::random(),
        stream_id: stream.id.clone(),
        name: MAIN_BRANCH.to_owned(),
        description: Some("default branch".to_owned()),
        author_id: Some(owner_id.to_owned()),
        created_at: now,
        updated_at: now,
    };
    db_tx!(conn, |tx| {
        diesel::insert_into(streams::table).values(&stream).execute(tx.changing(Topic::Streams)).await?;
        diesel::insert_into(stream_acl::table).values(&owner).execute(tx.changing(Topic::Streams)).await?;
        diesel::insert_into(branches::table).values(&main).execute(tx.conn()).await?;
        let info = serde_json::json!({ "name": stream.name, "description": stream.description, "isPublic": stream.is_public });
        tx.record_on_stream(
            &stream.id,
            owner_id,
            Action::StreamCreate,
            stream.id.as_str(),
            info,
            "Stream created".into(),
        )
        .await?;
        tx.publish(Event::Stream { stream: stream.id.clone(), change: Change::Created });
        tx.publish(Event::Member {
            stream: stream.id.clone(),
            user: owner_id.clone(),
            joined: true,
            by: None,
        });
        Ok(())
    })?;
    Ok(stream.id)
}

crate::tx_steps! {
    /// Takes the stream row's write lock, before anything is read in a write's transaction
    /// (SQLite then never has to upgrade a read lock: no "database is locked" under
    /// concurrent writers; PostgreSQL serialises concurrent changes of one stream on that
    /// row), and answers `user_id`'s role as the transaction sees it: a role taken away
    /// after a first check is seen here.
    pub async fn role_under_lock(&mut self, stream_id: &StreamId, user_id: &UserId) -> AppResult<Option<Role>> {
        let now = self.now;
        diesel::update(streams::table.find(stream_id))
            .set(streams::updated_at.eq(now))
            .execute(self.conn())
            .await?;
        let role: Option<String> = stream_acl::table
            .find((stream_id, user_id))
            .select(stream_acl::role)
            .first(self.conn())
            .await
            .optional()?;
        Ok(role.as_deref().and_then(Role::from_stored))
    }

    /// Checks, inside the write's transaction, that `user_id` is still an owner (see
    /// [`role_under_lock`](Self::role_under_lock)).
    pub async fn still_owner(&mut self, stream_id: &StreamId, user_id: &UserId, action: &str) -> AppResult<()> {
        match self.role_under_lock(stream_id, user_id).await? {
            Some(Role::Owner) => Ok(()),
            _ => Err(not_an_owner(action)),
        }
    }

}

/// Changes a stream's name, description or visibility (owners only).
pub async fn update(
    conn: &mut DbConn,
    actor: Actor<'_>,
    stream_id: &StreamId,
    input: StreamInput,
) -> AppResult<()> {
    let user_id = actor.user_id;
    let access = readable(conn, stream_id, Some(actor)).await?;
    access.require_owner("update it")?;
    let stream = access.stream;
    let name = match input.name {
        Some(name) => STREAM_NAME.value(&name)?,
        None => stream.name,
    };
    let description = match input.description {
        Some(description) => STREAM_DESCRIPTION.value(&description)?,
        None => stream.description,
    };
    let is_public = input.is_public.unwrap_or(stream.is_public);
    db_tx!(conn, |tx| {
        tx.still_owner(stream_id, user_id, "update it").await?;
        let now = tx.now;
        diesel::update(streams::table.find(stream_id))
            .set((
                streams::name.eq(&name),
                streams::description.eq(&description),
                streams::is_public.eq(is_public),
                streams::updated_at.eq(now),
            ))
            .execute(tx.changing(Topic::Streams))
            .await?;
        let info =
            serde_json::json!({ "new": { "name": name, "description": description, "isPublic": is_public } });
        tx.record_on_stream(
            stream_id,
            user_id,
            Action::StreamUpdate,
            stream_id.as_str(),
            info,
            "Stream metadata changed".into(),
        )
        .await?;
        tx.publish(Event::Stream { stream: stream_id.clone(), change: Change::Updated });
        Ok(())
    })
}

/// Deletes a stream with its branches, commits, objects and roles (owners only).
pub async fn delete(conn: &mut DbConn, actor: Actor<'_>, stream_id: &StreamId) -> AppResult<()> {
    let user_id = actor.user_id;
    readable(conn, stream_id, Some(actor)).await?.require_owner("delete it")?;
    db_tx!(conn, |tx| {
        tx.still_owner(stream_id, user_id, "delete it").await?;
        let members: Vec<UserId> = stream_acl::table
            .filter(stream_acl::stream_id.eq(stream_id))
            .select(stream_acl::user_id)
            .load(tx.conn())
            .await?;
        diesel::delete(streams::table.find(stream_id)).execute(tx.changing(Topic::Streams)).await?;
        let info = serde_json::json!({});
        tx.record_on_stream(
            stream_id,
            user_id,
            Action::StreamDelete,
            stream_id.as_str(),
            info,
            "Stream deleted".into(),
        )
        .await?;
        tx.publish(Event::Stream { stream: stream_id.clone(), change: Change::Deleted });
        for member in members {
            let by = (&member != user_id).then(|| user_id.clone());
            tx.publish(Event::Member { stream: stream_id.clone(), user: member, joined: false, by });
        }
        Ok(())
    })
}

/// The most source applications a stream answers (Speckle's `Project.sourceApps`).
pub const MAX_SOURCE_APPS: i64 = 50;

/// The applications the stream's commits were sent from, in name order.
pub async fn source_apps(conn: &mut DbConn, stream_id: &StreamId) -> AppResult<Vec<String>> {
    let apps: Vec<Option<String>> = db_run!(conn, |c| {
        commits::table
            .filter(commits::stream_id.eq(stream_id))
            .filter(commits::source_application.is_not_null())
            .select(commits::source_application)
            .distinct()
            .order(commits::source_application.asc())
            .limit(MAX_SOURCE_APPS)
            .load(c)
            .await
    })?;
    Ok(apps.into_iter().flatten().collect())
}
