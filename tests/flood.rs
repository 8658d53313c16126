//! Sign-ins under a flood. A test binary of its own: the password hashing queue is shared by
//! the whole process, and this test fills it on purpose.

mod common;

use std::net::SocketAddr;

use axum::http::StatusCode;
use common::*;
use futures::future::join_all;

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
