//! Cursor pagination by creation time, stable while rows are added.
//!
//! A cursor is an ISO 8601 time, as Speckle's are (its clients parse them as datetimes): the
//! creation time of the last row of a page, to the millisecond. Rows created in the same
//! millisecond are told apart by their order (by id) within it: the six digits after the
//! milliseconds count how many of them the pages so far returned. A plain time (as Speckle
//! issues) counts none, so the next page starts strictly after it.

use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

use crate::error::{bad_input, AppResult};

pub const DEFAULT_LIMIT: i32 = 25;
pub const MAX_LIMIT: i32 = 100;

/// Which way a list runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Order {
    NewestFirst,
    OldestFirst,
}

/// A page request, checked: `limit` in 0..=100, `cursor` a time.
#[derive(Clone, Debug)]
pub struct Page {
    pub limit: i64,
    pub order: Order,
    after: Cursor,
}

/// A position in a list: past the first `skip` rows (by id) created at `at`, or, with no
/// skip, past every row created at `at`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Cursor {
    at: i64,
    skip: u32,
}

/// How many rows of one millisecond a cursor can count (its six digits).
const MAX_SKIP: u32 = 999_999;

impl Cursor {
    fn encode(self) -> String {
        let second = self.at.div_euclid(1000);
        let millis = self.at.rem_euclid(1000);
        let date = OffsetDateTime::from_unix_timestamp(second)
            .ok()
            .and_then(|t| {
                t.format(&time::macros::format_description!("[year]-[month]-[day]T[hour]:[minute]:[second]"))
                    .ok()
            })
            .unwrap_or_default();
        format!("{date}.{millis:03}{:06}Z", self.skip.min(MAX_SKIP))
    }

    fn parse(text: &str) -> Option<Cursor> {
        let nanos = OffsetDateTime::parse(text.trim(), &Rfc3339).ok()?.unix_timestamp_nanos();
        let at = i64::try_from(nanos.div_euclid(1_000_000)).ok()?;
        let skip = u32::try_from(nanos.rem_euclid(1_000_000)).ok()?;
        Some(Cursor { at, skip })
    }
}

impl Page {
    pub fn new(limit: Option<i32>, cursor: Option<&str>, order: Order) -> AppResult<Page> {
        let limit = limit.unwrap_or(DEFAULT_LIMIT);
        if !(0..=MAX_LIMIT).contains(&limit) {
            return Err(bad_input(format!("limit must be between 0 and {MAX_LIMIT}.")));
        }
        let after = match cursor {
            None => Cursor { at: if order == Order::NewestFirst { i64::MAX } else { i64::MIN }, skip: 0 },
            Some(text) => Cursor::parse(text).ok_or_else(|| {
                bad_input("cursor is malformed: pass back a cursor this API returned, or an ISO 8601 time.")
            })?,
        };
        Ok(Page { limit: i64::from(limit), order, after })
    }

    /// The first page, newest first, of the most rows a page may hold.
    pub fn first_of_max() -> Page {
        Page {
            limit: i64::from(MAX_LIMIT),
            order: Order::NewestFirst,
            after: Cursor { at: i64::MAX, skip: 0 },
        }
    }

    /// Newest first: select rows created strictly before this. Oldest first: strictly after.
    /// (Rows of the cursor's own millisecond are selected when some of them still follow.)
    pub fn bound(&self) -> i64 {
        let Cursor { at, skip } = self.after;
        match (self.order, skip) {
            (Order::NewestFirst, 0) => at,
            (Order::NewestFirst, _) => at.saturating_add(1),
            (Order::OldestFirst, 0) => at,
            (Order::OldestFirst, _) => at.saturating_sub(1),
        }
    }

    /// How many rows to fetch, in the list's order from [`Page::bound`]: the page, the rows
    /// of the cursor's millisecond that earlier pages returned, and one to learn whether
    /// another page follows.
    pub fn fetch(&self) -> i64 {
        self.limit + i64::from(self.after.skip) + 1
    }

    /// Cuts the fetched rows to the page; the cursor of the next page, if there is one.
    /// `created_at` reads a row's creation time.
    pub fn finish<T>(&self, rows: Vec<T>, created_at: impl Fn(&T) -> i64) -> (Vec<T>, Option<String>) {
        let Cursor { at, skip } = self.after;
        let mut rows = rows.into_iter().peekable();
        let mut skipped = 0;
        while skipped < skip && rows.peek().is_some_and(|row| created_at(row) == at) {
            rows.next();
            skipped += 1;
        }
        let mut page: Vec<T> = rows.collect();
        let more = page.len() as i64 > self.limit;
        page.truncate(self.limit as usize);
        let cursor = match page.last() {
            Some(last) if more => {
                let last_at = created_at(last);
                let mut same = page.iter().filter(|row| created_at(row) == last_at).count() as u32;
                if skip > 0 && last_at == at {
                    same += skipped;
                }
                Some(Cursor { at: last_at, skip: same }.encode())
            }
            _ => None,
        };
        (page, cursor)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_are_times_that_round_trip_and_garbage_is_refused() {
        let cursor = Cursor { at: 1_700_000_000_123, skip: 2 };
        assert_eq!(cursor.encode(), "2023-11-14T22:13:20.123000002Z");
        assert_eq!(Cursor::parse(&cursor.encode()), Some(cursor));
        // A time as Speckle issues it counts no rows: the next page starts after it.
        assert_eq!(
            Cursor::parse("2023-11-14T22:13:20.123Z"),
            Some(Cursor { at: 1_700_000_000_123, skip: 0 })
        );
        for bad in ["", "x", "12_abc", "2023-13-01T00:00:00Z"] {
            assert!(Page::new(None, Some(bad), Order::NewestFirst).is_err(), "{bad:?}");
        }
        assert!(Page::new(Some(-1), None, Order::NewestFirst).is_err());
        assert!(Page::new(Some(101), None, Order::NewestFirst).is_err());
        assert_eq!(Page::new(None, None, Order::NewestFirst).unwrap().limit, 25);
    }

    /// Pages through `times` (already in list order) and answers the indexes it returned.
    fn walk(times: &[i64], limit: i32, order: Order) -> Vec<usize> {
        let mut seen = Vec::new();
        let mut cursor: Option<String> = None;
        loop {
            let page = Page::new(Some(limit), cursor.as_deref(), order).unwrap();
            let bound = page.bound();
            let fetched: Vec<usize> = (0..times.len())
                .filter(|&i| match order {
                    Order::NewestFirst => times[i] < bound,
                    Order::OldestFirst => times[i] > bound,
                })
                .take(page.fetch() as usize)
                .collect();
            let (rows, next) = page.finish(fetched, |&i| times[i]);
            seen.extend(rows);
            match next {
                Some(next) => cursor = Some(next),
                None => return seen,
            }
        }
    }

    #[test]
    fn every_row_exactly_once_even_when_many_share_a_millisecond() {
        let newest_first = [9, 9, 9, 9, 9, 7, 5, 5, 5, 1];
        for limit in 1..=11 {
            assert_eq!(
                walk(&newest_first, limit, Order::NewestFirst),
                (0..10).collect::<Vec<_>>(),
                "{limit}"
            );
        }
        let oldest_first = [1, 5, 5, 5, 7, 9, 9, 9, 9, 9];
        for limit in 1..=11 {
            assert_eq!(
                walk(&oldest_first, limit, Order::OldestFirst),
                (0..10).collect::<Vec<_>>(),
                "{limit}"
            );
        }
        assert_eq!(walk(&newest_first, 0, Order::NewestFirst), Vec::<usize>::new());
    }
}
