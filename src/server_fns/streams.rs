//! The streams the signed-in user can see: how a person sees in the browser what a script
//! did with their token.

use leptos::prelude::*;
use serde::{Deserialize, Serialize};

use crate::error::AppError;

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
    pub commit_count: i64,
    pub commits: Vec<CommitRow>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CommitRow {
    pub id: String,
    pub message: String,
    pub branch_name: String,
    pub referenced_object: String,
    pub author_name: String,
    pub source_application: Option<String>,
}

/// The streams the user collaborates on, newest first (the first 100).
#[server(endpoint = "list_streams")]
pub async fn list_streams() -> Result<Vec<StreamRow>, AppError> {
    super::session::with_status(async move {
        use super::session::{require_user, state};
        use crate::server::pagination::{Page, MAX_LIMIT};
        use crate::server::streams;
        let pool = state()?.db;
        let user = require_user(&mut pool.get().await?).await?;
        let page = Page::new(Some(MAX_LIMIT), None)?;
        let (rows, _) = streams::page_for_user(&pool, &user.id, false, &page).await?;
        Ok(rows
            .into_iter()
            .map(|(stream, role)| StreamRow {
                id: stream.id,
                name: stream.name,
                description: stream.description,
                is_public: stream.is_public,
                role,
            })
            .collect())
    })
    .await
}

/// A stream the user can read, with its collaborators and latest commits.
#[server(endpoint = "get_stream")]
pub async fn get_stream(id: String) -> Result<StreamDetails, AppError> {
    super::session::with_status(async move {
        use super::session::{db, require_user};
        use crate::server::pagination::{Page, MAX_LIMIT};
        use crate::server::streams;
        let mut conn = db().await?;
        let user = require_user(&mut conn).await?;
        let access = streams::readable(&mut conn, &id, Some(&user.id)).await?;
        let collaborators = streams::collaborators(&mut conn, &id).await?;
        let commit_count = streams::count_commits(&mut conn, &id).await?;
        let (commits, _) =
            streams::page_of_commits(&mut conn, &id, &Page::new(Some(MAX_LIMIT), None)?).await?;
        Ok(StreamDetails {
            name: access.stream.name,
            description: access.stream.description,
            is_public: access.stream.is_public,
            role: access.role.map(|role| role.name().to_owned()),
            collaborators: collaborators.into_iter().map(|(_, name, role)| (name, role)).collect(),
            commit_count,
            commits: commits
                .into_iter()
                .map(|(commit, author_name)| CommitRow {
                    id: commit.id,
                    message: commit.message,
                    branch_name: commit.branch_name,
                    referenced_object: commit.referenced_object,
                    author_name,
                    source_application: commit.source_application,
                })
                .collect(),
        })
    })
    .await
}
