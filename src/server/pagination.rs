//! Cursor pagination, newest first, stable while rows are added: a cursor is the position
//! (creation time, id) of the last row of a page, and the next page starts strictly after it.

use crate::error::{bad_input, AppResult};

pub const DEFAULT_LIMIT: i32 = 25;
pub const MAX_LIMIT: i32 = 100;

/// A page request, checked: `limit` in 1..=100, `cursor` one we issued.
#[derive(Clone, Debug)]
pub struct Page {
    pub limit: i64,
    pub after: Cursor,
}

/// A position in a newest-first list.
#[derive(Clone, Debug, PartialEq)]
pub struct Cursor {
    pub created_at: i64,
    pub id: String,
}

impl Cursor {
    /// Before everything: the first page. (Ids are never empty, so nothing equals it.)
    fn start() -> Cursor {
        Cursor { created_at: i64::MAX, id: String::new() }
    }

    pub fn encode(&self) -> String {
        format!("{}_{}", self.created_at, self.id)
    }

    fn parse(text: &str) -> Option<Cursor> {
        let (created_at, id) = text.split_once('_')?;
        let created_at = created_at.parse().ok()?;
        let plausible_id = !id.is_empty() && id.len() <= 64 && id.bytes().all(|b| b.is_ascii_alphanumeric());
        plausible_id.then(|| Cursor { created_at, id: id.to_owned() })
    }
}

impl Page {
    pub fn new(limit: Option<i32>, cursor: Option<&str>) -> AppResult<Page> {
        let limit = limit.unwrap_or(DEFAULT_LIMIT);
        if !(1..=MAX_LIMIT).contains(&limit) {
            return Err(bad_input(format!("limit must be between 1 and {MAX_LIMIT}.")));
        }
        let after = match cursor {
            None => Cursor::start(),
            Some(text) => Cursor::parse(text)
                .ok_or_else(|| bad_input("cursor is malformed: pass back a cursor this API returned."))?,
        };
        Ok(Page { limit: i64::from(limit), after })
    }

    /// How many rows to fetch: one more than the page, to learn whether another follows.
    pub fn fetch(&self) -> i64 {
        self.limit + 1
    }

    /// Cuts the fetched rows to the page; the cursor of the next page, if there is one.
    pub fn finish<T>(&self, mut rows: Vec<T>, position: impl Fn(&T) -> Cursor) -> (Vec<T>, Option<String>) {
        let more = rows.len() as i64 > self.limit;
        rows.truncate(self.limit as usize);
        let cursor = more.then(|| rows.last().map(|row| position(row).encode())).flatten();
        (rows, cursor)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_round_trip_and_garbage_is_refused() {
        let cursor = Cursor { created_at: 1_700_000_000_000, id: "0123abcd".into() };
        assert_eq!(Page::new(None, Some(&cursor.encode())).unwrap().after, cursor);
        for bad in ["", "x", "12_", "_abc", "12_a-b", "nope_abc"] {
            assert!(Page::new(None, Some(bad)).is_err(), "{bad:?}");
        }
        assert!(Page::new(Some(0), None).is_err());
        assert!(Page::new(Some(101), None).is_err());
        assert_eq!(Page::new(None, None).unwrap().limit, 25);
    }
}
