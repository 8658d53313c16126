//! Brute-force and flood protection, per client address (IPv6 grouped by /64).
//!
//! - [`FailureThrottle`]: failures counted per key in fixed windows; a key that reached its
//!   limit is refused until its window ends. Keys are stored as 16-byte digests, so a 1 MB
//!   email costs 16 bytes, and the map holds at most [`MAX_KEYS`], dropping the oldest.
//! - [`AddressLanes`]: each address may have two sign-ins or sign-ups hashing at once; the
//!   rest of its requests wait in its own lane, so a flood from one address cannot fill the
//!   shared hashing queue that everyone else needs.
//!
//! The counts live in this server's memory: with several servers each enforces its own limit
//! (documented in the README), which still caps an attacker at limit × servers per window.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::http::Extensions;
use sha2::{Digest, Sha256};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use crate::rules::error::AppError;
use crate::server::auth::client::ClientAddress;

/// The most keys one throttle remembers; past it, the oldest windows are forgotten.
pub const MAX_KEYS: usize = 100_000;

type Key = [u8; 16];

/// A key as it is stored: the first 16 bytes of the SHA-256 of its parts.
fn key_of(parts: &[&str]) -> Key {
    let mut hasher = Sha256::new();
    for part in parts {
        hasher.update((part.len() as u64).to_le_bytes());
        hasher.update(part.as_bytes());
    }
    let digest = hasher.finalize();
    let mut key = [0; 16];
    key.copy_from_slice(&digest[..16]);
    key
}

pub struct FailureThrottle {
    limit: u32,
    window: Duration,
    entries: Mutex<HashMap<Key, Window>>,
}

struct Window {
    started: Instant,
    failures: u32,
}

impl FailureThrottle {
    pub fn new(limit: u32, window: Duration) -> Self {
        FailureThrottle { limit, window, entries: Mutex::new(HashMap::new()) }
    }

    /// How long the key must wait, if it has used up its failures in this window.
    pub fn blocked(&self, key: &[&str]) -> Option<Duration> {
        let entries = self.entries.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        self.wait(entries.get(&key_of(key))?)
    }

    /// How long a key with this window must still wait, if it used up its failures.
    fn wait(&self, window: &Window) -> Option<Duration> {
        let elapsed = window.started.elapsed();
        (window.failures >= self.limit && elapsed < self.window).then(|| self.window - elapsed)
    }

    /// Counts one failure for the key.
    pub fn record_failure(&self, key: &[&str]) {
        self.add(key_of(key), 1);
    }

    /// Counts an attempt as a failure before it is made (so a burst of concurrent attempts
    /// cannot overshoot the limit), or says how long to wait. [`FailureThrottle::forgive`]
    /// takes it back if the attempt succeeds.
    pub fn begin(&self, key: &[&str]) -> Result<(), Duration> {
        let key = key_of(key);
        let mut entries = self.entries.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        if let Some(wait) = entries.get(&key).and_then(|window| self.wait(window)) {
            return Err(wait);
        }
        self.count(&mut entries, key, 1);
        Ok(())
    }

    /// Takes back one failure counted by [`FailureThrottle::begin`].
    pub fn forgive(&self, key: &[&str]) {
        self.add(key_of(key), -1);
    }

    fn add(&self, key: Key, change: i32) {
        let mut entries = self.entries.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        self.count(&mut entries, key, change);
    }

    fn count(&self, entries: &mut HashMap<Key, Window>, key: Key, change: i32) {
        if entries.len() >= MAX_KEYS && !entries.contains_key(&key) {
            self.forget_oldest(entries);
        }
        let window = entries.entry(key).or_insert(Window { started: Instant::now(), failures: 0 });
        if window.started.elapsed() >= self.window {
            *window = Window { started: Instant::now(), failures: 0 };
        }
        window.failures = window.failures.saturating_add_signed(change);
    }

    /// Drops ended windows, and if that is not enough, the oldest tenth.
    fn forget_oldest(&self, entries: &mut HashMap<Key, Window>) {
        entries.retain(|_, w| w.started.elapsed() < self.window);
        if entries.len() < MAX_KEYS {
            return;
        }
        let mut starts: Vec<Instant> = entries.values().map(|w| w.started).collect();
        let tenth = starts.len() / 10;
        let (_, cutoff, _) = starts.select_nth_unstable(tenth);
        let cutoff = *cutoff;
        entries.retain(|_, w| w.started > cutoff);
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.entries.lock().unwrap().len()
    }
}

/// Lanes into the password hashing queue, one per address (or per trusted device).
pub struct Lanes<K = IpAddr> {
    lanes: Mutex<HashMap<K, Arc<Semaphore>>>,
    /// At once per key; waiting per key (past it, told to slow down); the longest wait.
    at_once: usize,
    waiting: usize,
    wait: Duration,
}

/// Per-address lanes.
pub type AddressLanes = Lanes<IpAddr>;

/// Sign-ins or sign-ups of one address hashing at once.
const PER_ADDRESS: usize = 2;
/// Requests of one address waiting for its lane; past it, the address is told to slow down.
const WAITING_PER_ADDRESS: usize = 16;
/// The longest a request waits in its lane.
const LANE_WAIT: Duration = Duration::from_secs(10);

/// A place in an address's lane; given back when dropped.
pub struct LanePass {
    _permit: OwnedSemaphorePermit,
}

impl<K: std::hash::Hash + Eq> Lanes<K> {
    /// Lanes into the password hashing queue: two at once, sixteen waiting, ten seconds.
    fn new() -> Self {
        Lanes::with(PER_ADDRESS, WAITING_PER_ADDRESS, LANE_WAIT)
    }

    /// Lanes of `at_once` requests per key, `waiting` more waiting at most `wait`.
    fn with(at_once: usize, waiting: usize, wait: Duration) -> Self {
        Lanes { lanes: Mutex::new(HashMap::new()), at_once, waiting, wait }
    }

    /// Waits for a place in the lane of `address` (or device).
    pub async fn enter(&self, address: K) -> Result<LanePass, AppError> {
        let lane = {
            let mut lanes = self.lanes.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
            // Lanes nobody holds or waits for are dropped as others are made.
            lanes.retain(|_, lane| Arc::strong_count(lane) > 1);
            lanes.entry(address).or_insert_with(|| Arc::new(Semaphore::new(self.at_once))).clone()
        };
        if Arc::strong_count(&lane) > 1 + self.at_once + self.waiting {
            return Err(AppError::RateLimited(1));
        }
        match tokio::time::timeout(self.wait, lane.acquire_owned()).await {
            Ok(Ok(permit)) => Ok(LanePass { _permit: permit }),
            _ => Err(AppError::Busy("too many requests from your address at once".into())),
        }
    }
}

/// The limits of one server.
pub struct Throttles {
    /// Failed sign-ins per (address, email).
    pub sign_in: FailureThrottle,
    /// Failed sign-ins per address, whatever the email.
    pub sign_in_address: FailureThrottle,
    /// Accounts made per address.
    pub sign_up: FailureThrottle,
    /// Failed bearer checks per address.
    pub bearer: FailureThrottle,
    /// Per-address lanes into password hashing.
    pub lanes: AddressLanes,
    /// Failed sign-ins per trusted device (instead of per address: OWASP's device cookies).
    pub sign_in_device: FailureThrottle,
    /// Per-device lanes, for browsers that signed in to the account before.
    pub device_lanes: Lanes<String>,
    /// The API without a token, per address: one request at a time (more wait their turn).
    pub anonymous: AddressLanes,
    /// Secret scanning batches per address (every request counts).
    pub scanning: FailureThrottle,
    /// Leaked-token reports per address (every request counts).
    pub report: FailureThrottle,
    /// Wrong current passwords per user when changing it.
    pub password_change: FailureThrottle,
    /// Unknown codes per user on `/device`, so that no one can guess another person's.
    pub device_code: FailureThrottle,
    /// Device grants started per address (every request counts).
    pub device_start: FailureThrottle,
}

impl Default for Throttles {
    /// 10 failed sign-ins per email and address in 15 minutes, 50 per address, 10 per trusted
    /// device; 100 sign-ups
    /// per address an hour; 100 failed bearer checks per address in a minute; 300 scanning
    /// batches per address a minute; 20 reports per address in 10 minutes; 10 wrong current
    /// passwords per user in 15 minutes; 10 unknown device codes per user in 15 minutes; 60
    /// device grants started per address in 10 minutes.
    fn default() -> Self {
        Throttles {
            sign_in: FailureThrottle::new(10, Duration::from_secs(15 * 60)),
            sign_in_address: FailureThrottle::new(50, Duration::from_secs(15 * 60)),
            sign_up: FailureThrottle::new(100, Duration::from_secs(3600)),
            bearer: FailureThrottle::new(100, Duration::from_secs(60)),
            lanes: AddressLanes::new(),
            sign_in_device: FailureThrottle::new(10, Duration::from_secs(15 * 60)),
            device_lanes: Lanes::new(),
            anonymous: Lanes::with(1, 64, Duration::from_secs(30)),
            scanning: FailureThrottle::new(300, Duration::from_secs(60)),
            report: FailureThrottle::new(20, Duration::from_secs(600)),
            password_change: FailureThrottle::new(10, Duration::from_secs(15 * 60)),
            device_code: FailureThrottle::new(10, Duration::from_secs(15 * 60)),
            device_start: FailureThrottle::new(60, Duration::from_secs(600)),
        }
    }
}

/// The client's address as the throttles count it: the address [`ClientAddress`] settled on
/// (or the listener's), with IPv6 grouped by /64, since one host holds a whole /64.
pub fn client_ip(extensions: &Extensions) -> IpAddr {
    let address = ClientAddress::of(extensions);
    match address.to_canonical() {
        IpAddr::V6(v6) => {
            let segments = v6.segments();
            IpAddr::from([segments[0], segments[1], segments[2], segments[3], 0, 0, 0, 0])
        }
        v4 => v4,
    }
}

/// Whole seconds to wait, rounded up, for a `Retry-After` header.
pub fn retry_after_secs(wait: Duration) -> u64 {
    wait.as_secs() + u64::from(wait.subsec_nanos() > 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blocks_after_the_limit_and_only_that_key() {
        let throttle = FailureThrottle::new(3, Duration::from_secs(60));
        for _ in 0..3 {
            assert!(throttle.blocked(&["a"]).is_none());
            throttle.record_failure(&["a"]);
        }
        assert!(throttle.blocked(&["a"]).is_some_and(|wait| wait <= Duration::from_secs(60)));
        assert!(throttle.blocked(&["b"]).is_none());
        assert!(throttle.blocked(&["a", ""]).is_none(), "parts are not run together");
    }

    #[test]
    fn a_new_window_starts_afresh() {
        let throttle = FailureThrottle::new(1, Duration::from_millis(20));
        throttle.record_failure(&["a"]);
        assert!(throttle.blocked(&["a"]).is_some());
        std::thread::sleep(Duration::from_millis(25));
        assert!(throttle.blocked(&["a"]).is_none());
        throttle.record_failure(&["a"]);
        assert!(throttle.blocked(&["a"]).is_some());
    }

    #[test]
    fn an_attempt_is_counted_before_it_is_made_and_forgiven_if_it_succeeds() {
        let throttle = FailureThrottle::new(2, Duration::from_secs(60));
        throttle.begin(&["a"]).unwrap();
        throttle.begin(&["a"]).unwrap();
        assert!(throttle.begin(&["a"]).is_err(), "two in flight used the limit up");
        throttle.forgive(&["a"]);
        assert!(throttle.begin(&["a"]).is_ok());
    }

    #[test]
    fn keys_are_bounded_in_size_and_count() {
        let throttle = FailureThrottle::new(1, Duration::from_secs(60));
        let huge = "x".repeat(1024 * 1024);
        throttle.record_failure(&["1.2.3.4", &huge]);
        assert!(throttle.blocked(&["1.2.3.4", &huge]).is_some());
        for i in 0..MAX_KEYS + 10 {
            throttle.record_failure(&[&i.to_string()]);
        }
        assert!(throttle.len() <= MAX_KEYS);
        assert!(throttle.blocked(&[&(MAX_KEYS + 9).to_string()]).is_some(), "the newest are kept");
    }

    #[test]
    fn ipv6_addresses_are_counted_by_their_64_bit_prefix() {
        use crate::server::auth::client::ClientAddress;
        let of = |address: &str| {
            let mut extensions = Extensions::new();
            extensions.insert(ClientAddress(address.parse().unwrap()));
            client_ip(&extensions)
        };
        assert_eq!(of("2001:db8:1:2:aaaa::1"), of("2001:db8:1:2:bbbb::9"), "one host's /64");
        assert_ne!(of("2001:db8:1:2::1"), of("2001:db8:1:3::1"));
        assert_eq!(of("::ffff:192.0.2.7"), "192.0.2.7".parse::<IpAddr>().unwrap(), "mapped IPv4 is IPv4");
    }

    #[tokio::test]
    async fn an_address_hashes_two_at_a_time_and_queues_a_few_more() {
        let lanes = AddressLanes::new();
        let address: IpAddr = "10.0.0.1".parse().unwrap();
        let first = lanes.enter(address).await.unwrap();
        let _second = lanes.enter(address).await.unwrap();
        let third = tokio::time::timeout(Duration::from_millis(50), lanes.enter(address)).await;
        assert!(third.is_err(), "the third waits");
        assert!(lanes.enter("10.0.0.2".parse().unwrap()).await.is_ok(), "others do not");
        drop(first);
        assert!(lanes.enter(address).await.is_ok());
    }
}
