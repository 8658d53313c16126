//! Speckle Tokens: a Speckle-style server whose heart is personal access tokens.
//!
//! One crate, two builds: `ssr` (the axum server, with everything under [`server`]) and
//! `hydrate` (the WASM that makes the same pages interactive in the browser).

pub mod app;
pub mod components;
pub mod pages;
pub mod rules;
pub mod server_fns;

#[cfg(feature = "ssr")]
pub mod server;

#[cfg(feature = "hydrate")]
#[wasm_bindgen::prelude::wasm_bindgen]
pub fn hydrate() {
    console_error_panic_hook::set_once();
    leptos::mount::hydrate_body(app::App);
    // A marker for browser tests: from here on the buttons are live.
    if let Some(root) = leptos::prelude::document().document_element() {
        let _ = root.set_attribute("data-hydrated", "");
    }
}
