//! The live updates' load for `scripts/bench --live`: opens many subscriptions, so that the
//! client is not what is measured (one process, one thread per core, a few kB per socket).
//!
//! `live_load <ws-url> <stream-id> <count> <events> <token>...` opens `count` connections
//! (graphql-transport-ws), round robin over the tokens, each subscribed to
//! `projectVersionsUpdated(id: <stream-id>)`; prints `ready` once every one is acknowledged
//! and has had a moment to start; then, for `events` versions, notes when each connection
//! hears each one (Unix milliseconds) and prints them as JSON, `{"<version id>": [ms, …]}`,
//! once every connection heard every event or 30 seconds passed since the last one came.

use std::collections::HashMap;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use futures::{SinkExt, StreamExt};
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::Message;

fn now_ms() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_millis() as u64)
}

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args().collect();
    let [_, url, stream, count, events, tokens @ ..] = args.as_slice() else {
        eprintln!("usage: live_load <ws-url> <stream-id> <count> <events> <token>...");
        std::process::exit(2);
    };
    let count: usize = count.parse().expect("count");
    let events: usize = events.parse().expect("events");
    let (heard, mut hearing) = tokio::sync::mpsc::unbounded_channel::<(String, u64)>();
    let (acked, mut acks) = tokio::sync::mpsc::unbounded_channel::<()>();
    let query = format!(r#"subscription {{ projectVersionsUpdated(id: "{stream}") {{ id type }} }}"#);
    let mut connections = Vec::new();
    for n in 0..count {
        let token = tokens[n % tokens.len()].clone();
        let (url, query, heard, acked) = (url.clone(), query.clone(), heard.clone(), acked.clone());
        connections.push(tokio::spawn(async move {
            let mut request = url.into_client_request().expect("url");
            request.headers_mut().insert("sec-websocket-protocol", "graphql-transport-ws".parse().unwrap());
            let (mut socket, _) = tokio_tungstenite::connect_async(request).await.expect("connect");
            let init = serde_json::json!({ "type": "connection_init", "payload": { "Authorization": format!("Bearer {token}") } });
            socket.send(Message::Text(init.to_string().into())).await.expect("init");
            let subscribe = serde_json::json!({ "id": "1", "type": "subscribe", "payload": { "query": query } });
            while let Some(Ok(message)) = socket.next().await {
                let Message::Text(text) = message else { continue };
                let value: serde_json::Value = serde_json::from_str(&text).unwrap_or_default();
                match value["type"].as_str() {
                    Some("connection_ack") => {
                        socket.send(Message::Text(subscribe.to_string().into())).await.expect("subscribe");
                        let _ = acked.send(());
                    }
                    Some("next") => {
                        let id = value["payload"]["data"]["projectVersionsUpdated"]["id"].as_str().unwrap_or_default();
                        let _ = heard.send((id.to_owned(), now_ms()));
                    }
                    Some("ping") => {
                        let _ = socket.send(Message::Text(r#"{"type":"pong"}"#.into())).await;
                    }
                    _ => eprintln!("live_load: {text}"),
                }
            }
        }));
    }
    drop((heard, acked));
    for _ in 0..count {
        acks.recv().await.expect("a connection failed before its acknowledgement");
    }
    tokio::time::sleep(Duration::from_secs(2)).await;
    println!("ready");
    let mut times: HashMap<String, Vec<u64>> = HashMap::new();
    let mut received = 0;
    while received < count * events {
        match tokio::time::timeout(Duration::from_secs(30), hearing.recv()).await {
            Ok(Some((id, at))) => {
                times.entry(id).or_default().push(at);
                received += 1;
            }
            _ => break,
        }
    }
    println!("{}", serde_json::to_string(&times).expect("json"));
    for connection in connections {
        connection.abort();
    }
}
