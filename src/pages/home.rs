use leptos::prelude::*;
use leptos_router::components::A;

use crate::components::account::Auth;

/// `/`: who is signed in, and where to go from here.
#[component]
pub fn HomePage() -> impl IntoView {
    let auth = expect_context::<Auth>();
    view! {
        <h1>"Speckle Tokens"</h1>
        <p>"Streams of 3D data, and personal access tokens that let your scripts work with them."</p>
        <Transition fallback=|| view! { <p>"Loading…"</p> }>
            {move || Suspend::new(async move {
                match auth.user.await {
                    Ok(Some(user)) => view! {
                        <p>"Signed in as " <strong>{user.name}</strong> " (" {user.email} ")."</p>
                        <ul>
                            <li><A href="/profile">"Profile"</A>" – your tokens, under Your Apps"</li>
                            <li><A href="/streams">"Streams"</A></li>
                        </ul>
                    }.into_any(),
                    _ => view! {
                        <p>"You are not signed in."</p>
                        <ul>
                            <li><A href="/login">"Sign in"</A></li>
                            <li><A href="/signup">"Sign up"</A></li>
                        </ul>
                    }.into_any(),
                }
            })}
        </Transition>
    }
}
