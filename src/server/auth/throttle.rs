//! Brute-force protection: failures are counted per key (an address, or an address and an
//! email) in fixed windows, and a key that reached its limit is refused until its window ends.
//! The counts live in this server's memory: with several servers each enforces its own limit
//! (documented in the README), which still caps an attacker at limit × servers per window.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use axum::extract::ConnectInfo;
use axum::http::Extensions;

/// Keys kept before expired ones are swept, so an attacker cannot grow the map forever.
const SWEEP_ABOVE: usize = 100_000;

pub struct FailureThrottle {
    limit: u32,
    window: Duration,
    entries: Mutex<HashMap<String, Window>>,
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
    pub fn blocked(&self, key: &str) -> Option<Duration> {
        let entries = self.entries.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        let window = entries.get(key)?;
        let elapsed = window.started.elapsed();
        (window.failures >= self.limit && elapsed < self.window).then(|| self.window - elapsed)
    }

    /// Counts one failure for the key.
    pub fn record_failure(&self, key: &str) {
        let mut entries = self.entries.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        if entries.len() >= SWEEP_ABOVE {
            let window = self.window;
            entries.retain(|_, w| w.started.elapsed() < window);
        }
        let window = entries.entry(key.to_owned()).or_insert(Window { started: Instant::now(), failures: 0 });
        if window.started.elapsed() >= self.window {
            *window = Window { started: Instant::now(), failures: 0 };
        }
        window.failures = window.failures.saturating_add(1);
    }
}

/// The limits of one server.
pub struct Throttles {
    /// Failed sign-ins per (address, email).
    pub sign_in: FailureThrottle,
    /// Failed bearer checks per address.
    pub bearer: FailureThrottle,
}

impl Default for Throttles {
    /// 10 failed sign-ins per email and address in 15 minutes; 100 failed bearer checks per
    /// address in a minute.
    fn default() -> Self {
        Throttles {
            sign_in: FailureThrottle::new(10, Duration::from_secs(15 * 60)),
            bearer: FailureThrottle::new(100, Duration::from_secs(60)),
        }
    }
}

/// The client's address, as the listener saw it (requests without one share one key).
pub fn client_ip(extensions: &Extensions) -> IpAddr {
    extensions
        .get::<ConnectInfo<SocketAddr>>()
        .map(|ConnectInfo(addr)| addr.ip())
        .unwrap_or(IpAddr::from([0, 0, 0, 0]))
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
            assert!(throttle.blocked("a").is_none());
            throttle.record_failure("a");
        }
        assert!(throttle.blocked("a").is_some_and(|wait| wait <= Duration::from_secs(60)));
        assert!(throttle.blocked("b").is_none());
    }

    #[test]
    fn a_new_window_starts_afresh() {
        let throttle = FailureThrottle::new(1, Duration::from_millis(20));
        throttle.record_failure("a");
        assert!(throttle.blocked("a").is_some());
        std::thread::sleep(Duration::from_millis(25));
        assert!(throttle.blocked("a").is_none());
        throttle.record_failure("a");
        assert!(throttle.blocked("a").is_some());
    }
}
