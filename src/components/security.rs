//! SPEC §9 on `/profile`: the alert about a leaked token, `Revoke all tokens`, and the
//! `Change password` form.

use leptos::html::Dialog;
use leptos::prelude::*;
use leptos_router::hooks::use_query_map;

use super::account::action_error;
use super::dialog::{close, open_modal, upgrade_to_modal_when_hydrated, CancelButton};
use crate::rules::limits::MIN_PASSWORD_CHARS;
use crate::server_fns::security::{
    leak_alerts, ChangePassword, DismissAlert, EndAllAppAccess, RevokeAllTokens,
};

/// What the profile's sections share: the `Revoke all tokens` action (the token list reloads
/// after it) and whether its dialog is open.
#[derive(Clone, Copy)]
pub struct RevokeAll {
    pub action: ServerAction<RevokeAllTokens>,
    pub asked: RwSignal<bool>,
}

impl RevokeAll {
    pub fn new() -> RevokeAll {
        RevokeAll { action: ServerAction::new(), asked: RwSignal::new(false) }
    }
}

impl Default for RevokeAll {
    fn default() -> Self {
        RevokeAll::new()
    }
}

/// A `role="alert"` notice per leaked token, until dismissed.
#[component]
pub fn LeakAlerts() -> impl IntoView {
    let dismiss = ServerAction::<DismissAlert>::new();
    let alerts = Resource::new(move || dismiss.version().get(), |_| leak_alerts());
    view! {
        <Transition fallback=|| ()>
            {move || Suspend::new(async move {
                alerts.await.ok().unwrap_or_default().into_iter().map(|alert| {
                    let label = format!("Dismiss the alert about {}", alert.token_name);
                    view! {
                        <div class="leak-alert" role="alert">
                            <p>
                                <strong>"Your token “" {alert.token_name.clone()} "” was revoked: "</strong>
                                "it was " {alert.how.clone()} " on " {alert.when.clone()} ". "
                                "Scripts using it now fail. Create a new token, remove the old one from where it "
                                "was found, and check "
                                <a href=format!("/profile/tokens/{}", alert.token_id)>"its activity"</a>
                                " for use you do not recognise."
                            </p>
                            <ActionForm action=dismiss>
                                <input type="hidden" name="id" value=alert.id/>
                                <button type="submit" aria-label=label disabled=move || dismiss.pending().get()>"Dismiss"</button>
                            </ActionForm>
                        </div>
                    }
                }).collect_view()
            })}
        </Transition>
    }
}

/// The `Revoke all tokens` button and its confirmation (`Revoke all`).
#[component]
pub fn RevokeAllButton(revoke_all: RevokeAll) -> impl IntoView {
    let dialog = NodeRef::<Dialog>::new();
    let query = use_query_map();
    let rendered_open = query.with_untracked(|q| q.get("revoke_all").is_some());
    upgrade_to_modal_when_hydrated(dialog, rendered_open);
    Effect::new(move |_| {
        if revoke_all.asked.get() {
            open_modal(dialog);
        }
    });
    Effect::new(move |previous: Option<usize>| {
        let version = revoke_all.action.version().get();
        if previous.is_some_and(|p| p != version)
            && matches!(revoke_all.action.value().get_untracked(), Some(Ok(_)))
        {
            close(dialog);
        }
        version
    });
    let ask = move |ev: leptos::ev::MouseEvent| {
        ev.prevent_default();
        revoke_all.asked.set(true);
    };
    view! {
        <form method="get" action="/profile" class="inline">
            <button type="submit" name="revoke_all" value="1" class="danger" on:click=ask>"Revoke all tokens"</button>
        </form>
        <dialog
            node_ref=dialog
            aria-labelledby="revoke-all-title"
            aria-describedby="revoke-all-warning"
            aria-modal="true"
            open=rendered_open
            on:close=move |_| revoke_all.asked.set(false)
        >
            <h2 id="revoke-all-title">"Revoke all tokens?"</h2>
            <p id="revoke-all-warning" class="warning">
                "Every one of your tokens stops working at once, and every script or app using them. "
                "Do this if you think a token, or your account, is in someone else's hands."
            </p>
            <ActionForm action=revoke_all.action>
                {action_error(revoke_all.action.value())}
                <div class="buttons">
                    <button type="submit" class="danger" disabled=move || revoke_all.action.pending().get()>"Revoke all"</button>
                </div>
            </ActionForm>
            <CancelButton dialog/>
        </dialog>
    }
}

/// `Change password`: the current one, a new one; every other session is signed out, and
/// the tokens and the apps' access may be ended too.
#[component]
pub fn ChangePasswordForm(revoke_all: RevokeAll) -> impl IntoView {
    let change = ServerAction::<ChangePassword>::new();
    let end_apps = ServerAction::<EndAllAppAccess>::new();
    let query = use_query_map();
    let changed_without_js = query.with_untracked(|q| q.get("password").is_some_and(|p| p == "changed"));
    let done = move || {
        change.value().get().and_then(Result::ok).or_else(|| {
            changed_without_js
                .then(|| "Your password was changed, and every other session signed out.".to_owned())
        })
    };
    view! {
        <section class="change-password" aria-labelledby="password-title">
            <h2 id="password-title">"Password"</h2>
            <ActionForm action=change attr:class="stacked">
                <label for="current-password">"Current password"</label>
                <input id="current-password" name="current_password" type="password" autocomplete="current-password" required/>
                <label for="new-password">"New password"</label>
                <input id="new-password" name="new_password" type="password" autocomplete="new-password" minlength=MIN_PASSWORD_CHARS required/>
                {action_error(change.value())}
                <button type="submit" disabled=move || change.pending().get()>"Change password"</button>
            </ActionForm>
            {move || done().map(|message| view! {
                <div class="status" role="status">
                    <p>{message}</p>
                    <div>
                        "Your tokens still work. If you changed your password because someone else may "
                        "have had it, revoke them too: they may have made tokens of their own. "
                        <form method="get" action="/profile" class="inline">
                            <button
                                type="submit"
                                name="revoke_all"
                                value="1"
                                on:click=move |ev| { ev.prevent_default(); revoke_all.asked.set(true); }
                            >
                                "Revoke my tokens too"
                            </button>
                        </form>
                    </div>
                    <div>
                        "Apps you authorized keep their access too. "
                        <ActionForm action=end_apps attr:class="inline">
                            <button type="submit" disabled=move || end_apps.pending().get()>"End every app's access too"</button>
                        </ActionForm>
                        {action_error(end_apps.value())}
                        {move || end_apps.value().get().and_then(Result::ok).map(|ended| view! { <p>{ended}</p> })}
                    </div>
                </div>
            })}
        </section>
    }
}
