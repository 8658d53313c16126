//! The HTML shell, the routes and the header shared by every page.

use leptos::prelude::*;
use leptos_meta::{provide_meta_context, HashedStylesheet, MetaTags, Title};
use leptos_router::components::{Route, Router, Routes, A};
use leptos_router::{ParamSegment, SsrMode, StaticSegment};

use crate::components::account::{load_page_after, Auth};
use crate::pages::{
    AuthorizePage, DevicePage, HomePage, LoginPage, ProfilePage, SecurityPage, SignupPage, SpeckleVerifyPage,
    StreamPage, StreamsPage, TokenActivityPage,
};
use crate::server_fns::accounts::{current_user, Login, Logout, Signup};

pub fn shell(options: LeptosOptions) -> impl IntoView {
    view! {
        <!DOCTYPE html>
        <html lang="en">
            <head>
                <meta charset="utf-8"/>
                <meta name="viewport" content="width=device-width, initial-scale=1"/>
                <AutoReload options=options.clone()/>
                <HashedStylesheet options=options.clone() id="leptos"/>
                <HydrationScripts options/>
                <MetaTags/>
            </head>
            <body>
                <App/>
            </body>
        </html>
    }
}

#[component]
pub fn App() -> impl IntoView {
    provide_meta_context();
    let login = ServerAction::<Login>::new();
    let signup = ServerAction::<Signup>::new();
    let logout = ServerAction::<Logout>::new();
    let user = Resource::new(
        move || (login.version().get(), signup.version().get(), logout.version().get()),
        |_| current_user(),
    );
    provide_context(Auth { login, signup, logout, user });

    view! {
        <Title text="Speckle Tokens"/>
        <Router>
            <Header/>
            <main>
                <Routes fallback=|| view! { <h1>"Page not found"</h1> }>
                    <Route path=StaticSegment("") view=HomePage/>
                    <Route path=StaticSegment("signup") view=SignupPage/>
                    <Route path=StaticSegment("login") view=LoginPage/>
                    // Async: the page may hand over a just-created token through the session,
                    // and the session is saved only once the whole page is rendered.
                    <Route path=StaticSegment("profile") view=ProfilePage ssr=SsrMode::Async/>
                    // Async: the whole page in the first answer, so it reads without JavaScript.
                    <Route
                        path=(StaticSegment("profile"), StaticSegment("security"))
                        view=SecurityPage
                        ssr=SsrMode::Async
                    />
                    <Route
                        path=(StaticSegment("profile"), StaticSegment("tokens"), ParamSegment("id"))
                        view=TokenActivityPage
                        ssr=SsrMode::Async
                    />
                    // Async: an app already authorized is redirected before the page is sent.
                    <Route
                        path=(StaticSegment("oauth"), StaticSegment("authorize"))
                        view=AuthorizePage
                        ssr=SsrMode::Async
                    />
                    <Route
                        path=(StaticSegment("authn"), StaticSegment("verify"), ParamSegment("app"), ParamSegment("challenge"))
                        view=SpeckleVerifyPage
                        ssr=SsrMode::Async
                    />
                    <Route path=StaticSegment("device") view=DevicePage ssr=SsrMode::Async/>
                    <Route path=StaticSegment("streams") view=StreamsPage ssr=SsrMode::Async/>
                    <Route path=(StaticSegment("streams"), ParamSegment("id")) view=StreamPage ssr=SsrMode::Async/>
                </Routes>
            </main>
        </Router>
    }
}

/// The site header: who is signed in, navigation, and `Sign out` (a POST, never a link).
#[component]
fn Header() -> impl IntoView {
    let auth = expect_context::<Auth>();
    load_page_after(auth.logout.value());
    view! {
        <header class="site-header">
            <A href="/" attr:class="brand">"Speckle Tokens"</A>
            <nav aria-label="Main">
                <Transition fallback=|| ()>
                    {move || Suspend::new(async move {
                        match auth.user.await {
                            Ok(Some(user)) => view! {
                                <A href="/profile">"Profile"</A>
                                <A href="/streams">"Streams"</A>
                                <span class="who">{user.name}</span>
                                <ActionForm action=auth.logout attr:class="inline">
                                    <button type="submit">"Sign out"</button>
                                </ActionForm>
                            }.into_any(),
                            _ => view! {
                                <A href="/login">"Sign in"</A>
                                <A href="/signup">"Sign up"</A>
                            }.into_any(),
                        }
                    })}
                </Transition>
            </nav>
        </header>
    }
}
