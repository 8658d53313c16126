//! Hostile input and faults: malformed requests against every entry point, brute force, a
//! revocation under load, and a crash in the middle of a burst of token creations.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use crate::common::*;
use axum::http::StatusCode;
use speckle_tokens::server::auth::throttle::{FailureThrottle, Throttles};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// Sends raw bytes as one HTTP/1.1 request and answers the status code (0 if none came).
async fn raw(addr: SocketAddr, request: &[u8]) -> u16 {
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    // A server may answer (413) and close before reading all of a big body: the answer is
    // what counts, not whether every byte went out.
    let _ = stream.write_all(request).await;
    let mut answer = Vec::new();
    let read = tokio::time::timeout(Duration::from_secs(10), async {
        let mut buf = [0u8; 4096];
        while !answer.windows(4).any(|w| w == b"\r\n\r\n") {
            match stream.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => answer.extend_from_slice(&buf[..n]),
            }
        }
    })
    .await;
    assert!(
        read.is_ok(),
        "no answer within 10 s to {:?}",
        String::from_utf8_lossy(&request[..request.len().min(80)])
    );
    let text = String::from_utf8_lossy(&answer);
    text.split(' ').nth(1).and_then(|code| code.parse().ok()).unwrap_or(0)
}

fn post(path: &str, content_type: &str, headers: &str, body: &[u8]) -> Vec<u8> {
    let mut request = format!(
        "POST {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\nContent-Type: {content_type}\r\n{headers}Content-Length: {}\r\n\r\n",
        body.len()
    )
    .into_bytes();
    request.extend_from_slice(body);
    request
}

fn graphql_body(query: &str) -> Vec<u8> {
    serde_json::json!({ "query": query }).to_string().into_bytes()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn over_a_hundred_malformed_requests_each_get_a_clear_4xx_and_the_server_lives_on() {
    let app = TestApp::new().await;
    let addr = app.listen().await;
    let mut alice = app.browser();
    alice.sign_up("Alice", "alice@example.com").await;
    let (_, token) = alice.create_token("Real", &["profile:read"], "30").await;
    let json = "application/json";
    let form = "application/x-www-form-urlencoded";
    let mut cases: Vec<(String, Vec<u8>)> = Vec::new();
    let mut add = |name: String, request: Vec<u8>| cases.push((name, request));

    // Broken and huge Authorization headers.
    let mut wrong_sum = token.clone().into_bytes();
    wrong_sum[39] = if wrong_sum[39] == b'A' { b'B' } else { b'A' };
    let auth_values: Vec<Vec<u8>> = vec![
        b"Bearer".to_vec(),
        b"Bearer ".to_vec(),
        b"Bearer  ".to_vec(),
        b"Bearer x".to_vec(),
        b"bearer spk_".to_vec(),
        b"Token abc".to_vec(),
        b"Basic dXNlcjpwYXNz".to_vec(),
        [b"Bearer ".as_slice(), &wrong_sum].concat(),
        format!("Bearer {}", token.replace("spk_", "npm_")).into_bytes(),
        format!("Bearer {}", &token[..39]).into_bytes(),
        format!("Bearer {token}{token}").into_bytes(),
        format!("Bearer {token} extra").into_bytes(),
        format!("Bearer {}", "A".repeat(10_000)).into_bytes(),
        format!("Bearer {}", "A".repeat(60_000)).into_bytes(),
        b"Bearer spk_\xff\xfe\xfd".to_vec(),
        b"Bearer \xc3\xa9\xc3\xa9".to_vec(),
        b"\xff\xff\xff".to_vec(),
        format!("Bearer\t{token}").into_bytes(),
        format!("Bearer {}", token.to_lowercase()).into_bytes(),
        format!("Bearer {}", token.to_uppercase()).into_bytes(),
        b"Bearer spk_0000000000000000000000000000000000000".to_vec(),
        b"Bearer null".to_vec(),
        b"Bearer undefined".to_vec(),
        b":".to_vec(),
        b"Bearer =".to_vec(),
    ];
    for (i, value) in auth_values.into_iter().enumerate() {
        let headers = [b"Authorization: ".as_slice(), &value, b"\r\n"].concat();
        let mut request = post("/graphql", json, "", &graphql_body("{ activeUser { name } }"));
        let at = request.windows(2).position(|w| w == b"\r\n").unwrap() + 2;
        request.splice(at..at, headers);
        add(format!("authorization #{i}"), request);
    }
    add(
        "two authorization headers".into(),
        post(
            "/graphql",
            json,
            &format!("Authorization: Bearer {token}\r\nAuthorization: Bearer {token}\r\n"),
            &graphql_body("{ activeUser { name } }"),
        ),
    );

    // Bodies that are not JSON, or not a GraphQL request.
    for body in [
        "",
        "{",
        "}",
        "null",
        "[]",
        "true",
        "42",
        "\"query\"",
        "{\"query\": 5}",
        "{\"query\": null}",
        "{\"query\": []}",
        "<query/>",
        "query={ serverInfo { name } }",
        "{\"query\": \"{ serverInfo { name } }\",}",
        "{\"variables\": {}}",
        "{\"query\": \"\"}",
    ] {
        add(format!("body {body:?}"), post("/graphql", json, "", body.as_bytes()));
    }
    add("invalid UTF-8 body".into(), post("/graphql", json, "", b"{\"query\": \"\xff\xfe\"}"));
    add(
        "text/plain body".into(),
        post("/graphql", "text/plain", "", &graphql_body("{ serverInfo { name } }")),
    );
    add("body over 1 MiB".into(), post("/graphql", json, "", &vec![b' '; 1024 * 1024 + 10]));
    add("lying content length".into(), {
        let mut r = post("/graphql", json, "", b"{}");
        let text =
            String::from_utf8(r.clone()).unwrap().replace("Content-Length: 2", "Content-Length: 999999999");
        r = text.into_bytes();
        r
    });

    // GraphQL that is too deep, too complex, unknown, mistyped, or a batch.
    let deep = format!(
        "{{ __schema {{ types {}name{} }} }}",
        "{ fields { type { ofType ".repeat(6),
        " } } }".repeat(6)
    );
    add("too deep".into(), post("/graphql", json, "", &graphql_body(&deep)));
    let wide: String =
        (0..600).map(|i| format!("a{i}: serverInfo {{ scopes {{ name description }} }} ")).collect();
    add("too complex".into(), post("/graphql", json, "", &graphql_body(&format!("{{ {wide} }}"))));
    for query in [
        "{ nonsense }",
        "{ serverInfo { nonsense } }",
        "{ streams(limit: \"ten\") { totalCount } }",
        "{ stream(id: 5) { name } }",
        "{ stream { name } }",
        "mutation { nonsense }",
        "subscription { nonsense }",
        "{ serverInfo { name } ",
        "query A { serverInfo { name } } query A { serverInfo { name } }",
        "{ serverInfo }",
        "fragment F on Nope { x } { serverInfo { ...F } }",
        "{ user(id: [1,2]) { id } }",
        "{ ...on Query { ...on Query { serverInfo { name } } } ",
    ] {
        add(format!("query {query}"), post("/graphql", json, "", &graphql_body(query)));
    }
    add(
        "unknown operation".into(),
        post("/graphql", json, "", br#"{"query":"query A { serverInfo { name } }","operationName":"B"}"#),
    );
    add(
        "variables of the wrong type".into(),
        post(
            "/graphql",
            json,
            "",
            br#"{"query":"query($l: Int) { streams(limit: $l) { totalCount } }","variables":{"l":"x"}}"#,
        ),
    );
    add(
        "variables not an object".into(),
        post("/graphql", json, "", br#"{"query":"{ serverInfo { name } }","variables":[1]}"#),
    );
    let batch: Vec<_> =
        (0..1000).map(|_| serde_json::json!({ "query": "{ serverInfo { name } }" })).collect();
    add(
        "batch of 1000".into(),
        post("/graphql", json, "", serde_json::to_string(&batch).unwrap().as_bytes()),
    );
    add("GET /graphql with a query string".into(), b"GET /graphql?query=%7B%20nonsense%20%7D HTTP/1.1\r\nHost: localhost\r\nAccept: application/json\r\nConnection: close\r\n\r\n".to_vec());
    for method in ["PUT", "DELETE", "PATCH"] {
        add(format!("{method} /graphql"), format!("{method} /graphql HTTP/1.1\r\nHost: localhost\r\nContent-Length: 0\r\nConnection: close\r\n\r\n").into_bytes());
    }

    // Server functions and the sign-in and sign-up forms.
    let origin = "Origin: http://localhost\r\n";
    for (function, body) in [
        ("login", ""),
        ("login", "email=a%40b.c"),
        ("login", "password=whatever12"),
        ("signup", "name=A&email=a%40b.c"),
        ("signup", "email=a%40b.c&password=whatever12"),
        ("signup", "name=&email=&password="),
        ("signup", "name=A&email=not-an-email&password=whatever12"),
        ("signup", "name=A&email=a%40b.c&password=short"),
        ("create_token", "name=x&expiration=90&scopes[0]=profile:read"),
        ("revoke_token", "id=nope"),
        ("list_tokens", ""),
        ("get_stream", "id=nope"),
        ("nonexistent_function", ""),
        ("login", "email=%ff%fe&password=%ff"),
        ("login", "%%%%"),
        ("create_token", "name=x&scopes[zz]=profile:read&expiration=90"),
    ] {
        add(
            format!("/api/{function} {body:?}"),
            post(&format!("/api/{function}"), form, origin, body.as_bytes()),
        );
    }
    let long_name = format!("name={}&email=x%40y.z&password=whatever12", "n".repeat(200));
    add("sign-up name too long".into(), post("/api/signup", form, origin, long_name.as_bytes()));
    let long_password = format!("email=x%40y.z&password={}", "p".repeat(2000));
    add("sign-in password too long".into(), post("/api/login", form, origin, long_password.as_bytes()));
    add("sign-up over 1 MiB".into(), post("/api/signup", form, origin, &vec![b'a'; 1024 * 1024 + 1]));
    add("form as JSON".into(), post("/api/login", json, origin, br#"{"email":"a@b.c","password":"x"}"#));
    add("invalid UTF-8 form".into(), post("/api/login", form, origin, b"email=\xff\xfe&password=\xff"));
    add(
        "cross-origin sign-in".into(),
        post("/api/login", form, "Origin: https://evil.example\r\n", b"email=a%40b.c&password=whatever12"),
    );
    add(
        "cross-site sign-up".into(),
        post(
            "/api/signup",
            form,
            "Sec-Fetch-Site: cross-site\r\n",
            b"name=A&email=a%40b.c&password=whatever12",
        ),
    );
    add("null origin".into(), post("/api/logout", form, "Origin: null\r\n", b""));
    add(
        "GET a server function".into(),
        b"GET /api/login HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n".to_vec(),
    );

    // The object transport: malformed uploads, id lists and paths, with a writing token.
    let writer = alice.create_token("Writer", &["streams:read", "streams:write"], "30").await.1;
    let stream = app.gql(Some(&writer), r#"mutation { streamCreate(stream: { name: "Hostile" }) }"#).await
        ["data"]["streamCreate"]
        .as_str()
        .unwrap()
        .to_owned();
    let bearer = format!("Authorization: Bearer {writer}\r\n");
    let multipart = "multipart/form-data; boundary=b";
    let part = |content_type: &str, body: &[u8]| -> Vec<u8> {
        [
            format!("--b\r\nContent-Disposition: form-data; name=\"batch-1\"; filename=\"b\"\r\nContent-Type: {content_type}\r\n\r\n").as_bytes(),
            body,
            b"\r\n--b--\r\n",
        ]
        .concat()
    };
    let uploads: Vec<(&str, &str, Vec<u8>)> = vec![
        ("no boundary", "multipart/form-data", part("application/json", b"[]")),
        ("wrong boundary", "multipart/form-data; boundary=zz", part("application/json", b"[]")),
        ("not multipart", json, b"[{\"id\":\"abc\"}]".to_vec()),
        (
            "truncated multipart",
            multipart,
            b"--b\r\nContent-Disposition: form-data; name=\"x\"\r\n\r\n[".to_vec(),
        ),
        ("empty multipart", multipart, b"--b--\r\n".to_vec()),
        ("gzip lie", multipart, part("application/gzip", b"\x1f\x8b\x08\x00garbage")),
        ("JSON garbage", multipart, part("application/json", b"[{]")),
        ("deep JSON", multipart, part("application/json", "[".repeat(100_000).as_bytes())),
        ("a number", multipart, part("application/json", b"7")),
        ("objects without ids of the right shape", multipart, part("application/json", br#"[{"id": 5}]"#)),
        ("an id with a slash", multipart, part("application/json", br#"[{"id": "a/b"}]"#)),
        (
            "an id too long",
            multipart,
            part("application/json", format!(r#"[{{"id": "{}"}}]"#, "a".repeat(65)).as_bytes()),
        ),
        (
            "a closure that is not an object",
            multipart,
            part("application/json", br#"[{"id": "abc", "__closure": [1]}]"#),
        ),
        ("a video", multipart, part("video/mp4", b"[]")),
        ("invalid UTF-8", multipart, part("text/plain", b"[\"\xff\xfe\"]")),
    ];
    for (name, content_type, body) in uploads {
        add(format!("upload: {name}"), post(&format!("/objects/{stream}"), content_type, &bearer, &body));
    }
    for (name, body) in [
        ("no field", "".to_owned()),
        ("not JSON", "objects=%5B".to_owned()),
        ("not a list", "objects=%7B%7D".to_owned()),
        ("numbers", "objects=%5B1%2C2%5D".to_owned()),
        ("a bad id", "objects=%5B%22a%2Fb%22%5D".to_owned()),
    ] {
        add(format!("diff: {name}"), post(&format!("/api/diff/{stream}"), form, &bearer, body.as_bytes()));
        add(
            format!("getobjects: {name}"),
            post(&format!("/api/getobjects/{stream}"), form, &bearer, body.as_bytes()),
        );
    }
    add(
        "diff over 16 MiB".into(),
        post(&format!("/api/diff/{stream}"), form, &bearer, &vec![b'a'; 16 * 1024 * 1024 + 1]),
    );
    add("diff to no stream".into(), post("/api/diff/nope", form, &bearer, b"objects=%5B%5D"));
    add(
        "upload without a token".into(),
        post(&format!("/objects/{stream}"), multipart, "", &part("application/json", b"[]")),
    );
    for path in [
        format!("/objects/{stream}/%ff/single"),
        format!("/objects/{stream}/nope"),
        "/objects/nope/nope".to_owned(),
    ] {
        add(
            format!("GET {path}"),
            format!("GET {path} HTTP/1.1\r\nHost: localhost\r\n{bearer}Connection: close\r\n\r\n")
                .into_bytes(),
        );
    }

    // Static paths and plain HTTP abuse.
    for path in [
        "/pkg/../../../../etc/passwd",
        "/pkg/%2e%2e/%2e%2e/Cargo.toml",
        "/pkg/nope.wasm",
        "/favicon-that-does-not-exist.ico",
        "/no/such/page",
        "/%ff%fe",
        "/pkg/%00",
    ] {
        add(
            format!("GET {path}"),
            format!("GET {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n").into_bytes(),
        );
    }
    add(
        "very long path".into(),
        format!("GET /{} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n", "a".repeat(20_000))
            .into_bytes(),
    );
    add("garbage request line".into(), b"HELLO\r\n\r\n".to_vec());
    add(
        "header without a colon".into(),
        b"GET /healthz HTTP/1.1\r\nHost: localhost\r\nBad Header\r\n\r\n".to_vec(),
    );
    add(
        "non-ASCII header name".into(),
        b"GET /healthz HTTP/1.1\r\nHost: localhost\r\nX-\xff: 1\r\n\r\n".to_vec(),
    );
    add(
        "PUT /healthz".into(),
        b"PUT /healthz HTTP/1.1\r\nHost: localhost\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
            .to_vec(),
    );
    add("a thousand headers".into(), {
        let headers: String = (0..1000).map(|i| format!("X-H{i}: v\r\n")).collect();
        format!("GET /healthz HTTP/1.1\r\nHost: localhost\r\n{headers}\r\n").into_bytes()
    });
    add("bad chunked body".into(), b"POST /graphql HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\nzz\r\n{}\r\n0\r\n\r\n".to_vec());

    assert!(cases.len() >= 100, "only {} cases", cases.len());
    let mut failures = Vec::new();
    for (name, request) in &cases {
        let status = raw(addr, request).await;
        if !(400..500).contains(&status) {
            failures.push(format!("{name}: {status}"));
        }
    }
    assert!(failures.is_empty(), "not a 4xx:\n{}", failures.join("\n"));
    assert_eq!(
        raw(addr, b"GET /healthz HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n").await,
        200
    );
    assert_eq!(outcome(&app.gql(Some(&token), "{ activeUser { name } }").await), "OK");
}

#[tokio::test]
async fn repeated_failed_sign_ins_are_slowed_per_email_and_address() {
    let app = TestApp::new().await;
    app.browser().sign_up("Alice", "alice@example.com").await;
    app.browser().sign_up("Bob", "bob@example.com").await;
    let attacker: SocketAddr = "10.1.1.1:5000".parse().unwrap();
    let mut browser = app.browser();
    browser.client = attacker;
    for _ in 0..10 {
        let response =
            browser.call("login", &[("email", "alice@example.com"), ("password", "wrong password")]).await;
        assert_eq!(response.status, StatusCode::BAD_REQUEST);
    }
    // The 11th attempt waits, even with the right password.
    let response = browser.call("login", &[("email", "ALICE@example.com"), ("password", PASSWORD)]).await;
    assert_eq!(response.status, StatusCode::TOO_MANY_REQUESTS, "{}", response.body);
    let retry_after: u64 = response.header("retry-after").parse().unwrap();
    assert!((1..=900).contains(&retry_after));
    // Other users, and the same user from elsewhere, are unaffected.
    let response = browser.call("login", &[("email", "bob@example.com"), ("password", PASSWORD)]).await;
    assert!(response.status.is_success(), "{}", response.body);
    let mut elsewhere = app.browser();
    elsewhere.client = "10.2.2.2:5000".parse().unwrap();
    let response = elsewhere.call("login", &[("email", "alice@example.com"), ("password", PASSWORD)]).await;
    assert!(response.status.is_success(), "{}", response.body);
}

#[tokio::test]
async fn a_flood_of_invalid_tokens_is_slowed_per_address_but_a_valid_token_always_passes() {
    let app = TestApp::new().await;
    let mut alice = app.browser();
    alice.sign_up("Alice", "alice@example.com").await;
    let (_, token) = alice.create_token("Real", &["profile:read"], "30").await;
    let attacker: SocketAddr = "10.3.3.3:5000".parse().unwrap();
    let bearer = |t: &str| format!("Bearer {t}").into_bytes();
    let guess = format!("spk_{}", "A".repeat(36));
    for _ in 0..100 {
        let response = app.graphql_from(attacker, Some(&bearer(&guess)), "{ activeUser { name } }").await;
        assert_eq!(response.status, StatusCode::UNAUTHORIZED);
    }
    let response = app.graphql_from(attacker, Some(&bearer(&guess)), "{ activeUser { name } }").await;
    assert_eq!(response.status, StatusCode::TOO_MANY_REQUESTS);
    assert!(response.header("retry-after").parse::<u64>().is_ok_and(|s| (1..=60).contains(&s)));
    assert_eq!(response.json()["errors"][0]["extensions"]["code"], "RATE_LIMITED");
    // A valid token from the same address (a colleague behind the same NAT) is served.
    let response = app.graphql_from(attacker, Some(&bearer(&token)), "{ activeUser { name } }").await;
    assert_eq!(response.status, StatusCode::OK, "{}", response.body);
    // Anonymous requests and other addresses go on.
    assert_eq!(app.graphql_from(attacker, None, "{ serverInfo { name } }").await.status, StatusCode::OK);
    let other: SocketAddr = "10.4.4.4:5000".parse().unwrap();
    assert_eq!(
        app.graphql_from(other, Some(&bearer(&guess)), "{ activeUser { name } }").await.status,
        StatusCode::UNAUTHORIZED
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_token_revoked_under_64_connections_is_refused_by_every_later_request() {
    // A revoked token still in use fails on every request; the brute-force limit would turn
    // those 401s into 429s after a hundred, so it is out of the way here.
    let throttles =
        Throttles { bearer: FailureThrottle::new(u32::MAX, Duration::from_secs(60)), ..Default::default() };
    let app = TestApp::with_throttles(throttles).await;
    let addr = app.listen().await;
    let mut alice = app.browser();
    alice.sign_up("Alice", "alice@example.com").await;
    let (id, token) = alice.create_token("Busy", &["profile:read"], "30").await;
    let url = format!("http://{addr}/graphql");
    let stop_at = Instant::now() + Duration::from_millis(1500);

    let mut clients = Vec::new();
    for _ in 0..64 {
        let (url, token) = (url.clone(), token.clone());
        clients.push(tokio::spawn(async move {
            // One client each: its own connection.
            let client = reqwest::Client::new();
            let mut seen = Vec::new();
            while Instant::now() < stop_at {
                let started = Instant::now();
                let status = client
                    .post(&url)
                    .bearer_auth(&token)
                    .json(&serde_json::json!({ "query": "{ activeUser { name } }" }))
                    .send()
                    .await
                    .map(|r| r.status().as_u16())
                    .unwrap_or(0);
                seen.push((started, status));
            }
            seen
        }));
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    let response = alice.call("revoke_token", &[("id", &id)]).await;
    assert_eq!(response.status, StatusCode::OK);
    let revoked_at = Instant::now();

    let mut before = 0;
    let mut after = 0;
    for client in clients {
        for (started, status) in client.await.unwrap() {
            if started > revoked_at {
                assert_eq!(status, 401, "a request started after the revocation was answered {status}");
                after += 1;
            } else if status == 200 {
                before += 1;
            }
        }
    }
    assert!(before > 0 && after > 0, "load before ({before}) and after ({after}) the revocation");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_crash_mid_burst_loses_no_acknowledged_token_and_leaves_the_database_sound() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("crash.db");
    let database_url = format!("sqlite://{}", db.display());
    let start = |port: u16| {
        std::process::Command::new(env!("CARGO_BIN_EXE_speckle-tokens"))
            .env("DATABASE_URL", &database_url)
            .env("LEPTOS_SITE_ADDR", format!("127.0.0.1:{port}"))
            .env("LEPTOS_OUTPUT_NAME", "speckle-tokens")
            .env("RUST_LOG", "warn")
            .stdout(std::process::Stdio::null())
            .spawn()
            .unwrap()
    };
    let port = free_port();
    let base = format!("http://127.0.0.1:{port}");
    let mut server = start(port);
    wait_for_health(&base).await;

    let client = reqwest::Client::new();
    let signup = client
        .post(format!("{base}/api/signup"))
        .header("Origin", &base)
        .form(&[("name", "Crash"), ("email", "crash@example.com"), ("password", PASSWORD)])
        .send()
        .await
        .unwrap();
    // The session's cookie (signing up also sets the device cookie).
    let cookie = signup
        .headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|value| value.to_str().ok())
        .find(|value| value.starts_with("session="))
        .and_then(|value| value.split(';').next())
        .unwrap()
        .to_owned();

    let answered = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let mut writers = Vec::new();
    for writer in 0..8 {
        let (client, base, cookie, answered) =
            (client.clone(), base.clone(), cookie.clone(), answered.clone());
        writers.push(tokio::spawn(async move {
            let mut acknowledged = Vec::new();
            for i in 0.. {
                let name = format!("burst {writer}-{i}");
                let sent = client
                    .post(format!("{base}/api/create_token"))
                    .header("Origin", &base)
                    .header("Cookie", &cookie)
                    .form(&[("name", name.as_str()), ("scopes[0]", "profile:read"), ("expiration", "30")])
                    .send()
                    .await;
                let Ok(response) = sent else { break };
                if !response.status().is_success() {
                    break;
                }
                let Ok(token) = response.json::<serde_json::Value>().await else { break };
                acknowledged.push(token["secret"].as_str().unwrap().to_owned());
                answered.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            }
            acknowledged
        }));
    }
    // Kill it in full flight: once a few dozen creations were answered (however slow the
    // machine), while the eight writers keep going.
    let deadline = Instant::now() + Duration::from_secs(30);
    while answered.load(std::sync::atomic::Ordering::Relaxed) < 40 && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    server.kill().unwrap(); // SIGKILL
    server.wait().unwrap();
    let mut acknowledged = Vec::new();
    for writer in writers {
        acknowledged.extend(writer.await.unwrap());
    }
    assert!(acknowledged.len() > 5, "the burst was too short: {}", acknowledged.len());

    let mut server = start(port);
    wait_for_health(&base).await;
    for token in &acknowledged {
        let status = client
            .post(format!("{base}/graphql"))
            .bearer_auth(token)
            .json(&serde_json::json!({ "query": "{ activeUser { name } }" }))
            .send()
            .await
            .unwrap()
            .status();
        assert_eq!(status, 200, "an acknowledged token was lost");
    }
    server.kill().unwrap();
    server.wait().unwrap();

    let integrity = std::process::Command::new("sqlite3").arg(&db).arg("PRAGMA integrity_check;").output();
    let integrity = match integrity {
        Ok(output) => String::from_utf8_lossy(&output.stdout).trim().to_owned(),
        Err(_) => integrity_check_in_process(&db),
    };
    assert_eq!(integrity, "ok");
}

fn integrity_check_in_process(db: &std::path::Path) -> String {
    use diesel::{Connection, RunQueryDsl};
    #[derive(diesel::QueryableByName)]
    struct Check {
        #[diesel(sql_type = diesel::sql_types::Text)]
        integrity_check: String,
    }
    let mut conn = diesel::SqliteConnection::establish(&db.to_string_lossy()).unwrap();
    let rows: Vec<Check> = diesel::sql_query("PRAGMA integrity_check").load(&mut conn).unwrap();
    rows.into_iter().map(|r| r.integrity_check).collect::<Vec<_>>().join("\n")
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

async fn wait_for_health(base: &str) {
    let client = reqwest::Client::new();
    for _ in 0..200 {
        if client.get(format!("{base}/healthz")).send().await.is_ok_and(|r| r.status() == 200) {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("the server did not start");
}

#[tokio::test]
async fn after_sign_in_the_browser_stays_on_this_site_and_no_next_is_a_5xx() {
    let app = TestApp::new().await;
    app.browser().sign_up("Alice", "alice@example.com").await;
    let cases = [
        ("/streams", "/streams"),
        ("/\t/evil.example", "/profile"),
        ("/\n", "/profile"),
        ("/\r\nSet-Cookie: x=1", "/profile"),
        ("//evil.example", "/profile"),
        ("https://evil.example/", "/profile"),
    ];
    for (next, lands) in cases {
        for no_js in [true, false] {
            let mut browser = app.browser();
            let form = [("email", "alice@example.com"), ("password", PASSWORD), ("next", next)];
            let response = if no_js {
                let response = browser.submit_form("login", &form).await;
                assert!(response.status.is_redirection(), "{next:?}: {} {}", response.status, response.body);
                assert_eq!(response.header("location"), lands, "{next:?}");
                response
            } else {
                let response = browser.call("login", &form).await;
                assert!(response.status.is_success(), "{next:?}: {}", response.body);
                assert_eq!(response.json(), serde_json::json!(lands), "{next:?}");
                response
            };
            assert!(response.status.as_u16() < 500);
        }
    }
}

#[tokio::test]
async fn a_flood_of_failed_sign_ins_with_fresh_emails_is_stopped_per_address() {
    let app = TestApp::new().await;
    app.browser().sign_up("Alice", "alice@example.com").await;
    let mut attacker = app.browser();
    attacker.client = "10.5.5.5:5000".parse().unwrap();
    for i in 0..50 {
        let email = format!("victim{i}@example.com");
        let response = attacker.call("login", &[("email", &email), ("password", "wrong password")]).await;
        assert_eq!(response.status, StatusCode::BAD_REQUEST, "{}", response.body);
    }
    let response = attacker.call("login", &[("email", "fresh@example.com"), ("password", "guess")]).await;
    assert_eq!(response.status, StatusCode::TOO_MANY_REQUESTS);
    assert!(response.header("retry-after").parse::<u64>().is_ok_and(|s| (1..=900).contains(&s)));
    // A megabyte of email is refused before any work, and is no bigger a key than any other.
    let mut elsewhere = app.browser();
    elsewhere.client = "10.6.6.6:5000".parse().unwrap();
    let huge = format!("{}@example.com", "a".repeat(1024 * 1024 - 20));
    let response = elsewhere.call("login", &[("email", &huge), ("password", "whatever")]).await;
    assert_eq!(response.status, StatusCode::BAD_REQUEST);
    let response = elsewhere.call("login", &[("email", "alice@example.com"), ("password", PASSWORD)]).await;
    assert!(response.status.is_success(), "{}", response.body);
}

#[tokio::test]
async fn sign_ups_are_limited_per_address() {
    let throttles =
        Throttles { sign_up: FailureThrottle::new(3, Duration::from_secs(3600)), ..Default::default() };
    let app = TestApp::with_throttles(throttles).await;
    for i in 0..3 {
        app.browser().sign_up("Someone", &format!("someone{i}@example.com")).await;
    }
    // Mistakes in the form do not count; the fourth account does.
    let mut browser = app.browser();
    let short =
        browser.call("signup", &[("name", "X"), ("email", "x@example.com"), ("password", "short")]).await;
    assert_eq!(short.status, StatusCode::BAD_REQUEST);
    let form = [("name", "X"), ("email", "x@example.com"), ("password", PASSWORD)];
    let response = browser.call("signup", &form).await;
    assert_eq!(response.status, StatusCode::TOO_MANY_REQUESTS, "{}", response.body);
    let mut elsewhere = app.browser();
    elsewhere.client = "10.7.7.7:5000".parse().unwrap();
    assert!(elsewhere.call("signup", &form).await.status.is_success());
}

#[tokio::test]
async fn a_session_signed_out_elsewhere_is_never_written_back() {
    use speckle_tokens::server::auth::session::DbSessionStore;
    use tower_sessions::session::Record;
    use tower_sessions::SessionStore;
    let app = TestApp::new().await;
    let store = DbSessionStore::new(app.state.db.clone());
    let mut record = Record {
        id: Default::default(),
        data: Default::default(),
        expiry_date: time::OffsetDateTime::now_utc() + time::Duration::hours(1),
    };
    store.create(&mut record).await.unwrap();
    // A request loaded the session; meanwhile the user signed out (deleted it) in another tab.
    let loaded = store.load(&record.id).await.unwrap().unwrap();
    store.delete(&record.id).await.unwrap();
    // The slow request ends and saves what it loaded: the session stays gone.
    store.save(&loaded).await.unwrap();
    assert!(store.load(&record.id).await.unwrap().is_none());
}

/// Reads from the socket until it closes or `within` passes; true if it closed.
async fn closed_within(stream: &mut tokio::net::TcpStream, within: Duration) -> bool {
    let mut buf = [0u8; 1024];
    let read = tokio::time::timeout(within, async {
        loop {
            match stream.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(_) => {}
            }
        }
    })
    .await;
    read.is_ok()
}

#[tokio::test]
async fn slow_or_idle_clients_are_let_go_and_connections_are_capped() {
    use speckle_tokens::server::http::listen::ConnectionLimits;
    let app = TestApp::new().await;
    let limits = ConnectionLimits {
        max_connections: 4,
        header_timeout: Duration::from_millis(500),
        body_idle_timeout: Duration::from_millis(500),
    };
    let addr = app.listen_with(limits).await;

    // Headers that never end (slowloris): the connection is closed.
    let mut slow = tokio::net::TcpStream::connect(addr).await.unwrap();
    slow.write_all(b"GET /healthz HTTP/1.1\r\nHost: localhost\r\nX-Slow: ").await.unwrap();
    assert!(closed_within(&mut slow, Duration::from_secs(5)).await, "headers must come in time");

    // A body that stops half way: refused, never a hang.
    let mut trickle = tokio::net::TcpStream::connect(addr).await.unwrap();
    let head = "POST /graphql HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{\"query\":";
    trickle.write_all(head.as_bytes()).await.unwrap();
    let mut answer = Vec::new();
    let ended = tokio::time::timeout(Duration::from_secs(5), trickle.read_to_end(&mut answer)).await;
    assert!(ended.is_ok(), "a body that stops half way is let go within 5 s, not waited for");
    let answer = String::from_utf8_lossy(&answer);
    assert!(answer.is_empty() || answer.starts_with("HTTP/1.1 4"), "{answer}");

    // Four idle connections fill the listener; a fifth is closed at once, and once they are
    // let go (their headers never came) the server answers again.
    let mut idle = Vec::new();
    for _ in 0..4 {
        idle.push(tokio::net::TcpStream::connect(addr).await.unwrap());
    }
    tokio::time::sleep(Duration::from_millis(100)).await;
    let mut fifth = tokio::net::TcpStream::connect(addr).await.unwrap();
    assert!(closed_within(&mut fifth, Duration::from_millis(400)).await, "over the cap");
    for mut connection in idle {
        assert!(closed_within(&mut connection, Duration::from_secs(5)).await);
    }
    assert_eq!(
        raw(addr, b"GET /healthz HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n").await,
        200
    );
}

/// Tests that arrange failures with SQLite triggers (skipped on PostgreSQL).
mod sqlite_only {
    use super::*;

    #[tokio::test]
    async fn a_failed_last_used_write_never_fails_the_request() {
        sqlite_only(); // the failure is arranged with a SQLite trigger
        let app = TestApp::new().await;
        let mut alice = TestUser::sign_up(&app, "Alice").await;
        let token = alice.token(&["profile:read"]).await;
        exec_sql(
            &app,
            "CREATE TRIGGER no_last_used BEFORE UPDATE OF last_used_at ON api_tokens \
             BEGIN SELECT RAISE(ABORT, 'disk full'); END",
        )
        .await;
        let answer = app.gql(Some(&token), "{ activeUser { name } }").await;
        assert_eq!(answer["data"]["activeUser"]["name"], "Alice", "{answer}");
    }

    #[tokio::test]
    async fn an_owner_demoted_while_deleting_cannot_delete() {
        sqlite_only(); // the interleaving is arranged with a SQLite trigger
        let app = TestApp::new().await;
        let mut alice = TestUser::sign_up(&app, "Alice").await;
        let writer = alice.token(&["streams:write", "streams:read"]).await;
        let stream = create_stream(&app, &writer, "Doomed?", false).await;
        // Her role is taken away after the first check, inside the write's transaction, the
        // moment the stream row is touched: as another owner's change committing in between would.
        exec_sql(
            &app,
            "CREATE TRIGGER demote AFTER UPDATE ON streams \
             BEGIN DELETE FROM stream_acl WHERE stream_id = NEW.id; END",
        )
        .await;
        let delete = "mutation($id: String!) { streamDelete(id: $id) }";
        let answer = app.gql_vars(Some(&writer), delete, serde_json::json!({ "id": stream })).await;
        assert_eq!(outcome(&answer), "FORBIDDEN", "{answer}");
        exec_sql(&app, "DROP TRIGGER demote").await;
        let still = app
            .gql_vars(
                Some(&writer),
                "query($id: String!) { stream(id: $id) { name } }",
                serde_json::json!({ "id": stream }),
            )
            .await;
        assert_eq!(still["data"]["stream"]["name"], "Doomed?", "{still}");
    }

    #[tokio::test]
    async fn a_contributor_demoted_while_committing_commits_nothing() {
        sqlite_only(); // the interleaving is arranged with a SQLite trigger
        let app = TestApp::new().await;
        let mut alice = TestUser::sign_up(&app, "Alice").await;
        let writer = alice.token(&["streams:write", "streams:read"]).await;
        let stream = create_stream(&app, &writer, "Shared", false).await;
        let commit = "mutation($c: CommitCreateInput!) { commitCreate(commit: $c) }";
        let input = serde_json::json!({ "c": { "streamId": stream, "objectId": "0123456789abcdef" } });
        // Her role goes after the first check, the moment the write takes the stream's lock.
        exec_sql(
            &app,
            "CREATE TRIGGER demote AFTER UPDATE ON streams \
             BEGIN UPDATE stream_acl SET role = 'stream:reviewer' WHERE stream_id = NEW.id; END",
        )
        .await;
        let answer = app.gql_vars(Some(&writer), commit, input.clone()).await;
        assert_eq!(outcome(&answer), "FORBIDDEN", "{answer}");
        exec_sql(&app, "DROP TRIGGER demote").await;
        exec_sql(&app, "UPDATE stream_acl SET role = 'stream:owner'").await;
        let count = format!(r#"{{ stream(id: "{stream}") {{ commits {{ totalCount }} }} }}"#);
        assert_eq!(app.gql(Some(&writer), &count).await["data"]["stream"]["commits"]["totalCount"], 0);
        // A commit and its branch's new time are one write: if the second fails, neither is.
        exec_sql(
            &app,
            "CREATE TRIGGER no_branch_time BEFORE UPDATE OF updated_at ON branches \
             BEGIN SELECT RAISE(ABORT, 'disk full'); END",
        )
        .await;
        let answer = app.gql_vars(Some(&writer), commit, input).await;
        assert!(answer.get("errors").is_some(), "{answer}");
        assert_eq!(app.gql(Some(&writer), &count).await["data"]["stream"]["commits"]["totalCount"], 0);
    }
}
