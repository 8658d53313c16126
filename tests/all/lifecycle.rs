//! SPEC §8, a token's life after creation: regeneration with a grace period, families,
//! descriptions, scope diagnostics, expiry headers and notices, and the activity of a token.

use crate::common::*;
use axum::body::Body;
use axum::http::{header, Request, StatusCode};
use serde_json::{json, Value};

const ROTATE: &str = "mutation($t: ApiTokenRotateInput!) { apiTokenRotate(token: $t) }";
const CREATE: &str = "mutation($t: ApiTokenCreateInput!) { apiTokenCreate(token: $t) }";
const REVOKE: &str = "mutation($t: String!) { apiTokenRevoke(token: $t) }";
const WHO: &str = "{ activeUser { name } }";

/// The id of the token `secret` (asked with a token that may read tokens).
async fn id_of(app: &TestApp, reader: &str, last_chars: &str) -> String {
    let answer = app.gql(Some(reader), "{ activeUser { apiTokens { id lastChars } } }").await;
    answer["data"]["activeUser"]["apiTokens"]
        .as_array()
        .unwrap()
        .iter()
        .find(|token| token["lastChars"] == last_chars)
        .unwrap_or_else(|| panic!("no token …{last_chars}: {answer}"))["id"]
        .as_str()
        .unwrap()
        .to_owned()
}

fn last4(secret: &str) -> &str {
    &secret[secret.len() - 4..]
}

async fn works(app: &TestApp, secret: &str) -> bool {
    let response = app.graphql(secret, WHO).await;
    match response.status {
        StatusCode::OK => true,
        StatusCode::UNAUTHORIZED => false,
        other => panic!("{other}: {}", response.body),
    }
}

/// Alice with a manager token (tokens:read/write, profile:read) and a script token to rotate.
async fn alice_with_script(app: &TestApp) -> (TestUser<'_>, String, String, String) {
    let mut alice = TestUser::sign_up(app, "Alice").await;
    let manager = alice.token(&["tokens:read", "tokens:write", "profile:read"]).await;
    let script = alice.token(&["profile:read"]).await;
    let script_id = id_of(app, &manager, last4(&script)).await;
    (alice, manager, script, script_id)
}

async fn rotate(app: &TestApp, by: &str, input: Value) -> Value {
    app.gql_vars(Some(by), ROTATE, json!({ "t": input })).await
}

#[tokio::test]
async fn the_old_token_works_until_the_new_one_is_first_used() {
    let app = TestApp::new().await;
    let (_alice, manager, old, old_id) = alice_with_script(&app).await;
    let answer = rotate(&app, &manager, json!({ "id": old_id })).await;
    let new = answer["data"]["apiTokenRotate"].as_str().unwrap_or_else(|| panic!("{answer}")).to_owned();
    assert_ne!(new, old);
    // Both work while the new one is unused: scripts are moved over one at a time.
    assert!(works(&app, &old).await, "the old one keeps working in its grace period");
    let response = app.graphql(&old, WHO).await;
    let grace_end = response.header("token-expiration").to_owned();
    assert!(grace_end.ends_with('Z'), "the grace period's end: {grace_end:?}");
    assert!(works(&app, &new).await);
    assert!(!works(&app, &old).await, "dead once the new one was used");
    assert!(works(&app, &new).await);
    // The new one kept name, scopes; the list shows one token for the two.
    let list = app.gql(Some(&manager), "{ activeUser { apiTokens { id name scopes lastChars } } }").await;
    let tokens = list["data"]["activeUser"]["apiTokens"].as_array().unwrap().clone();
    assert!(tokens.iter().all(|t| t["lastChars"] != last4(&old)), "{list}");
    let renewed = tokens.iter().find(|t| t["lastChars"] == last4(&new)).unwrap();
    assert_eq!(renewed["name"], "test");
    assert_eq!(renewed["scopes"], json!(["profile:read"]));
}

#[tokio::test]
async fn the_old_token_dies_when_its_grace_period_ends() {
    let app = TestApp::new().await;
    let (_alice, manager, old, old_id) = alice_with_script(&app).await;
    assert!(works(&app, &old).await, "cached before the rotation");
    let answer = rotate(&app, &manager, json!({ "id": old_id, "gracePeriodSeconds": 1 })).await;
    assert!(answer["data"]["apiTokenRotate"].is_string(), "{answer}");
    assert!(works(&app, &old).await);
    app.advance(std::time::Duration::from_secs(1));
    assert!(!works(&app, &old).await, "dead after its grace period, new one unused");
}

#[tokio::test]
async fn a_grace_period_of_zero_kills_the_old_token_at_once() {
    let app = TestApp::new().await;
    let (_alice, manager, old, old_id) = alice_with_script(&app).await;
    assert!(works(&app, &old).await);
    let answer = rotate(&app, &manager, json!({ "id": old_id, "gracePeriodSeconds": 0 })).await;
    let new = answer["data"]["apiTokenRotate"].as_str().unwrap().to_owned();
    assert!(!works(&app, &old).await);
    assert!(works(&app, &new).await);
    let bad = rotate(
        &app,
        &manager,
        json!({ "id": id_of(&app, &manager, last4(&new)).await, "gracePeriodSeconds": -1 }),
    )
    .await;
    assert_eq!(outcome(&bad), "BAD_USER_INPUT", "{bad}");
}

#[tokio::test]
async fn another_server_refuses_the_old_token_on_the_next_request_after_its_grace() {
    let app = TestApp::new().await;
    let second = app.another_server().await;
    let (_alice, manager, old, old_id) = alice_with_script(&app).await;
    assert!(works(&second, &old).await, "known to the second server's cache");
    let answer = rotate(&app, &manager, json!({ "id": old_id })).await;
    let new = answer["data"]["apiTokenRotate"].as_str().unwrap().to_owned();
    assert!(works(&second, &old).await, "still in its grace period");
    assert!(works(&app, &new).await, "first use, on the first server");
    assert!(!works(&second, &old).await, "the second server saw the epoch end");
}

#[tokio::test]
async fn presenting_a_superseded_token_again_revokes_the_whole_family() {
    let app = TestApp::new().await;
    let (mut alice, manager, first, first_id) = alice_with_script(&app).await;
    let second = rotate(&app, &manager, json!({ "id": first_id })).await["data"]["apiTokenRotate"]
        .as_str()
        .unwrap()
        .to_owned();
    let second_id = id_of(&app, &manager, last4(&second)).await;
    let third = rotate(&app, &manager, json!({ "id": second_id })).await["data"]["apiTokenRotate"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(works(&app, &third).await);
    // Someone rotates the second (superseded) one again: a leak is the likely story.
    let reuse = rotate(&app, &manager, json!({ "id": second_id })).await;
    assert_eq!(outcome(&reuse), "FORBIDDEN", "{reuse}");
    assert!(reuse["errors"][0]["message"].as_str().unwrap().contains("revoked"), "{reuse}");
    for secret in [&first, &second, &third] {
        assert!(!works(&app, secret).await, "every member of the family is dead");
    }
    assert!(works(&app, &manager).await, "other tokens are not of the family");
    // Why, in the activity of the newest member.
    let third_events = alice.browser.call("security_log", &[]).await.json();
    let text = third_events.to_string();
    assert!(text.contains("whole family was revoked"), "{text}");
}

#[tokio::test]
async fn rotating_through_the_api_follows_the_minting_rules() {
    let app = TestApp::new().await;
    let mut alice = TestUser::sign_up(&app, "Alice").await;
    let narrow = alice.token(&["tokens:read", "tokens:write", "profile:read"]).await;
    let writer = alice.token(&["streams:write"]).await;
    let writer_id = id_of(&app, &narrow, last4(&writer)).await;
    let refused = rotate(&app, &narrow, json!({ "id": writer_id })).await;
    assert_eq!(outcome(&refused), "FORBIDDEN", "a scope the caller lacks: {refused}");
    assert!(works(&app, &writer).await, "nothing changed");
    let missing = rotate(&app, &narrow, json!({ "id": "0000000000000000" })).await;
    assert_eq!(outcome(&missing), "NOT_FOUND", "{missing}");
    let none =
        rotate(&app, &narrow, json!({ "id": id_of(&app, &narrow, last4(&narrow)).await, "lifespan": 0 }))
            .await;
    assert_eq!(outcome(&none), "BAD_USER_INPUT", "a positive lifespan: {none}");
}

#[tokio::test]
async fn revoking_a_token_revokes_what_it_minted() {
    let app = TestApp::new().await;
    let mut alice = TestUser::sign_up(&app, "Alice").await;
    let parent = alice.token(&["tokens:write", "profile:read"]).await;
    let child = app
        .gql_vars(Some(&parent), CREATE, json!({ "t": { "name": "child", "scopes": ["profile:read"] } }))
        .await["data"]["apiTokenCreate"]
        .as_str()
        .unwrap()
        .to_owned();
    for lifespan in [0, -9001] {
        let blink = json!({ "t": { "name": "blink", "scopes": ["profile:read"], "lifespan": lifespan } });
        let refused = app.gql_vars(Some(&parent), CREATE, blink).await;
        assert_eq!(outcome(&refused), "BAD_USER_INPUT", "a positive lifespan: {refused}");
    }
    // Any positive lifespan, as Speckle takes it: a token for the next nine seconds.
    let brief = json!({ "t": { "name": "brief", "scopes": ["profile:read"], "lifespan": 9001 } });
    let brief = app.gql_vars(Some(&parent), CREATE, brief).await["data"]["apiTokenCreate"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(works(&app, &brief).await);
    app.advance(std::time::Duration::from_millis(9002));
    assert!(!works(&app, &brief).await, "dead once its nine seconds are over");
    assert!(works(&app, &child).await);
    let answer = app.gql_vars(Some(&parent), REVOKE, json!({ "t": parent })).await;
    assert_eq!(answer["data"]["apiTokenRevoke"], true, "{answer}");
    assert!(!works(&app, &child).await, "revoked with its parent");
    let log = alice.browser.call("security_log", &[]).await.json().to_string();
    assert!(log.contains("which created it"), "{log}");
}

#[tokio::test]
async fn a_missing_scope_says_which_scopes_were_needed_and_held() {
    let app = TestApp::new().await;
    let mut alice = TestUser::sign_up(&app, "Alice").await;
    let token = alice.token(&["profile:read", "users:read"]).await;
    let response = app.graphql(&token, "{ activeUser { streams { totalCount } } }").await;
    let answer = response.json();
    let error = &answer["errors"][0];
    assert_eq!(error["extensions"]["code"], "FORBIDDEN", "{answer}");
    assert_eq!(error["extensions"]["requiredScopes"], json!(["streams:read"]));
    assert_eq!(error["extensions"]["tokenScopes"], json!(["profile:read", "users:read"]));
    assert_eq!(response.header("x-accepted-oauth-scopes"), "streams:read");
    assert_eq!(response.header("x-oauth-scopes"), "profile:read, users:read");
    let fine = app.graphql(&token, WHO).await;
    assert_eq!(fine.header("x-accepted-oauth-scopes"), "");
    assert_eq!(fine.header("x-oauth-scopes"), "profile:read, users:read");
    // The expiry, on every bearer answer of a token that expires (a year here).
    let expires = fine.header("token-expiration");
    let year = time::OffsetDateTime::now_utc().year() + 1;
    assert!(expires.starts_with(&year.to_string()) && expires.ends_with('Z'), "{expires:?}");
    // The object transport answers them too.
    let request = Request::get("/objects/nostream/noobject/single")
        .header(header::AUTHORIZATION, format!("Bearer {token}"))
        .body(Body::empty())
        .unwrap();
    let transport = app.send(request).await;
    assert_eq!(transport.status, StatusCode::FORBIDDEN, "{}", transport.body);
    assert_eq!(transport.header("x-accepted-oauth-scopes"), "streams:read");
    assert_eq!(transport.json()["errors"][0]["extensions"]["requiredScopes"], json!(["streams:read"]));
    assert!(!transport.header("token-expiration").is_empty());
    // A token that never expires sends none.
    let forever = alice.browser.create_token("forever", &["profile:read"], "never").await.1;
    assert_eq!(app.graphql(&forever, WHO).await.header("token-expiration"), "");
}

#[tokio::test]
async fn descriptions_are_kept_edited_and_limited() {
    let app = TestApp::new().await;
    let mut alice = TestUser::sign_up(&app, "Alice").await;
    let mut form = token_form("Deploys", &["profile:read"], "30");
    form.push(("description", "Pushes builds from CI"));
    let created = alice.browser.call("create_token", &form).await;
    assert_eq!(created.status, StatusCode::OK, "{}", created.body);
    let id = created.json()["id"].as_str().unwrap().to_owned();
    let rows = alice.browser.list_tokens().await.json()["rows"].clone();
    let row = rows.as_array().unwrap().iter().find(|row| row["id"] == id.as_str()).unwrap().clone();
    assert_eq!(row["description"], "Pushes builds from CI");
    let long = "x".repeat(501);
    let refused =
        alice.browser.call("update_token", &[("id", &id), ("name", "Deploys"), ("description", &long)]).await;
    assert_eq!(refused.status, StatusCode::BAD_REQUEST, "{}", refused.body);
    let edited = alice
        .browser
        .call("update_token", &[("id", &id), ("name", "Deploys (prod)"), ("description", "Only prod")])
        .await;
    assert_eq!(edited.status, StatusCode::OK, "{}", edited.body);
    let rows = alice.browser.list_tokens().await.json()["rows"].clone();
    let row = rows.as_array().unwrap().iter().find(|row| row["id"] == id.as_str()).unwrap().clone();
    assert_eq!(
        (row["name"].as_str(), row["description"].as_str()),
        (Some("Deploys (prod)"), Some("Only prod"))
    );
    // Regenerating keeps it.
    let renewed = alice.browser.call("regenerate_token", &[("id", &id), ("expiration", "7")]).await;
    assert_eq!(renewed.status, StatusCode::OK, "{}", renewed.body);
    let rows = alice.browser.list_tokens().await.json()["rows"].clone();
    let row = rows.as_array().unwrap().iter().find(|row| row["name"] == "Deploys (prod)").unwrap().clone();
    assert_eq!(row["description"], "Only prod");
    assert_ne!(row["id"], id.as_str());
    assert_eq!(row["expires_soon"], true, "7 days: {row}");
}

#[tokio::test]
async fn the_profile_warns_of_tokens_that_expire_within_a_week() {
    let app = TestApp::new().await;
    let mut alice = TestUser::sign_up(&app, "Alice").await;
    alice.browser.create_token("Nightly", &["profile:read"], "7").await;
    alice.browser.create_token("Long-lived", &["profile:read"], "365").await;
    let page = alice.browser.get("/profile").await.body;
    let notice_start = page.find(r#"role="status""#).expect("an expiry notice");
    let notice = &page[notice_start..notice_start + page[notice_start..].find("</div>").unwrap()];
    assert!(notice.contains("Nightly") && notice.contains("Regenerate Nightly"), "{notice}");
    assert!(!notice.contains("Long-lived"), "{notice}");
}

/// The user's tokens as a `tokens:read` token lists them, with `fields` of each.
async fn listed(app: &TestApp, reader: &str, fields: &str) -> Vec<Value> {
    let query = format!("{{ activeUser {{ apiTokens {{ {fields} }} }} }}");
    let answer = app.gql_vars(Some(reader), &query, json!({})).await;
    answer["data"]["activeUser"]["apiTokens"].as_array().unwrap_or_else(|| panic!("{answer}")).clone()
}

#[tokio::test]
async fn events_record_the_address_and_user_agent_of_each_use() {
    let app = TestApp::new().await;
    let mut alice = TestUser::sign_up(&app, "Alice").await;
    let reader = alice.token(&["tokens:read", "profile:read"]).await;
    let script = alice.token(&["profile:read"]).await;
    let from = |ip: [u8; 4], agent: &str| {
        let request = Request::post("/graphql")
            .header(header::CONTENT_TYPE, "application/json")
            .header(header::AUTHORIZATION, format!("Bearer {script}"))
            .header(header::USER_AGENT, agent)
            .body(Body::from(json!({ "query": WHO }).to_string()))
            .unwrap();
        from_client(request, std::net::SocketAddr::from((ip, 5000)))
    };
    for (ip, agent) in
        [([203, 0, 113, 7], "nightly-build/1.0"), ([203, 0, 113, 7], "x"), ([198, 51, 100, 9], "laptop/2")]
    {
        assert_eq!(app.send(from(ip, agent)).await.status, StatusCode::OK);
    }
    let id = id_of(&app, &reader, last4(&script)).await;
    // Every token's events cost as if the user held the most tokens allowed (500): ten each
    // fits the query's budget.
    let before =
        listed(&app, &reader, "id lastUsedFrom { ip } events(limit: 10) { type label ip userAgent }").await;
    let token = before.iter().find(|t| t["id"] == id.as_str()).unwrap().clone();
    let kinds: Vec<&str> =
        token["events"].as_array().unwrap().iter().map(|e| e["type"].as_str().unwrap()).collect();
    assert_eq!(kinds, ["new_address", "first_used", "created"], "{token}");
    assert_eq!(token["events"][1]["ip"], "203.0.113.7");
    assert_eq!(token["events"][1]["userAgent"], "nightly-build/1.0");
    assert_eq!(token["events"][0]["ip"], "198.51.100.9");
    assert_eq!(token["events"][0]["label"], "Used from a new address");
    let addresses: Vec<&str> =
        token["lastUsedFrom"].as_array().unwrap().iter().map(|a| a["ip"].as_str().unwrap()).collect();
    assert_eq!(addresses.len(), 2);
    assert!(addresses.contains(&"203.0.113.7") && addresses.contains(&"198.51.100.9"), "{addresses:?}");
    // What a token does through the API is recorded with where it came from, too.
    let minter = alice.token(&["tokens:write", "profile:read"]).await;
    let mint = json!({ "query": r#"mutation { apiTokenCreate(token: { name: "Minted", scopes: ["profile:read"] }) }"# });
    let request = Request::post("/graphql")
        .header(header::CONTENT_TYPE, "application/json")
        .header(header::AUTHORIZATION, format!("Bearer {minter}"))
        .header(header::USER_AGENT, "ci-minter/3")
        .body(Body::from(mint.to_string()))
        .unwrap();
    let minted = app.send(from_client(request, std::net::SocketAddr::from(([192, 0, 2, 44], 5000)))).await;
    assert_eq!(minted.status, StatusCode::OK, "{}", minted.body);
    let after = listed(&app, &reader, "name events(limit: 10) { type ip userAgent }").await;
    let child = after.iter().find(|t| t["name"] == "Minted").unwrap_or_else(|| panic!("{after:?}"));
    assert_eq!(child["events"][0]["type"], "created", "{child}");
    assert_eq!(child["events"][0]["ip"], "192.0.2.44", "{child}");
    assert_eq!(child["events"][0]["userAgent"], "ci-minter/3", "{child}");
    // The pages show them to their owner.
    let page = alice.browser.get(&format!("/profile/tokens/{id}")).await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(
        page.body.contains("nightly-build/1.0") && page.body.contains("Used from a new address"),
        "{}",
        page.body
    );
    let log = alice.browser.get("/profile/security").await.body;
    assert!(log.contains("First used") && log.contains("Created"), "{log}");
    // Nobody else's.
    let mut mallory = TestUser::sign_up(&app, "Mallory").await;
    let stolen = mallory.browser.call("token_activity", &[("id", &id)]).await;
    assert_eq!(stolen.status, StatusCode::NOT_FOUND, "{}", stolen.body);
}

#[tokio::test]
async fn counting_and_inserting_are_one_step_and_expired_tokens_count() {
    use speckle_tokens::rules::scopes::ScopeSet;
    use speckle_tokens::server::domain::tokens::{self, NewToken};
    let app = TestApp::new().await;
    let mut alice = TestUser::sign_up(&app, "Alice").await;
    let parent = alice.token(&["tokens:write", "profile:read"]).await;
    let mut conn = app.state.db.get().await.unwrap();
    // 2 live ("whoami", the parent) + 497 here, 10 of them expired: 499 held.
    for i in 0..497 {
        let new = NewToken {
            name: "bulk",
            description: None,
            scopes: ScopeSet::from_names("profile:read").unwrap(),
            expires_at: Some(app.now() + if i < 10 { 1_000 } else { 3_600_000 }),
            streams: None,
        };
        tokens::create(&mut conn, &alice.id.as_str().into(), new, &Default::default()).await.unwrap();
    }
    drop(conn);
    app.advance(std::time::Duration::from_secs(1));
    // Eight at once for the last place: exactly one gets it.
    let attempts = (0..8).map(|i| {
        let name = format!("racer {i}");
        let app = &app;
        let parent = &parent;
        async move {
            app.gql_vars(Some(parent), CREATE, json!({ "t": { "name": name, "scopes": ["profile:read"] } }))
                .await
        }
    });
    let answers = futures::future::join_all(attempts).await;
    let won = answers.iter().filter(|answer| answer["data"]["apiTokenCreate"].is_string()).count();
    assert_eq!(won, 1, "{answers:?}");
    assert!(answers
        .iter()
        .all(|a| a["data"]["apiTokenCreate"].is_string() || outcome(a) == "BAD_USER_INPUT"));
}

/// Tests that count writes with SQLite triggers (skipped on PostgreSQL).
mod sqlite_only {
    use super::*;

    #[tokio::test]
    async fn a_known_address_puts_no_write_on_the_hot_path() {
        sqlite_only(); // writes are counted with SQLite triggers
        let app = TestApp::new().await;
        let mut alice = TestUser::sign_up(&app, "Alice").await;
        let script = alice.token(&["profile:read"]).await;
        exec_sql(&app, "CREATE TABLE writes (what TEXT)").await;
        for (name, event, table) in [
            ("t1", "UPDATE", "api_tokens"),
            ("t2", "INSERT", "token_addresses"),
            ("t3", "UPDATE", "token_addresses"),
            ("t4", "INSERT", "security_events"),
        ] {
            exec_sql(
                &app,
                &format!("CREATE TRIGGER {name} AFTER {event} ON {table} BEGIN INSERT INTO writes VALUES ('{table}'); END"),
            )
            .await;
        }
        assert!(works(&app, &script).await);
        // Touching every row of `writes` answers how many there are.
        let count = || exec_sql(&app, "UPDATE writes SET what = what");
        let after_first = count().await;
        assert!(
            after_first >= 3,
            "the first use is recorded: last used, the address, the event ({after_first})"
        );
        for _ in 0..50 {
            assert!(works(&app, &script).await);
        }
        assert_eq!(count().await, after_first, "no write for a known address within the minute");
    }

    /// The first use of a regenerated token, its event and the end of the token it replaced
    /// are one write: if the end fails, the use is not recorded either, and the next use
    /// tries again (the old secret does not live on for its whole grace period).
    #[tokio::test]
    async fn a_first_use_that_cannot_retire_the_old_token_is_not_recorded() {
        sqlite_only(); // the failure is arranged with a SQLite trigger
        let app = TestApp::new().await;
        let (mut alice, manager, old, old_id) = alice_with_script(&app).await;
        let new = rotate(&app, &manager, json!({ "id": old_id })).await["data"]["apiTokenRotate"]
            .as_str()
            .unwrap()
            .to_owned();
        exec_sql(
            &app,
            &format!(
                "CREATE TRIGGER no_retiring BEFORE UPDATE OF revoked_at ON api_tokens WHEN OLD.id = '{old_id}' \
                 BEGIN SELECT RAISE(ABORT, 'disk full'); END"
            ),
        )
        .await;
        assert!(works(&app, &new).await, "recording a use never fails a request");
        exec_sql(&app, "DROP TRIGGER no_retiring").await;
        assert!(works(&app, &old).await, "not retired: the write failed");
        // The tokens' cache is renewed (another token revoked), and the new one used again:
        // its first use is recorded now, and the old token ends.
        let (other, _) = alice.browser.create_token("other", &["profile:read"], "30").await;
        assert_eq!(alice.browser.call("revoke_token", &[("id", &other)]).await.status, StatusCode::OK);
        assert!(works(&app, &new).await);
        assert!(!works(&app, &old).await, "its successor's first use retired it");
    }
}

#[tokio::test]
async fn a_token_regenerating_itself_never_outlives_itself() {
    let app = TestApp::new().await;
    let mut alice = TestUser::sign_up(&app, "Alice").await;
    let week =
        alice.browser.create_token("week", &["tokens:read", "tokens:write", "profile:read"], "7").await.1;
    let id = id_of(&app, &week, last4(&week)).await;
    let expires = app.graphql(&week, WHO).await.header("token-expiration").to_owned();
    let centuries =
        rotate(&app, &week, json!({ "id": id, "lifespan": 200_i64 * 365 * 24 * 3600 * 1000 })).await;
    assert_eq!(outcome(&centuries), "BAD_USER_INPUT", "{centuries}");
    assert!(works(&app, &week).await, "nothing changed");
    let renewed = rotate(&app, &week, json!({ "id": id })).await;
    let renewed =
        renewed["data"]["apiTokenRotate"].as_str().unwrap_or_else(|| panic!("{renewed}")).to_owned();
    let renewed_expires = app.graphql(&renewed, WHO).await.header("token-expiration").to_owned();
    assert!(renewed_expires <= expires, "{renewed_expires} is after {expires}");
}

#[tokio::test]
async fn a_superseded_token_that_rotates_another_revokes_its_own_family() {
    let app = TestApp::new().await;
    let (_alice, manager, script, script_id) = alice_with_script(&app).await;
    let manager_id = id_of(&app, &manager, last4(&manager)).await;
    let successor = rotate(&app, &manager, json!({ "id": manager_id })).await["data"]["apiTokenRotate"]
        .as_str()
        .unwrap()
        .to_owned();
    // The old manager secret, superseded, turns up rotating another token.
    let reuse = rotate(&app, &manager, json!({ "id": script_id })).await;
    assert_eq!(outcome(&reuse), "FORBIDDEN", "{reuse}");
    assert!(!works(&app, &manager).await && !works(&app, &successor).await, "the suspect's family goes");
    assert!(works(&app, &script).await, "the token it named is not the suspect");
}

#[tokio::test]
async fn regenerate_sent_twice_from_the_profile_revokes_nothing() {
    let app = TestApp::new().await;
    let mut alice = TestUser::sign_up(&app, "Alice").await;
    let (id, old) = alice.browser.create_token("Deploys", &["profile:read"], "30").await;
    let form = [("id", id.as_str()), ("expiration", "30")];
    let first = alice.browser.call("regenerate_token", &form).await;
    assert_eq!(first.status, StatusCode::OK, "{}", first.body);
    let new = first.json()["secret"].as_str().unwrap().to_owned();
    // A double click, or the same dialog in a second tab.
    let second = alice.browser.call("regenerate_token", &form).await;
    assert_eq!(second.status, StatusCode::BAD_REQUEST, "{}", second.body);
    assert!(second.body.contains("regenerated already"), "{}", second.body);
    assert!(!second.body.contains("spk_"), "no second secret");
    assert!(works(&app, &old).await, "the old one keeps its grace period");
    assert!(works(&app, &new).await, "the first regeneration's token stands");
}

#[tokio::test]
async fn tokens_in_their_grace_period_count_toward_the_limit() {
    let app = TestApp::new().await;
    let mut alice = TestUser::sign_up(&app, "Alice").await;
    // 498 tokens, the sign-up's own and this one: the 500 a user may hold.
    insert_tokens(&app, &alice.id, 498).await;
    let (id, _) = alice.browser.create_token("Last", &["profile:read"], "30").await;
    // Regenerating it would keep both working for 24 hours: a 501st token.
    let refused = alice.browser.call("regenerate_token", &[("id", &id), ("expiration", "30")]).await;
    assert_eq!(refused.status, StatusCode::BAD_REQUEST, "{}", refused.body);
    assert!(refused.body.contains("500"), "{}", refused.body);
    let created = alice.browser.call("create_token", &token_form("More", &["profile:read"], "30")).await;
    assert_eq!(created.status, StatusCode::BAD_REQUEST, "{}", created.body);
}
