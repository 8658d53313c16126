//! What a token can do (SPEC §3, §5): streams, sharing, commits, users and tokens through
//! `POST /graphql`, with every scope and every stream role enforced.

use crate::common::*;
use serde_json::{json, Value};

async fn share(app: &TestApp, token: &str, stream: &str, user: &str, role: &str) -> Value {
    app.gql(
        Some(token),
        &format!(
            r#"mutation {{ streamUpdatePermission(permissionParams: {{ streamId: "{stream}", userId: "{user}", role: "{role}" }}) }}"#
        ),
    )
    .await
}

fn commit_mutation(stream: &str, message: &str) -> String {
    format!(
        r#"mutation {{ commitCreate(commit: {{ streamId: "{stream}", branchName: "main", objectId: "0123456789abcdef", message: "{message}", sourceApplication: "test" }}) }}"#
    )
}

#[tokio::test]
async fn the_five_promises_of_the_docs_as_one_story() {
    let app = TestApp::new().await;
    let mut alice = TestUser::sign_up(&app, "Alice").await;
    let mut bob = TestUser::sign_up(&app, "Bob").await;
    let alice_token = alice.token(&["streams:read", "streams:write", "profile:read"]).await;
    let bob_token = bob.token(&["streams:read", "streams:write", "users:read"]).await;

    // Create a stream on A's behalf, and share it with B as contributor.
    let stream = create_stream(&app, &alice_token, "Tower", false).await;
    assert_eq!(outcome(&share(&app, &alice_token, &stream, &bob.id, "stream:contributor").await), "OK");

    // B's token creates a commit on it.
    let commit = app.gql(Some(&bob_token), &commit_mutation(&stream, "first floor")).await;
    assert!(commit["data"]["commitCreate"].is_string(), "{commit}");

    // A's token reads the streams A can access, with commits and collaborators.
    let read = app
        .gql(
            Some(&alice_token),
            &format!(
                r#"{{ user {{ streams {{ totalCount items {{ id name role }} }} }}
                    stream(id: "{stream}") {{ name role isPublic collaborators {{ id name role }}
                      commits {{ totalCount items {{ id message referencedObject branchName authorId authorName sourceApplication createdAt }} }} }} }}"#
            ),
        )
        .await;
    assert_eq!(outcome(&read), "OK", "{read}");
    assert_eq!(read["data"]["user"]["streams"]["totalCount"], 1);
    assert_eq!(read["data"]["user"]["streams"]["items"][0]["role"], "stream:owner");
    let stream_json = &read["data"]["stream"];
    assert_eq!(stream_json["commits"]["totalCount"], 1);
    let first = &stream_json["commits"]["items"][0];
    assert_eq!(first["message"], "first floor");
    assert_eq!(first["authorName"], "Bob");
    assert_eq!(first["authorId"], bob.id.as_str());
    let roles: Vec<(String, String)> = stream_json["collaborators"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| (c["name"].as_str().unwrap().to_owned(), c["role"].as_str().unwrap().to_owned()))
        .collect();
    assert!(roles.contains(&("Alice".into(), "stream:owner".into())));
    assert!(roles.contains(&("Bob".into(), "stream:contributor".into())));

    // B reads A's public profile, but never A's email.
    let profile = app
        .gql(
            Some(&bob_token),
            &format!(
                r#"{{ otherUser(id: "{}") {{ name }} user(id: "{}") {{ name email }} }}"#,
                alice.id, alice.id
            ),
        )
        .await;
    assert_eq!(profile["data"]["otherUser"]["name"], "Alice");
    assert_eq!(profile["data"]["user"]["email"], Value::Null);
    let full = bob.token(&ALL_SCOPES).await;
    let profile = app.gql(Some(&full), &format!(r#"{{ user(id: "{}") {{ email }} }}"#, alice.id)).await;
    assert_eq!(profile["data"]["user"]["email"], Value::Null);
}

/// One operation of the API, the scopes it needs, and the scope whose absence is tested.
struct Case {
    query: String,
    needs: Vec<&'static str>,
    tested: &'static str,
}

fn case(query: String, needs: &[&'static str], tested: &'static str) -> Case {
    Case { query, needs: needs.to_vec(), tested }
}

#[tokio::test]
async fn scope_matrix_every_field_and_mutation_needs_its_scope() {
    let app = TestApp::new().await;
    let mut alice = TestUser::sign_up(&app, "Alice").await;
    let mut bob = TestUser::sign_up(&app, "Bob").await;
    let setup = alice.token(&ALL_SCOPES).await;
    let stream = create_stream(&app, &setup, "Matrix", false).await;
    // Bob invites Alice to one of his (she answers it in a case); she invites Carol by email
    // (she cancels it in a case).
    let bob_setup = bob.token(&ALL_SCOPES).await;
    let bobs = create_stream(&app, &bob_setup, "Bob's", false).await;
    let invite_alice = Era::Streams.invite(&bobs, &format!(r#"userId: "{}""#, alice.id), "stream:reviewer");
    assert_eq!(outcome(&app.gql(Some(&bob_setup), &invite_alice).await), "OK");
    let to_alice = Era::Streams.invitations(&app.gql(Some(&setup), Era::Streams.my_invitations()).await)[0]
        ["token"]
        .as_str()
        .unwrap()
        .to_owned();
    let invite_carol = Era::Streams.invite(&stream, r#"email: "carol@example.com""#, "stream:reviewer");
    assert_eq!(outcome(&app.gql(Some(&setup), &invite_carol).await), "OK");
    let to_carol = app.gql(Some(&setup), &Era::Streams.invited(&stream)).await["data"]["stream"]["list"][0]
        ["inviteId"]
        .as_str()
        .unwrap()
        .to_owned();
    let doomed = create_stream(&app, &setup, "Doomed", false).await;
    let doomed2 = create_stream(&app, &setup, "Doomed too", false).await;
    let main = main_model(&app, &setup, &stream).await;
    let spare = alice.browser.create_token("spare", &["profile:read"], "30").await.0;
    let renewed = alice.browser.create_token("renewed", &["profile:read"], "30").await.0;
    let (b, s) = (&bob.id, &stream);

    let branch = app
        .gql_vars(
            Some(&setup),
            "mutation($b: BranchCreateInput!) { branchCreate(branch: $b) }",
            json!({ "b": { "streamId": stream, "name": "doomed" } }),
        )
        .await["data"]["branchCreate"]
        .as_str()
        .unwrap()
        .to_owned();
    let commit = app.gql(Some(&setup), &commit_mutation(&stream, "to change")).await["data"]["commitCreate"]
        .as_str()
        .unwrap()
        .to_owned();
    let (br, c) = (&branch, &commit);
    let register = |name: &str| {
        format!(
            r#"mutation {{ appCreate(app: {{ name: "{name}", description: "d", redirectUrl: "https://example.com/cb", scopes: ["streams:read"] }}) }}"#
        )
    };
    let created = app.gql(Some(&setup), &register("Kept")).await;
    let kept = created["data"]["appCreate"].as_str().unwrap_or_else(|| panic!("{created}")).to_owned();
    let gone =
        app.gql(Some(&setup), &register("Gone")).await["data"]["appCreate"].as_str().unwrap().to_owned();
    // In order: later cases rely on earlier successes (share before revoking).
    let cases = vec![
        case(
            format!(r#"{{ stream(id: "{s}") {{ branches {{ totalCount }} branch {{ name }} }} }}"#),
            &["streams:read"],
            "streams:read",
        ),
        case(
            format!(r#"mutation {{ branchCreate(branch: {{ streamId: "{s}", name: "feature/x" }}) }}"#),
            &["streams:write"],
            "streams:write",
        ),
        case(
            format!(
                r#"mutation {{ branchUpdate(branch: {{ streamId: "{s}", id: "{br}", description: "d" }}) }}"#
            ),
            &["streams:write"],
            "streams:write",
        ),
        case(
            format!(r#"mutation {{ commitUpdate(commit: {{ streamId: "{s}", id: "{c}", message: "m" }}) }}"#),
            &["streams:write"],
            "streams:write",
        ),
        case(
            format!(
                r#"mutation {{ commitReceive(input: {{ streamId: "{s}", commitId: "{c}", sourceApplication: "test" }}) }}"#
            ),
            &["streams:read"],
            "streams:read",
        ),
        case(
            format!(
                r#"mutation {{ versionMutations {{ markReceived(input: {{ projectId: "{s}", versionId: "{c}", sourceApplication: "test" }}) }} }}"#
            ),
            &["streams:read"],
            "streams:read",
        ),
        case(
            format!(
                r#"mutation {{ objectCreate(objectInput: {{ streamId: "{s}", objects: [{{ id: "abc" }}] }}) }}"#
            ),
            &["streams:write"],
            "streams:write",
        ),
        case(r#"mutation { userUpdate(user: { bio: "b" }) }"#.into(), &["profile:write"], "profile:write"),
        case(r#"{ userSearch(query: "Bob") { items { id } } }"#.into(), &["users:read"], "users:read"),
        case(
            format!(r#"mutation {{ commitDelete(commit: {{ streamId: "{s}", id: "{c}" }}) }}"#),
            &["streams:write"],
            "streams:write",
        ),
        case(
            format!(r#"mutation {{ branchDelete(branch: {{ streamId: "{s}", id: "{br}" }}) }}"#),
            &["streams:write"],
            "streams:write",
        ),
        case("{ user { id name } }".into(), &["profile:read"], "profile:read"),
        case("{ activeUser { id } }".into(), &["profile:read"], "profile:read"),
        case(format!(r#"{{ user(id: "{b}") {{ name }} }}"#), &["users:read"], "users:read"),
        case(format!(r#"{{ otherUser(id: "{b}") {{ name }} }}"#), &["users:read"], "users:read"),
        case("{ streams { totalCount items { id } } }".into(), &["streams:read"], "streams:read"),
        case(
            format!(r#"{{ stream(id: "{s}") {{ name commits {{ totalCount }} collaborators {{ id }} }} }}"#),
            &["streams:read"],
            "streams:read",
        ),
        case("{ user { streams { totalCount } } }".into(), &["profile:read", "streams:read"], "streams:read"),
        case("{ user { apiTokens { id name } } }".into(), &["profile:read", "tokens:read"], "tokens:read"),
        case(
            r#"mutation { streamCreate(stream: { name: "New" }) }"#.into(),
            &["streams:write"],
            "streams:write",
        ),
        case(
            format!(r#"mutation {{ streamUpdate(stream: {{ id: "{s}", description: "d" }}) }}"#),
            &["streams:write"],
            "streams:write",
        ),
        case(
            format!(
                r#"mutation {{ streamUpdatePermission(permissionParams: {{ streamId: "{s}", userId: "{b}", role: "stream:reviewer" }}) }}"#
            ),
            &["streams:write"],
            "streams:write",
        ),
        case(
            format!(
                r#"mutation {{ streamRevokePermission(permissionParams: {{ streamId: "{s}", userId: "{b}" }}) }}"#
            ),
            &["streams:write"],
            "streams:write",
        ),
        case(commit_mutation(s, "matrix"), &["streams:write"], "streams:write"),
        case(format!(r#"mutation {{ streamDelete(id: "{doomed}") }}"#), &["streams:write"], "streams:write"),
        case(
            r#"mutation { apiTokenCreate(token: { name: "child", scopes: ["profile:read"] }) }"#.into(),
            &["tokens:write", "profile:read"],
            "tokens:write",
        ),
        case(
            format!(r#"mutation {{ apiTokenRevoke(token: "{spare}") }}"#),
            &["tokens:write"],
            "tokens:write",
        ),
        case(
            format!(r#"mutation {{ apiTokenRotate(token: {{ id: "{renewed}" }}) }}"#),
            &["tokens:write", "profile:read"],
            "tokens:write",
        ),
        case(
            format!(r#"mutation {{ streamFavorite(streamId: "{s}", favorited: true) {{ id }} }}"#),
            &["streams:read"],
            "streams:read",
        ),
        // The project era's names for the same rules (SPEC §10).
        case(
            format!(
                r#"{{ project(id: "{s}") {{ models {{ totalCount }} versions {{ totalCount }} team {{ id }} }} }}"#
            ),
            &["streams:read"],
            "streams:read",
        ),
        case(
            "{ activeUser { projects { totalCount } } }".into(),
            &["profile:read", "streams:read"],
            "streams:read",
        ),
        // A mutation that answers what it wrote reads it too: `streams:read` beside
        // `streams:write`, each refused alone before anything is written.
        case(
            r#"mutation { projectMutations { create(input: { name: "New" }) { id } } }"#.into(),
            &["streams:read", "streams:write"],
            "streams:write",
        ),
        case(
            r#"mutation { projectMutations { create(input: { name: "New" }) { id } } }"#.into(),
            &["streams:read", "streams:write"],
            "streams:read",
        ),
        case(
            format!(r#"mutation {{ projectMutations {{ delete(id: "{doomed2}") }} }}"#),
            &["streams:write"],
            "streams:write",
        ),
        case(
            format!(
                r#"mutation {{ modelMutations {{ create(input: {{ projectId: "{s}", name: "era/2026" }}) {{ id }} }} }}"#
            ),
            &["streams:read", "streams:write"],
            "streams:write",
        ),
        case(
            format!(
                r#"mutation {{ versionMutations {{ create(input: {{ projectId: "{s}", modelId: "{main}", objectId: "abc" }}) {{ id }} }} }}"#
            ),
            &["streams:read", "streams:write"],
            "streams:read",
        ),
        // Its answer is the profile: `profile:read` beside `profile:write`.
        case(
            r#"mutation { activeUserMutations { update(user: { company: "Speckle" }) { company } } }"#.into(),
            &["profile:read", "profile:write"],
            "profile:write",
        ),
        case(
            r#"mutation { activeUserMutations { update(user: { company: "Speckle" }) { company } } }"#.into(),
            &["profile:read", "profile:write"],
            "profile:read",
        ),
        // Invitations (SPEC §10): Speckle's scopes for each.
        case("{ streamInvites { id } }".into(), &["streams:read"], "streams:read"),
        case(
            format!(r#"{{ streamInvite(streamId: "{bobs}") {{ id }} }}"#),
            &["profile:read"],
            "profile:read",
        ),
        case(
            format!(r#"{{ projectInvite(projectId: "{bobs}") {{ id }} }}"#),
            &["profile:read"],
            "profile:read",
        ),
        case(
            format!(
                r#"mutation {{ streamInviteCreate(input: {{ streamId: "{s}", email: "dan@example.com" }}) }}"#
            ),
            &["users:invite"],
            "users:invite",
        ),
        case(
            format!(
                r#"mutation {{ streamInviteBatchCreate(input: [{{ streamId: "{s}", email: "eve@example.com" }}]) }}"#
            ),
            &["users:invite"],
            "users:invite",
        ),
        case(
            format!(
                r#"mutation {{ projectMutations {{ invites {{ create(projectId: "{s}", input: {{ email: "fay@example.com" }}) {{ id }} }} }} }}"#
            ),
            &["streams:read", "streams:write", "users:invite"],
            "users:invite",
        ),
        case(Era::Streams.cancel(s, &to_carol), &["users:invite"], "users:invite"),
        case(Era::Streams.answer(&bobs, &to_alice, true), &["profile:write"], "profile:write"),
        // Apps (SPEC §11).
        case("{ apps { id name } }".into(), &["apps:read"], "apps:read"),
        case(
            "{ activeUser { authorizedApps { id } createdApps { id } } }".into(),
            &["profile:read", "apps:read"],
            "apps:read",
        ),
        case(register("Another"), &["apps:write"], "apps:write"),
        case(
            format!(
                r#"mutation {{ appUpdate(app: {{ id: "{kept}", name: "Kept", description: "e", redirectUrl: "https://example.com/cb", scopes: ["streams:read"] }}) }}"#
            ),
            &["apps:write"],
            "apps:write",
        ),
        case(
            format!(r#"mutation {{ appRegenerateSecret(appId: "{kept}") }}"#),
            &["apps:write"],
            "apps:write",
        ),
        case(format!(r#"mutation {{ appRevokeAccess(appId: "{kept}") }}"#), &["apps:write"], "apps:write"),
        case(format!(r#"mutation {{ appDelete(appId: "{gone}") }}"#), &["apps:write"], "apps:write"),
        // Last: it revokes every other token of Alice's.
        case("mutation { apiTokensRevokeAll }".into(), &["tokens:write"], "tokens:write"),
    ];
    // Every root field and mutation of the schema has a case, or is named here with why it
    // needs no scope: a new field without either fails this test.
    const NEEDS_NO_SCOPE: [(&str, &str); 5] = [
        ("serverInfo", "public: what the server is"),
        ("tokenSelf", "any valid token may read itself (SPEC §12)"),
        ("tokenCan", "any valid token may ask what it may do (SPEC §12)"),
        ("app", "public: an app as its consent page shows it, as Speckle's"),
        ("workspaceMutations", "refused to every token: workspaces are not enabled"),
    ];
    let schema = app
        .gql(None, "{ __schema { queryType { fields { name } } mutationType { fields { name } } } }")
        .await;
    let mut roots: Vec<String> = Vec::new();
    for kind in ["queryType", "mutationType"] {
        for field in schema["data"]["__schema"][kind]["fields"].as_array().unwrap() {
            roots.push(field["name"].as_str().unwrap().to_owned());
        }
    }
    let uncovered: Vec<&String> = roots
        .iter()
        .filter(|root| {
            let named = |query: &str| {
                query.split(|c: char| !c.is_ascii_alphanumeric()).any(|word| word == root.as_str())
            };
            !cases.iter().any(|case| named(&case.query))
                && !NEEDS_NO_SCOPE.iter().any(|(name, _)| name == root)
        })
        .collect();
    assert!(uncovered.is_empty(), "root fields without a case in the scope matrix: {uncovered:?}");
    for case in cases {
        let all_but: Vec<&str> = ALL_SCOPES.into_iter().filter(|s| *s != case.tested).collect();
        let without = alice.token(&all_but).await;
        let refused = app.gql(Some(&without), &case.query).await;
        assert_eq!(outcome(&refused), "FORBIDDEN", "{} without {}: {refused}", case.query, case.tested);
        assert!(refused["errors"][0]["message"].as_str().unwrap().contains(case.tested), "{refused}");

        let exactly = alice.token(&case.needs).await;
        let allowed = app.gql(Some(&exactly), &case.query).await;
        assert_eq!(outcome(&allowed), "OK", "{} with {:?}: {allowed}", case.query, case.needs);
    }
    // serverInfo needs nothing at all.
    assert_eq!(outcome(&app.gql(None, "{ serverInfo { name } }").await), "OK");

    // The email without profile:email is redacted, as Speckle does, rather than an error
    // that would fail the whole query (Speckle's clients ask for it when they sign in).
    let without_email = alice.token(&["profile:read"]).await;
    let redacted = app.gql(Some(&without_email), "{ activeUser { name email } }").await;
    assert_eq!(outcome(&redacted), "OK", "{redacted}");
    assert_eq!(redacted["data"]["activeUser"]["email"], Value::Null);
    assert_eq!(redacted["data"]["activeUser"]["name"], "Alice");
    let with_email = alice.token(&["profile:read", "profile:email"]).await;
    let shown = app.gql(Some(&with_email), "{ activeUser { email } }").await;
    assert_eq!(shown["data"]["activeUser"]["email"], "alice@example.com");
}

/// SPEC §3: a token never reads less than anonymous. Without `streams:read` it reads a public
/// stream and its commits as anyone does; a private stream and a missing one answer alike.
#[tokio::test]
async fn a_token_without_streams_read_reads_what_anonymous_reads() {
    let app = TestApp::new().await;
    let mut owner = TestUser::sign_up(&app, "Owner").await;
    let owner_token = owner.token(&["streams:read", "streams:write"]).await;
    let public = create_stream(&app, &owner_token, "Open", true).await;
    let private = create_stream(&app, &owner_token, "Closed", false).await;
    app.gql(Some(&owner_token), &commit_mutation(&public, "first")).await;
    let profile_only = owner.token(&["profile:read"]).await;
    let read = |id: &str| format!(r#"{{ stream(id: "{id}") {{ name commits {{ totalCount }} }} }}"#);

    for token in [None, Some(profile_only.as_str())] {
        let answer = app.gql(token, &read(&public)).await;
        assert_eq!(outcome(&answer), "OK", "{answer}");
        assert_eq!(answer["data"]["stream"]["name"], "Open");
        assert_eq!(answer["data"]["stream"]["commits"]["totalCount"], 1);
    }
    let private_answer = app.gql(Some(&profile_only), &read(&private)).await;
    let missing_answer = app.gql(Some(&profile_only), &read("missing123")).await;
    assert_eq!(outcome(&private_answer), "FORBIDDEN", "{private_answer}");
    assert_eq!(private_answer["errors"][0]["extensions"], missing_answer["errors"][0]["extensions"]);
    assert_eq!(private_answer["errors"][0]["message"], missing_answer["errors"][0]["message"]);
}

#[tokio::test]
async fn role_matrix_on_private_and_public_streams_in_both_vocabularies() {
    let app = TestApp::new().await;
    let scopes = ["streams:read", "streams:write", "profile:read", "users:read"];
    let mut owner = TestUser::sign_up(&app, "Owner").await;
    let mut contributor = TestUser::sign_up(&app, "Contributor").await;
    let mut reviewer = TestUser::sign_up(&app, "Reviewer").await;
    let mut stranger = TestUser::sign_up(&app, "Stranger").await;
    let extra = TestUser::sign_up(&app, "Extra").await;
    let owner_token = owner.token(&scopes).await;
    let tokens = [
        ("owner", Some(owner_token.clone())),
        ("contributor", Some(contributor.token(&scopes).await)),
        ("reviewer", Some(reviewer.token(&scopes).await)),
        ("stranger", Some(stranger.token(&scopes).await)),
        ("anonymous", None),
    ];

    for era in [Era::Streams, Era::Projects] {
        for public in [false, true] {
            let stream = create_stream(&app, &owner_token, "Roles", public).await;
            share(&app, &owner_token, &stream, &contributor.id, "stream:contributor").await;
            share(&app, &owner_token, &stream, &reviewer.id, "stream:reviewer").await;
            let main = main_model(&app, &owner_token, &stream).await;
            let hidden = if public { "FORBIDDEN" } else { "NOT_FOUND" };
            let readable = if public { "OK" } else { "NOT_FOUND" };
            // (operation, expected for owner, contributor, reviewer, stranger, anonymous)
            let table: Vec<(String, [&str; 5])> = vec![
                (era.read(&stream), ["OK", "OK", "OK", readable, readable]),
                (era.commit(&stream, &main), ["OK", "OK", "FORBIDDEN", hidden, "UNAUTHENTICATED"]),
                (era.rename(&stream), ["OK", "FORBIDDEN", "FORBIDDEN", hidden, "UNAUTHENTICATED"]),
                (
                    era.share(&stream, &extra.id, "stream:reviewer"),
                    ["OK", "FORBIDDEN", "FORBIDDEN", hidden, "UNAUTHENTICATED"],
                ),
                (
                    era.unshare(&stream, &extra.id),
                    ["OK", "FORBIDDEN", "FORBIDDEN", hidden, "UNAUTHENTICATED"],
                ),
                (era.delete(&stream), ["OK", "FORBIDDEN", "FORBIDDEN", hidden, "UNAUTHENTICATED"]),
            ];
            for (query, expected) in table {
                // The owner goes last, so a delete or revoke does not change what the others meet.
                for index in [1, 2, 3, 4, 0] {
                    let (who, token) = &tokens[index];
                    let answer = app.gql(token.as_deref(), &query).await;
                    assert_eq!(
                        outcome(&answer),
                        expected[index],
                        "{era:?}: {who} (public: {public}) {query}: {answer}"
                    );
                }
            }
        }
    }
}

#[tokio::test]
async fn sharing_rules_last_owner_and_unknown_users() {
    let app = TestApp::new().await;
    let mut alice = TestUser::sign_up(&app, "Alice").await;
    let bob = TestUser::sign_up(&app, "Bob").await;
    let token = alice.token(&["streams:read", "streams:write"]).await;
    let stream = create_stream(&app, &token, "Shared", false).await;

    let demote_self = share(&app, &token, &stream, &alice.id, "stream:contributor").await;
    assert_eq!(outcome(&demote_self), "BAD_USER_INPUT");
    assert!(demote_self["errors"][0]["message"].as_str().unwrap().contains("owner"));
    let remove_self = app
        .gql(Some(&token), &format!(r#"mutation {{ streamRevokePermission(permissionParams: {{ streamId: "{stream}", userId: "{}" }}) }}"#, alice.id))
        .await;
    assert_eq!(outcome(&remove_self), "BAD_USER_INPUT");

    assert_eq!(outcome(&share(&app, &token, &stream, "nobody-at-all", "stream:reviewer").await), "NOT_FOUND");
    let bad_role = share(&app, &token, &stream, &bob.id, "stream:admin").await;
    assert_eq!(outcome(&bad_role), "BAD_USER_INPUT");
    assert!(bad_role["errors"][0]["message"].as_str().unwrap().contains("role"));

    // With a second owner, the first may step down.
    assert_eq!(outcome(&share(&app, &token, &stream, &bob.id, "stream:owner").await), "OK");
    assert_eq!(outcome(&share(&app, &token, &stream, &alice.id, "stream:reviewer").await), "OK");
    let read = app.gql(Some(&token), &format!(r#"{{ stream(id: "{stream}") {{ role }} }}"#)).await;
    assert_eq!(read["data"]["stream"]["role"], "stream:reviewer");
    // A missing stream and an unreadable one look the same.
    let missing = app.gql(Some(&token), r#"{ stream(id: "0000000000000000") { name } }"#).await;
    assert_eq!(outcome(&missing), "NOT_FOUND");
}

#[tokio::test]
async fn minting_tokens_through_the_api() {
    let app = TestApp::new().await;
    let mut alice = TestUser::sign_up(&app, "Alice").await;
    let parent = alice.token(&["tokens:write", "profile:read", "streams:read"]).await;
    let mint = |scopes: &str, lifespan: &str| {
        format!(r#"mutation {{ apiTokenCreate(token: {{ name: "child", scopes: [{scopes}]{lifespan} }}) }}"#)
    };

    let child = app.gql(Some(&parent), &mint(r#""profile:read""#, ", lifespan: 3600000")).await;
    let child = child["data"]["apiTokenCreate"].as_str().unwrap_or_else(|| panic!("{child}")).to_owned();
    assert!(child.starts_with("spk_"));
    assert_eq!(outcome(&app.gql(Some(&child), "{ activeUser { name } }").await), "OK");

    let cases = [
        (mint(r#""users:read""#, ""), "FORBIDDEN", "users:read"),
        (mint(r#""tokens:write""#, ""), "FORBIDDEN", "tokens:write"),
        (mint(r#""profile:read", "nope:nope""#, ""), "BAD_USER_INPUT", "nope:nope"),
        (mint("", ""), "BAD_USER_INPUT", "scopes"),
        (mint(r#""profile:read""#, ", lifespan: 0"), "BAD_USER_INPUT", "lifespan"),
        (mint(r#""profile:read""#, ", lifespan: -5"), "BAD_USER_INPUT", "lifespan"),
        // The parent expires in a year; two years is longer than it lives.
        (mint(r#""profile:read""#, ", lifespan: 63072000000"), "BAD_USER_INPUT", "outlive"),
        (
            r#"mutation { apiTokenCreate(token: { name: "  ", scopes: ["profile:read"] }) }"#.into(),
            "BAD_USER_INPUT",
            "name",
        ),
    ];
    for (query, code, needle) in cases {
        let answer = app.gql(Some(&parent), &query).await;
        assert_eq!(outcome(&answer), code, "{query}: {answer}");
        assert!(answer["errors"][0]["message"].as_str().unwrap().contains(needle), "{query}: {answer}");
    }

    // Without a lifespan the child lives exactly as long as its parent.
    let inherit = app.gql(Some(&parent), &mint(r#""profile:read""#, "")).await;
    assert_eq!(outcome(&inherit), "OK");
    let listed = app
        .gql(
            Some(&alice.token(&["profile:read", "tokens:read"]).await),
            "{ user { apiTokens { name expiresAt } } }",
        )
        .await;
    let tokens = listed["data"]["user"]["apiTokens"].as_array().unwrap().clone();
    assert!(tokens.iter().all(|t| t["expiresAt"].is_string()), "{listed}");

    // A parent that never expires cannot mint a child that lives past any date we can write.
    let (_, forever) =
        alice.browser.create_token("forever", &["tokens:write", "profile:read"], "never").await;
    let answer = app.gql(Some(&forever), &mint(r#""profile:read""#, ", lifespan: 9007199254740991")).await;
    assert_eq!(outcome(&answer), "BAD_USER_INPUT", "{answer}");
    assert!(answer["errors"][0]["message"].as_str().unwrap().contains("200 years"), "{answer}");

    // Revoke by the token itself, then by id; never someone else's.
    let revoke = |token: &str| format!(r#"mutation {{ apiTokenRevoke(token: "{token}") }}"#);
    assert_eq!(outcome(&app.gql(Some(&parent), &revoke(&child)).await), "OK");
    assert_invalid_token(&app.graphql(&child, "{ activeUser { name } }").await);
    let mut bob = TestUser::sign_up(&app, "Bob").await;
    let (bob_token_id, bob_secret) = bob.browser.create_token("bob's", &["profile:read"], "30").await;
    assert_eq!(outcome(&app.gql(Some(&parent), &revoke(&bob_token_id)).await), "NOT_FOUND");
    assert_eq!(outcome(&app.gql(Some(&parent), &revoke(&bob_secret)).await), "NOT_FOUND");
    assert_eq!(outcome(&app.gql(Some(&bob_secret), "{ activeUser { name } }").await), "OK");
    let (own_id, own_secret) = alice.browser.create_token("mine", &["profile:read"], "30").await;
    assert_eq!(outcome(&app.gql(Some(&parent), &revoke(&own_id)).await), "OK");
    assert_invalid_token(&app.graphql(&own_secret, "{ activeUser { name } }").await);
}

#[tokio::test]
async fn at_most_500_live_tokens_per_user() {
    let app = TestApp::new().await;
    let mut alice = TestUser::sign_up(&app, "Alice").await;
    let parent = alice.token(&["tokens:write", "profile:read"]).await;
    let mut conn = app.state.db.get().await.unwrap();
    let live_now = 2; // "whoami" and the parent
    for _ in live_now..500 {
        let new = speckle_tokens::server::domain::tokens::NewToken {
            name: "bulk",
            description: None,
            scopes: speckle_tokens::rules::scopes::ScopeSet::from_names("profile:read").unwrap(),
            expires_at: None,
            streams: None,
        };
        speckle_tokens::server::domain::tokens::create(
            &mut conn,
            &alice.id.as_str().into(),
            new,
            &Default::default(),
        )
        .await
        .unwrap();
    }
    let answer = app
        .gql(
            Some(&parent),
            r#"mutation { apiTokenCreate(token: { name: "501st", scopes: ["profile:read"] }) }"#,
        )
        .await;
    assert_eq!(outcome(&answer), "BAD_USER_INPUT", "{answer}");
    assert!(answer["errors"][0]["message"].as_str().unwrap().contains("500"));
    let response = alice.browser.call("create_token", &token_form("501st", &["profile:read"], "30")).await;
    assert!(response.body.contains("500"), "{}", response.body);
}

#[tokio::test]
async fn sixty_commits_in_pages_of_25_none_missing_or_repeated_while_more_arrive() {
    let app = TestApp::new().await;
    let mut alice = TestUser::sign_up(&app, "Alice").await;
    let token = alice.token(&["streams:read", "streams:write"]).await;
    let stream = create_stream(&app, &token, "Busy", false).await;
    let mut original = Vec::new();
    for i in 0..60 {
        let answer = app.gql(Some(&token), &commit_mutation(&stream, &format!("c{i}"))).await;
        original.push(answer["data"]["commitCreate"].as_str().unwrap().to_owned());
    }

    let mut seen: Vec<String> = Vec::new();
    let mut times = Vec::new();
    let mut cursor: Option<String> = None;
    let mut pages = 0;
    loop {
        let after = cursor.as_ref().map(|c| format!(r#", cursor: "{c}""#)).unwrap_or_default();
        let answer = app
            .gql(Some(&token), &format!(r#"{{ stream(id: "{stream}") {{ commits(limit: 25{after}) {{ totalCount cursor items {{ id createdAt }} }} }} }}"#))
            .await;
        let commits = &answer["data"]["stream"]["commits"];
        for item in commits["items"].as_array().unwrap() {
            seen.push(item["id"].as_str().unwrap().to_owned());
            let created = item["createdAt"].as_str().unwrap();
            times.push(
                time::OffsetDateTime::parse(created, &time::format_description::well_known::Rfc3339).unwrap(),
            );
        }
        pages += 1;
        // New commits keep arriving between pages; they are newer, so they never shift a page.
        app.gql(Some(&token), &commit_mutation(&stream, &format!("late{pages}"))).await;
        match commits["cursor"].as_str() {
            Some(next) => cursor = Some(next.to_owned()),
            None => break,
        }
    }
    assert_eq!(pages, 3);
    // Newest first; commits made within the same millisecond come in the order of their ids.
    assert!(times.windows(2).all(|pair| pair[0] >= pair[1]), "newest first: {times:?}");
    let mut expected = original.clone();
    expected.sort();
    seen.sort();
    assert_eq!(seen, expected, "every original commit exactly once");
}

#[tokio::test]
async fn bad_input_is_refused_with_a_message_naming_the_field() {
    let app = TestApp::new().await;
    let mut alice = TestUser::sign_up(&app, "Alice").await;
    let token = alice.token(&["streams:read", "streams:write", "users:read"]).await;
    let stream = create_stream(&app, &token, "Input", false).await;
    let long_name = "n".repeat(513);
    let long_message = "m".repeat(64 * 1024 + 1);
    let cases = [
        (r#"mutation { streamCreate(stream: { name: "" }) }"#.to_owned(), "name"),
        (r#"mutation { streamCreate(stream: { description: "no name" }) }"#.to_owned(), "name"),
        (format!(r#"mutation {{ streamCreate(stream: {{ name: "{long_name}" }}) }}"#), "name"),
        (format!(r#"mutation {{ streamUpdate(stream: {{ id: "{stream}", name: "  " }}) }}"#), "name"),
        (commit_mutation(&stream, &long_message), "message"),
        (
            format!(r#"mutation {{ commitCreate(commit: {{ streamId: "{stream}", objectId: "" }}) }}"#),
            "objectId",
        ),
        ("{ streams(limit: -1) { totalCount } }".to_owned(), "limit"),
        ("{ streams(limit: 101) { totalCount } }".to_owned(), "limit"),
        (r#"{ streams(cursor: "garbage") { totalCount } }"#.to_owned(), "cursor"),
        (format!(r#"{{ stream(id: "{stream}") {{ commits(cursor: "1_!!") {{ totalCount }} }} }}"#), "cursor"),
    ];
    for (query, field) in cases {
        let answer = app.gql(Some(&token), &query).await;
        assert_eq!(outcome(&answer), "BAD_USER_INPUT", "{}: {answer}", &query[..query.len().min(80)]);
        let message = answer["errors"][0]["message"].as_str().unwrap();
        assert!(message.contains(field), "{field}: {message}");
    }
    // Queries the engine refuses before running them are HTTP 400, with the same code.
    for (query, field) in
        [(r#"{ streams(limit: "ten") { totalCount } }"#, "limit"), ("{ nonsense }", "nonsense")]
    {
        let response = app.graphql(&token, query).await;
        assert_eq!(response.status, axum::http::StatusCode::BAD_REQUEST, "{query}");
        assert_eq!(outcome(&response.json()), "BAD_USER_INPUT");
        assert!(response.json()["errors"][0]["message"].as_str().unwrap().contains(field));
    }
    // Nothing was created by the refused mutations.
    let count = app.gql(Some(&token), "{ streams { totalCount } }").await;
    assert_eq!(count["data"]["streams"]["totalCount"], 1);
}

#[tokio::test]
async fn the_streams_page_shows_what_a_token_did() {
    let app = TestApp::new().await;
    let mut alice = TestUser::sign_up(&app, "Alice").await;
    let token = alice.token(&["streams:write"]).await;
    let stream = create_stream(&app, &token, "Made by a script", true).await;
    app.gql(Some(&token), &commit_mutation(&stream, "from the script")).await;

    let page = alice.browser.get("/streams").await;
    assert!(page.body.contains("Made by a script"), "{}", page.body);
    assert!(page.body.contains("stream:owner"));
    let detail = alice.browser.get(&format!("/streams/{stream}")).await;
    assert!(detail.body.contains("from the script"));
    assert!(detail.body.contains("Alice"));
}

#[tokio::test]
async fn stream_counts_follow_every_change_to_streams_and_roles() {
    // Counts are cached between writes (SQLite): each write must show on the next request.
    let app = TestApp::new().await;
    let mut alice = TestUser::sign_up(&app, "Alice").await;
    let mut bob = TestUser::sign_up(&app, "Bob").await;
    let alice_token = alice.token(&["profile:read", "streams:read", "streams:write", "users:read"]).await;
    let bob_token = bob.token(&["profile:read", "streams:read"]).await;
    let own_count = |token: String| {
        let app = &app;
        async move {
            app.gql(Some(&token), "{ user { streams { totalCount } } }").await["data"]["user"]["streams"]
                ["totalCount"]
                .clone()
        }
    };
    let bobs_public = format!(r#"{{ user(id: "{}") {{ streams {{ totalCount }} }} }}"#, bob.id);
    let bobs_public_count = || async {
        app.gql(Some(&alice_token), &bobs_public).await["data"]["user"]["streams"]["totalCount"].clone()
    };

    assert_eq!(own_count(alice_token.clone()).await, 0);
    let stream = create_stream(&app, &alice_token, "Counted", false).await;
    assert_eq!(own_count(alice_token.clone()).await, 1);

    assert_eq!(own_count(bob_token.clone()).await, 0);
    assert_eq!(bobs_public_count().await, 0);
    assert_eq!(outcome(&share(&app, &alice_token, &stream, &bob.id, "stream:reviewer").await), "OK");
    assert_eq!(own_count(bob_token.clone()).await, 1);
    assert_eq!(bobs_public_count().await, 0, "private streams are not counted for others");

    let publish = format!(r#"mutation {{ streamUpdate(stream: {{ id: "{stream}", isPublic: true }}) }}"#);
    assert_eq!(outcome(&app.gql(Some(&alice_token), &publish).await), "OK");
    assert_eq!(bobs_public_count().await, 1);

    let revoke = format!(
        r#"mutation {{ streamRevokePermission(permissionParams: {{ streamId: "{stream}", userId: "{}" }}) }}"#,
        bob.id
    );
    assert_eq!(outcome(&app.gql(Some(&alice_token), &revoke).await), "OK");
    assert_eq!(own_count(bob_token.clone()).await, 0);

    let delete = format!(r#"mutation {{ streamDelete(id: "{stream}") }}"#);
    assert_eq!(outcome(&app.gql(Some(&alice_token), &delete).await), "OK");
    assert_eq!(own_count(alice_token.clone()).await, 0);
}

#[tokio::test]
async fn another_users_streams_show_the_callers_role_not_theirs() {
    let app = TestApp::new().await;
    let mut alice = TestUser::sign_up(&app, "Alice").await;
    let mut bob = TestUser::sign_up(&app, "Bob").await;
    let mut carol = TestUser::sign_up(&app, "Carol").await;
    let alice_writes = alice.token(&["streams:write", "streams:read"]).await;
    let stream = create_stream(&app, &alice_writes, "Shared", true).await;
    share(&app, &alice_writes, &stream, &bob.id, "stream:reviewer").await;

    let query = "query($id: String!) { otherUser(id: $id) { streams { items { id role } } } }";
    let id = serde_json::json!({ "id": alice.id });
    let bob_reads = bob.token(&["users:read", "streams:read"]).await;
    let as_bob = app.gql_vars(Some(&bob_reads), query, id.clone()).await;
    assert_eq!(as_bob["data"]["otherUser"]["streams"]["items"][0]["role"], "stream:reviewer", "{as_bob}");
    let carol_reads = carol.token(&["users:read", "streams:read"]).await;
    let as_carol = app.gql_vars(Some(&carol_reads), query, id).await;
    assert_eq!(as_carol["data"]["otherUser"]["streams"]["items"][0]["id"], stream.as_str(), "{as_carol}");
    assert!(as_carol["data"]["otherUser"]["streams"]["items"][0]["role"].is_null(), "{as_carol}");
}

#[tokio::test]
async fn favourites_are_each_users_own_and_counted_on_the_stream() {
    let app = TestApp::new().await;
    let mut alice = TestUser::sign_up(&app, "Alice").await;
    let mut bob = TestUser::sign_up(&app, "Bob").await;
    let alice_token = alice.token(&["streams:read", "streams:write", "profile:read"]).await;
    let bob_token = bob.token(&["streams:read", "profile:read"]).await;
    let open = create_stream(&app, &alice_token, "Open", true).await;
    let closed = create_stream(&app, &alice_token, "Closed", false).await;
    let mark = |stream: &str, on: bool| {
        format!(
            r#"mutation {{ streamFavorite(streamId: "{stream}", favorited: {on}) {{ id favoritedDate favoritesCount }} }}"#
        )
    };

    let hers = app.gql(Some(&alice_token), &mark(&open, true)).await;
    assert_eq!(hers["data"]["streamFavorite"]["favoritesCount"], 1, "{hers}");
    assert!(hers["data"]["streamFavorite"]["favoritedDate"].is_string(), "{hers}");
    let his = app.gql(Some(&bob_token), &mark(&open, true)).await;
    assert_eq!(his["data"]["streamFavorite"]["favoritesCount"], 2, "{his}");
    let again = app.gql(Some(&bob_token), &mark(&open, true)).await;
    assert_eq!(again["data"]["streamFavorite"]["favoritesCount"], 2, "marking twice is once: {again}");
    let hidden = app.gql(Some(&bob_token), &mark(&closed, true)).await;
    assert_eq!(outcome(&hidden), "NOT_FOUND", "{hidden}");

    let list = "{ activeUser { favoriteStreams { totalCount items { name role } } } }";
    let bobs = app.gql(Some(&bob_token), list).await;
    assert_eq!(
        bobs["data"]["activeUser"]["favoriteStreams"],
        serde_json::json!({ "totalCount": 1, "items": [{ "name": "Open", "role": null }] }),
        "{bobs}"
    );
    let owned = app.gql(Some(&alice_token), "{ activeUser { totalOwnedStreamsFavorites } }").await;
    assert_eq!(owned["data"]["activeUser"]["totalOwnedStreamsFavorites"], 2, "{owned}");

    let unmarked = app.gql(Some(&alice_token), &mark(&open, false)).await;
    assert_eq!(unmarked["data"]["streamFavorite"]["favoritedDate"], Value::Null, "{unmarked}");
    assert_eq!(unmarked["data"]["streamFavorite"]["favoritesCount"], 1);
    // A stream Bob can no longer read leaves his list.
    let private = format!(r#"mutation {{ streamUpdate(stream: {{ id: "{open}", isPublic: false }}) }}"#);
    assert_eq!(outcome(&app.gql(Some(&alice_token), &private).await), "OK");
    let bobs = app.gql(Some(&bob_token), list).await;
    assert_eq!(bobs["data"]["activeUser"]["favoriteStreams"]["totalCount"], 0, "{bobs}");
}
