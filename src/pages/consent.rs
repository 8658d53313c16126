//! The consent page (SPEC §11): `/oauth/authorize` and Speckle's
//! `/authn/verify/<app>/<challenge>`. The person sees who made the app, where it sends them
//! back and what it asks for, then answers `Authorize` or `Deny`. Already granted, the request
//! passes without being shown (the server redirects before the page is sent).

use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::hooks::{use_params_map, use_query_map};

use crate::components::account::{action_error, load_page_after};
use crate::server_fns::consent::{authorization, AuthorizationRequest, Consent, Decide, ScopeLine};

/// `/oauth/authorize?client_id=…&redirect_uri=…&response_type=code&scope=…&state=…&code_challenge=…`
#[component]
pub fn AuthorizePage() -> impl IntoView {
    let request = use_query_map().with_untracked(|q| AuthorizationRequest {
        speckle: false,
        client_id: q.get("client_id").unwrap_or_default(),
        response_type: q.get("response_type"),
        redirect_uri: q.get("redirect_uri"),
        scope: q.get("scope"),
        state: q.get("state"),
        code_challenge: q.get("code_challenge"),
        code_challenge_method: q.get("code_challenge_method"),
    });
    view! { <ConsentPage request/> }
}

/// `/authn/verify/<app>/<challenge>[?code_challenge_method=S256]`, as Speckle's clients open it.
#[component]
pub fn SpeckleVerifyPage() -> impl IntoView {
    let params = use_params_map().get_untracked();
    let method = use_query_map().with_untracked(|q| q.get("code_challenge_method"));
    let request = AuthorizationRequest {
        speckle: true,
        client_id: params.get("app").unwrap_or_default(),
        code_challenge: params.get("challenge"),
        code_challenge_method: method,
        ..Default::default()
    };
    view! { <ConsentPage request/> }
}

#[component]
fn ConsentPage(request: AuthorizationRequest) -> impl IntoView {
    let consent = Resource::new(|| (), {
        let request = request.clone();
        move |_| authorization(request.clone())
    });
    view! {
        <Title text="Authorize an app · Speckle Tokens"/>
        <Suspense fallback=|| view! { <p>"Loading…"</p> }>
            {move || {
                let request = request.clone();
                Suspend::new(async move {
                    match consent.await {
                        Ok(Consent::Ask { app_name, description, author, destination, asked, granted }) => view! {
                            <h1>{format!("Authorize {app_name}")}</h1>
                            {(!description.is_empty()).then(|| view! { <p>{description}</p> })}
                            <p>{match author {
                                Some(author) => format!(
                                    "Registered by {author}, a user of this server. It is not made by this server's operators."
                                ),
                                None => "One of Speckle's own apps, installed by this server.".to_owned(),
                            }}</p>
                            <p>"After you answer, you go back to "
                                <strong>{destination.unwrap_or_else(|| "an app on this computer".to_owned())}</strong>
                                "."
                            </p>
                            <Scopes title="It asks to" lines=asked/>
                            <Scopes title="Already allowed" lines=granted/>
                            <Answer request/>
                        }.into_any(),
                        Ok(Consent::Granted(url)) => view! {
                            <h1>"Authorized"</h1>
                            <p><a href=url>"Continue to the app"</a></p>
                        }.into_any(),
                        Ok(Consent::Refused(why)) => refused(why).into_any(),
                        Err(error) => refused(error.to_string()).into_any(),
                    }
                })
            }}
        </Suspense>
    }
}

fn refused(why: String) -> impl IntoView {
    view! {
        <h1>"This app cannot be authorized"</h1>
        <p class="error" role="alert">{why}</p>
    }
}

/// A list of scopes with their descriptions, under its heading; nothing when empty.
#[component]
fn Scopes(title: &'static str, lines: Vec<ScopeLine>) -> impl IntoView {
    (!lines.is_empty()).then(|| {
        let id = format!("scopes-{}", title.len());
        view! {
            <h2 id=id.clone()>{title}</h2>
            <ul aria-labelledby=id class="scopes">
                {lines.into_iter().map(|line| view! {
                    <li><code>{line.name}</code>" — "{line.description}</li>
                }).collect_view()}
            </ul>
        }
    })
}

/// `Authorize` and `Deny`: the request travels back in hidden fields and is checked again.
#[component]
fn Answer(request: AuthorizationRequest) -> impl IntoView {
    let decide = ServerAction::<Decide>::new();
    load_page_after(decide.value());
    let hidden = |name: &'static str, value: Option<String>| {
        value.map(|value| view! { <input type="hidden" name=format!("request[{name}]") value=value/> })
    };
    view! {
        <ActionForm action=decide attr:class="buttons">
            {hidden("speckle", Some(request.speckle.to_string()))}
            {hidden("client_id", Some(request.client_id))}
            {hidden("response_type", request.response_type)}
            {hidden("redirect_uri", request.redirect_uri)}
            {hidden("scope", request.scope)}
            {hidden("state", request.state)}
            {hidden("code_challenge", request.code_challenge)}
            {hidden("code_challenge_method", request.code_challenge_method)}
            {action_error(decide.value())}
            <button type="submit" name="decision" value="authorize" disabled=move || decide.pending().get()>"Authorize"</button>
            <button type="submit" name="decision" value="deny" class="secondary" disabled=move || decide.pending().get()>"Deny"</button>
        </ActionForm>
    }
}
