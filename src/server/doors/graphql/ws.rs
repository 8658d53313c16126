//! `/graphql` over WebSocket (SPEC §10): async-graphql's own `graphql-transport-ws` and
//! `graphql-ws`, with the token in `connection_init` checked as a request's header is
//! ([`bearer::verify`]), and closed within a second of its token dying.
//!
//! [`Lives`] is this server's register of the tokens its connections hold. A watcher looks
//! at it every [`TICK`]: a token past its expiry (by the database's clock) is dead; when the
//! `Tokens` epoch has moved since a token was last checked (a revocation, a regeneration, a
//! deleted account, on any server: see [`crate::server::db::cache`]), the tokens are read
//! again, a few hundred per query, and those not alive any more are dead. A dead token's
//! connections are closed (code 4401), their subscriptions with them.
//!
//! What one client may hold: [`MAX_CONNECTIONS_PER_USER`] connections per account,
//! [`live::MAX_SUBSCRIPTIONS_PER_CONNECTION`] subscriptions each, messages of at most
//! [`MAX_MESSAGE_BYTES`], [`INIT_WITHIN`] to send `connection_init`; the server as a whole
//! holds at most [`MAX_CONNECTIONS`].

use std::collections::HashMap;
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

use async_graphql::Data;
use async_graphql_axum::{GraphQLProtocol, GraphQLWebSocket};
use axum::extract::ws::{CloseFrame, Message, WebSocket, WebSocketUpgrade};
use axum::response::{IntoResponse, Response};
use futures_util::{SinkExt, StreamExt};
use tokio::sync::{watch, OwnedSemaphorePermit, Semaphore};

use super::live::{Connection, Readings};
use super::{limits, Engine, RequestContext};
use crate::rules::error::AppError;
use crate::server::db::{DbPool, TokenId, UserId};
use crate::server::domain::activity::Seen;
use crate::server::domain::tokens::{self, Caller};
use crate::server::doors::bearer::{self, Credentials, Rejection};
use crate::server::state::AppState;

/// How often the watcher looks for dead tokens: a dead token's connections close within it
/// (and the time of one check).
pub const TICK: Duration = Duration::from_millis(250);
/// Connections one account may hold open on one server.
pub const MAX_CONNECTIONS_PER_USER: usize = 200;
/// Connections one server holds open at most.
pub const MAX_CONNECTIONS: usize = 10_000;
/// The largest message a client may send (a subscription's document and variables).
pub const MAX_MESSAGE_BYTES: usize = 64 * 1024;
/// Each connection's read and write buffers. tungstenite's default, 128 KiB each, allocated
/// as a connection opens, made 1,000 idle subscriptions cost 147 MB; what a subscription
/// sends and hears is a few hundred bytes, and a larger message still arrives in pieces.
const BUFFER_BYTES: usize = 4 * 1024;
/// How long a new connection has to send its `connection_init`.
pub const INIT_WITHIN: Duration = Duration::from_secs(10);

/// The close code of a connection whose token died (graphql-ws's "Unauthorized").
const TOKEN_DIED: u16 = 4401;
/// The close code of a connection that never sent `connection_init` in time.
const INIT_TIMEOUT: u16 = 4408;

/// This server's open connections, by token and by account.
pub struct Lives {
    tokens: Mutex<HashMap<TokenId, Life>>,
    users: Mutex<HashMap<UserId, usize>>,
    sockets: Arc<Semaphore>,
    watching: std::sync::Once,
    /// What the subscriptions read about each event, read once for all of them.
    readings: Arc<Readings>,
}

/// A token some connections hold: when it dies, and the flag that tells them.
struct Life {
    dies_at: Option<i64>,
    /// The `Tokens` epoch in which it was last known alive.
    epoch: u64,
    dead: watch::Sender<bool>,
}

/// A connection's place in [`Lives`]: its account's count, given back when it closes.
struct Place {
    lives: Arc<Lives>,
    user_id: UserId,
}

impl Drop for Place {
    fn drop(&mut self) {
        let mut users = lock(&self.lives.users);
        if let Some(count) = users.get_mut(&self.user_id) {
            *count -= 1;
            if *count == 0 {
                users.remove(&self.user_id);
            }
        }
    }
}

impl Lives {
    pub fn new() -> Arc<Lives> {
        Arc::new(Lives {
            tokens: Mutex::default(),
            users: Mutex::default(),
            sockets: Arc::new(Semaphore::new(MAX_CONNECTIONS)),
            watching: std::sync::Once::new(),
            readings: Arc::default(),
        })
    }

    /// Registers a connection of `caller`'s token, checked in `epoch`: the flag that turns
    /// when the token dies, and its place (the account's count).
    fn enter(
        self: &Arc<Self>,
        db: &DbPool,
        caller: &Caller,
        epoch: u64,
    ) -> Result<(watch::Receiver<bool>, Place), AppError> {
        {
            let mut users = lock(&self.users);
            let count = users.entry(caller.user_id.clone()).or_default();
            if *count >= MAX_CONNECTIONS_PER_USER {
                return Err(AppError::Busy(format!(
                    "an account holds at most {MAX_CONNECTIONS_PER_USER} live connections on one server"
                )));
            }
            *count += 1;
        }
        let place = Place { lives: self.clone(), user_id: caller.user_id.clone() };
        let dead = {
            let mut tokens = lock(&self.tokens);
            let life = tokens.entry(caller.token_id.clone()).or_insert_with(|| Life {
                dies_at: caller.dies_at(),
                epoch,
                dead: watch::channel(false).0,
            });
            life.epoch = life.epoch.min(epoch);
            life.dead.subscribe()
        };
        self.watch(db);
        Ok((dead, place))
    }

    /// Starts the watcher, once, for as long as this register lives.
    fn watch(self: &Arc<Self>, db: &DbPool) {
        self.watching.call_once(|| {
            let lives = Arc::downgrade(self);
            let db = db.clone();
            tokio::spawn(async move { watch_tokens(lives, db).await });
        });
    }
}

/// The watcher (see the module's doc).
async fn watch_tokens(lives: Weak<Lives>, db: DbPool) {
    let mut every = tokio::time::interval(TICK);
    every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        every.tick().await;
        let Some(lives) = lives.upgrade() else { return };
        // The epoch first: a revocation after this read moves it again, and is seen next time.
        let Ok(epochs) = db.epochs().await else { continue };
        let now = db.now();
        let stale: Vec<TokenId> = {
            let mut tokens = lock(&lives.tokens);
            tokens.retain(|_, life| {
                if life.dead.receiver_count() == 0 {
                    return false;
                }
                if life.dies_at.is_some_and(|at| at <= now) {
                    let _ = life.dead.send(true);
                    return false;
                }
                true
            });
            tokens.iter().filter(|(_, life)| life.epoch != epochs.tokens).map(|(id, _)| id.clone()).collect()
        };
        if stale.is_empty() {
            continue;
        }
        let Ok(alive) = tokens::still_alive(&db, &stale, now).await else { continue };
        let alive: HashMap<TokenId, Option<i64>> = alive.into_iter().collect();
        let mut tokens = lock(&lives.tokens);
        for id in stale {
            let Some(life) = tokens.get_mut(&id) else { continue };
            match alive.get(&id) {
                Some(dies_at) => {
                    life.dies_at = *dies_at;
                    life.epoch = epochs.tokens;
                }
                None => {
                    let _ = life.dead.send(true);
                    tokens.remove(&id);
                }
            }
        }
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// `GET /graphql` asking to upgrade: the live updates' WebSocket.
pub async fn upgrade(
    state: AppState,
    engine: Engine,
    protocol: GraphQLProtocol,
    upgrade: WebSocketUpgrade,
    seen: Seen,
    ip: std::net::IpAddr,
) -> Response {
    let Ok(socket_slot) = engine.lives.sockets.clone().try_acquire_owned() else {
        return AppError::Busy("too many live connections".into()).into_response();
    };
    upgrade
        .protocols(async_graphql::http::ALL_WEBSOCKET_PROTOCOLS)
        .max_message_size(MAX_MESSAGE_BYTES)
        .max_frame_size(MAX_MESSAGE_BYTES)
        .read_buffer_size(BUFFER_BYTES)
        .write_buffer_size(BUFFER_BYTES)
        .on_upgrade(move |socket| connection(state, engine, protocol, socket, seen, ip, socket_slot))
}

/// One connection, until the client or its token ends it.
async fn connection(
    state: AppState,
    engine: Engine,
    protocol: GraphQLProtocol,
    socket: WebSocket,
    seen: Seen,
    ip: std::net::IpAddr,
    _socket_slot: OwnedSemaphorePermit,
) {
    let (mut sink, stream) = socket.split();
    let (entered, initialised) = tokio::sync::oneshot::channel::<(watch::Receiver<bool>, Place)>();
    let init = {
        let engine = engine.clone();
        move |payload: serde_json::Value| connection_init(state, engine, payload, seen, ip, entered)
    };
    let ending = {
        let serve = GraphQLWebSocket::new_with_pair(&mut sink, stream, engine.schema.clone(), protocol)
            .on_connection_init(init)
            .serve();
        let watch = async {
            let (mut dead, place) = match tokio::time::timeout(INIT_WITHIN, initialised).await {
                Err(_) => return Some((INIT_TIMEOUT, "connection_init was not sent in time")),
                // It was refused: async-graphql tells the client and ends the connection.
                Ok(Err(_)) => return std::future::pending().await,
                Ok(Ok(entered)) => entered,
            };
            let _place = place;
            let _ = dead.wait_for(|dead| *dead).await;
            Some((TOKEN_DIED, "Your token is not valid any more."))
        };
        tokio::pin!(serve);
        tokio::select! {
            () = &mut serve => None,
            ending = watch => ending,
        }
    };
    if let Some((code, reason)) = ending {
        let close = Message::Close(Some(CloseFrame { code, reason: reason.into() }));
        let _ = tokio::time::timeout(Duration::from_secs(1), sink.send(close)).await;
    }
}

/// `connection_init`: the token in its payload (`{"Authorization": "Bearer …"}`, as
/// Speckle's clients send it; `headers.Authorization` too), checked as a request's header.
async fn connection_init(
    state: AppState,
    engine: Engine,
    payload: serde_json::Value,
    seen: Seen,
    ip: std::net::IpAddr,
    entered: tokio::sync::oneshot::Sender<(watch::Receiver<bool>, Place)>,
) -> async_graphql::Result<Data> {
    let value = ["Authorization", "authorization"].iter().find_map(|key| {
        payload.get(key).or_else(|| payload.get("headers").and_then(|headers| headers.get(key)))
    });
    let credentials = match value.and_then(serde_json::Value::as_str) {
        None => {
            return Err(async_graphql::Error::new(
                "This needs a token: send {\"Authorization\": \"Bearer <token>\"} in connection_init.",
            ))
        }
        Some(value) => bearer::credentials_in(value),
    };
    if matches!(credentials, Credentials::Anonymous) {
        return Err(async_graphql::Error::new("This needs a token."));
    }
    let (caller, epochs) = bearer::verify(&state, credentials, ip, &seen).await.map_err(|rejection| {
        async_graphql::Error::new(match rejection {
            Rejection::InvalidToken => "Your token is not valid.".to_string(),
            Rejection::TooManyFailures(_) => "Too many invalid tokens from your address.".to_string(),
            Rejection::Unavailable => AppError::Unavailable.to_string(),
            Rejection::Internal => AppError::Internal.to_string(),
        })
    })?;
    let (dead, place) = engine
        .lives
        .enter(&state.db, &caller, epochs.tokens)
        .map_err(|error| async_graphql::Error::new(error.to_string()))?;
    let connection =
        Connection { dead: dead.clone(), running: Arc::default(), readings: engine.lives.readings.clone() };
    let context = RequestContext {
        db: state.db.clone(),
        caller: Some(caller),
        // Epochs are a request's, read when it starts: a connection lasts, so it reads
        // around the cache.
        epochs: None,
        seen,
        budget: limits::Budget::new(engine.answers.clone()),
        mailer: None,
    };
    if entered.send((dead, place)).is_err() {
        return Err(async_graphql::Error::new("the connection closed"));
    }
    let mut data = Data::default();
    data.insert(context);
    data.insert(connection);
    Ok(data)
}
