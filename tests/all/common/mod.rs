//! The real app over a fresh, migrated SQLite database per test, driven in memory.

use std::io::Write;
use std::sync::{Mutex, OnceLock};

use axum::body::Body;
use axum::http::{header, HeaderMap, Request, StatusCode};
use axum::Router;
use http_body_util::BodyExt;
use leptos::prelude::LeptosOptions;
use serde_json::{json, Value};
use speckle_tokens::rules::scopes::Scope;
use speckle_tokens::server::auth::throttle::Throttles;
use speckle_tokens::server::clock::Clock;
use speckle_tokens::server::db::{DatabaseUrl, DbPool};
use speckle_tokens::server::http::router;
use speckle_tokens::server::state::AppState;
use tower::ServiceExt;

pub const ORIGIN: &str = "http://localhost";

/// Every log line the app writes during this test binary.
static LOGS: OnceLock<Mutex<Vec<u8>>> = OnceLock::new();

struct LogWriter;

impl Write for LogWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        LOGS.get_or_init(Default::default).lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

fn capture_logs() {
    static INIT: OnceLock<()> = OnceLock::new();
    INIT.get_or_init(|| {
        tracing_subscriber::fmt().with_env_filter("trace").with_writer(|| LogWriter).with_ansi(false).init();
    });
}

/// All logs captured so far, as text.
pub fn logs() -> String {
    String::from_utf8_lossy(&LOGS.get_or_init(Default::default).lock().unwrap()).into_owned()
}

pub struct TestApp {
    pub state: AppState,
    pub url: DatabaseUrl,
    router: Router,
    _dir: tempfile::TempDir,
}

/// The backend under test: PostgreSQL when `TEST_DATABASE_URL` says so, else SQLite.
pub fn postgres_url() -> Option<String> {
    std::env::var("TEST_DATABASE_URL").ok().filter(|url| url.starts_with("postgres"))
}

/// Starts a test of SQLite only (named `sqlite_only::…`, which the PostgreSQL run of
/// scripts/test skips and lists as skipped): run on PostgreSQL anyway, it fails.
pub fn sqlite_only() {
    assert!(postgres_url().is_none(), "a SQLite-only test run on PostgreSQL: scripts/test skips it there");
}

/// Starts a test of PostgreSQL only (named `postgres_only::…`, skipped without
/// `TEST_DATABASE_URL`); answers that URL. Run without it anyway, it fails.
pub fn postgres_only() -> String {
    postgres_url().expect("a PostgreSQL-only test: set TEST_DATABASE_URL, or let scripts/test skip it")
}

/// A new, empty database for one test.
pub async fn fresh_database(dir: &tempfile::TempDir) -> DatabaseUrl {
    let Some(admin_url) = postgres_url() else {
        return DatabaseUrl::Sqlite(dir.path().join("test.db").to_string_lossy().into_owned());
    };
    use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};
    let name = format!("speckle_test_{}", speckle_tokens::server::db::new_id());
    let mut admin = AsyncPgConnection::establish(&admin_url).await.expect("TEST_DATABASE_URL connects");
    diesel::sql_query(format!("CREATE DATABASE {name}")).execute(&mut admin).await.unwrap();
    let (base, query) = admin_url.split_once('?').map_or((admin_url.as_str(), None), |(b, q)| (b, Some(q)));
    let server = base.rsplit_once('/').map_or(base, |(server, _)| server);
    let url = match query {
        Some(query) => format!("{server}/{name}?{query}"),
        None => format!("{server}/{name}"),
    };
    DatabaseUrl::Postgres(url)
}

pub struct TestResponse {
    pub status: StatusCode,
    pub headers: HeaderMap,
    /// The body as text (lossy), and as it came.
    pub body: String,
    pub bytes: Vec<u8>,
}

impl TestResponse {
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.body))
    }
    pub fn header(&self, name: &str) -> &str {
        self.headers.get(name).and_then(|v| v.to_str().ok()).unwrap_or("")
    }
}

impl TestApp {
    /// The app over a database of its own: a fresh SQLite file, or, when `TEST_DATABASE_URL`
    /// names a PostgreSQL server, a fresh database there.
    pub async fn new() -> TestApp {
        TestApp::with_throttles(Default::default()).await
    }

    /// The app with its own brute-force limits.
    pub async fn with_throttles(throttles: Throttles) -> TestApp {
        let dir = tempfile::tempdir().unwrap();
        let url = fresh_database(&dir).await;
        TestApp::over(&url, dir, throttles, Clock::adjustable()).await
    }

    /// Serves the app on a real loopback listener, as the binary does; answers its address.
    pub async fn listen(&self) -> std::net::SocketAddr {
        self.listen_with(Default::default()).await
    }

    /// As [`TestApp::listen`], with the listener's limits given.
    pub async fn listen_with(
        &self,
        limits: speckle_tokens::server::http::listen::ConnectionLimits,
    ) -> std::net::SocketAddr {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let router = self.router.clone();
        tokio::spawn(speckle_tokens::server::http::listen::serve(
            listener,
            router,
            limits,
            std::future::pending(),
        ));
        addr
    }

    /// Another app server over the same database (as behind a load balancer), on the same
    /// clock.
    pub async fn another_server(&self) -> TestApp {
        let clock = self.state.db.clock().clone();
        TestApp::over(&self.url, tempfile::tempdir().unwrap(), Default::default(), clock).await
    }

    async fn over(url: &DatabaseUrl, dir: tempfile::TempDir, throttles: Throttles, clock: Clock) -> TestApp {
        TestApp::configured(url, dir, throttles, clock, |state| state).await
    }

    /// The app over a fresh database, its state changed by `configure` (a mailer, the
    /// secret scanning keys…).
    pub async fn with_state(configure: impl FnOnce(AppState) -> AppState) -> TestApp {
        let dir = tempfile::tempdir().unwrap();
        let url = fresh_database(&dir).await;
        TestApp::configured(&url, dir, Default::default(), Clock::adjustable(), configure).await
    }

    async fn configured(
        url: &DatabaseUrl,
        dir: tempfile::TempDir,
        throttles: Throttles,
        clock: Clock,
        configure: impl FnOnce(AppState) -> AppState,
    ) -> TestApp {
        capture_logs();
        let pool = DbPool::connect_with(url, speckle_tokens::server::db::cache::DEFAULT_ENTRIES, clock)
            .await
            .unwrap();
        speckle_tokens::server::domain::apps::install_defaults(&mut pool.get().await.unwrap()).await.unwrap();
        let options = LeptosOptions::builder().output_name("speckle-tokens").build();
        let state = configure(AppState::new(pool, options, false, throttles));
        TestApp { router: router(state.clone()), state, url: url.clone(), _dir: dir }
    }

    /// Moves the app's clock forward: what a test would otherwise sleep for.
    pub fn advance(&self, by: std::time::Duration) {
        self.state.db.clock().advance(by);
    }

    /// Now, by the app's clock.
    pub fn now(&self) -> i64 {
        self.state.db.now()
    }

    /// The app's router, for a test that reads an answer itself (or not at all).
    pub fn router(&self) -> Router {
        self.router.clone()
    }

    pub async fn send(&self, request: Request<Body>) -> TestResponse {
        let response = self.router.clone().oneshot(request).await.unwrap();
        let status = response.status();
        let headers = response.headers().clone();
        let bytes = response.into_body().collect().await.unwrap().to_bytes();
        TestResponse {
            status,
            headers,
            body: String::from_utf8_lossy(&bytes).into_owned(),
            bytes: bytes.to_vec(),
        }
    }

    /// `POST /graphql` with an optional raw `Authorization` header value.
    pub async fn graphql_with_header(&self, authorization: Option<&[u8]>, query: &str) -> TestResponse {
        self.graphql_from(DEFAULT_CLIENT, authorization, query).await
    }

    /// `POST /graphql` from a given client address.
    pub async fn graphql_from(
        &self,
        client: std::net::SocketAddr,
        authorization: Option<&[u8]>,
        query: &str,
    ) -> TestResponse {
        let mut request = Request::post("/graphql").header(header::CONTENT_TYPE, "application/json");
        if let Some(value) = authorization {
            request = request.header(header::AUTHORIZATION, header::HeaderValue::from_bytes(value).unwrap());
        }
        let body = serde_json::json!({ "query": query }).to_string();
        self.send(from_client(request.body(Body::from(body)).unwrap(), client)).await
    }

    /// `POST /graphql` with variables, as Speckle's clients send their queries; answers the
    /// JSON (asserting HTTP 200).
    pub async fn gql_vars(&self, token: Option<&str>, query: &str, variables: Value) -> Value {
        let mut request = Request::post("/graphql").header(header::CONTENT_TYPE, "application/json");
        if let Some(token) = token {
            request = request.header(header::AUTHORIZATION, format!("Bearer {token}"));
        }
        let body = serde_json::json!({ "query": query, "variables": variables }).to_string();
        let response = self.send(from_client(request.body(Body::from(body)).unwrap(), DEFAULT_CLIENT)).await;
        assert_eq!(response.status, StatusCode::OK, "{query}: {}", response.body);
        response.json()
    }

    /// `POST /graphql` as a script would: `Authorization: Bearer <token>`.
    pub async fn graphql(&self, token: &str, query: &str) -> TestResponse {
        self.graphql_with_header(Some(format!("Bearer {token}").as_bytes()), query).await
    }

    pub fn browser(&self) -> Browser<'_> {
        Browser { app: self, cookie: None, client: DEFAULT_CLIENT }
    }
}

/// The address requests come from unless a test says otherwise.
pub const DEFAULT_CLIENT: std::net::SocketAddr =
    std::net::SocketAddr::new(std::net::IpAddr::V4(std::net::Ipv4Addr::new(127, 0, 0, 1)), 40000);

/// Marks a request as coming from `client`, as the listener would.
pub fn from_client(mut request: Request<Body>, client: std::net::SocketAddr) -> Request<Body> {
    request.extensions_mut().insert(axum::extract::ConnectInfo(client));
    request
}

/// A browser: keeps the session cookie and sends `Origin` like a real one.
pub struct Browser<'a> {
    app: &'a TestApp,
    pub cookie: Option<String>,
    /// The address its requests come from.
    pub client: std::net::SocketAddr,
}

impl Browser<'_> {
    fn remember_cookie(&mut self, response: &TestResponse) {
        // One `Cookie` header of every cookie kept, as a browser sends it (paths ignored).
        for value in response.headers.get_all(header::SET_COOKIE) {
            let value = value.to_str().unwrap();
            let pair = value.split(';').next().unwrap().trim().to_owned();
            let name = pair.split('=').next().unwrap().to_owned();
            let mut pairs: Vec<String> =
                self.cookie.take().map(|c| c.split("; ").map(str::to_owned).collect()).unwrap_or_default();
            pairs.retain(|kept| kept.split('=').next() != Some(name.as_str()));
            if !value.to_ascii_lowercase().contains("max-age=0") {
                pairs.push(pair);
            }
            self.cookie = (!pairs.is_empty()).then(|| pairs.join("; "));
        }
    }

    /// Calls a server function as the page's JavaScript does (form-encoded, JSON back).
    pub async fn call(&mut self, function: &str, form: &[(&str, &str)]) -> TestResponse {
        self.post(function, form, "application/json").await
    }

    /// Submits a server function's form as a browser without JavaScript does.
    pub async fn submit_form(&mut self, function: &str, form: &[(&str, &str)]) -> TestResponse {
        self.post(function, form, "text/html,application/xhtml+xml").await
    }

    async fn post(&mut self, function: &str, form: &[(&str, &str)], accept: &str) -> TestResponse {
        let body = form_urlencoded::Serializer::new(String::new()).extend_pairs(form).finish();
        let mut request = Request::post(format!("/api/{function}"))
            .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
            .header(header::ACCEPT, accept)
            .header(header::ORIGIN, ORIGIN)
            .header(header::HOST, "localhost")
            .header(header::REFERER, format!("{ORIGIN}/profile"));
        if let Some(cookie) = &self.cookie {
            request = request.header(header::COOKIE, cookie);
        }
        let response = self.app.send(from_client(request.body(Body::from(body)).unwrap(), self.client)).await;
        self.remember_cookie(&response);
        response
    }

    pub async fn get(&mut self, path: &str) -> TestResponse {
        let mut request = Request::get(path).header(header::ACCEPT, "text/html");
        if let Some(cookie) = &self.cookie {
            request = request.header(header::COOKIE, cookie);
        }
        let response = self.app.send(request.body(Body::empty()).unwrap()).await;
        self.remember_cookie(&response);
        response
    }

    pub async fn sign_up(&mut self, name: &str, email: &str) -> TestResponse {
        let response = self.call("signup", &[("name", name), ("email", email), ("password", PASSWORD)]).await;
        assert!(response.status.is_success(), "sign-up failed: {} {}", response.status, response.body);
        response
    }

    /// Creates a token through the `New token` dialog's server function; returns (id, secret).
    pub async fn create_token(&mut self, name: &str, scopes: &[&str], expiration: &str) -> (String, String) {
        let response = self.call("create_token", &token_form(name, scopes, expiration)).await;
        assert_eq!(response.status, StatusCode::OK, "{}", response.body);
        let token = response.json();
        (token["id"].as_str().unwrap().to_owned(), token["secret"].as_str().unwrap().to_owned())
    }

    pub async fn list_tokens(&mut self) -> TestResponse {
        self.call("list_tokens", &[]).await
    }
}

/// The `New token` form as the browser encodes it.
pub fn token_form<'a>(name: &'a str, scopes: &[&'a str], expiration: &'a str) -> Vec<(&'a str, &'a str)> {
    const KEYS: [&str; 16] = [
        "scopes[0]",
        "scopes[1]",
        "scopes[2]",
        "scopes[3]",
        "scopes[4]",
        "scopes[5]",
        "scopes[6]",
        "scopes[7]",
        "scopes[8]",
        "scopes[9]",
        "scopes[10]",
        "scopes[11]",
        "scopes[12]",
        "scopes[13]",
        "scopes[14]",
        "scopes[15]",
    ];
    // Never fewer than asked: a scope silently left out would test the wrong token.
    assert!(scopes.len() <= KEYS.len(), "at most {} scopes in a form", KEYS.len());
    let mut form = vec![("name", name), ("expiration", expiration)];
    form.extend(scopes.iter().zip(KEYS).map(|(scope, key)| (key, *scope)));
    form
}

pub const PASSWORD: &str = "correct horse battery staple";

/// The docs' query, verbatim.
pub const DOCS_QUERY: &str = "{ user { id suuid streams { totalCount } } }";

/// SPEC §6's body for every invalid token.
pub const INVALID_TOKEN_BODY: &str =
    r#"{"errors":[{"message":"Your token is not valid.","extensions":{"code":"UNAUTHENTICATED"}}]}"#;

/// Asserts SPEC §6's exact answer for an invalid token.
pub fn assert_invalid_token(response: &TestResponse) {
    assert_eq!(response.status, StatusCode::UNAUTHORIZED, "{}", response.body);
    assert_eq!(response.header("www-authenticate"), r#"Bearer error="invalid_token""#);
    assert_eq!(response.body, INVALID_TOKEN_BODY);
}

/// Every scope a personal token may hold, by name.
pub const ALL_SCOPES: [&str; Scope::ALL.len()] = {
    let mut names = [""; Scope::ALL.len()];
    let mut i = 0;
    while i < names.len() {
        names[i] = Scope::ALL[i].name();
        i += 1;
    }
    names
};

/// [`PASSWORD`] hashed by the app's own hasher, once per test process.
async fn password_hash(app: &TestApp) -> String {
    use speckle_tokens::server::auth::password::Asker;
    static HASH: tokio::sync::OnceCell<String> = tokio::sync::OnceCell::const_new();
    let asker = Asker { address: std::net::Ipv4Addr::LOCALHOST.into(), trusted_device: true };
    let hash = || async { app.state.hasher.hash(PASSWORD.to_owned().into(), asker).await.unwrap() };
    HASH.get_or_init(hash).await.clone()
}

/// A signed-up user with a browser session, ready to mint tokens.
pub struct TestUser<'a> {
    pub browser: Browser<'a>,
    pub id: String,
}

impl<'a> TestUser<'a> {
    /// A user with a signed-in browser and a first token it used once ("whoami"), as if it
    /// had signed up: inserted directly, with [`PASSWORD`] hashed once per process, and a
    /// session made by the store. Tests of sign-up itself use [`Browser::sign_up`].
    pub async fn sign_up(app: &'a TestApp, name: &str) -> TestUser<'a> {
        use speckle_tokens::server::auth::session::{DbSessionStore, USER_ID_KEY};
        use speckle_tokens::server::db::{models, new_id, UserId};
        use tower_sessions::session::Record;
        use tower_sessions::SessionStore;

        let user = models::User {
            id: UserId::random(),
            suuid: new_id(),
            name: name.to_owned(),
            email: format!("{}@example.com", name.to_lowercase()),
            password_hash: password_hash(app).await,
            bio: None,
            company: None,
            avatar: None,
            created_at: app.now(),
        };
        let mut conn = app.state.db.get().await.unwrap();
        speckle_tokens::db_run!(&mut conn, |c| {
            diesel_async::RunQueryDsl::execute(
                diesel::insert_into(speckle_tokens::server::db::schema::users::table).values(&user),
                c,
            )
            .await
        })
        .unwrap();
        drop(conn);
        let mut record = Record {
            id: Default::default(),
            data: [(USER_ID_KEY.to_owned(), Value::from(user.id.to_string()))].into_iter().collect(),
            expiry_date: time::OffsetDateTime::now_utc() + time::Duration::days(14),
        };
        DbSessionStore::new(app.state.db.clone()).create(&mut record).await.unwrap();
        let mut browser = app.browser();
        browser.cookie = Some(format!("session={}", record.id));
        let (_, token) = browser.create_token("whoami", &["profile:read"], "7").await;
        let whoami = app.graphql(&token, "{ user { id } }").await.json();
        assert_eq!(whoami["data"]["user"]["id"], user.id.as_str(), "{whoami}");
        TestUser { browser, id: user.id.into() }
    }

    /// A fresh token with these scopes (expiring in a year).
    pub async fn token(&mut self, scopes: &[&str]) -> String {
        self.browser.create_token("test", scopes, "365").await.1
    }
}

impl TestApp {
    /// Runs a query or mutation and returns its JSON (asserting HTTP 200).
    pub async fn gql(&self, token: Option<&str>, query: &str) -> Value {
        let response = match token {
            Some(token) => self.graphql(token, query).await,
            None => self.graphql_with_header(None, query).await,
        };
        assert_eq!(response.status, StatusCode::OK, "{query}: {}", response.body);
        response.json()
    }
}

/// The `extensions.code` of the first error, or "OK" when there is none.
pub fn outcome(answer: &Value) -> String {
    answer["errors"][0]["extensions"]["code"].as_str().unwrap_or("OK").to_owned()
}

/// Runs raw SQL on the test's database (triggers, clock changes a test arranges).
pub async fn exec_sql(app: &TestApp, sql: &str) -> usize {
    use diesel_async::RunQueryDsl;
    let mut conn = app.state.db.get().await.unwrap();
    speckle_tokens::db_run!(&mut conn, |c| diesel::sql_query(sql).execute(c).await).unwrap()
}

/// What the test process holds on the heap, counted by its allocator: each test runs in a
/// process of its own (cargo-nextest), so the counts are the test's.
pub mod memory {
    use std::alloc::{GlobalAlloc, Layout, System};
    use std::sync::atomic::{AtomicUsize, Ordering};

    pub struct Counting;

    static CURRENT: AtomicUsize = AtomicUsize::new(0);
    static PEAK: AtomicUsize = AtomicUsize::new(0);

    fn grew(bytes: usize) {
        let now = CURRENT.fetch_add(bytes, Ordering::Relaxed) + bytes;
        PEAK.fetch_max(now, Ordering::Relaxed);
    }

    // SAFETY: every call is passed to the system allocator unchanged; only counted.
    unsafe impl GlobalAlloc for Counting {
        unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
            let pointer = unsafe { System.alloc(layout) };
            if !pointer.is_null() {
                grew(layout.size());
            }
            pointer
        }
        unsafe fn dealloc(&self, pointer: *mut u8, layout: Layout) {
            unsafe { System.dealloc(pointer, layout) };
            CURRENT.fetch_sub(layout.size(), Ordering::Relaxed);
        }
        unsafe fn realloc(&self, pointer: *mut u8, layout: Layout, size: usize) -> *mut u8 {
            let moved = unsafe { System.realloc(pointer, layout, size) };
            if !moved.is_null() {
                CURRENT.fetch_sub(layout.size(), Ordering::Relaxed);
                grew(size);
            }
            moved
        }
    }

    /// Bytes held now.
    pub fn current() -> usize {
        CURRENT.load(Ordering::Relaxed)
    }

    /// Starts measuring a peak from what is held now; answers it.
    pub fn reset_peak() -> usize {
        let now = current();
        PEAK.store(now, Ordering::Relaxed);
        now
    }

    /// The most held since the last [`reset_peak`].
    pub fn peak() -> usize {
        PEAK.load(Ordering::Relaxed)
    }
}

#[global_allocator]
static ALLOCATOR: memory::Counting = memory::Counting;

/// Makes `sql` run on the test's backend: `sqlite` on SQLite, `postgres` on PostgreSQL (for
/// the few statements whose functions differ, such as generating rows).
pub async fn exec_sql_per_backend(app: &TestApp, sqlite: &str, postgres: &str) -> usize {
    match postgres_url() {
        Some(_) => exec_sql(app, postgres).await,
        None => exec_sql(app, sqlite).await,
    }
}

/// Gives `user_id` `count` more live tokens, straight into the table (their secrets unknown).
pub async fn insert_tokens(app: &TestApp, user_id: &str, count: usize) {
    let columns = "id, user_id, name, token_digest, last_chars, scopes, created_at, family_id";
    exec_sql_per_backend(
        app,
        &format!(
            "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < {count}) \
             INSERT INTO api_tokens ({columns}) SELECT 'filler' || i, '{user_id}', 'filler', randomblob(32), \
             'xxxx', 'profile:read', 1700000000000 + i, 'filler' || i FROM n"
        ),
        &format!(
            "INSERT INTO api_tokens ({columns}) SELECT 'filler' || i, '{user_id}', 'filler', \
             sha256(('{user_id}' || i)::bytea), 'xxxx', 'profile:read', 1700000000000 + i, 'filler' || i \
             FROM generate_series(1, {count}) AS i"
        ),
    )
    .await;
}

/// A new stream made through the API with `token` (streams:write); answers its id.
pub async fn create_stream(app: &TestApp, token: &str, name: &str, public: bool) -> String {
    let answer = app
        .gql_vars(
            Some(token),
            "mutation($s: StreamCreateInput!) { streamCreate(stream: $s) }",
            serde_json::json!({ "s": { "name": name, "isPublic": public } }),
        )
        .await;
    answer["data"]["streamCreate"].as_str().unwrap_or_else(|| panic!("{answer}")).to_owned()
}

/// A token minted through the API by `parent` (which holds `tokens:write`), with `scopes` and
/// these `limitResources` (`[id, access]`; access `null` for Speckle's `{id, type}` alone).
pub async fn limited_token(
    app: &TestApp,
    parent: &str,
    scopes: &[&str],
    streams: &[(&str, Option<&str>)],
) -> String {
    let resources: Vec<Value> = streams
        .iter()
        .map(|(id, access)| match access {
            Some(access) => json!({ "id": id, "type": "project", "access": access }),
            None => json!({ "id": id, "type": "project" }),
        })
        .collect();
    let answer = app
        .gql_vars(
            Some(parent),
            "mutation($t: ApiTokenCreateInput!) { apiTokenCreate(token: $t) }",
            json!({ "t": { "name": "one job", "scopes": scopes, "limitResources": resources } }),
        )
        .await;
    answer["data"]["apiTokenCreate"].as_str().unwrap_or_else(|| panic!("{answer}")).to_owned()
}

/// The two vocabularies of the API (SPEC §10): the same action, as each era spells it, so
/// that one table of rules is checked in both.
#[derive(Clone, Copy, Debug)]
pub enum Era {
    /// `stream`, `branch`, `commit` (specklepy 2.x).
    Streams,
    /// `project`, `model`, `version` (specklepy 3.x and 2026.x).
    Projects,
}

impl Era {
    /// Reads the stream with its collaborators and commits.
    pub fn read(self, stream: &str) -> String {
        match self {
            Era::Streams => {
                format!(
                    r#"{{ stream(id: "{stream}") {{ name collaborators {{ id }} commits {{ totalCount }} }} }}"#
                )
            }
            Era::Projects => format!(
                r#"{{ project(id: "{stream}") {{ name team {{ id }} versions {{ totalCount }} models {{ totalCount }} }} }}"#
            ),
        }
    }

    /// Makes a commit on the branch `main` (whose id is `main_id`).
    pub fn commit(self, stream: &str, main_id: &str) -> String {
        match self {
            Era::Streams => format!(
                r#"mutation {{ commitCreate(commit: {{ streamId: "{stream}", branchName: "main", objectId: "0123456789abcdef", message: "roles", sourceApplication: "test" }}) }}"#
            ),
            Era::Projects => format!(
                r#"mutation {{ versionMutations {{ create(input: {{ projectId: "{stream}", modelId: "{main_id}", objectId: "0123456789abcdef", message: "roles", sourceApplication: "test" }}) {{ id }} }} }}"#
            ),
        }
    }

    /// Renames the stream.
    pub fn rename(self, stream: &str) -> String {
        match self {
            Era::Streams => {
                format!(r#"mutation {{ streamUpdate(stream: {{ id: "{stream}", name: "Renamed" }}) }}"#)
            }
            Era::Projects => format!(
                r#"mutation {{ projectMutations {{ update(update: {{ id: "{stream}", name: "Renamed", description: null, visibility: null }}) {{ name }} }} }}"#
            ),
        }
    }

    /// Gives `user` the `role` on the stream.
    pub fn share(self, stream: &str, user: &str, role: &str) -> String {
        match self {
            Era::Streams => format!(
                r#"mutation {{ streamUpdatePermission(permissionParams: {{ streamId: "{stream}", userId: "{user}", role: "{role}" }}) }}"#
            ),
            Era::Projects => format!(
                r#"mutation {{ projectMutations {{ updateRole(input: {{ projectId: "{stream}", userId: "{user}", role: "{role}" }}) {{ id }} }} }}"#
            ),
        }
    }

    /// Takes `user` off the stream.
    pub fn unshare(self, stream: &str, user: &str) -> String {
        match self {
            Era::Streams => format!(
                r#"mutation {{ streamRevokePermission(permissionParams: {{ streamId: "{stream}", userId: "{user}" }}) }}"#
            ),
            Era::Projects => format!(
                r#"mutation {{ projectMutations {{ updateRole(input: {{ projectId: "{stream}", userId: "{user}", role: null }}) {{ id }} }} }}"#
            ),
        }
    }

    /// Deletes the stream.
    pub fn delete(self, stream: &str) -> String {
        match self {
            Era::Streams => format!(r#"mutation {{ streamDelete(id: "{stream}") }}"#),
            Era::Projects => format!(r#"mutation {{ projectMutations {{ delete(id: "{stream}") }} }}"#),
        }
    }
}

/// The id of the stream's `main` branch (its `main` model), read with `token`.
pub async fn main_model(app: &TestApp, token: &str, stream: &str) -> String {
    let answer = app
        .gql(
            Some(token),
            &format!(r#"{{ project(id: "{stream}") {{ modelByName(name: "main") {{ id }} }} }}"#),
        )
        .await;
    answer["data"]["project"]["modelByName"]["id"].as_str().unwrap_or_else(|| panic!("{answer}")).to_owned()
}

impl Era {
    /// Invites `whom` (`userId: "…"` or `email: "…"`, as GraphQL input fields) as `role`.
    pub fn invite(self, stream: &str, whom: &str, role: &str) -> String {
        match self {
            Era::Streams => format!(
                r#"mutation {{ streamInviteCreate(input: {{ streamId: "{stream}", {whom}, role: "{role}" }}) }}"#
            ),
            Era::Projects => format!(
                r#"mutation {{ projectMutations {{ invites {{ create(projectId: "{stream}", input: {{ {whom}, role: "{role}" }}) {{ id }} }} }} }}"#
            ),
        }
    }

    /// The token's user's pending invitations, as `[{ streamId, token, inviteId, title }]` at
    /// the answer's `data` path given by [`Era::invitations`].
    pub fn my_invitations(self) -> &'static str {
        match self {
            Era::Streams => "{ streamInvites { streamId token inviteId title role invitedBy { name } } }",
            Era::Projects => {
                "{ activeUser { projectInvites { streamId: projectId token inviteId title role invitedBy { name } } } }"
            }
        }
    }

    /// The list in an answer to [`Era::my_invitations`].
    pub fn invitations(self, answer: &Value) -> Vec<Value> {
        let list = match self {
            Era::Streams => &answer["data"]["streamInvites"],
            Era::Projects => &answer["data"]["activeUser"]["projectInvites"],
        };
        list.as_array().unwrap_or_else(|| panic!("{answer}")).clone()
    }

    /// The stream's pending invitations, as its owner sees them.
    pub fn invited(self, stream: &str) -> String {
        match self {
            Era::Streams => format!(
                r#"{{ stream(id: "{stream}") {{ list: pendingCollaborators {{ inviteId title token }} }} }}"#
            ),
            Era::Projects => format!(
                r#"{{ stream: project(id: "{stream}") {{ list: invitedTeam {{ inviteId title token }} }} }}"#
            ),
        }
    }

    /// Accepts or declines the invitation that `token` names.
    pub fn answer(self, stream: &str, token: &str, accept: bool) -> String {
        match self {
            Era::Streams => {
                format!(
                    r#"mutation {{ streamInviteUse(accept: {accept}, streamId: "{stream}", token: "{token}") }}"#
                )
            }
            Era::Projects => format!(
                r#"mutation {{ projectMutations {{ invites {{ use(input: {{ projectId: "{stream}", token: "{token}", accept: {accept} }}) }} }} }}"#
            ),
        }
    }

    /// Cancels an invitation.
    pub fn cancel(self, stream: &str, invite: &str) -> String {
        match self {
            Era::Streams => {
                format!(r#"mutation {{ streamInviteCancel(streamId: "{stream}", inviteId: "{invite}") }}"#)
            }
            Era::Projects => format!(
                r#"mutation {{ projectMutations {{ invites {{ cancel(projectId: "{stream}", inviteId: "{invite}") {{ id }} }} }} }}"#
            ),
        }
    }
}
