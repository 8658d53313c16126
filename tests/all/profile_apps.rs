//! The apps part of "Your Apps" on `/profile` (SPEC §11) through its server functions, with
//! JavaScript (JSON answers) and without (form posts, redirects): registering an app with its
//! secret shown once, regenerating, editing and deleting it, and a person ending an app's
//! access, each ending the tokens it must.

use axum::http::StatusCode;
use serde_json::{json, Value};

use crate::apps::{acts_for, post_form, s256_code};
use crate::common::*;

const VERIFIER: &str = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";

/// The `New app` form as the browser encodes it.
fn app_form<'a>(name: &'a str, urls: &'a str, scopes: &[&'a str], public: bool) -> Vec<(&'a str, &'a str)> {
    const KEYS: [&str; 4] = ["scopes[0]", "scopes[1]", "scopes[2]", "scopes[3]"];
    let mut form = vec![("name", name), ("description", "Checks models."), ("redirect_urls", urls)];
    form.extend(KEYS.iter().copied().zip(scopes.iter().copied()));
    if public {
        form.push(("public", "yes"));
    }
    form
}

/// The access token `user_id` gets from the app, through the standard endpoint.
async fn access_token(app: &TestApp, client_id: &str, secret: &str, user_id: &str) -> Option<String> {
    let code = s256_code(app, client_id, user_id, VERIFIER).await;
    let form = [
        ("grant_type", "authorization_code"),
        ("code", code.as_str()),
        ("code_verifier", VERIFIER),
        ("client_id", client_id),
        ("client_secret", secret),
    ];
    let answer = post_form(app, "/oauth/token", &form, None).await;
    (answer.status == StatusCode::OK).then(|| answer.json()["access_token"].as_str().unwrap().to_owned())
}

async fn listed(browser: &mut Browser<'_>) -> Value {
    let answer = browser.call("list_apps", &[]).await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.body);
    answer.json()
}

#[tokio::test]
async fn a_developer_registers_regenerates_edits_and_deletes_an_app_and_a_person_revokes_its_access() {
    let app = TestApp::new().await;
    let mut author = app.browser();
    author.sign_up("Author", "author@example.com").await;
    let mut person = app.browser();
    person.sign_up("Person", "person@example.com").await;
    let person_id = person.call("current_user", &[]).await.json()["id"].as_str().unwrap().to_owned();

    let form = app_form("Checker", "https://checker.example/cb", &["streams:read", "profile:read"], false);
    let made = author.call("create_app", &form).await;
    assert_eq!(made.status, StatusCode::OK, "{}", made.body);
    let made = made.json();
    let (id, secret) = (made["id"].as_str().unwrap().to_owned(), made["secret"].as_str().unwrap().to_owned());
    assert!(secret.starts_with("spkcs_"), "{made}");
    let created = &listed(&mut author).await["created"];
    assert_eq!(created.as_array().unwrap().len(), 1, "{created}");
    assert_eq!(created[0]["id"], id.as_str());
    assert_eq!(created[0]["public"], false);
    assert_eq!(created[0]["redirect_urls"], "https://checker.example/cb");
    assert_eq!(created[0]["scopes"], json!(["streams:read", "profile:read"]));
    assert!(!created.to_string().contains("spkcs_"), "the list never holds the secret");

    // The secret works; once regenerated, only the new one does.
    assert!(access_token(&app, &id, &secret, &person_id).await.is_some());
    let renewed = author.call("regenerate_app_secret", &[("id", &id)]).await.json();
    let new_secret = renewed["secret"].as_str().unwrap().to_owned();
    assert_ne!(new_secret, secret);
    assert!(access_token(&app, &id, &secret, &person_id).await.is_none(), "the old secret is dead");
    let access = access_token(&app, &id, &new_secret, &person_id).await.unwrap();
    assert_eq!(acts_for(&app, &access).await.as_deref(), Some(person_id.as_str()));

    // The person sees the app they authorized, and ends its access: the token dies.
    let authorized = &listed(&mut person).await["authorized"];
    assert_eq!(authorized.as_array().unwrap().len(), 1, "{authorized}");
    assert_eq!(authorized[0]["name"], "Checker");
    assert_eq!(authorized[0]["author"], "Author");
    assert_eq!(authorized[0]["scopes"], json!(["streams:read", "profile:read"]));
    let revoked = person.call("revoke_app_access", &[("app_id", &id)]).await;
    assert_eq!(revoked.status, StatusCode::OK, "{}", revoked.body);
    assert_eq!(acts_for(&app, &access).await, None);
    assert_eq!(listed(&mut person).await["authorized"], json!([]));
    let again = person.call("revoke_app_access", &[("app_id", &id)]).await;
    assert_eq!(again.status, StatusCode::OK, "a second submission of the dialog is not an error");

    // Nobody but the author edits or deletes it.
    let edit = app_form("Checker 2", "https://checker.example/cb", &["streams:read"], false);
    let mut foreign = vec![("id", id.as_str())];
    foreign.extend(edit.iter().copied());
    assert_eq!(person.call("update_app", &foreign).await.status, StatusCode::NOT_FOUND);
    assert_eq!(person.call("delete_app", &[("id", &id)]).await.status, StatusCode::NOT_FOUND);
    assert_eq!(person.call("regenerate_app_secret", &[("id", &id)]).await.status, StatusCode::NOT_FOUND);

    // Narrowed by its author, the app's grants end; deleted, it is gone with its grants.
    let access = access_token(&app, &id, &new_secret, &person_id).await.unwrap();
    let edited = author.call("update_app", &foreign).await;
    assert_eq!(edited.status, StatusCode::OK, "{}", edited.body);
    assert_eq!(listed(&mut author).await["created"][0]["name"], "Checker 2");
    assert_eq!(acts_for(&app, &access).await, None, "narrowing ended the grant");
    let access = access_token(&app, &id, &new_secret, &person_id).await.unwrap();
    assert_eq!(author.call("delete_app", &[("id", &id)]).await.status, StatusCode::OK);
    assert_eq!(acts_for(&app, &access).await, None, "deleting ended the grant");
    assert_eq!(listed(&mut author).await["created"], json!([]));
    assert_eq!(listed(&mut person).await["authorized"], json!([]));
}

#[tokio::test]
async fn bad_fields_are_refused_and_register_nothing() {
    let app = TestApp::new().await;
    let mut author = app.browser();
    author.sign_up("Author", "author@example.com").await;
    for (form, message) in [
        (app_form(" ", "https://checker.example/cb", &["profile:read"], false), "name"),
        (app_form("No scopes", "https://checker.example/cb", &[], false), "Choose at least one scope."),
        (app_form("Bad scope", "https://checker.example/cb", &["streams:fly"], false), "streams:fly"),
        (app_form("Plain http", "http://checker.example/cb", &["profile:read"], false), "http"),
    ] {
        let answer = author.call("create_app", &form).await;
        assert_eq!(answer.status, StatusCode::BAD_REQUEST, "{form:?}: {}", answer.body);
        assert!(answer.body.contains(message), "{form:?}: {}", answer.body);
    }
    assert_eq!(listed(&mut author).await["created"], json!([]));
}

#[tokio::test]
async fn without_javascript_the_client_secret_is_shown_once_after_the_redirect() {
    let app = TestApp::new().await;
    let mut author = app.browser();
    author.sign_up("Author", "author@example.com").await;
    let form = app_form("Plain", "https://plain.example/cb", &["profile:read"], false);
    let posted = author.submit_form("create_app", &form).await;
    assert_eq!(posted.status, StatusCode::FOUND, "{}", posted.body);
    assert_eq!(posted.header("location"), "/profile");
    assert!(!posted.body.contains("spkcs_"));

    let page = author.get("/profile").await;
    let start = page.body.find("spkcs_").expect("the secret is shown after the redirect");
    let secret: String =
        page.body[start..].chars().take_while(|c| c.is_ascii_alphanumeric() || *c == '_').collect();
    assert!(page.body.contains("Client secret") && page.body.contains("Client ID"), "{}", page.body);
    let again = author.get("/profile").await;
    assert!(!again.body.contains(&secret), "shown a second time");
    let id = listed(&mut author).await["created"][0]["id"].as_str().unwrap().to_owned();
    let person = TestUser::sign_up(&app, "Person").await;
    assert!(access_token(&app, &id, &secret, &person.id).await.is_some(), "the shown secret works");

    // A public client crosses with its id and no secret.
    let form = app_form("Desktop", "http://127.0.0.1/callback", &["profile:read"], true);
    assert_eq!(author.submit_form("create_app", &form).await.status, StatusCode::FOUND);
    let page = author.get("/profile").await.body.replace("<!>", "");
    assert!(page.contains("Credentials of Desktop"), "{page}");
    assert!(page.contains("A public client has no secret"), "{page}");

    // An invalid form comes back to the open dialog with its message.
    let form = app_form("No scopes", "https://plain.example/cb", &[], false);
    let posted = author.submit_form("create_app", &form).await;
    assert_eq!(posted.status, StatusCode::FOUND);
    let location = posted.header("location").trim_start_matches(ORIGIN).to_owned();
    let page = author.get(&location).await;
    assert!(page.body.contains("Choose at least one scope."), "{}", page.body);
    assert!(
        page.body.contains(r#"<dialog aria-labelledby="new-app-title" aria-modal="true" open"#),
        "{}",
        page.body
    );
    assert_eq!(listed(&mut author).await["created"].as_array().unwrap().len(), 2);
}

#[tokio::test]
async fn after_a_password_change_the_person_ends_every_apps_access_at_once() {
    let app = TestApp::new().await;
    let mut person = app.browser();
    person.sign_up("Changer", "changer@example.com").await;
    let person_id = person.call("current_user", &[]).await.json()["id"].as_str().unwrap().to_owned();
    let first = access_token(&app, "sca", "sca", &person_id).await.unwrap();
    let second = access_token(&app, "sdas", "sdas", &person_id).await.unwrap();
    let changed = person
        .call(
            "change_password",
            &[
                ("current_password", "correct horse battery staple"),
                ("new_password", "another horse battery staple"),
            ],
        )
        .await;
    assert_eq!(changed.status, StatusCode::OK, "{}", changed.body);
    assert!(acts_for(&app, &first).await.is_some(), "a password change alone leaves apps their access");
    let ended = person.call("end_all_app_access", &[]).await;
    assert_eq!((ended.status, ended.json()), (StatusCode::OK, json!("2 apps lost their access.")));
    assert_eq!(acts_for(&app, &first).await, None);
    assert_eq!(acts_for(&app, &second).await, None);
    assert_eq!(listed(&mut person).await["authorized"], json!([]));
    let again = person.submit_form("end_all_app_access", &[]).await;
    assert_eq!((again.status, again.header("location")), (StatusCode::FOUND, "/profile"));
}
