use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::components::A;
use leptos_router::hooks::use_query_map;

use crate::components::account::{action_error, load_page_after, Auth};
use crate::rules::limits::MIN_PASSWORD_CHARS;
use crate::rules::text::USER_NAME;

/// `/signup`: Name, Email, Password, `Sign up`.
#[component]
pub fn SignupPage() -> impl IntoView {
    let signup = expect_context::<Auth>().signup;
    load_page_after(signup.value());
    // An invitation's link (SPEC §10): signing up with its address accepts it.
    let invite = use_query_map().with_untracked(|q| q.get("invite")).unwrap_or_default();
    view! {
        <Title text="Sign up · Speckle Tokens"/>
        <h1>"Sign up"</h1>
        <ActionForm action=signup attr:class="stacked">
            <input type="hidden" name="invite" value=invite/>
            <label for="signup-name">"Name"</label>
            <input id="signup-name" name="name" type="text" autocomplete="name" maxlength=USER_NAME.max_chars/>
            <label for="signup-email">"Email"</label>
            <input id="signup-email" name="email" type="email" autocomplete="email"/>
            <label for="signup-password">"Password"</label>
            <input
                id="signup-password"
                name="password"
                type="password"
                autocomplete="new-password"
                aria-describedby="signup-password-hint"
            />
            <p id="signup-password-hint" class="hint">{format!("At least {MIN_PASSWORD_CHARS} characters.")}</p>
            {action_error(signup.value())}
            <button type="submit" disabled=move || signup.pending().get()>"Sign up"</button>
        </ActionForm>
        <p>"Already have an account? " <A href="/login">"Sign in"</A></p>
    }
}

/// `/login`: Email, Password, `Sign in`; then the `next` page or `/profile`.
#[component]
pub fn LoginPage() -> impl IntoView {
    let login = expect_context::<Auth>().login;
    load_page_after(login.value());
    let next = use_query_map().with_untracked(|q| q.get("next")).unwrap_or_default();
    view! {
        <Title text="Sign in · Speckle Tokens"/>
        <h1>"Sign in"</h1>
        <ActionForm action=login attr:class="stacked">
            <input type="hidden" name="next" value=next/>
            <label for="login-email">"Email"</label>
            <input id="login-email" name="email" type="email" autocomplete="username"/>
            <label for="login-password">"Password"</label>
            <input id="login-password" name="password" type="password" autocomplete="current-password"/>
            {action_error(login.value())}
            <button type="submit" disabled=move || login.pending().get()>"Sign in"</button>
        </ActionForm>
        <p>"No account yet? " <A href="/signup">"Sign up"</A></p>
    }
}
