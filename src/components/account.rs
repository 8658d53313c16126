//! Who is signed in, and what an action answers: shared by the header, the pages and the
//! dialogs.

use leptos::prelude::*;

use crate::rules::error::AppError;
use crate::server_fns::accounts::{Login, Logout, SignedInUser, Signup};

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

/// The account actions and who is signed in, shared by the header and the pages.
#[derive(Clone, Copy)]
pub struct Auth {
    pub login: ServerAction<Login>,
    pub signup: ServerAction<Signup>,
    pub logout: ServerAction<Logout>,
    pub user: Resource<Result<Option<SignedInUser>, AppError>>,
}
