//! Native `<dialog>`s: modal, focus-taking, closed by Escape, focus returned to the opener
//! by the browser. Without JavaScript a dialog is rendered `open` by the server instead.

use leptos::html::Dialog;
use leptos::prelude::*;

/// Opens the dialog as a modal.
pub fn open_modal(dialog: NodeRef<Dialog>) {
    if let Some(dialog) = dialog.get_untracked() {
        if !dialog.open() {
            let _ = dialog.show_modal();
        }
    }
}

/// Closes the dialog (its `close` event follows).
pub fn close(dialog: NodeRef<Dialog>) {
    if let Some(dialog) = dialog.get_untracked() {
        dialog.close();
    }
}

/// A dialog the server rendered `open` (no-JS path) becomes a real modal once hydrated.
pub fn upgrade_to_modal_when_hydrated(dialog: NodeRef<Dialog>, rendered_open: bool) {
    Effect::new(move |_| {
        if let Some(element) = dialog.get() {
            if rendered_open && element.open() {
                element.close();
                let _ = element.show_modal();
            }
        }
    });
}

/// A dialog acting on one row: opens when the row sets `target`, or, without JavaScript, is
/// rendered open on the row the page's query names (`from_query`). Answers whether the server
/// renders it open.
pub fn row_dialog<T>(dialog: NodeRef<Dialog>, target: RwSignal<Option<T>>, from_query: Option<T>) -> bool
where
    T: Send + Sync + 'static,
{
    let rendered_open = from_query.is_some();
    if from_query.is_some() {
        target.set(from_query);
    }
    upgrade_to_modal_when_hydrated(dialog, rendered_open);
    Effect::new(move |_| {
        if target.with(Option::is_some) {
            open_modal(dialog);
        }
    });
    rendered_open
}

/// Closes the dialog once its action has succeeded.
pub fn close_after_success<A>(dialog: NodeRef<Dialog>, action: ServerAction<A>)
where
    A: leptos::server_fn::ServerFn + Clone + Send + Sync + 'static,
    A::Output: Clone + Send + Sync + 'static,
    A::Error: Clone + Send + Sync + 'static,
{
    Effect::new(move |previous: Option<usize>| {
        let version = action.version().get();
        if previous.is_some_and(|p| p != version)
            && action.value().with_untracked(|v| matches!(v, Some(Ok(_))))
        {
            close(dialog);
        }
        version
    });
}

/// A dialog's `Cancel`: closes it; without JavaScript, a link back to `/profile` (which
/// renders it closed).
#[component]
pub fn CancelButton(dialog: NodeRef<Dialog>) -> impl IntoView {
    view! {
        <form method="get" action="/profile">
            <button type="submit" on:click=move |ev| { ev.prevent_default(); close(dialog); }>"Cancel"</button>
        </form>
    }
}
