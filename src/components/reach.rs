//! The `Streams` choice of the New token dialog (SPEC §12): `All streams`, or only selected
//! streams, each `Read` or `Read and write`, found by a search the database answers.
//!
//! Without JavaScript it is the same form: every part is rendered, and `Find a stream` submits
//! the [`StreamFinder`] form (a GET of `/profile?new=1&find=…`), whose answer is the dialog
//! again with the streams found.

use leptos::prelude::*;
use leptos_router::hooks::use_query_map;

use crate::server_fns::tokens::{find_streams, StreamChoice};

/// The id of the GET form that `Find a stream` belongs to without JavaScript.
const FINDER: &str = "find-streams";

/// The radio group, the search and the streams with their levels: `reach` (`all` or
/// `selected`), `streams[i]` (the ticked ids) and `levels[i]` (`<id>:read` or `<id>:write`,
/// for every stream listed: the ticked ones count).
#[component]
pub fn StreamChoices() -> impl IntoView {
    let query = use_query_map();
    let searched = query.with_untracked(|q| q.get("find"));
    let selected = RwSignal::new(searched.is_some());
    let search = RwSignal::new(searched.clone().unwrap_or_default());
    // What the person ticked, and whether for writing, kept across searches.
    let chosen = RwSignal::new(Vec::<Chosen>::new());
    // Read only once the person chose `Only selected streams` (or searched, without
    // JavaScript): a page that shows the dialog closed asks the database nothing.
    let found = Resource::new(
        move || (selected.get(), search.get()),
        |(selected, search)| async move {
            match selected {
                true => find_streams(search).await,
                false => Ok(Vec::new()),
            }
        },
    );
    // Rendered shown (a form without JavaScript needs it), hidden once hydrated while
    // `All streams` is chosen.
    let hydrated = RwSignal::new(false);
    Effect::new(move |_| hydrated.set(true));
    let hide_picker = move || hydrated.get() && !selected.get();

    view! {
        <fieldset class="reach">
            <legend>"Streams"</legend>
            <div class="choice">
                <input
                    type="radio"
                    id="reach-all"
                    name="reach"
                    value="all"
                    checked=searched.is_none()
                    on:change=move |_| selected.set(false)
                />
                <label for="reach-all">"All streams"</label>
            </div>
            <div class="choice">
                <input
                    type="radio"
                    id="reach-selected"
                    name="reach"
                    value="selected"
                    checked=searched.is_some()
                    on:change=move |_| selected.set(true)
                />
                <label for="reach-selected">"Only selected streams"</label>
            </div>
            <div class="stream-picker" hidden=hide_picker>
                <label for="find-stream">"Find a stream"</label>
                <div class="find">
                    <input
                        id="find-stream"
                        type="search"
                        name="find"
                        form=FINDER
                        value=searched.unwrap_or_default()
                        autocomplete="off"
                        on:input=move |ev| search.set(event_target_value(&ev))
                        on:keydown=move |ev| {
                            // With JavaScript the list follows the typing: Enter sends nothing.
                            if ev.key() == "Enter" {
                                ev.prevent_default();
                            }
                        }
                    />
                    <button type="submit" form=FINDER on:click=move |ev| ev.prevent_default()>"Find"</button>
                </div>
                <p class="hint">"A token reaches at most 100 streams. Outside them it reads only what anyone may read."</p>
                <Suspense fallback=|| view! { <p>"Finding streams…"</p> }>
                    {move || Suspend::new(async move {
                        let found = found.await.unwrap_or_default();
                        view! { <StreamList found chosen/> }
                    })}
                </Suspense>
            </div>
        </fieldset>
    }
}

/// A ticked stream: `write` when `Read and write` is chosen for it.
#[derive(Clone, Debug)]
struct Chosen {
    stream: StreamChoice,
    write: bool,
}

/// The ticked streams first, then those found: a checkbox named by the stream, its owner
/// beside it when another has the same name, and its `Access to …` select.
#[component]
fn StreamList(found: Vec<StreamChoice>, chosen: RwSignal<Vec<Chosen>>) -> impl IntoView {
    let mut listed: Vec<StreamChoice> =
        chosen.with_untracked(|c| c.iter().map(|c| c.stream.clone()).collect());
    for stream in found {
        if !listed.iter().any(|kept| kept.id == stream.id) {
            listed.push(stream);
        }
    }
    if listed.is_empty() {
        return view! { <p>"No stream of yours matches. Find lists your streams by name."</p> }.into_any();
    }
    let rows = listed
        .into_iter()
        .enumerate()
        .map(|(i, stream)| {
            let id = format!("stream-{i}");
            let level_id = format!("stream-{i}-access");
            let owner_id = format!("stream-{i}-owner");
            let ticked = {
                let key = stream.id.clone();
                move || chosen.with(|chosen| chosen.iter().any(|kept| kept.stream.id == key))
            };
            let writes = chosen.with_untracked(|c| c.iter().any(|kept| kept.stream.id == stream.id && kept.write));
            let toggle = {
                let stream = stream.clone();
                move |ev: leptos::ev::Event| {
                    let on = event_target_checked(&ev);
                    chosen.update(|chosen| {
                        chosen.retain(|kept| kept.stream.id != stream.id);
                        if on {
                            chosen.push(Chosen { stream: stream.clone(), write: false });
                        }
                    });
                }
            };
            let set_level = {
                let key = stream.id.clone();
                move |ev: leptos::ev::Event| {
                    let write = event_target_value(&ev).ends_with(":write");
                    chosen.update(|chosen| {
                        chosen.iter_mut().filter(|kept| kept.stream.id == key).for_each(|kept| kept.write = write);
                    });
                }
            };
            let hydrated = RwSignal::new(false);
            Effect::new(move |_| hydrated.set(true));
            let hide_level = {
                let ticked = ticked.clone();
                move || hydrated.get() && !ticked()
            };
            view! {
                <li>
                    <input
                        type="checkbox"
                        id=id.clone()
                        name=format!("streams[{i}]")
                        value=stream.id.clone()
                        checked=ticked.clone()
                        prop:checked=ticked
                        aria-describedby=stream.owner.is_some().then(|| owner_id.clone())
                        on:change=toggle
                    />
                    <label for=id>{stream.name.clone()}</label>
                    {stream.owner.clone().map(|owner| view! { <span id=owner_id class="hint">{format!("owned by {owner}")}</span> })}
                    <span class="level" hidden=hide_level>
                        <label for=level_id.clone() class="visually-hidden">{format!("Access to {}", stream.name)}</label>
                        <select id=level_id name=format!("levels[{i}]") on:change=set_level>
                            <option value=format!("{}:read", stream.id) selected=!writes>"Read"</option>
                            <option value=format!("{}:write", stream.id) selected=writes>"Read and write"</option>
                        </select>
                    </span>
                </li>
            }
        })
        .collect_view();
    view! { <ul class="stream-choices">{rows}</ul> }.into_any()
}

/// The GET form `Find a stream` submits without JavaScript: the dialog again, open, with the
/// streams found. Outside the token form (forms do not nest); its fields point to it.
#[component]
pub fn StreamFinder() -> impl IntoView {
    view! {
        <form id=FINDER method="get" action="/profile" hidden=true>
            <input type="hidden" name="new" value="1"/>
        </form>
    }
}
