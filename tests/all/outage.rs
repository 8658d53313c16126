//! PostgreSQL goes away for a few seconds under light load: requests made meanwhile get a
//! clear 503 (never a hang, never a panic), and the server serves again afterwards without a
//! restart. It stops the database server, so it runs alone: `scripts/test` calls it with
//! `--ignored` after the other suites, with PG_STOP_CMD and PG_START_CMD set.

use std::time::{Duration, Instant};

use crate::common::*;
use axum::http::StatusCode;

fn run(command: &str) {
    let status = std::process::Command::new("sh").arg("-c").arg(command).status().unwrap();
    assert!(status.success(), "{command} failed");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "stops the PostgreSQL server: run alone through scripts/test"]
async fn a_database_outage_answers_503_and_heals_without_a_restart() {
    let (Some(_), Ok(stop), Ok(start)) =
        (postgres_url(), std::env::var("PG_STOP_CMD"), std::env::var("PG_START_CMD"))
    else {
        panic!("needs TEST_DATABASE_URL (PostgreSQL), PG_STOP_CMD and PG_START_CMD");
    };
    let app = TestApp::new().await;
    let mut alice = app.browser();
    alice.sign_up("Alice", "alice@example.com").await;
    let (_, token) = alice.create_token("Load", &["profile:read"], "30").await;

    let mut statuses = Vec::new();
    let mut slowest = Duration::ZERO;
    for _ in 0..5 {
        let (status, took) = probe(&app, &token).await;
        assert_eq!(status, StatusCode::OK);
        slowest = slowest.max(took);
    }

    tokio::task::spawn_blocking(move || run(&stop)).await.unwrap();
    let down_since = Instant::now();
    while down_since.elapsed() < Duration::from_secs(3) {
        let (status, took) = probe(&app, &token).await;
        statuses.push(status);
        slowest = slowest.max(took);
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let page = alice.get("/profile").await;
    assert_eq!(page.status, StatusCode::SERVICE_UNAVAILABLE, "a page while the database is down");
    tokio::task::spawn_blocking(move || run(&start)).await.unwrap();

    // Back within a few seconds, by the same server and pool, with no restart.
    let back_since = Instant::now();
    let mut healed = false;
    while back_since.elapsed() < Duration::from_secs(20) {
        let (status, took) = probe(&app, &token).await;
        slowest = slowest.max(took);
        if status == StatusCode::OK {
            healed = true;
            break;
        }
        statuses.push(status);
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert!(healed, "the server did not serve again after the database came back: {statuses:?}");
    assert!(!statuses.is_empty());
    assert!(
        statuses.iter().all(|s| *s == StatusCode::SERVICE_UNAVAILABLE),
        "while down, every answer is a 503: {statuses:?}"
    );
    assert!(slowest < Duration::from_secs(5), "a request hung for {slowest:?}");
    let page = alice.get("/profile").await;
    assert_eq!(page.status, StatusCode::OK);
}

/// One API request: its status and how long it took.
async fn probe(app: &TestApp, token: &str) -> (StatusCode, Duration) {
    let started = Instant::now();
    let status = app.graphql(token, "{ activeUser { name } }").await.status;
    (status, started.elapsed())
}
