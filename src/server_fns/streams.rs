//! The streams the signed-in user can see.

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

#[server(endpoint = "list_streams")]
pub async fn list_streams() -> Result<Vec<StreamRow>, AppError> {
    super::session::with_status(async move {
        use super::session::{db, require_user};
        use crate::server::streams;
        let mut conn = db().await?;
        let user = require_user(&mut conn).await?;
        let rows = streams::list_for_user(&mut conn, &user.id, 100).await?;
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
