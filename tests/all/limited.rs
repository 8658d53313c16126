//! Tokens limited to chosen streams (SPEC §12): outside its streams a token reads as anyone
//! does and a private stream answers exactly as a missing one; a `READ` stream refuses writes
//! with `tokenLimit`; lists and counts hold its streams only; minting and regenerating keep
//! the subset rule; a stream its owner leaves drops out for good; `tokenSelf` and `tokenCan`.

use crate::common::*;
use axum::http::StatusCode;
use serde_json::{json, Value};

const RW: [&str; 3] = ["streams:read", "streams:write", "profile:read"];

/// A person's token that may mint others (`tokens:write`) and act on streams.
async fn minter(user: &mut TestUser<'_>) -> String {
    user.token(&[
        "streams:read",
        "streams:write",
        "profile:read",
        "profile:email",
        "profile:write",
        "users:read",
        "users:invite",
        "tokens:read",
        "tokens:write",
    ])
    .await
}

/// The first error without its `path` and `locations` (which name the query, not the stream).
fn first_error(answer: &Value) -> Value {
    let mut error = answer["errors"][0].clone();
    if let Some(error) = error.as_object_mut() {
        error.remove("path");
        error.remove("locations");
    }
    error
}

fn token_limit(answer: &Value) -> bool {
    answer["errors"][0]["extensions"]["tokenLimit"] == json!(true)
}

#[tokio::test]
async fn outside_its_streams_a_token_reads_as_anyone_and_a_private_stream_is_missing_in_both_eras() {
    let app = TestApp::new().await;
    let mut alice = TestUser::sign_up(&app, "Alice").await;
    let full = minter(&mut alice).await;
    let mine = create_stream(&app, &full, "Chosen", false).await;
    let other = create_stream(&app, &full, "Not chosen", false).await;
    let public = create_stream(&app, &full, "Public, not chosen", true).await;
    let token = limited_token(&app, &full, &RW, &[(&mine, None)]).await;
    let missing = "0123456789";

    for era in [Era::Streams, Era::Projects] {
        assert_eq!(outcome(&app.gql(Some(&token), &era.read(&mine)).await), "OK", "{era:?}");
        // A private stream outside its streams answers exactly as one that does not exist.
        let hidden = app.gql(Some(&token), &era.read(&other)).await;
        assert_eq!(outcome(&hidden), "NOT_FOUND", "{era:?} {hidden}");
        let absent = app.gql(Some(&token), &era.read(missing)).await;
        assert_eq!(first_error(&hidden), first_error(&absent), "{era:?}");
        // A public one reads as anyone reads it, and refuses writes because of the token.
        assert_eq!(outcome(&app.gql(Some(&token), &era.read(&public)).await), "OK", "{era:?}");
        let main = main_model(&app, &full, &public).await;
        for write in
            [era.rename(&public), era.commit(&public, &main), era.share(&public, &alice.id, "stream:owner")]
        {
            let refused = app.gql(Some(&token), &write).await;
            assert_eq!(outcome(&refused), "FORBIDDEN", "{era:?} {write}: {refused}");
            assert!(token_limit(&refused), "{era:?} {write}: {refused}");
            assert!(refused["errors"][0]["message"]
                .as_str()
                .unwrap()
                .contains("outside this token's streams"));
        }
        let refused = app.gql(Some(&token), &era.rename(&other)).await;
        assert_eq!(outcome(&refused), "NOT_FOUND", "{era:?} {refused}");
        assert!(!token_limit(&refused), "a hidden stream says nothing more than a missing one: {refused}");
        // Its own stream: the scopes and the user's role, as for any token.
        let main = main_model(&app, &full, &mine).await;
        assert_eq!(outcome(&app.gql(Some(&token), &era.commit(&mine, &main)).await), "OK", "{era:?}");
        assert_eq!(outcome(&app.gql(Some(&token), &era.rename(&mine)).await), "OK", "{era:?}");
    }

    // Creating a stream and answering invitations are outside any token's streams.
    let created = app.gql(Some(&token), r#"mutation { streamCreate(stream: { name: "New" }) }"#).await;
    assert_eq!(outcome(&created), "FORBIDDEN", "{created}");
    assert!(token_limit(&created));
    assert!(created["errors"][0]["message"].as_str().unwrap().contains("outside this token's streams"));
    let created = app
        .gql(Some(&token), r#"mutation { projectMutations { create(input: { name: "New" }) { id } } }"#)
        .await;
    assert!(token_limit(&created), "{created}");

    // Lists and counts hold its streams only, in both eras, and the docs query counts them.
    for _ in 0..2 {
        let docs = app.gql(Some(&token), "{ user { id suuid streams { totalCount } } }").await;
        assert_eq!(docs["data"]["user"]["streams"]["totalCount"], 1, "{docs}");
    }
    let listed = app.gql(Some(&token), "{ activeUser { streams { totalCount items { id } } } }").await;
    assert_eq!(listed["data"]["activeUser"]["streams"]["items"], json!([{ "id": mine }]), "{listed}");
    let listed = app.gql(Some(&token), "{ streams { totalCount items { id } } }").await;
    assert_eq!(listed["data"]["streams"]["totalCount"], 1, "{listed}");
    let projects = app.gql(Some(&token), "{ activeUser { projects { totalCount items { id } } } }").await;
    assert_eq!(projects["data"]["activeUser"]["projects"]["items"], json!([{ "id": mine }]), "{projects}");
    let searched = app
        .gql(Some(&token), r#"{ activeUser { projects(filter: { search: "renamed" }) { totalCount } } }"#)
        .await;
    assert_eq!(searched["data"]["activeUser"]["projects"]["totalCount"], 1, "{searched}");
    // The person's own token still sees all three.
    let all = app.gql(Some(&full), "{ user { streams { totalCount } } }").await;
    assert_eq!(all["data"]["user"]["streams"]["totalCount"], 3, "{all}");
}

#[tokio::test]
async fn a_stream_given_read_refuses_every_write_with_token_limit() {
    let app = TestApp::new().await;
    let mut alice = TestUser::sign_up(&app, "Alice").await;
    let full = minter(&mut alice).await;
    let stream = create_stream(&app, &full, "Read only", false).await;
    let token = limited_token(&app, &full, &RW, &[(&stream, Some("READ"))]).await;
    let main = main_model(&app, &full, &stream).await;
    for era in [Era::Streams, Era::Projects] {
        assert_eq!(outcome(&app.gql(Some(&token), &era.read(&stream)).await), "OK");
        for write in [era.commit(&stream, &main), era.rename(&stream), era.delete(&stream)] {
            let refused = app.gql(Some(&token), &write).await;
            assert_eq!(outcome(&refused), "FORBIDDEN", "{write}: {refused}");
            assert!(token_limit(&refused), "{write}: {refused}");
            assert!(refused["errors"][0]["message"].as_str().unwrap().contains("may only read"), "{refused}");
        }
    }
    // Speckle's own permission checks say the same.
    let checks = app
        .gql(
            Some(&token),
            &format!(r#"{{ project(id: "{stream}") {{ permissions {{ canRead {{ authorized }} canPublish {{ authorized message }} }} }} }}"#),
        )
        .await;
    assert_eq!(checks["data"]["project"]["permissions"]["canRead"]["authorized"], true, "{checks}");
    assert_eq!(checks["data"]["project"]["permissions"]["canPublish"]["authorized"], false, "{checks}");
    // A user's role still comes first: a reviewer's token is refused for the role.
    let mut bob = TestUser::sign_up(&app, "Bob").await;
    let bobs = minter(&mut bob).await;
    app.gql(Some(&full), &Era::Streams.share(&stream, &bob.id, "stream:reviewer")).await;
    let bob_limited = limited_token(&app, &bobs, &RW, &[(&stream, None)]).await;
    let refused = app.gql(Some(&bob_limited), &Era::Streams.commit(&stream, &main)).await;
    assert_eq!(outcome(&refused), "FORBIDDEN", "{refused}");
    assert!(!token_limit(&refused), "the role refused it, not the token: {refused}");
}

#[tokio::test]
async fn minting_keeps_the_subset_rule_and_regenerating_keeps_the_streams() {
    let app = TestApp::new().await;
    let mut alice = TestUser::sign_up(&app, "Alice").await;
    let full = minter(&mut alice).await;
    let a = create_stream(&app, &full, "A", false).await;
    let b = create_stream(&app, &full, "B", false).await;
    // Only streams the user is on, at most 100, none twice.
    let mut bob = TestUser::sign_up(&app, "Bob").await;
    let bobs = minter(&mut bob).await;
    let bobs_stream = create_stream(&app, &bobs, "Bob's", false).await;
    for (resources, code) in [
        (json!([{ "id": bobs_stream, "type": "project" }]), "NOT_FOUND"),
        (json!([{ "id": a, "type": "project" }, { "id": a, "type": "stream" }]), "BAD_USER_INPUT"),
        (json!([{ "id": a, "type": "workspace" }]), "BAD_USER_INPUT"),
        (
            json!((0..101).map(|i| json!({ "id": format!("s{i}"), "type": "project" })).collect::<Vec<_>>()),
            "BAD_USER_INPUT",
        ),
    ] {
        let refused = app
            .gql_vars(
                Some(&full),
                "mutation($t: ApiTokenCreateInput!) { apiTokenCreate(token: $t) }",
                json!({ "t": { "name": "bad", "scopes": ["streams:read"], "limitResources": resources } }),
            )
            .await;
        assert_eq!(outcome(&refused), code, "{resources}: {refused}");
    }
    let tokens = app.gql(Some(&full), "{ activeUser { apiTokens { name } } }").await;
    assert_eq!(
        tokens["data"]["activeUser"]["apiTokens"].as_array().unwrap().len(),
        2,
        "nothing was made: {tokens}"
    );

    // A limited token that may mint: the person made it (the domain, as the dialog does).
    let parent = {
        use speckle_tokens::rules::scopes::ScopeSet;
        use speckle_tokens::server::domain::reach::Level;
        use speckle_tokens::server::domain::tokens;
        let streams = [(a.as_str().into(), Level::Read)];
        let new = tokens::NewToken {
            name: "limited minter",
            description: None,
            scopes: ScopeSet::from_names("streams:read streams:write tokens:write tokens:read").unwrap(),
            expires_at: None,
            streams: Some(&streams),
        };
        let mut conn = app.state.db.get().await.unwrap();
        let (_, secret) =
            tokens::create(&mut conn, &alice.id.as_str().into(), new, &Default::default()).await.unwrap();
        secret.expose_secret().to_owned()
    };
    let self_view = app.gql(Some(&parent), "{ tokenSelf { name limitResources { id type access } } }").await;
    assert_eq!(
        self_view["data"]["tokenSelf"]["limitResources"],
        json!([{ "id": a, "type": "project", "access": "READ" }]),
        "{self_view}"
    );
    for (resources, why) in [
        (json!([{ "id": b, "type": "project" }]), "a stream it does not reach"),
        (json!([{ "id": a, "type": "project", "access": "WRITE" }]), "more than it holds"),
    ] {
        let refused = app
            .gql_vars(
                Some(&parent),
                "mutation($t: ApiTokenCreateInput!) { apiTokenCreate(token: $t) }",
                json!({ "t": { "name": "wider", "scopes": ["streams:read"], "limitResources": resources } }),
            )
            .await;
        assert_eq!(outcome(&refused), "FORBIDDEN", "{why}: {refused}");
        assert!(token_limit(&refused), "{why}: {refused}");
    }
    // Without a choice, a limited token's child inherits its streams.
    let child = limited_token(&app, &parent, &["streams:read"], &[]).await;
    let seen = app.gql(Some(&child), "{ tokenSelf { limitResources { id access } parentId } }").await;
    assert_eq!(seen["data"]["tokenSelf"]["limitResources"], json!([{ "id": a, "access": "READ" }]), "{seen}");
    assert_eq!(outcome(&app.gql(Some(&child), &Era::Streams.read(&b)).await), "NOT_FOUND");

    // Regenerating keeps them; a limited token cannot regenerate an unlimited one.
    let id_of = |answer: &Value| answer["data"]["tokenSelf"]["id"].as_str().unwrap().to_owned();
    let parent_id = id_of(&app.gql(Some(&parent), "{ tokenSelf { id } }").await);
    let rotated = app
        .gql(
            Some(&parent),
            &format!(
                r#"mutation {{ apiTokenRotate(token: {{ id: "{parent_id}", gracePeriodSeconds: 0 }}) }}"#
            ),
        )
        .await;
    let renewed =
        rotated["data"]["apiTokenRotate"].as_str().unwrap_or_else(|| panic!("{rotated}")).to_owned();
    let seen = app.gql(Some(&renewed), "{ tokenSelf { limitResources { id access } } }").await;
    assert_eq!(seen["data"]["tokenSelf"]["limitResources"], json!([{ "id": a, "access": "READ" }]), "{seen}");
    let unlimited = alice.token(&["streams:read"]).await;
    let unlimited_id = id_of(&app.gql(Some(&unlimited), "{ tokenSelf { id } }").await);
    let refused = app
        .gql(Some(&renewed), &format!(r#"mutation {{ apiTokenRotate(token: {{ id: "{unlimited_id}" }}) }}"#))
        .await;
    assert_eq!(outcome(&refused), "FORBIDDEN", "{refused}");
    assert!(token_limit(&refused), "{refused}");
}

#[tokio::test]
async fn a_stream_its_owner_leaves_drops_out_for_good() {
    let app = TestApp::new().await;
    let mut bob = TestUser::sign_up(&app, "Bob").await;
    let mut alice = TestUser::sign_up(&app, "Alice").await;
    let bobs = minter(&mut bob).await;
    let alices = minter(&mut alice).await;
    let shared = create_stream(&app, &bobs, "Shared", false).await;
    let doomed = create_stream(&app, &alices, "Doomed", false).await;
    app.gql(Some(&bobs), &Era::Streams.share(&shared, &alice.id, "stream:contributor")).await;
    let token = limited_token(&app, &alices, &RW, &[(&shared, None), (&doomed, None)]).await;
    assert_eq!(outcome(&app.gql(Some(&token), &Era::Streams.read(&shared)).await), "OK");

    app.gql(Some(&bobs), &Era::Streams.unshare(&shared, &alice.id)).await;
    assert_eq!(outcome(&app.gql(Some(&token), &Era::Streams.read(&shared)).await), "NOT_FOUND");
    // Given back the role, the person reaches it again; the token does not.
    app.gql(Some(&bobs), &Era::Streams.share(&shared, &alice.id, "stream:contributor")).await;
    assert_eq!(outcome(&app.gql(Some(&alices), &Era::Streams.read(&shared)).await), "OK");
    assert_eq!(outcome(&app.gql(Some(&token), &Era::Streams.read(&shared)).await), "NOT_FOUND");
    app.gql(Some(&alices), &Era::Streams.delete(&doomed)).await;
    let seen = app.gql(Some(&token), "{ tokenSelf { limitResources { id } } }").await;
    assert_eq!(seen["data"]["tokenSelf"]["limitResources"], json!([]), "{seen}");
    let count = app.gql(Some(&token), "{ user { streams { totalCount } } }").await;
    assert_eq!(count["data"]["user"]["streams"]["totalCount"], 0, "{count}");
}

#[tokio::test]
async fn token_can_answers_without_doing_and_never_reveals_a_private_stream() {
    let app = TestApp::new().await;
    let mut alice = TestUser::sign_up(&app, "Alice").await;
    let mut bob = TestUser::sign_up(&app, "Bob").await;
    let full = minter(&mut alice).await;
    let bobs = minter(&mut bob).await;
    let mine = create_stream(&app, &full, "Mine", false).await;
    let readonly = create_stream(&app, &full, "Read only", false).await;
    let public = create_stream(&app, &full, "Public", true).await;
    let bobs_private = create_stream(&app, &bobs, "Bob's", false).await;
    let token = limited_token(&app, &full, &RW, &[(&mine, None), (&readonly, Some("READ"))]).await;
    let can = |action: &str, stream: Option<&str>| {
        let stream = stream.map_or("null".to_owned(), |id| format!("\"{id}\""));
        format!(r#"{{ tokenCan(action: "{action}", streamId: {stream}) {{ authorized code message }} }}"#)
    };
    let ask = |action: &'static str, stream: Option<String>| {
        let app = &app;
        let token = token.clone();
        let query = can(action, stream.as_deref());
        async move { app.gql(Some(&token), &query).await["data"]["tokenCan"].clone() }
    };
    assert_eq!(ask("streams:read", Some(mine.clone())).await["code"], "OK");
    assert_eq!(ask("streams:write", Some(mine.clone())).await["code"], "OK");
    assert_eq!(ask("stream:delete", Some(mine.clone())).await["code"], "OK");
    assert_eq!(ask("streams:read", Some(readonly.clone())).await["code"], "OK");
    let refused = ask("streams:write", Some(readonly.clone())).await;
    assert_eq!(refused["code"], "FORBIDDEN");
    assert!(refused["message"].as_str().unwrap().contains("may only read"), "{refused}");
    let refused = ask("streams:write", Some(public.clone())).await;
    assert_eq!((refused["code"].as_str(), refused["authorized"].as_bool()), (Some("FORBIDDEN"), Some(false)));
    assert!(refused["message"].as_str().unwrap().contains("outside this token's streams"), "{refused}");
    assert!(ask("streams:write", None).await["message"].as_str().unwrap().contains("create streams"));
    let refused = ask("tokens:write", None).await;
    assert_eq!(refused["code"], "FORBIDDEN");
    assert!(refused["message"].as_str().unwrap().contains("tokens:write"), "names the scope: {refused}");
    // Another user's private stream and a missing one answer alike.
    let hidden = ask("streams:read", Some(bobs_private.clone())).await;
    let absent = ask("streams:read", Some("0123456789".to_owned())).await;
    assert_eq!(hidden["code"], "NOT_FOUND");
    assert_eq!(hidden, absent);
    assert_eq!(
        ask("stream:delete", Some(bobs_private)).await,
        ask("stream:delete", Some("0123456789".to_owned())).await
    );
    // Nothing was done.
    assert_eq!(outcome(&app.gql(Some(&full), &Era::Streams.read(&mine)).await), "OK");
    let unknown = app.gql(Some(&token), &can("streams:destroy", None)).await;
    assert_eq!(outcome(&unknown), "BAD_USER_INPUT", "{unknown}");
    let unnamed = app.gql(Some(&token), &can("stream:share", None)).await;
    assert_eq!(outcome(&unnamed), "BAD_USER_INPUT", "{unnamed}");

    // Any valid token reads itself, without a scope; an unlimited one says so with null.
    let mut carol = TestUser::sign_up(&app, "Carol").await;
    let scopeless = carol.token(&["users:read"]).await;
    let me = app.gql(Some(&scopeless), "{ tokenSelf { name scopes limitResources { id } familyId } }").await;
    assert_eq!(me["data"]["tokenSelf"]["scopes"], json!(["users:read"]), "{me}");
    assert_eq!(me["data"]["tokenSelf"]["limitResources"], Value::Null, "{me}");
    let anonymous = app.gql(None, "{ tokenSelf { name } }").await;
    assert_eq!(outcome(&anonymous), "UNAUTHENTICATED", "{anonymous}");
}

/// What a field does with a limited token's hidden stream (private, outside its streams).
enum Walk {
    /// Names the hidden stream: answers `NOT_FOUND`, exactly as for a missing one.
    Hidden(String),
    /// Is outside any token's streams: `FORBIDDEN` with `tokenLimit`.
    Refused(String),
    /// Lists or counts streams: answers, and nothing of the hidden stream shows.
    Filtered(String),
    /// Reaches no stream's data, or holds the fields below it (a namespace).
    Beside(&'static str),
}

/// SPEC §12's one enforcement point, walked: every root field, every field of the nested
/// mutations and every field of a user is listed here with what a limited token gets from it
/// about a stream outside its streams, and each is run; a new field that is not listed fails
/// this test, so a field cannot forget the limit. (The object transport's routes are walked
/// by `transport::a_limited_token_moves_objects_of_its_streams_only…`, the subscriptions by
/// `live::a_limited_token_hears_of_its_streams_only`.)
#[tokio::test]
async fn every_field_consults_the_token_s_streams() {
    use Walk::*;
    let app = TestApp::new().await;
    let mut alice = TestUser::sign_up(&app, "Alice").await;
    let mut bob = TestUser::sign_up(&app, "Bob").await;
    let full = minter(&mut alice).await;
    let bobs = minter(&mut bob).await;
    let chosen = create_stream(&app, &full, "Chosen", false).await;
    let h = create_stream(&app, &full, "Hiddenname", false).await;
    let main = main_model(&app, &full, &h).await;
    let commit = app.gql(Some(&full), &Era::Streams.commit(&h, &main)).await;
    let c = commit["data"]["commitCreate"].as_str().unwrap_or_else(|| panic!("{commit}")).to_owned();
    app.gql(
        Some(&full),
        &format!(r#"mutation {{ streamFavorite(streamId: "{h}", favorited: true) {{ id }} }}"#),
    )
    .await;
    app.gql(Some(&full), &Era::Streams.share(&h, &bob.id, "stream:reviewer")).await;
    let invite = app
        .gql(Some(&full), &Era::Streams.invite(&h, r#"email: "dan@example.com""#, "stream:reviewer"))
        .await;
    assert_eq!(outcome(&invite), "OK", "{invite}");
    let invited = app.gql(Some(&full), &Era::Streams.invited(&h)).await;
    let i = invited["data"]["stream"]["list"][0]["inviteId"].as_str().unwrap().to_owned();
    // Bob invites Alice to his stream: the invitation names a stream outside her token's.
    let theirs = create_stream(&app, &bobs, "Hiddenname of Bob", false).await;
    let to_alice = Era::Streams.invite(&theirs, &format!(r#"userId: "{}""#, alice.id), "stream:reviewer");
    assert_eq!(outcome(&app.gql(Some(&bobs), &to_alice).await), "OK");
    let b = &bob.id;
    let a = &alice.id;
    let all = [
        "streams:read",
        "streams:write",
        "profile:read",
        "profile:email",
        "profile:write",
        "users:read",
        "users:invite",
        "tokens:read",
    ];
    let token = limited_token(&app, &full, &all, &[(&chosen, None)]).await;
    let mine = r#"streams { totalCount items { id name } } favoriteStreams { totalCount items { id } }
        projects { totalCount items { id } } projectInvites { projectId } activity { totalCount items { streamId } }
        timeline { totalCount items { streamId } } totalOwnedStreamsFavorites"#;
    let others = "streams { totalCount items { id } } activity { totalCount items { streamId } } timeline { totalCount items { streamId } }";
    let user_fields = "the user's own fields, run with `user` (lists) or reaching no stream";
    let walked: Vec<(&str, Walk)> = vec![
        ("Query.user", Filtered(format!("{{ user {{ {mine} }} }}"))),
        ("Query.activeUser", Filtered(format!("{{ activeUser {{ {mine} }} }}"))),
        ("Query.otherUser", Filtered(format!(r#"{{ otherUser(id: "{a}") {{ {others} }} }}"#))),
        ("Query.userSearch", Filtered(r#"{ userSearch(query: "alice") { items { id name } } }"#.into())),
        ("Query.stream", Hidden(format!(r#"{{ stream(id: "{h}") {{ id name }} }}"#))),
        ("Query.streams", Filtered("{ streams { totalCount items { id name } } }".into())),
        ("Query.project", Hidden(format!(r#"{{ project(id: "{h}") {{ id name }} }}"#))),
        ("Query.streamInvites", Filtered("{ streamInvites { streamId streamName } }".into())),
        (
            "Query.streamInvite",
            Filtered(format!(r#"{{ streamInvite(streamId: "{theirs}") {{ streamName }} }}"#)),
        ),
        (
            "Query.projectInvite",
            Filtered(format!(r#"{{ projectInvite(projectId: "{theirs}") {{ projectName }} }}"#)),
        ),
        ("Query.serverInfo", Beside("the server")),
        ("Query.app", Beside("an app: grants are not limited to streams")),
        ("Query.apps", Beside("apps")),
        ("Query.tokenSelf", Beside("the token itself")),
        (
            "Query.tokenCan",
            Hidden(format!(r#"{{ tokenCan(action: "streams:read", streamId: "{h}") {{ code message }} }}"#)),
        ),
        ("Mutation.streamCreate", Refused(r#"mutation { streamCreate(stream: { name: "New" }) }"#.into())),
        (
            "Mutation.streamUpdate",
            Hidden(format!(r#"mutation {{ streamUpdate(stream: {{ id: "{h}", name: "x" }}) }}"#)),
        ),
        ("Mutation.streamDelete", Hidden(format!(r#"mutation {{ streamDelete(id: "{h}") }}"#))),
        ("Mutation.streamUpdatePermission", Hidden(Era::Streams.share(&h, b, "stream:owner"))),
        ("Mutation.streamRevokePermission", Hidden(Era::Streams.unshare(&h, b))),
        (
            "Mutation.streamFavorite",
            Hidden(format!(r#"mutation {{ streamFavorite(streamId: "{h}", favorited: false) {{ id }} }}"#)),
        ),
        (
            "Mutation.branchCreate",
            Hidden(format!(r#"mutation {{ branchCreate(branch: {{ streamId: "{h}", name: "x" }}) }}"#)),
        ),
        (
            "Mutation.branchUpdate",
            Hidden(format!(
                r#"mutation {{ branchUpdate(branch: {{ streamId: "{h}", id: "{main}", description: "x" }}) }}"#
            )),
        ),
        (
            "Mutation.branchDelete",
            Hidden(format!(r#"mutation {{ branchDelete(branch: {{ streamId: "{h}", id: "{main}" }}) }}"#)),
        ),
        ("Mutation.commitCreate", Hidden(Era::Streams.commit(&h, &main))),
        (
            "Mutation.commitUpdate",
            Hidden(format!(
                r#"mutation {{ commitUpdate(commit: {{ streamId: "{h}", id: "{c}", message: "x" }}) }}"#
            )),
        ),
        (
            "Mutation.commitReceive",
            Hidden(format!(
                r#"mutation {{ commitReceive(input: {{ streamId: "{h}", commitId: "{c}", sourceApplication: "t" }}) }}"#
            )),
        ),
        (
            "Mutation.commitDelete",
            Hidden(format!(r#"mutation {{ commitDelete(commit: {{ streamId: "{h}", id: "{c}" }}) }}"#)),
        ),
        (
            "Mutation.objectCreate",
            Hidden(format!(
                r#"mutation {{ objectCreate(objectInput: {{ streamId: "{h}", objects: [{{ speckle_type: "Base" }}] }}) }}"#
            )),
        ),
        ("Mutation.userUpdate", Beside("the user's profile")),
        ("Mutation.apiTokenCreate", Beside("tokens: the subset rule, minting_keeps_the_subset_rule…")),
        ("Mutation.apiTokenRevoke", Beside("tokens")),
        ("Mutation.apiTokensRevokeAll", Beside("tokens")),
        ("Mutation.apiTokenRotate", Beside("tokens: the subset rule, minting_keeps_the_subset_rule…")),
        ("Mutation.projectMutations", Beside("a namespace: ProjectMutations below")),
        ("Mutation.modelMutations", Beside("a namespace: ModelMutations below")),
        ("Mutation.versionMutations", Beside("a namespace: VersionMutations below")),
        ("Mutation.activeUserMutations", Beside("a namespace: ActiveUserMutations below")),
        (
            "Mutation.streamInviteCreate",
            Hidden(Era::Streams.invite(&h, r#"email: "eve@example.com""#, "stream:reviewer")),
        ),
        (
            "Mutation.streamInviteBatchCreate",
            Hidden(format!(
                r#"mutation {{ streamInviteBatchCreate(input: [{{ streamId: "{h}", email: "fay@example.com" }}]) }}"#
            )),
        ),
        ("Mutation.streamInviteCancel", Hidden(Era::Streams.cancel(&h, &i))),
        ("Mutation.streamInviteUse", Refused(Era::Streams.answer(&theirs, "anything", true))),
        ("Mutation.workspaceMutations", Beside("workspaces are not enabled")),
        ("Mutation.appCreate", Beside("apps")),
        ("Mutation.appUpdate", Beside("apps")),
        ("Mutation.appRegenerateSecret", Beside("apps")),
        ("Mutation.appDelete", Beside("apps")),
        ("Mutation.appRevokeAccess", Beside("apps")),
        (
            "ProjectMutations.create",
            Refused(r#"mutation { projectMutations { create(input: { name: "New" }) { id } } }"#.into()),
        ),
        ("ProjectMutations.update", Hidden(Era::Projects.rename(&h))),
        ("ProjectMutations.delete", Hidden(Era::Projects.delete(&h))),
        ("ProjectMutations.updateRole", Hidden(Era::Projects.share(&h, b, "stream:owner"))),
        (
            "ProjectMutations.leave",
            Hidden(format!(r#"mutation {{ projectMutations {{ leave(id: "{h}") }} }}"#)),
        ),
        ("ProjectMutations.invites", Beside("a namespace: ProjectInviteMutations below")),
        (
            "ProjectInviteMutations.create",
            Hidden(Era::Projects.invite(&h, r#"email: "gus@example.com""#, "stream:reviewer")),
        ),
        (
            "ProjectInviteMutations.batchCreate",
            Hidden(format!(
                r#"mutation {{ projectMutations {{ invites {{ batchCreate(projectId: "{h}", input: [{{ email: "hal@example.com" }}]) {{ id }} }} }} }}"#
            )),
        ),
        ("ProjectInviteMutations.use", Refused(Era::Projects.answer(&theirs, "anything", true))),
        ("ProjectInviteMutations.cancel", Hidden(Era::Projects.cancel(&h, &i))),
        (
            "ModelMutations.create",
            Hidden(format!(
                r#"mutation {{ modelMutations {{ create(input: {{ projectId: "{h}", name: "x" }}) {{ id }} }} }}"#
            )),
        ),
        (
            "ModelMutations.update",
            Hidden(format!(
                r#"mutation {{ modelMutations {{ update(input: {{ projectId: "{h}", id: "{main}", description: "x" }}) {{ id }} }} }}"#
            )),
        ),
        (
            "ModelMutations.delete",
            Hidden(format!(
                r#"mutation {{ modelMutations {{ delete(input: {{ projectId: "{h}", id: "{main}" }}) }} }}"#
            )),
        ),
        ("VersionMutations.create", Hidden(Era::Projects.commit(&h, &main))),
        (
            "VersionMutations.update",
            Hidden(format!(
                r#"mutation {{ versionMutations {{ update(input: {{ projectId: "{h}", versionId: "{c}", message: "x" }}) {{ id }} }} }}"#
            )),
        ),
        (
            "VersionMutations.moveToModel",
            Hidden(format!(
                r#"mutation {{ versionMutations {{ moveToModel(input: {{ projectId: "{h}", versionIds: ["{c}"], targetModelName: "x" }}) {{ id }} }} }}"#
            )),
        ),
        (
            "VersionMutations.delete",
            Hidden(format!(
                r#"mutation {{ versionMutations {{ delete(input: {{ projectId: "{h}", versionIds: ["{c}"] }}) }} }}"#
            )),
        ),
        (
            "VersionMutations.markReceived",
            Hidden(format!(
                r#"mutation {{ versionMutations {{ markReceived(input: {{ projectId: "{h}", versionId: "{c}", sourceApplication: "t" }}) }} }}"#
            )),
        ),
        ("ActiveUserMutations.update", Beside("the user's profile")),
    ];
    // Introspection: the fields of these types; the user's own are run through `Query.user`.
    let types = [
        "Query",
        "Mutation",
        "ProjectMutations",
        "ProjectInviteMutations",
        "ModelMutations",
        "VersionMutations",
        "ActiveUserMutations",
        "User",
        "LimitedUser",
    ];
    let mut unlisted = Vec::new();
    for kind in types {
        let answer = app.gql(None, &format!(r#"{{ __type(name: "{kind}") {{ fields {{ name }} }} }}"#)).await;
        for field in answer["data"]["__type"]["fields"].as_array().unwrap_or_else(|| panic!("{answer}")) {
            let name = format!("{kind}.{}", field["name"].as_str().unwrap());
            let is_users = kind.ends_with("User");
            if !is_users && !walked.iter().any(|(listed, _)| *listed == name) {
                unlisted.push(name);
            }
        }
    }
    assert!(unlisted.is_empty(), "fields that do not say what they do with a token's streams: {unlisted:?}");
    // Every user field is in `mine` or `others`, or reaches no stream (checked by name).
    let users = app.gql(None, r#"{ __type(name: "User") { fields { name } } }"#).await;
    let streamless = [
        "id",
        "suuid",
        "name",
        "bio",
        "company",
        "avatar",
        "verified",
        "role",
        "email",
        "workspaces",
        "activeWorkspace",
        "profiles",
        "isOnboardingFinished",
        "createdAt",
        "permissions",
        "authorizedApps",
        "createdApps",
        "apiTokens",
    ];
    for field in users["data"]["__type"]["fields"].as_array().unwrap() {
        let name = field["name"].as_str().unwrap();
        let run = mine.split(|c: char| !c.is_ascii_alphanumeric()).any(|word| word == name);
        assert!(run || streamless.contains(&name), "User.{name}: {user_fields}: add it to one or the other");
    }

    for (name, walk) in walked {
        let (query, expect) = match &walk {
            Hidden(query) => (query, "NOT_FOUND"),
            Refused(query) => (query, "FORBIDDEN"),
            Filtered(query) => (query, "OK"),
            Beside(why) => {
                assert!(!why.is_empty(), "{name}: say why");
                continue;
            }
        };
        let answer = app.gql(Some(&token), query).await;
        let text = answer.to_string();
        match walk {
            Hidden(_) => assert!(text.contains("NOT_FOUND"), "{name}: {text}"),
            Refused(_) => {
                assert_eq!(outcome(&answer), expect, "{name}: {text}");
                assert!(token_limit(&answer), "{name}: {text}");
            }
            _ => assert_eq!(outcome(&answer), expect, "{name}: {text}"),
        }
        for secret in [h.as_str(), "Hiddenname", theirs.as_str()] {
            // The query itself may name the stream; the answer never does.
            assert!(!text.contains(secret), "{name} shows the hidden stream: {text}");
        }
    }
    // Nothing of the hidden stream changed: its commit, its collaborator, its invitation.
    let still = app.gql(Some(&full), &format!(r#"{{ stream(id: "{h}") {{ name collaborators {{ id }} commits {{ totalCount }} pendingCollaborators {{ inviteId }} }} }}"#)).await;
    assert_eq!(still["data"]["stream"]["name"], "Hiddenname", "{still}");
    assert_eq!(still["data"]["stream"]["collaborators"].as_array().unwrap().len(), 2, "{still}");
    assert_eq!(still["data"]["stream"]["commits"]["totalCount"], 1, "{still}");
    assert_eq!(still["data"]["stream"]["pendingCollaborators"].as_array().unwrap().len(), 1, "{still}");
}

#[tokio::test]
async fn the_dialog_makes_a_token_for_chosen_streams_found_by_name_and_its_row_says_how_many() {
    let app = TestApp::new().await;
    let mut alice = TestUser::sign_up(&app, "Alice").await;
    let mut bob = TestUser::sign_up(&app, "Bob").await;
    let full = minter(&mut alice).await;
    let bobs = minter(&mut bob).await;
    let a = create_stream(&app, &full, "Alpha", false).await;
    let b = create_stream(&app, &full, "Beta", true).await;
    let twin = create_stream(&app, &full, "Twin", false).await;
    let bobs_twin = create_stream(&app, &bobs, "Twin", false).await;
    app.gql(Some(&bobs), &Era::Streams.share(&bobs_twin, &alice.id, "stream:contributor")).await;
    create_stream(&app, &bobs, "Bob's alone", false).await;

    // The search: the user's streams only, in the database; twins show their owners.
    let found = alice.browser.call("find_streams", &[("search", "twin")]).await.json();
    let mut owners: Vec<(String, String)> = found
        .as_array()
        .unwrap_or_else(|| panic!("{found}"))
        .iter()
        .map(|s| (s["id"].as_str().unwrap().to_owned(), s["owner"].to_string()))
        .collect();
    owners.sort();
    let mut expected =
        vec![(twin.clone(), "\"Alice\"".to_owned()), (bobs_twin.clone(), "\"Bob\"".to_owned())];
    expected.sort();
    assert_eq!(owners, expected, "{found}");
    let all = alice.browser.call("find_streams", &[("search", "")]).await.json();
    assert_eq!(all.as_array().unwrap().len(), 4, "{all}");
    assert!(all.as_array().unwrap().iter().all(|s| s["owner"].is_null() || s["name"] == "Twin"), "{all}");

    let mut form = token_form("Two streams", &["streams:read", "streams:write"], "7");
    let (write_a, read_b) = (format!("{a}:write"), format!("{b}:read"));
    form.extend([
        ("reach", "selected"),
        ("streams[0]", a.as_str()),
        ("streams[3]", b.as_str()),
        ("levels[0]", write_a.as_str()),
        ("levels[3]", read_b.as_str()),
        // A level for a stream not ticked is not a stream of the token.
        ("levels[1]", "unticked:write"),
    ]);
    let made = alice.browser.call("create_token", &form).await;
    assert_eq!(made.status, StatusCode::OK, "{}", made.body);
    let secret = made.json()["secret"].as_str().unwrap().to_owned();
    let seen = app.gql(Some(&secret), "{ tokenSelf { limitResources { id access } } }").await;
    let mut streams = seen["data"]["tokenSelf"]["limitResources"].as_array().unwrap().clone();
    streams.sort_by_key(|s| s["id"].as_str().unwrap().to_owned());
    let mut wanted = vec![json!({ "id": a, "access": "WRITE" }), json!({ "id": b, "access": "READ" })];
    wanted.sort_by_key(|s| s["id"].as_str().unwrap().to_owned());
    assert_eq!(streams, wanted, "{seen}");

    let listed = alice.browser.list_tokens().await.json();
    let reach: Vec<(String, String)> = listed["rows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|row| {
            let count = row["streams"].as_array().map_or("all".to_owned(), |s| s.len().to_string());
            (row["name"].as_str().unwrap().to_owned(), count)
        })
        .collect();
    assert!(reach.contains(&("Two streams".to_owned(), "2".to_owned())), "{reach:?}");
    assert!(reach.contains(&("whoami".to_owned(), "all".to_owned())), "{reach:?}");

    // Only selected streams, and none ticked: refused, nothing made.
    let mut none = token_form("None", &["streams:read"], "7");
    none.push(("reach", "selected"));
    let refused = alice.browser.call("create_token", &none).await;
    assert_eq!(refused.status, StatusCode::BAD_REQUEST, "{}", refused.body);
    // A stream that is not the user's is as unknown as a missing one.
    let stranger = bob.token(&["streams:read", "streams:write"]).await;
    let bobs_alone = create_stream(&app, &stranger, "Bob's own", false).await;
    let mut theirs = token_form("Theirs", &["streams:read"], "7");
    theirs.extend([("reach", "selected"), ("streams[0]", bobs_alone.as_str())]);
    let refused = alice.browser.call("create_token", &theirs).await;
    assert_eq!(refused.status, StatusCode::NOT_FOUND, "{}", refused.body);
    let listed = alice.browser.list_tokens().await.json();
    assert_eq!(listed["rows"].as_array().unwrap().len(), 3, "{listed}");
}

/// The token's activity page, as its server function answers it.
async fn activity(user: &mut TestUser<'_>, id: &str) -> Value {
    user.browser.call("token_activity", &[("id", id)]).await.json()
}

/// Rows of `token_usage`: what tokens used, as written.
async fn usage_rows(app: &TestApp) -> i64 {
    use diesel::prelude::*;
    use speckle_tokens::server::db::schema::token_usage;
    let mut conn = app.state.db.get().await.unwrap();
    speckle_tokens::db_run!(&mut conn, |c| {
        diesel_async::RunQueryDsl::get_result(token_usage::table.count(), c).await
    })
    .unwrap()
}

#[tokio::test]
async fn a_token_that_used_less_is_offered_exactly_that_and_narrowing_regenerates_it() {
    let app = TestApp::new().await;
    let mut alice = TestUser::sign_up(&app, "Alice").await;
    let full = minter(&mut alice).await;
    let a = create_stream(&app, &full, "Alpha", false).await;
    let b = create_stream(&app, &full, "Beta", false).await;
    let scopes = ["streams:read", "streams:write", "profile:read"];
    let token = limited_token(&app, &full, &scopes, &[(&a, None), (&b, None)]).await;
    let id = app.gql(Some(&token), "{ tokenSelf { id } }").await["data"]["tokenSelf"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let before = usage_rows(&app).await;
    for _ in 0..3 {
        assert_eq!(outcome(&app.gql(Some(&token), &Era::Streams.read(&a)).await), "OK");
    }
    assert_eq!(usage_rows(&app).await, before, "nothing is written per request");
    assert_eq!(activity(&mut alice, &id).await["narrow"], Value::Null, "not written yet: nothing to offer");
    // The next use a minute on writes what it used.
    app.advance(std::time::Duration::from_secs(61));
    app.gql(Some(&token), "{ tokenSelf { id } }").await;
    let offered = activity(&mut alice, &id).await;
    assert_eq!(
        offered["narrow"],
        json!({ "scopes": ["streams:read"], "streams": [{ "id": a, "name": "Alpha", "access": "Read" }] }),
        "{offered}"
    );

    // Narrowing is regenerating with exactly that: a new secret, the old one in its grace.
    let level = format!("{a}:read");
    let mut form =
        vec![("id", id.as_str()), ("expiration", "30"), ("narrow", "true"), ("scopes[0]", "streams:read")];
    form.extend([("streams[0]", a.as_str()), ("levels[0]", level.as_str())]);
    let made = alice.browser.call("regenerate_token", &form).await;
    assert_eq!(made.status, StatusCode::OK, "{}", made.body);
    let narrowed = made.json()["secret"].as_str().unwrap().to_owned();
    let seen = app.gql(Some(&narrowed), "{ tokenSelf { scopes limitResources { id access } } }").await;
    assert_eq!(seen["data"]["tokenSelf"]["scopes"], json!(["streams:read"]), "{seen}");
    assert_eq!(seen["data"]["tokenSelf"]["limitResources"], json!([{ "id": a, "access": "READ" }]), "{seen}");
    assert_eq!(outcome(&app.gql(Some(&narrowed), &Era::Streams.read(&b)).await), "NOT_FOUND");
    // Narrowing never widens: a scope or a stream the old token did not hold is refused.
    let other = limited_token(&app, &full, &["streams:read"], &[(&a, None)]).await;
    let other_id = app.gql(Some(&other), "{ tokenSelf { id } }").await["data"]["tokenSelf"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    for extra in [
        vec![("scopes[0]", "streams:write")],
        vec![("scopes[0]", "streams:read"), ("streams[0]", b.as_str())],
    ] {
        let mut form = vec![("id", other_id.as_str()), ("expiration", "30"), ("narrow", "true")];
        form.extend(extra.clone());
        let refused = alice.browser.call("regenerate_token", &form).await;
        assert!(refused.status.is_client_error(), "{extra:?}: {} {}", refused.status, refused.body);
    }

    // An unlimited token that reached one stream is offered that stream.
    let mut bob = TestUser::sign_up(&app, "Bob").await;
    let bobs = bob.token(&["streams:read", "profile:read"]).await;
    let bobs_stream = create_stream(&app, &minter(&mut bob).await, "Bob's", false).await;
    assert_eq!(outcome(&app.gql(Some(&bobs), &Era::Streams.read(&bobs_stream)).await), "OK");
    app.advance(std::time::Duration::from_secs(61));
    let bobs_id = app.gql(Some(&bobs), "{ tokenSelf { id } }").await["data"]["tokenSelf"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let offered = bob.browser.call("token_activity", &[("id", bobs_id.as_str())]).await.json();
    assert_eq!(
        offered["narrow"],
        json!({ "scopes": ["streams:read"], "streams": [{ "id": bobs_stream, "name": "Bob's", "access": "Read" }] }),
        "{offered}"
    );
}
