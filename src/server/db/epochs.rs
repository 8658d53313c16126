//! PostgreSQL's cache epochs read once for many requests (see [`super::cache`]).
//!
//! A request must be checked against epochs read *after* it arrived: a revocation answered
//! before the request was sent has ended its epoch by then, so such a read sees it. A read
//! already under way when a request arrives may have been sent before that epoch ended, so
//! the request never joins it: it waits for the next read, which is sent after every request
//! waiting for it had arrived, and that one read answers all of them. Alone, a request costs
//! one read, as it did; under load one read serves everyone who arrived while the previous
//! one was in flight. The reads run on a task of their own, so a request that goes away
//! (its client hung up) strands no one waiting behind it.

use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::oneshot;

use super::cache::Epochs;
use crate::rules::error::{AppError, AppResult};

/// A read of the epochs that has not answered in this long answers `Unavailable` (503).
const READ_TIMEOUT: Duration = Duration::from_secs(3);

/// The requests waiting for the next read of the epochs, and whether a reader is running.
#[derive(Default)]
pub struct EpochReads {
    next: Mutex<Batch>,
}

#[derive(Default)]
struct Batch {
    /// A reader task is running: it takes the waiting requests after its current read.
    reading: bool,
    waiting: Vec<oneshot::Sender<AppResult<Epochs>>>,
}

impl EpochReads {
    /// Epochs read after this call began, by `read` (one read for everyone waiting with it).
    pub async fn after_now<R, F>(self: &Arc<Self>, read: R) -> AppResult<Epochs>
    where
        R: Fn() -> F + Send + 'static,
        F: Future<Output = AppResult<Epochs>> + Send + 'static,
    {
        let (answer, answered) = oneshot::channel();
        let start = {
            let mut next = lock(&self.next);
            next.waiting.push(answer);
            !std::mem::replace(&mut next.reading, true)
        };
        if start {
            tokio::spawn(Arc::clone(self).serve(read));
        }
        // A reader that panicked or a runtime shutting down drops the sender: never a hang.
        answered.await.unwrap_or(Err(AppError::Unavailable))
    }

    /// Reads for the waiting requests, batch after batch, until none are waiting.
    async fn serve<R, F>(self: Arc<Self>, read: R)
    where
        R: Fn() -> F,
        F: Future<Output = AppResult<Epochs>>,
    {
        // Should a read panic, the next request starts a reader again; those waiting on this
        // one are answered by their dropped senders.
        let mut stopped = Stopped { reads: &self, unexpectedly: true };
        loop {
            let batch = {
                let mut next = lock(&self.next);
                if next.waiting.is_empty() {
                    // Under the lock: a request arriving after this starts a reader of its own.
                    next.reading = false;
                    stopped.unexpectedly = false;
                    return;
                }
                std::mem::take(&mut next.waiting)
            };
            // Sent after every request of `batch` was waiting: it sees what they must.
            let epochs =
                tokio::time::timeout(READ_TIMEOUT, read()).await.unwrap_or(Err(AppError::Unavailable));
            for answer in batch {
                let _ = answer.send(epochs.clone());
            }
        }
    }
}

/// Marks the reader stopped when `serve` ends by a panic or by being dropped (a runtime
/// shutting down). Not after its normal end: another reader may have started by then.
struct Stopped<'a> {
    reads: &'a EpochReads,
    unexpectedly: bool,
}

impl Drop for Stopped<'_> {
    fn drop(&mut self) {
        if self.unexpectedly {
            lock(&self.reads.next).reading = false;
        }
    }
}

fn lock(mutex: &Mutex<Batch>) -> std::sync::MutexGuard<'_, Batch> {
    mutex.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicU64, Ordering};

    /// The rule itself: a request never takes the answer of a read sent before it arrived,
    /// and requests arriving during one read share the next.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_request_waits_for_a_read_sent_after_it_arrived() {
        let reads = Arc::new(EpochReads::default());
        // The "sequence": each read answers the value as it was when the read was sent.
        let sequence = Arc::new(AtomicU64::new(0));
        let sent = Arc::new(AtomicU64::new(0));
        let read = {
            let (sequence, sent) = (sequence.clone(), sent.clone());
            move || {
                let (sequence, sent) = (sequence.clone(), sent.clone());
                async move {
                    sent.fetch_add(1, Ordering::SeqCst);
                    let value = sequence.load(Ordering::SeqCst);
                    tokio::time::sleep(Duration::from_millis(20)).await;
                    Ok(Epochs { tokens: value, streams: 0 })
                }
            }
        };
        let mut tasks = Vec::new();
        for _ in 0..200 {
            // A write ends the epoch, then the request arrives: it must see the new value.
            let ended = sequence.fetch_add(1, Ordering::SeqCst) + 1;
            let (reads, read) = (reads.clone(), read.clone());
            tasks.push(tokio::spawn(async move { (ended, reads.after_now(read).await.unwrap().tokens) }));
            tokio::time::sleep(Duration::from_micros(500)).await;
        }
        for task in tasks {
            let (ended, seen) = task.await.unwrap();
            assert!(seen >= ended, "a request saw epoch {seen} after epoch {ended} had begun");
        }
        let sent = sent.load(Ordering::SeqCst);
        assert!(sent < 100, "200 requests during 20 ms reads shared them: {sent} reads");
    }

    /// A reader whose read panics answers its waiters (503) and the next request reads again.
    #[tokio::test]
    async fn a_failed_reader_strands_no_one() {
        let reads = Arc::new(EpochReads::default());
        let panicking = || async { panic!("the read failed") };
        assert_eq!(reads.after_now(panicking).await, Err(AppError::Unavailable));
        let fine = || async { Ok(Epochs { tokens: 7, streams: 8 }) };
        assert_eq!(reads.after_now(fine).await, Ok(Epochs { tokens: 7, streams: 8 }));
    }
}
