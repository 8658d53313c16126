//! "Your Apps", the apps part (SPEC §11): `Authorized apps`, whose access the person can end,
//! and `Developer apps`, the apps they registered, with the dialogs that register, edit,
//! regenerate the secret of and delete them.

use leptos::html::Dialog;
use leptos::prelude::*;
use leptos_router::hooks::use_query_map;

use super::account::action_error;
use super::dialog::{
    close, close_after_success, open_modal, row_dialog, upgrade_to_modal_when_hydrated, CancelButton,
};
use super::tokens::ScopeChoices;
use crate::rules::error::AppError;
use crate::rules::text::{APP_DESCRIPTION, APP_NAME};
use crate::server_fns::apps::{
    list_apps, take_new_app, AuthorizedAppRow, CreateApp, DeleteApp, DeveloperAppRow, NewApp,
    RegenerateAppSecret, RevokeAppAccess, UpdateApp,
};

/// An app registered (or its secret regenerated) by a plain form post, handed over once
/// through the session. Create it once per page, outside anything that re-renders.
pub type FlashedApp = Resource<Result<Option<NewApp>, AppError>>;

pub fn flashed_app() -> FlashedApp {
    Resource::new(|| (), |_| take_new_app())
}

/// The app a dialog acts on: (id, name).
type Target = RwSignal<Option<(String, String)>>;

/// Which row each dialog acts on.
#[derive(Clone, Copy)]
struct Targets {
    revoke_access: Target,
    regenerate: Target,
    delete: Target,
    edit: RwSignal<Option<DeveloperAppRow>>,
}

/// The two lists of apps, under "Your Apps".
#[component]
pub fn AppLists(flashed: FlashedApp) -> impl IntoView {
    let create = ServerAction::<CreateApp>::new();
    let update = ServerAction::<UpdateApp>::new();
    let regenerate = ServerAction::<RegenerateAppSecret>::new();
    let delete = ServerAction::<DeleteApp>::new();
    let revoke_access = ServerAction::<RevokeAppAccess>::new();
    let apps = Resource::new(
        move || {
            (
                create.version().get(),
                update.version().get(),
                delete.version().get(),
                revoke_access.version().get(),
            )
        },
        |_| list_apps(),
    );
    let targets = Targets {
        revoke_access: RwSignal::new(None),
        regenerate: RwSignal::new(None),
        delete: RwSignal::new(None),
        edit: RwSignal::new(None),
    };
    let failed = |error: AppError| view! { <p class="error" role="alert">{error.to_string()}</p> }.into_any();

    view! {
        <h3 id="authorized-apps-title">"Authorized apps"</h3>
        <p>"Apps you have let act on your behalf. Revoking an app's access ends its tokens at once."</p>
        <Transition fallback=|| view! { <p>"Loading your apps…"</p> }>
            {move || Suspend::new(async move {
                match apps.await {
                    Ok(page) => view! { <AuthorizedList rows=page.authorized targets/> }.into_any(),
                    Err(error) => failed(error),
                }
            })}
        </Transition>
        <h3 id="developer-apps-title">"Developer apps"</h3>
        <p>"Apps you have registered, so that people can authorize them with OAuth."</p>
        <NewAppDialog create flashed/>
        <Transition fallback=|| ()>
            {move || Suspend::new(async move {
                match apps.await {
                    Ok(page) => view! { <DeveloperList rows=page.created targets/> }.into_any(),
                    Err(error) => failed(error),
                }
            })}
        </Transition>
        <RevokeAccessDialog revoke_access target=targets.revoke_access/>
        <RegenerateSecretDialog regenerate target=targets.regenerate/>
        <DeleteAppDialog delete target=targets.delete/>
        <EditAppDialog update target=targets.edit/>
    }
}

/// A row's button that opens a dialog: with JavaScript it calls `ask`; without, it loads
/// `/profile?<param>=<id>&name=…` (and `fields`), which renders that dialog open.
#[component]
fn RowButton(
    param: &'static str,
    label: &'static str,
    id: String,
    name: String,
    #[prop(optional)] fields: Vec<(&'static str, String)>,
    #[prop(optional)] danger: bool,
    ask: impl Fn() + Send + Sync + 'static,
) -> impl IntoView {
    let accessible = format!("{label} {name}");
    view! {
        <form method="get" action="/profile" class="inline">
            <input type="hidden" name=param value=id/>
            <input type="hidden" name="name" value=name/>
            {fields.into_iter().map(|(field, value)| view! { <input type="hidden" name=field value=value/> }).collect_view()}
            <button
                type="submit"
                class=danger.then_some("danger")
                aria-label=accessible
                on:click=move |ev: leptos::ev::MouseEvent| { ev.prevent_default(); ask(); }
            >
                {label}
            </button>
        </form>
    }
}

/// A time in words, with the exact time as its title.
fn when(words: String, exact: String) -> impl IntoView {
    view! { <time datetime=exact.clone() title=exact>{words}</time> }
}

#[component]
fn AuthorizedList(rows: Vec<AuthorizedAppRow>, targets: Targets) -> impl IntoView {
    if rows.is_empty() {
        return view! { <p>"You have not authorized any apps."</p> }.into_any();
    }
    view! {
        <table class="apps">
            <caption class="visually-hidden">"Apps you have authorized"</caption>
            <thead>
                <tr>
                    <th scope="col">"App"</th>
                    <th scope="col">"Made by"</th>
                    <th scope="col">"Scopes"</th>
                    <th scope="col">"Authorized"</th>
                    <th scope="col">"Last used"</th>
                    <th scope="col"><span class="visually-hidden">"Actions"</span></th>
                </tr>
            </thead>
            <tbody>
                {rows.into_iter().map(|row| {
                    let chosen = (row.app_id.clone(), row.name.clone());
                    view! {
                        <tr>
                            <td>{row.name.clone()}</td>
                            <td>{row.author.clone().unwrap_or_else(|| "This server".to_owned())}</td>
                            <td>{row.scopes.join(", ")}</td>
                            <td>{when(row.authorized, row.authorized_exact)}</td>
                            <td>{when(row.last_used, row.last_used_exact)}</td>
                            <td class="actions">
                                <RowButton param="revoke_access" label="Revoke access" id=row.app_id name=row.name
                                    danger=true ask=move || targets.revoke_access.set(Some(chosen.clone()))/>
                            </td>
                        </tr>
                    }
                }).collect_view()}
            </tbody>
        </table>
    }
    .into_any()
}

#[component]
fn DeveloperList(rows: Vec<DeveloperAppRow>, targets: Targets) -> impl IntoView {
    if rows.is_empty() {
        return view! { <p>"You have not registered any apps."</p> }.into_any();
    }
    view! {
        <table class="apps">
            <caption class="visually-hidden">"Apps you have registered"</caption>
            <thead>
                <tr>
                    <th scope="col">"Name"</th>
                    <th scope="col">"Client ID"</th>
                    <th scope="col">"Redirect URLs"</th>
                    <th scope="col">"Scopes"</th>
                    <th scope="col">"Client"</th>
                    <th scope="col">"Created"</th>
                    <th scope="col"><span class="visually-hidden">"Actions"</span></th>
                </tr>
            </thead>
            <tbody>
                {rows.into_iter().map(|row| view! { <DeveloperRow row targets/> }).collect_view()}
            </tbody>
        </table>
    }
    .into_any()
}

#[component]
fn DeveloperRow(row: DeveloperAppRow, targets: Targets) -> impl IntoView {
    let chosen = (row.id.clone(), row.name.clone());
    let (for_regenerate, for_delete, for_edit) = (chosen.clone(), chosen, row.clone());
    let fields = vec![
        ("description", row.description.clone()),
        ("redirect_urls", row.redirect_urls.clone()),
        ("scopes", row.scopes.join(" ")),
    ];
    view! {
        <tr>
            <td>
                {row.name.clone()}
                {(!row.description.is_empty()).then(|| view! { <p class="hint description">{row.description.clone()}</p> })}
            </td>
            <td><code>{row.id.clone()}</code></td>
            <td>{row.redirect_urls.lines().map(|url| view! { <div><code>{url.to_owned()}</code></div> }).collect_view()}</td>
            <td>{row.scopes.join(", ")}</td>
            <td>{if row.public { "Public" } else { "Confidential" }}</td>
            <td>{when(row.created.clone(), row.created_exact.clone())}</td>
            <td class="actions">
                <RowButton param="edit_app" label="Edit" id=row.id.clone() name=row.name.clone() fields
                    ask=move || targets.edit.set(Some(for_edit.clone()))/>
                {(!row.public).then(|| view! {
                    <RowButton param="regenerate_app" label="Regenerate secret" id=row.id.clone() name=row.name.clone()
                        ask=move || targets.regenerate.set(Some(for_regenerate.clone()))/>
                })}
                <RowButton param="delete_app" label="Delete" id=row.id name=row.name danger=true
                    ask=move || targets.delete.set(Some(for_delete.clone()))/>
            </td>
        </tr>
    }
}

/// The `New app` button and its dialog: the form, then the client id and, once, the secret.
#[component]
fn NewAppDialog(create: ServerAction<CreateApp>, flashed: FlashedApp) -> impl IntoView {
    let dialog = NodeRef::<Dialog>::new();
    let rendered_open = use_query_map().with_untracked(|q| q.get("new_app").is_some())
        || create.value().with_untracked(|v| matches!(v, Some(Err(_))));
    upgrade_to_modal_when_hydrated(dialog, rendered_open);
    let open = move |ev: leptos::ev::MouseEvent| {
        ev.prevent_default();
        create.value().set(None);
        open_modal(dialog);
    };
    view! {
        <form method="get" action="/profile" class="new-app">
            <button type="submit" name="new_app" value="1" on:click=open>"New app"</button>
        </form>
        <dialog node_ref=dialog aria-labelledby="new-app-title" aria-modal="true" open=rendered_open
            on:close=move |_| create.value().set(None)>
            <h2 id="new-app-title">"New app"</h2>
            {move || match create.value().get() {
                Some(Ok(Some(app))) => view! { <ShowClient app dialog id_prefix="new-app"/> }.into_any(),
                _ => view! {
                    <ActionForm action=create attr:class="stacked">
                        <AppFieldInputs id_prefix="new-app" chosen=Signal::stored(None)/>
                        <div class="scope">
                            <input id="new-app-public" type="checkbox" name="public" value="yes" aria-describedby="new-app-public-hint"/>
                            <label for="new-app-public">"Public client (no secret)"</label>
                            <span id="new-app-public-hint" class="hint">
                                "For desktop and command-line apps, which cannot keep a secret: they prove "
                                "themselves with PKCE alone."
                            </span>
                        </div>
                        {action_error(create.value())}
                        <button type="submit" disabled=move || create.pending().get()>"Create app"</button>
                    </ActionForm>
                }.into_any(),
            }}
        </dialog>
        <Suspense fallback=|| ()>
            {move || Suspend::new(async move {
                flashed.await.ok().flatten().map(|app| view! { <FlashedClient app/> })
            })}
        </Suspense>
    }
}

/// `Name`, `Description`, `Redirect URLs` and the scopes, filled from `chosen` (an edit).
#[component]
fn AppFieldInputs(
    id_prefix: &'static str,
    #[prop(into)] chosen: Signal<Option<DeveloperAppRow>>,
) -> impl IntoView {
    let field = move |pick: fn(&DeveloperAppRow) -> String| {
        move || chosen.with(|row| row.as_ref().map(pick).unwrap_or_default())
    };
    let (name, description, urls) = (
        field(|row| row.name.clone()),
        field(|row| row.description.clone()),
        field(|row| row.redirect_urls.clone()),
    );
    let scopes = Signal::derive(move || {
        chosen.with(|row| row.as_ref().map(|row| row.scopes.clone()).unwrap_or_default())
    });
    view! {
        <label for=format!("{id_prefix}-name")>"Name"</label>
        <input id=format!("{id_prefix}-name") name="name" type="text" maxlength=APP_NAME.max_chars autocomplete="off"
            aria-required="true" value=name prop:value=name/>
        <label for=format!("{id_prefix}-description")>"Description"</label>
        <textarea id=format!("{id_prefix}-description") name="description" maxlength=APP_DESCRIPTION.max_chars rows="2"
            prop:value=description>{description}</textarea>
        <label for=format!("{id_prefix}-redirect-urls")>"Redirect URLs"</label>
        <textarea id=format!("{id_prefix}-redirect-urls") name="redirect_urls" rows="3"
            aria-describedby=format!("{id_prefix}-redirect-urls-hint") prop:value=urls>{urls}</textarea>
        <span id=format!("{id_prefix}-redirect-urls-hint") class="hint">
            "One a line: https addresses, or http://127.0.0.1 (any port) for an app on the person's computer."
        </span>
        <ScopeChoices id_prefix=if id_prefix == "new-app" { "new-app-scope" } else { "edit-app-scope" } chosen=scopes/>
    }
}

/// The client id and, if the app has one, its secret, shown this once.
#[component]
fn ShowClient(app: NewApp, dialog: NodeRef<Dialog>, id_prefix: &'static str) -> impl IntoView {
    let copied = RwSignal::new(false);
    let copied_text = app.secret.clone().unwrap_or_else(|| app.id.clone());
    let input = NodeRef::<leptos::html::Input>::new();
    Effect::new(move |_| {
        if let Some(input) = input.get() {
            let _ = input.focus();
            input.select();
        }
    });
    let copy = move |_| {
        let _ = window().navigator().clipboard().write_text(&copied_text);
        copied.set(true);
    };
    let (id_box, secret_box) = (format!("{id_prefix}-client-id"), format!("{id_prefix}-client-secret"));
    let has_secret = app.secret.is_some();
    view! {
        <p>"Your app " <strong>{app.name}</strong> " is ready."</p>
        <label for=id_box.clone()>"Client ID"</label>
        <input id=id_box type="text" readonly value=app.id node_ref=input/>
        {match app.secret {
            Some(secret) => view! {
                <label for=secret_box.clone()>"Client secret"</label>
                <input id=secret_box type="text" readonly value=secret/>
                <p class="warning" role="alert">
                    "This is the first and last time this secret is shown. Copy it and keep it where "
                    "only your app can read it: you will not be able to see it again."
                </p>
            }.into_any(),
            None => view! { <p>"A public client has no secret: it proves itself with PKCE."</p> }.into_any(),
        }}
        <button type="button" on:click=copy>"Copy"</button>
        <p class="status" aria-live="polite">
            {move || copied.get().then_some(if has_secret { "Secret copied to the clipboard." } else { "Client ID copied to the clipboard." })}
        </p>
        <form method="get" action="/profile">
            <button type="submit" on:click=move |ev| { ev.prevent_default(); close(dialog); }>"Done"</button>
        </form>
    }
}

/// The client of an app registered by a plain form post, in a dialog of its own.
#[component]
fn FlashedClient(app: NewApp) -> impl IntoView {
    let dialog = NodeRef::<Dialog>::new();
    upgrade_to_modal_when_hydrated(dialog, true);
    view! {
        <dialog node_ref=dialog aria-labelledby="flashed-app-title" aria-modal="true" open=true>
            <h2 id="flashed-app-title">{format!("Credentials of {}", app.name)}</h2>
            <ShowClient app dialog id_prefix="flashed-app"/>
        </dialog>
    }
}

/// The (id, name) a dialog acts on when the page was loaded with `?<param>=<id>&name=…`.
fn from_query(param: &'static str) -> Option<(String, String)> {
    use_query_map().with_untracked(|q| q.get(param).map(|id| (id, q.get("name").unwrap_or_default())))
}

/// The dialog around a row's question: its title (from the row's name), its warning, and
/// `children` (the form, or what the action answered). Cancel closes it.
#[component]
fn RowQuestion(
    dialog: NodeRef<Dialog>,
    target: Target,
    rendered_open: bool,
    key: &'static str,
    title: fn(&str) -> String,
    warning: &'static str,
    #[prop(optional)] on_close: Option<Callback<()>>,
    children: Children,
) -> impl IntoView {
    let title =
        move || target.with(|row| title(row.as_ref().map(|(_, name)| name.as_str()).unwrap_or_default()));
    let forget = move |_| {
        target.set(None);
        if let Some(on_close) = on_close {
            on_close.run(());
        }
    };
    view! {
        <dialog node_ref=dialog aria-labelledby=format!("{key}-title") aria-describedby=format!("{key}-warning")
            aria-modal="true" open=rendered_open on:close=forget>
            <h2 id=format!("{key}-title")>{title}</h2>
            <p id=format!("{key}-warning") class="warning">{warning}</p>
            {children()}
            <CancelButton dialog/>
        </dialog>
    }
}

/// The id of the row a dialog acts on, for its form.
fn target_id(target: Target) -> impl Fn() -> String + Copy + Send + Sync + 'static {
    move || target.with(|row| row.as_ref().map(|(id, _)| id.clone()).unwrap_or_default())
}

/// Ends an app's access, after asking.
#[component]
fn RevokeAccessDialog(revoke_access: ServerAction<RevokeAppAccess>, target: Target) -> impl IntoView {
    let dialog = NodeRef::<Dialog>::new();
    let rendered_open = row_dialog(dialog, target, from_query("revoke_access"));
    close_after_success(dialog, revoke_access);
    let id = target_id(target);
    view! {
        <RowQuestion dialog target rendered_open key="revoke-access" title=|name| format!("Revoke access of {name}?")
            warning="The app's tokens stop working at once. It can act for you again only if you authorize it again.">
            <ActionForm action=revoke_access>
                <input type="hidden" name="app_id" value=id prop:value=id/>
                {action_error(revoke_access.value())}
                <button type="submit" class="danger" disabled=move || revoke_access.pending().get()>"Revoke access"</button>
            </ActionForm>
        </RowQuestion>
    }
}

/// Deletes an app, after asking: everyone's grant of it ends.
#[component]
fn DeleteAppDialog(delete: ServerAction<DeleteApp>, target: Target) -> impl IntoView {
    let dialog = NodeRef::<Dialog>::new();
    let rendered_open = row_dialog(dialog, target, from_query("delete_app"));
    close_after_success(dialog, delete);
    let id = target_id(target);
    view! {
        <RowQuestion dialog target rendered_open key="delete-app" title=|name| format!("Delete {name}?")
            warning="Everyone who authorized this app loses it at once: its tokens stop working, and it cannot be undone.">
            <ActionForm action=delete>
                <input type="hidden" name="id" value=id prop:value=id/>
                {action_error(delete.value())}
                <button type="submit" class="danger" disabled=move || delete.pending().get()>"Delete app"</button>
            </ActionForm>
        </RowQuestion>
    }
}

/// A new client secret, after asking; shown once, the old one dead at once.
#[component]
fn RegenerateSecretDialog(regenerate: ServerAction<RegenerateAppSecret>, target: Target) -> impl IntoView {
    let dialog = NodeRef::<Dialog>::new();
    let rendered_open = row_dialog(dialog, target, from_query("regenerate_app"));
    let id = target_id(target);
    let on_close = Callback::new(move |()| regenerate.value().set(None));
    view! {
        <RowQuestion dialog target rendered_open key="regenerate-secret" title=|name| format!("Regenerate the secret of {name}?")
            warning="The app's current secret stops working at once: update the app with the new one." on_close>
            {move || match regenerate.value().get() {
                Some(Ok(Some(app))) => view! { <ShowClient app dialog id_prefix="regenerated-app"/> }.into_any(),
                _ => view! {
                    <ActionForm action=regenerate>
                        <input type="hidden" name="id" value=id prop:value=id/>
                        {action_error(regenerate.value())}
                        <button type="submit" disabled=move || regenerate.pending().get()>"Regenerate secret"</button>
                    </ActionForm>
                }.into_any(),
            }}
        </RowQuestion>
    }
}

/// Edits an app's name, description, redirect URLs and scopes (its client id and kind stay).
#[component]
fn EditAppDialog(
    update: ServerAction<UpdateApp>,
    target: RwSignal<Option<DeveloperAppRow>>,
) -> impl IntoView {
    let dialog = NodeRef::<Dialog>::new();
    let from_query = use_query_map().with_untracked(|q| {
        q.get("edit_app").map(|id| DeveloperAppRow {
            id,
            name: q.get("name").unwrap_or_default(),
            description: q.get("description").unwrap_or_default(),
            redirect_urls: q.get("redirect_urls").unwrap_or_default(),
            scopes: q.get("scopes").unwrap_or_default().split_whitespace().map(str::to_owned).collect(),
            public: false,
            created: String::new(),
            created_exact: String::new(),
        })
    });
    let rendered_open = row_dialog(dialog, target, from_query);
    close_after_success(dialog, update);
    let id = move || target.with(|row| row.as_ref().map(|row| row.id.clone()).unwrap_or_default());
    let name = move || target.with(|row| row.as_ref().map(|row| row.name.clone()).unwrap_or_default());
    view! {
        <dialog node_ref=dialog aria-labelledby="edit-app-title" aria-modal="true" open=rendered_open
            on:close=move |_| { target.set(None); update.value().set(None); }>
            <h2 id="edit-app-title">{move || format!("Edit {}", name())}</h2>
            <p>"Taking a scope away ends every grant of the app: each person is asked again."</p>
            <ActionForm action=update attr:class="stacked">
                <input type="hidden" name="id" value=id prop:value=id/>
                <AppFieldInputs id_prefix="edit-app" chosen=target/>
                {action_error(update.value())}
                <button type="submit" disabled=move || update.pending().get()>"Save"</button>
            </ActionForm>
            <CancelButton dialog/>
        </dialog>
    }
}
