//! "Your Apps": the token list, the `New token` dialog and the revoke confirmation.

use leptos::html::Dialog;
use leptos::prelude::*;
use leptos_router::hooks::use_query_map;

use super::dialog::{close, open_modal, upgrade_to_modal_when_hydrated};
use crate::pages::action_error;
use crate::scopes::Scope;
use crate::server_fns::tokens::{
    list_tokens, take_new_token, CreateToken, NewToken, RevokeToken, TokenRow, DEFAULT_EXPIRATION,
    EXPIRATIONS,
};

/// A token created by a plain form post (JavaScript off), handed over once through the
/// session. Create it once per page, outside anything that re-renders.
pub type FlashedToken = Resource<Result<Option<NewToken>, crate::error::AppError>>;

pub fn flashed_token() -> FlashedToken {
    Resource::new(|| (), |_| take_new_token())
}

/// The section of `/profile` with the user's personal access tokens.
#[component]
pub fn YourApps(flashed: FlashedToken) -> impl IntoView {
    let create = ServerAction::<CreateToken>::new();
    let revoke = ServerAction::<RevokeToken>::new();
    let tokens = Resource::new(move || (create.version().get(), revoke.version().get()), |_| list_tokens());
    let revoke_target = RwSignal::new(None::<(String, String)>);

    view! {
        <section class="your-apps" aria-labelledby="your-apps-title">
            <h2 id="your-apps-title">"Your Apps"</h2>
            <p>
                "Personal access tokens let a script or an app act on your behalf: read your "
                "streams, create and share them, create commits, read other users' profiles, "
                "as far as the token's scopes allow. Give each token the fewest scopes it needs."
            </p>
            <p class="advice">
                <strong>"Treat a token like a password: "</strong>
                "never post it where others could see it (for example in a public repository). "
                "If you think a token has leaked, revoke it."
            </p>
            <NewTokenDialog create flashed/>
            <Transition fallback=|| view! { <p>"Loading your tokens…"</p> }>
                {move || Suspend::new(async move {
                    match tokens.await {
                        Ok(rows) => view! { <TokenList rows revoke_target/> }.into_any(),
                        Err(error) => view! { <p class="error" role="alert">{error.to_string()}</p> }.into_any(),
                    }
                })}
            </Transition>
            <RevokeDialog revoke target=revoke_target/>
        </section>
    }
}

/// One row per live token: name, scopes, last characters, dates, and `Revoke <name>`.
#[component]
fn TokenList(rows: Vec<TokenRow>, revoke_target: RwSignal<Option<(String, String)>>) -> impl IntoView {
    if rows.is_empty() {
        return view! { <p>"You have no tokens yet."</p> }.into_any();
    }
    view! {
        <table class="tokens">
            <caption class="visually-hidden">"Your personal access tokens"</caption>
            <thead>
                <tr>
                    <th scope="col">"Name"</th>
                    <th scope="col">"Scopes"</th>
                    <th scope="col">"Token"</th>
                    <th scope="col">"Created"</th>
                    <th scope="col">"Last used"</th>
                    <th scope="col">"Expires"</th>
                    <th scope="col"><span class="visually-hidden">"Actions"</span></th>
                </tr>
            </thead>
            <tbody>
                {rows.into_iter().map(|row| view! { <TokenListRow row revoke_target/> }).collect_view()}
            </tbody>
        </table>
    }
    .into_any()
}

#[component]
fn TokenListRow(row: TokenRow, revoke_target: RwSignal<Option<(String, String)>>) -> impl IntoView {
    let label = format!("Revoke {}", row.name);
    let target = (row.id.clone(), row.name.clone());
    // Without JavaScript the button loads /profile?revoke=… which renders the confirmation.
    let ask = move |ev: leptos::ev::MouseEvent| {
        ev.prevent_default();
        revoke_target.set(Some(target.clone()));
    };
    view! {
        <tr>
            <td>{row.name.clone()}</td>
            <td>{row.scopes.join(", ")}</td>
            <td><code>"…"{row.last_chars}</code></td>
            <td>{row.created}</td>
            <td>{row.last_used}</td>
            <td>{row.expires}</td>
            <td>
                <form method="get" action="/profile">
                    <input type="hidden" name="revoke" value=row.id/>
                    <input type="hidden" name="name" value=row.name/>
                    <button type="submit" class="danger" aria-label=label on:click=ask>"Revoke"</button>
                </form>
            </td>
        </tr>
    }
}

/// The `New token` button and its dialog: the form, then the secret, shown once.
#[component]
fn NewTokenDialog(create: ServerAction<CreateToken>, flashed: FlashedToken) -> impl IntoView {
    let dialog = NodeRef::<Dialog>::new();
    let query = use_query_map();
    let rendered_open = query.with_untracked(|q| q.get("new").is_some())
        || create.value().with_untracked(|v| matches!(v, Some(Err(_))));
    upgrade_to_modal_when_hydrated(dialog, rendered_open);

    let open = move |ev: leptos::ev::MouseEvent| {
        ev.prevent_default();
        create.value().set(None);
        open_modal(dialog);
    };
    // However the dialog closes (Done, Escape), the secret leaves the page with it.
    let forget_secret = move |_| create.value().set(None);

    view! {
        <form method="get" action="/profile" class="new-token">
            <button type="submit" name="new" value="1" on:click=open>"New token"</button>
        </form>
        <dialog
            node_ref=dialog
            aria-labelledby="new-token-title"
            aria-modal="true"
            open=rendered_open
            on:close=forget_secret
        >
            <h2 id="new-token-title">"New token"</h2>
            {move || match create.value().get() {
                Some(Ok(Some(token))) => view! { <ShowSecret token dialog/> }.into_any(),
                _ => view! { <NewTokenForm create/> }.into_any(),
            }}
        </dialog>
        <Suspense fallback=|| ()>
            {move || Suspend::new(async move {
                flashed.await.ok().flatten().map(|token| view! { <FlashedSecret token/> })
            })}
        </Suspense>
    }
}

#[component]
fn NewTokenForm(create: ServerAction<CreateToken>) -> impl IntoView {
    view! {
        <ActionForm action=create attr:class="stacked">
            <label for="token-name">"Name"</label>
            <input
                id="token-name"
                name="name"
                type="text"
                maxlength="100"
                autocomplete="off"
                aria-required="true"
                autofocus
            />
            <fieldset class="scopes">
                <legend>"Scopes"</legend>
                {Scope::ALL
                    .into_iter()
                    .enumerate()
                    .map(|(i, scope)| {
                        let id = format!("scope-{i}");
                        let described_by = format!("scope-{i}-description");
                        view! {
                            <div class="scope">
                                <input
                                    type="checkbox"
                                    id=id.clone()
                                    name=format!("scopes[{i}]")
                                    value=scope.name()
                                    aria-describedby=described_by.clone()
                                />
                                <label for=id>{scope.name()}</label>
                                <span id=described_by class="hint">{scope.description()}</span>
                                {(scope == Scope::TokensWrite).then(|| view! {
                                    <strong class="warning">"Warning: a token with this scope can create more tokens."</strong>
                                })}
                            </div>
                        }
                    })
                    .collect_view()}
            </fieldset>
            <label for="token-expiration">"Expiration"</label>
            <select id="token-expiration" name="expiration">
                {EXPIRATIONS
                    .into_iter()
                    .map(|(value, label)| view! {
                        <option value=value selected=value == DEFAULT_EXPIRATION>{label}</option>
                    })
                    .collect_view()}
            </select>
            {action_error(create.value())}
            <button type="submit">"Create token"</button>
        </ActionForm>
    }
}

/// The secret, its Copy button and the warning that it is shown only this once.
#[component]
fn ShowSecret(token: NewToken, dialog: NodeRef<Dialog>) -> impl IntoView {
    let copied = RwSignal::new(false);
    let secret = token.secret.clone();
    // The form that had focus is gone: focus and select the secret, ready to copy.
    let input = NodeRef::<leptos::html::Input>::new();
    Effect::new(move |_| {
        if let Some(input) = input.get() {
            let _ = input.focus();
            input.select();
        }
    });
    let copy = move |_| {
        let clipboard = window().navigator().clipboard();
        let _ = clipboard.write_text(&secret);
        copied.set(true);
    };
    view! {
        <p>"Your token " <strong>{token.name}</strong> " is ready."</p>
        <label for="new-token-secret">"Your new token"</label>
        <div class="secret">
            <input id="new-token-secret" node_ref=input type="text" readonly value=token.secret/>
            <button type="button" on:click=copy>"Copy"</button>
        </div>
        <p class="status" aria-live="polite">{move || copied.get().then_some("Copied to the clipboard.")}</p>
        <p class="warning" role="alert">
            "This is the first and last time this token is shown. Copy it and store it somewhere "
            "safe now: you will not be able to see it again."
        </p>
        <form method="get" action="/profile">
            <button type="submit" on:click=move |ev| { ev.prevent_default(); close(dialog); }>"Done"</button>
        </form>
    }
}

/// The secret of a token made by a plain form post, in a dialog of its own.
#[component]
fn FlashedSecret(token: NewToken) -> impl IntoView {
    let dialog = NodeRef::<Dialog>::new();
    upgrade_to_modal_when_hydrated(dialog, true);
    view! {
        <dialog node_ref=dialog aria-labelledby="flashed-token-title" aria-modal="true" open=true>
            <h2 id="flashed-token-title">"New token"</h2>
            <ShowSecret token dialog/>
        </dialog>
    }
}

/// Asks before revoking: scripts using the token stop working at once.
#[component]
fn RevokeDialog(
    revoke: ServerAction<RevokeToken>,
    target: RwSignal<Option<(String, String)>>,
) -> impl IntoView {
    let dialog = NodeRef::<Dialog>::new();
    let query = use_query_map();
    let from_query =
        query.with_untracked(|q| q.get("revoke").map(|id| (id, q.get("name").unwrap_or_default())));
    let rendered_open = from_query.is_some();
    if from_query.is_some() {
        target.set(from_query);
    }
    upgrade_to_modal_when_hydrated(dialog, rendered_open);

    // Opens whenever a row asks; closes once the revocation is done.
    Effect::new(move |_| {
        if target.get().is_some() {
            open_modal(dialog);
        }
    });
    Effect::new(move |previous: Option<usize>| {
        let version = revoke.version().get();
        if previous.is_some_and(|p| p != version) && matches!(revoke.value().get_untracked(), Some(Ok(()))) {
            close(dialog);
        }
        version
    });
    let name = move || target.get().map(|(_, name)| name).unwrap_or_default();
    let id = move || target.get().map(|(id, _)| id).unwrap_or_default();

    view! {
        <dialog
            node_ref=dialog
            aria-labelledby="revoke-title"
            aria-describedby="revoke-warning"
            aria-modal="true"
            open=rendered_open
            on:close=move |_| target.set(None)
        >
            <h2 id="revoke-title">"Revoke " {name} "?"</h2>
            <p id="revoke-warning" class="warning">
                "Any script or app using this token will stop working at once. "
                "Make sure nothing you need depends on it."
            </p>
            <ActionForm action=revoke>
                <input type="hidden" name="id" value=id/>
                {action_error(revoke.value())}
                <div class="buttons">
                    <button type="submit" class="danger">"Revoke token"</button>
                </div>
            </ActionForm>
            <form method="get" action="/profile">
                <button type="submit" on:click=move |ev| { ev.prevent_default(); close(dialog); }>"Cancel"</button>
            </form>
        </dialog>
    }
}
