//! SQL both backends speak that diesel does not name: `lower()`, and the escaped `LIKE`
//! pattern of a search.

use crate::rules::error::{bad_input, AppResult};
use crate::rules::limits::MAX_SEARCH_CHARS;

diesel::define_sql_function! {
    /// SQL's `lower()`: both backends have it.
    fn lower(text: diesel::sql_types::Text) -> diesel::sql_types::Text;
}

/// What `streams(query: …)` looks for: the text anywhere in a stream's name or description
/// (case-insensitive), or a stream's exact id.
#[derive(Debug)]
pub struct Search {
    pub text: String,
    pattern: String,
}

impl Search {
    /// `None` for an empty query (no search: every stream).
    pub fn new(query: Option<&str>) -> AppResult<Option<Search>> {
        let Some(text) = query.map(str::trim).filter(|q| !q.is_empty()) else { return Ok(None) };
        if text.chars().count() > MAX_SEARCH_CHARS {
            return Err(bad_input(format!("query must be at most {MAX_SEARCH_CHARS} characters.")));
        }
        let escaped: String = text
            .to_lowercase()
            .chars()
            .flat_map(|ch| match ch {
                '%' | '_' | '\\' => vec!['\\', ch],
                _ => vec![ch],
            })
            .collect();
        Ok(Some(Search { text: text.to_owned(), pattern: format!("%{escaped}%") }))
    }

    /// A `LIKE` pattern (escaped with a backslash) of the lower-cased text.
    pub fn pattern(&self) -> &str {
        &self.pattern
    }
}
