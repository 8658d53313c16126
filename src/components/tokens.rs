//! "Your Apps": the expiry notice, the token list, and the dialogs that create, regenerate,
//! edit and revoke tokens.

use leptos::html::Dialog;
use leptos::prelude::*;
use leptos_router::hooks::use_query_map;

use super::account::action_error;
use super::apps::{AppLists, FlashedApp};
use super::dialog::{
    close, close_after_success, open_modal, row_dialog, upgrade_to_modal_when_hydrated, CancelButton,
};
use super::reach::{StreamChoices, StreamFinder};
use super::security::{LeakAlerts, RevokeAll, RevokeAllButton};
use crate::rules::limits::{DEFAULT_EXPIRATION, EXPIRATIONS};
use crate::rules::scopes::Scope;
use crate::rules::text::{TOKEN_DESCRIPTION, TOKEN_NAME};
use crate::server_fns::tokens::{
    list_tokens, take_new_token, CreateToken, NewToken, RegenerateToken, RevokeToken, TokenPage, TokenRow,
    UpdateToken, FILTER_FROM, SORTS,
};

/// A token created by a plain form post (JavaScript off), handed over once through the
/// session. Create it once per page, outside anything that re-renders.
pub type FlashedToken = Resource<Result<Option<NewToken>, crate::rules::error::AppError>>;

pub fn flashed_token() -> FlashedToken {
    Resource::new(|| (), |_| take_new_token())
}

/// A row's target for a dialog: (id, name, description).
type Target = RwSignal<Option<(String, String, String)>>;

/// The section of `/profile` with the user's personal access tokens, then their apps.
#[component]
pub fn YourApps(flashed: FlashedToken, flashed_app: FlashedApp, revoke_all: RevokeAll) -> impl IntoView {
    let create = ServerAction::<CreateToken>::new();
    let revoke = ServerAction::<RevokeToken>::new();
    let regenerate = ServerAction::<RegenerateToken>::new();
    let update = ServerAction::<UpdateToken>::new();
    let query = use_query_map();
    let tokens = Resource::new(
        move || {
            let q = query.get();
            (
                (
                    create.version().get(),
                    revoke.version().get(),
                    regenerate.version().get(),
                    update.version().get(),
                    revoke_all.action.version().get(),
                ),
                q.get("q").unwrap_or_default(),
                q.get("sort").unwrap_or_default(),
                q.get("page").and_then(|page| page.parse().ok()).unwrap_or(1),
            )
        },
        |(_, filter, sort, page)| list_tokens(filter, sort, page),
    );
    let targets =
        Targets { revoke: RwSignal::new(None), regenerate: RwSignal::new(None), edit: RwSignal::new(None) };

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
            <LeakAlerts/>
            <div class="token-actions">
                <NewTokenDialog create flashed/>
                <RevokeAllButton revoke_all/>
            </div>
            <Transition fallback=|| view! { <p>"Loading your tokens…"</p> }>
                {move || Suspend::new(async move {
                    match tokens.await {
                        Ok(page) => view! {
                            <ExpiryNotice rows=page.expiring.clone() targets/>
                            <TokenList page targets/>
                        }.into_any(),
                        Err(error) => view! { <p class="error" role="alert">{error.to_string()}</p> }.into_any(),
                    }
                })}
            </Transition>
            <RevokeDialog revoke target=targets.revoke/>
            <RegenerateDialog regenerate target=targets.regenerate/>
            <EditDialog update target=targets.edit/>
            <AppLists flashed=flashed_app/>
        </section>
    }
}

/// Which row each dialog acts on.
#[derive(Clone, Copy)]
struct Targets {
    revoke: Target,
    regenerate: Target,
    edit: Target,
}

/// SPEC §8: tokens expiring within 7 days (or expired in the last 7), each with its
/// `Regenerate <name>` button.
#[component]
fn ExpiryNotice(rows: Vec<TokenRow>, targets: Targets) -> impl IntoView {
    (!rows.is_empty()).then(|| {
        view! {
            <div class="expiry-notice" role="status">
                <p><strong>"Tokens about to expire"</strong></p>
                <ul>
                    {rows.into_iter().map(|row| {
                        let when = if row.expired {
                            format!("expired ({})", row.expires_exact.clone().unwrap_or_default())
                        } else {
                            row.expires.to_lowercase()
                        };
                        view! {
                            <li>
                                "“" {row.name.clone()} "” " {when} ". "
                                <RowButton row action="regenerate" label="Regenerate" target=targets.regenerate/>
                            </li>
                        }
                    }).collect_view()}
                </ul>
            </div>
        }
    })
}

/// A row's button that opens a dialog: with JavaScript it sets the dialog's target; without,
/// it loads `/profile?<action>=<id>`, which renders that dialog open.
#[component]
fn RowButton(row: TokenRow, action: &'static str, label: &'static str, target: Target) -> impl IntoView {
    let accessible = format!("{label} {}", row.name);
    let chosen = (row.id.clone(), row.name.clone(), row.description.clone().unwrap_or_default());
    let ask = move |ev: leptos::ev::MouseEvent| {
        ev.prevent_default();
        target.set(Some(chosen.clone()));
    };
    view! {
        <form method="get" action="/profile" class="inline">
            <input type="hidden" name=action value=row.id/>
            <input type="hidden" name="name" value=row.name/>
            {(action == "edit").then(|| view! {
                <input type="hidden" name="description" value=row.description.clone().unwrap_or_default()/>
            })}
            <button type="submit" class=(action == "revoke").then_some("danger") aria-label=accessible on:click=ask>
                {label}
            </button>
        </form>
    }
}

/// The list: filter (past 10 tokens), order, one page of rows, and the pages.
#[component]
fn TokenList(page: TokenPage, targets: Targets) -> impl IntoView {
    if page.held == 0 {
        return view! { <p>"You have no tokens yet."</p> }.into_any();
    }
    let query = use_query_map();
    let filter = query.with_untracked(|q| q.get("q").unwrap_or_default());
    let sort = query.with_untracked(|q| q.get("sort").unwrap_or_default());
    let link = {
        let (filter, sort) = (filter.clone(), sort.clone());
        move |page: usize| {
            let query = form_urlencoded::Serializer::new(String::new())
                .append_pair("q", &filter)
                .append_pair("sort", &sort)
                .append_pair("page", &page.to_string())
                .finish();
            format!("/profile?{query}")
        }
    };
    view! {
        <leptos_router::components::Form method="GET" action="/profile" attr:class="list-controls">
            {(page.held > FILTER_FROM).then(|| view! {
                <label for="token-filter">"Filter tokens"</label>
                <input id="token-filter" type="search" name="q" value=filter.clone() placeholder="Name contains…"/>
            })}
            <label for="token-sort">"Sort by"</label>
            <select id="token-sort" name="sort">
                {SORTS.into_iter().map(|(value, label)| view! {
                    <option value=value selected=value == sort || (sort.is_empty() && value == "created")>{label}</option>
                }).collect_view()}
            </select>
            <button type="submit">"Apply"</button>
        </leptos_router::components::Form>
        {(page.rows.is_empty()).then(|| view! { <p>"No token matches."</p> })}
        <table class="tokens">
            <caption class="visually-hidden">"Your personal access tokens"</caption>
            <thead>
                <tr>
                    <th scope="col">"Name"</th>
                    <th scope="col">"Scopes"</th>
                    <th scope="col">"Streams"</th>
                    <th scope="col">"Token"</th>
                    <th scope="col">"Created"</th>
                    <th scope="col">"Last used"</th>
                    <th scope="col">"Expires"</th>
                    <th scope="col"><span class="visually-hidden">"Actions"</span></th>
                </tr>
            </thead>
            <tbody>
                {page.rows.into_iter().map(|row| view! { <TokenListRow row targets/> }).collect_view()}
            </tbody>
        </table>
        {(page.pages > 1).then(|| view! {
            <nav class="pages" aria-label="Token pages">
                {(page.page > 1).then(|| view! { <a href=link(page.page - 1)>"Previous page"</a> })}
                <span>{format!("Page {} of {} ({} tokens)", page.page, page.pages, page.total)}</span>
                {(page.page < page.pages).then(|| view! { <a href=link(page.page + 1)>"Next page"</a> })}
            </nav>
        })}
    }
    .into_any()
}

#[component]
fn TokenListRow(row: TokenRow, targets: Targets) -> impl IntoView {
    let expires_class = if row.expired || row.expires_soon { "expires-soon" } else { "" };
    view! {
        <tr>
            <td>
                <a href=format!("/profile/tokens/{}", row.id)>{row.name.clone()}</a>
                {row.description.clone().map(|description| view! { <p class="hint description">{description}</p> })}
            </td>
            <td>{row.scopes.join(", ")}</td>
            <td>{row.reach()}</td>
            <td><code>"…"{row.last_chars.clone()}</code></td>
            <td><time datetime=row.created_exact.clone() title=row.created_exact.clone()>{row.created.clone()}</time></td>
            <td>
                {match row.last_used_ago.clone() {
                    Some(ago) => view! { <time title=row.last_used.clone()>{ago}</time> }.into_any(),
                    None => view! { <span>{row.last_used.clone()}</span> }.into_any(),
                }}
            </td>
            <td class=expires_class>
                {if row.expires_soon {
                    // The date, and how soon, highlighted.
                    view! {
                        <time title=row.expires_exact.clone().unwrap_or_default()>{row.expires_date.clone()}</time>
                        " "
                        <strong>{row.expires.clone()}</strong>
                    }.into_any()
                } else {
                    view! { <time title=row.expires_exact.clone().unwrap_or_default()>{row.expires.clone()}</time> }.into_any()
                }}
            </td>
            <td class="actions">
                <RowButton row=row.clone() action="edit" label="Edit" target=targets.edit/>
                <RowButton row=row.clone() action="regenerate" label="Regenerate" target=targets.regenerate/>
                <RowButton row action="revoke" label="Revoke" target=targets.revoke/>
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
                _ => view! { <NewTokenForm create/> <StreamFinder/> }.into_any(),
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
                maxlength=TOKEN_NAME.max_chars
                autocomplete="off"
                aria-required="true"
                autofocus
            />
            <label for="token-description">"Description (optional)"</label>
            <textarea id="token-description" name="description" maxlength=TOKEN_DESCRIPTION.max_chars rows="2"></textarea>
            <ScopeChoices id_prefix="scope" chosen=Signal::stored(Vec::new())/>
            <StreamChoices/>
            <ExpirationSelect id="token-expiration"/>
            {action_error(create.value())}
            <button type="submit" disabled=move || create.pending().get()>"Create token"</button>
        </ActionForm>
    }
}

/// The scope checkboxes of a form that makes tokens or apps, `chosen` ticked: `scopes[i]`,
/// each with its description.
#[component]
pub fn ScopeChoices(id_prefix: &'static str, #[prop(into)] chosen: Signal<Vec<String>>) -> impl IntoView {
    view! {
        <fieldset class="scopes">
            <legend>"Scopes"</legend>
            {Scope::ALL
                .into_iter()
                .enumerate()
                .map(|(i, scope)| {
                    let id = format!("{id_prefix}-{i}");
                    let described_by = format!("{id_prefix}-{i}-description");
                    let ticked = move || chosen.with(|chosen| chosen.iter().any(|name| name == scope.name()));
                    view! {
                        <div class="scope">
                            <input
                                type="checkbox"
                                id=id.clone()
                                name=format!("scopes[{i}]")
                                value=scope.name()
                                aria-describedby=described_by.clone()
                                checked=ticked
                                prop:checked=ticked
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
    }
}

/// The secret, its Copy button and the warning that it is shown only this once.
#[component]
pub(crate) fn ShowSecret(token: NewToken, dialog: NodeRef<Dialog>) -> impl IntoView {
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

/// The `Expiration` select, 90 days chosen.
#[component]
pub(crate) fn ExpirationSelect(id: &'static str) -> impl IntoView {
    view! {
        <label for=id>"Expiration"</label>
        <select id=id name="expiration">
            {EXPIRATIONS
                .into_iter()
                .map(|(value, label)| view! { <option value=value selected=value == DEFAULT_EXPIRATION>{label}</option> })
                .collect_view()}
        </select>
    }
}

/// The row a dialog acts on when the page was loaded with `?<param>=<id>` (no JavaScript).
fn from_query(param: &'static str) -> Option<(String, String, String)> {
    use_query_map().with_untracked(|q| {
        q.get(param)
            .map(|id| (id, q.get("name").unwrap_or_default(), q.get("description").unwrap_or_default()))
    })
}

/// Regenerates a token: a new secret with the same name, scopes and description, shown once;
/// the old one works until the new one is first used, or for 24 hours.
#[component]
fn RegenerateDialog(regenerate: ServerAction<RegenerateToken>, target: Target) -> impl IntoView {
    let dialog = NodeRef::<Dialog>::new();
    let rendered_open = row_dialog(dialog, target, from_query("regenerate"));
    let name = move || target.get().map(|(_, name, _)| name).unwrap_or_default();
    let id = move || target.get().map(|(id, _, _)| id).unwrap_or_default();
    let forget = move |_| {
        target.set(None);
        regenerate.value().set(None);
    };
    view! {
        <dialog node_ref=dialog aria-labelledby="regenerate-title" aria-modal="true" open=rendered_open on:close=forget>
            <h2 id="regenerate-title">"Regenerate " {name}</h2>
            {move || match regenerate.value().get() {
                Some(Ok(Some(token))) => view! { <ShowSecret token dialog/> }.into_any(),
                _ => view! {
                    <p>
                        "A new token replaces this one, with the same name, scopes and description. "
                        "The old token keeps working until the new one is first used, or for 24 hours, "
                        "so you can update your scripts without breaking them."
                    </p>
                    <ActionForm action=regenerate attr:class="stacked">
                        <input type="hidden" name="id" value=id/>
                        <ExpirationSelect id="regenerate-expiration"/>
                        {action_error(regenerate.value())}
                        <button type="submit" disabled=move || regenerate.pending().get()>"Regenerate"</button>
                    </ActionForm>
                    <CancelButton dialog/>
                }.into_any(),
            }}
        </dialog>
    }
}

/// Renames a token and edits its description, without regenerating it.
#[component]
fn EditDialog(update: ServerAction<UpdateToken>, target: Target) -> impl IntoView {
    let dialog = NodeRef::<Dialog>::new();
    let rendered_open = row_dialog(dialog, target, from_query("edit"));
    close_after_success(dialog, update);
    let field = move |i: usize| {
        move || {
            target.get().map(|(id, name, description)| [id, name, description][i].clone()).unwrap_or_default()
        }
    };
    view! {
        <dialog node_ref=dialog aria-labelledby="edit-title" aria-modal="true" open=rendered_open
            on:close=move |_| { target.set(None); update.value().set(None); }>
            <h2 id="edit-title">"Edit " {field(1)}</h2>
            <ActionForm action=update attr:class="stacked">
                // `value` for the page the server renders (no JavaScript), `prop:value` for a
                // dialog reopened on another row after the user typed.
                <input type="hidden" name="id" value=field(0) prop:value=field(0)/>
                <label for="edit-name">"Name"</label>
                <input id="edit-name" name="name" type="text" maxlength=TOKEN_NAME.max_chars value=field(1) prop:value=field(1)/>
                <label for="edit-description">"Description (optional)"</label>
                <textarea id="edit-description" name="description" maxlength=TOKEN_DESCRIPTION.max_chars rows="3" prop:value=field(2)>
                    {field(2)}
                </textarea>
                {action_error(update.value())}
                <button type="submit" disabled=move || update.pending().get()>"Save"</button>
            </ActionForm>
            <CancelButton dialog/>
        </dialog>
    }
}

/// Asks before revoking: scripts using the token stop working at once.
#[component]
fn RevokeDialog(revoke: ServerAction<RevokeToken>, target: Target) -> impl IntoView {
    let dialog = NodeRef::<Dialog>::new();
    let rendered_open = row_dialog(dialog, target, from_query("revoke"));
    close_after_success(dialog, revoke);
    let name = move || target.get().map(|(_, name, _)| name).unwrap_or_default();
    let id = move || target.get().map(|(id, _, _)| id).unwrap_or_default();

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
                    <button type="submit" class="danger" disabled=move || revoke.pending().get()>"Revoke token"</button>
                </div>
            </ActionForm>
            <CancelButton dialog/>
        </dialog>
    }
}
