//! Two backends, one schema: the migrated SQLite and PostgreSQL schemas match `schema.rs` and
//! each other; and several app servers over one PostgreSQL database share all state.

use std::collections::BTreeMap;

use crate::common::*;
use diesel::prelude::*;
use diesel::sql_types::{Bool, Text};
use diesel_async::RunQueryDsl;
use speckle_tokens::db_run;
use speckle_tokens::server::db::schema::*;
use speckle_tokens::server::db::{DatabaseUrl, DbPool};

/// Column names of every table, as `schema.rs` declares them (read off diesel's own SQL).
fn declared_columns() -> BTreeMap<String, Vec<String>> {
    fn names<Q: diesel::query_builder::QueryFragment<diesel::sqlite::Sqlite>>(query: Q) -> Vec<String> {
        let sql = diesel::debug_query::<diesel::sqlite::Sqlite, _>(&query).to_string();
        let list = sql.trim_start_matches("SELECT ").split(" FROM").next().unwrap().to_owned();
        list.split(", ").map(|c| c.rsplit('.').next().unwrap().trim_matches('`').to_owned()).collect()
    }
    BTreeMap::from([
        ("users".to_owned(), names(users::table.select(users::all_columns))),
        ("api_tokens".to_owned(), names(api_tokens::table.select(api_tokens::all_columns))),
        ("streams".to_owned(), names(streams::table.select(streams::all_columns))),
        ("stream_acl".to_owned(), names(stream_acl::table.select(stream_acl::all_columns))),
        ("sessions".to_owned(), names(sessions::table.select(sessions::all_columns))),
        ("commits".to_owned(), names(commits::table.select(commits::all_columns))),
        ("branches".to_owned(), names(branches::table.select(branches::all_columns))),
        ("objects".to_owned(), names(objects::table.select(objects::all_columns))),
        ("security_events".to_owned(), names(security_events::table.select(security_events::all_columns))),
        ("token_addresses".to_owned(), names(token_addresses::table.select(token_addresses::all_columns))),
        ("mail_outbox".to_owned(), names(mail_outbox::table.select(mail_outbox::all_columns))),
        ("expiry_notices".to_owned(), names(expiry_notices::table.select(expiry_notices::all_columns))),
        ("leak_alerts".to_owned(), names(leak_alerts::table.select(leak_alerts::all_columns))),
        ("trusted_devices".to_owned(), names(trusted_devices::table.select(trusted_devices::all_columns))),
        ("stream_invites".to_owned(), names(stream_invites::table.select(stream_invites::all_columns))),
        ("stream_favorites".to_owned(), names(stream_favorites::table.select(stream_favorites::all_columns))),
        ("token_streams".to_owned(), names(token_streams::table.select(token_streams::all_columns))),
        ("token_usage".to_owned(), names(token_usage::table.select(token_usage::all_columns))),
        ("stream_activity".to_owned(), names(stream_activity::table.select(stream_activity::all_columns))),
        ("apps".to_owned(), names(apps::table.select(apps::all_columns))),
        ("app_grants".to_owned(), names(app_grants::table.select(app_grants::all_columns))),
        ("app_codes".to_owned(), names(app_codes::table.select(app_codes::all_columns))),
        (
            "app_refresh_tokens".to_owned(),
            names(app_refresh_tokens::table.select(app_refresh_tokens::all_columns)),
        ),
        ("app_device_codes".to_owned(), names(app_device_codes::table.select(app_device_codes::all_columns))),
    ])
}

#[derive(QueryableByName, Debug, PartialEq, Eq, PartialOrd, Ord, Clone)]
struct ColumnInfo {
    #[diesel(sql_type = Text)]
    table_name: String,
    #[diesel(sql_type = Text)]
    column_name: String,
    #[diesel(sql_type = Text)]
    data_type: String,
    #[diesel(sql_type = Bool)]
    nullable: bool,
}

#[derive(QueryableByName, Debug, PartialEq, Eq, PartialOrd, Ord, Clone)]
struct IndexInfo {
    #[diesel(sql_type = Text)]
    index_name: String,
    #[diesel(sql_type = Text)]
    definition: String,
}

/// Each backend's type names mapped to diesel's SQL types.
fn normalize(data_type: &str) -> &'static str {
    match data_type.to_ascii_lowercase().as_str() {
        "text" => "Text",
        "bigint" => "BigInt",
        "blob" | "bytea" => "Binary",
        "boolean" => "Bool",
        other => panic!("unexpected column type {other}"),
    }
}

/// (columns by table, indexes) of a migrated database.
async fn introspect(url: &DatabaseUrl) -> (BTreeMap<String, Vec<(String, &'static str, bool)>>, Vec<String>) {
    let pool = DbPool::connect(url).await.unwrap();
    let mut conn = pool.get().await.unwrap();
    let (columns, indexes): (Vec<ColumnInfo>, Vec<IndexInfo>) = match url {
        DatabaseUrl::Sqlite(_) => db_run!(&mut conn, |c| {
            let columns = diesel::sql_query(
                "SELECT m.name AS table_name, p.name AS column_name, p.type AS data_type, \
                 (p.\"notnull\" = 0 AND p.pk = 0) AS nullable \
                 FROM sqlite_master m, pragma_table_info(m.name) p \
                 WHERE m.type = 'table' AND m.name NOT LIKE 'sqlite_%' AND m.name != '__diesel_schema_migrations' \
                 ORDER BY m.name, p.cid",
            )
            .load(c)
            .await
            .unwrap();
            let indexes = diesel::sql_query(
                "SELECT name AS index_name, sql AS definition FROM sqlite_master \
                 WHERE type = 'index' AND sql IS NOT NULL ORDER BY name",
            )
            .load(c)
            .await
            .unwrap();
            (columns, indexes)
        }),
        DatabaseUrl::Postgres(_) => db_run!(&mut conn, |c| {
            let columns = diesel::sql_query(
                "SELECT table_name::text, column_name::text, data_type::text, (is_nullable = 'YES') AS nullable \
                 FROM information_schema.columns \
                 WHERE table_schema = 'public' AND table_name != '__diesel_schema_migrations' \
                 ORDER BY table_name, ordinal_position",
            )
            .load(c)
            .await
            .unwrap();
            let indexes = diesel::sql_query(
                "SELECT indexname::text AS index_name, indexdef::text AS definition FROM pg_indexes \
                 WHERE schemaname = 'public' AND tablename != '__diesel_schema_migrations' \
                 AND indexname NOT IN (SELECT conname FROM pg_constraint) ORDER BY indexname",
            )
            .load(c)
            .await
            .unwrap();
            (columns, indexes)
        }),
    };
    let mut tables: BTreeMap<String, Vec<(String, &'static str, bool)>> = BTreeMap::new();
    for column in columns {
        tables.entry(column.table_name).or_default().push((
            column.column_name,
            normalize(&column.data_type),
            column.nullable,
        ));
    }
    // Compare what an index covers and whether it is unique, not each backend's spelling.
    let indexes = indexes
        .into_iter()
        .map(|index| {
            let unique = index.definition.to_ascii_uppercase().contains("UNIQUE");
            // A partial index's condition, as both spell it: no parentheses, spaces or case.
            let upper = index.definition.to_ascii_uppercase();
            let (head, condition) = match upper.find(" WHERE ") {
                Some(at) => (&index.definition[..at], upper[at + 7..].replace(['(', ')', ' '], "")),
                None => (index.definition.as_str(), String::new()),
            };
            let columns = head.rsplit_once('(').map(|(_, c)| c.trim_end_matches(')').replace(' ', ""));
            format!("{} unique={unique} ({}) {condition}", index.index_name, columns.unwrap_or_default())
        })
        .collect();
    (tables, indexes)
}

#[tokio::test]
async fn migrated_sqlite_schema_matches_schema_rs() {
    let declared = declared_columns();
    let dir = tempfile::tempdir().unwrap();
    let (sqlite_tables, sqlite_indexes) = introspect(&sqlite_schema(&dir)).await;
    assert_eq!(names(&sqlite_tables), declared, "SQLite migrations vs schema.rs");
    assert!(
        sqlite_indexes.iter().any(|i| i.starts_with("api_tokens_digest unique=true")),
        "{sqlite_indexes:?}"
    );
}

/// What the token lookups of the bearer path (a regenerated token's successor) and of the
/// background pass (expiries, ended grace periods) cost on a big table: an index each, not a
/// scan of every token.
#[tokio::test]
async fn the_token_lookups_of_the_background_pass_and_first_use_use_indexes() {
    #[derive(QueryableByName)]
    struct Plan {
        #[diesel(sql_type = Text)]
        detail: String,
    }
    let dir = tempfile::tempdir().unwrap();
    let pool = DbPool::connect(&sqlite_schema(&dir)).await.unwrap();
    let mut conn = pool.get().await.unwrap();
    for (lookup, index) in [
        ("SELECT id FROM api_tokens WHERE replaces = 'x'", "api_tokens_replaces"),
        ("SELECT id FROM api_tokens WHERE expires_at <= 1 AND revoked_at IS NULL", "api_tokens_expires"),
        ("SELECT id FROM api_tokens WHERE grace_until <= 1 AND revoked_at IS NULL", "api_tokens_grace"),
    ] {
        let plan: Vec<Plan> = db_run!(&mut conn, |c| {
            diesel::sql_query(format!("EXPLAIN QUERY PLAN {lookup}")).load(c).await.unwrap()
        });
        let plan: Vec<String> = plan.into_iter().map(|row| row.detail).collect();
        assert!(plan.iter().any(|step| step.contains(index)), "{lookup}: {plan:?}");
    }
}

fn sqlite_schema(dir: &tempfile::TempDir) -> DatabaseUrl {
    DatabaseUrl::Sqlite(dir.path().join("schema.db").to_string_lossy().into_owned())
}

fn names(tables: &BTreeMap<String, Vec<(String, &'static str, bool)>>) -> BTreeMap<String, Vec<String>> {
    tables.iter().map(|(t, cols)| (t.clone(), cols.iter().map(|c| c.0.clone()).collect())).collect()
}

#[tokio::test]
async fn several_servers_over_one_database_share_sessions_tokens_and_revocations() {
    if postgres_url().is_none() {
        // SQLite is one machine's file; the multi-server story is PostgreSQL's. The same
        // test still runs here over one SQLite file shared by two servers.
        eprintln!("running over one shared SQLite file");
    }
    let first = TestApp::new().await;
    let second = first.another_server().await;

    let mut browser = first.browser();
    browser.sign_up("Alice", "alice@example.com").await;
    // The session cookie from the first server works on the second.
    let mut same_person = second.browser();
    same_person.cookie = browser.cookie.clone();
    let page = same_person.get("/profile").await;
    assert_eq!(page.status, axum::http::StatusCode::OK);
    assert!(page.body.contains("alice@example.com"));

    // A token created on the first works on the second.
    let (id, secret) = browser.create_token("Shared", &["profile:read"], "30").await;
    assert_eq!(outcome(&second.gql(Some(&secret), "{ activeUser { name } }").await), "OK");
    // Used on the first too, so that server has it in memory (SQLite keeps verified tokens
    // in a cache whose epochs the servers share).
    assert_eq!(outcome(&first.gql(Some(&secret), "{ activeUser { name } }").await), "OK");
    // Revoked on the second, refused by the first on the very next request.
    let response = same_person.call("revoke_token", &[("id", &id)]).await;
    assert_eq!(response.status, axum::http::StatusCode::OK, "{}", response.body);
    assert_invalid_token(&first.graphql(&secret, "{ activeUser { name } }").await);
}

mod postgres_only {
    use super::*;

    /// Several servers started at once on a new database (a deployment's first start, CI's
    /// two servers): each waits for the others' migrations instead of failing on them.
    #[tokio::test]
    async fn servers_started_at_once_on_a_new_database_all_start() {
        postgres_only();
        let dir = tempfile::tempdir().unwrap();
        let url = fresh_database(&dir).await;
        let starts = (0..4).map(|_| {
            let url = url.clone();
            tokio::spawn(async move { DbPool::connect(&url).await.map(|_| ()) })
        });
        for started in futures::future::join_all(starts).await {
            assert_eq!(started.unwrap(), Ok(()), "a server failed to start beside the others");
        }
    }

    #[tokio::test]
    async fn migrated_schemas_match_schema_rs_and_each_other() {
        postgres_only();
        let declared = declared_columns();
        let dir = tempfile::tempdir().unwrap();
        let (sqlite_tables, sqlite_indexes) = introspect(&sqlite_schema(&dir)).await;
        let postgres = fresh_database(&dir).await;
        let (postgres_tables, postgres_indexes) = introspect(&postgres).await;
        assert_eq!(names(&postgres_tables), declared, "PostgreSQL migrations vs schema.rs");
        assert_eq!(postgres_tables, sqlite_tables, "column types and nullability differ between backends");
        assert_eq!(postgres_indexes, sqlite_indexes, "indexes differ between backends");
    }

    #[tokio::test]
    async fn a_revocation_whose_epoch_cannot_end_is_not_reported_done_and_leaves_no_stale_token() {
        // PostgreSQL only: SQLite's epochs are counters in a mapped file, which cannot fail.
        let url = postgres_only();
        let app = TestApp::new().await;
        let mut alice = app.browser();
        alice.sign_up("Alice", "alice@example.com").await;
        let (id, secret) = alice.create_token("Leaked", &["profile:read"], "30").await;
        // Used, so this server holds it as verified in memory.
        assert_eq!(outcome(&app.gql(Some(&secret), "{ activeUser { name } }").await), "OK");

        // The epoch's sequence cannot be advanced while the revocation commits.
        let database = test_database_of(&app, &url);
        let sql = |statement: String| {
            let database = database.clone();
            async move {
                use diesel_async::AsyncConnection;
                let mut conn = diesel_async::AsyncPgConnection::establish(&database).await.unwrap();
                diesel::sql_query(statement).execute(&mut conn).await.unwrap();
            }
        };
        sql("REVOKE USAGE, UPDATE ON SEQUENCE cache_epoch_tokens FROM PUBLIC, CURRENT_USER".into()).await;
        let response = alice.call("revoke_token", &[("id", &id)]).await;
        sql("GRANT USAGE, SELECT, UPDATE ON SEQUENCE cache_epoch_tokens TO CURRENT_USER".into()).await;
        assert_eq!(response.status, axum::http::StatusCode::SERVICE_UNAVAILABLE, "{}", response.body);
        // The token is gone anyway: this server dropped what it held.
        assert_invalid_token(&app.graphql(&secret, "{ activeUser { name } }").await);
    }
}

/// The URL of the test's own PostgreSQL database.
fn test_database_of(app: &TestApp, base: &str) -> String {
    match &app.url {
        DatabaseUrl::Postgres(url) => url.clone(),
        DatabaseUrl::Sqlite(_) => base.to_owned(),
    }
}
