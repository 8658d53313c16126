//! The server's one clock: every "now" of the domain, the background pass and the doors is
//! read from the [`Clock`] that the database pool carries (`conn.now()`, `db.now()`), so a
//! test moves time with [`Clock::advance`] instead of sleeping for it.

use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// Wall-clock time in Unix milliseconds (how every time is stored), plus an offset that only
/// an adjustable clock (tests) can move. A server's clock is [`Clock::system`].
#[derive(Clone, Debug, Default)]
pub struct Clock {
    offset_ms: Option<Arc<AtomicI64>>,
}

impl Clock {
    /// The system's clock, as production reads it.
    pub fn system() -> Clock {
        Clock { offset_ms: None }
    }

    /// The system's clock, which [`Clock::advance`] moves forward: for tests.
    pub fn adjustable() -> Clock {
        Clock { offset_ms: Some(Arc::new(AtomicI64::new(0))) }
    }

    /// Now, in Unix milliseconds.
    pub fn now(&self) -> i64 {
        let offset = self.offset_ms.as_ref().map_or(0, |offset| offset.load(Ordering::Relaxed));
        system_millis() + offset
    }

    /// Moves this clock (and every clone of it) forward by `by`; a system clock cannot be
    /// moved, and says so.
    pub fn advance(&self, by: Duration) {
        let offset = self.offset_ms.as_ref().expect("only an adjustable clock can be advanced");
        offset.fetch_add(i64::try_from(by.as_millis()).unwrap_or(i64::MAX), Ordering::Relaxed);
    }
}

fn system_millis() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_adjustable_clock_moves_for_every_clone() {
        let clock = Clock::adjustable();
        let seen = clock.clone();
        let before = seen.now();
        clock.advance(Duration::from_secs(3_600));
        assert!(seen.now() - before >= 3_600_000);
        assert!(seen.now() - before < 3_660_000);
    }

    #[test]
    fn the_system_clock_is_the_system_s() {
        let now = Clock::system().now();
        assert!((now - system_millis()).abs() < 1_000);
    }
}
