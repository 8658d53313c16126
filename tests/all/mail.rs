//! SPEC §8's expiry warnings (and §11's news of an app authorized) by email, against a real SMTP listener started here: one message
//! per user per day, each notice once, across two servers on one database and a restart, and
//! retried with backoff when the SMTP server fails.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use crate::common::*;
use speckle_tokens::rules::scopes::ScopeSet;
use speckle_tokens::server::domain::lifecycle::tick;
use speckle_tokens::server::domain::tokens;
use speckle_tokens::server::mail::Mailer;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};

const DAY: i64 = 24 * 3600 * 1000;

/// A minimal SMTP server (RFC 5321's happy path) that keeps every message it accepts, and
/// answers `451` to the next `failures` messages.
#[derive(Clone, Default)]
struct Sink {
    messages: Arc<Mutex<Vec<String>>>,
    failures: Arc<AtomicUsize>,
}

impl Sink {
    async fn start() -> (Sink, Mailer) {
        let sink = Sink::default();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let serving = sink.clone();
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                tokio::spawn(serving.clone().session(stream));
            }
        });
        let mailer =
            Mailer::new(&format!("smtp://{addr}"), "Speckle Tokens <tokens@example.com>", None).unwrap();
        (sink, mailer)
    }

    async fn session(self, stream: tokio::net::TcpStream) {
        let (read, mut write) = stream.into_split();
        let mut lines = BufReader::new(read).lines();
        let _ = write.write_all(b"220 sink ESMTP\r\n").await;
        while let Ok(Some(line)) = lines.next_line().await {
            let verb = line.split_whitespace().next().unwrap_or_default().to_ascii_uppercase();
            let answer: &[u8] = match verb.as_str() {
                "EHLO" | "HELO" => b"250 sink\r\n",
                "MAIL" | "RCPT" | "RSET" | "NOOP" => b"250 OK\r\n",
                "DATA" => {
                    let _ = write.write_all(b"354 go on\r\n").await;
                    let mut message = String::new();
                    while let Ok(Some(line)) = lines.next_line().await {
                        if line == "." {
                            break;
                        }
                        message.push_str(&line);
                        message.push('\n');
                    }
                    let failing = self
                        .failures
                        .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |left| left.checked_sub(1))
                        .is_ok();
                    if failing {
                        b"451 try again later\r\n"
                    } else {
                        self.messages.lock().unwrap().push(message);
                        b"250 queued\r\n"
                    }
                }
                "QUIT" => {
                    let _ = write.write_all(b"221 bye\r\n").await;
                    return;
                }
                _ => b"502 not here\r\n",
            };
            if write.write_all(answer).await.is_err() {
                return;
            }
        }
    }

    fn to(&self, address: &str) -> Vec<String> {
        let needle = format!("To: {address}");
        self.messages.lock().unwrap().iter().filter(|m| m.contains(&needle)).cloned().collect()
    }

    fn count(&self) -> usize {
        self.messages.lock().unwrap().len()
    }
}

/// A token of `user_id` expiring at `expires_at`, made by the domain as the dialog would.
async fn token_expiring(app: &TestApp, user_id: &str, name: &str, expires_at: i64) {
    let mut conn = app.state.db.get().await.unwrap();
    let new = tokens::NewToken {
        name,
        description: None,
        scopes: ScopeSet::from_names("profile:read").unwrap(),
        expires_at: Some(expires_at),
        streams: None,
    };
    tokens::create(&mut conn, &user_id.into(), new, &Default::default()).await.unwrap();
}

#[tokio::test]
async fn each_warning_is_mailed_once_a_day_across_two_servers_and_a_restart() {
    let app = TestApp::new().await;
    let second = app.another_server().await;
    let (sink, mailer) = Sink::start().await;
    let alice = TestUser::sign_up(&app, "Alice").await;
    let bob = TestUser::sign_up(&app, "Bob").await;
    let t0 = app.now();
    token_expiring(&app, &alice.id, "Nightly", t0 + 6 * DAY).await;
    token_expiring(&app, &alice.id, "Daily", t0 + 20 * 3600 * 1000).await;
    token_expiring(&app, &alice.id, "Yearly", t0 + 300 * DAY).await;
    token_expiring(&app, &bob.id, "Weekly", t0 + 6 * DAY + 3600 * 1000).await;

    // Two servers pass at the same moment.
    let (first, other) =
        tokio::join!(tick(&app.state.db, Some(&mailer), t0), tick(&second.state.db, Some(&mailer), t0));
    let (first, other) = (first.unwrap(), other.unwrap());
    assert_eq!(first.messages_queued + other.messages_queued, 2, "{first:?} {other:?}");
    assert_eq!(sink.count(), 2, "one message per user");
    let to_alice = sink.to("alice@example.com");
    assert_eq!(to_alice.len(), 1);
    assert!(to_alice[0].contains("Nightly") && to_alice[0].contains("Daily"), "{}", to_alice[0]);
    assert!(!to_alice[0].contains("Yearly"), "{}", to_alice[0]);
    assert!(sink.to("bob@example.com")[0].contains("Weekly"));

    // A restart (a new server on the same database), a minute later: nothing new to say.
    let restarted = app.another_server().await;
    let pass = tick(&restarted.state.db, Some(&mailer), t0 + 60_000).await.unwrap();
    assert_eq!((pass.messages_queued, pass.messages_sent), (0, 0));
    assert_eq!(sink.count(), 2);

    // The next day "Daily" has expired: one message says so; the 7-day notices are not repeated.
    for server in [&app, &second, &restarted] {
        tick(&server.state.db, Some(&mailer), t0 + DAY).await.unwrap();
    }
    let to_alice = sink.to("alice@example.com");
    assert_eq!(to_alice.len(), 2, "{to_alice:?}");
    assert!(to_alice[1].contains("Daily") && to_alice[1].contains("expired"), "{}", to_alice[1]);
    assert!(!to_alice[1].contains("Nightly"), "{}", to_alice[1]);
    assert_eq!(sink.to("bob@example.com").len(), 1);
}

#[tokio::test]
async fn a_failing_smtp_server_is_retried_with_backoff_and_never_blocks() {
    let app = TestApp::new().await;
    let (sink, mailer) = Sink::start().await;
    let carol = TestUser::sign_up(&app, "Carol").await;
    let t0 = app.now();
    token_expiring(&app, &carol.id, "Deploy", t0 + 3 * DAY).await;
    sink.failures.store(1, Ordering::SeqCst);

    let pass = tick(&app.state.db, Some(&mailer), t0).await.unwrap();
    assert_eq!((pass.messages_queued, pass.messages_sent), (1, 0));
    let pass = tick(&app.state.db, Some(&mailer), t0 + 10_000).await.unwrap();
    assert_eq!(pass.messages_sent, 0, "not due again before its backoff");
    let pass = tick(&app.state.db, Some(&mailer), t0 + 61_000).await.unwrap();
    assert_eq!(pass.messages_sent, 1);
    assert_eq!(sink.to("carol@example.com").len(), 1);
    let pass = tick(&app.state.db, Some(&mailer), t0 + 200_000).await.unwrap();
    assert_eq!(pass.messages_sent, 0);
    assert_eq!(sink.count(), 1);
}

#[tokio::test]
async fn expiries_and_ended_grace_periods_are_recorded_once() {
    let app = TestApp::new().await;
    let second = app.another_server().await;
    let mut dave = TestUser::sign_up(&app, "Dave").await;
    let t0 = app.now();
    token_expiring(&app, &dave.id, "Brief", t0 + 60_000).await;
    for server in [&app, &second, &app] {
        tick(&server.state.db, None, t0 + 120_000).await.unwrap();
    }
    let log = dave.browser.call("security_log", &[]).await.json();
    let expired = log["events"].as_array().unwrap().iter().filter(|e| e["label"] == "Expired").count();
    assert_eq!(expired, 1, "{log}");
}

#[tokio::test]
async fn the_owner_of_a_reported_token_is_mailed_at_once() {
    use axum::body::Body;
    use axum::http::{header, Request, StatusCode};
    let (sink, mailer) = Sink::start().await;
    let app = TestApp::with_state(move |state| state.with_mailer(Some(mailer))).await;
    let mut erin = TestUser::sign_up(&app, "Erin").await;
    let token = erin.browser.create_token("Notebook", &["profile:read"], "30").await.1;
    let report = || {
        let request = Request::post("/api/tokens/report")
            .header(header::CONTENT_TYPE, "application/json")
            .body(Body::from(serde_json::json!({ "token": token }).to_string()))
            .unwrap();
        app.send(from_client(request, DEFAULT_CLIENT))
    };
    assert_eq!(report().await.status, StatusCode::ACCEPTED);
    for _ in 0..100 {
        if !sink.to("erin@example.com").is_empty() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    let mail = sink.to("erin@example.com");
    assert_eq!(mail.len(), 1, "sent without waiting for the background pass");
    assert!(mail[0].contains("Notebook") && mail[0].contains("revoked"), "{}", mail[0]);
    assert_eq!(report().await.status, StatusCode::ACCEPTED);
    tick(&app.state.db, app.state.mailer.as_ref(), app.now()).await.unwrap();
    let about_it = sink.to("erin@example.com").into_iter().filter(|m| m.contains("Notebook")).count();
    assert_eq!(about_it, 1, "once (the other message warns of her 7-day token)");
}

#[tokio::test]
async fn every_user_is_warned_however_many_tokens_expire_soon() {
    let app = TestApp::new().await;
    let (_sink, mailer) = Sink::start().await;
    let t0 = app.now();
    // 2,000 users, each with a token expiring in three days (more than one pass's batch).
    let in_three_days = t0 + 3 * DAY;
    exec_sql_per_backend(
        &app,
        "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 2000) \
         INSERT INTO users (id, suuid, name, email, password_hash, created_at) \
         SELECT 'u' || i, 's' || i, 'User ' || i, 'user' || i || '@example.com', 'x', 0 FROM n",
        "INSERT INTO users (id, suuid, name, email, password_hash, created_at) \
         SELECT 'u' || i, 's' || i, 'User ' || i, 'user' || i || '@example.com', 'x', 0 \
         FROM generate_series(1, 2000) AS i",
    )
    .await;
    let columns = "id, user_id, name, token_digest, last_chars, scopes, created_at, expires_at, family_id";
    exec_sql_per_backend(
        &app,
        &format!(
            "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 2000) \
             INSERT INTO api_tokens ({columns}) SELECT 't' || i, 'u' || i, 'Nightly', randomblob(32), 'xxxx', \
             'profile:read', 0, {in_three_days}, 't' || i FROM n"
        ),
        &format!(
            "INSERT INTO api_tokens ({columns}) SELECT 't' || i, 'u' || i, 'Nightly', sha256(i::text::bytea), \
             'xxxx', 'profile:read', 0, {in_three_days}, 't' || i FROM generate_series(1, 2000) AS i"
        ),
    )
    .await;
    let mut queued = 0;
    for pass in 0..2 {
        queued += tick(&app.state.db, Some(&mailer), t0 + pass * 1000).await.unwrap().messages_queued;
    }
    assert_eq!(queued, 2000, "one message for each user");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stalled_mail_server_holds_no_connection_of_the_pool() {
    use axum::body::Body;
    use axum::http::{header, Request, StatusCode};
    // An SMTP server that accepts connections and never says a word.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((stream, _)) = listener.accept().await {
            held.push(stream);
        }
    });
    let mailer = Mailer::new(&format!("smtp://{addr}"), "Speckle Tokens <tokens@example.com>", None).unwrap();
    let app = TestApp::with_state(move |state| state.with_mailer(Some(mailer))).await;
    let mut erin = TestUser::sign_up(&app, "Erin").await;
    let reader = erin.token(&["tokens:read"]).await;
    // Twelve leaked tokens reported at once: each alert is mailed at once (or tried).
    let mut leaked = Vec::new();
    for i in 0..12 {
        leaked.push(erin.browser.create_token(&format!("Leaky {i}"), &["profile:read"], "30").await.1);
    }
    let reports = leaked.iter().map(|token| {
        let request = Request::post("/api/tokens/report")
            .header(header::CONTENT_TYPE, "application/json")
            .body(Body::from(serde_json::json!({ "token": token }).to_string()))
            .unwrap();
        app.send(from_client(request, DEFAULT_CLIENT))
    });
    for answer in futures::future::join_all(reports).await {
        assert_eq!(answer.status, StatusCode::ACCEPTED, "{}", answer.body);
    }
    // The pool still serves everyone while the mail waits on the silent server.
    for _ in 0..3 {
        let started = std::time::Instant::now();
        let answer = app.graphql(&reader, "{ activeUser { apiTokens { id } } }").await;
        assert_eq!(answer.status, StatusCode::OK, "{}", answer.body);
        assert!(started.elapsed() < std::time::Duration::from_secs(2), "{:?}", started.elapsed());
    }
}

/// What the mails say (subject and text as queued), kept as a snapshot: the day's expiry
/// warning for two tokens, one of them expired, and the alert for a reported token.
#[tokio::test]
async fn the_mails_read_as_snapshots() {
    use axum::body::Body;
    use axum::http::{header, Request, StatusCode};
    use speckle_tokens::server::db::schema::mail_outbox;
    let (_sink, mailer) = Sink::start().await;
    let app = TestApp::with_state(move |state| state.with_mailer(Some(mailer))).await;
    let mut erin = TestUser::sign_up(&app, "Erin").await;
    // A fixed moment, so the dates in the text are the same on every run: 2030-01-01.
    let t0 = 1_893_456_000_000;
    token_expiring(&app, &erin.id, "Nightly", t0 + 6 * DAY + 3_600_000).await;
    token_expiring(&app, &erin.id, "Deploy", t0 - 3_600_000).await;
    tick(&app.state.db, app.state.mailer.as_ref(), t0).await.unwrap();
    let token = erin.browser.create_token("Notebook", &["profile:read"], "30").await.1;
    let report = Request::post("/api/tokens/report")
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::from(serde_json::json!({ "token": token }).to_string()))
        .unwrap();
    assert_eq!(app.send(from_client(report, DEFAULT_CLIENT)).await.status, StatusCode::ACCEPTED);
    let mut conn = app.state.db.get().await.unwrap();
    let mails: Vec<(String, String, String)> = speckle_tokens::db_run!(&mut conn, |c| {
        diesel_async::RunQueryDsl::load(
            diesel::QueryDsl::select(
                diesel::QueryDsl::order(mail_outbox::table, mail_outbox::once_key),
                (mail_outbox::once_key, mail_outbox::subject, mail_outbox::body),
            ),
            c,
        )
        .await
    })
    .unwrap();
    let text: Vec<String> = mails
        .into_iter()
        .map(|(key, subject, body)| {
            let kind = key.split(':').next().unwrap_or_default().to_owned();
            format!("# {kind}\nSubject: {subject}\n\n{body}")
        })
        .collect();
    insta::assert_snapshot!(text.join("\n"));
}

/// The invitation code in a mailed invitation, and its body (quoted-printable's soft line
/// breaks and its `=` undone: enough of it for these messages).
fn invitation_code(mail: &str) -> (String, String) {
    let body = mail.split_once("\n\n").map_or(mail, |(_, body)| body);
    let text = body.replace("=\n", "").replace("=3D", "=");
    let code = text
        .split("invitation code: ")
        .nth(1)
        .map(|rest| rest.chars().take_while(char::is_ascii_hexdigit).collect());
    (code.unwrap_or_else(|| panic!("{text}")), text)
}

async fn mailed_to(sink: &Sink, address: &str) -> Vec<String> {
    for _ in 0..100 {
        if !sink.to(address).is_empty() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    sink.to(address)
}

#[tokio::test]
async fn an_invitation_to_an_address_is_mailed_and_its_link_or_code_accepts_it() {
    let (sink, mailer) = Sink::start().await;
    let app = TestApp::with_state(move |state| state.with_mailer(Some(mailer))).await;
    let mut owner = TestUser::sign_up(&app, "Owner").await;
    let token = owner.token(&["streams:read", "streams:write", "users:invite"]).await;
    let stream = create_stream(&app, &token, "Atrium", false).await;
    let invite = Era::Projects.invite(&stream, r#"email: "Newcomer@Example.com""#, "stream:reviewer");
    assert_eq!(outcome(&app.gql(Some(&token), &invite).await), "OK");
    let mail = mailed_to(&sink, "newcomer@example.com").await;
    assert_eq!(mail.len(), 1, "mailed without waiting for the background pass");
    let (secret, text) = invitation_code(&mail[0]);
    assert!(text.contains("Owner invited you") && text.contains("as stream:reviewer"), "{text}");
    assert!(text.contains(&format!("/signup?invite={secret}")), "{text}");
    // The database holds the secret's digest only, and forgets the message once sent.
    {
        use diesel::prelude::*;
        use diesel_async::RunQueryDsl;
        use sha2::Digest;
        use speckle_tokens::server::db::schema::{mail_outbox, stream_invites};
        assert_eq!(secret.len(), 40, "{text}");
        let digest = sha2::Sha256::digest(secret.as_bytes()).to_vec();
        let mut conn = app.state.db.get().await.unwrap();
        let by_digest: i64 = speckle_tokens::db_run!(&mut conn, |c| {
            stream_invites::table
                .filter(stream_invites::secret_digest.eq(&digest))
                .count()
                .get_result(c)
                .await
        })
        .unwrap();
        // The sink has the message before the sender records it as sent: wait for that.
        let mut bodies: Vec<String> = Vec::new();
        for _ in 0..100 {
            bodies = speckle_tokens::db_run!(&mut conn, |c| {
                mail_outbox::table
                    .filter(mail_outbox::recipient.is_not_null())
                    .select(mail_outbox::body)
                    .load(c)
                    .await
            })
            .unwrap();
            if bodies == [""] {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
        assert_eq!(by_digest, 1);
        assert_eq!(bodies, [""], "the sent invitation's text is forgotten");
    }

    // Signing up with the address alone is no proof of it (emails are not verified): the
    // invitation stays the code holder's. With the code, the account takes it.
    let mut newcomer = app.browser();
    newcomer.sign_up("Newcomer", "newcomer@example.com").await;
    let (_, their_token) = newcomer.create_token("reader", &["streams:read", "profile:write"], "7").await;
    let read = format!(r#"{{ stream(id: "{stream}") {{ name role }} }}"#);
    assert_eq!(outcome(&app.gql(Some(&their_token), &read).await), "NOT_FOUND");
    let wrong = app.gql(Some(&their_token), &Era::Streams.answer(&stream, &"0".repeat(40), true)).await;
    assert_eq!(outcome(&wrong), "NOT_FOUND", "{wrong}");
    let used = app.gql(Some(&their_token), &Era::Streams.answer(&stream, &secret, true)).await;
    assert_eq!(outcome(&used), "OK", "{used}");
    assert_eq!(app.gql(Some(&their_token), &read).await["data"]["stream"]["role"], "stream:reviewer");

    // The link: signing up from it accepts the invitation at once.
    let invite = Era::Streams.invite(&stream, r#"email: "second@example.com""#, "stream:contributor");
    assert_eq!(outcome(&app.gql(Some(&token), &invite).await), "OK");
    let (secret, _) = invitation_code(&mailed_to(&sink, "second@example.com").await[0]);
    let mut second = app.browser();
    let form = [
        ("name", "Second"),
        ("email", "second@example.com"),
        ("password", PASSWORD),
        ("invite", secret.as_str()),
    ];
    assert!(second.call("signup", &form).await.status.is_success());
    let (_, second_token) = second.create_token("reader", &["streams:read"], "7").await;
    assert_eq!(app.gql(Some(&second_token), &read).await["data"]["stream"]["role"], "stream:contributor");
    let team =
        app.gql(Some(&token), &format!(r#"{{ project(id: "{stream}") {{ team {{ role }} }} }}"#)).await;
    assert_eq!(team["data"]["project"]["team"].as_array().unwrap().len(), 3, "{team}");
}

#[tokio::test]
async fn the_person_is_told_once_by_email_when_they_authorize_an_app() {
    let app = TestApp::new().await;
    let second = app.another_server().await;
    let (sink, mailer) = Sink::start().await;
    let grace = TestUser::sign_up(&app, "Grace").await;
    crate::apps::s256_code(&app, "sca", &grace.id, crate::consent::VERIFIER).await;
    let (first, other) = tokio::join!(
        tick(&app.state.db, Some(&mailer), app.now()),
        tick(&second.state.db, Some(&mailer), app.now())
    );
    first.unwrap();
    other.unwrap();
    let told = |address: &str| -> Vec<String> {
        sink.to(address).into_iter().filter(|mail| mail.contains("An app may now act for you")).collect()
    };
    let mails = told("grace@example.com");
    assert_eq!(mails.len(), 1, "one message, two servers: {mails:?}");
    assert!(mails[0].contains("An app may now act for you"), "{}", mails[0]);
    assert!(mails[0].contains("Speckle"), "the app is named: {}", mails[0]);
    // The same scopes again: no news, no message.
    crate::apps::s256_code(&app, "sca", &grace.id, crate::consent::VERIFIER).await;
    tick(&app.state.db, Some(&mailer), app.now()).await.unwrap();
    assert_eq!(told("grace@example.com").len(), 1);
    // Without SMTP nothing is queued for later.
    let quiet = TestUser::sign_up(&app, "Quiet").await;
    crate::apps::s256_code(&app, "sdas", &quiet.id, crate::consent::VERIFIER).await;
    tick(&app.state.db, None, app.now()).await.unwrap();
    app.advance(std::time::Duration::from_secs(2 * 86_400));
    tick(&app.state.db, Some(&mailer), app.now()).await.unwrap();
    assert!(told("quiet@example.com").is_empty(), "a day later the news is stale");
}
