//! The streams the signed-in user can see: how a person sees in the browser what a script
//! did with their token.

use leptos::prelude::*;
use serde::{Deserialize, Serialize};

use crate::rules::error::AppError;

/// One stream as `/streams` lists it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct StreamRow {
    pub id: String,
    pub name: String,
    pub description: String,
    pub is_public: bool,
    pub role: String,
}

/// One stream as `/streams/<id>` shows it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct StreamDetails {
    pub name: String,
    pub description: String,
    pub is_public: bool,
    pub role: Option<String>,
    /// (name, role)
    pub collaborators: Vec<(String, String)>,
    pub object_count: i64,
    pub branches: Vec<BranchRow>,
}

/// A branch with its latest commits.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct BranchRow {
    pub name: String,
    pub description: Option<String>,
    pub commit_count: i64,
    pub commits: Vec<CommitRow>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CommitRow {
    pub id: String,
    pub message: String,
    pub referenced_object: String,
    pub author_name: String,
    pub source_application: Option<String>,
    /// RFC 3339, UTC.
    pub created_at: String,
}

/// An invitation waiting for the user's answer, as `/streams` lists it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct InviteRow {
    pub id: String,
    pub stream_id: String,
    pub stream_name: String,
    pub role: String,
    pub invited_by: String,
}

/// The invitations waiting for the user's answer, newest first.
#[server(endpoint = "list_invites")]
pub async fn list_invites() -> Result<Vec<InviteRow>, AppError> {
    super::session::with_status(async move {
        use super::session::{signed_in, SignedIn};
        use crate::server::domain::invites;
        use crate::server::domain::reach::Actor;
        let SignedIn { user, mut conn, .. } = signed_in().await?;
        let pending = invites::pending_for_user(&mut conn, Actor::person(&user.id)).await?;
        Ok(pending
            .into_iter()
            .map(|invite| InviteRow {
                id: invite.id,
                stream_id: invite.stream_id.into(),
                stream_name: invite.stream_name,
                role: invite.role,
                invited_by: invite.inviter.name,
            })
            .collect())
    })
    .await
}

/// Accepts or declines one of the user's invitations.
#[server(endpoint = "answer_invite")]
pub async fn answer_invite(stream_id: String, id: String, accept: bool) -> Result<(), AppError> {
    super::session::with_status(async move {
        use super::session::{is_plain_form_post, signed_in, SignedIn};
        use crate::server::domain::invites;
        use crate::server::domain::reach::Actor;
        let SignedIn { user, mut conn, .. } = signed_in().await?;
        invites::answer(&mut conn, Actor::person(&user.id), &stream_id.into(), &id, accept).await?;
        if is_plain_form_post() {
            leptos_axum::redirect("/streams");
        }
        Ok(())
    })
    .await
}

/// The streams the user collaborates on, newest first (the first 100).
#[server(endpoint = "list_streams")]
pub async fn list_streams() -> Result<Vec<StreamRow>, AppError> {
    super::session::with_status(async move {
        use super::session::{require_user, state};
        use crate::server::domain::pagination::Page;
        use crate::server::domain::reach::Actor;
        use crate::server::domain::streams;
        let pool = state()?.db.clone();
        let user = require_user().await?;
        let (rows, _) = streams::page_for_user(
            &pool,
            streams::Listing::Own(Actor::person(&user.id)),
            &Page::first_of_max(),
        )
        .await?;
        Ok(rows
            .into_iter()
            .map(|(stream, role)| StreamRow {
                id: stream.id.into(),
                name: stream.name,
                description: stream.description,
                is_public: stream.is_public,
                role,
            })
            .collect())
    })
    .await
}

/// A stream the user can read, with its collaborators, its branches (the first 100) with
/// their latest commits (100 each), and how many objects it holds.
#[server(endpoint = "get_stream")]
pub async fn get_stream(id: String) -> Result<StreamDetails, AppError> {
    super::session::with_status(async move {
        use super::session::{signed_in, SignedIn};
        use crate::rules::limits::MAX_PAGE;
        use crate::server::db::iso8601;
        use crate::server::domain::pagination::{Order, Page};
        use crate::server::domain::reach::Actor;
        use crate::server::domain::{branches, commits, objects, streams};
        let SignedIn { user, mut conn, .. } = signed_in().await?;
        let id = crate::server::db::StreamId::from(id);
        let access = streams::readable(&mut conn, &id, Some(Actor::person(&user.id))).await?;
        let collaborators = streams::collaborators(&mut conn, &id).await?;
        let object_count = objects::count(&mut conn, &id).await?;
        let (_, rows, _) = branches::page(
            &mut conn,
            &id,
            &Default::default(),
            &Page::new(Some(MAX_PAGE), None, Order::OldestFirst)?,
        )
        .await?;
        let mut counted = Vec::with_capacity(rows.len());
        for branch in rows {
            let commit_count = commits::count_commits(&mut conn, &id, Some(&branch.name)).await?;
            counted.push((branch, commit_count));
        }
        // Pages of commits are read on the pool's readers: this connection goes back first.
        drop(conn);
        let pool = &super::session::state()?.db;
        let mut branch_rows = Vec::with_capacity(counted.len());
        for (branch, commit_count) in counted {
            let (commits, _) =
                commits::page_of_commits(pool, &id, Some(&branch.name), &[], &Page::first_of_max()).await?;
            branch_rows.push(BranchRow {
                name: branch.name,
                description: branch.description,
                commit_count,
                commits: commits
                    .into_iter()
                    .map(|view| CommitRow {
                        id: view.commit.id.into(),
                        message: view.commit.message,
                        referenced_object: view.commit.referenced_object,
                        author_name: view.author_name,
                        source_application: view.commit.source_application,
                        created_at: iso8601(view.commit.created_at),
                    })
                    .collect(),
            });
        }
        Ok(StreamDetails {
            name: access.stream.name,
            description: access.stream.description,
            is_public: access.stream.is_public,
            role: access.role.map(|role| role.name().to_owned()),
            collaborators: collaborators.into_iter().map(|c| (c.name, c.role)).collect(),
            object_count,
            branches: branch_rows,
        })
    })
    .await
}
