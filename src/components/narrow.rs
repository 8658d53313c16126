//! SPEC §12's "Narrow it": on a token's activity page, when it used fewer scopes or streams
//! in the last 30 days than it holds, a notice says which, and `Narrow <name>` opens the
//! Regenerate dialog with exactly those chosen. The new secret is shown once, as always; the
//! old token keeps working in its grace period.

use leptos::html::Dialog;
use leptos::prelude::*;
use leptos_router::hooks::use_query_map;

use super::account::action_error;
use super::dialog::{open_modal, upgrade_to_modal_when_hydrated, CancelButton};
use super::tokens::{ExpirationSelect, ScopeChoices, ShowSecret};
use crate::server_fns::activity::NarrowOffer;
use crate::server_fns::tokens::RegenerateToken;

/// What the token used, in words: "streams:read, on Alpha and Beta".
fn used(offer: &NarrowOffer) -> String {
    let scopes = offer.scopes.join(", ");
    match &offer.streams {
        None => scopes,
        Some(streams) => {
            let names: Vec<&str> = streams.iter().map(|stream| stream.name.as_str()).collect();
            format!("{scopes}, on {}", names.join(", "))
        }
    }
}

/// The notice, its button and the dialog (`?narrow=1` opens it without JavaScript).
#[component]
pub fn NarrowNotice(id: String, name: String, offer: NarrowOffer) -> impl IntoView {
    let regenerate = ServerAction::<RegenerateToken>::new();
    let dialog = NodeRef::<Dialog>::new();
    let rendered_open = use_query_map().with_untracked(|q| q.get("narrow").is_some());
    upgrade_to_modal_when_hydrated(dialog, rendered_open);
    let open = move |ev: leptos::ev::MouseEvent| {
        ev.prevent_default();
        regenerate.value().set(None);
        open_modal(dialog);
    };
    let path = format!("/profile/tokens/{id}");
    let button = format!("Narrow {name}");
    let title = format!("Regenerate {name}");
    let summary = used(&offer);
    view! {
        <section class="notice" aria-labelledby="narrow-title">
            <h2 id="narrow-title">"This token could do less"</h2>
            <p>"In the last 30 days it used only " <strong>{summary.clone()}</strong> ". "
               "A token that holds only what it uses does less harm if it leaks."</p>
            <form method="get" action=path>
                <button type="submit" name="narrow" value="1" on:click=open>{button}</button>
            </form>
        </section>
        <dialog node_ref=dialog aria-labelledby="narrow-dialog-title" aria-modal="true" open=rendered_open
            on:close=move |_| regenerate.value().set(None)>
            <h2 id="narrow-dialog-title">{title}</h2>
            {move || match regenerate.value().get() {
                Some(Ok(Some(token))) => view! { <ShowSecret token dialog/> }.into_any(),
                _ => {
                    let offer = offer.clone();
                    let id = id.clone();
                    view! {
                        <p>
                            "A new token replaces this one, with only what it used. The old token keeps "
                            "working until the new one is first used, or for 24 hours."
                        </p>
                        <ActionForm action=regenerate attr:class="stacked">
                            <input type="hidden" name="id" value=id/>
                            <input type="hidden" name="narrow" value="true"/>
                            <ScopeChoices id_prefix="narrow-scope" chosen=Signal::stored(offer.scopes.clone())/>
                            {offer.streams.clone().map(|streams| view! { <NarrowStreams streams/> })}
                            <ExpirationSelect id="narrow-expiration"/>
                            {action_error(regenerate.value())}
                            <button type="submit" disabled=move || regenerate.pending().get()>"Regenerate"</button>
                        </ActionForm>
                        <CancelButton dialog/>
                    }.into_any()
                }
            }}
        </dialog>
    }
}

/// The streams it used, ticked, each at the level it needs (as the New token dialog names
/// them: `streams[i]`, `levels[i]`).
#[component]
fn NarrowStreams(streams: Vec<crate::server_fns::tokens::StreamGrant>) -> impl IntoView {
    view! {
        <fieldset class="reach">
            <legend>"Streams"</legend>
            <ul class="stream-choices">
                {streams.into_iter().enumerate().map(|(i, stream)| {
                    let id = format!("narrow-stream-{i}");
                    let level_id = format!("narrow-stream-{i}-access");
                    let writes = stream.access == "Read and write";
                    view! {
                        <li>
                            <input type="checkbox" id=id.clone() name=format!("streams[{i}]") value=stream.id.clone() checked=true/>
                            <label for=id>{stream.name.clone()}</label>
                            <span class="level">
                                <label for=level_id.clone() class="visually-hidden">{format!("Access to {}", stream.name)}</label>
                                <select id=level_id name=format!("levels[{i}]")>
                                    <option value=format!("{}:read", stream.id) selected=!writes>"Read"</option>
                                    <option value=format!("{}:write", stream.id) selected=writes>"Read and write"</option>
                                </select>
                            </span>
                        </li>
                    }
                }).collect_view()}
            </ul>
        </fieldset>
    }
}
