//! The whole token flow through the real router and a real SQLite database: accounts,
//! "Your Apps" server functions, and the bearer-protected API (SPEC §2, §4, §5, §6).

use crate::common::*;
use axum::body::Body;
use axum::http::{header, Request, StatusCode};
use diesel::prelude::*;
use diesel_async::RunQueryDsl;
use speckle_tokens::db_run;
use speckle_tokens::rules::scopes::ScopeSet;
use speckle_tokens::server::db::schema::{api_tokens, users};
use speckle_tokens::server::db::{Topic, UserId};
use speckle_tokens::server::domain::tokens;

#[tokio::test]
async fn sign_up_then_sign_in_and_the_one_wrong_password_message() {
    let app = TestApp::new().await;
    let mut alice = app.browser();
    let response = alice.sign_up("Alice", "  Alice@Example.com ").await;
    assert_eq!(response.json(), "/profile");
    let first_cookie = alice.cookie.clone().expect("signed in after sign-up");

    // The same email in other case is the same account.
    let mut again = app.browser();
    let response =
        again.call("signup", &[("name", "A"), ("email", "alice@example.COM"), ("password", PASSWORD)]).await;
    assert_eq!(response.status, StatusCode::BAD_REQUEST, "{}", response.body);
    assert!(response.body.contains("already exists"));

    for (email, password) in [("alice@example.com", "wrong password!"), ("nobody@example.com", PASSWORD)] {
        let mut browser = app.browser();
        let response = browser.call("login", &[("email", email), ("password", password)]).await;
        assert_eq!(response.status, StatusCode::BAD_REQUEST);
        assert!(response.body.contains("Invalid email or password."), "{}", response.body);
        assert!(browser.cookie.is_none(), "a failed sign-in starts no session");
    }

    let mut browser = app.browser();
    let response = browser
        .call("login", &[("email", "ALICE@example.com"), ("password", PASSWORD), ("next", "/streams")])
        .await;
    assert!(response.status.is_success(), "{}", response.body);
    assert_eq!(response.json(), "/streams");
    let cookie = browser.cookie.clone().unwrap();
    assert_ne!(cookie, first_cookie);
    let set_cookie = response.header("set-cookie");
    assert!(set_cookie.contains("HttpOnly") && set_cookie.contains("SameSite=Lax"), "{set_cookie}");

    // An open redirect is refused: `next` must be a local path.
    let response = browser
        .call("login", &[("email", "alice@example.com"), ("password", PASSWORD), ("next", "//evil.example")])
        .await;
    assert_eq!(response.json(), "/profile");
    // Without JavaScript the same answer is a redirect.
    let response =
        browser.submit_form("login", &[("email", "alice@example.com"), ("password", PASSWORD)]).await;
    assert_eq!((response.status, response.header("location")), (StatusCode::FOUND, "/profile"));

    let page = browser.get("/profile").await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(page.body.contains("alice@example.com"));
    assert!(page.body.contains("Your Apps"));

    browser.call("logout", &[]).await;
    let page = browser.get("/profile").await;
    assert!(page.status.is_redirection());
    assert_eq!(page.header("location"), "/login?next=/profile");
}

#[tokio::test]
async fn a_session_id_from_before_sign_in_is_not_the_signed_in_one() {
    let app = TestApp::new().await;
    app.browser().sign_up("Alice", "alice@example.com").await;
    let mut browser = app.browser();
    // Get a session before signing in (a failed sign-in writes nothing; a flash would).
    let planted = "session=AAAAAAAAAAAAAAAAAAAAAA";
    browser.cookie = Some(planted.to_owned());
    browser.call("login", &[("email", "alice@example.com"), ("password", PASSWORD)]).await;
    assert_ne!(browser.cookie.as_deref(), Some(planted));
    let mut attacker = app.browser();
    attacker.cookie = Some(planted.to_owned());
    assert!(attacker.get("/profile").await.status.is_redirection());
}

#[tokio::test]
async fn weak_or_malformed_sign_ups_are_refused() {
    let app = TestApp::new().await;
    let mut browser = app.browser();
    for (name, email, password, message) in [
        ("Al", "al@example.com", "short", "at least 8 characters"),
        ("", "al@example.com", PASSWORD, "Enter your name"),
        ("Al", "not-an-email", PASSWORD, "valid email"),
    ] {
        let response =
            browser.call("signup", &[("name", name), ("email", email), ("password", password)]).await;
        assert_eq!(response.status, StatusCode::BAD_REQUEST);
        assert!(response.body.contains(message), "{}", response.body);
    }
    let long = "x".repeat(1025);
    let response =
        browser.call("signup", &[("name", "Al"), ("email", "al@example.com"), ("password", &long)]).await;
    assert!(response.body.contains("at most 1024"), "{}", response.body);
}

#[tokio::test]
async fn create_use_list_and_revoke_a_token() {
    let app = TestApp::new().await;
    let mut alice = app.browser();
    alice.sign_up("Alice", "alice@example.com").await;
    let (id, secret) = alice.create_token("CI script", &["profile:read", "streams:read"], "90").await;
    assert!(secret.starts_with("spk_") && secret.len() == 40, "{secret}");

    // The docs' query, verbatim.
    let response = app.graphql(&secret, DOCS_QUERY).await;
    assert_eq!(response.status, StatusCode::OK);
    let user = &response.json()["data"]["user"];
    assert_eq!(user["streams"]["totalCount"], 0);
    assert!(user["id"].is_string() && user["suuid"].is_string());
    // The scheme is case-insensitive.
    let response = app.graphql_with_header(Some(format!("bearer {secret}").as_bytes()), DOCS_QUERY).await;
    assert_eq!(response.status, StatusCode::OK);

    let list = alice.list_tokens().await;
    let rows = list.json()["rows"].clone();
    let row = &rows[0];
    assert_eq!(row["id"], id.as_str());
    assert_eq!(row["name"], "CI script");
    assert_eq!(row["scopes"], serde_json::json!(["streams:read", "profile:read"]));
    assert_eq!(row["last_chars"], &secret[36..]);
    assert!(row["expires"].as_str().unwrap().contains(", 20"), "a date: {}", row["expires"]);
    assert!(row["last_used"].as_str().unwrap().contains("UTC"), "used by the query above");

    let response = alice.call("revoke_token", &[("id", &id)]).await;
    assert_eq!(response.status, StatusCode::OK, "{}", response.body);
    assert_invalid_token(&app.graphql(&secret, DOCS_QUERY).await);
    assert_eq!(alice.list_tokens().await.json()["rows"], serde_json::json!([]));
    // Revoking again is "not found": it is no longer live.
    assert_eq!(alice.call("revoke_token", &[("id", &id)]).await.status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn the_secret_appears_only_in_the_answer_that_created_it() {
    let app = TestApp::new().await;
    let mut alice = app.browser();
    alice.sign_up("Alice", "alice@example.com").await;
    let (_, secret) = alice.create_token("Deploy", &["tokens:read", "profile:read"], "never").await;
    app.graphql(&secret, DOCS_QUERY).await;
    let api_list = app
        .graphql(&secret, "{ user { apiTokens { id name lastChars scopes createdAt expiresAt lastUsed } } }")
        .await;
    assert_eq!(api_list.json()["data"]["user"]["apiTokens"][0]["name"], "Deploy");
    assert_eq!(api_list.json()["data"]["user"]["apiTokens"][0]["expiresAt"], serde_json::Value::Null);

    let page = alice.get("/profile").await;
    assert!(page.body.contains("Deploy"));
    for (what, text) in [
        ("the list", alice.list_tokens().await.body),
        ("the API list", api_list.body),
        ("the profile page", page.body),
        ("the logs", logs()),
    ] {
        assert!(!text.contains(&secret), "the secret leaked into {what}");
        assert!(!text.contains(&secret[4..36]), "the secret's random part leaked into {what}");
    }
}

#[tokio::test]
async fn without_javascript_the_form_post_shows_the_secret_once_after_the_redirect() {
    let app = TestApp::new().await;
    let mut alice = app.browser();
    alice.sign_up("Alice", "alice@example.com").await;
    let response = alice.submit_form("create_token", &token_form("No JS", &["profile:read"], "30")).await;
    assert_eq!(response.status, StatusCode::FOUND, "{}", response.body);
    assert_eq!(response.header("location"), "/profile");
    assert!(!response.body.contains("spk_"));

    // Between the two, the database holds the secret only sealed.
    let sessions = sessions_data(&app).await;
    assert!(!sessions.contains("spk_"), "{sessions}");

    let page = alice.get("/profile").await;
    let secret = extract_secret(&page.body).expect("the secret is shown after the redirect");
    assert!(!sessions_data(&app).await.contains(&secret));
    assert!(page.body.contains("Your new token"), "{}", page.body);
    app.graphql(&secret, "{ activeUser { name } }").await.json()["data"]["activeUser"]["name"]
        .as_str()
        .map(|name| assert_eq!(name, "Alice"))
        .expect("the shown secret works");
    let again = alice.get("/profile").await;
    assert!(!again.body.contains(&secret), "shown a second time");

    // An invalid form comes back to the page with the message, and creates nothing.
    let response = alice.submit_form("create_token", &token_form("", &["profile:read"], "30")).await;
    assert_eq!(response.status, StatusCode::FOUND);
    let location = response.header("location").trim_start_matches(ORIGIN).to_owned();
    assert!(location.starts_with("/profile?"), "{location}");
    let page = alice.get(&location).await;
    assert!(page.body.contains("Give the token a name."), "the message is on the page");
    assert!(
        page.body.contains(r#"<dialog aria-labelledby="new-token-title" aria-modal="true" open"#),
        "in the open dialog"
    );
    assert_eq!(alice.list_tokens().await.json()["rows"].as_array().unwrap().len(), 1);
}

/// Everything the sessions table holds, as text.
async fn sessions_data(app: &TestApp) -> String {
    use diesel_async::RunQueryDsl;
    use speckle_tokens::db_run;
    use speckle_tokens::server::db::schema::sessions;
    let mut conn = app.state.db.get().await.unwrap();
    let rows: Vec<String> =
        db_run!(&mut conn, |c| diesel::QueryDsl::select(sessions::table, sessions::data).load(c).await)
            .unwrap();
    rows.join("\n")
}

fn extract_secret(html: &str) -> Option<String> {
    let start = html.find("spk_")?;
    Some(html[start..start + 40].to_owned())
}

#[tokio::test]
async fn invalid_input_creates_nothing() {
    let app = TestApp::new().await;
    let mut alice = app.browser();
    alice.sign_up("Alice", "alice@example.com").await;
    let long_name = "n".repeat(101);
    for (form, message) in [
        (token_form("   ", &["profile:read"], "90"), "Give the token a name."),
        (token_form(&long_name, &["profile:read"], "90"), "at most 100 characters"),
        (token_form("No scope", &[], "90"), "Choose at least one scope."),
        (token_form("Bad scope", &["admin:all"], "90"), "no scope called"),
        (token_form("Bad expiry", &["profile:read"], "12"), "Choose an expiration"),
    ] {
        let response = alice.call("create_token", &form).await;
        assert_eq!(response.status, StatusCode::BAD_REQUEST, "{}", response.body);
        assert!(response.body.contains(message), "{message}: {}", response.body);
    }
    assert_eq!(alice.list_tokens().await.json()["rows"], serde_json::json!([]));
    // A name of exactly 100 characters after trimming is fine.
    let name = format!("  {}  ", "n".repeat(100));
    alice.create_token(&name, &["profile:read"], "7").await;
}

#[tokio::test]
async fn signed_out_callers_get_nothing() {
    let app = TestApp::new().await;
    let mut stranger = app.browser();
    let response = stranger.call("list_tokens", &[]).await;
    assert_eq!(response.status, StatusCode::UNAUTHORIZED);
    assert!(response.body.contains("SignedOut"), "{}", response.body);
    let response = stranger.call("create_token", &token_form("x", &["profile:read"], "90")).await;
    assert_eq!(response.status, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn one_user_cannot_list_or_revoke_another_users_token() {
    let app = TestApp::new().await;
    let mut alice = app.browser();
    alice.sign_up("Alice", "alice@example.com").await;
    let (alice_token_id, alice_secret) = alice.create_token("Alice's", &["profile:read"], "90").await;
    let mut bob = app.browser();
    bob.sign_up("Bob", "bob@example.com").await;

    assert_eq!(bob.list_tokens().await.json()["rows"], serde_json::json!([]));
    let response = bob.call("revoke_token", &[("id", &alice_token_id)]).await;
    assert_eq!(response.status, StatusCode::NOT_FOUND);
    assert!(response.body.contains("NotFound"), "{}", response.body);
    assert_eq!(app.graphql(&alice_secret, "{ activeUser { name } }").await.status, StatusCode::OK);
}

#[tokio::test]
async fn an_expired_token_is_refused_like_a_revoked_one() {
    let app = TestApp::new().await;
    let mut alice = app.browser();
    alice.sign_up("Alice", "alice@example.com").await;
    let (id, secret) = alice.create_token("Short-lived", &["profile:read"], "7").await;
    assert_eq!(app.graphql(&secret, "{ activeUser { name } }").await.status, StatusCode::OK);

    // Seven days pass: the row is moved into the past behind the server's back, so the test
    // also ends the cache's epoch, as the server's own writes do.
    let mut conn = app.state.db.get().await.unwrap();
    db_run!(&mut conn, |c| {
        diesel::update(api_tokens::table.find(&id))
            .set(api_tokens::expires_at.eq(Some(1_000_i64)))
            .execute(c)
            .await
    })
    .unwrap();
    conn.end_epoch(Topic::Tokens).await.unwrap();
    assert_invalid_token(&app.graphql(&secret, "{ activeUser { name } }").await);
    assert_eq!(alice.list_tokens().await.json()["rows"][0]["expires"], "Expired");
}

#[tokio::test]
async fn a_token_that_expires_while_cached_is_refused_at_once() {
    let app = TestApp::new().await;
    let mut alice = app.browser();
    alice.sign_up("Alice", "alice@example.com").await;
    let mut conn = app.state.db.get().await.unwrap();
    let user_id: UserId = db_run!(&mut conn, |c| users::table.select(users::id).first(c).await).unwrap();
    let soon = app.now() + 1_500;
    let scopes = ScopeSet::from_names("profile:read").unwrap();
    let new =
        tokens::NewToken { name: "Brief", description: None, scopes, expires_at: Some(soon), streams: None };
    let (_, secret) = tokens::create(&mut conn, &user_id, new, &Default::default()).await.unwrap();
    let secret = secret.expose_secret().to_owned();
    // Used, so known to the cache, with nothing written since.
    assert_eq!(app.graphql(&secret, "{ activeUser { name } }").await.status, StatusCode::OK);
    app.advance(std::time::Duration::from_millis(1_500));
    assert_invalid_token(&app.graphql(&secret, "{ activeUser { name } }").await);
}

#[tokio::test]
async fn malformed_authorization_headers_get_401_never_5xx() {
    let app = TestApp::new().await;
    let mut alice = app.browser();
    alice.sign_up("Alice", "alice@example.com").await;
    let (_, secret) = alice.create_token("Real", &["profile:read"], "90").await;
    let mut typo = secret.clone().into_bytes();
    typo[8] = if typo[8] == b'x' { b'y' } else { b'x' };
    let huge = format!("Bearer {}", "a".repeat(100_000));
    let cases: Vec<Vec<u8>> = vec![
        format!("Bearer {}", secret.replacen("spk_", "ghp_", 1)).into_bytes(),
        [b"Bearer ".as_slice(), &typo].concat(),
        b"Bearer ".to_vec(),
        b"Bearer".to_vec(),
        b"".to_vec(),
        format!("Basic {secret}").into_bytes(),
        b"Basic dXNlcjpwYXNz".to_vec(),
        [b"Bearer spk_\xff\xfe".as_slice(), &[0xc3, 0xa9]].concat(),
        format!("Bearer {secret}x").into_bytes(),
        format!("Bearer spk_{}", "A".repeat(36)).into_bytes(),
        huge.into_bytes(),
    ];
    for value in cases {
        let response = app.graphql_with_header(Some(&value), "{ activeUser { name } }").await;
        let shown = String::from_utf8_lossy(&value[..value.len().min(40)]).into_owned();
        if response.status == StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE {
            continue;
        }
        assert_invalid_token(&response);
        assert!(!response.status.is_server_error(), "{shown}");
    }
    // Two Authorization headers are one too many.
    let request = Request::post("/graphql")
        .header(header::CONTENT_TYPE, "application/json")
        .header(header::AUTHORIZATION, format!("Bearer {secret}"))
        .header(header::AUTHORIZATION, format!("Bearer {secret}"))
        .body(Body::from(r#"{"query":"{ activeUser { name } }"}"#))
        .unwrap();
    assert_invalid_token(&app.send(request).await);
}

#[tokio::test]
async fn a_missing_scope_is_forbidden_and_named() {
    let app = TestApp::new().await;
    let mut alice = app.browser();
    alice.sign_up("Alice", "alice@example.com").await;
    let (_, secret) = alice.create_token("Streams only", &["streams:read"], "90").await;
    for (query, scope) in [
        (DOCS_QUERY, "profile:read"),
        ("{ activeUser { name } }", "profile:read"),
        ("{ otherUser(id: \"x\") { name } }", "users:read"),
    ] {
        let response = app.graphql(&secret, query).await;
        assert_eq!(response.status, StatusCode::OK);
        let error = &response.json()["errors"][0];
        assert_eq!(error["extensions"]["code"], "FORBIDDEN", "{query}");
        assert!(error["message"].as_str().unwrap().contains(scope), "{query}: {error}");
    }
    let (_, profile) = alice.create_token("Profile only", &["profile:read"], "90").await;
    for (query, scope) in [(DOCS_QUERY, "streams:read"), ("{ user { apiTokens { id } } }", "tokens:read")] {
        let error = &app.graphql(&profile, query).await.json()["errors"][0];
        assert_eq!(error["extensions"]["code"], "FORBIDDEN", "{query}");
        assert!(error["message"].as_str().unwrap().contains(scope), "{query}: {error}");
    }
    // Without profile:email the email is redacted (null), as Speckle answers it.
    let response = app.graphql(&profile, "{ user { email } }").await;
    assert_eq!(response.json()["data"]["user"]["email"], serde_json::Value::Null);
    let (_, email) = alice.create_token("Email", &["profile:read", "profile:email"], "90").await;
    let response = app.graphql(&email, "{ user { email } }").await;
    assert_eq!(response.json()["data"]["user"]["email"], "alice@example.com");
}

#[tokio::test]
async fn other_users_profiles_need_users_read_and_never_show_email() {
    let app = TestApp::new().await;
    let mut alice = app.browser();
    alice.sign_up("Alice", "alice@example.com").await;
    let (_, alice_token) = alice.create_token("Me", &["profile:read"], "90").await;
    let alice_id = app.graphql(&alice_token, "{ user { id } }").await.json()["data"]["user"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let mut bob = app.browser();
    bob.sign_up("Bob", "bob@example.com").await;
    let (_, bob_token) =
        bob.create_token("Users", &["users:read", "profile:email", "profile:read"], "90").await;

    let query =
        format!("{{ user(id: \"{alice_id}\") {{ name email }} otherUser(id: \"{alice_id}\") {{ name }} }}");
    let response = app.graphql(&bob_token, &query).await.json();
    assert_eq!(response["data"]["user"]["name"], "Alice");
    assert_eq!(response["data"]["user"]["email"], serde_json::Value::Null);
    assert_eq!(response["data"]["otherUser"]["name"], "Alice");
    let missing = app.graphql(&bob_token, "{ otherUser(id: \"nobody\") { name } }").await.json();
    assert_eq!(missing["errors"][0]["extensions"]["code"], "NOT_FOUND");
}

#[tokio::test]
async fn anonymous_requests_see_public_data_only() {
    let app = TestApp::new().await;
    let response =
        app.graphql_with_header(None, "{ serverInfo { name version scopes { name description } } }").await;
    assert_eq!(response.status, StatusCode::OK);
    let scopes = &response.json()["data"]["serverInfo"]["scopes"];
    assert_eq!(scopes.as_array().unwrap().len(), ALL_SCOPES.len());
    assert_eq!(scopes[0]["name"], "streams:read");

    let response = app.graphql_with_header(None, DOCS_QUERY).await;
    assert_eq!(response.status, StatusCode::OK);
    assert_eq!(response.json()["errors"][0]["extensions"]["code"], "UNAUTHENTICATED");
}

#[tokio::test]
async fn last_used_is_written_at_most_once_a_minute() {
    let app = TestApp::new().await;
    let mut alice = app.browser();
    alice.sign_up("Alice", "alice@example.com").await;
    let (id, secret) = alice.create_token("Busy", &["profile:read"], "90").await;
    let last_used = || async {
        let mut conn = app.state.db.get().await.unwrap();
        db_run!(&mut conn, |c| {
            api_tokens::table.find(&id).select(api_tokens::last_used_at).first::<Option<i64>>(c).await
        })
        .unwrap()
    };
    assert_eq!(last_used().await, None);
    app.graphql(&secret, "{ activeUser { name } }").await;
    let first = last_used().await.expect("written on first use");
    for _ in 0..5 {
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
        app.graphql(&secret, "{ activeUser { name } }").await;
    }
    assert_eq!(last_used().await, Some(first), "not rewritten within the minute");
}

#[tokio::test]
async fn cross_origin_form_posts_are_refused_but_the_api_allows_any_origin() {
    let app = TestApp::new().await;
    let request = Request::post("/api/login")
        .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
        .header(header::ORIGIN, "https://evil.example")
        .header(header::HOST, "localhost")
        .body(Body::from("email=a%40b.c&password=whatever1"))
        .unwrap();
    assert_eq!(app.send(request).await.status, StatusCode::FORBIDDEN);

    let preflight = Request::builder()
        .method("OPTIONS")
        .uri("/graphql")
        .header(header::ORIGIN, "https://scripts.example")
        .header(header::ACCESS_CONTROL_REQUEST_METHOD, "POST")
        .header(header::ACCESS_CONTROL_REQUEST_HEADERS, "authorization,content-type")
        .body(Body::empty())
        .unwrap();
    let response = app.send(preflight).await;
    assert!(response.status.is_success());
    assert_eq!(response.header("access-control-allow-origin"), "*");
    let allowed = response.header("access-control-allow-headers").to_ascii_lowercase();
    assert!(allowed.contains("authorization") && allowed.contains("content-type"), "{allowed}");
}

#[tokio::test]
async fn the_api_ignores_the_session_cookie() {
    let app = TestApp::new().await;
    let mut alice = app.browser();
    alice.sign_up("Alice", "alice@example.com").await;
    let request = Request::post("/graphql")
        .header(header::CONTENT_TYPE, "application/json")
        .header(header::COOKIE, alice.cookie.clone().unwrap())
        .body(Body::from(r#"{"query":"{ activeUser { name } }"}"#))
        .unwrap();
    let response = app.send(request).await;
    assert_eq!(response.json()["errors"][0]["extensions"]["code"], "UNAUTHENTICATED");
}

#[tokio::test]
async fn health_and_the_graphql_explorer() {
    let app = TestApp::new().await;
    let health = app.send(Request::get("/healthz").body(Body::empty()).unwrap()).await;
    assert_eq!((health.status, health.body.as_str()), (StatusCode::OK, "ok"));
    let explorer = app.send(Request::get("/graphql").body(Body::empty()).unwrap()).await;
    assert_eq!(explorer.status, StatusCode::OK);
    assert!(explorer.body.to_lowercase().contains("graphiql"));
}

/// The hang of two fresh clones (a sign-in, then `/profile`, waiting forever): Leptos finds a
/// router's routes by rendering the app with a process-wide switch on that parks every page
/// resource, so a page served while another router of the process was built never finished.
/// Routes are found once per process now: pages render whatever routers are built meanwhile.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pages_render_while_another_server_of_the_process_starts() {
    let app = TestApp::new().await;
    let mut alice = app.browser();
    alice.sign_up("Alice", "alice@example.com").await;
    // The builder stops when the test ends, passed or failed (a failure must not leave it
    // spinning and the process alive until nextest kills it).
    struct Stop(std::sync::Arc<std::sync::atomic::AtomicBool>);
    impl Drop for Stop {
        fn drop(&mut self) {
            self.0.store(false, std::sync::atomic::Ordering::Relaxed);
        }
    }
    let building = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(true));
    let _stop = Stop(building.clone());
    let builder = {
        let (building, state) = (building.clone(), app.state.clone());
        std::thread::spawn(move || {
            let mut built = 0;
            while std::sync::atomic::AtomicBool::load(&building, std::sync::atomic::Ordering::Relaxed) {
                drop(speckle_tokens::server::http::router(state.clone()));
                built += 1;
            }
            built
        })
    };
    for round in 0..40 {
        let started = std::time::Instant::now();
        let page = tokio::time::timeout(std::time::Duration::from_secs(10), alice.get("/profile")).await;
        let Ok(page) = page else {
            let logs = logs();
            let tail: String = logs.chars().skip(logs.chars().count().saturating_sub(20_000)).collect();
            panic!(
                "/profile (round {round}) not rendered after {:?}; the app's log ends:\n{tail}",
                started.elapsed()
            );
        };
        assert_eq!(page.status, StatusCode::OK);
        assert!(page.body.contains("alice@example.com"));
    }
    building.store(false, std::sync::atomic::Ordering::Relaxed);
    assert!(builder.join().unwrap() > 0, "routers were built meanwhile");
}

#[tokio::test]
async fn a_page_request_without_our_exact_origin_changes_nothing() {
    let app = TestApp::new().await;
    let mut alice = app.browser();
    alice.sign_up("Alice", "alice@example.com").await;
    let cookie = alice.cookie.clone().unwrap();
    let create = |origin: Option<&str>| {
        let mut request = Request::post("/api/create_token")
            .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
            .header(header::ACCEPT, "application/json")
            .header(header::HOST, "localhost")
            .header(header::COOKIE, &cookie);
        if let Some(origin) = origin {
            request = request.header(header::ORIGIN, origin);
        }
        let body = form_urlencoded::Serializer::new(String::new())
            .extend_pairs(token_form("forged", &["profile:read"], "30"))
            .finish();
        app.send(request.body(Body::from(body)).unwrap())
    };
    for origin in [None, Some("https://localhost"), Some("http://localhost:8080"), Some("null")] {
        assert_eq!(create(origin).await.status, StatusCode::FORBIDDEN, "{origin:?}");
    }
    assert_eq!(create(Some("http://localhost")).await.status, StatusCode::OK);
    let rows = alice.list_tokens().await.json()["rows"].as_array().unwrap().len();
    assert_eq!(rows, 1, "only the same-origin request made a token");
}

#[tokio::test]
async fn an_account_keeps_its_twenty_most_recent_trusted_devices() {
    use speckle_tokens::server::db::schema::trusted_devices;
    let app = TestApp::new().await;
    let mut first = app.browser();
    first.sign_up("Alice", "alice@example.com").await;
    for _ in 0..22 {
        let mut browser = app.browser();
        let answer = browser.call("login", &[("email", "alice@example.com"), ("password", PASSWORD)]).await;
        assert!(answer.status.is_success(), "{}", answer.body);
        assert!(
            answer.header("set-cookie").contains("device=")
                || browser.cookie.as_deref().is_some_and(|c| c.contains("device="))
        );
    }
    let mut conn = app.state.db.get().await.unwrap();
    let kept: i64 = db_run!(&mut conn, |c| trusted_devices::table.count().get_result(c).await).unwrap();
    assert_eq!(kept, 20);
}
