//! One module per page of SPEC §2.

mod activity;
mod auth;
mod home;
mod profile;
mod streams;

pub use activity::{SecurityPage, TokenActivityPage};
pub use auth::{LoginPage, SignupPage};
pub use home::HomePage;
pub use profile::ProfilePage;
pub use streams::{StreamPage, StreamsPage};

use leptos::prelude::*;

use crate::error::AppError;

/// The error of a finished action, as an alert the screen reader announces.
pub fn action_error<T, S>(value: S) -> impl IntoView
where
    T: Clone + Send + Sync + 'static,
    S: Get<Value = Option<Result<T, AppError>>> + Send + Sync + 'static,
{
    move || {
        value.get().and_then(Result::err).map(|error| {
            view! { <p class="error" role="alert">{error.to_string()}</p> }
        })
    }
}

/// Once the action answers with a path, loads that page in full (after sign-in or sign-out
/// every part of the page must see the new session).
pub fn load_page_after<S>(value: S)
where
    S: Get<Value = Option<Result<String, AppError>>> + Send + Sync + 'static,
{
    Effect::new(move |_| {
        if let Some(Ok(path)) = value.get() {
            let _ = window().location().set_href(&path);
        }
    });
}
