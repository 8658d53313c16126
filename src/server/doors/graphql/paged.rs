//! The one way a list field reads a page: [`Paged`] checks the limit and the cursor (a keyset
//! [`Page`], at most `limit + 1` rows read whatever the cursor), and [`Paged::read`] runs the
//! read in the request's turn, with room for the page charged before it (at the most a row
//! may weigh, for rows that can be large) and settled on what the rows read weigh after.
//! Nothing else in this door makes a `Page`, so a new list field cannot skip a step.

use std::future::Future;

use async_graphql::Context;

use super::{limits, to_api, turn};
use crate::rules::error::AppResult;
use crate::server::db::DbPool;
use crate::server::domain::pagination::{Order, Page};

/// A page asked for: `limit` rows after `cursor`, in `order`.
pub(super) struct Paged {
    page: Page,
    /// Bytes charged per row before the read: the most one row may weigh when its rows can
    /// be large (a commit's message), 0 when they are small (they are charged once read).
    charged_per_row: usize,
}

impl Paged {
    /// Newest first, rows charged once read.
    pub(super) fn newest_first(limit: Option<i32>, cursor: Option<String>) -> async_graphql::Result<Paged> {
        Paged::new(limit, cursor, Order::NewestFirst, 0)
    }

    /// `order`, with `charged_per_row` bytes charged per row before the read.
    pub(super) fn new(
        limit: Option<i32>,
        cursor: Option<String>,
        order: Order,
        charged_per_row: usize,
    ) -> async_graphql::Result<Paged> {
        let page = Page::new(limit, cursor.as_deref(), order).map_err(to_api)?;
        Ok(Paged { page, charged_per_row })
    }

    /// Runs `read` on the page in the request's turn (it may read more than the page, a count
    /// beside it, in the same turn), charging for the page before and settling on `weigh` of
    /// what it answered after.
    pub(super) async fn read<T, F>(
        self,
        ctx: &Context<'_>,
        read: impl FnOnce(DbPool, Page) -> F,
        weigh: impl FnOnce(&T) -> usize,
    ) -> async_graphql::Result<T>
    where
        F: Future<Output = AppResult<T>>,
    {
        let _turn = turn(ctx).await?;
        let estimate = usize::try_from(self.page.limit).unwrap_or(0).saturating_mul(self.charged_per_row);
        let pool = super::request(ctx)?.db.clone();
        let rows = async { read(pool, self.page).await.map_err(to_api) };
        limits::read_within(ctx, estimate, rows, weigh).await
    }
}
