//! Sign-ins under a flood: refused at once rather than queued, and never the sign-in of a
//! person from elsewhere, or at a browser that signed in before (a trusted device).

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use crate::common::*;
use axum::http::StatusCode;
use futures::future::join_all;
use speckle_tokens::server::auth::password::HASHING_QUEUE;

async fn failed_sign_in(app: &TestApp, client: SocketAddr, i: usize) -> TestResponse {
    let mut browser = app.browser();
    browser.client = client;
    let email = format!("nobody{i}@example.com");
    browser.call("login", &[("email", &email), ("password", "wrong password")]).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sign_in_flood_is_refused_at_once_instead_of_queued_and_no_one_is_locked_out() {
    let app = TestApp::new().await;
    app.browser().sign_up("Alice", "alice@example.com").await;

    // Forty at once from twenty addresses: the hashing queue takes a few, the rest are told to
    // retry (503, Retry-After) at once rather than wait behind the others.
    let flood = (0..40).map(|i| {
        let client: SocketAddr = format!("10.9.{}.1:5000", i % 20).parse().unwrap();
        failed_sign_in(&app, client, i)
    });
    let answers = join_all(flood).await;
    let statuses: Vec<u16> = answers.iter().map(|a| a.status.as_u16()).collect();
    assert!(statuses.iter().all(|s| [400, 503].contains(s)), "{statuses:?}");
    let busy =
        answers.iter().find(|a| a.status == StatusCode::SERVICE_UNAVAILABLE).expect("some were refused");
    assert!(busy.header("retry-after").parse::<u64>().is_ok());

    // Twenty at once from one address: two hash at a time, sixteen wait their turn in the
    // address's own lane, and the rest are told to slow down.
    let one: SocketAddr = "10.10.10.10:5000".parse().unwrap();
    let answers = join_all((0..20).map(|i| failed_sign_in(&app, one, 100 + i))).await;
    let statuses: Vec<u16> = answers.iter().map(|a| a.status.as_u16()).collect();
    assert!(statuses.iter().all(|s| [400, 429, 503].contains(s)), "{statuses:?}");
    assert!(statuses.contains(&429), "{statuses:?}");

    // The real user, from elsewhere, signs in.
    let mut alice = app.browser();
    alice.client = "192.0.2.7:5000".parse().unwrap();
    let response = alice.call("login", &[("email", "alice@example.com"), ("password", PASSWORD)]).await;
    assert!(response.status.is_success(), "{}", response.body);
}

/// Failed sign-ins with fresh emails from `address`, one after another, until `stop`; counts
/// in `hashed` those that got as far as a hash (a wrong password, not a refusal).
async fn flood_from(app: &TestApp, address: SocketAddr, stop: &AtomicBool, hashed: &AtomicUsize) -> usize {
    let mut sent = 0;
    while !stop.load(Ordering::Relaxed) {
        let answer = failed_sign_in(app, address, sent + 1000 * address.ip().to_string().len()).await;
        if answer.status == StatusCode::BAD_REQUEST {
            hashed.fetch_add(1, Ordering::Relaxed);
        }
        sent += 1;
    }
    sent
}

/// Waits until `hashed` reaches `count`, failing after a minute.
async fn until_hashed(hashed: &AtomicUsize, count: usize) {
    let waited = tokio::time::timeout(Duration::from_secs(60), async {
        while hashed.load(Ordering::Relaxed) < count {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    });
    waited.await.expect("the flood's hashes were answered");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn under_a_flood_from_64_addresses_a_person_from_elsewhere_and_a_known_browser_sign_in() {
    let app = TestApp::new().await;
    app.browser().sign_up("Alice", "alice@example.com").await;
    // Bob signed in on this browser before: it is a trusted device of his account.
    let mut bob = app.browser();
    bob.client = "10.20.0.1:5000".parse().unwrap();
    bob.sign_up("Bob", "bob@example.com").await;
    bob.call("logout", &[]).await;
    assert!(bob.cookie.as_deref().is_some_and(|c| c.contains("device=")), "{:?}", bob.cookie);

    let (stop, hashed) = (AtomicBool::new(false), AtomicUsize::new(0));
    let flood = join_all((0..64).map(|i| {
        let address: SocketAddr = format!("10.20.{i}.1:5000").parse().unwrap();
        flood_from(&app, address, &stop, &hashed)
    }));
    let people = async {
        // The flood has been going for a while: the queue's first places, taken at once by 64
        // first attempts as urgent as anyone's, were served, and ten more hashes timed how
        // long one takes on this machine under this flood.
        until_hashed(&hashed, HASHING_QUEUE).await;
        let started = Instant::now();
        until_hashed(&hashed, HASHING_QUEUE + 10).await;
        let one_hash = started.elapsed() / 10;
        let mut alice = app.browser();
        alice.client = "192.0.2.7:5000".parse().unwrap();
        let started = Instant::now();
        let alice_in = alice.call("login", &[("email", "alice@example.com"), ("password", PASSWORD)]).await;
        let alice_took = started.elapsed();
        // Bob, at an address that is one of the flood's: his browser keeps its own lane.
        let started = Instant::now();
        let bob_in = bob.call("login", &[("email", "bob@example.com"), ("password", PASSWORD)]).await;
        let bob_took = started.elapsed();
        stop.store(true, Ordering::Relaxed);
        (one_hash, alice_in, alice_took, bob_in, bob_took)
    };
    let (sent, (one_hash, alice_in, alice_took, bob_in, bob_took)) = futures::join!(flood, people);
    assert!(sent.iter().sum::<usize>() > 64, "the flood ran: {sent:?}");
    // Next in line: the hash under way and their own, not behind the queue's eight.
    let next_in_line = (one_hash * 4).max(Duration::from_secs(3));
    assert!(alice_in.status.is_success(), "{} {}", alice_in.status, alice_in.body);
    assert!(alice_took < next_in_line, "{alice_took:?}, one hash {one_hash:?}");
    assert!(bob_in.status.is_success(), "{} {}", bob_in.status, bob_in.body);
    assert!(bob_took < next_in_line, "{bob_took:?}, one hash {one_hash:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn password_changes_looped_by_one_user_leave_room_for_everyone_elses_sign_in() {
    let app = TestApp::new().await;
    app.browser().sign_up("Alice", "alice@example.com").await;
    let mut mallory = app.browser();
    mallory.client = "10.30.0.1:5000".parse().unwrap();
    mallory.sign_up("Mallory", "mallory@example.com").await;
    // A signed-in user who knows the password loops changes (two hashes each) in ten tabs.
    let stop = AtomicBool::new(false);
    let cookie = mallory.cookie.clone();
    let changes = join_all((0..10).map(|_| {
        let mut tab = app.browser();
        tab.client = mallory.client;
        tab.cookie = cookie.clone();
        let stop = &stop;
        async move {
            let mut sent = 0;
            while !stop.load(Ordering::Relaxed) {
                tab.call("change_password", &[("current_password", PASSWORD), ("new_password", PASSWORD)])
                    .await;
                sent += 1;
            }
            sent
        }
    }));
    // Alice, from elsewhere, signs in five times meanwhile.
    let alice = async {
        let mut attempts = Vec::new();
        for _ in 0..5 {
            tokio::time::sleep(Duration::from_millis(300)).await;
            let mut alice = app.browser();
            alice.client = "192.0.2.8:5000".parse().unwrap();
            let started = Instant::now();
            let answer = alice.call("login", &[("email", "alice@example.com"), ("password", PASSWORD)]).await;
            attempts.push((answer.status, started.elapsed()));
        }
        stop.store(true, Ordering::Relaxed);
        attempts
    };
    let (changed, attempts) = futures::join!(changes, alice);
    assert!(changed.iter().sum::<usize>() >= 10, "{changed:?}");
    for (status, took) in &attempts {
        assert!(status.is_success() && *took < std::time::Duration::from_secs(3), "{attempts:?}");
    }
}
