use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::components::{Redirect, A};
use leptos_router::hooks::use_params_map;

use crate::components::account::action_error;
use crate::rules::error::AppError;
use crate::server_fns::streams::{
    get_stream, list_invites, list_streams, AnswerInvite, BranchRow, InviteRow, StreamDetails, StreamRow,
};

/// `/streams`: the streams the user can see, with their role: where a person sees in the
/// browser what a script did with their token.
#[component]
pub fn StreamsPage() -> impl IntoView {
    let answer = ServerAction::<AnswerInvite>::new();
    // Both lists follow each answer: an accepted invitation is a stream of the list.
    let invites = Resource::new(move || answer.version().get(), |_| list_invites());
    let streams = Resource::new(move || answer.version().get(), |_| list_streams());
    view! {
        <Title text="Streams · Speckle Tokens"/>
        <h1>"Streams"</h1>
        <Suspense fallback=|| ()>
            {move || Suspend::new(async move {
                match invites.await {
                    Ok(rows) if !rows.is_empty() => view! { <Invitations rows answer/> }.into_any(),
                    _ => ().into_any(),
                }
            })}
        </Suspense>
        <Suspense fallback=|| view! { <p>"Loading…"</p> }>
            {move || Suspend::new(async move {
                match streams.await {
                    Err(AppError::SignedOut) => view! { <Redirect path="/login?next=/streams"/> }.into_any(),
                    Err(error) => view! { <p class="error" role="alert">{error.to_string()}</p> }.into_any(),
                    Ok(rows) if rows.is_empty() => view! {
                        <p>"You have no streams yet. Create one with a token that has streams:write."</p>
                    }.into_any(),
                    Ok(rows) => view! { <StreamTable rows/> }.into_any(),
                }
            })}
        </Suspense>
    }
}

/// The invitations waiting for the user's answer, each with its Accept and Decline buttons
/// (plain forms: they work without JavaScript too).
#[component]
fn Invitations(rows: Vec<InviteRow>, answer: ServerAction<AnswerInvite>) -> impl IntoView {
    view! {
        <section aria-labelledby="invitations-heading">
            <h2 id="invitations-heading">"Invitations"</h2>
            <ul class="invitations">
                {rows
                    .into_iter()
                    .map(|row| {
                        let accept = format!("Accept invitation to {}", row.stream_name);
                        let decline = format!("Decline invitation to {}", row.stream_name);
                        view! {
                            <li>
                                {row.invited_by} " invited you to " <strong>{row.stream_name}</strong>
                                " as " {row.role} ". "
                                <AnswerForm answer stream_id=row.stream_id.clone() id=row.id.clone() accept=true label=accept text="Accept"/>
                                <AnswerForm answer stream_id=row.stream_id id=row.id accept=false label=decline text="Decline"/>
                            </li>
                        }
                    })
                    .collect_view()}
            </ul>
            {action_error(answer.value())}
        </section>
    }
}

/// One answer to an invitation: a button named for what it does and to which stream.
#[component]
fn AnswerForm(
    answer: ServerAction<AnswerInvite>,
    stream_id: String,
    id: String,
    accept: bool,
    label: String,
    text: &'static str,
) -> impl IntoView {
    view! {
        <ActionForm action=answer attr:class="inline">
            <input type="hidden" name="stream_id" value=stream_id/>
            <input type="hidden" name="id" value=id/>
            <input type="hidden" name="accept" value=accept.to_string()/>
            <button type="submit" aria-label=label>{text}</button>
        </ActionForm>
    }
}

#[component]
fn StreamTable(rows: Vec<StreamRow>) -> impl IntoView {
    view! {
        <table>
            <caption class="visually-hidden">"Your streams"</caption>
            <thead>
                <tr>
                    <th scope="col">"Name"</th>
                    <th scope="col">"Role"</th>
                    <th scope="col">"Visibility"</th>
                    <th scope="col">"Description"</th>
                </tr>
            </thead>
            <tbody>
                {rows
                    .into_iter()
                    .map(|row| view! {
                        <tr>
                            <td><A href=format!("/streams/{}", row.id)>{row.name}</A></td>
                            <td>{row.role}</td>
                            <td>{visibility(row.is_public)}</td>
                            <td>{row.description}</td>
                        </tr>
                    })
                    .collect_view()}
            </tbody>
        </table>
    }
}

fn visibility(is_public: bool) -> &'static str {
    if is_public {
        "Public"
    } else {
        "Private"
    }
}

/// `/streams/<id>`: a stream's collaborators, branches with their commits, and objects.
#[component]
pub fn StreamPage() -> impl IntoView {
    let params = use_params_map();
    let id = move || params.read().get("id").unwrap_or_default();
    let details = Resource::new(id, get_stream);
    view! {
        <Suspense fallback=|| view! { <p>"Loading…"</p> }>
            {move || Suspend::new(async move {
                match details.await {
                    Err(AppError::SignedOut) => view! { <Redirect path="/login?next=/streams"/> }.into_any(),
                    Err(error) => view! {
                        <h1>"Stream"</h1>
                        <p class="error" role="alert">{error.to_string()}</p>
                    }.into_any(),
                    Ok(stream) => view! { <StreamView stream/> }.into_any(),
                }
            })}
        </Suspense>
    }
}

#[component]
fn StreamView(stream: StreamDetails) -> impl IntoView {
    let objects = match stream.object_count {
        1 => "1 object".to_owned(),
        n => format!("{n} objects"),
    };
    view! {
        <Title text=format!("{} · Speckle Tokens", stream.name)/>
        <h1>{stream.name}</h1>
        <p>{stream.description}</p>
        <p>{visibility(stream.is_public)} ". Your role: " {stream.role.unwrap_or_else(|| "none (public stream)".into())}</p>
        <p>"This stream holds " {objects} "."</p>
        <h2>"Collaborators"</h2>
        <ul>
            {stream.collaborators.into_iter().map(|(name, role)| view! { <li>{name} " – " {role}</li> }).collect_view()}
        </ul>
        <h2>"Branches"</h2>
        {stream.branches.into_iter().map(|branch| view! { <BranchCommits branch/> }).collect_view()}
    }
}

/// One branch and its latest commits: a table captioned by the branch's name.
#[component]
fn BranchCommits(branch: BranchRow) -> impl IntoView {
    let heading_id = format!("branch-{}", branch.name.replace(|c: char| !c.is_ascii_alphanumeric(), "-"));
    let commits = match branch.commit_count {
        1 => "1 commit".to_owned(),
        n => format!("{n} commits"),
    };
    view! {
        <section aria-labelledby=heading_id.clone()>
            <h3 id=heading_id.clone()>{branch.name.clone()} " (" {commits} ")"</h3>
            {branch.description.map(|description| view! { <p>{description}</p> })}
            {if branch.commits.is_empty() {
                view! { <p>"No commits yet."</p> }.into_any()
            } else {
                view! {
                    <table>
                        <caption class="visually-hidden">"Commits on " {branch.name}</caption>
                        <thead>
                            <tr>
                                <th scope="col">"Message"</th>
                                <th scope="col">"Author"</th>
                                <th scope="col">"Application"</th>
                                <th scope="col">"Time"</th>
                                <th scope="col">"Object"</th>
                            </tr>
                        </thead>
                        <tbody>
                            {branch.commits.into_iter().map(|commit| view! {
                                <tr>
                                    <td>{commit.message}</td>
                                    <td>{commit.author_name}</td>
                                    <td>{commit.source_application.unwrap_or_default()}</td>
                                    <td><time datetime=commit.created_at.clone()>{commit.created_at.replace('T', " ").trim_end_matches('Z').chars().take(19).collect::<String>()} " UTC"</time></td>
                                    <td><code>{commit.referenced_object}</code></td>
                                </tr>
                            }).collect_view()}
                        </tbody>
                    </table>
                }.into_any()
            }}
        </section>
    }
}
