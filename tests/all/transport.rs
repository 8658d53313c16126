//! The object transport (SPEC §7): diff, upload in batches (plain or gzipped), the object
//! alone and with its closure in both of Speckle's formats, getobjects; limits, malformed
//! batches, and who may read and write.

use std::io::Write;

use crate::common::*;
use axum::body::Body;
use axum::http::{header, Request, StatusCode};
use serde_json::{json, Value};
use tower::ServiceExt;

const BOUNDARY: &str = "speckle-test-boundary";

/// A batch part of an upload: its content type and bytes.
struct Part {
    content_type: &'static str,
    bytes: Vec<u8>,
}

fn plain(objects: &[Value]) -> Part {
    Part { content_type: "application/json", bytes: serde_json::to_vec(objects).unwrap() }
}

fn gzipped(objects: &[Value]) -> Part {
    Part { content_type: "application/gzip", bytes: gzip(&serde_json::to_vec(objects).unwrap()) }
}

fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    encoder.write_all(bytes).unwrap();
    encoder.finish().unwrap()
}

fn gunzip(bytes: &[u8]) -> String {
    let mut decoder = flate2::write::GzDecoder::new(Vec::new());
    decoder.write_all(bytes).unwrap();
    String::from_utf8(decoder.finish().unwrap()).unwrap()
}

fn request(method: &str, path: &str, token: Option<&str>) -> axum::http::request::Builder {
    let request = Request::builder().method(method).uri(path);
    match token {
        Some(token) => request.header(header::AUTHORIZATION, format!("Bearer {token}")),
        None => request,
    }
}

/// `POST /objects/:stream` with these parts, as specklepy's batch sender does.
async fn upload(app: &TestApp, token: Option<&str>, stream: &str, parts: &[Part]) -> TestResponse {
    let mut body = Vec::new();
    for (i, part) in parts.iter().enumerate() {
        write!(
            body,
            "--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"batch-{i}\"; filename=\"batch-{i}\"\r\nContent-Type: {}\r\n\r\n",
            part.content_type
        )
        .unwrap();
        body.extend_from_slice(&part.bytes);
        body.extend_from_slice(b"\r\n");
    }
    write!(body, "--{BOUNDARY}--\r\n").unwrap();
    let request = request("POST", &format!("/objects/{stream}"), token)
        .header(header::CONTENT_TYPE, format!("multipart/form-data; boundary={BOUNDARY}"))
        .body(Body::from(body))
        .unwrap();
    app.send(request).await
}

/// A form naming objects, as specklepy posts to diff and getobjects.
fn id_form(ids: &[&str]) -> String {
    let list = serde_json::to_string(ids).unwrap();
    form_urlencoded::Serializer::new(String::new()).append_pair("objects", &list).finish()
}

async fn post_ids(
    app: &TestApp,
    token: Option<&str>,
    path: &str,
    ids: &[&str],
    accept: &str,
) -> TestResponse {
    let request = request("POST", path, token)
        .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
        .header(header::ACCEPT, accept)
        .body(Body::from(id_form(ids)))
        .unwrap();
    app.send(request).await
}

/// The ids of a `text/plain` answer's lines, in their order.
fn ids_of(body: &str) -> Vec<&str> {
    body.lines().map(|line| line.split('\t').next().unwrap()).collect()
}

async fn diff(app: &TestApp, token: Option<&str>, stream: &str, ids: &[&str]) -> TestResponse {
    post_ids(app, token, &format!("/api/diff/{stream}"), ids, "application/json").await
}

async fn get(app: &TestApp, token: Option<&str>, path: &str, accept: &str) -> TestResponse {
    app.send(request("GET", path, token).header(header::ACCEPT, accept).body(Body::empty()).unwrap()).await
}

/// A tree as specklepy sends it: `count` leaves under one root whose closure names them.
fn tree(count: usize, tag: &str) -> (Value, Vec<Value>) {
    let leaves: Vec<Value> = (0..count)
        .map(|i| json!({ "id": format!("{tag}{i:031}"), "speckle_type": "Base", "i": i, "totalChildrenCount": 0 }))
        .collect();
    let closure: serde_json::Map<String, Value> =
        leaves.iter().map(|leaf| (leaf["id"].as_str().unwrap().to_owned(), json!(1))).collect();
    let root = json!({
        "id": format!("{:0>32}", format!("{tag}root")),
        "speckle_type": "Base",
        "name": "root",
        "@leaves": leaves.iter().map(|l| json!({ "referencedId": l["id"], "speckle_type": "reference" })).collect::<Vec<_>>(),
        "__closure": closure,
        "totalChildrenCount": count,
    });
    (root, leaves)
}

fn id(object: &Value) -> &str {
    object["id"].as_str().unwrap()
}

async fn stream(app: &TestApp, token: &str, public: bool) -> String {
    create_stream(app, token, "Objects", public).await
}

#[tokio::test]
async fn objects_go_up_in_batches_and_come_down_with_their_closure_in_both_formats() {
    let app = TestApp::new().await;
    let mut alice = TestUser::sign_up(&app, "Alice").await;
    let token = alice.token(&["streams:read", "streams:write"]).await;
    let stream = stream(&app, &token, false).await;
    let token = Some(token.as_str());
    let (root, leaves) = tree(300, "b");
    let mut all: Vec<&str> = leaves.iter().map(id).collect();
    all.push(id(&root));

    // Nothing is there yet.
    let answer = diff(&app, token, &stream, &all).await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.body);
    assert!(answer.json().as_object().unwrap().values().all(|held| held == false), "{}", answer.body);

    // Three requests: a gzipped batch; a plain one and a gzipped one together; the root.
    let response = upload(&app, token, &stream, &[gzipped(&leaves[..100])]).await;
    assert_eq!(response.status, StatusCode::CREATED, "{}", response.body);
    let response = upload(&app, token, &stream, &[plain(&leaves[100..200]), gzipped(&leaves[200..])]).await;
    assert_eq!(response.status, StatusCode::CREATED, "{}", response.body);
    let response = upload(&app, token, &stream, &[gzipped(std::slice::from_ref(&root))]).await;
    assert_eq!(response.status, StatusCode::CREATED, "{}", response.body);
    // Sending again stores nothing twice.
    assert_eq!(upload(&app, token, &stream, &[plain(&leaves[..10])]).await.status, StatusCode::CREATED);

    let held = diff(&app, token, &stream, &all).await.json();
    assert!(held.as_object().unwrap().values().all(|held| held == true), "{held}");
    assert_eq!(held.as_object().unwrap().len(), 301);

    // The object alone, as stored.
    let single = get(&app, token, &format!("/objects/{stream}/{}/single", id(&root)), "text/plain").await;
    assert_eq!(single.status, StatusCode::OK);
    assert_eq!(serde_json::from_str::<Value>(&single.body).unwrap(), root);

    // With its closure, as a JSON array: the root first, then the descendants by id.
    let mut sorted: Vec<&Value> = leaves.iter().collect();
    sorted.sort_by_key(|leaf| id(leaf).to_owned());
    let array = get(&app, token, &format!("/objects/{stream}/{}", id(&root)), "application/json").await;
    assert_eq!(array.status, StatusCode::OK);
    assert!(array.header("content-type").starts_with("application/json"));
    let array = array.json();
    let array = array.as_array().unwrap();
    assert_eq!(array.len(), 301);
    assert_eq!(array[0], root);
    assert_eq!(array[1..].iter().collect::<Vec<_>>(), sorted);

    // As lines of `id<TAB>json`, what Speckle's clients and viewer ask for.
    let lines = get(&app, token, &format!("/objects/{stream}/{}", id(&root)), "text/plain").await;
    assert!(lines.header("content-type").starts_with("text/plain"));
    let lines: Vec<(&str, Value)> = lines
        .body
        .lines()
        .map(|line| {
            let (id, json) = line.split_once('\t').unwrap();
            (id, serde_json::from_str(json).unwrap())
        })
        .collect();
    assert_eq!(lines.len(), 301);
    assert_eq!(lines[0], (id(&root), root.clone()));
    assert!(lines[1..]
        .iter()
        .zip(&sorted)
        .all(|((line_id, object), leaf)| line_id == &id(leaf) && &object == leaf));

    // Compressed for a client that accepts gzip.
    let request = request("GET", &format!("/objects/{stream}/{}", id(&root)), token)
        .header(header::ACCEPT, "text/plain")
        .header(header::ACCEPT_ENCODING, "gzip")
        .body(Body::empty())
        .unwrap();
    let response = app.send(request).await;
    assert_eq!(response.headers.get("content-encoding").unwrap(), "gzip");
    assert_eq!(gunzip(&response.bytes).lines().count(), 301);

    // getobjects: exactly the ones asked for (and not the ones the stream lacks).
    let wanted = [id(&leaves[7]), id(&leaves[250]), "0123456789abcdef0123456789abcdef"];
    let some = post_ids(&app, token, &format!("/api/getobjects/{stream}"), &wanted, "text/plain").await;
    assert_eq!(some.status, StatusCode::OK);
    let mut ids = ids_of(&some.body);
    ids.sort();
    let mut expected = vec![id(&leaves[7]), id(&leaves[250])];
    expected.sort();
    assert_eq!(ids, expected);
    // Most of the stream at once (read by a scan rather than lookups): the same objects.
    let many: Vec<&str> = leaves.iter().map(id).collect();
    let most = post_ids(&app, token, &format!("/api/getobjects/{stream}"), &many, "application/json").await;
    let most = most.json();
    assert_eq!(most.as_array().unwrap().iter().collect::<Vec<_>>(), sorted);

    // A commit on the root counts its children; GraphQL reads the object too.
    let commit = app
        .gql_vars(
            token,
            "mutation($c: CommitCreateInput!) { commitCreate(commit: $c) }",
            json!({ "c": { "streamId": stream, "branchName": "main", "objectId": id(&root), "message": "tree" } }),
        )
        .await;
    let read = app
        .gql_vars(
            token,
            "query($s: String!, $o: String!) { stream(id: $s) { commit { totalChildrenCount } object(id: $o) { id totalChildrenCount speckleType data children(limit: 5, select: [\"i\"]) { totalCount cursor objects { id data } } } } }",
            json!({ "s": stream, "o": id(&root) }),
        )
        .await;
    assert_eq!(outcome(&commit), "OK", "{commit}");
    assert_eq!(read["data"]["stream"]["commit"]["totalChildrenCount"], 300, "{read}");
    let object = &read["data"]["stream"]["object"];
    assert_eq!(object["totalChildrenCount"], 300);
    assert_eq!(object["data"], root);
    assert_eq!(object["children"]["totalCount"], 300);
    assert_eq!(object["children"]["objects"][0]["data"], json!({ "i": sorted[0]["i"] }));
}

#[tokio::test]
async fn a_batch_over_the_limit_or_malformed_is_refused_and_none_of_it_is_stored() {
    let app = TestApp::new().await;
    let mut alice = TestUser::sign_up(&app, "Alice").await;
    let token = alice.token(&["streams:read", "streams:write"]).await;
    let stream = stream(&app, &token, false).await;
    let token = Some(token.as_str());

    // Over 10 MB uncompressed, though small on the wire: 413, and nothing of it stored.
    let (_, big) = tree(5_000, "c");
    let padded: Vec<Value> = big
        .iter()
        .map(|leaf| {
            let mut leaf = leaf.clone();
            leaf["padding"] = json!("x".repeat(2_200));
            leaf
        })
        .collect();
    let refused = upload(&app, token, &stream, &[gzipped(&padded)]).await;
    assert_eq!(refused.status, StatusCode::PAYLOAD_TOO_LARGE, "{}", refused.body);
    assert!(refused.body.contains("10 MB"), "{}", refused.body);
    let ids: Vec<&str> = big.iter().map(id).collect();
    let held = diff(&app, token, &stream, &ids[..100]).await.json();
    assert!(held.as_object().unwrap().values().all(|held| held == false));

    // Malformed batches: 400 each, with a message.
    let (_, small) = tree(3, "d");
    let cases: Vec<(&str, Part)> = vec![
        ("not JSON", Part { content_type: "application/json", bytes: b"[{\"id\": ".to_vec() }),
        ("not an array", Part { content_type: "application/json", bytes: br#"{"id": "abc"}"#.to_vec() }),
        ("not objects", Part { content_type: "application/json", bytes: b"[1, 2]".to_vec() }),
        ("a bad id", Part { content_type: "application/json", bytes: br#"[{"id": "a\tb"}]"#.to_vec() }),
        ("not gzip", Part { content_type: "application/gzip", bytes: b"plain text".to_vec() }),
        ("a strange type", Part { content_type: "image/png", bytes: b"[]".to_vec() }),
    ];
    for (what, part) in cases {
        let response = upload(&app, token, &stream, &[plain(&small), part]).await;
        assert_eq!(response.status, StatusCode::BAD_REQUEST, "{what}: {}", response.body);
        assert_eq!(outcome(&response.json()), "BAD_USER_INPUT", "{what}");
    }
    // The good batch before each bad one was stored (each batch is whole or nothing).
    let small_ids: Vec<&str> = small.iter().map(id).collect();
    let held = diff(&app, token, &stream, &small_ids).await.json();
    assert!(held.as_object().unwrap().values().all(|held| held == true), "{held}");

    // Not multipart at all, or empty.
    let not_multipart = request("POST", &format!("/objects/{stream}"), token)
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::from("[]"))
        .unwrap();
    assert_eq!(app.send(not_multipart).await.status, StatusCode::BAD_REQUEST);
    assert_eq!(upload(&app, token, &stream, &[]).await.status, StatusCode::BAD_REQUEST);
    // A diff that is not a list of ids.
    let bad_diff = request("POST", &format!("/api/diff/{stream}"), token)
        .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
        .body(Body::from("objects=nope"))
        .unwrap();
    let response = app.send(bad_diff).await;
    assert_eq!(response.status, StatusCode::BAD_REQUEST);
    assert!(response.body.contains("objects"), "{}", response.body);
}

#[tokio::test]
async fn roles_and_scopes_guard_the_transport_and_a_private_stream_is_404_to_others() {
    let app = TestApp::new().await;
    let mut owner = TestUser::sign_up(&app, "Owner").await;
    let mut contributor = TestUser::sign_up(&app, "Contributor").await;
    let mut reviewer = TestUser::sign_up(&app, "Reviewer").await;
    let mut stranger = TestUser::sign_up(&app, "Stranger").await;
    let rw = ["streams:read", "streams:write"];
    let owner_token = owner.token(&rw).await;
    let private = stream(&app, &owner_token, false).await;
    let public = stream(&app, &owner_token, true).await;
    for (user, role) in [(&contributor.id, "stream:contributor"), (&reviewer.id, "stream:reviewer")] {
        for stream in [&private, &public] {
            let shared = app
                .gql_vars(
                    Some(&owner_token),
                    "mutation($p: StreamUpdatePermissionInput!) { streamUpdatePermission(permissionParams: $p) }",
                    json!({ "p": { "streamId": stream, "userId": user, "role": role } }),
                )
                .await;
            assert_eq!(outcome(&shared), "OK", "{shared}");
        }
    }
    let (root, leaves) = tree(2, "e");
    let batch = || vec![plain(&leaves), plain(std::slice::from_ref(&root))];
    for stream in [&private, &public] {
        assert_eq!(upload(&app, Some(&owner_token), stream, &batch()).await.status, StatusCode::CREATED);
    }

    // Writing: streams:write and an owner's or contributor's role.
    let contributor_token = contributor.token(&rw).await;
    assert_eq!(upload(&app, Some(&contributor_token), &private, &batch()).await.status, StatusCode::CREATED);
    let reviewer_token = reviewer.token(&rw).await;
    let refused = upload(&app, Some(&reviewer_token), &private, &batch()).await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN, "{}", refused.body);
    let read_only = owner.token(&["streams:read"]).await;
    for response in [
        upload(&app, Some(&read_only), &private, &batch()).await,
        diff(&app, Some(&read_only), &private, &[id(&root)]).await,
    ] {
        assert_eq!(response.status, StatusCode::FORBIDDEN);
        assert!(response.body.contains("streams:write"), "{}", response.body);
    }
    let stranger_token = stranger.token(&rw).await;
    assert_eq!(upload(&app, Some(&stranger_token), &private, &batch()).await.status, StatusCode::NOT_FOUND);
    assert_eq!(upload(&app, Some(&stranger_token), &public, &batch()).await.status, StatusCode::FORBIDDEN);
    let anonymous = upload(&app, None, &public, &batch()).await;
    assert_eq!(anonymous.status, StatusCode::UNAUTHORIZED);
    assert_eq!(anonymous.header("www-authenticate"), "Bearer");

    // Reading: streams:read and a role, or a public stream.
    let paths = |stream: &str| {
        [format!("/objects/{stream}/{}/single", id(&root)), format!("/objects/{stream}/{}", id(&root))]
    };
    let reviewer_reads = reviewer.token(&["streams:read"]).await;
    let stranger_reads = stranger.token(&["streams:read"]).await;
    let no_read_scope = owner.token(&["streams:write"]).await;
    for path in paths(&private) {
        assert_eq!(get(&app, Some(&reviewer_reads), &path, "text/plain").await.status, StatusCode::OK);
        assert_eq!(get(&app, Some(&stranger_reads), &path, "text/plain").await.status, StatusCode::NOT_FOUND);
        assert_eq!(get(&app, None, &path, "text/plain").await.status, StatusCode::NOT_FOUND);
        let scopeless = get(&app, Some(&no_read_scope), &path, "text/plain").await;
        assert_eq!(scopeless.status, StatusCode::FORBIDDEN);
        assert!(scopeless.body.contains("streams:read"), "{}", scopeless.body);
    }
    let hidden = post_ids(
        &app,
        Some(&stranger_reads),
        &format!("/api/getobjects/{private}"),
        &[id(&root)],
        "text/plain",
    )
    .await;
    assert_eq!(hidden.status, StatusCode::NOT_FOUND);
    for path in paths(&public) {
        for token in [None, Some(stranger_reads.as_str()), Some(no_read_scope.as_str())] {
            assert_eq!(
                get(&app, token, &path, "text/plain").await.status,
                StatusCode::OK,
                "{path} {token:?}"
            );
        }
    }
    // A missing object is 404 too.
    let missing = get(
        &app,
        Some(&reviewer_reads),
        &format!("/objects/{private}/{}/single", "f".repeat(32)),
        "text/plain",
    )
    .await;
    assert_eq!(missing.status, StatusCode::NOT_FOUND);

    // An invalid or revoked token gets SPEC §6's 401, as on /graphql.
    assert_invalid_token(&get(&app, Some("spk_nonsense"), &paths(&public)[0], "text/plain").await);
    let (doomed_id, doomed) = owner.browser.create_token("doomed", &rw, "30").await;
    assert_eq!(get(&app, Some(&doomed), &paths(&private)[0], "text/plain").await.status, StatusCode::OK);
    let revoked = owner.browser.call("revoke_token", &[("id", &doomed_id)]).await;
    assert_eq!(revoked.status, StatusCode::OK);
    assert_invalid_token(&get(&app, Some(&doomed), &paths(&private)[0], "text/plain").await);
    assert_invalid_token(&upload(&app, Some(&doomed), &private, &batch()).await);

    // Deleting the stream deletes its objects.
    let deleted = app
        .gql_vars(
            Some(&owner_token),
            "mutation($id: String!) { streamDelete(id: $id) }",
            json!({ "id": private }),
        )
        .await;
    assert_eq!(outcome(&deleted), "OK");
    let mut conn = app.state.db.get().await.unwrap();
    let left =
        speckle_tokens::server::domain::objects::count(&mut conn, &private.as_str().into()).await.unwrap();
    assert_eq!(left, 0);
}

#[tokio::test]
async fn a_limited_token_moves_objects_of_its_streams_only_and_a_hidden_one_is_a_missing_one() {
    let app = TestApp::new().await;
    let mut owner = TestUser::sign_up(&app, "Owner").await;
    let full = owner.token(&["streams:read", "streams:write", "tokens:write"]).await;
    let chosen = stream(&app, &full, false).await;
    let read_only = stream(&app, &full, false).await;
    let hidden = stream(&app, &full, false).await;
    let public = stream(&app, &full, true).await;
    let (root, leaves) = tree(2, "l");
    let batch = || vec![plain(&leaves), plain(std::slice::from_ref(&root))];
    for stream in [&hidden, &public] {
        assert_eq!(upload(&app, Some(&full), stream, &batch()).await.status, StatusCode::CREATED);
    }
    let token = limited_token(
        &app,
        &full,
        &["streams:read", "streams:write"],
        &[(&chosen, None), (&read_only, Some("READ"))],
    )
    .await;

    assert_eq!(upload(&app, Some(&token), &chosen, &batch()).await.status, StatusCode::CREATED);
    for stream in [&read_only, &public] {
        let refused = upload(&app, Some(&token), stream, &batch()).await;
        assert_eq!(refused.status, StatusCode::FORBIDDEN, "{}", refused.body);
        assert!(refused.body.contains(r#""tokenLimit":true"#), "{}", refused.body);
    }
    // A private stream outside its streams is a missing one, on every route.
    let missing = "0123456789";
    let object = |stream: &str| format!("/objects/{stream}/{}/single", id(&root));
    let (seen, absent) = (
        get(&app, Some(&token), &object(&hidden), "text/plain").await,
        get(&app, Some(&token), &object(missing), "text/plain").await,
    );
    assert_eq!((seen.status, &seen.body), (StatusCode::NOT_FOUND, &absent.body));
    let (seen, absent) = (
        upload(&app, Some(&token), &hidden, &batch()).await,
        upload(&app, Some(&token), missing, &batch()).await,
    );
    assert_eq!((seen.status, &seen.body), (StatusCode::NOT_FOUND, &absent.body));
    let (seen, absent) = (
        diff(&app, Some(&token), &hidden, &[id(&root)]).await,
        diff(&app, Some(&token), missing, &[id(&root)]).await,
    );
    assert_eq!((seen.status, &seen.body), (StatusCode::NOT_FOUND, &absent.body));
    let ids = [id(&root)];
    let getobjects = |stream: String| {
        let token = token.clone();
        let app = &app;
        async move { post_ids(app, Some(&token), &format!("/api/getobjects/{stream}"), &ids, "text/plain").await }
    };
    let (seen, absent) = (getobjects(hidden.clone()).await, getobjects(missing.to_owned()).await);
    assert_eq!((seen.status, &seen.body), (StatusCode::NOT_FOUND, &absent.body));
    // A public one reads as anyone reads it.
    assert_eq!(get(&app, Some(&token), &object(&public), "text/plain").await.status, StatusCode::OK);
}

#[tokio::test]
async fn big_and_small_objects_come_down_whole_and_in_id_order() {
    let app = TestApp::new().await;
    let mut alice = TestUser::sign_up(&app, "Alice").await;
    let token = alice.token(&["streams:read", "streams:write"]).await;
    let stream = stream(&app, &token, false).await;
    let token = Some(token.as_str());
    // Small ones read with their chunk, bigger ones after it, in groups of a few MB.
    let (root, mut leaves) = tree(40, "g");
    for (i, leaf) in leaves.iter_mut().enumerate() {
        let size = match i % 4 {
            0 => 10,
            1 => 6_000,
            2 => 300_000,
            _ => 1_500_000,
        };
        leaf["blob"] = json!("b".repeat(size));
    }
    for batch in leaves.chunks(5) {
        let response = upload(&app, token, &stream, &[gzipped(batch)]).await;
        assert_eq!(response.status, StatusCode::CREATED, "{}", response.body);
    }
    assert_eq!(
        upload(&app, token, &stream, &[plain(std::slice::from_ref(&root))]).await.status,
        StatusCode::CREATED
    );
    let mut sorted: Vec<&Value> = leaves.iter().collect();
    sorted.sort_by_key(|leaf| id(leaf).to_owned());

    let lines = get(&app, token, &format!("/objects/{stream}/{}", id(&root)), "text/plain").await;
    let got: Vec<(String, Value)> = lines
        .body
        .lines()
        .map(|line| {
            let (id, json) = line.split_once('\t').unwrap();
            (id.to_owned(), serde_json::from_str(json).unwrap())
        })
        .collect();
    assert_eq!(got.len(), 41);
    assert_eq!(got[0].1, root);
    let mut descendants: Vec<&Value> = got[1..].iter().map(|(_, object)| object).collect();
    descendants.sort_by_key(|leaf| id(leaf).to_owned());
    assert_eq!(descendants, sorted, "every object exactly once, whole");
    assert!(got.iter().all(|(line_id, object)| line_id == id(object)));

    // A few of them, named: the same.
    let some: Vec<&str> = sorted.iter().step_by(3).map(|leaf| id(leaf)).collect();
    let answer = post_ids(&app, token, &format!("/api/getobjects/{stream}"), &some, "application/json").await;
    let mut fetched: Vec<Value> = answer.json().as_array().unwrap().clone();
    fetched.sort_by_key(|leaf| id(leaf).to_owned());
    assert_eq!(fetched.iter().collect::<Vec<_>>(), sorted.iter().step_by(3).copied().collect::<Vec<_>>());
}

#[tokio::test]
async fn a_download_of_part_of_a_big_stream_is_exactly_that_part_in_id_order() {
    let app = TestApp::new().await;
    let mut alice = TestUser::sign_up(&app, "Alice").await;
    let token = alice.token(&["streams:read", "streams:write"]).await;
    let stream = stream(&app, &token, false).await;
    let token = Some(token.as_str());
    // Several chunks' worth of objects, read by ranges of the stream.
    let (_, leaves) = tree(17_000, "s");
    for batch in leaves.chunks(2_000) {
        assert_eq!(upload(&app, token, &stream, &[gzipped(batch)]).await.status, StatusCode::CREATED);
    }
    let mut sorted: Vec<&str> = leaves.iter().map(id).collect();
    sorted.sort_unstable();
    let path = format!("/api/getobjects/{stream}");
    // All of it: the ranges hold only wanted rows.
    let all = post_ids(&app, token, &path, &sorted, "text/plain").await;
    assert_eq!(all.status, StatusCode::OK);
    assert_eq!(ids_of(&all.body), sorted);
    // One in four: a range reaches its limit before its last id, the rest of that chunk is
    // looked up, and the chunks after it too.
    let sparse: Vec<&str> = sorted.iter().step_by(4).copied().collect();
    let some = post_ids(&app, token, &path, &sparse, "text/plain").await;
    assert_eq!(some.status, StatusCode::OK);
    assert_eq!(ids_of(&some.body), sparse);
}

/// A request body the test sends a piece at a time (or never finishes).
fn trickle() -> (tokio::sync::mpsc::Sender<Result<Vec<u8>, std::io::Error>>, Body) {
    let (sender, receiver) = tokio::sync::mpsc::channel(16);
    (sender, Body::from_stream(tokio_stream::wrappers::ReceiverStream::new(receiver)))
}

/// The opening of a multipart upload's `i`th part, before its bytes.
fn part_head(i: usize) -> Vec<u8> {
    format!(
        "--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"batch-{i}\"; filename=\"batch-{i}\"\r\n\
         Content-Type: application/json\r\n\r\n"
    )
    .into_bytes()
}

fn upload_request(token: &str, stream: &str, body: Body) -> Request<Body> {
    request("POST", &format!("/objects/{stream}"), Some(token))
        .header(header::CONTENT_TYPE, format!("multipart/form-data; boundary={BOUNDARY}"))
        .body(body)
        .unwrap()
}

#[tokio::test]
async fn an_id_list_is_refused_before_its_body_is_read_and_capped_while_it_is_parsed() {
    let app = TestApp::new().await;
    let mut alice = TestUser::sign_up(&app, "Alice").await;
    let token = alice.token(&["streams:read", "streams:write"]).await;
    let private = stream(&app, &token, false).await;
    let public = stream(&app, &token, true).await;

    // A body that never ends, to a stream the caller cannot read: answered at once, unread.
    for path in [format!("/api/getobjects/{private}"), format!("/api/diff/{private}")] {
        let (_sender, body) = trickle();
        let request = request("POST", &path, None)
            .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
            .body(body)
            .unwrap();
        let answer = tokio::time::timeout(std::time::Duration::from_secs(5), app.send(request)).await;
        let answer = answer.unwrap_or_else(|_| panic!("{path}: waited for a body it should not read"));
        assert!([StatusCode::NOT_FOUND, StatusCode::UNAUTHORIZED].contains(&answer.status), "{path}");
    }

    // 1.3 million tiny ids to a public stream, anonymously (13 MB of form, within the body
    // cap): refused as the 200,001st is parsed, never holding all of them (that took 70 MB).
    let many = format!("[{}\"a\"]", "\"a\",".repeat(1_300_000));
    let form = form_urlencoded::Serializer::new(String::new()).append_pair("objects", &many).finish();
    drop(many);
    let before = memory::reset_peak();
    let request = request("POST", &format!("/api/getobjects/{public}"), None)
        .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
        .body(Body::from(form))
        .unwrap();
    let answer = app.send(request).await;
    let held = memory::peak() - before;
    assert!([StatusCode::PAYLOAD_TOO_LARGE].contains(&answer.status), "{}", answer.status);
    assert!(held < 40 * 1024 * 1024, "held {} MB for a refused list", held / (1024 * 1024));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_uploads_of_one_account_hold_nothing_another_user_needs() {
    let app = TestApp::new().await;
    let mut mallory = TestUser::sign_up(&app, "Mallory").await;
    let slow_token = mallory.token(&["streams:read", "streams:write"]).await;
    let slow_stream = stream(&app, &slow_token, false).await;
    let mut alice = TestUser::sign_up(&app, "Alice").await;
    let token = alice.token(&["streams:read", "streams:write"]).await;
    let stream = stream(&app, &token, false).await;

    // Six uploads whose first batch trickles in and never ends.
    let mut trickling = Vec::new();
    let mut slow = Vec::new();
    for i in 0..6 {
        let (sender, body) = trickle();
        sender.send(Ok(part_head(0))).await.unwrap();
        sender
            .send(Ok(format!("[{{\"id\": \"{i:032}\", \"speckle_type\": \"Base\"").into_bytes()))
            .await
            .unwrap();
        trickling.push(sender);
        slow.push(app.send(upload_request(&slow_token, &slow_stream, body)));
    }
    let (_, leaves) = tree(3, "f");
    let honest = async {
        tokio::time::sleep(std::time::Duration::from_millis(300)).await;
        let started = std::time::Instant::now();
        let answer = upload(&app, Some(&token), &stream, &[plain(&leaves)]).await;
        let took = started.elapsed();
        drop(trickling); // the slow ones end (malformed)
        (answer, took)
    };
    let ((answer, took), _) = futures::join!(honest, futures::future::join_all(slow));
    assert_eq!(answer.status, StatusCode::CREATED, "{}", answer.body);
    assert!(took < std::time::Duration::from_secs(10), "another user's upload waited {took:?}");
}

#[tokio::test]
async fn a_batch_of_arrays_is_refused_whole() {
    let app = TestApp::new().await;
    let mut alice = TestUser::sign_up(&app, "Alice").await;
    let token = alice.token(&["streams:read", "streams:write"]).await;
    let stream = stream(&app, &token, false).await;
    let (_, leaves) = tree(2, "g");
    for element in ["[]", "[null]", "[\"id\"]"] {
        let mut batch = serde_json::to_vec(&leaves).unwrap();
        batch.pop(); // the closing bracket
        batch.extend_from_slice(format!(",{element}]").as_bytes());
        let part = Part { content_type: "application/json", bytes: batch };
        let response = upload(&app, Some(&token), &stream, &[part]).await;
        assert_eq!(response.status, StatusCode::BAD_REQUEST, "{element}: {}", response.body);
    }
    let ids: Vec<&str> = leaves.iter().map(id).collect();
    let held = diff(&app, Some(&token), &stream, &ids).await.json();
    assert!(held.as_object().unwrap().values().all(|held| held == false), "none of it stored: {held}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_token_revoked_during_an_upload_stores_no_further_batch() {
    let app = TestApp::new().await;
    let mut alice = TestUser::sign_up(&app, "Alice").await;
    let (token_id, token) =
        alice.browser.create_token("uploader", &["streams:read", "streams:write"], "30").await;
    let reader = alice.token(&["streams:read", "streams:write"]).await;
    let stream = stream(&app, &token, false).await;
    let (_, first) = tree(2, "h");
    let (_, second) = tree(2, "i");
    let (sender, body) = trickle();
    let mut opening = part_head(0);
    opening.extend(serde_json::to_vec(&first).unwrap());
    opening.extend(b"\r\n");
    opening.extend(part_head(1));
    sender.send(Ok(opening)).await.unwrap();
    let sending = app.send(upload_request(&token, &stream, body));
    let meanwhile = async {
        // The first batch is stored once the second part has begun.
        let first_ids: Vec<&str> = first.iter().map(id).collect();
        for _ in 0..100 {
            let held = diff(&app, Some(&reader), &stream, &first_ids).await.json();
            if held.as_object().unwrap().values().all(|held| held == true) {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
        let revoked = alice.browser.call("revoke_token", &[("id", &token_id)]).await;
        assert_eq!(revoked.status, StatusCode::OK, "{}", revoked.body);
        let mut rest = serde_json::to_vec(&second).unwrap();
        rest.extend(format!("\r\n--{BOUNDARY}--\r\n").as_bytes());
        sender.send(Ok(rest)).await.unwrap();
        drop(sender);
    };
    let (answer, ()) = futures::join!(sending, meanwhile);
    assert_invalid_token(&answer);
    let second_ids: Vec<&str> = second.iter().map(id).collect();
    let held = diff(&app, Some(&reader), &stream, &second_ids).await.json();
    assert!(held.as_object().unwrap().values().all(|held| held == false), "{held}");
}

#[tokio::test]
async fn selecting_inside_an_array_of_an_objects_children_answers() {
    let app = TestApp::new().await;
    let mut alice = TestUser::sign_up(&app, "Alice").await;
    let token = alice.token(&["streams:read", "streams:write"]).await;
    let stream = stream(&app, &token, true).await;
    let child = json!({ "id": "c".repeat(32), "speckle_type": "Base", "a": [1, { "b": 2 }] });
    let parent = json!({ "id": "p".repeat(32), "speckle_type": "Base", "__closure": { "c".repeat(32): 1 } });
    assert_eq!(
        upload(&app, Some(&token), &stream, &[plain(&[parent, child])]).await.status,
        StatusCode::CREATED
    );
    let query = format!(
        r#"{{ stream(id: "{stream}") {{ object(id: "{}") {{ children(select: ["a", "a.0", "a.1.b"]) {{ objects {{ data }} }} }} }} }}"#,
        "p".repeat(32)
    );
    let answer = app.graphql_with_header(None, &query).await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.body);
    let data = &answer.json()["data"]["stream"]["object"]["children"]["objects"][0]["data"];
    assert_eq!(data, &json!({ "a": [1, { "b": 2 }] }));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn anonymous_reads_of_one_address_take_turns_and_nobody_else_waits() {
    let app = TestApp::new().await;
    let mut alice = TestUser::sign_up(&app, "Alice").await;
    let token = alice.token(&["streams:read", "streams:write"]).await;
    let stream = stream(&app, &token, true).await;
    // A root whose closure names 8,000 objects: a download of several chunks.
    let (root, leaves) = tree(8_000, "j");
    for batch in leaves.chunks(2_000) {
        assert_eq!(upload(&app, Some(&token), &stream, &[plain(batch)]).await.status, StatusCode::CREATED);
    }
    assert_eq!(
        upload(&app, Some(&token), &stream, &[plain(std::slice::from_ref(&root))]).await.status,
        StatusCode::CREATED
    );
    let download = |client: &str| {
        let request = request("GET", &format!("/objects/{stream}/{}", id(&root)), None)
            .header(header::ACCEPT, "text/plain")
            .body(Body::empty())
            .unwrap();
        from_client(request, client.parse().unwrap())
    };
    // An anonymous download whose reader stops reading keeps its address's turn.
    let held = app.router().oneshot(download("10.40.0.1:5000")).await.unwrap();
    assert_eq!(held.status(), StatusCode::OK);
    let same =
        tokio::time::timeout(std::time::Duration::from_millis(500), app.send(download("10.40.0.1:6000")))
            .await;
    assert!(same.is_err(), "the same address's next anonymous read waits its turn");
    let other =
        tokio::time::timeout(std::time::Duration::from_secs(5), app.send(download("10.40.0.2:5000"))).await;
    assert_eq!(other.expect("another address does not wait").status, StatusCode::OK);
    let single = format!("/objects/{stream}/{}/single", id(&root));
    let with_token = get(&app, Some(&token), &single, "application/json");
    let with_token = tokio::time::timeout(std::time::Duration::from_secs(5), with_token).await;
    assert_eq!(with_token.expect("a token's request does not wait").status, StatusCode::OK);
    drop(held);
    let again =
        tokio::time::timeout(std::time::Duration::from_secs(5), app.send(download("10.40.0.1:6000"))).await;
    assert_eq!(again.expect("its turn comes once the first is done").status, StatusCode::OK);
}
