//! What one GraphQL request may cost: a query that would make the server read or answer too
//! much is refused up front (or as soon as it is over a cap) with a 400 that names the limit,
//! and queries within the caps, GraphiQL's introspection among them, are answered.

use crate::common;

use crate::common::{TestApp, TestUser};
use axum::http::StatusCode;
use serde_json::{json, Value};

/// A public stream with `commits` commits whose messages are 60 kB each; answers its id.
async fn stream_with_big_commits(app: &TestApp, writer: &str, commits: usize) -> String {
    let stream = common::create_stream(app, writer, "Big", true).await;
    let message = "m".repeat(60_000);
    for _ in 0..commits {
        let answer = app
            .gql_vars(
                Some(writer),
                "mutation($c: CommitCreateInput!) { commitCreate(commit: $c) }",
                json!({ "c": { "streamId": stream, "objectId": "0123456789abcdef", "message": message } }),
            )
            .await;
        assert!(answer["data"]["commitCreate"].is_string(), "{answer}");
    }
    stream
}

fn aliased(count: usize, field: &str) -> String {
    (0..count).map(|i| format!("a{i}: {field} ")).collect()
}

fn assert_refused(response: &common::TestResponse, says: &str) {
    assert_eq!(response.status, StatusCode::BAD_REQUEST, "{}", response.body);
    let answer = response.json();
    assert_eq!(answer["errors"][0]["extensions"]["code"], "BAD_USER_INPUT", "{answer}");
    let message = answer["errors"][0]["message"].as_str().unwrap();
    assert!(message.contains(says), "{message}");
    assert!(answer.get("data").is_none_or(Value::is_null), "{answer}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_anonymous_amplification_query_is_refused_and_a_large_honest_one_answered() {
    let app = TestApp::new().await;
    let mut owner = TestUser::sign_up(&app, "Owner").await;
    let writer = owner.token(&["streams:write", "streams:read"]).await;
    let stream = stream_with_big_commits(&app, &writer, 100).await;
    let commits = format!(r#"stream(id: "{stream}") {{ commits(limit: 100) {{ items {{ message }} }} }}"#);

    // The attack as reported: 400 aliases of a stream's 100 commits of 60 kB (2.4 GB).
    let attack = app.graphql_with_header(None, &format!("{{ {} }}", aliased(400, &commits))).await;
    assert_refused(&attack, "root fields");

    // Within the document's caps, 20 of them would still answer 120 MB: refused as it grows,
    // and so are 3 (18 MB), which would hold about 54 MB on the way.
    for aliases in [20, 3] {
        let within = app.graphql_with_header(None, &format!("{{ {} }}", aliased(aliases, &commits))).await;
        assert_refused(&within, "MiB");
    }

    // One of them (6 MB) is an honest, large answer.
    let honest = app.graphql_with_header(None, &format!("{{ {} }}", aliased(1, &commits))).await;
    assert_eq!(honest.status, StatusCode::OK);
    let answer = honest.json();
    assert!(answer.get("errors").is_none(), "{}", &honest.body[..200]);
    assert_eq!(answer["data"]["a0"]["commits"]["items"].as_array().unwrap().len(), 100);
}

#[tokio::test]
async fn a_list_costs_its_limit_times_its_items() {
    let app = TestApp::new().await;
    let mut owner = TestUser::sign_up(&app, "Owner").await;
    let reader = owner.token(&["streams:read"]).await;
    let commit = "id message authorName authorId createdAt referencedObject";
    let nested =
        format!("{{ streams(limit: 100) {{ items {{ commits(limit: 100) {{ items {{ {commit} }} }} }} }} }}");
    assert_refused(&app.graphql(&reader, &nested).await, "costs more than 50000");
    let fine =
        format!("{{ streams(limit: 100) {{ items {{ commits(limit: 10) {{ items {{ {commit} }} }} }} }} }}");
    assert_eq!(app.graphql(&reader, &fine).await.status, StatusCode::OK);
}

#[tokio::test]
async fn database_reads_per_request_are_capped() {
    let app = TestApp::new().await;
    let mut owner = TestUser::sign_up(&app, "Owner").await;
    let writer = owner.token(&["streams:write", "streams:read"]).await;
    let stream = stream_with_big_commits(&app, &writer, 0).await;
    for batch in 0..10 {
        let creates: String = (0..10)
            .map(|i| {
                format!(r#"b{i}: branchCreate(branch: {{ streamId: "{stream}", name: "b{batch}-{i}" }}) "#)
            })
            .collect();
        let answer = app.gql(Some(&writer), &format!("mutation {{ {creates} }}")).await;
        assert!(answer.get("errors").is_none(), "{answer}");
    }
    // Each of 100 branches' commits is two reads (count, page): 20 × 202 reads.
    let per_branch = format!(
        r#"stream(id: "{stream}") {{ branches(limit: 100) {{ items {{ commits(limit: 1) {{ totalCount }} }} }} }}"#
    );
    let many = app.graphql(&writer, &format!("{{ {} }}", aliased(20, &per_branch))).await;
    assert_refused(&many, "database reads");
    let one = app.graphql(&writer, &format!("{{ {per_branch} }}")).await;
    assert_eq!(one.status, StatusCode::OK, "{}", one.body);
}

#[tokio::test]
async fn mutations_per_request_are_capped() {
    let app = TestApp::new().await;
    let mut owner = TestUser::sign_up(&app, "Owner").await;
    let writer = owner.token(&["streams:write"]).await;
    let creates = aliased(11, r#"streamCreate(stream: { name: "x" })"#);
    assert_refused(&app.graphql(&writer, &format!("mutation {{ {creates} }}")).await, "10 mutations");
    let reader = owner.token(&["streams:read"]).await;
    let count = app.gql(Some(&reader), "{ streams { totalCount } }").await;
    assert_eq!(count["data"]["streams"]["totalCount"], 0, "nothing of a refused request ran");
}

#[tokio::test]
async fn graphiqls_introspection_query_is_answered() {
    let app = TestApp::new().await;
    let answer = app.gql(None, INTROSPECTION).await;
    assert!(answer.get("errors").is_none(), "{answer}");
    let types = answer["data"]["__schema"]["types"].as_array().unwrap();
    assert!(types.iter().any(|t| t["name"] == "Stream"));
}

#[tokio::test]
async fn too_deep_and_too_many_aliases_say_which_limit() {
    let app = TestApp::new().await;
    let deep = format!("{{ __schema {{ types {}name{} }} }}", "{ fields { type ".repeat(8), " } }".repeat(8));
    assert_refused(&app.graphql_with_header(None, &deep).await, "levels deep");
    let names = format!("{{ serverInfo {{ {} }} }}", aliased(51, "name"));
    assert_refused(&app.graphql_with_header(None, &names).await, "alias at most 50");
}

/// graphql-js's `getIntrospectionQuery()` as GraphiQL sends it, with `ofType` nine deep.
const INTROSPECTION: &str = r#"
query IntrospectionQuery {
  __schema {
    queryType { name } mutationType { name } subscriptionType { name }
    types { ...FullType }
    directives { name description locations args { ...InputValue } }
  }
}
fragment FullType on __Type {
  kind name description
  fields(includeDeprecated: true) {
    name description args { ...InputValue } type { ...TypeRef } isDeprecated deprecationReason
  }
  inputFields { ...InputValue }
  interfaces { ...TypeRef }
  enumValues(includeDeprecated: true) { name description isDeprecated deprecationReason }
  possibleTypes { ...TypeRef }
}
fragment InputValue on __InputValue { name description type { ...TypeRef } defaultValue }
fragment TypeRef on __Type {
  kind name
  ofType { kind name ofType { kind name ofType { kind name ofType { kind name ofType { kind name
  ofType { kind name ofType { kind name ofType { kind name ofType { kind name } } } } } } } } }
}
"#;

/// Gives the token's user (profile:write) a 250 kB avatar; answers it.
async fn set_big_avatar(app: &TestApp, token: &str) -> String {
    let avatar = format!("data:image/png;base64,{}", "A".repeat(250_000));
    let query = "mutation($u: UserUpdateInput!) { userUpdate(user: $u) }";
    let updated = app.gql_vars(Some(token), query, json!({ "u": { "avatar": avatar } })).await;
    assert!(updated.get("errors").is_none(), "{updated}");
    avatar
}

/// A public stream of `count` commits with 60 kB messages, written straight into the
/// database (quicker than through the API), by `author_id`; answers its id.
async fn stream_with_many_commits(app: &TestApp, writer: &str, author_id: &str, count: usize) -> String {
    let stream = stream_with_big_commits(app, writer, 0).await;
    let columns = "id, stream_id, branch_name, referenced_object, message, author_id, created_at";
    common::exec_sql_per_backend(
        app,
        &format!(
            "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < {count}) \
             INSERT INTO commits ({columns}) SELECT printf('%016x', i), '{stream}', 'main', 'obj', \
             replace(hex(zeroblob(30000)), '0', 'm'), '{author_id}', 1700000000000 + i / 3 FROM n"
        ),
        &format!(
            "INSERT INTO commits ({columns}) SELECT lpad(to_hex(i), 16, '0'), '{stream}', 'main', 'obj', \
             repeat('m', 60000), '{author_id}', 1700000000000 + i / 3 FROM generate_series(1, {count}) AS i"
        ),
    )
    .await;
    stream
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_cursor_makes_a_page_read_more_than_a_page() {
    let app = TestApp::new().await;
    let mut owner = TestUser::sign_up(&app, "Owner").await;
    let writer = owner.token(&["streams:write", "streams:read", "profile:write"]).await;
    // 700 commits of 60 kB (42 MB), by an author with a 250 kB avatar.
    let avatar = set_big_avatar(&app, &writer).await;
    let stream = stream_with_many_commits(&app, &writer, &owner.id, 700).await;
    let page = |cursor: &str| {
        format!(
            r#"{{ stream(id: "{stream}") {{ commits(limit: 1, cursor: "{cursor}") {{ cursor items {{ id authorAvatar }} }} }} }}"#
        )
    };
    // The old cursor's six digits past the millisecond were a skip of up to 999,999 rows:
    // every commit was read, with its author's avatar (217 MB), to answer one.
    let before = common::memory::reset_peak();
    let answer = app.gql(None, &page("2999-01-01T00:00:00.000999999Z")).await;
    let held = common::memory::peak() - before;
    assert!(held < 16 * 1024 * 1024, "one commit read with {} MB", held / (1024 * 1024));
    assert!(answer.get("errors").is_none(), "{answer}");
    let first = &answer["data"]["stream"]["commits"];
    assert_eq!(first["items"].as_array().unwrap().len(), 1, "{answer}");
    assert_eq!(first["items"][0]["authorAvatar"].as_str().map(str::len), Some(avatar.len()));
    // The cursor names that row: the next page is the next commit (some share a millisecond).
    let mut seen = vec![first["items"][0]["id"].as_str().unwrap().to_owned()];
    let mut cursor = first["cursor"].as_str().unwrap().to_owned();
    for _ in 0..5 {
        let answer = app.gql(None, &page(&cursor)).await;
        let next = &answer["data"]["stream"]["commits"];
        let id = next["items"][0]["id"].as_str().unwrap_or_else(|| panic!("{answer}")).to_owned();
        assert!(!seen.contains(&id), "{id} twice");
        seen.push(id);
        cursor = next["cursor"].as_str().unwrap().to_owned();
    }
    let expected: Vec<String> = (695..=700).rev().map(|i: u32| format!("{i:016x}")).collect();
    assert_eq!(seen, expected);
}

#[tokio::test]
async fn stream_create_adds_at_most_a_hundred_contributors_and_nothing_beyond() {
    let app = TestApp::new().await;
    let mut owner = TestUser::sign_up(&app, "Owner").await;
    let token = owner.token(&["streams:write", "streams:read"]).await;
    let many: Vec<String> = (0..101).map(|i| format!("{i:016x}")).collect();
    let answer = app
        .gql_vars(
            Some(&token),
            "mutation($s: StreamCreateInput!) { streamCreate(stream: $s) }",
            json!({ "s": { "name": "Crowded", "withContributors": many } }),
        )
        .await;
    assert_eq!(answer["errors"][0]["extensions"]["code"], "BAD_USER_INPUT", "{answer}");
    let count = app.gql(Some(&token), "{ streams { totalCount } }").await;
    assert_eq!(count["data"]["streams"]["totalCount"], 0, "no stream made: {count}");
}

#[tokio::test]
async fn a_users_tokens_cost_what_five_hundred_of_them_may_read() {
    let app = TestApp::new().await;
    let mut owner = TestUser::sign_up(&app, "Owner").await;
    let token = owner.token(&["tokens:read", "profile:read"]).await;
    let events = "{ activeUser { apiTokens { events(limit: 100) { type label ip userAgent createdAt } } } }";
    assert_refused(&app.graphql(&token, events).await, "costs more than 50000");
    let few = "{ activeUser { apiTokens { events(limit: 10) { type } } } }";
    assert_eq!(app.graphql(&token, few).await.status, StatusCode::OK);
}

#[tokio::test]
async fn an_objects_children_are_read_in_one_counted_query() {
    use speckle_tokens::server::doors::graphql::limits::Budget;
    use speckle_tokens::server::doors::graphql::RequestContext;
    let app = TestApp::new().await;
    let mut owner = TestUser::sign_up(&app, "Owner").await;
    let writer = owner.token(&["streams:write", "streams:read"]).await;
    let stream = stream_with_big_commits(&app, &writer, 0).await;
    let children: Vec<String> = (0..1000).map(|i| format!("{i:032}")).collect();
    let closure: String = children.iter().map(|id| format!(r#""{id}": 1"#)).collect::<Vec<_>>().join(",");
    let rows =
        children.iter().map(|id| format!(r#"('{stream}', '{id}', 'Base', 0, 20, '{{"id":"{id}"}}', 0)"#));
    let parent = format!(
        r#"('{stream}', 'parent', 'Base', 1000, 10, '{{"id":"parent","__closure":{{{closure}}}}}', 0)"#
    );
    let values = rows.chain(std::iter::once(parent)).collect::<Vec<_>>().join(",");
    common::exec_sql(
        &app,
        &format!(
            "INSERT INTO objects (stream_id, id, speckle_type, total_children_count, size_bytes, data, created_at) \
             VALUES {values}"
        ),
    )
    .await;
    let query = format!(
        r#"{{ stream(id: "{stream}") {{ object(id: "parent") {{ children(limit: 1000) {{ totalCount objects {{ id }} }} }} }} }}"#
    );
    let engine = speckle_tokens::server::doors::graphql::Engine::new();
    let budget = Budget::new(engine.answers.clone());
    let context = RequestContext::anonymous(app.state.db.clone(), budget.clone());
    let request = async_graphql::Request::new(query).data(context);
    let response = engine.schema.execute(request).await;
    assert!(response.errors.is_empty(), "{:?}", response.errors);
    let answer = response.data.into_json().unwrap();
    assert_eq!(answer["stream"]["object"]["children"]["objects"].as_array().unwrap().len(), 1000);
    // The stream, the object, the children's sizes and the children: not one read each.
    assert!(budget.queries() <= 5, "{} database reads", budget.queries());
}

#[tokio::test]
async fn a_cached_token_holds_no_avatar_or_password_hash() {
    let app = TestApp::new().await;
    let mut owner = TestUser::sign_up(&app, "Owner").await;
    let writer = owner.token(&["profile:write", "profile:read"]).await;
    set_big_avatar(&app, &writer).await;
    let mut tokens = Vec::new();
    for _ in 0..40 {
        tokens.push(owner.token(&["profile:read"]).await);
    }
    let before = common::memory::current();
    for token in &tokens {
        let answer = app.gql(Some(token), "{ activeUser { name } }").await;
        assert_eq!(answer["data"]["activeUser"]["name"], "Owner");
    }
    let held = common::memory::current().saturating_sub(before);
    // Forty cached tokens, each with its owner's 250 kB avatar, held 10 MB.
    assert!(held < 2 * 1024 * 1024, "forty cached tokens hold {} kB", held / 1024);
}
