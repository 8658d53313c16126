use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::components::Redirect;

use crate::components::account::Auth;
use crate::components::apps::flashed_app;
use crate::components::security::{ChangePasswordForm, RevokeAll};
use crate::components::tokens::{flashed_token, YourApps};

/// `/profile`: the user's name and email, then "Your Apps". Signed-out visitors go to
/// `/login` (the server redirects before rendering; this covers in-app navigation).
#[component]
pub fn ProfilePage() -> impl IntoView {
    let auth = expect_context::<Auth>();
    let flashed = flashed_token();
    let flashed_app = flashed_app();
    let revoke_all = RevokeAll::new();
    view! {
        <Title text="Profile · Speckle Tokens"/>
        <Suspense fallback=|| view! { <p>"Loading…"</p> }>
            {move || Suspend::new(async move {
                match auth.user.await {
                    Ok(Some(user)) => view! {
                        <h1>"Profile"</h1>
                        <dl class="profile">
                            <dt>"Name"</dt>
                            <dd>{user.name}</dd>
                            <dt>"Email"</dt>
                            <dd>{user.email}</dd>
                        </dl>
                        <p><a href="/profile/security">"Security log"</a>": what happened to your tokens and your account."</p>
                        <YourApps flashed flashed_app revoke_all/>
                        <ChangePasswordForm revoke_all/>
                    }.into_any(),
                    _ => view! { <Redirect path="/login?next=/profile"/> }.into_any(),
                }
            })}
        </Suspense>
    }
}
