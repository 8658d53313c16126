//! What one GraphQL request carries, built once by the HTTP handler (`http.rs`, the only way
//! into the schema) from its bearer check, and read by every resolver through [`request`]:
//! the database (and with it the clock), the caller, the client's address, the read cache's
//! epochs and the budget. A resolver reaches none of them another way.

use std::sync::Arc;

use async_graphql::Context;

use super::limits::Budget;
use crate::rules::error::AppError;
use crate::server::db::{DbPool, Epochs};
use crate::server::domain::activity::Seen;
use crate::server::domain::streams::Reader;
use crate::server::domain::tokens::Caller;

/// One request's context (see the module's doc).
pub struct RequestContext {
    /// The server's database; its clock is the request's "now".
    pub db: DbPool,
    /// The token's caller; `None` for an anonymous request.
    pub caller: Option<Arc<Caller>>,
    /// The read cache's epochs as the request saw them when it started (token requests only).
    pub epochs: Option<Epochs>,
    /// Where the request came from (address, user agent), for the events a mutation records.
    pub seen: Seen,
    /// What the request may still cost, and its turn at the database.
    pub budget: Arc<Budget>,
    /// The server's mail, when it sends any (invitations to addresses).
    pub mailer: Option<crate::server::mail::Mailer>,
}

impl RequestContext {
    /// An anonymous request's context (no caller, no address: a test's, or a tool's).
    pub fn anonymous(db: DbPool, budget: Arc<Budget>) -> RequestContext {
        RequestContext { db, caller: None, epochs: None, seen: Seen::default(), budget, mailer: None }
    }

    /// Who reads streams in this request: its token, or anonymous.
    pub fn reader(&self) -> Reader<'_> {
        Caller::reader_of(self.caller.as_deref())
    }
}

/// This request's context; an error (never a panic) for a request run without one.
pub fn request<'a>(ctx: &'a Context<'_>) -> async_graphql::Result<&'a RequestContext> {
    ctx.data_opt::<RequestContext>().ok_or_else(|| {
        tracing::error!("GraphQL request run without its context");
        super::to_api(AppError::Internal)
    })
}
