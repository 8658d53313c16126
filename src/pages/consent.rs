//! The consent pages (SPEC §11): `/oauth/authorize` and Speckle's
//! `/authn/verify/<app>/<challenge>`, and `/device` for a program without a browser. The
//! person sees who made the app, where it sends them back (or, on `/device`, the code their
//! device shows) and what it asks for, then answers `Authorize` or `Deny`. Already granted,
//! an authorization request passes without being shown (the server redirects before the
//! page is sent); a device is always asked about.

use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::hooks::{use_params_map, use_query_map};

use crate::components::account::{action_error, load_page_after};
use crate::server_fns::consent::{
    authorization, device_request, AnswerDevice, Asking, AuthorizationRequest, Consent, Decide, DeviceCode,
    ScopeLine,
};

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
                        Ok(Consent::Ask { asking, destination }) => view! {
                            <h1>{format!("Authorize {}", asking.app_name)}</h1>
                            <AppAsking asking>
                                <p>"After you answer, you go back to "
                                    <strong>{destination.unwrap_or_else(|| "an app on this computer".to_owned())}</strong>
                                    "."
                                </p>
                            </AppAsking>
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

/// What the app is, who made it, and what it asks for; `children` say where the answer goes.
#[component]
fn AppAsking(asking: Asking, children: Children) -> impl IntoView {
    let Asking { description, author, asked, granted, .. } = asking;
    view! {
        {(!description.is_empty()).then(|| view! { <p>{description}</p> })}
        <p>{match author {
            Some(author) => format!(
                "Registered by {author}, a user of this server. It is not made by this server's operators."
            ),
            None => "One of Speckle's own apps, installed by this server.".to_owned(),
        }}</p>
        {children()}
        <Scopes title="It asks to" lines=asked/>
        <Scopes title="Already allowed" lines=granted/>
    }
}

/// `/device[?user_code=…]` (RFC 8628 §3.3): the person types the code their device shows (or
/// follows the link the device gave, with the code in it, and compares); the app's name
/// appears beside the code, then what it asks for and the answer's buttons.
#[component]
pub fn DevicePage() -> impl IntoView {
    let typed = use_query_map().with_untracked(|q| q.get("user_code").unwrap_or_default());
    let answer = ServerAction::<AnswerDevice>::new();
    let request = Resource::new(move || answer.version().get(), {
        let typed = typed.clone();
        move |_| device_request(typed.clone())
    });
    view! {
        <Title text="Connect a device · Speckle Tokens"/>
        <h1>"Connect a device"</h1>
        <p>"Type the code that your device or command-line tool shows you."</p>
        // A plain GET form: the code comes back in the page's query, with or without JavaScript.
        <form method="get" action="/device" class="device-code">
            <label for="user_code">"Code"</label>
            <input
                id="user_code"
                name="user_code"
                value=typed.clone()
                required
                autocomplete="off"
                autocapitalize="characters"
                spellcheck="false"
                aria-describedby="device-app"
            />
            <span id="device-app">
                <Suspense fallback=|| ()>
                    {move || Suspend::new(async move {
                        match request.await {
                            Ok(DeviceCode::Waiting(Asking { app_name, .. }) | DeviceCode::Answered { app_name, .. }) => {
                                Some(view! { "for " <strong>{app_name}</strong> })
                            }
                            _ => None,
                        }
                    })}
                </Suspense>
            </span>
            <button type="submit" class="secondary">"Continue"</button>
        </form>
        <Suspense fallback=|| ()>
            {move || {
                let typed = typed.clone();
                Suspend::new(async move {
                    match request.await {
                        Ok(DeviceCode::Empty) => ().into_any(),
                        Ok(DeviceCode::Unknown) => view! {
                            <p class="error" role="alert">
                                "No device waits for this code. Check it against your device: codes last ten minutes."
                            </p>
                        }.into_any(),
                        Ok(DeviceCode::Answered { app_name, approved }) => view! {
                            <p role="status">{if approved {
                                format!("{app_name} may now act for you. Go back to your device.")
                            } else {
                                format!("You refused {app_name}. Your device gets nothing.")
                            }}</p>
                        }.into_any(),
                        Ok(DeviceCode::Waiting(asking)) => view! {
                            <h2>{format!("Authorize {}", asking.app_name)}</h2>
                            <AppAsking asking>
                                <p>"Authorize only if this is the code your own device shows."</p>
                            </AppAsking>
                            <ActionForm action=answer attr:class="buttons">
                                <input type="hidden" name="user_code" value=typed/>
                                {action_error(answer.value())}
                                <button type="submit" name="decision" value="authorize" disabled=move || answer.pending().get()>"Authorize"</button>
                                <button type="submit" name="decision" value="deny" class="secondary" disabled=move || answer.pending().get()>"Deny"</button>
                            </ActionForm>
                        }.into_any(),
                        Err(error) => view! { <p class="error" role="alert">{error.to_string()}</p> }.into_any(),
                    }
                })
            }}
        </Suspense>
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
