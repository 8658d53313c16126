//! Invitations (SPEC §10), in both vocabularies from one story: an owner invites, the invitee
//! accepts or declines, an owner cancels; who may do which, with which scope; invitations
//! expire after 30 days and an owner sends at most 100 a day.

use crate::common::*;
use serde_json::Value;

const OWNER_SCOPES: [&str; 5] =
    ["streams:read", "streams:write", "users:read", "users:invite", "profile:read"];
const INVITEE_SCOPES: [&str; 4] = ["streams:read", "streams:write", "profile:read", "profile:write"];

fn the(answer: &Value) -> &Value {
    assert_eq!(outcome(answer), "OK", "{answer}");
    answer
}

#[tokio::test]
async fn invitations_are_sent_accepted_declined_and_cancelled_in_both_vocabularies() {
    let app = TestApp::new().await;
    let mut owner = TestUser::sign_up(&app, "Owner").await;
    let mut bob = TestUser::sign_up(&app, "Bob").await;
    let mut carol = TestUser::sign_up(&app, "Carol").await;
    let owner_token = owner.token(&OWNER_SCOPES).await;
    let bob_token = bob.token(&INVITEE_SCOPES).await;
    let carol_token = carol.token(&INVITEE_SCOPES).await;

    for era in [Era::Streams, Era::Projects] {
        let stream = create_stream(&app, &owner_token, "Canal", false).await;
        let declined = create_stream(&app, &owner_token, "Dock", false).await;
        the(&app
            .gql(
                Some(&owner_token),
                &era.invite(&stream, &format!(r#"userId: "{}""#, bob.id), "stream:reviewer"),
            )
            .await);
        the(&app
            .gql(
                Some(&owner_token),
                &era.invite(&declined, r#"email: "BOB@example.com""#, "stream:contributor"),
            )
            .await);
        let twice = app
            .gql(Some(&owner_token), &era.invite(&stream, r#"email: "bob@example.com""#, "stream:owner"))
            .await;
        assert_eq!(outcome(&twice), "BAD_USER_INPUT", "{era:?}: {twice}");

        // The owner sees whom they invited, never a token to answer with.
        let invited = the(&app.gql(Some(&owner_token), &era.invited(&stream)).await).clone();
        let list = &invited["data"]["stream"]["list"];
        assert_eq!(list[0]["title"], "Bob", "{era:?}: {invited}");
        assert_eq!(list[0]["token"], Value::Null);

        // Bob sees both, answers each; Carol cannot answer Bob's.
        let mine = era.invitations(the(&app.gql(Some(&bob_token), era.my_invitations()).await));
        assert_eq!(mine.len(), 2, "{era:?}: {mine:?}");
        let token_for = |id: &str| -> String {
            let invite =
                mine.iter().find(|invite| invite["streamId"] == id).unwrap_or_else(|| panic!("{mine:?}"));
            assert_eq!(invite["invitedBy"]["name"], "Owner");
            invite["token"].as_str().unwrap().to_owned()
        };
        let (to_accept, to_decline) = (token_for(&stream), token_for(&declined));
        let not_hers = app.gql(Some(&carol_token), &era.answer(&stream, &to_accept, true)).await;
        assert_eq!(outcome(&not_hers), "NOT_FOUND", "{era:?}: {not_hers}");
        the(&app.gql(Some(&bob_token), &era.answer(&stream, &to_accept, true)).await);
        the(&app.gql(Some(&bob_token), &era.answer(&declined, &to_decline, false)).await);
        let again = app.gql(Some(&bob_token), &era.answer(&stream, &to_accept, true)).await;
        assert_eq!(outcome(&again), "NOT_FOUND", "{era:?}: answered once: {again}");
        let role = app.gql(Some(&bob_token), &format!(r#"{{ stream(id: "{stream}") {{ role }} }}"#)).await;
        assert_eq!(role["data"]["stream"]["role"], "stream:reviewer", "{era:?}: {role}");
        let dock = app.gql(Some(&bob_token), &format!(r#"{{ stream(id: "{declined}") {{ role }} }}"#)).await;
        assert_eq!(outcome(&dock), "NOT_FOUND", "{era:?}: {dock}");
        assert!(era.invitations(&app.gql(Some(&bob_token), era.my_invitations()).await).is_empty());

        // An owner cancels; the invitee then has nothing to answer.
        the(&app
            .gql(
                Some(&owner_token),
                &era.invite(&declined, &format!(r#"userId: "{}""#, carol.id), "stream:reviewer"),
            )
            .await);
        let invited = app.gql(Some(&owner_token), &era.invited(&declined)).await;
        let invite_id = invited["data"]["stream"]["list"][0]["inviteId"]
            .as_str()
            .unwrap_or_else(|| panic!("{invited}"))
            .to_owned();
        let hers = era.invitations(&app.gql(Some(&carol_token), era.my_invitations()).await);
        let her_token = hers[0]["token"].as_str().unwrap().to_owned();
        the(&app.gql(Some(&owner_token), &era.cancel(&declined, &invite_id)).await);
        let late = app.gql(Some(&carol_token), &era.answer(&declined, &her_token, true)).await;
        assert_eq!(outcome(&late), "NOT_FOUND", "{era:?}: {late}");
    }
}

#[tokio::test]
async fn only_owners_invite_and_cancel_with_users_invite() {
    let app = TestApp::new().await;
    let mut owner = TestUser::sign_up(&app, "Owner").await;
    let mut contributor = TestUser::sign_up(&app, "Contributor").await;
    let bob = TestUser::sign_up(&app, "Bob").await;
    let owner_token = owner.token(&OWNER_SCOPES).await;
    let without_invite = owner.token(&["streams:read", "streams:write", "users:read"]).await;
    let contributor_token = contributor.token(&OWNER_SCOPES).await;
    let stream = create_stream(&app, &owner_token, "Rules", false).await;
    the(&app
        .gql(Some(&owner_token), &Era::Streams.share(&stream, &contributor.id, "stream:contributor"))
        .await);
    let whom = format!(r#"userId: "{}""#, bob.id);

    for era in [Era::Streams, Era::Projects] {
        let scope = app.gql(Some(&without_invite), &era.invite(&stream, &whom, "stream:reviewer")).await;
        assert_eq!(outcome(&scope), "FORBIDDEN", "{era:?}: {scope}");
        assert!(scope["errors"][0]["message"].as_str().unwrap().contains("users:invite"), "{scope}");
        let role = app.gql(Some(&contributor_token), &era.invite(&stream, &whom, "stream:reviewer")).await;
        assert_eq!(outcome(&role), "FORBIDDEN", "{era:?}: {role}");
        let anonymous = app.gql(None, &era.invite(&stream, &whom, "stream:reviewer")).await;
        assert_eq!(outcome(&anonymous), "UNAUTHENTICATED", "{era:?}: {anonymous}");
        let bad_role = app.gql(Some(&owner_token), &era.invite(&stream, &whom, "stream:admin")).await;
        assert_eq!(outcome(&bad_role), "BAD_USER_INPUT", "{era:?}: {bad_role}");
        let nobody =
            app.gql(Some(&owner_token), &era.invite(&stream, r#"userId: "nobody""#, "stream:reviewer")).await;
        assert_eq!(outcome(&nobody), "NOT_FOUND", "{era:?}: {nobody}");
        let collaborator = format!(r#"userId: "{}""#, contributor.id);
        let already =
            app.gql(Some(&owner_token), &era.invite(&stream, &collaborator, "stream:reviewer")).await;
        assert_eq!(outcome(&already), "BAD_USER_INPUT", "{era:?}: {already}");
        let not_an_email = app
            .gql(Some(&owner_token), &era.invite(&stream, r#"email: "bob at example""#, "stream:reviewer"))
            .await;
        assert_eq!(outcome(&not_an_email), "BAD_USER_INPUT", "{era:?}: {not_an_email}");
    }
    // Only owners see who is invited (the addresses); nothing was sent by the refusals above.
    for era in [Era::Streams, Era::Projects] {
        let hidden = app.gql(Some(&contributor_token), &era.invited(&stream)).await;
        assert_eq!(outcome(&hidden), "FORBIDDEN", "{era:?}: {hidden}");
        let invited = app.gql(Some(&owner_token), &era.invited(&stream)).await;
        assert_eq!(invited["data"]["stream"]["list"], serde_json::json!([]), "{era:?}: {invited}");
    }
}

#[tokio::test]
async fn invitations_expire_after_30_days_and_an_owner_sends_at_most_100_a_day() {
    let app = TestApp::new().await;
    let mut owner = TestUser::sign_up(&app, "Owner").await;
    let mut bob = TestUser::sign_up(&app, "Bob").await;
    let owner_token = owner.token(&OWNER_SCOPES).await;
    let bob_token = bob.token(&INVITEE_SCOPES).await;
    let stream = create_stream(&app, &owner_token, "Busy", false).await;

    the(&app
        .gql(
            Some(&owner_token),
            &Era::Streams.invite(&stream, &format!(r#"userId: "{}""#, bob.id), "stream:reviewer"),
        )
        .await);
    let token = Era::Streams.invitations(&app.gql(Some(&bob_token), Era::Streams.my_invitations()).await)[0]
        ["token"]
        .as_str()
        .unwrap()
        .to_owned();
    app.advance(std::time::Duration::from_secs(30 * 24 * 3600 + 60));
    assert!(Era::Streams
        .invitations(&app.gql(Some(&bob_token), Era::Streams.my_invitations()).await)
        .is_empty());
    let expired = app.gql(Some(&bob_token), &Era::Streams.answer(&stream, &token, true)).await;
    assert_eq!(outcome(&expired), "NOT_FOUND", "{expired}");

    // A hundred today in one batch (Bob's was a month ago), then one too many.
    let batch: Vec<String> = (0..100).map(|i| format!(r#"{{ email: "guest{i}@example.com" }}"#)).collect();
    let send = format!(
        r#"mutation {{ projectMutations {{ invites {{ batchCreate(projectId: "{stream}", input: [{}]) {{ id }} }} }} }}"#,
        batch.join(", ")
    );
    the(&app.gql(Some(&owner_token), &send).await);
    let one_more = app
        .gql(
            Some(&owner_token),
            &Era::Streams.invite(&stream, r#"email: "late@example.com""#, "stream:reviewer"),
        )
        .await;
    assert_eq!(outcome(&one_more), "BAD_USER_INPUT", "{one_more}");
    assert!(one_more["errors"][0]["message"].as_str().unwrap().contains("100 invitations"), "{one_more}");
    app.advance(std::time::Duration::from_secs(24 * 3600 + 60));
    the(&app
        .gql(
            Some(&owner_token),
            &Era::Streams.invite(&stream, r#"email: "late@example.com""#, "stream:reviewer"),
        )
        .await);
}
