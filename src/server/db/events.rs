//! What changed, told to whoever listens: the live updates of SPEC §10. A write's
//! transaction publishes [`Event`]s ([`super::Tx::publish`]); they are delivered once it has
//! committed, never for a transaction rolled back, to every server on the database:
//! - SQLite: in this process, after the commit;
//! - PostgreSQL: `NOTIFY` inside the transaction (PostgreSQL delivers it at the commit, and
//!   not at all on a rollback) to the channel every server `LISTEN`s on, itself included.
//!
//! An event names what changed by its ids only: a listener reads what it may see of it
//! itself (a notification's payload is small, and what someone may see is theirs to check).
//! Live updates are a courtesy: a listener too slow to keep up skips what it missed, and
//! what was sent while a server's listening connection was down is not sent again.

use std::sync::{Arc, Weak};
use std::time::Duration;

use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};
use futures_util::StreamExt;
use serde::{Deserialize, Serialize};
use tokio::sync::broadcast;

use super::ids::{BranchId, CommitId, StreamId, UserId};

/// PostgreSQL's channel for [`Event`]s.
pub const CHANNEL: &str = "speckle_events";
/// Events a listener may fall behind by before it skips the oldest.
const BACKLOG: usize = 4096;
/// How long the listening connection waits before connecting again after losing PostgreSQL.
const RECONNECT_AFTER: Duration = Duration::from_secs(1);

/// What a change did.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Change {
    Created,
    Updated,
    Deleted,
}

/// One change, by the ids of what it touched.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Event {
    /// A stream was created, updated (name, description, visibility, who is on it) or deleted.
    Stream { stream: StreamId, change: Change },
    /// `user` came onto the stream (created it, was given a role, accepted an invitation) or
    /// left it (removed, left, the stream deleted); `by` who did it, if not they.
    Member { stream: StreamId, user: UserId, joined: bool, by: Option<UserId> },
    /// A branch was created, updated or deleted.
    Branch { stream: StreamId, branch: BranchId, change: Change },
    /// A commit was created, updated (message, moved) or deleted; `branch` is the branch it
    /// is on (for a deleted one, the one it was on).
    Commit { stream: StreamId, branch: BranchId, commit: CommitId, change: Change },
}

impl Event {
    /// The stream the event is about.
    pub fn stream(&self) -> &StreamId {
        match self {
            Event::Stream { stream, .. }
            | Event::Member { stream, .. }
            | Event::Branch { stream, .. }
            | Event::Commit { stream, .. } => stream,
        }
    }
}

/// This server's listeners: each live subscription holds a receiver.
pub struct EventBus {
    sender: broadcast::Sender<Arc<Event>>,
}

impl Default for EventBus {
    fn default() -> Self {
        EventBus { sender: broadcast::channel(BACKLOG).0 }
    }
}

impl EventBus {
    /// Hears every event delivered from now on.
    pub fn subscribe(&self) -> broadcast::Receiver<Arc<Event>> {
        self.sender.subscribe()
    }

    /// Hands events to this server's listeners.
    pub fn deliver(&self, events: impl IntoIterator<Item = Event>) {
        for event in events {
            // No listener at all is not an error.
            let _ = self.sender.send(Arc::new(event));
        }
    }

    /// Listens on PostgreSQL at `url` for as long as `owner` (the pool's shared part) lives,
    /// delivering every event any server notified; connects again after a lost connection.
    /// Answers once it first listens (or failed to), so that a server listens before it
    /// serves.
    pub async fn listen_postgres(owner: Weak<super::Shared>, url: String) {
        let (listening, first) = tokio::sync::oneshot::channel();
        tokio::spawn(async move {
            let mut listening = Some(listening);
            loop {
                if owner.upgrade().is_none() {
                    return;
                }
                if let Err(error) = listen_once(&owner, &url, &mut listening).await {
                    tracing::warn!(%error, "live updates: lost the PostgreSQL listening connection");
                }
                if let Some(listening) = listening.take() {
                    let _ = listening.send(());
                }
                tokio::time::sleep(RECONNECT_AFTER).await;
            }
        });
        let _ = tokio::time::timeout(Duration::from_secs(5), first).await;
    }
}

/// One listening connection, until it fails or the pool is gone.
async fn listen_once(
    owner: &Weak<super::Shared>,
    url: &str,
    listening: &mut Option<tokio::sync::oneshot::Sender<()>>,
) -> Result<(), String> {
    let mut conn = AsyncPgConnection::establish(url).await.map_err(|e| e.to_string())?;
    diesel::sql_query(format!("LISTEN {CHANNEL}")).execute(&mut conn).await.map_err(|e| e.to_string())?;
    if let Some(listening) = listening.take() {
        let _ = listening.send(());
    }
    let mut notifications = std::pin::pin!(conn.notifications_stream());
    let mut alive = tokio::time::interval(Duration::from_secs(1));
    loop {
        tokio::select! {
            notification = notifications.next() => {
                let notification = match notification {
                    Some(Ok(notification)) => notification,
                    Some(Err(error)) => return Err(error.to_string()),
                    None => return Err("the connection closed".into()),
                };
                let Some(shared) = owner.upgrade() else { return Ok(()) };
                match serde_json::from_str::<Event>(&notification.payload) {
                    Ok(event) => shared.events.deliver([event]),
                    Err(error) => tracing::warn!(%error, "live updates: a notification we cannot read"),
                }
            }
            _ = alive.tick() => {
                if owner.upgrade().is_none() {
                    return Ok(());
                }
            }
        }
    }
}

/// Each event as the payload of a notification.
pub fn payloads(events: &[Event]) -> impl Iterator<Item = String> + '_ {
    events.iter().filter_map(|event| serde_json::to_string(event).ok())
}
