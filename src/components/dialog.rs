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
