//! Live updates (SPEC §10): GraphQL over a real WebSocket on a real listener, in both
//! protocols, with the token in `connection_init`; what each subscription shows, to whom, and
//! that a dead token's connections close.

use std::time::Duration;

use futures::{SinkExt, StreamExt};
use serde_json::{json, Value};
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::Message;

use crate::common::*;

/// How long a test waits for what should come at once: generous, so a slow machine passes.
const PATIENCE: Duration = Duration::from_secs(5);

type Socket = tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// A client of one of the two protocols, as specklepy's (gql's) speaks them.
#[derive(Clone, Copy, PartialEq)]
enum Protocol {
    /// `graphql-transport-ws` (graphql-ws, the newer).
    Transport,
    /// `graphql-ws` (Apollo's subscriptions-transport-ws, the older).
    Apollo,
}

struct Live {
    socket: Socket,
    protocol: Protocol,
}

impl Live {
    /// Connects and sends `connection_init` with this payload.
    async fn connect(addr: std::net::SocketAddr, protocol: Protocol, payload: Value) -> Live {
        let mut request = format!("ws://{addr}/graphql").into_client_request().unwrap();
        let name = match protocol {
            Protocol::Transport => "graphql-transport-ws",
            Protocol::Apollo => "graphql-ws",
        };
        request.headers_mut().insert("sec-websocket-protocol", name.parse().unwrap());
        let (socket, response) =
            tokio::time::timeout(PATIENCE, tokio_tungstenite::connect_async(request)).await.unwrap().unwrap();
        assert_eq!(response.headers()["sec-websocket-protocol"], name);
        let mut live = Live { socket, protocol };
        live.send(json!({ "type": "connection_init", "payload": payload })).await;
        live
    }

    /// A connection with this token, acknowledged.
    async fn open(addr: std::net::SocketAddr, protocol: Protocol, token: &str) -> Live {
        let mut live =
            Live::connect(addr, protocol, json!({ "Authorization": format!("Bearer {token}") })).await;
        let ack = live.next().await;
        assert_eq!(ack["type"], "connection_ack", "{ack}");
        live
    }

    async fn send(&mut self, message: Value) {
        self.socket.send(Message::Text(message.to_string().into())).await.unwrap();
    }

    /// Starts subscription `id`.
    async fn subscribe(&mut self, id: &str, query: &str) {
        let kind = match self.protocol {
            Protocol::Transport => "subscribe",
            Protocol::Apollo => "start",
        };
        self.send(json!({ "id": id, "type": kind, "payload": { "query": query } })).await;
    }

    /// The next message (keep-alives and the server's pings skipped), or a panic after [`PATIENCE`].
    async fn next(&mut self) -> Value {
        loop {
            let message = tokio::time::timeout(PATIENCE, self.socket.next())
                .await
                .expect("nothing came in time")
                .expect("the connection closed")
                .unwrap();
            match message {
                Message::Text(text) => {
                    let value: Value = serde_json::from_str(&text).unwrap();
                    if !matches!(value["type"].as_str(), Some("ka" | "ping")) {
                        return value;
                    }
                }
                Message::Close(frame) => panic!("closed: {frame:?}"),
                _ => {}
            }
        }
    }

    /// The payload of the next event of subscription `id`.
    async fn event(&mut self, id: &str) -> Value {
        let message = self.next().await;
        assert_eq!(message["id"], id, "{message}");
        assert!(matches!(message["type"].as_str(), Some("next" | "data")), "{message}");
        message["payload"].clone()
    }

    /// The error that refused subscription `id` (as an event with errors, then its end).
    async fn refusal(&mut self, id: &str) -> Value {
        let message = self.next().await;
        assert_eq!(message["id"], id, "{message}");
        let error = match message["type"].as_str() {
            Some("error") => message["payload"][0].clone(),
            _ => message["payload"]["errors"][0].clone(),
        };
        assert!(error["message"].is_string(), "{message}");
        assert_eq!(self.next().await["type"], "complete");
        error
    }

    /// Whether nothing but keep-alives comes for `quiet`.
    async fn silent_for(&mut self, quiet: Duration) -> bool {
        let until = tokio::time::Instant::now() + quiet;
        loop {
            match tokio::time::timeout_at(until, self.socket.next()).await {
                Err(_) => return true,
                Ok(Some(Ok(Message::Text(text)))) if text.contains("\"ka\"") || text.contains("\"ping\"") => {
                }
                Ok(other) => {
                    eprintln!("unexpected: {other:?}");
                    return false;
                }
            }
        }
    }

    /// How the server ended the connection within `within`: its close code (none for a
    /// connection dropped without one), or a panic if it stayed open.
    async fn closed_within(&mut self, within: Duration) -> Option<u16> {
        let until = tokio::time::Instant::now() + within;
        loop {
            match tokio::time::timeout_at(until, self.socket.next()).await {
                Err(_) => panic!("still open after {within:?}"),
                Ok(None) | Ok(Some(Err(_))) => return None,
                Ok(Some(Ok(Message::Close(frame)))) => return frame.map(|frame| frame.code.into()),
                Ok(Some(Ok(_))) => {}
            }
        }
    }
}

fn versions_updated(stream: &str) -> String {
    format!(
        r#"subscription {{ data: projectVersionsUpdated(id: "{stream}") {{ id modelId type version {{ id message authorUser {{ name }} }} }} }}"#
    )
}

#[tokio::test]
async fn a_version_made_in_either_era_reaches_subscribers_of_both_in_both_protocols() {
    let app = TestApp::new().await;
    let addr = app.listen().await;
    let mut owner = TestUser::sign_up(&app, "Owner").await;
    let token = owner.token(&["streams:read", "streams:write", "profile:read"]).await;
    let stream = create_stream(&app, &token, "Live", false).await;
    let main = main_model(&app, &token, &stream).await;

    let mut projects = Live::open(addr, Protocol::Transport, &token).await;
    projects.subscribe("v", &versions_updated(&stream)).await;
    let mut streams = Live::open(addr, Protocol::Apollo, &token).await;
    streams.subscribe("c", &format!(r#"subscription {{ commitCreated(streamId: "{stream}") }}"#)).await;
    // A subscription is running once the server has it: give it a moment, then write.
    tokio::time::sleep(Duration::from_millis(300)).await;

    assert_eq!(outcome(&app.gql(Some(&token), &Era::Streams.commit(&stream, &main)).await), "OK");
    let version = projects.event("v").await;
    let data = &version["data"]["data"];
    assert_eq!(data["type"], "CREATED", "{version}");
    assert_eq!(data["modelId"], main.as_str());
    assert_eq!(data["version"]["message"], "roles");
    assert_eq!(data["version"]["authorUser"]["name"], "Owner");
    let commit = streams.event("c").await;
    assert_eq!(commit["data"]["commitCreated"]["id"], data["id"], "{commit}");
    assert_eq!(commit["data"]["commitCreated"]["branchName"], "main");

    // The project era's mutation reaches the stream era's subscriber the same way.
    assert_eq!(outcome(&app.gql(Some(&token), &Era::Projects.commit(&stream, &main)).await), "OK");
    assert_eq!(projects.event("v").await["data"]["data"]["type"], "CREATED");
    assert!(streams.event("c").await["data"]["commitCreated"]["objectId"].is_string());

    // Models and the project itself.
    let mut models = Live::open(addr, Protocol::Transport, &token).await;
    models
        .subscribe("m", &format!(r#"subscription {{ projectModelsUpdated(id: "{stream}") {{ id type model {{ name displayName }} }} }}"#))
        .await;
    models
        .subscribe(
            "p",
            &format!(
                r#"subscription {{ projectUpdated(id: "{stream}") {{ id type project {{ name role }} }} }}"#
            ),
        )
        .await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let create = format!(
        r#"mutation {{ modelMutations {{ create(input: {{ projectId: "{stream}", name: "Facade/North" }}) {{ id }} }} }}"#
    );
    assert_eq!(outcome(&app.gql(Some(&token), &create).await), "OK");
    let model = models.event("m").await;
    assert_eq!(model["data"]["projectModelsUpdated"]["type"], "CREATED", "{model}");
    assert_eq!(model["data"]["projectModelsUpdated"]["model"]["displayName"], "north");
    assert_eq!(outcome(&app.gql(Some(&token), &Era::Streams.rename(&stream)).await), "OK");
    let project = models.event("p").await;
    assert_eq!(project["data"]["projectUpdated"]["type"], "UPDATED", "{project}");
    assert_eq!(project["data"]["projectUpdated"]["project"]["name"], "Renamed");
    assert_eq!(project["data"]["projectUpdated"]["project"]["role"], "stream:owner");
    assert_eq!(outcome(&app.gql(Some(&token), &Era::Projects.delete(&stream)).await), "OK");
    let deleted = models.event("p").await;
    assert_eq!(deleted["data"]["projectUpdated"]["type"], "DELETED", "{deleted}");
    assert_eq!(deleted["data"]["projectUpdated"]["project"], Value::Null);
}

#[tokio::test]
async fn a_connection_needs_a_live_token_and_a_subscription_its_scope_and_stream() {
    let app = TestApp::new().await;
    let addr = app.listen().await;
    let mut owner = TestUser::sign_up(&app, "Owner").await;
    let token = owner.token(&["streams:read", "streams:write"]).await;
    let stream = create_stream(&app, &token, "Private", false).await;
    let mut other = TestUser::sign_up(&app, "Other").await;
    let theirs = other.token(&["streams:read"]).await;
    let no_read = other.token(&["profile:read"]).await;

    for protocol in [Protocol::Transport, Protocol::Apollo] {
        for payload in [json!({}), json!({ "Authorization": "Bearer spk_not_a_token" })] {
            let mut refused = Live::connect(addr, protocol, payload.clone()).await;
            let first = match protocol {
                // graphql-transport-ws closes; the older protocol says why first.
                Protocol::Transport => None,
                Protocol::Apollo => Some(refused.next().await),
            };
            if let Some(first) = first {
                assert_eq!(first["type"], "connection_error", "{first}");
            }
            refused.closed_within(PATIENCE).await;
        }
    }

    let mut live = Live::open(addr, Protocol::Transport, &theirs).await;
    live.subscribe("private", &versions_updated(&stream)).await;
    assert_eq!(live.refusal("private").await["extensions"]["code"], "NOT_FOUND");
    live.subscribe("mine", "subscription { userProjectsUpdated { id type } }").await;
    let refused = live.refusal("mine").await;
    assert_eq!(refused["extensions"]["code"], "FORBIDDEN", "{refused}");
    assert_eq!(refused["extensions"]["requiredScopes"], json!(["profile:read"]), "{refused}");

    let mut live = Live::open(addr, Protocol::Transport, &no_read).await;
    live.subscribe("s", &format!(r#"subscription {{ streamUpdated(streamId: "{stream}") }}"#)).await;
    assert_eq!(live.refusal("s").await["extensions"]["code"], "FORBIDDEN");

    // One connection runs a bounded number of subscriptions.
    let mut many = Live::open(addr, Protocol::Transport, &token).await;
    for n in 0..100 {
        many.subscribe(&n.to_string(), &versions_updated(&stream)).await;
    }
    many.subscribe("one too many", &versions_updated(&stream)).await;
    // Which of them is refused is the server's choice (it starts them in no set order).
    let refused = many.next().await;
    assert_eq!(refused["payload"]["errors"][0]["extensions"]["code"], "BAD_USER_INPUT", "{refused}");
    assert_eq!(many.next().await["type"], "complete");
    assert!(many.silent_for(Duration::from_millis(300)).await, "the other hundred run");
}

#[tokio::test]
async fn a_limited_token_hears_of_its_streams_only() {
    let app = TestApp::new().await;
    let addr = app.listen().await;
    let mut owner = TestUser::sign_up(&app, "Owner").await;
    let full = owner.token(&["streams:read", "streams:write", "profile:read", "tokens:write"]).await;
    let chosen = create_stream(&app, &full, "Chosen", false).await;
    let hidden = create_stream(&app, &full, "Hidden", false).await;
    let token = limited_token(&app, &full, &["streams:read", "profile:read"], &[(&chosen, None)]).await;
    let mut live = Live::open(addr, Protocol::Transport, &token).await;
    live.subscribe("hidden", &versions_updated(&hidden)).await;
    let refused = live.refusal("hidden").await;
    assert_eq!(refused["extensions"]["code"], "NOT_FOUND", "{refused}");
    live.subscribe("chosen", &versions_updated(&chosen)).await;
    live.subscribe("mine", "subscription { userProjectsUpdated { id type } }").await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    // Joining and leaving a stream outside its streams says nothing, not even its id.
    let mut guest = TestUser::sign_up(&app, "Guest").await;
    let guests = guest.token(&["streams:read", "streams:write"]).await;
    let elsewhere = create_stream(&app, &guests, "Elsewhere", false).await;
    let share = Era::Streams.share(&elsewhere, &owner.id, "stream:contributor");
    assert_eq!(outcome(&app.gql(Some(&guests), &share).await), "OK");
    assert_eq!(outcome(&app.gql(Some(&guests), &Era::Streams.unshare(&elsewhere, &owner.id)).await), "OK");
    let main = main_model(&app, &full, &hidden).await;
    assert_eq!(outcome(&app.gql(Some(&full), &Era::Streams.commit(&hidden, &main)).await), "OK");
    assert!(live.silent_for(Duration::from_millis(500)).await, "nothing of the other streams");
    let main = main_model(&app, &full, &chosen).await;
    assert_eq!(outcome(&app.gql(Some(&full), &Era::Streams.commit(&chosen, &main)).await), "OK");
    assert_eq!(live.event("chosen").await["data"]["data"]["type"], "CREATED");
}

#[tokio::test]
async fn sharing_shows_in_the_user_s_projects_and_a_removed_collaborator_sees_no_more() {
    let app = TestApp::new().await;
    let addr = app.listen().await;
    let mut owner = TestUser::sign_up(&app, "Owner").await;
    let token = owner.token(&["streams:read", "streams:write", "profile:read"]).await;
    let stream = create_stream(&app, &token, "Shared", false).await;
    let main = main_model(&app, &token, &stream).await;
    let mut guest = TestUser::sign_up(&app, "Guest").await;
    let theirs = guest.token(&["streams:read", "profile:read"]).await;

    let mut mine = Live::open(addr, Protocol::Transport, &theirs).await;
    mine.subscribe("u", "subscription { userProjectsUpdated { id type project { name role } } }").await;
    mine.subscribe("a", "subscription { userStreamAdded }").await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let share = Era::Projects.share(&stream, &guest.id, "stream:reviewer");
    assert_eq!(outcome(&app.gql(Some(&token), &share).await), "OK");
    let mut seen = vec![mine.next().await, mine.next().await];
    seen.sort_by_key(|message| message["id"].as_str().unwrap_or_default().to_owned());
    let added = &seen[0]["payload"]["data"]["userStreamAdded"];
    assert_eq!(added["id"], stream.as_str(), "{seen:?}");
    assert_eq!(added["sharedBy"], owner.id.as_str(), "{seen:?}");
    let projects = &seen[1]["payload"]["data"]["userProjectsUpdated"];
    assert_eq!(projects["type"], "ADDED", "{seen:?}");
    assert_eq!(projects["project"]["role"], "stream:reviewer");

    let mut versions = Live::open(addr, Protocol::Transport, &theirs).await;
    versions.subscribe("v", &versions_updated(&stream)).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(outcome(&app.gql(Some(&token), &Era::Streams.commit(&stream, &main)).await), "OK");
    assert_eq!(versions.event("v").await["data"]["data"]["type"], "CREATED");

    // The owner listens too: the same event is read for each reader, never one for another.
    let mut owners = Live::open(addr, Protocol::Transport, &token).await;
    owners.subscribe("v", &versions_updated(&stream)).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(outcome(&app.gql(Some(&token), &Era::Streams.unshare(&stream, &guest.id)).await), "OK");
    let removed = mine.event("u").await;
    assert_eq!(removed["data"]["userProjectsUpdated"]["type"], "REMOVED", "{removed}");
    assert_eq!(removed["data"]["userProjectsUpdated"]["project"], Value::Null);
    // Once off the private stream, its versions are not theirs to see.
    assert_eq!(outcome(&app.gql(Some(&token), &Era::Streams.commit(&stream, &main)).await), "OK");
    assert!(versions.silent_for(Duration::from_millis(700)).await);
    assert_eq!(owners.event("v").await["data"]["data"]["type"], "CREATED");
}

#[tokio::test]
async fn a_revoked_or_expired_token_s_connections_close_within_a_second_on_every_server() {
    let app = TestApp::new().await;
    let other_server = app.another_server().await;
    let (here, there) = (app.listen().await, other_server.listen().await);
    let mut owner = TestUser::sign_up(&app, "Owner").await;
    let (revoked_id, revoked) =
        owner.browser.create_token("revoked", &["streams:read", "profile:read"], "30").await;
    let (_, expiring) = owner.browser.create_token("expiring", &["streams:read", "profile:read"], "7").await;
    let (_, kept) = owner.browser.create_token("kept", &["streams:read", "profile:read"], "30").await;
    let query = "subscription { userProjectsUpdated { id } }";
    let mut doomed = Vec::new();
    for addr in [here, there] {
        for protocol in [Protocol::Transport, Protocol::Apollo] {
            let mut live = Live::open(addr, protocol, &revoked).await;
            live.subscribe("u", query).await;
            doomed.push(live);
        }
    }
    let mut expires = Live::open(there, Protocol::Transport, &expiring).await;
    expires.subscribe("u", query).await;
    let mut stays = Live::open(there, Protocol::Transport, &kept).await;
    stays.subscribe("u", query).await;
    tokio::time::sleep(Duration::from_millis(300)).await;

    // The promise is a second; the bound is generous so that a loaded machine passes.
    let revoking = owner.browser.call("revoke_token", &[("id", revoked_id.as_str())]).await;
    assert!(revoking.status.is_success(), "{}", revoking.body);
    let started = std::time::Instant::now();
    for live in &mut doomed {
        assert_eq!(live.closed_within(Duration::from_secs(3)).await, Some(4401));
    }
    assert!(started.elapsed() < Duration::from_secs(3), "{:?}", started.elapsed());
    assert!(stays.silent_for(Duration::from_millis(100)).await);

    app.advance(Duration::from_secs(8 * 86_400));
    assert_eq!(expires.closed_within(Duration::from_secs(3)).await, Some(4401));
    assert!(stays.silent_for(Duration::from_millis(600)).await, "a live token's connection stays");
}

#[tokio::test]
async fn a_message_over_the_limit_closes_the_connection() {
    let app = TestApp::new().await;
    let addr = app.listen().await;
    let mut owner = TestUser::sign_up(&app, "Owner").await;
    let token = owner.token(&["streams:read"]).await;
    let mut live = Live::open(addr, Protocol::Transport, &token).await;
    let huge = format!("subscription {{ userProjectsUpdated {{ id }} }} # {}", "x".repeat(100 * 1024));
    live.subscribe("big", &huge).await;
    live.closed_within(PATIENCE).await;
    // The server is none the worse for it.
    let mut again = Live::open(addr, Protocol::Transport, &token).await;
    again.send(json!({ "type": "ping" })).await;
    assert_eq!(again.next().await["type"], "pong");
}

mod postgres_only {
    use super::*;

    #[tokio::test]
    async fn a_version_made_on_one_server_reaches_a_subscriber_on_another() {
        postgres_only();
        let app = TestApp::new().await;
        let other_server = app.another_server().await;
        let there = other_server.listen().await;
        let mut owner = TestUser::sign_up(&app, "Owner").await;
        let token = owner.token(&["streams:read", "streams:write"]).await;
        let stream = create_stream(&app, &token, "Two servers", false).await;
        let main = main_model(&app, &token, &stream).await;
        let mut live = Live::open(there, Protocol::Transport, &token).await;
        live.subscribe("v", &versions_updated(&stream)).await;
        tokio::time::sleep(Duration::from_millis(300)).await;
        let started = std::time::Instant::now();
        assert_eq!(outcome(&app.gql(Some(&token), &Era::Projects.commit(&stream, &main)).await), "OK");
        assert_eq!(live.event("v").await["data"]["data"]["type"], "CREATED");
        assert!(started.elapsed() < Duration::from_secs(3), "{:?}", started.elapsed());
    }
}

mod sqlite_only {
    use super::*;

    #[tokio::test]
    async fn a_refused_write_tells_nothing_and_a_done_one_at_once() {
        sqlite_only();
        let app = TestApp::new().await;
        let addr = app.listen().await;
        let mut owner = TestUser::sign_up(&app, "Owner").await;
        let token = owner.token(&["streams:read", "streams:write"]).await;
        let stream = create_stream(&app, &token, "Rolled back", false).await;
        let mut live = Live::open(addr, Protocol::Transport, &token).await;
        live.subscribe("b", &format!(r#"subscription {{ branchCreated(streamId: "{stream}") }}"#)).await;
        tokio::time::sleep(Duration::from_millis(300)).await;
        // A branch whose name is taken is refused: nothing is told.
        let create =
            format!(r#"mutation {{ branchCreate(branch: {{ streamId: "{stream}", name: "main" }}) }}"#);
        assert_eq!(outcome(&app.gql(Some(&token), &create).await), "BAD_USER_INPUT");
        assert!(live.silent_for(Duration::from_millis(500)).await);
        let create =
            format!(r#"mutation {{ branchCreate(branch: {{ streamId: "{stream}", name: "west" }}) }}"#);
        assert_eq!(outcome(&app.gql(Some(&token), &create).await), "OK");
        assert_eq!(live.event("b").await["data"]["branchCreated"]["name"], "west");
    }
}
