//! Passwords: argon2id with OWASP's parameters, hashed off the async runtime, fairly.
//!
//! One thread per server, at the lowest priority, hashes every password in turn. Each hash
//! takes 19 MiB and a core for ~60 ms: a storm of sign-ins queues here, holds one buffer's
//! worth of memory, and leaves the other cores to the API. The queue is short and served by
//! priority, not arrival: a browser that signed in to the account before (a trusted device,
//! OWASP's device cookie) first; then the address that asked for the fewest hashes in the last
//! minute. A flood from many addresses therefore queues behind itself: a person signing in
//! from elsewhere is served next, and when the queue is full it is the flood's latest that is
//! turned away (503), not them.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use argon2::password_hash::{rand_core::OsRng, PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};
use secrecy::{ExposeSecret, SecretString};

use crate::rules::error::{bad_input, AppError, AppResult};
use crate::rules::limits::{MAX_PASSWORD_CHARS, MIN_PASSWORD_CHARS};

/// OWASP's first recommendation: 19 MiB of memory, two passes, one lane.
fn argon2id() -> Argon2<'static> {
    let params = Params::new(19 * 1024, 2, 1, None).expect("constant argon2 parameters are valid");
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
}

/// Checks a new password's length; the message says what is wrong.
pub fn validate_new(password: &SecretString) -> AppResult<()> {
    let chars = password.expose_secret().chars().count();
    if chars < MIN_PASSWORD_CHARS {
        return Err(bad_input(format!("The password must be at least {MIN_PASSWORD_CHARS} characters.")));
    }
    if chars > MAX_PASSWORD_CHARS {
        return Err(bad_input(format!("The password must be at most {MAX_PASSWORD_CHARS} characters.")));
    }
    Ok(())
}

/// Hashes waiting for the hashing thread: about half a second of work. Past this, the
/// waiting hash of least priority is turned away (told to retry), the newcomer's or another's.
pub const HASHING_QUEUE: usize = 8;
/// A hash that waited this long is turned away rather than run late.
const LONGEST_WAIT: Duration = Duration::from_secs(10);
/// How long an address's hashes count against its priority.
const USAGE_WINDOW: Duration = Duration::from_secs(60);
/// Addresses whose usage is remembered; past this, the oldest windows are forgotten.
const MAX_ADDRESSES: usize = 100_000;

/// Who asks for a hash: by their address (IPv6 by /64), and whether their browser is a
/// trusted device of the account.
#[derive(Clone, Copy, Debug)]
pub struct Asker {
    pub address: IpAddr,
    pub trusted_device: bool,
}

type Job = Box<dyn FnOnce() + Send>;

/// Lower is served first: trusted devices, then the address that asked least, then arrival.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
struct Priority {
    untrusted: bool,
    usage: u32,
    arrival: u64,
}

struct Waiting {
    priority: Priority,
    since: Instant,
    /// Runs the hash and answers; dropped unrun, its asker is told to retry.
    job: Job,
}

#[derive(Default)]
struct Queue {
    waiting: Vec<Waiting>,
    arrivals: u64,
    usage: HashMap<IpAddr, (Instant, u32)>,
    closed: bool,
}

#[derive(Default)]
struct Shared {
    queue: Mutex<Queue>,
    work: Condvar,
}

/// The password hashing of one server: its thread and its queue. The thread ends when the
/// last handle is dropped.
pub struct Hasher {
    shared: Arc<Shared>,
}

impl Default for Hasher {
    fn default() -> Self {
        Hasher::new()
    }
}

impl Drop for Hasher {
    fn drop(&mut self) {
        lock(&self.shared.queue).closed = true;
        self.shared.work.notify_all();
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

impl Hasher {
    pub fn new() -> Hasher {
        let shared = Arc::new(Shared::default());
        let working = shared.clone();
        let spawned = std::thread::Builder::new().name("password-hashing".into()).spawn(move || {
            lower_this_threads_priority();
            while let Some(job) = next_job(&working) {
                job();
            }
        });
        if let Err(error) = spawned {
            tracing::error!(%error, "cannot start the password hashing thread");
            lock(&shared.queue).closed = true;
        }
        Hasher { shared }
    }

    /// Hashes a password into a PHC string.
    pub async fn hash(&self, password: SecretString, asker: Asker) -> AppResult<String> {
        self.run(asker, move || {
            let salt = SaltString::generate(&mut OsRng);
            argon2id().hash_password(password.expose_secret().as_bytes(), &salt).map(|hash| hash.to_string())
        })
        .await?
        .map_err(|error| {
            tracing::error!(%error, "password hashing failed");
            AppError::Internal
        })
    }

    /// Verifies a password against a stored hash. With no stored hash (unknown email) it
    /// still does the same work, so timing does not tell which emails exist. A password
    /// longer than any we accept is refused without hashing (its length is no secret). Errs
    /// only if the hash was turned away (the queue is full of more urgent ones).
    pub async fn verify(
        &self,
        password: SecretString,
        stored: Option<String>,
        asker: Asker,
    ) -> AppResult<bool> {
        if password.expose_secret().chars().count() > MAX_PASSWORD_CHARS {
            return Ok(false);
        }
        self.run(asker, move || {
            let stored = stored.unwrap_or_else(|| DUMMY_HASH.clone());
            let Ok(parsed) = PasswordHash::new(&stored) else { return false };
            argon2id().verify_password(password.expose_secret().as_bytes(), &parsed).is_ok()
        })
        .await
    }

    /// Whether a hash asked for now by `asker` would get a place in the queue: checked before
    /// any database work, so that a flood the queue turns away costs no read either. A refusal
    /// counts as a use of the address: otherwise a flood turned away here would keep the
    /// standing of an address that never asked, and outrank the person who really hasn't.
    pub fn admits(&self, asker: Asker) -> AppResult<()> {
        let now = Instant::now();
        let mut queue = lock(&self.shared.queue);
        if queue.waiting.len() < HASHING_QUEUE {
            return Ok(());
        }
        let usage =
            queue.usage.get(&asker.address).filter(|(start, _)| now.duration_since(*start) < USAGE_WINDOW);
        let priority = Priority {
            untrusted: !asker.trusted_device,
            usage: usage.map_or(0, |(_, count)| *count),
            arrival: queue.arrivals + 1,
        };
        match queue.waiting.iter().map(|waiting| waiting.priority).max() {
            Some(worst) if priority >= worst => {
                queue.count_use(asker.address, now);
                Err(busy())
            }
            _ => Ok(()),
        }
    }

    /// Queues `work` by the asker's priority and waits for it without blocking the runtime.
    async fn run<T: Send + 'static>(
        &self,
        asker: Asker,
        work: impl FnOnce() -> T + Send + 'static,
    ) -> AppResult<T> {
        let (answer, answered) = tokio::sync::oneshot::channel();
        let job: Job = Box::new(move || {
            let _ = answer.send(work());
        });
        self.enqueue(asker, job)?;
        // The job dropped unrun (turned away for a more urgent one, or too late): retry.
        answered.await.map_err(|_| busy())
    }

    fn enqueue(&self, asker: Asker, job: Job) -> AppResult<()> {
        let now = Instant::now();
        let mut queue = lock(&self.shared.queue);
        if queue.closed {
            return Err(AppError::Internal);
        }
        let usage = queue.count_use(asker.address, now);
        queue.arrivals += 1;
        let priority = Priority { untrusted: !asker.trusted_device, usage, arrival: queue.arrivals };
        if queue.waiting.len() >= HASHING_QUEUE {
            let (worst, worst_priority) = queue
                .waiting
                .iter()
                .enumerate()
                .map(|(i, waiting)| (i, waiting.priority))
                .max_by_key(|(_, priority)| *priority)
                .expect("a full queue has a last place");
            if priority >= worst_priority {
                return Err(busy());
            }
            // Dropped unrun: its asker is told to retry.
            drop(queue.waiting.swap_remove(worst));
        }
        queue.waiting.push(Waiting { priority, since: now, job });
        drop(queue);
        self.shared.work.notify_one();
        Ok(())
    }
}

impl Queue {
    /// Counts one hash for `address` in its current window; answers how many it had before.
    fn count_use(&mut self, address: IpAddr, now: Instant) -> u32 {
        if self.usage.len() >= MAX_ADDRESSES && !self.usage.contains_key(&address) {
            self.usage.retain(|_, (start, _)| now.duration_since(*start) < USAGE_WINDOW);
            if self.usage.len() >= MAX_ADDRESSES {
                self.usage.clear();
            }
        }
        let (start, count) = self.usage.entry(address).or_insert((now, 0));
        if now.duration_since(*start) >= USAGE_WINDOW {
            (*start, *count) = (now, 0);
        }
        let before = *count;
        *count = count.saturating_add(1);
        before
    }
}

/// The next job for the hashing thread, by priority; `None` once the server is gone. Jobs
/// that waited too long are dropped (their askers are told to retry).
fn next_job(shared: &Shared) -> Option<Job> {
    let mut queue = lock(&shared.queue);
    loop {
        if queue.closed {
            return None;
        }
        queue.waiting.retain(|waiting| waiting.since.elapsed() < LONGEST_WAIT);
        let best =
            queue.waiting.iter().enumerate().min_by_key(|(_, waiting)| waiting.priority).map(|(i, _)| i);
        if let Some(best) = best {
            return Some(queue.waiting.swap_remove(best).job);
        }
        queue = shared.work.wait(queue).unwrap_or_else(|poisoned| poisoned.into_inner());
    }
}

fn busy() -> AppError {
    AppError::Busy("too many sign-ins at once".into())
}

fn lower_this_threads_priority() {
    // SAFETY: setpriority with PRIO_PROCESS and id 0 changes only the calling thread's nice
    // value on Linux; it touches none of our memory.
    let result = unsafe { libc::setpriority(libc::PRIO_PROCESS, 0, 19) };
    if result != 0 {
        tracing::debug!("could not lower the password hashing thread's priority");
    }
}

static DUMMY_HASH: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
    let salt = SaltString::generate(&mut OsRng);
    argon2id()
        .hash_password(b"no account has this password", &salt)
        .map(|hash| hash.to_string())
        .unwrap_or_default()
});

#[cfg(test)]
mod tests {
    use super::*;

    fn asker(address: &str, trusted_device: bool) -> Asker {
        Asker { address: address.parse().unwrap(), trusted_device }
    }

    #[test]
    fn the_address_that_asked_least_goes_first_and_trusted_devices_before_all() {
        let mut queue = Queue::default();
        let now = Instant::now();
        for _ in 0..5 {
            queue.count_use("10.0.0.1".parse().unwrap(), now);
        }
        let flood = Priority {
            untrusted: true,
            usage: queue.count_use("10.0.0.1".parse().unwrap(), now),
            arrival: 1,
        };
        let newcomer = Priority {
            untrusted: true,
            usage: queue.count_use("192.0.2.7".parse().unwrap(), now),
            arrival: 2,
        };
        let device = Priority { untrusted: false, usage: 50, arrival: 3 };
        assert!(newcomer < flood, "fewest hashes first, whatever the arrival");
        assert!(device < newcomer, "a trusted device before anyone");
    }

    #[tokio::test]
    async fn a_full_queue_turns_away_its_least_urgent_and_the_thread_ends_with_the_hasher() {
        let hasher = Arc::new(Hasher::new());
        // Hold the thread with a job that waits for the test.
        let (release, held) = std::sync::mpsc::channel::<()>();
        let (started, running) = tokio::sync::oneshot::channel();
        let blocker = {
            let hasher = hasher.clone();
            tokio::spawn(async move {
                hasher
                    .run(asker("10.0.0.1", false), move || {
                        let _ = started.send(());
                        let _ = held.recv();
                    })
                    .await
            })
        };
        running.await.unwrap();
        for _ in 0..HASHING_QUEUE {
            hasher.enqueue(asker("10.0.0.1", false), Box::new(|| ())).unwrap();
        }
        assert!(
            hasher.enqueue(asker("10.0.0.1", false), Box::new(|| ())).is_err(),
            "no better than the rest"
        );
        assert!(
            hasher.enqueue(asker("192.0.2.7", false), Box::new(|| ())).is_ok(),
            "a newcomer gets a place"
        );
        release.send(()).unwrap();
        blocker.await.unwrap().unwrap();
        let shared = hasher.shared.clone();
        drop(hasher);
        for _ in 0..100 {
            if Arc::strong_count(&shared) == 1 {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        panic!("the hashing thread outlived its hasher");
    }

    #[tokio::test]
    async fn an_address_turned_away_before_queueing_counts_that_as_a_use() {
        let hasher = Hasher::new();
        // Hold the thread with a job that waits for the test.
        let (release, held) = std::sync::mpsc::channel::<()>();
        let (started, running) = std::sync::mpsc::channel::<()>();
        let hold = move || {
            let _ = started.send(());
            let _ = held.recv();
        };
        hasher.enqueue(asker("10.0.0.1", false), Box::new(hold)).unwrap();
        running.recv_timeout(Duration::from_secs(10)).unwrap();
        // The queue fills with first attempts from as many addresses.
        for i in 0..HASHING_QUEUE {
            hasher.enqueue(asker(&format!("10.0.1.{i}"), false), Box::new(|| ())).unwrap();
        }
        let flood = asker("10.0.2.1", false);
        assert!(hasher.admits(flood).is_err(), "no better than the rest");
        assert!(hasher.admits(flood).is_err());
        let usage = lock(&hasher.shared.queue).usage.get(&flood.address).map(|(_, count)| *count);
        assert_eq!(usage, Some(2), "each refusal lowers its standing against someone who never asked");
        release.send(()).unwrap();
    }
}
