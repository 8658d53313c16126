//! Keyset pagination by creation time and id, stable while rows are added, and never a skip
//! that a client chooses: a page reads at most `limit + 1` rows, whatever the cursor says.
//!
//! A list is ordered by `(created_at, id)`. A cursor names the last row of a page: its
//! creation time and its id. It is written as an RFC 3339 time, because Speckle's clients
//! parse cursors as datetimes (specklepy's models declare `cursor: datetime`): the row's time
//! to the millisecond, then the bytes of its id as three decimal digits each, all in the
//! fraction of the second (RFC 3339 allows any number of digits; a parser that keeps
//! microseconds reads the row's millisecond). A plain time, as Speckle issues them (at most
//! nine digits of fraction), names no row: the next page starts strictly after that time.

use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

use crate::rules::error::{bad_input, AppResult};
use crate::rules::limits::{DEFAULT_PAGE, MAX_PAGE};

/// Which way a list runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Order {
    NewestFirst,
    OldestFirst,
}

/// A page request, checked: `limit` in 0..=[`MAX_PAGE`], `cursor` a time.
#[derive(Clone, Debug)]
pub struct Page {
    pub limit: i64,
    pub order: Order,
    after: Key,
}

/// A place in a list: rows strictly past `(at, id)` in the list's order follow it.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Key {
    at: i64,
    id: String,
}

/// The longest id a cursor carries (ours are 16 characters; object ids up to 64), and the
/// shortest: with at least three bytes, a cursor's fraction is longer than a plain time's.
const MAX_CURSOR_ID_BYTES: usize = 64;
const MIN_CURSOR_ID_BYTES: usize = 3;
/// A fraction this long or shorter is a plain time (Speckle writes 3 digits, Python 6).
const PLAIN_FRACTION_DIGITS: usize = 9;

impl Key {
    /// The cursor naming a row created at `at` (Unix milliseconds) with this id.
    fn encode(at: i64, id: &str) -> String {
        debug_assert!(id.len() >= MIN_CURSOR_ID_BYTES, "ids are 16 characters: {id:?}");
        let second = at.div_euclid(1000);
        let millis = at.rem_euclid(1000);
        let date = OffsetDateTime::from_unix_timestamp(second)
            .ok()
            .and_then(|t| {
                t.format(&time::macros::format_description!("[year]-[month]-[day]T[hour]:[minute]:[second]"))
                    .ok()
            })
            .unwrap_or_else(|| "1970-01-01T00:00:00".to_owned());
        let id_digits: String = id.bytes().map(|byte| format!("{byte:03}")).collect();
        format!("{date}.{millis:03}{id_digits}Z")
    }

    /// Reads a cursor of ours, or a plain time. `None` for anything else.
    fn parse(text: &str) -> Option<Key> {
        let text = text.trim();
        // The fraction of the second is where a cursor of ours keeps its row's id.
        let (digits, start) = match text.find('.') {
            Some(dot) => {
                let digits = text[dot + 1..].bytes().take_while(u8::is_ascii_digit).count();
                (&text[dot + 1..dot + 1 + digits], dot)
            }
            None => ("", text.len()),
        };
        if digits.len() <= PLAIN_FRACTION_DIGITS {
            let nanos = OffsetDateTime::parse(text, &Rfc3339).ok()?.unix_timestamp_nanos();
            // Strictly after a plain time: an empty id precedes every id.
            return Some(Key { at: i64::try_from(nanos.div_euclid(1_000_000)).ok()?, id: String::new() });
        }
        let (millis, id_digits) = digits.split_at(3);
        if id_digits.len() % 3 != 0 || id_digits.len() / 3 > MAX_CURSOR_ID_BYTES {
            return None;
        }
        let id = id_digits
            .as_bytes()
            .chunks(3)
            .map(|triplet| std::str::from_utf8(triplet).ok()?.parse::<u8>().ok())
            .collect::<Option<Vec<u8>>>()?;
        if !id.iter().all(u8::is_ascii_alphanumeric) {
            return None;
        }
        let whole_seconds = format!("{}{}", &text[..start], &text[start + 1 + digits.len()..]);
        let seconds = OffsetDateTime::parse(&whole_seconds, &Rfc3339).ok()?.unix_timestamp();
        let at = seconds.checked_mul(1000)?.checked_add(millis.parse::<i64>().ok()?)?;
        Some(Key { at, id: String::from_utf8(id).ok()? })
    }
}

impl Page {
    pub fn new(limit: Option<i32>, cursor: Option<&str>, order: Order) -> AppResult<Page> {
        let limit = limit.unwrap_or(DEFAULT_PAGE);
        if !(0..=MAX_PAGE).contains(&limit) {
            return Err(bad_input(format!("limit must be between 0 and {MAX_PAGE}.")));
        }
        let after = match cursor {
            None => match order {
                Order::NewestFirst => Key { at: i64::MAX, id: String::new() },
                Order::OldestFirst => Key { at: i64::MIN, id: String::new() },
            },
            Some(text) => Key::parse(text).ok_or_else(|| {
                bad_input("cursor is malformed: pass back a cursor this API returned, or an ISO 8601 time.")
            })?,
        };
        // Oldest first, a plain time's rows are passed by moving to the next millisecond.
        let after = match (order, after.id.is_empty()) {
            (Order::OldestFirst, true) => Key { at: after.at.saturating_add(1), id: after.id },
            _ => after,
        };
        Ok(Page { limit: i64::from(limit), order, after })
    }

    /// The first page, newest first, of the most rows a page may hold.
    pub fn first_of_max() -> Page {
        Page {
            limit: i64::from(MAX_PAGE),
            order: Order::NewestFirst,
            after: Key { at: i64::MAX, id: String::new() },
        }
    }

    /// The row the page starts after: its creation time. Select rows with `created_at` at or
    /// before it (newest first) or at or after it (oldest first), and of those, the rows
    /// created at another time or past [`Page::after_id`] (see [`Page::keyset`]).
    pub fn after_at(&self) -> i64 {
        self.after.at
    }

    /// The id of the row the page starts after; empty before the first row of a time.
    pub fn after_id(&self) -> &str {
        &self.after.id
    }

    /// How many rows to fetch: the page, and one to learn whether another page follows.
    pub fn fetch(&self) -> i64 {
        self.limit + 1
    }

    /// Cuts the fetched rows to the page; the cursor of the next page, if there is one.
    /// `key` reads a row's creation time and id.
    pub fn finish<T, K>(&self, mut rows: Vec<T>, key: impl Fn(&T) -> (i64, &K)) -> (Vec<T>, Option<String>)
    where
        K: AsRef<str> + ?Sized,
    {
        let more = rows.len() as i64 > self.limit;
        rows.truncate(self.limit as usize);
        let cursor = match rows.last() {
            Some(last) if more => {
                let (at, id) = key(last);
                Some(Key::encode(at, id.as_ref()))
            }
            _ => None,
        };
        (rows, cursor)
    }
}

/// The keyset condition of a page on a table's creation time and id, its order and its
/// limit: rows past the page's cursor, in the list's order (`newest_first` or
/// `oldest_first`, which must be the page's). Written once here for every list; `$created_at`
/// and `$id` are the table's columns. An index on `(…, created_at, id)` serves it: the first
/// filter is a range.
#[macro_export]
macro_rules! keyset {
    (newest_first, $query:expr, $page:expr, $created_at:expr, $id:expr) => {{
        let page: &$crate::server::domain::pagination::Page = $page;
        debug_assert_eq!(page.order, $crate::server::domain::pagination::Order::NewestFirst);
        $query
            .filter($created_at.le(page.after_at()))
            .filter($created_at.lt(page.after_at()).or($id.lt(page.after_id().to_owned())))
            .order(($created_at.desc(), $id.desc()))
            .limit(page.fetch())
    }};
    (oldest_first, $query:expr, $page:expr, $created_at:expr, $id:expr) => {{
        let page: &$crate::server::domain::pagination::Page = $page;
        debug_assert_eq!(page.order, $crate::server::domain::pagination::Order::OldestFirst);
        $query
            .filter($created_at.ge(page.after_at()))
            .filter($created_at.gt(page.after_at()).or($id.gt(page.after_id().to_owned())))
            .order(($created_at.asc(), $id.asc()))
            .limit(page.fetch())
    }};
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_are_times_that_name_a_row_and_round_trip() {
        let cursor = Key::encode(1_700_000_000_123, "0a1b");
        assert_eq!(cursor, "2023-11-14T22:13:20.123048097049098Z");
        assert_eq!(Key::parse(&cursor), Some(Key { at: 1_700_000_000_123, id: "0a1b".to_owned() }));
        // A time as Speckle issues it names no row: the next page starts after it.
        assert_eq!(
            Key::parse("2023-11-14T22:13:20.123Z"),
            Some(Key { at: 1_700_000_000_123, id: String::new() })
        );
        assert_eq!(
            Key::parse("2023-11-14T22:13:20.123456+00:00"),
            Some(Key { at: 1_700_000_000_123, id: String::new() })
        );
        for bad in ["", "x", "12_abc", "2023-13-01T00:00:00Z", "2023-11-14T22:13:20.123999999999Z"] {
            assert!(Page::new(None, Some(bad), Order::NewestFirst).is_err(), "{bad:?}");
        }
        assert!(Page::new(Some(-1), None, Order::NewestFirst).is_err());
        assert!(Page::new(Some(101), None, Order::NewestFirst).is_err());
        assert_eq!(Page::new(None, None, Order::NewestFirst).unwrap().limit, 25);
    }

    #[test]
    fn no_cursor_makes_a_page_read_more_than_one_row_past_its_limit() {
        // The old cursor's last six digits were a skip of up to 999,999 rows.
        for cursor in ["2999-01-01T00:00:00.000999999Z", "2999-01-01T00:00:00.000122122122Z"] {
            let page = Page::new(Some(1), Some(cursor), Order::NewestFirst).unwrap();
            assert_eq!(page.fetch(), 2, "{cursor}");
        }
    }

    /// Pages through rows (already in list order) and answers the indexes it returned.
    fn walk(rows: &[(i64, &str)], limit: i32, order: Order) -> Vec<usize> {
        let mut seen = Vec::new();
        let mut cursor: Option<String> = None;
        loop {
            let page = Page::new(Some(limit), cursor.as_deref(), order).unwrap();
            let (at, id) = (page.after_at(), page.after_id());
            let fetched: Vec<(usize, i64, String)> = (0..rows.len())
                .filter(|&i| match order {
                    Order::NewestFirst => rows[i].0 < at || (rows[i].0 == at && rows[i].1 < id),
                    Order::OldestFirst => rows[i].0 > at || (rows[i].0 == at && rows[i].1 > id),
                })
                .take(page.fetch() as usize)
                .map(|i| (i, rows[i].0, rows[i].1.to_owned()))
                .collect();
            let (page_rows, next) = page.finish(fetched, |(_, at, id)| (*at, id));
            seen.extend(page_rows.into_iter().map(|(i, _, _)| i));
            match next {
                Some(next) => cursor = Some(next),
                None => return seen,
            }
        }
    }

    #[test]
    fn every_row_exactly_once_even_when_many_share_a_millisecond() {
        let newest_first = [
            (9, "eeee"),
            (9, "dddd"),
            (9, "cccc"),
            (9, "bbbb"),
            (9, "aaaa"),
            (7, "zzzz"),
            (5, "cccc"),
            (5, "bbbb"),
            (5, "aaaa"),
            (1, "qqqq"),
        ];
        for limit in 1..=11 {
            assert_eq!(
                walk(&newest_first, limit, Order::NewestFirst),
                (0..10).collect::<Vec<_>>(),
                "{limit}"
            );
        }
        let mut oldest_first = newest_first;
        oldest_first.reverse();
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
