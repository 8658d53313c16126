//! The project era (SPEC §10): projects, models and versions are the streams, branches and
//! commits of the stream era, read and written through Speckle's newer names. The rules both
//! eras share (scopes, roles) are checked in both by `api::role_matrix…`; here, what is the
//! project era's own, and that each era reads what the other wrote.

use crate::common::*;
use serde_json::{json, Value};

/// Runs a project-era document with variables, as specklepy 2026 sends it.
async fn run(app: &TestApp, token: &str, query: &str, variables: Value) -> Value {
    app.gql_vars(Some(token), query, variables).await
}

const CREATE_PROJECT: &str = "mutation ($input: ProjectCreateInput) { projectMutations { create(input: $input) { id name visibility role models { totalCount items { name } } } } }";
const CREATE_MODEL: &str = "mutation ($input: CreateModelInput!) { modelMutations { create(input: $input) { id name displayName description author { name } } } }";
const CREATE_VERSION: &str = "mutation ($input: CreateVersionInput!) { versionMutations { create(input: $input) { id message sourceApplication previewUrl authorUser { name } model { name } } } }";

async fn new_project(app: &TestApp, token: &str, name: &str) -> String {
    let input = json!({ "input": { "name": name, "description": null, "visibility": "PRIVATE" } });
    let answer = run(app, token, CREATE_PROJECT, input).await;
    answer["data"]["projectMutations"]["create"]["id"]
        .as_str()
        .unwrap_or_else(|| panic!("{answer}"))
        .to_owned()
}

async fn new_version(app: &TestApp, token: &str, project: &str, model: &str, message: &str) -> Value {
    let input = json!({ "input": {
        "projectId": project, "modelId": model, "objectId": "0123456789abcdef", "message": message,
        "sourceApplication": "py", "totalChildrenCount": null, "parents": null,
    } });
    run(app, token, CREATE_VERSION, input).await
}

fn version_id(answer: &Value) -> String {
    answer["data"]["versionMutations"]["create"]["id"]
        .as_str()
        .unwrap_or_else(|| panic!("{answer}"))
        .to_owned()
}

#[tokio::test]
async fn what_one_era_writes_the_other_reads_at_once() {
    let app = TestApp::new().await;
    let mut alice = TestUser::sign_up(&app, "Alice").await;
    let token = alice.token(&["streams:read", "streams:write", "profile:read", "users:read"]).await;

    // A project is a stream, with its `main` model.
    let created =
        run(&app, &token, CREATE_PROJECT, json!({ "input": { "name": "Tower", "visibility": "PUBLIC" } }))
            .await;
    let project = &created["data"]["projectMutations"]["create"];
    assert_eq!(project["visibility"], "PUBLIC", "{created}");
    assert_eq!(project["role"], "stream:owner");
    assert_eq!(project["models"]["items"][0]["name"], "main");
    let id = project["id"].as_str().unwrap();
    let stream = app
        .gql(
            Some(&token),
            &format!(r#"{{ stream(id: "{id}") {{ name isPublic branches {{ totalCount }} }} }}"#),
        )
        .await;
    assert_eq!(
        stream["data"]["stream"],
        json!({ "name": "Tower", "isPublic": true, "branches": { "totalCount": 1 } })
    );

    // A commit of the stream era is a version of the model, and the other way round.
    let commit = app.gql(Some(&token), &format!(r#"mutation {{ commitCreate(commit: {{ streamId: "{id}", branchName: "main", objectId: "abc", message: "from 2.x", sourceApplication: "rhino" }}) }}"#)).await;
    let commit_id = commit["data"]["commitCreate"].as_str().unwrap_or_else(|| panic!("{commit}")).to_owned();
    let main = main_model(&app, &token, id).await;
    let version = new_version(&app, &token, id, &main, "from 2026").await;
    let made = &version["data"]["versionMutations"]["create"];
    assert_eq!(made["authorUser"]["name"], "Alice", "{version}");
    assert_eq!(made["model"]["name"], "main");
    assert!(made["previewUrl"].as_str().is_some_and(|url| !url.is_empty()));
    let read = app
        .gql(Some(&token), &format!(r#"{{ project(id: "{id}") {{ sourceApps model(id: "{main}") {{ versions {{ totalCount items {{ id message }} }} }} version(id: "{commit_id}") {{ message model {{ id }} }} }} }}"#))
        .await;
    let project = &read["data"]["project"];
    assert_eq!(project["sourceApps"], json!(["py", "rhino"]), "{read}");
    assert_eq!(project["model"]["versions"]["totalCount"], 2);
    assert_eq!(project["model"]["versions"]["items"][0]["message"], "from 2026");
    assert_eq!(project["version"]["model"]["id"], main.as_str());
    let commits = app
        .gql(Some(&token), &format!(r#"{{ stream(id: "{id}") {{ commits {{ items {{ message }} }} }} }}"#))
        .await;
    assert_eq!(commits["data"]["stream"]["commits"]["items"][0]["message"], "from 2026");

    // Both eras list the same projects for the user.
    let listed = app
        .gql(
            Some(&token),
            "{ activeUser { projects { totalCount items { id role } } streams { totalCount } } }",
        )
        .await;
    assert_eq!(listed["data"]["activeUser"]["projects"]["totalCount"], 1, "{listed}");
    assert_eq!(listed["data"]["activeUser"]["streams"]["totalCount"], 1);
    assert_eq!(listed["data"]["activeUser"]["projects"]["items"][0]["id"], id);
}

#[tokio::test]
async fn models_are_branches_with_speckle_names() {
    let app = TestApp::new().await;
    let mut alice = TestUser::sign_up(&app, "Alice").await;
    let token = alice.token(&["streams:read", "streams:write", "users:read"]).await;
    let project = new_project(&app, &token, "Site").await;

    let input =
        json!({ "input": { "projectId": project, "name": "Structure/Level 1", "description": "slabs" } });
    let created = run(&app, &token, CREATE_MODEL, input).await;
    let model = &created["data"]["modelMutations"]["create"];
    assert_eq!(model["name"], "structure/level 1", "{created}");
    assert_eq!(model["displayName"], "level 1");
    assert_eq!(model["author"]["name"], "Alice");
    let model_id = model["id"].as_str().unwrap().to_owned();
    let taken = run(
        &app,
        &token,
        CREATE_MODEL,
        json!({ "input": { "projectId": project, "name": "STRUCTURE/level 1" } }),
    )
    .await;
    assert_eq!(outcome(&taken), "BAD_USER_INPUT", "{taken}");

    // A null leaves a field as it is; a name changes.
    let update = "mutation ($input: UpdateModelInput!) { modelMutations { update(input: $input) { name description } } }";
    let kept = run(
        &app,
        &token,
        update,
        json!({ "input": { "projectId": project, "id": model_id, "name": null, "description": null } }),
    )
    .await;
    assert_eq!(
        kept["data"]["modelMutations"]["update"],
        json!({ "name": "structure/level 1", "description": "slabs" }),
        "{kept}"
    );
    let renamed = run(&app, &token, update, json!({ "input": { "projectId": project, "id": model_id, "name": "structure/level 2", "description": null } })).await;
    assert_eq!(renamed["data"]["modelMutations"]["update"]["name"], "structure/level 2", "{renamed}");

    // The filter: by name, with versions only, by id.
    new_version(&app, &token, &project, &model_id, "slab").await;
    let models = "query ($id: String!, $filter: ProjectModelsFilter) { project(id: $id) { models(limit: 10, filter: $filter) { totalCount items { name } } } }";
    let names = |answer: &Value| -> Vec<String> {
        answer["data"]["project"]["models"]["items"]
            .as_array()
            .unwrap_or_else(|| panic!("{answer}"))
            .iter()
            .map(|m| m["name"].as_str().unwrap().to_owned())
            .collect()
    };
    let all = run(&app, &token, models, json!({ "id": project, "filter": null })).await;
    assert_eq!(names(&all), ["main", "structure/level 2"]);
    let searched = run(&app, &token, models, json!({ "id": project, "filter": { "search": "LEVEL" } })).await;
    assert_eq!(names(&searched), ["structure/level 2"]);
    let with_versions = run(
        &app,
        &token,
        models,
        json!({ "id": project, "filter": { "onlyWithVersions": true, "sourceApps": ["py"] } }),
    )
    .await;
    assert_eq!(names(&with_versions), ["structure/level 2"]);
    let excluded =
        run(&app, &token, models, json!({ "id": project, "filter": { "excludeIds": [model_id] } })).await;
    assert_eq!(names(&excluded), ["main"]);

    // `main` stays; another model goes with its versions.
    let main = main_model(&app, &token, &project).await;
    let delete = "mutation ($input: DeleteModelInput!) { modelMutations { delete(input: $input) } }";
    let refused = run(&app, &token, delete, json!({ "input": { "projectId": project, "id": main } })).await;
    assert_eq!(outcome(&refused), "BAD_USER_INPUT", "{refused}");
    let deleted =
        run(&app, &token, delete, json!({ "input": { "projectId": project, "id": model_id } })).await;
    assert_eq!(deleted["data"]["modelMutations"]["delete"], true, "{deleted}");
    let after = run(&app, &token, models, json!({ "id": project, "filter": null })).await;
    assert_eq!(names(&after), ["main"]);
}

#[tokio::test]
async fn versions_move_and_go_all_or_none() {
    let app = TestApp::new().await;
    let scopes = ["streams:read", "streams:write", "users:read"];
    let mut owner = TestUser::sign_up(&app, "Owner").await;
    let mut contributor = TestUser::sign_up(&app, "Contributor").await;
    let owner_token = owner.token(&scopes).await;
    let contributor_token = contributor.token(&scopes).await;
    let project = new_project(&app, &owner_token, "Moves").await;
    app.gql(Some(&owner_token), &Era::Projects.share(&project, &contributor.id, "stream:contributor")).await;
    let main = main_model(&app, &owner_token, &project).await;
    let owners = version_id(&new_version(&app, &owner_token, &project, &main, "by the owner").await);
    let theirs =
        version_id(&new_version(&app, &contributor_token, &project, &main, "by the contributor").await);

    // A contributor moves their own version; with the owner's among them, nothing moves.
    let mv = "mutation ($input: MoveVersionsInput!) { versionMutations { moveToModel(input: $input) { id name } } }";
    let both = json!({ "input": { "projectId": project, "versionIds": [theirs, owners], "targetModelName": "Drafts" } });
    let refused = run(&app, &contributor_token, mv, both.clone()).await;
    assert_eq!(outcome(&refused), "FORBIDDEN", "{refused}");
    let moved = run(
        &app,
        &contributor_token,
        mv,
        json!({ "input": { "projectId": project, "versionIds": [theirs], "targetModelName": "Drafts" } }),
    )
    .await;
    let target = &moved["data"]["versionMutations"]["moveToModel"];
    assert_eq!(target["name"], "drafts", "{moved}");
    let target_id = target["id"].as_str().unwrap().to_owned();
    let counts = format!(
        r#"{{ project(id: "{project}") {{ main: model(id: "{main}") {{ versions {{ totalCount }} }} drafts: model(id: "{target_id}") {{ versions {{ totalCount items {{ id }} }} }} }} }}"#
    );
    let read = app.gql(Some(&owner_token), &counts).await;
    assert_eq!(read["data"]["project"]["main"]["versions"]["totalCount"], 1, "{read}");
    assert_eq!(read["data"]["project"]["drafts"]["versions"]["items"][0]["id"], theirs.as_str());
    // An unknown version id among them is not found; nothing moves.
    let unknown = run(&app, &owner_token, mv, json!({ "input": { "projectId": project, "versionIds": [owners, "nope"], "targetModelName": "main" } })).await;
    assert_eq!(outcome(&unknown), "NOT_FOUND", "{unknown}");

    // A null message changes nothing; a message changes.
    let update =
        "mutation ($input: UpdateVersionInput!) { versionMutations { update(input: $input) { message } } }";
    let kept = run(
        &app,
        &owner_token,
        update,
        json!({ "input": { "projectId": project, "versionId": owners, "message": null } }),
    )
    .await;
    assert_eq!(kept["data"]["versionMutations"]["update"]["message"], "by the owner", "{kept}");
    let changed = run(
        &app,
        &contributor_token,
        update,
        json!({ "input": { "projectId": project, "versionId": owners, "message": "mine now" } }),
    )
    .await;
    assert_eq!(outcome(&changed), "FORBIDDEN", "{changed}");

    // Priority ids lead the first page.
    let newest = version_id(&new_version(&app, &owner_token, &project, &main, "newest").await);
    let listed = run(&app, &owner_token, "query ($p: String!, $m: String!, $f: ModelVersionsFilter) { project(id: $p) { model(id: $m) { versions(limit: 1, filter: $f) { totalCount items { id } } } } }", json!({ "p": project, "m": main, "f": { "priorityIds": [owners], "priorityIdsOnly": null } })).await;
    let versions = &listed["data"]["project"]["model"]["versions"];
    assert_eq!(versions["items"], json!([{ "id": owners }]), "{listed}");
    assert_eq!(versions["totalCount"], 2);
    assert_ne!(owners, newest);

    // Deleting: the contributor may not take the owner's version, so neither goes.
    let delete = "mutation ($input: DeleteVersionsInput!) { versionMutations { delete(input: $input) } }";
    let refused = run(
        &app,
        &contributor_token,
        delete,
        json!({ "input": { "projectId": project, "versionIds": [theirs, owners] } }),
    )
    .await;
    assert_eq!(outcome(&refused), "FORBIDDEN", "{refused}");
    let deleted = run(
        &app,
        &owner_token,
        delete,
        json!({ "input": { "projectId": project, "versionIds": [theirs, owners] } }),
    )
    .await;
    assert_eq!(deleted["data"]["versionMutations"]["delete"], true, "{deleted}");
    let left = app
        .gql(
            Some(&owner_token),
            &format!(r#"{{ project(id: "{project}") {{ versions {{ totalCount }} }} }}"#),
        )
        .await;
    assert_eq!(left["data"]["project"]["versions"]["totalCount"], 1, "{left}");
}

#[tokio::test]
async fn roles_leaving_and_permission_checks() {
    let app = TestApp::new().await;
    let scopes = ["streams:read", "streams:write", "users:read"];
    let mut owner = TestUser::sign_up(&app, "Owner").await;
    let mut reviewer = TestUser::sign_up(&app, "Reviewer").await;
    let owner_token = owner.token(&scopes).await;
    let reviewer_token = reviewer.token(&scopes).await;
    let read_only = owner.token(&["streams:read"]).await;
    let project = new_project(&app, &owner_token, "Checks").await;
    app.gql(Some(&owner_token), &Era::Projects.share(&project, &reviewer.id, "stream:reviewer")).await;

    let checks = format!(
        r#"{{ project(id: "{project}") {{ permissions {{ canCreateModel {{ authorized code message }} canDelete {{ authorized code }} canLoad {{ authorized }} canLeave {{ authorized code }} }} }} }}"#
    );
    let of = |answer: &Value, check: &str| answer["data"]["project"]["permissions"][check].clone();
    let owner_checks = app.gql(Some(&owner_token), &checks).await;
    assert_eq!(of(&owner_checks, "canCreateModel")["authorized"], true, "{owner_checks}");
    assert_eq!(of(&owner_checks, "canDelete")["code"], "OK");
    assert_eq!(of(&owner_checks, "canLeave")["code"], "ProjectLastOwner");
    let reviewer_checks = app.gql(Some(&reviewer_token), &checks).await;
    assert_eq!(
        of(&reviewer_checks, "canCreateModel")["code"],
        "ProjectNotEnoughPermissions",
        "{reviewer_checks}"
    );
    assert_eq!(of(&reviewer_checks, "canLoad")["authorized"], true);
    assert_eq!(of(&reviewer_checks, "canLeave")["authorized"], true);
    // The owner's own rights, through a token without `streams:write`: refused, and why.
    let scoped = app.gql(Some(&read_only), &checks).await;
    assert_eq!(of(&scoped, "canCreateModel")["code"], "MissingScope", "{scoped}");
    assert!(of(&scoped, "canCreateModel")["message"].as_str().unwrap().contains("streams:write"));
    let mutation = app.gql(Some(&read_only), &Era::Projects.rename(&project)).await;
    assert_eq!(outcome(&mutation), "FORBIDDEN", "{mutation}");
    assert!(mutation["errors"][0]["message"].as_str().unwrap().contains("streams:write"));

    // The reviewer leaves; the last owner may not.
    let leave = |id: &str| format!(r#"mutation {{ projectMutations {{ leave(id: "{id}") }} }}"#);
    let stays = app.gql(Some(&owner_token), &leave(&project)).await;
    assert_eq!(outcome(&stays), "BAD_USER_INPUT", "{stays}");
    let left = app.gql(Some(&reviewer_token), &leave(&project)).await;
    assert_eq!(left["data"]["projectMutations"]["leave"], true, "{left}");
    let gone = app.gql(Some(&reviewer_token), &format!(r#"{{ project(id: "{project}") {{ name }} }}"#)).await;
    assert_eq!(outcome(&gone), "NOT_FOUND", "{gone}");
    let again = app.gql(Some(&reviewer_token), &leave(&project)).await;
    assert_eq!(outcome(&again), "NOT_FOUND", "{again}");
}

#[tokio::test]
async fn the_users_projects_filtered_and_their_profile_updated() {
    let app = TestApp::new().await;
    let scopes = ["streams:read", "streams:write", "profile:read", "profile:write"];
    let mut alice = TestUser::sign_up(&app, "Alice").await;
    let mut bob = TestUser::sign_up(&app, "Bob").await;
    let alice_token = alice.token(&scopes).await;
    let bob_token = bob.token(&scopes).await;
    new_project(&app, &alice_token, "Alpha tower").await;
    let shared = new_project(&app, &bob_token, "Beta bridge").await;
    app.gql(Some(&bob_token), &Era::Projects.share(&shared, &alice.id, "stream:reviewer")).await;

    let projects = "query ($filter: UserProjectsFilter) { activeUser { projects(limit: 10, filter: $filter) { totalCount items { name role } } } }";
    let all = run(&app, &alice_token, projects, json!({ "filter": null })).await;
    assert_eq!(all["data"]["activeUser"]["projects"]["totalCount"], 2, "{all}");
    let empty_filter = json!({ "filter": { "search": null, "onlyWithRoles": null, "workspaceId": null, "personalOnly": null, "includeImplicitAccess": null } });
    assert_eq!(
        run(&app, &alice_token, projects, empty_filter).await["data"]["activeUser"]["projects"]["totalCount"],
        2
    );
    let reviewing =
        run(&app, &alice_token, projects, json!({ "filter": { "onlyWithRoles": ["stream:reviewer"] } }))
            .await;
    assert_eq!(
        reviewing["data"]["activeUser"]["projects"]["items"],
        json!([{ "name": "Beta bridge", "role": "stream:reviewer" }]),
        "{reviewing}"
    );
    let searched = run(&app, &alice_token, projects, json!({ "filter": { "search": "TOWER" } })).await;
    assert_eq!(
        searched["data"]["activeUser"]["projects"]["items"],
        json!([{ "name": "Alpha tower", "role": "stream:owner" }]),
        "{searched}"
    );
    let workspace = run(&app, &alice_token, projects, json!({ "filter": { "workspaceId": "w1" } })).await;
    assert!(workspace["errors"][0]["message"].as_str().unwrap().contains("Workspaces"), "{workspace}");
    let bad_role =
        run(&app, &alice_token, projects, json!({ "filter": { "onlyWithRoles": ["stream:admin"] } })).await;
    assert_eq!(outcome(&bad_role), "BAD_USER_INPUT", "{bad_role}");

    let update = "mutation ($input: UserUpdateInput!) { activeUserMutations { update(user: $input) { name bio company } } }";
    let updated = run(
        &app,
        &alice_token,
        update,
        json!({ "input": { "name": null, "bio": "Engineer", "company": null, "avatar": null } }),
    )
    .await;
    assert_eq!(
        updated["data"]["activeUserMutations"]["update"],
        json!({ "name": "Alice", "bio": "Engineer", "company": null }),
        "{updated}"
    );
    let no_scope = alice.token(&["profile:read"]).await;
    let refused = run(&app, &no_scope, update, json!({ "input": { "bio": "x" } })).await;
    assert_eq!(outcome(&refused), "FORBIDDEN", "{refused}");
    assert!(refused["errors"][0]["message"].as_str().unwrap().contains("profile:write"));
}

#[tokio::test]
async fn what_either_era_does_shows_in_the_activity_and_only_to_who_may_read_the_stream() {
    let app = TestApp::new().await;
    let mut owner = TestUser::sign_up(&app, "Owner").await;
    let token = owner.token(&["streams:read", "streams:write", "users:read", "profile:read"]).await;
    let stream = create_stream(&app, &token, "Told", false).await;
    let main = main_model(&app, &token, &stream).await;
    let mut guest = TestUser::sign_up(&app, "Guest").await;
    let guest_token = guest.token(&["streams:read", "users:read", "profile:read"]).await;
    let mut stranger = TestUser::sign_up(&app, "Stranger").await;
    let stranger_token = stranger.token(&["streams:read", "users:read"]).await;

    let made = app.gql(Some(&token), &Era::Projects.commit(&stream, &main)).await;
    let commit = made["data"]["versionMutations"]["create"]["id"].as_str().unwrap().to_owned();
    assert_eq!(outcome(&app.gql(Some(&token), &Era::Streams.rename(&stream)).await), "OK");
    let share = Era::Streams.share(&stream, &guest.id, "stream:reviewer");
    assert_eq!(outcome(&app.gql(Some(&token), &share).await), "OK");

    let read = format!(
        r#"{{ stream(id: "{stream}") {{ activity {{ totalCount items {{ actionType userId streamId resourceId resourceType info message }} }} }} }}"#
    );
    let answer = app.gql(Some(&token), &read).await;
    let activity = &answer["data"]["stream"]["activity"];
    let kinds: Vec<&str> =
        activity["items"].as_array().unwrap().iter().map(|i| i["actionType"].as_str().unwrap()).collect();
    assert_eq!(
        kinds,
        ["stream_permissions_add", "stream_update", "commit_create", "stream_create"],
        "{answer}"
    );
    assert_eq!(activity["totalCount"], 4);
    let committed = &activity["items"][2];
    assert_eq!(committed["resourceId"], commit.as_str());
    assert_eq!((&committed["resourceType"], &committed["userId"]), (&json!("commit"), &json!(owner.id)));
    assert_eq!(committed["info"]["commit"]["message"], "roles");
    assert_eq!(activity["items"][0]["info"]["targetUser"], guest.id.as_str());

    // The commit's own, a filter, and the owner's own activity.
    let of_commit = format!(
        r#"{{ stream(id: "{stream}") {{ commit(id: "{commit}") {{ activity {{ totalCount }} }} }} }}"#
    );
    assert_eq!(
        app.gql(Some(&token), &of_commit).await["data"]["stream"]["commit"]["activity"]["totalCount"],
        1
    );
    let own =
        r#"{ activeUser { activity(actionType: "commit_create") { totalCount items { resourceId } } } }"#;
    assert_eq!(
        app.gql(Some(&token), own).await["data"]["activeUser"]["activity"]["items"][0]["resourceId"],
        commit.as_str()
    );

    // What the owner did on a private stream: the guest (on it) sees it, a stranger does not.
    let theirs = format!(r#"{{ otherUser(id: "{}") {{ activity {{ totalCount }} }} }}"#, owner.id);
    assert_eq!(app.gql(Some(&guest_token), &theirs).await["data"]["otherUser"]["activity"]["totalCount"], 4);
    assert_eq!(
        app.gql(Some(&stranger_token), &theirs).await["data"]["otherUser"]["activity"]["totalCount"],
        0
    );
    let timeline = r#"{ activeUser { timeline { totalCount } } }"#;
    assert_eq!(
        app.gql(Some(&guest_token), timeline).await["data"]["activeUser"]["timeline"]["totalCount"],
        4
    );

    // A deleted stream stays in its owner's own activity; a page is at most 100.
    assert_eq!(outcome(&app.gql(Some(&token), &Era::Projects.delete(&stream)).await), "OK");
    let own = r#"{ activeUser { activity(limit: 1) { totalCount cursor items { actionType } } } }"#;
    let answer = app.gql(Some(&token), own).await;
    assert_eq!(
        answer["data"]["activeUser"]["activity"]["items"][0]["actionType"], "stream_delete",
        "{answer}"
    );
    assert_eq!(answer["data"]["activeUser"]["activity"]["totalCount"], 5);
    assert!(answer["data"]["activeUser"]["activity"]["cursor"].is_string());
    let too_many = r#"{ activeUser { activity(limit: 101) { totalCount } } }"#;
    assert_eq!(outcome(&app.gql(Some(&token), too_many).await), "BAD_USER_INPUT");
}
