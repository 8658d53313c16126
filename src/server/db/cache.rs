//! What every API request reads, kept in memory: which token is whose and what it may do,
//! and how many streams a user has. The API's hot path then costs a hash and a map lookup
//! instead of two database reads.
//!
//! Correctness rests on epochs. Every entry remembers the epoch of its topic in which it was
//! read, and is served only while that epoch lasts. Every write that could change an entry
//! ends the epoch of its topic *after* it commits and *before* it is answered (revoking a
//! token ends `Tokens`; creating, changing or deleting a stream and granting or revoking a
//! role end `Streams`). A request reads the epochs when it starts; one that starts after the
//! answer sees the new epoch, misses, and reads the committed row: a revoked token is refused
//! on the very next request. A read that raced the write was tagged with the epoch captured
//! before it read, the old one, so it is never served.
//!
//! Where the epochs live makes them shared by every server on the database:
//! - SQLite: a small memory-mapped file beside the database (`<db>-epochs`, like SQLite's own
//!   `-shm`); reading them is two atomic loads.
//! - PostgreSQL: two sequences (`cache_epoch_tokens`, `cache_epoch_streams`); reading them is
//!   one round trip per request, instead of one per lookup.
//!
//! Changes made behind the server's back (SQL typed into a shell), or a server that dies
//! between a commit and ending the epoch, are seen once an entry is older than [`MAX_AGE`].

use std::collections::{BTreeSet, HashMap};
use std::fs::OpenOptions;
use std::net::IpAddr;
use std::sync::atomic::{AtomicBool, AtomicU16, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use super::ids::{StreamId, TokenId, UserId};

/// The epochs of every topic as one request saw them when it started.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Epochs {
    pub tokens: u64,
    pub streams: u64,
}

/// An entry is read again after this long, whatever the epochs say: the bound on how long a
/// change made behind the server's back (in the `sqlite3` shell) goes unseen.
pub const MAX_AGE: Duration = Duration::from_secs(10);
/// Entries per map unless configured (`READ_CACHE_ENTRIES`); a full map is emptied (memory
/// stays bounded, correctness is unaffected). About 10 MB at most.
pub const DEFAULT_ENTRIES: usize = 10_000;

/// What a cached answer depends on.
#[derive(Clone, Copy, Debug)]
pub enum Topic {
    /// Tokens and their owners' rows.
    Tokens = 0,
    /// Streams and who is on them.
    Streams = 1,
}

const TOPICS: usize = 2;

/// What the token domain keeps of a verified token (its caller): the cache stores it without
/// knowing its type, so that it sits below the domain.
pub type Kept = std::sync::Arc<dyn std::any::Any + Send + Sync>;

/// A verified token, as read from the database.
#[derive(Clone)]
pub struct CachedToken {
    /// Shared by the requests that use it: each takes a reference, not a copy.
    pub caller: Kept,
    pub last_used_at: Option<i64>,
    /// The addresses whose use this server noted, and when (a few; bounded).
    pub addresses: Vec<(IpAddr, i64)>,
}

/// The most addresses noted per cached token: a token used from more is checked against the
/// database at most once a minute per address.
const NOTED_ADDRESSES: usize = 8;

/// What a use of a token should record now.
#[derive(Clone, Copy, Debug, Default)]
pub struct UseNote {
    /// "Last used" is a minute old (or never written).
    pub last_used: bool,
    /// The address was not noted in the last minute.
    pub address: bool,
}

struct Entry<T> {
    value: T,
    epoch: u64,
    read_at: Instant,
}

pub struct ReadCache {
    /// SQLite's epochs; none on PostgreSQL, where they are sequences in the database.
    shared: Option<SharedEpochs>,
    /// The most entries per map; 0 turns the cache off.
    capacity: usize,
    tokens: Mutex<HashMap<[u8; 32], Entry<CachedToken>>>,
    /// By user id: the count of all their streams, and of their public ones.
    stream_counts: Mutex<HashMap<UserId, Entry<[Option<i64>; 2]>>>,
    /// By token id: the count of a limited token's streams (SPEC §12).
    limited_counts: Mutex<HashMap<TokenId, Entry<i64>>>,
    /// By token id: what each token used since that was last written (SPEC §12).
    touched: Mutex<HashMap<TokenId, Arc<Touched>>>,
}

/// What one token used since its use was last written (SPEC §12's "Narrow it"): its scopes
/// (bits of a `ScopeSet`) and the streams it reached, in memory, written with the last-used
/// time at most once a minute. Shared by every caller read for the token, so a caller read
/// again (a new epoch) keeps counting in the same place.
#[derive(Debug, Default)]
pub struct Touched {
    scopes: AtomicU16,
    streams: Mutex<BTreeSet<StreamId>>,
    /// More streams than are kept: the token is not offered to be narrowed to streams.
    overflowed: AtomicBool,
}

/// The most streams kept per token between two writes (the most a limited token can hold).
const TOUCHED_STREAMS: usize = 100;

/// The most tokens whose use is kept between two writes; past it the map starts again (the
/// callers already read keep theirs).
const TOUCHED_TOKENS: usize = 100_000;

impl Touched {
    /// Notes a scope used (bits of a `ScopeSet`); a load first, so a request that uses what
    /// was noted already writes nothing.
    pub fn scopes(&self, bits: u16) {
        if self.scopes.load(Ordering::Relaxed) & bits != bits {
            self.scopes.fetch_or(bits, Ordering::Relaxed);
        }
    }

    /// Notes a stream reached.
    pub fn stream(&self, stream_id: &StreamId) {
        let mut streams = lock(&self.streams);
        if streams.contains(stream_id) {
            return;
        }
        if streams.len() >= TOUCHED_STREAMS {
            self.overflowed.store(true, Ordering::Relaxed);
            return;
        }
        streams.insert(stream_id.clone());
    }

    /// Takes what was noted (to be written): the scopes' bits, the streams, and whether there
    /// were more streams than kept.
    pub fn take(&self) -> (u16, BTreeSet<StreamId>, bool) {
        let streams = std::mem::take(&mut *lock(&self.streams));
        (self.scopes.swap(0, Ordering::Relaxed), streams, self.overflowed.swap(false, Ordering::Relaxed))
    }
}

impl ReadCache {
    /// For the SQLite database at `db_path`: opens (or creates) its epochs file.
    pub fn beside_sqlite_file(db_path: &str, capacity: usize) -> Result<ReadCache, String> {
        let shared = SharedEpochs::open(&format!("{db_path}-epochs"))?;
        Ok(ReadCache {
            shared: Some(shared),
            capacity,
            tokens: Mutex::default(),
            stream_counts: Mutex::default(),
            limited_counts: Mutex::default(),
            touched: Mutex::default(),
        })
    }

    /// For PostgreSQL, whose epochs the caller reads from the database.
    pub fn with_epochs_in_database(capacity: usize) -> ReadCache {
        ReadCache {
            shared: None,
            capacity,
            tokens: Mutex::default(),
            stream_counts: Mutex::default(),
            limited_counts: Mutex::default(),
            touched: Mutex::default(),
        }
    }

    /// The epochs now, if they live in shared memory (SQLite).
    pub fn shared_epochs(&self) -> Option<Epochs> {
        self.shared.as_ref().map(|shared| Epochs {
            tokens: shared.counter(Topic::Tokens).load(Ordering::SeqCst),
            streams: shared.counter(Topic::Streams).load(Ordering::SeqCst),
        })
    }

    /// Ends the epoch of `topic` in shared memory (SQLite).
    pub fn end_shared_epoch(&self, topic: Topic) {
        if let Some(shared) = &self.shared {
            shared.counter(topic).fetch_add(1, Ordering::SeqCst);
        }
    }

    /// Forgets every entry (when an epoch could not be ended).
    pub fn clear(&self) {
        lock(&self.tokens).clear();
        lock(&self.stream_counts).clear();
        lock(&self.limited_counts).clear();
    }

    /// The token read in epoch `epoch` of `Tokens`, if that is still the epoch, with what its
    /// use at `at` from `ip` should record (see [`CachedToken::note_use`]), under one lock.
    pub fn use_token(
        &self,
        digest: &[u8; 32],
        epoch: u64,
        at: i64,
        resolution_ms: i64,
        ip: Option<IpAddr>,
    ) -> Option<(Kept, UseNote)> {
        let mut tokens = lock(&self.tokens);
        let entry = tokens.get_mut(digest).filter(|entry| is_fresh(entry, epoch))?;
        let note = entry.value.note_use(at, resolution_ms, ip);
        Some((entry.value.caller.clone(), note))
    }

    /// Keeps a token read after the request saw `epoch`.
    pub fn put_token(&self, digest: [u8; 32], token: CachedToken, epoch: u64) {
        put(&mut lock(&self.tokens), self.capacity, digest, token, epoch);
    }

    /// The count read in epoch `epoch` of `Streams`, if that is still the epoch.
    pub fn stream_count(&self, user_id: &UserId, public_only: bool, epoch: u64) -> Option<i64> {
        let counts = lock(&self.stream_counts);
        counts
            .get(user_id)
            .filter(|entry| is_fresh(entry, epoch))
            .and_then(|entry| entry.value[public_only as usize])
    }

    /// Keeps a count read after the request saw `epoch`.
    pub fn put_stream_count(&self, user_id: &UserId, public_only: bool, count: i64, epoch: u64) {
        let mut counts = lock(&self.stream_counts);
        if let Some(entry) = counts.get_mut(user_id) {
            if is_fresh(entry, epoch) {
                entry.value[public_only as usize] = Some(count);
                return;
            }
        }
        let mut value = [None, None];
        value[public_only as usize] = Some(count);
        put(&mut counts, self.capacity, user_id.clone(), value, epoch);
    }
}

impl ReadCache {
    /// A limited token's count of streams read in epoch `epoch` of `Streams`, if that is
    /// still the epoch.
    pub fn limited_stream_count(&self, token_id: &TokenId, epoch: u64) -> Option<i64> {
        let counts = lock(&self.limited_counts);
        counts.get(token_id).filter(|entry| is_fresh(entry, epoch)).map(|entry| entry.value)
    }

    /// Where the use of this token is noted until it is written (see [`Touched`]).
    pub fn touched(&self, token_id: &TokenId) -> Arc<Touched> {
        let mut touched = lock(&self.touched);
        if let Some(kept) = touched.get(token_id) {
            return kept.clone();
        }
        if touched.len() >= TOUCHED_TOKENS {
            touched.clear();
        }
        touched.entry(token_id.clone()).or_default().clone()
    }

    /// Keeps a limited token's count read after the request saw `epoch`.
    pub fn put_limited_stream_count(&self, token_id: &TokenId, count: i64, epoch: u64) {
        put(&mut lock(&self.limited_counts), self.capacity, token_id.clone(), count, epoch);
    }
}

impl CachedToken {
    /// What a use at `at` from `ip` should record ("last used", once per `resolution_ms`; the
    /// address, once per `resolution_ms` per address); marks it as recorded, so that only one
    /// of several concurrent requests writes.
    pub fn note_use(&mut self, at: i64, resolution_ms: i64, ip: Option<IpAddr>) -> UseNote {
        let last_used = self.last_used_at.is_none_or(|last| at - last >= resolution_ms);
        if last_used {
            self.last_used_at = Some(at);
        }
        let address = match ip {
            None => false,
            Some(ip) => match self.addresses.iter_mut().find(|(known, _)| *known == ip) {
                Some((_, noted)) if at - *noted < resolution_ms => false,
                Some((_, noted)) => {
                    *noted = at;
                    true
                }
                None => {
                    if self.addresses.len() >= NOTED_ADDRESSES {
                        self.addresses.remove(0);
                    }
                    self.addresses.push((ip, at));
                    true
                }
            },
        };
        UseNote { last_used, address }
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    // A panic while holding the lock cannot leave a map half-updated in a way that matters:
    // every entry is checked against the epoch when read.
    mutex.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

fn is_fresh<T>(entry: &Entry<T>, current_epoch: u64) -> bool {
    entry.epoch == current_epoch && entry.read_at.elapsed() < MAX_AGE
}

fn put<K: std::hash::Hash + Eq, T>(
    map: &mut HashMap<K, Entry<T>>,
    capacity: usize,
    key: K,
    value: T,
    epoch: u64,
) {
    if capacity == 0 {
        return;
    }
    if map.len() >= capacity {
        map.clear();
    }
    map.insert(key, Entry { value, epoch, read_at: Instant::now() });
}

/// Counters in a file mapped into memory, shared by every process that maps it.
struct SharedEpochs {
    _map: memmap2::MmapMut,
    counters: *const AtomicU64,
}

// SAFETY: `counters` points into `_map`, which lives as long as this value and is only ever
// accessed through atomics, from any thread.
unsafe impl Send for SharedEpochs {}
// SAFETY: as above.
unsafe impl Sync for SharedEpochs {}

impl SharedEpochs {
    fn open(path: &str) -> Result<SharedEpochs, String> {
        let len = (TOPICS * std::mem::size_of::<u64>()) as u64;
        let fail = |error: std::io::Error| format!("{path}: {error}");
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(path)
            .map_err(fail)?;
        // A new (empty) file is grown, zero-filled; setting the length it already has changes
        // nothing, so processes starting together cannot reset each other's counters. Any
        // other length is not our file, or a damaged one: mapping it could fault (SIGBUS) or
        // reset the counters under running servers, so it is an error.
        match file.metadata().map_err(fail)?.len() {
            0 => file.set_len(len).map_err(fail)?,
            found if found == len => {}
            found => {
                return Err(format!(
                    "{path} has {found} bytes where {len} were expected: it is damaged or not ours. \
                     Stop every server on this database, delete it, and start again."
                ))
            }
        }
        // SAFETY: the file is ours (beside the database) and exactly `len` bytes long. Other
        // processes change it while it is mapped, but only through atomic operations, which
        // is what a shared mapping of the same page is for.
        let mut map = unsafe { memmap2::MmapMut::map_mut(&file) }.map_err(fail)?;
        let counters = map.as_mut_ptr().cast::<AtomicU64>();
        Ok(SharedEpochs { _map: map, counters })
    }

    fn counter(&self, topic: Topic) -> &AtomicU64 {
        // SAFETY: the mapping is page-aligned (so each u64 is aligned), holds TOPICS counters,
        // and outlives the returned reference, which borrows `self`.
        unsafe { &*self.counters.add(topic as usize) }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_epochs_file_of_the_wrong_length_is_an_error_not_a_fault() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("db-epochs");
        let path = path.to_str().unwrap();
        let fresh = SharedEpochs::open(path).unwrap();
        fresh.counter(Topic::Tokens).fetch_add(3, std::sync::atomic::Ordering::SeqCst);
        drop(fresh);
        let reopened = SharedEpochs::open(path).unwrap();
        assert_eq!(reopened.counter(Topic::Tokens).load(std::sync::atomic::Ordering::SeqCst), 3);
        drop(reopened);
        std::fs::OpenOptions::new().write(true).open(path).unwrap().set_len(5).unwrap();
        let error = SharedEpochs::open(path).err().unwrap();
        assert!(error.contains("5 bytes"), "{error}");
    }
}
