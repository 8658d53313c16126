//! The memory that the object transport's big requests hold, bounded for the whole server and
//! shared out: an upload's batches as they arrive and while they are stored, and the id lists
//! of diffs and downloads while they are read and served. Each request takes room as its bytes
//! come (a batch that trickles in holds only what has arrived), and gives it back when done.
//!
//! No one holds more than a share: an account (or, without a token, an address) has at most
//! [`REQUESTS_PER_HOLDER`] such requests in flight; more wait for their own turn, never for
//! anyone else's.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use crate::rules::error::{AppError, AppResult};
use crate::server::db::UserId;

/// Bytes all big requests may hold at once.
pub const ROOM_BYTES: usize = 64 * 1024 * 1024;
/// Room is counted in units of this many bytes.
const UNIT: usize = 64 * 1024;
/// Big requests one account or address may have in flight; Speckle's clients send one or two.
pub const REQUESTS_PER_HOLDER: usize = 2;
/// How long a request waits for its holder's turn, or for room, before it is told to retry.
pub const WAIT: Duration = Duration::from_secs(30);

/// Who a big request counts against.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Holder {
    /// A token's owner.
    User(UserId),
    /// A request without a token, by its address.
    Address(IpAddr),
}

/// The room of one server.
pub struct Room {
    units: Arc<Semaphore>,
    turns: Mutex<HashMap<Holder, Arc<Semaphore>>>,
}

impl Default for Room {
    fn default() -> Self {
        Room::with_bytes(ROOM_BYTES)
    }
}

impl Room {
    /// A room of `bytes` (tests make small ones).
    pub fn with_bytes(bytes: usize) -> Room {
        Room { units: Arc::new(Semaphore::new(bytes.div_ceil(UNIT))), turns: Mutex::default() }
    }

    /// Waits for one of `holder`'s turns; the request then takes room through its [`Share`].
    pub async fn enter(&self, holder: Holder) -> AppResult<Share> {
        let turns = {
            let mut turns = self.turns.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
            // Holders nobody is in or waiting for are forgotten as others come.
            turns.retain(|_, turns| Arc::strong_count(turns) > 1);
            turns.entry(holder).or_insert_with(|| Arc::new(Semaphore::new(REQUESTS_PER_HOLDER))).clone()
        };
        let turn = match tokio::time::timeout(WAIT, turns.acquire_owned()).await {
            Ok(Ok(turn)) => turn,
            _ => return Err(AppError::RateLimited(WAIT.as_secs())),
        };
        Ok(Share { _turn: turn, units: self.units.clone(), held: None, bytes: 0 })
    }

    /// Room not held by anyone, in bytes (for tests).
    pub fn free_bytes(&self) -> usize {
        self.units.available_permits() * UNIT
    }
}

/// One request's part of the room: held until dropped.
pub struct Share {
    _turn: OwnedSemaphorePermit,
    units: Arc<Semaphore>,
    held: Option<OwnedSemaphorePermit>,
    /// Bytes asked for so far (the units held cover them).
    bytes: usize,
}

impl Share {
    /// Grows what this request holds by `more` bytes, waiting for room if the server has none
    /// now; a server that stays full is a 503 to retry.
    pub async fn take(&mut self, more: usize) -> AppResult<()> {
        let wanted = self.bytes.saturating_add(more);
        let have = self.bytes.div_ceil(UNIT);
        let need = wanted.div_ceil(UNIT) - have;
        if need > 0 {
            let need = u32::try_from(need).map_err(|_| AppError::Busy("the request is too big".into()))?;
            let taken = tokio::time::timeout(WAIT, self.units.clone().acquire_many_owned(need)).await;
            let Ok(Ok(permit)) = taken else {
                return Err(AppError::Busy("too many large transfers at once".into()));
            };
            match self.held.as_mut() {
                Some(held) => held.merge(permit),
                None => self.held = Some(permit),
            }
        }
        self.bytes = wanted;
        Ok(())
    }

    /// Gives back everything held (between an upload's batches), keeping the turn.
    pub fn release(&mut self) {
        self.held = None;
        self.bytes = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn room_is_taken_as_bytes_come_and_given_back_when_done() {
        let room = Room::with_bytes(4 * UNIT);
        let mut share = room.enter(Holder::User("a".into())).await.unwrap();
        share.take(1).await.unwrap();
        share.take(UNIT - 1).await.unwrap();
        assert_eq!(room.free_bytes(), 3 * UNIT, "one unit for a unit's bytes");
        share.take(2 * UNIT).await.unwrap();
        assert_eq!(room.free_bytes(), UNIT);
        share.release();
        assert_eq!(room.free_bytes(), 4 * UNIT);
        share.take(3 * UNIT).await.unwrap();
        drop(share);
        assert_eq!(room.free_bytes(), 4 * UNIT);
    }

    #[tokio::test]
    async fn a_holder_waits_for_its_own_turn_and_nobody_else_does() {
        let room = Room::with_bytes(4 * UNIT);
        let alice = Holder::User("alice".into());
        let _first = room.enter(alice.clone()).await.unwrap();
        let _second = room.enter(alice.clone()).await.unwrap();
        let third = tokio::time::timeout(Duration::from_millis(50), room.enter(alice)).await;
        assert!(third.is_err(), "alice's third waits for one of her own");
        let bob =
            tokio::time::timeout(Duration::from_millis(50), room.enter(Holder::User("bob".into()))).await;
        assert!(bob.is_ok_and(|share| share.is_ok()), "bob does not wait for alice");
    }
}
