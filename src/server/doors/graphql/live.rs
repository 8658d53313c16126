//! Live updates (SPEC §10), over the WebSocket of `ws.rs`: the project era's subscriptions,
//! and the [`Feed`] that every subscription of both eras is (`live_streams.rs` has the stream
//! era's): the events of the bus ([`crate::server::db::events`]) it asked for, each shown
//! only if its caller may read the stream when it happens, checked as a request would be (a
//! role taken away stops the feed's events at once).

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Weak};

use async_graphql::{Context, Enum, SimpleObject, Subscription};
use futures_util::Stream;
use tokio::sync::broadcast::error::RecvError;
use tokio::sync::OnceCell;

use super::{db, reader, request, require, to_api, Model, Project, Version};
use crate::rules::error::AppError;
use crate::rules::scopes::{Scope, ScopeSet};
use crate::server::db::events::{Change, Event};
use crate::server::db::{models, BranchId, CommitId, DbPool, StreamId, TokenId, UserId};
use crate::server::domain::reach::StreamLimit;
use crate::server::domain::streams::{self, Access, Reader};
use crate::server::domain::tokens::Caller;
use crate::server::domain::{branches, commits};

/// What one WebSocket connection's subscriptions share (its `connection_init` puts it in
/// the connection's data, see `ws.rs`).
pub struct Connection {
    /// Turns true when the connection's token dies.
    pub dead: tokio::sync::watch::Receiver<bool>,
    /// The subscriptions running on it.
    pub running: Arc<std::sync::atomic::AtomicUsize>,
    /// The server's readings of its events, shared by every subscription.
    pub readings: Arc<Readings>,
}

/// What the subscriptions of one server read about the same event, read once for all of
/// them (the first to ask reads; the others wait for its answer): 1,000 subscriptions of five
/// accounts hearing of a version read its stream for five readers and the version once,
/// not a thousand times each. Each answer is what a read at that moment would say, so an
/// event is still shown only to whoever may read its stream when it happens. Only the
/// readings of the latest events are kept, [`KEPT_READINGS`] at most.
#[derive(Default)]
pub struct Readings {
    kept: std::sync::Mutex<Kept>,
}

#[derive(Default)]
struct Kept {
    /// Oldest first.
    events: VecDeque<EventReadings>,
    /// The answers of all of them.
    answers: usize,
}

/// Readings kept, over all the events kept: a subscription further behind reads for itself.
const KEPT_READINGS: usize = 4096;

struct EventReadings {
    /// Held weakly: the allocation stays, so its address names no other event meanwhile.
    event: Weak<Event>,
    answers: HashMap<Reading, Arc<OnceCell<Answer>>>,
}

#[derive(Clone, PartialEq, Eq, Hash)]
enum Reading {
    /// The event's stream, as read by a token of this user with these scopes (or anonymous);
    /// a limited token reads it as itself (SPEC §12).
    Stream(Option<UserId>, ScopeSet, Option<TokenId>),
    Branch(StreamId, BranchId),
    Commit(StreamId, CommitId),
}

#[derive(Clone)]
enum Answer {
    Stream(Option<Access>),
    Branch(Option<models::Branch>),
    Commit(Option<commits::CommitView>),
}

impl Readings {
    /// The answer to `reading` about `event`, read by `read` unless someone has.
    async fn once(
        &self,
        event: &Arc<Event>,
        reading: Reading,
        read: impl std::future::Future<Output = Answer>,
    ) -> Answer {
        let cell = {
            let mut kept = self.kept.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
            // The event asked about is nearly always the latest.
            let at =
                kept.events.iter().rposition(|kept| std::ptr::eq(kept.event.as_ptr(), Arc::as_ptr(event)));
            let at = at.unwrap_or_else(|| {
                kept.events
                    .push_back(EventReadings { event: Arc::downgrade(event), answers: HashMap::new() });
                kept.events.len() - 1
            });
            let answers = &mut kept.events[at].answers;
            let before = answers.len();
            let cell = answers.entry(reading).or_default().clone();
            kept.answers += answers.len() - before;
            while kept.answers > KEPT_READINGS && kept.events.len() > 1 {
                let oldest = kept.events.pop_front().map_or(0, |oldest| oldest.answers.len());
                kept.answers -= oldest;
            }
            cell
        };
        cell.get_or_init(|| read).await.clone()
    }
}

/// What a subscription's `show` reads about the event it shows: through [`Readings`].
pub(super) struct Reads {
    db: DbPool,
    event: Arc<Event>,
    readings: Arc<Readings>,
}

/// The most subscriptions one connection runs at once.
pub const MAX_SUBSCRIPTIONS_PER_CONNECTION: usize = 100;

/// A running subscription's place on its connection, given back when it ends.
struct Slot(Arc<std::sync::atomic::AtomicUsize>);

impl Drop for Slot {
    fn drop(&mut self) {
        self.0.fetch_sub(1, std::sync::atomic::Ordering::SeqCst);
    }
}

/// Whether an event can be shown without reading its stream: what it says is gone.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(super) enum Needs {
    /// The caller must still be able to read the stream.
    Reading,
    /// The stream (or the caller's place on it) is gone: the event says only that.
    Nothing,
}

/// One subscription's events, as its caller may see them.
pub(super) struct Feed {
    db: DbPool,
    caller: Arc<Caller>,
    events: tokio::sync::broadcast::Receiver<Arc<Event>>,
    readings: Arc<Readings>,
    dead: tokio::sync::watch::Receiver<bool>,
    budget: Arc<super::limits::Budget>,
    _slot: Slot,
}

impl Feed {
    /// A feed for the subscription being started, if its connection has room for one more.
    pub(super) fn start(ctx: &Context<'_>) -> async_graphql::Result<Feed> {
        let request = request(ctx)?;
        let caller = request.caller.clone().ok_or_else(|| to_api(AppError::SignedOut))?;
        let connection = ctx.data_opt::<Connection>().ok_or_else(|| to_api(AppError::Internal))?;
        let running = connection.running.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        let slot = Slot(connection.running.clone());
        if running >= MAX_SUBSCRIPTIONS_PER_CONNECTION {
            return Err(to_api(crate::rules::error::bad_input(format!(
                "A connection runs at most {MAX_SUBSCRIPTIONS_PER_CONNECTION} subscriptions: stop one, or open another connection."
            ))));
        }
        Ok(Feed {
            db: request.db.clone(),
            events: request.db.events().subscribe(),
            readings: connection.readings.clone(),
            caller,
            dead: connection.dead.clone(),
            budget: request.budget.clone(),
            _slot: slot,
        })
    }

    /// The next event `pick` takes, with the stream as the caller may read it now (`None`
    /// for an event about something gone); events the caller may no longer see are skipped.
    async fn next<T>(
        &mut self,
        pick: &impl Fn(&Event) -> Option<(T, Needs)>,
    ) -> Option<(Arc<Event>, T, Option<Access>)> {
        loop {
            let event = match self.events.recv().await {
                Ok(event) => event,
                Err(RecvError::Lagged(_)) => continue,
                Err(RecvError::Closed) => return None,
            };
            if *self.dead.borrow() {
                return None;
            }
            let Some((message, needs)) = pick(&event) else { continue };
            if needs == Needs::Nothing {
                self.budget.renew();
                return Some((event, message, None));
            }
            let reader = Caller::reader_of(Some(&self.caller));
            let reading = match reader {
                Reader::Token { actor, scopes } => Reading::Stream(
                    Some(actor.user_id.clone()),
                    scopes,
                    actor.limit.map(|limit| limit.token_id.clone()),
                ),
                Reader::Anonymous => Reading::Stream(None, ScopeSet::default(), None),
            };
            let read = async {
                let Ok(mut conn) = self.db.get().await else { return Answer::Stream(None) };
                Answer::Stream(streams::readable_by(&mut conn, event.stream(), reader).await.ok())
            };
            if let Answer::Stream(Some(access)) = self.readings.once(&event, reading, read).await {
                self.budget.renew();
                return Some((event, message, Some(access)));
            }
        }
    }

    /// The feed as a stream of what `show` makes of each event `pick` takes.
    pub(super) fn into_stream<T, M, F>(
        self,
        pick: impl Fn(&Event) -> Option<(T, Needs)> + Send + Sync + 'static,
        show: impl Fn(Reads, T, Option<Access>) -> F + Send + Sync + 'static,
    ) -> impl Stream<Item = M>
    where
        T: Send + 'static,
        M: Send + 'static,
        F: std::future::Future<Output = Option<M>> + Send,
    {
        let state = (self, pick, show);
        futures_util::stream::unfold(state, |(mut feed, pick, show)| async move {
            loop {
                let (event, picked, access) = feed.next(&pick).await?;
                let reads = Reads { db: feed.db.clone(), event, readings: feed.readings.clone() };
                if let Some(message) = show(reads, picked, access).await {
                    return Some((message, (feed, pick, show)));
                }
            }
        })
    }
}

/// The stream a subscription names, checked as a request would read it.
pub(super) async fn subscribed_stream(ctx: &Context<'_>, id: &StreamId) -> async_graphql::Result<()> {
    require(ctx, Scope::StreamsRead)?;
    streams::readable_by(&mut *db(ctx).await?, id, reader(ctx)?).await.map_err(to_api)?;
    Ok(())
}

#[derive(Enum, Copy, Clone, Eq, PartialEq)]
pub enum UserProjectsUpdatedMessageType {
    Added,
    Removed,
}

#[derive(SimpleObject)]
pub struct UserProjectsUpdatedMessage {
    #[graphql(name = "type")]
    kind: UserProjectsUpdatedMessageType,
    id: String,
    project: Option<Project>,
}

#[derive(Enum, Copy, Clone, Eq, PartialEq)]
pub enum ProjectUpdatedMessageType {
    Updated,
    Deleted,
}

#[derive(SimpleObject)]
pub struct ProjectUpdatedMessage {
    #[graphql(name = "type")]
    kind: ProjectUpdatedMessageType,
    id: String,
    project: Option<Project>,
}

/// Speckle's `CREATED`, `UPDATED`, `DELETED` of models and versions.
#[derive(Enum, Copy, Clone, Eq, PartialEq)]
#[graphql(name = "ProjectModelsUpdatedMessageType")]
pub enum ModelChange {
    Created,
    Updated,
    Deleted,
}

#[derive(Enum, Copy, Clone, Eq, PartialEq)]
#[graphql(name = "ProjectVersionsUpdatedMessageType")]
pub enum VersionChange {
    Created,
    Updated,
    Deleted,
}

#[derive(SimpleObject)]
pub struct ProjectModelsUpdatedMessage {
    #[graphql(name = "type")]
    kind: ModelChange,
    id: String,
    model: Option<Model>,
}

#[derive(SimpleObject)]
pub struct ProjectVersionsUpdatedMessage {
    #[graphql(name = "type")]
    kind: VersionChange,
    id: String,
    version: Option<Version>,
    model_id: String,
}

/// A user's own coming onto (`joined`) or leaving a stream, `by` someone else.
pub(super) struct Membership {
    pub(super) stream: StreamId,
    pub(super) joined: bool,
    pub(super) by: Option<UserId>,
}

/// The events of [`Membership`] for `me`; for a limited token, only on its streams (SPEC §12:
/// leaving another stream says nothing, not even its id).
pub(super) fn membership(
    me: UserId,
    limit: Option<StreamLimit>,
) -> impl Fn(&Event) -> Option<(Membership, Needs)> {
    move |event| match event {
        Event::Member { stream, user, joined, by }
            if *user == me && limit.as_ref().is_none_or(|limit| limit.level(stream).is_some()) =>
        {
            let needs = if *joined { Needs::Reading } else { Needs::Nothing };
            Some((Membership { stream: stream.clone(), joined: *joined, by: by.clone() }, needs))
        }
        _ => None,
    }
}

/// Changes of one stream itself.
pub(super) fn stream_changes(id: StreamId) -> impl Fn(&Event) -> Option<(Change, Needs)> {
    move |event| match event {
        Event::Stream { stream, change } if *stream == id => {
            let needs = if *change == Change::Deleted { Needs::Nothing } else { Needs::Reading };
            Some((*change, needs))
        }
        _ => None,
    }
}

/// Changes of one stream's branches.
pub(super) fn branch_changes(id: StreamId) -> impl Fn(&Event) -> Option<((BranchId, Change), Needs)> {
    move |event| match event {
        Event::Branch { stream, branch, change } if *stream == id => {
            Some(((branch.clone(), *change), Needs::Reading))
        }
        _ => None,
    }
}

/// Changes of one stream's commits.
pub(super) fn commit_changes(
    id: StreamId,
) -> impl Fn(&Event) -> Option<((BranchId, CommitId, Change), Needs)> {
    move |event| match event {
        Event::Commit { stream, branch, commit, change } if *stream == id => {
            Some(((branch.clone(), commit.clone(), *change), Needs::Reading))
        }
        _ => None,
    }
}

pub(super) async fn branch_of(reads: &Reads, stream: &StreamId, branch: &BranchId) -> Option<models::Branch> {
    let read = async {
        let Ok(mut conn) = reads.db.get().await else { return Answer::Branch(None) };
        Answer::Branch(branches::get(&mut conn, stream, branch).await.ok())
    };
    let reading = Reading::Branch(stream.clone(), branch.clone());
    match reads.readings.once(&reads.event, reading, read).await {
        Answer::Branch(branch) => branch,
        _ => None,
    }
}

pub(super) async fn commit_of(
    reads: &Reads,
    stream: &StreamId,
    commit: &CommitId,
) -> Option<commits::CommitView> {
    let read = async {
        let Ok(mut conn) = reads.db.get().await else { return Answer::Commit(None) };
        Answer::Commit(commits::find_commit(&mut conn, stream, Some(commit)).await.ok().flatten())
    };
    let reading = Reading::Commit(stream.clone(), commit.clone());
    match reads.readings.once(&reads.event, reading, read).await {
        Answer::Commit(commit) => commit,
        _ => None,
    }
}

/// The project era's subscriptions.
#[derive(Default)]
pub struct ProjectSubscription;

#[Subscription]
impl ProjectSubscription {
    /// Projects the token's user comes onto (creates, is given, accepts) or leaves.
    async fn user_projects_updated(
        &self,
        ctx: &Context<'_>,
    ) -> async_graphql::Result<impl Stream<Item = UserProjectsUpdatedMessage>> {
        let caller = require(ctx, Scope::ProfileRead)?;
        let me = caller.user_id.clone();
        let feed = Feed::start(ctx)?;
        Ok(feed.into_stream(
            membership(me, caller.limit.clone()),
            |_, Membership { stream, joined, .. }, access| async move {
                let kind = if joined {
                    UserProjectsUpdatedMessageType::Added
                } else {
                    UserProjectsUpdatedMessageType::Removed
                };
                Some(UserProjectsUpdatedMessage {
                    kind,
                    id: stream.to_string(),
                    project: access.map(Project::from),
                })
            },
        ))
    }

    /// Changes of one project: its name, description, visibility, team; or its deletion.
    async fn project_updated(
        &self,
        ctx: &Context<'_>,
        id: String,
    ) -> async_graphql::Result<impl Stream<Item = ProjectUpdatedMessage>> {
        let id = StreamId::from(id);
        subscribed_stream(ctx, &id).await?;
        let feed = Feed::start(ctx)?;
        let shown = id.to_string();
        Ok(feed.into_stream(stream_changes(id), move |_, change, access| {
            let id = shown.clone();
            async move {
                let kind = match change {
                    Change::Deleted => ProjectUpdatedMessageType::Deleted,
                    _ => ProjectUpdatedMessageType::Updated,
                };
                Some(ProjectUpdatedMessage { kind, id, project: access.map(Project::from) })
            }
        }))
    }

    /// Models of one project created, updated or deleted (of `modelIds` only, if given).
    async fn project_models_updated(
        &self,
        ctx: &Context<'_>,
        id: String,
        model_ids: Option<Vec<String>>,
    ) -> async_graphql::Result<impl Stream<Item = ProjectModelsUpdatedMessage>> {
        let id = StreamId::from(id);
        subscribed_stream(ctx, &id).await?;
        let only = model_ids
            .filter(|ids| !ids.is_empty())
            .map(|ids| ids.into_iter().map(BranchId::from).collect::<Vec<_>>());
        if only.as_ref().is_some_and(|ids| ids.len() > branches::MAX_FILTER_ITEMS) {
            return Err(to_api(crate::rules::error::bad_input(format!(
                "modelIds: at most {} models.",
                branches::MAX_FILTER_ITEMS
            ))));
        }
        let feed = Feed::start(ctx)?;
        let changes = branch_changes(id);
        let pick = move |event: &Event| {
            changes(event).filter(|((branch, _), _)| only.as_ref().is_none_or(|only| only.contains(branch)))
        };
        Ok(feed.into_stream(pick, |db, (branch, change), access| async move {
            let access = access?;
            let kind = match change {
                Change::Created => ModelChange::Created,
                Change::Updated => ModelChange::Updated,
                Change::Deleted => ModelChange::Deleted,
            };
            let model = match change {
                Change::Deleted => None,
                _ => Some(branch_of(&db, &access.stream.id, &branch).await?),
            };
            let model = model.map(|branch| Model { branch, stream: access.stream, role: access.role });
            Some(ProjectModelsUpdatedMessage { kind, id: branch.to_string(), model })
        }))
    }

    /// Versions of one project created, updated (message, model) or deleted.
    async fn project_versions_updated(
        &self,
        ctx: &Context<'_>,
        id: String,
    ) -> async_graphql::Result<impl Stream<Item = ProjectVersionsUpdatedMessage>> {
        let id = StreamId::from(id);
        subscribed_stream(ctx, &id).await?;
        let feed = Feed::start(ctx)?;
        Ok(feed.into_stream(commit_changes(id), |db, (branch, commit, change), access| async move {
            let access = access?;
            let kind = match change {
                Change::Created => VersionChange::Created,
                Change::Updated => VersionChange::Updated,
                Change::Deleted => VersionChange::Deleted,
            };
            let version = match change {
                Change::Deleted => None,
                _ => {
                    let view = commit_of(&db, &access.stream.id, &commit).await?;
                    Some(Version { view, stream: access.stream, role: access.role, author: None })
                }
            };
            Some(ProjectVersionsUpdatedMessage {
                kind,
                id: commit.to_string(),
                version,
                model_id: branch.to_string(),
            })
        }))
    }
}
