//! `/profile/tokens/<id>` (one token's scopes, dates, addresses and events) and
//! `/profile/security` (every event of the account), newest first, a page at a time.

use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::components::{Redirect, A};
use leptos_router::hooks::{use_params_map, use_query_map};

use crate::components::narrow::NarrowNotice;
use crate::rules::error::AppError;
use crate::server_fns::activity::{get_security_log, get_token_activity, EventRow, TokenActivity};

#[component]
pub fn TokenActivityPage() -> impl IntoView {
    let params = use_params_map();
    let query = use_query_map();
    let activity = Resource::new(
        move || (params.get().get("id").unwrap_or_default(), query.get().get("before").unwrap_or_default()),
        |(id, before)| get_token_activity(id, before),
    );
    view! {
        <Title text="Token activity · Speckle Tokens"/>
        <p><A href="/profile">"Back to your profile"</A></p>
        <Suspense fallback=|| view! { <p>"Loading…"</p> }>
            {move || Suspend::new(async move {
                match activity.await {
                    Err(AppError::SignedOut) => view! { <Redirect path="/login?next=/profile"/> }.into_any(),
                    Err(error) => view! {
                        <h1>"Token activity"</h1>
                        <p class="error" role="alert">{error.to_string()}</p>
                    }.into_any(),
                    Ok(activity) => view! { <TokenDetails activity/> }.into_any(),
                }
            })}
        </Suspense>
    }
}

#[component]
fn TokenDetails(activity: TokenActivity) -> impl IntoView {
    let token = activity.token;
    let path = format!("/profile/tokens/{}", token.id);
    view! {
        <h1>"Token " {token.name.clone()}</h1>
        {token.description.clone().map(|description| view! { <p>{description}</p> })}
        <dl class="profile">
            <dt>"Status"</dt>
            <dd>{activity.status}</dd>
            <dt>"Scopes"</dt>
            <dd>{token.scopes.join(", ")}</dd>
            <dt>"Streams"</dt>
            <dd>{token.reach()}</dd>
            <dt>"Token"</dt>
            <dd><code>"…"{token.last_chars}</code></dd>
            <dt>"Created"</dt>
            <dd>{token.created_exact}</dd>
            <dt>"Last used"</dt>
            <dd>{token.last_used}</dd>
            <dt>"Expires"</dt>
            <dd>{token.expires_exact.unwrap_or_else(|| "Never".to_owned())}</dd>
        </dl>
        {token.streams.clone().map(|streams| view! {
            <h2 id="streams-title">"Streams"</h2>
            {if streams.is_empty() {
                view! { <p>"None left: its streams were deleted, or you left them. It reads only what anyone may read."</p> }.into_any()
            } else {
                view! {
                    <table aria-labelledby="streams-title">
                        <thead><tr><th scope="col">"Stream"</th><th scope="col">"Access"</th></tr></thead>
                        <tbody>
                            {streams.into_iter().map(|stream| view! {
                                <tr><td><a href=format!("/streams/{}", stream.id)>{stream.name}</a></td><td>{stream.access}</td></tr>
                            }).collect_view()}
                        </tbody>
                    </table>
                }.into_any()
            }}
        })}
        {activity.narrow.map(|offer| view! { <NarrowNotice id=token.id.clone() name=token.name.clone() offer/> })}
        <h2 id="addresses-title">"Last used from"</h2>
        {if activity.addresses.is_empty() {
            view! { <p>"Not used yet."</p> }.into_any()
        } else {
            view! {
                <table aria-labelledby="addresses-title">
                    <thead><tr><th scope="col">"IP address"</th><th scope="col">"Last seen"</th></tr></thead>
                    <tbody>
                        {activity.addresses.into_iter().map(|address| view! {
                            <tr><td>{address.ip}</td><td><time title=address.at>{address.ago}</time></td></tr>
                        }).collect_view()}
                    </tbody>
                </table>
            }.into_any()
        }}
        <h2 id="events-title">"Events"</h2>
        <EventTable events=activity.events labelled_by="events-title" with_token=false/>
        <OlderLink path older=activity.older/>
    }
}

#[component]
pub fn SecurityPage() -> impl IntoView {
    let query = use_query_map();
    let log = Resource::new(move || query.get().get("before").unwrap_or_default(), get_security_log);
    view! {
        <Title text="Security log · Speckle Tokens"/>
        <p><A href="/profile">"Back to your profile"</A></p>
        <h1 id="security-title">"Security log"</h1>
        <p>"What happened to your tokens and your account, newest first."</p>
        <Suspense fallback=|| view! { <p>"Loading…"</p> }>
            {move || Suspend::new(async move {
                match log.await {
                    Err(AppError::SignedOut) => view! { <Redirect path="/login?next=/profile/security"/> }.into_any(),
                    Err(error) => view! { <p class="error" role="alert">{error.to_string()}</p> }.into_any(),
                    Ok(log) => view! {
                        <EventTable events=log.events labelled_by="security-title" with_token=true/>
                        <OlderLink path="/profile/security".to_owned() older=log.older/>
                    }.into_any(),
                }
            })}
        </Suspense>
    }
}

#[component]
fn EventTable(events: Vec<EventRow>, labelled_by: &'static str, with_token: bool) -> impl IntoView {
    if events.is_empty() {
        return view! { <p>"Nothing yet."</p> }.into_any();
    }
    view! {
        <table class="events" aria-labelledby=labelled_by>
            <thead>
                <tr>
                    <th scope="col">"Event"</th>
                    {with_token.then(|| view! { <th scope="col">"Token"</th> })}
                    <th scope="col">"When"</th>
                    <th scope="col">"IP address"</th>
                    <th scope="col">"User agent"</th>
                </tr>
            </thead>
            <tbody>
                {events.into_iter().map(|event| view! {
                    <tr>
                        <td>
                            {event.label}
                            {event.detail.map(|detail| view! { <span class="hint">" — " {detail}</span> })}
                        </td>
                        {with_token.then(|| view! {
                            <td>
                                {match (event.token_id, event.token_name) {
                                    (Some(id), Some(name)) => view! { <A href=format!("/profile/tokens/{id}")>{name}</A> }.into_any(),
                                    _ => view! { <span>"—"</span> }.into_any(),
                                }}
                            </td>
                        })}
                        <td><time title=event.at>{event.ago}</time></td>
                        <td>{event.ip}</td>
                        <td class="user-agent">{event.user_agent}</td>
                    </tr>
                }).collect_view()}
            </tbody>
        </table>
    }
    .into_any()
}

#[component]
fn OlderLink(path: String, older: Option<String>) -> impl IntoView {
    older.map(|before| {
        let href = format!(
            "{path}?{}",
            form_urlencoded::Serializer::new(String::new()).append_pair("before", &before).finish()
        );
        view! { <p><a href=href>"Older events"</a></p> }
    })
}
