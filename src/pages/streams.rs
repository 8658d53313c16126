use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::components::Redirect;

use crate::error::AppError;
use crate::server_fns::streams::list_streams;

/// `/streams`: the streams the user can see, with their role: where a person sees in the
/// browser what a script did with their token.
#[component]
pub fn StreamsPage() -> impl IntoView {
    let streams = Resource::new(|| (), |_| list_streams());
    view! {
        <Title text="Streams · Speckle Tokens"/>
        <h1>"Streams"</h1>
        <Suspense fallback=|| view! { <p>"Loading…"</p> }>
            {move || Suspend::new(async move {
                match streams.await {
                    Err(AppError::SignedOut) => view! { <Redirect path="/login?next=/streams"/> }.into_any(),
                    Err(error) => view! { <p class="error" role="alert">{error.to_string()}</p> }.into_any(),
                    Ok(rows) if rows.is_empty() => view! {
                        <p>"You have no streams yet. Create one with a token that has streams:write."</p>
                    }.into_any(),
                    Ok(rows) => view! {
                        <table>
                            <thead>
                                <tr><th scope="col">"Name"</th><th scope="col">"Role"</th><th scope="col">"Visibility"</th><th scope="col">"Description"</th></tr>
                            </thead>
                            <tbody>
                                {rows.into_iter().map(|row| view! {
                                    <tr>
                                        <td>{row.name}</td>
                                        <td>{row.role}</td>
                                        <td>{if row.is_public { "Public" } else { "Private" }}</td>
                                        <td>{row.description}</td>
                                    </tr>
                                }).collect_view()}
                            </tbody>
                        </table>
                    }.into_any(),
                }
            })}
        </Suspense>
    }
}
